"""``listed_pair`` and ``other_instrument``: which contract a data file names, and when two
names are not one instrument (another asset, settlement coin, linear vs inverse, or another
expiry: a perpetual and a dated future).

A review (2026-12-07): ``listed_pair`` stripped separators before looking for a quote, so OKX's
``BTC-USDT-SWAP`` (the id levguard's own ccxt downloader stores), ``BTC_USDC-PERPETUAL``,
``BTCUSDT_241227`` and ``BTC-PERPETUAL`` named "no pair"; and only the asset was compared, so a
BTCUSDC or an inverse BTCUSD_PERP symbol ran USDT-settled BTCUSDT bars.
"""

from __future__ import annotations

import pytest

from levguard.core.symbols import listed_pair, named_expiry, other_instrument


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
    ("symbol", "other"),
    [
        ("BTCUSDT_241227", "BTC/USDT:USDT-241227"),
        ("BTC-27DEC24", "BTC/USD:BTC-241227"),
        ("BTCUSD_241227", "BTC-USD-241227"),
    ],
)
def test_one_dated_future_spelled_otherwise_is_one_instrument(symbol: str, other: str) -> None:
    assert other_instrument(symbol, other) is None


@pytest.mark.parametrize(
    ("name", "expiry"),
    [
        ("BTCUSDT_241227", (24, 12, 27)),
        ("BTC-USD-250328", (25, 3, 28)),
        ("BTC/USDT:USDT-241227", (24, 12, 27)),
        ("BTC-27DEC24", (24, 12, 27)),
        ("BTCUSDT-27DEC24", (24, 12, 27)),
        ("XBTZ24", (24, 12, None)),
        ("BTCUSDT", None),
        ("BTCUSD_PERP", None),
        ("BTC-PERPETUAL", None),
        ("BTC-USDT-SWAP", None),
        ("1000PEPEUSDT", None),
        ("BTC/USD:BTC", None),
        # A review: data-file names. Binance Vision's file of a dated future names it; a file's
        # date range, a timeframe and digits that are no date name none (they raised IndexError or
        # refused a perpetual's own bars); Gate's 8-digit date names its day.
        ("BTCUSDT_241227-1h-2024-12", (24, 12, 27)),
        ("BTCUSDT_241227-1h-2024-12-01", (24, 12, 27)),
        ("BTCUSDT-1h-2024-12", None),
        ("BTCUSDT_1h_240101_241231", None),
        ("BTCUSDT_M15", None),
        ("BTCUSDT-M30", None),
        ("BTCUSDT_H12", None),
        ("BTCUSDT_202412", None),
        ("BTCUSDT_240000", None),
        ("BTC_USDT_20241227", (24, 12, 27)),
        ("BTCUSDZ24", (24, 12, None)),
        ("BTC-27DEC24-60000-C", None),
    ],
)
def test_named_expiry_reads_a_dated_futures_name(name: str, expiry: tuple[int, int, int | None] | None) -> None:
    assert named_expiry(name) == expiry


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
        # A dated future's bars are not its perpetual's (basis, no funding, an expiry), and two
        # expiries are two contracts.
        ("BTCUSDT", "BTCUSDT_241227", "perpetual vs future 27 Dec 2024"),
        ("BTCUSDT_241227", "BTCUSDT-PERP", "future 27 Dec 2024 vs perpetual"),
        ("BTCUSD_PERP", "BTCUSD_250328", "perpetual vs future 28 Mar 2025"),
        ("BTCUSDT_250328", "BTCUSDT_241227", "future 28 Mar 2025 vs future 27 Dec 2024"),
        ("BTC-PERPETUAL", "BTC-27DEC24", "perpetual vs future 27 Dec 2024"),
    ],
)
def test_another_asset_settlement_or_kind_is_another_instrument(symbol: str, other: str, why: str) -> None:
    assert other_instrument(symbol, other) == why


def test_a_dated_futures_file_names_its_future_not_the_perpetual() -> None:
    # Binance Vision's monthly file of BTCUSDT_241227 ran only under symbol: BTCUSDT (a review).
    assert other_instrument("BTCUSDT_241227", "BTCUSDT_241227-1h-2024-12") is None
    assert other_instrument("BTCUSDT", "BTCUSDT_241227-1h-2024-12") == "perpetual vs future 27 Dec 2024"
    assert other_instrument("BTCUSDT", "BTCUSDT_1h_240101_241231") is None
