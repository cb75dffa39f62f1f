"""A process forked after a parallel kernel ran can run parallel kernels: numba's thread pool is
TBB where the ``tbb`` wheel is installed (kernels._jit._preload_tbb)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from levguard.kernels import NUMBA_DISABLED
from levguard.kernels._jit import _tbb_library

pytestmark = [
    pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and the tbb wheel: Linux"),
    pytest.mark.skipif(_tbb_library() is None, reason="the tbb package is not installed on this platform"),
]

_FORK_AFTER_A_PARALLEL_KERNEL = """
import os, signal
import numpy as np
from levguard.kernels.paths import garch_t_fpt_nb

def run():
    hit = np.zeros(4000, np.bool_)
    tau = np.zeros(4000)
    garch_t_fpt_nb(1, 48, 1 / 8760, 0.0, 1.0, 1e-6, 0.07, 0.9, 5.0, 1e-4, float(np.log(0.99)), True, 1, hit, tau)
    return int(hit.sum())

first = run()
import numba
print(numba.threading_layer(), flush=True)
pid = os.fork()
if pid == 0:
    signal.alarm(60)
    os._exit(0 if run() == first else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), first > 0)
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _FORK_AFTER_A_PARALLEL_KERNEL], capture_output=True, text=True, env=env, timeout=240
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env.update(extra)
    return env


def test_a_forked_child_runs_a_parallel_kernel_and_gets_the_parents_answer() -> None:
    # With GNU OpenMP (numba's next choice) the child is terminated: "fork() called from a
    # process already using GNU OpenMP, this is unsafe".
    out = _run(_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["tbb", "0", "True"], out.stdout + out.stderr


def test_a_threading_layer_the_user_chose_is_kept() -> None:
    out = _run(_env(NUMBA_THREADING_LAYER="workqueue"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["workqueue", "0", "True"], out.stdout + out.stderr
