"""Core leverage policies: volatility target, fractional Kelly, drawdown control, CPPI, gap cap.

Each policy follows :class:`~levguard.core.sizing.base.FixedLeverage`'s shape: a frozen
dataclass whose constructor validates parameters (raising :class:`~levguard.errors.InputError`
naming the parameter), a ``name``, a ``cap`` property, ``decide(state) -> SizingDecision`` and
``leverage_path(inputs)``.  Both entry points call the same kernels in
:mod:`levguard.kernels.sizing`, so ``decide`` on a history equals the path's last bar.

:class:`Rebalancer` is not a policy: it turns target leverages into held leverages (bands,
minimum trade, maximum step) and simulates how held leverage drifts between decisions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from levguard.core.sizing.base import ConstantPath, MarketContext, SeriesInputs, SizingDecision, SizingState
from levguard.core.sizing.caps import is_inverse
from levguard.core.validate import finite, non_negative, number, positive
from levguard.errors import InputError
from levguard.kernels.sizing import (
    cppi_leverage,
    cppi_path_nb,
    drawdown_path_nb,
    drawdown_scale,
    ewma_mean_path_nb,
    ewma_vol_path_nb,
    kelly_leverage,
    kelly_path_nb,
    rebalance_path_nb,
    rebalance_step,
    rolling_mean_path_nb,
    rolling_std_path_nb,
    vol_target_leverage,
    vol_target_path_nb,
)
from levguard.typing import Float64Array1D

__all__ = [
    "CPPI",
    "DrawdownControl",
    "GapCap",
    "Kelly",
    "Rebalancer",
    "VolatilityTarget",
    "cppi_gap_probability",
    "gap_cap_leverage",
    "kelly_growth_rate",
    "kelly_ruin_probability",
]

VolEstimator = Literal["ewma", "close_to_close"]
MuEstimator = Literal["given", "ewma_mean", "rolling_mean"]

# --------------------------------------------------------------------------- validation helpers


def _choice(value: str, field: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{field} must be one of {', '.join(allowed)}, was {value!r}")


def _lookback(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise InputError(f"lookback must be an integer >= 2, was {value!r}")


def _open_unit(value: float, field: str) -> None:
    finite(value, field)
    if not 0.0 < value < 1.0:
        raise InputError(f"{field} must be in (0, 1), was {value!r}")


def _fraction(value: float, field: str, *, lo_open: bool = False, hi_open: bool = False) -> None:
    # A fraction in [0, 1], either end optionally open; the sign check (positive or non_negative)
    # runs first, so 0 in (0, ...] and negatives keep their "> 0" / ">= 0" messages.
    (positive if lo_open else non_negative)(value, field)
    if value > 1.0 or (hi_open and value == 1.0):
        rng = f"{'(' if lo_open else '['}0, 1{')' if hi_open else ']'}"
        raise InputError(f"{field} must be in {rng}, was {value!r}")


def _cap(value: float, field: str = "max_leverage") -> None:
    positive(value, field)


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# --------------------------------------------------------------------------- estimators


def _as_returns(returns: Float64Array1D | None) -> Float64Array1D:
    if returns is None:
        return np.empty(0)
    return np.ascontiguousarray(returns, dtype=np.float64)


def _fill(kernel: Callable[..., object], n: int, *args: object) -> Float64Array1D:
    # Allocate the (n,) output of a path kernel (signature kernel(*args, out)) and fill it.
    out = np.empty(n)
    kernel(*args, out)
    return out


# Path kernels of the estimators: EWMA ones take (returns, lam, lookback, ppy, out), rolling
# ones (returns, lookback, ppy, out).
_EWMA_KERNELS = {"ewma": ewma_vol_path_nb, "ewma_mean": ewma_mean_path_nb}
_ROLLING_KERNELS = {"close_to_close": rolling_std_path_nb, "rolling_mean": rolling_mean_path_nb}
# A drawdown this small is float noise in an equity summed from positions: said as at the peak.
_PEAK_NOISE = 1e-12


def _estimate_path(returns: Float64Array1D, estimator: str, lookback: int, lam: float, ppy: float) -> Float64Array1D:
    # Annualised estimate at every bar from returns up to that bar: the vol forecast ("ewma",
    # "close_to_close") or the mean log return ("ewma_mean", "rolling_mean"; _drift_path adds v / 2).
    if estimator in _EWMA_KERNELS:
        return _fill(_EWMA_KERNELS[estimator], returns.shape[0], returns, lam, lookback, ppy)
    return _fill(_ROLLING_KERNELS[estimator], returns.shape[0], returns, lookback, ppy)


def _drift_path(returns: Float64Array1D, estimator: str, lookback: int, lam: float, ppy: float) -> Float64Array1D:
    """Annualised arithmetic drift at every bar from the log returns up to that bar.

    Notes
    -----
    Under GBM a log return over one bar is normal with mean ``(mu - sigma^2 / 2) dt`` and
    variance ``sigma^2 dt``, so ``mu = (m + v / 2) ppy`` with ``m`` and ``v`` the mean and variance
    of one sample of log returns: the same window or the same weights (Merton 1969; Thorp 2006,
    the continuous approximation).  ``rolling_mean``: the last ``lookback`` returns, ``v`` their sample variance
    (ddof 1, the ``close_to_close`` estimator of that window).  ``ewma_mean``: the weights of
    ``m_t = lam m_{t-1} + (1 - lam) r_t`` (seeded with the first finite return), ``v`` the
    weighted variance ``s_t - m_t^2`` with ``s_t`` the same recursion on ``r_t^2`` (the RiskMetrics
    EWMA, seeded with ``r_0^2``).  ``v`` is the sample's, never the volatility forecast: with the
    forecast, the drift (and so the leverage) rose with the forecast volatility.
    """
    mean = _estimate_path(returns, estimator, lookback, lam, ppy)  # m ppy
    if estimator == "rolling_mean":
        var = _estimate_path(returns, "close_to_close", lookback, lam, ppy) ** 2  # v ppy
    else:
        # s ppy - m^2 ppy, from the annualised EWMA second moment and mean (clipped at 0: rounding).
        var = np.maximum(_estimate_path(returns, "ewma", lookback, lam, ppy) ** 2 - mean * mean / ppy, 0.0)
    out: Float64Array1D = mean + 0.5 * var
    return out


def _last(path: Float64Array1D) -> float:
    return float(path[-1]) if path.shape[0] else math.nan


def _equity_path(inputs: SeriesInputs, owner: str) -> Float64Array1D:
    # inputs.equity as contiguous float64; path-dependent policies cannot run without it.
    if inputs.equity is None:
        raise InputError(f"inputs.equity must be given for {owner}.leverage_path, was None")
    return np.ascontiguousarray(inputs.equity, dtype=np.float64)


class _MaxLeverageCap:
    # ``cap`` of the policies whose ceiling is their ``max_leverage`` field.
    max_leverage: float

    @property
    def cap(self) -> float:
        """``max_leverage``."""
        return self.max_leverage


# --------------------------------------------------------------------------- volatility target


@dataclass(frozen=True)
class VolatilityTarget(_MaxLeverageCap):
    """Scale leverage so the position's forecast volatility equals a target.

    Parameters
    ----------
    target_vol : float
        Target annualised volatility of equity (fraction, e.g. 0.4), > 0.
    estimator : {"ewma", "close_to_close"}
        Forecast used when none is given: RiskMetrics EWMA or the rolling sample std.
    lookback : int
        Rolling window in bars (``close_to_close``) or warm-up bars before the EWMA forecasts
        (``ewma``), >= 2.
    lam : float
        EWMA decay in (0, 1).
    max_leverage : float
        Cap ``L_max`` > 0.

    Notes
    -----
    ``L_t = min(L_max, sigma_target / sigma_hat_t)`` where ``sigma_hat_t`` is
    ``state.vol_forecast`` (``inputs.vol_forecast``) when given, else estimated from returns up
    to ``t`` and annualised with ``sqrt(periods_per_year)`` (no look-ahead).  A missing,
    non-finite or zero forecast gives 0 with ``binding_constraint="no_forecast"``.
    Harvey, Hoyle, Korgaonkar, Rattray, Sargaison & Van Hemert (2018), "The Impact of
    Volatility Targeting", J. Portfolio Management 45(1): targeting lowers vol-of-vol and left
    tails; Moreira & Muir (2017) for the inverse-variance variant.

    When to use: the default for a directional strategy whose edge per unit of risk is roughly
    stable; it de-levers automatically into volatility spikes.  Compose with :class:`GapCap`
    because a volatility forecast says nothing about overnight or liquidation-cascade gaps.
    """

    target_vol: float
    estimator: VolEstimator = "ewma"
    lookback: int = 30
    lam: float = 0.94
    max_leverage: float = 3.0
    name: str = "vol_target"

    def __post_init__(self) -> None:
        positive(self.target_vol, "target_vol")
        _choice(self.estimator, "estimator", get_args(VolEstimator))
        _lookback(self.lookback)
        _open_unit(self.lam, "lam")
        _cap(self.max_leverage)

    def forecast(self, state: SizingState) -> float:
        """Return the annualised volatility forecast used by :meth:`decide` (NaN if none)."""
        if state.vol_forecast is not None:
            return float(state.vol_forecast)
        r = _as_returns(state.returns)
        return _last(_estimate_path(r, self.estimator, self.lookback, self.lam, state.periods_per_year))

    def decide(self, state: SizingState) -> SizingDecision:
        """Return ``min(L_max, target / forecast)`` with the binding constraint."""
        sigma = self.forecast(state)
        lev = vol_target_leverage(sigma, self.target_vol, self.max_leverage)
        details = {"vol_forecast": sigma, "target_vol": self.target_vol}
        if lev <= 0.0:
            return SizingDecision(0.0, "no_forecast", ("no usable volatility forecast: no exposure",), details=details)
        if self.target_vol >= self.max_leverage * sigma:
            why = f"target {self.target_vol:.3g} / forecast {sigma:.3g} capped at {self.max_leverage:g}x"
            return SizingDecision(lev, "max_leverage", (why,), details=details)
        why = f"target vol {self.target_vol:.3g} / forecast vol {sigma:.3g} = {lev:.3g}x"
        return SizingDecision(lev, "vol_target", (why,), details=details)

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Target leverage at every bar from forecasts made with data up to that bar."""
        sigma = self._sigma_path(inputs)
        return _fill(vol_target_path_nb, sigma.shape[0], sigma, self.target_vol, self.max_leverage)

    def _sigma_path(self, inputs: SeriesInputs) -> Float64Array1D:
        if inputs.vol_forecast is not None:
            return np.ascontiguousarray(inputs.vol_forecast, dtype=np.float64)
        r = _as_returns(inputs.returns)
        return _estimate_path(r, self.estimator, self.lookback, self.lam, inputs.periods_per_year)


# --------------------------------------------------------------------------- Kelly


def kelly_growth_rate(fraction: float, mu: float, sigma: float, rate: float = 0.0) -> float:
    """Return the log-growth rate ``g = r + c (2 - c) SR^2 / 2`` of fractional Kelly ``c f*``.

    ``mu``, ``sigma`` and ``rate`` are annualised; ``SR = (mu - r) / sigma``.  From
    ``g(f) = r + f (mu - r) - f^2 sigma^2 / 2`` at ``f = c (mu - r) / sigma^2``.
    """
    sr = (mu - rate) / sigma
    return rate + fraction * (2.0 - fraction) * sr * sr / 2.0


def kelly_ruin_probability(fraction: float, x: float) -> float:
    """Return ``P(wealth ever falls to x W0) = x^(2/c - 1)`` under fractional Kelly ``c`` (0 < x < 1)."""
    return float(x ** (2.0 / fraction - 1.0))


@dataclass(frozen=True)
class Kelly(_MaxLeverageCap):
    """Fractional continuous-time Kelly leverage from expected return and volatility.

    Parameters
    ----------
    fraction : float
        Kelly fraction ``c`` in (0, 1] (0.5 = "half Kelly").
    mu_estimator : {"given", "ewma_mean", "rolling_mean"}
        ``given`` uses ``state.mu_forecast`` / ``inputs.mu_forecast`` (annualised arithmetic
        return); the others estimate it from log returns (EWMA with ``lam`` or a ``lookback``
        window), converted to arithmetic with the variance of the same sample,
        ``mu = (mean_log + var_log / 2) ppy`` (:func:`_drift_path`); the volatility forecast
        enters only the denominator.
    sigma_estimator : {"ewma", "close_to_close"}
        Volatility estimator when no forecast is given (as :class:`VolatilityTarget`).
    shrinkage : float
        ``s`` in [0, 1]: the expected return used is ``(1 - s) mu_hat`` (shrunk towards 0).
    max_leverage : float
        Cap > 0.
    lookback : int
        Window / warm-up bars of the estimators, >= 2.
    lam : float
        EWMA decay in (0, 1).
    rate : float
        Annualised risk-free (or funding) rate ``r``, default 0.

    Notes
    -----
    ``f = c ((1 - s) mu_hat - r) / sigma^2`` clipped to ``[0, max_leverage]``.  The policy never
    shorts: the strategy picks the direction.  A ``given`` expected return is the *side-adjusted*
    one (the short's ``mu`` is ``-mu`` of the asset); an estimated one is the asset's drift,
    side-adjusted here by ``state.context.side`` (``inputs.side`` per bar in the vectorized
    path), since a short's arithmetic return is the negated asset return.  A non-positive edge
    gives 0 (``"no_edge"``).
    Under GBM the log-growth is ``g(f) = r + f (mu - r) - f^2 sigma^2 / 2``, maximised at
    ``f* = (mu - r) / sigma^2``; fractional ``c f*`` earns ``g = r + c (2 - c) SR^2 / 2`` and falls
    to ``x W0`` with probability ``x^(2/c - 1)``.  Kelly (1956), Bell System Tech. J. 35;
    Merton (1969), Rev. Econ. Stat. 51; Thorp (2006), "The Kelly criterion in blackjack, sports
    betting and the stock market".

    When to use: when you have a real estimate of the edge and want the growth-optimal size;
    use fraction <= 0.5 and shrinkage because ``mu`` is estimated with large error and
    over-betting (c > 2) has negative growth.  Compose with :class:`GapCap` in crypto.
    """

    fraction: float = 0.5
    mu_estimator: MuEstimator = "given"
    sigma_estimator: VolEstimator = "ewma"
    shrinkage: float = 0.0
    max_leverage: float = 3.0
    lookback: int = 30
    lam: float = 0.94
    rate: float = 0.0
    name: str = "kelly"

    def __post_init__(self) -> None:
        _fraction(self.fraction, "fraction", lo_open=True)
        _choice(self.mu_estimator, "mu_estimator", get_args(MuEstimator))
        _choice(self.sigma_estimator, "sigma_estimator", get_args(VolEstimator))
        _fraction(self.shrinkage, "shrinkage")
        _cap(self.max_leverage)
        _lookback(self.lookback)
        _open_unit(self.lam, "lam")
        finite(self.rate, "rate")

    def estimates(self, state: SizingState) -> tuple[float, float]:
        """Return the annualised ``(mu_hat, sigma_hat)`` used by :meth:`decide` (NaN if missing)."""
        r = _as_returns(state.returns)
        ppy = state.periods_per_year
        if state.vol_forecast is not None:
            sigma = float(state.vol_forecast)
        else:
            sigma = _last(_estimate_path(r, self.sigma_estimator, self.lookback, self.lam, ppy))
        if self.mu_estimator == "given":
            mu = float(state.mu_forecast) if state.mu_forecast is not None else math.nan
        else:
            mu = _last(_drift_path(r, self.mu_estimator, self.lookback, self.lam, ppy))
            mu *= state.context.side  # the asset's drift, as the position's side earns it
        return mu, sigma

    def decide(self, state: SizingState) -> SizingDecision:
        """Return ``clip(c ((1 - s) mu - r) / sigma^2, 0, max_leverage)``."""
        mu, sigma = self.estimates(state)
        lev = kelly_leverage(mu, sigma, self.fraction, self.shrinkage, self.rate, self.max_leverage)
        details = {"mu": mu, "sigma": sigma, "fraction": self.fraction}
        var = sigma * sigma
        if not (math.isfinite(mu) and math.isfinite(var)) or var <= 0.0:
            return SizingDecision(0.0, "no_forecast", ("no usable mu/sigma estimate: no exposure",), details=details)
        edge = (1.0 - self.shrinkage) * mu - self.rate
        short = " (short: the asset's drift negated)" if self.mu_estimator != "given" and state.context.side < 0 else ""
        if edge <= 0.0:
            why = f"no edge: shrunk mu {(1.0 - self.shrinkage) * mu:.3g} <= rate {self.rate:.3g}{short}"
            return SizingDecision(0.0, "no_edge", (why,), details=details)
        if self.fraction * edge >= self.max_leverage * var:
            why = f"{self.fraction:g} Kelly exceeds the cap: {self.max_leverage:g}x"
            return SizingDecision(lev, "max_leverage", (why,), details=details)
        why = f"{self.fraction:g} x ({edge:.3g}) / {sigma:.3g}^2 = {lev:.3g}x{short}"
        return SizingDecision(lev, "kelly", (why,), details=details)

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Kelly leverage at every bar from estimates using data up to that bar."""
        r = _as_returns(inputs.returns)
        ppy = inputs.periods_per_year
        if inputs.vol_forecast is not None:
            sigma = np.ascontiguousarray(inputs.vol_forecast, dtype=np.float64)
        else:
            sigma = _estimate_path(r, self.sigma_estimator, self.lookback, self.lam, ppy)
        if self.mu_estimator == "given":
            mu = (
                np.ascontiguousarray(inputs.mu_forecast, dtype=np.float64)
                if inputs.mu_forecast is not None
                else np.full(r.shape[0], np.nan)
            )
        else:
            mu = _drift_path(r, self.mu_estimator, self.lookback, self.lam, ppy)
            if inputs.side is not None:  # a short earns the asset's negated drift (flat bars: long)
                mu = np.where(np.asarray(inputs.side, dtype=np.float64) < 0.0, -mu, mu)
        return _fill(kelly_path_nb, r.shape[0], mu, sigma, self.fraction, self.shrinkage, self.rate, self.max_leverage)


# --------------------------------------------------------------------------- drawdown control


@dataclass(frozen=True)
class DrawdownControl:
    """Cut leverage as the drawdown from the equity peak deepens; 0 at the maximum drawdown.

    Parameters
    ----------
    max_drawdown : float
        Drawdown at which exposure is 0, a fraction in (0, 1).
    base_leverage : float
        Leverage at the peak, > 0.
    schedule : {"linear", "convex"}
        Shape of the scale ``s(dd)``.
    power : float
        Exponent of the convex schedule, > 0.

    Notes
    -----
    ``L = base s(dd)`` with ``dd = 1 - V / max(V)`` and ``s(dd) = max(0, 1 - dd / max_dd)``
    (linear) or ``max(0, 1 - dd / max_dd)^power`` (convex); ``L = 0`` at or beyond
    ``max_drawdown``.  Grossman & Zhou (1993), "Optimal investment strategies for controlling
    drawdowns", Math. Finance 3(3): under the constraint ``V_t >= (1 - max_dd) max V`` the
    optimal risky exposure is proportional to the cushion ``V - (1 - max_dd) max V``, i.e. to
    ``1 - dd / max_dd``.  The path needs ``inputs.equity`` (raises InputError without it: a
    set-up error, not a market condition).

    When to use: to honour a hard drawdown budget (a fund mandate, a prop-firm rule) on top of
    another policy; convex (power > 1) de-levers faster early in a drawdown.
    """

    max_drawdown: float
    base_leverage: float = 1.0
    schedule: Literal["linear", "convex"] = "linear"
    power: float = 2.0
    name: str = "drawdown"

    def __post_init__(self) -> None:
        _open_unit(self.max_drawdown, "max_drawdown")
        positive(self.base_leverage, "base_leverage")
        _choice(self.schedule, "schedule", ("linear", "convex"))
        positive(self.power, "power")

    @property
    def cap(self) -> float:
        """``base_leverage``."""
        return self.base_leverage

    def decide(self, state: SizingState) -> SizingDecision:
        """Return ``base * s(state.drawdown)``."""
        dd = state.drawdown
        scale = drawdown_scale(dd, self.max_drawdown, self.schedule == "convex", self.power)
        lev = self.base_leverage * scale
        details = {"drawdown": dd, "scale": scale}
        if scale <= 0.0:
            why = f"drawdown {dd:.3g} at or beyond max {self.max_drawdown:.3g}: no exposure"
            return SizingDecision(0.0, "max_drawdown", (why,), details=details)
        if dd <= _PEAK_NOISE:  # 3.3e-16 was an equity of 172,229.99999999994 against a peak of 172,230
            return SizingDecision(lev, "base_leverage", (f"at the equity peak: {lev:.3g}x",), details=details)
        why = f"drawdown {dd:.3g} of max {self.max_drawdown:.3g} scales {self.base_leverage:g}x to {lev:.3g}x"
        return SizingDecision(lev, "drawdown", (why,), details=details)

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Leverage at every bar from the drawdown against the running peak of ``inputs.equity``."""
        eq = _equity_path(inputs, "DrawdownControl")
        convex = self.schedule == "convex"
        return _fill(drawdown_path_nb, eq.shape[0], eq, self.max_drawdown, self.base_leverage, convex, self.power)


# --------------------------------------------------------------------------- CPPI


def cppi_gap_probability(multiplier: float, mu: float, sigma: float, dt: float) -> float:
    """Return the probability that one rebalancing period breaches the CPPI floor under GBM.

    Parameters
    ----------
    multiplier : float
        CPPI multiplier ``m`` > 0.
    mu, sigma : float
        Annualised drift and volatility of the risky asset (``sigma`` > 0).
    dt : float
        Rebalancing interval in years, > 0.

    Notes
    -----
    The floor is breached when the period's simple return ``R < -1/m``:
    ``P_gap = Phi((ln(1 - 1/m) - (mu - sigma^2/2) dt) / (sigma sqrt(dt)))``, 0 for ``m <= 1``
    (a loss beyond 100% is impossible).  Jumps dominate gap risk in crypto, so treat this as a
    lower bound.
    """
    positive(multiplier, "multiplier")
    finite(mu, "mu")
    positive(sigma, "sigma")
    positive(dt, "dt")
    if multiplier <= 1.0:
        return 0.0
    z = (math.log(1.0 - 1.0 / multiplier) - (mu - 0.5 * sigma * sigma) * dt) / (sigma * math.sqrt(dt))
    return _norm_cdf(z)


@dataclass(frozen=True)
class CPPI(_MaxLeverageCap):
    """Constant proportion portfolio insurance: exposure a multiple of the cushion above a floor.

    Parameters
    ----------
    floor : float
        Floor as a fraction in (0, 1) of the initial equity (or of the peak with ``ratchet``).
    multiplier : float
        ``m`` > 0.
    ratchet : bool
        Raise the floor with the equity peak (``floor * max V``).
    max_leverage : float
        Borrowing limit ``b`` > 0 (exposure at most ``b V``).
    initial_equity : float or None
        Reference equity of the fixed floor; default ``inputs.equity[0]`` in the path and, in
        :meth:`decide`, the peak (else current) equity when ``state.floor`` is not given.

    Notes
    -----
    ``C = V - F``, ``E = min(m C, b V)``, leverage ``E / V = min(m (1 - F/V), b)``; 0 at or
    below the floor (``"floor_breached"``).  ``state.floor`` (an absolute amount) overrides the
    fraction in :meth:`decide`.  Black & Perold (1992), "Theory of constant proportion portfolio
    insurance", J. Econ. Dynamics & Control 16.  With rebalancing every ``dt`` the floor is
    breached when the asset falls more than ``1/m`` in one period (:func:`cppi_gap_probability`).

    When to use: capital protection with upside participation (e.g. a treasury that must keep
    80% of its capital); choose ``m`` below ``1 / max_gap`` of the rebalancing interval.
    """

    floor: float
    multiplier: float = 3.0
    ratchet: bool = False
    max_leverage: float = 3.0
    initial_equity: float | None = None
    name: str = "cppi"

    def __post_init__(self) -> None:
        _open_unit(self.floor, "floor")
        positive(self.multiplier, "multiplier")
        if not isinstance(self.ratchet, bool):
            raise InputError(f"ratchet must be a bool, was {self.ratchet!r}")
        _cap(self.max_leverage)
        if self.initial_equity is not None:
            positive(self.initial_equity, "initial_equity")

    def floor_amount(self, state: SizingState) -> float:
        """Return the absolute floor used by :meth:`decide`."""
        if state.floor is not None:
            return float(state.floor)
        peak = state.peak_equity if state.peak_equity is not None else state.equity
        if self.ratchet:
            ref = max(peak, self.initial_equity) if self.initial_equity is not None else peak
        else:
            ref = self.initial_equity if self.initial_equity is not None else peak
        return self.floor * ref

    def decide(self, state: SizingState) -> SizingDecision:
        """Return ``min(m (V - F), b V) / V``."""
        floor = self.floor_amount(state)
        v = state.equity
        lev = cppi_leverage(v, floor, self.multiplier, self.max_leverage)
        details = {"floor": floor, "cushion": v - floor}
        if lev <= 0.0:
            why = f"equity {v:.6g} at or below floor {floor:.6g}: no exposure"
            return SizingDecision(0.0, "floor_breached", (why,), details=details)
        if lev >= self.max_leverage:
            why = f"m x cushion exceeds the borrowing limit: {self.max_leverage:g}x"
            return SizingDecision(lev, "max_leverage", (why,), details=details)
        why = f"{self.multiplier:g} x cushion {v - floor:.6g} / equity {v:.6g} = {lev:.3g}x"
        return SizingDecision(lev, "cppi", (why,), details=details)

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """CPPI leverage at every bar of ``inputs.equity`` (floor from the initial or running peak)."""
        eq = _equity_path(inputs, "CPPI")
        ref = self.initial_equity if self.initial_equity is not None else math.nan
        return _fill(cppi_path_nb, eq.shape[0], eq, self.floor, self.multiplier, self.max_leverage, self.ratchet, ref)


# --------------------------------------------------------------------------- gap cap


def gap_cap_leverage(max_gap: float, safety_margin: float, *, inverse: bool = False, side: int = 1) -> float:
    """Return the largest leverage that keeps ``safety_margin`` of equity after an adverse gap.

    Parameters
    ----------
    max_gap : float
        Adverse price move ``d``, a fraction in (0, 1].
    safety_margin : float
        Fraction ``s`` of equity left after the gap, in [0, 1).
    inverse : bool
        Coin-margined (inverse) contract: equity and P&L in the base coin.
    side : int
        +1 long (adverse move: the price falls by ``d``), -1 short (it rises by ``d``).

    Returns
    -------
    float
        Linear: ``(1 - s) / d``; inverse long: ``(1 - s)(1 - d) / d``; inverse short:
        ``(1 - s)(1 + d) / d``.

    Notes
    -----
    Linear: a gap of ``d`` changes equity by ``-L d``, so the fraction left is ``1 - L d``.
    Inverse (coin-margined): a position of ``N`` USD held with ``E`` coins at ``P0`` has
    ``L = N / (E P0)`` and P&L ``N (1/P0 - 1/P1)`` coins for a long (BitMEX, "Inverse
    Contracts Guide": PNL = contracts x multiplier x (1/entry - 1/exit); Deribit and Binance
    COIN-M state the same formula).  A long's ``P1 = P0 (1 - d)`` loses ``L d / (1 - d)`` of its
    coin equity; a short's ``P1 = P0 (1 + d)`` loses ``L d / (1 + d)``.  Keeping ``>= s`` left:
    ``L <= (1 - s)(1 - d) / d`` (long, 0 at ``d = 1``) and ``L <= (1 - s)(1 + d) / d`` (short).
    """
    base = (1.0 - safety_margin) / max_gap
    if not inverse:
        return base
    return base * (1.0 - max_gap) if side > 0 else base * (1.0 + max_gap)


@dataclass(frozen=True)
class GapCap(ConstantPath):
    """Cap leverage so that one adverse gap of ``max_gap`` cannot wipe out equity.

    Parameters
    ----------
    max_gap : float
        Largest adverse price move that cannot be reacted to (fraction in (0, 1]).
    safety_margin : float
        Fraction in [0, 1) kept in reserve below the ruin leverage (default 0.05).
    context : MarketContext or None
        The instrument of the vectorized path (the backtester fills it in); :meth:`decide`
        reads ``state.context``.  Without one: linear.

    Notes
    -----
    :func:`gap_cap_leverage` of the position's contract kind and side: a gap of ``-d`` changes
    a linear position's equity by ``-L d``, so any ``L >= 1/d`` is ruined and the cap is
    ``(1 - safety_margin) / max_gap``, which leaves ``safety_margin`` of equity after the worst
    gap (fees, slippage, the liquidation penalty).  An inverse (coin-margined) position's loss is
    ``L d / (1 - d)`` (long) or ``L d / (1 + d)`` (short) of its coin equity (BitMEX inverse
    contracts guide), so its caps are ``(1 - s)(1 - d) / d`` and ``(1 - s)(1 + d) / d``.
    Reference: "A gap of -d that cannot be reacted to ruins any f >= 1/d" (Kelly section of the
    levguard risk-formulas reference; Thorp 2006).

    When to use: always, as a member of a :class:`~levguard.core.sizing.base.Composite`, with
    ``max_gap`` from the worst historical move over the reaction time (e.g. BTC's -40% on
    2020-03-12 for a daily reaction time).
    """

    max_gap: float
    safety_margin: float = 0.05
    name: str = "gap_cap"
    context: MarketContext | None = None

    def __post_init__(self) -> None:
        _fraction(self.max_gap, "max_gap", lo_open=True)
        _fraction(self.safety_margin, "safety_margin", hi_open=True)
        if self.context is not None and not isinstance(self.context, MarketContext):
            raise InputError(f"context must be a MarketContext or None, was {type(self.context).__name__}")

    @property
    def cap(self) -> float:
        """The largest cap of the policy's context (linear without one: ``(1 - safety_margin) / max_gap``;
        inverse: the short's)."""
        inverse = self.context is not None and is_inverse(self.context)
        return gap_cap_leverage(self.max_gap, self.safety_margin, inverse=inverse, side=-1)

    def decide(self, state: SizingState) -> SizingDecision:
        """Return the cap of ``state.context``'s contract kind and side."""
        ctx = state.context
        inverse = is_inverse(ctx)
        lev = gap_cap_leverage(self.max_gap, self.safety_margin, inverse=inverse, side=ctx.side)
        s, d = self.safety_margin, self.max_gap
        if not inverse:
            why = f"a {d:.3g} gap must not ruin: <= (1 - {s:g}) / {d:.3g}"
        elif ctx.side > 0:
            why = f"a {d:.3g} gap must not ruin an inverse long: <= (1 - {s:g}) (1 - {d:.3g}) / {d:.3g}"
        else:
            why = f"a {d:.3g} gap must not ruin an inverse short: <= (1 - {s:g}) (1 + {d:.3g}) / {d:.3g}"
        return SizingDecision(lev, self.name, (f"{why} = {lev:.3g}x",))

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """The cap at every bar (an inverse context's by the side held, ``inputs.side``)."""
        n = inputs.returns.shape[0]
        ctx = self.context or MarketContext()
        if not is_inverse(ctx):
            return np.full(n, gap_cap_leverage(self.max_gap, self.safety_margin))
        long = gap_cap_leverage(self.max_gap, self.safety_margin, inverse=True, side=1)
        short = gap_cap_leverage(self.max_gap, self.safety_margin, inverse=True, side=-1)
        if inputs.side is None:
            return np.full(n, long if ctx.side > 0 else short)
        return np.where(np.asarray(inputs.side, dtype=np.float64) < 0.0, short, long)


# --------------------------------------------------------------------------- rebalancing


@dataclass(frozen=True)
class Rebalancer:
    """Rebalancing rules turning target leverage into held leverage.

    Parameters
    ----------
    band : float
        Relative no-trade band in [0, 1): no trade while ``current`` is within
        ``[target (1 - band), target (1 + band)]``.
    min_trade : float
        Smallest trade notional in the quote currency (USD, >= 0): smaller trades are skipped.
        One unit on every account: on a coin-margined (inverse) account the equity is valued at
        the mark (``levguard size``, the guardian and the backtester do so; pass
        ``equity x mark`` to :meth:`apply`).
    max_step : float
        Largest leverage change per decision (> 0, ``inf`` for none).

    Notes
    -----
    A trade moves to the target (clipped by ``max_step``).  Between decisions held leverage
    drifts with the asset: with simple return ``r``, ``L' = L (1 + r) / (1 + L r)`` (exposure
    grows by ``1 + r``, equity by ``1 + L r``).  Bands trade a little tracking error for far
    fewer trades (fees and funding of turnover).

    When to use: between any policy and execution, in backtests (:meth:`apply_path`) and live
    (:meth:`apply`).
    """

    band: float = 0.0
    min_trade: float = 0.0
    max_step: float = math.inf

    def __post_init__(self) -> None:
        _fraction(self.band, "band", hi_open=True)
        non_negative(self.min_trade, "min_trade")
        # None or 10**400 was a raw TypeError/OverflowError, True read as 1.
        number(self.max_step, "max_step")
        if math.isnan(self.max_step) or self.max_step <= 0.0:
            raise InputError(f"max_step must be > 0, was {self.max_step!r}")

    def apply(self, current: float, target: float, equity: float) -> float:
        """Return the leverage to hold after deciding with ``current`` held and ``target`` wanted.

        ``target`` is a leverage: finite and >= 0 (NaN is refused here; among :meth:`apply_path`'s
        targets NaN means flat).  ``equity`` is in the quote currency (USD), the unit of
        ``min_trade``: a coin-margined account's equity times the mark.
        """
        finite(current, "current")
        non_negative(target, "target")
        positive(equity, "equity")
        return float(rebalance_step(current, target, equity, self.band, self.min_trade, self.max_step))

    def apply_path(
        self,
        targets: Float64Array1D,
        returns: Float64Array1D,
        *,
        initial_leverage: float = 0.0,
        equity0: float = 1.0,
    ) -> Float64Array1D:
        """Return the held leverage after each bar's decision.

        Parameters
        ----------
        targets : (N,) float64
            Target leverage per bar (e.g. a policy's ``leverage_path``).
        returns : (N,) float64
            Per-bar *log* returns ``x`` (as :class:`SeriesInputs`); the drift uses the simple
            return ``r = exp(x) - 1``.
        initial_leverage, equity0 : float
            Leverage held and equity before bar 0, quote currency (``min_trade`` is judged against
            the equity).

        Returns
        -------
        (N,) float64
            Held leverage; 0 from a bar whose loss wipes out equity (``1 + L r <= 0``).
        """
        t_arr = np.ascontiguousarray(targets, dtype=np.float64)
        r_arr = np.ascontiguousarray(returns, dtype=np.float64)
        if t_arr.shape != r_arr.shape or t_arr.ndim != 1:
            raise InputError(f"targets and returns must be 1-D of one length, were {t_arr.shape} and {r_arr.shape}")
        finite(initial_leverage, "initial_leverage")
        positive(equity0, "equity0")
        return _fill(
            rebalance_path_nb,
            t_arr.shape[0],
            t_arr,
            r_arr,
            initial_leverage,
            equity0,
            self.band,
            self.min_trade,
            self.max_step,
        )
