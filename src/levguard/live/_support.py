"""Helpers of the guardian loop: the margin engine's spec of a venue account, the EWMA volatility of
the marks seen (through the public vol functions of :mod:`levguard.core.risk.volatility`; None
while unknown, never an invented number), and the classification of failures inside a cycle."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from levguard.core.risk.volatility import RISKMETRICS_LAMBDA, annualise, ewma_variance, periods_per_year
from levguard.core.unified_options import is_option_symbol
from levguard.errors import (
    LevguardError,
    VenueAuthError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.venues.base import VenueBalance, VenuePosition

__all__ = ["MIN_MARKS", "account_spec", "classify", "ewma_vol"]


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
    venue: str,
    balance: VenueBalance,
    positions: list[VenuePosition],
    marks: Mapping[str, float],
    unified: Any = None,
) -> dict[str, Any]:
    """The margin engine's account spec of what the venue reports (with ``unified``, a read of a
    unified account (:class:`levguard.venues.ccxt_unified.UnifiedAccountRead`): its spec).

    Every position carries its own ``margin_mode`` and an isolated one its ``isolated_margin``
    (:func:`levguard.core.spec.account_from_spec` takes a mode per position), so an account with
    cross and isolated positions is evaluated as it is margined: the cross positions against the
    cross wallet, each isolated one against its own margin.  (The account was isolated only when
    every position was: a BTC cross and ETH isolated account was evaluated as all cross, its ETH
    liquidation price 2,033 for the venue's 2,711.)  A unified account margins every position
    against the account: its rows carry no mode.
    """
    rows = []
    for p in positions:
        row: dict[str, Any] = {
            "symbol": p.symbol,
            "qty": p.qty,
            "entry_price": p.entry_price,
            "mark_price": marks.get(p.symbol, p.mark_price),
        }
        if not is_option_symbol(p.symbol):  # an option's quantity is in coins already (no such field)
            # The adapters report quantities in position units (contracts x contract size), so the
            # venue's face value must not apply again (COIN-M BTC was read as 100x its size).
            row["contract_size"] = 1.0
        if p.inverse:  # what the venue says of the contract wins over the symbol's reading
            row["contract_kind"] = "inverse"
        rows.append(row)
    if unified is not None:
        spec: dict[str, Any] = unified.spec(rows)
        return spec
    for p, row in zip(positions, rows, strict=True):
        row["margin_mode"] = p.margin_mode
        if p.margin_mode == "isolated" and p.isolated_margin is not None:
            row["isolated_margin"] = p.isolated_margin
    isolated = bool(positions) and all(p.margin_mode == "isolated" for p in positions)
    return {
        "venue": venue,
        "margin_mode": "isolated" if isolated else "cross",
        "wallet_balance": balance.wallet_balance,
        "positions": rows,
    }


MIN_MARKS = 10
"""Marks the guardian must have seen before it estimates a volatility from them."""


def ewma_vol(
    hist: deque[tuple[int, float]] | None, lam: float = RISKMETRICS_LAMBDA, min_marks: int = MIN_MARKS
) -> float | None:
    """Return the annualised EWMA volatility of the marks seen, or None while it is unknown.

    Parameters
    ----------
    hist : deque of (ts_ns, mark), optional
        The marks the guardian has seen of one symbol, oldest first.
    lam : float
        RiskMetrics decay per mark.
    min_marks : int
        Marks needed before an estimate is given.

    Returns
    -------
    float or None
        ``sqrt(v * P)``: the EWMA variance ``v`` of the log returns between consecutive marks
        (:func:`levguard.core.risk.volatility.ewma_variance`) annualised with ``P`` marks per
        365-day year at their mean spacing (:func:`~levguard.core.risk.volatility.periods_per_year`,
        :func:`~levguard.core.risk.volatility.annualise`).
        None (unknown: no number is invented) with fewer than ``min_marks`` marks, no usable
        pair of marks, or marks that never move.
    """
    if hist is None or len(hist) < min_marks:
        return None
    returns: list[float] = []
    span_ns = 0
    for (t0, p0), (t1, p1) in itertools.pairwise(hist):
        if p0 > 0 and p1 > 0 and t1 > t0:
            returns.append(math.log(p1 / p0))
            span_ns += t1 - t0
    if not returns:
        return None
    var = float(ewma_variance(np.asarray(returns, dtype=np.float64), lam)[-1])
    vol = annualise(var, periods_per_year(max(1, round(span_ns / len(returns)))))
    return vol if math.isfinite(vol) and vol > 0.0 else None
