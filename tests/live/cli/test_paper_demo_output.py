"""`levguard guard --paper-demo | cat`: readable without a terminal (issue 16)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path


def test_paper_demo_through_a_pipe_states_equity_thresholds_and_labels() -> None:
    before = set(Path(tempfile.gettempdir()).glob("levguard-demo-*"))
    code = "from levguard.cli.main import run; run()"
    res = subprocess.run(
        [sys.executable, "-c", code, "guard", "--paper-demo"], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    # The table is not cut to 80 columns: full column names and the account name survive.
    assert "paper-btc" in out
    assert "liq. price" in out
    assert "…" not in out
    # Alert levels are printed as labels, not eaten as markup.
    assert "[critical] BTCUSDT" in out
    assert "[warning] BTCUSDT: sell" in out
    assert "Thresholds (warn / danger / act): margin ratio 30% / 50% / 60%" in out
    kept = re.search(r"Final equity: ([\d,.]+) USDT with the guardian, ([\d,.]+) USDT without", out)
    assert kept is not None, out
    with_guard, without = (float(x.replace(",", "")) for x in kept.groups())
    assert with_guard > without >= 0.0
    # The demo's temporary database is removed.
    assert set(Path(tempfile.gettempdir()).glob("levguard-demo-*")) <= before
