"""Shared by the report browser tests: open a report in Debian's chromium at laptop and phone
width and check that it fits, draws and stays offline."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


# The visible header cells narrower than their longest word (so the word is broken across lines).
_BROKEN_HEADERS = """(() => [...document.querySelectorAll('th')].filter(th => th.offsetParent !== null).map(th => {
  const words = th.innerText.split(/\\s+/).filter(Boolean);
  if (!words.length) return null;
  const cs = getComputedStyle(th);
  const inner = th.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const s = document.createElement('span');
  s.style.whiteSpace = 'nowrap';
  s.textContent = words.reduce((a, b) => (a.length >= b.length ? a : b));
  th.appendChild(s);
  const w = s.getBoundingClientRect().width;
  th.removeChild(s);
  return inner + 0.5 < w ? th.innerText : null;
}).filter(Boolean))()"""


def open_everywhere(report: Path, shots: Path, first_table: str | None) -> None:
    """Open ``report`` at laptop and phone width; check the fit, the figures and the network, and
    that ``first_table`` (a CSS selector) comes before any figure."""
    from playwright.sync_api import sync_playwright

    text = report.read_text(encoding="utf-8")
    assert text.count("atob(") == 1  # plotly.js embedded once (gzipped, base64)
    assert text.count("DecompressionStream('gzip')") == 1
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
                page.goto(report.as_uri())
                page.wait_for_function(
                    "document.querySelectorAll('div.fig').length > 0 && "
                    "document.querySelectorAll('div.fig').length === document.querySelectorAll('.js-plotly-plot').length",
                    timeout=30_000,
                )
                page.wait_for_timeout(200)
                scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert scroll <= inner, f"{report.name}: horizontal overflow at {width} px: {scroll} > {inner}"
                assert page.locator(".main-svg").count() > 0  # plotly drew
                # Open every <details>: what they hold must not widen the page either.
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                page.wait_for_timeout(100)
                scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert scroll <= inner, f"{report.name}: overflow at {width} px with details open: {scroll} > {inner}"
                # The key table comes before any figure.
                before = first_table is None or page.evaluate(
                    "(sel => { const t = document.querySelector(sel), f = document.querySelector('div.fig');"
                    " return !!t && !!(t.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING); })",
                    first_table,
                )
                assert before, f"{report.name}: {first_table} is not above the first figure"
                # No header breaks inside a word: at 390 px the key metrics' "liquidations" stood one
                # letter a line (overflow-wrap: anywhere) in a table that scrolls anyway.
                broken = page.evaluate(_BROKEN_HEADERS)
                assert not broken, f"{report.name}: headers broken inside a word at {width} px: {broken}"
                page.screenshot(path=str(shots / f"{report.stem}-{width}.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    assert not errors, errors
    assert not remote, remote
    for width in (1280, 390):
        assert (shots / f"{report.stem}-{width}.png").stat().st_size > 10_000
