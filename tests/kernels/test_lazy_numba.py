"""numba is imported on the first compiled call, not when a kernel module is imported (issue 16)."""

from __future__ import annotations

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
