"""FundingCarry.signals: trailing funding known at the close, no look-ahead, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from multi_helpers import PERP, SPOT, frame, settlements

from levguard.backtest import strategies
from levguard.backtest.strategies import FundingCarry
from levguard.errors import InputError


def _frames(funding: np.ndarray) -> dict[str, pd.DataFrame]:
    close = np.full(funding.shape[0], 100.0)
    return {PERP: frame(close, funding=funding), SPOT: frame(close)}


def test_enters_after_window_settlements_above_threshold() -> None:
    n = 60
    f = settlements(n, 0.0002, every=8)  # settlements at bars 0, 8, 16, ...
    sig = FundingCarry(PERP, SPOT, window=3).signals(_frames(f))
    assert list(sig.columns) == [PERP, SPOT]
    assert sig.index.equals(_frames(f)[PERP].index)
    # The third settlement is at bar 16's open, known at bar 16's close: on from bar 16.
    assert (sig[PERP].iloc[:16] == 0.0).all()
    assert (sig[SPOT].iloc[:16] == 0.0).all()
    assert (sig[PERP].iloc[16:] == -1.0).all()
    assert (sig[SPOT].iloc[16:] == 1.0).all()


def test_trailing_mean_against_threshold_by_hand() -> None:
    n = 50
    f = np.full(n, np.nan)
    rates = [0.0003, 0.0003, -0.0004, 0.0001, 0.0001, 0.0001]  # at bars 0, 8, ..., 40
    f[0:48:8] = rates
    sig = FundingCarry(PERP, SPOT, window=2, threshold=0.00005).signals(_frames(f))
    expected_on = {8: True, 16: False, 24: False, 32: True, 40: True}  # means of pairs
    for bar, on in expected_on.items():
        for t in range(bar, min(bar + 8, n)):
            assert sig[PERP].iloc[t] == (-1.0 if on else 0.0), t
            assert sig[SPOT].iloc[t] == (1.0 if on else 0.0), t
    assert sig[PERP].iloc[:8].eq(0.0).all()


def test_other_symbols_flat_and_values_in_range() -> None:
    rng = np.random.default_rng(3)
    n = 300
    f = settlements(n, 0.0)
    f[::8] = rng.normal(0.0001, 0.0003, f[::8].shape[0])
    frames = _frames(f) | {"ETHUSDT": frame(np.full(n, 10.0))}
    sig = FundingCarry(PERP, SPOT, window=5).signals(frames)
    assert (sig["ETHUSDT"] == 0.0).all()
    assert set(np.unique(sig.to_numpy())) == {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(sig[PERP].to_numpy(), -sig[SPOT].to_numpy())


def test_no_look_ahead() -> None:
    rng = np.random.default_rng(7)
    n = 400
    f = settlements(n, 0.0)
    f[::8] = rng.normal(0.0, 0.0003, f[::8].shape[0])
    strat = FundingCarry(PERP, SPOT, window=4)
    base = strat.signals(_frames(f)).to_numpy()
    for t in (40, 200, 333):
        g = f.copy()
        g[t + 1 :] = np.where(np.isnan(g[t + 1 :]), np.nan, -g[t + 1 :] * 5.0)
        g[t + 1 :: 3] = 0.01  # extra settlements after t
        other = strat.signals(_frames(g)).to_numpy()
        np.testing.assert_array_equal(other[: t + 1], base[: t + 1])
        assert not np.array_equal(other[t + 1 :], base[t + 1 :])


def test_in_all_and_named() -> None:
    assert "FundingCarry" in strategies.__all__
    assert FundingCarry(PERP, SPOT).name == "funding_carry"
    assert FundingCarry.__doc__ is not None
    assert "Notes" in FundingCarry.__doc__


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"window": 0}, "window"),
        ({"window": 2.5}, "window"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": "0.01"}, "threshold"),
        ({"perp": ""}, "perp"),
        ({"spot": PERP}, "spot"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], needle: str) -> None:
    args: dict[str, Any] = {"perp": PERP, "spot": SPOT}
    args.update(kwargs)
    with pytest.raises(InputError, match=needle):
        FundingCarry(**args)


def test_bad_frames() -> None:
    n = 30
    frames = _frames(settlements(n, 0.0001))
    strat = FundingCarry(PERP, SPOT, window=2)
    with pytest.raises(InputError, match="funding_rate"):
        strat.signals({PERP: frames[PERP].drop(columns="funding_rate"), SPOT: frames[SPOT]})
    with pytest.raises(InputError, match="BTCUSDT-SPOT"):
        strat.signals({PERP: frames[PERP]})
    with pytest.raises(InputError, match="index"):
        strat.signals({PERP: frames[PERP], SPOT: frames[SPOT].iloc[1:]})
    with pytest.raises(InputError, match="funding_rate"):
        strat.signals({PERP: frames[PERP].assign(funding_rate=np.inf), SPOT: frames[SPOT]})
