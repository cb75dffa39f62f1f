"""Synthetic bar frames for the backtest-engine tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def frame(
    close: np.ndarray,
    *,
    open_: np.ndarray | None = None,
    wick: float = 0.002,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    volume: float = 1_000.0,
    funding: np.ndarray | None = None,
    freq: str = "1h",
) -> pd.DataFrame:
    """Bars with the given closes; open = previous close unless given; wicks of ``wick``."""
    close = np.asarray(close, dtype=float)
    o = np.r_[close[0], close[:-1]] if open_ is None else np.asarray(open_, dtype=float)
    h = np.maximum(o, close) * (1 + wick) if high is None else high
    lo = np.minimum(o, close) * (1 - wick) if low is None else low
    idx = pd.date_range("2024-01-01", periods=close.shape[0], freq=freq, tz="UTC")
    df = pd.DataFrame({"open": o, "high": h, "low": lo, "close": close, "volume": volume}, index=idx)
    if funding is not None:
        df["funding_rate"] = funding
    return df


def random_frame(n: int = 600, seed: int = 1, sigma: float = 0.004, funding_every: int = 8) -> pd.DataFrame:
    """A random walk with 8-hourly funding of random sign."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    f = np.full(n, np.nan)
    f[::funding_every] = rng.normal(0.0001, 0.0002, f[::funding_every].shape[0])
    df = frame(close, wick=0.003, funding=f)
    df["volume"] = rng.uniform(50.0, 500.0, n)
    return df


def crash_frame(n_flat: int = 10, n_down: int = 30, step: float = 0.01, wick: float = 0.005) -> pd.DataFrame:
    """Flat at 100 for ``n_flat`` bars (no wicks), then a steady decline of ``step`` per bar."""
    close = np.r_[np.full(n_flat, 100.0), 100.0 * (1 - step) ** np.arange(1, n_down + 1)]
    o = np.r_[close[0], close[:-1]]
    lo = np.minimum(o, close) * (1 - wick)
    hi = np.maximum(o, close) * (1 + wick)
    lo[:n_flat] = close[:n_flat]
    hi[:n_flat] = close[:n_flat]
    return frame(close, open_=o, low=lo, high=hi, volume=1e6)


def evaluate_lp(qty: float, entry: float, wallet: float, venue: str = "binance-usdm") -> float:
    """Liquidation price of a one-position cross account from the core margin evaluator."""
    import levguard

    report = levguard.evaluate_account(
        {
            "venue": venue,
            "wallet_balance": wallet,
            "margin_mode": "cross",
            "positions": [{"symbol": "BTCUSDT", "qty": qty, "entry_price": entry, "mark_price": entry}],
        }
    )
    lp = report.positions[0].liquidation_price
    assert lp is not None
    return float(lp)
