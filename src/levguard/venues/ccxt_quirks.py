"""What differs between the exchanges behind ccxt's unified API, for :class:`~levguard.venues.ccxt_adapter.CcxtVenue`.

One home for each exchange's quirks, each checked against ccxt's source (ccxt 4.5) and the
exchange's documentation:

* **Client order ids** (:func:`wire_client_id`, :func:`client_id_params`,
  :func:`reported_client_id`): the format each exchange accepts, the parameter it is sent as and
  where the exchange's answer carries it back.
* **Units** (:func:`contract_size`, :func:`amount_step`): what one unit of ccxt's amounts is.
* **Balances** (:func:`wallet_balance`, :data:`TOTAL_IS_EQUITY`, :data:`TOTAL_HOLDS_ISOLATED`,
  :func:`account_params`): the cross wallet the margin engine takes, where each exchange reports
  it, and the account ccxt must read it from.
* **Signed actions ccxt adds** (:func:`default_options`, :func:`configure`): none is sent but the
  orders and reads levguard asks for.
* **Orders** (:func:`market_slippage`, :func:`order_status`, :func:`is_unknown_order`): the
  price bound a market order needs, the status an answer carries, an answer about no order.
* **Capabilities** (:func:`capabilities_of`): uniform flags from ccxt's static ``has``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from levguard.errors import InputError
from levguard.venues._ccxt_numbers import ccxt_number as _num
from levguard.venues.base import Capabilities

__all__ = [
    "FETCH_BY_CLIENT_ID",
    "TOTAL_HOLDS_ISOLATED",
    "TOTAL_IS_EQUITY",
    "account_params",
    "amount_step",
    "capabilities_of",
    "client_id_params",
    "configure",
    "contract_size",
    "default_options",
    "hyperliquid_wallet",
    "is_unknown_order",
    "market_slippage",
    "order_status",
    "reported_client_id",
    "wallet_balance",
    "wallet_from_info",
    "wire_client_id",
]

FETCH_BY_CLIENT_ID: Mapping[str, str] = {
    "binanceusdm": "origClientOrderId",
    "binancecoinm": "origClientOrderId",
    "binance": "origClientOrderId",
    "okx": "clOrdId",
    "hyperliquid": "clientOrderId",
}
"""How each exchange family looks an order up by its client id: the param ccxt's fetch_order takes."""

# Client order id formats the exchanges accept; ids that do not fit are hashed deterministically.
_CLIENT_ID_FORMATS: Mapping[str, re.Pattern[str]] = {
    "binanceusdm": re.compile(r"[.A-Z:/a-z0-9_-]{1,36}"),  # Binance "New Order": newClientOrderId
    "binancecoinm": re.compile(r"[.A-Z:/a-z0-9_-]{1,36}"),
    "okx": re.compile(r"[A-Za-z0-9]{1,32}"),  # OKX "Place order": clOrdId
    "bybit": re.compile(r"[A-Za-z0-9_-]{1,36}"),  # Bybit v5 "Place Order": orderLinkId
    "hyperliquid": re.compile(r"0x[0-9a-f]{32}"),  # Hyperliquid "Exchange endpoint": 128-bit cloid
    "deribit": re.compile(r".{1,64}"),  # Deribit "private/buy": label
    # Gate APIv4 "Create a futures order": text, "t-" then at most 28 bytes of 0-9 A-Z a-z _ - .;
    # ccxt refuses more than 28 characters in all, the "t-" included: 26 after it.
    "gate": re.compile(r"[0-9A-Za-z_.-]{1,26}"),
}

# The prefix an exchange requires on a client id (Gate's "t-"), sent by levguard itself: ccxt
# gate.create_order prefixes an id that does not start with "t" and gate.parse_order returns the
# prefixed ``text``, so an id sent bare never matched the one read back.
_CLIENT_ID_PREFIX: Mapping[str, str] = {"gate": "t-"}

# The order parameter carrying the client id where ccxt does not map its unified ``clientOrderId``:
# Deribit's ``label`` (``private/buy``, ``private/sell``: "user defined label for the order (maximum
# 64 characters)").  ccxt deribit.create_order forwards unknown params as they are (a
# ``clientOrderId`` reached Deribit under that name) and deribit.parse_order sets
# ``clientOrderId: None``, leaving the ``label`` in ``info``.
_CLIENT_ID_PARAM: Mapping[str, str] = {"deribit": "label"}


def wire_client_id(exchange_id: str, client_order_id: str) -> str:
    """The client order id as sent to ``exchange_id``: the id itself when it fits the exchange's
    format, else a deterministic hash of it (so reconciliation after a restart recomputes the same
    wire id), with the prefix the exchange requires (Gate ``t-``)."""
    if not isinstance(client_order_id, str) or not client_order_id:
        raise InputError(f"client_order_id must be a non-empty string, was {client_order_id!r}")
    prefix = _CLIENT_ID_PREFIX.get(exchange_id, "")
    pattern = _CLIENT_ID_FORMATS.get(exchange_id)
    if pattern is None or pattern.fullmatch(client_order_id):
        return prefix + client_order_id
    digest = hashlib.sha256(client_order_id.encode()).hexdigest()
    if exchange_id == "hyperliquid":
        return "0x" + digest[:32]
    return prefix + "lg" + digest[: 24 if prefix else 30]


def client_id_params(exchange_id: str, wire_id: str) -> dict[str, Any]:
    """The ccxt ``create_order`` params that send ``wire_id`` as the order's client id."""
    return {_CLIENT_ID_PARAM.get(exchange_id, "clientOrderId"): wire_id}


def reported_client_id(exchange_id: str, order: Mapping[str, Any]) -> str | None:
    """The client id of a ccxt order as the exchange sent it back (Deribit: the raw ``label``)."""
    param = _CLIENT_ID_PARAM.get(exchange_id)
    if param is None:
        found = order.get("clientOrderId")
    else:
        info = order.get("info")
        found = info.get(param) if isinstance(info, Mapping) else None
    return str(found) if found not in (None, "") else None


# Exchanges whose ccxt amounts (positions' ``contracts``, orders' ``amount`` and ``filled``) are
# already in position units, whatever the market's ``contractSize``.
_AMOUNTS_IN_POSITION_UNITS = frozenset({"deribit"})


def contract_size(exchange_id: str, market: Mapping[str, Any], position: Mapping[str, Any] | None = None) -> float:
    """Position units (base coin for linear contracts, quote currency for inverse ones) per unit of
    ccxt's amounts on ``exchange_id``: the position's ``contractSize`` where it is a number > 0,
    else the market's, else 1 (an :class:`~levguard.errors.InputError` for a market's that is
    given and not a finite number > 0).

    Notes
    -----
    Deribit: 1.  Its amounts are "in USD units" for perpetuals and inverse futures and "in the
    underlying base currency coin" for options and linear futures (Deribit API, ``private/buy``
    ``amount``, ``public/get_instruments`` ``min_trade_amount``; ccxt ``deribit.create_order``:
    "For perpetual and inverse futures the amount is in USD units"), and ccxt passes them on as
    they are: a position's ``contracts`` is Deribit's ``size``, an order's ``amount`` and ``filled``
    are Deribit's ``amount`` and ``filled_amount``.  The market's ``contractSize`` (Deribit's
    ``contract_size``, 10 USD on BTC-PERPETUAL) is the lot those amounts come in
    (:func:`amount_step`), not a multiplier: multiplied, a 50 USD position read as 500 and an
    order of 1,000 USD was sent as 100.
    """
    if exchange_id in _AMOUNTS_IN_POSITION_UNITS:
        return 1.0
    # A position's size that is not a number > 0 is "not reported" (ccxt_number's rule for 0),
    # so the market's applies; a market's is the instrument's own and refused when bad.
    value = _num((position or {}).get("contractSize"))
    if value is not None and value > 0.0:
        return value
    value = _given_contract_size(market, "market")
    return value if value is not None else 1.0


def _given_contract_size(source: Mapping[str, Any] | None, where: str) -> float | None:
    # ccxt's ``contractSize`` of a market or position: None when absent (a spot market's), else
    # a finite number > 0; 0 or a negative size was read as 1 and sized orders by it.
    raw = (source or {}).get("contractSize")
    if raw is None:
        return None
    value = _num(raw)
    if value is None or not value > 0.0:
        raise InputError(f"{where}['contractSize'] must be a finite number > 0, was {raw!r}")
    return value


def min_amount(exchange_id: str, market: Mapping[str, Any]) -> float:
    """The market's smallest order in position units: the larger of ccxt's ``limits.amount.min``
    and ``limits.market.min`` (ccxt amounts) times :func:`contract_size` (0 when none is given).

    Notes
    -----
    ccxt's unified market structure: ``limits.amount.min`` is the smallest amount an order may
    have, in the market's amount units (contracts on derivatives); :meth:`CcxtVenue.round_qty
    <levguard.venues.ccxt_adapter.CcxtVenue.round_qty>` refuses an order below it.
    """
    # Multiplied as decimals: 0.7 contracts of 0.1 as floats is 0.06999999999999999, which
    # round_qty took back to 0.6999... contracts, truncated below the minimum and refused.
    return float(min_contracts(market) * Decimal(str(contract_size(exchange_id, market))))


def min_contracts(market: Mapping[str, Any]) -> Decimal:
    """The larger of ccxt's ``limits.amount.min`` and ``limits.market.min`` (ccxt amounts; 0 when
    neither is given): the smallest order :meth:`CcxtVenue.round_qty
    <levguard.venues.ccxt_adapter.CcxtVenue.round_qty>` sends and :func:`min_amount` reports."""
    limits = market.get("limits") or {}
    mins = ((limits.get("amount") or {}).get("min"), (limits.get("market") or {}).get("min"))
    return max((Decimal(str(v)) for v in mins if v is not None), default=Decimal(0))


def amount_step(exchange_id: str, market: Mapping[str, Any]) -> Decimal | None:
    """The lot an order amount must be a multiple of beyond ccxt's precision, or None.

    Notes
    -----
    Deribit: the instrument's ``contract_size`` (ccxt ``contractSize``), since an amount is a number
    of contracts times it (``private/buy``: ``amount`` and ``contracts`` "must match each other");
    ccxt's amount precision is the ``min_trade_amount``, which is the minimum, not the lot.
    """
    if exchange_id not in _AMOUNTS_IN_POSITION_UNITS:
        return None
    value = _given_contract_size(market, "market")
    return Decimal(str(value)) if value is not None else None


# Keys of the wallet balance in raw balance answers, the cross wallet first: Binance's
# ``walletBalance`` includes the isolated positions' wallets (``crossWalletBalance`` plus their
# ``isolatedWallet``: USDⓈ-M "Account Information V3"), which the margin engine adds itself.
_WALLET_KEYS = ("crossWalletBalance", "walletBalance", "cashBal")
_CURRENCY_KEYS = ("asset", "coin", "ccy", "currency")

TOTAL_IS_EQUITY = frozenset({"deribit"})
"""Exchanges whose ccxt ``total`` is the equity, with no wallet balance reported apart that the
margin engine can take: the wallet is the equity less the open positions' PnL since their entry
(the adapter reads the positions)."""


TOTAL_HOLDS_ISOLATED = frozenset({"gate"})
"""Exchanges whose wallet (ccxt's ``total``) holds the isolated positions' margins: the cross
wallet is it less those margins (the adapter reads the positions).

Notes
-----
Gate APIv4, "Query futures account" (``GET /futures/{settle}/accounts``): ``total`` is
``SUM(history_dnw, history_pnl, history_fee, history_refr, history_fund)``, the deposits and
realised PnL, unrealised PnL excluded, and ``total = position_margin + order_margin + available``,
so the margins posted to isolated positions are inside it (ccxt gate.fetch_balance's example: a
``total`` of 12.51 equal to its ``position_margin``).  An isolated position's margin is its
``margin`` (ccxt gate.parse_position: ``positionMargin``, and ``collateral`` = ``margin`` +
``unrealised_pnl``); ``leverage`` ``"0"`` is a cross position.  Taken as the cross wallet, a
``total`` of 10,000 with 3,000 posted to an isolated ETH position gave the engine an equity of
13,000 and a BTC cross liquidation price of 50,289 for 53,307.
"""


def account_params(exchange_id: str, settle: str) -> dict[str, Any]:
    """The ccxt ``fetch_balance`` / ``fetch_positions`` params that read the futures account
    settled in ``settle`` on ``exchange_id`` (empty where ccxt's defaults already do).

    Notes
    -----
    Gate: ccxt gate's ``defaultType`` is unset, and gate.fetch_balance without ``type`` reads the
    spot account (``GET /spot/accounts``): the wallet was the spot USDT balance.  ``type: swap``
    reads ``GET /futures/{settle}/accounts``, ``settle`` (ccxt's default ``usdt``) the settlement
    currency's account.  The others read their derivatives account by default (ccxt 4.5):
    binanceusdm ``defaultType`` ``swap`` (fapi), binancecoinm ``swap`` with ``defaultSubType``
    ``inverse`` (dapi), bybit ``swap`` (the unified or contract account), hyperliquid ``swap``
    (``clearinghouseState``), okx the trading account (``/api/v5/account/balance``, whatever its
    ``defaultType``), deribit every currency's account summary.
    """
    if exchange_id == "gate":
        return {"type": "swap", "settle": settle.lower()}
    return {}


def wallet_balance(exchange_id: str, info: object, currency: str) -> float | None:
    """The cross wallet balance of ``currency`` (deposits + realised PnL, without the unrealised PnL
    and the isolated positions' margins, as :func:`levguard.core.spec.account_from_spec` takes it)
    in a raw ccxt balance answer, or None when the answer reports none apart.

    Notes
    -----
    Hyperliquid (ccxt's ``total`` is ``marginSummary.accountValue``, the equity): the account value
    less every position's ``unrealizedPnl`` and the isolated positions' margins
    (:func:`hyperliquid_wallet`).  Elsewhere the wallet fields of :func:`wallet_from_info`.
    """
    if exchange_id == "hyperliquid":
        return hyperliquid_wallet(info)
    return wallet_from_info(info, currency)


def hyperliquid_wallet(info: object) -> float | None:
    """The cross wallet of a Hyperliquid ``clearinghouseState`` answer, None without its summary.

    Notes
    -----
    Hyperliquid API, "Info endpoint / Perpetuals: Retrieve user's perpetuals account summary"
    (``clearinghouseState``): ``marginSummary.accountValue`` is the account's value, the USDC held
    plus every position's unrealised PnL, isolated positions' margins included; each
    ``assetPositions[].position`` has ``unrealizedPnl`` and ``marginUsed`` (an isolated
    position's margin with its PnL: ccxt hyperliquid.parse_position takes ``marginUsed -
    unrealizedPnl`` as its initial margin).  So
    ``wallet = accountValue - sum(cross unrealizedPnl) - sum(isolated marginUsed)``, and the
    engine's equity ``wallet + sum(isolated margins) + sum(unrealised PnL)`` is ``accountValue``.
    A deposit of 5,000 with a long of 1 BTC from 50,000 marked at 60,000 has an account value of
    15,000 and a wallet of 5,000 (ccxt's ``total``, 15,000, was taken as the wallet: the engine
    counted the 10,000 of PnL twice).
    """
    if not isinstance(info, Mapping):
        return None
    summary = info.get("marginSummary")
    value = _num(summary.get("accountValue")) if isinstance(summary, Mapping) else None
    if value is None:
        return None
    for row in info.get("assetPositions") or []:
        pos = row.get("position") if isinstance(row, Mapping) else None
        if not isinstance(pos, Mapping):
            continue
        leverage = pos.get("leverage")
        isolated = isinstance(leverage, Mapping) and str(leverage.get("type")).lower() == "isolated"
        value -= (_num(pos.get("marginUsed")) if isolated else _num(pos.get("unrealizedPnl"))) or 0.0
    return value


def wallet_from_info(info: object, currency: str, depth: int = 0) -> float | None:
    """The wallet balance of ``currency`` in a raw balance answer, None when it reports none apart.

    Searches for ``{asset|coin|ccy: currency, crossWalletBalance|walletBalance|cashBal: x}``
    (Binance ``assets[]``, Bybit ``result.list[].coin[]``, OKX ``data[].details[]``).
    """
    if depth > 5:
        return None
    if isinstance(info, Mapping):
        if any(str(info.get(k, "")).upper() == currency for k in _CURRENCY_KEYS):
            for key in _WALLET_KEYS:
                value = _num(info.get(key))
                if value is not None:
                    return value
        children: list[object] = list(info.values())
    elif isinstance(info, list):
        children = list(info)
    else:
        return None
    for child in children:
        if isinstance(child, Mapping | list):
            found = wallet_from_info(child, currency, depth + 1)
            if found is not None:
                return found
    return None


def default_options(exchange_id: str) -> dict[str, Any]:
    """ccxt options levguard sets on ``exchange_id`` before the caller's own (which win).

    Notes
    -----
    Hyperliquid (ccxt hyperliquid.initialize_client, run before the first order and, with
    credentials, by ``fetch_currencies`` while the markets load): ccxt signs with the account's
    key an ``approveBuilderFee`` for ccxt's builder address (``options["builder"]``, up to
    ``options["feeRate"]`` 0.01 %; then every order carries ``builder`` with ``options["feeInt"]``)
    and a ``setReferrer`` to the code ``CCXT1``.  ``refSet: True`` skips the referrer (ccxt
    hyperliquid.set_ref returns at once).  ``builderFee: False`` makes the builder fee 0, but ccxt
    4.5 still signs the approval (at 0 %) and attaches the builder to every order; :func:`configure`
    stops the approval itself, and without it no order carries a builder
    (``options["approvedBuilderFee"]`` stays False).
    """
    if exchange_id == "hyperliquid":
        return {"builderFee": False, "refSet": True}
    return {}


async def _no_builder_fee_approval() -> bool:
    # Stands in for ccxt hyperliquid.handle_builder_fee_approval: nothing is signed or sent.
    return False


def configure(exchange: Any) -> None:
    """Adjust a ccxt exchange levguard built with :func:`default_options` merged into its options.

    Hyperliquid: unless the caller opted into ccxt's builder fee (``options={"builderFee": True}``)
    or declared an approval of its own (``approvedBuilderFee``), ccxt's builder-fee approval is
    replaced by a no-op, so no ``approveBuilderFee`` is signed with the account's key and no order
    carries ccxt's builder (:func:`default_options`, Notes).
    """
    if str(getattr(exchange, "id", "")) != "hyperliquid":
        return
    options = exchange.options if isinstance(getattr(exchange, "options", None), Mapping) else {}
    if options.get("builderFee") is False and not options.get("approvedBuilderFee"):
        exchange.handle_builder_fee_approval = _no_builder_fee_approval


def market_slippage(exchange: Any) -> str | None:
    """The slippage (a fraction, as ccxt's ``slippage`` param takes it) bounding the price of a
    market order on ``exchange``, None where ccxt sends a market order without a price.

    Notes
    -----
    Hyperliquid has no market orders: ccxt sends an IOC limit order at ``price x (1 + slippage)``
    for a buy, ``price x (1 - slippage)`` for a sell, and raises ``ArgumentsRequired`` ("market
    orders require price to calculate the max slippage price") without a price (ccxt
    hyperliquid.create_order_request; ``params.slippage``, default ``options["defaultSlippage"]``,
    5 %, the default of Hyperliquid's own Python SDK too).  The adapter gives the current mark as
    the price.
    """
    if str(getattr(exchange, "id", "")) != "hyperliquid":
        return None
    options = exchange.options if isinstance(getattr(exchange, "options", None), Mapping) else {}
    value = _num(options.get("defaultSlippage"))
    return str(value if value is not None and 0.0 < value < 1.0 else 0.05)


def order_status(order: Mapping[str, Any]) -> str | None:
    """The status of a ccxt order in lower case, None when the answer carries none.

    Notes
    -----
    Hyperliquid's answer to an order (``/exchange``, ``statuses[]``) carries no status field: an
    IOC order is ``{"filled": {"totalSz", "avgPx", "oid"}}`` (what filled; the rest is cancelled)
    or ``{"error": ...}`` (ccxt: ``rejected``), and ccxt hyperliquid.parse_order reads no status
    from the first.  A filled IOC answer is final: ``closed``.
    """
    status = order.get("status")
    if status not in (None, ""):
        return str(status).lower()
    info = order.get("info")
    if isinstance(info, Mapping) and isinstance(info.get("filled"), Mapping):
        return "closed"
    return None


def is_unknown_order(order: Mapping[str, Any]) -> bool:
    """True when a ccxt order found by its client id carries neither an id nor a status: an answer
    about no order, which must not be read as an open order.

    Notes
    -----
    A guard, not a known case: no exchange levguard supports is known to produce such an order
    through ccxt 4.5.  Hyperliquid answers ``orderStatus`` for an unknown ``oid`` (or cloid) with
    ``{"status": "unknownOid"}`` (Hyperliquid API, "Info endpoint: Query order status by oid or
    cloid"), and ccxt hyperliquid.handle_errors raises ``OrderNotFound`` on it before
    hyperliquid.fetch_order parses anything; the adapter's lookup (``missing_ok``) already took
    that as "never seen".  Only a stub skipping handle_errors yields the all-None order.
    """
    return order.get("id") in (None, "") and order_status(order) is None


def capabilities_of(exchange: Any) -> Capabilities:
    """Derive uniform capability flags (with notes on what is missing) from ccxt's static ``has``."""
    has: Mapping[str, Any] = exchange.has
    ex_id = str(exchange.id)
    notes: list[str] = []
    if not has.get("fetchPositions"):
        notes.append("fetchPositions unsupported: positions cannot be read")
    marks_direct = bool(has.get("fetchMarkPrices"))
    mark_price = marks_direct or bool(has.get("fetchTickers") or has.get("fetchTicker"))
    if not marks_direct and mark_price:
        notes.append("mark prices read from tickers' markPrice (no fetchMarkPrices)")
    if not mark_price:
        notes.append("no mark prices through ccxt")
    tiers = has.get("fetchLeverageTiers") is True or bool(has.get("fetchMarketLeverageTiers"))
    if not tiers:
        notes.append("no leverage tiers through ccxt: levguard's bundled tier tables apply")
    funding = bool(has.get("fetchFundingRate"))
    if not funding:
        notes.append("no current funding rate through ccxt")
    reduce_only = bool(has.get("createOrder")) and bool(has.get("createReduceOnlyOrder", True))
    if not reduce_only:
        notes.append("no reduce-only orders through ccxt: the guardian cannot deleverage")
    by_client = ex_id in FETCH_BY_CLIENT_ID and bool(has.get("fetchOrder"))
    if not by_client:
        if has.get("fetchOpenOrders") or has.get("fetchClosedOrders"):
            by_client = True
            notes.append("orders found by client id by scanning open and closed orders (recent history only)")
        else:
            notes.append("orders cannot be found by client id: restart reconciliation unavailable")
    klines = has.get("fetchOHLCV") is not False
    mark_klines = klines and has.get("fetchMarkOHLCV") is not False
    if not mark_klines:
        notes.append("no mark-price candles through ccxt: forecasts are fitted on last-price candles")
    notes.append("liquidation price as reported by the venue; may be absent (ccxt #14747)")
    if ex_id in _CLIENT_ID_FORMATS and ex_id not in ("deribit",):
        notes.append("client order ids outside the venue's format are sent as a deterministic hash")
    expiry = _order_expiry_s(exchange)
    if expiry is None:
        notes.append("no documented order expiry: an order the venue has not seen is presumed lost after a delay")
    return Capabilities(
        mark_price=mark_price,
        leverage_tiers=tiers,
        funding=funding,
        reduce_only=reduce_only,
        fetch_order_by_client_id=by_client,
        order_expiry_s=expiry,
        klines=klines,
        mark_klines=mark_klines,
        notes=tuple(notes),
    )


#: Venues whose signed requests carry a receive window that ccxt sets from ``options["recvWindow"]``
#: (ms): Binance (USD-M and COIN-M futures: "timestamp + recvWindow < serverTime" is rejected,
#: -1021) and Bybit v5 (``X-BAPI-RECV-WINDOW``, "Timestamp for this request is outside of the
#: recvWindow", 10002).  A request, an order included, arriving later than that is refused.
_RECV_WINDOW_VENUES = frozenset({"binanceusdm", "binancecoinm", "binance", "bybit"})


def _order_expiry_s(exchange: Any) -> float | None:
    """The receive window (seconds) ccxt signs every request of ``exchange`` with, or None.

    Notes
    -----
    Binance Derivatives API, "Timing security" (``recvWindow``, default 5000 ms, at most 60000);
    Bybit v5 API, "Authentication" (``X-BAPI-RECV-WINDOW``, default 5000 ms).  ccxt sends its own
    option value (Binance 10,000 ms, Bybit 5,000 ms in ccxt 4.x), which is the bound in force.
    """
    if str(getattr(exchange, "id", "")) not in _RECV_WINDOW_VENUES:
        return None
    options = getattr(exchange, "options", None)
    window = options.get("recvWindow") if isinstance(options, Mapping) else None
    if isinstance(window, int | float) and not isinstance(window, bool) and 0 < window <= 60_000:
        return float(window) / 1000.0
    return None
