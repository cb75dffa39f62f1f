"""The store's account family: the ``accounts`` table and the global ``kill_switch`` row.

Part of :class:`levguard.live.store.Store` (see :mod:`levguard.live.store` for the tables and the
error contract).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from levguard.errors import InputError
from levguard.live.schema import ACCOUNTS, KILL_SWITCH
from levguard.live.store_engine import StoreEngine, as_int, jsonable, row_dict
from levguard.live.store_journal import AuditRow, write_audit
from levguard.live.store_leases import fence

__all__ = ["AccountStore"]


class AccountStore:
    """The watched accounts (venue, live opt-in, policy, disabled state, expected positions) and
    the kill switches, in the database ``db``."""

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def upsert_account(
        self, name: str, venue: str, *, live_enabled: bool = False, policy: dict[str, Any] | None = None
    ) -> None:
        """Create the account or overwrite its venue, live flag and policy.

        The per-account kill switch and ``created_ns`` are kept. ``policy`` is stored as given
        (JSON): never put secrets in it.
        """
        values = {
            "name": str(name),
            "venue": str(venue),
            "live_enabled": bool(live_enabled),
            "policy": jsonable(policy, "policy"),
        }
        stmt = self._db.insert(ACCOUNTS).values(**values, kill_switch=False, created_ns=time.time_ns())
        stmt = stmt.on_conflict_do_update(
            index_elements=[ACCOUNTS.c.name],
            set_={"venue": values["venue"], "live_enabled": values["live_enabled"], "policy": values["policy"]},
        )
        with self._db.tx("upsert_account", write=True) as conn:
            conn.execute(stmt)

    def add_account(self, name: str, venue: str, *, policy: dict[str, Any] | None = None) -> bool:
        """Create the account in dry run (``live_enabled`` False) unless it exists; True if created.

        What a dry run may write: an account another guardian runs keeps its live flag, policy
        and the rest (:meth:`upsert_account` overwrites them).
        """
        values = {"name": str(name), "venue": str(venue), "live_enabled": False, "policy": jsonable(policy, "policy")}
        stmt = self._db.insert(ACCOUNTS).values(**values, kill_switch=False, created_ns=time.time_ns())
        stmt = stmt.on_conflict_do_nothing(index_elements=[ACCOUNTS.c.name])
        with self._db.tx("add_account", write=True) as conn:
            return bool(conn.execute(stmt).rowcount)

    def account(self, name: str) -> dict[str, Any] | None:
        """Return ``{"name", "venue", "live_enabled", "policy", "kill_switch", "created_ns",
        "disabled_reason", "disabled_ns", "expected", "expected_ns"}`` or None.

        ``kill_switch`` is the account's own switch; :meth:`kill_switch` also honours the global one.
        """
        with self._db.tx("account") as conn:
            row = conn.execute(sa.select(ACCOUNTS).where(ACCOUNTS.c.name == name)).first()
        return None if row is None else row_dict(row)

    def accounts(self) -> list[dict[str, Any]]:
        """Return every account (as :meth:`account` does), ordered by name."""
        with self._db.tx("accounts") as conn:
            rows = conn.execute(sa.select(ACCOUNTS).order_by(ACCOUNTS.c.name)).all()
        return [row_dict(r) for r in rows]

    def set_live(self, name: str, enabled: bool, *, audit: AuditRow | None = None) -> int | None:
        """Opt the account in to (or out of) live actions; InputError if it is unknown.

        ``audit``: a row appended to the audit log in the same transaction (the change and its
        row are stored together or not at all); its id is returned (None without one)."""
        with self._db.tx("set_live", write=True) as conn:
            result = conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == name).values(live_enabled=bool(enabled)))
            if result.rowcount == 0:
                raise InputError(f"account must exist, was {name!r}")
            return None if audit is None else write_audit(conn, audit)

    def set_policy(self, name: str, policy: dict[str, Any] | None, *, audit: AuditRow | None = None) -> int | None:
        """Replace the account's policy (JSON, never secrets) and nothing else; InputError if unknown.

        One conditional ``UPDATE`` of the policy column: unlike :meth:`upsert_account`, it cannot
        write back a live flag read earlier, so a concurrent :meth:`set_live` is never undone.
        ``audit`` is appended in the same transaction, as in :meth:`set_live`.
        """
        with self._db.tx("set_policy", write=True) as conn:
            result = conn.execute(
                ACCOUNTS.update().where(ACCOUNTS.c.name == name).values(policy=jsonable(policy, "policy"))
            )
            if result.rowcount == 0:
                raise InputError(f"account must exist, was {name!r}")
            return None if audit is None else write_audit(conn, audit)

    def set_disabled(self, name: str, reason: str | None, ts_ns: int) -> None:
        """Stop acting on the account (``reason``, e.g. an authentication failure) until an operator
        clears it with ``reason=None``; persisted, so a restart keeps it.  InputError if unknown."""
        values = {"disabled_reason": None if reason is None else str(reason), "disabled_ns": as_int(ts_ns, "ts_ns")}
        with self._db.tx("set_disabled", write=True) as conn:
            if conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == name).values(**values)).rowcount == 0:
                raise InputError(f"account must exist, was {name!r}")

    def set_expected(
        self,
        name: str,
        expected: Mapping[str, float],
        ts_ns: int,
        *,
        lease: tuple[str, str | None, int] | None = None,
    ) -> None:
        """Persist the positions the guardian expects on the account (``{symbol: signed qty}``):
        what it last saw, adjusted by its own fills.  A no-op for an unknown account.

        ``lease`` = ``(owner, instance, epoch)`` fences the write by the holding, as
        :meth:`~levguard.live.store_orders.OrderStore.mark_result` is (:class:`LeaseLost`, nothing
        written, when another process took the account over): a process that lost its lease never
        overwrites the positions its successor booked its fills into."""
        now = as_int(ts_ns, "ts_ns")
        values = {"expected": {str(k): float(v) for k, v in expected.items()}, "expected_ns": now}
        with self._db.tx("set_expected", write=True) as conn:
            if lease is not None:
                fence(conn, str(name), lease, now, 0.0, "expected positions not stored", expiry=False)
            conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == name).values(**values))

    def set_kill_switch(self, account: str | None, on: bool, *, audit: AuditRow | None = None) -> int | None:
        """Set the kill switch of one account, or the global one when ``account`` is None.

        ``audit`` is appended in the same transaction, as in :meth:`set_live`."""
        with self._db.tx("set_kill_switch", write=True) as conn:
            if account is None:
                stmt = self._db.insert(KILL_SWITCH).values(id=1, on=bool(on))
                conn.execute(stmt.on_conflict_do_update(index_elements=[KILL_SWITCH.c.id], set_={"on": bool(on)}))
            else:
                result = conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == account).values(kill_switch=bool(on)))
                if result.rowcount == 0:
                    raise InputError(f"account must exist, was {account!r}")
            return None if audit is None else write_audit(conn, audit)

    def kill_switch(self, account: str) -> bool:
        """Return True when the global kill switch or the account's own is on."""
        with self._db.tx("kill_switch") as conn:
            glob = conn.execute(sa.select(KILL_SWITCH.c.on).where(KILL_SWITCH.c.id == 1)).scalar()
            own = conn.execute(sa.select(ACCOUNTS.c.kill_switch).where(ACCOUNTS.c.name == account)).scalar()
        return bool(glob) or bool(own)
