"""L3: leveraged strategy simulation over history.

* :func:`run` (:mod:`levguard.backtest.engine`): the event-driven backtester of leveraged
  perpetuals, one or several in one account (fills at the next open or limit fills, funding,
  intrabar liquidation at the venue liquidation price, isolated or cross margin, inverse
  contracts, spot legs, path-dependent policies on the run's own equity); :class:`BacktestResult`.
* :func:`sweep`, :func:`best`, :func:`walk_forward` (:mod:`levguard.backtest.sweeps`): many
  configurations on the same kernel, locally or on Dask, and walk-forward calibration on it.
* Strategies (:mod:`levguard.backtest.strategies`) and metrics (:mod:`levguard.backtest.metrics`).
* :mod:`levguard.backtest.calibrate` and :mod:`levguard.backtest.walkforward`: the fast vectorized
  evaluator of leverage-policy paths over returns alone, and its searches.

The names below are imported on first use.  See docs/backtest.md.
"""

from __future__ import annotations

from levguard.lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "run": "levguard.backtest.engine",
    "BacktestResult": "levguard.backtest.engine",
    "sweep": "levguard.backtest.sweeps",
    "best": "levguard.backtest.sweeps",
    "walk_forward": "levguard.backtest.sweeps",
    "WalkForward": "levguard.backtest.sweeps",
    "BuyAndHold": "levguard.backtest.strategies",
    "EmaCrossover": "levguard.backtest.strategies",
    "TimeSeriesMomentum": "levguard.backtest.strategies",
    "ZScoreMeanReversion": "levguard.backtest.strategies",
    "FundingCarry": "levguard.backtest.strategies",
    "compute_metrics": "levguard.backtest.metrics",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
