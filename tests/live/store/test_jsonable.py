"""``jsonable``: what the store writes as JSON (snapshots, audit rows), and the path its errors name."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.errors import InputError
from levguard.live.store_engine import jsonable


def reference(value: Any, field: str) -> Any:
    """The conversion written as one recursive definition (the store's first version): the path
    of every element is formatted on the way down."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): reference(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [reference(v, f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return reference(value.value, field)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return reference(dataclasses.asdict(value), field)
    if hasattr(value, "tolist"):
        return reference(value.tolist(), field)
    raise InputError(f"{field} must be JSON-serialisable, was {type(value).__name__}")


class Colour(enum.Enum):
    RED = "red"
    BLUE = 2.5


class Level(enum.IntEnum):
    OK = 0
    DANGER = 3


@dataclasses.dataclass
class Row:
    symbol: str
    mark: float
    tags: tuple[str, ...] = ()


class Opaque:
    """Not JSON: no conversion applies."""


floats = st.floats(allow_nan=True, allow_infinity=True)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    floats,
    st.text(max_size=5),
    floats.map(np.float64),
    st.integers(-(2**31), 2**31).map(np.int64),
    st.lists(floats, max_size=3).map(np.array),
    st.decimals(allow_nan=False, places=4),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
    st.sampled_from(list(Colour) + list(Level)),
    st.builds(Row, st.text(max_size=3), floats, st.lists(st.text(max_size=2), max_size=2).map(tuple)),
)
keys = st.one_of(st.text(max_size=4), st.integers(-5, 5))
payloads = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.dictionaries(keys, inner, max_size=4),
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
    ),
    max_leaves=30,
)


def _same(a: Any, b: Any) -> bool:
    # Equal as JSON documents (the converted payload holds no NaN: non-finite floats are None).
    return json.dumps(a, sort_keys=True, allow_nan=False) == json.dumps(b, sort_keys=True, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_payloads_convert_as_the_recursive_definition(payload: Any) -> None:
    assert _same(jsonable(payload, "figures"), reference(payload, "figures"))


def _plant(payload: Any, draw: st.DrawFn) -> Any:
    # A copy of ``payload`` with one value deep inside replaced by an object JSON cannot hold.
    if isinstance(payload, dict) and payload and draw(st.booleans()):
        k = draw(st.sampled_from(list(payload)))
        return {**payload, k: _plant(payload[k], draw)}
    if isinstance(payload, list | tuple) and payload and draw(st.booleans()):
        i = draw(st.integers(0, len(payload) - 1))
        items = list(payload)
        items[i] = _plant(items[i], draw)
        return type(payload)(items)
    return Opaque()


@st.composite
def refused(draw: st.DrawFn) -> Any:
    return _plant(draw(payloads), draw)


@settings(max_examples=300, deadline=None)
@given(refused())
def test_a_refused_value_is_named_by_its_path(payload: Any) -> None:
    with pytest.raises(InputError) as expected:
        reference(payload, "figures")
    with pytest.raises(InputError) as got:
        jsonable(payload, "figures")
    assert str(got.value) == str(expected.value)
    assert str(got.value).endswith("must be JSON-serialisable, was Opaque")


def test_examples() -> None:
    row = Row("BTCUSDT", math.inf, ("a",))
    doc = {"equity": 1e4, "p": np.float64("nan"), "level": Level.DANGER, "positions": [row], 3: Colour.BLUE}
    assert jsonable(doc, "figures") == {
        "equity": 1e4,
        "p": None,
        "level": 3,
        "positions": [{"symbol": "BTCUSDT", "mark": None, "tags": ["a"]}],
        "3": 2.5,
    }
    with pytest.raises(InputError, match=r"^figures\.positions\[1\]\.x must be JSON-serialisable, was Opaque$"):
        jsonable({"positions": [{}, {"x": Opaque()}]}, "figures")
    with pytest.raises(InputError, match=r"^inputs must be JSON-serialisable, was Opaque$"):
        jsonable(Opaque(), "inputs")
