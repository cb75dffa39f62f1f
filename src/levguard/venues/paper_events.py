"""What the paper venue records: fills, liquidations, ADL, funding payments, order arrivals and
the report of each tick (:class:`levguard.venues.paper.PaperVenue`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["AdlEvent", "Arrival", "ArrivalStatus", "Fill", "FundingPayment", "Liquidation", "StepReport"]


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
    """A position (or part of it) closed by the venue's liquidation engine.

    ``qty`` is the signed size closed; ``price`` the bankruptcy price of a takeover, else the
    fill (the mark); ``realised_pnl`` what the trader's balance changed by (the margin lost on
    a takeover); ``fee`` what the venue took from the remaining equity (liquidation fee or a
    takeover's clearance), ``kept`` the margin left to the trader afterwards (isolated: released
    to the wallet, or left behind the rest of a partially liquidated position).
    """

    ts_ns: int
    symbol: str
    qty: float
    price: float
    mark_price: float
    liquidation_price: float | None
    margin_mode: str
    realised_pnl: float
    fee: float = 0.0
    kept: float = 0.0
    partial: bool = False
    taken_over: bool = True


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
    """A funding settlement: ``amount`` received (> 0) or paid (< 0) by the account at ``rate``
    (on a venue whose funding accrues continuously, the share of the quoted rate the tick covered)."""

    ts_ns: int
    symbol: str
    qty: float
    mark_price: float
    rate: float
    amount: float


ArrivalStatus = Literal["filled", "duplicate", "rejected", "refused"]


@dataclass(frozen=True)
class Arrival:
    """An order reaching the venue (at once, or late with :meth:`Faults.order_latency`).

    ``status`` is ``"filled"``, ``"duplicate"`` (a known client order id: the first order
    stands, nothing fills), ``"rejected"`` (no position to reduce, or the side would increase
    it; a late order's rejection is recorded for ``fetch_order``) or ``"refused"`` (it arrived
    more than the venue's ``order_expiry_s`` after ``sent_ns``: never recorded, as Binance
    refuses a request outside its ``recvWindow``).  ``qty`` is the requested quantity,
    ``filled`` what filled (> 0 only when filled); ``position_before`` and ``position_after``
    the symbol's signed quantity around it; ``late`` tells whether the caller had already been
    told the order timed out.  Times are the venue's clock (UTC ns).
    """

    client_order_id: str
    symbol: str
    side: str
    qty: float
    sent_ns: int
    arrival_ns: int
    status: ArrivalStatus
    filled: float
    price: float | None
    position_before: float
    position_after: float
    late: bool
    reason: str = ""


@dataclass(frozen=True)
class StepReport:
    """What one tick did: the new time and marks, the venue's own actions and the late orders
    that reached it."""

    tick: int
    ts_ns: int
    marks: dict[str, float]
    funding: tuple[FundingPayment, ...]
    liquidations: tuple[Liquidation, ...]
    arrivals: tuple[Arrival, ...] = ()
