"""A position left out as unlisted (its market unknown to the venue's adapter) shares the cross
wallet: its loss and maintenance margin, as the venue reports them, are counted in the account's
figures, so the listed positions are judged as the venue judges the account; without figures the
alert says the account's margin figures exclude it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from guardian_helpers import guardian

from levguard.core.tiers import TierTable
from levguard.live.store import Store
from levguard.venues.base import UNLISTED, VenuePosition
from levguard.venues.paper import PaperVenue, scripted_crash


class _Unlisted(PaperVenue):
    """ETHUSDT read as CcxtVenue reads a position whose market it does not list: left out
    (``left_out``: UNLISTED), with the venue's own PnL and maintenance margin when ``figures``."""

    figures = True

    async def fetch_positions(self) -> list[VenuePosition]:
        ps = await super().fetch_positions()
        self.left_out = {p.symbol: UNLISTED for p in ps if p.symbol == "ETHUSDT"}
        eth = [p for p in ps if p.symbol == "ETHUSDT"]
        self.unlisted_figures = {}
        for p in eth:  # 0.5 % maintenance (the 100x tier), as the paper venue's own engine
            pnl = p.qty * (p.mark_price - p.entry_price) if self.figures else None
            mm = abs(p.qty) * p.mark_price * 0.005 if self.figures else None
            self.unlisted_figures[p.symbol] = {"unrealized_pnl": pnl, "maintenance_margin": mm, "margin_mode": "cross"}
        return [p for p in ps if p.symbol != "ETHUSDT"]


def _run(tmp_path: Path, figures: bool) -> tuple[list[tuple[float | None, Any, int]], Store]:
    v = _Unlisted(
        "binance-usdm",
        feeds={
            "BTCUSDT": scripted_crash(60_000.0, 0.001, 10, flat=5, tail=5),
            "ETHUSDT": scripted_crash(3_000.0, 0.30, 10, flat=5, tail=5),
        },
        wallet_balance=10_000.0,
        positions=[
            {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0},
            {"symbol": "ETHUSDT", "qty": 30.0, "entry_price": 3_000.0},
        ],
        funding_rate=0.0,
        tiers={"BTCUSDT": TierTable.from_max_leverage([(0, 100)]), "ETHUSDT": TierTable.from_max_leverage([(0, 100)])},
    )
    v.figures = figures
    s = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    s.upsert_account("paper", "binance-usdm", live_enabled=True)
    g = guardian(v, s)
    seen: list[tuple[float | None, Any, int]] = []  # (venue's ratio, guardian's ratio, guardian's level)

    async def go() -> None:
        await g.reconcile()
        while not v.exhausted:
            truth = v.evaluate()
            report = (await g.cycle())[0]
            if report.get("positions"):
                seen.append((truth.margin_ratio, report["positions"][0]["margin_ratio"], report["level"]))
            await v.step()
        g.flush()

    asyncio.run(go())
    return seen, s


def test_the_unlisted_positions_loss_and_margin_are_in_the_accounts_figures(tmp_path: Path) -> None:
    """ETH (unlisted) fell 10 %: the venue's margin ratio went 0.075 -> 0.829 and the account was
    liquidated; the guardian read 0.030 throughout (BTC alone against the whole wallet), stayed at
    WARN and sent no order.  Now its ratio is the venue's, it reaches ACT and reduces BTC."""
    seen, s = _run(tmp_path, figures=True)
    assert seen
    for venue_ratio, ours, _ in seen:
        assert venue_ratio is not None
        assert abs(ours - venue_ratio) < 1e-9 * max(1.0, venue_ratio)
    assert max(level for _, _, level in seen) == 3
    assert s.orders(account="paper")
    left = [a for a in s.alerts(account="paper", limit=1000) if a["kind"] == "left_out"]
    assert "are counted in the account's margin figures" in left[0]["message"]


def test_without_the_venues_figures_the_alert_says_the_account_excludes_them(tmp_path: Path) -> None:
    _, s = _run(tmp_path, figures=False)
    left = [a for a in s.alerts(account="paper", limit=1000) if a["kind"] == "left_out"]
    assert left
    assert "the account's margin figures EXCLUDE ETHUSDT" in left[0]["message"]
