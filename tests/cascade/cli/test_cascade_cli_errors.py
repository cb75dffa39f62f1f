"""Bad cascade configs: one line `levguard: error: ...` naming the key, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app

runner = CliRunner()

BASE: dict[str, Any] = {
    "population": {"distribution": {"n": 500, "price": 60000, "seed": 1}},
    "paths": {"model": "gbm", "s0": 60000, "sigma": 0.8, "n_steps": 50, "dt_years": 1.9e-6, "seed": 7},
    "market": {"depth": 1.0e5},
    "scheduler": None,
    "output": {"report": None, "csv": None},
}


def _run(tmp_path: Path, cfg: Any, command: str = "cascade", *args: str) -> Any:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return runner.invoke(app, [command, str(p), *args])


def _with(section: str, **values: Any) -> dict[str, Any]:
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    cfg[section] = {**(cfg.get(section) or {}), **values}
    return cfg


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({**BASE, "regme": {}}, "regme: unknown key"),
        (_with("paths", sigmaa=1), "paths.sigmaa: unknown key"),
        (_with("paths", model="levy"), "paths.model: unknown model"),
        (_with("market", depth=-1), "market.depth: must be greater than 0"),
        (_with("market", impact="cubic"), "market.impact:"),
        (_with("regime", mmr=0), "regime.mmr: must be greater than 0"),
        (_with("regime", kind="tiered"), "regime: the tiered regime needs `tiers`"),
        (_with("regime", kind="tiered", tiers={"venue": "nowhere"}), "regime.tiers.venue:"),
        (_with("regime", kind="tiered", tiers={"venue": "binance-usdm", "symbol": "DOGEUSDT"}), "regime.tiers.symbol:"),
        (_with("venue", latency_steps=-1), "venue.latency_steps:"),
        (_with("monte_carlo", n_paths=0), "monte_carlo.n_paths:"),
        ({**BASE, "population": {}}, "population: give exactly one"),
        ({**BASE, "scheduler": "nowhere"}, "scheduler: must be null"),
        (_with("calibrate", grid={"mmr": [0.01, -0.1]}), "calibrate.grid.mmr[1]: must be greater than 0"),
        (_with("calibrate", grid={"leverage": [1]}), "calibrate.grid: unknown parameter 'leverage'"),
        ({k: v for k, v in BASE.items() if k != "market"}, "market: missing key"),
        # An audit: sigma 1e6 overflowed the paths ("path must be at least 2 finite prices"), and
        # a reversed oracle interval did nothing, silently.
        (_with("paths", sigma=1e6), "paths.sigma: must be less than or equal to 20"),
        (_with("venue", oracle={"sources": 3, "corrupt": [{"source": 0, "from": 5, "to": 3}]}), "to must be >= from"),
        (_with("venue", oracle={"sources": 3, "stale": [{"source": 1, "from": 9, "to": 2}]}), "to must be >= from"),
        # A review (2026-12-07): max_events 1e11 asked numpy for 5.8 TiB (a MemoryError traceback).
        ({**BASE, "max_events": 100_000_000_000}, "max_events: must be less than or equal to 100000000"),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path: Path, cfg: dict[str, Any], needle: str) -> None:
    res = _run(tmp_path, cfg)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("levguard: error: ")
    assert res.stderr.count("\n") == 1
    assert needle in res.stderr


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    res = runner.invoke(app, ["cascade", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2
    assert "does not exist" in res.stderr
    p = tmp_path / "broken.yaml"
    p.write_text("population: [unclosed")
    res = runner.invoke(app, ["cascade", str(p)])
    assert res.exit_code == 2
    assert "invalid YAML" in res.stderr


def test_calibrate_needs_its_section_and_n_paths(tmp_path: Path) -> None:
    res = _run(tmp_path, BASE, "calibrate")
    assert res.exit_code == 2
    assert "calibrate: missing key" in res.stderr
    res = _run(tmp_path, _with("calibrate", grid={"mmr": [0.01]}), "calibrate")
    assert res.exit_code == 2
    assert "calibrate.n_paths: missing key" in res.stderr


def test_bad_scheduler_option(tmp_path: Path) -> None:
    res = _run(tmp_path, BASE, "cascade", "--scheduler", "nowhere")
    assert res.exit_code == 2
    assert "--scheduler" in res.stderr


def test_missing_population_file(tmp_path: Path) -> None:
    res = _run(tmp_path, {**BASE, "population": {"file": str(tmp_path / "none.csv")}})
    assert res.exit_code == 2
    assert "none.csv" in res.stderr


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        # No price, close or mark column: the last column was taken (volume became the prices).
        (
            "timestamp,open,last,volume\n2024-01-01T00:00Z,1,1,900\n2024-01-01T01:00Z,1,1,910\n",
            "no price, close or mark column",
        ),
        # The path runs in file order: reversed or repeated times said otherwise.
        (
            "timestamp,close\n2024-01-01T01:00Z,100\n2024-01-01T00:00Z,90\n",
            "timestamp at row 1 ('2024-01-01T00:00Z') is not after",
        ),
        ("timestamp,close\n2024-01-01T00:00Z,100\nabc,90\n", "timestamp at row 1 ('abc') is not a time"),
        # A cell that is not a number was a ValueError traceback (exit 1).
        ("timestamp,close\n2024-01-01T00:00Z,100\n2024-01-01T01:00Z,x\n", "close at row 1 must be a number, was 'x'"),
    ],
)
def test_a_user_path_file_says_what_it_cannot_use(tmp_path: Path, rows: str, needle: str) -> None:
    (tmp_path / "path.csv").write_text(rows)
    res = _run(tmp_path, {**BASE, "paths": {"model": "user", "file": str(tmp_path / "path.csv")}})
    assert res.exit_code == 2, res.output
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_no_surviving_account_is_one_line_exit_2(tmp_path: Path) -> None:
    # A hunt (2026-12-07): the population warned that it dropped every account (a log line on
    # stderr) just before raising, so the CLI printed two lines.  In a process of its own: the
    # CLI's logging goes to the real stderr.
    cfg = {**BASE, "population": {"distribution": {"n": 200, "price": 60000, "seed": 1, "mmr": 0.9}}}
    p = tmp_path / "all_liquidatable.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    code = "from levguard.cli.main import run; run()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "cascade", str(p), "--scheduler", "none"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("levguard: error: "), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "no account survives" in proc.stderr
