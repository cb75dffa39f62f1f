"""Aave v3 supply caps in the on-chain guardian: the configuration's bits, the room under a cap
(:func:`levguard.core.defi.aave_caps.supply_cap_room`) and :func:`levguard.live.onchain_tx.plan`
capping a supply at it (the same against the real Pool: ``tests/evm/test_onchain_aave_limits.py``)."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("web3")

from levguard.core.defi.aave_caps import debt_interest_bound, supply_cap_room
from levguard.core.defi.wadray import RAY
from levguard.errors import InputError
from levguard.live.onchain import AssetFigures, HealthRules, LendingAssessment, OnchainAccountSetup
from levguard.live.onchain_tx import plan
from levguard.venues.onchain import OnchainVenue
from levguard.venues.onchain_read import AaveRead, decode_reserve_configuration

WALLET = "0x" + "11" * 20
POOL = "0x" + "22" * 20
WAD = 10**18


def test_the_configuration_carries_the_reserve_factor_and_the_caps() -> None:
    data = (1000 << 64) | (123_456 << 80) | (68_719_476_735 << 116) | (18 << 48)
    d = decode_reserve_configuration(data)
    assert (d["reserve_factor"], d["borrow_cap"], d["supply_cap"], d["decimals"]) == (1000, 123_456, 68_719_476_735, 18)


def test_the_room_is_the_cap_less_the_supply_the_treasurys_share_and_the_margin() -> None:
    assert supply_cap_room(0, 18, 10 * WAD, 0, RAY, 0, 1000) is None  # no cap
    # 10 supplied at index 1.1, 0.5 scaled to the treasury, 2 of debt interest at a 10 % factor.
    room = supply_cap_room(20, 18, 10 * WAD, WAD // 2, 11 * RAY // 10, 2 * WAD, 1000, margin_bps=0)
    assert room == 20 * WAD - 11_550 * WAD // 1000 - 2 * WAD // 10 - 2
    assert supply_cap_room(20, 18, 10 * WAD, WAD // 2, 11 * RAY // 10, 2 * WAD, 1000) == room - 2 * 10**15
    assert supply_cap_room(1, 18, 10 * WAD, 0, RAY, 0, 0) == 0  # over the cap already: no room, not < 0
    with pytest.raises(InputError, match="decimals"):
        supply_cap_room(1, -1, 0, 0, RAY, 0, 0)
    # Variable interest since the last update, the stable part bounded by total - principal.
    assert debt_interest_bound(100, 2 * RAY, 250, 40, 45) == 50 + 5 + 1


def _read(room: dict[str, int], balances: dict[str, int]) -> AaveRead:
    return AaveRead(
        wallet=WALLET, payer=WALLET, pool=POOL, oracle=POOL, block_number=1, block_timestamp=1, read_ns=0,
        version="3.0", reserves=(), emode=None, emode_id=0, chain_health_factor=0, chain_total_collateral_base=0,
        chain_total_debt_base=0, assets={}, oracles=(), balances=balances, allowances={}, supply_room=room,
    )  # fmt: skip


def _assessment(repay: int, supply: int) -> LendingAssessment:
    return LendingAssessment(
        int(1.1 * WAD), 1.35, "USD", 30_000.0, 22_000.0,
        (AssetFigures("WETH", 3_000.0, 18, 10 * WAD, 0, 2_700.0, None, supply),
         AssetFigures("USDC", 1.0, 6, 0, 22_000 * 10**6, None, repay, None)),
    )  # fmt: skip


@functools.cache
def _setup() -> OnchainAccountSetup:
    from levguard.defi.onchain import assess

    venue = OnchainVenue("aave-v3", rpc_url="http://127.0.0.1:9", wallet=WALLET, pool=POOL)
    return OnchainAccountSetup(name="a", venue=venue, assess=assess, rules=HealthRules(prefer="supply"))


def test_a_supply_cut_by_its_cap_yields_to_a_repayment_that_reaches_the_target() -> None:
    a = _assessment(5_000 * 10**6, 2 * WAD)
    both = {"USDC": 10**12, "WETH": 10 * WAD}
    assert plan(_setup(), _read({}, both), a)[:3] == ("supply", "WETH", 2 * WAD)  # type: ignore[index]
    assert plan(_setup(), _read({"WETH": WAD}, both), a)[:3] == ("repay", "USDC", 5_000 * 10**6)  # type: ignore[index]
    assert plan(_setup(), _read({"WETH": 0}, both), a)[:3] == ("repay", "USDC", 5_000 * 10**6)  # type: ignore[index]
    # A repayment that cannot reach the target either: the capped supply, the preferred action.
    chosen = plan(_setup(), _read({"WETH": WAD}, {"USDC": 10**6, "WETH": 10 * WAD}), a)
    assert chosen is not None
    assert chosen[:3] == ("supply", "WETH", WAD)


def test_when_none_reaches_the_target_the_action_raising_the_health_factor_most_goes() -> None:
    # A supply cut to one wei by its cap must not go before a repayment of 99.98 % of what is
    # needed (the wallet holds 4,999 of the 5,000 USDC): it was chosen as the preferred action.
    a = _assessment(5_000 * 10**6, 2 * WAD)
    chosen = plan(_setup(), _read({"WETH": 1}, {"USDC": 4_999 * 10**6, "WETH": 10 * WAD}), a)
    assert chosen is not None
    assert chosen[:3] == ("repay", "USDC", 4_999 * 10**6)
    assert any("capped by the wallet's balance" in r for r in chosen[3])
    # The supply's share of the gap (one half) against a repayment of 0.1 % of what is needed.
    chosen = plan(_setup(), _read({"WETH": WAD}, {"USDC": 5 * 10**6, "WETH": 10 * WAD}), a)
    assert chosen is not None
    assert chosen[:3] == ("supply", "WETH", WAD)
    assert "capped by the room under its supply cap" in chosen[3][-1]
    assert plan(_setup(), _read({"WETH": 0}, {"USDC": 0, "WETH": 10 * WAD}), a) is None


@given(room=st.integers(0, 10**20), usdc=st.integers(0, 10**11), weth=st.integers(0, 10**20))
def test_a_supply_never_exceeds_the_room(room: int, usdc: int, weth: int) -> None:
    chosen = plan(_setup(), _read({"WETH": room}, {"USDC": usdc, "WETH": weth}), _assessment(5_000 * 10**6, 2 * WAD))
    if chosen is not None and chosen[0] == "supply":
        assert 0 < chosen[2] <= room


def test_an_action_cut_by_the_wallet_yields_to_one_that_reaches_the_target() -> None:
    # The preferred supply cut to 1 wei by the wallet's balance (not by the cap) went at once,
    # though the wallet held all the USDC a repayment to the target needs (a review).
    a = _assessment(5_000 * 10**6, 2 * WAD)
    chosen = plan(_setup(), _read({}, {"USDC": 10**12, "WETH": 1}), a)
    assert chosen is not None
    assert chosen[:3] == ("repay", "USDC", 5_000 * 10**6)
    chosen = plan(_setup(), _read({"WETH": 1}, {"USDC": 10**12, "WETH": 1}), a)  # cut by both, 1 = 1
    assert chosen is not None
    assert chosen[:3] == ("repay", "USDC", 5_000 * 10**6)
    # Neither reaches it: the larger rise (2,000 of the 5,000 USDC against 1 wei of WETH).
    chosen = plan(_setup(), _read({}, {"USDC": 2_000 * 10**6, "WETH": 1}), a)
    assert chosen is not None
    assert chosen[:3] == ("repay", "USDC", 2_000 * 10**6)
