"""The unwind's sizing without a chain (:func:`levguard.defi.onchain.unwind_plan`): its invariants on
random Aave and Morpho loops, re-checked step by step on the exact engines; the closed form of a
one-collateral loop; and the on-chain config and CLI of P(HF < 1) and ``prefer: unwind`` (the
chain itself: tests/evm/test_onchain_unwind.py and tests/evm/test_onchain_guardian_risk.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.core.defi.aave import AaveError, AaveReserve, get_user_account_data, validate_hf_and_ltv
from levguard.core.defi.morpho import ORACLE_PRICE_SCALE, Market, Position
from levguard.defi.morpho import health_factor
from levguard.defi.morpho import repay as morpho_repay
from levguard.defi.onchain import HfForecasts, unwind_plan
from levguard.errors import InputError
from levguard.live.onchain import HealthRules
from levguard.live.onchain_unwind import UnwindParams, UnwindPlan
from levguard.venues.onchain_read import AaveRead, MorphoRead

WAD = 10**18
ADDR = "0x" + "11" * 20
runner = CliRunner()


def aave_read(reserves: tuple[AaveReserve, ...], balances: dict[str, int] | None = None) -> AaveRead:
    return AaveRead(
        wallet=ADDR, payer=ADDR, pool=ADDR, oracle=ADDR, block_number=1, block_timestamp=1, read_ns=0,
        version="3.0", reserves=reserves, emode=None, emode_id=0, chain_health_factor=0,
        chain_total_collateral_base=0, chain_total_debt_base=0, assets={r.symbol: ADDR for r in reserves},
        oracles=(), balances=balances or {}, allowances={},
    )  # fmt: skip


def morpho_read(collateral: int, borrowed: int, price: int, lltv: int, balance: int = 0) -> MorphoRead:
    # A market whose only borrower is this position, shares at the initial 1e6 per asset.
    market = Market(10**15, 10**15 * 10**6, borrowed, borrowed * 10**6)
    return MorphoRead(
        wallet=ADDR, payer=ADDR, morpho=ADDR, market_id="0x" + "ab" * 32,
        market_params=(ADDR, ADDR, ADDR, ADDR, lltv), block_number=1, block_timestamp=1, read_ns=0,
        market=market, market_stored=market, last_update=1, fee=0, position=Position(borrowed * 10**6, collateral),
        supply_shares=0, oracle_price=price, lltv=lltv, loan_symbol="USDC", collateral_symbol="WETH",
        loan_decimals=6, collateral_decimals=18, oracles=(), balances={"USDC": balance, "WETH": 0}, allowances={},
    )  # fmt: skip


def weth_usdc(collateral: int, debt: int, weth_usd: int) -> tuple[AaveReserve, ...]:
    return (
        AaveReserve("WETH", weth_usd * 10**8, 18, 8000, 8250, collateral=collateral, liquidation_bonus=10500),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=debt, liquidation_bonus=10450),
    )


# --- invariants ------------------------------------------------------------------------------------------


def _withdrawn(c: int, w: int) -> int:
    # The collateral after withdrawing w with the index unknown (v3.0): a unit under c - w.
    return c if w == 0 else 0 if w >= c else max(0, c - w - 1)


def _repaid(d: int, r: int) -> int:
    # The debt after repaying r with the index unknown (v3.0): a unit over d - r, 0 once all is.
    return d if r == 0 else 0 if r >= d else d - r + 1


def replay(read: AaveRead | MorphoRead, plan: UnwindPlan, params: UnwindParams) -> None:
    """Re-run the plan on the exact engines and check every invariant of its rounds."""
    target = int(Fraction(str(params.target_hf)) * WAD)
    floor = int(Fraction(str(params.floor_hf)) * WAD)
    out = Fraction(plan.out_num, plan.out_den)
    if isinstance(read, AaveRead):
        state: Any = read.reserves

        def hf(s: Any) -> int:
            return get_user_account_data(s, None, "3.0").health_factor

        # The read holds no index (RAY): the aToken's and the debt token's scaled burns may leave a
        # unit less collateral and a unit more debt (v3.0, rayDiv then rayMul), the plan's margin.
        def withdraw(s: Any, w: int) -> Any:
            return tuple(replace(r, collateral=_withdrawn(r.collateral, w)) if r.symbol == plan.collateral else r
                         for r in s)  # fmt: skip

        def repay(s: Any, r: int) -> Any:
            return tuple(replace(x, debt=_repaid(x.debt, r)) if x.symbol == plan.debt else x for x in s)

        x, y = (next(r for r in read.reserves if r.symbol == k) for k in (plan.collateral, plan.debt))
        rate = Fraction(x.price * 10**y.decimals, y.price * 10**x.decimals)
    else:
        state = (read.market, read.position)

        def hf(s: Any) -> int:
            return health_factor(s[0], s[1], read.lltv, read.oracle_price)

        def withdraw(s: Any, w: int) -> Any:
            return s[0], Position(s[1].borrow_shares, s[1].collateral - w)

        def repay(s: Any, r: int) -> Any:
            res = morpho_repay(s[0], s[1], assets=r) if r else None
            return (res.market, res.position) if res else s

        rate = Fraction(read.oracle_price, ORACLE_PRICE_SCALE)
    assert out == rate * (1 - Fraction(str(params.max_slippage)))
    assert plan.health_factor == hf(state)
    state = repay(state, plan.repay_first)
    assert len(plan.rounds) <= params.rounds
    prev = state
    for r in plan.rounds:
        prev = state
        h = hf(state)
        assert r.health_factor_before == h
        mid = withdraw(state, r.withdraw)
        assert r.health_factor_after_withdraw == hf(mid)
        # The intermediate state: above the floor, which is between 1 and the health factor before.
        assert hf(mid) >= min(floor, WAD + (h - WAD) // 2) > WAD
        assert r.min_out == r.withdraw * out.numerator // out.denominator
        assert r.repay <= r.min_out
        state = repay(mid, r.repay)
        assert r.health_factor_after == hf(state) > h  # every round raises the health factor
    assert plan.health_factor_after == hf(state)
    assert plan.reaches_target == (hf(state) >= target)
    if not plan.reaches_target:
        assert plan.reason
    elif plan.rounds and plan.rounds[-1].repay == plan.rounds[-1].min_out and plan.rounds[-1].withdraw > 1:
        # The last round withdraws the least that reaches the target: one unit less does not.
        w = plan.rounds[-1].withdraw - 1
        assert hf(repay(withdraw(prev, w), w * out.numerator // out.denominator)) < target


params_st = st.builds(
    UnwindParams,
    target_hf=st.sampled_from([1.25, 1.35, 1.5, 2.0]),
    floor_hf=st.sampled_from([1.01, 1.05, 1.1, 1.2]),
    max_slippage=st.sampled_from([0.0, 0.003, 0.01, 0.03]),
    rounds=st.integers(1, 8),
    use_wallet=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(
    coll=st.integers(1, 500),
    hf=st.floats(1.005, 1.6),
    weth=st.integers(500, 6_000),
    wallet=st.integers(0, 5_000),
    params=params_st,
)
def test_aave_plans_keep_every_intermediate_state_above_the_floor(
    coll: int, hf: float, weth: int, wallet: int, params: UnwindParams
) -> None:
    debt = int(coll * weth * 0.825 / hf * 10**6)
    read = aave_read(weth_usdc(coll * WAD, debt, weth), {"USDC": wallet * 10**6})
    plan = unwind_plan(read, params)
    assert (plan.collateral, plan.debt) == ("WETH", "USDC")
    replay(read, plan, params)
    # A sale resumed on this read is priced as the plan's own (one formula, UnwindPlan.sale_rates).
    assert all(plan.sale_min_out("WETH", "USDC", r.withdraw) == r.min_out for r in plan.rounds)


@settings(max_examples=60, deadline=None)
@given(
    coll=st.integers(1, 500),
    hf=st.floats(1.005, 1.6),
    weth=st.integers(500, 6_000),
    lltv=st.sampled_from([77, 86, 915, 945]),
    wallet=st.integers(0, 5_000),
    params=params_st,
)
def test_morpho_plans_keep_every_intermediate_state_above_the_floor(
    coll: int, hf: float, weth: int, lltv: int, wallet: int, params: UnwindParams
) -> None:
    lltv_wad = lltv * 10**16 if lltv < 100 else lltv * 10**15
    price = weth * 10**6 * ORACLE_PRICE_SCALE // 10**18
    borrowed = int(coll * weth * lltv_wad / WAD / hf * 10**6)
    read = morpho_read(coll * WAD, borrowed, price, lltv_wad, wallet * 10**6)
    plan = unwind_plan(read, params)
    assert (plan.collateral, plan.debt) == ("WETH", "USDC")
    replay(read, plan, params)
    # A sale resumed on this read is priced as the plan's own (one formula, UnwindPlan.sale_rates).
    assert all(plan.sale_min_out("WETH", "USDC", r.withdraw) == r.min_out for r in plan.rounds)


def test_two_collaterals_sell_the_largest_and_keep_the_floor() -> None:
    rows = (
        AaveReserve("WETH", 3_000 * 10**8, 18, 8000, 8250, collateral=10 * WAD, liquidation_bonus=10500),
        AaveReserve("WBTC", 60_000 * 10**8, 8, 7000, 7500, collateral=10**8, liquidation_bonus=10650),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=26_000 * 10**6, liquidation_bonus=10450),
    )
    read = aave_read(rows)
    params = UnwindParams(1.35, 1.05, 0.01, 8)
    plan = unwind_plan(read, params)
    assert plan.collateral == "WBTC"  # 60,000 USD of WBTC against 30,000 of WETH
    # The other collateral's sale (a step left open on it) is priced at its own oracle price.
    assert plan.sale_min_out("WETH", "USDC", WAD) == 2_970 * 10**6
    assert plan.sale_min_out("WBTC", "USDC", 10**8) == 59_400 * 10**6
    assert plan.sale_min_out("DAI", "USDC", WAD) is None  # not in the read: unpriced
    assert plan.reaches_target
    replay(read, plan, params)


def _with_ltv0(old: int, old_ltv: int, debt: int) -> tuple[AaveReserve, ...]:
    # WETH (LTV 80 %) and OLD, an offboarded collateral whose LTV governance may set to 0 (its
    # threshold kept: it still counts in the health factor), USDC borrowed.
    return (
        AaveReserve("WETH", 2_000 * 10**8, 18, 8000, 8250, collateral=10 * WAD, liquidation_bonus=10500),
        AaveReserve("OLD", 10**8, 18, old_ltv, 7000, collateral=old * WAD, liquidation_bonus=11000),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=debt * 10**6, liquidation_bonus=10450),
    )


def _accepted(read: AaveRead, plan: UnwindPlan) -> None:
    # Every planned withdrawal passes ValidationLogic.validateHFAndLtv on the state after it.
    state = read.reserves
    for r in plan.rounds:
        state = tuple(replace(q, collateral=_withdrawn(q.collateral, r.withdraw)) if q.symbol == plan.collateral
                      else q for q in state)  # fmt: skip
        validate_hf_and_ltv(state, plan.collateral, None, "3.0")
        state = tuple(replace(q, debt=_repaid(q.debt, r.repay)) if q.symbol == plan.debt else q for q in state)


def test_with_an_ltv0_collateral_held_only_ltv0_collateral_is_withdrawn() -> None:
    # Aave refuses an LTV > 0 withdrawal while an LTV-0 collateral is held (LTV_VALIDATION_FAILED,
    # 57): the largest collateral (WETH, 20,000 USD against 1,000 of OLD) cannot be sold first.
    read = aave_read(_with_ltv0(1_000, 0, 15_500))
    params = UnwindParams(1.35, 1.05, 0.01, 4)
    plan = unwind_plan(read, params)
    assert plan.collateral == "OLD"
    assert plan.rounds[0].withdraw == 1_000 * WAD  # all of it: then WETH may leave (a fresh read)
    assert "all the OLD is withdrawn" in plan.reason
    _accepted(read, plan)
    replay(read, plan, params)
    with pytest.raises(AaveError, match="LTV_VALIDATION_FAILED"):
        validate_hf_and_ltv(
            tuple(replace(q, collateral=q.collateral - WAD) if q.symbol == "WETH" else q for q in read.reserves),
            "WETH", None, "3.0",
        )  # fmt: skip


def test_no_withdrawal_the_pool_accepts_is_an_empty_plan() -> None:
    # The LTV-0 collateral cannot leave (paused), the others may not while it is held.
    read = replace(aave_read(_with_ltv0(1_000, 0, 15_500)), paused=("OLD",))
    plan = unwind_plan(read, UnwindParams(1.35, 1.05, 0.01, 4))
    assert (plan.rounds, plan.repay_first, plan.collateral) == ((), 0, "")
    assert "LTV_VALIDATION_FAILED" in plan.reason
    assert plan.repay_caps == {"USDC": 15_500 * 10**6}  # an open step's repayment is still sized


def test_the_repay_caps_are_every_debt_the_protocol_lets_repay() -> None:
    dai = AaveReserve("DAI", 10**8, 18, 7500, 8000, debt=100 * WAD, liquidation_bonus=10500)
    read = aave_read((*weth_usdc(10 * WAD, 21_500 * 10**6, 3_000), dai))
    plan = unwind_plan(read, UnwindParams(1.35, 1.05, 0.01, 4))
    assert plan.debt == "USDC"
    assert plan.repay_caps == {"USDC": 21_500 * 10**6, "DAI": 100 * WAD}
    assert plan.to_dict()["repay_caps"] == {"USDC": 21_500 * 10**6, "DAI": 100 * WAD}
    assert unwind_plan(replace(read, paused=("DAI",)), UnwindParams(1.35, 1.05, 0.01, 4)).repay_caps == {
        "USDC": 21_500 * 10**6
    }
    morpho = morpho_read(10 * WAD, 21_500 * 10**6, 3_000 * 10**6 * ORACLE_PRICE_SCALE // 10**18, 86 * 10**16)
    m = unwind_plan(morpho, UnwindParams(1.35, 1.05, 0.01, 4))
    assert m.repay_caps == {"USDC": m.repay_cap}
    assert 0 < m.repay_cap <= 21_500 * 10**6


@settings(max_examples=40, deadline=None)
@given(
    old=st.integers(1, 20_000),
    old_ltv=st.sampled_from([0, 6500]),
    hf=st.floats(1.01, 1.5),
    params=params_st,
)
def test_every_planned_withdrawal_is_one_the_pool_accepts(
    old: int, old_ltv: int, hf: float, params: UnwindParams
) -> None:
    debt = int((20_000 * 0.825 + old * 0.7) / hf)
    read = aave_read(_with_ltv0(old, old_ltv, debt))
    plan = unwind_plan(read, params)
    if old_ltv == 0:
        assert plan.collateral == "OLD"
    _accepted(read, plan)
    replay(read, plan, params)


@pytest.mark.parametrize(
    ("prefer", "paused", "frozen", "expected"),
    [
        ("repay", ("USDC",), (), ("supply", "WETH")),  # Pool.repay: RESERVE_PAUSED
        ("supply", (), ("WETH",), ("repay", "USDC")),  # Pool.supply: RESERVE_FROZEN
        ("repay", (), ("USDC", "WETH"), ("repay", "USDC")),  # a frozen reserve is still repaid
        ("repay", ("USDC", "WETH"), (), None),
    ],
)
def test_the_fallback_leaves_out_the_reserves_the_pool_refuses(
    prefer: str, paused: tuple[str, ...], frozen: tuple[str, ...], expected: tuple[str, str] | None
) -> None:
    from types import SimpleNamespace

    from levguard.defi.onchain import assess
    from levguard.live.onchain_tx import plan

    read = aave_read(weth_usdc(10 * WAD, 17_000 * 10**6, 2_000), {"USDC": 5_000 * 10**6, "WETH": 5 * WAD})
    read = replace(read, paused=paused, frozen=frozen)  # HF 0.9706
    setup = SimpleNamespace(rules=HealthRules(prefer=prefer), max_order_notional=100_000.0)
    chosen = plan(setup, read, assess(read, 1.35))  # type: ignore[arg-type]
    assert (chosen[:2] if chosen else None) == expected


def test_the_assessment_gives_no_amount_the_pool_refuses_and_says_why() -> None:
    from levguard.defi.onchain import assess

    read = aave_read(weth_usdc(10 * WAD, 17_000 * 10**6, 2_000))  # HF 0.9706
    free = {x.symbol: x for x in assess(read, 1.35).assets}
    assert free["USDC"].repay_to_target is not None
    assert free["WETH"].supply_to_target is not None
    paused = {x.symbol: x for x in assess(replace(read, paused=("USDC",), frozen=("WETH",)), 1.35).assets}
    assert paused["USDC"].repay_to_target is None  # was 4,777.78 USDC, which Pool.repay reverts
    assert "paused" in paused["USDC"].note
    assert paused["WETH"].supply_to_target is None  # was 3.909 WETH, which Pool.supply reverts
    assert "frozen" in paused["WETH"].note
    assert paused["WETH"].liquidation_price == free["WETH"].liquidation_price
    weth = {x.symbol: x for x in assess(replace(read, paused=("WETH",)), 1.35).assets}["WETH"]
    assert (weth.supply_to_target, "paused" in weth.note) == (None, True)


# --- the closed form ---------------------------------------------------------------------------------------


def test_one_round_withdraws_what_the_closed_form_says() -> None:
    # One collateral at threshold LT, debt D, collateral value C, a sale at the oracle less f:
    # HF' = LT (C - w) / (D - w (1 - f)) reaches T at w = (T D - LT C) / (T (1 - f) - LT)
    # (levguard.defi.loops Notes: the same step as the loop's, run backwards).
    c, d, lt, t, f = 30_000.0, 19_500.0, 0.825, 1.35, 0.01
    read = aave_read(weth_usdc(10 * WAD, int(d * 10**6), 3_000))
    plan = unwind_plan(read, UnwindParams(t, 1.0001, f, 1))
    (r,) = plan.rounds
    w_usd = (t * d - lt * c) / (t * (1 - f) - lt)
    # The plan keeps a unit of margin on each token's rounding (the read holds no index).
    assert r.withdraw / 1e18 * 3_000 == pytest.approx(w_usd, rel=1e-8)
    assert plan.reaches_target
    assert r.health_factor_after_withdraw / WAD == pytest.approx(lt * (c - w_usd) / d, rel=1e-9)


def test_the_floor_splits_the_unwind_into_rounds_and_the_limit_stops_it() -> None:
    read = aave_read(weth_usdc(10 * WAD, 21_500 * 10**6, 3_000))  # HF 1.151
    many = unwind_plan(read, UnwindParams(1.35, 1.05, 0.01, 8))
    assert len(many.rounds) >= 2
    assert many.reaches_target
    one = unwind_plan(read, UnwindParams(1.35, 1.05, 0.01, 1))
    assert len(one.rounds) == 1
    assert not one.reaches_target
    assert "more than 1 round" in one.reason
    assert one.rounds[0] == many.rounds[0]


def test_the_wallets_debt_token_is_repaid_first() -> None:
    read = aave_read(weth_usdc(10 * WAD, 21_500 * 10**6, 3_000), {"USDC": 100_000 * 10**6})
    plan = unwind_plan(read, UnwindParams(1.35, 1.05, 0.01, 4))
    assert plan.rounds == ()
    assert plan.reaches_target
    assert 0 < plan.repay_first < 100_000 * 10**6  # the least reaching the target
    assert unwind_plan(read, UnwindParams(1.35, 1.05, 0.01, 4, use_wallet=False)).repay_first == 0


@pytest.mark.parametrize(
    ("read", "reason"),
    [
        (aave_read((AaveReserve("WETH", 3_000 * 10**8, 18, 8000, 8250, collateral=WAD, liquidation_bonus=10500),)),
         "no debt"),
        (aave_read((AaveReserve("USDC", 10**8, 6, 7700, 8000, collateral=10**9, debt=10**8,
                                liquidation_bonus=10450),)), "no collateral"),
        (morpho_read(10 * WAD, 26_000 * 10**6, 3_000 * 10**6 * ORACLE_PRICE_SCALE // 10**18, 86 * 10**16),
         "at or below 1"),
    ],
)  # fmt: skip
def test_no_unwind_without_a_loop_says_why(read: Any, reason: str) -> None:
    plan = unwind_plan(read, UnwindParams(1.35, 1.05, 0.01, 4))
    assert plan.rounds == ()
    assert reason in plan.reason


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((1.35, 1.05, 0.01, "4"), "rounds"),  # TypeError '>=' before
        ((1.35, 1.05, 0.01, None), "rounds"),
        ((1.35, 1.05, 0.01, 2.5), "rounds"),  # ran 3 rounds
        ((1.35, 1.05, 0.01, 0), "rounds"),
        ((1.35, 1.05, 0.01, True), "rounds"),
        ((1.35, 1.05, "abc", 4), "max_slippage"),  # ValueError of Fraction before
        ((1.35, 1.05, math.nan, 4), "max_slippage"),
        ((1.35, 1.05, 1.0, 4), "max_slippage"),
        ((1.35, 1.05, -0.01, 4), "max_slippage"),
        ((1.35, 1.05, 0.01, 4, "no"), "use_wallet"),  # read as true
        ((math.inf, 1.05, 0.01, 4), "target_hf"),
        (("1.35", 1.05, 0.01, 4), "target_hf"),
        ((0.0, 1.05, 0.01, 4), "target_hf"),
        ((1.35, math.nan, 0.01, 4), "floor_hf"),
        ((1.35, 1.0, 0.01, 4), "floor_hf"),
    ],
)
def test_unwind_params_name_the_bad_field(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(InputError, match=f"^{field} must"):
        UnwindParams(*args)


def test_bad_parameters_are_refused() -> None:
    read = aave_read(weth_usdc(10 * WAD, 21_500 * 10**6, 3_000))
    with pytest.raises(InputError, match="floor_hf"):
        unwind_plan(read, UnwindParams(1.35, 1.0, 0.01, 4))
    with pytest.raises(InputError, match="target_hf"):
        unwind_plan(read, UnwindParams(-1.0, 1.05, 0.01, 4))
    for bad in ({"unwind_min_hf": 1.0}, {"unwind_rounds": 0}, {"max_slippage": 0.6}, {"prefer": "sell"}):
        with pytest.raises(InputError):
            HealthRules(**bad)  # type: ignore[arg-type]


# --- P(HF < 1) without bars that fit -------------------------------------------------------------------------


def test_the_forecaster_refuses_a_bad_model_and_says_why_it_has_no_number() -> None:
    with pytest.raises(InputError, match="model"):
        HfForecasts({}, model="garch")
    read = aave_read(weth_usdc(10 * WAD, 21_500 * 10**6, 3_000))
    from levguard.defi.onchain import assess

    a = assess(read, 1.35)
    got = HfForecasts({"WETH": pd.DataFrame({"high": [1.0], "low": [1.0], "close": [1.0]},
                                            index=pd.DatetimeIndex(["2024-01-01"], tz="UTC"))})(read, a, 1.0, 0.05)  # fmt: skip
    assert math.isnan(got.probability)
    assert got.source.startswith("none: ")
    no_debt = aave_read(weth_usdc(10 * WAD, 0, 3_000)[:1])
    assert HfForecasts({})(no_debt, assess(no_debt, 1.35), 1.0, 0.05).probability == 0.0


# --- config and CLI -------------------------------------------------------------------------------------------


def config(tmp_path: Path, **account: Any) -> Path:
    venue = {"type": "onchain", "protocol": "aave-v3", "rpc_url": "http://127.0.0.1:9", "pool": ADDR,
             "wallet": ADDR, "read_timeout_s": 5}  # fmt: skip
    venue.update(account.pop("venue", {}))
    acc = {"name": "aave", "venue": venue, "retries": 0, "backoff_s": 0, **account}
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump({"database": f"sqlite:///{tmp_path / 'g.db'}", "alerts": {"log": False},
                                    "accounts": [acc]}))  # fmt: skip
    return path


def test_the_cli_builds_the_forecaster_and_the_unwind_from_the_config(tmp_path: Path) -> None:
    from levguard.cli.guard import build
    from levguard.config.guardian import load_guardian_file
    from levguard.venues.onchain_swap import ContractSwapper

    idx = pd.date_range("2024-01-01", periods=48, freq="1h", tz="UTC")
    close = 3_000 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 48)))
    pd.DataFrame({"timestamp": idx, "open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                  "volume": 1.0}).to_csv(tmp_path / "eth.csv", index=False)  # fmt: skip
    path = config(
        tmp_path,
        venue={"swapper": "0x" + "22" * 20},
        history={"WETH": str(tmp_path / "eth.csv")},
        horizon_days=3,
        actions={"prefer": "unwind", "unwind_min_health_factor": 1.08, "unwind_rounds": 3, "max_slippage_bps": 50},
    )
    guardian, _ = build(load_guardian_file(path), live=False)
    (setup,) = guardian.accounts
    assert isinstance(setup.p_hf_below_one, HfForecasts)
    assert setup.p_hf_below_one.frames(["weth"])["weth"].shape[0] == 48
    assert setup.unwind is unwind_plan
    assert isinstance(setup.venue.swapper, ContractSwapper)
    assert (setup.rules.prefer, setup.rules.unwind_min_hf, setup.rules.unwind_rounds) == ("unwind", 1.08, 3)
    assert setup.rules.max_slippage == pytest.approx(0.005)
    guardian.close()


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ({"actions": {"prefer": "unwind"}}, "needs a swapper"),
        ({"history": "eth.csv"}, "maps each asset"),
        ({"venue": {"swapper": "0x12"}}, "swapper address"),
        ({"actions": {"unwind_min_health_factor": 1.0}}, "unwind_min_health_factor"),
    ],
)
def test_a_bad_unwind_or_history_is_one_line_exit_2(tmp_path: Path, account: dict[str, Any], message: str) -> None:
    if account.get("history") == "eth.csv":
        pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC"), "open": 1.0,
                      "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}).to_csv(tmp_path / "eth.csv", index=False)  # fmt: skip
        account = {"history": str(tmp_path / "eth.csv")}
    res = runner.invoke(app, ["guard", str(config(tmp_path, **account)), "--max-cycles", "1"])
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_the_table_shows_p_and_the_unwind() -> None:
    import io

    from rich.console import Console

    from levguard.cli.guard import _table

    view = {"symbol": "aave-v3 WETH/USDC", "qty": 19.0, "mark": 2_280.0, "liquidation_price": 1_874.0,
            "distance": 0.178, "p_liq": 0.128, "state": "ACT", "health_factor": 1.216, "target_hf": 1.35,
            "action": {"side": "unwind", "qty": 2.5, "dry_run": True}}  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=200).print(_table([{"account": "aave", "positions": [view]}], "t"))
    assert "12.8%" in out.getvalue()
    assert "would unwind 2.5" in out.getvalue()


def test_amounts_too_small_to_burn_a_scaled_unit_do_not_stop_the_plan() -> None:
    """A review (2026-12-07): with the indexes known, a 1-unit withdrawal at a liquidity index of
    2.5 ray (3.3: rayDiv half up burns 0 scaled units) and a 1-unit wallet repayment at a borrow
    index of 1.05 ray (3.5: rayDivFloor burns 0) raised INVALID_BURN_AMOUNT from unwind_plan
    instead of planning."""
    from levguard.defi.aave import RAY

    params = UnwindParams(target_hf=1.25, floor_hf=1.005, max_slippage=0.01, rounds=5, use_wallet=True)
    # 3.3, a WETH row at liquidity index 2.5 ray: the LTV probe's least withdrawal burns nothing.
    index = 25 * RAY // 10
    coll = (10**18 * index + RAY // 2) // RAY
    rows = (
        AaveReserve(
            "WETH", 2000 * 10**8, 18, 7700, 8000, collateral=coll, liquidation_bonus=10500, liquidity_index=index
        ),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=int(coll * 2000 * 0.8 / 1.05 / 10**12), liquidation_bonus=10450),
    )
    plan = unwind_plan(replace(aave_read(rows), version="3.3"), params)
    assert plan.rounds
    # 3.5, a USDC debt at borrow index 1.05 ray and 1 unit of USDC in the wallet.
    borrow_index = 105 * RAY // 100
    scaled = int(10**21 * 2000 * 0.8 / 1.05 / 10**12) * RAY // borrow_index
    rows = (
        AaveReserve("WETH", 2000 * 10**8, 18, 7700, 8000, collateral=10**21, liquidation_bonus=10500),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=-(-scaled * borrow_index // RAY), liquidation_bonus=10450,
                    variable_borrow_index=borrow_index, balance_rounding="directed"),
    )  # fmt: skip
    with_dust = unwind_plan(replace(aave_read(rows, {"USDC": 1}), version="3.5"), params)
    without = unwind_plan(replace(aave_read(rows), version="3.5"), params)
    assert len(with_dust.rounds) == len(without.rounds) > 0
