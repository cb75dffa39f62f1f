"""Policy files (pydantic validation naming the key) and `levguard size`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.config.policies import build_policy, parse_policy_config
from levguard.errors import ConfigError
from levguard.sizing import size_account

runner = CliRunner()

ACCOUNT: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 10_000,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000, "mark_price": 60_000}],
}
POLICY: dict[str, Any] = {
    "policy": {
        "type": "composite",
        "policies": [
            {"type": "vol_target", "target_vol": 0.5, "max_leverage": 10},
            {"type": "gap_cap", "max_gap": 0.3},
            {"type": "tier_cap"},
        ],
    },
    "rebalance": {"band": 0.05},
}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"policy": {"type": "vol_target", "target_vol": 0}}, "policy.target_vol: must be greater than 0 (was 0)"),
        ({"policy": {"type": "vol_target", "target_vol": 0.5, "lamda": 0.9}}, "policy.lamda: unknown key"),
        ({"policy": {"type": "volt"}}, "unknown policy type; use one of"),
        (
            {"policy": {"type": "composite", "policies": [{"type": "gap_cap", "max_gap": 2}]}},
            "policy.policies[0].max_gap: must be less than or equal to 1 (was 2)",
        ),
        ({"polcy": {}}, "policy: missing key"),
        ({"policy": {"type": "fixed", "leverage": 2}, "rebalance": {"band": 1.5}}, "rebalance.band"),
        # At most 1,000 as every other leverage (1e6 recommended 2.2 million BTC, 1e308 an infinite size).
        ({"policy": {"type": "fixed", "leverage": 1e6}}, "policy.leverage: must be less than or equal to 1000"),
        ({"policy": {"type": "fixed", "leverage": -1}}, "policy.leverage: must be greater than or equal to 0"),
    ],
)
def test_bad_policy_files_name_the_key(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_policy_config(raw)
    assert needle in str(exc.value)


def test_every_policy_type_builds() -> None:
    kinds = [
        {"type": "fixed", "leverage": 2},
        {"type": "vol_target", "target_vol": 0.5},
        {"type": "kelly", "fraction": 0.5},
        {"type": "drawdown", "max_drawdown": 0.3, "base_leverage": 3},
        {"type": "cppi", "floor": 0.8, "multiplier": 3},
        {"type": "gap_cap", "max_gap": 0.3},
        {"type": "tier_cap"},
        {"type": "liquidation_budget", "max_prob": 0.01, "horizon_days": 7},
        {"type": "portfolio_cap", "max_gross_leverage": 5},
        {"type": "risk_budget", "target_vol": 0.4},
        {
            "type": "regime",
            "policies": {"calm": {"type": "fixed", "leverage": 3}, "stress": {"type": "fixed", "leverage": 1}},
        },
    ]
    for k in kinds:
        policy = build_policy(parse_policy_config({"policy": k}).policy)
        assert policy.cap >= 0, k


def test_size_account_vol_target_capped_by_gap() -> None:
    """Vol target 50 % at 60 % vol wants 0.83x; the gap cap allows ~3.3x: vol target binds."""
    out = size_account(ACCOUNT, POLICY, vol=0.6).to_dict()
    assert out["target_leverage"] == pytest.approx(0.5 / 0.6, rel=1e-6)
    assert out["binding_constraint"].startswith("vol_target")
    (p,) = out["positions"]
    assert p["current_leverage"] == pytest.approx(3.0)
    assert p["target_qty"] == pytest.approx(out["after_rebalance"] * 10_000 / 60_000)
    assert p["trade_qty"] == pytest.approx(p["target_qty"] - 0.5)
    low = size_account(ACCOUNT, POLICY, vol=0.05).to_dict()
    assert low["binding_constraint"].startswith("gap_cap")
    assert low["target_leverage"] < 1 / 0.3


def test_cli_size(tmp_path: Path) -> None:
    acc = tmp_path / "a.yaml"
    acc.write_text(yaml.safe_dump(ACCOUNT))
    pol = tmp_path / "p.yaml"
    pol.write_text(yaml.safe_dump(POLICY))
    res = runner.invoke(app, ["size", str(acc), "--policy", str(pol), "--vol", "0.6"])
    assert res.exit_code == 0, res.output
    assert "binding: vol_target" in res.stdout
    # The same words as `levguard risk` (it said "GBM closed form (given volatility (closed-form ...))").
    assert "P(liq) at the current positions: GBM closed form at the given volatility (no history)" in res.stdout
    js = json.loads(runner.invoke(app, ["size", str(acc), "--policy", str(pol), "--vol", "0.6", "--json"]).stdout)
    assert js["target_leverage"] == pytest.approx(0.5 / 0.6, rel=1e-6)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"policy": {"type": "vol_target", "target_vol": -1}}))
    err = runner.invoke(app, ["size", str(acc), "--policy", str(bad), "--vol", "0.6"])
    assert err.exit_code == 2
    assert "policy.target_vol: must be greater than 0 (was -1)" in err.stderr
    assert len(err.stderr.strip().splitlines()) == 1


def test_cli_size_a_portfolio_cap_within_its_limits_does_not_bind(tmp_path: Path) -> None:
    """An account at 0.6x, vol_target 0.5 and portfolio_cap 3 at --vol 0.3: 0.60x bound by
    portfolio_cap.within_limits ("no limit binds") before; the volatility target's 1.67x now."""
    acc = tmp_path / "a.json"
    pos = {"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60_000, "mark_price": 60_000}
    acc.write_text(json.dumps({"venue": "binance-usdm", "margin_mode": "cross", "wallet_balance": 10_000,
                               "positions": [pos]}))  # fmt: skip
    pol = tmp_path / "p.yaml"
    members = [{"type": "vol_target", "target_vol": 0.5, "max_leverage": 10},
               {"type": "portfolio_cap", "max_gross_leverage": 3}]  # fmt: skip
    pol.write_text(yaml.safe_dump({"policy": {"type": "composite", "policies": members}}))
    res = runner.invoke(app, ["size", str(acc), "--policy", str(pol), "--vol", "0.3", "--json"])
    assert res.exit_code == 0, res.output
    js = json.loads(res.stdout)
    assert js["current_leverage"] == pytest.approx(0.6)
    assert js["target_leverage"] == pytest.approx(0.5 / 0.3, rel=1e-12)
    assert js["binding_constraint"] == "vol_target"
    assert "portfolio_cap would allow 3x (max_gross_leverage)" in js["reasons"]


@pytest.mark.parametrize("vol", [0.0, -0.6, float("nan"), float("inf"), 1e300, 1e-200])
def test_size_account_refuses_an_unusable_vol(vol: float) -> None:
    # 1e300 overflowed the first passage to a P(liq) of 0; 1e-200 read as "nothing moves" (a CLI audit).
    from levguard.errors import InputError

    with pytest.raises(InputError, match=r"vol must be an annualised volatility from 1e-06 to 20"):
        size_account(ACCOUNT, POLICY, vol=vol)


def test_size_without_any_vol_source_names_the_missing_input(tmp_path: Path) -> None:
    from levguard.errors import InputError

    with pytest.raises(InputError, match="needs a volatility"):
        size_account(ACCOUNT, POLICY)
    # A policy that needs no volatility still sizes without one.
    fixed = size_account(ACCOUNT, {"policy": {"type": "fixed", "leverage": 2}}).to_dict()
    assert fixed["target_leverage"] == pytest.approx(2.0)
    acc = tmp_path / "account.yaml"
    acc.write_text(yaml.safe_dump(ACCOUNT))
    pol = tmp_path / "policy.yaml"
    pol.write_text(yaml.safe_dump(POLICY))
    for extra in ([], ["--vol", "0"], ["--vol", "nan"], ["--vol", "-0.6"]):
        res = runner.invoke(app, ["size", str(acc), "--policy", str(pol), *extra])
        assert res.exit_code == 2, (extra, res.output)
        assert res.output.startswith("levguard: error: "), res.output
        assert res.output.count("\n") == 1, res.output


@pytest.mark.parametrize(
    ("venue", "position"),
    [
        # A BitMEX quanto symbol given its kind: sizing re-read the symbol, refused it as a quanto
        # and told the user to close the position (target 0, binding invalid_input).
        ("bitmex", {"symbol": "ETHUSD", "contract_kind": "linear", "qty": 10, "entry_price": 3000, "mark_price": 3000}),
        # A Gate inverse position was sized as a linear one.
        ("gate", {"symbol": "BTC_USD", "contract_kind": "inverse", "settlement": "BTC", "qty": 30_000,
                  "entry_price": 60_000, "mark_price": 60_000}),
    ],
)  # fmt: skip
def test_size_account_keeps_the_positions_contract_kind(venue: str, position: dict[str, Any]) -> None:
    import levguard

    margin = 3000.0 if venue == "bitmex" else 0.05
    acct = {"venue": venue, "margin_mode": "isolated", "wallet_balance": 0,
            "positions": [{**position, "isolated_margin": margin, "mmr": 0.01}]}  # fmt: skip
    policy = {"policy": {"type": "liquidation_budget", "max_prob": 0.01, "horizon_days": 7}}
    report = size_account(acct, policy, vol=0.6)
    assert report.binding_constraint == "liquidation_budget"
    assert report.target_leverage > 1.0
    assert levguard.evaluate_account(acct).positions[0].contract_kind == position["contract_kind"]
    assert report.positions[0]["symbol"] == position["symbol"]


def test_a_numpy_vol_is_a_vol() -> None:
    # A float32 series' std() is np.float32: annual_vol refused it (a review).
    import numpy as np

    from levguard.core.validate import annual_vol

    assert annual_vol(np.float32(0.5)) == pytest.approx(0.5)
    assert annual_vol(np.float64(0.5)) == 0.5
    assert size_account(ACCOUNT, POLICY, vol=np.float32(0.6)).to_dict()["volatility"] == pytest.approx(0.6, rel=1e-6)
