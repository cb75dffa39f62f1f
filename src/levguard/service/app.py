"""The FastAPI application: security (bearer tokens with scopes, a request body limit enforced as
the body streams in, security headers, rate limits on writes and on the expensive reads, closed
CORS), JSON errors, the API routers, metrics and the dashboard.

:func:`create_app` builds the app around a :class:`~levguard.service.runtime.Runtime` (whose
guardian loop runs, on its own thread, while the app is served).  Every route needs a bearer
token but the health check; ``read`` tokens may read, ``admin`` tokens may also write.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
import sys
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from levguard.errors import InputError, LevguardError
from levguard.live.store import StoreUnavailable
from levguard.service.auth import digest
from levguard.service.middleware import PARSE_FAILED, BodyLimit, SecurityHeaders
from levguard.service.models import HealthOut
from levguard.service.runtime import GuardianUnavailable, Runtime
from levguard.service.store_calls import RESERVED_THREADS, STORE_THREADS, STORE_TIMEOUT_S, StoreCalls, pooled_call

__all__ = [
    "DocsMode",
    "Principal",
    "create_app",
    "known_query",
    "rate_limit",
    "require_admin",
    "require_compute",
    "require_read",
]

log = logging.getLogger("levguard.service")
_bearer = HTTPBearer(auto_error=False)

#: Stream tickets a token may ask for per minute (POST /api/stream-ticket; 429 beyond).
TICKET_RATE_PER_MINUTE = 60

#: Where the API documentation is served: ``token`` (the schema at /openapi.json for a read
#: token, no HTML pages), ``off`` (nothing), ``public`` (schema, /docs and /redoc to anyone).
DocsMode = Literal["token", "off", "public"]


class Principal:
    """The caller: the token's name and scope (and its digest, for stream tickets)."""

    def __init__(self, name: str, scope: str, token_hash: str = "") -> None:
        self.name = name
        self.scope = scope
        self.token_hash = token_hash


async def principal_of(request: Request, token_hash: str) -> Principal:
    """The unrevoked token with this digest, else a 401 (503 when the store is down or does not
    answer in time: the look-up runs on a store thread of its own pool, ``tokens``, which the
    routes' reads and writes cannot take, :func:`pooled_call`)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None and cached.token_hash == token_hash:
        return cached  # looked up once per request (auth_error, then the route's dependency)
    runtime: Runtime = request.app.state.runtime
    try:
        row = await pooled_call(request, "tokens", runtime.store.token_by_hash, token_hash)
    except StoreUnavailable as exc:
        raise HTTPException(503, f"database unavailable: {exc}") from None
    if row is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    who = Principal(row["name"], row["scope"], token_hash)
    request.state.principal = who
    return who


async def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return await principal_of(request, digest(credentials.credentials))


async def require_read(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Any valid token."""
    return await _principal(request, credentials)


async def require_compute(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Any valid token; applies the rate limit of the expensive reads (margin engine, P(liq))."""
    who = await _principal(request, credentials)
    rate_limit(request.app.state.compute_rate, who, "rate limit of the computed reads")
    return who


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """An admin token; applies the write rate limit."""
    who = await _principal(request, credentials)
    if who.scope != "admin":
        raise HTTPException(403, ADMIN_ONLY)
    rate_limit(request.app.state.write_limiter, who, "write rate limit")
    return who


def rate_limit(limiter: _RateLimiter, who: Principal, what: str) -> None:
    """Count a request of ``who`` against ``limiter`` (keyed by the token's digest: two tokens
    never share a budget, whatever their names); 429 naming ``what`` beyond it."""
    if not limiter.allow(who.token_hash):
        raise HTTPException(429, f"{what}: {limiter.per_minute} per minute")


class _RateLimiter:
    """Sliding one-minute window per key, the token's digest (used on the server's loop only)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        hits = self._hits[key]
        while hits and now - hits[0] > 60.0:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return False
        hits.append(now)
        return True


def _query_names(dependant: Any) -> set[str]:
    names = {getattr(p, "alias", p.name) for p in getattr(dependant, "query_params", ())}
    for sub in getattr(dependant, "dependencies", ()):
        names |= _query_names(sub)
    return names


#: The answer (403) to a read token on a write route.
ADMIN_ONLY = "this route needs an admin token"

#: The names of the dependencies that authenticate a route (the event stream's takes a ticket too).
_AUTH_CALLS = frozenset({"require_read", "require_admin", "require_compute", "_header_or_ticket"})
_ADMIN_CALLS = frozenset({"require_admin"})

_TOKEN_IN_URL = (
    "a token in the URL is not accepted: send it in the Authorization header (the event stream "
    "takes a single-use ticket from POST /api/stream-ticket)"
)


def _needs(dependant: Any, calls: frozenset[str]) -> bool:
    # Some dependency of the route (at any depth) is one of these functions.
    if getattr(getattr(dependant, "call", None), "__name__", "") in calls:
        return True
    return any(_needs(sub, calls) for sub in getattr(dependant, "dependencies", ()))


#: The event stream's answer to a ticket that was never issued, is spent or has expired.
TICKET_REFUSED = "invalid, used or expired stream ticket"


async def auth_error(request: Request) -> HTTPException | None:
    """The 401 (or 503) a request to a route that needs a token gets before anything else about
    it is checked (its query, its body), and the 403 of a read token on a write route; or None
    (the route is public, or a token of the scope it needs is present and valid).  A stream
    ticket is not redeemed here: one the ticket book holds (issued, unspent, unexpired) stands
    for a token; any other ticket is a 401."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not _needs(dependant, _AUTH_CALLS):
        return None
    credentials = await _bearer(request)
    ticket = request.query_params.get("ticket")
    if credentials is None and ticket and request.url.path == "/api/events":
        if request.app.state.stream_tickets.holds(ticket):
            return None
        return HTTPException(401, TICKET_REFUSED, headers={"WWW-Authenticate": "Bearer"})
    try:
        who = await _principal(request, credentials)
    except HTTPException as exc:
        return exc
    if who.scope != "admin" and _needs(dependant, _ADMIN_CALLS):
        return HTTPException(403, ADMIN_ONLY)
    return None


async def known_query(request: Request) -> None:
    """Refuse query parameters the route does not take (422): a typo such as ``?limt=5`` would
    otherwise be ignored silently, as would the ``offset`` that keyset paging replaced.  A
    request without a valid token gets its 401 first."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not request.query_params:
        return
    allowed = _query_names(dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if not unknown:
        return
    if "token" in unknown:
        raise HTTPException(401, _TOKEN_IN_URL, headers={"WWW-Authenticate": "Bearer"})
    denied = await auth_error(request)
    if denied is not None:
        raise denied
    if "offset" in unknown and allowed & {"before_id", "before"}:
        raise HTTPException(422, "offset is not supported: page with before_id or before (the `next` of a page)")
    takes = ", ".join(sorted(allowed)) or "none"
    raise HTTPException(422, f"unknown query parameter(s) {', '.join(map(repr, unknown))} (this route takes: {takes})")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


class _App(FastAPI):
    """FastAPI with the body limit and the security headers outside everything else (FastAPI's
    own error middleware included, so its 500s carry the headers too)."""

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        limited = BodyLimit(inner, max_bytes=self.state.max_body_bytes, timeout_s=self.state.body_timeout_s)
        return SecurityHeaders(limited)


def create_app(
    runtime: Runtime,
    *,
    cors_origins: tuple[str, ...] = (),
    max_body_bytes: int = 64 * 1024,
    body_timeout_s: float | None = 30.0,
    write_rate_per_minute: int = 60,
    compute_rate_per_minute: int = 120,
    compute_threads: int = 2,
    store_timeout_s: float = STORE_TIMEOUT_S,
    store_threads: int = STORE_THREADS,
    docs: DocsMode = "token",
    run_guardian: bool = True,
) -> FastAPI:
    """The service app around ``runtime``.

    Parameters
    ----------
    runtime : Runtime
        The guardian loop (started on its own thread with the app when ``run_guardian``).
    cors_origins : tuple of str
        Origins allowed by CORS (none by default: the dashboard is same-origin).
    max_body_bytes : int
        Largest request body accepted (413 beyond, as soon as the count passes it).
    body_timeout_s : float or None
        Time a client has to send its whole body (408 beyond); None: no limit.
    write_rate_per_minute : int
        Write requests allowed per token and minute (429 beyond).
    compute_rate_per_minute : int
        Requests per token and minute to the routes that run the margin engine or P(liq):
        ``/api/calculate``, ``/api/accounts/{name}/positions`` and ``/risk`` (429 beyond).
    compute_threads : int
        Worker threads those computations run on at most (others wait for one).
    store_timeout_s : float
        Seconds a request waits for the store (authentication included): a free store thread and
        the call itself; 503 ``database unavailable`` beyond (a locked or hung database must not
        hold the request, nor the event loop that answers the others).
    store_threads : int
        Threads the requests' store calls run on at most, besides two reserved for the token
        look-ups and two for the kill switch's write (a hung database holds at most these + 4).
    docs : {"token", "off", "public"}
        ``token``: the OpenAPI schema at ``/openapi.json`` for a read token, no HTML pages;
        ``off``: no schema route; ``public``: the schema, ``/docs`` and ``/redoc`` to anyone.
    """
    if docs not in ("token", "off", "public"):
        raise InputError(f"docs must be token, off or public, was {docs!r}")
    if max_body_bytes < 0 or min(compute_threads, store_threads, write_rate_per_minute, compute_rate_per_minute) < 1:
        raise InputError("max_body_bytes must be >= 0, the rates, compute_threads and store_threads >= 1")
    if not store_timeout_s > 0 or store_timeout_s == float("inf"):
        raise InputError(f"store_timeout_s must be a finite number > 0, was {store_timeout_s!r}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_guardian:
            await runtime.start()
        else:
            import asyncio

            runtime.bus.bind(asyncio.get_running_loop())
        try:
            yield
        finally:
            if run_guardian:
                await runtime.stop()

    app = _App(
        title="levguard",
        version="0.1",
        description="The levguard guardian: accounts, margin, risk, alerts, actions and controls.",
        lifespan=lifespan,
        dependencies=[Depends(known_query)],
        openapi_url="/openapi.json" if docs == "public" else None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.run_guardian = run_guardian
    app.state.max_body_bytes = max_body_bytes
    app.state.body_timeout_s = body_timeout_s
    app.state.write_limiter = _RateLimiter(write_rate_per_minute)
    app.state.compute_rate = _RateLimiter(compute_rate_per_minute)
    app.state.ticket_rate = _RateLimiter(TICKET_RATE_PER_MINUTE)
    app.state.compute_threads = compute_threads
    bound = runtime.store.bounded  # the database waits no longer than the request
    app.state.store_pools = {
        "shared": StoreCalls(store_threads, store_timeout_s, bound, "store"),
        "tokens": StoreCalls(RESERVED_THREADS, store_timeout_s, bound, "store-tokens"),
        "kill_switch": StoreCalls(RESERVED_THREADS, store_timeout_s, bound, "store-kill-switch"),
    }
    app.state.store_calls = app.state.store_pools["shared"]
    app.state.docs = docs
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    _install_error_handlers(app)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Liveness (no authentication)",
        description="503 when the guardian's thread has stopped (the process should be restarted).",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "The guardian's thread stopped"}},
    )
    async def healthz() -> Any:
        if not run_guardian:
            return {"status": "ok", "cycles": runtime.cycles, "guardian": "off"}
        if runtime.running:
            return {"status": "ok", "cycles": runtime.cycles, "guardian": "running"}
        return JSONResponse({"status": "guardian stopped", "cycles": runtime.cycles, "guardian": "stopped"}, 503)

    from levguard.service.api import router
    from levguard.service.stream import StreamTickets

    app.state.stream_tickets = StreamTickets()
    app.include_router(router)
    _docs_routes(app, docs)
    app.mount("/", _Fallback(app, _dashboard()), name="dashboard")
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == PARSE_FAILED:  # valid JSON the parser gave up on
            denied = await auth_error(request)
            if denied is not None:
                return await http_error(request, denied)
            return _error(400, f"invalid JSON body: {_parse_failure(exc.__cause__)}")
        response = _error(exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        denied = await auth_error(request)  # a body or a parameter is judged for a valid token only
        if denied is not None:
            return await http_error(request, denied)
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            why = (first.get("ctx") or {}).get("error", "JSON decode error")
            pos = [p for p in first.get("loc", ()) if p != "body"]
            return _error(400, f"invalid JSON body: {why}" + (f" at position {pos[0]}" if pos else ""))
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        msg = str(first.get("msg", "invalid request")).removeprefix("Value error, ")  # our validators' own words
        return _error(422, f"{where}: {msg}".strip(": "), details=_plain(errors))

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(StoreUnavailable)
    async def store_error(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return _error(503, f"database unavailable: {exc}")

    @app.exception_handler(GuardianUnavailable)
    async def guardian_error(request: Request, exc: GuardianUnavailable) -> JSONResponse:
        return _error(503, f"guardian unavailable: {exc}")

    @app.exception_handler(LevguardError)
    async def levguard_error(request: Request, exc: LevguardError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal error (logged on the server)")


def _parse_failure(cause: BaseException | None) -> str:
    """What stopped :func:`json.loads` on a body, for ``invalid JSON body: ...``."""
    if isinstance(cause, RecursionError):
        return "nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return f"integer with more than {sys.get_int_max_str_digits()} digits"
    detail = " ".join(str(cause).split())[:200] if cause is not None else ""
    return detail or (type(cause).__name__ if cause is not None else "unreadable body")


def _plain(errors: Any) -> Any:
    from levguard.service.runtime import clean

    return clean([{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors])


# ---------------------------------------------------------------------- API documentation


def _script_hashes(html: str) -> str:
    # CSP hashes of the page's inline scripts (FastAPI's Swagger UI page has one).
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    csp = (
        f"default-src 'none'; script-src https://cdn.jsdelivr.net {_script_hashes(html)}; "
        "style-src https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
        "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
        "connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


def _docs_routes(app: FastAPI, docs: DocsMode) -> None:
    """``public``: FastAPI serves /openapi.json; add /docs and /redoc (Swagger UI and ReDoc load
    their scripts from cdn.jsdelivr.net, allowed by those pages' own CSP).  ``token``: the schema
    for a read token only."""
    if docs == "public":
        from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

        swagger = _docs_page(get_swagger_ui_html(openapi_url="/openapi.json", title="levguard API"))
        redoc = _docs_page(get_redoc_html(openapi_url="/openapi.json", title="levguard API"))

        @app.get("/docs", include_in_schema=False)
        async def swagger_ui() -> HTMLResponse:
            return swagger

        @app.get("/redoc", include_in_schema=False)
        async def redoc_ui() -> HTMLResponse:
            return redoc

    elif docs == "token":

        @app.get("/openapi.json", include_in_schema=False)
        async def openapi(who: Annotated[Principal, Depends(require_read)]) -> JSONResponse:
            return JSONResponse(app.openapi())


# ---------------------------------------------------------------------- fallback and dashboard


def _dashboard() -> ASGIApp | None:
    """The dashboard's static files shipped in the package (None when absent)."""
    static = resources.files("levguard.service").joinpath("static")
    if not static.is_dir():
        return None
    from fastapi.staticfiles import StaticFiles

    return StaticFiles(directory=str(static), html=True)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class _Fallback:
    """The last route, reached when no route matched both the path and the method.

    A path some route serves with other methods gets 405 with ``Allow`` listing them (OPTIONS
    included: CORS preflights are answered earlier by the CORS middleware when origins are
    configured); an unknown path under ``/api`` gets a JSON 404; anything else goes to the
    dashboard's static files (GET and HEAD only).
    """

    def __init__(self, app: FastAPI, static: ASGIApp | None) -> None:
        self.app = app
        self.static = static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        # The methods some other route would take this path with (asked through each route's
        # own matching, so included routers count as they route).
        others = [r for r in self.app.router.routes if getattr(r, "app", None) is not self]
        allowed = {
            method
            for method in _METHODS
            if any(r.matches({**scope, "method": method})[0] == Match.FULL for r in others)
        }
        path: str = scope["path"]
        if allowed:
            allow = ", ".join(sorted(allowed))
            raise StarletteHTTPException(
                405, f"method {scope['method']} not allowed on {path} (allowed: {allow})", headers={"Allow": allow}
            )
        if self.static is None or path == "/api" or path.startswith("/api/"):
            raise StarletteHTTPException(404, f"no route {path}")
        if "token" in parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            raise StarletteHTTPException(401, _TOKEN_IN_URL, headers={"WWW-Authenticate": "Bearer"})
        await self.static(scope, receive, send)
