"""Helpers of the guardian loop: the margin engine's spec of a venue account, the EWMA volatility of
the marks seen, and the classification of failures inside a cycle."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from levguard.errors import (
    LevguardError,
    VenueAuthError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.venues.base import VenueBalance, VenuePosition

__all__ = ["account_spec", "classify", "ewma_vol"]


def classify(exc: BaseException) -> str:
    """The class of a failure inside a guardian cycle: ``auth`` (credentials refused: acting stops
    until an operator re-enables the account), ``retryable`` (network, timeouts, rate limits, 5xx:
    back off and try again), ``permanent`` (the venue or levguard refused an input: alert, go on)
    or ``unknown`` (anything else, a bug or an unforeseen answer: critical alert, go on)."""
    if isinstance(exc, VenueAuthError):
        return "auth"
    if isinstance(exc, VenueRetryableError | VenueRateLimitError | TimeoutError | ConnectionError):
        return "retryable"
    if isinstance(exc, VenuePermanentError | LevguardError):
        return "permanent"
    return "unknown"


def account_spec(
    venue: str, balance: VenueBalance, positions: list[VenuePosition], marks: Mapping[str, float]
) -> dict[str, Any]:
    """The margin engine's account spec of what the venue reports."""
    isolated = all(p.margin_mode == "isolated" for p in positions) and bool(positions)
    rows = []
    for p in positions:
        row: dict[str, Any] = {
            "symbol": p.symbol,
            "qty": p.qty,
            "entry_price": p.entry_price,
            "mark_price": marks.get(p.symbol, p.mark_price),
        }
        if isolated and p.isolated_margin is not None:
            row["isolated_margin"] = p.isolated_margin
        rows.append(row)
    return {
        "venue": venue,
        "margin_mode": "isolated" if isolated else "cross",
        "wallet_balance": balance.wallet_balance,
        "positions": rows,
    }


def ewma_vol(hist: deque[tuple[int, float]] | None, lam: float = 0.94) -> float:
    """Annualised EWMA volatility of the marks seen (0.8 until 10 are seen)."""
    if hist is None or len(hist) < 10:
        return 0.8
    var = 0.0
    n = 0
    dt_sum = 0.0
    items = list(hist)
    for (t0, p0), (t1, p1) in itertools.pairwise(items):
        if p0 > 0 and p1 > 0 and t1 > t0:
            r = math.log(p1 / p0)
            var = lam * var + (1 - lam) * r * r if n else r * r
            dt_sum += (t1 - t0) / 1e9
            n += 1
    if n == 0 or dt_sum <= 0:
        return 0.8
    step_years = dt_sum / n / (365.0 * 86_400.0)
    vol = math.sqrt(var / step_years)
    return vol if math.isfinite(vol) and vol > 0 else 0.8
