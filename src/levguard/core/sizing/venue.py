"""Venue-aware leverage caps: the tier bracket cap and the liquidation-probability budget.

Both policies read the instrument and venue from :class:`~levguard.core.sizing.base.MarketContext`
(``state.context``) and use the margin engine, so the leverage they allow is the leverage the
venue would actually accept and the liquidation price it would actually compute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from levguard._typing import Float64Array1D
from levguard.core._validate import finite, positive
from levguard.core.margin import evaluate, instrument_for, resolve_tiers
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.risk.liquidation import MODELS, prob_liquidation
from levguard.core.rules import get_venue
from levguard.core.rules.base import MMBasis
from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingDecision, SizingState
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels.sizing_venue import (
    budget_liquidation_price,
    liquidation_budget_path_nb,
    liquidation_budget_scalar_nb,
    tier_cap_path_nb,
)

__all__ = ["LiquidationBudget", "TierCap", "context_tiers", "tier_fixed_point"]

_HOURS_PER_YEAR = 365.0 * 24.0
_DAYS_PER_YEAR = 365.0
# Leverages at which the kernel's liquidation price is checked against the margin engine.
_PROBE_LEVERAGES = (0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0)
# Strictly below a bracket's exclusive notional cap.
_BELOW = 1.0 - 1e-12


def context_tiers(ctx: MarketContext, price: float = 1.0) -> TierTable:
    """Return the tier table for ``ctx``: its own ``tiers``, a fixed ``mmr``, or the venue's.

    Raises
    ------
    InputError
        Unknown venue, or no built-in tiers for the symbol on the venue.
    """
    if ctx.tiers is not None:
        return ctx.tiers
    if ctx.mmr is not None:
        return TierTable.fixed_rate(ctx.mmr)
    model = get_venue(ctx.venue)
    inst = instrument_for(model, ctx.symbol)
    return resolve_tiers(model, Position(inst, float(ctx.side), price, price))


def tier_fixed_point(
    table: TierTable, equity: Float64Array1D, max_leverage: float = math.inf
) -> tuple[Float64Array1D, Float64Array1D]:
    """Return the largest ``L <= max_leverage`` with ``L <= max_leverage_tier(L * equity)``.

    Parameters
    ----------
    table : TierTable
        Brackets ``[floor_k, cap_k)`` with leverage caps ``lambda_k``.
    equity : ndarray, shape (n,)
        Equity (settlement currency) per case; non-positive or NaN gives 0.
    max_leverage : float
        An extra global cap.

    Returns
    -------
    leverage, bound : ndarray, shape (n,)
        The largest feasible leverage, and the tier bound before ``max_leverage`` (to tell which
        constraint binds).

    Notes
    -----
    Bracket ``k`` admits ``L in [floor_k / E, cap_k / E) ∩ [0, lambda_k]``; the answer is the
    largest point of the union over ``k`` (the exclusive cap is approached to 1e-12 relative).
    Runs on the numba kernel :func:`levguard.kernels.sizing_venue.tier_cap_path_nb`.
    """
    eq = np.ascontiguousarray(equity, dtype=np.float64)
    caps, floors, max_levs = _brackets(table)
    lev = np.zeros_like(eq)
    bound = np.zeros_like(eq)
    tier_cap_path_nb(eq, caps, floors, max_levs, _BELOW, float(max_leverage), lev, bound)
    return lev, bound


def _brackets(table: TierTable) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    # Bracket arrays of the tier kernel: caps, floors (0 then the previous caps), max leverages.
    caps = np.ascontiguousarray(table.caps, dtype=np.float64)
    floors = np.concatenate(([0.0], caps[:-1]))
    max_levs = np.array([float(t.max_leverage) for t in table.tiers], dtype=np.float64)
    return caps, floors, max_levs


@dataclass(frozen=True)
class TierCap:
    """Never exceed the venue's maximum leverage of the bracket the resulting notional falls in.

    Parameters
    ----------
    max_leverage : float or None
        An extra global cap (None: the tiers alone).
    context : MarketContext or None
        Instrument and venue for :meth:`leverage_path` (which has no state); ``decide`` uses
        ``state.context``.
    name : str
        Policy name.

    Notes
    -----
    The notional ``N = L E`` depends on the leverage, so the cap is a fixed point: the largest
    ``L`` with ``L <= lambda(L E)``, where ``lambda(N)`` is the bracket's maximum leverage
    (Binance "Leverage and Margin of USDⓈ-M Futures", Bybit "risk limit", Hyperliquid "margin
    tiers").  Each bracket ``k`` admits ``[floor_k/E, cap_k/E) ∩ [0, lambda_k]``; take the largest
    point over the brackets.  Use it as the last member of a :class:`Composite` so that no policy
    asks for leverage the venue would reject.

    Examples
    --------
    >>> from levguard.core.sizing.base import MarketContext, SizingState
    >>> from levguard.core.tiers import TierTable
    >>> t = TierTable.from_max_leverage([(0, 50), (1e6, 20)])
    >>> TierCap().decide(SizingState(equity=1e5, context=MarketContext(tiers=t))).target_leverage
    20.0
    """

    max_leverage: float | None = None
    context: MarketContext | None = None
    name: str = "tier_cap"

    def __post_init__(self) -> None:
        if self.max_leverage is not None:
            positive(self.max_leverage, "max_leverage")

    @property
    def cap(self) -> float:
        """``max_leverage`` (infinite without one: the tiers decide)."""
        return self.max_leverage if self.max_leverage is not None else math.inf

    def decide(self, state: SizingState) -> SizingDecision:
        """Return the largest leverage the venue's brackets allow at this equity."""
        try:
            table = context_tiers(state.context, state.price)
        except InputError as exc:
            return SizingDecision(0.0, "no_tiers", (str(exc),))
        lev, bound = tier_fixed_point(table, np.array([state.equity]), self.cap)
        value, tier_bound = float(lev[0]), float(bound[0])
        notional = value * state.equity
        if self.max_leverage is not None and tier_bound >= self.max_leverage:
            binding = "max_leverage"
            why = f"max leverage {self.max_leverage:g}x below the tier cap {tier_bound:.4g}x"
        else:
            binding = "tier_cap"
            why = (
                f"tier {table.index(notional) + 1} allows {table.max_leverage(notional):g}x at notional {notional:,.2f}"
            )
        return SizingDecision(
            value,
            binding,
            (why,),
            details=MappingProxyType({"notional": notional, "tier_bound": tier_bound}),
        )

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Tier cap at every bar from ``inputs.equity`` (0 without equity or tiers)."""
        n = inputs.returns.shape[0]
        if inputs.equity is None:
            return np.zeros(n)
        try:
            table = context_tiers(self.context or MarketContext())
        except InputError:
            return np.zeros(n)
        return tier_fixed_point(table, inputs.equity, self.cap)[0]


def _vparams(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    # Validation call: keep Monte Carlo models cheap.
    out = dict(params)
    if model not in ("gbm", "kou") or out.get("method") == "mc":
        out["n_paths"] = 8
    return out


class LiquidationBudget:
    """The largest leverage whose probability of liquidation over a horizon stays within budget.

    Parameters
    ----------
    max_prob : float
        Budget ``p*`` in ``(0, 1)``, e.g. 0.01 = 1 % over the horizon.
    horizon_days : float
        Horizon ``T`` in days (> 0).
    model : str
        Price model of :func:`~levguard.core.risk.liquidation.prob_liquidation`.
    max_leverage : float
        Upper end of the search (and a cap), > 0; default 100.
    monitoring_dt_days : float or None
        Discrete monitoring interval of the mark price (None: continuous).
    name : str
        Policy name.
    **model_params
        Passed to ``prob_liquidation`` (e.g. Kou jump parameters).

    Notes
    -----
    For a leverage ``L`` the policy builds a one-position isolated account on the context's venue
    (its tiers or ``mmr``, its taker fee; a fee of 0 means the venue default) with notional
    ``N = L E`` at the current price and isolated margin ``E``, and evaluates it with
    :func:`~levguard.core.margin.evaluate` to get the venue's liquidation price ``LP(L)``.  Then
    ``P(L) = prob_liquidation(side, S, LP(L), sigma, T, mu)`` with ``sigma`` the state's volatility
    forecast.  ``P`` is non-decreasing in ``L`` (the liquidation price moves towards the mark), so
    the answer is found by bisection on ``[0, L_hi]`` to a relative 1e-9: the largest ``L`` with
    ``P(L) <= p*``.  ``L_hi`` is the tier fixed point (:class:`TierCap`) capped at
    ``max_leverage``; when ``P(L_hi) <= p*`` that cap binds.

    Funding drift: a position that *pays* funding loses ``|r| N`` per interval, the same effect
    on its margin as an adverse price move of ``|r|``; the price drift is adjusted to
    ``mu = -r * 365 * 24 / funding_interval_hours`` when ``side * r > 0`` (``r`` positive: longs
    pay), so for a long payer ``mu = -r n`` and a short payer (``r < 0``) ``mu = -r n > 0``.
    Funding *received* is not credited (conservative).  No price drift forecast is used
    otherwise: an optimistic ``mu`` would buy leverage.

    Use it as a hard risk limit next to a return-seeking policy: "at most 1 % chance of
    liquidation within a week at today's volatility".  Source of the hitting probability:
    Harrison (1985) reflection principle; Broadie, Glasserman and Kou (1997) for discrete
    monitoring.
    """

    name: str
    max_prob: float
    horizon_days: float
    model: str
    max_leverage: float
    monitoring_dt_days: float | None
    model_params: Mapping[str, Any]

    def __init__(
        self,
        max_prob: float,
        horizon_days: float,
        model: str = "gbm",
        max_leverage: float = 100.0,
        monitoring_dt_days: float | None = None,
        *,
        name: str = "liquidation_budget",
        context: MarketContext | None = None,
        **model_params: Any,
    ) -> None:
        finite(max_prob, "max_prob")
        if not 0.0 < max_prob < 1.0:
            raise InputError(f"max_prob must be in (0, 1), was {max_prob!r}")
        positive(horizon_days, "horizon_days")
        positive(max_leverage, "max_leverage")
        if model not in MODELS:
            raise InputError(f"model must be one of {', '.join(MODELS)}, was {model!r}")
        if monitoring_dt_days is not None:
            positive(monitoring_dt_days, "monitoring_dt_days")
        # Let prob_liquidation name any bad model parameter now, not mid-backtest.
        prob_liquidation(
            1, 100.0, 50.0, 0.5, horizon_days, 0.0, monitoring_dt_days, model, **_vparams(model, model_params)
        )
        self.max_prob = float(max_prob)
        self.horizon_days = float(horizon_days)
        self.model = model
        self.max_leverage = float(max_leverage)
        self.monitoring_dt_days = monitoring_dt_days
        self.model_params = MappingProxyType(dict(model_params))
        self.name = name
        self.context = context

    def __repr__(self) -> str:
        return (
            f"LiquidationBudget(max_prob={self.max_prob!r}, horizon_days={self.horizon_days!r}, "
            f"model={self.model!r}, max_leverage={self.max_leverage!r})"
        )

    @property
    def cap(self) -> float:
        """``max_leverage``."""
        return self.max_leverage

    # ------------------------------------------------------------------ pieces
    def liquidation_price(self, ctx: MarketContext, equity: float, price: float, leverage: float) -> float | None:
        """The venue's liquidation price of an isolated position of ``leverage * equity`` notional."""
        if leverage <= 0.0:
            return None
        model = get_venue(ctx.venue)
        inst = instrument_for(model, ctx.symbol)
        notional = leverage * equity
        q = notional * price if inst.inverse else notional / price
        pos = Position(
            inst,
            ctx.side * q / inst.contract_size,
            price,
            price,
            MarginMode.ISOLATED,
            isolated_margin=equity,
            tiers=ctx.tiers
            if ctx.tiers is not None
            else (TierTable.fixed_rate(ctx.mmr) if ctx.mmr is not None else None),
            taker_fee_rate=ctx.taker_fee_rate if ctx.taker_fee_rate > 0 else None,
        )
        return evaluate(Account(ctx.venue, 0.0, (pos,)), model).positions[0].liquidation_price

    def drift(self, ctx: MarketContext) -> float:
        """Annualised price drift equivalent to the funding the position pays (0 if it receives)."""
        if ctx.side * ctx.funding_rate <= 0.0:
            return 0.0
        return -ctx.funding_rate * _HOURS_PER_YEAR / ctx.funding_interval_hours

    def prob(self, ctx: MarketContext, equity: float, price: float, sigma: float, leverage: float) -> float:
        """``P(liquidation within the horizon)`` at ``leverage``."""
        lp = self.liquidation_price(ctx, equity, price, leverage)
        return prob_liquidation(
            ctx.side,
            price,
            lp,
            sigma,
            self.horizon_days,
            self.drift(ctx),
            self.monitoring_dt_days,
            self.model,
            **self.model_params,
        )

    def _upper(self, ctx: MarketContext, equity: float, price: float) -> tuple[float, str]:
        try:
            table = context_tiers(ctx, price)
        except InputError:
            return self.max_leverage, "max_leverage"
        lev, bound = tier_fixed_point(table, np.array([equity]), self.max_leverage)
        return float(lev[0]), ("max_leverage" if float(bound[0]) >= self.max_leverage else "tier_cap")

    def _venue_args(self, ctx: MarketContext, equity: float, price: float) -> _VenueArgs | None:
        # The liquidation-price inputs of the GBM kernel, or None when the kernel does not cover
        # this case (another model, Monte Carlo, a close fee in the maintenance margin, a
        # rate-based venue) or its liquidation price differs from the margin engine's at a probe.
        if self.model != "gbm" or self.model_params.get("method", "analytic") != "analytic":
            return None
        if not (_pos_finite(equity) and _pos_finite(price)):
            return None
        try:
            model = get_venue(ctx.venue)
            inst = instrument_for(model, ctx.symbol)
            probe = Position(
                inst,
                float(ctx.side),
                price,
                price,
                MarginMode.ISOLATED,
                isolated_margin=equity,
                tiers=ctx.tiers
                if ctx.tiers is not None
                else (TierTable.fixed_rate(ctx.mmr) if ctx.mmr is not None else None),
                taker_fee_rate=ctx.taker_fee_rate if ctx.taker_fee_rate > 0 else None,
            )
            if model.rate_based or (probe.tiers is None and model.rates(probe) is not None):
                return None
            taker = model.taker_fee(probe)
            if model.bankruptcy_close_fee and taker > 0:
                return None
            table = resolve_tiers(model, probe)
            args = _VenueArgs(
                float(ctx.side),
                float(inst.contract_size),
                bool(inst.inverse),
                taker if model.fee_in_mm else 0.0,
                model.mm_basis is MMBasis.ENTRY,
                np.ascontiguousarray(table.caps, dtype=np.float64),
                np.ascontiguousarray(table.mmrs, dtype=np.float64),
                np.ascontiguousarray(table.cums, dtype=np.float64),
            )
            for lev in _PROBE_LEVERAGES:
                engine = self.liquidation_price(ctx, equity, price, lev)
                mine = float(
                    budget_liquidation_price(lev, equity, price, *args.lp_args(), np.full(1, np.inf), np.zeros(1))
                )
                engine_none = engine is None or not (math.isfinite(engine) and engine > 0.0)
                mine_none = not (math.isfinite(mine) and mine > 0.0)
                if engine_none != mine_none or (not engine_none and engine != mine):
                    return None
        except InputError:
            return None
        return args

    def _horizon_args(self, ctx: MarketContext) -> tuple[float, float, float, float]:
        mon = self.monitoring_dt_days / _DAYS_PER_YEAR if self.monitoring_dt_days is not None else 0.0
        return self.horizon_days / _DAYS_PER_YEAR, mon, float(self.drift(ctx)), self.max_prob

    def solve(self, ctx: MarketContext, equity: float, price: float, sigma: float) -> tuple[float, str, float]:
        """Return ``(leverage, binding, P at leverage)``; raises InputError on bad inputs.

        The closed-form GBM model (the default) runs on the numba kernel
        :func:`levguard.kernels.sizing_venue.liquidation_budget_scalar_nb`, the same code as
        :meth:`leverage_path`; other models bisect over :meth:`prob` in Python.
        """
        hi, hi_binding = self._upper(ctx, equity, price)
        args = self._venue_args(ctx, equity, price) if _pos_finite(sigma) else None
        if args is not None:
            lev, p, budget = liquidation_budget_scalar_nb(
                hi, equity, price, sigma, *args.lp_args(), *self._horizon_args(ctx)
            )
            return float(lev), ("liquidation_budget" if budget else hi_binding), float(p)
        p_hi = self.prob(ctx, equity, price, sigma, hi)
        if p_hi <= self.max_prob:
            return hi, hi_binding, p_hi
        lo, p_lo = 0.0, 0.0
        # Bisection keeps P(lo) <= budget < P(hi); robust to the jumps where a bracket changes.
        while hi - lo > 1e-10 * max(hi, 1e-12):
            mid = 0.5 * (lo + hi)
            p_mid = self.prob(ctx, equity, price, sigma, mid)
            if p_mid <= self.max_prob:
                lo, p_lo = mid, p_mid
            else:
                hi = mid
        return lo, "liquidation_budget", p_lo

    # ------------------------------------------------------------------ policy
    def decide(self, state: SizingState) -> SizingDecision:
        """Largest leverage with ``P(liquidation within horizon_days) <= max_prob``."""
        sigma = state.vol_forecast
        if sigma is None or not math.isfinite(sigma) or sigma <= 0.0:
            return SizingDecision(0.0, "no_forecast", ("no volatility forecast",))
        ctx = state.context
        try:
            context_tiers(ctx, state.price)
        except InputError as exc:
            return SizingDecision(0.0, "no_tiers", (str(exc),))
        try:
            lev, binding, p = self.solve(ctx, state.equity, state.price, sigma)
        except InputError as exc:
            return SizingDecision(0.0, "invalid_input", (str(exc),))
        why = (
            f"P(liquidation within {self.horizon_days:g}d) = {p:.3g} <= {self.max_prob:g} at {lev:.4g}x "
            f"(vol {sigma:.3g}, funding drift {self.drift(ctx):.3g}/yr)"
        )
        return SizingDecision(lev, binding, (why,), details=MappingProxyType({"prob_liquidation": p}))

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Budget leverage per bar from ``vol_forecast``, ``equity`` and ``price`` (0 where missing).

        The closed-form GBM model (the default) runs on the numba kernel
        :func:`levguard.kernels.sizing_venue.liquidation_budget_path_nb` (one bisection per bar,
        the same code as :meth:`solve`).  Other models solve in Python: with a flat tier table
        (one bracket) and a linear or inverse contract the liquidation price relative to the mark
        depends on ``L`` alone, so results are cached by volatility; with brackets the notional
        matters and the cache key is ``(vol, equity)``.
        """
        n = inputs.returns.shape[0]
        out = np.zeros(n)
        if inputs.vol_forecast is None:
            return out
        ctx = self.context or MarketContext()
        try:
            table: TierTable | None = context_tiers(ctx)
        except InputError:
            table = None
        flat = table is not None and len(table) == 1
        eq = inputs.equity if inputs.equity is not None else np.ones(n)
        px = inputs.price if inputs.price is not None else np.ones(n)
        vol = np.ascontiguousarray(inputs.vol_forecast, dtype=np.float64)
        eq = np.ascontiguousarray(eq, dtype=np.float64)
        px = np.ascontiguousarray(px, dtype=np.float64)
        valid = np.flatnonzero((vol > 0) & np.isfinite(vol) & (eq > 0) & np.isfinite(eq) & (px > 0) & np.isfinite(px))
        if valid.shape[0] == 0:
            return out
        first = int(valid[0])
        args = self._venue_args(ctx, float(eq[first]), float(px[first]))
        if args is not None:
            if table is not None:
                caps, floors, max_levs = _brackets(table)
            else:
                caps, floors, max_levs = np.zeros(0), np.zeros(0), np.zeros(0)
            liquidation_budget_path_nb(
                vol, eq, px, *args.lp_args(), caps, floors, max_levs, _BELOW, self.max_leverage,
                *self._horizon_args(ctx), out,
            )  # fmt: skip
            return out
        cache: dict[tuple[float, float], float] = {}
        for t in valid.tolist():
            s, e, p = float(vol[t]), float(eq[t]), float(px[t])
            key = (s, 1.0 if flat else e)
            if key not in cache:
                try:
                    cache[key] = self.solve(ctx, e, p, s)[0]
                except InputError:
                    cache[key] = 0.0
            out[t] = cache[key]
        return out


def _pos_finite(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


@dataclass(frozen=True)
class _VenueArgs:
    """Liquidation-price inputs of :func:`levguard.kernels.sizing_venue.budget_liquidation_price`."""

    side: float
    contract_size: float
    inverse: bool
    fee: float
    entry_basis: bool
    caps: Float64Array1D
    mmrs: Float64Array1D
    cums: Float64Array1D

    def lp_args(
        self,
    ) -> tuple[float, float, bool, float, bool, Float64Array1D, Float64Array1D, Float64Array1D]:
        return (
            self.side,
            self.contract_size,
            self.inverse,
            self.fee,
            self.entry_basis,
            self.caps,
            self.mmrs,
            self.cums,
        )
