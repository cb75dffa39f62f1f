"""The stress table floors an account's equity with its options in it: a short option's liability
beyond the account's equity is the venue's bad debt, not a negative equity after (issue: option
liabilities were never bad debt; docs/risk.md §5 and §6)."""

from __future__ import annotations

from typing import Any

import pytest

from levguard.core.options.black76 import black76
from levguard.core.risk.stress import Scenario
from levguard.risk.report import risk_report

F0, WALLET, ENTRY, QTY = 61_000.0, 30_000.0, 60_500.0, 0.5

DERIBIT: dict[str, Any] = {
    "name": "deribit",
    "venue": "deribit",
    "wallet_balance": WALLET,  # USDC: the linear perpetual
    "cross_collateral": True,  # the USDC backs the BTC-settled calls (Deribit's cross collateral)
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [{"symbol": "BTC_USDC-PERPETUAL", "qty": QTY, "entry_price": ENTRY, "mark_price": F0, "leverage": 5}],
    "options": [
        {
            "underlying": "BTC",
            "kind": "call",
            "strike": 70_000,
            "t_years": 0.25,
            "qty": -5,
            "vol": 0.5,
            "settlement": "coin",
        }
    ],
}


def _call_value(forward: float) -> float:
    # Five short coin-settled calls, in USDC at the forward (Black-76, the price in BTC x forward).
    return -5.0 * float(black76("call", forward, 70_000.0, 0.25, 0.5, 0.0, "coin").price) * forward


def test_a_short_call_beyond_the_accounts_equity_is_bad_debt() -> None:
    """At +30 % the short calls lose more than the account holds: it ends at 0 and the venue takes
    the rest.  Before, equity_after was -25,477 USDC with bad_debt 0."""
    rep = risk_report(DERIBIT, vol=0.6, n_sims=100, horizons=(1,), scenarios=[Scenario("up", 0.3)])
    before = rep.exposure[0]["equity"]
    assert before == pytest.approx(WALLET + QTY * (F0 - ENTRY) + _call_value(F0), rel=1e-9)
    row = rep.stress[0]["accounts"][0]
    perp = QTY * (1.3 * F0 - F0)
    option_pnl = _call_value(1.3 * F0) - _call_value(F0)
    unfloored = before + perp + option_pnl
    assert unfloored < -25_000.0  # the case: far below zero
    assert row["option_pnl"] == pytest.approx(option_pnl, rel=1e-9)  # the options' own move, before the floor
    assert row["positions"][0]["pnl"] == pytest.approx(perp, rel=1e-12)
    assert row["equity_after"] == 0.0
    assert row["bad_debt"] == pytest.approx(-unfloored, rel=1e-9)
    assert row["pnl"] == pytest.approx(-before, rel=1e-12)
    assert before + row["pnl"] == pytest.approx(row["equity_after"], abs=1e-6)
    assert row["pnl"] - row["bad_debt"] == pytest.approx(perp + option_pnl, rel=1e-9)
    assert rep.stress[0]["total_pnl_usd"] == pytest.approx(row["pnl"], rel=1e-12)


def test_a_short_call_within_the_accounts_equity_is_not_floored() -> None:
    rep = risk_report(DERIBIT, vol=0.6, n_sims=100, horizons=(1,), scenarios=[Scenario("up", 0.05)])
    before = rep.exposure[0]["equity"]
    row = rep.stress[0]["accounts"][0]
    perp = QTY * 0.05 * F0
    option_pnl = _call_value(1.05 * F0) - _call_value(F0)
    assert before + perp + option_pnl > 0.0
    assert row["bad_debt"] == 0.0
    assert row["pnl"] == pytest.approx(perp + option_pnl, rel=1e-9)
    assert row["equity_after"] == pytest.approx(before + row["pnl"], rel=1e-12)


def test_a_venue_default_with_a_short_call_loses_the_equity_options_included() -> None:
    """A default loses everything on the venue: equity after 0, P&L minus the equity before
    (the short call's liability included), the options' value as their P&L; an account already
    below zero (options included) had that hole before the default: ``shortfall_before``, the
    venue's loss already, not the default's P&L or bad debt."""
    book = {"accounts": [DERIBIT, {"name": "hl", "venue": "hyperliquid", "wallet_balance": 1_000, "positions": []}]}
    rep = risk_report(book, vol=0.6, n_sims=100, horizons=(1,))
    before = rep.exposure[0]["equity"]
    row = next(s for s in rep.stress if s["scenario"] == "deribit default")["accounts"][0]
    assert row["defaulted"]
    assert (row["equity_after"], row["bad_debt"]) == (0.0, 0.0)
    assert row["pnl"] == pytest.approx(-before, rel=1e-12)
    assert row["option_pnl"] == pytest.approx(-_call_value(F0), rel=1e-9)
    deep = {**DERIBIT, "wallet_balance": 1_000.0}  # the calls' liability exceeds the wallet already
    rep = risk_report({"accounts": [deep, book["accounts"][1]]}, vol=0.6, n_sims=100, horizons=(1,))
    before = rep.exposure[0]["equity"]
    assert before < 0.0
    row = next(s for s in rep.stress if s["scenario"] == "deribit default")["accounts"][0]
    assert (row["equity_before"], row["pnl"], row["equity_after"], row["bad_debt"]) == (0.0, 0.0, 0.0, 0.0)
    assert row["shortfall_before"] == pytest.approx(-before, rel=1e-12)


def test_a_long_puts_value_covers_a_cross_shortfall() -> None:
    """Options are cross collateral: a long put's gain pays a cross long's loss beyond the wallet
    (before, the long's shortfall was bad debt while the puts' gain was kept)."""
    spec = {
        "name": "b",
        "venue": "deribit",
        "wallet_balance": 5_000,
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [{"symbol": "BTC_USDC-PERPETUAL", "qty": 1, "entry_price": F0, "mark_price": F0, "leverage": 20}],
        "options": [
            {
                "underlying": "BTC",
                "kind": "put",
                "strike": 55_000,
                "t_years": 0.25,
                "qty": 2,
                "vol": 0.5,
                "settlement": "usd",
            }
        ],
    }
    rep = risk_report(spec, vol=0.6, n_sims=100, horizons=(1,), scenarios=[Scenario("down", -0.3)])
    row = rep.stress[0]["accounts"][0]
    assert row["positions"][0]["pnl"] == pytest.approx(-0.3 * F0)  # beyond the 5,000 wallet
    assert row["option_pnl"] > 0.3 * F0 - 5_000  # the puts cover the shortfall
    assert row["bad_debt"] == 0.0
    assert row["pnl"] == pytest.approx(row["positions"][0]["pnl"] + row["option_pnl"], rel=1e-12)
    assert row["equity_after"] == pytest.approx(rep.exposure[0]["equity"] + row["pnl"], rel=1e-12)
