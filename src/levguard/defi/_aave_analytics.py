"""Aave v3 analytics on the exact engine: every boundary is searched with ``getUserAccountData``,
``validateBorrow`` itself, so a reported price or amount is right to the last unit."""

from __future__ import annotations

import math
from dataclasses import replace
from types import MappingProxyType

from levguard.core.defi.aave import (
    AAVE_VERSIONS,
    HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    AaveError,
    AaveReserve,
    UserAccountData,
    collateral_after_supply,
    collateral_after_withdraw,
    collateral_ltv,
    get_user_account_data,
    validate_borrow,
    validate_borrow_after_mint,
    variable_debt_after_borrow,
    variable_debt_after_repay,
)
from levguard.core.defi.aave_records import since
from levguard.core.defi.aave_supply import validate_automatic_use_as_collateral
from levguard.core.defi.wadray import RAY, UINT256_MAX, MathRevertError
from levguard.defi._search import false_on, first_true, grow_until, last_crossing, last_true, target_bound
from levguard.defi.positions import AAVE_PRICE_DECIMALS, AavePosition
from levguard.defi.results import AssetLine, JointBoundary, LiquidationPrice, PositionReport, TargetAmount
from levguard.errors import InputError

_WAD = 10**18
_ONE = HEALTH_FACTOR_LIQUIDATION_THRESHOLD
_PRICE_UNIT = 10**AAVE_PRICE_DECIMALS
_PRICE_SOURCE_VERSIONS = ("3.0", "3.1")
_ALREADY = "the health factor is already at or above the target"


def hf_float(wad: int) -> float:
    """A wad health factor as a float (``inf`` for ``2**256 - 1``, the no-debt value)."""
    return math.inf if wad == UINT256_MAX else wad / _WAD


def usd(units: int, r: AaveReserve) -> float:
    """Value of ``units`` of reserve ``r`` in USD at its oracle price."""
    return units * r.price / int(10 ** (r.decimals + AAVE_PRICE_DECIMALS))


def tokens(units: int, r: AaveReserve) -> float:
    """``units`` in whole tokens of ``r``."""
    return units / int(10**r.decimals)


def rows_with(pos: AavePosition, symbol: str, **changes: object) -> tuple[AaveReserve, ...]:
    """The position's rows with ``changes`` applied to ``symbol``'s row."""
    pos.reserve(symbol)
    return tuple(replace(r, **changes) if r.symbol == symbol else r for r in pos.reserves)  # type: ignore[arg-type]


def account(pos: AavePosition, rows: tuple[AaveReserve, ...] | None = None) -> UserAccountData:
    """``getUserAccountData`` of the position (or of ``rows`` under its e-mode and version)."""
    return get_user_account_data(pos.reserves if rows is None else rows, pos.emode_category, pos.version)


def unknown_index_margin(version: str) -> int:
    """Units a borrow may add to the debt beyond its amount when the row's index is unknown (RAY).

    1 for 3.0 - 3.4 (``rayDiv`` then ``rayMul``, half up), 2 from 3.5 (``rayDivCeil`` then
    ``rayMulCeil``), for any true index in ``[RAY, 2 RAY)`` (:func:`debt_after_borrow`).
    """
    return 2 if since(version, "3.5") else 1


def debt_after_borrow(pos: AavePosition, r: AaveReserve, amount: int) -> int:
    """The debt of row ``r`` after a borrow of ``amount`` (smallest units), at least the Pool's.

    Exact (:func:`levguard.core.defi.aave.variable_debt_after_borrow`, the debt token's scaled
    mint) when the row carries its ``variable_borrow_index``; a row at the default index ``RAY``
    is taken as one whose index is unknown, and the debt grows by ``amount`` plus
    :func:`unknown_index_margin` (the most the mint's rounding adds below an index of 2 RAY), so
    a health factor computed on it is never above the chain's.
    """
    if amount == 0:
        return r.debt
    if r.variable_borrow_index != RAY:
        return variable_debt_after_borrow(r, amount)
    return r.debt + amount + unknown_index_margin(pos.version)


def debt_after_repay(pos: AavePosition, r: AaveReserve, amount: int) -> int:
    """The debt of row ``r`` after a repayment of ``amount`` (smallest units), at least the Pool's.

    Exact (:func:`levguard.core.defi.aave.variable_debt_after_repay`, the scaled burn) when the
    row carries its ``variable_borrow_index``; at ``RAY`` (unknown) ``debt - amount`` plus
    :func:`unknown_index_margin` (0 once the whole debt is repaid), a bound for a true index below
    2 RAY only.
    """
    if amount == 0:
        return r.debt
    if r.variable_borrow_index != RAY:
        return variable_debt_after_repay(r, amount)
    return 0 if amount >= r.debt else r.debt - amount + unknown_index_margin(pos.version)


def collateral_after_supply_bound(pos: AavePosition, r: AaveReserve, amount: int) -> int:
    """The collateral of row ``r`` after a supply of ``amount`` (smallest units), at most the Pool's.

    Exact (:func:`levguard.core.defi.aave.collateral_after_supply`, the aToken's scaled mint) when
    the row carries its ``liquidity_index``; at ``RAY`` (unknown) ``collateral + amount`` less
    :func:`unknown_index_margin` (never below the balance before), so a health factor computed on
    it is never above the chain's -- for a true index below 2 RAY, the bound's limitation.
    """
    if amount == 0:
        return r.collateral
    if r.liquidity_index != RAY:
        return collateral_after_supply(r, amount)
    return max(r.collateral, r.collateral + amount - unknown_index_margin(pos.version))


def collateral_after_withdraw_bound(pos: AavePosition, r: AaveReserve, amount: int) -> int:
    """The collateral of row ``r`` after a withdrawal of ``amount``, at most the Pool's.

    Exact (:func:`levguard.core.defi.aave.collateral_after_withdraw`, the aToken's scaled burn)
    with the row's ``liquidity_index``; at ``RAY`` (unknown) ``collateral - amount`` less
    :func:`unknown_index_margin` (0 at the least; 0 for the whole balance), valid for a true index
    below 2 RAY.
    """
    if amount == 0:
        return r.collateral
    if r.liquidity_index != RAY:
        return collateral_after_withdraw(r, amount)
    if amount >= r.collateral:
        return 0
    return max(0, r.collateral - amount - unknown_index_margin(pos.version))


def _strong(acct: UserAccountData, target: int) -> bool:
    # HF >= target with room for the saw-tooth of the floored average threshold: the next run of
    # the threshold starts at most one bp (1/k) lower, so (k - 1) HF >= (k + 1) target keeps it.
    k = acct.current_liquidation_threshold
    hf = acct.health_factor
    return hf >= target and (k <= 1 or hf * (k - 1) >= target * (k + 1))


def _price_source(pos: AavePosition, r: AaveReserve) -> bool:
    e = pos.emode_category
    return e is not None and pos.version in _PRICE_SOURCE_VERSIONS and e.price != 0 and r.in_emode


def price_used(pos: AavePosition, r: AaveReserve) -> float:
    """The price (USD) the Pool values reserve ``r`` at: 3.0 / 3.1 the user's e-mode category's
    price source for a reserve of the category (``GenericLogic.calculateUserAccountData``), else
    its own oracle price."""
    e = pos.emode_category
    return (e.price if e is not None and _price_source(pos, r) else r.price) / _PRICE_UNIT


def liquidation_price(pos: AavePosition, symbol: str) -> LiquidationPrice:
    """Liquidation price of collateral ``symbol`` (USD, 8 decimals), every other price fixed."""
    r = pos.reserve(symbol)
    current = r.price / _PRICE_UNIT

    def none(reason: str) -> LiquidationPrice:
        return LiquidationPrice(symbol, None, None, current, None, "USD", reason)

    if not pos.counted(r):
        return none("not a collateral of the account (no balance, not enabled, or threshold 0)")
    if r.debt > 0:
        return none("the reserve is also borrowed: its price moves collateral and debt together")
    if _price_source(pos, r):
        return none("priced by the e-mode category's price source (3.0/3.1), not by its own oracle")
    if account(pos).total_debt_base == 0:
        return none("no debt")

    def acct(p: int) -> UserAccountData:
        return account(pos, rows_with(pos, symbol, price=p))

    def ok(p: int) -> bool:
        return acct(p).health_factor >= _ONE

    if ok(0):
        return none("the health factor stays >= 1 even at a price of 0 (the other collateral covers the debt)")
    hi = grow_until(false_on(lambda p: _strong(acct(p), _ONE), MathRevertError), r.price)
    if hi is None:
        return none("no price below the uint256 limit brings the health factor to 1")
    p = last_crossing(ok, lambda p: acct(p).current_liquidation_threshold, 0, hi)
    value = p / _PRICE_UNIT
    return LiquidationPrice(symbol, p, value, current, value / current - 1 if r.price else None, "USD")


def _after(
    pos: AavePosition,
    action: str,
    r: AaveReserve,
    amount: int,
    rows: tuple[AaveReserve, ...],
    target: int | None,
    reason: str = "",
) -> TargetAmount:
    wad = account(pos, rows).health_factor
    return TargetAmount(
        action,
        r.symbol,
        amount,
        tokens(amount, r),
        usd(amount, r),
        None if target is None else target / _WAD,
        hf_float(wad),
        wad,
        reason,
    )


def _impossible(action: str, symbol: str, target: int | None, reason: str) -> TargetAmount:
    return TargetAmount(action, symbol, None, None, None, None if target is None else target / _WAD, None, None, reason)


def repay_to_target(pos: AavePosition, symbol: str, target: int) -> TargetAmount:
    """Least repayment of ``symbol``'s debt (smallest units) that brings HF to ``target`` (wad), on
    the debt the debt token holds after its scaled burn (:func:`debt_after_repay`: exact with the
    row's index, up to 1 unit (3.5+: 2) more repaid with it unknown, enough for a true index below
    2 RAY: a reserve whose index has doubled needs it in the row)."""
    r = pos.reserve(symbol)
    if r.debt == 0:
        return _impossible("repay", symbol, target, f"no {symbol} debt")

    def rows(x: int) -> tuple[AaveReserve, ...]:
        # The debt token's balance after the burn (debt_after_repay: exact, or a margin above).
        return rows_with(pos, symbol, debt=debt_after_repay(pos, r, x))

    def ok(x: int) -> bool:
        try:
            return account(pos, rows(x)).health_factor >= target
        except AaveError:  # the burn itself reverts (INVALID_BURN_AMOUNT)
            return False

    if not ok(r.debt):
        hf = hf_float(account(pos, rows(r.debt)).health_factor)
        return _impossible("repay", symbol, target, f"repaying all {symbol} debt leaves HF {hf:.4f}, below the target")
    x = first_true(ok, 0, r.debt)
    return _after(pos, "repay", r, x, rows(x), target, "" if x else _ALREADY)


def supply_to_target(pos: AavePosition, symbol: str, target: int) -> TargetAmount:
    """Least supply of collateral ``symbol`` (smallest units) that brings HF to ``target`` (wad) and
    keeps it there for any larger supply.

    The health factor after is the engine's on the balance the aToken holds after its scaled mint
    (:func:`collateral_after_supply_bound`): exact, ``>= target`` as the integer
    ``getUserAccountData`` returns it, with the row's ``liquidity_index``; with the index unknown
    (``RAY``) the supply is up to 1 unit (3.5+: 2) more, enough for a true index below 2 RAY.
    """
    r = pos.reserve(symbol)
    # A disabled reserve holding a balance stays disabled (a supply to it is no first supply).
    if pos.threshold(r) == 0 or (r.use_as_collateral is False and r.collateral > 0):
        return _impossible("supply", symbol, target, f"{symbol} does not count as collateral (threshold 0 or disabled)")
    if r.debt > 0:
        return _impossible("supply", symbol, target, f"{symbol} is also borrowed: repay it instead")
    if not r.collateral_enabled and not validate_automatic_use_as_collateral(
        pos.reserves, symbol, pos.emode_category, pos.version
    ):
        # A first supply enables the flag only where ValidationLogic.validateAutomaticUseAsCollateral
        # allows it (no debt ceiling; the user's LTV of it not 0 -- 3.6: the e-mode category's, 0 on
        # its ltvzero bitmap --; no isolation mode): otherwise the HF would not move.
        why = f"{symbol} cannot be enabled as collateral by a supply (LTV 0, isolation mode or a debt ceiling)"
        return _impossible("supply", symbol, target, why)
    if r.price == 0 and not _price_source(pos, r):
        return _impossible("supply", symbol, target, f"{symbol} has a price of 0")

    def rows(x: int) -> tuple[AaveReserve, ...]:
        # The aToken's balance after the mint (collateral_after_supply_bound: exact, or a margin below);
        # a first supply sets the flag (a row read off, use_as_collateral False, is enabled by it).
        flag = True if x > 0 and r.use_as_collateral is False else r.use_as_collateral
        return rows_with(pos, symbol, collateral=collateral_after_supply_bound(pos, r, x), use_as_collateral=flag)

    def acct(x: int) -> UserAccountData:
        return account(pos, rows(x))

    def ok(x: int) -> bool:
        try:
            return acct(x).health_factor >= target
        except AaveError:  # the mint itself reverts (INVALID_MINT_AMOUNT)
            return False

    if ok(0):
        return _after(pos, "supply", r, 0, rows(0), target, _ALREADY)
    strong = false_on(lambda x: _strong(acct(x), target), (MathRevertError, AaveError))
    hi = grow_until(strong, max(r.collateral, 10**r.decimals))
    if hi is None:
        return _impossible("supply", symbol, target, f"no {symbol} supply below the uint256 limit reaches the target")
    x = last_crossing(ok, lambda x: acct(x).current_liquidation_threshold, 0, hi)
    return _after(pos, "supply", r, x, rows(x), target)


def max_safe_borrow(pos: AavePosition, symbol: str, target: int | None) -> TargetAmount:
    """Most of ``symbol`` (smallest units) that ``validateBorrow`` allows and that keeps HF at or above
    ``target`` (wad; None: the protocol's limit alone).

    The health factor after the borrow (and from 3.5 the Pool's checks after the mint) is the
    engine's on the debt the debt token holds after minting (:func:`debt_after_borrow`): exact,
    ``>= target`` as the integer ``getUserAccountData`` returns it, when the row carries its
    ``variable_borrow_index``; with the index unknown (``RAY``) up to 1 unit (3.0 - 3.4) or 2
    (3.5+) below the exact answer (:func:`unknown_index_margin`).
    """
    r = pos.reserve(symbol)
    acct = account(pos)
    # From 3.4 the Pool mints the debt before it validates the account: for 3.5/3.6 the bound is
    # that check on the account after the mint (validate_borrow_after_mint) and the target.
    modelled = pos.version in AAVE_VERSIONS[:4]
    if modelled:
        try:
            validate_borrow(pos.reserves, symbol, 1, pos.emode_category, pos.version)
        except AaveError as exc:
            return _after(pos, "borrow", r, 0, pos.reserves, target, f"the Pool refuses any borrow: {exc}")
    if r.price == 0:
        return _impossible("borrow", symbol, target, f"{symbol} has a price of 0: the LTV check does not bound it")

    def rows(x: int) -> tuple[AaveReserve, ...]:
        # The debt token's balance after the mint (debt_after_borrow: exact, or a margin above).
        return rows_with(pos, symbol, debt=debt_after_borrow(pos, r, x))

    def ok(x: int) -> bool:
        if x == 0:
            return True
        try:
            if modelled:
                validate_borrow(pos.reserves, symbol, x, pos.emode_category, pos.version)
            after = rows(x)  # the mint itself may revert (INVALID_MINT_AMOUNT)
            if not modelled:
                validate_borrow_after_mint(after, pos.emode_category, pos.version)
        except AaveError:
            return False
        return target is None or account(pos, after).health_factor >= target

    e = pos.emode_category
    price = e.price if e is not None and pos.version in _PRICE_SOURCE_VERSIONS and e.price else r.price
    # validateBorrow prices the amount as floor(price * amount / unit): nothing above this passes.
    hi = (acct.available_borrows_base + 2) * 10**r.decimals // price + 2
    x = last_true(ok, 0, hi)
    if not modelled:
        reason = (
            f"Aave {pos.version}: bounded by the checks after the mint (LTV, health factor) and the target "
            "health factor only (the Pool's checks before the mint: flags, caps, e-mode bitmap, siloed "
            "borrowing, are not modelled)"
        )
        return _after(pos, "borrow", r, x, rows(x), target, reason)
    try:
        validate_borrow(pos.reserves, symbol, x + 1, pos.emode_category, pos.version)
        reason = target_bound(x)
    except AaveError as exc:
        reason = f"bounded by {exc.name} ({exc.code})"
    return _after(pos, "borrow", r, x, rows(x), target, reason)


def joint_boundary(pos: AavePosition, x_symbol: str, y_symbol: str, x_prices: tuple[int, ...]) -> JointBoundary:
    """For each ``x_symbol`` price (USD, 8 decimals), the liquidation price of ``y_symbol``."""
    if x_symbol == y_symbol:
        raise InputError(f"x_symbol and y_symbol must differ, were both {x_symbol!r}")
    for role, symbol in (("x_symbol", x_symbol), ("y_symbol", y_symbol)):
        if not pos.counted(pos.reserve(symbol)):
            raise InputError(
                f"{role} {symbol!r} is not a collateral of the account (no balance, not enabled, or threshold 0): "
                "the joint boundary takes two collaterals"
            )
    ys: list[int | None] = []
    reasons: list[str] = []
    for px in x_prices:
        shifted = replace(pos, reserves=rows_with(pos, x_symbol, price=px))
        lp = liquidation_price(shifted, y_symbol)
        ys.append(lp.price)
        reasons.append(lp.reason)
    return JointBoundary(
        x_symbol,
        y_symbol,
        x_prices,
        tuple(ys),
        tuple(p / _PRICE_UNIT for p in x_prices),
        tuple(None if p is None else p / _PRICE_UNIT for p in ys),
        tuple(reasons),
    )


def report(pos: AavePosition, target: int | None) -> PositionReport:
    """The position's :class:`PositionReport` (``target`` in wad, or None)."""
    acct = account(pos)
    lines: list[AssetLine] = []
    for r in pos.reserves:
        counted = pos.counted(r)
        ltv, lt = collateral_ltv(r, pos.emode_category, pos.version), pos.threshold(r)
        lines.append(
            AssetLine(
                r.symbol,
                r.price / _PRICE_UNIT,
                tokens(r.collateral, r),
                tokens(r.debt, r),
                usd(r.collateral, r),
                usd(r.debt, r),
                ltv / 10_000,
                lt / 10_000,
                liquidation_price(pos, r.symbol) if counted else None,
            )
        )
    repay: list[TargetAmount] = []
    supply: list[TargetAmount] = []
    if target is not None and acct.total_debt_base > 0:
        repay = [repay_to_target(pos, r.symbol, target) for r in pos.reserves if r.debt > 0]
        supply = [supply_to_target(pos, r.symbol, target) for r in pos.reserves if pos.counted(r) and r.debt == 0]
    borrow = [max_safe_borrow(pos, r.symbol, target) for r in pos.reserves if r.collateral == 0 or r.debt > 0]
    coll = acct.total_collateral_base / _PRICE_UNIT
    debt = acct.total_debt_base / _PRICE_UNIT
    equity = coll - debt
    return PositionReport(
        protocol="aave-v3",
        version=pos.version,
        name=pos.name,
        health_factor=hf_float(acct.health_factor),
        health_factor_wad=acct.health_factor,
        liquidatable=acct.health_factor < _ONE,
        collateral_value=coll,
        debt_value=debt,
        available_borrows=acct.available_borrows_base / _PRICE_UNIT,
        value_unit="USD",
        max_ltv=acct.ltv / 10_000,
        liquidation_threshold=acct.current_liquidation_threshold / 10_000,
        current_ltv=debt / coll if coll > 0 else (math.inf if debt > 0 else 0.0),
        leverage=coll / equity if equity > 0 else math.inf,
        assets=tuple(lines),
        target_hf=None if target is None else target / _WAD,
        repay=tuple(repay),
        supply=tuple(supply),
        borrow=tuple(borrow),
        exact=MappingProxyType(
            {k: v for k, v in acct.to_dict().items() if isinstance(v, int) and not isinstance(v, bool)}
        ),
    )
