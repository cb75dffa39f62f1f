"""Positions the venue's wallet does not margin (a ccxt venue's ``left_out``: a Deribit
BTC-PERPETUAL beside the USDC perpetuals) are alerted as a warning naming them, once per set
for ``alert_repeat_s``; the account is evaluated without them (every evaluation failed before:
"positions settle in BTC, USDC")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from guardian_helpers import guardian, store, venue

from levguard.venues.base import VenuePosition


def test_positions_of_another_wallet_are_alerted_not_evaluated(tmp_path: Path) -> None:
    v = venue()
    others: dict[str, str] = {"BTC/USD:BTC": "BTC"}
    read = v.fetch_positions

    async def fetch_positions() -> list[VenuePosition]:
        # As CcxtVenue.fetch_positions: the other wallet's positions left out and named.
        v.left_out = dict(others)  # type: ignore[attr-defined]
        return await read()

    v.fetch_positions = fetch_positions  # type: ignore[method-assign]
    v.settle = "USDC"  # type: ignore[attr-defined]
    s = store(tmp_path)
    g = guardian(v, s)

    async def cycles(n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(n):
            out.extend(await g.cycle())
        return out

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        await g.reconcile()
        first = await cycles(3)
        others.clear()
        await cycles(1)
        others["BTC/USD:BTC"] = "BTC"
        again = await cycles(1)
        g.flush()
        return first, again

    first, again = asyncio.run(go())
    assert [r["status"] for r in first + again] == ["ok"] * 4
    alerts = [a for a in s.alerts(account="paper", limit=100) if a["kind"] == "left_out"]
    assert len(alerts) == 2  # once for the three cycles, once more after the set was empty
    assert {a["level"] for a in alerts} == {"warning"}
    assert "outside the USDC wallet are not evaluated or protected: BTC/USD:BTC (BTC)" in alerts[0]["message"]
