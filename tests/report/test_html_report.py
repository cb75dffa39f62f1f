"""The HTML report: one self-contained file with the metrics, equity, liquidations and heatmap."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.errors import InputError
from levguard.report.html import metrics_table, write_report


@dataclass
class _Result:
    equity: pd.Series
    positions: pd.DataFrame
    liquidations: pd.DataFrame
    funding: pd.Series
    fees: pd.Series
    metrics: dict[str, Any] = field(default_factory=dict)


def _result(seed: int, liquidated: bool) -> _Result:
    idx = pd.date_range("2024-01-01", periods=200, freq="1h", tz="UTC")
    rng = np.random.default_rng(seed)
    eq = pd.Series(10_000 * np.exp(np.cumsum(rng.normal(0, 0.01, 200))), index=idx)
    liq = (
        pd.DataFrame({"timestamp": [idx[120]], "price": [51_234.5]})
        if liquidated
        else pd.DataFrame(columns=["timestamp", "price"])
    )
    pos = pd.DataFrame({"leverage": 3.0, "target_leverage": 3.0}, index=idx)
    zeros = pd.Series(0.0, index=idx)
    metrics = {
        "total_return": float(eq.iloc[-1] / eq.iloc[0] - 1),
        "sharpe": 1.234,
        "max_drawdown": 0.25,
        "n_liquidations": int(liquidated),
    }
    return _Result(eq, pos, liq, zeros + 0.1, zeros + 0.2, metrics)


def test_report_is_one_self_contained_file(tmp_path: Path) -> None:
    results = {"fixed 10x": _result(1, True), "vol target": _result(2, False)}
    hm = pd.DataFrame(
        [[0.1, 0.2], [0.3, 0.4]],
        index=pd.Index([0.3, 0.5], name="target_vol"),
        columns=pd.Index([2, 5], name="max_leverage"),
    )
    out = write_report(results, tmp_path / "r.html", title="crash test", heatmap=hm)
    text = out.read_text()
    assert "crash test" in text
    assert "fixed 10x" in text
    assert "vol target" in text
    assert "1.23" in text  # the Sharpe ratio, formatted
    assert "liquidated at 51,234.50" in text
    assert "Sweep objective" in text
    assert 'class="liq"' in text  # the liquidated policy's row is marked
    # Offline: plotly.js is embedded and no script is loaded from the network.
    assert not re.search(r"<script[^>]+src=", text)
    assert len(text) > 1_000_000


def test_metrics_table_and_empty_input(tmp_path: Path) -> None:
    table = metrics_table({"a": _result(1, False)})
    assert table.loc["a", "sharpe"] == pytest.approx(1.234)
    with pytest.raises(InputError, match="at least one"):
        write_report({}, tmp_path / "x.html")


def test_long_series_are_bucketed_keeping_the_worst_drawdown_and_the_last_value() -> None:
    from levguard.report.html import MAX_POINTS, _thin

    idx = pd.date_range("2024-01-01", periods=10_000, freq="1h", tz="UTC")
    s = pd.Series(np.sin(np.arange(10_000) / 50.0), index=idx)
    s.iloc[4_321] = -5.0
    low = _thin(s, "min")
    assert len(low) <= MAX_POINTS
    assert low.min() == -5.0
    assert low.idxmin() == idx[4_321]
    last = _thin(s)
    assert last.iloc[-1] == s.iloc[-1]
    assert _thin(s.iloc[:100]).equals(s.iloc[:100])


def test_cell_number_gives_a_finite_float_or_the_cell_text() -> None:
    from levguard.report.html import cell_number

    assert cell_number("3.5") == 3.5
    assert cell_number(None) == "—"
    assert cell_number(float("nan")) == "—"
    assert cell_number("a<b") == "a&lt;b"


def test_add_line_puts_one_styled_line_on_the_row() -> None:
    from plotly.subplots import make_subplots

    from levguard.report.html import add_line

    fig = make_subplots(rows=2, cols=1)
    add_line(fig, [0, 1], [1.0, 2.0], 2, name="n", group="g", color="red", showlegend=False)
    add_line(fig, [0, 1], [1.0, 2.0], 1, name="m", group="g", color="red", width=1.5, dash="dot")
    first, second = fig.data
    assert first.yaxis == "y2"
    assert first.line.to_plotly_json() == {"color": "red", "width": 1}
    assert first.showlegend is False
    assert second.line.dash == "dot"
    assert second.legendgroup == "g"
