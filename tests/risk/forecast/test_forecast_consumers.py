"""The pieces every P(liq) consumer shares: distances, per-position forecasts, hourly bars (issue 13)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from forecast_markets import jumpy_bars

from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import annual_volatility, liquidation_distance, position_probabilities
from levguard.core.risk.liquidation import prob_liquidation_curve
from levguard.errors import InputError
from levguard.risk import liquidation_forecaster, liquidation_forecasts
from levguard.risk.forecast import to_hourly
from levguard.risk.report import risk_report, volatility_forecast
from levguard.sizing import size_account

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 20_000,
    "positions": [
        {"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10},
        {"symbol": "ETHUSDT", "qty": -30, "entry_price": 3_000, "mark_price": 3_050, "margin_mode": "isolated"},
    ],
}


def test_liquidation_distance() -> None:
    assert liquidation_distance("long", 100.0, 90.0) == pytest.approx(0.1)
    assert liquidation_distance(-1, 100.0, 125.0) == pytest.approx(0.25)
    assert liquidation_distance("long", 100.0, 101.0) == 0.0  # past it
    assert liquidation_distance("short", 100.0, 99.0) == 0.0
    for none in (None, math.nan, 0.0, -5.0, math.inf):
        assert liquidation_distance("long", 100.0, none) == math.inf
    with pytest.raises(InputError, match="mark must be finite and > 0"):
        liquidation_distance("long", 0.0, 90.0)
    with pytest.raises(InputError, match="side must be"):
        liquidation_distance("up", 100.0, 90.0)


def test_position_probabilities_edges_and_the_closed_form() -> None:
    g = GbmForecaster(0.8)
    assert list(position_probabilities(g, "long", 100.0, None, [1, 7])) == [0.0, 0.0]
    assert list(position_probabilities(g, "short", 100.0, 99.0, [1, 7])) == [1.0, 1.0]
    got = position_probabilities(g, "long", 61_000.0, 50_000.0, [1, 7, 30])
    want = prob_liquidation_curve("long", 61_000.0, 50_000.0, 0.8, (1, 7, 30))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert annual_volatility(g) == 0.8
    with pytest.raises(InputError, match="horizon_days must be in"):
        position_probabilities(g, "long", 100.0, 90.0, 31)


def test_to_hourly_aggregates_finer_bars_and_refuses_coarser() -> None:
    hourly = jumpy_bars(24 * 10, seed=4)
    assert to_hourly(hourly) is hourly
    idx = pd.date_range("2024-01-01", periods=60 * 30, freq="1min", tz="UTC")
    close = 100.0 + np.arange(idx.size) * 0.01
    fine = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close}, index=idx)
    fine["mark_open"], fine["mark_high"], fine["mark_low"], fine["mark_close"] = close, close + 2, close - 2, close
    out = to_hourly(fine.drop(index=idx[70:75]))
    assert len(out) == 30
    assert out["high"].iloc[1] == close[119] + 1
    assert out["low"].iloc[1] == close[60] - 1
    assert out["close"].iloc[1] == close[119]
    assert out["mark_high"].iloc[0] == close[59] + 2
    assert out.attrs["interval"] == "1h"
    daily = (
        jumpy_bars(24 * 10, seed=4).resample("1D").agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    )
    with pytest.raises(InputError, match="bars must be hourly or finer"):
        to_hourly(daily)


def test_risk_report_without_history_is_the_closed_form() -> None:
    rep = risk_report(SPEC, vol=0.6, n_sims=500).to_dict()
    info = rep["liquidation_forecast"]
    assert info["model"] == "gbm"
    assert info["annual_vol"] == 0.6
    btc = rep["accounts"][0]["prob_liquidation"][0]
    want = prob_liquidation_curve("long", 61_000.0, btc["liquidation_price"], 0.6, (1, 7, 30))
    np.testing.assert_allclose([btc["p_liq_1d"], btc["p_liq_7d"], btc["p_liq_30d"]], want, rtol=1e-12)


def test_risk_report_and_size_read_the_history_bars() -> None:
    bars = jumpy_bars(24 * 120, seed=8) * 600.0
    # The bars given as both assets' history: each position reads the history of its own asset
    # (a frame without a symbol is the history of a one-underlying book only).
    both = {"BTC": bars, "ETH": bars}
    rep = risk_report(SPEC, history=both, vol=0.6, n_sims=500).to_dict()
    assert rep["liquidation_forecast"]["model"] == "excursion"
    # --vol is the volatility of positions without a history: both have one, so VaR reads the
    # history's (as P(liq) does) and the unread --vol is said.
    assert rep["volatility"]["used"] == volatility_forecast(bars) != 0.6
    assert {r["vol"] for r in rep["accounts"][0]["position_var"]} == {volatility_forecast(bars)}
    assert any(n.startswith("--vol 0.6 not used") for n in rep["volatility"]["notes"])
    as_of = bars.index[-1] + pd.Timedelta("1h")
    f = liquidation_forecaster(bars)
    for row in rep["accounts"][0]["prob_liquidation"]:
        side = row["side"]
        d = liquidation_distance(side, row["mark_price"], row["liquidation_price"])
        want = liquidation_forecasts(bars, as_of, side, d, [1, 7, 30])
        assert [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]] == list(want)
        assert row["distance"] == d
        assert list(f.prob(1 if side == "long" else -1, d, np.array([24, 168, 720]))) == list(want)
    out = size_account(SPEC, {"policy": {"type": "fixed", "leverage": 2}}, history=both).to_dict()
    for row, sized in zip(rep["accounts"][0]["prob_liquidation"], out["positions"], strict=True):
        assert [sized["p_liq_1d"], sized["p_liq_7d"], sized["p_liq_30d"]] == [
            row["p_liq_1d"],
            row["p_liq_7d"],
            row["p_liq_30d"],
        ]
    # The spec's as_of is the forecast time (no bar after it is read).
    early = {**SPEC, "as_of": str(bars.index[24 * 100])}
    rep_early = risk_report(early, history=both, vol=0.6, n_sims=500).to_dict()
    row = rep_early["accounts"][0]["prob_liquidation"][0]
    d = liquidation_distance("long", row["mark_price"], row["liquidation_price"])
    want = liquidation_forecasts(bars, bars.index[24 * 100], "long", d, [1, 7, 30])
    assert [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]] == list(want)
    daily = bars.resample("1D").agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    with pytest.raises(InputError, match="bars must be hourly or finer"):
        risk_report(SPEC, history={"BTC": daily, "ETH": daily}, n_sims=500)


def test_size_without_history_shows_the_closed_form_or_nothing() -> None:
    out = size_account(SPEC, {"policy": {"type": "fixed", "leverage": 2}}, vol=0.6).to_dict()
    assert out["liquidation_forecast"]["model"] == "gbm"
    assert out["positions"][0]["p_liq_7d"] > 0
    bare = size_account(SPEC, {"policy": {"type": "fixed", "leverage": 2}}).to_dict()
    assert bare["liquidation_forecast"] is None
    assert bare["positions"][0]["p_liq_1d"] is None
