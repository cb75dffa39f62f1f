"""The forecaster's kernels: compiled and plain-Python twins agree with a direct reference."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.kernels.forecast import (
    ewma_mean_nb,
    ewma_mean_py,
    forward_max_nb,
    forward_max_py,
    forward_min_nb,
    forward_min_py,
)


@pytest.mark.parametrize("window", [1, 2, 5, 24, 168, 499, 500, 501])
def test_forward_extremes(window: int) -> None:
    x = np.random.default_rng(window).normal(size=500)
    ref_min = np.array([x[s : s + window].min() if s + window <= 500 else np.nan for s in range(500)])
    ref_max = np.array([x[s : s + window].max() if s + window <= 500 else np.nan for s in range(500)])
    for fn, ref in (
        (forward_min_nb, ref_min),
        (forward_min_py, ref_min),
        (forward_max_nb, ref_max),
        (forward_max_py, ref_max),
    ):
        out = np.empty(500)
        fn(x, window, out)
        np.testing.assert_array_equal(out, ref)


def test_forward_extremes_skip_missing_bars_marked_infinite() -> None:
    low = np.array([3.0, np.inf, 1.0, np.inf, 2.0])
    out = np.empty(5)
    forward_min_nb(low, 2, out)
    np.testing.assert_array_equal(out, [3.0, 1.0, 1.0, 2.0, np.nan])


def test_forward_extremes_with_no_window_are_nan() -> None:
    out = np.empty(3)
    forward_min_nb(np.ones(3), 0, out)
    assert np.isnan(out).all()


def test_ewma_mean_is_the_weighted_mean_of_what_it_has_seen() -> None:
    rng = np.random.default_rng(1)
    x = rng.exponential(size=300)
    x[[0, 50, 51]] = np.nan
    lam = 0.97
    ref = np.full(300, np.nan)
    for t in range(300):
        idx = np.arange(t + 1)
        ok = ~np.isnan(x[: t + 1])
        if ok.any():
            w = lam ** (t - idx[ok])
            ref[t] = np.sum(w * x[: t + 1][ok]) / np.sum(w)
    for fn in (ewma_mean_nb, ewma_mean_py):
        out = np.empty(300)
        fn(x, lam, out)
        np.testing.assert_allclose(out, ref, rtol=1e-12, equal_nan=True)
