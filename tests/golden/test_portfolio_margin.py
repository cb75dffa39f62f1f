"""Golden tests: OKX portfolio-margin MR7 scaling and Deribit portfolio-margin parameters.

Sources: okx.com/support/hc/en-us/articles/4417291853837 (MR7 example: 40,000 -> 50,000);
support.deribit.com "Portfolio Margin" (25944756247837; 9 buckets incl. 0, Up/Same/Down, extended
table) and Deribit's earlier PM pages (v1: 15 DTE -> 56.6 %, 200 options -> 2 BTC, 100/100
futures -> 2 BTC).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard import InputError
from levguard.core.rules.deribit_pm import CURRENT_GRID, EXTENDED_MOVES, LEGACY_V1, LEGACY_V2, PortfolioMarginParams
from levguard.core.rules.okx import portfolio_maintenance_margin, scale_liquidation_cost


def test_okx_mr7_example() -> None:
    """MR 40,000; MR7_raw 30,000 with multipliers 1 on [0, 10k], 2 on (10k, 70k] -> MR7_adj 50,000 = MMR."""
    adj = scale_liquidation_cost(30_000, [(10_000, 1.0), (70_000, 2.0)])
    assert adj == pytest.approx(50_000)
    assert portfolio_maintenance_margin(40_000, 0, 0, 0, 0, 0, adj) == pytest.approx(50_000)
    assert portfolio_maintenance_margin(40_000, 0, 0, 0, 0, 0, scale_liquidation_cost(5_000, [(10_000, 1.0)])) == 40_000
    with pytest.raises(InputError, match="exceeds the last tier bound"):
        scale_liquidation_cost(80_000, [(10_000, 1.0), (70_000, 2.0)])


def test_deribit_v1_parameters() -> None:
    """v1: IV shock sqrt(30/15) x 40 % = 56.6 %; 1 % of 200 options' underlying = 2 BTC; 2 % of 100/100 = 2 BTC."""
    assert round(LEGACY_V1.iv_shock(15), 3) == 0.566
    assert LEGACY_V1.options_contingency(200) == pytest.approx(2.0)
    assert LEGACY_V1.futures_contingency(100, -100) == pytest.approx(2.0)
    assert LEGACY_V1.price_scenarios()[[0, -1]] == pytest.approx([-0.125, 0.125])


def test_deribit_v2_parameters() -> None:
    """v2: (30/DTE)^0.30 x 38 %; 0.01 BTC per net short option per strike; 1 % on offsetting futures."""
    assert LEGACY_V2.iv_shock(30) == pytest.approx(0.38)
    assert LEGACY_V2.iv_shock(7.5) == pytest.approx(0.38 * 4**0.30)
    assert LEGACY_V2.short_options_contingency([3, -2, 1]) == pytest.approx(0.04)
    assert LEGACY_V2.futures_contingency(50, -80) == pytest.approx(0.5)


def test_deribit_current_grid() -> None:
    """+/-16 % in 9 evenly spaced buckets including 0; extended moves from -66 % to +500 %."""
    grid = CURRENT_GRID.price_scenarios()
    assert len(grid) == 9
    assert 0.0 in grid
    assert np.allclose(np.diff(grid), 0.04)
    assert EXTENDED_MOVES[0] == -0.66
    assert EXTENDED_MOVES[-1] == 5.0
    assert math.isclose(grid[-1], 0.16)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"buckets": 9.5}, r"buckets must be an integer in \[3, 1000001\), was 9.5"),
        ({"buckets": "9"}, r"buckets must be an integer in \[3, 1000001\), was '9'"),
        ({"buckets": True}, r"buckets must be an integer"),
        ({"buckets": 8}, r"buckets must be odd and >= 3"),
        ({"price_range": 1.5}, r"price_range must be a fraction in \(0, 1\), was 1.5"),
        ({"price_range": 0.0}, r"price_range must be a fraction in \(0, 1\)"),
        ({"iv_shock_base": -0.4}, r"iv_shock_base must be >= 0, was -0.4"),
        ({"iv_shock_exponent": math.nan}, r"iv_shock_exponent must be >= 0, was nan"),
        ({"option_contingency_rate": "0.01"}, r"option_contingency_rate must be a number, was '0.01'"),
        ({"futures_contingency_rate": math.inf}, r"futures_contingency_rate must be >= 0"),
        ({"vega_offset": 1.5}, r"vega_offset must be a share in \[0, 1\], was 1.5"),
    ],
)
def test_deribit_pm_params_are_validated(change: dict[str, object], needle: str) -> None:
    # A review: buckets 9.5 or "9" were a TypeError in linspace, a price range of 1.5 moved prices
    # to -150 %, a negative or NaN IV shock was accepted.
    fields = {"name": "x", "price_range": 0.1, "iv_shock_base": 0.4, "iv_shock_exponent": 0.5} | change
    with pytest.raises(InputError, match=needle):
        PortfolioMarginParams(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: LEGACY_V1.options_contingency(math.nan), r"underlying_qty must be finite, was nan"),
        (lambda: LEGACY_V1.options_contingency("200"), r"underlying_qty must be a number, was '200'"),
        (lambda: LEGACY_V2.short_options_contingency([1, math.nan, 2]), r"net_short_per_strike\[1\] must be finite"),
        (lambda: LEGACY_V2.short_options_contingency(["1"]), r"net_short_per_strike must be numbers"),
        (lambda: LEGACY_V1.futures_contingency(math.inf, 5), r"long_qty must be finite, was inf"),
    ],
)
def test_deribit_pm_charges_take_finite_numbers(call: object, needle: str) -> None:
    # A review: NaN gave a NaN charge, "200" a TypeError, and [1, nan, 2] 0.03 (the NaN dropped).
    with pytest.raises(InputError, match=needle):
        call()  # type: ignore[operator]
