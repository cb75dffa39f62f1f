"""The guardian running inside the service: its own thread and event loop, an event bus for live
updates, metrics.

:class:`Runtime` owns a :class:`~levguard.live.guardian.Guardian` and runs its cycles on a thread
of its own with its own asyncio event loop, so HTTP traffic on the server's loop (and CPU-bound
handlers in worker threads) cannot hold a cycle back beyond the interpreter's thread switching.
Everything that crosses between the two loops goes through one door:

* the guardian publishes every cycle's reports and every alert on an :class:`EventBus`, whose
  :meth:`EventBus.publish_threadsafe` hands the event to the server's loop (the Server-Sent Events
  stream subscribes there);
* the API changes guardian or venue state (a paper venue's shock, a policy, re-enabling an
  account) only through :meth:`Runtime.call`, which runs the change on the guardian's loop
  between two steps of a cycle;
* the store is shared: a file or PostgreSQL store gives each thread its own connection; an
  in-memory SQLite store (one connection) holds its ``lock`` around every transaction.

Paper venues (demos, tests) are stepped once per cycle, on simulated time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from levguard.live import passes
from levguard.live.alerts import Alert, Alerter, LogSink
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Level, Thresholds
from levguard.live.store import Store
from levguard.venues.paper import PaperVenue, PriceFeed

__all__ = ["EventBus", "GuardianUnavailable", "Runtime", "clean", "paper_demo_runtime"]

log = logging.getLogger("levguard.service")

T = TypeVar("T")

#: Seconds :meth:`Runtime.call` waits for the guardian's loop to run a change.
CALL_TIMEOUT_S = 30.0
#: Seconds :meth:`Runtime.stop` waits for the cycle in progress before cancelling it.
STOP_TIMEOUT_S = 10.0


class GuardianUnavailable(RuntimeError):  # noqa: N818 - the name says what the API answers (503)
    """The guardian's loop did not run a change in time (it is stopping, or stuck in a cycle)."""


class EventBus:
    """Fan-out of events to subscribers (bounded queues: a slow client drops old events).

    Subscribers live on one loop (the server's, :meth:`bind`); :meth:`publish` runs on that loop,
    :meth:`publish_threadsafe` from anywhere (the guardian's thread, alert sinks' worker threads).
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._maxsize = maxsize
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)
        self.seq = 0
        #: This run's mark (its start, ns): event ids are ``<run>-<seq>``, so an id a client kept
        #: from before a restart is never taken for one of this run's.
        self.run = str(time.time_ns())

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop subscribers live on (publishing from other threads goes through it)."""
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A new queue receiving every event from now on."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._maxsize)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering to ``q``."""
        self._subscribers.discard(q)

    def publish(self, kind: str, data: Any) -> None:
        """Publish from the loop's thread."""
        self.seq += 1
        event = {"id": self.seq, "kind": kind, "ts_ns": time.time_ns(), "data": data}
        self.recent.append(event)
        for q in list(self._subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)

    def publish_threadsafe(self, kind: str, data: Any) -> None:
        """Publish from any thread: handed to the bound loop unless called on it."""
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                current = asyncio.get_running_loop()
            except RuntimeError:
                current = None
            if current is not loop:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody listens
                    loop.call_soon_threadsafe(self.publish, kind, data)
                return
        self.publish(kind, data)


class _BusSink:
    """Alert sink publishing to the event bus (runs in a worker thread of the guardian's loop)."""

    def __init__(self, bus: EventBus, metrics: Metrics) -> None:
        self.bus = bus
        self.metrics = metrics

    def send(self, alert: Alert) -> None:
        self.metrics.alerts.labels(level=alert.level, kind=alert.kind).inc()
        if alert.kind == "action":
            self.metrics.actions.labels(kind="dry_run" if alert.data.get("dry_run") else "order").inc()
        self.bus.publish_threadsafe("alert", clean(alert.to_dict()))


class Metrics:
    """The service's Prometheus metrics (own registry: several apps in one process stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.cycle_seconds = Histogram(
            "levguard_cycle_seconds",
            "Wall time of one guardian cycle over every account",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.accounts_by_state = Gauge(
            "levguard_accounts_by_state", "Accounts by their worst position state", ["state"], registry=self.registry
        )
        self.alerts = Counter("levguard_alerts", "Alerts raised", ["level", "kind"], registry=self.registry)
        self.actions = Counter(
            "levguard_actions", "Deleveraging actions (orders or dry runs)", ["kind"], registry=self.registry
        )
        self.venue_errors = Counter(
            "levguard_venue_errors",
            "Cycles of an account that ended stale or disabled",
            ["account", "status"],
            registry=self.registry,
        )
        self.data_age = Gauge(
            "levguard_data_age_seconds",
            "Seconds since an account's last fresh cycle",
            ["account"],
            registry=self.registry,
        )
        self.cycles = Counter("levguard_cycles", "Guardian cycles run", registry=self.registry)
        self.cycle_errors = Counter(
            "levguard_cycle_errors", "Guardian cycles that failed with an unexpected error", registry=self.registry
        )


class Runtime:
    """The guardian loop of the service, on a thread of its own.

    Parameters
    ----------
    guardian : Guardian
    papers : list of PaperVenue
        Paper venues to step once per cycle (simulated time).
    interval_s, fast_interval_s : float
        Sleep between cycles (fast while a position is at DANGER or worse).
    """

    def __init__(
        self,
        guardian: Guardian,
        papers: list[PaperVenue] | None = None,
        *,
        interval_s: float = 5.0,
        fast_interval_s: float = 1.0,
    ) -> None:
        self.guardian = guardian
        self.papers = list(papers or [])
        self.interval_s = float(interval_s)
        self.fast_interval_s = float(fast_interval_s)
        self.bus = EventBus()
        self.metrics = Metrics()
        self.guardian.alerter.sinks.append(_BusSink(self.bus, self.metrics))
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[Any] | None = None
        self._stopping = False
        self._fresh_ns: dict[str, int] = {}
        self.cycles = 0
        self.started_ns = time.time_ns()
        self.cycle_log: deque[tuple[float, float]] = deque(maxlen=100_000)
        """Every cycle's start (``time.monotonic()``) and wall time in seconds, oldest first."""
        self.error: BaseException | None = None
        """What stopped the guardian's thread, if anything but :meth:`stop` did."""

    @property
    def store(self) -> Store:
        """The guardian's store."""
        return self.guardian.store

    @property
    def running(self) -> bool:
        """The guardian's thread runs its loop."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def started(self) -> bool:
        """:meth:`start` was called (and :meth:`stop` not yet)."""
        return self._thread is not None

    def venue(self, account: str) -> Any:
        """The venue object of an account (None when unknown)."""
        for a in self.guardian.accounts:
            if a.name == account:
                return a.venue
        return None

    # ------------------------------------------------------------------ the thread

    async def start(self) -> None:
        """Bind the bus to the running (server) loop, start the guardian's thread and wait for its
        start-up (reconciliation of unresolved orders); its exception, if any, is raised here."""
        self.bus.bind(asyncio.get_running_loop())
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.error = None
        self._stopping = False
        self._thread = threading.Thread(target=self._main, args=(started,), name="levguard-guardian", daemon=True)
        self._thread.start()
        try:
            await asyncio.wrap_future(started)
        except BaseException:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
            self._thread = None
            raise

    def _main(self, started: concurrent.futures.Future[None]) -> None:
        try:
            asyncio.run(self._amain(started))
        except BaseException as exc:  # the thread must not die silently
            if not (self._stopping and isinstance(exc, asyncio.CancelledError)):
                self.error = exc
                log.critical("the guardian's thread stopped: %r", exc, exc_info=exc)
            if not started.done():
                started.set_exception(exc)
        finally:
            self._loop = None

    async def _amain(self, started: concurrent.futures.Future[None]) -> None:
        self._stop = asyncio.Event()
        try:
            await self.guardian.reconcile()
            self.guardian.freeze_heap()
        except BaseException as exc:
            started.set_exception(exc)
            return
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        started.set_result(None)
        await self._run()

    async def stop(self) -> None:
        """Stop the loop after the cycle in progress (cancelled after ``STOP_TIMEOUT_S``), wait
        for the thread and flush the store."""
        thread, loop, stop = self._thread, self._loop, self._stop
        self._stopping = True
        if thread is not None:
            if loop is not None and stop is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(stop.set)
            await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
            task = self._task
            if thread.is_alive() and loop is not None and task is not None:
                log.warning("the guardian's cycle did not end within %.0f s: cancelled", STOP_TIMEOUT_S)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)
                await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
            self._thread = None
        self.guardian.close()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` on the guardian's loop (between two steps of a cycle); from
        any other thread.  Without a running guardian thread it runs at once, on the caller's."""
        loop = self._loop
        if loop is None or self._thread is None or threading.current_thread() is self._thread:
            done: concurrent.futures.Future[T] = concurrent.futures.Future()
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                done.set_exception(exc)
            return done

        async def run() -> T:
            return fn(*args, **kwargs)

        try:
            return asyncio.run_coroutine_threadsafe(run(), loop)
        except RuntimeError as exc:  # the loop closed meanwhile
            raise GuardianUnavailable("the guardian is stopping") from exc

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """:meth:`submit` awaited from another loop (the server's); raises what ``fn`` raises, or
        :class:`GuardianUnavailable` when the guardian's loop does not run it in time."""
        future = self.submit(fn, *args, **kwargs)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), CALL_TIMEOUT_S)
        except (TimeoutError, concurrent.futures.CancelledError):
            future.cancel()
            raise GuardianUnavailable(f"the guardian did not answer within {CALL_TIMEOUT_S:g} s") from None

    # ------------------------------------------------------------------ cycles

    async def run_cycle(self) -> list[dict[str, Any]]:
        """One guardian cycle, published and measured; paper venues advance one tick."""
        start = time.monotonic()
        t0 = time.perf_counter()
        reports = await self.guardian.cycle()
        wall = time.perf_counter() - t0
        self.cycle_log.append((start, wall))
        self.metrics.cycle_seconds.observe(wall)
        self.metrics.cycles.inc()
        self.cycles += 1
        counts = dict.fromkeys(("OK", "WARN", "DANGER", "ACT"), 0)
        now = time.time_ns()
        for r in reports:
            if r.get("status") in ("ok", "partial"):  # partial: fresh, positions of another wallet left out
                state = r.get("state", "OK" if r.get("status") == "ok" else None)  # none evaluated: no state
                if state is not None:
                    counts[state] += 1
                if not r.get("busy"):  # a busy account's report is its last one: its data ages
                    self._fresh_ns[r["account"]] = now
            else:
                self.metrics.venue_errors.labels(account=r["account"], status=r.get("status", "?")).inc()
            since = self._fresh_ns.get(r["account"], self.started_ns)
            self.metrics.data_age.labels(account=r["account"]).set((now - since) / 1e9)
        for state, n in counts.items():
            self.metrics.accounts_by_state.labels(state=state).set(n)
        self.bus.publish_threadsafe("cycle", clean(reports))
        for p in self.papers:
            await p.step()
        return reports

    async def _run(self) -> None:
        assert self._stop is not None
        try:
            while not self._stop.is_set():
                try:
                    reports = await self.run_cycle()
                except Exception:
                    self.metrics.cycle_errors.inc()
                    log.exception("guardian cycle failed")
                    reports = []
                worst = max((r.get("level", 0) for r in reports), default=0)
                delay = self.fast_interval_s if worst >= Level.DANGER else self.interval_s
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
        finally:
            await passes.drain(self.guardian)  # a lane still waiting on its venue, the rows left


def clean(value: Any) -> Any:
    """A JSON-safe copy: non-finite floats become None, tuples lists, other objects strings."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return clean(value.item())
    return str(value)


DEMO_VOL = 0.8
"""The demo account's configured annualised volatility (BTC's order of magnitude): a setting of
the demo, as a user writes ``vol`` in an account's configuration, not a fallback."""


def paper_demo_runtime(
    database: str = "sqlite://", *, interval_s: float = 1.0, live: bool = True, vol: float | None = DEMO_VOL
) -> Runtime:
    """A runtime watching one paper account: a 4x BTCUSDT long at 60,000 on a flat market that
    the dashboard (or a test) can shock (``PaperVenue.shock``): a 20 % drop takes it from OK to
    ACT, and the guardian deleverages (a simulated venue: acting is the point of the demo).

    ``vol`` is the demo account's configured annualised volatility (:attr:`AccountSetup.vol`):
    a flat paper feed has none of its own, so the demo states one; None leaves it to the EWMA of
    the marks seen (P(liq) unknown until enough are seen)."""
    feed = PriceFeed.from_path([60_000.0] * 5_000)
    venue = PaperVenue(
        "binance-usdm",
        feeds={"BTCUSDT": feed},
        wallet_balance=30_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0}],
        funding_rate=0.0,
    )
    store = Store(database)
    store.upsert_account("paper-btc", venue.name, live_enabled=live, policy=None)
    setup = AccountSetup(
        name="paper-btc",
        venue=venue,
        thresholds=Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.2, 0.12, 0.08), p_liq=(0.2, 0.5, 0.8)),
        target_leverage=3.0,
        live=live,
        cooldown_s=0.0,
        max_age_s=600.0,
        vol=vol,
    )
    guardian = Guardian(
        [setup], store, live=live, alerter=Alerter([LogSink()]), clock=lambda: venue.now_ns, owner="paper-demo"
    )
    return Runtime(guardian, [venue], interval_s=interval_s, fast_interval_s=interval_s)
