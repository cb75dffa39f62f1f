"""The dashboard as a trader reads it (issue 16), in Debian's chromium driven by Playwright.

Balances per account (equity, wallet, margin balance, uPnL); side, entry, mark, uPnL,
liquidation price, distance, P(liq) with its horizon, leverage and state per position; colour
only for danger (an OK position's leverage is not red, the kill-switch button is neutral while
off); the paper shock asks first (Cancel leaves the account untouched, Confirm applies it); the
chart of the distance to liquidation over time; no horizontal overflow at 1,280 and 390 px.

Set ``LEVGUARD_SCREENSHOTS=DIR`` to keep the screenshots (1,280 px before and after the shock,
390 px after it) in DIR.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_dashboard_browser as _base
from test_dashboard_browser import CHROMIUM, _Service

service = _base.service  # the fixture: the paper demo under uvicorn

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")

ACCOUNT = "paper-btc"
RED = "rgb(220, 38, 38)"  # --act, the light scheme's ACT colour
ROW = '#positions tbody tr[data-symbol="BTCUSDT"]'
OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def unknown_vol_service(tmp_path: Path) -> Iterator[_Service]:
    """The demo without a configured volatility: on its flat market P(liq) stays unknown."""
    yield from _base.serve_demo(tmp_path, vol=None)


def _shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("LEVGUARD_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _position(service: _Service, timeout_s: float = 15.0) -> dict[str, Any]:
    """The account's one position as the guardian's last cycle saw it.

    The service answers before the guardian's first cycle has run (a loaded machine can take
    seconds over it); until then the list is empty, so wait for the cycle rather than race it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        positions = service.get(f"/api/accounts/{ACCOUNT}/positions")["positions"]
        if positions or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    (pos,) = positions
    return pos  # type: ignore[no-any-return]


def test_dashboard_trader_view(service: _Service, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from browser_session import dashboard_page

    with dashboard_page(tmp_path, 10_000) as page:
        _scenario(page, expect, service, _shots(tmp_path))


def _colour(page: Any, selector: str, prop: str = "color") -> str:
    # One query and one read: the rows are redrawn every cycle (a locator's element may go stale).
    return str(page.evaluate(f"getComputedStyle(document.querySelector({selector!r})).{prop}"))


def _scenario(page: Any, expect: Any, service: _Service, shots: Path) -> None:
    page.goto(service.url + "/")
    page.fill("#token-input", service.token)
    page.click("#token-submit")
    expect(page.locator("#dashboard")).to_be_visible()
    row = page.locator('#positions tbody tr[data-symbol="BTCUSDT"]')
    expect(row).to_have_attribute("data-state", "OK")

    # The account's balances (the demo: 30,000 USDT, a 2 BTC long entered at the flat mark).
    card = page.locator(f'#accounts [data-account="{ACCOUNT}"]')
    expect(card.locator('[data-field="equity"] dd')).to_have_text("30,000.00 USDT")
    expect(card.locator('[data-field="wallet_balance"] dd')).to_have_text("30,000.00")
    expect(card.locator('[data-field="margin_balance"] dd')).to_have_text("30,000.00")
    expect(card.locator('[data-field="unrealized_pnl"] dd')).to_have_text("0.00")
    expect(card.locator('[data-field="account_ratio"]')).to_have_count(0)  # a single-wallet account

    # The position's columns, P(liq) with its horizon, nothing shown as NaN.
    headers = page.locator("#positions thead th").all_inner_texts()
    for name in ("Side", "Entry", "Mark", "uPnL", "Liq. price", "Leverage", "State"):
        assert name in headers, (name, headers)
    expect(page.locator("#th-pliq")).to_have_text("P(liq 1d)")
    expect(row.locator("td.side")).to_have_text("long")
    expect(row.locator("td.entry")).to_have_text("60,000.00")
    expect(row.locator("td.mark")).to_have_text("60,000.00")
    expect(row.locator("td.upnl")).to_have_text("0.00")
    pos = _position(service)
    expect(row.locator("td.liq")).to_have_text(f"{pos['liquidation_price']:,.2f}")
    expect(row.locator("td.leverage")).to_have_text(re.compile(r"^4\.00x"))
    expect(row.locator("td.leverage")).to_have_attribute("title", "above the target")
    pliq = row.locator("td.pliq").inner_text()
    assert pliq.endswith("%") or pliq == "\u2014", pliq
    assert not re.search(r"\bnan\b", page.locator("#dashboard").inner_text(), re.IGNORECASE)

    # Colour only for danger: 4x over a 3x target while OK is not red; the kill switch is
    # neutral while off.
    assert _colour(page, ROW + " td.leverage .lev-val") == _colour(page, ROW + " td.sym")
    kill = page.locator("#kill-switch")
    expect(kill).to_have_attribute("data-on", "false")
    assert _colour(page, "#kill-switch") != RED
    assert _colour(page, "#kill-switch", "backgroundColor") != RED
    assert _colour(page, "#kill-switch", "borderTopColor") != RED

    # The distance chart: one line, the three state thresholds.
    expect(page.locator('#dist-chart polyline[data-series="distance"]')).to_have_count(1)
    expect(page.locator("#dist-chart .limit")).to_have_count(3)
    assert page.evaluate(OVERFLOW), "horizontal overflow at 1,280 px"
    page.screenshot(path=str(shots / "dashboard-1280.png"), full_page=True)

    # The shock asks first; Cancel leaves the account untouched.
    dialog = page.locator("#shock-dialog")
    page.click("#shock")
    expect(dialog).to_be_visible()
    expect(page.locator("#shock-account")).to_have_text(ACCOUNT)
    expect(page.locator("#shock-symbol")).to_have_text("BTCUSDT")
    expect(page.locator("#shock-size")).to_contain_text("20 %")
    page.screenshot(path=str(shots / "dashboard-shock-dialog.png"))
    page.click("#shock-cancel")
    expect(dialog).to_be_hidden()
    time.sleep(1.5)  # several cycles of 0.2 s
    pos = _position(service)
    assert pos["mark"] == 60_000.0
    assert pos["state"] == "OK"
    assert not service.get("/api/orders")["items"]

    # Confirm applies it: the mark falls, the state leaves OK, the danger is coloured.
    page.click("#shock")
    expect(dialog).to_be_visible()
    page.click("#shock-confirm")
    expect(dialog).to_be_hidden()
    deadline = time.monotonic() + 15
    while _position(service)["mark"] >= 60_000.0:
        assert time.monotonic() < deadline, "the confirmed shock did not move the mark"
        time.sleep(0.1)
    expect(row).not_to_have_attribute("data-state", "OK", timeout=15_000)
    state = row.get_attribute("data-state")
    assert state in ("WARN", "DANGER", "ACT"), state
    assert _colour(page, ROW + " td.leverage .lev-val") != _colour(page, ROW + " td.sym")
    expect(row.locator("td.upnl")).to_contain_text("\u2212", timeout=10_000)  # a loss, with a minus sign
    page.wait_for_function("document.querySelectorAll('#dist-chart polyline')[0]?.points.length > 3")
    assert page.evaluate(OVERFLOW), "horizontal overflow at 1,280 px"
    page.screenshot(path=str(shots / "dashboard-1280-shocked.png"), full_page=True)

    # The kill switch is red while on.
    page.once("dialog", lambda d: d.accept())
    kill.click()
    expect(kill).to_have_attribute("data-on", "true")
    assert _colour(page, "#kill-switch", "backgroundColor") == RED

    # A phone: no horizontal overflow, every figure still there.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(400)  # the charts redraw at the new width
    assert page.evaluate(OVERFLOW), "horizontal overflow at 390 px"
    expect(row.locator("td.upnl")).to_be_visible()
    expect(row.locator("td.pliq")).to_have_attribute("data-label", "P(liq 1d)")
    page.screenshot(path=str(shots / "dashboard-390.png"), full_page=True)


def test_unknown_p_liq_is_a_dash(unknown_vol_service: _Service, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    service = unknown_vol_service
    assert _position(service)["p_liq"] is None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.set_default_timeout(10_000)
            page.goto(service.url + "/")
            page.fill("#token-input", service.token)
            page.click("#token-submit")
            row = page.locator(ROW)
            expect(row).to_be_visible()
            cell = row.locator("td.pliq")
            expect(cell).to_have_text("\u2014")
            expect(cell).to_have_attribute("data-label", "P(liq 1d)")
            text = page.locator("#dashboard").inner_text()
            assert not re.search(r"\bnan\b", text, re.IGNORECASE)
            assert "undefined" not in text
            assert page.evaluate(OVERFLOW), "horizontal overflow at 390 px"
        finally:
            browser.close()
