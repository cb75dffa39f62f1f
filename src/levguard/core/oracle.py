"""Multi-source price oracle: an index from several venues' prices, and the mark price built on it.

The rules are Binance's (price-index and mark-price FAQs, binance.com/en/support/faq/360033525071
and binance.com/en/support/faq/fff6ec1b3f5845d19f1fb924644a0877):

* **Index** = weighted average of several spot venues' prices.  A venue deviating more than 5 %
  from the median of all venues gets zero weight; if more than one deviates, the median itself
  is the index.  We add what a feed needs around that rule: stale and invalid quotes are
  dropped first, and a circuit breaker halts the index (NaN) when too few fresh, valid sources
  remain.
* **Perpetual mark** = ``Median(Price1, Price2, ContractPrice)`` with the funding-adjusted
  ``Price1 = Index * (1 + lastFundingRate * timeUntilFunding / 8h)`` and
  ``Price2 = Index + MovingAverage(basis)``, basis = ``(bid1 + ask1) / 2 - Index``.
* **Delivery mark** = ``Index + MovingAverage(basis)``.

Every result says which sources were used and why the others were dropped.  Failure is a
value: bad market data gives NaN with a reason; only invalid *parameters* raise
:class:`~levguard.errors.InputError`.  The scalar functions run the same kernel code
(:mod:`levguard.kernels.oracle`) as the vectorized ones, so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from levguard.core.validate import float_values, number, show
from levguard.errors import InputError
from levguard.kernels import oracle as ko
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

__all__ = [
    "CHOSEN_NAMES",
    "EIGHT_HOURS_NS",
    "SOURCE_CODE_NAMES",
    "STATUS_NAMES",
    "IndexResult",
    "IndexSeries",
    "MarkResult",
    "MarkSeries",
    "OracleConfig",
    "SourceQuote",
    "aggregate_index",
    "aggregate_series",
    "delivery_mark",
    "mark_price",
    "mark_series",
    "moving_average_basis",
    "weighted_median",
]

NS_PER_S = 1_000_000_000
EIGHT_HOURS_NS = 8 * 3_600 * NS_PER_S
"""Binance's funding-interval denominator in ``Price1`` (8 hours in nanoseconds)."""

Method = Literal["weighted_mean", "weighted_median"]
Status = Literal["ok", "fallback_median", "halted"]
Chosen = Literal["price1", "price2", "contract_price", "none"]

STATUS_NAMES: tuple[Status, ...] = get_args(Status)
"""Row status names indexed by the kernel's ``STATUS_*`` codes (``Status`` lists them in that order)."""

SOURCE_CODE_NAMES: tuple[str, ...] = (
    "used",
    "used_in_median",
    "non_finite_price",
    "non_positive_price",
    "invalid_weight",
    "zero_weight",
    "stale",
    "deviation",
    "circuit_breaker",
)
"""Short per-source tags indexed by the kernel's ``SRC_*`` codes (the first two mean used)."""

CHOSEN_NAMES: dict[int, Chosen] = {
    ko.CHOSEN_NONE: "none",
    ko.CHOSEN_PRICE1: "price1",
    ko.CHOSEN_PRICE2: "price2",
    ko.CHOSEN_CONTRACT: "contract_price",
}
"""Names of the perpetual mark's components indexed by the kernel's ``CHOSEN_*`` codes."""

_METHODS: dict[str, int] = {
    "weighted_mean": ko.METHOD_WEIGHTED_MEAN,
    "weighted_median": ko.METHOD_WEIGHTED_MEDIAN,
}
_INT64 = (-(2**63), 2**63)  # int64 nanoseconds: [lo, hi)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_ns(value: object, field: str) -> None:
    if not _is_int(value):
        raise InputError(f"{field} must be an integer (nanoseconds), was {show(value)}")
    if not _INT64[0] <= value < _INT64[1]:  # type: ignore[operator]
        raise InputError(f"{field} must be within int64 nanoseconds (1677 to 2262), was {show(value)}")


# ------------------------------------------------------------------------------ configuration
@dataclass(frozen=True, slots=True)
class OracleConfig:
    """Parameters of the index aggregation.

    Parameters
    ----------
    max_deviation : float
        A source whose price deviates from the median of all fresh, valid sources by more than
        this fraction is flagged (Binance: 0.05).  Must be finite and > 0.
    max_age_ns : int
        Quotes older than this many nanoseconds are stale (default 30 s).  Must be > 0.
    min_sources : int
        Circuit breaker: fewer fresh, valid sources than this halt the index.  Must be >= 1.
        The default 3 is the smallest count at which the median can outvote one bad source.
        A deviating source still counts here: Binance's rule keeps publishing without it.
    method : {"weighted_mean", "weighted_median"}
        How the healthy sources are combined.  ``weighted_mean`` is Binance's index rule
        (weights such as volume); ``weighted_median`` is the robust alternative.

    Raises
    ------
    InputError
        A parameter is out of range; the message names the field and the value.
    """

    max_deviation: float = 0.05
    max_age_ns: int = 30 * NS_PER_S
    min_sources: int = 3
    method: Method = "weighted_mean"

    def __post_init__(self) -> None:
        dev = self.max_deviation
        if isinstance(dev, bool) or not isinstance(dev, int | float) or not (math.isfinite(dev) and dev > 0.0):
            raise InputError(f"max_deviation must be a finite fraction > 0, was {dev!r}")
        if not _is_int(self.max_age_ns) or self.max_age_ns <= 0:
            raise InputError(f"max_age_ns must be an integer > 0 (nanoseconds), was {self.max_age_ns!r}")
        if not _is_int(self.min_sources) or self.min_sources < 1:
            raise InputError(f"min_sources must be an integer >= 1, was {self.min_sources!r}")
        if self.min_sources >= 2**63:  # the kernel takes an int64
            raise InputError(f"min_sources must be at most 2**63 - 1, was {self.min_sources!r}")
        if self.method not in _METHODS:
            raise InputError(f"method must be one of {sorted(_METHODS)}, was {self.method!r}")

    @property
    def method_code(self) -> int:
        """The kernel's ``METHOD_*`` code of :attr:`method`."""
        return _METHODS[self.method]


# ------------------------------------------------------------------------------ one quote set
@dataclass(frozen=True, slots=True)
class SourceQuote:
    """One source's price at one time.

    Parameters
    ----------
    source : str
        Unique, non-empty name of the source (e.g. ``"binance"``).
    price : float
        Price in quote per base.  Any value is accepted: NaN, inf and prices <= 0 are market-data
        failures that :func:`aggregate_index` drops with a reason.
    weight : float
        Relative weight (e.g. volume); only ratios matter.  Non-finite or negative weights and
        zero weights are dropped with a reason.
    ts_ns : int
        Time of the quote, nanoseconds since the epoch (UTC).

    Raises
    ------
    InputError
        ``source`` is not a non-empty string, ``price`` or ``weight`` is not a real number, or
        ``ts_ns`` is not an integer within int64.
    """

    source: str
    price: float
    weight: float
    ts_ns: int

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise InputError(f"source must be a non-empty string, was {self.source!r}")
        for name in ("price", "weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise InputError(f"{name} must be a real number, was {value!r}")
        _check_ns(self.ts_ns, "ts_ns")


@dataclass(frozen=True)
class IndexResult:
    """The aggregated index price with its provenance.

    Attributes
    ----------
    price : float
        The index price; NaN when halted.
    status : {"ok", "fallback_median", "halted"}
        ``ok``: weighted combination of the used sources.  ``fallback_median``: more than one
        source deviated, the price is the median of all fresh, valid sources.  ``halted``: the
        circuit breaker tripped.
    used : tuple of str
        Sources that entered the price, in input order.
    dropped : Mapping[str, str]
        Every other source and why, e.g. ``"stale: age 42.0 s > 30.0 s"``.
    median : float
        Unweighted median of the fresh, valid prices (NaN when there are none).
    deviating : tuple of str
        Sources more than ``max_deviation`` from ``median``: the one zero-weighted source
        (also in ``dropped``) or, under ``fallback_median``, those inside the median (in ``used``).
    detail : str
        One sentence on how the price was formed.
    """

    price: float
    status: Status
    used: tuple[str, ...]
    dropped: Mapping[str, str]
    median: float
    deviating: tuple[str, ...]
    detail: str

    @property
    def ok(self) -> bool:
        """Whether a price was published (status is not ``halted``)."""
        return self.status != "halted"


def _px(x: float) -> str:
    # Prices: thousands separators and cents for ordinary prices, significant digits for tiny ones.
    if math.isfinite(x) and abs(x) >= 1.0:
        return f"{x:,.2f}"
    return f"{x:.6g}"


def _pct(x: float) -> str:
    return f"{x * 100:,.1f}%" if x < 1e4 else f"{x * 100:.3e}%"


def _reason(code: int, price: float, weight: float, age_ns: int, median: float, n_fresh: int, cfg: OracleConfig) -> str:
    if code == ko.SRC_NON_FINITE:
        return f"non-finite price: {price!r}"
    if code == ko.SRC_NON_POSITIVE:
        return f"non-positive price: {price!r}"
    if code == ko.SRC_BAD_WEIGHT:
        return f"invalid weight: {weight!r} (must be finite and >= 0)"
    if code == ko.SRC_ZERO_WEIGHT:
        return "zero weight"
    if code == ko.SRC_STALE:
        return f"stale: age {age_ns / NS_PER_S:.1f} s > {cfg.max_age_ns / NS_PER_S:.1f} s"
    if code == ko.SRC_DEVIATION:
        dev = abs(price - median) / median
        return f"deviation {_pct(dev)} > {_pct(cfg.max_deviation)} from median {_px(median)}"
    return f"circuit breaker: {n_fresh} fresh valid source(s) < min_sources {cfg.min_sources}"


def aggregate_index(quotes: Iterable[SourceQuote], now_ns: int, config: OracleConfig | None = None) -> IndexResult:
    """Aggregate several sources' quotes into one index price (Binance index rule).

    Parameters
    ----------
    quotes : iterable of SourceQuote
        One quote per source (names unique).
    now_ns : int
        Evaluation time, nanoseconds since the epoch; a quote's age is ``now_ns - ts_ns``.
    config : OracleConfig, optional
        Thresholds and method (defaults: 5 %, 30 s, 3 sources, weighted mean).

    Returns
    -------
    IndexResult
        Price, status, used and dropped sources with reasons.

    Raises
    ------
    InputError
        ``quotes`` is not an iterable of :class:`SourceQuote`, ``now_ns`` is not an integer within
        int64, or two quotes share a source name.

    Notes
    -----
    1. Drop quotes with a non-finite price, a price <= 0, a non-finite or negative weight, a
       zero weight, or an age above ``max_age_ns`` (first failing check is the reason; quotes
       stamped after ``now_ns`` count as fresh; an age beyond int64 is held at its bound).
    2. Circuit breaker: fewer than ``min_sources`` remain -> ``halted``, price NaN.
    3. ``m`` = ordinary median of the remaining prices (midpoint of the middle two for an even
       count); source ``i`` deviates when ``|p_i - m| / m > max_deviation``.
    4. None deviates: ``price = sum(w_i p_i) / sum(w_i)`` (or the weighted median).  One deviates:
       its weight is set to zero and the others' weights renormalised.  More than one: the price
       is ``m`` (``fallback_median``).

    Binance price-index FAQ (venue reference section 1.5): index = weighted average
    of spot venues; a venue more than 5 % from the median of all gets zero weight; with more than
    one such venue the median is used.  The weighted-median option follows
    :func:`weighted_median`.

    Guarantees (tested in ``tests/data/oracle``): with status ``ok`` the price lies within the range of
    the used prices and within ``max_deviation * m`` of ``m``.  With ``n >= max(2, min_sources)``
    honest quotes inside ``[L, U]``, ``U <= L * (1 + max_deviation)``, and one more quote that is
    arbitrary (any price including 0, NaN, inf; any weight; any age), the status is ``ok`` and
    ``|price - m_h| <= (max_deviation + w * (1 + max_deviation)) * m_h`` with ``m_h`` the honest
    median and ``w = U / L - 1``; the bound is attained in the limit ``w -> 0``.

    Examples
    --------
    >>> q = [SourceQuote("a", 100.0, 1.0, 0), SourceQuote("b", 101.0, 1.0, 0),
    ...      SourceQuote("c", 99.0, 2.0, 0), SourceQuote("d", 120.0, 1.0, 0)]
    >>> r = aggregate_index(q, now_ns=0)
    >>> round(r.price, 2), r.status, r.used, dict(r.dropped)
    (99.75, 'ok', ('a', 'b', 'c'), {'d': 'deviation 19.4% > 5.0% from median 100.50'})
    """
    cfg = config if config is not None else OracleConfig()
    _check_ns(now_ns, "now_ns")
    try:
        qs = list(quotes)
    except TypeError:
        raise InputError(f"quotes must be an iterable of SourceQuote, was {show(quotes)}") from None
    for i, q in enumerate(qs):
        if not isinstance(q, SourceQuote):
            raise InputError(f"quotes[{i}] must be a SourceQuote, was {show(q)}")
    names = [q.source for q in qs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"quotes must have unique source names, was duplicated {dup}")
    s = len(qs)
    prices = np.array([float(q.price) for q in qs], dtype=np.float64)
    weights = np.array([float(q.weight) for q in qs], dtype=np.float64)
    lo, hi = _INT64
    ages = np.array([min(max(int(now_ns) - int(q.ts_ns), lo), hi - 1) for q in qs], dtype=np.int64)
    codes = np.empty(s, dtype=np.int8)
    # The kernel runs as plain Python here: silence numpy's scalar warnings as numba's error model does.
    with np.errstate(all="ignore"):
        price, status_code, median = ko.aggregate_row(
            prices,
            weights,
            ages,
            cfg.max_deviation,
            cfg.max_age_ns,
            cfg.min_sources,
            cfg.method_code,
            codes,
            np.empty(s),
            np.empty(s),
        )
    price, median = float(price), float(median)
    n_fresh = int(np.count_nonzero((codes <= ko.SRC_USED_IN_MEDIAN) | (codes >= ko.SRC_DEVIATION)))
    used = tuple(names[i] for i in range(s) if codes[i] < ko.SRC_DROPPED)
    dropped = {
        names[i]: _reason(int(codes[i]), float(prices[i]), float(weights[i]), int(ages[i]), median, n_fresh, cfg)
        for i in range(s)
        if codes[i] >= ko.SRC_DROPPED
    }
    deviating = tuple(names[i] for i in range(s) if codes[i] in (ko.SRC_DEVIATION, ko.SRC_USED_IN_MEDIAN))
    status = STATUS_NAMES[status_code]
    if status == "halted":
        detail = f"circuit breaker: {n_fresh} fresh valid source(s) < min_sources {cfg.min_sources}"
    elif status == "fallback_median":
        detail = (
            f"{len(deviating)} sources deviate more than {_pct(cfg.max_deviation)} from median {_px(median)} "
            f"({', '.join(deviating)}): median of {len(used)} fresh sources used"
        )
    else:
        detail = f"{cfg.method.replace('_', ' ')} of {len(used)} source(s)"
        if deviating:
            detail += f"; {deviating[0]} zero-weighted ({dropped[deviating[0]]})"
    return IndexResult(
        price=price,
        status=status,
        used=used,
        dropped=MappingProxyType(dropped),
        median=median,
        deviating=deviating,
        detail=detail,
    )


def weighted_median(prices: Sequence[float] | Float64Array1D, weights: Sequence[float] | Float64Array1D) -> float:
    """Return the weighted median of ``prices`` (the definition the oracle uses).

    Parameters
    ----------
    prices, weights : (N,) array_like
        Finite prices and finite weights > 0, ``N >= 1``.

    Raises
    ------
    InputError
        Empty or mismatched inputs, non-finite values, or weights <= 0.

    Notes
    -----
    Sort by price; with ``W = sum(w)`` and ``C_k`` the cumulative weight up to the ``k``-th
    smallest price, the weighted median is the first ``p_k`` with ``C_k >= W/2``.  When
    ``C_k = W/2`` exactly (relative tolerance 1e-12) the whole interval ``[p_k, p_{k+1}]``
    minimises ``sum w_i |p_i - x|`` and its midpoint is returned, so equal weights give the
    ordinary median.

    Examples
    --------
    >>> weighted_median([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0])
    2.5
    >>> weighted_median([1.0, 2.0, 3.0], [1.0, 1.0, 3.0])
    3.0
    """
    p, w = (float_values(v, k).copy() for k, v in (("prices", prices), ("weights", weights)))  # sorted in place
    if np.ndim(prices) != 1 or np.ndim(weights) != 1 or p.shape != w.shape or p.shape[0] == 0:
        raise InputError(f"prices and weights must be 1-D of one non-zero length, were {p.shape} and {w.shape}")
    if not np.all(np.isfinite(p)):
        raise InputError(f"prices must be finite, was {p.tolist()!r}")
    if not (np.all(np.isfinite(w)) and np.all(w > 0.0)):
        raise InputError(f"weights must be finite and > 0, was {w.tolist()!r}")
    ko.sort_quotes(p, w, p.shape[0])
    with np.errstate(all="ignore"):
        return float(ko.weighted_median_sorted(p, w, p.shape[0]))


# ------------------------------------------------------------------------------ time series
@dataclass(frozen=True, eq=False)
class IndexSeries:
    """Index prices of ``T`` rows aggregated from ``S`` sources.

    Attributes
    ----------
    index : (T,) float64
        Index price (NaN where halted).
    status : (T,) int8
        Kernel ``STATUS_*`` code; names in :data:`STATUS_NAMES`.
    median : (T,) float64
        Median of the fresh, valid prices of each row.
    codes : (T, S) int8
        Kernel ``SRC_*`` code per row and source; tags in :data:`SOURCE_CODE_NAMES`.
    """

    index: Float64Array1D
    status: npt.NDArray[np.int8]
    median: Float64Array1D
    codes: npt.NDArray[np.int8]

    @property
    def used_mask(self) -> npt.NDArray[np.bool_]:
        """(T, S) bool: the source entered the row's price."""
        used: npt.NDArray[np.bool_] = self.codes < ko.SRC_DROPPED
        return used

    @property
    def n_used(self) -> Int64Array1D:
        """(T,) int64: number of sources that entered each row's price."""
        n: Int64Array1D = self.used_mask.sum(axis=1).astype(np.int64)
        return n


def _array(x: object, name: str, dtype: type[np.float64] | type[np.int64], ndim: int) -> npt.NDArray[Any]:
    try:
        arr = np.ascontiguousarray(x, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{name} must be a numeric array, was {type(x).__name__} ({exc})") from None
    if arr.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-D, was shape {arr.shape}")
    return arr


def aggregate_series(
    prices: Float64Array2D,
    weights: Float64Array2D | None = None,
    ages_ns: npt.NDArray[np.int64] | None = None,
    config: OracleConfig | None = None,
) -> IndexSeries:
    """Aggregate ``T`` rows of quotes from ``S`` sources (vectorized :func:`aggregate_index`).

    Parameters
    ----------
    prices : (T, S) array_like of float
        Prices per row and source (NaN for a missing quote).
    weights : (T, S) array_like of float, optional
        Weights (default 1 everywhere).
    ages_ns : (T, S) array_like of int, optional
        Quote ages in nanoseconds (default 0 everywhere: every quote fresh).
    config : OracleConfig, optional
        Thresholds and method.

    Returns
    -------
    IndexSeries

    Raises
    ------
    InputError
        Arrays of the wrong dimension or of different shapes.

    Notes
    -----
    Row ``t`` is exactly :func:`aggregate_index` of row ``t``'s quotes: both run
    :func:`levguard.kernels.oracle.aggregate_row` (here compiled, through
    :func:`~levguard.kernels.oracle.aggregate_series_nb`).
    """
    cfg = config if config is not None else OracleConfig()
    p = _array(prices, "prices", np.float64, 2)
    w = np.ones_like(p) if weights is None else _array(weights, "weights", np.float64, 2)
    a = np.zeros(p.shape, dtype=np.int64) if ages_ns is None else _array(ages_ns, "ages_ns", np.int64, 2)
    if w.shape != p.shape or a.shape != p.shape:
        raise InputError(f"weights and ages_ns must have the shape of prices {p.shape}, were {w.shape} and {a.shape}")
    t = p.shape[0]
    out_index = np.empty(t)
    out_status = np.empty(t, dtype=np.int8)
    out_median = np.empty(t)
    out_codes = np.empty(p.shape, dtype=np.int8)
    ko.aggregate_series_nb(
        p,
        w,
        a,
        float(cfg.max_deviation),
        int(cfg.max_age_ns),
        int(cfg.min_sources),
        cfg.method_code,
        out_index,
        out_status,
        out_median,
        out_codes,
    )
    return IndexSeries(index=out_index, status=out_status, median=out_median, codes=out_codes)


# ------------------------------------------------------------------------------ mark price
@dataclass(frozen=True, slots=True)
class MarkResult:
    """A mark price and its components.

    Attributes
    ----------
    price : float
        The mark price (NaN when an input is not finite).
    price1 : float
        Funding-adjusted index ``Index * (1 + rate * timeUntilFunding / interval)`` (NaN for
        delivery contracts).
    price2 : float
        ``Index + MA(basis)``.
    contract_price : float
        The contract's last traded price (NaN for delivery contracts).
    chosen : {"price1", "price2", "contract_price", "none"}
        The component that is the mark.
    status : {"ok", "halted"}
        ``halted`` when an input was not finite (e.g. a halted index).
    detail : str
        How the mark was formed, or which inputs were not finite.
    """

    price: float
    price1: float
    price2: float
    contract_price: float
    chosen: Chosen
    status: Literal["ok", "halted"]
    detail: str


def _floats(**values: object) -> tuple[list[float], list[str]]:
    # The values as floats (InputError naming one that is not a real number) and the non-finite
    # ones named: a halted mark.
    x = {k: number(v, k) for k, v in values.items()}
    return list(x.values()), [f"{k} is not finite ({v!r})" for k, v in x.items() if not math.isfinite(v)]


def _check_time(time_until_funding_ns: float, funding_interval_ns: float) -> None:
    for name, v, zero_ok in (("time_until_funding_ns", time_until_funding_ns, True),
                             ("funding_interval_ns", funding_interval_ns, False)):  # fmt: skip
        real = not isinstance(v, bool) and isinstance(v, int | float | np.integer | np.floating)
        if not (real and math.isfinite(v) and (v >= 0 if zero_ok else v > 0)):
            raise InputError(f"{name} must be a finite number {'>=' if zero_ok else '>'} 0, was {v!r}")


def mark_price(
    index: float,
    basis_ma: float,
    last_funding_rate: float,
    time_until_funding_ns: float,
    contract_price: float,
    funding_interval_ns: float = EIGHT_HOURS_NS,
) -> MarkResult:
    """Return the perpetual mark price ``Median(Price1, Price2, ContractPrice)`` (Binance rule).

    Parameters
    ----------
    index : float
        Index price (e.g. :attr:`IndexResult.price`; NaN from a halted index gives a NaN mark).
    basis_ma : float
        Moving average of the basis ``(bid1 + ask1) / 2 - index`` (:func:`moving_average_basis`).
    last_funding_rate : float
        Funding rate as a fraction per interval (positive: longs pay shorts).
    time_until_funding_ns : float
        Nanoseconds until the next funding settlement (>= 0).
    contract_price : float
        The perpetual's last traded price.
    funding_interval_ns : float
        Denominator of the funding term; Binance's formula uses 8 h (the default).

    Returns
    -------
    MarkResult

    Raises
    ------
    InputError
        ``time_until_funding_ns < 0`` or ``funding_interval_ns <= 0`` (or not numbers), or a
        price or rate that is not a real number (NaN and inf are numbers: a halted mark).

    Notes
    -----
    ``Price1 = Index * (1 + lastFundingRate * (timeUntilFunding / 8h))``,
    ``Price2 = Index + MovingAverage(basis)``, ``Mark = Median(Price1, Price2, ContractPrice)``.
    Binance mark-price FAQ (venue reference section 1.5; announcement of 2025-09-16 for Price2).
    Ties resolve as a stable sort of ``(price1, price2, contract_price)`` would: its middle
    element is reported as ``chosen``.

    Examples
    --------
    >>> r = mark_price(60_000.0, 12.0, 0.0001, 4 * 3_600 * 10**9, 60_020.0)
    >>> round(r.price1, 6), r.price2, r.price, r.chosen
    (60003.0, 60012.0, 60012.0, 'price2')
    """
    _check_time(time_until_funding_ns, funding_interval_ns)
    (index, basis_ma, last_funding_rate, contract_price), bad = _floats(
        index=index, basis_ma=basis_ma, last_funding_rate=last_funding_rate, contract_price=contract_price
    )
    with np.errstate(all="ignore"):
        p1 = float(
            ko.funding_adjusted_price(
                index, last_funding_rate, float(time_until_funding_ns), float(funding_interval_ns)
            )
        )
        p2 = float(ko.basis_price(index, basis_ma))
    if bad:
        return MarkResult(math.nan, p1, p2, float(contract_price), "none", "halted", "; ".join(bad))
    mark, which = ko.median_of_three(p1, p2, float(contract_price))
    chosen = CHOSEN_NAMES[which]
    if chosen == "none":  # finite inputs can still overflow to inf - inf
        return MarkResult(math.nan, p1, p2, float(contract_price), "none", "halted", "components are not finite")
    detail = f"median(price1 {_px(p1)}, price2 {_px(p2)}, contract_price {_px(contract_price)}) = {chosen}"
    return MarkResult(float(mark), p1, p2, float(contract_price), chosen, "ok", detail)


def delivery_mark(index: float, basis_ma: float) -> MarkResult:
    """Return the delivery-contract mark price ``Index + MovingAverage(basis)`` (Binance rule).

    Raises
    ------
    InputError
        ``index`` or ``basis_ma`` is not a real number (NaN and inf are: a halted mark).

    Notes
    -----
    Binance mark-price FAQ: quarterly (delivery) contracts use ``Mark = Index + MA(basis)``
    with the 30-second basis average.  ``price1`` and ``contract_price`` are NaN in the result.

    Examples
    --------
    >>> delivery_mark(60_000.0, 150.0).price
    60150.0
    """
    (index, basis_ma), bad = _floats(index=index, basis_ma=basis_ma)
    p2 = float(ko.basis_price(index, basis_ma))
    if bad:
        return MarkResult(math.nan, math.nan, p2, math.nan, "none", "halted", "; ".join(bad))
    return MarkResult(p2, math.nan, p2, math.nan, "price2", "ok", f"index {_px(index)} + basis MA {basis_ma:,.6g}")


def moving_average_basis(
    mid_prices: Float64Array1D | Sequence[float],
    index_prices: Float64Array1D | Sequence[float],
    window: int,
    min_periods: int | None = None,
) -> Float64Array1D:
    """Return the trailing moving average of the basis ``mid - index`` over ``window`` samples.

    Parameters
    ----------
    mid_prices, index_prices : (T,) array_like of float
        Contract mid price ``(bid1 + ask1) / 2`` and index price on one sampling clock.
    window : int
        Samples per window, the current one included (Binance: 30 samples one second apart).
    min_periods : int, optional
        Fewest finite basis points a window needs, else NaN (default ``window``).

    Returns
    -------
    (T,) float64

    Raises
    ------
    InputError
        Arrays not 1-D of one length, ``window < 1``, ``min_periods`` outside ``[1, window]``.

    Notes
    -----
    ``MA_t = mean{ mid_i - index_i : t - window < i <= t, finite }``.  Binance's Price2 uses
    the 30-second basis sampled every second (announcement of 2025-09-16; before it the COIN-M
    FAQ showed 2.5 minutes of 30 points every 5 s).  The window counts samples, so the caller's
    sampling interval sets its length in time.

    Examples
    --------
    >>> moving_average_basis([101.0, 102.0, 106.0], [100.0, 100.0, 100.0], window=2).tolist()
    [nan, 1.5, 4.0]
    """
    mid = _array(mid_prices, "mid_prices", np.float64, 1)
    idx = _array(index_prices, "index_prices", np.float64, 1)
    if mid.shape != idx.shape:
        raise InputError(f"mid_prices and index_prices must have one length, were {mid.shape[0]} and {idx.shape[0]}")
    if not _is_int(window) or window < 1:
        raise InputError(f"window must be an integer >= 1, was {window!r}")
    mp = window if min_periods is None else min_periods
    if not _is_int(mp) or not 1 <= mp <= window:
        raise InputError(f"min_periods must be an integer in [1, window={window}], was {min_periods!r}")
    out = np.empty(mid.shape[0])
    ko.moving_average_basis_nb(mid, idx, int(window), int(mp), out)
    return out


@dataclass(frozen=True, eq=False)
class MarkSeries:
    """Perpetual mark prices of ``T`` rows (vectorized :func:`mark_price`).

    Attributes
    ----------
    mark, price1, price2 : (T,) float64
        Mark price and its two index-based components (NaN where an input is NaN).
    chosen : (T,) int8
        Kernel ``CHOSEN_*`` code; names in :data:`CHOSEN_NAMES`.
    """

    mark: Float64Array1D
    price1: Float64Array1D
    price2: Float64Array1D
    chosen: npt.NDArray[np.int8]


def mark_series(
    index: Float64Array1D,
    basis_ma: Float64Array1D,
    funding_rate: Float64Array1D,
    time_until_funding_ns: Float64Array1D,
    contract_price: Float64Array1D,
    funding_interval_ns: float = EIGHT_HOURS_NS,
) -> MarkSeries:
    """Return the perpetual mark ``Median(Price1, Price2, ContractPrice)`` of ``T`` rows.

    Parameters
    ----------
    index, basis_ma, funding_rate, contract_price : (T,) array_like of float
        As :func:`mark_price`, per row (NaN allowed: it yields a NaN mark).
    time_until_funding_ns : (T,) array_like of float
        Nanoseconds to the next settlement, >= 0 where not NaN.
    funding_interval_ns : float
        Denominator of the funding term (8 h).

    Returns
    -------
    MarkSeries

    Raises
    ------
    InputError
        Arrays of different lengths, a negative time to funding, a non-positive interval.

    Notes
    -----
    Row ``t`` equals :func:`mark_price` of row ``t``: both call the kernel helpers
    :func:`~levguard.kernels.oracle.funding_adjusted_price`,
    :func:`~levguard.kernels.oracle.basis_price` and :func:`~levguard.kernels.oracle.median_of_three`.
    """
    arrays = [
        _array(x, name, np.float64, 1)
        for x, name in (
            (index, "index"),
            (basis_ma, "basis_ma"),
            (funding_rate, "funding_rate"),
            (time_until_funding_ns, "time_until_funding_ns"),
            (contract_price, "contract_price"),
        )
    ]
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise InputError(f"mark_series inputs must have one length, were {[a.shape[0] for a in arrays]}")
    tuf = arrays[3]
    if np.any(tuf < 0):
        raise InputError(f"time_until_funding_ns must be >= 0, was {float(tuf[tuf < 0][0])!r}")
    _check_time(0, funding_interval_ns)
    out_mark, out_p1, out_p2 = np.empty(n), np.empty(n), np.empty(n)
    out_chosen = np.empty(n, dtype=np.int8)
    idx, bma, rate, tuf, cp = arrays
    ko.mark_series_nb(idx, bma, rate, tuf, cp, float(funding_interval_ns), out_mark, out_p1, out_p2, out_chosen)
    return MarkSeries(mark=out_mark, price1=out_p1, price2=out_p2, chosen=out_chosen)
