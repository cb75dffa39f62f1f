"""One self-contained HTML report comparing backtest results (plotly, JavaScript embedded).

Panels: equity per policy (log scale) with liquidation markers; drawdown; leverage over time
against its target; cumulative funding and fees; and the metrics table.  The file opens offline:
plotly.js is embedded, nothing is fetched.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from levguard.errors import InputError

__all__ = ["METRIC_LABELS", "metrics_table", "write_report"]

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
    "fees_paid": "fees paid",
    "funding_paid": "funding paid",
    "turnover": "turnover",
    "avg_leverage": "avg leverage",
    "max_leverage": "max leverage",
    "worst_bar": "worst bar",
}
_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "time_under_water", "worst_bar"}


def metrics_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Metrics of each result (``result.metrics``) as a table: one row per policy."""
    rows = {name: {k: r.metrics.get(k) for k in METRIC_LABELS} for name, r in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def _fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if key in _PERCENT:
        return f"{value:.1%}"
    if key == "n_liquidations":
        return f"{int(value)}"
    return f"{value:,.2f}"


def _table_html(results: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in METRIC_LABELS.values())
    body = []
    for name, r in results.items():
        cells = "".join(f"<td>{_fmt(k, r.metrics.get(k))}</td>" for k in METRIC_LABELS)
        cls = ' class="liq"' if (r.metrics.get("n_liquidations") or 0) > 0 else ""
        body.append(f"<tr{cls}><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(body)}</table>"


MAX_POINTS = 3_000
"""Points per curve in the report; longer series are bucketed (the file stays a few MB)."""


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
        ``price``), ``funding`` and ``fees`` (Series per bar), and ``metrics``.
    path : path
        Output ``.html`` file.
    heatmap : DataFrame, optional
        A sweep's objective over two parameters (index x columns), drawn as a heatmap.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not results:
        raise InputError("results must hold at least one backtest result")
    fig = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.4, 0.2, 0.2, 0.2],
        subplot_titles=(
            "Equity (log scale) and liquidations",
            "Drawdown",
            "Leverage (solid) and target (dotted)",
            "Cumulative funding and fees paid",
        ),
    )
    for i, (name, r) in enumerate(results.items()):
        color = f"hsl({(i * 67) % 360}, 65%, 45%)"
        eq = r.equity
        fig.add_trace(
            go.Scatter(x=eq.index, y=eq.to_numpy(), name=name, legendgroup=name, line={"color": color, "width": 1.5}),
            row=1,
            col=1,
        )
        liq = r.liquidations
        if len(liq):
            ts = pd.to_datetime(liq["timestamp"])
            fig.add_trace(
                go.Scatter(
                    x=ts,
                    y=eq.reindex(ts, method="ffill").to_numpy(),
                    mode="markers",
                    name=f"{name} liquidations",
                    legendgroup=name,
                    showlegend=False,
                    marker={"symbol": "x", "size": 10, "color": color},
                    hovertext=[f"liquidated at {p:,.2f}" for p in liq["price"]],
                ),
                row=1,
                col=1,
            )
        dd = _thin(eq / eq.cummax() - 1.0, "min")
        fig.add_trace(
            go.Scatter(
                x=dd.index,
                y=dd.to_numpy(),
                name=name,
                legendgroup=name,
                showlegend=False,
                line={"color": color, "width": 1},
            ),
            row=2,
            col=1,
        )
        pos = r.positions
        if len(pos) > MAX_POINTS:
            step = -(-len(pos) // MAX_POINTS)
            pos = pos.iloc[step - 1 :: step]
        if "leverage" in pos:
            fig.add_trace(
                go.Scatter(
                    x=pos.index,
                    y=pos["leverage"].to_numpy(),
                    name=name,
                    legendgroup=name,
                    showlegend=False,
                    line={"color": color, "width": 1},
                ),
                row=3,
                col=1,
            )
        if "target_leverage" in pos:
            fig.add_trace(
                go.Scatter(
                    x=pos.index,
                    y=pos["target_leverage"].to_numpy(),
                    name=f"{name} target",
                    legendgroup=name,
                    showlegend=False,
                    line={"color": color, "width": 1, "dash": "dot"},
                ),
                row=3,
                col=1,
            )
        paid = _thin((r.funding.cumsum() + r.fees.cumsum()) if len(r.funding) else r.fees.cumsum())
        fig.add_trace(
            go.Scatter(
                x=paid.index,
                y=paid.to_numpy(),
                name=name,
                legendgroup=name,
                showlegend=False,
                line={"color": color, "width": 1},
            ),
            row=4,
            col=1,
        )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_layout(
        height=1100,
        template="plotly_white",
        legend={"orientation": "h", "y": 1.03},
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )
    parts = [fig.to_html(full_html=False, include_plotlyjs=True)]
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
        parts.append(hm.to_html(full_html=False, include_plotlyjs=False))
    style = (
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;"
        "font-size:13px;margin:16px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}"
        "tr.liq th{color:#b00}h1{font-size:22px}"
    )
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{style}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>{_table_html(results)}"
        f"{''.join(parts)}</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out
