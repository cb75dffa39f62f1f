"""Liquidation surface and reverse stress of an OKX multi-currency account (issue 18 audit).

tests/core/unified/test_joint_stress.py checks Binance PM, Bybit UTA and a single-wallet cross
account; this adds ``okx-mcm`` (coin-quantity discount tiers, the taker fee inside the MM, the
swaps' PnL inside the USDT equity): every grid point equals ``evaluate_account`` of the moved spec,
and the reported minimal shock liquidates while no point of a brute-force grid of smaller
Mahalanobis norm does.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import levguard
from levguard.core.risk.joint_stress import covariance_from_vols, liquidation_surface, reverse_stress, scenario_values
from levguard.core.unified import unified_account_from_spec

Spec = dict[str, Any]


def okx_mcm() -> Spec:
    # 25 BTC crosses three of OKX's built-in BTC discount tiers (0-20 at 0.98, 20-25 at 0.975).
    return {
        "venue": "okx-mcm",
        "balances": {"USDT": 20000, "BTC": 25, "ETH": 40},
        "prices": {"BTC": 60000, "ETH": 3000},
        "collateral_ratios": {
            "ETH": [
                {"minAmt": "0", "maxAmt": "30", "discountRate": "0.95"},
                {"minAmt": "30", "maxAmt": "", "discountRate": "0.9"},
            ]
        },
        "positions": [
            {"symbol": "BTCUSDT", "qty": -60, "entry_price": 60000, "mark_price": 61000, "mmr": 0.004},
            {"symbol": "ETHUSDT", "qty": 800, "entry_price": 3000, "mark_price": 2950, "mmr": 0.01},
        ],
    }


def _moved(spec: Spec, factors: dict[str, float]) -> Spec:
    out = copy.deepcopy(spec)
    for p in out["positions"]:
        f = factors.get(p["symbol"].removesuffix("USDT"))
        if f is not None:
            p["mark_price"] *= f
    for a, f in factors.items():
        out["prices"][a] *= f
    return out


def test_grid_points_equal_the_accounts_own_evaluation() -> None:
    spec = okx_mcm()
    moves = np.array([-0.5, -0.25, -0.05, 0.0, 0.15, 0.4])
    s = liquidation_surface(unified_account_from_spec(spec), "BTC", "ETH", moves, moves)
    assert s.ratio_name == "margin_ratio"
    assert s.liquidatable.any()
    assert not s.liquidatable.all()
    for j, my in enumerate(moves):
        for i, mx in enumerate(moves):
            r = levguard.evaluate_account(_moved(spec, {"BTC": 1 + mx, "ETH": 1 + my}))
            assert s.equity[j, i] == pytest.approx(r.equity, rel=1e-12, abs=1e-9)
            assert s.maintenance_margin[j, i] == pytest.approx(r.maintenance_margin, rel=1e-12)
            assert bool(s.liquidatable[j, i]) is r.liquidatable, (mx, my)
            if r.account_ratio is not None:
                assert s.ratio[j, i] == pytest.approx(r.account_ratio, rel=1e-12)


def test_reverse_stress_beats_a_brute_force_grid() -> None:
    spec = okx_mcm()
    acc = unified_account_from_spec(spec)
    assert not levguard.evaluate_account(spec).liquidatable
    cov = covariance_from_vols([0.6, 0.8], [[1.0, 0.8], [0.8, 1.0]], horizon_years=30 / 365)
    rs = reverse_stress(acc, ["BTC", "ETH"], cov)
    assert rs.found
    assert rs.liquidatable
    assert rs.ratio_name == "margin_ratio"
    assert rs.ratio is not None
    assert rs.ratio <= 1.0
    factors = {a: rs.prices_after[a] / rs.prices_before[a] for a in rs.assets}
    assert levguard.evaluate_account(_moved(spec, factors)).liquidatable
    x = np.array(rs.shock)
    assert rs.norm == pytest.approx(float(np.sqrt(x @ np.linalg.solve(cov, x))), rel=1e-12)
    reach = 1.05 * rs.norm * np.sqrt(np.diag(cov))
    gx = np.linspace(-reach[0], reach[0], 601)
    gy = np.linspace(-reach[1], reach[1], 601)
    X, Y = np.meshgrid(gx, gy)
    pts = np.column_stack([X.ravel(), Y.ravel()])
    norms = np.sqrt(np.einsum("ij,jk,ik->i", pts, np.linalg.inv(cov), pts))
    _, _, liq = scenario_values(acc, ["BTC", "ETH"], np.exp(pts))
    assert liq.any()
    assert not (liq & (norms < rs.norm)).any()
    assert norms[liq].min() < rs.norm * 1.01
