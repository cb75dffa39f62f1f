"""The guardian watching unified accounts through real ccxt against local fakes (issue 18): Binance
Portfolio Margin (papi) and Bybit's Unified Trading Account (v5), each holding 1 BTC and 2,000
USDT of collateral behind a 10 ETH short (tests/fakes/unified_accounts.py has the figures by hand).

End to end: the account ratio levguard computes matches the hand-computed one and the venue's;
a venue reporting another ratio raises one ``ratio_mismatch`` alert; a hanging collateral
endpoint costs one bounded timeout and the built-in table; an authentication failure disables
acting with an ``auth`` alert; a failing ratio endpoint costs nothing but the comparison.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest
from guardian_helpers import store
from hypothesis import given
from hypothesis import strategies as st

from fakes import binance_pm
from fakes._server import Reply
from fakes.unified_accounts import (
    ETH,
    PM_EQUITY,
    PM_MM,
    PM_UNIMMR,
    UTA_MARGIN_BALANCE,
    UTA_MM,
    UTA_MM_RATE,
    binance_pm_account,
    bybit_uta_account,
    venue_of,
)
from levguard.core.unified import UNIFIED_VENUES
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Thresholds
from levguard.live.unified import to_trigger_scale
from levguard.venues.ccxt_adapter import CcxtVenue


async def _no_sleep(_s: float) -> None:
    return None


def _venue(fake: Any, exchange: str, *, secret: str | None = None, timeout_ms: int = 2000) -> CcxtVenue:
    assert exchange == ("binance" if isinstance(fake, binance_pm.FakeBinancePm) else "bybit")
    return venue_of(fake, timeout_ms=timeout_ms, **({"secret": secret} if secret else {}))


def _guardian(tmp_path: Path, venue: CcxtVenue, **setup: Any) -> Guardian:
    acc = AccountSetup(
        name="uni",
        venue=venue,
        thresholds=Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.2, 0.12, 0.08), p_liq=(0.2, 0.5, 0.8)),
        venue_bars=False,
        retries=setup.pop("retries", 0),
        backoff_s=0.0,
        **setup,
    )
    return Guardian([acc], store(tmp_path, name="uni"), live=False, owner="test", sleep=_no_sleep)


def _cycles(g: Guardian, venue: CcxtVenue, n: int = 1) -> list[tuple[dict[str, Any], float]]:
    """``n`` guardian cycles on one event loop: each account report with its wall time (s)."""

    async def main() -> list[tuple[dict[str, Any], float]]:
        out = []
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                (report,) = await g.cycle()
                out.append((report, time.perf_counter() - t0))
        finally:
            await venue.close()
        return out

    try:
        return asyncio.run(main())
    finally:
        g.close()


def _alerts(g: Guardian, kind: str) -> list[dict[str, Any]]:
    return [a for a in g.store.alerts(account="uni", limit=100) if a["kind"] == kind]


# ---------------------------------------------------------------------- the account ratio


@pytest.mark.parametrize(
    ("exchange", "make", "name", "ratio", "reported"),
    [
        pytest.param("binance", binance_pm_account, "uniMMR", PM_UNIMMR, PM_UNIMMR, id="binance-pm"),
        pytest.param("bybit", bybit_uta_account, "account_mm_rate", UTA_MM_RATE, 0.0026, id="bybit-uta"),
    ],
)
def test_ratio_matches_the_hand_computed_and_the_venues(
    tmp_path: Path, exchange: str, make: Any, name: str, ratio: float, reported: float
) -> None:
    with make() as fake:
        venue = _venue(fake, exchange)
        g = _guardian(tmp_path, venue)
        ((report, _),) = _cycles(g, venue)
    assert report["status"] == "ok", report
    assert report["account_ratio_name"] == name
    assert report["account_ratio"] == pytest.approx(ratio, rel=1e-12)
    assert report["venue_account_ratio"] == pytest.approx(reported, rel=1e-9)
    assert report["ratio_gap"] < 5e-5  # on the trigger scale: Bybit's four decimals, Binance's eight
    assert report["collateral_source"].startswith("venue: GET /")
    assert report["account_status"] == "normal"
    (view,) = report["positions"]
    assert view["symbol"] == ETH
    assert view["qty"] == pytest.approx(-10.0)
    # The state uses the account's ratio against the venue's trigger (c * MM / E).
    c = UNIFIED_VENUES["binance-pm" if exchange == "binance" else "bybit-uta"].liquidation_multiple
    mm, equity = (PM_MM, PM_EQUITY) if exchange == "binance" else (UTA_MM, UTA_MARGIN_BALANCE)
    assert view["margin_ratio"] == pytest.approx(c * mm / equity, rel=1e-12)
    assert view["state"] == "OK"
    assert not _alerts(g, "ratio_mismatch")
    # Stored with the cycle's snapshot.
    (snap,) = g.store.snapshots("uni", limit=1)
    assert snap["figures"]["account_ratio"] == pytest.approx(ratio, rel=1e-12)
    assert snap["figures"]["account_ratio_name"] == name
    assert g.last_specs["uni"]["venue"] == ("binance-pm" if exchange == "binance" else "bybit-uta")


@pytest.mark.parametrize(
    ("exchange", "make", "wrong"),
    [
        pytest.param("binance", binance_pm_account, {"uni_mmr": 250.0}, id="binance-pm"),
        pytest.param("bybit", bybit_uta_account, {"mm_rate": 0.004}, id="bybit-uta"),
    ],
)
def test_a_venue_ratio_beyond_the_tolerance_alerts_once(
    tmp_path: Path, exchange: str, make: Any, wrong: dict[str, float]
) -> None:
    with make(**wrong) as fake:
        venue = _venue(fake, exchange)
        g = _guardian(tmp_path, venue)
        reports = _cycles(g, venue, 3)
    assert [r["status"] for r, _ in reports] == ["ok", "ok", "ok"]
    (alert,) = _alerts(g, "ratio_mismatch")
    assert alert["level"] == "warning"
    assert "model or tables are off" in alert["message"]
    assert alert["data"]["venue_account_ratio"] == pytest.approx(next(iter(wrong.values())))
    assert reports[-1][0]["account_ratio"] == pytest.approx(PM_UNIMMR if exchange == "binance" else UTA_MM_RATE)


def test_the_alert_comes_again_after_the_ratios_agreed(tmp_path: Path) -> None:
    fake = binance_pm_account(uni_mmr=250.0)
    with fake:
        venue = _venue(fake, "binance")
        g = _guardian(tmp_path, venue)

        async def main() -> None:
            try:
                await g.cycle()
                fake.report(PM_UNIMMR, PM_EQUITY, PM_MM)
                await g.cycle()
                fake.report(250.0, PM_EQUITY, PM_MM)
                await g.cycle()
            finally:
                await venue.close()

        asyncio.run(main())
        g.close()
    assert len(_alerts(g, "ratio_mismatch")) == 2


# ---------------------------------------------------------------------- failures


def test_a_hanging_collateral_endpoint_costs_one_bounded_timeout(tmp_path: Path) -> None:
    fake = binance_pm_account()
    fake.delays["/sapi/v2/portfolio/collateralRate"] = 30.0
    with fake:
        venue = _venue(fake, "binance", timeout_ms=500)
        g = _guardian(tmp_path, venue)
        reports = _cycles(g, venue, 2)
        asked = fake.count("/sapi/v2/portfolio/collateralRate")
    (first, t1), (second, t2) = reports
    assert first["status"] == second["status"] == "ok"
    # One 0.5 s timeout, not the 30 s the endpoint hangs (about 1.2 s with the first cycle's
    # start-up), and not asked again before collateral_retry_s.
    assert t1 < 5.0, t1
    assert t2 < 5.0, t2
    assert asked == 1
    source = first["collateral_source"]
    assert source.startswith("built-in table as of 2022-04-18; last fetch "), source
    assert "timed out after 0.5 s" in source or "RequestTimeout" in source, source  # ours or ccxt's, whichever first
    # The built-in BTC rate (0.95 flat): 57,000 + 1,000 over the same MM.
    assert first["account_ratio"] == pytest.approx((57_000.0 + 1_000.0) / PM_MM, rel=1e-12)


@pytest.mark.parametrize(("exchange", "make"), [("binance", binance_pm_account), ("bybit", bybit_uta_account)])
def test_an_auth_failure_is_reported_as_such(tmp_path: Path, exchange: str, make: Any) -> None:
    with make() as fake:
        venue = _venue(fake, exchange, secret="not-the-secret")
        g = _guardian(tmp_path, venue)
        ((report, _),) = _cycles(g, venue)
    assert report["status"] == "disabled"
    assert report["error_class"] == "auth"
    assert "VenueAuthError" in report["error"]
    (alert,) = _alerts(g, "auth")
    assert alert["level"] == "critical"
    assert g.disabled("uni") is not None


def test_a_failing_ratio_endpoint_costs_only_the_comparison(tmp_path: Path) -> None:
    fake = binance_pm_account()
    fake.inject("/papi/v1/account", Reply(503, b"<html>503 Service Unavailable</html>"))
    with fake:
        venue = _venue(fake, "binance")
        g = _guardian(tmp_path, venue)
        ((report, _),) = _cycles(g, venue)
    assert report["status"] == "ok"
    assert report["account_ratio"] == pytest.approx(PM_UNIMMR, rel=1e-12)
    assert report["venue_account_ratio"] is None
    assert "ratio_gap" not in report


def test_a_hanging_balance_endpoint_makes_the_cycle_stale_in_bounded_time(tmp_path: Path) -> None:
    fake = bybit_uta_account()
    fake.delays["/v5/account/wallet-balance"] = 30.0
    with fake:
        venue = _venue(fake, "bybit", timeout_ms=500)
        g = _guardian(tmp_path, venue, retries=1)
        ((report, wall),) = _cycles(g, venue)
    assert report["status"] == "stale"
    assert "bybit fetch_balance failed: RequestTimeout" in report["reason"]
    assert wall < 6.0, wall  # two attempts of 0.5 s (and the first cycle's start-up), not 30 s
    (alert,) = _alerts(g, "stale")
    assert alert["level"] == "warning"


# ---------------------------------------------------------------------- the trigger scale


@given(
    equity=st.floats(min_value=1e-3, max_value=1e12, allow_nan=False),
    mm=st.floats(min_value=1e-3, max_value=1e12, allow_nan=False),
    venue=st.sampled_from(sorted(UNIFIED_VENUES)),
)
def test_the_venues_ratio_maps_to_c_mm_over_e(equity: float, mm: float, venue: str) -> None:
    v = UNIFIED_VENUES[venue]
    scaled = to_trigger_scale(venue, v.ratio(equity, mm))
    assert math.isclose(scaled, v.liquidation_multiple * mm / equity, rel_tol=1e-12)
    # 1 exactly where the venue liquidates.
    assert (scaled >= 1.0) == v.liquidatable(equity, mm) or math.isclose(scaled, 1.0, rel_tol=1e-12)
