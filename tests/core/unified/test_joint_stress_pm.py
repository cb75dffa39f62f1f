"""Liquidation ladder, surface and reverse stress of portfolio-margin accounts (deribit-pm, okx-pm).

Each scenario re-prices the parsed account (:func:`moved_portfolio_margin`) and runs the venue's
engine; these tests check the re-pricing against specs written at the moved prices (an
independent route through the spec parser), the ladder against the reports, and the reverse
stress against a brute-force grid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard import evaluate_account
from levguard.core.risk.joint_ladder import liquidation_ladder
from levguard.core.risk.joint_stress import covariance_from_vols, liquidation_surface, reverse_stress, scenario_values
from levguard.core.risk.joint_stress_pm import moved_portfolio_margin, portfolio_margin_joint
from levguard.core.unified_pm import portfolio_margin_account_from_spec
from levguard.errors import InputError
from levguard.risk.joint import joint_stress_report

INDEX = 65_666.19
PERP_MARK = 65_910.57
FWD = 67_371.75


def deribit(balance: float = 1.0, perp_usd: float = -150_000.0, option_mark: float | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {
        "instrument_name": "BTC-28JUN24-70000-C",
        "size": -1,
        "vol": 0.55,
        "underlying_price": FWD,
    }
    if option_mark is not None:
        option["mark_price"] = option_mark
    return {
        "venue": "deribit-pm",
        "currency": "BTC",
        "balances": {"BTC": balance},
        "index_price": INDEX,
        "as_of": "2024-06-17T10:22:20Z",
        "positions": [
            {"instrument_name": "BTC-PERPETUAL", "size": perp_usd, "average_price": 64_000, "mark_price": PERP_MARK},
            option,
        ],
    }


def okx(eth_contracts: float = 200.0) -> dict[str, Any]:
    return {
        "venue": "okx-pm",
        "balances": {"USDT": 3_000, "BTC": 0.1, "ETH": 1},
        "prices": {"BTC": 97_000, "ETH": 3_500},
        "collateral_ratios": {"ETH": 0.9},
        "positions": [
            {"symbol": "BTC-USDT-SWAP", "qty": -10, "contract_size": 0.01, "entry_price": 97_093.7, "mark_price": 97_000},
            {"symbol": "ETH-USDT-SWAP", "qty": eth_contracts, "contract_size": 0.1, "entry_price": 3_500,
             "mark_price": 3_500},
        ],
    }  # fmt: skip


def _same(a: Any, b: Any) -> None:
    assert a.equity == pytest.approx(b.equity, rel=1e-12, abs=1e-12)
    assert a.maintenance_margin == pytest.approx(b.maintenance_margin, rel=1e-12, abs=1e-12)
    assert a.liquidatable == b.liquidatable


@settings(max_examples=40, deadline=None)
@given(f=st.floats(0.3, 2.5))
def test_a_moved_deribit_account_is_the_spec_written_at_the_moved_prices(f: float) -> None:
    # The perpetual keeps its USD size; the option (marked by Black-76) is revalued at F f.
    joint = portfolio_margin_joint(portfolio_margin_account_from_spec(deribit()))
    spec = deribit()
    spec["index_price"] = INDEX * f
    spec["positions"][0]["mark_price"] = PERP_MARK * f
    spec["positions"][1]["underlying_price"] = FWD * f
    _same(joint.report({"BTC": f}), evaluate_account(spec))


@settings(max_examples=40, deadline=None)
@given(fb=st.floats(0.3, 2.5), fe=st.floats(0.3, 2.5))
def test_a_moved_okx_account_is_the_spec_written_at_the_moved_prices(fb: float, fe: float) -> None:
    joint = portfolio_margin_joint(portfolio_margin_account_from_spec(okx()))
    spec = okx()
    spec["prices"] = {"BTC": 97_000 * fb, "ETH": 3_500 * fe}
    spec["positions"][0]["mark_price"] = 97_000 * fb
    spec["positions"][1]["mark_price"] = 3_500 * fe
    _same(joint.report({"BTC": fb, "ETH": fe}), evaluate_account(spec))


def test_a_given_option_mark_moves_by_the_black76_change() -> None:
    plain = portfolio_margin_account_from_spec(deribit())
    marked = portfolio_margin_account_from_spec(deribit(option_mark=plain.legs[1].mark_price + 0.001))
    a, b = moved_portfolio_margin(plain, {"BTC": 1.2}), moved_portfolio_margin(marked, {"BTC": 1.2})
    assert b.legs[1].mark_price - a.legs[1].mark_price == pytest.approx(0.001, abs=1e-12)
    assert moved_portfolio_margin(plain, {"BTC": 1.0}) is plain


def test_bad_factor_names_the_value() -> None:
    with pytest.raises(InputError, match="factors"):
        moved_portfolio_margin(portfolio_margin_account_from_spec(okx()), {"BTC": -1.0})


def test_the_ladder_is_the_reports_and_finds_the_nearest_moves() -> None:
    account = portfolio_margin_account_from_spec(deribit())
    joint = portfolio_margin_joint(account)
    moves = np.linspace(-0.6, 0.6, 25)
    ladder = liquidation_ladder(account, "btc", moves)
    for m, e, liq in zip(moves, ladder.equity, ladder.liquidatable, strict=True):
        rep = joint.report({"BTC": 1.0 + m})
        assert e == rep.equity
        assert liq == rep.liquidatable
    # A short perpetual and a short call: liquidated on the way up only.
    assert ladder.nearest_down is None
    assert ladder.nearest_up is not None
    assert 0.05 < ladder.nearest_up < 0.3
    assert not ladder.liquidatable[moves < ladder.nearest_up].any()
    assert ladder.liquidatable[moves >= ladder.nearest_up].all()


def test_deribit_reverse_stress_liquidates_and_nothing_nearer_does() -> None:
    account = portfolio_margin_account_from_spec(deribit())
    cov = np.array([[0.6**2 / 365.0]])
    r = reverse_stress(account, ["BTC"], cov)
    assert r.found
    assert r.liquidatable
    assert r.ratio == pytest.approx(1.0, abs=1e-6)  # on the trigger: usage MM / equity = 1
    x = r.shock[0]
    grid = np.linspace(-x, x, 4_001)[1:-1]  # every log move of smaller norm, both ways
    liq = scenario_values(account, ["BTC"], np.exp(grid)[:, None])[2]
    assert not liq.any()


def test_okx_reverse_stress_beats_a_brute_force_grid() -> None:
    account = portfolio_margin_account_from_spec(okx())
    rho = np.array([[1.0, 0.6], [0.6, 1.0]])
    cov = covariance_from_vols([0.6, 0.6], rho, horizon_years=1 / 365)
    r = reverse_stress(account, ["ETH", "BTC"], cov, n_directions=72, n_radii=40)
    assert r.found
    assert r.liquidatable
    assert r.ratio == pytest.approx(1.0, abs=1e-6)
    g = np.linspace(-0.25, 0.1, 141)
    x, y = np.meshgrid(g, g)
    pts = np.column_stack([x.ravel(), y.ravel()])
    liq = scenario_values(account, ["ETH", "BTC"], np.exp(pts))[2]
    norms = np.sqrt(np.einsum("ij,jk,ik->i", pts, np.linalg.inv(cov), pts))
    assert liq.any()
    assert norms[liq].min() >= r.norm * (1.0 - 1e-9)


def test_okx_surface_agrees_with_the_reports() -> None:
    account = portfolio_margin_account_from_spec(okx())
    joint = portfolio_margin_joint(account)
    moves = np.linspace(-0.3, 0.3, 7)
    s = liquidation_surface(account, "ETH", "BTC", moves, moves)
    for i, my in enumerate(moves):
        for j, mx in enumerate(moves):
            rep = joint.report({"ETH": 1.0 + mx, "BTC": 1.0 + my})
            assert s.equity[i, j] == rep.equity
            assert s.liquidatable[i, j] == rep.liquidatable
            assert s.ratio[i, j] == pytest.approx(rep.account_ratio)
    assert s.liquidatable.any()
    assert not s.liquidatable.all()


def test_the_report_gives_a_ladder_for_one_asset_and_a_surface_for_two() -> None:
    one = joint_stress_report(deribit(), vol=0.6, points=11)
    assert one.surface is None
    assert one.ladder is not None
    assert one.ladder.asset == "BTC"
    assert one.reverse.found
    doc = one.to_dict()
    assert doc["ladder"]["nearest_up"] == one.ladder.nearest_up
    two = joint_stress_report(okx(), vol=0.6, points=11)
    assert two.ladder is None
    assert two.surface is not None
    assert {two.surface.asset_x, two.surface.asset_y} == {"ETH", "BTC"}
    assert two.reverse.found
    assert math.isfinite(two.reverse.norm)


# ============================================================================ unified with COIN-M
def coin_m(btc: float = 0.16) -> dict[str, Any]:
    """6,000 USDT and BTC (0.04 borrowed) back a BTCUSDT short, an ETHUSDT long and a BTCUSD_PERP long."""
    return {
        "venue": "binance-pm",
        "balances": {"USDT": 6000, "BTC": btc},
        "borrowed": {"BTC": 0.04},
        "loan_mmr": 0.1,
        "prices": {"BTC": 40000, "ETH": 2000},
        "collateral_ratios": {"ETH": 0.9},
        "positions": [
            {"symbol": "BTCUSDT", "qty": -0.05, "entry_price": 52000, "mark_price": 40000, "mmr": 0.005},
            {"symbol": "ETHUSDT", "qty": 20, "entry_price": 2100, "mark_price": 2000, "mmr": 0.005},
            {"symbol": "BTCUSD_PERP", "qty": 100, "entry_price": 50000, "mark_price": 40000, "mmr": 0.005},
        ],
    }


def test_coin_m_accounts_go_through_the_engine_and_the_kernel_refuses_them() -> None:
    from levguard.core.risk.joint_stress import joint_account, joint_for
    from levguard.core.risk.joint_stress_pm import EngineJoint
    from levguard.core.unified import unified_account_from_spec

    ua = unified_account_from_spec(coin_m())
    with pytest.raises(InputError, match="BTCUSD_PERP is a COIN-M position"):
        joint_account(ua)
    ja = joint_for(ua)
    assert isinstance(ja, EngineJoint)
    assert ja.trigger == pytest.approx(1.05)
    assert ja.ratio_rises_when_safer


@settings(max_examples=30, deadline=None)
@given(fb=st.floats(0.5, 1.8), fe=st.floats(0.5, 1.8))
def test_a_moved_coin_m_account_is_the_spec_written_at_the_moved_prices(fb: float, fe: float) -> None:
    from levguard.core.unified import unified_account_from_spec

    ua = unified_account_from_spec(coin_m())
    spec = coin_m()
    spec["prices"] = {"BTC": 40000 * fb, "ETH": 2000 * fe}
    for p in spec["positions"]:
        p["mark_price"] *= fb if p["symbol"].startswith("BTC") else fe
    s = scenario_values(ua, ["BTC", "ETH"], np.array([[fb, fe]]))
    rep = evaluate_account(spec)
    assert s[0][0] == pytest.approx(rep.equity, rel=1e-12)
    assert s[1][0] == pytest.approx(rep.maintenance_margin, rel=1e-12)
    assert bool(s[2][0]) == rep.liquidatable


@settings(max_examples=40, deadline=None)
@given(fb=st.floats(0.3, 2.0), fe=st.floats(0.3, 2.0), btc=st.sampled_from([0.0, 0.06, 0.16, 1.0]))
def test_scenario_totals_are_the_reports_numbers_without_the_price_searches(fb: float, fe: float, btc: float) -> None:
    # Scenario sweeps read (equity, MM, liquidatable) without the positions' liquidation-price
    # searches: the very floats evaluate_unified reports, on COIN-M, option and plain accounts.
    from levguard.core.risk.joint_stress_pm import moved_unified
    from levguard.core.unified import evaluate_unified, unified_account_from_spec, unified_margin_totals

    option = {
        "symbol": "BTC-27DEC24-70000-C",
        "qty": -2,
        "entry_price": 2500,
        "mark_price": 2000,
        "initial_margin": 20000,
    }
    perp = {"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 58000, "mark_price": 60000, "mmr": 0.005}
    specs = [
        coin_m(btc=btc),
        {
            "venue": "bybit-uta",
            "balances": {"USDT": 20000, "BTC": btc},
            "prices": {"BTC": 60000},
            "positions": [perp, option],
            "as_of": "2024-11-27T08:00:00+00:00",
        },
        {"venue": "okx-mcm", "balances": {"USDT": 3000, "BTC": btc}, "prices": {"BTC": 60000}, "positions": [perp]},
    ]
    for spec in specs:
        moved = moved_unified(
            unified_account_from_spec(spec), {"BTC": fb, **({"ETH": fe} if "ETH" in spec["prices"] else {})}
        )
        rep = evaluate_unified(moved)
        assert unified_margin_totals(moved) == (rep.equity, rep.maintenance_margin, rep.liquidatable)


def test_coin_m_reverse_stress_and_surface() -> None:
    from levguard.core.unified import unified_account_from_spec

    ua = unified_account_from_spec(coin_m(btc=0.06))
    rho = np.array([[1.0, 0.6], [0.6, 1.0]])
    cov = covariance_from_vols([0.6, 0.6], rho, horizon_years=30 / 365)
    r = reverse_stress(ua, ["BTC", "ETH"], cov, n_directions=72, n_radii=40)
    assert r.found
    assert r.liquidatable
    assert r.ratio == pytest.approx(1.05, abs=1e-6)
    g = np.linspace(-0.6, 0.3, 61)
    x, y = np.meshgrid(g, g)
    pts = np.column_stack([x.ravel(), y.ravel()])
    liq = scenario_values(ua, ["BTC", "ETH"], np.exp(pts))[2]
    norms = np.sqrt(np.einsum("ij,jk,ik->i", pts, np.linalg.inv(cov), pts))
    assert liq.any()
    assert norms[liq].min() >= r.norm * (1.0 - 1e-9)
    report = joint_stress_report(coin_m(btc=0.06), vol=0.6, points=9)
    assert report.surface is not None
    assert report.surface.equity[4, 4] == pytest.approx(report.account.equity, rel=1e-12)  # the centre: no move
