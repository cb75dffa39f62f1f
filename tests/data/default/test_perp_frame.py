"""``levguard.data.perp``: one backtest frame from last price, mark price and funding, nothing filled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.data.frames import make_funding_frame, make_ohlcv_frame
from levguard.data.perp import load_perp_dir, perp_frame, perp_summary, recent_span
from levguard.errors import DataError, InputError

H = 3_600 * 1_000_000_000
T0 = pd.Timestamp("2024-01-01", tz="UTC").value


def _bars(start: int, n: int, *, kind: str = "ohlcv", interval: str = "1h", base: float = 100.0) -> pd.DataFrame:
    step = {"1h": H, "4h": 4 * H, "1d": 24 * H}[interval]
    ts = start + step * np.arange(n)
    close = base + np.arange(n, dtype=float)
    return make_ohlcv_frame(
        ts, close, close + 1, close - 1, close, np.ones(n), symbol="BTCUSDT", interval=interval, source=kind, kind=kind
    )


def _funding(start: int, n: int, rate: float = 0.0001, every_h: int = 8) -> pd.DataFrame:
    return make_funding_frame(start + every_h * H * np.arange(n), np.full(n, rate), symbol="BTCUSDT", source="f")


def test_mark_is_intersected_not_filled() -> None:
    last = _bars(T0, 48)
    mark = _bars(T0 + 5 * H, 50, kind="mark", base=110.0).drop(pd.Timestamp(T0 + 20 * H, unit="ns", tz="UTC"))
    frame = perp_frame(last, mark)
    # Bars 0-4 (before the mark starts) and 20 (missing mark) are dropped; mark bars after 47 ignored.
    assert len(frame) == 48 - 5 - 1
    assert frame.index[0] == pd.Timestamp(T0 + 5 * H, unit="ns", tz="UTC")
    assert pd.Timestamp(T0 + 20 * H, unit="ns", tz="UTC") not in frame.index
    np.testing.assert_array_equal(frame["mark_close"].to_numpy(), mark["close"].reindex(frame.index).to_numpy())
    assert not frame[["mark_open", "mark_high", "mark_low", "mark_close"]].isna().any().any()
    notes = frame.attrs["notes"]
    assert any("5 earlier last-price bar(s) dropped" in n for n in notes)
    assert any("1 last-price bar(s) without a mark bar inside the common span dropped" in n for n in notes)
    assert any("mark bar(s) without a last-price bar ignored" in n for n in notes)
    assert frame.attrs["symbol"] == "BTCUSDT"
    assert frame.attrs["mark_source"] == "mark"


def test_funding_summed_per_bar_nan_where_no_print() -> None:
    last = _bars(T0, 24 * 4)
    # Prints from day 2 on only, plus one before the bars and a zero-rate print.
    funding = _funding(T0 + 24 * H, 9)
    funding.iloc[0, 0] = 0.0
    early = make_funding_frame([T0 - 8 * H], [0.5], symbol="BTCUSDT", source="f")
    frame = perp_frame(last, None, pd.concat([early, funding]))
    rates = frame["funding_rate"]
    assert rates.notna().sum() == 9
    assert rates.iloc[:24].isna().all()  # no funding charged where the series does not cover
    assert rates.iloc[24] == 0.0  # a real zero print stays a settlement
    assert rates.iloc[32] == pytest.approx(0.0001)
    notes = frame.attrs["notes"]
    assert any(n.startswith("funding starts 2024-01-02 00:00") for n in notes)
    assert any("1 funding print(s) outside the bars' span ignored" in n for n in notes)
    assert "mark_open" not in frame.columns


def test_funding_inside_a_gap_between_bars_is_charged_after_it_and_said() -> None:
    """Bars missing two days (a 48-hour hole in the file): the six prints settling inside it fall
    on no bar.  No trade happens in a gap, so the position carried into the bar after it held
    them: they are charged at its open (they were dropped, first without a word, then noted)."""
    last = _bars(T0, 24 * 4)
    last = last.drop(last.index[24:72])
    frame = perp_frame(last, None, _funding(T0, 12))
    rates = frame["funding_rate"]
    assert rates.notna().sum() == 6
    assert rates.iloc[24] == pytest.approx(7 * 0.0001)  # the gap's six and the bar's own
    assert rates.sum() == pytest.approx(12 * 0.0001)
    notes = frame.attrs["notes"]
    assert any(n.startswith("6 funding print(s) settle inside gaps between the bars: each is charged") for n in notes)
    assert not any("outside the bars' span" in n for n in notes)
    assert not any("more than one funding print" in n for n in notes)


def test_summary_numbers() -> None:
    last = _bars(T0, 24 * 10)
    frame = perp_frame(last, _bars(T0, 24 * 10, kind="mark"), _funding(T0, 30, rate=0.0002))
    s = perp_summary(frame)
    assert s["bars"] == 240
    assert s["funding_mean_per_8h"] == pytest.approx(0.0002)
    rets = np.diff(np.log(last["close"].to_numpy()))
    assert s["annualised_vol"] == pytest.approx(np.std(rets, ddof=1) * np.sqrt(24 * 365))
    assert s["worst_intraday_drop"] == pytest.approx(min(99.0 / 100.0, 123.0 / 124.0) - 1)
    # Hourly prints of 0.0001 are 0.0008 per 8h.
    hourly = perp_frame(last, None, _funding(T0, 240, rate=0.0001, every_h=1))
    assert perp_summary(hourly)["funding_mean_per_8h"] == pytest.approx(0.0008)


def test_summary_funding_mean_holds_when_the_interval_changes() -> None:
    """90 days of 8h prints at 1e-4, then 30 days of 1h prints at 1.25e-5: 1e-4 per 8h
    throughout. The mean per print x 8h / median spacing gave 2.9e-4."""
    last = _bars(T0, 24 * 120)
    eight = _funding(T0, 90 * 3, rate=1e-4)
    one = _funding(T0 + 90 * 24 * H, 30 * 24, rate=1e-4 / 8, every_h=1)
    funding = pd.concat([eight, one])
    funding.attrs.update(eight.attrs)
    s = perp_summary(perp_frame(last, None, funding))
    assert s["funding_mean_per_8h"] == pytest.approx(1e-4, rel=0.005)
    # Daily bars holding three 8h prints each: 3e-4 per day is 1e-4 per 8h.
    daily = _bars(T0, 10, interval="1d")
    assert perp_summary(perp_frame(daily, None, _funding(T0, 30)))["funding_mean_per_8h"] == pytest.approx(1e-4)


def test_bad_combinations_raise_data_errors() -> None:
    last = _bars(T0, 24)
    with pytest.raises(DataError, match="mark bars have interval '4h', the last-price bars '1h'"):
        perp_frame(last, _bars(T0, 6, kind="mark", interval="4h"))
    with pytest.raises(DataError, match="share no timestamp"):
        perp_frame(last, _bars(T0 + 100 * H, 5, kind="mark"))
    with pytest.raises(DataError, match="last-price frame is empty"):
        perp_frame(last.iloc[:0])


def test_load_perp_dir_input_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data directory .* does not exist"):
        load_perp_dir(tmp_path / "nope")
    with pytest.raises(InputError, match=r"symbol must be .* was '../x'"):
        load_perp_dir(tmp_path, "../x")
    with pytest.raises(InputError, match=r"start must be a date or timestamp .* was 'soon'"):
        load_perp_dir(tmp_path, start="soon")
    with pytest.raises(InputError, match="end must be after start"):
        load_perp_dir(tmp_path, start="2024-02-01", end="2024-01-01")


def test_recent_span_is_whole_months() -> None:
    start, end = recent_span(3, pd.Timestamp("2026-05-17T13:00Z"))
    assert (start, end) == (pd.Timestamp("2023-05-01", tz="UTC"), pd.Timestamp("2026-05-01", tz="UTC"))
    with pytest.raises(InputError, match="years must be an integer >= 1, was 0"):
        recent_span(0)


def test_backtest_cli_uses_the_same_alignment(tmp_path: Path) -> None:
    """``levguard backtest`` with file data: the mark file starts later, so earlier bars are dropped (noted)."""
    n = 300
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    close = 30_000 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.004, n)))
    rows = [f"{t:%Y-%m-%dT%H:%M:%SZ},{c},{c * 1.001},{c * 0.999},{c},5" for t, c in zip(idx, close, strict=True)]
    header = "timestamp,open,high,low,close,volume\n"
    (tmp_path / "BTCUSDT-PERP_1h.csv").write_text(header + "\n".join(rows) + "\n")
    (tmp_path / "BTCUSDT-MARK_1h.csv").write_text(header + "\n".join(rows[24:]) + "\n")
    cfg = {
        "data": {
            "source": "file",
            "path": str(tmp_path / "BTCUSDT-PERP_1h.csv"),
            "mark": str(tmp_path / "BTCUSDT-MARK_1h.csv"),
        },
        "strategy": {"type": "buy_and_hold"},
        "policies": {"fixed 2x": {"type": "fixed", "leverage": 2}},
        "output": {"report": ""},
    }
    c = tmp_path / "bt.yaml"
    c.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["backtest", str(c), "--json"])
    assert res.exit_code == 0, res.output
    assert "note: mark price starts 2024-01-02 00:00: 24 earlier last-price bar(s) dropped" in res.stderr


def test_repeated_or_backward_times_are_refused_by_name() -> None:
    """A funding print given twice (two overlapping downloads) was paid twice, bars in reverse
    order got no funding at all, a repeated mark row was a ValueError and a Series of funding an
    AttributeError: each is now a DataError naming the row and time."""
    from levguard.data.resample import align_funding, resample_ohlcv

    last, mark, funding = _bars(T0, 48), _bars(T0, 48, kind="mark"), _funding(T0, 6)
    twice = pd.concat([funding, funding.iloc[[2]]]).sort_index(kind="stable")
    with pytest.raises(DataError, match=r"funding prints: the time at row 3 \(2024-01-01T16:00:00\+00:00\) repeats"):
        perp_frame(last, mark, twice)
    with pytest.raises(DataError, match=r"funding prints: the time at row 3 .* repeats"):
        align_funding(twice, last)
    with pytest.raises(DataError, match="goes back from the previous row's; sort by time"):
        perp_frame(last.iloc[::-1], mark, funding)
    with pytest.raises(DataError, match=r"mark bars: the time at row 6 .* repeats"):
        perp_frame(last, pd.concat([mark.iloc[:6], mark.iloc[5:]]), funding)
    with pytest.raises(DataError, match="funding must be a DataFrame with a 'funding_rate' column"):
        perp_frame(last, mark, funding["funding_rate"])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="repeats"):
        resample_ohlcv(pd.concat([last.iloc[:4], last.iloc[3:]]), "4h")
    # In order and once each: paid once per print.
    once = perp_frame(last, mark, funding)
    assert once["funding_rate"].sum() == pytest.approx(6 * 0.0001)


def test_bars_coarser_than_the_funding_interval_are_said() -> None:
    """Hourly prints on 4-hour bars: each is charged at the first open at or after it (to the
    position held through it), several at one mark: said."""
    frame = perp_frame(_bars(T0, 12, interval="4h"), None, _funding(T0, 48, every_h=1))
    assert frame["funding_rate"].iloc[0] == pytest.approx(0.0001)  # the print at T0 only
    assert frame["funding_rate"].iloc[1] == pytest.approx(4 * 0.0001)  # 01:00 to 04:00
    notes = frame.attrs["notes"]
    assert any(n.startswith("11 bar(s) are charged more than one funding print") for n in notes)
    assert any(n.startswith("3 funding print(s) settle inside the last bar") for n in notes)
    assert not any("more than one" in n for n in perp_frame(_bars(T0, 48), None, _funding(T0, 6)).attrs["notes"])


def _named(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    frame.attrs["symbol"] = symbol
    return frame


def test_a_mark_or_funding_frame_of_another_instrument_is_refused() -> None:
    """A review (2026-12-07): ETHUSDT bars with BTCUSDT's mark frame were combined without a word
    (the backtest then liquidated ETH positions on BTC marks: a return of 221,416,371.9 %)."""
    last = _named(_bars(T0, 24), "ETHUSDT-PERP")
    with pytest.raises(
        DataError, match=r"mark file mark is BTCUSDT, the last-price bars ohlcv are ETHUSDT \(asset BTC"
    ):
        perp_frame(last, _named(_bars(T0, 24, kind="mark"), "BTCUSDT-MARK"))
    with pytest.raises(DataError, match=r"funding file f is BTCUSDT.*are ETHUSDT"):
        perp_frame(last, None, _funding(T0, 3))
    with pytest.raises(DataError, match=r"settled in USDC vs USDT"):
        perp_frame(last, _named(_bars(T0, 24, kind="mark"), "ETHUSDC-MARK"))
    # The same contract spelled otherwise, or a side frame naming no pair, is combined.
    assert len(
        perp_frame(last, _named(_bars(T0, 24, kind="mark"), "ETH/USDT:USDT"), _named(_funding(T0, 3), "ETHUSDT"))
    )
    assert len(perp_frame(last, _named(_bars(T0, 24, kind="mark"), "mark"), _named(_funding(T0, 3), "")))


def test_a_mark_on_another_price_scale_is_refused() -> None:
    """A hunt (2026-12-07): FOO's mark divided by 1,000 (1000PEPE's bars, PEPE's mark) was
    accepted without a word and every policy was ruined at the first bar (bad debt 814,679 on
    100,000 of equity at 5x).  Mark and last price are one price: a median factor past 1.25x
    between their closes is refused, naming both files."""
    last = _bars(T0, 24)
    pepe = _bars(T0, 24, kind="mark")
    pepe[["open", "high", "low", "close"]] /= 1_000.0
    with pytest.raises(DataError, match=r"mark file mark is priced 1,000x apart from the last-price bars ohlcv"):
        perp_frame(last, pepe)
    far = _bars(T0, 24, kind="mark")
    far[["open", "high", "low", "close"]] *= 1.3
    with pytest.raises(DataError, match=r"priced 1\.3x apart"):
        perp_frame(last, far)
    near = _bars(T0, 24, kind="mark")
    near[["open", "high", "low", "close"]] *= 1.2  # a wide basis on every bar is still one price
    assert perp_frame(last, near)["mark_close"].iloc[0] == pytest.approx(last["close"].iloc[0] * 1.2)
