"""Which tests are slow: the suites that take minutes, marked ``slow`` at collection (conftest).

``make test`` and CI run everything; ``make test-quick`` (``pytest -m "not slow"``) leaves the
slow suites out for a fast loop while developing.  Slow: the end-to-end runs of every README
command and docs block (``e2e``), the SIGKILL chaos harness (``chaos``), the protocols' own
contracts in an in-process EVM (``evm``), and every test that drives chromium (those skip without
it, so their ``skipif`` names chromium: new browser tests are slow without being listed).
"""

from __future__ import annotations

from collections.abc import Iterable

#: Test folders (relative to tests/) whose every test is slow.
SLOW_SUITES: tuple[str, ...] = ("e2e", "chaos", "evm")


def is_slow(relative_path: str, skip_reasons: Iterable[str]) -> bool:
    """True for a test in a slow suite or one that needs chromium (its skip reasons say so)."""
    top = relative_path.replace("\\", "/").split("/", 1)[0]
    return top in SLOW_SUITES or any("chromium" in reason for reason in skip_reasons)
