"""The store calls of the HTTP event loop: on a few threads of their own, each bounded by a deadline.

The store blocks (a SQLite file another process holds locked waits out its busy timeout; a hung
PostgreSQL server never answers, and its ``statement_timeout`` never fires).  A route or an
authentication check that called it on the event loop froze every other request, ``/healthz``
included.  :meth:`StoreCalls.run` runs the call on one of ``threads`` daemon threads and waits
at most ``timeout_s`` for it (per request: a request's store calls share one deadline, from its
first); past that the request is answered 503 ``database unavailable: ...``
and the thread finishes (or stays hung) in the background, holding its slot: at most ``threads``
calls are ever outstanding, so a hung database costs a fixed number of threads, and a call that
finds every slot taken waits for one within the same deadline.  A call that had not started when
its deadline passed never runs; one that had may still complete once the database answers.

The call runs inside ``bound(deadline)`` (the store's :meth:`~levguard.live.store.Store.bounded`):
the database itself waits for a lock at most until the request's deadline (SQLite's busy timeout,
PostgreSQL's ``lock_timeout`` and ``statement_timeout``), so a call refused by a locked database
gives its thread back at the deadline instead of holding it for the store's own 15 s.

The app keeps separate pools (:func:`store_call`'s ``pool``): ``tokens`` for the token look-ups
and ``kill_switch`` for the kill switch's write, each with threads of its own, so slow reads or
writes that hold every shared thread never lock out authentication or the kill switch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request

__all__ = ["RESERVED_THREADS", "STORE_THREADS", "STORE_TIMEOUT_S", "StoreCalls", "pooled_call", "store_call"]

T = TypeVar("T")

#: Seconds a request waits for the store (a free thread and the call itself); 503 beyond.
STORE_TIMEOUT_S = 10.0
#: Threads the HTTP side's store calls run on at most.
STORE_THREADS = 4

#: Threads of each reserved pool (token look-ups; the kill switch), besides the shared ones.
RESERVED_THREADS = 2

_Job = tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...], float]


def _unbounded(_deadline: float) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


class StoreCalls:
    """Run blocking store calls off the event loop, at most ``threads`` at a time, each within
    ``timeout_s`` (503 ``database unavailable`` beyond).  Used from one event loop."""

    def __init__(
        self,
        threads: int = STORE_THREADS,
        timeout_s: float = STORE_TIMEOUT_S,
        bound: Callable[[float], contextlib.AbstractContextManager[None]] = _unbounded,
        name: str = "store",
    ) -> None:
        self.threads = int(threads)
        self.timeout_s = float(timeout_s)
        self.name = name
        self._bound = bound
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._workers = 0
        self._slots: asyncio.Semaphore | None = None

    def _worker(self) -> None:
        while True:
            future, fn, args, deadline = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # its request gave up before it started
            try:
                with self._bound(deadline):  # the database's own waits end at the deadline
                    future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def _unavailable(self, what: str) -> HTTPException:
        return HTTPException(503, f"database unavailable: {what} within {self.timeout_s:g} s")

    async def run(self, fn: Callable[..., T], *args: Any, until: float | None = None) -> T:
        """``fn(*args)`` on a store thread; raises what it raises, or a 503 ``HTTPException`` when
        no thread is free or the call does not return within ``timeout_s`` (or by ``until``, a
        ``time.monotonic()`` instant: the request's deadline, shared by its store calls)."""
        loop = asyncio.get_running_loop()
        if until is None:
            until = time.monotonic() + self.timeout_s
        left = until - time.monotonic()
        if left <= 0:
            raise HTTPException(503, f"database unavailable: the request's {self.timeout_s:g} s for the store ran out")
        deadline = loop.time() + left  # the same instant on the loop's clock
        if self._slots is None:  # created on the loop that uses it
            self._slots = asyncio.Semaphore(self.threads)
        slots = self._slots
        try:
            async with asyncio.timeout_at(deadline):  # a cancelled wait for the semaphore takes no slot
                await slots.acquire()
        except TimeoutError:
            raise self._unavailable(f"{self.threads} earlier store calls have not returned") from None
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def release(_: object) -> None:  # the slot is free once the thread is (or never started)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(slots.release)

        future.add_done_callback(release)
        if self._workers < self.threads:
            self._workers += 1
            name = f"levguard-{self.name}-{self._workers}"
            threading.Thread(target=self._worker, name=name, daemon=True).start()
        self._jobs.put((future, fn, args, until))
        try:
            async with asyncio.timeout_at(deadline):  # cancels the call if it has not started
                return await asyncio.wrap_future(future)
        except TimeoutError:
            raise self._unavailable("the store did not answer") from None


async def store_call(request: Request, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run the store call ``fn(*args, **kwargs)`` for a request through the app's shared
    :class:`StoreCalls`."""
    return await pooled_call(request, "shared", fn, *args, **kwargs)


async def pooled_call(request: Request, pool: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` on the app's store pool ``pool``: ``shared``, ``tokens`` (token
    look-ups) or ``kill_switch`` (its write)."""
    calls: StoreCalls = request.app.state.store_pools[pool]
    until: float | None = getattr(request.state, "store_deadline", None)
    if until is None:  # the request's first store call starts its deadline
        until = request.state.store_deadline = time.monotonic() + calls.timeout_s
    return await calls.run(functools.partial(fn, *args, **kwargs), until=until)
