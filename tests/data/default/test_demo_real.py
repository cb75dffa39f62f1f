"""``levguard demo --real``: Binance history through the archive downloader, here a local fake archive."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fakes._server import Reply
from fakes.binance_archive import FakeBinanceArchive, funding_rows, kline_rows
from levguard.cli.main import app
from levguard.data.download import http
from levguard.data.download.binance_archive import ENV_ARCHIVE_URL

runner = CliRunner()
JAN = 1_704_067_200_000  # 2024-01-01T00:00Z in ms
FEB = JAN + 31 * 86_400_000
MS_H = 3_600_000
RETRY_POLICY = http.RetryPolicy
SPAN = ["--start", "2024-01-01", "--end", "2024-03-01"]


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBinanceArchive]:
    """January and February 2024 of BTCUSDT klines, mark klines and funding on a fake archive."""
    with FakeBinanceArchive(tmp_path / "archive") as fake:
        monkeypatch.setenv(ENV_ARCHIVE_URL, fake.base_url)
        for month, start, n, base in (("2024-01", JAN, 31 * 24, 40_000.0), ("2024-02", FEB, 29 * 24, 40_744.0)):
            fake.put_klines("BTCUSDT", "1h", month, kline_rows(start, MS_H, n, base=base))
            fake.put_klines("BTCUSDT", "1h", month, kline_rows(start, MS_H, n, base=base), kind="markPriceKlines")
            fake.put_funding("BTCUSDT", month, funding_rows(start, n // 8))
        yield fake


def test_real_downloads_then_reads_the_cache(archive: FakeBinanceArchive, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    report = tmp_path / "real.html"
    args = ["demo", "--real", *SPAN, "--cache-dir", str(cache), "--json"]
    res = runner.invoke(app, [*args, "--out", str(report)])
    assert res.exit_code == 0, res.output
    js = json.loads(res.stdout)
    market = js["market"]
    assert market["bars"] == 60 * 24
    assert market["first"].startswith("2024-01-01 00:00")
    assert market["last"].startswith("2024-02-29 23:00")
    assert "markPriceKlines/BTCUSDT/1h" in market["mark_source"]
    assert "fundingRate/BTCUSDT" in market["funding_source"]
    assert market["funding_mean_per_8h"] == pytest.approx(0.0002, rel=0.01)  # fake rates cycle 1e-4, 2e-4, 3e-4
    metrics = js["backtest"]["metrics"]
    assert set(metrics) == {"fixed 3x", "fixed 10x", "vol target 60%", "liquidation budget 1%/7d", "composite"}
    assert all(m["funding_paid"] > 0 for m in metrics.values())  # longs pay positive funding
    assert (cache / "binance/um/mark/BTCUSDT/1h/2024-02.parquet").is_file()
    html = report.read_text(encoding="utf-8")
    assert "leverage policies on real BTCUSDT history" in html
    assert "Binance USDⓈ-M BTCUSDT perpetual, 1h bars, 2024-01-01 → 2024-03-01" in html
    # Served from the cache the second time: no request reaches the archive.
    archive.clear_log()
    again = runner.invoke(app, [*args, "--out", ""])
    assert again.exit_code == 0, again.output
    assert archive.count() == 0
    assert json.loads(again.stdout)["backtest"]["metrics"] == metrics


def test_real_table_output(archive: FakeBinanceArchive, tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "--real", *SPAN, "--cache-dir", str(tmp_path / "c"), "--out", ""])
    assert res.exit_code == 0, res.output
    assert "Market data BTCUSDT: 1,440 1h bars, 2024-01-01 00:00 → 2024-02-29 23:00" in res.stdout
    assert "Backtest: buy-and-hold BTCUSDT long on real history" in res.stdout


def _one_error_line(res: Result) -> str:
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("levguard: error: ")
    return err


def test_real_without_network_fails_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on the archive's port (as without a network): one line naming the cause, exit 2."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(ENV_ARCHIVE_URL, f"http://127.0.0.1:{port}")
    # Two quick attempts instead of five with backoff, so that the test does not wait.
    monkeypatch.setattr(http, "RetryPolicy", _fast_retry)
    res = runner.invoke(app, ["demo", "--real", *SPAN, "--cache-dir", str(tmp_path / "c"), "--out", ""])
    err = _one_error_line(res)
    assert f"cannot download Binance BTCUSDT history from http://127.0.0.1:{port}" in err
    assert "failed after 2 attempt(s)" in err
    assert "Connection refused" in err or "URLError" in err


def _fast_retry() -> http.RetryPolicy:
    return RETRY_POLICY(attempts=2, base_delay_s=0.0)


def test_real_archive_refusing_fails_with_one_line(archive: FakeBinanceArchive, tmp_path: Path) -> None:
    archive.inject(
        "/data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip.CHECKSUM", Reply(403, b"forbidden")
    )
    err = _one_error_line(
        runner.invoke(app, ["demo", "--real", *SPAN, "--cache-dir", str(tmp_path / "c"), "--out", ""])
    )
    assert "cannot download Binance BTCUSDT history" in err
    assert "HTTP 403" in err


def test_real_symbol_not_on_the_archive(archive: FakeBinanceArchive, tmp_path: Path) -> None:
    err = _one_error_line(
        runner.invoke(
            app, ["demo", "--real", "--symbol", "NOPEUSDT", *SPAN, "--cache-dir", str(tmp_path / "c"), "--out", ""]
        )
    )
    assert "the Binance archive has no NOPEUSDT 1h klines in [2024-01-01, 2024-03-01)" in err


def test_real_bad_start(tmp_path: Path) -> None:
    err = _one_error_line(
        runner.invoke(app, ["demo", "--real", "--start", "someday", "--cache-dir", str(tmp_path), "--out", ""])
    )
    assert "start must be a date or timestamp such as 2020-01-01, was 'someday'" in err
