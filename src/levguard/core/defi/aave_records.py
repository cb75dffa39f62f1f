"""Records of the exact Aave v3 engine: position rows, the e-mode category, results, and their parsing.

:mod:`levguard.core.defi.aave` computes with these and re-exports the public ones; they live here
so each module stays a readable size.  Units as there: token base units, base-currency prices
(8 decimals on USD markets), bps, wad, ray.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from levguard.core.defi.aave_errors import AaveError

# The engine passes trusted uint256 words: it calls the unchecked forms (the public ones check
# their arguments, too slow for the hot loops).
from levguard.core.defi.wadray import (
    PERCENTAGE_FACTOR,
    RAY,
    _percent_mul,
    _ray_div,
    _ray_div_ceil,
    _ray_div_floor,
    _ray_mul,
    _ray_mul_ceil,
    _ray_mul_floor,
    as_uint256,
)
from levguard.core.records import JsonRecord
from levguard.core.validate import contract_int, show
from levguard.errors import InputError

__all__ = [
    "AAVE_VERSIONS",
    "BALANCE_ROUNDINGS",
    "UINT128_MAX",
    "AaveReserve",
    "EModeCategory",
    "LiquidationResult",
    "UserAccountData",
    "check_flag",
    "check_version",
    "collateral_after_supply",
    "collateral_after_withdraw",
    "collateral_ltv",
    "collateral_threshold",
    "find_reserve",
    "parse_emode",
    "parse_positions",
    "reserve_ltv",
    "reserve_threshold",
    "scaled_balance",
    "since",
    "variable_debt_after_borrow",
    "variable_debt_after_repay",
]

AAVE_VERSIONS: Final = ("3.0", "3.1", "3.2", "3.3", "3.5", "3.6")
"""Protocol versions the engine mirrors (the ``version`` argument), oldest first.  A v3.4 pool
computes what ``"3.3"`` computes (its changes are outside what the engine models)."""
BALANCE_ROUNDINGS: Final = ("half_up", "directed")
"""How a row's balances come from its scaled balances: ``"half_up"`` (v3.0 - v3.4, ``rayMul``)
or ``"directed"`` (v3.5+: aToken ``rayMulFloor``, debt token ``rayMulCeil``; TokenMath.sol)."""
UINT128_MAX: Final = 2**128 - 1
"""Largest uint128 (isolated-debt totals and scaled balances are stored in 128 bits)."""
_MAX_DEBT_CEILING: Final = 2**40 - 1
_MAX_DECIMALS: Final = 77  # 10**78 overflows uint256


_UINT256_FIELDS: Final = (
    "price",
    "collateral",
    "debt",
    "debt_ceiling",
    "isolation_mode_total_debt",
    "liquidity_index",
    "variable_borrow_index",
)


def _bps(value: object, field_name: str) -> int:
    return contract_int(value, field_name, 0, 65_535, "uint16 bps")  # the reserve configuration stores these in 16 bits


def check_flag(value: object, field_name: str, optional: bool = False) -> None:
    """Raise InputError naming ``field_name`` unless ``value`` is a bool (or None when optional)."""
    if not (isinstance(value, bool) or (optional and value is None)):
        raise InputError(f"{field_name} must be a bool{' or None' if optional else ''}, was {show(value)}")


@dataclass(frozen=True, slots=True)
class AaveReserve(JsonRecord):
    """One reserve of the pool and the user's position in it (one row of ``positions``).

    Parameters
    ----------
    symbol : str
        Name of the reserve (unique within ``positions``).
    price : int
        Oracle price of one whole token in the base currency (USD with 8 decimals).
    decimals : int
        Token decimals (``10**decimals`` smallest units per token), 0 to 77.
    ltv, lt : int
        Loan to value and liquidation threshold, bps (``ltv <= lt``, as the configurator requires).
    collateral, debt : int
        The user's current aToken and variable debt balances, smallest units.
    in_emode : bool, default False
        The reserve is in the user's e-mode category (3.0 / 3.1: the reserve's category; 3.2+: the
        category's collateral bitmap).  Ignored when the user has no e-mode category.
    liquidation_bonus, liquidation_protocol_fee : int, default 0
        Bps: the bonus ``> 10000`` when set (10500 pays 5 %; 0 = not given, needed to liquidate
        this collateral outside e-mode); the treasury's share of the bonus (<= 10000).
    use_as_collateral : bool or None, default None
        The user's collateral flag for this reserve; None means ``collateral > 0``.
    debt_ceiling, isolation_mode_total_debt : int, default 0
        Isolation mode: the reserve's debt ceiling (0 = not isolated) and the reserve-wide debt
        counted against it, both in 0.01 base units.
    borrowable_in_isolation, siloed_borrowing, emode_borrowable : bool, default False, False, None
        Flags for :func:`validate_borrow` (``emode_borrowable``: 3.2+ borrowable bitmap; None
        means ``in_emode``).
    liquidity_index, variable_borrow_index : int, default RAY
        The reserve's normalized income and variable debt at the block (ray, ``>= 10**27``;
        ``Pool.getReserveNormalizedIncome`` / ``getReserveNormalizedVariableDebt``), for the
        scaled burns and transfers of :func:`liquidation_call`.  ``collateral`` and ``debt`` must
        then be balances the index can produce: ``rayMul(rayDiv(balance, index), index)``
        (``balance_rounding="half_up"``), or ``rayMulFloor(rayDivCeil(collateral, index), index)``
        and ``rayMulCeil(rayDivFloor(debt, index), index)`` (``"directed"``).
    emode_ltvzero : bool, default False
        3.6: the reserve is in the user's e-mode category's ``ltvzeroBitmap`` (its LTV in the
        category is 0 and the LTV-0 rules apply).  Ignored before 3.6 and outside e-mode.
    balance_rounding : {"half_up", "directed"}, default "half_up"
        The protocol version's rounding of ``balanceOf`` (:data:`BALANCE_ROUNDINGS`): ``"directed"``
        for rows read from a v3.5+ pool.  Only matters when an index is above ``RAY``; the engine
        then requires the version's rounding (InputError otherwise).
    """

    symbol: str
    price: int
    decimals: int
    ltv: int
    lt: int
    collateral: int = 0
    debt: int = 0
    in_emode: bool = False
    liquidation_bonus: int = 0
    liquidation_protocol_fee: int = 0
    use_as_collateral: bool | None = None
    debt_ceiling: int = 0
    isolation_mode_total_debt: int = 0
    borrowable_in_isolation: bool = False
    siloed_borrowing: bool = False
    emode_borrowable: bool | None = None
    liquidity_index: int = RAY
    variable_borrow_index: int = RAY
    emode_ltvzero: bool = False
    balance_rounding: str = "half_up"

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise InputError(f"symbol must be a non-empty str, was {show(self.symbol)}")
        s = self.symbol
        # The integers are stored as Python ints: NumPy's int64 passes the range checks but its
        # products wrap or overflow in the wad/ray math (collateral * price).
        for name in _UINT256_FIELDS:
            object.__setattr__(self, name, as_uint256(getattr(self, name), f"{s}.{name}"))
        decimals = as_uint256(self.decimals, f"{s}.decimals")
        if decimals > _MAX_DECIMALS:
            raise InputError(f"{s}.decimals must be <= {_MAX_DECIMALS} (10**decimals fits uint256), was {decimals}")
        ltv, lt = _bps(self.ltv, f"{s}.ltv"), _bps(self.lt, f"{s}.lt")
        bonus = _bps(self.liquidation_bonus, f"{s}.liquidation_bonus")
        fee = _bps(self.liquidation_protocol_fee, f"{s}.liquidation_protocol_fee")
        # PoolConfigurator.configureReserveAsCollateral and setLiquidationProtocolFee.
        if ltv > lt:
            raise InputError(f"{s}.ltv must be <= lt (INVALID_RESERVE_PARAMS), was ltv={ltv} lt={lt}")
        if lt == 0 and bonus != 0:
            raise InputError(f"{s}.liquidation_bonus must be 0 when lt is 0 (INVALID_RESERVE_PARAMS), was {bonus}")
        if bonus != 0 and (bonus <= PERCENTAGE_FACTOR or _percent_mul(lt, bonus) > PERCENTAGE_FACTOR):
            raise InputError(
                f"{s}.liquidation_bonus must be > 10000 with lt * bonus <= 100 % (INVALID_RESERVE_PARAMS), "
                f"was bonus={bonus} lt={lt}"
            )
        if fee > PERCENTAGE_FACTOR:
            raise InputError(f"{s}.liquidation_protocol_fee must be <= 10000 bps, was {fee}")
        for name, value in (("decimals", decimals), ("ltv", ltv), ("lt", lt), ("liquidation_bonus", bonus)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "liquidation_protocol_fee", fee)
        if self.debt_ceiling > _MAX_DEBT_CEILING:
            raise InputError(f"{s}.debt_ceiling must be < 2**40, was {self.debt_ceiling}")
        if self.isolation_mode_total_debt > UINT128_MAX:
            raise InputError(f"{s}.isolation_mode_total_debt must fit uint128, was {self.isolation_mode_total_debt}")
        for name in ("in_emode", "borrowable_in_isolation", "siloed_borrowing", "emode_ltvzero"):
            check_flag(getattr(self, name), f"{s}.{name}")
        if not isinstance(self.balance_rounding, str) or self.balance_rounding not in BALANCE_ROUNDINGS:
            raise InputError(
                f"{s}.balance_rounding must be one of {list(BALANCE_ROUNDINGS)}, was {self.balance_rounding!r:.40}"
            )
        check_flag(self.use_as_collateral, f"{s}.use_as_collateral", optional=True)
        check_flag(self.emode_borrowable, f"{s}.emode_borrowable", optional=True)
        for index_name, balance_name in (("liquidity_index", "collateral"), ("variable_borrow_index", "debt")):
            index, balance = getattr(self, index_name), getattr(self, balance_name)
            if index < RAY or scaled_balance(balance, index, balance_name, self.balance_rounding) is None:
                raise InputError(
                    f"{s}.{index_name} must be >= 1e27 and give {balance_name} {balance} as the "
                    f"{self.balance_rounding} balance of a scaled balance, was {index}"
                )

    @property
    def collateral_enabled(self) -> bool:
        """The user's collateral flag (``use_as_collateral``, else ``collateral > 0``)."""
        return self.collateral > 0 if self.use_as_collateral is None else self.use_as_collateral


@dataclass(frozen=True, slots=True)
class EModeCategory(JsonRecord):
    """The user's efficiency-mode category.

    Parameters
    ----------
    ltv, lt, liquidation_bonus : int
        Bps; the configurator requires ``0 < ltv <= lt``, ``bonus > 10000`` and
        ``lt * bonus <= 100 %``.
    price : int, default 0
        3.0 / 3.1 only: the price of the category's price source (base currency); 0 means none.
        Ignored from 3.2 on.
    """

    ltv: int
    lt: int
    liquidation_bonus: int
    price: int = 0

    def __post_init__(self) -> None:
        ltv, lt = _bps(self.ltv, "emode.ltv"), _bps(self.lt, "emode.lt")
        bonus = _bps(self.liquidation_bonus, "emode.liquidation_bonus")
        for name, value in (("ltv", ltv), ("lt", lt), ("liquidation_bonus", bonus)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "price", as_uint256(self.price, "emode.price"))
        if ltv == 0 or ltv > lt or bonus <= PERCENTAGE_FACTOR or _percent_mul(lt, bonus) > PERCENTAGE_FACTOR:
            raise InputError(
                "emode category must have 0 < ltv <= lt, liquidation_bonus > 10000 and lt * bonus <= 100 % "
                f"(INVALID_EMODE_CATEGORY_PARAMS), was ltv={ltv} lt={lt} liquidation_bonus={bonus}"
            )


@dataclass(frozen=True, slots=True)
class UserAccountData(JsonRecord):
    """``Pool.getUserAccountData`` (all ints as the contract returns them).

    Attributes
    ----------
    total_collateral_base, total_debt_base, available_borrows_base : int
        Base currency (8 decimals on USD markets).
    current_liquidation_threshold, ltv, health_factor : int
        Collateral-weighted averages in bps (floored); HF in wad, ``2**256 - 1`` without debt.
    has_zero_ltv_collateral : bool
        An enabled collateral has a reserve LTV of 0 (GenericLogic's sixth return value).
    """

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int
    has_zero_ltv_collateral: bool


@dataclass(frozen=True, slots=True)
class LiquidationResult(JsonRecord):
    """Outcome of :func:`liquidation_call`.

    Attributes
    ----------
    actual_debt_to_liquidate, collateral_to_liquidator : int
        Debt repaid and collateral received net of the protocol fee (the ``LiquidationCall``
        event's ``debtToCover`` and ``liquidatedCollateralAmount``).
    liquidation_protocol_fee : int
        Collateral sent to the treasury (cut by the contract's 1-wei clamp when the two scaled
        roundings ask more than the user holds); the user loses ``collateral_to_liquidator`` plus it.
    close_factor : int
        Bps: 5000 when the default close factor bounds the liquidation (3.0 - 3.2: of the
        reserve's debt; 3.3: of the account's total debt), else 10000.
    max_liquidatable_debt, liquidation_bonus : int
        The debt the close factor allows (debt units); the bonus applied (bps, e-mode's if any).
    collateral_price, debt_price, health_factor_before : int
        Prices used (3.0 / 3.1: the e-mode price source where it applies); HF in wad.
    deficit : Mapping[str, int]
        3.3: debt burnt as bad debt and added to each reserve's deficit (only non-zero entries).
    collateral_after, debt_after : Mapping[str, int]
        The user's balances after the liquidation, per symbol.
    positions_after : tuple of AaveReserve
        Rows after the liquidation (balances, collateral flag, isolated debt) for the next call;
        left out of ``to_dict``.
    """

    actual_debt_to_liquidate: int
    collateral_to_liquidator: int
    liquidation_protocol_fee: int
    close_factor: int
    max_liquidatable_debt: int
    liquidation_bonus: int
    collateral_price: int
    debt_price: int
    health_factor_before: int
    deficit: Mapping[str, int]
    collateral_after: Mapping[str, int]
    debt_after: Mapping[str, int]
    positions_after: tuple[AaveReserve, ...] = field(repr=False)


def scaled_balance(balance: int, index: int, side: str, rounding: str) -> int | None:
    """Return the scaled balance whose balance at ``index`` is ``balance``, or None when none is.

    ``side`` is ``"collateral"`` (aToken) or ``"debt"`` (variable debt token); ``rounding`` one of
    :data:`BALANCE_ROUNDINGS`.  ``"half_up"``: ``s = rayDiv(balance, index)`` when
    ``rayMul(s, index) == balance``.  ``"directed"`` (TokenMath.sol, v3.5+): the aToken balance
    is ``rayMulFloor(s, index)``, so ``s = rayDivCeil(balance, index)``; the debt balance is
    ``rayMulCeil(s, index)``, so ``s = rayDivFloor(balance, index)`` (unique for ``index >= RAY``).
    """
    balance, index = as_uint256(balance, "balance"), as_uint256(index, "index")  # NumPy ints to int
    if index < RAY:
        raise InputError(f"index must be >= 1e27 (ray), was {index}")
    if not isinstance(side, str) or side not in ("collateral", "debt"):
        raise InputError(f"side must be 'collateral' or 'debt', was {show(side)}")
    if not isinstance(rounding, str) or rounding not in BALANCE_ROUNDINGS:
        raise InputError(f"rounding must be one of {list(BALANCE_ROUNDINGS)}, was {show(rounding)}")
    if index == RAY:
        return balance
    if rounding == "half_up":
        s = _ray_div(balance, index)
        return s if _ray_mul(s, index) == balance else None
    if side == "collateral":
        s = _ray_div_ceil(balance, index)
        return s if _ray_mul_floor(s, index) == balance else None
    s = _ray_div_floor(balance, index)
    return s if _ray_mul_ceil(s, index) == balance else None


def variable_debt_after_borrow(row: AaveReserve, amount: int) -> int:
    """Return ``row``'s variable debt balance after a borrow of ``amount`` mints its debt tokens.

    The debt token mints a scaled amount, not ``amount``: the balance after the borrow can exceed
    ``row.debt + amount`` by a unit or two once ``row.variable_borrow_index`` has grown past
    ``RAY`` (it equals it at ``RAY``).

    Parameters
    ----------
    row : AaveReserve
        The borrowed reserve's row before the borrow (``debt`` its ``balanceOf`` at
        ``variable_borrow_index``, ``balance_rounding`` its version's).
    amount : int
        The borrow, in the asset's smallest units.

    Returns
    -------
    int
        The debt token's ``balanceOf`` after the mint, smallest units.

    Raises
    ------
    AaveError
        ``24`` (``INVALID_MINT_AMOUNT``) when ``amount`` mints 0 scaled units.
    InputError
        ``amount`` not a uint256.

    Notes
    -----
    ``VariableDebtToken.mint`` -> ``ScaledBalanceTokenBase._mintScaled`` and
    ``VariableDebtToken.balanceOf`` (aave/aave-v3-core v1.19.4, v3.0 - v3.4; ``WadRayMath.rayDiv``
    / ``rayMul`` round half up)::

        s  = debt's scaled balance (scaled_balance)
        s' = s + amount.rayDiv(index)          (require != 0: INVALID_MINT_AMOUNT, 24)
        debt' = s'.rayMul(index)

    3.5+ (``"directed"`` rows; aave-v3-origin v3.5.0 ``helpers/TokenMath.sol``):
    ``getVTokenMintScaledAmount = amount.rayDivCeil(index)``, ``getVTokenBalance =
    s'.rayMulCeil(index)``.  For ``RAY <= index < 2 RAY``, ``debt' - debt - amount`` is at most 1
    (half up) or 2 (directed).
    """
    amount = as_uint256(amount, "amount")
    return _scaled_move(row, "debt", amount, +1, _ray_div_ceil, _ray_mul_ceil)


def variable_debt_after_repay(row: AaveReserve, amount: int) -> int:
    """Return ``row``'s variable debt balance after a repayment of ``amount`` burns its debt tokens.

    Parameters
    ----------
    row : AaveReserve
        The repaid reserve's row before the repayment (as :func:`variable_debt_after_borrow`).
    amount : int
        The repayment, smallest units; at most the debt is repaid (``type(uint256).max``: all).

    Returns
    -------
    int
        The debt token's ``balanceOf`` after the burn, smallest units.

    Raises
    ------
    AaveError
        ``26`` (``INVALID_AMOUNT``) for 0, ``39`` (``NO_DEBT_OF_SELECTED_TYPE``) without debt,
        ``25`` (``INVALID_BURN_AMOUNT``) when the repayment burns 0 scaled units.

    Notes
    -----
    ``BorrowLogic.executeRepay`` (``paybackAmount = min(amount, balanceOf)``) ->
    ``VariableDebtToken.burn`` -> ``ScaledBalanceTokenBase._burnScaled`` (aave/aave-v3-core
    v1.19.4)::

        s' = s - paybackAmount.rayDiv(index)     (require != 0: INVALID_BURN_AMOUNT, 25)
        debt' = s'.rayMul(index)

    3.5+ (``"directed"`` rows, TokenMath.sol): ``getVTokenBurnScaledAmount = rayDivFloor``,
    ``getVTokenBalance = rayMulCeil``.  A whole repayment burns ``s`` exactly (both roundings,
    index >= RAY); otherwise ``debt' - (debt - amount)`` is at most 1 (half up) or 2 (directed)
    for ``RAY <= index < 2 RAY``.
    """
    amount = as_uint256(amount, "amount")
    if amount == 0:
        raise AaveError("INVALID_AMOUNT", "amount is 0")
    if row.debt == 0:
        raise AaveError("NO_DEBT_OF_SELECTED_TYPE", f"no {row.symbol} variable debt")
    return _scaled_move(row, "debt", min(amount, row.debt), -1, _ray_div_floor, _ray_mul_ceil)


def collateral_after_supply(row: AaveReserve, amount: int) -> int:
    """Return ``row``'s aToken balance after a supply of ``amount`` mints its scaled aTokens.

    The twin of :func:`variable_debt_after_borrow` on the collateral side: the aToken mints a
    scaled amount, so once ``row.liquidity_index`` has grown past ``RAY`` the balance after the
    supply can fall a unit (3.5+: two) short of ``row.collateral + amount``.

    Parameters
    ----------
    row : AaveReserve
        The supplied reserve's row before the supply (``collateral`` its aToken ``balanceOf`` at
        ``liquidity_index``, ``balance_rounding`` its version's).
    amount : int
        The supply, in the asset's smallest units.

    Returns
    -------
    int
        The aToken's ``balanceOf`` after the mint, smallest units.

    Raises
    ------
    AaveError
        ``24`` (``INVALID_MINT_AMOUNT``) when ``amount`` mints 0 scaled units.
    InputError
        ``amount`` not a uint256.

    Notes
    -----
    ``SupplyLogic.executeSupply`` -> ``AToken.mint`` -> ``ScaledBalanceTokenBase._mintScaled``
    and ``AToken.balanceOf`` (aave/aave-v3-core v1.19.4, v3.0 - v3.4; ``WadRayMath.rayDiv`` /
    ``rayMul`` round half up)::

        s  = collateral's scaled balance (scaled_balance)
        s' = s + amount.rayDiv(index)          (require != 0: INVALID_MINT_AMOUNT, 24)
        collateral' = s'.rayMul(index)

    3.5+ (``"directed"`` rows; aave-dao/aave-v3-origin v3.5.0
    ``src/contracts/protocol/libraries/helpers/TokenMath.sol``): ``getATokenMintScaledAmount =
    amount.rayDivFloor(index)``, ``getATokenBalance = s'.rayMulFloor(index)``.  For ``RAY <=
    index < 2 RAY``, ``collateral + amount - collateral'`` is at most 1 (half up) or 2 (directed).
    """
    amount = as_uint256(amount, "amount")
    return _scaled_move(row, "collateral", amount, +1, _ray_div_floor, _ray_mul_floor)


def collateral_after_withdraw(row: AaveReserve, amount: int) -> int:
    """Return ``row``'s aToken balance after a withdrawal of ``amount`` burns its scaled aTokens.

    Parameters
    ----------
    row : AaveReserve
        The withdrawn reserve's row before the withdrawal (as :func:`collateral_after_supply`).
    amount : int
        The withdrawal, smallest units, at most ``row.collateral`` (the whole balance burns the
        whole scaled balance: 0 left).

    Returns
    -------
    int
        The aToken's ``balanceOf`` after the burn, smallest units.

    Raises
    ------
    AaveError
        ``26`` (``INVALID_AMOUNT``) for 0, ``32`` (``NOT_ENOUGH_AVAILABLE_USER_BALANCE``) above
        the balance, ``25`` (``INVALID_BURN_AMOUNT``) when ``amount`` burns 0 scaled units.

    Notes
    -----
    ``SupplyLogic.executeWithdraw`` (``ValidationLogic.validateWithdraw``: ``amount != 0``,
    ``amount <= balanceOf``) -> ``AToken.burn`` -> ``ScaledBalanceTokenBase._burnScaled``
    (aave/aave-v3-core v1.19.4, v3.0 - v3.4)::

        s' = s - amount.rayDiv(index)          (require != 0: INVALID_BURN_AMOUNT, 25)
        collateral' = s'.rayMul(index)

    3.5+ (``"directed"`` rows, TokenMath.sol): ``getATokenBurnScaledAmount = rayDivCeil``,
    ``getATokenBalance = rayMulFloor``.  The whole balance burns ``s`` (0 left).  Otherwise
    ``(collateral - amount) - collateral'`` is at most 1 (half up) or 2 (directed) for ``RAY <=
    index < 2 RAY``.
    """
    amount = as_uint256(amount, "amount")
    if amount == 0:
        raise AaveError("INVALID_AMOUNT", "amount is 0")
    if amount > row.collateral:
        raise AaveError(
            "NOT_ENOUGH_AVAILABLE_USER_BALANCE", f"{row.symbol}: {amount} is above the balance {row.collateral}"
        )
    if amount == row.collateral:
        return 0
    return _scaled_move(row, "collateral", amount, -1, _ray_div_ceil, _ray_mul_floor)


def _scaled_move(
    row: AaveReserve,
    side: str,
    amount: int,
    sign: int,
    div: Callable[[int, int], int],
    mul: Callable[[int, int], int],
) -> int:
    # The one scaled mint (sign +1) or burn (-1) of ``amount`` on ``row``'s ``side`` ("debt": the
    # variable debt token at variable_borrow_index; "collateral": the aToken at liquidity_index),
    # and the balance read after it: WadRayMath's half-up rayDiv/rayMul before 3.5, the token's
    # own directions ``div``/``mul`` (TokenMath.sol) on "directed" rows.  A move of 0 scaled units
    # reverts (_mintScaled / _burnScaled: INVALID_MINT_AMOUNT 24, INVALID_BURN_AMOUNT 25).
    index = row.variable_borrow_index if side == "debt" else row.liquidity_index
    s = scaled_balance(getattr(row, side), index, side, row.balance_rounding)
    assert s is not None  # AaveReserve.__post_init__ checked it
    directed = row.balance_rounding == "directed"
    moved = div(amount, index) if directed else _ray_div(amount, index)
    if moved == 0:
        code, verb = ("INVALID_MINT_AMOUNT", "mints") if sign > 0 else ("INVALID_BURN_AMOUNT", "burns")
        raise AaveError(code, f"{row.symbol}: {amount} {verb} 0 scaled units at index {index}")
    return mul(s + sign * moved, index) if directed else _ray_mul(s + sign * moved, index)


_ROW_FIELDS: Final = frozenset(f.name for f in fields(AaveReserve))
_EMODE_FIELDS: Final = frozenset(f.name for f in fields(EModeCategory))


def parse_positions(positions: Iterable[Mapping[str, object] | AaveReserve]) -> tuple[AaveReserve, ...]:
    """Return ``positions`` as validated rows; raise InputError naming a bad row or a repeated symbol."""
    if isinstance(positions, Mapping | str | bytes) or not isinstance(positions, Iterable):
        raise InputError(f"positions must be a sequence of rows, was {type(positions).__name__}")
    rows: list[AaveReserve] = []
    for i, row in enumerate(positions):
        if isinstance(row, AaveReserve):
            rows.append(row)
        elif isinstance(row, Mapping):
            unknown = sorted(str(k) for k in row if k not in _ROW_FIELDS)
            if unknown:
                raise InputError(f"positions[{i}] has unknown fields {unknown}; known: {sorted(_ROW_FIELDS)}")
            try:
                kwargs: dict[str, Any] = {str(k): v for k, v in row.items()}
                rows.append(AaveReserve(**kwargs))
            except TypeError as exc:  # a required field is missing
                raise InputError(f"positions[{i}]: {exc}") from None
        else:
            raise InputError(f"positions[{i}] must be a mapping or AaveReserve, was {type(row).__name__}")
    symbols = [r.symbol for r in rows]
    if len(set(symbols)) != len(symbols):
        raise InputError(f"positions symbols must be unique, were {symbols}")
    return tuple(rows)


def parse_emode(category: Mapping[str, object] | EModeCategory | None) -> EModeCategory | None:
    """Return the e-mode category (None for none) validated; raise InputError on a bad one."""
    if category is None or isinstance(category, EModeCategory):
        return category
    if not isinstance(category, Mapping):
        raise InputError(f"emode_category must be a mapping, EModeCategory or None, was {type(category).__name__}")
    unknown = sorted(str(k) for k in category if k not in _EMODE_FIELDS)
    if unknown:
        raise InputError(f"emode_category has unknown fields {unknown}; known: {sorted(_EMODE_FIELDS)}")
    try:
        kwargs: dict[str, Any] = {str(k): v for k, v in category.items()}
        return EModeCategory(**kwargs)
    except TypeError as exc:
        raise InputError(f"emode_category: {exc}") from None


def check_version(version: str) -> str:
    """Return ``version`` when it is one of :data:`AAVE_VERSIONS`; raise InputError otherwise."""
    if not isinstance(version, str) or version not in AAVE_VERSIONS:
        raise InputError(f"version must be one of {list(AAVE_VERSIONS)}, was {version!r:.40}")
    return version


def find_reserve(reserves: Sequence[AaveReserve], symbol: str, role: str) -> AaveReserve:
    """Return the row of ``symbol``; raise InputError naming ``role`` when it is not there."""
    if not isinstance(symbol, str):
        raise InputError(f"{role} must be a str (a symbol of the positions), was {show(symbol)}")
    for r in reserves:
        if r.symbol == symbol:
            return r
    raise InputError(f"{role} {symbol!r:.40} is not among the positions {[r.symbol for r in reserves]}")


def since(version: str, first: str) -> bool:
    """Whether Aave ``version`` is ``first`` or later (both of :data:`AAVE_VERSIONS`, oldest first)."""
    return AAVE_VERSIONS.index(version) >= AAVE_VERSIONS.index(first)


def reserve_ltv(r: AaveReserve, emode: EModeCategory | None, version: str) -> int:
    """:func:`collateral_ltv` of arguments the engine has checked already."""
    if emode is None or not r.in_emode:
        return r.ltv
    if since(version, "3.6"):
        return 0 if r.emode_ltvzero else emode.ltv
    return emode.ltv if r.ltv != 0 else 0


def reserve_threshold(r: AaveReserve, emode: EModeCategory | None, version: str) -> int:
    """:func:`collateral_threshold` of arguments the engine has checked already."""
    if r.lt == 0 and not since(version, "3.6"):
        return 0
    return emode.lt if emode is not None and r.in_emode else r.lt


def _checked(r: object, emode: object, version: object) -> tuple[AaveReserve, EModeCategory | None, str]:
    if not isinstance(r, AaveReserve):
        raise InputError(f"reserve must be an AaveReserve, was {show(r)}")
    if emode is not None and not isinstance(emode, EModeCategory):
        raise InputError(f"emode must be an EModeCategory or None, was {show(emode)}")
    return r, emode, check_version(version)  # type: ignore[arg-type]


def collateral_ltv(reserve: AaveReserve, emode: EModeCategory | None, version: str) -> int:
    """The LTV (bps) at which ``reserve``'s collateral counts towards borrowing for this user.

    Notes
    -----
    ValidationLogic.getUserReserveLtv (3.6): the category's LTV for its collateral, 0 when the
    reserve is in its ltvzero bitmap; before 3.6 the e-mode LTV where the reserve's own is not 0
    (GenericLogic.calculateUserAccountData), the reserve's own outside e-mode.
    """
    return reserve_ltv(*_checked(reserve, emode, version))


def collateral_threshold(reserve: AaveReserve, emode: EModeCategory | None, version: str) -> int:
    """The liquidation threshold (bps) at which ``reserve``'s balance counts in the health factor
    once enabled as collateral: the e-mode category's for a reserve in the user's category, else
    the reserve's own; 0 where it adds nothing to the health factor.

    Notes
    -----
    GenericLogic.calculateUserAccountData: before 3.6 a reserve whose own threshold is 0 is left
    out, e-mode or not; from 3.6 (aave-v3-origin v3.6.0) every enabled collateral counts, a reserve
    in the user's category at the category's threshold whatever its own.
    """
    return reserve_threshold(*_checked(reserve, emode, version))
