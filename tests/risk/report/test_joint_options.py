"""The joint ladder, surface and reverse stress of a cross account revalue its options in each
scenario, with the stress table's liquidation rule (risk.joint_options)."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from levguard.core.risk.stress import Scenario
from levguard.risk.joint import joint_stress_report
from levguard.risk.report import risk_report

AS_OF = "2024-06-01T00:00:00Z"

# Deribit, cross collateral: 30,000 USDC, a 0.5 BTC perpetual long and 6 short BTC-settled calls,
# pooled with the USDC margin: a rally liquidates the account (the stress table says so).
DERIBIT: dict[str, Any] = {
    "venue": "deribit",
    "wallet_balance": 30000,
    "cross_collateral": True,
    "as_of": AS_OF,
    "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 61000, "mark_price": 61000, "leverage": 5}
    ],
    "options": [{"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "coin", "vol": 0.5}],
}

# Binance: the options are in the Options account, a wallet apart; short calls there cannot
# liquidate the futures, which a fall of about 1/leverage liquidates.
BINANCE: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 15000,
    "as_of": AS_OF,
    "options_wallet_balance": 2000,
    "positions": [{"symbol": "BTCUSDT", "qty": 2, "entry_price": 61000, "mark_price": 61000, "leverage": 10}],
    "options": [{"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "usd", "vol": 0.5}],
}

# Deribit, a short BTC straddle pooled with 25,000 USDC and a small perpetual: both ways liquidate.
STRADDLE: dict[str, Any] = {
    "venue": "deribit",
    "wallet_balance": 25000,
    "cross_collateral": True,
    "as_of": AS_OF,
    "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.1, "entry_price": 61000, "mark_price": 61000, "leverage": 5}
    ],
    "options": [
        {"symbol": "BTC-28JUN24-61000-C", "qty": -2, "settlement": "coin", "vol": 0.5},
        {"symbol": "BTC-28JUN24-61000-P", "qty": -2, "settlement": "coin", "vol": 0.5},
    ],
}


def _liquidated(spec: dict[str, Any], move: float) -> bool:
    s = Scenario(name="m", price_shock=move)
    row = risk_report(copy.deepcopy(spec), vol=0.6, n_sims=200, scenarios=[s]).to_dict()["stress"][0]["accounts"][0]
    return bool(row["liquidated"])


@pytest.mark.parametrize("spec", [DERIBIT, BINANCE, STRADDLE], ids=["deribit-pooled", "binance-apart", "straddle"])
def test_reverse_stress_shock_liquidates_in_the_stress_table_and_not_just_inside(spec: dict[str, Any]) -> None:
    rs = joint_stress_report(copy.deepcopy(spec), assets=["BTC"], vol=0.6).reverse
    assert rs.found
    assert rs.liquidatable
    (move,) = rs.moves
    assert _liquidated(spec, move)
    assert not _liquidated(spec, move - math.copysign(1e-6, move))


def test_pooled_short_calls_liquidate_on_a_rally() -> None:
    j = joint_stress_report(copy.deepcopy(DERIBIT), assets=["BTC"], vol=0.6)
    # Before: the ladder and the reverse stress left the calls out (down none, up none, not found).
    assert j.ladder is not None
    assert j.ladder.nearest_up is not None
    assert 0.06 < j.ladder.nearest_up <= 0.1
    assert j.reverse.found
    assert 0.05 < j.reverse.moves[0] < 0.07
    # Each grid point says what the stress table says at that move.
    for m, liq in zip(j.ladder.moves.tolist(), j.ladder.liquidatable.tolist(), strict=True):
        if abs(m) in (0.1, 0.3, 0.5) or m in (-0.4, 0.06):
            assert liq == _liquidated(DERIBIT, m), m


def test_options_in_a_wallet_apart_leave_the_futures_trigger_alone() -> None:
    with_options = joint_stress_report(copy.deepcopy(BINANCE), assets=["BTC"], vol=0.6)
    bare = {k: v for k, v in BINANCE.items() if k not in ("options", "options_wallet_balance")}
    without = joint_stress_report(bare, assets=["BTC"], vol=0.6)
    assert with_options.reverse.moves == without.reverse.moves
    assert with_options.ladder is not None
    assert without.ladder is not None
    assert np.array_equal(with_options.ladder.liquidatable, without.ladder.liquidatable)
    assert with_options.ladder.nearest_up is None


def test_short_straddle_ladder_shows_both_ways() -> None:
    j = joint_stress_report(copy.deepcopy(STRADDLE), assets=["BTC"], vol=0.6)
    assert j.ladder is not None
    down, up = j.ladder.nearest_down, j.ladder.nearest_up
    assert down is not None
    assert up is not None
    assert _liquidated(STRADDLE, down)
    assert _liquidated(STRADDLE, up)
    assert not _liquidated(STRADDLE, 0.0)
