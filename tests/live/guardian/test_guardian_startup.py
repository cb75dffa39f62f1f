"""A guardian process starts light: a restart after a crash watches again sooner (issue 15, test time).

The chaos harness SIGKILLs and restarts guardian processes dozens of times, and a real guardian
restarted by its supervisor is blind until it has imported and cycled once.  Importing the
guardian, building an account on a venue without candles and running a cycle must not load
pandas (the venue's hourly bars load it when a venue serves them), SciPy's integrators and
root finders (only the jump and Kou closed forms use them) nor numba (a cross account of fewer
than ``COMPILED_FROM`` positions is evaluated by the margin kernel's plain-Python twin).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pandas", "scipy.integrate", "scipy.optimize", "numba")
"""What a guardian process must not load before its first cycle (the scenario's last line lists
those it did)."""

CODE = (
    f"HEAVY = {HEAVY!r}\n"
    + """
import asyncio, sys
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Thresholds
from levguard.live.store import Store
from levguard.venues.paper import PaperVenue, PriceFeed

mode = sys.argv[2]
position = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60000.0, "margin_mode": mode}
if mode == "isolated":
    position["isolated_margin"] = 6000.0
venue = PaperVenue("binance-usdm", feeds={"BTCUSDT": PriceFeed.from_path([60000.0] * 10)}, wallet_balance=50_000.0,
    positions=[position], funding_rate=0.0, start_ns=1_700_000_000_000_000_000)
store = Store(sys.argv[1])
store.upsert_account("a", venue.name, live_enabled=False)
thresholds = Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.3, 0.2, 0.1), p_liq=(0.2, 0.5, 0.8))
setup = AccountSetup(name="a", venue=venue, thresholds=thresholds, vol=0.8, max_age_s=3600.0)
guardian = Guardian([setup], store, live=False, owner="startup", clock=lambda: venue.now_ns)
asyncio.run(guardian.cycle())
report = guardian.last_reports["a"]
heavy = [m for m in HEAVY if m in sys.modules]
print("STATUS", report["status"], report["positions"][0]["p_liq"] is not None, heavy)
"""
)


@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_a_guardian_cycles_without_pandas_scipy_solvers_or_numba(tmp_path: Path, mode: str) -> None:
    db = f"sqlite:///{tmp_path / 'guard.db'}"
    out = subprocess.run(
        [sys.executable, "-c", CODE, db, mode], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "STATUS ok True []", out.stdout + out.stderr
