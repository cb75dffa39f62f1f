"""Grid and random search: known optimum on GBM, constraint filtering, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from calib_helpers import EwmaVolTarget, gbm_log_returns

from levguard.backtest.calibrate import evaluate_path, grid_search, random_search
from levguard.core.sizing.base import FixedLeverage, SeriesInputs
from levguard.errors import InputError

PPY = 365.0
MU, SIGMA = 0.5, 0.5  # growth-optimal fixed leverage mu / sigma^2 = 2


@pytest.fixture(scope="module")
def gbm() -> np.ndarray:
    return gbm_log_returns(20_000, MU, SIGMA, PPY, seed=1)


def fixed(leverage: float) -> FixedLeverage:
    return FixedLeverage(leverage)


def test_growth_optimum_is_kelly(gbm: np.ndarray) -> None:
    grid = {"leverage": list(np.arange(0.0, 4.01, 0.25))}
    res = grid_search(fixed, grid, gbm, PPY, objective="growth")
    assert res.best_params is not None
    assert res.best_params["leverage"] == pytest.approx(MU / SIGMA**2, abs=0.25)
    # and it is the exact argmax of the growth column
    assert res.best_index == int(np.argmax(res.table["growth_rate"]))
    growth = res.table["growth_rate"].to_numpy()
    assert growth[0] == 0.0
    # concave in L: rises then falls
    assert np.all(np.diff(growth[: res.best_index + 1]) > 0)
    assert np.all(np.diff(growth[res.best_index :]) < 0)
    assert res.best_metrics is not None
    assert res.best_metrics.growth_rate == pytest.approx(growth.max())


def test_sharpe_is_flat_in_fixed_leverage_so_first_tie_wins(gbm: np.ndarray) -> None:
    res = grid_search(fixed, {"leverage": [0.5, 1.0, 2.0]}, gbm, PPY, objective="sharpe")
    sharpe = res.table["sharpe"].to_numpy()
    np.testing.assert_allclose(sharpe, sharpe[0], rtol=1e-9)
    assert res.best_index in (0, 1, 2)


def test_drawdown_constraint_filters(gbm: np.ndarray) -> None:
    grid = {"leverage": [0.5, 1.0, 2.0, 3.0]}
    free = grid_search(fixed, grid, gbm, PPY, objective="growth")
    limit = float(free.table["max_drawdown"].iloc[1]) + 1e-9  # the 1x drawdown
    res = grid_search(fixed, grid, gbm, PPY, objective="growth", constraints={"max_drawdown": limit})
    assert list(res.table["feasible"]) == [True, True, False, False]
    assert res.best_params == {"leverage": 1.0}
    none = grid_search(fixed, grid, gbm, PPY, constraints={"max_drawdown": 1e-6})
    assert none.best_params is None
    assert none.best_metrics is None
    assert np.all(np.isneginf(none.table["score"]))


def test_liquidation_constraints(gbm: np.ndarray) -> None:
    grid = {"leverage": [1.0, 5.0, 20.0]}
    res = grid_search(
        fixed, grid, gbm, PPY, objective="growth", maint_margin_rate=0.01, constraints={"max_liq_prob": 0.05}
    )
    lp = res.table["liq_prob"].to_numpy()
    assert np.all(np.diff(lp) > 0)  # more leverage, likelier liquidation
    assert bool(res.table["liquidated"].iloc[2])  # 20x is liquidated in sample ...
    assert not bool(res.table["feasible"].iloc[2])  # ... hence infeasible by default
    assert res.table["feasible"].tolist()[:2] == [lp[0] <= 0.05, lp[1] <= 0.05]
    allow = grid_search(fixed, grid, gbm, PPY, maint_margin_rate=0.01, constraints={"allow_liquidation": 1.0})
    assert bool(allow.table["feasible"].all())


def test_window_and_series_inputs(gbm: np.ndarray) -> None:
    inputs = SeriesInputs(gbm, PPY)
    res = grid_search(fixed, {"leverage": [1.0, 2.0]}, inputs, objective="calmar", window=(100, 5000))
    m = evaluate_path(np.full(gbm.shape[0], 1.0), gbm, PPY, start=100, stop=5000)
    assert res.table["calmar"].iloc[0] == pytest.approx(m.calmar, rel=1e-12)
    assert int(res.table["n_bars"].iloc[0]) == 4900


def test_random_search_reproducible(gbm: np.ndarray) -> None:
    space = {"target": (0.2, 1.5), "cap": [1.0, 2.0, 5.0], "lam": (0.9, 0.99)}
    a = random_search(EwmaVolTarget, space, 12, 7, gbm, PPY, objective="growth")
    b = random_search(EwmaVolTarget, space, 12, 7, gbm, PPY, objective="growth")
    assert a.best_params == b.best_params
    assert len(a.table) == 12
    assert a.table["target"].between(0.2, 1.5).all()
    assert set(a.table["cap"]) <= {1.0, 2.0, 5.0}
    ints = random_search(fixed, {"leverage": (1, 3)}, 20, 0, gbm, PPY)
    assert set(ints.table["leverage"]) <= {1, 2, 3}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"objective": "sortino"}, "objective"),
        ({"constraints": {"max_dd": 0.1}}, "constraints"),
        ({"constraints": {"max_drawdown": 2.0}}, "max_drawdown"),
        ({"param_grid": {}}, "param_grid"),
        ({"param_grid": {"leverage": []}}, "leverage"),
        ({"periods_per_year": None}, "periods_per_year"),
        ({"param_grid": {"leverage": [-1.0]}}, "leverage"),
    ],
)
def test_search_bad_inputs(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "policy_factory": fixed,
        "param_grid": {"leverage": [1.0]},
        "returns": np.zeros(10),
        "periods_per_year": PPY,
    }
    args.update(kwargs)
    with pytest.raises(InputError, match=name):
        grid_search(**args)  # type: ignore[arg-type]


def test_random_search_bad_space() -> None:
    with pytest.raises(InputError, match="param_space"):
        random_search(fixed, {"leverage": (3.0, 1.0)}, 5, 0, np.zeros(10), PPY)
    with pytest.raises(InputError, match="n must"):
        random_search(fixed, {"leverage": (1.0, 2.0)}, 0, 0, np.zeros(10), PPY)


def test_a_liquidated_path_is_never_best_by_a_ratio() -> None:
    # Steady gains, a -20 % bar that liquidates 6x, then a slow bleed: the mean of 6x's per-bar
    # returns (zeros after its -100 % bar) was positive, its Sharpe +15, and it was chosen.
    rng = np.random.default_rng(0)
    r = np.concatenate([0.003 + rng.normal(0, 0.002, 500), [-0.2], -0.001 + rng.normal(0, 0.002, 1500)])
    for objective in ("sharpe", "calmar"):
        res = grid_search(
            fixed,
            {"leverage": [1.0, 6.0]},
            r,
            8760.0,
            objective=objective,  # type: ignore[arg-type]
            constraints={"allow_liquidation": True},
            maint_margin_rate=0.005,
        )
        liquidated = res.table.iloc[1]
        assert liquidated["liquidated"]
        assert liquidated["total_return"] == -1.0
        assert np.isnan(liquidated["sharpe"])
        assert np.isnan(liquidated["calmar"])
        assert liquidated["score"] == -np.inf
        assert res.best_params == {"leverage": 1.0}
    m = evaluate_path(np.full(r.shape[0], 6.0), r, 8760.0, maint_margin_rate=0.005)
    assert m.liquidated
    assert np.isnan(m.sharpe)
    assert np.isnan(m.calmar)
    assert m.cagr == -1.0


def test_a_feasible_infinite_score_is_chosen() -> None:
    """121 one-minute bars rising about 20 % with one dip: the Calmar of 2x and 3x is inf (a
    CAGR beyond float64).  Both candidates were feasible, but no finite score read as "nothing
    feasible" and the search chose none; it takes the first inf, by the sweeps' rule."""
    from levguard.core.sizing.base import FixedLeverage
    from levguard.sizing import grid_search

    x = np.full(121, np.log(1.2) / 100)
    x[50], x[0] = -0.002, 0.0
    res = grid_search(FixedLeverage, {"leverage": [2.0, 3.0]}, x, 525_600.0, objective="calmar")
    assert np.isinf(res.table["score"]).all()
    assert res.best_index == 0
    assert res.best_params == {"leverage": 2.0}


def test_a_parameter_named_like_a_metric_keeps_its_values_in_the_table(gbm: np.ndarray) -> None:
    # DrawdownControl's max_drawdown swept over 0.05, 0.3, 0.6 read 0.271, 0.496, 0.559 in the
    # table: the metric of the same name was written over the parameter.
    from levguard.core.sizing.policies import DrawdownControl

    x = gbm[:600]
    inputs = SeriesInputs(returns=x, periods_per_year=PPY, equity=10_000.0 * np.exp(np.cumsum(x)))
    grid = {"max_drawdown": [0.05, 0.3, 0.6], "base_leverage": [2.0]}
    for res in (
        grid_search(DrawdownControl, grid, inputs),
        random_search(DrawdownControl, {"max_drawdown": [0.05, 0.3, 0.6], "base_leverage": [2.0]}, 6, 0, inputs),
    ):
        assert set(res.table["policy_max_drawdown"]) <= {0.05, 0.3, 0.6}
        assert "base_leverage" in res.table.columns  # no clash, no prefix
        for _, row in res.table.iterrows():
            metrics = evaluate_path(DrawdownControl(row["policy_max_drawdown"], 2.0).leverage_path(inputs), x, PPY)
            assert row["max_drawdown"] == pytest.approx(metrics.max_drawdown, rel=1e-12)
        assert res.best_params is not None
        assert set(res.best_params) == {"max_drawdown", "base_leverage"}
