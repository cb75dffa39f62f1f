"""One self-contained HTML report comparing backtest results (plotly, JavaScript embedded).

Panels: equity per policy (log scale) with liquidation markers (one marker shape per instrument
when a result trades several); drawdown; gross leverage over time against the policy's target;
cumulative funding and fees; with several instruments, leverage per instrument against its
target; and the metrics table.  The file opens offline: plotly.js is embedded, nothing is fetched.

Results are duck-typed (this layer does not import :mod:`levguard.backtest`): anything with
``equity`` and ``metrics``, and optionally ``positions``, ``liquidations``, ``funding``,
``fees`` and ``instruments`` like :class:`levguard.backtest.engine.BacktestResult`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from levguard.errors import InputError

__all__ = [
    "MAX_POINTS",
    "METRIC_LABELS",
    "comparison_figure",
    "instruments_figure",
    "metrics_table",
    "write_report",
]

METRIC_LABELS: dict[str, str] = {
    "total_return": "total return",
    "cagr": "CAGR",
    "volatility": "volatility",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "max drawdown",
    "calmar": "Calmar",
    "time_under_water": "time under water",
    "n_liquidations": "liquidations",
    "bad_debt": "bad debt",
    "fees_paid": "fees paid",
    "funding_paid": "funding paid",
    "turnover": "turnover",
    "avg_leverage": "avg leverage",
    "max_leverage": "max leverage",
    "worst_bar": "worst bar",
    "orders_clipped": "orders clipped",
    "limit_orders_unfilled": "limit orders unfilled",
}
_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "time_under_water", "worst_bar"}
_COUNTS = {"n_liquidations", "orders_clipped", "limit_orders_unfilled"}
_ALIASES = {"max_leverage": "max_leverage_used", "max_leverage_used": "max_leverage"}
_MARKERS = ("x", "diamond", "triangle-down", "star", "cross", "square", "triangle-up", "hexagon")

MAX_POINTS = 3_000
"""Points per curve in the report; longer series are bucketed (the file stays a few MB)."""

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;"
    "font-size:13px;margin:16px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}"
    "tr.liq th{color:#b00}h1{font-size:22px}h2{font-size:17px;margin-top:28px}p.note{color:#555}"
)


def _metric(metrics: Mapping[str, Any], key: str) -> Any:
    value = metrics.get(key)
    if value is None and key in _ALIASES:
        value = metrics.get(_ALIASES[key])
    return value


def metrics_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Metrics of each result (``result.metrics``) as a table: one row per policy."""
    rows = {name: {k: _metric(r.metrics, k) for k in METRIC_LABELS} for name, r in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def fmt_metric(key: str, value: Any) -> str:
    """A metric formatted for a table cell: percentages, counts, amounts; missing as a dash."""
    if value is None:
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if not math.isfinite(x):
        return "—"
    if key in _PERCENT:
        return f"{x:.1%}"
    if key in _COUNTS:
        return f"{int(x)}"
    return f"{x:,.2f}"


def _table_html(results: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in METRIC_LABELS.values())
    body = []
    for name, r in results.items():
        cells = "".join(f"<td>{fmt_metric(k, _metric(r.metrics, k))}</td>" for k in METRIC_LABELS)
        bad = (r.metrics.get("n_liquidations") or 0) > 0 or (r.metrics.get("bad_debt") or 0) > 0
        cls = ' class="liq"' if bad else ""
        body.append(f"<tr{cls}><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(body)}</table>"


def _thin(series: pd.Series, how: str = "last") -> pd.Series:
    # Bucket long series: the last value per bucket for levels, the minimum for drawdowns (so the
    # deepest point survives).  Liquidation markers are drawn from the exact events.
    n = len(series)
    if n <= MAX_POINTS:
        return series
    step = -(-n // MAX_POINTS)
    keys = np.arange(n) // step
    grouped = series.groupby(keys)
    values = grouped.min() if how == "min" else grouped.last()
    index = series.index[np.minimum(np.arange(len(values)) * step + step - 1, n - 1)]
    if how == "min":
        pos = grouped.apply(lambda s: s.index[int(np.argmin(s.to_numpy()))] if len(s) else s.index[0])
        index = pd.Index(pos.to_numpy())
    return pd.Series(values.to_numpy(), index=index)


def _thin_range(series: pd.Series) -> pd.Series:
    # Bucket a level series keeping each bucket's lowest and highest points (and the last one), so
    # crashes and peaks survive: at most about MAX_POINTS points.
    n = len(series)
    if n <= MAX_POINTS:
        return series
    step = -(-n // (MAX_POINTS // 2))
    v = series.to_numpy(dtype=float)
    padded = np.full(-(-n // step) * step, np.nan)
    padded[:n] = v
    blocks = padded.reshape(-1, step)
    base = np.arange(blocks.shape[0]) * step
    lo = base + np.argmin(np.where(np.isnan(blocks), np.inf, blocks), axis=1)
    hi = base + np.argmax(np.where(np.isnan(blocks), -np.inf, blocks), axis=1)
    rows = np.unique(np.concatenate([lo, hi, [n - 1]]))
    rows = rows[rows < n]
    return series.iloc[rows]


def _thin_frame(frame: pd.DataFrame) -> pd.DataFrame:
    # The last row of each bucket (and the final row), so columns stay aligned on one index.
    n = len(frame)
    if n <= MAX_POINTS:
        return frame
    step = -(-n // MAX_POINTS)
    rows = np.unique(np.r_[np.arange(step - 1, n, step), n - 1])
    return frame.iloc[rows]


def _color(i: int, lightness: int = 45) -> str:
    return f"hsl({(i * 67) % 360}, 65%, {lightness}%)"


def _series(obj: Any, name: str) -> pd.Series | None:
    s = getattr(obj, name, None)
    return s if isinstance(s, pd.Series) and len(s) else None


def _frame(obj: Any, name: str) -> pd.DataFrame | None:
    f = getattr(obj, name, None)
    return f if isinstance(f, pd.DataFrame) else None


def _instruments(r: Any) -> dict[str, pd.DataFrame]:
    inst = getattr(r, "instruments", None)
    if not isinstance(inst, Mapping):
        return {}
    return {str(k): v for k, v in inst.items() if isinstance(v, pd.DataFrame)}


def _liq_symbols(results: Mapping[str, Any]) -> list[str]:
    # Symbols that get their own marker shape: those of multi-instrument results' liquidations.
    out: list[str] = []
    for r in results.values():
        liq = _frame(r, "liquidations")
        multi = len(_instruments(r)) > 1 or (liq is not None and "symbol" in liq and liq["symbol"].nunique() > 1)
        if multi and liq is not None and "symbol" in liq:
            out.extend(s for s in map(str, liq["symbol"].unique()) if s not in out)
    return out


def _liq_text(row: Mapping[Hashable, Any], with_symbol: bool) -> str:
    head = f"{row['symbol']} " if with_symbol and "symbol" in row else ""
    side = f"{row['side']} " if "side" in row and isinstance(row["side"], str) else ""
    text = f"{head}{side}liquidated at {float(row['price']):,.2f}"
    bad = row.get("bad_debt")
    if bad is not None and math.isfinite(float(bad)) and float(bad) > 0:
        text += f"; bad debt {float(bad):,.2f}"
    return text


def comparison_figure(results: Mapping[str, Any], *, height: int = 1150) -> Any:
    """The comparison figure of ``results`` (name -> result): a ``plotly.graph_objects.Figure``.

    Rows: equity (log scale) with liquidation markers; drawdown; gross leverage (solid) against
    the policy's target (``positions["target_leverage"]``, dotted) when present; cumulative
    funding (solid) and fees (dashed).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.4, 0.2, 0.2, 0.2],
        subplot_titles=(
            "Equity (log scale) and liquidations",
            "Drawdown",
            "Leverage (solid) against its target (dotted)",
            "Cumulative funding (solid) and fees (dashed) paid",
        ),
    )
    marker_of = {sym: _MARKERS[k % len(_MARKERS)] for k, sym in enumerate(_liq_symbols(results))}
    for i, (name, r) in enumerate(results.items()):
        color = _color(i)
        eq = r.equity
        line = _thin_range(eq)
        fig.add_trace(
            go.Scatter(
                x=line.index, y=line.to_numpy(), name=name, legendgroup=name, line={"color": color, "width": 1.5}
            ),
            row=1,
            col=1,
        )
        liq = _frame(r, "liquidations")
        if liq is not None and len(liq):
            per_symbol = "symbol" in liq and any(s in marker_of for s in map(str, liq["symbol"].unique()))
            groups = liq.groupby(liq["symbol"].astype(str), sort=False) if per_symbol else [("", liq)]
            for sym, part in groups:
                ts = pd.to_datetime(part["timestamp"])
                fig.add_trace(
                    go.Scatter(
                        x=ts,
                        y=eq.reindex(ts, method="ffill").to_numpy(),
                        mode="markers",
                        name=f"{name} liquidations{f' {sym}' if sym else ''}",
                        legendgroup=name,
                        showlegend=False,
                        marker={"symbol": marker_of.get(str(sym), "x"), "size": 10, "color": color},
                        hovertext=[_liq_text(row, bool(sym)) for row in part.to_dict("records")],
                    ),
                    row=1,
                    col=1,
                )
        dd = _thin(eq / eq.cummax() - 1.0, "min")
        fig.add_trace(
            go.Scatter(
                x=dd.index,
                y=dd.to_numpy(),
                name=f"{name} drawdown",
                legendgroup=name,
                showlegend=False,
                line={"color": color, "width": 1},
            ),
            row=2,
            col=1,
        )
        pos = _frame(r, "positions")
        if pos is not None and len(pos):
            pos = _thin_frame(pos)
            for col, label, dash in (("leverage", "leverage", "solid"), ("target_leverage", "target", "dot")):
                if col in pos:
                    fig.add_trace(
                        go.Scatter(
                            x=pos.index,
                            y=pos[col].to_numpy(),
                            name=f"{name} {label}",
                            legendgroup=name,
                            showlegend=False,
                            line={"color": color, "width": 1, "dash": dash},
                        ),
                        row=3,
                        col=1,
                    )
        for attr, dash in (("funding", "solid"), ("fees", "dash")):
            s = _series(r, attr)
            if s is None:
                continue
            paid = _thin(s.fillna(0.0).cumsum())
            fig.add_trace(
                go.Scatter(
                    x=paid.index,
                    y=paid.to_numpy(),
                    name=f"{name} {attr}",
                    legendgroup=name,
                    showlegend=False,
                    line={"color": color, "width": 1, "dash": dash},
                ),
                row=4,
                col=1,
            )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_yaxes(ticksuffix="x", row=3, col=1)
    fig.update_layout(
        height=height,
        template="plotly_white",
        legend={"orientation": "h", "y": 1.03},
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )
    return fig


def instruments_figure(results: Mapping[str, Any]) -> Any | None:
    """Leverage per instrument (solid) against its target (dotted), one row per result that
    trades several instruments, with liquidation markers; None when no result has several.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    multi = {name: _instruments(r) for name, r in results.items() if len(_instruments(r)) > 1}
    if not multi:
        return None
    symbols: list[str] = []
    for inst in multi.values():
        symbols.extend(s for s in inst if s not in symbols)
    color_of = {s: _color(k + 3, 40) for k, s in enumerate(symbols)}
    rows = len(multi)
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(0.08, 0.3 / rows),
        subplot_titles=[f"{name}: leverage per instrument (solid) and target (dotted)" for name in multi],
    )
    shown: set[str] = set()
    for row, (name, inst) in enumerate(multi.items(), start=1):
        liq = _frame(results[name], "liquidations")
        for sym, df in inst.items():
            color = color_of[sym]
            thin = _thin_frame(df)
            for col, dash in (("leverage", "solid"), ("target_leverage", "dot")):
                if col not in thin:
                    continue
                first = col == "leverage" and sym not in shown
                shown.add(sym)
                fig.add_trace(
                    go.Scatter(
                        x=thin.index,
                        y=thin[col].to_numpy(),
                        name=sym if col == "leverage" else f"{sym} target",
                        legendgroup=sym,
                        showlegend=first,
                        line={"color": color, "width": 1, "dash": dash},
                        hovertemplate=f"{name} · {sym} {col.replace('_', ' ')}: %{{y:.2f}}x<extra></extra>",
                    ),
                    row=row,
                    col=1,
                )
            if liq is not None and len(liq) and "symbol" in liq and "leverage" in df:
                part = liq[liq["symbol"].astype(str) == sym]
                if len(part):
                    ts = pd.to_datetime(part["timestamp"])
                    before = df["leverage"].shift(1).reindex(ts, method="ffill").to_numpy()
                    fig.add_trace(
                        go.Scatter(
                            x=ts,
                            y=before,
                            mode="markers",
                            name=f"{sym} liquidations",
                            legendgroup=sym,
                            showlegend=False,
                            marker={"symbol": "x", "size": 10, "color": color},
                            hovertext=[_liq_text(r, True) for r in part.to_dict("records")],
                        ),
                        row=row,
                        col=1,
                    )
        fig.update_yaxes(ticksuffix="x", row=row, col=1)
    fig.update_layout(
        height=max(320, 260 * rows),
        template="plotly_white",
        legend={"orientation": "h", "y": 1.05},
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )
    return fig


def figures_html(figures: Sequence[Any]) -> list[str]:
    """HTML fragments of plotly figures; plotly.js is embedded once, in the first."""
    return [fig.to_html(full_html=False, include_plotlyjs=(k == 0)) for k, fig in enumerate(figures)]


def write_page(path: str | Path, title: str, subtitle: str, body: Sequence[str]) -> Path:
    """Write one self-contained HTML page (``body`` fragments in order) to ``path``."""
    sub = f"<p>{html.escape(subtitle)}</p>" if subtitle else ""
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{sub}{''.join(body)}</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out


def write_report(
    results: Mapping[str, Any],
    path: str | Path,
    *,
    title: str = "levguard backtest",
    subtitle: str = "",
    heatmap: pd.DataFrame | None = None,
) -> Path:
    """Write the comparison report of ``results`` (name -> BacktestResult) to ``path``.

    Parameters
    ----------
    results : Mapping[str, BacktestResult]
        Each with ``equity`` (Series), ``positions`` (DataFrame with a ``leverage`` column and
        optionally ``target_leverage``), ``liquidations`` (DataFrame with ``timestamp`` and
        ``price``, optionally ``symbol``, ``side`` and ``bad_debt``), ``funding`` and ``fees``
        (Series per bar), ``metrics`` and optionally ``instruments`` (symbol -> DataFrame with
        ``leverage`` and ``target_leverage``).
    path : path
        Output ``.html`` file.
    heatmap : DataFrame, optional
        A sweep's objective over two parameters (index x columns), drawn as a heatmap.  For a
        tidy sweep table use :func:`levguard.report.sweep.write_sweep_report`.
    """
    import plotly.graph_objects as go

    if not results:
        raise InputError("results must hold at least one backtest result")
    figures = [comparison_figure(results)]
    per_instrument = instruments_figure(results)
    if per_instrument is not None:
        figures.append(per_instrument)
    if heatmap is not None and not heatmap.empty:
        hm = go.Figure(
            go.Heatmap(
                z=heatmap.to_numpy(),
                x=[str(c) for c in heatmap.columns],
                y=[str(i) for i in heatmap.index],
                colorscale="Viridis",
            )
        )
        hm.update_layout(
            title="Sweep objective",
            xaxis_title=str(heatmap.columns.name or ""),
            yaxis_title=str(heatmap.index.name or ""),
            height=500,
            template="plotly_white",
        )
        hm.update_xaxes(type="category")
        hm.update_yaxes(type="category")
        figures.append(hm)
    return write_page(path, title, subtitle, [_table_html(results), *figures_html(figures)])
