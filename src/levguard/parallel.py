"""Shared by the sweeps and the Monte Carlo: a Dask client for a scheduler argument, one numba
thread per task on a Dask worker, and a rich progress bar over chunks of work.

How the sweeps and the Monte Carlo use Dask: everything a task needs that is the same for every
task (the prepared bars, the accounts, the path spec, the candidates) goes to each worker once,
scattered with ``broadcast=True``; a task carries only its range of configurations or paths; the
worker builds the signals, leverage paths or price paths of that range itself and returns only
the summary records of the range.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from levguard.errors import InputError

__all__ = ["Progress", "dask_client", "task_size", "worker_numba_threads"]


@contextmanager
def dask_client(scheduler: object) -> Iterator[Any]:
    """Yield the Dask client for a ``scheduler`` argument and close what this call opened.

    None yields None (run in process); ``"local"`` starts a two-worker ``LocalCluster`` (one
    thread each, glibc's allocator left adaptive: no ``MALLOC_TRIM_THRESHOLD_``) and closes it
    afterwards; a string is a scheduler address, connected to and
    disconnected from afterwards; a ``Client`` is used as is and stays open.

    Raises
    ------
    InputError
        Anything else, or an address that cannot be reached within 10 s.
    """
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise InputError(f"scheduler: dask.distributed is not installed ({exc})") from exc
    if isinstance(scheduler, Client):
        # Current for the call: with another client the default, waiting on this one's futures
        # (``as_completed``) lagged by 1-4 s per call (distributed 2026.8).
        with scheduler.as_current():
            yield scheduler
        return
    if scheduler == "local":
        import dask

        # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which turns off glibc's
        # adaptive mmap threshold: every array over 128 KiB is then a fresh mmap whose pages
        # fault in again, and a sweep runs ~40 % slower per core (docs/benchmarks.md, issue 17).
        # This cluster lives for one call, so returning freed memory eagerly buys nothing.
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
        try:
            with Client(cluster) as client, client.as_current():  # type: ignore[no-untyped-call]
                yield client
        finally:
            cluster.close()
        return
    if isinstance(scheduler, str) and scheduler:
        try:
            client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise InputError(f"scheduler: cannot connect to {scheduler!r} ({exc})") from exc
        with client, client.as_current():
            yield client
        return
    raise InputError(f"scheduler must be None, 'local', an address or a dask Client, was {scheduler!r}")


def task_size(n_items: int, chunk_size: int, client: Any) -> int:
    """Items per Dask task: at most ``chunk_size``, and few enough that each of the cluster's
    worker threads gets at least eight tasks, so that no worker idles while another finishes a
    long tail (``ceil(n_items / (8 x threads))``; with four, the last task of a 1,000-configuration
    sweep on two workers left one idle for about a tenth of the run).  Results never depend on it."""
    threads = sum(client.nthreads().values()) or 1
    return max(1, min(chunk_size, -(-n_items // (8 * threads))))


@contextmanager
def worker_numba_threads() -> Iterator[None]:
    """Run a task's numba kernels on one thread when it runs on a Dask worker.

    A Dask worker's threads (``--nthreads``) and processes (``--nworkers``) are its share of the
    cores, so a task's ``prange`` kernel uses one numba thread there instead of numba's default of
    every core, which would oversubscribe the machine (two one-thread workers on two cores would
    run four threads).  Outside a worker, or when the worker's environment sets
    ``NUMBA_NUM_THREADS`` explicitly, numba's setting is left as it is.  Results do not depend on
    the thread count.
    """
    if "NUMBA_NUM_THREADS" in os.environ:
        yield
        return
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):  # not on a Dask worker
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)  # thread-local: only this task's thread
    try:
        yield
    finally:
        numba.set_num_threads(before)


class Progress:
    """A rich progress bar over ``total`` chunks (a no-op when ``on`` is false); the context
    manager yields the function that advances it by one."""

    def __init__(self, on: bool, total: int, label: str) -> None:
        self.on = on
        self.total = total
        self.label = label
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[], None]:
        if self.on:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("run", total=self.total)
        return self._advance

    def _advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
