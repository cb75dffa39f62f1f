"""The contagion config passes the venue settings of the market simulator (Hyperliquid's vault,
Bybit's drawdown trigger, fees paid out) to VenueSettings, and refuses bad values by name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from levguard.cascade.contagion_config import config_from_dict
from levguard.errors import InputError


def _sample() -> dict[str, Any]:
    text = resources.files("levguard.resources").joinpath("samples", "contagion.yaml").read_text(encoding="utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    return raw


def test_venue_settings_reach_the_venues(tmp_path: Path) -> None:
    raw = _sample()
    raw["venues"][0].update(vault_backstop=2 / 3, fee_to_fund=False)
    raw["venues"][1].update(adl_drawdown=0.3, adl_drawdown_stop=0.25, adl_drawdown_window_steps=60)
    cfg = config_from_dict(raw, tmp_path, "c.yaml")
    first, second = (v.settings for v in cfg.spec.venues[:2])
    assert first.vault_backstop == pytest.approx(2 / 3)
    assert first.fee_to_fund is False
    assert second.adl_drawdown == 0.3
    assert second.adl_drawdown_window_steps == 60


@pytest.mark.parametrize(("key", "value"), [("vault_backstop", -1.0), ("fee_to_fund", "no"), ("adl_drawdown", 2.0)])
def test_bad_venue_settings_name_the_key(key: str, value: object, tmp_path: Path) -> None:
    raw = _sample()
    raw["venues"][0][key] = value
    with pytest.raises(InputError, match=key):
        config_from_dict(raw, tmp_path, "c.yaml")


def test_a_venues_step_down_rule_comes_from_its_rule_and_the_file_wins(tmp_path: Path) -> None:
    raw = _sample()
    raw["venues"][0].update(rule="bybit-linear", regime={"partial": "tier"})
    raw["venues"][1].update(rule="bitmex", regime={"step_mode": "until_safe"})
    cfg = config_from_dict(raw, tmp_path, "c.yaml")
    first, second = (v.regime for v in cfg.spec.venues[:2])
    assert (first.partial, first.step_mode) == ("tier", "until_safe")
    assert (second.partial, second.step_mode) == ("tier", "until_safe")
    raw["venues"][1]["regime"] = {"step_to": -3}
    with pytest.raises(InputError, match="step_to"):
        config_from_dict(raw, tmp_path, "c.yaml")
