"""The guardian's state of a unified account where levguard's model and the venue part ways, where
the account holds no position but a loan, and where a coin has no collateral ratio (real ccxt
against the fakes of tests/fakes; the account of tests/fakes/unified_accounts.py: 1 BTC, 2,000
USDT, a 10 ETH short, margin balance 57,400, MM 150, account MM rate 0.26 %).

* Ratios apart: the states follow the worse of levguard's ratio and the venue's (the alert stays).
  A venue reading 55 % of the way to liquidation left the position OK on levguard's 0.26 %.
* A loan and no position: 1 BTC against -50,000 USDT with loan_mmr 0.2 is liquidatable (margin
  balance 6,400, MM 10,000: 156 % of the way) and read "ok", level 0, no ratio at all (Binance PM:
  "liquidation can occur ... even if there are no open positions"; Bybit's Total MM includes the
  MM of borrowed assets).
* A coin without any collateral ratio stopped the evaluation (status error, no state); it now
  counts at 0 (a debt in it at face value) with a ``collateral_unrated`` warning naming it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from guardian_helpers import store

from fakes.bybit_uta import FakeBybitUta
from fakes.unified_accounts import (
    UTA_MARGIN_BALANCE,
    UTA_MM,
    UTA_TIERS,
    binance_pm_account,
    bybit_uta_account,
    venue_of,
)
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Thresholds


async def _no_sleep(_s: float) -> None:
    return None


def _run(tmp_path: Path, fake: Any, n: int = 1, **venue: Any) -> tuple[Guardian, list[dict[str, Any]]]:
    with fake:
        v = venue_of(fake, **venue)
        acc = AccountSetup(
            name="uni",
            venue=v,
            thresholds=Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.2, 0.12, 0.08), p_liq=(0.2, 0.5, 0.8)),
            venue_bars=False,
            retries=0,
            backoff_s=0.0,
        )
        g = Guardian([acc], store(tmp_path, name="uni"), live=False, owner="test", sleep=_no_sleep)

        async def main() -> list[dict[str, Any]]:
            try:
                return [(await g.cycle())[0] for _ in range(n)]
            finally:
                await v.close()

        try:
            return g, asyncio.run(main())
        finally:
            g.close()


def _alerts(g: Guardian, kind: str) -> list[dict[str, Any]]:
    return [a for a in g.store.alerts(account="uni", limit=100) if a["kind"] == kind]


# ---------------------------------------------------------------------- ratios apart


def test_the_states_follow_the_venues_ratio_when_it_is_worse(tmp_path: Path) -> None:
    g, (rep,) = _run(tmp_path, bybit_uta_account(mm_rate=0.55))
    assert rep["status"] == "ok"
    assert rep["account_ratio"] == pytest.approx(UTA_MM / UTA_MARGIN_BALANCE, rel=1e-12)  # levguard's, as reported
    assert rep["state_ratio"] == pytest.approx(0.55)
    assert rep["state_ratio_source"] == "venue"
    (view,) = rep["positions"]
    assert view["margin_ratio"] == pytest.approx(0.55)
    assert view["state"] == "DANGER"
    assert rep["level"] == 2
    (alert,) = _alerts(g, "ratio_mismatch")
    assert "the states follow the worse (venue's" in alert["message"]


def test_levguards_ratio_holds_when_the_venues_is_better(tmp_path: Path) -> None:
    _, (rep,) = _run(tmp_path, bybit_uta_account(mm_rate=0.001))
    assert rep["state_ratio"] == pytest.approx(UTA_MM / UTA_MARGIN_BALANCE, rel=1e-12)
    assert rep["state_ratio_source"] == "levguard"


def test_binance_the_worse_uni_mmr_drives_the_state(tmp_path: Path) -> None:
    _, (rep,) = _run(tmp_path, binance_pm_account(uni_mmr=1.9))  # 1.05 / 1.9 = 0.5526 of the way
    assert rep["state_ratio"] == pytest.approx(1.05 / 1.9)
    assert rep["state_ratio_source"] == "venue"
    assert rep["positions"][0]["state"] == "DANGER"


# ---------------------------------------------------------------------- loans, no position


def _loan_account() -> FakeBybitUta:
    fake = FakeBybitUta()
    fake.coin("BTC", 1.0, 60_000.0)
    fake.coin("USDT", -50_000.0, 1.0, borrow=50_000.0)  # a USDT loan against 1 BTC, no positions
    fake.collateral = UTA_TIERS
    mb = 0.5 * 0.98 * 60_000 + 0.5 * 0.9 * 60_000 - 50_000  # 6,400
    fake.totals(mm_rate=round(50_000 * 0.2 / mb, 4), equity=mb, margin_balance=mb, maint_margin=50_000 * 0.2)
    return fake


def test_a_loan_without_positions_is_evaluated_and_alerted(tmp_path: Path) -> None:
    g, (rep,) = _run(tmp_path, _loan_account(), loan_mmr=0.2)
    assert rep["status"] == "ok"
    assert rep["positions"] == []
    assert rep["account_ratio"] == pytest.approx(10_000 / 6_400, rel=1e-12)  # 1.5625: past the trigger
    assert rep["account_status"] == "liquidation"
    assert rep["venue_account_ratio"] == pytest.approx(1.5625)
    assert rep["level"] == 3
    assert rep["state"] == "ACT"
    (alert,) = _alerts(g, "state")
    assert alert["level"] == "critical"
    assert alert["data"]["symbol"] == "account"
    assert "loans, no position" in alert["message"]
    (snap,) = g.store.snapshots("uni", limit=1)
    assert snap["figures"]["account_ratio"] == pytest.approx(1.5625)
    assert g.last_specs["uni"]["balances"] == {"BTC": 1.0, "USDT": 0.0}


def test_a_safe_loan_reads_ok_and_an_empty_account_is_unchanged(tmp_path: Path) -> None:
    fake = _loan_account()
    fake.coins[1] = {**fake.coins[1], "walletBalance": "-5000", "borrowAmount": "5000", "equity": "-5000",
                     "usdValue": "-5000"}  # fmt: skip
    fake.totals(mm_rate=0.0195, equity=51_400, margin_balance=51_400, maint_margin=1_000)  # 56,400 - 5,000
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, (rep,) = _run(tmp_path / "a", fake, loan_mmr=0.2)
    assert rep["level"] == 0
    assert rep["account_ratio"] == pytest.approx(1_000 / 51_400, rel=1e-12)
    empty = FakeBybitUta()
    empty.coin("BTC", 1.0, 60_000.0)
    empty.collateral = UTA_TIERS
    empty.totals(mm_rate=0.0, equity=56_400, margin_balance=56_400, maint_margin=0.0)
    _, (rep,) = _run(tmp_path / "b", empty)
    assert rep == {"account": "uni", "status": "ok", "level": 0, "positions": []}


# ---------------------------------------------------------------------- a coin without a ratio


def test_a_held_coin_without_a_ratio_counts_at_zero_with_a_warning(tmp_path: Path) -> None:
    fake = bybit_uta_account()
    fake.coin("ETH", 2.0, 3_000.0)
    fake.coin("SOL", -2.0, 150.0, borrow=2.0)  # a SOL debt: no ratio either, at face value (-300)
    fake.route("GET", "/v5/spot-margin-trade/collateral", lambda req: fake.error(10016, "Server error"))
    g, (rep,) = _run(tmp_path, fake)
    assert rep["status"] == "ok", rep
    # The built-in table: BTC 0.98 x 60,000 = 58,800; USDT 2,000 - 1,000; ETH 0; SOL -300.
    assert rep["account_ratio"] == pytest.approx(150 / (58_800 + 1_000 - 300), rel=1e-12)
    assert rep["positions"][0]["state"] == "OK"
    (alert,) = _alerts(g, "collateral_unrated")
    assert alert["level"] == "warning"
    assert alert["data"]["coins"] == ["ETH"]
    assert alert["message"].startswith("no collateral ratio for ETH on bybit-uta")
    assert g.last_specs["uni"]["collateral_ratios"]["ETH"] == 0.0
