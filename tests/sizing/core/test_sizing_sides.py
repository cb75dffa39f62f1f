"""A position's side and contract kind reach the policies that depend on them.

Kelly sized a short on the asset's own drift (a short on a rising asset got the long's leverage)
in ``size_account`` and in the backtester; GapCap's ``(1 - s) / d`` held for linear contracts
only (an inverse long loses ``L d / (1 - d)`` of its coin equity on a gap ``d``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.policies import GapCap, Kelly
from levguard.sizing import size_account


def _trending_bars(drift: float, hours: int = 24 * 120, seed: int = 3) -> pd.DataFrame:
    # Hourly bars whose log returns have mean ``drift`` per hour (a strongly trending market).
    rng = np.random.default_rng(seed)
    r = rng.normal(drift, 0.004, hours)
    close = 60_000.0 * np.exp(np.cumsum(r))
    opens = np.concatenate([[60_000.0], close[:-1]])
    high = np.maximum(opens, close) * 1.001
    low = np.minimum(opens, close) * 0.999
    idx = pd.date_range("2024-01-01", periods=hours, freq="1h", tz="UTC")
    bars = pd.DataFrame({"open": opens, "high": high, "low": low, "close": close}, index=idx)
    bars.attrs["symbol"] = "BTCUSDT"
    return bars


UP = _trending_bars(0.0004)
KELLY: dict[str, Any] = {"policy": {"type": "kelly", "mu_estimator": "ewma_mean", "fraction": 0.5, "max_leverage": 3}}


def _spec(qty: float) -> dict[str, Any]:
    mark = float(UP["close"].iloc[-1])
    return {
        "venue": "binance-usdm",
        "wallet_balance": 10_000.0,
        "positions": [{"symbol": "BTCUSDT", "qty": qty, "entry_price": mark, "mark_price": mark}],
    }


def test_kelly_decide_negates_the_estimated_drift_for_a_short() -> None:
    r = np.diff(np.log(UP["close"].to_numpy()))
    k = Kelly(mu_estimator="ewma_mean", lookback=30)
    long = k.decide(SizingState(equity=1.0, returns=r, periods_per_year=8760.0, context=MarketContext(side=1)))
    short = k.decide(SizingState(equity=1.0, returns=r, periods_per_year=8760.0, context=MarketContext(side=-1)))
    assert long.target_leverage > 0.0
    assert short.details["mu"] == pytest.approx(-long.details["mu"])
    assert short.target_leverage == 0.0
    assert short.binding_constraint == "no_edge"


def test_kelly_given_mu_is_already_side_adjusted() -> None:
    k = Kelly(mu_estimator="given")
    for side in (1, -1):
        d = k.decide(SizingState(equity=1.0, vol_forecast=0.5, mu_forecast=0.25, context=MarketContext(side=side)))
        assert d.target_leverage == pytest.approx(0.5 * 0.25 / 0.25)


def test_kelly_path_reads_the_side_per_bar() -> None:
    r = np.concatenate(([0.0], np.diff(np.log(UP["close"].to_numpy()))))
    k = Kelly(mu_estimator="ewma_mean", lookback=30)
    n = r.shape[0]
    long = k.leverage_path(SeriesInputs(returns=r, periods_per_year=8760.0))
    side = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    mixed = k.leverage_path(SeriesInputs(returns=r, periods_per_year=8760.0, side=side))
    short = k.leverage_path(SeriesInputs(returns=r, periods_per_year=8760.0, side=-np.ones(n)))
    np.testing.assert_array_equal(mixed[side > 0], long[side > 0])
    np.testing.assert_array_equal(mixed[side < 0], short[side < 0])
    assert np.nanmax(long[-100:]) > 0.0
    assert not np.allclose(long, short)
    # the last bar of the path is what decide gives at it
    last = k.decide(SizingState(equity=1.0, returns=r, periods_per_year=8760.0, context=MarketContext(side=-1)))
    assert short[-1] == pytest.approx(last.target_leverage)


def test_size_account_sizes_a_short_on_the_negated_drift() -> None:
    long = size_account(_spec(0.2), KELLY, history=UP)
    short = size_account(_spec(-0.2), KELLY, history=UP)
    assert long.target_leverage > 0.0
    assert long.binding_constraint in ("kelly", "max_leverage")
    assert short.target_leverage == 0.0
    assert short.binding_constraint == "no_edge"


def test_backtest_kelly_short_path_is_not_the_longs() -> None:
    from levguard.backtest import run

    bars = UP.iloc[-24 * 30 :].assign(volume=1.0)
    bars.attrs["symbol"] = "BTCUSDT"
    k = Kelly(mu_estimator="ewma_mean", fraction=0.5, max_leverage=3)
    paths = {}
    for side in (1, -1):
        res = run(bars, np.full(len(bars), side), k, venue="binance-usdm", symbol="BTCUSDT")
        paths[side] = res.positions["target_leverage"].to_numpy()
    assert (paths[1] > 0.0).sum() > 24
    assert (paths[-1] > 0.0).sum() > 24
    # the short's edge is the long's negated: never both positive on one bar
    assert not np.any((paths[1] > 0.0) & (paths[-1] > 0.0))


def test_sweep_sizes_each_strategys_kelly_on_its_own_side() -> None:
    from levguard.backtest import run
    from levguard.backtest.sweeps import sweep

    bars = UP.iloc[-24 * 30 :].assign(volume=1.0)
    bars.attrs["symbol"] = "BTCUSDT"
    n = len(bars)
    k = Kelly(mu_estimator="ewma_mean", fraction=0.5, max_leverage=3)
    table = sweep(bars, {"long": np.ones(n), "short": -np.ones(n)}, {"kelly": k}, venue="binance-usdm")
    assert table["avg_leverage"].iloc[0] != pytest.approx(table["avg_leverage"].iloc[1])
    for i, side in enumerate((1, -1)):
        res = run(bars, np.full(n, side), k, venue="binance-usdm", symbol="BTCUSDT")
        assert table["total_return"].iloc[i] == pytest.approx(res.metrics["total_return"], rel=1e-9, abs=1e-12)
        assert table["avg_leverage"].iloc[i] == pytest.approx(res.metrics["avg_leverage"], rel=1e-9, abs=1e-12)


def test_sweep_sizes_an_inverse_gap_cap_on_each_strategys_side() -> None:
    # A review: the sweep gave a short strategy the long's inverse gap cap (avg leverage 2.2056
    # where run() gives 4.0967): a gap cap's path depends on the side on an inverse contract.
    from levguard.backtest import run
    from levguard.backtest.sweeps import sweep

    n = 200
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    c = 60_000.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0.0, 0.002, n)))
    bars = pd.DataFrame({"open": c, "high": c * 1.001, "low": c * 0.999, "close": c, "volume": 1.0}, index=idx)
    tiers = [{"max_notional": 1e12, "mmr": 0.004, "max_leverage": 125, "cum": 0.0}]
    kw: dict[str, Any] = {"venue": "binance-coinm", "symbol": "BTCUSD_PERP", "initial_equity": 1.0, "tiers": tiers}
    gc = GapCap(max_gap=0.3)
    table = sweep(bars, {"long": np.ones(n), "short": -np.ones(n)}, {"gc": gc}, **kw)
    for i, side in enumerate((1, -1)):
        res = run(bars, np.full(n, float(side)), gc, **kw)
        assert table["avg_leverage"].iloc[i] == pytest.approx(res.metrics["avg_leverage"], rel=1e-9)
        assert table["total_return"].iloc[i] == pytest.approx(res.metrics["total_return"], rel=1e-9, abs=1e-12)


INSTRUMENTS = {"linear": ("binance-usdm", "BTCUSDT", 10_000.0), "inverse": ("binance-coinm", "BTCUSD_PERP", 1.0)}


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["linear", "inverse"]),
    side=st.sampled_from([1, -1]),
    gap=st.floats(0.02, 0.9),
    safety=st.floats(0.0, 0.5),
)
def test_gap_cap_leaves_the_safety_margin_after_the_gap(kind: str, side: int, gap: float, safety: float) -> None:
    """The margin engine's equity after an adverse gap at GapCap's leverage is the safety margin."""
    from levguard.margin import evaluate_account

    venue, symbol, equity = INSTRUMENTS[kind]
    ctx = MarketContext(venue=venue, symbol=symbol, side=side)
    p0 = 60_000.0
    lev = GapCap(max_gap=gap, safety_margin=safety).decide(SizingState(equity=equity, price=p0, context=ctx))
    usd = lev.target_leverage * equity * (p0 if kind == "inverse" else 1.0)
    qty = side * (usd / 100.0 if kind == "inverse" else usd / p0)  # BTCUSD_PERP: 100 USD a contract
    p1 = p0 * (1.0 - side * gap)
    pos = {"symbol": symbol, "qty": qty, "entry_price": p0, "mark_price": p1, "leverage": 20, "mmr": 0.004}
    after = evaluate_account({"venue": venue, "wallet_balance": equity, "positions": [pos]}).equity
    assert after / equity >= safety - 1e-9
    assert after / equity == pytest.approx(safety, abs=1e-9)


def test_gap_cap_inverse_caps_and_the_backtest_path() -> None:
    ctx = MarketContext(venue="binance-coinm", symbol="BTCUSD_PERP")
    gc = GapCap(max_gap=0.3)
    long = gc.decide(SizingState(equity=1.0, context=ctx)).target_leverage
    short = gc.decide(
        SizingState(equity=1.0, context=MarketContext(venue="binance-coinm", symbol="BTCUSD_PERP", side=-1))
    )
    assert long == pytest.approx(0.95 * 0.7 / 0.3)
    assert short.target_leverage == pytest.approx(0.95 * 1.3 / 0.3)
    assert gc.decide(SizingState(equity=1.0)).target_leverage == pytest.approx(0.95 / 0.3)
    r = np.zeros(4)
    path = GapCap(max_gap=0.3, context=ctx).leverage_path(
        SeriesInputs(returns=r, side=np.array([1.0, -1.0, 0.0, -1.0]))
    )
    np.testing.assert_allclose(path, [0.95 * 0.7 / 0.3, 0.95 * 1.3 / 0.3, 0.95 * 0.7 / 0.3, 0.95 * 1.3 / 0.3])
    assert math.isclose(GapCap(max_gap=0.3).leverage_path(SeriesInputs(returns=r))[0], 0.95 / 0.3)


def test_size_account_gap_cap_on_an_inverse_account() -> None:
    spec = {
        "venue": "binance-coinm",
        "wallet_balance": 1.0,
        "positions": [{"symbol": "BTCUSD_PERP", "qty": 600, "entry_price": 60_000, "mark_price": 60_000, "mmr": 0.004}],
    }
    out = size_account(spec, {"policy": {"type": "gap_cap", "max_gap": 0.3}})
    assert out.target_leverage == pytest.approx(0.95 * 0.7 / 0.3)
