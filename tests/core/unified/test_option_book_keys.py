"""A unified or portfolio-margin spec refuses the single-wallet risk spec's option book (``options``,
``vol_surfaces``, ``options_wallet_balance``, ``cross_collateral``), which it would ignore: a short
call listed under ``options`` on bybit-uta carried no margin (MM 0, status normal) where the same
option in ``positions`` is liquidatable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.errors import InputError

OPTION = {"symbol": "BTC-28JUN24-60000-C", "qty": -10, "settlement": "usd", "vol": 0.6}
UTA = {
    "venue": "bybit-uta",
    "balances": {"USDT": 20_000},
    "prices": {"BTC": 60_000},
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [],
}
PM = {
    "venue": "binance-pm",
    "balances": {"USDT": 20_000},
    "prices": {"BTC": 60_000},
    "positions": [{"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60_000, "mark_price": 60_000}],
}
MCM = {**PM, "venue": "okx-mcm", "positions": []}
DERIBIT = {
    "venue": "deribit-pm",
    "currency": "BTC",
    "balances": {"BTC": 1.0},
    "index_price": 60_000.0,
    "as_of": "2024-06-17T08:00:00Z",
    "positions": [{"instrument_name": "BTC-PERPETUAL", "size": 30_000, "average_price": 58_000, "mark_price": 60_000}],
}


def test_bybit_uta_options_key_refused_pointing_to_positions() -> None:
    with pytest.raises(InputError, match=r"^options .*ignored on bybit-uta.*entries of positions"):
        levguard.evaluate_account({**UTA, "options": [OPTION]})
    # the same option as a position is margined (the report the key silently dropped)
    entry = {**OPTION, "entry_price": 3_000, "initial_margin": 20_000}
    del entry["settlement"]
    r = levguard.evaluate_account({**UTA, "positions": [entry]})
    assert r.maintenance_margin > 50_000
    assert r.account_status == "liquidation"


@pytest.mark.parametrize("spec", [PM, MCM], ids=["binance-pm", "okx-mcm"])
def test_venues_without_options_refuse_the_key(spec: dict[str, Any]) -> None:
    with pytest.raises(InputError, match=rf"^options .*ignored on {spec['venue']}.*refuses options"):
        levguard.evaluate_account({**spec, "options": [{**OPTION, "qty": -100, "t_years": 0.1}]})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("options_wallet_balance", 1_000),
        ("cross_collateral", True),
        ("cross_collateral", False),
        ("vol_surfaces", {"BTC": {"slices": []}}),
    ],
)
@pytest.mark.parametrize("spec", [UTA, PM, MCM], ids=["bybit-uta", "binance-pm", "okx-mcm"])
def test_other_book_keys_refused(spec: dict[str, Any], key: str, value: object) -> None:
    with pytest.raises(InputError, match=rf"^{key} .*ignored on {spec['venue']}"):
        levguard.evaluate_account({**spec, key: value})


@pytest.mark.parametrize("spec", [UTA, PM, MCM], ids=["bybit-uta", "binance-pm", "okx-mcm"])
def test_empty_book_still_accepted(spec: dict[str, Any]) -> None:
    base = levguard.evaluate_account(spec).to_dict()
    assert levguard.evaluate_account({**spec, "options": [], "vol_surfaces": {}}).to_dict() == base


def test_deribit_pm_options_key_points_to_positions() -> None:
    with pytest.raises(InputError, match=r"^options .*ignored on deribit-pm.*entries of positions"):
        levguard.evaluate_account({**DERIBIT, "options": [OPTION]})


@pytest.mark.parametrize("command", ["margin", "risk"])
@pytest.mark.parametrize("spec", [UTA, PM], ids=["bybit-uta", "binance-pm"])
def test_cli_one_line_exit_2(tmp_path: Path, command: str, spec: dict[str, Any]) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**spec, "options": [OPTION]}), encoding="utf-8")
    r = CliRunner().invoke(app, [command, str(path)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1
    assert "options is the option book" in lines[0]
    assert spec["venue"] in lines[0]
