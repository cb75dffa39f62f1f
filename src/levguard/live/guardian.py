"""The guardian loop: watch exchange accounts, alert, and deleverage before liquidation.

Per account and cycle (:meth:`Guardian.cycle_account`):

1. hold the account's lease in the store (one process per account across a fleet);
2. fetch positions, the balance and marks, retrying transient failures with backoff; an input
   older than ``max_age_s`` (or unobtainable) makes the cycle *stale*: alert, no orders;
3. notice positions changed by the venue (liquidation, ADL) against the previous cycle and our
   own fills: alert and re-read;
4. evaluate the account with levguard's margin engine (the venue's rule set and tiers), compare
   our liquidation price with the venue's (drift alert beyond ``drift_threshold``), compute each
   position's probability of liquidation over the horizon (the liquidation forecaster fitted on
   the account's hourly mark bars, once an hour: :mod:`levguard.live.forecasts`, the path
   ``levguard risk``, ``levguard size`` and the service share) and the policy's target leverage;
   a unified account (several collateral coins: :mod:`levguard.live.unified`) is evaluated by the
   unified engine, its states use the account's ratio against the venue's trigger, and its ratio
   is checked against the one the venue reports;
5. step each position's state machine (OK, WARN, DANGER, ACT, with hysteresis) and alert on
   transitions;
6. at ACT (or a configured level): deleverage with a reduce-only order sized to bring the
   position's leverage back to its target, at most ``max_order_notional`` and
   ``step_fraction`` of the excess per step, with a cooldown; the decision and its
   deterministic client order id are committed to the store **before** the order is sent
   (write-ahead), and a restarted guardian reconciles unresolved orders by client id, so a
   crash never sends a duplicate.  Dry-run is the default: orders are sent only with ``live``
   (the ``--live`` flag) **and** the account's own opt-in, never under a kill switch;
7. store a snapshot and an audit row of every decision with its inputs and reasons.

Failure model (docs/guardian.md has the table):

* **Containment.** Each account's cycle runs inside a boundary: any exception is classified
  (:func:`levguard.live._support.classify`: retryable, auth, permanent, unknown), written to the
  audit log, alerted (auth and unknown are critical) and the account backs off exponentially;
  the loop itself never dies.  An authentication failure (on a read or an order) disables acting
  on the account, persisted in the store, until an operator re-enables it
  (:meth:`Guardian.enable_account`, ``levguard guard-enable``, ``POST /api/accounts/{name}/enable``).
* **Orders in flight.** An order whose outcome is unknown (timeout, crash after sending) stays
  unknown until the venue answers for its client order id, or until it can no longer arrive: the
  venue's documented order expiry (:attr:`Capabilities.order_expiry_s`, e.g. Binance's
  ``recvWindow``, sent with the order) plus ``order_expiry_margin_s`` has passed since it was sent.
  No new order is sent on a position while an order on it is unknown; positions are re-read after
  a fill is resolved; the guardian's own fills (booked with the expected positions in one
  transaction) never raise venue-change alerts.
* **Leases.** The guardian's identity is stable (``owner``, default :func:`default_guardian_id`:
  host and store, not the pid), so a restart takes its accounts back at once; every intent is
  recorded under the lease's fencing epoch, so a process that lost its lease cannot send.  An
  account left unwatched for longer than ``unwatched_alert_s`` is alerted, and the positions the
  guardian expected are persisted, so a liquidation that happened while nobody watched is alerted
  on restart.
* **Alerts** leave through :class:`~levguard.live.alerts.Alerter` queues, never on the order path;
  repeated alerts of one kind are de-duplicated for ``alert_repeat_s``; stale data and unresolved
  orders escalate to critical after ``escalate_after`` cycles.

Dependencies are injected (the venue, the store, the alerter, the clock, the sizer computing the
policy's target), so the loop runs the same against a paper venue, a real exchange or tests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import LiquidationForecaster
from levguard.errors import (
    InputError,
    LevguardError,
    VenueAuthError,
    VenueError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.live import actions, inflight, onchain, passes, unified, watch
from levguard.live._support import account_spec, classify, ewma_vol
from levguard.live.alerts import Alert, Alerter
from levguard.live.forecasts import probabilities
from levguard.live.setup import AccountSetup, AccountState, PositionState, client_order_id, default_guardian_id
from levguard.live.states import Level, alert_level
from levguard.live.store import Store, StoreUnavailable
from levguard.venues.base import Venue, VenuePosition

__all__ = ["AccountSetup", "Guardian", "client_order_id", "default_guardian_id"]

log = logging.getLogger("levguard.guardian")
T = TypeVar("T")
_TIERS_TTL_NS = 3_600 * 1_000_000_000


class Guardian:
    """Watches accounts and deleverages them before liquidation (see the module docstring).

    Parameters
    ----------
    accounts : list of AccountSetup
    store : Store
        Persistence (snapshots, alerts, orders, audit, leases, kill switches).
    live : bool
        Send orders (the ``--live`` flag); each account must also opt in.  Default dry-run.
    alerter : Alerter, optional
        Alert sinks (default: the log).
    clock : callable, optional
        ``clock() -> int`` UTC nanoseconds (default wall clock; a paper venue's clock in demos).
    owner : str, optional
        The guardian's stable identity for leases (config ``id``); default
        :func:`default_guardian_id` (host and store).  Each process also draws an ``instance`` id,
        so a restart under the same identity takes the accounts back at once and fences out the
        previous process.
    lease_ttl_s : float
        Lease lifetime; renewed every cycle.
    sleep : callable
        ``await sleep(seconds)`` (injected for tests).
    unwatched_alert_s : float
        Alert when an account of the store has had no guardian for longer than this.
    alert_repeat_s : float
        Repeated alerts of one kind on one account and symbol are suppressed for this long.
    escalate_after : int
        Stale data or an unresolved order for this many consecutive cycles becomes critical.
    order_expiry_margin_s : float
        Margin added to a venue's order expiry before an order it has not seen counts as never
        arrived (clock skew, the time between recording and sending).
    max_backoff_s : float
        Longest pause of an account after consecutive contained failures.
    cycle_budget_s : float
        How long a pass waits for its lanes (:mod:`levguard.live.passes`); a lane still
        running then finishes in the background and its accounts report ``busy``.
    cycle_audit_every_s, snapshot_retention_days : float
        A routine ``cycle`` audit row is written when the account's state, positions or reasons
        change, else once per ``cycle_audit_every_s`` (0: every cycle); snapshots older than the
        retention are deleted once an hour (0: kept) (:func:`levguard.live.passes.write_routine`).
    """

    def __init__(
        self,
        accounts: list[AccountSetup],
        store: Store,
        *,
        live: bool = False,
        alerter: Alerter | None = None,
        clock: Callable[[], int] | None = None,
        owner: str | None = None,
        lease_ttl_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        unwatched_alert_s: float = 60.0,
        alert_repeat_s: float = 300.0,
        escalate_after: int = 3,
        order_expiry_margin_s: float = 10.0,
        max_backoff_s: float = 60.0,
        cycle_budget_s: float = 5.0,
        cycle_audit_every_s: float = 60.0,
        snapshot_retention_days: float = 30.0,
    ) -> None:
        names = [a.name for a in accounts]
        if len(set(names)) != len(names):
            raise InputError(f"account names must be unique, were {names}")
        self.accounts = list(accounts)
        self.store = store
        self.live = bool(live)
        self.alerter = alerter if alerter is not None else Alerter()
        self.clock = clock if clock is not None else time.time_ns
        self.monotonic = time.monotonic_ns if clock is None else self.clock  # how long orders wait (inflight.waited_s)
        for key, v in (
            ("unwatched_alert_s", unwatched_alert_s),
            ("alert_repeat_s", alert_repeat_s),
            ("order_expiry_margin_s", order_expiry_margin_s),
            ("max_backoff_s", max_backoff_s),
            ("cycle_budget_s", cycle_budget_s),
            ("cycle_audit_every_s", cycle_audit_every_s),
            ("snapshot_retention_days", snapshot_retention_days),
        ):
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InputError(f"{key} must be a finite number >= 0, was {v!r}")
        if not (isinstance(lease_ttl_s, int | float) and math.isfinite(lease_ttl_s) and lease_ttl_s > 0):
            raise InputError(f"lease_ttl_s must be a finite number > 0, was {lease_ttl_s!r}")
        if not (isinstance(escalate_after, int) and escalate_after >= 1):
            raise InputError(f"escalate_after must be an int >= 1, was {escalate_after!r}")
        self.owner = owner if owner else default_guardian_id(store)
        self.instance = uuid.uuid4().hex[:16]
        self.lease_ttl_s = float(lease_ttl_s)
        self.sleep = sleep
        self.unwatched_alert_s = float(unwatched_alert_s)
        self.alert_repeat_s = float(alert_repeat_s)
        self.escalate_after = int(escalate_after)
        self.order_expiry_margin_s = float(order_expiry_margin_s)
        self.max_backoff_s = float(max_backoff_s)
        self.cycle_budget_s = float(cycle_budget_s)
        self.cycle_audit_every_s = float(cycle_audit_every_s)
        self.snapshot_retention_days = float(snapshot_retention_days)
        self._pruned_ns = 0
        self._lanes: dict[str, passes.Lane] = {}
        self._recent: dict[tuple[str | None, str, str], tuple[int, int, int]] = {}  # key -> (ts, level, suppressed)
        self._unwatched: set[str] = set()
        self._unwatched_check_ns = 0
        self._state: dict[str, AccountState] = {a.name: AccountState() for a in accounts}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="levguard-store")
        self._write: Future[None] | None = None
        self._pending_snapshots: list[tuple[str, int, str, dict[str, Any]]] = []
        self._pending_audits: list[tuple[str | None, int, str, dict[str, Any], dict[str, Any], list[str]]] = []
        self.last_reports: dict[str, dict[str, Any]] = {}
        self.last_specs: dict[str, dict[str, Any]] = {}
        """Per account, the margin-engine spec its last evaluated cycle used (tiers included)."""

    # ------------------------------------------------------------------ helpers

    async def _alert(
        self, account: str | None, level: str, kind: str, message: str, *, dedup: str | None = None, **data: Any
    ) -> bool:
        """Store and queue an alert (never waits for a sink).  With ``dedup`` (a key such as the
        symbol), an alert of the same account, kind and key at the same or a lower level within
        ``alert_repeat_s`` is suppressed and counted; the next one sent says how many were.
        Returns whether the alert was raised."""
        now = self.clock()
        order = {"info": 0, "warning": 1, "critical": 2}.get(level, 1)
        if dedup is not None:
            key = (account, kind, dedup)
            last = self._recent.get(key)
            if last is not None and order <= last[1] and (now - last[0]) < self.alert_repeat_s * 1e9:
                self._recent[key] = (last[0], last[1], last[2] + 1)
                return False
            if last is not None and last[2]:
                message = f"{message} ({last[2]} similar alerts suppressed)"
                data = {**data, "suppressed": last[2]}
            self._recent[key] = (now, order, 0)
            if len(self._recent) > 10_000:  # bounded: forget the oldest keys
                for k in sorted(self._recent, key=lambda k: self._recent[k][0])[:5_000]:
                    del self._recent[k]
        alert = Alert(account, now, level, kind, message, dict(data))
        try:
            self.store.add_alert(account, now, level, kind, message, dict(data))
        except StoreUnavailable as exc:
            log.error("could not store alert (%s): %s", exc, message)
        self.alerter.submit(alert)
        return True

    def _clear_alert(self, account: str | None, kind: str, dedup: str) -> None:
        # The condition behind a de-duplicated alert ended: the next occurrence alerts at once.
        self._recent.pop((account, kind, dedup), None)

    def _audit(
        self, account: str, event: str, inputs: Mapping[str, Any], decision: Mapping[str, Any], reasons: list[str]
    ) -> None:
        self.store.audit(account, self.clock(), event, dict(inputs), dict(decision), list(reasons))

    async def _call(self, setup: AccountSetup, what: str, fn: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        """Call the venue, retrying transient failures with exponential backoff (``retry=False``:
        once; an order is never re-sent blindly: a venue may accept a client id again once the
        first order is filled, so its outcome is found by :meth:`_resolve` instead)."""
        delay = setup.backoff_s
        retries = setup.retries if retry else 0
        for attempt in range(retries + 1):
            try:
                return await fn()
            except VenueRateLimitError:
                if attempt == retries:
                    raise
                await self.sleep(delay * 4)
            except VenueRetryableError:
                if attempt == retries:
                    raise
                await self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _setup(self, name: str) -> AccountSetup:
        for a in self.accounts:
            if a.name == name:
                return a
        raise InputError(f"account must be one the guardian watches, was {name!r}")

    # ------------------------------------------------------------------ operator controls

    def enable_account(self, name: str, *, by: str = "operator") -> None:
        """Re-enable acting on an account disabled by an authentication failure (persisted; also
        clears the account's failure backoff).  InputError for an account the guardian does not
        watch."""
        self._setup(name)
        now = self.clock()
        self.store.set_disabled(name, None, now)
        st = self._state[name]
        before, st.disabled = st.disabled, None
        st.clear_failures()  # the backoff, and a failure again is audited at once
        self._clear_alert(name, "auth", "account")
        self.store.audit(
            name, now, "enabled", {"disabled_reason": before}, {"disabled": False}, [f"re-enabled by {by}"]
        )

    def _re_enabled(self, name: str) -> bool:
        # An operator cleared the persisted disabled state (a dry run persists none: it keeps its
        # own until enable_account).
        row = self.store.account(name) if self.live else None
        return row is not None and not row.get("disabled_reason")

    def disabled(self, name: str) -> str | None:
        """Why acting on the account is disabled (None: it is not)."""
        return self._state[self._setup(name).name].disabled

    async def _disable(self, setup: AccountSetup, st: AccountState, why: str) -> None:
        first = st.disabled is None
        st.disabled = why
        now = self.clock()
        if self.live:  # a dry run writes no shared state
            try:
                self.store.set_disabled(setup.name, why, now)
            except InputError:  # an account the store does not know: in memory only
                pass
            except StoreUnavailable as exc:  # kept in memory; the alert still goes out
                log.error("%s: disabled state not stored: %s", setup.name, exc)
        if first:
            await self._alert(
                setup.name,
                "critical",
                "auth",
                f"authentication failed; acting disabled until an operator re-enables the account: {why}",
                dedup="account",
            )

    # ------------------------------------------------------------------ start-up

    def load(self, setup: AccountSetup, st: AccountState) -> None:
        """Read the account's persisted state (after taking its lease): acting disabled, expected
        positions, orders still unresolved or on the late watch (:func:`inflight.load_orders`)."""
        row = self.store.account(setup.name)
        if row is not None:
            st.disabled = row.get("disabled_reason") or None
            expected = row.get("expected")
            st.expected = {str(k): float(v) for k, v in expected.items()} if isinstance(expected, dict) else None
        inflight.load_orders(self, setup, st)
        # The cooldown survives a restart: the last order recorded on each symbol.
        for r in self.store.orders(account=setup.name, limit=50):
            ps = st.positions.setdefault(r["symbol"], PositionState())
            ps.last_order_ns = max(ps.last_order_ns, int(r["intent_ns"]))
        st.loaded = True

    async def reconcile(self) -> list[dict[str, Any]]:
        """Take the leases, then resolve every order of the accounts held that is recorded but not
        final: ask the venue by client order id (an account another guardian holds is its to
        resolve: two processes booking one fill would double-count it).

        An order the venue knows gets its state; one it has not seen stays unresolved until it can
        no longer arrive (see :func:`levguard.live.inflight.resolve`).  Returns what was resolved.
        """
        try:
            await watch.renew_leases(self, self.accounts, self.clock())
        except StoreUnavailable as exc:
            await self._alert(None, "critical", "database", f"cannot take leases to reconcile: {exc}", dedup="leases")
            return []
        return await passes.reconcile_lanes(self)  # in lanes, within cycle_budget_s (the rest: first cycle)

    async def reconcile_account(self, setup: AccountSetup) -> list[dict[str, Any]]:
        """:meth:`reconcile` of one account whose lease is held (never raises)."""
        st = self._state[setup.name]
        if st.epoch < 0:
            return []
        try:
            if not st.loaded:
                self.load(setup, st)
            return await (onchain.resolve if onchain.is_onchain(setup) else inflight.resolve)(self, setup, st)
        except StoreUnavailable as exc:
            await self._alert(setup.name, "critical", "database", f"cannot reconcile orders: {exc}")
        except Exception as exc:  # contained: the first cycle retries
            await self._alert(setup.name, "warning", "reconcile", f"orders not reconciled: {exc!r}", dedup="reconcile")
        return []

    # ------------------------------------------------------------------ the cycle

    async def cycle(self) -> list[dict[str, Any]]:
        """One pass over every account; returns each account's report.  Never raises for a
        failure of one account (see the failure model in the module docstring); accounts on
        other venues never wait on a slow one (:mod:`levguard.live.passes`: lanes)."""
        reports = await passes.run_pass(self)
        await passes.write_routine(self)
        return reports

    async def _contain(self, setup: AccountSetup, exc: BaseException) -> dict[str, Any]:
        """The boundary around one account's cycle: classify, audit, alert, back off."""
        st = self._state[setup.name]
        kind = classify(exc)
        now = self.clock()
        delay_s = passes.note_failure(self, setup, kind, now)
        text = f"{type(exc).__name__}: {exc}"
        if kind == "unknown":
            log.error("%s: unexpected failure in the cycle", setup.name, exc_info=exc)
        if kind == "auth":
            await self._disable(setup, st, text)  # never raises
        else:
            level = "critical" if kind == "unknown" else "warning"
            await self._alert(
                setup.name,
                level,
                "cycle_error",
                f"cycle failed ({kind}), retrying in {delay_s:g} s: {text}",
                dedup=kind,
                error_class=kind,
            )
        try:  # once per error, or per cycle_audit_every_s while it lasts
            passes.error_audit(self, setup.name, now, kind, text, delay_s)
        except StoreUnavailable as store_exc:
            log.error("%s: cycle error not audited (%s): %s", setup.name, store_exc, text)
        status = "disabled" if kind == "auth" else "error"
        return {"account": setup.name, "status": status, "error_class": kind, "error": text, "backoff_s": delay_s}

    def vol(self, account: str, symbol: str) -> float | None:
        """The volatility of the closed-form fallback for ``symbol`` on ``account`` (used while too
        few hourly bars are known): the account's configured ``vol``, else the EWMA of the marks it
        has seen (None, unknown, until enough are seen)."""
        setup = next((a for a in self.accounts if a.name == account), None)
        if setup is not None and setup.vol is not None:
            return float(setup.vol)
        st = self._state.get(account)
        return ewma_vol(st.marks.get(symbol) if st is not None else None)

    def volatility(self, account: str, symbol: str) -> float | None:
        """The annualised volatility forecast of ``symbol`` on ``account``: the account's
        ``volatility(frame)`` (:func:`levguard.risk.report.volatility_forecast`, as ``levguard risk``
        and ``levguard size``) on the hourly bars its forecaster was last fitted on, cached until the
        next refit; :meth:`vol` (the fallback) while no bars are known.  InputError for an account
        the guardian does not watch."""
        setup = self._setup(account)
        v = setup.forecasts.volatility(symbol) if setup.forecasts is not None else None
        return v if v is not None else self.vol(account, symbol)

    def forecaster(self, account: str, symbol: str) -> LiquidationForecaster | None:
        """The liquidation forecaster of ``symbol`` on ``account`` that the last cycle used (the
        closed-form fallback at :meth:`vol` before the first cycle)."""
        setup = self._setup(account)
        f = setup.forecasts.latest().get(symbol) if setup.forecasts is not None else None
        return f if f is not None else (None if (v := self.vol(account, symbol)) is None else GbmForecaster(v))

    @staticmethod
    def freeze_heap() -> None:
        """Move every object alive now (modules, tiers, the venues' state) out of the garbage
        collector's reach (``gc.freeze``): full collections then scan only what cycles create,
        which keeps them from stalling a cycle for tens of milliseconds.  Called by :meth:`run`
        after start-up and after the first cycle (which imports and loads the compiled kernels)."""
        import gc

        gc.collect()
        gc.freeze()

    def flush(self) -> None:
        """Wait for the last cycle's snapshots and audit rows to be stored (raises StoreUnavailable)."""
        write, self._write = self._write, None
        if write is not None:
            write.result()

    async def _flush_async(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # a failed background write never stops the loop
            await self._alert(None, "critical", "database", f"cycle snapshots not stored: {exc}", dedup="cycle")

    def close(self) -> None:
        """Flush, stop the background writer and deliver the alerts still queued (up to 5 s)."""
        try:
            self.flush()
        finally:
            self._writer.shutdown(wait=True)
            self.alerter.flush(5.0)

    async def run(
        self,
        *,
        stop: asyncio.Event | None = None,
        max_cycles: int | None = None,
        interval_s: float = 5.0,
        fast_interval_s: float = 1.0,
    ) -> None:
        """Run cycles until ``stop`` is set or ``max_cycles`` ran; faster when any position is at
        DANGER or worse."""
        await self.reconcile()
        self.freeze_heap()
        n = 0
        try:
            while (stop is None or not stop.is_set()) and (max_cycles is None or n < max_cycles):
                try:
                    reports = await self.cycle()
                except Exception:  # cycle() contains per-account failures; this is the last net
                    log.exception("guardian cycle failed")
                    reports = []
                n += 1
                if n == 1:
                    # Again after the first cycle: what it loaded once (numba and the compiled
                    # kernels, scipy's special functions, the accounts' layouts) is out of the
                    # collector's reach too; a full collection then scans only what cycles keep.
                    self.freeze_heap()
                worst = max((r.get("level", 0) for r in reports), default=0)
                await self.sleep(fast_interval_s if worst >= Level.DANGER else interval_s)
        finally:
            await passes.drain(self)

    async def _stale(self, setup: AccountSetup, st: AccountState, why: str) -> dict[str, Any]:
        st.stale_cycles += 1
        if not st.stale:
            await self._alert(setup.name, "warning", "stale", f"stale data, no orders: {why}")
        elif st.stale_cycles == self.escalate_after:
            msg = f"stale for {st.stale_cycles} cycles, the account is not protected: {why}"
            await self._alert(setup.name, "critical", "stale", msg, cycles=st.stale_cycles)
        st.stale = True
        self._audit(setup.name, "stale", {}, {"orders": "none"}, [why])
        return {"account": setup.name, "status": "stale", "reason": why}

    async def _fresh(self, setup: AccountSetup, st: AccountState, message: str) -> None:
        # The inputs are fresh (the end of _stale): ``message`` once, on recovering.
        if st.stale:
            st.stale = False
            await self._alert(setup.name, "info", "fresh", message)
        st.stale_cycles = 0

    async def _move(
        self, setup: AccountSetup, ps: PositionState, new: Level, label: str, symbol: str, figures: str, **data: Any
    ) -> None:
        # A position (``label``, alert field ``symbol``) is at level ``new``: a change is alerted.
        if new != ps.level:
            await self._alert(
                setup.name,
                alert_level(ps.level, new),
                "state",
                f"{label}: {ps.level.name} -> {new.name} ({figures})",
                symbol=symbol,
                previous=ps.level.name,
                state=new.name,
                **data,
            )
        ps.level = new

    async def _read(self, setup: AccountSetup) -> tuple[list[VenuePosition], Any, dict[str, float]]:
        venue = setup.venue
        positions = await self._call(setup, "fetch_positions", venue.fetch_positions)
        if unified.reader_of(venue) is not None:  # several coins, collateral ratios, the venue's ratio
            balance = await unified.read(self, setup, self._state[setup.name])
        else:
            balance = await self._call(setup, "fetch_balance", venue.fetch_balance)
        symbols = [p.symbol for p in positions]
        marks = await self._call(setup, "fetch_marks", lambda: venue.fetch_marks(symbols)) if symbols else {}
        return positions, balance, marks

    async def cycle_account(self, setup: AccountSetup) -> dict[str, Any]:
        """One cycle of one account (see the module docstring)."""
        st = self._state[setup.name]
        st.cycles += 1
        now = self.clock()
        # Leases are renewed by cycle() for every account at once (one commit) once half their
        # lifetime has passed; an account whose lease another process holds is skipped.
        if now >= st.lease_until_ns - int(self.lease_ttl_s * 0.5e9) and not await watch.renew_leases(
            self, [setup], now
        ):
            return {"account": setup.name, "status": "lease_held_elsewhere"}
        if st.lease_until_ns == 0:
            return {"account": setup.name, "status": "lease_held_elsewhere"}
        if not st.loaded:
            self.load(setup, st)
        if st.disabled and self._re_enabled(setup.name):
            # Re-enabled in the store by an operator (CLI or another process): act again.
            self._audit(setup.name, "enabled", {"disabled_reason": st.disabled}, {"disabled": False}, ["store"])
            st.disabled = None
            st.clear_failures()  # the auth failure's backoff, and a failure again is audited at once
            self._clear_alert(setup.name, "auth", "account")
        if now < st.backoff_until_ns:
            return {"account": setup.name, "status": "backoff", "retry_in_s": (st.backoff_until_ns - now) / 1e9}
        if onchain.is_onchain(setup):  # a lending position on a chain (levguard.live.onchain)
            return await onchain.cycle(self, setup, st)
        venue = setup.venue
        # 2. Inputs.
        try:
            positions, balance, marks = await self._read(setup)
        except VenueAuthError:
            raise  # contained by cycle(): acting disabled, one critical alert
        except VenueError as exc:
            return await self._stale(setup, st, f"venue unavailable after retries: {exc}")
        now = self.clock()
        ages = [now - p.timestamp_ns for p in positions] + [now - balance.timestamp_ns]
        times = getattr(setup.venue, "mark_times", None)  # a venue that dates its marks (ccxt: its own time)
        if times:
            ages += [now - times[s] for s in marks if s in times]
        oldest_s = max(ages, default=0) / 1e9
        if oldest_s > setup.max_age_s:
            return await self._stale(setup, st, f"inputs are {oldest_s:.1f} s old (limit {setup.max_age_s:g} s)")
        await self._fresh(setup, st, "inputs are fresh again")
        others = await watch.left_out(self, setup, st)  # positions of another wallet: critical, report partial
        # 3. Orders in flight first (their fills are ours), then positions changed by the venue.
        if not self.live:  # a dry run resolves none: it reads the live guardian's from the store
            inflight.follow(self, setup, st)
        if st.inflight or st.late:
            resolved = await inflight.resolve(self, setup, st)
            if st.lease_until_ns == 0:  # a fenced result was refused: another process holds it
                return {"account": setup.name, "status": "lease_held_elsewhere"}
            if any(r.get("booked", 0.0) > 0 or r.get("landed", 0.0) > 0 for r in resolved):  # a late fill too
                try:  # decide on the position after the fill (recorded: a failed read is stale inputs)
                    positions, balance, marks = await self._read(setup)
                except VenueAuthError:
                    raise
                except VenueError as exc:
                    return await self._stale(setup, st, f"positions not read again after a fill: {exc}")
                now = self.clock()
            symbols = sorted({r["symbol"] for r in st.inflight.values()})
            await inflight.escalate(self, setup, st, "order", f"no new order on {symbols} until the venue answers")
        await inflight.venue_changes(self, setup, st, positions, skip=others)  # judged if the lease is still held
        if self.clock() >= st.lease_until_ns:  # lost meanwhile, or outlived by the read: no action on what was seen
            return {"account": setup.name, "status": "lease_held_elsewhere"}
        forecasts = setup.forecasts
        for sym, mark in marks.items():
            hist = st.marks.get(sym)
            if hist is None:
                hist = st.marks[sym] = deque(maxlen=500)
            hist.append((now, mark))
            if forecasts is not None:
                forecasts.observe(sym, now, mark)
        if (owed := await unified.debts_only(self, setup, st, balance, now, others, positions)) is not None:
            return owed  # a unified account's loans are liquidated without any position
        if not positions:  # nothing evaluated: no spec (/positions, /risk), the left-out ones named
            self.last_specs.pop(setup.name, None)
            figures = {"equity": balance.wallet_balance, "positions": [], **watch.figures(others)}
            self._pending_snapshots.append((setup.name, now, "OK", figures))
            return watch.mark(setup, {"account": setup.name, "status": "ok", "level": 0, "positions": []}, others)
        # 4. Margin engine (with the venue's tiers, refreshed hourly), drift, P(liq), target.
        tier_tables: dict[str, Any] = {}
        for p in positions:
            cached = st.tiers.get(p.symbol)
            if cached is None or now - cached[0] > _TIERS_TTL_NS:
                try:
                    table = await self._call(setup, "fetch_tiers", _tier_fetcher(venue, p.symbol))
                except VenueAuthError:
                    raise
                except VenueError as exc:
                    log.warning("%s: tiers of %s unavailable (%s); built-in tiers used", setup.name, p.symbol, exc)
                    table = cached[1] if cached is not None else None
                st.tiers[p.symbol] = (now, table)
            table = st.tiers[p.symbol][1]
            if table is not None:
                tier_tables[p.symbol] = table
        spec = account_spec(venue.name, balance, positions, marks, st.unified)
        if st.unified is not None:  # a coin with no collateral ratio counts at 0, alerted
            await unified.rate_unrated(self, setup, st, spec)
        if tier_tables:
            spec["tiers"] = tier_tables
        self.last_specs[setup.name] = spec
        try:
            report = st.margin.report(spec)  # the account parsed once; cross accounts in one kernel call
        except LevguardError as exc:
            await self._alert(setup.name, "critical", "evaluation", f"cannot evaluate the account: {exc}", dedup="a")
            return {"account": setup.name, "status": "error", "error": str(exc)}
        extra = await unified.compare(self, setup, st, report) if report.unified else {}
        # The liquidation forecaster per symbol (refitted once an hour), before the sizer reads it;
        # the venue's klines first (once an hour, bounded by their timeout, never failing the cycle).
        await self._refresh_bars(setup, [p.symbol for p in positions], now)
        for note in setup.forecasts.notes() if setup.forecasts is not None else []:  # histories ending apart
            await self._alert(setup.name, "warning", "history_as_of", note, dedup="histories")
        # P(liq) of every position: one call per distinct forecaster (the positions of a symbol
        # share theirs; the closed-form fallback is shared by every symbol at its volatility).
        h = setup.horizon_days
        p_liqs = probabilities(
            [self._forecaster(setup, st, p.symbol, now) for p in positions],
            [rep.side for rep in report.positions],
            [rep.mark_price for rep in report.positions],
            [rep.liquidation_price for rep in report.positions],
            h,
        )
        targets, failed = self._targets(setup, spec)
        if failed:  # no actionable target (e.g. a policy without its returns): the fixed one, said
            await self._alert(setup.name, "warning", "sizing", f"sizing failed, fixed target used: {failed}", dedup="s")
        equity = report.equity
        views = []
        worst = Level.OK
        for pos, rep, p_liq in zip(positions, report.positions, p_liqs, strict=True):
            lp = rep.liquidation_price
            mark = rep.mark_price
            # The adverse move left to the liquidation price (negative past it, so a mark that has
            # gone through it stays crossed); a margin balance at or below 0 is a ratio of inf.
            distance = rep.health if rep.health is not None else math.inf
            if report.unified:  # liquidated as a whole: the account's ratio against the venue's trigger
                ratio = extra["state_ratio"]
            elif rep.margin_balance is not None:  # isolated: its own margin
                ratio = rep.maintenance_margin / rep.margin_balance if rep.margin_balance > 0 else math.inf
            elif report.margin_ratio is not None:
                ratio = report.margin_ratio
            else:  # cross, equity <= 0
                ratio = math.inf
            if pos.liquidation_price and lp:
                drift = abs(pos.liquidation_price - lp) / mark
                if drift > setup.drift_threshold:
                    await self._alert(
                        setup.name,
                        "warning",
                        "drift",
                        f"{pos.symbol}: venue liquidation price {pos.liquidation_price:,.2f} vs levguard "
                        f"{lp:,.2f} ({drift:.2%} of the mark)",
                        dedup=pos.symbol,
                        symbol=pos.symbol,
                        venue_lp=pos.liquidation_price,
                        levguard_lp=lp,
                    )
            ps = st.positions.get(pos.symbol)
            if ps is None:
                ps = st.positions[pos.symbol] = PositionState()
            new = unified.next_state(setup, extra, ps.level, ratio, distance, p_liq)
            shown = "unknown" if math.isnan(p_liq) else f"{p_liq:.1%}"
            detail = f"margin ratio {ratio:.2f}, distance {distance:.2%}, P(liq {h:g}d) {shown}"
            await self._move(
                setup, ps, new, pos.symbol, pos.symbol, detail, margin_ratio=ratio, distance=distance, p_liq=p_liq
            )
            worst = max(worst, new)
            lev = (
                abs(rep.notional * (mark if pos.inverse else 1.0)) / (equity * (mark if pos.inverse else 1.0))
                if equity > 0
                else math.inf
            )
            target = targets.get(pos.symbol, (setup.target_leverage, "fixed target"))
            view = {
                "symbol": pos.symbol,
                "qty": pos.qty,
                "mark": mark,
                "liquidation_price": lp,
                "venue_liquidation_price": pos.liquidation_price,
                "margin_ratio": ratio,
                "distance": distance,
                "p_liq": p_liq,
                "state": new.name,
                "leverage": lev,
                "target_leverage": target[0],
                "binding_constraint": target[1],
                "forecast_source": setup.forecasts.source(pos.symbol) if setup.forecasts is not None else "",
            }
            # 6. Act.
            action = None
            if new >= setup.act_level:
                action = await actions.deleverage(self, setup, st, ps, pos, view, now)
            view["action"] = action
            views.append(view)
        figures = {
            "equity": equity,
            "wallet_balance": balance.wallet_balance,
            "margin_ratio": report.margin_ratio,
            "positions": views,
            **watch.figures(others),
            **extra,
        }
        self._pending_snapshots.append((setup.name, now, worst.name, figures))
        reasons = [f"{v['symbol']}: {v['state']}" for v in views]
        passes.routine_audit(
            self,
            setup.name,
            now,
            {
                "wallet_balance": balance.wallet_balance,
                "positions": [[p.symbol, p.qty, p.entry_price, marks.get(p.symbol, p.mark_price)] for p in positions],
            },
            {"state": worst.name},
            reasons,
            (worst.name, *reasons, *((p.symbol, p.qty) for p in positions)),
        )
        out = {"account": setup.name, "status": "ok", "level": int(worst), "state": worst.name, "positions": views}
        return watch.mark(setup, {**out, **extra}, others)

    async def _refresh_bars(self, setup: AccountSetup, symbols: list[str], now: int) -> None:
        # The forecasts' bars source, when it fetches from the venue (VenueBars.refresh: one
        # attempt per symbol and hour, each request bounded by the venue's timeout).
        refresh = getattr(setup.forecasts.bars if setup.forecasts is not None else None, "refresh", None)
        if refresh is None:
            return
        try:
            await refresh(symbols, now)
        except LevguardError as exc:  # a bars source of our own contains its failures; others may not
            log.warning("%s: klines not refreshed (%s)", setup.name, exc)

    def _forecaster(self, setup: AccountSetup, st: AccountState, symbol: str, now: int) -> LiquidationForecaster | None:
        fallback = setup.vol if setup.vol is not None else ewma_vol(st.marks.get(symbol))
        if setup.forecasts is None:
            return None if fallback is None else GbmForecaster(float(fallback))
        return setup.forecasts.forecaster(symbol, now, fallback)

    def _targets(self, setup: AccountSetup, spec: dict[str, Any]) -> tuple[dict[str, tuple[float, str]], str]:
        # The policy's target per symbol, or none and why sizing failed.
        if setup.sizer is None:
            return {}, ""
        try:
            sized = setup.sizer(spec)
        except LevguardError as exc:
            log.warning("%s: sizing failed (%s); using the fixed target", setup.name, exc)
            return {}, str(exc)
        binding = str(sized.get("binding_constraint", "policy"))
        # The policy's target, not a row kept at its quantity because the trade is below the
        # venue's smallest order: the deleverage step applies the minimum itself (live/actions.py).
        rows = sized.get("positions", [])
        return {r["symbol"]: (float(r.get("policy_target_leverage", r["target_leverage"])), binding) for r in rows}, ""


def _tier_fetcher(venue: Venue, symbol: str) -> Callable[[], Awaitable[Any]]:
    async def fetch() -> Any:
        return await venue.fetch_tiers(symbol)

    return fetch
