"""The backtest kernels: compiled twins equal the plain-Python ones, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bt_engine_helpers import random_frame

from levguard.core.rules import get_venue
from levguard.kernels import backtest as kb
from levguard.kernels import liquidation as kl
from levguard.kernels._jit import NUMBA_DISABLED
from levguard.kernels.backtest_records import (
    CONFIG_DTYPE,
    INST_DTYPE,
    ContractKind,
    Execution,
    MarginMode,
    account_out,
    market_of,
    positions_out,
    tiers_of,
)

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
    tier_rows = np.array(
        [
            [50_000.0, 0.004, 0.0, 125.0],
            [600_000.0, 0.005, 50.0, 50.0],
            [np.inf, 0.01, 3050.0, 20.0],
            [5_000.0, 0.005, 0.0, 100.0],
            [np.inf, 0.01, 25.0, 25.0],
            [np.inf, 0.0, 0.0, 1.0],
        ]
    )
    tiers = tiers_of(tier_rows)
    inst = np.zeros(3, dtype=INST_DTYPE)
    inst["kind"] = [ContractKind.LINEAR, ContractKind.INVERSE, ContractKind.SPOT]
    inst["weight"] = [0.4, 0.3, 0.3]
    inst["taker"] = 0.0005
    inst["maker"] = 0.0002
    inst["liq_fee"] = 0.005
    inst["fee_in_mm"][:2] = 0.0005 if mm_at_entry else 0.0
    inst["mm_at_entry"][:2] = mm_at_entry
    inst["tier_start"] = [0, 3, 5]
    inst["tier_stop"] = [3, 5, 6]
    cfg = np.zeros(1, dtype=CONFIG_DTYPE)[0]
    cfg["initial_equity"] = 10_000.0
    cfg["margin_mode"] = mode
    cfg["slip_bps"] = 2.0
    cfg["impact"] = 0.1
    cfg["band"] = 0.1
    cfg["min_trade"] = 10.0
    cfg["max_step"] = 5.0
    cfg["stop_loss"] = 0.04 if stops else 0.0
    cfg["take_profit"] = 0.06 if stops else 0.0
    cfg["liquidation_first"] = liq_first
    cfg["cooldown"] = 3
    cfg["execution"] = execution
    cfg["limit_offset"] = 1e-4
    cfg["check_im"] = True
    if overlay:
        cfg["dd_max"] = 0.5
        cfg["dd_base"] = 20.0
        cfg["dd_power"] = 2.0
        cfg["cppi_floor"] = 0.3
        cfg["cppi_mult"] = 8.0
        cfg["cppi_ratchet"] = True
        cfg["cppi_max"] = 30.0
        cfg["cppi_ref"] = 10_000.0
    return market_of(mkt), direction, lev, inst, tiers, cfg


def _run(fn: object, args: tuple[object, ...]) -> tuple[Any, ...]:
    # (account (5, T), positions (6, T, K), trade records, liquidation records, Counts).
    acct = account_out(N)
    pos = positions_out(N, 3)
    trades = np.zeros(kb.trade_capacity(N, 3), dtype=kb.TRADE_DTYPE)
    liqs = np.zeros(kb.liq_capacity(N, 3), dtype=kb.LIQ_DTYPE)
    counts = fn(*args, acct, pos, trades, liqs)  # type: ignore[operator]
    return np.stack(acct), np.stack(pos), trades[: counts.trades], liqs[: counts.liqs], counts


def _columns(result: tuple[Any, ...]) -> list[np.ndarray]:
    # Every output as plain arrays, record arrays field by field (so NaNs compare equal).
    out: list[np.ndarray] = []
    for part in result:
        names = getattr(getattr(part, "dtype", None), "names", None)
        out.extend([part[n] for n in names] if names else [np.asarray(part)])
    return out


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@pytest.mark.parametrize(
    ("mode", "mm_at_entry", "liq_first", "execution", "overlay", "stops", "liquidates"),
    [
        (MarginMode.ISOLATED, False, True, Execution.MARKET, False, True, True),
        (MarginMode.CROSS, False, True, Execution.MARKET, False, False, True),
        (MarginMode.CROSS, False, True, Execution.MARKET, True, True, False),
        (MarginMode.CROSS, True, False, Execution.LIMIT, False, True, False),
        (MarginMode.ISOLATED, True, False, Execution.LIMIT, True, True, False),
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
    for a, b in zip(_columns(py), _columns(nb), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: sweep_nb is sweep_py")
def test_sweep_py_and_nb_agree_and_equal_single_runs() -> None:
    mkt, direction, lev, inst, tiers, cfg = _inputs(MarginMode.CROSS, False, True, Execution.MARKET, False)
    directions = np.stack([direction, -direction])
    leverages = np.stack([lev, lev / 4.0, np.full_like(lev, 3.0)])
    insts = inst[None].copy()
    cfgs = np.array([cfg, cfg, cfg], dtype=CONFIG_DTYPE)
    cfgs[1]["margin_mode"] = MarginMode.ISOLATED
    cfgs[2]["stop_loss"] = 0.0
    index = np.array([(0, 0, 0), (1, 1, 0), (0, 2, 0)], dtype=kb.SELECT_DTYPE)
    out_py = np.zeros(3, dtype=kb.STATS_DTYPE)
    out_nb = np.zeros(3, dtype=kb.STATS_DTYPE)
    kb.sweep_py(mkt, directions, leverages, insts, tiers, cfgs, index, 8760.0, out_py, 0)
    kb.sweep_nb(mkt, directions, leverages, insts, tiers, cfgs, index, 8760.0, out_nb, 0)
    for a, b in zip(_columns((out_py,)), _columns((out_nb,)), strict=True):
        np.testing.assert_array_equal(a, b)
    for c in range(3):
        acct, _pos, _tr, liqs, _counts = _run(
            kb.simulate_nb,
            (mkt, directions[index[c]["strategy"]], leverages[index[c]["policy"]], inst, tiers, cfgs[c]),
        )
        assert out_nb[c]["final_equity"] == acct[0, -1]  # AccountOut.equity
        assert out_nb[c]["n_liquidations"] == np.count_nonzero(liqs["qty"])  # settlement rows not
        assert out_nb[c]["bad_debt"] == pytest.approx(liqs["bad_debt"].sum())


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@pytest.mark.parametrize("venue", ["binance-usdm", "hyperliquid", "deribit", "bybit-linear", "dydx-v4"])
@pytest.mark.parametrize("mode", [MarginMode.ISOLATED, MarginMode.CROSS])
def test_every_liquidation_rule_agrees_compiled_and_python(venue: str, mode: int) -> None:
    # Each venue's outcome rule (takeover, book, slices with a backstop, incremental restore,
    # risk-limit step-down) through the same inputs; the minimum order makes ruin reachable.
    mkt, direction, lev, inst, tiers, cfg = _inputs(
        mode, venue == "bybit-linear", True, Execution.MARKET, False, stops=False
    )
    # A fee below the test tiers' first maintenance rate, so incremental closes can restore it.
    fee = 0.003
    rule = get_venue(venue).liquidation.vector(fee)
    if venue == "hyperliquid":
        rule[kl.RULE_MIN_NOTIONAL] = 1_000.0  # slice the test's small positions
    inst["rule"] = rule
    inst["liq_fee"] = fee
    inst["strict"] = get_venue(venue).strict_trigger  # dYdX, Hyperliquid: liquidated below the MM
    inst["min_notional"] = 5.0
    if venue == "deribit":
        # A rate that grows with the size on the linear leg (maintenance, liquidation price,
        # the restore's size term, the initial-margin check and the minimum order's margin).
        inst["size_coef"][0] = 0.0005
        inst["min_qty"][0] = 0.001
    args = (mkt, direction, lev, inst, tiers, cfg)
    py = _run(kb.simulate_py, args)
    nb = _run(kb.simulate_nb, args)
    liqs = py[3]
    assert liqs.shape[0] > 0
    if venue in ("hyperliquid", "deribit") or (venue == "bybit-linear" and mode == MarginMode.CROSS):
        assert liqs["partial"].any()
    if venue == "binance-usdm":
        assert liqs["taken"].all()
    for a, b in zip(_columns(py), _columns(nb), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@pytest.mark.parametrize("venue", ["okx", "bitmex"])
@pytest.mark.parametrize("mode", [MarginMode.ISOLATED, MarginMode.CROSS])
def test_tiers_by_size_agree_compiled_and_python(venue: str, mode: int) -> None:
    # Tiers by position size (OKX's contracts) on the linear and inverse legs: the tier of |qty|
    # in the maintenance margin, the liquidation price, the step-downs and the initial margin.
    mkt, direction, lev, inst, tiers, cfg = _inputs(mode, venue == "bitmex", True, Execution.MARKET, False, stops=False)
    # The notional rows' rates and leverages over caps that are sizes (BTC, then the inverse
    # leg's USD), without the amounts a deduction would carry.
    rows = np.column_stack([[1.0, 3.0, np.inf, 50_000.0, np.inf, np.inf], tiers.mmr, np.zeros(6), tiers.max_lev])
    tiers = tiers_of(rows)
    inst["by_size"][:2] = True
    inst["rule"] = get_venue(venue).liquidation.vector(0.003)
    inst["liq_fee"] = 0.003
    args = (mkt, direction, lev, inst, tiers, cfg)
    py = _run(kb.simulate_py, args)
    nb = _run(kb.simulate_nb, args)
    assert py[3].shape[0] > 1  # liquidations, both legs
    held = np.abs(py[1][0])  # PositionsOut.qty
    assert held[:, 0].max() > 3.0 * (1.0 - 1e-9)  # the top of tier 2 by size (a clip), or tier 3
    assert (held[:, 1] > 50_000.0).any()
    for a, b in zip(_columns(py), _columns(nb), strict=True):
        np.testing.assert_array_equal(a, b)
