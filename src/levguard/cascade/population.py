"""Populations of leveraged accounts for the cascade simulator, as plain float64 arrays.

A :class:`Population` holds one linear perpetual position per account: side, size, entry price,
the collateral backing it and whether the account is cross-margined.  Populations are built
from distributions (:func:`population_from_distribution`: a leverage mixture, lognormal
position sizes, entry prices spread over recent history) or read from a snapshot of positions
(:func:`load_population`, CSV or Parquet).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.validate import NUMBER_MAX, number, path_arg, show
from levguard.data.loaders import read_table
from levguard.errors import DataError, InputError
from levguard.kernels import readonly
from levguard.kernels.margin import isolated_linear_nb
from levguard.typing import BoolArray1D, Float64Array1D

__all__ = [
    "DEFAULT_ENTRY_SPREAD",
    "DEFAULT_LEVERAGE_MIXTURE",
    "DEFAULT_NOTIONAL",
    "Population",
    "liquidatable_mask",
    "load_population",
    "population_from_distribution",
    "save_population",
]

logger = logging.getLogger(__name__)

LeverageSpec = float | Sequence[tuple[float, float, float]]

DEFAULT_LEVERAGE_MIXTURE: tuple[tuple[float, float, float], ...] = (
    (0.40, 2.0, 5.0),
    (0.35, 5.0, 20.0),
    (0.20, 20.0, 50.0),
    (0.05, 50.0, 100.0),
)
"""Default leverage mixture ``(weight, low, high)``, uniform within each component.

An assumption, not a measurement: a retail-like book where most accounts use moderate leverage
(40 % at 2-5x, 35 % at 5-20x) and a tail uses high leverage (20 % at 20-50x, 5 % at 50-100x,
100x being the usual venue maximum for BTC perpetuals).  Venues do not publish account-level
leverage distributions; calibrate to your venue's data where you have it.
"""

DEFAULT_NOTIONAL: tuple[float, float] = (5_000.0, 1.5)
"""Default position size: lognormal notional with median 5,000 (quote currency) and log
standard deviation 1.5 (mean about 15,400; 1 % of positions above about 164,000).  An
assumption (heavy-tailed retail sizes); rescale with ``total_notional`` to a target open
interest."""

DEFAULT_ENTRY_SPREAD: float = 0.05
"""Default lognormal dispersion of entry prices around the current price (5 %): the
62 %-a-year volatility of BTC (:data:`levguard.data.synth.BTC_PARAMS`, normal regime) over a
typical position age of about three days (``0.62 * sqrt(3 / 365) = 0.056``).  An assumption."""

_MAX_REDRAWS = 64
MAX_ACCOUNTS = 100_000_000
"""Largest ``n`` :func:`population_from_distribution` draws (the cascade config's bound; the
simulator holds about 100 bytes per account and 4 events of about 60 bytes each)."""
_FIELDS = ("side", "qty", "entry_price", "margin")


def _as_float_array(value: object, field: str) -> Float64Array1D:
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an int beyond float64's range
        raise InputError(f"{field} must be an array of numbers: {exc}, was {show(value)}") from None
    if a.ndim != 1:
        raise InputError(f"{field} must be one-dimensional, had shape {a.shape}")
    return a


def _first_bad(field: str, a: npt.NDArray[Any], bad: npt.NDArray[np.bool_], rule: str) -> None:
    if bad.any():
        i = int(np.argmax(bad))
        v = a[i]
        raise InputError(f"{field}[{i}] {rule}, was {(v.item() if isinstance(v, np.generic) else v)!r}")


def _as_bool_array(value: object, field: str) -> BoolArray1D:
    a = np.array(value)
    if a.ndim != 1:
        raise InputError(f"{field} must be one-dimensional, had shape {a.shape}")
    if a.dtype == np.bool_:
        return a
    if a.size and a.dtype.kind in "iuf":
        _first_bad(field, a, ~np.isin(a, (0, 1)), "must be True/False (or 1/0)")
        out: BoolArray1D = a.astype(np.bool_)
        return out
    if a.size == 0:
        return np.zeros(0, dtype=np.bool_)
    raise InputError(f"{field} must be an array of True/False, had dtype {a.dtype}")


@dataclass(frozen=True, eq=False)
class Population:
    """One linear perpetual position per account, as arrays of equal length ``N``.

    Attributes
    ----------
    side : ndarray of float64, shape (N,)
        +1 long, -1 short.
    qty : ndarray of float64, shape (N,)
        Position size in base units (> 0); the signed quantity is :attr:`signed_qty`.
    entry_price : ndarray of float64, shape (N,)
        Entry price, quote per base (> 0).
    margin : ndarray of float64, shape (N,)
        Collateral in the quote (settlement) currency backing the position (> 0): the isolated
        margin, or for a cross account the part of its wallet that backs this single position.
    cross : ndarray of bool, shape (N,)
        True for cross margin, False for isolated.

    Notes
    -----
    The arrays are copied to contiguous float64 (bool for ``cross``) and made read-only.
    Validation raises :class:`~levguard.errors.InputError` naming the field and the first bad
    index and value.  ``side`` is stored next to an unsigned ``qty`` because the simulator sorts
    longs and shorts apart; :attr:`signed_qty` gives the house convention.
    """

    side: Float64Array1D
    qty: Float64Array1D
    entry_price: Float64Array1D
    margin: Float64Array1D
    cross: BoolArray1D

    def __post_init__(self) -> None:
        arrays = {f: _as_float_array(getattr(self, f), f) for f in _FIELDS}
        cross = _as_bool_array(self.cross, "cross")
        n = arrays["side"].shape[0]
        for f, a in (*arrays.items(), ("cross", cross)):
            if a.shape[0] != n:
                raise InputError(f"{f} must have the length of side ({n}), had {a.shape[0]}")
        side = arrays["side"]
        _first_bad("side", side, (side != 1.0) & (side != -1.0), "must be +1 (long) or -1 (short)")
        for f in ("qty", "entry_price", "margin"):
            a = arrays[f]
            _first_bad(f, a, ~(np.isfinite(a) & (a > 0.0)), "must be finite and > 0")
        for f, a in (*arrays.items(), ("cross", cross)):
            a = np.ascontiguousarray(a)
            a.setflags(write=False)
            object.__setattr__(self, f, a)

    @property
    def n(self) -> int:
        """Number of accounts."""
        return int(self.side.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def long_mask(self) -> BoolArray1D:
        """True for long positions, shape (N,)."""
        out: BoolArray1D = self.side > 0.0
        return out

    @property
    def signed_qty(self) -> Float64Array1D:
        """Signed base quantity ``side * qty`` (> 0 long, < 0 short), shape (N,)."""
        out: Float64Array1D = self.side * self.qty
        return out

    @property
    def notional(self) -> Float64Array1D:
        """Notional at entry ``qty * entry_price`` in the quote currency, shape (N,)."""
        out: Float64Array1D = self.qty * self.entry_price
        return out

    @property
    def leverage(self) -> Float64Array1D:
        """Leverage at entry ``qty * entry_price / margin`` (a multiple), shape (N,)."""
        out: Float64Array1D = self.qty * self.entry_price / self.margin
        return out

    def to_frame(self) -> pd.DataFrame:
        """Return the population as a DataFrame with columns side, qty, entry_price, margin, cross."""
        return pd.DataFrame(
            {
                "side": self.side.copy(),
                "qty": self.qty.copy(),
                "entry_price": self.entry_price.copy(),
                "margin": self.margin.copy(),
                "cross": self.cross.copy(),
            }
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Population:
        """Build a population from a table of positions.

        Parameters
        ----------
        frame : DataFrame
            Columns (names case-insensitive):

            * ``side`` (+1/-1 or ``long``/``short``/``buy``/``sell``) with ``qty > 0``, or no
              ``side`` and a signed ``qty`` (> 0 long, < 0 short);
            * ``entry_price``;
            * ``margin`` (collateral), or ``leverage`` (``margin = qty * entry_price /
              leverage``); when both are given ``margin`` is used;
            * ``cross`` (optional, default False): booleans, 1/0, ``true``/``false`` or
              ``cross``/``isolated``.

        Raises
        ------
        InputError
            Missing columns (naming them and the columns found) or invalid values.
        """
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"frame must be a pandas DataFrame, was {type(frame).__name__}")
        cols = {str(c).strip().lower().replace(" ", "_"): c for c in frame.columns}
        missing = [c for c in ("qty", "entry_price") if c not in cols]
        if "margin" not in cols and "leverage" not in cols:
            missing.append("margin (or leverage)")
        if missing:
            raise InputError(f"positions table is missing columns {missing}; found {[str(c) for c in frame.columns]}")

        def num(name: str) -> Float64Array1D:
            try:
                return frame[cols[name]].to_numpy(dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InputError(f"column {name!r} must be numeric: {exc}") from None

        qty = num("qty")
        if "side" in cols:
            side = _parse_side(frame[cols["side"]])
        else:
            _first_bad("qty", qty, ~(np.isfinite(qty) & (qty != 0.0)), "must be a finite signed quantity != 0")
            side = np.sign(qty)
            qty = np.abs(qty)
        entry = num("entry_price")
        if "margin" in cols:
            margin = num("margin")
        else:
            lev = num("leverage")
            _first_bad("leverage", lev, ~(np.isfinite(lev) & (lev > 0.0)), "must be finite and > 0")
            margin = qty * entry / lev
        cross = _parse_cross(frame[cols["cross"]]) if "cross" in cols else np.zeros(len(frame), dtype=np.bool_)
        return cls(side=side, qty=qty, entry_price=entry, margin=margin, cross=cross)


def _parse_side(col: pd.Series) -> Float64Array1D:
    words = {"long": 1.0, "buy": 1.0, "short": -1.0, "sell": -1.0, "+1": 1.0, "1": 1.0, "-1": -1.0}
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        out: Float64Array1D = col.to_numpy(dtype=np.float64)
        return out
    vals = col.astype(str).str.strip().str.lower().to_numpy()
    mapped = np.array([words.get(v, math.nan) for v in vals], dtype=np.float64)
    _first_bad("side", col.to_numpy(), np.isnan(mapped), "must be long/short or +1/-1")
    return mapped


def _parse_cross(col: pd.Series) -> BoolArray1D:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return _as_bool_array(col.to_numpy(), "cross")
    words = {"true": True, "cross": True, "1": True, "false": False, "isolated": False, "0": False}
    vals = col.astype(str).str.strip().str.lower().to_numpy()
    bad = np.array([v not in words for v in vals], dtype=np.bool_)
    _first_bad("cross", col.to_numpy(), bad, "must be true/false, 1/0 or cross/isolated")
    return np.array([words[v] for v in vals], dtype=np.bool_)


# --- liquidatable check -----------------------------------------------------------------------
def liquidatable_mask(
    side: Float64Array1D, qty: Float64Array1D, entry_price: Float64Array1D, margin: Float64Array1D, *,
    price: float, mmr: float,
) -> BoolArray1D:  # fmt: skip
    """Return which positions are liquidatable at ``price`` under a flat maintenance rate.

    Notes
    -----
    A position is liquidatable when its margin balance ``margin + side * qty * (price -
    entry_price)`` is at most its maintenance margin ``mmr * qty * price`` (margin ratio >= 1),
    evaluated by the margin engine's kernel :func:`levguard.kernels.margin.isolated_linear_nb`
    with one tier of rate ``mmr`` and no fee.  For a cross account ``margin`` is the wallet
    share backing the position, so the same test applies.
    """
    n = side.shape[0]
    q = np.ascontiguousarray(side * qty, dtype=np.float64)
    liq = np.empty(n)
    mm = np.empty(n)
    ratio = np.empty(n)
    # Read-only inputs, as the margin engine passes them (one compiled signature).
    ins = (q, entry_price, margin, np.full(n, float(price)), [np.inf], [float(mmr)], [0.0])
    q, ep, mg, mark, caps, mmrs, cums = (readonly(np.ascontiguousarray(a, dtype=np.float64)) for a in ins)
    bad = isolated_linear_nb(q, ep, mg, mark, 0.0, False, False, caps, mmrs, cums, liq, mm, ratio)
    if bad >= 0:
        raise InputError(
            f"position {bad}: side x qty must be non-zero and finite, entry_price, margin and price > 0 "
            f"(was qty {float(q[bad])!r}, entry_price {float(entry_price[bad])!r}, margin {float(margin[bad])!r}, "
            f"price {price!r})"
        )
    out: BoolArray1D = ratio >= 1.0
    return out


# --- distributions --------------------------------------------------------------------------
def _check_number(value: object, field: str, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"{field} must be a number, was {show(value)}")
    x = number(value, field)  # an int past float64's range (10**400) is refused by name
    ok = math.isfinite(x) and (x > lo if lo_open else x >= lo) and x <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise InputError(f"{field} must be in {bracket}{lo:g}, {hi:g}], was {show(value)}")
    return x


def _mixture(leverage: object) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    # (weights normalised, lows, highs) of a leverage mixture or a single leverage.
    if isinstance(leverage, int | float | np.integer | np.floating) and not isinstance(leverage, bool):
        x = _check_number(leverage, "leverage", 0.0, 1e4, lo_open=True)
        return np.ones(1), np.array([x]), np.array([x])
    try:
        comps = [tuple(c) for c in leverage]  # type: ignore[attr-defined]
    except TypeError:
        raise InputError(f"leverage must be a number or a list of (weight, low, high), was {leverage!r}") from None
    if not comps or any(len(c) != 3 for c in comps):
        raise InputError(f"leverage must be a non-empty list of (weight, low, high), was {leverage!r}")
    w = np.empty(len(comps))
    lo = np.empty(len(comps))
    hi = np.empty(len(comps))
    for i, (wi, li, hi_) in enumerate(comps):
        w[i] = _check_number(wi, f"leverage[{i}].weight", 0.0, math.inf - 1)
        lo[i] = _check_number(li, f"leverage[{i}].low", 0.0, 1e4, lo_open=True)
        hi[i] = _check_number(hi_, f"leverage[{i}].high", lo[i], 1e4)
    if w.sum() <= 0.0:
        raise InputError(f"leverage weights must sum to > 0, were {w.tolist()}")
    return w / w.sum(), lo, hi


def population_from_distribution(
    n: int,
    *,
    price: float,
    seed: int,
    long_share: float = 0.5,
    leverage: LeverageSpec = DEFAULT_LEVERAGE_MIXTURE,
    notional: tuple[float, float] = DEFAULT_NOTIONAL,
    entry_spread: float | None = None,
    entry_prices: npt.ArrayLike | None = None,
    cross_share: float = 0.0,
    max_leverage: float | None = None,
    mmr: float = 0.005,
    total_notional: float | None = None,
) -> Population:
    """Draw a population of leveraged accounts from distributions.

    Parameters
    ----------
    n : int
        Number of accounts, 1 to :data:`MAX_ACCOUNTS` (100,000,000).
    price : float
        Current price (quote per base, > 0), where the simulation starts.
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments and seed give the same
        population.
    long_share : float, default 0.5
        Probability that an account is long, in [0, 1].
    leverage : float or sequence of (weight, low, high), default :data:`DEFAULT_LEVERAGE_MIXTURE`
        Leverage at entry: a mixture of uniform components (weights are normalised), or one
        number for every account.
    notional : (median, sigma), default :data:`DEFAULT_NOTIONAL`
        Lognormal notional at entry, quote currency: ``median * exp(sigma * Z)``.
    entry_spread : float, optional
        Lognormal dispersion of entry prices around ``price``: ``price * exp(entry_spread * Z)``
        (default :data:`DEFAULT_ENTRY_SPREAD`).  Not together with ``entry_prices``.
    entry_prices : array_like, optional
        Prices to draw entries from, uniformly with replacement (e.g. the closes of the last
        30 days).
    cross_share : float, default 0.0
        Probability that an account is cross-margined, in [0, 1].
    max_leverage : float, optional
        Venue cap: drawn leverages above it are set to it (accounts that want more take the
        maximum, which leaves a point mass at the cap).
    mmr : float, default 0.005
        Maintenance margin rate of the survival check (0.5 %: Binance's first BTCUSDT bracket
        is 0.4 %, Bybit's and OKX's 0.5 %).
    total_notional : float, optional
        Rescale sizes so that the notionals sum to this (e.g. a venue's open interest); the
        leverage and the liquidation prices are unchanged.

    Returns
    -------
    Population
        ``n`` accounts, or fewer when some could not be placed (see Notes).

    Notes
    -----
    Draw order (fixed, so a seed fixes the result): side, leverage component and leverage,
    notional, cross flag, entry prices.  ``qty = notional / entry``, ``margin = notional /
    leverage``.

    *Survivors only.*  A position whose entry makes it liquidatable at ``price`` already
    (:func:`liquidatable_mask` with ``mmr``) would have been liquidated before the simulation
    starts; its entry price is re-drawn (side, size and leverage kept, so the leverage mixture
    is preserved) up to 64 times.  This conditions entries on survival: high-leverage longs
    mostly entered below the current price and shorts above, as on a real book after a move.
    Accounts still liquidatable after 64 draws (possible only when no admissible entry exists,
    e.g. 100x shorts with every historical entry more than 1 % below ``price``) are dropped, and
    a warning is logged.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) < 1:
        raise InputError(f"n must be an integer >= 1, was {show(n)}")
    if int(n) > MAX_ACCOUNTS:  # 10**400 was a NumPy ValueError, 10**12 a MemoryError
        raise InputError(f"n must be at most {MAX_ACCOUNTS:,}, was {show(n)}")
    n_ = int(n)
    p = _check_number(price, "price", 0.0, NUMBER_MAX, lo_open=True)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise InputError(f"seed must be a non-negative integer, was {show(seed)}")
    ls = _check_number(long_share, "long_share", 0.0, 1.0)
    cs = _check_number(cross_share, "cross_share", 0.0, 1.0)
    m = _check_number(mmr, "mmr", 0.0, 1.0)
    if m >= 1.0:
        raise InputError(f"mmr must be < 1, was {mmr!r}")
    weights, lows, highs = _mixture(leverage)
    cap = None if max_leverage is None else _check_number(max_leverage, "max_leverage", 0.0, 1e4, lo_open=True)
    if not (isinstance(notional, tuple | list) and len(notional) == 2):
        raise InputError(f"notional must be (median, sigma), was {notional!r}")
    med = _check_number(notional[0], "notional median", 0.0, NUMBER_MAX, lo_open=True)
    sig = _check_number(notional[1], "notional sigma", 0.0, 20.0)
    total = None if total_notional is None else _check_number(
        total_notional, "total_notional", 0.0, NUMBER_MAX, lo_open=True
    )  # fmt: skip
    hist: Float64Array1D | None = None
    if entry_prices is not None:
        if entry_spread is not None:
            raise InputError("give entry_spread or entry_prices, not both")
        hist = _as_float_array(entry_prices, "entry_prices")
        if hist.size == 0:
            raise InputError("entry_prices must not be empty")
        _first_bad("entry_prices", hist, ~(np.isfinite(hist) & (hist > 0.0)), "must be finite and > 0")
        spread = 0.0
    else:
        spread = _check_number(DEFAULT_ENTRY_SPREAD if entry_spread is None else entry_spread, "entry_spread", 0.0, 5.0)

    rng = np.random.default_rng(int(seed))
    side = np.where(rng.random(n_) < ls, 1.0, -1.0)
    comp = rng.choice(weights.shape[0], size=n_, p=weights)
    lev = lows[comp] + (highs[comp] - lows[comp]) * rng.random(n_)
    if cap is not None:
        lev = np.minimum(lev, cap)
    size = med * np.exp(sig * rng.standard_normal(n_))
    cross = rng.random(n_) < cs

    def draw(count: int) -> Float64Array1D:
        if hist is not None:
            out: Float64Array1D = hist[rng.integers(0, hist.shape[0], size=count)]
            return out
        return p * np.exp(spread * rng.standard_normal(count))

    entry = draw(n_)
    margin = size / lev
    bad = liquidatable_mask(side, size / entry, entry, margin, price=p, mmr=m)
    for _ in range(_MAX_REDRAWS):
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        entry[idx] = draw(idx.shape[0])
        bad[idx] = liquidatable_mask(side[idx], size[idx] / entry[idx], entry[idx], margin[idx], price=p, mmr=m)
    if bad.any():
        if bad.all():  # an error, not a warning and then an error: the CLI prints one line
            raise InputError(f"no account survives at price {p!r}: every drawn entry is already liquidatable")
        logger.warning(
            "dropped %d of %d accounts still liquidatable at price %g after %d entry draws",
            int(bad.sum()), n_, p, _MAX_REDRAWS,
        )  # fmt: skip
        keep = ~bad
        side, size, entry, margin, cross = side[keep], size[keep], entry[keep], margin[keep], cross[keep]
    if total is not None:
        scale = total / float(size.sum())
        size = size * scale
        margin = margin * scale
    return Population(side=side, qty=size / entry, entry_price=entry, margin=margin, cross=cross)


# --- files ----------------------------------------------------------------------------------
def load_population(path: str | Path) -> Population:
    """Read a population from a CSV or Parquet snapshot of positions.

    Columns as in :meth:`Population.from_frame` (``side`` or signed ``qty``, ``qty``,
    ``entry_price``, ``margin`` or ``leverage``, optional ``cross``).

    Raises
    ------
    DataError
        The file is missing, unreadable, of unknown format, lacks columns, holds no position or
        holds invalid values (the message names the file).
    """
    p = path_arg(path, "path")  # Path(None) was a raw TypeError
    table = read_table(p)
    if len(table) == 0:  # a header alone ran a cascade of nobody and reported zeros
        raise DataError(f"{p}: the positions table holds no positions (a header only)")
    try:
        return Population.from_frame(table)
    except InputError as exc:
        raise DataError(f"{p}: {exc}") from None


def save_population(pop: Population, path: str | Path) -> Path:
    """Write a population to CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``).

    Columns: side, qty, entry_price, margin, cross.  Floats are written at full precision, so
    :func:`load_population` reads back the same values.  Returns the path written.
    """
    if not isinstance(pop, Population):
        raise InputError(f"pop must be a Population, was {type(pop).__name__}")
    p = path_arg(path, "path")
    name = p.name.lower()
    frame = pop.to_frame()
    if name.endswith((".parquet", ".pq")):
        p.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(p, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        p.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(p, index=False, float_format="%.17g")
    else:
        raise InputError(f"path must end in .csv, .csv.gz, .parquet or .pq, was {str(p)!r}")
    return p
