"""Bad-input campaign 9 (2026-12-07): wrong types in tier tables, Python ints beyond float64,
finite returns whose squares overflow, unhashable options and arrays where a sequence or a
string option is expected.

Each case failed before the fix with a raw TypeError, ValueError or OverflowError (or returned
inf or a bool); every one must now raise a levguard error naming the argument and the value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from levguard import Tier, TierTable, cascade, evaluate_account, options, risk, sizing
from levguard.cascade.market_paths import market_paths_for
from levguard.errors import InputError

BIG = 10**400  # a Python int beyond float64's range


def _tier(cap: object = 1e6, max_leverage: object = 125.0) -> TierTable:
    return TierTable((Tier(0.0, cap, 0.005, 0.0, max_leverage),))  # type: ignore[arg-type]


TIER_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("cap text", lambda: _tier(cap="1e6"), r"tiers\[0\]\.notional_cap must be a number, was '1e6'"),
    ("cap None", lambda: _tier(cap=None), r"tiers\[0\]\.notional_cap must be a number, was None"),
    ("cap huge int", lambda: _tier(cap=BIG), r"tiers\[0\]\.notional_cap must be a number within float64"),
    ("cap bool", lambda: _tier(cap=True), r"tiers\[0\]\.notional_cap must be a number, was True"),
    ("cap array", lambda: _tier(cap=np.array([1e6, 2e6])), r"tiers\[0\]\.notional_cap must be a number"),
    ("max_leverage text", lambda: _tier(max_leverage="125"), r"tiers\[0\]\.max_leverage must be a number, was '125'"),
    ("max_leverage None", lambda: _tier(max_leverage=None), r"tiers\[0\]\.max_leverage must be a number, was None"),
    ("max_leverage bool", lambda: _tier(max_leverage=True), r"tiers\[0\]\.max_leverage must be a number, was True"),
    ("max_leverage huge int", lambda: _tier(max_leverage=BIG), r"tiers\[0\]\.max_leverage must be a number within"),
    ("max_leverage array", lambda: _tier(max_leverage=np.array([1.0])), r"tiers\[0\]\.max_leverage must be a number"),
]


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in TIER_CASES], ids=[c[0] for c in TIER_CASES])
def test_tier_table_names_the_bad_tier_value(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()


def test_tier_table_still_takes_an_infinite_cap_and_ints() -> None:
    table = TierTable((Tier(0, float("inf"), 0.005, 0, 125),))
    assert table.max_leverage(1000.0) == 125


_RETURNS = pd.DataFrame(
    np.random.default_rng(0).normal(0.0, 0.01, (300, 2)),
    columns=["BTC", "ETH"],
    index=pd.date_range("2024", periods=300, freq="1h", tz="UTC"),
)
_GBM = {"s0": 100.0, "sigma": 0.8, "n_steps": 10, "dt_years": 1e-4, "seed": 1}
_ACCOUNTS = (np.array([1.0, 1.0]), np.array([100.0, 100.0]), np.array([10.0, 10.0]), np.array([False, True]))

CASCADE_CASES: list[tuple[str, Callable[[], object], str]] = [
    (
        "paths_for model list",
        lambda: cascade.paths_for({"model": ["jump"], **_GBM}, 2),
        r"spec\['model'\].*was \['jump'\]",
    ),
    (
        "path_for model dict",
        lambda: cascade.path_for({"model": {}, **_GBM}, 0),
        r"spec\['model'\] must be one of .*was \{\}",
    ),
    (
        "market_paths_for model list",
        lambda: market_paths_for({"model": ["bootstrap"], "assets": ["BTC"]}, 1),
        r"spec\['model'\] must be one of",
    ),
    (
        "joint_bootstrap_paths s0 huge int",
        lambda: cascade.joint_bootstrap_paths(_RETURNS, 2, 10, 1, s0=[BIG, 1.0]),
        "s0 must be a price or one price per asset, was \\[<integer of about 401 digits>",
    ),
    (
        "Population side huge int",
        lambda: cascade.Population(np.array([BIG, -1]), *_ACCOUNTS),
        "side must be an array of numbers: int too large",
    ),
    (
        "MarketPopulation venue huge int",
        lambda: cascade.MarketPopulation([BIG, 0], [10.0, 10.0], [[1.0], [-1.0]], [[100.0], [100.0]]),
        "venue must be an array of numbers: int too large",
    ),
    (
        "Market half_life_steps array",
        lambda: cascade.Market(1e6, half_life_steps=np.array([])),
        r"market\.half_life_steps must be a number, was array",
    ),
    (
        "Market impact array",
        lambda: cascade.Market(1e6, impact=np.array([])),
        r"market\.impact must be 'linear' or 'sqrt', was array",
    ),
]


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in CASCADE_CASES], ids=[c[0] for c in CASCADE_CASES])
def test_cascade_names_the_bad_value(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()


def test_market_still_takes_an_infinite_half_life() -> None:
    assert cascade.Market(1e6, half_life_steps=float("inf")).half_life_steps == float("inf")


_R = list(np.random.default_rng(0).normal(0.0, 0.01, 300))
_R_HUGE = np.array(_R)
_R_HUGE[5] = 1e160  # finite; its square is not
_SPEC = {
    "venue": "binance-usdm",
    "margin_mode": "cross",
    "wallet_balance": 10_000,
    "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 20}],
}

RISK_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("fit_garch huge int", lambda: risk.fit_garch([*_R[:-1], BIG], interval="1h"), "returns must be a 1-D array"),
    ("fhs_var huge int", lambda: risk.fhs_var([*_R[:-1], BIG], 0.02, 0.99), "residuals must be an array of numbers"),
    (
        "ewma_variance seed_var huge int",
        lambda: risk.ewma_variance(_R, seed_var=BIG),
        "seed_var must be a number within",
    ),
    (
        "portfolio_pnl huge int",
        lambda: risk.portfolio_pnl(_SPEC, {"BTCUSDT": [1.0, 1.01, BIG]}, horizon_days=1.0),
        r"scenarios\['BTCUSDT'\] must be an array of price relatives",
    ),
    (
        "fit_garch square overflows",
        lambda: risk.fit_garch(_R_HUGE, interval="1h"),
        r"returns\[5\] is too large: the sum of squared returns overflows float64, was 1e\+160",
    ),
    (
        "ewma_variance square overflows",
        lambda: risk.ewma_variance([0.01, 1e200, 0.01]),
        r"returns\[1\] is too large: the sum of squared returns overflows float64, was 1e\+200",
    ),
    (
        "cornish_fisher_var huge skew",
        lambda: risk.cornish_fisher_var(0.99, sd=0.02, skew=1e160),
        "skew and excess_kurtosis are too large .* skew=1e\\+160",
    ),
    (
        "cornish_fisher_var huge kurtosis",
        lambda: risk.cornish_fisher_var(0.99, sd=0.02, excess_kurtosis=1e306),
        "skew and excess_kurtosis are too large .* excess_kurtosis=1e\\+306",
    ),
    ("grid_scenarios 0-d", lambda: risk.grid_scenarios(np.array(0.1)), r"price_moves must be a sequence of numbers"),
    (
        "grid_scenarios vol_shifts 0-d",
        lambda: risk.grid_scenarios(vol_shifts=np.array(0.1)),
        r"vol_shifts must be a sequence of numbers",
    ),
    (
        "prob_liquidation_table horizons 0-d",
        lambda: risk.prob_liquidation_table(evaluate_account(_SPEC), 0.6, np.array(7.0)),
        r"horizons must be a sequence of horizons in days, was ndarray array\(7\.\)",
    ),
    ("VolSurface 0-d", lambda: options.VolSurface(np.array(2.0)), r"slices must be a sequence, was array\(2\.\)"),
]


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in RISK_CASES], ids=[c[0] for c in RISK_CASES])
def test_risk_names_the_bad_value(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()


def test_risk_still_takes_large_finite_inputs() -> None:
    assert np.isfinite(risk.ewma_variance([0.01, 1e100, 0.01])).all()
    assert np.isfinite(risk.cornish_fisher_var(0.99, sd=0.02, skew=1e100).var)
    assert len(risk.grid_scenarios(np.array([0.1, -0.1]))) == 2


_REGIMES = {"calm": sizing.FixedLeverage(2.0), "stress": sizing.FixedLeverage(1.0)}

SIZING_CASES: list[tuple[str, Callable[[], object], str]] = [
    (
        "SizingState peak_equity text",
        lambda: sizing.SizingState(1000.0, peak_equity="x"),
        "peak_equity must be a number, was 'x'",
    ),
    (
        "SizingState peak_equity empty array",
        lambda: sizing.SizingState(1000.0, peak_equity=np.array([])),
        r"peak_equity must be a number, was array\(\[\]",
    ),
    (
        "SizingState peak_equity huge int",
        lambda: sizing.SizingState(1000.0, peak_equity=BIG),
        "peak_equity must be a number within",
    ),
    (
        "RegimeSwitch thresholds huge int",
        lambda: sizing.RegimeSwitch(_REGIMES, thresholds=(0.2, BIG)),
        r"thresholds must be two numbers \(q_lo, q_hi\), was \(0\.2, <integer of about 401 digits>\)",
    ),
]


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in SIZING_CASES], ids=[c[0] for c in SIZING_CASES])
def test_sizing_names_the_bad_value(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()


def test_sizing_state_still_takes_a_numeric_peak() -> None:
    assert sizing.SizingState(1000.0, peak_equity=np.float64(1200.0)).peak_equity == 1200.0
