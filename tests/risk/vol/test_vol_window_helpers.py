"""The window helpers shared by the rolling kernels (levguard.kernels.vol.window_sum and
window_moments): a left-to-right sum and the two-pass mean and M2, in Python and compiled."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.kernels._jit import jit
from levguard.kernels.vol import window_moments, window_sum
from levguard.typing import Float64Array1D


def _both_py(w: Float64Array1D) -> tuple[float, float, float]:
    mean, m2 = window_moments(w)
    return window_sum(w), mean, m2


_both_nb = jit(_both_py)


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_window_helpers_are_the_written_out_loops(n: int) -> None:
    w = np.random.default_rng(n).normal(100.0, 3.0, n)
    s = 0.0
    for v in w:
        s += float(v)
    mean = s / n
    m2 = 0.0
    for v in w:
        m2 += (float(v) - mean) ** 2
    assert _both_py(w) == (s, mean, m2)
    assert _both_nb(w) == (s, mean, m2)


def test_window_helpers_on_a_view_of_a_series() -> None:
    x = np.arange(10.0)
    assert window_sum(x[3:6]) == 12.0
    assert window_moments(x[3:6]) == (4.0, 2.0)
