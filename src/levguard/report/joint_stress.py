"""The liquidation surface and reverse stress section of the ``levguard risk`` HTML report.

One plotly contour of the venue's account ratio over the grid of joint moves of two assets, with
the liquidation boundary (the grid's liquidated/safe edge, exact at every grid point), the current
point and the reverse-stress scenario; and a table of that minimal shock.  plotly.js is embedded
once, by :func:`levguard.report.html.figures_html`.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from levguard.core.risk.joint_ladder import LiquidationLadder
from levguard.core.risk.joint_stress import LiquidationSurface, ReverseStress
from levguard.report.html import figures_html, write_page

__all__ = ["joint_stress_body", "ladder_figure", "surface_figure", "write_joint_stress_report"]


def surface_figure(surface: LiquidationSurface, reverse: ReverseStress | None = None) -> Any:
    """A plotly figure of ``surface``: the ratio as filled contours, the liquidation boundary as a line."""
    import plotly.graph_objects as go

    x = 100.0 * surface.moves_x
    y = 100.0 * surface.moves_y
    ratio = np.where(np.isfinite(surface.ratio), surface.ratio, np.nan)
    # Colour range centred on the trigger, so the boundary region reads at a glance.
    trig = surface.trigger
    lo, hi = (0.0, 4.0 * trig) if surface.ratio_rises_when_safer else (0.0, 2.0 * trig)
    fig = go.Figure()
    fig.add_trace(
        go.Contour(
            x=x,
            y=y,
            z=np.clip(ratio, lo, hi),
            zmin=lo,
            zmax=hi,
            colorscale="RdYlGn" if surface.ratio_rises_when_safer else "RdYlGn_r",
            contours={"coloring": "heatmap", "showlines": False},
            colorbar={"title": {"text": surface.ratio_name}},
            name=surface.ratio_name,
            hovertemplate=f"{surface.asset_x} %{{x:.1f}} %<br>{surface.asset_y} %{{y:.1f}} %<br>"
            f"{surface.ratio_name} %{{z:.4g}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Contour(
            x=x,
            y=y,
            z=surface.liquidatable.astype(np.float64),
            contours={"start": 0.5, "end": 0.5, "size": 1.0, "coloring": "none"},
            line={"color": "black", "width": 3},
            showscale=False,
            name="liquidation boundary",
            showlegend=True,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(x=[0.0], y=[0.0], mode="markers", marker={"symbol": "x", "size": 12, "color": "black"}, name="now")
    )
    if reverse is not None and reverse.found and set(reverse.assets) == {surface.asset_x, surface.asset_y}:
        moves = dict(zip(reverse.assets, reverse.moves, strict=True))
        fig.add_trace(
            go.Scatter(
                x=[100.0 * moves[surface.asset_x]],
                y=[100.0 * moves[surface.asset_y]],
                mode="markers",
                marker={"symbol": "star", "size": 16, "color": "magenta"},
                name=f"minimal shock ({reverse.norm:.2f} sd)",
            )
        )
    fig.update_layout(
        title=f"Liquidation surface ({surface.venue}): joint moves of {surface.asset_x} and {surface.asset_y}",
        xaxis_title=f"{surface.asset_x} move (%) from {surface.price_x:,.2f}",
        yaxis_title=f"{surface.asset_y} move (%) from {surface.price_y:,.2f}",
        height=640,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def ladder_figure(ladder: LiquidationLadder, reverse: ReverseStress | None = None) -> Any:
    """The venue's ratio along the moves of the account's one asset, the trigger and the liquidated moves."""
    import plotly.graph_objects as go

    x = 100.0 * ladder.moves
    ratio = np.where(np.isfinite(ladder.ratio), ladder.ratio, np.nan)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=ratio, mode="lines", name=ladder.ratio_name))
    liq = ladder.liquidatable
    fig.add_trace(
        go.Scatter(x=x[liq], y=ratio[liq], mode="markers", name="liquidatable", marker={"color": "#c0392b", "size": 5})
    )
    fig.add_hline(y=ladder.trigger, line_dash="dash", line_color="#c0392b", annotation_text="trigger")
    if reverse is not None and reverse.found and reverse.assets == (ladder.asset,):
        fig.add_vline(x=100.0 * reverse.moves[0], line_dash="dot", annotation_text="reverse stress")
    fig.update_layout(
        title=f"{ladder.ratio_name} ({ladder.venue}) along moves of {ladder.asset}, every other price held",
        xaxis_title=f"{ladder.asset} move (%) from {ladder.price:,.2f}",
        yaxis_title=ladder.ratio_name,
        height=460,
    )
    return fig


def _num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _reverse_table(reverse: ReverseStress) -> str:
    if not reverse.found:
        return (
            f"<p>No joint move of {html.escape(', '.join(reverse.assets))} within {reverse.max_norm:g} standard "
            "deviations liquidates the account.</p>"
        )
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{_num(reverse.prices_before[a])}</td><td>{_num(reverse.prices_after[a])}</td>"
        f"<td>{m:+.2%}</td><td>{s:+.4f}</td></tr>"
        for a, m, s in zip(reverse.assets, reverse.moves, reverse.shock, strict=True)
    )
    ratio = "—" if reverse.ratio is None else f"{reverse.ratio:.4f}"
    return (
        f"<p>Smallest liquidating joint shock: <b>{reverse.norm:.3f}</b> standard deviations (Mahalanobis norm); "
        f"there the account has equity {_num(reverse.equity)}, maintenance margin {_num(reverse.maintenance_margin)}, "
        f"{html.escape(reverse.ratio_name)} {ratio}.</p>"
        "<table><thead><tr><th>asset</th><th>price now</th><th>price at the shock</th><th>move</th>"
        f"<th>log move</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def joint_stress_body(
    surface: LiquidationSurface | None,
    reverse: ReverseStress,
    note: str = "",
    ladder: LiquidationLadder | None = None,
) -> list[str]:
    """The section's HTML fragments (heading, note, the figures with plotly.js embedded, the table):
    the two-asset surface, or the one-asset ladder, or both."""
    out = ["<h2>Liquidation surface and reverse stress</h2>"]
    if note:
        out.append(f"<p class='note'>{html.escape(note)}</p>")
    figures = [surface_figure(surface, reverse)] if surface is not None else []
    if ladder is not None:
        figures.append(ladder_figure(ladder, reverse))
    out.extend(figures_html(figures))
    out.append(_reverse_table(reverse))
    return out


def write_joint_stress_report(
    path: str | Path,
    surface: LiquidationSurface | None,
    reverse: ReverseStress,
    *,
    title: str = "",
    note: str = "",
    ladder: LiquidationLadder | None = None,
) -> Path:
    """Write the liquidation surface (or one-asset ladder) and reverse stress as one self-contained HTML page."""
    if surface is not None:
        where = f"{surface.venue} · {surface.asset_x} × {surface.asset_y}"
    elif ladder is not None:
        where = f"{ladder.venue} · {ladder.asset}"
    else:
        where = reverse.venue
    return write_page(
        path, title or "levguard risk: liquidation surface", where, joint_stress_body(surface, reverse, note, ladder)
    )
