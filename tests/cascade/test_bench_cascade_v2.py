"""bench/bench_cascade_v2.py runs at a tiny size (issue 20): the scale case and the one-asset
case side by side with v1, whose outputs it checks equal, with one thread on both sides."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "bench_cascade_v2.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cascade_v2", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench() -> Iterator[ModuleType]:
    # Imported, the bench pins numba's threads (not the environment: numba re-reads
    # NUMBA_NUM_THREADS at every compile and would refuse a change after launch): restore them.
    from levguard.kernels import load_numba

    numba = load_numba()

    threads = numba.get_num_threads()
    before = {v: os.environ.get(v) for v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}
    yield _load()
    numba.set_num_threads(threads)
    assert {v: os.environ.get(v) for v in before} == before  # the import left the environment alone


def test_bench_runs_at_a_tiny_size(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = ["--accounts", "400", "--steps", "120", "--v1-accounts", "400", "--v1-steps", "120", "--repeats", "1"]
    assert bench.main([*argv, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["numba_threads"] == 1
    scale = res["scale"]
    assert (scale["accounts"], scale["assets"], scale["venues"], scale["steps"]) == (400, 4, 2, 120)
    assert scale["kernel_s"]["best"] > 0.0
    assert scale["simulate_market_s"]["median"] > 0.0
    assert scale["accounts_liquidated"] > 0
    one = res["one_asset"]
    assert one["identical"] is True
    assert one["threads"] == {"v1": 1, "v2": 1}
    assert one["v1_kernel_s"]["best"] > 0.0
    assert one["v2_kernel_s"]["best"] > 0.0


def test_scale_path_has_the_stated_shape_and_sell_off(bench: ModuleType) -> None:
    exo = bench.scale_path(10_000)
    assert exo.shape == (10_001, 4)
    assert (exo[0] == bench.S0).all()
    assert (exo > 0.0).all()
    spec = bench.scale_spec(1_000_000)
    assert (spec.n_assets, spec.n_venues) == (4, 2)
