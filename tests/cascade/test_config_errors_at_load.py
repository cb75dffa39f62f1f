"""Config errors found when the file is read, so the message names the file: a replay's window and
its calibration grid's values (found only when the bars were read, or only under ``--calibrate``:
a NaN in the grid ran), and a contagion config's duplicate venue names (reported as a hedged
group's venue "not one of ['hl', 'hl']")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_contagion_config_venue_settings import _sample
from test_replay import synthetic_raw
from typer.testing import CliRunner

from levguard.cascade.contagion_config import config_from_dict as contagion_from_dict
from levguard.cascade.replay_config import config_from_dict, load_replay_config
from levguard.cli.main import app
from levguard.errors import InputError


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"window": {"start": "2024-03-01T13:45:00Z", "end": "2024-03-01T13:15:00Z"}},
            "window.end must be after window.start",
        ),
        (
            {"window": {"start": "2024-03-01T13:15:30Z", "end": "2024-03-01T13:45:00Z"}},
            "window.start and window.end must be whole minutes",
        ),
        (
            {"window": {"start": "2024-03-01T13:15:00", "end": "2024-03-01T13:45:00Z"}},
            "window.start must carry a time zone",
        ),
        (
            {"calibrate": {"grid": {"leverage_median": [10.0, float("nan")]}}},
            r"calibrate.grid.leverage_median: population.leverage_median must be finite",
        ),
    ],
)
def test_a_replay_config_is_refused_when_read(tmp_path: Path, change: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        config_from_dict(synthetic_raw(tmp_path, **change), tmp_path)
    path = tmp_path / "replay.yaml"
    path.write_text(yaml.safe_dump(synthetic_raw(tmp_path, **change)), encoding="utf-8")
    with pytest.raises(InputError, match=rf"replay.yaml: {match}"):
        load_replay_config(path)
    res = CliRunner().invoke(app, ["replay", str(path)])
    assert res.exit_code == 2
    assert "replay.yaml" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_duplicate_contagion_venues_are_named_as_such(tmp_path: Path) -> None:
    raw = _sample()
    raw["venues"][1]["name"] = raw["venues"][0]["name"]
    with pytest.raises(InputError, match=r"venues must have distinct names, were \['(\w+)', '\1'"):
        contagion_from_dict(raw, tmp_path, "c.yaml")
