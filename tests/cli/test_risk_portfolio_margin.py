"""``levguard risk`` on portfolio-margin accounts (deribit-pm, okx-pm): margin, ladder or surface,
reverse stress, JSON and HTML (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from levguard.cli.main import app

DERIBIT = {
    "venue": "deribit-pm",
    "currency": "BTC",
    "balances": {"BTC": 1.0},
    "index_price": 65_666.19,
    "as_of": "2024-06-17T10:22:20Z",
    "positions": [
        {"instrument_name": "BTC-PERPETUAL", "size": -150_000, "average_price": 64_000, "mark_price": 65_910.57},
        {"instrument_name": "BTC-28JUN24-70000-C", "size": -1, "vol": 0.55, "underlying_price": 67_371.75},
    ],
}
OKX = {
    "venue": "okx-pm",
    "balances": {"USDT": 3_000, "BTC": 0.1, "ETH": 1},
    "prices": {"BTC": 97_000, "ETH": 3_500},
    "collateral_ratios": {"ETH": 0.9},
    "positions": [
        {"symbol": "BTC-USDT-SWAP", "qty": -10, "contract_size": 0.01, "entry_price": 97_093.7, "mark_price": 97_000},
        {"symbol": "ETH-USDT-SWAP", "qty": 200, "contract_size": 0.1, "entry_price": 3_500, "mark_price": 3_500},
    ],
}


def _run(tmp_path: Path, spec: dict[str, object], *args: str) -> tuple[int, str, str]:
    path = tmp_path / "pm.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    r = CliRunner().invoke(app, ["risk", str(path), *args])
    return r.exit_code, r.stdout, r.stderr


def test_deribit_pm_gets_its_ladder_and_one_asset_reverse_stress(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, DERIBIT, "--vol", "0.6")
    assert code == 0, err
    assert "deribit-pm" in out
    assert "maintenance_margin_usage" in out
    assert "Ladder BTC" in out
    assert "minimal liquidating shock" in out


def test_json_and_html(tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    code, out, err = _run(tmp_path, DERIBIT, "--vol", "0.6", "--surface-points", "21", "--json", "--out", str(html))
    assert code == 0, err
    doc = json.loads(out)["joint_stress"]
    assert doc["surface"] is None
    assert len(doc["ladder"]["ratio"]) == 21
    assert doc["reverse_stress"]["found"]
    assert doc["reverse_stress"]["liquidatable"]
    assert doc["reverse_stress"]["moves"][0] > 0  # a short book: liquidated by a rise
    text = html.read_text(encoding="utf-8")
    assert "along moves of BTC" in text
    assert "reverse stress" in text


def test_okx_pm_gets_a_surface(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, OKX, "--vol", "0.6", "--surface-points", "15", "--json")
    assert code == 0, err
    doc = json.loads(out)["joint_stress"]
    assert doc["margin"]["account_ratio_name"] == "margin_ratio"
    assert {doc["surface"]["asset_x"], doc["surface"]["asset_y"]} == {"ETH", "BTC"}
    assert doc["reverse_stress"]["found"]


def test_an_unknown_asset_is_one_line_exit_2(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, DERIBIT, "--vol", "0.6", "--surface", "ETH")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "ETH" in err
