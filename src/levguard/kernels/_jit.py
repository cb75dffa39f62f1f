"""The one numba shim every kernel goes through.

Each kernel is written once in plain Python (``foo_py``).  ``jit(foo_py)`` returns the compiled
twin (``foo_nb``); ``jitable`` marks scalar helpers that compiled kernels call (they stay plain
Python when called from Python).  Setting ``LEVGUARD_DISABLE_NUMBA=1`` turns compilation off:
``jit`` then returns the Python function unchanged, which is handy for debugging and coverage.

Compilation is lazy (first call) and cached on disk (``cache=True``), so importing levguard
never pays JIT time and a second process loads machine code from ``__pycache__``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

NUMBA_DISABLED: bool = os.environ.get("LEVGUARD_DISABLE_NUMBA", "").strip() not in ("", "0")

if not NUMBA_DISABLED:
    import numba
    from numba.extending import register_jitable as _register_jitable


def jit(fn: F) -> F:
    """Return the compiled twin of ``fn`` (or ``fn`` itself when numba is disabled).

    Notes
    -----
    ``nopython`` mode, ``cache=True`` and ``error_model="numpy"`` (a division by zero yields
    inf/NaN instead of raising, so hot loops carry no exception checks).
    """
    if NUMBA_DISABLED:
        return fn
    return cast(F, numba.njit(cache=True, error_model="numpy", nogil=True)(fn))


def jitable(fn: F) -> F:
    """Mark a scalar helper as callable from compiled kernels; it stays plain Python."""
    if NUMBA_DISABLED:
        return fn
    wrapped: F = _register_jitable(error_model="numpy")(fn)
    return wrapped


def jit_parallel(fn: F) -> F:
    """Return the compiled twin of ``fn`` with numba's parallel loops (``prange``) enabled.

    Notes
    -----
    The same options as :func:`jit` plus ``parallel=True``: loops written with
    :data:`prange` run on numba's thread pool (``NUMBA_NUM_THREADS`` threads).  Use it only for
    kernels whose ``prange`` iterations are independent (each writes its own output rows), so
    the result does not depend on the thread count.  With numba disabled ``fn`` is returned
    unchanged and ``prange`` is the builtin ``range``.
    """
    if NUMBA_DISABLED:
        return fn
    return cast(F, numba.njit(cache=True, error_model="numpy", nogil=True, parallel=True)(fn))


# ``prange`` for kernels compiled by ``jit_parallel``: numba.prange (which behaves as ``range``
# when the Python twin runs), or the builtin ``range`` when numba is disabled.
prange: Callable[..., Iterable[int]] = range if NUMBA_DISABLED else numba.prange
