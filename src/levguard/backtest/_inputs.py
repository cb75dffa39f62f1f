"""Validation of :func:`levguard.backtest.engine.run`'s arguments: bar frames, directions,
fees, slippage, rebalancing and per-symbol mappings (private to the backtest package)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.instruments import Instrument
from levguard.core.margin import venue_tiers
from levguard.core.positions import Position
from levguard.core.rules import get_venue
from levguard.core.rules.base import LiquidationRule, VenueModel
from levguard.core.sizing.policies import Rebalancer
from levguard.core.tiers import TierTable
from levguard.core.validate import number, show
from levguard.data.frames import utc_frame
from levguard.data.loaders import load_ohlcv
from levguard.data.perp import load_perp_spec
from levguard.data.validate import validate_ohlcv
from levguard.errors import DataError, InputError
from levguard.kernels.backtest_records import RebalanceMode
from levguard.kernels.strategies import clean_directions_nb

_MAX_BARS = 2**31 - 1
"""Largest bar count an argument may name (``cooldown_bars``): the kernel config holds an int64."""

_IMPACT_MAX = 10.0
"""Largest square-root impact coefficient ``slippage`` takes: at 10 a trade of 1 % of the bar's
volume already slips 100 % (the coefficients fitted on crypto books are below 1)."""

DEFAULT_TAKER_FEE = 0.0005
_OHLCV = ("open", "high", "low", "close", "volume")
_MARK = ("mark_open", "mark_high", "mark_low", "mark_close")
_YEAR_NS = 365.0 * 86_400e9

FloatArray = npt.NDArray[np.float64]


def _liquidation_rule(value: object, default: LiquidationRule) -> LiquidationRule:
    # The venue's own rule, another venue's (by rule-set name) or an explicit rule.
    if value is None:
        return default
    if isinstance(value, LiquidationRule):
        return value
    if isinstance(value, str):
        return get_venue(value).liquidation
    raise InputError(f"liquidation must be None, a venue name or a LiquidationRule, was {value!r}")


def _frame(data: object) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, was {type(data).__name__}")
    missing = [c for c in _OHLCV if c not in data.columns]
    if missing:
        raise InputError(f"data must have columns {', '.join(_OHLCV)}; missing {', '.join(missing)}")
    if not isinstance(data.index, pd.DatetimeIndex) or data.index.tz is None:
        raise InputError(
            "data must be indexed by a timezone-aware DatetimeIndex of bar open times "
            "(UTC; another zone is converted to UTC)"
        )
    data = utc_frame(data)
    if len(data) < 2:
        raise InputError(f"data must hold at least 2 bars, was {len(data)}")
    _, report = validate_ohlcv(data.loc[:, list(_OHLCV)], source="data")
    report.raise_for_errors()
    marks = [c for c in _MARK if c in data.columns]
    if marks and len(marks) != len(_MARK):
        raise InputError(f"data must have all of {', '.join(_MARK)} or none; has {', '.join(marks)}")
    if marks:
        try:
            m = data.loc[:, list(_MARK)].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"data: {', '.join(_MARK)} must be numbers") from None
        bad = np.argwhere(~(np.isfinite(m) & (m > 0.0)))
        if bad.size:
            i, j = (int(x) for x in bad[0])
            raise DataError(f"data: {_MARK[j]} at {data.index[i]} must be a finite price > 0, was {m[i, j]!r}")
        # Each mark bar is a bar: open and close within [low, high] (a close at 1.5x the high moved a
        # backtest's return from 0.21 to 1.83; an open at half the low liquidated at an impossible price).
        lo, hi = m[:, 2] * (1 - 1e-12), m[:, 1] * (1 + 1e-12)
        outside = (m[:, 1] < m[:, 2]) | (m[:, 0] < lo) | (m[:, 0] > hi) | (m[:, 3] < lo) | (m[:, 3] > hi)
        if outside.any():
            i = int(np.argmax(outside))
            o, h, low, c = (float(x) for x in m[i])
            raise DataError(
                f"data: the mark bar at {data.index[i]} is not a bar (open {o!r}, high {h!r}, low {low!r}, "
                f"close {c!r}): its open and close must lie within [low, high]"
            )
    if "funding_rate" in data.columns:
        try:
            f = data["funding_rate"].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataError("data: funding_rate must be numbers (NaN where no settlement)") from None
        if np.any(np.isinf(f)):
            raise DataError("data: funding_rate must be finite or NaN (no settlement)")
    return data


def _directions(strategy: object, data: pd.DataFrame) -> FloatArray:
    raw: object
    if isinstance(strategy, pd.Series):
        index = strategy.index
        if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
            index = index.tz_convert("UTC")  # data's index is UTC (_frame)
        if not index.equals(data.index):
            raise InputError("strategy: a Series of directions must have the index of data")
        raw = strategy.to_numpy()
    elif isinstance(strategy, np.ndarray | list | tuple):
        raw = strategy
    elif callable(getattr(strategy, "signal", None)):
        raw = strategy.signal(data)  # type: ignore[attr-defined]
        if isinstance(raw, pd.Series):
            raw = raw.to_numpy()
    else:
        raise InputError(f"strategy must be directions (array or Series) or have signal(data), was {strategy!r}")
    try:
        d = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"strategy: directions must be numbers in {{-1, 0, 1}} ({exc})") from exc
    if d.ndim != 1 or d.shape[0] != len(data):
        raise InputError(f"strategy: directions must have one value per bar ({len(data)}), had shape {d.shape}")
    out = np.empty(d.shape[0])
    bad = clean_directions_nb(np.ascontiguousarray(d), out)
    if bad >= 0:
        raise InputError(f"strategy: directions must be in {{-1, 0, 1}}, was {d[bad]!r}")
    return out


def _periods_per_year(index: pd.DatetimeIndex) -> float:
    step = float(np.median(np.diff(index.as_unit("ns").asi8)))
    if not step > 0.0:
        raise InputError("data: the index must be strictly increasing")
    return _YEAR_NS / step


def _fees(fees: object, venue_default: float) -> tuple[float, float]:
    default = venue_default if venue_default > 0.0 else DEFAULT_TAKER_FEE
    if fees is None:
        taker, maker = default, default
    elif isinstance(fees, int | float) and not isinstance(fees, bool):
        taker = maker = number(fees, "fees")
    elif isinstance(fees, Mapping):
        unknown = set(fees) - {"taker", "maker"}
        if unknown:
            raise InputError(f"fees: unknown keys {sorted(unknown)}; use taker, maker")
        taker = number(fees.get("taker", default), "fees: taker")
        maker = number(fees.get("maker", taker), "fees: maker")
    elif isinstance(fees, tuple) and len(fees) == 2:
        taker, maker = number(fees[0], "fees: taker"), number(fees[1], "fees: maker")
    else:
        raise InputError(f"fees must be None, a taker rate, (taker, maker) or a mapping, was {fees!r}")
    for name, v in (("taker", taker), ("maker", maker)):
        if not (math.isfinite(v) and 0.0 <= v < 0.1):
            raise InputError(f"fees: {name} must be a fraction in [0, 0.1), was {v!r}")
    return taker, maker


def _slippage(slippage: object) -> tuple[float, float]:
    if slippage is None:
        bps, impact = 0.0, 0.0
    elif isinstance(slippage, int | float) and not isinstance(slippage, bool):
        bps, impact = number(slippage, "slippage"), 0.0
    elif isinstance(slippage, Mapping):
        unknown = set(slippage) - {"bps", "impact"}
        if unknown:
            raise InputError(f"slippage: unknown keys {sorted(unknown)}; use bps, impact")
        bps = number(slippage.get("bps", 0.0), "slippage: bps")
        impact = number(slippage.get("impact", 0.0), "slippage: impact")
    elif isinstance(slippage, tuple) and len(slippage) == 2:
        bps, impact = number(slippage[0], "slippage: bps"), number(slippage[1], "slippage: impact")
    else:
        raise InputError(f"slippage must be None, bps, (bps, impact_coef) or a mapping, was {slippage!r}")
    if not (math.isfinite(bps) and 0.0 <= bps < 10_000.0):  # 10,000 bps would fill a sell at 0
        raise InputError(f"slippage: bps must be in [0, 10000), was {bps!r}")
    if not (math.isfinite(impact) and 0.0 <= impact <= _IMPACT_MAX):
        raise InputError(f"slippage: impact coefficient must be in [0, {_IMPACT_MAX:g}], was {impact!r}")
    return bps, impact


def _cooldown_bars(value: object) -> int:
    # An integer count of bars the kernel config can hold (int64); 2.5 or True are refused.
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= _MAX_BARS:
        raise InputError(f"cooldown_bars must be an integer from 0 to {_MAX_BARS:,}, was {show(value)}")
    return int(value)


def _liquidation_fee_rate(value: object) -> float:
    liq_fee = number(value, "liquidation_fee_rate")
    if not (math.isfinite(liq_fee) and 0.0 <= liq_fee < 0.1):
        raise InputError(f"liquidation_fee_rate must be a fraction in [0, 0.1), was {value!r}")
    return liq_fee


def _spot_symbols(spot: object) -> set[str]:
    # None or () is no spot leg, a str is one; anything else must be an iterable of str.
    if spot is None:
        return set()
    if isinstance(spot, str):
        return {spot}
    if isinstance(spot, Mapping | bytes | np.ndarray) or not isinstance(spot, Iterable):
        raise InputError(f"spot must be a symbol or a collection of symbols, was {type(spot).__name__} {show(spot)}")
    symbols = list(spot)
    for i, sym in enumerate(symbols):
        if not isinstance(sym, str):
            raise InputError(f"spot[{i}] must be a symbol (str), was {type(sym).__name__} {show(sym)}")
    return set(symbols)


def _rebalance(rebalance: object) -> tuple[int, Rebalancer]:
    # isinstance first: an array compared to a str is an array, whose truth is a ValueError.
    if isinstance(rebalance, str) and rebalance == "never":
        return RebalanceMode.NEVER, Rebalancer()
    if isinstance(rebalance, str) and rebalance == "band":
        return RebalanceMode.BAND, Rebalancer()
    if isinstance(rebalance, Rebalancer):
        return RebalanceMode.BAND, rebalance
    if isinstance(rebalance, Mapping):
        unknown = set(rebalance) - {"band", "min_trade", "max_step"}
        if unknown:
            raise InputError(f"rebalance: unknown keys {sorted(unknown)}; use band, min_trade, max_step")
        return RebalanceMode.BAND, Rebalancer(**{k: float(v) for k, v in rebalance.items()})
    raise InputError(f"rebalance must be 'band', 'never', a Rebalancer or its parameters, was {show(rebalance)}")


def _fraction(value: float | None, name: str, upper: float) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a fraction in [0, {upper:g}), was {value!r}")
    v = number(value, name)
    if not (math.isfinite(v) and 0.0 <= v < upper):
        raise InputError(f"{name} must be a fraction in [0, {upper:g}), was {value!r}")
    return v


def bar_data(data: object) -> object:
    """Load ``data`` given as a path to a bar file or a source spec (``{"source": "default"}``);
    anything else (a DataFrame, a mapping symbol -> DataFrame) is returned as it is."""
    if isinstance(data, str | os.PathLike):
        return load_ohlcv(os.fspath(data))
    if isinstance(data, Mapping) and "source" in data and not isinstance(data["source"], pd.DataFrame):
        return load_perp_spec(data)
    return data


def _frames(data: object) -> dict[str, pd.DataFrame]:
    """One frame per symbol, all on the same index."""
    data = bar_data(data)
    if isinstance(data, pd.DataFrame):
        return {"": _frame(data)}
    if not isinstance(data, Mapping) or not data:
        raise InputError(
            "data must be a DataFrame, a path to a bar file or a non-empty mapping symbol -> DataFrame, "
            f"was {type(data).__name__}"
        )
    frames: dict[str, pd.DataFrame] = {}
    first: pd.DatetimeIndex | None = None
    for sym, frame in data.items():
        if not isinstance(sym, str) or not sym:
            raise InputError(f"data: symbols must be non-empty strings, was {sym!r}")
        try:
            f = _frame(frame)
        except (InputError, DataError) as exc:
            raise type(exc)(f"data[{sym!r}]: {exc}") from exc
        if first is None:
            first = f.index  # type: ignore[assignment]
        elif not f.index.equals(first):
            raise InputError(
                f"data[{sym!r}]: every instrument must have the same bar index (align them first, e.g. "
                "with frame.reindex(common_index))"
            )
        frames[sym] = f
    return frames


def _per_symbol(value: object, symbols: list[str], name: str) -> list[Any]:
    # A mapping symbol -> value, or one value for every symbol.
    if isinstance(value, Mapping) and not (name == "fees" and set(value) <= {"taker", "maker"}):
        unknown = set(value) - set(symbols)
        if unknown:
            raise InputError(f"{name}: unknown symbols {sorted(unknown)}; data has {symbols}")
        missing = [s for s in symbols if s not in value]
        if missing:
            raise InputError(f"{name}: no entry for {missing}")
        return [value[s] for s in symbols]
    return [value] * len(symbols)


def _multi_directions(strategy: object, frames: dict[str, pd.DataFrame], symbols: list[str]) -> FloatArray:
    n = len(next(iter(frames.values())))
    out = np.zeros((n, len(symbols)))
    signals = getattr(strategy, "signals", None)
    if callable(signals):
        # A strategy over several instruments (e.g. funding carry): one column per symbol.
        raw = signals(frames)
        table = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(raw)
        missing = [s for s in symbols if s not in table.columns]
        if missing:
            raise InputError(f"strategy: signals() returned no directions for {missing}")
        for j, sym in enumerate(symbols):
            col = table[sym]
            out[:, j] = _directions(col.to_numpy() if isinstance(col, pd.Series) else col, frames[sym])
        return out
    per = _per_symbol(strategy, symbols, "strategy")
    for j, sym in enumerate(symbols):
        out[:, j] = _directions(per[j], frames[sym])
    return out


def _instrument_tables(
    model: VenueModel, instrument: Instrument, tiers: TierTable | None
) -> tuple[TierTable, TierTable, float]:
    # (the venue's table of the instrument, the table the kernel reads, the margin rate added per
    # unit of size). The table is read at a size of 1 (whole tables: the kernel reads the tier of
    # the position's notional or size). A rate that grows with the size (Deribit: IM 2 % and MM
    # 1 % + 0.005 % per BTC) is no table: the kernel gets the base rates (the size term 0) and the
    # coefficient, and adds coefficient x |qty| to both rates at the size it holds
    # (kernels.margin.size_scaled_rate, as the margin engine reads deribit_rates).
    one = Position(instrument, 1.0, 1.0, 1.0, tiers=tiers)
    table = venue_tiers(model, one)
    coef = model.mm_size_coef(one)
    if not coef > 0.0:
        return table, table, 0.0
    base = venue_tiers(model, replace(one, params={**one.params, "size_coef": 0.0}))
    return table, base, float(coef)
