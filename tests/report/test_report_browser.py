"""The demo's tearsheet in a real headless browser (Debian's chromium driven by Playwright).

The report (``levguard demo``'s, on the embedded default market) must stay under 3 MB, draw every
figure from the embedded (gzipped) plotly.js without touching the network, and never overflow
horizontally at 1,280 px (a laptop) or 390 px (a phone).  Screenshots go to ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import CHROMIUM, open_everywhere

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
    for section in ("Key metrics", "Price (log scale)", "Equity and drawdown", "Leverage against its target"):
        assert section in text
    for section in ("Monthly returns", "Rolling 30-day volatility", "Liquidations", "n/a (ruined)"):
        assert section in text
    assert "injected crashes" in text
    # Fits 1,280 and 390 px (details open too), draws offline, key metrics above the figures.
    open_everywhere(demo_report, tmp_path, "table.key")
    assert text.count('class="key"') + text.count("class='key'") == 1  # one key-metrics table

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(demo_report.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=60_000)
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
            # The ruined runs' markers (equity of dust or 0) stay on the log view, on its floor.
            ruins = page.evaluate(
                "(() => { const g = [...document.querySelectorAll('.js-plotly-plot')]"
                ".find(d => d.layout.updatemenus && d.layout.updatemenus[0].type === 'buttons');"
                " return g.data.filter(t => / ruined$/.test(t.name)).map(t => Array.from(t.y)); })()"
            )
            assert ruins, "the demo has a ruined run"
            assert all(y[0] >= 10 ** low[1] for y in ruins), ruins
            page.screenshot(path=str(tmp_path / "report-log-equity.png"))
        finally:
            browser.close()
