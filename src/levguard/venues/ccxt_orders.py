"""Orders through ccxt for :class:`~levguard.venues.ccxt_adapter.CcxtVenue`: quantities rounded to
a market, the market's largest order, the margin mode an order carries and the status of an answer.

* :func:`round_amount`: a quantity in position units as ccxt's amount, rounded **down** to the
  market's precision, refused outside the market's limits.
* :func:`max_amount`: the market's largest market order in position units (the guardian caps a
  step to it).
* :func:`find_order` / :func:`cancel_order`: an order looked up, or cancelled, by its client id.
* :func:`margin_params`: the order parameter selecting the position by its margin mode (OKX).
* :func:`order_state` / :func:`status_of`: a ccxt order as levguard's
  :class:`~levguard.venues.base.OrderState`; a final status ccxt passes on raw (Gate's
  ``finish_as``, Hyperliquid's ``scheduledCancel``) is mapped, an unknown one is reported as
  such (``OrderState.venue_status``), never silently as an open order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from levguard.errors import InputError, VenueAuthError, VenueError, VenueOrderRejectedError, VenuePermanentError
from levguard.venues._ccxt_numbers import ccxt_number as _num
from levguard.venues.base import OrderState, OrderStatus
from levguard.venues.ccxt_quirks import (
    FETCH_BY_CLIENT_ID,
    amount_step,
    contract_size,
    is_unknown_order,
    min_contracts,
    order_status,
    reported_client_id,
)

__all__ = [
    "cancel_order",
    "find_order",
    "margin_params",
    "max_amount",
    "max_contracts",
    "order_price",
    "order_state",
    "round_amount",
    "status_of",
]

logger = logging.getLogger(__name__)

_KNOWN: Mapping[str, OrderStatus] = {
    "open": "open",
    "closed": "closed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "rejected": "rejected",
    "expired": "expired",
}


def _tick(exchange: Any, market: Mapping[str, Any]) -> Decimal | None:
    # The market's amount step: ccxt's precision.amount in TICK_SIZE mode (4), 10**-digits in
    # DECIMAL_PLACES mode (2); None otherwise (significant digits) or when not given.
    raw = (market.get("precision") or {}).get("amount")
    value = _num(raw)
    if value is None or not value > 0.0:
        return None
    mode = getattr(exchange, "precisionMode", None)
    if mode == 4:
        return Decimal(str(value))
    if mode == 2 and float(value).is_integer():
        return Decimal(1).scaleb(-int(value))
    return None


def max_contracts(market: Mapping[str, Any], exchange_id: str | None = None) -> Decimal | None:
    """The market's largest **market** order in ccxt amounts (contracts): the smallest of ccxt's
    ``limits.market.max`` (Binance ``MARKET_LOT_SIZE`` maxQty), ``limits.amount.max`` and the
    market-order maximum ccxt leaves in ``info`` (:data:`_MARKET_ORDER_MAX`), None when none is
    given.

    Notes
    -----
    The guardian sends market orders, but ccxt's ``limits.amount.max`` is the **limit**-order
    maximum on Gate (``order_size_max``; market orders: ``market_order_size_max``), OKX
    (``maxLmtSz``; ``maxMktSz``) and Bybit (``lotSizeFilter.maxOrderQty``;
    ``lotSizeFilter.maxMktOrderQty``): a step capped to it was refused every cycle (Gate BTC_USDT:
    1,000,000 contracts sent, 300,000 accepted).  All three market fields are in the same unit as
    ccxt's amount (contracts; Bybit linear: base coin, contract size 1; Bybit inverse: USD, as
    ``maxOrderQty``); OKX's ``maxMktSz`` is in contracts for derivatives only (spot: a quote
    amount), so it is read for contract markets only (ccxt ``gate.parse_contract_market``,
    ``okx.parse_market``, ``bybit.fetch_future_markets``; the exchanges' instrument docs).
    """
    limits = market.get("limits") or {}
    candidates: list[object] = [(limits.get("market") or {}).get("max"), (limits.get("amount") or {}).get("max")]
    if exchange_id is not None:
        candidates.append(_info_market_max(exchange_id, market))
    given = [Decimal(str(_num(v))) for v in candidates if _positive(v)]
    return min(given) if given else None


def _info_market_max(exchange_id: str, market: Mapping[str, Any]) -> object:
    # The exchange's own market-order maximum, kept by ccxt in the market's raw info only.
    path = _MARKET_ORDER_MAX.get(exchange_id)
    if path is None or not market.get("contract", True):
        return None
    node: object = market.get("info")
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


# exchange id -> path in the market's ``info`` to its market-order maximum, in ccxt amounts.
_MARKET_ORDER_MAX: Mapping[str, tuple[str, ...]] = {
    "gate": ("market_order_size_max",),
    "gateio": ("market_order_size_max",),
    "okx": ("maxMktSz",),
    "bybit": ("lotSizeFilter", "maxMktOrderQty"),
}


def _positive(value: object) -> bool:
    out = _num(value)
    return out is not None and out > 0.0


def max_amount(exchange_id: str, market: Mapping[str, Any]) -> float | None:
    """The market's largest order in position units (:func:`max_contracts` times the contract
    size, multiplied as decimals so that :func:`round_amount` gives the maximum back), None when
    the market gives none."""
    most = max_contracts(market, exchange_id)
    if most is None:
        return None
    return float(most * Decimal(str(contract_size(exchange_id, market))))


def round_amount(exchange: Any, exchange_id: str, market: Mapping[str, Any], symbol: str, qty: float) -> Decimal:
    """Return ``qty`` (position units, > 0) as ccxt's amount on ``market``, rounded **down** to its
    precision (a reduce step never grows by rounding).

    Notes
    -----
    ccxt's ``amount_to_precision`` truncates on most exchanges but rounds to the nearest on
    Hyperliquid (``hyperliquid.amount_to_precision``: ``ROUND``): 0.123456 BTC became 0.12346.
    Its result is kept when not above the quantity, else the quantity is truncated to the amount
    step (``precision.amount``).  Deribit's amounts are also whole contracts
    (:func:`~levguard.venues.ccxt_quirks.amount_step`).

    Raises
    ------
    InputError
        ``qty`` is not a number > 0.
    VenueOrderRejectedError
        The rounded quantity is 0, below the market's minimum or above its maximum
        (:func:`max_contracts`).
    """
    import ccxt

    try:
        dq = Decimal(str(qty))
    except InvalidOperation:
        raise InputError(f"qty must be a number, was {qty!r}") from None
    if not dq.is_finite() or dq <= 0:
        raise InputError(f"qty must be > 0, was {qty!r}")
    contracts = dq / Decimal(str(contract_size(exchange_id, market)))
    try:
        text = exchange.amount_to_precision(symbol, format(contracts, "f"))
    except ccxt.BaseError:
        text = "0"
    amount = Decimal(text)
    tick = _tick(exchange, market)
    if amount > contracts and tick is not None:  # rounded up (Hyperliquid): down to the step
        amount = (contracts / tick).to_integral_value(rounding=ROUND_DOWN) * tick
    step = amount_step(exchange_id, market)
    if step is not None:  # Deribit: whole contracts of contract_size
        amount = (amount / step).to_integral_value(rounding=ROUND_DOWN) * step
    minimum = min_contracts(market)
    maximum = max_contracts(market, exchange_id)
    if amount <= 0 or amount < minimum:
        raise VenueOrderRejectedError(
            f"{exchange_id} order {symbol} qty {qty!r} rounds to {amount} contracts, "
            f"below the minimum {minimum} (precision {market.get('precision', {}).get('amount')})"
        )
    if maximum is not None and amount > maximum:
        raise VenueOrderRejectedError(
            f"{exchange_id} order {symbol} qty {qty!r} is {amount} contracts, above the maximum {maximum}"
        )
    return amount


def margin_params(exchange_id: str, margin_mode: str | None) -> dict[str, Any]:
    """The ccxt ``create_order`` params that make the order reduce the position of ``margin_mode``.

    Notes
    -----
    OKX selects the position an order trades by its trade mode (``tdMode`` of "Place order":
    ``cross`` or ``isolated``), and ccxt ``okx.create_order_request`` sends
    ``options.defaultMarginMode`` (``cross``) unless ``params`` carry ``marginMode`` (or
    ``tdMode``): a reduce-only order for an isolated position was sent with ``tdMode: cross``
    (ccxt issue #14084), so it did not reduce that position.  Elsewhere nothing (the margin mode is
    the symbol's setting, not the order's).
    """
    if exchange_id == "okx" and margin_mode in ("cross", "isolated"):
        return {"marginMode": margin_mode}
    return {}


async def order_price(venue: Any, symbol: str, what: str) -> float:
    """The current mark of ``symbol`` on ``venue`` (a :class:`~levguard.venues.ccxt_adapter.CcxtVenue`),
    the reference of a market order's price bound (Hyperliquid's IOC limit).

    Raises
    ------
    VenueOrderRejectedError
        No mark could be read: the order is not sent (refused before execution: nothing filled).
    """
    try:
        mark = (await venue.fetch_marks([symbol])).get(symbol)
    except VenueAuthError:
        raise
    except VenueError as exc:
        raise VenueOrderRejectedError(
            f"{venue.exchange_id} {what}: not sent, no mark to bound its price: {exc}"
        ) from None
    if mark is None:
        raise VenueOrderRejectedError(
            f"{venue.exchange_id} {what}: not sent, the venue reported no mark to bound its price"
        )
    return float(mark)


def status_of(exchange_id: str, raw: Mapping[str, Any]) -> tuple[OrderStatus, str | None]:
    """The status of a ccxt order as levguard's, and the venue's own when levguard does not know it.

    A status ccxt maps (``open``, ``closed``, ``canceled``, ``rejected``, ``expired``) is taken;
    no status at all is ``open`` (Hyperliquid's answer for a resting order).  A final status ccxt
    passes on as the venue's text is mapped:

    * Gate futures: ``status: "finished"`` is final (Gate APIv4 "Futures order": ``finish_as``
      says why); ccxt takes ``finish_as`` as the status and maps ``filled``, ``cancelled``,
      ``liquidated``, ``ioc`` only, leaving ``reduce_only``, ``position_closed``, ``reduce_out``,
      ``auto_deleveraged`` and ``stp``.  Such an order is ``closed`` when it filled in full
      (nothing ``left``), else ``canceled`` with what it filled.
    * Hyperliquid: ``scheduledCancel`` (a dead man's switch cancel) is ``canceled``; ccxt maps the
      other ``...Canceled`` and ``...Rejected`` statuses itself.

    Any other status is reported as ``("open", text)``: the order is kept in flight and asked for
    again, alerted, for a bounded time (:func:`levguard.live.inflight.resolve`).
    """
    text = order_status(raw)
    if text is None:
        return "open", None
    known = _KNOWN.get(text)
    if known is not None:
        return known, None
    info = raw.get("info")
    if exchange_id == "gate" and isinstance(info, Mapping) and str(info.get("status")).lower() == "finished":
        filled, remaining = _num(raw.get("filled")), _num(raw.get("remaining"))
        return ("closed" if filled and remaining is not None and remaining == 0.0 else "canceled"), None
    if exchange_id == "hyperliquid" and text == "scheduledcancel":
        return "canceled", None
    return "open", text


def order_state(
    exchange_id: str, raw: Mapping[str, Any], symbol: str, client_order_id: str, market: Mapping[str, Any]
) -> OrderState:
    """A ccxt order as levguard's :class:`~levguard.venues.base.OrderState` (``filled`` in position
    units; the status by :func:`status_of`, an unknown one logged)."""
    size = contract_size(exchange_id, market)
    status, unknown = status_of(exchange_id, raw)
    if unknown is not None:
        logger.warning(
            "%s order %s (%s) has status %r, unknown to levguard: kept open",
            exchange_id,
            client_order_id,
            symbol,
            unknown,
        )
    ts = raw.get("timestamp")
    average = _num(raw.get("average"))
    return OrderState(
        symbol=symbol,
        client_order_id=client_order_id,
        status=status,
        filled=(_num(raw.get("filled")) or 0.0) * size,
        average_price=average if average is not None and average > 0.0 else None,
        venue_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        timestamp_ns=int(ts) * 1_000_000 if isinstance(ts, int | float) and ts > 0 else time.time_ns(),
        venue_status=unknown,
    )


async def find_order(venue: Any, symbol: str, client_order_id: str) -> OrderState | None:
    """The order of :class:`~levguard.venues.ccxt_adapter.CcxtVenue` ``venue`` with this client
    order id, or None when the venue has never seen it.

    Binance, OKX and Hyperliquid are asked directly (``origClientOrderId``, ``clOrdId``,
    ``cloid``: :data:`~levguard.venues.ccxt_quirks.FETCH_BY_CLIENT_ID`); other venues' open and
    closed orders are searched.

    Raises
    ------
    VenuePermanentError
        The venue offers no way to find an order by client id through ccxt.
    """
    market = await venue._market(symbol, "fetch_order")
    wire_id = venue._wire_client_id(client_order_id)
    what = f"fetch_order({symbol} client_order_id={client_order_id})"
    exchange = venue._exchange
    param = FETCH_BY_CLIENT_ID.get(venue.exchange_id)
    if param is not None:
        raw = await venue._call(what, exchange.fetch_order, wire_id, symbol, {param: wire_id}, missing_ok=True)
        if raw is None or is_unknown_order(raw):  # None: OrderNotFound (Binance -2013, HL unknownOid)
            return None
        return order_state(venue.exchange_id, raw, symbol, client_order_id, market)
    has = exchange.has
    if not (has.get("fetchOpenOrders") or has.get("fetchClosedOrders")):
        raise VenuePermanentError(f"{venue.exchange_id} {what}: no way to look orders up by client id")
    for method in ("fetchOpenOrders", "fetchClosedOrders"):
        if not has.get(method):
            continue
        fn = getattr(exchange, "fetch_open_orders" if method == "fetchOpenOrders" else "fetch_closed_orders")
        orders = await venue._call(what, fn, symbol)
        for o in orders or []:
            if reported_client_id(venue.exchange_id, o) == wire_id:
                return order_state(venue.exchange_id, o, symbol, client_order_id, market)
    return None


async def cancel_order(venue: Any, symbol: str, client_order_id: str, venue_order_id: str | None = None) -> None:
    """Cancel the order of ``venue`` (a :class:`~levguard.venues.ccxt_adapter.CcxtVenue`) with this
    client order id; returns once the venue accepted the cancel.

    Where ccxt's ``cancel_order`` takes the client id (Binance ``origClientOrderId``, OKX
    ``clOrdId``, Hyperliquid ``clientOrderId``: the parameter :func:`find_order` asks by) it is
    given; elsewhere the venue's order id (``venue_order_id``, else looked up by
    :func:`find_order`) is cancelled.

    Raises
    ------
    VenuePermanentError
        ccxt cannot cancel orders on the venue, the order is not found (ccxt ``OrderNotFound``:
        not open, or not seen), or the venue refused the cancel.
    VenueError
        Any other failure, classified as :meth:`CcxtVenue._call` does (auth, network...).
    """
    exchange = venue._exchange
    what = f"cancel_order({symbol} client_order_id={client_order_id})"
    if not exchange.has.get("cancelOrder"):
        raise VenuePermanentError(f"{venue.exchange_id} {what}: ccxt cannot cancel orders on this venue")
    await venue._market(symbol, "cancel_order")
    wire_id = venue._wire_client_id(client_order_id)
    param = FETCH_BY_CLIENT_ID.get(venue.exchange_id)
    if param is not None:
        await venue._call(what, exchange.cancel_order, venue_order_id or wire_id, symbol, {param: wire_id})
        return
    if venue_order_id is None:
        found = await find_order(venue, symbol, client_order_id)
        venue_order_id = found.venue_order_id if found is not None else None
    if venue_order_id is None:
        raise VenuePermanentError(f"{venue.exchange_id} {what}: the order's venue id is unknown")
    await venue._call(what, exchange.cancel_order, venue_order_id, symbol, {})
