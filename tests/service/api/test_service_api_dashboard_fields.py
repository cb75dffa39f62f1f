"""The fields the dashboard shows: balances per account, side, entry, unrealised PnL and the
horizon of P(liq) per position, the state thresholds (issue 16)."""

from __future__ import annotations

import pytest
from service_helpers import ACCOUNT, OTHER, Service


def test_accounts_carry_their_balances(service: Service) -> None:
    accounts = service.client.get("/api/accounts", headers=service.viewer).json()
    acc = next(a for a in accounts if a["name"] == ACCOUNT)
    # The demo: 30,000 USDT wallet, a 2 BTC long entered at the (flat) mark: no unrealised PnL.
    assert acc["settlement"] == "USDT"
    assert acc["wallet_balance"] == pytest.approx(30_000.0)
    assert acc["unrealized_pnl"] == pytest.approx(0.0, abs=1e-6)
    assert acc["margin_balance"] == pytest.approx(acc["wallet_balance"] + acc["unrealized_pnl"])
    assert acc["equity"] == pytest.approx(30_000.0)
    assert 0 < acc["margin_ratio"] < 1
    for key in ("account_ratio", "account_ratio_name", "account_status", "venue_account_ratio"):
        assert acc[key] is None, key  # a single-wallet account has no unified ratio
    other = next(a for a in accounts if a["name"] == OTHER)
    for key in ("settlement", "equity", "wallet_balance", "unrealized_pnl", "margin_balance", "margin_ratio"):
        assert other[key] is None, key  # not watched: unknown, not zero


def test_positions_carry_side_entry_upnl_and_horizon(service: Service) -> None:
    body = service.client.get(f"/api/accounts/{ACCOUNT}/positions", headers=service.viewer).json()
    assert body["settlement"] == "USDT"
    assert body["wallet_balance"] == pytest.approx(30_000.0)
    assert body["margin_balance"] == pytest.approx(body["wallet_balance"] + body["unrealized_pnl"])
    assert body["horizon_days"] == 1.0
    assert body["thresholds"] == {
        "margin_ratio": [0.3, 0.5, 0.6],
        "distance": [0.2, 0.12, 0.08],
        "p_liq": [0.2, 0.5, 0.8],
    }
    (pos,) = body["positions"]
    assert pos["side"] == "long"
    assert pos["entry_price"] == pytest.approx(60_000.0)
    assert pos["unrealized_pnl"] == pytest.approx(pos["margin"]["unrealized_pnl"])
    assert pos["unrealized_pnl"] == pytest.approx(2.0 * (pos["mark"] - pos["entry_price"]))
    assert abs(pos["notional"]) == pytest.approx(2.0 * pos["mark"])
    assert pos["horizon_days"] == 1.0
    # Every field the API had before is still there.
    for key in ("symbol", "qty", "mark", "liquidation_price", "distance", "p_liq", "state", "leverage", "margin"):
        assert key in pos, key


def test_unwatched_account_positions_have_no_balances(service: Service) -> None:
    body = service.client.get(f"/api/accounts/{OTHER}/positions", headers=service.viewer).json()
    assert body["horizon_days"] is None
    assert body["thresholds"] is None
    assert body["wallet_balance"] is None
    assert body["margin_balance"] is None


def test_openapi_documents_the_new_fields(service: Service) -> None:
    schemas = service.client.get("/openapi.json", headers=service.viewer).json()["components"]["schemas"]
    for model, fields in {
        "AccountOut": (
            "equity",
            "wallet_balance",
            "margin_balance",
            "unrealized_pnl",
            "settlement",
            "account_ratio",
            "account_ratio_name",
            "venue_account_ratio",
        ),
        "PositionOut": ("side", "entry_price", "unrealized_pnl", "notional", "horizon_days"),
        "PositionsOut": (
            "wallet_balance",
            "margin_balance",
            "unrealized_pnl",
            "horizon_days",
            "thresholds",
            "account_ratio",
            "account_ratio_name",
        ),
    }.items():
        props = schemas[model]["properties"]
        for f in fields:
            assert f in props, (model, f)
