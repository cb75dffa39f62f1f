"""Live updates (Server-Sent Events), their single-use tickets, and the Prometheus metrics.

``GET /api/events`` streams the runtime's event bus: every guardian cycle (``event: cycle``, the
per-account reports), every alert (``event: alert``) and the API's own changes (``event:
control``), as ``id:``/``event:``/``data:`` frames, with a keep-alive comment every 15 s.  An
event id is ``<run>-<seq>``: the service run's start (ns) and the event's number in that run.  A
client reconnecting with ``Last-Event-ID`` first gets the recent events it missed; an id of
another run (the service restarted) or of none, e.g. a number, gets every recent event the
service still holds, then the live ones.

The stream's token is checked again every 5 s while events flow (and at each keep-alive): once it
is revoked the stream ends.

Authentication: an ``Authorization: Bearer`` header, or a stream ticket.  The browser's
``EventSource`` cannot send headers, so a page first asks ``POST /api/stream-ticket`` (with its
token in the header) for a ticket, then opens ``/api/events?ticket=...``.  A ticket is random,
single-use, valid for 30 s, kept in memory as its SHA-256 digest only and tied to the token that
asked for it (revoking the token voids its tickets); every reconnection needs a new one.  A token
has at most 16 tickets outstanding and may ask for 60 a minute (429 beyond).  The token itself
never goes into a URL (``?token=`` is not accepted).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from levguard.service.app import TICKET_REFUSED, Principal, _bearer, principal_of, rate_limit
from levguard.service.auth import digest
from levguard.service.deps import Read, read_scope, runtime_of
from levguard.service.models import ERROR_RESPONSES, ErrorOut, StreamTicketOut

__all__ = ["KEEPALIVE_S", "RECHECK_GRACE_S", "RECHECK_S", "TICKET_TTL_S", "StreamTickets", "router"]

router = APIRouter()

#: Seconds between keep-alive comments on an idle stream (proxies close silent connections).
KEEPALIVE_S = 15.0
#: Seconds a stream ticket stays valid.
TICKET_TTL_S = 30.0
#: Tickets outstanding at most (issued, neither used nor expired); 429 beyond.
MAX_TICKETS = 1024
#: Tickets outstanding per token at most (one token cannot take the whole book); 429 beyond.
MAX_TICKETS_PER_TOKEN = 16
#: Seconds between checks that an open stream's token is still valid (revoked: the stream ends).
RECHECK_S = 5.0
#: Seconds an open stream outlives re-checks the store cannot answer (503): a store that stays
#: unavailable that long ends it (the token may have been revoked meanwhile); a revoked or
#: expired token (401/403) ends it at once.
RECHECK_GRACE_S = 60.0


class StreamTickets:
    """Single-use, short-lived tickets for the event stream, kept in memory as digests.

    Used on the server's event loop only.
    """

    def __init__(
        self, ttl_s: float = TICKET_TTL_S, max_outstanding: int = MAX_TICKETS, per_token: int = MAX_TICKETS_PER_TOKEN
    ) -> None:
        self.ttl_s = float(ttl_s)
        self.max_outstanding = int(max_outstanding)
        self.per_token = int(per_token)
        self._tickets: dict[str, tuple[float, str]] = {}  # digest -> (expiry, digest of the token)

    def __len__(self) -> int:
        return len(self._tickets)

    def _purge(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._tickets.items() if expires <= now]:
            del self._tickets[key]

    def issue(self, token_hash: str) -> str:
        """A new ticket for the token with this digest (429 when too many are outstanding, for
        this token or in all)."""
        now = time.monotonic()
        self._purge(now)
        if sum(1 for _, owner in self._tickets.values() if owner == token_hash) >= self.per_token:
            raise HTTPException(
                429, f"too many stream tickets outstanding for this token ({self.per_token}); retry shortly"
            )
        if len(self._tickets) >= self.max_outstanding:
            raise HTTPException(429, f"too many stream tickets outstanding ({self.max_outstanding}); retry shortly")
        ticket = "st_" + secrets.token_urlsafe(24)
        self._tickets[digest(ticket)] = (now + self.ttl_s, token_hash)
        return ticket

    def holds(self, ticket: str) -> bool:
        """The ticket is outstanding (issued, not spent, not expired); it is not spent here."""
        entry = self._tickets.get(digest(ticket))
        return entry is not None and entry[0] > time.monotonic()

    def redeem(self, ticket: str) -> str | None:
        """The digest of the token a valid ticket was issued to; the ticket is spent.  None when
        it is unknown, spent or expired."""
        entry = self._tickets.pop(digest(ticket), None)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]


def tickets_of(request: Request) -> StreamTickets:
    """The app's ticket book (``app.state.stream_tickets``, made by ``create_app``)."""
    book: StreamTickets = request.app.state.stream_tickets
    return book


async def _header_or_ticket(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[
        str | None, Query(max_length=200, description="A ticket from POST /api/stream-ticket (single use, 30 s)")
    ] = None,
) -> Principal:
    if credentials is None and ticket:
        token_hash = tickets_of(request).redeem(ticket)
        if token_hash is None:
            raise HTTPException(401, TICKET_REFUSED, headers={"WWW-Authenticate": "Bearer"})
        return await principal_of(request, token_hash)
    return await read_scope(request, credentials)


@router.post(
    "/api/stream-ticket",
    tags=["live"],
    summary="A single-use ticket (30 s) to open the event stream without a token in the URL",
    response_model=StreamTicketOut,
    responses={
        **ERROR_RESPONSES,
        429: {"model": ErrorOut, "description": "Too many tickets outstanding, or asked for too often"},
    },
)
async def stream_ticket(request: Request, who: Read) -> dict[str, Any]:
    rate_limit(request.app.state.ticket_rate, who, "stream ticket rate limit")
    book = tickets_of(request)
    return {"ticket": book.issue(who.token_hash), "expires_in_s": book.ttl_s}


def _frame(run: str, event: dict[str, Any]) -> bytes:
    data = json.dumps(event["data"], separators=(",", ":"), allow_nan=False)
    return f"id: {run}-{event['id']}\nevent: {event['kind']}\ndata: {data}\n\n".encode()


def _resume_after(last_event_id: str | None, run: str, seq: int) -> int | None:
    """The event number to replay after: the ``Last-Event-ID``'s, when it names an event of this
    run that was sent; 0 (everything still held) for an id of another run, of the future or
    malformed (a non-ASCII digit such as ``²`` included); None (live only) without one."""
    if not last_event_id:
        return None
    head, sep, tail = last_event_id.rpartition("-")
    if sep and head == run and tail.isascii() and tail.isdigit() and int(tail) <= seq:
        return int(tail)
    return 0


async def _still_valid(request: Request, token_hash: str) -> bool | None:
    """The stream's token is still valid: True; revoked (401/403): False; unknown, the store not
    answering within the app's ``store_timeout_s`` (503; the look-up runs on a store thread, not
    on the event loop): None."""
    try:
        await principal_of(request, token_hash)
    except HTTPException as exc:
        if exc.status_code in (401, 403):
            return False
        return None
    return True


class _Recheck:
    """An open stream's token re-checks: ``ok()`` False once the token is revoked, or once the
    store has not answered them for ``grace_s`` (:data:`RECHECK_GRACE_S`)."""

    def __init__(self, request: Request, token_hash: str, grace_s: float) -> None:
        self.request, self.token_hash, self.grace_s = request, token_hash, grace_s
        self.checked = time.monotonic()
        self.unsure_since: float | None = None

    async def ok(self) -> bool:
        # Each re-check is a request of its own: a fresh look-up with a fresh store deadline.
        self.request.state.principal = self.request.state.store_deadline = None
        valid = await _still_valid(self.request, self.token_hash)
        now = time.monotonic()
        self.checked = now
        if valid is None:  # the store did not answer: keep the stream, within the grace
            self.unsure_since = self.unsure_since or now
            return now - self.unsure_since < self.grace_s
        self.unsure_since = None
        return valid


@router.get(
    "/api/events",
    tags=["live"],
    summary="Live events (Server-Sent Events): cycle, alert, control",
    description=__doc__,
    response_class=StreamingResponse,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "An event stream"},
    },
)
async def events(
    request: Request,
    who: Annotated[Principal, Depends(_header_or_ticket)],
    last_event_id: Annotated[str | None, Header(max_length=60)] = None,
) -> StreamingResponse:
    bus = runtime_of(request).bus
    run = bus.run
    after = _resume_after(last_event_id, run, bus.seq)
    keepalive = float(getattr(request.app.state, "sse_keepalive_s", KEEPALIVE_S))
    recheck = float(getattr(request.app.state, "sse_recheck_s", RECHECK_S))
    token = _Recheck(request, who.token_hash, float(getattr(request.app.state, "sse_grace_s", RECHECK_GRACE_S)))

    async def stream() -> AsyncIterator[bytes]:
        queue = bus.subscribe()  # before the replay: nothing published in between is lost
        sent = after if after is not None else 0
        try:
            yield b"retry: 3000\n\n"
            if after is not None:
                for event in [e for e in list(bus.recent) if e["id"] > after]:
                    sent = event["id"]
                    yield _frame(run, event)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=keepalive)
                except TimeoutError:
                    if await request.is_disconnected() or not await token.ok():
                        return
                    yield b": keep-alive\n\n"
                    continue
                if time.monotonic() - token.checked >= recheck and not await token.ok():
                    return  # a revoked token's stream ends
                if event["id"] <= sent:
                    continue  # already replayed
                yield _frame(run, event)
        finally:
            bus.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/metrics",
    tags=["metrics"],
    summary="Prometheus metrics (text exposition format)",
    description=(
        "levguard_cycle_seconds (histogram), levguard_cycles_total, levguard_accounts_by_state, "
        "levguard_alerts_total, levguard_actions_total, levguard_venue_errors_total, "
        "levguard_data_age_seconds, levguard_cycle_errors_total.  Needs a read token (configure Prometheus's "
        "`authorization` with it)."
    ),
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, who: Read) -> Response:
    rt = runtime_of(request)
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
