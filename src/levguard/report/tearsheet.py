"""Tearsheet figures of backtest results: price, equity, leverage, monthly returns, rolling vol.

Each function returns one ``plotly.graph_objects.Figure`` for :func:`levguard.report.html.write_report`.
Time axes get plain ``datetime64`` values (UTC, timezone dropped; the axis title says UTC): plotly
deep-copies timezone-aware timestamps element by element, which cost 3.9 of the demo's 10.2 s.
Long series are thinned to :data:`POINTS` per curve (extremes kept), so the demo's report stays
under 3 MB.

Results are duck-typed like in :mod:`levguard.report.html`: ``equity`` (Series), optionally
``positions`` (``leverage``, ``target_leverage``), ``liquidations``, ``ruined_at`` and ``metrics``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from levguard.core.symbols import listing_symbol
from levguard.errors import InputError
from levguard.report.html import (
    _LEGEND_BELOW,
    _color,
    _frame,
    _liq_text,
    _liquidations,
    _multi,
    _thin,
    _thin_range,
    add_line,
    naive_utc,
    until_ruin,
)

__all__ = [
    "CRASH_DRAWDOWN",
    "POINTS",
    "bars_of",
    "crash_windows",
    "equity_figure",
    "leverage_figure",
    "liquidations_on",
    "monthly_returns",
    "monthly_returns_figure",
    "naive_utc",
    "price_figure",
    "price_frames",
    "rolling_vol_figure",
    "until_ruin",
]

POINTS = 1_000
"""Points per curve in a tearsheet (a 1,280 px panel shows no more)."""

CRASH_DRAWDOWN = 0.2
"""Drawdown of the price from its running peak beyond which a window is shaded (non-default data)."""

LOG_FLOOR = 1.0
"""Lowest equity drawn on the log view, in percent of the start."""

_LEGEND = _LEGEND_BELOW
_MARGIN = {"l": 64, "r": 16, "t": 36, "b": 70}
_SHADE = "rgba(214, 39, 40, 0.13)"


def _f32(values: Any) -> np.ndarray:
    # Plot values as float32: half the bytes in the file, far below a pixel's precision.
    return np.asarray(values, dtype=np.float32)


def _ruined_at(r: Any) -> pd.Timestamp | None:
    # The ruin time in UTC (what the hovers and the axis say), whatever zone the result's index has.
    at = getattr(r, "ruined_at", None)
    if at is None:
        return None
    t = pd.Timestamp(at)
    return t.tz_convert("UTC") if t.tzinfo is not None else t


def _axis_title(fig: Any, rows: int) -> None:
    fig.update_xaxes(title_text="time (UTC)", row=rows, col=1)


def _on(ts: pd.DatetimeIndex, index: pd.Index) -> pd.DatetimeIndex:
    # ``ts`` (UTC) in the timezone of ``index`` (naive when ``index`` is naive).
    tz = getattr(index, "tz", None)
    return ts.tz_convert(tz) if tz is not None else ts.tz_convert("UTC").tz_localize(None)


def _interval_days(index: pd.Index) -> float:
    ts = pd.DatetimeIndex(index)
    if len(ts) < 2:
        return 1.0
    return float(np.median(np.diff(ts.as_unit("ns").asi8))) / 86_400e9 or 1.0


def _log_ticks(low: float, high: float) -> list[float]:
    # 1-2-5 ticks covering [low, high] (at most about 8 of them).
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= 0:
        return []
    out = [m * 10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1) for m in (1, 2, 5)]
    out = [t for t in out if low / 1.5 <= t <= high * 1.5]
    return out if len(out) <= 9 else out[::3]


def _pct_text(v: float) -> str:
    # An equity in percent of the start, as a hover shows it (0 reads "0 %").
    return "n/a" if not math.isfinite(v) else f"{v:.4g} %"


def _compact(v: float) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


Bars = pd.DataFrame | pd.Series


def price_frames(data: Any) -> dict[str, Bars]:
    """The bars of a tearsheet's ``data`` by symbol: a mapping symbol -> frame as given, a single
    frame under its own symbol (``attrs["symbol"]`` without its kind suffix; ``""`` when none).

    Raises
    ------
    InputError
        ``data`` is neither a DataFrame, a Series nor a non-empty mapping of them, or a frame
        has no ``close`` column.
    """
    if data is None:
        return {}
    if isinstance(data, pd.DataFrame | pd.Series):
        named = data.attrs.get("symbol")
        frames: dict[str, Bars] = {listing_symbol(named) if isinstance(named, str) else "": data}
    elif isinstance(data, Mapping) and data:
        frames = {}
        for sym, frame in data.items():
            if not isinstance(frame, pd.DataFrame | pd.Series):
                raise InputError(f"data[{sym!r}] must be a DataFrame or Series of bars, was {type(frame).__name__}")
            frames[str(sym)] = frame
    else:
        raise InputError(
            f"data must be a DataFrame, a Series or a non-empty mapping symbol -> DataFrame, was {type(data).__name__}"
        )
    for sym, frame in frames.items():
        if isinstance(frame, pd.DataFrame) and "close" not in frame:
            where = f"data[{sym!r}]" if isinstance(data, Mapping) else "data"
            raise InputError(f"{where} must have a 'close' column for the price panel (has {list(frame.columns)})")
    return frames


def bars_of(frames: Mapping[str, Bars], r: Any, symbol: Any) -> Bars | None:
    """The bars a liquidation of ``symbol`` in result ``r`` happened on: ``frames[symbol]``, else
    the only frame when ``r`` trades one instrument; None when no frame is that symbol's."""
    if isinstance(symbol, str) and symbol and symbol in frames:
        return frames[symbol]
    return next(iter(frames.values())) if len(frames) == 1 and not _multi(r) else None


def liquidations_on(r: Any, symbol: str, alone: bool = True) -> pd.DataFrame | None:
    """The liquidations of ``r`` (settlement rows left out) on the bars of ``symbol``: those of
    that symbol, or all of them when those bars are the only ones given (``alone``) and ``r``
    trades one instrument."""
    liq = _liquidations(r)
    if liq is None or not len(liq) or (alone and not _multi(r)):
        return liq
    if "symbol" not in liq or not symbol:
        return liq.iloc[:0]
    return liq[liq["symbol"].astype(str) == symbol]


def crash_windows(
    data: pd.DataFrame | pd.Series, crashes: pd.DataFrame | None = None, threshold: float = CRASH_DRAWDOWN
) -> tuple[list[tuple[pd.Timestamp, pd.Timestamp]], str]:
    """Windows to shade on the price panel, and what they are (for the legend).

    With ``crashes`` (``start`` and ``trough`` columns, like a synthetic market's injected
    crashes) those windows; otherwise the stretches where the close is more than ``threshold``
    below its running peak.
    """
    if crashes is not None and len(crashes) and {"start", "trough"} <= set(crashes.columns):
        spans = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in zip(crashes["start"], crashes["trough"], strict=True)]
        return spans, "injected crashes of the market"
    close = data["close"] if isinstance(data, pd.DataFrame) else data
    close = pd.to_numeric(close, errors="coerce").dropna()
    if close.empty:
        return [], ""
    deep = (close / close.cummax() - 1.0).to_numpy() <= -threshold
    spans = []
    edges = np.flatnonzero(np.diff(np.r_[0, deep.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        spans.append((close.index[a], close.index[b - 1]))
    return spans, f"price more than {threshold:.0%} below its running peak"


def price_figure(
    data: pd.DataFrame | pd.Series,
    results: Mapping[str, Any],
    windows: list[tuple[pd.Timestamp, pd.Timestamp]],
    shade_label: str,
    names: list[str] | None = None,
    *,
    symbol: str | None = None,
    alone: bool = True,
) -> Any:
    """The price (close, log scale) with ``windows`` shaded (labelled with ``names``) and each
    policy's liquidations on these bars (hover: fill price, bad debt).

    ``symbol`` names the bars (default: their ``attrs["symbol"]``); ``alone`` says they are the
    only bars given.  A result trading several instruments gets the markers of ``symbol`` only
    (:func:`liquidations_on`): another instrument's fill price is not on this price axis.
    """
    import plotly.graph_objects as go

    if symbol is None:
        symbol = next(iter(price_frames(data)))
    close = data["close"] if isinstance(data, pd.DataFrame) else data
    names = list(names or [])
    line = _thin_range(close.astype(float), POINTS)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=naive_utc(line.index), y=_f32(line), name="close", line={"color": "#444", "width": 1}, hoverinfo="x+y"
        )
    )
    span = (close.index[-1] - close.index[0]) if len(close) > 1 else pd.Timedelta(0)
    for k, (a, b) in enumerate(windows):
        # A crash of a day is under a pixel on a 3-year axis: shade at least 1 % of the span.
        pad = max(span * 0.01 - (b - a), pd.Timedelta(0)) / 2
        fig.add_vrect(
            x0=naive_utc([a - pad])[0], x1=naive_utc([b + pad])[0], fillcolor=_SHADE, line_width=0, layer="below"
        )
        if k < len(names):
            fig.add_annotation(
                x=naive_utc([a])[0],
                y=1.0,
                yref="paper",
                yanchor="bottom",
                text=names[k],
                showarrow=False,
                font={"size": 10, "color": "#a33"},
            )
    if windows:
        # Shapes have no legend entry: a stand-in trace says what the shading is.
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"shaded: {shade_label}",
                marker={"symbol": "square", "size": 12, "color": _SHADE},
            )
        )
    for i, (name, r) in enumerate(results.items()):
        liq = liquidations_on(r, symbol, alone)
        if liq is None or not len(liq):
            continue
        fig.add_trace(
            go.Scatter(
                x=naive_utc(pd.to_datetime(liq["timestamp"], utc=True)),
                y=liq["price"].to_numpy(dtype=float),
                mode="markers",
                name=f"{name}: liquidation",
                marker={"symbol": "x", "size": 10, "color": _color(i), "line": {"width": 1}},
                hovertext=[f"{name}: {_liq_text(row, 'symbol' in row)}" for row in liq.to_dict("records")],
                hoverinfo="x+text",
            )
        )
    ticks = _log_ticks(float(np.nanmin(line)), float(np.nanmax(line))) if len(line) else []
    fig.update_yaxes(type="log", title_text="price", tickvals=ticks, ticktext=[_compact(t) for t in ticks])
    fig.update_xaxes(title_text="time (UTC)")
    fig.update_layout(height=400, template="plotly_white", legend=_LEGEND, margin=_MARGIN, hovermode="closest")
    return fig


def equity_figure(results: Mapping[str, Any]) -> Any:
    """Equity in percent of the start (a button switches to a log view floored at 1 %) and drawdown.

    A ruined run's curves end at its ruin (``ruined_at``): what it holds afterwards is dust.  The
    ruin and liquidation markers stay on the log view: a marker at or below the axis floor (an
    equity of 0 has no logarithm) is drawn on the floor, its hover giving the true equity.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.62, 0.38])
    lows: list[float] = []
    highs: list[float] = []
    marks: list[tuple[int, np.ndarray]] = []  # (trace index, true equity in %) of each marker trace
    for i, (name, r) in enumerate(results.items()):
        eq = until_ruin(r, r.equity.astype(float))
        if not len(eq):
            continue
        pct = eq / float(eq.iloc[0]) * 100.0
        line = _thin_range(pct, POINTS)
        finite = line[np.isfinite(line) & (line > 0)]
        if len(finite):
            lows.append(float(finite.min()))
            highs.append(float(finite.max()))
        ruined = _ruined_at(r)
        label = f"{name} (ruined {ruined:%Y-%m-%d})" if ruined is not None else name
        color = _color(i)
        draw = functools.partial(add_line, fig, group=name, color=color)
        draw(
            naive_utc(line.index),
            _f32(line),
            1,
            name=label,
            width=1.5,
            hovertemplate=f"{name}: %{{y:.1f}} %<extra></extra>",
        )
        if ruined is not None:
            last = float(pct.iloc[-1])
            marks.append((len(fig.data), _f32([last])))
            fig.add_trace(
                go.Scatter(
                    x=naive_utc([eq.index[-1]]),
                    y=_f32([last]),
                    mode="markers",
                    name=f"{name} ruined",
                    legendgroup=name,
                    showlegend=False,
                    marker={"symbol": "x-thin", "size": 12, "color": color, "line": {"width": 2, "color": color}},
                    hovertext=[f"{name}: ruined at {ruined:%Y-%m-%d %H:%M} UTC; equity {_pct_text(last)} of start"],
                    hoverinfo="text",
                    cliponaxis=False,
                ),
                row=1,
                col=1,
            )
        liq = _liquidations(r)
        if liq is not None and len(liq):
            ts = pd.to_datetime(liq["timestamp"], utc=True)
            at = pct.reindex(_on(pd.DatetimeIndex(ts), pct.index), method="ffill").to_numpy(dtype=float)
            marks.append((len(fig.data), _f32(at)))
            texts = [f"{name}: {_liq_text(row, 'symbol' in row)}" for row in liq.to_dict("records")]
            fig.add_trace(
                go.Scatter(
                    x=naive_utc(ts),
                    y=_f32(at),
                    mode="markers",
                    name=f"{name} liquidations",
                    legendgroup=name,
                    showlegend=False,
                    marker={"symbol": "x", "size": 10, "color": color},
                    hovertext=[f"{t}; equity {_pct_text(v)} of start" for t, v in zip(texts, at.tolist(), strict=True)],
                    hoverinfo="x+text",
                    cliponaxis=False,
                ),
                row=1,
                col=1,
            )
        dd = _thin(pct / pct.cummax() - 1.0, "min", POINTS)
        draw(
            naive_utc(dd.index),
            _f32(dd),
            2,
            name=f"{name} drawdown",
            showlegend=False,
            hovertemplate=f"{name}: %{{y:.1%}}<extra></extra>",
        )
    low = max(min(lows, default=LOG_FLOOR), LOG_FLOOR)
    high = max(max(highs, default=100.0), low * 10)
    log_range = [np.log10(low) - 0.05, np.log10(high) + 0.05]
    fig.update_yaxes(title_text="equity, % of start", ticksuffix=" %", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    _axis_title(fig, 2)
    # Each view sets the markers' heights too: the true equity on the linear view, at least the
    # log axis's floor on the log view (log(0) is undefined and plotly would drop those markers).
    which = [k for k, _ in marks]

    def view(ys: list[list[float]], axis: dict[str, Any]) -> list[Any]:
        return [{"y": ys}, axis, which] if which else [{}, axis]

    linear = view([y.tolist() for _, y in marks], {"yaxis.type": "linear", "yaxis.autorange": True})
    log = view(
        [np.maximum(y, np.float32(low)).tolist() for _, y in marks], {"yaxis.type": "log", "yaxis.range": log_range}
    )
    buttons = [
        {"label": "linear", "method": "update", "args": linear},
        {"label": "log", "method": "update", "args": log},
    ]
    fig.update_layout(
        height=560,
        template="plotly_white",
        legend=_LEGEND,
        margin={**_MARGIN, "t": 44},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "x": 0.0,
                "xanchor": "left",
                "y": 1.0,
                "yanchor": "bottom",
                "pad": {"b": 4},
                "showactive": True,
            }
        ],
    )
    return fig


def leverage_figure(results: Mapping[str, Any]) -> Any | None:
    """Leverage (policy colour) against its target (black, dashed): one small panel per policy."""
    from plotly.subplots import make_subplots

    frames = {name: _frame(r, "positions") for name, r in results.items()}
    panels = {k: v for k, v in frames.items() if v is not None and len(v) and "leverage" in v}
    if not panels:
        return None
    rows = len(panels)
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=min(0.06, 0.4 / rows), subplot_titles=list(panels)
    )
    names = list(results)
    for row, (name, pos) in enumerate(panels.items(), start=1):
        pos = until_ruin(results[name], pos)
        # Each bucket's lowest and highest leverage are kept, like the equity's: a spike survives.
        lev = _thin_range(pos["leverage"].astype(float), POINTS)
        color = _color(names.index(name))
        add_line(
            fig,
            naive_utc(lev.index),
            _f32(lev),
            row,
            name="leverage",
            group="leverage",
            color=color,
            showlegend=row == 1,
            hovertemplate=f"{name} leverage %{{y:.2f}}x<extra></extra>",
        )
        if "target_leverage" in pos:
            target = _thin_range(pos["target_leverage"].astype(float), POINTS)
            add_line(
                fig,
                naive_utc(target.index),
                _f32(target),
                row,
                name="target",
                group="target",
                color="#111",
                width=1.5,
                dash="dash",
                showlegend=row == 1,
                hovertemplate=f"{name} target %{{y:.2f}}x<extra></extra>",
            )
        fig.update_yaxes(ticksuffix="x", rangemode="tozero", row=row, col=1)
    _axis_title(fig, rows)
    fig.update_layout(
        height=150 * rows + 110,
        template="plotly_white",
        legend=_LEGEND,
        margin={**_MARGIN, "t": 30},
    )
    return fig


def monthly_returns(r: Any) -> pd.DataFrame:
    """Monthly returns of a result's equity (up to its ruin): years x months 1..12."""
    eq = until_ruin(r, r.equity.astype(float))
    idx = pd.DatetimeIndex(eq.index)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    eq = pd.Series(eq.to_numpy(), index=idx)
    month_end = eq.groupby(idx.to_period("M")).last()
    start = float(eq.iloc[0]) if len(eq) else np.nan
    prev = month_end.shift(1)
    prev.iloc[:1] = start
    rets = month_end / prev - 1.0
    months = pd.PeriodIndex(rets.index)
    table = pd.DataFrame({"year": months.year, "month": months.month, "ret": rets.to_numpy()})
    out = table.pivot(index="year", columns="month", values="ret")
    return out.reindex(columns=range(1, 13))


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_returns_figure(results: Mapping[str, Any]) -> Any:
    """Monthly returns heatmap, one per policy (a selector switches between them)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names = list(results)
    years: set[int] = set()
    for k, name in enumerate(names):
        table = monthly_returns(results[name])
        years.update(int(y) for y in table.index)
        z = table.to_numpy(dtype=float)
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=list(_MONTHS),
                y=[str(y) for y in table.index],
                zmid=0.0,
                zmin=-0.5,
                zmax=0.5,
                colorscale="RdYlGn",
                text=[[f"{v:.0%}" if np.isfinite(v) else "" for v in row] for row in z],
                texttemplate="%{text}",
                hovertemplate=f"{name} %{{y}} %{{x}}: %{{z:.1%}}<extra></extra>",
                colorbar={"tickformat": ".0%", "len": 0.9},
                name=name,
                visible=k == 0,
            )
        )
    buttons = [
        {"label": name, "method": "update", "args": [{"visible": [j == k for j in range(len(names))]}]}
        for k, name in enumerate(names)
    ]
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(
        height=max(220, 46 * len(years) + 130),
        template="plotly_white",
        margin={**_MARGIN, "t": 48},
        updatemenus=[{"buttons": buttons, "x": 0.0, "xanchor": "left", "y": 1.02, "yanchor": "bottom", "active": 0}],
    )
    return fig


def rolling_vol_figure(
    results: Mapping[str, Any], data: pd.DataFrame | pd.Series | Mapping[str, Any] | None = None, days: float = 30.0
) -> Any:
    """Rolling ``days``-day volatility (annualised, 365-day year) of each equity and of the price
    (of each symbol's price with a mapping symbol -> bars)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    series: list[tuple[str, pd.Series, dict[str, Any]]] = []
    frames = price_frames(data)
    for sym, bars in frames.items():
        close = bars["close"] if isinstance(bars, pd.DataFrame) else bars
        label = f"{sym} price" if len(frames) > 1 else "price"
        series.append((label, close.astype(float), {"color": "#444", "width": 1, "dash": "dot"}))
    for i, (name, r) in enumerate(results.items()):
        series.append((name, until_ruin(r, r.equity.astype(float)), {"color": _color(i), "width": 1.2}))
    for name, s, line in series:
        if len(s) < 3:
            continue
        step = _interval_days(s.index)
        window = max(2, round(days / step))
        rets = s.pct_change()
        vol = rets.rolling(window, min_periods=window).std() * np.sqrt(365.0 / step)
        vol = _thin(vol.dropna(), "last", POINTS)
        if not len(vol):
            continue
        fig.add_trace(
            go.Scatter(
                x=naive_utc(vol.index),
                y=_f32(vol),
                name=name,
                line=line,
                hovertemplate=f"{name}: %{{y:.0%}}<extra></extra>",
            )
        )
    fig.update_yaxes(tickformat=".0%", title_text=f"{days:g}-day vol (ann.)", rangemode="tozero")
    fig.update_xaxes(title_text="time (UTC)")
    fig.update_layout(height=340, template="plotly_white", legend=_LEGEND, margin=_MARGIN)
    return fig
