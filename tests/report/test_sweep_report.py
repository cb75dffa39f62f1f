"""Sweep report: objective heatmaps (facets, aggregation, liquidation marks), the top table, the
self-contained HTML file, input errors; and the per-policy panels on real backtest results."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import BacktestResult, run
from levguard.errors import InputError
from levguard.report.html import comparison_figure, instruments_figure, write_report
from levguard.report.sweep import sweep_heatmap, top_configurations, write_sweep_report

# --- frames (copied from tests/backtest/engine/bt_engine_helpers.py: test dirs are not packages) ---


def _frame(close: np.ndarray, wick: float = 0.002) -> pd.DataFrame:
    close = np.asarray(close, dtype=float)
    o = np.r_[close[0], close[:-1]]
    idx = pd.date_range("2024-01-01", periods=close.shape[0], freq="1h", tz="UTC")
    return pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, close) * (1 + wick),
            "low": np.minimum(o, close) * (1 - wick),
            "close": close,
            "volume": 1e6,
        },
        index=idx,
    )


def _crash(n_flat: int = 10, n_down: int = 40, step: float = 0.004) -> pd.DataFrame:
    return _frame(np.r_[np.full(n_flat, 100.0), 100.0 * (1 - step) ** np.arange(1, n_down + 1)], wick=0.005)


def _walk(n: int, seed: int, sigma: float = 0.004) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = _frame(30_000.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n))), wick=0.003)
    funding = np.full(n, np.nan)
    funding[::8] = rng.normal(0.0001, 0.0002, funding[::8].shape[0])
    df["funding_rate"] = funding
    return df


# --- a synthetic tidy sweep table ---------------------------------------------------------------


def _table() -> pd.DataFrame:
    rows = []
    for k, (strategy, tv, ml, sl) in enumerate(
        itertools.product(["bh", "ema"], [0.2, 0.4], [2.0, 5.0, 10.0], [np.nan, 0.05])
    ):
        sharpe = (1.0 if strategy == "bh" else -1.0) + tv + ml / 10.0 + (0.0 if np.isnan(sl) else 0.01)
        rows.append(
            {
                "strategy": strategy,
                "policy": "vol_target",
                "target_vol": tv,
                "max_leverage": ml,
                "stop_loss": sl,
                "sharpe": sharpe,
                "max_drawdown": 0.1 * ml,
                "n_liquidations": float(ml == 10.0 and tv == 0.4),
                "total_return": 0.01 * k,
                "bad_debt": 0.0,
                "avg_leverage": ml / 2,
            }
        )
    return pd.DataFrame(rows)


def _heatmaps(fig: object) -> list:
    return [t for t in fig.data if t.type == "heatmap"]  # type: ignore[attr-defined]


def test_heatmap_cells_are_the_max_over_the_other_parameters_per_facet() -> None:
    table = _table()
    fig = sweep_heatmap(table, "max_leverage", "target_vol", "sharpe", facet="strategy")
    maps = _heatmaps(fig)
    assert [m.name for m in maps] == ["strategy = bh", "strategy = ema"]
    titles = [a.text for a in fig.layout.annotations]
    assert "strategy = bh" in titles
    assert "strategy = ema" in titles
    for m, strategy in zip(maps, ["bh", "ema"], strict=True):
        assert list(m.x) == ["2", "5", "10"]  # numeric order, not text order
        assert list(m.y) == ["0.2", "0.4"]
        expected = (
            table[table["strategy"] == strategy]
            .groupby(["target_vol", "max_leverage"])["sharpe"]
            .max()
            .unstack("max_leverage")
        )
        np.testing.assert_allclose(np.array(m.z, dtype=float), expected.to_numpy())
    # The aggregation is said: 2 configurations (stop_loss none / 0.05) per cell, the max shown.
    assert "maximum over its 2 configurations" in fig.layout.title.text
    # Cells annotated; the liquidated configurations (10x at 0.4) are marked.
    bh = maps[0]
    assert bh.texttemplate == "%{text}"
    assert bh.text[1][2].endswith("✕")
    assert not bh.text[0][2].endswith("✕")
    assert bh.text[0][0] == f"{1.0 + 0.2 + 0.2 + 0.01:.2f}"
    assert "2 liquidated" in bh.customdata[1][2]
    assert "stop_loss=0.05" in bh.customdata[0][0]  # the configuration shown: the better stop
    # One colour scale for all facets.
    assert {m.coloraxis for m in maps} == {"coloraxis"}
    assert fig.layout.coloraxis.cmin == pytest.approx(table["sharpe"].min())
    assert fig.layout.coloraxis.cmax == pytest.approx(table["sharpe"].max())


def test_heatmap_without_facet_missing_cells_and_min_aggregation() -> None:
    table = _table()
    bh = table[(table["strategy"] == "bh") & (table["target_vol"] == 0.2)]
    one = sweep_heatmap(bh.iloc[:-1], "stop_loss", "max_leverage", "max_drawdown")
    (m,) = _heatmaps(one)
    assert list(m.x) == ["none", "0.05"]  # missing values ("none") first
    assert list(m.y) == ["2", "5", "10"]
    z = np.array(m.z, dtype=float)
    assert np.isnan(z[2, 1])  # the dropped last row (10x, stop 0.05) leaves its cell empty
    assert "one configuration per cell" in one.layout.title.text
    assert z[0, 0] == pytest.approx(0.2)
    low = sweep_heatmap(table, "target_vol", "max_leverage", "total_return", best="min")
    assert "minimum over its 4 configurations" in low.layout.title.text
    z = np.array(_heatmaps(low)[0].z, dtype=float)
    expected = table.groupby(["max_leverage", "target_vol"])["total_return"].min().unstack("target_vol")
    np.testing.assert_allclose(z, expected.to_numpy())
    assert low.layout.coloraxis.reversescale is True


def test_top_configurations_are_ordered_by_the_objective() -> None:
    table = _table()
    table.loc[3, "sharpe"] = np.nan
    top = top_configurations(table, "sharpe", 20)
    assert len(top) == 20
    assert list(top.index) == list(range(1, 21))
    assert top.index.name == "rank"
    assert top["sharpe"].is_monotonic_decreasing
    assert top["sharpe"].iloc[0] == pytest.approx(table["sharpe"].max())
    assert list(top.columns[:6]) == ["strategy", "policy", "target_vol", "max_leverage", "stop_loss", "sharpe"]
    everything = top_configurations(table, "sharpe", 100)
    assert len(everything) == len(table)
    assert np.isnan(everything["sharpe"].iloc[-1])  # missing objectives rank last
    worst_first = top_configurations(table, "max_drawdown", 3, best="min")
    assert list(worst_first["max_drawdown"]) == pytest.approx([0.2] * 3)


def test_lower_is_better_metrics_rank_lowest_first_by_default(tmp_path: Path) -> None:
    # max_drawdown was ranked and aggregated by its maximum unless best="min" was passed, so the
    # report of a sweep minimising drawdown showed the deepest drawdowns as the best.
    table = _table()
    top = top_configurations(table, "max_drawdown", 24)
    assert top["max_drawdown"].is_monotonic_increasing
    assert top["max_drawdown"].iloc[0] == pytest.approx(0.2)
    assert list(top_configurations(table, "max_drawdown", 3, best="max")["max_drawdown"]) == pytest.approx([1.0] * 3)
    assert top_configurations(table, "sharpe", 1)["sharpe"].iloc[0] == pytest.approx(table["sharpe"].max())
    heat = sweep_heatmap(table, "target_vol", "stop_loss", "max_drawdown")
    assert "minimum over its 6 configurations" in heat.layout.title.text
    assert heat.layout.coloraxis.reversescale is True
    page = write_sweep_report(table, tmp_path / "dd.html", x="target_vol", y="stop_loss", objective="max_drawdown")
    assert "lower is better" in page.read_text()


def test_sweep_report_is_one_self_contained_file(tmp_path: Path) -> None:
    table = _table()
    out = write_sweep_report(
        table, tmp_path / "s" / "sweep.html", x="max_leverage", y="target_vol", facet="strategy", title="my sweep"
    )
    text = out.read_text()
    assert "my sweep" in text
    assert "Top 20 configurations by Sharpe" in text
    assert "24 configurations" in text
    assert not re.search(r"<script[^>]+src=", text)
    assert text.count("<script") >= 2  # plotly.js embedded, then the figure
    # The top table is ordered: the best configuration's row comes first.
    rows = re.findall(r"<tr(?: class=\"liq\")?><th>(\d+)</th>", text)
    assert rows[:3] == ["1", "2", "3"]
    first = text.index("<th>1</th>")
    assert "bh" in text[first : first + 200]
    assert 'class="liq"' in text  # the liquidated configurations are flagged


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": "leverage", "y": "target_vol"}, "'leverage'"),
        ({"x": "max_leverage", "y": "vol"}, "'vol'"),
        ({"x": "max_leverage", "y": "target_vol", "objective": "sharp"}, "'sharp'"),
        ({"x": "max_leverage", "y": "target_vol", "facet": "strat"}, "'strat'"),
        ({"x": "max_leverage", "y": "max_leverage"}, "different"),
        ({"x": "max_leverage", "y": "target_vol", "facet": "target_vol"}, "facet"),
        ({"x": "max_leverage", "y": "target_vol", "objective": "strategy"}, "not numeric"),
    ],
)
def test_bad_columns_raise_input_error_naming_them(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        write_sweep_report(_table(), tmp_path / "x.html", **kwargs)
    assert not (tmp_path / "x.html").exists()


def test_empty_table_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        write_sweep_report(_table().iloc[:0], tmp_path / "x.html", x="max_leverage", y="target_vol")
    with pytest.raises(InputError, match="empty"):
        sweep_heatmap(pd.DataFrame(), "a", "b")
    with pytest.raises(InputError, match="objective"):
        top_configurations(_table(), "nope")


# --- real backtest results ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def liquidated() -> BacktestResult:
    df = _crash()
    res = run(df, np.ones(len(df)), 50.0, rebalance="never", cooldown_bars=3)
    assert len(res.liquidations) >= 1
    return res


@pytest.fixture(scope="module")
def calm() -> BacktestResult:
    df = _walk(300, seed=3)
    return run(df, np.ones(len(df)), 3.0)


@pytest.fixture(scope="module")
def two_instruments() -> BacktestResult:
    crash = _crash()
    flat = _frame(np.full(len(crash), 2_000.0))
    res = run(
        {"BTCUSDT": crash, "ETHUSDT": flat},
        np.ones(len(crash)),
        {"BTCUSDT": 50.0, "ETHUSDT": 2.0},
        rebalance="never",
        weights={"BTCUSDT": 0.5, "ETHUSDT": 0.5},
    )
    assert set(res.liquidations["symbol"]) == {"BTCUSDT"}
    return res


def _names(fig: object) -> list[str]:
    return [t.name for t in fig.data]  # type: ignore[attr-defined]


def test_leverage_is_drawn_against_its_target(liquidated: BacktestResult, calm: BacktestResult) -> None:
    fig = comparison_figure({"50x": liquidated, "3x": calm})
    names = _names(fig)
    for policy in ("50x", "3x"):
        assert f"{policy} leverage" in names
        assert f"{policy} target" in names
        assert f"{policy} funding" in names
        assert f"{policy} fees" in names
        assert f"{policy} drawdown" in names
    target = next(t for t in fig.data if t.name == "3x target")
    assert target.line.dash == "dot"
    np.testing.assert_allclose(np.asarray(target.y, dtype=float), calm.positions["target_leverage"].to_numpy())
    liq = next(t for t in fig.data if t.name == "50x liquidations")
    assert len(liq.x) == len(liquidated.liquidations)
    assert "liquidated at" in liq.hovertext[0]
    # Without a target column there is no target trace (duck-typed results).
    no_target = BacktestResult(
        calm.equity,
        calm.positions.drop(columns="target_leverage"),
        calm.trades,
        calm.liquidations,
        calm.funding,
        calm.fees,
        calm.metrics,
    )
    assert "x target" not in _names(comparison_figure({"x": no_target}))
    assert "x leverage" in _names(comparison_figure({"x": no_target}))
    assert instruments_figure({"50x": liquidated}) is None


def test_several_instruments_get_a_leverage_panel_and_liquidations_per_symbol(
    two_instruments: BacktestResult, calm: BacktestResult, tmp_path: Path
) -> None:
    fig = instruments_figure({"pair": two_instruments, "single": calm})
    assert fig is not None
    names = _names(fig)
    assert {"BTCUSDT", "BTCUSDT target", "ETHUSDT", "ETHUSDT target", "BTCUSDT liquidations"} <= set(names)
    eth = next(t for t in fig.data if t.name == "ETHUSDT target")
    expected = two_instruments.instruments["ETHUSDT"]["target_leverage"].to_numpy()
    np.testing.assert_allclose(np.asarray(eth.y, dtype=float), expected)
    assert expected[-1] == pytest.approx(2.0)
    main = comparison_figure({"pair": two_instruments})
    assert "pair liquidations BTCUSDT" in _names(main)
    marks = next(t for t in main.data if t.name == "pair liquidations BTCUSDT")
    assert marks.hovertext[0].startswith("BTCUSDT long liquidated at")
    out = write_report({"pair": two_instruments, "single": calm}, tmp_path / "r.html")
    text = out.read_text()
    assert "leverage per instrument" in text
    assert "bad debt" in text  # the metrics table's new column


def test_sweep_report_with_selected_results(liquidated: BacktestResult, calm: BacktestResult, tmp_path: Path) -> None:
    out = write_sweep_report(
        _table(),
        tmp_path / "s.html",
        x="max_leverage",
        y="target_vol",
        results={"best": calm, "liquidated": liquidated},
    )
    text = out.read_text()
    assert "Selected results: best, liquidated" in text
    # The selected results get the backtest tearsheet's sections, after the heatmap and top table.
    order = ["Top 20 configurations", "Key metrics", "Equity and drawdown", "Leverage against its target"]
    order += ["Monthly returns", "Rolling 30-day volatility", "<h2>Liquidations</h2>"]
    at = [text.index(s) for s in order]
    assert at == sorted(at), order
    assert "Every column</summary>" in text  # the top table's other columns
    assert text.count("atob(") == 1  # plotly.js embedded once for every figure
    assert not re.search(r"<script[^>]+src=", text)
    assert len(text) < 8_000_000


def test_long_results_stay_small(tmp_path: Path) -> None:
    from levguard.report.html import MAX_POINTS

    df = _walk(12_000, seed=5)
    res = run(df, np.ones(len(df)), 3.0)
    fig = comparison_figure({"long": res})
    for t in fig.data:
        assert len(t.x) <= MAX_POINTS + 2, t.name
    equity = next(t for t in fig.data if t.name == "long")
    assert equity.x[0] == np.datetime64(res.equity.index[0].tz_localize(None))  # from the first bar
    assert min(equity.y) == pytest.approx(res.equity.min())  # the lows survive the bucketing
    assert equity.y[-1] == pytest.approx(res.equity.iloc[-1])


def test_a_short_sweeps_annualised_metrics_read_na_as_in_the_comparison_table(tmp_path: Path) -> None:
    # One 8-day run: the comparison table read Sharpe "n/a (<30d)", the sweep table and report printed
    # the same run's Sharpe as a number (and the sweep ranks by it: it still does).
    from rich.console import Console

    from levguard.backtest.strategies import BuyAndHold
    from levguard.backtest.sweeps import sweep
    from levguard.cli._output import sweep_table

    table = sweep(_walk(200, seed=3), {"hold": BuyAndHold()}, {"1x": 1.0, "2x": 2.0}, symbol="BTCUSDT")
    assert table.attrs["short_run"]
    assert table.attrs["span_days"] == pytest.approx(200 / 24)
    con = Console(record=True, width=200, color_system=None)
    con.print(sweep_table(table, "sharpe"))
    rows = [line for line in con.export_text().splitlines() if "hold" in line]
    assert len(rows) == 2
    assert all("n/a (<30d)" in r for r in rows)
    path = write_sweep_report(table, tmp_path / "s.html", x="policy", y="strategy", objective="sharpe")
    text = path.read_text(encoding="utf-8")
    assert text.count("n/a (short run)") >= 2  # the Sharpe of both rows of the key table
    assert "annualised from 8.33 days" in text
    longer = sweep(_walk(24 * 31, seed=3), {"hold": BuyAndHold()}, {"1x": 1.0}, symbol="BTCUSDT")
    assert not longer.attrs["short_run"]


def test_the_docs_state_how_many_points_a_thinned_curve_keeps() -> None:
    # docs/backtest.md said every curve was thinned to 1,000 points; the range-kept ones have
    # 1,001 (tearsheet POINTS) and the per-instrument and comparison rows 3,001 (MAX_POINTS).
    from levguard.report.html import MAX_POINTS, _thin, _thin_range
    from levguard.report.tearsheet import POINTS

    rng = np.random.default_rng(0)
    s = pd.Series(rng.normal(size=12_000), index=pd.date_range("2024-01-01", periods=12_000, freq="1h"))
    assert (len(_thin_range(s, POINTS)), len(_thin(s, "min", POINTS))) == (POINTS + 2, POINTS + 2)
    assert (len(_thin_range(s)), len(_thin(s)), len(_thin(s, "min"))) == (
        MAX_POINTS + 2,
        MAX_POINTS + 1,
        MAX_POINTS + 2,
    )
    docs = " ".join((Path(__file__).resolve().parents[2] / "docs" / "backtest.md").read_text().split())
    assert f"to at most {POINTS + 2:,} points each (`levguard.report.tearsheet.POINTS` = {POINTS:,}" in docs
    assert f"use `MAX_POINTS` = {MAX_POINTS:,}: at most {MAX_POINTS + 2:,} points" in docs
    assert "thinned to 1,000 points each" not in docs
