"""Collateral tiers are read on the basis their keys name (coins or USD), whatever the venue.

binance-pm read OKX's coin tiers (minAmt/maxAmt) as USD and bybit-uta / okx-mcm read Binance's
USD tiers (minUsdValue, tierFloor) as coins: 10 ETH at 3,000 was 27,000.25 and 28,500.
"""

from __future__ import annotations

from typing import Any

import pytest

import levguard
from levguard.core.rules.collateral import collateral_tiers_from_spec
from levguard.errors import InputError

OKX_COIN = [
    {"minAmt": "0", "maxAmt": "5", "discountRate": "0.95"},
    {"minAmt": "5", "maxAmt": "", "discountRate": "0.9"},
]
BYBIT_COIN = [
    {"minQty": "0", "maxQty": "5", "collateralRatio": "0.95"},
    {"minQty": "5", "maxQty": "", "collateralRatio": "0.9"},
]
BINANCE_USD = [
    {"minUsdValue": "0", "maxUsdValue": "10000", "discountRate": "0.95"},
    {"minUsdValue": "10000", "discountRate": "0.9"},
]
BINANCE_V2 = [
    {"tierFloor": "0", "tierCap": "10000", "collateralRate": "0.95"},
    {"tierFloor": "10000", "tierCap": "", "collateralRate": "0.9"},
]
VENUES = ("binance-pm", "bybit-uta", "okx-mcm")


def eth_value(venue: str, tiers: Any) -> float:
    spec = {"venue": venue, "balances": {"ETH": 10}, "prices": {"ETH": 3000}, "collateral_ratios": {"ETH": tiers}}
    return first_row_value(levguard.evaluate_account(spec))


def first_row_value(report: levguard.AccountReport) -> float:
    assert report.collateral is not None
    return report.collateral[0].value


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize("tiers", [OKX_COIN, BYBIT_COIN], ids=["okx-minAmt", "bybit-minQty"])
def test_coin_tiers_count_coins_on_every_venue(venue: str, tiers: Any) -> None:
    # 5 ETH x 0.95 x 3,000 + 5 ETH x 0.9 x 3,000
    assert eth_value(venue, tiers) == pytest.approx(27750.0, rel=1e-12)


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize("tiers", [BINANCE_USD, BINANCE_V2], ids=["minUsdValue", "tierFloor"])
def test_usd_tiers_count_usd_on_every_venue(venue: str, tiers: Any) -> None:
    # 10,000 USD x 0.95 + 20,000 USD x 0.9
    assert eth_value(venue, tiers) == pytest.approx(27500.0, rel=1e-12)


def test_okx_pm_reads_usd_tiers_as_usd() -> None:
    spec = {
        "venue": "okx-pm",
        "balances": {"ETH": 10},
        "prices": {"ETH": 3000},
        "collateral_ratios": {"ETH": BINANCE_USD},
    }
    assert first_row_value(levguard.evaluate_account(spec)) == pytest.approx(27500.0, rel=1e-12)


def test_our_floor_keys_and_a_single_ratio_take_the_venue_basis() -> None:
    ours = [{"floor": 0, "ratio": 0.95}, {"floor": 5, "ratio": 0.9}]
    assert eth_value("bybit-uta", ours) == pytest.approx(27750.0)  # coins
    assert eth_value("binance-pm", ours) == pytest.approx(27000.25)  # USD: 5 x 0.95 + 29,995 x 0.9
    assert collateral_tiers_from_spec("ETH", 0.9, "qty", "x").basis == "qty"
    assert collateral_tiers_from_spec("ETH", BINANCE_V2, "qty", "x").basis == "usd_value"
    assert collateral_tiers_from_spec("ETH", OKX_COIN, "usd_value", "x").basis == "qty"


def test_tiers_mixing_bases_are_refused_naming_the_key() -> None:
    mixed = [OKX_COIN[0], {"minUsdValue": "15000", "discountRate": "0.9"}]
    with pytest.raises(InputError, match=r"collateral_ratios\.ETH\[1\]\.minUsdValue bounds USD values.*minAmt"):
        eth_value("binance-pm", mixed)
    row = [{"minQty": "0", "maxUsdValue": "10000", "collateralRatio": "0.95"}]
    with pytest.raises(InputError, match=r"maxUsdValue"):
        eth_value("bybit-uta", row)
