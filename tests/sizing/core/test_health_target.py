"""HealthFactorTarget: the largest leverage with HF >= target now and P(HF < 1) within a budget.

* Closed form (LendingTerms): the target binds at ``L = h / (h - LT)``; the protocol's LTV and a
  cap of one's own bind when they are lower; the budget binds at ``L = 1 / (1 - LT (1 - d*))``
  with ``d*`` the forecaster's required distance.
* The backtest path equals ``decide`` with each bar's forecaster; it composes like every policy.
* The exact engines (PositionLeverage, safe_borrow) agree with the closed form up to their
  roundings and bind where they say.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import forecast_path, required_distance
from levguard.core.sizing.base import Composite, FixedLeverage, SeriesInputs, SizingState
from levguard.core.sizing.health import HealthFactorTarget, LendingTerms, LeverageHealth
from levguard.data.frames import hourly_bars
from levguard.defi.health_target import PositionLeverage, safe_borrow
from levguard.errors import InputError

TERMS = LendingTerms(liquidation_threshold=0.8, max_ltv=0.75)
STATE = SizingState(equity=10_000.0)


def test_lending_terms_closed_form() -> None:
    assert TERMS.health_factor(2.0) == pytest.approx(1.6)  # 0.8 x 2 / 1
    assert TERMS.liquidation_distance(2.0) == pytest.approx(1 - 1 / 1.6)
    assert math.isinf(TERMS.health_factor(1.0))
    assert math.isinf(TERMS.liquidation_distance(0.5))
    assert TERMS.max_leverage == pytest.approx(4.0)
    assert LendingTerms(0.86).max_leverage == pytest.approx(1 / 0.14)  # Morpho lends up to the LLTV
    d = np.array([0.1, 0.375, 0.9, 1.5, np.nan])
    lev = TERMS.leverage_for_distance(d)
    for x, want in zip(lev[:3], d[:3], strict=True):
        assert TERMS.liquidation_distance(float(x)) == pytest.approx(want, rel=1e-12)
    assert lev[3] == 1.0
    assert np.isnan(lev[4])
    assert isinstance(TERMS, LeverageHealth)


def test_target_binds_at_h_over_h_minus_lt() -> None:
    d = HealthFactorTarget(1.6, TERMS).decide(STATE)
    assert d.binding_constraint == "target_hf"
    assert d.target_leverage == pytest.approx(2.0, rel=1e-9)
    assert d.target_leverage <= 2.0  # the feasible side
    assert d.details["health_factor"] >= 1.6
    assert d.details["max_borrow"] == pytest.approx(10_000.0, rel=1e-9)
    assert d.to_dict()["details"]["prob_hf_below_1"] is None  # no budget


def test_protocol_ltv_and_own_cap_bind_when_lower() -> None:
    d = HealthFactorTarget(1.0, TERMS).decide(STATE)  # HF 1 would allow 5x; the LTV lends 4x
    assert (d.binding_constraint, d.target_leverage) == ("protocol_ltv", pytest.approx(4.0))
    capped = HealthFactorTarget(1.0, TERMS, max_leverage=1.5).decide(STATE)
    assert (capped.binding_constraint, capped.target_leverage) == ("max_leverage", 1.5)


@pytest.mark.parametrize(("sigma", "budget"), [(0.6, 0.01), (0.9, 0.05), (0.3, 0.001)])
def test_budget_binds_at_the_required_distance(sigma: float, budget: float) -> None:
    f = GbmForecaster(sigma)
    policy = HealthFactorTarget(1.1, TERMS, max_prob=budget, horizon_days=7)
    d = policy.decide(SizingState(equity=1.0, liquidation_forecaster=f))
    need = required_distance(f, 1, budget, 168)
    expected = float(TERMS.leverage_for_distance(np.array([need]))[0])
    assert d.binding_constraint == "hf_budget"
    assert d.target_leverage == pytest.approx(expected, rel=1e-8)
    assert d.details["prob_hf_below_1"] <= budget
    assert d.details["prob_hf_below_1"] == pytest.approx(budget, rel=1e-5)


def test_budget_without_a_forecaster_is_no_forecast() -> None:
    d = HealthFactorTarget(1.2, TERMS, max_prob=0.01, horizon_days=1).decide(STATE)
    assert (d.target_leverage, d.binding_constraint) == (0.0, "no_forecast")


def test_composes_like_every_policy() -> None:
    comp = Composite(HealthFactorTarget(1.6, TERMS), FixedLeverage(1.5))
    d = comp.decide(STATE)
    assert d.target_leverage == 1.5
    assert d.binding_constraint == "fixed"
    comp2 = Composite(HealthFactorTarget(1.6, TERMS), FixedLeverage(3.0))
    assert comp2.decide(STATE).binding_constraint == "health_factor_target.target_hf"
    assert comp2.cap == 3.0


def _bars(hours: int = 24 * 60) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=hours, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.008, hours)))
    return pd.DataFrame({"high": close * 1.004, "low": close * 0.996, "close": close}, index=idx)


@pytest.mark.parametrize("health", [TERMS, "exact"])
def test_backtest_path_equals_decide_per_bar(health: object) -> None:
    if health == "exact":
        health = PositionLeverage(
            {
                "protocol": "morpho-blue",
                "lltv": 0.8,
                "collateral": 10,
                "borrow": 10_000,
                "collateral_price": 3_000,
                "collateral_decimals": 18,
                "loan_decimals": 6,
            }
        )
    frame = _bars()
    hb = hourly_bars(frame)
    times = (frame.index[::48] + pd.Timedelta("1h")).as_unit("ns").asi8
    path = forecast_path(hb, times, "naive")
    policy = HealthFactorTarget(1.2, health, max_prob=0.02, horizon_days=3)  # type: ignore[arg-type]
    inputs = SeriesInputs(returns=np.zeros(times.shape[0]), liquidation_forecasts=path)
    lev = policy.leverage_path(inputs)
    has = np.isfinite(path.sigma) & (path.sigma > 0)
    assert (lev[~has] == 0.0).all()
    assert has.sum() > 10
    for i in np.flatnonzero(has)[::4]:
        d = policy.decide(SizingState(equity=1.0, liquidation_forecaster=path.at(int(i))))
        assert lev[i] == pytest.approx(d.target_leverage, rel=1e-6)
    assert np.all(HealthFactorTarget(1.2, TERMS).leverage_path(inputs) == pytest.approx(1 / (1 - 0.8 / 1.2)))
    no_forecasts = SeriesInputs(returns=np.zeros(3))
    assert (policy.leverage_path(no_forecasts) == 0.0).all()


@settings(max_examples=60, deadline=None)
@given(
    lt=st.floats(0.5, 0.95),
    h1=st.floats(1.0, 3.0),
    h2=st.floats(1.0, 3.0),
    p1=st.floats(1e-4, 0.2),
    p2=st.floats(1e-4, 0.2),
    sigma=st.floats(0.1, 1.5),
)
def test_leverage_is_monotone_in_target_and_budget(
    lt: float, h1: float, h2: float, p1: float, p2: float, sigma: float
) -> None:
    terms = LendingTerms(lt)
    state = SizingState(equity=1.0, liquidation_forecaster=GbmForecaster(sigma))
    lo_h, hi_h = sorted((h1, h2))
    lo_p, hi_p = sorted((p1, p2))
    strict = HealthFactorTarget(hi_h, terms, max_prob=lo_p, horizon_days=7).decide(state)
    loose = HealthFactorTarget(lo_h, terms, max_prob=hi_p, horizon_days=7).decide(state)
    assert strict.target_leverage <= loose.target_leverage * (1 + 1e-9)
    for d, h, p in ((strict, hi_h, lo_p), (loose, lo_h, hi_p)):
        assert terms.health_factor(d.target_leverage) >= h * (1 - 1e-9)
        assert d.details["prob_hf_below_1"] <= p


def test_exact_engine_agrees_with_the_closed_form_and_binds_where_it_says() -> None:
    spec = {"protocol": "aave-v3", "reserves": [
        {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05, "collateral": 10},
        {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045, "debt": 15_000},
    ]}  # fmt: skip
    exact = PositionLeverage(spec)
    closed = LendingTerms(0.83, 0.805)
    for lev in (1.2, 2.0, 3.5, 5.0):
        assert exact.health_factor(lev) == pytest.approx(closed.health_factor(lev), rel=1e-9)
        assert exact.liquidation_distance(lev) == pytest.approx(closed.liquidation_distance(lev), abs=1e-9)
    assert exact.max_leverage == pytest.approx(closed.max_leverage)
    b = safe_borrow(spec, target_hf=1.25)
    assert b.binding_constraint == "target_hf"
    assert b.health_factor >= 1.25
    assert exact.health_factor(b.leverage * (1 + 1e-8)) < 1.25  # a hair more leverage misses the target
    # 30,000 x 0.83 / 1.25 = 19,920 of USDC debt in all: 4,920 more than the 15,000 owed.
    assert b.borrow == pytest.approx(4_920.0, abs=1e-3)
    assert b.current_leverage == pytest.approx(2.0)


@pytest.mark.parametrize(("version", "own_ltv", "want"), [("3.3", 0.0, 1.0), ("3.3", 0.7, 1 / (1 - 0.93))])
def test_max_leverage_is_what_the_pool_lends_at_in_emode(version: str, own_ltv: float, want: float) -> None:
    """GenericLogic.calculateUserAccountData (3.0-3.5): the e-mode LTV applies only where the
    reserve's own LTV is not 0.  An LTV-0 wstETH in e-mode (93 %) was given 1 / (1 - 0.93) = 14.29x
    while the Pool lends nothing against it (validateBorrow: LTV_VALIDATION_FAILED)."""
    spec = {"protocol": "aave-v3", "version": version, "emode_category": {"ltv": 0.93, "lt": 0.95, "bonus": 0.01},
            "reserves": [
        {"symbol": "wstETH", "price_usd": 3500, "decimals": 18, "ltv": own_ltv, "lt": 0.81, "bonus": 0.06,
         "collateral": 10, "in_emode": True},
        {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.8, "lt": 0.83, "bonus": 0.05, "debt": 1,
         "in_emode": True},
    ]}  # fmt: skip
    assert PositionLeverage(spec).max_leverage == pytest.approx(want, rel=1e-12)


@settings(max_examples=120, deadline=None)
@given(
    protocol=st.sampled_from(["aave-v3", "morpho-blue"]),
    lt=st.sampled_from([0.78, 0.83, 0.86, 0.945]),
    coll=st.integers(500_000, 50_000_000),  # 0.5 to 50 WETH in millionths
    price=st.integers(50_000, 500_000),  # 500.00 to 5,000.00
    hf_now=st.floats(0.97, 3.0),  # debt below the collateral (lt <= 0.945)
    target=st.sampled_from([1.05, 1.1, 1.25, 1.5]),
)
def test_the_position_holds_the_target_after_the_safe_borrow(
    protocol: str, lt: float, coll: int, price: int, hf_now: float, target: float
) -> None:
    # Applied as the contracts apply it (Aave: the debt grows by the amount; Morpho: Morpho.borrow
    # and Morpho.repay with their share rounding), safe_borrow's amount keeps HF >= target: the
    # closed form C (L - 1) / L - D alone was one unit over on Morpho (4.780146 WETH at 3,486.91,
    # 10,983.651495 USDC owed, target 1.1: HF 1.099999999953957 after it).
    from dataclasses import replace

    from levguard.core.defi.aave import get_user_account_data
    from levguard.defi import morpho
    from levguard.defi.positions import MorphoPosition, load_position

    weth, usd = coll / 1e6, price / 100
    debt = round(weth * usd * lt / hf_now, 6)
    if protocol == "aave-v3":
        spec: dict[str, object] = {
            "protocol": protocol,
            "reserves": [
                {
                    "symbol": "WETH",
                    "price_usd": usd,
                    "decimals": 18,
                    "ltv": round(lt - 0.02, 4),
                    "lt": lt,
                    "bonus": 0.05,
                    "collateral": weth,
                },
                {
                    "symbol": "USDC",
                    "price_usd": 1,
                    "decimals": 6,
                    "ltv": 0.75,
                    "lt": 0.78,
                    "bonus": 0.045,
                    "debt": debt,
                },
            ],
        }
    else:
        spec = {"protocol": protocol, "collateral_symbol": "WETH", "loan_symbol": "USDC", "lltv": lt,
                "collateral": weth, "borrow": debt, "collateral_price": usd, "collateral_decimals": 18,
                "loan_decimals": 6}  # fmt: skip
    b = safe_borrow(spec, target_hf=target)
    x = b.borrow_units
    assert b.borrow == x / 1e6
    pos = load_position(spec)
    if isinstance(pos, MorphoPosition):
        m, p = pos.market, pos.position
        if x > 0:  # the market of the position alone: the supply follows the borrow
            r = morpho.borrow(replace(m, total_supply_assets=m.total_supply_assets + x), p, pos.lltv, pos.oracle_price,
                              assets=x)  # fmt: skip
            m, p = r.market, r.position
        elif x < 0:
            r = morpho.repay(m, p, assets=-x)
            m, p = r.market, r.position
        after = morpho.health_factor(m, p, pos.lltv, pos.oracle_price)
    else:
        rows = tuple(replace(r, debt=r.debt + x) if r.symbol == "USDC" else r for r in pos.reserves)
        after = get_user_account_data(rows, None, pos.version).health_factor
    assert after >= round(target * 100) * 10**16


def test_safe_borrow_is_the_engines_max_where_the_target_binds() -> None:
    from levguard.defi.analytics import max_safe_borrow

    spec = {"protocol": "morpho-blue", "collateral_symbol": "WETH", "loan_symbol": "USDC", "lltv": 0.86,
            "collateral": 4.780146, "borrow": 10983.651495, "collateral_price": 3486.91,
            "collateral_decimals": 18, "loan_decimals": 6}  # fmt: skip
    b = safe_borrow(spec, target_hf=1.1)
    assert b.binding_constraint == "target_hf"
    assert b.borrow_units == max_safe_borrow(spec, target_hf="1.1").amount == 2_047_646_180  # was ...181


def test_safe_borrow_with_a_budget_reads_the_ratio_forecaster() -> None:
    frame = _bars(24 * 120)
    spec = {"protocol": "morpho-blue", "collateral_symbol": "WETH", "loan_symbol": "USDC", "lltv": 0.86,
            "collateral": 10, "borrow": 5_000, "collateral_price": 3_000, "collateral_decimals": 18,
            "loan_decimals": 6}  # fmt: skip
    b = safe_borrow(spec, 1.05, bars={"WETH": frame}, max_prob=0.01, horizon_days=7, model="naive")
    assert b.binding_constraint == "hf_budget"
    assert b.prob_hf_below_1 is not None
    assert b.prob_hf_below_1 <= 0.01
    assert b.health_factor > 1.05
    with pytest.raises(InputError, match="bars are needed with max_prob"):
        safe_borrow(spec, 1.05, max_prob=0.01, horizon_days=7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_hf": 0.9}, "target_hf must be >= 1"),
        ({"max_prob": 0.01}, "max_prob and horizon_days go together"),
        ({"max_prob": 1.0, "horizon_days": 1}, r"max_prob must be in \(0, 1\)"),
        ({"max_prob": 0.01, "horizon_days": 31}, "horizon_days must be <= 30"),
        ({"max_leverage": 0.5}, "max_leverage must be >= 1"),
        ({"health": object()}, "health must describe"),
    ],
)
def test_bad_parameters_name_the_value(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"target_hf": 1.2, "health": TERMS, **kwargs}
    with pytest.raises(InputError, match=message):
        HealthFactorTarget(**args)  # type: ignore[arg-type]


def test_lending_terms_and_position_leverage_refuse_bad_input() -> None:
    with pytest.raises(InputError, match="liquidation_threshold must be in"):
        LendingTerms(1.2)
    with pytest.raises(InputError, match="max_ltv must be in"):
        LendingTerms(0.8, 0.9)
    with pytest.raises(InputError, match="equity must be > 0"):
        PositionLeverage({"protocol": "morpho-blue", "lltv": 0.8, "collateral": 1, "borrow": 5_000,
                          "collateral_price": 3_000, "collateral_decimals": 18, "loan_decimals": 6})  # fmt: skip


def test_exported_with_the_other_policies() -> None:
    import levguard.sizing as facade

    assert facade.HealthFactorTarget is HealthFactorTarget
    assert facade.LendingTerms is LendingTerms
    assert "HealthFactorTarget" in facade.__all__
