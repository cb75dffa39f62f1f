"""APR and APY of the lending protocols' rates, with each protocol's compounding convention.

The contracts quote rates in their own units: Aave a year in ray (``currentLiquidityRate``,
``currentVariableBorrowRate``), Morpho's IRM and Compound III's model a second in WAD.
:func:`rate_to_apr` turns either into an annual fraction, :func:`apr_to_apy` compounds it, and
:func:`borrow_apy` / :func:`supply_apy` apply the convention each protocol's documentation states:

* Aave: ``APY = (1 + APR / SECONDS_PER_YEAR)^SECONDS_PER_YEAR - 1`` for the liquidity and the
  variable borrow rate (docs.aave.com, developers guide "APY and APR");
* Morpho: ``borrowAPY = e^(borrowRate * SECONDS_PER_YEAR) - 1`` and
  ``supplyAPY = borrowAPY * utilization * (1 - fee)`` (docs.morpho.org, "Interest Rate Models",
  Calculations);
* Compound III quotes the APR, ``rate / 1e18 * SECONDS_PER_YEAR`` (docs.compound.finance,
  "Interest Rates"): ``compounding="none"``.

These are float analytics for previews (a loop's net rate); the exact index growth is
:func:`levguard.core.defi.irm.calculate_compounded_interest` and
:func:`levguard.core.defi.morpho.w_taylor_compounded`.
"""

from __future__ import annotations

import math
import operator
import sys
from typing import Final, Literal

from levguard.core.validate import show
from levguard.errors import InputError

__all__ = ["SECONDS_PER_YEAR", "Compounding", "RateUnit", "apr_to_apy", "borrow_apy", "rate_to_apr", "supply_apy"]

SECONDS_PER_YEAR: Final = 365 * 86_400
"""A year of 365 days, as Aave's ``MathUtils``, Morpho's ``ConstantsLib`` and Comet count it."""
_RAY: Final = 10**27
_WAD: Final = 10**18
_UINT256_MAX: Final = 2**256 - 1


RateUnit = Literal["ray_per_year", "wad_per_second"]
Compounding = Literal["per_second", "continuous", "none"]
_DEFAULT_COMPOUNDING: Final[dict[str, Compounding]] = {"ray_per_year": "per_second", "wad_per_second": "continuous"}


def rate_to_apr(rate: int, unit: RateUnit) -> float:
    """Return a protocol rate as an annual rate without compounding (a fraction, 0.05 = 5 %).

    Parameters
    ----------
    rate : int
        The contract's rate: ray a year (Aave: ``currentLiquidityRate``,
        ``currentVariableBorrowRate``) or WAD a second (Morpho's IRM, Comet's
        ``getSupplyRate``/``getBorrowRate``).
    unit : {"ray_per_year", "wad_per_second"}

    Notes
    -----
    ``rate / 1e27``, or ``rate * SECONDS_PER_YEAR / 1e18`` (Compound III docs "Interest Rates":
    APR = rate / 1e18 * seconds per year).
    """
    try:
        r = operator.index(rate)
    except TypeError:
        r = -1
    if isinstance(rate, bool) or r < 0:
        raise InputError(f"rate must be an integer >= 0, was {show(rate)}")
    if r > _UINT256_MAX:  # a contract's rate is a uint256; past float64 the division overflowed
        raise InputError(f"rate must be an integer in the uint256 range, was {show(rate)}")
    if not isinstance(unit, str):
        raise InputError(f"unit must be 'ray_per_year' or 'wad_per_second', was {show(unit)}")
    if unit == "ray_per_year":
        return r / _RAY
    if unit == "wad_per_second":
        return r * SECONDS_PER_YEAR / _WAD
    raise InputError(f"unit must be 'ray_per_year' or 'wad_per_second', was {show(unit)}")


_FLOAT_MAX: Final[float] = sys.float_info.max


def apr_to_apy(apr: float, compounding: Compounding) -> float:
    """Return the yield over a year of an annual rate ``apr`` compounded as ``compounding``.

    Notes
    -----
    ``"per_second"``: ``(1 + apr / SECONDS_PER_YEAR)^SECONDS_PER_YEAR - 1`` (Aave's convention,
    docs.aave.com "APY and APR" guide); ``"continuous"``: ``e^apr - 1`` (Morpho's convention,
    docs.morpho.org "Interest Rate Models", Calculations); ``"none"``: ``apr``.  Evaluated with
    ``expm1``/``log1p`` so small rates keep their precision.
    """
    if isinstance(apr, bool) or not isinstance(apr, int | float) or not 0 <= apr <= _FLOAT_MAX:
        raise InputError(f"apr must be a finite number >= 0, was {show(apr)}")
    if not isinstance(compounding, str):
        raise InputError(f"compounding must be 'per_second', 'continuous' or 'none', was {show(compounding)}")
    try:
        if compounding == "per_second":
            return math.expm1(SECONDS_PER_YEAR * math.log1p(apr / SECONDS_PER_YEAR))
        if compounding == "continuous":
            return math.expm1(apr)
    except OverflowError:  # e^709.8 is float64's largest: an APR past about 700 (70,000 %)
        raise InputError(f"apr compounds past float64's range (an APY over 1e308), was {show(apr)}") from None
    if compounding == "none":
        return float(apr)
    raise InputError(f"compounding must be 'per_second', 'continuous' or 'none', was {show(compounding)}")


def borrow_apy(rate: int, unit: RateUnit, compounding: Compounding | None = None) -> float:
    """Return the borrow APY of a protocol's borrow rate (a fraction).

    Parameters
    ----------
    rate : int
        Aave's ``currentVariableBorrowRate`` (ray a year) or Morpho's / Comet's borrow rate
        (WAD a second).
    unit : {"ray_per_year", "wad_per_second"}
    compounding : {"per_second", "continuous", "none"}, optional
        Default: the protocol's own convention, ``"per_second"`` for ray rates (Aave),
        ``"continuous"`` for per-second rates (Morpho).  Comet's docs quote an APR: pass
        ``"none"`` to get it.

    Notes
    -----
    ``apr_to_apy(rate_to_apr(rate, unit), compounding)``.  Aave's variable debt actually grows by
    the 3-term binomial of :func:`calculate_compounded_interest` between updates, Morpho's by
    ``wTaylorCompounded``: both a little below these APYs over long untouched periods.
    """
    return apr_to_apy(rate_to_apr(rate, unit), compounding or _default_compounding(unit))


def supply_apy(
    rate: int,
    unit: RateUnit,
    compounding: Compounding | None = None,
    *,
    utilization: float = 1.0,
    fee: float = 0.0,
) -> float:
    """Return the supply APY (a fraction).

    Parameters
    ----------
    rate : int
        A supply rate (Aave's ``currentLiquidityRate``, Comet's ``getSupplyRate``), or, for
        Morpho, the market's *borrow* rate with ``utilization`` and ``fee``.
    unit, compounding
        As in :func:`borrow_apy`.
    utilization : float, default 1.0
        Borrowed over supplied assets, in [0, 1] (Morpho); leave 1 for a supply rate.
    fee : float, default 0.0
        Share of interest kept by the protocol, in [0, 1] (Morpho's market fee); leave 0 for a
        supply rate that already nets it out (Aave's reserve factor, Comet's model).

    Notes
    -----
    ``apr_to_apy(rate_to_apr(rate)) * utilization * (1 - fee)``: Morpho's documented
    ``supplyAPY = borrowAPY * utilization * (1 - fee)`` (docs.morpho.org "Interest Rate Models",
    Calculations); with the defaults, the APY of a supply rate (Aave's docs compound the liquidity
    rate per second as the borrow rate).
    """
    u = _fraction(utilization, "utilization")
    f = _fraction(fee, "fee")
    return borrow_apy(rate, unit, compounding) * u * (1.0 - f)


def _default_compounding(unit: str) -> Compounding:
    if not isinstance(unit, str) or unit not in _DEFAULT_COMPOUNDING:
        raise InputError(f"unit must be 'ray_per_year' or 'wad_per_second', was {show(unit)}")
    return _DEFAULT_COMPOUNDING[unit]


def _fraction(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise InputError(f"{field} must be a number in [0, 1], was {show(value)}")
    return float(value)
