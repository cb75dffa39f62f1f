"""The stress row's ``bankrupt`` is the cross part's: the cross trigger met with no cross futures to
liquidate.  A Deribit isolated short perpetual beside pooled short calls at BTC +20 %: the cross part
(cash plus the calls) is wiped out, bad debt 9,716, and the flag read False because the isolated
perpetual, a part of its own, was liquidated.  Options in a wallet of their own are not the cross
part: their shortfall is bad debt (the venue's), the flag stays False and the ladder finds nothing.
One asset is enough for a ladder: the refusal of default assets says so."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from levguard.core.risk.stress import Scenario
from levguard.errors import InputError
from levguard.risk.joint import joint_stress_report
from levguard.risk.report import risk_report

CALL = {"symbol": "BTC-27SEP24-70000-C", "qty": -3, "settlement": "coin", "vol": 0.5}
ISO_AND_POOLED: dict[str, Any] = {
    "venue": "deribit",
    "wallet_balance": 20_000,
    "cross_collateral": True,
    "as_of": "2024-06-01T00:00:00Z",
    "margin_mode": "isolated",
    "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": -0.05, "entry_price": 61_000, "mark_price": 61_000, "leverage": 10}
    ],
    "options": [CALL],
}
APART: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 1_000,
    "as_of": "2024-06-01T00:00:00Z",
    "options_wallet_balance": 2_000,
    "positions": [],
    "options": [{**CALL, "qty": -6, "settlement": "usd", "underlying_price": 61_000}],
}


def _row(spec: dict[str, Any], move: float) -> dict[str, Any]:
    s = Scenario(name="m", price_shock=move)
    out: dict[str, Any] = risk_report(copy.deepcopy(spec), vol=0.6, n_sims=200, scenarios=[s]).to_dict()["stress"][0][
        "accounts"
    ][0]
    return out


def test_cross_part_bankrupt_beside_a_liquidated_isolated_position() -> None:
    row = _row(ISO_AND_POOLED, 0.2)
    assert row["liquidated"] == ["BTC_USDC-PERPETUAL"]
    assert row["equity_after"] == 0.0
    assert row["bad_debt"] == pytest.approx(9_716.0, abs=1.0)
    assert row["bankrupt"] is True
    calm = _row(ISO_AND_POOLED, 0.1)  # the perpetual liquidated, the cross part still above 0
    assert calm["liquidated"] == ["BTC_USDC-PERPETUAL"]
    assert calm["bankrupt"] is False


def test_options_wallet_apart_shortfall_is_bad_debt_not_bankrupt() -> None:
    row = _row(APART, 0.3)
    assert row["bad_debt"] > 50_000
    assert row["equity_after"] == 1_000.0  # the cross wallet, untouched
    assert row["bankrupt"] is False
    j = joint_stress_report(copy.deepcopy(APART), assets=["BTC"], vol=0.6)
    assert j.trigger == "bankruptcy"
    assert j.ladder is not None
    assert j.ladder.nearest_up is None
    assert j.ladder.nearest_down is None


def test_one_asset_is_enough_for_a_ladder_message() -> None:
    with pytest.raises(InputError, match=r"name one for a ladder \(--surface BTC\)") as e:
        joint_stress_report(copy.deepcopy(APART), vol=0.6)
    assert "two assets of" not in str(e.value)
