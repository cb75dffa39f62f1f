"""HTML report of a parameter sweep: objective heatmaps, the best configurations, equity curves.

The input is a tidy sweep table: one row per configuration with the names ``strategy`` and
``policy``, one column per swept parameter (``target_vol``, ``max_leverage``, ``stop_loss``...)
and the metric columns of a backtest (``sharpe``, ``max_drawdown``, ``n_liquidations``...).
Columns that are neither names nor metrics are taken as parameters.

A heatmap shows the objective over two parameters.  Configurations that fall in the same cell
(they differ in other parameters) are aggregated by the best value: the maximum, or the minimum
for a metric where lower is better (``max_drawdown``, ``volatility``, ``fees_paid``...), by the
one table of directions :func:`levguard.backtest.sweeps.best` uses
(:data:`~levguard.kernels.backtest_metrics.METRIC_DIRECTION`; ``best="max"`` or ``"min"``
overrides it).  The heatmap's title says so, and each cell's hover names the configuration shown.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from levguard.errors import InputError
from levguard.kernels.backtest_metrics import SWEEP_DIRECTION, rank_order
from levguard.kernels.backtest_metrics import TABLE_METRICS as _RUN_METRICS
from levguard.report.html import METRIC_LABELS, Fragment, fmt_metric, tearsheet_body, write_page
from levguard.report.tables import SHORT_RUN_METRICS, short_run_cell

__all__ = [
    "NAME_COLUMNS",
    "SWEEP_METRICS",
    "best_direction",
    "param_columns",
    "param_label",
    "sweep_heatmap",
    "top_configurations",
    "write_sweep_report",
]

NAME_COLUMNS: tuple[str, ...] = ("strategy", "policy")
"""Columns naming a configuration's strategy and leverage policy."""

# The sweep table's metric columns: the backtester's own list, so the two cannot drift apart.
SWEEP_METRICS: tuple[str, ...] = _RUN_METRICS
"""Metric columns of a sweep table (``max_leverage`` there is the swept parameter, not a metric)."""

_KEY_METRICS = ("total_return", "cagr", "max_drawdown", "sharpe", "n_liquidations", "bad_debt", "avg_leverage")
_LABEL_OF = {**METRIC_LABELS, "max_leverage_used": "max leverage used", "final_equity": "final equity"}
_ANNOTATE_MAX_CELLS = 400
_LIQ_MARK = " ✕"

Best = Literal["max", "min"]


def best_direction(best: Best | None = None, objective: str | None = None) -> Best:
    """``best`` checked; None: the objective's own direction
    (:data:`~levguard.kernels.backtest_metrics.METRIC_DIRECTION`, as
    :func:`levguard.backtest.sweeps.best`), ``"max"`` for a column that is not a metric."""
    if best is None:
        return "min" if SWEEP_DIRECTION.get(str(objective)) == "min" else "max"
    if best not in ("max", "min"):
        raise InputError(f"best must be 'max' or 'min', was {best!r}")
    return best


def param_columns(table: pd.DataFrame) -> list[str]:
    """The swept-parameter columns of a sweep table: neither names nor metrics, in table order."""
    skip = set(NAME_COLUMNS) | set(SWEEP_METRICS)
    return [str(c) for c in table.columns if c not in skip]


def _check(table: object, columns: Sequence[tuple[str, str | None]]) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"sweep table must be a pandas DataFrame, was {type(table).__name__}")
    if table.empty:
        raise InputError("sweep table is empty: no configurations to report")
    for role, col in columns:
        if col is not None and col not in table.columns:
            raise InputError(
                f"{role}: sweep table has no column {col!r}; columns are {', '.join(map(str, table.columns))}"
            )
    return table


def _objective(table: pd.DataFrame, objective: str) -> pd.Series:
    values = pd.to_numeric(table[objective], errors="coerce")
    if values.isna().all() and table[objective].notna().any():
        raise InputError(f"objective: column {objective!r} is not numeric")
    return values.astype(float)


def _is_missing(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float | np.floating):
        return math.isnan(float(v))
    return v is pd.NA or v is pd.NaT


def param_label(v: object) -> str:
    """A parameter value as an axis label: ``2``, ``0.3``, ``none`` for missing."""
    if _is_missing(v):
        return "none"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        x = float(v)
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.6g}"
    return str(v)


def _ordered(values: pd.Series) -> list[str]:
    """Distinct labels of ``values`` in axis order: missing first, then numbers ascending, else text order."""
    distinct = list(dict.fromkeys(values.tolist()))
    missing = [v for v in distinct if _is_missing(v)]
    present = [v for v in distinct if not _is_missing(v)]
    try:
        present.sort(key=float)
    except (TypeError, ValueError):
        present.sort(key=str)
    return list(dict.fromkeys(param_label(v) for v in [*missing[:1], *present]))


def _ranked(table: pd.DataFrame, objective: str, best: Best) -> pd.DataFrame:
    """``table`` sorted best first by ``objective``, by the rule of
    :func:`levguard.backtest.sweeps.best` (:func:`~levguard.kernels.backtest_metrics.rank_order`:
    infinite values rank as such, missing values last, ruined runs after every other, ties keep
    table order)."""
    values = _objective(table, objective).to_numpy(dtype=np.float64)
    ruined = table["ruined"].to_numpy(dtype=np.float64) > 0.0 if "ruined" in table.columns else None
    return table.iloc[rank_order(values, best, ruined)]


def top_configurations(
    table: pd.DataFrame, objective: str = "sharpe", n: int = 20, *, best: Best | None = None
) -> pd.DataFrame:
    """The ``n`` best configurations by ``objective``: names, parameters, objective, key metrics.

    Rows are numbered from 1 (index ``rank``); missing objectives rank last.  ``best``: ``"max"``
    or ``"min"``, default the objective's own direction (:func:`best_direction`).
    """
    _check(table, [("objective", objective)])
    if n < 1:
        raise InputError(f"n must be >= 1, was {n}")
    direction = best_direction(best, objective)
    cols = [c for c in NAME_COLUMNS if c in table.columns] + [c for c in param_columns(table) if c != objective]
    cols.append(objective)
    cols += [m for m in _KEY_METRICS if m in table.columns and m not in cols]
    top = _ranked(table, objective, direction).head(n).loc[:, cols].reset_index(drop=True)
    top.index = pd.RangeIndex(1, len(top) + 1, name="rank")
    return top


def _cell_note(row: Mapping[Hashable, Any], names: Sequence[str], skip: set[str | None]) -> str:
    return ", ".join(f"{c}={param_label(row[c])}" for c in names if c in row and c not in skip)


def sweep_heatmap(
    table: pd.DataFrame,
    x: str,
    y: str,
    objective: str = "sharpe",
    facet: str | None = None,
    *,
    best: Best | None = None,
) -> Any:
    """Heatmap of ``objective`` over parameters ``x`` (columns) and ``y`` (rows): a plotly Figure.

    One panel per value of ``facet`` (e.g. ``"strategy"``), on one shared colour scale.
    Configurations in the same cell are aggregated by the best value: the maximum, or the minimum
    for objectives where lower is better (``best``, default the objective's own direction,
    :func:`best_direction`); the title says so.  Cells
    are annotated with the value; cells whose shown configuration was liquidated are marked
    ``✕`` (and by a marker trace ``liquidated`` when the grid is too large for annotations).

    Raises
    ------
    InputError
        ``table`` is empty, a column does not exist, ``x == y`` or the facet is an axis.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _check(table, [("x", x), ("y", y), ("objective", objective), ("facet", facet)])
    if x == y:
        raise InputError(f"x and y must be different columns, both were {x!r}")
    if facet is not None and facet in (x, y):
        raise InputError(f"facet must differ from x and y, was {facet!r}")
    direction = best_direction(best, objective)
    obj = _objective(table, objective)
    xs, ys = _ordered(table[x]), _ordered(table[y])
    facets = _ordered(table[facet]) if facet is not None else [""]
    ranked = _ranked(table.assign(_obj=obj), objective, direction)
    ranked = ranked.assign(
        _x=ranked[x].map(param_label),
        _y=ranked[y].map(param_label),
        _f=ranked[facet].map(param_label) if facet is not None else "",
    )
    keys = ["_f", "_y", "_x"]
    counts = ranked.groupby(keys, sort=False).size()
    liq = pd.to_numeric(ranked["n_liquidations"], errors="coerce") if "n_liquidations" in ranked else None
    liq_counts = (
        (liq > 0).groupby([ranked[k] for k in keys], sort=False).sum() if liq is not None else pd.Series(dtype=int)
    )
    shown = ranked.drop_duplicates(keys, keep="first")
    cells: dict[tuple[str, str, str], pd.Series] = {
        (str(r["_f"]), str(r["_y"]), str(r["_x"])): r for _, r in shown.iterrows()
    }
    duplicates = int(counts.max()) > 1
    how = "minimum" if direction == "min" else "maximum"
    label = _LABEL_OF.get(objective, objective)
    agg_note = (
        f"each cell shows the {how} over its {int(counts.min())}–{int(counts.max())} configurations"
        if duplicates
        else "one configuration per cell"
    )
    if duplicates and int(counts.min()) == int(counts.max()):
        agg_note = f"each cell shows the {how} over its {int(counts.max())} configurations"
    ncols = min(len(facets), 3)
    nrows = -(-len(facets) // ncols)
    height = max(420, 380 * nrows + 120)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=[f"{facet} = {f}" for f in facets] if facet is not None else None,
        horizontal_spacing=0.08 if ncols > 1 else 0.0,
        vertical_spacing=min(0.12, 90 / height) if nrows > 1 else 0.0,
    )
    annotate = len(xs) * len(ys) <= _ANNOTATE_MAX_CELLS
    finite = obj[np.isfinite(obj)]
    names = [c for c in (*NAME_COLUMNS, *param_columns(table)) if c in table.columns and c != objective]
    for k, f in enumerate(facets):
        row, col = divmod(k, ncols)
        z: list[list[float | None]] = []
        text: list[list[str]] = []
        hover: list[list[str]] = []
        marks: list[tuple[str, str]] = []
        for yl in ys:
            z_row: list[float | None] = []
            t_row: list[str] = []
            h_row: list[str] = []
            for xl in xs:
                key = (f, yl, xl)
                if key not in cells:
                    z_row.append(None)
                    t_row.append("")
                    h_row.append("no configuration")
                    continue
                rec = cells[key]
                value = float(rec["_obj"])
                z_row.append(value if math.isfinite(value) else None)
                liquidated = liq is not None and float(rec["n_liquidations"] or 0) > 0
                t_row.append(_fmt_value(objective, value) + (_LIQ_MARK if liquidated else ""))
                n_cell = int(counts[key])
                n_liq = int(liq_counts.get(key, 0)) if liq is not None else 0
                note = _cell_note(rec.to_dict(), names, {x, y, facet})
                h_row.append(
                    f"{n_cell} configuration{'s' if n_cell > 1 else ''}"
                    + (f", {n_liq} liquidated" if liq is not None else "")
                    + (f"<br>shown: {html.escape(note)}" if note else "")
                    + (f"<br>shown configuration liquidated {int(rec['n_liquidations'])}x" if liquidated else "")
                )
                if liquidated:
                    marks.append((xl, yl))
            z.append(z_row)
            text.append(t_row)
            hover.append(h_row)
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=xs,
                y=ys,
                text=text,
                customdata=hover,
                texttemplate="%{text}" if annotate else None,
                hovertemplate=(
                    f"{html.escape(x)}=%{{x}}<br>{html.escape(y)}=%{{y}}<br>{html.escape(label)}: %{{text}}"
                    "<br>%{customdata}<extra></extra>"
                ),
                coloraxis="coloraxis",
                name=f"{facet} = {f}" if facet is not None else label,
                xgap=1,
                ygap=1,
            ),
            row=row + 1,
            col=col + 1,
        )
        if marks and not annotate:
            fig.add_trace(
                go.Scatter(
                    x=[m[0] for m in marks],
                    y=[m[1] for m in marks],
                    mode="markers",
                    name="liquidated",
                    showlegend=False,
                    marker={"symbol": "x-thin", "size": 8, "line": {"width": 2, "color": "#c00"}},
                    hoverinfo="skip",
                ),
                row=row + 1,
                col=col + 1,
            )
        fig.update_xaxes(
            type="category", categoryorder="array", categoryarray=xs, title_text=x, row=row + 1, col=col + 1
        )
        fig.update_yaxes(
            type="category", categoryorder="array", categoryarray=ys, title_text=y, row=row + 1, col=col + 1
        )
    coloraxis: dict[str, Any] = {
        "colorscale": "Viridis",
        "reversescale": direction == "min",
        "colorbar": {"title": {"text": label}},
    }
    if len(finite):
        coloraxis.update(cmin=float(finite.min()), cmax=float(finite.max()))
    fig.update_layout(
        title={
            "text": f"{label} by {x} and {y}<br><sup>{agg_note}"
            + ("; ✕ = liquidated" if liq is not None else "")
            + "</sup>"
        },
        coloraxis=coloraxis,
        height=height,
        template="plotly_white",
        margin={"l": 70, "r": 20, "t": 100, "b": 50},
    )
    fig.layout.meta = {"aggregation": direction if duplicates else "none", "objective": objective}
    return fig


def _fmt_value(key: str, value: Any) -> str:
    return fmt_metric(key, value) if key in _LABEL_OF else _plain(value)


def _plain(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "—" if not math.isfinite(x) else f"{x:,.4g}"


def _top_html(
    top: pd.DataFrame, objective: str, columns: Sequence[str] | None = None, short_days: float | None = None
) -> str:
    params = set(param_columns(top)) - {objective}
    cols = [c for c in top.columns if columns is None or c in columns]

    def header(c: str) -> str:
        text = html.escape(c if c in params or c in NAME_COLUMNS else _LABEL_OF.get(c, c))
        cls = " class='wrap'" if columns is not None else ""  # the key table's headers wrap on a phone
        return f"<th{cls}><b>{text}</b></th>" if c == objective else f"<th{cls}>{text}</th>"

    head = "".join(header(str(c)) for c in cols)
    body = []
    for rank, row in top.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if c in NAME_COLUMNS or c in params:
                cells.append(f"<td>{html.escape(param_label(v))}</td>")
            elif short_days is not None and c in SHORT_RUN_METRICS:  # as in the tearsheet's tables
                cells.append(short_run_cell(str(c), v, short_days))
            else:
                cells.append(f"<td>{_fmt_value(str(c), v)}</td>")
        liq = row.get("n_liquidations")
        bad = row.get("bad_debt")
        flagged = any(v is not None and not _is_missing(v) and float(v) > 0 for v in (liq, bad))
        cls = ' class="liq"' if flagged else ""
        body.append(f"<tr{cls}><th>{rank}</th>{''.join(cells)}</tr>")
    cls = "top" if columns is None else "top key"
    return f"<div class='scroll'><table class='{cls}'><tr><th>#</th>{head}</tr>{''.join(body)}</table></div>"


_TOP_KEY_METRICS = ("max_drawdown", "n_liquidations")


def _plain_title(fig: Any) -> str:
    # The figure's title as one line of text (for the page, where it wraps on a phone).
    text = str(fig.layout.title.text or "")
    return re.sub(r"<[^>]+>", "", text.replace("<br>", ": "))


def _top_key_columns(top: pd.DataFrame, objective: str, axes: Sequence[str | None]) -> list[str]:
    """The top table's key columns: names, the heatmap's axes (and facet), the objective, max
    drawdown and liquidations; the other parameters and metrics go to the full table."""
    keep = [c for c in NAME_COLUMNS if c in top.columns]
    keep += [c for c in axes if c is not None and c in top.columns and c not in keep and c != objective]
    keep.append(objective)
    keep += [m for m in _TOP_KEY_METRICS if m in top.columns and m not in keep]
    return keep


def write_sweep_report(
    table: pd.DataFrame,
    path: str | Path,
    *,
    x: str,
    y: str,
    objective: str = "sharpe",
    facet: str | None = None,
    title: str = "levguard sweep",
    subtitle: str = "",
    results: Mapping[str, Any] | None = None,
    top: int = 20,
    best: Best | None = None,
    data: pd.DataFrame | pd.Series | None = None,
    crashes: pd.DataFrame | None = None,
) -> Path:
    """Write the HTML report of a sweep to ``path`` (one self-contained file, plotly embedded once).

    Sections: the heatmap of ``objective`` over ``x`` and ``y`` (:func:`sweep_heatmap`; one
    panel per ``facet`` value); the ``top`` best configurations (:func:`top_configurations`:
    names, the heatmap's axes, the objective, max drawdown and liquidations, every column in a
    ``<details>``); then the tearsheet of ``results`` (name -> BacktestResult) when given, with
    the same sections as :func:`levguard.report.html.write_report` (key metrics, price, equity
    and drawdown, leverage against its target, monthly returns, rolling volatility,
    liquidations).  With ``data`` (the bars the sweep ran on) the price panel is drawn, crash
    windows shaded (``crashes``, as in ``write_report``), even without ``results``.  ``best``
    (``"max"`` or ``"min"``) ranks and aggregates by the highest or the lowest objective; default
    the objective's own direction (:func:`best_direction`: lower is better for ``max_drawdown``).

    Raises
    ------
    InputError
        ``table`` is empty, a named column does not exist, or ``data`` has no ``close`` column.
    """
    heat = sweep_heatmap(table, x, y, objective, facet, best=best)
    direction = best_direction(best, objective)
    best_first = top_configurations(table, objective, top, best=direction)
    label = _LABEL_OF.get(objective, objective)
    n_liq = int((pd.to_numeric(table["n_liquidations"], errors="coerce") > 0).sum()) if "n_liquidations" in table else 0
    summary = (
        f"{len(table):,} configurations; objective {label} ({'higher' if direction == 'max' else 'lower'} is better)"
        + (f"; {n_liq:,} liquidated at least once" if "n_liquidations" in table else "")
        + "."
    )
    # A short run (sweep's attrs): its annualised metrics read n/a in the tables, as in the tearsheet.
    short_days = float(table.attrs.get("span_days", math.nan)) if table.attrs.get("short_run") else None
    if short_days is not None:
        summary += (
            f" The run spans {short_days:.3g} days: its annualised metrics ({', '.join(SHORT_RUN_METRICS)}) "
            "extrapolate that to a year and read n/a; the ranking and the heatmap still use them."
        )
    key_cols = _top_key_columns(best_first, objective, (x, y, facet))
    before: list[Fragment] = [
        f"<p class='note'>{html.escape(summary)}</p>",
        ("Objective heatmap", _plain_title(heat), heat),
        f"<h2>Top {len(best_first)} configurations by {html.escape(label)}</h2>",
        _top_html(best_first, objective, key_cols, short_days),
    ]
    if len(key_cols) < len(best_first.columns):
        every = _top_html(best_first, objective, short_days=short_days)
        before.append(f"<details><summary>Every column</summary>{every}</details>")
    if results:
        before.append(f"<h2>Selected results: {html.escape(', '.join(map(str, results)))}</h2>")
    body = tearsheet_body(results or {}, data=data, crashes=crashes, before=before)
    return write_page(path, title, subtitle, body)
