"""The guardian running inside the service: its loop, an event bus for live updates, metrics.

:class:`Runtime` owns a :class:`~levguard.live.guardian.Guardian` and runs its cycles in a
background task of the service's event loop; every cycle's reports and every alert are published
on an :class:`EventBus` (the Server-Sent Events stream subscribes to it) and counted in
Prometheus metrics.  Paper venues (demos, tests) are stepped once per cycle, on simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from levguard.live.alerts import Alert, Alerter, LogSink
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Level, Thresholds
from levguard.live.store import Store
from levguard.venues.paper import PaperVenue, PriceFeed

__all__ = ["EventBus", "Runtime", "clean", "paper_demo_runtime"]

log = logging.getLogger("levguard.service")


class EventBus:
    """Fan-out of events to subscribers (bounded queues: a slow client drops old events)."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._maxsize = maxsize
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)
        self.seq = 0

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
        """Publish from any thread (alert sinks run in worker threads)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.publish, kind, data)
        else:
            self.publish(kind, data)


class _BusSink:
    """Alert sink publishing to the event bus."""

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


class Runtime:
    """The guardian loop of the service.

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
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._fresh_ns: dict[str, int] = {}
        self.cycles = 0
        self.started_ns = time.time_ns()

    @property
    def store(self) -> Store:
        """The guardian's store."""
        return self.guardian.store

    def venue(self, account: str) -> Any:
        """The venue object of an account (None when unknown)."""
        for a in self.guardian.accounts:
            if a.name == account:
                return a.venue
        return None

    async def start(self) -> None:
        """Start the loop on the running event loop."""
        self.bus.bind(asyncio.get_running_loop())
        self._stop.clear()
        await self.guardian.reconcile()
        self.guardian.freeze_heap()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop and flush the store."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.guardian.close()

    async def run_cycle(self) -> list[dict[str, Any]]:
        """One guardian cycle, published and measured; paper venues advance one tick."""
        t0 = time.perf_counter()
        reports = await self.guardian.cycle()
        self.metrics.cycle_seconds.observe(time.perf_counter() - t0)
        self.metrics.cycles.inc()
        self.cycles += 1
        counts = dict.fromkeys(("OK", "WARN", "DANGER", "ACT"), 0)
        now = time.time_ns()
        for r in reports:
            if r.get("status") == "ok":
                counts[r.get("state", "OK")] += 1
                self._fresh_ns[r["account"]] = now
            else:
                self.metrics.venue_errors.labels(account=r["account"], status=r.get("status", "?")).inc()
            since = self._fresh_ns.get(r["account"], self.started_ns)
            self.metrics.data_age.labels(account=r["account"]).set((now - since) / 1e9)
        for state, n in counts.items():
            self.metrics.accounts_by_state.labels(state=state).set(n)
        self.bus.publish("cycle", clean(reports))
        for p in self.papers:
            await p.step()
        return reports

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                reports = await self.run_cycle()
            except Exception:
                log.exception("guardian cycle failed")
                reports = []
            worst = max((r.get("level", 0) for r in reports), default=0)
            delay = self.fast_interval_s if worst >= Level.DANGER else self.interval_s
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)


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


def paper_demo_runtime(database: str = "sqlite://", *, interval_s: float = 1.0, live: bool = True) -> Runtime:
    """A runtime watching one paper account: a 4x BTCUSDT long at 60,000 on a flat market that
    the dashboard (or a test) can shock (``PaperVenue.shock``): a 20 % drop takes it from OK to
    ACT, and the guardian deleverages (a simulated venue: acting is the point of the demo)."""
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
        vol=0.8,
    )
    guardian = Guardian(
        [setup], store, live=live, alerter=Alerter([LogSink()]), clock=lambda: venue.now_ns, owner="paper-demo"
    )
    return Runtime(guardian, [venue], interval_s=interval_s, fast_interval_s=interval_s)
