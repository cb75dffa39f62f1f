"""Small validators that raise :class:`~levguard.errors.InputError` naming field and value."""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
import os
import reprlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from levguard.errors import InputError
from levguard.kernels.margin import AMOUNT_MAX, AMOUNT_MIN

SHOW_LIMIT = 80
"""Longest value rendering (characters) :func:`show` puts in an error message."""


class _ShortRepr(reprlib.Repr):
    # reprlib bounds depth, list lengths and string lengths; integers past Python's 4,300-digit
    # str() limit would raise, so very long ones are described by their size instead.
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 256:
            digits = int(x.bit_length() * math.log10(2)) + 1
            return f"{'-' if x < 0 else ''}<integer of about {digits:,} digits>"
        return super().repr_int(x, level)


_SHORT = _ShortRepr()
_SHORT.maxlevel = 3
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlong = 60
for _attr in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_SHORT, _attr, 6)


def show(value: object, limit: int = SHOW_LIMIT) -> str:
    """Return a bounded, one-line ``repr`` of ``value`` for an error message.

    Long strings and lists are cut with ``...``, nesting below three levels shows as ``[...]``,
    huge integers by their number of digits; the result is at most ``limit`` characters.
    """
    text = _SHORT.repr(value).replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_float(value: object, field: str) -> float:
    """Convert a JSON-ish scalar (int, float, numeric string; NumPy's and ``Decimal`` numbers too,
    as a spec built from a DataFrame row holds them) to float or raise InputError."""
    if isinstance(value, bool | np.bool_) or value is None:
        raise InputError(f"{field} must be a number, was {value!r}")
    if isinstance(value, numbers.Real | Decimal):
        try:
            return float(value)
        except ValueError:  # Decimal("sNaN"): a signalling NaN does not convert
            raise InputError(f"{field} must be a number, was {show(value)}") from None
        except OverflowError:  # an int beyond float64's range (about 1.8e308)
            raise InputError(
                f"{field} must be a number within float64 range (|x| < 1.8e308), was {show(value)}"
            ) from None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise InputError(f"{field} must be a number, was {show(value)}") from None
    raise InputError(f"{field} must be a number, was {show(value)}")


NUMBER_MAX: float = AMOUNT_MAX
"""Largest magnitude :func:`as_amount` accepts (a spec's prices, sizes, balances, leverages):
1e30, the bound the vectorized margin kernel checks too (``levguard.kernels.margin``)."""
NUMBER_MIN: float = AMOUNT_MIN
"""Smallest non-zero magnitude :func:`as_amount` accepts (1e-30)."""


def as_amount(value: object, field: str) -> float:
    """:func:`as_float` for an amount (price, size, balance, leverage, notional bound): refuse
    finite values other than 0 outside ``[1e-30, 1e30]`` in magnitude.

    Products and quotients of a few such numbers (notional, margins, leverage) stay far inside
    float64's range, so an account spec cannot overflow to inf or underflow to 0 in the margin
    engine.  NaN and inf pass through for the field's own ``finite`` check to name.  Rates
    (fractions such as ``mmr``) use :func:`as_float` and their own range checks.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > NUMBER_MAX:  # 10**400 too: the range, not the float64 overflow, is the rule
            raise InputError(f"{field} must be 0 or between 1e-30 and 1e30 in magnitude, was {show(value)}")
        return float(value)
    x = as_float(value, field)
    if math.isfinite(x) and x != 0.0 and not NUMBER_MIN <= abs(x) <= NUMBER_MAX:
        raise InputError(f"{field} must be 0 or between 1e-30 and 1e30 in magnitude, was {x!r}")
    return x


def finite(value: float, field: str) -> float:
    """Return ``value`` if it is a finite real number (not bool, not str), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{field} must be a number, was {show(value)}")
    try:
        ok = math.isfinite(value)
    except OverflowError:  # an int beyond float64's range (10**400)
        raise InputError(f"{field} must be a number within float64 range (|x| < 1.8e308), was {show(value)}") from None
    if not ok:
        raise InputError(f"{field} must be finite, was {value!r}")
    return value


def positive(value: float, field: str) -> float:
    """Return ``value`` if finite and > 0, else raise."""
    finite(value, field)
    if value <= 0.0:
        raise InputError(f"{field} must be > 0, was {value!r}")
    return value


def non_negative(value: float, field: str) -> float:
    """Return ``value`` if finite and >= 0, else raise."""
    finite(value, field)
    if value < 0.0:
        raise InputError(f"{field} must be >= 0, was {value!r}")
    return value


VOL_RANGE: tuple[float, float] = (1e-6, 20.0)
"""The annualised volatilities levguard accepts as an input: 0.0001 % to 2,000 % a year.  Far
below, the formulas underflow (a vol of 1e-200 gave a P(liq) of 0 at 1x where 1e-100 sized 3.17x);
above, they overflow (1e300 gave a P(liq) of 0 for a position 17 % from its liquidation price)."""


def annual_vol(value: object, field: str = "vol") -> float:
    """Return an annualised volatility (a fraction, 0.6 for 60 %) in :data:`VOL_RANGE`, else raise."""
    lo, hi = VOL_RANGE
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int beyond float64's range: refused below
            vol = float(value)
            if math.isfinite(vol) and lo <= vol <= hi:
                return vol
    raise InputError(
        f"{field} must be an annualised volatility from {lo:g} to {hi:g} (a fraction: 0.6 is 60 %), was {show(value)}"
    )


def rate(value: float, field: str, *, upper: float = 1.0) -> float:
    """Return a fraction in ``[0, upper)``, else raise (rates are fractions, never percent)."""
    finite(value, field)
    if not 0.0 <= value < upper:
        raise InputError(f"{field} must be a fraction in [0, {upper:g}), was {value!r}")
    return value


SHORT_NAME_MAX = 100
"""Default longest :func:`short_name` (characters): a symbol, a currency, a tier, who acted.  ccxt's
longest option symbols are under 40; 100 keeps every message quoting a name one short line."""


def short_name(value: object, field: str, *, limit: int = SHORT_NAME_MAX) -> str:
    """Return ``value`` if it is a short name, else raise InputError naming ``field``.

    A short name (a symbol, an asset, a token's or a person's name) is a ``str`` that is not
    blank, has at most ``limit`` characters and only printable ones: a newline or a control
    character in a name broke the one-line messages, logs and listings that quote it, and a
    10,000-character symbol was written into a data file's provenance.  ``value`` is returned as
    given (callers strip or upper-case it as their rules say).
    """
    if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
        raise InputError(
            f"{field} must be a non-empty string of at most {limit} printable characters, was {show(value)}"
        )
    return value


YEARLY_RATE_MAX = 100.0
"""Default largest :func:`yearly_rate`: 10,000 %/yr, far above any lending or staking rate (a
market at 100 % utilisation pays a few hundred %/yr), low enough that a year's growth stays finite."""


def yearly_rate(value: object, field: str, *, upper: float = YEARLY_RATE_MAX) -> float:
    """Return a yearly rate (a fraction: 0.05 is 5 %/yr) in ``(-1, upper]`` as float, else raise.

    Numbers, numeric strings and ``Decimal`` are read (:func:`as_float`).  A rate of -1 (-100 %/yr)
    or lower makes no sense: it loses everything, or more, in a year; NaN and infinities are refused.
    """
    x = as_float(value, field)
    if not (math.isfinite(x) and -1.0 < x <= upper):
        raise InputError(
            f"{field} must be in (-1, {upper:g}] (a yearly rate as a fraction; -1 is -100 %/yr), was {show(value)}"
        )
    return x


def close(a: float, b: float, *, rel: float = 1e-9, abs_: float = 1e-9) -> bool:
    """Tolerance comparison used instead of ``==`` on floats."""
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


# --- strict scalars and arrays: numbers only (no strings), NumPy scalars accepted -----------------
def number(value: object, field: str) -> float:
    """Return ``value`` as float if it is a real number, else raise.

    Python and NumPy numbers, ``Decimal`` and ``Fraction`` (``numbers.Real``) and 0-d numeric
    arrays count; bools, strings (``"0.05"``) and None do not.
    """
    if type(value) is float:
        return value
    zero_d = isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"
    if (isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real | Decimal)) and not zero_d:
        raise InputError(f"{field} must be a number, was {show(value)}")
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float64's range (a config number of 400 digits)
        raise InputError(f"{field} must be a number within float64 range (|x| < 1.8e308), was {show(value)}") from None
    except ValueError:  # Decimal("sNaN"): a signalling NaN does not convert
        raise InputError(f"{field} must be a number, was {show(value)}") from None


def finite_number(value: object, field: str) -> float:
    """:func:`number`, also finite."""
    x = number(value, field)
    if not math.isfinite(x):
        raise InputError(f"{field} must be finite, was {value!r}")
    return x


def positive_number(value: object, field: str) -> float:
    """:func:`number`, also finite and > 0."""
    x = number(value, field)
    if not (math.isfinite(x) and x > 0.0):
        raise InputError(f"{field} must be > 0, was {value!r}")
    return x


def non_negative_number(value: object, field: str) -> float:
    """:func:`number`, also finite and >= 0."""
    x = number(value, field)
    if not (math.isfinite(x) and x >= 0.0):
        raise InputError(f"{field} must be >= 0, was {value!r}")
    return x


def integer_in(value: object, field: str, lo: int, hi: int) -> int:
    """Return ``value`` as int if it is an integer (not bool) in ``[lo, hi)``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= int(value) < hi:
        raise InputError(f"{field} must be an integer in [{lo}, {hi}), was {show(value)}")
    return int(value)


def whole_number(value: object, field: str, lo: int, hi: int) -> int:
    """Return ``value`` as an int if it is a whole number (an int, or an integral float such as
    ``250.0``) in ``[lo, hi]``, else raise InputError naming ``field`` (bools and strings are not
    numbers; an integral float counts, where :func:`integer_in` takes integers only)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"{field} must be a whole number in [{lo}, {hi}], was {show(value)}")
    if isinstance(value, float | np.floating) and not (math.isfinite(value) and float(value).is_integer()):
        raise InputError(f"{field} must be a whole number in [{lo}, {hi}], was {show(value)}")
    n = int(value)
    if not lo <= n <= hi:
        raise InputError(f"{field} must be a whole number in [{lo}, {hi}], was {show(value)}")
    return n


def rng_arg(seed: object, field: str = "seed") -> np.random.Generator:
    """Return a NumPy Generator for ``seed`` (None, a non-negative int, a SeedSequence, a
    BitGenerator or a Generator, which is returned as it is), else raise InputError naming ``field``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if not isinstance(seed, bool | np.bool_ | str | bytes | float | np.floating):
        try:
            return np.random.default_rng(seed)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            pass
    raise InputError(f"{field} must be None, a non-negative integer or a numpy Generator, was {show(seed)}")


def contract_int(value: object, field: str, lo: int, hi: int, kind: str, *, digits: bool = False) -> int:
    """Return ``value`` as an int in ``[lo, hi]`` (inclusive: a Solidity type's range), else raise.

    ``value`` is a Python or NumPy integer, not a bool; with ``digits`` also a string ``int()``
    reads (decimal digits, sign, spaces), as a spec file gives an amount in contract units: JSON
    and YAML cannot carry 256-bit integers portably.  ``kind`` names the range in the message
    (``"uint256"``, ``"int256"``, or the bounds of a range that is no Solidity type).
    """
    # operator.index, not isinstance(value, SupportsIndex): a runtime Protocol check costs ~15 us,
    # and the exact DeFi engines check every argument of every call.
    try:
        x = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        x = None
        if digits and isinstance(value, str):
            with contextlib.suppress(ValueError):  # not a number, or past int()'s 4,300 digits
                x = int(value)
    if x is None or value is True or value is False:
        raise InputError(f"{field} must be an integer ({kind}), was {show(value)}")
    if not lo <= x <= hi:
        raise InputError(f"{field} must be an integer in the {kind} range, was {show(x)}")
    return x


# Solidity's types by size (8 to 256 bits): (lo, hi, name), so a check builds no bound or name.
_UINT_TYPES = {bits: (0, (1 << bits) - 1, f"uint{bits}") for bits in range(8, 257, 8)}
_SINT_TYPES = {bits: (-(1 << (bits - 1)), (1 << (bits - 1)) - 1, f"int{bits}") for bits in range(8, 257, 8)}


def contract_uint(value: object, field: str, bits: int = 256, *, digits: bool = False) -> int:
    """:func:`contract_int` for Solidity's ``uint<bits>``: ``[0, 2**bits - 1]``."""
    lo, hi, kind = _UINT_TYPES.get(bits) or (0, (1 << bits) - 1, f"uint{bits}")
    return contract_int(value, field, lo, hi, kind, digits=digits)


def contract_sint(value: object, field: str, bits: int = 256, *, digits: bool = False) -> int:
    """:func:`contract_int` for Solidity's ``int<bits>``: ``[-2**(bits - 1), 2**(bits - 1) - 1]``."""
    lo, hi, kind = _SINT_TYPES.get(bits) or (-(1 << (bits - 1)), (1 << (bits - 1)) - 1, f"int{bits}")
    return contract_int(value, field, lo, hi, kind, digits=digits)


_T = TypeVar("_T")


def instance_of(value: object, cls: type[_T], field: str) -> _T:
    """Return ``value`` if it is a ``cls`` (a record argument such as a ``RoundData``), else raise
    InputError naming ``field`` and what was given (an attribute lookup on it was an AttributeError)."""
    if not isinstance(value, cls):
        raise InputError(f"{field} must be a {cls.__name__}, was {type(value).__name__} {show(value)}")
    return value


def path_arg(value: object, field: str = "path") -> Path:
    """Return ``value`` as a :class:`~pathlib.Path` if it is a ``str`` or ``os.PathLike`` of str, else
    raise (``Path(None)`` or ``Path(3)`` was a TypeError)."""
    if isinstance(value, str | os.PathLike):
        with contextlib.suppress(TypeError):  # a PathLike whose __fspath__ gives bytes or worse
            return Path(value)
    was = "None" if value is None else f"{type(value).__name__} {show(value)}"
    raise InputError(f"{field} must be a file path (str or os.PathLike), was {was}")


def flag(value: object, field: str) -> bool:
    """Return ``value`` if it is a bool (Python or NumPy), else raise."""
    if not isinstance(value, bool | np.bool_):
        raise InputError(f"{field} must be True or False, was {value!r}")
    return bool(value)


def side_sign(side: object) -> int:
    """Return +1 for ``"long"``/``1`` and -1 for ``"short"``/``-1`` (case and spaces ignored), else raise."""
    if isinstance(side, str):
        key = side.strip().lower()
        if key in ("long", "short"):
            return 1 if key == "long" else -1
    elif not isinstance(side, bool) and isinstance(side, int | float | np.integer | np.floating):
        if side == 1:
            return 1
        if side == -1:
            return -1
    raise InputError(f"side must be 'long', 'short', +1 or -1, was {side!r}")


_NOT_REAL_KINDS = frozenset("cMm")  # complex, datetime64, timedelta64


def _not_real(x: object) -> bool:
    # A complex number (NumPy's too), a date, a time or a duration: float64 drops the imaginary
    # part, reads a datetime64 as ns since the epoch and a timedelta64 as its count of units.
    if isinstance(x, np.datetime64 | np.timedelta64 | date | time | timedelta):
        return True
    return isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real)


def no_complex_or_dates(values: object, field: str) -> None:
    """Raise InputError when ``values`` (a scalar or an array-like) is or holds a complex number, a
    date, a time or a duration: NumPy reads ``0.01+0.5j`` as 0.01 (with a warning), a datetime64 as
    nanoseconds since the epoch and a timedelta64 as its count of units, none of them a number the
    caller meant."""
    refused = f"{field} must be real numbers (not complex numbers, dates or durations), was {show(values)}"
    if _not_real(values):
        raise InputError(refused)
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind is None:  # a list or a scalar: the dtype NumPy infers (a list of floats is float64)
        try:
            kind = np.asarray(values).dtype.kind
        except (TypeError, ValueError):  # ragged: the conversion to numbers names it
            return
    if kind in _NOT_REAL_KINDS:
        raise InputError(refused)
    if kind != "O":
        return  # numbers, or the bools and strings no_bools_or_strings names
    try:
        items = np.asarray(values, dtype=object).ravel()
    except (TypeError, ValueError):
        return
    if any(_not_real(x) for x in items):
        raise InputError(refused)


def array_1d(values: object, field: str) -> npt.NDArray[np.float64]:
    """Return ``values`` as a contiguous 1-D float64 array (a view when it already is one), else raise.

    Complex numbers, dates and durations are refused (:func:`no_complex_or_dates`).
    """
    if values is None:  # NumPy would read None as NaN
        raise InputError(f"{field} must be a 1-D array of numbers, was None")
    no_complex_or_dates(values, field)
    try:
        arr: npt.NDArray[np.float64] = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(f"{field} must be a 1-D array of numbers, was {type(values).__name__}") from None
    if arr.ndim != 1:
        raise InputError(f"{field} must be 1-D, was an array of shape {arr.shape}")
    return arr


def no_bools_or_strings(values: object, field: str) -> None:
    """Raise InputError when ``values`` (a scalar or an array-like) is or holds a bool or a string.

    NumPy reads ``True`` as 1.0 and ``"0.05"`` as 0.05: arguments of numbers take neither, nor
    complex numbers, dates or durations (:func:`no_complex_or_dates`).
    """
    if getattr(getattr(values, "dtype", None), "kind", None) in ("i", "u", "f"):
        return  # a numeric array or NumPy scalar: nothing to look at
    no_complex_or_dates(values, field)
    try:
        items = np.asarray(values, dtype=object).ravel()
    except (TypeError, ValueError):  # ragged: the conversion to numbers names it
        return
    for x in items:
        if isinstance(x, bool | np.bool_ | str | bytes):
            raise InputError(f"{field} must be numbers (not bools or strings), was {show(values)}")


def float_values(values: object, field: str) -> npt.NDArray[np.float64]:
    """Return a number or an array-like of numbers as a float64 array of at least one dimension.

    Raises InputError for bools and strings (:func:`no_bools_or_strings`) and for what float64
    cannot hold (not numbers, ragged, ints beyond its range); non-finite numbers pass.
    """
    no_bools_or_strings(values, field)
    try:
        return np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(f"{field} must be numbers within float64 range, was {show(values)}") from None


def require_finite(arr: npt.NDArray[np.float64], field: str) -> None:
    """Raise InputError naming the first non-finite entry of 1-D ``arr`` (``field[i] must be finite``)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{field}[{i}] must be finite, was {arr[i].item()!r}")


def require_squarable(arr: npt.NDArray[np.float64], field: str) -> None:
    """Raise InputError naming the largest entry of finite 1-D ``arr`` when its sum of squares
    overflows float64: a variance of such numbers is inf, and a GARCH fit of them fails (1e160
    is finite, its square is not)."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.dot(arr, arr))
    if not math.isfinite(total):
        i = int(np.argmax(np.abs(arr)))
        raise InputError(
            f"{field}[{i}] is too large: the sum of squared {field} overflows float64, was {arr[i].item()!r}"
        )


class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def date(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def pick_named(items: Sequence[_N], name: str, field: str) -> _N:
    """Return the item of ``items`` whose ``name`` or ``date`` is ``name``, else raise naming the choices."""
    for item in items:
        if name in (item.name, item.date):
            return item
    raise InputError(f"{field} must be one of {[item.name for item in items]}, was {name!r}")


def datetime_ns(ts: datetime) -> int:
    """An aware datetime in integer ns since the epoch (exact: no float seconds on the way)."""
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def iso_utc(ns: int) -> str:
    """A UTC time in integer ns as ISO 8601, to the second (for messages)."""
    return datetime.fromtimestamp(int(ns) // 10**9, tz=UTC).isoformat()


def utc_ns(raw: object, field: str) -> int:
    """An ISO 8601 time with a UTC offset, in integer ns since the epoch; errors name ``field``."""
    if not isinstance(raw, str):
        raise InputError(f"{field} must be an ISO 8601 time with a UTC offset, was {show(raw)}")
    try:
        ts = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(f"{field} must be an ISO 8601 time with a UTC offset, was {raw!r}") from None
    if ts.tzinfo is None:
        raise InputError(f"{field} must carry a UTC offset, was {raw!r}")
    return datetime_ns(ts)
