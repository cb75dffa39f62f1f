"""A paper account through a scripted crash, and a guardian watching it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Level, Thresholds
from levguard.live.store import Store
from levguard.venues.paper import PaperVenue, scripted_crash


async def _no_sleep(_s: float) -> None:
    return None


def venue(*, drop: float = 0.25, ticks: int = 60, qty: float = 2.0, wallet: float = 12_000.0, **kw: Any) -> PaperVenue:
    """A 10x-ish cross BTC long of ``qty`` at 60,000 with ``wallet``; the mark falls ``drop``."""
    feed = scripted_crash(60_000.0, drop, ticks, flat=5, tail=20)
    return PaperVenue(
        "binance-usdm",
        feeds={"BTCUSDT": feed},
        wallet_balance=wallet,
        positions=[{"symbol": "BTCUSDT", "qty": qty, "entry_price": 60_000.0}],
        funding_rate=0.0,
        **kw,
    )


def store(tmp_path: Path, *, live: bool = True, name: str = "paper") -> Store:
    s = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    s.upsert_account(name, "binance-usdm", live_enabled=live)
    return s


def guardian(
    v: PaperVenue, s: Store, *, live: bool = True, account_live: bool = True, name: str = "paper", **setup: Any
) -> Guardian:
    acc = AccountSetup(
        name=name,
        venue=v,
        thresholds=Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.2, 0.12, 0.08), p_liq=(0.2, 0.5, 0.8)),
        target_leverage=setup.pop("target_leverage", 3.0),
        live=account_live,
        act_level=setup.pop("act_level", Level.ACT),
        cooldown_s=setup.pop("cooldown_s", 0.0),
        max_age_s=setup.pop("max_age_s", 120.0),
        vol=setup.pop("vol", 0.8),
        retries=setup.pop("retries", 2),
        backoff_s=0.0,
        **setup,
    )
    # A lease far longer than the paper venue's one-minute ticks, as in production (30 s leases,
    # 1-5 s cycles): renewals keep the epoch, so state kept in memory is exercised, not reloaded.
    return Guardian([acc], s, live=live, clock=lambda: v.now_ns, owner="test", sleep=_no_sleep, lease_ttl_s=3_600.0)


def run_crash(v: PaperVenue, g: Guardian | None, steps: int | None = None) -> list[dict[str, Any]]:
    """Alternate guardian cycles and venue ticks until the feed ends."""

    async def go() -> list[dict[str, Any]]:
        reports: list[dict[str, Any]] = []
        if g is not None:
            await g.reconcile()
        n = 0
        while not v.exhausted and (steps is None or n < steps):
            if g is not None:
                reports.extend(await g.cycle())
            await v.step()
            n += 1
        if g is not None:
            g.flush()
        return reports

    return asyncio.run(go())
