"""A cancel's gas on a chain where a plain transfer needs more than 21,000 (Arbitrum: its L1
data): never guessed, estimated again when the node refuses a journaled version for its gas; a
cancel that cannot be priced under the fee cap asks the node nothing.  The fake node of
``test_onchain_fee_bump`` (it refuses a transaction under ``transfer_gas``: "intrinsic gas too low")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_onchain_fee_bump import GWEI, FakeChain, Killed, cycle, guardian, replacements

from levguard.errors import VenueRetryableError
from levguard.live.store import Store
from levguard.venues.onchain import TxRequest

pytest.importorskip("web3")

WAD = 10**18


def stale(tmp_path: Path, chain: FakeChain, *, lost: bool) -> tuple[Store, object, dict[str, object]]:
    # A withdrawal of 9 of 10 WETH signed at WETH 1,950 (the price the fake oracle then keeps):
    # it would leave HF 0.1149 against the floor 1.05, so it is cancelled from the next cycle on.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain.withdraw_amount = 9 * WAD
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    (order,) = store.orders(limit=5)
    if lost:
        chain.mempool.clear()  # the node lost it (Arbitrum: no public mempool)
    return store, g, order


@pytest.mark.parametrize("lost", [True, False])
def test_a_cancel_whose_estimate_fails_is_signed_at_21000_and_signed_again_for_its_gas(
    tmp_path: Path, lost: bool
) -> None:
    # The estimate times out.  First: signed at 21,000 and journaled, refused "intrinsic gas too
    # low" by a node asking 93,000 at every cycle (the journaled bytes sent again for ever: the
    # nonce stayed open, or the withdrawal was mined, HF 0.1149 against the floor 1.05).  Then:
    # nothing signed on a failed estimate, so on Ethereum the withdrawal was mined in the next
    # block (a review).  Now: signed at 21,000, and a node that refuses it for its gas has it
    # estimated and signed again at the same nonce the next cycle (regas).
    chain = FakeChain()
    chain.transfer_gas = 93_000
    store, g, order = stale(tmp_path, chain, lost=lost)
    withdrawal = chain.sent[0]
    chain.estimate_error = VenueRetryableError("estimate gas of cancel: no answer from the node within 30 s")
    cycle(g)
    first = next(r for r in replacements(store) if r["purpose"] == "cancel")
    assert int(first["gas"]) == 21_000
    assert first["gas_from"].startswith("21000 (eth_estimateGas failed")
    chain.estimate_error = None
    cycle(g)  # refused for its gas: estimated again, 93,000 (in the first cycle when the node answers)
    rep = next(r for r in replacements(store) if r["purpose"] == "cancel_regas")
    assert int(rep["gas"]) == 93_000
    assert rep["hash"] in chain.sent
    chain.blocks(1)
    cycle(g)
    assert rep["hash"] in chain.mined
    assert withdrawal not in chain.mined
    assert store.order(order["client_order_id"])["status"] == "expired"


def test_on_a_chain_where_a_transfer_costs_21000_a_failed_estimate_still_cancels(tmp_path: Path) -> None:
    # Ethereum: the cancel signed at 21,000 on a failed estimate is mined in the next block,
    # before the stale withdrawal (9 of 10 WETH, HF 0.1149 against the floor 1.05).
    chain = FakeChain()
    store, g, _order = stale(tmp_path, chain, lost=False)
    withdrawal = chain.sent[0]
    chain.estimate_error = VenueRetryableError("estimate gas of cancel: no answer from the node within 30 s")
    cycle(g)
    (rep,) = replacements(store)
    chain.blocks(1)
    cycle(g)
    assert rep["hash"] in chain.mined
    assert withdrawal not in chain.mined


@pytest.mark.parametrize("lost", [True, False])
def test_a_journaled_cancel_refused_for_its_gas_is_estimated_and_signed_again(tmp_path: Path, lost: bool) -> None:
    # The cancel is estimated 93,000 x 1.25 = 116,250 and journaled; before it reaches the node the
    # L1 price rises: a plain transfer now needs 120,000.  Before: the journaled cancel was refused
    # "intrinsic gas too low" at every cycle and never estimated again (one estimate in all).
    chain = FakeChain(gas_multiplier=1.25)
    chain.transfer_gas = 93_000
    store, g, order = stale(tmp_path, chain, lost=lost)
    withdrawal = chain.sent[0]
    real = chain.broadcast

    async def l1_rises(raw: str, h: str) -> str:
        if chain.signed[h].request.kind == "cancel" and chain.transfer_gas == 93_000:
            chain.transfer_gas = 120_000
        return await real(raw, h)

    chain.broadcast = l1_rises  # type: ignore[method-assign]
    cycle(g)
    (first,) = replacements(store)
    assert int(first["gas"]) == 116_250
    assert first["hash"] not in chain.sent  # refused
    cycle(g)  # the journaled cancel sent again, refused for its gas: estimated again, a new version
    second, again = replacements(store)[0], replacements(store)[1]
    assert again["hash"] == first["hash"]
    assert (second["purpose"], second["kind"], second["nonce"]) == ("cancel_regas", "cancel", first["nonce"])
    assert int(second["gas"]) == 150_000
    assert int(second["max_fee_per_gas"]) >= int(first["max_fee_per_gas"])
    assert int(second["max_priority_fee_per_gas"]) >= int(first["max_priority_fee_per_gas"])
    assert second["hash"] in chain.sent
    chain.blocks(1)
    cycle(g)
    assert second["hash"] in chain.mined
    assert withdrawal not in chain.mined
    assert store.order(order["client_order_id"])["status"] == "expired"
    assert len(replacements(store)) == 2
    # What the node answered and the multiplier (before: "eth_estimateGas 116250").
    assert first["gas_from"] == "eth_estimateGas 93000 x 1.25 = 116250"
    assert second["gas_from"] == "eth_estimateGas 120000 x 1.25 = 150000"


def test_a_journaled_cancel_not_refused_is_sent_as_journaled_after_a_kill(tmp_path: Path) -> None:
    # Killed between the cancel's journal (gas 93,000) and its broadcast; after the restart the node
    # would estimate 120,000 but accepts 93,000: the journaled bytes go, nothing is signed again.
    url = f"sqlite:///{tmp_path / 'g.db'}"
    chain = FakeChain()
    chain.transfer_gas = 93_000
    store, g, order = stale(tmp_path, chain, lost=False)
    chain.kill_on = "replacement"
    with pytest.raises(Killed):
        cycle(g)
    (rep,) = replacements(store)
    assert rep["hash"] not in chain.sent

    async def estimate(request: TxRequest, sender: str) -> int:
        chain.estimated.append(request)
        return 120_000

    chain.estimate = estimate  # type: ignore[method-assign]
    store2 = Store(url)
    g2 = guardian(store2, chain)
    signed = len(chain.signed)
    asyncio.run(g2.reconcile())
    assert chain.sent.count(rep["hash"]) == 1
    assert len(chain.signed) == signed
    assert len(replacements(store2)) == 1
    chain.blocks(1)
    cycle(g2)
    assert rep["hash"] in chain.mined
    assert store2.order(order["client_order_id"])["status"] == "expired"


def test_a_withdrawal_at_the_cap_that_cannot_be_cancelled_asks_nothing_each_cycle(tmp_path: Path) -> None:
    # 0.5 WETH withdrawn at the cap (max_fee_per_gas 41 gwei), stale once WETH falls to 1,850: no
    # cancel fits under the cap.  Before: every cycle wrote an onchain_stale audit row and asked the
    # node for fees and an estimate (10 cycles: 10 rows, 10 estimates).
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain(max_fee_per_gas=41 * GWEI)
    chain.withdraw_amount = WAD // 2
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    asked: list[str] = []
    real_fees = chain.fees

    async def fees() -> tuple[int | None, int]:
        asked.append("fees")
        return await real_fees()

    chain.fees = fees  # type: ignore[method-assign]
    chain.weth_price = 1_850 * 10**8
    for _ in range(10):
        cycle(g)
    assert replacements(store) == []
    assert len(store.audit_log(account="aave", event="onchain_stale", limit=100)) == 1
    assert chain.estimated == []
    assert asked == []
    capped = [a for a in g.alerter.sent if "not replaced" in a.message]
    assert len(capped) == 1
    assert capped[0].level == "critical"
    assert "above max_fee_per_gas 41 gwei" in capped[0].message


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        ("intrinsic gas too low: gas 21000, minimum needed 93000", True),
        ("IntrinsicGasTooLow", True),
        ("INTRINSIC_GAS_EXCEEDS_GAS_LIMIT", True),
        ("gas limit too low", True),
        ("insufficient gas for floor data gas cost: gas 21000, minimum needed 21160", True),
        ("replacement transaction underpriced", False),
        ("nonce too low", False),
        ("insufficient funds for gas * price + value", False),
        ("send raw transaction: no answer from the node within 30 s", False),
    ],
)
def test_a_refusal_for_the_gas_limit_is_told_from_others(error: str, refused: bool) -> None:
    from levguard.venues.onchain_errors import gas_refused  # (new: imported here, the file runs on older code)

    assert gas_refused(error) is refused


@given(answer=st.integers(0, 10**9), m=st.floats(1.0, 4.0))
def test_gas_from_names_the_nodes_answer_only_when_it_is_exact(answer: int, m: float) -> None:
    # OnchainVenue.estimate returns int(answer x m); gas_from recovers the answer (or says only the
    # multiplier), never a wrong one.
    from levguard.live.onchain_fees import _gas_from

    gas = int(answer * m)
    text = _gas_from(SimpleNamespace(gas_multiplier=m), gas)  # type: ignore[arg-type]
    assert text.endswith(f"= {gas}") or (m == 1.0 and text == f"eth_estimateGas {gas}")
    said = text.split()[1]
    if said != "x":
        assert int(int(said) * m) == gas


def test_a_nonce_is_signed_again_for_its_gas_at_most_max_regas_times(tmp_path: Path) -> None:
    # A review (2026-12-07): a node whose estimate grows by 1,000 at each ask but always wants one
    # more had a new version journaled every cycle, without end and without a critical alert.
    from levguard.live.onchain_fees import MAX_REGAS

    chain = FakeChain()
    store, g, _order = stale(tmp_path, chain, lost=True)
    real = chain.broadcast
    need = {"gas": 21_000}

    async def estimate(request: Any, sender: str) -> int:
        need["gas"] += 1_000
        return need["gas"]

    async def broadcast(raw: str, h: str) -> str:
        signed = chain.signed[h]
        if signed.request.kind == "cancel" and signed.gas <= need["gas"]:
            raise VenueRetryableError(f"intrinsic gas too low: gas {signed.gas}, minimum needed {need['gas'] + 1}")
        return await real(raw, h)

    chain.estimate, chain.broadcast = estimate, broadcast  # type: ignore[method-assign]
    for _ in range(10):
        cycle(g)
    regassed = [r for r in replacements(store) if r["purpose"] == "cancel_regas"]
    assert len(regassed) == MAX_REGAS
    assert any(a.level == "critical" and "signed again for their gas" in a.message for a in g.alerter.sent)


def test_a_version_above_a_lowered_fee_cap_is_not_signed_again_for_its_gas(tmp_path: Path) -> None:
    # A review (2026-12-07): max_fee_per_gas lowered to 30 gwei after a cancel was signed at
    # 46.125; the node refused that cancel for its gas and it was signed again at 46.125.
    chain = FakeChain()
    store, g, _order = stale(tmp_path, chain, lost=True)
    real = chain.broadcast
    need = {"gas": 21_000}

    async def refuse(raw: str, h: str) -> str:
        if chain.signed[h].gas < need["gas"]:
            raise VenueRetryableError(f"intrinsic gas too low: gas {chain.signed[h].gas}, minimum needed {need['gas']}")
        return await real(raw, h)

    async def first(raw: str, h: str) -> str:  # the cancel goes out, then the L1 price rises
        need["gas"] = 40_000
        chain.broadcast = refuse  # type: ignore[method-assign]
        return await refuse(raw, h)

    chain.broadcast = first  # type: ignore[method-assign]
    cycle(g)
    chain.transfer_gas = 40_000
    chain.max_fee_per_gas = 30 * GWEI  # the operator lowers the cap
    cycle(g)
    assert all(int(r["max_fee_per_gas"]) <= 30 * GWEI for r in replacements(store) if r["purpose"] == "cancel_regas")
    assert not [r for r in replacements(store) if r["purpose"] == "cancel_regas"]
    assert any(a.level == "critical" and "above max_fee_per_gas" in a.message for a in g.alerter.sent)


def test_a_stale_withdrawal_under_a_moving_oracle_is_audited_once_per_period(tmp_path: Path) -> None:
    # A review (2026-12-07): the once-per-reason gate compared the reason's text, whose health
    # factor moves with the oracle: WETH falling 2 USD a cycle wrote an onchain_stale row at each
    # of 10 cycles (1 with a still price).
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain(max_fee_per_gas=41 * GWEI)
    chain.withdraw_amount = WAD // 2
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    for i in range(10):
        chain.weth_price = (1_850 - 2 * i) * 10**8
        cycle(g)
    assert len(store.audit_log(account="aave", event="onchain_stale", limit=100)) == 1
