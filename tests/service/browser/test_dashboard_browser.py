"""The dashboard end to end in a real headless browser (Debian's chromium driven by Playwright).

The service runs the paper demo (a 4x BTCUSDT long on a flat market) under uvicorn in a thread;
the browser signs in with the first-start admin token, sees the position, shocks the price by
-20 % (confirmed in its dialog), and, without reloading, sees the state alert and the guardian's
reduce-only order arrive over the live stream (opened with a single-use ticket, never the token
in a URL); then it turns the kill switch on (through the confirm dialog).

Set ``LEVGUARD_DOCS_SCREENSHOT=1`` to also refresh ``docs/img/dashboard.png``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "img" / "dashboard.png"
MAX_DOCS_BYTES = 300_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


class _Service:
    def __init__(self, url: str, token: str, runtime: Any) -> None:
        self.url = url
        self.token = token
        self.runtime = runtime

    def get(self, path: str) -> Any:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as res:
            return json.loads(res.read())


@pytest.fixture
def service(tmp_path: Path) -> Iterator[_Service]:
    yield from serve_demo(tmp_path)


def serve_demo(tmp_path: Path, **demo: Any) -> Iterator[_Service]:
    """The paper demo (``paper_demo_runtime(**demo)``, a cycle every 0.2 s) under uvicorn."""
    from levguard.service.runtime import paper_demo_runtime

    yield from serve_runtime(paper_demo_runtime(f"sqlite:///{tmp_path / 'g.db'}", interval_s=0.2, **demo))


def serve_runtime(runtime: Any) -> Iterator[_Service]:
    """The service of ``runtime`` (a :class:`levguard.service.runtime.Runtime`) under uvicorn."""
    import uvicorn

    from levguard.service.app import create_app
    from levguard.service.auth import ensure_admin_token

    token = ensure_admin_token(runtime.store)
    assert token is not None
    app = create_app(runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="levguard-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "the service did not start"
        assert time.monotonic() < deadline, "the service did not start within 15 s"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield _Service(f"http://127.0.0.1:{port}", token, runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_dashboard_live_shock_and_kill_switch(service: _Service, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from browser_session import dashboard_page

    urls: list[str] = []
    csp_violations: list[str] = []
    with dashboard_page(tmp_path, 10_000) as page:  # JavaScript errors fail the test
        page.on("request", lambda req: urls.append(req.url))
        page.on(
            "console",
            lambda msg: csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        _scenario(page, expect, service, tmp_path)
    # The stream was opened with single-use tickets; the token never went into a URL.
    assert any("/api/events?ticket=st_" in u for u in urls), urls
    assert not [u for u in urls if service.token in u]
    # The policy now comes as a header (frame-ancestors cannot be set by a meta tag): nothing
    # the dashboard does violates it.
    assert not csp_violations, csp_violations


def _scenario(page: Any, expect: Any, service: _Service, tmp_path: Path) -> None:
    # Sign in: the token prompt comes first; a wrong token is refused.
    page.goto(service.url + "/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token-input", "lg_wrong")
    page.click("#token-submit")
    expect(page.locator("#login-error")).to_be_visible()
    page.fill("#token-input", service.token)
    page.click("#token-submit")
    expect(page.locator("#dashboard")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('levguard.token')") == service.token
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    # The account and its position, before any shock.
    expect(page.locator('#accounts [data-account="paper-btc"]')).to_be_visible()
    row = page.locator('#positions tbody tr[data-symbol="BTCUSDT"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-state", "OK")
    expect(row.locator(".dist-fill")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator('#chart polyline[data-series="leverage"]')).to_have_count(1)
    expect(page.locator('#orders tbody tr[data-symbol="BTCUSDT"]')).to_have_count(0)

    # The demo's price drop, from the dashboard's own button (paper accounts only).
    shock = page.locator("#shock")
    expect(shock).to_be_visible()
    shock.click()
    # It asks first (a dialog naming the account and the size); confirmed here.
    expect(page.locator("#shock-dialog")).to_be_visible()
    expect(page.locator("#shock-account")).to_have_text("paper-btc")
    page.click("#shock-confirm")
    expect(page.locator("#shock-dialog")).to_be_hidden()

    # Live, without reloading: a state alert past OK, then the reduce-only order.
    alert = page.locator(
        '#alerts li[data-kind="state"]:is([data-state="WARN"], [data-state="DANGER"], [data-state="ACT"])'
    )
    expect(alert.first).to_be_visible(timeout=15_000)
    order = page.locator('#orders tbody tr[data-symbol="BTCUSDT"][data-side="sell"]')
    expect(order.first).to_be_visible(timeout=15_000)
    expect(page.locator('#alerts li[data-kind="action"]').first).to_be_visible()
    expect(page.locator('#accounts [data-account="paper-btc"]')).not_to_have_attribute("data-state", "OK")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"

    # The kill switch, through its confirm dialog.
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    kill = page.locator("#kill-switch")
    expect(kill).to_have_attribute("data-on", "false")
    kill.click()
    expect(kill).to_have_attribute("data-on", "true")
    assert len(dialogs) == 1
    assert "kill switch" in dialogs[0].lower()
    assert service.get("/api/status")["kill_switch"] is True
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"

    # Screenshot (the chart shows the leverage stepping down toward the target).
    expect(page.locator('#chart polyline[data-series="target"]')).to_have_count(1)
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("LEVGUARD_DOCS_SCREENSHOT") and shot.stat().st_size < MAX_DOCS_BYTES:
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(shot.read_bytes())
