"""Kernel parity: the compiled kernels equal their plain-Python twins and the NumPy baseline."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.kernels import margin as km
from levguard.kernels._jit import NUMBA_DISABLED

TABLE = BUILTIN_TIERS["BTCUSDT"]


def _positions(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    price = rng.uniform(1_000, 100_000, n)
    notional = np.exp(rng.uniform(np.log(100), np.log(2e9), n))
    q = notional / price * rng.choice([-1.0, 1.0], n)
    lev = rng.uniform(1, 125, n)
    margin = notional / lev * rng.uniform(0.5, 3.0, n)
    mark = price * rng.uniform(0.8, 1.2, n)
    return q, price, margin, mark


def _run(fn, q, ep, mg, mk, fee, at_entry, *tables):  # type: ignore[no-untyped-def]
    out = [np.empty(q.shape[0]) for _ in range(3)]
    fn(q, ep, mg, mk, fee, at_entry, *tables, *out)
    return out


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
@pytest.mark.parametrize(("fee", "at_entry"), [(0.0, False), (0.0006, False), (0.0, True)])
def test_compiled_equals_python(fee: float, at_entry: bool) -> None:
    """Bitwise-equal outputs (NaN where NaN) for shared tables."""
    q, ep, mg, mk = _positions(3_000, 1)
    tabs = (TABLE.caps, TABLE.mmrs, TABLE.cums)
    a = _run(km.isolated_linear_py, q, ep, mg, mk, fee, at_entry, *tabs)
    b = _run(km.isolated_linear_nb, q, ep, mg, mk, fee, at_entry, *tabs)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
def test_multi_table_compiled_equals_python_and_shared() -> None:
    """Per-position tables: compiled == Python, and one-table rows equal the shared kernel."""
    q, ep, mg, mk = _positions(2_000, 2)
    eth = BUILTIN_TIERS["ETHUSDT"]
    ids = (np.arange(q.shape[0]) % 2).astype(np.int64)
    caps = np.vstack([TABLE.caps, eth.caps])
    mmrs = np.vstack([TABLE.mmrs, eth.mmrs])
    cums = np.vstack([TABLE.cums, eth.cums])
    a = _run(km.isolated_linear_multi_py, q, ep, mg, mk, 0.0, False, ids, caps, mmrs, cums)
    b = _run(km.isolated_linear_multi_nb, q, ep, mg, mk, 0.0, False, ids, caps, mmrs, cums)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    shared = _run(km.isolated_linear_nb, q, ep, mg, mk, 0.0, False, TABLE.caps, TABLE.mmrs, TABLE.cums)
    np.testing.assert_array_equal(a[0][ids == 0], shared[0][ids == 0])


def test_numpy_baseline_agrees_with_the_kernel() -> None:
    """The textbook per-bracket NumPy vectorisation finds the same liquidation prices."""
    q, ep, mg, mk = _positions(5_000, 3)
    lp = _run(km.isolated_linear_py, q, ep, mg, mk, 0.0, False, TABLE.caps, TABLE.mmrs, TABLE.cums)[0]
    base = km.numpy_isolated_linear_liq(q, ep, mg, TABLE.caps, TABLE.mmrs, TABLE.cums)
    np.testing.assert_allclose(lp, base, rtol=1e-9, equal_nan=True)
    assert np.isnan(lp).any()
    assert np.isfinite(lp).any()


def test_solver_returns_nan_rather_than_raising() -> None:
    """Failure is a value: zero size, or no positive root, gives NaN."""
    caps, mmrs, cums = TABLE.caps, TABLE.mmrs, TABLE.cums
    assert np.isnan(km.solve_liquidation_price(0.0, 100.0, 10.0, 0.0, 0.0, False, caps, mmrs, cums))
    # Over-collateralised 1x long: never liquidated.
    assert np.isnan(km.solve_liquidation_price(1.0, 100.0, 150.0, 0.0, 0.0, False, caps, mmrs, cums))
    # Inverse short fully backed by coin: never liquidated.
    assert np.isnan(km.solve_liquidation_price(-100.0, 100.0, 2.0, 0.0, 0.0, True, caps, mmrs, cums))
