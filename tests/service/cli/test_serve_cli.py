"""``levguard serve`` and ``levguard serve-token``: the paper demo started as a real process
answers on loopback with the token it prints (once), more tokens from the command line, the
loopback default, one-line errors, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.cli.serve import is_loopback
from levguard.service.logs import JsonFormatter, configure_logging

runner = CliRunner()
URL = re.compile(r"dashboard and API: (http://127\.0\.0\.1:\d+/)")
TOKEN = re.compile(r"admin token .*: (lg_\S+)")
READY_S = 60.0


class Service:
    """A ``levguard serve`` process; its stdout lines are read by a thread."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NUMBA_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "levguard.cli.main", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._q), daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    @staticmethod
    def _pump(stream: Any, q: queue.Queue[str | None]) -> None:
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def wait_url(self) -> str:
        """The URL, once the service printed it (it does when it accepts connections)."""
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            m = URL.search(line)
            if m:
                return m.group(1)
        self.stop()
        raise AssertionError(f"no URL printed; stdout={self.lines} stderr={self.stderr[-20:]}")

    def token(self) -> str | None:
        found = [m.group(1) for line in self.lines if (m := TOKEN.search(line))]
        assert len(found) <= 1
        return found[0] if found else None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'service.db'}"


@pytest.fixture
def service(database: str) -> Iterator[Service]:
    svc = Service("--paper-demo", "--port", "0", "--database", database)
    try:
        yield svc
    finally:
        svc.stop()


def get(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 10.0
    while True:  # the URL is printed once the socket accepts; retry a refused connection anyway
        try:
            return httpx.get(url, headers=headers, timeout=10.0)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_paper_demo_prints_url_and_token_and_answers(service: Service, database: str) -> None:
    url = service.wait_url()
    token = service.token()
    assert token is not None
    assert token.startswith("lg_")
    health = get(url + "healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert get(url + "api/accounts").status_code == 401
    res = get(url + "api/accounts", token)
    assert res.status_code == 200, res.text
    assert [a["name"] for a in res.json()] == ["paper-btc"]
    assert res.headers["x-frame-options"] == "DENY"
    # --docs token (the default): the schema for a token only, no HTML pages.
    assert any(f"OpenAPI schema at {url}openapi.json with a read token" in line for line in service.lines)
    assert get(url + "openapi.json").status_code == 401
    assert "/api/accounts" in get(url + "openapi.json", token).json()["paths"]
    assert get(url + "docs").status_code == 404
    # more tokens from the command line, against the running service's database
    made = runner.invoke(app, ["serve-token", "--database", database, "--name", "ci", "--scope", "read"])
    assert made.exit_code == 0, made.output
    read_token = made.stdout.strip()
    assert read_token.startswith("lg_")
    assert read_token != token
    assert get(url + "api/accounts", read_token).status_code == 200
    assert service.stop() == 0


def test_docs_public_serves_the_pages_to_anyone(database: str) -> None:
    svc = Service("--paper-demo", "--port", "0", "--database", database, "--docs", "public", "--compute-rate", "5")
    try:
        url = svc.wait_url()
        assert any(f"API docs at {url}docs" in line for line in svc.lines)
        assert get(url + "openapi.json").status_code == 200
        page = get(url + "docs")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    finally:
        assert svc.stop() == 0


def test_docs_option_is_validated() -> None:
    res = runner.invoke(app, ["serve", "--paper-demo", "--docs", "everyone"])
    assert res.exit_code == 2


def test_token_is_printed_on_first_start_only(database: str) -> None:
    first = Service("--paper-demo", "--port", "0", "--database", database)
    try:
        first.wait_url()
        token = first.token()
        assert token is not None
    finally:
        first.stop()
    second = Service("--paper-demo", "--port", "0", "--database", database, "--json-logs")
    try:
        url = second.wait_url()
        assert second.token() is None
        assert not any(token in line for line in second.lines)
        assert any("levguard serve-token" in line for line in second.lines)
        assert get(url + "api/accounts", token).status_code == 200  # the first token still works
    finally:
        second.stop()
    time.sleep(0.2)  # let the reader thread take the last lines
    logged = [json.loads(line) for line in second.stderr if line.strip()]  # every line is JSON
    assert logged
    assert all({"ts", "level", "logger", "message"} <= set(rec) for rec in logged)
    assert any(rec["logger"].startswith("uvicorn") for rec in logged)
    assert not any("color_message" in rec for rec in logged)  # uvicorn's coloured copy is dropped


def test_config_run_serves_its_accounts_in_dry_run(tmp_path: Path) -> None:
    cfg = {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "interval_s": 0.5,
        "alerts": {"log": False},
        "accounts": [
            {
                "name": "paper-eth",
                "live": True,
                "venue": {
                    "type": "paper",
                    "wallet_balance": 5_000.0,
                    "positions": [{"symbol": "ETHUSDT", "qty": 3.0, "entry_price": 3_000.0}],
                },
                "actions": {"target_leverage": 3.0},
            }
        ],
    }
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    svc = Service(str(path), "--port", "0")
    try:
        url = svc.wait_url()
        assert "dry run" in svc.lines[0]
        assert any(f"levguard serve-token {path}" in line for line in svc.lines)
        token = svc.token()
        assert token is not None
        res = get(url + "api/accounts", token)
        assert res.status_code == 200, res.text
        assert [a["name"] for a in res.json()] == ["paper-eth"]
        status = get(url + "api/status", token)
        assert status.status_code == 200
        assert status.json()["live"] is False  # no --live: a dry run whatever the account says
    finally:
        assert svc.stop() == 0


def test_non_loopback_host_is_refused() -> None:
    res = runner.invoke(app, ["serve", "--paper-demo", "--host", "0.0.0.0"])
    assert res.exit_code == 2
    assert res.stderr.startswith("levguard: error: --host 0.0.0.0 is not a loopback address")
    assert "--allow-remote" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_busy_port_fails_before_a_token_is_made(database: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = runner.invoke(app, ["serve", "--paper-demo", "--database", database, "--port", str(port)])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"levguard: error: cannot listen on 127.0.0.1:{port}")
    from levguard.live.store import Store

    assert Store(database).tokens() == []  # the next start still prints the first admin token


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("::", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a guardian CONFIG file"),
        (["--paper-demo", "x.yaml"], "not both"),
        (["x.yaml", "--database", "sqlite://"], "--database applies to --paper-demo only"),
        (["does-not-exist.yaml"], "does not exist"),
    ],
)
def test_bad_invocations_fail_in_one_line(args: list[str], message: str) -> None:
    res = runner.invoke(app, ["serve", *args])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("levguard: error: ")
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_bad_config_fails_in_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("accounts: 3\n")
    res = runner.invoke(app, ["serve", str(cfg)])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"levguard: error: {cfg}: accounts")
    assert len(res.stderr.strip().splitlines()) == 1


def test_serve_token_needs_one_store_and_a_name(database: str) -> None:
    assert runner.invoke(app, ["serve-token", "--name", "x"]).exit_code == 2
    res = runner.invoke(app, ["serve-token", "--database", database])
    assert res.exit_code == 2
    assert "--name is required" in res.stderr
    res = runner.invoke(app, ["serve-token", "--database", database, "--name", "ops", "--scope", "admin"])
    assert res.exit_code == 0
    from levguard.live.store import Store

    rows = Store(database).tokens()
    assert [(r["name"], r["scope"]) for r in rows] == [("ops", "admin")]


def test_json_formatter_lines_parse() -> None:
    fmt = JsonFormatter()
    rec = logging.LogRecord("levguard.service", logging.WARNING, __file__, 1, "cycle %d of %s", (3, "paper"), None)
    rec.account = "paper-btc"  # as passed with extra=
    out = json.loads(fmt.format(rec))
    assert out["level"] == "WARNING"
    assert out["logger"] == "levguard.service"
    assert out["message"] == "cycle 3 of paper"
    assert out["account"] == "paper-btc"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["ts"])
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        rec = logging.LogRecord("levguard.guardian", logging.ERROR, __file__, 1, 'a "quoted" msg', (), sys.exc_info())
    line = fmt.format(rec)
    assert "\n" not in line  # one object per line, tracebacks included
    out = json.loads(line)
    assert out["message"] == 'a "quoted" msg'
    assert "ValueError: boom" in out["exc"]


def test_configure_logging_routes_levguard_loggers_as_json() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    named = {n: logging.getLogger(n).level for n in ("levguard", "uvicorn", "uvicorn.error", "uvicorn.access")}
    try:
        configure_logging(json_logs=True, stream=stream)
        logging.getLogger("levguard.guardian").info("[paper-btc] state: OK -> WARN")
        logging.getLogger("some.library").info("not shown below WARNING")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        for n, level in named.items():
            logging.getLogger(n).setLevel(level)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["[paper-btc] state: OK -> WARN"]


def test_serve_token_lists_and_revokes(tmp_path: Path) -> None:
    from levguard.live.store import Store
    from levguard.service.auth import digest

    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'tokens.db'}"
    made = runner.invoke(app, ["serve-token", "--database", db, "--name", "ops", "--scope", "admin"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    listed = runner.invoke(app, ["serve-token", "--database", db, "--list"])
    assert listed.stdout.split("\t")[:3] == ["1", "admin", "active"]
    assert token not in listed.stdout
    assert runner.invoke(app, ["serve-token", "--database", db, "--revoke", "1"]).exit_code == 0
    assert Store(db).token_by_hash(digest(token)) is None
    again = runner.invoke(app, ["serve-token", "--database", db, "--revoke", "1"])
    assert again.exit_code == 2
    assert "no active token with id 1" in again.stderr
    # A bad-input campaign (2026-12-05): --list --revoke listed and skipped the revoke, and a
    # name with a newline broke --list's one line per token.
    both = runner.invoke(app, ["serve-token", "--database", db, "--list", "--revoke", "1"])
    assert both.exit_code == 2
    assert both.stderr.strip() == "levguard: error: give --list or --revoke, not both"
    two_lines = runner.invoke(app, ["serve-token", "--database", db, "--name", "ops\nadmin"])
    assert two_lines.exit_code == 2
    assert "--name must be a non-empty string of at most 200 printable characters" in two_lines.stderr
    assert len(runner.invoke(app, ["serve-token", "--database", db, "--list"]).stdout.splitlines()) == 1


@pytest.mark.parametrize("token_id", ["0", "-1", str(10**23)])
def test_serve_token_refuses_an_id_no_token_can_have_without_touching_the_database(
    tmp_path: Path, token_id: str
) -> None:
    # `--revoke 99999999999999999999999` raised SQLite's OverflowError after creating the database.
    db = tmp_path / "tokens.db"
    r = CliRunner().invoke(app, ["serve-token", "--database", f"sqlite:///{db}", "--revoke", token_id])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"levguard: error: --revoke must be a token id (a whole number from 1 to 2**63 - 1), was {token_id}"
    ]
    assert not db.exists()


@pytest.mark.parametrize("action", [["--list"], ["--revoke", "1"]])
def test_serve_token_list_or_revoke_on_a_missing_database_creates_none(tmp_path: Path, action: list[str]) -> None:
    # A mistyped path used to create a new, empty store and list nothing (or find no token 1).
    db = tmp_path / "typo.db"
    r = CliRunner().invoke(app, ["serve-token", "--database", f"sqlite:///{db}", *action])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"levguard: error: no SQLite database at {str(db)!r} (store url sqlite:///{db})"
    ]
    assert not db.exists()


@pytest.mark.parametrize("action", [["--list"], ["--revoke", "1"]])
def test_serve_token_leaves_another_applications_database_alone(tmp_path: Path, action: list[str]) -> None:
    # Found by a bad-input campaign (2026-12-05): `--list` on an unrelated SQLite file migrated
    # levguard's 19 tables into it.
    import sqlite3

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    r = CliRunner().invoke(app, ["serve-token", "--database", f"sqlite:///{db}", *action])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"levguard: error: sqlite:///{db} is not a levguard store (it has no levguard_alembic_version table)"
    ]
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["notes"]
