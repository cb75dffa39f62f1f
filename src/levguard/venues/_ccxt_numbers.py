"""Numbers as ccxt reports them, for :mod:`levguard.venues.ccxt_adapter` and
:mod:`levguard.venues.ccxt_klines` (one home, so neither module imports the other at run time)."""

from __future__ import annotations

import math

__all__ = ["ccxt_number"]


def ccxt_number(value: object) -> float | None:
    """A ccxt number as a float: None when not reported (None, a bool, not a number, or not finite)."""
    # ccxt numbers arrive as float, int, str or None; 0 and non-finite mean "not reported".
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
