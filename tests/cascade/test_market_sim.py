"""The market cascade simulator (v2): equality with v1 on one asset and one venue, money
conservation, ADL by venue, the hedged owner, arbitrage, monotonicity and bad input."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.cascade import (
    MarginRegime,
    Market,
    VenueSettings,
    path_for,
    population_from_distribution,
    simulate_path,
)
from levguard.cascade.market import (
    Arbitrage,
    MarketPopulation,
    MarketResult,
    MarketSpec,
    MarketVenue,
    simulate_market,
)
from levguard.cascade.market_population import hedged_owners, random_market_population
from levguard.cascade.market_settings import kernel_inputs
from levguard.core.rules.adl import AdlPosition, adl_queue
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels import cascade as kc
from levguard.kernels import cascade_v2_records as r2
from levguard.kernels._jit import NUMBA_DISABLED, readonly
from levguard.kernels.cascade_v2 import market_cascade_nb, market_cascade_py

_SIM = Path(__file__).resolve().parent / "simulator"
if str(_SIM) not in sys.path:
    sys.path.insert(0, str(_SIM))
helpers = importlib.import_module("cascade_helpers")  # the v1 kernel tests' populations

TIER_ROWS = [
    {"notional_cap": 50_000, "mmr": 0.004, "max_leverage": 125, "maint_amount": 0.0},
    {"notional_cap": 250_000, "mmr": 0.005, "max_leverage": 100, "maint_amount": 50.0},
    {"notional_cap": "inf", "mmr": 0.01, "max_leverage": 50, "maint_amount": 1_300.0},
]
JUMPS = helpers.JUMPS
RULES = ("bitmex", "binance-usdm", "bybit-linear", "hyperliquid")


# --------------------------------------------------------------------------- 1. equal to v1


def _v2_kernel_inputs(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # v1's kernel records as v2's: one venue, one asset, BitMEX's ADL.
    acc, tiers, exo, dm, oracle, cfg = args
    n = acc.side.shape[0]
    macc = r2.MarketAccounts(
        np.zeros(n, dtype=np.int64), acc.margin.copy(), (acc.side * acc.qty)[:, None].copy(), acc.entry[:, None].copy()
    )
    bt = r2.BookTiers(
        tiers.caps.copy(),
        tiers.mmrs.copy(),
        tiers.cums.copy(),
        np.array([0, tiers.caps.shape[0]], dtype=np.int64),
        np.array([tiers.mmrs.min()]),
        np.array([tiers.mmrs.max()]),
        np.zeros(1, dtype=bool),
    )
    venues = np.zeros(1, dtype=r2.VENUE_DTYPE)
    vp = venues[0]
    for name in ("fund", "liq_fee", "partial_mode", "partial", "partial_min", "latency", "adl", "max_rounds"):
        vp[name] = getattr(cfg, name)
    for name in ("mark_lag", "outcome", "backstop", "dynamic", "dyn_base_vol", "dyn_window", "dyn_every", "step_from"):
        vp[name] = getattr(cfg, name)
    for name in ("step_to", "step_mode"):
        vp[name] = getattr(cfg, name)
    vp["dyn_min"], vp["dyn_max"], vp["adl_rule"] = cfg.dyn_min, cfg.dyn_max, r2.AdlRule.BITMEX
    books = np.zeros((1, 1), dtype=r2.BOOK_DTYPE)
    bk = books[0, 0]
    for name in ("impact_model", "depth", "impact_coef", "sigma_daily"):
        bk[name] = getattr(cfg, name)
    bk["half_life"] = cfg.half_life
    mcfg = r2.MarketConfig(naive=False, steps_per_year=cfg.steps_per_year)
    return macc, bt, exo[:, None].copy(), dm[None, None, :].copy(), oracle[None].copy(), venues, books, mcfg


def _run_v2(fn: Any, args2: tuple[Any, ...], cap: int = 100_000) -> tuple[r2.MarketOutputs, r2.MarketCounts]:
    macc = args2[0]
    # The venue ids read-only, as the simulator passes them (one compiled signature).
    args2 = (macc._replace(venue=readonly(macc.venue)), *args2[1:])
    out = r2.new_market_outputs(macc.wallet.shape[0], macc.qty.shape[1], args2[5].shape[0], args2[2].shape[0], cap)
    return out, fn(*args2, out)


V1_CASES = [
    {},
    {"partial": 0.2},
    {"adl": False, "fund": 0.0},
    {"latency": 3, "fund": 0.0},
    {"lag": 2},
    {"dyn": True},
    {"dyn": True, "lag": 1, "partial": 0.3, "fund": 0.0},
    {"fund": 0.0, "partial": 0.25, "sources": 3, "depth": 5e3},
    {"fund": 0.0, "adl": False, "depth": 5e3},
    {"partial": "tier"},
    {"partial": "restore", "fund": 0.0},
]


@pytest.mark.parametrize("case", V1_CASES, ids=[str(c) for c in V1_CASES])
def test_kernel_equals_v1_bit_for_bit_on_the_v1_test_populations(case: dict[str, Any]) -> None:
    args = helpers.inputs(**case)
    steps, events, accs, counts = helpers.run(kc.cascade_nb, args)
    out, c2 = _run_v2(market_cascade_nb, _v2_kernel_inputs(args))
    assert counts.accounts_liquidated > 20
    s2 = out.steps
    for name in ("price", "mark", "liq_notional", "adl_notional", "impact", "mm_scale"):
        np.testing.assert_array_equal(getattr(steps, name), getattr(s2, name)[0, 0], err_msg=name)
    for name in ("fund", "bad_debt", "n_liq", "rounds"):
        np.testing.assert_array_equal(getattr(steps, name), getattr(s2, name)[0], err_msg=name)
    e2 = out.events[: c2.events]
    assert len(e2) == len(events)
    for name in events.dtype.names:
        np.testing.assert_array_equal(events[name], e2[name], err_msg=name)
    np.testing.assert_array_equal(accs.qty, np.abs(out.accounts.qty[:, 0]))
    np.testing.assert_array_equal(accs.margin, out.accounts.wallet)
    np.testing.assert_array_equal(accs.pnl, out.accounts.pnl)
    np.testing.assert_array_equal(accs.status, out.accounts.status)
    assert (c2.accounts_liquidated, c2.adl_events) == (counts.accounts_liquidated, counts.adl_events)


def _v1_settings() -> dict[str, tuple[Market, MarginRegime, VenueSettings]]:
    tiers = TierTable.from_rows(TIER_ROWS)
    return {
        "default": (Market(depth=2e3, half_life_steps=30.0), MarginRegime(), VenueSettings(insurance_fund=5e3)),
        "tiered_partial_no_fund": (
            Market(depth=1e3, half_life_steps=30.0),
            MarginRegime(kind="tiered", tiers=tiers, partial=0.25, partial_min_notional=5e3),
            VenueSettings(insurance_fund=0.0),
        ),
        "sqrt_thinning_latency_lag": (
            Market(
                depth=5e7,
                impact="sqrt",
                sigma_daily=0.04,
                depth_multiplier={"shock_step": 30, "floor": 0.2, "recovery_half_life": 40},
            ),
            MarginRegime(liquidation_fee=0.01),
            VenueSettings(insurance_fund=0.0, latency_steps=2, mark_lag_steps=1),
        ),
        "hyperliquid_book_backstop": (
            Market(depth=1e3, half_life_steps=10.0),
            MarginRegime.for_venue("hyperliquid", mmr=0.01),
            VenueSettings(insurance_fund=0.0),
        ),
        "oracle_tier_step_down": (
            Market(depth=2e3),
            MarginRegime(kind="tiered", tiers=tiers, partial="tier"),
            VenueSettings(oracle={"sources": 3, "corrupt": [{"source": 0, "from": 50, "to": 90, "factor": 0.95}]}),
        ),
        "dynamic_restore": (
            Market(depth=2e3, half_life_steps=math.inf),
            MarginRegime(kind="dynamic", partial="restore", window_steps=30, every_steps=10, base_vol=0.3),
            VenueSettings(insurance_fund=1e3, adl=False),
        ),
        "caps": (Market(depth=2e3), MarginRegime(max_leverage=20.0, oi_cap=2e6), VenueSettings(insurance_fund=0.0)),
    }


@pytest.mark.parametrize("name", list(_v1_settings()))
def test_simulate_market_equals_simulate_path_bit_for_bit(name: str) -> None:
    market, regime, venue = _v1_settings()[name]
    pop = population_from_distribution(600, price=60_000.0, seed=3)
    path = path_for(JUMPS, 1)
    v1 = simulate_path(pop, path, market=market, regime=regime, venue=venue)
    spec = MarketSpec(["BTC"], [MarketVenue.from_v1(market, regime, venue)])
    v2 = simulate_market(MarketPopulation.from_population(pop, regime=regime), path, spec)
    assert v1.summary["accounts_liquidated"] > 10
    steps = v2.book_steps("venue", "BTC")
    for col in (
        "price",
        "exogenous",
        "mark",
        "liquidated_notional",
        "adl_notional",
        "insurance_fund",
        "bad_debt",
        "impact",
        "mm_scale",
        "liquidations",
        "rounds",
    ):
        np.testing.assert_array_equal(v1.steps[col].to_numpy(), steps[col].to_numpy(), err_msg=col)
    cols = ["step", "account", "qty", "price", "bankruptcy_price", "fund_delta", "kind", "counterparty"]
    pd.testing.assert_frame_equal(v1.events[cols], v2.events[cols], check_exact=True)
    acc = v2.accounts
    np.testing.assert_array_equal(v1.accounts["qty"].to_numpy() * v1.accounts["side"].to_numpy(), acc["qty_BTC"])
    np.testing.assert_array_equal(v1.accounts["margin"].to_numpy(), acc["wallet"].to_numpy())
    np.testing.assert_array_equal(v1.accounts["pnl"].to_numpy(), acc["pnl"].to_numpy())
    np.testing.assert_array_equal(v1.accounts["status"].to_numpy(), acc["status"].to_numpy())
    assert v2.summary["bad_debt"] == v1.summary["bad_debt"]
    assert v2.summary["liquidated_notional"] == pytest.approx(v1.summary["liquidated_notional"], rel=1e-12)


# --------------------------------------------------------------------------- 2. random markets


def market_case(
    seed: int,
    *,
    n: int = 300,
    n_assets: int = 3,
    n_venues: int = 2,
    n_steps: int = 150,
    fund: float = 0.0,
    partial: float | str = 1.0,
    latency: int = 0,
    lag: int = 0,
    adl: bool = True,
    speed: float = 0.3,
    capacity: float = math.inf,
    liquidation: str | None = None,
    kind: str = "static",
) -> tuple[MarketPopulation, np.ndarray, MarketSpec]:
    """A random market: accounts with 1..K positions, a correlated path with a sell-off and a gap,
    one ADL rule per venue (cycling), thin books."""
    rng = np.random.default_rng(seed)
    s0 = np.array([60_000.0, 3_000.0, 150.0, 0.5])[:n_assets]
    pop = random_market_population(
        n, s0, n_venues=n_venues, seed=seed, leverage=((1.0, 2.0, 40.0),), notional=(20_000.0, 0.8)
    )
    beta = np.array([1.0, 1.2, 1.5, 0.7])[:n_assets]
    f = rng.normal(0.0, 0.003, n_steps)
    f[n_steps // 3 : n_steps // 3 + 10] -= 0.008
    f[n_steps // 3 + 4] -= 0.04  # a gap: fills beyond the bankruptcy price of the most leveraged
    f[2 * n_steps // 3 : 2 * n_steps // 3 + 8] += 0.008
    r = f[:, None] * beta[None, :] + rng.normal(0.0, 0.002, (n_steps, n_assets))
    exo = s0[None, :] * np.exp(np.vstack([np.zeros(n_assets), np.cumsum(r, axis=0)]))
    tiers = TierTable.from_rows(TIER_ROWS)
    venues = []
    for v in range(n_venues):
        fields: dict[str, Any] = {"partial": partial, "partial_min_notional": 10_000.0}
        if kind == "tiered":
            fields.update(kind="tiered", tiers=tiers)
        regime = MarginRegime.for_venue(liquidation, **fields) if liquidation else MarginRegime(**fields)
        venues.append(
            MarketVenue(
                f"v{v}",
                [Market(depth=3e3 * (1 + v) * (1 + a), half_life_steps=20.0) for a in range(n_assets)],
                regime,
                None,
                VenueSettings(insurance_fund=fund, adl=adl, latency_steps=latency, mark_lag_steps=lag),
                RULES[(seed + v) % 4],
            )
        )
    spec = MarketSpec([f"A{a}" for a in range(n_assets)], venues, Arbitrage(speed, capacity))
    return pop, exo, spec


MARKET_CASES = {
    "full": {},
    "fund": {"fund": 2e4},
    "partial": {"partial": 0.3},
    "restore": {"partial": "restore"},
    "tier_step_down": {"partial": "tier", "kind": "tiered"},
    "latency_lag": {"latency": 2, "lag": 1},
    "no_adl": {"adl": False},
    "hyperliquid_book": {"liquidation": "hyperliquid"},
    "capped_arbitrage": {"speed": 1.0, "capacity": 5e4},
}


@pytest.fixture(scope="module", params=[(c, s) for c in MARKET_CASES for s in (0, 1)], ids=lambda p: f"{p[0]}-{p[1]}")
def market_run(request: pytest.FixtureRequest) -> tuple[str, MarketResult, tuple[Any, ...]]:
    name, seed = request.param
    pop, exo, spec = market_case(seed, **MARKET_CASES[name])
    return name, simulate_market(pop, exo, spec), (pop, exo, spec)


def test_random_cases_liquidate_across_venues_and_assets(market_run: tuple[str, MarketResult, Any]) -> None:
    name, res, _ = market_run
    assert res.summary["accounts_liquidated"] > 20
    assert (res.books["liquidated_notional"] > 0).sum() >= 3
    multi = np.count_nonzero(np.asarray(res.population.qty), axis=1) > 1
    liq = res.accounts["status"].to_numpy() == "liquidated"
    assert (multi & liq).sum() > 5  # cross-margin accounts with several positions were closed
    if name == "no_adl":
        assert res.summary["bad_debt"] > 0.0
        assert res.summary["adl_events"] == 0
    elif name != "fund":
        assert res.summary["adl_events"] > 0


def test_money_is_conserved_from_the_outputs(market_run: tuple[str, MarketResult, Any]) -> None:
    _name, res, _ = market_run
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"], led
    # The ADL legs exchange no net cash: each counterparty buys what the bankrupt sells at one price.
    assert abs(led["adl_cash"]) <= 1e-9 * led["scale"]
    # Per account: the wallet's change is its events' traded value less its fund deltas.
    ev = res.out.events[: res.counts.events]
    entry = np.asarray(res.population.entry)
    per_event = ev["qty"] * (ev["price"] - entry[ev["account"], ev["asset"]]) - ev["fund_delta"]
    expect = np.bincount(ev["account"], weights=per_event, minlength=res.population.n)
    change = res.out.accounts.wallet + res.out.accounts.kept - np.asarray(res.population.wallet)
    np.testing.assert_allclose(change, expect, rtol=0, atol=1e-9 * np.abs(np.asarray(res.population.wallet)).sum())
    np.testing.assert_allclose(res.out.accounts.pnl, change, rtol=0, atol=1e-6)
    # Every fund stays >= 0 and bad debt only grows; per-asset bad debt adds up to the venue's.
    assert np.all(res.out.steps.fund >= 0.0)
    assert np.all(np.diff(res.out.steps.bad_debt, axis=1) >= 0.0)
    np.testing.assert_allclose(
        res.books.groupby("venue", sort=False)["bad_debt"].sum().to_numpy(),
        res.venues["bad_debt"].to_numpy(),
        rtol=1e-9,
        atol=1e-9,
    )


def test_ledger_catches_a_leak(market_run: tuple[str, MarketResult, Any]) -> None:
    _name, res, _ = market_run
    res.out.accounts.wallet[0] += 1.0
    try:
        led = res.ledger()
        assert abs(led["residual"]) > 1e-9 * led["scale"]
    finally:
        res.out.accounts.wallet[0] -= 1.0


def test_sorted_sweep_equals_naive_scan(market_run: tuple[str, MarketResult, Any]) -> None:
    _name, res, (pop, exo, spec) = market_run
    naive = simulate_market(pop, exo, spec, naive=True)
    for name in res.out.steps._fields:
        np.testing.assert_array_equal(getattr(res.out.steps, name), getattr(naive.out.steps, name), err_msg=name)
    pd.testing.assert_frame_equal(res.events, naive.events)
    pd.testing.assert_frame_equal(res.accounts, naive.accounts)


def assert_python_twin_equals_compiled(pop: MarketPopulation, exo: np.ndarray, spec: MarketSpec) -> Any:
    """Run the kernel's Python twin and the compiled kernel on the same inputs; every output equal.
    Returns the kernel inputs' venue records and the counts."""
    args = kernel_inputs(pop, spec, exo.shape[0] - 1, 525_600.0, False)
    acc, tiers, dm, oracle, venues, books, cfg = args
    outs = []
    for fn in (market_cascade_py, market_cascade_nb):
        out = r2.new_market_outputs(pop.n, spec.n_assets, spec.n_venues, exo.shape[0], 10_000)
        outs.append((out, fn(acc, tiers, exo, dm, oracle, venues, books, cfg, out)))
    (a, ca), (b, cb) = outs
    assert ca == cb
    for part in ("steps", "accounts", "books"):
        for x, y in zip(getattr(a, part), getattr(b, part), strict=True):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.events[: ca.events], b.events[: cb.events])
    return venues, ca


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: market_cascade_nb is market_cascade_py")
def test_python_twin_equals_compiled() -> None:
    pop, exo, spec = market_case(3, n=80, n_steps=60, partial=0.3, latency=1, lag=1)
    _venues, counts = assert_python_twin_equals_compiled(pop, exo, spec)
    assert counts.accounts_liquidated > 5


# --------------------------------------------------------------------------- 3. ADL by venue


def _adl_market(rule: str, seed: int) -> tuple[MarketPopulation, np.ndarray, MarketSpec, int]:
    # One bankrupt 20x long on BTC; shorts on BTC (some also long ETH) that the gap does not
    # liquidate; zero impact, fund 0: the long is deleveraged against the shorts at step 4.
    rng = np.random.default_rng(seed)
    n_short = 16
    entry = rng.uniform(57_000.0, 66_000.0, n_short)
    qty = rng.uniform(0.2, 1.2, n_short)
    lev = rng.uniform(1.5, 6.0, n_short)
    q = np.zeros((n_short + 1, 2))
    e = np.ones((n_short + 1, 2))
    q[:n_short, 0] = -qty
    e[:n_short, 0] = entry
    wallet = qty * entry / lev
    multi = np.arange(n_short) % 4 == 1  # a quarter also hold ETH longs (cross margin)
    q[:n_short, 1] = np.where(multi, rng.uniform(1.0, 5.0, n_short), 0.0)
    e[:n_short, 1] = rng.uniform(2_900.0, 3_100.0, n_short)
    wallet = wallet + np.where(multi, q[:n_short, 1] * e[:n_short, 1] / 5.0, 0.0)
    q[n_short, 0], e[n_short, 0] = 8.0, 60_000.0
    wallet = np.append(wallet, 8.0 * 60_000.0 / 20.0)
    pop = MarketPopulation(np.zeros(n_short + 1, dtype=np.int64), wallet, q, e)
    btc = np.r_[np.full(4, 60_000.0), np.full(6, 50_000.0)]
    exo = np.column_stack([btc, np.full(btc.shape[0], 3_000.0)])
    flat = Market(depth=1e9, impact="sqrt", impact_coef=0.0)
    venue = MarketVenue("x", flat, MarginRegime(), None, VenueSettings(insurance_fund=0.0), rule)
    return pop, exo, MarketSpec(["BTC", "ETH"], [venue]), n_short


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_adl_order_is_the_venues_ranking(rule: str, seed: int) -> None:
    pop, exo, spec, bankrupt = _adl_market(rule, seed)
    res = simulate_market(pop, exo, spec)
    ev = res.events
    victims = ev[ev["kind"] == "adl_victim"]
    assert len(victims) >= 3
    t = int(victims["step"].iloc[0])
    assert t == 4
    assert (victims["counterparty"] == bankrupt).all()
    # The queue of levguard.core.rules.adl at that step's marks, each position's equity in the
    # venue's sense (BitMEX: the position's share of the account's equity; others: the account's).
    marks = exo[t]
    q = np.asarray(pop.qty)
    e = np.asarray(pop.entry)
    positions = []
    for u in range(pop.n):
        if u == bankrupt:  # the liquidated side is not ranked (its equity is negative here)
            positions.append(AdlPosition(float(q[u, 0]), float(e[u, 0]), float(marks[0]), 1.0))
            continue
        equity = np.asarray(pop.wallet)[u] + float(np.sum(q[u] * (marks - e[u])))
        if rule == "bitmex":
            notional = np.abs(q[u]) * marks
            equity *= notional[0] / notional.sum()
        positions.append(AdlPosition(float(q[u, 0]), float(e[u, 0]), float(marks[0]), float(equity)))
    order = adl_queue(rule, positions, 1.0).order
    got = victims["account"].to_numpy()
    np.testing.assert_array_equal(got, np.array(order[: got.shape[0]]))
    # all but the last victim closed whole; the long fully deleveraged; its fills at the venue's price
    np.testing.assert_allclose(np.abs(victims["qty"].to_numpy()[:-1]), -q[got[:-1], 0])
    assert np.abs(victims["qty"]).sum() == pytest.approx(8.0, rel=1e-12)
    assert res.accounts["qty_BTC"].iloc[bankrupt] == 0.0
    assert res.summary["bad_debt"] == 0.0
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    price = victims["price"].to_numpy()
    if rule == "hyperliquid":
        # Hyperliquid closes at the previous mark: the mark of step t - 1, not the bankruptcy price.
        np.testing.assert_array_equal(price, res.out.steps.mark[0, 0, t - 1])
        assert price[0] == 60_000.0
        # the bankrupt's residual equity there goes to the fund (a takeover), booked on its event
        own = ev[(ev["kind"] == "adl_liquidated") & (ev["account"] == bankrupt)]
        assert own["fund_delta"].sum() == pytest.approx(res.venues["fund_end"].iloc[0], rel=1e-12)
    else:
        np.testing.assert_allclose(price, 57_000.0, rtol=1e-12)  # BP = 60,000 - 3,000
        np.testing.assert_array_equal(price, victims["bankruptcy_price"].to_numpy())


def test_rankings_differ_between_venues() -> None:
    # The same book ranks differently under the four rules (otherwise the test above is weak).
    orders = set()
    for rule in RULES:
        pop, exo, spec, _ = _adl_market(rule, 0)
        victims = simulate_market(pop, exo, spec).events.query("kind == 'adl_victim'")
        orders.add(tuple(victims["account"]))
    assert len(orders) >= 3


# --------------------------------------------------------------------------- 4. the hedged owner


def _hedged_market(long_leverage: float, rule: str = "hyperliquid") -> MarketResult:
    # Venue A holds 20x longs that the crash bankrupts (fund 0, so ADL) and the owner's 20x short,
    # the most profitable and leveraged short there; venue B holds the owner's long.
    rng = np.random.default_rng(4)
    n_long = 30
    longs = MarketPopulation(
        np.zeros(n_long, dtype=np.int64),
        np.full(n_long, 60_000.0 / 20.0),
        rng.uniform(0.5, 1.5, n_long)[:, None],
        np.full((n_long, 1), 60_000.0),
        np.arange(100, 100 + n_long),
    )
    shorts = MarketPopulation(  # low-leverage shorts on A, ranked behind the owner
        np.zeros(5, dtype=np.int64),
        np.full(5, 60_000.0),
        np.full((5, 1), -1.0),
        np.full((5, 1), 60_000.0),
        np.arange(200, 205),
    )
    owner = hedged_owners(
        1,
        n_assets=1,
        asset=0,
        price=60_000.0,
        qty=2.0,
        long_venue=1,
        short_venue=0,
        long_leverage=long_leverage,
        short_leverage=20.0,
        owner_offset=7,
    )
    pop = MarketPopulation.concat(longs, shorts, owner)
    exo = np.r_[np.full(5, 60_000.0), np.linspace(60_000.0, 51_000.0, 6)[1:], np.full(10, 51_000.0)]
    a = MarketVenue(
        "A", Market(depth=5e4, half_life_steps=30.0), MarginRegime(), None, VenueSettings(insurance_fund=0.0), rule
    )
    b = MarketVenue(
        "B",
        Market(depth=5e4, half_life_steps=30.0),
        MarginRegime(),
        None,
        VenueSettings(insurance_fund=1e5),
        "binance-usdm",
    )
    return simulate_market(pop, exo, MarketSpec(["BTC"], [a, b], Arbitrage(0.5, 1e6)))


@pytest.mark.parametrize("rule", ["hyperliquid", "binance-usdm"])
def test_hedged_owner_deleveraged_on_one_venue_liquidated_on_the_other(rule: str) -> None:
    res = _hedged_market(long_leverage=8.0, rule=rule)
    row = res.owners.loc[7]
    assert row["outcome"] == "B: liquidated; A: adl"
    assert row["net_qty0_BTC"] == 0.0
    ev = res.events[res.events["owner"] == 7]
    assert set(zip(ev["venue"], ev["kind"], strict=True)) >= {("A", "adl_victim"), ("B", "liquidation")}
    assert res.books.set_index(["venue", "asset"]).loc[("A", "BTC"), "first_adl_step"] >= 5


def test_hedged_owner_left_exposed_when_the_other_leg_survives() -> None:
    res = _hedged_market(long_leverage=2.0)
    row = res.owners.loc[7]
    assert row["outcome"] == "B: open; A: adl"
    # Flat before, long after: the ADL on venue A closed the hedge of the long on venue B.
    assert row["net_qty0_BTC"] == 0.0
    assert row["net_qty_BTC"] > 0.0
    short = res.accounts[(res.accounts["owner"] == 7) & (res.accounts["venue"] == "A")].iloc[0]
    assert short["deleveraged"]
    assert short["qty_BTC"] > -2.0
    long = res.accounts[(res.accounts["owner"] == 7) & (res.accounts["venue"] == "B")].iloc[0]
    assert long["status"] == "ok"
    assert long["qty_BTC"] == 2.0


# --------------------------------------------------------------------------- 5. arbitrage


def test_arbitrage_pulls_the_quiet_venue_after_the_other_with_finite_speed_and_capacity() -> None:
    pop = random_market_population(400, [60_000.0], n_venues=1, seed=2, long_share=1.0, leverage=((1.0, 10.0, 50.0),))
    exo = 60_000.0 * np.exp(np.r_[0.0, np.cumsum(np.full(40, -0.002))])
    books = Market(depth=2e3, half_life_steps=math.inf)

    def run(arb: Arbitrage) -> MarketResult:
        venues = [MarketVenue(name, books, settings=VenueSettings(insurance_fund=1e9)) for name in ("A", "B")]
        return simulate_market(pop, exo, MarketSpec(["BTC"], venues, arb))

    none, slow, capped = run(Arbitrage(0.0)), run(Arbitrage(0.2)), run(Arbitrage(1.0, 2e4))
    a0, b0 = none.out.steps.price[0, 0], none.out.steps.price[1, 0]
    np.testing.assert_array_equal(b0, exo)  # no arbitrage: venue B (no accounts) stays exogenous
    assert a0.min() < exo.min() * 0.98  # venue A's liquidations push it below
    a1, b1 = slow.out.steps.price[0, 0], slow.out.steps.price[1, 0]
    assert np.all(b1 <= exo * (1 + 1e-12))  # B follows A down
    assert (b1 < exo * 0.999).any()
    assert np.all(a1 >= np.minimum(a0, b1) * (1 - 1e-12))
    # Linear impact: the arbitrage buys on A what it sells on B (equal notional each step).
    arb = slow.out.steps.arb_notional[:, 0]
    np.testing.assert_allclose(arb[0], arb[1], rtol=1e-9, atol=1e-6)
    assert capped.out.steps.arb_notional.max() <= 2e4 * (1 + 1e-12)


# --------------------------------------------------------------------------- 6. monotonicity


def _liquidated_qty(res: MarketResult) -> np.ndarray:
    ev = res.events[res.events["kind"] == "liquidation"]
    return ev.groupby("asset")["qty"].apply(lambda x: np.abs(x).sum()).reindex(list(res.spec.assets)).fillna(0.0)


def test_deeper_crash_fill_notional_counterexample() -> None:
    # The same 20x long liquidated deeper in a deeper crash: the same quantity fills at a lower
    # price, so the quote notional *at the fills* falls.  Monotone are the liquidated set and
    # quantity (hence the notional at any fixed reference price): tests/property.
    pop = MarketPopulation([0], [3_000.0], [[1.0]], [[60_000.0]])
    base = np.r_[np.full(5, 60_000.0), np.full(5, 57_000.0)]  # just below its LP (57,300)
    deep = np.r_[np.full(5, 60_000.0), np.full(5, 50_000.0)]
    spec = MarketSpec(["BTC"], [MarketVenue("v", Market(depth=1e3), settings=VenueSettings(adl=False))])
    a, b = simulate_market(pop, base, spec), simulate_market(pop, deep, spec)
    assert _liquidated_qty(a).sum() == _liquidated_qty(b).sum() == 1.0
    assert b.summary["liquidated_notional"] < a.summary["liquidated_notional"]


# --------------------------------------------------------------------------- 7. bad input


def _good() -> tuple[MarketPopulation, np.ndarray, MarketSpec]:
    return market_case(0, n=20, n_steps=10)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MarketPopulation([0], [1.0], [[math.nan]], [[1.0]]), r"qty\[\(0, 0\)\] must be finite, was nan"),
        (
            lambda: MarketPopulation([0], [1.0], [[1.0]], [[-5.0]]),
            r"entry\[\(0, 0\)\] must be finite and > 0, was -5.0",
        ),
        (lambda: MarketPopulation([0], [-1.0], [[1.0]], [[1.0]]), r"wallet\[0\] must be finite and >= 0, was -1.0"),
        (lambda: MarketPopulation([0.5], [1.0], [[1.0]], [[1.0]]), r"venue\[0\] must be an integer >= 0, was 0.5"),
        (
            lambda: MarketPopulation([0, 0], [1.0], [[1.0]], [[1.0]]),
            r"venue must have one entry per account \(1\), had 2",
        ),
        (lambda: MarketPopulation([0], [1.0], [1.0], [[1.0]]), r"qty must be 2-dimensional"),
        (lambda: Arbitrage(speed=1.5), r"arbitrage\.speed .* was 1\.5"),
        (lambda: Arbitrage(capacity=0.0), r"arbitrage\.capacity must be > 0 .* was 0\.0"),
        (lambda: MarketVenue("x", Market(depth=1.0), adl_rule="okx"), r"adl_rule must be one of .* was 'okx'"),
        (lambda: MarketVenue("x", Market(depth=1.0), MarginRegime(max_leverage=5.0)), r"regime\.max_leverage"),
        (lambda: MarketVenue("", Market(depth=1.0)), r"venue\.name .* was ''"),
        (lambda: MarketSpec(["A", "A"], [MarketVenue("x", Market(depth=1.0))]), r"market\.assets .* \['A', 'A'\]"),
        (
            lambda: MarketSpec(["A", "B", "C"], [MarketVenue("x", [Market(depth=1.0)] * 2)]),
            r"books must be 1 or 3.* was 2",
        ),
        (lambda: MarketSpec(["A"], []), r"market\.venues .* was empty"),
        (
            lambda: MarketSpec(["A"], [MarketVenue("x", Market(depth=1.0)), MarketVenue("x", Market(depth=1.0))]),
            r"distinct names, were \['x', 'x'\]",
        ),
        (
            lambda: simulate_market(_good()[0], _good()[1][:, :2], _good()[2]),
            r"paths must have shape \(T \+ 1, 3\).*\(11, 2\)",
        ),
        (
            lambda: simulate_market(_good()[0], np.where(np.eye(11, 3) > 0, -1.0, _good()[1]), _good()[2]),
            r"paths\[0, 0\] must be a finite price > 0, was -1.0",
        ),
        (lambda: simulate_market(_good()[0], _good()[1], _good()[2], max_events=-1), r"max_events .* was -1"),
        (
            lambda: simulate_market(_good()[0], _good()[1], _good()[2], steps_per_year=0.0),
            r"steps_per_year .* was 0\.0",
        ),
        (lambda: simulate_market("pop", _good()[1], _good()[2]), r"population must be a MarketPopulation, was str"),
        (lambda: simulate_market(_good()[0], _good()[1], "spec"), r"spec must be .*MarketSpec, was str"),
        (
            lambda: simulate_market(MarketPopulation([3], [1.0], [[1.0, 0, 0]], [[1.0, 1, 1]]), _good()[1], _good()[2]),
            r"venue\[0\] must be < the number of venues \(2\), was 3",
        ),
        (
            lambda: simulate_market(MarketPopulation([0], [1.0], [[1.0]], [[1.0]]), _good()[1], _good()[2]),
            r"population has 1 asset columns, the market 3",
        ),
        (lambda: random_market_population(5, [1.0, -2.0]), r"s0\[1\] must be a finite price > 0, was -2.0"),
        (
            lambda: hedged_owners(
                1,
                n_assets=1,
                asset=0,
                price=1.0,
                qty=0.0,
                long_venue=0,
                short_venue=1,
                long_leverage=2.0,
                short_leverage=2.0,
            ),
            r"qty\[0\] must be finite and > 0, was 0.0",
        ),
    ],
)
def test_bad_input_raises_input_error_naming_the_value(make: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        make()


def test_result_lookups_name_bad_keys() -> None:
    pop, exo, spec = _good()
    res = simulate_market(pop, exo, spec)
    assert res.book_steps("v1", "A2").shape == (11, 12)
    with pytest.raises(InputError, match=r"venue must be one of \['v0', 'v1'\], was 'nope'"):
        res.book_steps("nope", 0)
    with pytest.raises(InputError, match=r"asset must be a name or an index < 3, was 7"):
        res.book_steps(0, 7)
    assert list(res.fund_paths().columns) == ["v0", "v1"]
    tiny = simulate_market(*market_case(0), max_events=5)
    assert tiny.counts.events == 5
    assert tiny.counts.overflow > 0
    assert tiny.summary["events_dropped"] == tiny.counts.overflow
    with pytest.raises(InputError, match="max_events too small"):
        tiny.ledger()


def test_a_run_beyond_the_default_event_table_is_run_again_with_room_for_every_event() -> None:
    """20 accounts liquidated in 20 % slices without a minimum on a 30 % fall: 1,656 events, past
    the default table (4 P + 1000 = 1,080).  The default run holds them all (it is run again with
    room for every event), so the ledger balances and the Monte Carlo over such paths runs; an
    explicit ``max_events`` is kept as given."""
    from levguard.cascade import MarketPopulation
    from levguard.cascade.market_montecarlo import market_monte_carlo

    pop = MarketPopulation.from_population(population_from_distribution(20, price=100.0, seed=1, total_notional=1e6))
    regime = MarginRegime(mmr=0.01, partial=0.2, liquidation_fee=0.0)
    spec = MarketSpec(["BTC"], [MarketVenue("v", Market(depth=1e3, half_life_steps=30), regime, None,
                                            VenueSettings(insurance_fund=0.0), "bitmex")])  # fmt: skip
    path = np.linspace(100.0, 70.0, 61)
    res = simulate_market(pop, path, spec)
    assert res.counts.overflow == 0
    assert res.counts.events > 4 * 20 + 1000
    ledger = res.ledger()
    assert abs(ledger["residual"]) <= 1e-9 * ledger["scale"]
    capped = simulate_market(pop, path, spec, max_events=1_080)
    assert capped.counts.events == 1_080
    assert capped.counts.events + capped.counts.overflow == res.counts.events
    mc = market_monte_carlo(pop, spec, {"model": "user", "assets": ["BTC"], "paths": {"BTC": path}}, 2, scheduler=None)
    assert len(mc.paths) == 2
