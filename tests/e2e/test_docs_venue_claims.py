"""What the docs and the CLI help say of the venues' step-downs and of `liq`'s default size is
what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.core.rules import get_venue

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _text(name: str) -> str:
    # One line per paragraph's worth of prose: wrapped lines joined, whitespace collapsed.
    return " ".join((ROOT / "docs" / name).read_text(encoding="utf-8").split())


def test_the_backtest_doc_gives_each_venues_step_down() -> None:
    # Bybit and Gate go to the highest lower tier that restores the margin, in one order
    # (step_mode until_safe; tests/backtest/engine/test_bt_liquidation_rules.py: 25 BTC -> 10 in
    # one order); only BitMEX steps to just below the next lower limit.
    text = _text("backtest.md")
    assert "next lower tier's cap" not in text
    assert "15 BTC closed and 10 left, tier 1's 1M cap" in text
    modes = {v: get_venue(v).liquidation.step_mode for v in ("bybit-linear", "bybit-inverse", "gate", "bitmex")}
    assert modes == {
        "bybit-linear": "until_safe",
        "bybit-inverse": "until_safe",
        "gate": "until_safe",
        "bitmex": "once",
    }
    assert "BitMEX to just below the next lower risk limit" in text
    assert "Bybit (tiers read at the entry notional) and Gate (at the fill) to the highest lower tier" in text


def test_the_margin_doc_table_has_gates_step_down() -> None:
    # Section 4's table said "not found" for Gate's partial liquidation; 4.1 and core/rules/gate.py
    # model its tier-by-tier step-down (gate.com help 22159).
    row = next(line for line in (ROOT / "docs" / "margin.md").read_text().splitlines() if line.startswith("| Gate |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4] == "risk limit lowered tier by tier, then takeover (4.1)"
    assert get_venue("gate").liquidation.partial == "tier"


def test_liq_help_and_docs_give_gates_default_size() -> None:
    # Gate's initial margin holds the fee to close: wallet = N / L + N x taker, so 1,000 at 10x
    # @ 50,000 is 0.19851 BTC, not wallet x leverage / entry = 0.2.
    args = ["liq", "--venue", "gate", "--symbol", "BTC_USDT", "--entry", "50000", "--leverage", "10"]
    res = runner.invoke(app, [*args, "--wallet", "1000", "--mmr", "0.005", "--json"])
    assert res.exit_code == 0, res.output
    qty = json.loads(res.stdout)["positions"][0]["qty"]
    assert qty == pytest.approx(1_000.0 / (0.1 + 0.00075) / 50_000.0, rel=1e-12)
    assert f"{qty:.5f}" == "0.19851"
    helptext = " ".join(runner.invoke(app, ["liq", "--help"], terminal_width=200).stdout.split())
    assert re.search(r"on Gate N / leverage \+ N x taker = wallet", helptext), helptext
    text = _text("margin.md")
    assert "`N = wallet / (1/leverage + taker)`" in text
    assert "**0.19851** BTC" in text
