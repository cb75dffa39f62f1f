"""Morpho Blue analytics on the exact engine: prices and amounts are searched with ``_isHealthy``,
``borrow`` and ``repay`` themselves, so each boundary is right to the last unit."""

from __future__ import annotations

import math
from dataclasses import replace
from types import MappingProxyType

from levguard.core.defi.morpho import (
    ORACLE_PRICE_SCALE,
    UINT128_MAX,
    UINT256_MAX,
    Market,
    MorphoError,
    Position,
    is_healthy,
    mul_div_down,
    to_assets_up,
    w_mul_down,
)
from levguard.core.defi.wadray import MathRevertError
from levguard.defi._search import false_on, first_true, grow_until, last_true, target_bound
from levguard.defi.morpho import BorrowResult, borrow, health_factor, repay
from levguard.defi.positions import MorphoPosition
from levguard.defi.results import AssetLine, LiquidationPrice, PositionReport, TargetAmount

_WAD = 10**18
_ALREADY = "the health factor is already at or above the target"


def hf_float(wad: int) -> float:
    """A WAD health factor as a float (``inf`` for ``2**256 - 1``, the no-debt value)."""
    return math.inf if wad == UINT256_MAX else wad / _WAD


def hf(
    pos: MorphoPosition, market: Market | None = None, position: Position | None = None, price: int | None = None
) -> int:
    """The health factor (WAD) of the position, or of another state of it."""
    return health_factor(
        pos.market if market is None else market,
        pos.position if position is None else position,
        pos.lltv,
        pos.oracle_price if price is None else price,
    )


def borrowed(pos: MorphoPosition) -> int:
    """Loan units owed (``toAssetsUp`` of the borrow shares, as ``_isHealthy`` counts them)."""
    m = pos.market
    return to_assets_up(pos.position.borrow_shares, m.total_borrow_assets, m.total_borrow_shares)


def collateral_value(pos: MorphoPosition, collateral: int | None = None) -> int:
    """Collateral value in loan units (``mulDivDown(collateral, price, 1e36)``)."""
    return mul_div_down(
        pos.position.collateral if collateral is None else collateral, pos.oracle_price, ORACLE_PRICE_SCALE
    )


def _unit(pos: MorphoPosition) -> str:
    return f"{pos.loan_symbol} per {pos.collateral_symbol}"


def loan_value(pos: MorphoPosition, loan_units: int) -> float:
    """``loan_units`` in the report's value unit: USD when the loan token's USD price is known."""
    amount = loan_units / int(10**pos.loan_decimals)
    return amount if pos.loan_price_usd is None else amount * pos.loan_price_usd


def value_unit(pos: MorphoPosition) -> str:
    """``"USD"`` or the loan token."""
    return pos.loan_symbol if pos.loan_price_usd is None else "USD"


def liquidation_price(pos: MorphoPosition) -> LiquidationPrice:
    """The smallest oracle price with the position healthy (one unit lower it can be liquidated)."""
    scale = pos.price_scale
    current = pos.oracle_price / scale
    symbol = pos.collateral_symbol

    def none(reason: str) -> LiquidationPrice:
        return LiquidationPrice(symbol, None, None, current, None, _unit(pos), reason)

    if pos.position.borrow_shares == 0:
        return none("no debt")
    if pos.position.collateral == 0 or pos.lltv == 0:
        return none("no collateral counts: liquidatable at any price")

    def ok(p: int) -> bool:
        return is_healthy(pos.market, pos.position, pos.lltv, p)

    hi = grow_until(false_on(ok, MorphoError), pos.oracle_price)
    if hi is None:
        return none("no oracle price below the uint256 limit makes the position healthy")
    p = first_true(ok, 0, hi)
    value = p / scale
    return LiquidationPrice(symbol, p, value, current, value / current - 1 if pos.oracle_price else None, _unit(pos))


def _amount(
    pos: MorphoPosition,
    action: str,
    collateral_side: bool,
    amount: int,
    state: tuple[Market, Position],
    target: int | None,
    reason: str = "",
) -> TargetAmount:
    decimals = pos.collateral_decimals if collateral_side else pos.loan_decimals
    symbol = pos.collateral_symbol if collateral_side else pos.loan_symbol
    loan_units = collateral_value(pos, amount) if collateral_side else amount
    wad = hf(pos, *state)
    return TargetAmount(
        action,
        symbol,
        amount,
        amount / 10**decimals,
        loan_value(pos, loan_units),
        None if target is None else target / _WAD,
        hf_float(wad),
        wad,
        reason,
    )


def _impossible(
    pos: MorphoPosition, action: str, collateral_side: bool, target: int | None, reason: str
) -> TargetAmount:
    symbol = pos.collateral_symbol if collateral_side else pos.loan_symbol
    return TargetAmount(action, symbol, None, None, None, None if target is None else target / _WAD, None, None, reason)


def max_repay_by_assets(market: Market, position: Position) -> int:
    """The largest repayment by assets ``Morpho.repay`` accepts from the position (loan units).

    Notes
    -----
    ``Morpho.repay`` by assets burns ``shares = assets.toSharesDown(totalBorrowAssets,
    totalBorrowShares)`` and then ``position.borrowShares -= shares``, which reverts when the
    shares exceed those owed (morpho-org/morpho-blue, src/Morpho.sol, ``repay``).  So the debt
    ``toAssetsUp(borrowShares)`` itself can be refused by assets; clearing every share takes a
    repayment by shares.
    """
    if position.borrow_shares == 0:
        return 0
    owed = to_assets_up(position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares)

    def accepted(a: int) -> bool:
        if a == 0:
            return True
        try:
            repay(market, position, assets=a)
        except (MorphoError, MathRevertError):
            return False
        return True

    return last_true(accepted, 0, owed)


def repay_to_target(pos: MorphoPosition, target: int) -> TargetAmount:
    """Least repayment (loan units, ``Morpho.repay`` by assets) that brings HF to ``target``.

    Only amounts the contract accepts by assets count (:func:`max_repay_by_assets`): where the
    target needs every borrow share repaid, no amount by assets reaches it and the reason says
    what a repayment by shares would cost.
    """
    owed = borrowed(pos)
    if owed == 0:
        return _impossible(pos, "repay", False, target, "no debt")
    cap = max_repay_by_assets(pos.market, pos.position)

    def state(x: int) -> tuple[Market, Position]:
        if x == 0:
            return pos.market, pos.position
        r = repay(pos.market, pos.position, assets=x)
        return r.market, r.position

    def ok(x: int) -> bool:
        return hf(pos, *state(x)) >= target

    if not ok(cap):
        if collateral_value(pos, pos.position.collateral) == 0 or pos.lltv == 0:
            reason = "the collateral's value is 0: no repayment reaches the target"
        else:
            reason = "no repayment by assets reaches the target"
        reason += f" (Morpho.repay by assets takes at most {cap}; repaying every borrow share, by shares, costs {owed})"
        return _impossible(pos, "repay", False, target, reason)
    x = first_true(ok, 0, cap)
    return _amount(pos, "repay", False, x, state(x), target, "" if x else _ALREADY)


def supply_to_target(pos: MorphoPosition, target: int) -> TargetAmount:
    """Least collateral supply (``Morpho.supplyCollateral``) that brings HF to ``target``."""
    if pos.oracle_price == 0 or pos.lltv == 0:
        return _impossible(pos, "supply", True, target, "the collateral's price or the LLTV is 0")

    def state(x: int) -> tuple[Market, Position]:
        p = pos.position
        return pos.market, replace(p, collateral=p.collateral + x)

    def ok(x: int) -> bool:
        return hf(pos, *state(x)) >= target

    if ok(0):
        return _amount(pos, "supply", True, 0, state(0), target, _ALREADY)
    hi = grow_until(
        false_on(lambda x: pos.position.collateral + x <= UINT128_MAX and ok(x), MorphoError),
        10**pos.collateral_decimals,
    )
    if hi is None:
        return _impossible(pos, "supply", True, target, "no collateral amount within uint128 reaches the target")
    x = first_true(ok, 0, hi)
    return _amount(pos, "supply", True, x, state(x), target)


def borrow_in_market(pos: MorphoPosition, assets: int) -> BorrowResult:
    """``Morpho.borrow`` of ``assets`` on the position's market; in a market of the position alone
    (no totals given) the supply follows the borrow, so the market's liquidity never binds."""
    m = pos.market
    if not pos.market_given:
        m = replace(m, total_supply_assets=min(m.total_supply_assets + assets, UINT128_MAX))
    return borrow(m, pos.position, pos.lltv, pos.oracle_price, assets=assets)


def max_safe_borrow(pos: MorphoPosition, target: int | None) -> TargetAmount:
    """Most loan units ``Morpho.borrow`` lends that keep HF at or above ``target`` (None: healthy)."""
    max_borrow = w_mul_down(collateral_value(pos), pos.lltv)
    owed = borrowed(pos)
    if max_borrow <= owed:
        return _amount(pos, "borrow", False, 0, (pos.market, pos.position), target, "no borrowing power left")

    def state(x: int) -> tuple[Market, Position]:
        if x == 0:
            return pos.market, pos.position
        r = borrow_in_market(pos, x)
        return r.market, r.position

    def ok(x: int) -> bool:
        if x == 0:
            return True
        try:
            s = state(x)
        except MorphoError:
            return False
        return target is None or hf(pos, *s) >= target

    x = last_true(ok, 0, max_borrow - owed + 1)
    try:
        state(x + 1)
        reason = target_bound(x)
    except MorphoError as exc:
        reason = f"bounded by {exc.reason!r}"
    return _amount(pos, "borrow", False, x, state(x), target, reason)


def report(pos: MorphoPosition, target: int | None) -> PositionReport:
    """The position's :class:`PositionReport` (``target`` in WAD, or None)."""
    wad = hf(pos)
    owed = borrowed(pos)
    cval = collateral_value(pos)
    max_borrow = w_mul_down(cval, pos.lltv)
    coll, debt = loan_value(pos, cval), loan_value(pos, owed)
    scale = pos.price_scale
    price = pos.oracle_price / scale
    price_usd = price if pos.loan_price_usd is None else price * pos.loan_price_usd
    loan_usd = 1.0 if pos.loan_price_usd is None else pos.loan_price_usd
    lltv = pos.lltv / _WAD
    counted = pos.position.collateral > 0
    assets = (
        AssetLine(
            pos.collateral_symbol,
            price_usd,
            pos.position.collateral / 10**pos.collateral_decimals,
            0.0,
            coll,
            0.0,
            lltv,
            lltv,
            liquidation_price(pos) if counted else None,
        ),
        AssetLine(pos.loan_symbol, loan_usd, 0.0, owed / 10**pos.loan_decimals, 0.0, debt, None, None, None),
    )
    equity = coll - debt
    has_debt = owed > 0
    return PositionReport(
        protocol="morpho-blue",
        version="",
        name=pos.name,
        health_factor=hf_float(wad),
        health_factor_wad=wad,
        liquidatable=wad < _WAD,
        collateral_value=coll,
        debt_value=debt,
        available_borrows=loan_value(pos, max(max_borrow - owed, 0)),
        value_unit=value_unit(pos),
        max_ltv=lltv,
        liquidation_threshold=lltv,
        current_ltv=debt / coll if coll > 0 else (math.inf if debt > 0 else 0.0),
        leverage=coll / equity if equity > 0 else math.inf,
        assets=assets,
        target_hf=None if target is None else target / _WAD,
        repay=(repay_to_target(pos, target),) if target is not None and has_debt else (),
        supply=(supply_to_target(pos, target),) if target is not None and has_debt else (),
        borrow=(max_safe_borrow(pos, target),),
        exact=MappingProxyType(
            {
                "borrowed": owed,
                "max_borrow": max_borrow,
                "collateral_value": cval,
                "oracle_price": pos.oracle_price,
                "lltv": pos.lltv,
                "borrow_shares": pos.position.borrow_shares,
                "collateral": pos.position.collateral,
            }
        ),
    )
