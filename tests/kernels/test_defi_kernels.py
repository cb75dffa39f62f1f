"""DeFi float kernels (``levguard.kernels.defi``, ``levguard.core.defi.fast``).

* the compiled kernels equal their plain-Python twins bit for bit, and the NumPy baselines;
* the float health factor agrees with the exact integer engines: to a relative 1e-12 where the
  contract's roundings are exact (whole tokens, prices on a 1e-4 grid, one threshold and LTV for
  all collateral), and otherwise within the bound those roundings imply (value floors, the
  floored average threshold, half-up percentMul / wadDiv), derived per account from Fractions;
  on Morpho, ``is_healthy`` agrees with ``HF >= 1`` outside a band of 1e-12 + 2 loan-token units;
* the Aave docs' worked example (aave.com/docs/developers/liquidations: 10,000 USD of ETH at an
  80 % threshold against 6,000 USD of debt is a health factor of 1.333);
* properties: HF = inf without debt, scale invariance, HF = 1 at the liquidation price.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from levguard.core.defi import fast
from levguard.core.defi.aave import AaveReserve, EModeCategory, get_user_account_data
from levguard.core.defi.morpho import (
    ORACLE_PRICE_SCALE,
    WAD,
    Market,
    Position,
    is_healthy,
    mul_div_down,
    to_assets_up,
    w_mul_down,
)
from levguard.core.defi.wadray import UINT256_MAX
from levguard.errors import InputError
from levguard.kernels import defi as kd
from levguard.kernels._jit import NUMBA_DISABLED

SETTINGS = settings(max_examples=150, deadline=None)
EPS = 2.0**-52
needs_numba = pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")


# ------------------------------------------------------------------------------------ data


def random_book(n: int, seed: int, emode: bool = True) -> dict[str, np.ndarray]:
    """N accounts of 0-5 rows: collateral and/or debt, thresholds with zeros, e-mode overrides."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, n)
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    r = int(indptr[-1])
    lt = np.where(rng.random(r) < 0.15, 0.0, rng.uniform(0.5, 0.95, r))
    ltv = np.where(rng.random(r) < 0.15, 0.0, lt * rng.uniform(0.5, 1.0, r))
    coll = np.where(rng.random(r) < 0.4, 0.0, np.exp(rng.uniform(-5.0, 20.0, r)))
    debt = np.where(rng.random(r) < 0.5, 0.0, np.exp(rng.uniform(-5.0, 20.0, r)))
    book = {"indptr": indptr, "collateral_value": coll, "debt_value": debt, "lt": lt, "ltv": ltv}
    if emode:
        in_cat = rng.random(r) < 0.3
        book["emode_lt"] = np.where(in_cat, 0.97, 0.0)
        book["emode_ltv"] = np.where(in_cat, 0.93, 0.0)
    else:
        book["emode_lt"] = book["emode_ltv"] = np.empty(0)
    return book


def run_accounts(fn: Any, b: dict[str, np.ndarray]) -> tuple[int, list[np.ndarray]]:
    n = b["indptr"].shape[0] - 1
    out = [np.empty(n) for _ in range(4)]
    keys = ("indptr", "collateral_value", "debt_value", "lt", "ltv", "emode_lt", "emode_ltv")
    return fn(*(b[k] for k in keys), *out), out


def run_liq(fn: Any, b: dict[str, np.ndarray], k: np.ndarray, price: np.ndarray) -> tuple[Any, np.ndarray]:
    out = np.empty(k.shape[0])
    keys = ("indptr", "collateral_value", "debt_value", "lt", "emode_lt")
    return fn(*(b[key] for key in keys), k, price, out), out


def valid_assets(b: dict[str, np.ndarray], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A moving row for each non-empty account, and its price."""
    sizes = np.diff(b["indptr"])
    keep = sizes > 0
    rng = np.random.default_rng(seed)
    k = (rng.random(sizes.shape[0]) * np.maximum(sizes, 1)).astype(np.int64)
    return keep, k, rng.uniform(0.01, 1e5, sizes.shape[0])


# ------------------------------------------------------------------ twins and baselines


@needs_numba
@pytest.mark.parametrize("emode", [True, False])
def test_compiled_accounts_equal_python_bitwise(emode: bool) -> None:
    b = random_book(4_000, 1, emode)
    (bad_py, a), (bad_nb, c) = run_accounts(kd.aave_accounts_py, b), run_accounts(kd.aave_accounts_nb, b)
    assert bad_py == bad_nb == -1
    for x, y in zip(a, c, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.isinf(a[0]).any()
    assert np.isfinite(a[0]).any()
    assert (a[3] == 0.0).any()


@needs_numba
def test_compiled_liquidation_prices_equal_python_bitwise() -> None:
    b = random_book(4_000, 2)
    keep, k, price = valid_assets(b, 3)
    bad_py, a = run_liq(kd.aave_liquidation_prices_py, b, k, price)
    bad_nb, c = run_liq(kd.aave_liquidation_prices_nb, b, k, price)
    first_empty = int(np.flatnonzero(~keep)[0])  # an empty account has no row to move
    assert bad_py == bad_nb == (-1, first_empty)
    np.testing.assert_array_equal(a, c)
    assert np.isnan(a).any()
    assert np.isfinite(a[keep]).any()


@needs_numba
@pytest.mark.parametrize("shared", [False, True])
def test_compiled_morpho_equals_python_bitwise(shared: bool) -> None:
    rng = np.random.default_rng(4)
    n = 5_000
    c = np.where(rng.random(n) < 0.05, 0.0, rng.uniform(0.0, 1e6, n))
    b = np.where(rng.random(n) < 0.05, 0.0, rng.uniform(0.0, 1e9, n))
    p = np.array([2_000.0]) if shared else rng.uniform(0.0, 1e4, n)
    q = np.array([0.86]) if shared else rng.choice([0.0, 0.625, 0.86, 0.945], n)
    outs = [[np.empty(n), np.empty(n)] for _ in range(2)]
    assert kd.morpho_positions_py(c, b, p, q, *outs[0]) == kd.morpho_positions_nb(c, b, p, q, *outs[1]) == -1
    for x, y in zip(*outs, strict=True):
        np.testing.assert_array_equal(x, y)
    base = kd.numpy_morpho_positions(c, b, p, q)
    for x, y in zip(outs[0], base, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-15)


@pytest.mark.parametrize("emode", [True, False])
def test_numpy_baseline_agrees_with_the_kernel(emode: bool) -> None:
    b = random_book(3_000, 5, emode)
    bad, out = run_accounts(kd.aave_accounts_py, b)
    base = kd.numpy_aave_accounts(
        *(b[k] for k in ("indptr", "collateral_value", "debt_value", "lt", "ltv")), b["emode_lt"], b["emode_ltv"]
    )
    assert bad == -1
    # Not bits: ``np.add.reduceat``'s SIMD loop adds in another order than the kernel's running
    # sum, and the order depends on the machine's vector width (4e-14 apart on an AVX2-only CPU).
    for x, y in zip(out, base, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12)


@pytest.mark.parametrize("twin", ["py", "nb"])
def test_kernels_report_the_first_bad_row(twin: str) -> None:
    if twin == "nb" and NUMBA_DISABLED:
        pytest.skip("numba disabled")
    b = random_book(300, 6)
    accounts = kd.aave_accounts_py if twin == "py" else kd.aave_accounts_nb
    for key, value in [("collateral_value", -1.0), ("debt_value", np.nan), ("lt", 1.5), ("ltv", 0.99)]:
        bb = {k: v.copy() for k, v in b.items()}
        bb[key][[40, 7]] = value
        if key == "ltv":
            bb["lt"][[40, 7]] = 0.9
        assert run_accounts(accounts, bb)[0] == 7
    bb = {k: v.copy() for k, v in b.items()}
    bb["emode_ltv"][9] = 0.98  # above its emode_lt
    assert run_accounts(accounts, bb)[0] == 9


# ------------------------------------------------------------------ golden and edge cases


def test_aave_docs_example() -> None:
    """aave.com/docs/developers/liquidations: 10,000 USD of ETH at an 80 % threshold, 6,000 USD
    borrowed: HF = 10,000 x 0.8 / 6,000 = 1.333; ETH at 2,000 USD is liquidated at 1,500."""
    book = ([0, 2], [10_000.0, 0.0], [0.0, 6_000.0], [0.8, 0.0], [0.75, 0.0])
    r = fast.aave_account_arrays(*book)
    assert r.health_factor[0] == pytest.approx(4.0 / 3.0, rel=1e-15)
    assert r.available_borrows[0] == pytest.approx(1_500.0, rel=1e-15)
    lp = fast.aave_liquidation_prices(*book[:4], [0], [2_000.0])
    assert lp[0] == pytest.approx(1_500.0, rel=1e-15)
    # The same account through the exact engine (1e8 base units per USD; ETH 18 decimals).
    rows = [
        AaveReserve("WETH", 2_000 * 10**8, 18, ltv=7_500, lt=8_000, collateral=5 * 10**18),
        AaveReserve("GHO", 10**8, 18, ltv=0, lt=0, debt=6_000 * 10**18),
    ]
    acct = get_user_account_data(rows)
    assert acct.health_factor == 1_333_333_333_333_333_333
    assert acct.available_borrows_base == 1_500 * 10**8


def test_no_debt_no_collateral_and_empty_accounts() -> None:
    r = fast.aave_account_arrays([0, 1, 1, 2], [5.0, 0.0], [0.0, 3.0], [0.8, 0.8], [0.7, 0.7])
    assert r.health_factor.tolist() == [math.inf, math.inf, 0.0]
    assert r.total_collateral.tolist() == [5.0, 0.0, 0.0]
    assert r.available_borrows.tolist() == [3.5, 0.0, 0.0]
    empty = fast.aave_account_arrays([0], [], [], [], [])
    assert empty.health_factor.shape == (0,)
    m = fast.morpho_position_arrays([1.0, 0.0, 2.0], [0.0, 5.0, 1.0], [3.0, 3.0, 3.0], [0.8, 0.8, 0.0])
    assert m.health_factor.tolist() == [math.inf, 0.0, 0.0]
    assert np.isnan(m.liquidation_price).all()


def test_lt_zero_and_ltv_zero_reserves_in_emode() -> None:
    """A reserve with lt = 0 is no collateral, and one with ltv = 0 lends nothing, even in e-mode
    (GenericLogic): the float path and the exact engine agree on both."""
    rows = [
        AaveReserve("A", 10**8, 8, ltv=0, lt=8_000, collateral=10**12, in_emode=True),
        AaveReserve("B", 10**8, 8, ltv=0, lt=0, collateral=10**12, in_emode=True),
        AaveReserve("C", 10**8, 8, ltv=7_000, lt=7_500, collateral=10**12),
        AaveReserve("D", 10**8, 8, ltv=7_000, lt=7_500, debt=10**12),
    ]
    emode = EModeCategory(ltv=9_000, lt=9_300, liquidation_bonus=10_100)
    exact = get_user_account_data(rows, emode)
    r = fast.aave_account_arrays(
        [0, 4],
        [1e4, 1e4, 1e4, 0.0],
        [0.0, 0.0, 0.0, 1e4],
        [0.8, 0.0, 0.75, 0.75],
        [0.0, 0.0, 0.7, 0.7],
        emode_lt=[0.93, 0.93, 0.0, 0.0],
        emode_ltv=[0.9, 0.9, 0.0, 0.0],
    )
    assert r.total_collateral[0] * 1e8 == exact.total_collateral_base == 2 * 10**12
    assert r.health_factor[0] == pytest.approx(exact.health_factor / 1e18, rel=1e-12)  # (0.93 + 0.75) / 2
    assert r.available_borrows[0] == pytest.approx(exact.available_borrows_base / 1e8, rel=1e-12) == 0.0


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"lt": [0.8, 80.0]}, r"lt\[1\] must be a fraction in \[0, 1\] \(not bps\), was 80.0"),
        ({"ltv": [0.9, 0.0]}, r"ltv\[0\] must be in \[0, lt\[0\] = 0.8\], was 0.9"),
        ({"debt_value": [0.0, -2.0]}, r"debt_value\[1\] must be finite and >= 0, was -2.0"),
        ({"collateral_value": [np.inf, 0.0]}, r"collateral_value\[0\] must be finite and >= 0, was inf"),
        ({"indptr": [0, 1]}, "indptr must start at 0 and end at the number of rows 2, was 0 .. 1"),
        ({"indptr": [0, 2, 1, 2]}, r"indptr must be non-decreasing, was indptr\[2\] = 1 < indptr\[1\] = 2"),
        ({"indptr": [0.0, 2.0]}, "indptr must be a 1-D integer array"),
        ({"lt": [0.8]}, r"lt must have the length of collateral_value \(2\), was 1"),
        ({"emode_lt": [0.9, 0.0]}, "emode_lt and emode_ltv must be given together, emode_ltv was None"),
        ({"emode_lt": [0.9, 0.0], "emode_ltv": [0.95, 0.0]}, r"emode_ltv\[0\] must be in \[0, emode_lt\[0\] = 0.9\]"),
        ({"emode_lt": [0.9, 2.0], "emode_ltv": [0.5, 0.0]}, r"emode_lt\[1\] must be a fraction in \[0, 1\]"),
    ],
)
def test_aave_inputs_are_checked_by_name(change: dict[str, Any], needle: str) -> None:
    kwargs: dict[str, Any] = {
        "indptr": [0, 2],
        "collateral_value": [1.0, 0.0],
        "debt_value": [0.0, 1.0],
        "lt": [0.8, 0.0],
        "ltv": [0.7, 0.0],
        **change,
    }
    with pytest.raises(InputError, match=needle):
        fast.aave_account_arrays(**kwargs)


def test_liquidation_price_and_morpho_inputs_are_checked_by_name() -> None:
    book = ([0, 2], [1.0, 0.0], [0.0, 1.0], [0.8, 0.0])
    with pytest.raises(InputError, match=r"asset_index\[0\] must be in \[0, 2\) \(the account's rows\), was 2"):
        fast.aave_liquidation_prices(*book, [2], [1.0])
    with pytest.raises(InputError, match=r"price\[0\] must be finite and > 0, was 0.0"):
        fast.aave_liquidation_prices(*book, [0], [0.0])
    with pytest.raises(InputError, match="asset_index must be a 1-D integer array of length N = 1"):
        fast.aave_liquidation_prices(*book, [0.0], [1.0])
    with pytest.raises(InputError, match=r"lt\[0\] must be a fraction in \[0, 1\] \(not bps\), was 80.0"):
        fast.aave_liquidation_prices(book[0], book[1], book[2], [80.0, 0.0], [0], [1.0])
    with pytest.raises(InputError, match=r"lltv\[1\] must be a fraction in \[0, 1\] \(not WAD\), was 8.6e\+17"):
        fast.morpho_position_arrays([1.0, 1.0], [1.0, 1.0], 1.0, [0.5, 0.86e18])
    with pytest.raises(InputError, match=r"borrow_assets\[0\] must be finite and >= 0, was nan"):
        fast.morpho_position_arrays([1.0], [np.nan], 1.0, 0.5)
    with pytest.raises(InputError, match=r"price must be a scalar or have the length of collateral \(2\), was 3"):
        fast.morpho_position_arrays([1.0, 1.0], [1.0, 1.0], [1.0, 2.0, 3.0], 0.5)


@needs_numba
def test_the_facade_gives_the_same_bits_on_either_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    b = random_book(500, 7)
    args = [b[k] for k in ("indptr", "collateral_value", "debt_value", "lt", "ltv")]
    kw = {"emode_lt": b["emode_lt"], "emode_ltv": b["emode_ltv"]}
    monkeypatch.setattr(fast, "_compiled", lambda n: False)
    a = fast.aave_account_arrays(*args, **kw)
    monkeypatch.setattr(fast, "_compiled", lambda n: True)
    c = fast.aave_account_arrays(*args, **kw)
    for x, y in zip(a.to_dict().values(), c.to_dict().values(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert "numba" in sys.modules


# ------------------------------------------------------------- parity with the Aave engine


def kernel_inputs(rows: list[AaveReserve], emode: EModeCategory | None) -> dict[str, Any]:
    """One account's rows as the float path takes them (values in base units, exact Fractions
    alongside), and the exact unrounded ratio terms."""
    cv, dv, lt, ltv, elt, eltv = [], [], [], [], [], []
    weighted = debt = Fraction(0)
    for r in rows:
        unit = 10**r.decimals
        c = Fraction(r.collateral * r.price, unit) if r.collateral_enabled else Fraction(0)
        d = Fraction(r.debt * r.price, unit)
        in_cat = emode is not None and r.in_emode
        eff = (emode.lt if in_cat else r.lt) if r.lt else 0  # type: ignore[union-attr]
        weighted += c * eff
        debt += d
        cv.append(float(c))
        dv.append(float(d))
        lt.append(r.lt / 1e4)
        ltv.append(r.ltv / 1e4)
        elt.append(emode.lt / 1e4 if in_cat else 0.0)  # type: ignore[union-attr]
        eltv.append(emode.ltv / 1e4 if in_cat else 0.0)  # type: ignore[union-attr]
    arrays = {"indptr": [0, len(rows)], "collateral_value": cv, "debt_value": dv, "lt": lt, "ltv": ltv}
    if emode is not None:
        arrays |= {"emode_lt": elt, "emode_ltv": eltv}
    return {"arrays": arrays, "weighted_bps": weighted, "debt": debt}


@st.composite
def emode_categories(draw: st.DrawFn) -> EModeCategory:
    lt = draw(st.integers(8_000, 9_700))
    return EModeCategory(ltv=draw(st.integers(1, lt)), lt=lt, liquidation_bonus=draw(st.integers(10_001, 10**8 // lt)))


@st.composite
def grid_accounts(draw: st.DrawFn) -> tuple[list[AaveReserve], EModeCategory | None]:
    """Accounts on which the contract rounds nothing: whole tokens, prices on a 1e-4 USD grid
    (so every value is a multiple of 1e4 base units), one threshold and LTV for every collateral
    (the reserves' shared one, or the e-mode category's with every collateral in it)."""
    emode = draw(st.none() | emode_categories())
    shared_lt = draw(st.integers(5_000, 9_500))
    shared_ltv = draw(st.integers(1, shared_lt))
    n_coll, n_debt = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    rows: list[AaveReserve] = []
    weighted = 0
    for i in range(n_coll):
        decimals = draw(st.sampled_from([6, 8, 18]))
        price = draw(st.integers(1, 10**9)) * 10**4
        tokens = draw(st.integers(1, 10**7))
        lt = draw(st.integers(1, 9_500)) if emode else shared_lt
        ltv = draw(st.integers(1, lt)) if emode else shared_ltv
        rows.append(
            AaveReserve(f"C{i}", price, decimals, ltv=ltv, lt=lt, collateral=tokens * 10**decimals, in_emode=True)
        )
        weighted += tokens * price * (emode.lt if emode else lt)
    hf = draw(st.floats(1e-3, 1e3))
    for j in range(n_debt):
        decimals = draw(st.sampled_from([6, 8, 18]))
        price = draw(st.integers(1, 10**9)) * 10**4
        tokens = max(1, round(weighted / 1e4 / hf / n_debt / price))
        lt = draw(st.integers(0, 9_500))
        rows.append(
            AaveReserve(
                f"D{j}",
                price,
                decimals,
                ltv=draw(st.integers(0, lt)),
                lt=lt,
                debt=tokens * 10**decimals,
                in_emode=draw(st.booleans()),
            )
        )
    return rows, emode


@SETTINGS
@given(grid_accounts())
def test_float_hf_equals_the_exact_engine_to_1e12_where_it_rounds_nothing(case: Any) -> None:
    rows, emode = case
    exact = get_user_account_data(rows, emode)
    assume(exact.health_factor >= 10**12)  # wadDiv's half-up step is 0.5e-18 absolute
    r = fast.aave_account_arrays(**kernel_inputs(rows, emode)["arrays"])
    assert r.health_factor[0] == pytest.approx(exact.health_factor / 1e18, rel=1e-12, abs=0.0)
    assert r.total_collateral[0] == pytest.approx(exact.total_collateral_base, rel=1e-12, abs=0.0)
    assert r.total_debt[0] == pytest.approx(exact.total_debt_base, rel=1e-12, abs=0.0)
    assert abs(r.available_borrows[0] - exact.available_borrows_base) <= 1e-12 * exact.total_collateral_base


@st.composite
def any_accounts(draw: st.DrawFn) -> tuple[list[AaveReserve], EModeCategory | None]:
    """1-5 reserves with any thresholds (some 0), LTVs (some 0), collateral flags, e-mode
    membership, decimals and prices; every balance worth at least 0.01 USD (1e6 base units)."""
    emode = draw(st.none() | emode_categories())
    rows = []
    for i in range(draw(st.integers(1, 5))):
        decimals = draw(st.sampled_from([0, 6, 8, 18]))
        price = draw(st.integers(10**4, 10**13))
        unit = 10**decimals
        lt = draw(st.sampled_from([0, draw(st.integers(4_000, 9_700))]))  # listed reserves: 0 or >= 40 %
        amounts = [draw(st.sampled_from([0, draw(st.integers(10**6, 10**16)) * unit // price + 1])) for _ in range(2)]
        enabled = draw(st.sampled_from([None, None, False]))
        rows.append(
            AaveReserve(
                f"R{i}",
                price,
                decimals,
                ltv=draw(st.integers(0, lt)),
                lt=lt,
                collateral=amounts[0],
                debt=amounts[1],
                in_emode=draw(st.booleans()),
                use_as_collateral=enabled,
            )
        )
    return rows, emode


@SETTINGS
@given(any_accounts())
def test_float_hf_is_within_the_contracts_rounding_of_the_exact_engine(case: Any) -> None:
    """|HF_float - HF_exact| <= 1e-12 HF + the rounding the contract's floors and half-ups allow
    (derived per account; about HF / avg_LT_bps at most, and asserted under 1e-3 HF)."""
    rows, emode = case
    exact = get_user_account_data(rows, emode)
    inputs = kernel_inputs(rows, emode)
    r = fast.aave_account_arrays(**inputs["arrays"])
    hf_f = r.health_factor[0]
    debt_rows = sum(1 for row in rows if row.debt > 0)
    if exact.total_debt_base == 0:  # every debt is worth >= 1e6 base units: none at all
        assert debt_rows == 0
        assert hf_f == math.inf
        assert exact.health_factor == UINT256_MAX
        return
    w, d = inputs["weighted_bps"], inputs["debt"]
    true = w / 10_000 / d
    # The float kernel against the exact unrounded ratio: float error only.
    assert abs(Fraction(hf_f) - true) <= Fraction(1, 10**12) * true
    # The contract's HF bracketed by its roundings: each value floored (< 1 unit each), the average
    # threshold floored (< 1 bps of the collateral), percentMul and wadDiv half up.
    v_counted, d_base = exact.total_collateral_base, exact.total_debt_base
    lt_sum = sum(
        row.lt if emode is None or not row.in_emode else emode.lt for row in rows if row.lt and row.collateral_enabled
    )
    hi = (w / 10_000 + Fraction(1, 2)) / d_base + Fraction(1, 10**18)
    lo = ((w - lt_sum - v_counted) / 10_000 - Fraction(1, 2)) / d - Fraction(1, 10**18)
    hf_exact = Fraction(exact.health_factor, 10**18)
    event(f"e-mode {emode is not None}, HF {'< 1' if hf_exact < 1 else '>= 1'}")
    assert lo <= hf_exact <= hi
    allowance = max(hi - true, true - lo)
    assert allowance <= Fraction(1, 1000) * true + Fraction(1, 10**6)
    assert abs(Fraction(hf_f) - hf_exact) <= Fraction(1, 10**12) * true + allowance
    assert abs(r.total_collateral[0] - v_counted) <= len(rows) + 1e-12 * v_counted
    assert abs(r.total_debt[0] - d_base) <= len(rows) + 1e-12 * d_base
    assert (
        abs(r.available_borrows[0] - exact.available_borrows_base)
        <= v_counted / 1e4 + len(rows) + 2 + 1e-12 * v_counted
    )


# ----------------------------------------------------------- parity with the Morpho engine

LLTVS = [
    0,
    385 * 10**15,
    625 * 10**15,
    770 * 10**15,
    860 * 10**15,
    915 * 10**15,
    945 * 10**15,
    965 * 10**15,
    980 * 10**15,
]


@SETTINGS
@given(
    collateral=st.integers(0, 10**30),
    price=st.integers(0, 10**45),
    lltv=st.sampled_from(LLTVS) | st.integers(0, WAD - 1),
    total_borrow=st.integers(0, 10**30) | st.integers(10**12, 10**30),
    share_ratio=st.integers(1, 10**6),
    owned=st.fractions(0, 1) | st.fractions(Fraction(1, 2), 1),
    target=st.none() | st.floats(0.2, 5.0) | st.floats(1 - 1e-9, 1 + 1e-9),
)
def test_morpho_float_hf_agrees_with_is_healthy(
    collateral: int, price: int, lltv: int, total_borrow: int, share_ratio: int, owned: Fraction, target: float | None
) -> None:
    """``is_healthy`` iff HF >= 1, outside a band of 1e-12 + 2 loan-token units (the contract
    floors the capacity twice and rounds the debt up), and the float HF equals the exact
    ``collateral x price x lltv / 1e54 / borrowed`` to 1e-12."""
    market = Market(0, 0, total_borrow, total_borrow * share_ratio)
    position = Position(int(owned * market.total_borrow_shares), collateral)
    borrowed = to_assets_up(position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares)
    if target is not None and collateral * lltv > 0:  # the price that puts HF near the target
        price = round(Fraction(target) * borrowed * ORACLE_PRICE_SCALE * WAD / (collateral * lltv))
        assume(collateral * price < 2**255)
    r = fast.morpho_position_arrays(
        [float(collateral)], [float(borrowed)], float(Fraction(price, ORACLE_PRICE_SCALE)), lltv / 1e18
    )
    hf, lp = r.health_factor[0], r.liquidation_price[0]
    healthy = is_healthy(market, position, lltv, price)
    if borrowed == 0:  # no shares owed
        assert hf == math.inf
        assert math.isnan(lp)
        assert healthy
        return
    x = Fraction(collateral * price * lltv, ORACLE_PRICE_SCALE * WAD)
    assert abs(Fraction(hf) - x / borrowed) <= Fraction(1, 10**12) * x / borrowed
    max_borrow = w_mul_down(mul_div_down(collateral, price, ORACLE_PRICE_SCALE), lltv)
    assert x - 2 < max_borrow <= x
    if hf >= 1 + 1e-12 + 2 / borrowed:
        assert healthy
    elif hf < 1 - 1e-12:
        assert not healthy
    event(f"healthy {healthy}")
    if collateral * lltv == 0:
        assert math.isnan(lp)
        return
    assert lp == pytest.approx(borrowed / (collateral * lltv / 1e18), rel=1e-14)
    if borrowed >= 10**12 and lltv >= 10**16:
        # The engine flips between 1e-9 above and below the float liquidation price.
        oracle = Fraction(lp) * ORACLE_PRICE_SCALE
        above, below = math.ceil(oracle * (1 + Fraction(1, 10**9))), math.floor(oracle * (1 - Fraction(1, 10**9)))
        assume(collateral * above < UINT256_MAX // 2)
        event("is_healthy flips at the float liquidation price")
        assert is_healthy(market, position, lltv, above)
        assert not is_healthy(market, position, lltv, below)


# ------------------------------------------------------------------------------ properties

amount = st.floats(1e-2, 1e9) | st.just(0.0)


@st.composite
def float_accounts(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    lt = [draw(st.sampled_from([0.0, draw(st.floats(0.3, 0.97))])) for _ in range(n)]
    return {
        "indptr": [0, n],
        "collateral_value": [draw(amount) for _ in range(n)],
        "debt_value": [draw(amount) for _ in range(n)],
        "lt": lt,
        # No subnormal LTV (5e-324 x 1.5 rounds to 1e-323: scaling by 2**k is exact only above
        # the subnormals); an LTV is 0 or a real fraction.
        "ltv": [t * draw(st.just(0.0) | st.floats(1e-12, 1.0)) for t in lt],
    }


@SETTINGS
@given(float_accounts(), st.integers(-30, 30), st.floats(1e-3, 1e3))
def test_scale_invariance(acct: dict[str, Any], k: int, lam: float) -> None:
    """Values in another unit (x 2**k): the HF bit for bit, the totals scaled exactly; any factor
    to 1e-13.  A price in another unit scales the liquidation price; Morpho likewise."""
    base = fast.aave_account_arrays(**acct)
    for factor, rel in ((2.0**k, 0.0), (lam, 1e-13)):
        coll = [v * factor for v in acct["collateral_value"]]
        r = fast.aave_account_arrays(
            **{**acct, "collateral_value": coll, "debt_value": [v * factor for v in acct["debt_value"]]}
        )
        np.testing.assert_allclose(r.health_factor, base.health_factor, rtol=rel)
        np.testing.assert_allclose(r.total_collateral, base.total_collateral * factor, rtol=rel)
        np.testing.assert_allclose(r.total_debt, base.total_debt * factor, rtol=rel)
        cancel = rel * factor * (base.total_collateral + base.total_debt)  # power - debt may cancel
        np.testing.assert_allclose(
            r.available_borrows, base.available_borrows * factor, rtol=rel, atol=float(cancel[0])
        )
    args = [acct[key] for key in ("indptr", "collateral_value", "debt_value", "lt")]
    lp = fast.aave_liquidation_prices(*args, [0], [1.0])
    np.testing.assert_array_equal(fast.aave_liquidation_prices(*args, [0], [2.0**k]), lp * 2.0**k)
    c, b, s = acct["collateral_value"], acct["debt_value"], 2.0**k
    m = fast.morpho_position_arrays(c, b, 3.0, 0.86)
    loan_unit = fast.morpho_position_arrays(c, [v * s for v in b], 3.0 * s, 0.86)
    coll_unit = fast.morpho_position_arrays([v * s for v in c], b, 3.0 / s, 0.86)
    for other, lp_factor in ((loan_unit, s), (coll_unit, 1.0 / s)):
        np.testing.assert_array_equal(other.health_factor, m.health_factor)
        np.testing.assert_array_equal(other.liquidation_price, m.liquidation_price * lp_factor)


@st.composite
def levered_accounts(draw: st.DrawFn) -> dict[str, Any]:
    """:func:`float_accounts` with a threshold-weighted collateral and a debt somewhere."""
    acct = draw(float_accounts())
    n = len(acct["lt"])
    acct["collateral_value"][draw(st.integers(0, n - 1))] = draw(st.floats(1e-2, 1e9))
    i = draw(st.integers(0, n - 1))
    acct["lt"][i] = max(acct["lt"][i], 0.5)
    acct["collateral_value"][i] = max(acct["collateral_value"][i], 1.0)
    acct["debt_value"][draw(st.integers(0, n - 1))] = draw(st.floats(1e-2, 1e9))
    return acct


@SETTINGS
@given(float_accounts() | levered_accounts(), st.data())
def test_hf_is_one_at_the_liquidation_price_and_crosses_there(acct: dict[str, Any], data: st.DataObject) -> None:
    n = len(acct["lt"])
    k = data.draw(st.integers(0, n - 1))
    price = data.draw(st.floats(1e-3, 1e5))
    lp = fast.aave_liquidation_prices(
        acct["indptr"], acct["collateral_value"], acct["debt_value"], acct["lt"], [k], [price]
    )[0]
    c, d = acct["collateral_value"][k], acct["debt_value"][k]
    others_debt = sum(acct["debt_value"]) - d
    if sum(acct["debt_value"]) == 0.0:
        assert math.isnan(lp)
    event(f"liquidation price {'none' if math.isnan(lp) else 'found'}")
    if math.isnan(lp):
        return
    m = lp / price

    def hf_at(mult: float) -> float:
        moved = {**acct, "collateral_value": list(acct["collateral_value"]), "debt_value": list(acct["debt_value"])}
        moved["collateral_value"][k] = c * mult
        moved["debt_value"][k] = d * mult
        return float(fast.aave_account_arrays(**moved).health_factor[0])

    weighted = c * acct["lt"][k]
    others_weighted = sum(v * t for v, t in zip(acct["collateral_value"], acct["lt"], strict=True)) - weighted
    cond = (others_weighted + m * weighted + others_debt + m * d) / (others_debt + m * d)
    assert hf_at(m) == pytest.approx(1.0, rel=64 * EPS * cond + 1e-15)
    # HF - 1 has the sign of the linear S - D + m (c lt - d): a step far above the rounding
    # noise shows the crossing (HF rises with the price iff the row's c lt exceeds its d).
    slope = weighted - d
    delta = 1e3 * 64 * EPS * cond * (others_debt + m * d) / abs(m * slope)
    assume(delta < 0.5)
    up, down = hf_at(m * (1 + delta)), hf_at(m * (1 - delta))
    if slope > 0:
        assert down < 1.0 < up
    else:
        assert up < 1.0 < down


@needs_numba
def test_warmup_compiles_the_defi_kernels() -> None:
    """``levguard warmup`` (workload ``defi``) reaches every kernel here through the public functions."""
    from levguard.cli.warmup import WORKLOADS, warm

    assert "defi" in WORKLOADS
    warm(1, ["defi"])
    for kernel in (kd.aave_accounts_nb, kd.aave_liquidation_prices_nb, kd.morpho_positions_nb):
        assert kernel.signatures, kernel
