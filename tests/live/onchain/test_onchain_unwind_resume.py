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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levguard.core.defi.aave import AaveReserve
from levguard.core.defi.morpho import Market, Position
from levguard.defi.onchain import assess, unwind_plan
from levguard.live import onchain_unwind as ou
from levguard.live.onchain import HealthRules
from levguard.live.setup import AccountState, PositionState
from levguard.venues.onchain import OnchainVenue
from levguard.venues.onchain_read import AaveRead, MorphoRead

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
        self.min_outs: list[int] = []  # of the sales built

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
        self.min_outs.append(min_out)
        return self._tx("swap", x, amount)

    def supply(self, read: Any, symbol: str, amount: int) -> Any:  # type: ignore[override]
        return self._tx("supply", symbol, amount)


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


def test_a_resumed_sale_of_a_collateral_gone_from_the_wallet_closes_the_step(sent: list[Any]) -> None:
    read = aave_read(ROWS, {})
    decision, g = resume(Chain(read, {}, None), SALE)
    assert sent == []
    assert decision["status"] == "skipped"
    assert "no longer in the paying wallet" in decision["stopped"]
    assert decision["filled"] == 0.0
    assert [e for e, _ in g.audits if e == "onchain_unwind_closed"] == ["onchain_unwind_closed"]


def test_a_resumed_sale_the_swapper_refuses_supplies_the_collateral_back(sent: list[Any]) -> None:
    # The OLD left the Aave read (withdrawn in full, unpriced): the journal's min_out stands; the
    # swapper quotes 0: the 1,000 OLD go back to the pool and the step closes (it stayed open, the
    # OLD idle in the wallet, every cycle resuming the refused sale).
    read = aave_read(ROWS, {})
    decision, g = resume(Chain(read, {"OLD": 1_000 * WAD}, 0), SALE)
    assert sent == [("supply", "OLD", 1_000 * WAD, 18)]
    assert (decision["skipped"], decision["supplied_back"], decision["min_out"]) == (
        "swap_quote", str(1_000 * WAD), str(990 * 10**6)
    )  # fmt: skip
    assert [e for e, _ in g.audits if e == "onchain_unwind_closed"] == ["onchain_unwind_closed"]
    (alert,) = g.alerts
    assert "below the 990000000" in alert
    assert "1000 OLD withdrawn by unwind step unwind-1" in alert
    assert "supplied back to the position" in alert
    assert "nothing withdrawn" not in alert


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


# The hunt's case: 1 WETH withdrawn at 2,000 USD, its sale journaled with min_out 1,980 USDC (the
# oracle less max_slippage 1 %); the price then moves before the sale is resumed.
WETH_SALE = ou.Pending("swap", "WETH", "USDC", 1 * WAD, 1_980 * 10**6, "unwind-1", ADDR, 18)


def weth_at(price: float) -> AaveRead:
    rows = (
        AaveReserve("WETH", round(price * 10**8), 18, 8000, 8250, collateral=9 * WAD, liquidation_bonus=10500),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=14_000 * 10**6, liquidation_bonus=10450),
    )
    return aave_read(rows, {"WETH": 1 * WAD})


@pytest.mark.parametrize("price", [1_990.0, 1_950.0, 1_900.0, 1_850.0])
def test_a_resumed_sale_is_priced_at_the_oracle_of_now(sent: list[Any], price: float) -> None:
    # A quote 0.5 % under the oracle of now is sold (min_out: that oracle less 1 %); the journal's
    # 1,980 refused it at every price below 2,000 and the WETH stayed idle (HF 1.05 -> 0.98).
    quote = int(price * 0.995 * 10**6)
    chain = Chain(weth_at(price), {"WETH": 1 * WAD, "USDC": quote}, quote)
    decision, _ = resume(chain, WETH_SALE)
    assert sent[0] == ("swap", "WETH", 1 * WAD, 18)
    assert chain.min_outs == [int(price * 10**6) * 99 // 100]
    assert "skipped" not in decision
    assert "supplied_back" not in decision
    assert sent[-1] == ("repay", "USDC", quote, 6)


def test_a_resumed_sale_below_the_oracle_of_now_is_refused_though_it_met_the_journal(sent: list[Any]) -> None:
    # WETH rose to 2,100: 1,990 USDC met the journal's 1,980 but is 5 % under the oracle: refused,
    # the WETH supplied back.
    chain = Chain(weth_at(2_100.0), {"WETH": 1 * WAD}, 1_990 * 10**6)
    decision, g = resume(chain, WETH_SALE)
    assert chain.min_outs == []
    assert sent == [("supply", "WETH", 1 * WAD, 18)]
    assert decision["min_out"] == str(2_079 * 10**6)
    assert "below the 2079000000" in g.alerts[-1]
    assert "supplied back" in g.alerts[-1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    price=st.floats(100.0, 100_000.0),
    journaled=st.integers(0, 10**15),
    withdrawn=st.integers(1, 10**20),
    held=st.integers(1, 10**20),
)
def test_the_sales_min_out_is_the_oracle_of_now_whatever_the_journal(
    sent: list[Any], price: float, journaled: int, withdrawn: int, held: int
) -> None:
    # Invariant: the min_out of a resumed sale is UnwindPlan.sale_min_out at the read of now, for
    # the amount sold (the least of the amount withdrawn and the wallet's), the journal aside.
    read = weth_at(price)
    chain = Chain(read, {"WETH": held}, 2**200)
    resume(chain, replace(WETH_SALE, withdrawn=withdrawn, min_out=journaled))
    amount = min(withdrawn, held)
    plan = unwind_plan(read, ou.params(SimpleNamespace(rules=HealthRules(prefer="unwind")), 1.35))  # type: ignore[arg-type]
    assert chain.min_outs == [plan.sale_min_out("WETH", "USDC", amount)]
    assert chain.min_outs[0] == amount * round(price * 10**8) * 99 // (100 * 10**8 * 10**12)


def test_a_supply_back_not_confirmed_leaves_the_step_open_and_says_the_collateral_is_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def send_one(g: Any, setup: Any, st: Any, view: Any, decision: Any, request: Any, decimals: int,
                       reasons: Any) -> dict[str, Any]:  # fmt: skip
        return {"status": "rejected" if request.kind == "supply" else "closed", "kind": request.kind}

    monkeypatch.setattr(ou, "_send_one", send_one)
    decision, g = resume(Chain(weth_at(1_900.0), {"WETH": 1 * WAD}, 0), WETH_SALE)
    assert "supplied_back" not in decision
    assert not [e for e, _ in g.audits if e == "onchain_unwind_closed"]
    (alert,) = g.alerts
    assert "1 WETH withdrawn by unwind step unwind-1 back was not confirmed" in alert
    assert "protect nothing" in alert


def test_a_resumed_morpho_sale_is_priced_at_the_oracle_of_now(sent: list[Any]) -> None:
    # The same path serves Morpho: the sale at the market's oracle of now (1,900 USDC per WETH,
    # ``price / 1e36``) less 1 %; refused there, the WETH goes back with supplyCollateral.
    market = Market(10**15, 10**15 * 10**6, 14_000 * 10**6, 14_000 * 10**12)
    read = MorphoRead(
        wallet=ADDR, payer=ADDR, morpho=ADDR, market_id="0x" + "ab" * 32,
        market_params=(ADDR, ADDR, ADDR, ADDR, 86 * 10**16), block_number=1, block_timestamp=1, read_ns=0,
        market=market, market_stored=market, last_update=1, fee=0, position=Position(14_000 * 10**12, 9 * WAD),
        supply_shares=0, oracle_price=1_900 * 10**24, lltv=86 * 10**16, loan_symbol="USDC", collateral_symbol="WETH",
        loan_decimals=6, collateral_decimals=18, oracles=(), balances={"WETH": 1 * WAD}, allowances={},
    )  # fmt: skip
    chain = Chain(read, {"WETH": 1 * WAD, "USDC": 1_890 * 10**6}, 1_890 * 10**6)  # type: ignore[arg-type]
    decision, _ = resume(chain, WETH_SALE)
    assert chain.min_outs == [1_881 * 10**6]
    assert sent[:2] == [("swap", "WETH", 1 * WAD, 18), ("repay", "USDC", 1_890 * 10**6, 6)]
    sent.clear()
    chain = Chain(read, {"WETH": 1 * WAD}, 1_880 * 10**6)  # type: ignore[arg-type]
    decision, g = resume(chain, WETH_SALE)
    assert sent == [("supply", "WETH", 1 * WAD, 18)]
    assert decision["supplied_back"] == str(1 * WAD)
    assert "supplied back" in g.alerts[-1]


class Journal:
    """The store's journal as open_step reads it: unwind legs, newest first, and their orders."""

    def __init__(self, legs: list[tuple[str, str]]) -> None:
        self.rows = [
            {"id": 10 - i, "decision": {"client_order_id": f"c{i}", "unwind": {**WETH_SALE.to_dict(), "leg": leg}}}
            for i, (leg, _) in enumerate(legs)
        ]
        self.status = {f"c{i}": status for i, (_, status) in enumerate(legs)}

    def audit_log(self, account: str, event: str, limit: int) -> list[dict[str, Any]]:
        return self.rows if event == "deleverage" else []

    def order(self, cid: str) -> dict[str, Any]:
        return {"status": self.status[cid]}


@pytest.mark.parametrize(
    ("status", "leg"), [("closed", None), ("rejected", "swap"), ("expired", "swap")]
)  # fmt: skip
def test_a_supply_back_confirmed_ends_the_step_one_not_confirmed_resumes_the_sale(status: str, leg: str | None) -> None:
    g = SimpleNamespace(store=Journal([("supply", status), ("swap", "rejected"), ("withdraw", "closed")]))
    pending = ou.open_step(g, SimpleNamespace(name="aave"))  # type: ignore[arg-type]
    assert (pending.leg if pending is not None else None) == leg
