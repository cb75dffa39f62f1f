"""Inside ``Store.bounded(deadline)`` a store call waits for a lock another connection holds at
most until the deadline (SQLite's busy timeout, PostgreSQL's lock_timeout), not the store's 15 s:
what the HTTP service's store calls run in, so a refused call gives its thread back in time."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from levguard.live.store import Store, StoreUnavailable


@contextmanager
def _locked(url: str) -> Iterator[None]:
    # Another client holding the kill switch's table in a write transaction.
    if url.startswith("sqlite"):
        other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("LOCK TABLE kill_switch IN ACCESS EXCLUSIVE MODE")
            yield
            conn.rollback()
    finally:
        engine.dispose()


def test_a_bounded_write_gives_up_at_the_deadline(store: Store, store_url: str) -> None:
    store.set_kill_switch(None, False)
    with _locked(store_url):
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable), store.bounded(t0 + 0.5):
            store.set_kill_switch(None, True)
        took = time.monotonic() - t0
    assert 0.3 < took < 2.0, f"a write bounded by 0.5 s waited {took:.2f} s for the lock"
    # Out of the block the store's own bound is back: the write waits the lock out and succeeds.
    store.set_kill_switch(None, True)
    assert store.kill_switch("any")
