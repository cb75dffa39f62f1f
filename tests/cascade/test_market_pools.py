"""Lending pools as venues of the market simulator (v2): the liquidation test of the v2 kernel
(``E <= MM`` with ``mmr = 1 - LT``) crosses at the price where the exact Aave v3 and Morpho Blue
engines' health factor crosses 1, and the pool venue's construction and bad input."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levguard.cascade import Market
from levguard.cascade.market import Arbitrage, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_pools import (
    LendingPoolVenue,
    borrowers_from_positions,
    health_factors,
    is_pool,
    lending_borrowers,
    lending_pool_venue,
    morpho_bonus,
    pool_indices,
    random_borrowers,
)
from levguard.defi import aave, morpho
from levguard.defi.positions import AavePosition, MorphoPosition, load_position
from levguard.errors import InputError

DEEP = Market(depth=1e13, half_life_steps=0.0)  # fills at the mark: the test is about the trigger
TOL = 1e-9  # relative band around the engines' crossing price, plus the contracts' own rounding:


def _tol(unit: float, debt: float) -> float:
    # The engines floor the collateral's value to one smallest unit of the debt's currency
    # (Aave: 1e-8 USD, Morpho: one loan-token unit), a relative error of up to unit / debt.
    return TOL + 2.0 * unit / debt


def _liquidated(pool: LendingPoolVenue, pop: Any, p0: float, p1: float) -> bool:
    # One step from p0 to p1 in a market of the pool alone: was the account liquidated?
    spec = MarketSpec([pool.name], [pool])
    res = simulate_market(pop, [p0, p1], spec)
    return bool(res.out.accounts.status[0] != 0)


def _crossing(liquidatable: Any, hi: int) -> int:
    # Largest integer price in [1, hi) at which `liquidatable` holds (it holds at 1, not at hi).
    lo = 1
    assert liquidatable(lo)
    assert not liquidatable(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if liquidatable(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _aave_spec(lt_bps: int, bonus_bps: int, weth: Decimal, price_cents: int, debt: Decimal) -> dict[str, Any]:
    return {
        "protocol": "aave-v3",
        "version": "3.3",
        "reserves": [
            {"symbol": "WETH", "price_usd": str(Decimal(price_cents) / 100), "decimals": 18, "ltv": str(Decimal(lt_bps - 200) / 10**4),
             "lt": str(Decimal(lt_bps) / 10**4), "bonus": str(Decimal(bonus_bps) / 10**4), "collateral": str(weth), "debt": 0},
            {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
             "collateral": 0, "debt": str(debt)},
        ],
    }  # fmt: skip


def _aave_pool(pos: AavePosition) -> LendingPoolVenue:
    w = pos.reserve("WETH")
    return lending_pool_venue("WETH", ["WETH"], lt=w.lt / 1e4, bonus=(w.liquidation_bonus - 10_000) / 1e4, books=DEEP)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lt_bps=st.integers(5_000, 9_300),
    bonus_bps=st.integers(100, 700),
    weth_micro=st.integers(500_000, 500_000_000),  # 0.5 to 500 WETH in 1e-6 steps
    price_cents=st.integers(50_000, 1_000_000),  # 500 to 10,000 USD
    hf=st.floats(1.01, 3.0),
)
def test_aave_crossing_matches_get_user_account_data(
    lt_bps: int, bonus_bps: int, weth_micro: int, price_cents: int, hf: float
) -> None:
    weth = Decimal(weth_micro) / 10**6
    value = float(weth) * price_cents / 100
    debt = Decimal(round(value * lt_bps / 1e4 / hf, 6)).quantize(Decimal("0.000001"))
    spec = _aave_spec(lt_bps, bonus_bps, weth, price_cents, debt)
    pos = load_position(spec)
    assert isinstance(pos, AavePosition)
    pool = _aave_pool(pos)
    pop = borrowers_from_positions([pos], pool, ["WETH"], venue=0)
    rows = list(pos.reserves)
    w = pos.reserve("WETH")

    def engine_liquidatable(price: int) -> bool:
        moved = [r if r.symbol != "WETH" else replace(r, price=price) for r in rows]
        data = aave.get_user_account_data(moved, None, "3.3")
        return data.health_factor < aave.HEALTH_FACTOR_LIQUIDATION_THRESHOLD

    p_liq = _crossing(engine_liquidatable, w.price)
    p0 = w.price / 1e8
    tol = _tol(1e-8, float(debt))
    below, above = p_liq / 1e8 * (1.0 - tol), (p_liq + 1) / 1e8 * (1.0 + tol)
    assert _liquidated(pool, pop, p0, below)
    assert not _liquidated(pool, pop, p0, above)
    # The health factor helper at the start agrees with the engine's.
    engine_hf = aave.get_user_account_data(rows, None, "3.3").health_factor / 1e18
    spec_v = MarketSpec(["WETH"], [pool])
    assert health_factors(pop, spec_v, [p0])[0] == pytest.approx(engine_hf, rel=1e-9)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lltv=st.sampled_from(["0.77", "0.86", "0.915", "0.945", "0.965"]),
    weth_micro=st.integers(500_000, 500_000_000),
    price_cents=st.integers(50_000, 1_000_000),
    hf=st.floats(1.01, 3.0),
)
def test_morpho_crossing_matches_is_healthy(lltv: str, weth_micro: int, price_cents: int, hf: float) -> None:
    weth = Decimal(weth_micro) / 10**6
    value = float(weth) * price_cents / 100
    borrow = Decimal(round(value * float(lltv) / hf, 6)).quantize(Decimal("0.000001"))
    spec = {
        "protocol": "morpho-blue", "collateral_symbol": "WETH", "loan_symbol": "USDC", "collateral_decimals": 18,
        "loan_decimals": 6, "lltv": lltv, "collateral": str(weth), "borrow": str(borrow),
        "collateral_price": str(Decimal(price_cents) / 100), "loan_price": 1,
    }  # fmt: skip
    pos = load_position(spec)
    assert isinstance(pos, MorphoPosition)
    lt = pos.lltv / 1e18
    pool = lending_pool_venue("morpho", ["WETH"], lt=lt, bonus=morpho_bonus(lt), close_factor=1.0, books=DEEP)
    pop = borrowers_from_positions([pos], pool, ["WETH"], venue=0)

    def engine_liquidatable(price: int) -> bool:
        return not morpho.is_healthy(pos.market, pos.position, pos.lltv, price)

    p_liq = _crossing(engine_liquidatable, pos.oracle_price)
    scale = pos.price_scale
    p0 = pos.oracle_price / scale
    tol = _tol(1e-6, float(borrow))
    assert _liquidated(pool, pop, p0, p_liq / scale * (1.0 - tol))
    assert not _liquidated(pool, pop, p0, (p_liq + 1) / scale * (1.0 + tol))


def test_morpho_bonus_is_the_contracts_lif() -> None:
    # LIF = min(1.15, 1 / (0.3 (1 - LLTV) + 0.7)): 0.86 -> 1.0438..., 0.5 -> 1.15 (the cap).
    assert morpho_bonus(0.86) == pytest.approx(1.0 / (1.0 - 0.3 * 0.14) - 1.0, rel=1e-15)
    assert morpho_bonus(0.5) == pytest.approx(0.15, rel=1e-15)


def test_pool_venue_mapping() -> None:
    pool = lending_pool_venue(
        "aave", ["BTC", "ETH", "DOGE"], lt={"BTC": 0.78, "ETH": 0.83}, bonus=0.05, close_factor=0.5,
        oracle_lag_steps=2, books=[DEEP, DEEP, DEEP], full_close_below=2_000 / 0.83,
    )  # fmt: skip
    assert is_pool(pool)
    assert isinstance(pool, MarketVenue)
    assert pool.tier_rows(0)[0, 1] == pytest.approx(0.22)
    assert pool.tier_rows(1)[0, 1] == pytest.approx(0.17)
    reg = pool.regime
    assert reg.liquidation_fee == pytest.approx(0.05 / 1.05)
    assert reg.partial == pytest.approx(0.5 * 1.05 * 0.83)
    assert reg.outcome == "book"
    assert reg.partial_min_notional == pytest.approx(2_000 / 0.83)
    s = pool.settings
    assert s.insurance_fund == 0.0
    assert not s.adl
    assert s.mark_lag_steps == 2
    cex = MarketVenue("cex", DEEP)
    spec = MarketSpec(["BTC", "ETH", "DOGE"], [cex, pool], Arbitrage(0.5))
    assert pool_indices(spec) == (1,)
    assert not is_pool(cex)


def test_partial_slice_equals_aave_liquidation_at_the_mark() -> None:
    # A v2 partial close at a fill equal to the oracle price leaves the borrower with the
    # equity and collateral an Aave liquidation of the close factor leaves (bonus b X).
    c, p0, lt, b = 10.0, 3_000.0, 0.83, 0.05
    debt = c * p0 * lt / 1.2
    p1 = debt / (c * lt) * 0.999  # HF = 0.999
    # The default slice is the share seized at HF = 1; here the one at HF = 0.999.
    frac = 0.5 * (1 + b) * lt / 0.999
    pool = lending_pool_venue(
        "aave", ["ETH"], lt=lt, bonus=b, close_factor=0.5, books=DEEP, max_rounds=1, slice_fraction=frac
    )
    pop = lending_borrowers([[c]], [debt], [p0], venue=0)
    res = simulate_market(pop, [p0, p1], MarketSpec(["ETH"], [pool]))
    fin = res.out.accounts
    x = 0.5 * debt  # Aave: half the debt repaid, X (1 + b) / P seized
    seized = x * (1 + b) / p1
    assert fin.qty[0, 0] == pytest.approx(c - seized, rel=1e-9)
    equity_v2 = fin.wallet[0] + fin.qty[0, 0] * (p1 - p0)
    equity_aave = (c - seized) * p1 - (debt - x)
    assert equity_v2 == pytest.approx(equity_aave, rel=1e-8)


def test_random_borrowers_hf_distribution() -> None:
    pool = lending_pool_venue("p", ["BTC", "ETH"], lt=[0.78, None], bonus=0.05, books=DEEP)
    pop = random_borrowers(500, [60_000.0, 3_000.0], pool, venue=0, hf=(1.1, 2.0), seed=3)
    hf = health_factors(pop, MarketSpec(["BTC", "ETH"], [pool]), [60_000.0, 3_000.0])
    assert np.all(hf >= 1.1 - 1e-12)
    assert np.all(hf <= 2.0 + 1e-12)
    assert np.all(np.asarray(pop.qty)[:, 1] == 0.0)  # ETH is not a collateral of this pool


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lt": 0.4}, "lt\\[ETH\\] must be in \\[0.5, 1\\)"),
        ({"lt": 1.0}, "lt\\[ETH\\] must be in"),
        ({"bonus": 0.2}, "bonus must be <= 1/9"),
        ({"close_factor": 0.0}, "close_factor"),
        ({"oracle_lag_steps": -1}, "oracle_lag_steps"),
        ({"books": None}, "books must be given"),
        ({"lt": {"XRP": 0.8}}, "unknown assets"),
    ],
)
def test_pool_venue_bad_input(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"lt": 0.8, "bonus": 0.05, "books": DEEP} | kwargs
    with pytest.raises(InputError, match=match):
        lending_pool_venue("p", ["ETH"], **args)


def test_borrowers_bad_input() -> None:
    with pytest.raises(InputError, match="insolvent"):
        lending_borrowers([[1.0]], [4_000.0], [3_000.0], venue=0)
    with pytest.raises(InputError, match="debt\\[0\\] must be finite and >= 0"):
        lending_borrowers([[1.0]], [-1.0], [3_000.0], venue=0)
    pos = load_position(_aave_spec(8_300, 500, Decimal(1), 300_000, Decimal(1000)))
    pool = lending_pool_venue("p", ["WETH"], lt=0.80, bonus=0.05, books=DEEP)
    with pytest.raises(InputError, match=r"has lt 0\.83, the pool 0\.8"):
        borrowers_from_positions([pos], pool, ["WETH"], venue=0)
    spec = _aave_spec(8_300, 500, Decimal(1), 300_000, Decimal(1000))
    spec["reserves"][1]["symbol"] = "WETH2"
    pool2 = lending_pool_venue("p", ["WETH", "WETH2"], lt=[0.83, 0.83], bonus=0.05, books=DEEP)
    with pytest.raises(InputError, match="only a stablecoin"):
        borrowers_from_positions([load_position(spec)], pool2, ["WETH", "WETH2"], venue=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lt_bps=st.integers(6_000, 9_000),
    bonus_bps=st.integers(100, 1_000),
    weth_milli=st.integers(5_000, 200_000),  # 5 to 200 WETH
    hf=st.floats(0.96, 0.999),
)
def test_one_slice_equals_aave_liquidation_call(lt_bps: int, bonus_bps: int, weth_milli: int, hf: float) -> None:
    # One v2 round closing the share Aave's liquidationCall seizes (close factor 50 %, HF in
    # (0.95, 1)) leaves the borrower the collateral and equity the engine leaves: the bonus maps
    # to the fee b / (1 + b) exactly when the fill is the oracle price.
    p1_cents = 300_000
    weth = Decimal(weth_milli) / 1000
    debt = Decimal(round(float(weth) * p1_cents / 100 * lt_bps / 1e4 / hf, 6)).quantize(Decimal("0.000001"))
    p0_cents = p1_cents * 11 // 10  # the account starts healthy at P0
    pos = load_position(_aave_spec(lt_bps, bonus_bps, weth, p0_cents, debt))
    assert isinstance(pos, AavePosition)
    moved = [r if r.symbol != "WETH" else replace(r, price=p1_cents * 10**6) for r in pos.reserves]
    res = aave.liquidation_call(moved, "WETH", "USDC", 2**256 - 1, version="3.3")
    assume_half = res.close_factor == aave.DEFAULT_LIQUIDATION_CLOSE_FACTOR
    w = pos.reserve("WETH")
    seized = (w.collateral - res.collateral_after["WETH"]) / 1e18
    c = w.collateral / 1e18
    pool = lending_pool_venue(
        "WETH", ["WETH"], lt=lt_bps / 1e4, bonus=bonus_bps / 1e4, books=DEEP, max_rounds=1, slice_fraction=seized / c
    )
    pop = borrowers_from_positions([pos], pool, ["WETH"], venue=0)
    p0, p1 = p0_cents / 100, p1_cents / 100
    out = simulate_market(pop, [p0, p1], MarketSpec(["WETH"], [pool])).out.accounts
    assert assume_half
    assert out.qty[0, 0] == pytest.approx(res.collateral_after["WETH"] / 1e18, rel=1e-12)
    equity_engine = res.collateral_after["WETH"] / 1e18 * p1 - res.debt_after["USDC"] / 1e6
    equity_v2 = out.wallet[0] + out.qty[0, 0] * (p1 - p0)
    assert equity_v2 == pytest.approx(equity_engine, rel=1e-7, abs=1e-5)
