"""Synthetic bar frames and margin-evaluator helpers for the multi-instrument backtest tests
(extending tests/backtest/engine/bt_engine_helpers.py: its ``frame`` is reused)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from levguard.backtest.engine import BacktestResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from bt_engine_helpers import frame

__all__ = [
    "PERP",
    "SPOT",
    "conservation",
    "crash_frame",
    "cross_lps",
    "frame",
    "mark_close",
    "random_frame",
    "settlements",
]

PERP = "BTCUSDT"
SPOT = "BTCUSDT-SPOT"


def random_frame(
    n: int = 600,
    seed: int = 1,
    sigma: float = 0.004,
    funding_every: int = 8,
    start: float = 30_000.0,
    marks: bool = False,
) -> pd.DataFrame:
    """A random walk with 8-hourly funding of random sign; with ``marks`` a mark-price OHLC
    slightly off the last price."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    f = np.full(n, np.nan)
    f[::funding_every] = rng.normal(0.0001, 0.0002, f[::funding_every].shape[0])
    df = frame(close, wick=0.003, funding=f)
    df["volume"] = rng.uniform(50.0, 500.0, n)
    if marks:
        basis = 1.0 + rng.normal(0.0, 0.0003, n)
        df["mark_open"] = df["open"] * basis
        df["mark_close"] = df["close"] * np.r_[basis[1:], basis[-1]]
        df["mark_high"] = np.maximum(df["mark_open"], df["mark_close"]) * 1.002
        df["mark_low"] = np.minimum(df["mark_open"], df["mark_close"]) * 0.998
    return df


def crash_frame(
    n_flat: int = 10, n_down: int = 30, step: float = 0.01, wick: float = 0.005, n: int | None = None
) -> pd.DataFrame:
    """Flat at 100 for ``n_flat`` bars (no wicks), then a steady decline of ``step`` per bar
    (then flat again up to ``n`` bars)."""
    close = np.r_[np.full(n_flat, 100.0), 100.0 * (1 - step) ** np.arange(1, n_down + 1)]
    if n is not None and n > close.shape[0]:
        close = np.r_[close, np.full(n - close.shape[0], close[-1])]
    o = np.r_[close[0], close[:-1]]
    lo = np.minimum(o, close) * (1 - wick)
    hi = np.maximum(o, close) * (1 + wick)
    lo[:n_flat] = close[:n_flat]
    hi[:n_flat] = close[:n_flat]
    return frame(close, open_=o, low=lo, high=hi, volume=1e6)


def settlements(n: int, rate: float, every: int = 8) -> np.ndarray:
    """A funding column: ``rate`` every ``every`` bars from bar 0, NaN between."""
    f = np.full(n, np.nan)
    f[::every] = rate
    return f


def mark_close(df: pd.DataFrame) -> pd.Series:
    """The mark close the engine marks equity at (the last close without mark columns)."""
    return df["mark_close"] if "mark_close" in df.columns else df["close"]


def cross_lps(spec_positions: list[dict[str, Any]], wallet: float, venue: str = "binance-usdm") -> list[float]:
    """Liquidation prices of a cross account's positions from the core margin evaluator."""
    import levguard

    report = levguard.evaluate_account(
        {"venue": venue, "wallet_balance": wallet, "margin_mode": "cross", "positions": spec_positions}
    )
    out = []
    for p in report.positions:
        assert p.liquidation_price is not None
        out.append(float(p.liquidation_price))
    return out


def conservation(
    res: BacktestResult, frames: dict[str, pd.DataFrame], e0: float, inverse: frozenset[str] = frozenset()
) -> tuple[float, float]:
    """(equity_T - equity_0, realised + unrealised PnL - fees - funding + bad debt) from the
    result's tables, PnL as cash flows of the fills (linear: ``-dq * px``; inverse, in coin:
    ``dq / px``), liquidations closing their signed size at their price and the final position
    valued at its mark close."""
    pnl = 0.0
    for sym, df in frames.items():
        tr = res.trades[res.trades["symbol"] == sym]
        lq = res.liquidations[res.liquidations["symbol"] == sym]
        closing = -np.where(lq["side"] == "long", lq["qty"], -lq["qty"])  # the fill that closes
        q_t = float(res.instruments[sym]["qty"].iloc[-1])
        m_t = float(mark_close(df).iloc[-1])
        if sym in inverse:
            pnl += float((tr["qty"] / tr["price"]).sum() + (closing / lq["price"]).sum()) - q_t / m_t
        else:
            pnl += float(-(tr["qty"] * tr["price"]).sum() - (closing * lq["price"]).sum()) + q_t * m_t
    rhs = pnl - float(res.fees.sum()) - float(res.funding.sum()) + float(res.liquidations["bad_debt"].sum())
    return float(res.equity.iloc[-1] - e0), rhs
