"""The backtest kernels: compiled twins equal the plain-Python ones, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from bt_engine_helpers import random_frame

from levguard.core.rules import get_venue
from levguard.kernels import backtest as kb
from levguard.kernels import liquidation as kl
from levguard.kernels._jit import NUMBA_DISABLED

N = 400


def _inputs(
    mode: int, mm_at_entry: bool, liq_first: bool, execution: int, overlay: bool, stops: bool = True
) -> tuple[np.ndarray, ...]:
    """Three instruments (linear, inverse, spot) with random signals and aggressive leverage."""
    mkts = []
    for seed in (7, 8, 9):
        df = random_frame(n=N, seed=seed, sigma=0.01)
        if seed == 8:
            # The inverse leg: prices near 1 so that its coin notional is comparable to the rest
            # of the (mixed, test-only) account; volume in quote units.
            df[["open", "high", "low", "close"]] /= 30_000.0
            df["volume"] *= 30_000.0
        cols = [df[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
        marks = [cols[0] * 1.0001, cols[1] * 1.0002, cols[2] * 0.9998, cols[3] * 1.0001]
        mkts.append(np.stack([*cols, *marks, df["funding_rate"].to_numpy()]))
    mkt = np.ascontiguousarray(np.stack(mkts, axis=2))
    rng = np.random.default_rng(3)
    direction = np.sign(np.sin(np.arange(N)[:, None] / np.array([15.0, 9.0, 20.0]))).astype(float)
    lev = rng.uniform(0.0, 40.0, (N, 3))
    tiers = np.array(
        [
            [50_000.0, 0.004, 0.0, 125.0],
            [600_000.0, 0.005, 50.0, 50.0],
            [np.inf, 0.01, 3050.0, 20.0],
            [5_000.0, 0.005, 0.0, 100.0],
            [np.inf, 0.01, 25.0, 25.0],
            [np.inf, 0.0, 0.0, 1.0],
        ]
    )
    inst = np.zeros((3, kb.N_INST))
    inst[:, kb.INST_KIND] = [kb.LINEAR, kb.INVERSE, kb.SPOT]
    inst[:, kb.INST_WEIGHT] = [0.4, 0.3, 0.3]
    inst[:, kb.INST_TAKER] = 0.0005
    inst[:, kb.INST_MAKER] = 0.0002
    inst[:, kb.INST_LIQ_FEE] = 0.005
    inst[:2, kb.INST_FEE_IN_MM] = 0.0005 if mm_at_entry else 0.0
    inst[:2, kb.INST_MM_AT_ENTRY] = float(mm_at_entry)
    inst[:, kb.INST_TIER_START] = [0, 3, 5]
    inst[:, kb.INST_TIER_STOP] = [3, 5, 6]
    cfg = np.zeros(kb.N_CFG)
    cfg[kb.CFG_INITIAL_EQUITY] = 10_000.0
    cfg[kb.CFG_MARGIN_MODE] = mode
    cfg[kb.CFG_SLIP_BPS] = 2.0
    cfg[kb.CFG_IMPACT] = 0.1
    cfg[kb.CFG_BAND] = 0.1
    cfg[kb.CFG_MIN_TRADE] = 10.0
    cfg[kb.CFG_MAX_STEP] = 5.0
    cfg[kb.CFG_STOP_LOSS] = 0.04 if stops else 0.0
    cfg[kb.CFG_TAKE_PROFIT] = 0.06 if stops else 0.0
    cfg[kb.CFG_LIQUIDATION_FIRST] = float(liq_first)
    cfg[kb.CFG_COOLDOWN] = 3
    cfg[kb.CFG_EXECUTION] = execution
    cfg[kb.CFG_LIMIT_OFFSET] = 1e-4
    cfg[kb.CFG_CHECK_IM] = 1.0
    if overlay:
        cfg[kb.CFG_DD_MAX] = 0.5
        cfg[kb.CFG_DD_BASE] = 20.0
        cfg[kb.CFG_DD_POWER] = 2.0
        cfg[kb.CFG_CPPI_FLOOR] = 0.3
        cfg[kb.CFG_CPPI_MULT] = 8.0
        cfg[kb.CFG_CPPI_RATCHET] = 1.0
        cfg[kb.CFG_CPPI_MAX] = 30.0
        cfg[kb.CFG_CPPI_REF] = 10_000.0
    return mkt, direction, lev, inst, tiers, cfg


def _run(fn: object, args: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    acct = np.zeros((N, kb.N_ACCT))
    pos = np.zeros((N, 3, kb.N_POS))
    trades = np.zeros((kb.trade_capacity(N, 3), kb.N_TRADE_COLS))
    liqs = np.zeros((kb.liq_capacity(N, 3), kb.N_LIQ_COLS))
    counts = np.zeros(kb.N_COUNTS, dtype=np.int64)
    fn(*args, acct, pos, trades, liqs, counts)  # type: ignore[operator]
    return acct, pos, trades[: counts[0]], liqs[: counts[1]], counts


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@pytest.mark.parametrize(
    ("mode", "mm_at_entry", "liq_first", "execution", "overlay", "stops", "liquidates"),
    [
        (kb.ISOLATED, False, True, kb.MARKET, False, True, True),
        (kb.CROSS, False, True, kb.MARKET, False, False, True),
        (kb.CROSS, False, True, kb.MARKET, True, True, False),
        (kb.CROSS, True, False, kb.LIMIT, False, True, False),
        (kb.ISOLATED, True, False, kb.LIMIT, True, True, False),
    ],
)
def test_simulate_py_and_nb_agree(
    mode: int, mm_at_entry: bool, liq_first: bool, execution: int, overlay: bool, stops: bool, liquidates: bool
) -> None:
    args = _inputs(mode, mm_at_entry, liq_first, execution, overlay, stops)
    py = _run(kb.simulate_py, args)
    nb = _run(kb.simulate_nb, args)
    assert py[4][0] > 20  # the set-up trades
    if liquidates:
        assert py[4][1] > 0  # and liquidates at up to 40x
    for a, b in zip(py, nb, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: sweep_nb is sweep_py")
def test_sweep_py_and_nb_agree_and_equal_single_runs() -> None:
    mkt, direction, lev, inst, tiers, cfg = _inputs(kb.CROSS, False, True, kb.MARKET, False)
    directions = np.stack([direction, -direction])
    leverages = np.stack([lev, lev / 4.0, np.full_like(lev, 3.0)])
    insts = inst[None].copy()
    cfgs = np.stack([cfg, cfg.copy(), cfg.copy()])
    cfgs[1, kb.CFG_MARGIN_MODE] = kb.ISOLATED
    cfgs[2, kb.CFG_STOP_LOSS] = 0.0
    index = np.array([[0, 0, 0], [1, 1, 0], [0, 2, 0]], dtype=np.int64)
    out_py = np.zeros((3, kb.N_STATS))
    out_nb = np.zeros((3, kb.N_STATS))
    kb.sweep_py(mkt, directions, leverages, insts, tiers, cfgs, index, 8760.0, out_py)
    kb.sweep_nb(mkt, directions, leverages, insts, tiers, cfgs, index, 8760.0, out_nb)
    np.testing.assert_array_equal(out_py, out_nb)
    for c in range(3):
        acct, _pos, _tr, liqs, counts = _run(
            kb.simulate_nb, (mkt, directions[index[c, 0]], leverages[index[c, 1]], inst, tiers, cfgs[c])
        )
        assert out_nb[c, kb.STAT_FINAL_EQUITY] == acct[-1, kb.ACCT_EQUITY]
        assert out_nb[c, kb.STAT_N_LIQUIDATIONS] == counts[kb.COUNT_LIQS]
        assert out_nb[c, kb.STAT_BAD_DEBT] == pytest.approx(liqs[:, kb.LIQ_BAD_DEBT].sum())


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@pytest.mark.parametrize("venue", ["binance-usdm", "hyperliquid", "deribit", "bybit-linear", "dydx-v4"])
@pytest.mark.parametrize("mode", [kb.ISOLATED, kb.CROSS])
def test_every_liquidation_rule_agrees_compiled_and_python(venue: str, mode: int) -> None:
    # Each venue's outcome rule (takeover, book, slices with a backstop, incremental restore,
    # risk-limit step-down) through the same inputs; the minimum order makes ruin reachable.
    mkt, direction, lev, inst, tiers, cfg = _inputs(mode, venue == "bybit-linear", True, kb.MARKET, False, stops=False)
    # A fee below the test tiers' first maintenance rate, so incremental closes can restore it.
    fee = 0.003
    rule = get_venue(venue).liquidation.vector(fee)
    if venue == "hyperliquid":
        rule[kl.RULE_MIN_NOTIONAL] = 1_000.0  # slice the test's small positions
    inst[:, kb.INST_RULE : kb.INST_RULE + kl.N_RULE] = rule
    inst[:, kb.INST_LIQ_FEE] = fee
    inst[:, kb.INST_MIN_NOTIONAL] = 5.0
    args = (mkt, direction, lev, inst, tiers, cfg)
    py = _run(kb.simulate_py, args)
    nb = _run(kb.simulate_nb, args)
    liqs = py[3]
    assert liqs.shape[0] > 0
    if venue in ("hyperliquid", "deribit") or (venue == "bybit-linear" and mode == kb.CROSS):
        assert (liqs[:, kb.LIQ_PARTIAL] > 0.0).any()
    if venue == "binance-usdm":
        assert (liqs[:, kb.LIQ_TAKEN] > 0.0).all()
    for a, b in zip(py, nb, strict=True):
        np.testing.assert_array_equal(a, b)
