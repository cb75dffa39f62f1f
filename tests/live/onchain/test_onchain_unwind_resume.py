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
from levguard.errors import VenueOrderRejectedError, VenuePermanentError, VenueRetryableError
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

    def __init__(
        self, read: AaveRead, held: dict[str, int], quote: int | None = None, kept: AaveReserve | None = None
    ) -> None:
        self.name, self.signer = "aave-v3", object()  # a key: live
        self.swapper = SimpleNamespace(spender=ADDR)  # type: ignore[assignment]
        self.now, self.held, self.quoted, self.kept = read, held, quote, kept
        self.min_outs: list[int] = []  # of the sales built
        self.keeps: list[tuple[str, ...]] = []  # the reserves read also when unused

    async def read(self, keep: tuple[str, ...] = ()) -> AaveRead:  # type: ignore[override]
        # ``kept``: the reserve a read with ``keep`` adds (a collateral withdrawn in full, unused).
        self.keeps.append(keep)
        if keep and self.kept is not None and isinstance(self.now, AaveRead):
            rows = (*self.now.reserves, self.kept)
            return replace(self.now, reserves=rows, assets={**self.now.assets, self.kept.symbol: keep[0]})
        return self.now

    async def holdings(self, read: Any, symbol: str, spender: str) -> tuple[int, int]:  # type: ignore[override]
        return self.held.get(symbol, 0), 2**255

    async def quote(self, read: Any, x: str, y: str, amount: int) -> int:  # type: ignore[override]
        return amount if self.quoted is None else self.quoted

    def _tx(self, kind: str, symbol: str, amount: int) -> Any:
        return SimpleNamespace(kind=kind, symbol=symbol, amount=amount, call=f"{kind}({symbol}, {amount})")

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
        self.dedups: list[str | None] = []

    def _audit(self, account: str, event: str, inputs: Any, decision: Any, reasons: list[str]) -> None:
        self.audits.append((event, reasons))

    async def _alert(self, account: Any, level: str, kind: str, message: str, **data: Any) -> bool:
        self.alerts.append(message)
        self.dedups.append(data.get("dedup"))
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


def old_row(price: float, ltv: int = 7500, debt_ceiling: int = 0) -> AaveReserve:
    # OLD as a read with ``keep`` carries it once withdrawn in full: no balance, the flag off.
    return AaveReserve(
        "OLD", round(price * 10**8), 18, ltv, 8000, collateral=0, liquidation_bonus=10500, use_as_collateral=False,
        debt_ceiling=debt_ceiling,
    )  # fmt: skip


def test_a_resumed_sale_the_swapper_refuses_supplies_the_collateral_back(sent: list[Any]) -> None:
    # The OLD left the Aave read (withdrawn in full); read again with its reserve kept, it is
    # priced at 1 USD and would count once supplied (LTV 75 %): the swapper quotes 0, the 1,000 OLD
    # go back to the pool and the step closes.
    read = aave_read(ROWS, {})
    chain = Chain(read, {"OLD": 1_000 * WAD}, 0, kept=old_row(1.0))
    decision, g = resume(chain, SALE)
    assert chain.keeps[0] == (OLD,)
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


@pytest.mark.parametrize(("quote", "sold"), [(1_045 * 10**6, False), (1_095 * 10**6, True)])
def test_a_resumed_sale_of_a_collateral_withdrawn_in_full_is_priced_at_its_oracle_of_now(
    sent: list[Any], quote: int, sold: bool
) -> None:
    # OLD rose from 1.00 (the journal's min_out 990) to 1.10: min_out is 1,089 USDC (1,100 less
    # 1 %), read from the AaveOracle through a read keeping the reserve; a quote 5 % under the oracle
    # is refused (it met the journal's 990 and was sold), one 0.45 % under is sold at 1,089.
    chain = Chain(aave_read(ROWS, {}), {"OLD": 1_000 * WAD, "USDC": quote}, quote, kept=old_row(1.10))
    decision, _ = resume(chain, SALE)
    assert decision["min_out"] == str(1_089 * 10**6)
    assert chain.min_outs == ([1_089 * 10**6] if sold else [])
    assert sent[0] == (("swap", "OLD", 1_000 * WAD, 18) if sold else ("supply", "OLD", 1_000 * WAD, 18))


def test_a_resumed_sale_the_oracle_does_not_price_is_not_made(sent: list[Any]) -> None:
    # No price of OLD at the read (the reserve could not be read back): no sale at the journal's
    # min_out and no supply back: the step stays open, alerted once per step.
    chain = Chain(aave_read(ROWS, {}), {"OLD": 1_000 * WAD, "USDC": 10**12}, 10**12)
    decision, g = resume(chain, SALE)
    assert sent == []
    assert chain.min_outs == []
    assert decision["skipped"] == "no_price"
    assert "1000 OLD withdrawn by unwind step unwind-1 stay in the wallet" in decision["stopped"]
    assert not [e for e, _ in g.audits if e == "onchain_unwind_closed"]
    assert g.dedups == ["unwind_idle:unwind-1"]
    assert "protect nothing" in g.alerts[0]


@pytest.mark.parametrize(("ltv", "ceiling", "held"), [(0, 0, 0), (7500, 10**6, 0), (7500, 0, 500 * WAD)])
def test_a_refused_sale_of_a_collateral_that_would_not_count_again_keeps_it_and_the_step(
    sent: list[Any], ltv: int, ceiling: int, held: int
) -> None:
    # OLD withdrawn in full, LTV 0 (or isolated: a debt ceiling): a first supply does not enable it
    # as collateral (ValidationLogic.validateAutomaticUseAsCollateral), so putting it back protects
    # nothing: it stays in the wallet, the step open (the sale next cycle), one alert per step.
    # Nor when the user disabled OLD with 500 still held: no supply is a first supply then (the
    # aToken balance is not 0), the flag stays off (v3.6 Pool: 5,000 DAI more, HF 1.10 unchanged;
    # tests/evm/test_aave_origin_first_supply.py); it was supplied "back" and the step closed.
    row = replace(old_row(1.0, ltv, ceiling), collateral=held)
    read = aave_read((*ROWS, row), {}) if held else aave_read(ROWS, {})
    chain = Chain(read, {"OLD": 1_000 * WAD}, 0, kept=None if held else row)
    decision, g = resume(chain, SALE)
    assert sent == []
    assert "supplied_back" not in decision
    assert not [e for e, _ in g.audits if e == "onchain_unwind_closed"]
    assert "would not count as collateral" in g.alerts[0]
    assert g.dedups == ["unwind_idle:unwind-1"]


def test_a_partly_withdrawn_ltv_zero_collateral_is_supplied_back(sent: list[Any]) -> None:
    # Its flag still on (a part withdrawn), an LTV-0 collateral counts again once supplied back.
    row = replace(old_row(1.0, 0), collateral=500 * WAD, use_as_collateral=True)
    chain = Chain(aave_read((*ROWS, row), {}), {"OLD": 1_000 * WAD}, 0)
    resume(chain, SALE)
    assert sent == [("supply", "OLD", 1_000 * WAD, 18)]
    assert all(k == () for k in chain.keeps)  # in the read: no read with the reserve kept


class Flaky(Chain):
    """A node that fails the quote (``quote_error``) and, after ``looks`` holdings looks, those too."""

    def __init__(self, *args: Any, quote_error: Exception | None = None, looks: int | None = None) -> None:
        super().__init__(*args)
        self.quote_error, self.looks = quote_error, looks

    async def quote(self, read: Any, x: str, y: str, amount: int) -> int:  # type: ignore[override]
        if self.quote_error is not None:
            raise self.quote_error
        return await super().quote(read, x, y, amount)

    async def holdings(self, read: Any, symbol: str, spender: str) -> tuple[int, int]:  # type: ignore[override]
        if self.looks is not None:
            if self.looks <= 0:
                raise VenueRetryableError(f"holdings of {symbol}: no answer from the node within 10 s")
            self.looks -= 1
        return await super().holdings(read, symbol, spender)


def test_a_quote_the_node_does_not_answer_keeps_the_step_open_for_the_sale_again(sent: list[Any]) -> None:
    # A timeout is no refusal: no supply back (it was sent at once, every cycle withdrawing and
    # supplying back on a flaky node), the step open, alerted.
    error = VenueRetryableError("quote WETH -> USDC: no answer from the node within 10 s")
    decision, g = resume(Flaky(weth_at(2_000.0), {"WETH": 1 * WAD}, quote_error=error), WETH_SALE)
    assert sent == []
    assert "supplied_back" not in decision
    assert not [e for e, _ in g.audits if e == "onchain_unwind_closed"]
    (alert,) = g.alerts
    assert "no quote for WETH -> USDC" in alert


def test_a_quote_with_no_route_supplies_the_collateral_back(sent: list[Any]) -> None:
    error = VenuePermanentError("quote WETH -> USDC: ContractLogicError: execution reverted: no route")
    decision, _ = resume(Flaky(weth_at(2_000.0), {"WETH": 1 * WAD}, quote_error=error), WETH_SALE)
    assert sent == [("supply", "WETH", 1 * WAD, 18)]
    assert decision["supplied_back"] == str(1 * WAD)


@pytest.mark.parametrize("looks", [0, 1])
def test_a_node_failing_between_legs_is_alerted(sent: list[Any], looks: int) -> None:
    # The wallet's balance cannot be looked at (before the sale, or after a quote timeout for the
    # supply back): the step stops, and says so (it stopped silently, the collateral idle).
    error = VenueRetryableError("quote WETH -> USDC: no answer from the node within 10 s")
    chain = Flaky(weth_at(2_000.0), {"WETH": 1 * WAD}, quote_error=error, looks=looks)
    decision, g = resume(chain, WETH_SALE)
    assert sent == []
    assert g.alerts
    if looks == 0:
        assert decision["stopped"].startswith("chain unavailable between legs")
        assert "chain unavailable between legs" in g.alerts[-1]


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
    ("status", "leg"), [("closed", "supplied"), ("rejected", "swap"), ("expired", "swap")]
)  # fmt: skip
def test_a_supply_back_confirmed_ends_the_step_one_not_confirmed_resumes_the_sale(status: str, leg: str | None) -> None:
    g = SimpleNamespace(store=Journal([("supply", status), ("swap", "rejected"), ("withdraw", "closed")]))
    pending = ou.open_step(g, SimpleNamespace(name="aave"))  # type: ignore[arg-type]
    assert (pending.leg if pending is not None else None) == leg


def test_a_supply_back_confirmed_before_the_step_was_closed_closes_it_and_says_so(sent: list[Any]) -> None:
    # The process died after the supply back was confirmed, before the step was closed: the next
    # cycle closes it (audited) with the alert it never raised, and sends nothing.
    _, g = resume(Chain(weth_at(2_000.0), {}), replace(WETH_SALE, leg="supplied"))
    assert sent == []
    assert [e for e, _ in g.audits if e == "onchain_unwind_closed"] == ["onchain_unwind_closed"]
    (alert,) = g.alerts
    assert "unwind step unwind-1 closed: the 1 WETH withdrawn by unwind step unwind-1 were supplied back" in alert


def test_a_supply_back_in_the_action_is_reported_from_a_read_after_it(sent: list[Any]) -> None:
    # The health factor after is the read's after the supply back (the read before it, with the
    # WETH out of the position, was reported), and nothing counts as filled.
    chain = Chain(weth_at(2_000.0), {"WETH": 1 * WAD}, 0)
    back = replace(weth_at(2_000.0), reserves=(replace(weth_at(2_000.0).reserves[0], collateral=10 * WAD),
                                               weth_at(2_000.0).reserves[1]))  # fmt: skip
    supply = chain.supply

    def supplied(read: Any, symbol: str, amount: int) -> Any:
        chain.now = back
        return supply(read, symbol, amount)

    chain.supply = supplied  # type: ignore[method-assign]
    decision, _ = resume(chain, replace(WETH_SALE, min_out=10**12))
    assert sent == [("supply", "WETH", 1 * WAD, 18)]
    assert decision["health_factor_after"] == assess(back, 1.35).health_factor
    assert decision["health_factor_after"] > assess(weth_at(2_000.0), 1.35).health_factor
    assert decision["filled"] == 0.0


def test_a_supply_back_that_would_revert_is_alerted_once_per_request() -> None:
    # A frozen reserve: the supply back would revert, nothing is sent; its "not sent" alert is
    # deduplicated by the request (one critical every cycle, the step resumed each cycle).
    class Frozen(Chain):
        async def prepare(self, request: Any) -> Any:  # type: ignore[override]
            raise VenueOrderRejectedError("eth_estimateGas: execution reverted: 28")

    decision, g = resume(Frozen(weth_at(2_000.0), {"WETH": 1 * WAD}, 0), WETH_SALE)
    assert "supplied_back" not in decision
    assert f"refused:supply(WETH, {WAD})" in g.dedups
    assert "unwind_idle:unwind-1" in g.dedups


def test_a_read_failing_after_a_supply_back_leaves_the_closed_step_closed(sent: list[Any]) -> None:
    # The step closed with its supply back; the read after it fails: said, not "resumed next cycle".
    chain = Chain(weth_at(2_000.0), {"WETH": 1 * WAD}, 0)

    async def down(keep: tuple[str, ...] = ()) -> Any:
        raise VenueRetryableError("read Aave account: no answer from the node within 30 s")

    chain.read = down  # type: ignore[method-assign]
    decision, g = resume(chain, WETH_SALE)
    assert sent == [("supply", "WETH", 1 * WAD, 18)]
    assert "supplied back to the position" in decision["stopped"]
    assert decision["read_after"].startswith("not read after the supply back")
    assert len(g.alerts) == 1
