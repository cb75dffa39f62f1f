"""``levguard contagion`` text summary: the lending-pool transmission (pool <-> venue rows of the
worst path) and each pool's outcome when the config has pools, nothing of the kind without them,
and the liquidation fees (to the funds, to the liquidators) in the distribution table."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from test_market_pools_config import _sample_with_pool
from typer.testing import CliRunner

from levguard.cli._output import fmt
from levguard.cli.main import app

runner = CliRunner()


def test_text_summary_shows_the_pool_transmission(tmp_path: Path) -> None:
    p = tmp_path / "contagion.yaml"
    p.write_text(yaml.safe_dump(_sample_with_pool()), encoding="utf-8")
    doc = json.loads(runner.invoke(app, ["contagion", str(p), "--paths", "2", "--json"]).stdout)
    page = tmp_path / "report.html"
    res = runner.invoke(app, ["contagion", str(p), "--paths", "2", "--out", str(page)])
    assert res.exit_code == 0, res.output
    text = res.stdout
    k = doc["monte_carlo"]["worst_path"]
    flows = doc["worst_path"]["pool_to_venue"]
    assert flows, "the sample's pool trades with the venues through arbitrage"
    assert f"Pool <-> venue: arbitrage-carried notional on the worst path {k}" in text
    table = text.split("Pool <-> venue")[1]
    top = max(flows, key=lambda r: r["notional"])
    row = next(line for line in table.splitlines() if f" {fmt(top['notional'], 0)} " in line)
    for cell in (top["link"], top["asset"], top["source"], top["destination"], top["direction"]):
        assert f" {cell} " in row
    pool = doc["worst_path"]["pools"]["lend"]
    assert (
        f"Pool lend on the worst path {k}: {int(pool['accounts_liquidated'])} of {int(pool['borrowers'])} borrowers "
        f"liquidated, collateral sold {fmt(pool['liquidated_collateral'], 0)}, bonus paid {fmt(pool['bonus_paid'], 0)}"
    ) in text
    # Liquidation fees: the pool pays its bonus to liquidators, the exchanges book theirs to the funds.
    dist = doc["monte_carlo"]["distribution"]
    assert dist["lend"]["fund_fees_mean"] == 0.0
    assert dist["hl"]["liquidator_fees_mean"] == dist["binance"]["liquidator_fees_mean"] == 0.0
    line = next(x for x in text.splitlines() if "liquidator fees mean" in x)
    cells = [c.strip() for c in line.split("│") if c.strip()]
    assert cells == ["liquidator fees mean", *(fmt(dist[v]["liquidator_fees_mean"], 0) for v in dist)]
    html = page.read_text(encoding="utf-8")
    assert "Bad debt, ADL and liquidation fees per path" in html
    assert "<th>liquidator_fees_mean</th>" in html


def test_text_summary_without_pools_has_no_pool_table(tmp_path: Path) -> None:
    raw = _sample_with_pool()
    del raw["pools"]
    p = tmp_path / "contagion.yaml"
    p.write_text(yaml.safe_dump(raw), encoding="utf-8")
    res = runner.invoke(app, ["contagion", str(p), "--paths", "2"])
    assert res.exit_code == 0, res.output
    assert "fund fees mean" in res.stdout
    assert "Pool" not in res.stdout
