"""A sweep and a Monte Carlo through a real ``dask scheduler`` with two ``dask worker`` processes
on 127.0.0.1 equal the in-process results exactly.

The scheduler and the workers are the ``dask`` command-line programs of this venv, started as
separate processes (each in its own session, killed with its children at the end even when a
test fails); the scheduler listens on a port the OS picks and writes its address to a file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from levguard.backtest.strategies import BuyAndHold, EmaCrossover
from levguard.backtest.sweeps import sweep, walk_forward
from levguard.cascade import Market, VenueSettings, monte_carlo, population_from_distribution
from levguard.core.sizing.policies import CPPI, DrawdownControl, VolatilityTarget

sys.path.insert(0, str(Path(__file__).resolve().parent / "backtest" / "engine"))
from bt_engine_helpers import random_frame

distributed = pytest.importorskip("distributed")
DASK = Path(sys.executable).with_name("dask")
if not DASK.exists():  # pragma: no cover - the dask CLI ships with distributed
    pytest.skip(f"the dask command-line program is missing ({DASK})", allow_module_level=True)

DF = random_frame(n=1500, seed=5, sigma=0.01)
STRATEGIES = {"ema": (EmaCrossover, {"fast": [5, 10, 20], "slow": [60]}), "hold": BuyAndHold()}
POLICIES = {
    "vt": (VolatilityTarget, {"target_vol": [0.5, 1.5], "max_leverage": [10.0]}),
    "dd": (DrawdownControl, {"max_drawdown": [0.3], "base_leverage": [8.0]}),
    "cppi": (CPPI, {"floor": [0.7], "multiplier": [6.0], "max_leverage": [12.0]}),
    "fixed": 40.0,
}
GRID: dict[str, list[Any]] = {
    "stop_loss": [0.0, 0.03],
    "margin_mode": ["isolated", "cross"],
    "taker_fee": [0.0004, 0.0],
}
SPEC = {
    "model": "jump",
    "s0": 60_000.0,
    "sigma": 0.9,
    "n_steps": 200,
    "dt_years": 1 / 525_600,
    "seed": 11,
    "lam": 2_000.0,
    "jump_mean": -0.03,
    "jump_std": 0.03,
}
MARKET = Market(depth=2e3, half_life_steps=30.0)
VENUE = VenueSettings(insurance_fund=5e3, adl=True)


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NUMBA_NUM_THREADS", None)  # the workers pick their numba threads themselves
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(DASK), *args], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Each process leads its own session: the group holds the nanny's worker process too.
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("dask")
    file = tmp / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []
    common = ["--no-dashboard"]
    try:
        procs.append(
            _start(
                ["scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(file), *common],
                tmp / "scheduler.log",
            )
        )
        deadline = time.monotonic() + 60.0
        while not file.exists() or not file.read_text().strip():
            if procs[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dask scheduler did not start: {(tmp / 'scheduler.log').read_text()[-2000:]}")
            time.sleep(0.1)
        addr = str(json.loads(file.read_text())["address"])
        assert addr.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(
                _start(
                    [
                        "worker",
                        addr,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--local-directory",
                        str(tmp / f"w{i}"),
                        *common,
                    ],
                    tmp / f"worker{i}.log",
                )
            )
        with distributed.Client(addr, timeout="30s") as client:
            try:
                client.wait_for_workers(2, timeout=120)
            except TimeoutError:
                logs = "\n".join((tmp / f"worker{i}.log").read_text()[-1500:] for i in range(2))
                pytest.fail(f"two dask workers did not join: {logs}")
            assert sorted(client.nthreads().values()) == [1, 1]
        yield addr
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_sweep_through_a_scheduler_address_equals_in_process(address: str) -> None:
    here = sweep(DF, STRATEGIES, POLICIES, grid=GRID, chunk_size=7)
    there = sweep(DF, STRATEGIES, POLICIES, grid=GRID, chunk_size=7, scheduler=address)
    assert len(here) == 4 * 5 * 8
    assert here["n_liquidations"].sum() > 0
    pd.testing.assert_frame_equal(there, here, check_exact=True)


def test_monte_carlo_through_a_scheduler_address_equals_in_process(address: str) -> None:
    pop = population_from_distribution(150, price=60_000.0, seed=4)
    here = monte_carlo(pop, SPEC, 24, market=MARKET, venue=VENUE, chunk_size=5)
    there = monte_carlo(pop, SPEC, 24, market=MARKET, venue=VENUE, chunk_size=5, scheduler=address)
    assert here.paths["accounts_liquidated"].sum() > 0
    pd.testing.assert_frame_equal(there.paths, here.paths, check_exact=True)
    assert there.aggregates == here.aggregates


def test_a_sweep_gives_each_worker_thread_eight_tasks(address: str) -> None:
    # 160 configurations, chunk_size 64, two one-thread workers: tasks of ceil(160 / 16) = 10, run
    # by both worker processes.
    with distributed.Client(address, timeout="30s") as client, distributed.get_task_stream(client) as stream:
        sweep(DF, STRATEGIES, POLICIES, grid=GRID, chunk_size=64, scheduler=client)
    tasks = [t for t in stream.data if "_run_on_worker" in str(t["key"])]
    assert len(tasks) == 16
    assert len({t["worker"] for t in tasks}) == 2


def test_walk_forward_through_a_scheduler_address_equals_in_process(address: str) -> None:
    kw: dict[str, Any] = {"train_bars": 500, "test_bars": 250, "grid": {"stop_loss": [0.0, 0.03]}}
    here = walk_forward(DF, STRATEGIES, {"vt": POLICIES["vt"], "fixed": 5.0}, **kw)
    there = walk_forward(DF, STRATEGIES, {"vt": POLICIES["vt"], "fixed": 5.0}, scheduler=address, **kw)
    assert len(here.windows) == 4
    pd.testing.assert_frame_equal(there.windows, here.windows, check_exact=True)
    pd.testing.assert_series_equal(there.equity, here.equity, check_exact=True)
    assert there.metrics == here.metrics
