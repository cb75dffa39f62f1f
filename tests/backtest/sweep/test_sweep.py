"""Sweeps: every row equals a single run; chunking, threads and Dask never change a result."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import run
from levguard.backtest.strategies import BuyAndHold, EmaCrossover
from levguard.backtest.sweeps import SWEEP_METRICS, best, sweep
from levguard.core.sizing.policies import CPPI, DrawdownControl, VolatilityTarget
from levguard.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from bt_engine_helpers import random_frame

DF = random_frame(n=2500, seed=2, sigma=0.008)
STRATEGIES = {"ema": (EmaCrossover, {"fast": [5, 10], "slow": [50]}), "hold": BuyAndHold()}
POLICIES = {
    "vt": (VolatilityTarget, {"target_vol": [0.5, 1.5], "max_leverage": [10.0]}),
    "dd": (DrawdownControl, {"max_drawdown": [0.3], "base_leverage": [8.0]}),
    "cppi": (CPPI, {"floor": [0.7], "multiplier": [6.0], "max_leverage": [12.0]}),
    "fixed": 60.0,
}
GRID = {"stop_loss": [0.0, 0.03], "margin_mode": ["isolated", "cross"]}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return sweep(DF, STRATEGIES, POLICIES, grid=GRID, chunk_size=5)


def _policy(row: pd.Series) -> object:
    if row.policy == "vt":
        return VolatilityTarget(target_vol=row.target_vol, max_leverage=row.max_leverage)
    if row.policy == "dd":
        return DrawdownControl(max_drawdown=row.policy_max_drawdown, base_leverage=row.base_leverage)
    if row.policy == "cppi":
        return CPPI(floor=row.floor, multiplier=row.multiplier, max_leverage=row.max_leverage)
    return 60.0


def test_table_is_tidy(table: pd.DataFrame) -> None:
    assert len(table) == 3 * 5 * 4  # (2 EMAs + hold) x (2 vol targets + dd + cppi + fixed) x grid
    for col in ("strategy", "policy", "fast", "slow", "target_vol", "policy_max_drawdown", "stop_loss", "margin_mode"):
        assert col in table.columns
    assert list(table.columns[-len(SWEEP_METRICS) :]) == list(SWEEP_METRICS)
    assert table["n_liquidations"].max() > 0  # fixed 60x is liquidated somewhere
    assert (
        table.loc[table.policy == "fixed", "n_liquidations"].sum()
        > table.loc[table.policy == "vt", "n_liquidations"].sum()
    )


@pytest.mark.parametrize("i", [0, 7, 21, 30, 45, 47])
def test_each_row_equals_a_single_run(table: pd.DataFrame, i: int) -> None:
    row = table.iloc[i]
    strategy = EmaCrossover(fast=int(row.fast), slow=int(row.slow)) if row.strategy == "ema" else BuyAndHold()
    res = run(DF, strategy, _policy(row), stop_loss=row.stop_loss or None, margin_mode=row.margin_mode)
    assert row.final_equity == res.equity.iloc[-1]
    assert row.n_liquidations == res.metrics["n_liquidations"]
    for name in ("total_return", "sharpe", "max_drawdown", "fees_paid", "funding_paid", "turnover", "avg_leverage"):
        assert row[name] == pytest.approx(res.metrics[name], rel=1e-9, abs=1e-12, nan_ok=True)
    assert row.max_leverage_used == pytest.approx(res.metrics["max_leverage"], rel=1e-12)
    for name in ("orders_clipped", "limit_orders_unfilled", "orders_below_minimum"):
        assert row[name] == res.metrics[name], name


def test_the_table_counts_the_orders_below_the_venues_minimum(table: pd.DataFrame) -> None:
    # Rebalances under BTCUSDT's 100 USDT minimum are skipped, in the sweep as in run().
    assert table["orders_below_minimum"].max() > 0


def test_chunking_does_not_change_results(table: pd.DataFrame) -> None:
    other = sweep(DF, STRATEGIES, POLICIES, grid=GRID, chunk_size=64)
    pd.testing.assert_frame_equal(other, table)


def test_dask_local_cluster_gives_identical_results(table: pd.DataFrame) -> None:
    pytest.importorskip("distributed")
    other = sweep(DF, STRATEGIES, POLICIES, grid=GRID, chunk_size=9, scheduler="local")
    pd.testing.assert_frame_equal(other, table)


def test_best_respects_constraints(table: pd.DataFrame) -> None:
    top = best(table, "sharpe")
    assert top.sharpe == table.sharpe.max()
    safe = best(table, "total_return", {"n_liquidations": 0, "max_drawdown": 0.5})
    assert safe.n_liquidations == 0
    assert safe.max_drawdown <= 0.5
    assert safe.total_return == table[(table.n_liquidations == 0) & (table.max_drawdown <= 0.5)].total_return.max()
    with pytest.raises(InputError, match="no configuration"):
        best(table, "sharpe", {"max_drawdown": -1.0})
    with pytest.raises(InputError, match="nope"):
        best(table, "nope")


def test_best_follows_the_direction_of_the_metric(table: pd.DataFrame) -> None:
    # max_drawdown, volatility, fees... were maximised: the deepest drawdown was "best".
    # Ruined runs come after every other (their metrics stop at the ruin), whichever the direction.
    alive = table[table.ruined == 0]
    assert 0 < len(alive) < len(table)
    for objective in ("max_drawdown", "volatility", "fees_paid", "n_liquidations", "turnover", "time_under_water"):
        assert best(table, objective)[objective] == alive[objective].min()
        assert best(table, objective, direction="max")[objective] == alive[objective].max()
    assert best(table, "sharpe", direction="min").sharpe == alive.sharpe.min()
    safe = best(table, "max_drawdown", {"n_liquidations": 0})
    assert safe.max_drawdown == table[table.n_liquidations == 0].max_drawdown.min()
    with pytest.raises(InputError, match=r"direction must be 'max', 'min'.*'lowest'"):
        best(table, "sharpe", direction="lowest")


def test_every_metric_has_a_direction() -> None:
    from levguard.kernels import backtest_metrics as km

    names = {*km.PERFORMANCE_METRICS, *km.TABLE_METRICS, "limit_orders_unfilled", "orders_below_minimum"}
    assert set(km.METRIC_DIRECTION) == names
    assert set(km.METRIC_DIRECTION.values()) == {"max", "min"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": {"leverage": [1]}}, "unknown run settings"),
        ({"grid": {"stop_loss": []}}, "non-empty list"),
        ({"grid": {"stop_loss": [2.0]}}, "stop_loss"),
        ({"grid": {"margin_mode": ["portfolio"]}}, "margin_mode"),
        # Each value by run()'s own validators: 1e20 bars was an OverflowError, the others ran.
        ({"grid": {"cooldown_bars": [10**20]}}, "grid: cooldown_bars = 100000000000000000000: cooldown_bars must be"),
        ({"grid": {"cooldown_bars": [2.5]}}, r"grid: cooldown_bars = 2\.5: cooldown_bars must be an integer"),
        ({"grid": {"band": [0.0, 2.0]}}, r"grid: band = 2\.0: band must be in \[0, 1\), was 2\.0"),
        ({"grid": {"max_step": [0]}}, r"grid: max_step = 0: max_step must be > 0"),
        ({"grid": {"impact": [100]}}, r"grid: impact = 100: slippage: impact coefficient must be in \[0, 10\]"),
        ({"grid": {"slip_bps": [10_000]}}, r"grid: slip_bps = 10000: slippage: bps must be in \[0, 10000\)"),
        ({"grid": {"take_profit": [float("inf")]}}, r"grid: take_profit = inf: take_profit must be a fraction"),
        ({"grid": {"limit_offset_bps": [1e4]}}, r"grid: limit_offset_bps = 10000\.0: limit_offset_bps must be"),
        ({"grid": {"maker_fee": [0.1]}}, r"grid: maker_fee = 0\.1: fees: maker must be a fraction in \[0, 0\.1\)"),
        (
            {"grid": {"liquidation_fee_rate": [-0.01]}},
            r"grid: liquidation_fee_rate = -0\.01: liquidation_fee_rate must",
        ),
        # The kernel reads the Rebalancer in band mode only: these rows were all the same run.
        ({"grid": {"band": [0.0, 0.3]}, "rebalance": "never"}, r"grid: band: no effect with rebalance='never'"),
        (
            {"grid": {"max_step": [0.5], "min_trade": [10.0]}, "rebalance": "never"},
            r"grid: max_step, min_trade: no effect with rebalance='never'",
        ),
        ({"chunk_size": 0}, "chunk_size"),
        ({"scheduler": 3}, "scheduler"),
        ({"policies": {"vt": (VolatilityTarget, {"target_vol": [-1.0]})}}, "vt"),
        ({"policies": {"vt": (VolatilityTarget, {"bogus": [1.0]})}}, "bad parameters"),
        ({"strategies": {"e": (EmaCrossover, {"fast": [50], "slow": [10]})}}, "fast"),
    ],
)
def test_bad_input_names_the_problem(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"strategies": BuyAndHold(), "policies": 2.0}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        sweep(DF, **args)  # type: ignore[arg-type]


def test_the_grid_takes_the_values_run_takes() -> None:
    from levguard.backtest.sweeps import check_run_setting

    for key, value in [
        ("max_step", float("inf")),
        ("cooldown_bars", np.int64(3)),
        ("take_profit", 5.0),
        ("band", np.float64(0.2)),
        ("min_trade", 0),
        ("slip_bps", 9_999.0),
        ("impact", 10),
        ("taker_fee", 0.0),
        ("margin_mode", "cross"),
    ]:
        check_run_setting(key, value)
    with pytest.raises(InputError, match="'leverage' is not a run setting"):
        check_run_setting("leverage", 2.0)


def test_thread_count_does_not_change_results(table: pd.DataFrame) -> None:
    from levguard.kernels._jit import NUMBA_DISABLED

    if NUMBA_DISABLED:
        pytest.skip("numba disabled")
    from levguard.kernels import load_numba

    numba = load_numba()

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        other = sweep(DF, STRATEGIES, POLICIES, grid=GRID, chunk_size=48)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(other[list(SWEEP_METRICS)].to_numpy(), table[list(SWEEP_METRICS)].to_numpy(), equal_nan=True)


def test_public_facade_exports() -> None:
    import levguard.backtest as bt
    from levguard.backtest import engine, strategies
    from levguard.backtest import sweeps as sweep_module

    assert bt.run is engine.run
    assert bt.sweep is sweep_module.sweep
    assert bt.walk_forward is sweep_module.walk_forward
    assert bt.FundingCarry is strategies.FundingCarry
    assert set(bt.__all__) <= set(dir(bt))
    with pytest.raises(AttributeError, match="nope"):
        _ = bt.nope


@pytest.mark.parametrize(
    ("venue", "symbol", "base", "swept", "field", "expected"),
    [
        # Gate's fee in the initial margin and maintenance follows a taker swept from 0 (it stayed 0).
        ("gate", "BTC_USDT", 0.0, 0.00075, "fee_in_im", 0.00075),
        ("gate", "BTC_USDT", 0.0, 0.00075, "fee_in_mm", 0.00075),
        # Deribit's liquidation fee is 0.75 % on top of the taker: a swept taker moves it (it stayed 0.8 %).
        ("deribit", "BTC_USDC-PERPETUAL", 0.0005, 0.001, "liq_fee", 0.0085),
        # Binance has no fee term: nothing follows the taker but the taker.
        ("binance-usdm", "BTCUSDT", 0.0005, 0.001, "fee_in_im", 0.0),
    ],
)
def test_a_swept_taker_fee_moves_the_terms_the_venue_derives_from_it(
    venue: str, symbol: str, base: float, swept: float, field: str, expected: float
) -> None:
    from levguard.backtest.engine import prepare
    from levguard.backtest.sweeps import _apply_run
    from levguard.core.tiers import TierTable

    idx = pd.date_range("2024-01-01", periods=50, freq="1h", tz="UTC")
    px = np.full(50, 50_000.0)
    data = pd.DataFrame({"open": px, "high": px, "low": px, "close": px, "volume": np.ones(50)}, index=idx)
    tiers = TierTable.fixed_rate(0.005) if venue == "gate" else None
    prep = prepare(data, np.ones(50), 2.0, venue=venue, symbol=symbol, fees=base, tiers=tiers)
    inst = prep.inst.copy()
    _apply_run(prep.cfg[0].copy(), inst, {"taker_fee": swept}, prep.params)
    assert float(inst[0][field]) == pytest.approx(expected)
    assert float(inst[0]["taker"]) == swept


@pytest.mark.parametrize(
    ("fees", "as_run"),
    [
        (None, lambda x: x),
        (0.001, lambda x: x),
        ({"taker": 0.001}, lambda x: {"taker": x}),
        ((0.001, 0.0002), lambda x: (x, 0.0002)),
        ({"taker": 0.001, "maker": 0.0003}, lambda x: {"taker": x, "maker": 0.0003}),
    ],
)
def test_a_swept_taker_fee_moves_the_maker_fee_as_run_does(fees: object, as_run: object) -> None:
    # With limit orders a swept taker fee changed nothing: the maker fee stayed at the set-up's,
    # while run(fees=x) sets maker = taker.  A row must equal run() with the same settings.
    df = DF.iloc[:600]
    strategy = EmaCrossover(fast=5, slow=20)
    table = sweep(df, strategy, 3.0, grid={"taker_fee": [0.0, 0.002]}, fees=fees, execution="limit")
    for _, row in table.iterrows():
        res = run(df, strategy, 3.0, fees=as_run(row.taker_fee), execution="limit")  # type: ignore[operator]
        assert row.final_equity == res.equity.iloc[-1]
        assert row.fees_paid == pytest.approx(res.metrics["fees_paid"], rel=1e-12, abs=1e-12)
    maker_follows = not isinstance(fees, tuple) and not (isinstance(fees, dict) and "maker" in fees)
    assert (table.fees_paid.iloc[0] == 0.0) == maker_follows  # a given maker fee stays
    assert (table.fees_paid.iloc[1] > table.fees_paid.iloc[0]) == maker_follows


def test_best_and_the_report_rank_an_infinite_objective_alike() -> None:
    # An hour rising 10 %: the CAGR of 1x and 3x is beyond float64 (inf).  best() dropped the inf
    # rows and chose 0.5x, the worst, while the report's top table ranked 1x first.
    from levguard.report.sweep import top_configurations

    idx = pd.date_range("2024-01-01", periods=60, freq="1min", tz="UTC")
    c = 100.0 * np.exp(np.linspace(0.0, np.log(1.10), 60))
    df = pd.DataFrame({"open": c, "high": c * 1.0005, "low": c * 0.9995, "close": c, "volume": 1e6}, index=idx)
    table = sweep(df, BuyAndHold(), {"fix": (lambda lev: lev, {"lev": [0.5, 1.0, 3.0]})})
    assert np.isfinite(table.cagr.iloc[0])
    assert np.isinf(table.cagr.iloc[1:]).all()
    assert best(table, "cagr").lev == 1.0
    assert top_configurations(table, "cagr", 1)["lev"].iloc[0] == 1.0
    assert best(table, "cagr", direction="min").lev == 0.5
    assert top_configurations(table, "cagr", 1, best="min")["lev"].iloc[0] == 0.5


@pytest.mark.parametrize(
    ("values", "direction", "first"),
    [
        ([np.nan, 1.0, np.inf, 2.0], "max", 2),
        ([np.nan, 1.0, np.inf, 2.0], "min", 1),
        ([np.nan, -np.inf, 0.5, -np.inf], "min", 1),
        ([np.nan, -np.inf, 0.5], "max", 2),
        ([np.nan, -np.inf], "max", 1),  # -inf is a value (growth of a ruined run); NaN never is
    ],
)
def test_best_and_the_report_share_one_ranking_rule(values: list[float], direction: str, first: int) -> None:
    from levguard.report.sweep import top_configurations

    table = pd.DataFrame({"strategy": "s", "policy": "p", "k": range(len(values)), "sharpe": values})
    assert best(table, "sharpe", direction=direction).k == first
    top = top_configurations(table, "sharpe", len(values), best=direction)  # type: ignore[arg-type]
    assert top["k"].iloc[0] == first
    assert np.isnan(top["sharpe"].iloc[-1])
    with pytest.raises(InputError, match="no configuration"):
        best(table.assign(sharpe=np.nan), "sharpe")


def test_a_ruined_run_is_never_best_by_a_lower_is_better_metric() -> None:
    """A ruined run's metrics stop at its ruin: its time under water over its first bars (0.09)
    was the lowest, and a 60x run liquidated to -100 % was "best".  Ruined rows rank after every
    other, in best() and in the report alike, whichever the direction."""
    from levguard.report.sweep import top_configurations

    table = pd.DataFrame(
        {
            "policy": ["60x", "1x", "3x"],
            "time_under_water": [0.09, 0.98, 0.97],
            "total_return": [-1.0, 0.10, 0.20],
            "ruined": [1.0, 0.0, 0.0],
        }
    )
    assert best(table, "time_under_water").policy == "3x"
    assert list(top_configurations(table, "time_under_water", 3)["policy"]) == ["3x", "1x", "60x"]
    assert best(table, "time_under_water", direction="max").policy == "1x"
    assert best(table, "total_return", direction="min").policy == "1x"


def test_a_policy_parameter_named_max_leverage_is_a_column_ranked_highest_first() -> None:
    """A sweep table's metric is max_leverage_used; a max_leverage column is a policy's
    parameter, so it is ranked as any column that is not a metric (highest first)."""
    from levguard.backtest.sweeps import objective_direction

    table = pd.DataFrame({"max_leverage": [2.0, 5.0], "max_leverage_used": [1.5, 4.0]})
    assert objective_direction("max_leverage") == "max"
    assert best(table, "max_leverage").max_leverage == 5.0
    assert best(table, "max_leverage_used").max_leverage_used == 1.5


def test_a_swept_taker_fee_takes_the_liquidation_fee_of_the_runs_rule() -> None:
    """liquidation="deribit" on a Binance market: a swept taker fee set the liquidation fee by
    Binance's rule, so the rows disagreed with run() (final equity 0.73 against 0.0)."""
    df = DF.iloc[:600]
    table = sweep(df, BuyAndHold(), 40.0, liquidation="deribit", grid={"taker_fee": [0.0005, 0.002]})
    for _, row in table.iterrows():
        res = run(df, BuyAndHold(), 40.0, liquidation="deribit", fees=row.taker_fee)
        assert row.final_equity == res.equity.iloc[-1]
        assert row.n_liquidations == res.metrics["n_liquidations"]


def test_a_swept_volatility_estimator_changes_the_rows() -> None:
    # The run's shared EWMA forecast (lambda 0.94, 30 bars) answered for every VolatilityTarget:
    # lam x estimator x lookback gave one row eight times.  Each setting now estimates its own;
    # close_to_close has no lam, so those rows pair up.
    grid = {"target_vol": [0.6], "lam": [0.5, 0.99], "estimator": ["ewma", "close_to_close"], "lookback": [5, 200]}
    t = sweep(DF.iloc[:800], BuyAndHold(), {"vt": (VolatilityTarget, grid)})
    assert len(t) == 8
    assert t["total_return"].nunique() == 6
    row = t[(t.lam == 0.5) & (t.estimator == "ewma") & (t.lookback == 5)].iloc[0]
    single = run(DF.iloc[:800], BuyAndHold(), VolatilityTarget(target_vol=0.6, lam=0.5, lookback=5))
    assert row["total_return"] == pytest.approx(single.metrics["total_return"], rel=1e-12)
