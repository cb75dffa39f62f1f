"""An unwind's ``repaid``: every debt token's confirmed repayments (by token, and their sum in the
assessment's value unit), 0 until one is confirmed (a dry run reports the plan as
``repaid_planned`` only).  The hand-written chains of ``test_onchain_unwind_report``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from test_onchain_unwind_report import Unwinding
from test_onchain_unwind_resume import WAD, Guardian, aave_read, weth_at

from levguard.core.defi.aave import AaveReserve
from levguard.defi.onchain import assess, unwind_plan
from levguard.live import onchain_unwind as ou
from levguard.live.onchain import HealthRules
from levguard.live.setup import AccountState, PositionState


class TwoDebts(Unwinding):
    """WETH 10 at 2,000 against 8,000 USDC and 7,800 DAI (HF 1.0443); the swapper pays at the oracle."""

    async def quote(self, read: Any, x: str, y: str, amount: int) -> int:  # type: ignore[override]
        return amount * 2_000 // 10 ** (18 - (6 if y == "USDC" else 18))


def unwind(chain: Unwinding, *, live: bool) -> dict[str, Any]:
    setup = SimpleNamespace(name="aave", venue=chain, rules=HealthRules(prefer="unwind"), unwind=unwind_plan,
                            assess=assess, live=live, cooldown_s=0.0)  # fmt: skip
    a = assess(chain.now, 1.35)
    run = ou.act(Guardian(), setup, AccountState(), PositionState(), chain.now, a, {"symbol": "WETH"}, 10**18)  # type: ignore[arg-type]
    decision = asyncio.run(run)
    assert decision is not None
    return decision


def test_repayments_of_two_debts_are_all_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each round repays the largest debt: USDC, DAI, USDC, DAI (1,000 each, what the wallet holds).
    # Before, repaid counted only the first debt (debt_symbol USDC): 2,000 of the 4,000 repaid.
    rows = (
        AaveReserve("WETH", 2_000 * 10**8, 18, 8000, 8250, collateral=10 * WAD, liquidation_bonus=10500),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=8_000 * 10**6, liquidation_bonus=10450),
        AaveReserve("DAI", 10**8, 18, 7700, 8000, debt=7_800 * WAD, liquidation_bonus=10450),
    )
    chain = TwoDebts(aave_read(rows, {}), {"WETH": 10 * WAD, "USDC": 1_000 * 10**6, "DAI": 1_000 * WAD}, quotes=[-1])
    repays: list[tuple[str, int]] = []

    async def send_one(g: Any, setup: Any, st: Any, view: Any, decision: Any, request: Any, decimals: int,
                       reasons: Any) -> dict[str, Any]:  # fmt: skip
        if request.kind == "repay":  # the chain after it: that debt lower
            repays.append((request.symbol, request.amount))
            chain.now = replace(chain.now, reserves=tuple(
                replace(r, debt=r.debt - request.amount) if r.symbol == request.symbol else r for r in chain.now.reserves
            ))  # fmt: skip
        return {"status": "closed", "kind": request.kind}

    monkeypatch.setattr(ou, "_send_one", send_one)
    decision = unwind(chain, live=True)
    assert [s for s, _ in repays] == ["USDC", "DAI", "USDC", "DAI"]
    assert decision["repaid_by_token"] == {"USDC": 2_000.0, "DAI": 2_000.0}
    assert decision["repaid"] == 4_000.0  # both at 1 USD (the oracle's base currency)
    assert decision["value_unit"] == "USD"


def test_a_dry_run_reports_nothing_repaid_and_the_plan_as_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, a dry run (nothing sent) reported repaid 2,366.91, the plan's figure, and no repaid_planned.
    legs: list[Any] = []

    async def send_one(*args: Any) -> dict[str, Any]:
        legs.append(args)
        return {"status": "closed"}

    monkeypatch.setattr(ou, "_send_one", send_one)
    decision = unwind(Unwinding(weth_at(2_000.0), {"WETH": 10 * WAD}, quotes=[-1]), live=False)
    assert legs == []
    assert decision["repaid"] == 0.0
    assert decision["repaid_by_token"] == {}
    assert decision["repaid_planned"] == 2_366.90999
