"""A venue frozen at the positions and marks a test sets: it never liquidates and fills every
order at the mark without moving the position, so a test can hold an account anywhere, even past
levguard's liquidation price (a gap, or a venue whose own price is further away). With ``hang``
set its position reads never answer (a request that hangs until cancelled)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition


class FrozenVenue:
    """``positions``: VenuePosition keyword dicts; ``marks``: symbol -> mark (also each
    position's mark); ``clock``: UTC nanoseconds. Orders are recorded in ``orders``."""

    def __init__(self, name: str, positions: list[dict[str, Any]], wallet: float, clock: Callable[[], int]) -> None:
        self.name = name
        self.positions = positions
        self.wallet = wallet
        self.marks = {p["symbol"]: p["mark_price"] for p in positions}
        self.clock = clock
        self.orders: list[OrderRequest] = []
        self.capabilities = Capabilities(order_expiry_s=5.0)
        self.hang = False

    def move(self, symbol: str, mark: float) -> None:
        """Set the mark of ``symbol`` (and of its position)."""
        self.marks[symbol] = mark
        for p in self.positions:
            if p["symbol"] == symbol:
                p["mark_price"] = mark

    async def fetch_positions(self) -> list[VenuePosition]:
        if self.hang:
            await asyncio.Event().wait()
        return [VenuePosition(timestamp_ns=self.clock(), **p) for p in self.positions]

    async def fetch_balance(self) -> VenueBalance:
        return VenueBalance("USDT", self.wallet, self.wallet, self.clock())

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        return {s: self.marks[s] for s in symbols if s in self.marks}

    async def fetch_tiers(self, symbol: str) -> None:
        return None

    async def fetch_funding_rate(self, symbol: str) -> float:
        return 0.0

    async def create_order(self, req: OrderRequest) -> OrderState:
        self.orders.append(req)
        return OrderState(
            req.symbol,
            req.client_order_id,
            "closed",
            req.qty,
            self.marks[req.symbol],
            str(len(self.orders)),
            self.clock(),
        )

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        return None

    async def close(self) -> None:
        return None
