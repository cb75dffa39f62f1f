"""Liquidation surface and reverse stress (issue 18): exact grid, brute-force acceptance, properties."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levguard
from levguard.core.risk.covariance import checked_covariance
from levguard.core.risk.joint_stress import (
    covariance_from_returns,
    covariance_from_vols,
    joint_account,
    liquidation_surface,
    reverse_stress,
    scenario_values,
)
from levguard.core.rules.collateral import BYBIT_UTA, CollateralTiers
from levguard.core.spec import account_from_spec
from levguard.core.unified import unified_account_from_spec
from levguard.errors import InputError
from levguard.kernels import readonly
from levguard.kernels.joint import account_scenarios_nb, account_scenarios_py, haircut_value

Spec = dict[str, Any]


def binance() -> Spec:
    return {
        "venue": "binance-pm",
        "balances": {"USDT": 20000, "BTC": 0.5},
        "prices": {"BTC": 60000},
        "positions": [
            {"symbol": "BTCUSDT", "qty": 1.5, "entry_price": 60000, "mark_price": 60000},
            {"symbol": "ETHUSDT", "qty": -20, "entry_price": 3000, "mark_price": 3100},
        ],
    }


def bybit() -> Spec:
    return {
        "venue": "bybit-uta",
        "balances": {"USDT": 5000, "BTC": 12, "ETH": 4},
        "borrowed": {"USDT": 1000},
        "loan_mmr": 0.1,
        "prices": {"BTC": 60000, "ETH": 3000},
        "collateral_ratios": {"ETH": 0.9},
        "positions": [
            {"symbol": "BTCUSDT", "qty": -14, "entry_price": 60000, "mark_price": 61000, "mmr": 0.005},
            {"symbol": "ETHUSDT", "qty": 30, "entry_price": 3000, "mark_price": 2950, "mmr": 0.01},
        ],
    }


def cross() -> Spec:
    return {
        "venue": "binance-usdm",
        "margin_mode": "cross",
        "wallet_balance": 40000,
        "positions": [
            {"symbol": "BTCUSDT", "qty": 4, "entry_price": 61250, "mark_price": 59870.5},
            {"symbol": "ETHUSDT", "qty": -30, "entry_price": 2480, "mark_price": 2555.3},
        ],
    }


def _moved_spec(spec: Spec, factors: dict[str, float]) -> Spec:
    out = copy.deepcopy(spec)
    for p in out["positions"]:
        f = factors.get(p["symbol"].removesuffix("USDT"))
        if f is not None:
            p["mark_price"] = p["mark_price"] * f
    for a in factors:
        if a in out.get("prices", {}):
            out["prices"][a] = out["prices"][a] * factors[a]
    return out


def _account(spec: Spec) -> Any:
    if spec["venue"] in ("binance-pm", "bybit-uta"):
        return unified_account_from_spec(spec)
    return account_from_spec(spec)


@pytest.mark.parametrize("make", [binance, bybit, cross])
def test_grid_points_equal_the_accounts_own_evaluation(make: Any) -> None:
    """Every sampled grid point equals evaluate_account on the moved spec (equity, MM, flag)."""
    spec = make()
    moves = np.array([-0.55, -0.3, -0.05, 0.0, 0.2, 0.45])
    s = liquidation_surface(_account(spec), "BTC", "ETH", moves, moves)
    assert s.equity.shape == (6, 6)
    for j, my in enumerate(moves):
        for i, mx in enumerate(moves):
            r = levguard.evaluate_account(_moved_spec(spec, {"BTC": 1 + mx, "ETH": 1 + my}))
            assert s.equity[j, i] == pytest.approx(r.equity, rel=1e-12, abs=1e-9)
            assert s.maintenance_margin[j, i] == pytest.approx(r.maintenance_margin, rel=1e-12)
            assert bool(s.liquidatable[j, i]) is r.liquidatable, (mx, my)


@pytest.mark.parametrize("make", [binance, bybit, cross])
def test_reverse_stress_beats_a_brute_force_grid(make: Any) -> None:
    """Acceptance: the reported shock liquidates; no grid point of smaller Mahalanobis norm does."""
    spec = make()
    acc = _account(spec)
    cov = covariance_from_vols([0.6, 0.8], [[1.0, 0.8], [0.8, 1.0]], horizon_years=30 / 365)
    rs = reverse_stress(acc, ["BTC", "ETH"], cov)
    assert rs.found
    assert rs.liquidatable
    assert 0 < rs.norm < 20
    # The scenario, evaluated by the account's own path from the spec, liquidates.
    factors = {a: rs.prices_after[a] / rs.prices_before[a] for a in rs.assets}
    assert levguard.evaluate_account(_moved_spec(spec, factors)).liquidatable
    x = np.array(rs.shock)
    assert rs.norm == pytest.approx(float(np.sqrt(x @ np.linalg.solve(cov, x))), rel=1e-12)
    # Brute force: a fine grid of log moves out to beyond the reported norm.
    reach = 1.05 * rs.norm * np.sqrt(np.diag(cov))
    gx = np.linspace(-reach[0], reach[0], 601)
    gy = np.linspace(-reach[1], reach[1], 601)
    X, Y = np.meshgrid(gx, gy)
    pts = np.column_stack([X.ravel(), Y.ravel()])
    norms = np.sqrt(np.einsum("ij,jk,ik->i", pts, np.linalg.inv(cov), pts))
    _, _, liq = scenario_values(acc, ["BTC", "ETH"], np.exp(pts))
    assert liq.any()  # the grid reaches the liquidated region
    assert not (liq & (norms < rs.norm)).any()
    assert norms[liq].min() < rs.norm * 1.01  # and the minimum is not far inside it


def test_reverse_stress_one_asset_is_the_liquidation_price() -> None:
    """With one moved asset the minimal shock is the log distance to the scalar liquidation price."""
    spec = cross()
    spec["positions"] = spec["positions"][:1]
    r = levguard.evaluate_account(spec)
    lp = r.positions[0].liquidation_price
    assert lp is not None
    sd = 0.1
    rs = reverse_stress(account_from_spec(spec), ["BTC"], [[sd**2]])
    assert rs.shock[0] == pytest.approx(np.log(lp / 59870.5), rel=1e-9)
    assert rs.norm == pytest.approx(abs(np.log(lp / 59870.5)) / sd, rel=1e-9)


def test_reverse_stress_of_an_already_liquidated_account_is_zero() -> None:
    spec = cross()
    spec["wallet_balance"] = 1000
    rs = reverse_stress(account_from_spec(spec), ["BTC", "ETH"], np.eye(2) * 0.01)
    assert rs.found
    assert rs.norm == 0.0
    assert rs.shock == (0.0, 0.0)


def test_reverse_stress_none_within_max_norm() -> None:
    rs = reverse_stress(_account(binance()), ["BTC", "ETH"], np.eye(2) * 1e-6, max_norm=5.0)
    assert not rs.found
    assert rs.norm == float("inf")
    assert json.loads(json.dumps(rs.to_dict()))["norm"] is None


def test_reverse_stress_three_assets() -> None:
    """Three assets (USDT depeg too): the reported shock liquidates and random points below it do not."""
    acc = _account(bybit())
    cov = np.diag([0.04, 0.05, 0.0001])
    rs = reverse_stress(acc, ["BTC", "ETH", "USDT"], cov, n_directions=400)
    assert rs.found
    assert rs.liquidatable
    z = np.random.default_rng(1).standard_normal((20000, 3))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    r = rs.norm * np.random.default_rng(2).uniform(0, 1, 20000) ** (1 / 3) * 0.999
    pts = (r[:, None] * z) @ np.linalg.cholesky(cov).T
    assert not scenario_values(acc, ["BTC", "ETH", "USDT"], np.exp(pts))[2].any()


def test_one_asset_surface_equals_the_scalar_liquidation_price() -> None:
    """A BTC-only account: along the BTC axis the flag turns exactly where the mark passes the LP."""
    spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 20000, "ETH": 0},
        "prices": {"ETH": 3000},
        "collateral_ratios": {"ETH": 0.9},
        "positions": [{"symbol": "BTCUSDT", "qty": 1.5, "entry_price": 60000, "mark_price": 60000}],
    }
    lp = levguard.evaluate_account(spec).positions[0].liquidation_price
    assert lp is not None
    mx = np.concatenate([np.linspace(-0.9, 0.5, 141), [lp / 60000 - 1 + d for d in (-1e-9, 1e-9)]])
    s = liquidation_surface(unified_account_from_spec(spec), "BTC", "ETH", mx, [-0.5, 0.0, 0.7])
    want = 60000 * (1 + mx) <= lp
    for row in s.liquidatable:
        np.testing.assert_array_equal(row, want)
    # A cross account: row ETH = 0 gives BTC's LP and column BTC = 0 gives ETH's (others held).
    r = levguard.evaluate_account(cross())
    lp_btc, lp_eth = (p.liquidation_price for p in r.positions)
    assert lp_btc is not None
    assert lp_eth is not None
    grid = np.linspace(-0.6, 0.6, 241)
    s = liquidation_surface(account_from_spec(cross()), "BTC", "ETH", grid, grid)
    zero = int(np.argmin(np.abs(grid)))
    np.testing.assert_array_equal(s.liquidatable[zero], 59870.5 * (1 + grid) <= lp_btc)
    np.testing.assert_array_equal(s.liquidatable[:, zero], 2555.3 * (1 + grid) >= lp_eth)


@settings(max_examples=60, deadline=None)
@given(
    usdt=st.sampled_from([0.0, 100.0]) | st.floats(1.0, 50000),
    btc=st.just(0.0) | st.floats(0.001, 30),
    qty=st.floats(0.01, 20),
    entry=st.floats(20000, 90000),
    venue=st.sampled_from(["binance-pm", "bybit-uta"]),
)
def test_long_only_btc_account_is_monotone(usdt: float, btc: float, qty: float, entry: float, venue: str) -> None:
    """A long-only BTC account: the surplus E - c MM never rises as BTC falls, so liquidation is a floor."""
    spec: Spec = {
        "venue": venue,
        "balances": {"USDT": usdt, "BTC": btc},
        "prices": {"BTC": 60000},
        "positions": [{"symbol": "BTCUSDT", "qty": qty, "entry_price": entry, "mark_price": 60000, "mmr": 0.01}],
    }
    ua = unified_account_from_spec(spec)
    c = ua.venue.liquidation_multiple
    moves = np.linspace(-0.95, 1.0, 157)
    eq, mm, liq = scenario_values(ua, ["BTC"], (1 + moves)[:, None])
    surplus = eq - c * mm
    assert (np.diff(surplus) >= -1e-9 * np.maximum(1.0, np.abs(surplus[1:]))).all()
    first_safe = int(np.argmin(liq)) if not liq.all() else len(liq)
    assert liq[:first_safe].all()
    assert not liq[first_safe:].any()


def test_kernel_parity_and_haircut_parity() -> None:
    """The compiled kernel equals its plain-Python twin; its haircut equals CollateralTiers.value."""
    ja = joint_account(_account(bybit()))
    f = readonly(np.exp(np.random.default_rng(3).normal(0, 0.3, (200, 2))))  # as scenario_values passes it
    pos_move = np.array([0, 1], dtype=np.int64)
    asset_move = np.array([-1, 0, 1], dtype=np.int64)  # USDT, BTC, ETH
    outs = []
    for fn in (account_scenarios_py, account_scenarios_nb):
        e, m = np.empty(200), np.empty(200)
        fn(
            f, ja.pos_q, ja.pos_entry, ja.pos_mark, ja.pos_inverse, pos_move, ja.pos_mark_basis, ja.pos_mm_const,
            ja.pos_fee_mm, ja.tier_start, ja.caps, ja.mmrs, ja.cums, ja.asset_net, ja.asset_price, ja.asset_loan,
            asset_move, ja.asset_qty_basis, ja.coll_start, ja.floors, ja.ratios, ja.settle, ja.upnl_in_haircut, e, m,
        )  # fmt: skip
        outs.append((e, m))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-13)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-13)
    btc = BYBIT_UTA.get("BTC")
    assert btc is not None
    usd = CollateralTiers("X", (0.0, 1e6, 5e6), (1.0, 0.975, 0.9), "usd_value")
    for tiers in (btc, usd):
        fl, ra = np.array(tiers.floors), np.array(tiers.ratios)
        for amount in (-3.0, 0.0, 0.5, 10.0, 10.5, 25.0, 60.0, 100.0, 1e3):
            want = tiers.value(amount, 60000.0)
            assert haircut_value(amount, 60000.0, fl, ra, tiers.basis == "qty") == pytest.approx(want, rel=1e-14)


def test_covariance_from_returns_is_the_ewma_scaled() -> None:
    r = np.random.default_rng(0).normal(0, 0.02, (500, 2))
    cov = covariance_from_returns(r, horizon_bars=7)
    w = 0.06 * 0.94 ** np.arange(499, -1, -1)
    w /= w.sum()
    np.testing.assert_allclose(cov, 7 * (r * w[:, None]).T @ r, rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda a: liquidation_surface(a, "BTC", "DOGE", [0.0], [0.0]), r"assets\[1\] must be an asset .*'DOGE'"),
        (lambda a: liquidation_surface(a, "BTC", "BTC", [0.0], [0.0]), "names 'BTC' twice"),
        (lambda a: liquidation_surface(a, "BTC", "ETH", [0.0, -1.0], [0.0]), r"moves_x\[1\] .* was -1.0"),
        (lambda a: liquidation_surface(a, "BTC", "ETH", [0.0], [np.nan]), r"moves_y\[0\] must be finite"),
        (lambda a: liquidation_surface(a, "BTC", "ETH", [], [0.0]), "moves_x must hold at least one"),
        (lambda a: reverse_stress(a, ["BTC", "ETH"], [[1.0, 2.0], [2.0, 1.0]]), "cov must be positive definite"),
        # One history given for two assets: exactly singular (Cholesky passed it through rounding).
        (lambda a: reverse_stress(a, ["BTC", "ETH"], [[0.3, 0.3], [0.3, 0.3]]), "one history given twice"),
        (lambda a: reverse_stress(a, ["BTC", "ETH"], np.zeros((2, 2))), "cov must be positive definite"),
        (lambda a: checked_covariance(np.zeros((0, 0)), 0), "the number of assets must be an integer >= 1, was 0"),
        (lambda a: reverse_stress(a, ["BTC", "ETH"], [[1.0, 0.0], [0.5, 1.0]]), "cov must be symmetric"),
        (lambda a: reverse_stress(a, ["BTC", "ETH"], np.eye(3)), r"cov must be a \(2, 2\) matrix .* shape \(3, 3\)"),
        (lambda a: reverse_stress(a, ["BTC", "ETH"], np.eye(2), max_norm=0.0), "max_norm must be > 0, was 0.0"),
        (lambda a: reverse_stress(a, "BTC", np.eye(1)), "assets must be a non-empty list"),
        (lambda a: reverse_stress(a, ["BTC"], np.eye(1), n_directions=2), "n_directions must be an integer"),
        (lambda a: scenario_values(a, ["BTC"], [[0.0]]), r"factors\[0, 0\] must be a finite multiplier > 0"),
    ],
)
def test_bad_inputs_name_the_value(call: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call(_account(binance()))


def test_bad_accounts_and_covariances() -> None:
    spec = cross()
    spec["positions"][0]["margin_mode"] = "isolated"
    spec["positions"][0]["isolated_margin"] = 5000
    spec.pop("margin_mode")
    with pytest.raises(InputError, match=r"positions\[0\] \(BTCUSDT\) is isolated"):
        joint_account(account_from_spec(spec))
    with pytest.raises(InputError, match=r"returns\[1\]\[0\] must be finite"):
        covariance_from_returns([[0.0, 0.0], [np.nan, 0.0], [0.0, 0.1]])
    with pytest.raises(InputError, match="correlation must have a unit diagonal"):
        covariance_from_vols([0.5, 0.5], [[2.0, 0.0], [0.0, 2.0]], horizon_years=1.0)
    with pytest.raises(InputError, match=r"vols must be annualised fractions > 0"):
        covariance_from_vols([0.5, 0.0], np.eye(2), horizon_years=1.0)


def test_results_are_json_ready() -> None:
    acc = _account(binance())
    s = liquidation_surface(acc, "BTC", "ETH", [-0.5, 0.0], [0.0, 0.5, 1.0])
    d = json.loads(json.dumps(s.to_dict()))
    assert len(d["ratio"]) == 3
    assert len(d["ratio"][0]) == 2
    assert d["ratio_name"] == "uniMMR"
    assert d["trigger"] == pytest.approx(1.05)
    rs = reverse_stress(acc, ["BTC", "ETH"], covariance_from_vols([0.6, 0.8], np.eye(2), horizon_years=0.1))
    d = json.loads(json.dumps(rs.to_dict()))
    assert d["found"]
    assert d["ratio"] == pytest.approx(1.05, abs=1e-9)
