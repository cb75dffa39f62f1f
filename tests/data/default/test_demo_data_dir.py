"""``levguard demo --data DIR``: the policy comparison on local files laid out like shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from levguard.cli.main import app

runner = CliRunner()
POLICIES = {"fixed 3x", "fixed 10x", "vol target 60%", "liquidation budget 1%/7d", "composite"}
N = 480  # 20 days of 1h bars
MARK_LAG = 12  # the mark file starts 12 bars later
JSON = ["--json", "--out", ""]
HEADER = "timestamp,open,high,low,close,volume\n"


def _stamp(t: pd.Timestamp) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%SZ}"


def write_data_dir(root: Path, *, symbol: str = "BTCUSDT", mark: bool = True, funding: bool = True) -> Path:
    """Files in the shared/data formats: ISO UTC timestamps, bar open times, 8-hourly funding."""
    rng = np.random.default_rng(11)
    idx = pd.date_range("2024-03-01", periods=N, freq="1h", tz="UTC")
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.006, N)))
    close[300:306] *= np.array([0.97, 0.93, 0.9, 0.9, 0.92, 0.95])  # a small crash
    op = np.concatenate(([close[0]], close[:-1]))
    hi = np.maximum(op, close) * 1.003
    lo = np.minimum(op, close) * 0.997
    vol = rng.uniform(100, 900, N)
    # Python floats, written with their shortest round-trip repr like the shared files.
    op, hi, lo, close, vol = (a.tolist() for a in (op, hi, lo, close, vol))
    (root / "ohlcv").mkdir(parents=True)
    last_rows = [
        f"{_stamp(t)},{o!r},{h!r},{low!r},{c!r},{v!r}"
        for t, o, h, low, c, v in zip(idx, op, hi, lo, close, vol, strict=True)
    ]
    (root / "ohlcv" / f"{symbol}-PERP_1h.csv").write_text(HEADER + "\n".join(last_rows) + "\n")
    if mark:
        m = slice(MARK_LAG, None)
        mark_rows = [
            f"{_stamp(t)},{o * 1.0001!r},{h * 0.9995!r},{low * 1.0005!r},{c * 1.0001!r},0.0"
            for t, o, h, low, c in zip(idx[m], op[m], hi[m], lo[m], close[m], strict=True)
        ]
        (root / "ohlcv" / f"{symbol}-MARK_1h.csv").write_text(HEADER + "\n".join(mark_rows) + "\n")
    if funding:
        (root / "funding").mkdir()
        prints = pd.date_range("2024-03-01T08:00Z", idx[-1], freq="8h")
        rates = [0.0001 if i % 2 == 0 else 5.6e-05 for i in range(len(prints))]
        text = "".join(f"{_stamp(t)},{r!r}\n" for t, r in zip(prints, rates, strict=True))
        (root / "funding" / f"{symbol}_funding.csv").write_text("timestamp,funding_rate\n" + text)
    return root


def test_data_dir_json(tmp_path: Path) -> None:
    d = write_data_dir(tmp_path / "data")
    report = tmp_path / "demo.html"
    res = runner.invoke(app, ["demo", "--data", str(d), "--json", "--out", str(report)])
    assert res.exit_code == 0, res.output
    js = json.loads(res.stdout)
    assert set(js) == {"binance_cross_faq.yaml", "cross_account.yaml", "market", "sizing", "backtest"}
    market = js["market"]
    assert market["symbol"] == "BTCUSDT"
    assert market["bars"] == N - MARK_LAG
    assert market["first"].startswith("2024-03-01 12:00")
    assert market["mark_source"].endswith("BTCUSDT-MARK_1h.csv")
    assert market["funding_source"].endswith("BTCUSDT_funding.csv")
    assert market["funding_mean_per_8h"] == pytest.approx((0.0001 + 5.6e-05) / 2, rel=0.05)
    assert market["worst_intraday_drop"] < -0.1  # the injected crash
    assert any("12 earlier last-price bar(s) dropped" in n for n in market["notes"])
    assert 0.2 < market["annualised_vol"] < 1.0
    metrics = js["backtest"]["metrics"]
    assert set(metrics) == POLICIES
    assert all(m["funding_paid"] != 0 for m in metrics.values())
    assert js["backtest"]["report"] == str(report)
    html = report.read_text(encoding="utf-8")
    assert f"leverage policies on BTCUSDT history from {d}" in html
    assert "on real BTCUSDT history" not in html  # the files carry no provenance
    assert f"BTCUSDT perpetual, 1h bars from {d}" in html
    assert js["sizing"]["target_leverage"] > 0


def test_data_dir_table(tmp_path: Path) -> None:
    d = write_data_dir(tmp_path / "data")
    res = runner.invoke(app, ["demo", "--data", str(d), "--out", ""])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "note: mark price starts 2024-03-01 12:00: 12 earlier last-price bar(s) dropped" in out
    assert f"Market data BTCUSDT: {N - MARK_LAG:,} 1h bars" in out
    assert "Embedded default market" not in out
    assert "Backtest: buy-and-hold BTCUSDT long on the history from" in out
    assert "real history" not in out  # the files carry no provenance (levguard init writes synthetic ones)
    for name in ("fixed 3x", "fixed 10x", "vol target 60%", "composite"):
        assert name in out


def test_data_dir_without_mark_and_funding(tmp_path: Path) -> None:
    d = write_data_dir(tmp_path / "data", mark=False, funding=False)
    res = runner.invoke(app, ["demo", "--data", str(d), "--json", "--out", ""])
    assert res.exit_code == 0, res.output
    market = json.loads(res.stdout)["market"]
    assert market["bars"] == N
    assert market["mark_source"] is None
    assert market["funding_source"] is None
    assert market["funding_mean_per_8h"] is None
    notes = " | ".join(market["notes"])
    assert "no mark-price file" in notes
    assert "the last price stands in for the mark price" in notes
    assert "no funding file" in notes
    metrics = json.loads(res.stdout)["backtest"]["metrics"]
    assert all(m["funding_paid"] == 0 for m in metrics.values())
    text = runner.invoke(app, ["demo", "--data", str(d), "--out", ""])
    assert text.exit_code == 0, text.output
    assert "note: no mark-price file" in text.stdout
    assert "mark price: no (last price used)" in text.stdout


def test_symbol_and_span(tmp_path: Path) -> None:
    d = write_data_dir(tmp_path / "data", symbol="ETHUSDT")
    args = ["demo", "--data", str(d), "--symbol", "ETHUSDT", "--start", "2024-03-05", "--end", "2024-03-15"]
    res = runner.invoke(app, [*args, "--json", "--out", ""])
    assert res.exit_code == 0, res.output
    js = json.loads(res.stdout)
    assert js["market"]["symbol"] == "ETHUSDT"
    assert js["market"]["bars"] == 10 * 24
    assert js["market"]["first"].startswith("2024-03-05 00:00")
    assert js["market"]["last"].startswith("2024-03-14 23:00")
    assert js["sizing"] is None  # the sample account's long is BTC; no sizing on other symbols' vol
    assert set(js["backtest"]["metrics"]) == POLICIES


def _one_error_line(res: Result) -> str:
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("levguard: error: ")
    return err


def test_missing_last_price_file(tmp_path: Path) -> None:
    d = write_data_dir(tmp_path / "data")
    err = _one_error_line(runner.invoke(app, ["demo", "--data", str(d), "--symbol", "SOLUSDT", "--out", ""]))
    assert f"no last-price file for SOLUSDT 1h: '{d / 'ohlcv' / 'SOLUSDT-PERP_1h.csv'}' does not exist" in err


def test_missing_directory(tmp_path: Path) -> None:
    err = _one_error_line(runner.invoke(app, ["demo", "--data", str(tmp_path / "nowhere")]))
    assert f"data directory '{tmp_path / 'nowhere'}' does not exist" in err


def test_bad_row_names_file_and_value(tmp_path: Path) -> None:
    d = write_data_dir(tmp_path / "data")
    path = d / "ohlcv" / "BTCUSDT-MARK_1h.csv"
    lines = path.read_text().splitlines()
    parts = lines[5].split(",")
    parts[4] = "oops"
    lines[5] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")
    err = _one_error_line(runner.invoke(app, ["demo", "--data", str(d), "--out", ""]))
    assert str(path) in err
    assert "'oops'" in err


def test_span_without_bars(tmp_path: Path) -> None:
    d = write_data_dir(tmp_path / "data")
    err = _one_error_line(runner.invoke(app, ["demo", "--data", str(d), "--start", "2030-01-01", "--out", ""]))
    assert "BTCUSDT-PERP_1h.csv: no bar in [2030-01-01, None)" in err


def test_span_of_two_bars(tmp_path: Path) -> None:
    # Found by a bad-input campaign (2026-12-05): a span of two bars ended in "vol must be a finite
    # annualised volatility > 0 (e.g. 0.6), was nan", naming nothing the user gave.
    d = write_data_dir(tmp_path / "data")
    last = pd.date_range("2024-03-01", periods=N, freq="1h", tz="UTC")[-2]
    err = _one_error_line(runner.invoke(app, ["demo", "--data", str(d), "--start", _stamp(last), "--out", ""]))
    assert "the demo needs prices that move to estimate a volatility;" in err
    assert "holds 2 bar(s) between --start and --end, with a volatility of nan" in err
    # Three bars measure a volatility: the demo runs (the review of the fix: 48 was too strict).
    three = pd.date_range("2024-03-01", periods=N, freq="1h", tz="UTC")[-3]
    res = runner.invoke(app, ["demo", "--data", str(d), "--start", _stamp(three), "--out", "", "--json"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "x", "--real"], "--data and --real exclude each other"),
        (["--symbol", "ETHUSDT"], "--symbol applies to --data or --real only"),
        (["--start", "2024-01-01"], "--start applies to --data or --real only"),
        (["--data", "x", "--cache-dir", "c"], "--cache-dir applies to --real only, was 'c'"),
    ],
)
def test_option_misuse(args: list[str], message: str) -> None:
    assert message in _one_error_line(runner.invoke(app, ["demo", *args]))


@pytest.mark.shared_data
def test_shared_data_btc_august_2024(shared_dir: Path) -> None:
    """Two months of the real BTCUSDT perp, mark and funding around the 2024-08-05 crash."""
    res = runner.invoke(
        app,
        ["demo", "--data", str(shared_dir / "data"), "--start", "2024-07-01", "--end", "2024-09-01", *JSON],
    )
    assert res.exit_code == 0, res.output
    js = json.loads(res.stdout)
    market = js["market"]
    assert market["bars"] == 62 * 24  # no missing hour in either file
    assert market["notes"] == []
    assert market["first"].startswith("2024-07-01 00:00")
    assert market["last"].startswith("2024-08-31 23:00")
    # PROVENANCE.md: perp low 48,888 on 2024-08-05, mark low 49,063.74.
    assert -0.2 < market["worst_intraday_drop"] < -0.1
    assert market["worst_mark_intraday_drop"] > market["worst_intraday_drop"]
    assert 0 < market["funding_mean_per_8h"] < 0.001
    metrics = js["backtest"]["metrics"]
    assert set(metrics) == POLICIES
    assert metrics["fixed 3x"]["n_liquidations"] == 0


def test_init_data_is_not_called_real(tmp_path: Path) -> None:
    # `levguard init` writes a synthetic market in Binance's file layout: the demo on it must not
    # say it ran on real history (it did, before).
    assert runner.invoke(app, ["init", str(tmp_path / "samples")]).exit_code == 0
    report = tmp_path / "demo.html"
    res = runner.invoke(app, ["demo", "--data", str(tmp_path / "samples"), "--out", str(report)])
    assert res.exit_code == 0, res.output
    assert "real" not in res.stdout.replace("\n", " ")
    assert "Backtest: buy-and-hold BTCUSDT long on the history from" in res.stdout
    assert "on real BTCUSDT history" not in report.read_text(encoding="utf-8")


def test_bounds_the_files_do_not_reach_are_said(tmp_path: Path) -> None:
    # `levguard demo --data DIR --end 2030-01-01` ran to the data's last bar without a word.
    from levguard.data.perp import load_perp_dir

    d = write_data_dir(tmp_path / "data")
    res = runner.invoke(app, ["demo", "--data", str(d), "--end", "2030-01-01", "--json", "--out", ""])
    assert res.exit_code == 0, res.output
    notes = json.loads(res.stdout)["market"]["notes"]
    assert any(n.startswith("end 2030-01-01T00:00:00+00:00 is after the last bar's close, 2024-") for n in notes), notes
    frame = load_perp_dir(d, start="2024-01-01", end="2024-03-05")
    assert any(
        "start 2024-01-01T00:00:00+00:00 is before the first bar, 2024-03-01T12:00:00+00:00" in n
        for n in frame.attrs["notes"]
    )
    assert not any("after the last bar" in n for n in frame.attrs["notes"])
    inside = load_perp_dir(d, start="2024-03-01T12:00Z", end="2024-03-05")
    assert not any("first bar" in n or "last bar" in n for n in inside.attrs["notes"])
