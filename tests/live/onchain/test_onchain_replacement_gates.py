"""Replacements at a nonce (fee bumps, cancels) and what stops them: an account disabled after an
authentication failure signs none; a cancel's gas is the node's estimate; a withdrawal pending is
checked against the position every cycle.  The fake node of ``test_onchain_fee_bump``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_onchain_fee_bump import GWEI, FakeChain, cycle, guardian, replacements

from levguard.errors import VenueAuthError
from levguard.live.store import Store
from levguard.venues.onchain import TxRequest

pytest.importorskip("web3")

WAD = 10**18
CANCEL_GAS = 21_000  # a plain transfer's intrinsic gas on Ethereum (levguard.live.onchain_fees.CANCEL_GAS)
WHY = "read Aave account: HTTPError: 401 Client Error: Unauthorized"


def disable(g: Any, store: Store) -> None:
    # What the guardian does on an authentication failure (Guardian._disable): persisted and in memory.
    store.set_disabled("aave", WHY, 1)
    g._state["aave"].disabled = WHY


def audits(store: Store, event: str) -> list[dict[str, Any]]:
    return store.audit_log(account="aave", event=event, limit=50)


def test_a_disabled_account_signs_no_fee_bump_and_says_why(tmp_path: Path) -> None:
    # Before, a repay stuck behind a base fee of 101 gwei was sped up (signed and broadcast at
    # 203.6 gwei) on an account whose acting was disabled: the gate was the kill switch and dry run.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    disable(g, store)
    signed = len(chain.signed)
    for rise in (2.25, 2.25, 1.0, 1.0):
        chain.blocks(1, rise=rise)
        cycle(g)
    assert len(chain.signed) == signed
    assert replacements(store) == []
    (alert,) = [a for a in g.alerter.sent if "not signed" in a.message]
    assert "fee bump due: pending for 2 cycles with maxFeePerGas 41 gwei" in alert.message
    assert f"not signed (acting disabled: {WHY})" in alert.message
    (audit,) = audits(store, "onchain_not_replaced")  # once per alert period
    assert audit["decision"]["stop"] == f"acting disabled: {WHY}"
    g.enable_account("aave")
    cycle(g)  # re-enabled: the bump goes
    assert [r["purpose"] for r in replacements(store)] == ["speed_up"]


@pytest.mark.parametrize("lost", [False, True])
def test_a_disabled_account_does_not_cancel_a_stale_withdrawal(tmp_path: Path, lost: bool) -> None:
    # A withdrawal of 9 of 10 WETH, stale on any later read: pending (or lost by the node), it was
    # cancelled at its nonce on an account disabled for an authentication failure.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain(replace_after_cycles=1)
    chain.withdraw_amount = 9 * WAD
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    (order,) = store.orders(limit=5)
    disable(g, store)
    if lost:
        chain.mempool.clear()
    signed, sent = len(chain.signed), len(chain.sent)
    for rise in (2.25, 1.0):
        chain.blocks(1, rise=rise)
        cycle(g)
    assert (len(chain.signed), len(chain.sent)) == (signed, sent)
    assert replacements(store) == []
    assert store.order(order["client_order_id"])["status"] in ("open", "sent")
    (alert,) = [a for a in g.alerter.sent if "not cancelled" in a.message]
    assert "below the floor" in alert.message
    assert f"not cancelled (acting disabled: {WHY})" in alert.message
    assert len(audits(store, "onchain_not_replaced")) == 1
    assert audits(store, "onchain_stale") == []


def stale_cancel(tmp_path: Path, chain: FakeChain) -> tuple[Store, Any, dict[str, Any]]:
    # A withdrawal of 9 of 10 WETH the node lost: cancelled at its nonce on the next cycle.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain.withdraw_amount = 9 * WAD
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    (order,) = store.orders(limit=5)
    chain.mempool.clear()
    cycle(g)
    return store, g, order


def test_a_cancel_on_arbitrum_carries_the_gas_the_node_estimates(tmp_path: Path) -> None:
    # On Arbitrum a plain transfer's gas covers its L1 data: the node asks 93,000 here.  Before,
    # the cancel was signed at a fixed 21,000, refused "intrinsic gas too low" at every cycle, and
    # the stale withdrawal's nonce stayed open (the withdrawal itself could still be mined).
    chain = FakeChain()
    chain.transfer_gas = 93_000
    store, g, order = stale_cancel(tmp_path, chain)
    (rep,) = replacements(store)
    assert rep["purpose"] == "cancel"
    assert int(rep["gas"]) == 93_000
    assert rep["gas_from"] == "eth_estimateGas 93000"
    assert [r.kind for r in chain.estimated] == ["cancel"]
    chain.blocks(1)
    cycle(g)
    assert rep["hash"] in chain.mined
    assert store.order(order["client_order_id"])["status"] == "expired"


def test_a_cancel_whose_estimate_is_refused_for_credentials_is_not_signed(tmp_path: Path) -> None:
    # A 401 on the estimate is refused credentials: acting disabled, nothing signed at 21,000.
    chain = FakeChain()
    chain.estimate_error = VenueAuthError("estimate gas of cancel: HTTPError: 401 Client Error: Unauthorized")
    store, g, order = stale_cancel(tmp_path, chain)
    assert replacements(store) == []
    assert g.disabled("aave")
    assert store.order(order["client_order_id"])["status"] in ("open", "sent")


class _Estimates:
    """A venue whose ``estimate`` answers ``gas`` (an int) or raises it (an exception)."""

    def __init__(self, gas: int | Exception) -> None:
        self.gas = gas

    async def estimate(self, request: TxRequest, sender: str) -> int:
        if isinstance(self.gas, Exception):
            raise self.gas
        return self.gas


@given(gas=st.integers(0, 10**7))
def test_a_cancels_gas_is_the_estimate_never_below_21000(gas: int) -> None:
    from levguard.live.onchain_fees import cancel_gas  # (new: imported here, the file runs on older code)

    request = TxRequest("cancel", "WETH", 0, "0x" + "11" * 20, "0x", "cancel of nonce 0")
    got, source = asyncio.run(cancel_gas(_Estimates(gas), request))  # type: ignore[arg-type]
    assert got == max(gas, CANCEL_GAS)
    assert source.startswith(f"eth_estimateGas {gas}")


def test_a_pending_withdrawal_the_position_drifts_under_is_cancelled_on_the_next_cycle(tmp_path: Path) -> None:
    # 0.5 of 10 WETH withdrawn at WETH 1,950 (HF 1.1491 -> 1.0916 after it, the floor 1.05), priced
    # for the market (41 gwei, the base fee 20): it waits its turn.  WETH falls to 1,850 while it
    # waits (HF 1.0902; after it 1.0357, under the floor 1.0451).  Before, a withdrawal pending and
    # not due for a fee bump was never checked: the next block mined it, HF 1.0357.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    chain.withdraw_amount = WAD // 2
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    (order,) = store.orders(limit=5)
    assert order["side"] == "withdraw"
    withdrawal = chain.sent[0]
    assert chain.signed[withdrawal].max_fee_per_gas == 41 * GWEI
    for _ in range(3):  # pending, priced for the market, still allowed: nothing replaced
        cycle(g)
    assert replacements(store) == []
    chain.weth_price = 1_850 * 10**8
    cycle(g)  # the drift: cancelled at its nonce
    (rep,) = replacements(store)
    assert (rep["purpose"], rep["kind"], rep["nonce"]) == ("cancel", "cancel", chain.signed[withdrawal].nonce)
    assert int(rep["max_fee_per_gas"]) * 100 >= chain.signed[withdrawal].max_fee_per_gas * 110
    (stale,) = audits(store, "onchain_stale")
    assert "1.0357 below the floor 1.0451" in stale["reasons"][0]
    chain.blocks(1)
    cycle(g)
    assert rep["hash"] in chain.mined
    assert withdrawal not in chain.mined
    assert store.order(order["client_order_id"])["status"] == "expired"


def test_a_real_nodes_estimate_of_a_cancel() -> None:
    # OnchainVenue.estimate through web3 on an in-process chain: a 0-value self-transfer is the
    # intrinsic 21,000, times gas_multiplier 1.25 (26,250), as prepare() signs other transactions;
    # gas_from says the node's answer and the multiplier.
    pytest.importorskip("eth_tester")
    from eth_tester import EthereumTester
    from web3 import EthereumTesterProvider, Web3

    from levguard.live.onchain_fees import cancel_gas
    from levguard.venues.onchain import LocalSigner, OnchainVenue

    w3 = Web3(EthereumTesterProvider(EthereumTester()))
    key = "0x" + "46" * 32
    acct = w3.eth.account.from_key(key)
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address, "value": 10**19})
    v = OnchainVenue("aave-v3", w3=w3, wallet=acct.address, signer=LocalSigner(key), pool=acct.address)
    request = TxRequest("cancel", "WETH", 0, acct.address, "0x", f"cancel of nonce 0 ({acct.address})")
    assert asyncio.run(cancel_gas(v, request)) == (26_250, "eth_estimateGas 21000 x 1.25 = 26250")
