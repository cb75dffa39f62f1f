"""A transaction stuck pending in a gas spike is replaced at its nonce with higher fees.

A fake chain (a mempool with geth's replacement rule, a base fee, blocks that mine what pays it)
stands in for the node; the guardian, the store and the journal are levguard's own.  The repay is
signed at ``2 x base fee + tip``; the base fee then more than doubles: without a replacement it
stays pending forever while the health factor falls.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from levguard.core.defi.aave import AaveReserve, get_user_account_data
from levguard.errors import InputError, VenueRetryableError
from levguard.live.guardian import Guardian
from levguard.live.onchain import HealthRules, OnchainAccountSetup
from levguard.live.onchain_fees import REPLACEMENT_EVENT, replacement_fees, underpriced
from levguard.live.store import Store
from levguard.venues.onchain import OnchainVenue, SignedTx, TxRequest, TxStatus
from levguard.venues.onchain_read import AaveRead

pytest.importorskip("web3")

ADDR = "0x" + "11" * 20
GWEI = 10**9


class Killed(BaseException):
    """The process dies here."""


class FakeChain(OnchainVenue):
    """A node: a mempool (one transaction per nonce, replaced only by +10 % on both fees, as geth),
    a base fee, and blocks that mine the next nonce when it pays the base fee."""

    def __init__(self, **policy: Any) -> None:  # the policy's attributes, as OnchainVenue sets them
        self.name = self.protocol = "aave-v3"
        self.signer = type("S", (), {"address": ADDR})()
        self.swapper = None
        self.replace_after_cycles = policy.get("replace_after_cycles", 2)
        self.fee_bump = policy.get("fee_bump", 0.125)
        self.max_fee_per_gas = policy.get("max_fee_per_gas")
        self.base_fee, self.tip = 20 * GWEI, GWEI
        self.signed: dict[str, SignedTx] = {}
        self.mempool: dict[int, str] = {}  # nonce -> hash
        self.mined: dict[str, int] = {}  # hash -> block
        self.nonce, self.block = 0, 100
        self.weth_price = 2_000 * 10**8
        self.sent: list[str] = []
        self.kill_on: str | None = None  # "replacement": die before broadcasting a replacement
        self.price_bump = 10  # the node's --txpool.pricebump (geth: 10 %)
        self.withdraw_amount: int | None = None  # repay() signs a withdrawal of this much WETH instead
        self.gas_multiplier = policy.get("gas_multiplier", 1.0)
        self.transfer_gas = 21_000  # eth_estimateGas of a plain transfer (Arbitrum: more, its L1 data)
        self.estimate_error: Exception | None = None
        self.estimated: list[TxRequest] = []

    def _reserves(self) -> tuple[AaveReserve, ...]:
        return (
            AaveReserve("WETH", self.weth_price, 18, 8000, 8250, collateral=10 * 10**18),
            AaveReserve("USDC", 10**8, 6, 0, 0, debt=14_000 * 10**6),
        )

    async def read(self) -> AaveRead:
        rs = self._reserves()
        acc = get_user_account_data(rs, None, "3.0")
        return AaveRead(
            wallet=ADDR, payer=ADDR, pool=ADDR, oracle=ADDR, block_number=self.block, block_timestamp=0,
            read_ns=0, version="3.0", reserves=rs, emode=None, emode_id=0,
            chain_health_factor=acc.health_factor, chain_total_collateral_base=acc.total_collateral_base,
            chain_total_debt_base=acc.total_debt_base, assets={"WETH": ADDR, "USDC": ADDR}, oracles=(),
            balances={"USDC": 100_000 * 10**6}, allowances={"USDC": 2**255},
        )  # fmt: skip

    def repay(self, read: Any, symbol: str, amount: int) -> TxRequest:
        if self.withdraw_amount is not None:  # a withdrawal sized on this read (stale on any later one)
            n = self.withdraw_amount
            return TxRequest("withdraw", "WETH", n, ADDR, "0x", f"Pool.withdraw(WETH, {n})")
        return TxRequest("repay", symbol, amount, ADDR, "0x", f"Pool.repay({symbol}, {amount}, 2, {ADDR})")

    def supply(self, read: Any, symbol: str, amount: int) -> TxRequest:
        return TxRequest("supply", symbol, amount, ADDR, "0x", f"Pool.supply({symbol}, {amount})")

    def approve(self, read: Any, symbol: str, amount: int, spender: str | None = None) -> TxRequest:
        return TxRequest("approve", symbol, amount, ADDR, "0x", f"{symbol}.approve({amount})")

    def _signed(self, request: TxRequest, nonce: int, max_fee: int, tip: int, gas: int = 100_000) -> SignedTx:
        h = "0x%064x" % (len(self.signed) + 1)
        s = SignedTx(request, 1, ADDR, nonce, gas, max_fee, tip, h, "0xraw" + h[2:])
        self.signed[h] = s
        return s

    async def prepare(self, request: TxRequest) -> SignedTx:  # OnchainVenue.prepare's pricing
        return self._signed(request, self.nonce + len(self.mempool), 2 * self.base_fee + self.tip, self.tip)

    async def sign(
        self, request: TxRequest, nonce: int, gas: int, max_fee: int, tip: int, *, legacy: bool = False
    ) -> SignedTx:
        return self._signed(request, nonce, max_fee, tip, gas)

    async def estimate(self, request: TxRequest, sender: str) -> int:  # OnchainVenue.estimate
        self.estimated.append(request)
        if self.estimate_error is not None:
            raise self.estimate_error
        assert (request.to, request.value, request.data) == (sender, 0, "0x")  # only cancels are estimated
        return int(self.transfer_gas * self.gas_multiplier)

    async def fees(self) -> tuple[int | None, int]:
        return self.base_fee, self.tip

    async def broadcast(self, raw: str, tx_hash: str) -> str:
        s = self.signed[tx_hash]
        if self.kill_on == "replacement" and s.nonce in self.mempool and self.mempool[s.nonce] != tx_hash:
            self.kill_on = None
            raise Killed("before broadcasting the replacement")
        if s.nonce < self.nonce:
            raise VenueRetryableError("nonce too low")
        if s.gas < self.transfer_gas:  # geth's IntrinsicGas (Arbitrum's covers the L1 data too)
            raise VenueRetryableError(f"intrinsic gas too low: gas {s.gas}, minimum needed {self.transfer_gas}")
        held = self.mempool.get(s.nonce)
        if held is not None and held != tx_hash:
            old = self.signed[held]
            # geth core/txpool/legacypool/list.go list.Add: both strictly above, then +price_bump %
            if s.max_fee_per_gas <= old.max_fee_per_gas or s.max_priority_fee_per_gas <= old.max_priority_fee_per_gas:
                raise VenueRetryableError("replacement transaction underpriced")
            up = 100 + self.price_bump
            if s.max_fee_per_gas * 100 < old.max_fee_per_gas * up or s.max_priority_fee_per_gas * 100 < (
                old.max_priority_fee_per_gas * up
            ):
                raise VenueRetryableError("replacement transaction underpriced")
        self.mempool[s.nonce] = tx_hash
        self.sent.append(tx_hash)
        return tx_hash

    def blocks(self, n: int = 1, *, rise: float = 1.0) -> None:
        """``n`` blocks, the base fee times ``rise`` before each; each mines the next nonce if it pays."""
        for _ in range(n):
            self.base_fee = int(self.base_fee * rise)
            self.block += 1
            h = self.mempool.get(self.nonce)
            if h is not None and self.signed[h].max_fee_per_gas >= self.base_fee:
                self.mine(h)

    def mine(self, h: str) -> None:
        """Mine ``h`` (whichever node held it), dropping what else waited at its nonce."""
        self.mined[h] = self.block
        self.mempool.pop(self.signed[h].nonce, None)
        self.nonce += 1

    async def status(self, tx_hash: str) -> TxStatus:
        if tx_hash in self.mined:
            return TxStatus("mined", True, self.mined[tx_hash], 50_000)
        if tx_hash in self.mempool.values():
            return TxStatus("pending")
        return TxStatus("unknown")

    async def wait(self, tx_hash: str, seconds: float, poll_s: float = 0.25) -> TxStatus:
        return await self.status(tx_hash)

    async def confirmed_nonce(self, address: str) -> int:
        return self.nonce

    async def close(self) -> None:
        return None


async def _nosleep(_s: float) -> None:
    return None


def guardian(store: Store, chain: FakeChain) -> Guardian:
    store.upsert_account("aave", "aave-v3", live_enabled=True)
    setup = OnchainAccountSetup(
        name="aave", venue=chain, assess=_assess(), rules=HealthRules(confirm_wait_s=0.0), live=True,
        cooldown_s=0.0, retries=0, backoff_s=0.0,
    )  # fmt: skip
    return Guardian([setup], store, live=True, owner="t", sleep=_nosleep, lease_ttl_s=3_600.0, cycle_budget_s=60.0)


def _assess() -> Any:
    from levguard.defi.onchain import assess

    return assess


def cycle(g: Guardian) -> dict[str, Any]:
    return asyncio.run(g.cycle())[0]


def replacements(store: Store) -> list[dict[str, Any]]:
    return [a["decision"]["tx"] for a in store.audit_log(account="aave", event=REPLACEMENT_EVENT, limit=50)]


def repays(store: Store) -> list[dict[str, Any]]:
    return [o for o in store.orders(limit=50) if o["side"] == "repay"]


PRICES = [2_000, 1_950, 1_900, 1_850, 1_800, 1_750, 1_700, 1_650]
SPIKE = [1.0, 2.25, 2.25, 2.25, 1.0, 1.0, 1.0, 1.0]  # the base fee x2.25 per cycle, three times


def test_a_repay_stuck_in_a_gas_spike_is_sped_up_and_mined(tmp_path: Path) -> None:
    # The hunt's scenario: before, the repay (signed at 91 gwei, the base fee 45) sat pending behind
    # a 228 gwei base fee at every cycle and nothing else was sent while the health factor fell.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    g = guardian(store, chain)
    mined_at = None
    for i, (price, rise) in enumerate(zip(PRICES, SPIKE, strict=True)):
        chain.weth_price = price * 10**8
        chain.blocks(1, rise=rise)
        report = cycle(g)
        if mined_at is None and any(h in chain.mined for h in chain.sent):
            mined_at = i
    first = chain.signed[chain.sent[0]]
    assert first.max_fee_per_gas == 91 * GWEI
    assert first.hash not in chain.mined
    (order, *_later) = repays(store)[::-1]
    assert order["status"] == "closed"  # booked once, by the replacement mined
    reps = replacements(store)[::-1]
    assert len(reps) >= 1
    assert all(r["nonce"] == first.nonce for r in reps)
    assert any(r["hash"] in chain.mined for r in reps)
    assert mined_at is not None
    assert mined_at <= 5
    fees = [first.max_fee_per_gas] + [int(r["max_fee_per_gas"]) for r in reps]
    tips = [first.max_priority_fee_per_gas] + [int(r["max_priority_fee_per_gas"]) for r in reps]
    assert all(b * 100 >= a * 110 for a, b in itertools.pairwise(fees))  # geth's +10 %, each
    assert all(b * 100 >= a * 110 for a, b in itertools.pairwise(tips))
    assert report["state"] is not None
    assert not store.unresolved_orders("aave") or all(o["client_order_id"] != order["client_order_id"]
                                                      for o in store.unresolved_orders("aave"))  # fmt: skip
    assert any("sped up" in a.message for a in g.alerter.sent)


def test_a_transaction_priced_for_the_market_is_not_replaced(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    for _ in range(4):  # pending (no block mined), but it pays the base fee: it waits its turn
        cycle(g)
    assert replacements(store) == []
    assert len(chain.sent) == 1


def test_a_kill_between_journaling_and_broadcasting_a_replacement(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = Store(url)
    chain = FakeChain()
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)  # the repay at 41 gwei
    chain.blocks(1, rise=2.25)
    cycle(g)  # pending 1
    chain.blocks(1, rise=2.25)
    chain.kill_on = "replacement"
    with pytest.raises(Killed):
        cycle(g)  # pending 2: journaled, then killed before the broadcast
    (rep,) = replacements(store)
    assert rep["hash"] not in chain.sent

    store2 = Store(url)
    g2 = guardian(store2, chain)
    asyncio.run(g2.reconcile())  # the journaled replacement is broadcast (the same bytes), no other
    assert chain.sent.count(rep["hash"]) == 1
    assert len(replacements(store2)) == 1
    chain.blocks(1)
    cycle(g2)
    order = repays(store2)[-1]  # the first (a later cycle may repay more)
    assert order["status"] == "closed"
    assert chain.mined.get(rep["hash"]) is not None
    assert sum(1 for h in chain.mined if chain.signed[h].nonce == rep["nonce"]) == 1


def test_the_cap_bounds_every_replacement(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain(max_fee_per_gas=150 * GWEI, replace_after_cycles=1)
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)  # 41 gwei
    for rise in (2.25, 2.25, 2.25, 1.0):  # base fee 45, 101, 228, 228 gwei
        chain.blocks(1, rise=rise)
        cycle(g)
    reps = replacements(store)[::-1]
    assert [int(r["max_fee_per_gas"]) for r in reps] == [91_125_000_000, 150 * GWEI]  # the last at the cap
    assert all(s.max_fee_per_gas <= 150 * GWEI for s in chain.signed.values())
    critical = [a.message for a in g.alerter.sent if a.level == "critical" and "max_fee_per_gas" in a.message]
    assert any("replaced at the cap" in m for m in critical)
    assert any("not replaced" in m for m in critical)
    (order,) = repays(store)
    assert order["status"] == "open"


def test_the_original_mined_after_a_replacement_was_sent_is_booked_once(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain(replace_after_cycles=1)
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    first = chain.sent[0]
    chain.blocks(1, rise=2.25)
    cycle(g)  # replaced
    (rep,) = replacements(store)
    chain.mine(first)  # another node still held the original: a builder mines it
    cycle(g)
    order = repays(store)[-1]  # the first (the cycle then repays more: the price is lower)
    assert order["status"] == "closed"
    assert order["venue_order_id"] == first
    assert chain.mined[first]
    assert rep["hash"] not in chain.mined
    booked = [a for a in store.audit_log(account="aave", event="reconcile", limit=20)
              if a["decision"].get("client_order_id") == order["client_order_id"]]  # fmt: skip
    assert len(booked) == 1
    assert booked[0]["decision"]["hash"] == first
    assert order["client_order_id"] not in {o["client_order_id"] for o in store.unresolved_orders("aave")}


@given(
    max_fee=st.integers(1, 10**13),
    tip=st.integers(0, 10**12),
    base=st.none() | st.integers(0, 10**13),
    market=st.integers(0, 10**12),
    bump=st.floats(0.10, 2.0),
)
@example(max_fee=10**9, tip=0, base=10**9, market=0, bump=0.125)  # a tip of 0 x 1.125 is still 0
def test_a_replacement_raises_both_fees_by_geths_least_and_meets_the_market(
    max_fee: int, tip: int, base: int | None, market: int, bump: float
) -> None:
    old_tip = max(min(tip, max_fee), 0)
    new_max, new_tip = replacement_fees(max_fee, old_tip, base, market, bump)
    assert new_max * 10 >= max_fee * 11
    assert new_tip * 10 >= old_tip * 11
    assert new_max > max_fee  # geth: strictly above, even at a tip of 0
    assert new_tip > old_tip
    assert new_tip >= market
    assert new_tip <= new_max
    if base is not None:
        assert new_max >= 2 * base + new_tip


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"fee_bump": 0.05}, "fee_bump"),
        ({"replace_after_cycles": 0}, "replace_after_cycles"),
        ({"max_fee_per_gas": 0}, "max_fee_per_gas"),
        ({"fee_bump": True}, "fee_bump"),
        ({"max_fee_per_gas": True}, "max_fee_per_gas"),
    ],
)
def test_the_replacement_policy_is_checked(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        OnchainVenue("aave-v3", wallet=ADDR, rpc_url="http://localhost:1", pool=ADDR, **kw)


class WithdrawingChain(FakeChain):
    """The guardian's action here is a withdrawal of 9 of the 10 WETH (an unwind's leg, as far as
    the reconciliation is concerned): one the position never allows on a fresh read."""

    def repay(self, read: Any, symbol: str, amount: int) -> TxRequest:
        if self.withdraw_amount is not None:  # a withdrawal sized on this read (stale on any later one)
            n = self.withdraw_amount
            return TxRequest("withdraw", "WETH", n, ADDR, "0x", f"Pool.withdraw(WETH, {n})")
        return TxRequest("withdraw", "WETH", 9 * 10**18, ADDR, "0x", f"Pool.withdraw(WETH, {9 * 10**18}, {ADDR})")


def test_a_stuck_withdrawal_that_the_position_no_longer_allows_is_cancelled_not_sped_up(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = WithdrawingChain()
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    (order,) = store.orders(limit=5)
    assert order["side"] == "withdraw"
    for rise in (2.25, 1.0):  # stale at its first pending cycle: cancelled then (checked every cycle)
        chain.blocks(1, rise=rise)
        cycle(g)
    (rep,) = replacements(store)
    assert rep["purpose"] == "cancel"
    assert (rep["kind"], rep["to"], rep["data"], rep["amount"]) == ("cancel", ADDR, "0x", "0")
    assert int(rep["max_fee_per_gas"]) * 100 >= int(chain.signed[chain.sent[0]].max_fee_per_gas) * 110
    assert [chain.signed[h].request.kind for h in chain.mined] == ["cancel"]
    order = store.order(order["client_order_id"])
    assert order is not None
    assert order["status"] == "expired"
    assert "cancelled" in order["error"]
    assert "onchain_stale" in [a["event"] for a in store.audit_log(account="aave", limit=30)]


def test_a_bumped_cancel_mined_books_the_withdrawal_cancelled(tmp_path: Path) -> None:
    # Before, the cancel's own fee bump was journaled as a "speed_up" and, once mined, booked as the
    # withdrawal it cancelled: the row closed with its quantity filled, "confirmed" alerted.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    chain.withdraw_amount = 9 * 10**18  # 9 of 10 WETH: stale on any read
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    (order,) = store.orders(limit=5)
    for rise in (2.25, 2.25, 2.25, 1.0):  # stuck -> cancelled; the cancel stuck -> bumped
        chain.blocks(1, rise=rise)
        cycle(g)
    reps = replacements(store)[::-1]
    assert [(r["purpose"], r["kind"]) for r in reps] == [("cancel", "cancel"), ("cancel_speed_up", "cancel")]
    chain.blocks(1)
    cycle(g)
    assert reps[-1]["hash"] in chain.mined
    row = store.order(order["client_order_id"])
    assert row["status"] == "expired"
    assert row["filled"] == 0.0
    assert "cancelled at nonce 0" in row["error"]
    # (the next cycle's own withdrawal, at nonce 1, may be confirmed: not this one)
    cid = order["client_order_id"]
    assert not any("confirmed" in a.message and a.data.get("client_order_id") == cid for a in g.alerter.sent)
    assert not any(chain.signed[h].request.kind == "withdraw" and chain.signed[h].nonce == 0 for h in chain.mined)


def test_a_cancel_is_never_checked_for_staleness_again(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain(replace_after_cycles=1)
    chain.withdraw_amount = 9 * 10**18
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    for _ in range(4):  # the withdrawal cancelled, then the cancel bumped three times
        chain.blocks(1, rise=2.25)
        cycle(g)
    reps = replacements(store)[::-1]
    assert [r["purpose"] for r in reps] == ["cancel"] + ["cancel_speed_up"] * 3
    assert all(r["kind"] == "cancel" and r["amount"] == "0" for r in reps)
    stale = store.audit_log(account="aave", event="onchain_stale", limit=20)
    assert len(stale) == 1  # the withdrawal, once; the cancel is bumped as a cancel, never re-checked


def test_a_zero_tip_is_replaced_above_zero(tmp_path: Path) -> None:
    # A node's eth_maxPriorityFeePerGas of 0: before, the replacement's tip was ceil(0 x 1.125) = 0,
    # which geth refuses (not strictly above), and the refused bytes were sent again every cycle.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    chain.tip = 0
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    first = chain.signed[chain.sent[0]]
    assert first.max_priority_fee_per_gas == 0
    for rise in (2.25, 2.25, 1.0, 1.0):
        chain.blocks(1, rise=rise)
        cycle(g)
    reps = replacements(store)
    assert reps
    assert int(reps[-1]["max_priority_fee_per_gas"]) >= 1
    assert any(r["hash"] in chain.mined for r in reps)
    assert repays(store)[-1]["status"] == "closed"


def test_a_replacement_the_node_refuses_is_priced_again(tmp_path: Path) -> None:
    # A node asking +25 % (--txpool.pricebump 25): the +12.5 % replacement is refused; before, it
    # was sent again, refused, at every cycle and never re-priced; now the next is priced from it.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    chain.price_bump = 25
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)  # 41 gwei, tip 1 gwei
    for rise in (2.25, 2.25, 1.0, 1.0, 1.0, 1.0, 1.0):
        chain.blocks(1, rise=rise)
        cycle(g)
    reps = replacements(store)[::-1]
    assert len(reps) >= 2
    assert reps[0]["hash"] not in chain.sent  # refused
    assert any(r["hash"] in chain.mined for r in reps[1:])
    assert repays(store)[-1]["status"] == "closed"
    assert any("refused by the node" in a.message for a in g.alerter.sent)


@pytest.mark.parametrize("stop", ["kill_switch", "dry_run"])
def test_the_kill_switch_and_a_dry_run_sign_no_replacement(tmp_path: Path, stop: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    if stop == "kill_switch":
        store.set_kill_switch("aave", True)
    else:
        store.upsert_account("aave", "aave-v3", live_enabled=False)
    signed = len(chain.signed)
    for rise in (2.25, 2.25, 1.0, 1.0):
        chain.blocks(1, rise=rise)
        cycle(g)
    assert len(chain.signed) == signed  # nothing new signed: the repay waits at its fees
    assert replacements(store) == []
    assert repays(store)[-1]["status"] == "open"


def test_the_cap_bounds_the_first_transaction(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("eth_tester")
    from eth_tester import EthereumTester
    from web3 import EthereumTesterProvider, Web3

    from levguard.venues.onchain import LocalSigner

    w3 = Web3(EthereumTesterProvider(EthereumTester()))
    key = "0x" + "45" * 32
    acct = w3.eth.account.from_key(key)
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address, "value": 10**19})
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    cap = max(1, base // 2)  # below what 2 x base fee + tip needs
    v = OnchainVenue(
        "aave-v3", w3=w3, wallet=acct.address, signer=LocalSigner(key), pool=acct.address, max_fee_per_gas=cap
    )
    req = TxRequest("repay", "USDC", 1, acct.address, "0x", "Pool.repay(USDC, 1)")
    s = asyncio.run(v.prepare(req))
    assert s.max_fee_per_gas == cap
    assert s.max_priority_fee_per_gas <= cap
    assert "signed at the cap" in caplog.text


def test_under_the_kill_switch_a_stale_withdrawal_the_node_lost_is_neither_sent_nor_cancelled(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = FakeChain()
    chain.withdraw_amount = 9 * 10**18
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    (order,) = store.orders(limit=5)
    chain.mempool.clear()  # the node lost it
    store.set_kill_switch("aave", True)
    signed, sent = len(chain.signed), len(chain.sent)
    cycle(g)
    assert (len(chain.signed), len(chain.sent)) == (signed, sent)
    assert any("not cancelled (kill switch or dry run)" in a.message for a in g.alerter.sent)
    store.set_kill_switch("aave", False)
    cycle(g)  # the switch off: cancelled at its nonce
    assert [r["purpose"] for r in replacements(store)] == ["cancel"]
    assert store.order(order["client_order_id"])["status"] in ("open", "expired")


class _Flaky(FakeChain):
    """A node that times out on the broadcast of a replacement while ``flaky``."""

    flaky = False

    async def broadcast(self, raw: str, tx_hash: str) -> str:
        nonce = self.signed[tx_hash].nonce
        if self.flaky and nonce in self.mempool and self.mempool[nonce] != tx_hash:
            raise VenueRetryableError("send: read timeout (the node did not answer)")
        return await super().broadcast(raw, tx_hash)


def test_a_replacement_the_node_does_not_answer_is_sent_again_not_priced_again(tmp_path: Path) -> None:
    # Any failed broadcast was taken as a refusal: with the market flat, the fees rose 12.5 % every
    # two cycles while the node timed out (203.6 -> 412.8 gwei in 12 cycles), and the version
    # finally mined paid a tip of 2.28 gwei where the market asked 1.
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    chain = _Flaky()
    g = guardian(store, chain)
    chain.weth_price = 1_950 * 10**8
    cycle(g)
    chain.blocks(1, rise=2.25)
    cycle(g)
    chain.flaky = True
    chain.blocks(1, rise=2.25)
    cycle(g)  # the first bump, due: journaled, its broadcast times out
    first = replacements(store)
    assert len(first) == 1
    for _ in range(12):  # the market's fees flat
        chain.blocks(1, rise=1.0)
        cycle(g)
    assert replacements(store) == first  # sent again as it is, never re-priced
    chain.flaky = False
    for _ in range(3):
        chain.blocks(1, rise=1.0)
        cycle(g)
    assert first[0]["hash"] in chain.mined
    assert repays(store)[-1]["status"] == "closed"
    assert underpriced("replacement transaction underpriced")
    assert underpriced("REPLACEMENT_UNDERPRICED")
    assert underpriced("ReplacementNotAllowed")
    assert not underpriced("send: read timeout")
    assert not underpriced("insufficient funds for gas * price + value")
