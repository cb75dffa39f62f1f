"""Money conservation across several instruments in one account (cross and isolated)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from multi_helpers import conservation, random_frame

from levguard.backtest.engine import run
from levguard.core.tiers import TierTable

N = 500


def _linear_frames(k: int) -> dict[str, pd.DataFrame]:
    specs = [("BTCUSDT", 30_000.0), ("ETHUSDT", 2_000.0), ("SOLUSDT-SPOT", 100.0)][:k]
    return {
        sym: random_frame(n=N, seed=11 + i, sigma=0.01, start=start, marks=True) for i, (sym, start) in enumerate(specs)
    }


def _directions(frames: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    t = np.arange(N)
    return {sym: np.sign(np.sin(t / (9.0 + 6.0 * j) + j)) for j, sym in enumerate(frames)}


@pytest.mark.parametrize("margin_mode", ["cross", "isolated"])
@pytest.mark.parametrize("k", [2, 3])
def test_linear_money_is_conserved(margin_mode: str, k: int) -> None:
    frames = _linear_frames(k)
    spot = tuple(s for s in frames if s.endswith("-SPOT"))
    # An aggressive BTC leg (liquidated; in cross that takes the account down, with bad debt)
    # next to a moderate ETH leg and, with three instruments, a spot leg.
    # (120x: at 80x the three-instrument cross run was liquidated only by the former rule that a
    # non-positive wallet is bankrupt whatever the unrealised PnL; see test_funding_drained_wallet.)
    policy = {s: {"BTCUSDT": 120.0, "ETHUSDT": 3.0}.get(s, 1.0) for s in frames}
    res = run(
        frames,
        _directions(frames),
        policy,
        margin_mode=margin_mode,  # type: ignore[arg-type]
        spot=spot,
        slippage=(2.0, 0.002),
        stop_loss=0.08,
        take_profit=0.1,
        cooldown_bars=2,
        rebalance={"band": 0.3, "min_trade": 20.0},
        liquidation_fee_rate=0.005,
        check_initial_margin=False,
    )
    assert len(res.liquidations) > 0
    assert res.funding.abs().sum() > 0.0
    assert res.fees.sum() > 0.0
    assert set(res.trades["symbol"]) == set(frames)
    lhs, rhs = conservation(res, frames, 10_000.0)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9 * 10_000.0)
    assert res.metrics["fees_paid"] == pytest.approx(res.fees.sum())
    assert res.metrics["bad_debt"] == pytest.approx(res.liquidations["bad_debt"].sum())


TIERS = TierTable.from_rows(
    [
        {"notional_floor": 0, "notional_cap": 5, "mmr": 0.005, "max_leverage": 100},
        {"notional_floor": 5, "notional_cap": None, "mmr": 0.02, "max_leverage": 25},
    ]
)


@pytest.mark.parametrize("margin_mode", ["cross", "isolated"])
def test_inverse_money_is_conserved_in_coin(margin_mode: str) -> None:
    frames = {
        "BTCUSD_PERP": random_frame(n=N, seed=21, sigma=0.012, start=30_000.0, marks=True),
        "BTCUSD_250328": random_frame(n=N, seed=22, sigma=0.012, start=30_500.0, marks=True),
    }
    for df in frames.values():
        df["volume"] *= 30_000.0  # contracts are quote units
    res = run(
        frames,
        _directions(frames),
        60.0,  # (at 25x the cross run was liquidated only by the former "wallet <= 0" rule)
        venue="binance-coinm",
        tiers={s: TIERS for s in frames},
        margin_mode=margin_mode,  # type: ignore[arg-type]
        initial_equity=2.0,
        slippage=(2.0, 0.002),
        rebalance={"band": 0.2},
    )
    assert res.params["settlement"] == "BTC"
    assert len(res.liquidations) > 0
    lhs, rhs = conservation(res, frames, 2.0, inverse=frozenset(frames))
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9 * 2.0)
