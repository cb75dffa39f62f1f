"""A sweep and a Monte Carlo through a real ``dask scheduler`` with two ``dask worker`` processes
on 127.0.0.1 equal the in-process results exactly.

The scheduler and the workers are the ``dask`` command-line programs of this venv, started as
separate processes (each in its own session, killed with its children at the end even when a
test fails); the scheduler listens on a port the OS picks and writes its address to a file.
"""

from __future__ import annotations

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
from levguard.errors import InputError
from levguard.parallel import ProcessCluster

sys.path.insert(0, str(Path(__file__).resolve().parent / "backtest" / "engine"))
from bt_engine_helpers import random_frame

distributed = pytest.importorskip("distributed")
if not Path(sys.executable).with_name("dask").exists():  # pragma: no cover - the dask CLI ships with distributed
    pytest.skip("the dask command-line program is missing", allow_module_level=True)

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


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ProcessCluster(tmp_path_factory.mktemp("dask"), n_workers=2, threads=1) as cluster:
        assert cluster.address.startswith("tcp://127.0.0.1:")
        with distributed.Client(cluster.address, timeout="30s") as client:
            assert sorted(client.nthreads().values()) == [1, 1]
        yield cluster.address


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_workers": 0}, "n_workers must be an integer >= 1, was 0"),
        ({"threads": True}, "threads must be an integer >= 1, was True"),
        ({"timeout": -1.0}, "timeout must be a number of seconds > 0, was -1.0"),
    ],
)
def test_process_cluster_names_a_bad_argument(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        ProcessCluster(tmp_path, **kwargs)
    with pytest.raises(InputError, match="directory must be an existing folder"):
        ProcessCluster(tmp_path / "missing")


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


@pytest.mark.parametrize("scheduler", ["bogus", "tcp://", "NONE"])
def test_a_scheduler_that_is_not_an_address_is_an_input_error(scheduler: str) -> None:
    # Found by a bad-input campaign (2026-12-05): `levguard contagion --scheduler bogus` raised
    # distributed's ValueError ("missing port number in address").
    from levguard.errors import InputError
    from levguard.parallel import dask_client

    with (
        pytest.raises(InputError, match=rf"scheduler must be 'local' or an address .*, was '{scheduler}'"),
        dask_client(scheduler),
    ):
        pass


def _crashing_plan(markers: Path, crashes: int) -> Any:
    """A plan whose first ``crashes`` tasks kill their worker process (the nanny starts a fresh
    one, without the scattered plan); every task sleeps a little so that each worker has one."""

    class Plan:
        def run(self, first: int, count: int) -> Any:
            import os
            import time

            import numpy as np

            time.sleep(0.2)
            for k in range(crashes):
                try:
                    os.close(os.open(markers / f"crash{k}", os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    continue
                os._exit(1)
            return np.arange(first, first + count)

    return Plan()


def test_losing_every_worker_that_holds_the_plan_scatters_it_again(tmp_path: Path) -> None:
    # Found by a Dask hunt (2026-12-07): both workers crashing (restarted by their nannies without
    # the plan scattered with hash=False) aborted with FutureCancelledError "already forgotten".
    import numpy as np

    from levguard.parallel import run_chunks

    got = np.full(40, -1)

    def store(a: int, b: int, r: Any) -> None:
        got[a:b] = r

    (tmp_path / "markers").mkdir()
    with ProcessCluster(tmp_path, n_workers=2) as cluster, distributed.Client(cluster.address) as client:
        run_chunks(_crashing_plan(tmp_path / "markers", 2), 40, 2, client, False, "x", store)
        assert (tmp_path / "markers" / "crash1").exists()
    np.testing.assert_array_equal(got, np.arange(40))


def test_a_scheduler_without_workers_is_an_input_error() -> None:
    # Found by a Dask hunt (2026-12-07): a raw TimeoutError "No valid workers found".
    from levguard.parallel import run_chunks

    with (
        distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
        pytest.raises(InputError, match=r"scheduler '.*' has no workers"),
    ):
        run_chunks(_crashing_plan(Path("."), 0), 4, 2, client, False, "x", lambda a, b, r: None)


def test_run_chunks_keeps_a_bounded_number_of_results_on_the_workers(address: str, tmp_path: Path) -> None:
    # Found by a Dask hunt (2026-12-07): every future was kept to the end, so every result stayed
    # in worker memory (~104 B per Monte Carlo path; a second ~10 GB copy at 1e8 paths).
    import numpy as np

    from levguard.parallel import IN_FLIGHT_PER_THREAD, run_chunks

    got = np.full(80, -1)
    held: list[int] = []
    with distributed.Client(address, timeout="30s") as client:
        limit = IN_FLIGHT_PER_THREAD * sum(client.nthreads().values())

        def store(a: int, b: int, r: Any) -> None:
            got[a:b] = r
            held.append(len(client.futures))  # the plan and the tasks this client still holds

        run_chunks(_crashing_plan(tmp_path, 0), 80, 2, client, False, "x", store)
        for _ in range(100):  # releases reach the client's loop asynchronously
            if not client.futures:
                break
            time.sleep(0.05)
        assert client.futures == {}
    np.testing.assert_array_equal(got, np.arange(80))
    assert max(held) <= limit + 1, held
