"""The policies of a backtest: path-independent target leverage computed before the run, and
the path-dependent ones (drawdown control, CPPI) the kernel evaluates on the run's own equity
(private to the backtest package)."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.risk.forecast import ForecastPath, HourlyBars, forecast_path
from levguard.core.sizing.base import Composite, MarketContext, Policy, SeriesInputs
from levguard.core.sizing.policies import CPPI, DrawdownControl
from levguard.core.sizing.venue import LiquidationBudget
from levguard.core.validate import number
from levguard.errors import InputError
from levguard.kernels.backtest_records import Market
from levguard.kernels.sizing import ewma_vol_path_nb

FloatArray = npt.NDArray[np.float64]


def _with_context(policy: Any, ctx: MarketContext) -> Any:
    # Venue-aware policies (TierCap, LiquidationBudget) read their context from a ``context``
    # attribute in the vectorized path; give those without one the run's venue, symbol, tiers and
    # fees, also inside composites and regime switches.  The caller's policy is not modified.
    if isinstance(policy, Composite):
        return Composite(*(_with_context(p, ctx) for p in policy.policies), name=policy.name)
    changes: dict[str, Any] = {}
    if hasattr(policy, "context") and getattr(policy, "context", None) is None:
        changes["context"] = ctx
    members = getattr(policy, "policies", None)
    if isinstance(members, Mapping):
        changes["policies"] = {k: _with_context(v, ctx) for k, v in members.items()}
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
) -> FloatArray:
    """Target leverage per bar of the path-independent part of ``policy`` (inf: no limit)."""
    n = close.shape[0]
    if policy is None:
        return np.full(n, np.inf)
    if isinstance(policy, Policy):
        returns = np.concatenate(([0.0], np.diff(np.log(close))))
        # Every policy gets the same no-look-ahead volatility forecast: RiskMetrics EWMA
        # (lambda 0.94) of returns up to t, annualised, after a 30-bar warm-up (NaN before).
        vol = np.empty(n)
        ewma_vol_path_nb(returns, 0.94, 30, ppy, vol)
        inputs = SeriesInputs(
            returns=returns,
            periods_per_year=ppy,
            price=close,
            vol_forecast=vol,
            equity=np.full(n, equity0),
            liquidation_forecasts=forecasts,
        )
        chosen: Any = _with_context(policy, ctx) if ctx is not None else policy
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
