"""Live updates (Server-Sent Events) and the Prometheus metrics.

``GET /api/events`` streams the runtime's event bus: every guardian cycle (``event: cycle``, the
per-account reports), every alert (``event: alert``) and the API's own changes (``event:
control``), as ``id:``/``event:``/``data:`` frames, with a keep-alive comment every 15 s.  A
client reconnecting with ``Last-Event-ID`` first gets the recent events it missed.

Authentication: the browser's ``EventSource`` cannot send an ``Authorization`` header, so this
route (and only this one) also accepts the token as ``?token=``.  A token in a URL can end up in
server and proxy logs and the browser history, which is why no other route accepts it; the
dashboard should prefer a read-scope token for the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from levguard.service.app import Principal, _bearer
from levguard.service.deps import Read, read_scope, runtime_of
from levguard.service.models import ERROR_RESPONSES

__all__ = ["KEEPALIVE_S", "router"]

router = APIRouter()

#: Seconds between keep-alive comments on an idle stream (proxies close silent connections).
KEEPALIVE_S = 15.0


async def _read_header_or_query(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None, Query(max_length=200, description="The bearer token, for EventSource (no headers)")
    ] = None,
) -> Principal:
    if credentials is None and token:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    return await read_scope(request, credentials)


def _frame(event: dict[str, Any]) -> bytes:
    data = json.dumps(event["data"], separators=(",", ":"), allow_nan=False)
    return f"id: {event['id']}\nevent: {event['kind']}\ndata: {data}\n\n".encode()


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
    who: Annotated[Principal, Depends(_read_header_or_query)],
    last_event_id: Annotated[str | None, Header(max_length=30)] = None,
) -> StreamingResponse:
    bus = runtime_of(request).bus
    try:
        after = int(last_event_id) if last_event_id else None
    except ValueError:
        after = None
    keepalive = float(getattr(request.app.state, "sse_keepalive_s", KEEPALIVE_S))

    async def stream() -> AsyncIterator[bytes]:
        queue = bus.subscribe()  # before the replay: nothing published in between is lost
        sent = after if after is not None else 0
        try:
            yield b"retry: 3000\n\n"
            if after is not None:
                for event in [e for e in list(bus.recent) if e["id"] > after]:
                    sent = event["id"]
                    yield _frame(event)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=keepalive)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                if event["id"] <= sent:
                    continue  # already replayed
                yield _frame(event)
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
        "levguard_data_age_seconds.  Needs a read token (configure Prometheus's "
        "`authorization` with it)."
    ),
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, who: Read) -> Response:
    rt = runtime_of(request)
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
