"""An option's underlying names its asset as a perpetual's symbol does: ``"BTC-USDT"``, ``"BTCUSDT"``,
``"BTC/USDT"``, ``"btc"`` and ``"XBT"`` are BTC.  ``"BTC-USDT"`` next to an OKX BTC-USDT-SWAP was a
second asset (MC VaR 17,121.9 against 299.2 for ``"BTC"``) and ``--surface BTC`` a KeyError
'BTCUSDT'; an ``underlying_price`` of 65,000 beside a 61,000 perpetual passed unrefused when the
underlying was written ``BTCUSDT`` or a Binance symbol had no ``underlying`` (priced at 61,000), and
without a perpetual the latter was a KeyError 'BTC'.  Two perpetuals on one base: the first's mark
is used and named; a nan or negative underlying_price is refused by its name."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.errors import InputError
from levguard.risk.joint import joint_stress_report
from levguard.risk.report import risk_report

OKX: dict[str, Any] = {
    "venue": "okx",
    "wallet_balance": 60_000,
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [
        {
            "symbol": "BTC-USDT-SWAP",
            "qty": 4.5,
            "entry_price": 61_000,
            "mark_price": 61_000,
            "leverage": 10,
            "mmr": 0.005,
        }
    ],
}
PUT = {"kind": "put", "strike": 61_000, "expiry": "2024-09-27T08:00:00Z", "qty": 10, "vol": 0.5, "settlement": "usd"}
BINANCE: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 30_000,
    "as_of": "2024-06-01T00:00:00Z",
    "options_wallet_balance": 1_000,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 61_000, "mark_price": 61_000, "leverage": 5}],
}
BN_CALL = {
    "symbol": "BTC-240927-70000-C",
    "kind": "call",
    "strike": 70_000,
    "expiry": "2024-09-27T08:00:00Z",
    "qty": 1,
    "vol": 0.5,
}


def _report(spec: dict[str, Any]) -> dict[str, Any]:
    return risk_report(copy.deepcopy(spec), vol=0.6, n_sims=2_000, seed=1).to_dict()["accounts"][0]


@pytest.mark.parametrize("name", ["BTC-USDT", "BTCUSDT", "BTC/USDT", "btc", "XBT", "BTC/USDT:USDT"])
def test_underlying_written_otherwise_is_the_perpetuals_asset(name: str) -> None:
    ref = _report({**OKX, "options": [{**PUT, "underlying": "BTC"}]})
    got = _report({**OKX, "options": [{**PUT, "underlying": name, "underlying_price": 61_000}]})
    assert [v["var"] for v in got["var"]] == pytest.approx([v["var"] for v in ref["var"]])
    assert got["greeks"][0]["forward"] == 61_000.0


def test_okx_style_underlying_joint_surface_runs() -> None:
    spec = {**OKX, "options": [{**PUT, "underlying": "BTC-USDT"}]}
    ref = joint_stress_report({**OKX, "options": [{**PUT, "underlying": "BTC"}]}, assets=["BTC"], vol=0.6)
    got = joint_stress_report(spec, assets=["BTC"], vol=0.6)
    assert got.ladder.nearest_down == ref.ladder.nearest_down
    assert got.ladder.nearest_up == ref.ladder.nearest_up


def test_okx_style_underlying_surface_cli(tmp_path: Path) -> None:
    f = tmp_path / "okx.json"
    f.write_text(json.dumps({**OKX, "options": [{**PUT, "underlying": "BTC-USDT", "underlying_price": 61_000}]}))
    r = CliRunner().invoke(app, ["risk", str(f), "--vol", "0.6", "--surface", "BTC"])
    assert r.exit_code == 0, r.output
    assert not isinstance(r.exception, KeyError)


@pytest.mark.parametrize(
    "option",
    [
        {**BN_CALL, "underlying": "BTCUSDT", "underlying_price": 65_000},
        {**BN_CALL, "underlying": "BTC/USDT", "underlying_price": 65_000},
        {**BN_CALL, "underlying_price": 65_000},  # a Binance symbol, no underlying
    ],
)
def test_underlying_price_refused_whatever_the_naming(option: dict[str, Any]) -> None:
    with pytest.raises(InputError, match=r"options\[0\]\.underlying_price 65000\.0 .*BTCUSDT.*61000"):
        risk_report({**BINANCE, "options": [option]}, vol=0.6, n_sims=200)


def test_binance_symbol_without_perpetual_prices_on_its_underlying_price() -> None:
    got = _report({**BINANCE, "positions": [], "options": [{**BN_CALL, "underlying_price": 65_000}]})
    assert got["greeks"][0]["forward"] == 65_000.0


def test_two_binance_options_name_their_asset() -> None:
    spec = {
        **BINANCE,
        "positions": [],
        "options": [
            {**BN_CALL, "underlying_price": 65_000},
            {**BN_CALL, "symbol": "BTC-241227-70000-C", "expiry": "2024-12-27T08:00:00Z", "underlying_price": 80_000},
        ],
    }
    with pytest.raises(InputError, match=r"every BTC option"):
        risk_report(spec, vol=0.6, n_sims=200)


def test_two_perpetuals_on_one_base_the_first_mark_is_used() -> None:
    perps = [
        {"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 61_000, "mark_price": 61_000, "leverage": 5, "mmr": 0.005},
        {"symbol": "BTCUSDC", "qty": 0.5, "entry_price": 61_010, "mark_price": 61_010, "leverage": 5, "mmr": 0.005},
    ]
    spec = {**BINANCE, "positions": perps}
    got = _report({**spec, "options": [{**BN_CALL, "underlying_price": 61_000}]})
    assert got["greeks"][0]["forward"] == 61_000.0
    with pytest.raises(InputError, match=r"underlying_price 61010\.0 differs from the mark_price of BTCUSDT \(61000"):
        risk_report({**spec, "options": [{**BN_CALL, "underlying_price": 61_010}]}, vol=0.6, n_sims=200)


@pytest.mark.parametrize("bad", [float("nan"), -1, 0])
@pytest.mark.parametrize("positions", [True, False])
def test_bad_underlying_price_refused_by_name(bad: float, positions: bool) -> None:
    spec = {**BINANCE, "options": [{**BN_CALL, "underlying_price": bad}]}
    if not positions:
        spec["positions"] = []
    with pytest.raises(InputError, match=r"options\[0\]\.underlying_price must be"):
        risk_report(spec, vol=0.6, n_sims=200)
