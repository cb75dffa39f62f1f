"""The HTML report of a contagion Monte Carlo (``levguard contagion CONFIG.yaml --out report.html``).

One self-contained page (plotly.js embedded once by :func:`levguard.report.html.figures_html`):
heatmaps of the asset -> asset and venue -> venue transmission matrices (mean per path), the
distribution of bad debt, ADL and liquidation fees (to the insurance fund, to liquidators) per
venue, the per-venue table, the worst path's hedged owners and the
calibration table when one was run.

The inputs are duck-typed (this layer does not import :mod:`levguard.cascade`): the Monte Carlo
result needs ``n_paths``, ``seed``, ``budget``, ``venues``, ``p_over_budget``, ``worst_path``,
``distribution``, ``asset_matrix``, ``venue_matrix`` and ``paths`` (with ``bad_debt_<venue>``
columns), like :class:`levguard.cascade.market_montecarlo.MarketMonteCarloResult`; the worst
path's report ``per_venue`` and ``hedged`` frames (and, with lending pools, ``pools`` and
``pool_to_venue``), like
:class:`levguard.cascade.contagion.ContagionReport`; the calibration ``table``, ``best``,
``alpha``.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from levguard.errors import InputError
from levguard.report.embed import figures_html
from levguard.report.html import write_page

__all__ = ["contagion_figures", "frame_html", "write_contagion_report"]


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        x = float(value)
        if not math.isfinite(x):
            return "—"
        if 0.0 < abs(x) < 1.0:
            return f"{x:.4g}"
        return f"{x:,.0f}"
    return html.escape(str(value))


def _percent(value: Any) -> str:
    x = float(value)
    return f"{x:.1%}" if math.isfinite(x) else "—"


def frame_html(frame: Any, index: bool = True) -> str:
    """A DataFrame as an HTML table: numbers with thousands separators, fractions to 4 digits,
    probabilities (rows or columns named ``p_...``) as percentages, ``owner`` ids as they are."""
    cols = [str(c) for c in frame.columns]
    head = ("<th></th>" if index else "") + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for name, row in frame.iterrows():
        lead = f"<th>{html.escape(str(name))}</th>" if index else ""
        cells = []
        for col, v in zip(cols, row.to_numpy(), strict=True):
            value = v.item() if hasattr(v, "item") else v
            if str(name).startswith("p_") or col.startswith("p_"):
                cells.append(f"<td>{_percent(value)}</td>")
            elif col == "owner":
                cells.append(f"<td>{html.escape(str(value))}</td>")
            else:
                cells.append(f"<td>{_cell(value)}</td>")
        rows.append(f"<tr>{lead}{''.join(cells)}</tr>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def _heatmap(frame: Any, title: str) -> Any:
    import plotly.graph_objects as go

    z = frame.to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"to {c}" for c in frame.columns],
            y=[f"from {i}" for i in frame.index],
            colorscale="Reds",
            text=[[f"{v:,.0f}" for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="%{y} %{x}: %{z:,.0f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=360, template="plotly_white", yaxis={"autorange": "reversed"},
                      margin={"l": 90, "r": 20, "t": 50, "b": 50})  # fmt: skip
    return fig


def contagion_figures(mc: Any) -> list[Any]:
    """Plotly figures: the two transmission heatmaps and the bad-debt distribution per venue."""
    import plotly.graph_objects as go

    figs = [
        _heatmap(mc.asset_matrix, "Asset → asset: force-closed notional per path (mean, quote)"),
        _heatmap(mc.venue_matrix, "Venue → venue: notional carried by arbitrage per path (mean, quote)"),
    ]
    dist = go.Figure()
    for v in mc.venues:
        dist.add_trace(go.Histogram(x=mc.paths[f"bad_debt_{v}"], name=str(v), opacity=0.6, nbinsx=40))
    dist.add_trace(go.Histogram(x=mc.paths["bad_debt"], name="total", opacity=0.4, nbinsx=40))
    dist.add_vline(x=float(mc.budget), line_dash="dash", line_color="#444", annotation_text="budget")
    dist.update_layout(
        title="Bad debt per path, by venue", barmode="overlay", height=380, template="plotly_white",
        xaxis_title="bad debt (quote)", yaxis_title="paths", margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )  # fmt: skip
    figs.append(dist)
    return figs


def write_contagion_report(name: str, mc: Any, worst: Any, path: str | Path, *, calibration: Any = None) -> Path:
    """Write the contagion report to ``path`` (one self-contained HTML page).

    Raises
    ------
    InputError
        An input lacks what the report needs, or the file cannot be written.
    """
    for attr in ("distribution", "asset_matrix", "venue_matrix", "paths", "venues", "budget", "worst_path"):
        if not hasattr(mc, attr):
            raise InputError(f"mc must be a market Monte Carlo result (with {attr!r}), was {type(mc).__name__}")
    for attr in ("per_venue", "hedged"):
        if not hasattr(worst, attr):
            raise InputError(f"worst must be a contagion report (with {attr!r}), was {type(worst).__name__}")
    note = (
        "Model: levguard.cascade.market_montecarlo on the market simulator v2. Asset → asset: the notional "
        "force-closed in the destination asset, split over the assets whose losses drove each account under "
        "(loss share at the liquidation step; a convention). Venue → venue: arbitrage flow into the "
        "destination's book attributed to the venues whose dislocation it relieved. "
    )
    pools = getattr(worst, "pools", None)
    flows = getattr(worst, "pool_to_venue", None)
    note += (
        "Pool → venue: not modelled (the market has no lending pools)."
        if pools is None
        else "Pool → venue: the rows of that transmission from or to a lending pool; a pool's deficit is the debt "
        "its collateral did not cover (the venue's bad debt column nets it against the liquidators' bonus)."
    )
    figs = figures_html(contagion_figures(mc))
    body = [
        f"<p class='note'>{html.escape(note)}</p>",
        "<h2>Bad debt, ADL and liquidation fees per path</h2>",
        f"<p>P(total bad debt &gt; {float(mc.budget):,.0f}) = <b>{float(mc.p_over_budget):.1%}</b></p>",
        "<p class='note'>Fund fees: liquidation fees (and takeover clearances) credited to the venue's "
        "insurance fund. Liquidator fees: fees paid out to liquidators by venues that do not book them to "
        "the fund (lending pools: the liquidation bonus).</p>",
        frame_html(mc.distribution.T),
        figs[2],
        "<h2>Who transmitted losses to whom</h2>",
        figs[0],
        figs[1],
        f"<h2>Worst path ({int(mc.worst_path)}): per venue</h2>",
        frame_html(worst.per_venue.T),
        "<h2>Hedged owners on the worst path</h2>",
        frame_html(worst.hedged, index=False) if len(worst.hedged) else "<p>No owner has accounts on two venues.</p>",
    ]
    if pools is not None:
        body += [
            f"<h2>Lending pools on the worst path ({int(mc.worst_path)})</h2>",
            frame_html(pools.T),
            "<h3>Pool ↔ venue transmission</h3>",
            frame_html(flows, index=False) if flows is not None and len(flows) else "<p>No arbitrage flow.</p>",
        ]
    if calibration is not None:
        best = calibration.best
        chosen = ", ".join(f"{k} = {v:g}" for k, v in best.items()) if best else "no grid point meets the budget"
        body += [
            f"<h2>Calibration: cheapest setting with P(bad debt &gt; budget) ≤ {float(calibration.alpha):g}</h2>",
            f"<p>Best: {html.escape(chosen)}</p>",
            frame_html(calibration.table, index=False),
        ]
    subtitle = f"{int(mc.n_paths):,} paths, seed {mc.seed}, budget {float(mc.budget):,.0f}"
    try:
        return write_page(path, f"Contagion: {name}", subtitle, body)
    except OSError as exc:
        raise InputError(f"--out: cannot write {path} ({exc.strerror or exc})") from None
