"""A volatility surface of SVI slices: interpolation, pricing, revaluation and stress shocks.

The surface holds one raw SVI smile per expiry (total variance on forward log-moneyness) and an
ordered tuple of shocks.  Every query interpolates the *unshocked* total variance, converts it
to implied volatility and then applies the shocks in order, so a shocked surface is the same
object with one more shock (surfaces are immutable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from levguard.core.options.black76 import (
    DAYS_PER_YEAR,
    Black76Result,
    FloatOrArray,
    Kind,
    Settlement,
    _broadcast,
    _check_finite,
    _check_non_negative,
    _check_positive,
    _out,
    _scalar,
    black76,
)
from levguard.core.options.svi import (
    DEFAULT_K_GRID,
    ButterflyCheck,
    CalendarCheck,
    CalendarViolation,
    SVIFit,
    SVIParams,
    _grid,
    _refuse_overflow,
    butterfly_from_g,
    check_butterfly,
    check_butterfly_added_variance,
    check_calendar,
    durrleman_g_numeric,
    fit_svi,
)
from levguard.core.validate import finite, flag, instance_of, positive, show
from levguard.errors import InputError
from levguard.typing import Float64Array

__all__ = [
    "EXTRAPOLATION_CHECK_TENORS",
    "VOL_FLOOR",
    "SVISlice",
    "ShockKind",
    "SmileQuotes",
    "SurfaceArbitrageReport",
    "VolShock",
    "VolSurface",
    "fit_surface",
]

VOL_FLOOR: float = 1e-4
"""Smallest implied volatility a shocked surface returns (a down shock never makes vol <= 0)."""

ShockKind = Literal["parallel", "skew", "term"]

EXTRAPOLATION_CHECK_TENORS: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0, 32.0)
"""Multiples of the last expiry at which :meth:`VolSurface.check_arbitrage` checks a shocked
surface past its last expiry (an unshocked one is checked at every tenor analytically)."""


@dataclass(frozen=True)
class SVISlice:
    """One expiry of a surface: its time to expiry, forward and SVI smile."""

    t_years: float
    forward: float
    params: SVIParams

    def __post_init__(self) -> None:
        object.__setattr__(self, "t_years", _scalar(_check_positive(self.t_years, "t_years"), "t_years"))
        object.__setattr__(self, "forward", _scalar(_check_positive(self.forward, "forward"), "forward"))
        if not isinstance(self.params, SVIParams):
            raise InputError(f"params must be SVIParams, was {type(self.params).__name__}")

    @classmethod
    def from_fit(cls, fit: SVIFit) -> SVISlice:
        """Return the slice of a calibrated :class:`~levguard.core.options.svi.SVIFit`."""
        return cls(fit.t_years, fit.forward, fit.params)


@dataclass(frozen=True)
class VolShock:
    r"""A surface-shaped implied-volatility shock, applied as :math:`\sigma \to \sigma + \Delta\sigma`.

    Attributes
    ----------
    kind : {"parallel", "skew", "term"}
        Shape of the shock (see Notes).
    size : float
        Size in volatility units (0.05 = 5 vol points), or a fraction of the vol when
        ``relative`` is True; negative sizes lower vols.
    relative : bool
        Apply :math:`\sigma \to \sigma(1 + \text{shape} \cdot \text{size})` instead of adding.
    ref_days : float
        Reference tenor of the term shock (30 days).
    power : float
        Exponent of the term shock's tenor scaling (0.5: square root).
    min_days : float
        Tenor floor of the term shock (the scaling is capped at ``(ref_days/min_days)^power``).
    z_cap : float
        Saturation level of ``|k| / sqrt(T)`` in the skew shock (the shock tends to ``size * z_cap``).

    Notes
    -----
    With :math:`k = \ln(K/F)` and :math:`T` in years, the shape :math:`h(k, T)` is

    - parallel: :math:`h = 1`;
    - term (Deribit portfolio margin's vol shock, venue reference section 5: "IV shock
      :math:`\sqrt{30/DTE}\times` 40%"): :math:`h = (\text{ref\_days}/\max(365T, \text{min\_days}))^{power}`;
    - skew (steepening about the forward): :math:`h = -z\tanh\bigl(k/(z\sqrt T)\bigr)` with
      :math:`z` = ``z_cap``, so a positive size raises put-wing vols and lowers call-wing vols by
      about ``size`` per unit of standardised moneyness :math:`k/\sqrt T` near the money,
      saturating at ``size * z_cap`` in the wings, and leaves ATM unchanged (the cap is smooth:
      a hard clip would put a concave kink, hence butterfly arbitrage, into the smile).  At
      :math:`T = 0` it is its limit :math:`h = -z\,\mathrm{sign}(k)`, so the shape is continuous
      in :math:`T`.

    The shocked vol is :math:`\max(\sigma + \text{size}\cdot h, \text{VOL\_FLOOR})` (absolute) or
    :math:`\max(\sigma(1 + \text{size}\cdot h), \text{VOL\_FLOOR})` (relative).
    """

    kind: ShockKind
    size: float
    relative: bool = False
    ref_days: float = 30.0
    power: float = 0.5
    min_days: float = 1.0
    z_cap: float = 3.0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in ("parallel", "skew", "term"):
            raise InputError(f"shock kind must be 'parallel', 'skew' or 'term', was {show(self.kind)}")
        finite(self.size, "shock size")
        flag(self.relative, "shock relative")
        for name in ("ref_days", "min_days", "z_cap"):
            positive(getattr(self, name), f"shock {name}")
        finite(self.power, "shock power")

    def shape(self, k: Float64Array, t_years: Float64Array) -> Float64Array:
        """Return the shape ``h(k, T)`` (broadcast of ``k`` and ``t_years``)."""
        if self.kind == "parallel":
            out: Float64Array = np.ones(np.broadcast_shapes(k.shape, t_years.shape))
            return out
        if self.kind == "term":
            days = np.maximum(t_years * DAYS_PER_YEAR, self.min_days)
            out = (self.ref_days / days) ** self.power * np.ones_like(k)
            return out
        # At T = 0 the limit T -> 0+ of -z tanh(k / (z sqrt T)): -z sign(k) (0 at the money).
        z = k / np.sqrt(np.where(t_years > 0.0, t_years, 1.0))
        out = -self.z_cap * np.where(t_years > 0.0, np.tanh(z / self.z_cap), np.sign(k))
        return out

    def apply(self, vol: Float64Array, k: Float64Array, t_years: Float64Array) -> Float64Array:
        """Return the shocked volatility (floored at :data:`VOL_FLOOR`)."""
        h = self.shape(k, t_years)
        shocked = vol * (1.0 + self.size * h) if self.relative else vol + self.size * h
        out: Float64Array = np.maximum(shocked, VOL_FLOOR)
        return out


@dataclass(frozen=True)
class SurfaceArbitrageReport:
    """Static-arbitrage report of a surface.

    Attributes
    ----------
    butterfly : tuple of (t_years, ButterflyCheck)
        One butterfly check per slice expiry.
    calendar : CalendarCheck
        Total variance non-decreasing from each checked tenor to the next.
    extrapolation : ButterflyCheck or None
        Butterfly check of the surface past its last expiry (see
        :meth:`VolSurface.check_arbitrage` for the tenors it covers); None only in a report
        built without one.
    """

    butterfly: tuple[tuple[float, ButterflyCheck], ...]
    calendar: CalendarCheck
    extrapolation: ButterflyCheck | None = None

    @property
    def ok(self) -> bool:
        """Return True when every slice and the extrapolation are butterfly-free and the calendar check passed."""
        return (
            self.calendar.ok
            and all(c.ok for _, c in self.butterfly)
            and (self.extrapolation is None or self.extrapolation.ok)
        )


@dataclass(frozen=True)
class SmileQuotes:
    """Implied-volatility quotes of one expiry, the input of :func:`fit_surface`."""

    t_years: float
    forward: float
    strike: Float64Array = field(repr=False)
    vol: Float64Array = field(repr=False)
    weights: Float64Array | None = field(default=None, repr=False)


class VolSurface:
    r"""Implied-volatility surface from per-expiry SVI slices, with optional stress shocks.

    Parameters
    ----------
    slices : sequence of SVISlice
        At least one slice; expiries must be distinct (they are sorted).
    shocks : sequence of VolShock, default ()
        Shocks applied, in order, to every vol the surface returns.

    Notes
    -----
    Interpolation (Gatheral & Jacquier 2014, section 5, interpolate total variance at constant
    log-moneyness): for a query :math:`(K, T, F)`, :math:`k = \ln(K/F)` and with expiries
    :math:`T_1 < \dots < T_n`,

    - :math:`T_i \le T \le T_{i+1}`: :math:`w(k,T) = w_i(k) + \frac{T - T_i}{T_{i+1} - T_i}(w_{i+1}(k) - w_i(k))`;
      linear interpolation keeps :math:`\partial_T w \ge 0` when the slices are calendar-free;
    - :math:`T < T_1`: :math:`w(k,T) = w_1(k)\,T/T_1` (the first slice's implied vol at that ``k``);
    - :math:`T > T_n`: :math:`w(k,T) = w_n(k) + (T - T_n)\,\theta_n/T_n` with
      :math:`\theta_n = w_n(0)`: total variance grows along the last slice's ATM variance rate,
      the same at every ``k``.  The ATM vol stays the last slice's; the wing slopes stay
      :math:`b(1 \pm \rho)`, so Lee's (2004) moment bound (slope <= 2) holds at every tenor, and
      :math:`\partial_T w = \theta_n/T_n \ge 0` (no calendar arbitrage, Gatheral & Jacquier 2014,
      Lemma 2.1).  The extrapolated smile is raw SVI with :math:`a + (T - T_n)\theta_n/T_n`;
      :meth:`check_arbitrage` checks it for every ``T > T_n``
      (:func:`~levguard.core.options.svi.check_butterfly_added_variance`).  Scaling instead
      (:math:`w_n(k)\,T/T_n`, the last slice's vol at every ``k``) multiplies the wing slopes by
      :math:`T/T_n`, past Lee's bound for long tenors.

    In strike, each slice is raw SVI, whose wings are linear in ``k`` (Lee-consistent when
    :math:`b(1+|\rho|) \le 2`).  The implied vol is :math:`\sqrt{w(k,T)/T}` (the first slice's
    at ``T = 0``), then each shock is applied.

    ``F`` locates the strike on the smile.  Pricing passes the scenario forward (sticky
    moneyness: the smile moves with the forward) unless ``vol_forward`` is given (e.g. the base
    forward: sticky strike).  Greeks are Black-76 Greeks at the surface vol, i.e. the vol is held
    fixed when ``F`` moves (sticky-strike Greeks).
    """

    __slots__ = ("_expiries", "_shocks", "_slices")

    def __init__(self, slices: Sequence[SVISlice], shocks: Sequence[VolShock] = ()) -> None:
        for name, seq in (("slices", slices), ("shocks", shocks)):  # any iterable: a list, dict.values(), a Series
            zero_d = isinstance(seq, np.ndarray) and seq.ndim == 0  # an Iterable by type; iterating it fails
            if isinstance(seq, str | bytes | Mapping) or not isinstance(seq, Iterable) or zero_d:
                raise InputError(f"{name} must be a sequence, was {show(seq)}")
        slices, shocks = tuple(slices), tuple(shocks)
        if len(slices) == 0:
            raise InputError("a VolSurface needs at least one slice, was 0")
        for s in slices:
            if not isinstance(s, SVISlice):
                raise InputError(f"slices must be SVISlice, was {type(s).__name__}")
        for sh in shocks:
            if not isinstance(sh, VolShock):
                raise InputError(f"shocks must be VolShock, was {type(sh).__name__}")
        ordered = tuple(sorted(slices, key=lambda s: s.t_years))
        ts = np.array([s.t_years for s in ordered])
        if np.any(np.diff(ts) <= 0.0):
            raise InputError(f"slices must have distinct expiries, t_years were {ts.tolist()}")
        self._slices = ordered
        self._expiries: Float64Array = ts
        self._shocks = tuple(shocks)

    @property
    def slices(self) -> tuple[SVISlice, ...]:
        """Return the slices, sorted by expiry."""
        return self._slices

    @property
    def expiries(self) -> Float64Array:
        """Return the slice expiries in years, ascending (a copy)."""
        return self._expiries.copy()

    @property
    def shocks(self) -> tuple[VolShock, ...]:
        """Return the shocks applied to this surface, in order."""
        return self._shocks

    def __repr__(self) -> str:
        return f"VolSurface(expiries={self._expiries.tolist()}, shocks={list(self._shocks)})"

    @classmethod
    def from_fits(cls, fits: Sequence[SVIFit]) -> VolSurface:
        """Return the surface of calibrated smiles (one per expiry)."""
        return cls([SVISlice.from_fit(f) for f in fits])

    def base_total_variance(self, k: npt.ArrayLike, t_years: npt.ArrayLike) -> Float64Array:
        """Return the unshocked interpolated total variance ``w(k, T)`` (broadcast shape)."""
        kk = _check_finite(k, "k")
        tt = _check_non_negative(t_years, "t_years")
        kk, tt = _broadcast("k and t_years", kk, tt)
        ts = self._expiries
        n = ts.size
        # Total variance of every slice at every k: (n, ...) for a few slices is cheap and exact.
        w_all = np.stack([np.maximum(s.params.total_variance(kk), 0.0) for s in self._slices])
        # Past the last expiry: the last smile plus the ATM variance accrued at its rate theta_n / T_n.
        last = self._slices[-1]
        atm_rate = max(float(last.params.total_variance(0.0)), 0.0) / ts[-1]
        beyond = w_all[-1] + (tt - ts[-1]) * atm_rate
        if n == 1:
            out: Float64Array = np.where(tt > ts[0], beyond, w_all[0] * (tt / ts[0]))
            _refuse_overflow(out, kk, tt)
            return out
        j = np.clip(np.searchsorted(ts, tt, side="right") - 1, 0, n - 2)
        t0, t1 = ts[j], ts[j + 1]
        w0 = np.take_along_axis(w_all, j[np.newaxis, ...], axis=0)[0]
        w1 = np.take_along_axis(w_all, (j + 1)[np.newaxis, ...], axis=0)[0]
        frac = (tt - t0) / (t1 - t0)
        inner = w0 + frac * (w1 - w0)
        out = np.where(tt < ts[0], w_all[0] * (tt / ts[0]), np.where(tt > ts[-1], beyond, inner))
        _refuse_overflow(out, kk, tt)
        return out

    def vol_k(self, k: npt.ArrayLike, t_years: npt.ArrayLike) -> FloatOrArray:
        """Return the (shocked) implied volatility at log-moneyness ``k`` and expiry ``t_years``."""
        kk = _check_finite(k, "k")
        tt = _check_non_negative(t_years, "t_years")
        kk, tt = _broadcast("k and t_years", kk, tt)
        t_pos = tt > 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
            w = self.base_total_variance(kk, np.where(t_pos, tt, self._expiries[0]))
            vol = np.sqrt(w / np.where(t_pos, tt, self._expiries[0]))
            for shock in self._shocks:
                vol = shock.apply(vol, kk, tt)
        _refuse_overflow(vol, kk, tt)
        return _out(np.asarray(vol, dtype=np.float64))

    def vol(self, strike: npt.ArrayLike, t_years: npt.ArrayLike, forward: npt.ArrayLike) -> FloatOrArray:
        """Return the implied volatility at ``strike`` for expiry ``t_years`` and that expiry's ``forward``.

        Parameters
        ----------
        strike, forward : array_like
            USD per coin, > 0 (broadcast together with ``t_years``).
        t_years : array_like
            Years to expiry, >= 0.
        """
        K = _check_positive(strike, "strike")
        F = _check_positive(forward, "forward")
        return self.vol_k(np.log(K / F), t_years)

    def price_greeks(
        self,
        kind: Kind,
        forward: npt.ArrayLike,
        strike: npt.ArrayLike,
        t_years: npt.ArrayLike,
        rate: npt.ArrayLike = 0.0,
        settlement: Settlement = "usd",
        *,
        vol_forward: npt.ArrayLike | None = None,
    ) -> Black76Result:
        """Return the Black-76 price and Greeks at the surface's implied volatility.

        Arguments as :func:`levguard.core.options.black76.black76` without ``vol``.
        ``vol_forward`` (default ``forward``) is the forward that locates the strike on the smile:
        leave it for sticky moneyness, pass the base forward for sticky strike.
        """
        fwd_for_vol = forward if vol_forward is None else vol_forward
        sigma = self.vol(strike, t_years, fwd_for_vol)
        return black76(kind, forward, strike, t_years, sigma, rate, settlement)

    def price(
        self,
        kind: Kind,
        forward: npt.ArrayLike,
        strike: npt.ArrayLike,
        t_years: npt.ArrayLike,
        rate: npt.ArrayLike = 0.0,
        settlement: Settlement = "usd",
        *,
        vol_forward: npt.ArrayLike | None = None,
    ) -> FloatOrArray:
        """Return only the price (see :meth:`price_greeks`); use it to revalue option books.

        For VaR revaluation pass scenario forwards with shape ``(n_scenarios, 1)`` and position
        arrays with shape ``(n_positions,)`` to get an ``(n_scenarios, n_positions)`` price grid;
        price a shocked surface (:meth:`shocked`) for vol scenarios.
        """
        return self.price_greeks(kind, forward, strike, t_years, rate, settlement, vol_forward=vol_forward).price

    def shocked(
        self,
        kind: ShockKind,
        size: float,
        *,
        relative: bool = False,
        ref_days: float = 30.0,
        power: float = 0.5,
        min_days: float = 1.0,
        z_cap: float = 3.0,
    ) -> VolSurface:
        """Return a new surface with one more surface-shaped vol shock (see :class:`VolShock`).

        Examples: ``shocked("parallel", 0.05)`` adds 5 vol points everywhere;
        ``shocked("term", 0.40, relative=True)`` scales vols by ``1 + 0.40 sqrt(30/DTE)``
        (Deribit's legacy PM shape); ``shocked("skew", 0.02)`` adds 2 vol points per unit of
        ``-ln(K/F)/sqrt(T)``.
        """
        shock = VolShock(kind, float(finite(size, "shock size")), relative, ref_days, power, min_days, z_cap)
        return VolSurface(self._slices, (*self._shocks, shock))

    def check_arbitrage(self, k_grid: npt.ArrayLike | None = None) -> SurfaceArbitrageReport:
        """Check every slice for butterfly and every adjacent pair for calendar arbitrage, and the
        surface past its last expiry.

        An unshocked surface is checked analytically (SVI ``g`` and wing slopes).  Past the last
        expiry ``T_n`` its smile is the last one plus a constant total variance, so ``extrapolation``
        checks ``w_n(k) + c`` for every ``c >= 0`` at once: every tenor ``T > T_n``
        (:func:`~levguard.core.options.svi.check_butterfly_added_variance`); the calendar holds
        there by construction.  A shocked surface is checked numerically on the grid, from the
        shocked total variance ``sigma^2 T`` (finite-difference ``g``; wings beyond the grid are not
        seen) at each expiry and, for ``extrapolation`` (the worst of them) and the calendar, at
        the tenors :data:`EXTRAPOLATION_CHECK_TENORS` times ``T_n``: between and past those a
        shocked surface is not checked.
        """
        kk = DEFAULT_K_GRID if k_grid is None else _grid(k_grid)
        if not self._shocks:
            fly = tuple((s.t_years, check_butterfly(s.params, kk)) for s in self._slices)
            cal = check_calendar([(s.t_years, s.params) for s in self._slices], kk)
            return SurfaceArbitrageReport(fly, cal, check_butterfly_added_variance(self._slices[-1].params, kk))
        last = float(self._expiries[-1])
        tenors = [*(s.t_years for s in self._slices), *(last * f for f in EXTRAPOLATION_CHECK_TENORS)]
        rows: list[Float64Array] = []
        checks: list[tuple[float, ButterflyCheck]] = []
        for t in tenors:
            v = np.asarray(self.vol_k(kk, t), dtype=np.float64)
            w = v * v * t
            rows.append(w)
            edge = max(abs((w[1] - w[0]) / (kk[1] - kk[0])), abs((w[-1] - w[-2]) / (kk[-1] - kk[-2])))
            checks.append((t, butterfly_from_g(kk, durrleman_g_numeric(kk, w), edge)))
        violations: list[CalendarViolation] = []
        for i in range(len(rows) - 1):
            gap = rows[i] - rows[i + 1]
            bad = gap > 1e-12
            if bad.any():
                violations.append(CalendarViolation(tenors[i], tenors[i + 1], kk[bad], float(gap.max()), False))
        n = len(self._slices)
        beyond = [c for _, c in checks[n:]]
        worst = min(beyond, key=lambda c: c.min_g)
        extrapolation = dataclasses.replace(
            worst,
            ok=all(c.ok for c in beyond),
            wing_slope=max(c.wing_slope for c in beyond),
            lee_ok=all(c.lee_ok for c in beyond),
        )
        return SurfaceArbitrageReport(
            tuple(checks[:n]), CalendarCheck(not violations, tuple(violations)), extrapolation
        )


def fit_surface(
    quotes: Iterable[SmileQuotes],
    *,
    space: Literal["vol", "variance"] = "vol",
    k_grid: npt.ArrayLike | None = None,
) -> tuple[VolSurface, tuple[SVIFit, ...], SurfaceArbitrageReport]:
    """Fit one SVI smile per expiry and assemble the surface.

    Parameters
    ----------
    quotes : sequence of SmileQuotes
        Implied-volatility quotes, one entry per expiry (distinct expiries).
    space : {"vol", "variance"}, default "vol"
        Residual space of each fit (see :func:`levguard.core.options.svi.fit_svi`).
    k_grid : array_like, optional
        Grid for the arbitrage checks.

    Returns
    -------
    (VolSurface, tuple of SVIFit, SurfaceArbitrageReport)
        The surface, the per-expiry fits (errors, butterfly checks) and the surface report with
        the calendar check.  Arbitrage is reported, never silently repaired.
    """
    if isinstance(quotes, str | bytes | Mapping) or not isinstance(quotes, Iterable):
        raise InputError(f"quotes must be a sequence of SmileQuotes, was {show(quotes)}")
    quotes = tuple(quotes)  # a dict's values(), a Series or an object array read the same
    if len(quotes) == 0:
        raise InputError("quotes must hold at least one expiry, was 0")
    for i, q in enumerate(quotes):
        instance_of(q, SmileQuotes, f"quotes[{i}]")
    fits = tuple(fit_svi(q.strike, q.vol, q.forward, q.t_years, q.weights, space=space, k_grid=k_grid) for q in quotes)
    surface = VolSurface.from_fits(fits)
    return surface, fits, surface.check_arbitrage(k_grid)
