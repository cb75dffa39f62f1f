"""The outcome builder on small hand-made bar frames, and the liquidation distance from the margin engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from validation_helpers import hourly_bars

from levguard.core.risk.forecast import horizon_hours
from levguard.errors import DataError, InputError
from levguard.risk.validation import build_cases, case_hours, liquidation_distance, validate_liquidation

START = "2024-01-01"
N_BARS = 40 * 24  # closes run to 2024-02-10 00:00


def flat(**kw: object) -> pd.DataFrame:
    return hourly_bars(START, np.full(N_BARS, 100.0), asset="TEST", **kw)  # type: ignore[arg-type]


def with_low(frame: pd.DataFrame, when: str, low: float, *, mark_only: bool = True) -> pd.DataFrame:
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    t = pd.Timestamp(when, tz="UTC")
    out.loc[t, "mark_low"] = low
    if not mark_only:
        out.loc[t, "low"] = low
    return out


def outcome(cases: pd.DataFrame, as_of: str, side: str, lev: float, horizon: float) -> int:
    row = cases[
        (cases["as_of"] == pd.Timestamp(as_of, tz="UTC"))
        & (cases["side"] == side)
        & (cases["leverage"] == lev)
        & (cases["horizon_days"] == horizon)
    ]
    assert len(row) == 1
    return int(row["outcome"].iloc[0])


def d(side: str, lev: float) -> float:
    return liquidation_distance("TEST", side, lev, price=100.0)[0]


def test_grid_warmup_and_horizon_end() -> None:
    """Daily as_of from the first midnight 30 days in; a horizon past the last close is dropped."""
    cases = build_cases(flat())
    days_1d = cases.loc[cases["horizon_days"] == 1, "as_of"].unique()
    days_7d = cases.loc[cases["horizon_days"] == 7, "as_of"].unique()
    assert pd.Timestamp(days_1d[0]) == pd.Timestamp("2024-01-31", tz="UTC")
    assert pd.Timestamp(days_1d[-1]) == pd.Timestamp("2024-02-09", tz="UTC")  # ends at the last close
    assert len(days_1d) == 10
    assert pd.Timestamp(days_7d[-1]) == pd.Timestamp("2024-02-03", tz="UTC")
    assert len(cases) == (10 + 4) * 2 * 3
    assert cases["outcome"].sum() == 0
    assert set(cases.columns) >= {"asset", "as_of", "side", "sign", "leverage", "horizon_days", "distance", "outcome"}
    assert (cases["asset"] == "TEST").all()
    assert cases["entry_mark"].eq(100.0).all()


def test_a_touch_at_exactly_the_liquidation_price_counts() -> None:
    """Mark low equal to the long 10x liquidation price at 05:00 the day after as_of: liquidated."""
    lp = 100.0 * (1.0 - d("long", 10.0))
    cases = build_cases(with_low(flat(), "2024-01-31 05:00", lp))
    assert outcome(cases, "2024-01-31", "long", 10.0, 1) == 1
    assert outcome(cases, "2024-01-31", "long", 20.0, 1) == 1  # closer liquidation price
    assert outcome(cases, "2024-01-31", "long", 5.0, 1) == 0  # further away
    assert outcome(cases, "2024-01-31", "short", 10.0, 1) == 0
    assert outcome(cases, "2024-02-01", "long", 10.0, 1) == 0  # the touch is before this as_of


def test_a_near_miss_does_not_count() -> None:
    lp = 100.0 * (1.0 - d("long", 10.0))
    cases = build_cases(with_low(flat(), "2024-01-31 05:00", np.nextafter(lp, np.inf)))
    assert outcome(cases, "2024-01-31", "long", 10.0, 1) == 0
    assert outcome(cases, "2024-01-31", "long", 20.0, 1) == 1


def test_a_touch_after_the_horizon_does_not_count() -> None:
    """The bar opening at as_of + 1 day closes after the 1-day horizon; the 7-day horizon sees it."""
    lp = 100.0 * (1.0 - d("long", 10.0))
    cases = build_cases(with_low(flat(), "2024-02-01 00:00", lp))
    assert outcome(cases, "2024-01-31", "long", 10.0, 1) == 0
    assert outcome(cases, "2024-01-31", "long", 10.0, 7) == 1
    assert outcome(cases, "2024-02-01", "long", 10.0, 1) == 1


def test_the_last_bar_inside_the_horizon_counts() -> None:
    """The bar opening 23:00 closes exactly at as_of + 1 day: inside."""
    lp = 100.0 * (1.0 - d("long", 10.0))
    cases = build_cases(with_low(flat(), "2024-01-31 23:00", lp))
    assert outcome(cases, "2024-01-31", "long", 10.0, 1) == 1


def test_the_bar_closing_at_as_of_is_not_in_the_window() -> None:
    """The bar opening 23:00 the day before closes at as_of: it sets the entry, it is no outcome."""
    lp = 100.0 * (1.0 - d("long", 10.0))
    cases = build_cases(with_low(flat(), "2024-01-31 23:00", lp))
    assert outcome(cases, "2024-02-01", "long", 10.0, 1) == 0


def test_short_touches_on_the_mark_high() -> None:
    frame = flat()
    lp = 100.0 * (1.0 + d("short", 10.0))
    frame.loc[pd.Timestamp("2024-02-02 12:00", tz="UTC"), "mark_high"] = lp
    cases = build_cases(frame)
    assert outcome(cases, "2024-02-02", "short", 10.0, 1) == 1
    assert outcome(cases, "2024-02-02", "long", 10.0, 1) == 0
    assert outcome(cases, "2024-02-01", "short", 10.0, 1) == 0
    assert outcome(cases, "2024-02-01", "short", 10.0, 7) == 1


def test_the_mark_decides_not_the_last_price() -> None:
    """A last-price wick through the liquidation price without the mark is no liquidation; without
    mark columns the last price stands in."""
    lp = 100.0 * (1.0 - d("long", 10.0))
    frame = flat()
    frame.loc[pd.Timestamp("2024-01-31 05:00", tz="UTC"), "low"] = lp * 0.9
    assert outcome(build_cases(frame), "2024-01-31", "long", 10.0, 1) == 0
    last_only = frame.drop(columns=["mark_open", "mark_high", "mark_low", "mark_close"])
    assert outcome(build_cases(last_only), "2024-01-31", "long", 10.0, 1) == 1


def test_entry_is_the_close_at_as_of_and_the_price_is_fixed() -> None:
    """The entry is the mark close of the bar closing at as_of; a later rally does not move the price."""
    closes = np.full(N_BARS, 100.0)
    i = 31 * 24 - 1  # the bar opening 2024-01-31 23:00 (closes at 2024-02-01 00:00)
    closes[i:] = 200.0
    frame = hourly_bars(START, closes, asset="TEST")
    cases = build_cases(frame)
    first = cases[cases["as_of"] == pd.Timestamp("2024-02-01", tz="UTC")]
    assert first["entry_mark"].eq(200.0).all()
    before = cases[cases["as_of"] == pd.Timestamp("2024-01-31", tz="UTC")]
    assert before["entry_mark"].eq(100.0).all()
    assert before.loc[before["side"] == "short", "outcome"].eq(1).all()  # 100 -> 200 liquidates every short


def test_stale_as_of_is_skipped() -> None:
    """No bar closed in the 24 hours before 2024-02-05: that as_of is left out."""
    frame = flat()
    gap = (frame.index >= pd.Timestamp("2024-02-03 23:00", tz="UTC")) & (
        frame.index < pd.Timestamp("2024-02-05 00:00", tz="UTC")
    )
    cases = build_cases(frame.loc[~gap])
    days = set(cases.loc[cases["horizon_days"] == 1, "as_of"])
    assert pd.Timestamp("2024-02-05", tz="UTC") not in days
    assert pd.Timestamp("2024-02-06", tz="UTC") in days


def test_a_window_with_a_gap_in_the_bars_is_left_out_and_counted() -> None:
    """Twelve hours missing on 2024-02-02 (an outage): the 1-day window of that day and the 7-day
    windows over it hold fewer than 95 % of their bars, so their outcome is unknown (a touch may
    be in the gap) and they are not scored, even where the bars there touch; one missing hour a
    day is within the tolerance."""
    lp = 100.0 * (1.0 - d("long", 10.0))
    frame = with_low(flat(), "2024-02-02 20:00", lp)  # a touch in the window, after the gap
    gap = (frame.index >= pd.Timestamp("2024-02-02 06:00", tz="UTC")) & (
        frame.index < pd.Timestamp("2024-02-02 18:00", tz="UTC")
    )
    one_hour = frame.index == pd.Timestamp("2024-02-06 03:00", tz="UTC")
    cases = build_cases(frame.loc[~gap & ~one_hour])
    daily = set(cases.loc[cases["horizon_days"] == 1, "as_of"])
    weekly = set(cases.loc[cases["horizon_days"] == 7, "as_of"])
    assert pd.Timestamp("2024-02-02", tz="UTC") not in daily
    assert {pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-03", tz="UTC")} <= daily
    assert pd.Timestamp("2024-02-06", tz="UTC") in daily  # 23 of 24 bars
    assert not any(t <= pd.Timestamp("2024-02-02", tz="UTC") for t in weekly)
    assert pd.Timestamp("2024-02-03", tz="UTC") in weekly
    # 1 daily and 3 weekly windows (2024-01-31 to 02-02; the earlier ones are before the warm-up),
    # each for both sides at 5, 10 and 20x.
    assert cases.attrs["incomplete"] == (1 + 3) * 2 * 3
    assert build_cases(frame).attrs["incomplete"] == 0


def test_bars_off_the_hour_and_windows_shorter_than_a_bar_are_not_gaps() -> None:
    """Gapless bars opening at :30 fill 23 whole bars of a day, all a complete series has (a review
    found every window under 20 hours counted as a gap); a window shorter than a bar holds none,
    is left out as before and is not counted as a gap."""
    frame = hourly_bars("2024-01-01 00:30", np.full(N_BARS, 100.0), asset="TEST")
    cases = build_cases(frame, horizons=[0.5, 1.0, 1 / 24])
    assert cases.attrs["incomplete"] == 0
    assert set(cases["horizon_days"]) == {0.5, 1.0}


@pytest.mark.parametrize(("days", "hours"), [(1.5 / 24, "1.5"), (0.15, "3.6"), (0.01, "0.24"), (1 / 48, "0.5")])
def test_a_horizon_that_is_not_whole_hours_is_refused(days: float, hours: str) -> None:
    """Outcomes were scored on the bars closing by ``as_of + h`` (1.5 h: one bar) while the forecast
    rounds the horizon to the nearest hour (1.5 h: 2 hours): two different windows."""
    with pytest.raises(InputError, match=rf"horizon must be a whole number of hours .*was {days!r} days = {hours} h"):
        build_cases(flat(), horizons=[days])
    with pytest.raises(InputError, match="horizon must be a whole number of hours"):
        validate_liquidation(flat(), horizons=[1, days])


@pytest.mark.parametrize("hours", [1, 2, 3, 36])
def test_the_outcome_window_is_the_forecasts_hours(hours: int) -> None:
    """A touch in the second hour after as_of: a horizon of ``hours`` whole hours sees it from 2 h on,
    and the forecast reads the same number of hours."""
    frame = with_low(flat(), "2024-02-01 01:00", 50.0)
    days = hours / 24
    cases = build_cases(frame, leverages=[10], horizons=[days], sides=["long"])
    assert outcome(cases, "2024-02-01", "long", 10.0, days) == int(hours >= 2)
    assert int(horizon_hours(days)[0]) == hours
    assert case_hours(days) == hours


def test_a_typed_hour_is_an_hour() -> None:
    """1 h typed as 0.0416667 days (8e-7 h off) is the 1 h horizon, as the forecast rounds it."""
    assert case_hours(0.0416667) == 1
    a = build_cases(flat(), horizons=[0.0416667]).drop(columns="horizon_days")
    b = build_cases(flat(), horizons=[1 / 24]).drop(columns="horizon_days")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("venue", ["binance-usdm", "bitmex", "hyperliquid", "gate", "okx"])
def test_a_case_reads_no_price_after_its_as_of(venue: str) -> None:
    """The distance was solved at the median of every mark close, scored period included (the last
    digits moved with later prices); it is now solved at the first case's entry mark."""
    rng = np.random.default_rng(5)
    closes = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 200 * 24)))
    frame = hourly_bars(START, closes, asset="BTCUSDT")
    full = build_cases(frame, venue=venue, notional=2e7, horizons=[1])
    first = full["as_of"].iloc[0]
    cut = frame[frame.index < first + pd.Timedelta(days=1)]
    head = build_cases(cut, venue=venue, notional=2e7, horizons=[1])
    assert head.attrs["distances"] == full.attrs["distances"]  # bit for bit
    n = len(head)
    pd.testing.assert_frame_equal(head, full.iloc[:n], check_exact=True)


def test_leverage_horizon_and_side_grid() -> None:
    cases = build_cases(flat(), leverages=[3], horizons=[2.5], sides=["short"])
    assert set(cases["leverage"]) == {3.0}
    assert set(cases["horizon_days"]) == {2.5}
    assert set(cases["side"]) == {"short"}
    assert cases.attrs["distances"] == {"short 3x": pytest.approx(d("short", 3.0))}


@pytest.mark.parametrize(
    ("make", "error", "needle"),
    [
        (lambda f: f.drop(columns=["low"]), DataError, r"lack column\(s\) \['low'\]"),
        (lambda f: f.tz_localize(None), DataError, "UTC DatetimeIndex"),
        (lambda f: f.iloc[::4], DataError, "must be 1h, were 4h"),
        (lambda f: f.iloc[::-1], DataError, "strictly increasing"),
    ],
)
def test_bad_bars(make: object, error: type[Exception], needle: str) -> None:
    with pytest.raises(error, match=needle):
        build_cases(make(flat()))  # type: ignore[operator]


def test_bad_grid() -> None:
    with pytest.raises(InputError, match="horizon must be > 0 days, was 0"):
        build_cases(flat(), horizons=[0])
    with pytest.raises(InputError, match=r"horizon must be at most 36,500 days, was 1e\+308"):  # was OverflowError
        build_cases(flat(), horizons=[1e308])
    with pytest.raises(InputError, match="leverage must be > 0 and finite, was -2"):
        build_cases(flat(), leverages=[-2])
    with pytest.raises(InputError, match="side must be 'long' or 'short', was 'up'"):
        build_cases(flat(), sides=["up"])


# ----------------------------------------------------------------------------- liquidation distance
@pytest.mark.parametrize("lev", [5.0, 10.0, 20.0])
def test_distance_on_binance_btcusdt_matches_the_faq_formula(lev: float) -> None:
    """First bracket (10,000 USDT < 50,000): MMR 0.4 %, cum 0.  LP/EP = (1/L - s) / (MMR - s)."""
    long_d, source = liquidation_distance("BTCUSDT", "long", lev, price=60_000.0)
    short_d, _ = liquidation_distance("BTCUSDT", "short", lev, price=60_000.0)
    assert long_d == pytest.approx(1.0 - (1.0 - 1.0 / lev) / (1.0 - 0.004), rel=1e-12)
    assert short_d == pytest.approx((1.0 + 1.0 / lev) / (1.0 + 0.004) - 1.0, rel=1e-12)
    assert "Binance" in source


def test_distance_does_not_depend_on_the_entry_price() -> None:
    for price in (0.5, 100.0, 60_000.0):
        assert liquidation_distance("ETHUSDT", "long", 10.0, price=price)[0] == pytest.approx(
            liquidation_distance("ETHUSDT", "long", 10.0, price=1_000.0)[0], rel=1e-12
        )


def test_unknown_symbol_gets_the_generic_tier() -> None:
    """A flat 0.5 % maintenance rate, named in the source."""
    dist, source = liquidation_distance("DOGEUSDT", "long", 10.0)
    assert dist == pytest.approx(1.0 - 0.9 / 0.995, rel=1e-12)
    assert "generic tier" in source
    assert "DOGEUSDT" in source


def test_leverage_above_the_tier_cap_is_refused() -> None:
    with pytest.raises(InputError, match="exceeds the maximum"):
        liquidation_distance("BTCUSDT", "long", 200.0)
