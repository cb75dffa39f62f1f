"""Liquidation fees in the market Monte Carlo: per path and venue the fees the insurance fund
received (``fund_fees_<v>``) and those paid out to liquidators (``liquidator_fees_<v>``, a lending
pool's bonus), equal to the path simulated alone, to the kernel's own payout when the same pool
books its fee to the fund instead, and closing the fund's money balance."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from contagion_helpers import market, path_spec

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.contagion import pool_outcomes
from levguard.cascade.market import Arbitrage, MarketResult, MarketSpec, MarketVenue
from levguard.cascade.market_montecarlo import MarketPlan, market_monte_carlo
from levguard.cascade.market_pools import lending_pool_venue, random_borrowers

T = 60
SLIDES = (0.0, -0.1, -0.2, -0.3)  # path k falls by SLIDES[k] in log terms
ETH = {"ETH": 3_000.0 * np.exp(np.array([np.concatenate([[0.0], np.linspace(0.0, s, T)]) for s in SLIDES]))}


def _pool_market(*, fee_to_fund: bool) -> tuple[Any, MarketSpec]:
    # An exchange and an Aave-style pool selling into a thin DEX book (deficits on the deep slides).
    cex = MarketVenue("cex", Market(depth=20_000.0, half_life_steps=30.0), MarginRegime(),
                      settings=VenueSettings(insurance_fund=1e6))  # fmt: skip
    pool = lending_pool_venue(
        "aave", ["ETH"], lt=0.83, bonus=0.05, close_factor=0.5, oracle_lag_steps=1,
        books=Market(depth=300.0, half_life_steps=30.0),
    )  # fmt: skip
    pop = random_borrowers(300, [3_000.0], pool, venue=1, hf=(1.02, 1.6), notional=(30_000.0, 1.0), seed=1)
    if fee_to_fund:
        pool = dataclasses.replace(pool, settings=dataclasses.replace(pool.settings, fee_to_fund=True))
    return pop, MarketSpec(["ETH"], [cex, pool], Arbitrage(speed=0.3, capacity=5e6))


def _fund_balance(res: MarketResult, row: Any) -> None:
    # fund_end - fund_start = fees in - shortfalls drawn + bad debt (the kernel refills a negative fund).
    ev = res.events
    for v, mv in enumerate(res.spec.venues):
        delta = ev.loc[ev["venue"] == mv.name, "fund_delta"].to_numpy()
        drawn = float(np.maximum(-delta, 0.0).sum())
        change = float(res.out.steps.fund[v, -1]) - mv.settings.insurance_fund
        bad = float(res.out.steps.bad_debt[v, -1])
        scale = 1.0 + row[f"fund_fees_{mv.name}"] + drawn + bad
        assert change == pytest.approx(row[f"fund_fees_{mv.name}"] - drawn + bad, abs=1e-9 * scale)


@pytest.fixture(scope="module")
def runs() -> dict[bool, Any]:
    out = {}
    for to_fund in (False, True):
        pop, spec = _pool_market(fee_to_fund=to_fund)
        out[to_fund] = (pop, spec, market_monte_carlo(pop, spec, {"model": "user", "paths": ETH}, len(SLIDES)))
    return out


def test_the_pool_bonus_paid_out_is_the_bonus_booked_to_the_fund(runs: dict[bool, Any]) -> None:
    paid = runs[False][2].paths
    booked = runs[True][2].paths
    # The pool has no ADL and no drawdown rule: both bookings trade the same paths, so the fund's
    # fees of one are the kernel's payout (MarketOutputs.fees_paid) of the other.
    np.testing.assert_allclose(booked["fund_fees_aave"], paid["liquidator_fees_aave"], rtol=1e-12, atol=0.0)
    assert paid["liquidator_fees_aave"].iloc[0] == 0.0  # a flat path liquidates no one
    assert (paid["liquidator_fees_aave"].iloc[1:] > 0.0).all()
    assert (paid["fund_fees_aave"] == 0.0).all()
    assert (booked["liquidator_fees_aave"] == 0.0).all()
    for t in (paid, booked):
        assert (t["liquidator_fees_cex"] == 0.0).all()  # the exchange books its fee to its fund
    np.testing.assert_array_equal(paid["fund_fees_cex"], booked["fund_fees_cex"])


@pytest.mark.parametrize("to_fund", [False, True])
def test_fees_are_the_path_alone_and_close_the_money(runs: dict[bool, Any], to_fund: bool) -> None:
    pop, spec, mc = runs[to_fund]
    plan = MarketPlan(pop, spec, {"model": "user", "paths": ETH, "assets": ["ETH"]})
    for k in range(len(SLIDES)):
        res = plan.simulate(k)
        row = mc.paths.iloc[k]
        venues = res.venues.set_index("venue")
        for v in ("cex", "aave"):
            assert row[f"liquidator_fees_{v}"] == venues.loc[v, "liquidator_fees"]
        bonus = pool_outcomes(res).loc["aave", "bonus_paid"]
        assert row["fund_fees_aave"] + row["liquidator_fees_aave"] == pytest.approx(bonus, rel=1e-12, abs=0.0)
        _fund_balance(res, row)
        led = res.ledger()
        assert led["liquidator_fees"] == pytest.approx(row["liquidator_fees_cex"] + row["liquidator_fees_aave"])
    d = mc.distribution
    t = mc.paths
    assert d.loc["aave", "liquidator_fees_mean"] == pytest.approx(t["liquidator_fees_aave"].mean(), rel=1e-12)
    total = t["fund_fees_cex"] + t["fund_fees_aave"]
    assert d.loc["total", "fund_fees_q95"] == pytest.approx(float(np.quantile(total, 0.95)), rel=1e-12)
    doc = json.loads(json.dumps(mc.to_dict(), allow_nan=False))
    assert doc["paths"][2]["liquidator_fees_aave"] == t["liquidator_fees_aave"].iloc[2]
    assert doc["distribution"]["total"]["liquidator_fees_mean"] == pytest.approx(
        t["liquidator_fees_aave"].mean(), rel=1e-12
    )


def test_exchange_fees_in_the_crash_market_balance_the_funds() -> None:
    # The two-exchange market of the other Monte Carlo tests: fees to the funds only, each path's
    # fund balance closes with them (and a venue that liquidated nothing has no fee).
    pop, spec = market()
    mc = market_monte_carlo(pop, spec, path_spec(), 4)
    t = mc.paths
    assert (t[["liquidator_fees_a", "liquidator_fees_b"]] == 0.0).all().all()
    assert (t["fund_fees_a"] + t["fund_fees_b"] > 0.0).any()
    for v in ("a", "b"):
        assert (t.loc[t[f"liquidated_notional_{v}"] == 0.0, f"fund_fees_{v}"] == 0.0).all()
    plan = MarketPlan(pop, spec, {**path_spec(), "assets": ["BTC", "ETH"]})
    for k in range(4):
        _fund_balance(plan.simulate(k), t.iloc[k])
