"""The guardian loop: watch exchange accounts, alert, and deleverage before liquidation.

Per account and cycle (:meth:`Guardian.cycle_account`):

1. hold the account's lease in the store (one process per account across a fleet);
2. fetch positions, the balance and marks, retrying transient failures with backoff; an input
   older than ``max_age_s`` (or unobtainable) makes the cycle *stale*: alert, no orders;
3. notice positions changed by the venue (liquidation, ADL) against the previous cycle and our
   own fills: alert and re-read;
4. evaluate the account with levguard's margin engine (the venue's rule set and tiers), compare
   our liquidation price with the venue's (drift alert beyond ``drift_threshold``), compute each
   position's probability of liquidation over the horizon and the policy's target leverage;
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

Dependencies are injected (the venue, the store, the alerter, the clock, the sizer computing the
policy's target), so the loop runs the same against a paper venue, a real exchange or tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from levguard.core.margin import evaluate
from levguard.core.risk.liquidation import prob_liquidation
from levguard.core.spec import account_from_spec
from levguard.errors import (
    InputError,
    LevguardError,
    VenueAuthError,
    VenueError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.live.alerts import Alert, Alerter
from levguard.live.states import Level, Thresholds, next_level
from levguard.live.store import Store, StoreUnavailable
from levguard.venues.base import OrderRequest, OrderState, Venue, VenueBalance, VenuePosition

__all__ = ["AccountSetup", "Guardian", "client_order_id"]

log = logging.getLogger("levguard.guardian")
T = TypeVar("T")
_FINAL = ("closed", "canceled", "rejected", "expired")
_TIERS_TTL_NS = 3_600 * 1_000_000_000


def client_order_id(account: str, symbol: str, seq: int) -> str:
    """Deterministic client order id of the ``seq``-th guardian order on ``account``/``symbol``.

    ``lg`` + 20 hex characters of SHA-256 (within every venue's 32-36 character limit); the same
    decision after a restart gives the same id, which the venue rejects as a duplicate.
    """
    digest = hashlib.sha256(f"{account}|{symbol}|{seq}".encode()).hexdigest()[:20]
    return f"lg{digest}"


@dataclass
class AccountSetup:
    """One watched account and its rules.

    Parameters
    ----------
    name : str
        The account's name in the store and alerts.
    venue : Venue
        Where its positions live.
    thresholds : Thresholds
        State-machine thresholds.
    sizer : callable, optional
        ``sizer(account_spec) -> dict`` with per-position ``target_leverage`` and the
        ``binding_constraint`` (:func:`levguard.sizing.size_account` with the account's policy);
        without it ``target_leverage`` is used for every position.
    target_leverage : float
        Fallback target leverage of a position (on the account's equity).
    live : bool
        The account's own opt-in to live orders (also needs the guardian's ``live``).
    act_level : Level
        The level from which the guardian deleverages (ACT by default).
    max_order_notional : float
        Largest order notional (quote) of one deleveraging step.
    step_fraction : float
        Fraction of the excess quantity reduced per step (0 < f <= 1).
    cooldown_s : float
        Minimum time between two orders on one position.
    max_age_s : float
        Oldest acceptable input; older is stale.
    drift_threshold : float
        Relative gap between our and the venue's liquidation price that raises a drift alert.
    horizon_days : float
        Horizon of the probability of liquidation.
    vol : float, optional
        Annualised volatility for the probability of liquidation; None: estimated from the marks
        the guardian has seen (EWMA), 0.8 until enough are seen.
    retries, backoff_s : int, float
        Attempts for a transient venue failure and the first backoff (doubling).
    """

    name: str
    venue: Venue
    thresholds: Thresholds = field(default_factory=Thresholds)
    sizer: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    target_leverage: float = 3.0
    live: bool = False
    act_level: Level = Level.ACT
    max_order_notional: float = 100_000.0
    step_fraction: float = 0.5
    cooldown_s: float = 30.0
    max_age_s: float = 15.0
    drift_threshold: float = 0.01
    horizon_days: float = 1.0
    vol: float | None = 0.8
    retries: int = 3
    backoff_s: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"account name must be a non-empty string, was {self.name!r}")
        for key in (
            "max_order_notional",
            "cooldown_s",
            "max_age_s",
            "drift_threshold",
            "horizon_days",
            "target_leverage",
        ):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InputError(f"{self.name}: {key} must be a finite number >= 0, was {v!r}")
        if not (0.0 < self.step_fraction <= 1.0):
            raise InputError(f"{self.name}: step_fraction must be in (0, 1], was {self.step_fraction!r}")
        if self.vol is not None and not (math.isfinite(self.vol) and self.vol > 0):
            raise InputError(f"{self.name}: vol must be > 0 or null, was {self.vol!r}")


@dataclass
class _PositionState:
    level: Level = Level.OK
    last_order_ns: int = -(2**62)
    qty: float = 0.0


@dataclass
class _AccountState:
    positions: dict[str, _PositionState] = field(default_factory=dict)
    disabled: str | None = None  # why acting is stopped (auth failure)
    expected: dict[str, float] = field(default_factory=dict)  # qty after our own fills
    marks: dict[str, deque[tuple[int, float]]] = field(default_factory=dict)
    stale: bool = False
    cycles: int = 0
    tiers: dict[str, tuple[int, Any]] = field(default_factory=dict)  # symbol -> (fetched ns, TierTable | None)
    lease_until_ns: int = 0


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
    owner : str
        This process's name for leases.
    lease_ttl_s : float
        Lease lifetime; renewed every cycle.
    sleep : callable
        ``await sleep(seconds)`` (injected for tests).
    """

    def __init__(
        self,
        accounts: list[AccountSetup],
        store: Store,
        *,
        live: bool = False,
        alerter: Alerter | None = None,
        clock: Callable[[], int] | None = None,
        owner: str = "guardian",
        lease_ttl_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        names = [a.name for a in accounts]
        if len(set(names)) != len(names):
            raise InputError(f"account names must be unique, were {names}")
        self.accounts = list(accounts)
        self.store = store
        self.live = bool(live)
        self.alerter = alerter if alerter is not None else Alerter()
        self.clock = clock if clock is not None else time.time_ns
        self.owner = owner
        self.lease_ttl_s = float(lease_ttl_s)
        self.sleep = sleep
        self._state: dict[str, _AccountState] = {a.name: _AccountState() for a in accounts}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="levguard-store")
        self._write: Future[None] | None = None
        self._pending_snapshots: list[tuple[str, int, str, dict[str, Any]]] = []
        self._pending_audits: list[tuple[str | None, int, str, dict[str, Any], dict[str, Any], list[str]]] = []
        self.last_reports: dict[str, dict[str, Any]] = {}
        self.last_specs: dict[str, dict[str, Any]] = {}
        """Per account, the margin-engine spec its last evaluated cycle used (tiers included)."""

    # ------------------------------------------------------------------ helpers

    async def _alert(self, account: str | None, level: str, kind: str, message: str, **data: Any) -> None:
        now = self.clock()
        alert = Alert(account, now, level, kind, message, dict(data))
        try:
            self.store.add_alert(account, now, level, kind, message, dict(data))
        except StoreUnavailable as exc:
            log.error("could not store alert (%s): %s", exc, message)
        await self.alerter.send(alert)

    def _audit(
        self, account: str, event: str, inputs: Mapping[str, Any], decision: Mapping[str, Any], reasons: list[str]
    ) -> None:
        self.store.audit(account, self.clock(), event, dict(inputs), dict(decision), list(reasons))

    async def _call(self, setup: AccountSetup, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Call the venue, retrying transient failures with exponential backoff."""
        delay = setup.backoff_s
        for attempt in range(setup.retries + 1):
            try:
                return await fn()
            except VenueRateLimitError:
                if attempt == setup.retries:
                    raise
                await self.sleep(delay * 4)
            except VenueRetryableError:
                if attempt == setup.retries:
                    raise
                await self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ start-up

    async def reconcile(self) -> list[dict[str, Any]]:
        """Resolve every order recorded but not final: ask the venue by client order id.

        An order the venue knows gets its state; one it has never seen was not sent (the crash
        happened between the record and the send) and is marked expired, so the next decision
        uses a new id.  Returns what was resolved.
        """
        out = []
        for setup in self.accounts:
            try:
                out.extend(await self._reconcile_account(setup))
            except StoreUnavailable as exc:
                await self._alert(setup.name, "critical", "database", f"cannot reconcile orders: {exc}")
        return out

    async def _reconcile_account(self, setup: AccountSetup) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        pending = self.store.unresolved_orders(setup.name)
        for row in pending:
            cid = row["client_order_id"]
            try:
                state = await self._call(setup, "fetch_order", _fetcher(setup.venue, row["symbol"], cid))
            except VenueError as exc:
                await self._alert(setup.name, "warning", "reconcile", f"order {cid} not reconciled: {exc}")
                continue
            now = self.clock()
            if state is None:
                self.store.mark_result(cid, "expired", 0.0, None, None, now)
                resolved = {"account": setup.name, "client_order_id": cid, "status": "not_sent"}
            else:
                self.store.mark_result(cid, state.status, state.filled, state.average_price, state.venue_order_id, now)
                resolved = {"account": setup.name, "client_order_id": cid, "status": state.status}
            self._audit(
                setup.name,
                "reconcile",
                {"order": row},
                resolved,
                ["unresolved order: asked the venue by client order id"],
            )
            out.append(resolved)
        return out

    # ------------------------------------------------------------------ the cycle

    async def cycle(self) -> list[dict[str, Any]]:
        """One pass over every account; returns each account's report."""
        reports = []
        now = self.clock()
        due = [a for a in self.accounts if now >= self._state[a.name].lease_until_ns - int(self.lease_ttl_s * 0.5e9)]
        if due:
            try:
                self._renew_leases(due, now)
            except StoreUnavailable as exc:
                await self._alert(None, "critical", "database", f"leases not renewed, no action: {exc}")
                return [{"account": a.name, "status": "database_unavailable"} for a in self.accounts]
        for setup in self.accounts:
            try:
                report = await self.cycle_account(setup)
            except StoreUnavailable as exc:
                await self._alert(setup.name, "critical", "database", f"database unavailable, no action: {exc}")
                report = {"account": setup.name, "status": "database_unavailable"}
            self.last_reports[setup.name] = report
            reports.append(report)
        # The routine rows of the cycle (snapshots, "cycle" audit rows) in one commit, written in
        # the background while the next cycle runs (flushed before it writes its own); every
        # decision that leads to an order is written synchronously before acting.
        await self._flush_async()
        snaps, audits = self._pending_snapshots, self._pending_audits
        self._pending_snapshots, self._pending_audits = [], []
        if getattr(self.store, "concurrent_writes", True):
            self._write = self._writer.submit(self.store.record_cycle, snaps, audits)
        else:  # an in-memory database shares one connection: write here
            try:
                self.store.record_cycle(snaps, audits)
            except StoreUnavailable as exc:
                await self._alert(None, "critical", "database", f"cycle snapshots not stored: {exc}")
        return reports

    def vol(self, account: str, symbol: str) -> float:
        """The volatility the guardian uses for ``symbol`` on ``account``: the account's
        configured ``vol``, else the EWMA of the marks it has seen (0.8 until enough)."""
        setup = next((a for a in self.accounts if a.name == account), None)
        if setup is not None and setup.vol is not None:
            return float(setup.vol)
        st = self._state.get(account)
        return _ewma_vol(st.marks.get(symbol) if st is not None else None)

    @staticmethod
    def freeze_heap() -> None:
        """Move every object alive now (modules, tiers, the venues' state) out of the garbage
        collector's reach (``gc.freeze``): full collections then scan only what cycles create,
        which keeps them from stalling a cycle for tens of milliseconds.  Called once by
        :meth:`run` after start-up."""
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
        except StoreUnavailable as exc:
            await self._alert(None, "critical", "database", f"cycle snapshots not stored: {exc}")

    def close(self) -> None:
        """Flush and stop the background writer."""
        try:
            self.flush()
        finally:
            self._writer.shutdown(wait=True)

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
                reports = await self.cycle()
                n += 1
                worst = max((r.get("level", 0) for r in reports), default=0)
                await self.sleep(fast_interval_s if worst >= Level.DANGER else interval_s)
        finally:
            await self._flush_async()

    async def cycle_account(self, setup: AccountSetup) -> dict[str, Any]:
        """One cycle of one account (see the module docstring)."""
        st = self._state[setup.name]
        st.cycles += 1
        now = self.clock()
        # Leases are renewed by cycle() for every account at once (one commit) once half their
        # lifetime has passed; an account whose lease another process holds is skipped.
        if now >= st.lease_until_ns - int(self.lease_ttl_s * 0.5e9) and not self._renew_leases([setup], now):
            return {"account": setup.name, "status": "lease_held_elsewhere"}
        if st.lease_until_ns == 0:
            return {"account": setup.name, "status": "lease_held_elsewhere"}
        if st.disabled:
            return {"account": setup.name, "status": "disabled", "reason": st.disabled}
        venue = setup.venue
        # 2. Inputs.
        try:
            positions = await self._call(setup, "fetch_positions", venue.fetch_positions)
            balance = await self._call(setup, "fetch_balance", venue.fetch_balance)
            symbols = [p.symbol for p in positions]
            marks = await self._call(setup, "fetch_marks", lambda: venue.fetch_marks(symbols)) if symbols else {}
        except VenueAuthError as exc:
            st.disabled = f"authentication failed: {exc}"
            await self._alert(
                setup.name, "critical", "auth", f"authentication failed; no more actions on this account: {exc}"
            )
            self._audit(setup.name, "auth_failure", {}, {"disabled": True}, [str(exc)])
            return {"account": setup.name, "status": "disabled", "reason": st.disabled}
        except VenueError as exc:
            return await self._stale(setup, st, f"venue unavailable after retries: {exc}")
        now = self.clock()
        ages = [now - p.timestamp_ns for p in positions] + [now - balance.timestamp_ns]
        oldest_s = max(ages, default=0) / 1e9
        if oldest_s > setup.max_age_s:
            return await self._stale(setup, st, f"inputs are {oldest_s:.1f} s old (limit {setup.max_age_s:g} s)")
        if st.stale:
            st.stale = False
            await self._alert(setup.name, "info", "fresh", "inputs are fresh again")
        # 3. Positions changed by the venue.
        current = {p.symbol: p.qty for p in positions}
        if st.cycles > 1 or st.expected:
            for sym in set(st.expected) | set(current):
                before = st.expected.get(sym, 0.0)
                after = current.get(sym, 0.0)
                if not math.isclose(before, after, rel_tol=1e-9, abs_tol=1e-12):
                    await self._alert(
                        setup.name,
                        "critical" if abs(after) < abs(before) else "warning",
                        "venue_change",
                        f"{sym}: position changed by the venue from {before:g} to {after:g} "
                        "(liquidation, ADL or a manual trade)",
                        symbol=sym,
                        before=before,
                        after=after,
                    )
                    self._audit(
                        setup.name,
                        "venue_change",
                        {"symbol": sym, "before": before, "after": after},
                        {},
                        ["position changed outside the guardian"],
                    )
        st.expected = dict(current)
        for sym, mark in marks.items():
            hist = st.marks.setdefault(sym, deque(maxlen=500))
            hist.append((now, mark))
        if not positions:
            self._pending_snapshots.append((setup.name, now, "OK", {"equity": balance.wallet_balance, "positions": []}))
            return {"account": setup.name, "status": "ok", "level": 0, "positions": []}
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
        spec = _account_spec(venue.name, balance, positions, marks)
        if tier_tables:
            spec["tiers"] = tier_tables
        self.last_specs[setup.name] = spec
        try:
            report = evaluate(account_from_spec(spec))
        except LevguardError as exc:
            await self._alert(setup.name, "critical", "evaluation", f"cannot evaluate the account: {exc}")
            return {"account": setup.name, "status": "error", "error": str(exc)}
        targets = self._targets(setup, spec)
        equity = report.equity
        views = []
        worst = Level.OK
        for pos, rep in zip(positions, report.positions, strict=True):
            lp = rep.liquidation_price
            mark = rep.mark_price
            distance = abs(mark - lp) / mark if lp is not None and lp > 0 else math.inf
            if rep.margin_balance is not None and rep.margin_balance > 0:
                ratio = rep.maintenance_margin / rep.margin_balance
            elif report.margin_ratio is not None:
                ratio = report.margin_ratio
            else:
                ratio = math.nan
            sigma = setup.vol if setup.vol is not None else _ewma_vol(st.marks.get(pos.symbol))
            p_liq = (
                prob_liquidation(rep.side, mark, lp, sigma, setup.horizon_days) if lp is not None and lp > 0 else 0.0
            )
            if pos.liquidation_price and lp:
                drift = abs(pos.liquidation_price - lp) / mark
                if drift > setup.drift_threshold:
                    await self._alert(
                        setup.name,
                        "warning",
                        "drift",
                        f"{pos.symbol}: venue liquidation price {pos.liquidation_price:,.2f} vs levguard "
                        f"{lp:,.2f} ({drift:.2%} of the mark)",
                        symbol=pos.symbol,
                        venue_lp=pos.liquidation_price,
                        levguard_lp=lp,
                    )
            ps = st.positions.setdefault(pos.symbol, _PositionState())
            new = next_level(ps.level, setup.thresholds, ratio, distance, p_liq)
            if new != ps.level:
                level_name = {0: "info", 1: "warning", 2: "critical", 3: "critical"}[int(new)]
                await self._alert(
                    setup.name,
                    level_name if new > ps.level else "info",
                    "state",
                    f"{pos.symbol}: {ps.level.name} -> {new.name} (margin ratio {ratio:.2f}, distance "
                    f"{distance:.2%}, P(liq {setup.horizon_days:g}d) {p_liq:.1%})",
                    symbol=pos.symbol,
                    previous=ps.level.name,
                    state=new.name,
                    margin_ratio=ratio,
                    distance=distance,
                    p_liq=p_liq,
                )
            ps.level = new
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
            }
            # 6. Act.
            action = None
            if new >= setup.act_level:
                action = await self._deleverage(setup, st, ps, pos, view, equity, now)
            view["action"] = action
            views.append(view)
        figures = {
            "equity": equity,
            "wallet_balance": balance.wallet_balance,
            "margin_ratio": report.margin_ratio,
            "positions": views,
        }
        self._pending_snapshots.append((setup.name, now, worst.name, figures))
        self._pending_audits.append(
            (
                setup.name,
                now,
                "cycle",
                {
                    "wallet_balance": balance.wallet_balance,
                    "positions": [
                        [p.symbol, p.qty, p.entry_price, marks.get(p.symbol, p.mark_price)] for p in positions
                    ],
                },
                {"state": worst.name},
                [f"{v['symbol']}: {v['state']}" for v in views],
            )
        )
        return {"account": setup.name, "status": "ok", "level": int(worst), "state": worst.name, "positions": views}

    def _renew_leases(self, setups: list[AccountSetup], now: int) -> bool:
        """Take or renew the leases of ``setups`` in one transaction; True if all are held."""
        held = self.store.acquire_leases([s.name for s in setups], self.owner, self.lease_ttl_s, now)
        for s in setups:
            self._state[s.name].lease_until_ns = now + int(self.lease_ttl_s * 1e9) if held[s.name] else 0
        return all(held.values())

    async def _stale(self, setup: AccountSetup, st: _AccountState, why: str) -> dict[str, Any]:
        if not st.stale:
            await self._alert(setup.name, "warning", "stale", f"stale data, no orders: {why}")
        st.stale = True
        self._audit(setup.name, "stale", {}, {"orders": "none"}, [why])
        return {"account": setup.name, "status": "stale", "reason": why}

    def _targets(self, setup: AccountSetup, spec: dict[str, Any]) -> dict[str, tuple[float, str]]:
        if setup.sizer is None:
            return {}
        try:
            sized = setup.sizer(spec)
        except LevguardError as exc:
            log.warning("%s: sizing failed (%s); using the fixed target", setup.name, exc)
            return {}
        binding = str(sized.get("binding_constraint", "policy"))
        return {row["symbol"]: (float(row["target_leverage"]), binding) for row in sized.get("positions", [])}

    async def _deleverage(
        self,
        setup: AccountSetup,
        st: _AccountState,
        ps: _PositionState,
        pos: VenuePosition,
        view: dict[str, Any],
        equity: float,
        now: int,
    ) -> dict[str, Any] | None:
        """Size, record (write-ahead) and, when live, send one reduce-only step."""
        target = float(view["target_leverage"])
        lev = float(view["leverage"])
        reasons = [
            f"state {view['state']}",
            f"leverage {lev:.2f}x above target {target:.2f}x ({view['binding_constraint']})",
        ]
        if not lev > target:
            # At ACT with leverage already at target: reduce by the step fraction anyway.
            excess = abs(pos.qty) * setup.step_fraction
            reasons[1] = (
                f"leverage {lev:.2f}x at or below target {target:.2f}x: "
                f"reduce {setup.step_fraction:.0%} to restore the buffer"
            )
        else:
            excess = abs(pos.qty) * (1.0 - target / lev) * setup.step_fraction
        mark = float(view["mark"])
        unit = 1.0 / mark if pos.inverse else mark  # notional per unit of qty (quote)
        cap_qty = setup.max_order_notional / (unit if not pos.inverse else 1.0)
        qty = min(excess, cap_qty, abs(pos.qty))
        if not qty > 0:
            return None
        side = "sell" if pos.qty > 0 else "buy"
        decision = {"symbol": pos.symbol, "side": side, "qty": qty, "target_leverage": target}
        if (now - ps.last_order_ns) / 1e9 < setup.cooldown_s:
            decision["skipped"] = "cooldown"
            self._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, "cooldown"])
            return decision
        if self.store.unresolved_orders(setup.name):
            # An earlier order's outcome is unknown (timeout after sending): find it first, and
            # never decide again on top of an order that may have filled.
            await self._reconcile_account(setup)
            if self.store.unresolved_orders(setup.name):
                decision["skipped"] = "unresolved_order"
                self._audit(
                    setup.name, "deleverage_skipped", view, decision, [*reasons, "an earlier order is unresolved"]
                )
                return decision
            return {**decision, "skipped": "reconciled; deciding again next cycle"}
        if self.store.kill_switch(setup.name):
            decision["skipped"] = "kill_switch"
            self._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, "kill switch on"])
            return decision
        acting = (
            self.live
            and setup.live
            and self.store.account(setup.name) is not None
            and bool((self.store.account(setup.name) or {}).get("live_enabled"))
        )
        if not acting:
            decision["dry_run"] = True
            ps.last_order_ns = now
            self._audit(setup.name, "deleverage_dry_run", view, decision, [*reasons, "dry run"])
            await self._alert(
                setup.name, "warning", "action", f"{pos.symbol}: would {side} {qty:g} reduce-only (dry run)", **decision
            )
            return decision
        # Write-ahead: the sequence number comes from the orders already recorded, so the id
        # of this decision is the same if a crash interrupts us here and we decide again.
        seq = self.store.order_count(setup.name, pos.symbol)
        cid = client_order_id(setup.name, pos.symbol, seq)
        decision["client_order_id"] = cid
        if not self.store.record_intent(setup.name, cid, pos.symbol, side, qty, now, "; ".join(reasons)):
            decision["skipped"] = "duplicate"
            return decision
        self._audit(setup.name, "deleverage", view, decision, reasons)
        self.store.mark_sent(cid, now)  # from here on the venue may have it: reconcile if unsure
        try:
            state: OrderState = await self._call(
                setup,
                "create_order",
                lambda: setup.venue.create_order(OrderRequest(pos.symbol, side, qty, cid)),  # type: ignore[arg-type]
            )
        except VenueAuthError:
            raise
        except VenueError as exc:
            # Unknown outcome: leave the intent unresolved; the next start (or cycle) reconciles.
            await self._alert(
                setup.name,
                "critical",
                "action",
                f"{pos.symbol}: order {cid} failed or unknown: {exc}",
                client_order_id=cid,
            )
            decision["error"] = str(exc)
            ps.last_order_ns = now
            return decision
        self.store.mark_result(cid, state.status, state.filled, state.average_price, state.venue_order_id, self.clock())
        ps.last_order_ns = now
        sign = -1.0 if pos.qty > 0 else 1.0
        st.expected[pos.symbol] = pos.qty + sign * state.filled
        decision.update({"status": state.status, "filled": state.filled, "price": state.average_price})
        await self._alert(
            setup.name,
            "warning",
            "action",
            f"{pos.symbol}: {side} {state.filled:g} reduce-only at "
            f"{state.average_price or float('nan'):,.2f} ({state.status})",
            **decision,
        )
        return decision


def _tier_fetcher(venue: Venue, symbol: str) -> Callable[[], Awaitable[Any]]:
    async def fetch() -> Any:
        return await venue.fetch_tiers(symbol)

    return fetch


def _fetcher(venue: Venue, symbol: str, cid: str) -> Callable[[], Awaitable[OrderState | None]]:
    async def fetch() -> OrderState | None:
        return await venue.fetch_order(symbol, cid)

    return fetch


def _account_spec(
    venue: str, balance: VenueBalance, positions: list[VenuePosition], marks: Mapping[str, float]
) -> dict[str, Any]:
    """The margin engine's account spec of what the venue reports."""
    isolated = all(p.margin_mode == "isolated" for p in positions) and bool(positions)
    rows = []
    for p in positions:
        row: dict[str, Any] = {
            "symbol": p.symbol,
            "qty": p.qty,
            "entry_price": p.entry_price,
            "mark_price": marks.get(p.symbol, p.mark_price),
        }
        if isolated and p.isolated_margin is not None:
            row["isolated_margin"] = p.isolated_margin
        rows.append(row)
    return {
        "venue": venue,
        "margin_mode": "isolated" if isolated else "cross",
        "wallet_balance": balance.wallet_balance,
        "positions": rows,
    }


def _ewma_vol(hist: deque[tuple[int, float]] | None, lam: float = 0.94) -> float:
    """Annualised EWMA volatility of the marks seen (0.8 until 10 are seen)."""
    if hist is None or len(hist) < 10:
        return 0.8
    var = 0.0
    n = 0
    dt_sum = 0.0
    items = list(hist)
    for (t0, p0), (t1, p1) in itertools.pairwise(items):
        if p0 > 0 and p1 > 0 and t1 > t0:
            r = math.log(p1 / p0)
            var = lam * var + (1 - lam) * r * r if n else r * r
            dt_sum += (t1 - t0) / 1e9
            n += 1
    if n == 0 or dt_sum <= 0:
        return 0.8
    step_years = dt_sum / n / (365.0 * 86_400.0)
    vol = math.sqrt(var / step_years)
    return vol if math.isfinite(vol) and vol > 0 else 0.8
