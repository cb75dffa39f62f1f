"""Guardian cycle pace under an API flood (issue 14): the guardian's own thread keeps its pace
while clients flood the CPU-bound routes.

Run: ``.venv/bin/python bench/bench_service_load.py [--seconds 20] [--clients 8] [--interval 0.05]
[--json out.json]``.

A service process (this script with ``--serve``) runs the paper demo runtime under uvicorn on
127.0.0.1 (a free port, SQLite file in a temporary directory, the guardian cycling every
``--interval`` seconds on its own thread and event loop, the API on uvicorn's loop, the margin
engine of the computed routes on at most two worker threads).  The computed reads' rate limit is
lifted (``compute_rate_per_minute`` = 10**9) so the flood really reaches the CPU: the worst case.

The driver then measures two windows of ``--seconds`` each, side by side in one run:

1. **unloaded**: nothing but the guardian;
2. **flood**: ``--clients`` client *processes*, each with its own ``read`` token and keep-alive
   connection, in a closed loop over ``POST /api/calculate`` (twice: a two-position spec) and the
   reads ``/api/accounts/paper-btc/positions``, ``/risk``, ``/api/status``, ``/api/audit`` and
   ``/api/alerts``, as fast as the service answers.

For each window: the guardian's cycles (count, wall time p50/p99/max from the runtime's
``cycle_log``, the service process's own monotonic timestamps), the gaps between cycle starts
(pace), requests answered and their status codes, the service process's CPU share.  The service
dumps its cycle log when it stops (SIGTERM).  JSON on stdout (and in ``--json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import itertools
import json
import multiprocessing as mp
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, cpu_seconds, pct

ACCOUNT = "paper-btc"
SPEC = {
    "venue": "binance-usdm",
    "margin_mode": "cross",
    "wallet_balance": 10_000,
    "positions": [
        {"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000, "mark_price": 58_000},
        {"symbol": "ETHUSDT", "qty": -4.0, "entry_price": 3_000, "mark_price": 3_100},
    ],
}
FLOOD: list[tuple[str, str]] = [
    ("POST", "/api/calculate"),
    ("GET", f"/api/accounts/{ACCOUNT}/positions"),
    ("POST", "/api/calculate"),
    ("GET", f"/api/accounts/{ACCOUNT}/risk"),
    ("GET", "/api/status"),
    ("GET", "/api/audit?limit=100"),
    ("GET", "/api/alerts"),
]


# ---------------------------------------------------------------------- the service process


def serve(database: str, interval_s: float, clients: int, log_path: str) -> None:
    """Run the paper demo service; print one JSON line (port, tokens); dump the cycle log at exit."""
    import socket

    import uvicorn

    from levguard.service.app import create_app
    from levguard.service.auth import ensure_admin_token, new_token
    from levguard.service.runtime import paper_demo_runtime

    runtime = paper_demo_runtime(database, interval_s=interval_s)
    ensure_admin_token(runtime.store)
    tokens = [new_token(runtime.store, f"bench-{i}", "read") for i in range(clients)]
    app = create_app(runtime, compute_rate_per_minute=10**9)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)

    async def announce() -> None:
        sys.stdout.write(json.dumps({"port": port, "tokens": tokens}) + "\n")
        sys.stdout.flush()

    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets=sockets)
        await announce()

    server.startup = startup  # type: ignore[method-assign]

    class StoppedError(Exception):
        pass

    def on_term(signum: int, frame: Any) -> None:
        raise StoppedError  # uvicorn re-raises SIGTERM after its graceful shutdown

    signal.signal(signal.SIGTERM, on_term)
    try:
        server.run(sockets=[sock])
    except StoppedError:
        pass
    finally:
        Path(log_path).write_text(json.dumps({"cycle_log": list(runtime.cycle_log), "cycles": runtime.cycles}))


# ---------------------------------------------------------------------- flood clients


def client(port: int, token: str, until: float, out: Any) -> None:
    """Closed-loop requests over one keep-alive connection until ``until`` (monotonic)."""
    body = json.dumps(SPEC).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while time.monotonic() < until:
        method, path = FLOOD[i % len(FLOOD)]
        i += 1
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body if method == "POST" else None, headers=headers)
            res = conn.getresponse()
            res.read()
            code = str(res.status)
        except (OSError, http.client.HTTPException) as exc:
            code = type(exc).__name__
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - t0)
        statuses[code] = statuses.get(code, 0) + 1
    conn.close()
    out.put({"statuses": statuses, "latencies": latencies})


# ---------------------------------------------------------------------- driver


def window(log: list[list[float]], t0: float, t1: float) -> dict[str, Any]:
    """Cycles that started in [t0, t1): count, wall time and the gaps between their starts."""
    rows = [(s, w) for s, w in log if t0 <= s < t1]
    walls = [w for _, w in rows]
    starts = [s for s, _ in rows]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    return {
        "cycles": len(rows),
        "cycles_per_s": round(len(rows) / (t1 - t0), 2),
        "wall_p50_ms": round(pct(walls, 0.5) * 1e3, 2),
        "wall_p99_ms": round(pct(walls, 0.99) * 1e3, 2),
        "wall_max_ms": round(max(walls) * 1e3, 2) if walls else None,
        "gap_p50_ms": round(pct(gaps, 0.5) * 1e3, 2),
        "gap_p99_ms": round(pct(gaps, 0.99) * 1e3, 2),
        "gap_max_ms": round(max(gaps) * 1e3, 2) if gaps else None,
        "gaps_over_150ms_at_s": [round(a - t0, 2) for a, b in itertools.pairwise(starts) if b - a > 0.15],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each window")
    ap.add_argument("--clients", type=int, default=8, help="flood client processes")
    ap.add_argument("--interval", type=float, default=0.05, help="guardian interval (s)")
    ap.add_argument("--json", dest="json_out", default=None)
    ap.add_argument("--serve", nargs=2, metavar=("DATABASE", "LOG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.interval, args.clients, args.serve[1])
        return
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="levguard-bench-load-") as tmp:
        log_path = f"{tmp}/cycles.json"
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                f"sqlite:///{tmp}/bench.db",
                log_path,
                "--interval",
                str(args.interval),
                "--clients",
                str(args.clients),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            hello = json.loads(proc.stdout.readline())
            port, tokens = hello["port"], hello["tokens"]
            time.sleep(2.0)  # warm-up: first cycles, imports
            # Warm every route once (numba compilation, first queries) before measuring.
            out: Any = mp.get_context("spawn").Queue()
            client(port, tokens[0], time.monotonic() + 1.0, out)
            out.get()

            cpu0, u0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(args.seconds)
            cpu1, u1 = cpu_seconds(proc.pid), time.monotonic()

            ctx = mp.get_context("spawn")
            results = ctx.Queue()
            f0 = time.monotonic() + 3.0  # the clients start together, once spawned
            f1 = f0 + args.seconds
            procs = [ctx.Process(target=_flood, args=(port, tokens[i], f0, f1, results)) for i in range(args.clients)]
            for p in procs:
                p.start()
            while time.monotonic() < f0:
                time.sleep(0.01)
            cpu2 = cpu_seconds(proc.pid)
            while time.monotonic() < f1:
                time.sleep(0.05)
            cpu3 = cpu_seconds(proc.pid)
            flood = [results.get(timeout=60) for _ in procs]
            for p in procs:
                p.join(timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log = json.loads(Path(log_path).read_text())["cycle_log"]
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    for r in flood:
        latencies.extend(r["latencies"])
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    result = {
        "benchmark": "guardian cycle pace under an API flood (issue 14)",
        "date": dt.date.today().isoformat(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "seconds": args.seconds,
            "clients": args.clients,
            "interval_s": args.interval,
            "flood": FLOOD,
            "service_threads": "uvicorn loop + guardian thread (own loop) + <= 2 compute threads",
        },
        "unloaded": {**window(log, u0, u1), "service_cpu_share": round((cpu1 - cpu0) / (u1 - u0), 3)},
        "flood": {
            **window(log, f0, f1),
            "service_cpu_share": round((cpu3 - cpu2) / (f1 - f0), 3),
            "requests": len(latencies),
            "requests_per_s": round(len(latencies) / args.seconds, 1),
            "statuses": statuses,
            "request_p50_ms": round(pct(latencies, 0.5) * 1e3, 2),
            "request_p99_ms": round(pct(latencies, 0.99) * 1e3, 2),
        },
    }
    text = json.dumps(result, indent=1)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    sys.stdout.write(text + "\n")


def _flood(port: int, token: str, start: float, until: float, out: Any) -> None:
    while time.monotonic() < start:
        time.sleep(0.005)
    client(port, token, until, out)


if __name__ == "__main__":
    main()
