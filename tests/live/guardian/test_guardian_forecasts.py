"""The guardian's liquidation forecasters: hourly mark bars from a history and the marks seen,
one fit per hour, the closed-form fallback while too few bars are known (issue 13)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from guardian_helpers import guardian, store, venue

from levguard.cli.guard import build
from levguard.config.guardian import parse_guardian_config
from levguard.core.risk.excursion import ExcursionForecaster, GbmForecaster
from levguard.core.risk.forecast import HourlyBars, fit_forecaster
from levguard.core.risk.liquidation import prob_liquidation
from levguard.data.frames import hourly_bars
from levguard.errors import ConfigError, DataError, InputError
from levguard.live.forecasts import LiquidationForecasts
from levguard.live.setup import AccountSetup

HOUR = 3_600_000_000_000
T0 = pd.Timestamp("2024-03-01", tz="UTC").value


def _frame(hours: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.006, hours)))
    idx = pd.date_range(pd.Timestamp(T0, tz="UTC"), periods=hours, freq="1h")
    return pd.DataFrame({"open": close, "high": close * 1.003, "low": close * 0.996, "close": close}, index=idx)


def test_marks_seen_become_hourly_bars_after_the_first_partial_hour() -> None:
    f = LiquidationForecasts(min_bars=2)
    start = T0 + HOUR // 2  # the guardian starts mid-hour: that hour is partial
    for k in range(4 * 60):
        f.observe("BTC", start + k * 60_000_000_000, 100.0 + (k % 7) - 3.0 * (k // 60))
    bars = f.hourly_bars("BTC", start + 4 * 60 * 60_000_000_000)
    assert bars is not None
    assert bars.start_ns == T0 + HOUR  # the partial hour is left out
    assert bars.n == 3  # three whole hours closed; the current one is not
    seen = np.array([100.0 + (k % 7) - 3.0 * (k // 60) for k in range(4 * 60)])
    for h in range(3):
        minutes = seen[30 + 60 * h : 90 + 60 * h]
        assert np.exp(bars.log_high[h]) == pytest.approx(minutes.max())
        assert np.exp(bars.log_low[h]) == pytest.approx(minutes.min())
        assert np.exp(bars.log_close[h]) == pytest.approx(minutes[-1])


def test_fallback_until_enough_bars_then_one_fit_per_hour() -> None:
    f = LiquidationForecasts()  # min_bars 24
    rng = np.random.default_rng(0)
    price = 100.0
    t = T0
    kinds = []
    for _ in range(30 * 12):  # 30 hours, a mark every 5 minutes
        price *= float(np.exp(rng.normal(0.0, 0.002)))
        f.observe("BTC", t, price)
        kinds.append(type(f.forecaster("BTC", t, 0.8)).__name__)
        t += HOUR // 12
    # Marks from T0 on the hour: hour 0 is whole; 24 closed hours are known from hour 24 on.
    assert set(kinds[: 24 * 12]) == {"GbmForecaster"}
    assert set(kinds[24 * 12 :]) == {"ExcursionForecaster"}
    assert f.forecaster("BTC", T0, 0.5) == GbmForecaster(0.5)
    a = f.forecaster("BTC", T0 + 25 * HOUR + 5, 0.8)
    assert f.forecaster("BTC", T0 + 25 * HOUR + HOUR // 2, 0.8) is a  # cached within the hour
    b = f.forecaster("BTC", T0 + 26 * HOUR, 0.8)
    assert b is not a
    assert f.latest() == {"BTC": b}


def test_history_then_seen_hours() -> None:
    frame = _frame(24 * 40)
    f = LiquidationForecasts(lambda symbol: frame if symbol == "BTC" else None)
    end = T0 + 24 * 40 * HOUR
    now = end + 3 * HOUR + 60_000_000_000
    marks = []
    for k in range(0, 3 * 60 + 1):
        m = float(frame["close"].iloc[-1]) * (1.0 + 0.001 * np.sin(k / 5.0))
        marks.append(m)
        f.observe("BTC", end + k * 60_000_000_000, m)
    got = f.forecaster("BTC", now, 0.8)
    assert isinstance(got, ExcursionForecaster)
    # The same fit as on the history with the three whole hours seen after it.
    seen = np.array(marks[:180]).reshape(3, 60)
    ts = np.concatenate([frame.index.as_unit("ns").asi8, end + np.arange(3) * HOUR])
    high = np.concatenate([frame["high"].to_numpy(), seen.max(axis=1)])
    low = np.concatenate([frame["low"].to_numpy(), seen.min(axis=1)])
    close = np.concatenate([frame["close"].to_numpy(), seen[:, -1]])
    want = fit_forecaster(HourlyBars.from_arrays(ts, high, low, close), now)
    assert got.prob(1, 0.05, 24)[0] == want.prob(1, 0.05, 24)[0]
    # Another symbol without history nor marks: the fallback.
    assert f.forecaster("ETH", now, 0.7) == GbmForecaster(0.7)
    # Exactly the history (nothing seen after it): the fit on the frame itself.
    g = LiquidationForecasts(lambda symbol: frame)
    assert (
        g.forecaster("BTC", end, 0.8).prob(-1, 0.03, 168)[0]
        == fit_forecaster(hourly_bars(frame)).prob(-1, 0.03, 168)[0]
    )


def test_a_failing_history_falls_back_to_the_marks(caplog: pytest.LogCaptureFixture) -> None:
    def broken(symbol: str) -> pd.DataFrame:
        raise DataError("feed down")

    f = LiquidationForecasts(broken, min_bars=2)
    with caplog.at_level(logging.WARNING, logger="levguard.guardian"):
        assert f.forecaster("BTC", T0, 0.9) == GbmForecaster(0.9)
    assert "bars of BTC unavailable" in caplog.text
    with pytest.raises(InputError, match="min_bars"):
        LiquidationForecasts(min_bars=1)


def test_guardian_p_liq_without_bars_is_the_closed_form(tmp_path: Path) -> None:
    v = venue(drop=0.05, ticks=5)
    g = guardian(v, store(tmp_path), vol=0.7, horizon_days=2.0)
    reports = asyncio.run(g.cycle())
    (pos,) = reports[0]["positions"]
    assert isinstance(g.forecaster("paper", "BTCUSDT"), GbmForecaster)
    want = prob_liquidation("long", pos["mark"], pos["liquidation_price"], 0.7, 2.0)
    assert pos["p_liq"] == pytest.approx(want, rel=1e-12)
    g.close()


def test_guardian_reads_its_bars(tmp_path: Path) -> None:
    frame = _frame(24 * 100) * 600.0
    v = venue(drop=0.05, ticks=5, start_ns=int(frame.index[-1].value) + HOUR)
    g = guardian(v, store(tmp_path), bars=lambda symbol: frame)
    (rep,) = asyncio.run(g.cycle())
    f = g.forecaster("paper", "BTCUSDT")
    assert isinstance(f, ExcursionForecaster)
    (pos,) = rep["positions"]
    d = (pos["mark"] - pos["liquidation_price"]) / pos["mark"]
    assert pos["p_liq"] == fit_forecaster(hourly_bars(frame)).prob(1, d, 24)[0]
    g.close()


def test_setup_and_config_validation(tmp_path: Path) -> None:
    v = venue()
    with pytest.raises(InputError, match="horizon_days must be in"):
        AccountSetup(name="a", venue=v, horizon_days=45.0)
    with pytest.raises(InputError, match="forecast_model must be one of"):
        AccountSetup(name="a", venue=v, forecast_model="garch")
    raw = {
        "accounts": [
            {
                "name": "p",
                "venue": {"type": "paper", "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000}]},
                "horizon_days": 31,
            }
        ]
    }
    with pytest.raises(ConfigError, match="horizon_days"):
        parse_guardian_config(raw)
    # A history file per symbol, finer than hourly: aggregated per hour and read by the forecaster.
    minutes = pd.date_range("2024-01-01", periods=60 * 24 * 3, freq="1min", tz="UTC")
    close = 60_000.0 * np.exp(np.cumsum(np.random.default_rng(1).normal(0.0, 0.0005, minutes.size)))
    pd.DataFrame(
        {
            "timestamp": minutes,
            "open": close,
            "high": close * 1.0002,
            "low": close * 0.9998,
            "close": close,
            "volume": 1.0,
        }
    ).to_csv(tmp_path / "BTCUSDT_1m.csv", index=False)
    raw["accounts"][0]["horizon_days"] = 7
    raw["accounts"][0]["history"] = {"BTCUSDT": str(tmp_path / "BTCUSDT_1m.csv")}
    raw["database"] = f"sqlite:///{tmp_path / 'g.db'}"
    cfg = parse_guardian_config(raw)
    g, _papers = build(cfg, live=False)
    (setup,) = g.accounts
    assert setup.bars is not None
    hourly = setup.bars("BTCUSDT")
    assert len(hourly) == 72
    assert hourly["high"].iloc[0] == pytest.approx(close[:60].max() * 1.0002)
    assert setup.bars("ETHUSDT") is None
    g.close()


def test_a_flat_feed_gives_the_closed_form_not_a_zero_volatility() -> None:
    f = LiquidationForecasts(min_bars=2)
    for k in range(6 * 12):
        f.observe("BTC", T0 + k * (HOUR // 12), 60_000.0)
    assert f.hourly_bars("BTC", T0 + 6 * HOUR) is not None
    assert f.forecaster("BTC", T0 + 6 * HOUR, 0.8) == GbmForecaster(0.8)
