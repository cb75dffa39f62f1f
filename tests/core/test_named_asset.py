"""Which asset a price history's name is of (levguard.core.symbols.named_asset): the one rule
``levguard risk``, ``levguard size`` and the guardian read a history file's asset by."""

from __future__ import annotations

import pytest

from levguard.core.symbols import named_asset


@pytest.mark.parametrize(
    ("name", "asset"),
    [
        ("BTCUSDT-PERP", "BTC"),
        ("BTCUSDT-MARK", "BTC"),
        ("BTC/USDT:USDT", "BTC"),
        ("ETHUSDT", "ETH"),
        ("XBTUSD", "BTC"),
        ("BTCUSD_PERP", "BTC"),
        ("BTC-SYNTH", "BTC"),  # levguard's synthetic markets (levguard data synth)
        ("XBT-SYNTH", "BTC"),
    ],
)
def test_a_pair_or_a_synthetic_market_names_its_asset(name: str, asset: str) -> None:
    assert named_asset(name) == asset


@pytest.mark.parametrize(
    "name",
    ["history", "btc", "bars", "data_2024", "binance-btc", "my-eth", "binance-BTCUSDT", "btc-synth", "",
     "DATA", "OHLCV", "PRICES", "MARK", "HISTORY", "ETH", "SOL"],  # a capital word is no coin: DATA.csv was DATA
)  # fmt: skip
def test_anything_else_names_no_asset(name: str) -> None:
    # A word, a prefix before a coin or pair (binance-btc was BINANCE, my-eth MY, data_2024 DATA).
    assert named_asset(name) is None
