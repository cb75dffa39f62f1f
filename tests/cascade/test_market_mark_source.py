"""Where a venue's mark reads its price (cascade v2): its own book (default), the exogenous
index, or another venue's book (a lending pool's Chainlink feed following an exchange)."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import Arbitrage, MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_pools import lending_borrowers, lending_pool_venue
from levguard.cascade.market_population import random_market_population
from levguard.errors import InputError
from levguard.kernels._jit import NUMBA_DISABLED

S0 = [60_000.0, 3_000.0]


def _crash(n: int = 120, depth: float = 0.35) -> np.ndarray:
    t = np.arange(n + 1)
    fall = np.minimum(np.maximum(t - 10, 0) / 40, 1.0) * depth
    return np.column_stack([S0[0] * (1 - fall), S0[1] * (1 - 1.3 * fall)])


def _longs(n: int = 400, seed: int = 3, n_venues: int = 2) -> MarketPopulation:
    return random_market_population(n, S0, n_venues=n_venues, seed=seed, long_share=1.0)


def _two_venues(source: str, lag: int = 0) -> MarketSpec:
    thin = [Market(depth=300.0, half_life_steps=30), Market(depth=60.0, half_life_steps=30)]
    return MarketSpec(
        ("BTC", "ETH"),
        [
            MarketVenue("binance", [Market(depth=2e4), Market(depth=3e3)], MarginRegime()),
            MarketVenue("dex", thin, settings=VenueSettings(mark_lag_steps=lag), mark_source=source),
        ],
        Arbitrage(speed=0.2, capacity=1e6),
    )


def test_default_is_the_own_book_and_changes_nothing() -> None:
    pop, exo = _longs(), _crash()
    a = simulate_market(pop, exo, _two_venues("book"))
    b = simulate_market(pop, exo, _two_venues("dex"))  # its own name: its own book
    for name in a.out.steps._fields:
        np.testing.assert_array_equal(getattr(a.out.steps, name), getattr(b.out.steps, name), err_msg=name)


@pytest.mark.parametrize("lag", [0, 3])
def test_exogenous_marks_are_the_exogenous_path(lag: int) -> None:
    pop, exo = _longs(), _crash()
    res = simulate_market(pop, exo, _two_venues("exogenous", lag))
    mark = res.out.steps.mark[1]  # (K, T + 1)
    src = np.maximum(np.arange(exo.shape[0]) - lag, 0)
    np.testing.assert_array_equal(mark, exo[src].T)
    # the venue's own liquidations still move its traded price
    assert (res.out.steps.price[1] < exo.T - 1e-9).any()


@pytest.mark.parametrize("lag", [0, 2])
def test_a_venue_can_read_another_venues_book(lag: int) -> None:
    pop, exo = _longs(), _crash()
    res = simulate_market(pop, exo, _two_venues("binance", lag))
    st = res.out.steps
    src = np.maximum(np.arange(exo.shape[0]) - lag, 0)
    # binance (venue 0) settles before dex (venue 1) in a step: dex marks at binance's final prices
    np.testing.assert_array_equal(st.mark[1], st.price[0][:, src])
    assert not np.array_equal(st.price[1], st.price[0])


def test_an_index_mark_spares_the_thin_venue_its_own_spiral() -> None:
    # Longs only on a thin venue: marking at its own book lets each round of sales lower the
    # marks of the rest; an index mark does not, so fewer accounts go.
    pop, exo = _longs(n=600, n_venues=1), _crash(depth=0.12)
    thin = [Market(depth=150.0, half_life_steps=60), Market(depth=30.0, half_life_steps=60)]
    counts = {}
    for src in ("book", "exogenous"):
        spec = MarketSpec(("BTC", "ETH"), [MarketVenue("dex", thin, MarginRegime(), mark_source=src)])
        res = simulate_market(pop, exo, spec)
        counts[src] = int(res.counts.accounts_liquidated)
        led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    assert counts["book"] > counts["exogenous"] > 0


def test_pool_oracle_reads_a_centralised_venue() -> None:
    binance = MarketVenue("binance", [Market(depth=2e4), Market(depth=3e3)], MarginRegime())
    pool = lending_pool_venue(
        "lend", ["BTC", "ETH"], {"BTC": 0.78, "ETH": 0.83}, 0.05, 0.5, 1,
        [Market(depth=500.0, half_life_steps=30), Market(depth=100.0, half_life_steps=30)],
        oracle_source="binance",
    )  # fmt: skip
    assert pool.mark_source == "binance"
    spec = MarketSpec(("BTC", "ETH"), [binance, pool], Arbitrage(speed=0.3, capacity=1e6))
    rng = np.random.default_rng(1)
    coll = np.column_stack([rng.uniform(0.5, 2.0, 100), np.zeros(100)])
    debt = coll[:, 0] * S0[0] * 0.78 / rng.uniform(1.02, 1.6, 100)
    borrowers = lending_borrowers(coll, debt, S0, venue=1)
    crowd = _longs(n=200, n_venues=1)
    pop = MarketPopulation.concat(crowd, borrowers)
    res = simulate_market(pop, _crash(depth=0.2), spec)
    st = res.out.steps
    np.testing.assert_array_equal(st.mark[1][:, 1:], st.price[0][:, :-1])  # one step of oracle lag
    assert res.counts.accounts_liquidated > 0
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]


def test_bad_mark_source_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="maintenance must be a sequence"):
        MarketVenue("x", Market(depth=1.0), MarginRegime(), VenueSettings())  # type: ignore[arg-type]
    with pytest.raises(InputError, match="mark_source must be 'book', 'exogenous' or one of the venues"):
        _two_venues("okx")
    with pytest.raises(InputError, match="mark_source"):
        MarketVenue("x", Market(depth=1.0), mark_source="")


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: market_cascade_nb is market_cascade_py")
@pytest.mark.parametrize("source", ["exogenous", "binance"])
def test_python_twin_equals_compiled(source: str) -> None:
    pop, exo = _longs(n=120), _crash(n=60)
    spec = _two_venues(source, 1)
    from test_market_sim import assert_python_twin_equals_compiled

    venues, counts = assert_python_twin_equals_compiled(pop, exo, spec)
    assert venues["mark_src"][1] == (1 if source == "exogenous" else 2)
    assert counts.accounts_liquidated > 5


def test_contagion_config_mark_and_oracle_sources() -> None:
    from pathlib import Path

    from test_market_pools_config import _sample_with_pool

    from levguard.cascade.contagion_config import config_from_dict
    from levguard.cascade.market_montecarlo import MarketPlan

    raw = _sample_with_pool()
    raw["pools"][0]["oracle_source"] = "binance"
    raw["venues"][0]["mark_source"] = "exogenous"
    cfg = config_from_dict(raw, Path("."))
    assert [mv.mark_source for mv in cfg.spec.venues] == ["exogenous", "book", "binance"]
    res = MarketPlan(cfg.population, cfg.spec, cfg.paths).simulate(0)
    st = res.out.steps
    np.testing.assert_array_equal(st.mark[2][:, 1:], st.price[1][:, :-1])  # the pool's oracle: binance, 1 step late
    raw["pools"][0]["oracle_source"] = "okx"
    with pytest.raises(InputError, match=r"lend.*mark_source must be 'book', 'exogenous' or one of the venues"):
        config_from_dict(raw, Path("."))


def test_a_later_venue_as_source_needs_a_lag() -> None:
    # Venues settle in order within a step: reading a later venue at lag 0 would read its price
    # before its own liquidations, so it is refused; with a lag it reads settled history.
    dex = MarketVenue("dex", Market(depth=300.0), mark_source="binance")
    binance = MarketVenue("binance", Market(depth=2e4))
    with pytest.raises(InputError, match="must be listed before it"):
        MarketSpec(("BTC",), [dex, binance])
    lagged = MarketVenue("dex", Market(depth=300.0), settings=VenueSettings(mark_lag_steps=1), mark_source="binance")
    spec = MarketSpec(("BTC",), [lagged, binance])
    pop = random_market_population(200, S0[:1], n_venues=2, seed=2, long_share=1.0)
    res = simulate_market(pop, _crash()[:, :1], spec)
    st = res.out.steps
    np.testing.assert_array_equal(st.mark[0][:, 1:], st.price[1][:, :-1])
