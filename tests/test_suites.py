"""The ``slow`` marker: which suites ``make test-quick`` leaves out (tests/suites.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from suites import SLOW_SUITES, is_slow

ROOT = Path(__file__).resolve().parents[1]


def test_the_rule() -> None:
    assert SLOW_SUITES == ("e2e", "chaos", "evm")
    assert is_slow("e2e/test_readme_commands.py", [])
    assert is_slow("evm/test_morpho_differential.py", ["npm not found"])
    assert is_slow("report/test_report_browser.py", ["needs Debian's chromium at /usr/bin/chromium"])
    assert not is_slow("core/test_records.py", [])
    assert not is_slow("data/test_x.py", ["../shared is not present"])
    assert not is_slow("evmish/test_x.py", [])


def test_collection_marks_the_browser_and_chaos_tests_and_nothing_else() -> None:
    files = ["tests/report/test_report_browser.py", "tests/chaos/test_chaos_checker.py", "tests/core/test_records.py"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "slow", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    collected = {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line}
    assert collected == {"tests/report/test_report_browser.py", "tests/chaos/test_chaos_checker.py"}, out.stdout


def test_rewritten_test_modules_are_cached_even_where_bytecode_is_off(tmp_path: Path) -> None:
    """conftest.py: with PYTHONDONTWRITEBYTECODE set, pytest still caches the rewritten modules
    (else every run and every worker rewrites them all again).

    The repository's conftest.py (and suites.py, which it imports) run beside a one-line test
    module in a temporary folder, so the check reads the installed packages' bytecode as it is
    (a ``PYTHONPYCACHEPREFIX`` would have Python compile every imported module again: about 8 s
    of CPU against 2 s) and writes nothing into the repository."""
    for name in ("conftest.py", "suites.py"):
        shutil.copy(ROOT / "tests" / name, tmp_path / name)
    (tmp_path / "test_tiny.py").write_text("def test_one() -> None:\n    assert 1 + 1 == 2\n", encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "test_tiny.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "test_tiny.py::test_one" in out.stdout, out.stdout
    cached = [p.name for p in (tmp_path / "__pycache__").glob("test_tiny*.pyc")]
    assert any("pytest" in name for name in cached), cached


def test_make_test_lets_pytest_cache_its_plugins_rewrites() -> None:
    """The Makefile's pytest command unsets PYTHONDONTWRITEBYTECODE: pytest rewrites its plugins'
    modules before conftest.py runs, so with the variable set every worker rewrote them all again
    (bench/bench_pytest_start.py: 2.8 s against 1.2 s of CPU per start)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    commands = [line for line in makefile.splitlines() if "$(BIN)/pytest" in line]
    assert len(commands) >= 2, commands
    assert all("env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest" in line for line in commands), commands
