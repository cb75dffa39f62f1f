"""Exactness of the analytics against the integer engines, over random positions (hypothesis).

For random Aave v3 accounts (1-3 collaterals with different thresholds, 1-2 debts, e-mode with
collaterals whose own LTV and threshold are 0, versions 3.0-3.3, 3.5 and 3.6) and random Morpho
Blue markets:

* the liquidation price ``p`` of a collateral is healthy (HF >= 1) and ``p - 1`` is not, in the
  exact engine; prices above ``p`` stay healthy (``p + 1``, ``p`` + 0.01 %, random ones); with one
  collateral (or one threshold) moving the price 0.01 % below ``p`` is liquidatable;
* the repayment to a target HF reaches it in the engine and one unit less does not (on the debt
  after the burn with the index unknown: a unit (3.5+: two) above ``debt - x``);
* the supply to a target reaches it, one unit less does not, and any larger supply keeps it (on
  the aToken balance after the mint with the index unknown: a unit (3.5+: two) below ``c + x``);
* the max safe borrow passes ``validateBorrow`` (3.5 / 3.6: the checks after the mint) /
  ``Morpho.borrow`` with HF >= target, one unit more does not (Aave: on the debt after the mint
  with the index unknown, one unit (3.5+: two) above ``debt + x``; tests/defi/test_aave_borrow_mint.py
  checks known indexes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levguard.defi import analytics, morpho
from levguard.defi.aave import (
    AaveError,
    AaveReserve,
    EModeCategory,
    get_user_account_data,
    validate_borrow,
    validate_borrow_after_mint,
)
from levguard.defi.positions import AavePosition, MorphoPosition

E18 = 10**18
SETTINGS = settings(max_examples=150, deadline=None)
targets = st.sampled_from([E18, 11 * 10**17, 125 * 10**16, 15 * 10**17, 2 * E18, 3 * E18])


@st.composite
def aave_positions(draw: st.DrawFn) -> AavePosition:
    n_coll = draw(st.integers(1, 3))
    n_debt = draw(st.integers(1, 2))
    version = draw(st.sampled_from(["3.0", "3.1", "3.2", "3.3", "3.5", "3.6"]))
    emode = None
    if draw(st.booleans()):
        lt = draw(st.integers(9000, 9700))
        emode = EModeCategory(ltv=lt - draw(st.integers(0, 300)), lt=lt, liquidation_bonus=10_100)
    rows: list[AaveReserve] = []
    weighted = 0.0
    for i in range(n_coll):
        decimals = draw(st.sampled_from([6, 8, 18]))
        price = draw(st.integers(10**6, 10**13))
        lt = draw(st.integers(4000, 9000))
        value_usd = draw(st.floats(100, 1e7))
        amount = max(1, int(value_usd * 10**8 / price * 10**decimals))
        in_emode = emode is not None and draw(st.booleans())
        ltv = lt - draw(st.integers(0, 1000))
        if in_emode and draw(st.integers(0, 3)) == 0:  # counted through e-mode alone (3.6), else not at all
            lt = ltv = 0
        weighted += amount * price / 10**decimals * (emode.lt if in_emode and emode else lt) / 10_000
        rows.append(
            AaveReserve(
                symbol=f"C{i}", price=price, decimals=decimals, ltv=ltv, lt=lt, collateral=amount,
                liquidation_bonus=10_500 if lt else 0, in_emode=in_emode,
            )
        )  # fmt: skip
    hf = draw(st.floats(0.6, 3.0))
    share = draw(st.floats(0.2, 0.8)) if n_debt == 2 else 1.0
    for j, part in enumerate([share, 1 - share][:n_debt]):
        decimals = draw(st.sampled_from([6, 18]))
        price = draw(st.integers(9 * 10**7, 11 * 10**7))
        debt = max(1, int(weighted / hf * part / price * 10**decimals))
        rows.append(
            AaveReserve(
                symbol=f"D{j}", price=price, decimals=decimals, ltv=7500, lt=7800, debt=debt,
                liquidation_bonus=10_450, in_emode=emode is not None,
            )
        )  # fmt: skip
    return AavePosition(reserves=tuple(rows), emode_category=emode, version=version)


def hf(pos: AavePosition, symbol: str | None = None, **changes: Any) -> int:
    rows = (
        pos.reserves
        if symbol is None
        else tuple(replace(r, **changes) if r.symbol == symbol else r for r in pos.reserves)
    )
    return get_user_account_data(rows, pos.emode_category, pos.version).health_factor


@SETTINGS
@given(aave_positions(), st.data())
def test_aave_liquidation_price_is_exact(pos: AavePosition, data: st.DataObject) -> None:
    symbol = data.draw(st.sampled_from([r.symbol for r in pos.reserves if r.collateral > 0]))
    lp = analytics.liquidation_price(pos, symbol)
    if lp.price is None:
        assert lp.reason
        if "price of 0" in lp.reason:
            assert hf(pos, symbol, price=0) >= E18
        return
    p = lp.price
    assert hf(pos, symbol, price=p) >= E18 > hf(pos, symbol, price=p - 1)
    above = {p + 1, p + p // 10_000 + 1, p + data.draw(st.integers(1, 10 * p)), p * 2}
    assert all(hf(pos, symbol, price=q) >= E18 for q in above)
    thresholds = {pos.threshold(r) for r in pos.reserves if pos.counted(r)}
    if len(thresholds) == 1:  # one threshold: HF is monotone in the price
        assert hf(pos, symbol, price=p * 9_999 // 10_000) < E18
        below = data.draw(st.integers(0, p - 1))
        assert hf(pos, symbol, price=below) < E18


@SETTINGS
@given(aave_positions(), targets, st.data())
def test_aave_repay_to_target_is_exact(pos: AavePosition, target: int, data: st.DataObject) -> None:
    symbol = data.draw(st.sampled_from([r.symbol for r in pos.reserves if r.debt > 0]))
    r = analytics.repay_to_target(pos, target / E18, symbol)
    debt = pos.reserve(symbol).debt
    # The rows hold no index (RAY): the debt after the burn is taken a unit (3.5+: two) above
    # debt - x, and 0 once all is repaid.
    margin = 2 if pos.version in ("3.5", "3.6") else 1

    def left(x: int) -> int:
        return debt if x == 0 else 0 if x >= debt else debt - x + margin

    if r.amount is None:
        assert hf(pos, symbol, debt=0) < target
        return
    assert hf(pos, symbol, debt=left(r.amount)) >= target
    assert r.health_factor_after_wad == hf(pos, symbol, debt=left(r.amount))
    if r.amount > 0:
        assert hf(pos, symbol, debt=left(r.amount - 1)) < target


@SETTINGS
@given(aave_positions(), targets, st.data())
def test_aave_supply_to_target_is_exact(pos: AavePosition, target: int, data: st.DataObject) -> None:
    symbol = data.draw(st.sampled_from([r.symbol for r in pos.reserves if r.collateral > 0]))
    s = analytics.supply_to_target(pos, target / E18, symbol)
    if s.amount is None:
        assert s.reason
        return
    c = pos.reserve(symbol).collateral
    # The rows hold no index (RAY): the aToken balance after the mint is taken a unit (3.5+: two)
    # below collateral + x, never below the balance before.
    margin = 2 if pos.version in ("3.5", "3.6") else 1

    def held(x: int) -> int:
        return c if x == 0 else max(c, c + x - margin)

    assert hf(pos, symbol, collateral=held(s.amount)) >= target
    assert s.health_factor_after_wad == hf(pos, symbol, collateral=held(s.amount))
    if s.amount > 0:
        assert hf(pos, symbol, collateral=held(s.amount - 1)) < target
        more = data.draw(st.integers(1, 10 * s.amount))
        assert hf(pos, symbol, collateral=held(s.amount + more)) >= target


@SETTINGS
@given(aave_positions(), st.one_of(st.none(), targets), st.data())
def test_aave_max_safe_borrow_is_exact(pos: AavePosition, target: int | None, data: st.DataObject) -> None:
    symbol = data.draw(st.sampled_from([r.symbol for r in pos.reserves if r.debt > 0]))
    b = analytics.max_safe_borrow(pos, symbol, None if target is None else target / E18)
    assert b.amount is not None
    debt = pos.reserve(symbol).debt

    # The rows hold no index (RAY): the debt after the mint is taken a unit (3.5+: two) above debt + x.
    margin = 2 if pos.version in ("3.5", "3.6") else 1

    def passes(x: int) -> bool:
        if x == 0:
            return True
        try:
            if pos.version in ("3.5", "3.6"):
                after = tuple(replace(r, debt=debt + x + margin) if r.symbol == symbol else r for r in pos.reserves)
                validate_borrow_after_mint(after, pos.emode_category, pos.version)
            else:
                validate_borrow(pos.reserves, symbol, x, pos.emode_category, pos.version)
        except AaveError:
            return False
        return target is None or hf(pos, symbol, debt=debt + x + margin) >= target

    if b.amount > 0:
        assert passes(b.amount)
    assert not passes(b.amount + 1)


# --- Morpho Blue ------------------------------------------------------------------------------------


@st.composite
def morpho_positions(draw: st.DrawFn) -> MorphoPosition:
    cd, ld = draw(st.sampled_from([6, 8, 18])), draw(st.sampled_from([6, 18]))
    lltv = draw(st.sampled_from([385, 625, 770, 860, 915, 945, 965])) * 10**15
    price = draw(st.integers(10**20, 10**42))
    collateral = draw(st.integers(10**cd // 100, 10 ** (cd + 6)))
    capacity = collateral * price // 10**36 * lltv // E18
    assume(capacity > 10)
    borrowed = max(1, int(capacity / draw(st.floats(0.6, 3.0))))
    tba = borrowed + draw(st.integers(0, 10 * borrowed))
    tbs = tba * 10**6 + draw(st.integers(-(tba * 10**5), tba * 10**6))  # shares worth 0.5 to 1.1 asset units/1e6
    shares = min(tbs, morpho.to_shares_up(borrowed, tba, tbs))
    tsa = tba + draw(st.integers(0, 10 * tba))
    market = morpho.Market(tsa, tsa * 10**6, tba, tbs)
    return MorphoPosition(
        market=market, position=morpho.Position(shares, collateral), lltv=lltv, oracle_price=price,
        collateral_decimals=cd, loan_decimals=ld, market_given=draw(st.booleans()),
    )  # fmt: skip


def mhf(pos: MorphoPosition, market: morpho.Market | None = None, position: morpho.Position | None = None) -> int:
    return morpho.health_factor(market or pos.market, position or pos.position, pos.lltv, pos.oracle_price)


@SETTINGS
@given(morpho_positions(), st.data())
def test_morpho_liquidation_price_is_exact(pos: MorphoPosition, data: st.DataObject) -> None:
    lp = analytics.liquidation_price(pos)
    assert lp.price is not None
    p = lp.price
    healthy = morpho.is_healthy
    assert healthy(pos.market, pos.position, pos.lltv, p)
    assert not healthy(pos.market, pos.position, pos.lltv, p - 1)
    assert not healthy(pos.market, pos.position, pos.lltv, p * 9_999 // 10_000)
    q = data.draw(st.integers(p, 10 * p))
    assert healthy(pos.market, pos.position, pos.lltv, q)


@SETTINGS
@given(morpho_positions(), targets)
def test_morpho_repay_to_target_is_exact(pos: MorphoPosition, target: int) -> None:
    r = analytics.repay_to_target(pos, target / E18)
    assert r.amount is not None
    after = morpho.repay(pos.market, pos.position, assets=r.amount) if r.amount else None
    assert (mhf(pos, after.market, after.position) if after else mhf(pos)) >= target
    if r.amount > 1:
        before = morpho.repay(pos.market, pos.position, assets=r.amount - 1)
        assert mhf(pos, before.market, before.position) < target


@SETTINGS
@given(morpho_positions(), targets)
def test_morpho_supply_to_target_is_exact(pos: MorphoPosition, target: int) -> None:
    s = analytics.supply_to_target(pos, target / E18)
    assert s.amount is not None
    c = pos.position.collateral
    assert mhf(pos, position=morpho.Position(pos.position.borrow_shares, c + s.amount)) >= target
    if s.amount > 0:
        assert mhf(pos, position=morpho.Position(pos.position.borrow_shares, c + s.amount - 1)) < target


@SETTINGS
@given(morpho_positions(), st.one_of(st.none(), targets))
def test_morpho_max_safe_borrow_is_exact(pos: MorphoPosition, target: int | None) -> None:
    b = analytics.max_safe_borrow(pos, target_hf=None if target is None else target / E18)
    assert b.amount is not None

    def passes(x: int) -> bool:
        m = (
            pos.market
            if pos.market_given
            else replace(pos.market, total_supply_assets=pos.market.total_supply_assets + x)
        )
        try:
            after = morpho.borrow(m, pos.position, pos.lltv, pos.oracle_price, assets=x)
        except morpho.MorphoError:
            return False
        return target is None or mhf(pos, after.market, after.position) >= target

    if b.amount > 0:
        assert passes(b.amount)
    assert not passes(b.amount + 1)
