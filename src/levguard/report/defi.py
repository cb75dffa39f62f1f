"""The ``levguard defi --out report.html`` page: one lending position in a self-contained HTML file.

Sections: the key numbers (health factor, values, LTVs, leverage), the assets with each
collateral's liquidation price, P(HF < 1) by horizon, the stress scenarios, the oracle valuation
(each asset at the oracle's and the market's price, the feed checks, the health factor at each),
and a plotly figure of the health factor as each collateral's price moves (the others fixed).  plotly.js is embedded
once (:func:`levguard.report.embed.figures_html`); the page fetches nothing.

The inputs are the JSON documents of the DeFi records (this layer does not import
:mod:`levguard.defi`): ``PositionReport.to_dict()``, ``HealthCurve.to_dict()`` per collateral,
``PositionRisk.to_dict()``, ``StressResult.to_dict()`` per scenario and
``PositionValuation.to_dict()``, as ``levguard defi --json`` prints them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from levguard.errors import InputError
from levguard.report.embed import figures_html
from levguard.report.html import write_page

__all__ = ["defi_report_body", "health_figure", "write_defi_report"]


def _num(x: Any, digits: int = 2) -> str:
    if x is None or isinstance(x, bool):
        return "—"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return html.escape(str(x))
    return "—" if not math.isfinite(v) else f"{v:,.{digits}f}"


def _hf(x: Any) -> str:
    return "∞" if x is None else _num(x, 4)  # a JSON health factor of None is the no-debt infinity


def _pct(x: Any, digits: int = 2) -> str:
    return "—" if x is None or not math.isfinite(float(x)) else f"{100.0 * float(x):+.{digits}f} %"


def _prob(x: Any) -> str:
    if x is None:
        return "—"
    v = float(x)
    return f"{v:.2%}" if v >= 1e-4 or v == 0.0 else f"{v:.2e}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    # Cells are already escaped or formatted by the caller.
    c = f" class='{cls}'" if cls else ""
    h = "".join(f"<th>{html.escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{x}</td>" for x in r) + "</tr>" for r in rows)
    return f"<div class='scroll'><table{c}><tr>{h}</tr>{body}</table></div>"


def _key_table(p: Mapping[str, Any]) -> str:
    unit = html.escape(str(p.get("value_unit", "")))
    state = "<b style='color:#b00'>liquidatable</b>" if p.get("liquidatable") else "healthy"
    rows = [
        ("health factor", f"{_hf(p.get('health_factor'))} ({state})"),
        (f"collateral ({unit})", _num(p.get("collateral_value"))),
        (f"debt ({unit})", _num(p.get("debt_value"))),
        (f"available to borrow ({unit})", _num(p.get("available_borrows"))),
        ("LTV now", _pct(p.get("current_ltv")).lstrip("+")),
        ("max LTV / liquidation threshold", f"{_pct(p.get('max_ltv')).lstrip('+')} / "
                                            f"{_pct(p.get('liquidation_threshold')).lstrip('+')}"),
        ("leverage", f"{_num(p.get('leverage'))}x"),
    ]  # fmt: skip
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<div class='scroll'><table class='key'>{body}</table></div>"


def _assets_table(p: Mapping[str, Any]) -> str:
    unit = str(p.get("value_unit", ""))
    rows = []
    for a in p.get("assets", []):
        liq = a.get("liquidation") or {}
        rows.append(
            [
                html.escape(str(a.get("symbol"))),
                _num(a.get("price"), 4),
                _num(a.get("collateral"), 4) if a.get("collateral") else "",
                _num(a.get("debt"), 4) if a.get("debt") else "",
                _num((a.get("collateral_value") or 0.0) - (a.get("debt_value") or 0.0)),
                "" if not liq else _num(liq.get("value"), 4),
                "" if not liq else _pct(liq.get("change")),
                "" if not liq else html.escape(str(liq.get("reason") or "")),
            ]
        )
    head = ["asset", "price", "collateral", "debt", f"value ({unit})", "liquidation price", "move", "note"]
    return _table(head, rows)


def _risk_html(risk: Mapping[str, Any]) -> str:
    rows = [
        [f"{float(h.get('horizon_days', 0.0)):g} d", str(h.get("hours")), _prob(h.get("probability"))]
        for h in risk.get("probabilities", [])
    ]
    distance = risk.get("distance")
    parts = []
    if risk.get("ratio"):
        parts.append(
            f"Ratio forecast: <b>{html.escape(str(risk['ratio']))}</b>, which must fall "
            f"<b>{_pct(distance).lstrip('+')}</b> for HF to reach 1 ({html.escape(str(risk.get('distance_from')))}); "
            f"model {html.escape(str(risk.get('model')))}, {risk.get('bars')} hourly bars to "
            f"{html.escape(str(risk.get('as_of')))}, high/low: {html.escape(str(risk.get('high_low')))}."
        )
    if risk.get("constant_assets"):
        parts.append(f"Held at their price (no bars): {html.escape(', '.join(risk['constant_assets']))}.")
    if risk.get("reason"):
        parts.append(html.escape(str(risk["reason"])).capitalize() + ".")
    note = f"<p class='note'>{' '.join(parts)}</p>" if parts else ""
    return note + _table(["horizon", "hours", "P(HF < 1)"], rows, "risk")


def _stress_html(stress: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for s in stress:
        liq = s.get("liquidation") or {}
        shocks = ", ".join(f"{html.escape(k)} {_pct(v, 2)}" for k, v in (s.get("shocks") or {}).items()) or "none"
        rows.append(
            [
                html.escape(str(s.get("scenario"))),
                html.escape(str(s.get("date") or "")),
                shocks,
                _hf(s.get("health_factor_after")),
                "<b style='color:#b00'>yes</b>" if s.get("liquidatable") else "no",
                "" if not liq else f"{_num(liq.get('debt_repaid'), 4)} {html.escape(str(liq.get('debt_symbol')))}",
                ""
                if not liq
                else f"{_num(liq.get('collateral_seized'), 4)} {html.escape(str(liq.get('collateral_symbol')))}",
                "" if not liq else _num(liq.get("liquidator_profit")),
                "" if not liq else _num(liq.get("bad_debt_value")),
            ]
        )
    head = ["scenario", "date", "shock", "HF after", "liquidatable", "debt repaid", "collateral seized",
            "liquidator profit", "bad debt"]  # fmt: skip
    sources = "".join(
        f"<li><b>{html.escape(str(s.get('scenario')))}</b>: {html.escape(str(s.get('source') or ''))}"
        + (f" ({html.escape(str(s['note']))})" if s.get("note") else "")
        + "</li>"
        for s in stress
    )
    return (
        _table(head, rows, "stress")
        + "<details><summary>sources</summary><ul class='note' style='font-size:13px;color:#555'>"
        + f"{sources}</ul></details>"
    )


def _valuation_html(v: Mapping[str, Any]) -> str:
    rows = []
    for a in v.get("assets", []):
        capped = a.get("capped")
        source = html.escape(str(a.get("source"))) + (
            "" if capped is None else (" <b style='color:#b00'>capped</b>" if capped else " (not capped)")
        )
        read = html.escape(str(a.get("outcome"))) + (f" ({html.escape(str(a['reason']))})" if a.get("reason") else "")
        failures = a.get("failures") or []
        checks = (
            f"<b style='color:#b00'>{html.escape(', '.join(map(str, failures)))}</b>"
            if failures
            else ("ok" if a.get("age") is not None else "")
        )
        beat = a.get("heartbeat")
        age = "" if beat is None else f"{'—' if a.get('age') is None else a.get('age')} s / {beat} s"
        rows.append(
            [
                html.escape(str(a.get("symbol"))),
                source,
                _num(a.get("oracle_price"), 4),
                _num(a.get("market_price"), 4),
                _pct(a.get("gap")),
                read,
                checks,
                age,
            ]
        )
    unit = html.escape(str(v.get("value_unit", "")))
    policy = (
        "Aave's AaveOracle (an answer &lt;= 0 goes to the fallback oracle)"
        if v.get("policy") == "aave"
        else "Morpho's ChainlinkDataFeedLib (a negative answer reverts, 0 passes)"
    )
    oracle_hf = (
        "— (the read reverts)" if v.get("health_factor_oracle_wad") is None else _hf(v.get("health_factor_oracle"))
    )
    parts = [
        f"Prices read at {html.escape(str(v.get('block_timestamp')))} as {policy}; neither protocol checks "
        "staleness, so a failed check below is a price the protocol uses anyway.",
        f"Health factor at the oracle's prices <b>{oracle_hf}</b>, at the market's "
        f"<b>{_hf(v.get('health_factor_market'))}</b> ({_pct(v.get('health_factor_gap'))}).",
    ]
    if v.get("gap") is not None:
        parts.append(
            f"Equity {_num(v.get('oracle_value'))} {unit} at the oracle vs {_num(v.get('market_value'))} {unit} "
            f"at the market ({_pct(v.get('gap'))})."
        )
    if v.get("reason"):
        parts.append(html.escape(str(v["reason"])) + ".")
    head = ["asset", "source", "oracle price", "market price", "gap", "read", "feed checks", "age / heartbeat"]
    return f"<p class='note'>{' '.join(parts)}</p>" + _table(head, rows, "oracles")


def health_figure(curves: Sequence[Mapping[str, Any]], *, height: int = 460) -> Any:
    """A plotly figure of the health factor against each collateral's price move (others fixed)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    top = 1.0
    for i, c in enumerate(curves):
        moves = [100.0 * float(m) for m in c["moves"]]
        hfs = [float("nan") if h is None else float(h) for h in c["health_factors"]]
        top = max([top, *(h for h in hfs if math.isfinite(h))])
        unit = html.escape(str(c.get("unit", "")))
        prices = c.get("prices", [])
        fig.add_trace(
            go.Scatter(
                x=moves,
                y=hfs,
                mode="lines",
                name=f"{c['symbol']} price",
                customdata=prices,
                hovertemplate=f"{c['symbol']} %{{x:+.1f}} % (%{{customdata:,.4f}} {unit})<br>"
                "HF %{y:.4f}<extra></extra>",
                line={"color": f"hsl({(i * 137) % 360},60%,40%)"},
            )
        )
        lp, now = c.get("liquidation_price"), c.get("current_price")
        if lp is not None and now:
            move = 100.0 * (float(lp) / float(now) - 1.0)
            fig.add_trace(
                go.Scatter(
                    x=[move],
                    y=[1.0],
                    mode="markers",
                    marker={"symbol": "x", "size": 11, "color": f"hsl({(i * 137) % 360},60%,40%)"},
                    name=f"{c['symbol']} liquidation {move:+.1f} %",
                )
            )
    fig.add_hline(y=1.0, line={"color": "#b00", "dash": "dash"}, annotation_text="HF = 1")
    fig.add_vline(x=0.0, line={"color": "#888", "dash": "dot"}, annotation_text="now")
    fig.update_layout(
        title="HF as one collateral's price moves",
        xaxis_title="collateral price move (%)",
        yaxis_title="health factor",
        yaxis_range=[0.0, min(top, 6.0) * 1.05],
        height=height,
        template="plotly_white",
        legend={"orientation": "h", "x": 0.0, "y": 0.0, "yref": "container", "yanchor": "bottom"},
        margin={"l": 60, "r": 20, "t": 50, "b": 90},
    )
    return fig


def defi_report_body(
    position: Mapping[str, Any],
    curves: Sequence[Mapping[str, Any]] = (),
    risk: Mapping[str, Any] | None = None,
    stress: Sequence[Mapping[str, Any]] | None = None,
    valuation: Mapping[str, Any] | None = None,
) -> list[str]:
    """The page's HTML fragments: key table, assets, P(HF < 1), stress, oracle valuation, then the figure."""
    if not isinstance(position, Mapping) or "health_factor" not in position or "assets" not in position:
        raise InputError("position must be a PositionReport's to_dict() (health_factor, assets, ...)")
    out = ["<h2>Position</h2>", _key_table(position), "<h2>Assets and liquidation prices</h2>", _assets_table(position)]
    out.append(
        "<p class='note'>Each collateral's liquidation price holds every other price fixed; it is exact in the "
        "protocol's units (healthy at it and above, liquidatable one unit below).</p>"
    )
    if risk is not None:
        out += ["<h2>P(HF &lt; 1)</h2>", _risk_html(risk)]
    if stress:
        out += ["<h2>Stress scenarios</h2>", _stress_html(stress)]
    if valuation is not None:
        if not isinstance(valuation, Mapping) or "assets" not in valuation or "health_factor_market" not in valuation:
            raise InputError("valuation must be a PositionValuation's to_dict() (assets, health_factor_market, ...)")
        out += ["<h2>Oracle prices and the market</h2>", _valuation_html(valuation)]
    if curves:
        out += ["<h2>Health factor against the collateral's price</h2>", *figures_html([health_figure(curves)])]
    return out


def write_defi_report(
    path: str | Path,
    position: Mapping[str, Any],
    curves: Sequence[Mapping[str, Any]] = (),
    risk: Mapping[str, Any] | None = None,
    stress: Sequence[Mapping[str, Any]] | None = None,
    *,
    title: str = "",
    valuation: Mapping[str, Any] | None = None,
) -> Path:
    """Write one position's report as a self-contained HTML page; return the path.

    Raises
    ------
    InputError
        ``position`` is not a position report document (or ``valuation`` not a valuation).
    """
    label = "Aave v3" if position.get("protocol") == "aave-v3" else "Morpho Blue"
    version = f" {position['version']}" if position.get("version") else ""
    name = f": {position['name']}" if position.get("name") else ""
    return write_page(
        path,
        title or f"levguard defi: {label}{version} position{name}",
        f"health factor {_hf(position.get('health_factor'))}",
        defi_report_body(position, curves, risk, stress, valuation),
    )
