"""Funding in an account replay joins the settlement asset before its haircut.

OKX multi-currency margin values USDT above 5,000,000 at 0.9 (the built-in discount tiers): an
account of 6,000,000 USDT whose short receives 60,000 USDT of funding holds 6,060,000 USDT, worth
5,954,000 after the haircut (what evaluate_account says of that balance); the replay added the
60,000 at face value after the haircut and read 5,960,000.
"""

from __future__ import annotations

import pandas as pd
import pytest

import levguard
from levguard.backtest.account import replay_account

SPEC = {
    "venue": "okx-mcm",
    "balances": {"USDT": 6_000_000},
    "positions": [{"symbol": "BTC-USDT-SWAP", "qty": -100, "entry_price": 60_000, "mark_price": 60_000, "mmr": 0.005}],
}


def test_funding_received_is_haircut_with_the_usdt_it_joins() -> None:
    idx = pd.date_range("2024-01-01", periods=3, freq="8h", tz="UTC")
    bars = pd.DataFrame({"open": 60_000.0, "high": 60_000.0, "low": 60_000.0, "close": 60_000.0}, index=idx)
    funding = {"BTC": pd.Series([0.01], index=[idx[1]])}  # longs pay shorts: 100 x 60,000 x 1 % = 60,000
    rep = replay_account(SPEC, {"BTC": bars}, funding=funding, intrabar="close")
    after = levguard.evaluate_account({**SPEC, "balances": {"USDT": 6_060_000}})
    assert rep.frame["funding_paid"].tolist() == [0.0, -60_000.0, -60_000.0]
    assert rep.frame["equity"].iloc[0] == levguard.evaluate_account(SPEC).equity == 5_900_000.0
    assert after.equity == pytest.approx(5_954_000.0, rel=1e-12)
    assert rep.frame["equity"].iloc[1] == pytest.approx(after.equity, rel=1e-12)
    assert rep.frame["equity"].iloc[2] == pytest.approx(after.equity, rel=1e-12)
    assert rep.frame["worst_equity"].iloc[1] == pytest.approx(after.equity, rel=1e-12)
