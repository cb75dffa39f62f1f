"""Cross margin: a position's liquidation price in a two-position account equals the margin
engine's cross rule (the other position at its mark), and the wallet backs both."""

from __future__ import annotations

import numpy as np
import pytest
from multi_helpers import cross_lps, random_frame

from levguard.backtest.engine import run

N = 120


@pytest.mark.parametrize("bars", [(5, 60, 119)])
@pytest.mark.parametrize(("btc_side", "eth_side"), [(1.0, -1.0), (-1.0, -1.0)])
def test_cross_lp_matches_evaluator(bars: tuple[int, ...], btc_side: float, eth_side: float) -> None:
    frames = {
        "BTCUSDT": random_frame(n=N, seed=31, sigma=0.003, start=30_000.0, marks=True),
        "ETHUSDT": random_frame(n=N, seed=32, sigma=0.003, start=2_000.0, marks=True),
    }
    res = run(
        frames,
        {"BTCUSDT": np.full(N, btc_side), "ETHUSDT": np.full(N, eth_side)},
        {"BTCUSDT": 10.0, "ETHUSDT": 6.0},
        margin_mode="cross",
        initial_equity=200_000.0,  # 1M BTC notional: beyond the first brackets
        rebalance="never",
    )
    assert res.liquidations.empty
    for t in bars:
        wallet = float(res.positions["cash"].iloc[t])
        spec = []
        for sym, df in frames.items():
            inst = res.instruments[sym]
            spec.append(
                {
                    "symbol": sym,
                    "qty": float(inst["qty"].iloc[t]),
                    "entry_price": float(inst["entry_price"].iloc[t]),
                    "mark_price": float(df["mark_close"].iloc[t]),
                }
            )
        assert all(p["qty"] != 0.0 for p in spec)
        expected = cross_lps(spec, wallet)
        for sym, lp in zip(frames, expected, strict=True):
            assert res.instruments[sym]["liquidation_price"].iloc[t] == pytest.approx(lp, rel=1e-9), (sym, t)
        # The other position's uPnL moves the LP: a one-position account gives a different one.
        alone = cross_lps(spec[:1], wallet)[0]
        assert alone != pytest.approx(expected[0], rel=1e-6)


def test_cross_wallet_is_shared_isolated_is_not() -> None:
    frames = {
        "BTCUSDT": random_frame(n=N, seed=33, sigma=0.003, marks=True),
        "ETHUSDT": random_frame(n=N, seed=34, sigma=0.003, start=2_000.0, marks=True),
    }
    d = {"BTCUSDT": np.ones(N), "ETHUSDT": -np.ones(N)}
    cross = run(frames, d, 5.0, margin_mode="cross", rebalance="never")
    iso = run(frames, d, 5.0, margin_mode="isolated", rebalance="never")
    t = 50
    # Isolated: each LP from its own sleeve (its wallet share only), so closer than in cross.
    for sym, sign in (("BTCUSDT", 1.0), ("ETHUSDT", -1.0)):
        lp_c = cross.instruments[sym]["liquidation_price"].iloc[t]
        lp_i = iso.instruments[sym]["liquidation_price"].iloc[t]
        mark = frames[sym]["mark_close"].iloc[t]
        assert sign * (mark - lp_i) < sign * (mark - lp_c)
