"""A unified account on the dashboard (issue 18), in Debian's chromium driven by Playwright.

The service's guardian watches a fake venue's unified account through real ccxt
(tests/fakes/unified_accounts.py: 1 BTC and 2,000 USDT of collateral behind a 10 ETH short); the
account's card shows levguard's account ratio under the venue's name for it (Binance's uniMMR,
Bybit's account MM rate), with the venue's own figure and status in its title.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_dashboard_browser as _base
from test_dashboard_browser import CHROMIUM, _Service

from fakes.unified_accounts import (
    PM_UNIMMR,
    UTA_MM_RATE,
    binance_pm_account,
    bybit_uta_account,
    guardian_runtime,
    venue_of,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")

CASES = {
    # rule set: (the fake, the ratio's name, its label, levguard's ratio as shown, the venue's figure as shown)
    "binance-pm": (binance_pm_account, "uniMMR", "uniMMR", f"{PM_UNIMMR * 100:,.2f} %", f"{PM_UNIMMR * 100:,.2f} %"),
    "bybit-uta": (bybit_uta_account, "account_mm_rate", "Account MM rate", f"{UTA_MM_RATE * 100:,.2f} %", "0.26 %"),
}


@pytest.fixture(params=sorted(CASES))
def unified(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[_Service, str]]:
    make = CASES[request.param][0]
    with make() as fake:
        venue = venue_of(fake)
        runtime = guardian_runtime(venue, f"sqlite:///{tmp_path / 'g.db'}")
        yield from ((svc, request.param) for svc in _base.serve_runtime(runtime))
        asyncio.run(venue.close())


def test_the_card_shows_the_unified_account_ratio(unified: tuple[_Service, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from browser_session import dashboard_page

    service, case = unified
    _, name, label, shown, venue_shown = CASES[case]
    title = f"levguard's {name} (normal); the venue reports {venue_shown}"
    with dashboard_page(tmp_path) as page:
        _scenario(page, expect, service, label, shown, title)


def _scenario(page: Any, expect: Any, service: _Service, label: str, shown: str, title: str) -> None:
    page.goto(service.url + "/")
    page.fill("#token-input", service.token)
    page.click("#token-submit")
    expect(page.locator("#dashboard")).to_be_visible()
    card = page.locator('#accounts [data-account="unified"]')
    ratio = card.locator('[data-field="account_ratio"]')
    expect(ratio.locator("dt")).to_have_text(label)
    expect(ratio.locator("dd")).to_have_text(shown)
    expect(ratio).to_have_attribute("title", title)
    expect(card.locator('[data-field="equity"] dd')).to_contain_text(" USD")
    row = page.locator('#positions tbody tr[data-symbol="ETH/USDT:USDT"]')
    expect(row).to_have_attribute("data-state", "OK")
