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

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.backtest._inputs import (
    DEFAULT_TAKER_FEE,
    _cooldown_bars,
    _fees,
    _fraction,
    _frames,
    _instrument_tables,
    _liquidation_fee_rate,
    _liquidation_rule,
    _multi_directions,
    _per_symbol,
    _periods_per_year,
    _rebalance,
    _slippage,
    _spot_symbols,
)
from levguard.backtest._policy_paths import (
    _check_policy,
    _forecast_path,
    _leverage,
    _path_cfg,
    _split_policy,
    _uses_forecasts,
    unmatched_assets,
)
from levguard.backtest.metrics import compute_metrics
from levguard.core.margin import instrument_for
from levguard.core.risk.forecast import ForecastPath
from levguard.core.rules import get_venue
from levguard.core.rules.base import LiquidationRule, MMBasis
from levguard.core.sizing.base import MarketContext
from levguard.core.sizing.policies import CPPI, DrawdownControl
from levguard.core.symbols import listed_pair, listing_symbol, other_instrument
from levguard.core.tiers import TierTable
from levguard.core.validate import flag, non_negative_number, positive_number, show
from levguard.data.frames import gap_note
from levguard.errors import InputError, NoTiersError
from levguard.kernels import backtest as kb
from levguard.kernels.backtest_orders import traded_notional_nb
from levguard.kernels.backtest_records import (
    CONFIG_DTYPE,
    INST_DTYPE,
    TRADE_KIND_NAMES,
    AccountOut,
    ContractKind,
    Counts,
    Execution,
    MarginMode,
    Market,
    PositionsOut,
    RebalanceMode,
    Tiers,
    account_out,
    market_of,
    positions_out,
    tiers_of,
)

__all__ = [
    "BACKTEST_TIERS_REMEDY",
    "DEFAULT_TAKER_FEE",
    "SHORT_RUN_DAYS",
    "BacktestResult",
    "Prepared",
    "SignalStrategy",
    "prepare",
    "run",
    "simulate",
    "span_days",
]

FloatArray = npt.NDArray[np.float64]

SHORT_RUN_DAYS: float = 30.0
"""A run shorter than this many days gets a note: its CAGR, volatility and ratios are annualised
from a few bars (:attr:`BacktestResult.notes`), and the CLI tables and the tearsheet show its CAGR
as not meaningful (:attr:`BacktestResult.short_run`; the metric keeps its value)."""


BACKTEST_TIERS_REMEDY = "pass tiers (a TierTable or tier rows, or a mapping symbol -> either)"
"""How :func:`run` (and the sweeps) take the tiers of a symbol without built-in ones
(:class:`~levguard.errors.NoTiersError`)."""


def span_days(n_bars: int, periods_per_year: float) -> float:
    """Return the days ``n_bars`` bars span: ``n_bars / periods_per_year x 365``, the length a
    run's CAGR annualises (a 24/7 market's year is 365 days)."""
    return n_bars / periods_per_year * 365.0


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
        NaN for collateral sold to cover a debt), ``partial`` and ``taken_over`` (bool).  A row
        with ``side`` "flat" and ``qty`` 0 settles a negative balance a trade left (no
        liquidation; ``price`` the trade's, ``margin`` the balance, not counted in ``n_liquidations``).
    funding : Series
        Funding paid per bar (positive = paid, negative = received).
    fees : Series
        Fees paid per bar (taker fees and liquidation fees).
    metrics : dict
        See :func:`levguard.backtest.metrics.compute_metrics` (computed on the bars up to the
        ruin when the run is ruined); plus ``bad_debt``, ``orders_clipped`` (initial-margin
        check), ``limit_orders_unfilled``, ``orders_below_minimum`` (orders that would open or
        add less than the venue's smallest order: skipped) and ``ruined`` (1.0 or 0.0).
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
    notes : tuple of str
        What the run could not see: where the bars skip bars (no funding, fills or liquidation
        checks inside such a gap; :func:`levguard.data.frames.gap_note`), and a run shorter than
        :data:`SHORT_RUN_DAYS`, whose annualised figures extrapolate a few bars.
    traded_notional : float
        Notional traded over the run, settlement currency: ``|qty| price`` (inverse:
        ``|qty| / price``) of every fill and liquidation
        (:func:`~levguard.kernels.backtest_orders.traded_notional`), the numerator of
        ``metrics["turnover"]`` (whose denominator is the mean equity up to the ruin).
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
    notes: tuple[str, ...] = ()
    traded_notional: float = 0.0

    @property
    def span_days(self) -> float:
        """Days the run's bars span (:func:`span_days`; NaN without ``params["periods_per_year"]``)."""
        ppy = self.params.get("periods_per_year")
        return span_days(len(self.equity), float(ppy)) if ppy else math.nan

    @property
    def short_run(self) -> bool:
        """True for a run shorter than :data:`SHORT_RUN_DAYS`: its CAGR raises a few bars' return
        to the power of a year (7 hourly bars up 1.5 % at 10x read 1.3e10 %), a figure that is
        not meaningful; ``metrics["cagr"]`` keeps it all the same."""
        return self.span_days < SHORT_RUN_DAYS


@dataclass
class Prepared:
    """The packed kernel inputs of one backtest set-up (shared by :func:`run` and the sweeps).

    ``mkt`` holds the bars as one (10, T, K) array whose planes are the fields of
    :attr:`market`; ``inst`` is a (K,) ``INST_DTYPE`` array, ``tiers`` the tier rows and ``cfg``
    a (1,) ``CONFIG_DTYPE`` array (:mod:`levguard.kernels.backtest_records`).
    """

    mkt: FloatArray
    directions: FloatArray
    leverage: FloatArray
    inst: npt.NDArray[np.void]
    tiers: Tiers
    cfg: npt.NDArray[np.void]
    index: pd.DatetimeIndex
    symbols: list[str]
    ppy: float
    settlement: str
    params: dict[str, Any]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    contexts: list[MarketContext | None] = field(default_factory=list)
    _forecasts: dict[int, ForecastPath | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def market(self) -> Market:
        """The bars as a :class:`~levguard.kernels.backtest_records.Market` (views of ``mkt``)."""
        return market_of(self.mkt)

    @property
    def initial_equity(self) -> float:
        """The account's initial equity."""
        return float(self.cfg[0]["initial_equity"])

    def forecasts(self, j: int) -> ForecastPath | None:
        """The liquidation forecaster at each bar's close for instrument ``j`` (cached; None when
        the bars are coarser than an hour)."""
        if j not in self._forecasts:
            self._forecasts[j] = _forecast_path(self.market, self.index, j)
        return self._forecasts[j]

    def directions_of(self, strategy: object) -> FloatArray:
        """Directions (T, K) of another strategy on the same data."""
        return np.ascontiguousarray(_multi_directions(strategy, self.frames, self.symbols))

    def leverage_of(
        self, policy: object, directions: FloatArray | None = None
    ) -> tuple[FloatArray, DrawdownControl | None, CPPI | None]:
        """Target leverage (T, K) of another policy and its path-dependent parts; ``directions``
        (T, K) are the strategy's (default: the run's), which a Kelly short reads."""
        dirs = self.directions if directions is None else directions
        policies = _per_symbol(policy, self.symbols, "policy")
        equity0 = self.initial_equity
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
            w = float(self.inst[j]["weight"])
            forecasts = self.forecasts(j) if _uses_forecasts(rest) else None
            spot = (self.symbols[j], str(self.params["venue"])) if self.contexts[j] is None else None
            out[:, j] = _leverage(
                rest, self.market.close[:, j], self.ppy, self.contexts[j], equity0 * w, forecasts, dirs[:, j], spot
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
    spot: Collection[str] | None = (),
    execution: str = "market",
    limit_offset_bps: float = 0.0,
    check_initial_margin: bool = True,
    liquidation: LiquidationRule | str | None = None,
    min_notional: float | None = None,
) -> Prepared:
    """Validate the arguments of :func:`run` and pack them into kernel arrays."""
    frames = _frames(data)
    if not isinstance(margin_mode, str) or margin_mode not in ("isolated", "cross"):
        raise InputError(f"margin_mode must be 'isolated' or 'cross', was {show(margin_mode)}")
    equity0 = positive_number(initial_equity, "initial_equity")
    _cooldown_bars(cooldown_bars)
    flag(liquidation_first, "liquidation_first")
    flag(check_initial_margin, "check_initial_margin")
    if not isinstance(execution, str) or execution not in ("market", "limit"):
        raise InputError(f"execution must be 'market' or 'limit', was {show(execution)}")
    offset = _fraction(limit_offset_bps, "limit_offset_bps", 10_000.0) * 1e-4
    model = get_venue(venue)
    if "" in frames:
        frame = frames.pop("")
        # A loaded file's symbol without its kind suffix (XRPUSDT-PERP_1h.csv: XRPUSDT).
        sym = symbol if symbol is not None else listing_symbol(str(frame.attrs.get("symbol", "BTCUSDT")))
        if not isinstance(sym, str) or not sym:
            raise InputError(f"symbol must be a non-empty string, was {symbol!r}")
        frames = {sym: frame}
    elif symbol is not None:
        raise InputError("symbol: with a mapping of frames the symbols are its keys; do not pass symbol")
    for sym, frame in frames.items():  # a frame's own symbol (a loaded file's) names its instrument
        named = listed_pair(str(frame.attrs.get("symbol") or ""))
        if named is not None and (why := other_instrument(sym, named)) is not None:
            raise InputError(
                f"symbol={sym!r} is not the data's {named} ({why}): its prices would run under "
                f"{sym}'s tiers and name; pass symbol={named!r} or that symbol's bars"
            )
    symbols = list(frames)
    spot_set = _spot_symbols(spot)
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
    if min_notional is not None:
        non_negative_number(min_notional, "min_notional")
    given = liquidation_fee_rate is not None
    liq_fee = _liquidation_fee_rate(liquidation_fee_rate) if given else rule.resolved_fee(taker)
    index = next(iter(frames.values())).index
    assert isinstance(index, pd.DatetimeIndex)
    ppy = _periods_per_year(index)
    n = len(index)
    directions = _multi_directions(strategy, frames, symbols)
    for pol in _per_symbol(policy, symbols, "policy"):
        _check_policy(pol)
    tier_list = [_tier_table(t, sym) for t, sym in zip(_per_symbol(tiers, symbols, "tiers"), symbols, strict=True)]

    mkt = np.empty((len(Market._fields), n, n_inst))
    market = market_of(mkt)
    inst = np.zeros(n_inst, dtype=INST_DTYPE)
    tier_rows: list[FloatArray] = []
    cfg = np.zeros(1, dtype=CONFIG_DTYPE)
    settlements: set[str] = set()
    contexts: list[MarketContext | None] = []
    tables: dict[str, str] = {}
    min_notionals: dict[str, float] = {}
    min_qtys: dict[str, float] = {}
    row = 0
    for j, sym in enumerate(symbols):
        frame = frames[sym]
        spec = inst[j]
        for col in ("open", "high", "low", "close"):
            last = getattr(market, col)
            last[:, j] = frame[col].to_numpy(dtype=float)
            mark = f"mark_{col}"
            getattr(market, mark)[:, j] = frame[mark].to_numpy(dtype=float) if mark in frame.columns else last[:, j]
        market.volume[:, j] = frame["volume"].to_numpy(dtype=float)
        is_spot = sym in spot_set
        if is_spot:
            market.funding[:, j] = np.nan
            spec["kind"] = ContractKind.SPOT
            table_arr = np.array([[np.inf, 0.0, 0.0, 1.0]])
            tables[sym] = "spot"
            side = 1
        else:
            market.funding[:, j] = (
                frame["funding_rate"].to_numpy(dtype=float) if "funding_rate" in frame.columns else np.nan
            )
            instrument = instrument_for(model, sym)
            settlements.add(instrument.settlement)
            spec["kind"] = ContractKind.INVERSE if instrument.inverse else ContractKind.LINEAR
            # The whole table; by size (OKX's contracts) the kernel reads the tier of |qty|.
            try:
                table, read, spec["size_coef"] = _instrument_tables(model, instrument, tier_list[j])
            except NoTiersError as exc:  # run() takes tiers, not an account spec's mmr
                raise exc.with_remedy(BACKTEST_TIERS_REMEDY) from None
            spec["by_size"] = table.basis == "quantity"
            spec["lev_cap_excl"] = not read.deduction  # TierTable.leverage_index
            spec["max_position"] = table.max_position if math.isfinite(table.max_position) else 0.0
            table_arr = np.column_stack([read.caps, read.mmrs, read.cums, [t.max_leverage for t in read.tiers]])
            tables[sym] = table.source
            # The context's side is a default, the first trade's: a policy path reads it only
            # without per-bar sides (SeriesInputs.side None), and leverage_of always gives the
            # strategy's directions, so every bar is sized for the side it holds there.
            nonzero = directions[:, j][directions[:, j] != 0]
            side = int(nonzero[0]) if nonzero.size else 1
        spec["weight"] = w[j]
        spec["taker"] = taker
        spec["maker"] = maker
        spec["liq_fee"] = liq_fee
        spec["min_notional"] = float(min_notional) if min_notional is not None else model.min_notional(sym)
        # The venue's minimum quantity (base units) bounds the smallest order too, unless the
        # caller set the minimum notional (then that alone).
        spec["min_qty"] = float(model.min_qty(sym)) if min_notional is None and not is_spot else 0.0
        spec["rule"] = rule.vector(liq_fee)
        min_notionals[sym] = float(spec["min_notional"])
        min_qtys[sym] = float(spec["min_qty"])
        spec["fee_in_mm"], spec["fee_in_im"] = (0.0, 0.0) if is_spot else model.margin_fees(taker)
        # Bybit inverse's close fee at the bankruptcy price; the kernel counts it in cross margin only.
        spec["close_fee"] = 0.0 if is_spot else model.cross_close_fee(taker)
        spec["mm_at_entry"] = model.mm_basis is MMBasis.ENTRY and not is_spot
        spec["strict"] = model.strict_trigger and not is_spot
        spec["tier_start"] = row
        row += table_arr.shape[0]
        spec["tier_stop"] = row
        tier_rows.append(np.asarray(table_arr, dtype=float))
        ctx = None
        if not is_spot:
            ctx = MarketContext(
                venue=model.name,
                symbol=sym,
                side=side,
                tiers=table,
                taker_fee_rate=taker,
            )
        contexts.append(ctx)
    if len(settlements) > 1:
        raise InputError(
            f"data: instruments settle in different currencies {sorted(settlements)}; one account per currency"
        )
    settlement = settlements.pop() if settlements else "USDT"
    c = cfg[0]
    c["initial_equity"] = equity0
    c["margin_mode"] = MarginMode.ISOLATED if margin_mode == "isolated" else MarginMode.CROSS
    c["slip_bps"] = slip_bps
    c["impact"] = impact
    c["rebalance"] = mode
    c["band"] = reb.band
    c["min_trade"] = reb.min_trade
    c["max_step"] = reb.max_step
    c["stop_loss"] = sl
    c["take_profit"] = tp
    c["liquidation_first"] = bool(liquidation_first)
    c["cooldown"] = int(cooldown_bars)
    c["execution"] = Execution.LIMIT if execution == "limit" else Execution.MARKET
    c["limit_offset"] = offset
    c["check_im"] = bool(check_initial_margin)
    prep = Prepared(
        mkt=np.ascontiguousarray(mkt),
        directions=np.ascontiguousarray(directions),
        leverage=np.empty((0, 0)),
        inst=inst,
        tiers=tiers_of(np.vstack(tier_rows)),
        cfg=cfg,
        index=index,
        symbols=symbols,
        ppy=ppy,
        settlement=settlement,
        params={"venue": model.name},  # the whole record below; the venue first, for a spot PortfolioCap
        frames=frames,
        contexts=contexts,
    )
    prep.leverage, dd, cppi = prep.leverage_of(policy)
    _path_cfg(cfg[0], dd, cppi, equity0)
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
        # A maker fee of its own ((taker, maker) or {"maker": ...}); else it is the taker's.
        "maker_fee_given": isinstance(fees, tuple) or (isinstance(fees, Mapping) and "maker" in fees),
        "execution": execution,
        "limit_offset_bps": offset * 1e4,
        "check_initial_margin": bool(check_initial_margin),
        "slip_bps": slip_bps,
        "impact_coef": impact,
        "liquidation_fee_rate": liq_fee,
        "liquidation_fee_given": liquidation_fee_rate is not None,
        "liquidation": rule.to_dict(),
        "min_notional": min_notionals[symbols[0]] if n_inst == 1 else min_notionals,
        "min_qty": min_qtys[symbols[0]] if n_inst == 1 else min_qtys,
        "rebalance": "never" if mode == RebalanceMode.NEVER else reb,
        "stop_loss": sl,
        "take_profit": tp,
        "cooldown_bars": int(cooldown_bars),
        "liquidation_first": bool(liquidation_first),
        "tiers_source": tables[symbols[0]] if n_inst == 1 else tables,
        "periods_per_year": ppy,
        "path_policies": [type(p).__name__ for p in (dd, cppi) if p is not None],
    }
    return prep


def _tier_table(value: object, symbol: str) -> TierTable | None:
    # A symbol's tiers: a TierTable, or rows as TierTable.from_rows reads them (a list of dicts,
    # as isolated_margin_arrays and a spec take); None for the venue's own.
    if isinstance(value, TierTable):
        return value
    if value is None:
        return None
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return TierTable.from_rows(value, where=f"tiers[{symbol}]")
    raise InputError(f"tiers[{symbol}] must be a TierTable or a list of tier rows, was {type(value).__name__}")


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
    spot: Collection[str] | None = (),
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
        Timezone-aware ``DatetimeIndex`` of bar open times (another zone than UTC is converted
        to UTC: the result's rows are UTC); columns ``open, high, low, close, volume`` and
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
        With one frame: its symbol; default ``data.attrs["symbol"]`` (a loaded file's, without its
        kind suffix: ``XRPUSDT-PERP`` is ``XRPUSDT``) or ``"BTCUSDT"``.  Given while
        ``data.attrs["symbol"]`` names another instrument (another asset, settlement coin or
        linear vs inverse, :func:`~levguard.core.symbols.other_instrument`): InputError naming
        both; ``ETH/USDT:USDT`` runs ``ETHUSDT-PERP`` bars, ``BTCUSDT`` does not.
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
        the venue rule's (Hyperliquid 0, dYdX 1.5 %, Deribit 0.75 % plus the taker fee), else the taker fee.  A
        takeover (Binance, Bybit, OKX, Gate, BitMEX) keeps nothing of the margin whatever the fee.
    liquidation_first : bool
        Liquidation before a stop/take-profit crossed in the same bar (conservative default).
    tiers : TierTable, list of tier rows, or mapping symbol -> either, optional
        Override of the venue's tier tables (rows as :meth:`TierTable.from_rows` reads them).
    weights : mapping symbol -> float, optional
        Capital weight of each instrument (> 0, sum at most 1); default equal.
    spot : collection of str, optional
        Symbols that are spot legs: fully paid (at most 1x of their capital, long only), no
        funding, never liquidated; in cross margin their value counts as collateral.  One symbol
        may be given as a str; None (as the default ``()``) means no spot legs.
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
    res, note = simulate(prep), unmatched_assets(policy, prep.symbols)
    return replace(res, notes=(*res.notes, note)) if note else res


def simulate(prep: Prepared) -> BacktestResult:
    """Run the kernel on prepared inputs and build the result."""
    n, n_inst = prep.mkt.shape[1], prep.mkt.shape[2]
    acct = account_out(n)
    pos = positions_out(n, n_inst)
    trades = np.zeros(kb.trade_capacity(n, n_inst), dtype=kb.TRADE_DTYPE)
    liqs = np.zeros(kb.liq_capacity(n, n_inst), dtype=kb.LIQ_DTYPE)
    counts = kb.simulate_nb(
        prep.market, prep.directions, prep.leverage, prep.inst, prep.tiers, prep.cfg[0], acct, pos, trades, liqs
    )
    return _result(prep, acct, pos, trades[: counts.trades], liqs[: counts.liqs], counts)


def _result(
    prep: Prepared,
    acct: AccountOut,
    pos: PositionsOut,
    trades: npt.NDArray[np.void],
    liqs: npt.NDArray[np.void],
    counts: Counts,
) -> BacktestResult:
    index = prep.index
    symbols = prep.symbols
    equity = pd.Series(acct.equity, index=index, name="equity")
    instruments = {
        sym: pd.DataFrame(
            {
                "qty": pos.qty[:, j],
                "entry_price": pos.entry[:, j],
                "leverage": pos.leverage[:, j],
                "target_leverage": pos.target[:, j],
                "liquidation_price": pos.liq_price[:, j],
                "capital": pos.capital[:, j],
            },
            index=index,
        )
        for j, sym in enumerate(symbols)
    }
    positions = pd.DataFrame({"leverage": acct.leverage, "cash": acct.cash}, index=index)
    if len(symbols) == 1:
        one = instruments[symbols[0]]
        positions.insert(0, "qty", one["qty"])
        positions["liquidation_price"] = one["liquidation_price"]
        positions["target_leverage"] = one["target_leverage"]
    else:
        positions["target_leverage"] = sum(
            (prep.inst[j]["weight"] * instruments[s]["target_leverage"] for j, s in enumerate(symbols)),
            start=pd.Series(0.0, index=index),
        )
    names = np.array(symbols, dtype=object)
    trades_df = pd.DataFrame(
        {
            "timestamp": index[trades["bar"]],
            "symbol": names[trades["inst"]],
            "qty": trades["qty"],
            "price": trades["price"],
            "fee": trades["fee"],
            "kind": [TRADE_KIND_NAMES[k] for k in trades["kind"]],
        }
    )
    liq_df = pd.DataFrame(
        {
            "timestamp": index[liqs["bar"]],
            "symbol": names[liqs["inst"]],
            "side": np.where(liqs["qty"] > 0.0, "long", np.where(liqs["qty"] < 0.0, "short", "flat")),
            "qty": np.abs(liqs["qty"]),
            "price": liqs["price"],
            "loss": liqs["loss"],
            "fee": liqs["fee"],
            "bad_debt": liqs["bad_debt"],
            "margin": liqs["margin"],
            "kept": liqs["kept"],
            "partial": liqs["partial"],
            "taken_over": liqs["taken"],
        }
    )
    funding = pd.Series(acct.funding, index=index, name="funding")
    fees = pd.Series(acct.fees, index=index, name="fees")
    traded = float(traded_notional_nb(trades, int(trades.shape[0]), liqs, int(liqs.shape[0]), prep.inst))
    ruin = int(counts.ruin_bar)
    metrics = compute_metrics(
        acct.equity,
        prep.initial_equity,
        prep.ppy,
        leverage=acct.leverage,
        fees=acct.fees,
        funding=acct.funding,
        traded_notional=traded,
        n_liquidations=int(np.count_nonzero(liqs["qty"])),
        ruin_index=ruin if ruin >= 0 else None,
    )
    metrics["bad_debt"] = float(np.sum(liqs["bad_debt"]))
    metrics["orders_clipped"] = float(counts.clipped)
    metrics["limit_orders_unfilled"] = float(counts.unfilled)
    metrics["orders_below_minimum"] = float(counts.below_min)
    metrics["ruined"] = 1.0 if ruin >= 0 else 0.0
    ruined_at = index[ruin] if ruin >= 0 else None
    gaps = gap_note(index.as_unit("ns").asi8, annualised=True)
    notes: tuple[str, ...] = (gaps,) if gaps else ()
    days = span_days(len(index), prep.ppy)
    if days < SHORT_RUN_DAYS:
        # CAGR and the annualised ratios of a few bars are arithmetic, not estimates (2 hourly
        # bars gave a CAGR of 2.9e18 %): say so once (a CLI audit).
        notes += (
            f"the run spans {len(index):,} bar(s), {days:.3g} day(s): its CAGR, volatility and ratios "
            f"extrapolate that to a year",
        )
    return BacktestResult(
        equity,
        positions,
        trades_df,
        liq_df,
        funding,
        fees,
        metrics,
        prep.params,
        instruments,
        ruined_at,
        notes=notes,
        traded_notional=traded,
    )
