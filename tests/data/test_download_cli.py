"""``levguard data download`` end to end (the command body in a Typer app built here) against local fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
import typer
from typer.testing import CliRunner

from fakes.binance_archive import FakeBinanceArchive, kline_rows
from fakes.binance_usdm import BTCUSDT_BRACKETS, CCXT_OPTIONS, FakeBinanceUsdm, rest_klines
from levguard.cli.data_download import download
from levguard.data import download as download_pkg
from levguard.data.download.binance_archive import ENV_ARCHIVE_URL

JAN = 1_704_067_200_000  # 2024-01-01T00:00Z in ms
MS_H = 3_600_000

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("download")(download)


@app.callback()
def _root() -> None:
    """Group so that ``download`` is invoked as a subcommand, as in ``levguard data download``."""


runner = CliRunner()


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBinanceArchive]:
    with FakeBinanceArchive(tmp_path / "archive") as fake:
        monkeypatch.setenv(ENV_ARCHIVE_URL, fake.base_url)
        yield fake


def test_binance_download_then_cache_hit(archive: FakeBinanceArchive, tmp_path: Path) -> None:
    archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 744))
    args = ["download", "--source", "binance", "--symbol", "BTCUSDT", "--kind", "klines", "--interval", "1h"]
    args += ["--start", "2024-01-01", "--end", "2024-02-01", "--cache-dir", str(tmp_path / "cache")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert "rows: 744" in lines
    assert "first: 2024-01-01T00:00:00+00:00" in lines
    assert "last: 2024-01-31T23:00:00+00:00" in lines
    assert "downloaded: 2024-01" in lines
    assert f"cache: {tmp_path / 'cache' / 'binance/um/ohlcv/BTCUSDT/1h'}" in lines
    archive.clear_log()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "downloaded: none (all cached)" in again.stdout
    assert archive.count() == 0


def test_cache_dir_from_the_environment(
    archive: FakeBinanceArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.put_klines("BTCUSDT", "1d", "2024-01", kline_rows(JAN, 24 * MS_H, 31), header=False)
    monkeypatch.setenv("LEVGUARD_CACHE_DIR", str(tmp_path / "envcache"))
    res = runner.invoke(
        app,
        ["download", "--symbol", "BTCUSDT", "--interval", "1d", "--start", "2024-01-01", "--end", "2024-02-01", "-q"],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "envcache/binance/um/ohlcv/BTCUSDT/1d/2024-01.parquet").is_file()


@pytest.fixture
def usdm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBinanceUsdm]:
    """The fake fapi server, and ``make_exchange`` pointed at it whatever --exchange says."""
    real = download_pkg.make_exchange
    with FakeBinanceUsdm() as fake:

        def pointed(exchange_id: str, **kw: Any) -> Any:
            del exchange_id, kw
            return real(
                "binanceusdm",
                api_key="k",
                secret="s",
                api_urls=fake.ccxt_urls(ccxt.binanceusdm().urls["api"]),
                rate_limit_ms=1,
                options=CCXT_OPTIONS,
            )

        monkeypatch.setattr(download_pkg, "make_exchange", pointed)
        yield fake


def test_ccxt_download_and_tiers(usdm: FakeBinanceUsdm, tmp_path: Path) -> None:
    usdm.add_klines("BTCUSDT", "1h", rest_klines(JAN, MS_H, 800))
    usdm.brackets["BTCUSDT"] = BTCUSDT_BRACKETS
    common = ["--source", "ccxt", "--exchange", "binanceusdm", "--symbol", "BTCUSDT", "--cache-dir", str(tmp_path)]
    res = runner.invoke(app, ["download", *common, "--start", "2024-01-01", "--end", "2024-01-03"])
    assert res.exit_code == 0, res.output
    assert "rows: 48" in res.stdout.splitlines()
    assert f"cache: {tmp_path / 'ccxt/binanceusdm/ohlcv/BTCUSDT/1h'}" in res.stdout
    tiers = runner.invoke(app, ["download", *common, "--kind", "tiers"])
    assert tiers.exit_code == 0, tiers.output
    assert "tiers: 5" in tiers.stdout
    assert "[50,000, 600,000) mmr=0.005 maint_amount=50.00 max_leverage=100" in tiers.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "not-a-date"], "start must be a date or timestamp such as 2020-01-01, was 'not-a-date'"),
        ([], "--start is required for --kind klines"),
        (["--source", "ccxt", "--start", "2024-01-01"], "--exchange is required with --source ccxt"),
        (["--kind", "tiers"], "--kind tiers needs --source ccxt"),
        (["--start", "2024-01-01", "--interval", "7m"], "interval must be one of"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(tmp_path: Path, extra: list[str], message: str) -> None:
    res = runner.invoke(app, ["download", "--symbol", "BTCUSDT", "--cache-dir", str(tmp_path), *extra])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("levguard: error: ")
    assert message in lines[0]
