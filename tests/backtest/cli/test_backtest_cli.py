"""`levguard backtest CONFIG.yaml`: a config in, a metrics table and an HTML report out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app

runner = CliRunner()


def _write_file_data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    n = 600
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    op = np.concatenate(([close[0]], close[:-1]))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    rows = [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{max(o, c) * 1.002},{min(o, c) * 0.998},{c},50"
        for t, o, c in zip(idx, op, close, strict=True)
    ]
    p = tmp_path / "BTCUSDT_1h.csv"
    p.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    f = tmp_path / "BTCUSDT_funding.csv"
    f.write_text("timestamp,funding_rate\n" + "\n".join(f"{t:%Y-%m-%dT%H:%M:%SZ},0.0001" for t in idx[::8]) + "\n")
    return tmp_path


def test_backtest_from_files_writes_report_and_json(tmp_path: Path) -> None:
    d = _write_file_data(tmp_path)
    cfg = {
        "data": {"source": "file", "path": str(d / "BTCUSDT_1h.csv"), "funding": str(d / "BTCUSDT_funding.csv")},
        "strategy": {"type": "ts_momentum", "lookback": 48},
        "policies": {"fixed 3x": {"type": "fixed", "leverage": 3}, "vol": {"type": "vol_target", "target_vol": 0.5}},
        "output": {"report": str(tmp_path / "bt.html"), "json": str(tmp_path / "m.json")},
    }
    c = tmp_path / "bt.yaml"
    c.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 0, res.output
    assert "ts_momentum on BTCUSDT" in res.stdout
    assert (tmp_path / "bt.html").exists()
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(metrics) == {"fixed 3x", "vol"}
    assert metrics["fixed 3x"]["funding_paid"] != 0


def test_a_gap_in_the_bars_is_printed_once(tmp_path: Path) -> None:
    d = _write_file_data(tmp_path)
    bars = d / "BTCUSDT_1h.csv"
    lines = bars.read_text().splitlines()
    bars.write_text("\n".join(lines[:201] + lines[241:]) + "\n")  # 40 hours missing after bar 199
    cfg = {
        "data": {"source": "file", "path": str(bars), "funding": str(d / "BTCUSDT_funding.csv")},
        "strategy": {"type": "ts_momentum", "lookback": 48},
        "policies": {"fixed 3x": {"type": "fixed", "leverage": 3}, "fixed 2x": {"type": "fixed", "leverage": 2}},
    }
    c = tmp_path / "bt.yaml"
    c.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 0, res.output
    gap = "note: bars skip 1 gap(s) longer than one bar (40 bar(s) missing; the longest, 1 days 17:00:00, after "
    assert res.stderr.count(gap) == 1, res.stderr
    assert "note: 5 funding print(s) settle inside gaps between the bars: each is charged at the open" in res.stderr


def test_backtest_config_errors_name_the_key(tmp_path: Path) -> None:
    c = tmp_path / "bad.yaml"
    c.write_text(yaml.safe_dump({"policies": {"x": {"type": "fixed", "leverage": 2}}, "strategy": {"type": "hodl"}}))
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 2
    assert "strategy: unknown type; use one of" in res.stderr
    c.write_text(yaml.safe_dump({"policies": {}}))
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 2
    assert "policies" in res.stderr
    c.write_text(yaml.safe_dump({"policies": {"x": {"type": "fixed", "leverage": 2}}, "initial_equty": 5}))
    res = runner.invoke(app, ["backtest", str(c)])
    assert "initial_equty: unknown key" in res.stderr


def test_unwritable_outputs_and_a_run_that_never_trades(tmp_path: Path) -> None:
    # Found by a bad-input campaign (2026-12-05): an output path that is a directory raised
    # IsADirectoryError through the command, and a strategy that never trades printed NaN
    # (not JSON) for its Sharpe ratio with exit 0.
    d = _write_file_data(tmp_path)
    base = {
        "data": {"source": "file", "path": str(d / "BTCUSDT_1h.csv"), "funding": str(d / "BTCUSDT_funding.csv")},
        "strategy": {"type": "ema_crossover", "fast": 5, "slow": 1000, "long_only": True},
        "policies": {"fixed 3x": {"type": "fixed", "leverage": 3}},
    }
    c = tmp_path / "bt.yaml"
    for key, needle in (("report", "output.report: cannot write"), ("json", "output.json: cannot write")):
        c.write_text(yaml.safe_dump({**base, "output": {key: str(tmp_path)}}))
        res = runner.invoke(app, ["backtest", str(c)])
        assert res.exit_code == 2, res.output
        (line,) = res.stderr.strip().splitlines()
        assert line.startswith(f"levguard: error: {needle} {str(tmp_path)!r}: "), line  # checked before the run
    c.write_text(yaml.safe_dump(base))
    res = runner.invoke(app, ["backtest", str(c), "--json"])
    assert res.exit_code == 0, res.output
    assert (
        json.loads(res.stdout, parse_constant=lambda name: pytest.fail(name))["metrics"]["fixed 3x"]["sharpe"] is None
    )


def test_a_window_longer_than_any_history_is_refused(tmp_path: Path) -> None:
    # `strategy.slow: 10**57` raised OverflowError inside pandas' EWM.
    d = _write_file_data(tmp_path)
    cfg = {
        "data": {"source": "file", "path": str(d / "BTCUSDT_1h.csv")},
        "strategy": {"type": "ema_crossover", "fast": 5, "slow": 10**57},
        "policies": {"fixed 3x": {"type": "fixed", "leverage": 3}},
    }
    c = tmp_path / "bt.yaml"
    c.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert "strategy.ema_crossover.slow: must be less than or equal to 10000000" in line, line


def test_every_policy_is_built_before_the_data_is_read_and_its_error_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review (2026-12-07): a third policy its constructor refuses (a regime without `stress`)
    # failed after the first two had run, as "policy regime: ..." without its key.
    import levguard.backtest.engine as engine

    runs: list[object] = []
    monkeypatch.setattr(engine, "run", lambda *a, **k: runs.append(a))
    regime = {"type": "regime", "policies": {"calm": {"type": "fixed", "leverage": 2}}}
    cfg = {
        "data": {"source": "file", "path": str(tmp_path / "not-read.csv")},
        "policies": {
            "a": {"type": "fixed", "leverage": 2},
            "b": {"type": "fixed", "leverage": 3},
            "c": {"type": "composite", "policies": [{"type": "fixed", "leverage": 1}, regime]},
        },
        "output": {"report": None},
    }
    c = tmp_path / "bt.yaml"
    c.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert line == f"levguard: error: {c}: policies.c.policies[1]: policies must include 'stress', was given ['calm']"
    assert runs == []
