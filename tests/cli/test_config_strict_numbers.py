"""Config numbers are strict: ``true`` and the string '3' are refused where a number is wanted.

Found by a review (2026-12-07): pydantic's lax mode read ``leverage: true`` as 1.0 and
``leverage: '3'`` as 3.0 in every config (backtest, cascade, guardian, policy files).  YAML 1.2
floats PyYAML leaves as strings (``2.0e8``, ``1e4``) are read as numbers by the loader instead.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.config.backtest import BacktestFile
from levguard.config.cascade import parse_cascade_config
from levguard.config.guardian import parse_guardian_config
from levguard.config.policies import parse_policy_config
from levguard.documents import parse_spec_text
from levguard.errors import ConfigError

runner = CliRunner()


def _sample(name: str) -> dict[str, Any]:
    text = resources.files("levguard.resources").joinpath("samples", name).read_text(encoding="utf-8")
    return dict(parse_spec_text(text, name))


@pytest.mark.parametrize("bad", [True, "3", "3.0", None])
def test_a_policy_number_is_a_number(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"policy\.leverage: .*\(was " + repr(bad).replace(".", r"\.") + r"\)"):
        parse_policy_config({"policy": {"type": "fixed", "leverage": bad}})


def test_ints_are_numbers_and_lists_are_tuples() -> None:
    cfg = parse_policy_config({"policy": {"type": "fixed", "leverage": 3}})
    assert cfg.policy.leverage == 3.0
    regime = {"type": "regime", "policies": {}, "thresholds": [0.3, 0.7]}
    assert parse_policy_config({"policy": regime}).policy.thresholds == (0.3, 0.7)
    raw = {"accounts": [{"name": "a", "venue": {"type": "paper"}, "thresholds": {"p_liq": [0.1, 0.2, 0.3]}}]}
    assert parse_guardian_config(raw).accounts[0].thresholds.p_liq == (0.1, 0.2, 0.3)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c["accounts"][0].update(vol="0.6"), "accounts[0].vol: must be a valid number (was '0.6')"),
        (lambda c: c["accounts"][0].update(live="yes"), "accounts[0].live: must be a valid boolean (was 'yes')"),
        (lambda c: c.update(interval_s=True), "interval_s: must be a valid number (was True)"),
        (lambda c: c.update(escalate_after="3"), "escalate_after: must be a valid integer (was '3')"),
        (
            lambda c: c["accounts"][0].update(thresholds={"p_liq": [0.1, "0.2", 0.3]}),
            "accounts[0].thresholds.p_liq[1]: must be a valid number (was '0.2')",
        ),
    ],
)
def test_guardian_numbers_and_flags_are_strict(mutate: Any, needle: str) -> None:
    raw: dict[str, Any] = {"accounts": [{"name": "a", "venue": {"type": "paper"}}]}
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        parse_guardian_config(raw)
    assert needle in str(exc.value)


def test_cascade_numbers_are_strict() -> None:
    raw = _sample("cascade.yaml")
    assert isinstance(raw["population"]["distribution"]["total_notional"], float)  # 2.0e8, YAML 1.2
    parse_cascade_config(raw, "cascade.yaml")
    raw["market"]["depth"] = "3e4"
    with pytest.raises(ConfigError, match=r"market\.depth: must be a valid number \(was '3e4'\)"):
        parse_cascade_config(raw, "cascade.yaml")
    raw = _sample("cascade.yaml")
    raw["population"]["distribution"]["n"] = True
    with pytest.raises(ConfigError, match=r"population\.distribution\.n: must be a valid integer \(was True\)"):
        parse_cascade_config(raw, "cascade.yaml")


def test_backtest_cli_refuses_a_quoted_number(tmp_path: Path) -> None:
    raw = _sample("backtest.yaml")
    BacktestFile.model_validate(raw)
    raw["initial_equity"] = "10000"
    p = tmp_path / "bt.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    res = runner.invoke(app, ["backtest", str(p)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.endswith("initial_equity: must be a valid number (was '10000')"), line


def test_sweep_grid_values_are_strict(tmp_path: Path) -> None:
    raw = _sample("backtest_sweep.yaml")
    name, entry = next((k, v) for k, v in raw["sweep"]["policies"].items() if v.get("grid"))
    key = next(iter(entry["grid"]))
    entry["grid"][key] = [entry["grid"][key][0], True]
    p = tmp_path / "bt.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    res = runner.invoke(app, ["backtest", str(p)])
    assert res.exit_code == 2, res.output
    assert f"sweep.policies.{name}.grid.{key}" in res.stderr
    assert "(was True)" in res.stderr


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e4", 1e4),
        ("2.0e8", 2e8),
        ("-1.5E-3", -1.5e-3),
        (".5e2", 50.0),
        ("1.0e+4", 1e4),
        ("'1e4'", "1e4"),
        ("e4", "e4"),
    ],
)
def test_yaml_1_2_floats_are_numbers_and_quoted_ones_strings(text: str, value: object) -> None:
    assert parse_spec_text(f"x: {text}", "t.yaml") == {"x": value}
    assert yaml.safe_load("x: 1e4") == {"x": "1e4"}  # PyYAML's own loader is left as it is


def test_numpy_scalars_from_python_callers_are_their_python_values() -> None:
    """A review (2026-12-07): strict mode refused np.int64 in an int field (a regime lookback, a
    cascade seed) and took np.bool_(True) as the number 1.0."""
    import numpy as np

    members = {"calm": {"type": "fixed", "leverage": np.int32(3)}, "storm": {"type": "fixed", "leverage": 1}}
    regime = {
        "policy": {
            "type": "regime",
            "policies": members,
            "lookback": np.int64(48),
            "thresholds": [np.float64(0.4), 0.8],
        }
    }
    parsed = parse_policy_config(regime, "policy")
    assert parsed.policy.lookback == 48  # type: ignore[union-attr]
    assert parsed.policy.thresholds == (0.4, 0.8)  # type: ignore[union-attr]
    for bad in (np.bool_(True), np.array([2.0])):
        with pytest.raises(ConfigError, match=r"policy\.leverage: must be a valid number"):
            parse_policy_config({"policy": {"type": "fixed", "leverage": bad}}, "policy")
