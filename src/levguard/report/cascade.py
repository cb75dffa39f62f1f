"""One self-contained HTML report of cascading-liquidation simulations (plotly, JavaScript embedded).

* One path (or several, compared): the price with the cascade against the exogenous price
  without it (the overshoot shaded between them) and the mark; liquidated notional per step
  (bars); notional closed by auto-deleveraging; number of liquidations; the insurance fund and
  cumulative bad debt; the mark against the traded price (bp).
* A Monte Carlo: the distribution of bad debt with its 95th and 99th percentiles and the budget
  ``K``; the distribution of liquidated volume; the aggregates as a table.
* A calibration table: ``P(bad debt > K)`` over two parameters as a heatmap (safe cells ticked,
  the best starred) and the frontier of capital efficiency against ``P(bad debt > K)``; the
  steps of a binary search for the largest safe cap.

Results are duck-typed (this layer does not import :mod:`levguard.cascade`): a path is anything with
``steps`` (a DataFrame with ``price``, ``exogenous``, ``mark``, ``liquidated_notional``,
``adl_notional``, ``liquidations``, ``insurance_fund``, ``bad_debt``) and ``summary`` (a dict),
like :class:`levguard.cascade.simulator.CascadeResult`; a Monte Carlo anything with ``paths`` (a
DataFrame with ``bad_debt`` and ``liquidated_notional`` per path) and ``aggregates`` (a dict),
like :class:`levguard.cascade.simulator.MonteCarloResult`; a calibration the tidy table of
:func:`levguard.cascade.simulator.calibrate`.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from levguard.errors import InputError
from levguard.report.embed import figures_html
from levguard.report.html import (
    _LEGEND_BELOW,
    MAX_POINTS,
    _color,
    _thin,
    _thin_range,
    add_line,
    format_cell,
    write_page,
)

__all__ = [
    "AGGREGATE_LABELS",
    "KEY_LABELS",
    "PATH_COLUMNS",
    "SUMMARY_LABELS",
    "calibration_figures",
    "key_numbers",
    "monte_carlo_figure",
    "path_figure",
    "write_cascade_report",
]

PATH_COLUMNS: tuple[str, ...] = (
    "price",
    "exogenous",
    "mark",
    "liquidated_notional",
    "adl_notional",
    "liquidations",
    "insurance_fund",
    "bad_debt",
)
"""Columns a path's ``steps`` table must hold."""

SUMMARY_LABELS: dict[str, str] = {
    "liquidated_notional": "liquidated notional",
    "accounts_liquidated": "accounts liquidated",
    "overshoot": "overshoot",
    "min_price": "min price",
    "min_exogenous": "min exogenous price",
    "fund_min": "insurance fund min",
    "fund_end": "insurance fund end",
    "adl_notional": "ADL notional",
    "adl_events": "ADL events",
    "bad_debt": "bad debt",
}
AGGREGATE_LABELS: dict[str, str] = {
    "n_paths": "paths",
    "budget": "budget K",
    "mean_bad_debt": "mean bad debt",
    "bad_debt_p95": "bad debt p95",
    "bad_debt_p99": "bad debt p99",
    "p_bad_debt_over_budget": "P(bad debt > K)",
    "expected_liquidated_notional": "expected liquidated notional",
    "mean_overshoot": "mean overshoot",
    "p_adl": "P(ADL)",
}
KEY_LABELS: dict[str, str] = {
    "liquidations": "liquidations",
    "accounts_liquidated": "accounts liquidated",
    "liquidated_notional": "notional liquidated",
    "bad_debt": "bad debt",
    "fund_start": "insurance fund start",
    "fund_min": "insurance fund min",
    "fund_end": "insurance fund end",
    "adl_events": "ADL events",
    "adl_notional": "ADL notional",
    "price_drawdown": "max drawdown of the price",
    "exogenous_drawdown": "max drawdown without the cascade",
    "overshoot": "overshoot",
    "min_price": "min price",
    "max_step_notional": "largest liquidated notional in a step",
    "steps": "steps",
}
"""Rows of a cascade report's key-numbers table (a path's summary and its step table)."""
_PERCENT = {"overshoot", "mean_overshoot", "p_bad_debt_over_budget", "p_adl", "price_drawdown", "exogenous_drawdown"}
_COUNTS = {"accounts_liquidated", "adl_events", "n_paths", "liquidations", "steps"}
_P = "p_bad_debt_over_budget"


# Counts with thousands separators, percentages to two decimals (a key in both is a percentage).
_FORMATS: dict[str, Callable[[float], str]] = {
    **dict.fromkeys(_COUNTS, lambda x: f"{round(x):,}"),
    **dict.fromkeys(_PERCENT, lambda x: f"{x:.2%}"),
}


def _amount(x: float) -> str:
    # Money: whole units from 1,000 up, cents below.
    return f"{x:,.0f}" if abs(x) >= 1_000 else f"{x:,.2f}"


def _fmt(key: str, value: Any) -> str:
    return format_cell(key, value, _FORMATS, _amount)


def _key_table(rows: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str], head: str) -> str:
    # One row per number, one column per path (or run): narrow enough for a phone.
    keys = [k for k in labels if any(k in r for r in rows.values())]
    header = "".join(f"<th>{html.escape(name)}</th>" for name in rows)
    body = "".join(
        f"<tr><th>{html.escape(labels[k])}</th>{''.join(f'<td>{_fmt(k, r.get(k))}</td>' for r in rows.values())}</tr>"
        for k in keys
    )
    return f"<div class='scroll'><table class='key'><tr><th>{html.escape(head)}</th>{header}</tr>{body}</table></div>"


def _max_drawdown(values: pd.Series) -> float:
    v = values.astype(float)
    v = v[np.isfinite(v) & (v > 0)]
    return float((v / v.cummax() - 1.0).min()) if len(v) else math.nan


def key_numbers(result: Any, name: str = "") -> dict[str, float]:
    """A path's key numbers: its ``summary`` and what its step table adds.

    From the steps: the number of liquidations (sum of ``liquidations``), the insurance fund at
    the start, the largest notional liquidated in one step, the number of steps, and the maximum
    drawdown of the price with the cascade and of the exogenous price without it,
    ``min_t(P_t / max_{s<=t} P_s) - 1`` (a fraction, negative).  Summary values win over the
    step-table ones of the same name (``liquidated_notional``, ``bad_debt``, ``fund_end``...,
    which the steps only approximate when an event was dropped).

    Raises
    ------
    InputError
        The result's step table lacks a column of :data:`PATH_COLUMNS`.
    """
    s = _steps(result, name)
    fund = s["insurance_fund"].astype(float)
    bad = s["bad_debt"].astype(float)
    out: dict[str, float] = {
        "liquidations": float(np.nansum(s["liquidations"].to_numpy(dtype=float))),
        "liquidated_notional": float(np.nansum(s["liquidated_notional"].to_numpy(dtype=float))),
        "adl_notional": float(np.nansum(s["adl_notional"].to_numpy(dtype=float))),
        "bad_debt": float(bad.iloc[-1]),
        "fund_start": float(fund.iloc[0]),
        "fund_min": float(fund.min()),
        "fund_end": float(fund.iloc[-1]),
        "price_drawdown": _max_drawdown(s["price"]),
        "exogenous_drawdown": _max_drawdown(s["exogenous"]),
        "min_price": float(s["price"].astype(float).min()),
        "max_step_notional": float(np.nanmax(s["liquidated_notional"].to_numpy(dtype=float))),
        "steps": float(len(s)),
    }
    summary = getattr(result, "summary", None) or {}
    for k, v in summary.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


# --------------------------------------------------------------------------- checks


def _as_mapping(obj: Any, what: str, attrs: Sequence[str]) -> dict[str, Any]:
    """``{name: result}`` from one result or a mapping of them; each must have ``attrs``."""
    if obj is None:
        return {}
    items = dict(obj) if isinstance(obj, Mapping) else {"": obj}
    if not items:
        raise InputError(f"{what} must hold at least one result, was empty")
    for name, r in items.items():
        for a in attrs:
            if not hasattr(r, a):
                label = f"{what}[{name!r}]" if name else what
                raise InputError(
                    f"{label} must have `{a}` (like levguard.cascade.{_KIND[what]}), was {type(r).__name__}"
                )
    return {str(k): v for k, v in items.items()}


_KIND = {"result": "CascadeResult", "monte_carlo": "MonteCarloResult"}


def _steps(r: Any, name: str) -> pd.DataFrame:
    steps = r.steps
    label = f"result[{name!r}]" if name else "result"
    if not isinstance(steps, pd.DataFrame) or steps.empty:
        raise InputError(f"{label}.steps must be a non-empty DataFrame, was {type(steps).__name__}")
    missing = [c for c in PATH_COLUMNS if c not in steps.columns]
    if missing:
        raise InputError(f"{label}.steps lacks columns {missing}")
    return steps


# --------------------------------------------------------------------------- one path


def _sum_buckets(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    # Flows (notional per step) summed per bucket of ``step`` steps so bars keep the total; returns
    # the first step of each bucket, the sums and the bucket width.
    n = values.shape[0]
    if n <= MAX_POINTS:
        return np.arange(n), values, 1
    step = -(-n // MAX_POINTS)
    padded = np.zeros(-(-n // step) * step)
    padded[:n] = np.nan_to_num(values)
    return np.arange(0, n, step), padded.reshape(-1, step).sum(axis=1), step


def _overlay_layout(fig: Any, height: int, *, left: int, top: int) -> None:
    # The cascade figures' layout: overlaid bars, the legend below, a 20 px right and 90 px bottom margin.
    margin = {"l": left, "r": 20, "t": top, "b": 90}
    fig.update_layout(height=height, template="plotly_white", barmode="overlay", legend=_LEGEND_BELOW, margin=margin)


def path_figure(results: Mapping[str, Any], *, height: int = 1500) -> Any:
    """The per-step figure of one or more paths (name -> result): a ``plotly.graph_objects.Figure``.

    Rows: price with the cascade (solid), exogenous price without it (dashed; the overshoot
    between them shaded) and the mark (dotted); liquidated notional per step (bars); ADL
    notional per step (bars); number of liquidations per step; insurance fund (solid) and
    cumulative bad debt (dashed); mark minus traded price in basis points.  Series longer than
    :data:`levguard.report.html.MAX_POINTS` are thinned: levels keep each bucket's extremes,
    flows are summed per bucket (the row title says how many steps a bar spans).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frames = {name: _steps(r, name) for name, r in results.items()}
    width = max(_sum_buckets(np.zeros(len(f)))[2] for f in frames.values())
    per = "per step" if width == 1 else f"per {width} steps"
    fig = make_subplots(
        rows=6,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.035,
        row_heights=[0.3, 0.14, 0.14, 0.14, 0.14, 0.14],
        subplot_titles=(
            "Price (log), exogenous dashed, mark dotted, ✕ liquidations",
            f"Liquidated notional {per}",
            f"ADL notional {per}",
            f"Liquidations {per}",
            "Insurance fund (solid), cumulative bad debt (dashed)",
            "Mark minus traded price (bp)",
        ),
    )
    fig.update_annotations(font_size=13)  # the subplot titles: they fit a phone
    for i, (name, s) in enumerate(frames.items()):
        color = _color(i)
        label = name or "path"
        group = label
        draw = functools.partial(add_line, fig, group=group, color=color)
        exo = _thin_range(s["exogenous"].astype(float))
        # Price with the cascade on the exogenous price's points, so the shaded band lines up.
        price = s["price"].astype(float).reindex(exo.index)
        draw(exo.index, exo.to_numpy(), 1, name=f"{label} without cascade", dash="dash")
        draw(
            price.index,
            price.to_numpy(),
            1,
            name=f"{label} with cascade",
            width=1.5,
            fill="tonexty",
            fillcolor=_color(i, 80).replace("hsl", "hsla").replace("%)", "%, 0.45)"),
        )
        # Liquidation markers on the price line, at the first step of each bucket with any.
        at, count, _ = _sum_buckets(s["liquidations"].to_numpy(dtype=float))
        _, notional, _ = _sum_buckets(s["liquidated_notional"].to_numpy(dtype=float))
        hit = count > 0
        if hit.any():
            steps_at = s.index[at[hit]]
            fig.add_trace(
                go.Scatter(
                    x=steps_at,
                    y=s["price"].astype(float).to_numpy()[at[hit]],
                    mode="markers",
                    name=f"{label} liquidations",
                    legendgroup=group,
                    marker={"symbol": "x", "size": 7, "color": "#b00", "line": {"width": 1}},
                    text=[
                        f"{int(c):,} liquidation{'s' if c != 1 else ''}, {v:,.0f} notional"
                        for c, v in zip(count[hit], notional[hit], strict=True)
                    ],
                    hovertemplate="step %{x}: %{text}<extra></extra>",
                ),
                row=1,
                col=1,
            )
        mark = _thin_range(s["mark"].astype(float))
        draw(mark.index, mark.to_numpy(), 1, name=f"{label} mark", dash="dot", showlegend=False)
        for row, col, what in (
            (2, "liquidated_notional", "liquidated"),
            (3, "adl_notional", "ADL"),
            (4, "liquidations", "liquidations"),
        ):
            x, y, w = _sum_buckets(s[col].to_numpy(dtype=float))
            keep = y != 0
            fig.add_trace(
                go.Bar(
                    x=s.index[x[keep]],
                    y=y[keep],
                    width=max(w, 1),
                    offset=0,
                    name=f"{label} {what}",
                    legendgroup=group,
                    showlegend=False,
                    marker={"color": color, "line": {"width": 0}},
                ),
                row=row,
                col=1,
            )
        for col, dash in (("insurance_fund", "solid"), ("bad_debt", "dash")):
            line = _thin(s[col].astype(float))
            draw(
                line.index,
                line.to_numpy(),
                5,
                name=f"{label} {col.replace('_', ' ')}",
                width=1.2,
                dash=dash,
                showlegend=False,
            )
        gap = _thin_range((s["mark"].astype(float) / s["price"].astype(float) - 1.0) * 1e4)
        draw(gap.index, gap.to_numpy(), 6, name=f"{label} mark - price", showlegend=False)
    _overlay_layout(fig, height, left=70, top=40)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="step", row=6, col=1)
    fig.update_yaxes(ticksuffix=" bp", row=6, col=1)
    return fig


# --------------------------------------------------------------------------- Monte Carlo


def _paths_table(mc: Any, name: str) -> pd.DataFrame:
    t = mc.paths
    label = f"monte_carlo[{name!r}]" if name else "monte_carlo"
    if not isinstance(t, pd.DataFrame) or t.empty:
        raise InputError(f"{label}.paths must be a non-empty DataFrame, was {type(t).__name__}")
    for c in ("bad_debt", "liquidated_notional"):
        if c not in t.columns:
            raise InputError(f"{label}.paths lacks column {c!r}")
    if not isinstance(mc.aggregates, Mapping):
        raise InputError(f"{label}.aggregates must be a dict, was {type(mc.aggregates).__name__}")
    return t


def monte_carlo_figure(runs: Mapping[str, Any]) -> Any:
    """Histograms of bad debt (p95, p99 and the budget ``K`` as vertical lines) and of liquidated
    notional per path, for one or more Monte Carlo results (name -> result)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    # Stacked, not side by side: each histogram keeps its width on a phone.
    fig = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=0.2,
        subplot_titles=("Bad debt per path (p95, p99, budget K)", "Liquidated notional per path"),
    )
    for i, (name, mc) in enumerate(runs.items()):
        t = _paths_table(mc, name)
        agg = mc.aggregates
        color = _color(i)
        label = name or "Monte Carlo"
        zero = float(np.mean(t["bad_debt"].to_numpy(dtype=float) <= 0.0))
        fig.add_trace(
            go.Histogram(
                x=t["bad_debt"].to_numpy(dtype=float),
                name=f"{label}: bad debt ({zero:.0%} of paths without)",
                legendgroup=label,
                marker={"color": color},
                opacity=0.7,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Histogram(
                x=t["liquidated_notional"].to_numpy(dtype=float),
                name=f"{label}: liquidated notional",
                legendgroup=label,
                showlegend=False,
                marker={"color": color},
                opacity=0.7,
            ),
            row=2,
            col=1,
        )
        for key, dash, text in (
            ("bad_debt_p95", "dash", "p95"),
            ("bad_debt_p99", "dot", "p99"),
            ("budget", "solid", "K"),
        ):
            v = agg.get(key)
            if v is None or not math.isfinite(float(v)):
                continue
            fig.add_vline(
                x=float(v),
                line={"color": "#b00" if key == "budget" else color, "dash": dash, "width": 1.5},
                annotation_text=f"{text} {float(v):,.0f}",
                annotation_position="top right" if key != "budget" else "top left",
                row=1,
                col=1,
            )
    _overlay_layout(fig, 720, left=60, top=60)
    fig.update_xaxes(title_text="bad debt (quote)", row=1, col=1)
    fig.update_xaxes(title_text="liquidated notional (quote)", row=2, col=1)
    fig.update_yaxes(title_text="paths", row=1, col=1)
    fig.update_yaxes(title_text="paths", row=2, col=1)
    return fig


# --------------------------------------------------------------------------- calibration


def _label(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float | np.floating) and float(v).is_integer() and abs(float(v)) < 1e15:
        return str(int(v))
    if isinstance(v, float | np.floating):
        return f"{float(v):.6g}"
    return "none" if v is None else str(v)


def _axis(values: pd.Series) -> list[Any]:
    distinct = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def _check_calibration(table: object, x: str | None, y: str | None) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"calibration must be a pandas DataFrame, was {type(table).__name__}")
    if table.empty:
        raise InputError("calibration table is empty: no parameter sets to report")
    for need in (_P, "safe"):
        if need not in table.columns:
            raise InputError(f"calibration table lacks column {need!r} (the table of levguard.cascade.calibrate)")
    axes: list[tuple[str, str | None]] = [("x", x), ("y", y)]
    for role, col in axes:
        if col is not None and col not in table.columns:
            raise InputError(
                f"{role}: calibration table has no column {col!r}; columns are {', '.join(map(str, table.columns))}"
            )
    if x is not None and x == y:
        raise InputError(f"x and y must differ, both were {x!r}")
    return table


def _cell_text(row: Mapping[Any, Any], params: Sequence[str]) -> str:
    bits = ", ".join(f"{p}={_label(row[p])}" for p in params)
    p99 = float(row.get("bad_debt_p99", math.nan))
    return f"{bits}<br>P(bad debt > K) = {float(row[_P]):.2%}<br>bad debt p99 = {p99:,.0f}"


def calibration_figures(
    table: pd.DataFrame, *, x: str | None, y: str | None, efficiency: str | None = None
) -> list[Any]:
    """The heatmap of ``P(bad debt > K)`` over ``x`` (columns) and ``y`` (rows; one row when None)
    and, when a capital-efficiency column is known, the frontier plot.

    Parameter sets that share a cell (they differ in other grid parameters) show the lowest
    ``P(bad debt > K)`` among them (the best choice of the others); the hover names it.  Safe
    cells (``P <= epsilon``) carry a tick, the best safe set a star.
    """
    import plotly.graph_objects as go

    t = _check_calibration(table, x, y)
    params = _params(t)
    if x is None:
        guess = efficiency or t.attrs.get("efficiency")
        x = str(guess) if guess in params else (params[0] if params else None)
        if x is None:
            raise InputError("x: the calibration table has no parameter column for the heatmap")
        y = y if y is not None else next((p for p in params if p != x), None)
    eps = t.attrs.get("epsilon")
    xs = _axis(t[x])
    ys = _axis(t[y]) if y is not None else [None]
    z = np.full((len(ys), len(xs)), np.nan)
    text = [["" for _ in xs] for _ in ys]
    marks = [["" for _ in xs] for _ in ys]
    for iy, yv in enumerate(ys):
        for ix, xv in enumerate(xs):
            cell = t[(t[x] == xv) & ((t[y] == yv) if y is not None else True)]
            if cell.empty:
                continue
            k = cell[_P].astype(float).idxmin()
            row = cell.loc[k]
            z[iy, ix] = float(row[_P])
            text[iy][ix] = _cell_text(row, params)
            best = "best" in cell.columns and bool(cell["best"].any())
            marks[iy][ix] = ("★ " if best else "✓ " if bool(cell["safe"].any()) else "") + f"{z[iy, ix]:.1%}"
    heat = go.Figure(
        go.Heatmap(
            z=z,
            x=[_label(v) for v in xs],
            y=[_label(v) for v in ys] if y is not None else ["all"],
            colorscale="RdYlGn_r",
            zmin=0.0,
            zmax=max(float(np.nanmax(z)) if np.isfinite(z).any() else 0.0, float(eps or 0.0) * 2, 1e-9),
            text=marks,
            texttemplate="%{text}",
            customdata=text,
            hovertemplate="%{customdata}<extra></extra>",
            colorbar={"title": "P(bad debt > K)", "tickformat": ".0%"},
        )
    )
    others = [p for p in params if p not in (x, y)]
    extra = f"; cells show the lowest over {', '.join(others)}" if others else ""
    eps_text = f" (safe: ≤ {float(eps):.1%}, ✓; best ★)" if eps is not None else " (safe ✓; best ★)"
    heat.update_layout(
        title=f"P(bad debt > K) by {x}{f' and {y}' if y else ''}{eps_text}{extra}",
        xaxis_title=x,
        yaxis_title=y or "",
        height=480,
        template="plotly_white",
    )
    heat.update_xaxes(type="category")
    heat.update_yaxes(type="category")
    figs = [heat]
    eff = efficiency or t.attrs.get("efficiency")
    if eff is not None and eff in t.columns:
        figs.append(_frontier(t, str(eff), params, eps))
    return figs


def _params(t: pd.DataFrame) -> list[str]:
    skip = set(AGGREGATE_LABELS) | {"safe", "best"}
    return [str(c) for c in t.columns if c not in skip]


def _frontier(t: pd.DataFrame, eff: str, params: Sequence[str], eps: Any) -> Any:
    import plotly.graph_objects as go

    e = pd.to_numeric(t[eff], errors="coerce").astype(float)
    p = t[_P].astype(float)
    fig = go.Figure()
    for safe, color, name in ((True, "hsl(140, 55%, 38%)", "safe"), (False, "hsl(0, 65%, 48%)", "unsafe")):
        m = t["safe"].astype(bool) == safe
        if m.any():
            fig.add_trace(
                go.Scatter(
                    x=e[m],
                    y=p[m],
                    mode="markers",
                    name=f"{name} parameter sets",
                    marker={"color": color, "size": 9, "opacity": 0.8},
                    customdata=[_cell_text(r, params) for r in t[m].to_dict("records")],
                    hovertemplate="%{customdata}<extra></extra>",
                )
            )
    # The efficient frontier: for each efficiency level, the lowest P(exceed) reachable at that level
    # or above (no set is both more efficient and safer).
    order = np.argsort(-e.to_numpy(), kind="stable")
    ev, pv = e.to_numpy()[order], p.to_numpy()[order]
    front_x, front_y, best_p = [], [], math.inf
    for xv, yv in zip(ev, pv, strict=True):
        if np.isfinite(xv) and yv < best_p:
            front_x.append(xv)
            front_y.append(yv)
            best_p = yv
    fig.add_trace(
        go.Scatter(
            x=front_x[::-1], y=front_y[::-1], mode="lines", name="frontier", line={"color": "#444", "dash": "dot"}
        )
    )
    if "best" in t.columns and t["best"].astype(bool).any():
        b = t[t["best"].astype(bool)]
        fig.add_trace(
            go.Scatter(
                x=pd.to_numeric(b[eff], errors="coerce"),
                y=b[_P].astype(float),
                mode="markers",
                name="best safe set",
                marker={"symbol": "star", "size": 18, "color": "gold", "line": {"color": "#333", "width": 1}},
            )
        )
    if eps is not None:
        fig.add_hline(y=float(eps), line={"color": "#b00", "dash": "dash"}, annotation_text=f"epsilon {float(eps):.1%}")
    fig.update_layout(
        title=f"Frontier: capital efficiency ({eff}) against P(bad debt > K)",
        xaxis_title=eff,
        yaxis_title="P(bad debt > K)",
        yaxis_tickformat=".0%",
        height=460,
        template="plotly_white",
    )
    return fig


def _search_html(search: Mapping[str, Any]) -> str:
    steps = search.get("steps") or []
    cap = search.get("safe_cap")
    par = html.escape(str(search.get("parameter", "cap")))
    found = "none in the range" if cap is None else f"{float(cap):,.4g}"
    head = f"<p>Largest safe {par}: <b>{found}</b> (binary search)</p>"
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{float(c):,.4g}</td><td>{float(pp):.2%}</td></tr>" for i, (c, pp) in enumerate(steps)
    )
    table = f"<table><tr><th>step</th><th>{par}</th><th>P(bad debt &gt; K)</th></tr>{rows}</table>"
    return f"{head}<div class='scroll'>{table}</div>"


def _calibration_html(t: pd.DataFrame, top: int = 10) -> str:
    params = _params(t)
    shown = t.sort_values(_P, kind="stable").head(top) if len(t) > top else t
    cols = [
        *params,
        "mean_bad_debt",
        "bad_debt_p95",
        "bad_debt_p99",
        _P,
        "expected_liquidated_notional",
        "safe",
        "best",
    ]
    cols = [c for c in cols if c in t.columns]
    head = "".join(f"<th>{html.escape(AGGREGATE_LABELS.get(c, c))}</th>" for c in cols)
    body = []
    for _, r in shown.iterrows():
        cells = "".join(
            f"<td>{_label(r[c]) if c in params or c in ('safe', 'best') else _fmt(c, r[c])}</td>" for c in cols
        )
        body.append(f"<tr>{cells}</tr>")
    note = (
        f"<p class='note'>{len(shown)} of {len(t)} parameter sets, lowest P(bad debt &gt; K) first.</p>"
        if len(t) > top
        else ""
    )
    return f"<h2>Calibration table</h2>{note}<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>"


# --------------------------------------------------------------------------- the page


def write_cascade_report(
    result_or_results: Any,
    path: str | Path,
    *,
    title: str = "levguard cascade",
    subtitle: str = "",
    monte_carlo: Any = None,
    calibration: pd.DataFrame | None = None,
    x: str | None = None,
    y: str | None = None,
    search: Mapping[str, Any] | None = None,
) -> Path:
    """Write the cascade report to ``path`` (one self-contained HTML file) and return the path.

    Parameters
    ----------
    result_or_results : CascadeResult, mapping name -> CascadeResult, or None
        Path(s) to draw step by step (see :func:`path_figure`).
    path : path
        Output ``.html`` file.
    monte_carlo : MonteCarloResult or mapping name -> MonteCarloResult, optional
        Bad-debt and liquidated-volume distributions and the aggregates table.
    calibration : DataFrame, optional
        The table of :func:`levguard.cascade.simulator.calibrate`; drawn as a heatmap over ``x`` and
        ``y`` (columns of the table) and a frontier plot (``table.attrs["efficiency"]``).
    search : mapping, optional
        The result of :func:`levguard.cascade.simulator.max_safe` (its binary-search steps).

    Raises
    ------
    InputError
        Nothing to report, a result without the expected tables, or unknown heatmap axes.
    """
    results = _as_mapping(result_or_results, "result", ("steps", "summary"))
    runs = _as_mapping(monte_carlo, "monte_carlo", ("paths", "aggregates"))
    if not results and not runs and calibration is None:
        raise InputError("nothing to report: give a path result, a Monte Carlo result or a calibration table")
    keys: list[str] = []
    sections: list[tuple[str, str, Any]] = []
    tables: list[str] = []
    if results:
        fig = path_figure(results)  # validates the step tables first
        rows = {name or "path": key_numbers(r, name) for name, r in results.items()}
        keys.append("<h2>Key numbers</h2>" + _key_table(rows, KEY_LABELS, "path"))
        extra = {name or "path": dict(r.summary) for name, r in results.items()}
        shown = {k: v for k, v in SUMMARY_LABELS.items() if k not in KEY_LABELS}
        if any(k in r for r in extra.values() for k in shown):
            keys.append(f"<details><summary>Rest of the summary</summary>{_key_table(extra, shown, 'path')}</details>")
        sections.append(
            (
                "Price with the cascade, liquidations, ADL, insurance fund",
                "Price on a log scale, the overshoot shaded between the price with the cascade and the "
                "exogenous price without it; ✕ marks steps with liquidations.",
                fig,
            )
        )
    if runs:
        fig = monte_carlo_figure(runs)
        rows = {name or "Monte Carlo": dict(mc.aggregates) for name, mc in runs.items()}
        keys.append("<h2>Monte Carlo</h2>" + _key_table(rows, AGGREGATE_LABELS, "run"))
        sections.append(("Monte Carlo distributions", "", fig))
    if calibration is not None:
        for k, cal in enumerate(calibration_figures(calibration, x=x, y=y)):
            sections.append(("Calibration" if k == 0 else "Frontier", "", cal))
        tables.append(_calibration_html(calibration))
    if search is not None:
        tables.append("<h2>Largest safe cap</h2>" + _search_html(search))
    parts = figures_html([fig for _, _, fig in sections])
    body = list(keys)
    for (head, note, _), part in zip(sections, parts, strict=True):
        body.append(f"<h2>{html.escape(head)}</h2>")
        if note:
            body.append(f"<p class='note'>{html.escape(note)}</p>")
        body.append(part)
    body.extend(tables)
    return write_page(path, title, subtitle, body)
