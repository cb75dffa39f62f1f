"""Defects found in review (issue 18/19 work): inverse symbols read as linear, OKX stress exposure
held fixed, delta-only OKX units not movable, bad factors, portfolio-margin and COIN-M accounts in
the account replay, Aave 3.5/3.6 position reports."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import levguard
from levguard.backtest.account import replay_account
from levguard.cli.main import app
from levguard.core.risk.joint_stress_pm import moved_portfolio_margin, moved_unified, portfolio_margin_joint
from levguard.core.unified import unified_account_from_spec
from levguard.core.unified_pm import portfolio_margin_account_from_spec
from levguard.errors import InputError

runner = CliRunner()


def _spec(venue: str, symbol: str) -> dict[str, Any]:
    return {
        "venue": venue,
        "balances": {"USDT": 1000, "BTC": 1},
        "prices": {"BTC": 40000},
        "positions": [{"symbol": symbol, "qty": 100, "entry_price": 50000, "mark_price": 40000, "mmr": 0.005}],
    }


@pytest.mark.parametrize(
    ("venue", "symbol"),
    [
        ("okx-mcm", "BTC/USD:BTC"),
        ("okx-mcm", "BTCUSD_PERP"),
        ("okx-mcm", "BTC-USD-SWAP"),
        ("bybit-uta", "BTCUSD"),
        ("bybit-uta", "BTCUSDH25"),
        ("bybit-uta", "ETHUSD_PERP"),
        ("okx-pm", "BTC/USD:BTC"),
        ("okx-pm", "BTC-USD-250627"),
    ],
)
def test_inverse_symbols_are_refused_where_the_venue_takes_none(venue: str, symbol: str) -> None:
    with pytest.raises(InputError, match="inverse"):
        levguard.evaluate_account(_spec(venue, symbol))


@pytest.mark.parametrize(("venue", "symbol"), [("okx-mcm", "BTC-USDT-SWAP"), ("bybit-uta", "BTCUSDT")])
def test_linear_symbols_still_read(venue: str, symbol: str) -> None:
    assert levguard.evaluate_account(_spec(venue, symbol)).positions[0].notional == pytest.approx(4_000_000.0)


def test_okx_stress_exposure_moves_with_the_swaps() -> None:
    q, p = -0.1, 97_000.0
    base = {
        "venue": "okx-pm",
        "balances": {"USDT": 20_000},
        "positions": [
            {"symbol": "BTC-USDT-SWAP", "qty": -10, "contract_size": 0.01, "entry_price": p, "mark_price": p}
        ],
        "risk_units": [{"risk_unit": "BTC", "stress_delta_usd": q * p * 0.99985}],
    }
    joint = portfolio_margin_joint(portfolio_margin_account_from_spec(base))
    for f in (0.5, 1.3):
        spec = copy.deepcopy(base)
        spec["positions"][0]["mark_price"] = p * f
        spec["risk_units"][0]["stress_delta_usd"] = q * p * f * 0.99985
        want = levguard.evaluate_account(spec)
        got = joint.report({"BTC": f})
        assert got.maintenance_margin == pytest.approx(want.maintenance_margin, rel=1e-12)


def test_a_delta_only_okx_unit_is_movable() -> None:
    spec = {"venue": "okx-pm", "balances": {"USDT": 3000}, "prices": {"ETH": 3500},
            "risk_units": [{"risk_unit": "ETH", "delta_usd": 50_000}]}  # fmt: skip
    joint = portfolio_margin_joint(portfolio_margin_account_from_spec(spec))
    assert joint.assets == ("ETH",)
    assert joint.price_of("ETH") == 3500.0
    moved = joint.report({"ETH": 0.9})
    assert moved.equity == pytest.approx(levguard.evaluate_account(spec).equity)  # the delta moves, not equity
    assert moved.maintenance_margin == pytest.approx(0.9 * levguard.evaluate_account(spec).maintenance_margin)


@pytest.mark.parametrize("bad", [{"BTC": float("nan")}, {"BTC": True}, {"BTC": "1.2"}, {"BTC": -1.0}, [("BTC", 1.2)]])
def test_bad_factors_name_the_value(bad: Any) -> None:
    pm = portfolio_margin_account_from_spec({**_spec("okx-pm", "BTC-USDT-SWAP"), "positions": []})
    ua = unified_account_from_spec(_spec("okx-mcm", "BTC-USDT-SWAP"))
    with pytest.raises(InputError, match="factors"):
        moved_portfolio_margin(pm, bad)
    with pytest.raises(InputError, match="factors"):
        moved_unified(ua, bad)
    with pytest.raises(InputError, match="account must be a UnifiedAccount"):
        moved_unified(None, {"BTC": 1.1})  # type: ignore[arg-type]


def test_an_unknown_asset_is_refused_by_the_engine_joint() -> None:
    from levguard.core.risk.joint_stress import joint_for

    ua = unified_account_from_spec({**_spec("binance-pm", "BTCUSD_PERP"), "collateral_ratios": {"BTC": 0.95}})
    with pytest.raises(InputError, match="'XRP', not an asset"):
        joint_for(ua).report({"XRP": 1.2})  # type: ignore[union-attr]


def _bars() -> dict[str, pd.DataFrame]:
    idx = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    frame = pd.DataFrame({"open": 40000.0, "high": 40100.0, "low": 39900.0, "close": 40000.0}, index=idx)
    return {"BTC": frame}


def test_the_account_replay_refuses_portfolio_margin_and_coin_m() -> None:
    deribit = {"venue": "deribit-pm", "currency": "BTC", "balances": {"BTC": 1}, "index_price": 40000,
               "positions": [{"instrument_name": "BTC-PERPETUAL", "size": 1000, "average_price": 40000,
                              "mark_price": 40000}]}  # fmt: skip
    with pytest.raises(InputError, match="portfolio-margin account"):
        replay_account(deribit, _bars())
    coin_m = {**_spec("binance-pm", "BTCUSD_PERP"), "collateral_ratios": {"BTC": 0.95}}
    with pytest.raises(InputError, match="BTCUSD_PERP is a COIN-M position or an option"):
        replay_account(coin_m, _bars())


@pytest.mark.parametrize("version", ["3.5", "3.6"])
def test_aave_35_and_36_position_reports_and_loops(version: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    spec = yaml.safe_load((tmp_path / "defi_aave.yaml").read_text())
    spec["version"] = version
    path = tmp_path / "aave.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = runner.invoke(app, ["defi", str(path)])
    assert out.exit_code == 0, out.output
    assert f"Aave {version}: bounded by the checks after the mint" in " ".join(out.output.split())
    loop = runner.invoke(app, ["defi", "loop", str(path)])
    assert loop.exit_code == 0, loop.output
    assert "net APY on equity" in loop.output
