"""Every command's JSON is strict JSON: non-finite numbers are null, never ``NaN`` (which parsers refuse)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from levguard.cli._output import json_text

CLI = Path(__file__).resolve().parents[2] / "src" / "levguard" / "cli"


def test_non_finite_numbers_are_null_at_any_depth() -> None:
    doc = {
        "sharpe": math.nan,
        "rows": [1.0, math.inf, (-math.inf, np.float64("nan"))],
        "array": np.array([1.5, np.nan]),
        "n": np.int64(3),
        "when": dt.date(2025, 10, 10),
    }
    assert json.loads(json_text(doc)) == {
        "sharpe": None,
        "rows": [1.0, None, [None, None]],
        "array": [1.5, None],
        "n": 3,
        "when": "2025-10-10",
    }


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


def _finite_only(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite_only(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_only(v) for k, v in value.items()}
    return value


@given(_values)
def test_property_json_text_is_strict_json_equal_to_the_finite_document(value: object) -> None:
    text = json_text(value)
    assert json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c))) == _finite_only(value)


def test_no_command_writes_json_another_way() -> None:
    # The sample files `levguard init` writes are the one exception (fixed, finite documents).
    found = []
    for path in sorted(CLI.glob("*.py")):
        if path.name in ("_output.py", "init.py"):
            continue
        found += [
            f"{path.name}:{i}"
            for i, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"\bjson\.dumps?\(", line)
        ]
    assert found == []


def test_no_command_rounds_a_table_through_pandas_json() -> None:
    # DataFrame.to_json rounds floats to 10 decimals (double_precision): the sweep and calibration
    # tables of --json did not round-trip.
    found = [
        f"{path.name}:{i}"
        for path in sorted(CLI.glob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.to_json\(", line)
    ]
    assert found == []


def test_table_records_keep_full_float64_precision() -> None:
    import pandas as pd

    from levguard.cli._output import json_records, json_row

    x = [0.12345678901234568, 1.0000000000000002, 1e-300, 123456789.12345679, math.nan]
    frame = pd.DataFrame(
        {
            "x": x,
            "n": np.arange(5, dtype=np.int64),
            "ok": [True, False, True, True, False],
            "name": list("abcde"),
            "t": pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC"),
        }
    )
    back = json.loads(json_text(json_records(frame)))
    assert [r["x"] for r in back[:4]] == x[:4]  # exactly, not to 10 decimals
    assert back[4]["x"] is None
    assert back[0] == {"x": x[0], "n": 0, "ok": True, "name": "a", "t": "2024-01-01T00:00:00+00:00"}
    assert json.loads(json_text(json_row(frame.iloc[1]))) == {
        "x": x[1], "n": 1, "ok": False, "name": "b", "t": "2024-01-01T01:00:00+00:00"
    }  # fmt: skip
