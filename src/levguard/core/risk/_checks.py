"""Argument checks shared by the risk engines: whole-number counts and random sources.

Private: the public entry points of :mod:`levguard.core.risk` and :mod:`levguard.risk` call these
once, before any work, so a bad count or seed is an :class:`~levguard.errors.InputError` naming the
argument rather than a raw ``TypeError`` / ``OverflowError`` from ``int()`` or NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from levguard.core.validate import show
from levguard.errors import InputError

__all__ = ["mapping_arg", "rng_arg", "whole_number"]


def whole_number(value: object, field: str, lo: int, hi: int) -> int:
    """Return ``value`` as an int if it is a whole number (an int, or an integral float) in
    ``[lo, hi]``, else raise InputError naming ``field`` (bools and strings are not numbers)."""
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
    BitGenerator or a Generator), else raise InputError naming ``field``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool | np.bool_ | str | bytes | float | np.floating):
        raise InputError(f"{field} must be None, a non-negative integer or a numpy Generator, was {show(seed)}")
    try:
        return np.random.default_rng(seed)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InputError(
            f"{field} must be None, a non-negative integer or a numpy Generator, was {show(seed)}"
        ) from None


def mapping_arg(value: object, field: str) -> Mapping[Any, Any]:
    """Return ``value`` if it is a mapping (a dict such as ``{"BTC": 61000.0}``), else raise."""
    if not isinstance(value, Mapping):
        raise InputError(f"{field} must be a mapping (a dict), was {type(value).__name__} {show(value)}")
    return value
