"""Properties of the market cascade simulator (v2): the kernel's ADL scores are the core rules',
money is conserved on random markets, the sorted sweep equals the naive scan, a deeper crash
never liquidates less (longs only, constant depth, no ADL, no fund), and ADL at bankruptcy
prices with counterparties enough books no bad debt."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import (
    Arbitrage,
    MarketPopulation,
    MarketResult,
    MarketSpec,
    MarketVenue,
    simulate_market,
)
from levguard.cascade.market_population import random_market_population
from levguard.core.rules import adl as core_adl
from levguard.kernels import cascade_v2_adl as ka

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
RULES = ("bitmex", "binance-usdm", "bybit-linear", "hyperliquid")
S0 = np.array([60_000.0, 3_000.0, 150.0])


# --------------------------------------------------------------------------- ADL score twins


@settings(FAST, max_examples=300)
@given(
    qty=st.floats(1e-4, 1e3).flatmap(lambda q: st.sampled_from([q, -q])),
    entry=st.floats(1.0, 1e5),
    mark_rel=st.floats(0.3, 3.0),
    equity_rel=st.floats(1e-3, 5.0),
)
def test_kernel_scores_equal_the_core_rules(qty: float, entry: float, mark_rel: float, equity_rel: float) -> None:
    mark = entry * mark_rel
    equity = abs(qty) * mark * equity_rel
    assert ka.binance_score(qty, entry, mark, equity) == core_adl.binance_adl_ranking(qty, entry, mark, equity)
    assert ka.bybit_score(qty, entry, mark, equity) == core_adl.bybit_adl_ranking(qty, entry, mark, equity)
    assert ka.hyperliquid_score(qty, entry, mark, equity) == core_adl.hyperliquid_adl_score(qty, entry, mark, equity)


# --------------------------------------------------------------------------- random markets

N_STEPS = 60


def _drift(rng: np.random.Generator) -> np.ndarray:
    """The markets' common log return per step: noise and a slide over steps 20-27 (the tests
    add their own gaps)."""
    f = rng.normal(0.0, 0.004, N_STEPS)
    f[20:28] -= 0.006
    return f


def _paths(rng: np.random.Generator, s0: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Each asset's exogenous path from ``s0`` on the common returns ``f`` (its own beta and noise)."""
    n_assets = s0.shape[0]
    r = f[:, None] * rng.uniform(0.8, 1.5, n_assets)[None, :] + rng.normal(0.0, 0.002, (f.shape[0], n_assets))
    return np.asarray(s0[None, :] * np.exp(np.vstack([np.zeros(n_assets), np.cumsum(r, axis=0)])))


def _venue(
    v: int, depth: float, regime: MarginRegime, fund: float, adl: bool, latency: int, lag: int, rule: str
) -> MarketVenue:
    """Venue ``v`` of a random market: its book ``depth x (1 + v)`` deep, fund, ADL, latency and mark lag."""
    return MarketVenue(
        f"v{v}",
        Market(depth=depth * (1 + v), half_life_steps=20.0),
        regime,
        None,
        VenueSettings(insurance_fund=fund, adl=adl, latency_steps=latency, mark_lag_steps=lag),
        rule,
    )


def _market(
    seed: int,
    n: int,
    n_assets: int,
    n_venues: int,
    fund: float,
    partial: float,
    latency: int,
    lag: int,
    adl: bool,
    outcome: str,
    speed: float,
    capacity: float,
    depth: float,
) -> tuple[object, np.ndarray, MarketSpec]:
    rng = np.random.default_rng(seed)
    s0 = S0[:n_assets]
    pop = random_market_population(
        n, s0, n_venues=n_venues, seed=seed, leverage=((1.0, 2.0, 50.0),), notional=(20_000.0, 0.8)
    )
    f = _drift(rng)
    f[rng.integers(5, N_STEPS)] -= rng.uniform(0.0, 0.06)
    exo = _paths(rng, s0, f)
    venues = []
    for v in range(n_venues):
        regime = (
            MarginRegime.for_venue("hyperliquid", partial=partial, partial_min_notional=10_000.0)
            if outcome == "book"
            else MarginRegime(partial=partial, partial_min_notional=10_000.0)
        )
        venues.append(_venue(v, depth, regime, fund, adl, latency, lag, RULES[(seed + v) % 4]))
    return pop, exo, MarketSpec([f"A{a}" for a in range(n_assets)], venues, Arbitrage(speed, capacity))


MARKETS = {
    "seed": st.integers(0, 2**31),
    "n": st.integers(2, 60),
    "n_assets": st.integers(1, 3),
    "n_venues": st.integers(1, 2),
    "fund": st.sampled_from([0.0, 500.0, 2e4]),
    "partial": st.sampled_from([1.0, 0.3]),
    "latency": st.integers(0, 2),
    "lag": st.integers(0, 1),
    "adl": st.booleans(),
    "outcome": st.sampled_from(["takeover", "book"]),
    "speed": st.sampled_from([0.0, 0.3, 1.0]),
    "capacity": st.sampled_from([math.inf, 2e4]),
    "depth": st.sampled_from([300.0, 3e3, 1e5]),
}


@settings(FAST, max_examples=60)
@given(**MARKETS)
def test_money_is_conserved_on_random_markets(**kw: object) -> None:
    pop, exo, spec = _market(**kw)  # type: ignore[arg-type]
    res = simulate_market(pop, exo, spec)  # type: ignore[arg-type]
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"], led
    assert abs(led["adl_cash"]) <= 1e-9 * led["scale"]
    assert np.all(res.out.steps.fund >= 0.0)


@settings(FAST, max_examples=40)
@given(**MARKETS)
def test_sorted_sweep_equals_naive_scan_on_random_markets(**kw: object) -> None:
    pop, exo, spec = _market(**kw)  # type: ignore[arg-type]
    a = simulate_market(pop, exo, spec)  # type: ignore[arg-type]
    b = simulate_market(pop, exo, spec, naive=True)  # type: ignore[arg-type]
    for name in a.out.steps._fields:
        np.testing.assert_array_equal(getattr(a.out.steps, name), getattr(b.out.steps, name))
    np.testing.assert_array_equal(a.out.events[: a.counts.events], b.out.events[: b.counts.events])
    np.testing.assert_array_equal(a.out.accounts.wallet, b.out.accounts.wallet)


# --------------------------------------------------------------------------- monotonicity
# Regime: longs only, non-increasing exogenous paths, constant depth, ADL off, fund 0.  The
# liquidated set and quantity (so the notional at any fixed price) never fall in a deeper crash;
# the notional at the fill prices can (tests/cascade/test_market_sim.py pins a case).


def _liquidated(res: MarketResult) -> tuple[set[int], np.ndarray]:
    ev = res.out.events[: res.counts.events]
    qty = np.zeros(res.spec.n_assets)
    np.add.at(qty, ev["asset"], np.abs(ev["qty"]))
    return set(np.flatnonzero(res.out.accounts.status == 1).tolist()), qty


@settings(FAST, max_examples=60)
@given(
    seed=st.integers(0, 2**31),
    n_assets=st.integers(1, 3),
    partial=st.sampled_from([1.0, 0.25]),
    half_life=st.sampled_from([5.0, 30.0, math.inf]),
    extra=st.floats(0.0, 0.1),
)
def test_deeper_crash_never_liquidates_less(
    seed: int, n_assets: int, partial: float, half_life: float, extra: float
) -> None:
    rng = np.random.default_rng(seed)
    s0 = S0[:n_assets]
    pop = random_market_population(
        40, s0, seed=seed, long_share=1.0, leverage=((1.0, 2.0, 50.0),), notional=(20_000.0, 0.8)
    )
    venue = MarketVenue(
        "v",
        Market(depth=2e3, half_life_steps=half_life),
        MarginRegime(partial=partial, partial_min_notional=10_000.0),
        None,
        VenueSettings(insurance_fund=0.0, adl=False),
    )
    spec = MarketSpec([f"A{a}" for a in range(n_assets)], [venue])
    n_steps = 60
    falls = -np.abs(rng.normal(0.0, 0.004, (n_steps, n_assets)))
    base = s0[None, :] * np.exp(np.vstack([np.zeros(n_assets), np.cumsum(falls, axis=0)]))
    ramp = np.maximum.accumulate(rng.uniform(0.0, 1.0, n_steps + 1))
    ramp[0] = 0.0
    deep = base * (1.0 - ramp[:, None] * extra * rng.uniform(0.0, 1.0, n_assets)[None, :])
    set_a, qty_a = _liquidated(simulate_market(pop, base, spec))
    set_b, qty_b = _liquidated(simulate_market(pop, deep, spec))
    assert set_a <= set_b
    assert np.all(qty_b >= qty_a * (1 - 1e-12))


# --------------------------------------------------------------------------- ADL's waterfall
# Regime: every venue deleverages at the bankruptcy price (BitMEX, Binance, Bybit), has no
# drawdown trigger and no liquidator vault, and holds on each asset, on each side, one
# counterparty that is never liquidated (unlevered, in profit on every path) with twice the
# asset's open interest.  Then ADL never runs dry, and at the fixed point of the routing every
# close the books settle is one the fund can pay at the fills it settles at (partial slices pay
# it their fee; a full close let through leaves the estimate, which starts from the fund, at
# or above 0); a close routed to ADL leaves the fund unchanged (one position: v1's booking;
# several: the rest at the bankruptcy prices, 0 up to rounding).  So no bad debt, exactly with
# one position per account, up to rounding otherwise.  (Without counterparties enough, a venue
# with ADL on can book more bad debt than with it off: the paths differ.)


def _with_counterparties(pop: MarketPopulation, s0: np.ndarray, n_venues: int) -> MarketPopulation:
    k = s0.shape[0]
    oi = np.abs(pop.qty).sum(axis=0)
    venue, wallet, qty, entry = [pop.venue], [pop.wallet], [pop.qty], [pop.entry]
    for v in range(n_venues):
        for a in range(k):
            for side, rel in ((1.0, 0.2), (-1.0, 5.0)):
                q = np.zeros((1, k))
                q[0, a] = 2.0 * side * oi[a]
                e = np.ones((1, k))
                e[0, a] = rel * s0[a]
                venue.append(np.array([v]))
                wallet.append(np.array([2.0 * oi[a] * s0[a]]))
                qty.append(q)
                entry.append(e)
    return MarketPopulation(np.concatenate(venue), np.concatenate(wallet), np.vstack(qty), np.vstack(entry))


@settings(FAST, max_examples=150)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(2, 60),
    n_assets=st.integers(1, 3),
    n_venues=st.integers(1, 2),
    rule=st.sampled_from(["bitmex", "binance-usdm", "bybit-linear"]),
    partial=st.sampled_from([1.0, 0.3, "tier", "restore"]),
    outcome=st.sampled_from(["takeover", "book"]),
    backstop=st.sampled_from([0.0, 2.0 / 3.0, 1.0]),
    fee=st.sampled_from([0.0, 0.005]),
    fund=st.sampled_from([0.0, 500.0]),
    latency=st.integers(0, 2),
    lag=st.integers(0, 1),
    depth=st.sampled_from([300.0, 3e3, 1e5]),
    gap=st.floats(0.0, 0.12),
)
def test_adl_at_bankruptcy_prices_with_counterparties_books_no_bad_debt(
    seed: int,
    n: int,
    n_assets: int,
    n_venues: int,
    rule: str,
    partial: float | str,
    outcome: str,
    backstop: float,
    fee: float,
    fund: float,
    latency: int,
    lag: int,
    depth: float,
    gap: float,
) -> None:
    rng = np.random.default_rng(seed)
    s0 = S0[:n_assets]
    pop = random_market_population(
        n, s0, n_venues=n_venues, seed=seed, leverage=((1.0, 2.0, 50.0),), notional=(20_000.0, 0.8)
    )
    pop = _with_counterparties(pop, s0, n_venues)
    f = _drift(rng)
    f[rng.integers(5, N_STEPS)] -= gap
    f[rng.integers(5, N_STEPS)] += rng.uniform(0.0, 0.08)
    exo = _paths(rng, s0, f)
    book = {"outcome": "book", "backstop": backstop} if outcome == "book" else {}
    regime = MarginRegime(partial=partial, partial_min_notional=10_000.0, liquidation_fee=fee, **book)  # type: ignore[arg-type]
    venues = [_venue(v, depth, regime, fund, True, latency, lag, rule) for v in range(n_venues)]
    res = simulate_market(pop, exo, MarketSpec([f"A{a}" for a in range(n_assets)], venues, Arbitrage(0.3)))
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"], led
    if n_assets == 1:
        assert res.summary["bad_debt"] == 0.0
    else:
        assert res.summary["bad_debt"] <= 1e-12 * led["scale"]
