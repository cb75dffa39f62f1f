"""HTML tables of a backtest tearsheet: key metrics, every metric, liquidations.

Tables sit in a horizontally scrolling wrapper (``div.scroll``) so that the page itself never
overflows a phone's width.  A ruined run's metrics that are undefined after the ruin (its Sharpe
or Sortino, computed on returns that stop at the ruin, ``docs/backtest.md`` "Ruin") read
"n/a (ruined)" instead of a dash or a number.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from levguard.report.html import AMOUNTS, METRIC_LABELS, _frame, _metric, fmt_amount, fmt_metric
from levguard.report.tearsheet import bars_of, price_frames

__all__ = [
    "KEY_METRICS",
    "RUINED",
    "SHORT_RUN",
    "SHORT_RUN_METRICS",
    "all_metrics_html",
    "key_metrics_html",
    "liquidations_html",
    "short_run_cell",
]

KEY_METRICS: tuple[str, ...] = ("total_return", "cagr", "max_drawdown", "sharpe", "n_liquidations")
"""Metrics of the first table (followed by final equity and the ruin time)."""

RUINED = "n/a (ruined)"
"""What an undefined metric of a ruined run reads."""

SHORT_RUN = "n/a (short run)"
"""What an annualised metric (:data:`SHORT_RUN_METRICS`) of a run shorter than 30 days reads
(``BacktestResult.short_run``, after :data:`levguard.backtest.engine.SHORT_RUN_DAYS`):
annualising a few bars is not meaningful; the value and the days it annualises show on hover,
and the metric keeps its value."""

SHORT_RUN_METRICS: tuple[str, ...] = ("cagr", "volatility", "sharpe", "sortino", "calmar")
"""The metrics a short run's tables read :data:`SHORT_RUN` for: those that extrapolate its bars
to a year (the CAGR, the annualised volatility, the Sharpe and Sortino ratios on annualised
returns and volatility, and the Calmar ratio, the CAGR over the max drawdown)."""

MAX_LIQUIDATION_ROWS = 200


def _ruin(r: Any) -> tuple[bool, pd.Timestamp | None]:
    # (ruined, when): ``ruined_at``, or the ``ruined`` metric for results without the attribute.
    at = getattr(r, "ruined_at", None)
    if at is not None:
        return True, pd.Timestamp(at)
    return float(getattr(r, "metrics", {}).get("ruined") or 0.0) > 0, None


def _utc(ts: Any) -> str:
    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC")
    return f"{t:%Y-%m-%d %H:%M}"


def _cell(key: str, value: Any, ruined: bool, short_days: float | None = None) -> str:
    if ruined and (value is None or (isinstance(value, float | int) and not math.isfinite(float(value)))):
        return f"<td class='na'>{RUINED}</td>"
    if short_days is not None and key in SHORT_RUN_METRICS:
        return short_run_cell(key, value, short_days)
    return f"<td>{fmt_metric(key, value)}</td>"


def short_run_cell(key: str, value: Any, short_days: float) -> str:
    """The cell of a short run's annualised metric (:data:`SHORT_RUN_METRICS`): :data:`SHORT_RUN`,
    the value and the days it annualises on hover only (a few bars extrapolated to a year)."""
    tip = f"{fmt_metric(key, value)}, annualised from {short_days:.3g} days"
    return f"<td class='na' title='{html.escape(tip)}'>{SHORT_RUN}</td>"


def _currency(r: Any) -> str:
    # The settlement currency of a result's amounts (BacktestResult.params["settlement"]), or "".
    params = getattr(r, "params", None)
    value = params.get("settlement") if isinstance(params, Mapping) else None
    return value if isinstance(value, str) else ""


def _units(results: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    # The amounts' unit: (one for the headers, " (BTC)", when every result settles in it; else
    # "" and the unit of each result's amount cells, " BTC").
    currencies = {name: _currency(r) for name, r in results.items()}
    common = set(currencies.values())
    if len(common) == 1:
        (unit,) = common
        return (f" ({unit})" if unit else ""), dict.fromkeys(currencies, "")
    return "", {name: f" {c}" if c else "" for name, c in currencies.items()}


def _amount_cell(key: str, value: Any, unit: str, ruined: bool, short_days: float | None) -> str:
    cell = _cell(key, value, ruined, short_days)
    if not unit or key not in AMOUNTS or cell != f"<td>{fmt_metric(key, value)}</td>" or "—" in cell:
        return cell  # no unit to name, not an amount, or no number (n/a, dash)
    return cell.replace("</td>", f"{html.escape(unit)}</td>")


def _short(r: Any) -> float | None:
    # The days of a run too short for its CAGR to mean anything (BacktestResult.short_run), else None.
    return float(r.span_days) if getattr(r, "short_run", False) else None


def _bad(r: Any) -> bool:
    metrics = getattr(r, "metrics", {})
    return (metrics.get("n_liquidations") or 0) > 0 or (metrics.get("bad_debt") or 0) > 0


def _row_head(name: str, r: Any) -> str:
    cls = ' class="liq"' if _bad(r) else ""
    return f"<tr{cls}><th>{html.escape(str(name))}</th>"


def _wrap(table: str) -> str:
    return f"<div class='scroll'>{table}</div>"


def key_metrics_html(results: Mapping[str, Any]) -> str:
    """The key metrics, one row per policy: total return, CAGR, max drawdown, Sharpe,
    liquidations, final equity (in the settlement currency, named) and the ruin time (UTC)."""
    head = "".join(f"<th class='wrap'>{html.escape(METRIC_LABELS[k])}</th>" for k in KEY_METRICS)
    unit, units = _units(results)
    body = []
    for name, r in results.items():
        ruined, at = _ruin(r)
        cells = "".join(_cell(k, _metric(r.metrics, k), ruined, _short(r)) for k in KEY_METRICS)
        eq = getattr(r, "equity", None)
        final = float(eq.iloc[-1]) if isinstance(eq, pd.Series) and len(eq) else None
        cells += _amount_cell("final_equity", final, units[name], False, None)
        when = _utc(at) if at is not None else "yes"
        cells += f"<td class='ruin'>{when}</td>" if ruined else "<td>no</td>"
        body.append(f"{_row_head(name, r)}{cells}</tr>")
    return _wrap(
        f"<table class='key'><tr><th>policy</th>{head}<th class='wrap'>final equity{html.escape(unit)}</th>"
        f"<th class='wrap'>ruined at (UTC)</th></tr>"
        f"{''.join(body)}</table>"
    )


def all_metrics_html(results: Mapping[str, Any]) -> str:
    """Every metric of :data:`levguard.report.html.METRIC_LABELS`, one row per policy (amounts
    in the settlement currency, named)."""
    unit, units = _units(results)
    head = "".join(
        f"<th>{html.escape(label + (unit if k in AMOUNTS else ''))}</th>" for k, label in METRIC_LABELS.items()
    )
    body = []
    for name, r in results.items():
        ruined, _ = _ruin(r)
        short = _short(r)
        cells = "".join(_amount_cell(k, _metric(r.metrics, k), units[name], ruined, short) for k in METRIC_LABELS)
        body.append(f"{_row_head(name, r)}{cells}</tr>")
    return _wrap(f"<table><tr><th>policy</th>{head}</tr>{''.join(body)}</table>")


def _mark_extreme(data: Any, ts: pd.Timestamp, side: Any) -> float:
    # The mark price's worst point in the liquidation bar: its low for a long, high for a short.
    if data is None or not isinstance(data, pd.DataFrame):
        return math.nan
    short = isinstance(side, str) and side.lower() == "short"
    for col in ("mark_high", "high") if short else ("mark_low", "low"):
        if col in data:
            try:
                value: Any = data[col].asof(ts)
                return float(value)
            except (KeyError, TypeError, ValueError):
                return math.nan
    return math.nan


def _amount(x: Any, unit: str = "") -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return f"{fmt_amount(v)}{html.escape(unit)}" if math.isfinite(v) else "—"


def liquidations_html(results: Mapping[str, Any], data: Any = None) -> str:
    """Every liquidation: time (UTC), policy, symbol and side, fill price, the bar's mark
    extreme (mark low for a long, high for a short; from ``data``, the liquidation's symbol's
    bars: :func:`levguard.report.tearsheet.bars_of`), loss, fee and bad debt; and every bad-debt
    settlement (a trade that left a negative balance, no liquidation).

    ``data`` is a DataFrame, a Series or a mapping symbol -> DataFrame
    (:func:`levguard.report.tearsheet.price_frames`, which raises ``InputError`` on anything else).
    """
    frames = price_frames(data)
    unit, units = _units(results)
    rows: list[tuple[pd.Timestamp, str]] = []
    for name, r in results.items():
        liq = _frame(r, "liquidations")
        if liq is None or not len(liq):
            continue
        for rec in liq.to_dict("records"):
            ts = pd.Timestamp(rec["timestamp"])
            if ts.tzinfo is None:
                ts = ts.tz_localize("UTC")
            side = rec.get("side", "")
            # A settlement row books the bad debt a trade left (no liquidation): named so.
            shown = "bad-debt settlement" if side == "flat" else side
            what = " ".join(str(v) for v in (rec.get("symbol", ""), shown) if isinstance(v, str) and v)
            cells = [
                _utc(ts),
                html.escape(str(name)),
                html.escape(what) or "—",
                _amount(rec.get("price")),
                _amount(_mark_extreme(bars_of(frames, r, rec.get("symbol")), ts, side) if side != "flat" else math.nan),
                _amount(rec.get("loss"), units[name]),
                _amount(rec.get("fee"), units[name]),
                _amount(rec.get("bad_debt"), units[name]),
            ]
            rows.append((ts, "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"))
    if not rows:
        return "<p class='note'>No liquidations.</p>"
    rows.sort(key=lambda t: t[0])
    more = len(rows) - MAX_LIQUIDATION_ROWS
    note = f"<p class='note'>{more:,} later liquidations not listed.</p>" if more > 0 else ""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "time (UTC)",
            "policy",
            "position",
            "price",
            "mark extreme",
            *(html.escape(f"{k}{unit}") for k in ("loss", "fee", "bad debt")),
        )
    )
    body = "".join(row for _, row in rows[:MAX_LIQUIDATION_ROWS])
    return _wrap(f"<table class='liqs'><tr>{head}</tr>{body}</table>") + note
