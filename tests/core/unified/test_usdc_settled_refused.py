"""USDC-settled linear contracts in unified accounts are refused naming the settlement.

``BTCUSDC``, ``BTC/USDC:USDC``, ``BTC-USDC-SWAP`` and Bybit's ``BTCPERP`` were booked as USDT
perpetuals: their PnL landed on the USDT row at USDT's price (uPnL 100 USDT with USDC at 0.9).
"""

from __future__ import annotations

import pytest

import levguard
from levguard.core.symbols import linear_settlement, settled_otherwise
from levguard.errors import InputError

CASES = [
    ("bybit-uta", "BTC/USDC:USDC"),
    ("bybit-uta", "BTCPERP"),
    ("bybit-uta", "BTC-27DEC24"),
    ("okx-mcm", "BTC-USDC-SWAP"),
    ("okx-mcm", "BTC/USDC:USDC"),
    ("binance-pm", "BTC/USDC:USDC"),
    ("binance-pm", "BTCUSDC"),
]


def spec(venue: str, symbol: str) -> dict[str, object]:
    return {
        "venue": venue,
        "balances": {"USDT": 10000},
        "prices": {"USDC": 0.9},
        "collateral_ratios": {"USDC": 1},
        "positions": [{"symbol": symbol, "qty": 0.1, "entry_price": 60000, "mark_price": 61000, "mmr": 0.005}],
    }


@pytest.mark.parametrize(("venue", "symbol"), CASES)
def test_usdc_settled_linear_contract_is_refused(venue: str, symbol: str) -> None:
    with pytest.raises(InputError, match=r"positions\[0\] \(.*\)\.settlement must be USDT on .*was 'USDC'"):
        levguard.evaluate_account(spec(venue, symbol))


def test_okx_pm_refuses_a_usdc_swap() -> None:
    s = {
        "venue": "okx-pm",
        "balances": {"USDT": 10000},
        "positions": [{"symbol": "BTC-USDC-SWAP", "qty": 1, "entry_price": 50000, "mark_price": 60000}],
    }
    with pytest.raises(InputError, match=r"linear USDT swap on okx-pm.*settled in 'USDC'"):
        levguard.evaluate_account(s)


@pytest.mark.parametrize(
    ("venue", "symbol"),
    [
        ("bybit-uta", "BTCUSDT"),
        ("bybit-uta", "BTCUSDT-27DEC24"),
        ("binance-pm", "BTC/USDT:USDT"),
        ("okx-mcm", "BTC-USDT-SWAP"),
    ],
)
def test_usdt_contracts_are_still_taken(venue: str, symbol: str) -> None:
    r = levguard.evaluate_account(spec(venue, symbol))
    assert r.positions[0].unrealized_pnl == pytest.approx(100.0)


def test_symbol_helpers() -> None:
    assert linear_settlement("BTCUSDC") == "USDC"
    assert linear_settlement("BTC/USDC:USDC") == "USDC"
    assert linear_settlement("BTC-USDC-SWAP") == "USDC"
    assert linear_settlement("BTC_USDC-PERPETUAL") == "USDC"
    assert linear_settlement("USDCUSDT") == "USDT"
    assert linear_settlement("BTCPERP") is None
    assert linear_settlement("BTCPERP", bybit=True) == "USDC"
    assert linear_settlement("BTC/USD:BTC") is None
    assert linear_settlement("BTC") is None
    # The quote is the last USD coin (a review: USDC as the base was read as the settlement), and a
    # PERP after a USDT/USDC quote is that quote's, not Bybit's USDC perpetual.
    for name in ("USDC-USDT", "USDC_USDT", "USDC-USDT-SWAP"):
        assert linear_settlement(name) == "USDT", name
    assert linear_settlement("BTCUSDTPERP", bybit=True) == "USDT"
    assert linear_settlement("BTCUSDCPERP", bybit=True) == "USDC"
    assert settled_otherwise("BTCUSDT", "USDT", "USDT") is None
    assert settled_otherwise("BTCUSDC", "USDT", "USDT") == "USDC"
    assert settled_otherwise("BTC", "USDC", "usdt") == "USDC"
