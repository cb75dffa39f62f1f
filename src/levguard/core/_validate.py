"""Small validators that raise :class:`~levguard.errors.InputError` naming field and value."""

from __future__ import annotations

import math

from levguard.errors import InputError


def as_float(value: object, field: str) -> float:
    """Convert a JSON-ish scalar (int, float, numeric string) to float or raise InputError."""
    if isinstance(value, bool) or value is None:
        raise InputError(f"{field} must be a number, was {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise InputError(f"{field} must be a number, was {value!r}") from None
    raise InputError(f"{field} must be a number, was {value!r}")


def finite(value: float, field: str) -> float:
    """Return ``value`` if finite, else raise."""
    if not math.isfinite(value):
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


def rate(value: float, field: str, *, upper: float = 1.0) -> float:
    """Return a fraction in ``[0, upper)``, else raise (rates are fractions, never percent)."""
    finite(value, field)
    if not 0.0 <= value < upper:
        raise InputError(f"{field} must be a fraction in [0, {upper:g}), was {value!r}")
    return value


def close(a: float, b: float, *, rel: float = 1e-9, abs_: float = 1e-9) -> bool:
    """Tolerance comparison used instead of ``==`` on floats."""
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))
