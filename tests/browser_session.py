"""Shared by the dashboard browser tests: one chromium page (Debian's chromium, Playwright) at
laptop size whose JavaScript errors fail the test and whose failure leaves a screenshot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def dashboard_page(shots: Path, timeout_ms: int = 15_000) -> Iterator[Any]:
    """A 1,280 x 900 light page with ``timeout_ms`` as its default timeout.  On an exception the
    page is saved to ``shots / "failure.png"``; afterwards no JavaScript error may have occurred."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(timeout_ms)
            try:
                yield page
            except BaseException:
                page.screenshot(path=str(shots / "failure.png"), full_page=True)
                raise
        finally:
            browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
