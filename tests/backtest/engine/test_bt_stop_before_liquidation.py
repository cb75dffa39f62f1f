"""A stop-loss whose fill level (its level, or the open of a bar that gaps through it) lies before
the liquidation price fills before the liquidation, whatever ``liquidation_first`` says: the
price crosses the stop first on any continuous path, and a gap open triggers it on the bar's
first trade, while the mark is still short of the liquidation price.  The flag still decides the
ambiguous cases (a take-profit, a mark that diverges from the last price by as much as the
fill's distance to the liquidation price, an open beyond the liquidation price)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import run


def _bars(
    low: float, *, open2: float = 100_000.0, mark_low: float | None = None, high: float | None = None
) -> pd.DataFrame:
    c = np.full(4, 100_000.0)
    o = c.copy()
    o[2] = open2
    lo = np.minimum(o, c) - 10.0
    lo[2] = low
    hi = np.maximum(o, c) + 10.0
    if high is not None:
        hi[2] = high
    ml = lo.copy()
    if mark_low is not None:
        ml[2] = mark_low
    return pd.DataFrame(
        {"open": o, "high": hi, "low": lo, "close": c, "volume": 1e6,
         "mark_open": o, "mark_high": hi, "mark_low": ml, "mark_close": c},
        index=pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC"),
    )  # fmt: skip


def _run(df: pd.DataFrame, side: float = 1.0, **kw: object) -> object:
    args: dict[str, object] = {"initial_equity": 10_000.0, "rebalance": "never", "min_notional": 0.0}
    args.update(kw)
    return run(df, np.full(4, side), 10.0, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("liquidation_first", [True, False])
def test_a_stop_between_the_open_and_the_liquidation_price_fills_first(liquidation_first: bool) -> None:
    # 10x long of 1 BTC from 100,000 (taker 0.05 %: 50 paid); liquidation price 90,452.26; the bar
    # opens at 100,000 and falls to 85,000 through the 5 % stop at 95,000: the stop fills there.
    res = _run(_bars(85_000.0), stop_loss=0.05, liquidation_first=liquidation_first)
    assert len(res.liquidations) == 0
    assert list(res.trades["kind"]) == ["rebalance", "stop_loss"]
    assert res.trades["price"].iloc[1] == pytest.approx(95_000.0)
    # 10,000 - 50 - 5,000 loss - 47.5 fee; it was 0 (liquidated) with liquidation_first=True.
    assert res.equity.iloc[-1] == pytest.approx(4_902.5, rel=1e-12)


def test_a_short_stop_between_the_open_and_the_liquidation_price_fills_first() -> None:
    df = _bars(99_990.0, high=115_000.0)
    df["mark_high"] = df["high"]
    res = _run(df, side=-1.0, stop_loss=0.05)
    assert len(res.liquidations) == 0
    assert res.trades["kind"].iloc[-1] == "stop_loss"
    assert res.trades["price"].iloc[-1] == pytest.approx(105_000.0)


@pytest.mark.parametrize("liquidation_first", [True, False])
def test_a_gap_open_beyond_the_stop_fills_at_the_open_first(liquidation_first: bool) -> None:
    # Opens at 94,000, below the 95,000 stop and above the liquidation price 90,452.26 (mark too):
    # the first trade triggers the stop, filled at the open.  A hunt (2026-12-07): it was
    # liquidated (0 left) by default, as if the order were ambiguous.
    df = _bars(85_000.0, open2=94_000.0)
    res = _run(df, stop_loss=0.05, liquidation_first=liquidation_first)
    assert len(res.liquidations) == 0
    assert res.trades["kind"].iloc[-1] == "stop_loss"
    assert res.trades["price"].iloc[-1] == pytest.approx(94_000.0)
    # 10,000 - 50 - 6,000 loss - 47 fee.
    assert res.equity.iloc[-1] == pytest.approx(3_903.0, rel=1e-12)


def test_a_short_gap_open_beyond_the_stop_fills_at_the_open_first() -> None:
    df = _bars(99_990.0, open2=106_000.0, high=115_000.0)
    df["mark_high"] = df["high"]
    res = _run(df, side=-1.0, stop_loss=0.05)
    assert len(res.liquidations) == 0
    assert res.trades["price"].iloc[-1] == pytest.approx(106_000.0)


@pytest.mark.parametrize("liquidation_first", [True, False])
def test_an_open_beyond_the_liquidation_price_is_liquidated_at_the_open(liquidation_first: bool) -> None:
    # Opens at 90,000, past the liquidation price 90,452.26 (the mark too): the venue's engine
    # takes the position at the open, before any stop fills.
    res = _run(_bars(85_000.0, open2=90_000.0), stop_loss=0.05, liquidation_first=liquidation_first)
    assert len(res.liquidations) == 1
    assert "stop_loss" not in set(res.trades["kind"])


def test_a_mark_diverging_by_the_stops_distance_is_left_to_the_flag() -> None:
    # The last price falls to 94,000 (through the stop), the mark to 85,000 (through the
    # liquidation price): 9,000 apart at the low, more than the stop's 4,548 from the liquidation
    # price, so the mark may have reached it first.
    df = _bars(94_000.0, mark_low=85_000.0)
    assert len(_run(df, stop_loss=0.05, liquidation_first=True).liquidations) == 1
    assert len(_run(df, stop_loss=0.05, liquidation_first=False).liquidations) == 0
