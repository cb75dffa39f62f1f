"""P(HF < 1) of a lending position over horizons, with the one liquidation forecaster.

A lending position is long the price of its collateral in units of its debt: it liquidates when
that **collateral / debt price ratio** falls far enough.  :func:`position_risk` builds the ratio's
hourly bars from the bars of each asset, finds how far the ratio may fall before the health
factor reaches 1, and asks :func:`levguard.core.risk.forecast.forecast_liquidations` (the path
behind :func:`levguard.risk.liquidation_forecasts`; docs/risk.md, docs/validation.md) for the
probability that it does within each horizon.  One forecaster for everything: no second
volatility model.

The ratio
---------
* One collateral (Aave, or any Morpho market): the distance is exact: ``d = 1 - p* / p`` with
  ``p*`` the collateral's liquidation price from the exact engine
  (:func:`levguard.defi.analytics.liquidation_price`, every other price fixed) and ``p`` its
  price now.  The ratio is the collateral's price over the debt's (over the debt basket, with
  several debts), and a fall of the ratio by ``d`` is a fall of the collateral by ``d`` with the
  debt fixed.  With stable debt (USDC, USDT, DAI without bars) the ratio **is** the collateral's
  price: the forecast is ``liquidation_forecasts`` at the collateral's distance, exactly.
* Several collaterals (Aave): the ratio of the threshold-weighted collateral basket
  ``sum(tokens_i x LT_i x p_i)`` to the debt basket ``sum(debt_j x q_j)``, which is the health
  factor itself (before the floored average threshold); it reaches 1 after a fall of
  ``d = 1 - 1 / HF``.  Each asset's bars are rescaled to its price in the spec at ``as_of``.

High and low of a ratio (the approximation)
-------------------------------------------
A ratio's close is exact (both closes are at the bar's end).  Its intrabar extremes are not in
the bars: ``high_low="synchronous"`` (default) assumes every asset makes its high and its low at
the same moment (exact for one moving asset against constant ones, and for assets that move
together such as wstETH/WETH): ``low = min(close, C_low / D_low, C_high / D_high)``, ``high`` the
max.  ``high_low="bound"`` takes the bounds no path can pass, ``low = C_low / D_high`` and
``high = C_high / D_low``: conservative (it overstates P) and, for correlated assets, very much
so.  With one volatile collateral and constant debt the collateral's own bars are used.

Stablecoins (USDC, USDT, DAI) without bars are held at their price in the spec; any other asset
needs bars (hourly or finer: a frame, or a CSV/Parquet path read by
:func:`levguard.data.loaders.load_ohlcv`; ``mark_*`` columns are read when present).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from levguard.defi import risk
>>> idx = pd.date_range("2024-01-01", periods=24 * 120, freq="1h", tz="UTC")
>>> close = 3_000 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.006, idx.size)))
>>> eth = pd.DataFrame({"high": close * 1.003, "low": close * 0.997, "close": close}, index=idx)
>>> spec = {"protocol": "morpho-blue", "collateral_symbol": "WETH", "loan_symbol": "USDC",
...         "lltv": 0.86, "collateral": 10, "borrow": 20_000, "collateral_price": 3_000,
...         "collateral_decimals": 18, "loan_decimals": 6}
>>> r = risk.position_risk(spec, {"WETH": eth}, horizons=(1, 7))
>>> round(r.distance, 4), r.probabilities[0].probability < r.probabilities[1].probability
(0.2248, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from levguard.core.records import JsonRecord
from levguard.core.risk.forecast import (
    FORECAST_MODELS,
    HOUR_NS,
    MAX_HORIZON_DAYS,
    MAX_STALE_DAYS,
    HourlyBars,
    LiquidationForecaster,
    check_fresh,
    fit_forecaster,
    forecast_liquidations,
    horizon_hours,
)
from levguard.core.validate import finite_number, show
from levguard.data.frames import hourly_arrays
from levguard.data.loaders import load_ohlcv
from levguard.defi import _aave_analytics as _aave
from levguard.defi import _morpho_analytics as _morpho
from levguard.defi.analytics import Spec, liquidation_price
from levguard.defi.positions import AAVE_PRICE_DECIMALS, AavePosition, DefiPosition, MorphoPosition, load_position
from levguard.errors import InputError

__all__ = [
    "DEFAULT_HORIZONS",
    "HIGH_LOW",
    "STABLECOINS",
    "HealthCurve",
    "HorizonRisk",
    "PositionRisk",
    "RatioBars",
    "health_curves",
    "position_risk",
    "ratio_bars",
    "ratio_forecaster",
]

STABLECOINS: Final = ("USDC", "USDT", "DAI")
"""Assets held at their price in the spec when no bars are given for them."""
HIGH_LOW: Final = ("synchronous", "bound")
"""How a ratio's intrabar high and low are approximated (module docstring)."""
DEFAULT_HORIZONS: Final = (1.0, 7.0)
"""Horizons in days when none are given."""

BarsSource = pd.DataFrame | str | Path
_WAD = 10**18


@dataclass(frozen=True, slots=True)
class RatioBars:
    """The hourly bars of a position's collateral / debt price ratio (:func:`ratio_bars`).

    Attributes
    ----------
    bars : HourlyBars
        What the forecaster reads.
    label : str
        ``"WETH / USDC"``, ``"(WETH + WBTC) / USDC"``.
    collateral_assets, debt_assets : tuple of str
        The assets of each side (weights from the spec).
    constant_assets : tuple of str
        Stablecoins held at their spec price (no bars).
    high_low : str
        ``"asset"`` (one asset's own bars), ``"synchronous"`` or ``"bound"``.
    as_of_ns : int
        The forecast time: the close of the last bar common to all assets (or the time given).
    """

    bars: HourlyBars
    label: str
    collateral_assets: tuple[str, ...]
    debt_assets: tuple[str, ...]
    constant_assets: tuple[str, ...]
    high_low: str
    as_of_ns: int


@dataclass(frozen=True, slots=True)
class HorizonRisk(JsonRecord):
    """P(HF < 1) within one horizon.

    Attributes
    ----------
    horizon_days : float
        As given.
    hours : int
        As the forecaster reads it (whole hours, at least 1).
    probability : float
        In ``[0, 1]``.
    """

    horizon_days: float
    hours: int
    probability: float


@dataclass(frozen=True, slots=True)
class PositionRisk(JsonRecord):
    """The probability that a lending position's health factor falls below 1, by horizon.

    Attributes
    ----------
    protocol, name : str
        From the spec.
    health_factor : float
        Now (``inf`` without debt: None in JSON).
    ratio : str
        The price ratio forecast (``"WETH / USDC"``); "" when none was needed.
    collateral_assets, debt_assets, constant_assets : tuple of str
        See :class:`RatioBars`.
    distance : float or None
        Fraction by which the ratio must fall for HF to reach 1 (0: liquidatable now; None: no
        debt, or no price of the collateral liquidates).
    distance_from : str
        How ``distance`` was found: the exact liquidation price of one collateral, or
        ``1 - 1/HF`` for several.
    high_low : str
        How the ratio's high and low were built (module docstring).
    model : str
        The forecaster's model (``"default"`` = ``"excursion"``, or ``"naive"``).
    as_of : str or None
        Forecast time, ISO 8601 UTC.
    bars : int
        Hourly bars of the ratio.
    probabilities : tuple of HorizonRisk
        One per horizon.
    reason : str
        Why the probabilities are 0 or 1 without a forecast ("" otherwise).
    """

    protocol: str
    name: str
    health_factor: float
    ratio: str
    collateral_assets: tuple[str, ...]
    debt_assets: tuple[str, ...]
    constant_assets: tuple[str, ...]
    distance: float | None
    distance_from: str
    high_low: str
    model: str
    as_of: str | None
    bars: int
    probabilities: tuple[HorizonRisk, ...]
    reason: str = ""

    def probability(self, horizon_days: float) -> float:
        """P(HF < 1) within ``horizon_days`` (one of the horizons computed).

        Raises
        ------
        InputError
            A horizon that was not computed.
        """
        for h in self.probabilities:
            if h.horizon_days == horizon_days:
                return h.probability
        raise InputError(
            f"horizon_days must be one of {[h.horizon_days for h in self.probabilities]}, was {show(horizon_days)}"
        )


@dataclass(frozen=True, slots=True)
class HealthCurve(JsonRecord):
    """The health factor as one collateral's price moves, every other price fixed (exact engine).

    Attributes
    ----------
    symbol, unit : str
        The collateral and its price unit (``"USD"``, ``"WETH per wstETH"``).
    moves : tuple of float
        Relative price moves (``-0.3``: 30 % lower).
    prices : tuple of float
        The prices, in ``unit``.
    health_factors : tuple of float
        At each price (``inf`` without debt).
    current_price : float
        Now.
    liquidation_price : float or None
        From :func:`levguard.defi.analytics.liquidation_price`.
    """

    symbol: str
    unit: str
    moves: tuple[float, ...]
    prices: tuple[float, ...]
    health_factors: tuple[float, ...]
    current_price: float
    liquidation_price: float | None


# --- the two baskets ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Leg:
    symbol: str
    weight: float  # tokens (x threshold for collateral)
    price: float  # in the side's common unit, now


def _legs(pos: DefiPosition) -> tuple[list[_Leg], list[_Leg]]:
    # The collateral side (threshold-weighted) and the debt side of the health factor.
    if isinstance(pos, MorphoPosition):
        coll = pos.position.collateral / 10**pos.collateral_decimals
        owed = _morpho.borrowed(pos) / 10**pos.loan_decimals
        price = pos.oracle_price / pos.price_scale  # loan tokens per collateral token
        c = [_Leg(pos.collateral_symbol, coll * pos.lltv / _WAD, price)] if coll > 0 else []
        d = [_Leg(pos.loan_symbol, owed, 1.0)] if owed > 0 else []
        return c, d
    c, d = [], []
    for r in pos.reserves:
        usd = r.price / 10**AAVE_PRICE_DECIMALS
        if pos.counted(r):
            lt = pos.threshold(r)
            c.append(_Leg(r.symbol, _aave.tokens(r.collateral, r) * lt / 10_000, usd))
        if r.debt > 0:
            d.append(_Leg(r.symbol, _aave.tokens(r.debt, r), usd))
    return c, d


def _label(legs: Sequence[_Leg]) -> str:
    names = [leg.symbol for leg in legs]
    return names[0] if len(names) == 1 else "(" + " + ".join(names) + ")"


# --- bars -------------------------------------------------------------------------------------------


def _asset_bars(symbol: str, source: object) -> HourlyBars:
    # One asset's hourly bars (mark columns when present), from a frame or a file.
    if isinstance(source, str | Path):
        source = load_ohlcv(source)
    if not isinstance(source, pd.DataFrame):
        raise InputError(f"bars[{symbol!r}] must be a DataFrame or a CSV/Parquet path, was {type(source).__name__}")
    try:
        bars = HourlyBars.from_finer(*hourly_arrays(source))
    except InputError as exc:
        raise InputError(f"bars[{symbol!r}]: {exc}") from None
    if bars is None:
        raise InputError(f"bars[{symbol!r}] must be hourly or finer (the forecaster reads hourly highs and lows)")
    return bars


def _lookup(bars: Mapping[str, object]) -> dict[str, tuple[str, object]]:
    # Symbols are matched case-insensitively; two keys differing only in case are refused.
    if not isinstance(bars, Mapping):
        raise InputError(f"bars must be a mapping of asset symbol to DataFrame or CSV/Parquet path, was {show(bars)}")
    out: dict[str, tuple[str, object]] = {}
    for key, value in bars.items():
        if not isinstance(key, str) or not key.strip():
            raise InputError(f"bars keys must be asset symbols, was {show(key)}")
        k = key.strip().upper()
        if k in out:
            raise InputError(f"bars has two entries for {key!r}")
        out[k] = (key.strip(), value)
    return out


def _as_of_ns(as_of: object) -> int:
    try:
        ts = pd.Timestamp(as_of)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"as_of must be a timestamp, was {show(as_of)}") from None
    if pd.isna(ts) or ts.tzinfo is None:
        raise InputError(f"as_of must be a timezone-aware (UTC) timestamp, was {show(as_of)}")
    try:
        return int(ts.tz_convert("UTC").as_unit("ns").value)
    except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime
        raise InputError(f"as_of must lie between 1677-09-22 and 2262-04-11 UTC, was {show(as_of)}") from None


def _present(b: HourlyBars) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Open times and linear high, low, close of the bars that exist.
    idx = np.flatnonzero(b.present)
    return (
        b.start_ns + idx.astype(np.int64) * HOUR_NS,
        np.exp(b.log_high[idx]),
        np.exp(b.log_low[idx]),
        np.exp(b.log_close[idx]),
    )


def _side(
    legs: Sequence[_Leg],
    series: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    t: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # A basket's high, low, close on the common times t: each moving asset rescaled so that its
    # close at the anchor bar k is its spec price; constant assets at their spec price.
    hi = np.zeros(t.shape[0])
    lo = np.zeros(t.shape[0])
    cl = np.zeros(t.shape[0])
    for leg in legs:
        if leg.symbol in series:
            ts, h, low, c = series[leg.symbol]
            pick = np.searchsorted(ts, t)
            scale = leg.weight * leg.price / c[pick[k]]
            hi += scale * h[pick]
            lo += scale * low[pick]
            cl += scale * c[pick]
        else:
            v = leg.weight * leg.price
            hi += v
            lo += v
            cl += v
    return hi, lo, cl


def ratio_bars(
    spec: Spec,
    bars: Mapping[str, BarsSource],
    *,
    as_of: object = None,
    high_low: str = "synchronous",
) -> RatioBars:
    """Return the hourly bars of a position's collateral / debt price ratio.

    Parameters
    ----------
    spec : mapping, path or position
        A position spec (:mod:`levguard.defi.positions`) with debt and collateral.
    bars : mapping of symbol to DataFrame or path
        Hourly (or finer) bars per asset; stablecoins (:data:`STABLECOINS`) may be left out.
    as_of : timestamp, optional
        The forecast time (UTC); default the close of the last bar all assets share.  Each
        asset's bars are scaled to its spec price at the last common bar closed by then.
    high_low : {"synchronous", "bound"}
        The ratio's intrabar approximation (module docstring).

    Raises
    ------
    InputError
        No debt or no collateral; an asset without bars that is not a stablecoin; bars that are
        not hourly or finer, or that share fewer than 2 hours; an unknown ``high_low``.
    """
    if high_low not in HIGH_LOW:
        raise InputError(f"high_low must be one of {list(HIGH_LOW)}, was {show(high_low)}")
    pos = load_position(spec)
    coll, debt = _legs(pos)
    if not coll or not debt:
        raise InputError("the position needs collateral and debt for a collateral / debt ratio")
    given = _lookup(bars)
    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    hourly: dict[str, HourlyBars] = {}
    constant: list[str] = []
    for leg in (*coll, *debt):
        key = leg.symbol.upper()
        if key in given:
            if leg.symbol not in hourly:
                hourly[leg.symbol] = _asset_bars(given[key][0], given[key][1])
                series[leg.symbol] = _present(hourly[leg.symbol])
        elif key in STABLECOINS:
            constant.append(leg.symbol)
        else:
            raise InputError(
                f"bars for {leg.symbol} are needed (stablecoins {', '.join(STABLECOINS)} are held at their "
                f"price without bars); given: {sorted(v[0] for v in given.values())}"
            )
    if not series:
        raise InputError("every asset of the position is a stablecoin without bars: give bars for one")
    moving_coll = [leg.symbol for leg in coll if leg.symbol in series]
    label = f"{_label(coll)} / {_label(debt)}"
    consts = tuple(dict.fromkeys(constant))
    t = series[next(iter(series))][0]
    for ts, *_ in series.values():
        t = np.intersect1d(t, ts, assume_unique=True)
    if t.shape[0] < 2:
        raise InputError(f"the bars of {', '.join(series)} share {t.shape[0]} hour(s); at least 2 are needed")
    closes = t + HOUR_NS
    t_as_of = int(closes[-1]) if as_of is None else _as_of_ns(as_of)
    k = int(np.searchsorted(closes, t_as_of, side="right")) - 1
    if k < 0:
        raise InputError(f"as_of {show(as_of)} is before the first common bar closed")
    coll_names = tuple(leg.symbol for leg in coll)
    debt_names = tuple(leg.symbol for leg in debt)
    if len(coll) == 1 and moving_coll and all(leg.symbol not in series for leg in debt):
        # One moving collateral against constant debt: the ratio is its price; its bars as they are.
        b = hourly[moving_coll[0]]
        return RatioBars(b, label, coll_names, debt_names, consts, "asset", t_as_of)
    ch, cl, cc = _side(coll, series, t, k)
    dh, dl, dc = _side(debt, series, t, k)
    close = cc / dc
    if high_low == "bound":
        low, high = cl / dh, ch / dl
    else:
        a, b2 = cl / dl, ch / dh
        low = np.minimum(close, np.minimum(a, b2))
        high = np.maximum(close, np.maximum(a, b2))
    return RatioBars(
        HourlyBars.from_arrays(t, high, low, close), label, coll_names, debt_names, consts, high_low, t_as_of
    )


# --- the distance ------------------------------------------------------------------------------------


def _distance(pos: DefiPosition, hf_wad: int) -> tuple[float | None, str, str]:
    # (distance, how it was found, reason when there is none); HF < 1 is a distance of 0.
    if hf_wad < _WAD:
        return 0.0, "HF < 1 now", "liquidatable now"
    if isinstance(pos, MorphoPosition):
        lp = liquidation_price(pos)
        if lp.price is None:
            return None, "", lp.reason
        d = 1 - Fraction(lp.price, pos.oracle_price)
        return float(d), f"exact liquidation price of {pos.collateral_symbol}", ""
    counted = [r for r in pos.reserves if pos.counted(r)]
    if len(counted) == 1:
        r = counted[0]
        lp = liquidation_price(pos, r.symbol)
        if lp.price is not None:
            return float(1 - Fraction(lp.price, r.price)), f"exact liquidation price of {r.symbol}", ""
    return float(1 - Fraction(_WAD, hf_wad)), "1 - 1/HF: the collateral basket over the debt basket", ""


_DAYS_MAX: Final = 1e300  # beyond any horizon, short of inf (_horizons names the (0, 30] rule)
_MOVE_MAX: Final = 1000.0  # a price move of +100,000 %: past it the contract prices overflow


def _horizons(horizons: Sequence[float] | float) -> tuple[float, ...]:
    if isinstance(horizons, int | float):
        values: tuple[object, ...] = (horizons,)
    elif isinstance(horizons, str | bytes | Mapping) or not isinstance(horizons, Iterable):
        raise InputError(f"horizons must be a number of days or a sequence of them, was {show(horizons)}")
    else:
        values = tuple(horizons)
    if not values:
        raise InputError("horizons must not be empty")
    out = []
    for h in values:
        if isinstance(h, bool) or not isinstance(h, int | float) or not (-_DAYS_MAX < h < _DAYS_MAX):
            raise InputError(f"horizons must be numbers of days, was {show(h)}")
        out.append(float(h))
    bad = [h for h in out if not 0.0 < h <= MAX_HORIZON_DAYS]  # horizon_hours' rule, named as ours
    if bad:
        raise InputError(f"horizons must be in (0, {MAX_HORIZON_DAYS:g}] days, was {show(bad[0])}")
    return tuple(out)


def position_risk(
    spec: Spec,
    bars: Mapping[str, BarsSource] | None = None,
    horizons: Sequence[float] | float = DEFAULT_HORIZONS,
    *,
    model: str = "default",
    as_of: object = None,
    high_low: str = "synchronous",
    max_stale_days: float | None = MAX_STALE_DAYS,
) -> PositionRisk:
    """Return P(HF < 1) of a position within each horizon.

    Parameters
    ----------
    spec : mapping, path or position
        A position spec (:mod:`levguard.defi.positions`).
    bars : mapping of symbol to DataFrame or path, optional
        Bars per asset (:func:`ratio_bars`); not needed without debt.
    horizons : float or sequence of float, default (1, 7)
        Days, each in ``(0, 30]``.
    model : str
        The forecaster's model: ``"default"`` (``"excursion"``) or ``"naive"``.
    as_of : timestamp, optional
        Forecast time (UTC); default the last common bar's close.
    high_low : {"synchronous", "bound"}
        The ratio's intrabar approximation.
    max_stale_days : float or None, default 30
        Refuse an ``as_of`` more than this many days after the last common bar closed by then
        (:func:`levguard.core.risk.forecast.check_fresh`); None does not check.

    Returns
    -------
    PositionRisk

    Raises
    ------
    InputError
        A bad spec, horizon, model or bars (see :func:`ratio_bars`), or bars too old for
        ``as_of``.

    Notes
    -----
    ``P = forecast_liquidations(ratio_bars, as_of, +1, d, horizon, model)``
    (:mod:`levguard.core.risk.forecast`: the ``excursion`` model's scaled empirical first passage
    with a generalised Pareto tail, validated in docs/validation.md) with ``d`` the ratio's fall to
    HF = 1 (module docstring).  HF < 1 now gives 1; no debt, or a collateral no price of which
    liquidates, gives 0.
    """
    pos = load_position(spec)
    hs = _horizons(horizons)
    hours = horizon_hours(hs)
    if model not in FORECAST_MODELS:
        raise InputError(f"model must be one of {list(FORECAST_MODELS)}, was {show(model)}")
    hf_wad = _aave.account(pos).health_factor if isinstance(pos, AavePosition) else _morpho.hf(pos)
    hf = _aave.hf_float(hf_wad)
    coll, debt = _legs(pos)
    if debt:
        distance, how, reason = _distance(pos, hf_wad)
    else:
        distance, how, reason = None, "", "no debt"
    if distance is None or distance == 0.0:
        # No debt (or no price of the collateral liquidates): 0; liquidatable now: 1.
        p_fixed = 0.0 if distance is None else 1.0
        return PositionRisk(
            protocol=pos.protocol,
            name=pos.name,
            health_factor=hf,
            ratio="",
            collateral_assets=tuple(x.symbol for x in coll),
            debt_assets=tuple(x.symbol for x in debt),
            constant_assets=(),
            distance=distance,
            distance_from=how,
            high_low="",
            model=model,
            as_of=None,
            bars=0,
            probabilities=tuple(HorizonRisk(h, int(n), p_fixed) for h, n in zip(hs, hours, strict=True)),
            reason=reason,
        )
    if bars is None:
        raise InputError("bars are needed for P(HF < 1): give hourly bars of the collateral (and of a volatile debt)")
    rb = ratio_bars(pos, bars, as_of=as_of, high_low=high_low)
    t = np.array([rb.as_of_ns], dtype=np.int64)
    p = forecast_liquidations(rb.bars, t, 1, distance, np.asarray(hs), model)
    check_fresh(rb.bars, t, max_stale_days, "common bar")
    probs = tuple(HorizonRisk(h, int(n), float(x)) for h, n, x in zip(hs, hours, p, strict=True))
    return PositionRisk(
        protocol=pos.protocol,
        name=pos.name,
        health_factor=hf,
        ratio=rb.label,
        collateral_assets=rb.collateral_assets,
        debt_assets=rb.debt_assets,
        constant_assets=rb.constant_assets,
        distance=distance,
        distance_from=how,
        high_low=rb.high_low,
        as_of=pd.Timestamp(rb.as_of_ns, tz="UTC").isoformat(),
        bars=int(rb.bars.present.sum()),
        model=model,
        probabilities=probs,
    )


def ratio_forecaster(
    spec: Spec,
    bars: Mapping[str, BarsSource],
    *,
    model: str = "default",
    as_of: object = None,
    high_low: str = "synchronous",
    max_stale_days: float | None = MAX_STALE_DAYS,
) -> LiquidationForecaster:
    """Return the forecaster fitted on the position's ratio bars at ``as_of``.

    ``forecaster.prob(+1, d, hours)`` equals :func:`position_risk` at distance ``d``; it is what
    :class:`levguard.core.sizing.health.HealthFactorTarget` reads from the sizing state.

    Raises
    ------
    InputError
        As :func:`ratio_bars`, an unknown model, or bars too old for ``as_of`` (as
        :func:`position_risk`).
    """
    rb = ratio_bars(spec, bars, as_of=as_of, high_low=high_low)
    fitted = fit_forecaster(rb.bars, rb.as_of_ns, model)
    check_fresh(rb.bars, np.array([rb.as_of_ns], dtype=np.int64), max_stale_days, "common bar")
    return fitted


def _curve(
    symbol: str, unit: str, now: int, scale: float, moves: np.ndarray, hf_at: Any, lp: float | None
) -> HealthCurve:
    prices = [round(now * (1.0 + m)) for m in moves]
    return HealthCurve(
        symbol,
        unit,
        tuple(float(m) for m in moves),
        tuple(p / scale for p in prices),
        tuple(_aave.hf_float(hf_at(p)) for p in prices),
        now / scale,
        lp,
    )


def health_curves(spec: Spec, *, low: float = -0.6, high: float = 0.4, points: int = 51) -> tuple[HealthCurve, ...]:
    """Return the health factor against each collateral's price (the others fixed), exact engine.

    Parameters
    ----------
    spec : mapping, path or position
    low, high : float
        Relative moves at the ends of the grid, ``-1 <= low < high``.
    points : int
        Grid points, 2 to 1001.

    Raises
    ------
    InputError
        A bad spec or grid.
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= 1001:
        raise InputError(f"points must be an integer in [2, 1001], was {show(points)}")
    low, high = finite_number(low, "low"), finite_number(high, "high")
    if not -1.0 <= low < high <= _MOVE_MAX:
        raise InputError(
            f"low and high must satisfy -1 <= low < high <= {_MOVE_MAX:g}, were {show(low)} and {show(high)}"
        )
    pos = load_position(spec)
    moves = np.round(np.linspace(low, high, points), 12)  # 0.0 exactly where the grid crosses it
    if isinstance(pos, MorphoPosition):
        lp = liquidation_price(pos)
        unit = lp.unit
        return (
            _curve(pos.collateral_symbol, unit, pos.oracle_price, pos.price_scale, moves,
                   lambda p: _morpho.hf(pos, price=p), lp.value),
        )  # fmt: skip
    out = []
    for r in pos.reserves:
        if pos.counted(r) and r.debt == 0:
            lp = liquidation_price(pos, r.symbol)

            def hf_at(p: int, symbol: str = r.symbol) -> int:
                return _aave.account(pos, _aave.rows_with(pos, symbol, price=p)).health_factor

            out.append(_curve(r.symbol, "USD", r.price, 10**AAVE_PRICE_DECIMALS, moves, hf_at, lp.value))
    return tuple(out)
