"""Collateral assets and depegs in the market simulator (v2): a venue's haircut counts like a
maintenance rate, a depeg alone liquidates, liquidations sell the collateral into the venue's
own book (an endogenous depeg that spreads to other accounts), money is conserved, pegged paths
and isolated sleeves."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import Arbitrage, MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_paths import market_paths_for, pegged_paths
from levguard.cascade.market_population import random_market_population
from levguard.errors import InputError

DEEP = Market(depth=1e15)  # no impact: the trigger maths alone


def _venue(books: object = DEEP, haircut: float = 0.1, mmr: float = 0.04, **kw: object) -> MarketVenue:
    return MarketVenue("binance", books, MarginRegime(mmr=mmr), collateral={"USDE": haircut}, **kw)  # type: ignore[arg-type]


def _spec(*venues: MarketVenue, assets: tuple[str, ...] = ("ETH", "USDE")) -> MarketSpec:
    return MarketSpec(assets, venues or (_venue(),))


def _adjusted_equity_trigger(pop: MarketPopulation, path: np.ndarray, rates: np.ndarray) -> np.ndarray:
    # First step where wallet + sum q (P - entry) <= sum rate |q| P (the haircut is the rate of
    # the collateral column), per account; -1: never.
    q = np.asarray(pop.qty)
    e = np.asarray(pop.entry)
    w = np.asarray(pop.wallet)
    eq = w[None, :] + np.einsum("na,tna->tn", q, path[:, None, :] - e[None, :, :])
    mm = np.einsum("a,na,ta->tn", rates, np.abs(q), path)
    hit = eq <= mm
    return np.where(hit.any(axis=0), hit.argmax(axis=0), -1)


# ------------------------------------------------------------------ the haircut as a rate


@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("haircut", [0.0, 0.1, 0.3])
def test_depeg_alone_liquidates_where_the_adjusted_equity_meets_maintenance(fraction: float, haircut: float) -> None:
    # A 20x ETH long whose margin is partly USDe: ETH flat, USDe falls from 1 to 0.05.  The
    # kernel's liquidation step equals the hand-computed first step of adjusted equity <= MM.
    base = MarketPopulation([0], [1_000.0], [[10.0, 0.0]], [[2_000.0, 1.0]])
    pop = base.with_collateral(1, fraction, 1.0, haircut)
    steps = 200
    path = np.column_stack([np.full(steps + 1, 2_000.0), np.linspace(1.0, 0.05, steps + 1)])
    expected = _adjusted_equity_trigger(pop, path, np.array([0.04, haircut]))[0]
    assert expected > 0  # the conversion itself leaves the account safe
    for naive in (False, True):
        res = simulate_market(pop, path, _spec(_venue(haircut=haircut)), naive=naive)
        assert res.accounts["status"].iloc[0] == "liquidated"
        ev = res.events
        assert int(ev["step"].min()) == expected
        # The collateral is sold with the contract, at its venue price.
        sold = ev[(ev["asset"] == "USDE") & (ev["kind"] == "liquidation")]
        assert sold["qty"].sum() == pytest.approx(np.asarray(pop.qty)[0, 1])


def test_the_conversion_keeps_the_margin_and_counts_collateral_at_entry() -> None:
    base = MarketPopulation([0, 0], [1_000.0, 500.0], [[1.0, 0.0], [-2.0, 0.0]], [[2_000.0, 1.0], [2_100.0, 1.0]])
    pop = base.with_collateral(1, [0.5, 0.0], 0.998, 0.2)
    units = 0.5 * 1_000.0 / (0.998 * 0.8)
    assert np.asarray(pop.qty)[:, 1] == pytest.approx([units, 0.0])
    assert np.asarray(pop.wallet) == pytest.approx([500.0 + units * 0.998, 500.0])
    # haircut-adjusted equity at the entry prices is the old wallet
    adj = np.asarray(pop.wallet)[0] - 0.2 * units * 0.998
    assert adj == pytest.approx(1_000.0)
    assert np.asarray(pop.entry)[0, 1] == 0.998
    assert np.asarray(pop.entry)[1, 1] == 1.0


def test_no_haircut_and_flat_peg_change_nothing() -> None:
    # Collateral at the peg with no haircut is cash: the contract's liquidation step is that of
    # the cash account (the ETH leg alone moves).
    path_eth = np.linspace(2_000.0, 1_800.0, 101)
    base = MarketPopulation([0], [1_000.0], [[10.0, 0.0]], [[2_000.0, 1.0]])
    cash = simulate_market(base, np.column_stack([path_eth, np.ones(101)]), _spec(_venue(haircut=0.0)))
    coll = simulate_market(
        base.with_collateral(1, 1.0, 1.0, 0.0), np.column_stack([path_eth, np.ones(101)]), _spec(_venue(haircut=0.0))
    )
    assert int(cash.events["step"].min()) == int(coll.events["step"].min())
    assert coll.accounts["pnl"].iloc[0] == pytest.approx(cash.accounts["pnl"].iloc[0], rel=1e-12)


# ------------------------------------------------------------ the endogenous depeg


def _contagion(usde_depth: float) -> tuple[object, object]:
    # A: a 16.7x BTC long on USDe margin.  B: a 14.3x ETH long on USDe margin (liquidated if
    # USDe falls below 0.714 on the venue), ETH flat.  BTC falls 8 % and liquidates A, whose
    # 6.3M USDe go into the venue's USDe book.
    books = [Market(depth=1e13), Market(depth=1e13), Market(depth=usde_depth, half_life_steps=math.inf)]
    venue = MarketVenue("binance", books, MarginRegime(mmr=0.05), collateral={"USDE": 0.05})
    spec = MarketSpec(("BTC", "ETH", "USDE"), [venue])
    base = MarketPopulation(
        [0, 0],
        [6_000_000.0, 70_000.0],
        [[1_000.0, 0.0, 0.0], [0.0, 500.0, 0.0]],
        [[100_000.0, 1.0, 1.0], [1.0, 2_000.0, 1.0]],
    )
    pop = base.with_collateral(2, 1.0, 1.0, 0.05)
    n = 120
    path = np.column_stack([np.linspace(100_000.0, 92_000.0, n + 1), np.full(n + 1, 2_000.0), np.ones(n + 1)])
    return simulate_market(pop, path, spec), pop


def test_collateral_sold_into_a_thin_book_depegs_it_and_liquidates_a_bystander() -> None:
    thin, _ = _contagion(usde_depth=1_500.0)  # 1,500 USDe move the venue's USDe price 1 bp
    deep, _ = _contagion(usde_depth=1e13)
    b_thin = thin.books.set_index("asset")  # type: ignore[attr-defined]
    b_deep = deep.books.set_index("asset")  # type: ignore[attr-defined]
    assert b_thin.loc["USDE", "haircut"] == 0.05
    assert math.isnan(b_thin.loc["BTC", "haircut"])
    assert b_thin.loc["USDE", "liquidated_notional"] > 0.0
    assert b_thin.loc["USDE", "min_price"] < 0.714  # A's collateral sale depegs USDe on the venue
    assert b_deep.loc["USDE", "min_price"] == pytest.approx(1.0, abs=1e-6)
    # B has no BTC and a flat ETH leg: only the depeg can liquidate it.
    assert list(thin.accounts["status"]) == ["liquidated", "liquidated"]  # type: ignore[attr-defined]
    assert list(deep.accounts["status"]) == ["liquidated", "ok"]  # type: ignore[attr-defined]
    for res in (thin, deep):
        led = res.ledger()  # type: ignore[attr-defined]
        assert abs(led["residual"]) <= 1e-9 * led["scale"]


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    haircut=st.floats(0.0, 0.5),
    depth=st.sampled_from([5e3, 5e4, 1e6]),
    crash=st.floats(0.02, 0.25),
    rule=st.sampled_from(["bitmex", "binance-usdm", "bybit-linear", "hyperliquid"]),
)
def test_money_is_conserved_with_collateral(seed: int, haircut: float, depth: float, crash: float, rule: str) -> None:
    rng = np.random.default_rng(seed)
    crowd = random_market_population(300, [60_000.0, 3_000.0], n_venues=2, seed=seed)
    qty = np.column_stack([np.asarray(crowd.qty), np.zeros(crowd.n)])
    entry = np.column_stack([np.asarray(crowd.entry), np.ones(crowd.n)])
    base = MarketPopulation(crowd.venue, crowd.wallet, qty, entry)
    frac = np.where(np.asarray(crowd.venue) == 0, rng.uniform(0.0, 1.0, crowd.n), 0.0)
    pop = base.with_collateral(2, frac, 1.0, haircut)
    books = [Market(depth=2e6), Market(depth=5e5), Market(depth=depth)]
    spec = MarketSpec(
        ("BTC", "ETH", "USDE"),
        [
            MarketVenue("a", books, MarginRegime(mmr=0.01), collateral={"USDE": haircut}, adl_rule=rule),
            MarketVenue("b", books, MarginRegime(mmr=0.01), adl_rule="bitmex"),
        ],
    )
    n = 200
    fall = np.linspace(0.0, crash, n + 1)
    path = np.column_stack([60_000.0 * (1 - fall), 3_000.0 * (1 - 1.3 * fall), np.ones(n + 1)])
    res = simulate_market(pop, path, spec)
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    # venue a's collateral is never a short, and no account holds USDe on venue b
    fin_q = res.out.accounts.qty
    assert (fin_q[:, 2] >= -1e-12).all()
    assert np.all(fin_q[np.asarray(pop.venue) == 1, 2] == 0.0)


# ------------------------------------------------------------ isolated sleeves


def test_an_isolated_sleeve_is_liquidated_while_the_owners_cross_account_is_not() -> None:
    # One owner: a cross account (ETH long, wide margin) and an isolated sleeve (ETH long at
    # 20x) on the same venue.  The sleeve's loss stays in the sleeve.
    venue = MarketVenue("binance", DEEP, MarginRegime(mmr=0.01))
    spec = MarketSpec(("ETH",), [venue])
    pop = MarketPopulation([0, 0], [10_000.0, 1_000.0], [[10.0], [10.0]], [[2_000.0], [2_000.0]], owner=[7, 7])
    path = np.linspace(2_000.0, 1_850.0, 101)[:, None]
    res = simulate_market(pop, path, spec)
    assert list(res.accounts["status"]) == ["ok", "liquidated"]
    assert len(res.owners) == 1
    owner = res.owners.iloc[0]
    assert owner["accounts"] == 2
    assert owner["outcome"] == "binance: open; binance: liquidated"
    # a cross account holding both would have survived: equity 11,000 - 20 x 150 > MM
    cross = MarketPopulation([0], [11_000.0], [[20.0]], [[2_000.0]])
    assert list(simulate_market(cross, path, spec).accounts["status"]) == ["ok"]


# ------------------------------------------------------------ pegged paths


def test_pegged_path_follows_the_drivers_drawdown() -> None:
    drv = np.array([100.0, 110.0, 99.0, 121.0, 60.5])
    got = pegged_paths(drv, peg=1.0, beta=2.0, floor=0.3)
    dd = np.array([0.0, 0.0, 0.1, 0.0, 0.5])
    assert got == pytest.approx(np.maximum(0.3, 1.0 - 2.0 * dd))
    assert pegged_paths(drv, peg=0.999) == pytest.approx(np.full(5, 0.999))


@pytest.mark.parametrize("bad", [{"peg": 0.0}, {"beta": -1.0}, {"floor": 0.0}, {"floor": 1.5}, {"peg": "x"}])
def test_pegged_path_refuses_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(InputError, match=next(iter(bad))):
        pegged_paths(np.ones(3), **bad)  # type: ignore[arg-type]


def test_pegged_assets_leave_the_models_paths_unchanged() -> None:
    rng = np.random.default_rng(5)
    returns = {"BTC": rng.normal(0.0, 0.01, 500), "SOL": rng.normal(0.0, 0.02, 500)}
    common = {"model": "bootstrap", "returns": returns, "n_steps": 50, "seed": 3, "block": 10}
    plain = market_paths_for({**common, "assets": ["BTC", "SOL"], "s0": [60_000.0, 150.0]}, 4, first=2)
    spec = {
        **common,
        "assets": ["BTC", "USDE", "SOL"],
        "s0": [60_000.0, 1.0, 150.0],
        "pegged": {"USDE": {"driver": "BTC", "beta": 1.5, "floor": 0.6}},
    }
    got = market_paths_for(spec, 4, first=2)
    assert np.array_equal(got[:, :, [0, 2]], plain)
    assert np.array_equal(got[:, :, 1], pegged_paths(plain[:, :, 0], 1.0, 1.5, 0.6))
    assert got[:, :, 1].min() < 1.0  # the drawdowns of a 500-step bootstrap depeg it somewhere


@pytest.mark.parametrize(
    ("pegged", "match"),
    [
        ({"XRP": {}}, "not in spec"),
        ({"USDE": {"driver": "USDE"}}, "driver"),
        ({"USDE": {"beta": 1.0}}, "needs a driver"),
        ({"USDE": {"spread": 1.0}}, "unknown keys"),
        ({"USDE": {}, "BTC": {}}, "at least one asset"),
    ],
)
def test_pegged_spec_errors_name_the_key(pegged: dict[str, object], match: str) -> None:
    spec = {"model": "user", "assets": ["BTC", "USDE"], "paths": {"BTC": [1.0, 2.0]}, "pegged": pegged}
    with pytest.raises(InputError, match=match):
        market_paths_for(spec, 1)


def test_pegged_with_user_paths() -> None:
    spec = {"model": "user", "assets": ["BTC", "USDE"], "paths": {"BTC": [100.0, 90.0, 95.0]},
            "pegged": {"USDE": {"driver": "BTC", "beta": 2.0}}}  # fmt: skip
    got = market_paths_for(spec, 2)
    assert got.shape == (2, 3, 2)
    assert got[0, :, 1] == pytest.approx([1.0, 0.8, 0.9])


# ------------------------------------------------------------ bad input


def test_bad_collateral_settings_are_refused_by_name() -> None:
    with pytest.raises(InputError, match=r"collateral\.USDE must be a haircut"):
        _venue(haircut=1.0)
    with pytest.raises(InputError, match="not one of the assets"):
        MarketSpec(("ETH", "BTC"), [_venue()])
    with pytest.raises(InputError, match="dynamic"):
        MarketVenue("x", DEEP, MarginRegime(kind="dynamic"), collateral={"USDE": 0.1})
    with pytest.raises(InputError, match="drop its maintenance"):
        MarketSpec(
            ("ETH", "USDE"), [MarketVenue("x", DEEP, maintenance=[None, MarginRegime()], collateral={"USDE": 0.1})]
        )
    short = MarketPopulation([0], [1_000.0], [[1.0, -5.0]], [[2_000.0, 1.0]])
    with pytest.raises(InputError, match=r"qty\[0, 1\] must be >= 0: USDE is collateral"):
        simulate_market(short, np.ones((3, 2)) * [2_000.0, 1.0], _spec())
    base = MarketPopulation([0], [1_000.0], [[1.0, 2.0]], [[2_000.0, 1.0]])
    with pytest.raises(InputError, match="fraction"):
        base.with_collateral(1, 0.5, 1.0)  # already holds the asset
    with pytest.raises(InputError, match="fraction"):
        base.with_collateral(1, -0.1, 1.0)
    with pytest.raises(InputError, match="asset"):
        base.with_collateral(5, 0.5, 1.0)
    with pytest.raises(InputError, match="haircut"):
        base.with_collateral(1, 0.0, 1.0, 1.0)


# ------------------------------------------------------------ the contagion config


def _sample_with_usde() -> dict[str, object]:
    import yaml

    text = resources.files("levguard.resources").joinpath("samples", "contagion.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    raw["assets"] = {**raw["assets"], "USDE": 1.0}
    raw["paths"]["pegged"] = {"USDE": {"driver": "BTC", "beta": 0.5, "floor": 0.9}}
    for v in raw["venues"]:
        v["books"]["USDE"] = {"depth": 500, "half_life_steps": 60}
    raw["venues"][1]["collateral"] = {"USDE": 0.05}
    raw["population"]["collateral"] = {"USDE": 0.6}
    raw["monte_carlo"]["paths"] = 4
    return raw


def test_contagion_config_with_collateral_and_a_pegged_asset(tmp_path: Path) -> None:
    from levguard.cascade.contagion_config import config_from_dict
    from levguard.cascade.market_montecarlo import market_monte_carlo
    from levguard.cascade.market_paths import market_paths_for

    raw = _sample_with_usde()
    cfg = config_from_dict(raw, tmp_path)
    pop = cfg.population
    venue = np.asarray(pop.venue)
    q = np.asarray(pop.qty)
    crowd = np.arange(pop.n) < 1_500  # the drawn accounts; the hedged owners hold cash
    assert (q[crowd & (venue == 1), 2] > 0.0).all()  # binance's accounts hold USDe
    assert (q[~crowd | (venue == 0), 2] == 0.0).all()  # hl takes none
    plain = dict(raw)
    plain["assets"] = {"BTC": 60000, "ETH": 3000}
    plain_paths = {**raw["paths"]}  # type: ignore[dict-item]
    del plain_paths["pegged"]
    plain["paths"] = plain_paths
    plain["venues"] = [{**v, "books": {a: b for a, b in v["books"].items() if a != "USDE"}} for v in raw["venues"]]  # type: ignore[union-attr]
    for v in plain["venues"]:  # type: ignore[union-attr]
        v.pop("collateral", None)
    plain["population"] = {k: v for k, v in raw["population"].items() if k != "collateral"}  # type: ignore[union-attr]
    ref = config_from_dict(plain, tmp_path)
    # the crowd trades the same BTC and ETH positions as without USDe
    assert np.array_equal(q[:, :2], np.asarray(ref.population.qty))
    paths = market_paths_for(cfg.paths, 2)
    assert np.array_equal(paths[:, :, :2], market_paths_for(ref.paths, 2))
    assert (paths[:, :, 2] <= 1.0).all()
    assert (paths[:, :, 2] >= 0.9).all()
    mc = market_monte_carlo(cfg.population, cfg.spec, cfg.paths, 4, budget=cfg.budget)
    assert mc.n_paths == 4


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda r: r["venues"][1].update(collateral={"XRP": 0.1}), "not one of the assets"),
        (lambda r: r["venues"][1].update(collateral=[0.1]), "collateral must map"),
        (lambda r: r["population"].update(collateral={"ETH": 0.5}), "no venue takes 'ETH'"),
        (lambda r: r["population"].update(collateral={"USDE": 1.5}), r"population\.collateral\.USDE"),
        (lambda r: r["paths"].update(pegged={"XRP": {}}), r"paths\.pegged\.XRP"),
        (lambda r: r["population"]["hedged"][0].update(asset="USDE"), "traded assets"),
    ],
)
def test_contagion_config_collateral_errors_name_the_key(edit: object, match: str, tmp_path: Path) -> None:
    from levguard.cascade.contagion_config import config_from_dict

    raw = _sample_with_usde()
    edit(raw)  # type: ignore[operator]
    with pytest.raises(InputError, match=match):
        config_from_dict(raw, tmp_path)


# ------------------------------------------------------------ review: collateral is margin, not a position


@pytest.mark.parametrize("rule", ["bitmex", "binance-usdm", "bybit-linear", "hyperliquid"])
def test_collateral_at_the_peg_without_haircut_is_cash_in_adl(rule: str) -> None:
    # A 10x BTC long gaps 20 % through its bankruptcy price with no fund: ADL against a short.
    # Margin held as USDe at the peg with no haircut must give the cash account's ADL price, bad
    # debt and counterparty outcome (the holding takes no share of the deficit).
    deep = Market(depth=1e15)
    venue = MarketVenue(
        "x",
        [Market(depth=1e6), deep],
        MarginRegime(mmr=0.05, liquidation_fee=0.0),
        settings=VenueSettings(insurance_fund=0.0),
        adl_rule=rule,
        collateral={"USDE": 0.0},
    )
    spec = MarketSpec(("BTC", "USDE"), [venue])
    cash = MarketPopulation(
        [0, 0], [10_000.0, 50_000.0], [[1.0, 0.0], [-1.0, 0.0]], [[100_000.0, 1.0], [100_000.0, 1.0]]
    )
    coll = cash.with_collateral(1, [1.0, 0.0], 1.0, 0.0)
    path = np.column_stack([[100_000.0, 100_000.0, 80_000.0, 80_000.0], np.ones(4)])
    a, b = simulate_market(cash, path, spec), simulate_market(coll, path, spec)
    assert b.summary["bad_debt"] == pytest.approx(a.summary["bad_debt"], abs=1e-6)
    pa = a.events[a.events["kind"] == "adl_victim"]["price"].to_numpy()
    pb = b.events[b.events["kind"] == "adl_victim"]["price"].to_numpy()
    np.testing.assert_allclose(pb, pa, rtol=1e-12)
    assert b.accounts["pnl"].iloc[1] == pytest.approx(a.accounts["pnl"].iloc[1], rel=1e-12)


TIERS_3 = [
    {"notional_cap": 50_000, "mmr": 0.01, "max_leverage": 50, "maint_amount": 0.0},
    {"notional_cap": 250_000, "mmr": 0.02, "max_leverage": 25, "maint_amount": 500.0},
    {"notional_cap": "inf", "mmr": 0.05, "max_leverage": 10, "maint_amount": 8_000.0},
]


@pytest.mark.parametrize("mode", ["tier", 0.5, "restore"])
def test_partial_liquidations_keep_the_collateral(mode: object) -> None:
    # A partial close sells contracts only; the holding is sold by a full close alone.
    from levguard.core.tiers import TierTable

    reg = MarginRegime(kind="tiered", tiers=TierTable.from_rows(TIERS_3), partial=mode)  # type: ignore[arg-type]
    spec = MarketSpec(("ETH", "USDE"), [MarketVenue("binance", [DEEP, DEEP], reg, collateral={"USDE": 0.1})])
    pop = MarketPopulation([0], [40_000.0], [[200.0, 0.0]], [[2_000.0, 1.0]]).with_collateral(1, 0.5, 1.0, 0.1)
    path = np.column_stack([np.linspace(2_000.0, 1_850.0, 101), np.ones(101)])
    res = simulate_market(pop, path, spec)
    ev = res.events
    first = ev[ev["step"] == ev["step"].min()]
    assert set(first["asset"]) == {"ETH"}
    assert 0.0 < first["qty"].sum() < 200.0
    usde = ev[ev["asset"] == "USDE"]
    if len(usde):  # sold only with the last of the ETH, in a full close
        assert int(usde["step"].min()) == int(ev[ev["asset"] == "ETH"]["step"].max())


def test_no_liquidation_fee_on_collateral_sold() -> None:
    # Partial 0.3, fee 1 %, USDe at the peg without haircut: the fund gets the cash account's fees.
    fee_reg = MarginRegime(mmr=0.05, liquidation_fee=0.01, partial=0.3, partial_min_notional=0.0)
    spec = MarketSpec(("ETH", "USDE"), [MarketVenue("x", [DEEP, DEEP], fee_reg, collateral={"USDE": 0.0})])
    cash = MarketPopulation([0], [2_000.0], [[10.0, 0.0]], [[2_000.0, 1.0]])
    coll = cash.with_collateral(1, 1.0, 1.0, 0.0)
    path = np.column_stack([np.linspace(2_000.0, 1_700.0, 61), np.ones(61)])
    a, b = simulate_market(cash, path, spec), simulate_market(coll, path, spec)
    assert b.out.steps.fund[0, -1] == pytest.approx(a.out.steps.fund[0, -1], rel=1e-12)
    assert b.accounts["pnl"].iloc[0] == pytest.approx(a.accounts["pnl"].iloc[0], rel=1e-12)


def test_tiered_collateral_ratios_from_a_venue_table() -> None:
    # Binance PM's published BTC ratios as the haircut tiers: the kernel's liquidation step
    # equals the first step where the unified value (CollateralTiers.value) minus losses meets MM.
    from levguard.cascade.market_collateral import COLLATERAL_TABLES, haircut_rows

    tiers = COLLATERAL_TABLES["binance-pm"].get("BTC")
    assert tiers is not None
    rows = haircut_rows(tiers, 60_000.0)
    for n in (1e3, 5e6, 4e7, 2e8):  # the rows' rate N - cum is the haircut H(N)
        k = int(np.searchsorted(rows[:, 0], n, side="right"))
        assert rows[k, 1] * n - rows[k, 2] == pytest.approx(n - tiers.value(n / 60_000.0, 60_000.0), rel=1e-12)
    venue = MarketVenue("pm", [DEEP, DEEP], MarginRegime(mmr=0.02), collateral={"BTC": "binance-pm"})
    spec = MarketSpec(("ETH", "BTC"), [venue])
    pop = MarketPopulation([0], [1e6], [[5_000.0, 0.0]], [[2_000.0, 60_000.0]])
    pop = pop.with_collateral(1, 1.0, 60_000.0, venue.collateral_tiers("BTC"))  # type: ignore[arg-type]
    u = float(np.asarray(pop.qty)[0, 1])
    assert tiers.value(u, 60_000.0) == pytest.approx(1e6, rel=1e-9)
    n = 200
    path = np.column_stack([np.full(n + 1, 2_000.0), np.linspace(60_000.0, 10_000.0, n + 1)])
    res = simulate_market(pop, path, spec)
    w = float(np.asarray(pop.wallet)[0])
    adj = np.array([w + u * (p - 60_000.0) - (u * p - tiers.value(u, p)) for p in path[:, 1]])
    expected = int(np.argmax(adj <= 0.02 * 5_000.0 * 2_000.0))
    assert int(res.events["step"].min()) == expected
    with pytest.raises(InputError, match="has no collateral ratio for 'USDE'"):
        MarketVenue("pm", DEEP, collateral={"USDE": "binance-pm"})
    with pytest.raises(InputError, match="one of the tables"):
        MarketVenue("pm", DEEP, collateral={"BTC": "kraken"})


def test_more_bad_input_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="driver"):
        pegged_paths("abc")
    with pytest.raises(InputError, match="driver"):
        pegged_paths([[1.0, 2.0], [1.0]])
    with pytest.raises(InputError, match="collateral must map"):
        MarketVenue("x", DEEP, collateral=(("USDE",),))  # type: ignore[arg-type]
    base = MarketPopulation([0, 0], [1_000.0, 1_000.0], [[1.0, 0.0], [1.0, 0.0]], [[2_000.0, 1.0], [2_000.0, 1.0]])
    with pytest.raises(InputError, match="one per account"):
        base.with_collateral(1, [0.5, 0.5, 0.5], 1.0)
    # numpy scalars are numbers
    assert MarketVenue("x", DEEP, collateral={"USDE": np.float32(0.25)}).haircut("USDE") == 0.25
    assert pegged_paths(np.ones(3), beta=np.int64(1), floor=np.float32(0.5)).shape == (3,)


def test_a_per_asset_dynamic_regime_is_refused() -> None:
    # The kernel reads dynamic margin from the venue's regime only: a per-asset one was ignored.
    with pytest.raises(InputError, match=r"maintenance\[0\] is dynamic"):
        MarketVenue("x", DEEP, maintenance=[MarginRegime(kind="dynamic")])


def test_a_book_too_thin_for_the_flow_is_named_instead_of_returning_inf() -> None:
    # A short squeeze into a book of 1 quote per bp: the price leaves the float range.
    venue = MarketVenue("v0", [Market(depth=1.0, half_life_steps=30)], MarginRegime(mmr=0.01))
    spec = MarketSpec(("ETH",), [venue])
    crowd = random_market_population(300, [3_000.0], seed=4, long_share=0.0)
    path = np.linspace(3_000.0, 3_600.0, 61)[:, None]
    with pytest.raises(InputError, match="price of ETH on venue 'v0' left the floating-point range"):
        simulate_market(crowd, path, spec)


def test_the_book_named_is_the_first_to_leave_the_float_range_not_the_lowest_index() -> None:
    # A review's hunt (2026-12-08): the error named the lowest (venue, asset) index, a deep book
    # arbitrage pulled out a step later.  Here the thin venue (listed second) leaves at step 0,
    # the deep one (depth 1e7) follows through arbitrage at step 2.
    off = VenueSettings(insurance_fund=0.0, adl=False)
    venues = [
        MarketVenue(name, [Market(depth=depth, half_life_steps=math.inf)], MarginRegime(mmr=0.05), settings=off)
        for name, depth in (("deep", 1e7), ("thin", 1e-3))
    ]
    spec = MarketSpec(("A0",), venues, Arbitrage(speed=0.5, capacity=1e12))
    crowd = random_market_population(40, [100.0], n_venues=2, seed=3, long_share=1.0)
    path = (100.0 * np.exp(np.linspace(0.0, -0.3, 6)))[:, None]
    with pytest.raises(InputError) as err:
        simulate_market(crowd, path, spec)
    msg = str(err.value)
    assert "price of A0 on venue 'thin' left the floating-point range at step 0" in msg
    assert "(depth 0.001)" in msg
    assert "then A0 on 'deep' at step 2, through arbitrage" in msg
