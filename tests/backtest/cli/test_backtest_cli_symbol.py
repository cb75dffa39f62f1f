"""The symbol a backtest runs on: the data file's own, with tiers for a symbol the venue has none
built in for (`tiers:` in the config, `levguard demo --tiers`).

XRP bars loaded from ``XRPUSDT-PERP_1h.csv`` ran under BTCUSDT's brackets and minimum order
without a word (the config's symbol defaulted to BTCUSDT), and naming ``symbol: XRPUSDT`` failed
with no way to give its tiers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.backtest import BuyAndHold, run
from levguard.cli.backtest import load_data, resolve_market
from levguard.cli.main import app
from levguard.config.backtest import load_backtest_file
from levguard.core.sizing.base import FixedLeverage
from levguard.core.symbols import listed_pair, listing_symbol
from levguard.data.loaders import load_ohlcv
from levguard.errors import InputError

runner = CliRunner()

# Made-up brackets in Binance's leverageBracket shape (not XRPUSDT's real ones).
TIERS = {
    "XRPUSDT": [
        {"bracket": 1, "initialLeverage": 20, "notionalCap": 50_000, "notionalFloor": 0, "maintMarginRatio": 0.02, "cum": 0},
        {"bracket": 2, "initialLeverage": 10, "notionalCap": 1_000_000, "notionalFloor": 50_000,
         "maintMarginRatio": 0.05, "cum": 1_500},
    ]
}  # fmt: skip


def _bars(path: Path, start: float) -> Path:
    rng = np.random.default_rng(3)
    n = 400
    close = start * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    op = np.concatenate(([close[0]], close[:-1]))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    rows = [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{max(o, c) * 1.002},{min(o, c) * 0.998},{c},50"
        for t, o, c in zip(idx, op, close, strict=True)
    ]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def _config(tmp_path: Path, bars: Path, **extra: Any) -> Path:
    cfg = {"data": {"source": "file", "path": str(bars)}, "policies": {"fixed 2x": {"type": "fixed", "leverage": 2}}}
    cfg.update(extra)
    c = tmp_path / "bt.yaml"
    c.write_text(yaml.safe_dump(cfg))
    return c


def test_listing_symbol_strips_the_file_kind() -> None:
    assert listing_symbol("XRPUSDT-PERP") == "XRPUSDT"
    assert listing_symbol("btcusdt-mark") == "btcusdt"
    assert listing_symbol("BTCUSD_PERP") == "BTCUSD"
    assert listing_symbol("BTC-PERPETUAL") == "BTC-PERPETUAL"  # a Deribit name, not a file kind
    assert listing_symbol("-PERP") == "-PERP"


def test_run_takes_a_loaded_files_symbol_without_its_kind(tmp_path: Path) -> None:
    frame = load_ohlcv(_bars(tmp_path / "BTCUSDT-PERP_1h.csv", 60_000.0))
    assert frame.attrs["symbol"] == "BTCUSDT-PERP"
    # BTCUSDT's built-in brackets (run() looked for "BTCUSDT-PERP" and found none).
    assert run(frame, BuyAndHold(), FixedLeverage(2.0)).params["symbol"] == "BTCUSDT"
    xrp = load_ohlcv(_bars(tmp_path / "XRPUSDT-PERP_1h.csv", 0.6))
    with pytest.raises(InputError, match="XRPUSDT: no built-in tiers"):
        run(xrp, BuyAndHold(), FixedLeverage(2.0))


def test_the_data_files_symbol_is_run_and_its_tiers_come_from_the_config(tmp_path: Path) -> None:
    bars = _bars(tmp_path / "XRPUSDT-PERP_1h.csv", 0.6)
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars))])
    assert res.exit_code == 2
    assert "XRPUSDT: no built-in tiers" in res.output  # not silently BTCUSDT's brackets
    (tmp_path / "tiers.yaml").write_text(yaml.safe_dump(TIERS))
    out = tmp_path / "m.json"
    c = _config(tmp_path, bars, tiers=str(tmp_path / "tiers.yaml"), output={"json": str(out)})
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 0, res.output
    assert "buy_and_hold on XRPUSDT" in res.stdout
    # The same run through the library with the same table: the same metrics.
    lib = run(load_ohlcv(bars), BuyAndHold(), FixedLeverage(2.0), tiers=TIERS["XRPUSDT"], rebalance="band")
    assert json.loads(out.read_text())["fixed 2x"]["total_return"] == pytest.approx(lib.metrics["total_return"])
    # Inline tiers, and an explicit symbol wins over the file's.
    c = _config(tmp_path, bars, tiers=TIERS, symbol="XRPUSDT")
    assert runner.invoke(app, ["backtest", str(c)]).exit_code == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tiers": {"SOLUSDT": TIERS["XRPUSDT"]}}, "tiers has no entry for XRPUSDT"),
        ({"tiers": [1, 2]}, "tiers"),
        ({"tiers": "missing.yaml"}, "missing.yaml"),
        ({"tiers": {"XRPUSDT": [{"bracket": 1}]}}, "tiers.XRPUSDT"),
    ],
)
def test_bad_tiers_are_one_line(tmp_path: Path, extra: dict[str, Any], message: str) -> None:
    bars = _bars(tmp_path / "XRPUSDT-PERP_1h.csv", 0.6)
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars, **extra))])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_a_file_that_names_no_pair_runs_as_btcusdt_and_says_so(tmp_path: Path) -> None:
    bars = _bars(tmp_path / "bars.csv", 60_000.0)
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars))])
    assert res.exit_code == 0, res.output
    assert "buy_and_hold on BTCUSDT" in res.stdout
    assert "names no pair ('bars'): run as BTCUSDT" in res.stderr


def test_an_output_may_not_name_the_tiers_file(tmp_path: Path) -> None:
    bars = _bars(tmp_path / "XRPUSDT-PERP_1h.csv", 0.6)
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(yaml.safe_dump(TIERS))
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars, tiers=str(tiers), output={"json": str(tiers)}))])
    assert res.exit_code == 2
    assert yaml.safe_load(tiers.read_text()) == TIERS  # nothing written over it


def test_demo_refuses_a_symbol_without_tiers_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "ohlcv").mkdir()
    _bars(tmp_path / "ohlcv" / "XRPUSDT-PERP_1h.csv", 0.6)
    res = runner.invoke(app, ["demo", "--data", str(tmp_path), "--symbol", "XRPUSDT", "--out", ""])
    assert res.exit_code == 2
    assert "pass --tiers FILE" in res.output
    res = runner.invoke(app, ["demo", "--tiers", "t.yaml"])
    assert res.exit_code == 2
    assert "--tiers applies to --data or --real only" in res.output


def test_demo_runs_a_symbol_with_its_tiers(tmp_path: Path) -> None:
    (tmp_path / "ohlcv").mkdir()
    _bars(tmp_path / "ohlcv" / "XRPUSDT-PERP_1h.csv", 0.6)
    (tmp_path / "tiers.yaml").write_text(yaml.safe_dump(TIERS))
    args = ["demo", "--data", str(tmp_path), "--symbol", "xrpusdt", "--tiers", str(tmp_path / "tiers.yaml")]
    res = runner.invoke(app, [*args, "--out", "", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["market"]["bars"] == 400
    assert set(doc["backtest"]["metrics"]) >= {"fixed 3x", "composite"}


def test_demo_out_may_not_name_a_data_file_it_reads(tmp_path: Path) -> None:
    """A review (2026-12-07): `demo --data . --out ohlcv/BTCUSDT-PERP_1h.csv` wrote the report over
    the bars it had read."""
    (tmp_path / "ohlcv").mkdir()
    bars = _bars(tmp_path / "ohlcv" / "BTCUSDT-PERP_1h.csv", 60_000.0)
    before = bars.read_bytes()
    res = runner.invoke(app, ["demo", "--data", str(tmp_path), "--out", str(bars)])
    assert res.exit_code == 2
    assert "--out names the input --data" in res.output
    assert bars.read_bytes() == before


def test_listed_pair_is_a_base_before_a_quote() -> None:
    assert listed_pair("ETHUSDT-PERP") == "ETHUSDT"
    assert listed_pair("BTC/USDT:USDT") == "BTC/USDT:USDT"
    assert listed_pair("bars") is None
    assert listed_pair("BTC-SYNTH") is None
    assert listed_pair("") is None


def test_a_config_symbol_of_another_asset_than_the_data_file_is_refused(tmp_path: Path) -> None:
    """A hunt (2026-12-07): `symbol: BTCUSDT` with ETHUSDT bars ran ETH prices under BTCUSDT's
    brackets and name, silently (the file's symbol was read only when the config named none)."""
    bars = _bars(tmp_path / "ETHUSDT-PERP_1h.csv", 3_000.0)
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars, symbol="BTCUSDT"))])
    assert res.exit_code == 2
    assert "symbol: BTCUSDT is not the data file's ETHUSDT" in res.output
    assert "set symbol: ETHUSDT, or load BTC bars" in res.output
    assert len(res.output.strip().splitlines()) == 1
    # A sweep-only config resolves its market the same way.
    sweep = {"policies": {"fixed": {"type": "fixed", "leverage": 2}}, "output": {"report": None}}
    c = _config(tmp_path, bars, symbol="BTCUSDT", sweep=sweep)
    res = runner.invoke(app, ["backtest", str(c)])
    assert res.exit_code == 2
    assert "is not the data file's ETHUSDT" in res.output


@pytest.mark.parametrize("symbol", ["ETHUSDT", "ethusdt", "ETH/USDT:USDT", "ETH-USDT-SWAP"])
def test_the_same_asset_spelled_otherwise_runs(tmp_path: Path, symbol: str) -> None:
    bars = _bars(tmp_path / "ETHUSDT-PERP_1h.csv", 3_000.0)
    cfg = load_backtest_file(str(_config(tmp_path, bars, symbol=symbol)))
    resolved, note = resolve_market(cfg, load_data(cfg.data))
    assert (resolved.symbol, note) == (symbol, None)


def test_a_parquet_files_own_symbol_is_checked_too(tmp_path: Path) -> None:
    # A file levguard wrote carries its symbol (provenance beats the file name).
    frame = load_ohlcv(_bars(tmp_path / "bars.csv", 3_000.0))
    frame.attrs["symbol"] = "ETHUSDT-PERP"
    frame.to_parquet(tmp_path / "bars.parquet")
    cfg = load_backtest_file(str(_config(tmp_path, tmp_path / "bars.parquet", symbol="SOLUSDT")))
    with pytest.raises(InputError, match="SOLUSDT is not the data file's ETHUSDT"):
        resolve_market(cfg, load_data(cfg.data))


def _parquet(tmp_path: Path, symbol: str, start: float = 60_000.0) -> Path:
    frame = load_ohlcv(_bars(tmp_path / "bars.csv", start))
    frame.attrs["symbol"] = symbol
    frame.to_parquet(tmp_path / "x.parquet")
    return tmp_path / "x.parquet"


def test_an_okx_files_symbol_names_its_pair(tmp_path: Path) -> None:
    """A review (2026-12-07): a Parquet file levguard's ccxt downloader wrote for OKX carries
    ``BTC-USDT-SWAP``; `symbol: ETH-USDT-SWAP` ran it silently, and no symbol ran it as BTCUSDT
    with the false note "the data file names no pair ('BTC-USDT-SWAP')"."""
    bars = _parquet(tmp_path, "BTC-USDT-SWAP")
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars, symbol="ETH-USDT-SWAP"))])
    assert res.exit_code == 2
    assert "symbol: ETH-USDT-SWAP is not the data file's BTC-USDT-SWAP" in res.output
    assert len(res.output.strip().splitlines()) == 1
    cfg = load_backtest_file(str(_config(tmp_path, bars)))
    resolved, note = resolve_market(cfg, load_data(cfg.data))
    assert (resolved.symbol, note) == ("BTC-USDT-SWAP", None)
    tiers = {"BTC-USDT-SWAP": TIERS["XRPUSDT"]}
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars, tiers=tiers, output={"report": None}))])
    assert res.exit_code == 0, res.output
    assert "buy_and_hold on BTC-USDT-SWAP" in res.stdout
    assert "names no pair" not in res.output


@pytest.mark.parametrize("named", ["BTC_USDC-PERPETUAL", "BTCUSDT_241227", "BTC-PERPETUAL"])
def test_names_ending_in_a_kind_name_their_asset(tmp_path: Path, named: str) -> None:
    cfg = load_backtest_file(str(_config(tmp_path, _parquet(tmp_path, named), symbol="ETHUSDT")))
    with pytest.raises(InputError, match=f"ETHUSDT is not the data file's {named} .*asset ETH vs BTC"):
        resolve_market(cfg, load_data(cfg.data))


@pytest.mark.parametrize(
    ("file", "symbol", "why"),
    [
        ("BTCUSDC-PERP_1h.csv", "BTCUSDT", "settled in USDT vs USDC"),
        ("BTCUSDT-PERP_1h.csv", "BTCUSDC", "settled in USDC vs USDT"),
        ("BTCUSDT-PERP_1h.csv", "BTC/USDC:USDC", "settled in USDC vs USDT"),
        ("BTCUSDT-PERP_1h.csv", "BTCUSD_PERP", "inverse vs linear contract"),
        ("BTCUSDT-PERP_1h.csv", "BTC/USD:BTC", "inverse vs linear contract"),
        ("BTCUSDT-PERP_1h.csv", "XBTUSD", "inverse vs linear contract"),
        ("ETHBTC-PERP_1h.csv", "BTCUSDT", "asset BTC vs ETHBTC"),
        ("1000PEPEUSDT-PERP_1h.csv", "PEPEUSDT", "asset PEPE vs 1000PEPE"),
    ],
)
def test_another_settlement_or_contract_kind_is_refused(tmp_path: Path, file: str, symbol: str, why: str) -> None:
    """A review (2026-12-07): only the asset was compared, so BTCUSDC bars ran under USDT
    settlement and BTCUSDT bars under the inverse BTCUSD_PERP, and ETHBTC bars as BTCUSDT."""
    bars = _bars(tmp_path / file, 60_000.0)
    res = runner.invoke(app, ["backtest", str(_config(tmp_path, bars, symbol=symbol))])
    assert res.exit_code == 2
    assert f"symbol: {symbol} is not the data file's" in res.output
    assert why in res.output
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("side", ["mark", "funding"])
def test_a_mark_or_funding_file_of_another_asset_is_refused(tmp_path: Path, side: str) -> None:
    """A review (2026-12-07): ETHUSDT-PERP bars with `mark: BTCUSDT-MARK_1h.csv` exited 0 with a
    return of 221,416,371.9 % (ETH positions marked and liquidated at BTC prices)."""
    bars = _bars(tmp_path / "ETHUSDT-PERP_1h.csv", 3_000.0)
    if side == "mark":
        other = _bars(tmp_path / "BTCUSDT-MARK_1h.csv", 60_000.0)
    else:
        other = tmp_path / "BTCUSDT_funding.csv"
        other.write_text("timestamp,funding_rate\n2024-01-01T00:00:00Z,0.0001\n2024-01-01T08:00:00Z,0.0001\n")
    res = runner.invoke(
        app, ["backtest", str(_config(tmp_path, bars, data={"source": "file", "path": str(bars), side: str(other)}))]
    )
    assert res.exit_code == 2
    assert f"{side} file {other} is BTCUSDT, the last-price bars {bars} are ETHUSDT (asset BTC vs ETH)" in res.output
    assert len(res.output.strip().splitlines()) == 1
