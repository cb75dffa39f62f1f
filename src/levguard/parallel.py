"""Shared by the sweeps and the Monte Carlo: a Dask client for a scheduler argument, one numba
thread per task on a Dask worker, and a rich progress bar over chunks of work.

How the sweeps and the Monte Carlo use Dask: everything a task needs that is the same for every
task (the prepared bars, the accounts, the path spec, the candidates) goes to each worker once,
scattered with ``broadcast=True``; a task carries only its range of configurations or paths; the
worker builds the signals, leverage paths or price paths of that range itself and returns only
the summary records of the range.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from levguard.errors import ConfigError, InputError, LevguardError

__all__ = [
    "ProcessCluster",
    "Progress",
    "dask_client",
    "run_chunks",
    "run_on_dask",
    "task_size",
    "worker_numba_threads",
]


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
        Anything else, an address that cannot be reached within 10 s, or one that answers but
        is not a Dask scheduler (levguard gives up on it after :data:`CONNECT_DEADLINE` seconds).
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
        client = _connect(Client, scheduler)
        with client, client.as_current():
            yield client
        return
    raise InputError(f"scheduler must be None, 'local', an address or a dask Client, was {scheduler!r}")


#: Seconds levguard waits for a scheduler address to be connected to *and* to answer as a Dask
#: scheduler.  distributed's own ``timeout`` covers only the TCP connect: a port that accepts the
#: connection but never speaks Dask (a dashboard, an HTTP server, a silent socket) would otherwise
#: hang ``Client(...)`` forever.
CONNECT_DEADLINE = 12.0


def _connect(client_type: Any, address: str) -> Any:
    """A ``Client`` connected to ``address``, or InputError naming it within CONNECT_DEADLINE.

    The client is built on a daemon thread that this call stops waiting for at the deadline; a
    client still stuck in its handshake then stays on that thread, never made the default client.
    """
    import threading

    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        scheme, _ = parse_address(address)
        if scheme in ("tcp", "tls"):
            get_address_host_port(address)
    except (ValueError, TypeError) as exc:  # not an address: "missing port number in address"
        raise InputError(
            f"scheduler must be 'local' or an address such as tcp://host:8786, was {address!r} ({exc})"
        ) from exc
    outcome: dict[str, Any] = {}

    def build() -> None:
        try:
            outcome["client"] = client_type(address, timeout="10s", set_as_default=False)
        except BaseException as exc:  # described to the caller below, never handed over
            outcome["error"] = (
                exc if not isinstance(exc, Exception) else None,
                type(exc),
                f"{type(exc).__name__}: {exc}",
            )
            _discard_failed_client(exc, client_type)

    thread = threading.Thread(target=build, name="levguard-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_DEADLINE)
    if thread.is_alive():
        raise InputError(
            f"scheduler {address!r} accepted the connection but did not answer as a Dask scheduler "
            f"within {CONNECT_DEADLINE:g} s (is it the scheduler's port, usually 8786, and not its dashboard?)"
        )
    if "error" in outcome:
        fatal, kind, text = outcome["error"]
        if fatal is not None:  # KeyboardInterrupt and the like
            raise fatal
        if issubclass(kind, OSError):  # refused, unreachable, or distributed's 10 s connect timeout
            raise InputError(f"scheduler: cannot connect to {address!r} ({text})")
        # e.g. an SSH banner, whose first bytes read as a frame length: "Unable to allocate 2.82 EiB"
        raise InputError(f"scheduler {address!r} is not a Dask scheduler: its reply could not be read ({text})")
    return outcome["client"]


def _discard_failed_client(exc: BaseException, client_type: Any) -> None:
    """Close the half-built client of a failed ``Client(...)`` on this (daemon) thread.

    Left to the garbage collector, its ``__del__`` would block whichever thread freed it for 20 s
    (``Client.close``'s timeout) and print a TimeoutError traceback; so it is found in the
    traceback, closed here with a short timeout, and marked closed so that ``__del__`` does nothing.
    """
    from contextlib import suppress

    tb = exc.__traceback__
    while tb is not None:
        client = tb.tb_frame.f_locals.get("self")
        if isinstance(client, client_type):
            with suppress(Exception):
                client.close(timeout=2)
            with suppress(Exception):
                client.status = "closed"
            return
        tb = tb.tb_next


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
    from levguard.kernels import load_numba

    numba = load_numba()
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


def _run_on_worker(plan: Any, a: int, b: int) -> Any:
    # A Dask task: one numba thread per worker thread (worker_numba_threads).
    with worker_numba_threads():
        return plan.run(a, b - a)


#: Tasks in flight per worker thread in :func:`run_on_dask`: enough to keep every thread busy,
#: few enough that the results not yet collected stay a bounded amount of worker memory.
IN_FLIGHT_PER_THREAD = 4


def run_on_dask(
    client: Any,
    plan: Any,
    bounds: list[tuple[int, int]],
    task: Callable[[Any, int, int], Any],
    store: Callable[[int, int, Any], None],
    advance: Callable[[], None],
) -> None:
    """Run ``task(plan, a, b)`` on Dask for every ``(a, b)`` of ``bounds`` and hand each result
    to ``store(a, b, result)`` as it completes.

    ``plan`` is scattered to every worker once (``broadcast=True``); at most
    :data:`IN_FLIGHT_PER_THREAD` tasks per worker thread are in flight, and each future is
    released as soon as its result is stored, so the workers never hold more than that many
    results.  When every worker holding the plan is lost (a crash; the nanny's fresh worker has
    no data), the plan is scattered again and the chunks not yet stored run once more.

    Raises
    ------
    InputError
        The scheduler has no worker within 10 s.
    LevguardError
        The plan was lost a second time.
    """
    from distributed import as_completed

    try:  # distributed >= 2024.7; before, a cancelled future raised concurrent.futures' CancelledError
        from distributed.client import FutureCancelledError
    except ImportError:  # pragma: no cover - older distributed
        from concurrent.futures import CancelledError as FutureCancelledError  # type: ignore[assignment]

    todo = list(reversed(bounds))  # popped from the end: in order
    for attempt in (1, 2):
        try:
            client.wait_for_workers(1, timeout=10)
        except TimeoutError:
            raise InputError(f"scheduler {client.scheduler.address!r} has no workers (none joined in 10 s)") from None
        limit = IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values()))
        plan_f = client.scatter(plan, broadcast=True, hash=False)
        running: dict[Any, tuple[int, int]] = {}
        while todo and len(running) < limit:
            a, b = todo.pop()
            running[client.submit(task, plan_f, a, b, pure=False)] = (a, b)
        done = as_completed(list(running))  # type: ignore[no-untyped-call]
        try:
            for fut in done:
                a, b = running[fut]
                store(a, b, fut.result())
                del running[fut]
                fut.release()
                advance()
                if todo:
                    a, b = todo.pop()
                    nxt = client.submit(task, plan_f, a, b, pure=False)
                    running[nxt] = (a, b)
                    done.add(nxt)  # type: ignore[no-untyped-call]
        except FutureCancelledError as exc:
            if attempt == 2:
                raise LevguardError(
                    "every Dask worker holding the scattered plan was lost, twice (workers crashed or "
                    f"were restarted): retry on a healthy cluster ({exc})"
                ) from None
            todo.extend(sorted(running.values(), reverse=True))  # still to run, next in order
            for f in running:
                f.release()
            continue
        return


def run_chunks(
    plan: Any, n: int, chunk_size: int, client: Any, progress: bool, label: str, store: Callable[[int, int, Any], None]
) -> None:
    """Run ``plan.run(first, count)`` over ``0 .. n - 1`` in chunks and hand each result to
    ``store(first, end, result)``: in this process in chunks of ``chunk_size`` when ``client`` is
    None, else on Dask in tasks of :func:`task_size` through :func:`run_on_dask` (the plan
    scattered to every worker once, a task ships two integers, results stored as they complete).
    A progress bar over the chunks."""
    size = chunk_size if client is None else task_size(n, chunk_size, client)
    bounds = [(a, min(n, a + size)) for a in range(0, n, size)]
    with Progress(progress, len(bounds), label) as advance:
        if client is None:
            for a, b in bounds:
                store(a, b, plan.run(a, b - a))
                advance()
            return
        run_on_dask(client, plan, bounds, _run_on_worker, store, advance)


class ProcessCluster:
    """A ``dask scheduler`` and ``n_workers`` ``dask worker`` programs on 127.0.0.1, started as
    separate processes (the scheduler's port chosen by the OS), for a sweep or a Monte Carlo's
    ``scheduler=cluster.address``; a context manager that kills them on exit.

    Each program leads its own session, so :meth:`close` ends a worker's nanny and its child
    together (SIGTERM, then SIGKILL after 10 s).  Workers run ``threads`` threads each, without
    numba's thread count inherited from this process (:func:`worker_numba_threads` sets one per
    task) and, unless ``adaptive_malloc`` is False, without the nanny's
    ``MALLOC_TRIM_THRESHOLD_`` (see :func:`dask_client`).  Logs go to ``directory``.

    Parameters
    ----------
    directory : path
        An existing folder for the scheduler file, the logs and the workers' local directories.
    n_workers : int, default 2
    threads : int, default 1
        Threads per worker.
    timeout : float, default 120
        Seconds to wait for the scheduler to listen and for every worker to join.
    env : mapping, optional
        Extra environment of every program.

    Raises
    ------
    InputError
        A bad ``n_workers``, ``threads``, ``timeout`` or ``directory``.
    ConfigError
        The ``dask`` program is missing, or the scheduler or a worker did not start in time
        (with the end of its log).

    Examples
    --------
    >>> with ProcessCluster(tmp_dir, n_workers=2) as cluster:  # doctest: +SKIP
    ...     table = sweep(frame, strategies, policies, scheduler=cluster.address)
    """

    def __init__(
        self,
        directory: str | Path,
        n_workers: int = 2,
        *,
        threads: int = 1,
        timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
        adaptive_malloc: bool = True,
    ) -> None:
        for name, value in (("n_workers", n_workers), ("threads", threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer >= 1, was {value!r}")
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise InputError(f"timeout must be a number of seconds > 0, was {timeout!r}")
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise InputError(f"directory must be an existing folder, was {str(directory)!r}")
        self.n_workers = n_workers
        self.threads = threads
        self.timeout = float(timeout)
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._env.pop("NUMBA_NUM_THREADS", None)  # the workers pick their numba threads per task
        if adaptive_malloc:
            self._env["DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON"] = "{'MALLOC_TRIM_THRESHOLD_': None}"
        self._program = Path(sys.executable).with_name("dask")
        self._procs: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def _start(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(self._program), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def _fail(self, what: str, log: Path) -> ConfigError:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.close()
        return ConfigError(f"{what} (log {log}): {tail}")

    def start(self) -> ProcessCluster:
        """Start the scheduler and the workers; return when every worker has joined."""
        if not self._program.exists():
            raise ConfigError(f"the dask command-line program is missing ({self._program})")
        d = self.directory
        file, log = d / "scheduler.json", d / "scheduler.log"
        file.unlink(missing_ok=True)
        args = ["scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(file)]
        scheduler = self._start([*args, "--no-dashboard"], log)
        deadline = time.monotonic() + self.timeout
        while not file.exists() or not file.read_text().strip():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise self._fail("the dask scheduler did not start", log)
            time.sleep(0.1)
        self.address = str(json.loads(file.read_text())["address"])
        for i in range(self.n_workers):
            args = ["worker", self.address, "--host", "127.0.0.1", "--nthreads", str(self.threads)]
            args += ["--nworkers", "1", "--no-dashboard", "--local-directory", str(d / f"worker{i}")]
            self._start(args, d / f"worker{i}.log")
        from distributed import Client

        with Client(self.address, timeout="30s") as client:  # type: ignore[no-untyped-call]
            try:
                client.wait_for_workers(self.n_workers, timeout=max(1.0, deadline - time.monotonic()))
            except TimeoutError:
                raise self._fail(f"{self.n_workers} dask worker(s) did not join", d / "worker0.log") from None
        return self

    def close(self) -> None:
        """Stop the workers and the scheduler (each process group: SIGTERM, then SIGKILL)."""
        for proc in reversed(self._procs):
            for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._procs.clear()

    def __enter__(self) -> ProcessCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
