"""Rendering helpers shared by CLI commands (rich tables)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import sys
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table

from levguard.core.margin import AccountReport
from levguard.core.symbols import is_usd

if TYPE_CHECKING:
    import pandas as pd


def fmt(x: float | None, digits: int = 2) -> str:
    """Format an amount with thousands separators (no decimals from 100,000 up); None as a dash."""
    if x is None or not math.isfinite(x):
        return "—"
    if abs(x) >= 100_000:
        digits = 0
    text = f"{x:,.{digits}f}"
    # A short's uPnL of -0.0 (or -1e-12) is zero: never "-0.00".
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def _finite(value: Any) -> Any:
    # ``value`` with NaN and infinities (floats JSON cannot hold) as None, NumPy scalars and arrays
    # as Python numbers and lists, tuples as lists; anything else as it is.
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def json_text(doc: Any, indent: int | None = 2, default: Callable[[Any], Any] = str) -> str:
    """``doc`` as strict JSON text, the one way every command prints or writes JSON.

    A number that is not finite (a Sharpe ratio of a run that never traded, a delay that never
    happened) is written as ``null``: JSON has no NaN, and ``json.dumps`` would otherwise write
    ``NaN``, which JSON parsers refuse.  ``default`` converts what JSON cannot hold (dates, paths).
    """
    return json.dumps(_finite(doc), indent=indent, allow_nan=False, default=lambda v: _finite(default(v)))


def _cell(value: Any) -> Any:
    # One table cell as a Python value (json_text makes NaN and infinities null): a time as ISO
    # 8601, a missing value (NaT, NA) as None, a NumPy scalar as its Python number.
    import pandas as pd

    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as ``{column: value}`` records, every float at full float64 precision.

    ``DataFrame.to_json`` rounds floats to 10 decimal places (``double_precision``, at most
    15), so a JSON table did not round-trip: 0.123456789012345 came back as 0.123456789.
    """
    names = [str(c) for c in frame.columns]
    return [dict(zip(names, map(_cell, row), strict=True)) for row in frame.itertuples(index=False, name=None)]


def json_row(row: pd.Series) -> dict[str, Any]:
    """One row (a Series) as ``{label: value}``, at full precision (see :func:`json_records`)."""
    return {str(k): _cell(v) for k, v in row.items()}


def write_json_doc(doc: dict[str, Any], calibration: Any = None, report: str | None = None) -> None:
    """Write a command's JSON document to stdout, adding ``calibration.to_dict()`` and the
    ``report`` path when there are any (:func:`json_text`: non-finite numbers as null; what JSON
    cannot hold is written with ``str``)."""
    if calibration is not None:
        doc["calibration"] = calibration.to_dict()
    if report:
        doc["report"] = report
    sys.stdout.write(json_text(doc) + "\n")


def console(stderr: bool = False) -> Console:
    """A console that is 120 columns wide when output is not a terminal (pipes, logs, CI)."""
    c = Console(stderr=stderr)
    if not c.is_terminal:
        c = Console(stderr=stderr, width=120)
    return c


def price(x: float | None) -> str:
    """Format a price with enough significant digits for small and large prices: 2 decimals from
    100 up, 4 from 1, at least 6 significant digits below 1 (:func:`levguard.report.prices.fmt_price`,
    the one price format of the text and HTML outputs); None or non-finite as a dash."""
    from levguard.report.prices import fmt_price

    return fmt_price(x)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def pct(x: Any, digits: int = 1) -> str:
    """Format a fraction as a percentage (``0.123`` -> ``12.3%``); missing or non-finite as a dash."""
    v = _num(x)
    return "—" if v is None else f"{v:.{digits}%}"


def ratio(x: Any, digits: int = 2) -> str:
    """Format a ratio (Sharpe, Sortino); missing or non-finite as a dash."""
    v = _num(x)
    return "—" if v is None else f"{v:.{digits}f}"


def leverage(x: Any) -> str:
    """Format a leverage as ``2.50x``; missing as a dash."""
    v = _num(x)
    return "—" if v is None else f"{v:.2f}x"


def liquidations(x: Any) -> str:
    """A liquidation count, red when positive, green when zero."""
    v = _num(x)
    if v is None:
        return "—"
    return f"[bold red]{int(v)}[/]" if v > 0 else "[green]0[/]"


def amount(x: Any) -> str:
    """An amount of a backtest's settlement currency to at least 4 significant digits
    (:func:`levguard.report.html.fmt_amount`); missing as a dash."""
    from levguard.report.html import fmt_amount

    v = _num(x)
    return "—" if v is None else fmt_amount(v)


def bad_debt(x: Any) -> str:
    """Bad debt (losses beyond the margin), red when positive; missing as a dash."""
    v = _num(x)
    if v is None:
        return "—"
    return f"[bold red]{amount(v)}[/]" if v > 0 else amount(v)


def ruined(x: Any) -> str:
    """Whether a run was ruined (equity below the venue's smallest order): red ``ruined``, else ``no``."""
    v = _num(x)
    if v is None:
        return "—"
    return "[bold red]ruined[/]" if v > 0 else "no"


class FittingTable(Table):
    """A rich table that keeps every number whole in a narrow terminal.

    Rich fits a table wider than the terminal by cutting cells with an ellipsis: in 80 columns
    the margin report printed a liquidation price as ``56,005.…``.  This table prints as built
    where it fits; otherwise its compact form (no vertical rules, one space between columns);
    otherwise the compact form with each column given at least its longest word, text wrapping
    at spaces (a header, a tier's rate) and the room left shared in proportion to what each
    column lacks.  Only a table whose words alone are wider than the terminal is cut, compact.
    """

    #: Whether the table on its side (a column per row) is as good a layout as the table fitted
    #: compact: True for a table of records (:class:`RecordTable`); otherwise it comes only where
    #: nothing else fits whole.
    records = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from Table.__rich_console__(self._layout(console, options), console, options)

    def _layout(self, console: Console, options: ConsoleOptions) -> Table:
        if not self.rows:
            return self
        compact = self.compact()
        side = self.sideways()
        side_compact = _compact(side)
        width = options.max_width
        whole: list[Table] = [self, compact, *((side, side_compact) if self.records else ())]
        for table in whole:
            if Table.__rich_measure__(table, console, options.update_width(100_000)).maximum <= width:
                return table
        for table in (compact, side_compact):
            if (fitted := _fitted(table, console, options)) is not None:
                return fitted
        return compact

    def compact(self) -> Table:
        """The same table without vertical rules, edges or padding: one space between columns."""
        return _compact(self)

    def sideways(self) -> Table:
        """The same cells transposed: the first column's cells head the columns, and each other
        column is a row (its header first)."""
        first, *rest = self.columns
        side = Table(
            title=self.title, header_style=self.header_style, title_justify=self.title_justify, caption=self.caption
        )
        side.add_column(first.header, justify="left", no_wrap=True)
        for name in first.cells:
            side.add_column(name, justify="right")
        for column in rest:
            side.add_row(column.header, *column.cells, style=column.style)
        return side


class RecordTable(FittingTable):
    """A table of records (a policy's metrics, a sweep configuration) that may also print on its
    side: a column per record and a row per field.

    The eleven metric columns of a backtest do not fit 80 columns (nor the 120 of a pipe) even
    compact, and squeezed they left the policy names no room at all; on its side a handful of
    policies fits, so it is tried before the compact table is fitted with wrapped text.  The
    record-name columns keep a ``min_width`` for when nothing fits.
    """

    records = True


def _compact(table: Table) -> Table:
    from rich import box

    compact = copy.copy(table)
    compact.box = box.SIMPLE_HEAD
    compact.padding = (0, 0, 0, 0)
    compact.pad_edge = False
    compact.show_edge = False
    return compact


def _fitted(table: Table, console: Console, options: ConsoleOptions) -> Table | None:
    # ``table`` (compact: no padding or edges) with column widths that show every cell whole,
    # wrapped at spaces, within the terminal; None when its longest words alone are too wide.
    columns = table.columns
    lo, hi = [], []
    for column in columns:
        sizes = [Measurement.get(console, options, cell) for cell in (column.header, *column.cells)]
        hi.append(max(m.maximum for m in sizes))
        lo.append(hi[-1] if column.no_wrap else max(m.minimum for m in sizes))
    room = options.max_width - (len(columns) - 1)  # one space between columns
    if sum(lo) > room:
        return None
    lacking = [h - low for h, low in zip(hi, lo, strict=True)]
    spare = room - sum(lo)
    total = max(sum(lacking), 1)
    fitted = copy.copy(table)
    fitted.columns = [
        dataclasses.replace(column, width=min(low + spare * short // total, high))
        for column, low, high, short in zip(columns, lo, hi, lacking, strict=True)
    ]
    return fitted


def _record_name_width(names: Any) -> int:
    # A record-name column is never squeezed below its longest name's first 12 characters.
    return min(12, max((len(str(n)) for n in names), default=1))


# Terminal columns of a backtest's metrics: (header, metric key, formatter).
_METRIC_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("return", "total_return", pct),
    ("CAGR", "cagr", pct),
    ("max DD", "max_drawdown", pct),
    ("Sharpe", "sharpe", ratio),
    ("Sortino", "sortino", ratio),
    ("liq", "n_liquidations", liquidations),
    ("bad debt", "bad_debt", bad_debt),
    ("fees", "fees_paid", amount),
    ("funding", "funding_paid", amount),
    ("avg lev", "avg_leverage", leverage),
    ("ruin", "ruined", ruined),
)
_AMOUNT_KEYS = ("bad_debt", "fees_paid", "funding_paid")


def metrics_table(
    metrics_by_name: Mapping[str, Mapping[str, float]],
    title: str,
    ruined_at: Mapping[str, str | None] | None = None,
    short_runs: Collection[str] = (),
    currencies: Mapping[str, str | None] | None = None,
) -> RecordTable:
    """One row per policy (or run) with the key backtest metrics, formatted for humans.

    Columns: total return, CAGR, max drawdown (DD), Sharpe, Sortino, liquidations (red when
    any), bad debt, fees, funding (paid; negative = received), average leverage and ruin (the
    ruin time from ``ruined_at`` when given).  A ruined run's ratios are computed up to its
    ruin (docs/backtest.md).  Missing metrics show as a dash.  The CAGR of a run named in
    ``short_runs`` (:attr:`levguard.backtest.engine.BacktestResult.short_run`) reads
    ``n/a (<30d)``, and so do its other annualised metrics
    (:data:`levguard.report.tables.SHORT_RUN_METRICS`): annualising a few bars is not
    meaningful.  In a terminal too narrow for the row of a policy, it prints a column per policy
    instead (:class:`RecordTable`).

    The amounts (bad debt, fees, funding) are in the settlement currency of each run
    (``currencies``: name -> currency, ``BacktestResult.params["settlement"]``), to at least 4
    significant digits (:func:`levguard.report.html.fmt_amount`, as the tearsheet): named in the
    title ("amounts in BTC") when every run settles in it, else in each amount cell.  A
    coin-margined run's 0.0012 BTC of fees is not "0.00".
    """
    from levguard.backtest.engine import SHORT_RUN_DAYS
    from levguard.report.tables import SHORT_RUN_METRICS

    units = {name: (currencies or {}).get(name) or "" for name in metrics_by_name}
    common = set(units.values())
    if len(common) == 1 and "" not in common:
        title = f"{title} (amounts in {next(iter(common))})"
        units = dict.fromkeys(units, "")
    table = RecordTable(title=title, header_style="bold", title_justify="left")
    table.add_column("policy", justify="left", overflow="fold", min_width=_record_name_width(metrics_by_name))
    for header, _, _ in _METRIC_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for name, m in metrics_by_name.items():
        cells = [
            f"[dim]n/a (<{SHORT_RUN_DAYS:g}d)[/]" if key in SHORT_RUN_METRICS and name in short_runs else f(m.get(key))
            for _, key, f in _METRIC_COLUMNS
        ]
        if units[name]:
            cells = [
                f"{c} {units[name]}" if key in _AMOUNT_KEYS and c != "—" else c
                for c, (_, key, _) in zip(cells, _METRIC_COLUMNS, strict=True)
            ]
        when = (ruined_at or {}).get(name)
        if when:
            cells[-1] = f"[bold red]{when[:16].replace('T', ' ')}[/]"
        table.add_row(name, *cells)
    return table


# The metric columns of a sweep's table (a subset of the backtest's, in the same order).
_SWEEP_KEYS: tuple[tuple[str, str, Any], ...] = tuple(
    c
    for c in _METRIC_COLUMNS
    if c[1] in ("total_return", "max_drawdown", "sharpe", "n_liquidations", "bad_debt", "avg_leverage")
)


def _general(x: Any) -> str:
    v = _num(x)
    return "—" if v is None else f"{v:,.4g}"


def sweep_table(
    table: pd.DataFrame,
    objective: str,
    top: int = 10,
    title: str | None = None,
    direction: Literal["max", "min"] | None = None,
) -> RecordTable:
    """The ``top`` sweep configurations by ``objective`` (best first: the highest, or the lowest
    for ``direction="min"``, default the objective's own direction as in
    :func:`levguard.backtest.sweeps.best`): names, swept parameters, the objective (bold) and the
    key metrics.  A short run's (``table.attrs["short_run"]``, set by
    :func:`~levguard.backtest.sweeps.sweep`) annualised metrics read ``n/a (<30d)`` as in
    :func:`metrics_table`; the ranking still uses their numbers.

    Raises
    ------
    InputError
        ``table`` is empty or has no column ``objective``.
    """
    from levguard.backtest.engine import SHORT_RUN_DAYS
    from levguard.report.sweep import NAME_COLUMNS, param_columns, param_label, top_configurations
    from levguard.report.tables import SHORT_RUN_METRICS

    best = top_configurations(table, objective, top, best=direction)
    params = [c for c in param_columns(table) if c != objective]
    names = [c for c in NAME_COLUMNS if c in best.columns]
    known = {k: (h, f) for h, k, f in _METRIC_COLUMNS}
    label, fmt_objective = known.get(objective, (objective, _general))
    out = RecordTable(
        title=title or f"Top {len(best)} of {len(table):,} configurations by {label}",
        header_style="bold",
        title_justify="left",
    )
    out.add_column("#", justify="right")
    for c in (*names, *params):
        if c in names:
            out.add_column(c, justify="left", overflow="fold", min_width=_record_name_width(best[c]))
        else:
            out.add_column(c, justify="right", no_wrap=True)
    out.add_column(label, justify="right", style="bold", no_wrap=True)
    keys = [(h, k, f) for h, k, f in _SWEEP_KEYS if k != objective and k in best.columns]
    for header, _, _ in keys:
        out.add_column(header, justify="right", no_wrap=True)
    # A short run's annualised metrics read n/a as in metrics_table (the ranking keeps the numbers).
    short = bool(table.attrs.get("short_run"))

    def cell(key: str, f: Callable[[Any], str], value: Any) -> str:
        return f"[dim]n/a (<{SHORT_RUN_DAYS:g}d)[/]" if short and key in SHORT_RUN_METRICS else f(value)

    for rank, row in best.iterrows():
        out.add_row(
            str(rank),
            *(param_label(row[c]) for c in (*names, *params)),
            cell(objective, fmt_objective, row[objective]),
            *(cell(k, f, row[k]) for _, k, f in keys),
        )
    return out


def render_report(report: AccountReport, console: Console, title: str | None = None) -> None:
    """Print a margin report: a positions table, a margin table and the account summary.

    Two narrow tables instead of one wide one keep the report readable in an 80-column terminal.
    """
    cur = report.settlement
    pos = FittingTable(
        title=title or f"{report.venue} margin report ({cur})", header_style="bold", title_justify="left"
    )
    for col in ("symbol", "side", "mode", "qty", "entry", "mark", "notional", "lev"):
        pos.add_column(col, justify="left" if col in ("symbol", "side", "mode") else "right")
    caption = None
    if report.liquidation_price_basis:
        # Unified accounts: what "liq price" holds fixed, and the units of COIN-M rows.
        caption = f"liq price: {report.liquidation_price_basis}"
        if any(p.contract_kind == "inverse" for p in report.positions):
            caption += "; inverse (COIN-M) rows are in their coin"
        if any(p.contract_kind == "option" for p in report.positions):
            caption += (
                "; option rows: USDC, notional = |qty| x mark, no liq price (the account MM rate decides), "
                "IM as given, tier column = MM factor"
            )
    mar = FittingTable(header_style="bold", caption=caption, caption_justify="left")
    for col in ("symbol", "IM", "MM", "uPnL", "liq price", "bankruptcy", "health", "tier"):
        mar.add_column(col, justify="left" if col == "symbol" else "right")
    for p in report.positions:
        health = "—" if p.health is None else f"{p.health:.2%}"
        # A row in a coin (an inverse contract, or a coin-settled account): 0.004 BTC is not "0.00".
        d = 6 if p.contract_kind == "inverse" or not is_usd(cur) else 2
        style = "bold red" if p.liquidatable else ("yellow" if p.health is not None and p.health < 0.05 else "")
        pos.add_row(
            p.symbol,
            p.side_name,
            p.margin_mode,
            fmt(abs(p.qty), 4),
            price(p.entry_price),
            price(p.mark_price),
            fmt(p.notional, d),
            "—" if not math.isfinite(p.leverage) else fmt(p.leverage, 1) + "x",
        )
        mar.add_row(
            p.symbol,
            fmt(p.initial_margin, d),
            fmt(p.maintenance_margin, d),
            fmt(p.unrealized_pnl, d),
            price(p.liquidation_price),
            price(p.bankruptcy_price),
            health,
            f"f {p.mmr:.2%}" if p.contract_kind == "option" else f"{p.tier} ({p.mmr:.2%})",
            style=style,
        )
    console.print(pos)
    console.print(mar)
    if report.collateral:
        held = FittingTable(header_style="bold")
        for name in ("collateral", "amount", "price", "haircut", "value"):
            held.add_column(name, justify="left" if name == "collateral" else "right")
        for c in report.collateral:
            held.add_row(c.asset, fmt(c.amount, 4), price(c.price), f"{c.haircut:.2%}", fmt(c.value))
        console.print(held)
    if report.account_ratio_name is not None:
        r = report.account_ratio
        # uniMMR is quoted as a number against 1.5 / 1.2 / 1.05; Bybit's MM rate as a percentage.
        value = "—" if r is None else (f"{r:,.2f}" if report.account_ratio_name == "uniMMR" else f"{r:.2%}")
        status = report.account_status or ""
        danger = report.liquidatable or status not in ("", "normal")
        console.print(
            f"{report.account_ratio_name} {value} · status "
            + (f"[bold red]{status}[/]" if danger else f"[green]{status}[/]")
        )
    if report.venue == "bybit-uta" and any(p.contract_kind == "option" for p in report.positions):
        from levguard.core.unified_options import option_totals

        t = option_totals(report)
        console.print(
            f"total equity {fmt(t.total_equity)} USD · options value {fmt(t.options_value)} "
            "(in total equity, not in the cross-margin balance)"
        )
    ratio = "—" if report.margin_ratio is None else f"{report.margin_ratio:.2%}"
    health = "—" if report.health is None else f"{report.health:.2%}"
    state = "[bold red]LIQUIDATABLE[/]" if report.liquidatable else "[green]ok[/]"
    # A unified account's ratio is the venue's own line above; levguard's MM / equity is labelled so.
    ratio_label = "MM / equity" if report.account_ratio_name is not None else "margin ratio"
    dc = 2 if is_usd(cur) else 6  # the account's amounts are in its settlement currency
    console.print(
        f"wallet {fmt(report.wallet_balance, dc)} {cur} · equity {fmt(report.equity, dc)} · "
        f"IM {fmt(report.initial_margin, dc)} · MM {fmt(report.maintenance_margin, dc)} · "
        f"{ratio_label} {ratio} · health {health} · {state}"
    )
