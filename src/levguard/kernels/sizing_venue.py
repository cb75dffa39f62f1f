"""Venue-aware and regime sizing kernels: tier cap, liquidation budget, regime selection, HMM filter.

Each kernel is written once in plain Python (``foo_py``) and compiled through the shim
(``foo_nb = jit(foo_py)``); :mod:`levguard.core.sizing.venue` and :mod:`levguard.core.sizing.regime`
validate parameters, unpack domain objects and call the compiled twins for their vectorized
``leverage_path`` (and, where a scalar exists, for ``decide``) so the two cannot drift apart.

Conventions shared by every kernel here:

* ``out`` has the length of the input; ``out[t]`` uses inputs at indices ``<= t`` only (no
  look-ahead).
* Failure is a value: a missing leverage is 0, a missing liquidation price NaN; no exceptions.
* Inputs travel as records (NamedTuples, which numba passes as typed tuples): :class:`Brackets`
  (leverage brackets of a tier table), :class:`LiqSpec` (a venue's liquidation-price inputs, with
  the maintenance tiers ``caps``, ``mmrs``, ``cums`` as in :mod:`levguard.kernels.margin`) and
  :class:`Budget` (horizon, monitoring, drift and the probability budget).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.kernels.margin import position_notional, solve_liquidation_price, tier_index, tiered_mm
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

# Broadie-Glasserman-Kou beta = -zeta(1/2) / sqrt(2 pi) (same constant as core.risk.first_passage).
BGK_BETA = 0.5825971579390107
_SQRT2 = 1.4142135623730951
_HALF_LOG_2PI = 0.9189385332046727


class RegimeCodes(NamedTuple):
    """Codes of the volatility regimes (an enum as a NamedTuple of ints, usable in kernels)."""

    CALM: int = 0
    NORMAL: int = 1
    STRESS: int = 2


Regime = RegimeCodes()
"""The regime codes: ``Regime.CALM`` 0, ``Regime.NORMAL`` 1, ``Regime.STRESS`` 2."""

# Deprecated aliases of the codes (use ``Regime``).
REGIME_CALM = Regime.CALM
REGIME_NORMAL = Regime.NORMAL
REGIME_STRESS = Regime.STRESS


class Brackets(NamedTuple):
    """Leverage brackets of a tier table and the global cap.

    Attributes
    ----------
    caps, floors, max_levs : (R,) float64
        Exclusive notional cap, notional floor and leverage cap ``lambda_k`` of bracket ``k``
        (an empty table: no brackets, the upper end of a budget is ``max_leverage``).
    below : float
        The factor that approaches an exclusive cap from below (``1 - 1e-12``).
    max_leverage : float
        The global leverage cap.
    by_size : bool
        The caps and floors are position sizes (OKX counts its tiers in contracts): a leverage
        ``L`` on equity ``E`` at price ``P`` is a size of ``L E / P`` (inverse: ``L E P``), see
        :func:`bracket_unit`.
    inverse : bool
        Inverse contract (with ``by_size``).
    """

    caps: Float64Array1D
    floors: Float64Array1D
    max_levs: Float64Array1D
    below: float
    max_leverage: float
    by_size: bool = False
    inverse: bool = False


class LiqSpec(NamedTuple):
    """A venue's liquidation-price inputs (see :func:`budget_liquidation_price`).

    Attributes
    ----------
    side : float
        +1 long, -1 short.
    contract_size : float
        Base units (linear) or quote (inverse) per contract.
    inverse : bool
        Inverse contract.
    fee : float
        Fee rate added to the maintenance rate (OKX/Gate; 0 elsewhere).
    entry_basis : bool
        Maintenance margin valued at entry (a constant, Bybit/BitMEX) rather than tiered at the
        liquidation price.
    caps, mmrs, cums : (R,) float64
        Maintenance tiers: notional cap, rate and maintenance amount (caps are position sizes
        with ``by_size``).
    no_caps, no_tier : (1,) float64
        A one-bracket table without maintenance (``[inf]`` and ``[0]``), for the entry basis.
    by_size : bool
        Tiers by position size (OKX's contracts): the tier of the size holds at every price.
    """

    side: float
    contract_size: float
    inverse: bool
    fee: float
    entry_basis: bool
    caps: Float64Array1D
    mmrs: Float64Array1D
    cums: Float64Array1D
    no_caps: Float64Array1D
    no_tier: Float64Array1D
    by_size: bool = False


def liq_spec(
    side: float,
    contract_size: float,
    inverse: bool,
    fee: float,
    entry_basis: bool,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    by_size: bool = False,
) -> LiqSpec:
    """Return the :class:`LiqSpec` of these inputs (with the maintenance-free table filled in)."""
    return LiqSpec(
        float(side),
        float(contract_size),
        bool(inverse),
        float(fee),
        bool(entry_basis),
        np.ascontiguousarray(caps, dtype=np.float64),
        np.ascontiguousarray(mmrs, dtype=np.float64),
        np.ascontiguousarray(cums, dtype=np.float64),
        np.full(1, np.inf),
        np.zeros(1),
        bool(by_size),
    )


class Budget(NamedTuple):
    """The liquidation-probability budget.

    Attributes
    ----------
    horizon_years : float
        GBM horizon in years.
    monitoring_years : float
        Monitoring interval in years (``<= 0``: continuous).
    mu : float
        Annualised drift.
    max_prob : float
        The budget ``p*``.
    """

    horizon_years: float
    monitoring_years: float
    mu: float
    max_prob: float


# --------------------------------------------------------------------------- tier cap
@jitable
def tier_fixed_point_scalar(equity: float, brackets: Brackets) -> tuple[float, float]:
    """Return ``(L*, bound)``: the largest ``L <= max_leverage`` in some bracket, and the tier bound.

    Bracket ``k`` admits ``L in [floor_k / E, cap_k / E) ∩ [0, lambda_k]`` (the exclusive cap is
    approached as ``cap_k / E * below``); ``bound`` is the same maximum before ``max_leverage``.
    Non-positive or non-finite equity gives ``(0, 0)``.
    """
    if not (equity > 0.0 and equity < math.inf):
        return 0.0, 0.0
    caps = brackets.caps
    best = 0.0
    bound = 0.0
    for k in range(caps.shape[0]):
        lo = brackets.floors[k] / equity
        hi = caps[k] / equity * brackets.below if caps[k] < math.inf else math.inf
        top = min(brackets.max_levs[k], hi)
        if top >= lo:
            bound = max(bound, top)
        capped = min(top, brackets.max_leverage)
        if capped >= lo:
            best = max(best, capped)
    return best, bound


@jitable
def bracket_unit(equity: float, price: float, brackets: Brackets) -> float:
    """Return what one unit of leverage is worth in the brackets' terms: the equity (notional
    caps), or by size the size it buys, ``equity / price`` (inverse: ``equity x price``), so
    that :func:`tier_fixed_point_scalar` of it is exact at ``price``."""
    if not brackets.by_size:
        return equity
    return equity * price if brackets.inverse else equity / price


def tier_cap_path_py(
    equity: Float64Array1D,
    price: Float64Array1D,
    brackets: Brackets,
    out: Float64Array1D,
    out_bound: Float64Array1D,
) -> None:
    """Fill ``out[t]`` with the tier fixed point at ``equity[t]`` and ``price[t]`` (read by tiers
    by size only, :func:`bracket_unit`) and ``out_bound[t]`` with its tier bound.

    Notes
    -----
    The notional ``N = L E`` depends on the leverage, so the cap is the largest ``L`` with
    ``L <= lambda(L E)``: the largest point of the union over brackets ``k`` of
    ``[floor_k / E, cap_k / E) ∩ [0, min(lambda_k, max_leverage)]``.
    """
    for t in range(equity.shape[0]):
        lev, bound = tier_fixed_point_scalar(bracket_unit(equity[t], price[t], brackets), brackets)
        out[t] = lev
        out_bound[t] = bound


tier_cap_path_nb = jit(tier_cap_path_py)


# --------------------------------------------------------------------------- GBM first passage
@jitable
def norm_cdf(x: float) -> float:
    """``Phi(x) = erfc(-x / sqrt 2) / 2``."""
    return 0.5 * math.erfc(-x / _SQRT2)


@jitable
def log_norm_cdf(x: float) -> float:
    """``log Phi(x)``, with the asymptotic series in the far left tail (where ``erfc`` underflows)."""
    if x > -35.0:
        return math.log(0.5 * math.erfc(-x / _SQRT2))
    z2 = 1.0 / (x * x)
    series = 1.0 - z2 * (1.0 - 3.0 * z2 * (1.0 - 5.0 * z2 * (1.0 - 7.0 * z2)))
    return -0.5 * x * x - math.log(-x) - _HALF_LOG_2PI + math.log(series)


@jitable
def gbm_hit_prob_scalar(barrier: float, nu: float, sigma: float, t: float) -> float:
    """``P(min_{s <= t} (nu s + sigma W_s) <= barrier)``, the twin of ``first_passage.gbm_hit_prob``.

    Notes
    -----
    Reflection principle (Harrison 1985, section 1.8):
    ``P = Phi((b - nu t)/(sigma sqrt t)) + exp(2 nu b / sigma**2) Phi((b + nu t)/(sigma sqrt t))``,
    the second term as ``exp(2 nu b / sigma**2 + log Phi(.))``.  ``Phi`` from ``math.erfc``.
    """
    if barrier >= 0.0:
        return 1.0
    if t <= 0.0:
        return 0.0
    st = sigma * math.sqrt(t)
    first = norm_cdf((barrier - nu * t) / st)
    log_second = 2.0 * nu * barrier / (sigma * sigma) + log_norm_cdf((barrier + nu * t) / st)
    second = math.exp(log_second) if log_second < 700.0 else math.inf
    return min(1.0, max(0.0, first + second))


# --------------------------------------------------------------------------- liquidation budget
@jitable
def _upper_end(equity: float, price: float, brackets: Brackets) -> float:
    # The budget's upper end: the tier fixed point capped at max_leverage (an empty table: the cap).
    if brackets.caps.shape[0] > 0:
        return float(tier_fixed_point_scalar(bracket_unit(equity, price, brackets), brackets)[0])
    return brackets.max_leverage


@jitable
def _valid(x: float, e: float, p: float) -> bool:
    # All three inputs of a bar finite and > 0.
    return x > 0.0 and x < math.inf and e > 0.0 and e < math.inf and p > 0.0 and p < math.inf


@jitable
def budget_liquidation_price(leverage: float, equity: float, price: float, venue: LiqSpec) -> float:
    """Venue liquidation price of an isolated position of notional ``leverage * equity`` (NaN if none).

    Entry and mark are ``price``, the isolated margin is ``equity``.  ``venue.entry_basis``: the
    maintenance margin is valued at entry (a constant ``k``, Bybit/BitMEX); otherwise it is tiered
    and re-selected at the liquidation price, with ``venue.fee`` added to the rate (OKX/Gate).
    ``venue.by_size``: the table is the one tier of the size ``|q|`` at every price, as the
    margin engine reads tiers by size (:meth:`levguard.core.tiers.TierTable.at_quantity`).
    """
    if not leverage > 0.0:
        return math.nan
    inverse = venue.inverse
    fee = venue.fee
    notional = leverage * equity
    qb = notional * price if inverse else notional / price
    q = (venue.side * qb / venue.contract_size) * venue.contract_size
    caps, mmrs, cums = venue.caps, venue.mmrs, venue.cums
    if venue.by_size:
        kt = tier_index(abs(q), caps)
        caps, mmrs, cums = venue.no_caps, mmrs[kt : kt + 1], venue.no_tier
    if venue.entry_basis:
        n_entry = position_notional(q, price, inverse)
        k_const = (tiered_mm(n_entry, caps, mmrs, cums) + fee * n_entry) - fee * n_entry
        return solve_liquidation_price(
            q, price, equity, k_const, fee, inverse, venue.no_caps, venue.no_tier, venue.no_tier
        )
    return solve_liquidation_price(q, price, equity, 0.0, fee, inverse, caps, mmrs, cums)


@jitable
def budget_prob(leverage: float, equity: float, price: float, sigma: float, venue: LiqSpec, budget: Budget) -> float:
    """GBM ``P(liquidation within the horizon)`` at ``leverage``; ``monitoring_years <= 0``: continuous.

    Discrete monitoring: the barrier moves away by ``BGK_BETA sigma sqrt(dt)`` and the horizon
    stops at the last monitoring date (0 when ``dt`` exceeds the horizon).  That is the
    Broadie-Glasserman-Kou approximation, which understates the probability over few dates;
    :class:`~levguard.core.sizing.venue.LiquidationBudget` prices discrete monitoring with
    ``prob_liquidation`` (exact over the first 256 dates) and does not call this kernel for it.
    """
    lp = budget_liquidation_price(leverage, equity, price, venue)
    if not (lp > 0.0 and lp < math.inf):
        return 0.0
    side = venue.side
    if (side > 0.0 and price <= lp) or (side < 0.0 and price >= lp):
        return 1.0
    horizon_years = budget.horizon_years
    monitoring_years = budget.monitoring_years
    if monitoring_years > 0.0 and monitoring_years > horizon_years * (1.0 + 1e-9):
        return 0.0
    b = side * math.log(lp / price)
    nu = side * (budget.mu - 0.5 * sigma * sigma)
    horizon = horizon_years
    if monitoring_years > 0.0:
        b = b - BGK_BETA * sigma * math.sqrt(monitoring_years)
        horizon = math.floor(horizon_years / monitoring_years + 1e-9) * monitoring_years
    return gbm_hit_prob_scalar(b, nu, sigma, horizon)


@jitable
def liquidation_budget_solve(
    hi: float, equity: float, price: float, sigma: float, venue: LiqSpec, budget: Budget
) -> tuple[float, float, bool]:
    """Return ``(L, P(L), budget_binds)``: the largest ``L <= hi`` with ``P(L) <= max_prob``.

    Bisection keeps ``P(lo) <= max_prob < P(hi)`` until ``hi - lo <= 1e-10 max(hi, 1e-12)`` (a
    deterministic number of steps, so the twins agree bit for bit); robust to the jumps where a
    bracket changes.  When ``P(hi) <= max_prob`` the upper end binds.
    """
    max_prob = budget.max_prob
    p_hi = budget_prob(hi, equity, price, sigma, venue, budget)
    if p_hi <= max_prob:
        return hi, p_hi, False
    lo = 0.0
    p_lo = 0.0
    while hi - lo > 1e-10 * max(hi, 1e-12):
        mid = 0.5 * (lo + hi)
        p_mid = budget_prob(mid, equity, price, sigma, venue, budget)
        if p_mid <= max_prob:
            lo = mid
            p_lo = p_mid
        else:
            hi = mid
    return lo, p_lo, True


def liquidation_budget_path_py(
    vol: Float64Array1D,
    equity: Float64Array1D,
    price: Float64Array1D,
    venue: LiqSpec,
    brackets: Brackets,
    budget: Budget,
    out: Float64Array1D,
) -> None:
    """Fill ``out[t]`` with the liquidation-budget leverage from ``vol[t]``, ``equity[t]``, ``price[t]``.

    Parameters
    ----------
    vol, equity, price : (N,) float64
        Annualised volatility forecast, equity and mark price per bar; a bar with any of them
        non-finite or non-positive gives 0.
    venue : LiqSpec
        The venue's liquidation-price inputs (see :func:`budget_liquidation_price`).
    brackets : Brackets
        Leverage brackets for the upper end ``L_hi`` (tier fixed point capped at ``max_leverage``);
        an empty table means ``L_hi = max_leverage``.
    budget : Budget
        GBM horizon, monitoring interval (``<= 0``: continuous), drift and the budget ``p*``.
    out : (N,) float64
        Output, written in place.
    """
    for t in range(vol.shape[0]):
        s, e, p = vol[t], equity[t], price[t]
        out[t] = (
            liquidation_budget_solve(_upper_end(e, p, brackets), e, p, s, venue, budget)[0] if _valid(s, e, p) else 0.0
        )


liquidation_budget_path_nb = jit(liquidation_budget_path_py)


def liquidation_budget_scalar_py(
    hi: float, equity: float, price: float, sigma: float, venue: LiqSpec, budget: Budget
) -> tuple[float, float, bool]:
    """One bar of :func:`liquidation_budget_path_py` with a given upper end ``hi`` (for ``decide``)."""
    return liquidation_budget_solve(hi, equity, price, sigma, venue, budget)


liquidation_budget_scalar_nb = jit(liquidation_budget_scalar_py)


# --------------------------------------------------------------------------- budget from a required distance
@jitable
def _far_enough(leverage: float, min_distance: float, equity: float, price: float, venue: LiqSpec) -> bool:
    # Whether the liquidation price at `leverage` is at least `min_distance` from the price
    # (always, without a liquidation price).
    lp = budget_liquidation_price(leverage, equity, price, venue)
    return not (lp > 0.0 and lp < math.inf) or venue.side * (price - lp) / price >= min_distance


@jitable
def distance_budget_solve(
    hi: float, min_distance: float, equity: float, price: float, venue: LiqSpec
) -> tuple[float, bool]:
    """Return ``(L, budget_binds)``: the largest ``L <= hi`` whose liquidation price is at least ``min_distance`` away.

    The distance is ``side (price - LP(L)) / price`` (infinite without a liquidation price); it
    never grows with ``L``, so bisection keeps ``d(lo) >= min_distance > d(hi)`` until
    ``hi - lo <= 1e-10 max(hi, 1e-12)``, as :func:`liquidation_budget_solve`.
    """
    if _far_enough(hi, min_distance, equity, price, venue):
        return hi, False
    lo = 0.0
    while hi - lo > 1e-10 * max(hi, 1e-12):
        mid = 0.5 * (lo + hi)
        if _far_enough(mid, min_distance, equity, price, venue):
            lo = mid
        else:
            hi = mid
    return lo, True


def distance_budget_path_py(
    min_distance: Float64Array1D,
    equity: Float64Array1D,
    price: Float64Array1D,
    venue: LiqSpec,
    brackets: Brackets,
    out: Float64Array1D,
) -> None:
    """Fill ``out[t]`` with the largest leverage whose liquidation price is ``min_distance[t]`` away.

    Parameters
    ----------
    min_distance : (N,) float64
        Smallest distance from the price to the liquidation price (fraction of the price) that a
        liquidation forecaster allows within the budget at each bar
        (:meth:`levguard.core.risk.forecast.ForecastPath.required_distances`); NaN or
        non-positive gives 0.
    equity, price : (N,) float64
        Equity and mark price per bar; non-finite or non-positive gives 0.
    venue : LiqSpec
        The venue's liquidation-price inputs (see :func:`budget_liquidation_price`).
    brackets : Brackets
        Leverage brackets for the upper end (as :func:`liquidation_budget_path_py`).
    out : (N,) float64
        Output, written in place.

    Notes
    -----
    A forecast never rises with the distance, so "``P(L) <= p*``" is "``d(L) >= d*``" with
    ``d*`` the forecast's inverse at ``p*``: one bisection on ``L`` per bar with no forecast
    inside the loop.
    """
    for t in range(min_distance.shape[0]):
        d, e, p = min_distance[t], equity[t], price[t]
        out[t] = distance_budget_solve(_upper_end(e, p, brackets), d, e, p, venue)[0] if _valid(d, e, p) else 0.0


distance_budget_path_nb = jit(distance_budget_path_py)


# --------------------------------------------------------------------------- regimes
@jitable
def quantile_sorted(s: Float64Array1D, m: int, q: float) -> float:
    """The ``q`` quantile of the sorted ``s[:m]``, NumPy's default ``linear`` method bit for bit."""
    vi = (m - 1) * q
    last: float = s[m - 1]
    if vi >= m - 1:
        return last
    head: float = s[0]
    if vi < 0.0:
        return head
    i = math.floor(vi)
    g = vi - i
    a: float = s[i]
    b: float = s[i + 1]
    d = b - a
    if g >= 0.5:
        return b - d * (1.0 - g)
    return a + d * g


def quantile_regime_path_py(
    vol: Float64Array1D,
    lookback: int,
    min_obs: int,
    q_lo: float,
    q_hi: float,
    has_normal: bool,
    out: Int64Array1D,
) -> None:
    """Fill ``out[t]`` with the volatility regime (0 calm, 1 normal, 2 stress) from ``vol[:t+1]``.

    Notes
    -----
    With ``Q_lo``, ``Q_hi`` the ``q_lo``, ``q_hi`` quantiles of the finite ``vol`` over the last
    ``lookback`` bars up to ``t``: calm when ``vol[t] <= Q_lo``, stress when ``vol[t] >= Q_hi``,
    in between normal if ``has_normal`` else the previous regime.  Stress with fewer than
    ``min_obs`` finite values.
    """
    # The finite values of the window, kept sorted: one removal and one insertion per bar.
    srt = np.empty(max(lookback, 1))
    m = 0
    prev = Regime.STRESS
    for t in range(vol.shape[0]):
        out[t] = Regime.STRESS
        if t >= lookback:
            old = vol[t - lookback]
            if old > -math.inf and old < math.inf:
                j = np.searchsorted(srt[:m], old)
                for i in range(j, m - 1):
                    srt[i] = srt[i + 1]
                m -= 1
        x = vol[t]
        if x > -math.inf and x < math.inf:
            i = m
            while i > 0 and srt[i - 1] > x:
                srt[i] = srt[i - 1]
                i -= 1
            srt[i] = x
            m += 1
        if m < min_obs or m == 0:
            continue
        lo = quantile_sorted(srt, m, q_lo)
        hi = quantile_sorted(srt, m, q_hi)
        v = vol[t]
        if v <= lo:
            prev = Regime.CALM
        elif v >= hi:
            prev = Regime.STRESS
        elif has_normal:
            prev = Regime.NORMAL
        out[t] = prev


quantile_regime_path_nb = jit(quantile_regime_path_py)


def regime_select_path_py(regime: Int64Array1D, member_paths: Float64Array2D, out: Float64Array1D) -> None:
    """``out[t] = member_paths[regime[t], t]`` (0 for a regime outside the rows)."""
    n_rows = member_paths.shape[0]
    for t in range(regime.shape[0]):
        k = regime[t]
        out[t] = member_paths[k, t] if 0 <= k < n_rows else 0.0


regime_select_path_nb = jit(regime_select_path_py)


def hmm_forward_py(
    b0: Float64Array1D,
    b1: Float64Array1D,
    a00: float,
    a01: float,
    a10: float,
    a11: float,
    q0: float,
    q1: float,
    alpha: Float64Array2D,
    c: Float64Array1D,
) -> None:
    """Scaled forward recursion of a 2-state HMM (filtered, never smoothed: no look-ahead).

    Parameters
    ----------
    b0, b1 : (T,) float64
        Emission densities of each state per bar (any common per-bar scale).
    a00, a01, a10, a11 : float
        Transition matrix ``A[i, j] = P(s_{t+1} = j | s_t = i)``.
    q0, q1 : float
        Predicted state distribution before the first bar.
    alpha : (T, 2) float64
        Output: filtered probabilities ``P(s_t = k | x_1..x_t)``; rows sum to 1.
    c : (T,) float64
        Output: the one-step predictive likelihoods (scales); ``1e-300`` where both densities
        vanish (the prediction is kept).
    """
    for t in range(b0.shape[0]):
        f0 = q0 * b0[t]
        f1 = q1 * b1[t]
        s = f0 + f1
        if s <= 0.0:
            f0 = q0
            f1 = q1
            s = 1e-300
        else:
            f0 = f0 / s
            f1 = f1 / s
        alpha[t, 0] = f0
        alpha[t, 1] = f1
        c[t] = s
        q0 = f0 * a00 + f1 * a10
        q1 = f0 * a01 + f1 * a11


hmm_forward_nb = jit(hmm_forward_py)
