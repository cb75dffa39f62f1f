"""Compound III (Comet) constants, errors and integer arithmetic, checked as the contract checks it.

Everything is a Python ``int`` in the contract's own units:

* base amounts in the base token's smallest unit (``baseScale = 10**decimals``), collateral
  amounts in the collateral's smallest unit (``AssetInfo.scale``);
* prices are the feeds' ``latestRoundData`` answers with 8 decimals (``PRICE_SCALE``), in USD on
  USD markets (in ETH on ETH-based markets: whatever the market's feeds quote);
* factors (collateral factors, liquidation factor, store-front price factor, kinks, utilization,
  per-second rates) are scaled by ``FACTOR_SCALE = 1e18``;
* the base indexes are scaled by ``BASE_INDEX_SCALE = 1e15``; principals are signed (``int104``:
  positive supplied, negative borrowed), present values are ``principal * index / 1e15``.

Solidity 0.8 checks its arithmetic: an overflow or underflow raises ``Panic(0x11)``, a division by
zero ``Panic(0x12)``; signed division truncates toward zero.  The helpers here do the same and
raise :class:`CometError` with the contract's revert name.

Source: compound-finance/comet at commit d5a30b0aaeff7755f1431e87f818990902237b03; the logic
mirrored here is unchanged since November 2022 (commit 376fdeba, the mainnet USDC upgrade):
``contracts/CometCore.sol`` (constants, ``presentValue*``, ``principalValue*``),
``contracts/CometMath.sol`` (``safe64``/``safe104``/``safe128``/``signed104``/``signed256``/
``unsigned104``/``unsigned256`` and their custom errors), ``contracts/Comet.sol`` (``mulFactor``,
``mulPrice``, ``signedMulPrice``, ``divPrice``, ``getPrice``) and
``contracts/CometMainInterface.sol`` (the custom errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from levguard.core.validate import contract_sint, contract_uint, show
from levguard.errors import InputError

__all__ = [
    "BASE_ACCRUAL_SCALE",
    "BASE_INDEX_SCALE",
    "COMET_ERRORS",
    "FACTOR_DESCALE",
    "FACTOR_SCALE",
    "MAX_ASSETS",
    "MAX_BASE_DECIMALS",
    "PANIC_ARITHMETIC",
    "PANIC_DIVISION_BY_ZERO",
    "PAUSE_ABSORB_OFFSET",
    "PAUSE_BUY_OFFSET",
    "PRICE_SCALE",
    "SECONDS_PER_YEAR",
    "CometError",
    "check_int256",
    "check_uint",
    "div",
    "div_price",
    "get_price",
    "mul_factor",
    "mul_price",
    "name_arg",
    "panic",
    "present_value_borrow",
    "present_value_supply",
    "principal_value_borrow",
    "principal_value_supply",
    "safe64",
    "safe104",
    "safe128",
    "signed104",
    "signed256",
    "signed_mul_price",
    "sint",
    "uint",
    "uint_map",
    "unsigned256",
]

FACTOR_SCALE: Final = 10**18
"""Scale of factors: collateral and liquidation factors, kinks, utilization, rates (CometCore)."""
BASE_INDEX_SCALE: Final = 10**15
"""Scale of ``baseSupplyIndex`` and ``baseBorrowIndex``; both start at it (CometCore)."""
PRICE_SCALE: Final = 10**8
"""Scale of prices: every feed has 8 decimals (CometCore ``PRICE_FEED_DECIMALS``)."""
BASE_ACCRUAL_SCALE: Final = 10**6
"""Scale of base tracking accrual (CometCore); ``accrualDescaleFactor = baseScale / 1e6``."""
SECONDS_PER_YEAR: Final = 31_536_000
"""365 days: the per-year rates of the configuration are divided by it (CometCore)."""
MAX_BASE_DECIMALS: Final = 18
"""Largest base-token decimals (CometCore); ``baseScale >= 1e6`` sets the least, 6."""
MAX_ASSETS: Final = 24
"""Collateral assets of ``CometWithExtendedAssetList`` (``MAX_ASSETS_FOR_ASSET_LIST``); ``Comet``
packs 12 in immutables.  Both run the same formulas."""
PAUSE_ABSORB_OFFSET: Final = 3
"""Bit of ``pauseFlags`` that pauses ``absorb`` (CometCore)."""
PAUSE_BUY_OFFSET: Final = 4
"""Bit of ``pauseFlags`` that pauses ``buyCollateral`` (CometCore)."""
PANIC_ARITHMETIC: Final = "0x11"
"""Solidity ``Panic(0x11)``: checked arithmetic overflowed or underflowed."""
PANIC_DIVISION_BY_ZERO: Final = "0x12"
"""Solidity ``Panic(0x12)``: division by zero."""

COMET_ERRORS: Final = frozenset(
    {
        # CometMainInterface.sol
        "BadAsset",
        "BadDecimals",
        "BadDiscount",
        "BadMinimum",
        "BadPrice",
        "BorrowCFTooLarge",
        "InsufficientReserves",
        "LiquidateCFTooLarge",
        "NotForSale",
        "NotLiquidatable",
        "Paused",
        "TimestampTooLarge",
        "TooManyAssets",
        "TooMuchSlippage",
        # CometMath.sol
        "InvalidInt104",
        "InvalidInt256",
        "InvalidUInt104",
        "InvalidUInt128",
        "InvalidUInt64",
        "NegativeNumber",
        # a Solidity panic (checked arithmetic), with ``code``
        "Panic",
    }
)
"""The revert names :class:`CometError` carries: Comet's custom errors and ``"Panic"``."""

FACTOR_DESCALE: Final = FACTOR_SCALE // 10**4
"""``getPackedAssetInternal`` keeps 4 decimals of each factor: it divides by 1e14."""
_INT104_MAX: Final = 2**103 - 1
_INT256_MIN: Final = -(2**255)
_INT256_MAX: Final = 2**255 - 1


class CometError(InputError):
    """The Comet contract would revert on this input.

    Attributes
    ----------
    name : str
        The custom error's name (``"NotLiquidatable"``, ``"NotForSale"``, ``"TooMuchSlippage"``,
        ``"InsufficientReserves"``, ``"BadPrice"``, ``"InvalidUInt64"``, ...; see
        :data:`COMET_ERRORS`), or ``"Panic"`` for Solidity's checked arithmetic.
    code : str
        ``""`` for a custom error; :data:`PANIC_ARITHMETIC` (``"0x11"``) or
        :data:`PANIC_DIVISION_BY_ZERO` (``"0x12"``) for a panic.
    detail : str
        Where it happened and on which values.
    """

    def __init__(self, name: str, detail: str = "", code: str = "") -> None:
        if name not in COMET_ERRORS:
            raise ValueError(f"unknown Comet error {name!r}")
        self.name = name
        self.code = code
        self.detail = detail
        what = f"Panic({code})" if code else f"{name}()"
        super().__init__(f"Comet reverts: {what}" + (f" ({detail})" if detail else ""))

    def __reduce__(self) -> tuple[type[CometError], tuple[str, str, str]]:
        return type(self), (self.name, self.detail, self.code)


# --- validation ---------------------------------------------------------------------------------


def uint(value: object, field_name: str, bits: int = 256) -> int:
    """Return ``value`` as a ``uint<bits>`` or raise :class:`InputError` naming ``field_name``."""
    return contract_uint(value, field_name, bits)


def sint(value: object, field_name: str, bits: int = 256) -> int:
    """Return ``value`` as an ``int<bits>`` or raise :class:`InputError` naming ``field_name``."""
    return contract_sint(value, field_name, bits)


def name_arg(value: object, field_name: str) -> str:
    """Return ``value`` as a non-empty str (an asset or account key) or raise :class:`InputError`."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{field_name} must be a non-empty str, was {show(value)}")
    return value


def uint_map(value: object, field_name: str, bits: int) -> Mapping[str, int]:
    """Return a read-only copy of a str-to-``uint<bits>`` mapping or raise :class:`InputError`."""
    if not isinstance(value, Mapping):
        raise InputError(f"{field_name} must be a mapping of str to int, was {type(value).__name__}")
    out = {name_arg(k, f"{field_name} key"): uint(v, f"{field_name}[{k!r}]", bits) for k, v in value.items()}
    return MappingProxyType(out)


# --- checked arithmetic (Solidity 0.8 and contracts/CometMath.sol) --------------------------------


def panic(what: str, code: str = PANIC_ARITHMETIC) -> CometError:
    """Return the :class:`CometError` of a Solidity panic at ``what``."""
    return CometError("Panic", what, code)


def check_uint(x: int, what: str, bits: int = 256) -> int:
    """Return ``x`` if it fits ``uint<bits>``, else raise the checked-arithmetic panic."""
    if x < 0 or x >> bits:
        raise panic(f"{what} = {show(x)} out of uint{bits}")
    return x


def check_int256(x: int, what: str) -> int:
    """Return ``x`` if it fits ``int256``, else raise the checked-arithmetic panic."""
    if not _INT256_MIN <= x <= _INT256_MAX:
        raise panic(f"{what} = {show(x)} out of int256")
    return x


def div(x: int, y: int, what: str) -> int:
    """Return Solidity's ``x / y``: truncated toward zero, ``Panic(0x12)`` when ``y == 0``."""
    if y == 0:
        raise panic(f"{what}: division by 0", PANIC_DIVISION_BY_ZERO)
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y > 0) else -q


def safe64(n: int, what: str) -> int:
    """CometMath ``safe64``: ``InvalidUInt64`` above ``2**64 - 1``."""
    if n >> 64:
        raise CometError("InvalidUInt64", f"{what} = {show(n)}")
    return n


def safe104(n: int, what: str) -> int:
    """CometMath ``safe104``: ``InvalidUInt104`` above ``2**104 - 1``."""
    if n >> 104:
        raise CometError("InvalidUInt104", f"{what} = {show(n)}")
    return n


def safe128(n: int, what: str) -> int:
    """CometMath ``safe128``: ``InvalidUInt128`` above ``2**128 - 1``."""
    if n >> 128:
        raise CometError("InvalidUInt128", f"{what} = {show(n)}")
    return n


def signed104(n: int, what: str) -> int:
    """CometMath ``signed104``: ``InvalidInt104`` above ``2**103 - 1``."""
    if n > _INT104_MAX:
        raise CometError("InvalidInt104", f"{what} = {show(n)}")
    return n


def signed256(n: int, what: str) -> int:
    """CometMath ``signed256``: ``InvalidInt256`` above ``2**255 - 1``."""
    if n > _INT256_MAX:
        raise CometError("InvalidInt256", f"{what} = {show(n)}")
    return n


def unsigned256(n: int, what: str) -> int:
    """CometMath ``unsigned256`` (and ``unsigned104``): ``NegativeNumber`` below 0."""
    if n < 0:
        raise CometError("NegativeNumber", f"{what} = {show(n)}")
    return n


# --- CometCore value conversions ------------------------------------------------------------------


def present_value_supply(base_supply_index: int, principal: int) -> int:
    """Return the present value of a supply principal (CometCore ``presentValueSupply``).

    Parameters
    ----------
    base_supply_index : int
        ``baseSupplyIndex`` (uint64, scaled 1e15).
    principal : int
        Supply principal (uint104), base units.

    Notes
    -----
    ``principal * base_supply_index // 1e15``: rounded down (against the supplier).
    Source: ``contracts/CometCore.sol`` ``presentValueSupply``.
    """
    return uint(principal, "principal", 104) * uint(base_supply_index, "base_supply_index", 64) // BASE_INDEX_SCALE


def present_value_borrow(base_borrow_index: int, principal: int) -> int:
    """Return the present value of a borrow principal (CometCore ``presentValueBorrow``).

    Notes
    -----
    ``principal * base_borrow_index // 1e15``: rounded down, like the supply side (the borrow
    principal itself is rounded up when it is set, see :func:`principal_value_borrow`).
    Source: ``contracts/CometCore.sol`` ``presentValueBorrow``.
    """
    return uint(principal, "principal", 104) * uint(base_borrow_index, "base_borrow_index", 64) // BASE_INDEX_SCALE


def principal_value_supply(base_supply_index: int, present_value: int) -> int:
    """Return the supply principal of a present value (CometCore ``principalValueSupply``).

    Raises
    ------
    CometError
        ``InvalidUInt104`` when the principal exceeds uint104, a panic when the product overflows
        uint256 or the index is 0.

    Notes
    -----
    ``present_value * 1e15 // base_supply_index``: rounded down (the supplier is credited less),
    then ``safe104``.  Source: ``contracts/CometCore.sol`` ``principalValueSupply``.
    """
    pv = uint(present_value, "present_value")
    index = uint(base_supply_index, "base_supply_index", 64)
    return safe104(
        div(check_uint(pv * BASE_INDEX_SCALE, "principalValueSupply"), index, "principalValueSupply"), "principal"
    )


def principal_value_borrow(base_borrow_index: int, present_value: int) -> int:
    """Return the borrow principal of a present value (CometCore ``principalValueBorrow``).

    Notes
    -----
    ``(present_value * 1e15 + base_borrow_index - 1) // base_borrow_index``: rounded up (the
    borrower owes more), then ``safe104``.  Source: ``contracts/CometCore.sol``
    ``principalValueBorrow``.
    """
    pv = uint(present_value, "present_value")
    index = uint(base_borrow_index, "base_borrow_index", 64)
    num = check_uint(check_uint(pv * BASE_INDEX_SCALE + index, "principalValueBorrow") - 1, "principalValueBorrow")
    return safe104(div(num, index, "principalValueBorrow"), "principal")


# --- Comet.sol price and factor helpers (contracts/Comet.sol, same names in camelCase) --------------


def mul_factor(n: int, factor: int, what: str) -> int:
    """Comet ``mulFactor``: ``n * factor / 1e18``, rounded down, checked."""
    return check_uint(n * factor, what) // FACTOR_SCALE


def mul_price(n: int, price: int, from_scale: int, what: str) -> int:
    """Comet ``mulPrice``: ``n * price / fromScale`` (an amount to its value), rounded down, checked."""
    return div(check_uint(n * price, what), from_scale, what)


def signed_mul_price(n: int, price: int, from_scale: int, what: str) -> int:
    """Comet ``signedMulPrice``: ``n * signed256(price) / int256(fromScale)``, truncated toward zero."""
    return div(check_int256(n * signed256(price, what), what), from_scale, what)


def div_price(n: int, price: int, to_scale: int, what: str) -> int:
    """Comet ``divPrice``: ``n * toScale / price`` (a value to an amount), rounded down, checked."""
    return div(check_uint(n * to_scale, what), price, what)


def get_price(price: int, what: str) -> int:
    """Comet ``getPrice``: the feed's answer; ``BadPrice`` unless it is positive."""
    if price <= 0:
        raise CometError("BadPrice", f"{what} feed answered {price}")
    return price
