"""The event stream (SSE), the calculator and the metrics."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from service_helpers import ACCOUNT, Service

import levguard

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "margin_mode": "cross",
    "wallet_balance": 10_000,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000, "mark_price": 58_000}],
}


def _read_events(
    service: Service, url: str, want: set[str], headers: dict[str, str] | None = None, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Read the stream until every kind in ``want`` arrived (cycles arrive every 50 ms, so the
    per-line deadline check always runs)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    with service.client.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("id: "):
                current["id"] = int(line[4:].rpartition("-")[2])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                events.append(current)
                current = {}
                if want <= {e["event"] for e in events}:
                    break
            if time.monotonic() > deadline:
                break
    assert want <= {e["event"] for e in events}, events
    return events


def test_shock_streams_cycle_and_alert_events(service: Service) -> None:
    r = service.client.post(
        f"/api/paper/{ACCOUNT}/shock", json={"symbol": "BTCUSDT", "drop": 0.2, "ticks": 5}, headers=service.admin
    )
    assert r.status_code == 200
    # A single-use ticket in the query string: EventSource cannot send headers.
    ticket = service.client.post("/api/stream-ticket", headers=service.viewer).json()["ticket"]
    events = _read_events(service, f"/api/events?ticket={ticket}", {"cycle", "alert"})
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)
    cycle = next(e for e in events if e["event"] == "cycle")
    assert cycle["data"][0]["account"] == ACCOUNT
    alert = next(e for e in events if e["event"] == "alert")
    assert alert["data"]["account"] == ACCOUNT
    assert alert["data"]["kind"] in ("state", "action")
    # Unsubscribed on disconnect.
    service.wait(lambda: not service.runtime.bus._subscribers)


def test_stream_auth_and_replay(service: Service) -> None:
    c = service.client
    assert c.get("/api/events").status_code == 401
    assert c.get("/api/events?ticket=st_wrong").status_code == 401
    # A token in the URL is refused, valid or not (it would end up in logs and histories).
    assert c.get(f"/api/events?token={service.viewer_token}").status_code == 401
    service.wait(lambda: service.runtime.bus.seq >= 5)
    # Reconnecting with Last-Event-ID replays the recent events after it first.
    last = service.runtime.bus.seq - 3
    events = _read_events(
        service,
        "/api/events",
        {"cycle"},
        headers={**service.viewer, "Last-Event-ID": f"{service.runtime.bus.run}-{last}"},
    )
    assert events[0]["id"] == last + 1


def test_calculator_equals_evaluate_account(service: Service) -> None:
    r = service.client.post("/api/calculate", json=SPEC, headers=service.viewer)
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(levguard.evaluate_account(SPEC).to_dict()))
    bad = {**SPEC, "venue": "nowhere"}
    r = service.client.post("/api/calculate", json=bad, headers=service.viewer)
    assert r.status_code == 400
    with pytest.raises(levguard.InputError) as exc:
        levguard.evaluate_account(bad)
    assert r.json() == {"error": str(exc.value), "status": 400}
    r = service.client.post("/api/calculate", json=[SPEC], headers=service.viewer)
    assert r.status_code == 422
    assert service.client.post("/api/calculate", json=SPEC).status_code == 401


def test_calculator_equals_evaluate_account_for_a_unified_account(service: Service) -> None:
    # The response model is derived from AccountReport: every key of to_dict comes through, the
    # unified ones included (liquidation_price_basis was dropped while the model was a copy).
    from importlib import resources

    from levguard.margin import parse_spec_text

    sample = resources.files("levguard.resources").joinpath("samples", "unified_account.yaml")
    spec = parse_spec_text(sample.read_text(encoding="utf-8"), "unified_account.yaml")
    r = service.client.post("/api/calculate", json=spec, headers=service.viewer)
    assert r.status_code == 200
    expected = json.loads(json.dumps(levguard.evaluate_account(spec).to_dict()))
    assert expected["liquidation_price_basis"]
    assert r.json() == expected


def test_metrics(service: Service) -> None:
    assert service.client.get("/metrics").status_code == 401
    r = service.client.get("/metrics", headers=service.viewer)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in (
        "levguard_cycle_seconds_bucket",
        "levguard_cycles_total",
        "levguard_accounts_by_state",
        "levguard_data_age_seconds",
    ):
        assert name in text, name
