"""The HTML report of a historical crash replay (``levguard replay CONFIG.yaml --out report.html``).

One self-contained page (plotly.js embedded once by :func:`levguard.report.embed.figures_html`):
the per-venue-and-asset table, model beside observed; per asset the exogenous and venue price,
the liquidated and ADL notional per step, and the insurance fund path.

The result is duck-typed (this layer does not import :mod:`levguard.cascade`): anything with
``config.name``, ``config.start``, ``config.end``, ``table`` (a DataFrame of rows like
:attr:`levguard.cascade.replay.AssetReplay.row`) and ``assets`` (items with ``asset`` and a
per-step ``steps`` frame: ``exogenous, price, mark, liquidated_notional, adl_notional,
insurance_fund``), like :class:`levguard.cascade.replay.ReplayResult`.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from levguard.errors import InputError
from levguard.report.embed import figures_html
from levguard.report.html import write_page

__all__ = ["REPLAY_COLUMNS", "replay_figure", "replay_table_html", "write_replay_report"]

REPLAY_COLUMNS: dict[str, str] = {
    "liquidated_notional": "liquidated notional (book)",
    "adl_notional": "ADL notional",
    "liquidated_incl_adl": "liquidated incl. ADL side",
    "observed_liquidated_notional": "observed liquidated",
    "ratio_liquidated": "model / observed liquidated",
    "observed_adl_notional": "observed ADL",
    "ratio_adl": "model / observed ADL",
    "bad_debt": "bad debt",
    "fund_start": "insurance fund start",
    "fund_min": "insurance fund min",
    "fund_end": "insurance fund end",
    "first_liquidation": "first liquidation (UTC)",
    "first_adl": "first ADL (UTC)",
    "first_adl_delay_seconds": "first ADL after first liquidation (s)",
    "observed_first_adl_delay_seconds": "observed delay (s)",
    "peak_to_trough": "peak-to-trough (venue)",
    "exogenous_peak_to_trough": "peak-to-trough (exogenous)",
    "open_interest": "open interest (one side)",
    "accounts_liquidated": "accounts liquidated",
    "accounts_deleveraged": "accounts deleveraged (ADL counterparties)",
}
"""Rows of the report's table and their labels (the result's column names)."""

_PERCENT = {"peak_to_trough", "exogenous_peak_to_trough"}
_RATIO = {"ratio_liquidated", "ratio_adl"}


def _cell(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, str):
        return html.escape(value.replace("T", " ").replace("Z", "")) if value else "—"
    x = float(value)
    if key in _PERCENT:
        return f"{x:.1%}"
    if key in _RATIO:
        return f"{x:.2f}x"
    return f"{x:,.0f}"


def replay_table_html(table: Any) -> str:
    """The per-(venue, asset) table as HTML: one row per figure, one column per venue and asset."""
    rows = table.to_dict(orient="records")
    head = "".join(f"<th>{html.escape(str(r['venue']))} {html.escape(str(r['asset']))}</th>" for r in rows)
    body = []
    for key, label in REPLAY_COLUMNS.items():
        cells = "".join(f"<td>{_cell(key, r.get(key))}</td>" for r in rows)
        body.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f"<div class='scroll'><table><tr><th></th>{head}</tr>{''.join(body)}</table></div>"


# The figure's traces per asset: (row, bar, column of ``steps``, name, line or bar style, legend group).
_TRACES: tuple[tuple[int, bool, str, str, dict[str, str], str], ...] = (
    (1, False, "exogenous", "exogenous", {"dash": "dash", "color": "#888"}, "exo"),
    (1, False, "price", "venue price", {"color": "#1f77b4"}, "price"),
    (1, False, "mark", "mark", {"dash": "dot", "color": "#2ca02c"}, "mark"),
    (2, True, "liquidated_notional", "liquidated", {"color": "#d62728"}, "liq"),
    (2, True, "adl_notional", "ADL", {"color": "#9467bd"}, "adl"),
    (3, False, "insurance_fund", "insurance fund", {"color": "#ff7f0e"}, "fund"),
    (4, False, "depth_multiplier", "depth multiplier", {"color": "#8c564b"}, "depth"),
)


def replay_figure(result: Any) -> Any:
    """A plotly figure: per asset (one column each) price, liquidation and ADL flow, insurance fund
    and the book's depth multiplier (1: the calm book; below 1: the depth collapse)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    assets = list(result.assets)
    k = len(assets)
    rows = ("exogenous and venue price", "liquidated / ADL notional per step", "insurance fund",
            "book depth / calm depth")  # fmt: skip
    titles = [f"{a.asset}: {title}" for title in rows for a in assets]
    fig = make_subplots(rows=4, cols=k, subplot_titles=titles, shared_xaxes=True, vertical_spacing=0.06)
    for j, a in enumerate(assets, start=1):
        st = a.steps
        x = st.index.tz_convert("UTC").tz_localize(None)
        show = j == 1
        for row, bar, column, name, style, group in _TRACES:
            kw = {"marker_color": style["color"]} if bar else {"line": style}
            trace = (go.Bar if bar else go.Scatter)(
                x=x, y=st[column], name=name, legendgroup=group, showlegend=show, **kw
            )
            fig.add_trace(trace, row=row, col=j)
    fig.update_layout(
        height=1150,
        barmode="stack",
        template="plotly_white",
        legend={"orientation": "h", "x": 0.0, "y": 0.0, "yref": "container", "yanchor": "bottom"},
        margin={"l": 60, "r": 20, "t": 40, "b": 70},
    )
    return fig


def write_replay_report(result: Any, path: str | Path) -> Path:
    """Write the replay's self-contained HTML report to ``path``.

    Raises
    ------
    InputError
        ``result`` does not look like a replay result, or the file cannot be written.
    """
    for attr in ("config", "table", "assets"):
        if not hasattr(result, attr):
            raise InputError(f"result must be a replay result (with {attr!r}), was {type(result).__name__}")
    cfg = result.config
    note = (
        "Model: levguard.cascade.replay on the v2 simulator; the exogenous path is each asset's own "
        "1-minute klines, stepped through open, high, low and close. 'Liquidated incl. ADL side' "
        "counts as the upstream venue data do (liquidations plus the liquidated side of ADL matches)."
    )
    body = [
        f"<p class='note'>{html.escape(note)}</p>",
        "<h2>Per venue and asset</h2>",
        replay_table_html(result.table),
        "<h2>Paths</h2>",
        *figures_html([replay_figure(result)]),
    ]
    subtitle = f"{cfg.start} → {cfg.end} (UTC), step {cfg.step_seconds} s"
    try:
        return write_page(path, f"Replay: {cfg.name}", subtitle, body)
    except OSError as exc:
        raise InputError(f"--out: cannot write {path} ({exc.strerror or exc})") from None
