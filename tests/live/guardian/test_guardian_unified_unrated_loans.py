"""The guardian's unified accounts where levguard's ratio is not a measurement, where only the
venue's ratio sees a loan, and where a loan episode ends (real ccxt against the fakes of
tests/fakes).

* A cash-and-carry on Bybit UTA (10 ETH held, 10 ETHUSDT short) whose collateral endpoint failed:
  the built-in table has no ETH, ETH counted at 0, levguard's ratio 0.60 of the way to
  liquidation drove the hedge to ACT and "would buy 4.875 reduce-only" while the venue's own
  accountMMRate read 0.57 %.  levguard's ratio is now a bound: the states follow the venue's; with
  no ratio from the venue the account cannot be evaluated (critical) and no order is placed.
* Binance PM, no position, a 5,000 USDT debt with no loan_mmr: levguard's MM is 0 (no ratio) and
  the venue's MARGIN_CALL (uniMMR 1.10) read "ok", level 0.
* A loan's state (``st.loans``) outlived the loan: a second loan episode raised no alert.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from guardian_helpers import store

from fakes.binance_pm import FakeBinancePm
from fakes.bybit_uta import FakeBybitUta
from fakes.unified_accounts import UTA_TIERS, venue_of
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Thresholds

_THRESHOLDS = Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.2, 0.12, 0.08), p_liq=(0.2, 0.5, 0.8))


async def _no_sleep(_s: float) -> None:
    return None


def _guardian(tmp_path: Path, v: Any) -> Guardian:
    acc = AccountSetup(name="uni", venue=v, thresholds=_THRESHOLDS, venue_bars=False, retries=0, backoff_s=0.0)
    return Guardian([acc], store(tmp_path, name="uni"), live=False, owner="test", sleep=_no_sleep)


def _run(tmp_path: Path, fake: Any, steps: Any = (None,), **venue: Any) -> tuple[Guardian, list[dict[str, Any]]]:
    """One cycle per step (a step, when not None, changes the fake first)."""
    with fake:
        v = venue_of(fake, **venue)
        g = _guardian(tmp_path, v)

        async def main() -> list[dict[str, Any]]:
            out = []
            try:
                for step in steps:
                    if step is not None:
                        step(fake)
                    out.append((await g.cycle())[0])
                return out
            finally:
                released = getattr(fake, "released", None)
                if released is not None:
                    released.set()
                await v.close()

        try:
            return g, asyncio.run(main())
        finally:
            g.close()


def _alerts(g: Guardian, kind: str) -> list[dict[str, Any]]:
    return [a for a in g.store.alerts(account="uni", limit=200) if a["kind"] == kind]


# ---------------------------------------------------------------------- a held coin counted at 0


def _carry(coin: str, qty: float, price: float, *, timeout: bool = False) -> FakeBybitUta:
    """10 ETHUSDT short hedged by ``qty`` ``coin`` held; the collateral endpoint fails."""
    fake = FakeBybitUta()
    fake.collateral = UTA_TIERS
    if timeout:
        fake.delays["/v5/spot-margin-trade/collateral"] = 3.0  # hangs past the request timeout
    else:
        fake.route("GET", "/v5/spot-margin-trade/collateral", lambda req: fake.error(10016, "Server error"))
    fake.coin(coin, qty, price)
    fake.coin("USDT", 250.0, 1.0, position_mm=165.0)
    fake.position("ETHUSDT", -10.0, 3_000.0, 3_000.0)
    mb = qty * price * (0.95 if coin == "ETH" else 1.0) + 250.0
    fake.totals(mm_rate=round(165.0 / mb, 4), equity=mb, margin_balance=mb, maint_margin=165.0)
    return fake


@pytest.mark.parametrize(
    ("coin", "qty", "price", "venue_ratio"), [("ETH", 10.0, 3_000.0, 0.0057), ("USDC", 30_000.0, 1.0, 0.0055)]
)
def test_a_coin_counted_at_zero_leaves_the_state_to_the_venues_ratio(
    tmp_path: Path, coin: str, qty: float, price: float, venue_ratio: float
) -> None:
    g, (rep,) = _run(tmp_path, _carry(coin, qty, price, timeout=coin == "ETH"), timeout_ms=1000)
    assert rep["status"] == "ok", rep
    assert rep["account_ratio"] == pytest.approx(0.6)  # levguard's, the coin at 0: reported, a bound
    assert rep["state_ratio"] == pytest.approx(venue_ratio)  # was 0.6, levguard's
    assert rep["state_ratio_source"] == "venue"
    assert rep["collateral_unrated"] == [coin]
    assert rep["level"] == 0
    (view,) = rep["positions"]
    assert view["state"] == "OK"  # was ACT
    assert view["action"] is None  # was "would buy 4.875 reduce-only (dry run)"
    assert _alerts(g, "action") == []
    assert _alerts(g, "state") == []
    (warning,) = _alerts(g, "collateral_unrated")
    assert warning["data"]["coins"] == [coin]
    assert _alerts(g, "ratio_mismatch") == []  # the gap is the coin counted at 0, not a mismatch


def test_without_the_venues_ratio_the_account_cannot_be_evaluated_and_no_order_goes(tmp_path: Path) -> None:
    fake = _carry("ETH", 10.0, 3_000.0)
    fake.wallet_totals["accountMMRate"] = ""  # the venue reports no ratio either
    g, (rep, again) = _run(tmp_path, fake, steps=(None, None))
    assert rep["status"] == "ok", rep
    assert rep["venue_account_ratio"] is None
    assert rep["state_capped"] is True
    assert rep["collateral_unrated"] == ["ETH"]
    (view,) = rep["positions"]
    assert view["state"] == "DANGER"  # levguard's 0.60 (a bound) would be ACT: capped below acting
    assert view["action"] is None
    assert again["positions"][0]["action"] is None
    assert _alerts(g, "action") == []
    (alert,) = _alerts(g, "evaluation")  # critical, once (deduplicated)
    assert alert["level"] == "critical"
    assert alert["data"]["coins"] == ["ETH"]
    assert alert["message"].startswith("cannot evaluate the account: ETH held with no collateral ratio")


# ---------------------------------------------------------------------- the venue's ratio, levguard's None


def _binance_debt(*, negative: bool) -> FakeBinancePm:
    """0.2 BTC and 5,000 USDT owed (a margin loan, or UM losses: negativeBalance), no position; the
    venue reports uniMMR 1.10, MARGIN_CALL (its trigger 1.05)."""
    fake = FakeBinancePm()
    fake.wallet("BTC", 0.2)
    if negative:
        fake.wallet("USDT", -5_000.0)
        fake.balances[-1]["negativeBalance"] = "5000"
    else:
        fake.wallet("USDT", 0.0, borrowed=5_000.0)
    fake.index_prices = {"BTC": 60_000.0, "USDT": 1.0}
    fake.collateral_v1 = [{"asset": "BTC", "collateralRate": "0.95"}, {"asset": "USDT", "collateralRate": "1"}]
    fake.report(uni_mmr=1.10, equity=6_400.0, maint_margin=5_818.0, status="MARGIN_CALL")
    return fake


def test_the_venues_margin_call_drives_the_state_when_levguard_has_no_ratio(tmp_path: Path) -> None:
    g, (rep,) = _run(tmp_path, _binance_debt(negative=False))  # no loan_mmr: levguard's MM 0, no uniMMR
    assert rep["account_ratio"] is None
    assert rep["venue_account_status"] == "MARGIN_CALL"
    assert rep["state_ratio"] == pytest.approx(1.05 / 1.10)  # was 0.0, levguard's
    assert rep["state_ratio_source"] == "venue"
    assert rep["ratio_gap"] == pytest.approx(1.05 / 1.10)
    assert rep["level"] == 3  # was 0 ("ok" at the venue's margin call)
    assert rep["positions"] == []
    (state,) = _alerts(g, "state")
    assert state["level"] == "critical"
    (mismatch,) = _alerts(g, "ratio_mismatch")
    assert mismatch["message"].startswith("uniMMR: levguard none (no maintenance margin) vs the venue's uniMMR 1.1")


# ---------------------------------------------------------------------- a loan episode ends


def _loan(fake: FakeBybitUta) -> None:
    """1 BTC against a 50,000 USDT loan (loan_mmr 0.2): margin balance 6,400, MM 10,000."""
    fake.coins.clear()
    fake.positions.clear()
    fake.coin("BTC", 1.0, 60_000.0)
    fake.coin("USDT", -50_000.0, 1.0, borrow=50_000.0)
    mb = 0.5 * 0.98 * 60_000 + 0.5 * 0.9 * 60_000 - 50_000
    fake.totals(mm_rate=round(10_000 / mb, 4), equity=mb, margin_balance=mb, maint_margin=10_000)


def _repaid(fake: FakeBybitUta) -> None:
    fake.coins.clear()
    fake.positions.clear()
    fake.coin("BTC", 1.0, 60_000.0)
    mb = 0.5 * 0.98 * 60_000 + 0.5 * 0.9 * 60_000
    fake.totals(mm_rate=0.0, equity=mb, margin_balance=mb, maint_margin=0.0)


def _hedged(fake: FakeBybitUta) -> None:
    """The loan still there, a small ETHUSDT short held again: the positions carry the state."""
    _loan(fake)
    fake.coins.clear()
    fake.coin("BTC", 1.0, 60_000.0)
    fake.coin("USDT", -5_000.0, 1.0, borrow=5_000.0, position_mm=15.0)
    fake.position("ETHUSDT", -1.0, 3_000.0, 3_000.0)
    fake.totals(mm_rate=0.02, equity=51_400, margin_balance=51_400, maint_margin=1_015)


def test_a_repaid_loan_moves_back_to_ok_and_the_next_loan_alerts_again(tmp_path: Path) -> None:
    fake = FakeBybitUta()
    fake.collateral = UTA_TIERS
    g, reps = _run(tmp_path, fake, steps=(_loan, _repaid, _loan), loan_mmr=0.2)
    assert [r["level"] for r in reps] == [3, 0, 3]
    moves = [(a["level"], a["data"]["previous"], a["data"]["state"]) for a in reversed(_alerts(g, "state"))]
    # The third was missing: st.loans stayed ACT through the repayment.
    assert moves == [("critical", "OK", "ACT"), ("info", "ACT", "OK"), ("critical", "OK", "ACT")]
    assert "nothing owed" in _alerts(g, "state")[1]["message"]
    assert g._state["uni"].loans.level.name == "ACT"


def test_positions_held_again_end_the_loan_state(tmp_path: Path) -> None:
    fake = FakeBybitUta()
    fake.collateral = UTA_TIERS
    g, reps = _run(tmp_path, fake, steps=(_loan, _hedged, _loan), loan_mmr=0.2)
    assert [r["level"] for r in reps] == [3, 0, 3]
    account = [a for a in reversed(_alerts(g, "state")) if a["data"]["symbol"] == "account"]
    assert [(a["data"]["previous"], a["data"]["state"]) for a in account] == [
        ("OK", "ACT"),
        ("ACT", "OK"),
        ("OK", "ACT"),
    ]
    assert "positions held again" in account[1]["message"]


def test_a_negative_balance_alone_carries_the_loan_mm_in_the_guardian(tmp_path: Path) -> None:
    _, (rep,) = _run(tmp_path, _binance_debt(negative=True), loan_mmr=0.1)
    assert rep["account_ratio"] == pytest.approx(12.8)  # 6,400 / 500; was None (MM 0, loan_mmr dropped)
    assert rep["state_ratio_source"] == "venue"  # the venue's uniMMR 1.10 is the worse
    assert rep["level"] == 3


# ---------------------------------------------------------------------- the read's notes


def test_a_loan_left_out_of_the_read_is_logged_reported_and_alerted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeBybitUta()
    fake.collateral = UTA_TIERS
    fake.coin("BTC", 1.0, 60_000.0)
    fake.coin("USDT", 1_000.0, 1.0, position_mm=150.0)
    fake.coin("SOL", 400.0, 150.0, spot_borrow=400.0, borrow=400.0)  # borrowed and held: no price, no SOL perpetual
    fake.position("ETHUSDT", -10.0, 3_000.0, 3_000.0)
    fake.totals(mm_rate=0.11, equity=56_000, margin_balance=56_000, maint_margin=6_150)
    caplog.set_level("DEBUG", logger="levguard.guardian")
    g, (rep, again) = _run(tmp_path, fake, steps=(None, None), loan_mmr=0.1)
    assert g._state["uni"].unified.left_out == ("SOL",)
    (note,) = rep["read_notes"]  # the read's notes were dropped: nothing said SOL
    assert note.startswith("SOL: no USD value")
    assert "not counted" in note
    assert again["read_notes"] == [note]
    (alert,) = _alerts(g, "loan_left_out")  # warning, once over two cycles (deduplicated)
    assert alert["level"] == "warning"
    assert alert["data"]["coin"] == "SOL"
    assert alert["message"].startswith("a loan in SOL is left out, its maintenance margin not counted")
    logged = [r for r in caplog.records if "unified read: SOL" in r.getMessage()]
    assert [r.levelname for r in logged] == ["WARNING", "DEBUG"]  # said when it appears, then quietly


def test_the_unevaluable_alert_comes_back_after_the_venues_ratio_did(tmp_path: Path) -> None:
    def silent(fake: FakeBybitUta) -> None:
        fake.wallet_totals["accountMMRate"] = ""

    def answers(fake: FakeBybitUta) -> None:
        fake.wallet_totals["accountMMRate"] = "0.0057"

    g, reps = _run(tmp_path, _carry("ETH", 10.0, 3_000.0), steps=(silent, answers, silent))
    assert [r.get("state_capped", False) for r in reps] == [True, False, True]
    assert [r["positions"][0]["action"] for r in reps] == [None, None, None]
    assert len(_alerts(g, "evaluation")) == 2  # once per episode
