"""`levguard backtest` on degenerate inputs says what happened: a policy that never trades (a
fixed leverage 0, which the schema allows for a flat regime member) gets a note, and a one-bar
file says that at least two bars are needed (it said "set attrs['interval']", which a config
cannot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app

runner = CliRunner()


def _bars(path: Path, n: int) -> Path:
    close = 60_000.0 * np.exp(np.cumsum(np.resize([0.004, -0.003], n)))
    op = np.concatenate(([close[0]], close[:-1]))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    rows = [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{max(o, c) * 1.001},{min(o, c) * 0.999},{c},50"
        for t, o, c in zip(idx, op, close, strict=True)
    ]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def _config(tmp_path: Path, bars: Path, policies: dict[str, object]) -> str:
    cfg = {"data": {"source": "file", "path": str(bars)}, "policies": policies, "output": {"report": None}}
    (tmp_path / "bt.yaml").write_text(yaml.safe_dump(cfg))
    return str(tmp_path / "bt.yaml")


def test_a_policy_that_never_trades_gets_a_note(tmp_path: Path) -> None:
    bars = _bars(tmp_path / "BTCUSDT-PERP_1h.csv", 200)
    policies = {"flat": {"type": "fixed", "leverage": 0}, "2x": {"type": "fixed", "leverage": 2}}
    res = runner.invoke(app, ["backtest", _config(tmp_path, bars, policies)])
    assert res.exit_code == 0, res.output
    assert "note: policies.flat never traded" in res.output
    assert "policies.2x never traded" not in res.output


def test_a_one_bar_file_says_two_bars_are_needed(tmp_path: Path) -> None:
    bars = _bars(tmp_path / "BTCUSDT-PERP_one.csv", 1)
    res = runner.invoke(app, ["backtest", _config(tmp_path, bars, {"2x": {"type": "fixed", "leverage": 2}})])
    assert res.exit_code == 2
    assert "at least two bars are needed" in res.output
    assert len(res.output.strip().splitlines()) == 1
