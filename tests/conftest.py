"""Shared fixtures and helpers for levguard's tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# pytest caches each test module with its assertions rewritten (a .pyc in __pycache__), but not
# where PYTHONDONTWRITEBYTECODE is set, as on the CI machines: there every run, in every xdist
# worker, rewrote all ~680 test and helper modules again, about 20 s of a worker's 35 s of
# collection.  The test process writes bytecode whatever that variable says (as `levguard
# warmup` does for levguard's own modules); the modules imported before this line (pytest,
# its plugins, this file) stay as they were.
sys.dont_write_bytecode = False

# CI runs the property tests on a fixed sequence of examples (reproducible, never red by a new
# random draw); `make test` on a workstation explores new examples on every run.
settings.register_profile("ci", derandomize=True)
if os.environ.get("LEVGUARD_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["LEVGUARD_HYPOTHESIS_PROFILE"])

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TESTS = Path(__file__).resolve().parent


def _build_cli_once() -> None:
    """``CliRunner().invoke(app, ...)`` builds the whole Click command tree of the Typer app on
    every call (about 30 ms for levguard's); the tests invoke the CLI thousands of times, so the
    tree is built once per app and reused (Click commands keep no state between invocations;
    each invocation still gets a new context).  A Typer without the hook keeps its own path."""
    import typer.testing

    build = getattr(typer.testing, "_get_command", None)
    if build is None or getattr(build, "levguard_cached", False):
        return
    built: dict[int, tuple[object, object]] = {}

    def cached(app: object) -> object:
        hit = built.get(id(app))
        if hit is None or hit[0] is not app:
            hit = built[id(app)] = (app, build(app))
        return hit[1]

    cached.levguard_cached = True  # type: ignore[attr-defined]
    typer.testing._get_command = cached


_build_cli_once()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow suites ``slow`` (tests/suites.py): ``make test-quick`` leaves them out."""
    from suites import is_slow

    for item in items:
        try:
            rel = Path(str(item.path)).resolve().relative_to(TESTS).as_posix()
        except ValueError:
            continue
        reasons = (str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif"))
        if is_slow(rel, reasons):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test writes its cache (downloads, the default market) under a temporary directory,
    never into the user's cache; tests that need their own directory override the variable."""
    import os

    os.environ["LEVGUARD_CACHE_DIR"] = str(tmp_path_factory.mktemp("levguard-cache"))


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repository; skip when absent (e.g. a bare clone)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED
