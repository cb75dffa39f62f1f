"""The account replay's loan MM after funding, against the engine on the same balances.

With ``loan_mmr`` a negative USDT balance is owed (``owed = max(borrowed, -net)``), so funding
that deepens it deepens the loans' maintenance margin.  The replay recomputed only the equity
after funding: USDT -20,000 paying 3,000 kept MM 2,300 where the engine on USDT -23,000 says 2,600.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import levguard
from levguard.backtest.account import replay_account

_IDX = pd.date_range("2024-01-01", periods=3, freq="8h", tz="UTC")
_BARS = pd.DataFrame({"open": 60_000.0, "high": 60_000.0, "low": 60_000.0, "close": 60_000.0}, index=_IDX)
_LONG = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000, "mark_price": 60_000, "mmr": 0.005}


def _spec(balances: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"venue": "bybit-uta", "balances": balances, "prices": {"BTC": 60_000.0}, "loan_mmr": 0.1,
            "positions": [dict(_LONG)], **extra}  # fmt: skip


def _replay(spec: dict[str, Any], rate: float) -> pd.DataFrame:
    funding = {"BTC": pd.Series([rate], index=[_IDX[1]])}  # the long pays 1 x 60,000 x rate
    return replay_account(spec, {"BTC": _BARS}, funding=funding, intrabar="close").frame


def test_funding_deepening_a_negative_balance_deepens_the_loan_mm() -> None:
    frame = _replay(_spec({"USDT": -20_000.0, "BTC": 1.0}), 0.05)  # pays 3,000
    after = levguard.evaluate_account(_spec({"USDT": -23_000.0, "BTC": 1.0}))
    assert after.maintenance_margin == pytest.approx(2_600.0)
    assert frame["mm"].iloc[0] == pytest.approx(2_300.0)
    assert frame["mm"].iloc[1] == pytest.approx(after.maintenance_margin, rel=1e-12)  # was 2,300
    assert frame["equity"].iloc[1] == pytest.approx(after.equity, rel=1e-12)
    assert frame["ratio"].iloc[1] == pytest.approx(after.account_ratio, rel=1e-12)
    assert frame["worst_mm"].iloc[2] == pytest.approx(2_600.0)


@pytest.mark.parametrize(
    ("balances", "borrowed", "rate", "moved"),
    [
        ({"USDT": 0.0, "BTC": 1.0}, {"USDT": 20_000.0}, -0.05, {"USDT": 3_000.0}),  # received: the loan stays 20,000
        ({"USDT": 0.0, "BTC": 1.0}, {"USDT": 20_000.0}, 0.05, {"USDT": -3_000.0}),  # paid: owed 23,000
        ({"USDT": 1_000.0, "BTC": 1.0}, {}, 0.05, {"USDT": -3_000.0}),  # a positive balance turned negative
    ],
)
def test_the_replay_matches_the_engine_after_funding(
    balances: dict[str, float], borrowed: dict[str, float], rate: float, moved: dict[str, float]
) -> None:
    extra = {"borrowed": borrowed} if borrowed else {}
    frame = _replay(_spec(balances, **extra), rate)
    after = levguard.evaluate_account(_spec({**balances, "USDT": balances["USDT"] + moved["USDT"]}, **extra))
    assert frame["mm"].iloc[1] == pytest.approx(after.maintenance_margin, rel=1e-12)
    assert frame["equity"].iloc[1] == pytest.approx(after.equity, rel=1e-12)
