"""Resampling and funding alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.data.frames import make_funding_frame, make_ohlcv_frame
from levguard.data.loaders import load_funding, load_ohlcv
from levguard.data.resample import align_funding, bar_step_ns, resample_ohlcv, sum_into_bars
from levguard.errors import DataError

H = 3_600_000_000_000


def _hourly(n: int, start_h: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    ts = (np.arange(n) + start_h) * H
    return make_ohlcv_frame(ts, open_, high, low, close, np.ones(n), symbol="X", interval="1h", source="t")


def test_resample_to_4h_aggregates_each_block() -> None:
    h = _hourly(12)
    four = resample_ohlcv(h, "4h")
    assert len(four) == 3
    block = h.iloc[4:8]
    row = four.iloc[1]
    assert row["open"] == block["open"].iloc[0]
    assert row["high"] == block["high"].max()
    assert row["low"] == block["low"].min()
    assert row["close"] == block["close"].iloc[-1]
    assert row["volume"] == 4
    assert four.attrs["interval"] == "4h"


def test_partial_bars_dropped_or_kept() -> None:
    h = _hourly(9, start_h=2)  # 02:00..10:00: the 00:00 and 08:00 blocks are partial
    assert len(resample_ohlcv(h, "4h")) == 1
    assert len(resample_ohlcv(h, "4h", partial="keep")) == 3


def test_resample_rejects_non_multiples() -> None:
    with pytest.raises(DataError, match="not a whole multiple"):
        resample_ohlcv(_hourly(10), "90m")


def test_align_funding_sums_prints_inside_each_bar() -> None:
    bars = resample_ohlcv(_hourly(24), "4h")
    prints = make_funding_frame(
        np.array([0, 1, 8, 9, 30]) * H, [0.001, 0.002, 0.003, 0.004, 0.5], symbol="X", source="t"
    )
    a = align_funding(prints, bars)
    # A print at an open is charged there; one inside a bar at the next open, to the position
    # held through it (01:00 in [00:00, 04:00) at 04:00; 09:00 at 12:00).
    assert a.tolist()[:4] == pytest.approx([0.001, 0.002, 0.003, 0.004])
    assert a.sum() == pytest.approx(0.010)  # 30:00 is beyond the last bar


@pytest.mark.shared_data
def test_hourly_binance_bars_resample_to_binance_daily_bars(shared_dir: Path) -> None:
    """Golden: 1h BTCUSDT perp klines resampled to 1d equal Binance's own 1d klines (OHLC exactly)."""
    hourly = load_ohlcv(shared_dir / "data/ohlcv/BTCUSDT-PERP_1h.csv")
    daily = load_ohlcv(shared_dir / "data/ohlcv/BTCUSDT-PERP_1d.csv")
    mine = resample_ohlcv(hourly, "1d")
    common = mine.index.intersection(daily.index)
    assert len(common) > 2000
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(mine.loc[common, col].to_numpy(), daily.loc[common, col].to_numpy())
    rel = np.abs(mine.loc[common, "volume"] / daily.loc[common, "volume"] - 1)
    assert float(np.median(rel)) < 1e-9


@pytest.mark.shared_data
def test_real_funding_aligns_to_hourly_bars(shared_dir: Path) -> None:
    hourly = load_ohlcv(shared_dir / "data/ohlcv/BTCUSDT-PERP_1h.csv")
    funding = load_funding(shared_dir / "data/funding/BTCUSDT_funding.csv")
    a = align_funding(funding, hourly)
    inside = funding[(funding.index >= hourly.index[0]) & (funding.index <= hourly.index[-1])]
    assert int((a != 0).sum()) == int((inside["funding_rate"] != 0).sum())
    assert a.sum() == pytest.approx(inside["funding_rate"].sum())


def test_sum_into_bars_keeps_what_falls_inside_and_drops_gaps() -> None:
    h = 3_600 * 10**9
    starts = np.array([0, h, 2 * h, 5 * h], dtype=np.int64)  # a gap: bars 3 and 4 are missing
    bar = bar_step_ns(starts)
    assert bar == h  # the commonest step, not the gap
    times = np.array([-1, 0, h - 1, h, 2 * h + 5, 3 * h, 4 * h + 1, 5 * h, 6 * h], dtype=np.int64)
    values = np.array([100.0, 1.0, 2.0, 4.0, 8.0, 200.0, 400.0, 16.0, 800.0])
    # Before the first bar, inside the gap and after the last bar's end: dropped.
    assert sum_into_bars(starts, bar, times, values).tolist() == [3.0, 4.0, 8.0, 16.0]
    assert bar_step_ns(np.array([0, h, 4 * h, 7 * h])) == 3 * h
    assert bar_step_ns(np.array([5])) == 1


def test_weeks_start_on_monday_as_binance_weekly_klines() -> None:
    # 7d bars were anchored at the Unix epoch, a Thursday (2024-01-04 for January 2024; a CLI audit).
    idx = pd.date_range("2024-01-01", periods=24 * 30, freq="1h", tz="UTC")
    df = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}, index=idx)
    weeks = resample_ohlcv(df, "7d")
    assert [t.strftime("%Y-%m-%d %a") for t in weeks.index] == ["2024-01-01 Mon", "2024-01-08 Mon", "2024-01-15 Mon",
                                                                 "2024-01-22 Mon"]  # fmt: skip
    assert resample_ohlcv(df, "1d").index[1] == pd.Timestamp("2024-01-02", tz="UTC")


def test_bars_that_cross_a_target_boundary_are_refused() -> None:
    # Weekly bars from the epoch grid (Thursdays) went into Monday weeks labelled 3 days before
    # their data (a review); a bar that crosses a boundary is refused by name.
    thursdays = pd.date_range("2024-01-04", periods=6, freq="7D", tz="UTC")
    weekly = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}, index=thursdays)
    weekly.attrs["interval"] = "1w"
    with pytest.raises(DataError, match=r"the bar at 2024-01-04T00:00:00\+00:00 crosses a 1w boundary"):
        resample_ohlcv(weekly, "1w")
    odd = pd.date_range("2024-01-01 02:00", periods=60, freq="4h", tz="UTC")  # 22:00-02:00 crosses midnight
    four = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}, index=odd)
    with pytest.raises(DataError, match="crosses a 1d boundary"):
        resample_ohlcv(four, "1d")


def test_resample_keeps_mark_and_index_bars_and_sums_funding(tmp_path: Path) -> None:
    # resample_ohlcv kept only OHLCV: a frame with mark-price bars came out priced by the last
    # price (bar_prices "last-price"), and `levguard data resample` wrote it so.
    from levguard.data.frames import bar_prices
    from levguard.data.loaders import save_frame

    h = _hourly(8)
    for prefix, k in (("mark_", 0.999), ("index_", 0.998)):
        for c in ("open", "high", "low", "close"):
            h[prefix + c] = h[c] * k
    h["funding_rate"] = np.nan
    h.iloc[1, h.columns.get_loc("funding_rate")] = 1e-4
    four = resample_ohlcv(h, "4h")
    block = h.iloc[4:8]
    for prefix in ("mark_", "index_"):
        assert four[prefix + "open"].tolist()[1] == block[prefix + "open"].iloc[0]
        assert four[prefix + "high"].tolist()[1] == block[prefix + "high"].max()
        assert four[prefix + "low"].tolist()[1] == block[prefix + "low"].min()
        assert four[prefix + "close"].tolist()[1] == block[prefix + "close"].iloc[-1]
    # The 01:00 print (charged at the 01:00 open to the position held 00:00-01:00) is charged at
    # the 04:00 open of 4h bars, to the position held through it.
    assert np.isnan(four["funding_rate"].iloc[0])
    assert four["funding_rate"].iloc[1] == 1e-4
    assert bar_prices(four) == "mark"
    # through the file loader and back
    hourly = h[["open", "high", "low", "close", "volume", "mark_open", "mark_high", "mark_low", "mark_close"]]
    path = save_frame(hourly, tmp_path / "X_1h.csv")
    out = resample_ohlcv(load_ohlcv(path), "4h")
    assert [c for c in out.columns if c.startswith("mark_")] == ["mark_open", "mark_high", "mark_low", "mark_close"]


def test_a_resampled_perp_frame_charges_prints_as_aligning_them_to_the_coarser_bars_does() -> None:
    """A review (2026-12-07): with the 13:00 bar missing, resampling a 1h perp frame to 6h dropped
    the 08:00 print with the partial 12:00 bar, and aligning the prints to the 6h bars dropped the
    16:00 one (inside the gap): 0.0061 and 0.0059 of 0.0063, without a word.  A print whose bar
    is missing goes to the next bar kept, whose open charges the position that held it."""
    from levguard.data.perp import perp_frame

    idx = pd.date_range("2024-01-01", periods=48, freq="1h", tz="UTC")
    last = pd.DataFrame({"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": 1.0}, index=idx)
    last = last.drop(pd.Timestamp("2024-01-01 13:00", tz="UTC"))
    last.attrs.update(symbol="BTCUSDT", interval="1h")
    rates = [1e-4, 2e-4, 4e-4, 8e-4, 16e-4, 32e-4]
    prints = pd.DataFrame({"funding_rate": rates}, index=pd.date_range("2024-01-01", periods=6, freq="8h", tz="UTC"))
    hourly = perp_frame(last, None, prints)
    assert hourly["funding_rate"].sum() == pytest.approx(sum(rates))
    six = resample_ohlcv(hourly, "6h")  # the 12:00 bar is partial: dropped
    bars = resample_ohlcv(last, "6h")
    bars.attrs.update(symbol="BTCUSDT", interval="6h")
    direct = perp_frame(bars, None, prints)["funding_rate"]
    np.testing.assert_array_equal(six["funding_rate"].to_numpy(), direct.to_numpy())
    # 00:00 at 00:00; 08:00 and 16:00 (12:00 missing) at 18:00; the next day's at 00:00, 12:00, 18:00.
    assert six["funding_rate"].sum() == pytest.approx(sum(rates))
    assert six["funding_rate"].loc["2024-01-01 18:00"] == pytest.approx(6e-4)


def test_resample_notes_the_bars_it_drops_and_the_prints_it_moves_or_drops() -> None:
    """`resample_ohlcv` dropped partial bars and the funding prints after its last bar, and
    charged prints whose own bar was dropped at the next bar kept, without a word (perp_frame notes
    each such case; session 60 left this)."""
    idx = pd.date_range("2024-01-01 05:00", periods=72, freq="1h", tz="UTC")
    f = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=idx)
    f["funding_rate"] = np.where(idx.hour % 8 == 0, 1e-4, np.nan)
    f = f.drop(f.index[30:35])  # 2024-01-02 11:00-15:00: the 2nd day is partial too
    f.attrs.update(interval="1h", notes=["from the source"])
    out = resample_ohlcv(f, "1d")
    assert out.index.tolist() == [pd.Timestamp("2024-01-03", tz="UTC")]
    notes = out.attrs["notes"]
    assert notes[0] == "from the source"
    assert notes[1].startswith("3 partial 1d bar(s) dropped (missing some of their 24 1h bars): 2024-01-01T00:00")
    # 01-03 08:00, 16:00 and 01-04 00:00: after the last bar's open, charged by no bar
    assert notes[2].startswith("3 funding print(s) after the last 1d bar's open dropped")
    assert "sum 0.0003" in notes[2]
    # 01-01 08:00, 16:00 and 01-02 00:00 belong to 01-02's open, dropped: charged at 01-03's
    assert notes[3].startswith("3 funding print(s) charged at the next 1d bar kept")
    assert out["funding_rate"].iloc[0] == pytest.approx(6e-4)
    assert len(notes) == 4
    # whole bars and prints that all land on their own bar: nothing to say
    whole = resample_ohlcv(_hourly(12), "4h")
    assert whole.attrs["notes"] == []
