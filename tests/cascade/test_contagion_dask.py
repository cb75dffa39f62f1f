"""The market Monte Carlo through a real ``dask scheduler`` with two ``dask worker`` processes on
127.0.0.1 equals the in-process run exactly (the plan scattered once, tasks of two integers)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from contagion_helpers import market, path_spec

from levguard.cascade.market_montecarlo import calibrate_market, market_monte_carlo
from levguard.parallel import ProcessCluster

distributed = pytest.importorskip("distributed")
if not Path(sys.executable).with_name("dask").exists():  # pragma: no cover - the dask CLI ships with distributed
    pytest.skip("the dask command-line program is missing", allow_module_level=True)


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ProcessCluster(tmp_path_factory.mktemp("dask"), n_workers=2, threads=1) as cluster:
        yield cluster.address


def test_dask_equals_in_process(address: str) -> None:
    pop, spec = market()
    here = market_monte_carlo(pop, spec, path_spec(), 10, budget=5_000.0, chunk_size=3)
    with distributed.Client(address, timeout="30s") as client, distributed.get_task_stream(client) as stream:
        there = market_monte_carlo(pop, spec, path_spec(), 10, budget=5_000.0, chunk_size=3, scheduler=client)
    pd.testing.assert_frame_equal(there.paths, here.paths, check_exact=True)
    pd.testing.assert_frame_equal(there.distribution, here.distribution, check_exact=True)
    pd.testing.assert_frame_equal(there.asset_matrix, here.asset_matrix, check_exact=True)
    pd.testing.assert_frame_equal(there.venue_matrix, here.venue_matrix, check_exact=True)
    assert here.paths["bad_debt"].sum() > 0.0
    tasks = [t for t in stream.data if "_run_on_worker" in str(t["key"])]
    # ceil(10 / (8 x 2 threads)) = 1 path per task; both worker processes take part.
    assert len(tasks) == 10
    assert len({t["worker"] for t in tasks}) == 2


def test_calibration_through_an_address_equals_in_process(address: str) -> None:
    pop, spec = market()
    grid = {"insurance_fund": [0.0, 1e5]}
    here = calibrate_market(pop, spec, path_spec(), 4, grid, budget=1_000.0)
    there = calibrate_market(pop, spec, path_spec(), 4, grid, budget=1_000.0, scheduler=address)
    pd.testing.assert_frame_equal(there.table, here.table, check_exact=True)
    assert there.best == here.best
