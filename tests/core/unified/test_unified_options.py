"""Bybit USDC options in a Unified Trading Account (``bybit-uta``; issue 18).

Reading the spec (Bybit and ccxt symbols, Black-76 marks, defaults, refusals on the other venues),
a mixed account by hand (a short call, a USDT perpetual, a USDT balance), the options value in
total equity but not in the margin balance, the liquidation flag, the report's order, the moved
account of the joint-stress tools against the spec written at the moved prices, and the CLI.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.core.options.black76 import black76_price
from levguard.core.options.iv import implied_vol
from levguard.core.risk.joint_stress import covariance_from_vols, reverse_stress
from levguard.core.risk.joint_stress_pm import moved_unified, unified_engine_joint
from levguard.core.unified import _evaluate_python, unified_account_from_spec
from levguard.core.unified_options import (
    BTC_MM_FACTOR,
    LIQUIDATION_FEE_RATE,
    is_option_symbol,
    moved_option,
    option_totals,
)
from levguard.errors import InputError

Spec = dict[str, Any]
runner = CliRunner()

CALL: Spec = {
    "symbol": "BTC-27DEC24-70000-C",
    "qty": -2,
    "entry_price": 2500,
    "mark_price": 2000,
    "initial_margin": 20000,
}
PERP: Spec = {"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 58000, "mark_price": 60000, "mmr": 0.005}


def mixed(**over: Any) -> Spec:
    """20,000 USDT back a BTCUSDT long (0.5 at 58,000, mark 60,000) and a short BTC call (2 coins)."""
    spec: Spec = {
        "venue": "bybit-uta",
        "balances": {"USDT": 20000},
        "prices": {"BTC": 60000},
        "positions": [dict(PERP), dict(CALL)],
    }
    spec.update(over)
    return spec


def test_mixed_account_by_hand() -> None:
    """Call MM = [max(3 % x 60,000, 3 % x 2,000) + 2,000 + 0.2 % x 60,000] x 2 = 7,840 USDC; perp MM
    = 0.5 x 58,000 x 0.5 % = 145 (Bybit: at entry).  MB = 20,000 + 1,000 (perp PnL) = 21,000: the
    options value -4,000 is not in it; total equity = 20,000 + 1,000 - 4,000 = 17,000.  IM = 300 +
    20,000 (given).  MM rate = 7,985 / 21,000."""
    r = levguard.evaluate_account(mixed())
    perp, call = r.positions
    assert call.contract_kind == "option"
    assert perp.contract_kind == "linear"
    assert call.maintenance_margin == pytest.approx(7840.0, rel=1e-15)
    assert perp.maintenance_margin == pytest.approx(145.0, rel=1e-15)
    assert r.equity == pytest.approx(21000.0, rel=1e-15)
    assert r.maintenance_margin == pytest.approx(7985.0, rel=1e-15)
    assert r.initial_margin == pytest.approx(20300.0, rel=1e-15)
    assert r.account_ratio == pytest.approx(7985 / 21000, rel=1e-15)
    assert r.account_status == "normal"
    assert not r.liquidatable
    t = option_totals(r)
    assert (t.options_value, t.perp_upl, t.total_equity) == pytest.approx((-4000.0, 1000.0, 17000.0), rel=1e-15)


def test_the_perps_liquidation_price_holds_the_option_mm() -> None:
    """BTCUSDT alone moves: 20,000 + 0.5 (P - 58,000) = 145 + 7,840 at P = 33,970; = 0 at 18,000.
    The option row has none (the account MM rate decides, and an option's mark is not linear)."""
    perp, call = levguard.evaluate_account(mixed()).positions
    assert perp.liquidation_price == pytest.approx(33970.0, rel=1e-12)
    assert perp.bankruptcy_price == pytest.approx(18000.0, rel=1e-12)
    assert (call.liquidation_price, call.bankruptcy_price, call.health) == (None, None, None)


def test_the_option_row() -> None:
    call = levguard.evaluate_account(mixed()).positions[1]
    assert call.symbol == "BTC-27DEC24-70000-C"
    assert (call.qty, call.side_name, call.margin_mode) == (-2.0, "short", "cross")
    assert call.notional == 4000.0  # |qty| x mark
    assert call.unrealized_pnl == 1000.0  # -2 x (2,000 - 2,500)
    assert (call.mmr, call.tier, call.maint_amount) == (BTC_MM_FACTOR, 0, 0.0)
    d = call.to_dict()
    assert (d["leverage"], d["liquidation_price"], d["max_leverage"]) == (None, None, None)


def test_the_account_liquidates_when_mm_reaches_the_margin_balance() -> None:
    """5,000 USDC and a short call of 1 coin with mark 4,000 at index 60,000: MM = 1,800 + 4,000 + 120
    = 5,920 >= 5,000: account MM rate 118.4 %, liquidation (Bybit: at 100 %)."""
    spec = {
        "venue": "bybit-uta",
        "balances": {"USDC": 5000},
        "collateral_ratios": {"USDC": 1.0},
        "positions": [
            {
                "symbol": "BTC-27DEC24-58000-C",
                "qty": -1,
                "entry_price": 1000,
                "mark_price": 4000,
                "index_price": 60000,
                "initial_margin": 9000,
            }
        ],
    }
    r = levguard.evaluate_account(spec)
    assert r.maintenance_margin == pytest.approx(5920.0, rel=1e-15)
    assert r.account_ratio == pytest.approx(1.184, rel=1e-15)
    assert r.liquidatable
    assert r.account_status == "liquidation"
    assert r.positions[0].liquidatable


def test_ccxt_symbol_and_defaults() -> None:
    """The ccxt form is written as Bybit's; the index defaults to prices.BTC; a long needs no IM."""
    spec = mixed(
        positions=[{"symbol": "BTC/USDC:USDC-241227-70000-P", "qty": 1.5, "entry_price": 9000, "mark_price": 10500}]
    )
    ua = unified_account_from_spec(spec)
    (o,) = ua.options
    assert (o.symbol, o.kind, o.strike, o.index_price) == ("BTC-27DEC24-70000-P", "put", 70000.0, 60000.0)
    assert (o.mm_factor, o.liquidation_fee_rate, o.initial_margin) == (BTC_MM_FACTOR, LIQUIDATION_FEE_RATE, 0.0)
    r = levguard.evaluate_account(spec)
    assert r.maintenance_margin == 0.0
    assert r.initial_margin == 0.0
    assert option_totals(r).options_value == pytest.approx(15750.0, rel=1e-15)
    assert is_option_symbol("ETH-3JAN25-3500-C")
    assert not is_option_symbol("BTCUSDT")


def test_a_mark_from_vol_is_black76() -> None:
    """No mark: Black-76 on underlying_price (USD settlement, rate 0), time from as_of to 08:00 UTC."""
    spec = mixed(as_of="2024-12-20T08:00:00+00:00")
    spec["positions"][1] = {
        "symbol": "BTC-27DEC24-70000-C",
        "qty": -1,
        "entry_price": 900,
        "vol": 0.6,
        "underlying_price": 60500,
        "initial_margin": 9000,
    }
    (o,) = unified_account_from_spec(spec).options
    assert o.t_years == 7 / 365
    assert o.priced
    assert o.mark_price == float(np.asarray(black76_price("call", 60500, 70000, 7 / 365, 0.6)))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"venue": "binance-pm"}, r"binance-pm takes none \(only Bybit's USDC option margin"),
        ({"venue": "okx-mcm"}, r"okx-mcm takes none"),
        ({"positions": [{**CALL, "initial_margin": None}]}, r"initial_margin is required for a short option"),
        (
            {"positions": [{**CALL, "symbol": "ETH-27DEC24-4000-C", "index_price": 3000}]},
            r"mm_factor is required for ETH",
        ),
        ({"positions": [{**CALL, "symbol": "BTC-27DEC24-70000-C-USDT"}]}, r"USDT-settled options are not modelled"),
        ({"positions": [{**CALL, "symbol": "BTC/USDT:USDT-241227-70000-C"}]}, r"must be a USDC option"),
        ({"positions": [{**CALL, "symbol": "BTC-31JUN22-31000-C"}]}, r"no such expiry date"),
        ({"positions": [{**CALL, "mark_price": None}]}, r"mark_price is required \(or vol"),
        ({"positions": [{**CALL, "leverage": 5}]}, r"unknown field\(s\) \['leverage'\] for an option"),
        ({"positions": [{**CALL, "qty": 0}]}, r"qty must be finite and non-zero"),
        (
            {"positions": [{**CALL, "mm_factor": 3}]},
            r"mm_factor must be a fraction in \[0, 1\] \(3 % is 0.03\), was 3.0",
        ),
        ({"positions": [{**CALL, "margin_mode": "isolated"}]}, r"margin_mode must be cross"),
        ({"positions": [CALL, {**CALL, "qty": 1}]}, r"appears twice"),
        ({"positions": [{**CALL, "symbol": "SOL-27DEC24-200-C", "mm_factor": 0.05}]}, r"index_price is required"),
        (
            {"as_of": "2025-01-01T00:00:00+00:00", "positions": [{**CALL, "mark_price": None, "vol": 0.5}]},
            r"expired before as_of",
        ),
        ({"as_of": "2024-12-01", "positions": [CALL]}, r"as_of must carry a UTC offset"),
    ],
)
def test_refusals_name_the_value(change: Spec, match: str) -> None:
    spec = mixed(**change)
    for p in spec["positions"]:
        for k in [k for k, v in p.items() if v is None]:
            del p[k]
    with pytest.raises(InputError, match=match):
        levguard.evaluate_account(spec)


def test_the_report_follows_the_specs_order_and_takes_the_python_path() -> None:
    spec = mixed(
        positions=[dict(CALL), dict(PERP), {**CALL, "symbol": "BTC-27DEC24-80000-C", "qty": -1, "mark_price": 900}]
    )
    ua = unified_account_from_spec(spec)
    assert ua.option_slots == (0, 2)
    r = levguard.evaluate_account(spec)
    assert [p.symbol for p in r.positions] == ["BTC-27DEC24-70000-C", "BTCUSDT", "BTC-27DEC24-80000-C"]
    assert r == _evaluate_python(ua)


def test_errors_name_the_place_in_the_spec() -> None:
    """A perpetual after an option is named by its place in the spec's positions."""
    spec = mixed(positions=[dict(CALL), {**PERP, "leverage": 1000}])
    with pytest.raises(InputError, match=r"^positions\[1\]\.leverage 1000"):
        levguard.evaluate_account(spec)


def priced(f: float = 1.0, g: float = 1.0) -> Spec:
    """USDT and BTC balances, an ETHUSDT short and two BTC options priced from vol (as_of given),
    every BTC price times ``f`` and every ETH price times ``g``."""
    return {
        "venue": "bybit-uta",
        "as_of": "2024-11-27T08:00:00+00:00",
        "balances": {"USDT": 30000, "BTC": 0.2},
        "prices": {"BTC": 60000 * f, "ETH": 3000 * g},
        "positions": [
            {"symbol": "ETHUSDT", "qty": -4, "entry_price": 3100, "mark_price": 3000 * g, "mmr": 0.01},
            {
                "symbol": "BTC-27DEC24-70000-C",
                "qty": -1.5,
                "entry_price": 1500,
                "vol": 0.55,
                "underlying_price": 60400 * f,
                "initial_margin": 14000,
            },
            {"symbol": "BTC-27DEC24-50000-P", "qty": 1, "entry_price": 800, "vol": 0.65},
        ],
    }


@settings(max_examples=30, deadline=None)
@given(f=st.floats(0.4, 1.8), g=st.floats(0.4, 1.8))
def test_a_moved_account_is_the_spec_written_at_the_moved_prices(f: float, g: float) -> None:
    """moved_unified re-prices a mark priced from vol at the moved forward: the same report as the
    spec written at the moved prices, bit for bit (every linear and option figure)."""
    ua = unified_account_from_spec(priced())
    moved = levguard.core.unified.evaluate_unified(moved_unified(ua, {"BTC": f, "ETH": g}))
    direct = levguard.evaluate_account(priced(f, g))
    assert moved == direct
    joint = unified_engine_joint(ua)
    assert joint.report({"BTC": f, "ETH": g}) == direct


def test_a_given_option_mark_moves_by_its_black76_change() -> None:
    """A given mark keeps its distance from the model: mark + B(F f) - B(F), floored at 0; the vol
    is implied from the mark when not given."""
    spec = mixed(as_of="2024-11-27T08:00:00+00:00")
    spec["positions"][1] = {**CALL, "vol": 0.5}
    (o,) = unified_account_from_spec(spec).options
    t = 30 / 365

    def b(fwd: float) -> float:
        return float(np.asarray(black76_price("call", fwd, 70000, t, 0.5)))

    m = moved_option(o, 1.1)
    assert m.mark_price == pytest.approx(2000 + b(66000) - b(60000), rel=1e-14)
    assert (m.index_price, m.forward) == (66000.0, 66000.0)
    assert moved_option(o, 0.5).mark_price == pytest.approx(2000 + b(30000) - b(60000), rel=1e-14)
    low = dataclasses.replace(o, mark_price=100.0)  # a mark below the model's value: 100 - B(60,000) < 0
    assert moved_option(low, 0.5).mark_price == 0.0  # floored
    spec["positions"][1] = dict(CALL)  # no vol: implied from the mark
    (o2,) = unified_account_from_spec(spec).options
    vol = float(np.asarray(implied_vol(2000, "call", 60000, 70000, t)))
    m2 = moved_option(o2, 1.1)
    assert m2.vol == pytest.approx(vol, rel=1e-12)
    b0, b1 = (float(np.asarray(black76_price("call", x, 70000, t, vol))) for x in (60000, 66000))
    assert m2.mark_price == pytest.approx(2000 + b1 - b0, rel=1e-12)


def test_moving_an_untimed_option_names_what_is_missing() -> None:
    (o,) = unified_account_from_spec(mixed()).options
    assert moved_option(o, 1.0) is o
    with pytest.raises(InputError, match="give t_years or the spec's as_of"):
        moved_option(o, 1.1)
    with pytest.raises(InputError, match=r"factor must be a finite multiplier > 0, was 0\.0"):
        moved_option(o, 0.0)


def test_reverse_stress_through_the_engine_liquidates_and_matches_the_spec_route() -> None:
    """The engine-per-scenario joint (unified_engine_joint) finds the smallest liquidating BTC/ETH
    move of an account with options; the spec written at those prices liquidates too, and the
    same shock shrunk by 1 % does not."""
    ua = unified_account_from_spec(priced())
    cov = covariance_from_vols([0.6, 0.7], np.array([[1.0, 0.7], [0.7, 1.0]]), horizon_years=30 / 365)
    r = reverse_stress(unified_engine_joint(ua), ["BTC", "ETH"], cov, n_directions=24, n_radii=16)
    assert r.found
    assert r.liquidatable
    assert r.ratio == pytest.approx(1.0, abs=1e-6)
    fb, fe = (1.0 + m for m in r.moves)
    direct = levguard.evaluate_account(priced(fb, fe))
    assert direct.liquidatable
    assert direct.equity == pytest.approx(r.equity, rel=1e-12)
    inner = [float(np.exp(0.99 * x)) for x in r.shock]
    assert not levguard.evaluate_account(priced(*inner)).liquidatable


def test_joint_for_takes_option_accounts_through_the_engine() -> None:
    from levguard.core.risk.joint_stress import joint_account, joint_for
    from levguard.core.risk.joint_stress_pm import EngineJoint

    ua = unified_account_from_spec(priced())
    ja = joint_for(ua)
    assert isinstance(ja, EngineJoint)
    assert "BTC" in ja.assets
    with pytest.raises(InputError, match="is an option"):
        joint_account(ua)  # the kernel (and the account replay, which uses it) refuses them by name


def test_cli_table_and_json_show_the_option_rows(tmp_path: Any) -> None:
    path = tmp_path / "uta.json"
    path.write_text(json.dumps(mixed()), encoding="utf-8")
    out = runner.invoke(app, ["margin", str(path)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "BTC-27DEC24-70000-C" in text
    assert "7,840.00" in text
    assert "f 3.00%" in text
    assert "option rows: USDC" in text
    assert "total equity 17,000.00 USD · options value -4,000.00" in text
    out = runner.invoke(app, ["margin", str(path), "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["positions"]
    assert rows[1]["contract_kind"] == "option"
    assert rows[1]["maintenance_margin"] == 7840.0
    assert rows[1]["liquidation_price"] is None
    assert rows[0]["liquidation_price"] == pytest.approx(33970.0)


def test_cli_refusal_is_one_line_and_exit_2(tmp_path: Any) -> None:
    path = tmp_path / "pm.json"
    path.write_text(json.dumps(mixed(venue="binance-pm")), encoding="utf-8")
    out = runner.invoke(app, ["margin", str(path)])
    assert out.exit_code == 2
    assert "binance-pm takes none" in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_an_account_without_options_is_unchanged() -> None:
    """No option: the kernel path and the report as before (USDC row, MM and IM untouched)."""
    spec = mixed(positions=[dict(PERP)])
    ua = unified_account_from_spec(spec)
    assert ua.options == ()
    assert [a.name for a in ua.assets] == ["USDT"]
    from levguard.core.unified_fast import evaluate_unified_fast

    assert evaluate_unified_fast(ua) == _evaluate_python(ua)
    r = levguard.evaluate_account(copy.deepcopy(spec))
    # 20,000 + 0.5 (P - 58,000) = 145 at P = 18,290
    assert r.maintenance_margin == 145.0
    assert r.positions[0].liquidation_price == pytest.approx(18290.0, rel=1e-12)
