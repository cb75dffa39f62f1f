"""`levguard data check` and `levguard data resample`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from levguard.cli.main import app

runner = CliRunner()
HEADER = "timestamp,open,high,low,close,volume\n"


def test_check_valid_file_with_gap(tmp_path: Path) -> None:
    p = tmp_path / "X_1h.csv"
    p.write_text(HEADER + "2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n2024-01-01T03:00:00Z,1,2,0.5,1.5,3\n")
    res = runner.invoke(app, ["data", "check", str(p)])
    assert res.exit_code == 0, res.output
    assert "valid" in res.stdout
    assert "2 bar(s) missing" in res.stdout
    js = json.loads(runner.invoke(app, ["data", "check", str(p), "--json"]).stdout)
    assert js["ok"] is True
    assert js["missing_bars"] == 2


def test_check_invalid_file_lists_problems_and_exits_1(tmp_path: Path) -> None:
    p = tmp_path / "X_1h.csv"
    p.write_text(HEADER + "2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n2024-01-01T01:00:00Z,1,0.4,0.5,1.5,3\n")
    res = runner.invoke(app, ["data", "check", str(p)])
    assert res.exit_code == 1
    assert "INVALID" in res.stdout
    assert "high is below low" in res.stdout
    assert "close is outside [low, high]" in res.stdout


def test_check_unreadable_file_exits_2_with_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["data", "check", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("levguard: error: file")
    assert len(res.stderr.strip().splitlines()) == 1
    bad_kind = runner.invoke(app, ["data", "check", str(tmp_path / "nope.csv"), "--kind", "trades"])
    assert bad_kind.exit_code == 2


def test_resample_command(tmp_path: Path) -> None:
    p = tmp_path / "X_1h.csv"
    rows = [f"2024-01-01T{h:02d}:00:00Z,1,2,0.5,1.5,1" for h in range(8)]
    p.write_text(HEADER + "\n".join(rows) + "\n")
    out = tmp_path / "X_4h.parquet"
    res = runner.invoke(app, ["data", "resample", str(p), "--interval", "4h", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "8 1h bars → 2 4h bars" in res.stdout
    bad = runner.invoke(app, ["data", "resample", str(p), "--interval", "90m", "--out", str(out)])
    assert bad.exit_code == 2
    assert "not a whole multiple" in bad.stderr
