"""Soak: guardian processes SIGKILLed at random moments with orders in flight (issue 14).

Run: ``.venv/bin/python bench/soak_guardian_chaos.py [--trials 300] [--lanes 2] [--seed 14]
[--kills-per-episode 5] [--latency-hi 3.0] [--client-timeout-s 1.0] [--order-expiry-s 2.5]
[--workdir DIR] [--json out.json]``.

The harness of ``tests/chaos/test_guardian_chaos.py`` with more trials: paper-venue server
processes on 127.0.0.1 whose orders land 0-``latency-hi`` s after they are sent, guardian
processes killed (SIGKILL) 0.3-4 s after they start, mostly just after an order left, and
restarted on the same SQLite store.  Prints the violation counts (duplicate fills, stacked
reductions, over-reductions, orders without a write-ahead row, lost audit rows, fills the store
records as unfilled) and what happened; exits 1 when any violation was found.  A trial takes about
3-4 s; lanes run side by side (``--lanes`` server processes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "chaos"))  # the harness
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # fakes

from chaos_harness import ChaosConfig, run_chaos


def main(argv: list[str] | None = None) -> int:
    d = ChaosConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=300, help="kill-and-restart trials (default 300)")
    p.add_argument("--lanes", type=int, default=d.lanes, help=f"server processes side by side (default {d.lanes})")
    p.add_argument("--kills-per-episode", type=int, default=d.kills_per_episode)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--latency-hi", type=float, default=d.latency_s[1], help="order latency is uniform in [0, this] s")
    p.add_argument("--client-timeout-s", type=float, default=d.client_timeout_s)
    p.add_argument("--order-expiry-s", type=float, default=d.order_expiry_s)
    p.add_argument("--workdir", type=Path, help="keep logs and stores here (default: a temporary directory)")
    p.add_argument("--json", type=Path, help="write the counts and details as JSON")
    args = p.parse_args(argv)
    if args.trials < 1 or args.lanes < 1 or args.kills_per_episode < 1:
        p.error("--trials, --lanes and --kills-per-episode must be >= 1")
    cfg = ChaosConfig(
        trials=args.trials,
        lanes=args.lanes,
        kills_per_episode=args.kills_per_episode,
        seed=args.seed,
        latency_s=(0.0, args.latency_hi),
        client_timeout_s=args.client_timeout_s,
        order_expiry_s=args.order_expiry_s,
    )
    with tempfile.TemporaryDirectory(prefix="levguard-chaos-") as tmp:
        workdir = args.workdir or Path(tmp)
        result = run_chaos(cfg, workdir)
        print(result.summary())
        if args.workdir:
            print(f"logs and stores in {workdir}")
    if args.json:
        payload: dict[str, Any] = {"config": asdict(cfg), "counts": asdict(result.counts)}
        payload.update(details=result.details, wall_s=result.wall_s, episode_s=result.episode_s)
        args.json.write_text(json.dumps(payload, indent=2))
    return 1 if any(result.counts.violations().values()) else 0


if __name__ == "__main__":
    sys.exit(main())
