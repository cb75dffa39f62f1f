"""The paper service the API tests drive (a module, not the conftest: test folders are not
packages, so ``from conftest import ...`` could resolve to another folder's conftest)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token, new_token
from levguard.service.runtime import Runtime, paper_demo_runtime

ACCOUNT = "paper-btc"
OTHER = "unwatched"


@dataclass
class Service:
    client: TestClient
    runtime: Runtime
    admin: dict[str, str]
    viewer: dict[str, str]
    viewer_token: str

    def wait(self, what: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
        """Poll ``what()`` until it is truthy (the guardian runs in the app's loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = what()
            if got:
                return got
            time.sleep(step)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _service(**app_kwargs: Any) -> Iterator[Service]:
    rt = paper_demo_runtime("sqlite://", interval_s=0.05)
    admin = ensure_admin_token(rt.store)
    assert admin is not None
    viewer = new_token(rt.store, "viewer", "read")
    # An account the guardian does not watch (stored before the app starts: the in-memory
    # database is shared by one connection, so the test thread must not write while it runs).
    rt.store.upsert_account(OTHER, "binance-usdm")
    with TestClient(create_app(rt, **app_kwargs), raise_server_exceptions=False) as client:
        svc = Service(client, rt, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {viewer}"}, viewer)
        svc.wait(lambda: rt.guardian.last_reports.get(ACCOUNT, {}).get("status") == "ok")
        yield svc
