"""The tearsheet's figures and tables: plain UTC times, ruined runs ending at ruin, a floored log
view, crash windows, monthly returns, "n/a (ruined)" metrics and the liquidations table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.report.html import naive_utc, write_report
from levguard.report.tables import RUINED, all_metrics_html, key_metrics_html, liquidations_html
from levguard.report.tearsheet import (
    POINTS,
    crash_windows,
    equity_figure,
    leverage_figure,
    monthly_returns,
    monthly_returns_figure,
    price_figure,
    rolling_vol_figure,
)

IDX = pd.date_range("2024-01-01", periods=2_000, freq="1h", tz="UTC")


@dataclass
class _Result:
    equity: pd.Series
    positions: pd.DataFrame
    liquidations: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    ruined_at: pd.Timestamp | None = None


def _data() -> pd.DataFrame:
    t = np.arange(len(IDX))
    close = 50_000.0 * np.exp(0.1 * np.sin(t / 200.0))
    close[900:1_000] *= 0.7  # a 30 % crash for a hundred bars
    return pd.DataFrame({"close": close, "mark_low": close * 0.99, "mark_high": close * 1.01}, index=IDX)


def _liq(at: int, price: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": [IDX[at]],
            "symbol": ["BTCUSDT"],
            "side": ["long"],
            "price": [price],
            "loss": [-1_234.5],
            "fee": [12.0],
            "bad_debt": [0.0],
        }
    )


def _ruined() -> _Result:
    # Collapses at bar 950, ruined there, then keeps "trading" dust down to 1e-18.
    eq = np.full(len(IDX), 10_000.0)
    eq[950:] = 1e-18
    pos = pd.DataFrame({"leverage": 10.0, "target_leverage": 10.0}, index=IDX)
    metrics = {"total_return": -1.0, "cagr": -1.0, "max_drawdown": 1.0, "sharpe": np.nan, "n_liquidations": 1}
    return _Result(pd.Series(eq, index=IDX), pos, _liq(949, 35_000.0), metrics, IDX[950])


def _calm() -> _Result:
    eq = pd.Series(10_000.0 * np.exp(np.linspace(0.0, 0.5, len(IDX))), index=IDX)
    pos = pd.DataFrame({"leverage": 2.0, "target_leverage": 2.0}, index=IDX)
    metrics = {"total_return": float(np.exp(0.5) - 1), "sharpe": 2.5, "sortino": np.nan, "n_liquidations": 0}
    return _Result(eq, pos, pd.DataFrame(columns=["timestamp", "price"]), metrics)


def test_times_are_plain_utc_datetime64() -> None:
    ny = pd.date_range("2024-03-01 09:00", periods=3, freq="1h", tz="America/New_York")
    x = naive_utc(ny)
    assert x.dtype == np.dtype("datetime64[ns]")
    assert pd.Timestamp(x[0]) == pd.Timestamp("2024-03-01 14:00")
    fig = equity_figure({"calm": _calm()})
    for trace in fig.data:
        assert np.asarray(trace.x).dtype.kind == "M", trace.name  # no timezone-aware objects


def test_a_ruined_run_ends_at_its_ruin_and_the_log_view_is_floored() -> None:
    fig = equity_figure({"10x": _ruined(), "calm": _calm()})
    line = next(t for t in fig.data if t.name.startswith("10x (ruined"))
    assert pd.Timestamp(np.asarray(line.x)[-1]) == pd.Timestamp(IDX[950]).tz_localize(None)
    assert float(np.asarray(line.y)[-1]) == pytest.approx(1e-20, abs=1e-12)  # percent of the start
    calm = next(t for t in fig.data if t.name == "calm")
    assert float(np.asarray(calm.y)[0]) == pytest.approx(100.0)
    assert float(np.asarray(calm.y)[-1]) == pytest.approx(100.0 * np.exp(0.5), rel=1e-6)
    log = fig.layout.updatemenus[0].buttons[1].args[1]
    assert log["yaxis.type"] == "log"
    assert log["yaxis.range"][0] >= np.log10(1.0) - 0.1  # 1 % of the start, never 1e-18
    marks = next(t for t in fig.data if t.name == "10x liquidations")
    assert "liquidated at 35,000.00" in marks.hovertext[0]
    for trace in fig.data:
        assert len(trace.x) <= POINTS + 2, trace.name


def _wiped() -> _Result:
    # Liquidated to exactly 0 at bar 950 (the liquidation and the ruin both sit at equity 0).
    eq = np.full(len(IDX), 10_000.0)
    eq[950:] = 0.0
    pos = pd.DataFrame({"leverage": 10.0, "target_leverage": 10.0}, index=IDX)
    return _Result(pd.Series(eq, index=IDX), pos, _liq(950, 35_000.0), {"n_liquidations": 1}, IDX[950])


def test_markers_at_zero_equity_stay_on_the_log_view() -> None:
    # A review (2026-12-07): log(0) is undefined, so on the log view plotly dropped the ruin and
    # liquidation markers of a run wiped out to 0, the markers that matter most.
    fig = equity_figure({"wiped": _wiped(), "calm": _calm()})
    idx = {t.name: k for k, t in enumerate(fig.data)}
    ruin, liq = fig.data[idx["wiped ruined"]], fig.data[idx["wiped liquidations"]]
    at = pd.Timestamp(IDX[950]).tz_localize(None)
    for trace in (ruin, liq):
        assert pd.Timestamp(np.asarray(trace.x)[0]) == at
        assert float(np.asarray(trace.y)[0]) == 0.0  # the linear view (first shown): the true equity
    assert ruin.hovertext[0] == "wiped: ruined at 2024-02-09 14:00 UTC; equity 0 % of start"
    assert liq.hovertext[0].endswith("liquidated at 35,000.00; equity 0 % of start")
    linear, log = (b.args for b in fig.layout.updatemenus[0].buttons)
    assert sorted(log[2]) == sorted(linear[2]) == sorted([idx["wiped ruined"], idx["wiped liquidations"]])
    floor = 10.0 ** log[1]["yaxis.range"][0]
    for k, y_log, y_lin in zip(log[2], log[0]["y"], linear[0]["y"], strict=True):
        assert y_lin == [0.0], fig.data[k].name  # back to the true value on the linear view
        assert y_log[0] > floor, fig.data[k].name  # on the log axis, on its floor
        assert y_log[0] == pytest.approx(10.0 ** (log[1]["yaxis.range"][0] + 0.05), rel=1e-6)


def test_the_log_view_leaves_markers_above_the_floor_where_they_are() -> None:
    fig = equity_figure({"10x": _ruined(), "calm": _calm()})
    linear, log = (b.args for b in fig.layout.updatemenus[0].buttons)
    names = {fig.data[k].name: (lin, lg) for k, lin, lg in zip(log[2], linear[0]["y"], log[0]["y"], strict=True)}
    assert names["10x liquidations"] == ([100.0], [100.0])  # liquidated at full equity: unmoved
    lin, lg = names["10x ruined"]
    assert lin[0] == pytest.approx(1e-20, abs=1e-12)
    assert lg[0] == pytest.approx(1.0)  # dust: onto the 1 % floor
    calm = equity_figure({"calm": _calm()})
    assert [b.args[0] for b in calm.layout.updatemenus[0].buttons] == [{}, {}]  # no markers, nothing to move


def test_leverage_is_one_small_panel_per_policy() -> None:
    fig = leverage_figure({"10x": _ruined(), "calm": _calm()})
    assert fig is not None
    axes = {t.yaxis for t in fig.data}
    assert len(axes) == 2  # one panel each, not overlapping
    target = [t for t in fig.data if t.name == "target"]
    assert len(target) == 2
    assert all(t.line.dash == "dash" for t in target)
    ruined = next(t for t in fig.data if t.name == "leverage" and t.yaxis == "y")
    assert pd.Timestamp(np.asarray(ruined.x)[-1]) == pd.Timestamp(IDX[950]).tz_localize(None)


def test_crash_windows_from_drawdowns_or_known_crashes() -> None:
    data = _data()
    spans, label = crash_windows(data)
    assert len(spans) == 1
    assert spans[0][0] == IDX[900]
    assert spans[0][1] == IDX[999]
    assert "20% below its running peak" in label
    crashes = pd.DataFrame({"name": ["ftx"], "start": [IDX[10]], "trough": [IDX[30]]})
    spans, label = crash_windows(data, crashes)
    assert spans == [(IDX[10], IDX[30])]
    assert "injected crashes" in label
    fig = price_figure(data, {"10x": _ruined()}, spans, label, ["ftx"])
    assert fig.layout.yaxis.type == "log"
    assert len(fig.layout.shapes) == 1
    assert any(a.text == "ftx" for a in fig.layout.annotations)
    assert any(t.name.startswith("shaded: injected crashes") for t in fig.data)
    liq = next(t for t in fig.data if t.name == "10x: liquidation")
    assert list(liq.y) == [35_000.0]


def test_monthly_returns_compound_to_the_total_return() -> None:
    calm = _calm()
    table = monthly_returns(calm)
    assert list(table.columns) == list(range(1, 13))
    total = float(np.nanprod(1.0 + table.to_numpy()) - 1.0)
    assert total == pytest.approx(calm.equity.iloc[-1] / calm.equity.iloc[0] - 1.0, rel=1e-9)
    ruined = monthly_returns(_ruined())  # nothing after the ruin (bar 950, in February)
    assert ruined.loc[2024, 2] == pytest.approx(-1.0)
    assert np.isnan(ruined.loc[2024, 3])
    fig = monthly_returns_figure({"calm": calm, "10x": _ruined()})
    assert [t.visible for t in fig.data] == [True, False]
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["calm", "10x"]


def test_rolling_volatility_is_annualised() -> None:
    rng = np.random.default_rng(1)
    idx = pd.date_range("2024-01-01", periods=24 * 200, freq="1h", tz="UTC")
    eq = pd.Series(10_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(idx)))), index=idx)
    res = _Result(eq, pd.DataFrame(index=idx), pd.DataFrame())
    fig = rolling_vol_figure({"r": res})
    y = np.asarray(fig.data[0].y, dtype=float)
    assert np.median(y) == pytest.approx(0.01 * np.sqrt(365 * 24), rel=0.1)


def test_tables_show_ruin_and_liquidations() -> None:
    results = {"10x": _ruined(), "calm": _calm()}
    key = key_metrics_html(results)
    assert RUINED in key  # the ruined run's Sharpe
    assert "2024-02-09 14:00" in key  # ruined at (UTC)
    assert key.count(RUINED) == 1
    full = all_metrics_html(results)
    assert "2.50" in full
    assert full.count(RUINED) >= 1
    assert "<td>—</td>" in full  # the calm run's undefined Sortino stays a dash
    liq = liquidations_html(results, _data())
    assert "BTCUSDT long" in liq
    assert "35,000.00" in liq
    assert "-1,234.50" in liq
    mark_low = _data()["mark_low"].iloc[949]
    assert f"{mark_low:,.2f}" in liq
    assert "No liquidations" in liquidations_html({"calm": _calm()})


def test_report_with_data_has_every_section(tmp_path: Path) -> None:
    out = write_report({"10x": _ruined(), "calm": _calm()}, tmp_path / "t.html", title="t", data=_data())
    text = out.read_text()
    for section in ("Key metrics", "All metrics", "Price (log scale)", "Equity and drawdown", "Monthly returns"):
        assert section in text
    assert "Leverage against its target" in text
    assert "Rolling 30-day volatility" in text
    assert "Shaded: price more than 20% below its running peak" in text
    assert text.count("atob(") == 1  # plotly.js embedded once
    assert text.count("Plotly.newPlot(") == 5
    assert "time (UTC)" in text


def test_the_comparison_figure_also_ends_ruined_runs_at_ruin() -> None:
    from levguard.report.html import comparison_figure

    fig = comparison_figure({"10x": _ruined(), "calm": _calm()})
    line = next(t for t in fig.data if t.name == "10x")
    assert pd.Timestamp(np.asarray(line.x)[-1]) == pd.Timestamp(IDX[950]).tz_localize(None)
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis.range[0] >= np.log10(0.01 * 10_000.0) - 0.1  # not down to 1e-18
    assert fig.layout.legend.yref == "container"  # below the plot, never on a subplot title


def test_data_without_a_close_is_refused(tmp_path: Path) -> None:
    from levguard.errors import InputError

    with pytest.raises(InputError, match="'close' column"):
        write_report({"calm": _calm()}, tmp_path / "x.html", data=pd.DataFrame({"price": [1.0]}))


def test_the_comparison_figure_keeps_a_liquidation_at_zero_equity_on_its_log_axis() -> None:
    # A review (2026-12-07): comparison_figure's equity axis is always log, and a liquidation
    # marker at equity 0 (no logarithm) was dropped by plotly.
    from levguard.report.html import comparison_figure

    fig = comparison_figure({"wiped": _wiped(), "calm": _calm()})
    liq = next(t for t in fig.data if t.name == "wiped liquidations")
    floor = 10.0 ** fig.layout.yaxis.range[0]
    assert float(np.asarray(liq.y)[0]) == pytest.approx(floor)
    assert liq.cliponaxis is False
    assert liq.hovertext[0].endswith("equity 0.00")
