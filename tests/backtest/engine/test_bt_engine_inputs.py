"""Bad input to the backtest engine raises InputError (or DataError) naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import random_frame

from levguard.backtest.engine import run
from levguard.errors import DataError, InputError

DF = random_frame(n=50, seed=0)
ONES = np.ones(50)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"data": DF.to_numpy()}, "data"),
        ({"data": DF.drop(columns="volume")}, "data"),
        ({"data": DF.tz_localize(None)}, "data"),
        ({"data": DF.assign(mark_open=DF["open"])}, "data"),
        ({"strategy": np.ones(49)}, "strategy"),
        ({"strategy": np.full(50, 2.0)}, "strategy"),
        ({"strategy": "long"}, "strategy"),
        ({"strategy": pd.Series(ONES)}, "strategy"),
        ({"policy": "3x"}, "policy"),
        ({"policy": -1.0}, "policy"),
        ({"venue": "nowhere"}, "venue"),
        ({"venue": "binance-coinm"}, "BTCUSDT names a linear contract"),  # a USDⓈ-M symbol on COIN-M
        ({"venue": "binance-coinm", "symbol": "BTCUSD_PERP"}, "tiers"),
        ({"margin_mode": "portfolio"}, "margin_mode"),
        ({"fees": -0.001}, "fees"),
        ({"fees": {"taker": 0.001, "rebate": 0.0}}, "fees"),
        ({"slippage": -1.0}, "slippage"),
        ({"initial_equity": 0.0}, "initial_equity"),
        ({"rebalance": "sometimes"}, "rebalance"),
        ({"rebalance": {"band": 1.5}}, "band"),
        ({"stop_loss": 1.5}, "stop_loss"),
        ({"take_profit": -0.1}, "take_profit"),
        ({"cooldown_bars": -1}, "cooldown_bars"),
        ({"liquidation_fee_rate": 0.5}, "liquidation_fee_rate"),
        ({"tiers": [{"notional_cap": None, "mmr": "x", "max_leverage": 50}]}, r"tiers\[BTCUSDT\]\[0\]\.mmr"),
        ({"tiers": 5}, r"tiers\[BTCUSDT\] must be a TierTable or a list of tier rows"),
        # A raw TypeError or ValueError ("truth value of an array is ambiguous") before.
        ({"spot": 5}, "spot must be a symbol or a collection of symbols, was int 5"),
        ({"spot": [1.0]}, r"spot\[0\] must be a symbol \(str\), was float 1\.0"),
        ({"spot": [["BTCUSDT"]]}, r"spot\[0\] must be a symbol"),
        ({"spot": np.array(["BTCUSDT"])}, "spot must be a symbol or a collection of symbols"),
        ({"margin_mode": np.array([])}, r"margin_mode must be 'isolated' or 'cross', was array\(\[\]"),
        ({"margin_mode": ["cross"]}, r"margin_mode must be 'isolated' or 'cross', was \['cross'\]"),
        ({"execution": np.array([])}, r"execution must be 'market' or 'limit', was array\(\[\]"),
        ({"rebalance": np.array([])}, r"rebalance must be 'band', 'never', a Rebalancer or its parameters, was array"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, Any], name: str) -> None:
    args: dict[str, Any] = {"data": DF, "strategy": ONES, "policy": 2.0}
    args.update(kwargs)
    with pytest.raises(InputError, match=name):
        run(args.pop("data"), args.pop("strategy"), args.pop("policy"), **args)


def test_spot_none_means_no_spot_legs() -> None:
    base = run(DF, ONES, 2.0)
    none = run(DF, ONES, 2.0, spot=None)
    assert np.array_equal(none.equity.to_numpy(), base.equity.to_numpy())


def test_invalid_prices_raise_data_error() -> None:
    bad = DF.copy()
    bad.iloc[5, bad.columns.get_loc("high")] = bad["low"].iloc[5] * 0.5
    with pytest.raises(DataError):
        run(bad, ONES, 2.0)


def test_strategy_object_with_signal_and_series() -> None:
    class Always:
        def signal(self, frame: pd.DataFrame) -> np.ndarray:
            return np.ones(len(frame))

    a = run(DF, Always(), 2.0)
    b = run(DF, pd.Series(ONES, index=DF.index), 2.0)
    np.testing.assert_array_equal(a.equity.to_numpy(), b.equity.to_numpy())


def _with_marks(**cols: Any) -> pd.DataFrame:
    d = DF.assign(mark_open=DF["open"], mark_high=DF["high"], mark_low=DF["low"], mark_close=DF["close"])
    for name, (row, factor) in cols.items():
        d.iloc[row, d.columns.get_loc(name)] = d[name].iloc[row] * factor
    return d


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        # A mark close at 1.5x its high moved a backtest's return from 0.21 to 1.83; an open at half
        # the low liquidated at an impossible price.  Each names its bar now.
        (_with_marks(mark_close=(7, 1.5)), "the mark bar at 2024-01-01 07:00:00+00:00 is not a bar"),
        (_with_marks(mark_open=(3, 0.5)), "the mark bar at 2024-01-01 03:00:00+00:00 is not a bar"),
        (_with_marks(mark_low=(5, -1.0)), "mark_low at 2024-01-01 05:00:00+00:00 must be a finite price > 0"),
        (DF.assign(funding_rate=["x"] * 50), "funding_rate must be numbers"),  # a ValueError before
    ],
)
def test_mark_bars_and_funding_are_checked_by_bar(data: pd.DataFrame, needle: str) -> None:
    with pytest.raises(DataError, match=needle.replace("+", r"\+")):
        run(data, ONES, 2.0)
    run(_with_marks(), ONES, 2.0)  # consistent marks run


def test_a_gap_in_the_bars_is_said() -> None:
    """Ten days missing from hourly bars: nothing settles, fills or is checked inside them; the
    run said nothing (the campaign's case), and now names the gap."""
    frame = random_frame(n=600, seed=3)
    gapped = frame.drop(frame.index[200:440])
    result = run(gapped, np.ones(len(gapped)), 2.0)
    assert result.notes[0] == (
        "bars skip 1 gap(s) longer than one bar (240 bar(s) missing; the longest, 10 days 01:00:00, after "
        f"{gapped.index[199].isoformat()}): no funding, fills or liquidation checks inside them; CAGR, "
        "volatility and ratios are annualised over the 360 bars present (15 days), not the 25 days the bars span"
    )
    assert not any(n.startswith("bars skip") for n in run(frame, np.ones(len(frame)), 2.0).notes)


def test_a_run_of_a_few_bars_says_its_annualised_figures_extrapolate() -> None:
    # Two hourly bars gave a CAGR of 2.9e18 % and a Sharpe of 66 without a word (a CLI audit).
    short = random_frame(n=48, seed=3)
    notes = run(short, np.ones(len(short)), 2.0).notes
    assert notes == ("the run spans 48 bar(s), 2 day(s): its CAGR, volatility and ratios extrapolate that to a year",)
    month = random_frame(n=24 * 31, seed=3)
    assert run(month, np.ones(len(month)), 2.0).notes == ()


def test_tiers_given_as_rows_equal_the_table() -> None:
    # An API audit: a list of tier dicts (as isolated_margin_arrays and a spec take them) raised
    # AttributeError ("'list' object has no attribute 'caps'").
    from levguard.core.tiers import TierTable

    rows = [
        {"notional_floor": 0, "notional_cap": 1e6, "mmr": 0.01, "max_leverage": 50},
        {"notional_floor": 1e6, "notional_cap": None, "mmr": 0.02, "max_leverage": 25},
    ]
    by_rows = run(DF, ONES, 5.0, tiers=rows)
    by_table = run(DF, ONES, 5.0, tiers=TierTable.from_rows(rows))
    pd.testing.assert_series_equal(by_rows.equity, by_table.equity)
