"""The cascade engine: simulate_path, monte_carlo (local and Dask), calibrate, max_safe, inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from cascade_helpers import JUMPS

from levguard.cascade import (
    MarginRegime,
    Market,
    VenueSettings,
    calibrate,
    max_safe,
    monte_carlo,
    path_for,
    population_from_distribution,
    simulate_path,
)
from levguard.errors import InputError

SPEC = JUMPS
MARKET = Market(depth=2e3, half_life_steps=30.0)
VENUE = VenueSettings(insurance_fund=5e3, adl=True)
CAL_VENUE = VenueSettings(insurance_fund=0.0, adl=False)  # bad debt on some paths above ~10x


@pytest.fixture(scope="module")
def pop():  # type: ignore[no-untyped-def]
    return population_from_distribution(200, price=60_000.0, seed=3)


def test_simulate_path_on_a_drawn_population(pop) -> None:  # type: ignore[no-untyped-def]
    path = path_for(SPEC, 0)
    res = simulate_path(pop, path, market=MARKET, venue=VENUE)
    assert len(res.steps) == path.shape[0]
    np.testing.assert_array_equal(res.steps["exogenous"].to_numpy(), path)
    assert len(res.accounts) == len(pop)
    liq = (res.accounts["status"] != "ok").sum()
    assert res.summary["accounts_liquidated"] == (res.accounts["status"] == "liquidated").sum()
    assert liq > 0
    assert res.summary["liquidated_notional"] == pytest.approx(res.steps["liquidated_notional"].sum())
    assert res.summary["bad_debt"] == res.steps["bad_debt"].iloc[-1]
    # the accounts table reconciles: margin = margin0 + pnl
    acc = res.accounts
    np.testing.assert_allclose(acc["margin"], acc["margin0"] + acc["pnl"], atol=1e-9 * acc["margin0"].max())
    # naive scan gives the same result through the engine
    naive = simulate_path(pop, path, market=MARKET, venue=VENUE, naive=True)
    pd.testing.assert_frame_equal(res.events, naive.events)
    assert res.summary == naive.summary


def test_an_adl_counterparty_liquidated_later_counts_once_as_liquidated(pop) -> None:  # type: ignore[no-untyped-def]
    # A crash to 45,000 liquidates longs and, with no fund, deleverages shorts at a profit; the
    # rally to 90,000 then liquidates 4 of those shorts. The kernel counted a liquidation only
    # from status "ok" (146); the accounts whose final status is liquidated are 154 (150 before the
    # routing to ADL netted the fund over each round, 2026-12-07).
    path = np.concatenate([np.linspace(60_000.0, 45_000.0, 20), np.full(20, 45_000.0),
                           np.linspace(45_000.0, 90_000.0, 40), np.full(20, 90_000.0)])  # fmt: skip
    res = simulate_path(pop, path, market=MARKET, venue=VenueSettings(insurance_fund=0.0, adl=True))
    liquidated = int((res.accounts["status"] == "liquidated").sum())
    assert (res.accounts["status"] == "deleveraged").sum() > 0
    assert res.summary["accounts_liquidated"] == liquidated == 154


def test_monte_carlo_path_k_equals_simulate_path(pop) -> None:  # type: ignore[no-untyped-def]
    mc = monte_carlo(pop, SPEC, 6, market=MARKET, venue=VENUE, chunk_size=4)
    assert list(mc.paths["path"]) == list(range(6))
    assert mc.paths["accounts_liquidated"].sum() > 0
    for k in (0, 3, 5):
        one = simulate_path(pop, path_for(SPEC, k), market=MARKET, venue=VENUE)
        row = mc.paths.iloc[k]
        for name, value in one.summary.items():
            if name == "events_dropped":
                continue
            assert row[name] == value, (k, name)
    agg = mc.aggregates
    bad = mc.paths["bad_debt"].to_numpy()
    assert agg["p_bad_debt_over_budget"] == np.mean(bad > 0.0)
    assert agg["bad_debt_p99"] == np.quantile(bad, 0.99)


def test_monte_carlo_local_equals_dask_local_cluster(pop) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    kw = {"market": MARKET, "venue": VENUE, "chunk_size": 3}
    local = monte_carlo(pop, SPEC, 8, **kw)
    dask = monte_carlo(pop, SPEC, 8, scheduler="local", **kw)
    pd.testing.assert_frame_equal(local.paths, dask.paths, check_exact=True)
    assert local.aggregates == dask.aggregates


def test_calibrate_rows_safe_and_best(pop) -> None:  # type: ignore[no-untyped-def]
    grid = {"max_leverage": [5.0, 20.0, 100.0], "insurance_fund": [0.0, 1e4]}
    eps = 0.25
    table = calibrate(pop, SPEC, 8, grid, market=MARKET, venue=CAL_VENUE, epsilon=eps, efficiency="max_leverage")
    assert len(table) == 6
    assert set(map(tuple, table[["max_leverage", "insurance_fund"]].to_numpy().tolist())) == {
        (a, b) for a in grid["max_leverage"] for b in grid["insurance_fund"]
    }
    np.testing.assert_array_equal(table["safe"].to_numpy(), (table["p_bad_debt_over_budget"] <= eps).to_numpy())
    assert table["safe"].any()
    assert not table["safe"].all()  # the grid spans safe and unsafe sets
    assert table["best"].sum() == 1
    best = table[table["best"]].iloc[0]
    assert bool(best["safe"])
    assert best["max_leverage"] == table.loc[table["safe"], "max_leverage"].max()


def test_max_safe_cap_is_safe_and_a_larger_tested_cap_is_not(pop) -> None:  # type: ignore[no-untyped-def]
    eps = 0.25
    out = max_safe(
        pop, SPEC, 8, "max_leverage", 2.0, 100.0, market=MARKET, venue=CAL_VENUE, epsilon=eps, tolerance=0.05
    )
    cap = out["safe_cap"]
    assert cap is not None
    tested = dict(out["steps"])
    assert tested[cap] <= eps
    assert len(out["steps"]) > 2  # the search moved
    above = [c for c, p in out["steps"] if c > cap]
    assert above
    assert tested[min(above)] > eps
    assert min(above) - cap <= 0.05 * min(above) + 1e-12
    # and the reported cap agrees with a fresh Monte Carlo
    mc = monte_carlo(pop, SPEC, 8, market=MARKET, venue=CAL_VENUE, regime=MarginRegime(max_leverage=cap))
    assert mc.aggregates["p_bad_debt_over_budget"] <= eps


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Market(depth=0.0), "market.depth"),
        (lambda: Market(depth=1.0, impact="cubic"), "market.impact"),
        (lambda: Market(depth=1.0, half_life_steps=-1.0), "market.half_life_steps"),
        (lambda: MarginRegime(mmr=0.9), "regime.mmr"),
        (lambda: MarginRegime(kind="tiered"), "regime.tiers"),
        (lambda: MarginRegime(kind="weird"), "regime.kind"),
        (lambda: MarginRegime(partial=0.0), "regime.partial"),
        (lambda: MarginRegime(liquidation_fee=-0.1), "regime.liquidation_fee"),
        (lambda: MarginRegime(min_scale=2.0, max_scale=1.0), "regime.max_scale"),
        (lambda: VenueSettings(insurance_fund=-1.0), "venue.insurance_fund"),
        (lambda: VenueSettings(latency_steps=-1), "venue.latency_steps"),
        (lambda: VenueSettings(adl=1), "venue.adl"),  # type: ignore[arg-type]
        (lambda: VenueSettings(max_rounds=0), "venue.max_rounds"),
        (
            lambda: VenueSettings(oracle={"sources": 2, "corrupt": [{"source": 2}]}).oracle_matrix(5),
            "venue.oracle.corrupt.source",
        ),
        (lambda: VenueSettings(oracle={"feeds": 2}).oracle_matrix(5), "venue.oracle"),
        (lambda: Market(depth=1.0, depth_multiplier=np.ones(3)).multiplier(5), "market.depth_multiplier"),
    ],
)
def test_settings_validation_names_the_field(make, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        make()


@pytest.mark.parametrize("path", [[60_000.0], [60_000.0, -1.0], [60_000.0, math.nan], np.ones((3, 3))])
def test_bad_paths_are_rejected(pop, path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="path"):
        simulate_path(pop, path, market=MARKET)


def test_bad_inputs_to_monte_carlo_and_calibrate(pop) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=r"unknown parameters.*leverage_cap"):
        calibrate(pop, SPEC, 2, {"leverage_cap": [2.0]}, market=MARKET)
    with pytest.raises(InputError, match="'mmr'"):
        calibrate(pop, SPEC, 2, {"mmr": []}, market=MARKET)
    with pytest.raises(InputError, match="efficiency"):
        calibrate(pop, SPEC, 2, {"mmr": [0.005]}, market=MARKET, efficiency="oi_cap")
    with pytest.raises(InputError, match=r"grid .*regime\.mmr"):
        calibrate(pop, SPEC, 2, {"mmr": [0.9]}, market=MARKET)
    with pytest.raises(InputError, match="n_paths"):
        monte_carlo(pop, SPEC, 0, market=MARKET)
    with pytest.raises(InputError, match="market"):
        monte_carlo(pop, SPEC, 2, market="thin")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="population"):
        simulate_path("pop", [1.0, 2.0], market=MARKET)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="parameter"):
        max_safe(pop, SPEC, 2, "mmr", 1.0, 2.0, market=MARKET)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="hi must be > lo"):
        max_safe(pop, SPEC, 2, "max_leverage", 5.0, 2.0, market=MARKET)
