"""Price feeds of the paper venue: synthetic paths, replayed files, scripted crashes."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.data.crashes import crash_by_name
from levguard.data.frames import make_ohlcv_frame
from levguard.data.loaders import load_ohlcv, save_frame
from levguard.errors import InputError
from levguard.venues.paper import DEFAULT_START_NS, DEFAULT_TICK_NS, PaperVenue, PriceFeed, crash_feed, scripted_crash

HOUR_NS = 3_600 * 10**9


def test_scripted_crash_shape() -> None:
    feed = scripted_crash(100.0, 0.2, 4, flat=3, rebound=0.1, rebound_ticks=2, tail=2)
    assert len(feed) == 3 + 4 + 2 + 2
    np.testing.assert_allclose(feed.last[:3], 100.0)
    np.testing.assert_allclose(feed.last[6], 80.0)  # trough: tick flat + ticks - 1
    ratios = feed.last[3:7] / feed.last[2:6]
    np.testing.assert_allclose(ratios, 0.8**0.25)  # geometric fall
    np.testing.assert_allclose(feed.last[8], 88.0)  # rebound of 10 % over 2 ticks
    np.testing.assert_allclose(feed.last[-2:], 88.0)
    np.testing.assert_array_equal(feed.mark, feed.last)


def test_scripted_crash_mark_skips_part_of_the_fall() -> None:
    feed = scripted_crash(100.0, 0.2, 4, flat=2, tail=1, mark_excess=0.02)
    assert feed.mark[0] == pytest.approx(100.0)
    assert feed.mark[5] == pytest.approx(80.0 * 1.02)
    assert np.all(feed.mark >= feed.last)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drop": 0.0},
        {"drop": 1.0},
        {"ticks": 0},
        {"flat": 0},
        {"rebound": 0.1},
        {"rebound": -0.1, "rebound_ticks": 2},
        {"mark_excess": 0.6},
    ],
)
def test_scripted_crash_rejects_bad_input(kwargs: dict[str, float]) -> None:
    args = {"start": 100.0, "drop": 0.2, "ticks": 3} | kwargs
    with pytest.raises(InputError):
        scripted_crash(**args)  # type: ignore[arg-type]


def test_path_feed_with_separate_mark_holds_after_its_end() -> None:
    feed = PriceFeed.from_path([10.0, 11.0, 12.0], mark=[10.5, 11.5, 12.5])
    assert feed.at(0) == (10.0, 10.5)
    assert feed.at(2) == (12.0, 12.5)
    assert feed.at(50) == (12.0, 12.5)
    assert not feed.last.flags.writeable


@pytest.mark.parametrize(("last", "mark"), [([], None), ([1.0, -1.0], None), ([1.0, np.nan], None), ([1.0], [1, 2])])
def test_path_feed_rejects_bad_prices(last: list[float], mark: list[float] | None) -> None:
    with pytest.raises(InputError):
        PriceFeed.from_path(last, mark)


def test_replayed_file_sets_the_clock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    start = 1_700_000_000 * 10**9 // HOUR_NS * HOUR_NS
    ts = start + HOUR_NS * np.arange(4)
    close = np.array([100.0, 101.0, 99.0, 98.0])
    bars = make_ohlcv_frame(ts, close, close + 1, close - 1, close, symbol="BTCUSDT", interval="1h", source="t")
    m = close + 0.5
    mark = make_ohlcv_frame(ts, m, m, m, m, symbol="BTCUSDT", interval="1h", source="t", kind="mark")
    path = save_frame(bars, tmp_path / "BTCUSDT_1h.csv")
    mark_path = save_frame(mark, tmp_path / "BTCUSDT-mark_1h.csv")
    feed = PriceFeed.from_frame(load_ohlcv(path), load_ohlcv(mark_path, kind="mark"))
    np.testing.assert_allclose(feed.last, close)
    np.testing.assert_allclose(feed.mark, close + 0.5)
    assert (feed.start_ns, feed.tick_ns) == (start, HOUR_NS)
    venue = PaperVenue(feeds={"BTCUSDT": feed}, wallet_balance=1_000.0)
    assert venue.now_ns == start
    report = venue.step_sync()
    assert report.ts_ns == start + HOUR_NS == venue.now_ns
    assert report.marks == {"BTCUSDT": 101.5}


def test_replayed_frame_needs_matching_mark_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ts = HOUR_NS * np.arange(3)
    c = np.ones(3)
    bars = make_ohlcv_frame(ts, c, c, c, c, symbol="X", interval="1h", source="t")
    mark = make_ohlcv_frame(ts[:2], c[:2], c[:2], c[:2], c[:2], symbol="X", interval="1h", source="t", kind="mark")
    with pytest.raises(InputError, match="timestamps"):
        PriceFeed.from_frame(bars, mark)


def test_default_clock_without_timestamps() -> None:
    venue = PaperVenue(feeds={"BTCUSDT": [1.0, 2.0]}, wallet_balance=0.0)
    assert venue.now_ns == DEFAULT_START_NS
    venue.step_sync()
    assert venue.now_ns == DEFAULT_START_NS + DEFAULT_TICK_NS
    assert venue.exhausted
    venue.step_sync()  # the clock runs on; prices hold
    assert venue.marks() == {"BTCUSDT": 2.0}


def test_crash_feed_follows_a_named_crash() -> None:
    ftx = crash_by_name("ftx")
    feed = crash_feed(ftx, 100.0, ticks_per_hour=2, flat=3)
    trough = 3 + ftx.speed_hours * 2 - 1
    assert feed.last[trough] == pytest.approx(100.0 * (1 - ftx.depth))
    assert feed.last.min() == pytest.approx(100.0 * (1 - ftx.depth))
    assert feed.mark[trough] == pytest.approx(feed.last[trough] * (1 + ftx.mark_excess))
    with pytest.raises(InputError):
        crash_feed(ftx, 100.0, ticks_per_hour=0)


@pytest.mark.parametrize("feed_ticks", [1, 5, 20, 50])
def test_a_shock_starts_at_the_next_tick_even_after_the_feed_ran_out(feed_ticks: int) -> None:
    """Appended to a feed that had run out (5 ticks, shocked at tick 20), a fall of 10 % over 10
    ticks was entered part-way: 54,000 at every tick from the first, instead of 59,371, 58,749,
    ... 54,000 at the tenth.  The feed is held at its last price up to the current tick."""
    venue = PaperVenue("binance-usdm", feeds={"BTCUSDT": [60_000.0] * feed_ticks}, wallet_balance=1e6, funding_rate=0.0)
    for _ in range(20):
        venue.step_sync()
    venue.shock("BTCUSDT", 0.10, ticks=10, hold=5)
    marks = [venue.step_sync().marks["BTCUSDT"] for _ in range(17)]
    expected = [60_000.0 * 0.9 ** (k / 10) for k in range(1, 11)] + [54_000.0] * 7
    np.testing.assert_allclose(marks, expected, rtol=1e-12)
    assert round(marks[0]) == 59_371
    assert [venue.marks()["BTCUSDT"]] == [54_000.0]


@pytest.mark.parametrize(
    ("drop", "label"), [(0.0001, "-0.01%"), (-0.0001, "+0.01%"), (0.1, "-10%"), (0.12345, "-12.35%"), (-0.5, "+50%")]
)
def test_a_shocked_feed_names_the_move_it_was_given(drop: float, label: str) -> None:
    # A basis point (the smallest shock) was labelled "+0%"; a fall (drop > 0) reads negative, as
    # scripted_crash's label and the dashboard's "shock -20 %" (it read "+20%" for a 20 % fall).
    venue = PaperVenue("binance-usdm", feeds={"BTCUSDT": [60_000.0] * 5}, wallet_balance=1e6, funding_rate=0.0)
    venue.shock("BTCUSDT", drop, ticks=2)
    assert venue._feeds["BTCUSDT"].source == f"BTCUSDT + shock {label}"
