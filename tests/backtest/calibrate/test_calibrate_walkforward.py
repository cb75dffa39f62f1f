"""Walk-forward calibration: window layout, out-of-sample uses in-sample choices, stability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from calib_helpers import EwmaVolTarget, gbm_log_returns

from levguard.backtest.calibrate import equity_curve, evaluate_path
from levguard.backtest.walkforward import walk_forward
from levguard.core.sizing.base import FixedLeverage, SeriesInputs
from levguard.errors import InputError

PPY = 365.0


@pytest.fixture(scope="module")
def rets() -> np.ndarray:
    # a regime switch: strong drift, then a bear market
    a = gbm_log_returns(1500, 0.8, 0.6, PPY, seed=2)
    b = gbm_log_returns(1500, -0.4, 0.6, PPY, seed=3)
    return np.concatenate([a, b])


GRID = {"target": [0.2, 0.5, 1.0], "cap": [1.0, 3.0]}


def test_rolling_windows_contiguous_disjoint(rets: np.ndarray) -> None:
    wf = walk_forward(EwmaVolTarget, GRID, rets, PPY, train=500, test=250, objective="growth")
    w = wf.windows
    assert (w["train_stop"] - w["train_start"] == 500).all()
    assert (w["test_start"] == w["train_stop"]).all()
    assert (w["test_stop"] - w["test_start"] == 250).all()
    assert (w["test_start"].iloc[1:].to_numpy() == w["test_stop"].iloc[:-1].to_numpy()).all()
    assert w["train_start"].iloc[0] == 1
    assert w["test_stop"].iloc[-1] <= rets.shape[0]
    assert len(w) == (rets.shape[0] - 1 - 500) // 250
    assert wf.combined_oos.n_bars == w["test_stop"].iloc[-1] - w["test_start"].iloc[0]


def test_anchored_windows_grow(rets: np.ndarray) -> None:
    wf = walk_forward(EwmaVolTarget, GRID, rets, PPY, train=500, test=250, step=500, scheme="anchored")
    w = wf.windows
    assert (w["train_start"] == 1).all()
    assert (np.diff(w["train_stop"]) == 500).all()
    assert (w["test_start"] == w["train_stop"]).all()
    # step > test: gaps between test windows, never overlaps
    assert (w["test_start"].iloc[1:].to_numpy() >= w["test_stop"].iloc[:-1].to_numpy()).all()


def test_out_of_sample_uses_in_sample_choice(rets: np.ndarray) -> None:
    wf = walk_forward(EwmaVolTarget, GRID, rets, PPY, train=600, test=300, objective="growth")
    inputs = SeriesInputs(rets, PPY)
    for row, choice, oos in zip(wf.windows.itertuples(), wf.choices, wf.out_of_sample, strict=True):
        assert choice is not None
        assert oos is not None
        assert choice == {"target": row.param_target, "cap": row.param_cap}
        # the choice is the best of a search on the training window alone
        train_best = max(
            ({"target": t, "cap": c} for t in GRID["target"] for c in GRID["cap"]),
            key=lambda p: (
                evaluate_path(
                    EwmaVolTarget(**p).leverage_path(inputs), rets, PPY, start=row.train_start, stop=row.train_stop
                ).growth_rate
            ),
        )
        assert choice == train_best
        ref = evaluate_path(
            EwmaVolTarget(**choice).leverage_path(inputs), rets, PPY, start=row.test_start, stop=row.test_stop
        )
        assert oos.growth_rate == pytest.approx(ref.growth_rate, rel=1e-12)
        assert row.oos_total_return == pytest.approx(ref.total_return, rel=1e-12)


def test_future_returns_do_not_change_earlier_choices(rets: np.ndarray) -> None:
    wf = walk_forward(EwmaVolTarget, GRID, rets, PPY, train=600, test=300)
    changed = rets.copy()
    changed[2000:] *= -3.0  # rewrite the future after bar 2000
    wf2 = walk_forward(EwmaVolTarget, GRID, changed, PPY, train=600, test=300)
    early = wf.windows["test_stop"] <= 2000
    assert early.any()
    pd.testing.assert_frame_equal(wf.windows[early], wf2.windows[early])


def test_stability_and_summary(rets: np.ndarray) -> None:
    wf = walk_forward(lambda leverage: FixedLeverage(leverage), {"leverage": [1.0]}, rets, PPY, train=500, test=500)
    assert wf.stability["modal_share"] == 1.0
    assert wf.stability["n_distinct"] == 1
    assert wf.stability["std_leverage"] == 0.0
    s = wf.summary()
    assert list(s.columns[:4]) == ["train_start", "train_stop", "test_start", "test_stop"]
    assert "oos_sharpe" in s.columns
    rnd = walk_forward(
        EwmaVolTarget, {"target": (0.1, 1.0), "cap": [2.0]}, rets, PPY, train=500, test=500, search="random", n_random=6
    )
    assert 0 < rnd.stability["modal_share"] <= 1
    assert "cv_target" in rnd.stability


def test_infeasible_windows_are_flat(rets: np.ndarray) -> None:
    wf = walk_forward(EwmaVolTarget, GRID, rets, PPY, train=500, test=500, constraints={"max_drawdown": 1e-9})
    assert all(c is None for c in wf.choices)
    assert wf.combined_oos.total_return == 0.0
    assert np.isnan(wf.stability["modal_share"])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"scheme": "expanding"}, "scheme"),
        ({"search": "bayes"}, "search"),
        ({"train": 1}, "train"),
        ({"test": 0}, "test"),
        ({"step": 0}, "step"),
        ({"train": 5000}, "train"),
        ({"objective": "sortino"}, "objective"),
    ],
)
def test_walk_forward_bad_inputs(rets: np.ndarray, kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"train": 500, "test": 250}
    args.update(kwargs)
    with pytest.raises(InputError, match=name):
        walk_forward(EwmaVolTarget, GRID, rets, PPY, **args)  # type: ignore[arg-type]


def test_combined_oos_leaves_out_the_bars_between_test_windows(rets: np.ndarray) -> None:
    # step > test: the combined path ran over [first test bar, last test bar) and counted the
    # gaps (flat, zero returns) as out-of-sample bars, diluting CAGR, volatility and Sharpe.
    grid = {"leverage": [0.5, 1.0, 2.0]}
    wf = walk_forward(FixedLeverage, grid, rets, PPY, train=400, test=200, step=700, fee_rate=0.0005)
    w = wf.windows
    assert (w["test_start"].iloc[1:].to_numpy() > w["test_stop"].iloc[:-1].to_numpy()).all()
    c = wf.combined_oos
    assert c.n_bars == int((w["test_stop"] - w["test_start"]).sum())
    # Chained: each window's evaluation (from flat), one after the other.
    chained = np.prod([1.0 + m.total_return for m in wf.out_of_sample if m is not None]) - 1.0
    assert c.total_return == pytest.approx(chained, rel=1e-12)
    returns = []
    for row in w.itertuples():
        lev = np.full(rets.shape[0], np.nan)  # flat until the window's entry at its first close
        lev[row.test_start - 1 :] = row.param_leverage
        curve = equity_curve(lev, rets, fee_rate=0.0005)[row.test_start - 1 : row.test_stop]
        assert curve[-1] - 1.0 == pytest.approx(row.oos_total_return, rel=1e-12)
        returns.append(curve[1:] / curve[:-1] - 1.0)
    g = np.concatenate(returns)
    assert c.volatility == pytest.approx(np.std(g, ddof=1) * np.sqrt(PPY), rel=1e-9)
    assert c.sharpe == pytest.approx(g.mean() / np.std(g, ddof=1) * np.sqrt(PPY), rel=1e-9)
    # Contiguous windows are still one path over the test bars.
    tiled = walk_forward(FixedLeverage, grid, rets, PPY, train=400, test=200, fee_rate=0.0005)
    assert tiled.combined_oos.n_bars == tiled.windows["test_stop"].iloc[-1] - tiled.windows["test_start"].iloc[0]


def test_the_bars_after_the_last_whole_test_window_are_counted(rets: np.ndarray) -> None:
    # 3,000 returns, windows from bar 1: train 500, test 400 tests bars 501..2900; 99 are left.
    wf = walk_forward(EwmaVolTarget, GRID, rets, PPY, train=500, test=400)
    assert wf.windows["test_stop"].iloc[-1] == 2901
    assert wf.untested_bars == 99
    assert walk_forward(EwmaVolTarget, GRID, rets[:2501], PPY, train=500, test=500).untested_bars == 0


def test_summary_without_any_feasible_window_has_nan_metrics(rets: np.ndarray) -> None:
    # No window had a feasible choice: summary() raised KeyError ('is_sharpe' not in the windows).
    wf = walk_forward(EwmaVolTarget, GRID, rets[:1200], PPY, train=500, test=300, constraints={"max_drawdown": 1e-9})
    s = wf.summary()
    assert len(s) == len(wf.windows) == 2
    assert list(s.columns) == [
        "train_start", "train_stop", "test_start", "test_stop",
        "is_sharpe", "oos_sharpe", "is_max_drawdown", "oos_max_drawdown", "oos_liquidated",
    ]  # fmt: skip
    assert s[["is_sharpe", "oos_sharpe", "is_max_drawdown", "oos_max_drawdown"]].isna().all().all()


def test_unhashable_parameter_values_are_counted_by_candidate() -> None:
    # A RegimeSwitch's members are a mapping: the stability count was a TypeError (unhashable
    # dict) after every window had been evaluated.
    from levguard.core.sizing.regime import RegimeSwitch

    r = gbm_log_returns(900, 0.3, 0.3, PPY, seed=4)
    members = [
        {"calm": FixedLeverage(2.0), "stress": FixedLeverage(1.0)},
        {"calm": FixedLeverage(3.0), "stress": FixedLeverage(0.5)},
    ]
    wf = walk_forward(RegimeSwitch, {"policies": members, "lookback": [200]}, r, PPY, train=300, test=200)
    assert wf.stability["n_chosen"] == len(wf.windows)
    picks = [members.index(c["policies"]) for c in wf.choices if c is not None]
    modal = max(set(picks), key=lambda i: (picks.count(i), -picks.index(i)))
    assert wf.stability["modal_params"]["policies"] == members[modal]
    assert wf.stability["modal_share"] == picks.count(modal) / len(picks)
    assert wf.stability["n_distinct"] == len(set(picks))
