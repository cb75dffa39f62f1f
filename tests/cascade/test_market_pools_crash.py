"""A lending pool in a market crash: its liquidations sell collateral into its book, arbitrage
carries the selling into the CEX venue (pool -> venue transmission), money is conserved and the
pool's deficit is the debt its collateral did not cover."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.contagion import contagion_report, pool_outcomes, pool_transmission
from levguard.cascade.market import Arbitrage, MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_pools import lending_borrowers, lending_pool_venue, random_borrowers

T = 60
PATH = 3_000.0 * np.exp(np.concatenate([[0.0], np.linspace(0.0, -0.2, T)]))  # a 20 % slide
CEX = MarketVenue("cex", Market(depth=20_000.0, half_life_steps=30.0), MarginRegime(),
                  settings=VenueSettings(insurance_fund=1e6))  # fmt: skip


def _pool(bonus: float = 0.05, lag: int = 1, depth: float = 3_000.0) -> MarketVenue:
    return lending_pool_venue(
        "aave", ["ETH"], lt=0.83, bonus=bonus, close_factor=0.5, oracle_lag_steps=lag,
        books=Market(depth=depth, half_life_steps=30.0),
    )  # fmt: skip


def _run(with_pool: bool, bonus: float = 0.05, depth: float = 3_000.0) -> tuple[object, MarketSpec]:
    pool = _pool(bonus, depth=depth)
    venues = [CEX, pool] if with_pool else [CEX]
    spec = MarketSpec(["ETH"], venues, Arbitrage(speed=0.3, capacity=5e6))
    if with_pool:
        pop = random_borrowers(300, [3_000.0], pool, venue=1, hf=(1.02, 1.6), notional=(30_000.0, 1.0), seed=1)
    else:
        pop = MarketPopulation(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 1)), np.zeros((0, 1)))
    return simulate_market(pop, PATH, spec), spec


def test_pool_liquidations_move_the_cex_price_through_arbitrage() -> None:
    with_pool, _ = _run(True)
    without, _ = _run(False)
    cex_with = with_pool.book_steps("cex", "ETH")["price"].to_numpy()  # type: ignore[attr-defined]
    cex_without = without.book_steps("cex", "ETH")["price"].to_numpy()  # type: ignore[attr-defined]
    np.testing.assert_allclose(cex_without, PATH, rtol=1e-12)  # nothing moves it without the pool
    assert cex_with.min() < 0.995 * cex_without.min()
    flows = pool_transmission(with_pool)  # type: ignore[arg-type]
    assert flows is not None
    out = flows[(flows["link"] == "pool->venue") & (flows["destination"] == "cex")]
    assert out["notional"].sum() > 0.0
    assert pool_transmission(without) is None  # type: ignore[arg-type]
    rep = contagion_report(with_pool)  # type: ignore[arg-type]
    assert rep.pool_to_venue is not None
    assert rep.pools is not None
    assert rep.pools.loc["aave", "liquidated_collateral"] > 0.0
    doc = rep.to_dict()
    assert doc["pools"]["aave"]["deficit"] == pytest.approx(float(rep.pools.loc["aave", "deficit"]))
    assert contagion_report(without).pool_to_venue is None  # type: ignore[arg-type]


@pytest.mark.parametrize("bonus", [0.0, 0.05, 0.1])
def test_ledger_and_deficit(bonus: float) -> None:
    res, _ = _run(True, bonus, depth=300.0)  # a thin DEX book: the pool's own sales spiral
    led = res.ledger()  # type: ignore[attr-defined]
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    po = pool_outcomes(res)  # type: ignore[arg-type]
    row = po.loc["aave"]
    assert row["deficit"] > 0.0
    # The bonus pot (the venue fund) absorbs shortfalls before the kernel counts bad debt.
    assert row["deficit"] == pytest.approx(row["bonus_paid"] - row["bonus_left"] + row["kernel_bad_debt"], rel=1e-9)
    if bonus == 0.0:
        assert row["bonus_paid"] == 0.0
        assert row["deficit"] == pytest.approx(row["kernel_bad_debt"], rel=1e-12)
    else:
        assert row["bonus_paid"] > 0.0


@pytest.mark.parametrize("whole", [True, False])
def test_deficit_is_the_uncovered_debt(whole: bool) -> None:
    # One borrower, a gap from 3000 to 2000 through its liquidation price, a deep book (fills at
    # 2000): the debt its 10 ETH do not cover, plus (partial closes) the bonus it paid on the way.
    c, debt = 10.0, 24_000.0
    pool = lending_pool_venue(
        "aave", ["ETH"], lt=0.83, bonus=0.05, books=Market(depth=1e13, half_life_steps=0.0),
        full_close_below=1e9 if whole else 0.0,
    )  # fmt: skip
    pop = lending_borrowers([[c]], [debt], [3_000.0], venue=0)
    res = simulate_market(pop, [3_000.0, 2_000.0], MarketSpec(["ETH"], [pool]))
    row = pool_outcomes(res).loc["aave"]
    assert row["liquidated_ETH"] == pytest.approx(c)
    if whole:
        assert row["bonus_paid"] == 0.0  # the fee is capped at the (negative) equity
        assert row["deficit"] == pytest.approx(debt - c * 2_000.0, rel=1e-9)
    else:
        assert row["bonus_paid"] > 0.0
        assert row["deficit"] == pytest.approx(debt - c * 2_000.0 + row["bonus_paid"], rel=1e-9)
    assert row["deficit"] == pytest.approx(row["kernel_bad_debt"] + row["bonus_paid"] - row["bonus_left"], rel=1e-9)
    assert res.out.accounts.status[0] != 0
    assert res.out.accounts.qty[0, 0] == 0.0


def test_oracle_lag_delays_the_first_liquidation() -> None:
    pool0, pool5 = _pool(lag=0), _pool(lag=5)
    pop = lending_borrowers([[10.0]], [10.0 * 3_000.0 * 0.83 / 1.05], [3_000.0], venue=0)
    first = []
    for pool in (pool0, pool5):
        res = simulate_market(pop, PATH, MarketSpec(["ETH"], [pool]))
        first.append(int(res.books.loc[0, "first_liquidation_step"]))
    assert first[0] >= 0
    assert first[1] == first[0] + 5
