"""Hypothesis property of the risk report's stress rows with options in the account: whatever
the shock, an account's equity before and after (options included, floored at 0) are >= 0, its
bad debt (the shortfall the scenario adds) >= 0, equity before + P&L = equity after, and bad debt
appears only where the equity before the floor is below zero (docs/risk.md §5 and §6)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.risk.stress import Scenario
from levguard.risk.report import risk_report


def _book(wallet: float, perp_qty: float, call_qty: float, put_qty: float) -> dict[str, Any]:
    # A Deribit USDC account: a cross perpetual, calls and puts (coin- and USD-settled) at 61,000.
    return {
        "name": "deribit",
        "venue": "deribit",
        "wallet_balance": wallet,
        "cross_collateral": True,  # the USDC also backs the coin-settled calls: one cross part
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [
            {
                "symbol": "BTC_USDC-PERPETUAL",
                "qty": perp_qty,
                "entry_price": 60_500,
                "mark_price": 61_000,
                "leverage": 5,
            }
        ],
        "options": [
            {"underlying": "BTC", "kind": "call", "strike": 70_000, "t_years": 0.3, "qty": call_qty, "vol": 0.5},
            {
                "underlying": "BTC",
                "kind": "put",
                "strike": 50_000,
                "t_years": 0.1,
                "qty": put_qty,
                "vol": 0.6,
                "settlement": "usd",
            },
        ],
    }


@settings(max_examples=60, deadline=None)
@given(
    wallet=st.floats(1_000, 50_000),
    perp_qty=st.sampled_from([-1.0, -0.3, 0.3, 1.0]),
    call_qty=st.floats(-8, 3).filter(lambda q: abs(q) > 1e-3),
    put_qty=st.floats(-8, 3).filter(lambda q: abs(q) > 1e-3),
    shock=st.floats(-0.7, 1.0),
    vol_shock=st.floats(-0.2, 0.5),
)
def test_stress_rows_floor_the_equity_with_the_options_in_it(
    wallet: float, perp_qty: float, call_qty: float, put_qty: float, shock: float, vol_shock: float
) -> None:
    rep = risk_report(
        _book(wallet, perp_qty, call_qty, put_qty),
        vol=0.6,
        n_sims=100,
        horizons=(1,),
        scenarios=[Scenario("s", shock, vol_shock=vol_shock)],
    )
    # Deribit pools the options with the futures: one cross part, floored at 0 before and after.
    raw_before = rep.exposure[0]["equity"]
    row = rep.stress[0]["accounts"][0]
    # The equity after before the floor: the cross perpetual's P&L (no funding here) and the options'.
    unfloored = raw_before + row["positions"][0]["pnl"] + row["option_pnl"]
    tol = 1e-9 * (abs(raw_before) + abs(unfloored) + 1.0)
    before = row["equity_before"]
    assert before == pytest.approx(max(raw_before, 0.0), abs=tol)
    assert row["shortfall_before"] == pytest.approx(max(-raw_before, 0.0), abs=tol)
    assert row["equity_after"] >= 0.0
    assert row["bad_debt"] >= 0.0
    assert before + row["pnl"] == pytest.approx(row["equity_after"], abs=tol)
    if row["bad_debt"] > 0.0:
        assert unfloored < 0.0
    assert row["equity_after"] == pytest.approx(max(unfloored, 0.0), abs=tol)
    # The shortfall the scenario adds to the one already there.
    assert row["bad_debt"] == pytest.approx(max(max(-unfloored, 0.0) - max(-raw_before, 0.0), 0.0), abs=tol)
