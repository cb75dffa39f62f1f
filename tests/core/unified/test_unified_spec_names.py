"""Unified specs: contract names refused by what they are (BUSD and FDUSD quotes for their settlement), errors naming the spec's index, debts
without a ratio, the collateral API's venue check."""

from __future__ import annotations

from typing import Any

import pytest

import levguard
from levguard.core.rules.collateral import collateral_table_from_api
from levguard.errors import InputError

Spec = dict[str, Any]
VENUES = ("bybit-uta", "binance-pm", "okx-mcm")


def _one(venue: str, symbol: str) -> Spec:
    return {
        "venue": venue,
        "balances": {"USDT": 10000, "BTC": 1},
        "prices": {"BTC": 60000},
        "positions": [{"symbol": symbol, "qty": 1, "entry_price": 60000, "mark_price": 61000, "mmr": 0.005}],
    }


@pytest.mark.parametrize("symbol", ["BTC-PERP", "ETH-PERP", "BTCPERP"])
def test_bybit_usdc_perpetual_names_refused(symbol: str) -> None:
    """Bybit lists its USDC perpetual as BTC-PERP (BTCPERP before): BTC-PERP read as a USDT
    perpetual of 1 BTC (uPnL 1,000 USDT); now refused for its USDC settlement, as BTCPERP."""
    with pytest.raises(InputError, match=rf"positions\[0\] \({symbol}\)\.settlement must be USDT on bybit-uta.*'USDC'"):
        levguard.evaluate_account(_one("bybit-uta", symbol))


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize("symbol", ["BTC-PERPETUAL", "eth-perpetual"])
def test_deribit_inverse_perpetual_refused(venue: str, symbol: str) -> None:
    """Deribit's inverse BTC-PERPETUAL read as a linear contract of 100 BTC on binance-pm (uPnL
    100,000 USDT, notional 6.1M); now refused by name on every unified venue."""
    spec = _one(venue, symbol)
    spec["positions"][0]["qty"] = 100
    with pytest.raises(InputError, match=rf"positions\[0\]\.symbol '{symbol}' is an inverse \(coin-settled\) contract"):
        levguard.evaluate_account(spec)


def test_deribit_linear_and_dated_names_not_refused_as_inverse() -> None:
    """BTC_USDC-PERPETUAL (Deribit's linear USDC perpetual) is refused for its USDC settlement, not
    as inverse; BTC-27DEC24 is Bybit's USDC future there (refused for its settlement)."""
    with pytest.raises(InputError, match=r"settlement must be USDT on okx-mcm.*'USDC'"):
        levguard.evaluate_account(_one("okx-mcm", "BTC_USDC-PERPETUAL"))
    with pytest.raises(InputError, match=r"settlement must be USDT on bybit-uta.*'USDC'"):
        levguard.evaluate_account(_one("bybit-uta", "BTC-27DEC24"))


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("symbol", "coin"), [("BTCBUSD", "BUSD"), ("BTCFDUSD", "FDUSD"), ("ethbusd", "BUSD"), ("BTC-BUSD-SWAP", "BUSD")]
)
def test_busd_and_fdusd_quotes_refused_for_their_settlement(venue: str, symbol: str, coin: str) -> None:
    """BTCBUSD (Binance's BUSD-margined perpetual, settled in BUSD) was refused as an inverse
    contract (its USD tail read as Bybit's BTCUSD); now refused for its settlement coin."""
    with pytest.raises(
        InputError, match=rf"positions\[0\] \({symbol}\)\.settlement must be USDT on {venue}.*'{coin}'$"
    ):
        levguard.evaluate_account(_one(venue, symbol))


@pytest.mark.parametrize("venue", VENUES)
def test_coin_m_and_inverse_names_ending_in_busd_letters_stay_inverse(venue: str) -> None:
    """BNBUSD_PERP (Binance COIN-M) is no BUSD contract: inverse on binance-pm, refused as inverse
    elsewhere."""
    spec = _one(venue, "BNBUSD_PERP")
    spec["prices"]["BNB"] = 600
    spec["balances"]["BNB"] = 1
    spec["collateral_ratios"] = {"BNB": 0.9}
    spec["positions"][0].update(entry_price=600, mark_price=610)
    if venue == "binance-pm":
        assert levguard.evaluate_account(spec).positions[0].symbol == "BNBUSD_PERP"
    else:
        with pytest.raises(InputError, match=r"is an inverse \(coin-settled\) contract"):
            levguard.evaluate_account(spec)


_EMPTY = {"symbol": "ETH/USDT:USDT", "contracts": 0, "side": "long", "entryPrice": 3000, "markPrice": 3000,
          "contractSize": 1}  # fmt: skip
_GOOD = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "mmr": 0.005}


@pytest.mark.parametrize(
    ("third", "message"),
    [
        ({"symbol": "SOLUSDT", "qty": 1, "entry_price": 150, "mark_price": 150, "mmr": 0.01,
          "margin_mode": "isolated"}, r"positions\[2\] \(SOLUSDT\)\.margin_mode must be cross"),
        ({"symbol": "BTC/USDC:USDC", "qty": 1, "entry_price": 60000, "mark_price": 60000, "mmr": 0.005},
         r"positions\[2\] \(BTC/USDC:USDC\)\.settlement must be USDT"),
        ({"symbol": "BTC/USDT:USDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "mmr": 0.005},
         r"positions\[2\]\.symbol 'BTC/USDT:USDT' is the contract of 'BTCUSDT' again"),
        ({"symbol": "ETHUSDT", "qty": 1, "entry_price": 3000, "mark_price": 3000, "leverage": 1000},
         r"positions\[2\]\.leverage 1000\.0 exceeds the maximum 125"),
    ],
)  # fmt: skip
def test_errors_name_the_spec_index_after_a_skipped_empty_position(third: Spec, message: str) -> None:
    """An empty ccxt position (contracts 0) at positions[0] is skipped: the error of positions[2]
    named positions[1]; now the spec's index."""
    with pytest.raises(InputError, match=message):
        levguard.evaluate_account(
            {"venue": "binance-pm", "balances": {"USDT": 10000}, "positions": [_EMPTY, _GOOD, third]}
        )


@pytest.mark.parametrize(
    "third",
    [
        {"symbol": "BTC/USDT:USDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "mmr": 0.005},
        {"symbol": "ETHUSDT", "qty": 1, "entry_price": 3000, "mark_price": 3000, "leverage": 1000},
    ],
)
def test_single_wallet_errors_name_the_spec_index(third: Spec) -> None:
    """The same on a single-wallet account (binance-usdm): positions[2], was positions[1]."""
    with pytest.raises(InputError, match=r"^positions\[2\]"):
        levguard.evaluate_account(
            {"venue": "binance-usdm", "wallet_balance": 10000, "positions": [_EMPTY, _GOOD, third]}
        )


@pytest.mark.parametrize("venue", VENUES)
def test_a_debt_only_asset_needs_no_ratio(venue: str) -> None:
    """-1 ETH at 3,000 counts -3,000 USD whatever its ratio (0 or 1 gave equity 7,000): it was
    refused for want of ETH's ratio; now equity 7,000, MM 300 (loan MM 0.1 x 3,000)."""
    spec = {"venue": venue, "balances": {"USDT": 10000, "ETH": -1}, "prices": {"ETH": 3000}, "loan_mmr": 0.1}
    r = levguard.evaluate_account(spec)
    assert (r.equity, r.maintenance_margin) == (7000.0, 300.0)
    spec["balances"]["ETH"] = 0.5  # held: its ratio is still required
    with pytest.raises(InputError, match=r"no collateral ratio for ETH"):
        levguard.evaluate_account(spec)


def test_a_debt_in_the_settlement_coin_still_needs_its_ratio() -> None:
    """A COIN-M position's PnL joins its coin (binance-pm): an ETH debt there may turn positive, so
    ETH's ratio stays required (the built-in table has none)."""
    spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 10000, "ETH": -0.01},
        "prices": {"ETH": 3000},
        "loan_mmr": 0.1,
        "positions": [{"symbol": "ETHUSD_PERP", "qty": 10, "entry_price": 2500, "mark_price": 3000, "mmr": 0.005}],
    }
    with pytest.raises(InputError, match=r"no collateral ratio for ETH"):
        levguard.evaluate_account(spec)
    spec["collateral_ratios"] = {"ETH": 0.9}
    assert levguard.evaluate_account(spec).equity > 0.0


@pytest.mark.parametrize("venue", [["okx-mcm"], {"v": 1}, 1, None])
def test_collateral_table_from_api_names_a_bad_venue(venue: object) -> None:
    """A list venue raised a raw TypeError (unhashable type: 'list'); now InputError naming it."""
    with pytest.raises(InputError, match=r"venue must be one of \['binance-pm', 'bybit-uta', 'okx-mcm'\], was"):
        collateral_table_from_api(venue, {"data": []}, source="s", as_of="2024-01-01")  # type: ignore[arg-type]
