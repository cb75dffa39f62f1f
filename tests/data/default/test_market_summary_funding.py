"""The demo's embedded-market summary states mean funding per 8 h whatever the print interval."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from levguard.cli import main
from levguard.data.frames import make_funding_frame, make_ohlcv_frame
from levguard.data.perp import funding_mean_per_8h

H = 3_600_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00Z
PER_8H = 1e-4


def _market(hours: int) -> SimpleNamespace:
    """Ten days of flat-ish 1h bars with a 20 % fall, and funding printed every ``hours`` hours
    at 1e-4 per 8 h (1.25e-5 per 1h print, 5e-5 per 4h print)."""
    n = 240
    ts = T0 + H * np.arange(n, dtype=np.int64)
    close = 50_000 * np.exp(np.linspace(0.0, 0.05, n))
    close[120:130] *= np.linspace(1.0, 0.8, 10)
    close[130:] *= 0.8
    bars = make_ohlcv_frame(
        ts, close, close * 1.001, close * 0.999, close, np.ones(n), symbol="X", interval="1h", source="test"
    )
    prints = T0 + hours * H * np.arange(1, n // hours, dtype=np.int64)
    funding = make_funding_frame(prints, np.full(prints.size, PER_8H * hours / 8), symbol="X", source="test")
    crashes = pd.DataFrame({"name": ["fall"], "start": [bars.index[120]], "trough": [bars.index[129]], "depth": [0.2]})
    return SimpleNamespace(ohlcv=bars, mark=bars.copy(), funding=funding, crashes=crashes)


@pytest.mark.parametrize("hours", [8, 4, 1])
def test_the_embedded_markets_mean_funding_is_per_8h(monkeypatch: pytest.MonkeyPatch, hours: int) -> None:
    # It was the plain mean of the prints: 1.25e-5 "/8h" for 1h prints of 1e-4 per 8 h.
    monkeypatch.setattr("levguard.data.default.default_market", lambda: _market(hours))
    summary = main._market_summary()
    assert summary["funding_mean_per_8h"] == pytest.approx(PER_8H, rel=1e-12)


def test_funding_mean_per_8h_weighs_each_print_by_the_time_it_pays_for() -> None:
    # 8h prints for 4 days, then 1h prints for 1 day, all at 1e-4 per 8 h.
    first = T0 + 8 * H * np.arange(13, dtype=np.int64)
    then = first[-1] + H * np.arange(1, 25, dtype=np.int64)
    ts = np.concatenate([first, then])
    rates = np.concatenate([np.full(first.size, 1e-4), np.full(then.size, 1.25e-5)])
    frame = make_funding_frame(ts, rates, symbol="X", source="test")
    assert funding_mean_per_8h(frame["funding_rate"]) == pytest.approx(1e-4, rel=1e-12)
    assert funding_mean_per_8h(frame["funding_rate"].iloc[:0]) is None
    assert funding_mean_per_8h(frame["funding_rate"].iloc[:1]) == 1e-4
