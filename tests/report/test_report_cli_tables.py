"""Terminal tables of backtest metrics and sweep rows (levguard.cli._output)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from rich.console import Console
from rich.table import Table

from levguard.cli._output import metrics_table, sweep_table
from levguard.errors import InputError


def _text(table: Table) -> str:
    con = Console(record=True, width=160, color_system=None)
    con.print(table)
    return con.export_text()


def test_metrics_table_formats_the_key_columns() -> None:
    metrics = {
        "fixed 10x": {
            "total_return": -0.95,
            "cagr": -0.6,
            "max_drawdown": 0.99,
            "sharpe": -0.3,
            "sortino": -0.4,
            "n_liquidations": 3.0,
            "bad_debt": 12.5,
            "fees_paid": 1234.5,
            "funding_paid": -345.6,
            "avg_leverage": 9.87,
            "ruined": 1.0,
        },
        "no data": {"sharpe": math.nan},
    }
    table = metrics_table(metrics, "my backtest")
    assert table.title == "my backtest"
    headers = [str(c.header) for c in table.columns]
    assert headers == [
        "policy",
        "return",
        "CAGR",
        "max DD",
        "Sharpe",
        "Sortino",
        "liq",
        "bad debt",
        "fees",
        "funding",
        "avg lev",
        "ruin",
    ]
    text = _text(table)
    row = next(line for line in text.splitlines() if "fixed 10x" in line)
    for cell in ("-95.0%", "-60.0%", "99.0%", "-0.30", "3", "12.50", "1,234.50", "-345.60", "9.87x", "ruined"):
        assert cell in row
    empty = next(line for line in text.splitlines() if "no data" in line)
    assert empty.count("—") == len(headers) - 1
    # With the ruin times the column shows when (UTC, to the minute).
    timed = _text(metrics_table(metrics, "t", {"fixed 10x": "2020-03-12T10:00:00+00:00", "no data": None}))
    assert "2020-03-12 10:00" in next(line for line in timed.splitlines() if "fixed 10x" in line)


def test_sweep_table_lists_the_best_rows() -> None:
    table = pd.DataFrame(
        {
            "strategy": ["bh", "bh", "ema"],
            "policy": ["vol", "vol", "fixed"],
            "target_vol": [0.2, 0.4, float("nan")],
            "max_leverage": [2.0, 5.0, 10.0],
            "sharpe": [0.5, 1.5, 1.0],
            "cagr": [0.1, 0.3, 0.2],
            "n_liquidations": [0.0, 0.0, 2.0],
        }
    )
    out = sweep_table(table, "sharpe", top=2)
    headers = [str(c.header) for c in out.columns]
    assert headers[:7] == ["#", "strategy", "policy", "target_vol", "max_leverage", "Sharpe", "liq"]
    text = _text(out)
    assert "Top 2 of 3 configurations by Sharpe" in text
    lines = [line for line in text.splitlines() if line.startswith("│")]
    assert "1.50" in lines[0]
    assert "1.00" in lines[1]
    assert "none" in lines[1]  # a missing parameter
    by_cagr = _text(sweep_table(table, "cagr"))
    assert "30.0%" in by_cagr
    with pytest.raises(InputError, match="'sortino'"):
        sweep_table(table, "sortino")
