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


def _write_source(path: Path, closes: list[float]) -> None:
    rows = [f"2024-01-01T{h:02d}:00:00Z,{c},{c * 1.01},{c * 0.99},{c},1" for h, c in enumerate(closes)]
    path.write_text(HEADER + "\n".join(rows) + "\n")


def test_index_command_drops_the_deviating_source(tmp_path: Path) -> None:
    """Three sources; one glitches by +20 % on two bars: those bars are dropped, the index stays honest."""
    honest = [100.0, 101.0, 102.0, 103.0]
    a, b, c = tmp_path / "a_1h.csv", tmp_path / "b_1h.csv", tmp_path / "c_1h.csv"
    _write_source(a, honest)
    _write_source(b, [x * 1.001 for x in honest])
    _write_source(c, [honest[0], honest[1] * 1.2, honest[2] * 1.2, honest[3]])
    out = tmp_path / "index.csv"
    res = runner.invoke(app, ["data", "index", str(a), str(b), str(c), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 rows from 3 sources" in res.stdout
    text = out.read_text()
    assert "index_price" in text
    import pandas as pd

    frame = pd.read_csv(out)
    assert frame["index_price"].max() < 104.0
    bad = runner.invoke(app, ["data", "index", str(a)])
    assert bad.exit_code == 2
    assert "at least 2 source files" in bad.stderr


def test_index_sources_with_the_same_file_name_in_two_folders(tmp_path: Path) -> None:
    # Found by a bad-input campaign (2026-12-05): sources were keyed by file name alone, so one
    # file per venue folder collapsed into one source ("from 1 sources") and the index lost one.
    honest = [100.0, 101.0, 102.0, 103.0]
    paths = [tmp_path / venue / "BTCUSDT_1h.csv" for venue in ("venA", "venB")]
    for p, scale in zip(paths, (1.0, 1.001), strict=True):
        p.parent.mkdir()
        _write_source(p, [x * scale for x in honest])
    res = runner.invoke(app, ["data", "index", *map(str, paths)])
    assert res.exit_code == 0, res.output
    assert "4 rows from 2 sources" in res.stdout
    assert "venA/BTCUSDT_1h.csv" in res.stdout
    # The same file twice, under any spelling, would weigh twice in the index: refused, naming it.
    for again in (str(paths[0]), str(paths[0].parent / ".." / "venA" / "BTCUSDT_1h.csv")):
        twice = runner.invoke(app, ["data", "index", str(paths[0]), again])
        assert twice.exit_code == 2
        assert f"the source '{again}' is given twice (as '{paths[0]}' too)" in twice.stderr


def test_an_index_source_without_a_price_is_refused(tmp_path: Path) -> None:
    # A bad-input campaign (2026-12-06): a header-only source joined the index, never quoted, and
    # the run exited 0 with every row halted and an empty index_price column.
    a, b, empty = tmp_path / "a_1h.csv", tmp_path / "b_1h.csv", tmp_path / "e_1h.csv"
    _write_source(a, [100.0, 101.0])
    _write_source(b, [100.1, 101.1])
    empty.write_text(HEADER)
    out = tmp_path / "index.csv"
    res = runner.invoke(app, ["data", "index", str(a), str(b), str(empty), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1
    assert "has no price (no rows, or every 'close' missing)" in res.stderr
    assert not out.exists()


def test_a_header_without_rows_is_invalid(tmp_path: Path) -> None:
    # It said "0 rows ... valid" and exited 0, where a backtest on it refuses it (a CLI audit).
    p = tmp_path / "X_1h.csv"
    p.write_text(HEADER)
    res = runner.invoke(app, ["data", "check", str(p)])
    assert res.exit_code == 1, res.output
    assert "INVALID: no data rows" in res.stdout
    js = json.loads(runner.invoke(app, ["data", "check", str(p), "--json"]).stdout)
    assert js["ok"] is False
    assert js["empty"] is True


def test_check_prints_times_with_their_fraction_of_a_second(tmp_path: Path) -> None:
    # The report printed 08:59:59.999 as 08:59:59Z: the close time it names could not be seen.
    p = tmp_path / "X_1h.csv"
    p.write_text(HEADER + "2024-01-01T08:59:59.999Z,1,2,0.5,1.5,3\n2024-01-01T09:59:59.999Z,1,2,0.5,1.5,3\n")
    res = runner.invoke(app, ["data", "check", str(p)])
    assert res.exit_code == 1, res.output
    assert "2024-01-01T08:59:59.999Z" in res.stdout
    assert "2024-01-01T09:59:59.999Z" in res.stdout
    assert "misaligned" in res.stdout
    js = json.loads(runner.invoke(app, ["data", "check", str(p), "--json"]).stdout)
    assert js["issues"][0]["timestamp"] == "2024-01-01T08:59:59.999Z"
    assert js["counts"] == {"misaligned": 2}


def test_resample_command_prints_what_it_dropped(tmp_path: Path) -> None:
    # the 8th 4h bar's source has 3 of 4 hours: dropped, and the command says so
    p = tmp_path / "X_1h.csv"
    rows = [f"2024-01-01T{h:02d}:00:00Z,1,2,0.5,1.5,1" for h in range(7)]
    p.write_text(HEADER + "\n".join(rows) + "\n")
    out = tmp_path / "X_4h.parquet"
    res = runner.invoke(app, ["data", "resample", str(p), "--interval", "4h", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "7 1h bars → 1 4h bars" in res.stdout
    assert (
        "note: 1 partial 4h bar(s) dropped (missing some of their 4 1h bars): 2024-01-01T04:00:00+00:00" in res.stdout
    )
