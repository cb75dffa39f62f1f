"""Aave v3 lending arithmetic, exact to the wei: account data, liquidation, borrow validation.

Each public function mirrors one entry point of the Aave v3 Pool in the contracts' own units and
rounding, so its integers equal what the chain computes, and an input the contract would revert
on raises :class:`AaveError` with the protocol's error code and name (arithmetic reverts raise
:class:`~levguard.core.defi.wadray.MathRevertError`; both are :class:`~levguard.errors.InputError`).

:func:`get_user_account_data` is ``Pool.getUserAccountData`` (GenericLogic),
:func:`liquidation_call` is ``Pool.liquidationCall`` (LiquidationLogic), and
:func:`validate_borrow`, :func:`validate_hf_and_ltv`, :func:`validate_use_as_collateral` are the
ValidationLogic checks of the same names (isolation mode, siloed borrowing, LTV-0 collateral).

Units are the contracts': balances in the token's smallest unit, prices in the oracle's base
currency (USD with 8 decimals on the USD markets), LTV / liquidation threshold / bonus / protocol
fee in basis points (``8250`` is 82.50 %, a bonus of ``10500`` pays 5 %), the health factor in
wad (``10**18`` is 1.0; ``2**256 - 1`` without debt).

Balances are current (``balanceOf``), not scaled: the contracts read ``scaledBalance.rayMul(index)``
with the reserve's normalized income (aTokens) or normalized debt (variable debt tokens) at the
block; pass those products as ``collateral`` and ``debt``.  A liquidation burns and transfers
scaled amounts (``amount.rayDiv(index)``), so the balances after it and the protocol fee can
differ by a wei from plain subtraction once an index has grown past ``RAY``: give the row's
``liquidity_index`` and ``variable_borrow_index`` (default ``RAY``) to get them to the wei.

Versions ``"3.0"`` (aave/aave-v3-core v1.19.4 = v3.0.2, commit 782f5191), ``"3.1"`` - ``"3.3"``,
``"3.5"`` and ``"3.6"`` (aave-dao/aave-v3-origin tags v3.1.0 e627c742, v3.2.0 7c6023e6, v3.3.0 5431379f, v3.4.0, v3.5.0,
v3.6.0 5a230ec8; paths below are under ``src/contracts/protocol/`` of that repository):

* 3.0 / 3.1: an e-mode category may carry a price source that prices every reserve of the
  category (collateral and debt) and, in a liquidation, the debt asset of an e-mode user;
  e-mode membership is one category per reserve; borrowing outside the category reverts ``58``;
* 3.2+: no e-mode price source; membership is the category's collateral bitmap (``in_emode``)
  and borrowable bitmap (``emode_borrowable``, ``100`` otherwise);
* 3.0 - 3.2: close factor 50 % of the reserve's debt when HF > 0.95, else 100 %;
* 3.3+: close factor 100 % of the reserve's debt unless collateral and debt of the two reserves
  are both worth at least ``MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD`` (2,000 USD) and HF > 0.95,
  then capped at 50 % of the account's *total* debt; no dust below ``MIN_LEFTOVER_BASE`` (1,000
  USD) may be left on either side unless one is cleared (``103``); when the liquidation takes
  the account's last collateral (in base currency) the remaining debt of every reserve is burnt
  and booked as the reserve's ``deficit``;
* 3.4 (no version of its own: pass ``"3.3"``): the same numbers as 3.3 (stable debt and GHO's
  special cases removed, a liquidator may not liquidate itself, the borrowing flag follows the
  scaled balance); errors are custom errors from 3.4 on (``Errors.sol``: ``MustNotLeaveDust()``
  ...), see :data:`CUSTOM_ERRORS` and :attr:`AaveError.custom_error`;
* 3.5: directed rounding (``libraries/helpers/TokenMath.sol``, ``libraries/math/WadRayMath.sol``):
  aToken balances ``rayMulFloor(scaled, index)``, debt balances ``rayMulCeil`` (rows with
  ``balance_rounding="directed"``), burns of collateral and aToken transfers ``rayDivCeil``,
  debt burns ``rayDivFloor``; debt values in base currency ``mulDivCeil`` (GenericLogic,
  LiquidationLogic); ``HF = sum(value_i * lt_i).wadDiv(debt) / 10000`` instead of
  ``percentMul(collateral, avg_lt).wadDiv(debt)``; available borrows ``percentMulFloor``; the
  debt for a capped seizure ``percentDivCeil(..., bonus)``; the fee clamp in
  ``rayMulFloor``;
* 3.6: e-mode decoupled from the reserve's own parameters (``logic/GenericLogic.sol``,
  ``ValidationLogic.getUserReserveLtv``): every enabled collateral counts, also at
  ``lt == 0`` outside e-mode; in the category the LTV is the category's, 0 for reserves in its
  ``ltvzeroBitmap`` (``emode_ltvzero``), whatever the reserve's own LTV; a liquidation needs
  only the collateral flag (``validateLiquidationCall``), an ``lt``-0 reserve's bonus being 0.

Not modelled: interest accrual (indexes are inputs), reserve flags (active, paused, frozen, borrowing
enabled), caps, price oracle sentinel, liquidation grace period, stable-rate debt (3.0 - 3.3),
GHO's discount and accrued-interest handling, the liquidator's side (its aToken collateral flag)
and the self-liquidation edge cases; :func:`validate_borrow` mirrors 3.0 - 3.3 only (3.4+ mints
the debt first and validates the account after it: :func:`validate_borrow_after_mint` for 3.5 /
3.6, without the checks before the mint).  A row with an index above ``RAY`` must carry
its version's ``balance_rounding`` (``"directed"`` from 3.5), else InputError.  See docs/defi.md
("Aave v3") for the formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from levguard.core.defi.aave_errors import CUSTOM_ERRORS, ERRORS, AaveError
from levguard.core.defi.aave_records import (
    AAVE_VERSIONS,
    UINT128_MAX,
    AaveReserve,
    EModeCategory,
    LiquidationResult,
    UserAccountData,
    check_flag,
    check_version,
    collateral_after_supply,
    collateral_after_withdraw,
    collateral_ltv,
    collateral_threshold,
    find_reserve,
    parse_emode,
    parse_positions,
    reserve_ltv,
    reserve_threshold,
    scaled_balance,
    variable_debt_after_borrow,
    variable_debt_after_repay,
)
from levguard.core.defi.aave_records import since as _since

# The engine passes trusted uint256 words: it calls the unchecked forms (the public ones check
# their arguments, too slow for the hot loops).
from levguard.core.defi.wadray import (
    RAY,
    UINT256_MAX,
    MathRevertError,
    _mul_div_ceil,
    _percent_div,
    _percent_div_ceil,
    _percent_mul,
    _percent_mul_floor,
    _ray_div,
    _ray_div_ceil,
    _ray_div_floor,
    _ray_mul,
    _ray_mul_ceil,
    _ray_mul_floor,
    _wad_div,
    as_uint256,
    checked_add,
    checked_div,
    checked_mul,
    checked_sub,
)
from levguard.errors import InputError

__all__ = [
    "AAVE_VERSIONS",
    "CLOSE_FACTOR_HF_THRESHOLD",
    "CUSTOM_ERRORS",
    "DEBT_CEILING_DECIMALS",
    "DEFAULT_LIQUIDATION_CLOSE_FACTOR",
    "ERRORS",
    "HEALTH_FACTOR_LIQUIDATION_THRESHOLD",
    "MAX_LIQUIDATION_CLOSE_FACTOR",
    "MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD",
    "MIN_LEFTOVER_BASE",
    "AaveError",
    "AaveReserve",
    "EModeCategory",
    "LiquidationResult",
    "UserAccountData",
    "borrow_isolation_debt",
    "collateral_after_supply",
    "collateral_after_withdraw",
    "collateral_ltv",
    "collateral_threshold",
    "get_user_account_data",
    "liquidation_call",
    "validate_borrow",
    "validate_borrow_after_mint",
    "validate_hf_and_ltv",
    "validate_use_as_collateral",
    "variable_debt_after_borrow",
    "variable_debt_after_repay",
]

HEALTH_FACTOR_LIQUIDATION_THRESHOLD: Final = 10**18
"""Health factor (wad) below which a position can be liquidated (ValidationLogic)."""
CLOSE_FACTOR_HF_THRESHOLD: Final = 95 * 10**16
"""0.95 in wad: at or below it the whole debt of a reserve can be liquidated (LiquidationLogic)."""
DEFAULT_LIQUIDATION_CLOSE_FACTOR: Final = 5_000
MAX_LIQUIDATION_CLOSE_FACTOR: Final = 10_000
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD: Final = 2_000 * 10**8
"""v3.3: below this collateral or debt value (base currency, 8 decimals) the close factor is 100 %."""
MIN_LEFTOVER_BASE: Final = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD // 2
"""v3.3: least value (base currency) a partial liquidation must leave on both sides."""
DEBT_CEILING_DECIMALS: Final = 2
"""Isolation-mode debt ceilings and totals count in units of 0.01 of the base currency."""
_PRICE_SOURCE_VERSIONS: Final = frozenset({"3.0", "3.1"})


def _hf_words(hf: int) -> str:
    # A health factor in an error message: the number a user reads, then the contract's wad.
    return f"{hf / 10**18:.6g} ({hf} wad)"


def _rules(version: str) -> tuple[bool, bool, bool]:
    # (3.3 close factor / dust / deficit rules, 3.5 directed rounding, 3.6 decoupled e-mode).
    return _since(version, "3.3"), _since(version, "3.5"), _since(version, "3.6")


def _check_rounding(reserves: Sequence[AaveReserve], version: str) -> None:
    # Rows with a grown index must carry their version's balanceOf rounding (3.5+: "directed").
    want = "directed" if _since(version, "3.5") else "half_up"
    for r in reserves:
        if r.balance_rounding != want and (r.liquidity_index != RAY or r.variable_borrow_index != RAY):
            raise InputError(
                f"{r.symbol}.balance_rounding must be {want!r} for version {version} (its index is above RAY), "
                f"was {r.balance_rounding!r}"
            )


def _to_balance(r: AaveReserve, side: str) -> Callable[[int, int], int]:
    # The row's balanceOf rounding: rayMul (half up), or TokenMath's rayMulFloor (aToken) /
    # rayMulCeil (debt token) for "directed" rows (v3.5+).
    if r.balance_rounding == "half_up":
        return _ray_mul
    return _ray_mul_floor if side == "collateral" else _ray_mul_ceil


def _scaled(r: AaveReserve, side: str) -> int:
    # The scaled balance behind the row's balance (validated when the row was built).
    index = r.liquidity_index if side == "collateral" else r.variable_borrow_index
    s = scaled_balance(r.collateral if side == "collateral" else r.debt, index, side, r.balance_rounding)
    assert s is not None  # AaveReserve.__post_init__ checked it
    return s


def _price(r: AaveReserve, emode: EModeCategory | None, version: str) -> int:
    # GenericLogic 3.0 / 3.1: the e-mode price source prices every reserve of the user's category.
    if emode is not None and version in _PRICE_SOURCE_VERSIONS and emode.price != 0 and r.in_emode:
        return emode.price
    return r.price


def _account(reserves: Sequence[AaveReserve], emode: EModeCategory | None, version: str) -> UserAccountData:
    # GenericLogic.calculateUserAccountData and PoolLogic.executeGetUserAccountData.
    _check_rounding(reserves, version)
    if not any(r.collateral_enabled or r.debt > 0 for r in reserves):  # userConfig.isEmpty()
        return UserAccountData(0, 0, 0, 0, 0, UINT256_MAX, False)
    _, directed, decoupled = _rules(version)
    coll = debt = ltv_sum = lt_sum = 0
    zero_ltv = False
    for r in reserves:
        if not (r.collateral_enabled or r.debt > 0):
            continue
        price, unit = _price(r, emode, version), 10**r.decimals
        if r.collateral_enabled and (decoupled or r.lt != 0):  # 3.6 counts every enabled collateral
            value = checked_mul(r.collateral, price) // unit
            coll = checked_add(coll, value)
            lt = reserve_threshold(r, emode, version)
            ltv = reserve_ltv(r, emode, version)
            if ltv != 0:
                ltv_sum = checked_add(ltv_sum, checked_mul(value, ltv))
            else:
                zero_ltv = True
            lt_sum = checked_add(lt_sum, checked_mul(value, lt))
        if r.debt > 0:  # 3.5: the debt's value rounds up (MathUtils.mulDivCeil)
            value = _mul_div_ceil(r.debt, price, unit) if directed else checked_mul(r.debt, price) // unit
            debt = checked_add(debt, value)
    avg_ltv = ltv_sum // coll if coll else 0
    avg_lt = lt_sum // coll if coll else 0
    if debt == 0:
        hf = UINT256_MAX
    elif directed:  # 3.5: sum(value * lt).wadDiv(debt) / 100_00, before the average's floor
        hf = _wad_div(lt_sum, debt) // 10_000
    else:
        hf = _wad_div(_percent_mul(coll, avg_lt), debt)
    # GenericLogic.calculateAvailableBorrows (3.5: percentMulFloor)
    borrowable = _percent_mul_floor(coll, avg_ltv) if directed else _percent_mul(coll, avg_ltv)
    available = borrowable - debt if borrowable > debt else 0
    return UserAccountData(coll, debt, available, avg_lt, avg_ltv, hf, zero_ltv)


def get_user_account_data(
    positions: Iterable[Mapping[str, object] | AaveReserve],
    emode_category: Mapping[str, object] | EModeCategory | None = None,
    version: str = "3.3",
) -> UserAccountData:
    """Return what ``Pool.getUserAccountData`` returns for these positions.

    Parameters
    ----------
    positions : iterable of mapping or AaveReserve
        One row per reserve the user touches (fields of :class:`AaveReserve`: ``symbol, price,
        decimals, ltv, lt, collateral, debt, in_emode`` and optional ones), current balances.
    emode_category : mapping, EModeCategory or None
        The user's e-mode category (``ltv, lt, liquidation_bonus`` and, 3.0 / 3.1, ``price``);
        None for no e-mode.
    version : {"3.0", "3.1", "3.2", "3.3", "3.5", "3.6"}

    Returns
    -------
    UserAccountData

    Notes
    -----
    GenericLogic.calculateUserAccountData, for each reserve with ``lt != 0`` enabled as
    collateral and each reserve with debt (``P`` price, ``U = 10**decimals``)::

        value_i = collateral_i * P_i / U_i              (floor)
        total_collateral = sum(value_i);   total_debt = sum(debt_j * P_j / U_j)
        ltv = sum(value_i * ltv_i) / total_collateral   (floor; LTV-0 reserves add nothing)
        lt  = sum(value_i * lt_i) / total_collateral    (floor)
        health_factor = wadDiv(percentMul(total_collateral, lt), total_debt)
        available_borrows = max(percentMul(total_collateral, ltv) - total_debt, 0)

    with e-mode ``ltv_i``/``lt_i`` for the category's reserves.  The floor of the average
    threshold can lower the health factor by up to one bps of collateral value when a
    collateral with a different threshold is added.  3.5+ (GenericLogic at v3.5.0)::

        debt_j value = ceil(debt_j * P_j / U_j)          (MathUtils.mulDivCeil)
        health_factor = wadDiv(sum(value_i * lt_i), total_debt) // 10000
        available_borrows = max(percentMulFloor(total_collateral, ltv) - total_debt, 0)

    3.6 counts every enabled collateral (``lt_i`` may be 0) and takes ``ltv_i`` from
    ``ValidationLogic.getUserReserveLtv`` (e-mode LTV, 0 in the category's ltvzero bitmap).
    """
    return _account(parse_positions(positions), parse_emode(emode_category), check_version(version))


@dataclass(frozen=True, slots=True)
class _Seize:
    collateral: int  # to the liquidator, after the fee
    debt: int
    fee: int
    collateral_base: int  # v3.3: the seized collateral (fee included) in base currency


def _available_collateral(
    coll_price: int,
    coll_unit: int,
    debt_price: int,
    debt_unit: int,
    debt_to_cover: int,
    balance: int,
    bonus: int,
    fee_pct: int,
    version: str,
) -> _Seize:
    # LiquidationLogic._calculateAvailableCollateralToLiquidate.
    v33, directed, _ = _rules(version)
    base = checked_div(
        checked_mul(checked_mul(debt_price, debt_to_cover), coll_unit), checked_mul(coll_price, debt_unit)
    )
    max_coll = _percent_mul(base, bonus)
    if max_coll > balance:
        amount = balance
        needed = checked_div(
            checked_mul(checked_mul(coll_price, amount), debt_unit), checked_mul(debt_price, coll_unit)
        )
        debt = _percent_div_ceil(needed, bonus) if directed else _percent_div(needed, bonus)  # 3.5: rounds up
    else:
        amount, debt = max_coll, debt_to_cover
    amount_base = checked_mul(amount, coll_price) // coll_unit if v33 else 0
    fee = 0
    if fee_pct != 0:
        fee = _percent_mul(checked_sub(amount, _percent_div(amount, bonus)), fee_pct)
        amount = checked_sub(amount, fee)
    return _Seize(amount, debt, fee, amount_base)


def _isolation_units(amount: int, debt_decimals: int) -> int:
    # An amount of the debt asset in the isolated debt's 0.01 base units, SafeCast to uint128.
    counted: int = amount // 10 ** checked_sub(debt_decimals, DEBT_CEILING_DECIMALS)
    if counted > UINT128_MAX:
        raise MathRevertError("SafeCast: value doesn't fit in 128 bits", "", "toUint128")
    return counted


def _isolated_debt_after(total: int, repaid: int, debt_decimals: int) -> int:
    # IsolationModeLogic: the repaid amount in 0.01 base units, the total floored at zero.
    counted = _isolation_units(repaid, debt_decimals)
    return 0 if total <= counted else total - counted


def borrow_isolation_debt(
    positions: Iterable[Mapping[str, object] | AaveReserve], asset: str, amount: int
) -> tuple[AaveReserve, ...]:
    """Return the positions after a borrow of ``amount`` of ``asset`` books its isolated debt.

    In isolation mode (one enabled collateral, with a debt ceiling) the collateral's
    ``isolation_mode_total_debt`` grows by the amount in 0.01 base units; otherwise the
    positions are returned as they are.  The borrow's own balances are the caller's to change.

    Raises
    ------
    MathRevertError
        The amount or the new total does not fit uint128, as the contract's SafeCast and
        checked addition revert.

    Notes
    -----
    ``BorrowLogic.executeBorrow`` (Aave v3.0.2 to v3.3): ``isolationModeTotalDebt +=
    (amount / 10 ** (decimals - DEBT_CEILING_DECIMALS)).toUint128()`` for the isolated collateral,
    so the next ``validateBorrow`` counts it against the ceiling.
    """
    reserves = parse_positions(positions)
    iso = _isolation_collateral(reserves)
    if iso is None:
        return tuple(reserves)
    total = iso.isolation_mode_total_debt + _isolation_units(
        as_uint256(amount, "amount"), find_reserve(reserves, asset, "asset").decimals
    )
    if total > UINT128_MAX:
        raise MathRevertError("isolated debt total overflows uint128 (Panic 0x11)", "0x11", "ARITHMETIC_OVERFLOW")
    return tuple(replace(r, isolation_mode_total_debt=total) if r.symbol == iso.symbol else r for r in reserves)


def _isolation_collateral(reserves: Sequence[AaveReserve]) -> AaveReserve | None:
    # UserConfiguration.getIsolationModeState: exactly one collateral, and it has a debt ceiling.
    enabled = [r for r in reserves if r.collateral_enabled]
    return enabled[0] if len(enabled) == 1 and enabled[0].debt_ceiling != 0 else None


def liquidation_call(
    positions: Iterable[Mapping[str, object] | AaveReserve],
    collateral_asset: str,
    debt_asset: str,
    debt_to_cover: int,
    receive_atoken: bool = False,
    emode_category: Mapping[str, object] | EModeCategory | None = None,
    version: str = "3.3",
) -> LiquidationResult:
    """Liquidate ``debt_to_cover`` of ``debt_asset`` against ``collateral_asset`` as ``Pool.liquidationCall``.

    Parameters
    ----------
    positions, emode_category, version
        As in :func:`get_user_account_data`.
    collateral_asset, debt_asset : str
        Symbols of the collateral to seize and the debt to repay (may be the same reserve).
    debt_to_cover : int
        Debt asset units; ``2**256 - 1`` asks for the most the close factor allows.
    receive_atoken : bool, default False
        The liquidator takes aTokens (then a zero collateral amount does not revert).

    Returns
    -------
    LiquidationResult

    Raises
    ------
    AaveError
        ``45`` HF not below 1, ``46`` collateral not enabled (or, before 3.6, ``lt == 0``), ``47``
        no debt in ``debt_asset``, ``103`` dust left (3.3+), ``25`` nothing to burn (zero scaled
        amount).
    MathRevertError
        Arithmetic revert (e.g. a zero price, or a debt token with fewer than 2 decimals repaid
        against an isolated collateral).
    InputError
        Malformed rows, unknown symbols, or a collateral without a liquidation bonus.

    Notes
    -----
    With ``D`` the debt repaid, ``B`` the bonus (bps), ``f`` the protocol fee (bps)::

        seized = percentMul(Pd * D * Uc / (Pc * Ud), B)
        if seized > balance:  seized = balance;  D = percentDiv(Pc * balance * Ud / (Pd * Uc), B)
        fee = percentMul(seized - percentDiv(seized, B), f);   to_liquidator = seized - fee

    The tokens keep scaled balances, ``balance = rayMul(scaled, I)`` with the row's
    ``liquidity_index`` (aToken) or ``variable_borrow_index`` (debt token) ``I``; the contracts
    move scaled amounts (VariableDebtToken.burn, AToken.burn / transferOnLiquidation through
    ScaledBalanceTokenBase, each ``rayDiv(amount, I)``, a zero scaled burn reverting ``25``)::

        debt_after = rayMul(rayDiv(debt, Id) - rayDiv(D, Id), Id)
        s = rayDiv(balance, Ic) - rayDiv(to_liquidator, Ic)
        if rayDiv(fee, Ic) > s:  fee = rayMul(s, Ic)          # LiquidationLogic's 1-wei clamp
        collateral_after = rayMul(s - rayDiv(fee, Ic), Ic)

    The user's collateral flag is cleared when ``to_liquidator + fee`` (before the clamp) equals
    the balance.  Sources: ``LiquidationLogic.executeLiquidationCall``, ``_burnCollateralATokens``
    and ``_burnDebtTokens`` (aave-v3-core v1.19.4; aave-v3-origin v3.3.0 the same), checked to
    the wei against the v3.0.2 contracts in tests/evm/test_aave_differential.py.  3.5+
    (LiquidationLogic and TokenMath at v3.5.0 / v3.6.0) rounds in the protocol's favour: the
    debt needed for a capped seizure is ``percentDivCeil``, debt values ``mulDivCeil``, the
    scaled collateral moved ``rayDivCeil``, the scaled debt burnt ``rayDivFloor``, balances
    ``rayMulFloor`` (aToken) and ``rayMulCeil`` (debt), and the clamped fee
    ``rayMulFloor(scaled_left, Ic)``; checked against v3.6.0 in
    tests/evm/test_aave_origin_differential.py.  Not modelled:
    the contracts clear the debt's borrowing flag only when ``D`` equals the debt, so a ``D`` a
    wei short that burns the last scaled unit leaves the flag on (rows derive it from
    ``debt > 0``); of the checks here only siloed borrowing would read it.
    """
    version = check_version(version)
    reserves = parse_positions(positions)
    emode = parse_emode(emode_category)
    coll = find_reserve(reserves, collateral_asset, "collateral_asset")
    debt = find_reserve(reserves, debt_asset, "debt_asset")
    to_cover = as_uint256(debt_to_cover, "debt_to_cover")
    check_flag(receive_atoken, "receive_atoken")
    account = _account(reserves, emode, version)
    v33, directed, decoupled = _rules(version)
    hf = account.health_factor
    user_debt = debt.debt

    if not v33:  # LiquidationLogic._calculateDebt runs before the validation
        close_factor = (
            DEFAULT_LIQUIDATION_CLOSE_FACTOR if hf > CLOSE_FACTOR_HF_THRESHOLD else MAX_LIQUIDATION_CLOSE_FACTOR
        )
        max_debt = _percent_mul(user_debt, close_factor)

    # ValidationLogic.validateLiquidationCall (flags, sentinel and grace period not modelled;
    # 3.6 drops the collateral's lt != 0 condition).
    if hf >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        raise AaveError("HEALTH_FACTOR_NOT_BELOW_THRESHOLD", f"health factor {_hf_words(hf)} >= 1")
    if not coll.collateral_enabled or (coll.lt == 0 and not decoupled):
        raise AaveError("COLLATERAL_CANNOT_BE_LIQUIDATED", f"{coll.symbol} is not an enabled collateral")
    if user_debt == 0:
        raise AaveError("SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER", f"no {debt.symbol} debt")

    in_emode_coll = emode is not None and coll.in_emode
    bonus = emode.liquidation_bonus if emode is not None and in_emode_coll else coll.liquidation_bonus
    if bonus == 0 and not (decoupled and coll.lt == 0):  # 3.6: an lt-0 reserve's bonus really is 0
        raise InputError(f"{coll.symbol}.liquidation_bonus is required to liquidate it (bps > 10000)")
    coll_price, debt_price = coll.price, debt.price
    if emode is not None and version in _PRICE_SOURCE_VERSIONS and emode.price != 0:
        # LiquidationLogic._getConfigurationData: the debt always takes the e-mode price.
        debt_price = emode.price
        if in_emode_coll:
            coll_price = emode.price
    coll_unit, debt_unit = 10**coll.decimals, 10**debt.decimals
    balance = coll.collateral

    def debt_value(amount: int) -> int:  # 3.5: debt values round up (MathUtils.mulDivCeil)
        if directed:
            return _mul_div_ceil(amount, debt_price, debt_unit)
        value: int = checked_mul(amount, debt_price) // debt_unit
        return value

    if v33:
        debt_base = debt_value(user_debt)
        coll_base = checked_mul(balance, coll_price) // coll_unit
        max_debt, close_factor = user_debt, MAX_LIQUIDATION_CLOSE_FACTOR
        if (
            coll_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
            and debt_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
            and hf > CLOSE_FACTOR_HF_THRESHOLD
        ):
            default_base = _percent_mul(account.total_debt_base, DEFAULT_LIQUIDATION_CLOSE_FACTOR)
            if debt_base > default_base:  # the default close factor bounds this liquidation
                close_factor = DEFAULT_LIQUIDATION_CLOSE_FACTOR
                max_debt = checked_div(checked_mul(default_base, debt_unit), debt_price)

    actual = min(to_cover, max_debt)
    seize = _available_collateral(
        coll_price, coll_unit, debt_price, debt_unit, actual, balance, bonus, coll.liquidation_protocol_fee, version
    )
    actual = seize.debt
    taken = checked_add(seize.collateral, seize.fee)

    if v33 and actual < user_debt and taken < balance:
        debt_left = debt_value(user_debt - actual)
        coll_left = checked_mul(balance - taken, coll_price) // coll_unit
        if debt_left < MIN_LEFTOVER_BASE or coll_left < MIN_LEFTOVER_BASE:
            raise AaveError(
                "MUST_NOT_LEAVE_DUST",
                f"would leave {debt_left} debt and {coll_left} collateral (base), minimum {MIN_LEFTOVER_BASE}",
            )

    rows = {r.symbol: r for r in reserves}
    rows[coll.symbol] = replace(rows[coll.symbol], use_as_collateral=taken != balance)
    no_collateral_left = v33 and account.total_collateral_base == seize.collateral_base
    # VariableDebtToken.burn takes amount.rayDiv(index) (3.5: rayDivFloor), reverting on zero
    # (ScaledBalanceTokenBase._burnScaled); the balance left is the scaled rest's balanceOf.
    d_index = debt.variable_borrow_index
    burn_amount = user_debt if no_collateral_left else actual
    burn = _ray_div_floor(burn_amount, d_index) if directed else _ray_div(burn_amount, d_index)
    if burn == 0:
        raise AaveError("INVALID_BURN_AMOUNT", f"{debt.symbol} debt to burn is 0 (scaled)")
    deficit: dict[str, int] = {}
    if no_collateral_left:
        if user_debt > actual:
            deficit[debt.symbol] = user_debt - actual
        rows[debt.symbol] = replace(rows[debt.symbol], debt=0)
    else:
        scaled_debt = checked_sub(_scaled(debt, "debt"), burn)
        rows[debt.symbol] = replace(rows[debt.symbol], debt=_to_balance(debt, "debt")(scaled_debt, d_index))

    # Isolated debt: 3.3+ discounts the repaid debt from a ceiled collateral; 3.0 - 3.2 from the
    # user's isolation collateral, read after its flag may have been cleared.
    iso = rows[coll.symbol] if v33 else _isolation_collateral(tuple(rows.values()))
    if iso is not None and iso.debt_ceiling != 0:
        left = _isolated_debt_after(iso.isolation_mode_total_debt, actual, debt.decimals)
        rows[iso.symbol] = replace(rows[iso.symbol], isolation_mode_total_debt=left)

    # AToken.burn (transferOnLiquidation with receive_atoken) moves seized.rayDiv(index) (3.5:
    # rayDivCeil, TokenMath.getATokenBurnScaledAmount / getATokenTransferScaledAmount), then the
    # fee goes, cut to the scaled balance left when the roundings ask more (LiquidationLogic, "1 wei").
    c_index, fee = coll.liquidity_index, seize.fee
    to_scaled = _ray_div_ceil if directed else _ray_div
    to_balance = _to_balance(coll, "collateral")
    moved = to_scaled(seize.collateral, c_index)
    if not receive_atoken and moved == 0:
        raise AaveError("INVALID_BURN_AMOUNT", f"{coll.symbol} collateral to burn is 0 (scaled)")
    scaled_left = checked_sub(_scaled(coll, "collateral"), moved)
    if fee != 0:
        fee_scaled = to_scaled(fee, c_index)
        if fee_scaled > scaled_left:
            fee = to_balance(scaled_left, c_index)
            fee_scaled = scaled_left if directed else to_scaled(fee, c_index)
        scaled_left -= fee_scaled
    rows[coll.symbol] = replace(rows[coll.symbol], collateral=to_balance(scaled_left, c_index))

    if no_collateral_left:  # LiquidationLogic._burnBadDebt on every other borrowed reserve
        for symbol, r in rows.items():
            if r.debt > 0:
                deficit[symbol] = deficit.get(symbol, 0) + r.debt
                rows[symbol] = replace(r, debt=0)

    after = tuple(rows[r.symbol] for r in reserves)
    return LiquidationResult(
        actual_debt_to_liquidate=actual,
        collateral_to_liquidator=seize.collateral,
        liquidation_protocol_fee=fee,
        close_factor=close_factor,
        max_liquidatable_debt=max_debt,
        liquidation_bonus=bonus,
        collateral_price=coll_price,
        debt_price=debt_price,
        health_factor_before=hf,
        deficit=MappingProxyType(deficit),
        collateral_after=MappingProxyType({r.symbol: r.collateral for r in after}),
        debt_after=MappingProxyType({r.symbol: r.debt for r in after}),
        positions_after=after,
    )


def validate_borrow(
    positions: Iterable[Mapping[str, object] | AaveReserve],
    asset: str,
    amount: int,
    emode_category: Mapping[str, object] | EModeCategory | None = None,
    version: str = "3.3",
) -> UserAccountData:
    """Run the risk checks of ``ValidationLogic.validateBorrow`` for a variable-rate borrow of
    ``amount`` (asset units) of ``asset``, a row of ``positions`` (the rows before the borrow).

    Reserve flags (active, paused, frozen, borrowing enabled), caps, available liquidity and the
    oracle sentinel are not modelled.  Returns the account data the check used when it passes.

    Raises
    ------
    AaveError
        In the contract's order: ``26`` zero amount; isolation mode (one enabled collateral with
        a debt ceiling): ``60`` asset not borrowable in isolation, ``53`` ceiling exceeded
        (``total + amount / 10**(decimals - 2) > ceiling``); e-mode: ``58`` (3.0 / 3.1, asset not
        in the category) or ``100`` (3.2+, not in the borrowable bitmap); ``34`` no collateral;
        ``57`` LTV 0; ``35`` HF not above 1; ``36`` collateral cannot cover
        ``percentDiv(debt + amount value, ltv)``; ``89`` siloed borrowing violated.
    """
    version = check_version(version)
    if _since(version, "3.5"):
        raise InputError(
            f"version must be one of {list(AAVE_VERSIONS[:4])} for validate_borrow (3.4+ mints the debt before "
            f"validating the health factor; not modelled), was {version!r}"
        )
    reserves = parse_positions(positions)
    emode = parse_emode(emode_category)
    target = find_reserve(reserves, asset, "asset")
    amount = as_uint256(amount, "amount")  # a NumPy int64 amount would wrap in checked_mul below
    if amount == 0:
        raise AaveError("INVALID_AMOUNT", "amount is 0")
    iso = _isolation_collateral(reserves)
    if iso is not None:
        if not target.borrowable_in_isolation:
            raise AaveError("ASSET_NOT_BORROWABLE_IN_ISOLATION", f"{target.symbol} with {iso.symbol} isolated")
        counted = _isolation_units(amount, target.decimals)
        if iso.isolation_mode_total_debt + counted > UINT128_MAX:  # uint128 addition
            raise MathRevertError("isolated debt total overflows uint128 (Panic 0x11)", "0x11", "ARITHMETIC_OVERFLOW")
        if iso.isolation_mode_total_debt + counted > iso.debt_ceiling:
            raise AaveError(
                "DEBT_CEILING_EXCEEDED",
                f"{iso.isolation_mode_total_debt} + {counted} > {iso.debt_ceiling} (0.01 base units)",
            )
    if emode is not None:
        if version in _PRICE_SOURCE_VERSIONS:
            if not target.in_emode:
                raise AaveError("INCONSISTENT_EMODE_CATEGORY", f"{target.symbol} is not in the user's category")
        elif not (target.in_emode if target.emode_borrowable is None else target.emode_borrowable):
            raise AaveError("NOT_BORROWABLE_IN_EMODE", f"{target.symbol} is not borrowable in the category")
    account = _account(reserves, emode, version)
    if account.total_collateral_base == 0:
        raise AaveError("COLLATERAL_BALANCE_IS_ZERO")
    if account.ltv == 0:
        raise AaveError("LTV_VALIDATION_FAILED", "average LTV is 0")
    if account.health_factor <= HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        hf_text = _hf_words(account.health_factor)
        raise AaveError("HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD", f"health factor {hf_text}")
    price = emode.price if emode is not None and version in _PRICE_SOURCE_VERSIONS and emode.price else target.price
    amount_base = checked_mul(price, amount) // 10**target.decimals
    needed = _percent_div(checked_add(account.total_debt_base, amount_base), account.ltv)
    if needed > account.total_collateral_base:
        have = account.total_collateral_base
        raise AaveError("COLLATERAL_CANNOT_COVER_NEW_BORROW", f"needs {needed} collateral (base), has {have}")
    borrowed = [r for r in reserves if r.debt > 0]
    if borrowed:
        if len(borrowed) == 1 and borrowed[0].siloed_borrowing:
            if borrowed[0].symbol != target.symbol:
                raise AaveError("SILOED_BORROWING_VIOLATION", f"{borrowed[0].symbol} is siloed")
        elif target.siloed_borrowing:
            raise AaveError("SILOED_BORROWING_VIOLATION", f"{target.symbol} is siloed and other debt exists")
    return account


def validate_borrow_after_mint(
    positions: Iterable[Mapping[str, object] | AaveReserve],
    emode_category: Mapping[str, object] | EModeCategory | None = None,
    version: str = "3.6",
) -> UserAccountData:
    """Run the account checks a 3.5 / 3.6 Pool makes after it mints a borrow's debt; pass the
    positions *after* the borrow.  Returns the account data the checks used when they pass.

    Raises
    ------
    AaveError
        ``57`` the user's LTV is 0; ``35`` the health factor is below 1; ``36`` the collateral is
        under ``percentDivCeil(debt, ltv)``.
    InputError
        A version before 3.5 (:func:`validate_borrow` checks those before the borrow).

    Notes
    -----
    ``BorrowLogic.executeBorrow`` (3.4+) runs ``ValidationLogic.validateBorrow`` (flags, bitmap,
    caps, siloed borrowing; not modelled) before the mint and ``validateHFAndLtv`` after it
    (aave-v3-origin v3.6.0 ``logic/ValidationLogic.sol``), on the whole debt valued rounding up.
    """
    version = check_version(version)
    if not _since(version, "3.5"):
        raise InputError(
            f"version must be 3.5 or later for validate_borrow_after_mint (validate_borrow checks {version} "
            f"before the borrow), was {version!r}"
        )
    account = _account(parse_positions(positions), parse_emode(emode_category), version)
    if account.ltv == 0:
        raise AaveError("LTV_VALIDATION_FAILED", "the user's LTV is 0")
    if account.health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        raise AaveError(
            "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD", f"health factor {_hf_words(account.health_factor)}"
        )
    needed = _percent_div_ceil(account.total_debt_base, account.ltv)
    if needed > account.total_collateral_base:
        have = account.total_collateral_base
        raise AaveError("COLLATERAL_CANNOT_COVER_NEW_BORROW", f"needs {needed} collateral (base), has {have}")
    return account


def validate_hf_and_ltv(
    positions: Iterable[Mapping[str, object] | AaveReserve],
    asset: str,
    emode_category: Mapping[str, object] | EModeCategory | None = None,
    version: str = "3.3",
) -> UserAccountData:
    """Check ``ValidationLogic.validateHFAndLtv`` after a withdrawal, transfer or collateral switch-off.

    The Pool runs it when the user borrows and ``asset`` (the collateral withdrawn, transferred
    or disabled) is enabled as collateral.  Pass the positions *after* the action.

    Raises
    ------
    AaveError
        ``35`` when the health factor is below 1; ``57`` when an enabled collateral has LTV 0 and
        ``asset`` itself does not (with LTV-0 collateral only LTV-0 assets may leave first; 3.6:
        the user's LTV of ``asset``, 0 in the category's ltvzero bitmap, ValidationLogic.validateHFAndLtvzero).
    """
    version = check_version(version)
    reserves = parse_positions(positions)
    target = find_reserve(reserves, asset, "asset")
    account = _account(reserves, parse_emode(emode_category), version)
    if account.health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        hf_text = _hf_words(account.health_factor)
        raise AaveError("HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD", f"health factor {hf_text}")
    emode = parse_emode(emode_category)
    target_ltv = reserve_ltv(target, emode, version) if _since(version, "3.6") else target.ltv
    if account.has_zero_ltv_collateral and target_ltv != 0:
        raise AaveError("LTV_VALIDATION_FAILED", f"LTV-0 collateral held; {target.symbol} has LTV {target_ltv}")
    return account


def validate_use_as_collateral(
    positions: Iterable[Mapping[str, object] | AaveReserve],
    asset: str,
    emode_category: Mapping[str, object] | EModeCategory | None = None,
    version: str = "3.3",
) -> bool:
    """Return whether ``asset`` may be enabled as collateral (``ValidationLogic.validateUseAsCollateral``).

    False when the user's LTV of it is 0; True when no collateral is enabled yet; otherwise True
    only when the user is not in isolation mode and ``asset`` has no debt ceiling.  A first supply
    asks
    :func:`~levguard.core.defi.aave_supply.validate_automatic_use_as_collateral` instead.

    Notes
    -----
    3.0 - 3.5 test the reserve's own LTV (``reserveConfig.getLtv() == 0``; @aave/core-v3
    ``ValidationLogic.sol:714``); 3.6 the user's (``getUserReserveLtv``, aave-v3-origin v3.6.0
    ``ValidationLogic.sol:600, 653-674``): the e-mode category's LTV for a reserve of the user's
    category, 0 on its ltvzero bitmap, whatever the reserve's own (:func:`collateral_ltv`).
    """
    version = check_version(version)
    reserves = parse_positions(positions)
    target = find_reserve(reserves, asset, "asset")
    emode = parse_emode(emode_category)  # every version: a bad category is an InputError
    ltv = reserve_ltv(target, emode, version) if _since(version, "3.6") else target.ltv
    if ltv == 0:
        return False
    if not any(r.collateral_enabled for r in reserves):
        return True
    return _isolation_collateral(reserves) is None and target.debt_ceiling == 0
