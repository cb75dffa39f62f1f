"""The policies of a backtest: path-independent target leverage computed before the run, and
the path-dependent ones (drawdown control, CPPI) the kernel evaluates on the run's own equity
(private to the backtest package)."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.risk.forecast import ForecastPath, HourlyBars, forecast_path
from levguard.core.sizing.base import (
    Composite,
    FixedLeverage,
    MarketContext,
    Policy,
    SeriesInputs,
    SizingDecision,
    SizingState,
)
from levguard.core.sizing.health import HealthFactorTarget
from levguard.core.sizing.policies import CPPI, DrawdownControl, GapCap, Kelly, VolatilityTarget
from levguard.core.sizing.portfolio import PortfolioCap, RiskBudget
from levguard.core.sizing.venue import LiquidationBudget, TierCap
from levguard.core.symbols import contract_key
from levguard.core.validate import number
from levguard.errors import InputError
from levguard.kernels.backtest_records import Market
from levguard.kernels.sizing import ewma_vol_path_nb

FloatArray = npt.NDArray[np.float64]

# The policies whose target does not depend on the side held (side_dependent).
_SIDE_FREE: tuple[type, ...] = (
    FixedLeverage,
    VolatilityTarget,
    DrawdownControl,
    CPPI,
    TierCap,
    PortfolioCap,
    RiskBudget,
    HealthFactorTarget,
)

# The run's shared volatility forecast is the estimate of a VolatilityTarget's defaults:
# RiskMetrics EWMA, lambda 0.94, forecasts after a 30-bar warm-up (derived, not copied).
_VT_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(VolatilityTarget)}
SHARED_VOL_LAM: float = float(_VT_DEFAULTS["lam"])
SHARED_VOL_WARMUP: int = int(_VT_DEFAULTS["lookback"])
_SHARED_ESTIMATOR = (str(_VT_DEFAULTS["estimator"]), SHARED_VOL_WARMUP, SHARED_VOL_LAM)


@dataclasses.dataclass(frozen=True)
class _OwnVolEstimate:
    # A policy that estimates its volatility itself with its own settings: the run's shared
    # forecast is withheld from it (leverage_path and decide see vol_forecast None).
    policy: Any

    @property
    def name(self) -> str:
        return str(self.policy.name)

    @property
    def cap(self) -> float:
        return float(self.policy.cap)

    def decide(self, state: SizingState) -> SizingDecision:
        decision: SizingDecision = self.policy.decide(dataclasses.replace(state, vol_forecast=None))
        return decision

    def leverage_path(self, inputs: SeriesInputs) -> FloatArray:
        return np.asarray(self.policy.leverage_path(dataclasses.replace(inputs, vol_forecast=None)), dtype=float)


def _estimator(policy: Any) -> tuple[str, int, float] | None:
    # The volatility estimator settings of a policy that has its own (None for the others).
    if isinstance(policy, VolatilityTarget):
        return (policy.estimator, policy.lookback, policy.lam)
    if isinstance(policy, Kelly):
        return (policy.sigma_estimator, policy.lookback, policy.lam)
    return None


def _own_estimators(policy: Any) -> Any:
    """``policy`` with every VolatilityTarget and Kelly whose estimator settings are not the
    shared forecast's (``estimator``/``sigma_estimator``, ``lookback``, ``lam``) estimating its
    own volatility, also inside composites and regime switches (the caller's policy is not
    modified).  The defaults are the shared forecast, so they give the same path either way."""
    settings = _estimator(policy)
    if settings is not None:
        return policy if settings == _SHARED_ESTIMATOR else _OwnVolEstimate(policy)
    if isinstance(policy, Composite):
        members = tuple(_own_estimators(p) for p in policy.policies)
        if all(m is p for m, p in zip(members, policy.policies, strict=True)):
            return policy
        return Composite(*members, name=policy.name)
    members_map = getattr(policy, "policies", None)
    if isinstance(members_map, Mapping):
        changed = {k: _own_estimators(v) for k, v in members_map.items()}
        if all(changed[k] is v for k, v in members_map.items()):
            return policy
        clone = copy.copy(policy)
        object.__setattr__(clone, "policies", changed)
        return clone
    return policy


def _with_context(policy: Any, ctx: MarketContext, only: type | None = None) -> Any:
    # Venue-aware policies (TierCap, LiquidationBudget) read their context from a ``context``
    # attribute in the vectorized path; give those without one the run's venue, symbol, tiers and
    # fees, also inside composites and regime switches.  The caller's policy is not modified.
    # ``only``: give it to policies of that type alone (a spot instrument's symbol and venue to a
    # PortfolioCap, whose per-asset and per-venue limits need them; the tier policies get none).
    if isinstance(policy, Composite):
        return Composite(*(_with_context(p, ctx, only) for p in policy.policies), name=policy.name)
    changes: dict[str, Any] = {}
    unset = hasattr(policy, "context") and getattr(policy, "context", None) is None
    if unset and (only is None or isinstance(policy, only)):
        changes["context"] = ctx
    members = getattr(policy, "policies", None)
    if isinstance(members, Mapping):
        changes["policies"] = {k: _with_context(v, ctx, only) for k, v in members.items()}
    if not changes:
        return policy
    clone = copy.copy(policy)
    for key, value in changes.items():
        object.__setattr__(clone, key, value)
    return clone


def _split_policy(policy: Any) -> tuple[Any, DrawdownControl | None, CPPI | None]:
    """Separate the path-dependent policies (drawdown control, CPPI) the kernel evaluates on the
    run's own equity from the rest (evaluated as a vectorized path before the run)."""
    if isinstance(policy, DrawdownControl):
        return None, policy, None
    if isinstance(policy, CPPI):
        return None, None, policy
    if isinstance(policy, Composite):
        rest: list[Any] = []
        dd: DrawdownControl | None = None
        cppi: CPPI | None = None
        for member in policy.policies:
            if isinstance(member, DrawdownControl):
                if dd is not None:
                    raise InputError("policy: a Composite may hold at most one DrawdownControl")
                dd = member
            elif isinstance(member, CPPI):
                if cppi is not None:
                    raise InputError("policy: a Composite may hold at most one CPPI")
                cppi = member
            else:
                _no_path_dependent(member)
                rest.append(member)
        if not rest:
            return None, dd, cppi
        return (rest[0] if len(rest) == 1 else Composite(*rest, name=policy.name)), dd, cppi
    _no_path_dependent(policy)
    return policy, None, None


def _no_path_dependent(policy: Any) -> None:
    if isinstance(policy, DrawdownControl | CPPI):
        raise InputError(
            f"policy: {type(policy).__name__} depends on the run's equity; use it alone or as a direct member "
            "of a Composite, not inside another policy"
        )
    members = getattr(policy, "policies", None)
    if isinstance(members, Mapping):
        for m in members.values():
            _no_path_dependent(m)
    elif isinstance(members, tuple):
        for m in members:
            _no_path_dependent(m)


def _uses_forecasts(policy: Any) -> bool:
    # Whether a liquidation budget in the policy (also inside composites and regime switches)
    # budgets against the liquidation forecaster.
    if isinstance(policy, LiquidationBudget):
        return policy.model in ("default", "forecast")
    members = getattr(policy, "policies", None)
    if isinstance(members, Mapping):
        members = tuple(members.values())
    return isinstance(members, tuple | list) and any(_uses_forecasts(m) for m in members)


def _forecast_path(market: Market, index: pd.DatetimeIndex, j: int) -> ForecastPath | None:
    # The liquidation forecaster at every bar's close from instrument j's mark bars, when they
    # are hourly or finer (None for coarser bars: the budget then uses its closed form).
    t = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
    if t.shape[0] < 2:
        return None
    bars = HourlyBars.from_finer(t, market.mark_high[:, j], market.mark_low[:, j], market.mark_close[:, j])
    if bars is None:
        return None
    step = int(np.min(np.diff(t)))
    return forecast_path(bars, t + step)


def _leverage(
    policy: Any,
    close: FloatArray,
    ppy: float,
    ctx: MarketContext | None,
    equity0: float,
    forecasts: ForecastPath | None = None,
    directions: FloatArray | None = None,
    spot: tuple[str, str] | None = None,
) -> FloatArray:
    """Target leverage per bar of the path-independent part of ``policy`` (inf: no limit);
    ``directions`` (per bar, the strategy's) side-adjust the policies that read a side (Kelly);
    ``spot``: a spot instrument's (symbol, venue), which a PortfolioCap reads (``ctx`` is None)."""
    n = close.shape[0]
    if policy is None:
        return np.full(n, np.inf)
    if isinstance(policy, Policy):
        _no_given_mu(policy)
        returns = np.concatenate(([0.0], np.diff(np.log(close))))
        # Every policy gets the same no-look-ahead volatility forecast: RiskMetrics EWMA
        # (lambda 0.94) of returns up to t, annualised, after a 30-bar warm-up (NaN before);
        # a VolatilityTarget or Kelly with other estimator settings estimates its own.
        vol = np.empty(n)
        ewma_vol_path_nb(returns, SHARED_VOL_LAM, SHARED_VOL_WARMUP, ppy, vol)
        inputs = SeriesInputs(
            returns=returns,
            periods_per_year=ppy,
            price=close,
            vol_forecast=vol,
            equity=np.full(n, equity0),
            liquidation_forecasts=forecasts,
            side=None if directions is None else np.ascontiguousarray(directions, dtype=np.float64),
        )
        if ctx is not None:
            policy = _with_context(policy, ctx)
        elif spot is not None:
            policy = _with_context(policy, MarketContext(venue=spot[1], symbol=spot[0]), PortfolioCap)
        chosen: Any = _own_estimators(policy)
        path = np.asarray(chosen.leverage_path(inputs))
        if path.shape != (n,):
            raise InputError(f"policy: leverage_path must return {n} values, had shape {path.shape}")
        return np.where(np.isfinite(path) & (path > 0.0), path, 0.0).astype(float)
    if isinstance(policy, bool) or not isinstance(policy, int | float | np.number):
        raise InputError(f"policy must be a Policy or a number (fixed leverage), was {policy!r}")
    lev = number(policy, "policy")
    if not math.isfinite(lev) or lev < 0.0:
        raise InputError(f"policy: fixed leverage must be finite and >= 0, was {policy!r}")
    return np.full(n, lev)


def _given_mu_kelly(policy: Any) -> Kelly | None:
    # The first Kelly (also inside composites, regime switches and own-estimator wrappers) that
    # reads a given mu_forecast (None: none does).
    if isinstance(policy, _OwnVolEstimate):
        return _given_mu_kelly(policy.policy)
    if isinstance(policy, Kelly):
        return policy if policy.mu_estimator == "given" else None
    members = getattr(policy, "policies", None)
    if isinstance(members, Mapping):
        members = tuple(members.values())
    if isinstance(members, tuple | list):
        return next((k for k in map(_given_mu_kelly, members) if k is not None), None)
    return None


def _no_given_mu(policy: Any) -> None:
    """Refuse a Kelly with ``mu_estimator="given"``: the backtester has no expected-return forecast
    to give it (its path read NaN and sized 0x at every bar), as ``levguard size`` refuses one."""
    kelly = _given_mu_kelly(policy)
    if kelly is not None:
        raise InputError(
            f"policy: Kelly {kelly.name!r} with mu_estimator 'given' (the default) needs a mu_forecast, which the "
            "backtester cannot pass (it would size 0x at every bar); use mu_estimator='ewma_mean' (or "
            "'rolling_mean') to estimate it from the bars"
        )


def side_dependent(policy: Any) -> bool:
    """Whether the policy's path depends on the strategy's directions (``SeriesInputs.side``).

    A sweep builds one path per policy and reuses it for every strategy unless this is True:
    for a Kelly estimating the asset's drift (a short earns it negated), a gap cap (an inverse
    contract's cap differs by side; the run's instrument decides inverse, so any gap cap), a
    liquidation budget (the side's liquidation price, forecaster tail and funding), a policy
    this module does not know (it may read ``inputs.side``), and a composite, regime switch,
    own-estimator wrapper or mapping of symbols to policies holding one.  False for a number
    and for the policies whose target is the same on either side (fixed leverage, volatility
    target, Kelly on a given mu, drawdown control, CPPI, tier cap, portfolio cap, risk budget,
    health-factor target).

    Notes
    -----
    A liquidation budget was missing here: a sweep over a long and a short strategy sized the
    short by the long's path (BTCUSDT 2022, 1 % in 7 days, closed form: 3.63x on bar 480 where
    the short's ``decide`` gives 2.76x; total return -24.1 % where ``run`` gives -10.9 %).
    """
    if policy is None or isinstance(policy, bool | int | float | np.number):
        return False
    if isinstance(policy, Mapping):  # a policy per symbol
        return any(side_dependent(p) for p in policy.values())
    if isinstance(policy, _OwnVolEstimate):
        return side_dependent(policy.policy)
    if isinstance(policy, Kelly):
        return policy.mu_estimator != "given"
    if isinstance(policy, GapCap | LiquidationBudget):
        return True
    members = getattr(policy, "policies", None)
    if isinstance(members, Mapping):
        members = tuple(members.values())
    if isinstance(members, tuple | list):
        return any(side_dependent(m) for m in members)
    return not isinstance(policy, _SIDE_FREE)


def _check_policy(policy: object) -> None:
    if isinstance(policy, bool) or not isinstance(policy, int | float | np.number | Policy):
        raise InputError(f"policy must be a Policy or a number (fixed leverage), was {policy!r}")


_PATH_FIELDS = ("dd_max", "dd_base", "dd_power", "cppi_floor", "cppi_mult", "cppi_ratchet", "cppi_max", "cppi_ref")


def _path_cfg(cfg: np.void, dd: DrawdownControl | None, cppi: CPPI | None, equity0: float) -> None:
    # The path-dependent policies' settings in a CONFIG_DTYPE record (all off first).
    for name in _PATH_FIELDS:
        cfg[name] = 0
    if dd is not None:
        cfg["dd_max"] = dd.max_drawdown
        cfg["dd_base"] = dd.base_leverage
        cfg["dd_power"] = dd.power if dd.schedule == "convex" else 1.0
    if cppi is not None:
        cfg["cppi_floor"] = cppi.floor
        cfg["cppi_mult"] = cppi.multiplier
        cfg["cppi_ratchet"] = bool(cppi.ratchet)
        cfg["cppi_max"] = cppi.max_leverage
        cfg["cppi_ref"] = cppi.initial_equity if cppi.initial_equity is not None else equity0


def _caps(policy: Any) -> list[PortfolioCap]:
    # The PortfolioCaps in a policy (also per symbol, inside composites and regime switches).
    if isinstance(policy, PortfolioCap):
        return [policy]
    members = getattr(policy, "policies", None)
    if isinstance(policy, Mapping):
        members = policy
    if isinstance(members, Mapping):
        members = tuple(members.values())
    return [c for m in members for c in _caps(m)] if isinstance(members, tuple | list) else []


def unmatched_assets(policy: Any, symbols: list[str]) -> str | None:
    """A note naming the PortfolioCap ``per_asset`` keys that match no instrument of the run (by
    ``contract_key``), or None: not an error, as one cap may serve several books, but a misspelt or
    other-venue key limits nothing here."""
    run_keys = {contract_key(s) for s in symbols}
    keys = [k for cap in _caps(policy) for k in (cap.per_asset or {}) if contract_key(k) not in run_keys]
    if not keys:
        return None
    return (
        f"PortfolioCap per_asset {sorted(set(keys))} match no instrument of the run ({', '.join(symbols)}): not applied"
    )
