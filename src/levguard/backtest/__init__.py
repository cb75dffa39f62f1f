"""Leveraged strategy simulation over history (L3).

:mod:`levguard.backtest.calibrate` holds the interim vectorized evaluator of leverage-policy
paths over returns (:func:`~levguard.backtest.calibrate.evaluate_path`) and the parameter
searches and walk-forward calibration built on it.  :func:`levguard.backtest.engine.run` is the
event-driven backtester of one leveraged perpetual (fills at the next open, funding, intrabar
liquidation at the venue liquidation price); :mod:`levguard.backtest.metrics` scores its results.
"""
