"""A unified account through the API (issue 18): the guardian watches the Binance Portfolio Margin
fake (tests/fakes/unified_accounts.py: 1 BTC and 2,000 USDT behind a 10 ETH short) and the
account's routes carry levguard's uniMMR, its name, the venue's status and the venue's own uniMMR."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fakes.unified_accounts import ETH, PM_EQUITY, PM_MM, PM_UNIMMR, binance_pm_account, guardian_runtime, venue_of
from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token


@pytest.fixture
def unified() -> Iterator[tuple[TestClient, dict[str, str]]]:
    with binance_pm_account() as fake:
        venue = venue_of(fake)
        rt = guardian_runtime(venue, "sqlite://", interval_s=0.05)
        token = ensure_admin_token(rt.store)
        with TestClient(create_app(rt), raise_server_exceptions=False) as client:
            deadline = time.monotonic() + 20
            while rt.guardian.last_reports.get("unified", {}).get("status") != "ok":
                assert time.monotonic() < deadline, rt.guardian.last_reports
                time.sleep(0.05)
            yield client, {"Authorization": f"Bearer {token}"}
        asyncio.run(venue.close())


def _get(unified: tuple[TestClient, dict[str, str]], path: str) -> Any:
    client, headers = unified
    res = client.get(path, headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def test_the_account_carries_the_unified_ratio(unified: tuple[TestClient, dict[str, str]]) -> None:
    acc = _get(unified, "/api/accounts/unified")
    assert acc["venue"] == "binance-pm"
    assert acc["account_ratio_name"] == "uniMMR"
    assert acc["account_ratio"] == pytest.approx(PM_UNIMMR, rel=1e-12)
    assert acc["venue_account_ratio"] == pytest.approx(PM_UNIMMR, rel=1e-9)
    assert acc["account_status"] == "normal"
    assert acc["settlement"] == "USD"
    assert acc["equity"] == pytest.approx(PM_EQUITY, rel=1e-12)


def test_the_positions_carry_the_unified_margin_report(unified: tuple[TestClient, dict[str, str]]) -> None:
    body = _get(unified, "/api/accounts/unified/positions")
    assert body["account_ratio_name"] == "uniMMR"
    assert body["account_ratio"] == pytest.approx(PM_UNIMMR, rel=1e-12)
    margin = body["margin"]
    assert margin["account_ratio"] == pytest.approx(PM_UNIMMR, rel=1e-12)
    assert margin["maintenance_margin"] == pytest.approx(PM_MM, rel=1e-12)
    assert {c["asset"]: c["value"] for c in margin["collateral"]} == {
        "BTC": pytest.approx(56_500.0, rel=1e-12),
        "USDT": pytest.approx(1_000.0, rel=1e-12),
    }
    (pos,) = body["positions"]
    assert pos["symbol"] == ETH
    assert pos["margin_ratio"] == pytest.approx(1.05 * PM_MM / PM_EQUITY, rel=1e-12)  # against the trigger
