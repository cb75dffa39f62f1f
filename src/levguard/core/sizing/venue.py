"""Venue-aware leverage caps: the tier bracket cap and the liquidation-probability budget.

Both policies read the instrument and venue from :class:`~levguard.core.sizing.base.MarketContext`
(``state.context``) and use the margin engine, so the leverage they allow is the leverage the
venue would actually accept and the liquidation price it would actually compute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from levguard.core.instruments import Instrument
from levguard.core.margin import evaluate, instrument_for, venue_tiers
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.risk.excursion import ExcursionForecaster, GbmForecaster
from levguard.core.risk.forecast import MAX_HORIZON_DAYS, annual_volatility, horizon_hours, liquidation_distance
from levguard.core.risk.liquidation import MODELS, prob_liquidation
from levguard.core.rules import get_venue
from levguard.core.rules.base import MMBasis
from levguard.core.sizing.base import (
    MarketContext,
    ProbabilityForecaster,
    SeriesInputs,
    SizingDecision,
    SizingState,
)
from levguard.core.sizing.caps import (
    brackets,
    context_tiers,
    decision_rate_cap,
    decision_tiers,
    is_inverse,
    leverage_tiers,
    rate_cap,
    rate_scales,
    tier_fixed_point,
)
from levguard.core.tiers import TierTable
from levguard.core.validate import finite, positive
from levguard.errors import InputError
from levguard.kernels.sizing_venue import (
    Budget,
    LiqSpec,
    budget_liquidation_price,
    distance_budget_path_nb,
    liq_spec,
    liquidation_budget_path_nb,
    liquidation_budget_scalar_nb,
)
from levguard.typing import Float64Array1D

__all__ = ["BUDGET_MODELS", "LiquidationBudget", "TierCap", "context_tiers", "tier_fixed_point"]

_HOURS_PER_YEAR = 365.0 * 24.0
_DAYS_PER_YEAR = 365.0
# Leverages at which the kernel's liquidation price is checked against the margin engine.
_PROBE_LEVERAGES = (0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0)
# Models of LiquidationBudget that read the state's liquidation forecaster.
_FORECAST_MODELS = ("default", "forecast")
BUDGET_MODELS: tuple[str, ...] = (*_FORECAST_MODELS, *MODELS)
"""Models of :class:`LiquidationBudget`: ``default`` (the state's liquidation forecaster; the GBM
closed form on ``vol_forecast`` when the state has none), ``forecast`` (the forecaster only) and
the closed forms of :func:`~levguard.core.risk.liquidation.prob_liquidation`."""


def _equity_price(inputs: SeriesInputs) -> tuple[Float64Array1D, Float64Array1D]:
    # The equity and price paths as contiguous float64, ones where the inputs give none.
    n = inputs.returns.shape[0]
    eq = np.ascontiguousarray(inputs.equity if inputs.equity is not None else np.ones(n), dtype=np.float64)
    px = np.ascontiguousarray(inputs.price if inputs.price is not None else np.ones(n), dtype=np.float64)
    return eq, px


def _usable_bars(*paths: Float64Array1D) -> npt.NDArray[np.intp]:
    # Indices of the bars where every path is finite and > 0.
    ok = np.ones(paths[0].shape[0], dtype=np.bool_)
    for x in paths:
        ok &= (x > 0) & np.isfinite(x)
    return np.flatnonzero(ok)


def _first_usable(valid: npt.NDArray[np.intp], eq: Float64Array1D, px: Float64Array1D) -> tuple[float, float] | None:
    # Equity and price at the first usable bar; None when no bar is usable.
    if valid.shape[0] == 0:
        return None
    first = int(valid[0])
    return float(eq[first]), float(px[first])


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
    point over the brackets.  The last bracket's published cap is the largest position
    (Binance ``notionalCap``, :attr:`~levguard.core.tiers.TierTable.max_position`).  Use it as the
    last member of a :class:`Composite` so that no policy asks for leverage the venue would reject.

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
        """Return the largest leverage the venue's brackets (or size-scaled rates) allow at this equity."""
        try:
            table = leverage_tiers(state.context, decision_tiers(state))
            rates = decision_rate_cap(state, self.cap)
        except InputError as exc:
            return SizingDecision(0.0, "no_tiers", (str(exc),))
        if rates is not None:
            value, tier_bound = rates.leverage, rates.bound
            venue_why = (
                f"initial margin {rates.imr:.4%} at size {rates.size:,.6g} allows {rates.bound:.4g}x "
                f"(IM = equity; {rates.source})"
            )
        else:
            lev, bound = tier_fixed_point(table, np.array([state.equity]), self.cap)
            value, tier_bound = float(lev[0]), float(bound[0])
            n = value * state.equity
            k = table.index(n)  # the tier and its leverage from one index (a cap is the next floor)
            venue_why = f"tier {k + 1} allows {table.tiers[k].max_leverage:g}x at notional {n:,.2f}"
            top = table.max_position
            if table.basis == "notional" and math.isfinite(top) and n >= top * (1.0 - 1e-9):
                venue_why += f", the largest position the last tier allows ({top:,.2f})"
        notional = value * state.equity
        if self.max_leverage is not None and tier_bound >= self.max_leverage:
            binding = "max_leverage"
            why = f"max leverage {self.max_leverage:g}x below the tier cap {tier_bound:.4g}x"
        else:
            binding = "tier_cap"
            why = venue_why
        return SizingDecision(
            value,
            binding,
            (why,),
            details=MappingProxyType({"notional": notional, "tier_bound": tier_bound}),
        )

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Tier cap at every bar from ``inputs.equity`` (0 without equity or tiers; size-scaled
        rates need ``inputs.price`` and are solved bar by bar, :func:`~levguard.core.sizing.caps.rate_cap`)."""
        n = inputs.returns.shape[0]
        if inputs.equity is None:
            return np.zeros(n)
        ctx = self.context or MarketContext()
        try:
            table = leverage_tiers(ctx, context_tiers(ctx))
            if rate_scales(ctx):  # Deribit: solved bar by bar; a rate that does not scale (dYdX) is a table
                return _rate_cap_path(ctx, inputs.equity, inputs.price, self.cap)
            inverse = table.basis == "quantity" and is_inverse(ctx)
            return tier_fixed_point(table, inputs.equity, self.cap, inputs.price, inverse=inverse)[0]
        except InputError:  # no tiers, or tiers by size without prices
            return np.zeros(n)


def _rate_cap_path(
    ctx: MarketContext, equity: Float64Array1D, price: Float64Array1D | None, cap: float
) -> Float64Array1D:
    # rate_cap at every usable bar (0 elsewhere); one solve per (equity, price).  Without prices
    # only a rate that does not change with the size has an answer (else InputError).
    eq = np.asarray(equity, dtype=np.float64)
    px = np.asarray(price, dtype=np.float64) if price is not None else None
    out = np.zeros(eq.shape[0])
    cache: dict[tuple[float, float | None], float] = {}
    for t in (_usable_bars(eq) if px is None else _usable_bars(eq, px)).tolist():
        key = (float(eq[t]), None if px is None else float(px[t]))
        if key not in cache:
            found = rate_cap(ctx, key[0], key[1], cap)
            cache[key] = found.leverage if found is not None else 0.0
        out[t] = cache[key]
    return out


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
        Horizon ``T`` in days (> 0; at most 30 with the forecaster, models ``default`` and
        ``forecast``).
    model : str
        ``"default"``: the liquidation forecaster of the state
        (``state.liquidation_forecaster``, fitted on the instrument's hourly mark bars: the
        calibrated model of docs/risk.md), or the GBM closed form on ``state.vol_forecast`` when
        the state has none; ``"forecast"``: the forecaster only (no forecaster, no leverage);
        or a closed form of :func:`~levguard.core.risk.liquidation.prob_liquidation` (``"gbm"``,
        ``"kou"``, ...) on ``state.vol_forecast``.  See :data:`BUDGET_MODELS`.
    max_leverage : float
        Upper end of the search (and a cap), > 0; default 100.
    monitoring_dt_days : float or None
        Discrete monitoring interval of the mark price for the closed forms (None: continuous).
        The forecaster reads the mark's hourly highs and lows and takes none.
    name : str
        Policy name.
    **model_params
        Passed to ``prob_liquidation`` (e.g. Kou jump parameters); closed forms only.

    Notes
    -----
    For a leverage ``L`` the policy builds a one-position isolated account on the context's venue
    (its tiers or ``mmr``, its taker fee; a fee of 0 means the venue default) with notional
    ``N = L E`` at the current price and isolated margin ``E``, and evaluates it with
    :func:`~levguard.core.margin.evaluate` to get the venue's liquidation price ``LP(L)``.  With
    the forecaster, ``P(L) = forecaster.prob(side, d(L), H)`` with ``d(L)`` the fractional
    adverse move from the price to ``LP(L)`` (:func:`levguard.core.risk.forecast.
    liquidation_distance`) and ``H`` the horizon in whole hours: the same number
    ``levguard risk``, ``levguard size``, the guardian and the service show for a position at
    that liquidation price.  With a closed form, ``P(L) = prob_liquidation(side, S, LP(L),
    sigma, T, mu)`` with ``sigma`` the state's volatility forecast.  ``P`` is non-decreasing in
    ``L`` (the liquidation price moves towards the mark), so the answer is found by bisection on
    ``[0, L_hi]`` to a relative 1e-10: the largest ``L`` with ``P(L) <= p*``.  ``L_hi`` is the
    tier fixed point (:class:`TierCap`) capped at ``max_leverage``; when ``P(L_hi) <= p*`` that
    cap binds.

    Funding: a position that *pays* funding loses ``|r| N`` per interval, the same effect on its
    margin as an adverse price move of ``|r|``.  The closed forms adjust the price drift to
    ``mu = -r * 365 * 24 / funding_interval_hours`` when ``side * r > 0`` (``r`` positive: longs
    pay), so for a long payer ``mu = -r n`` and a short payer (``r < 0``) ``mu = -r n > 0``; the
    forecaster takes the funding paid over the whole horizon, ``|r| H / funding_interval_hours``,
    off the distance up front (conservative: as if it were all paid now).  Funding *received* is
    not credited (conservative).  No price drift forecast is used otherwise: an optimistic
    ``mu`` would buy leverage.

    Use it as a hard risk limit next to a return-seeking policy: "at most 1 % chance of
    liquidation within a week".  Sources: docs/risk.md, "Probability of liquidation" (the
    forecaster and its validation, docs/validation.md); Harrison (1985) reflection principle
    and Broadie, Glasserman and Kou (1997) for the closed forms.
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
        model: str = "default",
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
        if model not in BUDGET_MODELS:
            raise InputError(f"model must be one of {', '.join(BUDGET_MODELS)}, was {model!r}")
        if monitoring_dt_days is not None:
            positive(monitoring_dt_days, "monitoring_dt_days")
        if model in _FORECAST_MODELS:
            if model_params:
                raise InputError(
                    f"model parameters ({', '.join(sorted(model_params))}) apply to the closed forms "
                    f"(model='gbm', 'kou', ...), not to model {model!r}"
                )
            if horizon_days > MAX_HORIZON_DAYS:
                raise InputError(
                    f"horizon_days must be <= {MAX_HORIZON_DAYS:g} with the liquidation forecaster (model "
                    f"{model!r}; use a closed form such as model='gbm' for longer horizons), was {horizon_days!r}"
                )
            if model == "forecast" and monitoring_dt_days is not None:
                raise InputError(
                    "monitoring_dt_days applies to the closed forms; the forecaster reads the mark's hourly "
                    f"highs and lows, was {monitoring_dt_days!r}"
                )
        closed = "gbm" if model in _FORECAST_MODELS else model
        # Let prob_liquidation name any bad model parameter now, not mid-backtest.
        prob_liquidation(
            1, 100.0, 50.0, 0.5, horizon_days, 0.0, monitoring_dt_days, closed, **_vparams(closed, model_params)
        )
        self.max_prob = float(max_prob)
        self.horizon_days = float(horizon_days)
        self.model = model
        self.closed_model = closed
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

    @property
    def horizon_hours(self) -> int:
        """The horizon in whole hours, as the forecaster reads it (``core.risk.forecast.horizon_hours``)."""
        return int(horizon_hours(min(self.horizon_days, MAX_HORIZON_DAYS))[0])

    # ------------------------------------------------------------------ pieces
    def liquidation_price(self, ctx: MarketContext, equity: float, price: float, leverage: float) -> float | None:
        """The venue's liquidation price of an isolated position of ``leverage * equity`` notional."""
        if leverage <= 0.0:
            return None
        model = get_venue(ctx.venue)
        inst = instrument_for(model, ctx.symbol, kind=ctx.contract_kind, contract_size=ctx.contract_size)
        notional = leverage * equity
        q = notional * price if inst.inverse else notional / price
        pos = _isolated_position(ctx, inst, ctx.side * q / inst.contract_size, price, equity)
        return evaluate(Account(ctx.venue, 0.0, (pos,)), model).positions[0].liquidation_price

    def drift(self, ctx: MarketContext) -> float:
        """Annualised price drift equivalent to the funding the position pays (0 if it receives)."""
        if ctx.side * ctx.funding_rate <= 0.0:
            return 0.0
        return -ctx.funding_rate_per_hour * _HOURS_PER_YEAR

    def funding_distance(self, ctx: MarketContext) -> float:
        """Funding the position pays over the horizon, as a fraction of the price (0 if it receives)."""
        if ctx.side * ctx.funding_rate <= 0.0:
            return 0.0
        return abs(ctx.funding_rate_per_hour) * self.horizon_hours

    def uses_forecaster(self, state: SizingState) -> bool:
        """Whether :meth:`decide` reads ``state.liquidation_forecaster`` (else ``state.vol_forecast``)."""
        return self.model == "forecast" or (self.model == "default" and state.liquidation_forecaster is not None)

    def forecast_prob(
        self, ctx: MarketContext, price: float, liq_price: float | None, forecaster: ProbabilityForecaster
    ) -> float:
        """``P(liquidation within the horizon)`` of a position with this liquidation price, from a forecaster.

        ``forecaster.prob(side, d - f, H)`` with ``d`` the distance from ``price`` to
        ``liq_price`` and ``f`` :meth:`funding_distance`; 0 without a liquidation price, 1 at or
        past it.
        """
        d = liquidation_distance(ctx.side, price, liq_price)
        if math.isinf(d):
            return 0.0
        d -= self.funding_distance(ctx)
        if d <= 0.0:
            return 1.0
        p = forecaster.prob(np.array([float(ctx.side)]), np.array([d]), np.array([self.horizon_hours]))
        return min(1.0, max(0.0, float(np.asarray(p, dtype=np.float64)[0])))

    def prob(
        self, ctx: MarketContext, equity: float, price: float, sigma: float | ProbabilityForecaster, leverage: float
    ) -> float:
        """``P(liquidation within the horizon)`` at ``leverage``.

        ``sigma`` is a liquidation forecaster (:meth:`forecast_prob`) or an annualised volatility
        (the closed form ``closed_model``).
        """
        lp = self.liquidation_price(ctx, equity, price, leverage)
        if isinstance(sigma, ProbabilityForecaster):
            return self.forecast_prob(ctx, price, lp, sigma)
        return prob_liquidation(
            ctx.side,
            price,
            lp,
            sigma,
            self.horizon_days,
            self.drift(ctx),
            self.monitoring_dt_days,
            self.closed_model,
            **self.model_params,
        )

    def _upper(self, ctx: MarketContext, equity: float, price: float) -> tuple[float, str]:
        # The largest leverage the venue accepts (TierCap's) within max_leverage, and which binds.
        try:
            table = leverage_tiers(ctx, context_tiers(ctx, price))  # Gate: the caps net of the close fee
            rates = rate_cap(ctx, equity, price, self.max_leverage)
        except InputError:
            return self.max_leverage, "max_leverage"
        if rates is not None:
            return rates.leverage, ("max_leverage" if rates.bound >= self.max_leverage else "tier_cap")
        lev, bound = tier_fixed_point(table, np.array([equity]), self.max_leverage)
        return float(lev[0]), ("max_leverage" if float(bound[0]) >= self.max_leverage else "tier_cap")

    def _venue_args(self, ctx: MarketContext, equity: float, price: float) -> LiqSpec | None:
        # The inputs of the GBM kernel, or None when the kernel does not cover this case (another
        # model, Monte Carlo, discrete monitoring: prob_liquidation's exact recursion over the
        # first dates, which the kernel's BGK shift does not reproduce) or its liquidation price
        # does not (see _lp_args).
        if (
            self.closed_model != "gbm"
            or self.model_params.get("method", "analytic") != "analytic"
            or self.monitoring_dt_days is not None
        ):
            return None
        return self._lp_args(ctx, equity, price)

    def _lp_args(self, ctx: MarketContext, equity: float, price: float) -> LiqSpec | None:
        # The liquidation-price inputs of the kernel, or None when it does not cover this case (a
        # close fee in the maintenance margin, a rate-based venue) or its liquidation price
        # differs from the margin engine's at a probe.
        if not (_pos_finite(equity) and _pos_finite(price)):
            return None
        try:
            model = get_venue(ctx.venue)
            inst = instrument_for(model, ctx.symbol, kind=ctx.contract_kind, contract_size=ctx.contract_size)
            probe = _isolated_position(ctx, inst, float(ctx.side), price, equity)
            if model.rate_based or (probe.tiers is None and model.rates(probe) is not None):
                return None
            taker = model.taker_fee(probe)
            if model.close_fee_rate(probe) > 0:
                return None
            table = venue_tiers(model, probe)  # by size: the whole table, the kernel reads the size's tier
            args = liq_spec(
                float(ctx.side),
                float(inst.contract_size),
                bool(inst.inverse),
                model.margin_fees(taker)[0],
                model.mm_basis is MMBasis.ENTRY,
                np.ascontiguousarray(table.caps, dtype=np.float64),
                np.ascontiguousarray(table.mmrs, dtype=np.float64),
                np.ascontiguousarray(table.cums, dtype=np.float64),
                table.basis == "quantity",
            )
            for lev in _PROBE_LEVERAGES:
                engine = self.liquidation_price(ctx, equity, price, lev)
                mine = _kernel_liquidation_price(args, lev, equity, price)
                engine_none = engine is None or not (math.isfinite(engine) and engine > 0.0)
                mine_none = mine is None
                if engine_none != mine_none or (not engine_none and engine != mine):
                    return None
        except InputError:
            return None
        return args

    def _budget(self, ctx: MarketContext) -> Budget:
        # The kernel's budget record: horizon and monitoring in years, drift, max_prob.
        mon = self.monitoring_dt_days / _DAYS_PER_YEAR if self.monitoring_dt_days is not None else 0.0
        return Budget(self.horizon_days / _DAYS_PER_YEAR, mon, float(self.drift(ctx)), self.max_prob)

    def solve(
        self, ctx: MarketContext, equity: float, price: float, sigma: float | ProbabilityForecaster
    ) -> tuple[float, str, float]:
        """Return ``(leverage, binding, P at leverage)``; raises InputError on bad inputs.

        ``sigma`` is a liquidation forecaster or an annualised volatility.  The forecaster
        bisects over :meth:`forecast_prob` (liquidation prices from the kernel
        :func:`levguard.kernels.sizing_venue.budget_liquidation_price` where it matches the margin
        engine); the closed-form GBM model, continuously monitored, runs on the numba kernel
        :func:`levguard.kernels.sizing_venue.liquidation_budget_scalar_nb`, the same code as
        :meth:`leverage_path`; other closed forms and discrete monitoring bisect over :meth:`prob`
        in Python.
        """
        hi, hi_binding = self._upper(ctx, equity, price)
        if isinstance(sigma, ProbabilityForecaster):
            forecaster = sigma
            lp_args = self._lp_args(ctx, equity, price)

            def p_of(lev: float) -> float:
                if lp_args is None:
                    lp = self.liquidation_price(ctx, equity, price, lev)
                else:
                    lp = _kernel_liquidation_price(lp_args, lev, equity, price) if lev > 0.0 else None
                return self.forecast_prob(ctx, price, lp, forecaster)

        else:
            vol = float(sigma)
            args = self._venue_args(ctx, equity, price) if _pos_finite(vol) else None
            if args is not None:
                lev, p, budget = liquidation_budget_scalar_nb(
                    float(hi), float(equity), float(price), vol, args, self._budget(ctx)
                )  # floats: an int equity would be another compiled signature
                return float(lev), ("liquidation_budget" if budget else hi_binding), float(p)

            def p_of(lev: float) -> float:
                return self.prob(ctx, equity, price, vol, lev)

        p_hi = p_of(hi)
        if p_hi <= self.max_prob:
            return hi, hi_binding, p_hi
        lo, p_lo = 0.0, 0.0
        # Bisection keeps P(lo) <= budget < P(hi); robust to the jumps where a bracket changes.
        while hi - lo > 1e-10 * max(hi, 1e-12):
            mid = 0.5 * (lo + hi)
            p_mid = p_of(mid)
            if p_mid <= self.max_prob:
                lo, p_lo = mid, p_mid
            else:
                hi = mid
        return lo, "liquidation_budget", p_lo

    # ------------------------------------------------------------------ policy
    def decide(self, state: SizingState) -> SizingDecision:
        """Largest leverage with ``P(liquidation within horizon_days) <= max_prob``."""
        ctx = state.context
        forecast: float | ProbabilityForecaster
        if self.uses_forecaster(state):
            if state.liquidation_forecaster is None:
                return SizingDecision(
                    0.0, "no_forecast", ("no liquidation forecaster (fit one on the instrument's hourly mark bars)",)
                )
            forecast = state.liquidation_forecaster
            how = f"{_describe(forecast)}, funding paid {self.funding_distance(ctx):.3g} of the price"
        else:
            sigma = state.vol_forecast
            if sigma is None or not math.isfinite(sigma) or sigma <= 0.0:
                return SizingDecision(0.0, "no_forecast", ("no volatility forecast",))
            forecast = float(sigma)
            how = f"{self.closed_model} closed form, vol {sigma:.3g}, funding drift {self.drift(ctx):.3g}/yr"
        try:
            decision_tiers(state)
            decision_rate_cap(state)
        except InputError as exc:
            return SizingDecision(0.0, "no_tiers", (str(exc),))
        try:
            lev, binding, p = self.solve(ctx, state.equity, state.price, forecast)
        except InputError as exc:
            return SizingDecision(0.0, "invalid_input", (str(exc),))
        why = f"P(liquidation within {self.horizon_days:g}d) = {p:.3g} <= {self.max_prob:g} at {lev:.4g}x ({how})"
        return SizingDecision(lev, binding, (why,), details=MappingProxyType({"prob_liquidation": p}))

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Budget leverage per bar (0 where there is no forecast, equity or price).

        With ``inputs.liquidation_forecasts`` (models ``default`` and ``forecast``): the
        forecaster fitted at each bar (:class:`levguard.core.risk.forecast.ForecastPath`) is
        inverted once per bar into the smallest distance ``d*_t`` whose forecast is within the
        budget (plus the funding paid over the horizon), and the numba kernel
        :func:`levguard.kernels.sizing_venue.distance_budget_path_nb` finds the largest leverage
        whose liquidation price is at least ``d*_t`` away: the leverage :meth:`decide` returns
        with that bar's forecaster (to the bisection tolerances).  Venues whose liquidation price
        the kernel does not reproduce solve in Python.  Bars with no forecaster fitted yet (the
        first week of mark bars, :func:`levguard.core.risk.forecast.forecast_path`): model
        ``default`` takes the closed form on ``vol_forecast`` there, as :meth:`decide` without a
        forecaster (0 where there is no volatility forecast either); model ``forecast`` gives 0.
        Model ``forecast`` without forecasts: 0.

        Otherwise (closed forms, or ``default`` without forecasts) from ``vol_forecast``: the
        closed-form GBM model, continuously monitored, runs on the numba kernel
        :func:`levguard.kernels.sizing_venue.liquidation_budget_path_nb` (one bisection per bar,
        the same code as :meth:`solve`).  Other models solve in Python: with a flat tier table
        (one bracket, no maintenance amount) and a linear or inverse contract the liquidation
        price relative to the mark depends on ``L`` alone, so results are cached by volatility;
        with brackets or a maintenance amount the notional matters and the cache key is
        ``(vol, equity)``; by size, or with a rate that scales with the size (Deribit),
        ``(vol, equity, price)``.  The path equals :meth:`decide` bar by bar.

        The side of each bar is ``inputs.side`` (short where it is negative, long elsewhere, as
        :class:`~levguard.core.sizing.policies.GapCap` reads it; ``context.side`` without it): the
        liquidation price, the forecaster's tail and the funding paid or received are the side's,
        so a strategy that flips gets, at each bar, :meth:`decide` for the side it holds there.
        """
        n = inputs.returns.shape[0]
        ctx = self.context or MarketContext()
        if inputs.side is None:
            return self._side_path(ctx, inputs, None)
        short = np.asarray(inputs.side, dtype=np.float64) < 0.0
        out = np.zeros(n)
        for side, bars in ((1, ~short), (-1, short)):
            if bars.any():
                out[bars] = self._side_path(replace(ctx, side=side), inputs, bars)[bars]
        return out

    def _side_path(
        self, ctx: MarketContext, inputs: SeriesInputs, bars: npt.NDArray[np.bool_] | None
    ) -> Float64Array1D:
        # leverage_path for one side (ctx.side) on the bars ``bars`` (None: all); 0 on the others.
        forecasts = inputs.liquidation_forecasts
        if self.model in _FORECAST_MODELS and forecasts is not None:
            need = np.asarray(forecasts.required_distances(ctx.side, self.max_prob, self.horizon_hours), dtype=float)
            out = self._forecast_path(ctx, inputs, need, bars)
            # Model default on bars with no fitted forecaster yet (its first week of mark bars): the
            # closed form on vol_forecast, as decide without a forecaster (0 where it has no vol).
            unfitted = np.isnan(need) if bars is None else np.isnan(need) & bars
            if self.model == "default" and unfitted.any():
                out[unfitted] = self._closed_path(ctx, inputs, unfitted)[unfitted]
            return out
        if self.model == "forecast":
            return np.zeros(inputs.returns.shape[0])
        return self._closed_path(ctx, inputs, bars)

    def _closed_path(
        self, ctx: MarketContext, inputs: SeriesInputs, bars: npt.NDArray[np.bool_] | None
    ) -> Float64Array1D:
        # The closed form on vol_forecast for one side (ctx.side) on the bars ``bars`` (None: all).
        n = inputs.returns.shape[0]
        out = np.zeros(n)
        if inputs.vol_forecast is None:
            return out
        try:
            table: TierTable | None = context_tiers(ctx)
        except InputError:
            table = None
        if table is not None and table.basis == "quantity" and inputs.price is None:
            return out  # tiers by size are valued at the price of each bar
        try:  # a rate that scales with the size (Deribit) makes every (equity, price) its own case
            sized = rate_scales(ctx)
        except InputError:
            sized = False
        # One bracket without a maintenance amount: LP / price depends on L alone.
        flat = table is not None and len(table) == 1 and table.tiers[0].maint_amount == 0.0 and not sized
        eq, px = _equity_price(inputs)
        vol = np.ascontiguousarray(inputs.vol_forecast, dtype=np.float64)
        if bars is not None:
            vol = np.where(bars, vol, np.nan)  # the other side's bars: no forecast, 0
        valid = _usable_bars(vol, eq, px)
        start = _first_usable(valid, eq, px)
        args = None if start is None else self._venue_args(ctx, *start)
        if args is not None:
            bk = brackets(None if table is None else leverage_tiers(ctx, table), self.max_leverage, args.inverse)
            liquidation_budget_path_nb(vol, eq, px, args, bk, self._budget(ctx), out)
            return out
        # By size with several tiers the price moves the tier too: it joins the key.
        by_price = sized or (table is not None and table.basis == "quantity" and not flat)
        cache: dict[tuple[float, ...], float] = {}
        for t in valid.tolist():
            s, e, p = float(vol[t]), float(eq[t]), float(px[t])
            key = (s, 1.0, 1.0) if flat else (s, e, p if by_price else 1.0)
            if key not in cache:
                try:
                    cache[key] = self.solve(ctx, e, p, s)[0]
                except InputError:
                    cache[key] = 0.0
            out[t] = cache[key]
        return out

    def _forecast_path(
        self,
        ctx: MarketContext,
        inputs: SeriesInputs,
        required: Float64Array1D,
        bars: npt.NDArray[np.bool_] | None,
    ) -> Float64Array1D:
        # The forecasters' path for one side from their required distances (NaN: no forecaster).
        n = inputs.returns.shape[0]
        out = np.zeros(n)
        try:
            table: TierTable | None = context_tiers(ctx)
        except InputError:
            return out
        if table is not None and table.basis == "quantity" and inputs.price is None:
            return out  # tiers by size are valued at the price of each bar
        eq, px = _equity_price(inputs)
        need = np.ascontiguousarray(required + self.funding_distance(ctx), dtype=np.float64)
        if bars is not None:
            need = np.where(bars, need, np.nan)  # the other side's bars: no forecast, 0
        valid = _usable_bars(need, eq, px)
        start = _first_usable(valid, eq, px)
        args = None if start is None else self._lp_args(ctx, *start)
        if args is not None:
            bk = brackets(None if table is None else leverage_tiers(ctx, table), self.max_leverage, args.inverse)
            distance_budget_path_nb(need, eq, px, args, bk, out)
            return out
        for t in valid.tolist():
            e, p, d = float(eq[t]), float(px[t]), float(need[t])
            hi = self._upper(ctx, e, p)[0]
            lo = 0.0

            def far_enough(lev: float, e: float = e, p: float = p, d: float = d) -> bool:
                return liquidation_distance(ctx.side, p, self.liquidation_price(ctx, e, p, lev)) >= d

            if not far_enough(hi):
                while hi - lo > 1e-10 * max(hi, 1e-12):
                    mid = 0.5 * (lo + hi)
                    if far_enough(mid):
                        lo = mid
                    else:
                        hi = mid
                hi = lo
            out[t] = hi
        return out


def _isolated_position(ctx: MarketContext, inst: Instrument, qty: float, price: float, equity: float) -> Position:
    # An isolated position of the context's market opened at ``price`` with margin ``equity``:
    # the context's tiers, else a fixed mmr, else the venue's own; its taker fee when > 0.
    tiers = ctx.tiers if ctx.tiers is not None else (TierTable.fixed_rate(ctx.mmr) if ctx.mmr is not None else None)
    return Position(
        inst,
        qty,
        price,
        price,
        MarginMode.ISOLATED,
        isolated_margin=equity,
        tiers=tiers,
        taker_fee_rate=ctx.taker_fee_rate if ctx.taker_fee_rate > 0 else None,
    )


def _pos_finite(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


def _describe(forecaster: ProbabilityForecaster) -> str:
    # How a forecaster is named in a decision's reasons.
    if isinstance(forecaster, ExcursionForecaster):
        return f"excursion forecaster, vol {annual_volatility(forecaster):.3g}"
    if isinstance(forecaster, GbmForecaster):
        return f"GBM forecaster, vol {annual_volatility(forecaster):.3g}"
    return f"forecaster {type(forecaster).__name__}"


def _kernel_liquidation_price(spec: LiqSpec, leverage: float, equity: float, price: float) -> float | None:
    # The kernel's liquidation price at `leverage` (None where there is none).
    lp = float(budget_liquidation_price(leverage, equity, price, spec))
    return lp if math.isfinite(lp) and lp > 0.0 else None
