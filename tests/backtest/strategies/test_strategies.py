"""Strategies: signals from data up to t only, hand-checked rules, bad parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.strategies import BuyAndHold, EmaCrossover, TimeSeriesMomentum, ZScoreMeanReversion
from levguard.errors import InputError
from levguard.kernels._jit import NUMBA_DISABLED
from levguard.kernels.strategies import zscore_positions_nb, zscore_positions_py


def _frame(n: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0}, index=idx
    )


STRATEGIES = [
    BuyAndHold(),
    EmaCrossover(5, 30),
    TimeSeriesMomentum(48),
    ZScoreMeanReversion(48, 1.5, 0.3),
    EmaCrossover(5, 30, long_only=True),
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
def test_no_look_ahead(strategy) -> None:  # type: ignore[no-untyped-def]
    """Changing bars after t never changes the signal up to t."""
    f = _frame()
    base = strategy.signal(f)
    for t in (100, 300, 550):
        g = f.copy()
        g.iloc[t + 1 :, :4] *= 1.7
        np.testing.assert_array_equal(strategy.signal(g)[: t + 1], base[: t + 1])
    assert set(np.unique(base)) <= {-1.0, 0.0, 1.0}


def test_ema_crossover_matches_the_definition() -> None:
    f = _frame(200)
    s = EmaCrossover(5, 30).signal(f)
    c = f["close"]
    expect = np.sign(c.ewm(span=5, adjust=False).mean() - c.ewm(span=30, adjust=False).mean()).to_numpy()
    np.testing.assert_array_equal(s[30:], expect[30:])
    assert (s[:30] == 0).all()


def test_momentum_sign_of_trailing_return() -> None:
    f = _frame(100)
    s = TimeSeriesMomentum(10).signal(f)
    c = f["close"].to_numpy()
    assert s[50] == np.sign(np.log(c[50] / c[40]))
    assert (s[:10] == 0).all()


def test_zscore_hysteresis() -> None:
    z = np.array([np.nan, 0.0, 2.1, 1.0, 0.2, -2.5, -1.0, -0.1, 3.0, np.nan])
    out = np.empty_like(z)
    zscore_positions_py(z, 2.0, 0.5, out)
    assert out.tolist() == [0, 0, -1, -1, 0, 1, 1, 0, -1, 0]
    if not NUMBA_DISABLED:
        out_nb = np.empty_like(z)
        zscore_positions_nb(z, 2.0, 0.5, out_nb)
        np.testing.assert_array_equal(out, out_nb)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: EmaCrossover(30, 5), "fast must be < slow"),
        (lambda: TimeSeriesMomentum(0), "lookback must be a positive integer, was 0"),
        (lambda: ZScoreMeanReversion(48, 1.0, 1.5), "exit must be in [0, entry 1.0), was 1.5"),
        (lambda: ZScoreMeanReversion(48, -1.0), "entry must be > 0, was -1.0"),
    ],
)
def test_bad_parameters(make, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as exc:
        make()
    assert needle in str(exc.value)


def test_bad_data() -> None:
    f = _frame(10)
    f.loc[f.index[3], "close"] = -1.0
    with pytest.raises(InputError, match="finite and > 0"):
        BuyAndHold().signal(f)
