"""The one-pass direction check: compiled twin equals the plain-Python one, and both equal the
NumPy definition (NaN is 0; anything outside {-1, 0, 1} is reported by its first index)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.kernels.strategies import clean_directions_nb, clean_directions_py

VALUES = st.sampled_from([-1.0, 0.0, 1.0, -0.0, np.nan, 2.0, -0.5, np.inf, -np.inf, 1e-300])


@settings(max_examples=200, deadline=None)
@given(st.lists(VALUES, min_size=0, max_size=40))
def test_clean_directions_twins_agree_with_numpy(values: list[float]) -> None:
    d = np.array(values, dtype=float)
    out_py = np.full(d.shape[0], 7.0)
    out_nb = np.full(d.shape[0], 7.0)
    bad_py = clean_directions_py(d, out_py)
    bad_nb = clean_directions_nb(d, out_nb)
    assert bad_py == bad_nb
    invalid = np.flatnonzero(~(np.isin(np.nan_to_num(d, nan=0.0, posinf=9.0, neginf=9.0), (-1.0, 0.0, 1.0))))
    if invalid.size:
        assert bad_py == invalid[0]
    else:
        assert bad_py == -1
        np.testing.assert_array_equal(out_py, np.where(np.isnan(d), 0.0, d))
        np.testing.assert_array_equal(out_nb, out_py)
