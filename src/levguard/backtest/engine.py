"""Event-driven backtest of leveraged perpetuals in one account (the pandas-facing wrapper of
the kernel).

:func:`run` validates bar frames (one, or one per instrument), turns strategies' directions and
policies' target leverage into the arrays of :func:`levguard.kernels.backtest.simulate_nb`,
resolves each instrument's venue tier table and margin conventions (linear or inverse, MM basis,
fee in maintenance) and returns a :class:`BacktestResult`.  The event semantics (fills at the
next open or limit fills, funding at settlement bars, intrabar liquidation against the mark at
the venue liquidation price, isolated sleeves or a cross wallet, stop-loss/take-profit, bad
debt, cooldown, path-dependent policies on the run's own equity) are documented in
:func:`levguard.kernels.backtest.simulate_py` and ``docs/backtest.md``.  :func:`prepare` packs
the inputs once so that sweeps (:mod:`levguard.backtest.sweeps`) can vary them cheaply.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.backtest.metrics import compute_metrics
from levguard.core.margin import instrument_for, resolve_tiers
from levguard.core.positions import Position
from levguard.core.risk.forecast import ForecastPath, HourlyBars, forecast_path
from levguard.core.rules import get_venue
from levguard.core.rules.base import LiquidationRule, MMBasis
from levguard.core.sizing.base import Composite, MarketContext, Policy, SeriesInputs
from levguard.core.sizing.policies import CPPI, DrawdownControl, Rebalancer
from levguard.core.sizing.venue import LiquidationBudget
from levguard.data.loaders import load_ohlcv
from levguard.data.perp import load_perp_spec
from levguard.data.validate import validate_ohlcv
from levguard.errors import DataError, InputError
from levguard.kernels import backtest as kb
from levguard.kernels import liquidation as kl
from levguard.kernels.sizing import ewma_vol_path_nb

__all__ = ["DEFAULT_TAKER_FEE", "BacktestResult", "Prepared", "SignalStrategy", "prepare", "run", "simulate"]

DEFAULT_TAKER_FEE = 0.0005
_OHLCV = ("open", "high", "low", "close", "volume")
_MARK = ("mark_open", "mark_high", "mark_low", "mark_close")
_YEAR_NS = 365.0 * 86_400e9
_KINDS = {
    kb.KIND_REBALANCE: "rebalance",
    kb.KIND_STOP_LOSS: "stop_loss",
    kb.KIND_TAKE_PROFIT: "take_profit",
    kb.KIND_LIMIT: "limit",
    kb.KIND_RUIN: "ruin",
}

FloatArray = npt.NDArray[np.float64]


@runtime_checkable
class SignalStrategy(Protocol):
    """A strategy: directions in {-1, 0, +1} decided at each bar's close."""

    def signal(self, frame: pd.DataFrame) -> Any:
        """Return one direction per row of ``frame``."""
        ...


@dataclass(frozen=True)
class BacktestResult:
    """Outcome of :func:`run`.

    Attributes
    ----------
    equity : Series
        Equity at each bar's close (marked at the mark close), settlement currency.
    positions : DataFrame
        Per bar: ``leverage`` (gross notional over equity), ``cash`` (wallet balances),
        ``target_leverage``; with one instrument also its ``qty`` (signed; base units, or
        quote units for inverse contracts) and ``liquidation_price`` (NaN when flat).
    trades : DataFrame
        Fills: ``timestamp, symbol, qty`` (signed), ``price, fee, kind``
        (rebalance, stop_loss, take_profit, limit, ruin: the positions left at the ruin,
        closed at that bar's last close).
    liquidations : DataFrame
        ``timestamp, symbol, side, qty`` (absolute), ``price`` (the fill), ``loss`` (trading
        loss at the fill), ``fee`` (what the venue took from the remaining equity: the
        liquidation fee, or a takeover's clearance), ``bad_debt`` (paid by the insurance fund),
        ``margin`` (behind the position before), ``kept`` (margin left to the trader after;
        NaN for collateral sold to cover a debt), ``partial`` and ``taken_over`` (bool).
    funding : Series
        Funding paid per bar (positive = paid, negative = received).
    fees : Series
        Fees paid per bar (taker fees and liquidation fees).
    metrics : dict
        See :func:`levguard.backtest.metrics.compute_metrics` (computed on the bars up to the
        ruin when the run is ruined); plus ``bad_debt``, ``orders_clipped`` (initial-margin
        check), ``limit_orders_unfilled`` and ``ruined`` (1.0 or 0.0).
    params : dict
        The resolved settings (venue, symbols, fees, slippage, tiers source...).
    instruments : dict of DataFrame
        Per symbol and bar: ``qty, entry_price, leverage`` (on the account equity),
        ``target_leverage, liquidation_price, capital`` (the instrument's share of the equity
        or its isolated sleeve).
    ruined_at : Timestamp or None
        Open time (UTC, the index label) of the bar at whose close the account could no longer
        open the venue's smallest order; None when never ruined.  From then on nothing trades
        and ``equity`` stays at what was left.
    """

    equity: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame
    liquidations: pd.DataFrame
    funding: pd.Series
    fees: pd.Series
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    instruments: dict[str, pd.DataFrame] = field(default_factory=dict)
    ruined_at: pd.Timestamp | None = None


def _liquidation_rule(value: object, default: LiquidationRule) -> LiquidationRule:
    # The venue's own rule, another venue's (by rule-set name) or an explicit rule.
    if value is None:
        return default
    if isinstance(value, LiquidationRule):
        return value
    if isinstance(value, str):
        return get_venue(value).liquidation
    raise InputError(f"liquidation must be None, a venue name or a LiquidationRule, was {value!r}")


def _frame(data: object) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, was {type(data).__name__}")
    missing = [c for c in _OHLCV if c not in data.columns]
    if missing:
        raise InputError(f"data must have columns {', '.join(_OHLCV)}; missing {', '.join(missing)}")
    if not isinstance(data.index, pd.DatetimeIndex) or data.index.tz is None:
        raise InputError("data must be indexed by a UTC DatetimeIndex of bar open times")
    if len(data) < 2:
        raise InputError(f"data must hold at least 2 bars, was {len(data)}")
    _, report = validate_ohlcv(data.loc[:, list(_OHLCV)], source="data")
    report.raise_for_errors()
    marks = [c for c in _MARK if c in data.columns]
    if marks and len(marks) != len(_MARK):
        raise InputError(f"data must have all of {', '.join(_MARK)} or none; has {', '.join(marks)}")
    if marks:
        m = data.loc[:, list(_MARK)].to_numpy(dtype=float)
        if not np.all(np.isfinite(m)) or np.any(m <= 0.0):
            raise DataError("data: mark prices must be finite and > 0")
        if np.any(m[:, 1] < m[:, 2]):
            raise DataError("data: mark_high < mark_low")
    if "funding_rate" in data.columns:
        f = data["funding_rate"].to_numpy(dtype=float)
        if np.any(np.isinf(f)):
            raise DataError("data: funding_rate must be finite or NaN (no settlement)")
    return data


def _directions(strategy: object, data: pd.DataFrame) -> FloatArray:
    raw: object
    if isinstance(strategy, pd.Series):
        if not strategy.index.equals(data.index):
            raise InputError("strategy: a Series of directions must have the index of data")
        raw = strategy.to_numpy()
    elif isinstance(strategy, np.ndarray | list | tuple):
        raw = strategy
    elif callable(getattr(strategy, "signal", None)):
        raw = strategy.signal(data)  # type: ignore[attr-defined]
        if isinstance(raw, pd.Series):
            raw = raw.to_numpy()
    else:
        raise InputError(f"strategy must be directions (array or Series) or have signal(data), was {strategy!r}")
    try:
        d = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"strategy: directions must be numbers in {{-1, 0, 1}} ({exc})") from exc
    if d.ndim != 1 or d.shape[0] != len(data):
        raise InputError(f"strategy: directions must have one value per bar ({len(data)}), had shape {d.shape}")
    d = np.where(np.isnan(d), 0.0, d)
    bad = ~np.isin(d, (-1.0, 0.0, 1.0))
    if np.any(bad):
        raise InputError(f"strategy: directions must be in {{-1, 0, 1}}, was {d[bad][0]!r}")
    return d


def _periods_per_year(index: pd.DatetimeIndex) -> float:
    step = float(np.median(np.diff(index.as_unit("ns").asi8)))
    if not step > 0.0:
        raise InputError("data: the index must be strictly increasing")
    return _YEAR_NS / step


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


def _fees(fees: object, venue_default: float) -> tuple[float, float]:
    default = venue_default if venue_default > 0.0 else DEFAULT_TAKER_FEE
    if fees is None:
        taker, maker = default, default
    elif isinstance(fees, int | float) and not isinstance(fees, bool):
        taker, maker = float(fees), float(fees)
    elif isinstance(fees, Mapping):
        unknown = set(fees) - {"taker", "maker"}
        if unknown:
            raise InputError(f"fees: unknown keys {sorted(unknown)}; use taker, maker")
        taker = float(fees.get("taker", default))
        maker = float(fees.get("maker", taker))
    elif isinstance(fees, tuple) and len(fees) == 2:
        taker, maker = float(fees[0]), float(fees[1])
    else:
        raise InputError(f"fees must be None, a taker rate, (taker, maker) or a mapping, was {fees!r}")
    for name, v in (("taker", taker), ("maker", maker)):
        if not (math.isfinite(v) and 0.0 <= v < 0.1):
            raise InputError(f"fees: {name} must be a fraction in [0, 0.1), was {v!r}")
    return taker, maker


def _slippage(slippage: object) -> tuple[float, float]:
    if slippage is None:
        bps, impact = 0.0, 0.0
    elif isinstance(slippage, int | float) and not isinstance(slippage, bool):
        bps, impact = float(slippage), 0.0
    elif isinstance(slippage, Mapping):
        unknown = set(slippage) - {"bps", "impact"}
        if unknown:
            raise InputError(f"slippage: unknown keys {sorted(unknown)}; use bps, impact")
        bps, impact = float(slippage.get("bps", 0.0)), float(slippage.get("impact", 0.0))
    elif isinstance(slippage, tuple) and len(slippage) == 2:
        bps, impact = float(slippage[0]), float(slippage[1])
    else:
        raise InputError(f"slippage must be None, bps, (bps, impact_coef) or a mapping, was {slippage!r}")
    if not (math.isfinite(bps) and bps >= 0.0):
        raise InputError(f"slippage: bps must be >= 0, was {bps!r}")
    if not (math.isfinite(impact) and impact >= 0.0):
        raise InputError(f"slippage: impact coefficient must be >= 0, was {impact!r}")
    return bps, impact


def _rebalance(rebalance: object) -> tuple[int, Rebalancer]:
    if rebalance == "never":
        return kb.REBALANCE_NEVER, Rebalancer()
    if rebalance == "band":
        return kb.REBALANCE_BAND, Rebalancer()
    if isinstance(rebalance, Rebalancer):
        return kb.REBALANCE_BAND, rebalance
    if isinstance(rebalance, Mapping):
        unknown = set(rebalance) - {"band", "min_trade", "max_step"}
        if unknown:
            raise InputError(f"rebalance: unknown keys {sorted(unknown)}; use band, min_trade, max_step")
        return kb.REBALANCE_BAND, Rebalancer(**{k: float(v) for k, v in rebalance.items()})
    raise InputError(f"rebalance must be 'band', 'never', a Rebalancer or its parameters, was {rebalance!r}")


def _fraction(value: float | None, name: str, upper: float) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a fraction in [0, {upper:g}), was {value!r}")
    v = float(value)
    if not (math.isfinite(v) and 0.0 <= v < upper):
        raise InputError(f"{name} must be a fraction in [0, {upper:g}), was {value!r}")
    return v


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


def _forecast_path(mkt: FloatArray, index: pd.DatetimeIndex, j: int) -> ForecastPath | None:
    # The liquidation forecaster at every bar's close from instrument j's mark bars, when they
    # are hourly or finer (None for coarser bars: the budget then uses its closed form).
    t = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
    if t.shape[0] < 2:
        return None
    bars = HourlyBars.from_finer(
        t, mkt[kb.MKT_MARK_HIGH, :, j], mkt[kb.MKT_MARK_LOW, :, j], mkt[kb.MKT_MARK_CLOSE, :, j]
    )
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
    lev = float(policy)
    if not math.isfinite(lev) or lev < 0.0:
        raise InputError(f"policy: fixed leverage must be finite and >= 0, was {policy!r}")
    return np.full(n, lev)


def _check_policy(policy: object) -> None:
    if isinstance(policy, bool) or not isinstance(policy, int | float | np.number | Policy):
        raise InputError(f"policy must be a Policy or a number (fixed leverage), was {policy!r}")


def _path_cfg(cfg: FloatArray, dd: DrawdownControl | None, cppi: CPPI | None, equity0: float) -> None:
    if dd is not None:
        cfg[kb.CFG_DD_MAX] = dd.max_drawdown
        cfg[kb.CFG_DD_BASE] = dd.base_leverage
        cfg[kb.CFG_DD_POWER] = dd.power if dd.schedule == "convex" else 1.0
    if cppi is not None:
        cfg[kb.CFG_CPPI_FLOOR] = cppi.floor
        cfg[kb.CFG_CPPI_MULT] = cppi.multiplier
        cfg[kb.CFG_CPPI_RATCHET] = 1.0 if cppi.ratchet else 0.0
        cfg[kb.CFG_CPPI_MAX] = cppi.max_leverage
        cfg[kb.CFG_CPPI_REF] = cppi.initial_equity if cppi.initial_equity is not None else equity0


def _frames(data: object) -> dict[str, pd.DataFrame]:
    """One frame per symbol, all on the same index."""
    if isinstance(data, str | os.PathLike):
        data = load_ohlcv(os.fspath(data))
    elif isinstance(data, Mapping) and "source" in data and not isinstance(data["source"], pd.DataFrame):
        data = load_perp_spec(data)
    if isinstance(data, pd.DataFrame):
        return {"": _frame(data)}
    if not isinstance(data, Mapping) or not data:
        raise InputError(
            "data must be a DataFrame, a path to a bar file or a non-empty mapping symbol -> DataFrame, "
            f"was {type(data).__name__}"
        )
    frames: dict[str, pd.DataFrame] = {}
    first: pd.DatetimeIndex | None = None
    for sym, frame in data.items():
        if not isinstance(sym, str) or not sym:
            raise InputError(f"data: symbols must be non-empty strings, was {sym!r}")
        try:
            f = _frame(frame)
        except (InputError, DataError) as exc:
            raise type(exc)(f"data[{sym!r}]: {exc}") from exc
        if first is None:
            first = f.index  # type: ignore[assignment]
        elif not f.index.equals(first):
            raise InputError(
                f"data[{sym!r}]: every instrument must have the same bar index (align them first, e.g. "
                "with frame.reindex(common_index))"
            )
        frames[sym] = f
    return frames


def _per_symbol(value: object, symbols: list[str], name: str) -> list[Any]:
    # A mapping symbol -> value, or one value for every symbol.
    if isinstance(value, Mapping) and not (name == "fees" and set(value) <= {"taker", "maker"}):
        unknown = set(value) - set(symbols)
        if unknown:
            raise InputError(f"{name}: unknown symbols {sorted(unknown)}; data has {symbols}")
        missing = [s for s in symbols if s not in value]
        if missing:
            raise InputError(f"{name}: no entry for {missing}")
        return [value[s] for s in symbols]
    return [value] * len(symbols)


def _multi_directions(strategy: object, frames: dict[str, pd.DataFrame], symbols: list[str]) -> FloatArray:
    n = len(next(iter(frames.values())))
    out = np.zeros((n, len(symbols)))
    signals = getattr(strategy, "signals", None)
    if callable(signals):
        # A strategy over several instruments (e.g. funding carry): one column per symbol.
        raw = signals(frames)
        table = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(raw)
        missing = [s for s in symbols if s not in table.columns]
        if missing:
            raise InputError(f"strategy: signals() returned no directions for {missing}")
        for j, sym in enumerate(symbols):
            col = table[sym]
            out[:, j] = _directions(col.to_numpy() if isinstance(col, pd.Series) else col, frames[sym])
        return out
    per = _per_symbol(strategy, symbols, "strategy")
    for j, sym in enumerate(symbols):
        out[:, j] = _directions(per[j], frames[sym])
    return out


@dataclass
class Prepared:
    """The packed kernel inputs of one backtest set-up (shared by :func:`run` and the sweeps)."""

    mkt: FloatArray
    directions: FloatArray
    leverage: FloatArray
    inst: FloatArray
    tiers: FloatArray
    cfg: FloatArray
    index: pd.DatetimeIndex
    symbols: list[str]
    ppy: float
    settlement: str
    params: dict[str, Any]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    contexts: list[MarketContext | None] = field(default_factory=list)
    _forecasts: dict[int, ForecastPath | None] = field(default_factory=dict, repr=False, compare=False)

    def forecasts(self, j: int) -> ForecastPath | None:
        """The liquidation forecaster at each bar's close for instrument ``j`` (cached; None when
        the bars are coarser than an hour)."""
        if j not in self._forecasts:
            self._forecasts[j] = _forecast_path(self.mkt, self.index, j)
        return self._forecasts[j]

    def directions_of(self, strategy: object) -> FloatArray:
        """Directions (T, K) of another strategy on the same data."""
        return np.ascontiguousarray(_multi_directions(strategy, self.frames, self.symbols))

    def leverage_of(self, policy: object) -> tuple[FloatArray, DrawdownControl | None, CPPI | None]:
        """Target leverage (T, K) of another policy and its path-dependent parts."""
        policies = _per_symbol(policy, self.symbols, "policy")
        equity0 = float(self.cfg[kb.CFG_INITIAL_EQUITY])
        out = np.empty((self.index.shape[0], len(self.symbols)))
        parts: tuple[DrawdownControl | None, CPPI | None] | None = None
        for j, pol in enumerate(policies):
            _check_policy(pol)
            rest, dd, cppi = _split_policy(pol)
            if parts is None:
                parts = (dd, cppi)
            elif parts != (dd, cppi):
                raise InputError(
                    "policy: drawdown control and CPPI act on the whole account; give every instrument the same"
                )
            w = float(self.inst[j, kb.INST_WEIGHT])
            forecasts = self.forecasts(j) if _uses_forecasts(rest) else None
            out[:, j] = _leverage(
                rest, self.mkt[kb.MKT_CLOSE, :, j], self.ppy, self.contexts[j], equity0 * w, forecasts
            )
        assert parts is not None
        return np.ascontiguousarray(out), parts[0], parts[1]


def prepare(
    data: object,
    strategy: object,
    policy: object,
    *,
    venue: str = "binance-usdm",
    symbol: str | None = None,
    margin_mode: str = "isolated",
    fees: object = None,
    slippage: object = None,
    initial_equity: float = 10_000.0,
    rebalance: object = "band",
    stop_loss: float | None = None,
    take_profit: float | None = None,
    cooldown_bars: int = 0,
    liquidation_fee_rate: float | None = None,
    liquidation_first: bool = True,
    tiers: object = None,
    weights: Mapping[str, float] | None = None,
    spot: Collection[str] = (),
    execution: str = "market",
    limit_offset_bps: float = 0.0,
    check_initial_margin: bool = True,
    liquidation: LiquidationRule | str | None = None,
    min_notional: float | None = None,
) -> Prepared:
    """Validate the arguments of :func:`run` and pack them into kernel arrays."""
    frames = _frames(data)
    if margin_mode not in ("isolated", "cross"):
        raise InputError(f"margin_mode must be 'isolated' or 'cross', was {margin_mode!r}")
    if isinstance(initial_equity, bool) or not (
        isinstance(initial_equity, int | float) and math.isfinite(initial_equity) and initial_equity > 0.0
    ):
        raise InputError(f"initial_equity must be a finite number > 0, was {initial_equity!r}")
    equity0 = float(initial_equity)
    if isinstance(cooldown_bars, bool) or not isinstance(cooldown_bars, int | np.integer) or cooldown_bars < 0:
        raise InputError(f"cooldown_bars must be an integer >= 0, was {cooldown_bars!r}")
    if execution not in ("market", "limit"):
        raise InputError(f"execution must be 'market' or 'limit', was {execution!r}")
    offset = _fraction(limit_offset_bps, "limit_offset_bps", 10_000.0) * 1e-4
    model = get_venue(venue)
    if "" in frames:
        frame = frames.pop("")
        sym = symbol if symbol is not None else str(frame.attrs.get("symbol", "BTCUSDT"))
        if not isinstance(sym, str) or not sym:
            raise InputError(f"symbol must be a non-empty string, was {symbol!r}")
        frames = {sym: frame}
    elif symbol is not None:
        raise InputError("symbol: with a mapping of frames the symbols are its keys; do not pass symbol")
    symbols = list(frames)
    spot_set = set(spot) if not isinstance(spot, str) else {spot}
    unknown_spot = spot_set - set(symbols)
    if unknown_spot:
        raise InputError(f"spot: unknown symbols {sorted(unknown_spot)}; data has {symbols}")
    n_inst = len(symbols)
    if weights is None:
        w = np.full(n_inst, 1.0 / n_inst)
    else:
        if not isinstance(weights, Mapping):
            raise InputError(f"weights must be a mapping symbol -> weight, was {weights!r}")
        w = np.array([float(v) for v in _per_symbol(weights, symbols, "weights")])
        if not (np.all(np.isfinite(w)) and np.all(w > 0.0)) or w.sum() > 1.0 + 1e-9:
            raise InputError(f"weights must be > 0 and sum to at most 1, was {dict(weights)!r}")
    taker, maker = _fees(fees, model.default_taker_fee)
    slip_bps, impact = _slippage(slippage)
    mode, reb = _rebalance(rebalance)
    sl = _fraction(stop_loss, "stop_loss", 1.0)
    tp = _fraction(take_profit, "take_profit", math.inf)
    rule = _liquidation_rule(liquidation, model.liquidation)
    if min_notional is not None and (
        isinstance(min_notional, bool)
        or not isinstance(min_notional, int | float)
        or not (math.isfinite(min_notional) and min_notional >= 0.0)
    ):
        raise InputError(f"min_notional must be a finite number >= 0, was {min_notional!r}")
    if liquidation_fee_rate is None:
        liq_fee = rule.resolved_fee(taker)
    else:
        liq_fee = float(liquidation_fee_rate)
        if not (math.isfinite(liq_fee) and 0.0 <= liq_fee < 0.1):
            raise InputError(f"liquidation_fee_rate must be a fraction in [0, 0.1), was {liquidation_fee_rate!r}")
    index = next(iter(frames.values())).index
    assert isinstance(index, pd.DatetimeIndex)
    ppy = _periods_per_year(index)
    n = len(index)
    directions = _multi_directions(strategy, frames, symbols)
    for pol in _per_symbol(policy, symbols, "policy"):
        _check_policy(pol)
    tier_list = _per_symbol(tiers, symbols, "tiers")

    mkt = np.empty((kb.N_MKT, n, n_inst))
    inst = np.zeros((n_inst, kb.N_INST))
    tier_rows: list[FloatArray] = []
    cfg = np.zeros(kb.N_CFG)
    settlements: set[str] = set()
    contexts: list[MarketContext | None] = []
    tables: dict[str, str] = {}
    min_notionals: dict[str, float] = {}
    row = 0
    for j, sym in enumerate(symbols):
        frame = frames[sym]
        for f, col in ((kb.MKT_OPEN, "open"), (kb.MKT_HIGH, "high"), (kb.MKT_LOW, "low"), (kb.MKT_CLOSE, "close")):
            mkt[f, :, j] = frame[col].to_numpy(dtype=float)
            mark = f"mark_{col}"
            mkt[f + kb.MKT_MARK_OPEN, :, j] = (
                frame[mark].to_numpy(dtype=float) if mark in frame.columns else mkt[f, :, j]
            )
        mkt[kb.MKT_VOLUME, :, j] = frame["volume"].to_numpy(dtype=float)
        is_spot = sym in spot_set
        if is_spot:
            mkt[kb.MKT_FUNDING, :, j] = np.nan
            inst[j, kb.INST_KIND] = kb.SPOT
            table_arr = np.array([[np.inf, 0.0, 0.0, 1.0]])
            tables[sym] = "spot"
            side = 1
        else:
            mkt[kb.MKT_FUNDING, :, j] = (
                frame["funding_rate"].to_numpy(dtype=float) if "funding_rate" in frame.columns else np.nan
            )
            instrument = instrument_for(model, sym)
            settlements.add(instrument.settlement)
            inst[j, kb.INST_KIND] = kb.INVERSE if instrument.inverse else kb.LINEAR
            table = resolve_tiers(model, Position(instrument, 1.0, 1.0, 1.0, tiers=tier_list[j]))
            table_arr = np.column_stack([table.caps, table.mmrs, table.cums, [t.max_leverage for t in table.tiers]])
            tables[sym] = table.source
            nonzero = directions[:, j][directions[:, j] != 0]
            side = int(nonzero[0]) if nonzero.size else 1
        inst[j, kb.INST_WEIGHT] = w[j]
        inst[j, kb.INST_TAKER] = taker
        inst[j, kb.INST_MAKER] = maker
        inst[j, kb.INST_LIQ_FEE] = liq_fee
        inst[j, kb.INST_MIN_NOTIONAL] = float(min_notional) if min_notional is not None else model.min_notional(sym)
        inst[j, kb.INST_RULE : kb.INST_RULE + kl.N_RULE] = rule.vector(liq_fee)
        min_notionals[sym] = float(inst[j, kb.INST_MIN_NOTIONAL])
        inst[j, kb.INST_FEE_IN_MM] = taker if (model.fee_in_mm and not is_spot) else 0.0
        inst[j, kb.INST_MM_AT_ENTRY] = 1.0 if (model.mm_basis is MMBasis.ENTRY and not is_spot) else 0.0
        inst[j, kb.INST_TIER_START] = row
        row += table_arr.shape[0]
        inst[j, kb.INST_TIER_STOP] = row
        tier_rows.append(np.asarray(table_arr, dtype=float))
        ctx = None
        if not is_spot:
            ctx = MarketContext(
                venue=model.name,
                symbol=sym,
                side=side,
                tiers=resolve_tiers(model, Position(instrument_for(model, sym), 1.0, 1.0, 1.0, tiers=tier_list[j])),
                taker_fee_rate=taker,
            )
        contexts.append(ctx)
    if len(settlements) > 1:
        raise InputError(
            f"data: instruments settle in different currencies {sorted(settlements)}; one account per currency"
        )
    settlement = settlements.pop() if settlements else "USDT"
    cfg[kb.CFG_INITIAL_EQUITY] = equity0
    cfg[kb.CFG_MARGIN_MODE] = kb.ISOLATED if margin_mode == "isolated" else kb.CROSS
    cfg[kb.CFG_SLIP_BPS] = slip_bps
    cfg[kb.CFG_IMPACT] = impact
    cfg[kb.CFG_REBALANCE] = mode
    cfg[kb.CFG_BAND] = reb.band
    cfg[kb.CFG_MIN_TRADE] = reb.min_trade
    cfg[kb.CFG_MAX_STEP] = reb.max_step
    cfg[kb.CFG_STOP_LOSS] = sl
    cfg[kb.CFG_TAKE_PROFIT] = tp
    cfg[kb.CFG_LIQUIDATION_FIRST] = 1.0 if liquidation_first else 0.0
    cfg[kb.CFG_COOLDOWN] = int(cooldown_bars)
    cfg[kb.CFG_EXECUTION] = kb.LIMIT if execution == "limit" else kb.MARKET
    cfg[kb.CFG_LIMIT_OFFSET] = offset
    cfg[kb.CFG_CHECK_IM] = 1.0 if check_initial_margin else 0.0
    prep = Prepared(
        mkt=np.ascontiguousarray(mkt),
        directions=np.ascontiguousarray(directions),
        leverage=np.empty((0, 0)),
        inst=inst,
        tiers=np.ascontiguousarray(np.vstack(tier_rows)),
        cfg=cfg,
        index=index,
        symbols=symbols,
        ppy=ppy,
        settlement=settlement,
        params={},
        frames=frames,
        contexts=contexts,
    )
    prep.leverage, dd, cppi = prep.leverage_of(policy)
    _path_cfg(cfg, dd, cppi, equity0)
    prep.params = {
        "venue": model.name,
        "symbols": symbols,
        "symbol": symbols[0] if n_inst == 1 else None,
        "spot": sorted(spot_set),
        "weights": dict(zip(symbols, w.tolist(), strict=True)),
        "settlement": settlement,
        "margin_mode": margin_mode,
        "taker_fee": taker,
        "maker_fee": maker,
        "execution": execution,
        "limit_offset_bps": offset * 1e4,
        "check_initial_margin": bool(check_initial_margin),
        "slip_bps": slip_bps,
        "impact_coef": impact,
        "liquidation_fee_rate": liq_fee,
        "liquidation": rule.to_dict(),
        "min_notional": min_notionals[symbols[0]] if n_inst == 1 else min_notionals,
        "rebalance": "never" if mode == kb.REBALANCE_NEVER else reb,
        "stop_loss": sl,
        "take_profit": tp,
        "cooldown_bars": int(cooldown_bars),
        "liquidation_first": bool(liquidation_first),
        "tiers_source": tables[symbols[0]] if n_inst == 1 else tables,
        "periods_per_year": ppy,
        "path_policies": [type(p).__name__ for p in (dd, cppi) if p is not None],
    }
    return prep


def run(
    data: object,
    strategy: object,
    policy: object,
    *,
    venue: str = "binance-usdm",
    symbol: str | None = None,
    margin_mode: Literal["isolated", "cross"] = "isolated",
    fees: object = None,
    slippage: object = None,
    initial_equity: float = 10_000.0,
    rebalance: object = "band",
    stop_loss: float | None = None,
    take_profit: float | None = None,
    cooldown_bars: int = 0,
    liquidation_fee_rate: float | None = None,
    liquidation_first: bool = True,
    tiers: object = None,
    weights: Mapping[str, float] | None = None,
    spot: Collection[str] = (),
    execution: Literal["market", "limit"] = "market",
    limit_offset_bps: float = 0.0,
    check_initial_margin: bool = True,
    liquidation: LiquidationRule | str | None = None,
    min_notional: float | None = None,
) -> BacktestResult:
    """Backtest leveraged perpetuals (one or several in one account) over ``data``.

    Parameters
    ----------
    data : DataFrame, mapping symbol -> DataFrame, or path
        UTC ``DatetimeIndex`` of bar open times; columns ``open, high, low, close, volume`` and
        optionally ``mark_open, mark_high, mark_low, mark_close`` (else last prices are used as
        mark) and ``funding_rate`` (NaN where no settlement; settled at the bar's open time).
        Several instruments: a mapping of frames on the same index.  A path is read with
        :func:`levguard.data.loaders.load_ohlcv` (CSV or Parquet bars); a data spec
        (``{"source": "default" | "synth" | "file" | "dir", ...}``) with
        :func:`levguard.data.perp.load_perp_spec`.
    strategy : array, Series, object with ``signal(frame)``, mapping, or object with ``signals(frames)``
        Directions in {-1, 0, +1} decided at each bar's close (NaN is 0): one for every
        instrument, a mapping symbol -> strategy, or a multi-instrument strategy whose
        ``signals(frames)`` returns a DataFrame with one column per symbol (e.g.
        :class:`~levguard.backtest.strategies.FundingCarry`).
    policy : Policy, float or mapping symbol -> policy
        Target leverage per bar (``policy.leverage_path``) or a fixed leverage, on each
        instrument's capital.  :class:`~levguard.core.sizing.policies.DrawdownControl` and
        :class:`~levguard.core.sizing.policies.CPPI` (alone or as members of a
        :class:`~levguard.core.sizing.base.Composite`) are evaluated bar by bar on the run's own
        account equity and its peak.
    venue : str
        Venue rule set (:func:`levguard.core.rules.get_venue`): contract kind (the venue's: linear
        for USDⓈ-M style venues, inverse for coin-margined ones), tiers, maintenance basis (at
        entry for Bybit/BitMEX), taker fee in maintenance (OKX/Gate).
    symbol : str, optional
        With one frame: its symbol; default ``data.attrs["symbol"]`` or ``"BTCUSDT"``.
    margin_mode : {"isolated", "cross"}
        Isolated: each instrument is a sleeve of ``weights[symbol]`` of the capital whose wallet
        is its margin.  Cross: one wallet backs every position (identical with one instrument).
    fees : float, (taker, maker) or {"taker", "maker"}, optional
        Fee rates (fractions); default the venue's taker fee or 0.0005 for both.
    slippage : float, (bps, impact_coef) or {"bps", "impact"}, optional
        Slippage of market orders ``bps / 1e4 + impact_coef * sqrt(|qty| / volume[t-1])``.
    initial_equity : float
        Starting wallet balance (settlement currency: the coin for inverse contracts).
    rebalance : "band", "never", Rebalancer or {"band", "min_trade", "max_step"}
        ``"band"`` trades to target every bar; ``"never"`` trades only when the side changes.
    stop_loss, take_profit : float, optional
        Exit fractions from the entry price on last price (None or 0: off).
    cooldown_bars : int
        Bar opens skipped after a liquidation before re-entry.
    liquidation_fee_rate : float, optional
        Fee rate on the liquidated notional of book closes and partial liquidations; default
        the venue rule's (Hyperliquid 0, dYdX 0.5 %, Deribit 0.75 %), else the taker fee.  A
        takeover (Binance, Bybit, OKX, Gate, BitMEX) keeps nothing of the margin whatever the fee.
    liquidation_first : bool
        Liquidation before a stop/take-profit crossed in the same bar (conservative default).
    tiers : TierTable or mapping symbol -> TierTable, optional
        Override of the venue's tier tables.
    weights : mapping symbol -> float, optional
        Capital weight of each instrument (> 0, sum at most 1); default equal.
    spot : collection of str
        Symbols that are spot legs: fully paid (at most 1x of their capital, long only), no
        funding, never liquidated; in cross margin their value counts as collateral.
    execution : {"market", "limit"}
        Market orders at the next open (taker fee, slippage), or limit orders at the decision
        close (offset by ``limit_offset_bps`` in the passive direction) that fill at their limit
        with the maker fee when the next bar trades through them, else expire.
    limit_offset_bps : float
        Passive offset of limit orders from the decision close.
    check_initial_margin : bool
        Clip orders that would exceed the venue's maximum leverage for their tier (initial
        margin ``notional / max_leverage`` over the capital, the other positions' included in
        cross).  The number of clipped orders is ``metrics["orders_clipped"]``.
    liquidation : LiquidationRule or str, optional
        What a liquidation leaves the trader: default the venue's rule
        (:mod:`levguard.core.liquidation_outcome`, docs/margin.md); a venue name uses that
        venue's rule, a :class:`~levguard.core.rules.base.LiquidationRule` any other.
    min_notional : float, optional
        Smallest order notional (quote currency) for the ruin test; default the venue's
        (Binance USDⓈ-M 5 USDT, COIN-M one contract, Hyperliquid 10 USDC; 0 where unknown, when
        only an equity of 0 ruins).  The run stops when its equity at a close cannot open that
        order at the first tier's maximum leverage (``result.ruined_at``).

    Returns
    -------
    BacktestResult

    Raises
    ------
    InputError
        A bad argument (the message names it).
    DataError
        Invalid market data.
    """
    prep = prepare(
        data,
        strategy,
        policy,
        venue=venue,
        symbol=symbol,
        margin_mode=margin_mode,
        fees=fees,
        slippage=slippage,
        initial_equity=initial_equity,
        rebalance=rebalance,
        stop_loss=stop_loss,
        take_profit=take_profit,
        cooldown_bars=cooldown_bars,
        liquidation_fee_rate=liquidation_fee_rate,
        liquidation_first=liquidation_first,
        tiers=tiers,
        weights=weights,
        spot=spot,
        execution=execution,
        limit_offset_bps=limit_offset_bps,
        check_initial_margin=check_initial_margin,
        liquidation=liquidation,
        min_notional=min_notional,
    )
    return simulate(prep)


def simulate(prep: Prepared) -> BacktestResult:
    """Run the kernel on prepared inputs and build the result."""
    n, n_inst = prep.mkt.shape[1], prep.mkt.shape[2]
    out_acct = np.zeros((n, kb.N_ACCT))
    out_inst = np.zeros((n, n_inst, kb.N_POS))
    out_trades = np.zeros((kb.trade_capacity(n, n_inst), kb.N_TRADE_COLS))
    out_liqs = np.zeros((kb.liq_capacity(n, n_inst), kb.N_LIQ_COLS))
    counts = np.zeros(kb.N_COUNTS, dtype=np.int64)
    kb.simulate_nb(
        prep.mkt,
        prep.directions,
        prep.leverage,
        prep.inst,
        prep.tiers,
        prep.cfg,
        out_acct,
        out_inst,
        out_trades,
        out_liqs,
        counts,
    )
    return _result(
        prep, out_acct, out_inst, out_trades[: counts[kb.COUNT_TRADES]], out_liqs[: counts[kb.COUNT_LIQS]], counts
    )


def _result(
    prep: Prepared,
    acct: FloatArray,
    pos: FloatArray,
    trades: FloatArray,
    liqs: FloatArray,
    counts: npt.NDArray[np.int64],
) -> BacktestResult:
    index = prep.index
    symbols = prep.symbols
    equity0 = float(prep.cfg[kb.CFG_INITIAL_EQUITY])
    equity = pd.Series(acct[:, kb.ACCT_EQUITY], index=index, name="equity")
    instruments = {
        sym: pd.DataFrame(
            {
                "qty": pos[:, j, kb.POS_QTY],
                "entry_price": pos[:, j, kb.POS_ENTRY],
                "leverage": pos[:, j, kb.POS_LEVERAGE],
                "target_leverage": pos[:, j, kb.POS_TARGET],
                "liquidation_price": pos[:, j, kb.POS_LIQ_PRICE],
                "capital": pos[:, j, kb.POS_EQUITY],
            },
            index=index,
        )
        for j, sym in enumerate(symbols)
    }
    positions = pd.DataFrame(
        {"leverage": acct[:, kb.ACCT_LEVERAGE], "cash": acct[:, kb.ACCT_CASH]},
        index=index,
    )
    if len(symbols) == 1:
        one = instruments[symbols[0]]
        positions.insert(0, "qty", one["qty"])
        positions["liquidation_price"] = one["liquidation_price"]
        positions["target_leverage"] = one["target_leverage"]
    else:
        positions["target_leverage"] = sum(
            (prep.inst[j, kb.INST_WEIGHT] * instruments[s]["target_leverage"] for j, s in enumerate(symbols)),
            start=pd.Series(0.0, index=index),
        )
    t_bar = trades[:, kb.TRADE_BAR].astype(np.int64)
    t_sym = np.array(symbols, dtype=object)[trades[:, kb.TRADE_INST].astype(np.int64)]
    trades_df = pd.DataFrame(
        {
            "timestamp": index[t_bar],
            "symbol": t_sym,
            "qty": trades[:, kb.TRADE_QTY],
            "price": trades[:, kb.TRADE_PRICE],
            "fee": trades[:, kb.TRADE_FEE],
            "kind": [_KINDS[int(k)] for k in trades[:, kb.TRADE_KIND]],
        }
    )
    l_bar = liqs[:, kb.LIQ_BAR].astype(np.int64)
    l_sym = np.array(symbols, dtype=object)[liqs[:, kb.LIQ_INST].astype(np.int64)]
    liq_df = pd.DataFrame(
        {
            "timestamp": index[l_bar],
            "symbol": l_sym,
            "side": np.where(liqs[:, kb.LIQ_QTY] > 0.0, "long", "short"),
            "qty": np.abs(liqs[:, kb.LIQ_QTY]),
            "price": liqs[:, kb.LIQ_PRICE],
            "loss": liqs[:, kb.LIQ_LOSS],
            "fee": liqs[:, kb.LIQ_FEE],
            "bad_debt": liqs[:, kb.LIQ_BAD_DEBT],
            "margin": liqs[:, kb.LIQ_MARGIN],
            "kept": liqs[:, kb.LIQ_KEPT],
            "partial": liqs[:, kb.LIQ_PARTIAL] > 0.0,
            "taken_over": liqs[:, kb.LIQ_TAKEN] > 0.0,
        }
    )
    funding = pd.Series(acct[:, kb.ACCT_FUNDING], index=index, name="funding")
    fees = pd.Series(acct[:, kb.ACCT_FEES], index=index, name="fees")
    traded = float(kb.traded_notional(trades, int(trades.shape[0]), liqs, int(liqs.shape[0]), prep.inst))
    ruin = int(counts[kb.COUNT_RUIN])
    metrics = compute_metrics(
        acct[:, kb.ACCT_EQUITY],
        equity0,
        prep.ppy,
        leverage=acct[:, kb.ACCT_LEVERAGE],
        fees=acct[:, kb.ACCT_FEES],
        funding=acct[:, kb.ACCT_FUNDING],
        traded_notional=traded,
        n_liquidations=int(liqs.shape[0]),
        ruin_index=ruin if ruin >= 0 else None,
    )
    metrics["bad_debt"] = float(np.sum(liqs[:, kb.LIQ_BAD_DEBT]))
    metrics["orders_clipped"] = float(counts[kb.COUNT_CLIPPED])
    metrics["limit_orders_unfilled"] = float(counts[kb.COUNT_UNFILLED])
    metrics["ruined"] = 1.0 if ruin >= 0 else 0.0
    ruined_at = index[ruin] if ruin >= 0 else None
    return BacktestResult(
        equity, positions, trades_df, liq_df, funding, fees, metrics, prep.params, instruments, ruined_at
    )
