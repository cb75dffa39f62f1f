"""The demo's tearsheet in a real headless browser (Debian's chromium driven by Playwright).

The report (``levguard demo``'s, on the embedded default market) must stay under 3 MB, draw every
figure from the embedded (gzipped) plotly.js without touching the network, and never overflow
horizontally at 1,280 px (a laptop) or 390 px (a phone).  Screenshots go to ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
MAX_BYTES = 3_000_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from levguard.cli.main import _backtest_demo

    out = tmp_path_factory.mktemp("report") / "demo.html"
    doc = _backtest_demo(str(out))
    assert doc["report"] == str(out)
    return out


def test_demo_report_is_small_and_fits_laptop_and_phone(demo_report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    size = demo_report.stat().st_size
    assert 1_000_000 < size < MAX_BYTES, size
    text = demo_report.read_text(encoding="utf-8")
    assert text.count("atob(") == 1  # plotly.js embedded once (gzipped, base64)
    for section in ("Key metrics", "Price (log scale)", "Equity and drawdown", "Leverage against its target"):
        assert section in text
    for section in ("Monthly returns", "Rolling 30-day volatility", "Liquidations", "n/a (ruined)"):
        assert section in text
    assert "injected crashes" in text

    errors: list[str] = []
    remote: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            for width, height in ((1280, 900), (390, 844)):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.on(
                    "request",
                    lambda req: None if req.url.startswith(("file:", "data:", "blob:")) else remote.append(req.url),
                )
                page.goto(demo_report.as_uri())
                page.wait_for_function(
                    "document.querySelectorAll('div.fig').length > 0 && "
                    "document.querySelectorAll('div.fig').length === document.querySelectorAll('.js-plotly-plot').length",
                    timeout=60_000,
                )
                page.wait_for_timeout(300)
                scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert scroll <= inner, f"horizontal overflow at {width} px: {scroll} > {inner}"
                # The metrics table sits in its own scroller: the page does not widen for it.
                assert page.locator("table.key").count() == 1
                page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
                if width == 1280:
                    # The log view of the equity is floored at 1 % of the start, not at dust.
                    page.get_by_text("log", exact=True).first.click()
                    page.wait_for_timeout(300)
                    low = page.evaluate(
                        "(() => { const g = [...document.querySelectorAll('.js-plotly-plot')]"
                        ".find(d => d.layout.updatemenus && d.layout.updatemenus[0].type === 'buttons');"
                        " return [g.layout.yaxis.type, g.layout.yaxis.range[0]]; })()"
                    )
                    assert low[0] == "log"
                    assert low[1] >= -0.1  # log10(1 %) less a margin
                    page.screenshot(path=str(tmp_path / "report-log-equity.png"))
                page.close()
        finally:
            browser.close()
    assert not errors, errors
    assert not remote, remote
    assert (tmp_path / "report-1280.png").stat().st_size > 10_000
    assert (tmp_path / "report-390.png").stat().st_size > 10_000
