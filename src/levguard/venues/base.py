"""The venue interface the guardian talks to: positions, balances, marks, tiers, reduce-only orders.

Two implementations: :class:`levguard.venues.ccxt_adapter.CcxtVenue` (a real exchange through
async ccxt) and :class:`levguard.venues.paper.PaperVenue` (a simulated exchange driven by a
price feed).  Every method is a coroutine; failures raise :class:`levguard.errors.VenueError`
subclasses, classified as retryable (network, timeouts, rate limits, 5xx) or permanent
(authentication, invalid orders).

Conventions (../shared/ARCHITECTURE.md): quantities are signed (long > 0), in base units for
linear contracts and in quote units (USD) for inverse ones, never in contracts; prices in quote
per base; time as UTC int nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from levguard.core.tiers import TierTable

__all__ = [
    "UNLISTED",
    "Capabilities",
    "Klines",
    "OrderRequest",
    "OrderState",
    "Venue",
    "VenueBalance",
    "VenuePosition",
]

OrderStatus = Literal["open", "closed", "canceled", "rejected", "expired"]

UNLISTED = "unlisted"
"""The settlement currency a venue's ``left_out`` gives a position in a market it does not list
(even after reloading its markets): its contract size, hence its quantity, is unknown."""


@dataclass(frozen=True)
class VenuePosition:
    """One open position as the venue reports it.

    ``qty`` is signed and in position units, the contracts times the contract size (the base coin
    of a linear contract, USD of an inverse one: one 100 USD COIN-M contract is ``qty=100``).
    ``liquidation_price`` is the venue's own figure (None when it reports none: ccxt often does
    not); the guardian computes its own and flags drift between the two.
    """

    symbol: str
    qty: float
    entry_price: float
    mark_price: float
    margin_mode: Literal["isolated", "cross"] = "cross"
    isolated_margin: float | None = None
    liquidation_price: float | None = None
    leverage: float | None = None
    inverse: bool = False
    timestamp_ns: int = 0


@dataclass(frozen=True)
class VenueBalance:
    """The margin wallet: ``wallet_balance`` (deposits + realised PnL, settlement currency) and
    what is free for new margin."""

    currency: str
    wallet_balance: float
    available: float
    timestamp_ns: int = 0


@dataclass(frozen=True)
class OrderRequest:
    """A reduce-only market order: ``qty`` > 0 in the position's units, ``side`` buy or sell.

    ``client_order_id`` is deterministic (derived from the decision) and committed to the
    database before the order is sent, so that a restarted guardian can reconcile it.
    """

    symbol: str
    side: Literal["buy", "sell"]
    qty: float
    client_order_id: str
    reduce_only: bool = True
    sent_ns: int = 0
    """When the guardian sent the order (UTC ns; 0 unknown).  A venue with an order expiry
    (:attr:`Capabilities.order_expiry_s`) refuses an order arriving later than that after it."""
    margin_mode: Literal["isolated", "cross"] | None = None
    """The margin mode of the position the order reduces (None: the venue's default).  A venue
    that selects the position by it (OKX's ``tdMode``) sends it with the order."""


@dataclass(frozen=True)
class OrderState:
    """An order as the venue knows it (``filled`` in the position's units, > 0)."""

    symbol: str
    client_order_id: str
    status: OrderStatus
    filled: float = 0.0
    average_price: float | None = None
    venue_order_id: str | None = None
    timestamp_ns: int = 0
    venue_status: str | None = None
    """The venue's own status when levguard does not know it (``status`` is then ``"open"``: the
    order is asked for again, alerted, for a bounded time: :func:`levguard.live.inflight.resolve`);
    None otherwise."""


@dataclass(frozen=True)
class Klines:
    """Candles of one symbol as a venue gives them: ``rows`` of ``(open_ns, open, high, low, close)``
    in ascending open time (UTC ns), of the ``price`` series asked for (``"last"`` or ``"mark"``)
    and ``timeframe``; ``source`` says where they came from (``"ccxt:binanceusdm fetch_mark_ohlcv
    BTC/USDT:USDT 1h"``)."""

    symbol: str
    price: Literal["last", "mark"]
    timeframe: str
    rows: tuple[tuple[int, float, float, float, float], ...]
    source: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What a venue supports uniformly (the guardian degrades gracefully without the rest)."""

    mark_price: bool = True
    leverage_tiers: bool = False
    funding: bool = False
    reduce_only: bool = True
    fetch_order_by_client_id: bool = True
    order_expiry_s: float | None = None
    """Seconds after which an order sent but not yet arrived can no longer be accepted (Binance's
    ``recvWindow``, 5 s by default; None: the venue documents no such bound).  The guardian treats
    an order the venue has not seen as never arrived only after this, plus a margin."""
    klines: bool = False
    """Last-price candles (``fetch_klines(symbol, price="last")``), e.g. ccxt ``fetchOHLCV``."""
    mark_klines: bool = False
    """Mark-price candles (``fetch_klines(symbol, price="mark")``), e.g. ccxt ``fetchMarkOHLCV``:
    what the guardian's liquidation forecaster is fitted on (the mark triggers liquidations)."""
    notes: tuple[str, ...] = field(default_factory=tuple)


@runtime_checkable
class Venue(Protocol):
    """An exchange account the guardian watches and may deleverage."""

    name: str
    """The margin rule set of the venue (``binance-usdm``, ``bybit-linear``... see
    :func:`levguard.core.rules.get_venue`)."""

    capabilities: Capabilities

    async def fetch_positions(self) -> list[VenuePosition]:
        """Open positions (non-zero quantity)."""
        ...

    async def fetch_balance(self) -> VenueBalance:
        """The margin wallet."""
        ...

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        """Mark prices of ``symbols``."""
        ...

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        """The symbol's maintenance tiers (None when the venue does not publish them here)."""
        ...

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        """The current (next) funding rate per interval, as a fraction (None when unknown)."""
        ...

    async def create_order(self, request: OrderRequest) -> OrderState:
        """Send a reduce-only market order; quantities are rounded to the market's precision."""
        ...

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        """The order with this client order id, or None when the venue has never seen it."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    # Optional (looked up with getattr, not part of the protocol):
    # ``async def cancel_order(symbol, client_order_id, venue_order_id=None) -> None`` cancels an
    # order, raising VenueError when the venue does not (CcxtVenue has it): the guardian cancels an
    # order the venue keeps with a status levguard does not know (levguard.live.inflight).
