"""A simulated exchange for demos and tests: the :class:`~levguard.venues.base.Venue` protocol over
price feeds, with fills, fees, slippage, funding, the margin engine's liquidations, ADL and faults.

Time is simulated: nothing reads the wall clock and nothing is random.  The venue sits at a
*tick*; ``await venue.step()`` (or ``venue.step_sync()``) moves every feed one tick forward,
settles funding at the funding boundaries crossed, then liquidates what the margin engine says
is liquidatable.  Tick ``k`` has the UTC timestamp ``start_ns + k * tick_ns`` (``venue.now_ns``).

Example
-------
>>> import asyncio
>>> from levguard.venues.paper import PaperVenue, scripted_crash
>>> venue = PaperVenue(
...     feeds={"BTCUSDT": scripted_crash(60_000.0, 0.10, 10, flat=5)},
...     wallet_balance=5_000.0,
...     positions=[{"symbol": "BTCUSDT", "qty": 1.0, "entry": 60_000.0}],
... )
>>> for _ in range(15):
...     _ = venue.step_sync()
>>> [(liq.symbol, liq.qty) for liq in venue.liquidations]
[('BTCUSDT', 1.0)]

Quantities are signed (long > 0) in base units for linear contracts and in quote units for
inverse ones (the engine is given ``contract_size = 1``); money is in the settlement currency.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

import numpy as np

from levguard._typing import Float64Array1D
from levguard.core.instruments import ContractKind
from levguard.core.margin import AccountReport, evaluate, instrument_for
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.rules import get_venue, symbol_key
from levguard.core.tiers import TierTable
from levguard.errors import (
    InputError,
    VenueAuthError,
    VenueError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.kernels.margin import position_notional, position_upnl
from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition

__all__ = [
    "AdlEvent",
    "CrashShape",
    "Faults",
    "Fill",
    "FundingPayment",
    "Liquidation",
    "PaperVenue",
    "PriceFeed",
    "StepReport",
    "crash_feed",
    "scripted_crash",
]

_SECOND_NS = 1_000_000_000
_HOUR_NS = 3_600 * _SECOND_NS
DEFAULT_START_NS = 1_704_067_200 * _SECOND_NS
"""2024-01-01T00:00:00Z: the first tick when no feed carries timestamps."""
DEFAULT_TICK_NS = 60 * _SECOND_NS
FUNDING_INTERVAL_NS = 8 * _HOUR_NS

VENUE_METHODS = (
    "fetch_positions",
    "fetch_balance",
    "fetch_marks",
    "fetch_tiers",
    "fetch_funding_rate",
    "create_order",
    "fetch_order",
    "close",
)
"""The protocol methods :class:`Faults` can target (``"*"`` targets them all)."""


def _prices(values: object, field: str) -> Float64Array1D:
    arr = np.array(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise InputError(f"{field} must hold at least one price, was empty")
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0.0)):
        bad = int(np.flatnonzero(~(np.isfinite(arr) & (arr > 0.0)))[0])
        raise InputError(f"{field}[{bad}] must be a finite price > 0, was {arr[bad]!r}")
    arr.setflags(write=False)
    return arr


# --- price feeds ------------------------------------------------------------------------------
class PriceFeed:
    """Last and mark prices per tick of one symbol.

    Parameters
    ----------
    last : array of float, shape (n,)
        Last (trade) price at each tick, quote per base.
    mark : array of float, shape (n,), optional
        Mark price at each tick (liquidations, uPnL and fills use it); defaults to ``last``.
    start_ns, tick_ns : int, optional
        Timestamp of tick 0 and tick length of a replayed file; a :class:`PaperVenue` built
        without its own ``start_ns``/``tick_ns`` takes them from its first feed that has them.
    source : str
        Where the prices come from.

    Notes
    -----
    After its last tick a feed holds its last prices (the venue's clock keeps running).  The
    arrays are read-only.
    """

    __slots__ = ("last", "mark", "source", "start_ns", "tick_ns")

    def __init__(
        self,
        last: object,
        mark: object | None = None,
        *,
        start_ns: int | None = None,
        tick_ns: int | None = None,
        source: str = "path",
    ) -> None:
        self.last: Float64Array1D = _prices(last, "last")
        self.mark: Float64Array1D = self.last if mark is None else _prices(mark, "mark")
        if self.mark.shape != self.last.shape:
            raise InputError(f"mark must have the length of last ({self.last.size}), was {self.mark.size}")
        if tick_ns is not None and tick_ns <= 0:
            raise InputError(f"tick_ns must be > 0, was {tick_ns!r}")
        self.start_ns = None if start_ns is None else int(start_ns)
        self.tick_ns = None if tick_ns is None else int(tick_ns)
        self.source = source

    def __repr__(self) -> str:
        return f"PriceFeed({self.source!r}, {self.last.size} ticks)"

    def __len__(self) -> int:
        return int(self.last.size)

    def at(self, tick: int) -> tuple[float, float]:
        """Return ``(last, mark)`` at ``tick`` (the final prices beyond the end)."""
        i = min(max(tick, 0), self.last.size - 1)
        return float(self.last[i]), float(self.mark[i])

    @classmethod
    def from_path(cls, last: object, mark: object | None = None, *, source: str = "path") -> PriceFeed:
        """Build a feed from a synthetic path (e.g. a row of :func:`levguard.sim.paths.path_for`)."""
        return cls(last, mark, source=source)

    @classmethod
    def from_frame(cls, bars: Any, mark_bars: Any | None = None) -> PriceFeed:
        """Replay bars: ``close`` per tick, with the bars' timestamps and interval.

        ``bars`` (and ``mark_bars``, mark-price klines on the same index) are levguard frames
        with a UTC ``DatetimeIndex``: a replayed file loaded with
        ``levguard.data.loaders.load_ohlcv(path)``, or ``synth_market(...).ohlcv`` and ``.mark``.
        (The layer contract keeps ``venues`` from importing ``data``: the caller loads the file.)
        """
        ts = np.asarray(bars.index.as_unit("ns").asi8, dtype=np.int64)
        if ts.size == 0:
            raise InputError("bars must hold at least one bar, was empty")
        tick_ns = int(ts[1] - ts[0]) if ts.size > 1 else None
        mark = None
        if mark_bars is not None:
            m_ts = np.asarray(mark_bars.index.as_unit("ns").asi8, dtype=np.int64)
            if m_ts.shape != ts.shape or not np.array_equal(m_ts, ts):
                raise InputError("mark_bars must have the timestamps of bars")
            mark = mark_bars["close"].to_numpy(dtype=np.float64)
        source = str(bars.attrs.get("source") or "frame")
        last = bars["close"].to_numpy(dtype=np.float64)
        return cls(last, mark, start_ns=int(ts[0]), tick_ns=tick_ns, source=source)


def scripted_crash(
    start: float,
    drop: float,
    ticks: int,
    *,
    flat: int = 10,
    rebound: float = 0.0,
    rebound_ticks: int = 0,
    tail: int = 10,
    mark_excess: float = 0.0,
) -> PriceFeed:
    """Return a crash feed: flat, a fall of ``drop`` over ``ticks`` ticks, an optional rebound.

    Parameters
    ----------
    start : float
        Price of the flat part (ticks ``0 .. flat - 1``).
    drop : float
        Fall as a fraction of ``start``, in (0, 1): the trough is ``start * (1 - drop)``.
    ticks : int
        Ticks of the fall (>= 1); the trough is tick ``flat + ticks - 1``.
    flat : int
        Ticks at ``start`` before the fall (>= 1).
    rebound : float
        Rise after the trough as a fraction of the trough price (>= 0), over ``rebound_ticks``.
    tail : int
        Ticks holding the final price at the end.
    mark_excess : float
        How far the mark stays above the last price at the trough (fraction; the mark skips part
        of a wick, see :class:`levguard.data.crashes.CrashProfile`).

    Notes
    -----
    The fall and the rebound are geometric (a constant log return per tick):
    ``last[flat - 1 + j] = start * (1 - drop) ** (j / ticks)`` for ``j = 0 .. ticks``.  The mark is
    ``last * (1 + mark_excess * w)`` with ``w = (start - last) / (start - trough)`` clipped to
    [0, 1], the share of the fall achieved.
    """
    if not (math.isfinite(start) and start > 0.0):
        raise InputError(f"start must be a price > 0, was {start!r}")
    if not 0.0 < drop < 1.0:
        raise InputError(f"drop must be a fraction in (0, 1), was {drop!r}")
    for name, value, low in (("ticks", ticks, 1), ("flat", flat, 1), ("rebound_ticks", rebound_ticks, 0)):
        if not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, was {value!r}")
    if not isinstance(tail, int) or tail < 0:
        raise InputError(f"tail must be an integer >= 0, was {tail!r}")
    if not (math.isfinite(rebound) and rebound >= 0.0):
        raise InputError(f"rebound must be a fraction >= 0, was {rebound!r}")
    if rebound > 0.0 and rebound_ticks == 0:
        raise InputError("rebound_ticks must be >= 1 when rebound > 0, was 0")
    if not 0.0 <= mark_excess < 0.5:
        raise InputError(f"mark_excess must be a fraction in [0, 0.5), was {mark_excess!r}")
    trough = start * (1.0 - drop)
    fall = start * (1.0 - drop) ** (np.arange(1, ticks + 1) / ticks)
    up = trough * (1.0 + rebound) ** (np.arange(1, rebound_ticks + 1) / max(rebound_ticks, 1))
    body = np.concatenate([np.full(flat, start), fall, up])
    last = np.concatenate([body, np.full(tail, body[-1])])
    w = np.clip((start - last) / (start - trough), 0.0, 1.0)
    mark = last * (1.0 + mark_excess * w)
    return PriceFeed(last, mark, source=f"scripted crash: -{drop:.2%} over {ticks} ticks")


class CrashShape(Protocol):
    """What :func:`crash_feed` reads of a crash (:class:`levguard.data.crashes.CrashProfile`)."""

    @property
    def depth(self) -> float: ...
    @property
    def speed_hours(self) -> int: ...
    @property
    def rebound_24h(self) -> float: ...
    @property
    def mark_excess(self) -> float: ...


def crash_feed(crash: CrashShape, start: float, *, ticks_per_hour: int = 1, flat: int = 10) -> PriceFeed:
    """Return a :func:`scripted_crash` shaped like a historical crash.

    ``crash`` is e.g. ``levguard.data.crashes.crash_by_name("ftx")``: its ``depth`` over
    ``speed_hours``, its ``rebound_24h`` over 24 hours and its ``mark_excess``, at
    ``ticks_per_hour`` ticks per simulated hour (give the venue ``tick_ns = 3600e9 / ticks_per_hour``).
    """
    if not isinstance(ticks_per_hour, int) or ticks_per_hour < 1:
        raise InputError(f"ticks_per_hour must be an integer >= 1, was {ticks_per_hour!r}")
    return scripted_crash(
        start,
        crash.depth,
        crash.speed_hours * ticks_per_hour,
        flat=flat,
        rebound=max(crash.rebound_24h, 0.0),
        rebound_ticks=24 * ticks_per_hour if crash.rebound_24h > 0 else 0,
        mark_excess=crash.mark_excess,
    )


# --- events -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fill:
    """An order fill: ``qty`` is the signed change of the position; ``fee`` a positive cost."""

    ts_ns: int
    symbol: str
    client_order_id: str
    qty: float
    price: float
    fee: float
    realised_pnl: float


@dataclass(frozen=True)
class Liquidation:
    """A position closed by the venue's liquidation engine (``qty`` the signed size closed)."""

    ts_ns: int
    symbol: str
    qty: float
    price: float
    mark_price: float
    liquidation_price: float | None
    margin_mode: str
    realised_pnl: float


@dataclass(frozen=True)
class AdlEvent:
    """A venue-side auto-deleveraging reduction (``qty`` the signed size removed)."""

    ts_ns: int
    symbol: str
    qty: float
    price: float
    realised_pnl: float


@dataclass(frozen=True)
class FundingPayment:
    """A funding settlement: ``amount`` received (> 0) or paid (< 0) by the account."""

    ts_ns: int
    symbol: str
    qty: float
    mark_price: float
    rate: float
    amount: float


@dataclass(frozen=True)
class StepReport:
    """What one tick did: the new time and marks, and the venue's own actions."""

    tick: int
    ts_ns: int
    marks: dict[str, float]
    funding: tuple[FundingPayment, ...]
    liquidations: tuple[Liquidation, ...]


# --- faults -----------------------------------------------------------------------------------
_ERRORS: dict[str, Callable[[str], VenueError]] = {
    "timeout": lambda m: VenueRetryableError(f"paper venue: {m} timed out (injected)"),
    "5xx": lambda m: VenueRetryableError(f"paper venue: {m} got HTTP 503 (injected)"),
    "retryable": lambda m: VenueRetryableError(f"paper venue: {m} failed transiently (injected)"),
    "rate_limit": lambda m: VenueRateLimitError(f"paper venue: {m} rate-limited, HTTP 429 (injected)"),
    "auth": lambda m: VenueAuthError(f"paper venue: {m} rejected the API key, HTTP 401 (injected)"),
    "permanent": lambda m: VenuePermanentError(f"paper venue: {m} failed permanently (injected)"),
}


@dataclass
class _Rule:
    method: str
    remaining: int | None  # None: until cleared
    make: Callable[[str], VenueError]


class Faults:
    """Scriptable faults of a :class:`PaperVenue` (tests and demos).

    Every ``method`` is one of :data:`VENUE_METHODS` or ``"*"`` (all of them); ``times=None``
    keeps a failure on until :meth:`clear`.  Methods return ``self`` so calls chain.

    * :meth:`fail` -- the next ``times`` calls raise: ``error`` is ``"timeout"``, ``"5xx"``,
      ``"retryable"`` (:class:`VenueRetryableError`), ``"rate_limit"``
      (:class:`VenueRateLimitError`), ``"auth"`` (:class:`VenueAuthError`), ``"permanent"``, or
      an exception instance.  Rules are consumed in the order they were added.
    * :meth:`add_latency` -- every call of ``method`` first awaits ``asyncio.sleep(seconds)``.
    * :meth:`freeze_marks` -- stale data: reported marks and timestamps stop at the current tick
      while the simulated market (fills, funding, liquidations) moves on.
    * :meth:`crash_after_accept` -- the next ``times`` orders are recorded and filled, then
      ``create_order`` raises :class:`VenueRetryableError` (a timeout after the venue accepted):
      the caller must reconcile with ``fetch_order`` by client order id.
    * ``liquidation_price_drift`` -- reported liquidation prices are multiplied by ``1 + drift``.
    """

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._latency: dict[str, float] = {}
        self.frozen = False
        self.crash_after_accept_left = 0
        self.liquidation_price_drift = 0.0

    @staticmethod
    def _method(method: str) -> str:
        if method != "*" and method not in VENUE_METHODS:
            raise InputError(f"method must be '*' or one of {', '.join(VENUE_METHODS)}, was {method!r}")
        return method

    def fail(self, method: str = "*", *, times: int | None = 1, error: str | VenueError = "retryable") -> Faults:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        if times is not None and (not isinstance(times, int) or times < 1):
            raise InputError(f"times must be an integer >= 1 or None, was {times!r}")
        make: Callable[[str], VenueError]
        if isinstance(error, VenueError):
            exc = error

            def make(_: str) -> VenueError:
                return exc

        elif error in _ERRORS:
            make = _ERRORS[error]
        else:
            raise InputError(f"error must be a VenueError or one of {', '.join(_ERRORS)}, was {error!r}")
        self._rules.append(_Rule(self._method(method), times, make))
        return self

    def add_latency(self, method: str = "*", seconds: float = 0.01) -> Faults:
        """Delay every call of ``method`` by ``seconds`` (``asyncio.sleep``; 0 removes it)."""
        if not (math.isfinite(seconds) and seconds >= 0.0):
            raise InputError(f"seconds must be >= 0, was {seconds!r}")
        self._latency[self._method(method)] = seconds
        return self

    def freeze_marks(self, frozen: bool = True) -> Faults:
        """Freeze (or thaw) the reported marks and timestamps."""
        self.frozen = frozen
        return self

    def crash_after_accept(self, times: int = 1) -> Faults:
        """Make the next ``times`` orders raise after being recorded and filled."""
        if not isinstance(times, int) or times < 0:
            raise InputError(f"times must be an integer >= 0, was {times!r}")
        self.crash_after_accept_left = times
        return self

    def clear(self) -> Faults:
        """Remove every fault."""
        self._rules.clear()
        self._latency.clear()
        self.frozen = False
        self.crash_after_accept_left = 0
        self.liquidation_price_drift = 0.0
        return self

    def latency(self, method: str) -> float:
        """Return the delay of a call of ``method`` in seconds."""
        return self._latency.get(method, self._latency.get("*", 0.0))

    def take(self, method: str) -> VenueError | None:
        """Consume the first rule matching ``method`` and return its error (None: no fault)."""
        for rule in self._rules:
            if rule.method in (method, "*"):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                return rule.make(method)
        return None


# --- the venue --------------------------------------------------------------------------------
@dataclass
class _Pos:
    symbol: str
    qty: float
    entry: float
    mode: MarginMode
    isolated_margin: float | None
    leverage: float | None


_POSITION_KEYS = {"symbol", "qty", "entry", "entry_price", "margin_mode", "isolated_margin", "leverage"}


class PaperVenue:
    """A simulated exchange account implementing :class:`~levguard.venues.base.Venue`.

    Parameters
    ----------
    name : str
        Margin rule set (:func:`levguard.core.rules.get_venue`), e.g. ``"binance-usdm"``.
    feeds : mapping of symbol -> PriceFeed or array of prices
        One feed per tradable symbol; every position needs one.  All feeds advance together.
    wallet_balance : float
        Cross wallet balance (settlement currency), excluding isolated margins.
    positions : list of dict
        ``symbol``, ``qty`` (signed), ``entry`` (or ``entry_price``), optional ``margin_mode``
        (``"cross"`` default, ``"isolated"``), ``isolated_margin`` (default: entry notional /
        leverage as the engine computes it), ``leverage``.
    taker_fee : float
        Fee of every fill as a fraction of its notional.
    slippage_bps : float
        Fill price = mark x (1 + slippage) for buys, mark x (1 - slippage) for sells.
    funding_rate : float or mapping of symbol -> float
        Rate per funding interval (positive: longs pay shorts).
    tiers : mapping of symbol -> TierTable or list of tier dicts, optional
        Tier tables replacing the rule set's built-in ones.
    start_ns, tick_ns : int, optional
        Time of tick 0 and tick length (defaults: the first replayed file's, else
        2024-01-01T00:00Z and 60 s).
    funding_interval_ns : int
        Funding is settled when the clock crosses a multiple of it (default 8 h: 00, 08, 16 UTC).
    lot_size : float
        Order quantities are rounded down to a multiple of it with ``Decimal`` (0: no rounding).
    faults : Faults, optional
        Fault injection (a fresh, inactive :class:`Faults` by default; also ``venue.faults``).

    Notes
    -----
    *Orders.*  Reduce-only market orders only, filled at once at the mark x (1 +/- slippage);
    the quantity is capped to the position (it can close, never increase or flip).  Fee
    ``taker_fee x |qty| x price`` (inverse: ``/ price``); realised PnL
    ``q x (fill - entry)`` (inverse ``q x (1/entry - 1/fill)``), both booked to the cross wallet.
    Reducing an isolated position moves the released share of its margin to the cross wallet.
    A client order id seen before returns the first order and fills nothing.  Rejections raise
    :class:`VenuePermanentError` and are not recorded.

    *Funding* at each boundary: ``payment = -sign(q) x notional(mark) x rate`` (linear
    ``-q x mark x rate``), to the cross wallet (cross) or the isolated margin (isolated).

    *Liquidation.*  After funding, every tick evaluates the account with the margin engine
    (:func:`levguard.core.margin.evaluate`, this rule set, cross and isolated).  An isolated
    position is liquidated when its margin balance is at or below its maintenance margin (the
    mark at or past its liquidation price); every cross position is liquidated when the cross
    equity is at or below the cross maintenance margin (one position: its mark at or past its
    liquidation price).  Closing follows the insurance-fund convention of Binance, Bybit and
    OKX: the position is taken over at its *bankruptcy price* (the engine's, or the mark when it
    reports none), so the trader loses the margin behind it: an isolated position's whole
    isolated margin (the cross wallet is untouched); for cross, the whole cross wallet (set to
    0; with one position exactly ``wallet + uPnL(bankruptcy price)``).  A gap past the
    bankruptcy price costs no more (the fund absorbs it).

    *Stale data* (:meth:`Faults.freeze_marks`) freezes what the venue *reports*; the engine,
    fills and funding use the true current marks.
    """

    def __init__(
        self,
        name: str = "binance-usdm",
        *,
        feeds: Mapping[str, PriceFeed | Sequence[float] | Float64Array1D],
        wallet_balance: float,
        positions: Sequence[Mapping[str, Any]] = (),
        taker_fee: float = 0.0005,
        slippage_bps: float = 2.0,
        funding_rate: float | Mapping[str, float] = 0.0001,
        tiers: Mapping[str, TierTable | Sequence[Mapping[str, Any]]] | None = None,
        start_ns: int | None = None,
        tick_ns: int | None = None,
        funding_interval_ns: int = FUNDING_INTERVAL_NS,
        lot_size: float = 0.0,
        faults: Faults | None = None,
    ) -> None:
        self.model = get_venue(name)
        self.name = self.model.name
        self._inverse = self.model.kind is ContractKind.INVERSE
        self.capabilities = Capabilities(
            leverage_tiers=True, funding=True, notes=("paper venue: simulated fills, time and liquidations",)
        )
        if not feeds:
            raise InputError("feeds must hold at least one symbol, was empty")
        self._feeds: dict[str, PriceFeed] = {}
        self._symbols: dict[str, str] = {}  # symbol_key -> symbol as given
        for sym, feed in feeds.items():
            self._symbols[symbol_key(sym)] = sym
            self._feeds[sym] = feed if isinstance(feed, PriceFeed) else PriceFeed.from_path(feed, source=sym)
        starts = [f.start_ns for f in self._feeds.values() if f.start_ns is not None]
        self.start_ns = int(start_ns if start_ns is not None else starts[0] if starts else DEFAULT_START_NS)
        lengths = [f.tick_ns for f in self._feeds.values() if f.tick_ns is not None]
        self.tick_ns = int(tick_ns if tick_ns is not None else lengths[0] if lengths else DEFAULT_TICK_NS)
        for field_name, count in (("tick_ns", self.tick_ns), ("funding_interval_ns", funding_interval_ns)):
            if count <= 0:
                raise InputError(f"{field_name} must be > 0, was {count!r}")
        self.funding_interval_ns = int(funding_interval_ns)
        for field_name, value in (("taker_fee", taker_fee), ("slippage_bps", slippage_bps), ("lot_size", lot_size)):
            if not (math.isfinite(value) and value >= 0.0):
                raise InputError(f"{field_name} must be >= 0, was {value!r}")
        self.taker_fee = float(taker_fee)
        self.slippage = float(slippage_bps) / 10_000.0
        self.lot_size = float(lot_size)
        rates = funding_rate if isinstance(funding_rate, Mapping) else dict.fromkeys(self._feeds, funding_rate)
        try:
            self._funding = {self._sym(s): float(r) for s, r in rates.items()}
        except VenuePermanentError as exc:
            raise InputError(f"funding_rate: {exc}") from None
        self._tiers: dict[str, TierTable] = {}
        for sym, table in (tiers or {}).items():
            t = table if isinstance(table, TierTable) else TierTable.from_rows(table, source="paper venue tiers")
            self._tiers[symbol_key(sym)] = t
        if not (math.isfinite(wallet_balance) and wallet_balance >= 0.0):
            raise InputError(f"wallet_balance must be >= 0, was {wallet_balance!r}")
        self.wallet_balance = float(wallet_balance)
        self.faults = faults if faults is not None else Faults()
        self.calls: Counter[str] = Counter()
        """Calls of each protocol method, failed ones included."""
        self.orders: dict[str, OrderState] = {}
        self.fills: list[Fill] = []
        self.liquidations: list[Liquidation] = []
        self.adl_events: list[AdlEvent] = []
        self.funding_payments: list[FundingPayment] = []
        self.closed = False
        self.tick = 0
        self._reported_tick = 0
        self._positions: dict[str, _Pos] = {}
        for i, raw in enumerate(positions):
            self._add_position(raw, f"positions[{i}]")
        # Fill in isolated margins the engine derived (entry notional / leverage); this also
        # validates the account (tiers exist, leverage within caps) before the first tick.
        for rep in self.evaluate().positions:
            pos = self._positions[rep.symbol]
            if pos.mode is MarginMode.ISOLATED and pos.isolated_margin is None:
                pos.isolated_margin = float(rep.margin_balance or 0.0) - rep.unrealized_pnl

    # -- set-up helpers
    def _sym(self, symbol: str) -> str:
        sym = self._symbols.get(symbol_key(symbol))
        if sym is None:
            raise VenuePermanentError(f"symbol must be one of {', '.join(self._feeds)}, was {symbol!r}")
        return sym

    def _add_position(self, raw: Mapping[str, Any], where: str) -> None:
        # Types here; ranges (qty != 0, entry > 0, margins > 0) by core's Position at the first evaluate().
        unknown = set(raw) - _POSITION_KEYS
        if unknown:
            raise InputError(f"{where} has unknown field(s) {sorted(unknown)}; allowed: {sorted(_POSITION_KEYS)}")
        sym = self._symbols.get(symbol_key(str(raw.get("symbol"))))
        if sym is None or sym in self._positions:
            raise InputError(f"{where}.symbol has no feed or appears twice, was {raw.get('symbol')!r}")
        try:
            qty, entry = float(raw["qty"]), float(raw.get("entry", raw.get("entry_price")))
            mode = MarginMode(str(raw.get("margin_mode", "cross")).lower())
            iso, lev = (None if raw.get(k) is None else float(raw[k]) for k in ("isolated_margin", "leverage"))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"{where} needs numeric qty and entry, a cross or isolated margin mode, was {dict(raw)!r}"
            ) from None
        self._positions[sym] = _Pos(sym, qty, entry, mode, iso, lev)

    # -- time and prices
    @property
    def now_ns(self) -> int:
        """The simulated time of the current tick (UTC ns)."""
        return self.start_ns + self.tick * self.tick_ns

    @property
    def exhausted(self) -> bool:
        """True once every feed is at (or past) its last tick."""
        return all(self.tick >= len(f) - 1 for f in self._feeds.values())

    def marks(self, *, reported: bool = False) -> dict[str, float]:
        """Return the true marks (or, ``reported=True``, what the venue reports: frozen if stale)."""
        tick = self._reported_tick if reported and self.faults.frozen else self.tick
        return {s: f.at(tick)[1] for s, f in self._feeds.items()}

    def _reported_ts(self) -> int:
        return self.start_ns + (self._reported_tick if self.faults.frozen else self.tick) * self.tick_ns

    def last_prices(self) -> dict[str, float]:
        """Return the current last (trade) prices."""
        return {s: f.at(self.tick)[0] for s, f in self._feeds.items()}

    # -- the margin engine
    def _account(self, marks: Mapping[str, float]) -> Account:
        positions = tuple(
            Position(
                instrument=instrument_for(self.model, p.symbol, contract_size=1.0),
                qty=p.qty,
                entry_price=p.entry,
                mark_price=marks[p.symbol],
                margin_mode=p.mode,
                leverage=p.leverage,
                isolated_margin=p.isolated_margin,
                tiers=self._tiers.get(symbol_key(p.symbol)),
            )
            for p in self._positions.values()
        )
        return Account(venue=self.model.name, wallet_balance=self.wallet_balance, positions=positions)

    def evaluate(self, *, reported: bool = False) -> AccountReport:
        """Evaluate the account with the margin engine at the true (or reported) marks."""
        return evaluate(self._account(self.marks(reported=reported)), self.model)

    def account_spec(self) -> dict[str, Any]:
        """Return the account as a :func:`levguard.evaluate_account` spec at the true marks
        (override tiers as rows; quantities with ``contract_size`` 1)."""
        marks = self.marks()
        positions: list[dict[str, Any]] = []
        for p in self._positions.values():
            d: dict[str, Any] = {"symbol": p.symbol, "qty": p.qty, "entry_price": p.entry}
            d.update(mark_price=marks[p.symbol], margin_mode=p.mode.value, contract_size=1.0)
            if p.isolated_margin is not None and p.mode is MarginMode.ISOLATED:
                d["isolated_margin"] = p.isolated_margin
            if p.leverage is not None:
                d["leverage"] = p.leverage
            positions.append(d)
        spec: dict[str, Any] = {"venue": self.name, "wallet_balance": self.wallet_balance, "positions": positions}
        if self._tiers:
            spec["tiers"] = {k: t.to_rows() for k, t in self._tiers.items()}
        return spec

    # -- simulation
    def step_sync(self) -> StepReport:
        """Advance one tick: move the feeds, settle funding, liquidate; return what happened."""
        prev = self.now_ns
        self.tick += 1
        funding = self._settle_funding(prev, self.now_ns)
        liquidations = self._liquidate()
        if not self.faults.frozen:
            self._reported_tick = self.tick
        return StepReport(self.tick, self.now_ns, self.marks(), tuple(funding), tuple(liquidations))

    async def step(self) -> StepReport:
        """Advance one tick (see :meth:`step_sync`)."""
        return self.step_sync()

    def _settle_funding(self, prev_ns: int, now_ns: int) -> list[FundingPayment]:
        # Boundaries b * interval in (prev_ns, now_ns], settled at the new tick's marks.
        out: list[FundingPayment] = []
        first, last = prev_ns // self.funding_interval_ns + 1, now_ns // self.funding_interval_ns
        marks = self.marks()
        inverse = self._inverse
        for b in range(first, last + 1):
            for p in list(self._positions.values()):
                rate, mark = self._funding.get(p.symbol, 0.0), marks[p.symbol]
                amount = -math.copysign(1.0, p.qty) * position_notional(p.qty, mark, inverse) * rate
                if p.mode is MarginMode.ISOLATED and p.isolated_margin is not None:
                    # An isolated margin drained to zero leaves nothing to liquidate: clamp.
                    p.isolated_margin = max(p.isolated_margin + amount, 1e-12)
                else:
                    self.wallet_balance = max(self.wallet_balance + amount, 0.0)
                out.append(FundingPayment(b * self.funding_interval_ns, p.symbol, p.qty, mark, rate, amount))
        self.funding_payments.extend(out)
        return out

    def _liquidate(self) -> list[Liquidation]:
        if not self._positions:
            return []
        report = self.evaluate()
        out: list[Liquidation] = []
        inverse = self._inverse
        cross_hit = False
        for rep in report.positions:
            if not rep.liquidatable:
                continue
            pos = self._positions.pop(rep.symbol)
            price = rep.bankruptcy_price if rep.bankruptcy_price is not None else rep.mark_price
            if pos.mode is MarginMode.ISOLATED:
                # The whole isolated margin is lost, however far the mark gapped.
                pnl = -float(pos.isolated_margin or 0.0)
            else:
                cross_hit = True
                pnl = position_upnl(pos.qty, pos.entry, price, inverse)
            out.append(
                Liquidation(
                    self.now_ns, pos.symbol, pos.qty, price, rep.mark_price, rep.liquidation_price, pos.mode.value, pnl
                )
            )
        if cross_hit:
            self.wallet_balance = 0.0  # the cross margin balance goes to the insurance fund
        self.liquidations.extend(out)
        return out

    def shock(self, symbol: str, drop: float, ticks: int = 10, *, hold: int = 600) -> None:
        """Script a price move from the next tick on: a geometric fall of ``drop`` (a rise when
        negative) over ``ticks`` ticks, then ``hold`` flat ticks (the dashboard demo's button).

        The mark moves with the last price; past ticks are unchanged.
        """
        if symbol not in self._feeds:
            raise InputError(f"symbol must be one of {', '.join(self._feeds)}, was {symbol!r}")
        if not (math.isfinite(drop) and -1.0 < drop < 1.0) or drop == 0.0:
            raise InputError(f"drop must be a fraction in (-1, 1), not 0, was {drop!r}")
        if not isinstance(ticks, int) or ticks < 1:
            raise InputError(f"ticks must be an integer >= 1, was {ticks!r}")
        feed = self._feeds[symbol]
        k = min(self.tick, len(feed) - 1)
        last0, mark0 = feed.at(k)
        path = (1.0 - drop) ** (np.arange(1, ticks + hold + 1) / ticks)
        path[ticks:] = 1.0 - drop
        self._feeds[symbol] = PriceFeed(
            np.concatenate([feed.last[: k + 1], last0 * path]),
            np.concatenate([feed.mark[: k + 1], mark0 * path]),
            start_ns=feed.start_ns,
            tick_ns=feed.tick_ns,
            source=f"{feed.source} + shock {drop:+.0%}",
        )

    def adl(self, symbol: str, qty: float, price: float | None = None) -> AdlEvent:
        """Reduce a position by ``qty`` (> 0, capped to the position) as the venue's ADL would.

        The reduction executes at ``price`` (default: the current mark); its realised PnL goes
        to the cross wallet as for a fill, without fee.  The guardian sees a changed position.
        """
        sym = self._sym(symbol)
        pos = self._positions.get(sym)
        if pos is None:
            raise InputError(f"symbol {symbol!r} has no open position to auto-deleverage")
        if not (math.isfinite(qty) and qty > 0.0):
            raise InputError(f"qty must be > 0, was {qty!r}")
        px = self.marks()[sym] if price is None else float(price)
        closed, pnl = self._reduce(pos, min(qty, abs(pos.qty)), px, fee=0.0)
        event = AdlEvent(self.now_ns, sym, closed, px, pnl)
        self.adl_events.append(event)
        return event

    def _reduce(self, pos: _Pos, qty: float, price: float, *, fee: float) -> tuple[float, float]:
        # Close |qty| of the position at price; return (signed qty closed, realised PnL).
        inverse = self._inverse
        closed = math.copysign(qty, pos.qty)
        pnl = position_upnl(closed, pos.entry, price, inverse)
        share = qty / abs(pos.qty)
        released = 0.0
        remaining = pos.qty - closed
        if abs(remaining) <= 1e-12 * max(abs(pos.qty), 1.0):
            share, remaining = 1.0, 0.0
        if pos.mode is MarginMode.ISOLATED and pos.isolated_margin is not None:
            released = pos.isolated_margin * share
            pos.isolated_margin -= released
        # A gap past bankruptcy cannot make the wallet negative: the insurance fund takes it.
        self.wallet_balance = max(self.wallet_balance + released + pnl - fee, 0.0)
        if remaining == 0.0:
            del self._positions[pos.symbol]
        else:
            pos.qty = remaining
        return closed, pnl

    # -- the Venue protocol
    async def _enter(self, method: str) -> None:
        self.calls[method] += 1
        delay = self.faults.latency(method)
        if delay > 0.0:
            await asyncio.sleep(delay)
        error = self.faults.take(method)
        if error is not None:
            raise error

    async def fetch_positions(self) -> list[VenuePosition]:
        """Open positions with the reported marks and the engine's liquidation prices."""
        await self._enter("fetch_positions")
        report = self.evaluate(reported=True)
        ts = self._reported_ts()
        drift = 1.0 + self.faults.liquidation_price_drift
        out = []
        for rep in report.positions:
            p = self._positions[rep.symbol]
            out.append(
                VenuePosition(
                    symbol=p.symbol,
                    qty=p.qty,
                    entry_price=p.entry,
                    mark_price=rep.mark_price,
                    margin_mode="isolated" if p.mode is MarginMode.ISOLATED else "cross",
                    isolated_margin=p.isolated_margin if p.mode is MarginMode.ISOLATED else None,
                    liquidation_price=None if rep.liquidation_price is None else rep.liquidation_price * drift,
                    leverage=rep.leverage,
                    inverse=self._inverse,
                    timestamp_ns=ts,
                )
            )
        return out

    async def fetch_balance(self) -> VenueBalance:
        """The cross wallet; ``available`` = wallet + cross uPnL - cross initial margin (>= 0)."""
        await self._enter("fetch_balance")
        report = self.evaluate(reported=True)
        cross = [r for r in report.positions if r.margin_mode == "cross"]
        free = self.wallet_balance + math.fsum(r.unrealized_pnl - r.initial_margin for r in cross)
        return VenueBalance(self.model.settlement, self.wallet_balance, max(free, 0.0), self._reported_ts())

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        """Reported marks of ``symbols`` (VenuePermanentError for an unknown symbol)."""
        await self._enter("fetch_marks")
        marks = self.marks(reported=True)
        return {s: marks[self._sym(s)] for s in symbols}

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        """The override tiers, else the rule set's built-in ones, else None."""
        await self._enter("fetch_tiers")
        key = symbol_key(self._sym(symbol))
        table = self._tiers.get(key)
        return table if table is not None else self.model.builtin_tiers.get(self.model.tier_key(key))

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        """The rate per funding interval as a fraction."""
        await self._enter("fetch_funding_rate")
        return self._funding.get(self._sym(symbol), 0.0)

    async def create_order(self, request: OrderRequest) -> OrderState:
        """Fill a reduce-only market order at once (see the class notes)."""
        await self._enter("create_order")
        first = self.orders.get(request.client_order_id)
        if first is not None:
            return first  # duplicate client id: the venue keeps the first order
        sym = self._sym(request.symbol)
        if not request.reduce_only:
            raise VenuePermanentError("paper venue accepts reduce-only orders only, was reduce_only=False")
        if request.side not in ("buy", "sell"):
            raise VenuePermanentError(f"side must be buy or sell, was {request.side!r}")
        qty = float(request.qty)
        if not (math.isfinite(qty) and qty > 0.0):
            raise VenuePermanentError(f"qty must be > 0, was {request.qty!r}")
        pos = self._positions.get(sym)
        if pos is None:
            raise VenuePermanentError(f"reduce-only order on {sym} rejected: no open position")
        if (request.side == "sell") != (pos.qty > 0):
            raise VenuePermanentError(
                f"reduce-only {request.side} on {sym} rejected: it would increase the position {pos.qty!r}"
            )
        qty = min(qty, abs(pos.qty))
        if self.lot_size > 0.0:
            lot = Decimal(repr(self.lot_size))
            qty = float((Decimal(repr(qty)) / lot).to_integral_value(rounding=ROUND_DOWN) * lot)
            if qty <= 0.0:
                raise VenuePermanentError(f"qty {request.qty!r} rounds to 0 at lot size {self.lot_size!r}")
        mark = self.marks()[sym]
        price = mark * (1.0 + self.slippage if request.side == "buy" else 1.0 - self.slippage)
        fee = self.taker_fee * position_notional(qty, price, self._inverse)
        closed, pnl = self._reduce(pos, qty, price, fee=fee)
        self.fills.append(Fill(self.now_ns, sym, request.client_order_id, -closed, price, fee, pnl))
        state = OrderState(
            symbol=sym,
            client_order_id=request.client_order_id,
            status="closed",
            filled=qty,
            average_price=price,
            venue_order_id=f"paper-{len(self.orders) + 1}",
            timestamp_ns=self.now_ns,
        )
        self.orders[request.client_order_id] = state
        if self.faults.crash_after_accept_left > 0:
            self.faults.crash_after_accept_left -= 1
            raise VenueRetryableError(
                f"paper venue: create_order {request.client_order_id!r} timed out after the venue "
                "accepted it (injected)"
            )
        return state

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        """The recorded order with this client id on ``symbol``, or None."""
        await self._enter("fetch_order")
        state = self.orders.get(client_order_id)
        if state is None or symbol_key(state.symbol) != symbol_key(symbol):
            return None
        return state

    async def close(self) -> None:
        """Mark the venue closed (nothing to release)."""
        await self._enter("close")
        self.closed = True
