"""Leveraged strategy simulation over history (L3).

:mod:`levguard.backtest.calibrate` holds the interim vectorized evaluator of leverage-policy
paths over returns (:func:`~levguard.backtest.calibrate.evaluate_path`) and the parameter
searches and walk-forward calibration built on it.  The event-driven backtester comes later.
"""
