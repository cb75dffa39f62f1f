"""CcxtVenue orders and markets with the real ccxt library: its own market and order parsers fed
the exchanges' documented payloads (Gate APIv4, Binance exchangeInfo, OKX v5 instruments and
positions, Hyperliquid), only the network calls stubbed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.errors import InputError, VenueOrderRejectedError
from levguard.live import watch
from levguard.venues.base import UNLISTED, OrderRequest
from levguard.venues.ccxt_adapter import RULE_SETS, SETTLE_CURRENCIES, CcxtVenue

_T = TypeVar("_T")


def _run(venue: CcxtVenue, body: Callable[[CcxtVenue], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        try:
            return await body(venue)
        finally:
            await venue.close()

    return asyncio.run(main())


def _venue(
    exchange_id: str, parse: Callable[[Any, dict[str, Any]], Any], raw: list[dict[str, Any]], **kw: Any
) -> CcxtVenue:
    """A venue whose markets are ccxt's own parse of the exchange's ``raw`` instruments."""
    v = CcxtVenue(exchange_id, **kw)
    ex = v._exchange
    ex.set_markets([m for m in (parse(ex, r) for r in raw) if m])
    v._markets_loaded = True
    return v


# --- Gate futures orders finished for a reason ccxt leaves unmapped -----------------------------
# Gate APIv4 "List futures contracts" (ccxt gate.fetch_markets' example): BTC_USDT, 0.0001 BTC.
GATE_CONTRACT = {
    "name": "BTC_USDT", "type": "direct", "quanto_multiplier": "0.0001", "ref_discount_rate": "0",
    "order_price_deviate": "0.5", "maintenance_rate": "0.005", "mark_type": "index", "last_price": "60000",
    "mark_price": "60000", "index_price": "60000", "funding_rate_indicative": "0.0001", "mark_price_round": "0.01",
    "funding_offset": 0, "in_delisting": False, "risk_limit_base": "1000000", "interest_rate": "0.0003",
    "order_price_round": "0.1", "order_size_min": 1, "ref_rebate_rate": "0.2", "funding_interval": 28800,
    "risk_limit_step": "1000000", "leverage_min": "1", "leverage_max": "100", "risk_limit_max": "8000000",
    "maker_fee_rate": "-0.00025", "taker_fee_rate": "0.00075", "funding_rate": "0.002053", "order_size_max": 1000000,
    "funding_next_apply": 1610035200, "short_users": 977, "config_change_time": 1609899548,
    "trade_size": 28530850594, "position_size": 5223816, "long_users": 455, "funding_impact_value": "60000",
    "orders_limit": 50, "trade_id": 10851092, "orderbook_id": 2129638396, "enable_bonus": True,
    "enable_credit": True, "create_time": 1669688556, "funding_cap_ratio": "0.75", "status": "trading",
}  # fmt: skip
# Gate APIv4 "Futures order": a reduce-only IOC market sell of 6,000 contracts (0.6 BTC), finished.
GATE_ORDER = {
    "id": 15675394, "user": 100000, "contract": "BTC_USDT", "create_time": 1546569968.0, "size": -6000,
    "iceberg": 0, "left": 0, "price": "0", "fill_price": "59990.1", "mkfr": "-0.00025", "tkfr": "0.00075",
    "tif": "ioc", "refu": 0, "is_reduce_only": True, "is_close": False, "is_liq": False, "text": "t-lgabc",
    "status": "finished", "finish_time": 1546569968.5, "finish_as": "filled",
}  # fmt: skip
GATE_SYMBOL = "BTC/USDT:USDT"


@pytest.mark.parametrize(
    ("finish_as", "left", "status", "filled"),
    [
        ("filled", 0, "closed", 0.6),
        ("ioc", 2000, "canceled", 0.4),
        ("reduce_only", 6000, "canceled", 0.0),
        ("position_closed", 6000, "canceled", 0.0),
        ("reduce_out", 2000, "canceled", 0.4),
        ("auto_deleveraged", 0, "closed", 0.6),
        ("stp", 6000, "canceled", 0.0),
    ],
)
def test_a_gate_order_finished_for_any_reason_is_final(finish_as: str, left: int, status: str, filled: float) -> None:
    """Gate's ``status: finished`` is final and ``finish_as`` says why; ccxt maps filled, cancelled,
    liquidated and ioc only, passing reduce_only, position_closed, reduce_out, auto_deleveraged and
    stp on raw, which levguard read as "open": the order stayed in flight forever and no later
    step was sent on the symbol (0.8 BTC of a 2 BTC long at ACT, 9 cycles, one order)."""
    v = _venue("gate", lambda ex, r: ex.parse_contract_market(r, "usdt"), [GATE_CONTRACT])
    ex = v._exchange
    raw = ex.parse_order({**GATE_ORDER, "finish_as": finish_as, "left": left})
    state = v._order_state(raw, GATE_SYMBOL, "cid", ex.markets[GATE_SYMBOL])
    assert state.status == status
    assert state.filled == pytest.approx(filled)
    assert state.venue_status is None
    asyncio.run(v.close())


HL_MARKET = {
    "id": "0", "symbol": "BTC/USDC:USDC", "base": "BTC", "quote": "USDC", "settle": "USDC", "baseId": "0",
    "type": "swap", "swap": True, "contract": True, "linear": True, "inverse": False, "contractSize": 1.0,
    "precision": {"amount": 0.00001, "price": 1.0}, "limits": {"amount": {"min": None, "max": None}, "cost": {"min": 10.0}},
    "info": {"name": "BTC", "szDecimals": 5, "maxLeverage": 40}, "active": True, "spot": False,
}  # fmt: skip
HL_ORDER = {
    "order": {
        "coin": "BTC", "side": "A", "limitPx": "57000.0", "sz": "0.0", "oid": 1, "timestamp": 1700000000000,
        "origSz": "0.05", "cloid": "0x0123", "reduceOnly": True, "orderType": "Market", "tif": "FrontendMarket",
    },
    "status": "scheduledCancel", "statusTimestamp": 1700000000000,
}  # fmt: skip


def _hyperliquid() -> CcxtVenue:
    v = CcxtVenue("hyperliquid")
    v._exchange.set_markets([HL_MARKET])
    v._markets_loaded = True
    return v


def test_a_hyperliquid_scheduled_cancel_is_canceled_and_an_unknown_status_is_reported() -> None:
    """Hyperliquid's ``scheduledCancel`` (its dead man's switch) is final; ccxt passes it on raw and
    levguard read it as open.  A status nobody maps is reported as the venue's own (kept open,
    ``venue_status`` set), never silently as an open order."""
    v = _hyperliquid()
    ex = v._exchange
    market = ex.markets[HL_MARKET["symbol"]]
    state = v._order_state(ex.parse_order(HL_ORDER, market), HL_MARKET["symbol"], "cid", market)
    assert state.status == "canceled"
    assert state.venue_status is None
    odd = v._order_state({"id": "7", "status": "pendingNewThing", "filled": 0.01}, HL_MARKET["symbol"], "cid", market)
    assert (odd.status, odd.venue_status, odd.filled) == ("open", "pendingnewthing", 0.01)
    plain = v._order_state({"id": "7", "status": "closed", "filled": 0.01}, HL_MARKET["symbol"], "cid", market)
    assert plain.venue_status is None
    asyncio.run(v.close())


# --- Hyperliquid rounds to the nearest: a reduce step is truncated ------------------------------
@pytest.mark.parametrize(("qty", "expected"), [(0.123456, "0.12345"), (0.0000149, "0.00001"), (0.5, "0.5")])
def test_hyperliquid_quantities_are_rounded_down(qty: float, expected: str) -> None:
    """ccxt's hyperliquid.amount_to_precision rounds to the nearest (ROUND): 0.123456 BTC became
    0.12346 and 0.0000149 became 0.00001 only by luck; round_qty rounds down."""
    assert _run(_hyperliquid(), lambda v: v.round_qty("BTC/USDC:USDC", qty)) == Decimal(expected)


def test_hyperliquid_a_quantity_below_the_step_is_refused_not_rounded_up() -> None:
    """0.000006 BTC was rounded up to 0.00001 (the step): sent larger than asked."""
    with pytest.raises(VenueOrderRejectedError):
        _run(_hyperliquid(), lambda v: v.round_qty("BTC/USDC:USDC", 0.000006))


# --- the minimum, multiplied as decimals ---------------------------------------------------------
def _market(min_contracts: str, size: str, step: str, max_contracts: float | None = None) -> dict[str, Any]:
    return {
        "id": "XUSDT", "symbol": "X/USDT:USDT", "base": "X", "quote": "USDT", "settle": "USDT", "type": "swap",
        "swap": True, "spot": False, "future": False, "option": False, "contract": True, "linear": True,
        "inverse": False, "contractSize": float(size), "active": True,
        "precision": {"amount": float(step), "price": 0.1},
        "limits": {"amount": {"min": float(min_contracts), "max": max_contracts}, "market": {"min": None, "max": None},
                   "cost": {}, "price": {}, "leverage": {}},
    }  # fmt: skip


def test_the_minimum_order_rounds_back_to_the_minimum() -> None:
    """0.7 contracts of 0.1 X: the minimum in position units was 0.7 * 0.1 = 0.06999999999999999 as
    floats, which round_qty took back to 0.6999... contracts, truncated to 0.6 and refused as below
    the minimum: a step raised to the minimum was never sent."""
    v = CcxtVenue("binanceusdm")
    v._exchange.set_markets([_market("0.7", "0.1", "0.1")])
    v._markets_loaded = True

    async def body(v: CcxtVenue) -> tuple[float, Decimal]:
        low = await v.min_order_qty("X/USDT:USDT")
        return low, await v.round_qty("X/USDT:USDT", low)

    low, amount = _run(v, body)
    assert low == 0.07
    assert amount == Decimal("0.7")


_DECIMALS = st.sampled_from(["0.001", "0.01", "0.1", "1", "2", "3", "5", "7", "0.3", "0.7", "0.03", "0.07", "0.009"])
_SIZES = st.sampled_from(["0.0001", "0.001", "0.01", "0.1", "1", "10", "100", "0.3", "0.7", "0.03", "0.2", "0.02"])


@settings(max_examples=60, deadline=None)
@given(minimum=_DECIMALS, size=_SIZES)
def test_property_the_minimum_order_is_always_accepted(minimum: str, size: str) -> None:
    """Whatever the minimum (on the amount grid) and the contract size, the market's minimum order
    in position units rounds back to the minimum in contracts, never below it."""
    v = CcxtVenue("binanceusdm")
    v._exchange.set_markets([_market(minimum, size, minimum)])
    v._markets_loaded = True

    async def body(v: CcxtVenue) -> Decimal:
        return await v.round_qty("X/USDT:USDT", await v.min_order_qty("X/USDT:USDT"))

    assert _run(v, body) == Decimal(minimum)


# --- the market's largest order ------------------------------------------------------------------
# Binance USDⓈ-M exchangeInfo (its documentation's example): BLZUSDT, MARKET_LOT_SIZE maxQty 590119.
BLZ = {
    "symbol": "BLZUSDT", "pair": "BLZUSDT", "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
    "onboardDate": 1598252400000, "status": "TRADING", "maintMarginPercent": "2.5000",
    "requiredMarginPercent": "5.0000", "baseAsset": "BLZ", "quoteAsset": "USDT", "marginAsset": "USDT",
    "pricePrecision": 5, "quantityPrecision": 0, "baseAssetPrecision": 8, "quotePrecision": 8,
    "underlyingType": "COIN", "underlyingSubType": ["STORAGE"], "settlePlan": 0, "triggerProtect": "0.15",
    "filters": [
        {"filterType": "PRICE_FILTER", "maxPrice": "300", "minPrice": "0.0001", "tickSize": "0.0001"},
        {"filterType": "LOT_SIZE", "maxQty": "10000000", "minQty": "1", "stepSize": "1"},
        {"filterType": "MARKET_LOT_SIZE", "maxQty": "590119", "minQty": "1", "stepSize": "1"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200}, {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "MIN_NOTIONAL", "notional": "5.0"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.1500", "multiplierDown": "0.8500", "multiplierDecimal": "4"},
    ],
    "OrderType": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC"], "liquidationFee": "0.010000",
    "marketTakeBound": "0.30",
}  # fmt: skip


def test_the_largest_market_order_is_exposed_and_accepted() -> None:
    """BLZUSDT takes market orders of 590,119 BLZ at most: a step of 694,444 was refused every cycle
    ("above the maximum 590119") and nothing was sent; the maximum is exposed (the guardian caps
    the step to it) and round_qty accepts it."""
    v = _venue("binanceusdm", lambda ex, r: ex.parse_market(r), [BLZ])

    async def body(v: CcxtVenue) -> tuple[float | None, Decimal]:
        most = await v.max_order_qty("BLZ/USDT:USDT")
        assert most is not None
        with pytest.raises(VenueOrderRejectedError, match="above the maximum"):
            await v.round_qty("BLZ/USDT:USDT", 694_444.4)
        return most, await v.round_qty("BLZ/USDT:USDT", most)

    most, amount = _run(v, body)
    assert most == 590_119.0
    assert amount == Decimal(590_119)


def test_the_largest_order_is_in_position_units() -> None:
    """0.5 X per contract, 1,000 contracts at most: 500 X."""
    v = CcxtVenue("binanceusdm")
    v._exchange.set_markets([_market("1", "0.5", "1", max_contracts=1000.0)])
    v._markets_loaded = True
    assert _run(v, lambda v: v.max_order_qty("X/USDT:USDT")) == 500.0


# --- OKX: markets listed after start; the margin mode of the order ------------------------------
# OKX v5 GET /public/instruments (its documentation's example): BTC-USDT-SWAP, 0.01 BTC a contract.
OKX_BTC = {
    "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear", "ctVal": "0.01", "ctValCcy": "BTC",
    "expTime": "", "instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP", "instType": "SWAP", "lever": "100",
    "listTime": "1573557408000", "lotSz": "0.01", "maxIcebergSz": "100000000", "maxLmtAmt": "20000000",
    "maxLmtSz": "100000000", "maxMktAmt": "", "maxMktSz": "12000", "maxStopSz": "12000",
    "maxTriggerSz": "100000000", "maxTwapSz": "100000000", "minSz": "0.01", "optType": "", "quoteCcy": "",
    "settleCcy": "USDT", "state": "live", "stk": "", "tickSz": "0.1", "uly": "BTC-USDT",
}  # fmt: skip
# PEPE-USDT-SWAP: 10,000,000 PEPE a contract, listed after the process loaded its markets.
OKX_PEPE = {
    **OKX_BTC, "instId": "PEPE-USDT-SWAP", "instFamily": "PEPE-USDT", "uly": "PEPE-USDT", "ctVal": "10000000",
    "ctValCcy": "PEPE", "lotSz": "1", "minSz": "1", "tickSz": "0.0000001",
}  # fmt: skip
# OKX v5 GET /account/positions (its documentation's example), a cross short of 150 contracts.
OKX_POSITION = {
    "adl": "1", "availPos": "1", "avgPx": "62000", "cTime": "1619507758793", "ccy": "USDT", "deltaBS": "",
    "deltaPA": "", "gammaBS": "", "gammaPA": "", "imr": "", "instId": "BTC-USDT-SWAP", "instType": "SWAP",
    "interest": "0", "idxPx": "60000", "last": "60000", "lever": "10", "liab": "", "liabCcy": "", "liqPx": "",
    "markPx": "60000", "margin": "", "mgnMode": "cross", "mgnRatio": "", "mmr": "", "notionalUsd": "", "optVal": "",
    "pTime": "1619507761462", "pos": "-150", "posCcy": "", "posId": "307173036051017730", "posSide": "net",
    "thetaBS": "", "thetaPA": "", "tradeId": "109844", "uTime": "1619507761462", "upl": "-0.0049", "uplRatio": "",
    "vegaBS": "", "vegaPA": "",
}  # fmt: skip
PEPE_POSITION = {
    **OKX_POSITION,
    "instId": "PEPE-USDT-SWAP",
    "pos": "50",
    "avgPx": "0.00001",
    "markPx": "0.00001",
    "upl": "0",
}


def _okx(positions: list[dict[str, Any]], listed_on_reload: list[dict[str, Any]]) -> tuple[CcxtVenue, list[int]]:
    """An OKX venue listing BTC-USDT-SWAP; its positions are ccxt's parse of ``positions`` with the
    markets it has at the time; a reload lists ``listed_on_reload`` too.  Returns the venue and the
    list of reloads made."""
    v = _venue("okx", lambda ex, r: ex.parse_market(r), [OKX_BTC])
    ex = v._exchange
    reloads: list[int] = []

    async def load_markets(reload: bool = False, params: Any = None) -> Any:
        reloads.append(1)
        ex.set_markets([ex.parse_market(r) for r in [OKX_BTC, *listed_on_reload]])
        return ex.markets

    async def fetch_positions(symbols: Any = None, params: Any = None) -> list[dict[str, Any]]:
        return [ex.parse_position(p) for p in positions]

    async def fetch_mark_prices(symbols: Any = None, params: Any = None) -> dict[str, Any]:
        ex.market_symbols(symbols)  # ccxt's own check: BadSymbol for any symbol it does not list
        return {s: {"symbol": s, "markPrice": 60000.0} for s in symbols}

    ex.load_markets, ex.fetch_positions, ex.fetch_mark_prices = load_markets, fetch_positions, fetch_mark_prices
    return v, reloads


def test_a_position_in_a_market_listed_after_start_is_read_with_its_contract_size() -> None:
    """50 PEPE-USDT-SWAP contracts of 10,000,000 PEPE were read as 50 PEPE (contract size taken as 1):
    the markets are reloaded and the positions read again with the new market."""
    v, reloads = _okx([OKX_POSITION, PEPE_POSITION], [OKX_PEPE])
    positions = _run(v, lambda v: v.fetch_positions())
    by_symbol = {p.symbol: p.qty for p in positions}
    assert by_symbol == {"BTC/USDT:USDT": pytest.approx(-1.5), "PEPE/USDT:USDT": pytest.approx(500_000_000.0)}
    assert v.left_out == {}
    assert reloads == [1]


def test_a_position_in_a_market_still_unlisted_is_left_out_and_the_others_guarded() -> None:
    """A position whose market stays unknown after a reload is left out (never sized with a contract
    size of 1) and named; the account's other marks are still read (ccxt refused the whole mark
    request for it, BadSymbol, and the whole account went stale every cycle); the markets are
    reloaded at most once per ``markets_reload_s``."""
    v, reloads = _okx([OKX_POSITION, PEPE_POSITION], [])

    async def body(v: CcxtVenue) -> tuple[list[Any], dict[str, float], list[Any]]:
        first = await v.fetch_positions()
        marks = await v.fetch_marks(["BTC/USDT:USDT", "PEPE-USDT-SWAP"])
        return first, marks, await v.fetch_positions()

    first, marks, again = _run(v, body)
    assert [p.symbol for p in first] == [p.symbol for p in again] == ["BTC/USDT:USDT"]
    assert v.left_out == {"PEPE-USDT-SWAP": UNLISTED}
    assert marks == {"BTC/USDT:USDT": 60000.0}
    assert reloads == [1]


def test_a_market_listed_after_start_is_found_for_an_order() -> None:
    """round_qty (and every per-symbol call) on a symbol the loaded markets lack reloads them."""
    v, reloads = _okx([], [OKX_PEPE])
    assert _run(v, lambda v: v.round_qty("PEPE/USDT:USDT", 30_000_000.0)) == Decimal(3)
    assert reloads == [1]


def test_an_unlisted_position_is_named_as_such_in_the_report() -> None:
    setup = SimpleNamespace(venue=SimpleNamespace(settle="USDT"))
    report = watch.mark(setup, {}, {"PEPE-USDT-SWAP": UNLISTED, "BTC/USDC:USDC": "USDC"})  # type: ignore[arg-type]
    assert report["status"] == "partial"
    assert "in markets the venue does not list: PEPE-USDT-SWAP" in report["reason"]
    assert "settled outside the USDT wallet: BTC/USDC:USDC (USDC)" in report["reason"]


@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_an_okx_order_carries_the_positions_margin_mode(mode: str) -> None:
    """OKX selects the position an order trades by its tdMode; ccxt sends options.defaultMarginMode
    ("cross") unless told: the reduce-only order for an isolated position went out with tdMode
    "cross" (ccxt issue #14084) and did not reduce it."""
    v = _venue("okx", lambda ex, r: ex.parse_market(r), [OKX_BTC])
    ex = v._exchange
    captured: dict[str, Any] = {}

    async def create_order(
        symbol: str, type: str, side: str, amount: float, price: Any = None, params: Any = None
    ) -> Any:
        captured.update(ex.create_order_request(symbol, type, side, amount, price, params or {}))
        return {"id": "1", "status": "closed", "filled": amount, "info": {}}

    ex.create_order = create_order
    request = OrderRequest("BTC/USDT:USDT", "sell", 0.5, "abc123", margin_mode=mode)  # type: ignore[arg-type]
    _run(v, lambda v: v.create_order(request))
    assert captured["tdMode"] == mode
    assert captured["sz"] == "50"
    assert captured["reduceOnly"] is True


# --- constructor checks ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"timeout_ms": True}, "timeout_ms"),
        ({"sandbox": "no"}, "sandbox"),
        ({"options": ["x"]}, "options"),
        ({"options": "recvWindow=5000"}, "options"),
        ({"urls": "http://127.0.0.1:1"}, "urls"),
        ({"urls": {"fapiPublic": 5}}, "urls"),
    ],
)
def test_bad_constructor_values_are_input_errors_naming_the_value(kwargs: dict[str, Any], named: str) -> None:
    """timeout_ms=True was a 1 ms timeout and sandbox="no" turned the testnet on; options=["x"] and
    urls="..." raised a bare ValueError from dict.update."""
    with pytest.raises(InputError, match=named):
        CcxtVenue("binanceusdm", **kwargs)


def test_bitmex_is_not_offered_without_a_ccxt_class() -> None:
    """The installed ccxt has no bitmex exchange: RULE_SETS and SETTLE_CURRENCIES no longer list it,
    and asking for it says why."""
    import ccxt

    if hasattr(ccxt, "bitmex"):
        pytest.skip("this ccxt has a bitmex class")
    assert "bitmex" not in RULE_SETS
    assert "bitmex" not in SETTLE_CURRENCIES
    with pytest.raises(InputError, match="no BitMEX exchange"):
        CcxtVenue("bitmex")
