"""Service load test: mixed reads at a fixed arrival rate against ``levguard serve --paper-demo``
on loopback (issue 9).

Run: ``.venv/bin/python bench/bench_service.py [--seconds 60] [--rate 200] [--concurrency 64]
[--json out.json]``.

Starts ``levguard serve --paper-demo`` in a subprocess (SQLite file in a temporary directory, port
chosen by the OS, loopback, the per-token limit on computed reads lifted), creates a ``read``
token with ``levguard serve-token``, warms up every route, then drives an open-loop load: request
*i* is scheduled at ``t0 + i / rate`` whatever happened to the earlier ones (no coordinated
omission: latency is measured from the scheduled time, so time spent waiting for a free connection
counts). Concurrency is bounded (``--concurrency`` connections; a request that finds
``--max-pending`` requests already waiting is dropped and counted). Routes, in a fixed shuffled
rotation of equal shares: status, accounts, positions, alerts, orders, snapshots, metrics. The
guardian keeps cycling once a second in the service meanwhile (the paper account's cycle, a
snapshot and audit row each).

Reported per route and overall: count, errors (non-200 or transport errors), p50/p99/max latency;
the achieved rate; the service process's CPU share (``/proc``; client and server share the
machine).  JSON on stdout (and in ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, cpu_seconds, pct

ACCOUNT = "paper-btc"
ROUTES: dict[str, str] = {
    "status": "/api/status",
    "accounts": "/api/accounts",
    "positions": f"/api/accounts/{ACCOUNT}/positions",
    "alerts": "/api/alerts",
    "orders": "/api/orders",
    "snapshots": f"/api/accounts/{ACCOUNT}/snapshots",
    "metrics": "/metrics",
}
URL_LINE = re.compile(r"dashboard and API: (http://\S+/)")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "levguard.cli.main", *args]


def start_service(database: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``levguard serve --paper-demo`` on a free loopback port; returns the process and its URL."""
    proc = subprocess.Popen(
        # The per-token limit on computed reads (120/min by default) is lifted: the bench times
        # the routes, not the limiter's 429s.
        _cli("serve", "--paper-demo", "--port", "0", "--database", database, "--compute-rate", str(10**9)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        m = URL_LINE.search(line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("the service did not start")


def read_token(database: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        _cli("serve-token", "--database", database, "--name", "bench", "--scope", "read"),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return out.stdout.strip()


def summary(lat: list[float], errors: int) -> dict[str, Any]:
    return {
        "count": len(lat),
        "errors": errors,
        "p50_ms": round(pct(lat, 0.50) * 1e3, 2),
        "p99_ms": round(pct(lat, 0.99) * 1e3, 2),
        "max_ms": round(max(lat) * 1e3, 2) if lat else None,
    }


async def drive(
    base: str, token: str, *, seconds: float, rate: float, concurrency: int, max_pending: int, seed: int
) -> dict[str, Any]:
    names = list(ROUTES)
    rotation = names * 8
    random.Random(seed).shuffle(rotation)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    lat: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, int] = dict.fromkeys(names, 0)
    statuses: dict[str, int] = {}
    per_second: dict[int, list[float]] = {}
    dropped = 0
    pending = 0
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30.0) as client:
        for _ in range(3):  # warm-up: connections, imports, first queries
            for path in ROUTES.values():
                (await client.get(path)).raise_for_status()

        async def one(name: str, scheduled: float) -> None:
            nonlocal pending
            try:
                async with sem:
                    try:
                        r = await client.get(ROUTES[name])
                        await r.aread()
                        code = str(r.status_code)
                    except httpx.HTTPError as exc:
                        code = type(exc).__name__
                done = time.perf_counter()
            finally:
                pending -= 1
            statuses[code] = statuses.get(code, 0) + 1
            if code != "200":
                errors[name] += 1
            lat[name].append(done - scheduled)
            per_second.setdefault(int(scheduled - t0), []).append(done - scheduled)

        n = round(seconds * rate)
        tasks: list[asyncio.Task[None]] = []
        lag_max = 0.0
        t0 = time.perf_counter() + 0.05
        for i in range(n):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag_max = max(lag_max, -delay)
            if pending >= max_pending:
                dropped += 1
                continue
            pending += 1
            tasks.append(asyncio.create_task(one(rotation[i % len(rotation)], scheduled)))
        sent_end = time.perf_counter()
        await asyncio.gather(*tasks)
        t_end = time.perf_counter()
    every = [x for v in lat.values() for x in v]
    completed = len(every)
    return {
        "scheduled": n,
        "completed": completed,
        "dropped": dropped,
        "schedule_seconds": round(sent_end - t0, 3),
        "elapsed_seconds": round(t_end - t0, 3),
        "achieved_rate": round(completed / (t_end - t0), 1),
        "max_schedule_lag_ms": round(lag_max * 1e3, 2),
        "statuses": statuses,
        "routes": {name: summary(lat[name], errors[name]) for name in names},
        "overall": summary(every, sum(errors.values()) + dropped),
        # the seconds of the run with the slowest requests (when do stalls happen?)
        "worst_seconds": [
            {"second": sec, **summary(v, 0)} for sec, v in sorted(per_second.items(), key=lambda kv: -max(kv[1]))[:5]
        ],
        "seconds_with_p99_over_50ms": sum(1 for v in per_second.values() if pct(v, 0.99) > 0.05),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    ap.add_argument("--concurrency", type=int, default=64, help="connections at most")
    ap.add_argument("--max-pending", type=int, default=1000, help="drop a request beyond this many waiting")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args()
    if args.seconds <= 0 or args.rate <= 0 or args.seconds * args.rate > 1_000_000:
        ap.error("--seconds and --rate must be positive, with at most 1,000,000 requests")
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="levguard-bench-service-") as tmp:
        database = f"sqlite:///{tmp}/bench.db"
        proc, url = start_service(database, env)
        try:
            token = read_token(database, env)
            load0 = os.getloadavg()
            cpu0, w0 = cpu_seconds(proc.pid), time.perf_counter()
            result = asyncio.run(
                drive(
                    url.rstrip("/"),
                    token,
                    seconds=args.seconds,
                    rate=args.rate,
                    concurrency=args.concurrency,
                    max_pending=args.max_pending,
                    seed=args.seed,
                )
            )
            cpu1, w1 = cpu_seconds(proc.pid), time.perf_counter()
            load1 = os.getloadavg()
            cycles = httpx.get(url + "healthz", timeout=10).json().get("cycles")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    out = {
        "benchmark": "service mixed reads, open loop (issue 9)",
        "date": dt.date.today().isoformat(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "seconds": args.seconds,
            "rate": args.rate,
            "concurrency": args.concurrency,
            "max_pending": args.max_pending,
            "routes": ROUTES,
        },
        "service_cpu_share": round((cpu1 - cpu0) / (w1 - w0), 3),
        "loadavg_1min_before_after": [round(load0[0], 2), round(load1[0], 2)],
        "guardian_cycles_at_end": cycles,
        **result,
    }
    text = json.dumps(out, indent=1)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
