"""Hypothesis property: the margin engine and the liquidation model agree where liquidation starts.

For every venue and contract kind levguard models, an isolated position evaluated by
:func:`levguard.evaluate_account` has a liquidation price; :func:`liquidation_outcome` at that
price, with the maintenance tiers the engine read (:func:`levguard.core.margin.venue_tiers`),
must close something, or the backtester, the cascade simulator and the paper venue (which call
the same kernels) would find a position "in liquidation" that nothing liquidates.

At the price itself the equity and the maintenance margin agree only up to rounding (~1e-14), so
Deribit's incremental liquidation, which closes just enough to restore equity above the
maintenance margin (reference section on Deribit's liquidation; docs/margin.md), may close
nothing there; one part in 1e9 beyond it, it closes something on every venue.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levguard
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.core.margin import venue_tiers
from levguard.core.rules import get_venue
from levguard.core.spec import account_from_spec

# A venue, one of its symbols, the contract kinds levguard models there, and whether the spec
# needs tiers (venues without built-in tiers for the symbol).
CASES = [
    ("binance-usdm", "BTCUSDT", "linear", False),
    ("binance-coinm", "BTCUSD_PERP", "inverse", False),
    ("binance-coinm", "BTCUSD_PERP", "linear", False),
    ("bybit-linear", "BTCUSDT", "linear", True),
    ("bybit-inverse", "BTCUSD", "inverse", True),
    ("okx", "BTC-USDT-SWAP", "linear", True),
    ("okx", "BTC-USD-SWAP", "inverse", True),
    ("gate", "BTC_USDT", "linear", True),
    ("gate", "BTC_USD", "inverse", True),
    ("hyperliquid", "BTC", "linear", False),
    ("dydx-v4", "BTC-USD", "linear", False),
    ("deribit", "BTC_USDC-PERPETUAL", "linear", False),
    ("bitmex", "XBTUSDT", "linear", True),
    ("bitmex", "XBTUSD", "inverse", True),
    ("generic", "BTCUSDT", "linear", True),
    ("generic", "BTCUSD", "inverse", True),
]
TIERS = [
    {"notional_floor": 0, "notional_cap": 200_000, "mmr": 0.004, "max_leverage": 50},
    {"notional_floor": 200_000, "notional_cap": 1_000_000, "mmr": 0.01, "max_leverage": 25},
    {"notional_floor": 1_000_000, "notional_cap": None, "mmr": 0.02, "max_leverage": 20},
]


@st.composite
def positions(draw: st.DrawFn) -> dict[str, float]:
    side = draw(st.sampled_from([1.0, -1.0]))
    entry = draw(st.floats(500.0, 150_000.0))
    notional = draw(st.floats(50.0, 3e6))
    leverage = draw(st.sampled_from([1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 20.0]))
    return {"side": side, "entry": entry, "notional": notional, "leverage": leverage}


def _outcome_at(venue: str, symbol: str, kind: str, needs_tiers: bool, c: dict[str, float], beyond: float) -> object:
    qty = c["side"] * (c["notional"] / c["entry"] if kind == "linear" else c["notional"])
    pos: dict[str, object] = {
        "symbol": symbol,
        "qty": qty,
        "entry_price": c["entry"],
        "mark_price": c["entry"],
        "leverage": c["leverage"],
        "margin_mode": "isolated",
        "contract_kind": kind,
    }
    if needs_tiers:
        pos["tiers"] = TIERS
    spec = {"venue": venue, "wallet_balance": 1e9, "positions": [pos]}
    try:
        report = levguard.evaluate_account(spec).positions[0]
    except levguard.InputError:
        return None  # a leverage above the venue's cap for this size: refused, as it should be
    if report.liquidation_price is None:
        return None
    # Beyond the price against the position (lower for a long, higher for a short).
    fill = report.liquidation_price * (1.0 - c["side"] * beyond)
    margin = report.margin_balance - report.unrealized_pnl
    pos["mark_price"] = fill
    position = account_from_spec(spec).positions[0]
    table = venue_tiers(get_venue(venue), position)
    return liquidation_outcome(
        venue, position.qty, c["entry"], fill, margin, tiers=table, inverse=kind == "inverse", symbol=symbol
    )


@pytest.mark.parametrize(("venue", "symbol", "kind", "needs_tiers"), CASES)
@settings(max_examples=60, deadline=None)
@given(c=positions())
def test_liquidation_at_the_engines_price_closes_something(
    venue: str, symbol: str, kind: str, needs_tiers: bool, c: dict[str, float]
) -> None:
    at = _outcome_at(venue, symbol, kind, needs_tiers, c, 0.0)
    if at is None:
        return
    if venue != "deribit":  # incremental: restores E > MM, ~nothing at the boundary itself
        assert at.closed_qty != 0.0, at  # type: ignore[attr-defined]
    beyond = _outcome_at(venue, symbol, kind, needs_tiers, c, 1e-9)
    assert beyond is not None
    assert beyond.closed_qty != 0.0, beyond  # type: ignore[attr-defined]
    # The close is part or all of the position, on its side: closed + remaining = the position.
    qty = beyond.closed_qty + beyond.remaining_qty  # type: ignore[attr-defined]
    assert qty * c["side"] > 0.0
    assert beyond.closed_qty * c["side"] > 0.0  # type: ignore[attr-defined]
    assert abs(beyond.closed_qty) <= abs(qty)  # type: ignore[attr-defined]
