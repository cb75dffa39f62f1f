"""Compound III (Comet) lending arithmetic, exact to the wei: collateralization, absorb, the
collateral store front, reserves and interest accrual.

Each public function mirrors one entry point of ``contracts/Comet.sol`` (or a CometCore helper) in
the contract's integer units and rounding, on a :class:`~levguard.core.defi.comet_state.Comet`
state, so its integers equal what the chain computes; an input the contract reverts on raises
:class:`~levguard.core.defi.comet_math.CometError` with the revert's name (``NotLiquidatable``,
``NotForSale``, ``TooMuchSlippage``, ``InsufficientReserves``, ``BadPrice``, ``InvalidUInt64``,
...; ``"Panic"`` with code ``0x11``/``0x12`` for checked arithmetic).  State-changing entry points
(:func:`accrue`, :func:`absorb`, :func:`buy_collateral`) return the state after them.

Time: view functions that the contract evaluates at ``block.timestamp`` (:func:`get_reserves`,
:func:`balance_of`, :func:`borrow_balance_of`) and the entry points that accrue first take
``now`` (seconds since the epoch); ``None`` means no time has passed since
``last_accrual_time``.  :func:`is_liquidatable`, :func:`is_borrow_collateralized` and
:func:`quote_collateral` read the stored indexes without accruing, as the contract does.

This module holds collateralization, ``absorb`` and the collateral store front and re-exports the
rest of the engine: :mod:`~levguard.core.defi.comet_math` (constants, errors, checked
arithmetic), :mod:`~levguard.core.defi.comet_state` (the records) and
:mod:`~levguard.core.defi.comet_accrual` (present and principal values, interest, balances,
reserves).

Source: compound-finance/comet at commit d5a30b0aaeff7755f1431e87f818990902237b03, ``Comet.sol``
(identical formulas in ``CometWithExtendedAssetList.sol``, added in March 2025 by commit 059c1191).
The formulas are those of commit 376fdeba (November 2022) but for one change of commit 5f9d5a47
(July 2024): ``buyCollateral`` quotes the base amount received (``doTransferIn``'s return),
which differs from the amount sent only for a fee-on-transfer base token
(``base_amount_received``).  Not modelled: supply, withdraw and transfer, reward claims, liquidator
points (gas accounting of ``absorb``), token transfer hooks, governance and the reentrancy guard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from levguard.core.defi.comet_accrual import (
    accrue,
    accrued_interest_indices,
    balance_of,
    borrow_balance_of,
    get_borrow_rate,
    get_collateral_reserves,
    get_reserves,
    get_supply_rate,
    get_utilization,
    present_value,
    principal_value,
)
from levguard.core.defi.comet_math import (
    BASE_ACCRUAL_SCALE,
    BASE_INDEX_SCALE,
    COMET_ERRORS,
    FACTOR_SCALE,
    MAX_ASSETS,
    MAX_BASE_DECIMALS,
    PANIC_ARITHMETIC,
    PANIC_DIVISION_BY_ZERO,
    PAUSE_ABSORB_OFFSET,
    PAUSE_BUY_OFFSET,
    PRICE_SCALE,
    SECONDS_PER_YEAR,
    CometError,
    check_int256,
    check_uint,
    div,
    div_price,
    get_price,
    mul_factor,
    mul_price,
    name_arg,
    panic,
    present_value_borrow,
    present_value_supply,
    principal_value_borrow,
    principal_value_supply,
    safe64,
    safe128,
    signed256,
    signed_mul_price,
    uint,
    unsigned256,
)
from levguard.core.defi.comet_state import AssetInfo, Comet, CometAccount, InterestRateModel, as_comet
from levguard.core.records import JsonRecord
from levguard.core.validate import show
from levguard.errors import InputError

__all__ = [
    "BASE_ACCRUAL_SCALE",
    "BASE_INDEX_SCALE",
    "COMET_ERRORS",
    "FACTOR_SCALE",
    "MAX_ASSETS",
    "MAX_BASE_DECIMALS",
    "PANIC_ARITHMETIC",
    "PANIC_DIVISION_BY_ZERO",
    "PRICE_SCALE",
    "SECONDS_PER_YEAR",
    "AbsorbCollateral",
    "AbsorbResult",
    "Absorption",
    "AssetInfo",
    "BuyCollateralResult",
    "Comet",
    "CometAccount",
    "CometError",
    "InterestRateModel",
    "absorb",
    "accrue",
    "accrued_interest_indices",
    "balance_of",
    "borrow_balance_of",
    "buy_collateral",
    "get_borrow_rate",
    "get_collateral_reserves",
    "get_reserves",
    "get_supply_rate",
    "get_utilization",
    "is_borrow_collateralized",
    "is_liquidatable",
    "present_value",
    "present_value_borrow",
    "present_value_supply",
    "principal_value",
    "principal_value_borrow",
    "principal_value_supply",
    "quote_collateral",
]


# --- collateralization -----------------------------------------------------------------------------


def _liquidity_short(comet: Comet, account: str, liquidate: bool) -> bool | None:
    # The shared loop of isBorrowCollateralized / isLiquidatable: None when the principal is not
    # negative (no debt), else whether the account's liquidity stays negative.
    acc = comet.account(account)
    if acc.principal >= 0:
        return None
    assets_in = comet.assets_in(account)
    liquidity = signed_mul_price(
        present_value(comet, acc.principal), get_price(comet.base_price, "base"), comet.base_scale, "liquidity"
    )
    for info in comet.assets:
        if assets_in >> info.offset & 1:
            if liquidity >= 0:
                return False
            value = mul_price(
                acc.collateral.get(info.asset, 0), get_price(info.price, info.asset), info.scale, "collateral value"
            )
            cf = info.liquidate_collateral_factor if liquidate else info.borrow_collateral_factor
            liquidity = check_int256(
                liquidity + signed256(mul_factor(value, cf, "collateral value"), "collateral value"), "liquidity"
            )
    return liquidity < 0


def is_borrow_collateralized(comet: Comet, account: str) -> bool:
    """Return whether the account may borrow what it owes (Comet.sol ``isBorrowCollateralized``).

    Parameters
    ----------
    comet : Comet
        The market (stored indexes: the contract does not accrue here).
    account : str
        The account's key (absent accounts hold nothing).

    Returns
    -------
    bool
        True without a debt; else whether ``liquidity >= 0`` where
        ``liquidity = signedMulPrice(presentValue(principal), base_price, baseScale) +
        sum(mulFactor(mulPrice(balance, price, scale), borrow_collateral_factor))`` over the
        assets in ``assetsIn``, in offset order, stopping (True) as soon as it is non-negative.

    Raises
    ------
    CometError
        ``BadPrice`` when a price it reads is not positive.

    Notes
    -----
    Comet.sol ``isBorrowCollateralized``.  Values are in price units (8 decimals); the debt's
    value is truncated toward zero (``signedMulPrice``), the collateral's rounded down.
    """
    r = _liquidity_short(as_comet(comet), name_arg(account, "account"), liquidate=False)
    return True if r is None else not r


def is_liquidatable(comet: Comet, account: str) -> bool:
    """Return whether the account can be absorbed (Comet.sol ``isLiquidatable``).

    Returns
    -------
    bool
        False without a debt; else whether ``liquidity < 0`` with the liquidation collateral
        factors in the sum of :func:`is_borrow_collateralized` (stopping, False, as soon as the
        running liquidity is non-negative).

    Notes
    -----
    Comet.sol ``isLiquidatable``.  As ``borrow_collateral_factor < liquidate_collateral_factor``
    for every asset, a liquidatable account is never borrow-collateralized.
    """
    r = _liquidity_short(as_comet(comet), name_arg(account, "account"), liquidate=True)
    return bool(r)


# --- absorb ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AbsorbCollateral(JsonRecord):
    """One ``AbsorbCollateral`` event: collateral seized into the protocol's reserves.

    Attributes
    ----------
    asset : str
        The collateral asset.
    collateral_absorbed : int
        Units seized (the account's whole balance).
    usd_value : int
        ``mulPrice(collateral_absorbed, price, scale)``: its value at the feed price, 8 decimals
        (before the liquidation factor).
    """

    asset: str
    collateral_absorbed: int
    usd_value: int


@dataclass(frozen=True, slots=True)
class Absorption(JsonRecord):
    """What ``absorbInternal`` did to one account.

    Attributes
    ----------
    borrower : str
        The absorbed account.
    collateral : tuple of AbsorbCollateral
        Its ``AbsorbCollateral`` events, in asset-offset order.
    delta_value : int
        ``sum(mulFactor(usd_value, liquidation_factor))``: the value credited (8 decimals).
    delta_balance : int
        ``divPrice(delta_value, base_price, baseScale)``: the base credited.
    old_principal, new_principal : int
        Principal before and after (the new balance is ``max(old balance + delta_balance, 0)``).
    base_paid_out : int
        The ``AbsorbDebt`` event's ``basePaidOut``: ``new balance - old balance``, the debt the
        reserves absorb plus any surplus credited to the account as a supply.
    usd_value : int
        The ``AbsorbDebt`` event's ``usdValue``: ``mulPrice(base_paid_out, base_price, baseScale)``.
    transfer_amount : int
        The ``Transfer(address(0), borrower, amount)`` minted when the new principal is positive
        (``presentValueSupply(base_supply_index, new_principal)``), else 0.
    """

    borrower: str
    collateral: tuple[AbsorbCollateral, ...]
    delta_value: int
    delta_balance: int
    old_principal: int
    new_principal: int
    base_paid_out: int
    usd_value: int
    transfer_amount: int


@dataclass(frozen=True, slots=True)
class AbsorbResult(JsonRecord):
    """What one ``Comet.absorb`` call does.

    Attributes
    ----------
    absorptions : tuple of Absorption
        One per account, in the order given.
    comet : Comet
        The market after (accrued to ``now``, collateral moved to reserves, principals and totals
        updated).
    """

    absorptions: tuple[Absorption, ...]
    comet: Comet


def _repay_and_supply(old: int, new: int) -> tuple[int, int]:
    # Comet.repayAndSupplyAmount.
    if new < old:
        return 0, 0
    if new <= 0:
        return new - old, 0
    if old >= 0:
        return 0, new - old
    return -old, new


def _tracked(comet: Comet, acc: CometAccount, principal_new: int) -> CometAccount:
    # Comet.updateBasePrincipal: settle reward tracking on the old principal, then write the new one.
    p = acc.principal
    index = comet.tracking_supply_index if p >= 0 else comet.tracking_borrow_index
    if index < acc.base_tracking_index:
        raise panic(f"tracking index {index} - baseTrackingIndex {acc.base_tracking_index} underflows uint64")
    accrued = abs(p) * (index - acc.base_tracking_index) // comet.tracking_index_scale // comet.accrual_descale_factor
    total = check_uint(acc.base_tracking_accrued + safe64(accrued, "baseTrackingAccrued"), "baseTrackingAccrued", 64)
    new_index = comet.tracking_supply_index if principal_new >= 0 else comet.tracking_borrow_index
    return dataclasses.replace(acc, principal=principal_new, base_tracking_index=new_index, base_tracking_accrued=total)


def _absorb_one(comet: Comet, account: str) -> tuple[Comet, Absorption]:
    if not is_liquidatable(comet, account):
        raise CometError("NotLiquidatable", f"account {account!r}")
    acc = comet.account(account)
    old_principal = acc.principal
    old_balance = present_value(comet, old_principal)
    assets_in = comet.assets_in(account)
    base_price = get_price(comet.base_price, "base")
    collateral = dict(acc.collateral)
    totals = dict(comet.totals_collateral)
    balances = dict(comet.collateral_balances)
    delta_value = 0
    events = []
    for info in comet.assets:
        if assets_in >> info.offset & 1:
            seize = collateral.pop(info.asset, 0)
            total = totals.get(info.asset, 0)
            if seize > total:
                raise panic(f"totalsCollateral[{info.asset!r}] {total} - {seize} underflows uint128")
            balances[info.asset] = comet.collateral_balance(info.asset)  # the tokens stay in Comet
            totals[info.asset] = total - seize
            value = mul_price(seize, get_price(info.price, info.asset), info.scale, "absorb value")
            delta_value = check_uint(
                delta_value + mul_factor(value, info.liquidation_factor, "deltaValue"), "deltaValue"
            )
            events.append(AbsorbCollateral(info.asset, seize, value))

    delta_balance = div_price(delta_value, base_price, comet.base_scale, "deltaBalance")
    new_balance = max(check_int256(old_balance + signed256(delta_balance, "deltaBalance"), "newBalance"), 0)
    new_principal = principal_value(comet, new_balance)
    acc_new = _tracked(comet, dataclasses.replace(acc, collateral=collateral), new_principal)
    acc_new = dataclasses.replace(acc_new, assets_in=None if acc.assets_in is None else 0)

    repay, supply = _repay_and_supply(old_principal, new_principal)
    total_supply_base = check_uint(comet.total_supply_base + supply, "totalSupplyBase", 104)
    if repay > comet.total_borrow_base:
        raise panic(f"totalBorrowBase {comet.total_borrow_base} - {repay} underflows uint104")
    base_paid_out = unsigned256(new_balance - old_balance, "basePaidOut")
    usd_value = mul_price(base_paid_out, base_price, comet.base_scale, "valueOfBasePaidOut")
    transfer = present_value_supply(comet.base_supply_index, new_principal) if new_principal > 0 else 0

    after = dataclasses.replace(
        comet,
        accounts={**comet.accounts, account: acc_new},
        totals_collateral=totals,
        collateral_balances=balances,
        total_supply_base=total_supply_base,
        total_borrow_base=comet.total_borrow_base - repay,
    )
    absorption = Absorption(
        borrower=account,
        collateral=tuple(events),
        delta_value=delta_value,
        delta_balance=delta_balance,
        old_principal=old_principal,
        new_principal=new_principal,
        base_paid_out=base_paid_out,
        usd_value=usd_value,
        transfer_amount=transfer,
    )
    return after, absorption


def absorb(comet: Comet, accounts: Iterable[str], now: int | None = None) -> AbsorbResult:
    """Absorb underwater accounts into the protocol as ``Comet.absorb`` does, to the wei.

    Parameters
    ----------
    comet : Comet
        The market.
    accounts : iterable of str
        Accounts to absorb, in order (the same account twice reverts ``NotLiquidatable``).
    now : int or None, default None
        ``block.timestamp``: the market accrues to it first; None for no elapsed time.

    Returns
    -------
    AbsorbResult
        Per account what was seized and credited, and the market after.

    Raises
    ------
    CometError
        ``Paused`` (absorb paused), ``NotLiquidatable``, ``BadPrice``, ``InvalidUInt104`` /
        ``InvalidInt104`` (principal), ``InvalidUInt64`` (tracking), ``TimestampTooLarge``, or a
        ``Panic(0x11)``: e.g. ``totalBorrowBase`` smaller than the debt forgiven, or a collateral
        total smaller than the account's balance.

    Notes
    -----
    Comet.sol ``absorb`` (``accrueInternal``, then ``absorbInternal`` per account):

    * each collateral in ``assetsIn`` is seized whole: the balance goes to 0 and leaves
      ``totalsCollateral`` while the tokens stay in Comet, so they become collateral reserves;
      ``value = mulPrice(seized, price, scale)``, ``deltaValue += mulFactor(value,
      liquidation_factor)``;
    * ``deltaBalance = divPrice(deltaValue, base_price, baseScale)``; the new balance is
      ``max(presentValue(old principal) + deltaBalance, 0)``: the debt is forgiven, paid by
      reserves, and a surplus is credited to the account as a supply;
    * ``new principal = principalValue(new balance)`` (rounded down), ``assetsIn = 0``;
      ``repayAndSupplyAmount(old, new)`` moves ``totalBorrowBase`` down and
      ``totalSupplyBase`` up; reward tracking settles (``updateBasePrincipal``);
    * ``basePaidOut = new balance - old balance``, ``usdValue = mulPrice(basePaidOut,
      base_price, baseScale)`` (the ``AbsorbDebt`` event).

    Liquidator points (``numAbsorbs``, gas spent) are not modelled.
    """
    comet = as_comet(comet)
    if isinstance(accounts, str):
        raise InputError(f"accounts must be an iterable of account keys, not one str ({accounts!r:.60})")
    if not isinstance(accounts, Iterable):
        raise InputError(
            f"accounts must be an iterable of account keys, was {type(accounts).__name__} {show(accounts)}"
        )
    keys = [name_arg(a, "account") for a in accounts]
    if comet.pause_flags >> PAUSE_ABSORB_OFFSET & 1:
        raise CometError("Paused", "absorb is paused")
    comet = accrue(comet, comet.last_accrual_time if now is None else now)
    done = []
    for key in keys:
        comet, absorption = _absorb_one(comet, key)
        done.append(absorption)
    return AbsorbResult(tuple(done), comet)


# --- the collateral store front ----------------------------------------------------------------------


def quote_collateral(comet: Comet, asset: str, base_amount: int) -> int:
    """Return the collateral ``base_amount`` buys from the protocol (Comet.sol ``quoteCollateral``).

    Parameters
    ----------
    comet : Comet
        The market.
    asset : str
        The collateral asset (``BadAsset`` if not listed).
    base_amount : int
        Base units paid (uint256).

    Returns
    -------
    int
        Collateral units: ``base_price * base_amount * scale // price_discounted // baseScale``.

    Notes
    -----
    Comet.sol ``quoteCollateral``:
    ``discountFactor = mulFactor(store_front_price_factor, 1e18 - liquidation_factor)``,
    ``price_discounted = mulFactor(price, 1e18 - discountFactor)``; both round down, then the
    quote rounds down twice.  With ``store_front_price_factor = 0`` the collateral sells at its
    feed price; at 1 the buyer gets the whole liquidation penalty ``1 - liquidation_factor``.
    Reverts ``BadPrice`` on a non-positive feed answer, ``Panic(0x12)`` when the discounted
    price rounds to 0, ``Panic(0x11)`` when the product overflows.
    """
    comet = as_comet(comet)
    info = comet.asset_info_by_address(name_arg(asset, "asset"))
    amount = uint(base_amount, "base_amount")
    asset_price = get_price(info.price, info.asset)
    if info.liquidation_factor > FACTOR_SCALE:
        raise panic(f"FACTOR_SCALE - liquidationFactor {info.liquidation_factor} underflows")
    discount = mul_factor(comet.store_front_price_factor, FACTOR_SCALE - info.liquidation_factor, "discountFactor")
    discounted = mul_factor(asset_price, FACTOR_SCALE - discount, "assetPriceDiscounted")
    base_price = get_price(comet.base_price, "base")
    num = check_uint(check_uint(base_price * amount, "quoteCollateral") * info.scale, "quoteCollateral")
    return div(num, discounted, "quoteCollateral") // comet.base_scale


@dataclass(frozen=True, slots=True)
class BuyCollateralResult(JsonRecord):
    """What one ``Comet.buyCollateral`` call does (its ``BuyCollateral`` event and the state after).

    Attributes
    ----------
    asset : str
        The collateral bought.
    base_amount : int
        Base units the market received (the event's ``baseAmount``).
    collateral_amount : int
        Collateral units sent to the recipient (the event's ``collateralAmount``).
    reserves : int
        :func:`get_reserves` before the purchase (below ``target_reserves`` or negative).
    comet : Comet
        The market after: base balance up by ``base_amount``, the asset's balance down by
        ``collateral_amount``.
    """

    asset: str
    base_amount: int
    collateral_amount: int
    reserves: int
    comet: Comet


def buy_collateral(
    comet: Comet,
    asset: str,
    min_amount: int,
    base_amount: int,
    now: int | None = None,
    base_amount_received: int | None = None,
) -> BuyCollateralResult:
    """Buy collateral reserves with base as ``Comet.buyCollateral`` does, to the wei.

    Parameters
    ----------
    comet : Comet
        The market.
    asset : str
        The collateral asset to buy.
    min_amount : int
        Least collateral units accepted (slippage bound).
    base_amount : int
        Base units the buyer sends.
    now : int or None, default None
        ``block.timestamp`` for ``getReserves`` (the call does not write accrued indexes).
    base_amount_received : int or None, default None
        What the market actually receives (``doTransferIn``: less than ``base_amount`` for a
        fee-on-transfer token); None means ``base_amount``.  The quote uses it.

    Returns
    -------
    BuyCollateralResult

    Raises
    ------
    CometError
        ``Paused`` (buy paused); ``NotForSale`` when ``0 <= reserves >= target_reserves``;
        ``TooMuchSlippage`` when the quote is below ``min_amount``; ``InsufficientReserves`` when
        it exceeds the collateral reserves; ``BadAsset``, ``BadPrice``, ``InvalidUInt128``.

    Notes
    -----
    Comet.sol ``buyCollateral``: checks the pause flag, ``getReserves`` against
    ``targetReserves``, takes the base in, quotes with :func:`quote_collateral` on the amount
    received, checks ``minAmount`` and ``getCollateralReserves(asset)``, sends
    ``safe128(collateralAmount)``.
    """
    comet = as_comet(comet)
    key = name_arg(asset, "asset")
    minimum = uint(min_amount, "min_amount")
    sent = uint(base_amount, "base_amount")
    received = sent if base_amount_received is None else uint(base_amount_received, "base_amount_received")
    if received > sent:
        raise InputError(f"base_amount_received must be <= base_amount {sent}, was {received}")
    if comet.pause_flags >> PAUSE_BUY_OFFSET & 1:
        raise CometError("Paused", "buyCollateral is paused")
    reserves = get_reserves(comet, now)
    if reserves >= 0 and reserves >= comet.target_reserves:
        raise CometError("NotForSale", f"reserves {reserves} >= target reserves {comet.target_reserves}")
    base_balance = check_uint(comet.base_balance + received, "base balance")
    collateral_amount = quote_collateral(comet, key, received)
    if collateral_amount < minimum:
        raise CometError("TooMuchSlippage", f"quote {collateral_amount} < min_amount {minimum}")
    available = get_collateral_reserves(comet, key)
    if collateral_amount > available:
        raise CometError("InsufficientReserves", f"quote {collateral_amount} > collateral reserves {available}")
    safe128(collateral_amount, "collateralAmount")
    balances: Mapping[str, int] = {**comet.collateral_balances, key: comet.collateral_balance(key) - collateral_amount}
    after = dataclasses.replace(comet, base_balance=base_balance, collateral_balances=balances)
    return BuyCollateralResult(key, received, collateral_amount, reserves, after)
