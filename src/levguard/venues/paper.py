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
from typing import Any

import numpy as np

from levguard.core.instruments import ContractKind
from levguard.core.margin import AccountReport, builtin_tiers, evaluate, instrument_for
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.rules import get_venue
from levguard.core.symbols import contract_key
from levguard.core.tiers import TierTable
from levguard.core.validate import (
    as_float,
    finite,
    instance_of,
    integer_in,
    non_negative_number,
    number,
    show,
    whole_number,
)
from levguard.errors import InputError, VenueOrderRejectedError, VenuePermanentError, VenueRetryableError
from levguard.kernels.margin import position_notional, position_upnl
from levguard.typing import Float64Array1D
from levguard.venues import paper_liquidation, paper_orders
from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition
from levguard.venues.paper_events import (
    AdlEvent,
    Arrival,
    ArrivalStatus,
    Fill,
    FundingPayment,
    Liquidation,
    StepReport,
)
from levguard.venues.paper_faults import VENUE_METHODS, Faults, OrderDelay
from levguard.venues.paper_feeds import MAX_FEED_TICKS, CrashShape, PriceFeed, crash_feed, scripted_crash

__all__ = [
    "SHOCK_DROP_MIN",
    "VENUE_METHODS",
    "AdlEvent",
    "Arrival",
    "CrashShape",
    "Faults",
    "Fill",
    "FundingPayment",
    "Liquidation",
    "OrderDelay",
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
"""The usual funding interval (00, 08 and 16 UTC); a venue's own is its rule set's."""
BASE_FUNDING_RATE_8H = 0.0001
"""Funding per 8 hours with a zero premium: the interest component of Binance, Bybit, OKX and
Hyperliquid (0.01 % per 8 h; Hyperliquid pays it hourly, 0.00125 % an hour)."""


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


#: Smallest :meth:`PaperVenue.shock` move (a fraction, one basis point): 1e-300 moves no price.
SHOCK_DROP_MIN = 1e-4


class PaperVenue:
    """A simulated exchange account implementing :class:`~levguard.venues.base.Venue`.

    Parameters
    ----------
    name : str
        Margin rule set (:func:`levguard.core.rules.get_venue`), e.g. ``"binance-usdm"``.
    feeds : mapping of symbol -> PriceFeed or array of prices
        One feed per tradable symbol; every position needs one.  All feeds advance together.
    wallet_balance : float
        Cross wallet balance (settlement currency: the feeds' contracts', one for all of them),
        excluding isolated margins.
    positions : list of dict
        ``symbol``, ``qty`` (signed), ``entry`` (or ``entry_price``), optional ``margin_mode``
        (``"cross"`` default, ``"isolated"``), ``isolated_margin`` (default: entry notional /
        leverage as the engine computes it), ``leverage``.
    taker_fee : float
        Fee of every fill as a fraction of its notional.
    slippage_bps : float
        Fill price = mark x (1 + slippage) for buys, mark x (1 - slippage) for sells.
    funding_rate : float or mapping of symbol -> float, optional
        Rate per funding interval (positive: longs pay shorts).  Default: the baseline 0.01 %
        per 8 hours (:data:`BASE_FUNDING_RATE_8H`, the interest component with a zero premium)
        pro rata to the interval, so 0.00125 % per hour on an hourly venue.
    tiers : mapping of symbol -> TierTable or list of tier dicts, optional
        Tier tables replacing the rule set's built-in ones.
    start_ns, tick_ns : int, optional
        Time of tick 0 and tick length (defaults: the first replayed file's, else
        2024-01-01T00:00Z and 60 s).
    funding_interval_ns : int, optional
        Funding is settled when the clock crosses a multiple of it.  Default: the rule set's
        :attr:`~levguard.core.rules.base.VenueModel.funding_interval_hours` (8 h: 00, 08 and
        16 UTC; hourly on Hyperliquid and dYdX v4).  On a venue whose funding accrues
        continuously (:attr:`~levguard.core.rules.base.VenueModel.funding_continuous`: Deribit)
        and with no interval given, every tick pays ``rate x tick / interval``.
    lot_size : float
        Order quantities are rounded down to a multiple of it with ``Decimal`` (0: no rounding).
    faults : Faults, optional
        Fault injection (a fresh, inactive :class:`Faults` by default; also ``venue.faults``).
    order_expiry_s : float, optional
        Seconds after its ``sent_ns`` beyond which an arriving order is refused (Binance's
        ``recvWindow``; reported as ``capabilities.order_expiry_s``).  None: no expiry.

    Notes
    -----
    *Orders.*  Reduce-only market orders only, filled at once at the mark x (1 +/- slippage);
    the quantity is capped to the position (it can close, never increase or flip).  Fee
    ``taker_fee x |qty| x price`` (inverse: ``/ price``); realised PnL
    ``q x (fill - entry)`` (inverse ``q x (1/entry - 1/fill)``), both booked to the cross wallet.
    Reducing an isolated position moves the released share of its margin to the cross wallet
    (with its PnL and fee; never less than 0: a gap past bankruptcy costs the margin at most).
    A cross loss (a fill, an ADL, funding) beyond the cross wallet comes out of the other cross
    positions' PnL, realised at the marks (:func:`~levguard.venues.paper_liquidation.settle_cross_deficit`):
    the equity moves by the fee, the funding paid, nothing else; the insurance fund pays only
    an account whose equity goes below 0, bringing it to 0.
    A client order id seen before returns the first order and fills nothing.  Rejections raise
    :class:`VenuePermanentError` and are not recorded.  An order is final once it reaches the
    venue, so ``cancel_order`` refuses (:class:`VenueOrderRejectedError`, ccxt's ``OrderNotFound``)
    every paper order, and one still on its way, which arrives anyway
    (:func:`~levguard.venues.paper_orders.cancel`; it cancels an order a subclass holds open).

    *Late orders* (:meth:`Faults.order_latency`) reach the venue after a delay in ticks or
    seconds and are handled then, at that moment's mark; a caller that stopped waiting got
    :class:`VenueRetryableError`.  A late order that cannot reduce is recorded as
    ``"rejected"``.  With ``order_expiry_s``, an order arriving more than that after its
    ``OrderRequest.sent_ns`` (when > 0; the venue's clock) is refused silently and never
    recorded: ``fetch_order`` returns None for it forever.  Every order reaching the venue is
    appended to ``arrivals`` (:class:`Arrival`); ``in_flight`` counts those still on the way.

    *Funding* at each boundary: ``payment = -sign(q) x notional(mark) x rate`` (linear
    ``-q x mark x rate``), to the cross wallet (cross, settled as a loss above) or the isolated
    margin (isolated, at least 1e-12 left).

    *Liquidation.*  After funding, every tick evaluates the account with the margin engine
    (:func:`levguard.core.margin.evaluate`, this rule set, cross and isolated).  An isolated
    position is liquidated when its margin balance is at or below its maintenance margin (the
    mark at or past its liquidation price); the cross account when the cross equity is at or
    below the cross maintenance margin.  What the trader keeps is the venue's rule
    (:func:`levguard.core.liquidation_outcome.liquidation_outcome`, docs/margin.md) at the
    current mark.  Takeover venues (Binance, Bybit, OKX, Gate, BitMEX) close the position at
    its *bankruptcy price* (the engine's, or the mark when it reports none), so the trader loses
    the margin behind it: an isolated position's whole isolated margin (the cross wallet is
    untouched); in cross the account is bankrupt, every cross position goes and the cross wallet
    is set to 0 (with one position exactly ``wallet + uPnL(bankruptcy price)``); a gap past the
    bankruptcy price costs no more (the fund absorbs it).  Book venues (Hyperliquid, dYdX,
    Deribit, generic) close at the mark with their liquidation fee and the trader keeps the
    rest (isolated: released to the wallet); Hyperliquid's backstop below 2/3 of the
    maintenance margin is a takeover.  Partial rules apply first: Hyperliquid 20 % slices above
    100k with a 30 s cool-down (on the venue's clock) during which the whole position goes;
    risk-limit step-downs (Bybit, BitMEX, Gate; OKX tier 3+ to tier 1) when the position has
    tiers above the first; Deribit closes just enough to restore the maintenance margin.  Cross
    accounts are worked largest notional first until the maintenance margin is met.

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
        funding_rate: float | Mapping[str, float] | None = None,
        tiers: Mapping[str, TierTable | Sequence[Mapping[str, Any]]] | None = None,
        start_ns: int | None = None,
        tick_ns: int | None = None,
        funding_interval_ns: int | None = None,
        lot_size: float = 0.0,
        faults: Faults | None = None,
        order_expiry_s: float | None = None,
    ) -> None:
        self.model = get_venue(name)
        self.name = self.model.name
        self._inverse = self.model.kind is ContractKind.INVERSE
        self.order_expiry_s = None if order_expiry_s is None else number(order_expiry_s, "order_expiry_s")
        if self.order_expiry_s is not None and not (math.isfinite(self.order_expiry_s) and self.order_expiry_s > 0.0):
            raise InputError(f"order_expiry_s must be a finite number of seconds > 0 or None, was {order_expiry_s!r}")
        self.capabilities = Capabilities(
            leverage_tiers=True,
            funding=True,
            order_expiry_s=self.order_expiry_s,
            notes=("paper venue: simulated fills, time and liquidations",),
        )
        # Types first: a list of feeds, a string fee or positions=[5] were AttributeErrors and TypeErrors.
        if not instance_of(feeds, Mapping, "feeds"):  # type: ignore[type-abstract]
            raise InputError("feeds must hold at least one symbol, was empty")
        taker_fee, slippage_bps, lot_size, wallet_balance = (
            non_negative_number(value, name)
            for name, value in (
                ("taker_fee", taker_fee),
                ("slippage_bps", slippage_bps),
                ("lot_size", lot_size),
                ("wallet_balance", wallet_balance),
            )
        )
        if isinstance(positions, str | bytes) or not isinstance(positions, Sequence):
            raise InputError(f"positions must be a list of position mappings, was {show(positions)}")
        instance_of(tiers or {}, Mapping, "tiers")  # type: ignore[type-abstract]
        if faults is not None:
            instance_of(faults, Faults, "faults")
        self._feeds: dict[str, PriceFeed] = {}
        self._symbols: dict[str, str] = {}  # contract_key -> symbol as given (a perpetual and its futures apart)
        for sym, feed in feeds.items():
            instance_of(sym, str, "feeds key")
            if self.model.kind_for(str(sym)) is not self.model.kind:  # one kind per paper venue
                raise InputError(
                    f"feeds[{sym!r}] is an {self.model.kind_for(str(sym)).value} contract; the paper venue "
                    f"{self.name} trades {self.model.kind.value} ones"
                )
            self._symbols[contract_key(sym)] = sym
            self._feeds[sym] = feed if isinstance(feed, PriceFeed) else PriceFeed.from_path(feed, source=sym)
        # One wallet, so one settlement currency: an inverse contract settles in its base coin
        # (ETHUSD in ETH on Bybit), whatever the rule set's default (BTC).
        settlements = sorted({instrument_for(self.model, str(sym), contract_size=1.0).settlement for sym in feeds})
        if len(settlements) > 1:
            raise InputError(f"feeds settle in different currencies {settlements}; one paper account per currency")
        self.settlement = settlements[0]
        """The wallet's currency: the settlement currency of the feeds' contracts."""
        starts = [f.start_ns for f in self._feeds.values() if f.start_ns is not None]
        start = start_ns if start_ns is not None else starts[0] if starts else DEFAULT_START_NS
        self.start_ns = whole_number(start, "start_ns", -(2**63) + 1, 2**63 - 1)
        lengths = [f.tick_ns for f in self._feeds.values() if f.tick_ns is not None]
        tick = tick_ns if tick_ns is not None else lengths[0] if lengths else DEFAULT_TICK_NS
        self.tick_ns = whole_number(tick, "tick_ns", 1, 2**63 - 1)
        self.funding_continuous = bool(self.model.funding_continuous and funding_interval_ns is None)
        if funding_interval_ns is None:  # the venue's own: hourly on Hyperliquid and dYdX v4
            funding_interval_ns = round(self.model.funding_interval_hours * _HOUR_NS)
        interval: object = funding_interval_ns
        if isinstance(interval, float) and interval.is_integer():
            interval = int(interval)  # 8 * 3600e9 is a whole number of ns
        self.funding_interval_ns = integer_in(interval, "funding_interval_ns", 1, 2**63)
        if not taker_fee < 0.1:  # the liquidation outcomes take a fee fraction in [0, 0.1)
            raise InputError(f"taker_fee must be a fraction in [0, 0.1), was {taker_fee!r}")
        self.taker_fee = float(taker_fee)
        self.slippage = float(slippage_bps) / 10_000.0
        self.lot_size = float(lot_size)
        if funding_rate is None:  # the zero-premium baseline, pro rata to the interval
            funding_rate = BASE_FUNDING_RATE_8H * self.funding_interval_ns / FUNDING_INTERVAL_NS
        rates = funding_rate if isinstance(funding_rate, Mapping) else dict.fromkeys(self._feeds, funding_rate)
        try:
            # Any real number (NumPy's, Decimal, a numeric string from a config), kept as float64.
            self._funding = {self._sym(s): finite(as_float(r, f"funding_rate[{s!r}]"), f"funding_rate[{s!r}]")
                             for s, r in rates.items()}  # fmt: skip
        except VenuePermanentError as exc:
            raise InputError(f"funding_rate: {exc}") from None
        self._tiers: dict[str, TierTable] = {}
        for sym, table in (tiers or {}).items():
            if not isinstance(table, TierTable):
                table = TierTable.from_rows(table, source="paper venue tiers", where=f"tiers[{sym!r}]")
            # OKX, BitMEX: no deduction, so the account spec written from the venue holds none.
            try:
                self._tiers[contract_key(sym)] = self.model.read_tiers(table)
            except InputError as exc:  # tiers by size on a venue that deducts
                raise InputError(f"tiers[{sym!r}]: {exc}") from None
        self.wallet_balance = float(wallet_balance)
        self.faults = faults if faults is not None else Faults()
        self.calls: Counter[str] = Counter()
        """Calls of each protocol method, failed ones included."""
        self.orders: dict[str, OrderState] = {}
        self.arrivals: list[Arrival] = []
        """Every order that reached the venue, in order of arrival (filled, duplicate, rejected, refused)."""
        self.on_arrival: Callable[[Arrival], None] | None = None
        """Called with each :class:`Arrival` as it happens (e.g. to log it with the wall clock)."""
        self._due: list[tuple[int, OrderRequest]] = []  # (arrival tick, request) of tick-delayed orders
        self._travelling: set[asyncio.Task[Arrival]] = set()  # orders delayed in seconds
        self.fills: list[Fill] = []
        self.liquidations: list[Liquidation] = []
        self.adl_events: list[AdlEvent] = []
        self.funding_payments: list[FundingPayment] = []
        # End of the account's partial-liquidation cool-down (ns): Hyperliquid's is the user's, "after a
        # block where any position of a user is partially liquidated" (paper_liquidation._outcome).
        self._partial_until = -1
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
        sym = self._symbols.get(contract_key(symbol))
        if sym is None:
            raise VenuePermanentError(f"symbol must be one of {', '.join(self._feeds)}, was {symbol!r}")
        return sym

    def _add_position(self, raw: Mapping[str, Any], where: str) -> None:
        # Types here; ranges (qty != 0, entry > 0, margins > 0) by core's Position at the first evaluate().
        unknown = set(instance_of(raw, Mapping, where)) - _POSITION_KEYS  # type: ignore[type-abstract]
        if unknown:
            raise InputError(f"{where} has unknown field(s) {sorted(unknown)}; allowed: {sorted(_POSITION_KEYS)}")
        sym = self._symbols.get(contract_key(str(raw.get("symbol"))))
        if sym is None or sym in self._positions:
            raise InputError(f"{where}.symbol has no feed or appears twice, was {raw.get('symbol')!r}")
        try:
            qty, entry = float(raw["qty"]), float(raw.get("entry", raw.get("entry_price")))
            mode = MarginMode(str(raw.get("margin_mode", "cross")).lower())
            iso, lev = (None if raw.get(k) is None else float(raw[k]) for k in ("isolated_margin", "leverage"))
        except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: 10**400
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
    def in_flight(self) -> int:
        """Orders sent with a delay that have not reached the venue yet."""
        return len(self._due) + len(self._travelling)

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
    def _position(self, p: _Pos, mark: float) -> Position:
        return Position(
            instrument=instrument_for(self.model, p.symbol, contract_size=1.0),
            qty=p.qty,
            entry_price=p.entry,
            mark_price=mark,
            margin_mode=p.mode,
            leverage=p.leverage,
            isolated_margin=p.isolated_margin,
            tiers=self._tiers.get(contract_key(p.symbol)),
            taker_fee_rate=self.taker_fee,
        )

    def _account(self, marks: Mapping[str, float]) -> Account:
        positions = tuple(self._position(p, marks[p.symbol]) for p in self._positions.values())
        return Account(venue=self.model.name, wallet_balance=self.wallet_balance, positions=positions)

    def evaluate(self, *, reported: bool = False) -> AccountReport:
        """Evaluate the account with the margin engine at the true (or reported) marks."""
        return evaluate(self._account(self.marks(reported=reported)), self.model)

    def account_spec(self) -> dict[str, Any]:
        """The account as a :func:`levguard.evaluate_account` spec at the true marks (``contract_size`` 1)."""
        marks = self.marks()
        positions: list[dict[str, Any]] = []
        for p in self._positions.values():
            d: dict[str, Any] = {"symbol": p.symbol, "qty": p.qty, "entry_price": p.entry, "contract_size": 1.0}
            d.update(mark_price=marks[p.symbol], margin_mode=p.mode.value, taker_fee_rate=self.taker_fee)
            if p.isolated_margin is not None and p.mode is MarginMode.ISOLATED:
                d["isolated_margin"] = p.isolated_margin
            if p.leverage is not None:
                d["leverage"] = p.leverage
            positions.append(d)
        spec: dict[str, Any] = {"venue": self.name, "wallet_balance": self.wallet_balance, "positions": positions}
        if self._tiers:
            spec["tiers"] = {k: t.to_spec() for k, t in self._tiers.items()}
        return spec

    # -- simulation
    def step_sync(self) -> StepReport:
        """Advance one tick: move the feeds, settle funding, let the orders due at this tick
        arrive, liquidate; return what happened."""
        prev = self.now_ns
        self.tick += 1
        funding = self._settle_funding(prev, self.now_ns)
        due = [req for tick, req in self._due if tick <= self.tick]
        self._due = [(tick, req) for tick, req in self._due if tick > self.tick]
        arrivals = tuple(self._arrive(req, late=True, record_rejection=True) for req in due)
        liquidations = paper_liquidation.liquidate(self)
        if not self.faults.frozen:
            self._reported_tick = self.tick
        return StepReport(self.tick, self.now_ns, self.marks(), tuple(funding), tuple(liquidations), arrivals)

    async def step(self) -> StepReport:
        """Advance one tick (see :meth:`step_sync`)."""
        return self.step_sync()

    def _settle_funding(self, prev_ns: int, now_ns: int) -> list[FundingPayment]:
        # Boundaries b * interval in (prev_ns, now_ns], settled at the new tick's marks; a
        # continuous venue pays the share of the interval the tick covered, at its end.
        out: list[FundingPayment] = []
        if self.funding_continuous:
            stamps, share = [now_ns], (now_ns - prev_ns) / self.funding_interval_ns
        else:
            first, last = prev_ns // self.funding_interval_ns + 1, now_ns // self.funding_interval_ns
            stamps, share = [b * self.funding_interval_ns for b in range(first, last + 1)], 1.0
        marks = self.marks()
        inverse = self._inverse
        for stamp in stamps:
            rows: list[tuple[_Pos, float, float]] = []  # (position, rate, amount moved)
            for p in list(self._positions.values()):
                rate, mark = self._funding.get(p.symbol, 0.0) * share, marks[p.symbol]
                amount = -math.copysign(1.0, p.qty) * position_notional(p.qty, mark, inverse) * rate
                # The payment records what moved, so the records add up to the equity's change (10
                # USDT recorded against 2 paid, a helper's audit).  An isolated margin drained to
                # zero is clamped (nothing left to liquidate).
                if p.mode is MarginMode.ISOLATED and p.isolated_margin is not None:
                    before = p.isolated_margin
                    p.isolated_margin = max(before + amount, 1e-12)
                    amount = p.isolated_margin - before
                else:
                    self.wallet_balance += amount
                rows.append((p, rate, amount))
            # The print's cross payments at once: what is owed beyond the cross wallet comes out
            # of the cross positions' PnL; the fund pays only an insolvent account's deficit,
            # taken off the payers' records.
            covered = paper_liquidation.settle_cross_deficit(self)
            owed = -math.fsum(a for p, _, a in rows if a < 0.0 and p.mode is MarginMode.CROSS)
            keep = 1.0 - min(covered, owed) / owed if owed > 0.0 else 1.0
            for p, rate, amount in rows:
                cross_payer = amount < 0.0 and p.mode is MarginMode.CROSS
                moved = amount * keep if cross_payer else amount
                out.append(FundingPayment(stamp, p.symbol, p.qty, marks[p.symbol], rate, moved))
        self.funding_payments.extend(out)
        return out

    def shock(self, symbol: str, drop: float, ticks: int = 10, *, hold: int = 600) -> None:
        """Script a price move from the next tick on: a geometric fall of ``drop`` (a rise when
        negative) over ``ticks`` ticks, then ``hold`` flat ticks (the dashboard demo's button).

        The mark moves with the last price; past ticks are unchanged (a feed that ran out is held
        at its last prices up to the current tick).
        """
        if not isinstance(symbol, str) or symbol not in self._feeds:  # a list was a TypeError
            raise InputError(f"symbol must be one of {', '.join(self._feeds)}, was {show(symbol)}")
        drop = number(drop, "drop")
        if not (math.isfinite(drop) and -1.0 < drop < 1.0 and abs(drop) >= SHOCK_DROP_MIN):
            raise InputError(
                f"drop must be a fraction in (-1, 1), at least {SHOCK_DROP_MIN:g} away from 0, was {drop!r}"
            )
        ticks = integer_in(ticks, "ticks", 1, MAX_FEED_TICKS)
        hold = integer_in(hold, "hold", 0, MAX_FEED_TICKS)
        feed = self._feeds[symbol]
        k = self.tick
        last0, mark0 = feed.at(k)
        # A feed that ran out holds its last prices: padded with them up to this tick, so that the
        # move starts at the next tick (appended to the end, it was entered part-way, or past).
        pad = max(k + 1 - len(feed), 0)
        path = (1.0 - drop) ** (np.arange(1, ticks + hold + 1) / ticks)
        path[ticks:] = 1.0 - drop
        self._feeds[symbol] = PriceFeed(
            np.concatenate([feed.last[: k + 1], np.full(pad, feed.last[-1]), last0 * path]),
            np.concatenate([feed.mark[: k + 1], np.full(pad, feed.mark[-1]), mark0 * path]),
            start_ns=feed.start_ns,
            tick_ns=feed.tick_ns,
            source=f"{feed.source} + shock {-100 * drop:+.4g}%",  # a fall of 1e-4: -0.01%
        )

    def adl(self, symbol: str, qty: float, price: float | None = None) -> AdlEvent:
        """Reduce a position by ``qty`` (> 0, capped to the position) as the venue's ADL would.

        The reduction executes at ``price`` (default: the current mark); its realised PnL goes
        to the cross wallet as for a fill, without fee (a loss beyond the wallet settled as a
        fill's).  The guardian sees a changed position.
        """
        sym = self._sym(symbol)
        pos = self._positions.get(sym)
        if pos is None:
            raise InputError(f"symbol {symbol!r} has no open position to auto-deleverage")
        qty = number(qty, "qty")
        if not (math.isfinite(qty) and qty > 0.0):
            raise InputError(f"qty must be > 0, was {qty!r}")
        px = self.marks()[sym] if price is None else number(price, "price")
        if not (math.isfinite(px) and px > 0.0):
            raise InputError(f"price must be a finite price > 0, was {price!r}")
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
        isolated = pos.mode is MarginMode.ISOLATED and pos.isolated_margin is not None
        if isolated:
            released = float(pos.isolated_margin or 0.0) * share
            pos.isolated_margin = float(pos.isolated_margin or 0.0) - released
        if remaining == 0.0:
            del self._positions[pos.symbol]
        else:
            pos.qty = remaining
        if isolated:
            # The closed share's margin, PnL and fee; a gap past its bankruptcy price costs no more
            # than the margin (the insurance fund takes the rest; the cross wallet is untouched).
            self.wallet_balance += max(released + pnl - fee, 0.0)
        else:
            # A loss beyond the cross wallet comes out of the other cross positions' PnL; only an
            # insolvent account's deficit is the fund's.
            self.wallet_balance += pnl - fee
            paper_liquidation.settle_cross_deficit(self)
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
        return VenueBalance(self.settlement, self.wallet_balance, max(free, 0.0), self._reported_ts())

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        """Reported marks of ``symbols`` (VenuePermanentError for an unknown symbol)."""
        await self._enter("fetch_marks")
        marks = self.marks(reported=True)
        return {s: marks[self._sym(s)] for s in symbols}

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        """The override tiers, else the rule set's built-in ones, else None."""
        await self._enter("fetch_tiers")
        sym = self._sym(symbol)
        table = self._tiers.get(contract_key(sym))
        return table if table is not None else builtin_tiers(self.model, sym, self.model.kind_for(sym))

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        """The rate per funding interval as a fraction."""
        await self._enter("fetch_funding_rate")
        return self._funding.get(self._sym(symbol), 0.0)

    async def create_order(self, request: OrderRequest) -> OrderState:
        """Fill a reduce-only market order at once, or late with :meth:`Faults.order_latency`
        (see the class notes)."""
        await self._enter("create_order")
        delay = self.faults.take_order_delay()
        if delay is None or delay.immediate:
            return self._answer(self._arrive(request, late=False, record_rejection=False))
        self._validate(request)  # a malformed request fails at once, not on arrival
        cid = request.client_order_id
        if delay.arrive_after_ticks > 0:
            self._due.append((self.tick + delay.arrive_after_ticks, request))
            raise VenueRetryableError(
                f"paper venue: create_order {cid!r} timed out; the order reaches the venue in "
                f"{delay.arrive_after_ticks} tick(s) (injected)"
            )
        task = asyncio.get_running_loop().create_task(self._arrive_after(request, delay))
        self._travelling.add(task)
        task.add_done_callback(self._travelling.discard)
        if delay.times_out:
            await asyncio.sleep(delay.client_timeout_s or 0.0)
            raise VenueRetryableError(
                f"paper venue: create_order {cid!r} timed out after {delay.client_timeout_s:g} s; the order "
                f"reaches the venue {delay.arrive_after_s:g} s after it was sent (injected)"
            )
        # The caller waits; cancelling it (its own timeout) does not stop the order.
        return self._answer(await asyncio.shield(task))

    async def _arrive_after(self, request: OrderRequest, delay: OrderDelay) -> Arrival:
        await asyncio.sleep(delay.arrive_after_s)
        return self._arrive(request, late=delay.times_out, record_rejection=True)

    def _validate(self, request: OrderRequest) -> str:
        # What a venue refuses whatever its state (unknown symbol, not reduce-only, bad side or
        # size); returns the symbol as the venue names it.
        sym = self._sym(request.symbol)
        if not request.reduce_only:
            raise VenueOrderRejectedError("paper venue accepts reduce-only orders only, was reduce_only=False")
        if request.side not in ("buy", "sell"):
            raise VenueOrderRejectedError(f"side must be buy or sell, was {request.side!r}")
        if not (math.isfinite(float(request.qty)) and float(request.qty) > 0.0):
            raise VenueOrderRejectedError(f"qty must be > 0, was {request.qty!r}")
        return sym

    def _answer(self, arrival: Arrival) -> OrderState:
        # The reply to a caller still waiting for its order.
        if arrival.status == "refused":
            raise VenueRetryableError(arrival.reason)  # Binance -1021 (ccxt InvalidNonce): retryable
        if arrival.status == "rejected":
            raise VenueOrderRejectedError(arrival.reason)
        state = self.orders[arrival.client_order_id]
        if arrival.status == "filled" and self.faults.crash_after_accept_left > 0:
            self.faults.crash_after_accept_left -= 1
            raise VenueRetryableError(
                f"paper venue: create_order {arrival.client_order_id!r} timed out after the venue "
                "accepted it (injected)"
            )
        return state

    def _arrive(self, request: OrderRequest, *, late: bool, record_rejection: bool) -> Arrival:
        """Handle an order reaching the venue now; append and return its :class:`Arrival`.

        Order of checks: the order expiry, a known client order id, the request itself, the
        position (reduce-only), then the fill.  A rejection is recorded in ``orders`` only when
        ``record_rejection`` (late orders, whose caller has gone).
        """
        cid = request.client_order_id
        now = self.now_ns
        pos = self._positions.get(self._symbols.get(contract_key(request.symbol), request.symbol))
        before = pos.qty if pos is not None else 0.0

        def arrival(
            status: ArrivalStatus, filled: float = 0.0, price: float | None = None, reason: str = ""
        ) -> Arrival:
            after_pos = self._positions.get(pos.symbol) if pos is not None else None
            a = Arrival(
                client_order_id=cid,
                symbol=request.symbol,
                side=request.side,
                qty=float(request.qty),
                sent_ns=int(request.sent_ns),
                arrival_ns=now,
                status=status,
                filled=filled,
                price=price,
                position_before=before,
                position_after=after_pos.qty if after_pos is not None else 0.0,
                late=late,
                reason=reason,
            )
            self.arrivals.append(a)
            if self.on_arrival is not None:
                self.on_arrival(a)
            return a

        expiry = self.order_expiry_s
        if expiry is not None and request.sent_ns > 0 and now - request.sent_ns > expiry * 1e9:
            age = (now - request.sent_ns) / 1e9
            why = f"order {cid!r} arrived {age:.3f} s after it was sent, beyond the order expiry of {expiry:g} s"
            return arrival("refused", reason=f"{why}: refused, not placed")
        if cid in self.orders:
            return arrival("duplicate", reason=f"client order id {cid!r} is known: the first order stands")
        try:
            sym = self._validate(request)
            qty = paper_orders.reducible(self, request, sym)
        except VenuePermanentError as exc:
            if record_rejection:
                self.orders[cid] = OrderState(
                    symbol=self._symbols.get(contract_key(request.symbol), request.symbol),
                    client_order_id=cid,
                    status="rejected",
                    venue_order_id=f"paper-{len(self.orders) + 1}",
                    timestamp_ns=now,
                )
            return arrival("rejected", reason=str(exc))
        position = self._positions[sym]
        mark = self.marks()[sym]
        price = mark * (1.0 + self.slippage if request.side == "buy" else 1.0 - self.slippage)
        fee = self.taker_fee * position_notional(qty, price, self._inverse)
        closed, pnl = self._reduce(position, qty, price, fee=fee)
        self.fills.append(Fill(now, sym, cid, -closed, price, fee, pnl))
        self.orders[cid] = OrderState(
            symbol=sym,
            client_order_id=cid,
            status="closed",
            filled=qty,
            average_price=price,
            venue_order_id=f"paper-{len(self.orders) + 1}",
            timestamp_ns=now,
        )
        return arrival("filled", qty, price)

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        """The recorded order with this client id on ``symbol``, or None."""
        await self._enter("fetch_order")
        paper_orders.order_ids(client_order_id)
        state = self.orders.get(client_order_id)
        if state is None or contract_key(state.symbol) != contract_key(symbol):
            return None
        return state

    async def cancel_order(self, symbol: str, client_order_id: str, venue_order_id: str | None = None) -> None:
        """Cancel an open order; refused (:class:`VenueOrderRejectedError`) for a final or unknown
        one, which every paper order is (:func:`~levguard.venues.paper_orders.cancel`)."""
        await self._enter("cancel_order")
        paper_orders.cancel(self, symbol, client_order_id, venue_order_id)

    async def close(self) -> None:
        """Mark the venue closed (nothing to release)."""
        await self._enter("close")
        self.closed = True
