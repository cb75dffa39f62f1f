"""The store split by table family: each family works over an engine of its own, and Store
composes all of them so its callers keep one object."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from levguard.errors import InputError
from levguard.live.store import (
    AccountStore,
    JournalStore,
    LeaseStore,
    OrderStore,
    Store,
    StoreEngine,
    StoreUnavailable,
    TokenStore,
)

FAMILIES = (AccountStore, JournalStore, OrderStore, LeaseStore, TokenStore)


def _public_methods(cls: type) -> set[str]:
    # Methods defined in the class body itself (not inherited).
    return {n for n, v in vars(cls).items() if not n.startswith("_") and inspect.isfunction(v)}


def test_every_family_is_small_and_they_do_not_overlap() -> None:
    seen: set[str] = set()
    for cls in FAMILIES:
        methods = _public_methods(cls)
        assert 0 < len(methods) <= 25, (cls.__name__, sorted(methods))
        assert not methods & seen, (cls.__name__, sorted(methods & seen))
        seen |= methods
    assert _public_methods(Store) == {"bounded", "close"}  # the engine's own, not a family's


def test_store_exposes_every_family_method() -> None:
    for cls in FAMILIES:
        for name in _public_methods(cls):
            assert getattr(Store, name) is getattr(cls, name)


def test_a_family_works_alone_over_its_own_engine() -> None:
    engine = StoreEngine("sqlite://")
    try:
        accounts, orders = AccountStore(engine), OrderStore(engine)
        accounts.upsert_account("a", "binance-usdm")
        assert orders.record_intent("a", "cid-1", "BTCUSDT", "sell", 0.5, 1, "test")
        assert not orders.record_intent("a", "cid-1", "BTCUSDT", "sell", 0.5, 1, "test")
        assert [r["client_order_id"] for r in orders.unresolved_orders("a")] == ["cid-1"]
        assert accounts.account("a") is not None
        assert repr(engine) == "StoreEngine(url='sqlite://')"
    finally:
        engine.close()


def test_the_store_keeps_its_engine_attributes() -> None:
    store = Store("sqlite://")
    try:
        assert repr(store) == "Store(url='sqlite://')"
        assert store.url_redacted == "sqlite://"
        assert store.concurrent_writes is False  # in memory: one shared connection
        with store.lock:
            store.upsert_account("a", "binance-usdm")
        assert [a["name"] for a in store.accounts()] == ["a"]
    finally:
        store.close()


def test_an_engine_reports_a_bad_url_like_the_store() -> None:
    with pytest.raises(InputError, match="sqlite or postgresql"):
        StoreEngine("mysql://u:p@h/db")
    with pytest.raises(StoreUnavailable):
        StoreEngine("postgresql+psycopg://u:secret@127.0.0.1:1/db")


def test_create_false_refuses_a_missing_sqlite_file_and_opens_an_existing_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    with pytest.raises(InputError, match="no SQLite database at"):
        Store(url, create=False)
    assert not (tmp_path / "kept.db").exists()
    Store(url).close()
    Store(url, create=False).close()  # it exists now
    Store("sqlite://", create=False).close()  # in memory: nothing to find
    Store(f"sqlite:///file:{tmp_path / 'kept.db'}?mode=ro&uri=true", create=False).close()  # SQLite's URI form
