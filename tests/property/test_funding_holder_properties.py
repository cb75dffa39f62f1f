"""Funding is charged to whoever holds the position at each print, on any bar length.

Binance: "traders are only liable for funding payments if they have open positions at the
pre-specified funding times" (FAQ 360033525031).  The backtester charges a bar's
``funding_rate`` at its open to the position carried from the bar before (docs/backtest.md), so
``perp_frame`` moves a print that settles inside a bar to the next open
(:func:`levguard.data.resample.funding_bars`).  Prints were summed into the bar they fell in: on
6h bars the 08:00 and 16:00 prints were charged at 06:00 and 12:00 to the position held before
those bars' trades (BTCUSDT 2021-H1, a long held 12:00-18:00 only: 0 paid against the venue's
933.14 USDT), silently.  With a flat price the amount is exact: the sum over prints of the
holder's quantity x price x rate.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.backtest.engine import run
from levguard.data.frames import make_funding_frame, make_ohlcv_frame
from levguard.data.perp import perp_frame

H = 3_600 * 10**9
T0 = 1_609_459_200 * 10**9  # 2021-01-01 00:00 UTC
PRICE = 100.0


def _holders(qty: np.ndarray, opens: np.ndarray, bar_ns: int, prints: np.ndarray) -> np.ndarray:
    # The quantity held at each print (0 for one inside the last bar: no open charges it).
    out = np.zeros(prints.shape[0])
    for i, t in enumerate(prints):
        k = int(np.searchsorted(opens, t, side="right")) - 1
        if k < 0 or (k == len(opens) - 1 and t - opens[k] > 60 * 10**9):
            continue
        on_open = t - opens[k] <= min(60 * 10**9, bar_ns // 2)
        out[i] = (qty[k - 1] if k > 0 else 0.0) if on_open else qty[k]
    return out


@settings(max_examples=60, deadline=None)
@given(
    bar_h=st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24]),
    every_h=st.sampled_from([1, 4, 8]),
    late_ms=st.sampled_from([0, 16]),
    n=st.integers(6, 30),
    seed=st.integers(0, 2**31 - 1),
)
def test_funding_paid_is_the_holders_at_each_print(bar_h: int, every_h: int, late_ms: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    opens = T0 + bar_h * H * np.arange(n)
    px = np.full(n, PRICE)
    bars = make_ohlcv_frame(opens, px, px, px, px, np.ones(n), symbol="BTCUSDT", interval=f"{bar_h}h", source="t")
    count = n * bar_h // every_h
    prints = T0 + every_h * H * np.arange(count) + late_ms * 10**6
    rates = rng.uniform(-1e-3, 1e-3, count)
    frame = perp_frame(bars, None, make_funding_frame(prints, rates, symbol="BTCUSDT", source="f"))
    directions = rng.choice([-1.0, 0.0, 1.0], size=n)
    r = run(frame, directions, 1.0, venue="binance-usdm", symbol="BTCUSDT", rebalance="never", fees=0.0)
    qty = r.positions["qty"].to_numpy()
    expected = float(np.sum(_holders(qty, opens, bar_h * H, prints) * PRICE * rates))
    assert float(r.funding.sum()) == pytest.approx(expected, rel=1e-9, abs=1e-9)
