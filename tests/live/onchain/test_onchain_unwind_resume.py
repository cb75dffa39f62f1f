"""An unwind step resumed from the journal (:func:`levguard.live.onchain_unwind.resume`) with a
hand-written chain: the legs it sends and the decision it returns when the step's collateral was
withdrawn in full (the reads no longer carry it) or its debt is not the largest.  The real
contracts: tests/evm/test_onchain_unwind.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from levguard.core.defi.aave import AaveReserve
from levguard.defi.onchain import assess, unwind_plan
from levguard.live import onchain_unwind as ou
from levguard.live.onchain import HealthRules
from levguard.live.setup import AccountState, PositionState
from levguard.venues.onchain import OnchainVenue
from levguard.venues.onchain_read import AaveRead

WAD = 10**18
ADDR = "0x" + "11" * 20
OLD = "0x" + "22" * 20


def aave_read(reserves: tuple[AaveReserve, ...], balances: dict[str, int], paused: tuple[str, ...] = ()) -> AaveRead:
    return AaveRead(
        wallet=ADDR, payer=ADDR, pool=ADDR, oracle=ADDR, block_number=1, block_timestamp=1, read_ns=0,
        version="3.0", reserves=reserves, emode=None, emode_id=0, chain_health_factor=0,
        chain_total_collateral_base=0, chain_total_debt_base=0, assets={r.symbol: ADDR for r in reserves},
        oracles=(), balances=balances, allowances={}, paused=paused,
    )  # fmt: skip


class Chain(OnchainVenue):
    """The paying wallet's tokens, a swapper quoting ``quote`` and the read every leg returns."""

    def __init__(self, read: AaveRead, held: dict[str, int], quote: int | None = None) -> None:
        self.name, self.signer = "aave-v3", object()  # a key: live
        self.swapper = SimpleNamespace(spender=ADDR)  # type: ignore[assignment]
        self.now, self.held, self.quoted = read, held, quote

    async def read(self) -> AaveRead:  # type: ignore[override]
        return self.now

    async def holdings(self, read: Any, symbol: str, spender: str) -> tuple[int, int]:  # type: ignore[override]
        return self.held.get(symbol, 0), 2**255

    async def quote(self, read: Any, x: str, y: str, amount: int) -> int:  # type: ignore[override]
        return amount if self.quoted is None else self.quoted

    def _tx(self, kind: str, symbol: str, amount: int) -> Any:
        return SimpleNamespace(kind=kind, symbol=symbol, amount=amount)

    def repay(self, read: Any, symbol: str, amount: int) -> Any:  # type: ignore[override]
        return self._tx("repay", symbol, amount)

    def approve(self, read: Any, symbol: str, amount: int, spender: str | None = None) -> Any:  # type: ignore[override]
        return self._tx("approve", symbol, amount)

    def swap(self, read: Any, x: str, y: str, amount: int, min_out: int) -> Any:  # type: ignore[override]
        return self._tx("swap", x, amount)


class Store:
    def kill_switch(self, name: str) -> bool:
        return False

    def account(self, name: str) -> dict[str, Any]:
        return {"live_enabled": True}


class Guardian:
    live = True

    def __init__(self) -> None:
        self.store = Store()
        self.audits: list[tuple[str, Any]] = []
        self.alerts: list[str] = []

    def _audit(self, account: str, event: str, inputs: Any, decision: Any, reasons: list[str]) -> None:
        self.audits.append((event, reasons))

    async def _alert(self, account: Any, level: str, kind: str, message: str, **data: Any) -> bool:
        self.alerts.append(message)
        return True

    async def _call(self, setup: Any, what: str, fn: Any, *, retry: bool = True) -> Any:
        return await fn()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int, int]]:
    # Every leg sent (kind, symbol, amount, decimals), each confirmed.
    legs: list[tuple[str, str, int, int]] = []

    async def send_one(g: Any, setup: Any, st: Any, view: Any, decision: Any, request: Any, decimals: int,
                       reasons: Any) -> dict[str, Any]:  # fmt: skip
        legs.append((request.kind, request.symbol, request.amount, decimals))
        return {"status": "closed", "kind": request.kind}

    monkeypatch.setattr(ou, "_send_one", send_one)
    return legs


def resume(chain: Chain, pending: ou.Pending) -> tuple[dict[str, Any], Guardian]:
    g = Guardian()
    setup = SimpleNamespace(name="aave", venue=chain, rules=HealthRules(prefer="unwind"), unwind=unwind_plan,
                            assess=assess, live=True, cooldown_s=0.0)  # fmt: skip
    a = assess(chain.now, 1.35)
    st, ps, view = AccountState(), PositionState(), {"symbol": "OLD"}
    run = ou.resume(g, setup, st, ps, chain.now, a, view, 10**18, pending, more=False)  # type: ignore[arg-type]
    decision = asyncio.run(run)
    return decision, g


# All 1,000 OLD (decimals 18, LTV 0) withdrawn and sold for 990 USDC: the reads carry WETH and USDC.
ROWS = (
    AaveReserve("WETH", 2_000 * 10**8, 18, 8000, 8250, collateral=10 * WAD, liquidation_bonus=10500),
    AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=15_500 * 10**6, liquidation_bonus=10450),
)
SALE = ou.Pending("swap", "OLD", "USDC", 1_000 * WAD, 990 * 10**6, "unwind-1", OLD, 18)


def test_a_resumed_repayment_of_a_collateral_withdrawn_in_full_closes_the_step(sent: list[Any]) -> None:
    # The process died between the sale and the repayment: the repayment is sent and the decision
    # is returned (it raised "symbol must be one of the position's reserves, was 'OLD'" after it).
    read = aave_read(ROWS, {"USDC": 990 * 10**6})
    decision, g = resume(Chain(read, {"USDC": 990 * 10**6}), replace(SALE, leg="repay"))
    assert sent == [("repay", "USDC", 990 * 10**6, 6)]
    assert (decision["status"], decision["rounds_done"], decision["filled"]) == ("closed", 1, 0.0)
    assert decision["qty"] == 1_000.0
    assert g.alerts == []


@pytest.mark.parametrize(
    ("held", "quote", "why"),
    [
        ({"OLD": 1_000 * WAD}, 0, "swap_quote"),  # the swapper quotes below min_out: nothing sold
        ({}, None, "no longer in the paying wallet"),  # the OLD left the wallet: the step closes
    ],
)
def test_a_resumed_sale_not_sent_returns_its_decision(
    sent: list[Any], held: dict[str, int], quote: int | None, why: str
) -> None:
    read = aave_read(ROWS, {})
    decision, g = resume(Chain(read, held, quote), SALE)
    assert sent == []
    assert decision["status"] == "skipped"
    assert why in str(decision.get("skipped", "")) + str(decision.get("stopped", ""))
    assert decision["filled"] == 0.0
    closed = [e for e, _ in g.audits if e == "onchain_unwind_closed"]
    assert len(closed) == (0 if quote == 0 else 1)  # a refused quote leaves the step open


def test_a_resumed_repayment_is_sized_by_its_own_debt_when_no_plan_is_possible(sent: list[Any]) -> None:
    # OLD2 (LTV 0, paused) is still held: after the OLD left, no collateral may leave and the plan
    # is empty (its repay_cap 0); the 990 USDC of the sale are repaid all the same (the step was
    # closed "no USDC in the paying wallet to repay with", the USDC left in the wallet).
    old2 = AaveReserve("OLD2", 10**8, 18, 0, 7000, collateral=100 * WAD, liquidation_bonus=11000)
    read = aave_read((ROWS[0], old2, ROWS[1]), {"USDC": 990 * 10**6}, paused=("OLD2",))
    assert unwind_plan(read, ou.UnwindParams(1.35, 1.05, 0.01, 4)).rounds == ()
    decision, g = resume(Chain(read, {"USDC": 990 * 10**6}), replace(SALE, leg="repay"))
    assert sent == [("repay", "USDC", 990 * 10**6, 6)]
    assert decision["status"] == "closed"
    assert g.alerts == []


def test_a_resumed_repayment_of_a_smaller_debt_is_capped_by_that_debt(sent: list[Any]) -> None:
    # The step sold OLD for DAI, the smaller of two debts: its repayment takes the 100 DAI owed
    # (it was capped by the largest debt's 15,500 USDC in USDC units: 1.55e-8 DAI).
    dai = AaveReserve("DAI", 10**8, 18, 7500, 8000, debt=100 * WAD, liquidation_bonus=10500)
    read = aave_read((*ROWS, dai), {"DAI": 990 * WAD})
    decision, _ = resume(Chain(read, {"DAI": 990 * WAD}), replace(SALE, leg="repay", debt="DAI", min_out=990 * WAD))
    assert sent == [("repay", "DAI", 100 * WAD, 18)]
    assert decision["status"] == "closed"


def test_a_resumed_repayment_of_a_paused_debt_closes_the_step_and_says_why(sent: list[Any]) -> None:
    read = aave_read(ROWS, {"USDC": 990 * 10**6}, paused=("USDC",))
    decision, g = resume(Chain(read, {"USDC": 990 * 10**6}), replace(SALE, leg="repay"))
    assert sent == []
    assert decision["stopped"] == "no USDC debt the protocol lets repay (none, or paused)"
    assert len(g.alerts) == 1
