"""``listed_pair`` and ``other_instrument``: which contract a data file names, and when two
names are not one instrument (another asset, settlement coin, or linear vs inverse).

A review (2026-12-07): ``listed_pair`` stripped separators before looking for a quote, so OKX's
``BTC-USDT-SWAP`` (the id levguard's own ccxt downloader stores), ``BTC_USDC-PERPETUAL``,
``BTCUSDT_241227`` and ``BTC-PERPETUAL`` named "no pair"; and only the asset was compared, so a
BTCUSDC or an inverse BTCUSD_PERP symbol ran USDT-settled BTCUSDT bars.
"""

from __future__ import annotations

import pytest

from levguard.core.symbols import listed_pair, other_instrument


@pytest.mark.parametrize(
    ("name", "pair"),
    [
        ("BTC-USDT-SWAP", "BTC-USDT-SWAP"),
        ("BTC_USDC-PERPETUAL", "BTC_USDC-PERPETUAL"),
        ("BTCUSDT_241227", "BTCUSDT_241227"),
        ("BTC-PERPETUAL", "BTC-PERPETUAL"),
        ("BTCUSD_PERP", "BTCUSD"),
        ("ETHBTC-PERP", "ETHBTC"),
        ("XRPUSDT-PERP", "XRPUSDT"),
        ("BTC/USDT:USDT", "BTC/USDT:USDT"),
        ("BTC", None),
        ("WBTC", None),
        ("bars", None),
        ("BTC-SYNTH", None),
        ("", None),
    ],
)
def test_listed_pair_reads_the_parts_of_a_name(name: str, pair: str | None) -> None:
    assert listed_pair(name) == pair


@pytest.mark.parametrize("other", ["BTCUSDT", "btcusdt", "BTC/USDT:USDT", "BTC-USDT-SWAP", "BTCUSDT "])
def test_one_contract_spelled_otherwise_is_one_instrument(other: str) -> None:
    assert other_instrument("BTCUSDT", other) is None


@pytest.mark.parametrize(
    ("symbol", "other", "why"),
    [
        ("ETHUSDT", "BTCUSDT", "asset ETH vs BTC"),
        ("PEPEUSDT", "1000PEPEUSDT", "asset PEPE vs 1000PEPE"),
        ("BTCUSDT", "ETHBTC", "asset BTC vs ETHBTC"),
        ("BTCUSDC", "BTCUSDT", "settled in USDC vs USDT"),
        ("BTC/USDC:USDC", "BTCUSDT", "settled in USDC vs USDT"),
        ("BTC-USDT-SWAP", "BTC_USDC-PERPETUAL", "settled in USDT vs USDC"),
        ("BTCUSD_PERP", "BTCUSDT", "inverse vs linear contract"),
        ("BTC/USD:BTC", "BTCUSDT", "inverse vs linear contract"),
        ("XBTUSD", "BTCUSDT", "inverse vs linear contract"),
        ("BTC-PERPETUAL", "BTCUSDT", "inverse vs linear contract"),
    ],
)
def test_another_asset_settlement_or_kind_is_another_instrument(symbol: str, other: str, why: str) -> None:
    assert other_instrument(symbol, other) == why
