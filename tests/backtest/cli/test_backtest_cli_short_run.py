"""A run of a few bars: its CAGR is shown as not meaningful (the metric keeps its value).

A hunt (2026-12-07): `levguard demo --data DIR --start` leaving 7 hourly bars printed a CAGR of
1.3e10 % with no warning (the run's note was never printed by the demo), and the backtest table
and the tearsheet showed such a CAGR as any other.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.backtest import BuyAndHold, run
from levguard.backtest.engine import SHORT_RUN_DAYS, span_days
from levguard.cli.main import app
from levguard.core.sizing.base import FixedLeverage
from levguard.report.tables import SHORT_RUN, all_metrics_html, key_metrics_html

runner = CliRunner()


def _bars(path: Path, n: int) -> Path:
    close = 60_000.0 * np.exp(np.cumsum(np.resize([0.004, 0.0], n)))  # up 0.2 % an hour: a CAGR in the billions
    op = np.concatenate(([close[0]], close[:-1]))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    rows = [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{max(o, c) * 1.001},{min(o, c) * 0.999},{c},50"
        for t, o, c in zip(idx, op, close, strict=True)
    ]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_short_run_is_the_span_its_cagr_annualises(tmp_path: Path) -> None:
    assert span_days(24 * 30, 24 * 365) == pytest.approx(SHORT_RUN_DAYS)
    short = run(_bars(tmp_path / "BTCUSDT-PERP_1h.csv", 8), BuyAndHold(), FixedLeverage(10.0))
    assert short.short_run
    assert short.span_days == pytest.approx(8 / 24)
    assert short.metrics["cagr"] > 1e6  # the library keeps the value
    month = run(_bars(tmp_path / "BTCUSDT-PERP_1h.csv", 24 * 30), BuyAndHold(), FixedLeverage(2.0))
    assert not month.short_run


def test_the_tearsheet_shows_a_short_runs_cagr_as_not_meaningful(tmp_path: Path) -> None:
    short = run(_bars(tmp_path / "BTCUSDT-PERP_1h.csv", 8), BuyAndHold(), FixedLeverage(10.0))
    for page in (key_metrics_html({"10x": short}), all_metrics_html({"10x": short})):
        assert SHORT_RUN in page
        assert "annualised from 0.333 days" in page  # the value on hover


def test_the_backtest_table_shows_a_short_runs_cagr_as_not_meaningful(tmp_path: Path) -> None:
    bars = _bars(tmp_path / "BTCUSDT-PERP_1h.csv", 8)
    cfg = {"data": {"source": "file", "path": str(bars)}, "policies": {"fixed 10x": {"type": "fixed", "leverage": 10}}}
    (tmp_path / "bt.yaml").write_text(yaml.safe_dump({**cfg, "output": {"report": str(tmp_path / "r.html")}}))
    res = runner.invoke(app, ["backtest", str(tmp_path / "bt.yaml")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "n/a (<30d)" in res.stdout
    assert "the run spans 8 bar(s)" in res.stderr
    assert SHORT_RUN in (tmp_path / "r.html").read_text()
    res = runner.invoke(app, ["backtest", str(tmp_path / "bt.yaml"), "--json"])
    assert json.loads(res.stdout)["metrics"]["fixed 10x"]["cagr"] > 1e6  # JSON keeps the number


def test_the_demo_says_its_short_window_and_flags_the_cagr(tmp_path: Path) -> None:
    (tmp_path / "ohlcv").mkdir()
    _bars(tmp_path / "ohlcv" / "BTCUSDT-PERP_1h.csv", 8)
    args = ["demo", "--data", str(tmp_path), "--out", ""]
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "note: the run spans 8 bar(s)" in res.stdout
    assert "n/a (<30d)" in res.stdout
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert doc["backtest"]["short_runs"] == list(doc["backtest"]["metrics"])
    assert any("the run spans 8 bar(s)" in n for n in doc["backtest"]["notes"])
