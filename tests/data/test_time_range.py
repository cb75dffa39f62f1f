"""Times outside int64 nanoseconds (1677-09-22 to 2262-04-11 UTC) are refused by name, never a
pandas OutOfBoundsDatetime or OverflowError (found by a bad-input campaign, 2026-12-05)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from levguard.data.download._common import to_ns
from levguard.data.frames import timestamp_ns
from levguard.data.perp import load_perp_dir
from levguard.data.synth import SynthConfig
from levguard.errors import InputError

RANGE = "must lie between 1677-09-22 and 2262-04-11 UTC"


def test_timestamp_ns_holds_the_range_and_names_the_value() -> None:
    assert timestamp_ns(pd.Timestamp("2262-04-11", tz="UTC"), "t") == 9_223_286_400_000_000_000
    assert timestamp_ns(pd.Timestamp("1970-01-01", tz="UTC"), "t") == 0
    for late in ("2262-04-12", "9999-12-31", "1677-09-21"):
        with pytest.raises(InputError, match=rf"when {RANGE} \(int64 nanoseconds\), was {late}T00:00:00\+00:00"):
            timestamp_ns(pd.Timestamp(late, tz="UTC"), "when")


@pytest.mark.parametrize(
    "call",
    [
        lambda tmp: SynthConfig(start="9999-12-31").start_ns(),
        lambda tmp: to_ns("9999-01-01", "start"),
        lambda tmp: load_perp_dir(tmp, start="9999-01-01"),
        lambda tmp: load_perp_dir(tmp, end="1600-01-01"),
    ],
)
def test_user_times_outside_the_range_are_input_errors(tmp_path: Path, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=RANGE):
        call(tmp_path)
