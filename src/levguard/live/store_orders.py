"""The store's order family: the ``orders`` table, written ahead of every order sent.

:meth:`OrderStore.record_intent` commits the decision and its deterministic client order id
*before* the order is sent; a second call with the same id returns False and changes nothing.
After a crash, :meth:`OrderStore.unresolved_orders` lists the intents and sent orders without a
final status (closed, canceled, rejected, expired) for reconciliation with the venue by client
order id.  Part of :class:`levguard.live.store.Store` (see :mod:`levguard.live.store`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from levguard.errors import InputError
from levguard.live.schema import ACCOUNTS, ALERTS, AUDIT_LOG, ORDERS
from levguard.live.store_engine import StoreEngine, alert_values, as_int, audit_values, row_dict
from levguard.live.store_leases import fence

__all__ = ["FINAL_ORDER_STATUSES", "ORDER_STATUSES", "OrderStore", "fill_key"]

#: Order statuses :meth:`OrderStore.mark_result` accepts (ccxt's vocabulary).
ORDER_STATUSES = frozenset({"open", "closed", "canceled", "rejected", "expired"})
#: Statuses after which an order needs no reconciliation.
FINAL_ORDER_STATUSES = frozenset({"closed", "canceled", "rejected", "expired"})


def fill_key(expected: Mapping[str, Any], symbol: str, side: str) -> str | None:
    """The key of ``expected`` a fill of a (reduce-only) ``side`` order on ``symbol`` moves: the
    symbol, else the leg it reduces when the symbol is kept by leg (hedge mode: a sell reduces
    ``"SYMBOL long"``, a buy ``"SYMBOL short"``), else None (not kept)."""
    if symbol in expected:
        return symbol
    leg = f"{symbol} {'long' if side == 'sell' else 'short'}"
    return leg if leg in expected else None


def _require_order(conn: Connection, client_order_id: str) -> None:
    found = conn.execute(sa.select(ORDERS.c.client_order_id).where(ORDERS.c.client_order_id == client_order_id))
    if found.first() is None:
        raise InputError(f"client_order_id must name a recorded order, was {client_order_id!r}")


class OrderStore:
    """The guardian's write-ahead orders in the database ``db``: intents, sent orders and the
    venue's answers."""

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def record_intent(
        self,
        account: str,
        client_order_id: str,
        symbol: str,
        side: str,
        qty: float,
        ts_ns: int,
        reason: str,
        *,
        lease: tuple[str, str | None, int] | None = None,
        fence_s: float = 0.0,
        audit: tuple[dict[str, Any], dict[str, Any], list[str]] | None = None,
    ) -> bool:
        """Commit an order intent before the order is sent; False if the id exists (nothing changes).

        The row starts with status ``"intent"``; the commit is durable when this returns True.

        ``lease`` = ``(owner, instance, epoch)`` fences the write: in the same transaction the
        account's lease must still be held by that owner and instance under that epoch, and valid
        for at least ``fence_s`` more seconds, else :class:`LeaseLost` is raised and nothing is
        written (a process that lost its lease can never record, hence never send).  ``audit`` =
        ``(inputs, decision, reasons)`` appends the decision's ``deleverage`` audit row in the same
        transaction, so an intent never exists without its audit row.
        """
        now = as_int(ts_ns, "ts_ns")
        values = {
            "client_order_id": str(client_order_id),
            "account": str(account),
            "symbol": str(symbol),
            "side": str(side),
            "qty": float(qty),
            "reason": str(reason),
            "status": "intent",
            "intent_ns": now,
            "filled": 0.0,
            "owner": None if lease is None else str(lease[0]),
            "epoch": None if lease is None else int(lease[2]),
        }
        stmt = (
            self._db.insert(ORDERS)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[ORDERS.c.client_order_id])
            .returning(ORDERS.c.client_order_id)  # a row back means this call inserted it
        )
        with self._db.tx("record_intent", write=True) as conn:
            if lease is not None:
                fence(conn, str(account), lease, now, fence_s, f"order {client_order_id} not recorded")
            inserted = conn.execute(stmt).first() is not None
            if inserted and audit is not None:
                inputs, decision, reasons = audit
                conn.execute(
                    AUDIT_LOG.insert().values(**audit_values(account, now, "deleverage", inputs, decision, reasons))
                )
            return inserted

    def mark_sent(
        self,
        client_order_id: str,
        ts_ns: int,
        *,
        lease: tuple[str, str | None, int] | None = None,
        fence_s: float = 0.0,
    ) -> bool:
        """Mark an intent as sent; True when this call did, False when the order is no longer an
        intent (already sent, or resolved meanwhile, e.g. expired by a process that took the
        account over): then it must not be sent.  InputError if unknown.

        ``lease`` fences the write as in :meth:`record_intent` (:class:`LeaseLost` when the
        caller no longer holds the account), in the same transaction, so an order is only ever
        sent by the current holder of a lease that has at least ``fence_s`` seconds left.
        """
        now = as_int(ts_ns, "ts_ns")
        stmt = (
            ORDERS.update()
            .where(ORDERS.c.client_order_id == client_order_id, ORDERS.c.status == "intent")
            .values(status="sent", sent_ns=now)
            .returning(ORDERS.c.account)
        )
        with self._db.tx("mark_sent", write=True) as conn:
            if lease is not None:
                _fence_order(conn, client_order_id, lease, now, fence_s, f"order {client_order_id} not sent")
            if conn.execute(stmt).first() is None:
                _require_order(conn, client_order_id)
                return False
            return True

    def mark_result(
        self,
        client_order_id: str,
        status: str,
        filled: float,
        average_price: float | None,
        venue_order_id: str | None,
        ts_ns: int,
        *,
        error: str | None = None,
        audit: tuple[str, dict[str, Any], dict[str, Any], list[str]] | None = None,
        lease: tuple[str, str | None, int] | None = None,
        fence_s: float = 0.0,
        book: bool = True,
        late: tuple[int, str] | None = None,
        late_end: bool = False,
        alert: Callable[[float], tuple[str, str, str, dict[str, Any]]] | None = None,
    ) -> float:
        """Record the venue's answer (or a reconciliation): ``status`` is one of ccxt's statuses.

        ``"open"`` leaves the order unresolved; closed, canceled, rejected and expired are final.
        Answers may arrive out of order (a lagging read after a fill, a late reply), so a result
        only moves forward: ``filled`` never decreases (the largest fill reported is kept, and
        ``average_price`` is taken only from an answer that fills at least as much; None keeps
        the one recorded), a final status is never moved back to ``"open"`` (such a stale answer
        changes nothing but a larger fill), and ``venue_order_id`` None keeps the one recorded.
        Otherwise the latest answer wins (one final status may replace another).  In the same transaction the fill not
        yet booked (``filled`` minus the largest fill recorded before) moves the account's
        expected position of the symbol (:meth:`set_expected`), so the guardian's own fills are
        never mistaken for the venue's doing, even across a crash, and each unit of fill is booked
        once (a symbol kept by leg: the leg the order reduces, :func:`fill_key`); ``book=False``
        records it without moving the expected position (already taken into it otherwise).
        Returns that newly booked fill (>= 0, in the position's units).  ``audit`` =
        ``(event, inputs, decision, reasons)`` appends an audit row of the order's account in the
        same transaction.

        ``lease`` = ``(owner, instance, epoch)`` fences the write by the holding
        (:class:`LeaseLost`, nothing written, when another process took the order's account over,
        which moves the epoch on): a process that lost its lease never books a fill the account's
        new holder books too, while a late answer to a lease that lapsed but was not taken over is
        still booked (``fence_s`` is not used: the time left does not matter for a result).

        ``late`` = ``(until_ns, why)`` puts the order on the late watch in the same transaction (a
        final status taken without the venue's word: it is asked for again until the wall-clock
        ``until_ns``, by whichever process holds the account, :meth:`late_orders`); ``late_end``
        takes it off (the venue's final answer was recorded).  ``alert`` is called with the fill
        newly recorded when there is one (> 0, booked or not); the alert it returns, ``(level,
        kind, message, data)``, is appended to the order's account's alerts in the same
        transaction (a kill after the commit cannot lose it from the store, nor store it for a fill not recorded;
        the caller sends it to the sinks after the commit, a delivery a kill can still lose).
        """
        if status not in ORDER_STATUSES:
            raise InputError(f"status must be one of {sorted(ORDER_STATUSES)}, was {status!r}")
        price = None if average_price is None or not math.isfinite(float(average_price)) else float(average_price)
        filled_f = float(filled)
        if not (math.isfinite(filled_f) and filled_f >= 0.0):
            raise InputError(f"filled must be a finite number >= 0, was {filled!r}")
        now = as_int(ts_ns, "ts_ns")
        with self._db.tx("mark_result", write=True) as conn:
            if lease is not None:
                # The epoch alone: a late answer to this holder's order is its own to book unless
                # another process took the account over (which moves the epoch on).
                what = f"result of order {client_order_id} not recorded"
                _fence_order(conn, client_order_id, lease, now, fence_s, what, expiry=False)
            row = conn.execute(
                sa.select(ORDERS.c.account, ORDERS.c.symbol, ORDERS.c.side, ORDERS.c.filled, ORDERS.c.status)
                .where(ORDERS.c.client_order_id == client_order_id)
                .with_for_update()  # two answers for one fill book it once (PostgreSQL)
            ).first()
            if row is None:
                raise InputError(f"client_order_id must name a recorded order, was {client_order_id!r}")
            before = float(row.filled or 0.0)
            delta = max(filled_f - before, 0.0)
            values: dict[str, Any] = {}
            if not (row.status in FINAL_ORDER_STATUSES and status not in FINAL_ORDER_STATUSES):
                values = {"status": status, "result_ns": now}
                if venue_order_id is not None:
                    values["venue_order_id"] = str(venue_order_id)
                if error is not None:
                    values["error"] = str(error)[:2000]
            if late is not None:
                values["late_until_ns"], values["late_as"] = as_int(late[0], "late[0]"), str(late[1])[:2000]
            elif late_end:
                values["late_until_ns"] = None
            if filled_f >= before:  # an answer that fills less is an older one: its price too
                values["filled"] = filled_f
                if price is not None:
                    values["average_price"] = price
            if values:
                conn.execute(ORDERS.update().where(ORDERS.c.client_order_id == client_order_id).values(**values))
            if audit is not None:
                event, inputs, decision, reasons = audit
                conn.execute(
                    AUDIT_LOG.insert().values(**audit_values(row.account, ts_ns, event, inputs, decision, reasons))
                )
            if delta > 0.0 and alert is not None:
                conn.execute(ALERTS.insert().values(**alert_values(row.account, now, *alert(delta))))
            if delta > 0.0 and book:
                acct = conn.execute(
                    sa.select(ACCOUNTS.c.expected).where(ACCOUNTS.c.name == row.account).with_for_update()
                ).first()
                expected = dict(acct.expected or {}) if acct is not None else None
                key = fill_key(expected, row.symbol, row.side) if expected is not None else None
                if expected is not None and key is not None:
                    sign = -1.0 if row.side == "sell" else 1.0
                    expected[key] = float(expected[key]) + sign * delta
                    conn.execute(
                        ACCOUNTS.update()
                        .where(ACCOUNTS.c.name == row.account)
                        .values(expected=expected, expected_ns=now)
                    )
        return delta

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        """Return the order (see :meth:`orders` for its keys) or None."""
        with self._db.tx("order") as conn:
            row = conn.execute(sa.select(ORDERS).where(ORDERS.c.client_order_id == client_order_id)).first()
        return None if row is None else row_dict(row)

    def order_count(self, account: str, symbol: str) -> int:
        """Number of orders ever recorded for ``account`` on ``symbol`` (any status)."""
        stmt = sa.select(sa.func.count()).where(ORDERS.c.account == account, ORDERS.c.symbol == symbol)
        with self._db.tx("order_count") as conn:
            return int(conn.execute(stmt).scalar_one())

    def orders(
        self,
        *,
        account: str | None = None,
        limit: int = 100,
        offset: int = 0,
        before: tuple[int, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Return orders, newest intent first.

        Each is ``{"client_order_id", "account", "symbol", "side", "qty", "reason", "status",
        "intent_ns", "sent_ns", "result_ns", "filled", "average_price", "venue_order_id", "owner",
        "epoch", "error", "late_until_ns", "late_as"}``; status is ``"intent"``, ``"sent"`` or one of
        :data:`ORDER_STATUSES`.
        ``before`` = ``(intent_ns, client_order_id)`` of the last row of the previous page pages by
        key (stable while orders are recorded).
        """
        stmt = sa.select(ORDERS)
        if account is not None:
            stmt = stmt.where(ORDERS.c.account == account)
        if before is not None:
            b_ns, b_id = as_int(before[0], "before[0]"), str(before[1])
            stmt = stmt.where(
                sa.or_(ORDERS.c.intent_ns < b_ns, sa.and_(ORDERS.c.intent_ns == b_ns, ORDERS.c.client_order_id < b_id))
            )
        stmt = stmt.order_by(ORDERS.c.intent_ns.desc(), ORDERS.c.client_order_id.desc())
        stmt = stmt.limit(max(int(limit), 0)).offset(max(int(offset), 0))
        with self._db.tx("orders") as conn:
            rows = conn.execute(stmt).all()
        return [row_dict(r) for r in rows]

    def late_orders(self, account: str) -> list[dict[str, Any]]:
        """Return the account's orders on the late watch (``late_until_ns`` set: taken as final
        without the venue's word, :meth:`mark_result`), oldest first, their watch ended or not."""
        stmt = (
            sa.select(ORDERS)
            .where(ORDERS.c.account == account, ORDERS.c.late_until_ns.is_not(None))
            .order_by(ORDERS.c.intent_ns, ORDERS.c.client_order_id)
        )
        with self._db.tx("late_orders") as conn:
            rows = conn.execute(stmt).all()
        return [row_dict(r) for r in rows]

    def end_late_watch(
        self,
        client_order_id: str,
        ts_ns: int,
        *,
        lease: tuple[str, str | None, int],
        alert: tuple[str, str, str, dict[str, Any]] | None = None,
    ) -> bool:
        """Take order ``client_order_id`` off the late watch; True when this call did (False: it
        was not on it, e.g. another holder or an earlier cycle ended it), so its end is said once:
        ``alert`` = ``(level, kind, message, data)`` is appended to the order's account's alerts
        in the same transaction when this call ended it.  Fenced by ``lease`` as
        :meth:`mark_result` (:class:`LeaseLost`, nothing written)."""
        now = as_int(ts_ns, "ts_ns")
        stmt = (
            ORDERS.update()
            .where(ORDERS.c.client_order_id == client_order_id, ORDERS.c.late_until_ns.is_not(None))
            .values(late_until_ns=None)
            .returning(ORDERS.c.account)
        )
        with self._db.tx("end_late_watch", write=True) as conn:
            what = f"late watch of order {client_order_id} not ended"
            _fence_order(conn, client_order_id, lease, now, 0.0, what, expiry=False)
            ended = conn.execute(stmt).first()
            if ended is not None and alert is not None:
                conn.execute(ALERTS.insert().values(**alert_values(ended.account, now, *alert)))
            return ended is not None

    def unresolved_orders(self, account: str) -> list[dict[str, Any]]:
        """Return the account's orders without a final status (intent, sent, open), oldest first."""
        stmt = (
            sa.select(ORDERS)
            .where(ORDERS.c.account == account, ORDERS.c.status.not_in(sorted(FINAL_ORDER_STATUSES)))
            .order_by(ORDERS.c.intent_ns, ORDERS.c.client_order_id)
        )
        with self._db.tx("unresolved_orders") as conn:
            rows = conn.execute(stmt).all()
        return [row_dict(r) for r in rows]


def _fence_order(
    conn: Connection,
    client_order_id: str,
    lease: tuple[str, str | None, int],
    now: int,
    fence_s: float,
    what: str,
    *,
    expiry: bool = True,
) -> None:
    # :func:`fence` on the account of a recorded order: the lease row first, then the order's (the
    # order mark_sent and record_intent lock them in, so two writers never wait on each other).
    found = conn.execute(sa.select(ORDERS.c.account).where(ORDERS.c.client_order_id == client_order_id)).first()
    if found is None:
        raise InputError(f"client_order_id must name a recorded order, was {client_order_id!r}")
    fence(conn, str(found.account), lease, now, fence_s, what, expiry=expiry)
