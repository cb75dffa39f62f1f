"""The array functions refuse strings and bytes inside a list, as the scalar path does.

Found by a read-only hunt (2026-12-08): ``isolated_margin_arrays(['1'], [60000.0], [3000.0],
BTCUSDT)`` returned a liquidation price (57,236.18): NumPy reads ``"1"`` as 1.0 under
``dtype=float64``, and the item check looked only at the entries read as 0 or 1 for bools.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.errors import InputError
from levguard.margin import isolated_liquidation_prices, isolated_margin_arrays

BTC = BUILTIN_TIERS["BTCUSDT"]


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((["1"], [60000.0], [3000.0]), "qty"),
        (([1.0], ["60000"], [3000.0]), "entry_price"),
        (([1.0], [60000.0], (b"3000",)), "isolated_margin"),
        (([1.0, "2"], [60000.0, 60000.0], [3000.0, 3000.0]), "qty"),
        (([1.0], [60000.0], [np.str_("3000")]), "isolated_margin"),
        (([True], [60000.0], [3000.0]), "qty"),
    ],
)
def test_strings_in_a_list_are_refused_by_name(args: tuple[object, object, object], name: str) -> None:
    with pytest.raises(InputError, match=rf"^{name} must be numbers \(not bools or strings\)"):
        isolated_margin_arrays(*args, BTC)
    with pytest.raises(InputError, match=rf"^{name} must be numbers"):
        isolated_liquidation_prices(*args, BTC)


@pytest.mark.parametrize("qty", [np.array([1 + 2j]), [1 + 2j], np.array([1.0 + 0j])])
def test_complex_numbers_are_refused_without_a_warning(qty: object) -> None:
    # A complex array was cast to float64 with a ComplexWarning, then refused as "not bools or strings".
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"^qty must be real numbers \(not complex numbers"):
            isolated_margin_arrays(qty, [60000.0], [3000.0], BTC)


def test_a_mark_price_list_with_a_string_is_refused() -> None:
    with pytest.raises(InputError, match=r"^mark_price must be numbers"):
        isolated_margin_arrays([1.0], [60000.0], [3000.0], BTC, mark_price=["60000"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 50.0) | st.integers(1, 50), min_size=1, max_size=20))
def test_lists_of_numbers_give_what_arrays_give(qty: list[float]) -> None:
    n = len(qty)
    got = isolated_liquidation_prices(qty, [60000.0] * n, [50_000.0] * n, BTC)
    want = isolated_liquidation_prices(
        np.asarray(qty, dtype=np.float64), np.full(n, 60000.0), np.full(n, 50_000.0), BTC
    )
    np.testing.assert_array_equal(got, want)
