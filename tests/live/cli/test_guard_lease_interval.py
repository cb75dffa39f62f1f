"""A lease must outlive the pause between two passes: it is renewed at half its life, once a pass,
and the next pass starts ``interval_s`` after the last one ended (up to ``cycle_budget_s`` after
it started). ``interval_s: 60`` with ``lease_ttl_s: 30`` was accepted, and a standby guardian took
the account at every pause of the primary (its epoch rising at every pass)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.config.guardian import parse_guardian_config
from levguard.errors import ConfigError

runner = CliRunner()


def _raw(tmp_path: Path, **top: Any) -> dict[str, Any]:
    return {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "accounts": [{"name": "a", "venue": {"type": "paper"}}],
        **top,
    }


@pytest.mark.parametrize(
    ("top", "needle"),
    [
        ({"interval_s": 60, "lease_ttl_s": 30}, "twice interval_s plus cycle_budget_s (2 x (60 + 5) = 130 s"),
        ({"interval_s": 10}, "twice interval_s plus cycle_budget_s (2 x (10 + 5) = 30 s"),  # equal: lapses
        ({"fast_interval_s": 12, "lease_ttl_s": 30}, "twice fast_interval_s plus cycle_budget_s (2 x (12 + 5) = 34 s"),
        ({"cycle_budget_s": 20}, "twice interval_s plus cycle_budget_s (2 x (5 + 20) = 50 s"),
    ],
)
def test_a_lease_that_lapses_between_passes_is_refused(tmp_path: Path, top: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match="lease_ttl_s must be over") as info:
        parse_guardian_config(_raw(tmp_path, **top), "g.yaml")
    assert needle in str(info.value)
    assert str(info.value).endswith(f"was {top.get('lease_ttl_s', 30):g}")


def test_a_lease_held_across_passes_is_accepted(tmp_path: Path) -> None:
    assert parse_guardian_config(_raw(tmp_path), "g.yaml").lease_ttl_s == 30  # defaults: 2 x (5 + 5) < 30
    cfg = parse_guardian_config(_raw(tmp_path, interval_s=60, lease_ttl_s=131), "g.yaml")
    assert cfg.interval_s == 60


def test_the_cli_refuses_it_in_one_line_before_opening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(_raw(tmp_path, interval_s=60, lease_ttl_s=30)))
    res = runner.invoke(app, ["guard", str(path), "--max-cycles", "1"])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"levguard: error: {path}: lease_ttl_s must be over twice interval_s")
    assert not (tmp_path / "g.db").exists()
