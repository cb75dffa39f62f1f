"""Two services starting at once on a new store both start (the token name's serialised check
refused the second's first-start token: it exited 2, a review), and ``serve-token`` refuses an
in-memory SQLite store named through ``vfs=memdb``."""

from __future__ import annotations

import contextlib
import threading

import pytest

from levguard.live.store import Store


def test_two_services_starting_at_once_both_start(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from levguard.service import auth

    stores = [Store(store_url), Store(store_url)]
    barrier = threading.Barrier(2)
    real = Store.tokens
    results: list[object] = [None, None]

    def tokens(self: Store) -> list[dict[str, object]]:
        rows = real(self)
        if not rows and not barrier.broken:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)  # both see no token before either inserts
        return rows

    def start(i: int) -> None:
        try:
            results[i] = auth.ensure_admin_token(stores[i])
        except Exception as exc:  # the outcome under test
            results[i] = exc

    monkeypatch.setattr(Store, "tokens", tokens)
    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(isinstance(r, str) for r in results) == 1
    monkeypatch.undo()
    assert [t["name"] for t in stores[0].tokens() if not t["revoked"]] == ["first-start admin"]


def test_serve_token_refuses_a_memdb_store() -> None:
    from levguard.cli.serve import _store_problem

    problem = _store_problem("sqlite:///file:/lgmem?vfs=memdb&uri=true", existing=False)
    assert problem is not None
    assert "in-memory" in problem
