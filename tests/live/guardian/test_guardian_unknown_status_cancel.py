"""An order the venue holds with a status levguard does not know, past ten times its expiry limit:
cancelled by its client order id, then watched (the late watch) so that a fill of it after that is
recorded on its row and alerted ``late_order``, not taken for the venue's doing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from guardian_helpers import guardian, run_crash

from levguard.core.tiers import TierTable
from levguard.errors import VenueAuthError, VenuePermanentError
from levguard.live.store import Store
from levguard.venues.base import OrderRequest, OrderState
from levguard.venues.paper import PaperVenue, scripted_crash

HOLD_TICKS = 25  # the venue executes the held order 25 one-minute ticks after it got it (> 10 x 130 s)


class _Held(PaperVenue):
    """The first order is accepted with a status the adapter does not know and held (not
    executed) for :data:`HOLD_TICKS` ticks, then executed, unless cancelled meanwhile.
    ``cancel_error`` None: the venue cancels; else the cancel raises it."""

    held: OrderRequest | None = None
    held_tick = 0
    released = False
    cancel_error: Exception | None = None
    cancels: list[tuple[str, str, str | None]]

    async def create_order(self, request: OrderRequest) -> OrderState:
        if self.held is None:
            self.held, self.held_tick = request, self.tick
            state = OrderState(
                request.symbol, request.client_order_id, "open", 0.0, None, "paper-held", self.now_ns,
                venue_status="pending_risk_check",
            )  # fmt: skip
            self.orders[request.client_order_id] = state
            return state
        return await super().create_order(request)

    async def cancel_order(self, symbol: str, client_order_id: str, venue_order_id: str | None = None) -> None:
        self.cancels.append((symbol, client_order_id, venue_order_id))
        if self.cancel_error is not None:
            raise self.cancel_error
        if self.held is not None and client_order_id == self.held.client_order_id and not self.released:
            self.released = True  # never executed
            self.orders[client_order_id] = dataclasses.replace(
                self.orders[client_order_id], status="canceled", venue_status=None
            )

    async def step(self) -> Any:
        out = await super().step()
        if self.held is not None and not self.released and self.tick - self.held_tick >= HOLD_TICKS:
            self.released = True
            del self.orders[self.held.client_order_id]
            self._arrive(dataclasses.replace(self.held, sent_ns=0), late=True, record_rejection=True)
        return out


class _HeldPaperCancel(_Held):
    """The held order cancelled by the paper venue's own ``cancel_order`` (which turns an open
    order ``"canceled"``), not by the test double's: the guardian's cancel path end to end."""

    async def cancel_order(self, symbol: str, client_order_id: str, venue_order_id: str | None = None) -> None:
        self.cancels.append((symbol, client_order_id, venue_order_id))
        await PaperVenue.cancel_order(self, symbol, client_order_id, venue_order_id)

    async def step(self) -> Any:
        held = self.orders.get(self.held.client_order_id) if self.held is not None else None
        if held is not None and held.status == "canceled":
            self.released = True  # the venue cancelled it: never executed
        return await super().step()


def _run(tmp_path: Path, cancel_error: Exception | None, cls: type[_Held] = _Held) -> tuple[_Held, Store]:
    v = cls(
        "binance-usdm",
        feeds={"BTCUSDT": scripted_crash(60_000.0, 0.22, 120, flat=5, tail=40)},
        wallet_balance=15_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0}],
        funding_rate=0.0,
        tiers={"BTCUSDT": TierTable.from_max_leverage([(0, 100)])},
        order_expiry_s=None,
    )
    v.cancels = []
    v.cancel_error = cancel_error
    s = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    s.upsert_account("paper", "binance-usdm", live_enabled=True)
    run_crash(v, guardian(v, s))
    return v, s


def _alerts(s: Store, kind: str) -> list[dict[str, Any]]:
    return [a for a in s.alerts(account="paper", limit=10_000) if a["kind"] == kind]


def test_a_held_order_is_cancelled_at_the_limit_and_never_fills(tmp_path: Path) -> None:
    """The held order (0.747 BTC) was recorded expired but left live; it executed 25 minutes later,
    on top of the guardian's next steps: the 2.0 BTC long went to 0, alerted as a generic
    venue_change.  Now it is cancelled by its client id at the limit, recorded canceled, and the
    guardian's own steps reduce the position, which is never closed by the held order."""
    v, s = _run(tmp_path, None)
    assert v.held is not None
    cid = v.held.client_order_id
    assert v.cancels
    assert v.cancels[0][1:] == (cid, "paper-held")
    row = next(o for o in s.orders(account="paper") if o["client_order_id"] == cid)
    assert row["status"] == "canceled"
    assert row["filled"] == 0.0
    assert not [f for f in v.fills if f.client_order_id == cid]
    assert any("cancelled at the venue" in a["message"] for a in _alerts(s, "order_status"))
    assert not _alerts(s, "venue_change")
    assert sum(-f.qty for f in v.fills) < 2.0 - 1e-6  # stepped down, not closed twice over


def test_the_paper_venues_own_cancel_cancels_the_held_order(tmp_path: Path) -> None:
    """The paper venue's ``cancel_order`` (none before: the guardian alerted "the venue's adapter
    cannot cancel orders" and the held order executed later) cancels it at the limit."""
    v, s = _run(tmp_path, None, _HeldPaperCancel)
    assert v.held is not None
    cid = v.held.client_order_id
    assert v.cancels[0][1:] == (cid, "paper-held")
    assert v.calls["cancel_order"] == 1
    assert v.orders[cid].status == "canceled"
    row = next(o for o in s.orders(account="paper") if o["client_order_id"] == cid)
    assert (row["status"], row["filled"]) == ("canceled", 0.0)
    assert not [f for f in v.fills if f.client_order_id == cid]
    assert any("cancelled at the venue" in a["message"] for a in _alerts(s, "order_status"))
    assert not _alerts(s, "late_order")


def test_a_held_order_not_cancelled_is_watched_and_its_late_fill_recorded(tmp_path: Path) -> None:
    """The venue refuses the cancel: the order is taken as final (expired), the critical alert says
    it may still be live (the double reduce), and its fill 25 minutes later is recorded on its own
    row and alerted late_order (it was recorded expired with 0 filled, alerted only as a
    venue_change)."""
    v, s = _run(tmp_path, VenuePermanentError("paper venue: cancel refused (injected)"))
    assert v.held is not None
    cid = v.held.client_order_id
    fills = [f for f in v.fills if f.client_order_id == cid]
    assert fills, "the held order executed at the venue"
    row = next(o for o in s.orders(account="paper") if o["client_order_id"] == cid)
    assert row["filled"] > 0.0
    assert abs(row["filled"] - sum(-f.qty for f in fills)) < 1e-9
    critical = [a for a in _alerts(s, "order_status") if a["level"] == "critical"]
    assert critical
    assert "NOT cancelled" in critical[0]["message"]
    late = _alerts(s, "late_order")
    assert late
    assert late[0]["level"] == "critical"
    assert cid in late[0]["message"]


def test_an_auth_failure_on_the_cancel_disables_acting(tmp_path: Path) -> None:
    """An authentication failure while cancelling is not swallowed: acting is disabled, as on any
    other call."""
    v, s = _run(tmp_path, VenueAuthError("paper venue: invalid key (injected)"))
    assert v.cancels
    assert _alerts(s, "auth")
