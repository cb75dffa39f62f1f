"""The risk report's stress rows by bankruptcy part (a review of 6487760): the sample book's
Binance puts are a wallet of their own, its Deribit account wiped out by short calls is
liquidated, and an account below zero before the scenarios says so in `levguard risk`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.core.risk.stress import Scenario, scenario_by_name
from levguard.risk.report import risk_report

runner = CliRunner(env={"COLUMNS": "200"})


def _rows(rep: Any, scenario: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in next(s for s in rep.stress if s["scenario"] == scenario)["accounts"]}


def test_the_sample_book_by_part(tmp_path: Path) -> None:
    """`levguard init`'s book.yaml: Binance's long puts no longer pay its cross long's shortfall
    (black-thursday: P&L 98,278 with bad debt 39,657, was 58,621 with 0), and at +30 % the
    Deribit perpetual is liquidated with the account the short calls wiped out (was not)."""
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    scenarios = [scenario_by_name("black-thursday"), Scenario("up", 0.3)]
    rep = risk_report(tmp_path / "book.yaml", vol=0.6, n_sims=200, horizons=(1,), scenarios=scenarios)
    crash = _rows(rep, "black-thursday")
    binance = crash["binance"]
    assert binance["bad_debt"] == pytest.approx(39_657, abs=1.0)
    assert binance["pnl"] == pytest.approx(98_278, abs=1.0)
    assert binance["option_pnl"] == pytest.approx(74_035, abs=1.0)
    assert binance["pnl"] - binance["bad_debt"] == pytest.approx(
        sum(p["pnl"] for p in binance["positions"]) + binance["option_pnl"], rel=1e-12
    )
    up = _rows(rep, "up")["deribit"]
    assert up["liquidated"] == ["BTC_USDC-PERPETUAL"]
    assert up["margin_ratio_after"] is None
    assert (up["equity_after"], up["shortfall_before"]) == (0.0, 0.0)
    assert up["pnl"] == pytest.approx(-13_733, abs=1.0)
    assert up["bad_debt"] == pytest.approx(29_162, abs=1.0)


DEEP: dict[str, Any] = {
    "name": "deep",
    "venue": "deribit",
    "wallet_balance": 1_000,
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [{"symbol": "BTC_USDC-PERPETUAL", "qty": 0.1, "entry_price": 61_000, "mark_price": 61_000,
                   "leverage": 5}],
    "options": [{"underlying": "BTC", "kind": "call", "strike": 50_000, "t_years": 0.25, "qty": -2, "vol": 0.5,
                 "settlement": "usd"}],
}  # fmt: skip


def test_an_account_below_zero_before_the_scenarios_is_named_under_the_table(tmp_path: Path) -> None:
    """Two short calls 11,000 in the money behind 1,000: the account is 24,331 USDC below zero
    before any scenario.  Its rows show equity before 0, the hole as ``shortfall_before`` and no
    P&L from it (before the fix a flat scenario read it as a gain of 24,331 and as 24,331 of bad
    debt), and the CLI prints one line naming it."""
    rep = risk_report(DEEP, vol=0.6, n_sims=200, horizons=(1,), scenarios=[Scenario("flat", 0.0)])
    raw = rep.exposure[0]["equity"]
    assert raw < -10_000.0
    (row,) = rep.stress[0]["accounts"]
    assert (row["equity_before"], row["equity_after"], row["pnl"], row["bad_debt"]) == (0.0, 0.0, 0.0, 0.0)
    assert row["shortfall_before"] == pytest.approx(-raw, rel=1e-12)
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(DEEP), encoding="utf-8")
    done = runner.invoke(app, ["risk", str(path), "--vol", "0.6", "--sims", "200"])
    assert done.exit_code == 0, done.output
    assert f"deep: below zero before the scenarios by {-raw:,.2f} USDC" in " ".join(done.stdout.split())
    done = runner.invoke(app, ["risk", str(path), "--vol", "0.6", "--sims", "200", "--json"])
    assert done.exit_code == 0, done.output
    rows = [a for s in json.loads(done.stdout)["stress"] for a in s["accounts"]]
    assert all(a["shortfall_before"] == pytest.approx(-raw, rel=1e-12) for a in rows)
    assert all(a["equity_before"] == 0.0 and a["bad_debt"] >= 0.0 for a in rows)
