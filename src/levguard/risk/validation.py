"""Out-of-sample validation of probability-of-liquidation forecasts (docs/validation.md).

The protocol:

1. **Cases.** For each asset, every day at 00:00 UTC from 30 days after the first bar (``as_of``),
   each side (long, short), leverage (5, 10, 20) and horizon (1, 7 days): an isolated position of
   10,000 USDT notional entered at the mark at ``as_of`` (the close of the last bar closed at or
   before it) with margin ``notional / leverage``.  Its liquidation price comes from the margin
   engine on the venue's tiers (Binance USDⓈ-M by default; a symbol without built-in tiers gets
   :data:`GENERIC_MMR`).  The outcome is 1 when the mark's lows (long) or highs (short) of the
   bars after ``as_of`` that close within the horizon touch that fixed price (``<=`` / ``>=``).
   Cases whose horizon runs past the data's end, or whose window misses more than 5 % of its
   hourly bars (:data:`MIN_COVERAGE`), are dropped.
2. **Forecasts.** :func:`levguard.risk.forecast.liquidation_forecasts` for the model under test
   and for the ``naive`` baseline (GBM first passage at 30-day realised volatility); each
   forecast uses only bars closed at or before its ``as_of``.
3. **Split.** Cases with ``as_of`` after ``train_until`` (default 2022-12-31) are the scored
   set; the earlier ones, on which models are selected, are reported as the train set.
4. **Scores** (:mod:`levguard.core.risk.scoring`) per asset x horizon and pooled per horizon
   (optionally also by side and by leverage), a Diebold-Mariano test of the Brier loss against
   the baseline on day-averaged loss differentials, a per-year breakdown, and the acceptance
   checks of :func:`acceptance`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from levguard.core.risk.scoring import (
    DieboldMarianoResult,
    diebold_mariano,
    score_forecasts,
)
from levguard.core.symbols import listing_symbol
from levguard.core.validate import flag, show
from levguard.errors import DataError, InputError
from levguard.risk.validation_results import (
    Acceptance,
    AssetSummary,
    Check,
    GroupScores,
    ValidationResult,
    YearScores,
)

__all__ = [
    "BASELINE",
    "DEFAULT_HORIZONS",
    "DEFAULT_LEVERAGES",
    "DEFAULT_NOTIONAL",
    "DEFAULT_TRAIN_UNTIL",
    "GENERIC_MMR",
    "SIDES",
    "WARMUP_DAYS",
    "Acceptance",
    "AssetSummary",
    "Check",
    "GroupScores",
    "ValidationResult",
    "YearScores",
    "acceptance",
    "asset_name",
    "build_cases",
    "case_hours",
    "liquidation_distance",
    "parse_train_until",
    "validate_liquidation",
]

logger = logging.getLogger(__name__)

DEFAULT_LEVERAGES: tuple[float, ...] = (5.0, 10.0, 20.0)
DEFAULT_HORIZONS: tuple[int, ...] = (1, 7)
SIDES: tuple[str, ...] = ("long", "short")
DEFAULT_NOTIONAL = 10_000.0
"""Notional of the test position in the settlement currency (Binance's first bracket)."""
DEFAULT_TRAIN_UNTIL = "2022-12-31"
WARMUP_DAYS = 30
"""Days of bars before the first ``as_of`` (the naive baseline's 30-day volatility window)."""
GENERIC_MMR = 0.005
"""Flat maintenance rate (0.5 %, no maintenance amount, cap 100x) for a symbol without built-in tiers."""
BASELINE = "naive"
MAX_STALE_NS = 86_400 * 10**9
"""An ``as_of`` is skipped when no bar closed in the 24 hours before it (a data gap)."""
MIN_COVERAGE = 0.95
"""A case is dropped when its window holds fewer bars than this share of its hours (a gap in the
data: an outage, a suspension): a touch may lie in the missing hours, so its outcome is unknown."""

_DAY_NS = 86_400 * 10**9
_HOUR_NS = 3_600 * 10**9
# A horizon within this many hours of a whole number of hours is that number (a typed 0.0416667 d is 1 h).
_HOUR_TOL = 1e-6
# The acceptance thresholds (see acceptance()).
POOLED_BRIER_RATIO = 0.98
LOW_OBSERVED_MAX = 0.015
CITL_RANGE = (0.85, 1.15)
BUCKET_MIN_COUNT = 200
BUCKET_TOLERANCE = 0.03
EVENTS_MIN_COUNT = 10
"""The checks on events (Brier and log score against the baseline, calibration in the large) are
not applicable to a group with fewer observed events than this and fewer expected by the model
(and, for the comparisons, by the baseline): below 10 a Poisson count's relative standard
deviation exceeds 1/sqrt(10) = 32 %, twice calibration in the large's +-15 % band, and 0 events
against 0.0 expected is what a correct model gives where liquidation is out of reach."""

Forecaster = Callable[..., Any]
Progress = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------- names
def asset_name(symbol: object) -> str:
    """Return the asset name of a loader's symbol: ``BTCUSDT-PERP`` -> ``BTCUSDT``."""
    return listing_symbol(str(symbol or "asset"))


# ----------------------------------------------------------------------------- liquidation distance
def liquidation_distance(
    symbol: str,
    side: str,
    leverage: float,
    *,
    venue: str = "binance-usdm",
    notional: float = DEFAULT_NOTIONAL,
    price: float = 100.0,
) -> tuple[float, str]:
    """Return the adverse move to the liquidation price of an isolated position, and the tier source.

    Parameters
    ----------
    symbol : str
        Symbol whose tiers apply (``BTCUSDT``); without built-in tiers on ``venue`` a flat
        :data:`GENERIC_MMR` tier is used and the source says so.
    side : {"long", "short"}
    leverage : float
        Initial leverage; the isolated margin is ``notional / leverage``.
    venue : str
        Rule set (``levguard venues``).
    notional : float
        Position notional at entry in the settlement currency.
    price : float
        Entry (and mark) price.

    Returns
    -------
    (distance, tier_source) : tuple of float and str
        ``distance = |LP / price - 1|``.

    Notes
    -----
    The liquidation price solves ``margin + uPnL(LP) = MM(LP)`` in the margin engine
    (:func:`levguard.core.margin.evaluate`).  On a linear contract with a fixed notional ``N``
    Binance's one-way formula gives ``LP / EP = (1/L + cum/N - s) / (MMR - s)``, independent of
    the entry price, so one solve per side and leverage serves every ``as_of``.
    """
    from levguard.core.margin import evaluate, instrument_for, resolve_tiers
    from levguard.core.positions import Account, MarginMode, Position
    from levguard.core.rules import get_venue, symbol_key
    from levguard.core.tiers import TierTable

    if side not in SIDES:
        raise InputError(f"side must be 'long' or 'short', was {side!r}")
    if isinstance(leverage, bool) or not (
        isinstance(leverage, int | float) and math.isfinite(leverage) and leverage > 0
    ):
        raise InputError(f"leverage must be > 0 and finite, was {leverage!r}")
    if not (math.isfinite(notional) and notional > 0):
        raise InputError(f"notional must be > 0 and finite, was {notional!r}")
    model = get_venue(venue)
    key = symbol_key(symbol)
    inst = instrument_for(model, key)
    tiers: TierTable | None = None
    try:
        resolve_tiers(model, Position(inst, 1.0, price, price))
    except InputError:  # no built-in tiers for the symbol: the documented generic tier
        tiers = TierTable.fixed_rate(
            GENERIC_MMR, source=f"generic tier (flat {GENERIC_MMR:.1%} maintenance rate): no {venue} tiers for {symbol}"
        )
    sign = 1.0 if side == "long" else -1.0
    qty = notional / price if not inst.inverse else notional / inst.contract_size
    pos = Position(
        inst,
        sign * qty,
        price,
        price,
        margin_mode=MarginMode.ISOLATED,
        leverage=float(leverage),  # the engine posts its initial margin (Gate: with the close fee)
        tiers=tiers,
    )
    report = evaluate(Account(venue, 0.0, (pos,)), model).positions[0]
    if report.liquidation_price is None or report.health is None:
        raise InputError(f"{symbol} {side} at {leverage:g}x on {venue} has no liquidation price")
    return float(report.health), resolve_tiers(model, pos).source


# ----------------------------------------------------------------------------- outcome builder
def _check_bars(bars: pd.DataFrame, asset: str) -> None:
    if not isinstance(bars, pd.DataFrame):
        raise InputError(f"{asset}: bars must be a DataFrame, was {type(bars).__name__}")
    missing = [c for c in ("open", "high", "low", "close") if c not in bars.columns]
    if missing:
        raise DataError(f"{asset}: bars lack column(s) {missing}; found {list(bars.columns)[:8]}")
    idx = bars.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataError(f"{asset}: bars need a UTC DatetimeIndex of bar open times")
    if len(idx) < 2 or not idx.is_monotonic_increasing or idx.has_duplicates:
        raise DataError(f"{asset}: bar times must be strictly increasing, at least 2 bars (were {len(idx)})")
    step = int(np.median(np.diff(idx.as_unit("ns").asi8)))
    if step != _HOUR_NS:
        raise DataError(f"{asset}: bars must be 1h, were {step / _HOUR_NS:g}h apart (median)")


def _prices(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The mark's close, low and high when present (the venue liquidates on the mark), else last price.
    pre = "mark_" if all(f"mark_{c}" in bars.columns for c in ("low", "high", "close")) else ""
    return tuple(bars[f"{pre}{c}"].to_numpy(dtype=np.float64) for c in ("close", "low", "high"))  # type: ignore[return-value]


def case_hours(h: object) -> int:
    """Return a case horizon given in days as whole hours; InputError naming it otherwise.

    Outcomes are scored on 1h bars and the forecast reads whole hours
    (:func:`levguard.core.risk.forecast.horizon_hours` rounds), so a horizon must be a whole
    number of hours (within 1e-6 h, so a typed ``0.0416667`` is 1 h) for both to see the same
    window: 1.5 h was scored on the one bar closing by ``as_of + 1.5h`` and forecast over 2 h.
    """
    if isinstance(h, bool) or not (isinstance(h, int | float) and math.isfinite(h) and h > 0):
        raise InputError(f"horizon must be > 0 days, was {h!r}")
    if h > 36_500:  # a century: past it the window's end leaves int64 nanoseconds
        raise InputError(f"horizon must be at most 36,500 days, was {h!r}")
    n = round(float(h) * 24.0)
    if n < 1 or abs(float(h) * 24.0 - n) > _HOUR_TOL:
        raise InputError(
            f"horizon must be a whole number of hours (outcomes are scored on 1h bars), "
            f"was {h!r} days = {float(h) * 24.0:g} h"
        )
    return n


def build_cases(
    bars: pd.DataFrame,
    *,
    asset: str | None = None,
    leverages: Sequence[float] = DEFAULT_LEVERAGES,
    horizons: Sequence[float] = DEFAULT_HORIZONS,
    sides: Sequence[str] = SIDES,
    venue: str = "binance-usdm",
    notional: float = DEFAULT_NOTIONAL,
    warmup_days: int = WARMUP_DAYS,
) -> pd.DataFrame:
    """Return the liquidation cases of one asset: one row per ``as_of`` x side x leverage x horizon.

    Parameters
    ----------
    bars : DataFrame
        1h bars with a UTC DatetimeIndex of open times and ``open, high, low, close``; the
        ``mark_*`` columns when present (else the last price stands in for the mark).
    asset : str, optional
        Name and tier symbol (default ``bars.attrs["asset"]`` or ``["symbol"]``).
    leverages, horizons, sides
        The grid; horizons in days, each a whole number of hours (within 1e-6 h; else
        InputError naming it): the outcome is scored on 1h bars and the forecast reads whole
        hours, so a 1.5 h horizon was scored on one bar and forecast over two.
    venue, notional
        Margin rules and position size (:func:`liquidation_distance`).
    warmup_days : int
        The first ``as_of`` is the first midnight at least this many days after the first bar.

    Returns
    -------
    DataFrame
        Columns ``asset, as_of, side, sign, leverage, horizon_days, distance, entry_mark,
        liquidation_price, outcome`` (int8), in ``as_of`` order.  ``attrs["tier_source"]`` and
        ``attrs["distances"]`` (``"long 5x" -> distance``) describe the liquidation prices.

    Notes
    -----
    ``entry_mark`` is the mark close of the last bar closed at or before ``as_of`` (an
    ``as_of`` with no bar closed in the 24 hours before it is skipped).  The window holds the
    bars opening at or after ``as_of`` and closing at or before ``as_of + horizon``; the outcome
    is ``min(mark_low) <= LP`` for a long and ``max(mark_high) >= LP`` for a short, with
    ``LP = entry_mark (1 - distance)`` or ``entry_mark (1 + distance)``; the distance is solved
    once per side and leverage at the first case's entry mark (it does not depend on the price
    on a linear or inverse contract of fixed notional, :func:`liquidation_distance`), so no case
    reads a price after its ``as_of``.  A case whose horizon
    ends after the last bar's close, or whose window holds fewer bars than
    :data:`MIN_COVERAGE` of its hours (a gap: a touch may lie in the missing hours; counted in
    ``attrs["incomplete"]``), is dropped.
    """
    name = asset or str(bars.attrs.get("asset") or asset_name(bars.attrs.get("symbol")))
    _check_bars(bars, name)
    if not leverages or not horizons or not sides:
        raise InputError("leverages, horizons and sides must each hold at least one value")
    hours = {h: case_hours(h) for h in horizons}
    open_ns = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
    close_ns = open_ns + _HOUR_NS
    close, low, high = _prices(bars)
    first_day = -(-(int(open_ns[0]) + warmup_days * _DAY_NS) // _DAY_NS) * _DAY_NS
    days = np.arange(first_day, int(close_ns[-1]), _DAY_NS, dtype=np.int64)
    entry_i = np.searchsorted(close_ns, days, side="right") - 1
    fresh = (entry_i >= 0) & (close_ns[np.maximum(entry_i, 0)] > days - MAX_STALE_NS)
    days, entry_i = days[fresh], entry_i[fresh]
    # Solved at the first case's entry mark, known before every case (the median of all the
    # marks read the scored period); the distance does not depend on the price (Notes).
    solve_price = float(close[entry_i[0]]) if entry_i.size else 100.0
    dist: dict[tuple[str, float], float] = {}
    source = ""
    for s in sides:
        for lev in leverages:
            dist[(s, float(lev))], source = liquidation_distance(
                name, s, float(lev), venue=venue, notional=notional, price=solve_price
            )
    parts: list[pd.DataFrame] = []
    entry = close[entry_i]
    incomplete = 0
    for h in horizons:
        end = days + hours[h] * _HOUR_NS  # the forecast's horizon (horizon_hours), to the hour
        j0 = np.searchsorted(open_ns, days, side="left")
        j1 = np.searchsorted(close_ns, end, side="right")
        within = end <= close_ns[-1]
        # The bars a complete series has in the window (bars open on the hour of the first bar:
        # at :30 a day holds 23 whole bars) and the share required; a window shorter than a bar
        # holds none and is not counted as a gap.
        full = (end - days - int(open_ns[0]) % _HOUR_NS) // _HOUR_NS
        ok = within & (j1 > j0) & (j1 - j0 >= np.ceil(MIN_COVERAGE * full))
        incomplete += int((within & (full > 0) & ~ok).sum()) * len(sides) * len(leverages)
        wlow = np.full(days.size, np.nan)
        whigh = np.full(days.size, np.nan)
        for k in np.flatnonzero(ok):
            wlow[k] = low[j0[k] : j1[k]].min()
            whigh[k] = high[j0[k] : j1[k]].max()
        for s in sides:
            sign = 1 if s == "long" else -1
            for lev in leverages:
                d = dist[(s, float(lev))]
                lp = entry[ok] * (1.0 - d) if sign == 1 else entry[ok] * (1.0 + d)
                hit = wlow[ok] <= lp if sign == 1 else whigh[ok] >= lp
                parts.append(
                    pd.DataFrame(
                        {
                            "as_of": days[ok],
                            "side": s,
                            "sign": np.int8(sign),
                            "leverage": float(lev),
                            "horizon_days": float(h),
                            "distance": d,
                            "entry_mark": entry[ok],
                            "liquidation_price": lp,
                            "outcome": hit.astype(np.int8),
                        }
                    )
                )
    cases = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(cases):
        cases["as_of"] = pd.to_datetime(cases["as_of"].to_numpy(dtype=np.int64), unit="ns", utc=True)
        cases.insert(0, "asset", name)
        cases = cases.sort_values(["as_of", "horizon_days", "side", "leverage"], kind="mergesort").reset_index(
            drop=True
        )
    cases.attrs["tier_source"] = source
    cases.attrs["distances"] = {f"{s} {lev:g}x": d for (s, lev), d in dist.items()}
    cases.attrs["incomplete"] = incomplete
    return cases


# ----------------------------------------------------------------------------- scoring
def _years(ca: pd.DataFrame) -> tuple[YearScores, ...]:
    out = []
    for year, g in ca.groupby(ca["as_of"].dt.year, sort=True):
        y = g["outcome"].to_numpy(dtype=np.float64)
        pm = g["p_model"].to_numpy()
        pb = g["p_baseline"].to_numpy()
        m, b = score_forecasts(pm, y, edges=(0.0, 1.0)), score_forecasts(pb, y, edges=(0.0, 1.0))
        y_ = (m.n, m.events, m.mean_forecast, m.observed, m.brier, b.brier, m.log_score, b.log_score)
        out.append(YearScores(int(year), *y_))
    return tuple(out)


def _dm(ca: pd.DataFrame, horizon: float) -> DieboldMarianoResult | None:
    # Brier losses averaged over the cases of each as_of day, in day order; lag = horizon in days.
    y = ca["outcome"].to_numpy(dtype=np.float64)
    a, b = (ca["p_model"].to_numpy() - y) ** 2, (ca["p_baseline"].to_numpy() - y) ** 2
    losses = pd.DataFrame({"as_of": ca["as_of"].to_numpy(), "a": a, "b": b})
    daily = losses.groupby("as_of", sort=True)[["a", "b"]].mean()
    if len(daily) < 2:
        return None
    return diebold_mariano(daily["a"].to_numpy(), daily["b"].to_numpy(), lag=max(1, math.ceil(horizon)))


def _score_group(
    ca: pd.DataFrame, split: str, asset: str, horizon: float, side: str | None, leverage: float | None, with_dm: bool
) -> GroupScores:
    y = ca["outcome"].to_numpy(dtype=np.float64)
    as_of = pd.DatetimeIndex(ca["as_of"])
    first, last = as_of.min().isoformat(), as_of.max().isoformat()
    model, baseline = score_forecasts(ca["p_model"].to_numpy(), y), score_forecasts(ca["p_baseline"].to_numpy(), y)
    dm = _dm(ca, horizon) if with_dm else None
    return GroupScores(
        split, asset, float(horizon), side, leverage, first, last, as_of.nunique(), model, baseline, dm, _years(ca)
    )


def _groups(
    cases: pd.DataFrame, split: str, by_side: bool, by_leverage: bool, with_dm: bool
) -> tuple[GroupScores, ...]:
    out: list[GroupScores] = []
    if cases.empty:
        return ()
    assets = list(dict.fromkeys(cases["asset"]))
    for h in sorted(cases["horizon_days"].unique()):
        ch = cases[cases["horizon_days"] == h]
        for asset in [*assets, "pooled"]:
            ca = ch if asset == "pooled" else ch[ch["asset"] == asset]
            if ca.empty:
                continue
            out.append(_score_group(ca, split, asset, h, None, None, with_dm))
            if by_side:
                for s, cs in ca.groupby("side", sort=False):
                    out.append(_score_group(cs, split, asset, h, str(s), None, with_dm))
            if by_leverage:
                for lev, cl in ca.groupby("leverage", sort=True):
                    out.append(_score_group(cl, split, asset, h, None, float(lev), with_dm))
    return tuple(out)


# ----------------------------------------------------------------------------- acceptance
def _reliability_checks(g: GroupScores) -> list[Check]:
    out = []
    for b in g.model.reliability:
        if b.count < BUCKET_MIN_COUNT:
            continue
        gap = abs(b.observed - b.mean_forecast)
        inside = b.wilson_low <= b.mean_forecast <= b.wilson_high
        lo = "[0" if b.lower == 0.0 else f"({b.lower:g}"
        out.append(
            Check(
                "reliability",
                f"{g.label} bucket {lo}, {b.upper:g}]",
                gap,
                f"|obs - mean| <= {BUCKET_TOLERANCE:g} or in Wilson 95%",
                gap <= BUCKET_TOLERANCE or inside,
                f"n={b.count}, mean forecast {b.mean_forecast:.4f}, observed {b.observed:.4f} "
                f"[{b.wilson_low:.4f}, {b.wilson_high:.4f}]",
            )
        )
    return out


def acceptance(scored: Iterable[GroupScores]) -> Acceptance:
    """Return the acceptance checks of issue 13 on the scored groups (side and leverage pooled).

    Checks, each on the scored set:

    * ``brier_vs_naive``: Brier <= the naive baseline's, per asset x horizon;
    * ``brier_pooled_vs_naive``: Brier <= 0.98 x the baseline's, pooled per horizon;
    * ``log_score_vs_naive``: log score < the baseline's, per asset x horizon and pooled;
    * ``low_forecasts``: of the forecasts <= 1 %, at most 1.5 % followed by a liquidation,
      pooled per horizon;
    * ``calibration_in_the_large``: events / sum of forecasts within [0.85, 1.15], per asset
      x horizon and pooled;
    * ``reliability``: every reliability bucket with >= 200 cases within 3 percentage points
      of its mean forecast, or its mean forecast inside the bucket's 95 % Wilson interval,
      per asset x horizon and pooled.

    A group with fewer than :data:`EVENTS_MIN_COUNT` events observed and expected by the model
    has ``calibration_in_the_large`` not applicable (``passed`` None, neither pass nor fail),
    and the two comparisons with the baseline too when the baseline also expects fewer.

    With a single asset the pooled group is that asset, and only the pooled-only checks
    (``brier_pooled_vs_naive``, ``low_forecasts``) are added for it.
    """
    checks: list[Check] = []
    groups = [g for g in scored if g.side is None and g.leverage is None]
    if not groups:
        return Acceptance((Check("scored_set", "all", 0.0, ">= 1 case", False, "no case after train_until"),))
    single = len({g.asset for g in groups} - {"pooled"}) == 1
    for g in groups:
        pooled, m, b = g.asset == "pooled", g.model, g.baseline
        limit = POOLED_BRIER_RATIO if pooled else 1.0
        citl = m.calibration_in_the_large
        lo, hi = CITL_RANGE
        # Too few events: n/a (None), the counts named; a comparison also needs the baseline's.
        expected, expected_b = m.mean_forecast * m.n, b.mean_forecast * b.n
        few = m.events < EVENTS_MIN_COUNT and expected < EVENTS_MIN_COUNT
        few_both = few and expected_b < EVENTS_MIN_COUNT
        na = f"n/a: too few events ({m.events} observed, {expected:.1f} expected by the model"
        na, na_b = (
            f"{na}; each under {EVENTS_MIN_COUNT}): ",
            f"{na}, {expected_b:.1f} by naive; each under {EVENTS_MIN_COUNT}): ",
        )
        rows: list[tuple[str, float | None, str, bool | None, str]] = [
            (
                "brier_pooled_vs_naive" if pooled else "brier_vs_naive",
                g.brier_ratio,
                f"model / naive <= {limit:g}",
                None if few_both else m.brier <= limit * b.brier,
                f"{na_b if few_both else ''}Brier {m.brier:.6f} vs naive {b.brier:.6f}",
            ),
            (
                "log_score_vs_naive",
                m.log_score - b.log_score,
                "model - naive < 0",
                None if few_both else m.log_score < b.log_score,
                f"{na_b if few_both else ''}log score {m.log_score:.5f} vs naive {b.log_score:.5f}",
            ),
            (
                "calibration_in_the_large",
                citl,
                f"in [{lo:g}, {hi:g}]",
                None if few else math.isfinite(citl) and lo <= citl <= hi,
                f"{na if few else ''}{m.events} events vs {expected:.1f} expected",
            ),
        ]
        if pooled and single:  # pooled = the one asset: only the pooled-only checks are new
            del rows[1:]
        if pooled:
            rows.append(
                (
                    "low_forecasts",
                    m.low_observed if m.low_n else None,
                    f"obs <= {LOW_OBSERVED_MAX:.1%} when p <= 1%",
                    m.low_n == 0 or m.low_observed <= LOW_OBSERVED_MAX,
                    f"{m.low_events} of {m.low_n} ({m.low_share:.1%} of forecasts)",
                )
            )
        checks.extend(Check(name, g.label, value, thr, ok, detail) for name, value, thr, ok, detail in rows)
        if not (pooled and single):
            checks.extend(_reliability_checks(g))
    return Acceptance(tuple(checks))


# ----------------------------------------------------------------------------- orchestration
def _as_frames(data: Any) -> dict[str, pd.DataFrame]:
    if isinstance(data, pd.DataFrame):
        data = [data]
    if isinstance(data, Mapping):
        frames = {str(k): v for k, v in data.items()}
    else:
        frames = {}
        for f in data:
            if not isinstance(f, pd.DataFrame):
                raise InputError(f"data must hold DataFrames of bars, was {type(f).__name__}")
            name = str(f.attrs.get("asset") or asset_name(f.attrs.get("symbol")))
            if name in frames:
                raise InputError(f"asset {name!r} appears twice; give each asset once")
            frames[name] = f
    if not frames:
        raise InputError("data must hold at least one asset's bars, was empty")
    return frames


def parse_train_until(value: object, name: str = "train_until") -> pd.Timestamp:
    """Return ``value`` (a date or timestamp; UTC when it has no offset) as a UTC Timestamp."""
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ts = None
    if not isinstance(ts, pd.Timestamp) or pd.isna(ts):
        raise InputError(f"{name} must be a date such as 2022-12-31, was {value!r}")
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _check_train_until(cut: pd.Timestamp, as_of: Iterable[pd.Series]) -> None:
    """Raise InputError when no case's ``as_of`` (any asset) is after ``cut``: nothing to score.

    A ``cut`` before every case is valid: every case is scored (an out-of-sample run).
    """
    days = [pd.DatetimeIndex(a) for a in as_of if len(a)]
    if not days:  # no case at all: the bars are too short, whatever the date
        return
    first, last = min(d.min() for d in days), max(d.max() for d in days)
    if cut >= last:
        raise InputError(
            f"train_until must be before the last case's as_of so that some cases are scored, was "
            f"{cut.isoformat()}; the data's cases run from {first.isoformat()} to {last.isoformat()}"
        )


def _forecast(forecaster: Forecaster, bars: pd.DataFrame, cases: pd.DataFrame, model: str) -> np.ndarray:
    grid = (cases[c].to_numpy() for c in ("sign", "distance", "horizon_days"))
    p = forecaster(bars, pd.DatetimeIndex(cases["as_of"]), *grid, model=model)
    arr = np.asarray(p, dtype=np.float64)
    if arr.shape != (len(cases),):
        raise DataError(f"model {model!r} returned shape {arr.shape} for {len(cases)} cases")
    bad = (arr < -1e-9) | (arr > 1.0 + 1e-9)
    if bad.any():
        i = int(np.argmax(bad))
        when = cases["as_of"].iloc[i]
        raise DataError(f"model {model!r} returned {float(arr[i])!r}, not a probability, at as_of {when}")
    return np.clip(arr, 0.0, 1.0)


def _asset_summary(name: str, bars: pd.DataFrame, cases: pd.DataFrame, dropped: int) -> AssetSummary:
    # What one asset contributed (its bars, their sources, the tiers and the case counts).
    idx = pd.DatetimeIndex(bars.index)
    return AssetSummary(
        asset=name,
        bars=len(bars),
        first=idx[0].isoformat() if len(idx) else "",
        last=idx[-1].isoformat() if len(idx) else "",
        source=str(bars.attrs.get("source", "")),
        mark_source=str(bars.attrs.get("mark_source", "")),
        tier_source=str(cases.attrs.get("tier_source", "")),
        distances=dict(cases.attrs.get("distances", {})),
        cases=len(cases),
        dropped=dropped,
        incomplete=int(cases.attrs.get("incomplete", 0)),
    )


def validate_liquidation(
    data: pd.DataFrame | Mapping[str, pd.DataFrame] | Sequence[pd.DataFrame],
    *,
    model: str = "default",
    baseline: str = BASELINE,
    leverages: Sequence[float] = DEFAULT_LEVERAGES,
    horizons: Sequence[float] = DEFAULT_HORIZONS,
    sides: Sequence[str] = SIDES,
    train_until: object = DEFAULT_TRAIN_UNTIL,
    venue: str = "binance-usdm",
    notional: float = DEFAULT_NOTIONAL,
    by_side: bool = False,
    by_leverage: bool = False,
    forecaster: Forecaster | None = None,
    progress: Progress | None = None,
) -> ValidationResult:
    """Validate a probability-of-liquidation model out of sample against the naive baseline.

    Parameters
    ----------
    data : DataFrame, mapping asset -> DataFrame, or sequence of DataFrames
        1h bars per asset (:func:`build_cases`); a frame's asset is ``attrs["asset"]`` (or its
        symbol without ``-PERP``).
    model, baseline : str
        Names in :data:`levguard.risk.forecast.FORECAST_MODELS`.
    leverages, horizons, sides
        The case grid (:func:`build_cases`); horizons in days, whole hours (:func:`case_hours`).
    train_until : date
        Cases with ``as_of`` after it (UTC) are scored; the others form the train set.  It must
        be before the last case's ``as_of``; before the first, every case is scored.
    venue, notional
        Margin rules and position size of the test positions.
    by_side, by_leverage : bool
        Also score each side / each leverage separately.
    forecaster : callable, optional
        ``f(bars, as_of, side, distance, horizon_days, model=name) -> probabilities``; default
        :func:`levguard.risk.forecast.liquidation_forecasts`.
    progress : callable, optional
        Called as ``progress(message, done, total)`` before each step.

    Returns
    -------
    ValidationResult

    Raises
    ------
    InputError
        Unknown model, bad grid or date, or a ``train_until`` that leaves no case to score.
    DataError
        Bars that are not 1h OHLC with a UTC index, or a model returning non-probabilities.

    Notes
    -----
    Cases where either forecast is NaN are dropped and counted per asset.  Scores, their
    sources and the acceptance thresholds: :mod:`levguard.core.risk.scoring`,
    :func:`acceptance` and docs/validation.md.
    """
    if forecaster is None:
        from levguard.risk.forecast import FORECAST_MODELS, liquidation_forecasts

        for name, value in (("model", model), ("baseline", baseline)):
            if value not in FORECAST_MODELS:
                raise InputError(f"{name} must be one of {', '.join(sorted(FORECAST_MODELS))}, was {value!r}")
        forecaster = liquidation_forecasts
    for s in sides:
        if s not in SIDES:
            raise InputError(f"side must be 'long' or 'short', was {s!r}")
    for h in horizons:
        case_hours(h)
    cut = parse_train_until(train_until)
    by_side, by_leverage = flag(by_side, "by_side"), flag(by_leverage, "by_leverage")
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a callable progress(message, done, total) or None, was {show(progress)}")
    # A value given twice would double its cases.
    leverages, horizons, sides = (
        tuple(dict.fromkeys(leverages)),
        tuple(dict.fromkeys(horizons)),
        tuple(dict.fromkeys(sides)),
    )
    frames = _as_frames(data)
    total = 3 * len(frames) + 1
    step = 0
    timings = {"cases": 0.0, "forecast_model": 0.0, "forecast_baseline": 0.0, "scores": 0.0}

    def tick(message: str) -> None:
        nonlocal step
        if progress is not None:
            progress(message, step, total)
        step += 1

    built: dict[str, pd.DataFrame] = {}
    for name, bars in frames.items():
        tick(f"{name}: building cases")
        t0 = time.perf_counter()
        built[name] = build_cases(
            bars, asset=name, leverages=leverages, horizons=horizons, sides=sides, venue=venue, notional=notional
        )
        timings["cases"] += time.perf_counter() - t0
    _check_train_until(cut, [c["as_of"] for c in built.values()])
    parts: list[pd.DataFrame] = []
    summaries: list[AssetSummary] = []
    for name, bars in frames.items():
        cases = built[name]
        dropped = 0
        if len(cases):
            tick(f"{name}: forecasting {len(cases):,} cases with {model!r}")
            t0 = time.perf_counter()
            cases["p_model"] = _forecast(forecaster, bars, cases, model)
            timings["forecast_model"] += time.perf_counter() - t0
            tick(f"{name}: forecasting {len(cases):,} cases with {baseline!r}")
            t0 = time.perf_counter()
            cases["p_baseline"] = (
                cases["p_model"].to_numpy() if baseline == model else _forecast(forecaster, bars, cases, baseline)
            )
            timings["forecast_baseline"] += time.perf_counter() - t0
            keep = np.isfinite(cases["p_model"].to_numpy()) & np.isfinite(cases["p_baseline"].to_numpy())
            dropped = int((~keep).sum())
            if dropped:
                logger.info("%s: %d case(s) without a forecast dropped", name, dropped)
                cases = cases.loc[keep].reset_index(drop=True)
            parts.append(cases)
        else:
            step += 2
        summaries.append(_asset_summary(name, bars, cases, dropped))
    tick("scoring")
    t0 = time.perf_counter()
    all_cases = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["asset", "as_of", "split"])
    if len(all_cases):
        all_cases["split"] = np.where(pd.DatetimeIndex(all_cases["as_of"]) > cut, "scored", "train")
    scored, train = (
        _groups(all_cases[all_cases["split"] == split], split, by_side, by_leverage, model != baseline)
        for split in ("scored", "train")
    )
    checks = acceptance(scored)
    timings["scores"] = time.perf_counter() - t0
    if progress is not None:
        progress("done", total, total)
    return ValidationResult(
        model=model,
        baseline=baseline,
        train_until=cut.isoformat(),
        venue=venue,
        notional=float(notional),
        leverages=tuple(float(x) for x in leverages),
        horizons=tuple(float(h) for h in horizons),
        sides=tuple(sides),
        assets=tuple(summaries),
        scored=scored,
        train=train,
        acceptance=checks,
        timings=timings,
        cases=all_cases,
    )
