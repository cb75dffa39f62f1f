"""The quiet-stretch path of a one-instrument backtest equals the full steps, bit for bit.

A one-instrument account runs its quiet bars in :func:`levguard.kernels.backtest_quiet.quiet_stretch`;
an account of two instruments never does.  Adding a second instrument that holds no capital and
never trades leaves the first one's run unchanged, so the two-instrument run is the reference of
the full steps for the first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bt_engine_helpers import random_frame

from levguard.kernels import backtest as kb
from levguard.kernels import readonly
from levguard.kernels.backtest_records import (
    CONFIG_DTYPE,
    INST_DTYPE,
    ContractKind,
    MarginMode,
    RebalanceMode,
    account_out,
    market_of,
    positions_out,
    tiers_of,
)

N = 3_000
TIERS = np.array([[50_000.0, 0.004, 0.0, 125.0], [600_000.0, 0.005, 50.0, 50.0], [np.inf, 0.01, 3050.0, 20.0]])


def _case(kind: int, leverage: float, stops: bool, rebalance: int, long_short: bool, seed: int) -> tuple[Any, ...]:
    df = random_frame(n=N, seed=seed, sigma=0.006)
    if kind == ContractKind.INVERSE:
        df[["open", "high", "low", "close"]] /= 30_000.0
        df["volume"] *= 30_000.0
    cols = [df[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    marks = [cols[0] * 1.0001, cols[1] * 1.0003, cols[2] * 0.9997, cols[3] * 1.0001]
    one = np.stack([*cols, *marks, df["funding_rate"].to_numpy()])[:, :, None]
    # Regimes of 20-300 bars: long stretches of holding and of being flat.
    rng = np.random.default_rng(seed)
    edges = np.cumsum(rng.integers(20, 300, N))
    regime = np.searchsorted(edges, np.arange(N)) % 2
    side = np.where(regime == 0, 1.0, -1.0 if long_short else 0.0)
    inst = np.zeros(1, dtype=INST_DTYPE)
    inst["kind"] = kind
    inst["weight"] = 1.0
    inst["taker"] = 0.0005
    inst["maker"] = 0.0002
    inst["liq_fee"] = 0.005
    inst["tier_start"] = 0
    inst["tier_stop"] = 3
    inst["min_notional"] = 5.0 if kind == ContractKind.LINEAR else 0.0
    cfg = np.zeros(1, dtype=CONFIG_DTYPE)[0]
    cfg["initial_equity"] = 10_000.0
    cfg["margin_mode"] = MarginMode.ISOLATED
    cfg["rebalance"] = rebalance
    cfg["band"] = 0.2
    cfg["slip_bps"] = 1.0
    cfg["stop_loss"] = 0.03 if stops else 0.0
    cfg["take_profit"] = 0.05 if stops else 0.0
    cfg["cooldown"] = 5
    cfg["check_im"] = True
    lev = np.full((N, 1), leverage)
    return one, side[:, None], lev, inst, cfg


def _run(mkt: np.ndarray, side: np.ndarray, lev: np.ndarray, inst: np.ndarray, cfg: Any) -> tuple[Any, ...]:
    n_inst = inst.shape[0]
    acct = account_out(N)
    pos = positions_out(N, n_inst)
    trades = np.zeros(kb.trade_capacity(N, n_inst), dtype=kb.TRADE_DTYPE)
    liqs = np.zeros(kb.liq_capacity(N, n_inst), dtype=kb.LIQ_DTYPE)
    args = (market_of(np.ascontiguousarray(mkt)), side, lev, inst, tiers_of(TIERS), cfg, acct, pos, trades, liqs)
    counts = kb.simulate_nb(*args)
    return acct, pos, trades[: counts.trades], liqs[: counts.liqs], counts


@pytest.mark.parametrize(
    ("kind", "leverage", "stops", "rebalance", "long_short", "seed"),
    [
        (ContractKind.LINEAR, 1.0, False, RebalanceMode.NEVER, False, 1),
        (ContractKind.LINEAR, 3.0, True, RebalanceMode.NEVER, True, 2),
        (ContractKind.LINEAR, 12.0, False, RebalanceMode.NEVER, True, 3),
        (ContractKind.LINEAR, 8.0, False, RebalanceMode.BAND, True, 4),
        (ContractKind.INVERSE, 20.0, True, RebalanceMode.NEVER, True, 5),
        (ContractKind.SPOT, 1.0, True, RebalanceMode.NEVER, False, 6),
    ],
)
def test_quiet_stretch_equals_the_full_steps(
    kind: int, leverage: float, stops: bool, rebalance: int, long_short: bool, seed: int
) -> None:
    mkt, side, lev, inst, cfg = _case(kind, leverage, stops, rebalance, long_short, seed)
    fast = _run(mkt, side, lev, inst, cfg)
    # The reference: a second instrument with no capital and no signal turns the stretch off.
    inst2 = np.concatenate([inst, inst])
    inst2["weight"] = [1.0, 0.0]
    full = _run(
        np.concatenate([mkt, mkt], axis=2),
        np.concatenate([side, np.zeros_like(side)], axis=1),
        np.concatenate([lev, np.zeros_like(lev)], axis=1),
        inst2,
        cfg,
    )
    assert fast[4].trades > 10 or fast[4].liqs > 0
    if leverage >= 12.0 and not stops:
        assert fast[4].liqs > 0
    for a, b in zip(fast[0], full[0], strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fast[1], full[1], strict=True):
        np.testing.assert_array_equal(a[:, 0], b[:, 0])
    for part in (2, 3):
        assert fast[part].dtype.names is not None
        for name in fast[part].dtype.names:
            np.testing.assert_array_equal(fast[part][name], full[part][name])
    assert fast[4] == full[4]


def test_sweep_keeps_the_statistics_of_single_runs() -> None:
    """The sweep rewrites one row of position outputs: its statistics equal full single runs."""
    from levguard.kernels.backtest_metrics import STATS_DTYPE, metrics_nb

    mkt, side, lev, inst, cfg = _case(ContractKind.LINEAR, 5.0, True, RebalanceMode.NEVER, True, 9)
    directions = np.stack([side, -side, np.zeros_like(side)])
    select = np.zeros(3, dtype=kb.SELECT_DTYPE)
    select["strategy"] = [0, 1, 2]
    cfgs = np.repeat(cfg, 3)
    out = np.zeros(3, dtype=STATS_DTYPE)
    kb.sweep_nb(
        market_of(np.ascontiguousarray(mkt)),
        directions,
        lev[None],
        inst[None],
        tiers_of(TIERS),
        cfgs,
        select,
        8760.0,
        out,
        0,
    )
    # Lanes reuse their buffers: the statistics do not depend on how many there are.
    for lanes in (1, 2, 5):
        again = np.zeros(3, dtype=STATS_DTYPE)
        args = (market_of(np.ascontiguousarray(mkt)), directions, lev[None], inst[None], tiers_of(TIERS), cfgs, select)
        kb.sweep_nb(*args, 8760.0, again, lanes)
        assert again.tobytes() == out.tobytes()
    for c in range(3):
        acct, _pos, trades, liqs, counts = _run(mkt, directions[c], lev, inst, cfg)
        one = np.zeros(1, dtype=STATS_DTYPE)
        traded = kb.traded_notional(trades, counts.trades, liqs, counts.liqs, inst)
        acct = type(acct)(*(readonly(a) for a in acct))  # read-only, as compute_metrics passes them
        metrics_nb(acct, 10_000.0, 8760.0, counts.liqs, traded, counts.ruin_bar >= 0, one[0])
        for name in ("total_return", "sharpe", "max_drawdown", "fees_paid", "avg_leverage", "turnover"):
            np.testing.assert_array_equal(out[name][c], one[name][0])
