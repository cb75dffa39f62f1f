"""portfolio_var values an option as the change of its value in the account's currency (each value at
its own time's price), as the stress table does: 10 long BTC-settled calls in a USDC account lose
n V1 P1 - n V0 P0 = -77,441 USD at BTC -50 % (instantly), where the native P&L x P1 read -38,286."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.core.options.black76 import black76_price
from levguard.core.risk.portfolio import OptionPosition, revalue
from levguard.risk.var import portfolio_var
from levguard.risk.var_inputs import account_of

SPEC = {
    "venue": "deribit",
    "wallet_balance": 30_000,
    "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.001, "entry_price": 60_000, "mark_price": 60_000, "leverage": 5}
    ],
}
T, H = 0.3, 1.0  # years to expiry; horizon (days)


def _call(settlement: str) -> OptionPosition:
    return OptionPosition("BTC-27SEP24-60000-C", "call", 60_000.0, T, 10.0, settlement, 0.6, underlying="BTC")  # type: ignore[arg-type]


def _var(o: OptionPosition, move: float) -> float:
    # Every historical day moves BTC by ``move``: each scenario is that one move.
    returns = np.full(40, math.log(move))
    r = portfolio_var(SPEC, method="historical", returns=returns, horizon_days=H, options=[o], level=0.99)
    return float(r.var)


def _perp_pnl(move: float) -> float:
    return 0.001 * 60_000 * (move - 1.0)


@pytest.mark.parametrize("move", [0.5, 0.9, 1.3])
def test_coin_settled_option_in_usd_account_is_its_usd_value_change(move: float) -> None:
    t1 = T - H / 365
    v0 = float(black76_price("call", 60_000, 60_000, T, 0.6, settlement="coin"))
    v1 = float(black76_price("call", 60_000 * move, 60_000, t1, 0.6, settlement="coin"))
    usd_change = 10 * (v1 * 60_000 * move - v0 * 60_000)
    assert _var(_call("coin"), move) == pytest.approx(-(usd_change + _perp_pnl(move)), rel=1e-9)


@pytest.mark.parametrize("move", [0.5, 1.3])
def test_same_currency_option_agrees_with_native_pnl(move: float) -> None:
    """A USD-settled option in a USD account: both conversions are n (V1 - V0)."""
    o = _call("usd")
    acc = account_of(SPEC)
    scen = {"BTC": np.array([move])}
    pnl = revalue(acc, scen, horizon_days=H, options=[o], option_pnl="pnl").pnl[0]
    value = revalue(acc, scen, horizon_days=H, options=[o], option_pnl="value").pnl[0]
    assert pnl == pytest.approx(value, rel=1e-12)
    assert _var(o, move) == pytest.approx(-pnl, rel=1e-9)
