"""Deribit portfolio margin: the scenario grid and the published parameter sets.

The portfolio requirement is the worst loss over stress scenarios of the underlying price and
implied volatility, plus contingency charges.  This module holds the grid and the parameters
(pure data and small functions); revaluing options over the grid belongs to the risk layer.

Sources
-------
* Current structure: support.deribit.com "Portfolio Margin" (article 25944756247837): the
  price range (e.g. +/-16 %) split into 9 evenly spaced buckets that include 0, each with
  volatility Up, Same and Down; an extended table of -66 %, -33 %, +50 %, +100 %, +200 %,
  +300 %, +400 %, +500 % evaluated with Vol-Up only.
* Historical parameter sets ``[DERIBIT_PM_LEGACY_*]`` (Deribit's earlier PM pages):
  v1: +/-12.5 % price; IV shock sqrt(30/DTE) x 40 % (15 days -> 56.6 %); 1 % contingency on
  the options' underlying (200 options -> 2 BTC); 2 % on offsetting futures (100/100 -> 2 BTC);
  25 % vega offset across expiries.  v2: +/-10 % price; IV shock (30/DTE)^0.30 x 38 %;
  0.01 BTC per net short option per strike; 1 % on offsetting futures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from levguard.core.validate import (
    finite_number,
    float_values,
    integer_in,
    non_negative_number,
    positive,
    require_finite,
)
from levguard.errors import InputError
from levguard.typing import Float64Array1D

EXTENDED_MOVES: tuple[float, ...] = (-0.66, -0.33, 0.50, 1.00, 2.00, 3.00, 4.00, 5.00)
"""Extended-table price moves, evaluated with volatility up only."""

VOL_SCENARIOS: tuple[str, ...] = ("up", "same", "down")


@dataclass(frozen=True, slots=True)
class PortfolioMarginParams:
    """One Deribit portfolio-margin parameter set.

    Parameters
    ----------
    name : str
        Label (``"v1"``, ``"v2"``, ``"current"``).
    price_range : float
        Half-width of the underlying price shock as a fraction in (0, 1) (0.125 = +/-12.5 %; 1
        or more would move the price to zero or below).
    iv_shock_base : float
        Volatility shock at 30 days to expiry, as a fraction, >= 0.
    iv_shock_exponent : float
        Shock at ``dte`` days: ``iv_shock_base * (30 / dte) ** iv_shock_exponent``, >= 0.
    option_contingency_rate : float
        Charge per option as a fraction of its underlying (v1: 1 %), >= 0.
    short_option_contingency : float
        Charge per net short option per strike, in coin (v2: 0.01 BTC), >= 0.
    futures_contingency_rate : float
        Charge on offsetting futures as a fraction of the offset size, >= 0.
    vega_offset : float
        Share of vega allowed to offset across expiries, in [0, 1].
    buckets : int
        Number of evenly spaced price buckets: an integer, odd and >= 3, so that 0 is one of them.

    Raises
    ------
    InputError
        Naming the field, for a value outside those ranges, not finite, or not a number (a bool,
        a string; ``buckets`` also a float such as 9.5).
    """

    name: str
    price_range: float
    iv_shock_base: float
    iv_shock_exponent: float
    option_contingency_rate: float = 0.0
    short_option_contingency: float = 0.0
    futures_contingency_rate: float = 0.0
    vega_offset: float = 0.0
    buckets: int = 9

    def __post_init__(self) -> None:
        price_range = finite_number(self.price_range, "price_range")
        if not 0.0 < price_range < 1.0:
            raise InputError(f"price_range must be a fraction in (0, 1), was {self.price_range!r}")
        for name in (
            "iv_shock_base",
            "iv_shock_exponent",
            "option_contingency_rate",
            "short_option_contingency",
            "futures_contingency_rate",
            "vega_offset",
        ):
            object.__setattr__(self, name, non_negative_number(getattr(self, name), name))
        if self.vega_offset > 1.0:
            raise InputError(f"vega_offset must be a share in [0, 1], was {self.vega_offset!r}")
        buckets = integer_in(self.buckets, "buckets", 3, 1_000_001)
        if buckets % 2 == 0:
            raise InputError(f"buckets must be odd and >= 3 so that 0 is a bucket, was {self.buckets!r}")
        object.__setattr__(self, "price_range", price_range)
        object.__setattr__(self, "buckets", buckets)

    def iv_shock(self, dte_days: float) -> float:
        """Return the implied-volatility shock for an expiry ``dte_days`` away (fraction)."""
        positive(dte_days, "dte_days")
        return self.iv_shock_base * float((30.0 / dte_days) ** self.iv_shock_exponent)

    def price_scenarios(self) -> Float64Array1D:
        """Return the evenly spaced price moves over ``[-range, +range]`` (0 included)."""
        return np.linspace(-self.price_range, self.price_range, self.buckets)

    def options_contingency(self, underlying_qty: float) -> float:
        """Return the contingency on options whose underlying totals ``underlying_qty`` coins (finite)."""
        return self.option_contingency_rate * abs(finite_number(underlying_qty, "underlying_qty"))

    def short_options_contingency(self, net_short_per_strike: list[float]) -> float:
        """Return the per-strike charge on net short options (v2 style), in coin (finite numbers)."""
        net = float_values(net_short_per_strike, "net_short_per_strike").ravel()
        require_finite(net, "net_short_per_strike")
        return self.short_option_contingency * math.fsum(max(0.0, float(n)) for n in net)

    def futures_contingency(self, long_qty: float, short_qty: float) -> float:
        """Return the contingency on offsetting futures: rate x the offset ``min(|long|, |short|)`` (finite)."""
        offset = min(abs(finite_number(long_qty, "long_qty")), abs(finite_number(short_qty, "short_qty")))
        return self.futures_contingency_rate * offset


LEGACY_V1 = PortfolioMarginParams(
    "v1",
    price_range=0.125,
    iv_shock_base=0.40,
    iv_shock_exponent=0.5,
    option_contingency_rate=0.01,
    futures_contingency_rate=0.02,
    vega_offset=0.25,
)
LEGACY_V2 = PortfolioMarginParams(
    "v2",
    price_range=0.10,
    iv_shock_base=0.38,
    iv_shock_exponent=0.30,
    short_option_contingency=0.01,
    futures_contingency_rate=0.01,
)
CURRENT_GRID = PortfolioMarginParams("current", price_range=0.16, iv_shock_base=0.0, iv_shock_exponent=0.0)
"""The current structure's example price range; live shock sizes come from Deribit's API."""
