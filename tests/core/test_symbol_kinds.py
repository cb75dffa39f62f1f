"""A symbol's name says how it is margined; a venue refuses the kind it does not list (a CLI audit:
``BTC-PERPETUAL`` on Deribit was evaluated as the USDC perpetual, ``BTCUSDT`` on Binance COIN-M as
an inverse contract with a BTC wallet)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.core.symbols import dated_expiry, named_kind
from levguard.errors import InputError


@pytest.mark.parametrize(
    ("symbol", "kind"),
    [
        ("BTCUSDT", "linear"), ("BTC_USDC-PERPETUAL", "linear"), ("BTC-USDT-SWAP", "linear"), ("BTC_USDT", "linear"),
        ("BTC/USDT:USDT", "linear"), ("BTCUSDT-27DEC24", "linear"), ("BTC-PERPETUAL", None), ("BTC-27DEC24", None),
        ("BTCUSD_PERP", "inverse"), ("BTCUSD_250328", "inverse"), ("BTC-USD-SWAP", "inverse"), ("BTCUSD", "inverse"),
        ("BTCUSDZ24", "inverse"), ("BTC/USD:BTC", "inverse"), ("XBT/USD:BTC", "inverse"), ("ETH/USD:BTC", None),
        ("BTC-SYNTH", None), ("BTC-USD", None), ("BTC", None), ("BTC_USD", "inverse"),
    ],
)  # fmt: skip
def test_named_kind(symbol: str, kind: str | None) -> None:
    assert named_kind(symbol) == kind


def test_deribits_own_names_are_read_on_deribit_only() -> None:
    # BTC-27DEC24 is Deribit's coin-margined future and Bybit's USDC future (a review).
    assert named_kind("BTC-PERPETUAL", deribit=True) == "inverse"
    assert named_kind("BTC-27DEC24", deribit=True) == "inverse"
    assert named_kind("BTC_USDC-PERPETUAL", deribit=True) == "linear"
    for symbol in ("BTC-27DEC24", "BTCUSDT-27DEC24"):  # Bybit's USDC and USDT futures
        spec = {"venue": "bybit-linear", "wallet_balance": 1_000, "positions": [
            {"symbol": symbol, "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10, "mmr": 0.005}]}  # fmt: skip
        assert levguard.evaluate_account(spec).positions[0].contract_kind == "linear"


@pytest.mark.parametrize(
    ("venue", "symbol", "advice"),
    [
        ("deribit", "BTC-PERPETUAL", "inverse contracts .* are not modelled"),
        ("binance-coinm", "BTCUSDT", "use venue binance-usdm"),
        ("binance-usdm", "BTCUSD_PERP", "use venue binance-coinm"),
        ("bybit-linear", "BTCUSD", "use venue bybit-inverse"),
        ("bybit-inverse", "BTCUSDT", "use venue bybit-linear"),
    ],
)
def test_a_venue_refuses_a_symbol_of_the_other_kind(venue: str, symbol: str, advice: str) -> None:
    spec = {"venue": venue, "wallet_balance": 1_000, "positions": [
        {"symbol": symbol, "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10, "mmr": 0.005}]}  # fmt: skip
    with pytest.raises(levguard.InputError, match=rf"{symbol} names an? \w+ contract; {venue} lists .*{advice}"):
        levguard.evaluate_account(spec)
    args = ["liq", "--venue", venue, "--symbol", symbol, "--entry", "60000", "--leverage", "10", "--wallet", "1"]
    out = CliRunner().invoke(app, [*args, "--mmr", "0.005"])
    assert out.exit_code == 2
    assert f"{symbol} names" in out.output


def test_the_own_kind_and_a_given_kind_are_read_as_before() -> None:
    ok = levguard.evaluate_account({"venue": "deribit", "wallet_balance": 1_000, "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10}]})  # fmt: skip
    assert ok.positions[0].contract_kind == "linear"
    given = levguard.evaluate_account({"venue": "binance-coinm", "wallet_balance": 1, "positions": [
        {"symbol": "BTCUSDT", "contract_kind": "inverse", "qty": 1, "entry_price": 60_000, "mark_price": 60_000,
         "leverage": 10, "mmr": 0.005}]})  # fmt: skip
    assert given.positions[0].contract_kind == "inverse"


@pytest.mark.parametrize(
    ("year", "month", "day", "needle"),
    [
        (2024, "FEB", 31, "has no such expiry date"),
        (2024, "XYZ", 28, "has no month 'XYZ'"),
        (2024, 13, 1, "has no such expiry date"),
    ],
)
def test_a_dated_expiry_names_the_symbol_it_cannot_read(year: int, month: int | str, day: int, needle: str) -> None:
    # The one reader of DDMMMYY expiries (Deribit, Bybit, the risk spec's options).
    with pytest.raises(InputError, match=f"x.symbol {needle}.*, was 'BTC-S'"):
        dated_expiry(year, month, day, field="x.symbol", raw="BTC-S")
    assert dated_expiry(2024, "JUN", 28, field="x", raw="") == datetime(2024, 6, 28, 8, tzinfo=UTC)
    assert dated_expiry(2024, 6, 28, field="x", raw="") == datetime(2024, 6, 28, 8, tzinfo=UTC)
