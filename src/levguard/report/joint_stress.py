"""The liquidation surface and reverse stress section of the ``levguard risk`` HTML report.

One plotly contour of the venue's account ratio over the grid of joint moves of two assets, with
the liquidation boundary (the grid's liquidated/safe edge, exact at every grid point), the region
where equity is gone (shaded, in the legend), the current point and the reverse-stress scenario;
and a table of that minimal shock.  The colours are clipped to a range around the trigger, the
hover gives each grid point's true ratio, equity and maintenance margin.  plotly.js is embedded
once, by :func:`levguard.report.embed.figures_html`.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from levguard.core.risk.joint_ladder import LiquidationLadder
from levguard.core.risk.joint_stress import LiquidationSurface, ReverseStress
from levguard.report.embed import figures_html
from levguard.report.html import write_page
from levguard.report.prices import fmt_price

__all__ = ["BANKRUPT", "WIPED_OUT", "joint_stress_body", "ladder_figure", "surface_figure", "write_joint_stress_report"]


WIPED_OUT = "liquidated (equity <= 0)"
"""Legend and hover label of the scenarios that leave no equity (where an MM-over-equity ratio is undefined)."""

BANKRUPT = "bankrupt (equity <= 0)"
"""The same where the account has no futures to liquidate (``trigger="bankruptcy"``): the flagged
points are where the cross part's equity reaches 0 and its ratio (no maintenance margin) is 0."""

_WIPED_COLOR = "rgba(20, 20, 20, 0.55)"


def _ratio_text(ratio: float, equity: float, liquidatable: bool, wiped_out: str = WIPED_OUT) -> str:
    # One point's hover value: the venue's true (unclipped) ratio, and whether the trigger is met.
    value = f"{ratio:.4g}" if math.isfinite(ratio) else "undefined"
    return f"{value}, {wiped_out}" if equity <= 0.0 else f"{value}, liquidatable" if liquidatable else value


def _texts(
    ratio: np.ndarray, equity: np.ndarray, liquidatable: np.ndarray, wiped_out: str = WIPED_OUT
) -> npt.NDArray[np.object_]:
    # The hover value of every point (str), in the arrays' shape.
    columns = (ratio.ravel().tolist(), equity.ravel().tolist(), liquidatable.ravel().tolist())
    flat = [_ratio_text(r, e, q, wiped_out) for r, e, q in zip(*columns, strict=True)]
    return np.asarray(flat, dtype=object).reshape(ratio.shape)


def _hover(ratio_name: str, head: str) -> str:
    # ``text`` holds the ratio (:func:`_texts`), ``customdata`` the equity and maintenance margin.
    return (
        f"{head}{ratio_name} %{{text}}<br>equity %{{customdata[0]:,.2f}}<br>"
        "maintenance margin %{customdata[1]:,.2f}<extra></extra>"
    )


def _worst(rises_when_safer: bool, lo: float, hi: float) -> float:
    # The unsafe end of a ratio's range: low for equity over MM, high for MM over equity.
    return lo if rises_when_safer else hi


def surface_figure(
    surface: LiquidationSurface, reverse: ReverseStress | None = None, trigger: str = "liquidation"
) -> Any:
    """A plotly figure of ``surface``: the ratio as filled contours (colours clipped to a range
    around the trigger, hover the true values), the liquidation boundary as a line and the points
    where equity is <= 0 shaded (trace :data:`WIPED_OUT`).  With ``trigger="bankruptcy"`` (no
    futures: the flagged points are where the equity reaches 0) the colours are the equity's,
    centred on 0, the line the bankruptcy boundary and the shading :data:`BANKRUPT`."""
    import plotly.graph_objects as go

    broke = trigger == "bankruptcy"
    wiped_out = BANKRUPT if broke else WIPED_OUT

    x = 100.0 * surface.moves_x
    y = 100.0 * surface.moves_y
    ratio = np.where(np.isfinite(surface.ratio), surface.ratio, np.nan)
    wiped = surface.equity <= 0.0
    # Colour range centred on the trigger, so the boundary region reads at a glance; a liquidated
    # point whose ratio is undefined (MM / equity at equity <= 0) takes the unsafe end, not a hole.
    trig = surface.trigger
    lo, hi = (0.0, 4.0 * trig) if surface.ratio_rises_when_safer else (0.0, 2.0 * trig)
    shown = np.clip(ratio, lo, hi)
    # An undefined ratio (no equity, or no maintenance margin) is a colour too, never a hole:
    # the unsafe end where the account is liquidatable, the safe end where it is not.
    undefined = np.isnan(ratio)
    shown[undefined & surface.liquidatable] = _worst(surface.ratio_rises_when_safer, lo, hi)
    shown[undefined & ~surface.liquidatable] = _worst(not surface.ratio_rises_when_safer, lo, hi)
    scale, z_name, rising = f"{surface.ratio_name} (clipped)", surface.ratio_name, surface.ratio_rises_when_safer
    if broke:  # no maintenance margin: the ratio is 0 everywhere; the equity is what reaches 0
        hi = float(np.max(np.abs(surface.equity), initial=1.0)) or 1.0
        lo, shown, scale, z_name, rising = -hi, surface.equity.copy(), "equity", "equity", True
    head = f"{surface.asset_x} %{{x:.1f}} %<br>{surface.asset_y} %{{y:.1f}} %<br>"
    fig = go.Figure()
    fig.add_trace(
        go.Contour(
            x=x,
            y=y,
            z=shown.astype(np.float32),  # colours only: the hover reads the true values
            zmin=lo,
            zmax=hi,
            colorscale="RdYlGn" if rising else "RdYlGn_r",
            contours={"coloring": "heatmap", "showlines": False},
            colorbar={"title": {"text": scale}},
            name=z_name,
            text=_texts(ratio, surface.equity, surface.liquidatable, wiped_out),
            customdata=np.stack([surface.equity, surface.maintenance_margin], axis=-1),
            hovertemplate=_hover(surface.ratio_name, head),
        )
    )
    if wiped.any():
        # A contour trace too (a heatmap would be drawn under the ratio's contour), 0/1 filled above
        # 0.5 and transparent below: no NaN gaps, which plotly.js fails to fill on large grids
        # ("findEmpties iterated with no new neighbors" at 401 points: nothing was drawn).
        fig.add_trace(
            go.Contour(
                x=x,
                y=y,
                z=wiped.astype(np.int8),
                colorscale=[[0.0, "rgba(0, 0, 0, 0)"], [1.0, _WIPED_COLOR]],
                contours={"start": 0.5, "end": 0.5, "size": 1.0, "coloring": "fill", "showlines": False},
                line={"width": 0},
                showscale=False,
                name=wiped_out,
                showlegend=True,
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Contour(
            x=x,
            y=y,
            z=surface.liquidatable.astype(np.int8),
            contours={"start": 0.5, "end": 0.5, "size": 1.0, "coloring": "none"},
            line={"color": "black", "width": 3},
            showscale=False,
            name="bankruptcy boundary (equity 0)" if broke else "liquidation boundary",
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
        title=f"{'Bankruptcy' if broke else 'Liquidation'} surface ({surface.venue}): joint moves of "
        f"{surface.asset_x} and {surface.asset_y}" + (" (no futures to liquidate)" if broke else ""),
        xaxis_title=f"{surface.asset_x} move (%) from {fmt_price(surface.price_x)}",
        yaxis_title=f"{surface.asset_y} move (%) from {fmt_price(surface.price_y)}",
        height=640,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def ladder_figure(ladder: LiquidationLadder, reverse: ReverseStress | None = None, trigger: str = "liquidation") -> Any:
    """The venue's ratio along the moves of the account's one asset, the trigger, the liquidatable
    moves and those that leave no equity (:data:`WIPED_OUT`; where the ratio is undefined, drawn
    at the worst ratio shown, the hover giving the true values).  With ``trigger="bankruptcy"``
    (no futures: no maintenance margin, the ratio is 0) the line is the equity, the trigger 0 and
    the flagged moves :data:`BANKRUPT`."""
    import plotly.graph_objects as go

    broke = trigger == "bankruptcy"
    wiped_out = BANKRUPT if broke else WIPED_OUT
    x = 100.0 * ladder.moves
    ratio = np.where(np.isfinite(ladder.ratio), ladder.ratio, np.nan)
    text = _texts(ratio, ladder.equity, ladder.liquidatable, wiped_out)
    custom = np.stack([ladder.equity, ladder.maintenance_margin], axis=-1)
    # A point whose ratio is undefined is drawn at the unsafe end of what the plot shows.
    finite = ratio[np.isfinite(ratio)]
    cap = _worst(
        ladder.ratio_rises_when_safer, float(finite.min(initial=0.0)), float(finite.max(initial=ladder.trigger))
    )
    at = np.where(np.isfinite(ratio), ratio, cap)
    line, y_name, level = ratio, ladder.ratio_name, ladder.trigger
    if broke:
        line = at = ladder.equity
        y_name, level = "equity", 0.0
    hover = _hover(ladder.ratio_name, f"{ladder.asset} %{{x:.1f}} %<br>")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=line, mode="lines", name=y_name, text=text, customdata=custom, hovertemplate=hover))
    wiped = ladder.equity <= 0.0
    for keep, name, marker in (
        (ladder.liquidatable & ~wiped, "liquidatable", {"color": "#c0392b", "size": 6}),
        (wiped, wiped_out, {"color": "#111", "size": 9, "symbol": "x"}),
    ):
        if keep.any():
            fig.add_trace(
                go.Scatter(
                    x=x[keep],
                    y=at[keep],
                    mode="markers",
                    name=name,
                    marker=marker,
                    text=text[keep],
                    customdata=custom[keep],
                    hovertemplate=hover,
                    cliponaxis=False,
                )
            )
    fig.add_hline(
        y=level, line_dash="dash", line_color="#c0392b", annotation_text="bankruptcy (equity 0)" if broke else "trigger"
    )
    if reverse is not None and reverse.found and reverse.assets == (ladder.asset,):
        fig.add_vline(x=100.0 * reverse.moves[0], line_dash="dot", annotation_text="reverse stress")
    fig.update_layout(
        title=f"{y_name} ({ladder.venue}) along moves of {ladder.asset}, every other price held"
        + (" (no futures to liquidate)" if broke else ""),
        xaxis_title=f"{ladder.asset} move (%) from {fmt_price(ladder.price)}",
        yaxis_title=y_name,
        height=460,
    )
    return fig


def _num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _reverse_table(reverse: ReverseStress, trigger: str = "liquidation") -> str:
    broke = trigger == "bankruptcy"
    if not reverse.found:
        return (
            f"<p>No joint move of {html.escape(', '.join(reverse.assets))} within {reverse.max_norm:g} standard "
            f"deviations {'takes the equity to 0' if broke else 'liquidates the account'}.</p>"
        )
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{_num(reverse.prices_before[a])}</td><td>{_num(reverse.prices_after[a])}</td>"
        f"<td>{m:+.2%}</td><td>{s:+.4f}</td></tr>"
        for a, m, s in zip(reverse.assets, reverse.moves, reverse.shock, strict=True)
    )
    ratio = "—" if reverse.ratio is None else f"{reverse.ratio:.4f}"
    return (
        f"<p>Smallest {'bankrupting' if broke else 'liquidating'} joint shock: <b>{reverse.norm:.3f}</b> standard "
        "deviations (Mahalanobis norm)"
        f"{'; no futures to liquidate: the equity reaches 0 there' if broke else ''}; "
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
    trigger: str = "liquidation",
) -> list[str]:
    """The section's HTML fragments (heading, note, the figures with plotly.js embedded, the table):
    the two-asset surface, or the one-asset ladder, or both.  ``trigger`` is the joint report's
    (``"liquidation"``, or ``"bankruptcy"`` for an account without futures: worded and drawn so)."""
    out = [f"<h2>{'Bankruptcy' if trigger == 'bankruptcy' else 'Liquidation'} surface and reverse stress</h2>"]
    if note:
        out.append(f"<p class='note'>{html.escape(note)}</p>")
    figures = [surface_figure(surface, reverse, trigger)] if surface is not None else []
    if ladder is not None:
        figures.append(ladder_figure(ladder, reverse, trigger))
    out.extend(figures_html(figures))
    out.append(_reverse_table(reverse, trigger))
    return out


def write_joint_stress_report(
    path: str | Path,
    surface: LiquidationSurface | None,
    reverse: ReverseStress,
    *,
    title: str = "",
    note: str = "",
    ladder: LiquidationLadder | None = None,
    trigger: str = "liquidation",
) -> Path:
    """Write the liquidation surface (or one-asset ladder) and reverse stress as one self-contained HTML page."""
    if surface is not None:
        where = f"{surface.venue} · {surface.asset_x} × {surface.asset_y}"
    elif ladder is not None:
        where = f"{ladder.venue} · {ladder.asset}"
    else:
        where = reverse.venue
    head = title or f"levguard risk: {'bankruptcy' if trigger == 'bankruptcy' else 'liquidation'} surface"
    return write_page(path, head, where, joint_stress_body(surface, reverse, note, ladder, trigger))
