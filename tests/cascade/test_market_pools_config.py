"""The ``pools:`` section of a contagion config: the sample's commented pool loads, its borrowers
sit on the pool venue, the calibration grid leaves pools alone, a run reports the pool, and bad
pool keys are named."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from levguard.cascade.contagion_config import config_from_dict
from levguard.cascade.market_pools import is_pool, pool_indices
from levguard.cli.main import app
from levguard.errors import InputError


def _sample_with_pool() -> dict[str, Any]:
    # The sample with its commented pools: section uncommented.
    text = resources.files("levguard.resources").joinpath("samples", "contagion.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# pools:"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("#"))
    lines[start:end] = [line[2:] for line in lines[start:end]]
    raw: dict[str, Any] = yaml.safe_load("\n".join(lines))
    raw["population"]["accounts"] = 300
    raw["paths"]["n_steps"] = 120
    return raw


def test_sample_pool_loads() -> None:
    cfg = config_from_dict(_sample_with_pool(), Path("."))
    assert [mv.name for mv in cfg.spec.venues] == ["hl", "binance", "lend"]
    assert pool_indices(cfg.spec) == (2,)
    assert is_pool(cfg.spec.venues[2])
    venue = np.asarray(cfg.population.venue)
    assert int(np.count_nonzero(venue == 2)) == 300
    assert np.all(np.asarray(cfg.population.qty)[venue == 2] >= 0.0)  # borrowers are long their collateral
    owners = np.asarray(cfg.population.owner)
    assert len(np.unique(owners)) == len(owners) - 3  # hedged owners hold two accounts each
    assert cfg.calibrate_venues == ("hl", "binance")  # the grid does not touch the pool's terms


def test_cli_reports_the_pool(tmp_path: Path) -> None:
    p = tmp_path / "contagion.yaml"
    p.write_text(yaml.safe_dump(_sample_with_pool()), encoding="utf-8")
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["contagion", str(p), "--paths", "2", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    worst = json.loads(res.stdout)["worst_path"]
    assert set(worst["pools"]) == {"lend"}
    assert isinstance(worst["pool_to_venue"], list)
    page = out.read_text(encoding="utf-8")
    assert "Lending pools on the worst path" in page
    assert "not modelled" not in page


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"bonus": 0.5}, "pools.lend: bonus must be <= 1/9"),
        ({"lt": {"BTC": 0.3}}, "pools.lend: lt\\[BTC\\] must be in"),
        ({"colour": 1}, "pools\\[0\\]: unknown key\\(s\\) \\['colour'\\]"),
        ({"borrowers": {"count": 0}}, "pools.lend.borrowers.count must be an integer >= 1"),
        ({"borrowers": {"hf": [0.9, 2.0]}}, "hf must be \\(low, high\\) with 1 <= low"),
        ({"books": {"BTC": {"depth": 10}}}, "pools.lend.books must have one book per asset"),
    ],
)
def test_bad_pool_keys(change: dict[str, Any], match: str) -> None:
    raw = _sample_with_pool()
    raw["pools"][0].update(change)
    with pytest.raises(InputError, match=match):
        config_from_dict(raw, Path("."))
