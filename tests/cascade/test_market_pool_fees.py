"""Where the liquidation fee goes (``VenueSettings.fee_to_fund``, market simulator v2).

A lending pool's bonus is the liquidators' money: the pool venue pays its fee out of the venue
(``MarketOutputs.fees_paid``) instead of crediting its fund, so no shortfall is absorbed by
earlier bonuses and the pool's kernel bad debt is its deficit.  Exchanges keep the default (fee
to the fund, outputs unchanged: tests/cascade/test_market_kernel_equivalence.py).  The money
balance closes with the fees paid out, the Python twin equals the compiled kernel, and the
one-venue simulator refuses the setting.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from test_market_vault import assert_same, run_both

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.contagion import pool_outcomes
from levguard.cascade.market import Arbitrage, MarketResult, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_pools import lending_pool_venue, random_borrowers
from levguard.cascade.market_population import random_market_population
from levguard.cascade.settings import kernel_config
from levguard.errors import InputError
from levguard.kernels import cascade_v2_records as r2
from levguard.kernels._jit import NUMBA_DISABLED

T = 60
PATH = 3_000.0 * np.exp(np.concatenate([[0.0], np.linspace(0.0, -0.2, T)]))  # a 20 % slide
CEX = MarketVenue("cex", Market(depth=20_000.0, half_life_steps=30.0), MarginRegime(),
                  settings=VenueSettings(insurance_fund=1e6))  # fmt: skip


def _pool_market(bonus: float = 0.05, depth: float = 300.0, *, fee_to_fund: bool = False) -> tuple[Any, MarketSpec]:
    # A thin DEX book: the pool's own sales spiral, partial closes pay bonuses, later closes fall short.
    pool = lending_pool_venue(
        "aave", ["ETH"], lt=0.83, bonus=bonus, close_factor=0.5, oracle_lag_steps=1,
        books=Market(depth=depth, half_life_steps=30.0),
    )  # fmt: skip
    pop = random_borrowers(300, [3_000.0], pool, venue=1, hf=(1.02, 1.6), notional=(30_000.0, 1.0), seed=1)
    if fee_to_fund:
        pool = dataclasses.replace(pool, settings=dataclasses.replace(pool.settings, fee_to_fund=True))
    return pop, MarketSpec(["ETH"], [CEX, pool], Arbitrage(speed=0.3, capacity=5e6))


def _balanced(res: MarketResult) -> dict[str, float]:
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    return led


def test_the_pool_pays_its_bonus_out_and_its_bad_debt_is_its_deficit() -> None:
    pop, spec = _pool_market()
    assert spec.venues[1].settings.fee_to_fund is False
    res = simulate_market(pop, PATH, spec)
    fees = res.out.fees_paid
    assert fees[0].max() == 0.0  # the exchange books its fee to its fund
    assert fees[1, -1] > 0.0
    assert np.all(np.diff(fees[1]) >= 0.0)  # cumulative
    np.testing.assert_array_equal(res.out.steps.fund[1], 0.0)  # the pool's fund absorbs nothing
    ev = res.events[res.events["venue"] == "aave"]
    assert (ev["fund_delta"] <= 0.0).all()
    row = pool_outcomes(res).loc["aave"]
    assert row["deficit"] > 0.0
    assert row["deficit"] == pytest.approx(row["kernel_bad_debt"], rel=1e-12)
    assert row["bonus_paid"] == pytest.approx(fees[1, -1], rel=1e-12)
    assert row["deficit"] == pytest.approx(row["bonus_paid"] - row["bonus_left"] + row["kernel_bad_debt"], rel=1e-9)
    venues = res.venues.set_index("venue")
    assert venues.loc["aave", "liquidator_fees"] == fees[1, -1]
    assert venues.loc["aave", "bad_debt"] == pytest.approx(row["deficit"], rel=1e-12)
    led = _balanced(res)
    assert led["liquidator_fees"] == pytest.approx(fees[1, -1], rel=1e-12)


@pytest.mark.parametrize("bonus", [0.0, 0.05, 0.1])
def test_paying_the_fee_out_moves_the_bonus_not_the_path(bonus: float) -> None:
    # The pool has no ADL and no drawdown rule: its fund steers nothing, so both bookings trade the
    # same path; the fund booking nets the bonuses against the shortfalls, the payout does not.
    out_pop, out_spec = _pool_market(bonus)
    in_pop, in_spec = _pool_market(bonus, fee_to_fund=True)
    paid_out = simulate_market(out_pop, PATH, out_spec)
    booked = simulate_market(in_pop, PATH, in_spec)
    for name in ("price", "mark", "liq_notional", "n_liq", "rounds"):
        np.testing.assert_array_equal(getattr(paid_out.out.steps, name), getattr(booked.out.steps, name))
    for name in ("qty", "wallet", "pnl", "kept", "status"):
        np.testing.assert_array_equal(getattr(paid_out.out.accounts, name), getattr(booked.out.accounts, name))
    np.testing.assert_array_equal(booked.out.fees_paid, 0.0)
    po_out = pool_outcomes(paid_out).loc["aave"]
    po_in = pool_outcomes(booked).loc["aave"]
    # The gross deficit and the bonus are the same money either way.
    assert po_out["deficit"] == pytest.approx(po_in["deficit"], rel=1e-12)
    assert po_out["bonus_paid"] == pytest.approx(po_in["bonus_paid"], rel=1e-12)
    assert po_in["deficit"] == pytest.approx(
        po_in["bonus_paid"] - po_in["bonus_left"] + po_in["kernel_bad_debt"], rel=1e-9
    )
    # Paid out, the kernel's bad debt is the deficit; booked, it is net of the bonus pot.
    assert paid_out.out.steps.bad_debt[1, -1] == pytest.approx(po_out["deficit"], rel=1e-12)
    if bonus > 0.0:
        assert booked.out.steps.bad_debt[1, -1] < paid_out.out.steps.bad_debt[1, -1]
    else:
        assert po_out["bonus_paid"] == 0.0
        assert booked.out.steps.bad_debt[1, -1] == paid_out.out.steps.bad_debt[1, -1]
    _balanced(paid_out)
    _balanced(booked)


def _run_both(pop: Any, exo: np.ndarray, spec: MarketSpec) -> list[tuple[r2.MarketOutputs, r2.MarketCounts]]:
    return run_both(pop, exo, spec)  # test_market_vault's: the Python twin and the compiled kernel


def _assert_same(runs: list[tuple[r2.MarketOutputs, r2.MarketCounts]]) -> None:
    assert_same(runs)  # every output array, the vault's too
    (a, _ca), (b, _cb) = runs
    np.testing.assert_array_equal(a.fees_paid, b.fees_paid)


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: market_cascade_nb is market_cascade_py")
def test_python_twin_equals_compiled_on_a_pool_market() -> None:
    pop, spec = _pool_market()
    runs = _run_both(pop, PATH[:, None], spec)
    _assert_same(runs)
    assert runs[1][0].fees_paid[1, -1] > 0.0
    assert runs[1][0].steps.bad_debt[1, -1] > 0.0


def _exchange_market(seed: int, fee_to_fund: bool, outcome: str, rule: str) -> tuple[Any, np.ndarray, MarketSpec]:
    # Two assets on two venues with ADL (multi-asset accounts: ADL settles through the outcome).
    venues = []
    for v in range(2):
        regime = MarginRegime(mmr=0.01, liquidation_fee=0.004, outcome=outcome, partial=0.5 if v else 1.0)
        vs = VenueSettings(insurance_fund=2_000.0 * v, adl=True, fee_to_fund=fee_to_fund)
        books = [Market(depth=5e3 * (1 + a), half_life_steps=10.0) for a in range(2)]
        venues.append(MarketVenue(f"v{v}", books, regime, None, vs, rule))
    spec = MarketSpec(["A", "B"], venues, Arbitrage(speed=0.2))
    pop = random_market_population(200, (60_000.0, 3_000.0), n_venues=2, seed=seed, mmr=0.01)
    rng = np.random.default_rng(seed)
    f = rng.normal(0.0, 0.004, 80)
    f[30:40] -= 0.006
    f[[33, 37]] -= 0.03  # gaps: accounts go below 0 between two checks
    path = np.exp(np.cumsum(np.column_stack([f, 1.3 * f + rng.normal(0.0, 0.003, 80)]), axis=0))
    exo = np.vstack([[1.0, 1.0], path]) * np.array([60_000.0, 3_000.0])
    return pop, exo, spec


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: market_cascade_nb is market_cascade_py")
@pytest.mark.parametrize("rule", ["hyperliquid", "binance-usdm"])
def test_python_twin_equals_compiled_with_fees_paid_out_and_adl(rule: str) -> None:
    pop, exo, spec = _exchange_market(3, False, "book", rule)
    runs = _run_both(pop, exo, spec)
    _assert_same(runs)
    out, counts = runs[1]
    assert out.fees_paid[:, -1].min() > 0.0
    assert counts.adl_events > 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hs.integers(0, 10_000),
    outcome=hs.sampled_from(["book", "takeover"]),
    rule=hs.sampled_from(["hyperliquid", "bybit-linear"]),
)
def test_money_balances_and_the_fund_gets_no_fee(seed: int, outcome: str, rule: str) -> None:
    pop, exo, spec = _exchange_market(seed, False, outcome, rule)
    res = simulate_market(pop, exo, spec)
    _balanced(res)
    fees = res.out.fees_paid
    assert np.all(np.diff(fees, axis=1) >= 0.0)
    if outcome == "book":
        # No fee and no takeover clearance reaches the fund: it only pays shortfalls.
        fund = res.out.steps.fund
        start = np.array([mv.settings.insurance_fund for mv in spec.venues])[:, None]
        assert np.all(np.diff(np.hstack([start, fund]), axis=1) <= 0.0)
        ev = res.events
        assert (ev["fund_delta"] <= 0.0).all()
    else:
        # v0 closes whole (every close a takeover, whose clearance is the fund's either way);
        # v1's partial closes pay the fee out.
        np.testing.assert_array_equal(fees[0], 0.0)


def test_the_default_books_the_fee_to_the_fund() -> None:
    pop, exo, spec = _exchange_market(3, True, "book", "binance-usdm")
    res = simulate_market(pop, exo, spec)
    np.testing.assert_array_equal(res.out.fees_paid, 0.0)
    assert (res.venues["liquidator_fees"] == 0.0).all()
    assert res.ledger()["liquidator_fees"] == 0.0
    assert res.events["fund_delta"].max() > 0.0


def test_bad_fee_to_fund_is_named() -> None:
    with pytest.raises(InputError, match="fee_to_fund"):
        VenueSettings(fee_to_fund=0)  # type: ignore[arg-type]


def test_the_one_venue_simulator_refuses_fee_to_fund() -> None:
    kernel_config(Market(depth=1e6), MarginRegime(), VenueSettings(), 525_600.0, False)
    with pytest.raises(InputError, match=r"venue\.fee_to_fund .*market simulator"):
        kernel_config(Market(depth=1e6), MarginRegime(), VenueSettings(fee_to_fund=False), 525_600.0, False)
