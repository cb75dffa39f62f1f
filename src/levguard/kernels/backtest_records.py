"""Records of the backtest kernel: enums, input bundles, per-config rows and event records.

vectorbt's layout: enums are NamedTuples of ints (``ContractKind.INVERSE``), inputs and per-bar
outputs are NamedTuples of arrays (:class:`Market`, :class:`Tiers`, :class:`AccountOut`,
:class:`PositionsOut`), per-instrument settings, account configurations and events are numpy
structured arrays (:data:`INST_DTYPE`, :data:`CONFIG_DTYPE`, :data:`TRADE_DTYPE`,
:data:`LIQ_DTYPE`) read and written by field name (``rec["field"]``, which numba compiles to a
load or a store and plain Python reads from the structured scalar view).  Integers stay
integers and flags are booleans.

The kernels are :mod:`levguard.kernels.backtest` (simulation and sweep),
:mod:`levguard.kernels.backtest_liquidation` (venue-exact liquidation events) and
:mod:`levguard.kernels.backtest_metrics` (performance statistics).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jitable
from levguard.typing import Float64Array1D, Float64Array2D


class _ContractKind(NamedTuple):
    LINEAR: int = 0
    INVERSE: int = 1  # quantity in quote units, PnL and margin in the base coin
    SPOT: int = 2  # fully paid, no funding, never liquidated


class _MarginMode(NamedTuple):
    ISOLATED: int = 0
    CROSS: int = 1


class _RebalanceMode(NamedTuple):
    BAND: int = 0  # trade to target through the rebalancer's band every bar
    NEVER: int = 1  # trade only when the side changes


class _Execution(NamedTuple):
    MARKET: int = 0
    LIMIT: int = 1


class _TradeKind(NamedTuple):
    REBALANCE: int = 0
    STOP_LOSS: int = 1
    TAKE_PROFIT: int = 2
    LIMIT: int = 3
    RUIN: int = 4  # the positions left when the account is ruined, closed at the bar's last close


class _LiqState(NamedTuple):
    # Liquidation state of an instrument within a bar.
    NONE: int = 0
    PARTIAL: int = 1  # partially liquidated: the next liquidation in the bar is whole
    WALKED: int = 2  # incremental liquidation walked the bar's adverse path: no more this bar
    RESTORED_AT_GAP: int = 3  # restored at the open gap


ContractKind = _ContractKind()
MarginMode = _MarginMode()
RebalanceMode = _RebalanceMode()
Execution = _Execution()
TradeKind = _TradeKind()
LiqState = _LiqState()

TRADE_KIND_NAMES: tuple[str, ...] = tuple(name.lower() for name in TradeKind._fields)
"""Names of :data:`TradeKind` values, by value (the ``kind`` column of a result's trades)."""

# Points of an incremental (restore) liquidation's walk along a bar's adverse path.
N_RESTORE_GRID = 33

DUST_FRACTION = 1e-6
"""An equity below this share of the initial equity is ruin, whatever the venue."""


class Market(NamedTuple):
    """Bars of K instruments, each field a (T, K) float64 array.

    Last-price OHLCV (volume in the instrument's quantity units: base for linear and spot,
    quote for inverse), mark-price OHLC (the last prices when there is no mark data) and the
    funding rate settled at the bar's open time (NaN: no settlement).
    """

    open: Float64Array2D
    high: Float64Array2D
    low: Float64Array2D
    close: Float64Array2D
    volume: Float64Array2D
    mark_open: Float64Array2D
    mark_high: Float64Array2D
    mark_low: Float64Array2D
    mark_close: Float64Array2D
    funding: Float64Array2D


class Tiers(NamedTuple):
    """Tier rows of every instrument, each field an (R,) float64 array.

    Cap (settlement-currency notional, inf for the last tier; a position size ``|qty|`` where the
    instrument's ``by_size``), maintenance rate, maintenance amount and maximum leverage;
    instrument ``k`` owns rows ``tier_start:tier_stop``.
    """

    cap: Float64Array1D
    mmr: Float64Array1D
    cum: Float64Array1D
    max_lev: Float64Array1D


INST_DTYPE = np.dtype(
    [
        ("kind", np.int64),  # ContractKind
        ("weight", np.float64),  # capital weight
        ("taker", np.float64),  # fee rates
        ("maker", np.float64),
        ("liq_fee", np.float64),  # liquidation fee rate
        ("fee_in_mm", np.float64),  # rate added to maintenance (OKX, Gate)
        ("fee_in_im", np.float64),  # rate added to the initial margin (Gate's close fee)
        ("close_fee", np.float64),  # close fee at the bankruptcy price, cross margin only (Bybit inverse)
        ("tier_start", np.int64),  # rows of the instrument's tiers
        ("tier_stop", np.int64),
        ("min_notional", np.float64),  # the venue's minimum order notional, quote (0: none known)
        ("min_qty", np.float64),  # the venue's minimum order quantity, base units (0: none known)
        ("rule", np.float64, (kl.N_RULE,)),  # the liquidation rule (kernels.liquidation.RULE_*)
        ("mm_at_entry", np.bool_),  # maintenance valued at entry (Bybit, BitMEX)
        ("by_size", np.bool_),  # tier caps are position sizes |qty| (OKX's contracts), not notional
        ("max_position", np.float64),  # the last tier's published cap, a notional (by_size a size); 0: none
        ("size_coef", np.float64),  # margin rate added per unit of |qty| to the IM and MM rates (Deribit)
        ("lev_cap_excl", np.bool_),  # a notional at a cap takes the next tier's leverage (no deduction: BitMEX)
        ("strict", np.bool_),  # liquidated strictly below the maintenance margin (dYdX, Hyperliquid)
    ],
    align=True,
)
"""Settings of one instrument (a row of the ``inst`` array, shape (K,))."""

CONFIG_DTYPE = np.dtype(
    [
        ("initial_equity", np.float64),
        ("margin_mode", np.int64),  # MarginMode
        ("slip_bps", np.float64),
        ("impact", np.float64),
        ("rebalance", np.int64),  # RebalanceMode
        ("band", np.float64),
        ("min_trade", np.float64),  # quote currency (USD): an inverse sleeve's coin equity at the mark
        ("max_step", np.float64),
        ("stop_loss", np.float64),  # 0: off
        ("take_profit", np.float64),  # 0: off
        ("cooldown", np.int64),  # bar opens skipped after a liquidation
        ("execution", np.int64),  # Execution
        ("limit_offset", np.float64),  # fraction
        ("dd_max", np.float64),  # drawdown control (0: off)
        ("dd_base", np.float64),
        ("dd_power", np.float64),
        ("cppi_floor", np.float64),  # CPPI (0: off)
        ("cppi_mult", np.float64),
        ("cppi_max", np.float64),
        ("cppi_ref", np.float64),
        ("cppi_ratchet", np.bool_),
        ("peak0", np.float64),  # the running peak a run starts from (0: its initial equity; walk-forward carries it)
        ("liquidation_first", np.bool_),
        ("check_im", np.bool_),  # clip orders by the initial-margin check
    ],
    align=True,
)
"""Account-wide settings of one run (a record; one row per configuration in a sweep)."""

TRADE_DTYPE = np.dtype(
    [
        ("bar", np.int64),
        ("inst", np.int64),
        ("qty", np.float64),  # signed
        ("price", np.float64),
        ("fee", np.float64),
        ("kind", np.int64),  # TradeKind
    ],
    align=True,
)
"""A fill: at most one order at the open and one intrabar exit per bar and instrument, and the
closes at ruin (:func:`trade_capacity` rows)."""

LIQ_DTYPE = np.dtype(
    [
        ("bar", np.int64),
        ("inst", np.int64),
        ("qty", np.float64),  # signed size liquidated (its sign is the side)
        ("price", np.float64),
        ("loss", np.float64),
        ("fee", np.float64),  # taken from the trader's equity (liquidation fee, or a takeover's clearance)
        ("bad_debt", np.float64),  # paid by the insurance fund
        ("margin", np.float64),  # behind the position before the event (NaN: collateral sold)
        ("kept", np.float64),  # left to the trader after it (NaN: collateral sold)
        ("partial", np.bool_),  # part of the position stays open
        ("taken", np.bool_),  # taken over at the bankruptcy price (takeover rule or backstop)
    ],
    align=True,
)
"""A liquidation event (:func:`liq_capacity` rows)."""

MEMO_DTYPE = np.dtype(
    [("qty", np.float64), ("entry", np.float64), ("wallet", np.float64), ("lp", np.float64), ("coll", np.float64)]
)
"""Last inputs and result of an instrument's liquidation-price solve (see ``_lp_memo``)."""


class AccountOut(NamedTuple):
    """Per bar at the close, each field a (T,) float64 array: equity (marked at the mark close),
    wallet balance, gross leverage (sum of notionals over equity), funding paid, fees paid
    (taker, maker, liquidation)."""

    equity: Float64Array1D
    cash: Float64Array1D
    leverage: Float64Array1D
    funding: Float64Array1D
    fees: Float64Array1D


class PositionsOut(NamedTuple):
    """Per bar and instrument, each field a (T, K) float64 array: signed quantity, entry price,
    leverage (notional over account equity), liquidation price (NaN when flat), the target
    leverage used at the bar's open and the capital allocated to the instrument (its weight of
    the account equity, or its isolated sleeve's equity)."""

    qty: Float64Array2D
    entry: Float64Array2D
    leverage: Float64Array2D
    liq_price: Float64Array2D
    target: Float64Array2D
    capital: Float64Array2D


class Counts(NamedTuple):
    """What :func:`~levguard.kernels.backtest.simulate_py` returns: rows written to the trade
    and liquidation records, orders clipped by the initial-margin check, limit orders left
    unfilled, the ruin bar (-1: never ruined) and orders the venue's minimum order refused
    (skipped, or a reversal cut to its close)."""

    trades: int
    liqs: int
    clipped: int
    unfilled: int
    ruin_bar: int
    below_min: int


class Book(NamedTuple):
    """The account's state between events, each field a (K,) float64 array: wallets (one per
    isolated sleeve, or ``cash[0]`` in cross margin), signed quantities, entry prices and the
    reference prices the other positions are valued at."""

    cash: Float64Array1D
    qty: Float64Array1D
    entry: Float64Array1D
    ref_px: Float64Array1D


@jitable
def trade_capacity(n_bars: int, n_inst: int) -> int:
    """Rows the trade records need: two per bar and instrument plus the closes at ruin."""
    return 2 * n_bars * n_inst + n_inst


@jitable
def liq_capacity(n_bars: int, n_inst: int) -> int:
    """Rows the liquidation records need: a partial and a full liquidation per bar and instrument."""
    return 2 * n_bars * n_inst + n_inst


def market_of(mkt: Float64Array2D) -> Market:
    """Return the :class:`Market` whose fields are views of a packed ``(10, T, K)`` array."""
    return Market(*(mkt[i] for i in range(len(Market._fields))))


def tiers_of(rows: Float64Array2D) -> Tiers:
    """Return the :class:`Tiers` of an ``(R, 4)`` array of rows ``(cap, mmr, cum, max_lev)``."""
    return Tiers(*(np.ascontiguousarray(rows[:, i], dtype=np.float64) for i in range(len(Tiers._fields))))


def account_out(n_bars: int) -> AccountOut:
    """Allocate an :class:`AccountOut` of ``n_bars`` zeros."""
    return AccountOut(*(np.zeros(n_bars) for _ in AccountOut._fields))


def positions_out(n_bars: int, n_inst: int) -> PositionsOut:
    """Allocate a :class:`PositionsOut` of ``(n_bars, n_inst)`` zeros."""
    return PositionsOut(*(np.zeros((n_bars, n_inst)) for _ in PositionsOut._fields))
