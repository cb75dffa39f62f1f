"""An option's underlying_price that the report would not use is refused, naming both values: with a
perpetual on BTC at 61,000, underlying_price 65,000 or 80,000 still priced at 61,000; two BTC options
at 60,000 and 66,000 both priced at 60,000 (the first); with a surface, its vol was read at the
underlying_price while the option was priced at the other value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.errors import InputError
from levguard.risk.report import risk_report

PERP = {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 61_000, "mark_price": 61_000, "leverage": 5}
BASE: dict[str, Any] = {
    "venue": "deribit",
    "wallet_balance": 30_000,
    "cross_collateral": True,
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [PERP],
}


def _call(symbol: str = "BTC-27SEP24-70000-C", **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "qty": -1, "settlement": "coin", "vol": 0.5, **extra}


@pytest.mark.parametrize("up", [65_000, 80_000])
def test_underlying_price_against_a_perpetual_mark_refused(up: float) -> None:
    spec = {**BASE, "options": [_call(underlying_price=up)]}
    with pytest.raises(InputError, match=rf"options\[0\]\.underlying_price {float(up)!r} .*BTC_USDC-PERPETUAL.*61000"):
        risk_report(spec, vol=0.6, n_sims=200)


def test_two_options_with_different_underlying_prices_refused() -> None:
    spec = {
        **BASE,
        "positions": [],
        "options": [
            _call("BTC-28JUN24-60000-C", underlying_price=60_000),
            _call("BTC-27DEC24-60000-C", underlying_price=66_000),
        ],
    }
    with pytest.raises(InputError, match=r"options\[1\]\.underlying_price 66000\.0 .*options\[0\]\.underlying_price"):
        risk_report(spec, vol=0.6, n_sims=200)


def test_agreeing_underlying_price_prices_on_it() -> None:
    with_up = risk_report({**BASE, "options": [_call(underlying_price=61_000)]}, vol=0.6, n_sims=200, seed=1)
    without = risk_report({**BASE, "options": [_call()]}, vol=0.6, n_sims=200, seed=1)
    g = with_up.to_dict()["accounts"][0]["greeks"][0]
    assert g["forward"] == 61_000.0
    assert g == without.to_dict()["accounts"][0]["greeks"][0]
    spec = {**BASE, "positions": [], "options": [_call(underlying_price=66_000), _call("BTC-27DEC24-60000-C")]}
    greeks = risk_report(spec, vol=0.6, n_sims=200).to_dict()["accounts"][0]["greeks"]
    assert [x["forward"] for x in greeks] == [66_000.0, 66_000.0]


def test_cli_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text(json.dumps({**BASE, "options": [_call(underlying_price=65_000)]}), encoding="utf-8")
    r = CliRunner().invoke(app, ["risk", str(path), "--vol", "0.6"])
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert "underlying_price 65000.0 differs" in r.output
