"""Data-layer oracle feeds (levguard.data.oracle): index and mark series from pandas frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from levguard.core.oracle import OracleConfig, SourceQuote, aggregate_index, moving_average_basis
from levguard.data.frames import make_funding_frame, make_ohlcv_frame
from levguard.data.oracle import build_index_frame, build_mark_frame, drop_summary
from levguard.errors import DataError

S = 1_000_000_000
MIN = 60 * S
HOUR = 3_600 * S
T0 = 1_704_067_200 * S  # 2024-01-01 00:00 UTC
T = 20


def bars(
    close: np.ndarray, name: str, *, ts: np.ndarray | None = None, volume: np.ndarray | None = None
) -> pd.DataFrame:
    stamps = T0 + np.arange(len(close)) * MIN if ts is None else ts
    return make_ohlcv_frame(
        stamps, close, close, close, close, volume, symbol="BTCUSDT", interval="1m", source=f"synthetic({name})"
    )


@pytest.fixture
def venues() -> dict[str, pd.DataFrame]:
    """Three venues' 1m closes around 60,000; bybit glitches."""
    base = 60_000.0 + 5.0 * np.arange(T)
    glitch = base * 1.0002
    glitch[4] = np.nan  # a missing bar: carried forward, 60 s old -> stale
    glitch[7] = 0.0  # a zero print
    glitch[10] = 66_000.0  # a 10 % spike
    glitch[13] = np.inf
    return {
        "binance": bars(base, "binance"),
        "okx": bars(base * 0.9998, "okx"),
        "bybit": bars(glitch, "bybit"),
    }


def test_index_series_survives_a_glitching_source(venues: dict[str, pd.DataFrame]) -> None:
    out = build_index_frame(venues, config=OracleConfig(min_sources=2))
    assert list(out.columns[:4]) == ["index_price", "status", "n_used", "median_price"]
    assert out.index.name == "timestamp"
    assert str(out.index.tz) == "UTC"
    assert (out["status"] == "ok").all()
    base = 60_000.0 + 5.0 * np.arange(T)
    glitchy = [4, 7, 10, 13]
    clean = np.setdiff1d(np.arange(T), glitchy)
    np.testing.assert_allclose(
        out["index_price"].to_numpy()[clean], base[clean] * (1 + 0.9998 + 1.0002) / 3, rtol=1e-14
    )
    # Glitch rows: the mean of the two healthy venues, within a hair of the clean index.
    np.testing.assert_allclose(out["index_price"].to_numpy()[glitchy], base[glitchy] * (1 + 0.9998) / 2, rtol=1e-14)
    assert out["n_used"].tolist() == [2 if t in glitchy else 3 for t in range(T)]
    reasons = out["bybit_reason"].astype(str).tolist()
    assert [reasons[t] for t in glitchy] == ["stale", "non_positive_price", "deviation", "non_finite_price"]
    assert out["bybit_used"].tolist() == [t not in glitchy for t in range(T)]
    assert out["binance_used"].all()
    summary = drop_summary(out)
    assert summary.loc["bybit"].to_dict() == {
        "used": 16,
        "non_finite_price": 1,
        "non_positive_price": 1,
        "stale": 1,
        "deviation": 1,
    }
    assert summary.loc["okx", "used"] == T


def test_default_circuit_breaker_halts_three_venues_with_one_glitch(venues: dict[str, pd.DataFrame]) -> None:
    out = build_index_frame(venues)  # min_sources=3
    halted = out.index[out["status"] == "halted"]
    assert [int((t.value - T0) // MIN) for t in halted] == [4, 7, 13]  # the spike (row 10) only deviates
    assert out["index_price"].isna().sum() == 3
    assert out.loc[halted, "binance_reason"].astype(str).tolist() == ["circuit_breaker"] * 3
    assert out["status"].cat.categories.tolist() == ["ok", "fallback_median", "halted"]
    assert out.attrs["kind"] == "oracle_index"
    assert out.attrs["symbol"] == "BTCUSDT"
    assert out.attrs["interval"] == "1m"
    assert out.attrs["sources"] == ("binance", "okx", "bybit")
    assert out.attrs["source"] == "oracle(binance=synthetic(binance), okx=synthetic(okx), bybit=synthetic(bybit))"
    assert out.attrs["oracle"]["min_sources"] == 3


def test_rows_equal_the_scalar_rule(venues: dict[str, pd.DataFrame]) -> None:
    cfg = OracleConfig(min_sources=2, method="weighted_median")
    out = build_index_frame(venues, config=cfg)
    for t in (0, 4, 10, 13):
        now = T0 + t * MIN
        quotes = []
        for name, frame in venues.items():
            obs = frame["close"].iloc[: t + 1].dropna()  # latest observation at or before t
            quotes.append(SourceQuote(name, float(obs.iloc[-1]), 1.0, obs.index[-1].value))
        r = aggregate_index(quotes, now, cfg)
        assert out["index_price"].iloc[t] == r.price
        assert out["status"].iloc[t] == r.status


def test_fallback_median_when_two_venues_deviate() -> None:
    base = np.full(3, 100.0)
    srcs = {
        "a": bars(base, "a"),
        "b": bars(base * 1.001, "b"),
        "c": bars(base * 0.999, "c"),
        "d": bars(np.array([100.0, 120.0, 100.0]), "d"),
        "e": bars(np.array([100.0, 80.0, 100.0]), "e"),
    }
    out = build_index_frame(srcs)
    assert out["status"].astype(str).tolist() == ["ok", "fallback_median", "ok"]
    assert out["index_price"].iloc[1] == 100.0
    assert out["n_used"].iloc[1] == 5
    assert out["d_reason"].iloc[1] == "used_in_median"


def test_volume_and_constant_weights() -> None:
    close_a, close_b, close_c = np.full(3, 100.0), np.full(3, 101.0), np.full(3, 102.0)
    srcs = {
        "a": bars(close_a, "a", volume=np.array([1.0, 1.0, 0.0])),
        "b": bars(close_b, "b", volume=np.array([1.0, 3.0, 1.0])),
        "c": bars(close_c, "c", volume=np.array([2.0, 0.0, 1.0])),
    }
    out = build_index_frame(srcs, weights="volume", config=OracleConfig(min_sources=2))
    np.testing.assert_allclose(out["index_price"], [(100 + 101 + 204) / 4, (100 + 303) / 4, 101.5], rtol=1e-15)
    assert out["c_reason"].iloc[1] == "zero_weight"
    assert out["a_reason"].iloc[2] == "zero_weight"
    out = build_index_frame(srcs, weights={"a": 1.0, "b": 1.0, "c": 2.0})
    np.testing.assert_allclose(out["index_price"], (100 + 101 + 204) / 4, rtol=1e-15)
    assert out.attrs["oracle"]["weights"] == {"a": 1.0, "b": 1.0, "c": 2.0}
    with pytest.raises(DataError, match="weights lacks source 'c'"):
        build_index_frame(srcs, weights={"a": 1.0, "b": 1.0})
    # A plain price Series has no volume: its prices were read as its weights (100, 104, 102 gave
    # sum(p^2) / sum(p) = 102.026 where equal weights give 102).
    series = {k: f["close"] for k, f in srcs.items()}
    with pytest.raises(DataError, match="source 'a' is a Series: it has no volume column"):
        build_index_frame(series, weights="volume")
    with pytest.raises(DataError, match="source 'c' is a Series"):
        build_index_frame({"a": srcs["a"], "b": srcs["b"], "c": series["c"]}, weights="volume")


def test_union_of_timestamps_staleness_and_late_start() -> None:
    ts = T0 + np.arange(6) * MIN
    srcs = {
        "a": bars(np.full(6, 100.0), "a"),
        "b": bars(np.full(4, 100.2), "b", ts=ts[[0, 1, 2, 5]]),  # rows 3 and 4 absent
        "c": bars(np.full(4, 99.8), "c", ts=ts[2:]),  # starts at row 2
        "d": pd.Series(np.full(6, 100.1), index=pd.to_datetime(ts, unit="ns", utc=True)),  # a plain series
    }
    out = build_index_frame(srcs, config=OracleConfig(min_sources=2))
    assert len(out) == 6
    assert out["b_reason"].astype(str).tolist() == ["used", "used", "used", "stale", "stale", "used"]
    # c had no bar yet: missing, not a non-finite price (issue 16)
    assert out["c_reason"].astype(str).tolist()[:2] == ["missing", "missing"]
    assert drop_summary(out).loc["c", "missing"] == 2
    # A staleness limit of two bars keeps the carried-forward quote.
    out = build_index_frame(srcs, config=OracleConfig(min_sources=2, max_age_ns=2 * MIN))
    assert out["b_reason"].astype(str).tolist()[3:5] == ["used", "used"]


def test_index_input_errors(venues: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(DataError, match="at least one"):
        build_index_frame({})
    naive = venues["okx"].copy()
    naive.index = naive.index.tz_localize(None)
    with pytest.raises(DataError, match="source 'okx' must have a UTC DatetimeIndex"):
        build_index_frame({**venues, "okx": naive})
    with pytest.raises(DataError, match="strictly increasing"):
        build_index_frame({**venues, "okx": venues["okx"].iloc[::-1]})
    with pytest.raises(DataError, match="lacks column 'mid'"):
        build_index_frame(venues, column="mid")
    with pytest.raises(DataError, match="weights must be"):
        build_index_frame(venues, weights="notional")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- mark
@pytest.fixture
def index_frame(venues: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return build_index_frame(venues, config=OracleConfig(min_sources=2))


def test_perpetual_mark_with_funding(index_frame: pd.DataFrame) -> None:
    perp = bars(index_frame["index_price"].to_numpy() + 30.0, "perp")  # contract trades 30 above the index
    mid = pd.Series(index_frame["index_price"].to_numpy() + 10.0, index=index_frame.index)
    # Settlements at 23:55 (before the data), 00:10; then every 8 h by extrapolation.
    funding = make_funding_frame([T0 - 5 * MIN, T0 + 10 * MIN], [0.0001, -0.0004], symbol="BTCUSDT", source="syn")
    out = build_mark_frame(index_frame, perp, funding, mid_price=mid)
    idx = index_frame["index_price"].to_numpy()
    until = np.where(np.arange(T) < 10, (10 - np.arange(T)) * MIN, 8 * HOUR - (np.arange(T) - 10) * MIN)
    rate = np.where(np.arange(T) < 10, 0.0001, -0.0004)
    np.testing.assert_array_equal(out["time_until_funding_ns"], until)
    np.testing.assert_array_equal(out["funding_rate"], rate)
    np.testing.assert_allclose(out["price1"], idx * (1 + rate * until / (8 * HOUR)), rtol=1e-15)
    np.testing.assert_allclose(out["basis_ma"], 10.0, rtol=1e-9)  # 1m rows: a one-sample 30 s window
    np.testing.assert_allclose(out["price2"], idx + 10.0, rtol=1e-15)
    # price1 is within ~1 of the index, price2 = index + 10, contract = index + 30: the mark is price2.
    assert (out["chosen"] == "price2").all()
    np.testing.assert_allclose(out["mark_price"], idx + 10.0, rtol=1e-15)
    assert out.attrs["kind"] == "oracle_mark"
    assert out.attrs["contract"] == "perpetual"
    row = out.iloc[3]
    assert row["price1"] == pytest.approx(idx[3] * (1 + 0.0001 * (7 * MIN) / (8 * HOUR)), rel=1e-15)


def test_perpetual_mark_before_the_first_settlement_is_nan(index_frame: pd.DataFrame) -> None:
    perp = bars(index_frame["index_price"].to_numpy() + 30.0, "perp")
    funding = make_funding_frame([T0 + 5 * MIN], [0.0001], symbol="BTCUSDT", source="syn")
    out = build_mark_frame(index_frame, perp, funding)
    assert out["mark_price"].iloc[:5].isna().all()
    assert (out["chosen"].iloc[:5] == "none").all()
    assert out["mark_price"].iloc[5:].notna().all()
    # Without a mid the contract price stands in: price2 == contract price, so the mark is it.
    np.testing.assert_allclose(out["mark_price"].iloc[5:], out["contract_price"].iloc[5:], rtol=1e-12)


def test_halted_index_gives_nan_mark(venues: dict[str, pd.DataFrame]) -> None:
    idx = build_index_frame(venues)  # halts on rows 4, 7, 13
    perp = bars(np.full(T, 60_050.0), "perp")
    funding = make_funding_frame([T0 - HOUR], [0.0001], symbol="BTCUSDT", source="syn")
    out = build_mark_frame(idx, perp, funding)
    assert np.flatnonzero(out["mark_price"].isna().to_numpy()).tolist() == [4, 7, 13]


def test_basis_window_in_time_on_one_second_rows() -> None:
    n = 120
    ts = T0 + np.arange(n) * S
    rng = np.random.default_rng(9)
    index = pd.Series(60_000 + np.cumsum(rng.normal(0, 1, n)), index=pd.to_datetime(ts, unit="ns", utc=True))
    mid = pd.Series(index.to_numpy() + rng.normal(6, 2, n), index=index.index)
    funding = make_funding_frame([T0], [0.0001], symbol="BTCUSDT", source="syn")
    out = build_mark_frame(index, mid, funding, mid_price=mid, basis_window="30s")
    expected = moving_average_basis(mid.to_numpy(), index.to_numpy(), window=30, min_periods=1)
    np.testing.assert_array_equal(out["basis_ma"].to_numpy(), expected)


def test_delivery_mark(index_frame: pd.DataFrame) -> None:
    fut = bars(index_frame["index_price"].to_numpy() + 120.0, "quarterly")
    out = build_mark_frame(index_frame, fut, contract="delivery")
    assert list(out.columns) == ["mark_price", "index_price", "contract_price", "basis_ma", "chosen"]
    np.testing.assert_allclose(out["mark_price"], index_frame["index_price"] + 120.0, rtol=1e-12)
    assert (out["chosen"] == "price2").all()


def test_mark_input_errors(index_frame: pd.DataFrame) -> None:
    perp = bars(np.full(T, 60_000.0), "perp")
    with pytest.raises(DataError, match="needs a non-empty funding frame"):
        build_mark_frame(index_frame, perp)
    funding = make_funding_frame([T0], [0.0001], symbol="BTCUSDT", source="syn")
    with pytest.raises(DataError, match="contract must be"):
        build_mark_frame(index_frame, perp, funding, contract="option")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="interval must look like"):
        build_mark_frame(index_frame, perp, funding, basis_window="30 seconds")
    assert math.isnan(build_mark_frame(index_frame, perp.iloc[:5], funding)["mark_price"].iloc[10])
