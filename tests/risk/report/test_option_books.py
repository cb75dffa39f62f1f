"""Where a risk report's options sit (a review of the stress parts, 02764af/56543fb): Binance's
options account has cash of its own (``options_wallet_balance``), Deribit and OKX pool only the
options settled in the account's currency unless ``cross_collateral``, and venues that list no
options refuse them (src/levguard/risk/option_books.py, docs/risk.md §5 and §6)."""

from __future__ import annotations

from typing import Any

import pytest

from levguard.core.options.black76 import black76
from levguard.core.risk.stress import Scenario, scenario_by_name
from levguard.errors import InputError
from levguard.risk.report import risk_report

F0 = 61_000.0
SHORT_PUTS: dict[str, Any] = {
    "name": "binance",
    "venue": "binance-usdm",
    "wallet_balance": 20_000,
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [{"symbol": "BTCUSDT", "qty": 0.1, "entry_price": F0, "mark_price": F0, "leverage": 10}],
    "options": [{"symbol": "BTC-28JUN24-55000-P", "qty": -10, "vol": 0.55, "settlement": "usd"}],
}


def _row(spec: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    rep = risk_report(spec, vol=0.6, n_sims=100, horizons=(1,), scenarios=[scenario])
    row: dict[str, Any] = rep.stress[0]["accounts"][0]
    return row


# ------------------------------------------------------------------ 1. Binance's options wallet
def test_binance_short_options_need_their_wallets_cash() -> None:
    with pytest.raises(InputError, match="options_wallet_balance is required: binance-usdm keeps options"):
        risk_report(SHORT_PUTS, vol=0.6, n_sims=100, horizons=(1,), scenarios=[Scenario("0", 0.0)])
    for bad in (-1.0, float("nan"), "lots", True):
        with pytest.raises(InputError, match="options_wallet_balance"):
            risk_report({**SHORT_PUTS, "options_wallet_balance": bad}, vol=0.6, n_sims=100, horizons=(1,))


def test_binance_short_puts_loss_is_the_traders_pnl_not_bad_debt() -> None:
    """10 short puts next to a 20,000 USDT futures wallet, 300,000 USDT in the options account.
    Black Thursday: the puts lose 246,784, the trader's P&L.  Before the fix the options wallet
    had no cash: the 12,692 liability was a shortfall before and the 246,784 bad debt."""
    spec = {**SHORT_PUTS, "options_wallet_balance": 300_000}
    rep = risk_report(spec, vol=0.6, n_sims=100, horizons=(1,), scenarios=[scenario_by_name("black-thursday")])
    value = rep.accounts[0]["option_value"]
    assert value == pytest.approx(-12_692.23, abs=0.01)
    assert rep.exposure[0]["equity"] == pytest.approx(20_000.0 + 300_000.0 + value)  # the wallet's cash counted
    row = rep.stress[0]["accounts"][0]
    assert row["option_pnl"] == pytest.approx(-246_784.0, abs=1.0)
    assert row["bad_debt"] == 0.0
    assert row["shortfall_before"] == 0.0
    futures = sum(p["pnl"] for p in row["positions"])
    assert row["pnl"] == pytest.approx(row["option_pnl"] + futures, rel=1e-9)
    assert row["equity_after"] == pytest.approx(row["equity_before"] + row["pnl"], rel=1e-12)


def test_binance_long_only_options_default_their_cash_to_zero() -> None:
    spec = {**SHORT_PUTS, "options": [{**SHORT_PUTS["options"][0], "qty": 10}]}
    row = _row(spec, Scenario("down", -0.3))
    assert row["bad_debt"] == 0.0
    assert row["equity_before"] == pytest.approx(20_000.0 + 12_692.23, abs=0.01)


# ------------------------------------------------------------ 2. pooling by settlement currency
DERIBIT: dict[str, Any] = {
    "name": "deribit",
    "venue": "deribit",
    "wallet_balance": 30_000,
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [{"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 60_500, "mark_price": F0, "leverage": 5}],
    "options": [
        {"underlying": "BTC", "kind": "call", "strike": 70_000, "t_years": 0.25, "qty": -5, "vol": 0.5,
         "settlement": "coin"}
    ],
}  # fmt: skip


def _call_usd(forward: float) -> float:
    return -5.0 * float(black76("call", forward, 70_000.0, 0.25, 0.5, 0.0, "coin").price) * forward


def test_deribit_pools_a_btc_settled_call_into_a_usdc_account_only_with_cross_collateral() -> None:
    """Deribit's segregated standard margin sums margin per currency: five short BTC-settled calls
    in a USDC account need BTC of their own.  Before the fix they were pooled into the USDC
    wallet silently."""
    with pytest.raises(InputError, match=r"options_wallet_balance is required: short options settled in BTC") as err:
        _row(DERIBIT, Scenario("up", 0.3))
    assert "or set cross_collateral: true if the account pools them with its USDC margin" in str(err.value)
    pooled = _row({**DERIBIT, "cross_collateral": True}, Scenario("up", 0.3))
    assert pooled["liquidated"] == ["BTC_USDC-PERPETUAL"]  # the calls wipe out the USDC wallet
    assert pooled["equity_after"] == 0.0
    apart = _row({**DERIBIT, "options_wallet_balance": 0.5}, Scenario("up", 0.3))
    assert apart["liquidated"] == []  # the USDC futures keep their margin
    f1 = 1.3 * F0
    btc_wallet = 0.5 * f1 + _call_usd(f1)  # the BTC wallet, in USDC at the scenario's price
    assert btc_wallet < 0.0
    assert apart["bad_debt"] == pytest.approx(-btc_wallet, rel=1e-9)
    futures = 30_000.0 + 0.5 * (f1 - 60_500.0)
    assert apart["equity_after"] == pytest.approx(futures, rel=1e-9)
    before = 30_000.0 + 0.5 * (F0 - 60_500.0) + max(0.5 * F0 + _call_usd(F0), 0.0)
    assert apart["equity_before"] == pytest.approx(before, rel=1e-9)


def test_deribit_pools_usd_options_in_a_usdc_account_and_okx_coin_options_in_a_coin_account() -> None:
    usd = {**DERIBIT, "options": [{**DERIBIT["options"][0], "settlement": "usd"}]}
    assert _row(usd, Scenario("up", 0.3))["liquidated"] == ["BTC_USDC-PERPETUAL"]  # pooled: same currency
    okx = {
        "venue": "okx",
        "wallet_balance": 1.0,
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [{"symbol": "BTC-USD-SWAP", "qty": 100, "entry_price": F0, "mark_price": F0, "leverage": 10,
                       "mmr": 0.005}],
        "options": [{**DERIBIT["options"][0], "qty": -20}],
    }  # fmt: skip
    row = _row(okx, Scenario("up", 0.3))
    assert "BTC-USD-SWAP" in row["liquidated"]  # the coin calls share the BTC margin


def test_options_wallet_balance_and_cross_collateral_are_checked() -> None:
    with pytest.raises(InputError, match="cross_collateral: binance-usdm keeps options in an account of their own"):
        _row({**SHORT_PUTS, "cross_collateral": True}, Scenario("0", 0.0))
    with pytest.raises(InputError, match="cross_collateral must be true or false, was 'yes'"):
        _row({**DERIBIT, "cross_collateral": "yes"}, Scenario("0", 0.0))
    with pytest.raises(InputError, match=r"options_wallet_balance.ETH: no options wallet in ETH"):
        _row({**DERIBIT, "options_wallet_balance": {"ETH": 1.0}}, Scenario("0", 0.0))
    by_currency = _row({**DERIBIT, "options_wallet_balance": {"btc": 0.5}}, Scenario("up", 0.3))
    assert by_currency == _row({**DERIBIT, "options_wallet_balance": 0.5}, Scenario("up", 0.3))


# ---------------------------------------------------------------- 6. venues that list no options
@pytest.mark.parametrize(
    ("venue", "symbol"),
    [("hyperliquid", "BTC"), ("dydx-v4", "BTC-USD"), ("bitmex", "XBTUSDT")],
)
def test_venues_that_list_no_options_refuse_them(venue: str, symbol: str) -> None:
    """Before the fix Hyperliquid and dYdX accepted options (a wallet of their own)."""
    spec = {
        "venue": venue,
        "wallet_balance": 20_000,
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [{"symbol": symbol, "qty": 0.1, "entry_price": F0, "mark_price": F0, "leverage": 10,
                       "mmr": 0.005}],
        "options": [{**SHORT_PUTS["options"][0], "qty": 10}],
    }  # fmt: skip
    with pytest.raises(InputError, match=f"options: {venue} lists no options"):
        risk_report(spec, vol=0.6, n_sims=100, horizons=(1,))


def test_gate_options_are_a_wallet_of_their_own() -> None:
    """Gate lists options (API v4 /options/accounts) in an account of their own: a review found
    them refused as on a venue without options."""
    spec = {
        "venue": "gate",
        "wallet_balance": 20_000,
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [{"symbol": "BTC_USDT", "qty": 0.1, "entry_price": F0, "mark_price": F0, "leverage": 10,
                       "mmr": 0.005}],
        "options": [{**SHORT_PUTS["options"][0], "qty": 10}],
    }  # fmt: skip
    row = _row(spec, Scenario("down", -0.3))
    assert row["option_pnl"] > 0.0  # long puts: their wallet gains, apart from the futures
    with pytest.raises(InputError, match="gate keeps options in an account of their own"):
        _row({**spec, "options": [{**SHORT_PUTS["options"][0], "qty": -10}]}, Scenario("0", 0.0))


def test_var_says_it_leaves_out_a_wallet_in_another_currency() -> None:
    """Deribit USDC account, BTC-settled calls in a BTC wallet of 50 BTC: the VaR does not carry
    the wallet (a delta-one BTC holding of about 3M USD); the note says so (a review)."""
    rep = risk_report({**DERIBIT, "options_wallet_balance": 50.0}, vol=0.6, n_sims=100, horizons=(1,))
    notes = rep.volatility.get("notes", [])
    assert any("VaR and ES leave out the options wallet's 50 BTC" in n for n in notes), notes
    pooled = risk_report({**DERIBIT, "cross_collateral": True}, vol=0.6, n_sims=100, horizons=(1,))
    assert not any("leave out" in n for n in pooled.volatility.get("notes", []))
