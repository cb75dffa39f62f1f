"""Equity <= 0 with no maintenance margin is a liquidation (unified and portfolio-margin accounts).

An account owing more than its collateral is worth after haircuts (a negative USDT balance, or
loans at loan MMR 0) had MM 0 and read "normal", not liquidatable, ratio 0: bybit-uta
``{USDT: -50000, BTC: 1}`` at BTC 45,000 has equity -5,900.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.core.risk.joint_stress import joint_for, reverse_stress, scenario_values
from levguard.core.unified import unified_account_from_spec
from levguard.live.unified import state_ratio

# The liquidation band each venue reports past its trigger.
BAND = {"bybit-uta": "liquidation", "binance-pm": "liquidation_loss", "okx-mcm": "liquidation"}


def negative(venue: str, **over: Any) -> dict[str, Any]:
    return {"venue": venue, "balances": {"USDT": -50000, "BTC": 1}, "prices": {"BTC": 45000}, **over}


@pytest.mark.parametrize("venue", sorted(BAND))
def test_negative_balance_beyond_collateral_is_liquidatable(venue: str) -> None:
    r = levguard.evaluate_account(negative(venue))
    assert r.equity < 0.0
    assert r.maintenance_margin == 0.0
    assert r.liquidatable
    assert r.account_ratio is None  # infinite / undefined
    assert r.account_status == BAND[venue]
    assert state_ratio(r) == math.inf


@pytest.mark.parametrize("venue", sorted(BAND))
def test_loans_at_loan_mmr_zero_beyond_collateral_are_liquidatable(venue: str) -> None:
    spec = {
        "venue": venue,
        "balances": {"USDT": 0, "BTC": 1},
        "borrowed": {"USDT": 50000},
        "loan_mmr": 0.0,
        "prices": {"BTC": 45000},
    }
    r = levguard.evaluate_account(spec)
    assert (r.maintenance_margin, r.liquidatable, r.account_status) == (0.0, True, BAND[venue])
    assert r.account_ratio is None


@pytest.mark.parametrize("venue", sorted(BAND))
def test_solvent_debt_and_empty_account_stay_normal(venue: str) -> None:
    r = levguard.evaluate_account(negative(venue, balances={"USDT": -20000, "BTC": 1}))
    assert r.equity > 0.0
    assert (r.liquidatable, r.account_status) == (False, "normal")
    assert state_ratio(r) == 0.0
    empty = levguard.evaluate_account({"venue": venue, "balances": {"USDT": 0}})
    assert (empty.equity, empty.liquidatable, empty.account_status) == (0.0, False, "normal")
    assert state_ratio(empty) == 0.0


def test_debt_exactly_covered_is_liquidatable() -> None:
    # equity exactly 0 with a debt: the trigger equity <= c * MM at MM = 0.
    spec = {"venue": "bybit-uta", "balances": {"USDT": -100, "USDC": 100}, "collateral_ratios": {"USDC": 1}}
    r = levguard.evaluate_account(spec)
    assert (r.equity, r.maintenance_margin, r.liquidatable, r.account_ratio) == (0.0, 0.0, True, None)


def test_portfolio_margin_venues_read_equity_below_zero_as_liquidation() -> None:
    okx = levguard.evaluate_account(
        {"venue": "okx-pm", "balances": {"USDT": -50000, "BTC": 1}, "prices": {"BTC": 45000}}
    )
    assert okx.equity < 0.0
    assert (okx.liquidatable, okx.account_status) == (True, "liquidation")
    deribit = {
        "venue": "deribit-pm",
        "currency": "BTC",
        "balances": {"BTC": -0.1},
        "index_price": 60000.0,
        "as_of": "2024-06-17T08:00:00Z",
        "positions": [],
    }
    r = levguard.evaluate_account(deribit)
    assert (r.liquidatable, r.account_status, r.account_ratio) == (True, "liquidation", None)


@pytest.mark.parametrize("venue", sorted(BAND))
def test_scenarios_see_the_liquidation_where_equity_crosses_zero(venue: str) -> None:
    # Solvent at 60,000; equity 0 where the BTC collateral value covers the 40,000 USDT debt.
    ua = unified_account_from_spec(negative(venue, balances={"USDT": -40000, "BTC": 1}, prices={"BTC": 60000}))
    ja = joint_for(ua)
    factors = np.array([[1.0], [0.9], [0.5]])
    equity, mm, liq = scenario_values(ja, ["BTC"], factors)
    assert np.all(mm == 0.0)
    assert liq.tolist() == (equity <= 0.0).tolist() == [False, False, True]
    rs = reverse_stress(ja, ["BTC"], [[0.3**2]], max_norm=20.0)
    assert (rs.found, rs.liquidatable) == (True, True)
    assert -40.0 < rs.equity <= 0.0  # at the crossing, not far past it
    if venue == "binance-pm":  # one collateral rate, 0.95: equity 0 at BTC 40,000 / 0.95
        assert rs.prices_after["BTC"] == pytest.approx(40000.0 / 0.95, rel=1e-3)


def test_cli_risk_reports_the_liquidation(tmp_path: Path) -> None:
    spec = tmp_path / "acct.yaml"
    spec.write_text("venue: binance-pm\nbalances: {USDT: -40000, BTC: 1}\nprices: {BTC: 60000}\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["risk", str(spec), "--vol", "0.6"])
    assert r.exit_code == 0, r.stdout
    out = " ".join(r.stdout.split())
    assert "nothing within 20 standard deviations liquidates" not in out
    assert "minimal liquidating shock" in out
    assert "down -30.0%" in out  # the ladder's first grid move past 42,105 (0.95 x BTC = 40,000)
    bad = tmp_path / "bad.yaml"
    bad.write_text("venue: bybit-uta\nbalances: {USDT: -50000, BTC: 1}\nprices: {BTC: 45000}\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["risk", str(bad), "--vol", "0.6"])
    assert r.exit_code == 0, r.stdout
    assert "liquidation" in r.stdout.splitlines()[0] or "liquidation" in r.stdout


@settings(max_examples=60, deadline=None)
@given(
    venue=st.sampled_from(sorted(BAND)),
    usdt=st.integers(-200000, 200000),
    btc=st.integers(0, 500).map(lambda c: c / 100),
    borrowed=st.integers(0, 100000),
    loan_mmr=st.sampled_from([0.0, 0.1]),
)
def test_equity_at_or_below_zero_is_liquidatable(
    venue: str, usdt: int, btc: float, borrowed: int, loan_mmr: float
) -> None:
    spec = {
        "venue": venue,
        "balances": {"USDT": usdt, "BTC": btc},
        "borrowed": {"USDT": borrowed},
        "loan_mmr": loan_mmr,
        "prices": {"BTC": 45000},
    }
    r = levguard.evaluate_account(spec)
    exposed = usdt - borrowed < 0.0 or borrowed > 0.0
    if r.equity <= 0.0 and exposed:
        assert r.liquidatable
        assert r.account_status == BAND[venue]
        assert state_ratio(r) == math.inf
    if r.maintenance_margin == 0.0 and r.equity > 0.0:
        assert not r.liquidatable
