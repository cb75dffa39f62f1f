"""``levguard risk`` with the liquidation surface and reverse stress (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from levguard.cli.main import app

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "levguard" / "resources" / "samples" / "unified_account.yaml"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["risk", str(SAMPLE), *args])
    return r.exit_code, r.stdout, r.stderr


def test_unified_account_prints_the_minimal_shock() -> None:
    code, out, _ = _run("--vol", "0.6", "--horizon", "30")
    assert code == 0, out
    assert "uniMMR" in out
    assert "Liquidation surface BTC x ETH" in out
    assert "minimal liquidating shock" in out


def test_json_holds_the_surface_and_the_reverse_stress() -> None:
    code, out, _ = _run("--vol", "0.6", "--horizon", "30", "--surface", "eth,btc", "--surface-points", "11", "--json")
    assert code == 0
    doc = json.loads(out)["joint_stress"]
    assert doc["surface"]["asset_x"] == "ETH"
    assert len(doc["surface"]["ratio"]) == 11
    assert doc["reverse_stress"]["found"]
    assert doc["reverse_stress"]["liquidatable"]


def test_bad_asset_name_is_one_line_exit_2() -> None:
    code, _out, err = _run("--vol", "0.6", "--surface", "BTC,DOGE")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "DOGE" in lines[0]
    assert lines[0].startswith("levguard: error:")


def test_bad_asset_history_is_one_line_exit_2() -> None:
    code, _, err = _run("--asset-history", "BTC")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "ASSET=FILE" in err


def test_html_report_holds_the_contour(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, stdout, _ = _run("--vol", "0.6", "--horizon", "30", "--surface-points", "21", "--out", str(out))
    assert code == 0, stdout
    text = out.read_text(encoding="utf-8")
    assert '"type":"contour"' in text
    assert "liquidation boundary" in text
    assert "minimal shock" in text
    assert text.count("DecompressionStream('gzip')") == 1  # plotly.js embedded once


def test_asset_histories_give_the_covariance(tmp_path: Path) -> None:
    idx = pd.date_range("2024-01-01", periods=24 * 200, freq="1h", tz="UTC")
    rng = np.random.default_rng(5)
    paths = []
    for asset, start in (("BTC", 60000.0), ("ETH", 3100.0)):
        close = start * np.exp(np.cumsum(rng.normal(0, 0.006, len(idx))))
        frame = pd.DataFrame(
            {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close, "volume": 1.0},
            index=pd.Index(idx.view("int64") // 10**6, name="open_time"),
        )
        path = tmp_path / f"{asset}.csv"
        frame.to_csv(path)
        paths.append(f"{asset}={path}")
    code, out, err = _run("--asset-history", paths[0], "--asset-history", paths[1], "--json")
    assert code == 0, err
    doc = json.loads(out)["joint_stress"]
    assert doc["covariance_source"].startswith("EWMA (lambda 0.94) of 199 daily log returns")


def test_var_options_are_refused_on_a_unified_account_not_ignored() -> None:
    # A review (2026-12-07): --history, --level, --sims and --seed were silently ignored (exit 0)
    # by a unified account's report, which has no VaR/ES.
    for args, needle in (
        (("--history", str(SAMPLE)), "--history does not apply to a unified or portfolio-margin account"),
        (("--level", "0.5"), "--level does not apply"),
        (("--sims", "3"), "--sims does not apply"),
        (("--seed", "1"), "--seed does not apply"),
    ):
        code, out, err = _run("--vol", "0.6", *args)
        assert code == 2, out
        (line,) = err.strip().splitlines()
        assert line.startswith("levguard: error: ")
        assert needle in line, line
    code, out, _ = _run("--vol", "0.6", "--correlation", "0.5", "--horizon", "2")  # these it uses
    assert code == 0, out
