"""Bad-input campaign 6: the cascade, data, documents, sizing and core margin entry points.

Each case failed before the fix with a raw AttributeError / TypeError / ValueError /
OverflowError (or accepted a bool as a number); every one must now raise
:class:`~levguard.errors.InputError` naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import levguard
from levguard import margin as lm
from levguard.backtest import sweep
from levguard.backtest.strategies import BuyAndHold
from levguard.cascade import (
    FactorJumpModel,
    MarketSpec,
    MarketVenue,
    calibrate,
    load_contagion_config,
    load_population,
    load_replay_config,
    max_safe,
    monte_carlo,
    population_from_distribution,
    save_population,
    simulate_path,
)
from levguard.cascade.market_fit import VolModel
from levguard.cascade.market_montecarlo import calibrate_market
from levguard.cascade.market_pools import lending_borrowers, lending_pool_venue, random_borrowers
from levguard.cascade.market_settings import MarketPopulation
from levguard.cascade.settings import MarginRegime, Market
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.core.margin import evaluate
from levguard.core.positions import Account, Position
from levguard.core.sizing.base import MarketContext, SeriesInputs
from levguard.core.sizing.policies import Rebalancer
from levguard.core.tiers import Tier, TierTable
from levguard.data import ParquetCache, cache_root, default_market, synth_market
from levguard.documents import parse_spec_text
from levguard.errors import InputError

POP = population_from_distribution(20, price=60_000.0, seed=3)
MARKET = Market(depth=1e9)
PATHS: dict[str, Any] = {"model": "gbm", "s0": 60_000.0, "sigma": 0.8, "n_steps": 5, "dt_years": 1e-5, "seed": 0}
PATH = np.full(6, 60_000.0)
DEEP = Market(depth=1e13, half_life_steps=0.0)
POOL = lending_pool_venue("p", ["BTC", "ETH"], lt=[0.78, None], bonus=0.05, books=DEEP)
ETH_POOL = lending_pool_venue("p", ["ETH"], lt=0.8, bonus=0.05, books=DEEP)
ETH_POP = lending_borrowers([[1.0]], [1_000.0], [3_000.0], venue=0)
TIERS = (Tier(0.0, float("inf"), 0.005, 0.0, 100.0),)
INSTRUMENT = levguard.Instrument("BTCUSDT")
ACCOUNT = Account(venue="binance-usdm", wallet_balance=5.0, positions=())
GRID = {"insurance_fund": [0.0]}
NO_GARCH = VolModel(vol=0.0, alpha=0.0, beta=0.0, dof=float("inf"))
FACTOR = FactorJumpModel(
    assets=("BTC", "ETH"),
    factor="BTC",
    factor_mean=1e-05,
    factor_vol=VolModel(vol=0.007, alpha=0.05, beta=0.93, dof=4.0),
    intercept=(0.0, 1e-05),
    beta=(1.0, 1.1),
    idio_vol=(NO_GARCH, VolModel(vol=0.005, alpha=0.05, beta=0.9, dof=5.0)),
    jump_intensity=0.02,
    jump_mean=-0.01,
    jump_std=0.03,
    jump_beta=(1.0, 1.0),
    jump_idio_std=(0.0, 0.01),
)

# (label, call, words the message must hold)
CASES: list[tuple[str, Callable[[], object], str]] = [
    # Records of the wrong type: their methods or dataclasses.replace were called on a str.
    ("simulate_path(regime=str)", lambda: simulate_path(POP, PATH, market=MARKET, regime="abc"), "regime must be"),
    ("simulate_path(venue=str)", lambda: simulate_path(POP, PATH, market=MARKET, venue="abc"), "venue must be"),
    ("monte_carlo(regime=str)", lambda: monte_carlo(POP, PATHS, 2, market=MARKET, regime="abc"), "regime must be"),
    ("monte_carlo(venue=str)", lambda: monte_carlo(POP, PATHS, 2, market=MARKET, venue="abc"), "venue must be"),
    ("monte_carlo(n_paths=2**62)", lambda: monte_carlo(POP, PATHS, np.int64(2**62), market=MARKET), "n_paths"),
    ("calibrate(market=None)", lambda: calibrate(POP, PATHS, 2, GRID, market=None), "market must be"),
    ("calibrate(regime=str)", lambda: calibrate(POP, PATHS, 2, GRID, market=MARKET, regime="abc"), "regime must be"),
    ("calibrate(venue=str)", lambda: calibrate(POP, PATHS, 2, GRID, market=MARKET, venue="abc"), "venue must be"),
    ("calibrate(n_paths=2**62)", lambda: calibrate(POP, PATHS, np.int64(2**62), GRID, market=MARKET), "n_paths"),
    (
        "max_safe(regime=str)",
        lambda: max_safe(POP, PATHS, 2, "max_leverage", 2.0, 50.0, market=MARKET, regime="abc"),
        "regime must be",
    ),
    (
        "max_safe(venue=str)",
        lambda: max_safe(POP, PATHS, 2, "max_leverage", 2.0, 50.0, market=MARKET, venue="abc"),
        "venue must be",
    ),
    (
        "max_safe(n_paths=2**62)",
        lambda: max_safe(POP, PATHS, np.int64(2**62), "max_leverage", 2.0, 50.0, market=MARKET),
        "n_paths",
    ),
    (
        "calibrate_market(venues=nan)",
        lambda: calibrate_market(
            ETH_POP,
            MarketSpec(["ETH"], [ETH_POOL]),
            {},
            2,
            GRID,
            budget=0.0,
            venues=float("nan"),  # type: ignore[arg-type]
        ),
        "venues must be",
    ),
    # Lending borrowers: 'abc' / object() were raw ValueError/TypeError, True read as 1.0.
    ("lending_borrowers(collateral='abc')", lambda: lending_borrowers("abc", [1.0], [3_000.0], venue=0), "collateral"),
    (
        "lending_borrowers(collateral=object)",
        lambda: lending_borrowers(object(), [1.0], [3_000.0], venue=0),  # type: ignore[arg-type]
        "collateral",
    ),
    ("lending_borrowers(debt='abc')", lambda: lending_borrowers([[1.0]], "abc", [3_000.0], venue=0), "debt"),
    ("lending_borrowers(debt=object)", lambda: lending_borrowers([[1.0]], object(), [3_000.0], venue=0), "debt"),  # type: ignore[arg-type]
    ("lending_borrowers(prices='abc')", lambda: lending_borrowers([[1.0]], [1.0], "abc", venue=0), "prices"),
    ("lending_borrowers(prices=object)", lambda: lending_borrowers([[1.0]], [1.0], object(), venue=0), "prices"),  # type: ignore[arg-type]
    ("random_borrowers(prices='abc')", lambda: random_borrowers(5, "abc", POOL, venue=0), "prices"),
    ("random_borrowers(prices=object)", lambda: random_borrowers(5, object(), POOL, venue=0), "prices"),  # type: ignore[arg-type]
    ("random_borrowers(prices=[True, 1])", lambda: random_borrowers(5, [True, 3_000.0], POOL, venue=0), "prices"),
    ("random_borrowers(hf=None)", lambda: random_borrowers(5, [60_000.0, 3_000.0], POOL, venue=0, hf=None), "hf"),  # type: ignore[arg-type]
    ("random_borrowers(hf=[])", lambda: random_borrowers(5, [60_000.0, 3_000.0], POOL, venue=0, hf=[]), "hf"),  # type: ignore[arg-type]
    (
        "random_borrowers(notional=None)",
        lambda: random_borrowers(5, [60_000.0, 3_000.0], POOL, venue=0, notional=None),  # type: ignore[arg-type]
        "notional",
    ),
    (
        "random_borrowers(notional=[])",
        lambda: random_borrowers(5, [60_000.0, 3_000.0], POOL, venue=0, notional=[]),  # type: ignore[arg-type]
        "notional",
    ),
    (
        "random_borrowers(n=2**62)",
        lambda: random_borrowers(np.int64(2**62), [60_000.0, 3_000.0], POOL, venue=0),  # type: ignore[arg-type]
        "n must",
    ),
    # Paths: Path(None) was a raw TypeError.
    ("load_contagion_config(None)", lambda: load_contagion_config(None), "path must be"),
    ("load_replay_config(None)", lambda: load_replay_config(None), "path must be"),
    ("load_population(None)", lambda: load_population(None), "path must be"),
    ("save_population(path=None)", lambda: save_population(POP, None), "path must be"),
    ("cache_root(nan)", lambda: cache_root(float("nan")), "root must be"),
    ("default_market(root=0)", lambda: default_market(root=0), "root must be"),
    ("ParquetCache(1)", lambda: ParquetCache(1), "root must be"),
    ("synth_market('abc')", lambda: synth_market("abc"), "config must be"),
    ("parse_spec_text(None)", lambda: parse_spec_text(None), "text must be"),  # type: ignore[arg-type]
    ("parse_spec_text(max_bytes='abc')", lambda: parse_spec_text("a: 1", max_bytes="abc"), "max_bytes"),  # type: ignore[arg-type]
    ("sweep(grid=object)", lambda: sweep(None, {"hold": BuyAndHold()}, {"fixed": 2.0}, grid=object()), "grid must"),
    # Core margin records.
    ("evaluate(None)", lambda: evaluate(None), "account must be"),  # type: ignore[arg-type]
    ("evaluate(model='abc')", lambda: evaluate(ACCOUNT, "abc"), "model must be"),  # type: ignore[arg-type]
    (
        "liquidation_outcome(tiers='abc')",
        lambda: liquidation_outcome("bybit-linear", 25.0, 100_000, 98_000, 62_500, tiers="abc"),  # type: ignore[arg-type]
        "tiers must be",
    ),
    (
        "Position(instrument=None)",
        lambda: Position(instrument=None, qty=1.0, entry_price=60_000.0, mark_price=60_000.0),  # type: ignore[arg-type]
        "instrument must be",
    ),
    (
        "Position(tiers=nan)",
        lambda: Position(INSTRUMENT, 1.0, 60_000.0, 60_000.0, tiers=float("nan")),  # type: ignore[arg-type]
        "tiers must be",
    ),
    ("TierTable(None)", lambda: TierTable(None), "tiers must be"),  # type: ignore[arg-type]
    ("TierTable('abc')", lambda: TierTable("abc"), "tiers must be"),  # type: ignore[arg-type]
    ("TierTable(deduction='abc')", lambda: TierTable(TIERS, deduction="abc"), "deduction must be"),  # type: ignore[arg-type]
    # Cascade market records.
    ("FactorJumpModel(assets=None)", lambda: replace(FACTOR, assets=None), "assets must be"),
    ("MarketSpec(assets=None)", lambda: MarketSpec(None, [ETH_POOL]), "assets must be"),
    ("MarketSpec(venues=None)", lambda: MarketSpec(["BTC"], None), "venues must be"),
    ("MarketVenue(books=None)", lambda: MarketVenue("cex", None, MarginRegime()), "books must be"),
    ("LendingPoolVenue(books=None)", lambda: replace(ETH_POOL, books=None), "books must be"),  # type: ignore[arg-type]
    ("MarketPopulation(venue=[True])", lambda: MarketPopulation([True], [1.0], [[1.0]], [[3_000.0]]), "venue must be"),
    ("MarketPopulation(wallet=[True])", lambda: MarketPopulation([0], [True], [[1.0]], [[3_000.0]]), "wallet must be"),
    ("Account(venue=1)", lambda: Account(venue=1, wallet_balance=5.0), "venue must be a rule-set name"),  # type: ignore[arg-type]
    ("Instrument(settlement=1)", lambda: levguard.Instrument("BTCUSDT", settlement=1), "settlement must be"),  # type: ignore[arg-type]
    # Sizing records.
    ("MarketContext(contract_size=10**400)", lambda: MarketContext(contract_size=10**400), "contract_size"),
    ("Rebalancer(max_step=None)", lambda: Rebalancer(max_step=None), "max_step"),  # type: ignore[arg-type]
    ("Rebalancer(max_step=10**400)", lambda: Rebalancer(max_step=10**400), "max_step"),
    ("Rebalancer(max_step=True)", lambda: Rebalancer(max_step=True), "max_step"),
    ("SeriesInputs(returns=None)", lambda: SeriesInputs(returns=None), "returns must be"),  # type: ignore[arg-type]
    (
        "SeriesInputs(liquidation_forecasts=0)",
        lambda: SeriesInputs(returns=np.zeros(30), liquidation_forecasts=0),  # type: ignore[arg-type]
        "liquidation_forecasts",
    ),
    # The vectorized isolated engine: NumPy read True as 1.0.
    (
        "isolated_liquidation_prices(entry_price=True)",
        lambda: lm.isolated_liquidation_prices([1.0], True, [100.0], TierTable(TIERS)),
        "entry_price",
    ),
    (
        "isolated_liquidation_prices(isolated_margin=True)",
        lambda: lm.isolated_liquidation_prices([1.0], [100.0], True, TierTable(TIERS)),
        "isolated_margin",
    ),
    (
        "isolated_margin_arrays(entry_price=True)",
        lambda: lm.isolated_margin_arrays([1.0], True, [100.0], TierTable(TIERS)),
        "entry_price",
    ),
    (
        "isolated_margin_arrays(isolated_margin=[True])",
        lambda: lm.isolated_margin_arrays([1.0], [100.0], [True], TierTable(TIERS)),
        "isolated_margin",
    ),
    (
        "isolated_margin_arrays(qty='1')",
        lambda: lm.isolated_margin_arrays("1", [100.0], [10.0], TierTable(TIERS)),
        "qty",
    ),
]


@pytest.mark.parametrize(("label", "call", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_input_error(label: str, call: Callable[[], object], words: str) -> None:
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        call()


def test_valid_inputs_still_compute() -> None:
    # The new checks accept what was valid: a NumPy float array, a list pair, a path string.
    lp = lm.isolated_liquidation_prices(np.array([1.0]), np.array([100.0]), np.array([10.0]), TierTable(TIERS))
    assert np.isfinite(lp[0])
    pop = random_borrowers(5, np.array([60_000.0, 3_000.0]), POOL, venue=0, hf=[1.1, 2.0], notional=[20_000.0, 1.0])  # type: ignore[arg-type]
    assert len(np.asarray(pop.wallet)) == 5
    assert TierTable(list(TIERS), deduction=np.bool_(True)).deduction  # type: ignore[arg-type]
    assert Rebalancer(max_step=2).max_step == 2
