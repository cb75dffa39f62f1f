"""``levguard replay CONFIG.yaml [--json] [--out report.html] [--calibrate]``: table, JSON and
HTML on synthetic klines, one-line errors, ``levguard init``'s config, and the real 2025-10-10
run (skipped when ../shared is absent)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cascade"))  # the shared kline writer
from test_replay_data import write_crash_klines

runner = CliRunner()


def write_config(tmp_path: Path, **over: Any) -> Path:
    write_crash_klines(tmp_path / "data" / "AAA_1m.csv", s0=100.0, fall=0.15, seed=1)
    raw: dict[str, Any] = {
        "name": "synthetic crash",
        "data": "data",
        "window": {"start": "2024-03-01T13:15:00Z", "end": "2024-03-01T13:45:00Z", "lookback_minutes": 120},
        "population": {"n_accounts": 2_000},
        "assets": {"AAA": {"klines": "AAA_1m.csv", "max_leverage": 40}},
        "observed": {"AAA": {"liquidated_notional": 1e8, "adl_notional": 2e7, "first_adl_delay_seconds": 60}},
        "calibrate": {"target": "AAA", "grid": {"oi_to_daily_volume": [0.02, 0.08]}},
    }
    raw.update(over)
    p = tmp_path / "replay.yaml"
    p.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return p


def test_table_json_and_report(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    res = runner.invoke(app, ["replay", str(cfg)])
    assert res.exit_code == 0, res.output
    for text in ("hyperliquid AAA", "ADL notional", "first ADL delay", "insurance fund min", "peak-to-trough"):
        assert text in res.stdout
    js = runner.invoke(app, ["replay", str(cfg), "--json"])
    assert js.exit_code == 0, js.output
    doc = json.loads(js.stdout)
    from levguard.cascade.replay import load_replay_config, run_replay

    assert doc == json.loads(json.dumps(run_replay(load_replay_config(cfg)).to_dict()))
    out = tmp_path / "out" / "replay.html"
    rep = runner.invoke(app, ["replay", str(cfg), "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    page = out.read_text(encoding="utf-8")
    assert "Replay: synthetic crash" in page
    assert "ADL notional" in page
    assert "insurance fund" in page
    assert "levguardPlot" in page
    assert "https://cdn" not in page


def test_calibrate_prints_the_grid_then_replays_with_the_best(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    res = runner.invoke(app, ["replay", str(cfg), "--calibrate", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["calibration"]["target"] == "AAA"
    assert len(doc["calibration"]["sets"]) == 2
    assert doc["params"] == doc["calibration"]["best"]
    table = runner.invoke(app, ["replay", str(cfg), "--calibrate"])
    assert table.exit_code == 0, table.output
    assert "calibration on AAA" in table.stdout
    assert "best parameters" in table.stdout


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"population": {"n_accounts": -1}}, "population.n_accounts"),
        ({"assets": {"AAA": {"klines": "missing.csv", "max_leverage": 40}}}, "missing.csv does not exist"),
        ({"window": {"start": "2024-03-01T13:15:00Z", "end": "2024-03-09T00:00:00Z"}}, "of the window's"),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path: Path, over: dict[str, Any], match: str) -> None:
    cfg = write_config(tmp_path, **over)
    res = runner.invoke(app, ["replay", str(cfg)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("levguard: error:")
    assert match in lines[0]
    assert "Traceback" not in res.output


def test_missing_config_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["replay", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2
    assert "cannot read the replay config" in res.stderr


def test_init_writes_the_replay_config_that_needs_the_shared_data(tmp_path: Path) -> None:
    init = runner.invoke(app, ["init", str(tmp_path / "w")])
    assert init.exit_code == 0, init.output
    cfg = tmp_path / "w" / "replay-2025-10-10.yaml"
    assert cfg.is_file()
    # No ../shared beside tmp/w: one line naming the missing file, exit 2.
    res = runner.invoke(app, ["replay", str(cfg)])
    assert res.exit_code == 2
    assert "shared/data/events/2025-10-10" in res.stderr
    assert "does not exist" in res.stderr


def test_init_config_runs_on_the_shared_data(tmp_path: Path, shared_dir: Path) -> None:
    init = runner.invoke(app, ["init", str(tmp_path / "w")])
    assert init.exit_code == 0, init.output
    (tmp_path / "shared").symlink_to(shared_dir, target_is_directory=True)
    res = runner.invoke(app, ["replay", str(tmp_path / "w" / "replay-2025-10-10.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["asset"]: r for r in json.loads(res.stdout)["assets"]}
    assert set(rows) == {"BTC", "SOL"}
    assert 0.5 <= rows["BTC"]["ratio_liquidated"] <= 2.0
    assert 0.5 <= rows["BTC"]["ratio_adl"] <= 2.0
    assert abs(rows["BTC"]["first_adl_delay_seconds"] - 62.0) <= 120.0


def test_out_over_a_kline_file_is_refused_before_the_run(tmp_path: Path) -> None:
    # A review (2026-12-07): only CONFIG was protected; --out naming the klines replaced them with
    # the report after the replay had read them.
    cfg = write_config(tmp_path)
    klines = tmp_path / "data" / "AAA_1m.csv"
    before = klines.read_bytes()
    res = runner.invoke(app, ["replay", str(cfg), "--out", str(klines)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.endswith(f"--out names the input assets.AAA.klines '{klines}': it would be written over"), line
    assert klines.read_bytes() == before


def test_out_over_the_observed_figures_file_is_refused(tmp_path: Path) -> None:
    # A review (2026-12-07): the observed liquidation/ADL CSV the replay reads was not protected;
    # --out naming it replaced the venue's figures with the report.
    figures = tmp_path / "data" / "liq_adl.csv"
    cfg = write_config(tmp_path, observed={"AAA": {"liq_adl_csv": "liq_adl.csv"}})
    figures.write_text("ticker,liq_notional,adl_notional\nAAA,1e8,2e7\n", encoding="utf-8")
    before = figures.read_bytes()
    res = runner.invoke(app, ["replay", str(cfg), "--out", str(figures)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.endswith(f"--out names the input observed.AAA.liq_adl_csv '{figures}': it would be written over"), line
    assert figures.read_bytes() == before
