"""Stylised facts of the generated market match BTC's (acceptance test of the generator).

BTC reference values (Binance BTCUSDT perpetual, 2019-09..2026-05, from the shared data):
annualised vol 62 %, daily excess kurtosis 27, ACF of squared hourly returns 0.17 at lag 1,
funding mean 0.011 % per 8 h with 15 % of prints negative.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from levguard.data.crashes import NAMED_CRASHES
from levguard.data.synth import SynthMarket, synth_market

_BY_NAME = {c.name: c for c in NAMED_CRASHES}


@pytest.fixture(scope="module", params=[7, 11])
def five_years(request: pytest.FixtureRequest) -> SynthMarket:
    """Five years of hourly bars (43,800) with the default BTC calibration."""
    return synth_market(years=5, interval="1h", seed=request.param)


def _hourly_returns(m: SynthMarket) -> np.ndarray:
    return np.diff(np.log(m.ohlcv["close"].to_numpy()))


def test_annualised_volatility_is_btc_like(five_years: SynthMarket) -> None:
    vol = _hourly_returns(five_years).std(ddof=1) * math.sqrt(24 * 365)
    assert 0.40 <= vol <= 1.00


def test_daily_returns_are_fat_tailed(five_years: SynthMarket) -> None:
    daily = np.log(five_years.ohlcv["close"].resample("1D").last()).diff().dropna()
    assert daily.kurt() > 3.0  # excess kurtosis; a normal distribution has 0


def test_squared_returns_are_autocorrelated(five_years: SynthMarket) -> None:
    """Volatility clustering: every lag 1..24 significant at 5 % and Ljung-Box rejects at 1e-6."""
    r2 = _hourly_returns(five_years) ** 2
    x = r2 - r2.mean()
    n = x.size
    lags = np.arange(1, 25)
    acf = np.array([np.dot(x[:-k], x[k:]) for k in lags]) / np.dot(x, x)
    assert (acf > 1.96 / math.sqrt(n)).all(), acf
    q = n * (n + 2) * np.sum(acf**2 / (n - lags))
    assert q > 70.0  # chi-square(24) quantile at 1 - 1e-6 is about 69


def test_injected_crash_days(five_years: SynthMarket) -> None:
    """Each injected crash falls by its profile's depth (+- a few points) within 24 hours."""
    o = five_years.ohlcv
    assert len(five_years.crashes) == 5  # round(0.9 crashes per year x 5 years)
    for _, c in five_years.crashes.iterrows():
        window = o.loc[c["trough"] - pd.Timedelta(hours=24) : c["trough"]]
        depth = 1.0 - window["low"].iloc[-1] / window["high"].max()
        profile = _BY_NAME[c["name"]]
        assert depth == pytest.approx(profile.depth, abs=0.06)
        assert 0.15 <= depth <= 0.50
        if profile.name != "black-thursday":  # the one crash deeper than 40 % (45.5 % measured)
            assert depth <= 0.40
        day = o.loc[c["trough"].normalize() : c["trough"]]
        assert day["low"].min() / day["open"].iloc[0] - 1.0 < -0.05


def test_funding_positive_in_bull_negative_episodes(five_years: SynthMarket) -> None:
    f = five_years.funding["funding_rate"]
    regime = five_years.regime.reindex(f.index - pd.Timedelta(hours=1)).to_numpy()
    bull = f.to_numpy()[regime == 0]
    stress = f.to_numpy()[regime == 2]
    assert bull.mean() > 0.0001 > stress.mean()
    assert stress.mean() < 0.0
    assert (f < 0).mean() > 0.02
    # Crash troughs print the measured funding extremes; Binance's BTC cap is never exceeded.
    assert f.min() <= -0.0001
    assert f.abs().max() <= 0.003
    assert f.mean() == pytest.approx(0.0001, abs=0.00008)


def test_volume_and_mark_behave(five_years: SynthMarket) -> None:
    o, mark = five_years.ohlcv, five_years.mark
    r = np.abs(_hourly_returns(five_years))
    lv = np.log(o["volume"].to_numpy()[1:])
    assert np.corrcoef(lv, r)[0, 1] > 0.25  # volume rises with the size of the move (BTC: 0.49)
    by_regime = o["volume"].groupby(five_years.regime.to_numpy()).median()
    assert by_regime[0] < by_regime[1] < by_regime[2]
    basis = mark["close"] / o["close"] - 1.0
    assert basis.std() == pytest.approx(3.3e-4, rel=0.1)
    assert (mark["volume"] == 0).all()
