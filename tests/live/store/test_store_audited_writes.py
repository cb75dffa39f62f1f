"""A write with its audit row (``audit=``) is one transaction: a refused write stores no row."""

from __future__ import annotations

import pytest

from levguard.errors import InputError
from levguard.live.store import Store


def _row(event: str) -> tuple[str | None, int, str, dict[str, object], dict[str, object], list[str]]:
    return ("a", 1, event, {"x": 1}, {"y": 2}, ["why"])


def test_a_write_and_its_audit_row_are_stored_together(store: Store) -> None:
    store.upsert_account("a", "paper")
    got = store.set_kill_switch("a", True, audit=_row("kill_switch"))
    assert isinstance(got, int)
    assert [r["id"] for r in store.audit_log(event="kill_switch")] == [got]
    assert store.set_live("a", True, audit=_row("mode")) == store.audit_log(event="mode")[0]["id"]
    assert store.set_policy("a", {"type": "fixed"}, audit=_row("policy")) == store.audit_log(event="policy")[0]["id"]
    assert store.set_kill_switch(None, True) is None  # without a row: nothing appended
    assert len(store.audit_log()) == 3


def test_a_refused_write_stores_no_audit_row(store: Store) -> None:
    for write in (
        lambda: store.set_kill_switch("nope", True, audit=_row("kill_switch")),
        lambda: store.set_live("nope", True, audit=_row("mode")),
        lambda: store.set_policy("nope", None, audit=_row("policy")),
    ):
        with pytest.raises(InputError, match="account must exist"):
            write()
    assert not store.ack_alert(12345, 1, audit=_row("alert_ack"))
    assert store.audit_log() == []
