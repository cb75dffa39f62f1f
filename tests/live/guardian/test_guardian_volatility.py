"""The guardian's volatility forecast (issue 15): the injected ``volatility(frame)`` on the history's
closed bars, computed when the forecaster is refitted and cached until the next refit; the
configured ``vol`` or the EWMA of the marks only while no bars are known."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from guardian_helpers import guardian, store, venue

from levguard.cli.guard import build
from levguard.config.guardian import parse_guardian_config
from levguard.errors import DataError
from levguard.live.forecasts import LiquidationForecasts
from levguard.risk.report import volatility_forecast

HOUR = 3_600_000_000_000
T0 = pd.Timestamp("2024-03-01", tz="UTC").value


def _frame(hours: int, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.006, hours)))
    idx = pd.date_range(pd.Timestamp(T0, tz="UTC"), periods=hours, freq="1h")
    out = pd.DataFrame({"open": close, "high": close * 1.003, "low": close * 0.996, "close": close}, index=idx)
    out.attrs = {"interval": "1h", "source": "test bars"}
    return out


class Counting:
    """A volatility source recording the frames it was given."""

    def __init__(self, value: float = 0.5) -> None:
        self.value = value
        self.frames: list[pd.DataFrame] = []

    def __call__(self, frame: Any) -> float:
        self.frames.append(frame)
        return self.value + 0.01 * len(self.frames)


def test_computed_at_each_refit_on_closed_bars_and_cached_in_between() -> None:
    frame = _frame(24 * 3)
    vol = Counting()
    f = LiquidationForecasts(lambda symbol: frame, volatility=vol)
    assert f.volatility("BTC") is None  # before the first refit
    last_open = int(frame.index[-1].value)
    now = last_open + HOUR // 2  # the last bar is still open: left out
    f.forecaster("BTC", now, 0.8)
    assert f.volatility("BTC") == pytest.approx(0.51)
    (seen,) = vol.frames
    assert len(seen) == len(frame) - 1
    assert seen.index[-1] == frame.index[-2]
    assert seen.attrs == frame.attrs
    f.forecaster("BTC", now + HOUR // 4, 0.8)  # the same hour: no new forecast
    f.forecaster("BTC", now + HOUR // 4, 0.7)  # another fallback vol refits nothing either
    assert len(vol.frames) == 1
    assert f.volatility("BTC") == pytest.approx(0.51)
    f.forecaster("BTC", now + HOUR, 0.8)  # the next hour: refitted on every bar (now closed)
    assert len(vol.frames) == 2
    assert len(vol.frames[1]) == len(frame)
    assert f.volatility("BTC") == pytest.approx(0.52)


def test_none_without_bars_a_function_or_a_positive_forecast() -> None:
    frame = _frame(48)
    now = int(frame.index[-1].value) + HOUR
    assert LiquidationForecasts(lambda symbol: frame).forecaster("BTC", now, 0.8) is not None
    no_fn = LiquidationForecasts(lambda symbol: frame)
    no_fn.forecaster("BTC", now, 0.8)
    assert no_fn.volatility("BTC") is None
    no_bars = LiquidationForecasts(lambda symbol: None, volatility=Counting())
    no_bars.forecaster("BTC", now, 0.8)
    assert no_bars.volatility("BTC") is None

    def failing(frame: Any) -> float:
        raise DataError("GARCH did not converge")

    for fn in (failing, lambda frame: 0.0, lambda frame: float("nan")):
        g = LiquidationForecasts(lambda symbol: frame, volatility=fn)
        g.forecaster("BTC", now, 0.8)
        assert g.volatility("BTC") is None


def test_guardian_volatility_is_the_forecast_of_its_bars_else_the_fallback(tmp_path: Path) -> None:
    frame = _frame(24 * 100) * 600.0
    frame.attrs = {"interval": "1h"}
    v = venue(drop=0.05, ticks=5, start_ns=int(frame.index[-1].value) + HOUR)
    g = guardian(v, store(tmp_path), bars=lambda symbol: frame, volatility=volatility_forecast, vol=0.8)
    assert g.volatility("paper", "BTCUSDT") == 0.8  # no cycle yet: the configured vol
    asyncio.run(g.cycle())
    got = g.volatility("paper", "BTCUSDT")
    assert got == volatility_forecast(frame) != 0.8
    g.close()
    # Without bars: the configured vol, as the closed-form fallback uses.
    (tmp_path / "b").mkdir()
    g = guardian(venue(drop=0.05, ticks=5), store(tmp_path / "b"), volatility=volatility_forecast, vol=0.7)
    asyncio.run(g.cycle())
    assert g.volatility("paper", "BTCUSDT") == 0.7
    g.close()


def test_levguard_guard_wires_the_volatility_forecast(tmp_path: Path) -> None:
    raw = {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "accounts": [
            {
                "name": "p",
                "venue": {"type": "paper", "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000}]},
            }
        ],
    }
    g, _papers = build(parse_guardian_config(raw), live=False)
    (setup,) = g.accounts
    assert setup.forecasts is not None
    assert setup.forecasts.volatility_of is volatility_forecast
    g.close()


def test_volatilities_read_from_another_thread_while_the_guardian_refits() -> None:
    # The service's policy trial runs the sizer (volatilities()) on a worker thread while the
    # guardian's forecaster() adds symbols: the read never sees the dict change size mid-iteration.
    import sys
    import threading

    lf = LiquidationForecasts(None)
    for i in range(2000):
        lf.forecaster(f"A{i}", T0, 0.5)
    errors: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                lf.volatilities()
            except RuntimeError as exc:  # "dictionary changed size during iteration"
                errors.append(str(exc))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(3000):
            lf.forecaster(f"S{i}", T0, 0.5)
    finally:
        done.set()
        reader.join()
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(lf._vols) == 5000
