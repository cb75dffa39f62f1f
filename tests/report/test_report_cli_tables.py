"""Terminal tables of backtest metrics and sweep rows (levguard.cli._output)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table

from levguard.cli._output import _METRIC_COLUMNS, FittingTable, metrics_table, sweep_table
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


def test_coin_margined_amounts_keep_their_digits_and_name_their_currency() -> None:
    # A BTC-margined run's 0.001043 BTC of fees read "0.00", with no currency anywhere.
    coin = {"fees_paid": 0.0010432608, "funding_paid": -0.000123456, "bad_debt": 0.0}
    alone = metrics_table({"coin 2x": coin}, "t", currencies={"coin 2x": "BTC"})
    assert alone.title == "t (amounts in BTC)"
    row = next(line for line in _text(alone).splitlines() if "coin 2x" in line)
    assert "0.001043" in row
    assert "-0.0001235" in row
    mixed = metrics_table(
        {"coin 2x": coin, "usdt 2x": {"fees_paid": 107.47}}, "t", currencies={"coin 2x": "BTC", "usdt 2x": "USDT"}
    )
    assert mixed.title == "t"
    lines = _text(mixed).splitlines()
    assert "0.001043 BTC" in next(line for line in lines if "coin 2x" in line)
    usdt = next(line for line in lines if "usdt 2x" in line)
    assert "107.47 USDT" in usdt
    assert "— USDT" not in usdt  # a missing amount stays a dash


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


# What a terminal of each width shows: every number whole (rich cuts a cell with an ellipsis).
_MARGIN_ROWS = [
    ["BTCUSDT", "119,741", "14,616.33", "-55,180.00", "56,005.86", "55,564.75", "6.46%", "3 (0.65%)"],
    ["ETHUSDT", "76,659.00", "4,032.84", "-22,590.00", "3,063.93", "3,129.40", "19.90%", "3 (0.65%)"],
]


def _margin_table() -> FittingTable:
    table = FittingTable(header_style="bold")
    for col in ("symbol", "IM", "MM", "uPnL", "liq price", "bankruptcy", "health", "tier"):
        table.add_column(col, justify="left" if col == "symbol" else "right")
    for row in _MARGIN_ROWS:
        table.add_row(*row)
    return table


def _shown(table: Table, width: int) -> str:
    con = Console(record=True, width=width, color_system=None)
    con.print(table)
    return con.export_text()


@pytest.mark.parametrize("width", [80, 72, 60, 120])
def test_a_margin_table_keeps_every_number_whole_in_a_narrow_terminal(width: int) -> None:
    # In 80 columns the margin report printed the liquidation price 56,005.86 as "56,005.…".
    text = _shown(_margin_table(), width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for row in _MARGIN_ROWS:
        for cell in row:
            assert cell.split(" ")[0] in text  # a tier "3 (0.65%)" may wrap at its space
            assert all(part in text for part in cell.split(" "))


def test_a_table_that_fits_prints_as_built_and_a_narrower_terminal_gets_the_compact_form() -> None:
    wide = _shown(_margin_table(), 120)
    assert "┃" in wide  # the bordered table as built
    assert "56,005.86 │" in wide
    compact = _shown(_margin_table(), 80)
    assert "┃" not in compact
    assert "│" not in compact
    assert "BTCUSDT" in compact
    assert "56,005.86" in compact


def test_the_demo_policies_keep_their_names_and_numbers_in_80_and_120_columns() -> None:
    names = ["fixed 3x", "fixed 10x", "vol target 60%", "liquidation budget 1%/7d", "composite"]
    keys = [key for _, key, _ in _METRIC_COLUMNS]
    metrics = {n: dict.fromkeys(keys, 60376.78) | {"total_return": 10.486 - i} for i, n in enumerate(names)}
    ruined = {"fixed 10x": "2021-08-04T23:00:00+00:00"}
    for width in (80, 120):
        text = _shown(metrics_table(metrics, "t", ruined), width)
        assert "…" not in text
        assert "60,376.78" in text
        assert "2021-08-04" in text
        for name in names:
            assert all(word in text for word in name.split())
    # In 80 columns a column per policy and a row per metric; where it fits whole, as built.
    assert any(line.lstrip("│ ").startswith("return") for line in _shown(metrics_table(metrics, "t"), 80).splitlines())
    wide = _shown(metrics_table(metrics, "t"), 250)
    assert "liquidation budget 1%/7d" in next(line for line in wide.splitlines() if "budget" in line)


def test_a_table_wider_than_any_layout_is_cut_compact_without_failing() -> None:
    table = FittingTable()
    for k in range(12):
        table.add_column(f"c{k}")
    table.add_row(*[f"{k * 1_000_000:,}" for k in range(12)])
    text = _shown(table, 40)
    assert max(len(line) for line in text.splitlines()) <= 40
    assert _shown(FittingTable("a", "b"), 20)  # no rows: printed as built


_WORD = st.text(alphabet="0123456789,.-%x", min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(1, 4).flatmap(
        lambda n_cols: st.lists(st.lists(_WORD, min_size=n_cols, max_size=n_cols), min_size=1, max_size=4)
    ),
    width=st.integers(20, 160),
)
def test_every_cell_is_shown_whole_when_its_words_fit_the_terminal(rows: list[list[str]], width: int) -> None:
    n_cols = len(rows[0])
    table = FittingTable(*(f"h{k}" for k in range(n_cols)))
    for row in rows:
        table.add_row(*row)
    longest = [max(len(cell) for cell in (f"h{k}", *(r[k] for r in rows))) for k in range(n_cols)]
    text = _shown(table, width)
    assert max(len(line) for line in text.splitlines()) <= width
    if sum(longest) + n_cols - 1 <= width:
        for row in rows:
            for cell in row:
                assert cell in text
