"""``levguard defi FILE`` with an ``oracles:`` section (the position at the oracle's prices beside the
market's: table, JSON, HTML) and ``levguard defi loop FILE`` with an ``irm:`` section (net APY from
the protocol's rate model): output, and one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.defi.loops import loop_options, loop_position
from levguard.defi.valuation import oracle_valuation

ROOT = Path(__file__).resolve().parents[2]
AAVE = str(ROOT / "src" / "levguard" / "resources" / "samples" / "defi_aave.yaml")
runner = CliRunner()
NOW = 1_773_143_160

INCIDENT = f"""\
protocol: aave-v3
name: wstETH e-mode, 2026-03-10
emode_category: {{ltv: 0.93, lt: 0.95, bonus: 0.01}}
reserves:
  - {{symbol: wstETH, price_usd: 2376.6926, decimals: 18, ltv: 0.785, lt: 0.81, bonus: 0.06, collateral: 100, in_emode: true}}
  - {{symbol: WETH, price_usd: 1934, decimals: 18, ltv: 0.805, lt: 0.83, bonus: 0.05, debt: 115.59, in_emode: true}}
oracles:
  block_timestamp: {NOW}
  assets:
    wstETH:
      answer: 193400000000
      updated_at: {NOW - 600}
      heartbeat: 3600
      capo: {{snapshot_ratio: "1191916000000000000", snapshot_timestamp: {NOW - 7 * 86_400},
             max_yearly_ratio_growth_percent: 872, ratio: "1228900000000000000"}}
      market_price: 2376.6926
    WETH: {{answer: 193400000000, updated_at: {NOW - 7_200}, heartbeat: 3600, market_price: 1934}}
"""


@pytest.fixture
def incident(tmp_path: Path) -> str:
    path = tmp_path / "incident.yaml"
    path.write_text(INCIDENT, encoding="utf-8")
    return str(path)


def test_table_shows_oracle_and_market_prices_and_both_health_factors(incident: str) -> None:
    res = runner.invoke(app, ["defi", incident])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "Oracle vs market prices at 1773143160" in out
    assert "capo capped" in out
    assert "-2.85%" in out
    assert "stale" in out
    assert "7200 s / 3600 s" in out
    assert "health factor at oracle prices 0.9812" in out
    assert "at market prices 1.0100 (-2.85%)" in out


def test_json_carries_the_valuation(incident: str) -> None:
    res = runner.invoke(app, ["defi", incident, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["oracle_valuation"] == json.loads(json.dumps(oracle_valuation(incident).to_dict()))
    assert data["oracle_valuation"]["failures"] == ["WETH: stale"]
    assert data["health_factor"] == pytest.approx(1.0100, abs=1e-4)  # the spec's prices: the market's here


def test_json_without_oracles_has_no_valuation() -> None:
    res = runner.invoke(app, ["defi", AAVE, "--json"])
    assert res.exit_code == 0, res.output
    assert "oracle_valuation" not in json.loads(res.stdout)


def test_html_report_has_the_oracle_section(incident: str, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["defi", incident, "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert "<h2>Oracle prices and the market</h2>" in text
    assert "-2.85 %" in text
    assert "<b style='color:#b00'>capped</b>" in text
    assert "<b style='color:#b00'>stale</b>" in text
    assert "0.9812" in text
    assert "1.0100" in text
    assert text.index("Oracle prices and the market") < text.index('class="fig"')


def _bad(tmp_path: Path, edit: dict[str, Any]) -> str:
    spec = yaml.safe_load(INCIDENT)
    spec["oracles"]["assets"]["WETH"] |= edit
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"heartbeat": "1h"}, "oracles.assets.WETH.heartbeat must be an integer"),
        ({"decimals": 18}, "oracles.assets.WETH.decimals must be 8"),
        ({"updated_at": NOW + 60}, "oracles.assets.WETH.updated_at must not be after oracles.block_timestamp"),
        ({"fallback": 1}, "oracles.assets.WETH has unknown fields ['fallback']"),
    ],
)
def test_bad_oracle_field_is_one_line_and_exit_2(tmp_path: Path, edit: dict[str, Any], message: str) -> None:
    res = runner.invoke(app, ["defi", _bad(tmp_path, edit)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("levguard: error: ")
    assert res.stderr.count("\n") == 1
    assert message in res.stderr


# --- levguard defi loop: net APY from the interest-rate model ---------------------------------------


def test_loop_uses_the_samples_rate_model() -> None:
    res = runner.invoke(app, ["defi", "loop", AAVE, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    spec = yaml.safe_load(Path(AAVE).read_text(encoding="utf-8"))
    expected = loop_position(spec, **loop_options(spec))
    assert data["rates"] == json.loads(json.dumps(expected.to_dict()["rates"]))
    assert data["rates"]["rate_source"] == "irm"
    assert data["net_rate"] == data["rates"]["net_apy"]
    assert data["rates"]["debt_utilization"] > data["rates"]["debt_utilization_before"]
    table = runner.invoke(app, ["defi", "loop", AAVE, "--staking-yield", "0.01"])
    assert table.exit_code == 0, table.output
    assert "net APY on equity" in table.stdout
    assert "(irm)" in table.stdout
    assert "+ staking 1.00%" in table.stdout
    assert "USDC utilisation 88.24% -> 88.24%" in table.stdout


def test_loop_given_rates_win() -> None:
    res = runner.invoke(app, ["defi", "loop", AAVE, "--supply-rate", "0.02", "--borrow-rate", "0.06", "--json"])
    assert res.exit_code == 0, res.output
    rates = json.loads(res.stdout)["rates"]
    assert (rates["rate_source"], rates["supply_apy"], rates["borrow_apy"]) == ("input", 0.02, 0.06)


def test_loop_bad_irm_is_one_line_and_exit_2(tmp_path: Path) -> None:
    spec = yaml.safe_load(Path(AAVE).read_text(encoding="utf-8"))
    spec["irm"]["USDC"]["variable_rate_slope1"] = 0.06505
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    res = runner.invoke(app, ["defi", "loop", str(path)])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1
    assert "irm.USDC.variable_rate_slope1 must be whole basis points" in res.stderr
    bad = runner.invoke(app, ["defi", "loop", AAVE, "--staking-yield", "200"])
    assert bad.exit_code == 2
    assert "staking_yield must be in (-1, 100]" in bad.stderr
