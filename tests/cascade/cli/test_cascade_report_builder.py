"""The cascade report builder on stub results (duck-typed, no simulator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.errors import InputError
from levguard.report.cascade import (
    PATH_COLUMNS,
    calibration_figures,
    monte_carlo_figure,
    path_figure,
    write_cascade_report,
)
from levguard.report.html import MAX_POINTS


@dataclass
class PathStub:
    steps: pd.DataFrame
    summary: dict[str, float] = field(default_factory=dict)


@dataclass
class McStub:
    paths: pd.DataFrame
    aggregates: dict[str, float]


def path_stub(n: int = 200) -> PathStub:
    rng = np.random.default_rng(0)
    exo = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    liq = np.where(rng.random(n) < 0.2, rng.random(n) * 1e6, 0.0)
    steps = pd.DataFrame(
        {
            "price": exo * 0.999,
            "exogenous": exo,
            "mark": exo * 0.9995,
            "liquidated_notional": liq,
            "adl_notional": liq * 0.1,
            "liquidations": (liq > 0).astype(float),
            "insurance_fund": np.linspace(1e5, 0, n),
            "bad_debt": np.linspace(0, 5e3, n),
        }
    )
    summary = {"bad_debt": 5e3, "liquidated_notional": liq.sum(), "accounts_liquidated": 12, "overshoot": 0.01}
    return PathStub(steps, summary)


def mc_stub() -> McStub:
    bad = np.r_[np.zeros(80), np.linspace(1e3, 1e5, 20)]
    paths = pd.DataFrame({"path": np.arange(100), "bad_debt": bad, "liquidated_notional": np.linspace(1e6, 1e7, 100)})
    agg = {
        "n_paths": 100.0, "budget": 5e4, "mean_bad_debt": float(bad.mean()),
        "bad_debt_p95": float(np.quantile(bad, 0.95)), "bad_debt_p99": float(np.quantile(bad, 0.99)),
        "p_bad_debt_over_budget": float(np.mean(bad > 5e4)), "expected_liquidated_notional": 5e6,
        "mean_overshoot": 0.01, "p_adl": 0.3,
    }  # fmt: skip
    return McStub(paths, agg)


def calibration_stub() -> pd.DataFrame:
    rows = []
    for mmr in (0.004, 0.01):
        for lev in (10, 50, 100):
            p = lev / 100 * (0.004 / mmr) * 0.1
            rows.append({"mmr": mmr, "max_leverage": lev, "bad_debt_p99": 1e3 * lev, "p_bad_debt_over_budget": p,
                         "expected_liquidated_notional": 1e6, "n_paths": 50.0})  # fmt: skip
    t = pd.DataFrame(rows)
    t["safe"] = t["p_bad_debt_over_budget"] <= 0.05
    t["best"] = False
    t.loc[t[t["safe"]]["max_leverage"].idxmax(), "best"] = True
    t.attrs.update(epsilon=0.05, efficiency="max_leverage")
    return t


def test_path_figure_has_six_rows_and_a_shaded_overshoot() -> None:
    fig = path_figure({"a": path_stub(), "b": path_stub()})
    names = [t.name for t in fig.data]
    assert "a with cascade" in names
    assert "b without cascade" in names
    shaded = [t for t in fig.data if getattr(t, "fill", None) == "tonexty"]
    assert len(shaded) == 2
    assert sum(t.type == "bar" for t in fig.data) == 6  # liquidated, ADL, count per result
    assert len(fig.layout.annotations) == 6


def test_long_paths_are_thinned_and_flows_keep_their_total() -> None:
    r = path_stub(4 * MAX_POINTS + 7)
    fig = path_figure({"": r})
    for t in fig.data:
        assert len(t.x) <= MAX_POINTS + 2
    bars = next(t for t in fig.data if t.type == "bar" and t.name.endswith("liquidated"))
    assert float(np.sum(bars.y)) == pytest.approx(float(r.steps["liquidated_notional"].sum()))


def test_monte_carlo_figure_marks_p95_p99_and_the_budget() -> None:
    fig = monte_carlo_figure({"": mc_stub()})
    assert sum(t.type == "histogram" for t in fig.data) == 2
    texts = " ".join(a.text for a in fig.layout.annotations if a.text)
    assert "p95" in texts
    assert "p99" in texts
    assert "K 50,000" in texts


def test_calibration_heatmap_marks_safe_and_best_and_draws_the_frontier() -> None:
    heat, frontier = calibration_figures(calibration_stub(), x="max_leverage", y="mmr")
    hm = heat.data[0]
    assert np.asarray(hm.z).shape == (2, 3)
    cells = [c for row in hm.text for c in row]
    assert sum(c.startswith("★") for c in cells) == 1
    assert any(c.startswith("✓") for c in cells)
    assert any(t.name == "frontier" for t in frontier.data)
    assert any(t.name == "best safe set" for t in frontier.data)


def test_report_is_one_self_contained_file(tmp_path: Path) -> None:
    out = write_cascade_report(
        path_stub(), tmp_path / "sub" / "r.html", title="T <x>", subtitle="s",
        monte_carlo=mc_stub(), calibration=calibration_stub(), x="max_leverage", y="mmr",
        search={"parameter": "max_leverage", "safe_cap": 42.0, "steps": [(100.0, 0.2), (50.0, 0.01)]},
    )  # fmt: skip
    html = out.read_text()
    assert html.startswith("<!doctype html>")
    assert "T &lt;x&gt;" in html
    import re

    assert not re.search(r"<script[^>]+src=", html)  # plotly.js embedded, nothing fetched
    assert html.count('<div id="') >= 4
    assert html.count("Plotly.newPlot(") >= 4
    assert "Largest safe cap" in html
    assert "42" in html


def test_calibration_only_and_default_axes(tmp_path: Path) -> None:
    out = write_cascade_report(None, tmp_path / "c.html", calibration=calibration_stub())
    assert "K) by max_leverage and mmr" in out.read_text()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"result_or_results": None}, "nothing to report"),
        ({"result_or_results": object()}, "result must have `steps`"),
        ({"result_or_results": {}}, "at least one"),
        ({"result_or_results": PathStub(pd.DataFrame({"price": [1.0]}))}, "lacks columns"),
        ({"result_or_results": None, "monte_carlo": McStub(pd.DataFrame({"x": [1]}), {})}, "lacks column 'bad_debt'"),
        ({"result_or_results": None, "calibration": "table"}, "must be a pandas DataFrame"),
        ({"result_or_results": None, "calibration": pd.DataFrame({"a": [1]})}, "lacks column"),
        ({"result_or_results": None, "calibration": calibration_stub(), "x": "nope"}, "no column 'nope'"),
        ({"result_or_results": None, "calibration": calibration_stub(), "x": "mmr", "y": "mmr"}, "must differ"),
    ],
)
def test_bad_input_raises(tmp_path: Path, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=None) as info:
        write_cascade_report(path=tmp_path / "x.html", **kwargs)
    assert needle in str(info.value)
    assert not (tmp_path / "x.html").exists()


def test_path_columns_are_documented() -> None:
    assert set(PATH_COLUMNS) <= set(path_stub().steps.columns)
