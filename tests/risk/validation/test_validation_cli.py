"""`levguard validate liquidation`: the embedded synthetic market, written CSV files, shared data, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.report.validation import write_validation_report

runner = CliRunner()


def _write(path: Path, frame: pd.DataFrame) -> Path:
    rows = [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{h},{lo},{c},1"
        for t, o, h, lo, c in zip(frame.index, frame["open"], frame["high"], frame["low"], frame["close"], strict=True)
    ]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def csv_dir(tmp_path: Path, random_walk: pd.DataFrame) -> Path:
    """TESTUSDT-PERP_1h.csv (last price) and TESTUSDT-MARK_1h.csv (mark 0.1 % below, lows deeper)."""
    _write(tmp_path / "TESTUSDT-PERP_1h.csv", random_walk)
    mark = random_walk[["open", "high", "low", "close"]] * 0.999
    mark["low"] *= 0.995
    _write(tmp_path / "TESTUSDT-MARK_1h.csv", mark)
    return tmp_path


def _ok(args: list[str]) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(app, ["validate", "liquidation", *args, "--json"])
    assert res.exit_code == 0, res.stdout + res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def _bad(args: list[str], needle: str) -> None:
    res = runner.invoke(app, ["validate", "liquidation", *args])
    assert res.exit_code == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("levguard: error: ")
    assert needle in lines[0]


def test_embedded_synthetic_market(tmp_path: Path) -> None:
    """No BARS: the embedded market, the default model against the naive baseline, tables and a report."""
    out = tmp_path / "report.html"
    res = runner.invoke(app, ["validate", "liquidation", "--out", str(out)])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "BTC-SYNTH" in res.stdout
    assert "Acceptance checks" in res.stdout
    assert "acceptance:" in res.stdout
    text = out.read_text()
    assert "Reliability (scored set)" in text
    assert "plotly" in text


def test_embedded_synthetic_market_json() -> None:
    doc = _ok(["--horizon", "1", "--leverage", "10"])
    assert doc["model"] == "default"
    assert doc["baseline"] == "naive"
    assert doc["assets"][0]["asset"] == "BTC-SYNTH"
    assert [g["label"] for g in doc["scored"]] == ["BTC-SYNTH 1d", "pooled 1d"]
    assert doc["scored"][0]["model"]["n"] == 2 * 365  # 2023, long and short
    assert doc["report"] is None


def test_written_csv_with_sibling_mark(csv_dir: Path) -> None:
    """The MARK file beside the PERP file is found and used; the asset is named after the file."""
    doc = _ok([str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", "2022-09-30", "--model", "naive"])
    asset = doc["assets"][0]
    assert asset["asset"] == "TESTUSDT"
    assert asset["mark_source"].endswith("TESTUSDT-MARK_1h.csv")
    assert asset["tier_source"].startswith("generic tier")
    assert doc["train_until"].startswith("2022-09-30")
    assert doc["scored"][0]["diebold_mariano"] is None  # naive against naive
    no_mark = _ok([str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", "2022-09-30", "--no-auto-mark"])
    assert no_mark["assets"][0]["mark_source"] == ""
    # The mark's lows are deeper than the last price's: at least as many liquidations with the mark.
    events = [d["scored"][0]["model"]["events"] for d in (doc, no_mark)]
    assert events[0] >= events[1]


def test_written_csv_explicit_mark_two_assets(csv_dir: Path, tmp_path: Path) -> None:
    perp = csv_dir / "TESTUSDT-PERP_1h.csv"
    copy = tmp_path / "OTHERUSDT_1h.csv"
    copy.write_text(perp.read_text())
    mark = csv_dir / "TESTUSDT-MARK_1h.csv"
    # Each asset's own mark: TESTUSDT's mark file for the OTHERUSDT bars is another instrument's.
    res = runner.invoke(
        app, ["validate", "liquidation", str(perp), str(copy), "--mark", str(mark), "--mark", str(mark)]
    )
    assert res.exit_code == 2
    assert f"mark file {mark} is TESTUSDT, the last-price bars {copy} are OTHERUSDT" in res.output
    other_mark = tmp_path / "OTHERUSDT-MARK_1h.csv"
    other_mark.write_text(mark.read_text())
    marks = ["--mark", str(mark), "--mark", str(other_mark)]
    doc = _ok(
        [
            str(perp),
            str(copy),
            *marks,
            "--train-until",
            "2022-09-30",
            "--side",
            "long",
            "--by-leverage",
            "--horizon",
            "7",
        ]
    )
    assert [a["asset"] for a in doc["assets"]] == ["TESTUSDT", "OTHERUSDT"]
    labels = [g["label"] for g in doc["scored"]]
    assert labels[:4] == ["TESTUSDT 7d", "TESTUSDT 7d 5x", "TESTUSDT 7d 10x", "TESTUSDT 7d 20x"]
    assert "pooled 7d" in labels
    assert doc["sides"] == ["long"]


def test_tables_on_a_written_csv(csv_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "r.html"
    args = [str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", "2022-09-30", "--out", str(out), "--by-side"]
    res = runner.invoke(app, ["validate", "liquidation", *args])
    assert res.exit_code == 0, res.stdout + res.stderr
    for needle in ("TESTUSDT 1d", "TESTUSDT 1d long", "Reliability, TESTUSDT 7d", "Per year", "Train set"):
        assert needle in res.stdout
    assert f"HTML report: {out}" in res.stdout.replace("\n", "")
    assert out.is_file()


def test_cases_with_a_gap_in_the_bars_are_counted_in_every_output(tmp_path: Path, random_walk: pd.DataFrame) -> None:
    """Two days missing from the file: the windows over them are left out and counted in the
    JSON, the printout and the HTML report (docs/validation.md, "Outcome")."""
    gap = (random_walk.index >= pd.Timestamp("2023-01-10", tz="UTC")) & (
        random_walk.index < pd.Timestamp("2023-01-12", tz="UTC")
    )
    _write(tmp_path / "GAPUSDT-PERP_1h.csv", random_walk.loc[~gap])
    args = [str(tmp_path / "GAPUSDT-PERP_1h.csv"), "--train-until", "2022-09-30", "--model", "naive"]
    left_out = _ok(args)["assets"][0]["incomplete"]
    # The 1-day window of 01-10 and the 7-day ones of 01-04 to 01-10 (01-11 and 01-12 have no
    # mark closed in the 24 hours before them and are skipped), both sides at 5, 10 and 20x.
    assert left_out == (1 + 7) * 2 * 3
    res = runner.invoke(app, ["validate", "liquidation", *args, "--out", str(tmp_path / "g.html")])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert f"{left_out:,} left out: gaps in the bars" in res.stdout.replace("\n", " ")
    assert f"{left_out:,} cases left out: gaps in the bars" in (tmp_path / "g.html").read_text()


def test_strict_exits_1_when_a_check_fails(csv_dir: Path) -> None:
    """naive against naive cannot beat the pooled 0.98 x Brier bar."""
    args = [str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", "2022-09-30", "--model", "naive", "--strict"]
    res = runner.invoke(app, ["validate", "liquidation", *args, "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["acceptance"]["passed"] is False


def test_report_from_dict_and_refusal(csv_dir: Path, tmp_path: Path) -> None:
    doc = _ok([str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", "2022-09-30"])
    path = write_validation_report(doc, tmp_path / "again.html", title="T")
    assert "<h1>T</h1>" in path.read_text()
    from levguard.errors import InputError

    with pytest.raises(InputError, match="must be a ValidationResult"):
        write_validation_report({"x": 1}, tmp_path / "x.html")


# ----------------------------------------------------------------------------- bad input
def test_missing_file(tmp_path: Path) -> None:
    _bad([str(tmp_path / "NOPE-PERP_1h.csv")], "does not exist")


def test_wrong_columns(tmp_path: Path) -> None:
    p = tmp_path / "X_1h.csv"
    p.write_text("timestamp,price\n2024-01-01T00:00:00Z,1\n")
    _bad([str(p)], "missing column(s)")


def test_not_hourly(tmp_path: Path, random_walk: pd.DataFrame) -> None:
    p = _write(tmp_path / "X_4h.csv", random_walk.iloc[::4])
    _bad([str(p)], "must be 1h, were 4h")


def test_missing_mark_file(csv_dir: Path, tmp_path: Path) -> None:
    _bad([str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--mark", str(tmp_path / "none.csv")], "does not exist")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--train-until", "2022-13-45"], "--train-until must be a date such as 2022-12-31, was '2022-13-45'"),
        (["--train-until", "soon"], "--train-until must be a date"),
        (["--model", "nope"], "--model must be one of"),
        (["--side", "up"], "--side must be long or short, was 'up'"),
        (["--leverage", "0"], "--leverage must be > 0 and finite, was 0.0"),
        (["--leverage", "500"], "exceeds the maximum"),
        (["--horizon", "0"], "--horizon must be > 0 days, was 0.0"),
        (
            ["--horizon", "0.0625"],
            "--horizon must be a whole number of hours (outcomes are scored on 1h bars), was 0.0625 days = 1.5 h",
        ),
        (["--notional", "-5"], "--notional must be > 0 and finite, was -5.0"),
        (["--venue", "kraken"], "venue must be one of"),
        (["--mark", "a.csv"], "--mark must be given once per BARS file (0), was given 1 time(s)"),
    ],
)
def test_bad_options(args: list[str], needle: str) -> None:
    _bad(args, needle)


@pytest.mark.parametrize("cut", ["2030-01-01", "2023-02-04"])
def test_train_until_leaving_no_case_to_score(csv_dir: Path, cut: str) -> None:
    _bad(
        [str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", cut],
        f"--train-until must be before the last case's as_of so that some cases are scored, was {cut}T00:00:00+00:00;"
        " the data's cases run from 2022-01-31T00:00:00+00:00 to 2023-02-04T00:00:00+00:00",
    )


def test_train_until_before_the_data_scores_every_case(csv_dir: Path) -> None:
    doc = _ok([str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", "2000-01-01", "--horizon", "1"])
    assert doc["train"] == []
    assert doc["scored"][0]["first"].startswith("2022-01-31")


def test_unwritable_report(csv_dir: Path) -> None:
    # Refused before the validation runs (levguard.cli._paths.check_outputs), not after it.
    _bad(
        [str(csv_dir / "TESTUSDT-PERP_1h.csv"), "--train-until", "2022-09-30", "--out", str(csv_dir)],
        "--out: cannot write",
    )


# ----------------------------------------------------------------------------- shared data
@pytest.mark.shared_data
def test_shared_btcusdt_with_mark(shared_dir: Path) -> None:
    """The shared Binance BTCUSDT perpetual and mark klines: cases from 2020 to the data's end, all scored after 2022."""
    ohlcv = shared_dir / "data" / "ohlcv"
    if not (ohlcv / "BTCUSDT-PERP_1h.csv").is_file() or not (ohlcv / "BTCUSDT-MARK_1h.csv").is_file():
        pytest.skip("BTCUSDT 1h files are not in ../shared/data/ohlcv")
    doc = _ok([str(ohlcv / "BTCUSDT-PERP_1h.csv"), "--mark", str(ohlcv / "BTCUSDT-MARK_1h.csv"), "--horizon", "1"])
    asset = doc["assets"][0]
    assert asset["asset"] == "BTCUSDT"
    assert "Binance" in asset["tier_source"]
    assert asset["distances"]["long 10x"] == pytest.approx(1 - 0.9 / 0.996)
    g = doc["scored"][0]
    assert g["label"] == "BTCUSDT 1d"
    assert g["first"].startswith("2023-01-01")
    assert g["model"]["n"] > 6 * 365 * 3
    assert 0 < g["model"]["events"] < g["model"]["n"]
    assert math.isfinite(g["model"]["brier"])
    assert doc["train"][0]["model"]["n"] > 6 * 365 * 2
    np.testing.assert_equal(sorted({y["year"] for y in g["years"]})[:3], [2023, 2024, 2025])
