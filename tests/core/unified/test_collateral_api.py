"""Collateral tables from the venues' API shapes, and the ``okx-mcm`` venue's ratio and status."""

from __future__ import annotations

from typing import Any

import pytest

import levguard
from levguard.core.rules.collateral import (
    BINANCE_PM,
    BYBIT_UTA,
    OKX_MCM,
    binance_pm_collateral_tiers,
    bybit_collateral_tiers,
    collateral_table_from_api,
    collateral_tiers_from_spec,
    okx_discount_tiers,
)
from levguard.core.unified import UNIFIED_VENUES
from levguard.errors import InputError


def test_builtin_tables_carry_source_date_and_basis() -> None:
    for table, basis in ((BYBIT_UTA, "qty"), (BINANCE_PM, "usd_value"), (OKX_MCM, "qty")):
        assert table.source
        assert table.note
        assert len(table.as_of) == 10
        assert table.as_of[4] == "-"
        assert table.basis == basis
        assert all(t.basis == basis for t in table.assets.values())
    assert set(OKX_MCM.assets) == {"BTC", "USDT"}
    assert UNIFIED_VENUES["okx-mcm"].table is OKX_MCM


def test_bybit_parser_reads_envelope_result_or_list() -> None:
    rows = [{"currency": "eth", "collateralRatioList": [{"minQty": "0", "maxQty": "", "collateralRatio": "0.9"}]}]
    for shape in ({"retCode": 0, "result": {"list": rows}}, {"list": rows}, rows):
        tiers = bybit_collateral_tiers(shape, source="s")
        assert list(tiers) == ["ETH"]
        assert tiers["ETH"].ratios == (0.9,)
        assert tiers["ETH"].source == "s"


def test_binance_parser_reads_v1_single_rates() -> None:
    tiers = binance_pm_collateral_tiers([{"asset": "ETH", "collateralRate": "0.9500"}])
    assert tiers["ETH"].floors == (0.0,)
    assert tiers["ETH"].ratios == (0.95,)
    assert tiers["ETH"].value(2, 3000) == pytest.approx(5700.0)


def test_okx_parser_min_discount_rate_applies_above_the_last_tier() -> None:
    data = {
        "data": [
            {
                "ccy": "ETH",
                "details": [{"minAmt": "0", "maxAmt": "100", "discountRate": "0.95"}],
                "minDiscountRate": "0.5",
            }
        ]
    }
    eth = okx_discount_tiers(data)["ETH"]
    assert eth.floors == (0.0, 100.0)
    assert eth.ratios == (0.95, 0.5)
    assert eth.value(120, 10.0) == pytest.approx((100 * 0.95 + 20 * 0.5) * 10.0)
    old = {"data": [{"ccy": "BTC", "discountInfo": [{"minAmt": "0", "maxAmt": "", "discountRate": "1"}]}]}
    assert okx_discount_tiers(old)["BTC"].ratios == (1.0,)


@pytest.mark.parametrize(
    ("venue", "bad", "match"),
    [
        ("bybit-uta", {"result": {"list": "x"}}, "bybit collateral payload"),
        ("bybit-uta", [{"currency": "", "collateralRatioList": []}], r"list\[0\]\.currency"),
        ("bybit-uta", [{"currency": "BTC", "collateralRatioList": []}], "collateralRatioList"),
        ("binance-pm", [{"asset": "BNB"}], "collateralRate"),
        ("binance-pm", [{"asset": "BNB", "collateralInfo": [{"tierFloor": "0", "collateralRate": "x"}]}], "ratio"),
        (
            "okx-mcm",
            {"data": [{"ccy": "BTC", "details": [{"minAmt": "0", "maxAmt": "0", "discountRate": "1"}]}]},
            "cap",
        ),
        ("okx-mcm", {"data": [{"ccy": "BTC", "details": [{"minAmt": "0", "discountRate": "1.2"}]}]}, "fractions"),
        ("okx-mcm", {"data": [{"ccy": "BTC", "details": [], "minDiscountRate": "abc"}]}, "minDiscountRate"),
        ("kraken", [], "venue must be one of"),
    ],
)
def test_parsers_name_the_bad_value(venue: str, bad: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        collateral_table_from_api(venue, bad, source="t", as_of="2026-12-03")


def test_table_from_api_needs_a_date() -> None:
    with pytest.raises(InputError, match="as_of must be a date"):
        collateral_table_from_api("okx-mcm", {"data": []}, source="t", as_of="yesterday")


def test_spec_takes_okx_rows_and_caps_the_last_tier() -> None:
    rows = [{"minAmt": "0", "maxAmt": "10", "discountRate": "0.9"}]
    t = collateral_tiers_from_spec("SOL", rows, "qty", "collateral_ratios.SOL")
    assert t.value(15, 100.0) == pytest.approx(10 * 0.9 * 100.0)  # nothing above the published cap
    r = levguard.evaluate_account(
        {"venue": "okx-mcm", "balances": {"SOL": 15}, "prices": {"SOL": 100}, "collateral_ratios": {"SOL": rows}}
    )
    assert r.equity == pytest.approx(900.0)


def test_okx_mcm_needs_a_discount_rate_for_unknown_assets() -> None:
    with pytest.raises(InputError, match="no collateral ratio for ETH on okx-mcm"):
        levguard.evaluate_account({"venue": "okx-mcm", "balances": {"ETH": 1}, "prices": {"ETH": 3000}})


@pytest.mark.parametrize(
    ("usdt", "status", "liquidatable"),
    [
        (3.0 * 4500.0 + 1.0, "normal", False),
        (3.0 * 4500.0, "risk_alert", False),
        (4500.0 + 1e-6, "risk_alert", False),
        (4500.0, "liquidation", True),
    ],
)
def test_okx_mcm_status_bands(usdt: float, status: str, liquidatable: bool) -> None:
    """Margin ratio above 300 % normal, (100 %, 300 %] risk alert, <= 100 % liquidation; MM 4,500
    = 1,000,000 x (0.4 % + 0.05 % taker), no PnL (entry = mark)."""
    spec = {
        "venue": "okx-mcm",
        "balances": {"USDT": usdt},
        "positions": [{"symbol": "BTCUSDT", "qty": 10, "entry_price": 100_000, "mark_price": 100_000, "mmr": 0.004}],
    }
    r = levguard.evaluate_account(spec)
    assert r.maintenance_margin == pytest.approx(4500.0, rel=1e-12)
    assert r.account_status == status
    assert r.liquidatable is liquidatable
    assert r.account_ratio == pytest.approx(usdt / 4500.0, rel=1e-12)
