"""Collateral assets of the market simulator (v2): haircuts as the kernel's maintenance tiers.

A venue of :class:`~levguard.cascade.market_settings.MarketVenue` takes an asset as margin with
a flat haircut, with the progressive collateral ratios of a unified account
(:class:`~levguard.core.rules.collateral.CollateralTiers`), or with a venue's published table
by name (``"binance-pm"``, ``"bybit-uta"``, ``"okx-mcm"``: the tables the unified-account engine
reads, :mod:`levguard.core.rules.collateral`).  The kernel needs no collateral of its own: the
haircut of a holding worth ``N`` is a tiered "maintenance" ``rate_k N - cum_k`` of its book, so
an account is liquidated when ``E - haircut <= MM of its contracts``.

* :func:`collateral_entry`: one venue's entry for one asset, validated.
* :func:`haircut_rows`: the tiers as the kernel's rows ``(cap, rate, cum)``.
* :func:`units_for_value`: how many units give a haircut value (the inverse of
  :meth:`CollateralTiers.value`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from levguard.core.rules.collateral import BINANCE_PM, BYBIT_UTA, OKX_MCM, CollateralTable, CollateralTiers
from levguard.errors import InputError

__all__ = ["COLLATERAL_TABLES", "Haircut", "collateral_entry", "haircut_rows", "units_for_value"]

FloatArray = npt.NDArray[np.float64]

Haircut = float | CollateralTiers
"""A venue's collateral entry for one asset: a flat haircut or progressive tiers."""

COLLATERAL_TABLES: dict[str, CollateralTable] = {t.venue: t for t in (BINANCE_PM, BYBIT_UTA, OKX_MCM)}
"""The venues' collateral-ratio tables by name (versioned data of :mod:`levguard.core.rules.collateral`)."""


def collateral_entry(venue: str, asset: str, value: object) -> Haircut:
    """Return venue ``venue``'s collateral entry of ``asset``, validated.

    ``value`` is a flat haircut in [0, 1) (kept as a float, so the kernel's rate is the haircut
    exactly), a :class:`CollateralTiers`, or the name of a venue table
    (:data:`COLLATERAL_TABLES`), which must list the asset.
    """
    if isinstance(value, CollateralTiers):
        return value
    if isinstance(value, str):
        table = COLLATERAL_TABLES.get(value.strip().lower())
        if table is None:
            raise InputError(
                f"venue {venue!r}: collateral.{asset} must be a haircut, CollateralTiers or one of the tables "
                f"{sorted(COLLATERAL_TABLES)}, was {value!r}"
            )
        tiers = table.get(asset)
        if tiers is None:
            raise InputError(
                f"venue {venue!r}: the {table.venue} table has no collateral ratio for {asset!r} "
                f"(it lists {sorted(table.assets)}); give a haircut instead"
            )
        return tiers
    number = isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)
    h = float(value) if number else math.nan  # type: ignore[arg-type]
    if not (math.isfinite(h) and 0.0 <= h < 1.0):
        raise InputError(f"venue {venue!r}: collateral.{asset} must be a haircut in [0, 1), was {value!r}")
    return h


def _usd_floors(tiers: CollateralTiers, price: float | None) -> FloatArray:
    floors = np.asarray(tiers.floors, dtype=np.float64)
    if tiers.basis == "usd_value" or floors.shape[0] == 1:
        return floors
    if price is None or not (math.isfinite(price) and price > 0.0):
        raise InputError(f"{tiers.asset}: tiers by quantity need the asset's start price, was {price!r}")
    return floors * price


def haircut_rows(tiers: Haircut, price: float | None = None) -> FloatArray:
    """Return the tiers as the kernel's maintenance rows ``(cap, rate, cum)``, value in quote.

    Notes
    -----
    The haircut of a holding worth ``N`` is ``H(N) = sum_k (1 - r_k) (min(N, f_{k+1}) - f_k)^+``
    (the progressive ratios of :meth:`CollateralTiers.value`: Binance's "100,000,000 x 100 % +
    20,000,000 x 97.5 %", Bybit's and OKX's tiers by quantity).  In tier ``k`` this is
    ``rate_k N - cum_k`` with ``rate_k = 1 - r_k`` and ``cum_k = cum_{k-1} + (rate_k - rate_{k-1})
    f_k``, the continuity rule of tiered maintenance amounts (Binance's ``cum``), so the
    kernel's tiered maintenance computes it.  Tiers by quantity (Bybit, OKX) are converted at
    ``price``, the asset's start price: a large move of the collateral's price shifts the true
    tier bounds (exact for stablecoins near their peg).
    """
    if isinstance(tiers, float):
        return np.array([[math.inf, tiers, 0.0]])
    floors = _usd_floors(tiers, price)
    rates = 1.0 - np.asarray(tiers.ratios, dtype=np.float64)
    n = floors.shape[0]
    caps = np.append(floors[1:], math.inf)
    cums = np.zeros(n)
    for k in range(1, n):
        cums[k] = cums[k - 1] + (rates[k] - rates[k - 1]) * floors[k]
    return np.column_stack([caps, rates, cums])


def units_for_value(tiers: Haircut, value: FloatArray, price: float) -> FloatArray:
    """Return the units of the asset whose haircut value at ``price`` is ``value`` (quote, >= 0).

    The inverse of :meth:`CollateralTiers.value` (piecewise linear and non-decreasing in the
    amount); raises :class:`InputError` naming the first value the tiers cannot reach (a last
    tier at ratio 0 caps the haircut value).
    """
    if isinstance(tiers, float):
        flat: FloatArray = np.asarray(value, dtype=np.float64) / (price * (1.0 - tiers))
        return flat
    floors = _usd_floors(tiers, price)
    ratios = np.asarray(tiers.ratios, dtype=np.float64)
    widths = np.diff(floors)
    at_floor = np.concatenate([[0.0], np.cumsum(ratios[:-1] * widths)])  # haircut value at each floor
    v = np.asarray(value, dtype=np.float64)
    # The first tier that reaches v (the smallest amount on a tier that adds nothing); a value at
    # the tiers' maximum up to rounding is the maximum.
    v = np.where((v > at_floor[-1]) & (v <= at_floor[-1] * (1.0 + 1e-12)), at_floor[-1], v)
    k = np.searchsorted(at_floor, v, side="left") - 1
    k = np.clip(k, 0, floors.shape[0] - 1)
    r = ratios[k]
    stuck = (v > at_floor[k]) & ~(r > 0.0)
    if stuck.any():
        i = int(np.argmax(stuck))
        raise InputError(
            f"{tiers.asset}: a haircut value of {float(v[i])!r} is beyond what the collateral tiers count "
            f"(at most {float(at_floor[-1])!r})"
        )
    usd = floors[k] + np.where(r > 0.0, (v - at_floor[k]) / np.where(r > 0.0, r, 1.0), 0.0)
    out: FloatArray = np.where(v > 0.0, usd / price, 0.0)
    return out
