"""The replay's data layer: the sub-minute path through 1-minute bars, the range volatility, kline
windows; and :func:`write_crash_klines`, the synthetic klines the replay tests share."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.cascade.replay_data import (
    bar_statistics,
    intrabar_path,
    load_asset_market,
    range_sigma,
    read_liq_adl_csv,
)
from levguard.errors import DataError, InputError

START = "2024-03-01T12:00:00Z"


def write_crash_klines(
    path: Path, *, s0: float = 100.0, minutes: int = 240, crash_at: int = 200, fall: float = 0.15, seed: int = 0
) -> Path:
    """Write 1-minute klines (Binance layout) of a calm market that falls by ``fall`` over 10
    minutes from minute ``crash_at`` and rebounds half of it; first bar at 10:00 UTC on 2024-03-01."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-03-01T10:00:00Z", periods=minutes, freq="1min")
    drift = np.zeros(minutes)
    drift[crash_at : crash_at + 10] = math.log(1.0 - fall) / 10
    drift[crash_at + 10 : crash_at + 20] = -math.log(1.0 - fall) / 20
    close = s0 * np.exp(np.cumsum(drift + rng.normal(0.0, 0.0008, minutes)))
    opens = np.concatenate(([s0], close[:-1]))
    spread = np.abs(rng.normal(0.0, 0.0006, minutes)) + np.abs(drift) * 0.5
    high = np.maximum(opens, close) * (1.0 + spread)
    low = np.minimum(opens, close) * (1.0 - spread)
    volume = rng.lognormal(math.log(1_000.0), 0.3, minutes) * (1.0 + 20.0 * np.abs(drift) / 0.01)
    frame = pd.DataFrame(
        {
            "open_time_utc": idx.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open_time": idx.asi8 // 1_000_000,
            "open": opens,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "quote_volume": volume * close,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


bar = st.tuples(st.floats(50.0, 200.0), st.floats(0.0, 0.05), st.floats(0.0, 0.05), st.floats(0.0, 1.0)).map(
    lambda t: (t[0], t[0] * (1 + t[1]), t[0] * (1 - t[2]), t[3])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(bar, min_size=1, max_size=8), st.sampled_from([3, 6, 12, 60]))
def test_intrabar_path_hits_every_high_low_and_close(bars: list[tuple[float, float, float, float]], m: int) -> None:
    o = np.array([b[0] for b in bars])
    h = np.array([b[1] for b in bars])
    lo = np.array([b[2] for b in bars])
    c = lo + np.array([b[3] for b in bars]) * (h - lo)
    # Bars after the first start from the previous close: keep it inside the bar, as real bars do.
    for i in range(1, len(bars)):
        o[i] = c[i - 1]
        h[i] = max(h[i], o[i])
        lo[i] = min(lo[i], o[i])
    path = intrabar_path(o, h, lo, c, m)
    assert path.shape == (len(bars) * m + 1,)
    assert path[0] == pytest.approx(o[0], rel=1e-12)
    for b in range(len(bars)):
        seg = path[b * m : (b + 1) * m + 1]
        assert seg.max() == pytest.approx(h[b], rel=1e-12)
        assert seg.min() == pytest.approx(lo[b], rel=1e-12)
        assert seg[-1] == pytest.approx(c[b], rel=1e-12)


def test_intrabar_path_order_follows_the_bar_direction() -> None:
    down = intrabar_path([100.0], [104.0], [90.0], [95.0], 12)
    up = intrabar_path([100.0], [110.0], [96.0], [105.0], 12)
    assert int(np.argmax(down)) < int(np.argmin(down))  # O -> H -> L -> C
    assert int(np.argmin(up)) < int(np.argmax(up))  # O -> L -> H -> C
    flat = intrabar_path([100.0], [100.0], [100.0], [100.0], 4)
    assert flat == pytest.approx(np.full(5, 100.0), rel=1e-12)


def test_intrabar_path_rejects_bad_bars() -> None:
    with pytest.raises(InputError, match="steps_per_bar"):
        intrabar_path([1.0], [1.0], [1.0], [1.0], 2)
    with pytest.raises(InputError, match=r"low\[0\]"):
        intrabar_path([1.0], [1.0], [0.0], [1.0], 12)


@pytest.mark.parametrize(
    ("bar", "values"),
    [
        ((1.0, 0.9, 1.1, 1.0), "open=1.0, high=0.9, low=1.1, close=1.0"),  # inverted: high < low
        ((1.2, 1.1, 0.9, 1.0), "open=1.2, high=1.1, low=0.9, close=1.0"),  # open above the high
        ((1.0, 1.1, 0.9, 0.8), "open=1.0, high=1.1, low=0.9, close=0.8"),  # close below the low
    ],
)
def test_intrabar_path_refuses_a_bar_that_does_not_span_its_open_and_close(
    bar: tuple[float, float, float, float], values: str
) -> None:
    # An inverted bar (high 0.9 < low 1.1) was walked O -> L -> H -> C: the path rose to 1.1,
    # above the stated high.
    o, h, lo, c = bar
    with pytest.raises(InputError, match=rf"bar 0 must have low <= open, close <= high, was {values}"):
        intrabar_path([o], [h], [lo], [c], 3)
    with pytest.raises(InputError, match=rf"bar 1 .*was {values}"):
        intrabar_path([1.0, o], [1.1, h], [0.9, lo], [1.0, c], 12)


@settings(max_examples=60, deadline=None)
@given(st.lists(bar, min_size=1, max_size=6), st.data())
def test_intrabar_path_stays_inside_every_bar_or_names_the_bar(
    bars: list[tuple[float, float, float, float]], data: st.DataObject
) -> None:
    # Any bars: either every step lies within its bar's [low, high], or the bad bar is named.
    o = np.array([b[0] for b in bars])
    h = np.array([b[1] for b in bars]) * data.draw(st.floats(0.9, 1.0))
    lo = np.array([b[2] for b in bars]) * data.draw(st.floats(1.0, 1.1))
    c = lo + np.array([b[3] for b in bars]) * (h - lo)
    o[1:] = c[:-1]  # a bar starts from the previous close, as real bars do
    ok = (lo <= np.minimum(o, c)) & (np.maximum(o, c) <= h)
    if not ok.all():
        with pytest.raises(InputError, match=rf"bar {int(np.argmin(ok))} must have low <= open, close <= high"):
            intrabar_path(o, h, lo, c, 12)
        return
    path = intrabar_path(o, h, lo, c, 12)
    for b in range(len(bars)):
        seg = path[b * 12 + 1 : (b + 1) * 12 + 1]
        assert np.all(seg <= h[b] * (1 + 1e-12))
        assert np.all(seg >= lo[b] * (1 - 1e-12))


@pytest.mark.parametrize(
    ("steps", "match"),
    [
        (12.7, r"steps_per_bar must be a whole number in \[3, .*was 12.7"),  # was cut to 12
        ("12", r"steps_per_bar must be a whole number .*was '12'"),  # was read as 12
        (True, "steps_per_bar must be a whole number"),
        (2, "steps_per_bar must be a whole number in \\[3"),
    ],
)
def test_intrabar_path_steps_per_bar_is_a_whole_number(steps: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        intrabar_path([1.0], [1.1], [0.9], [1.0], steps)  # type: ignore[arg-type]
    assert intrabar_path([1.0], [1.1], [0.9], [1.0], 12.0).shape == (13,)  # an integral float is 12


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: range_sigma([1.0], [2.0]),
            r"bar 0 must have finite prices with 0 < low <= high, was high=1.0, low=2.0",
        ),
        (lambda: range_sigma([2.0, 1.0], [1.0, 0.0]), r"bar 1 .* low=0.0"),
        (lambda: range_sigma(["a"], [2.0]), r"high must be numbers \(not bools or strings\)"),
        (lambda: range_sigma([2.0], ["1.0"]), r"low must be numbers"),
        (lambda: range_sigma([2.0, 3.0], [1.0]), "of one length"),
        (lambda: range_sigma([[2.0]], [[1.0]]), "must be 1-D"),
        (lambda: intrabar_path(["1"], [1.1], [0.9], [1.0], 12), r"open must be numbers"),
        (lambda: bar_statistics([True], [2.0], [1.0]), r"quote_volume must be numbers"),
    ],
)
def test_range_sigma_and_bars_of_the_wrong_kind_are_input_errors(call: object, match: str) -> None:
    # range_sigma([1], [2]) was -0.434 (a negative volatility) and range_sigma(["a"], ...) a raw ValueError.
    with pytest.raises(InputError, match=match):
        call()  # type: ignore[operator]


def test_range_sigma_skips_missing_minutes() -> None:
    assert range_sigma([2.0, np.nan, 4.0], [1.0, 1.0, np.nan]) == pytest.approx(math.log(2.0) / math.sqrt(8 / math.pi))


def test_range_sigma_reads_a_brownian_volatility() -> None:
    rng = np.random.default_rng(3)
    sigma, n, m = 0.001, 2_000, 400
    paths = np.cumsum(rng.normal(0.0, sigma / math.sqrt(m), (n, m)), axis=1)
    est = range_sigma(np.exp(paths.max(axis=1)), np.exp(paths.min(axis=1)))
    # The median range reads low by about 5 % (documented), the discrete grid a little more.
    assert 0.8 * sigma < est < 1.0 * sigma


def test_range_sigma_states_the_median_range_of_a_brownian_motion() -> None:
    # The docstring said the median form reads "about 8 % low"; Feller's (1951) distribution of
    # the range gives a median of 1.5145 against a mean of sqrt(8 / pi) = 1.5958: 5.1 % low.
    import re

    from scipy import optimize, stats

    k = np.arange(1, 200)

    def tail(r: float) -> float:  # P(range > r), Feller (1951)
        return float(8.0 * np.sum((-1.0) ** (k - 1) * k * stats.norm.sf(k * r)))

    median = optimize.brentq(lambda r: tail(r) - 0.5, 0.5, 3.0)
    doc = " ".join((range_sigma.__doc__ or "").split())
    stated = re.search(r"reads about (\d+) % low.*?over unit time is ([\d.]+).*?which is ([\d.]+) times", doc)
    assert stated is not None, doc
    percent, med, ratio = (float(g) for g in stated.groups())
    assert med == pytest.approx(median, abs=5e-5)
    assert ratio == pytest.approx(median / math.sqrt(8.0 / math.pi), abs=5e-4)
    assert percent == round(100.0 * (1.0 - ratio))


def test_load_asset_market_cuts_the_window_and_the_lookback(tmp_path: Path) -> None:
    f = write_crash_klines(tmp_path / "X_1m.csv")
    m = load_asset_market("X", f, START, "2024-03-01T12:30:00Z", 60)
    assert len(m.bars) == 30
    assert m.lookback_bars == 60
    assert m.start_ns == pd.Timestamp(START).value
    raw = pd.read_csv(f)
    look = raw.iloc[60:120]
    assert m.daily_volume == pytest.approx(float(np.median(look["quote_volume"])) * 1440.0)
    sigma = float(np.median(np.log(look["high"] / look["low"]))) / math.sqrt(8.0 / math.pi) * math.sqrt(1440.0)
    assert m.sigma_daily == pytest.approx(sigma, rel=1e-12)
    # The look-back's bars are kept (the depth multiplier's trailing history), with one estimator.
    assert len(m.lookback) == 60
    assert int(m.lookback.index.asi8[-1]) == m.start_ns - 60 * 10**9
    assert bar_statistics(m.lookback["quote_volume"], m.lookback["high"], m.lookback["low"]) == (
        m.daily_volume,
        m.sigma_daily,
    )
    assert m.start_price == pytest.approx(float(raw["open"].iloc[120]))
    assert m.path(12).shape == (30 * 12 + 1,)


def test_load_asset_market_errors_name_the_problem(tmp_path: Path) -> None:
    f = write_crash_klines(tmp_path / "X_1m.csv")
    with pytest.raises(DataError, match="does not exist"):
        load_asset_market("X", tmp_path / "missing.csv", START, "2024-03-01T12:30:00Z", 60)
    with pytest.raises(DataError, match="of the window's"):
        load_asset_market("X", f, START, "2024-03-01T16:00:00Z", 60)
    with pytest.raises(InputError, match=r"window\.end"):
        load_asset_market("X", f, START, START, 60)
    with pytest.raises(InputError, match="time zone"):
        load_asset_market("X", f, "2024-03-01T12:00:00", "2024-03-01T12:30:00Z", 60)
    with pytest.raises(InputError, match="whole minutes"):
        load_asset_market("X", f, "2024-03-01T12:00:30Z", "2024-03-01T12:30:00Z", 60)
    with pytest.raises(InputError, match="lookback_minutes"):
        load_asset_market("X", f, START, "2024-03-01T12:30:00Z", 5)


def test_a_lookback_longer_than_the_file_is_refused_and_gaps_are_counted(tmp_path: Path) -> None:
    # An audit: a look-back of 180 minutes on a file that started 30 minutes before the window was
    # cut to 30 minutes silently. The file must reach back the whole look-back; minutes missing
    # inside it are allowed and counted (lookback_bars, reported in the replay's asset rows).
    f = write_crash_klines(tmp_path / "X_1m.csv")  # first bar 10:00, window from 12:00
    end = "2024-03-01T12:30:00Z"
    with pytest.raises(
        DataError, match=r"starts 120 minute\(s\) before window\.start.*asks for 121: lower it to at most 120"
    ):
        load_asset_market("X", f, START, end, 121)
    assert load_asset_market("X", f, START, end, 120).lookback_bars == 120
    late = "2024-03-01T10:05:00Z"  # 5 minutes after the file's first bar: too few for any look-back
    with pytest.raises(DataError, match=r"starts 5 minute\(s\) .*give at least 10 minutes of bars from earlier"):
        load_asset_market("X", f, late, "2024-03-01T10:30:00Z", 10)
    raw = pd.read_csv(f)
    gappy = tmp_path / "gappy.csv"
    raw.drop(index=range(20, 50)).to_csv(gappy, index=False)  # 10:20 to 10:49 missing
    m = load_asset_market("X", gappy, START, end, 120)
    assert m.lookback_bars == len(m.lookback) == 90
    assert len(m.bars) == 30


def test_read_liq_adl_csv(tmp_path: Path) -> None:
    p = tmp_path / "liq.csv"
    p.write_text("ticker,liq_notional,adl_notional\nBTC,100.5,20\n", encoding="utf-8")
    assert read_liq_adl_csv(p, "BTC") == {"liquidated_notional": 100.5, "adl_notional": 20.0}
    with pytest.raises(DataError, match="ticker 'SOL'"):
        read_liq_adl_csv(p, "SOL")
