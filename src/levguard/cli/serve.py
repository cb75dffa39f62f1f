"""``levguard serve CONFIG.yaml [--live]`` and ``levguard serve --paper-demo``: the guardian, its
REST API and the dashboard in one process; ``levguard serve-token``: more API tokens
(docs/service.md)."""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
from typing import Annotated, Any, Literal

import typer

from levguard.cli.guard import _fail, build
from levguard.errors import LevguardError

EXIT_START_FAILED = 1


#: ``serve-token --scope``: the scopes of an API token.
Scope = Literal["read", "admin"]
#: ``serve --docs``: who may read the API documentation (the service's ``DocsMode``).
Docs = Literal["token", "off", "public"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket (so the real port is known with ``--port 0``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        _fail(f"cannot resolve --host {host!r}: {exc.strerror}")
        raise  # unreachable
    af, kind, proto, _, addr = infos[0]
    sock = socket.socket(af, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _say(line: str) -> None:
    """The banner goes to stdout (scripts read the URL and the token there), flushed at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _token_command(config: str | None, database: str | None) -> str:
    if database is not None:
        return f"levguard serve-token --database {database} --name NAME --scope read|admin"
    return f"levguard serve-token {config} --name NAME --scope read|admin"


def serve(
    config: Annotated[str | None, typer.Argument(help="Guardian file (YAML/JSON), see docs/guardian.md.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Send reduce-only orders (accounts must also opt in).")] = False,
    paper_demo: Annotated[
        bool,
        typer.Option("--paper-demo", help="One paper account you can shock from the dashboard; no config needed."),
    ] = False,
    database: Annotated[
        str | None,
        typer.Option("--database", help="With --paper-demo: the store (default: SQLite in a temporary directory)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback unless --allow-remote).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free port).")] = 8080,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (put TLS in front of it).")
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="Origin allowed by CORS (repeat for several; none by default)."),
    ] = None,
    json_logs: Annotated[
        bool, typer.Option("--json-logs", help="Logs on stderr as JSON lines (ts, level, logger, message).")
    ] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every HTTP request.")] = False,
    docs: Annotated[
        Docs,
        typer.Option(
            "--docs",
            help="API documentation: token (the OpenAPI schema for a read token), off, or public "
            "(/openapi.json, /docs and /redoc to anyone).",
        ),
    ] = "token",
    compute_rate: Annotated[
        int,
        typer.Option(
            "--compute-rate",
            min=1,
            help="Requests per token and minute to the routes that run the margin engine "
            "(calculate, positions, risk); 429 beyond.",
        ),
    ] = 120,
) -> None:
    """Run the guardian with its web API and dashboard (dry run unless --live); prints the URL,
    and the admin token on first start."""
    if paper_demo and config is not None:
        _fail("give a CONFIG or --paper-demo, not both")
    if not paper_demo and config is None:
        _fail("give a guardian CONFIG file (docs/guardian.md) or --paper-demo")
    if database is not None and not paper_demo:
        _fail("--database applies to --paper-demo only (a CONFIG names its own database)")
    if not allow_remote and not is_loopback(host):
        _fail(
            f"--host {host} is not a loopback address: the API and its kill switch would be reachable from the "
            "network; put a TLS reverse proxy in front and pass --allow-remote to bind it anyway"
        )

    import logging
    import shutil
    import tempfile

    from levguard.config.guardian import load_guardian_file
    from levguard.service.logs import configure_logging

    cfg = None
    if config is not None:
        try:
            cfg = load_guardian_file(config)
        except LevguardError as exc:
            _fail(str(exc))
    sock = _listen(host, port)  # before the admin token exists: a busy port must not swallow it
    configure_logging(json_logs=json_logs, access_log=access_log)
    log = logging.getLogger("levguard.service")
    tmp: str | None = None
    try:
        if cfg is None:
            from levguard.service.runtime import paper_demo_runtime

            if database is None:
                tmp = tempfile.mkdtemp(prefix="levguard-serve-demo-")
                database = f"sqlite:///{tmp}/service.db"
            runtime = paper_demo_runtime(database, interval_s=1.0)
            n_accounts = len(runtime.guardian.accounts)
            mode = "paper demo: a simulated venue, orders are simulated"
        else:
            from levguard.service.runtime import Runtime

            guardian, papers = build(cfg, live=live)
            runtime = Runtime(guardian, papers, interval_s=cfg.interval_s, fast_interval_s=cfg.fast_interval_s)
            n_accounts = len(cfg.accounts)
            mode = "LIVE: orders are sent" if live else "dry run: no order is sent (use --live)"
        from levguard.service.app import create_app
        from levguard.service.auth import ensure_admin_token

        app = create_app(
            runtime, cors_origins=tuple(cors_origin or ()), docs=docs, compute_rate_per_minute=compute_rate
        )
        store = runtime.store
        _say(f"levguard service · {n_accounts} account(s) · {mode} · database {store.url_redacted}")
        token = ensure_admin_token(store)
    except LevguardError as exc:
        sock.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        _fail(str(exc))
        return
    url = _url(sock)
    if token is not None:
        _say(f"admin token (printed this once; only its hash is stored): {token}")
    # The store's URL with its password hidden: the banner ends up in terminals and logs.
    _say(f"more tokens: {_token_command(config, None if database is None else store.url_redacted)}")
    try:
        code = _run(app, sock, url, log, access_log=access_log, docs=docs)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if code:
        raise typer.Exit(code)


def _docs_hint(url: str, docs: Docs) -> str:
    if docs == "public":
        return f"API docs at {url}docs; "
    if docs == "token":
        return f"OpenAPI schema at {url}openapi.json with a read token; "
    return ""


def _run(app: Any, sock: socket.socket, url: str, log: Any, *, access_log: bool, docs: Docs = "token") -> int:
    """Serve until interrupted (SIGINT/SIGTERM stop gracefully: the guardian loop stops and the
    store is flushed); 0, or 1 when the app failed to start."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                _say(f"dashboard and API: {url}  ({_docs_hint(url, docs)}Ctrl-C to stop)")

    class _TerminatedError(Exception):
        pass

    def on_term(signum: int, frame: Any) -> None:
        raise _TerminatedError

    config = uvicorn.Config(app, log_config=None, access_log=access_log, lifespan="on", server_header=False)
    server = Server(config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal with the previous
    # handler: this one turns SIGTERM into an exception, so the caller's clean-up runs.
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:
        if exc.code:
            log.error("the service failed to start (see above)")
            return EXIT_START_FAILED
    except KeyboardInterrupt:
        return 130
    except _TerminatedError:
        return 0  # a requested stop, done gracefully
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    return 0


def _store_problem(database: str, *, existing: bool) -> str | None:
    """Why ``serve-token`` cannot use the store at ``database`` (None when it can, as far as can
    be told without opening it for writing).

    An in-memory SQLite URL names a store of this process alone (a token made there would be
    lost at exit).  To list or revoke (``existing``), a SQLite file is first inspected read-only:
    opening it as a store would write to it (an empty file became a 4,096-byte database).
    """
    import contextlib
    import os
    import sqlite3
    import urllib.parse

    from sqlalchemy.engine import make_url

    from levguard.live.store_engine import VERSION_TABLE

    try:
        url = make_url(database)
    except Exception:  # the store reports a malformed URL itself, without echoing a password
        return None
    if url.get_backend_name() != "sqlite":
        return None
    redacted = database if url.password is None else url.render_as_string(hide_password=True)
    file = url.database or ""
    if str(url.query.get("uri", "")).lower() in ("true", "1"):  # file::memory:, file:x?mode=memory
        file = file.removeprefix("file:")
    memory = str(url.query.get("mode", "")) == "memory" or str(url.query.get("vfs", "")) == "memdb"
    if file in ("", ":memory:") or memory:
        return f"{redacted} is an in-memory store of this command alone: give the service's database"
    if not existing or not os.path.isfile(file):
        return None  # a missing file is reported by the store, which does not create it then
    try:
        ro = f"file:{urllib.parse.quote(os.path.abspath(file))}?mode=ro"
        with contextlib.closing(sqlite3.connect(ro, uri=True)) as conn:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
            ).fetchone()
    except sqlite3.Error:  # not a database at all
        found = None
    if found is None:
        return f"{redacted} is not a levguard store (it has no {VERSION_TABLE} table)"
    return None


def serve_token(
    config: Annotated[str | None, typer.Argument(help="The guardian file the service runs with.")] = None,
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token (shown in the audit log).")] = "",
    scope: Annotated[Scope, typer.Option("--scope", help="read: every GET route; admin: also the writes.")] = "read",
    database: Annotated[
        str | None, typer.Option("--database", help="The store's URL instead of a CONFIG (e.g. a --paper-demo's).")
    ] = None,
    list_tokens: Annotated[
        bool, typer.Option("--list", help="List the tokens (ids, names, scopes; never the tokens).")
    ] = False,
    revoke: Annotated[int | None, typer.Option("--revoke", help="Revoke the token with this id.")] = None,
) -> None:
    """Create an API token for `levguard serve` and print it (once: only its hash is stored);
    or list the tokens, or revoke one."""
    if (config is None) == (database is None):
        _fail("give the service's CONFIG file or --database URL (one of them)")
    if list_tokens and revoke is not None:  # the revoke was skipped silently
        _fail("give --list or --revoke, not both")
    creating = not list_tokens and revoke is None
    if name and not creating:  # the name was ignored silently
        _fail("--name is for creating a token, not with --list or --revoke")
    if revoke is not None and not 0 < revoke < 2**63:  # token ids are positive int64 (SQLite INTEGER)
        _fail(f"--revoke must be a token id (a whole number from 1 to 2**63 - 1), was {revoke}")
    if creating and not name.strip():
        _fail("--name is required (who or what uses the token)")
    if creating:  # before the store is created: a newline broke --list's one line per token
        from levguard.core.validate import short_name
        from levguard.service.auth import TOKEN_NAME_MAX

        try:
            short_name(name, "--name", limit=TOKEN_NAME_MAX)
        except LevguardError as exc:
            _fail(str(exc))
    try:
        from levguard.live.store import Store
        from levguard.service.auth import new_token

        if database is None:
            from levguard.config.guardian import load_guardian_file

            assert config is not None
            database = load_guardian_file(config).database
        problem = _store_problem(database, existing=not creating)
        if problem is not None:
            _fail(problem)
        store = Store(database, create=creating)  # listing or revoking needs an existing store
        try:
            if list_tokens:
                for t in store.tokens():
                    state = "revoked" if t["revoked"] else "active"
                    _say(f"{t['id']}\t{t['scope']}\t{state}\t{t['name']}")
                return
            if revoke is not None:
                if not store.revoke_token(revoke):
                    _fail(f"no active token with id {revoke}")
                sys.stderr.write(f"token {revoke} revoked\n")
                return
            token = new_token(store, name.strip(), scope)
        finally:
            store.close()
    except LevguardError as exc:
        _fail(str(exc))
        return
    sys.stderr.write(f"{scope} token {name.strip()!r} created; printed this once, only its hash is stored\n")
    _say(token)
