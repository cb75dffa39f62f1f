"""CcxtVenue with the real ccxt library on exchanges whose quirks it handles (venues/ccxt_quirks.py):
ccxt's own request building and parsing run; only its generated endpoint methods are replaced by
stubs answering in the exchanges' documented shapes (the examples of ccxt's source)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

import levguard
from levguard.core.rules import get_venue
from levguard.errors import InputError, VenueOrderRejectedError
from levguard.live._support import account_spec
from levguard.venues.base import OrderRequest
from levguard.venues.ccxt_adapter import RULE_SETS, SETTLE_CURRENCIES, CcxtVenue
from levguard.venues.ccxt_quirks import wire_client_id

_T = TypeVar("_T")

Stub = Callable[..., Awaitable[Any]]


def _run(venue: CcxtVenue, body: Callable[[CcxtVenue], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        try:
            return await body(venue)
        finally:
            await venue.close()

    return asyncio.run(main())


# --- Deribit ------------------------------------------------------------------------------------
# public/get_instruments (ccxt deribit.fetch_markets' example): BTC-PERPETUAL, 10 USD contracts.
DERIBIT_PERP = {
    "tick_size": 0.5, "taker_commission": 0.0005, "settlement_period": "perpetual", "settlement_currency": "BTC",
    "quote_currency": "USD", "min_trade_amount": 10.0, "max_liquidation_commission": 0.0075, "max_leverage": 50,
    "maker_commission": 0.0, "kind": "future", "is_active": True, "instrument_name": "BTC-PERPETUAL",
    "future_type": "reversed", "expiration_timestamp": 32503708800000, "creation_timestamp": 1534242287000,
    "counter_currency": "USD", "contract_size": 10.0, "block_trade_commission": 0.0001, "base_currency": "BTC",
}  # fmt: skip
DERIBIT_SYMBOL = "BTC/USD:BTC"
# The linear USDC perpetual (the Deribit contracts levguard's rules model): amounts in BTC.
DERIBIT_LINEAR = {
    **DERIBIT_PERP, "instrument_name": "BTC_USDC-PERPETUAL", "settlement_currency": "USDC", "quote_currency": "USDC",
    "counter_currency": "USDC", "future_type": "linear", "contract_size": 0.001, "min_trade_amount": 0.001,
}  # fmt: skip


def deribit_position(size: float, average: float = 7440.18, mark: float = 7476.65) -> dict[str, Any]:
    """A private/get_positions row (ccxt deribit.fetch_positions' example): ``size`` in USD."""
    return {
        "average_price": average, "delta": 0.006687487, "direction": "buy" if size > 0 else "sell",
        "estimated_liquidation_price": 1.74, "floating_profit_loss": 0, "index_price": 7466.79,
        "initial_margin": 0.000197283, "instrument_name": "BTC-PERPETUAL", "kind": "future", "leverage": 34,
        "maintenance_margin": 0.000143783, "mark_price": mark, "open_orders_margin": 0.000197288,
        "realized_funding": -1e-8, "realized_profit_loss": -9e-9, "settlement_price": mark, "size": size,
        "size_currency": size / mark, "total_profit_loss": 0.000032781,
    }  # fmt: skip


def deribit(
    positions: list[dict[str, Any]],
    sent: list[dict[str, Any]],
    summaries: list[dict[str, Any]] | None = None,
    settle: str | None = None,
    rule_set: str | None = None,
) -> CcxtVenue:
    """A Deribit venue whose endpoints answer with ``positions`` and the account ``summaries`` and
    record the orders ``sent``."""
    venue = CcxtVenue("deribit", api_key="key123456", secret="secret123456", settle=settle, rule_set=rule_set)
    ex = venue._exchange

    async def instruments(params: Any = None) -> Any:
        return {"result": [DERIBIT_PERP, DERIBIT_LINEAR]}

    async def account_summaries(params: Any = None) -> Any:
        return {"result": {"summaries": summaries or []}}

    async def currencies(params: Any = None) -> Any:
        return {"result": [{"currency": "BTC", "currency_long": "Bitcoin", "fee_precision": 4}]}

    async def get_positions(params: Any = None) -> Any:
        return {"result": positions}

    async def order(params: Any = None) -> Any:
        params = dict(params or {})
        sent.append(params)
        amount = float(params["amount"])
        answer = {
            "order_id": f"BTC-{len(sent)}", "order_state": "filled", "amount": amount, "filled_amount": amount,
            "average_price": 7476.0, "instrument_name": "BTC-PERPETUAL", "label": params.get("label", ""),
            "direction": "sell", "creation_timestamp": 1, "last_update_timestamp": 1, "order_type": "market",
        }  # fmt: skip
        history.append(answer)
        return {"result": {"order": answer, "trades": []}}

    async def open_orders(params: Any = None) -> Any:
        return {"result": []}

    async def order_history(params: Any = None) -> Any:
        return {"result": list(history)}

    history: list[dict[str, Any]] = []
    ex.privateGetGetOpenOrdersByInstrument = open_orders
    ex.privateGetGetOrderHistoryByInstrument = order_history
    ex.publicGetGetInstruments = instruments
    ex.publicGetGetCurrencies = currencies
    ex.privateGetGetPositions = get_positions
    ex.privateGetGetAccountSummaries = account_summaries
    ex.privateGetBuy = order
    ex.privateGetSell = order
    return venue


def test_deribit_amounts_are_position_units_not_contracts() -> None:
    """ccxt's Deribit amounts are USD for perpetuals and inverse futures (Deribit's own ``size`` and
    ``amount``); multiplied by the 10 USD contract size, a 50 USD position read as 500, an order of
    1,000 USD was sent as 100 and closing the 50 USD position was refused (rounds to 0).  (The
    ``deribit`` rules model the USDC perpetuals only: the BTC wallet is read with another rule set.)"""
    sent: list[dict[str, Any]] = []
    venue = deribit([deribit_position(50.0)], sent, settle="BTC", rule_set="generic")

    async def body(v: CcxtVenue) -> Any:
        positions = await v.fetch_positions()
        closing = await v.create_order(OrderRequest(DERIBIT_SYMBOL, "sell", 50.0, "c1"))
        large = await v.create_order(OrderRequest(DERIBIT_SYMBOL, "sell", 1_000.0, "c2"))
        odd = await v.round_qty(DERIBIT_SYMBOL, 55.0)
        with pytest.raises(VenueOrderRejectedError, match="below the minimum 10"):
            await v.round_qty(DERIBIT_SYMBOL, 5.0)
        return positions, closing, large, odd

    positions, closing, large, odd = _run(venue, body)
    assert [(p.qty, p.inverse) for p in positions] == [(50.0, True)]
    assert [s["amount"] for s in sent] == ["50", "1000"]
    assert (closing.filled, large.filled) == (50.0, 1_000.0)
    assert odd == 50  # whole 10 USD contracts: 55 rounds down to 50


def test_deribit_wallet_is_the_equity_less_the_open_futures_pnl_since_entry() -> None:
    """Deribit's daily settlement books the session PnL into ``balance`` while the position keeps its
    average price, and ccxt's ``total`` is the ``equity``: taken as the wallet, the engine added the
    PnL again (equity 13,000 for the venue's 11,500).  10,000 USDC deposited; long 0.5 BTC from
    60,000, settled at 62,000 (+1,000 booked: balance 11,000), marked at 63,000 (session +500)."""
    linear = {
        **deribit_position(0.5, average=60_000.0, mark=63_000.0), "instrument_name": "BTC_USDC-PERPETUAL",
        "settlement_price": 62_000.0, "floating_profit_loss": 500.0, "total_profit_loss": 1_500.0,
    }  # fmt: skip
    inverse = deribit_position(50.0)  # settled in BTC: not in the USDC wallet
    summary = {
        "currency": "USDC", "balance": 11_000.0, "equity": 11_500.0, "session_upl": 500.0, "session_rpl": 0.0,
        "available_funds": 11_000.0, "maintenance_margin": 300.0, "initial_margin": 1_500.0, "margin_balance": 11_500.0,
    }  # fmt: skip
    btc = {**summary, "currency": "BTC", "balance": 0.2, "equity": 0.2, "session_upl": 0.0, "available_funds": 0.2}
    btc.update(maintenance_margin=0.0, initial_margin=0.0, margin_balance=0.2)
    venue = deribit([linear, inverse], [], [summary, btc])  # the default wallet: USDC

    async def body(v: CcxtVenue) -> Any:
        return await v.fetch_balance(), await v.fetch_positions()

    balance, positions = _run(venue, body)
    assert (venue.settle, balance.currency, balance.wallet_balance) == ("USDC", "USDC", pytest.approx(10_000.0))
    # The BTC-PERPETUAL is margined by the BTC wallet: left out and named, not evaluated against USDC.
    assert [p.symbol for p in positions] == ["BTC/USDC:USDC"]
    assert venue.left_out == {DERIBIT_SYMBOL: "BTC"}
    report = levguard.evaluate_account(account_spec("deribit", balance, positions, {"BTC/USDC:USDC": 63_000.0}))
    assert report.equity == pytest.approx(11_500.0)  # the venue's equity
    # With the BTC wallet (the old default) the equity was 1,500.2 and the liquidation price 60,607
    # (4 % under the mark); the USDC wallet's is 40,405.
    assert report.positions[0].liquidation_price == pytest.approx(40_405.06, abs=0.01)


@pytest.mark.parametrize(
    ("exchange", "settle", "match"),
    [
        ("deribit", "BTC", r"settle must be USDC for rule set 'deribit' \(the contracts its rules model\), was 'BTC'"),
        ("hyperliquid", "USDT", r"settle must be USDC for rule set 'hyperliquid'"),
        ("deribit", "US DC", r"settle must be a currency code such as USDC, was 'US DC'"),
        ("deribit", "", r"settle must be a currency code"),
    ],
)
def test_settle_must_be_one_the_rule_set_models(exchange: str, settle: str, match: str) -> None:
    """Deribit's rules model its linear USDC perpetuals (inverse ones are refused), Hyperliquid's
    and dYdX's USDC only: another wallet gave numbers for contracts the rules do not describe."""
    with pytest.raises(InputError, match=match):
        CcxtVenue(exchange, settle=settle)


def test_default_settlement_of_every_exchange_is_one_its_rules_model() -> None:
    import ccxt

    for exchange, settle in SETTLE_CURRENCIES.items():
        model = get_venue(RULE_SETS[exchange])
        assert not model.settlements or settle in model.settlements, exchange
        if exchange in ccxt.exchanges:  # ccxt 4.5.90 lists no bitmex
            assert CcxtVenue(exchange).settle == settle
    assert CcxtVenue("deribit", settle="usdc").settle == "USDC"
    assert CcxtVenue("okx", settle="BTC").settle == "BTC"  # OKX lists both kinds: its rules take either


# --- Hyperliquid --------------------------------------------------------------------------------
HL_SYMBOL = "BTC/USDC:USDC"
HL_MARKETS = [
    {
        "id": "0", "symbol": HL_SYMBOL, "base": "BTC", "quote": "USDC", "settle": "USDC", "baseId": 0,
        "quoteId": "USDC", "settleId": "USDC", "type": "swap", "spot": False, "swap": True, "future": False,
        "option": False, "contract": True, "linear": True, "inverse": False, "contractSize": 1.0,
        "precision": {"amount": 0.00001, "price": 0.1}, "limits": {"amount": {"min": None, "max": None},
        "leverage": {"max": 40}}, "info": {"name": "BTC", "szDecimals": 5, "maxLeverage": 40}, "baseName": "BTC",
    },
    {
        "id": "1", "symbol": "ETH/USDC:USDC", "base": "ETH", "quote": "USDC", "settle": "USDC", "baseId": 1,
        "quoteId": "USDC", "settleId": "USDC", "type": "swap", "spot": False, "swap": True, "future": False,
        "option": False, "contract": True, "linear": True, "inverse": False, "contractSize": 1.0,
        "precision": {"amount": 0.0001, "price": 0.01}, "limits": {"amount": {"min": None, "max": None},
        "leverage": {"max": 25}}, "info": {"name": "ETH", "szDecimals": 4, "maxLeverage": 25}, "baseName": "ETH",
    },
]  # fmt: skip


def hl_position(coin: str, szi: float, entry: float, mark: float, mode: str, margin_used: float) -> dict[str, Any]:
    """An ``assetPositions`` row of ``clearinghouseState`` (ccxt hyperliquid.parse_position's example)."""
    upnl = szi * (mark - entry)
    return {
        "position": {
            "coin": coin, "cumFunding": {"allTime": "0", "sinceChange": "0", "sinceOpen": "0"}, "entryPx": str(entry),
            "leverage": {"type": mode, "value": 20}, "liquidationPx": None, "marginUsed": str(margin_used),
            "maxLeverage": 40, "positionValue": str(abs(szi) * mark), "returnOnEquity": "0", "szi": str(szi),
            "unrealizedPnl": str(upnl),
        },
        "type": "oneWay",
    }  # fmt: skip


def hyperliquid(
    state: dict[str, Any], exchange_actions: list[dict[str, Any]] | None = None, marks: dict[str, float] | None = None
) -> CcxtVenue:
    """A Hyperliquid venue whose info endpoint answers with the ``clearinghouseState`` ``state``
    and the tickers' ``marks``, and whose exchange endpoint records the signed actions."""
    venue = CcxtVenue("hyperliquid", api_key="0x" + "1" * 40, secret="0x" + "2" * 64)
    ex = venue._exchange
    ex.set_markets(HL_MARKETS)
    venue._markets_loaded = True

    async def info(params: Any = None) -> Any:
        kind = (params or {}).get("type")
        if kind == "userAbstraction":
            return "default"
        if kind == "clearinghouseState":
            return state
        raise AssertionError(f"unexpected info request {params!r}")

    async def tickers(symbols: Any = None, params: Any = None) -> Any:
        return {sym: {"symbol": sym, "markPrice": mark} for sym, mark in (marks or {}).items()}

    ex.publicPostInfo = info
    ex.fetch_tickers = tickers
    if exchange_actions is not None:

        async def exchange(params: Any = None) -> Any:
            action = dict((params or {}).get("action") or {})
            exchange_actions.append(action)
            if action.get("type") != "order":
                return {"status": "ok", "response": {"type": "default"}}
            order = action["orders"][0]
            filled = {"totalSz": order["s"], "avgPx": "59990.0", "oid": 77}
            return {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"filled": filled}]}}}

        ex.privatePostExchange = exchange
    return venue


def test_hyperliquid_wallet_is_the_account_value_less_the_pnl() -> None:
    """ccxt's ``total`` is ``marginSummary.accountValue``, the equity: taken as the wallet, the engine
    added the PnL again.  5,000 deposited, long 1 BTC from 50,000 marked at 60,000: the account value
    is 15,000; the engine had a wallet of 15,000, an equity of 25,000 and a liquidation price of
    35,443 (45,570 with the right wallet)."""
    summary = {
        "accountValue": "15000.0",
        "totalMarginUsed": "1500.0",
        "totalNtlPos": "60000.0",
        "totalRawUsd": "-45000.0",
    }
    state = {
        "assetPositions": [hl_position("BTC", 1.0, 50_000.0, 60_000.0, "cross", 1_500.0)],
        "crossMaintenanceMarginUsed": "750.0", "crossMarginSummary": summary, "marginSummary": summary,
        "time": "1704261007014", "withdrawable": "13500.0",
    }  # fmt: skip
    venue = hyperliquid(state)

    async def body(v: CcxtVenue) -> Any:
        return await v.fetch_balance(), await v.fetch_positions()

    balance, positions = _run(venue, body)
    assert balance.wallet_balance == pytest.approx(5_000.0)
    report = levguard.evaluate_account(account_spec(venue.name, balance, positions, {HL_SYMBOL: 60_000.0}))
    assert report.equity == pytest.approx(15_000.0)
    assert report.positions[0].liquidation_price == pytest.approx(45_569.62, abs=0.01)


def test_hyperliquid_isolated_margins_are_not_in_the_cross_wallet() -> None:
    """An isolated position's ``marginUsed`` (its margin and its PnL) is in the account value; the
    wallet leaves it out, and the engine's equity (wallet + isolated margins + PnL) is the value."""
    btc = hl_position("BTC", 1.0, 50_000.0, 60_000.0, "cross", 1_500.0)  # +10,000
    eth = hl_position("ETH", -10.0, 3_000.0, 3_100.0, "isolated", 500.0)  # -1,000 on a 1,500 margin
    state = {
        "assetPositions": [btc, eth],
        "crossMarginSummary": {"accountValue": "15000.0", "totalMarginUsed": "1500.0"},
        "marginSummary": {"accountValue": "15500.0", "totalMarginUsed": "2000.0"},
        "crossMaintenanceMarginUsed": "750.0", "time": "1704261007014", "withdrawable": "13000.0",
    }  # fmt: skip
    venue = hyperliquid(state)

    async def body(v: CcxtVenue) -> Any:
        return await v.fetch_balance(), await v.fetch_positions()

    balance, positions = _run(venue, body)
    assert balance.wallet_balance == pytest.approx(5_000.0)  # 15,500 - 10,000 - 500
    assert {p.symbol: p.isolated_margin for p in positions}["ETH/USDC:USDC"] == pytest.approx(1_500.0)
    marks = {HL_SYMBOL: 60_000.0, "ETH/USDC:USDC": 3_100.0}
    report = levguard.evaluate_account(account_spec(venue.name, balance, positions, marks))
    assert report.equity == pytest.approx(15_500.0)  # the account value


def test_hyperliquid_signs_no_builder_fee_approval_and_no_referrer() -> None:
    """ccxt's Hyperliquid signs, with the account's key and before the first order, an
    ``approveBuilderFee`` for ccxt's builder (up to 0.01 % of every fill) and a ``setReferrer``
    (code CCXT1), then attaches the builder to every order.  The adapter turns both off: the
    exchange endpoint sees the order and nothing else."""
    actions: list[dict[str, Any]] = []
    venue = hyperliquid({}, actions)

    async def body(v: CcxtVenue) -> Any:
        params = {"reduceOnly": True, "clientOrderId": "0x" + "ab" * 16}
        return await v._exchange.create_order(HL_SYMBOL, "market", "sell", 0.1, 60_000.0, params)

    _run(venue, body)
    assert [a.get("type") for a in actions] == ["order"]
    assert "builder" not in actions[0]
    opted_in = CcxtVenue("hyperliquid", options={"builderFee": True})  # the caller's choice stands
    assert "handle_builder_fee_approval" not in vars(opted_in._exchange)


def test_hyperliquid_market_orders_are_bounded_at_the_mark() -> None:
    """ccxt sends a Hyperliquid market order as an IOC limit at ``price`` -/+ the slippage and needs
    the price: without one every order failed (ArgumentsRequired, left in flight).  The current
    mark is given with ccxt's default 5 %: a reduce-only sell of 0.1 at a mark of 60,000 is an IOC
    at 57,000, and its filled answer is final."""
    actions: list[dict[str, Any]] = []
    venue = hyperliquid({}, actions, marks={HL_SYMBOL: 60_000.0})

    async def body(v: CcxtVenue) -> Any:
        state = await v.create_order(OrderRequest(HL_SYMBOL, "sell", 0.1, "acct-BTC-1"))
        with pytest.raises(VenueOrderRejectedError, match="not sent, the venue reported no mark"):
            await v.create_order(OrderRequest("ETH/USDC:USDC", "buy", 1.0, "acct-ETH-1"))
        return state

    state = _run(venue, body)
    (order,) = actions[0]["orders"]
    assert (order["b"], order["p"], order["s"], order["r"], order["t"]) == (
        False,
        "57000",
        "0.1",
        True,
        {"limit": {"tif": "Ioc"}},
    )
    assert order["c"] == venue._wire_client_id("acct-BTC-1")
    assert (state.status, state.filled, state.average_price, state.venue_order_id) == ("closed", 0.1, 59_990.0, "77")
    assert len(actions) == 1  # the ETH order without a mark was not sent


def test_hyperliquid_unknown_order_is_not_found() -> None:
    """Hyperliquid answers an unknown cloid with ``{"status": "unknownOid"}``, on which ccxt
    hyperliquid.handle_errors raises ``OrderNotFound``: the adapter's lookup takes it as never
    seen (None); a known order is read.  Served over HTTP, so the answer goes through ccxt's
    ``fetch`` and ``handle_errors`` as the exchange's would (a stub of ``publicPostInfo`` skips
    them and yields an all-None order ccxt never produces)."""
    from aiohttp import web

    known = wire_client_id("hyperliquid", "acct-BTC-2")
    answer = {
        "order": {
            "coin": "BTC", "side": "A", "limitPx": "57000.0", "sz": "0.0", "oid": 78, "timestamp": 1_700_000_000_000,
            "origSz": "0.1", "cloid": known, "reduceOnly": True, "orderType": "Limit", "tif": "Ioc",
        },
        "status": "filled",
        "statusTimestamp": 1_700_000_000_001,
    }  # fmt: skip
    asked: list[str] = []

    async def info(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("type") != "orderStatus":
            return web.json_response("default")  # userAbstraction
        asked.append(body["oid"])
        return web.json_response(
            {"status": "order", "order": answer} if body["oid"] == known else {"status": "unknownOid"}
        )

    async def main() -> Any:
        app = web.Application()
        app.router.add_post("/info", info)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        venue = CcxtVenue(
            "hyperliquid", api_key="0x" + "1" * 40, secret="0x" + "2" * 64, urls={"public": url, "private": url}
        )
        venue._exchange.set_markets(HL_MARKETS)
        venue._markets_loaded = True
        try:
            return await venue.fetch_order(HL_SYMBOL, "acct-BTC-1"), await venue.fetch_order(HL_SYMBOL, "acct-BTC-2")
        finally:
            await venue.close()
            await runner.cleanup()

    unknown, found = asyncio.run(main())
    assert asked == [wire_client_id("hyperliquid", "acct-BTC-1"), known]  # both went over HTTP
    assert unknown is None
    assert found is not None
    assert (found.status, found.filled, found.venue_order_id) == ("closed", 0.1, "78")


def test_deribit_client_ids_are_sent_and_found_as_labels() -> None:
    """Deribit names a client id ``label``; ccxt forwarded the unified ``clientOrderId`` as it was
    and parses no client id back, so an order was never found by its id (a timed-out order that
    filled was taken as never arrived, and could be sent again)."""
    sent: list[dict[str, Any]] = []
    venue = deribit([deribit_position(50.0)], sent)

    async def body(v: CcxtVenue) -> Any:
        await v.create_order(OrderRequest(DERIBIT_SYMBOL, "sell", 1_000.0, "lg2778b71044db570e9667"))
        return await v.fetch_order(DERIBIT_SYMBOL, "lg2778b71044db570e9667"), await v.fetch_order(DERIBIT_SYMBOL, "x")

    found, missing = _run(venue, body)
    assert sent[0]["label"] == "lg2778b71044db570e9667"
    assert "clientOrderId" not in sent[0]
    assert found is not None
    assert (found.status, found.filled, found.venue_order_id) == ("closed", 1_000.0, "BTC-1")
    assert missing is None


# --- Gate ---------------------------------------------------------------------------------------
GATE_SYMBOL = "BTC/USDT:USDT"
GATE_MARKET = {
    "id": "BTC_USDT", "symbol": GATE_SYMBOL, "base": "BTC", "quote": "USDT", "settle": "USDT", "baseId": "BTC",
    "quoteId": "USDT", "settleId": "usdt", "type": "swap", "spot": False, "margin": False, "swap": True,
    "future": False, "option": False, "contract": True, "linear": True, "inverse": False, "contractSize": 0.0001,
    "precision": {"amount": 1.0, "price": 0.1}, "limits": {"amount": {"min": 1, "max": 1000000},
    "market": {"min": None, "max": None}}, "info": {},
}  # fmt: skip


def gate(sent: list[dict[str, Any]]) -> CcxtVenue:
    """A Gate USDT futures venue whose order endpoints record the orders ``sent`` and list them."""
    venue = CcxtVenue("gate", api_key="key123456", secret="secret123456")
    ex = venue._exchange
    ex.set_markets([GATE_MARKET])
    venue._markets_loaded = True

    async def detail(params: Any = None) -> Any:
        return {"user_id": 1, "key": {"mode": 1}}

    async def post_order(params: Any = None) -> Any:
        params = dict(params or {})
        sent.append(params)
        order = {
            "id": 100 + len(sent), "contract": "BTC_USDT", "size": params["size"], "left": 0, "fill_price": "60000",
            "status": "finished", "finish_as": "filled", "text": params.get("text"), "create_time": 1700000000.0,
            "is_reduce_only": True, "tif": "ioc", "price": "0",
        }  # fmt: skip
        book.append(order)
        return order

    async def list_orders(params: Any = None) -> Any:
        return [o for o in book if o["status"] == (params or {}).get("status")]

    book: list[dict[str, Any]] = []
    ex.privateAccountGetDetail = detail
    ex.privateFuturesPostSettleOrders = post_order
    ex.privateFuturesGetSettleOrders = list_orders
    return venue


def test_gate_client_ids_carry_the_t_prefix_both_ways() -> None:
    """Gate requires ``t-`` on a client id: ccxt added it on the way out and parsed it back, so the
    bare id the adapter compared never matched and a filled order was never found by its id."""
    sent: list[dict[str, Any]] = []
    venue = gate(sent)
    cid = "lg2778b71044db570e9667"  # levguard.live.setup.client_order_id's shape

    async def body(v: CcxtVenue) -> Any:
        await v.create_order(OrderRequest(GATE_SYMBOL, "sell", 0.01, cid))
        return await v.fetch_order(GATE_SYMBOL, cid)

    found = _run(venue, body)
    assert sent[0]["text"] == "t-" + cid
    assert found is not None
    assert (found.client_order_id, found.status, found.filled) == (cid, "closed", pytest.approx(0.01))
    hashed = wire_client_id("gate", "lg-" + "x" * 40)  # too long for Gate: hashed to 28 characters
    assert hashed.startswith("t-lg")
    assert len(hashed) == 28


GATE_ETH = {
    **GATE_MARKET,
    "id": "ETH_USDT",
    "symbol": "ETH/USDT:USDT",
    "base": "ETH",
    "baseId": "ETH",
    "contractSize": 0.01,
}
# ``GET /futures/usdt/accounts`` (Gate APIv4 "Query futures account"): 10,000 deposited, no PnL;
# ``total`` = SUM(history) = position_margin + order_margin + available, the isolated 3,000 inside.
GATE_ACCOUNT = {
    "total": "10000", "unrealised_pnl": "0", "position_margin": "6000", "order_margin": "0", "available": "4000",
    "point": "0", "currency": "USDT", "in_dual_mode": False,
    "history": {"dnw": "10000", "pnl": "0", "fee": "0", "refr": "0", "fund": "0"},
}  # fmt: skip
# ``GET /futures/usdt/positions``: 1 BTC long cross (leverage "0") at 60,000 and 10 ETH long
# isolated (leverage 10) at 3,000 with 3,000 of ``margin``, both at their entry.
GATE_POSITIONS = [
    {"contract": "BTC_USDT", "size": 10000, "leverage": "0", "cross_leverage_limit": "20", "entry_price": "60000",
     "mark_price": "60000", "value": "60000", "margin": "3000", "unrealised_pnl": "0", "liq_price": "0",
     "mode": "single", "maintenance_rate": "0.004", "realised_pnl": "0"},
    {"contract": "ETH_USDT", "size": 1000, "leverage": "10", "entry_price": "3000", "mark_price": "3000",
     "value": "30000", "margin": "3000", "unrealised_pnl": "0", "liq_price": "2722", "mode": "single",
     "maintenance_rate": "0.005", "realised_pnl": "0"},
]  # fmt: skip


def gate_account(calls: list[str]) -> CcxtVenue:
    """A Gate venue whose spot and futures account endpoints answer :data:`GATE_ACCOUNT` (futures),
    123 USDT (spot) and :data:`GATE_POSITIONS`, recording which were called."""
    venue = gate([])
    ex = venue._exchange
    ex.set_markets([GATE_MARKET, GATE_ETH])

    async def unified_mode(params: Any = None) -> Any:
        return {"mode": "classic"}

    async def spot(params: Any = None) -> Any:
        calls.append("spot")
        return [{"currency": "USDT", "available": "123", "locked": "0"}]

    async def futures(params: Any = None) -> Any:
        calls.append(f"futures {(params or {}).get('settle')}")
        return GATE_ACCOUNT

    async def positions(params: Any = None) -> Any:
        calls.append(f"positions {(params or {}).get('settle')}")
        return GATE_POSITIONS

    ex.privateUnifiedGetUnifiedMode = unified_mode
    ex.privateSpotGetAccounts = spot
    ex.privateFuturesGetSettleAccounts = futures
    ex.privateFuturesGetSettlePositions = positions
    return venue


def test_gate_balance_is_the_futures_accounts() -> None:
    """ccxt gate has no ``defaultType``: fetch_balance without a type read the spot account, and the
    wallet was the spot USDT balance (123 here for a futures wallet of 10,000)."""
    calls: list[str] = []
    balance = _run(gate_account(calls), lambda v: v.fetch_balance())
    assert calls[0] == "futures usdt"
    assert "spot" not in calls
    assert (balance.wallet_balance, balance.available) == (7_000.0, 4_000.0)


def test_gate_isolated_margins_are_not_in_the_cross_wallet() -> None:
    """Gate's futures ``total`` holds the isolated positions' margins, which the engine adds itself:
    with 10,000 deposited, 1 BTC long cross at 60,000 and 10 ETH isolated with 3,000 of margin the
    engine's equity was 13,000 and the BTC liquidation price 50,289.16.  The cross wallet is 7,000:
    equity 10,000 (Gate's total, no PnL), BTC liquidation 53,306.51."""
    calls: list[str] = []

    async def body(v: CcxtVenue) -> Any:
        return await v.fetch_balance(), await v.fetch_positions()

    balance, positions = _run(gate_account(calls), body)
    modes = {p.symbol: (p.qty, p.margin_mode, p.isolated_margin) for p in positions}
    assert modes == {
        GATE_SYMBOL: (pytest.approx(1.0), "cross", None),
        "ETH/USDT:USDT": (pytest.approx(10.0), "isolated", 3_000.0),
    }
    assert balance.wallet_balance == 7_000.0
    spec = account_spec("gate", balance, positions, {GATE_SYMBOL: 60_000.0, "ETH/USDT:USDT": 3_000.0})
    for row in spec["positions"]:
        row["mmr"] = 0.005
    report = levguard.evaluate_account(spec)
    assert report.equity == pytest.approx(10_000.0)
    liq = {r.symbol: r.liquidation_price for r in report.positions}
    assert liq[GATE_SYMBOL] == pytest.approx(53_306.51, abs=0.01)
