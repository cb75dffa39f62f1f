"""Records of the cascade kernel: its enums, inputs, configuration and outputs.

vectorbt's style: enums are NamedTuples of ints (usable as constants inside compiled code),
configurations and array bundles are NamedTuples (numba passes them as typed tuples), event and
summary tables are numpy structured arrays (one record per row, named and typed fields).
Integers stay integers: counts, codes, steps and account ids are ``int64``, flags ``bool``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from levguard.kernels._jit import jitable
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D

Int64Array2D = npt.NDArray[np.int64]
RecordArray = npt.NDArray[np.void]


# --------------------------------------------------------------------------- enums
class ImpactModels(NamedTuple):
    """Price-impact models of the liquidation flow."""

    LINEAR: int = 0
    SQRT: int = 1


class PartialModes(NamedTuple):
    """How a liquidation order is sized."""

    FRACTION: int = 0  # a fraction of the position (1: the whole position)
    TIER: int = 1  # down to a lower maintenance tier's cap (risk-limit step-down: kernels.liquidation.tier_close)
    RESTORE: int = 2  # just enough to restore equity >= maintenance (Deribit's incremental)


class EventKinds(NamedTuple):
    """Kinds of event records."""

    LIQUIDATION: int = 0  # (partial) liquidation filled in the book
    ADL_LIQUIDATED: int = 1  # a bankrupt position closed against ADL counterparties at its bankruptcy price
    ADL_VICTIM: int = 2  # a counterparty closed by ADL at the bankrupt position's bankruptcy price


class AccountStatuses(NamedTuple):
    """Final status of an account."""

    OK: int = 0
    LIQUIDATED: int = 1
    DELEVERAGED: int = 2


ImpactModel = ImpactModels()
PartialMode = PartialModes()
EventKind = EventKinds()
AccountStatus = AccountStatuses()


# --------------------------------------------------------------------------- inputs
class Accounts(NamedTuple):
    """The population, one entry per account (each array (N,) float64).

    ``side`` +1/-1 (a multiplier in the formulas), ``qty`` size in base units (> 0), ``entry``
    entry price, ``margin`` isolated margin (or the wallet of a one-position cross account).
    """

    side: Float64Array1D
    qty: Float64Array1D
    entry: Float64Array1D
    margin: Float64Array1D


class Tiers(NamedTuple):
    """Maintenance tiers (each array (R,) float64): notional cap, rate, maintenance amount; with
    ``by_size`` the caps are position sizes (OKX counts its tiers in contracts): a position is in
    the tier of its size at every price, with no amount."""

    caps: Float64Array1D
    mmrs: Float64Array1D
    cums: Float64Array1D
    by_size: bool = False


class CascadeConfig(NamedTuple):
    """Settings of one cascade run.

    Attributes
    ----------
    fund : float
        Initial insurance fund (quote).
    liq_fee : float
        Liquidation fee rate on the closed notional.
    partial_mode : int
        :data:`PartialMode` code.
    partial : float
        ``FRACTION``: the fraction closed per round.
    partial_min : float
        Notional below which a position is closed whole (fraction and tier modes).
    step_from, step_to, step_mode : int
        ``TIER``: the risk-limit step-down of
        :func:`levguard.kernels.liquidation.tier_close` (lowest stepped tier index, target tier
        or -1 for one down, ``STEP_*`` code).
    impact_model : int
        :data:`ImpactModel` code.
    depth : float
        Linear: quote notional per basis point; square root: daily volume in quote.
    impact_coef, sigma_daily : float
        Coefficient and daily volatility of the square-root law.
    half_life : float
        Impact half-life in steps (resilience; 0: gone by the next step).
    latency : int
        Steps between a trigger and its liquidation order.
    adl : bool
        Auto-deleveraging on.
    max_rounds : int
        Liquidation rounds per step at most.
    mark_lag : int
        The mark reads the traded price this many steps ago.
    naive : bool
        Scan every account in every round instead of the sorted sweep (same results).
    dynamic : bool
        Dynamic margin on.
    dyn_base_vol : float
        Base volatility of the dynamic scale.
    dyn_window, dyn_every : int
        Window and recalibration interval of the dynamic scale (steps).
    dyn_min, dyn_max : float
        Bounds of the dynamic scale.
    steps_per_year : float
        Annualises the realised volatility.
    outcome : int
        Full-close outcome: :data:`levguard.kernels.liquidation.TAKEOVER` (the margin goes) or
        ``BOOK`` (the fee is paid, the rest kept).
    backstop : float
        ``BOOK``: taken over when equity at the fill < ``backstop`` x maintenance (0: never).
    """

    fund: float = 0.0
    liq_fee: float = 0.0
    partial_mode: int = PartialMode.FRACTION
    partial: float = 1.0
    partial_min: float = 0.0
    impact_model: int = ImpactModel.LINEAR
    depth: float = 0.0
    impact_coef: float = 0.0
    sigma_daily: float = 0.0
    half_life: float = math.inf
    latency: int = 0
    adl: bool = False
    max_rounds: int = 100
    mark_lag: int = 0
    naive: bool = False
    dynamic: bool = False
    dyn_base_vol: float = 0.0
    dyn_window: int = 0
    dyn_every: int = 0
    dyn_min: float = 0.0
    dyn_max: float = 0.0
    steps_per_year: float = 525_600.0
    outcome: int = 0
    backstop: float = 0.0
    step_from: int = 1
    step_to: int = -1
    step_mode: int = 0


# --------------------------------------------------------------------------- outputs
class CascadeSteps(NamedTuple):
    """Per-step outputs after the rounds (each array (T + 1,)).

    ``price``, ``mark``, ``exo`` (exogenous price), ``liq_notional`` (filled in the book),
    ``adl_notional`` (deleveraged by ADL), ``n_liq`` (orders, int64), ``fund``, ``bad_debt``
    (cumulative), ``impact`` (accumulated, log), ``mm_scale`` (dynamic margin), ``rounds``
    (int64).
    """

    price: Float64Array1D
    mark: Float64Array1D
    exo: Float64Array1D
    liq_notional: Float64Array1D
    adl_notional: Float64Array1D
    n_liq: Int64Array1D
    fund: Float64Array1D
    bad_debt: Float64Array1D
    impact: Float64Array1D
    mm_scale: Float64Array1D
    rounds: Int64Array1D


class FinalAccounts(NamedTuple):
    """Per-account final state (each array (N,)): size, margin, realised PnL (fees included;
    ``-margin`` when wiped out) and :data:`AccountStatus` (int64)."""

    qty: Float64Array1D
    margin: Float64Array1D
    pnl: Float64Array1D
    status: Int64Array1D


class CascadeCounts(NamedTuple):
    """Totals of a run: events written, events not written (beyond the table), accounts
    liquidated, ADL events."""

    events: int
    overflow: int
    accounts_liquidated: int
    adl_events: int


EVENT_DTYPE = np.dtype(
    [
        ("step", np.int64),
        ("account", np.int64),
        ("qty", np.float64),  # signed, closed
        ("price", np.float64),
        ("bankruptcy_price", np.float64),
        ("fund_delta", np.float64),
        ("kind", np.int64),  # EventKind
        ("counterparty", np.int64),  # the bankrupt account of an ADL victim, else -1
    ],
    align=True,
)
"""Record of a liquidation or ADL close."""

SUMMARY_DTYPE = np.dtype(
    [
        ("bad_debt", np.float64),
        ("pending_bad_debt", np.float64),  # open positions' deficit at the last mark (summarize)
        ("liquidated_notional", np.float64),
        ("adl_notional", np.float64),
        ("accounts_liquidated", np.int64),
        ("fund_end", np.float64),
        ("fund_min", np.float64),
        ("min_price", np.float64),
        ("min_exogenous", np.float64),
        ("max_price", np.float64),
        ("max_exogenous", np.float64),
        ("overshoot", np.float64),
        ("adl_events", np.int64),
    ],
    align=True,
)
"""Record of one path's summary (Monte Carlo)."""


class CascadeOutputs(NamedTuple):
    """Where a run writes: per-step table, event records (EVENT_DTYPE, capacity rows) and the
    accounts' final state."""

    steps: CascadeSteps
    events: RecordArray
    accounts: FinalAccounts


@jitable
def new_steps(n_t: int) -> CascadeSteps:
    """Allocate a per-step table of ``n_t`` rows (zeros)."""
    return CascadeSteps(
        np.zeros(n_t),
        np.zeros(n_t),
        np.zeros(n_t),
        np.zeros(n_t),
        np.zeros(n_t),
        np.zeros(n_t, dtype=np.int64),
        np.zeros(n_t),
        np.zeros(n_t),
        np.zeros(n_t),
        np.zeros(n_t),
        np.zeros(n_t, dtype=np.int64),
    )


@jitable
def new_final_accounts(n: int) -> FinalAccounts:
    """Allocate the final state of ``n`` accounts (zeros)."""
    return FinalAccounts(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64))


def new_outputs(n_accounts: int, n_t: int, max_events: int) -> CascadeOutputs:
    """Allocate the outputs of one run: ``n_t`` steps, ``max_events`` event records."""
    return CascadeOutputs(new_steps(n_t), np.zeros(max_events, dtype=EVENT_DTYPE), new_final_accounts(n_accounts))


# --------------------------------------------------------------------------- kernel state
class Book(NamedTuple):
    """The accounts' live state inside the kernel (each array (N,)): the position (``side``,
    ``qty``, ``entry``, ``margin``), its liquidation price ``lp``, the key ``key_at`` under which
    it is filed in the sweep, and ``pending`` (a liquidation order is queued)."""

    side: Float64Array1D
    qty: Float64Array1D
    entry: Float64Array1D
    margin: Float64Array1D
    lp: Float64Array1D
    key_at: Float64Array1D
    pending: BoolArray1D


class RoundOrders(NamedTuple):
    """The orders of one liquidation round inside the kernel (each array (N,); a round of ``k``
    orders uses the first ``k`` entries): the account ``ids``, the quantity ``c`` each closes,
    ``full`` (the whole position), ``adl`` (routed to auto-deleveraging) and ``adl_c`` the part
    of a routed close the opposite side can absorb (the rest, ``c - adl_c``, closes in the book
    in the same round)."""

    ids: Int64Array1D
    c: Float64Array1D
    full: BoolArray1D
    adl: BoolArray1D
    adl_c: Float64Array1D


class AdlRanking(NamedTuple):
    """ADL counterparties per side (row 0 longs, row 1 shorts) inside the kernel.

    ``ids`` (2, N): the side's open accounts ranked best first; ``length``, ``pos``, ``key``
    (2,): their count, the first not yet consumed and the mark key the ranking was built at (a
    new key each step and whenever the mark moves within it); ``order`` and ``scores`` (N,):
    work arrays of the ranking and of the routing to ADL.
    """

    ids: Int64Array2D
    length: Int64Array1D
    pos: Int64Array1D
    key: Int64Array1D
    order: Int64Array1D
    scores: Float64Array1D


class Sweep(NamedTuple):
    """State of the sorted sweep, per side (row 0 longs, row 1 shorts).

    ``ordk``, ``ordi`` (2, N): keys and accounts sorted by descending key; ``length``, ``ptr``
    (2,): entries and the first entry not yet crossed; ``hk``, ``hi`` (2, H), ``hsize`` (2,): a
    max-heap of accounts re-filed under a new key.
    """

    ordk: Float64Array2D
    ordi: Int64Array2D
    length: Int64Array1D
    ptr: Int64Array1D
    hk: Float64Array2D
    hi: Int64Array2D
    hsize: Int64Array1D


@jitable
def new_sweep(n: int) -> Sweep:
    """Allocate the sweep state of ``n`` accounts (heaps of ``2 n + 16`` entries per side)."""
    h_cap = 2 * n + 16
    return Sweep(
        np.empty((2, n)),
        np.empty((2, n), dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        np.empty((2, h_cap)),
        np.empty((2, h_cap), dtype=np.int64),
        np.zeros(2, dtype=np.int64),
    )
