"""The one metrics implementation: kernel twins agree, and run(), sweep() and the policy
evaluator report the same numbers through it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bt_engine_helpers import random_frame

from levguard.backtest.calibrate import evaluate_path
from levguard.backtest.engine import run
from levguard.backtest.metrics import METRIC_NAMES, compute_metrics
from levguard.backtest.sweeps import SWEEP_METRICS, sweep
from levguard.kernels import backtest_metrics as km
from levguard.kernels._jit import NUMBA_DISABLED, readonly
from levguard.kernels.backtest_records import AccountOut


def _account(n: int, seed: int) -> AccountOut:
    rng = np.random.default_rng(seed)
    equity = 1_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    leverage = rng.uniform(0.0, 5.0, n)
    leverage[::7] = np.inf  # non-finite values are skipped
    arrays = (equity, equity.copy(), leverage, rng.normal(0.0, 1.0, n), rng.uniform(0.0, 2.0, n))
    return AccountOut(*(readonly(a) for a in arrays))  # read-only, as compute_metrics passes them


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: metrics_nb is metrics_into")
@pytest.mark.parametrize("ruined", [False, True])
def test_metrics_kernel_twins_agree(ruined: bool) -> None:
    acct = _account(500, 4)
    py = np.zeros(1, dtype=km.STATS_DTYPE)
    nb = np.zeros(1, dtype=km.STATS_DTYPE)
    km.metrics_into(acct, 1_000.0, 8760.0, 3, 12_345.0, ruined, py[0])
    km.metrics_nb(acct, 1_000.0, 8760.0, 3, 12_345.0, ruined, nb[0])
    for name in (*METRIC_NAMES, "final_equity"):
        np.testing.assert_array_equal(py[name], nb[name])
    assert math.isnan(py["sharpe"][0]) == ruined


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: ratios_batch_nb is ratios_batch_py")
def test_ratio_batch_twins_agree() -> None:
    rng = np.random.default_rng(1)
    n = 50
    args = (
        rng.uniform(-0.5, 3.0, n),  # growth (some ruined)
        rng.uniform(0.1, 5.0, n),
        rng.normal(0.0, 0.01, n),
        np.where(rng.uniform(size=n) < 0.1, 0.0, rng.uniform(0.0, 0.05, n)),
        np.where(rng.uniform(size=n) < 0.1, 0.0, rng.uniform(0.0, 1.0, n)),
        rng.uniform(size=n) < 0.2,  # ruined
    )
    outs = [[np.empty(n) for _ in range(4)] for _ in range(2)]
    km.ratios_batch_py(*args, 365.0, *outs[0])
    km.ratios_batch_nb(*args, 365.0, *outs[1])
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_compute_metrics_is_the_kernel() -> None:
    acct = _account(300, 9)
    out = np.zeros(1, dtype=km.STATS_DTYPE)
    km.metrics_nb(acct, 1_000.0, 365.0, 2, 500.0, False, out[0])
    got = compute_metrics(
        acct.equity,
        1_000.0,
        365.0,
        leverage=acct.leverage,
        fees=acct.fees,
        funding=acct.funding,
        traded_notional=500.0,
        n_liquidations=2,
    )
    assert list(got) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(got[name], out[name][0])
    assert got["volatility"] == pytest.approx(
        np.std(acct.equity / np.r_[1_000.0, acct.equity[:-1]] - 1, ddof=1) * math.sqrt(365)
    )


def test_run_and_sweep_metrics_are_identical() -> None:
    df = random_frame(n=400, seed=5, sigma=0.01)
    direction = np.sign(np.sin(np.arange(400) / 11.0))
    res = run(df, direction, 12.0, stop_loss=0.03)
    table = sweep(df, {"s": direction}, {"p": 12.0}, stop_loss=0.03)
    row = table.iloc[0]
    for name in METRIC_NAMES:
        column = "max_leverage_used" if name == "max_leverage" else name
        np.testing.assert_array_equal(row[column], res.metrics[name])


def test_sweep_metrics_derive_from_the_metric_names() -> None:
    assert len(SWEEP_METRICS) == len(km.STATS_DTYPE.names or ())
    renamed = {"max_leverage": "max_leverage_used"}
    assert SWEEP_METRICS[: len(METRIC_NAMES)] == tuple(renamed.get(m, m) for m in METRIC_NAMES)
    assert SWEEP_METRICS[len(METRIC_NAMES) :] == (
        "final_equity",
        "bad_debt",
        "orders_clipped",
        "limit_orders_unfilled",
        "orders_below_minimum",
        "ruined",
    )


def test_policy_evaluator_ratios_use_the_kernel() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0.0, 0.01, 300)
    m = evaluate_path(np.full(300, 3.0), r, 365.0)
    growth = 1.0 + m.total_return
    mean_sd = m.sharpe / math.sqrt(365.0)  # mean / sd
    cagr, vol, sharpe, _sortino, calmar = km.performance_ratios(
        growth,
        m.years,
        mean_sd * m.volatility / math.sqrt(365.0),
        m.volatility / math.sqrt(365.0),
        math.nan,
        m.max_drawdown,
        365.0,
        False,
    )
    assert cagr == m.cagr
    assert vol == pytest.approx(m.volatility, rel=1e-15)
    assert sharpe == pytest.approx(m.sharpe, rel=1e-12)
    assert calmar == m.calmar


def test_cagr_of_a_strong_short_run_is_inf_only_beyond_float64() -> None:
    # Python's float power raised OverflowError (the plain twin with Python floats), NumPy's warned.
    import warnings

    years = 60.0 / 525_600.0  # an hour of minute bars
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cagr = km.performance_ratios(1.10, years, 0.001, 0.0001, math.nan, 0.0, 525_600.0, False)[0]
        assert cagr == math.inf
        cagr = km.performance_ratios(np.float64(1.10), years, 0.001, 0.0001, math.nan, 0.0, 525_600.0, False)[0]
        assert cagr == math.inf
        finite = km.performance_ratios(1.0477, years, 0.001, 0.0001, math.nan, 0.0, 525_600.0, False)[0]
    assert finite == pytest.approx(math.exp(math.log(1.0477) / years), rel=1e-9)
    assert 1e177 < finite < 1e179
    assert km.performance_ratios(1.5, 2.0, 0.0, 0.0, math.nan, 0.0, 365.0, False)[0] == pytest.approx(1.5**0.5 - 1.0)


def test_negative_equity_is_refused_by_the_public_metrics() -> None:
    # No run leaves equity below 0 (a liquidation leaves at worst 0): a negative equity is bad
    # input; it gave a drawdown of 1.18 and a total return of -1.2.
    from levguard.backtest.metrics import drawdown
    from levguard.errors import InputError

    eq = np.array([110.0, 90.0, -20.0])
    with pytest.raises(InputError, match=r"equity must be >= 0 .*equity\[2\]=-20.0"):
        drawdown(eq, 100.0)
    with pytest.raises(InputError, match=r"initial_equity must be >= 0"):
        drawdown(np.array([1.0]), -1.0)
    z = np.zeros(3)
    with pytest.raises(InputError, match=r"equity\[2\]=-20.0"):
        compute_metrics(eq, 100.0, 365.0, leverage=z, fees=z, funding=z, traded_notional=0.0, n_liquidations=0)
    # 0 is allowed: a ruin; a peak of 0 (a start at 0) has no drawdown.
    assert drawdown(np.array([110.0, 0.0]), 100.0).tolist() == [0.0, 1.0]
    assert drawdown(np.zeros(2), 0.0).tolist() == [0.0, 0.0]
