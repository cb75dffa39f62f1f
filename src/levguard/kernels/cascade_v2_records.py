"""Records of the market cascade kernel (v2): K assets on V venues, cross-margin accounts.

vectorbt's style, as in :mod:`levguard.kernels.cascade_records`: enums are NamedTuples of ints,
per-venue and per-book parameters are numpy structured arrays (one named record per venue or per
``(venue, asset)`` book), array bundles are NamedTuples.  Integers stay integers.

Shapes: ``N`` accounts, ``K`` assets, ``V`` venues, ``T + 1`` steps, ``B = 2 V K`` side lists
(index ``b = (v K + a) 2 + s``, ``s = 0`` longs, ``1`` shorts), ``P`` positions (an account holds
at most one position per asset, on its own venue).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from levguard.kernels._jit import jitable
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D

Int64Array2D = npt.NDArray[np.int64]
Float64Array3D = npt.NDArray[np.float64]
Int64Array3D = npt.NDArray[np.int64]
RecordArray = npt.NDArray[np.void]
Record = np.void  # one record of a structured array (a venue's or a book's parameters)


# --------------------------------------------------------------------------- enums
class AdlRules(NamedTuple):
    """Each venue's auto-deleveraging ranking and fill price (:mod:`levguard.core.rules.adl`)."""

    BITMEX: int = 0  # PnL% x / / effective leverage on the position's bankruptcy value; fills at the bankruptcy price
    BINANCE: int = 1  # uPnL/|notional| x / / |notional|/(WB + uPnL); fills at the bankruptcy price
    BYBIT: int = 2  # uPnL/|entry value| x / / |mark value|/equity; fills at the bankruptcy price
    HYPERLIQUID: int = 3  # (mark/entry) x |notional|/account value; fills at the previous mark


AdlRule = AdlRules()

ADL_RULE_NAMES: tuple[str, ...] = ("bitmex", "binance-usdm", "bybit-linear", "hyperliquid")
"""The :mod:`levguard.core.rules.adl` venue name of each :data:`AdlRule` code (by code)."""


# --------------------------------------------------------------------------- parameters
VENUE_DTYPE = np.dtype(
    [
        ("fund", np.float64),  # initial insurance fund (quote)
        ("liq_fee", np.float64),  # liquidation fee rate on the closed notional
        ("partial_mode", np.int64),  # levguard.kernels.cascade_records.PartialMode
        ("partial", np.float64),  # FRACTION: the fraction closed per round
        ("partial_min", np.float64),  # account notional below which it is closed whole
        ("latency", np.int64),  # steps between a trigger and its liquidation order
        ("adl", np.bool_),  # auto-deleveraging on
        ("max_rounds", np.int64),  # liquidation rounds per step at most
        ("mark_lag", np.int64),  # the mark reads the traded price this many steps ago
        ("outcome", np.int64),  # levguard.kernels.liquidation.TAKEOVER or BOOK
        ("backstop", np.float64),  # BOOK: taken over below backstop x maintenance (0: never)
        ("adl_rule", np.int64),  # AdlRule code
        ("dynamic", np.bool_),  # dynamic margin: tiers scaled by realised vol / base vol
        ("dyn_base_vol", np.float64),
        ("dyn_window", np.int64),  # steps of the realised-vol window
        ("dyn_every", np.int64),  # steps between recalibrations
        ("dyn_min", np.float64),
        ("dyn_max", np.float64),
        ("vault_backstop", np.float64),  # liquidator vault takes over below this x maintenance (0: no vault)
        ("vault_capital", np.float64),  # the vault's starting balance (quote)
        ("dd_ratio", np.float64),  # FRACTION: pool drawdown over the window that triggers ADL (0: off)
        ("dd_stop", np.float64),  # FRACTION: ADL stops once the drawdown is back within this
        ("dd_window", np.int64),  # steps of the drawdown window
        ("dd_min_fund", np.float64),  # the drawdown rule applies only while the fund exceeds this
        ("fee_out", np.bool_),  # the liquidation fee leaves the venue (to the liquidators), not to the fund
        ("mark_src", np.int64),  # the price the mark reads: 0 own book, 1 exogenous, 2 + w venue w's book
        ("step_from", np.int64),  # TIER: lowest stepped-down tier index (kernels.liquidation.tier_close)
        ("step_to", np.int64),  # TIER: target tier index, -1 for one tier down
        ("step_mode", np.int64),  # TIER: kernels.liquidation.STEP_* code
    ],
    align=True,
)
"""Record of one venue's rules: fund, fee, order sizing, liquidator, ADL, outcome, dynamic margin,
liquidator vault (Hyperliquid's backstop), the drawdown trigger of ADL (Bybit's) and where the
liquidation fee goes (``fee_out``: paid to the liquidators, e.g. a lending pool's bonus; 0: to the
insurance fund), the price its mark reads (``mark_src``) and the tier step-down's rule (read only
by the ``TIER`` order sizing, whose records set it: ``step_to`` 0 is a step to tier 0).  Every
other added field is 0 when unused, so a zeroed record is the venue without them."""

VAULT_TAKEOVER: int = 3
"""Event kind of a position taken over by a venue's liquidator vault (after the
:data:`~levguard.kernels.cascade_records.EventKind` codes 0-2)."""

BOOK_DTYPE = np.dtype(
    [
        ("impact_model", np.int64),  # levguard.kernels.cascade_records.ImpactModel
        ("depth", np.float64),  # linear: quote per bp; sqrt: daily volume (quote)
        ("impact_coef", np.float64),
        ("sigma_daily", np.float64),
        ("half_life", np.float64),  # resilience half-life in steps (inf: permanent)
    ],
    align=True,
)
"""Record of one ``(venue, asset)`` book: impact model, depth, resilience."""


class MarketConfig(NamedTuple):
    """Settings shared by every venue.

    ``arb_speed``: the fraction of the gap between a venue's log price deviation and the
    depth-weighted mean over venues that arbitrage closes per step (0: none); ``arb_capacity``:
    the notional arbitrageurs can buy (and sell) per asset and step (``inf``: no cap);
    ``naive``: test every open account exactly in every round instead of the sorted sweep;
    ``steps_per_year`` annualises the dynamic margin's realised volatility.
    """

    arb_speed: float = 0.0
    arb_capacity: float = np.inf
    naive: bool = False
    steps_per_year: float = 525_600.0


class MarketAccounts(NamedTuple):
    """The accounts (inputs): ``venue`` (N,) int64, ``wallet`` (N,) cross-margin wallet (quote),
    ``qty`` (N, K) signed sizes (0: no position), ``entry`` (N, K) entry prices."""

    venue: Int64Array1D
    wallet: Float64Array1D
    qty: Float64Array2D
    entry: Float64Array2D


class BookTiers(NamedTuple):
    """Maintenance tiers of every book, flat: rows ``off[j] .. off[j + 1]`` of ``caps``, ``mmrs``,
    ``cums`` belong to book ``j = v K + a``; ``mmr_lo``/``mmr_hi`` (V K,) its lowest/highest rate;
    ``coll`` (V K,) True where the venue takes the asset as collateral (its tiers are the
    haircut's; a holding takes no share of the account's deficit in ADL)."""

    caps: Float64Array1D
    mmrs: Float64Array1D
    cums: Float64Array1D
    off: Int64Array1D
    mmr_lo: Float64Array1D
    mmr_hi: Float64Array1D
    coll: BoolArray1D


# --------------------------------------------------------------------------- outputs
class MarketSteps(NamedTuple):
    """Per-step outputs after the rounds: per book (V, K, T + 1) ``price`` (traded), ``mark``,
    ``liq_notional`` (filled in the book), ``adl_notional``, ``impact`` (accumulated, log),
    ``arb_notional`` (arbitrage traded), ``mm_scale`` (dynamic margin); per venue (V, T + 1) ``fund``, ``bad_debt``
    (cumulative), ``n_liq`` (liquidation orders, int64) and ``rounds`` (int64)."""

    price: Float64Array3D
    mark: Float64Array3D
    liq_notional: Float64Array3D
    adl_notional: Float64Array3D
    impact: Float64Array3D
    arb_notional: Float64Array3D
    mm_scale: Float64Array3D
    fund: Float64Array2D
    bad_debt: Float64Array2D
    n_liq: Int64Array2D
    rounds: Int64Array2D


class MarketFinal(NamedTuple):
    """Accounts after the path: ``qty`` (N, K), ``wallet``, ``pnl`` (realised, fees included),
    ``status`` (:data:`~levguard.kernels.cascade_records.AccountStatus`, int64),
    ``deleveraged`` (ever closed as an ADL counterparty) and ``kept`` (what full closes left the
    account under a book outcome: paid out, the wallet is zeroed as v1 zeroes the margin, so
    ``wallet + kept = wallet0 + pnl``)."""

    qty: Float64Array2D
    wallet: Float64Array1D
    pnl: Float64Array1D
    status: Int64Array1D
    deleveraged: BoolArray1D
    kept: Float64Array1D


class BookTotals(NamedTuple):
    """Per book (V, K): ``bad_debt`` (the venue's bad debt attributed to the assets whose closes
    drew on the fund in that round), ``first_liq`` and ``first_adl`` (step of the first
    liquidation and first ADL close, -1: none)."""

    bad_debt: Float64Array2D
    first_liq: Int64Array2D
    first_adl: Int64Array2D


EVENT_DTYPE = np.dtype(
    [
        ("step", np.int64),
        ("venue", np.int64),
        ("asset", np.int64),
        ("account", np.int64),
        ("qty", np.float64),  # signed, closed
        ("price", np.float64),
        ("bankruptcy_price", np.float64),
        ("fund_delta", np.float64),  # the account's change of the fund, on its close's first event
        ("kind", np.int64),  # levguard.kernels.cascade_records.EventKind
        ("counterparty", np.int64),  # the bankrupt account of an ADL victim, else -1
    ],
    align=True,
)
"""Record of one position's liquidation or ADL close."""


class VaultOutputs(NamedTuple):
    """Each venue's liquidator vault and ADL trigger: per venue and step (V, T + 1) ``equity``
    (the vault's cash plus its inventory at the marks), ``taken`` (notional taken over at the
    marks), ``peak`` (the fund's highest over the drawdown window, 0: rule off) and ``adl_on``
    (the drawdown trigger is on, int64); per venue (V,) ``cash`` and ``received`` (the equity of
    the accounts taken over, at the marks); per book (V, K) the inventory ``qty`` (signed) and
    its average ``entry``."""

    equity: Float64Array2D
    taken: Float64Array2D
    peak: Float64Array2D
    adl_on: Int64Array2D
    cash: Float64Array1D
    received: Float64Array1D
    qty: Float64Array2D
    entry: Float64Array2D


class MarketOutputs(NamedTuple):
    """Where a run writes: steps, event records (``EVENT_DTYPE``, capacity rows), accounts, books,
    the venues' vaults and ADL triggers, and per venue and step (V, T + 1) ``fees_paid``
    (cumulative): the liquidation fees that left a ``fee_out`` venue for its liquidators (0 on a
    venue whose fees go to its fund)."""

    steps: MarketSteps
    events: RecordArray
    accounts: MarketFinal
    books: BookTotals
    vault: VaultOutputs
    fees_paid: Float64Array2D


COUNT_DTYPE = np.dtype(
    [
        ("events", np.int64),  # event records written
        ("overflow", np.int64),  # events beyond the table (counted, not written)
        ("accounts_liquidated", np.int64),
        ("adl_events", np.int64),  # ADL counterparty fills
    ],
    align=True,
)
"""Running totals of a run (one record, updated in place)."""


class MarketCounts(NamedTuple):
    """Totals of a run: events written, events not written, accounts liquidated, ADL fills."""

    events: int
    overflow: int
    accounts_liquidated: int
    adl_events: int


def new_market_outputs(n_accounts: int, n_assets: int, n_venues: int, n_t: int, max_events: int) -> MarketOutputs:
    """Allocate the outputs of one run (zeros; ``first_liq``/``first_adl`` -1)."""
    vkt = (n_venues, n_assets, n_t)
    vt = (n_venues, n_t)
    steps = MarketSteps(
        np.zeros(vkt),
        np.zeros(vkt),
        np.zeros(vkt),
        np.zeros(vkt),
        np.zeros(vkt),
        np.zeros(vkt),
        np.ones(vkt),
        np.zeros(vt),
        np.zeros(vt),
        np.zeros(vt, dtype=np.int64),
        np.zeros(vt, dtype=np.int64),
    )
    final = MarketFinal(
        np.zeros((n_accounts, n_assets)),
        np.zeros(n_accounts),
        np.zeros(n_accounts),
        np.zeros(n_accounts, dtype=np.int64),
        np.zeros(n_accounts, dtype=np.bool_),
        np.zeros(n_accounts),
    )
    books = BookTotals(
        np.zeros((n_venues, n_assets)),
        np.full((n_venues, n_assets), -1, dtype=np.int64),
        np.full((n_venues, n_assets), -1, dtype=np.int64),
    )
    vault = VaultOutputs(
        np.zeros(vt),
        np.zeros(vt),
        np.zeros(vt),
        np.zeros(vt, dtype=np.int64),
        np.zeros(n_venues),
        np.zeros(n_venues),
        np.zeros((n_venues, n_assets)),
        np.zeros((n_venues, n_assets)),
    )
    return MarketOutputs(steps, np.zeros(max_events, dtype=EVENT_DTYPE), final, books, vault, np.zeros(vt))


# --------------------------------------------------------------------------- kernel state
class MarketState(NamedTuple):
    """Live account state inside the kernel: ``venue``, ``qty`` (N, K), ``entry`` (N, K),
    ``wallet``, ``pnl``, ``status``, ``deleveraged``, ``kept`` (the outputs' arrays, in place),
    ``key_at`` (N, K) the key each position is filed under, ``n_open`` open positions,
    ``pending`` (an order is queued) and ``adl_dry`` (ADL found no counterparty: use the book)."""

    venue: Int64Array1D
    qty: Float64Array2D
    entry: Float64Array2D
    wallet: Float64Array1D
    pnl: Float64Array1D
    status: Int64Array1D
    deleveraged: BoolArray1D
    kept: Float64Array1D
    key_at: Float64Array2D
    n_open: Int64Array1D
    pending: BoolArray1D
    adl_dry: BoolArray1D


class SideLists(NamedTuple):
    """Per side list ``b``: positions ``ids[off[b]:off[b + 1]]`` (accounts, ascending); the
    sweep's sorted keys/accounts ``ordk``/``ordi`` over the same slots with ``length`` and
    ``ptr``; a max-heap ``hk``/``hi`` over ``hoff[b]:hoff[b + 1]`` of ``hsize`` entries; the ADL
    ranking ``rank`` over the same slots with ``rank_len``, ``rank_pos`` and ``rank_key`` (the
    venue's mark key it was built at: a new key each step and whenever the marks move)."""

    off: Int64Array1D
    ids: Int64Array1D
    ordk: Float64Array1D
    ordi: Int64Array1D
    length: Int64Array1D
    ptr: Int64Array1D
    hoff: Int64Array1D
    hk: Float64Array1D
    hi: Int64Array1D
    hsize: Int64Array1D
    rank: Int64Array1D
    rank_len: Int64Array1D
    rank_pos: Int64Array1D
    rank_key: Int64Array1D


class VenueQueues(NamedTuple):
    """Per venue: its accounts ``acc[aoff[v]:aoff[v + 1]]`` (ascending) and a ring of queued
    liquidation orders over ``qoff[v]:qoff[v + 1]`` (account ``q_ids``, due step ``q_due``,
    ``q_head``, ``q_len``)."""

    aoff: Int64Array1D
    acc: Int64Array1D
    qoff: Int64Array1D
    q_ids: Int64Array1D
    q_due: Int64Array1D
    q_head: Int64Array1D
    q_len: Int64Array1D


class RoundScratch(NamedTuple):
    """Work arrays of one venue's rounds: ``found`` (N,), the round's orders ``ids`` (N,),
    closed sizes ``c`` (N, K), ``full`` and ``adl`` (N,); per asset ``flow``, ``d_log``,
    ``fill``, ``draw`` (the round's draws on the fund), ``adl_price``, ``adl_bp`` (K,);
    ``order``/``scores`` (N,) for the ADL ranking and the routing's deficits, ``notional`` (N,)
    the routing's close notionals; ``oracle`` (S,); ``adl_c`` (N, K) the part of a routed
    order's positions the opposite sides can absorb (the rest closes in the books in the same
    round) and ``cap`` (4 K,) the ADL capacity per asset and side (``2 a + s``, ``s`` 0 longs,
    1 shorts) outside the round, then (``2 K + 2 a + s``) left in the routing's pass; ``done``
    (K,) per book the step's liquidation flow before the round (signed quote, > 0 sells)."""

    found: Int64Array1D
    ids: Int64Array1D
    c: Float64Array2D
    full: BoolArray1D
    adl: BoolArray1D
    flow: Float64Array1D
    d_log: Float64Array1D
    fill: Float64Array1D
    draw: Float64Array1D
    adl_price: Float64Array1D
    adl_bp: Float64Array1D
    order: Int64Array1D
    scores: Float64Array1D
    notional: Float64Array1D
    oracle: Float64Array1D
    adl_c: Float64Array2D
    cap: Float64Array1D
    done: Float64Array1D


@jitable
def list_index(v: int, a: int, s: int, n_assets: int) -> int:
    """Return the side list index ``b`` of venue ``v``, asset ``a``, side ``s`` (0 long, 1 short)."""
    return (v * n_assets + a) * 2 + s
