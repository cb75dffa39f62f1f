"""The HTML report of a probability-of-liquidation validation (docs/validation.md).

Sections, most important first: the acceptance checks; the key scores of the scored set (Brier
ratio, AUC, calibration in the large, Diebold-Mariano p-value; every score of the scored and
train sets in a ``<details>``); a reliability diagram per asset x horizon (mean forecast against
observed frequency per bucket, with 95 % Wilson intervals, the model and the naive baseline); the
per-year breakdown; the reliability tables (in a ``<details>``).  Tables are narrow or scroll
inside the page: the page itself fits a 390 px phone.  One self-contained file (plotly.js
embedded), like :mod:`levguard.report.html`.

The result is duck-typed (this layer does not import :mod:`levguard.risk`): a
:class:`levguard.risk.validation.ValidationResult` or its ``to_dict()``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from levguard.errors import InputError
from levguard.report.embed import figures_html
from levguard.report.html import _LEGEND_BELOW, write_page

__all__ = ["reliability_figure", "write_validation_report"]

_PASS = "<span style='color:#080'>pass</span>"
_FAIL = "<b style='color:#b00'>FAIL</b>"
_NA = "<span style='color:#777'>n/a</span>"
_MODEL_COLOR = "#1f77b4"
_BASE_COLOR = "#999999"


def _doc(result: Any) -> Mapping[str, Any]:
    doc = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(doc, Mapping) or "scored" not in doc or "acceptance" not in doc:
        raise InputError(f"result must be a ValidationResult or its to_dict(), was {type(result).__name__}")
    return doc


def _f(x: Any, digits: int = 4, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if pct:
        return f"{x:.{max(digits - 2, 1)}%}"
    return f"{x:.{digits}f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], *, narrow: bool = False) -> str:
    # Cells are already escaped or formatted by the caller; ``narrow``: headers wrap (for a phone).
    cls = " class='wrap'" if narrow else ""
    h = "".join(f"<th{cls}>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<div class='scroll'><table><tr>{h}</tr>{body}</table></div>"


def _main_groups(groups: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    # Side and leverage pooled; with one asset its pooled groups repeat it and are left out.
    main = [g for g in groups if g.get("side") is None and g.get("leverage") is None]
    single = len({g["asset"] for g in main} - {"pooled"}) == 1
    return [g for g in main if not (single and g["asset"] == "pooled")]


_Scores = Mapping[str, Any]


def _group_rows(
    groups: Sequence[_Scores], cells: Callable[[_Scores, _Scores, _Scores, _Scores], list[str]]
) -> list[list[str]]:
    # One row per group: its label, then cells(group, model scores, naive scores, Diebold-Mariano test).
    return [
        [html.escape(g["label"]), *cells(g, g["model"], g["baseline"], g.get("diebold_mariano") or {})] for g in groups
    ]


def _scores_table(groups: Sequence[Mapping[str, Any]]) -> str:
    head = [
        "group",
        "cases",
        "events",
        "observed",
        "mean forecast",
        "obs / exp",
        "Brier",
        "naive Brier",
        "ratio",
        "log score",
        "naive log score",
        "AUC",
        "naive AUC",
        "DM stat",
        "DM p",
        "share ≤ 1%",
        "observed at ≤ 1%",
    ]

    def cells(g: _Scores, m: _Scores, b: _Scores, dm: _Scores) -> list[str]:
        return [
            *_event_cells(m),
            _f(m["calibration_in_the_large"], 3),
            _f(m["brier"], 5),
            _f(b["brier"], 5),
            _f(g["brier_ratio"], 3),
            _f(m["log_score"], 4),
            _f(b["log_score"], 4),
            _f(m["auc"], 3),
            _f(b["auc"], 3),
            _f(dm.get("statistic"), 2),
            _f(dm.get("pvalue"), 3),
            _f(m["low_share"], pct=True),
            _f(m["low_observed"], 4, pct=True),
        ]

    return _table(head, _group_rows(groups, cells))


def _checks_table(acceptance: Mapping[str, Any]) -> str:
    # Four columns, the long texts wrapping under the check and the group: fits a phone.
    rows = [
        [
            _NA if c["passed"] is None else _PASS if c["passed"] else _FAIL,
            f"{html.escape(c['name'])}<br><span class='sub'>{html.escape(c['threshold'])}</span>",
            f"{html.escape(c['group'])}<br><span class='sub'>{html.escape(c['detail'])}</span>",
            _f(c["value"], 4),
        ]
        for c in acceptance["checks"]
    ]
    h = "".join(f"<th class='wrap'>{c}</th>" for c in ("result", "check (threshold)", "group (detail)", "value"))
    body = "".join(
        f"<tr><td>{r[0]}</td><td class='wrap'>{r[1]}</td><td class='wrap'>{r[2]}</td><td>{r[3]}</td></tr>" for r in rows
    )
    return f"<div class='scroll'><table class='checks'><tr>{h}</tr>{body}</table></div>"


def _key_scores_table(groups: Sequence[Mapping[str, Any]]) -> str:
    # The scores the acceptance rests on, one row per group: Brier ratio (model / naive), AUC,
    # calibration in the large (events / sum of forecasts) and the Diebold-Mariano p-value.

    def cells(g: _Scores, m: _Scores, b: _Scores, dm: _Scores) -> list[str]:
        auc = f"{_f(m['auc'], 3)} / {_f(b['auc'], 3)}"
        return [_f(g["brier_ratio"], 3), auc, _f(m["calibration_in_the_large"], 3), _f(dm.get("pvalue"), 3)]

    rows = _group_rows(groups, cells)
    return _table(["group", "Brier ratio", "AUC / naive", "obs / exp", "DM p"], rows, narrow=True)


def _bucket(b: Mapping[str, Any]) -> str:
    lo = "[0" if b["lower"] == 0 else f"({b['lower']:g}"
    return f"{lo}, {b['upper']:g}]"


def _reliability_tables(groups: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for g in groups:
        rows = []
        for bm, bb in zip(g["model"]["reliability"], g["baseline"]["reliability"], strict=True):
            rows.append(
                [
                    _bucket(bm),
                    _f(bm["count"]),
                    _f(bm["mean_forecast"], pct=True),
                    _f(bm["observed"], pct=True),
                    f"[{_f(bm['wilson_low'], pct=True)}, {_f(bm['wilson_high'], pct=True)}]",
                    _f(bb["count"]),
                    _f(bb["mean_forecast"], pct=True),
                    _f(bb["observed"], pct=True),
                ]
            )
        head = ["bucket", "cases", "mean forecast", "observed", "95% Wilson", "naive cases", "naive mean", "naive obs"]
        parts.append(f"<h3>{html.escape(g['label'])}</h3>" + _table(head, rows))
    return "".join(parts)


def _event_cells(scores: Mapping[str, Any]) -> list[str]:
    # Cases, events, the observed event rate and the mean forecast of one scored group.
    return [
        _f(scores["n"]),
        _f(scores["events"]),
        _f(scores["observed"], pct=True),
        _f(scores["mean_forecast"], pct=True),
    ]


def _years_table(groups: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for g in groups:
        for y in g["years"]:
            rows.append(
                [
                    html.escape(g["split"]),
                    html.escape(g["label"]),
                    str(y["year"]),
                    *_event_cells(y),
                    _f(y["brier"], 5),
                    _f(y["brier_baseline"], 5),
                    _f(y["log_score"], 4),
                    _f(y["log_score_baseline"], 4),
                ]
            )
    head = [
        "set",
        "group",
        "year",
        "cases",
        "events",
        "observed",
        "mean forecast",
        "Brier",
        "naive Brier",
        "log",
        "naive log",
    ]
    return _table(head, rows)


def reliability_figure(result: Any, split: str = "scored") -> Any:
    """Return the reliability diagrams of ``split`` as one plotly figure: a panel per asset x horizon.

    Each panel plots, per reliability bucket with cases, the observed frequency against the mean
    forecast with its 95 % Wilson interval as error bars, for the model and the naive baseline,
    and the diagonal of perfect calibration; the axes span the populated buckets.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    doc = _doc(result)
    groups = _main_groups(doc[split])
    if not groups:
        raise InputError(f"no {split} groups to draw")
    assets = list(dict.fromkeys(g["asset"] for g in groups))
    horizons = sorted({float(g["horizon_days"]) for g in groups})
    titles = [f"{a} {h:g}d" for a in assets for h in horizons]
    fig = make_subplots(
        rows=len(assets), cols=len(horizons), subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.1
    )
    where = {(g["asset"], float(g["horizon_days"])): g for g in groups}
    for i, a in enumerate(assets):
        for j, h in enumerate(horizons):
            g = where.get((a, h))
            if g is None:
                continue
            row, col = i + 1, j + 1
            first = i == 0 and j == 0
            fig.add_trace(
                go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "#ccc", "dash": "dot"}, showlegend=False),
                row=row,
                col=col,
            )
            for key, name, color in (("baseline", doc["baseline"], _BASE_COLOR), ("model", doc["model"], _MODEL_COLOR)):
                bins = [b for b in g[key]["reliability"] if b["count"]]
                fig.add_trace(
                    go.Scatter(
                        x=[b["mean_forecast"] for b in bins],
                        y=[b["observed"] for b in bins],
                        error_y={
                            "type": "data",
                            "symmetric": False,
                            "array": [b["wilson_high"] - b["observed"] for b in bins],
                            "arrayminus": [b["observed"] - b["wilson_low"] for b in bins],
                            "color": color,
                        },
                        mode="markers+lines",
                        marker={"color": color, "size": 8},
                        line={"color": color, "width": 1},
                        name=str(name) if key == "model" else f"{name} (baseline)",
                        legendgroup=key,
                        showlegend=first,
                        text=[f"{_bucket(b)}: n={b['count']:,}, events={b['events']:,}" for b in bins],
                        hovertemplate="%{text}<br>mean forecast %{x:.4f}<br>observed %{y:.4f}<extra></extra>",
                    ),
                    row=row,
                    col=col,
                )
            # Zoom on the populated part of [0, 1] (most forecasts of a 1-day horizon are small).
            shown = [b for key in ("model", "baseline") for b in g[key]["reliability"] if b["count"]]
            top = max([0.05] + [1.15 * max(b["mean_forecast"], b["observed"]) for b in shown])
            fig.update_xaxes(title_text="mean forecast", range=[0, min(1.0, top)], row=row, col=col)
            fig.update_yaxes(title_text="observed frequency", range=[0, min(1.0, top)], row=row, col=col)
    fig.update_layout(
        title=f"Reliability ({split} set)<br><sup>observed frequency vs mean forecast, 95% Wilson intervals</sup>",
        height=max(420, 380 * len(assets)),
        template="plotly_white",
        legend=_LEGEND_BELOW,
        margin={"l": 60, "r": 20, "t": 100, "b": 90},
    )
    return fig


def write_validation_report(result: Any, path: str | Path, *, title: str = "", subtitle: str = "") -> Path:
    """Write the validation report of ``result`` to ``path`` (one self-contained HTML file).

    Parameters
    ----------
    result : ValidationResult or its ``to_dict()``
        The output of :func:`levguard.risk.validation.validate_liquidation`.
    path : path
        Output ``.html`` file.
    title, subtitle : str
        Page heading (default: the model against the baseline) and a line below it.

    Raises
    ------
    InputError
        ``result`` is not a validation result.
    """
    doc = _doc(result)
    acc = doc["acceptance"]
    title = title or f"levguard: probability-of-liquidation validation of {doc['model']!r} against {doc['baseline']!r}"
    assets = ", ".join(
        f"{a['asset']} ({a['bars']:,} bars, {a['first'][:10]} → {a['last'][:10]}, "
        f"{'mark price' if a['mark_source'] else 'last price as mark'}"
        + (f"; {a['incomplete']:,} cases left out: gaps in the bars" if a.get("incomplete") else "")
        + ")"
        for a in doc["assets"]
    )
    lev = ", ".join(f"{x:g}x" for x in doc["leverages"])
    hor = ", ".join(f"{x:g}d" for x in doc["horizons"])
    subtitle = subtitle or (
        f"{assets}. Isolated {doc['notional']:,.0f} notional positions on {doc['venue']} at {lev}, "
        f"sides {', '.join(doc['sides'])}, horizons {hor}; scored set: as_of after {doc['train_until'][:10]}."
    )
    verdict = "PASSED" if acc["passed"] else f"FAILED ({acc['failed']} of {len(acc['checks'])} checks)"
    if acc.get("not_applicable"):
        verdict += f"; {acc['not_applicable']} n/a: too few events"
    scores_note = (
        "<p class='note'>obs / exp: events over the sum of forecasts (calibration in the large). Log score: "
        f"mean negative log likelihood, probabilities clipped to [{doc.get('log_score_clip', 1e-6):g}, "
        "1 - that]. DM: Diebold-Mariano statistic of the Brier loss minus the naive baseline's on day-averaged "
        "differentials, Newey-West (Bartlett) variance with lag = horizon in days; negative favours the model.</p>"
    )
    body = [
        f"<h2>Acceptance on the scored set: {verdict}</h2>",
        _checks_table(acc),
        "<h2>Key scores (scored set)</h2>",
        _key_scores_table(doc["scored"]),
        "<p class='note'>Brier ratio: the model's Brier score over the naive baseline's (below 1 favours the "
        "model); AUC of the model / of the baseline; DM p: Diebold-Mariano p-value.</p>",
        "<details><summary>Every score (scored and train sets)</summary>",
        "<h3>Scored set</h3>",
        _scores_table(doc["scored"]),
        scores_note,
        "<h3>Train set</h3>",
        _scores_table(doc["train"]),
        "</details>",
    ]
    if _main_groups(doc["scored"]):
        body.append("<h2>Reliability diagrams (scored set)</h2>")
        body.extend(figures_html([reliability_figure(doc, "scored")]))
    body += [
        "<h2>Per year (scored and train)</h2>",
        _years_table(_main_groups(doc["train"]) + _main_groups(doc["scored"])),
        "<details><summary>Reliability tables (scored set)</summary>",
        _reliability_tables(_main_groups(doc["scored"])),
        "</details>",
    ]
    return write_page(path, title, subtitle, body)
