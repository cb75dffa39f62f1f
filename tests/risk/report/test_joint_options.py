"""The joint ladder, surface and reverse stress of a cross account revalue its options in each
scenario, with the stress table's liquidation rule (risk.joint_options)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.core.risk.stress import Scenario
from levguard.risk.joint import joint_stress_report
from levguard.risk.report import risk_report

AS_OF = "2024-06-01T00:00:00Z"

# Deribit, cross collateral: 30,000 USDC, a 0.5 BTC perpetual long and 6 short BTC-settled calls,
# pooled with the USDC margin: a rally liquidates the account (the stress table says so).
DERIBIT: dict[str, Any] = {
    "venue": "deribit",
    "wallet_balance": 30000,
    "cross_collateral": True,
    "as_of": AS_OF,
    "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 61000, "mark_price": 61000, "leverage": 5}
    ],
    "options": [{"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "coin", "vol": 0.5}],
}

# Binance: the options are in the Options account, a wallet apart; short calls there cannot
# liquidate the futures, which a fall of about 1/leverage liquidates.
BINANCE: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 15000,
    "as_of": AS_OF,
    "options_wallet_balance": 2000,
    "positions": [{"symbol": "BTCUSDT", "qty": 2, "entry_price": 61000, "mark_price": 61000, "leverage": 10}],
    "options": [{"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "usd", "vol": 0.5}],
}

# Deribit, a short BTC straddle pooled with 25,000 USDC and a small perpetual: both ways liquidate.
STRADDLE: dict[str, Any] = {
    "venue": "deribit",
    "wallet_balance": 25000,
    "cross_collateral": True,
    "as_of": AS_OF,
    "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.1, "entry_price": 61000, "mark_price": 61000, "leverage": 5}
    ],
    "options": [
        {"symbol": "BTC-28JUN24-61000-C", "qty": -2, "settlement": "coin", "vol": 0.5},
        {"symbol": "BTC-28JUN24-61000-P", "qty": -2, "settlement": "coin", "vol": 0.5},
    ],
}


def _liquidated(spec: dict[str, Any], move: float) -> bool:
    s = Scenario(name="m", price_shock=move)
    row = risk_report(copy.deepcopy(spec), vol=0.6, n_sims=200, scenarios=[s]).to_dict()["stress"][0]["accounts"][0]
    return bool(row["liquidated"])


@pytest.mark.parametrize("spec", [DERIBIT, BINANCE, STRADDLE], ids=["deribit-pooled", "binance-apart", "straddle"])
def test_reverse_stress_shock_liquidates_in_the_stress_table_and_not_just_inside(spec: dict[str, Any]) -> None:
    rs = joint_stress_report(copy.deepcopy(spec), assets=["BTC"], vol=0.6).reverse
    assert rs.found
    assert rs.liquidatable
    (move,) = rs.moves
    assert _liquidated(spec, move)
    assert not _liquidated(spec, move - math.copysign(1e-6, move))


def test_pooled_short_calls_liquidate_on_a_rally() -> None:
    j = joint_stress_report(copy.deepcopy(DERIBIT), assets=["BTC"], vol=0.6)
    # Before: the ladder and the reverse stress left the calls out (down none, up none, not found).
    assert j.ladder is not None
    assert j.ladder.nearest_up is not None
    assert 0.06 < j.ladder.nearest_up <= 0.1
    assert j.reverse.found
    assert 0.05 < j.reverse.moves[0] < 0.07
    # Each grid point says what the stress table says at that move.
    for m, liq in zip(j.ladder.moves.tolist(), j.ladder.liquidatable.tolist(), strict=True):
        if abs(m) in (0.1, 0.3, 0.5) or m in (-0.4, 0.06):
            assert liq == _liquidated(DERIBIT, m), m


def test_options_in_a_wallet_apart_leave_the_futures_trigger_alone() -> None:
    with_options = joint_stress_report(copy.deepcopy(BINANCE), assets=["BTC"], vol=0.6)
    bare = {k: v for k, v in BINANCE.items() if k not in ("options", "options_wallet_balance")}
    without = joint_stress_report(bare, assets=["BTC"], vol=0.6)
    assert with_options.reverse.moves == without.reverse.moves
    assert with_options.ladder is not None
    assert without.ladder is not None
    assert np.array_equal(with_options.ladder.liquidatable, without.ladder.liquidatable)
    assert with_options.ladder.nearest_up is None


def test_short_straddle_ladder_shows_both_ways() -> None:
    j = joint_stress_report(copy.deepcopy(STRADDLE), assets=["BTC"], vol=0.6)
    assert j.ladder is not None
    down, up = j.ladder.nearest_down, j.ladder.nearest_up
    assert down is not None
    assert up is not None
    assert _liquidated(STRADDLE, down)
    assert _liquidated(STRADDLE, up)
    assert not _liquidated(STRADDLE, 0.0)


def _row(spec: dict[str, Any], shocks: dict[str, float]) -> dict[str, Any]:
    s = Scenario(name="m", price_shocks=shocks)
    out: dict[str, Any] = risk_report(copy.deepcopy(spec), vol=0.6, n_sims=200, scenarios=[s]).to_dict()["stress"][0][
        "accounts"
    ][0]
    return out


# Deribit, no futures: 30,000 USDC and 6 short USD-settled BTC calls (pooled: the account's currency).
OPTIONS_ONLY: dict[str, Any] = {
    "name": "optonly",
    "venue": "deribit",
    "wallet_balance": 30000,
    "as_of": AS_OF,
    "options": [
        {"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "usd", "vol": 0.5, "underlying_price": 61000}
    ],
}


def test_options_only_account_goes_bankrupt_and_the_stress_table_says_so() -> None:
    # Before: the ladder and the reverse stress called the point "liquidating" while the stress
    # table listed nothing liquidated there (no futures); now all three say bankrupt.
    j = joint_stress_report(copy.deepcopy(OPTIONS_ONLY), assets=["BTC"], vol=0.6)
    assert j.trigger == "bankruptcy"
    assert j.to_dict()["trigger"] == "bankruptcy"
    assert j.ladder is not None
    assert j.ladder.nearest_up is not None
    assert j.ladder.nearest_down is None
    assert j.reverse.found
    (move,) = j.reverse.moves
    at = _row(OPTIONS_ONLY, {"BTC": move})
    assert at["liquidated"] == []
    assert at["bankrupt"] is True
    assert at["equity_after"] == 0.0
    inside = _row(OPTIONS_ONLY, {"BTC": move - 1e-6})
    assert inside["bankrupt"] is False
    assert inside["equity_after"] > 0.0
    for m, flag in zip(j.ladder.moves.tolist(), j.ladder.liquidatable.tolist(), strict=True):
        if abs(m) in (0.1, 0.3) or m == 0.06:
            assert flag == _row(OPTIONS_ONLY, {"BTC": m})["bankrupt"], m


def test_futures_account_is_liquidated_not_bankrupt() -> None:
    j = joint_stress_report(copy.deepcopy(DERIBIT), assets=["BTC"], vol=0.6)
    assert j.trigger == "liquidation"
    row = _row(DERIBIT, {"BTC": j.reverse.moves[0]})
    assert row["liquidated"] == ["BTC_USDC-PERPETUAL"]
    assert row["bankrupt"] is False


def test_cli_words_an_options_only_account_as_bankrupt(tmp_path: Path) -> None:
    book = tmp_path / "optonly.yaml"
    book.write_text(yaml.safe_dump(OPTIONS_ONLY), encoding="utf-8")
    r = CliRunner().invoke(app, ["risk", str(book), "--vol", "0.6", "--surface", "BTC"])
    assert r.exit_code == 0, r.stdout
    out = " ".join(r.stdout.split())
    assert "liquidating" not in out
    assert (
        "nearest bankrupting move on the grid (no futures to liquidate: equity reaches 0): down none, up +6.0%" in out
    )
    assert "minimal bankrupting shock 1.582 sd" in out
    assert "equity reaches 0 there (no futures to liquidate)" in out
    assert "optonly: bankrupt" in out  # the stress table's +10 % row
    r = CliRunner().invoke(app, ["risk", str(book), "--vol", "0.6", "--surface", "BTC", "--json"])
    doc = json.loads(r.stdout)
    assert doc["joint_stress"]["trigger"] == "bankruptcy"
    assert any(a["bankrupt"] for s in doc["stress"] for a in s["accounts"])


def test_default_assets_leave_out_options_in_a_wallet_of_their_own() -> None:
    # Binance: ETH long, SOL short, 10 BTC puts in the Options account (which cannot move the
    # futures). Before: the default pair was BTC, ETH (reverse stress BTC -20.9 %, ETH -32.3 %).
    spec: dict[str, Any] = {
        "venue": "binance-usdm",
        "wallet_balance": 20000,
        "as_of": AS_OF,
        "options_wallet_balance": 0,
        "positions": [
            {"symbol": "ETHUSDT", "qty": 20, "entry_price": 3000, "mark_price": 3000, "leverage": 10},
            {"symbol": "SOLUSDT", "qty": -300, "entry_price": 150, "mark_price": 150, "leverage": 10, "mmr": 0.01},
        ],
        "options": [
            {"symbol": "BTC-27SEP24-50000-P", "qty": 10, "settlement": "usd", "vol": 0.5, "underlying_price": 61000}
        ],
    }
    j = joint_stress_report(copy.deepcopy(spec), vol=0.6, points=11)
    assert j.surface is not None
    assert (j.surface.asset_x, j.surface.asset_y) == ("ETH", "SOL")
    assert j.reverse.assets == ("ETH", "SOL")
    assert j.reverse.moves[0] == pytest.approx(-0.1383, abs=1e-3)
    assert j.reverse.moves[1] == pytest.approx(0.2429, abs=1e-3)


def test_margin_part_is_the_ladders_point_at_no_move() -> None:
    # Before: margin read the futures alone (equity 30,000, ratio 0.0102) next to a ladder whose
    # move 0 held the pooled short calls (equity 7,460, ratio 0.0410).
    j = joint_stress_report(copy.deepcopy(DERIBIT), assets=["BTC"], vol=0.6)
    assert j.ladder is not None
    (i,) = np.flatnonzero(j.ladder.moves == 0.0)
    assert j.account.equity == pytest.approx(float(j.ladder.equity[i]), rel=1e-12)
    assert j.account.margin_ratio == pytest.approx(float(j.ladder.ratio[i]), rel=1e-12)
    assert j.account.equity == pytest.approx(7460.44, abs=0.01)
    assert j.account.liquidatable is bool(j.ladder.liquidatable[i])
    assert j.to_dict()["margin"]["equity"] == j.account.equity


F0 = 61000
OKX_INVERSE_SHORT_PUTS: dict[str, Any] = {  # coin account: inverse short swap and coin-settled short puts
    "venue": "okx",
    "wallet_balance": 1.0,
    "as_of": AS_OF,
    "positions": [
        {"symbol": "BTC-USD-SWAP", "qty": -100, "entry_price": F0, "mark_price": F0, "leverage": 10, "mmr": 0.005}
    ],
    "options": [{"symbol": "BTC-27SEP24-50000-P", "qty": -10, "settlement": "coin", "vol": 0.5}],
}
OKX_USDT_USD_CALLS: dict[str, Any] = {  # USDT account: USD-settled short calls pooled (same currency)
    "venue": "okx",
    "wallet_balance": 30000,
    "as_of": AS_OF,
    "positions": [
        {"symbol": "BTC-USDT-SWAP", "qty": 0.5, "entry_price": F0, "mark_price": F0, "leverage": 5, "mmr": 0.005}
    ],
    "options": [{"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "usd", "vol": 0.5}],
}
OKX_USDT_COIN_CALLS_XC: dict[str, Any] = {  # coin-settled calls pooled by cross_collateral
    **OKX_USDT_USD_CALLS,
    "cross_collateral": True,
    "options": [{"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "coin", "vol": 0.5}],
}
# Deribit, a vol smile (SVI slices) instead of flat vols: short calls and puts pooled.
SMILE: dict[str, Any] = {
    "venue": "deribit",
    "wallet_balance": 30000,
    "cross_collateral": True,
    "as_of": AS_OF,
    "positions": [{"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 60500, "mark_price": F0, "leverage": 5}],
    "options": [
        {"symbol": "BTC-27SEP24-70000-C", "qty": -5, "settlement": "coin"},
        {"symbol": "BTC-28JUN24-50000-P", "qty": -5, "settlement": "coin"},
    ],
    "vol_surfaces": {
        "BTC": {
            "slices": [
                {
                    "expiry": "2024-06-28T08:00:00Z",
                    "forward": 61000,
                    "a": 0.010,
                    "b": 0.10,
                    "rho": -0.30,
                    "m": 0.0,
                    "sigma": 0.20,
                },
                {
                    "expiry": "2024-09-27T08:00:00Z",
                    "forward": 61500,
                    "a": 0.040,
                    "b": 0.12,
                    "rho": -0.25,
                    "m": 0.0,
                    "sigma": 0.25,
                },
            ]
        }
    },
}


@pytest.mark.parametrize(
    "spec",
    [OKX_INVERSE_SHORT_PUTS, OKX_USDT_USD_CALLS, OKX_USDT_COIN_CALLS_XC, SMILE],
    ids=["okx-inverse-short-puts", "okx-usdt-usd-calls", "okx-usdt-coin-calls-xc", "deribit-smile"],
)
def test_ladder_and_reverse_stress_agree_with_the_stress_table(spec: dict[str, Any]) -> None:
    j = joint_stress_report(copy.deepcopy(spec), assets=["BTC"], vol=0.6)
    assert j.ladder is not None
    for m, liq in zip(j.ladder.moves.tolist(), j.ladder.liquidatable.tolist(), strict=True):
        if any(abs(m - p) < 1e-9 for p in (-0.3, -0.1, 0.1, 0.3)):
            assert liq == _liquidated_at(spec, {"BTC": m}), m
    r = j.reverse
    assert r.found
    (move,) = r.moves
    assert _liquidated_at(spec, {"BTC": move})
    assert not _liquidated_at(spec, {"BTC": move - math.copysign(1e-6, move)})


def test_okx_coin_account_already_liquidatable_reads_so_at_no_move() -> None:
    # A coin account with an inverse long and 20 short coin calls is past its trigger already.
    spec = copy.deepcopy(OKX_INVERSE_SHORT_PUTS)
    spec["positions"][0]["qty"] = 100
    spec["options"] = [{"symbol": "BTC-27SEP24-70000-C", "qty": -20, "settlement": "coin", "vol": 0.5}]
    j = joint_stress_report(copy.deepcopy(spec), assets=["BTC"], vol=0.6)
    assert j.ladder is not None
    assert j.ladder.nearest_down == 0.0
    assert j.ladder.nearest_up == 0.0
    assert j.reverse.moves == (0.0,)
    assert j.account.liquidatable
    assert _liquidated_at(spec, {"BTC": 0.0})


def test_two_underlyings_surface_and_reverse_stress_agree_with_the_stress_table() -> None:
    spec: dict[str, Any] = {
        "venue": "deribit",
        "wallet_balance": 30000,
        "as_of": AS_OF,
        "cross_collateral": True,
        "positions": [
            {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": F0, "mark_price": F0, "leverage": 5},
            {
                "symbol": "ETH_USDC-PERPETUAL",
                "qty": -3,
                "entry_price": 3000,
                "mark_price": 3000,
                "leverage": 5,
                "imr": 0.02,
                "mmr": 0.01,
                "size_coef": 0.00005,
            },
        ],
        "options": [
            {"symbol": "BTC-27SEP24-70000-C", "qty": -3, "settlement": "coin", "vol": 0.5},
            {"symbol": "ETH-27SEP24-3500-C", "qty": -40, "settlement": "coin", "vol": 0.6},
        ],
    }
    j = joint_stress_report(copy.deepcopy(spec), assets=["BTC", "ETH"], vol=0.6, points=11)
    s = j.surface
    assert s is not None
    assert s.liquidatable.any()
    assert not s.liquidatable.all()
    for jy, my in enumerate(s.moves_y.tolist()):
        for ix, mx in enumerate(s.moves_x.tolist()):
            if ix % 4 == 0 and jy % 4 == 0:
                assert bool(s.liquidatable[jy, ix]) == _liquidated_at(spec, {s.asset_x: mx, s.asset_y: my}), (mx, my)
    r = j.reverse
    assert r.found
    shock = dict(zip(r.assets, r.moves, strict=True))
    assert _liquidated_at(spec, shock)
    assert not _liquidated_at(spec, {a: m - math.copysign(1e-6, m) for a, m in shock.items()})


def _liquidated_at(spec: dict[str, Any], shocks: dict[str, float]) -> bool:
    return bool(_row(spec, shocks)["liquidated"])
