"""An account whose only position the venue left out (settled outside its wallet) on the dashboard,
in Debian's chromium driven by Playwright: its card says ``partial: 1 unguarded`` (the reason,
naming the position, in its title) and shows no state, where it showed an OK account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import test_dashboard_browser as _base
from test_dashboard_browser import CHROMIUM, _Service

from levguard.venues.base import VenuePosition

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[_Service]:
    yield from _base.serve_demo(tmp_path)


def test_the_card_of_an_account_with_a_left_out_position_says_unguarded(service: _Service, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from browser_session import dashboard_page

    v = service.runtime.venue("paper-btc")
    read = v.fetch_positions

    async def fetch_positions() -> list[VenuePosition]:
        # As CcxtVenue.fetch_positions with a USDT wallet and a USDC-settled position.
        ps = await read()
        v.left_out = {p.symbol: "USDC" for p in ps}
        return []

    v.settle = "USDT"
    v.fetch_positions = fetch_positions
    with dashboard_page(tmp_path) as page:
        page.goto(service.url + "/")
        page.fill("#token-input", service.token)
        page.click("#token-submit")
        expect(page.locator("#dashboard")).to_be_visible()
        card = page.locator('#accounts [data-account="paper-btc"]')
        tag = card.locator(".tag-warn")
        expect(tag).to_have_text("partial: 1 unguarded", timeout=10_000)
        expect(tag).to_have_attribute(
            "title", "not evaluated or protected, settled outside the USDT wallet: BTCUSDT (USDC)"
        )
        expect(card).to_have_attribute("data-state", "NONE")
