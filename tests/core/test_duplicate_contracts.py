"""One position per contract (one-way mode; docs/margin.md 4: "a duplicate symbol is an
InputError"), whatever its spelling (a review: ``BTCUSDT`` and ``BTC/USDT:USDT`` were bracketed
apart, so their maintenance margin came out 14 % low, and a long and a short of one contract, hedge
mode, passed)."""

from __future__ import annotations

import pytest

import levguard
from levguard.core.symbols import contract_key


def _pos(symbol: str, qty: float) -> dict[str, object]:
    return {"symbol": symbol, "qty": qty, "entry_price": 60_000, "mark_price": 60_000}


@pytest.mark.parametrize("other", ["BTC/USDT:USDT", "btcusdt", "BTCUSDT ", "btc/usdt:usdt"])
@pytest.mark.parametrize("qty", [10, -10], ids=["same-side", "hedge"])
def test_two_spellings_of_one_contract_are_refused_naming_both(other: str, qty: float) -> None:
    spec = {"venue": "binance-usdm", "wallet_balance": 100_000, "positions": [_pos("BTCUSDT", 10), _pos(other, qty)]}
    with pytest.raises(levguard.InputError, match=rf"positions\[1\]\.symbol {other!r} is the contract of 'BTCUSDT'"):
        levguard.evaluate_account(spec)


def test_a_perpetual_and_its_dated_future_are_two_contracts() -> None:
    assert contract_key("BTC/USDT:USDT-241227") == contract_key("BTCUSDT_241227") != contract_key("BTC/USDT:USDT")
    spec = {"venue": "binance-usdm", "wallet_balance": 100_000, "positions": [
        _pos("BTC/USDT:USDT", 1), _pos("BTC/USDT:USDT-241227", -1)]}  # fmt: skip
    spec["positions"][1]["mmr"] = 0.005  # no built-in tiers for the future
    assert len(levguard.evaluate_account(spec).positions) == 2


def test_a_unified_account_refuses_them_too() -> None:
    spec = {"venue": "bybit-uta", "balances": {"USDT": 100_000}, "prices": {"BTC": 60_000},
            "positions": [_pos("BTCUSDT", 1), _pos("BTC/USDT:USDT", -1)]}  # fmt: skip
    with pytest.raises(levguard.InputError, match=r"'BTC/USDT:USDT' is the contract of 'BTCUSDT' again"):
        levguard.evaluate_account(spec)
