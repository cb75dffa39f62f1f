"""Leverage of a lending position under a health-factor target and a P(HF < 1) budget.

:class:`HealthFactorTarget` sizes a DeFi borrow (or the leverage of a loop): the largest leverage
``L = collateral / equity`` whose health factor is at least a target *now* and, optionally,
whose probability of falling below one within a horizon stays within a budget.  The position's
health as a function of its leverage comes from an injected :class:`LeverageHealth`:
:class:`LendingTerms` is its closed form for one collateral against one debt, and
:class:`levguard.defi.health_target.PositionLeverage` the protocols' exact engines (Aave v3,
Morpho Blue).  The probability comes, as for
:class:`~levguard.core.sizing.venue.LiquidationBudget`, from the liquidation forecaster in the
state (``state.liquidation_forecaster``), fitted on the hourly bars of the collateral / debt
price ratio (:func:`levguard.defi.risk.ratio_forecaster`): the position is long that ratio and
liquidates when it falls by the liquidation distance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np

from levguard.core.risk.forecast import MAX_HORIZON_DAYS, horizon_hours
from levguard.core.sizing.base import ProbabilityForecaster, SeriesInputs, SizingDecision, SizingState
from levguard.core.validate import finite, number, positive
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = ["HealthFactorTarget", "LendingTerms", "LeverageHealth", "largest_feasible"]

_REL_TOL = 1e-10  # bisection tolerance on the leverage, relative


@runtime_checkable
class LeverageHealth(Protocol):
    """A lending position's health as a function of its leverage ``L = collateral / equity``.

    The equity is held fixed; at ``L`` the position holds collateral worth ``L E`` against debt
    worth ``(L - 1) E`` at today's prices.  ``L <= 1`` is a position without debt.
    """

    @property
    def max_leverage(self) -> float:
        """The most leverage the protocol lends (its loan-to-value limit: ``1 / (1 - LTV)``)."""
        ...

    def health_factor(self, leverage: float) -> float:
        """Health factor at ``leverage`` (``inf`` without debt); non-increasing in ``leverage``."""
        ...

    def liquidation_distance(self, leverage: float) -> float:
        """Fraction by which the collateral / debt price ratio must fall for HF to reach 1 (``inf``
        without debt, 0 when already liquidatable); non-increasing in ``leverage``."""
        ...


@dataclass(frozen=True)
class LendingTerms:
    """The closed form of one collateral against one debt: HF and liquidation distance by leverage.

    Parameters
    ----------
    liquidation_threshold : float
        Aave's liquidation threshold (e-mode's when in e-mode) or Morpho's LLTV, in ``(0, 1)``.
    max_ltv : float or None
        The loan-to-value up to which the protocol lends (Aave's LTV; Morpho lends up to the
        LLTV, the default), in ``[0, liquidation_threshold]``.

    Notes
    -----
    With collateral ``C = L E``, debt ``D = (L - 1) E`` and threshold ``lt``, the health factor is
    ``HF = C lt / D = lt L / (L - 1)`` (Aave v3 ``GenericLogic.calculateUserAccountData``; Morpho's
    ``maxBorrow / borrowed``, morpho-org/sdks ``MarketUtils.getHealthFactor``).  Scaling the
    collateral / debt price ratio by ``1 - d`` scales HF by the same factor, so HF reaches 1 after
    a fall of ``d = 1 - 1 / HF = 1 - (L - 1) / (lt L)``.  The borrowing limit ``D <= LTV C`` is
    ``L <= 1 / (1 - LTV)``.  The contracts' roundings (whole units, floored average threshold) are
    in the exact engines (:class:`levguard.defi.health_target.PositionLeverage`).
    """

    liquidation_threshold: float
    max_ltv: float | None = None

    def __post_init__(self) -> None:
        finite(self.liquidation_threshold, "liquidation_threshold")
        if not 0.0 < self.liquidation_threshold < 1.0:
            raise InputError(f"liquidation_threshold must be in (0, 1), was {self.liquidation_threshold!r}")
        if self.max_ltv is not None:
            finite(self.max_ltv, "max_ltv")
            if not 0.0 <= self.max_ltv <= self.liquidation_threshold:
                raise InputError(
                    f"max_ltv must be in [0, liquidation_threshold = {self.liquidation_threshold!r}], "
                    f"was {self.max_ltv!r}"
                )

    @property
    def max_leverage(self) -> float:
        """``1 / (1 - max_ltv)`` (the LLTV's when ``max_ltv`` is None)."""
        ltv = self.liquidation_threshold if self.max_ltv is None else self.max_ltv
        return 1.0 / (1.0 - ltv)

    def health_factor(self, leverage: float) -> float:
        """``lt L / (L - 1)``; ``inf`` for ``L <= 1``."""
        if leverage <= 1.0:
            return math.inf
        return self.liquidation_threshold * leverage / (leverage - 1.0)

    def liquidation_distance(self, leverage: float) -> float:
        """``max(0, 1 - (L - 1) / (lt L))``; ``inf`` for ``L <= 1``."""
        if leverage <= 1.0:
            return math.inf
        return max(0.0, 1.0 - (leverage - 1.0) / (self.liquidation_threshold * leverage))

    def leverage_for_distance(self, distance: Float64Array1D) -> Float64Array1D:
        """The largest leverage whose liquidation distance is at least ``distance`` (elementwise).

        ``d(L) >= d*`` is ``L <= 1 / (1 - lt (1 - d*))``; ``d* >= 1`` allows no debt (``L = 1``);
        NaN gives NaN.
        """
        d = np.asarray(distance, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1.0 / (1.0 - self.liquidation_threshold * (1.0 - np.minimum(d, 1.0)))
        result: Float64Array1D = np.where(np.isnan(d), np.nan, np.maximum(out, 1.0))
        return result


def largest_feasible(ok: Callable[[float], bool], lo: float, hi: float) -> float:
    """Largest ``x`` in ``[lo, hi]`` with ``ok(x)`` (to a relative 1e-10), given ``ok(lo)`` and ``ok``
    monotone (True, then False)."""
    if ok(hi):
        return hi
    while hi - lo > _REL_TOL * max(hi, 1e-12):
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class HealthFactorTarget:
    """The largest leverage with HF >= ``target_hf`` now and P(HF < 1 within the horizon) <= ``max_prob``.

    Parameters
    ----------
    target_hf : float
        Health factor to keep now, ``>= 1`` (1 is the protocol's own limit).
    health : LeverageHealth
        The position's HF and liquidation distance by leverage: :class:`LendingTerms` or the
        exact :class:`levguard.defi.health_target.PositionLeverage`.
    max_prob : float or None
        Budget for the probability that HF falls below 1 within ``horizon_days``, in ``(0, 1)``;
        None: the target alone.
    horizon_days : float or None
        Horizon of the budget, in ``(0, 30]`` days (the forecaster's range); given with ``max_prob``.
    max_leverage : float
        A cap of one's own (default: none beyond the protocol's limit ``health.max_leverage``).
    name : str
        Policy name.

    Notes
    -----
    Leverage is ``L = collateral / equity``; the policy's answer is a leverage, and
    ``details["max_borrow"] = (L - 1) * state.equity`` the debt it allows (in the equity's unit).
    ``HF(L)`` and the liquidation distance ``d(L)`` never rise with ``L`` and ``P(L) =
    forecaster.prob(+1, d(L), H)`` (the ratio falling by ``d(L)`` within ``H`` whole hours) never
    falls, so each constraint is a bisection on ``[1, cap]`` to a relative 1e-10, keeping the
    feasible end.  The binding constraint is ``protocol_ltv`` (the protocol lends no more),
    ``max_leverage``, ``target_hf`` or ``hf_budget`` (the probability budget); without a
    forecaster in the state a budgeted policy returns 0 with ``no_forecast`` (as
    :class:`~levguard.core.sizing.venue.LiquidationBudget`).  The backtest path inverts the
    forecasts once per bar (``ForecastPath.required_distances``: the smallest ratio fall whose
    forecast is within budget) and takes the largest leverage at least that far from HF = 1.
    """

    target_hf: float
    health: LeverageHealth
    max_prob: float | None = None
    horizon_days: float | None = None
    max_leverage: float = math.inf
    name: str = "health_factor_target"

    def __post_init__(self) -> None:
        finite(self.target_hf, "target_hf")
        if self.target_hf < 1.0:
            raise InputError(f"target_hf must be >= 1 (HF < 1 is liquidatable), was {self.target_hf!r}")
        if not isinstance(self.health, LeverageHealth):
            raise InputError(
                "health must describe the position's HF by leverage (max_leverage, health_factor, "
                f"liquidation_distance), was {type(self.health).__name__}"
            )
        if (self.max_prob is None) != (self.horizon_days is None):
            raise InputError(f"max_prob and horizon_days go together, were {self.max_prob!r} and {self.horizon_days!r}")
        if self.max_prob is not None and self.horizon_days is not None:
            finite(self.max_prob, "max_prob")
            if not 0.0 < self.max_prob < 1.0:
                raise InputError(f"max_prob must be in (0, 1), was {self.max_prob!r}")
            positive(self.horizon_days, "horizon_days")
            if self.horizon_days > MAX_HORIZON_DAYS:
                raise InputError(f"horizon_days must be <= {MAX_HORIZON_DAYS:g}, was {self.horizon_days!r}")
        if math.isnan(number(self.max_leverage, "max_leverage")) or self.max_leverage < 1.0:  # inf: no cap
            raise InputError(f"max_leverage must be >= 1, was {self.max_leverage!r}")

    @property
    def cap(self) -> float:
        """``min(max_leverage, health.max_leverage)``, at least 1."""
        return max(1.0, min(self.max_leverage, float(self.health.max_leverage)))

    @property
    def horizon_hours(self) -> int:
        """The horizon in whole hours, as the forecaster reads it (0 without a budget)."""
        return 0 if self.horizon_days is None else int(horizon_hours(self.horizon_days)[0])

    def _cap_binding(self) -> str:
        return "max_leverage" if self.max_leverage < float(self.health.max_leverage) else "protocol_ltv"

    def target_leverage(self) -> tuple[float, str]:
        """The largest leverage with ``HF >= target_hf`` within the cap, and what binds it."""
        cap = self.cap
        if self.health.health_factor(cap) >= self.target_hf:
            return cap, self._cap_binding()
        return largest_feasible(lambda x: self.health.health_factor(x) >= self.target_hf, 1.0, cap), "target_hf"

    def prob(self, forecaster: ProbabilityForecaster, leverage: float) -> float:
        """``P(HF < 1 within the horizon)`` at ``leverage``: 0 without debt, 1 at HF <= 1."""
        d = float(self.health.liquidation_distance(leverage))
        if math.isinf(d):
            return 0.0
        if d <= 0.0:
            return 1.0
        hours = np.array([self.horizon_hours], dtype=np.int64)
        p = forecaster.prob(np.array([1.0]), np.array([d]), hours)
        return min(1.0, max(0.0, float(np.asarray(p, dtype=np.float64)[0])))

    def decide(self, state: SizingState) -> SizingDecision:
        """The largest leverage meeting the target now and the probability budget."""
        lev, binding = self.target_leverage()
        reasons = [f"HF >= {self.target_hf:g} now up to {lev:.4g}x ({binding})"]
        p = math.nan
        if self.max_prob is not None:
            forecaster = state.liquidation_forecaster
            if forecaster is None:
                return SizingDecision(
                    0.0,
                    "no_forecast",
                    ("no liquidation forecaster (fit one on the collateral / debt ratio's hourly bars)",),
                )
            budget = self.max_prob
            p = self.prob(forecaster, lev)
            if p > budget:
                lev = largest_feasible(lambda x: self.prob(forecaster, x) <= budget, 1.0, lev)
                binding = "hf_budget"
                p = self.prob(forecaster, lev)
            reasons.append(f"P(HF < 1 within {self.horizon_days:g}d) = {p:.3g} <= {budget:g} at {lev:.4g}x")
        hf = float(self.health.health_factor(lev))
        details = {
            "health_factor": hf,
            "liquidation_distance": float(self.health.liquidation_distance(lev)),
            "prob_hf_below_1": p,
            "collateral": lev * state.equity,
            "max_borrow": (lev - 1.0) * state.equity,
        }
        return SizingDecision(lev, binding, tuple(reasons), details=MappingProxyType(details))

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Target leverage per bar: the target's leverage, capped per bar by the budget's forecasts.

        Without a budget, the target's leverage at every bar; with one, 0 where the bar has no
        forecast (no ``inputs.liquidation_forecasts``, or no volatility yet).
        """
        n = inputs.returns.shape[0]
        lev, _ = self.target_leverage()
        if self.max_prob is None:
            return np.full(n, lev)
        forecasts = inputs.liquidation_forecasts
        if forecasts is None:
            return np.zeros(n)
        need = np.asarray(forecasts.required_distances(1, self.max_prob, self.horizon_hours), dtype=np.float64)
        if isinstance(self.health, LendingTerms):
            out = np.minimum(self.health.leverage_for_distance(need), lev)
        else:
            out = np.where(np.isposinf(need), 1.0, np.nan)  # no distance is far enough: no debt
            health = self.health
            for value in np.unique(need[np.isfinite(need)]):
                d = float(value)

                def far_enough(x: float, d: float = d) -> bool:
                    return health.liquidation_distance(x) >= d

                out[need == value] = largest_feasible(far_enough, 1.0, lev)
        result: Float64Array1D = np.where(np.isfinite(out), out, 0.0)
        return result
