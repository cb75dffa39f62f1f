"""The one numba shim every kernel goes through.

Each kernel is written once in plain Python (``foo_py``).  ``jit(foo_py)`` returns the compiled
twin (``foo_nb``); ``jitable`` marks scalar helpers that compiled kernels call (they stay plain
Python when called from Python).  Setting ``LEVGUARD_DISABLE_NUMBA=1`` turns compilation off:
``jit`` then returns the Python function unchanged, which is handy for debugging and coverage.

Numba itself is imported on the first call of a compiled twin, not when a kernel module is
imported: the scalar paths (one account's margin, the CLI's quick forms) call the plain-Python
helpers and never pay numba's import. Compilation is lazy (first call) and cached on disk
(``cache=True``), so a second process loads machine code from ``__pycache__``
(``levguard warmup`` fills that cache once).

numba checks a cached kernel against its own source file only, so a kernel whose helper changed
in another file would load the old machine code (numba issue #1833).  Here a kernel's cache is
keyed by every ``.py`` file of its folder instead (:func:`_folder_stamp`): editing any kernel or
helper recompiles the folder's kernels.  Helpers a kernel calls live in its folder
(``levguard/kernels``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

NUMBA_DISABLED: bool = os.environ.get("LEVGUARD_DISABLE_NUMBA", "").strip() not in ("", "0")

# Scalar helpers marked ``jitable`` before numba was imported; registered on the first compile.
_pending: list[Callable[..., Any]] = []
_numba: Any = None

# The folders of the functions given to jit, jit_parallel and jitable: their kernels' caches are
# stamped with the whole folder (:func:`_folder_stamp`).
_FOLDERS: set[str] = set()


def _folder_of(fn: Callable[..., Any]) -> str:
    return os.path.dirname(os.path.abspath(fn.__code__.co_filename))


def _folder_stamp(folder: str) -> str:
    """A digest of every ``.py`` file in ``folder`` (names and contents), read once per state.

    Notes
    -----
    numba stamps a cache with its kernel's own file (its hash, in numba 0.68), so a change to a
    helper in another file goes unseen (numba issue #1833; "Cache invalidation fails to recognize
    changes in functions defined in a different file", numba's user guide, section "Cache
    notes").  The files' names, sizes and modification times key the digest, so it is computed
    again when any of them changes.
    """
    states = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            st = os.stat(os.path.join(folder, name))
            states.append((name, st.st_mtime_ns, st.st_size))
    return _digest(folder, tuple(states))


@functools.lru_cache(maxsize=64)
def _digest(folder: str, states: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in states:
        with open(os.path.join(folder, name), "rb") as f:
            h.update(name.encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def _stamp_folders(caching: Any) -> None:
    """Put locators that stamp a kernel's cache with its folder before numba's own ones.

    They answer only for files in :data:`_FOLDERS`; other numba code keeps numba's locators.
    Where numba's caching module lacks the classes (a future release), numba's own stamps stay.
    """

    class _FolderStamped:
        _py_file: str

        def get_source_stamp(self) -> str:
            return _folder_stamp(os.path.dirname(os.path.abspath(self._py_file)))

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if os.path.dirname(os.path.abspath(py_file)) not in _FOLDERS:
                return None
            return super().from_function(py_func, py_file)  # type: ignore[misc]

    def public_or_private(name: str) -> Any:  # numba 0.59 names them with an underscore
        return getattr(caching, name, None) or getattr(caching, "_" + name, None)

    impl = public_or_private("CacheImpl")
    locators = []
    for name in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"):
        base = public_or_private(name)
        if base is None or impl is None:
            return
        locators.append(type("Folder" + name, (_FolderStamped, base), {"__module__": __name__}))
    impl._locator_classes[:0] = locators


def _tbb_library() -> str | None:
    """Return the path of the ``tbb`` package's ``libtbb.so.12``, or None where it is not installed."""
    path = os.path.join(sys.prefix, "lib", "libtbb.so.12")  # where pip puts it in a virtualenv
    if os.path.exists(path):
        return path
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("tbb")
    except (ImportError, PackageNotFoundError):
        return None
    for file in dist.files or ():
        if file.name == "libtbb.so.12":
            return str(dist.locate_file(file))
    return None


def _preload_tbb() -> bool:
    """Load the ``tbb`` package's library so that numba's thread pool is TBB, which survives ``fork``.

    Returns True when TBB was loaded.

    Notes
    -----
    numba takes the first threading layer it can load, in the order TBB, OpenMP, workqueue,
    unless ``NUMBA_THREADING_LAYER`` names one (numba's user guide, "The Threading Layers").  Its
    TBB layer links ``libtbb.so.12``, which the PyPI ``tbb`` wheel installs in ``<prefix>/lib``,
    off the loader's search path; without it numba falls back to GNU OpenMP, and a process forked
    after a parallel kernel ran (a ``multiprocessing`` pool, a pre-forking server) is terminated
    by numba on its next parallel kernel: "fork() called from a process already using GNU
    OpenMP, this is unsafe" (GNU OpenMP is not fork-safe; TBB and workqueue are, and workqueue
    is not thread-safe).  Loading the library by its path with ``RTLD_GLOBAL`` lets the dynamic
    loader resolve numba's link by its soname (about 2 ms, once).  numba picks its layer when it
    starts its threads, so this runs before numba is imported; a layer named in
    ``NUMBA_THREADING_LAYER`` is still the one numba uses.
    """
    if not sys.platform.startswith("linux"):
        return False
    path = _tbb_library()
    if path is None:
        return False
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:  # pragma: no cover - a broken install: numba picks OpenMP as before
        return False
    return True


def load_numba() -> Any:
    """Import numba once, stamp caches by folder and register the pending ``jitable`` helpers.

    Code outside the kernels that asks numba for its thread count imports numba through this
    function: the first such call picks numba's threading layer (:func:`_preload_tbb`)."""
    global _numba
    if _numba is None:
        _preload_tbb()
        import numba
        from numba.core import caching
        from numba.extending import register_jitable

        _stamp_folders(caching)
        for fn in _pending:
            register_jitable(error_model="numpy")(fn)
        _pending.clear()
        _numba = numba
    return _numba


class _Compiled:
    """A compiled twin that imports numba and compiles on first use (then is numba's dispatcher)."""

    __slots__ = ("__dict__", "_dispatcher", "_parallel")

    def __init__(self, fn: Callable[..., Any], parallel: bool) -> None:
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", "kernel")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__doc__ = fn.__doc__
        self._parallel = parallel
        self._dispatcher: Any = None

    def dispatcher(self) -> Any:
        """numba's dispatcher of the kernel (``.signatures``, ``.py_func``, ...)."""
        if self._dispatcher is None:
            numba = load_numba()
            fn = self.__wrapped__
            if self._parallel and "prange" in fn.__globals__:
                # The kernel's module imported ``prange`` before numba was loaded.
                fn.__globals__["prange"] = numba.prange
            fn = _calling_twins(fn)
            self._dispatcher = numba.njit(cache=True, error_model="numpy", nogil=True, parallel=self._parallel)(fn)
        return self._dispatcher

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dispatcher = self._dispatcher if self._dispatcher is not None else self.dispatcher()
        return dispatcher(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dispatcher(), name)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled (e.g. shipped to a Dask worker) as the Python function; compiled again there.
        return (_Compiled, (self.__wrapped__, self._parallel))

    def __repr__(self) -> str:
        return f"<compiled twin of {self.__qualname__}>"


# The compiled twin of each kernel compiled with :func:`jit`, by its plain-Python function (a
# ``jit_parallel`` kernel is never linked into another: its threads would nest).
_TWINS: dict[Callable[..., Any], _Compiled] = {}


def _calling_twins(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, or a copy whose globals name the compiled twins of the kernels it calls.

    A kernel that calls another kernel (a sweep calling the backtest, a Monte Carlo calling the
    cascade once per path) names its plain-Python function, which numba would compile again
    inside the caller.  The copy sees the callee's dispatcher under the same name instead, so
    the callee is compiled once (or loaded from the cache) and linked, and the caller's own
    compile is that much shorter.  The module's globals are untouched: from Python the kernel
    still calls the plain-Python function.
    """
    names = set(fn.__code__.co_names)
    subs = {
        name: twin.dispatcher()
        for name, value in fn.__globals__.items()
        if name in names and isinstance(value, types.FunctionType) and (twin := _TWINS.get(value)) is not None
    }
    if not subs:
        return fn
    copy = types.FunctionType(fn.__code__, {**fn.__globals__, **subs}, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__qualname__ = fn.__qualname__
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    return copy


def jit(fn: F) -> F:
    """Return the compiled twin of ``fn`` (or ``fn`` itself when numba is disabled).

    Notes
    -----
    ``nopython`` mode, ``cache=True`` and ``error_model="numpy"`` (a division by zero yields
    inf/NaN instead of raising, so hot loops carry no exception checks); compiled on first call.
    A compiled kernel that calls ``fn`` (marked :func:`jitable` too) links this twin instead of
    compiling ``fn`` again (:func:`_calling_twins`).
    """
    if NUMBA_DISABLED:
        return fn
    _FOLDERS.add(_folder_of(fn))
    twin = _TWINS[fn] = _Compiled(fn, parallel=False)
    return cast(F, twin)


def jitable(fn: F) -> F:
    """Mark a scalar helper as callable from compiled kernels; it stays plain Python."""
    if NUMBA_DISABLED:
        return fn
    _FOLDERS.add(_folder_of(fn))
    if _numba is not None:
        from numba.extending import register_jitable

        register_jitable(error_model="numpy")(fn)  # registers fn and returns it unchanged
        return fn
    _pending.append(fn)
    return fn


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
    _FOLDERS.add(_folder_of(fn))
    return cast(F, _Compiled(fn, parallel=True))


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy): how callers pass a kernel its input arrays.

    numba types a read-only array apart from a writable one, so a kernel called with both
    compiles (and caches) twice.  Frames hand out read-only views (pandas copy-on-write) while
    fresh NumPy arrays are writable; freezing every input at the call makes one signature, the
    one ``levguard warmup`` compiles, whoever calls.  Outputs stay writable.
    """
    view = a.view()
    view.flags.writeable = False
    return view


# ``prange`` for kernels compiled by ``jit_parallel``: the builtin ``range`` until numba loads.
prange: Callable[..., Iterable[int]] = range
