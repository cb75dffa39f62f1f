"""Walk-forward calibration on the backtester: windows, no look-ahead, stitching, flat windows."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import run
from levguard.backtest.strategies import BuyAndHold, EmaCrossover
from levguard.backtest.sweeps import WalkForward, walk_forward
from levguard.core.sizing.policies import VolatilityTarget
from levguard.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from bt_engine_helpers import random_frame

DF = random_frame(n=3000, seed=5, sigma=0.008)
STRATEGIES = {"ema": (EmaCrossover, {"fast": [5, 20], "slow": [60]}), "hold": BuyAndHold()}
# A moderate fixed leverage: on Binance a liquidated isolated position is taken over at its
# bankruptcy price and the sleeve keeps nothing (binance.com/en/support/faq/360033525271), so a
# liquidation would ruin the walk-forward and leave the later windows flat (tested below with 40x).
POLICIES = {"vt": (VolatilityTarget, {"target_vol": [0.3, 0.9]}), "fixed": 3.0}


def _wf(data: pd.DataFrame, **kw: object) -> object:
    args: dict[str, object] = {"train_bars": 800, "test_bars": 400, "objective": "sharpe"}
    args.update(kw)
    return walk_forward(data, STRATEGIES, POLICIES, **args)  # type: ignore[arg-type]


def test_windows_roll_and_the_equity_is_stitched() -> None:
    wf = _wf(DF)
    w = wf.windows
    assert len(w) == (3000 - 800) // 400
    assert (w["test_start"].iloc[1:].to_numpy() == DF.index[[1200, 1600, 2000, 2400]]).all()
    assert (w["train_stop"] < w["test_start"]).all()
    assert len(wf.equity) == 400 * len(w)
    assert wf.equity.index.is_monotonic_increasing
    # Chained: the product of the window returns is the stitched total return.
    chained = float(np.prod(1.0 + w["oos_total_return"].to_numpy())) - 1.0
    assert wf.metrics["total_return"] == pytest.approx(chained, rel=1e-9)
    assert 0.0 < wf.stability["modal_share"] <= 1.0


def test_the_bars_after_the_last_whole_test_window_are_reported_untested() -> None:
    # 1,700 bars, train 800, test 400: two windows test bars 800..1599; the last 100 are not
    # tested (they were dropped without a word), as screen_walk_forward drops a partial window.
    small = DF.iloc[:1700]
    wf = walk_forward(small, {"hold": BuyAndHold()}, {"2x": 2.0}, train_bars=800, test_bars=400, objective="sharpe")
    assert len(wf.windows) == 2
    assert wf.equity.index[-1] == small.index[1599]
    assert wf.untested_bars == 100
    assert wf.untested_start == small.index[1600]
    whole = walk_forward(DF.iloc[:1600], {"hold": BuyAndHold()}, {"2x": 2.0}, train_bars=800, test_bars=400)
    assert whole.untested_bars == 0
    assert whole.untested_start is None


def test_a_window_replays_as_a_single_run_of_its_choice() -> None:
    wf = _wf(DF, warmup_bars=0)
    row = wf.windows.iloc[1]
    strategy = EmaCrossover(fast=int(row.fast), slow=int(row.slow)) if row.strategy == "ema" else BuyAndHold()
    policy = VolatilityTarget(target_vol=row.target_vol) if row.policy == "vt" else 3.0
    start = DF.index.get_loc(row.test_start)
    first = float(wf.equity.iloc[399])
    res = run(DF.iloc[start : start + 400], strategy, policy, initial_equity=first)
    # Plus the close of what it holds at the last close (Binance's taker fee, no slippage).
    q, entry = res.positions["qty"].iloc[-1], res.instruments["BTCUSDT"]["entry_price"].iloc[-1]
    last = DF["close"].iloc[start + 399]
    closed = res.positions["cash"].iloc[-1] + q * (last - entry) - 0.0005 * abs(q) * last
    assert closed / first - 1.0 == pytest.approx(row.oos_total_return, rel=1e-9, abs=1e-12)
    assert wf.windows["oos_n_liquidations"].sum() == wf.metrics["n_liquidations"]


def test_each_window_ends_flat_paying_its_exit() -> None:
    # Window boundaries trade like any order: held at 3x long, every window pays its entry and
    # its exit (taker fee and slippage, at its last close), not only its entry.
    fees, slip = 0.0005, 5.0
    kw: dict[str, Any] = {"fees": fees, "slippage": slip, "rebalance": "never"}
    wf = walk_forward(DF, {"hold": BuyAndHold()}, {"3x": 3.0}, train_bars=800, test_bars=400, warmup_bars=0, **kw)
    equity = 10_000.0
    paid = 0.0
    for i in range(len(wf.windows)):
        start = 800 + 400 * i
        res = run(DF.iloc[start : start + 400], BuyAndHold(), 3.0, initial_equity=equity, **kw)
        q, entry = res.positions["qty"].iloc[-1], res.trades["price"].iloc[0]
        assert q > 0.0
        assert len(res.trades) == 1
        sold = DF["close"].iloc[start + 399] * (1.0 - slip / 1e4)
        exit_fee = fees * q * sold
        equity = res.positions["cash"].iloc[-1] + q * (sold - entry) - exit_fee
        paid += res.fees.sum() + exit_fee
        assert wf.equity.iloc[400 * i + 399] == pytest.approx(equity, rel=1e-12)
    assert wf.metrics["fees_paid"] == pytest.approx(paid, rel=1e-12)


def test_no_look_ahead() -> None:
    base = _wf(DF)
    shocked = DF.copy()
    cut = 2000  # the start of window 3's test period
    shocked.iloc[cut:, :4] *= 0.5
    other = _wf(shocked)
    for i in range(3):  # windows whose test periods end at or before the cut
        assert other.windows.iloc[i]["strategy"] == base.windows.iloc[i]["strategy"]
        assert other.windows.iloc[i]["oos_total_return"] == base.windows.iloc[i]["oos_total_return"]
    n = 3 * 400
    np.testing.assert_array_equal(other.equity.to_numpy()[:n], base.equity.to_numpy()[:n])


def test_a_ruined_window_leaves_the_rest_flat() -> None:
    # 40x on every window: a Binance liquidation takes the sleeve's whole margin, the run is
    # ruined inside its test window and no later window trades (equity stays at what was left).
    wf = walk_forward(DF, STRATEGIES, {"fixed": 40.0}, train_bars=800, test_bars=400, objective="total_return")
    assert wf.ruined_at is not None
    assert wf.metrics["ruined"] == 1.0
    assert wf.metrics["total_return"] == pytest.approx(-1.0)
    after = wf.windows["test_start"] > wf.ruined_at
    assert after.any()
    assert wf.windows.loc[after, "strategy"].isna().all()
    assert (wf.windows.loc[after, "oos_total_return"] == 0.0).all()
    tail = wf.equity[wf.equity.index >= wf.ruined_at]
    assert (tail == tail.iloc[0]).all()


def test_the_windows_after_a_ruin_have_no_drawdown() -> None:
    # A window that starts at 0 equity and trades nothing loses nothing: drawdown 0, as its
    # return is 0 (it was reported 1.0).  The window of the ruin lost everything: 1.0.
    wf = walk_forward(DF, STRATEGIES, {"fixed": 40.0}, train_bars=800, test_bars=400, objective="total_return")
    w = wf.windows
    after = w["test_start"] > wf.ruined_at
    ruin = (w["test_start"] <= wf.ruined_at) & (w["test_stop"] >= wf.ruined_at)
    assert after.any()
    assert (w.loc[after, "oos_max_drawdown"] == 0.0).all()
    assert w.loc[ruin, "oos_max_drawdown"].tolist() == [1.0]
    assert ((w["oos_max_drawdown"] >= 0.0) & (w["oos_max_drawdown"] <= 1.0)).all()


def test_a_ruined_windows_turnover_is_its_traded_notional_over_the_equity_before_the_ruin() -> None:
    # 40x from window 0's first bar: ruined at its bar 36 of 400.  The stitched turnover is what
    # the window traded over the mean equity up to the ruin (as the engine's own turnover); it
    # multiplied the engine's turnover back by the mean over all 400 bars, zeros after the ruin
    # included, and reported 33.4 instead of 361.2.
    wf = walk_forward(DF, {"hold": BuyAndHold()}, {"40x": 40.0}, train_bars=800, test_bars=400, warmup_bars=0,
                      objective="total_return")  # fmt: skip
    res = run(DF.iloc[800:1200], BuyAndHold(), 40.0)
    assert res.ruined_at == wf.ruined_at
    traded = float((res.trades["qty"].abs() * res.trades["price"]).sum())
    traded += float((res.liquidations["qty"] * res.liquidations["price"]).sum())
    assert res.traded_notional == pytest.approx(traded, rel=1e-12)
    ruin = int(wf.equity.index.get_loc(wf.ruined_at))
    assert 0 < ruin < 399
    assert wf.metrics["turnover"] == pytest.approx(traded / wf.equity.iloc[: ruin + 1].mean(), rel=1e-12)
    assert wf.metrics["turnover"] == pytest.approx(res.metrics["turnover"], rel=1e-12)


def test_a_lower_is_better_objective_is_minimised() -> None:
    # objective="max_drawdown" chose the configuration with the deepest drawdown in every window.
    small = DF.iloc[:900]
    policies = {"1x": 1.0, "5x": 5.0}
    kw: dict[str, Any] = {"train_bars": 300, "test_bars": 300, "objective": "max_drawdown"}
    low = walk_forward(small, {"hold": BuyAndHold()}, policies, **kw)
    assert list(low.windows["policy"]) == ["1x", "1x"]
    high = walk_forward(small, {"hold": BuyAndHold()}, policies, direction="max", **kw)
    assert list(high.windows["policy"]) == ["5x", "5x"]
    assert (high.windows["is_max_drawdown"] > low.windows["is_max_drawdown"]).all()


def test_infeasible_windows_stay_flat() -> None:
    wf = _wf(DF, constraints={"max_drawdown": 0.0})
    assert wf.stability["n_flat"] == len(wf.windows)
    assert (wf.equity == 10_000.0).all()
    assert wf.windows["strategy"].isna().all()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"train_bars": 1}, "train_bars"),
        ({"test_bars": 5000}, "exceeds"),
        ({"objective": "fun"}, "objective"),
        ({"constraints": {"nope": 1}}, "nope"),
        ({"warmup_bars": -1}, "warmup_bars"),
        ({"direction": "up"}, "direction must be 'max', 'min'.*'up'"),
        # A list of pairs was an AttributeError ('list' object has no attribute 'items').
        ({"constraints": [("max_drawdown", 0.3)]}, r"constraints must be a mapping .*\[\('max_drawdown', 0\.3\)\]"),
    ],
)
def test_bad_input(kw: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        _wf(DF, **kw)


def test_a_symbol_without_bars_is_named() -> None:
    with pytest.raises(InputError, match=r"data\['BTCUSDT'\] must be a DataFrame of bars, was None"):
        _wf({"BTCUSDT": None})  # type: ignore[dict-item]


def test_a_close_that_leaves_dust_ruins_the_walk_forward_at_that_close() -> None:
    """The engine's ruin rule holds at a window's close too: 0.05 USDT left of 10,000 (under
    DUST_FRACTION of the initial equity) ruins the walk-forward at that window's last close; it
    was carried on, the next run was ruined at its first warm-up bar (a date inside the window
    before), and the metrics read a total return of -0.15 %."""
    n, train, test = 40, 10, 10
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")

    def frame(c19: float) -> pd.DataFrame:
        c = np.full(n, 100.0)
        df = pd.DataFrame({"open": c, "high": c * 1.001, "low": c * 0.999, "close": c, "volume": 1e6}, index=idx)
        df["mark_open"], df["mark_high"], df["mark_low"], df["mark_close"] = c, c * 1.001, c * 0.999, c
        df.loc[idx[19], ["close", "low"]] = [c19, min(c19, 99.9)]  # window 1's last close, below the mark
        return df

    def wf(c19: float) -> WalkForward:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return walk_forward(frame(c19), {"hold": BuyAndHold()}, {"3x": 3.0}, train_bars=train,
                                test_bars=test, objective="total_return", symbol="BTCUSDT")  # fmt: skip

    # The equity a close leaves is linear in the last price: solve for 0.05 USDT.
    ea, eb = (float(wf(x).windows["oos_total_return"].iloc[0]) for x in (90.0, 80.0))
    c19 = 90.0 + (0.05 / 10_000.0 - 1.0 - ea) * (80.0 - 90.0) / (eb - ea)
    r = wf(c19)
    assert 0.0 < float(r.equity.iloc[test - 1]) < 1e-6 * 10_000.0 * 10
    assert r.ruined_at == idx[train + test - 1]
    assert r.metrics["ruined"] == 1.0
    assert r.metrics["total_return"] < -0.9999


def test_a_non_utc_index_is_converted_to_utc_in_every_window() -> None:
    # Tokyo bars with some windows flat: the traded windows came back UTC (run converts) and the flat
    # ones in Tokyo time; their concatenation was an object index and a bare ValueError.
    small = DF.iloc[:1500]
    kw: dict[str, Any] = {"train_bars": 300, "test_bars": 300, "objective": "max_drawdown"}
    free = walk_forward(small, {"hold": BuyAndHold()}, {"2x": 2.0}, **kw)
    bound = float(free.windows["is_max_drawdown"].median())
    utc = walk_forward(small, {"hold": BuyAndHold()}, {"2x": 2.0}, constraints={"max_drawdown": bound}, **kw)
    assert 0 < utc.stability["n_flat"] < len(utc.windows)  # some flat, some traded
    tokyo = walk_forward(
        small.tz_convert("Asia/Tokyo"), {"hold": BuyAndHold()}, {"2x": 2.0}, constraints={"max_drawdown": bound}, **kw
    )
    assert str(tokyo.equity.index.tz) == "UTC"
    pd.testing.assert_series_equal(tokyo.equity, utc.equity)
    pd.testing.assert_frame_equal(tokyo.windows, utc.windows)
    assert tokyo.untested_start == utc.untested_start
