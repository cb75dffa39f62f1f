"""The store's journal family: the ``snapshots`` time series, the ``alerts`` and the append-only
``audit_log``.

Part of :class:`levguard.live.store.Store` (see :mod:`levguard.live.store` for the tables and the
error contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from levguard.live.schema import ALERTS, AUDIT_LOG, SNAPSHOTS
from levguard.live.store_engine import StoreEngine, alert_values, as_int, audit_values, jsonable, row_dict

__all__ = ["AuditRow", "JournalStore", "write_audit"]

#: One audit row: ``(account, ts_ns, event, inputs, decision, reasons)`` (:meth:`JournalStore.audit`).
AuditRow = tuple[str | None, int, str, dict[str, Any], dict[str, Any], list[str]]


def write_audit(conn: Any, row: AuditRow) -> int:
    """Append ``row`` to the audit log inside the caller's transaction ``conn``; return its id (a
    change and its audit row commit together, or neither does)."""
    values = audit_values(*row)
    return int(conn.execute(AUDIT_LOG.insert().values(**values).returning(AUDIT_LOG.c.id)).scalar_one())


def _snapshot_values(account: str, ts_ns: int, state: str, figures: Any) -> dict[str, Any]:
    # The column values of one snapshots row (figures as JSON, non-finite floats as null).
    return {
        "account": str(account),
        "ts_ns": as_int(ts_ns, "ts_ns"),
        "state": str(state),
        "figures": jsonable(figures, "figures"),
    }


def _newest_first(
    table: sa.Table, account: str | None, before_id: int | None, limit: int, offset: int, where: list[Any]
) -> Any:
    # The rows of an append-only table keyed by id (alerts, audit_log), newest first: of one
    # account (None: all), paged by key (ids below before_id) or by offset, with extra conditions.
    stmt = sa.select(table)
    if before_id is not None:
        stmt = stmt.where(table.c.id < as_int(before_id, "before_id"))
    if account is not None:
        stmt = stmt.where(table.c.account == account)
    if where:
        stmt = stmt.where(*where)
    return stmt.order_by(table.c.id.desc()).limit(max(int(limit), 0)).offset(max(int(offset), 0))


class JournalStore:
    """What the guardian saw and decided, in the database ``db``: snapshots of margin/risk
    figures, alerts and the append-only audit log."""

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    # ---------------------------------------------------------------- snapshots

    def add_snapshot(self, account: str, ts_ns: int, state: str, figures: dict[str, Any]) -> int:
        """Append one snapshot of the account's margin/risk figures; return its id.

        Non-finite floats in ``figures`` are stored as null (JSON has no NaN).
        """
        values = _snapshot_values(account, ts_ns, state, figures)
        with self._db.tx("add_snapshot", write=True) as conn:
            return int(conn.execute(SNAPSHOTS.insert().values(**values).returning(SNAPSHOTS.c.id)).scalar_one())

    def snapshots(self, account: str, *, since_ns: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Return the latest ``limit`` snapshots with ``ts_ns >= since_ns``, oldest first.

        Each is ``{"id", "account", "ts_ns", "state", "figures"}``.
        """
        stmt = sa.select(SNAPSHOTS).where(SNAPSHOTS.c.account == account)
        if since_ns is not None:
            stmt = stmt.where(SNAPSHOTS.c.ts_ns >= as_int(since_ns, "since_ns"))
        stmt = stmt.order_by(SNAPSHOTS.c.ts_ns.desc(), SNAPSHOTS.c.id.desc()).limit(max(int(limit), 0))
        with self._db.tx("snapshots") as conn:
            rows = conn.execute(stmt).all()
        return [row_dict(r) for r in reversed(rows)]

    # ---------------------------------------------------------------- alerts

    def add_alert(
        self, account: str | None, ts_ns: int, level: str, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> int:
        """Record an alert (``account`` None for a global one); return its id."""
        values = alert_values(account, ts_ns, level, kind, message, data)
        with self._db.tx("add_alert", write=True) as conn:
            return int(conn.execute(ALERTS.insert().values(**values).returning(ALERTS.c.id)).scalar_one())

    def alerts(
        self,
        *,
        account: str | None = None,
        unacked_only: bool = False,
        limit: int = 100,
        offset: int = 0,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return alerts, newest first; ``account`` None means every account and the global ones.

        Each is ``{"id", "account", "ts_ns", "level", "kind", "message", "data", "acked", "acked_ns"}``.
        ``before_id`` pages by key (rows with a smaller id: stable while alerts are appended).
        """
        unacked = [ALERTS.c.acked_ns.is_(None)] if unacked_only else []
        stmt = _newest_first(ALERTS, account, before_id, limit, offset, unacked)
        with self._db.tx("alerts") as conn:
            rows = conn.execute(stmt).all()
        return [{**row_dict(r), "acked": r.acked_ns is not None} for r in rows]

    def ack_alert(self, alert_id: int, ts_ns: int, *, audit: AuditRow | None = None) -> bool:
        """Acknowledge an alert; True if this call acknowledged it, False if unknown or already acked.

        ``audit``: a row appended to the audit log in the same transaction when this call
        acknowledged the alert (both or neither are stored)."""
        stmt = (
            ALERTS.update()
            .where(ALERTS.c.id == int(alert_id), ALERTS.c.acked_ns.is_(None))
            .values(acked_ns=as_int(ts_ns, "ts_ns"))
        )
        with self._db.tx("ack_alert", write=True) as conn:
            acked = bool(conn.execute(stmt).rowcount == 1)
            if acked and audit is not None:
                write_audit(conn, audit)
            return acked

    # ---------------------------------------------------------------- audit log

    def audit(
        self,
        account: str | None,
        ts_ns: int,
        event: str,
        inputs: dict[str, Any],
        decision: dict[str, Any],
        reasons: list[str],
    ) -> int:
        """Append one decision with its inputs and reasons to the audit log; return its id.

        The log is append-only: the database rejects UPDATE and DELETE on it.
        """
        row: AuditRow = (account, ts_ns, event, inputs, decision, reasons)
        audit_values(*row)  # bad input raises before the transaction opens
        with self._db.tx("audit", write=True) as conn:
            return write_audit(conn, row)

    def record_cycle(
        self,
        snapshots: list[tuple[str, int, str, dict[str, Any]]],
        audits: list[tuple[str | None, int, str, dict[str, Any], dict[str, Any], list[str]]],
        prune_before_ns: int | None = None,
        prune_accounts: Sequence[str] = (),
    ) -> None:
        """Append many snapshots ``(account, ts_ns, state, figures)`` and audit rows ``(account,
        ts_ns, event, inputs, decision, reasons)`` in one transaction (one commit per guardian
        cycle instead of two per account), deleting the snapshots of ``prune_accounts`` older than
        ``prune_before_ns`` in it where given (the snapshots' retention, by the ``(account, ts_ns)``
        index; the audit log is append-only).  Decisions
        that lead to orders are written at once by :meth:`audit` and :meth:`record_intent`, never
        batched."""
        snap_rows = [_snapshot_values(a, t, st, f) for a, t, st, f in snapshots]
        audit_rows = [audit_values(a, t, e, i, d, rs) for a, t, e, i, d, rs in audits]
        prune = prune_before_ns is not None and bool(prune_accounts)
        if not snap_rows and not audit_rows and not prune:
            return
        with self._db.tx("record_cycle", write=True) as conn:
            if prune:
                before = as_int(prune_before_ns, "prune_before_ns")
                where = (SNAPSHOTS.c.account.in_([str(a) for a in prune_accounts]), SNAPSHOTS.c.ts_ns < before)
                conn.execute(SNAPSHOTS.delete().where(*where))
            if snap_rows:
                conn.execute(SNAPSHOTS.insert(), snap_rows)
            if audit_rows:
                conn.execute(AUDIT_LOG.insert(), audit_rows)

    def audit_log(
        self,
        *,
        account: str | None = None,
        event: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
        offset: int = 0,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return audit rows, newest first: ``{"id", "account", "ts_ns", "event", "inputs", "decision", "reasons"}``.

        ``before_id`` pages by key (rows with a smaller id: stable while rows are appended).
        """
        where = [] if event is None else [AUDIT_LOG.c.event == event]
        if since_ns is not None:
            where.append(AUDIT_LOG.c.ts_ns >= as_int(since_ns, "since_ns"))
        stmt = _newest_first(AUDIT_LOG, account, before_id, limit, offset, where)
        with self._db.tx("audit_log") as conn:
            rows = conn.execute(stmt).all()
        return [row_dict(r) for r in rows]
