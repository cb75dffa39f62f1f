"""The shared ``to_dict`` of result dataclasses (levguard.core.records) and the small validators
other modules now share (levguard.core.validate: pick_named, require_finite)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pytest

from levguard.core.records import JsonRecord, Record, empty_mapping, field_dict
from levguard.core.risk.backtest import TrafficLightResult
from levguard.core.risk.stress import scenario_by_name
from levguard.core.validate import pick_named, require_finite
from levguard.data.crashes import NAMED_CRASHES, crash_by_name
from levguard.errors import InputError


@dataclass(frozen=True, slots=True)
class _Plain(Record):
    name: str
    value: float
    repeat: str = ""
    extra: Mapping[str, float] = field(default_factory=empty_mapping)

    _dict_omit: ClassVar[tuple[str, ...]] = ("repeat",)


@dataclass(frozen=True, slots=True)
class _Json(JsonRecord):
    value: float
    parts: tuple[_Plain, ...] = ()


def test_field_dict_keeps_declaration_order_replaces_in_place_and_appends_new_keys() -> None:
    p = _Plain("a", 1.5, "b", {"x": 2.0})
    out = field_dict(p, omit=("repeat",), value=None, added=3)
    assert list(out) == ["name", "value", "extra", "added"]
    assert out["value"] is None
    assert out["added"] == 3
    assert type(out["extra"]) is dict
    assert out["extra"] == {"x": 2.0}


def test_field_dict_refuses_what_is_no_dataclass_instance() -> None:
    with pytest.raises(InputError, match="value must be a dataclass instance, was type"):
        field_dict(_Plain)
    with pytest.raises(InputError, match="was dict"):
        field_dict({"a": 1})


def test_record_to_dict_leaves_out_the_omitted_fields_and_keeps_slots() -> None:
    p = _Plain("a", math.nan, "b")
    d = p.to_dict()
    assert list(d) == ["name", "value", "extra"]
    assert math.isnan(d["value"])
    assert not hasattr(p, "__dict__")


def test_json_record_makes_nested_results_lists_and_nan_none() -> None:
    j = _Json(math.inf, (_Plain("a", 1.0),))
    assert j.to_dict() == {"value": None, "parts": [{"name": "a", "value": 1.0, "extra": {}}]}


def test_empty_mapping_is_read_only_and_new_each_time() -> None:
    a, b = empty_mapping(), empty_mapping()
    assert a == {}
    assert a is not b
    with pytest.raises(TypeError):
        a["x"] = 1.0  # type: ignore[index]


def test_traffic_light_dict_leaves_out_verdict_which_repeats_zone() -> None:
    r = TrafficLightResult("green", 2.0, 0.9, "green", 250, 2, 0.99, 0.2, 4, 9, 0.0)
    d = r.to_dict()
    assert "verdict" not in d
    assert list(d)[:3] == ["zone", "statistic", "pvalue"]


def test_pick_named_finds_by_name_or_date_and_names_the_choices() -> None:
    first = NAMED_CRASHES[0]
    assert crash_by_name(first.name) is first
    assert crash_by_name(first.date) is first
    assert pick_named(NAMED_CRASHES, first.date, "crash") is first
    with pytest.raises(InputError, match=r"crash must be one of \[.*\], was 'nope'"):
        crash_by_name("nope")
    with pytest.raises(InputError, match=r"scenario must be one of \[.*\], was 'nope'"):
        scenario_by_name("nope")


def test_require_finite_names_the_first_bad_entry() -> None:
    require_finite(np.array([1.0, -2.0]), "x")
    with pytest.raises(InputError, match=r"x\[1\] must be finite, was nan"):
        require_finite(np.array([1.0, np.nan, np.inf]), "x")


def test_legacy_mapping_reads_fields_with_a_deprecation_warning() -> None:
    import dataclasses

    from levguard.core.records import LegacyMapping, Record

    @dataclasses.dataclass(frozen=True, slots=True)
    class Result(LegacyMapping, Record):
        a: float
        b: list[int]

    r = Result(1.5, [2])
    assert r.to_dict() == {"a": 1.5, "b": [2]}
    with pytest.warns(DeprecationWarning, match=r"read \.a or \.to_dict\(\)\['a'\]"):
        assert r["a"] == 1.5
    with pytest.warns(DeprecationWarning, match="dataclass now"):
        assert "b" in r
    with pytest.warns(DeprecationWarning, match="dataclass now"):
        assert r.get("c", 7) == 7
    with pytest.warns(DeprecationWarning, match="dataclass now"):
        assert r.keys() == ("a", "b")
    with pytest.warns(DeprecationWarning, match="dataclass now"), pytest.raises(KeyError):
        r["c"]
