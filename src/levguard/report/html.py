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

import functools
import html
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from levguard.errors import InputError
from levguard.files import replacing
from levguard.report.embed import figures_html
from levguard.report.prices import fmt_price

__all__ = [
    "AMOUNTS",
    "MAX_POINTS",
    "METRIC_LABELS",
    "add_line",
    "cell_number",
    "comparison_figure",
    "fmt_amount",
    "format_cell",
    "instruments_figure",
    "metrics_table",
    "naive_utc",
    "price_section",
    "section_html",
    "tearsheet_body",
    "tearsheet_sections",
    "until_ruin",
    "write_page",
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
    "orders_below_minimum": "orders below minimum",
}
_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "time_under_water", "worst_bar"}
_COUNTS = {"n_liquidations", "orders_clipped", "limit_orders_unfilled", "orders_below_minimum"}
_ALIASES = {"max_leverage": "max_leverage_used", "max_leverage_used": "max_leverage"}
_MARKERS = ("x", "diamond", "triangle-down", "star", "cross", "square", "triangle-up", "hexagon")

# Legends go below the plot (anchored to the whole figure), never on a subplot's title.
_LEGEND_BELOW = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": 0.0, "yref": "container", "yanchor": "bottom"}

MAX_POINTS = 3_000
"""Points per curve in the report; longer series are bucketed (the file stays a few MB)."""

STYLE = (
    "*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fff}"
    "main{max-width:1240px;margin:0 auto;padding:16px 20px}table{border-collapse:collapse;"
    "font-size:13px;margin:8px 0;display:block;overflow-x:auto;max-width:100%}pre{overflow-x:auto}"
    "td,th{border:1px solid #ddd;padding:4px 8px;text-align:right;"
    "white-space:nowrap}tr th:first-child{text-align:left}tr.liq th{color:#b00}td.na,td.ruin{color:#b00}"
    "h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:28px 0 6px}h1,h2,p{overflow-wrap:anywhere}"
    "p.note{color:#555;font-size:13px;margin:4px 0}div.scroll{overflow-x:auto;max-width:100%}"
    "div.fig{width:100%;max-width:100%;overflow:hidden}details{margin:8px 0}summary{cursor:pointer;color:#245}"
    "td.wrap{white-space:normal;text-align:left;min-width:6em;max-width:24em}th.wrap{white-space:normal;overflow-wrap:normal}span.sub{color:#555;font-size:12px}"
    "h3{font-size:15px;margin:16px 0 4px}"
    "@media (max-width:600px){main{padding:10px 8px}h1{font-size:19px}td,th{padding:3px 5px}}"
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


def cell_number(value: Any) -> float | str:
    """Return a table cell's value as a finite float, or the cell's text when it is none.

    The text is a dash for a missing (None) or non-finite number and the HTML-escaped value
    for anything that is not a number.
    """
    if value is None:
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    return x if math.isfinite(x) else "—"


def format_cell(
    key: str, value: Any, formats: Mapping[str, Callable[[float], str]], default: Callable[[float], str]
) -> str:
    """Return the text of table cell ``key``: :func:`cell_number`'s dash or text, else the number
    formatted by ``formats[key]`` (``default`` for a key without its own format)."""
    x = cell_number(value)
    if isinstance(x, str):
        return x
    return formats.get(key, default)(x)


AMOUNTS = frozenset({"final_equity", "bad_debt", "fees_paid", "funding_paid"})
"""Metrics in the settlement currency (a coin-margined run's are in BTC, ETH...)."""


def fmt_amount(x: float) -> str:
    """An amount to at least 4 significant digits and at least 2 decimals (at most 10): a
    coin-margined run's 0.01194 BTC must not read "0.01"; 12,345.67 USDT keeps its cents.

    Zero (and -0.0) reads "0.00"; an amount needing more than 10 decimals for its 4 digits
    (below about 1e-7) reads in scientific notation ("1e-12", not "0.0000000000").  The digits
    are counted after rounding: 0.099995 reads "0.1000", not "0.10000".
    """
    if not math.isfinite(x):
        return f"{x:,.2f}"
    if x == 0.0:
        return "0.00"  # -0.0 too
    exponent = int(f"{x:.3e}".split("e")[1])  # of x rounded to 4 significant digits
    decimals = max(2, 3 - exponent)
    return f"{x:.4g}" if decimals > 10 else f"{x:,.{decimals}f}"


# Counts as integers, percentages to one decimal (a key in both is a percentage), amounts to 4
# significant digits, the rest (ratios, leverage, turnover) to 2 decimals.
_METRIC_FORMATS: dict[str, Callable[[float], str]] = {
    **dict.fromkeys(AMOUNTS, fmt_amount),
    **dict.fromkeys(_COUNTS, lambda x: f"{int(x)}"),
    **dict.fromkeys(_PERCENT, lambda x: f"{x:.1%}"),
}


def fmt_metric(key: str, value: Any) -> str:
    """A metric formatted for a table cell: percentages, counts, amounts (:func:`fmt_amount`);
    missing as a dash."""
    return format_cell(key, value, _METRIC_FORMATS, lambda x: f"{x:,.2f}")


def _table_html(results: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in METRIC_LABELS.values())
    body = []
    for name, r in results.items():
        cells = "".join(f"<td>{fmt_metric(k, _metric(r.metrics, k))}</td>" for k in METRIC_LABELS)
        bad = (r.metrics.get("n_liquidations") or 0) > 0 or (r.metrics.get("bad_debt") or 0) > 0
        cls = ' class="liq"' if bad else ""
        body.append(f"<tr{cls}><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(body)}</table>"


def _bucket_picks(v: np.ndarray, step: int, lowest: bool) -> np.ndarray:
    # The row of each ``step``-row bucket's lowest (or highest) finite value.
    padded = np.full(-(-len(v) // step) * step, np.nan)
    padded[: len(v)] = v
    blocks = padded.reshape(-1, step)
    pick = np.argmin if lowest else np.argmax
    picked = pick(np.where(np.isnan(blocks), np.inf if lowest else -np.inf, blocks), axis=1)
    return np.arange(blocks.shape[0]) * step + np.asarray(picked, dtype=np.int64)


def _thin(series: pd.Series, how: str = "last", limit: int = MAX_POINTS) -> pd.Series:
    # Bucket long series: the last value per bucket for levels, the lowest for drawdowns (so the
    # deepest point survives), and the first and the last point of the series (a curve starts
    # where the run starts and ends at its last close).  Liquidation markers are drawn from the
    # exact events.
    n = len(series)
    if n <= limit:
        return series
    step = -(-n // limit)
    if how == "min":
        picks = _bucket_picks(series.to_numpy(dtype=float), step, lowest=True)
    else:
        picks = np.minimum(np.arange(-(-n // step)) * step + step - 1, n - 1)
    return series.iloc[np.unique(np.concatenate([[0], picks, [n - 1]]))]


def _thin_range(series: pd.Series, limit: int = MAX_POINTS) -> pd.Series:
    # Bucket a level series keeping each bucket's lowest and highest points (and the first and the
    # last one), so crashes and peaks survive and every curve starts at the run's start: at most
    # about ``limit`` points.
    n = len(series)
    if n <= limit:
        return series
    step = -(-n // (limit // 2))
    v = series.to_numpy(dtype=float)
    lo, hi = _bucket_picks(v, step, lowest=True), _bucket_picks(v, step, lowest=False)
    rows = np.unique(np.concatenate([[0], lo, hi, [n - 1]]))
    return series.iloc[rows[rows < n]]


def naive_utc(index: Any) -> np.ndarray:
    """``index`` as plain ``datetime64[ns]`` in UTC (timezone dropped) for a plotly axis.

    plotly deep-copies timezone-aware timestamps one by one; plain ``datetime64`` is about 20x
    faster on the same figure.  Axis titles say the times are UTC.
    """
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return np.asarray(idx.to_numpy(dtype="datetime64[ns]"))


_S = TypeVar("_S", pd.Series, pd.DataFrame)


def until_ruin(r: Any, series: _S) -> _S:
    """``series`` up to and including the result's ruin bar (``r.ruined_at``; all of it when
    never ruined): what a ruined account holds afterwards is dust, not a curve to plot."""
    at = getattr(r, "ruined_at", None)
    if at is None or not len(series):
        return series
    return series.loc[: pd.Timestamp(at)]


def _color(i: int, lightness: int = 45) -> str:
    return f"hsl({(i * 67) % 360}, 65%, {lightness}%)"


def add_line(
    fig: Any,
    x: Any,
    y: Any,
    row: int,
    *,
    name: str,
    group: str,
    color: str,
    width: float = 1,
    dash: str | None = None,
    **extra: Any,
) -> None:
    """Add one run's line trace to subplot ``row`` of ``fig`` (``extra`` goes to ``go.Scatter``)."""
    import plotly.graph_objects as go

    line: dict[str, Any] = {"color": color, "width": width}
    if dash is not None:
        line["dash"] = dash
    fig.add_trace(go.Scatter(x=x, y=y, name=name, legendgroup=group, line=line, **extra), row=row, col=1)


def _series(obj: Any, name: str) -> pd.Series | None:
    s = getattr(obj, name, None)
    return s if isinstance(s, pd.Series) and len(s) else None


def _frame(obj: Any, name: str) -> pd.DataFrame | None:
    f = getattr(obj, name, None)
    return f if isinstance(f, pd.DataFrame) else None


def _liquidations(obj: Any) -> pd.DataFrame | None:
    # The liquidation rows the charts mark: without the settlement rows ("flat", qty 0), which
    # book the bad debt of a trade that left a negative balance (no liquidation happened).
    liq = _frame(obj, "liquidations")
    if liq is None or "side" not in liq:
        return liq
    return liq[liq["side"] != "flat"]


def _instruments(r: Any) -> dict[str, pd.DataFrame]:
    inst = getattr(r, "instruments", None)
    if not isinstance(inst, Mapping):
        return {}
    return {str(k): v for k, v in inst.items() if isinstance(v, pd.DataFrame)}


def _multi(r: Any) -> bool:
    # Whether a result trades several instruments (its instruments, or its liquidations' symbols).
    liq = _liquidations(r)
    return len(_instruments(r)) > 1 or (liq is not None and "symbol" in liq and liq["symbol"].nunique() > 1)


def _liq_symbols(results: Mapping[str, Any]) -> list[str]:
    # Symbols that get their own marker shape: those of multi-instrument results' liquidations.
    out: list[str] = []
    for r in results.values():
        liq = _liquidations(r)
        multi = len(_instruments(r)) > 1 or (liq is not None and "symbol" in liq and liq["symbol"].nunique() > 1)
        if multi and liq is not None and "symbol" in liq:
            out.extend(s for s in map(str, liq["symbol"].unique()) if s not in out)
    return out


def _liq_text(row: Mapping[Hashable, Any], with_symbol: bool) -> str:
    head = f"{row['symbol']} " if with_symbol and "symbol" in row else ""
    side = f"{row['side']} " if "side" in row and isinstance(row["side"], str) else ""
    if row.get("side") == "flat":  # a settlement row: a trade left a negative balance (no liquidation)
        text = f"{head}negative balance settled"
    else:
        text = f"{head}{side}liquidated at {fmt_price(float(row['price']))}"
    bad = row.get("bad_debt")
    if bad is not None and math.isfinite(float(bad)) and float(bad) > 0:
        text += f"; bad debt {float(bad):,.2f}"
    return text


def _log_range(results: Mapping[str, Any], floor: float = 0.01) -> list[float] | None:
    # The log equity axis from the lowest equity up to the ruin (at least ``floor`` of the largest
    # starting equity: a ruined account's last cents would squash every other curve) to the top.
    lows, highs, starts = [], [], []
    for r in results.values():
        eq = until_ruin(r, r.equity).to_numpy(dtype=float)
        eq = eq[np.isfinite(eq) & (eq > 0)]
        if len(eq):
            lows.append(eq.min())
            highs.append(eq.max())
            starts.append(eq[0])
    if not lows:
        return None
    low = max(min(lows), floor * max(starts))
    return [math.log10(low) - 0.05, math.log10(max(max(highs), low * 10)) + 0.05]


def comparison_figure(results: Mapping[str, Any], *, height: int = 1150) -> Any:
    """The comparison figure of ``results`` (name -> result): a ``plotly.graph_objects.Figure``.

    Rows: equity (log scale) with liquidation markers; drawdown; gross leverage (solid) against
    the policy's target (``positions["target_leverage"]``, dotted) when present; cumulative
    funding (solid) and fees (dashed).  A ruined run's curves end at its ruin (``ruined_at``).
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
    rng = _log_range(results)
    bottom = 10.0 ** rng[0] if rng else 0.0  # a marker at equity 0 (no logarithm) sits on the axis floor
    for i, (name, r) in enumerate(results.items()):
        color = _color(i)
        eq = r.equity
        draw = functools.partial(add_line, fig, group=name, color=color)
        line = _thin_range(until_ruin(r, eq))
        draw(naive_utc(line.index), line.to_numpy(), 1, name=name, width=1.5)
        liq = _liquidations(r)
        if liq is not None and len(liq):
            per_symbol = "symbol" in liq and any(s in marker_of for s in map(str, liq["symbol"].unique()))
            groups = liq.groupby(liq["symbol"].astype(str), sort=False) if per_symbol else [("", liq)]
            for sym, part in groups:
                ts = pd.to_datetime(part["timestamp"])
                at = eq.reindex(ts, method="ffill").to_numpy(dtype=float)
                fig.add_trace(
                    go.Scatter(
                        x=naive_utc(ts),
                        y=np.where(at > bottom, at, bottom),
                        mode="markers",
                        name=f"{name} liquidations{f' {sym}' if sym else ''}",
                        legendgroup=name,
                        showlegend=False,
                        marker={"symbol": marker_of.get(str(sym), "x"), "size": 10, "color": color},
                        hovertext=[
                            f"{_liq_text(row, bool(sym))}<br>equity {e:,.2f}"
                            for row, e in zip(part.to_dict("records"), at, strict=True)
                        ],
                        cliponaxis=False,
                    ),
                    row=1,
                    col=1,
                )
        kept = until_ruin(r, eq)
        dd = _thin(kept / kept.cummax() - 1.0, "min")
        draw(naive_utc(dd.index), dd.to_numpy(), 2, name=f"{name} drawdown", showlegend=False)
        pos = _frame(r, "positions")
        if pos is not None and len(pos):
            pos = until_ruin(r, pos)
            for col, label, dash in (("leverage", "leverage", "solid"), ("target_leverage", "target", "dot")):
                if col in pos:
                    lev = _thin_range(pos[col].astype(float))  # each bucket's extremes kept
                    draw(
                        naive_utc(lev.index),
                        lev.to_numpy(),
                        3,
                        name=f"{name} {label}",
                        dash=dash,
                        showlegend=False,
                    )
        for attr, dash in (("funding", "solid"), ("fees", "dash")):
            s = _series(r, attr)
            if s is None:
                continue
            paid = _thin(until_ruin(r, s.fillna(0.0).cumsum()))
            draw(naive_utc(paid.index), paid.to_numpy(), 4, name=f"{name} {attr}", dash=dash, showlegend=False)
    fig.update_yaxes(type="log", range=rng, row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_yaxes(ticksuffix="x", row=3, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=4, col=1)
    fig.update_layout(
        height=height,
        template="plotly_white",
        legend=_LEGEND_BELOW,
        margin={"l": 60, "r": 20, "t": 40, "b": 60},
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
        liq = _liquidations(results[name])
        for sym, df in inst.items():
            color = color_of[sym]
            for col, dash in (("leverage", "solid"), ("target_leverage", "dot")):
                if col not in df:
                    continue
                thin = _thin_range(df[col].astype(float))  # each bucket's extremes kept: spikes survive
                first = col == "leverage" and sym not in shown
                shown.add(sym)
                add_line(
                    fig,
                    naive_utc(thin.index),
                    thin.to_numpy(),
                    row,
                    name=sym if col == "leverage" else f"{sym} target",
                    group=sym,
                    color=color,
                    dash=dash,
                    showlegend=first,
                    hovertemplate=f"{name} · {sym} {col.replace('_', ' ')}: %{{y:.2f}}x<extra></extra>",
                )
            if liq is not None and len(liq) and "symbol" in liq and "leverage" in df:
                part = liq[liq["symbol"].astype(str) == sym]
                if len(part):
                    ts = pd.to_datetime(part["timestamp"])
                    before = df["leverage"].shift(1).reindex(ts, method="ffill").to_numpy()
                    fig.add_trace(
                        go.Scatter(
                            x=naive_utc(ts),
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
    fig.update_xaxes(title_text="time (UTC)", row=rows, col=1)
    fig.update_layout(
        height=max(320, 260 * rows),
        template="plotly_white",
        legend=_LEGEND_BELOW,
        margin={"l": 60, "r": 20, "t": 40, "b": 60},
    )
    return fig


def write_page(path: str | Path, title: str, subtitle: str, body: Sequence[str]) -> Path:
    """Write one self-contained HTML page (``body`` fragments in order) to ``path``."""
    sub = f"<p>{html.escape(subtitle)}</p>" if subtitle else ""
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{STYLE}</style></head><body>"
        f"<main><h1>{html.escape(title)}</h1>{sub}{''.join(body)}</main></body></html>"
    )
    out = Path(path)
    try:
        with replacing(out) as (temp,):  # whole or not at all: a full disk leaves the previous report
            temp.write_text(doc, encoding="utf-8")
    except OSError as exc:  # a directory, a full disk, a path under a file
        raise InputError(f"cannot write the report {str(out)!r}: {exc.strerror or type(exc).__name__}") from None
    return out


def _known_crashes(data: pd.DataFrame | pd.Series) -> pd.DataFrame | None:
    # The embedded default market's injected crashes when ``data`` is that market (same source
    # label, same first and last bar, same length), else None.
    from levguard.data.default import DEFAULT_CONFIG, default_market

    source = data.attrs.get("source", "")
    if not isinstance(source, str) or not source.startswith(f"synthetic(seed={DEFAULT_CONFIG.seed})"):
        return None
    market = default_market()
    idx, ref = pd.DatetimeIndex(data.index), pd.DatetimeIndex(market.ohlcv.index)
    if len(idx) != len(ref) or idx[0] != ref[0] or idx[-1] != ref[-1]:
        return None
    return market.crashes


Section = tuple[str, str, Any]
"""One tearsheet section: heading, note (may be empty) and a plotly figure."""


def price_section(
    data: pd.DataFrame | pd.Series,
    results: Mapping[str, Any],
    crashes: pd.DataFrame | None = None,
    *,
    symbol: str | None = None,
    alone: bool = True,
) -> Section:
    """The price panel (log scale) with crash windows shaded and each result's liquidations on
    these bars (``symbol``'s of a result trading several instruments; see
    :func:`levguard.report.tearsheet.price_figure`).

    Windows: ``crashes`` (``start``, ``trough``, optionally ``name``), by default the injected
    crashes when ``data`` is the embedded default market, otherwise the stretches where the close
    is more than 20 % below its running peak (the note says which).

    Raises
    ------
    InputError
        ``data`` is a DataFrame without a ``close`` column.
    """
    from levguard.report import tearsheet

    if isinstance(data, pd.DataFrame) and "close" not in data:
        raise InputError(f"data must have a 'close' column for the price panel (has {list(data.columns)})")
    known = crashes if crashes is not None else _known_crashes(data)
    windows, label = tearsheet.crash_windows(data, known)
    names = [str(n) for n in known["name"]] if known is not None and "name" in known else []
    listed = f" ({', '.join(names)})" if names else ""
    note = f"Shaded: {label}{listed}." if windows else "No crash to shade."
    head = f"Price of {symbol} (log scale) and liquidations" if symbol and not alone else None
    head = head or "Price (log scale) and liquidations"
    figure = tearsheet.price_figure(data, results, windows, label, names, symbol=symbol, alone=alone)
    return (head, note, figure)


def tearsheet_sections(
    results: Mapping[str, Any],
    *,
    data: pd.DataFrame | pd.Series | Mapping[str, Any] | None = None,
    crashes: pd.DataFrame | None = None,
) -> list[Section]:
    """The figure sections of a tearsheet, in order: the price (with ``data``; one panel per
    symbol of a mapping symbol -> bars), equity and drawdown, leverage against its target,
    leverage per instrument (several instruments), monthly returns and rolling volatility.  With
    no ``results``, only the price panels (when ``data``).

    Raises
    ------
    InputError
        ``data`` is not a DataFrame, a Series or a mapping symbol -> DataFrame, or a frame of it
        has no ``close`` column.
    """
    from levguard.report import tearsheet

    sections: list[Section] = []
    frames = tearsheet.price_frames(data)
    for sym, bars in frames.items():
        if len(bars):
            sections.append(price_section(bars, results, crashes, symbol=sym, alone=len(frames) == 1))
    if not results:
        return sections
    sections.append(
        (
            "Equity and drawdown",
            "Equity in percent of the start (buttons: linear or log view, floored at 1 %); "
            "a ruined run's curve ends at its ruin.",
            tearsheet.equity_figure(results),
        )
    )
    leverage = tearsheet.leverage_figure(results)
    if leverage is not None:
        sections.append(
            (
                "Leverage against its target",
                "Leverage (colour) and the policy's target (black, dashed), one panel per policy.",
                leverage,
            )
        )
    per_instrument = instruments_figure(results)
    if per_instrument is not None:
        sections.append(("Leverage per instrument", "", per_instrument))
    sections.append(
        (
            "Monthly returns",
            "Choose the policy with the selector; months after a ruin are blank.",
            tearsheet.monthly_returns_figure(results),
        )
    )
    sections.append(
        (
            "Rolling 30-day volatility",
            "Annualised (365-day year); the price's dotted.",
            tearsheet.rolling_vol_figure(results, data),
        )
    )
    return sections


def section_html(head: str, note: str, part: str) -> list[str]:
    """A section's fragments: heading, note (when any) and the drawn figure ``part``."""
    out = [f"<h2>{html.escape(head)}</h2>"]
    if note:
        out.append(f"<p class='note'>{html.escape(note)}</p>")
    out.append(part)
    return out


Fragment = str | Section


def tearsheet_body(
    results: Mapping[str, Any],
    *,
    data: pd.DataFrame | pd.Series | Mapping[str, Any] | None = None,
    crashes: pd.DataFrame | None = None,
    before: Sequence[Fragment] = (),
    after: Sequence[Fragment] = (),
) -> list[str]:
    """The body fragments of a tearsheet page, for :func:`write_page`.

    In order: ``before``; the key metrics (every metric in a ``<details>``); the sections of
    :func:`tearsheet_sections`; the liquidations table; ``after``.  Items of ``before`` and
    ``after`` are HTML fragments (str) or sections (heading, note, figure).  Every figure of the
    page is drawn from one embedded copy of plotly.js.  With no ``results`` the metrics and
    liquidations are left out (the price panel remains when ``data`` is given).

    Raises
    ------
    InputError
        ``data`` is a DataFrame without a ``close`` column.
    """
    from levguard.report import tables

    core = tearsheet_sections(results, data=data, crashes=crashes)
    figures = [item[2] for item in (*before, *core, *after) if not isinstance(item, str)]
    parts = iter(figures_html(figures))

    def render(items: Sequence[Fragment]) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, str):
                out.append(item)
            else:
                out.extend(section_html(item[0], item[1], next(parts)))
        return out

    body = render(before)
    if results:
        body += [
            "<h2>Key metrics</h2>",
            tables.key_metrics_html(results),
            f"<details><summary>All metrics</summary>{tables.all_metrics_html(results)}</details>",
        ]
    body += render(core)
    if results:
        body += [
            "<h2>Liquidations</h2>",
            tables.liquidations_html(results, data),
        ]
    body += render(after)
    return body


def write_report(
    results: Mapping[str, Any],
    path: str | Path,
    *,
    title: str = "levguard backtest",
    subtitle: str = "",
    heatmap: pd.DataFrame | None = None,
    data: pd.DataFrame | pd.Series | Mapping[str, Any] | None = None,
    crashes: pd.DataFrame | None = None,
) -> Path:
    """Write the tearsheet of ``results`` (name -> BacktestResult) to ``path``.

    Sections, in order: key metrics (total return, CAGR, max drawdown, Sharpe, liquidations,
    final equity, ruin time; every other metric in a ``<details>``); the price (log scale) with
    crash windows shaded and each policy's liquidations (with ``data``); equity in percent of
    the start (linear, or log floored at 1 %) and drawdown; leverage against its target, one
    small panel per policy; with several instruments, leverage per instrument; monthly returns
    (a selector per policy); rolling 30-day volatility; the liquidations table; the sweep
    heatmap when given.  One self-contained file: plotly.js is embedded once (gzipped).

    Parameters
    ----------
    results : Mapping[str, BacktestResult]
        Each with ``equity`` (Series), ``positions`` (DataFrame with a ``leverage`` column and
        optionally ``target_leverage``), ``liquidations`` (DataFrame with ``timestamp`` and
        ``price``, optionally ``symbol``, ``side``, ``loss``, ``fee`` and ``bad_debt``),
        ``metrics``, optionally ``ruined_at`` (the curves of a ruined run end there) and
        ``instruments`` (symbol -> DataFrame with ``leverage`` and ``target_leverage``).
    path : path
        Output ``.html`` file.
    heatmap : DataFrame, optional
        A sweep's objective over two parameters (index x columns), drawn as a heatmap.  For a
        tidy sweep table use :func:`levguard.report.sweep.write_sweep_report`.
    data : DataFrame, Series or mapping symbol -> DataFrame, optional
        The bars the results ran on (``close``, optionally ``mark_low``/``mark_high``): the price
        panel, the rolling volatility of the price and the liquidation bars' mark extremes.  With
        several instruments a mapping like :func:`levguard.backtest.run`'s: one price panel per
        symbol, each liquidation matched to its symbol's bars (a single frame is matched to its
        ``attrs["symbol"]``).
    crashes : DataFrame, optional
        Windows to shade (``start``, ``trough``, optionally ``name``).  By default the injected
        crashes when ``data`` is the embedded default market, otherwise the stretches where the
        close is more than 20 % below its running peak (the legend says which).

    Raises
    ------
    InputError
        ``results`` is empty, or ``data`` is not a DataFrame, a Series or a mapping symbol ->
        DataFrame, or a frame of it has no ``close`` column.
    """
    import plotly.graph_objects as go

    if not results:
        raise InputError("results must hold at least one backtest result")
    after: list[Fragment] = []
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
        after.append(("Sweep objective", "", hm))
    body = tearsheet_body(results, data=data, crashes=crashes, after=after)
    return write_page(path, title, subtitle, body)
