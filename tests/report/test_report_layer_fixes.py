"""The tearsheet with several instruments, thinned leverage, short runs, non-UTC indexes and
coin-margined amounts; the backtest CLI writing its outputs together."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.errors import InputError
from levguard.report.html import comparison_figure, instruments_figure, write_report
from levguard.report.tables import SHORT_RUN, all_metrics_html, key_metrics_html, liquidations_html
from levguard.report.tearsheet import equity_figure, leverage_figure, price_figure

IDX = pd.date_range("2024-01-01", periods=5_000, freq="1h", tz="UTC")


@dataclass
class _Result:
    equity: pd.Series
    positions: pd.DataFrame
    liquidations: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    ruined_at: pd.Timestamp | None = None
    instruments: dict[str, pd.DataFrame] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    short_run: bool = False
    span_days: float = 0.0


def _bars(level: float, symbol: str) -> pd.DataFrame:
    close = level * np.exp(0.05 * np.sin(np.arange(len(IDX)) / 300.0))
    bars = pd.DataFrame({"close": close, "low": close * 0.98, "high": close * 1.02}, index=IDX)
    bars.attrs["symbol"] = f"{symbol}-PERP"  # a loaded file's symbol
    return bars


def _two_instruments() -> tuple[_Result, pd.DataFrame, pd.DataFrame]:
    btc, eth = _bars(50_000.0, "BTCUSDT"), _bars(3_000.0, "ETHUSDT")
    at = IDX[1_000]
    liq = pd.DataFrame(
        {
            "timestamp": [at],
            "symbol": ["ETHUSDT"],
            "side": ["long"],
            "price": [float(eth.loc[at, "low"]) + 0.5],
            "loss": [-1_000.0],
            "fee": [10.0],
            "bad_debt": [0.0],
        }
    )
    lev = pd.DataFrame({"leverage": 2.0, "target_leverage": 2.0}, index=IDX)
    eq = pd.Series(10_000.0, index=IDX)
    inst = {"BTCUSDT": lev, "ETHUSDT": lev}
    return _Result(eq, lev, liq, {"n_liquidations": 1}, instruments=inst), btc, eth


def _liq_cells(page: str) -> list[str]:
    table = re.search(r"<table class='liqs'>.*?</table>", page, re.S)
    assert table is not None
    return re.findall(r"<td>(.*?)</td>", table.group(0))


def test_a_liquidation_gets_its_own_instruments_mark_extreme() -> None:
    r, btc, eth = _two_instruments()
    eth_low = f"{float(eth.loc[IDX[1_000], 'low']):,.2f}"
    # The bars of the other instrument: no extreme (it was BTC's low, 48,503.74 for a 3,724 fill).
    assert _liq_cells(liquidations_html({"p": r}, btc))[4] == "—"
    assert _liq_cells(liquidations_html({"p": r}, {"BTCUSDT": btc, "ETHUSDT": eth}))[4] == eth_low
    assert _liq_cells(liquidations_html({"p": r}, eth))[4] == eth_low


def test_the_price_panel_marks_only_its_own_symbols_liquidations() -> None:
    r, btc, eth = _two_instruments()
    on_btc = price_figure(btc, {"p": r}, [], "")
    assert [t.name for t in on_btc.data] == ["close"]  # the ETH fill is not on BTC's price axis
    on_eth = price_figure(eth, {"p": r}, [], "")
    assert [t.name for t in on_eth.data] == ["close", "p: liquidation"]


def test_write_report_takes_a_mapping_of_bars_one_price_panel_each(tmp_path: Path) -> None:
    r, btc, eth = _two_instruments()
    page = write_report({"p": r}, tmp_path / "r.html", data={"BTCUSDT": btc, "ETHUSDT": eth}).read_text()
    assert "Price of BTCUSDT (log scale) and liquidations" in page
    assert "Price of ETHUSDT (log scale) and liquidations" in page
    assert _liq_cells(page)[4] == f"{float(eth.loc[IDX[1_000], 'low']):,.2f}"
    with pytest.raises(InputError, match=r"^data must be a DataFrame, a Series or a non-empty mapping"):
        write_report({"p": r}, tmp_path / "x.html", data=[btc])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^data\['ETHUSDT'\] must be a DataFrame or Series of bars, was int"):
        write_report({"p": r}, tmp_path / "x.html", data={"BTCUSDT": btc, "ETHUSDT": 3})
    with pytest.raises(InputError, match=r"^data\['ETHUSDT'\] must have a 'close' column"):
        write_report({"p": r}, tmp_path / "x.html", data={"BTCUSDT": btc, "ETHUSDT": eth[["low"]]})


def _spiky() -> _Result:
    lev = np.full(len(IDX), 3.0)
    lev[1_234] = 9.5  # one bar's spike, not a bucket's last bar
    lev[3_001] = 0.25
    pos = pd.DataFrame({"leverage": lev, "target_leverage": 3.0}, index=IDX)
    r = _Result(pd.Series(10_000.0, index=IDX), pos, pd.DataFrame(columns=["timestamp", "price"]))
    r.instruments = {"BTCUSDT": pos, "ETHUSDT": pos}
    return r


def test_the_leverage_panels_keep_each_buckets_extremes() -> None:
    r = _spiky()
    fig = leverage_figure({"p": r})
    y = np.asarray(fig.data[0].y, dtype=float)
    assert len(y) <= 1_000
    assert y.max() == 9.5
    assert y.min() == 0.25
    row3 = [t for t in comparison_figure({"p": r}).data if t.name == "p leverage"]
    assert float(np.max(row3[0].y)) == 9.5
    per = instruments_figure({"p": r})
    assert per is not None
    y = np.asarray(per.data[0].y, dtype=float)
    assert y.max() == 9.5
    assert y.min() == 0.25


def test_a_short_runs_annualised_metrics_all_read_na() -> None:
    r = _Result(pd.Series([100.0, 99.0, 98.6], index=IDX[:3]), pd.DataFrame(), pd.DataFrame())
    r.metrics = {"cagr": -0.99, "volatility": 0.56, "sharpe": -72.4, "sortino": -64.4, "calmar": -72.3}
    r.metrics |= {"total_return": -0.014, "max_drawdown": 0.014}
    r.short_run, r.span_days = True, 0.125
    cells = dict(
        zip(
            re.findall(r"<th>(.*?)</th>", all_metrics_html({"p": r}))[1:],
            re.findall(r"<td[^>]*>(.*?)</td>", all_metrics_html({"p": r})),
            strict=False,
        )
    )
    for label in ("CAGR", "volatility", "Sharpe", "Sortino", "Calmar"):
        assert cells[label] == SHORT_RUN, label
    assert cells["total return"] == "-1.4%"
    assert cells["max drawdown"] == "1.4%"


def test_a_non_utc_index_runs_in_utc_and_the_ruin_hover_says_utc() -> None:
    from levguard.backtest import BuyAndHold, run

    idx = pd.date_range("2024-01-01", periods=400, freq="1h", tz="UTC")
    close = np.r_[np.full(200, 100.0), np.full(200, 60.0)]
    bars = pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close, "volume": 1.0}, index=idx
    )
    tokyo = bars.tz_convert("Asia/Tokyo")
    r = run(tokyo, BuyAndHold(), 20.0, symbol="BTCUSDT")
    assert str(r.equity.index.tz) == "UTC"
    assert r.ruined_at is not None
    assert r.ruined_at == pd.Timestamp("2024-01-09 08:00", tz="UTC")
    signal = pd.Series(1.0, index=tokyo.index)  # a Series of directions on the same (Tokyo) bars
    assert run(tokyo, signal, 20.0, symbol="BTCUSDT").ruined_at == r.ruined_at
    # A result on a Tokyo index (the report layer is duck-typed): its ruin hover is in UTC.
    eq = pd.Series(np.r_[np.full(200, 100.0), np.full(200, 0.0)], index=tokyo.index)
    res = _Result(eq, pd.DataFrame(), pd.DataFrame(), {}, ruined_at=tokyo.index[200])
    texts = [t.hovertext[0] for t in equity_figure({"p": res}).data if t.hovertext]
    assert texts, "no ruin marker"
    assert texts[0].startswith("p: ruined at 2024-01-09 08:00 UTC"), texts


def test_an_amount_keeps_its_digits_at_every_scale() -> None:
    # -0.0 read "-0.00", 1e-12 "0.0000000000" (every digit lost below 1e-7), 0.099995 "0.10000".
    from levguard.report.html import fmt_amount

    cases = {
        -0.0: "0.00",
        1e-12: "1e-12",
        -3.4e-11: "-3.4e-11",
        0.099995: "0.1000",
        1.2345e-7: "0.0000001235",
        -0.00012: "-0.0001200",
        999.95: "999.95",
        12_345.678: "12,345.68",
    }
    assert {x: fmt_amount(x) for x in cases} == cases


def test_coin_margined_amounts_keep_four_significant_digits_and_name_their_currency() -> None:
    from levguard.report.html import fmt_amount

    assert [fmt_amount(x) for x in (0.011940939, 0.14209735, 42.694, 1_211.884, 0.0)] == [
        "0.01194",
        "0.1421",
        "42.69",
        "1,211.88",
        "0.00",
    ]
    eq = pd.Series([1.0, 0.011940939], index=IDX[:2])
    liq = pd.DataFrame(
        {"timestamp": [IDX[1]], "side": ["long"], "price": [30_000.0], "loss": [-0.0123], "fee": [0.00042]}
    )
    metrics = {"fees_paid": 0.14209735, "bad_debt": 0.0, "funding_paid": 0.0, "n_liquidations": 1}
    r = _Result(eq, pd.DataFrame(), liq, metrics, params={"settlement": "BTC"})
    key = key_metrics_html({"inv": r})
    assert "final equity (BTC)" in key
    assert "<td>0.01194</td>" in key
    every = all_metrics_html({"inv": r})
    assert "fees paid (BTC)" in every
    assert "<td>0.1421</td>" in every
    liqs = liquidations_html({"inv": r})
    assert "loss (BTC)" in liqs
    assert "<td>-0.01230</td>" in liqs
    assert "<td>0.0004200</td>" in liqs
    usdt = _Result(eq * 10_000, pd.DataFrame(), liq, metrics, params={"settlement": "USDT"})
    mixed = key_metrics_html({"inv": r, "lin": usdt})  # two currencies: each cell names its own
    assert "<td>0.01194 BTC</td>" in mixed
    assert "<td>119.41 USDT</td>" in mixed


def test_a_failed_sweep_leaves_every_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import levguard.cli.backtest as cli_backtest
    from levguard.cli.main import app

    cfg = {
        "data": {"source": "synth", "years": 0.05, "interval": "1h", "seed": 7},
        "strategy": {"type": "buy_and_hold"},
        "policies": {"fixed 2x": {"type": "fixed", "leverage": 2}},
        "output": {"report": str(tmp_path / "both.html"), "json": str(tmp_path / "both.json")},
        "sweep": {
            "strategies": {"hold": {"type": "buy_and_hold"}},
            "policies": {"fixed": {"type": "fixed", "grid": {"leverage": [1, 2]}}},
            "objective": "sharpe",
            "x": "leverage",
            "output": {"report": None, "csv": str(tmp_path / "both.csv")},
        },
    }
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    for name in ("both.html", "both.json", "both.csv"):
        (tmp_path / name).write_text("OLD")

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise InputError("scheduler: cannot connect to 'tcp://127.0.0.1:1'")

    monkeypatch.setattr(cli_backtest, "_run_sweep", unreachable)
    res = CliRunner().invoke(app, ["backtest", str(path)])
    assert res.exit_code == 2, res.output
    for name in ("both.html", "both.json", "both.csv"):
        assert (tmp_path / name).read_text() == "OLD", name
    monkeypatch.undo()
    res = CliRunner().invoke(app, ["backtest", str(path)])
    assert res.exit_code == 0, res.output
    assert all((tmp_path / n).read_text() != "OLD" for n in ("both.html", "both.json", "both.csv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.csv", "both.html", "both.json", "both.yaml"]
