"""``levguard warmup``: compile every numba kernel once, so no later command pays JIT time.

levguard's hot loops are numba kernels compiled on first call and cached on disk next to their
source (``cache=True``). A fresh install therefore pays compile time on the first backtest, sweep,
cascade or forecast. It also writes levguard's Python bytecode (:func:`compile_bytecode`).
``levguard warmup`` runs one small workload per family of kernels through
the same public functions the commands call (so the cached machine code has the argument types
real runs use), spread over ``--jobs`` processes. ``make demo`` and ``make test`` run it first.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from levguard.cli._errors import fail
from levguard.errors import InputError

_YEAR_OF_HOURS = 24 * 365


def _frame(hours: int = _YEAR_OF_HOURS) -> Any:
    """The last ``hours`` of the embedded default market as one backtest frame."""
    from levguard.data.default import default_market
    from levguard.data.perp import perp_frame

    market = default_market()
    data = perp_frame(market.ohlcv, market.mark, market.funding)
    data.attrs["symbol"] = "BTCUSDT"
    return data.iloc[-hours:]


def _backtest() -> None:
    """The backtest kernel under every policy family, both margin modes and both order types."""
    from levguard.backtest import (
        BuyAndHold,
        EmaCrossover,
        FundingCarry,
        TimeSeriesMomentum,
        ZScoreMeanReversion,
        run,
    )
    from levguard.core.sizing.base import Composite, FixedLeverage
    from levguard.core.sizing.policies import CPPI, DrawdownControl, GapCap, Kelly, VolatilityTarget
    from levguard.core.sizing.venue import LiquidationBudget, TierCap

    data = _frame()
    policies = [
        FixedLeverage(3.0),
        VolatilityTarget(target_vol=0.6, max_leverage=5.0),
        Kelly(fraction=0.5, mu_estimator="ewma_mean", max_leverage=5.0),
        DrawdownControl(max_drawdown=0.3, base_leverage=3.0),
        CPPI(floor=0.7, multiplier=3.0, max_leverage=5.0),
        Composite(VolatilityTarget(target_vol=0.6, max_leverage=5.0), TierCap(), GapCap(max_gap=0.3)),
        LiquidationBudget(max_prob=0.01, horizon_days=7, max_leverage=10.0),
    ]
    strategies = [BuyAndHold(), EmaCrossover(24, 120), TimeSeriesMomentum(), ZScoreMeanReversion()]
    for mode in ("isolated", "cross"):
        for policy in policies:
            run(data, BuyAndHold(), policy, margin_mode=mode, rebalance={"band": 0.2})
    for strategy in strategies:
        run(data, strategy, FixedLeverage(2.0), stop_loss=0.05, take_profit=0.1)
    run(data, BuyAndHold(), FixedLeverage(2.0), execution="limit", limit_offset_bps=5.0)
    eth = data.copy()
    eth.attrs["symbol"] = "ETHUSDT"  # each frame of its own symbol (run() refuses another's)
    run({"BTCUSDT": data, "ETHUSDT": eth}, BuyAndHold(), FixedLeverage(2.0), margin_mode="cross")
    spot = data.drop(columns=[c for c in data.columns if c.startswith("mark_") or c == "funding_rate"])
    run(
        {"BTCUSDT": data, "BTC/USDT": spot},
        FundingCarry("BTCUSDT", "BTC/USDT"),
        FixedLeverage(1.0),
        margin_mode="cross",
        spot=("BTC/USDT",),
    )


def _sweep() -> None:
    """The parallel sweep kernel and the walk-forward on the real backtester."""
    from levguard.backtest import EmaCrossover, sweep, walk_forward
    from levguard.core.sizing.base import FixedLeverage

    data = _frame()
    strategies = {"ema": (EmaCrossover, {"fast": [12, 24], "slow": [120]})}
    policies = {"fixed": (FixedLeverage, {"leverage": [1.0, 3.0]})}
    sweep(data, strategies, policies, grid={"stop_loss": [0.0, 0.05]})
    walk_forward(data, strategies, policies, train_bars=24 * 120, test_bars=24 * 60)


def _calibrate() -> None:
    """The policy-search evaluator (grid and random search, walk-forward on returns, equity curve)."""
    import numpy as np

    from levguard.backtest.calibrate import equity_curve, grid_search, random_search
    from levguard.backtest.walkforward import walk_forward
    from levguard.core.sizing.base import FixedLeverage

    r = np.random.default_rng(0).normal(0.0, 0.01, 2_000)

    def factory(leverage: float) -> FixedLeverage:
        return FixedLeverage(leverage)

    grid_search(factory, {"leverage": [1.0, 2.0]}, r, 8_760.0, constraints={"max_liq_prob": 0.5})
    equity_curve(np.full(r.shape[0], 2.0), r, fee_rate=5e-4, maint_margin_rate=0.005)
    random_search(factory, {"leverage": (0.5, 3.0)}, 4, 0, r, 8_760.0)
    walk_forward(factory, {"leverage": [1.0, 2.0]}, r, 8_760.0, train=500, test=250)
    # The volatility-target batch kernel (compared with its twin by the tests; no command runs it yet).
    from levguard.kernels import policy_eval as kp

    inv_vol = np.full((1, r.shape[0]), 2.0)
    stats = np.empty((1, kp.N_STATS))
    one = np.ones(1)
    kp.vol_target_batch_nb(np.expm1(r), inv_vol, np.zeros(1, dtype=np.int64), one, one, 5e-4, 0.01, 1, 100, stats)


def _cascade() -> None:
    """The cascade kernel on one path and a small Monte Carlo of jump paths."""
    from levguard.cascade import Market, monte_carlo, population_from_distribution, simulate_path
    from levguard.cascade.price_paths import path_for

    population = population_from_distribution(n=2_000, price=60_000.0, seed=1, total_notional=2e7)
    spec = {"model": "jump", "s0": 60_000.0, "sigma": 0.8, "n_steps": 240, "dt_years": 1.9e-6, "seed": 7}
    market = Market(depth=3e4, impact="linear", half_life_steps=30)
    simulate_path(population, path_for(spec, 0), market=market)
    monte_carlo(population, spec, 4, market=market)
    monte_carlo(population, {**spec, "model": "garch_t"}, 2, market=market)


def _cascade_v2() -> None:
    """The market cascade kernel (K assets on V venues) on one small path."""
    import numpy as np

    from levguard.cascade import Market
    from levguard.cascade.market import MarketSpec, MarketVenue, simulate_market
    from levguard.cascade.market_population import random_market_population

    pop = random_market_population(200, [60_000.0, 3_000.0], n_venues=2, seed=1)
    venues = [MarketVenue(name, Market(depth=3e3)) for name in ("a", "b")]
    path = np.column_stack([np.linspace(60_000.0, 50_000.0, 61), np.linspace(3_000.0, 2_400.0, 61)])
    simulate_market(pop, path, MarketSpec(["BTC", "ETH"], venues))


def _market_paths() -> None:
    """The K-asset market kernels: the joint bootstrap and the fitted factor model with jumps."""
    import numpy as np

    from levguard.cascade.market_paths import factor_jump_paths, fit_factor_jump, joint_bootstrap_paths

    rng = np.random.default_rng(3)
    f = rng.standard_t(4, 3_000) * 0.006
    returns = np.column_stack([f, 1.3 * f + rng.normal(0.0, 0.004, 3_000)])
    joint_bootstrap_paths(returns, 4, 200, 1)
    joint_bootstrap_paths(returns, 4, 200, 1, method="fixed")
    for vol in ("garch_t", "constant"):
        factor_jump_paths(fit_factor_jump(returns, vol=vol), 4, 200, 1)


def _risk() -> None:
    """Volatility (EWMA, GARCH filter, rolling), VaR/ES and the probability-of-liquidation models."""
    import numpy as np

    from levguard import risk
    from levguard.core.risk.var import GarchParams, garch_filter
    from levguard.core.risk.volatility import rolling_close_to_close, rolling_parkinson

    r = np.random.default_rng(0).standard_t(4, 2_000) * 0.01
    risk.ewma_variance(r)
    risk.fhs_var(r, 0.02, 0.99, horizon_days=5, n_sims=2_000, seed=0)
    for model, params in (
        ("gbm", {}),
        ("merton", {"lam": 20.0, "jump_mean": -0.02, "jump_std": 0.03, "n_paths": 2_000, "seed": 0}),
        ("garch_t", {"omega": 1e-5, "alpha": 0.1, "beta": 0.85, "nu": 5.0, "n_paths": 2_000, "seed": 0}),
        ("bootstrap", {"returns": r, "n_paths": 2_000, "seed": 0}),
    ):
        risk.prob_liquidation("long", 60_000.0, 50_000.0, 0.8, 7.0, model=model, **params)
    garch_filter(r, GarchParams(omega=1e-5, alpha=0.1, beta=0.85))
    close = 60_000.0 * np.exp(np.cumsum(r))
    rolling_close_to_close(close, 24)  # the rolling variance kernel
    rolling_parkinson(close * 1.01, close * 0.99, 24)  # the rolling mean kernel


def _forecast() -> None:
    """The liquidation forecaster (fit and forecasts) and the account risk report."""
    import numpy as np

    from levguard import risk

    data = _frame()
    as_of = data.index[-24 * 30 :: 24]
    risk.liquidation_forecasts(data, as_of, "long", np.full(len(as_of), 0.05), 7.0)


def _sizing() -> None:
    """Sizing kernels: policy paths, regimes, the venue-aware budgets, account sizing."""
    from importlib import resources

    from levguard.margin import parse_spec_text
    from levguard.sizing import size_account

    samples = resources.files("levguard.resources").joinpath("samples")
    account = parse_spec_text(samples.joinpath("cross_account.yaml").read_text(encoding="utf-8"), "cross_account.yaml")
    policy = parse_spec_text(samples.joinpath("policy.yaml").read_text(encoding="utf-8"), "policy.yaml")
    size_account(account, policy, vol=0.6)
    # A BTC history for the sample's BTC and ETH positions: the ETH one reads the given vol.
    size_account(account, policy, history=_frame(24 * 200), vol=0.6)
    _joint(account)
    _policy_paths()


def _joint(spec: Any) -> None:
    """The joint-scenario kernel (liquidation surface, reverse stress, account replay)."""
    import numpy as np

    from levguard.core.risk.joint_stress import liquidation_surface
    from levguard.core.spec import account_from_spec

    moves = np.linspace(-0.5, 0.5, 5)
    liquidation_surface(account_from_spec(spec), "BTC", "ETH", moves, moves)


def _policy_paths() -> None:
    """The vectorized ``leverage_path`` / ``apply_path`` of the sizing policies (calibration, tests)."""
    import numpy as np

    from levguard.core.rules import get_venue
    from levguard.core.sizing.base import FixedLeverage, MarketContext, SeriesInputs
    from levguard.core.sizing.policies import CPPI, DrawdownControl, Kelly, Rebalancer, VolatilityTarget
    from levguard.core.sizing.regime import RegimeSwitch
    from levguard.core.sizing.venue import LiquidationBudget

    rng = np.random.default_rng(0)
    n = 600
    r = rng.normal(0.0, 1.0, n) * np.where((np.arange(n) // 100) % 2, 0.03, 0.01)
    equity = np.exp(np.cumsum(r))
    # No vol forecast: the policies estimate it (EWMA / rolling); the budget needs one.
    inputs = SeriesInputs(r, equity=equity, price=60_000.0 * equity)
    forecast = SeriesInputs(r, vol_forecast=np.full(n, 0.6), equity=equity, price=60_000.0 * equity)
    calm, stress = FixedLeverage(3.0), FixedLeverage(1.0)
    tiers = MarketContext(tiers=get_venue("binance-usdm").builtin_tiers["BTCUSDT"])
    policies = (
        VolatilityTarget(target_vol=0.6, estimator="close_to_close"),
        Kelly(mu_estimator="ewma_mean"),
        Kelly(mu_estimator="rolling_mean", sigma_estimator="close_to_close"),
        DrawdownControl(max_drawdown=0.3, base_leverage=3.0),
        CPPI(floor=0.7, multiplier=3.0, max_leverage=5.0),
        RegimeSwitch({"calm": calm, "normal": FixedLeverage(2.0), "stress": stress}, lookback=200, min_obs=30),
        RegimeSwitch({"calm": calm, "stress": stress}, classifier="hmm", lookback=200, min_obs=50, refit_every=100),
    )
    for policy in policies:
        policy.leverage_path(inputs)
    LiquidationBudget(max_prob=0.01, horizon_days=7, max_leverage=10.0, context=tiers).leverage_path(forecast)
    Rebalancer(band=0.2, min_trade=0.1, max_step=1.0).apply_path(np.full(n, 2.0), r)


def _margin_and_data() -> None:
    """Margin arrays, the synthetic market generator and the oracle (index, basis, mark-price rule)."""
    import numpy as np

    from levguard.core.oracle import aggregate_series, mark_series, moving_average_basis
    from levguard.core.rules import get_venue
    from levguard.data import synth_market
    from levguard.data.oracle import build_mark_frame
    from levguard.margin import isolated_liquidation_prices, isolated_margin_arrays

    tiers = get_venue("binance-usdm").builtin_tiers["BTCUSDT"]
    n = 1_000
    isolated_liquidation_prices(np.full(n, 0.1), np.full(n, 60_000.0), np.full(n, 600.0), tiers, "binance-usdm")
    market = synth_market(years=0.05, seed=1)
    close = market.ohlcv["close"]
    build_mark_frame(close, close * 1.0001, market.funding)
    # Several tier tables, one chosen per position (``table_ids``).
    isolated_margin_arrays(
        np.array([0.1, -0.2] * 50),
        np.full(n // 10, 60_000.0),
        np.full(n // 10, 600.0),
        [tiers, tiers],
        "binance-usdm",
        table_ids=np.array([0, 1] * 50),
    )
    # A cross account in one kernel call (the guardian's margin engine, levguard.core.margin_cross).
    from levguard.core.margin_cross import evaluate_cross
    from levguard.core.spec import account_from_spec

    cross = {"venue": "binance-usdm", "wallet_balance": 5_000.0}
    cross["positions"] = [{"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60_000.0, "mark_price": 59_000.0}]
    evaluate_cross(account_from_spec(cross), compiled=True)  # the kernel (this small an account: the twin)
    # A unified account in one kernel call (levguard.core.unified_fast; numba is loaded by now).
    from importlib import resources

    from levguard.core.unified import evaluate_unified, unified_account_from_spec
    from levguard.margin import parse_spec_text

    sample = resources.files("levguard.resources").joinpath("samples", "unified_account.yaml")
    unified = parse_spec_text(sample.read_text(encoding="utf-8"), "unified_account.yaml")
    evaluate_unified(unified_account_from_spec(unified))
    # The oracle on plain NumPy arrays (the frames above hand it read-only views).
    px = close.to_numpy(dtype=np.float64, copy=True)
    rng = np.random.default_rng(0)
    quotes = px[:, None] * (1.0 + rng.normal(0.0, 1e-4, (px.shape[0], 3)))
    index = aggregate_series(quotes, np.ones_like(quotes), np.zeros(quotes.shape, dtype=np.int64)).index
    basis = moving_average_basis(px * 1.0002, index, window=30, min_periods=1)
    until = (np.arange(px.shape[0]) % 8) * 3_600e9
    mark_series(index, basis, np.full(px.shape[0], 1e-4), until, px * 1.0001)
    # The correctly rounded sum on its own (the cross and unified kernels inline it; tests compare twins).
    from levguard.kernels.margin_cross import exact_sum_nb

    exact_sum_nb(np.array([1.0, 2.0**-60, -1.0]))


def _defi() -> None:
    """The DeFi float kernels (levguard.core.defi.fast): Aave-style accounts and liquidation prices,
    Morpho-style positions, on enough positions to take the compiled path."""
    import numpy as np

    from levguard.core.defi.fast import (
        NUMBA_MIN_POSITIONS,
        aave_account_arrays,
        aave_liquidation_prices,
        morpho_position_arrays,
    )

    n = NUMBA_MIN_POSITIONS
    indptr = np.arange(0, 2 * n + 1, 2, dtype=np.int64)
    value, lt = np.ones(2 * n), np.full(2 * n, 0.8)
    aave_account_arrays(indptr, value, value, lt, lt, emode_lt=lt, emode_ltv=lt)
    aave_liquidation_prices(indptr, value, value, lt, np.zeros(n, dtype=np.int64), np.ones(n))
    morpho_position_arrays(np.ones(n), np.ones(n), 2_000.0, 0.86)


_GROUPS: tuple[dict[str, Callable[[], None]], ...] = (
    # Longest first: the processes take them in this order, so the long compiles start at once.
    {"market": _cascade_v2, "cascade": _cascade},
    {
        "sweep": _sweep,
        "backtest": _backtest,
        "margin+data": _margin_and_data,
        "risk": _risk,
        "market-paths": _market_paths,
        "sizing": _sizing,
        "calibrate": _calibrate,
        "defi": _defi,
        "forecast": _forecast,
    },
)

WORKLOADS: dict[str, Callable[[], None]] = {name: fn for group in _GROUPS for name, fn in group.items()}
"""Every workload by name (``--only``), in the order :data:`GROUPS` gives."""

GROUPS: tuple[tuple[str, ...], ...] = tuple(tuple(group) for group in _GROUPS)
"""Workloads that compile the same helpers, so one process runs them one after another.

numba compiles a helper once per process and signature and links it into every kernel of that
process that calls it; a helper two processes need is compiled twice.  The cascade and market
kernels share the cascade's sweep and book helpers, and the sweep kernel runs the backtest's;
the rest share the path, margin and metric helpers.  Measured with ``bench/bench_warmup.py
--layout`` (docs/benchmarks.md)."""


def _run_group(names: tuple[str, ...]) -> list[tuple[str, float]]:
    # Every workload runs even when one fails (each compiles its own kernels); the first failure
    # is raised after the group.
    out, failure = [], None
    for name in names:
        started = time.perf_counter()
        try:
            WORKLOADS[name]()
        except Exception as exc:
            failure = failure or exc
            continue
        out.append((name, time.perf_counter() - started))
    if failure is not None:
        raise failure
    return out


def tasks(jobs: int, names: list[str], grouped: bool = True) -> list[tuple[str, ...]]:
    """The workloads ``names`` cut into the tasks of ``jobs`` processes, each task in one process.

    Grouped, a task is the selected part of a group of :data:`GROUPS`; where that gives fewer
    tasks than processes (``--only`` of one group, more cores than groups), every workload is a
    task of its own, so no core waits.
    """
    names = list(dict.fromkeys(names))
    if grouped:
        groups = [tuple(n for n in group if n in names) for group in GROUPS]
        out = [g for g in groups if g]
        if len(out) >= jobs:
            return out
    return [(n,) for n in names]


def warm(jobs: int, names: list[str] | None = None, grouped: bool = True) -> dict[str, float]:
    """Run the workloads ``names`` (default all) in ``jobs`` processes; return seconds per workload.

    Parameters
    ----------
    jobs : int
        Processes; 1 runs everything in this process.
    names : list of str, optional
        Workloads of :data:`WORKLOADS` (default: all).
    grouped : bool, default True
        Run each group of :data:`GROUPS` in one process (see :func:`tasks`); False gives every
        workload to the next free process (the baseline of ``bench/bench_warmup.py --layout``).
    """
    if isinstance(names, str):
        raise InputError(f"names must be a list of workloads, was the string {names!r}")
    unknown = sorted(set(names or ()) - set(WORKLOADS))
    if unknown:
        raise InputError(f"workload must be one of {', '.join(WORKLOADS)}, was {unknown[0]!r}")
    names = [n for n in WORKLOADS if n in names] if names else list(WORKLOADS)
    if jobs <= 1:
        return dict(_run_group(tuple(names)))
    from concurrent.futures import ProcessPoolExecutor, as_completed

    seconds: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(_run_group, t) for t in tasks(jobs, names, grouped)]):
            seconds.update(future.result())
    return seconds


def compile_bytecode() -> bool:
    """Write the ``.pyc`` files of levguard's modules that are missing or stale (True: all written).

    An editable install (``pip install -e``, what ``make`` does) leaves the sources uncompiled, and
    with ``PYTHONDONTWRITEBYTECODE`` set Python never writes them itself, so every command would
    compile levguard's sources again (about 40 ms of ``levguard margin``'s 300).  ``compileall``
    writes them whatever that variable says; a wheel install already has them (nothing written).
    """
    import compileall
    import io
    from contextlib import redirect_stdout
    from pathlib import Path

    import levguard

    root = Path(levguard.__file__).parent
    with redirect_stdout(io.StringIO()):  # compileall prints the files it could not write
        return bool(compileall.compile_dir(str(root), quiet=2, workers=1))


def warmup(
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, max=1024, help="Processes to compile in (0: the CPU count).")
    ] = 0,
    only: Annotated[
        list[str] | None, typer.Option("--only", metavar="NAME", help="Only this workload (repeatable).")
    ] = None,
) -> None:
    """Compile every numba kernel once (cached on disk), so later commands start at once."""
    from levguard.kernels import NUMBA_DISABLED

    compile_bytecode()
    if NUMBA_DISABLED:
        typer.echo("numba is disabled (LEVGUARD_DISABLE_NUMBA): nothing to compile")
        return
    unknown = sorted(set(only or ()) - set(WORKLOADS))
    if unknown:
        fail(f"--only must be one of {', '.join(WORKLOADS)}, was {unknown[0]!r}")
        return
    jobs = jobs or os.cpu_count() or 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="levguard-warmup-") as cwd:
        here = os.getcwd()
        os.chdir(cwd)  # any file a workload writes lands in a folder that is removed
        try:
            seconds = warm(jobs, only)
        finally:
            os.chdir(here)
    parts = ", ".join(f"{name} {took:.1f}s" for name, took in sorted(seconds.items(), key=lambda kv: -kv[1]))
    typer.echo(f"warmup: compiled in {time.perf_counter() - started:.1f}s on {jobs} processes ({parts})")
