"""Oracle feeds over history: an index series from several venues' frames, and a mark series on it.

The math lives in :mod:`levguard.core.oracle` (rules, reasons) and :mod:`levguard.kernels.oracle`
(the compiled loops); this module only aligns pandas frames into arrays and back.

* :func:`build_index_frame` aligns the same symbol's prices from several sources (OHLCV frames
  per :mod:`levguard.data.frames` or plain series) on the union of their timestamps and runs the
  Binance index rule per row.
* :func:`build_mark_frame` turns an index series, the contract's price and a funding frame into
  the perpetual mark ``Median(Price1, Price2, ContractPrice)`` or the delivery mark
  ``Index + MA(basis)``.
* :func:`drop_summary` counts, per source, how often each drop reason occurred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.oracle import (
    CHOSEN_NAMES,
    SOURCE_CODE_NAMES,
    STATUS_NAMES,
    OracleConfig,
    aggregate_series,
    mark_series,
    moving_average_basis,
)
from levguard.core.validate import non_negative_number, show
from levguard.data.frames import INDEX_NAME, float_values, interval_to_ns
from levguard.errors import DataError

__all__ = ["build_index_frame", "build_mark_frame", "drop_summary"]

PriceInput = pd.DataFrame | pd.Series


def _rows(index: pd.Index, what: str) -> pd.DatetimeIndex:
    # The validated index in nanoseconds, named ``timestamp``.
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError(f"{what} must have a UTC DatetimeIndex")
    if not index.is_unique or not index.is_monotonic_increasing:
        raise DataError(f"{what} index must be strictly increasing (sorted, no duplicate timestamps)")
    return pd.DatetimeIndex(index.as_unit("ns"), name=INDEX_NAME)


#: The per-source tag of a timestamp before the source's first bar (no quote at all).
MISSING = "missing"


def _categorical(codes: npt.NDArray[np.integer], categories: Sequence[str]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes.astype(np.int64), categories=pd.Index(list(categories)))


def _series(data: PriceInput, column: str, what: str) -> pd.Series:
    if isinstance(data, pd.DataFrame):
        if column not in data.columns:
            raise DataError(f"{what} lacks column {column!r} (has {list(data.columns)[:8]})")
        return data[column]
    if isinstance(data, pd.Series):
        return data
    raise DataError(f"{what} must be a pandas DataFrame or Series, was {type(data).__name__}")


def _common_attr(frames: Mapping[str, PriceInput], key: str) -> str:
    values = {str(f.attrs.get(key, "")) for f in frames.values()}
    return values.pop() if len(values) == 1 else ""


def build_index_frame(
    sources: Mapping[str, PriceInput],
    *,
    column: str = "close",
    weights: Literal["equal", "volume"] | Mapping[str, float] = "equal",
    config: OracleConfig | None = None,
    symbol: str | None = None,
) -> pd.DataFrame:
    """Return the index price series aggregated from several sources' prices.

    Parameters
    ----------
    sources : Mapping[str, DataFrame | Series]
        Source name -> OHLCV frame (``column`` is read) or price series, each with a UTC
        ``DatetimeIndex``, strictly increasing.
    column : str
        Price column of frame inputs (default ``close``).
    weights : "equal", "volume" or Mapping[str, float]
        Equal weights, each frame's ``volume`` column (Binance weights its index by volume), or
        one constant weight per source.
    config : OracleConfig, optional
        Deviation threshold, staleness limit, circuit breaker, method (defaults of
        :class:`~levguard.core.oracle.OracleConfig`: 5 %, 30 s, 3 sources, weighted mean).
    symbol : str, optional
        ``attrs['symbol']`` of the result (default: the inputs' common symbol).

    Returns
    -------
    DataFrame
        Indexed by the union of the inputs' timestamps (``timestamp``, UTC).  Columns
        ``index_price`` (NaN when halted), ``status`` (categorical ``ok`` / ``fallback_median`` /
        ``halted``), ``n_used``, ``median_price`` (median of the fresh, valid prices), then per
        source ``<name>_used`` (bool) and ``<name>_reason`` (categorical tag from
        :data:`~levguard.core.oracle.SOURCE_CODE_NAMES`: ``used``, ``used_in_median``,
        ``non_finite_price``, ``non_positive_price``, ``invalid_weight``, ``zero_weight``,
        ``stale``, ``deviation``, ``circuit_breaker``; ``missing`` before a source's first
        bar).  ``attrs``: ``kind="oracle_index"``, ``symbol``, ``interval``, ``source``,
        ``sources`` and ``oracle`` (the config).

    Raises
    ------
    DataError
        No sources, an input without a UTC, strictly increasing index, a missing column (a
        Series source has no ``volume`` for ``weights="volume"``), or a weights mapping without
        every source.

    Notes
    -----
    At each row time ``t`` every source contributes its latest observation at or before ``t``
    (NaN prices are *missing*; 0, negative and inf prices are *observations* that the oracle
    drops), aged ``t - t_obs``; a source never seen yet has a NaN price.  With bar frames the
    rows are bar open times, so a source's own bar has age 0 and a carried-forward bar has an
    age of at least one interval, which is stale under the default 30 s limit for bars of a
    minute or more.  Then each row is :func:`levguard.core.oracle.aggregate_index` of its quotes
    (Binance "Price Index" rule, see that function).
    """
    if not isinstance(sources, Mapping) or not sources:
        raise DataError(f"sources must map names to at least one price frame or series, was {show(sources)}")
    if not isinstance(column, str):
        raise DataError(f"column must be a column name, was {show(column)}")
    if config is not None and not isinstance(config, OracleConfig):
        raise DataError(f"config must be an OracleConfig or None, was {type(config).__name__}")
    cfg = config if config is not None else OracleConfig()
    names = [str(n) for n in sources]
    if isinstance(weights, Mapping):
        for n in names:
            if n not in weights:
                raise DataError(f"weights lacks source {n!r} (has {sorted(map(str, weights))})")
        if sum(non_negative_number(weights[n], f"weights[{n!r}]") for n in names) == 0.0:
            raise DataError("weights must not all be 0 (every row would be halted)")
    series = {n: _series(sources[n], column, f"source {n!r}") for n in names}
    empty = [n for n in names if series[n].notna().sum() == 0]
    if empty:  # it would never quote: every row halted or carried by the others, silently
        raise DataError(f"source {empty[0]!r} has no price (no rows, or every {column!r} missing)")
    union = _rows(series[names[0]].index, f"source {names[0]!r}")
    for n in names[1:]:
        union = union.union(_rows(series[n].index, f"source {n!r}"))
    ts = union.asi8
    t_count, s_count = len(union), len(names)
    rows = np.arange(t_count)
    prices = np.full((t_count, s_count), np.nan)
    wts = np.ones((t_count, s_count))
    ages = np.zeros((t_count, s_count), dtype=np.int64)
    unseen = np.zeros((t_count, s_count), dtype=bool)
    for j, n in enumerate(names):
        vals = float_values(series[n].reindex(union), f"source {n!r}")
        last = np.maximum.accumulate(np.where(~np.isnan(vals), rows, -1))
        seen = last >= 0
        unseen[:, j] = ~seen
        at = np.where(seen, last, 0)
        prices[:, j] = np.where(seen, vals[at], np.nan)
        ages[:, j] = np.where(seen, ts - ts[at], 0)
        if isinstance(weights, Mapping):
            wts[:, j] = float(weights[n])
        elif weights == "volume":
            if not isinstance(sources[n], pd.DataFrame):  # _series would read its prices as volumes
                raise DataError(
                    f"source {n!r} is a Series: it has no volume column for weights='volume' "
                    "(pass frames with a 'volume' column, or weights 'equal' or a mapping)"
                )
            vol = _series(sources[n], "volume", f"source {n!r}").reindex(union)
            wts[:, j] = float_values(vol, f"source {n!r} volume")[at]
        elif weights != "equal":
            raise DataError(f"weights must be 'equal', 'volume' or a mapping, was {weights!r}")
    res = aggregate_series(prices, wts, ages, cfg)
    out = pd.DataFrame(
        {
            "index_price": res.index,
            "status": _categorical(res.status, STATUS_NAMES),
            "n_used": res.n_used,
            "median_price": res.median,
        },
        index=union,
    )
    used = res.used_mask
    # A source with no bar yet at a timestamp (it starts later than the others) is "missing", not a
    # non-finite price: nothing was quoted. Later gaps are carried forward and age into "stale".
    missing = len(SOURCE_CODE_NAMES)
    for j, n in enumerate(names):
        out[f"{n}_used"] = used[:, j]
        codes = np.where(unseen[:, j], missing, res.codes[:, j])
        out[f"{n}_reason"] = _categorical(codes, (*SOURCE_CODE_NAMES, MISSING))
    out.attrs.update(
        {
            "kind": "oracle_index",
            "symbol": symbol if symbol is not None else _common_attr(sources, "symbol"),
            "interval": _common_attr(sources, "interval"),
            "source": "oracle(" + ", ".join(f"{n}={sources[n].attrs.get('source', '?')}" for n in names) + ")",
            "sources": tuple(names),
            "oracle": {
                "max_deviation": cfg.max_deviation,
                "max_age_ns": cfg.max_age_ns,
                "min_sources": cfg.min_sources,
                "method": cfg.method,
                "weights": weights if isinstance(weights, str) else dict(weights),
            },
        }
    )
    return out


def drop_summary(index_frame: pd.DataFrame) -> pd.DataFrame:
    """Count, per source, the rows of each reason tag in a :func:`build_index_frame` result.

    Returns
    -------
    DataFrame
        One row per source, one integer column per tag that occurred (``used`` first).
    """
    names = index_frame.attrs.get("sources")
    if not names:
        raise DataError("frame lacks attrs['sources']; build it with build_index_frame")
    counts = {n: index_frame[f"{n}_reason"].value_counts() for n in names}
    table = pd.DataFrame(counts).T.fillna(0).astype(np.int64)
    keep = [c for c in (*SOURCE_CODE_NAMES, MISSING) if c in table.columns and table[c].sum() > 0]
    table = table[keep]
    table.index.name = "source"
    return table


def _on(data: PriceInput, column: str, index: pd.DatetimeIndex, what: str) -> npt.NDArray[np.float64]:
    s = _series(data, column, what)
    aligned = s.set_axis(_rows(s.index, what)).reindex(index)
    return float_values(aligned, what)


def build_mark_frame(
    index: PriceInput,
    contract_price: PriceInput,
    funding: pd.DataFrame | None = None,
    *,
    mid_price: PriceInput | None = None,
    contract: Literal["perpetual", "delivery"] = "perpetual",
    basis_window: str = "30s",
    funding_interval: str = "8h",
) -> pd.DataFrame:
    """Return the mark price series of a perpetual (Binance rule) or delivery contract.

    Parameters
    ----------
    index : DataFrame | Series
        Index prices: a :func:`build_index_frame` result (column ``index_price``) or a series.
        Its timestamps are the rows of the result; the other inputs are matched on them exactly.
    contract_price : DataFrame | Series
        The contract's last traded price (frame: column ``close``).
    funding : DataFrame, optional
        Funding frame (settlement times, ``funding_rate``); required for perpetuals.
    mid_price : DataFrame | Series, optional
        The contract's mid ``(bid1 + ask1) / 2`` (frame: ``close``); default ``contract_price``,
        the usual stand-in when only bars are at hand.
    contract : {"perpetual", "delivery"}
        Perpetual: ``Median(Price1, Price2, ContractPrice)``; delivery: ``Index + MA(basis)``.
    basis_window : str
        Length of the basis moving average (Binance: 30 s); converted to
        ``max(1, round(basis_window / row spacing))`` samples, row spacing being the most common
        gap between index timestamps.  Windows count the finite basis points they hold (at
        least one).
    funding_interval : str
        Denominator of the funding term (Binance: 8 h) and the step used to extrapolate the
        next settlement past the funding frame's last row.

    Returns
    -------
    DataFrame
        Columns ``mark_price``, ``index_price``, ``contract_price`` (the mid for delivery),
        ``basis_ma``, ``chosen`` (categorical ``price1`` / ``price2`` / ``contract_price`` /
        ``none``) and for perpetuals ``price1``, ``price2``, ``funding_rate``,
        ``time_until_funding_ns``.  ``attrs``: ``kind="oracle_mark"``, ``symbol``,
        ``interval``, ``source``, ``contract``.

    Raises
    ------
    DataError
        Inputs without a UTC, strictly increasing index; a perpetual without a non-empty
        funding frame; a bad interval string.

    Notes
    -----
    ``lastFundingRate`` at row ``t`` is the rate of the latest settlement at or before ``t`` (no
    look-ahead; rows before the first settlement get NaN and so a NaN mark), and
    ``timeUntilFunding`` runs to the next settlement after ``t`` in the frame, extrapolated by
    ``funding_interval`` beyond it.  The venue's live ``lastFundingRate`` is the estimate for
    the running interval, which history does not record.  Formulas:
    :func:`levguard.core.oracle.mark_price` (Binance's mark-price rule).
    """
    idx_series = _series(index, "index_price", "index")
    rows = _rows(idx_series.index, "index")
    ts = rows.asi8
    idx = float_values(idx_series, "index")
    last = _on(contract_price, "close", rows, "contract_price")
    mid = last if mid_price is None else _on(mid_price, "close", rows, "mid_price")
    step = interval_to_ns(basis_window)
    if len(ts) > 1:
        gaps, counts = np.unique(np.diff(ts), return_counts=True)
        step = int(gaps[np.argmax(counts)])
    window = max(1, round(interval_to_ns(basis_window) / step))
    basis_ma = moving_average_basis(mid, idx, window, min_periods=1)
    out = pd.DataFrame(index=rows)
    attrs = {
        "kind": "oracle_mark",
        "symbol": str(index.attrs.get("symbol", "")),
        "interval": str(index.attrs.get("interval", "")),
        "source": f"mark({contract}; index={index.attrs.get('source', '?')}; "
        f"contract={contract_price.attrs.get('source', '?')})",
        "contract": contract,
    }
    if contract == "delivery":
        mark = idx + basis_ma
        out["mark_price"] = mark
        out["index_price"] = idx
        out["contract_price"] = mid
        out["basis_ma"] = basis_ma
        chosen = np.where(np.isnan(mark), "none", "price2")
        out["chosen"] = pd.Categorical(chosen, categories=list(CHOSEN_NAMES.values()))
        out.attrs.update(attrs)
        return out
    if contract != "perpetual":
        raise DataError(f"contract must be 'perpetual' or 'delivery', was {contract!r}")
    if funding is not None and not isinstance(funding, pd.DataFrame):  # 0.0 was a TypeError, a dict an AttributeError
        what = type(funding).__name__
        raise DataError(f"funding must be a funding DataFrame (column funding_rate) or None, was {what}")
    if funding is None or len(funding) == 0:
        raise DataError("a perpetual mark needs a non-empty funding frame (column funding_rate)")
    f_ts = _rows(funding.index, "funding").asi8
    f_rate = float_values(_series(funding, "funding_rate", "funding"), "funding")
    interval_ns = interval_to_ns(funding_interval)
    prev = np.searchsorted(f_ts, ts, side="right") - 1
    rate = np.where(prev >= 0, f_rate[np.clip(prev, 0, None)], np.nan)
    nxt = prev + 1
    inside = nxt < len(f_ts)
    beyond = (ts - f_ts[-1]) // interval_ns + 1
    next_ts = np.where(inside, f_ts[np.clip(nxt, 0, len(f_ts) - 1)], f_ts[-1] + beyond * interval_ns)
    until = (next_ts - ts).astype(np.int64)
    res = mark_series(idx, basis_ma, rate, until.astype(np.float64), last, float(interval_ns))
    out["mark_price"] = res.mark
    out["index_price"] = idx
    out["price1"] = res.price1
    out["price2"] = res.price2
    out["contract_price"] = last
    out["basis_ma"] = basis_ma
    out["funding_rate"] = rate
    out["time_until_funding_ns"] = until
    # CHOSEN_NAMES runs from code -1 ("none") upwards: shift the codes to category positions.
    out["chosen"] = _categorical(res.chosen.astype(np.int64) + 1, list(CHOSEN_NAMES.values()))
    out.attrs.update(attrs)
    return out
