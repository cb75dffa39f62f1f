"""A supply's and a withdrawal's collateral as the Aave aToken mints and burns it (hypothesis).

The collateral twin of ``test_aave_borrow_mint.py``.  ``AToken.mint`` adds ``amount.rayDiv(index)``
scaled units (3.5+: ``rayDivFloor``), ``AToken.burn`` removes ``amount.rayDiv(index)`` (3.5+:
``rayDivCeil``) and ``balanceOf`` is ``scaled.rayMul(index)`` (3.5+: ``rayMulFloor``), so the
balance after supplying ``x`` can be ``collateral + x - 1`` (3.5+: ``- 2``) and after withdrawing
``w`` ``collateral - w - 1`` (``- 2``).  A review found ``supply_to_target`` leaving HF below the
target (103 of 150 on 3.5 with the index unknown) and raising InputError with the index known,
``loop_position`` raising InputError on a grown ``liquidity_index`` (23 of 40), and
``unwind_plan`` promising a health factor above the chain's (272 of 897 rounds).  The token
arithmetic is written out here (not levguard's), and:

* with the row's ``liquidity_index`` known, supplying ``supply_to_target``'s amount reaches the
  target exactly (the engine's HF is the chain's) and one unit less does not;
* with the index unknown (the row at ``RAY``), the amount reaches the target for any true index
  in ``[RAY, 2 RAY)`` behind the balance;
* ``loop_position`` on a grown index runs and ends on the chain's aToken balance;
* every ``unwind_plan`` round's health factors (after the withdrawal, after the repayment) are at
  most the chain's, for any true indexes in ``[RAY, 2 RAY)`` behind the read balances.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.defi.aave import collateral_after_supply, collateral_after_withdraw
from levguard.defi import analytics
from levguard.defi.aave import RAY, AaveError, AaveReserve, get_user_account_data
from levguard.defi.loops import loop_position
from levguard.defi.onchain import unwind_plan
from levguard.defi.positions import AavePosition
from levguard.live.onchain_unwind import UnwindParams
from levguard.venues.onchain_read import AaveRead

SETTINGS = settings(max_examples=120, deadline=None)
VERSIONS = ("3.0", "3.1", "3.2", "3.3", "3.5", "3.6")
TWO_RAY = 2 * RAY


# WadRayMath written out: half up (3.0 - 3.4) and TokenMath's directions for the aToken (3.5+).
def _mul_half_up(a: int, b: int) -> int:
    return (a * b + RAY // 2) // RAY


def _div_half_up(a: int, b: int) -> int:
    return (a * RAY + b // 2) // b


def _directed(version: str) -> bool:
    return version in ("3.5", "3.6")


def _a_balance(scaled: int, index: int, version: str) -> int:  # getATokenBalance: rayMulFloor
    return scaled * index // RAY if _directed(version) else _mul_half_up(scaled, index)


def _a_minted(amount: int, index: int, version: str) -> int:  # getATokenMintScaledAmount: rayDivFloor
    return amount * RAY // index if _directed(version) else _div_half_up(amount, index)


def _a_burned(amount: int, index: int, version: str) -> int:  # getATokenBurnScaledAmount: rayDivCeil
    return -(-amount * RAY // index) if _directed(version) else _div_half_up(amount, index)


def _v_balance(scaled: int, index: int, version: str) -> int:  # getVTokenBalance: rayMulCeil
    return -(-scaled * index // RAY) if _directed(version) else _mul_half_up(scaled, index)


def _v_burned(amount: int, index: int, version: str) -> int:  # getVTokenBurnScaledAmount: rayDivFloor
    return amount * RAY // index if _directed(version) else _div_half_up(amount, index)


def _hf(rows: tuple[AaveReserve, ...], version: str) -> int:
    plain = tuple(replace(r, liquidity_index=RAY, variable_borrow_index=RAY, balance_rounding="half_up") for r in rows)
    return get_user_account_data(plain, None, version).health_factor


def _unknown(pos: AavePosition) -> AavePosition:
    # The same balances with no index given (RAY): what a position file without indexes holds.
    rows = tuple(replace(r, liquidity_index=RAY, variable_borrow_index=RAY, balance_rounding="half_up")
                 for r in pos.reserves)  # fmt: skip
    return replace(pos, reserves=rows)


@st.composite
def supply_accounts(draw: st.DrawFn) -> tuple[AavePosition, int, int]:
    """A collateral with a grown liquidity index against one debt, HF from 0.5 to 1.6: (the
    position with its true index, the collateral's scaled balance, its liquidity index)."""
    version = draw(st.sampled_from(VERSIONS))
    rounding = "directed" if _directed(version) else "half_up"
    c_dec, d_dec = draw(st.sampled_from([6, 8, 18])), draw(st.sampled_from([6, 18]))
    c_price = draw(st.integers(9 * 10**7, 10**12))
    d_price = draw(st.integers(9 * 10**7, 11 * 10**7))
    lt = draw(st.integers(5000, 9300))
    ltv = lt - draw(st.integers(0, 500))
    index = draw(st.integers(RAY + 1, TWO_RAY - 1))  # known: above RAY (RAY reads as unknown)
    c_value = draw(st.integers(100, 10**7))  # USD
    scaled = max(1, c_value * 10**8 * 10**c_dec // c_price * RAY // index)
    hf = draw(st.floats(0.5, 1.6))
    d_units = max(1, int(c_value * lt / 10_000 / hf * 10**8 * 10**d_dec / d_price))
    coll = AaveReserve(
        symbol="WETH", price=c_price, decimals=c_dec, ltv=ltv, lt=lt, collateral=_a_balance(scaled, index, version),
        liquidation_bonus=10_500, liquidity_index=index, balance_rounding=rounding,
    )  # fmt: skip
    debt = AaveReserve(symbol="USDC", price=d_price, decimals=d_dec, ltv=7500, lt=7800, debt=d_units,
                       liquidation_bonus=10_450)  # fmt: skip
    return AavePosition(reserves=(coll, debt), version=version), scaled, index


def _hf_after_supply(pos: AavePosition, scaled: int, index: int, x: int) -> int | None:
    # The chain's health factor after supplying x (None: the mint reverts, 0 scaled units).
    minted = _a_minted(x, index, pos.version)
    if minted == 0:
        return None
    after = _a_balance(scaled + minted, index, pos.version)
    return _hf(tuple(replace(r, collateral=after) if r.collateral else r for r in pos.reserves), pos.version)


def test_the_atoken_mints_and_burns_scaled_units_rounded_as_the_contracts_round() -> None:
    index = 1_100_000_000_000_000_000_000_000_000  # 1.1 ray
    row = AaveReserve(symbol="WETH", price=10**8, decimals=6, ltv=7500, lt=7800, collateral=_mul_half_up(7, index),
                      liquidity_index=index)  # fmt: skip
    assert row.collateral == 8  # 7 scaled units at 1.1: 7.7 rounds half up
    # Supply 1: rayDiv(1, 1.1) = 0.909 -> 1, 8 x 1.1 = 8.8 -> 9; 4: 3.636 -> 4, 11 x 1.1 = 12.1 -> 12
    assert [collateral_after_supply(row, x) for x in (1, 2, 4)] == [9, 10, 12]
    # Withdraw 1: 1 scaled unit, 6 x 1.1 = 6.6 -> 7; 3: 2.727 -> 3, 4.4 -> 4, one under 8 - 3; all: 0
    assert [collateral_after_withdraw(row, w) for w in (1, 3, 8)] == [7, 4, 0]
    down = replace(row, collateral=7 * index // RAY, balance_rounding="directed")  # floor(7.7) = 7
    # 3.5+: supply 2 mints floor(1.818) = 1 and reads floor(8.8) = 8, one under 7 + 2
    assert collateral_after_supply(down, 2) == 8
    # 3.5+: withdraw 2 burns ceil(1.818) = 2 and reads floor(5.5) = 5 (7 - 2); withdraw 1: 1, 6.6 -> 6
    assert [collateral_after_withdraw(down, w) for w in (1, 2, 7)] == [6, 5, 0]
    with pytest.raises(AaveError, match=r"INVALID_MINT_AMOUNT \(24\).*1 mints 0"):
        collateral_after_supply(down, 1)  # rayDivFloor(1, 1.1) = 0
    with pytest.raises(AaveError, match=r"INVALID_BURN_AMOUNT \(25\)"):
        collateral_after_withdraw(replace(row, collateral=_mul_half_up(7, 3 * RAY), liquidity_index=3 * RAY), 1)
    with pytest.raises(AaveError, match=r"INVALID_AMOUNT \(26\)"):
        collateral_after_withdraw(row, 0)
    with pytest.raises(AaveError, match=r"NOT_ENOUGH_AVAILABLE_USER_BALANCE \(32\).*9 is above the balance 8"):
        collateral_after_withdraw(row, 9)


@SETTINGS
@given(st.sampled_from(VERSIONS), st.integers(RAY, TWO_RAY - 1), st.integers(0, 10**24), st.integers(1, 10**24))
def test_the_unknown_index_margin_bounds_the_atoken_below_2_ray(version: str, index: int, scaled: int, x: int) -> None:
    # collateral + x - m <= after supply, and collateral - w - m <= after withdraw (m = 1, 3.5+: 2).
    m = 2 if _directed(version) else 1
    rounding = "directed" if _directed(version) else "half_up"
    c = _a_balance(scaled, index, version)
    row = AaveReserve(symbol="WETH", price=10**8, decimals=18, ltv=7500, lt=7800, collateral=c,
                      liquidity_index=index, balance_rounding=rounding)  # fmt: skip
    if _a_minted(x, index, version):
        after = collateral_after_supply(row, x)
        assert after == _a_balance(scaled + _a_minted(x, index, version), index, version)
        assert c + x - m <= after <= c + x + 1
    w = min(x, c)
    if w > 0 and _a_burned(w, index, version):
        after = collateral_after_withdraw(row, w)
        assert after == (0 if w == c else _a_balance(scaled - _a_burned(w, index, version), index, version))
        assert max(0, c - w - m) <= after


@SETTINGS
@given(supply_accounts(), st.sampled_from([11 * 10**17, 125 * 10**16, 15 * 10**17, 2 * 10**18]), st.booleans())
def test_supply_to_target_holds_the_target_after_the_mint_and_one_unit_less_does_not(
    account: tuple[AavePosition, int, int], target: int, known: bool
) -> None:
    pos, scaled, index = account
    r = analytics.supply_to_target(pos if known else _unknown(pos), target / 10**18, "WETH")
    assert r.amount is not None
    x = r.amount
    if x > 0:
        hf = _hf_after_supply(pos, scaled, index, x)
        assert hf is not None
        assert hf >= target
        if known:
            assert r.health_factor_after_wad == hf
            less = _hf_after_supply(pos, scaled, index, x - 1) if x > 1 else None
            assert less is None or less < target


@settings(max_examples=40, deadline=None)
@given(supply_accounts(), st.integers(1, 4))
def test_loop_position_on_a_grown_liquidity_index_ends_on_the_atoken_balance(
    account: tuple[AavePosition, int, int], steps: int
) -> None:
    pos, scaled, index = account
    if _hf(pos.reserves, pos.version) < 13 * 10**17:  # room to borrow at HF 1.2
        pos = replace(pos, reserves=(pos.reserves[0], replace(pos.reserves[1], debt=1)))
    report = loop_position(pos, "WETH", "USDC", steps=steps, min_hf=1.2)
    for step in report.steps:
        scaled += _a_minted(step.bought_units, index, pos.version)
    end = report.position
    assert isinstance(end, AavePosition)
    assert end.reserve("WETH").collateral == _a_balance(scaled, index, pos.version)


_ADDR = "0x" + "11" * 20


def _read(rows: tuple[AaveReserve, ...], version: str) -> AaveRead:
    return AaveRead(
        wallet=_ADDR, payer=_ADDR, pool=_ADDR, oracle=_ADDR, block_number=1, block_timestamp=1, read_ns=0,
        version=version, reserves=rows, emode=None, emode_id=0, chain_health_factor=0,
        chain_total_collateral_base=0, chain_total_debt_base=0, assets={r.symbol: _ADDR for r in rows},
        oracles=(), balances={}, allowances={},
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(VERSIONS),
    st.integers(RAY, TWO_RAY - 1),
    st.integers(RAY, TWO_RAY - 1),
    st.integers(10**18, 10**21),
    st.floats(1.01, 1.15),
    st.sampled_from([125 * 10**16, 15 * 10**17]),
)
def test_unwind_plan_health_factors_are_never_above_the_chains(
    version: str, c_index: int, d_index: int, c_scaled: int, hf0: float, target: int
) -> None:
    # The read carries balances only (indexes unknown); the chain holds them at the true indexes.
    c = _a_balance(c_scaled, c_index, version)
    d_scaled = max(1, int(c * 2000 * 0.8 / hf0 / 10**12 * RAY / d_index))
    rows = (
        AaveReserve("WETH", 2000 * 10**8, 18, 7700, 8000, collateral=c, liquidation_bonus=10500),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=_v_balance(d_scaled, d_index, version), liquidation_bonus=10450),
    )
    params = UnwindParams(target_hf=target / 10**18, floor_hf=1.005, max_slippage=0.01, rounds=5, use_wallet=False)
    plan = unwind_plan(_read(rows, version), params)
    for rd in plan.rounds:
        burned = _a_burned(rd.withdraw, c_index, version)
        c_scaled = 0 if rd.withdraw == _a_balance(c_scaled, c_index, version) else c_scaled - burned
        mid = (replace(rows[0], collateral=_a_balance(c_scaled, c_index, version)),
               replace(rows[1], debt=_v_balance(d_scaled, d_index, version)))  # fmt: skip
        assert rd.health_factor_after_withdraw <= _hf(mid, version)
        repaid = min(rd.repay, _v_balance(d_scaled, d_index, version))
        d_scaled = (
            0 if repaid == _v_balance(d_scaled, d_index, version) else d_scaled - _v_burned(repaid, d_index, version)
        )
        after = (mid[0], replace(rows[1], debt=_v_balance(d_scaled, d_index, version)))
        assert rd.health_factor_after <= _hf(after, version)
