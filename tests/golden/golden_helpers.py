"""Account evaluation shortcuts for the golden tests (a module, not the conftest: test folders are
not packages, so ``from conftest import ...`` could resolve to another folder's conftest)."""

from __future__ import annotations

from typing import Any

import levguard


def evaluate(**spec: Any) -> levguard.AccountReport:
    """Evaluate an account spec given as keyword arguments."""
    return levguard.evaluate_account(spec)


def one(venue: str, wallet: float = 0.0, mode: str = "cross", **position: Any) -> levguard.PositionReport:
    """Evaluate a one-position account and return its position report."""
    return evaluate(venue=venue, wallet_balance=wallet, margin_mode=mode, positions=[position]).positions[0]
