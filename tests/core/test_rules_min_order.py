"""Venue minimum orders (issue 13, ruin): the sourced minimum quantity of each venue's BTC and ETH
USDT(-margined) perpetual, and the notional of the smallest order at a price.  Sources and dates
are in each rule module's docstring."""

from __future__ import annotations

import pytest

from levguard.core.rules import get_venue
from levguard.core.rules.base import BaseAssetTable
from levguard.errors import InputError


@pytest.mark.parametrize(
    ("venue", "symbol", "qty"),
    [
        # Bybit v5 instruments-info: BTCUSDT minOrderQty 0.001.
        ("bybit-linear", "BTCUSDT", 0.001),
        ("bybit-linear", "BTC/USDT:USDT", 0.001),
        # OKX: 0.1 contract x 0.01 BTC; ETHUSDT 1 contract x 0.1 ETH.
        ("okx", "BTC-USDT-SWAP", 0.001),
        ("okx", "ETH-USDT-SWAP", 0.1),
        # Gate: quanto_multiplier 0.0001 x order_size_min 1.
        ("gate", "BTC_USDT", 0.0001),
        # dYdX v4: one step of BTC-USD, 0.0001 BTC.
        ("dydx-v4", "BTC-USD", 0.0001),
        # Deribit get_instrument BTC_USDC-PERPETUAL: min_trade_amount 0.001 BTC.
        ("deribit", "BTC_USDC-PERPETUAL", 0.001),
    ],
)
def test_sourced_minimum_quantities(venue: str, symbol: str, qty: float) -> None:
    model = get_venue(venue)
    assert model.min_qty(symbol) == pytest.approx(qty, rel=1e-12)
    assert model.min_qty_source
    assert model.min_order_notional(symbol, 50_000.0) == pytest.approx(qty * 50_000.0, rel=1e-12)


@pytest.mark.parametrize(
    ("venue", "symbol"),
    [
        ("bybit-linear", "ETHUSDT"),  # no ETHUSDT figure found
        ("gate", "ETH_USDT"),  # no ETH_USDT figure found
        ("dydx-v4", "ETH-USD"),  # no ETH-USD figure found
        ("bitmex", "XBTUSDT"),  # no official figure found
        ("bitmex", "ETHUSDT"),
    ],
)
def test_unsourced_minimums_stay_unknown(venue: str, symbol: str) -> None:
    model = get_venue(venue)
    assert model.min_qty(symbol) == 0.0
    assert model.min_order_notional(symbol, 3_000.0) == 0.0


def test_the_larger_of_the_notional_and_quantity_minimums() -> None:
    # Binance USDⓈ-M: 5 USDT notional, 100 for BTCUSDT and 20 for ETHUSDT since 2023-11-02; no
    # quantity minimum.
    binance = get_venue("binance-usdm")
    assert binance.min_order_notional("BTCUSDT", 60_000.0) == 100.0
    assert binance.min_order_notional("ETHUSDT", 3_000.0) == 20.0
    assert binance.min_order_notional("SOLUSDT", 150.0) == 5.0
    assert binance.min_order_notional("BTCUSDC", 60_000.0) == 5.0  # the notice names the USDT perpetuals only
    assert get_venue("deribit").min_order_notional("BTC_USDC-PERPETUAL", 100_000.0) == pytest.approx(100.0)
    okx = get_venue("okx")
    assert okx.min_order_notional("BTC-USDT-SWAP", 1_000.0) == pytest.approx(1.0)
    with pytest.raises(InputError, match="price must be a finite number > 0"):
        okx.min_order_notional("BTC-USDT-SWAP", 0.0)
    with pytest.raises(InputError, match="price"):
        okx.min_order_notional("BTC-USDT-SWAP", float("nan"))


def test_base_asset_table() -> None:
    table = BaseAssetTable((("BTC", 0.001), ("ETH", 0.01)))
    assert table("BTCUSDT") == 0.001
    assert table("ETH/USDT:USDT") == 0.01
    assert table("SOLUSDT") == 0.0
