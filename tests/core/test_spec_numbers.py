"""An account spec takes the numbers a DataFrame row or a Decimal holds (an API audit): NumPy's
integers and float32 and ``Decimal`` were refused with "must be a number, was np.int64(1)",
while the string "1" was taken.  Booleans stay refused."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from levguard.errors import InputError
from levguard.margin import evaluate_account

BASE = {
    "venue": "binance-usdm",
    "wallet_balance": 1_000,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10}],
}


def _with(**changes: object) -> dict[str, object]:
    return {**BASE, "positions": [{**BASE["positions"][0], **changes}]}  # type: ignore[dict-item]


@pytest.mark.parametrize("qty", [np.float32(0.5), Decimal("0.5"), np.float64(0.5), "0.5"])
def test_numpy_and_decimal_numbers_are_numbers(qty: object) -> None:
    assert evaluate_account(_with(qty=qty)).to_dict() == evaluate_account(BASE).to_dict()


def test_numpy_integers_everywhere() -> None:
    spec = _with(qty=np.int64(1), leverage=np.int64(10), entry_price=np.int64(60_000))
    spec["wallet_balance"] = np.int64(1_000)
    assert evaluate_account(spec).to_dict() == evaluate_account(_with(qty=1)).to_dict()


@pytest.mark.parametrize("qty", [True, np.bool_(True), None])
def test_booleans_are_not_numbers(qty: object) -> None:
    with pytest.raises(InputError, match=r"positions\[0\]\.qty"):
        evaluate_account(_with(qty=qty))


def test_a_signalling_nan_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"positions\[0\]\.qty"):
        evaluate_account(_with(qty=Decimal("sNaN")))
