"""Interest-rate models of the lending protocols, exact to the wei, and their APYs.

* **Aave v3.0** ``DefaultReserveInterestRateStrategy.calculateInterestRates``
  (:func:`calculate_interest_rates`): two variable slopes around the optimal usage ratio, stable
  rates, the liquidity rate from the overall (variable and stable) borrow rate;
* **Aave v3.1+** ``DefaultReserveInterestRateStrategyV2.calculateInterestRates``
  (:func:`calculate_interest_rates_v2`): the same curve from basis-point parameters per reserve
  (:class:`AaveInterestRateData`), virtual balances, no stable rate;
* Aave's index growth, ``MathUtils.calculateLinearInterest`` (liquidity index) and
  ``calculateCompoundedInterest`` (variable borrow index), and ``ReserveLogic``'s normalized
  income and debt, so balances can be projected over time;
* **Morpho Blue** ``AdaptiveCurveIrm`` (re-exported from
  :mod:`levguard.core.defi.adaptive_curve_irm`);
* APR and APY of a protocol rate (:func:`borrow_apy`, :func:`supply_apy`, re-exported from
  :mod:`levguard.core.defi.irm_apy`), with each protocol's compounding convention.

(Compound III's kink model is :func:`levguard.core.defi.comet_accrual.get_borrow_rate`.)

Integer functions take and return the contracts' words (Python ``int``) and raise where the
contract reverts: :class:`~levguard.core.defi.wadray.MathRevertError` for arithmetic,
:class:`AaveRateError` (an :class:`~levguard.core.defi.aave_errors.AaveError`) for a ``require``.
Rates are ray (``1e27`` = 100 % a year) for Aave, WAD per second for Morpho.

Sources (same functions, versions as in :mod:`levguard.core.defi.aave`):

* 3.0: aave/aave-v3-core v1.19.4 = v3.0.2 (commit 782f51917056a53a2c228701058a6c3fb233684a),
  ``contracts/protocol/pool/DefaultReserveInterestRateStrategy.sol``,
  ``contracts/protocol/libraries/math/MathUtils.sol``,
  ``contracts/protocol/libraries/logic/ReserveLogic.sol``;
* 3.1 - 3.4: aave-dao/aave-v3-origin tags v3.1.0 (e627c742), v3.2.0 (7c6023e6), v3.3.0
  (5431379f), v3.4.0 (d7a64127), ``src/contracts/misc/DefaultReserveInterestRateStrategyV2.sol``
  (3.1: ``src/core/contracts/protocol/pool/``) and ``.../libraries/math/MathUtils.sol``.  Version
  ``"3.4"`` stands for 3.4 and later: both files' arithmetic is unchanged through commit
  fd1fbd9150426ca8ace9cee45b4acf912ae84f5b (v3.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from levguard.core.defi.aave_errors import AaveError
from levguard.core.defi.adaptive_curve_irm import (
    ADJUSTMENT_SPEED,
    CURVE_STEEPNESS,
    INITIAL_RATE_AT_TARGET,
    MAX_RATE_AT_TARGET,
    MIN_RATE_AT_TARGET,
    TARGET_UTILIZATION,
    AdaptiveCurveAccrual,
    AdaptiveCurveRate,
    adaptive_curve_accrue_interest,
    adaptive_curve_borrow_rate,
    borrow_rate_view,
    w_exp,
)
from levguard.core.defi.irm_apy import SECONDS_PER_YEAR, apr_to_apy, borrow_apy, rate_to_apr, supply_apy

# The engine passes trusted uint256 words: it calls the unchecked forms (the public ones check
# their arguments, too slow for the hot loops).
from levguard.core.defi.wadray import (
    PERCENTAGE_FACTOR,
    RAY,
    _percent_mul,
    _ray_div,
    _ray_mul,
    _wad_to_ray,
    checked_add,
    checked_mul,
    checked_sub,
)
from levguard.core.records import JsonRecord
from levguard.core.validate import contract_uint, show
from levguard.errors import InputError

__all__ = [
    "ADJUSTMENT_SPEED",
    "CURVE_STEEPNESS",
    "INITIAL_RATE_AT_TARGET",
    "IRM_VERSIONS",
    "MAX_BORROW_RATE",
    "MAX_OPTIMAL_POINT",
    "MAX_RATE_AT_TARGET",
    "MIN_OPTIMAL_POINT",
    "MIN_RATE_AT_TARGET",
    "RATE_ERRORS",
    "SECONDS_PER_YEAR",
    "TARGET_UTILIZATION",
    "AaveInterestRateData",
    "AaveInterestRates",
    "AaveRateError",
    "AaveRateStrategy",
    "AdaptiveCurveAccrual",
    "AdaptiveCurveRate",
    "adaptive_curve_accrue_interest",
    "adaptive_curve_borrow_rate",
    "apr_to_apy",
    "borrow_apy",
    "borrow_rate_view",
    "calculate_compounded_interest",
    "calculate_interest_rates",
    "calculate_interest_rates_v2",
    "calculate_linear_interest",
    "get_normalized_debt",
    "get_normalized_income",
    "rate_to_apr",
    "supply_apy",
    "validate_interest_rate_data",
    "w_exp",
]

IRM_VERSIONS: Final = ("3.0", "3.1", "3.2", "3.3", "3.4")
"""Aave versions mirrored here; ``"3.4"`` covers 3.4 and later (unchanged through v3.7)."""
MAX_BORROW_RATE: Final = 1000_00
"""V2 strategy: largest ``base + slope1 + slope2`` (bps), 1,000 %."""
MIN_OPTIMAL_POINT: Final = 1_00
"""V2 strategy: smallest optimal usage ratio (bps), 1 %."""
MAX_OPTIMAL_POINT: Final = 99_00
"""V2 strategy: largest optimal usage ratio (bps), 99 %."""
RATE_ERRORS: Final = {
    "INVALID_OPTIMAL_USAGE_RATIO": "83",
    "INVALID_OPTIMAL_STABLE_TO_TOTAL_DEBT_RATIO": "84",
    "INVALID_MAX_RATE": "92",
    "SLOPE_2_MUST_BE_GTE_SLOPE_1": "95",
}
"""``Errors.sol`` codes of the rate strategies' ``require`` checks (same codes 3.0 - 3.3)."""

_BPS_TO_RAY: Final = 10**23
_UINT256: Final = 2**256
_V2_STABLE_VERSIONS: Final = frozenset({"3.1"})
_SHORT_CIRCUIT_VERSIONS: Final = frozenset({"3.1", "3.2", "3.3"})  # `usingVirtualBalance` honoured
_BINOMIAL_VERSIONS: Final = frozenset({"3.0", "3.1", "3.2", "3.3"})


class AaveRateError(AaveError):
    """A ``require`` of an Aave rate strategy failed (``Errors.sol`` code in :data:`RATE_ERRORS`).

    Attributes
    ----------
    code : str
        E.g. ``"83"``.
    name : str
        E.g. ``"INVALID_OPTIMAL_USAGE_RATIO"``.
    """

    def __init__(self, name: str, detail: str = "") -> None:
        self.code = RATE_ERRORS[name]
        self.name = name
        self.detail = detail
        InputError.__init__(self, f"{name} ({self.code})" + (f": {detail}" if detail else ""))

    def __reduce__(self) -> tuple[type[AaveRateError], tuple[str, str]]:
        return type(self), (self.name, self.detail)


def _version(version: str) -> str:
    if version not in IRM_VERSIONS:
        raise InputError(f"version must be one of {list(IRM_VERSIONS)}, was {version!r:.40}")
    return version


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AaveRateStrategy(JsonRecord):
    """The immutables of an Aave v3.0 ``DefaultReserveInterestRateStrategy`` (all ray).

    Attributes
    ----------
    optimal_usage_ratio : int
        Usage ratio of the kink (``OPTIMAL_USAGE_RATIO``), at most ``RAY``.
    base_variable_borrow_rate, variable_rate_slope1, variable_rate_slope2 : int
        Variable rate at 0 % usage, its rise up to the kink, its rise from the kink to 100 %.
    stable_rate_slope1, stable_rate_slope2 : int, default 0
        The same slopes of the stable rate.
    base_stable_rate_offset : int, default 0
        Premium of the base stable rate over ``variable_rate_slope1``.
    stable_rate_excess_offset : int, default 0
        Premium added as the stable share of the debt passes the optimal stable ratio.
    optimal_stable_to_total_debt_ratio : int, default 0
        Stable share of the debt from which the excess offset applies, at most ``RAY``.

    Raises
    ------
    AaveRateError
        ``83`` when ``optimal_usage_ratio > RAY``, ``84`` when the optimal stable ratio is
        (the constructor's ``require``).
    """

    optimal_usage_ratio: int
    base_variable_borrow_rate: int
    variable_rate_slope1: int
    variable_rate_slope2: int
    stable_rate_slope1: int = 0
    stable_rate_slope2: int = 0
    base_stable_rate_offset: int = 0
    stable_rate_excess_offset: int = 0
    optimal_stable_to_total_debt_ratio: int = 0

    def __post_init__(self) -> None:
        for f in self.__dataclass_fields__:
            object.__setattr__(self, f, contract_uint(getattr(self, f), f"strategy.{f}"))
        if self.optimal_usage_ratio > RAY:
            raise AaveRateError("INVALID_OPTIMAL_USAGE_RATIO", f"optimal_usage_ratio {self.optimal_usage_ratio} > RAY")
        if self.optimal_stable_to_total_debt_ratio > RAY:
            raise AaveRateError(
                "INVALID_OPTIMAL_STABLE_TO_TOTAL_DEBT_RATIO",
                f"optimal_stable_to_total_debt_ratio {self.optimal_stable_to_total_debt_ratio} > RAY",
            )

    @property
    def max_excess_usage_ratio(self) -> int:
        """``MAX_EXCESS_USAGE_RATIO = RAY - OPTIMAL_USAGE_RATIO``."""
        return RAY - self.optimal_usage_ratio

    @property
    def max_excess_stable_to_total_debt_ratio(self) -> int:
        """``MAX_EXCESS_STABLE_TO_TOTAL_DEBT_RATIO = RAY - OPTIMAL_STABLE_TO_TOTAL_DEBT_RATIO``."""
        return RAY - self.optimal_stable_to_total_debt_ratio

    @property
    def base_stable_borrow_rate(self) -> int:
        """``getBaseStableBorrowRate() = variable_rate_slope1 + base_stable_rate_offset``."""
        return checked_add(self.variable_rate_slope1, self.base_stable_rate_offset)

    @property
    def max_variable_borrow_rate(self) -> int:
        """``getMaxVariableBorrowRate() = base + slope1 + slope2``."""
        return checked_add(
            checked_add(self.base_variable_borrow_rate, self.variable_rate_slope1), self.variable_rate_slope2
        )


@dataclass(frozen=True, slots=True)
class AaveInterestRateData(JsonRecord):
    """A reserve's ``InterestRateData`` of the Aave v3.1+ ``DefaultReserveInterestRateStrategyV2`` (bps).

    Attributes
    ----------
    optimal_usage_ratio : int
        Usage ratio of the kink (uint16 bps, ``80_00`` = 80 %).
    base_variable_borrow_rate, variable_rate_slope1, variable_rate_slope2 : int
        Variable rate at 0 % usage and the two slopes (uint32 bps a year).

    Notes
    -----
    Only the widths are checked here: a reserve the strategy never configured reads all zeros.
    :func:`validate_interest_rate_data` applies the setter's rules.  The contract turns each
    value into ray as ``bps * 1e23`` (``_rayifyRateData``).
    """

    optimal_usage_ratio: int
    base_variable_borrow_rate: int
    variable_rate_slope1: int
    variable_rate_slope2: int

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "optimal_usage_ratio", contract_uint(self.optimal_usage_ratio, "optimal_usage_ratio", 16)
        )
        for f in ("base_variable_borrow_rate", "variable_rate_slope1", "variable_rate_slope2"):
            object.__setattr__(self, f, contract_uint(getattr(self, f), f, 32))

    def ray(self) -> tuple[int, int, int, int]:
        """Return ``(optimal_usage_ratio, base, slope1, slope2)`` in ray (``getInterestRateData``)."""
        return (
            self.optimal_usage_ratio * _BPS_TO_RAY,
            self.base_variable_borrow_rate * _BPS_TO_RAY,
            self.variable_rate_slope1 * _BPS_TO_RAY,
            self.variable_rate_slope2 * _BPS_TO_RAY,
        )


@dataclass(frozen=True, slots=True)
class AaveInterestRates(JsonRecord):
    """What ``calculateInterestRates`` returns, with the usage ratios behind it (all ray).

    Attributes
    ----------
    current_liquidity_rate : int
        Supply rate a year (the reserve's ``currentLiquidityRate``).
    current_stable_borrow_rate : int
        Stable borrow rate a year (3.0); 0 from 3.1 on (3.1 returns 0, 3.2+ has none).
    current_variable_borrow_rate : int
        Variable borrow rate a year.
    borrow_usage_ratio : int
        ``total_debt / (available_liquidity + total_debt)``, 0 without debt.
    supply_usage_ratio : int
        ``total_debt / (available_liquidity + total_debt + unbacked)``, 0 without debt.
    """

    current_liquidity_rate: int
    current_stable_borrow_rate: int
    current_variable_borrow_rate: int
    borrow_usage_ratio: int
    supply_usage_ratio: int


def validate_interest_rate_data(rate_data: AaveInterestRateData) -> AaveInterestRateData:
    """Return ``rate_data`` if ``setInterestRateParams`` accepts it, else raise its error.

    Raises
    ------
    AaveRateError
        ``83`` optimal usage ratio outside ``[1_00, 99_00]``; ``95`` slope 1 above slope 2;
        ``92`` ``base + slope1 + slope2 > 1000_00``.

    Notes
    -----
    Source: DefaultReserveInterestRateStrategyV2.sol ``_setInterestRateParams`` (v3.1 - v3.4).
    """
    if not isinstance(rate_data, AaveInterestRateData):
        raise InputError(f"rate_data must be an AaveInterestRateData, was {type(rate_data).__name__}")
    d = rate_data
    if not MIN_OPTIMAL_POINT <= d.optimal_usage_ratio <= MAX_OPTIMAL_POINT:
        raise AaveRateError("INVALID_OPTIMAL_USAGE_RATIO", f"optimal_usage_ratio {d.optimal_usage_ratio} bps")
    if d.variable_rate_slope1 > d.variable_rate_slope2:
        raise AaveRateError("SLOPE_2_MUST_BE_GTE_SLOPE_1", f"{d.variable_rate_slope1} > {d.variable_rate_slope2}")
    total = d.base_variable_borrow_rate + d.variable_rate_slope1 + d.variable_rate_slope2
    if total > MAX_BORROW_RATE:
        raise AaveRateError("INVALID_MAX_RATE", f"base + slope1 + slope2 = {total} bps > {MAX_BORROW_RATE}")
    return d


# --- calculateInterestRates ----------------------------------------------------------------------


def _overall_borrow_rate(stable_debt: int, variable_debt: int, variable_rate: int, avg_stable_rate: int) -> int:
    # _getOverallBorrowRate: debt-weighted average of the variable and average stable rates.
    total = checked_add(stable_debt, variable_debt)
    if total == 0:
        return 0
    weighted_variable = _ray_mul(_wad_to_ray(variable_debt), variable_rate)
    weighted_stable = _ray_mul(_wad_to_ray(stable_debt), avg_stable_rate)
    return _ray_div(checked_add(weighted_variable, weighted_stable), _wad_to_ray(total))


def _two_slopes(base: int, slope1: int, slope2: int, usage: int, optimal: int, max_excess: int) -> int:
    # The rate curve around the kink (ray): ``base + slope1.rayMul(U).rayDiv(U*)`` up to it, else
    # ``base + slope1 + slope2.rayMul((U - U*).rayDiv(max_excess))`` (``max_excess = RAY - U*``);
    # the notes of calculate_interest_rates / calculate_interest_rates_v2 cite the sources.
    if usage > optimal:
        excess = _ray_div(usage - optimal, max_excess)
        return checked_add(base, checked_add(slope1, _ray_mul(slope2, excess)))
    return checked_add(base, _ray_div(_ray_mul(slope1, usage), optimal))


def _usage(total_debt: int, balance: int, added: int, taken: int, unbacked: int) -> tuple[int, int]:
    available = checked_sub(checked_add(balance, added), taken)
    available_plus_debt = checked_add(available, total_debt)
    borrow_usage = _ray_div(total_debt, available_plus_debt)
    supply_usage = _ray_div(total_debt, checked_add(available_plus_debt, unbacked))
    return borrow_usage, supply_usage


def calculate_interest_rates(
    strategy: AaveRateStrategy,
    *,
    total_variable_debt: int,
    underlying_balance: int,
    reserve_factor: int,
    total_stable_debt: int = 0,
    average_stable_borrow_rate: int = 0,
    liquidity_added: int = 0,
    liquidity_taken: int = 0,
    unbacked: int = 0,
) -> AaveInterestRates:
    """Return the rates of an Aave v3.0 reserve (``DefaultReserveInterestRateStrategy.calculateInterestRates``).

    Parameters
    ----------
    strategy : AaveRateStrategy
        The strategy's immutables (ray).
    total_variable_debt, total_stable_debt : int
        The reserve's debt (token units) after the action being priced.
    underlying_balance : int
        Underlying tokens held by the aToken before the action (``balanceOf(aToken)``).
    reserve_factor : int
        Share of interest kept by the protocol (bps).
    average_stable_borrow_rate : int, default 0
        Debt-weighted average rate of the stable loans (ray).
    liquidity_added, liquidity_taken : int, default 0
        Liquidity the action brings in or takes out (token units).
    unbacked : int, default 0
        aTokens minted without backing (portals).

    Returns
    -------
    AaveInterestRates

    Raises
    ------
    MathRevertError
        Where the contract reverts (``liquidity_taken`` above the balance, an overflow, a zero
        optimal usage ratio at zero usage, ``reserve_factor > 10_000``).

    Notes
    -----
    ``U = D.rayDiv(A + D)`` (borrow usage, ``A = balance + added - taken``, ``D`` the total debt),
    ``U_s = D.rayDiv(A + D + unbacked)`` (supply usage).  Above the kink ``U* ``:
    ``r_v = base + s1 + s2.rayMul((U - U*).rayDiv(1 - U*))``, else
    ``r_v = base + s1.rayMul(U).rayDiv(U*)``; the stable rate is the same curve from
    ``s1 + base_stable_offset`` with the stable slopes, plus
    ``excess_offset.rayMul((S - S*).rayDiv(1 - S*))`` when the stable share ``S = stable.rayDiv(D)``
    passes ``S*``.  The liquidity rate is
    ``overall.rayMul(U_s).percentMul(10_000 - reserve_factor)`` with the overall rate
    ``(wadToRay(variable).rayMul(r_v) + wadToRay(stable).rayMul(avg_stable)).rayDiv(wadToRay(D))``.
    Every ``rayMul``/``rayDiv``/``percentMul`` rounds half up, in this order.

    Source: aave/aave-v3-core ``contracts/protocol/pool/DefaultReserveInterestRateStrategy.sol``
    ``calculateInterestRates`` and ``_getOverallBorrowRate`` (v3.0.2, commit 782f5191).
    """
    if not isinstance(strategy, AaveRateStrategy):
        raise InputError(f"strategy must be an AaveRateStrategy, was {type(strategy).__name__}")
    s = strategy
    variable_debt = contract_uint(total_variable_debt, "total_variable_debt")
    stable_debt = contract_uint(total_stable_debt, "total_stable_debt")
    balance = contract_uint(underlying_balance, "underlying_balance")
    rf = contract_uint(reserve_factor, "reserve_factor")
    avg_stable = contract_uint(average_stable_borrow_rate, "average_stable_borrow_rate")
    added = contract_uint(liquidity_added, "liquidity_added")
    taken = contract_uint(liquidity_taken, "liquidity_taken")
    unbacked_ = contract_uint(unbacked, "unbacked")

    total_debt = checked_add(stable_debt, variable_debt)
    variable_rate = s.base_variable_borrow_rate
    stable_rate = s.base_stable_borrow_rate
    stable_ratio = borrow_usage = supply_usage = 0
    if total_debt != 0:
        stable_ratio = _ray_div(stable_debt, total_debt)
        borrow_usage, supply_usage = _usage(total_debt, balance, added, taken, unbacked_)

    kink, max_excess = s.optimal_usage_ratio, s.max_excess_usage_ratio
    stable_rate = _two_slopes(stable_rate, s.stable_rate_slope1, s.stable_rate_slope2, borrow_usage, kink, max_excess)
    variable_rate = _two_slopes(
        variable_rate, s.variable_rate_slope1, s.variable_rate_slope2, borrow_usage, kink, max_excess
    )

    if stable_ratio > s.optimal_stable_to_total_debt_ratio:
        excess_stable = _ray_div(
            stable_ratio - s.optimal_stable_to_total_debt_ratio, s.max_excess_stable_to_total_debt_ratio
        )
        stable_rate = checked_add(stable_rate, _ray_mul(s.stable_rate_excess_offset, excess_stable))

    overall = _overall_borrow_rate(stable_debt, variable_debt, variable_rate, avg_stable)
    liquidity_rate = _percent_mul(_ray_mul(overall, supply_usage), checked_sub(PERCENTAGE_FACTOR, rf))
    return AaveInterestRates(liquidity_rate, stable_rate, variable_rate, borrow_usage, supply_usage)


def calculate_interest_rates_v2(
    rate_data: AaveInterestRateData,
    *,
    total_debt: int,
    virtual_underlying_balance: int,
    reserve_factor: int,
    liquidity_added: int = 0,
    liquidity_taken: int = 0,
    unbacked: int = 0,
    using_virtual_balance: bool = True,
    total_stable_debt: int = 0,
    average_stable_borrow_rate: int = 0,
    version: str = "3.3",
) -> AaveInterestRates:
    """Return the rates of an Aave v3.1+ reserve (``DefaultReserveInterestRateStrategyV2.calculateInterestRates``).

    Parameters
    ----------
    rate_data : AaveInterestRateData
        The reserve's parameters (bps).
    total_debt : int
        The reserve's variable debt after the action (3.2+: ``params.totalDebt``; 3.1:
        ``params.totalVariableDebt``), token units.
    virtual_underlying_balance : int
        The reserve's virtual underlying balance before the action.
    reserve_factor : int
        Share of interest kept by the protocol (bps).
    liquidity_added, liquidity_taken, unbacked : int, default 0
        As in :func:`calculate_interest_rates`.
    using_virtual_balance : bool, default True
        False for assets without virtual accounting (GHO): 3.1 - 3.3 then return the base rate
        and no supply rate; 3.4+ ignores the flag (deprecated).
    total_stable_debt, average_stable_borrow_rate : int, default 0
        3.1 only (stable debt still counted in the usage and the overall rate); must be 0 later.
    version : {"3.1", "3.2", "3.3", "3.4"}, default "3.3"

    Returns
    -------
    AaveInterestRates
        With ``current_stable_borrow_rate`` 0.

    Raises
    ------
    MathRevertError
        Where the contract reverts (``liquidity_taken`` above the balance, an overflow).
    InputError
        Version 3.0 (use :func:`calculate_interest_rates`), or stable debt after 3.1.

    Notes
    -----
    With the parameters in ray (``bps * 1e23``): no debt gives ``(0, base)``; else the variable
    rate follows the two slopes as in 3.0 (excess over the kink divided by ``RAY - U*``) and the
    liquidity rate is ``r_v.rayMul(U_s).percentMul(10_000 - reserve_factor)`` (3.1: the overall
    rate of variable and stable debt instead of ``r_v``).

    Source: aave-dao/aave-v3-origin ``DefaultReserveInterestRateStrategyV2.sol``
    ``calculateInterestRates`` at tags v3.1.0, v3.2.0, v3.3.0 and v3.4.0 (module docstring).
    """
    v = _version(version)
    if v == "3.0":
        raise InputError("version 3.0 has no V2 strategy: use calculate_interest_rates(AaveRateStrategy, ...)")
    if not isinstance(rate_data, AaveInterestRateData):
        raise InputError(f"rate_data must be an AaveInterestRateData, was {type(rate_data).__name__}")
    if not isinstance(using_virtual_balance, bool):
        raise InputError(f"using_virtual_balance must be a bool, was {show(using_virtual_balance)}")
    variable_debt = contract_uint(total_debt, "total_debt")
    balance = contract_uint(virtual_underlying_balance, "virtual_underlying_balance")
    rf = contract_uint(reserve_factor, "reserve_factor")
    added = contract_uint(liquidity_added, "liquidity_added")
    taken = contract_uint(liquidity_taken, "liquidity_taken")
    unbacked_ = contract_uint(unbacked, "unbacked")
    stable_debt = contract_uint(total_stable_debt, "total_stable_debt")
    avg_stable = contract_uint(average_stable_borrow_rate, "average_stable_borrow_rate")
    if v not in _V2_STABLE_VERSIONS and (stable_debt or avg_stable):
        raise InputError(f"version {v} has no stable debt: total_stable_debt and average_stable_borrow_rate must be 0")

    optimal, base, slope1, slope2 = rate_data.ray()
    if v in _SHORT_CIRCUIT_VERSIONS and not using_virtual_balance:
        return AaveInterestRates(0, 0, base, 0, 0)
    debt = checked_add(stable_debt, variable_debt)
    if debt == 0:
        return AaveInterestRates(0, 0, base, 0, 0)
    borrow_usage, supply_usage = _usage(debt, balance, added, taken, unbacked_)
    variable_rate = _two_slopes(base, slope1, slope2, borrow_usage, optimal, RAY - optimal)
    if v in _V2_STABLE_VERSIONS:
        earning = _overall_borrow_rate(stable_debt, variable_debt, variable_rate, avg_stable)
    else:
        earning = variable_rate
    liquidity_rate = _percent_mul(_ray_mul(earning, supply_usage), checked_sub(PERCENTAGE_FACTOR, rf))
    return AaveInterestRates(liquidity_rate, 0, variable_rate, borrow_usage, supply_usage)


# --- MathUtils and the normalized indexes ---------------------------------------------------------


def _elapsed(last_update_timestamp: int, current_timestamp: int) -> int:
    last = contract_uint(last_update_timestamp, "last_update_timestamp", 40)
    now = contract_uint(current_timestamp, "current_timestamp")
    return checked_sub(now, last)


def calculate_linear_interest(rate: int, last_update_timestamp: int, current_timestamp: int) -> int:
    """Return the liquidity-index growth factor over a period (``MathUtils.calculateLinearInterest``).

    Parameters
    ----------
    rate : int
        Rate a year (ray), the reserve's ``currentLiquidityRate``.
    last_update_timestamp : int
        The reserve's ``lastUpdateTimestamp`` (uint40, seconds since the epoch).
    current_timestamp : int
        ``block.timestamp`` (seconds).

    Returns
    -------
    int
        ``RAY + rate * (now - last) // SECONDS_PER_YEAR`` (ray).

    Raises
    ------
    MathRevertError
        ``current_timestamp < last_update_timestamp`` or an overflow (Panic 0x11).

    Notes
    -----
    Simple interest between two updates of the reserve (every supply, borrow, repay... updates it,
    so suppliers compound at that frequency).  Same in every version 3.0 - 3.7.

    Source: ``MathUtils.sol`` ``calculateLinearInterest`` (aave-v3-core 782f5191; aave-v3-origin).
    """
    r = contract_uint(rate, "rate")
    return checked_add(RAY, checked_mul(r, _elapsed(last_update_timestamp, current_timestamp)) // SECONDS_PER_YEAR)


def calculate_compounded_interest(
    rate: int, last_update_timestamp: int, current_timestamp: int, version: str = "3.3"
) -> int:
    """Return the variable-borrow-index growth factor over a period (``MathUtils.calculateCompoundedInterest``).

    Parameters
    ----------
    rate : int
        Rate a year (ray), the reserve's ``currentVariableBorrowRate``.
    last_update_timestamp, current_timestamp : int
        As in :func:`calculate_linear_interest`.
    version : {"3.0", "3.1", "3.2", "3.3", "3.4"}, default "3.3"

    Returns
    -------
    int
        ``(1 + rate/year)^n`` to three binomial terms (ray); ``RAY`` when ``n = 0``.

    Raises
    ------
    MathRevertError
        ``current_timestamp < last_update_timestamp``, or (3.0 - 3.3) a checked overflow, or a
        ``rayMul`` overflow.

    Notes
    -----
    With ``n`` the seconds elapsed and ``Y = SECONDS_PER_YEAR``:

    * 3.0 - 3.3: ``b2 = rayMul(rate, rate) // Y**2``, ``b3 = rayMul(b2, rate) // Y``;
      ``RAY + rate * n // Y + n (n-1) b2 // 2 + n (n-1) (n-2) b3 // 6`` (products checked,
      ``n - 2`` floored at 0);
    * 3.4+: ``x = rate * n // Y``; ``RAY + x + rayMul(x, x // 2 + rayMul(x, x // 6))``
      (``unchecked``: sums and ``rate * n`` wrap modulo 2**256, ``rayMul`` still reverts), which
      is ``1 + x + x^2/2 + x^3/6``, closer to ``e^x`` over long periods.

    Both under-estimate ``e^(rate n / Y)``: the borrow index grows a little slower than continuous
    compounding.

    Source: ``MathUtils.sol`` ``calculateCompoundedInterest`` (aave-v3-core 782f5191 for 3.0;
    aave-dao/aave-v3-origin v3.3.0 5431379f and v3.4.0 d7a64127).
    """
    v = _version(version)
    r = contract_uint(rate, "rate")
    n = _elapsed(last_update_timestamp, current_timestamp)
    if n == 0:
        return RAY
    year = SECONDS_PER_YEAR
    if v in _BINOMIAL_VERSIONS:
        base_power_two = _ray_mul(r, r) // (year * year)
        base_power_three = _ray_mul(base_power_two, r) // year
        second = checked_mul(checked_mul(n, n - 1), base_power_two) // 2
        third = checked_mul(checked_mul(checked_mul(n, n - 1), max(n - 2, 0)), base_power_three) // 6
        return checked_add(checked_add(checked_add(RAY, checked_mul(r, n) // year), second), third)
    x = (r * n) % _UINT256 // year
    inner = (x // 2 + _ray_mul(x, x // 6)) % _UINT256
    return (RAY + x + _ray_mul(x, inner)) % _UINT256


def get_normalized_income(
    liquidity_index: int, current_liquidity_rate: int, last_update_timestamp: int, current_timestamp: int
) -> int:
    """Return the reserve's normalized income at ``current_timestamp`` (``ReserveLogic.getNormalizedIncome``).

    An aToken balance is ``scaled_balance.rayMul(normalized income)``.

    Notes
    -----
    ``liquidity_index`` when the reserve was updated in this block, else
    ``calculateLinearInterest(rate, last).rayMul(liquidity_index)``.

    Source: ``ReserveLogic.sol`` ``getNormalizedIncome`` (aave-v3-core 782f5191; aave-v3-origin, unchanged).
    """
    index = contract_uint(liquidity_index, "liquidity_index")
    if _elapsed(last_update_timestamp, current_timestamp) == 0:
        contract_uint(current_liquidity_rate, "current_liquidity_rate")
        return index
    return _ray_mul(calculate_linear_interest(current_liquidity_rate, last_update_timestamp, current_timestamp), index)


def get_normalized_debt(
    variable_borrow_index: int,
    current_variable_borrow_rate: int,
    last_update_timestamp: int,
    current_timestamp: int,
    version: str = "3.3",
) -> int:
    """Return the reserve's normalized variable debt at ``current_timestamp`` (``ReserveLogic.getNormalizedDebt``).

    A variable debt balance is ``scaled_balance.rayMul(normalized debt)``.

    Notes
    -----
    ``variable_borrow_index`` when the reserve was updated in this block, else
    ``calculateCompoundedInterest(rate, last, now).rayMul(variable_borrow_index)``.

    Source: ``ReserveLogic.sol`` ``getNormalizedDebt`` (aave-v3-core 782f5191; aave-v3-origin, unchanged).
    """
    index = contract_uint(variable_borrow_index, "variable_borrow_index")
    if _elapsed(last_update_timestamp, current_timestamp) == 0:
        contract_uint(current_variable_borrow_rate, "current_variable_borrow_rate")
        _version(version)
        return index
    growth = calculate_compounded_interest(
        current_variable_borrow_rate, last_update_timestamp, current_timestamp, version
    )
    return _ray_mul(growth, index)
