"""``levguard data synth`` through a small Typer app wrapping the command function."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from levguard.cli.data_synth import output_paths, synth

app = typer.Typer()
app.command()(synth)
runner = CliRunner()


def test_writes_parquet_with_mark_and_funding_siblings(tmp_path: Path) -> None:
    out = tmp_path / "btc.parquet"
    res = runner.invoke(app, ["--symbol", "BTC-SYNTH", "--years", "0.2", "--interval", "1h", "--seed", "7", str(out)])
    assert res.exit_code == 0, res.output
    ohlcv = pd.read_parquet(out)
    mark = pd.read_parquet(tmp_path / "btc.mark.parquet")
    funding = pd.read_parquet(tmp_path / "btc.funding.parquet")
    assert len(ohlcv) == round(0.2 * 365 * 24)
    assert ohlcv.attrs == {"kind": "ohlcv", "symbol": "BTC-SYNTH", "interval": "1h", "source": "synthetic(seed=7)"}
    assert mark.attrs["kind"] == "mark"
    assert funding.attrs["kind"] == "funding"
    assert list(ohlcv.columns) == ["open", "high", "low", "close", "volume"]
    assert list(funding.columns) == ["funding_rate"]
    assert "wrote 1,752 1h bars" in res.stdout
    # Deterministic: the same command writes the same data.
    again = tmp_path / "again.parquet"
    runner.invoke(app, ["--years", "0.2", "--seed", "7", str(again)])
    pd.testing.assert_frame_equal(pd.read_parquet(again), ohlcv)


def test_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "eth.csv"
    res = runner.invoke(app, ["--symbol", "ETH-SYNTH", "--years", "0.01", "--interval", "5m", "--no-crashes", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text().splitlines()
    assert text[0] == "timestamp,open,high,low,close,volume"
    assert text[1].startswith("2021-01-01T00:00:00Z,30000.0,")
    assert (tmp_path / "eth.funding.csv").read_text().startswith("timestamp,funding_rate\n2021-01-01T08:00:00Z,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "7m"], "interval"),
        (["--years", "0"], "years"),
        (["--start", "yesterday-ish"], "start"),
        (["--start-price", "-5"], "start_price"),
        # A bad-input campaign (2026-12-06): 52.6 million bars were accepted and grew past 10 GB.
        (["--years", "100", "--interval", "1m"], "52,560,000 bars (about 9.8 GiB); at most 10,000,000"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, [*args, str(tmp_path / "x.parquet")])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("levguard: error: ")
    assert message in lines[0]
    assert not (tmp_path / "x.parquet").exists()


def test_bad_output_paths(tmp_path: Path) -> None:
    res = runner.invoke(app, [str(tmp_path / "x.json")])
    assert res.exit_code == 2
    assert "levguard: error: OUT must end in .parquet" in res.stderr
    res = runner.invoke(app, [str(tmp_path / "missing" / "x.parquet")])
    assert res.exit_code == 2
    assert "does not exist" in res.stderr


def test_output_paths() -> None:
    assert output_paths(Path("a/b.c.parquet"))[1:] == (Path("a/b.c.mark.parquet"), Path("a/b.c.funding.parquet"))
