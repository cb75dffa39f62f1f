"""The sweep kernel: many configurations of :func:`levguard.kernels.backtest.simulate_py` on one
market, in parallel over configurations, keeping each run's statistics only.

Written once in plain Python (:func:`sweep_py`) and compiled by numba with ``prange``
(:data:`sweep_nb`); the pandas-facing wrapper is :func:`levguard.backtest.sweeps.sweep`.
"""

from __future__ import annotations

import numpy as np

from levguard.kernels._jit import jit_parallel, prange
from levguard.kernels.backtest import simulate_py
from levguard.kernels.backtest_metrics import metrics_into
from levguard.kernels.backtest_orders import n_liquidation_rows, traded_notional
from levguard.kernels.backtest_records import (
    LIQ_DTYPE,
    TRADE_DTYPE,
    AccountOut,
    Market,
    PositionsOut,
    Tiers,
    liq_capacity,
    trade_capacity,
)
from levguard.typing import Float64Array2D

__all__ = ["SELECT_DTYPE", "sweep_nb", "sweep_py"]

SELECT_DTYPE = np.dtype([("strategy", np.int64), ("policy", np.int64), ("inst", np.int64)])
"""Per sweep configuration: the rows of ``directions``, ``leverages`` and ``insts`` it uses."""


def sweep_py(
    market: Market,
    directions: Float64Array2D,
    leverages: Float64Array2D,
    insts: np.ndarray,
    tiers: Tiers,
    cfgs: np.ndarray,
    select: np.ndarray,
    periods_per_year: float,
    out_stats: np.ndarray,
    lanes: int,
) -> None:
    """Run ``C`` configurations of :func:`simulate_py` on one market, in parallel over configurations.

    Parameters
    ----------
    market : Market
        The bars, shared by every configuration.
    directions : (S, T, K) float64
        Candidate direction arrays (strategies).
    leverages : (P, T, K) float64
        Candidate target-leverage arrays (policies and their parameters).
    insts : (I, K) INST_DTYPE
        Candidate instrument settings (fees, weights...).
    tiers : Tiers
        Tier rows referenced by every ``insts`` entry.
    cfgs : (C,) CONFIG_DTYPE
        One account configuration per run.
    select : (C,) SELECT_DTYPE
        Per configuration: the rows of ``directions``, ``leverages`` and ``insts`` it uses.
    periods_per_year : float
        Bars per year (annualisation of the metrics).
    out_stats : (C,) STATS_DTYPE
        Per configuration: :func:`~levguard.kernels.backtest_metrics.metrics_into`'s metrics
        (on the bars up to the ruin when the run is ruined), final equity, bad debt, the number
        of orders clipped by the initial-margin check and the ruin bar (-1: never).
    lanes : int
        Parallel lanes (0: eight); each allocates its work buffers once and runs every
        ``lanes``-th configuration.  Give at least the number of numba threads.  Required: an
        omitted argument is another numba signature (another compile).

    Notes
    -----
    Configurations are independent (a lane's buffers are rewritten by each run before they are
    read), so results depend neither on the number of threads nor on ``lanes`` and equal one
    :func:`simulate_py` call per configuration.
    """
    n_c = cfgs.shape[0]
    n_t = market.close.shape[0]
    n_inst = market.close.shape[1]
    n_lanes = min(n_c, lanes) if lanes > 0 else min(n_c, 8)
    for lane in prange(n_lanes):
        # Each lane allocates its buffers once and runs configurations lane, lane + n_lanes, ...:
        # every cell of acct and pos is written each bar and event rows are read only below the
        # counts, so a reused buffer gives the same result as a fresh one, without the page faults
        # of fresh memory (4 MB per configuration of 50,000 bars).
        a = np.empty((5, n_t))
        acct = AccountOut(a[0], a[1][:1], a[2], a[3], a[4])
        p = np.empty((6, 1, n_inst))
        pos = PositionsOut(p[0], p[1], p[2], p[3], p[4], p[5])
        trades = np.empty(trade_capacity(n_t, n_inst), dtype=TRADE_DTYPE)
        liqs = np.empty(liq_capacity(n_t, n_inst), dtype=LIQ_DTYPE)
        for c in range(lane, n_c, n_lanes):
            sel = select[c]
            inst = insts[sel["inst"]]
            cfg = cfgs[c]
            counts = simulate_py(
                market, directions[sel["strategy"]], leverages[sel["policy"]], inst, tiers, cfg, acct, pos, trades, liqs
            )
            traded = traded_notional(trades, counts.trades, liqs, counts.liqs, inst)
            row = out_stats[c]
            ruined = counts.ruin_bar >= 0
            n_eff = counts.ruin_bar + 1 if ruined else n_t
            run = AccountOut(
                acct.equity[:n_eff], acct.cash, acct.leverage[:n_eff], acct.funding[:n_eff], acct.fees[:n_eff]
            )
            n_liq = n_liquidation_rows(liqs, counts.liqs)
            metrics_into(run, cfg["initial_equity"], periods_per_year, n_liq, traded, ruined, row)
            bad = 0.0
            for i in range(counts.liqs):
                bad += liqs[i]["bad_debt"]
            row["bad_debt"] = bad
            row["orders_clipped"] = counts.clipped
            row["limit_orders_unfilled"] = counts.unfilled
            row["orders_below_minimum"] = counts.below_min
            row["ruin_bar"] = counts.ruin_bar


sweep_nb = jit_parallel(sweep_py)
