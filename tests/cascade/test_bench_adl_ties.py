"""bench/bench_adl_ties.py runs at a tiny size: the compiled tie-break, NumPy's lexsort and the
plain-Python twin give one order (the bench refuses to time otherwise), on one thread."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).parents[2] / "bench" / "bench_adl_ties.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_adl_ties", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench() -> Iterator[ModuleType]:
    from levguard.kernels import load_numba

    numba = load_numba()
    threads = numba.get_num_threads()
    yield _load()
    numba.set_num_threads(threads)


def test_bench_runs_at_a_tiny_size(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert bench.main(["--n", "3000", "--twin-n", "300", "--repeats", "1", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["numba_threads"] == 1
    assert res["orders_equal"] is True
    assert res["kernel_s"]["best"] > 0.0
    assert res["lexsort_s"]["best"] > 0.0


def test_the_book_ties_and_the_keys_decide(bench: ModuleType) -> None:
    ids, scores, size, margin, entry = bench.book(40)
    assert np.ptp(scores) == 0.0
    order = bench.lexsort_order(ids, size, margin, entry)
    s = np.abs(size[order])
    assert np.all(s[:-1] >= s[1:])  # the larger size first
    same = np.flatnonzero(size[order] == size[0])
    assert len(same) > 1
    m = margin[order][same]
    assert np.all(np.diff(m) >= 0.0)  # equal sizes: the lower margin first
    assert np.ptp(m) > 0.0  # ... and margin decides some of them
    for lo in np.unique(m):  # equal size and margin: the lower entry first
        assert np.all(np.diff(entry[order][same][m == lo]) >= 0.0)
    assert np.ptp(entry[ids]) > 0.0
