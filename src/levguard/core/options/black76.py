"""Black-76 prices and Greeks on forwards, USD-settled and coin-settled (Deribit-style inverse).

Every function here is vectorized with numpy broadcasting: scalars in give ``numpy.float64``
scalars out, arrays in give float64 arrays of the broadcast shape.  Invalid input raises
:class:`~levguard.errors.InputError` naming the argument and the offending value; valid input
never gives NaN (the ``t_years = 0`` and ``vol = 0`` limits are handled explicitly).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from levguard.core.validate import no_bools_or_strings, number, show
from levguard.errors import InputError
from levguard.typing import Float64Array

__all__ = [
    "DAYS_PER_YEAR",
    "Black76Result",
    "FloatOrArray",
    "Kind",
    "Settlement",
    "black76",
    "black76_price",
    "kind_sign",
    "premium_adjusted_delta",
    "price_greeks",
    "theta_per_day",
    "vega_per_point",
]

DAYS_PER_YEAR: float = 365.0
"""Calendar days in a year of a 24/7 market (ARCHITECTURE convention 5)."""

FloatOrArray: TypeAlias = Float64Array | float
"""A float64 array, or a ``numpy.float64`` scalar (a ``float`` subclass) for scalar input."""

Kind: TypeAlias = Literal["call", "put"] | npt.ArrayLike
"""``"call"``, ``"put"``, or an array of +1 (call) / -1 (put)."""

Settlement: TypeAlias = Literal["usd", "coin"]

_SQRT_HALF: float = math.sqrt(0.5)
_SQRT_HALF_PI: float = math.sqrt(0.5 * math.pi)
_INV_SQRT_2PI: float = 1.0 / math.sqrt(2.0 * math.pi)


class Black76Result(NamedTuple):
    """Price and Greeks of a European option on a forward (Black-76).

    All fields share the broadcast shape of the inputs and the settlement unit: USD (quote
    currency) for ``settlement="usd"``, coin (base currency) for ``settlement="coin"``.

    Attributes
    ----------
    price : float or ndarray
        Present value per unit of underlying.
    delta : float or ndarray
        ``dV/dF`` (w.r.t. the forward, not the spot).
    gamma : float or ndarray
        ``d2V/dF2``.
    vega : float or ndarray
        ``dV/dsigma`` per 1.00 of volatility (divide by 100, or use :func:`vega_per_point`, for
        one vol point).
    theta : float or ndarray
        ``dV/dt`` per year of calendar time passing, ``= -dV/dT`` with the forward held fixed
        (negative for a long option at zero rate); :func:`theta_per_day` gives per day.
    rho : float or ndarray
        ``dV/dr`` per 1.00 of the continuously compounded discount rate, forward held fixed.
    """

    price: FloatOrArray
    delta: FloatOrArray
    gamma: FloatOrArray
    vega: FloatOrArray
    theta: FloatOrArray
    rho: FloatOrArray

    def to_dict(self) -> dict[str, FloatOrArray]:
        """Return ``{"price": ..., "delta": ..., ..., "rho": ...}``."""
        return dict(self._asdict())


def _as_array(value: npt.ArrayLike, field: str) -> Float64Array:
    # Convert to float64 or raise naming the field: None (NumPy reads it as NaN), bools and numeric
    # strings (read as 1.0 and as their number), objects, complex and ints beyond float64's range.
    if type(value) is float or (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
        return np.asarray(value, dtype=np.float64)  # the common case, as fast as before
    if value is None:
        raise InputError(f"{field} must be a number or an array of numbers, was None")
    try:
        no_bools_or_strings(value, field)
    except InputError:
        raise InputError(
            f"{field} must be a number or an array of numbers, not bools or strings, was {show(value)}"
        ) from None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{field} must be a number or an array of numbers, was {show(value)}") from None
    return arr


def _scalar(arr: Float64Array, field: str) -> float:
    # A checked value that must be one number, not an array of them (float() of one is a TypeError).
    if arr.ndim != 0:
        raise InputError(f"{field} must be a number, was an array of shape {arr.shape}")
    return float(arr)


def _first_bad(arr: Float64Array, bad: npt.NDArray[np.bool_]) -> float:
    return float(arr[bad].flat[0])


def _check_positive(value: npt.ArrayLike, field: str) -> Float64Array:
    arr = _as_array(value, field)
    bad = ~(np.isfinite(arr) & (arr > 0.0))
    if bad.any():
        raise InputError(f"{field} must be finite and > 0, was {_first_bad(arr, bad)!r}")
    return arr


def _check_non_negative(value: npt.ArrayLike, field: str) -> Float64Array:
    arr = _as_array(value, field)
    bad = ~(np.isfinite(arr) & (arr >= 0.0))
    if bad.any():
        raise InputError(f"{field} must be finite and >= 0, was {_first_bad(arr, bad)!r}")
    return arr


def _check_finite(value: npt.ArrayLike, field: str) -> Float64Array:
    arr = _as_array(value, field)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{field} must be finite, was {_first_bad(arr, bad)!r}")
    return arr


def _broadcast(names: str, *arrays: npt.ArrayLike) -> tuple[Float64Array, ...]:
    # np.broadcast_arrays, with an InputError naming the arguments (``names``) and their shapes.
    try:
        return np.broadcast_arrays(*arrays)
    except ValueError:
        raise InputError(f"{names} must broadcast, shapes were {[np.shape(a) for a in arrays]}") from None


def kind_sign(kind: Kind) -> Float64Array:
    """Return the option sign ``omega``: +1.0 for calls, -1.0 for puts.

    Parameters
    ----------
    kind : {"call", "put"} or array_like of +1/-1 or of "call"/"put"
        Option type; a string applies to every element, an array gives one sign per element.

    Raises
    ------
    InputError
        For an unknown string or a numeric value other than +1 / -1.
    """
    if isinstance(kind, str):
        key = kind.strip().lower()
        if key in ("call", "c"):
            return np.asarray(1.0)
        if key in ("put", "p"):
            return np.asarray(-1.0)
        raise InputError(f"kind must be 'call', 'put' or an array of +1/-1, was {kind!r}")
    raw = np.asarray(kind)
    if raw.dtype.kind in ("U", "S", "O"):
        # An array of "call"/"put" labels (case-insensitive).
        labels = np.char.lower(np.char.strip(raw.astype(str)))
        signs = np.where(np.isin(labels, ("call", "c")), 1.0, np.where(np.isin(labels, ("put", "p")), -1.0, np.nan))
        unknown = np.isnan(signs)
        if unknown.any():
            raise InputError(f"kind must be 'call', 'put' or an array of +1/-1, was {str(raw[unknown].flat[0])!r}")
        out: Float64Array = signs.astype(np.float64)
        return out
    arr = _as_array(kind, "kind")
    bad = ~((arr == 1.0) | (arr == -1.0))
    if bad.any():
        raise InputError(f"kind must be 'call', 'put' or an array of +1/-1, was {_first_bad(arr, bad)!r}")
    return arr


def _check_settlement(settlement: str) -> bool:
    # Return True for coin settlement.
    if not isinstance(settlement, str):
        raise InputError(f"settlement must be 'usd' or 'coin', was {show(settlement)}")
    if settlement == "usd":
        return False
    if settlement == "coin":
        return True
    raise InputError(f"settlement must be 'usd' or 'coin', was {settlement!r}")


def _out(arr: Float64Array) -> FloatOrArray:
    # 0-d results become numpy.float64 scalars; others stay arrays.
    if arr.ndim == 0:
        return np.float64(arr)
    return arr


def _undiscounted_otm(
    w: Float64Array, F: Float64Array, K: Float64Array, d1: Float64Array, d2: Float64Array
) -> Float64Array:
    # w (F N(w d1) - K N(w d2)) for s > 0, accurate in the tails.  Where w d1 <= 0 and w d2 <= 0
    # both N terms are at most 1/2 and their difference cancels.  With
    # N(x) = erfcx(-x/sqrt2) exp(-x^2/2) / 2 and the identity F n(d1) = K n(d2) it equals
    # w F n(d1) sqrt(pi/2) (erfcx(-w d1/sqrt2) - erfcx(-w d2/sqrt2)), which neither underflows
    # early nor loses the leading digits.
    from scipy.special import erfcx, ndtr  # here: scipy.special costs ~0.2 s at import (see _core)

    direct = w * (F * ndtr(w * d1) - K * ndtr(w * d2))
    tail = (w * d1 <= 0.0) & (w * d2 <= 0.0)
    wd1 = np.where(tail, w * d1, -1.0)
    wd2 = np.where(tail, w * d2, -1.0)
    pdf1 = np.exp(-0.5 * wd1 * wd1) * _INV_SQRT_2PI
    tail_val = w * F * pdf1 * _SQRT_HALF_PI * (erfcx(-wd1 * _SQRT_HALF) - erfcx(-wd2 * _SQRT_HALF))
    out: Float64Array = np.asarray(np.where(tail, np.maximum(tail_val, 0.0), direct), dtype=np.float64)
    return out


def _core(
    w: Float64Array, F: Float64Array, K: Float64Array, T: Float64Array, sigma: Float64Array, r: Float64Array
) -> tuple[Float64Array, ...]:
    # USD-settled Black-76 price and Greeks on validated, broadcast float64 arrays.  scipy is
    # imported on first use: `levguard margin` and the unified-account engine import this module
    # for option accounts but must not pay scipy.special's import (about 0.2 s, issue 16).
    from scipy.special import ndtr

    df = np.exp(-r * T)
    sqrt_t = np.sqrt(T)
    s = sigma * sqrt_t
    live = s > 0.0
    s_safe = np.where(live, s, 1.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        x = np.log(F / K)
        d1 = np.where(live, x / s_safe + 0.5 * s_safe, 0.0)
        d2 = d1 - np.where(live, s_safe, 0.0)
        pdf1 = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
        # Price: the out-of-the-money leg is computed directly and the in-the-money one through
        # put-call parity, so deep ITM prices keep the time value's digits.
        itm = w * (F - K) > 0.0
        w_otm = np.where(itm, -w, w)
        intrinsic = np.maximum(w * (F - K), 0.0)
        otm_und = _undiscounted_otm(w_otm, F, K, d1, d2)
        und_live = intrinsic + otm_und
        und = np.where(live, und_live, intrinsic)
        price = df * und
        # delta: N(w d1) -> 1{w(F-K) > 0}, and 1/2 at the money, as s -> 0.
        nd = np.where(live, ndtr(w * d1), np.where(itm, 1.0, np.where(F == K, 0.5, 0.0)))
        delta = df * w * nd
        # gamma and vega: the s -> 0 limit of gamma is 0 away from the strike (a Dirac mass at it);
        # vega's limit is F n(0) sqrt(T) at the money and 0 elsewhere.
        gamma = np.where(live, df * pdf1 / (F * s_safe), 0.0)
        vega = np.where(live, df * F * pdf1 * sqrt_t, np.where(F == K, df * F * _INV_SQRT_2PI * sqrt_t, 0.0))
        # theta = -dV/dT = r V - DF F n(d1) sigma / (2 sqrt T); the second term's limit is 0 when s -> 0
        # away from the strike (and is dropped at T = 0 exactly, where it is a Dirac-like -inf).
        decay = np.where(live & (T > 0.0), df * F * pdf1 * sigma / (2.0 * np.where(T > 0.0, sqrt_t, 1.0)), 0.0)
        theta = r * price - decay
        rho = -T * price
    return price, delta, gamma, vega, theta, rho


def black76(
    kind: Kind,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    settlement: Settlement = "usd",
) -> Black76Result:
    r"""Price a European option on a forward with Black-76 and return its Greeks.

    Parameters
    ----------
    kind : {"call", "put"} or array_like of +1/-1
        Option type (an array gives one type per element).
    forward : array_like
        Forward (or futures / index) price ``F`` of the underlying, USD per coin, > 0.
    strike : array_like
        Strike ``K``, USD per coin, > 0.
    t_years : array_like
        Time to expiry ``T`` in years (365-day), >= 0.
    vol : array_like
        Black (lognormal) volatility ``sigma`` as a fraction per sqrt(year) (0.6 = 60%), >= 0.
    rate : array_like, default 0.0
        Continuously compounded discount rate ``r`` (a fraction, may be negative).
    settlement : {"usd", "coin"}, default "usd"
        ``"usd"``: price and Greeks in USD per coin of underlying.  ``"coin"``: Deribit-style
        inverse option, price and Greeks in coin per coin of underlying (see Notes).

    Returns
    -------
    Black76Result
        ``price, delta, gamma, vega, theta, rho``, each of the broadcast shape of the inputs
        (``numpy.float64`` scalars when every input is a scalar).

    Raises
    ------
    InputError
        If ``forward`` or ``strike`` is not finite and > 0, ``t_years`` or ``vol`` is negative or
        not finite, ``rate`` is not finite, ``kind`` or ``settlement`` is unknown, or the shapes
        do not broadcast.

    Notes
    -----
    Black (1976), "The pricing of commodity contracts", J. Financial Economics 3.  With
    :math:`\omega = +1` (call) or :math:`-1` (put), :math:`D = e^{-rT}`, :math:`s = \sigma\sqrt T`,

    .. math::

        d_{1,2} = \frac{\ln(F/K) \pm s^2/2}{s}, \qquad
        V = D\,\omega\,[F N(\omega d_1) - K N(\omega d_2)],

    i.e. call :math:`= D(F N(d_1) - K N(d_2))`, put :math:`= D(K N(-d_2) - F N(-d_1))`.  USD Greeks
    (forward held fixed, :math:`n` the normal density):

    - delta :math:`= \partial V/\partial F = D\,\omega N(\omega d_1)`
    - gamma :math:`= \partial^2 V/\partial F^2 = D\,n(d_1)/(F s)`
    - vega :math:`= \partial V/\partial\sigma = D F n(d_1)\sqrt T` (per 1.00 of vol)
    - theta :math:`= -\partial V/\partial T = rV - D F n(d_1)\sigma/(2\sqrt T)` (per year of
      calendar time passing)
    - rho :math:`= \partial V/\partial r = -T V`

    Coin settlement (Deribit: "options are settled in the underlying coin", premiums quoted in
    BTC and converted at the index): :math:`V_c = V/F`.  Its Greeks are exact derivatives of
    :math:`V_c` with respect to the same variables:

    - delta :math:`\partial V_c/\partial F = \Delta/F - V/F^2` (coin per USD of forward);
      :math:`F \cdot` this :math:`= \Delta - V_c` is the dimensionless *premium-adjusted delta*
      (:func:`premium_adjusted_delta`), the coin-hedge ratio of a coin-margined book
    - gamma :math:`\partial^2 V_c/\partial F^2 = \Gamma/F - 2\Delta/F^2 + 2V/F^3`
    - vega, theta, rho: the USD Greek divided by ``F`` (``F`` does not depend on them)

    Limits (``s = 0``: ``t_years = 0`` or ``vol = 0``): price is the discounted intrinsic value
    :math:`D\max(\omega(F-K), 0)`; delta is :math:`D\omega\,\mathbf 1\{\omega(F-K)>0\}` and
    :math:`D\omega/2` at ``F == K``; gamma is 0 (the limit away from the strike; at the strike it
    is a Dirac mass); vega is :math:`D F n(0)\sqrt T` at ``F == K`` and 0 elsewhere; theta is
    :math:`rV` (at ``T = 0`` and ``F == K`` the true limit is :math:`-\infty`; it is not
    represented).  Out-of-the-money values are evaluated with the scaled complementary error
    function so that deep-OTM prices keep their relative accuracy; in-the-money prices are
    intrinsic value plus the OTM leg through put-call parity.
    """
    coin = _check_settlement(settlement)
    w = kind_sign(kind)
    F = _check_positive(forward, "forward")
    K = _check_positive(strike, "strike")
    T = _check_non_negative(t_years, "t_years")
    sigma = _check_non_negative(vol, "vol")
    r = _check_finite(rate, "rate")
    w, F, K, T, sigma, r = _broadcast("kind, forward, strike, t_years, vol and rate", w, F, K, T, sigma, r)
    price, delta, gamma, vega, theta, rho = _core(w, F, K, T, sigma, r)
    if coin:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
            inv_f = 1.0 / F
            price_c = price * inv_f
            delta_c = (delta - price_c) * inv_f
            gamma_c = (gamma - 2.0 * delta_c) * inv_f
            price, delta, gamma = price_c, delta_c, gamma_c
            vega, theta, rho = vega * inv_f, theta * inv_f, rho * inv_f
    _check_in_range((price, delta, gamma, vega, theta, rho), F, K, T, sigma, r)
    return Black76Result(_out(price), _out(delta), _out(gamma), _out(vega), _out(theta), _out(rho))


def _check_in_range(outputs: tuple[Float64Array, ...], *inputs: Float64Array) -> None:
    # Finite inputs of extreme size (a rate times t_years past e^709, a forward of 1e-300 at coin
    # settlement, a vol of 1e300) overflow float64 to inf or NaN: refuse them by their values.
    if np.isfinite(outputs).all():  # one pass over the stacked outputs (the common case)
        return
    bad = np.zeros(np.shape(outputs[0]), dtype=bool)
    for out in outputs:
        bad |= ~np.isfinite(out)
    if bad.any():
        i = int(np.argmax(np.ravel(bad)))
        vals = ", ".join(
            f"{name}={np.ravel(a)[i].item()!r}"
            for name, a in zip(("forward", "strike", "t_years", "vol", "rate"), inputs, strict=True)
        )
        raise InputError(
            f"forward, strike, t_years, vol and rate overflow float64 in Black-76 (out of range), were {vals}"
        )


price_greeks = black76
"""The public name of :func:`black76` (same function, same conventions)."""


def black76_price(
    kind: Kind,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    settlement: Settlement = "usd",
) -> FloatOrArray:
    """Return only the Black-76 price (same arguments and conventions as :func:`black76`)."""
    return black76(kind, forward, strike, t_years, vol, rate, settlement).price


def vega_per_point(vega: npt.ArrayLike) -> FloatOrArray:
    """Return vega per one vol point (0.01 of volatility): ``vega / 100``."""
    return _out(_check_finite(vega, "vega") / 100.0)


def theta_per_day(theta: npt.ArrayLike, days_per_year: float = DAYS_PER_YEAR) -> FloatOrArray:
    """Return theta per calendar day: ``theta / days_per_year`` (365 for a 24/7 market)."""
    if not (math.isfinite(number(days_per_year, "days_per_year")) and days_per_year > 0.0):
        raise InputError(f"days_per_year must be finite and > 0, was {days_per_year!r}")
    return _out(_check_finite(theta, "theta") / days_per_year)


def premium_adjusted_delta(
    kind: Kind,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
) -> FloatOrArray:
    r"""Return the dimensionless premium-adjusted delta of a coin-settled option.

    Notes
    -----
    :math:`\Delta_{pa} = F\,\partial(V/F)/\partial F = \Delta - V/F`: the USD (Black) delta less
    the premium in coin.  It is the number of coins a coin-margined holder must sell to be
    flat in coin terms (Deribit reports portfolio delta on this basis for inverse options;
    the same quantity is the FX market's "premium-included delta", Clark 2011, *Foreign
    Exchange Option Pricing*, section 3.5).
    """
    res = black76(kind, forward, strike, t_years, vol, rate, "usd")
    F = _as_array(forward, "forward")
    return _out(np.asarray(res.delta) - np.asarray(res.price) / F)
