"""CcxtVenue with the real ccxt library against a local Binance USDⓈ-M server (see ccxt_fake_binance.py)."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import ccxt
import pytest
from ccxt_fake_binance import API_KEY, SECRET, FakeBinanceUsdm, serve_in_thread

import levguard
from levguard.core.tiers import TierTable
from levguard.errors import (
    VenueAuthError,
    VenueError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.live._support import account_spec
from levguard.venues.base import OrderRequest, Venue
from levguard.venues.ccxt_adapter import CcxtVenue

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
_T = TypeVar("_T")


_API = ccxt.binanceusdm().urls["api"]


@pytest.fixture(scope="module")
def _binance_server() -> Iterator[FakeBinanceUsdm]:
    """One fake server for the module, on a free port of 127.0.0.1."""
    with serve_in_thread(FakeBinanceUsdm()) as state:
        yield state


@pytest.fixture
def binance(_binance_server: FakeBinanceUsdm) -> FakeBinanceUsdm:
    """The fake Binance USDⓈ-M server, reset for this test."""
    _binance_server.reset()
    return _binance_server


def _venue(server: FakeBinanceUsdm, **kwargs: Any) -> CcxtVenue:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("secret", SECRET)
    venue = CcxtVenue("binanceusdm", urls=server.ccxt_urls(_API), timeout_ms=3000, **kwargs)
    venue._exchange.timeout_on_exit = 0  # ccxt waits 250 ms on close() for TLS shutdown; plain HTTP here
    return venue


def run(server: FakeBinanceUsdm, body: Callable[[CcxtVenue], Awaitable[_T]], **kwargs: Any) -> _T:
    """Create a venue on a fresh event loop, run ``body(venue)``, close the venue."""

    async def main() -> _T:
        venue = _venue(server, **kwargs)
        try:
            return await body(venue)
        finally:
            await venue.close()

    return asyncio.run(main())


def test_venue_satisfies_protocol(binance: FakeBinanceUsdm) -> None:
    async def body(v: CcxtVenue) -> None:
        assert isinstance(v, Venue)
        assert v.name == "binance-usdm"

    run(binance, body)


def test_positions_are_signed_with_venue_liquidation_price_and_isolated_margin(binance: FakeBinanceUsdm) -> None:
    positions = run(binance, lambda v: v.fetch_positions())
    by_symbol = {p.symbol: p for p in positions}
    assert set(by_symbol) == {BTC, ETH}  # the flat XRPUSDT row is dropped
    btc, eth = by_symbol[BTC], by_symbol[ETH]
    assert btc.qty == pytest.approx(0.5)
    assert (btc.entry_price, btc.mark_price) == (pytest.approx(60000.0), pytest.approx(62000.0))
    assert btc.margin_mode == "cross"
    assert btc.isolated_margin is None
    assert btc.liquidation_price == pytest.approx(41234.56789012)
    assert btc.leverage == pytest.approx(20.0)  # v3 has no leverage field: notional / initial margin
    assert eth.qty == pytest.approx(-4.0)
    assert eth.margin_mode == "isolated"
    assert eth.isolated_margin == pytest.approx(1200.0)  # isolatedWallet, not isolatedMargin (= wallet + uPnL)
    assert eth.liquidation_price == pytest.approx(3277.12)
    assert eth.leverage == pytest.approx(10.0)
    assert not btc.inverse
    assert btc.timestamp_ns > 0
    assert binance.calls("GET", "/fapi/v3/positionRisk")
    assert not binance.unknown


def test_balance_is_the_usdt_wallet(binance: FakeBinanceUsdm) -> None:
    balance = run(binance, lambda v: v.fetch_balance())
    assert balance.currency == "USDT"
    # crossWalletBalance: the walletBalance of 10,000 (without the 600 uPnL) holds the isolated
    # ETH position's isolatedWallet of 1,200 too, which the margin engine adds itself.
    assert balance.wallet_balance == pytest.approx(8800.0)
    assert balance.available == pytest.approx(7810.0)
    assert binance.calls("GET", "/fapi/v3/account")


def test_the_guardians_spec_of_a_mixed_account_has_the_venues_margin_balance(binance: FakeBinanceUsdm) -> None:
    """BTC cross (+1,000) and ETH isolated (wallet 1,200, -400): the engine's equity is the venue's
    marginBalance, 10,600 (cross wallet 8,800 + isolated 1,200 + PnL 600).  The spec evaluated the
    account as all cross (ETH's margin inside the wallet), and with the isolated margin on its row
    the walletBalance (which holds it) would have counted it twice."""

    async def body(v: CcxtVenue) -> tuple[Any, Any, Any]:
        positions = await v.fetch_positions()
        return await v.fetch_balance(), positions, await v.fetch_marks([p.symbol for p in positions])

    balance, positions, marks = run(binance, body)
    report = levguard.evaluate_account(account_spec("binance-usdm", balance, positions, marks))
    assert report.equity == pytest.approx(10_600.0)
    assert {r.symbol: r.margin_mode for r in report.positions} == {BTC: "cross", ETH: "isolated"}


def test_marks_and_funding(binance: FakeBinanceUsdm) -> None:
    async def body(v: CcxtVenue) -> tuple[dict[str, float], float | None]:
        return await v.fetch_marks([BTC, ETH]), await v.fetch_funding_rate(ETH)

    marks, funding = run(binance, body)
    assert marks == {BTC: pytest.approx(62000.0), ETH: pytest.approx(3100.0)}
    assert funding == pytest.approx(-0.000025)
    assert [r.params.get("symbol") for r in binance.calls("GET", "/fapi/v1/premiumIndex")] == [None, "ETHUSDT"]


def test_marks_carry_the_venues_own_time(binance: FakeBinanceUsdm) -> None:
    """premiumIndex's ``time`` (the mark's) is kept per symbol, so the guardian ages a mark by the
    venue's clock, not by when it was read (the fake serves 2024-07-27 06:44:39 UTC)."""

    async def body(v: CcxtVenue) -> dict[str, int]:
        await v.fetch_marks([BTC, ETH])
        return v.mark_times

    assert run(binance, body) == {BTC: 1722062679000 * 10**6, ETH: 1722062679000 * 10**6}


def test_tiers_come_from_leverage_brackets(binance: FakeBinanceUsdm) -> None:
    tiers = run(binance, lambda v: v.fetch_tiers(ETH))
    assert isinstance(tiers, TierTable)
    assert len(tiers) == 5
    assert tiers.tiers[1].notional_floor == pytest.approx(10000.0)
    assert tiers.tiers[1].mmr == pytest.approx(0.0065)
    assert tiers.tiers[1].maint_amount == pytest.approx(15.0)  # Binance cum
    assert tiers.max_leverage(5000.0) == pytest.approx(100.0)
    # 12,400 USDT notional: 12400 * 0.0065 - 15 = 65.6
    assert tiers.maintenance_margin(12400.0) == pytest.approx(65.6)


def test_reduce_only_order_is_rounded_sent_and_found_by_client_id(binance: FakeBinanceUsdm) -> None:
    request = OrderRequest(symbol=BTC, side="sell", qty=0.12345, client_order_id="lg-acct1-000042")

    async def body(v: CcxtVenue) -> Any:
        return await v.create_order(request), await v.fetch_order(BTC, "lg-acct1-000042")

    sent, found = run(binance, body)
    (post,) = binance.calls("POST", "/fapi/v1/order")
    assert post.params["symbol"] == "BTCUSDT"
    assert post.params["side"] == "SELL"
    assert post.params["type"] == "MARKET"
    assert post.params["quantity"] == "0.123"  # stepSize 0.001, rounded down
    assert post.params["reduceOnly"] == "true"
    assert post.params["newClientOrderId"] == "lg-acct1-000042"
    assert sent.client_order_id == "lg-acct1-000042"
    assert sent.status == "open"
    assert sent.venue_order_id == "8389765519"
    (get,) = binance.calls("GET", "/fapi/v1/order")
    assert get.params["origClientOrderId"] == "lg-acct1-000042"
    assert found is not None
    assert found.status == "closed"
    assert found.filled == pytest.approx(0.123)
    assert found.average_price == pytest.approx(61990.0)


def test_unknown_client_order_id_is_none(binance: FakeBinanceUsdm) -> None:
    assert run(binance, lambda v: v.fetch_order(BTC, "never-sent")) is None  # Binance -2013


def test_quantity_rounding_to_zero_fails_before_any_order_request(binance: FakeBinanceUsdm) -> None:
    request = OrderRequest(symbol=BTC, side="sell", qty=0.0004, client_order_id="lg-dust")
    with pytest.raises(VenuePermanentError, match=r"BTC/USDT:USDT qty 0\.0004"):
        run(binance, lambda v: v.create_order(request))
    assert binance.calls("POST", "/fapi/v1/order") == []


def test_quantity_above_market_maximum_fails_before_any_order_request(binance: FakeBinanceUsdm) -> None:
    request = OrderRequest(symbol=BTC, side="sell", qty=500.0, client_order_id="lg-huge")
    with pytest.raises(VenuePermanentError, match="above the maximum 120"):
        run(binance, lambda v: v.create_order(request))
    assert binance.calls("POST", "/fapi/v1/order") == []


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(503, "<html><body><h1>503 Service Unavailable</h1></body></html>", VenueRetryableError, id="503"),
        pytest.param(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", VenueRetryableError, id="502"),
        pytest.param(504, "<html><body><h1>504 Gateway Time-out</h1></body></html>", VenueRetryableError, id="504"),
        pytest.param(
            500,
            {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
            VenueRetryableError,
            id="500-1001",
        ),
        pytest.param(
            429,
            {"code": -1003, "msg": "Too many requests; current limit is 2400 requests per minute."},
            VenueRateLimitError,
            id="429",
        ),
        pytest.param(
            418,
            {"code": -1003, "msg": "Way too many requests; IP banned until 1722066279000."},
            VenueRateLimitError,
            id="418",
        ),
        pytest.param(
            401,
            {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1"},
            VenueAuthError,
            id="401-2015",
        ),
        pytest.param(
            403,
            {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
            VenueAuthError,
            id="403-2015",
        ),
    ],
)
def test_http_failures_are_classified(
    binance: FakeBinanceUsdm, status: int, body: object, expected: type[VenueError]
) -> None:
    binance.fail("/fapi/v3/account", status, body)
    with pytest.raises(expected) as info:
        run(binance, lambda v: v.fetch_balance())
    assert type(info.value) is expected
    assert "fetch_balance" in str(info.value)


def test_wrong_secret_is_an_auth_error(binance: FakeBinanceUsdm) -> None:
    with pytest.raises(VenueAuthError, match="fetch_positions"):
        run(binance, lambda v: v.fetch_positions(), secret="not-the-secret")


def test_order_rejections_are_permanent_and_name_the_symbol(binance: FakeBinanceUsdm) -> None:
    binance.fail("/fapi/v1/order", 400, {"code": -2019, "msg": "Margin is insufficient."})
    request = OrderRequest(symbol=ETH, side="buy", qty=1.0, client_order_id="lg-x")
    with pytest.raises(VenuePermanentError, match="ETH/USDT:USDT") as info:
        run(binance, lambda v: v.create_order(request))
    assert not isinstance(info.value, VenueAuthError)


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = FakeBinanceUsdm(base=f"http://127.0.0.1:{port}")
    with pytest.raises(VenueRetryableError, match="load_markets"):
        run(dead, lambda v: v.fetch_positions())


def test_keys_are_absent_from_repr_errors_and_logs(binance: FakeBinanceUsdm, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    binance.fail("/fapi/v3/account", 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    binance.fail("/fapi/v1/order", 400, {"code": -2019, "msg": "Margin is insufficient."})
    seen: list[str] = []

    async def body(v: CcxtVenue) -> None:
        seen.extend([repr(v), str(v)])
        for call in (
            v.fetch_balance(),
            v.create_order(OrderRequest(symbol=BTC, side="sell", qty=0.1, client_order_id="lg-k")),
            v.fetch_positions(),
        ):
            try:
                await call
            except VenueError as exc:
                seen.append(str(exc))

    run(binance, body, password="okx-passphrase-1")
    assert len(seen) == 4
    assert "credentials=set" in seen[0]
    text = "\n".join([*seen, caplog.text])
    for secret in (API_KEY, SECRET, "okx-passphrase-1"):
        assert secret not in text
    assert re.search(r"signature=[0-9a-f]{64}", text) is None  # request signatures are scrubbed too
