"""A cancel's gas on a chain where a plain transfer needs more than 21,000 (Arbitrum: its L1
data): never guessed, estimated again when the node refuses a journaled version for its gas; a
cancel that cannot be priced under the fee cap asks the node nothing.  The fake node of
``test_onchain_fee_bump`` (it refuses a transaction under ``transfer_gas``: "intrinsic gas too low")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

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
def test_a_cancel_whose_estimate_fails_is_not_signed_and_is_estimated_next_cycle(tmp_path: Path, lost: bool) -> None:
    # Before: the estimate timed out, the cancel was signed at 21,000 and journaled; the node asks
    # 93,000 and refused it "intrinsic gas too low" at every cycle, the journaled bytes sent again
    # for ever: the nonce stayed open (lost) or the withdrawal was mined (HF 0.1149, floor 1.05).
    chain = FakeChain()
    chain.transfer_gas = 93_000
    store, g, order = stale(tmp_path, chain, lost=lost)
    withdrawal = chain.sent[0]
    chain.estimate_error = VenueRetryableError("estimate gas of cancel: no answer from the node within 30 s")
    cycle(g)
    assert replacements(store) == []  # nothing signed on a guess
    assert any("not signed this cycle" in a.message for a in g.alerter.sent)
    chain.estimate_error = None
    cycle(g)  # estimated again: 93,000
    (rep,) = replacements(store)
    assert (rep["purpose"], int(rep["gas"]), rep["gas_from"]) == ("cancel", 93_000, "eth_estimateGas 93000")
    assert rep["hash"] in chain.sent
    chain.blocks(1)
    cycle(g)
    assert rep["hash"] in chain.mined
    assert withdrawal not in chain.mined
    assert store.order(order["client_order_id"])["status"] == "expired"


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
