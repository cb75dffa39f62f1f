"""Monte Carlo of the market simulator v2 (in process): determinism, path k alone, the
distribution and the calibration against a joint bad-debt budget."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from contagion_helpers import market, path_spec

from levguard.cascade.contagion import contagion_report, venue_outcomes
from levguard.cascade.market_montecarlo import MarketPlan, calibrate_market, market_monte_carlo
from levguard.errors import InputError

N = 12


@pytest.fixture(scope="module")
def mc() -> object:
    pop, spec = market()
    return market_monte_carlo(pop, spec, path_spec(), N, budget=5_000.0, chunk_size=5)


def test_same_seed_same_result_whatever_the_chunks(mc: object) -> None:
    pop, spec = market()
    again = market_monte_carlo(pop, spec, path_spec(), N, budget=5_000.0, chunk_size=3)
    pd.testing.assert_frame_equal(again.paths, mc.paths, check_exact=True)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(again.asset_matrix, mc.asset_matrix, check_exact=True)  # type: ignore[attr-defined]
    other = market_monte_carlo(pop, spec, path_spec(), N, seed=4, budget=5_000.0)
    assert other.seed == 4
    assert not np.array_equal(other.paths["bad_debt"], mc.paths["bad_debt"])  # type: ignore[attr-defined]


def test_the_paths_crash_the_market(mc: object) -> None:
    t = mc.paths  # type: ignore[attr-defined]
    assert len(t) == N
    assert list(t["path"]) == list(range(N))
    assert (t["bad_debt"] > 0).any()
    assert (t["adl_notional_a"] > 0).any()
    np.testing.assert_allclose(t["bad_debt"], t["bad_debt_a"] + t["bad_debt_b"], rtol=1e-12)
    m = mc.asset_matrix.to_numpy()  # type: ignore[attr-defined]
    assert m[1, 0] > 0.0
    assert m[0, 1] > 0.0
    assert mc.venue_matrix.loc["a", "b"] > 0.0  # type: ignore[attr-defined]


def test_one_path_alone_is_the_row_of_the_run(mc: object) -> None:
    pop, spec = market()
    plan = MarketPlan(pop, spec, {**path_spec(), "assets": ["BTC", "ETH"]})
    k = mc.worst_path  # type: ignore[attr-defined]
    res = plan.simulate(k)
    row = mc.paths.iloc[k]  # type: ignore[attr-defined]
    assert row["bad_debt"] == float(res.out.steps.bad_debt[:, -1].sum())
    rep = contagion_report(res)
    assert row["cross_asset_share"] == pytest.approx(rep.cross_asset_share, rel=1e-12)
    assert row["hedged_hit"] == float(rep.hedged["hit"].sum())
    # accounts_liquidated counted every status but "ok", so the ADL counterparties (closed at a
    # profit, status "deleveraged") too; now the accounts whose final status is liquidated, as
    # venue_outcomes counts them (the kernel's summary misses an ADL counterparty liquidated later).
    assert (res.accounts["status"] == "deleveraged").sum() > 0  # the case has ADL counterparties
    liquidated = int((res.accounts["status"] == "liquidated").sum())
    assert row["accounts_liquidated"] == liquidated == venue_outcomes(res)["accounts_liquidated"].sum()
    assert row["accounts_deleveraged"] == float(res.accounts["deleveraged"].sum()) > 0


def test_distribution_and_budget(mc: object) -> None:
    d = mc.distribution  # type: ignore[attr-defined]
    t = mc.paths  # type: ignore[attr-defined]
    assert list(d.index) == ["a", "b", "total"]
    assert mc.p_over_budget == float(np.mean(t["bad_debt"] > 5_000.0))  # type: ignore[attr-defined]
    assert d.loc["a", "bad_debt_q95"] == float(np.quantile(t["bad_debt_a"], 0.95))
    assert d.loc["total", "bad_debt_mean"] == pytest.approx(t["bad_debt"].mean(), rel=1e-12)
    assert np.isnan(d.loc["a", "p_over_budget"])
    doc = json.loads(json.dumps(mc.to_dict(), allow_nan=False))  # type: ignore[attr-defined]
    assert doc["distribution"]["a"]["p_over_budget"] is None
    assert len(doc["paths"]) == N


def test_calibration_picks_the_cheapest_feasible_point() -> None:
    pop, spec = market()
    cal = calibrate_market(
        pop, spec, path_spec(), 6, {"insurance_fund": [0.0, 1e6], "mmr": [0.005, 0.02]}, budget=1_000.0, alpha=0.0
    )
    t = cal.table
    assert len(t) == 4
    assert list(t["cost"]) == sorted(t["cost"])
    assert (t["feasible"] == (t["p_over_budget"] <= 0.0)).all()
    assert t["best"].sum() == (1 if t["feasible"].any() else 0)
    if cal.best is not None:
        first = t[t["feasible"]].iloc[0]
        assert cal.best == {"insurance_fund": first["insurance_fund"], "mmr": first["mmr"]}
    # A fund of a million on both venues covers every path.
    rich = t[t["insurance_fund"] == 1e6]
    assert (rich["p_over_budget"] == 0.0).all()
    # Cost: funds plus mmr x the venues' gross start notional.
    gross = float((np.abs(np.asarray(pop.qty)) @ np.array([60_000.0, 3_000.0])).sum())
    row = t[(t["insurance_fund"] == 0.0) & (t["mmr"] == 0.02)].iloc[0]
    assert row["cost"] == pytest.approx(0.02 * gross, rel=1e-12)
    assert json.loads(json.dumps(cal.to_dict(), allow_nan=False))["alpha"] == 0.0


@pytest.mark.parametrize(
    ("grid", "kwargs", "match"),
    [
        ({"fee": [0.1]}, {}, r"grid: unknown parameter 'fee'; use \['insurance_fund', 'mmr'\]"),
        ({"mmr": []}, {}, r"grid.mmr must be a non-empty list of numbers, was \[\]"),
        ({"mmr": [0.9]}, {}, r"grid.mmr\[0\] must be finite and > 0 and <= 0.5, was 0.9"),
        ({"mmr": [0.01]}, {"venues": ["c"]}, r"venues must be names of the market's venues \['a', 'b'\]"),
        ({"mmr": [0.01]}, {"alpha": 2.0}, r"alpha must be finite and >= 0 and <= 1, was 2.0"),
    ],
)
def test_calibration_names_bad_input(grid: dict, kwargs: dict, match: str) -> None:
    pop, spec = market()
    with pytest.raises(InputError, match=match):
        calibrate_market(pop, spec, path_spec(), 2, grid, budget=0.0, **kwargs)


def test_mmr_needs_a_static_regime() -> None:
    from levguard.cascade import MarginRegime

    pop, spec = market()
    dyn = replace(spec.venues[0], regime=MarginRegime(kind="dynamic"))
    spec = replace(spec, venues=[dyn, spec.venues[1]])
    with pytest.raises(InputError, match=r"grid\.mmr: venue 'a' must have a static regime"):
        calibrate_market(pop, spec, path_spec(), 2, {"mmr": [0.01]}, budget=0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_paths": 0}, "n_paths must be an integer >= 1, was 0"),
        ({"n_paths": 10**9}, r"n_paths 1,000,000,000 needs .* GiB for its per-path results; at most 4 GiB"),
        ({"budget": -1.0}, "budget must be finite and >= 0, was -1.0"),
        ({"quantiles": [1.5]}, r"quantiles\[0\] must be finite and >= 0 and <= 1, was 1.5"),
        ({"paths": {**path_spec(), "assets": ["ETH", "BTC"]}}, r"paths\['assets'\] must be the market's assets"),
        ({"paths": {**path_spec(), "model": "garch"}}, r"spec\['model'\] must be one of"),
        ({"scheduler": 3}, "scheduler must be None, 'local', an address or a dask Client, was 3"),
    ],
)
def test_monte_carlo_names_bad_input(kwargs: dict, match: str) -> None:
    pop, spec = market()
    args = {"paths": path_spec(), "n_paths": 2, **kwargs}
    with pytest.raises(InputError, match=match):
        market_monte_carlo(pop, spec, args.pop("paths"), args.pop("n_paths"), **args)


def test_an_adl_counterparty_liquidated_later_counts_as_liquidated() -> None:
    # The shipped contagion sample's path 6: 20 accounts closed by ADL at a profit were liquidated
    # afterwards. The kernel's summary counted a liquidation only from status "ok" (493); the
    # accounts liquidated are 513, as venue_outcomes and the Monte Carlo's row count them, and the
    # kernel's own count (summary["accounts_liquidated"]) now counts the 20 too.
    from importlib import resources

    from levguard.cascade.contagion_config import load_contagion_config

    with resources.as_file(resources.files("levguard.resources").joinpath("samples", "contagion.yaml")) as p:
        cfg = load_contagion_config(p)
    plan = MarketPlan(cfg.population, cfg.spec, cfg.paths, steps_per_year=cfg.steps_per_year)
    res = plan.simulate(6)
    status = res.accounts["status"]
    later = int(((status == "liquidated") & res.accounts["deleveraged"]).sum())
    assert later > 0
    assert res.summary["accounts_liquidated"] == (status == "liquidated").sum()
    row = plan.run(6, 1)
    assert (
        row["accounts_liquidated"][0]
        == (status == "liquidated").sum()
        == venue_outcomes(res)["accounts_liquidated"].sum()
    )
