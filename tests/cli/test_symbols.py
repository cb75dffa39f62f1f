"""Symbol and stablecoin knowledge lives in one core module (issue 15)."""

from __future__ import annotations

import pytest

from levguard.core import symbols
from levguard.core.risk import portfolio, stress
from levguard.core.rules import base as rules_base
from levguard.core.symbols import USD_LIKE, base_asset, is_usd, symbol_key


@pytest.mark.parametrize(
    ("symbol", "base"),
    [
        ("BTCUSDT", "BTC"),
        ("BTC/USDT:USDT", "BTC"),
        ("ETH-USD", "ETH"),
        ("BTCUSD_PERP", "BTC"),
        ("SOL", "SOL"),
        ("BTC_USDC-PERPETUAL", "BTC"),
        ("BTC-27DEC24-70000-C", "BTC"),
        (" ethusdc ", "ETH"),
        ("USDT", "USDT"),  # a bare quote asset is its own base
    ],
)
def test_base_asset(symbol: str, base: str) -> None:
    assert base_asset(symbol) == base


def test_base_asset_with_a_venues_own_quotes() -> None:
    assert base_asset("BTCUSDT", quotes=()) == "BTCUSDT"
    assert base_asset("BTCUSDT", quotes=("USDC", "USD")) == "BTCUSDT"
    assert base_asset("BTCUSDC", quotes=("USDC", "USD")) == "BTC"


@pytest.mark.parametrize("coin", sorted(USD_LIKE))
def test_stablecoins_are_usd(coin: str) -> None:
    assert is_usd(coin)
    assert is_usd(f" {coin.lower()} ")


@pytest.mark.parametrize("coin", ["BTC", "ETH", "EUR", "USDX", ""])
def test_other_currencies_are_not(coin: str) -> None:
    assert not is_usd(coin)


def test_symbol_key() -> None:
    assert symbol_key("BTC/USDT:USDT") == "BTCUSDT"
    assert symbol_key(" btc-usd_perp ") == "BTCUSDPERP"


def test_old_homes_are_the_same_functions() -> None:
    """Old import paths keep working and cannot drift: they are the core functions."""
    assert stress.base_asset is symbols.base_asset
    assert portfolio.base_of is symbols.base_asset
    assert portfolio.is_usd is symbols.is_usd
    assert rules_base.symbol_key is symbols.symbol_key
