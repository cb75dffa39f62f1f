"""Rolling estimators equal the point estimates on every window; kernel parity (Python vs numba)."""

from __future__ import annotations

import numpy as np
import pytest
from gbm_ohlc import simulate_gbm_ohlc
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.risk import volatility as v
from levguard.kernels import vol as kv
from levguard.kernels._jit import NUMBA_DISABLED

BARS = simulate_gbm_ohlc(240, 32, drift=0.002, gap_sd=0.003, bridge=True, seed=5)


def _window_slices(n: int, w: int, first: int) -> list[tuple[int, slice]]:
    return [(t, slice(t - w + 1, t + 1)) for t in range(first, n)]


@pytest.mark.parametrize("w", [2, 3, 17, 60])
def test_rolling_range_estimators_equal_point(w: int) -> None:
    o, h, lo, c = BARS.open, BARS.high, BARS.low, BARS.close
    n = c.shape[0]
    cases = [
        (v.rolling_parkinson(h, lo, w), lambda s: v.parkinson(h[s], lo[s])),
        (v.rolling_garman_klass(o, h, lo, c, w), lambda s: v.garman_klass(o[s], h[s], lo[s], c[s])),
        (v.rolling_rogers_satchell(o, h, lo, c, w), lambda s: v.rogers_satchell(o[s], h[s], lo[s], c[s])),
    ]
    for rolled, point in cases:
        assert rolled.shape == (n,)
        assert np.isnan(rolled[: w - 1]).all()
        for t, s in _window_slices(n, w, w - 1):
            assert rolled[t] == pytest.approx(point(s), rel=1e-11, abs=1e-20)


@pytest.mark.parametrize("w", [2, 5, 48])
@pytest.mark.parametrize("demean", [True, False])
def test_rolling_close_to_close_equals_point(w: int, demean: bool) -> None:
    c = BARS.close
    rolled = v.rolling_close_to_close(c, w, demean=demean)
    assert np.isnan(rolled[:w]).all()
    for t in range(w, c.shape[0]):
        assert rolled[t] == pytest.approx(v.close_to_close(c[t - w : t + 1], demean=demean), rel=1e-10)


@pytest.mark.parametrize("w", [2, 9, 30])
def test_rolling_yang_zhang_equals_point(w: int) -> None:
    o, h, lo, c = BARS.open, BARS.high, BARS.low, BARS.close
    rolled = v.rolling_yang_zhang(o, h, lo, c, w)
    assert np.isnan(rolled[:w]).all()
    for t in range(w, c.shape[0]):
        s = slice(t - w + 1, t + 1)
        expected = v.yang_zhang(o[s], h[s], lo[s], c[s], prev_close=float(c[t - w]))
        assert rolled[t] == pytest.approx(expected, rel=1e-10)
    # With the close before the first bar, the first full window is the first w bars.
    with_prev = v.rolling_yang_zhang(o, h, lo, c, w, prev_close=BARS.prev_close)
    assert np.isnan(with_prev[: w - 1]).all()
    assert with_prev[w - 1] == pytest.approx(
        v.yang_zhang(o[:w], h[:w], lo[:w], c[:w], prev_close=BARS.prev_close), rel=1e-10
    )
    np.testing.assert_allclose(with_prev[w:], rolled[w:], rtol=1e-10)


def test_window_longer_than_data_is_all_nan() -> None:
    out = v.rolling_parkinson(BARS.high[:5], BARS.low[:5], 10)
    assert out.shape == (5,)
    assert np.isnan(out).all()


def test_rolling_survives_a_volatility_collapse() -> None:
    """Running sums are re-summed every window: a 1e4-fold drop in variance keeps full precision."""
    rng = np.random.default_rng(3)
    x = np.r_[rng.uniform(0, 1, 500), rng.uniform(0, 1, 500) * 1e-4]
    for w in (7, 64):
        mean = np.empty_like(x)
        var = np.empty_like(x)
        kv.rolling_mean_nb(x, w, mean)
        kv.rolling_var_nb(x, w, 1, var)
        win = np.lib.stride_tricks.sliding_window_view(x, w)
        np.testing.assert_allclose(mean[w - 1 :], win.mean(axis=1), rtol=1e-9)
        np.testing.assert_allclose(var[w - 1 :], win.var(axis=1, ddof=1), rtol=1e-7)


@settings(max_examples=60, deadline=None)
@given(
    x=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=80),
    w=st.integers(2, 20),
)
def test_rolling_kernels_match_numpy(x: list[float], w: int) -> None:
    arr = np.asarray(x)
    mean, var = np.empty_like(arr), np.empty_like(arr)
    kv.rolling_mean_py(arr, w, mean)
    kv.rolling_var_py(arr, w, 1, var)
    k = min(w - 1, arr.shape[0])
    assert np.isnan(mean[:k]).all()
    assert np.isnan(var[:k]).all()
    if arr.shape[0] >= w:
        win = np.lib.stride_tricks.sliding_window_view(arr, w)
        np.testing.assert_allclose(mean[w - 1 :], win.mean(axis=1), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(var[w - 1 :], win.var(axis=1, ddof=1), rtol=1e-7, atol=1e-6)
        assert (var[w - 1 :] >= 0).all()


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
@pytest.mark.parametrize("w", [2, 13, 100])
def test_compiled_equals_python(w: int) -> None:
    """Bitwise-equal outputs (NaN where NaN)."""
    rng = np.random.default_rng(w)
    x = rng.standard_normal(1_000) ** 2
    for py, nb, extra in ((kv.rolling_mean_py, kv.rolling_mean_nb, ()), (kv.rolling_var_py, kv.rolling_var_nb, (1,))):
        a, b = np.empty_like(x), np.empty_like(x)
        py(x, w, *extra, a)
        nb(x, w, *extra, b)
        np.testing.assert_array_equal(a, b)
    a, b = np.empty_like(x), np.empty_like(x)
    kv.ewma_py(x, 0.94, 0.5, a)
    kv.ewma_nb(x, 0.94, 0.5, b)
    np.testing.assert_array_equal(a, b)
