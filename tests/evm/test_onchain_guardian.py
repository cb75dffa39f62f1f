"""The on-chain guardian against the real contracts: Aave v3.0.2 (npm ``@aave/core-v3``) and Morpho
Blue 1.0.0 (compiled from npm ``@morpho-org/morpho-blue``) on an in-process chain, read and written
through web3.py exactly as over JSON-RPC (``_chain_positions.py``).

A wallet holds a WETH/USDC borrow at health factor 1.6 on each protocol; WETH then falls 40 % in
ten steps (3,000 -> 1,800 USD, -120 per step) with guardian cycles between the steps:

* the read: levguard's health factor equals ``Pool.getUserAccountData`` to the wei at every step,
  the position rows equal the tokens' balances, Morpho's liquidation boundary found by levguard
  is the contract's to one oracle unit, a stale feed is seen and alerted;
* dry run: the states escalate and alert, the transactions it would send are alerted, nothing is
  sent (the nonce does not move), and at the end both positions are liquidatable (the contracts
  accept a third party's liquidation);
* live: the guardian approves and repays, every transaction is confirmed, the health factor stays
  >= 1 at every step and a third party's liquidation reverts every time;
* failures: a process killed after journaling (before marking sent, before broadcasting, before
  the receipt) is reconciled by hash and nonce without a second send; a pending transaction blocks
  any new one (no second payload for its nonce); a hanging node costs one timeout; a reverted
  transaction is recorded ``rejected`` and alerted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _chain_positions as cp

from levguard.core.defi.aave import get_user_account_data
from levguard.core.defi.morpho import Position, accrue_interest
from levguard.defi import analytics
from levguard.defi.onchain import assess, position_of
from levguard.live.guardian import Guardian
from levguard.live.onchain import HealthRules, LendingAssessment, OnchainAccountSetup
from levguard.live.store import Store
from levguard.venues.onchain import LocalSigner, OnchainVenue, TxRequest
from levguard.venues.onchain_read import AaveRead, MorphoRead

CRASH = [3_000.0 - 120.0 * k for k in range(11)]  # 3,000 -> 1,800: -40 % in ten steps
WAD = 10**18


class Killed(BaseException):
    """The process dies here (not an Exception: nothing in the guardian contains it)."""


@pytest.fixture(scope="module")
def deployed(evm_build: Any, fresh_stack: Any) -> cp.ChainPositions:
    return fresh_stack(cp.deploy, evm_build("morpho-blue")["contracts"])  # type: ignore[no-any-return]


@pytest.fixture
def chain(deployed: cp.ChainPositions) -> Iterator[cp.ChainPositions]:
    """The deployed chain, put back as it was after the test."""
    snapshot = deployed.evm.tester.take_snapshot()
    try:
        yield deployed
    finally:
        deployed.evm.tester.enable_auto_mine_transactions()
        deployed.evm.tester.revert_to_snapshot(snapshot)


def venues(p: cp.ChainPositions, *, signer: bool = True, cls: type[OnchainVenue] = OnchainVenue) -> Any:
    """The wallet's Aave account and Morpho position as venues (signing with its key)."""
    key = LocalSigner(cp.WALLET_KEY) if signer else None
    aave = cls("aave-v3", w3=p.w3, wallet=p.wallet, signer=key, pool=p.pool.address, aave_version="3.0",
               heartbeats={"WETH": 3_600})  # fmt: skip
    morpho = cls("morpho-blue", w3=p.w3, wallet=p.wallet, signer=key, morpho=p.morpho.address,
                 market_id="0x" + p.market_id.hex())  # fmt: skip
    return aave, morpho


async def _no_sleep(_s: float) -> None:
    return None


def guardian(
    store: Store, accounts: list[tuple[str, OnchainVenue]], *, live: bool, account_live: bool = True, **setup: Any
) -> Guardian:
    setups = []
    for name, venue in accounts:
        store.upsert_account(name, venue.name, live_enabled=account_live)
        setups.append(
            OnchainAccountSetup(
                name=name,
                venue=venue,
                assess=setup.get("assess", assess),
                rules=setup.get("rules", HealthRules(confirm_wait_s=2.0)),
                p_hf_below_one=setup.get("p_hf_below_one"),
                live=account_live,
                cooldown_s=0.0,
                retries=0,
                backoff_s=0.0,
            )
        )
    # A budget beyond any cycle here: these tests hold the node's own timeouts, not the lanes.
    return Guardian(
        setups, store, live=live, owner="test", sleep=_no_sleep, lease_ttl_s=3_600.0, cycle_budget_s=1_200.0
    )


def cycle(g: Guardian) -> dict[str, dict[str, Any]]:
    return {r["account"]: r for r in asyncio.run(g.cycle())}


def both(p: cp.ChainPositions, store: Store, *, live: bool, **kw: Any) -> Guardian:
    aave, morpho = venues(p)
    return guardian(store, [("aave", aave), ("morpho", morpho)], live=live, **kw)


def read(venue: OnchainVenue) -> Any:
    return asyncio.run(venue.read())


# --- the read ----------------------------------------------------------------------------------------


def test_aave_read_and_health_factor_equal_the_pool_at_every_step(chain: cp.ChainPositions) -> None:
    aave, _ = venues(chain)
    usdc_source = None
    for price in CRASH:
        chain.set_weth_price(price)
        r = read(aave)
        assert isinstance(r, AaveRead)
        n = r.block_number
        rows = {row.symbol: row for row in r.reserves}
        assert set(rows) == {"WETH", "USDC"}  # DAI: neither borrowed nor collateral
        assert rows["WETH"].collateral == chain.tokens["aWETH"].functions.balanceOf(chain.wallet).call(
            block_identifier=n
        )
        assert rows["USDC"].debt == chain.tokens["vUSDC"].functions.balanceOf(chain.wallet).call(block_identifier=n)
        assert rows["WETH"].price == round(price * 10**8)
        # levguard's engine on the rows is the pool's own getUserAccountData, to the wei.
        account = chain.pool.functions.getUserAccountData(chain.wallet).call(block_identifier=n)
        ours = get_user_account_data(r.reserves, r.emode, r.version)
        assert (ours.total_collateral_base, ours.total_debt_base, ours.health_factor) == (
            account[0], account[1], account[5]
        )  # fmt: skip
        assert assess(r, 1.35).health_factor_wad == r.chain_health_factor == account[5]
        feeds = {o.symbol: o for o in r.oracles}
        assert feeds["WETH"].round is not None
        assert feeds["WETH"].check is not None
        assert feeds["WETH"].check.ok
        assert feeds["WETH"].round.answer == round(price * 10**8)
        usdc_source = feeds["USDC"]
    assert usdc_source is not None
    assert usdc_source.round is None
    assert "latestRoundData" in usdc_source.note


def test_a_stale_feed_is_seen_and_alerted(chain: cp.ChainPositions, tmp_path: Path) -> None:
    aave, _ = venues(chain)
    now = chain.w3.eth.get_block("latest")["timestamp"]
    chain.send(chain.weth_feed.functions.setRound(2_900 * 10**8, now - 7_200))  # heartbeat 3,600 s
    weth = {o.symbol: o for o in read(aave).oracles}["WETH"]
    assert weth.check is not None
    assert weth.check.failures == ("stale",)
    assert weth.check.age is not None
    assert weth.check.age > 3_600
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    g = guardian(store, [("aave", aave)], live=False)
    cycle(g)
    cycle(g)  # de-duplicated: one alert per feed per alert_repeat_s
    g.flush()
    alerts = [a for a in store.alerts(limit=100) if a["kind"] == "oracle"]
    assert len(alerts) == 1
    assert "stale" in alerts[0]["message"]
    assert alerts[0]["data"]["symbol"] == "WETH"


def test_morpho_read_and_the_liquidation_boundary_equal_the_contract(chain: cp.ChainPositions) -> None:
    _, morpho = venues(chain)
    chain.evm.tester.time_travel(chain.w3.eth.get_block("latest")["timestamp"] + 30 * 86_400)  # interest accrues
    r = read(morpho)
    assert isinstance(r, MorphoRead)
    assert r.market.total_borrow_assets > r.market_stored.total_borrow_assets  # accrued to the block
    supply_shares, borrow_shares, collateral = chain.morpho_position()
    assert r.position == Position(borrow_shares, collateral)
    assert r.supply_shares == supply_shares
    assert (r.loan_symbol, r.collateral_symbol, r.loan_decimals, r.collateral_decimals) == ("USDC", "WETH", 6, 18)
    # Interest: Morpho.accrueInterest in the next block stores what levguard's accrual predicts.
    rate = chain.irm.functions.borrowRateView(
        r.market_params, (*r.market_stored.to_dict().values(), r.last_update, r.fee)
    ).call()
    chain.send(chain.morpho.functions.accrueInterest(chain.market_params))
    block = chain.w3.eth.get_block("latest")
    stored = chain.morpho.functions.market(chain.market_id).call()
    expected = accrue_interest(r.market_stored, rate, block["timestamp"] - r.last_update, r.fee).market
    assert tuple(stored[:4]) == tuple(expected.to_dict().values())
    assert stored[4] == block["timestamp"]
    assert expected.total_borrow_assets > r.market_stored.total_borrow_assets  # interest did accrue

    # The health boundary, on a market without interest: levguard's liquidation price p is healthy
    # for the contract, p - 1 (one oracle unit, 1e-24 of a USDC per WETH) is liquidatable.
    market_id = cp.open_zero_rate_market(chain)
    zero = OnchainVenue(
        "morpho-blue", w3=chain.w3, wallet=chain.wallet, morpho=chain.morpho.address, market_id=market_id
    )
    z = read(zero)
    lp = analytics.liquidation_price(position_of(z))
    assert lp.price is not None
    assert lp.value is not None
    assert abs(lp.value - 3_000 / (2 * 0.86)) < 1e-6
    params = z.market_params
    liquidate = chain.morpho.functions.liquidate(params, chain.wallet, 0, z.position.borrow_shares // 10, b"")
    chain.send(chain.morpho_oracle.functions.setPrice(lp.price))
    assert chain.evm.call_raw(liquidate, chain.liquidator) == (False, "position is healthy")
    chain.send(chain.morpho_oracle.functions.setPrice(lp.price - 1))
    assert chain.evm.call_raw(liquidate, chain.liquidator) == (True, "")
    assert assess(read(zero), 1.35).health_factor_wad < WAD


# --- the crash -----------------------------------------------------------------------------------------


def test_dry_run_alerts_through_the_crash_and_sends_nothing(chain: cp.ChainPositions, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    g = both(chain, store, live=False)  # the accounts opted in; the guardian runs without --live
    nonce = chain.nonce()
    states: dict[str, list[str]] = {"aave": [], "morpho": []}
    for price in CRASH:
        chain.set_weth_price(price)
        wallet_nonce = chain.nonce()
        for name, report in cycle(g).items():
            assert report["status"] == "ok", report
            states[name].append(report["state"])
        assert chain.nonce() == wallet_nonce  # nothing sent by the guardian
    g.flush()
    assert chain.nonce() == nonce
    for name in ("aave", "morpho"):
        assert {"WARN", "DANGER", "ACT"} <= set(states[name]), states[name]
    alerts = store.alerts(limit=500)
    for name in ("aave", "morpho"):
        kinds = [(a["kind"], a["level"]) for a in alerts if a["account"] == name]
        assert ("state", "warning") in kinds
        assert ("state", "critical") in kinds
        would = [a for a in alerts if a["account"] == name and a["kind"] == "action"]
        assert would
        assert all("(dry run)" in a["message"] and "would repay" in a["message"] for a in would)
        calls = [t["call"] for t in would[0]["data"]["transactions"]]
        assert calls[0].startswith("USDC.approve(")
        assert calls[1].split("(")[0] in ("Pool.repay", "Morpho.repay")
    assert store.orders(limit=10) == []
    assert {r["event"] for r in store.audit_log(limit=1000)} >= {"onchain_dry_run", "cycle"}
    # Without the guardian's transactions both positions end liquidatable.
    assert chain.aave_health_factor() < WAD
    assert chain.aave_liquidation_reverts() is None
    assert chain.morpho_liquidation_reverts() is None


def test_an_account_that_did_not_opt_in_is_not_acted_on(chain: cp.ChainPositions, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    g = both(chain, store, live=True, account_live=False)
    chain.set_weth_price(2_000.0)
    nonce = chain.nonce()
    reports = cycle(g)
    assert all(r["state"] == "ACT" and r["positions"][0]["action"]["dry_run"] for r in reports.values())
    assert chain.nonce() == nonce
    assert store.orders(limit=10) == []


def test_live_keeps_both_positions_alive_through_the_crash(chain: cp.ChainPositions, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    g = both(chain, store, live=True)
    nonce = chain.nonce()
    acted: dict[str, int] = {"aave": 0, "morpho": 0}
    for price in CRASH:
        chain.set_weth_price(price)
        # Never liquidatable: before the guardian's cycle at this price, and after it.
        for _ in range(2):
            assert chain.aave_health_factor() >= WAD
            assert chain.aave_liquidation_reverts() == "45"  # HEALTH_FACTOR_NOT_BELOW_THRESHOLD
            assert chain.morpho_liquidation_reverts() == "position is healthy"
            if _ == 0:
                for name, report in cycle(g).items():
                    assert report["status"] == "ok", report
                    action = report["positions"][0]["action"]
                    if action is not None:
                        assert action["status"] == "closed", action
                        acted[name] += 1
    g.flush()
    assert acted["aave"] >= 1
    assert acted["morpho"] >= 1
    orders = store.orders(limit=100)
    assert orders
    assert all(o["status"] == "closed" and o["venue_order_id"] for o in orders)
    assert {o["side"] for o in orders} == {"approve", "repay"}
    assert chain.nonce() == nonce + len(orders)  # one transaction per journaled order
    receipts = [chain.w3.eth.get_transaction_receipt(o["venue_order_id"]) for o in orders]
    assert all(rc["status"] == 1 for rc in receipts)
    assert chain.aave_health_factor() >= int(1.15 * WAD)


# --- failures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before_mark_sent", "before_broadcast", "before_receipt"])
def test_a_crash_after_journaling_is_reconciled_without_a_double_send(
    chain: cp.ChainPositions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = Store(url)
    aave, _ = venues(chain)
    g = guardian(store, [("aave", aave)], live=True)
    chain.set_weth_price(2_000.0)  # ACT
    nonce = chain.nonce()

    def kill(*_a: Any, **_k: Any) -> Any:
        raise Killed(where)

    target = {"before_mark_sent": (store, "mark_sent"), "before_broadcast": (aave, "broadcast"),
              "before_receipt": (aave, "wait")}[where]  # fmt: skip
    monkeypatch.setattr(*target, kill)
    with pytest.raises(Killed):
        cycle(g)
    monkeypatch.undo()
    (row,) = store.orders(limit=10)
    journal = _journal(store, row["client_order_id"])
    assert row["side"] == "approve"
    assert journal["nonce"] == nonce
    sent = 1 if where == "before_receipt" else 0
    assert chain.nonce() == nonce + sent

    # A new process on the same database (same identity): reconcile, then cycles.
    store2 = Store(url)
    aave2, _ = venues(chain)
    g2 = guardian(store2, [("aave", aave2)], live=True)
    resolved = asyncio.run(g2.reconcile())
    first = store2.order(row["client_order_id"])
    assert first is not None
    if where == "before_mark_sent":  # journaled, never broadcast: expired, its nonce still free
        assert first["status"] == "expired"
        assert chain.nonce() == nonce
        assert resolved == [{"client_order_id": row["client_order_id"], "status": "not_sent"}]
    else:  # the same signed bytes, mined once
        assert first["status"] == "closed"
        assert first["venue_order_id"] == journal["hash"]
        assert chain.w3.eth.get_transaction_receipt(journal["hash"])["status"] == 1
    for _ in range(3):
        assert cycle(g2)["aave"]["status"] == "ok"
    g2.flush()
    orders = store2.orders(limit=20)
    closed = [o for o in orders if o["status"] == "closed"]
    assert chain.nonce() == nonce + len(closed)  # exactly one transaction per confirmed order
    journals = [_journal(store2, o["client_order_id"]) for o in closed]
    assert sorted(j["nonce"] for j in journals) == list(range(nonce, nonce + len(closed)))
    assert sum(o["side"] == "repay" for o in closed) == 1  # repaid once
    assert chain.aave_health_factor() >= int(1.35 * WAD) - 10**12  # the target, less interest since
    rebroadcasts = [r for r in store2.audit_log(limit=1000) if r["event"] == "onchain_rebroadcast"]
    assert len(rebroadcasts) == (1 if where == "before_broadcast" else 0)


def _journal(store: Store, cid: str) -> dict[str, Any]:
    for r in store.audit_log(event="deleverage", limit=1000):
        if r["decision"].get("client_order_id") == cid:
            return dict(r["decision"]["tx"])
    raise AssertionError(f"no journal entry for {cid}")


def test_a_pending_transaction_blocks_any_other_payload_for_its_nonce(chain: cp.ChainPositions, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain)
    g = guardian(store, [("aave", aave)], live=True, rules=HealthRules(confirm_wait_s=0.2))
    chain.set_weth_price(2_000.0)
    nonce = chain.nonce()
    chain.evm.tester.disable_auto_mine_transactions()
    report = cycle(g)["aave"]
    (row,) = store.orders(limit=10)
    assert row["status"] == "open"
    assert report["positions"][0]["action"]["status"] == "open"
    for _ in range(2):  # pending: looked up, never signed again, nothing new decided
        action = cycle(g)["aave"]["positions"][0]["action"]
        assert action["skipped"] == "unresolved_order"
        assert len(store.orders(limit=10)) == 1
    chain.evm.tester.enable_auto_mine_transactions()
    chain.evm.tester.mine_blocks(1)
    assert chain.nonce() == nonce + 1
    cycle(g)
    g.flush()
    first = store.order(row["client_order_id"])
    assert first is not None
    assert first["status"] == "closed"
    assert {o["side"]: o["status"] for o in store.orders(limit=10)} == {"approve": "closed", "repay": "closed"}


def test_a_guardian_that_lost_its_lease_records_no_transaction_result(chain: cp.ChainPositions, tmp_path: Path) -> None:
    """The on-chain results were written unfenced (a review): a process the account was taken
    from recorded the mined transaction, its audit row and alerts.  Now nothing is recorded, acting
    stops with one critical alert, and the new holder resolves it by hash and nonce."""
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain)
    g = guardian(store, [("aave", aave)], live=True, rules=HealthRules(confirm_wait_s=0.2))
    chain.set_weth_price(2_000.0)
    chain.evm.tester.disable_auto_mine_transactions()
    cycle(g)
    (row,) = store.orders(limit=10)
    assert row["status"] == "open"
    # A restart of the same guardian (a new instance) takes the account over; then the block is mined.
    store.take_leases(["aave"], g.owner, 3_600.0, time.time_ns(), instance="restarted")
    chain.evm.tester.enable_auto_mine_transactions()
    chain.evm.tester.mine_blocks(1)
    assert cycle(g)["aave"]["status"] == "lease_held_elsewhere"
    after = store.order(row["client_order_id"])
    assert after is not None
    assert after["status"] == "open"  # the new holder's to resolve
    assert not [r for r in store.audit_log(limit=100) if r["event"] == "reconcile"]
    (alert,) = [a for a in store.alerts(account="aave", limit=100) if a["kind"] == "lease"]
    assert alert["level"] == "critical"
    assert "not recorded" in alert["message"]


def test_a_hanging_node_is_bounded_by_the_timeout(chain: cp.ChainPositions, tmp_path: Path) -> None:
    from web3 import EthereumTesterProvider, Web3

    hanging, release = threading.Event(), threading.Event()

    class Hanging(EthereumTesterProvider):
        def make_request(self, method: Any, params: Any) -> Any:
            if hanging.is_set() and method == "eth_call":
                release.wait(30)
                raise ConnectionError("the node stopped answering")
            return super().make_request(method, params)

    w3 = Web3(Hanging(chain.evm.tester))
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    # 5 s: a whole read of the account through py-evm takes well under a second on a quiet machine
    # and over one on a loaded CI runner; the hang must still cost one timeout, not the node's 30 s.
    slow = OnchainVenue("aave-v3", w3=w3, wallet=chain.wallet, pool=chain.pool.address, read_timeout_s=5.0)
    _, morpho = venues(chain)
    g = guardian(store, [("aave", slow), ("morpho", morpho)], live=False)
    assert cycle(g)["aave"]["status"] == "ok"
    hanging.set()
    try:
        t = time.monotonic()
        reports = cycle(g)
        elapsed = time.monotonic() - t
    finally:
        hanging.clear()
        release.set()
    assert reports["aave"]["status"] == "stale"
    assert "5 s" in reports["aave"]["reason"]
    assert reports["morpho"]["status"] == "ok"  # the other account is not held up
    assert elapsed < 5.0 + 5.0, elapsed  # one timeout and the other account's cycle, far below the 30 s hang
    time.sleep(0.2)  # the hung call returns (and fails) on the venue's worker
    assert cycle(g)["aave"]["status"] == "ok"
    g.flush()
    kinds = [a["kind"] for a in store.alerts(limit=50) if a["account"] == "aave"]
    assert "stale" in kinds
    assert "fresh" in kinds


class _ShortGasVenue(OnchainVenue):
    """Gives a repayment far too little gas: it is mined and reverts (out of gas)."""

    def estimate_gas(self, request: TxRequest, sender: str) -> int:
        return 40_000 if request.kind == "repay" else super().estimate_gas(request, sender)


def test_a_reverted_transaction_is_recorded_and_alerted(chain: cp.ChainPositions, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain, cls=_ShortGasVenue)
    g = guardian(store, [("aave", aave)], live=True)
    chain.set_weth_price(2_000.0)
    nonce = chain.nonce()
    hf = chain.aave_health_factor()
    action = cycle(g)["aave"]["positions"][0]["action"]
    g.flush()
    assert action["status"] == "rejected"
    orders = {o["side"]: o for o in store.orders(limit=10)}
    assert orders["approve"]["status"] == "closed"
    assert orders["repay"]["status"] == "rejected"
    assert "reverted in block" in orders["repay"]["error"]
    assert chain.w3.eth.get_transaction_receipt(orders["repay"]["venue_order_id"])["status"] == 0
    assert chain.nonce() == nonce + 2  # the revert used its nonce
    assert chain.aave_health_factor() <= hf  # nothing repaid
    critical = [a for a in store.alerts(limit=50) if a["kind"] == "action" and a["level"] == "critical"]
    assert any("reverted in block" in a["message"] for a in critical)


def test_the_cross_check_alerts_a_model_that_disagrees_with_the_pool(chain: cp.ChainPositions, tmp_path: Path) -> None:
    def off(read: Any, target: float) -> LendingAssessment:
        a = assess(read, target)
        return LendingAssessment(a.health_factor_wad + 10**12, a.target_hf, a.value_unit, a.collateral_value,
                                 a.debt_value, a.assets)  # fmt: skip

    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain)
    g = guardian(store, [("aave", aave)], live=False, assess=off)
    reports = [cycle(g)["aave"] for _ in range(2)]
    g.flush()
    assert all(r["hf_gap"] > 0 for r in reports)
    mismatches = [a for a in store.alerts(limit=20) if a["kind"] == "hf_mismatch"]
    assert len(mismatches) == 1  # once per episode
    g_ok = guardian(Store(f"sqlite:///{tmp_path / 'ok.db'}"), [("aave", venues(chain)[0])], live=False)
    assert cycle(g_ok)["aave"]["hf_gap"] == 0.0


def test_the_probability_hook_moves_the_state(chain: cp.ChainPositions, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain)
    g = guardian(store, [("aave", aave)], live=False, p_hf_below_one=lambda read, a, h, max_p: 0.3)
    report = cycle(g)["aave"]
    assert report["health_factor"] == pytest.approx(1.6)
    assert report["state"] == "DANGER"
    assert report["positions"][0]["p_liq"] == 0.3


def test_the_venue_methods_show_the_loan_legs(chain: cp.ChainPositions) -> None:
    aave, morpho = venues(chain)
    debt = chain.tokens["vUSDC"].functions.balanceOf(chain.wallet).call()
    legs = {p.symbol: p for p in asyncio.run(aave.fetch_positions())}
    assert legs["WETH"].qty == 10.0
    assert legs["WETH"].mark_price == 3_000.0
    assert legs["USDC"].qty == pytest.approx(-debt / 1e6, abs=1e-3)
    balance = asyncio.run(aave.fetch_balance())
    assert balance.currency == "USD"
    assert balance.wallet_balance == pytest.approx(30_000 - debt / 1e6, abs=0.01)
    assert asyncio.run(aave.fetch_marks(["WETH"])) == {"WETH": 3_000.0}
    legs = {p.symbol: p for p in asyncio.run(morpho.fetch_positions())}
    assert legs["WETH"].qty == 10.0
    assert legs["WETH"].mark_price == pytest.approx(3_000.0)
    assert legs["USDC"].qty == pytest.approx(-16_125.0, abs=0.01)
    assert asyncio.run(morpho.fetch_balance()).currency == "USDC"


def test_a_leftover_allowance_is_reset_before_the_new_one(chain: cp.ChainPositions, tmp_path: Path) -> None:
    # USDT-style tokens refuse to move an allowance from one non-zero value to another.
    chain.send(chain.tokens["USDC"].functions.approve(chain.pool.address, 10**6), chain.wallet)
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain)
    g = guardian(store, [("aave", aave)], live=True)
    chain.set_weth_price(2_000.0)
    action = cycle(g)["aave"]["positions"][0]["action"]
    assert [t["call"].split(",")[1].strip(" )") for t in action["transactions"][:2]] == ["0", action["amount"]]
    assert [o["status"] for o in action["outcomes"]] == ["closed", "closed", "closed"]
    assert chain.tokens["USDC"].functions.allowance(chain.wallet, chain.pool.address).call() == 0  # all used
    assert chain.aave_health_factor() >= int(1.35 * WAD) - 10**12


def test_a_frozen_or_paused_reserve_is_neither_supplied_nor_repaid(chain: cp.ChainPositions, tmp_path: Path) -> None:
    # The wallet holds only WETH, which Aave froze (validateSupply: RESERVE_FROZEN): nothing to
    # send, said once (a supply would fail its gas estimate).  USDC paused (validateRepay:
    # RESERVE_PAUSED): the wallet's USDC is not repaid, the WETH once unfrozen is supplied.
    usdc, weth = chain.tokens["USDC"], chain.tokens["WETH"]
    chain.send(usdc.functions.transfer(chain.lender, usdc.functions.balanceOf(chain.wallet).call()), chain.wallet)
    chain.send(weth.functions.mint(20 * WAD), chain.wallet)
    cfg = chain.configurator().functions
    chain.send(cfg.setReserveFreeze(weth.address, True))
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain)
    assert read(aave).frozen == ("WETH",)
    g = guardian(store, [("aave", aave)], live=True)
    chain.set_weth_price(2_000.0)
    action = cycle(g)["aave"]["positions"][0]["action"]
    assert action["skipped"] == "no_funds", action
    assert store.orders(limit=10) == []
    chain.send(cfg.setReserveFreeze(weth.address, False))
    chain.send(cfg.setReservePause(usdc.address, True))
    chain.send(usdc.functions.transfer(chain.wallet, 5_000 * 10**6), chain.lender)
    assert read(aave).paused == ("USDC",)
    action = cycle(g)["aave"]["positions"][0]["action"]
    g.flush()
    assert (action["side"], action["symbol"], action["status"]) == ("supply", "WETH", "closed"), action


def test_without_the_debt_token_the_guardian_supplies_collateral(chain: cp.ChainPositions, tmp_path: Path) -> None:
    # The wallet sent its USDC away and holds 20 WETH: repaying is impossible, supplying is not.
    usdc = chain.tokens["USDC"]
    chain.send(usdc.functions.transfer(chain.lender, usdc.functions.balanceOf(chain.wallet).call()), chain.wallet)
    chain.send(chain.tokens["WETH"].functions.mint(20 * WAD), chain.wallet)
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, morpho = venues(chain)
    g = guardian(store, [("aave", aave), ("morpho", morpho)], live=True)
    chain.set_weth_price(2_000.0)
    reports = cycle(g)
    for name in ("aave", "morpho"):
        action = reports[name]["positions"][0]["action"]
        assert action["side"] == "supply"
        assert action["symbol"] == "WETH"
        assert action["status"] == "closed"
    calls = [t["call"].split("(")[0] for t in reports["morpho"]["positions"][0]["action"]["transactions"]]
    assert calls == ["Morpho.supplyCollateral"]  # the fixture's wallet approved WETH without limit
    assert chain.aave_health_factor() >= int(1.35 * WAD) - 10**12
    after = read(morpho)
    assert assess(after, 1.35).health_factor_wad >= int(1.35 * WAD) - 10**12
    assert after.position.collateral > 10 * WAD
