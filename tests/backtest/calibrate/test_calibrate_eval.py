"""The policy-path evaluator: hand-computed equity, decision lag, liquidation, kernel parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.backtest.calibrate import equity_curve, evaluate_path, evaluate_paths
from levguard.errors import InputError
from levguard.kernels import policy_eval as kp
from levguard.kernels._jit import NUMBA_DISABLED


def test_hand_computed_equity_with_fees() -> None:
    logret = np.log([1.0, 1.1, 0.9, 1.2])
    lev = np.array([2.0, 2.0, 1.0, 0.0])
    fee = 0.01
    # bar 1: enter 2x from flat (fee 0.02), earn 2 * 10%
    g1 = 2 * 0.1 - fee * 2
    e1 = 1 + g1
    drift1 = 2 * 1.1 / e1
    # bar 2: rebalance back to 2x from the drifted leverage, lose 2 * 10%
    g2 = 2 * -0.1 - fee * abs(2 - drift1)
    e2 = e1 * (1 + g2)
    drift2 = 2 * 0.9 / (1 + g2)
    # bar 3: cut to 1x, earn 20%
    g3 = 1 * 0.2 - fee * abs(1 - drift2)
    e3 = e2 * (1 + g3)
    curve = equity_curve(lev, logret, fee_rate=fee)
    np.testing.assert_allclose(curve, [1.0, e1, e2, e3], rtol=1e-13)
    m = evaluate_path(lev, logret, 365.0, fee_rate=fee)
    assert m.n_bars == 3
    assert m.total_return == pytest.approx(e3 - 1, rel=1e-12)
    assert m.max_drawdown == pytest.approx(1 - e2 / e1, rel=1e-12)
    assert m.growth_rate == pytest.approx(math.log(e3) / (3 / 365), rel=1e-12)
    assert m.cagr == pytest.approx(e3 ** (365 / 3) - 1, rel=1e-9)
    g = np.array([g1, g2, g3])
    assert m.sharpe == pytest.approx(g.mean() / g.std(ddof=1) * math.sqrt(365), rel=1e-10)
    assert m.volatility == pytest.approx(g.std(ddof=1) * math.sqrt(365), rel=1e-10)
    with pytest.warns(DeprecationWarning, match="volatility"):
        assert m.ann_vol == m.volatility  # the deprecated name
    assert m.calmar == pytest.approx(m.cagr / m.max_drawdown, rel=1e-12)
    assert not m.liquidated
    assert m.liquidation_bar is None


def test_funding_and_short_side() -> None:
    logret = np.log([1.0, 0.95, 1.02])
    lev = np.array([3.0, 3.0, 3.0])
    funding = np.array([0.0, 0.001, -0.002])
    curve = equity_curve(lev, logret, funding=funding, side=-1)
    e1 = 1 + 3 * 0.05 + 0.001 * 3  # short earns the fall and receives funding (longs pay)
    e2 = e1 * (1 + 3 * -0.02 - 0.002 * 3)
    np.testing.assert_allclose(curve, [1.0, e1, e2], rtol=1e-13)


def test_a_shorts_rebalancing_fee_is_on_the_notional_that_follows_the_price() -> None:
    # Closes 100, 110, 110, 110, 110 at 1x with a 1 % fee: the event-driven backtester charges
    # 100, 21, 0.21, 0.0021 on 10,000 (a short's notional |q| P rises to 1.1 with the price and
    # is bought back to the equity 0.89).  The evaluator said 0.8898990 (fee on 1 %, not 21 %).
    logret = np.log([1.0, 1.1, 1.0, 1.0, 1.0])
    curve = equity_curve(np.ones(5), logret, fee_rate=0.01, side=-1)
    e1 = 1 - 0.1 - 0.01
    e2 = e1 - 0.01 * abs(e1 - 1.1)
    e3 = e2 - 0.01 * abs(e2 - e1)
    e4 = e3 - 0.01 * abs(e3 - e2)
    np.testing.assert_allclose(curve, [1.0, e1, e2, e3, e4], rtol=1e-13)
    assert e4 * 1e4 == pytest.approx(8878.7879, abs=1e-4)  # the backtester's final equity


@settings(max_examples=60, deadline=None)
@given(
    moves=st.lists(st.floats(-0.2, 0.2), min_size=2, max_size=29),
    levs=st.lists(st.floats(0.0, 4.0), min_size=30, max_size=30),
    fee=st.floats(0.0, 0.01),
    side=st.sampled_from([1, -1]),
)
def test_the_drifted_notional_is_the_cash_position_at_the_new_price(
    moves: list[float], levs: list[float], fee: float, side: int
) -> None:
    # Cash accounting of a position q held over each bar: fee on |target - |q| P_t|, whatever the
    # side (the notional of a long or a short is |q| times the price).
    simple = np.r_[0.0, moves]
    n = simple.shape[0]
    lev = np.asarray(levs[:n])
    equity, notional, ref = 1.0, 0.0, [1.0]
    for t in range(1, n):
        target = lev[t - 1] * equity
        fee_paid = fee * abs(target - notional)
        notional = target * (1.0 + simple[t])
        equity = equity * (1.0 + side * lev[t - 1] * simple[t]) - fee_paid
        if equity <= 0.0:
            break
        ref.append(equity)
    curve = equity_curve(lev, np.log1p(simple), fee_rate=fee, side=side)
    np.testing.assert_allclose(curve[: len(ref)], ref, rtol=1e-10, atol=1e-14)


def test_decision_lag_no_look_ahead() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.02, 500)
    r = np.expm1(x)
    foresight = (np.roll(r, -1) > 0).astype(float)  # peeks at the next bar
    known = (r > 0).astype(float)  # known at the bar's close
    # The evaluator applies leverage[t] to bar t+1: the foresight path earns every positive bar.
    m_peek = evaluate_path(foresight, x, 365.0)
    assert m_peek.total_return == pytest.approx(np.prod(1 + np.where(r[1:] > 0, r[1:], 0.0)) - 1, rel=1e-10)
    m_known = evaluate_path(known, x, 365.0)
    assert m_known.total_return == pytest.approx(np.prod(1 + known[:-1] * r[1:]) - 1, rel=1e-10)
    # The last decision and the first return never matter; changing L_t moves equity only after t.
    lev = rng.uniform(0, 3, 500)
    base = equity_curve(lev, x)
    lev2 = lev.copy()
    lev2[-1] = 100.0
    x2 = x.copy()
    x2[0] = 0.5
    np.testing.assert_array_equal(equity_curve(lev2, x2), base)
    lev3 = lev.copy()
    lev3[200] += 1.0
    c3 = equity_curve(lev3, x)
    np.testing.assert_array_equal(c3[:201], base[:201])
    assert c3[201] != base[201]


def test_liquidation_with_maintenance_margin() -> None:
    x = np.log([1.0, 1.01, 0.904, 1.5, 1.1])
    lev = np.full(5, 10.0)
    # bar 2: 1 + 10 * (-0.096) = 0.04 <= 0.005 * 10 * 0.904 = 0.0452 (the maintenance margin on
    # the notional at the close) -> liquidated; without mmr it survives. (At -0.0952, 0.048 is
    # above the close notional's 0.04524: a long the venue keeps.)
    m = evaluate_path(lev, x, 365.0, maint_margin_rate=0.005)
    assert m.liquidated
    assert m.liquidation_bar == 2
    assert m.total_return == -1.0
    assert m.max_drawdown == 1.0
    assert m.growth_rate == -math.inf
    np.testing.assert_array_equal(equity_curve(lev, x, maint_margin_rate=0.005)[2:], 0.0)
    assert not evaluate_path(lev, x, 365.0).liquidated


def test_evaluate_paths_matches_single_and_windows() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0.0002, 0.01, 300)
    levs = rng.uniform(0, 4, (4, 300))
    frame = evaluate_paths(levs, x, 365.0, windows=[(1, 300), (100, 200)], fee_rate=0.001)
    assert len(frame) == 8
    for p in range(4):
        for w, (a, b) in enumerate([(1, 300), (100, 200)]):
            single = evaluate_path(levs[p], x, 365.0, fee_rate=0.001, start=a, stop=b)
            row = frame[(frame["path"] == p) & (frame["window"] == w)].iloc[0]
            assert row["total_return"] == pytest.approx(single.total_return, rel=1e-12)
            assert row["sharpe"] == pytest.approx(single.sharpe, rel=1e-12)


def _kernel_inputs(seed: int, n: int = 2000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    simple = np.expm1(rng.standard_t(3, n) * 0.02)
    lev = rng.uniform(0, 8, n)
    lev[rng.random(n) < 0.05] = np.nan
    funding = rng.normal(0, 1e-4, n)
    return simple, lev, funding


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: nothing to compare")
@pytest.mark.parametrize(("fee", "mmr", "side"), [(0.0, 0.0, 1.0), (0.0005, 0.01, 1.0), (0.001, 0.005, -1.0)])
def test_py_nb_parity(fee: float, mmr: float, side: float) -> None:
    simple, lev, funding = _kernel_inputs(11)
    n = simple.shape[0]
    outs = []
    for fn in (kp.equity_path_py, kp.equity_path_nb):
        eq = np.full(n, -1.0)
        st = np.empty(kp.N_STATS)
        fn(lev, simple, funding, True, fee, mmr, side, 1, n, eq, st)
        outs.append((eq, st))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)
    levs = np.vstack([lev, lev * 0.5, lev * 2])
    starts = np.array([1, 500], dtype=np.int64)
    stops = np.array([n, 1500], dtype=np.int64)
    b_py = np.empty((6, kp.N_STATS))
    b_nb = np.empty((6, kp.N_STATS))
    kp.eval_batch_py(levs, simple, funding, True, fee, mmr, side, starts, stops, b_py)
    kp.eval_batch_nb(levs, simple, funding, True, fee, mmr, side, starts, stops, b_nb)
    np.testing.assert_allclose(b_py, b_nb, rtol=1e-12)
    np.testing.assert_allclose(b_py[0], outs[0][1], rtol=1e-12)


@pytest.mark.parametrize("fee", [0.0, 0.0004])
def test_vol_target_batch_equals_explicit_paths(fee: float) -> None:
    rng = np.random.default_rng(2)
    n = 3000
    simple = np.expm1(rng.normal(0, 0.01, n))
    inv_vol = 1.0 / rng.uniform(0.3, 1.2, (2, n))
    inv_vol[:, :10] = np.nan
    vol_index = np.array([0, 1, 1, 0], dtype=np.int64)
    targets = np.array([0.5, 1.0, 2.0, 0.8])
    caps = np.array([3.0, 1.5, 10.0, 2.0])
    explicit = np.minimum(targets[:, None] * inv_vol[vol_index], caps[:, None])
    ref = np.empty((4, kp.N_STATS))
    none = np.zeros(1)
    kp.eval_batch_py(explicit, simple, none, False, fee, 0.01, 1.0, np.array([1]), np.array([n]), ref)
    for fn in (kp.vol_target_batch_py, kp.vol_target_batch_nb):
        out = np.empty((4, kp.N_STATS))
        fn(simple, inv_vol, vol_index, targets, caps, fee, 0.01, 1, n, out)
        np.testing.assert_allclose(out, ref, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"returns": np.ones((2, 3))}, "returns"),
        ({"returns": np.array([0.0, np.nan, 0.1])}, "returns"),
        ({"leverage": np.array([1.0, -1.0, 1.0])}, "leverage"),
        ({"leverage": np.ones(4)}, "leverage"),
        ({"periods_per_year": 0.0}, "periods_per_year"),
        ({"fee_rate": -0.1}, "fee_rate"),
        ({"maint_margin_rate": 1.5}, "maint_margin_rate"),
        ({"funding": np.zeros(2)}, "funding"),
        ({"side": 0}, "side"),
        ({"start": 3}, "window"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"leverage": np.ones(3), "returns": np.zeros(3), "periods_per_year": 365.0}
    args.update(kwargs)
    with pytest.raises(InputError, match=name):
        evaluate_path(**args)  # type: ignore[arg-type]


def test_equal_returns_have_no_deviation_and_no_sharpe() -> None:
    # sum g^2 - n mean^2 cancelled: 5,000 bars of +0.1 % had a volatility of rounding noise
    # (2.4e-8) and a Sharpe ratio of 3.6e8.
    m = evaluate_path(np.ones(5000), np.log1p(np.full(5000, 0.001)), 8760.0)
    assert m.volatility == 0.0
    assert math.isnan(m.sharpe)
    assert m.total_return == pytest.approx(1.001**4999 - 1.0, rel=1e-9)


@pytest.mark.parametrize("sd", [1e-9, 1e-8, 1e-6])
def test_volatility_of_nearly_equal_returns_matches_two_passes(sd: float) -> None:
    # Carry-like returns (a tiny spread around 0.1 %): the old variance was off by 0.2 % at 1e-9.
    r = np.log1p(0.001 + np.random.default_rng(0).normal(0.0, sd, 5000))
    m = evaluate_path(np.ones(5000), r, 8760.0)
    eq = equity_curve(np.ones(5000), r)
    g = eq[1:] / eq[:-1] - 1.0
    assert m.volatility == pytest.approx(np.std(g, ddof=1) * math.sqrt(8760.0), rel=1e-6)
    assert m.sharpe == pytest.approx(g.mean() / np.std(g, ddof=1) * math.sqrt(8760.0), rel=1e-6)


def test_the_flat_bars_after_a_liquidation_count_as_zero_returns() -> None:
    r = np.log([1.0, 1.01, 0.99, 1.02, 0.5, 1.03, 1.01])
    m = evaluate_path(np.full(7, 3.0), r, 365.0)
    assert m.liquidated
    g = np.array([0.03, -0.03, 0.06, -1.0, 0.0, 0.0])  # 3x the simple returns, lost at bar 4
    assert m.volatility == pytest.approx(np.std(g, ddof=1) * math.sqrt(365.0), rel=1e-12)
