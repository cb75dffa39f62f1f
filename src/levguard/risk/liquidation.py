"""Probability of liquidation: public functions and the per-position table for risk reports.

The math lives in :mod:`levguard.core.risk.liquidation` (closed forms, Laplace inversion and
the Monte Carlo dispatch) and :mod:`levguard.kernels.paths` (the path kernels); this module
re-exports the scalar functions unchanged and adds :func:`prob_liquidation_table`, which reads
the positions of a margin report and returns a pandas table.

Example (a 5x-levered long BTC position, 80 % annual volatility)::

    >>> from levguard.risk.liquidation import prob_liquidation
    >>> round(prob_liquidation("long", 60_000.0, 48_000.0, sigma=0.8, horizon_days=30), 4)
    0.3684
    >>> round(prob_liquidation("long", 60_000.0, 48_000.0, 0.8, 30, monitoring_dt_days=1), 4)
    0.3185
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from levguard.core.margin import AccountReport, PositionReport
from levguard.core.risk.liquidation import (
    DAYS_PER_YEAR,
    MODELS,
    TimeToLiquidation,
    prob_liquidation,
    prob_liquidation_curve,
    time_to_liquidation,
)
from levguard.core.validate import show
from levguard.errors import InputError

__all__ = [
    "DAYS_PER_YEAR",
    "MODELS",
    "TimeToLiquidation",
    "prob_liquidation",
    "prob_liquidation_curve",
    "prob_liquidation_table",
    "time_to_liquidation",
]


def _per_position(value: object, positions: Sequence[PositionReport], field: str) -> list[Any]:
    # A scalar for every position, a mapping symbol -> value, or one value per position.
    if isinstance(value, Mapping):
        missing = [p.symbol for p in positions if p.symbol not in value]
        if missing:
            raise InputError(f"{field} has no entry for symbol(s) {', '.join(sorted(set(missing)))}")
        return [value[p.symbol] for p in positions]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != len(positions):
            raise InputError(f"{field} must have one value per position ({len(positions)}), had {len(value)}")
        return list(value)
    return [value] * len(positions)


def _column(h: float) -> str:
    return f"p_{h:g}d"


def _listed(values: object, field: str, what: str) -> list[Any]:
    # list(values) for a sequence; None, a str or a bare object (a 0-d array too: an Iterable by
    # type, but iterating it is a TypeError): InputError naming field.
    zero_d = isinstance(values, np.ndarray) and values.ndim == 0
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable) or zero_d:
        raise InputError(f"{field} must be {what}, was {type(values).__name__} {show(values)}")
    return list(values)


def prob_liquidation_table(
    positions: AccountReport | Sequence[PositionReport],
    sigma: float | Mapping[str, float] | Sequence[float],
    horizons: Sequence[float] = (1, 7, 30),
    mu: float | Mapping[str, float] | Sequence[float] = 0.0,
    monitoring_dt_days: float | None = None,
    model: str = "gbm",
    **model_params: Any,
) -> pd.DataFrame:
    """Return each position's probability of liquidation within each horizon.

    Parameters
    ----------
    positions : AccountReport or sequence of PositionReport
        A margin report (:func:`levguard.evaluate_account`) or its positions.  Each position's
        ``side``, ``mark_price`` and ``liquidation_price`` are used: liquidation is triggered
        by the mark price.
    sigma : float, mapping or sequence
        Annualised volatility (fraction): one value for all positions, a mapping
        ``symbol -> sigma``, or one value per position.
    horizons : sequence of float
        Horizons in days (default 1, 7 and 30).
    mu : float, mapping or sequence
        Annualised expected return (fraction), given like ``sigma`` (default 0).
    monitoring_dt_days, model, **model_params
        As :func:`levguard.core.risk.liquidation.prob_liquidation`, the same for every position
        (Monte Carlo models use the same ``seed`` for every position).

    Returns
    -------
    pandas.DataFrame
        One row per position, in report order (``RangeIndex``), with columns ``symbol``,
        ``side``, ``mark_price``, ``liquidation_price`` (NaN when there is none), ``distance``
        (the adverse move to the liquidation price as a fraction of the mark price, the
        report's ``health``; NaN without a liquidation price) and one probability column per
        horizon named ``p_<h>d`` (``p_1d``, ``p_7d``, ``p_30d``).

    Raises
    ------
    InputError
        Bad inputs (see :func:`prob_liquidation`), or a per-position ``sigma``/``mu`` that does
        not match the positions.

    Notes
    -----
    Each row is :func:`levguard.core.risk.liquidation.prob_liquidation_curve`: closed forms
    are evaluated per horizon; Monte Carlo models simulate once to the longest horizon, so a
    row is non-decreasing in the horizon.  A position already at or past its liquidation price
    has probability 1 at every horizon; one without a liquidation price has 0.
    """
    items: Sequence[PositionReport] = positions.positions if isinstance(positions, AccountReport) else positions
    if isinstance(items, PositionReport):
        items = [items]
    items = _listed(items, "positions", "an AccountReport or a sequence of PositionReport")
    for i, p in enumerate(items):
        if not isinstance(p, PositionReport):
            raise InputError(f"positions[{i}] must be a PositionReport, was {type(p).__name__}")
    hs = tuple(_listed(horizons, "horizons", "a sequence of horizons in days"))
    if not hs:
        raise InputError("horizons must not be empty")
    sigmas = _per_position(sigma, items, "sigma")
    mus = _per_position(mu, items, "mu")
    rows: list[dict[str, object]] = []
    for p, s, m in zip(items, sigmas, mus, strict=True):
        lp = p.liquidation_price
        probs = prob_liquidation_curve(p.side, p.mark_price, lp, s, hs, m, monitoring_dt_days, model, **model_params)
        row: dict[str, object] = {
            "symbol": p.symbol,
            "side": p.side_name,
            "mark_price": p.mark_price,
            "liquidation_price": math.nan if lp is None else lp,
            "distance": math.nan if p.health is None else p.health,
        }
        row.update({_column(h): v for h, v in zip(hs, probs, strict=True)})
        rows.append(row)
    columns = ["symbol", "side", "mark_price", "liquidation_price", "distance", *(_column(h) for h in hs)]
    return pd.DataFrame(rows, columns=columns)
