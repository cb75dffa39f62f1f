"""A loop preview of a position with no equity (collateral worth no more than the debt).

The ``levguard init`` sample defi_aave.yaml with WETH at 0 USD: 30,000 USD of WBTC against 35,000
USDC, equity -5,000 USD, HF 0.6686.  The loop reported a leverage of ``inf`` (printed "leverage
infx"; ``--json`` null), and with ``target_leverage`` the negative borrow the target formula gives
read as "target leverage reached".  Leverage (collateral / equity) is None without equity, and the
CLI says the position is already liquidatable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.defi.loops import loop_options, loop_position

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "levguard" / "resources" / "samples" / "defi_aave.yaml"


def no_equity() -> dict[str, Any]:
    spec = yaml.safe_load(SAMPLE.read_text())
    for r in spec["reserves"]:
        if r["symbol"] == "WETH":
            r["price_usd"] = 0
    return spec


def test_the_loop_reports_no_leverage_without_equity() -> None:
    spec = no_equity()
    r = loop_position(spec, **loop_options(spec))
    assert r.equity == -5_000.0
    assert r.health_factor < 1
    assert r.leverage is None
    assert all(s.leverage is None for s in r.steps)
    assert r.to_dict()["leverage"] is None


def test_a_target_is_not_reached_without_equity() -> None:
    spec = no_equity()
    r = loop_position(spec, **loop_options(spec, target_leverage=3))
    assert r.reached_target is False
    assert r.stop_reason == "no borrowing power left"
    assert r.steps == ()


def test_the_cli_shows_a_dash_and_says_liquidatable(tmp_path: Path) -> None:
    path = tmp_path / "neg.yaml"
    path.write_text(yaml.safe_dump(no_equity()))
    res = CliRunner().invoke(app, ["defi", "loop", str(path)])
    assert res.exit_code == 0, res.output
    assert "inf" not in res.stdout
    assert "leverage — ·" in res.stdout
    assert "already liquidatable" in res.stdout
