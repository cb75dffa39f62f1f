"""Every start sizes with the config's policy, and GET /policy reports the policy the guardian
sizes with.

After a dry-run restart, ``GET /api/accounts/{name}/policy`` showed the policy PUT through the API
(the store keeps it) while the guardian sized with the config file's: one policy shown with
another's targets.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from levguard.cli.guard import _DEMO, build
from levguard.config.guardian import parse_guardian_config
from levguard.live.store import Store
from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token, new_token
from levguard.service.runtime import Runtime

ACCOUNT = "paper-btc"
CONFIG_POLICY = {"policy": {"type": "fixed", "leverage": 3}}
API_POLICY = {"policy": {"type": "fixed", "leverage": 5}}


def _config(tmp_path: Path, policy: Any) -> Any:
    raw = copy.deepcopy(_DEMO)
    raw["database"] = f"sqlite:///{tmp_path / 'guard.db'}"
    raw["accounts"][0]["policy"] = policy
    return parse_guardian_config(raw, "test")


def _serve(cfg: Any, *, live: bool, action: Callable[[TestClient, dict[str, str]], None]) -> dict[str, Any]:
    """Build the guardian from ``cfg`` (a start), serve it, run ``action``, return GET /policy once
    a cycle sized the position."""
    g, papers = build(cfg, live=live)
    token = ensure_admin_token(g.store) or new_token(g.store, f"admin-{time.time_ns()}", "admin")
    h = {"Authorization": f"Bearer {token}"}
    rt = Runtime(g, papers, interval_s=0.05, fast_interval_s=0.05)
    with TestClient(create_app(rt), raise_server_exceptions=False) as c:
        deadline = time.monotonic() + 20
        while g.last_reports.get(ACCOUNT, {}).get("status") != "ok":
            assert time.monotonic() < deadline, g.last_reports
            time.sleep(0.05)
        action(c, h)
        deadline = time.monotonic() + 20
        while True:
            body: dict[str, Any] = c.get(f"/api/accounts/{ACCOUNT}/policy", headers=h).json()
            targets = {p["target_leverage"] for p in body["positions"]}
            want = float(body["policy"]["policy"]["leverage"]) if body["policy"] else None
            if targets == {want} or time.monotonic() > deadline:
                return body


def _put(c: TestClient, h: dict[str, str]) -> None:
    r = c.put(f"/api/accounts/{ACCOUNT}/policy", json=API_POLICY, headers=h)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("live", [False, True], ids=["dry_run", "live"])
def test_a_start_sizes_with_the_config_and_shows_the_policy_in_use(
    tmp_path: Path, live: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The config is the source of truth at every start: an operator who lowers leverage in the
    config and restarts gets the lower leverage, even after a PUT (a review: keeping the API's
    policy across restarts ignored such an edit).  GET shows the policy the guardian sizes with."""
    cfg = _config(tmp_path, CONFIG_POLICY)
    first = _serve(cfg, live=live, action=_put)
    assert first["policy"] == API_POLICY
    assert {p["target_leverage"] for p in first["positions"]} == {5.0}
    # The restart, with the config's leverage lowered to 2.
    lowered = {"policy": {"type": "fixed", "leverage": 2}}
    with caplog.at_level("WARNING", logger="levguard.guardian"):
        again = _serve(_config(tmp_path, lowered), live=live, action=lambda c, h: None)
    assert again["policy"] == lowered
    assert {p["target_leverage"] for p in again["positions"]} == {2.0}  # sized with the policy shown
    assert any("set through the API" in r.getMessage() for r in caplog.records)
    store = Store(cfg.database, migrate=False)
    try:
        # A live start writes the config's policy; a dry run writes no shared state.
        assert store.account(ACCOUNT)["policy"] == (lowered if live else API_POLICY)  # type: ignore[index]
    finally:
        store.close()


def test_without_a_policy_set_through_the_api_the_config_is_used_and_shown(tmp_path: Path) -> None:
    """A dry run stores a new account's policy once and never overwrites it: after the config's
    policy changed, GET showed the first one while the guardian sized with the new one."""
    _serve(_config(tmp_path, CONFIG_POLICY), live=False, action=lambda c, h: None)
    edited = {"policy": {"type": "fixed", "leverage": 2}}
    body = _serve(_config(tmp_path, edited), live=False, action=lambda c, h: None)
    assert body["policy"] == edited
    assert {p["target_leverage"] for p in body["positions"]} == {2.0}


def test_a_policy_file_is_shown_by_its_content(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("policy:\n  type: fixed\n  leverage: 4\n")
    body = _serve(_config(tmp_path, str(path)), live=False, action=lambda c, h: None)
    assert body["policy"] == {"policy": {"type": "fixed", "leverage": 4.0}}
    assert {p["target_leverage"] for p in body["positions"]} == {4.0}
