"""numba is imported on the first compiled call, not when a kernel module is imported (issue 16)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from levguard.kernels import NUMBA_DISABLED


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_the_cli_and_one_account_never_import_numba_or_pandas() -> None:
    code = (
        "import sys\n"
        "from levguard.cli.main import app\n"
        "import levguard.margin as m\n"
        "m.evaluate_account({'venue': 'binance-usdm', 'wallet_balance': 1000,"
        " 'positions': [{'symbol': 'BTCUSDT', 'qty': 0.1, 'entry_price': 60000, 'mark_price': 59000}]})\n"
        "print('numba' in sys.modules, 'pandas' in sys.modules)"
    )
    assert _run(code) == "False False"


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled")
def test_a_compiled_twin_loads_numba_and_agrees_with_its_python_twin() -> None:
    from levguard.kernels import vol as kv

    x = np.linspace(0.0, 1.0, 50)
    out_py = np.empty_like(x)
    out_nb = np.empty_like(x)
    kv.ewma_py(x, 0.9, 0.1, out_py)
    kv.ewma_nb(x, 0.9, 0.1, out_nb)
    assert np.array_equal(out_py, out_nb)
    assert "numba" in sys.modules
    assert kv.ewma_nb.signatures  # numba's dispatcher attributes reach through the shim


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled")
def test_a_compiled_twin_pickles_as_its_python_function() -> None:
    from levguard.kernels import vol as kv

    again = pickle.loads(pickle.dumps(kv.ewma_nb))
    x = np.ones(5)
    a, b = np.empty(5), np.empty(5)
    again(x, 0.5, 0.0, a)
    kv.ewma_py(x, 0.5, 0.0, b)
    assert np.array_equal(a, b)


_CALLER_MODULE = """
import numpy as np
from levguard.kernels._jit import jit, jitable

@jitable
def double_py(x):
    return 2.0 * x

double_nb = jit(double_py)

def total_py(a):
    s = 0.0
    for v in a:
        s += double_py(v)
    return s

total_nb = jit(total_py)
"""


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled")
def test_a_kernel_calling_a_kernel_links_its_compiled_twin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A Monte Carlo calling the cascade once per path, a sweep calling the backtest: the callee is
    # compiled once, as its own twin, not again inside the caller; from Python the caller still
    # calls the plain-Python callee.
    (tmp_path / "two_kernels.py").write_text(_CALLER_MODULE)
    code = (
        "import numpy as np, two_kernels as k\n"
        "a = np.arange(4.0)\n"
        "print(k.total_nb(a), k.total_py(a), len(k.double_nb.signatures),"
        " k.total_py.__globals__['double_py'] is k.double_py)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    )
    assert out.stdout.split() == ["12.0", "12.0", "1", "True"]


_HELPER_MODULE = """
from levguard.kernels._jit import jitable

@jitable
def scale_py(x):
    return {factor} * x
"""

_USER_MODULE = """
from levguard.kernels._jit import jit
from helper_file import scale_py

def apply_py(a):
    s = 0.0
    for v in a:
        s += scale_py(v)
    return s

apply_nb = jit(apply_py)
"""


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled")
def test_a_cached_kernel_is_compiled_again_when_a_helper_in_another_file_changes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # numba stamps a cache with the kernel's own file only (numba issue #1833): after an edit of
    # a helper in another file, the old machine code would load. The shim stamps with the folder.
    (tmp_path / "user_file.py").write_text(_USER_MODULE)
    code = (
        "import numpy as np, user_file as k\n"
        "v = k.apply_nb(np.arange(4.0))\n"
        "print(v, sum(k.apply_nb.stats.cache_hits.values()))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
        # Python's own .pyc of the helper is stamped with its size and mtime in whole seconds: the
        # edit below (same size) within the same second loaded the stale bytecode (a CI failure
        # once `make test` stopped setting this variable); this test is about numba's cache.
        "PYTHONDONTWRITEBYTECODE": "1",
    }

    def run(factor: str) -> list[str]:
        (tmp_path / "helper_file.py").write_text(_HELPER_MODULE.format(factor=factor))
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
        )
        return out.stdout.split()

    assert run("2.0") == ["12.0", "0"]  # compiled and cached
    assert run("2.0") == ["12.0", "1"]  # loaded from the cache
    assert run("3.0") == ["18.0", "0"]  # the helper changed: compiled again, not the stale 12.0
    assert run("3.0") == ["18.0", "1"]
