"""Kernel parity: the compiled kernels equal their plain-Python twins and the NumPy baseline."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.kernels import margin as km
from levguard.kernels._jit import NUMBA_DISABLED, readonly

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
    ins = (readonly(a) for a in (q, ep, mg, mk))  # read-only, as levguard.margin passes them
    fn(*ins, fee, at_entry, *(readonly(t) if isinstance(t, np.ndarray) else t for t in tables), *out)
    return out


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
@pytest.mark.parametrize(("fee", "at_entry"), [(0.0, False), (0.0006, False), (0.0, True)])
def test_compiled_equals_python(fee: float, at_entry: bool) -> None:
    """Bitwise-equal outputs (NaN where NaN) for shared tables."""
    q, ep, mg, mk = _positions(3_000, 1)
    tabs = (False, TABLE.caps, TABLE.mmrs, TABLE.cums)
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
    flags = np.zeros(2, dtype=np.bool_)
    a = _run(km.isolated_linear_multi_py, q, ep, mg, mk, 0.0, False, ids, flags, caps, mmrs, cums)
    b = _run(km.isolated_linear_multi_nb, q, ep, mg, mk, 0.0, False, ids, flags, caps, mmrs, cums)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    shared = _run(km.isolated_linear_nb, q, ep, mg, mk, 0.0, False, False, TABLE.caps, TABLE.mmrs, TABLE.cums)
    np.testing.assert_array_equal(a[0][ids == 0], shared[0][ids == 0])


def test_numpy_baseline_agrees_with_the_kernel() -> None:
    """The textbook per-bracket NumPy vectorisation finds the same liquidation prices."""
    q, ep, mg, mk = _positions(5_000, 3)
    lp = _run(km.isolated_linear_py, q, ep, mg, mk, 0.0, False, False, TABLE.caps, TABLE.mmrs, TABLE.cums)[0]
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


def _valid_positions(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = rng.choice([-1.0, 1.0], n) * rng.uniform(0.01, 50.0, n)
    ep = rng.uniform(20_000.0, 90_000.0, n)
    mg = np.abs(q) * ep / rng.uniform(1.0, 100.0, n)
    mk = ep * rng.uniform(0.95, 1.05, n)
    return q, ep, mg, mk


def test_public_arrays_write_into_out_and_match_the_fresh_arrays() -> None:
    # out= (issue 17): the same bits as freshly allocated outputs, written in place; the prices
    # alone (block-sized scratch for MM and ratio) equal the first of the three outputs.
    from levguard.margin import isolated_liquidation_prices, isolated_margin_arrays

    n = 3 * km.BLOCK + 17  # several blocks and a partial one
    q, ep, mg, mk = _valid_positions(n)
    fresh = isolated_margin_arrays(q, ep, mg, TABLE, mark_price=mk)
    out = (np.empty(n), np.empty(n), np.empty(n))
    again = isolated_margin_arrays(q, ep, mg, TABLE, mark_price=mk, out=out)
    assert all(a is b for a, b in zip(again, out, strict=True))
    for a, b in zip(fresh, again, strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    lp = np.empty(n)
    assert isolated_liquidation_prices(q, ep, mg, TABLE, mark_price=mk, out=lp) is lp
    assert np.array_equal(lp, fresh[0], equal_nan=True)
    small = isolated_liquidation_prices(q[:5], ep[:5], mg[:5], TABLE, mark_price=mk[:5])
    assert np.array_equal(small, fresh[0][:5], equal_nan=True)


@pytest.mark.parametrize("where", [0, 1, 700, 1_999])
@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("qty", 0.0, "qty[{i}] must be non-zero and finite, was 0.0"),
        ("qty", np.inf, "qty[{i}] must be non-zero and finite, was inf"),
        ("entry_price", np.nan, "entry_price[{i}] must be > 0, was nan"),
        ("isolated_margin", -1.0, "isolated_margin[{i}] must be > 0, was -1.0"),
        ("mark_price", 0.0, "mark_price[{i}] must be > 0, was 0.0"),
        # Found by a bad-input campaign (2026-12-05): finite but absurd values gave NaN prices
        # where the account evaluator refuses them (the amounts' range, core.validate.NUMBER_MAX).
        ("isolated_margin", 1e308, "isolated_margin[{i}] must be between 1e-30 and 1e30, was 1e+308"),
        ("entry_price", 1e-320, "entry_price[{i}] must be between 1e-30 and 1e30, was 1e-320"),
        ("qty", -1e31, "qty[{i}] must be between 1e-30 and 1e30 in magnitude, was -1e+31"),
    ],
)
def test_the_kernel_pass_reports_the_first_bad_row_by_index(where: int, field: str, value: float, needle: str) -> None:
    from levguard.errors import InputError
    from levguard.margin import isolated_liquidation_prices, isolated_margin_arrays

    q, ep, mg, mk = _valid_positions(2_000)
    arrays = {"qty": q, "entry_price": ep, "isolated_margin": mg, "mark_price": mk}
    arrays[field][where] = value
    arrays[field][where + 1 if where + 1 < 2_000 else 0] = value  # a later (or earlier) bad row too
    first = min(where, where + 1 if where + 1 < 2_000 else 0)
    for fn in (isolated_liquidation_prices, isolated_margin_arrays):
        with pytest.raises(InputError) as exc:
            fn(q, ep, mg, TABLE, mark_price=mk)
        assert needle.format(i=first) in str(exc.value)
    ids = np.zeros(2_000, dtype=np.int64)  # the per-table path checks the same way
    with pytest.raises(InputError) as exc:
        isolated_margin_arrays(q, ep, mg, [TABLE], mark_price=mk, table_ids=ids)
    assert needle.format(i=first) in str(exc.value)


def test_out_arrays_of_the_wrong_kind_are_refused() -> None:
    from levguard.errors import InputError
    from levguard.margin import isolated_liquidation_prices, isolated_margin_arrays

    q, ep, mg, _ = _valid_positions(10)
    with pytest.raises(InputError, match="out must be a writable C-contiguous float64 array of length 10"):
        isolated_liquidation_prices(q, ep, mg, TABLE, out=np.empty(9))
    with pytest.raises(InputError, match=r"out\[1\] must be a writable C-contiguous float64 array"):
        isolated_margin_arrays(q, ep, mg, TABLE, out=(np.empty(10), np.empty(10, dtype=np.float32), np.empty(10)))
    with pytest.raises(InputError, match="out must be a tuple of three"):
        isolated_margin_arrays(q, ep, mg, TABLE, out=np.empty(10))  # type: ignore[arg-type]


def test_arrays_of_another_shape_and_fractional_table_ids_are_refused() -> None:
    # An API audit: a (2, 2) input was flattened into four positions, table_ids 1.5 read as 1.
    from levguard.errors import InputError
    from levguard.margin import isolated_margin_arrays

    q, ep, mg, _ = _valid_positions(4)
    with pytest.raises(InputError, match=r"qty must be a number or a 1-D array, had shape \(2, 2\)"):
        isolated_margin_arrays(q.reshape(2, 2), ep.reshape(2, 2), mg.reshape(2, 2), TABLE)
    for ids in ([0, 1.5, 0, 0], [0, float("nan"), 0, 0], [[0, 0], [0, 0]]):
        with pytest.raises(InputError, match="table_ids must be a 1-D array of whole numbers"):
            isolated_margin_arrays(q, ep, mg, [TABLE, TABLE], table_ids=ids)
    whole = isolated_margin_arrays(q, ep, mg, [TABLE, TABLE], table_ids=[0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(whole[0], isolated_margin_arrays(q, ep, mg, TABLE)[0])


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
@pytest.mark.parametrize(("fee", "at_entry"), [(0.0005, False), (0.0, True)])
def test_tiers_by_size_compiled_equals_python(fee: float, at_entry: bool) -> None:
    """Caps read as position sizes (OKX's contracts), shared and per-position tables."""
    q, ep, mg, mk = _positions(3_000, 4)
    sizes = (np.array([0.5, 2.0, 8.0, np.inf]), np.array([0.004, 0.006, 0.01, 0.02]), np.zeros(4))
    a = _run(km.isolated_linear_py, q, ep, mg, mk, fee, at_entry, True, *sizes)
    b = _run(km.isolated_linear_nb, q, ep, mg, mk, fee, at_entry, True, *sizes)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    ids = (np.arange(q.shape[0]) % 2).astype(np.int64)
    flags = np.array([True, False])
    tabs = (
        np.vstack([sizes[0], TABLE.caps[:4]]),
        np.vstack([sizes[1], TABLE.mmrs[:4]]),
        np.vstack([sizes[2], TABLE.cums[:4]]),
    )
    c = _run(km.isolated_linear_multi_py, q, ep, mg, mk, fee, at_entry, ids, flags, *tabs)
    d = _run(km.isolated_linear_multi_nb, q, ep, mg, mk, fee, at_entry, ids, flags, *tabs)
    for x, y in zip(c, d, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(c[0][ids == 0], a[0][ids == 0])  # the shared table's rows
    assert (np.histogram(np.abs(q), bins=np.r_[0.0, sizes[0]])[0] > 100).all()  # every tier by size
