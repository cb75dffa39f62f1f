"""Refused credentials on every read (a revoked key): the account backs off, growing to a cap,
and writes a ``cycle_error`` audit row once per error or per ``cycle_audit_every_s``, not once
per cycle; the pause is at most a minute (a key that works again is read within it), an operator's
re-enable ends it at once, and the first read that succeeds resets it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fakes.frozen_venue import FrozenVenue
from levguard.errors import VenueAuthError
from levguard.live import passes
from levguard.live.alerts import Alerter
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.store import Store, StoreUnavailable

NOW = 1_700_000_000 * 10**9


class Revocable(FrozenVenue):
    """A venue whose key can be revoked (every read refused) and restored."""

    revoked = True
    reads = 0

    async def fetch_positions(self) -> Any:
        self.reads += 1
        if self.revoked:
            raise VenueAuthError("binanceusdm fetch_positions failed: AuthenticationError: -2015 Invalid API-key")
        return await super().fetch_positions()


def _setup(tmp_path: Path) -> tuple[Revocable, Store, Guardian, list[int]]:
    now = [NOW]
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("acct", "binance-usdm", live_enabled=True)
    pos = [{"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 60_000.0}]
    v = Revocable("binance-usdm", pos, 10_000.0, lambda: now[0])
    acc = AccountSetup("acct", v, live=True, venue_bars=False, vol=0.8, backoff_s=0.5)
    g = Guardian([acc], s, live=True, alerter=Alerter([]), clock=lambda: now[0], owner="A")
    return v, s, g, now


def _cycles(g: Guardian, now: list[int], n: int, step_s: float = 5.0) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        reports = []
        for _ in range(n):
            (r,) = await g.cycle()
            reports.append(r)
            now[0] += int(step_s * 1e9)
        g.flush()
        return reports

    return asyncio.run(run())


def test_a_revoked_key_backs_off_and_is_audited_at_the_routine_rate(tmp_path: Path) -> None:
    v, s, g, now = _setup(tmp_path)
    _cycles(g, now, 720)  # one hour at 5 s cycles
    # Was: 720 reads and 720 cycle_error rows (no backoff for auth). Pauses of 0.5 s doubling to
    # 60 s: 4 reads inside the first cycles' interval, then 8..32 s, then one per 60 s (a read a
    # pass after each pause: every 60 s at 5 s passes): 66.
    assert 55 <= v.reads <= 70, v.reads
    rows = s.audit_log(account="acct", event="cycle_error", limit=10_000)
    assert 1 <= len(rows) <= 3_600 / g.cycle_audit_every_s + 5, len(rows)
    assert max(r["decision"]["backoff_s"] for r in rows) == passes.AUTH_MAX_BACKOFF_S
    assert len([a for a in s.alerts(account="acct") if a["kind"] == "auth"]) == 1  # one critical alert
    assert g.disabled("acct") is not None


def test_the_backoff_ends_with_a_re_enable_or_a_read(tmp_path: Path) -> None:
    v, s, g, now = _setup(tmp_path)
    _cycles(g, now, 60)
    assert g.last_reports["acct"]["status"] == "backoff"
    v.revoked = False
    s.set_disabled("acct", None, now[0])  # an operator re-enables it (levguard guard-enable, another process)
    (r,) = _cycles(g, now, 1)
    assert r["status"] == "ok"
    assert g.disabled("acct") is None
    assert g._state["acct"].errors == 0
    # A new revocation is audited again at once (the error is new since the account read).
    v.revoked = True
    reads, rows = v.reads, len(s.audit_log(account="acct", event="cycle_error", limit=10_000))
    _cycles(g, now, 1)
    assert v.reads == reads + 1
    assert len(s.audit_log(account="acct", event="cycle_error", limit=10_000)) == rows + 1


def test_the_failure_backoff_never_overflows(tmp_path: Path) -> None:
    _, _, g, _ = _setup(tmp_path)
    setup = g.accounts[0]
    assert passes.failure_backoff(g, setup, "retryable", 1) == 0.5
    assert passes.failure_backoff(g, setup, "retryable", 5_000) == g.max_backoff_s  # 2.0 ** 4999 overflowed
    assert passes.failure_backoff(g, setup, "auth", 5_000) == passes.AUTH_MAX_BACKOFF_S


def test_a_key_that_works_again_is_read_within_the_longest_pause(tmp_path: Path) -> None:
    v, _, g, now = _setup(tmp_path)
    _cycles(g, now, 120)  # refused for 10 minutes, no re-enable
    v.revoked = False  # the key works again on the venue
    reports = _cycles(g, now, 30)
    first = next((i for i, r in enumerate(reports) if r["status"] != "backoff"), None)
    # Was 240 s here (pauses up to 300 s; up to 300 s + one interval in the worst case).
    assert first is not None, [r["status"] for r in reports]
    assert first * 5.0 <= passes.AUTH_MAX_BACKOFF_S, first
    assert reports[first]["status"] == "ok"
    assert g._state["acct"].errors == 0


@pytest.mark.parametrize("via", ["api", "store"])
def test_a_key_still_refused_after_a_re_enable_is_audited_again(tmp_path: Path, via: str) -> None:
    _, s, g, now = _setup(tmp_path)
    _cycles(g, now, 1)
    if via == "api":
        g.enable_account("acct", by="ops")  # the service's POST .../enable
    else:
        s.set_disabled("acct", None, now[0])  # levguard guard-enable from another process
    now[0] += 5 * 10**9
    (r,) = _cycles(g, now, 1)
    assert r["status"] == "disabled"
    assert r["backoff_s"] == 0.5  # the count started again
    events = [row["event"] for row in s.audit_log(account="acct", limit=100)[::-1]]
    # Was: cycle_error, enabled (disabled again at once with no row saying why).
    assert events == ["cycle_error", "enabled", "cycle_error"], events


def test_a_cycle_error_row_the_store_failed_is_written_by_the_next_failure(tmp_path: Path) -> None:
    _, s, g, now = _setup(tmp_path)
    real, down = s.audit, [True]

    def audit(*a: Any, **k: Any) -> Any:
        if down[0] and a[2] == "cycle_error":
            raise StoreUnavailable("database is locked")
        return real(*a, **k)

    s.audit = audit  # type: ignore[method-assign]
    _cycles(g, now, 1)
    down[0] = False
    _cycles(g, now, 1)
    # Was 0: the lost row counted as written and the error unaudited for cycle_audit_every_s.
    assert len(s.audit_log(account="acct", event="cycle_error", limit=100)) == 1


def test_a_failure_of_another_class_starts_the_count_again(tmp_path: Path) -> None:
    v, _, g, now = _setup(tmp_path)
    v.revoked = False
    boom = [True]
    read = v.fetch_positions

    async def buggy() -> Any:
        if boom[0]:
            raise KeyError("positionAmt")  # an unforeseen answer: class unknown
        return await read()

    v.fetch_positions = buggy  # type: ignore[method-assign]
    _cycles(g, now, 120)  # ten minutes of unknown failures: their pause at its cap
    assert g._state["acct"].errors > 10
    boom[0], v.revoked = False, True
    reports = [r for r in _cycles(g, now, 20) if r["status"] == "disabled"]
    # Was 300 s for the first refused read (the unknown failures' count carried over).
    assert reports[0]["backoff_s"] == 0.5, reports[0]
    assert g._state["acct"].errors == len(reports)
