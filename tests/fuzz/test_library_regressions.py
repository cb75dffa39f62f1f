"""Public functions a bad-input campaign (2026-12-05) broke with an exception not from levguard.errors,
or led to a non-finite result: each now raises InputError naming the value, or answers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import levguard
from levguard import risk
from levguard.errors import InputError


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: risk.normal_var(0.99, sd=None), "sd must be a number, was None"),
        (
            lambda: risk.normal_var(10**400, sd=0.02),
            "level must be a confidence in (0.5, 1) such as 0.99, was <integer",
        ),
        (lambda: risk.normal_var(0.99, sd=0.02, horizon_days="x"), "horizon_days must be a number, was 'x'"),
        (lambda: risk.grid_scenarios(["abc"]), "price_moves[0] must be a number, was 'abc'"),
        (lambda: risk.grid_scenarios([-0.1], [10**400]), "vol_shifts[0] must be a number within float64 range"),
        (
            lambda: risk.prob_liquidation("long", 6e4, 5e4, 0.6, 7.0, monitoring_dt_days=1e-320),
            "monitoring_dt_days must be at least 1e-08",
        ),
        (
            # None is the venue's default taker fee (2026-12-05); a string is still refused by name.
            lambda: levguard.liquidation_outcome("binance-usdm", 1.0, 6e4, 5.5e4, 3e3, taker_fee="0.1%"),
            "taker_fee must be a number, was '0.1%'",
        ),
        (
            lambda: levguard.liquidation_outcome("binance-usdm", 1.0, 6e4, 5.5e4, 3e3, fee_rate="x"),
            "fee_rate must be a number, was 'x'",
        ),
        (
            lambda: levguard.liquidation_outcome("binance-usdm", 1e308, 6e4, 5.5e4, 3e3),
            "qty must be 0 or between 1e-30 and 1e30 in magnitude, was 1e+308",
        ),
        (
            lambda: levguard.liquidation_outcome("binance-usdm", 1.0, 10**400, 5.5e4, 3e3),
            "entry_price must be 0 or between 1e-30 and 1e30 in magnitude, was <integer",
        ),
        (
            lambda: levguard.liquidation_outcome("binance-usdm", 1.0, 6e4, 5.5e4, 10**400),
            "margin must be a number within float64 range (|x| < 1.8e308), was <integer",
        ),
        (
            lambda: levguard.liquidation_outcome("binance-usdm", 1.0, 6e4, 5.5e4, 1e31),
            "margin must be at most 1e30 in magnitude, was 1e+31",
        ),
        (
            lambda: risk.prob_liquidation(
                "long", 6e4, 5e4, 0.6, 7.0, model="merton", lam=1, jump_mean=710, jump_std=0.1
            ),
            "jump_mean is a log jump and must be at most 1 in magnitude",
        ),
        (
            lambda: risk.prob_liquidation("long", 6e4, 5e4, 0.6, 7.0, model="merton", lam=1, jump_mean=0, jump_std=40),
            "jump_std is a log jump and must be at most 1 in magnitude",
        ),
    ],
)
def test_bad_values_raise_input_error_naming_them(call: Callable[[], Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        call()
    assert needle in str(exc.value)


def test_a_liquidation_price_far_below_the_price_is_a_probability() -> None:
    # 1e-320 / 60,000 underflows to 0, whose log was a ValueError (math domain error).
    assert risk.prob_liquidation("long", 6e4, 1e-320, 0.6, 7.0) == 0.0
    assert risk.prob_liquidation("short", 1e-300, 1e300, 0.6, 7.0) == 0.0
    near = risk.prob_liquidation("long", 6e4, 5e4, 0.6, 7.0, monitoring_dt_days=1e-8)
    assert 0.0 < near < risk.prob_liquidation("long", 6e4, 5e4, 0.6, 7.0) + 1e-6
    assert math.isfinite(near)


def test_valid_values_of_other_numeric_types_are_still_accepted() -> None:
    # The review of the fixes: NumPy scalars, 0-d arrays and a margin of any size below 1e30 (it
    # may be <= 0) stay accepted.
    import numpy as np

    from levguard.core.rules.binance import BUILTIN_TIERS

    assert risk.normal_var(0.99, sd=np.array(100.0)).var == pytest.approx(risk.normal_var(0.99, sd=100.0).var)
    assert levguard.liquidation_outcome("binance-usdm", 1.0, 6e4, 5.5e4, 1e-31).kept == 0.0
    args = (np.array([1.0]), np.array([6e4]), np.array([3e3]), BUILTIN_TIERS["BTCUSDT"])
    given = levguard.isolated_liquidation_prices(*args, venue="okx", taker_fee_rate=np.float32(5e-4))
    assert np.array_equal(
        given, levguard.isolated_liquidation_prices(*args, venue="okx", taker_fee_rate=float(np.float32(5e-4)))
    )
