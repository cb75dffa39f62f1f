"""The sweep's choice when every objective is NaN, walk_forward's data forms, and the gap note's
annualisation (a hunt of the first hour and the reports)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import run
from levguard.backtest.strategies import BuyAndHold
from levguard.backtest.sweeps import best, walk_forward
from levguard.data.loaders import load_ohlcv
from levguard.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from bt_engine_helpers import random_frame


def test_a_nan_objective_is_not_blamed_on_the_constraints() -> None:
    # Every row met n_liquidations <= 5, and the note said "no configuration meets the constraints".
    table = pd.DataFrame({"sharpe": [np.nan, np.nan], "n_liquidations": [0.0, 1.0], "ruined": [1.0, 1.0]})
    with pytest.raises(InputError, match=r"has a sharpe to rank by: NaN in all 2 of them \(2 ruined"):
        best(table, "sharpe", {"n_liquidations": 5})
    with pytest.raises(InputError, match=r"has a sharpe to rank by"):
        best(table, "sharpe")
    with pytest.raises(InputError, match="no configuration meets the constraints"):
        best(table, "sharpe", {"n_liquidations": -1})
    # One finite row among NaN ones is chosen, whatever the constraints leave.
    table.loc[1, "sharpe"] = 0.4
    assert best(table, "sharpe", {"n_liquidations": 5}).name == 1


def test_walk_forward_takes_a_path_and_a_source_spec_as_sweep_does(tmp_path: Path) -> None:
    # Its docstring says data is "as for sweep"; a path and {"source": ...} were refused
    # ("data must be a DataFrame or a non-empty mapping", "data['source'] must be a DataFrame").
    df = random_frame(n=1200, seed=7, sigma=0.008)
    path = tmp_path / "BTCUSDT-PERP_1h.csv"
    df.rename_axis("timestamp").to_csv(path)
    args = {"train_bars": 600, "test_bars": 300, "symbol": "BTCUSDT"}
    by_path = walk_forward(str(path), {"hold": BuyAndHold()}, {"2x": 2.0}, **args)
    by_frame = walk_forward(load_ohlcv(str(path)), {"hold": BuyAndHold()}, {"2x": 2.0}, **args)
    pd.testing.assert_series_equal(by_path.equity, by_frame.equity)
    assert len(by_path.windows) == 2
    by_spec = walk_forward({"source": "file", "path": str(path)}, {"hold": BuyAndHold()}, {"2x": 2.0}, **args)
    pd.testing.assert_series_equal(by_spec.equity, by_frame.equity)


def test_the_gap_note_says_the_annualisation_counts_the_bars_present() -> None:
    df = random_frame(n=24 * 120, seed=3, sigma=0.005)
    gappy = pd.concat([df.iloc[: 24 * 30], df.iloc[24 * 90 :]])  # 60 days missing of 120
    res = run(gappy, np.ones(len(gappy)), 1.0, symbol="BTCUSDT")
    (note,) = [n for n in res.notes if "gap" in n]
    assert "annualised over the 1,440 bars present (60 days), not the 120 days the bars span" in note
    assert not [n for n in run(df, np.ones(len(df)), 1.0, symbol="BTCUSDT").notes if "gap" in n]
