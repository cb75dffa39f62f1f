"""The helpers issue 15 made shared: one validator, one compensator, one constant per symbol."""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from levguard.core import validate
from levguard.core.risk.first_passage import compensated_drift, kou_compensator, merton_compensator
from levguard.core.rules import get_venue
from levguard.core.rules.base import SymbolConstant
from levguard.data.download._common import time_range
from levguard.errors import InputError


def test_validate_holds_the_shared_validators() -> None:
    for name in ("number", "finite_number", "positive_number", "non_negative_number", "integer_in", "flag"):
        assert callable(getattr(validate, name))
    for name in (
        "side_sign",
        "array_1d",
        "as_float",
        "as_amount",
        "show",
        "contract_int",
        "contract_uint",
        "contract_sint",
    ):
        assert callable(getattr(validate, name))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: validate.number("1", "x"), "x must be a number"),
        (lambda: validate.number(True, "x"), "x must be a number"),
        (lambda: validate.number(10**400, "x"), r"x must be a number within float64 range"),  # was OverflowError
        (lambda: validate.positive_number(-(10**400), "x"), r"x must be a number within float64 range"),
        (lambda: validate.positive_number(0.0, "x"), "x must be > 0"),
        (lambda: validate.non_negative_number(-1.0, "x"), "x must be >= 0"),
        (lambda: validate.finite_number(math.inf, "x"), "x must be finite"),
        (lambda: validate.integer_in(5, "n", 0, 5), r"n must be an integer in \[0, 5\)"),
        (lambda: validate.flag(1, "f"), "f must be True or False"),
        (lambda: validate.side_sign("up"), "side must be 'long', 'short', \\+1 or -1"),
        (lambda: validate.array_1d([[1.0]], "a"), "a must be 1-D, was an array of shape"),
        (lambda: validate.array_1d(["x"], "a"), "a must be a 1-D array of numbers"),
    ],
)
def test_strict_validators_name_field_and_value(call: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()  # type: ignore[operator]


def test_strict_validators_accept_numpy_scalars() -> None:
    assert validate.positive_number(np.float32(2.0), "x") == 2.0
    assert validate.integer_in(np.int64(3), "n", 0, 5) == 3
    assert validate.flag(np.bool_(True), "f") is True
    assert (validate.side_sign(" Short "), validate.side_sign(1.0)) == (-1, 1)
    a = np.arange(3.0)
    assert validate.array_1d(a, "a") is a


_WORD = 2**256


@given(
    data=st.data(), ends=st.lists(st.integers(-_WORD, _WORD), min_size=2, max_size=2).map(sorted), digits=st.booleans()
)
def test_contract_int_accepts_exactly_the_integers_in_its_range(
    data: st.DataObject, ends: list[int], digits: bool
) -> None:
    lo, hi = ends
    near = st.sampled_from([lo - 1, lo, lo + 1, hi - 1, hi, hi + 1])
    x = data.draw(st.one_of(near, st.integers(lo - _WORD, hi + _WORD), st.integers(lo, hi)))
    inside = lo <= x <= hi
    candidates: list[object] = [x, str(x), f" {x} "]
    if -(2**63) <= x < 2**63:
        candidates.append(np.int64(x))
    for value in candidates:
        accepted = inside and (digits or not isinstance(value, str))
        if accepted:
            got = validate.contract_int(value, "n", lo, hi, "test range", digits=digits)
            assert got == x
            assert type(got) is int
        else:
            with pytest.raises(
                InputError, match=r"^n must be an integer (\(test range\)|in the test range range), was "
            ):
                validate.contract_int(value, "n", lo, hi, "test range", digits=digits)
    for value in (float(x), True, False, np.bool_(True), None, "1.5", "0x10", "", [x]):
        with pytest.raises(InputError, match=r"^n must be an integer \(test range\), was "):
            validate.contract_int(value, "n", min(lo, 0), max(hi, 16), "test range", digits=digits)


@pytest.mark.parametrize("bits", [8, 16, 48, 80, 104, 128, 255, 256])
def test_contract_uint_and_sint_are_the_solidity_ranges(bits: int) -> None:
    top = 2**bits - 1
    assert validate.contract_uint(top, "n", bits) == top
    assert validate.contract_uint(np.uint8(0), "n", bits) == 0
    assert validate.contract_uint(str(top), "n", bits, digits=True) == top
    with pytest.raises(
        InputError, match=rf"^n must be an integer in the uint{bits} range, was {re.escape(validate.show(top + 1))}$"
    ):
        validate.contract_uint(top + 1, "n", bits)
    with pytest.raises(InputError, match=rf"^n must be an integer in the uint{bits} range, was -1$"):
        validate.contract_uint(-1, "n", bits)
    with pytest.raises(InputError, match=rf"^n must be an integer \(uint{bits}\), was '1'$"):
        validate.contract_uint("1", "n", bits)  # a string only with digits=True
    half = 2 ** (bits - 1)
    assert validate.contract_sint(-half, "n", bits) == -half
    assert validate.contract_sint(str(half - 1), "n", bits, digits=True) == half - 1
    for outside in (-half - 1, half):
        with pytest.raises(
            InputError, match=rf"^n must be an integer in the int{bits} range, was {re.escape(validate.show(outside))}$"
        ):
            validate.contract_sint(outside, "n", bits)
    with pytest.raises(InputError, match=rf"^n must be an integer \(int{bits}\), was True$"):
        validate.contract_sint(True, "n", bits)


def test_contract_int_describes_a_huge_value_by_its_size() -> None:
    with pytest.raises(InputError, match=r"was <integer of about 1,205 digits>$"):
        validate.contract_uint(10**1204, "n")
    with pytest.raises(InputError, match=r"^n must be an integer \(uint256\), was '11111"):
        validate.contract_uint("1" * 5000, "n", digits=True)  # past int()'s 4,300 digits


def test_compensators_are_the_textbook_formulas() -> None:
    m, s = -0.02, 0.05
    assert merton_compensator(m, s) == math.expm1(m + 0.5 * s * s)
    p, up, down = 0.4, 20.0, 15.0
    assert kou_compensator(p, up, down) == pytest.approx(p * up / (up - 1) + (1 - p) * down / (down + 1) - 1, abs=0)
    assert compensated_drift(0.1, 0.8, 0.0, 123.0) == 0.1 - 0.5 * 0.8 * 0.8


def test_symbol_constant_is_a_picklable_value() -> None:
    five = SymbolConstant(5.0)
    assert five("BTCUSDT") == five("ETHUSDT") == 5.0
    assert pickle.loads(pickle.dumps(five)) == five
    binance = get_venue("binance-usdm").min_notional  # per base asset, 5 USDT by default
    assert (binance("SOLUSDT"), pickle.loads(pickle.dumps(binance))("BTCUSDT")) == (5.0, 100.0)
    assert get_venue("hyperliquid").min_notional("BTC") == 10.0
    assert get_venue("gate").min_notional("BTC_USDT") == 0.0
    assert get_venue("gate").contract_size("BTC_USDT") == 1.0


def test_time_range_defaults_to_now_and_refuses_an_empty_range() -> None:
    assert time_range("2024-01-01", None, 2**62) == (1_704_067_200_000_000_000, 2**62)
    with pytest.raises(InputError, match="end must be after start"):
        time_range("2024-01-02", "2024-01-01", 0)
