"""A scheduler address whose listener is not a Dask scheduler fails fast with an InputError
naming it, and the CLI prints one line and exits 2 (found by a Dask hunt, 2026-12-07: a silent
listener hung ``Client(...)`` forever; an SSH banner raised numpy's "Unable to allocate 2.82 EiB").

Everything listens on 127.0.0.1 in this process; no network beyond it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cascade_configs import tiny, write
from levguard.cli.main import app
from levguard.errors import InputError
from levguard.parallel import CONNECT_DEADLINE, dask_client

pytest.importorskip("distributed")


@pytest.fixture
def silent() -> Iterator[str]:
    """A port that completes the TCP handshake (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def banner() -> Iterator[str]:
    """A port that talks first, like sshd."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        s.close()


def test_a_silent_listener_is_an_input_error_within_the_deadline(silent: str) -> None:
    start = time.monotonic()
    with (
        pytest.raises(InputError, match=rf"scheduler '{silent}' accepted the connection but did not answer"),
        dask_client(silent),
    ):
        pass
    assert time.monotonic() - start < CONNECT_DEADLINE + 5.0


def test_a_service_that_talks_first_is_not_a_dask_scheduler(banner: str) -> None:
    start = time.monotonic()
    with pytest.raises(InputError, match=rf"scheduler '{banner}' is not a Dask scheduler"), dask_client(banner):
        pass
    assert time.monotonic() - start < CONNECT_DEADLINE + 5.0


def test_the_cli_prints_one_line_and_exits_2_for_a_banner(tmp_path: Path, banner: str) -> None:
    cfg = tiny(tmp_path, output={"report": None, "csv": None})
    res = CliRunner().invoke(app, ["cascade", write(tmp_path, cfg), "--json", "--scheduler", banner])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert banner in lines[0]
