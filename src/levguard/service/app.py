"""The FastAPI application: security (bearer tokens with scopes, request size limit, rate limit on
writes, closed CORS), JSON errors, the API routers, metrics and the dashboard.

:func:`create_app` builds the app around a :class:`~levguard.service.runtime.Runtime` (whose
guardian loop runs while the app is served).  Every route needs a bearer token but the health
check; ``read`` tokens may read, ``admin`` tokens may also write.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from levguard.errors import InputError, LevguardError
from levguard.live.store import StoreUnavailable
from levguard.service.auth import digest
from levguard.service.runtime import Runtime

__all__ = ["Principal", "create_app", "require_admin", "require_read"]

log = logging.getLogger("levguard.service")
_bearer = HTTPBearer(auto_error=False)


class Principal:
    """The caller: the token's name and scope."""

    def __init__(self, name: str, scope: str) -> None:
        self.name = name
        self.scope = scope


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    # Called on the event loop (the dependencies are async): an in-memory SQLite store has one
    # connection, which a worker thread must not use while the guardian writes.
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    runtime: Runtime = request.app.state.runtime
    try:
        row = runtime.store.token_by_hash(digest(credentials.credentials))
    except StoreUnavailable as exc:
        raise HTTPException(503, f"database unavailable: {exc}") from None
    if row is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return Principal(row["name"], row["scope"])


async def require_read(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Any valid token."""
    return _principal(request, credentials)


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """An admin token; applies the write rate limit."""
    who = _principal(request, credentials)
    if who.scope != "admin":
        raise HTTPException(403, "this route needs an admin token")
    limiter: _RateLimiter = request.app.state.write_limiter
    if not limiter.allow(who.name):
        raise HTTPException(429, f"write rate limit: {limiter.per_minute} per minute")
    return who


class _RateLimiter:
    """Sliding one-minute window per token name."""

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


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


def create_app(
    runtime: Runtime,
    *,
    cors_origins: tuple[str, ...] = (),
    max_body_bytes: int = 64 * 1024,
    write_rate_per_minute: int = 60,
    run_guardian: bool = True,
) -> FastAPI:
    """The service app around ``runtime``.

    Parameters
    ----------
    runtime : Runtime
        The guardian loop (started with the app when ``run_guardian``).
    cors_origins : tuple of str
        Origins allowed by CORS (none by default: the dashboard is same-origin).
    max_body_bytes : int
        Largest request body accepted (413 beyond).
    write_rate_per_minute : int
        Write requests allowed per token and minute (429 beyond).
    """

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

    app = FastAPI(
        title="levguard",
        version="0.1",
        description="The levguard guardian: accounts, margin, risk, alerts, actions and controls.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.write_limiter = _RateLimiter(write_rate_per_minute)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > max_body_bytes
            except ValueError:
                return _error(400, "invalid Content-Length")
            if too_big:
                return _error(413, f"request body larger than {max_body_bytes} bytes")
        elif request.method in ("POST", "PUT", "PATCH"):
            body = await request.body()
            if len(body) > max_body_bytes:
                return _error(413, f"request body larger than {max_body_bytes} bytes")
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}".strip(": "), details=_plain(exc.errors()))

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(StoreUnavailable)
    async def store_error(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return _error(503, f"database unavailable: {exc}")

    @app.exception_handler(LevguardError)
    async def levguard_error(request: Request, exc: LevguardError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal error (logged on the server)")

    @app.get("/healthz", tags=["health"], summary="Liveness (no authentication)")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "cycles": runtime.cycles}

    from levguard.service.api import router

    app.include_router(router)
    _mount_dashboard(app)
    return app


def _plain(errors: Any) -> Any:
    from levguard.service.runtime import clean

    return clean([{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors])


def _mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard (static files shipped in the package) at ``/``, when present."""
    static = resources.files("levguard.service").joinpath("static")
    if not static.is_dir():
        return
    from fastapi.staticfiles import StaticFiles

    app.mount("/", StaticFiles(directory=str(static), html=True), name="dashboard")
