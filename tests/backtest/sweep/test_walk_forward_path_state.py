"""Walk-forward carries the account's path state across windows: CPPI's floor stays on the run's
initial equity and drawdown control reads the stitched account's running peak (each window's
run used to restart both at the window's start equity)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from levguard.backtest.engine import run
from levguard.backtest.strategies import BuyAndHold
from levguard.backtest.sweeps import walk_forward
from levguard.core.sizing.policies import CPPI, DrawdownControl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from bt_engine_helpers import frame

# A drifting-down walk (open = previous close) so that drawdowns span windows.  No fees, slippage,
# band or minimum order: a window's close-out at its last close and the reopen at the next open
# then cost nothing, and the stitched walk-forward is one continuous run.
_CLOSE = 30_000.0 * np.exp(np.cumsum(np.random.default_rng(3).normal(-0.0004, 0.006, 1400)))
DF = frame(_CLOSE, wick=0.001)
FREE = {"fees": 0.0, "slippage": 0.0, "rebalance": {"band": 0.0, "min_trade": 0.0}, "min_notional": 0.0}
TRAIN, TEST = 200, 300


@pytest.mark.parametrize(
    "policy",
    [
        CPPI(floor=0.8, multiplier=4.0, max_leverage=3.0),
        CPPI(floor=0.8, multiplier=4.0, max_leverage=3.0, ratchet=True),
        DrawdownControl(max_drawdown=0.3, base_leverage=3.0),
    ],
    ids=["cppi", "cppi-ratchet", "drawdown"],
)
def test_one_candidate_walk_forward_is_the_continuous_run(policy: object) -> None:
    wf = walk_forward(
        DF, {"hold": BuyAndHold()}, {"p": policy}, train_bars=TRAIN, test_bars=TEST, warmup_bars=TRAIN, **FREE
    )
    assert len(wf.windows) == 4
    stop = TRAIN + TEST * len(wf.windows)
    # The same bars as one run, flat before the first test bar (its decision at the bar before
    # fills at the first test bar's open, as the walk-forward's warm-up does).
    directions = np.ones(stop)
    directions[: TRAIN - 1] = 0.0
    whole = run(DF.iloc[:stop], directions, policy, **FREE)
    expected = whole.equity.iloc[TRAIN:stop].to_numpy()
    np.testing.assert_allclose(wf.equity.to_numpy(), expected, rtol=1e-9, atol=0.0)
    # The policy binds: the drawdown cut the leverage well below its 3x.
    assert whole.positions["leverage"].iloc[TRAIN:stop].min() < 1.0
