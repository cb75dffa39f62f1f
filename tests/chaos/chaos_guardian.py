"""One guardian process of the chaos harness, watching a paper venue in another process.

Run: ``.venv/bin/python tests/chaos/chaos_guardian.py --port PORT --db PATH --account NAME``
(see ``--help``).  It builds the store, registers the account as live, and runs the guardian
with a :class:`~fakes.paper_remote.RemotePaperVenue` until it is killed, its parent dies, or
``--max-lifetime-s`` passes.  The harness SIGKILLs it at random moments and starts it again on
the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakes

from fakes.paper_remote import RemotePaperVenue
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Thresholds
from levguard.live.store import Store

GUARDIAN_IDENTITY: dict[str, Any] = {"owner": "chaos-guardian"}
"""The guardian's identity keywords: the one place to adapt when the Guardian API changes
(a restart must come back as the same guardian, so it takes its lease back at once)."""

ORDER_EXPIRY_MARGIN_S = 1.0
"""How long after the venue's order expiry an order it has not seen is taken as never arrived
(passed when the Guardian has ``order_expiry_margin_s``): well above the server's 10 ms clock
lag, short enough for the harness's time budget."""

THRESHOLDS = Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.32, 0.28, 0.25), p_liq=(0.2, 0.5, 0.8))
"""ACT below 25 % distance to liquidation (about 3.9x on Binance's first BTC bracket): a long
shocked to 12x is deleveraged towards 3x in about five steps of half the excess, and leaves ACT
(distance above 27.5 % with the hysteresis) around 3.5x, well before its target."""


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="a guardian process of the chaos harness")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--account", required=True)
    p.add_argument("--client-timeout-s", type=float, default=1.0)
    p.add_argument("--target-leverage", type=float, default=3.0)
    p.add_argument("--step-fraction", type=float, default=0.5)
    p.add_argument("--cooldown-s", type=float, default=0.5)
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--interval-s", type=float, default=0.2)
    p.add_argument("--max-lifetime-s", type=float, default=120.0)
    return p.parse_args(argv)


async def watchdog(max_lifetime_s: float) -> None:
    """Exit when the harness is gone or the lifetime is over (never outlive a test run)."""
    parent = os.getppid()
    deadline = time.monotonic() + max_lifetime_s
    while time.monotonic() < deadline and os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(3)


async def main(args: argparse.Namespace) -> None:
    venue = await RemotePaperVenue.connect(args.port, timeout_s=args.client_timeout_s)
    store = Store(f"sqlite:///{args.db}")
    store.upsert_account(args.account, venue.name, live_enabled=True, policy=None)
    setup = AccountSetup(
        name=args.account,
        venue=venue,
        thresholds=THRESHOLDS,
        target_leverage=args.target_leverage,
        live=True,
        step_fraction=args.step_fraction,
        cooldown_s=args.cooldown_s,
        max_age_s=10.0,
        vol=0.8,
        retries=args.retries,
        backoff_s=0.1,
    )
    options = dict(GUARDIAN_IDENTITY)
    if "order_expiry_margin_s" in inspect.signature(Guardian).parameters:
        options["order_expiry_margin_s"] = ORDER_EXPIRY_MARGIN_S
    guardian = Guardian([setup], store, live=True, **options)
    dog = asyncio.create_task(watchdog(args.max_lifetime_s))
    try:
        await guardian.run(interval_s=args.interval_s, fast_interval_s=args.interval_s)
    finally:
        dog.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(main(parse()))
