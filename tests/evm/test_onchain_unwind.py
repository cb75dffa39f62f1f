"""The on-chain guardian's unwind of looped positions, against the real contracts (Aave v3.0.2 from
npm ``@aave/core-v3``, Morpho Blue 1.0.0 compiled from npm ``@morpho-org/morpho-blue``) on an
in-process chain, with ``contracts/OracleSwapMock.sol`` as the swap venue (the Aave oracle's price
less 0.3 %).

Both of the wallet's positions are looped (``_chain_positions.loop_positions``: the borrowed USDC
sold for WETH and supplied again, three times), so the wallet holds neither USDC nor WETH: a
repayment from the wallet is impossible.  Through the scripted 40 % crash the guardian unwinds
(withdraw WETH, sell it for USDC, repay) and both positions stay at HF >= 1 at every block; in dry
run it only says what it would send.  Also: a swapper quoting below the oracle less the slippage
stops the unwind before anything is withdrawn, and a process killed between the legs of a step
resumes the step without withdrawing twice, its sale priced at the oracle of the resumption (the
collateral supplied back when the swapper cannot fill it there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _chain_positions as cp

from levguard.defi.onchain import assess, unwind_plan
from levguard.live.guardian import Guardian
from levguard.live.onchain import HealthRules, OnchainAccountSetup
from levguard.live.store import Store
from levguard.venues.onchain import LocalSigner, OnchainVenue
from levguard.venues.onchain_swap import ContractSwapper

CRASH = [3_000.0 - 120.0 * k for k in range(11)]  # 3,000 -> 1,800: -40 % in ten steps
WAD = 10**18
RULES = HealthRules(prefer="unwind", confirm_wait_s=2.0)


class Killed(BaseException):
    """The process dies here (not an Exception: nothing in the guardian contains it)."""


@pytest.fixture(scope="module")
def looped(evm_build: Any, fresh_stack: Any) -> tuple[cp.ChainPositions, Any]:
    def build() -> tuple[cp.ChainPositions, Any]:
        p = cp.deploy(evm_build("morpho-blue")["contracts"])
        swapper = cp.deploy_swapper(p)
        cp.loop_positions(p, swapper)
        return p, swapper

    return fresh_stack(build)  # type: ignore[no-any-return]


@pytest.fixture
def chain(looped: tuple[cp.ChainPositions, Any]) -> Iterator[tuple[cp.ChainPositions, Any]]:
    p = looped[0]
    snapshot = p.evm.tester.take_snapshot()
    try:
        yield looped
    finally:
        p.evm.tester.enable_auto_mine_transactions()
        p.evm.tester.revert_to_snapshot(snapshot)


def venues(p: cp.ChainPositions, swapper: Any, *, signer: bool = True) -> tuple[OnchainVenue, OnchainVenue]:
    key = LocalSigner(cp.WALLET_KEY) if signer else None
    swap = ContractSwapper(swapper.address)
    aave = OnchainVenue("aave-v3", w3=p.w3, wallet=p.wallet, signer=key, pool=p.pool.address, aave_version="3.0",
                        swapper=swap)  # fmt: skip
    morpho = OnchainVenue("morpho-blue", w3=p.w3, wallet=p.wallet, signer=key, morpho=p.morpho.address,
                          market_id="0x" + p.market_id.hex(), swapper=swap)  # fmt: skip
    return aave, morpho


async def _no_sleep(_s: float) -> None:
    return None


def guardian(
    store: Store, accounts: list[tuple[str, OnchainVenue]], *, live: bool, rules: HealthRules = RULES
) -> Guardian:
    setups = []
    for name, venue in accounts:
        store.upsert_account(name, venue.name, live_enabled=True)
        setups.append(
            OnchainAccountSetup(
                name=name,
                venue=venue,
                assess=assess,
                unwind=unwind_plan,
                rules=rules,
                live=True,
                cooldown_s=0.0,
                retries=0,
                backoff_s=0.0,
            )
        )
    return Guardian(
        setups, store, live=live, owner="test", sleep=_no_sleep, lease_ttl_s=3_600.0, cycle_budget_s=1_200.0
    )


def cycle(g: Guardian) -> dict[str, dict[str, Any]]:
    return {r["account"]: r for r in asyncio.run(g.cycle())}


def act_at(p: cp.ChainPositions, swapper: Any, tmp_path: Path, price: float = 2_040.0) -> tuple[dict[str, Any], Store]:
    """One live cycle of the Aave account with WETH at ``price``: its action and the store."""
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(p, swapper)
    g = guardian(store, [("aave", aave)], live=True)
    p.set_weth_price(price)
    action = cycle(g)["aave"]["positions"][0]["action"]
    g.flush()
    return action, store


def health_at(p: cp.ChainPositions, block: int) -> tuple[int, str]:
    """Aave's ``getUserAccountData`` health factor and a Morpho liquidation's revert reason at ``block``."""
    aave = int(p.pool.functions.getUserAccountData(p.wallet).call(block_identifier=block)[5])
    _, shares, _ = p.morpho.functions.position(p.market_id, p.wallet).call(block_identifier=block)
    fn = p.morpho.functions.liquidate(p.market_params, p.wallet, 0, max(shares // 10, 1), b"")
    try:
        fn.call({"from": p.liquidator}, block_identifier=block)
        return aave, ""
    except Exception as exc:  # eth-tester: TransactionFailed("execution reverted: position is healthy")
        return aave, str(exc)


def test_the_loop_leaves_the_wallet_empty(chain: tuple[cp.ChainPositions, Any]) -> None:
    p, _ = chain
    assert p.tokens["USDC"].functions.balanceOf(p.wallet).call() == 0
    assert p.tokens["WETH"].functions.balanceOf(p.wallet).call() == 0
    assert p.aave_health_factor() > int(1.6 * WAD)
    aave, morpho = venues(*chain)
    for v in (aave, morpho):
        a = assess(asyncio.run(v.read()), 1.35)
        weth = a.asset("WETH")
        assert weth.collateral / 1e18 * weth.price / a.collateral_value > 0.99
        assert a.collateral_value / (a.collateral_value - a.debt_value) > 1.9  # looped: leverage about 2


def test_live_unwinds_both_loops_through_the_crash(chain: tuple[cp.ChainPositions, Any], tmp_path: Path) -> None:
    p, swapper = chain
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, morpho = venues(p, swapper)
    g = guardian(store, [("aave", aave), ("morpho", morpho)], live=True)
    first = p.w3.eth.block_number
    nonce = p.nonce()
    acted = {"aave": 0, "morpho": 0}
    lowest = {"aave": 10.0, "morpho": 10.0}
    for price in CRASH:
        p.set_weth_price(price)
        for name, report in cycle(g).items():
            assert report["status"] == "ok", report
            lowest[name] = min(lowest[name], report["health_factor"])
            action = report["positions"][0]["action"]
            if action is not None:
                assert action["side"] == "unwind", action
                assert action["status"] == "closed", action
                assert action["health_factor_after"] >= 1.35 - 1e-9, action
                acted[name] += 1
    g.flush()
    assert acted["aave"] >= 1
    assert acted["morpho"] >= 1
    # HF >= 1 at every block of the run, on both protocols (the contracts' own checks).
    for block in range(first, p.w3.eth.block_number + 1):
        aave_hf, morpho_reason = health_at(p, block)
        assert aave_hf >= WAD, block
        assert "position is healthy" in morpho_reason, (block, morpho_reason)
    assert p.aave_liquidation_reverts() == "45"
    assert p.morpho_liquidation_reverts() == "position is healthy"
    orders = store.orders(limit=500)
    assert {o["side"] for o in orders} == {"withdraw", "approve", "swap", "repay"}
    assert all(o["status"] == "closed" for o in orders)
    assert p.nonce() == nonce + len(orders)  # one transaction per journaled order
    # The wallet ends with no WETH left over: every withdrawal was sold.
    assert p.tokens["WETH"].functions.balanceOf(p.wallet).call() == 0


def test_dry_run_says_what_it_would_send_and_sends_nothing(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path
) -> None:
    p, swapper = chain
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    g = guardian(store, [("aave", venues(p, swapper)[0]), ("morpho", venues(p, swapper)[1])], live=False)
    nonce = p.nonce()
    p.set_weth_price(2_040.0)  # HF 1.13: ACT
    reports = cycle(g)
    g.flush()
    assert p.nonce() == nonce
    assert store.orders(limit=10) == []
    for name, call in (("aave", "Pool"), ("morpho", "Morpho")):
        action = reports[name]["positions"][0]["action"]
        assert action["dry_run"] is True
        assert action["side"] == "unwind"
        calls = [t["call"].split("(")[0] for t in action["transactions"]]
        withdraw = f"{call}.withdraw" if call == "Pool" else "Morpho.withdrawCollateral"
        assert calls == [withdraw, "WETH.approve", "Swapper.swap", "USDC.approve", f"{call}.repay"]
        plan = action["plan"]
        assert plan["reaches_target"] is True
        assert len(plan["rounds"]) >= 2  # the floor splits the unwind into rounds
        for r in plan["rounds"]:  # every intermediate state above the floor, every round a gain
            assert r["health_factor_after_withdraw"] >= int(1.05 * WAD) - 1
            assert r["health_factor_after"] > r["health_factor_before"]
        assert plan["health_factor_after"] >= int(1.35 * WAD)
        (alert,) = [a for a in store.alerts(limit=50) if a["account"] == name and a["kind"] == "action"]
        assert "would unwind" in alert["message"]
        assert "(dry run)" in alert["message"]


def test_a_swapper_quoting_below_the_oracle_less_slippage_stops_before_any_withdrawal(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path
) -> None:
    p, swapper = chain
    p.send(swapper.functions.setFee(200))  # 2 % below the oracle: more than max_slippage 1 %
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(p, swapper)
    g = guardian(store, [("aave", aave)], live=True)
    nonce = p.nonce()
    p.set_weth_price(2_040.0)
    action = cycle(g)["aave"]["positions"][0]["action"]
    g.flush()
    assert action["skipped"] == "swap_quote"
    assert p.nonce() == nonce  # nothing withdrawn
    assert store.orders(limit=10) == []
    critical = [a for a in store.alerts(limit=50) if a["kind"] == "action" and a["level"] == "critical"]
    assert any("below the" in a["message"] and "nothing withdrawn" in a["message"] for a in critical)


@pytest.mark.parametrize("where", ["before_swap", "swap_unconfirmed"])
def test_a_crash_between_the_legs_resumes_the_step_without_withdrawing_twice(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from levguard.live import onchain_unwind

    p, swapper = chain
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = Store(url)
    aave, _ = venues(p, swapper)
    g = guardian(store, [("aave", aave)], live=True)
    p.set_weth_price(2_040.0)
    nonce = p.nonce()
    send = onchain_unwind._Step.send
    waits = {"n": 0}

    async def die_before_swap(self: Any, request: Any, decimals: int, leg: dict[str, Any]) -> bool:
        if request.kind == "swap":
            raise Killed(where)
        return await send(self, request, decimals, leg)

    real_wait = aave.wait

    async def die_waiting_for_the_swap(tx_hash: str, seconds: float, poll_s: float = 0.25) -> Any:
        waits["n"] += 1
        if waits["n"] == 3:  # withdraw, approve, then the swap: broadcast, never waited for
            raise Killed(where)
        return await real_wait(tx_hash, seconds, poll_s)

    if where == "before_swap":
        monkeypatch.setattr(onchain_unwind._Step, "send", die_before_swap)
    else:
        monkeypatch.setattr(aave, "wait", die_waiting_for_the_swap)
    with pytest.raises(Killed):
        cycle(g)
    monkeypatch.undo()
    newest = next(o for o in store.orders(limit=10) if o["side"] != "approve")
    assert (newest["side"], newest["status"]) == (
        ("withdraw", "closed") if where == "before_swap" else ("swap", "open")
    )
    withdrawn = int(p.tokens["WETH"].functions.balanceOf(p.wallet).call())
    assert withdrawn == 0 if where == "swap_unconfirmed" else withdrawn > 0
    if where == "before_swap":
        p.set_weth_price(3_000.0)  # the position is safe again: the open step is finished anyway

    # A new process on the same database: reconcile, then one cycle finishes the step.
    store2 = Store(url)
    aave2, _ = venues(p, swapper)
    g2 = guardian(store2, [("aave", aave2)], live=True)
    asyncio.run(g2.reconcile())
    report = cycle(g2)["aave"]
    g2.flush()
    action = report["positions"][0]["action"]
    assert action["side"] == "unwind"
    assert action["resumed"]["leg"] == ("swap" if where == "before_swap" else "repay")
    orders = store2.orders(limit=100)
    assert all(o["status"] == "closed" for o in orders), orders
    first_step = [o for o in orders if o["intent_ns"] <= min(x["intent_ns"] for x in orders if x["side"] == "repay")]
    assert sum(o["side"] == "withdraw" for o in first_step) == 1  # the step's withdrawal, once
    assert sum(o["side"] == "swap" for o in first_step) == 1  # its sale, once
    assert p.tokens["WETH"].functions.balanceOf(p.wallet).call() == 0  # all of it sold
    assert p.nonce() == nonce + len(orders)  # one transaction per journaled order
    if where == "before_swap":
        assert report["state"] == "OK"
        assert action["rounds_done"] == 1  # the step finished, no new round at OK
    assert p.aave_health_factor() >= WAD


def test_the_wallets_own_debt_token_is_repaid_before_any_withdrawal(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path
) -> None:
    p, swapper = chain
    p.send(p.tokens["USDC"].functions.mint(p.wallet, 1_000 * 10**6))  # far less than the target needs
    action, store = act_at(p, swapper, tmp_path)
    assert action["side"] == "unwind"
    assert action["status"] == "closed"
    sides = [o["side"] for o in reversed(store.orders(limit=100)) if o["side"] != "approve"]
    assert sides[0] == "repay"  # the wallet's 1,000 USDC first
    assert sides[1:4] == ["withdraw", "swap", "repay"]
    first_repay = next(o for o in reversed(store.orders(limit=100)) if o["side"] == "repay")
    assert first_repay["qty"] == pytest.approx(1_000.0)
    assert p.tokens["USDC"].functions.balanceOf(p.wallet).call() == 0
    assert p.aave_health_factor() >= int(1.35 * WAD) - 10**12


def _ltv0_dai(p: cp.ChainPositions, amount: int) -> Any:
    # The wallet also supplies DAI (enabled as collateral), then governance offboards DAI: LTV 0,
    # its threshold kept.  Aave then refuses any withdrawal of an LTV > 0 collateral while DAI is
    # held (ValidationLogic.validateHFAndLtv: LTV_VALIDATION_FAILED, 57).
    dai = p.tokens["DAI"]
    p.send(dai.functions.mint(p.wallet, amount))
    p.send(dai.functions.approve(p.pool.address, amount), p.wallet)
    p.send(p.pool.functions.supply(dai.address, amount, p.wallet, 0), p.wallet)
    configurator = p.configurator()
    p.send(configurator.functions.configureReserveAsCollateral(dai.address, 0, 8000, 10500))
    return configurator


def test_an_ltv0_collateral_held_is_sold_first(chain: tuple[cp.ChainPositions, Any], tmp_path: Path) -> None:
    p, swapper = chain
    _ltv0_dai(p, 500 * WAD)
    action, store = act_at(p, swapper, tmp_path)
    assert action["side"] == "unwind"
    assert action["status"] == "closed", action
    orders = list(reversed(store.orders(limit=100)))
    assert all(o["status"] == "closed" for o in orders), orders
    withdrawals = [o["symbol"] for o in orders if o["side"] == "withdraw"]
    assert withdrawals[0] == "DAI"  # all of it: then WETH may leave, on the next read
    assert "WETH" in withdrawals[1:]
    assert p.tokens["aDAI"].functions.balanceOf(p.wallet).call() == 0
    assert p.aave_health_factor() >= int(1.35 * WAD) - 10**12


def test_with_no_withdrawal_the_pool_accepts_the_guardian_supplies(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path
) -> None:
    # DAI (LTV 0) held and paused: it cannot leave and no other collateral may while it is held.
    # The unwind plans nothing and the cycle falls back to the wallet's own WETH.
    p, swapper = chain
    configurator = _ltv0_dai(p, 500 * WAD)
    p.send(configurator.functions.setReservePause(p.tokens["DAI"].address, True))
    p.send(p.tokens["WETH"].functions.mint(20 * WAD), p.wallet)
    action, store = act_at(p, swapper, tmp_path)
    assert (action["side"], action["symbol"], action["status"]) == ("supply", "WETH", "closed"), action
    assert {o["side"] for o in store.orders(limit=100)} <= {"approve", "supply"}
    none = store.audit_log(account="aave", event="onchain_unwind_none", limit=1)
    assert "LTV_VALIDATION_FAILED" in str(none[0]["reasons"])
    assert p.aave_health_factor() >= int(1.35 * WAD) - 10**12


@pytest.mark.parametrize("leg", ["swap", "repay"])
def test_a_crash_after_withdrawing_a_whole_collateral_resumes_its_sale(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leg: str
) -> None:
    # All the DAI withdrawn leaves the position: the next reads no longer carry DAI, the journal
    # does (its address and decimals), and the resumed step sells it, or repays with what its sale
    # delivered (the resumed cycle raised "was 'DAI'" after the repayment: nothing of DAI is sent).
    from levguard.live import onchain_unwind

    p, swapper = chain
    _ltv0_dai(p, 500 * WAD)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    aave, _ = venues(p, swapper)
    g = guardian(Store(url), [("aave", aave)], live=True)
    p.set_weth_price(2_040.0)
    send = onchain_unwind._Step.send

    async def die_before(self: Any, request: Any, decimals: int, info: dict[str, Any]) -> bool:
        if request.kind == leg:
            raise Killed(f"before_{leg}")
        return await send(self, request, decimals, info)

    monkeypatch.setattr(onchain_unwind._Step, "send", die_before)
    with pytest.raises(Killed):
        cycle(g)
    monkeypatch.undo()
    assert p.tokens["DAI"].functions.balanceOf(p.wallet).call() == (500 * WAD if leg == "swap" else 0)
    store2 = Store(url)
    aave2, _ = venues(p, swapper)
    g2 = guardian(store2, [("aave", aave2)], live=True)
    asyncio.run(g2.reconcile())
    report = cycle(g2)["aave"]
    g2.flush()
    assert "error" not in report, report
    action = report["positions"][0]["action"]
    assert (action["resumed"]["leg"], action["resumed"]["collateral"]) == (leg, "DAI")
    assert action["qty"] == pytest.approx(500.0)
    assert action["status"] == "closed", action
    assert all(o["status"] == "closed" for o in store2.orders(limit=100))
    assert p.tokens["DAI"].functions.balanceOf(p.wallet).call() == 0  # sold
    assert p.tokens["USDC"].functions.balanceOf(p.wallet).call() == 0  # its USDC repaid
    assert p.aave_health_factor() >= WAD


def _killed_after_the_withdrawal(
    p: cp.ChainPositions, swapper: Any, url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Guardian, Store]:
    """A live cycle at WETH 2,040 dies before its sale (the WETH withdrawn, its min_out journaled
    at 2,040 less 1 %); a new process on the same database, reconciled."""
    from levguard.live import onchain_unwind

    aave, _ = venues(p, swapper)
    g = guardian(Store(url), [("aave", aave)], live=True)
    p.set_weth_price(2_040.0)
    send = onchain_unwind._Step.send

    async def die_before_swap(self: Any, request: Any, decimals: int, leg: dict[str, Any]) -> bool:
        if request.kind == "swap":
            raise Killed("before_swap")
        return await send(self, request, decimals, leg)

    monkeypatch.setattr(onchain_unwind._Step, "send", die_before_swap)
    with pytest.raises(Killed):
        cycle(g)
    monkeypatch.undo()
    assert p.tokens["WETH"].functions.balanceOf(p.wallet).call() > 0
    store2 = Store(url)
    aave2, _ = venues(p, swapper)
    g2 = guardian(store2, [("aave", aave2)], live=True)
    asyncio.run(g2.reconcile())
    return g2, store2


def test_a_resumed_sale_is_priced_at_the_oracle_of_its_resumption(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WETH falls to 1,990 before the resumption: the swapper's quote (the oracle less 0.3 %) is
    # under the journal's min_out (2,040 less 1 %) but within 1 % of 1,990: sold and repaid.  The
    # journal's min_out refused it every cycle, the WETH idle, Aave HF 1.05 -> 0.95 at 1,850.
    p, swapper = chain
    g2, store2 = _killed_after_the_withdrawal(p, swapper, f"sqlite:///{tmp_path / 'g.db'}", monkeypatch)
    p.set_weth_price(1_990.0)
    action = cycle(g2)["aave"]["positions"][0]["action"]
    g2.flush()
    assert action["resumed"]["leg"] == "swap"
    assert "skipped" not in action, action
    assert action["status"] == "closed", action
    assert int(action["min_out"]) < int(action["resumed"]["min_out"])  # of the oracle of now
    assert p.tokens["WETH"].functions.balanceOf(p.wallet).call() == 0  # sold
    assert all(o["status"] == "closed" for o in store2.orders(limit=100))
    assert p.aave_health_factor() > int(1.05 * WAD)


def test_a_resumed_sale_the_swapper_cannot_fill_supplies_the_collateral_back(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The swapper now quotes 2 % under the oracle, more than max_slippage 1 %: the WETH withdrawn
    # goes back to the Pool (Pool.supply), the step closes with a critical alert saying so, and the
    # next cycle decides afresh (its own quote check: nothing withdrawn).
    p, swapper = chain
    g2, store2 = _killed_after_the_withdrawal(p, swapper, f"sqlite:///{tmp_path / 'g.db'}", monkeypatch)
    idle = int(p.tokens["WETH"].functions.balanceOf(p.wallet).call())
    hf_idle = p.aave_health_factor()
    p.send(swapper.functions.setFee(200))
    action = cycle(g2)["aave"]["positions"][0]["action"]
    g2.flush()
    assert p.tokens["WETH"].functions.balanceOf(p.wallet).call() == 0
    assert (action["resumed"]["leg"], action["skipped"], action["supplied_back"]) == ("swap", "swap_quote", str(idle))
    assert p.aave_health_factor() > hf_idle  # the collateral counts again
    orders = store2.orders(limit=100)
    assert [o["side"] for o in orders if o["side"] not in ("approve",)][:2] == ["supply", "withdraw"]
    assert all(o["status"] == "closed" for o in orders)
    critical = [a["message"] for a in store2.alerts(limit=50) if a["kind"] == "action" and a["level"] == "critical"]
    assert any("supplied back to the position" in m and "below the" in m for m in critical), critical
    assert not any("nothing withdrawn" in m for m in critical)
    nonce = p.nonce()
    again = cycle(g2)["aave"]["positions"][0]["action"] or {}
    g2.flush()
    assert "resumed" not in again  # the step is closed
    assert p.nonce() == nonce  # the new unwind's quote check withdraws nothing


@pytest.mark.parametrize("drift", [True, False])
def test_a_withdrawal_journaled_before_a_crash_is_not_sent_on_a_position_that_drifted(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path, drift: bool
) -> None:
    # The process dies after the withdrawal is journaled and marked sent, before its broadcast.
    # WETH falls 2.9 % meanwhile: sent as signed, it would leave HF 1.019 (the floor: 1.047).
    p, swapper = chain
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = Store(url)
    aave, _ = venues(p, swapper)
    g = guardian(store, [("aave", aave)], live=True)
    p.set_weth_price(2_040.0)
    nonce = p.nonce()

    async def die(raw: str, tx_hash: str) -> str:
        raise Killed("before the broadcast")

    aave.broadcast = die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        cycle(g)
    (order,) = store.orders(limit=5)
    assert (order["side"], order["status"]) == ("withdraw", "sent")
    if drift:
        p.set_weth_price(1_980.0)
    before = p.aave_health_factor()

    store2 = Store(url)
    aave2, _ = venues(p, swapper)
    g2 = guardian(store2, [("aave", aave2)], live=True)
    asyncio.run(g2.reconcile())
    g2.flush()
    (order,) = store2.orders(limit=5)
    assert p.nonce() == nonce + 1  # the nonce was used once: by the cancel, or by the withdrawal
    if not drift:  # the same signed bytes: still within the floor
        assert order["status"] == "closed"
        assert p.aave_health_factor() < before
        return
    assert order["status"] == "expired"
    assert "cancelled" in order["error"]
    assert p.aave_health_factor() == before  # nothing withdrawn
    assert p.tokens["WETH"].functions.balanceOf(p.wallet).call() == 0
    events = [a["event"] for a in store2.audit_log(account="aave", limit=10)]
    assert "onchain_stale" in events
    assert "onchain_rebroadcast" not in events
    # The next cycle decides again from the position now: every withdrawal respects the floor.
    report = cycle(g2)["aave"]
    action = report["positions"][0]["action"]
    assert action["side"] == "unwind"
    assert action.get("resumed") is None
    floor = min(RULES.unwind_min_hf, (1 + before / WAD) / 2)
    first = next(r for r in action["plan"]["rounds"])
    assert first["health_factor_after_withdraw"] / WAD >= floor
    assert p.aave_health_factor() >= WAD


def test_a_withdrawal_planned_at_one_price_is_stale_at_a_lower_one_on_both_protocols(
    chain: tuple[cp.ChainPositions, Any],
) -> None:
    from levguard.live.onchain_fees import stale_withdrawal
    from levguard.live.onchain_unwind import params

    p, swapper = chain
    for venue in venues(p, swapper):
        setup = OnchainAccountSetup(name=venue.protocol, venue=venue, assess=assess, unwind=unwind_plan, rules=RULES)
        p.set_weth_price(2_040.0)
        read = asyncio.run(venue.read())
        first = unwind_plan(read, params(setup, RULES.target_hf)).rounds[0]
        tx = {"symbol": "WETH", "amount": str(first.withdraw)}
        assert stale_withdrawal(setup, read, tx) == ""  # sized for the floor: it may go
        p.set_weth_price(1_980.0)
        why = stale_withdrawal(setup, asyncio.run(venue.read()), tx)
        assert "below the floor" in why, (venue.protocol, why)
        tx["amount"] = str(10**30)
        assert "no longer holds" in stale_withdrawal(setup, read, tx)


def _killed_after_withdrawing_all_dai(
    p: cp.ChainPositions, swapper: Any, url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Guardian, Store]:
    # An LTV-0 DAI withdrawn in full (it leaves the reads), the process killed before its sale.
    from levguard.live import onchain_unwind

    _ltv0_dai(p, 500 * WAD)
    aave, _ = venues(p, swapper)
    g = guardian(Store(url), [("aave", aave)], live=True)
    p.set_weth_price(2_040.0)
    send = onchain_unwind._Step.send

    async def die_before_swap(self: Any, request: Any, decimals: int, leg: dict[str, Any]) -> bool:
        if request.kind == "swap":
            raise Killed("before_swap")
        return await send(self, request, decimals, leg)

    monkeypatch.setattr(onchain_unwind._Step, "send", die_before_swap)
    with pytest.raises(Killed):
        cycle(g)
    monkeypatch.undo()
    assert p.tokens["DAI"].functions.balanceOf(p.wallet).call() == 500 * WAD
    store2 = Store(url)
    aave2, _ = venues(p, swapper)
    g2 = guardian(store2, [("aave", aave2)], live=True)
    asyncio.run(g2.reconcile())
    return g2, store2


@pytest.mark.parametrize(("dai_price", "fee"), [(110_000_000, 500), (100_000_000, 200)])
def test_a_whole_ltv0_collateral_is_priced_at_its_oracle_and_kept_when_its_sale_is_refused(
    chain: tuple[cp.ChainPositions, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dai_price: int,
    fee: int,
) -> None:
    # DAI's oracle 1.00 -> 1.10 and the swapper 5 % under it: the sale was made at the journal's
    # min_out (495 USDC), 5 % under the oracle with max_slippage 1 %; it is now priced at the
    # AaveOracle of the read (544.5) and refused.  Refused, it is not supplied back: Aave does not
    # enable an LTV-0 reserve as collateral on a first supply (it was "supplied back", the step
    # closed, the health factor unchanged): it stays in the wallet, the step open, alerted.
    p, swapper = chain
    g2, store2 = _killed_after_withdrawing_all_dai(p, swapper, f"sqlite:///{tmp_path / 'g.db'}", monkeypatch)
    dai = p.tokens["DAI"]
    feed = p.evm.deploy_artifact(cp.aggregator_artifact(), dai_price, sender=p.admin)
    p.send(p.oracle.functions.setAssetSources([dai.address], [feed.address]))
    p.send(swapper.functions.setFee(fee))
    nonce = p.nonce()
    action = cycle(g2)["aave"]["positions"][0]["action"]
    g2.flush()
    assert action["resumed"]["leg"] == "swap"
    assert int(action["min_out"]) == 500 * dai_price * 99 // 100 // 100  # USDC units: the oracle less 1 %
    assert p.nonce() == nonce  # nothing sent: no sale, no supply back
    assert dai.functions.balanceOf(p.wallet).call() == 500 * WAD
    assert "supplied_back" not in action
    assert not store2.audit_log(account="aave", event="onchain_unwind_closed", limit=1)
    critical = [a["message"] for a in store2.alerts(limit=50) if a["kind"] == "action" and a["level"] == "critical"]
    assert any("would not count as collateral" in m for m in critical), critical
    again = cycle(g2)["aave"]["positions"][0]["action"]
    g2.flush()
    assert again["resumed"]["leg"] == "swap"  # the sale tried again
    assert p.nonce() == nonce


def test_a_supply_back_in_the_withdrawals_action_reports_the_chain_after_it(
    chain: tuple[cp.ChainPositions, Any], tmp_path: Path
) -> None:
    # The quote passes before the withdrawal and falls 3 % by the sale: the WETH goes back in the
    # same action.  The decision reported filled 1.367 and the health factor of the read with the
    # WETH out (1.05) while the chain's was 1.1277: now nothing filled, the health factor read after.
    p, swapper = chain
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    v, _ = venues(p, swapper)
    g = guardian(store, [("aave", v)], live=True)
    p.set_weth_price(2_040.0)
    quote, calls = v.quote, []

    async def falling(read: Any, x: str, y: str, amount: int) -> int:
        calls.append(amount)
        out = await quote(read, x, y, amount)
        return out if len(calls) <= 2 else out * 97 // 100

    v.quote = falling  # type: ignore[method-assign]
    action = cycle(g)["aave"]["positions"][0]["action"]
    g.flush()
    assert action["supplied_back"] == str(calls[-1])
    assert action["filled"] == 0.0
    assert action["health_factor_after"] == pytest.approx(p.aave_health_factor() / WAD, rel=1e-9)
