"""The store's lease family: the ``leases`` table, one guardian process per account (fencing).

See :mod:`levguard.live.store` for why the single-statement acquisition is safe across
processes.  Part of :class:`levguard.live.store.Store`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from levguard.errors import InputError, LevguardError
from levguard.live.schema import LEASES
from levguard.live.store_engine import StoreEngine, as_int, row_dict

__all__ = ["Lease", "LeaseLost", "LeaseStore", "fence"]


class LeaseLost(LevguardError):  # noqa: N818 - a state, not a failure of the caller
    """The caller no longer holds the account's lease under the epoch it acts on (fencing): another
    process took the account over, or the lease expired; nothing was recorded."""


@dataclasses.dataclass(frozen=True)
class Lease:
    """The outcome of taking or renewing one account's lease.

    ``held``: the caller holds it; ``epoch``: the fencing epoch (bumped whenever the holder, owner
    or instance, changes); ``taken``: this call started the holding (a new epoch);
    ``previous_owner`` and ``previous_renewed_ns``: who held it before and when it was last
    renewed by anyone (None when never), to tell how long the account went unwatched.
    """

    held: bool
    epoch: int
    taken: bool = False
    previous_owner: str | None = None
    previous_renewed_ns: int | None = None
    previous_instance: str | None = None
    previous_expires_ns: int | None = None


def fence(
    conn: Connection,
    account: str,
    lease: tuple[str, str | None, int],
    now: int,
    fence_s: float,
    what: str,
    *,
    expiry: bool = True,
) -> None:
    """Raise :class:`LeaseLost` (``what`` says what was not done) unless ``account``'s lease is held
    by ``lease`` = ``(owner, instance, epoch)`` for at least ``fence_s`` more seconds after ``now``.

    With ``expiry=False`` the holding alone is checked (owner, instance, epoch), not the time left:
    for recording what the holder already did (a venue's late answer), where a lease that lapsed
    but was not taken over is still this holder's (any takeover moves the epoch on).

    Runs inside the caller's write transaction ``conn``, so the check and the caller's write commit
    together.
    """
    # The lease row, locked until the caller's commit (a concurrent takeover waits for it on
    # PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), must still be held by
    # this (owner, instance) under this epoch for at least fence_s more seconds.
    owner, instance, epoch = lease
    row = conn.execute(
        sa.select(LEASES.c.owner, LEASES.c.instance, LEASES.c.epoch, LEASES.c.expires_ns)
        .where(LEASES.c.account == account)
        .with_for_update()
    ).first()
    margin = round(max(float(fence_s), 0.0) * 1e9)
    if (
        row is None
        or row.owner != str(owner)
        or (instance is not None and row.instance != str(instance))
        or int(row.epoch) != int(epoch)
        or (expiry and int(row.expires_ns) <= now + margin)
    ):
        held = None if row is None else f"{row.owner}/{row.instance} epoch {row.epoch}"
        raise LeaseLost(f"lease of {account!r} not held by {owner!r} at epoch {epoch} (held: {held}); {what}")


class LeaseStore:
    """Account leases in the database ``db``: take, renew and release them, with the fencing
    epoch of each holding."""

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    @staticmethod
    def _expiry(ttl_s: float, now_ns: int) -> int:
        if not (math.isfinite(float(ttl_s)) and ttl_s > 0):
            raise InputError(f"ttl_s must be > 0, was {ttl_s!r}")
        return as_int(now_ns, "now_ns") + round(float(ttl_s) * 1e9)

    def _lease_upsert(self, account: str, owner: str, expires: int, now: int, instance: str | None = None) -> Any:
        # The single atomic statement that takes a free, expired or own lease (module docstring);
        # the epoch moves on unless the same (owner, instance) renews an unexpired lease.
        stmt = self._db.insert(LEASES).values(
            account=str(account), owner=str(owner), expires_ns=expires, instance=instance, epoch=1, renewed_ns=now
        )
        same_holder = sa.and_(
            LEASES.c.owner == str(owner),
            LEASES.c.instance.is_(None) if instance is None else LEASES.c.instance == instance,
            LEASES.c.expires_ns > now,
        )
        return stmt.on_conflict_do_update(
            index_elements=[LEASES.c.account],
            set_={
                "owner": stmt.excluded.owner,
                "expires_ns": stmt.excluded.expires_ns,
                "instance": stmt.excluded.instance,
                "renewed_ns": stmt.excluded.renewed_ns,
                "epoch": sa.case((same_holder, LEASES.c.epoch), else_=LEASES.c.epoch + 1),
            },
            where=sa.or_(LEASES.c.owner.is_(None), LEASES.c.expires_ns <= now, LEASES.c.owner == str(owner)),
        ).returning(LEASES.c.owner, LEASES.c.instance, LEASES.c.epoch)

    def acquire_lease(self, account: str, owner: str, ttl_s: float, now_ns: int) -> bool:
        """Take the account's lease if it is free, expired or already ``owner``'s; atomic across processes.

        Returns True when ``owner`` holds the lease until ``now_ns + ttl_s`` (see the module
        docstring for why two racing processes cannot both win).
        """
        stmt = self._lease_upsert(account, owner, self._expiry(ttl_s, now_ns), as_int(now_ns, "now_ns"))
        with self._db.tx("acquire_lease", write=True) as conn:
            won = conn.execute(stmt).first()
        return won is not None and won.owner == str(owner)

    def acquire_leases(self, accounts: list[str], owner: str, ttl_s: float, now_ns: int) -> dict[str, bool]:
        """:meth:`take_leases` without an instance: account -> held."""
        return {k: v.held for k, v in self.take_leases(accounts, owner, ttl_s, now_ns).items()}

    def take_leases(
        self, accounts: list[str], owner: str, ttl_s: float, now_ns: int, *, instance: str | None = None
    ) -> dict[str, Lease]:
        """Take or renew the leases of many accounts in one transaction (one commit per guardian
        cycle); returns account -> :class:`Lease`.

        ``owner`` is the guardian's stable identity (the same after a restart), ``instance`` the
        running process's (new at every start).  A lease is taken when it is free, expired, or
        held by ``owner`` (so a restarted guardian takes its accounts back at once); the fencing
        epoch is bumped whenever the holding ``(owner, instance)`` changes, so a previous process
        of the same identity that still runs can no longer record an order
        (:meth:`record_intent` with ``lease``).  Each account's take is the atomic upsert of the
        module docstring.
        """
        expires = self._expiry(ttl_s, now_ns)
        now = as_int(now_ns, "now_ns")
        owner_s = str(owner)
        inst = None if instance is None else str(instance)
        out: dict[str, Lease] = {}
        names = [str(a) for a in accounts]
        with self._db.tx("acquire_leases", write=True) as conn:
            # Steady state: every lease is already ours and unexpired, one UPDATE renews them all.
            mine = sa.and_(
                LEASES.c.account.in_(names),
                LEASES.c.owner == owner_s,
                LEASES.c.expires_ns > now,
                LEASES.c.instance.is_(None) if inst is None else LEASES.c.instance == inst,
            )
            renewed = {
                r.account: int(r.epoch)
                for r in conn.execute(
                    LEASES.update()
                    .where(mine)
                    .values(expires_ns=expires, renewed_ns=now)
                    .returning(LEASES.c.account, LEASES.c.epoch)
                )
            }
            out.update({a: Lease(True, e) for a, e in renewed.items()})
            rest = [a for a in names if a not in renewed]
            if not rest:
                return out
            before = {
                r.account: r
                for r in conn.execute(
                    sa.select(
                        LEASES.c.account, LEASES.c.owner, LEASES.c.instance, LEASES.c.renewed_ns, LEASES.c.expires_ns
                    ).where(LEASES.c.account.in_(rest))
                )
            }
            for account in rest:
                prev = before.get(account)
                won = conn.execute(self._lease_upsert(account, owner_s, expires, now, inst)).first()
                held = won is not None and won.owner == owner_s and won.instance == inst
                out[account] = Lease(
                    held,
                    int(won.epoch) if held and won is not None else -1,
                    taken=held,
                    previous_owner=None if prev is None else prev.owner,
                    previous_renewed_ns=None if prev is None or prev.renewed_ns is None else int(prev.renewed_ns),
                    previous_instance=None if prev is None else prev.instance,
                    previous_expires_ns=None if prev is None else int(prev.expires_ns),
                )
        return out

    def holds(self, account: str, lease: tuple[str, str | None, int]) -> bool:
        """Whether ``lease`` = ``(owner, instance, epoch)`` still holds the account (the holding
        alone, as :func:`fence` with ``expiry=False``; nothing written): checked before alerting
        on what a read that may have outlived the lease saw."""
        with self._db.tx("holds") as conn:
            row = conn.execute(
                sa.select(LEASES.c.owner, LEASES.c.instance, LEASES.c.epoch).where(LEASES.c.account == str(account))
            ).first()
        owner, instance, epoch = lease
        return (
            row is not None
            and row.owner == str(owner)
            and (instance is None or row.instance == str(instance))
            and int(row.epoch) == int(epoch)
        )

    def leases(self) -> list[dict[str, Any]]:
        """Every lease row: ``{"account", "owner", "instance", "epoch", "expires_ns", "renewed_ns"}``."""
        with self._db.tx("leases") as conn:
            return [row_dict(r) for r in conn.execute(sa.select(LEASES).order_by(LEASES.c.account))]

    def renew_lease(self, account: str, owner: str, ttl_s: float, now_ns: int) -> bool:
        """Extend ``owner``'s unexpired lease to ``now_ns + ttl_s``; False if not held (or expired)."""
        expires = self._expiry(ttl_s, now_ns)
        stmt = (
            LEASES.update()
            .where(LEASES.c.account == account, LEASES.c.owner == owner, LEASES.c.expires_ns > as_int(now_ns, "now_ns"))
            .values(expires_ns=expires)
        )
        with self._db.tx("renew_lease", write=True) as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def release_lease(self, account: str, owner: str) -> None:
        """Free the lease if ``owner`` holds it (a no-op otherwise)."""
        stmt = (
            LEASES.update().where(LEASES.c.account == account, LEASES.c.owner == owner).values(owner=None, expires_ns=0)
        )
        with self._db.tx("release_lease", write=True) as conn:
            conn.execute(stmt)

    def lease_owner(self, account: str, now_ns: int) -> str | None:
        """Return the owner of the account's unexpired lease, or None."""
        stmt = sa.select(LEASES.c.owner).where(
            LEASES.c.account == account, LEASES.c.owner.is_not(None), LEASES.c.expires_ns > as_int(now_ns, "now_ns")
        )
        with self._db.tx("lease_owner") as conn:
            owner = conn.execute(stmt).scalar()
        return None if owner is None else str(owner)
