"""Event-driven backtest of one leveraged perpetual (the pandas-facing wrapper of the kernel).

:func:`run` validates a bar frame, turns a strategy's directions and a policy's target
leverage into the arrays of :func:`levguard.kernels.backtest.simulate_nb`, resolves the venue's
tier table and margin conventions and returns a :class:`BacktestResult`.  The event semantics
(fills at the next open, funding at settlement bars, intrabar liquidation against the mark at
the venue liquidation price, stop-loss/take-profit, bad debt, cooldown) are documented in
:func:`levguard.kernels.backtest.simulate_py` and ``docs/backtest.md``.

One instrument per run for now; the kernel's event tables carry bar indices so that more
instruments sharing a wallet can be added later.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.backtest.metrics import compute_metrics
from levguard.core.margin import instrument_for, resolve_tiers
from levguard.core.positions import Position
from levguard.core.rules import get_venue
from levguard.core.rules.base import MMBasis
from levguard.core.sizing.base import Composite, MarketContext, Policy, SeriesInputs
from levguard.core.sizing.policies import Rebalancer
from levguard.core.tiers import TierTable
from levguard.data.validate import validate_ohlcv
from levguard.errors import DataError, InputError
from levguard.kernels import backtest as kb
from levguard.kernels.sizing import ewma_vol_path_nb

__all__ = ["DEFAULT_TAKER_FEE", "BacktestResult", "SignalStrategy", "run"]

DEFAULT_TAKER_FEE = 0.0005
_OHLCV = ("open", "high", "low", "close", "volume")
_MARK = ("mark_open", "mark_high", "mark_low", "mark_close")
_YEAR_NS = 365.0 * 86_400e9
_KINDS = {kb.KIND_REBALANCE: "rebalance", kb.KIND_STOP_LOSS: "stop_loss", kb.KIND_TAKE_PROFIT: "take_profit"}

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
        Per bar: ``qty`` (signed base units), ``leverage``, ``cash`` (wallet balance),
        ``liquidation_price`` (NaN when flat).
    trades : DataFrame
        Fills: ``timestamp, symbol, qty`` (signed), ``price, fee, kind``
        (rebalance, stop_loss, take_profit).
    liquidations : DataFrame
        ``timestamp, symbol, side, qty`` (absolute), ``price, loss, fee, bad_debt``.
    funding : Series
        Funding paid per bar (positive = paid, negative = received).
    fees : Series
        Fees paid per bar (taker fees and liquidation fees).
    metrics : dict
        See :func:`levguard.backtest.metrics.compute_metrics`.
    params : dict
        The resolved settings (venue, symbol, fees, slippage, tiers source...).
    """

    equity: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame
    liquidations: pd.DataFrame
    funding: pd.Series
    fees: pd.Series
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)


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


def _leverage(
    policy: object, close: FloatArray, ppy: float, ctx: MarketContext | None = None, equity0: float = 1.0
) -> FloatArray:
    n = close.shape[0]
    if isinstance(policy, bool) or not isinstance(policy, int | float | np.number | Policy):
        raise InputError(f"policy must be a Policy or a number (fixed leverage), was {policy!r}")
    if isinstance(policy, Policy):
        returns = np.concatenate(([0.0], np.diff(np.log(close))))
        # Every policy gets the same no-look-ahead volatility forecast: RiskMetrics EWMA
        # (lambda 0.94) of returns up to t, annualised, after a 30-bar warm-up (NaN before).
        vol = np.empty(n)
        ewma_vol_path_nb(returns, 0.94, 30, ppy, vol)
        # Tier-aware policies size against the initial equity in the vectorized path (the exact
        # equity at each decision needs the event-driven loop; docs/backtest.md).
        inputs = SeriesInputs(
            returns=returns, periods_per_year=ppy, price=close, vol_forecast=vol, equity=np.full(n, equity0)
        )
        chosen: Any = _with_context(policy, ctx) if ctx is not None else policy
        path = np.asarray(chosen.leverage_path(inputs))
        if path.shape != (n,):
            raise InputError(f"policy: leverage_path must return {n} values, had shape {path.shape}")
        return np.where(np.isfinite(path) & (path > 0.0), path, 0.0).astype(float)
    lev = float(policy)
    if not math.isfinite(lev) or lev < 0.0:
        raise InputError(f"policy: fixed leverage must be finite and >= 0, was {policy!r}")
    return np.full(n, lev)


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


def run(
    data: pd.DataFrame,
    strategy: object,
    policy: Policy | float,
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
    tiers: TierTable | None = None,
) -> BacktestResult:
    """Backtest one leveraged linear perpetual over ``data``.

    Parameters
    ----------
    data : DataFrame
        UTC ``DatetimeIndex`` of bar open times; columns ``open, high, low, close, volume`` and
        optionally ``mark_open, mark_high, mark_low, mark_close`` (else last prices are used as
        mark) and ``funding_rate`` (NaN where no settlement; settled at the bar's open time).
    strategy : array, Series or object with ``signal(data)``
        Directions in {-1, 0, +1} decided at each bar's close (NaN is 0).
    policy : Policy or float
        Target leverage per bar (``policy.leverage_path``) or a fixed leverage.
    venue : str
        Venue rule set (:func:`levguard.core.rules.get_venue`): tiers, maintenance basis
        (at entry for Bybit/BitMEX), taker fee in maintenance (OKX/Gate).
    symbol : str, optional
        Symbol for the tier table; default ``data.attrs["symbol"]`` or ``"BTCUSDT"``.
    margin_mode : {"isolated", "cross"}
        Identical with one instrument (the whole wallet backs the position).
    fees : float, (taker, maker) or {"taker", "maker"}, optional
        Fee rates (fractions); default the venue's taker fee or 0.0005.  All fills are taker.
    slippage : float, (bps, impact_coef) or {"bps", "impact"}, optional
        Slippage fraction ``bps / 1e4 + impact_coef * sqrt(|qty| / volume[t-1])``; default 0.
    initial_equity : float
        Starting wallet balance (settlement currency).
    rebalance : "band", "never", Rebalancer or {"band", "min_trade", "max_step"}
        ``"band"`` is a Rebalancer with no band (trade to target every bar); ``"never"`` trades
        only when the side changes.
    stop_loss, take_profit : float, optional
        Exit fractions from the entry price on last price (None or 0: off).
    cooldown_bars : int
        Bar opens skipped after a liquidation before re-entry.
    liquidation_fee_rate : float, optional
        Liquidation fee on the notional at the liquidation price; default the taker fee.
    liquidation_first : bool
        Liquidation before a stop/take-profit crossed in the same bar (conservative default).
    tiers : TierTable, optional
        Override of the venue's tier table (needed for venues without a built-in snapshot).

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
    frame = _frame(data)
    if margin_mode not in ("isolated", "cross"):
        raise InputError(f"margin_mode must be 'isolated' or 'cross', was {margin_mode!r}")
    if isinstance(initial_equity, bool) or not (
        isinstance(initial_equity, int | float) and math.isfinite(initial_equity) and initial_equity > 0.0
    ):
        raise InputError(f"initial_equity must be a finite number > 0, was {initial_equity!r}")
    if isinstance(cooldown_bars, bool) or not isinstance(cooldown_bars, int | np.integer) or cooldown_bars < 0:
        raise InputError(f"cooldown_bars must be an integer >= 0, was {cooldown_bars!r}")
    model = get_venue(venue)
    sym = symbol if symbol is not None else str(frame.attrs.get("symbol", "BTCUSDT"))
    if not isinstance(sym, str) or not sym:
        raise InputError(f"symbol must be a non-empty string, was {symbol!r}")
    instrument = instrument_for(model, sym)
    if instrument.kind.value != "linear":
        raise InputError(f"venue: only linear contracts are backtested for now, {venue} {sym} is {instrument.kind}")
    table = resolve_tiers(model, Position(instrument, 1.0, 1.0, 1.0, tiers=tiers))
    taker, maker = _fees(fees, model.default_taker_fee)
    slip_bps, impact = _slippage(slippage)
    mode, reb = _rebalance(rebalance)
    sl = _fraction(stop_loss, "stop_loss", 1.0)
    tp = _fraction(take_profit, "take_profit", math.inf)
    if liquidation_fee_rate is None:
        liq_fee = taker
    else:
        liq_fee = float(liquidation_fee_rate)
        if not (math.isfinite(liq_fee) and 0.0 <= liq_fee < 0.1):
            raise InputError(f"liquidation_fee_rate must be a fraction in [0, 0.1), was {liquidation_fee_rate!r}")
    directions = _directions(strategy, frame)
    index = frame.index
    assert isinstance(index, pd.DatetimeIndex)
    ppy = _periods_per_year(index)
    cols = {c: frame[c].to_numpy(dtype=float) for c in _OHLCV}
    marks = [frame[c].to_numpy(dtype=float) if c in frame.columns else cols[c[5:]] for c in _MARK]
    funding_rate = (
        frame["funding_rate"].to_numpy(dtype=float) if "funding_rate" in frame.columns else np.full(len(frame), np.nan)
    )
    nonzero = directions[directions != 0]
    ctx = MarketContext(
        venue=model.name, symbol=sym, side=int(nonzero[0]) if nonzero.size else 1, tiers=table, taker_fee_rate=taker
    )
    lev = _leverage(policy, cols["close"], ppy, ctx, float(initial_equity))

    n = len(frame)
    out_bars = np.zeros((n, kb.N_BAR_COLS))
    out_trades = np.zeros((2 * n, kb.N_TRADE_COLS))
    out_liqs = np.zeros((n, kb.N_LIQ_COLS))
    counts = np.zeros(2, dtype=np.int64)
    kb.simulate_nb(
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
        cols["volume"],
        marks[0],
        marks[1],
        marks[2],
        marks[3],
        funding_rate,
        directions,
        lev,
        float(initial_equity),
        taker,
        slip_bps,
        impact,
        kb.ISOLATED if margin_mode == "isolated" else kb.CROSS,
        np.ascontiguousarray(table.caps, dtype=float),
        np.ascontiguousarray(table.mmrs, dtype=float),
        np.ascontiguousarray(table.cums, dtype=float),
        model.mm_basis is MMBasis.ENTRY,
        taker if model.fee_in_mm else 0.0,
        liq_fee,
        mode,
        float(reb.band),
        float(reb.min_trade),
        float(reb.max_step),
        sl,
        tp,
        bool(liquidation_first),
        int(cooldown_bars),
        out_bars,
        out_trades,
        out_liqs,
        counts,
    )
    return _result(
        index,
        sym,
        out_bars,
        out_trades[: counts[0]],
        out_liqs[: counts[1]],
        float(initial_equity),
        ppy,
        {
            "venue": model.name,
            "symbol": sym,
            "margin_mode": margin_mode,
            "taker_fee": taker,
            "maker_fee": maker,
            "slip_bps": slip_bps,
            "impact_coef": impact,
            "liquidation_fee_rate": liq_fee,
            "rebalance": "never" if mode == kb.REBALANCE_NEVER else reb,
            "stop_loss": sl,
            "take_profit": tp,
            "cooldown_bars": int(cooldown_bars),
            "liquidation_first": bool(liquidation_first),
            "tiers_source": table.source,
            "periods_per_year": ppy,
        },
    )


def _result(
    index: pd.DatetimeIndex,
    sym: str,
    bars: FloatArray,
    trades: FloatArray,
    liqs: FloatArray,
    initial_equity: float,
    ppy: float,
    params: dict[str, Any],
) -> BacktestResult:
    equity = pd.Series(bars[:, kb.BAR_EQUITY], index=index, name="equity")
    positions = pd.DataFrame(
        {
            "qty": bars[:, kb.BAR_QTY],
            "leverage": bars[:, kb.BAR_LEVERAGE],
            "cash": bars[:, kb.BAR_CASH],
            "liquidation_price": bars[:, kb.BAR_LIQ_PRICE],
        },
        index=index,
    )
    t_bar = trades[:, kb.TRADE_BAR].astype(np.int64)
    trades_df = pd.DataFrame(
        {
            "timestamp": index[t_bar],
            "symbol": sym,
            "qty": trades[:, kb.TRADE_QTY],
            "price": trades[:, kb.TRADE_PRICE],
            "fee": trades[:, kb.TRADE_FEE],
            "kind": [_KINDS[int(k)] for k in trades[:, kb.TRADE_KIND]],
        }
    )
    l_bar = liqs[:, kb.LIQ_BAR].astype(np.int64)
    liq_df = pd.DataFrame(
        {
            "timestamp": index[l_bar],
            "symbol": sym,
            "side": np.where(liqs[:, kb.LIQ_QTY] > 0.0, "long", "short"),
            "qty": np.abs(liqs[:, kb.LIQ_QTY]),
            "price": liqs[:, kb.LIQ_PRICE],
            "loss": liqs[:, kb.LIQ_LOSS],
            "fee": liqs[:, kb.LIQ_FEE],
            "bad_debt": liqs[:, kb.LIQ_BAD_DEBT],
        }
    )
    funding = pd.Series(bars[:, kb.BAR_FUNDING], index=index, name="funding")
    fees = pd.Series(bars[:, kb.BAR_FEES], index=index, name="fees")
    traded = float(np.sum(np.abs(trades[:, kb.TRADE_QTY]) * trades[:, kb.TRADE_PRICE]))
    traded += float(np.sum(np.abs(liqs[:, kb.LIQ_QTY]) * liqs[:, kb.LIQ_PRICE]))
    metrics = compute_metrics(
        bars[:, kb.BAR_EQUITY],
        initial_equity,
        ppy,
        leverage=bars[:, kb.BAR_LEVERAGE],
        fees=bars[:, kb.BAR_FEES],
        funding=bars[:, kb.BAR_FUNDING],
        traded_notional=traded,
        n_liquidations=int(liqs.shape[0]),
    )
    return BacktestResult(equity, positions, trades_df, liq_df, funding, fees, metrics, params)
