"""DeFi position specs in human units, converted exactly to the protocols' contract units.

A spec is a JSON/YAML document (or a dict) describing one lending position the way a user reads
it: token amounts in whole tokens, prices in USD, rates as fractions.  :func:`load_position`
turns it into an :class:`AavePosition` or a :class:`MorphoPosition` holding the contract's own
integers, which the exact engines (:mod:`levguard.defi.aave`, :mod:`levguard.defi.morpho`) and
the analytics (:mod:`levguard.defi.analytics`, :mod:`levguard.defi.loops`) take.

Aave v3 (``protocol: aave-v3``)::

    protocol: aave-v3
    version: "3.3"                  # 3.0, 3.1, 3.2, 3.3, 3.5 or 3.6 (default 3.3; a v3.4 pool: 3.3)
    emode_category: null            # or {ltv: 0.93, lt: 0.95, bonus: 0.01, label: ETH correlated}
    reserves:
      - {symbol: WETH, price_usd: 3000, decimals: 18, ltv: 0.80, lt: 0.825, bonus: 0.05,
         protocol_fee: 0.10, collateral: 10.0, debt: 0}
      - {symbol: USDC, price_usd: 1, decimals: 6, ltv: 0.75, lt: 0.78, bonus: 0.045,
         collateral: 0, debt: 15000}

    # optional per reserve: in_emode, use_as_collateral, debt_ceiling_usd,
    # isolation_mode_total_debt_usd, borrowable_in_isolation, siloed_borrowing, emode_borrowable,
    # emode_ltvzero (3.6, a reserve in_emode only: on the category's ltvzero bitmap)

Morpho Blue (``protocol: morpho-blue``)::

    protocol: morpho-blue
    collateral_symbol: WETH         # labels
    loan_symbol: USDC
    collateral_decimals: 18
    loan_decimals: 6
    lltv: 0.86
    collateral: 10.0                # collateral tokens
    borrow: 20000                   # loan tokens owed (or borrow_shares: contract units)
    collateral_price: 3000          # any unit, same as loan_price (USD by default) ...
    loan_price: 1                   # ... or oracle_price: the oracle's 1e36-scaled integer
    market: null                    # or the market's totals in contract units (uint128)

Conversion rules (exact, never rounded silently):

* token amounts: ``amount * 10**decimals`` must be an integer (``0.1`` USDC is ``100000``; a
  seventh decimal of USDC is refused);
* Aave prices: ``price_usd * 10**8`` (the oracle's base currency unit) must be an integer;
* LTV, threshold, bonus, protocol fee: whole basis points (``0.825`` is ``8250``; the bonus is
  the premium paid, ``0.05`` is ``10500`` in the contract); Morpho's LLTV: ``lltv * 10**18``
  must be an integer;
* Morpho's oracle price from two prices: ``floor(1e36 * collateral_price / loan_price *
  10**(loan_decimals - collateral_decimals))``, the floor of MorphoChainlinkOracleV2.price();
* numbers may be given as strings (``"1234.567890123456789"``) to keep digits a float cannot.

Either spec may also hold a ``loop:`` section (:func:`levguard.defi.loops.loop_options`), an
``irm:`` section with the interest-rate model's state (:mod:`levguard.defi.loop_rates`) and an
``oracles:`` section with oracle readings and market prices (:mod:`levguard.defi.valuation`);
:func:`load_position` accepts them and leaves them to those modules.

Without ``market`` a Morpho position is alone in a fresh market: its borrow mints
``borrow * 10**6`` shares (``toSharesUp`` on empty totals) and the totals are the position's
own; with ``market``, ``borrow`` converts to shares as ``Morpho.borrow`` would
(``toSharesUp``) and must fit within the totals.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np

from levguard.core.defi.aave import AaveReserve, EModeCategory, collateral_threshold, get_user_account_data
from levguard.core.defi.aave_records import since
from levguard.core.defi.morpho import (
    ORACLE_PRICE_SCALE,
    UINT128_MAX,
    VIRTUAL_SHARES,
    Market,
    Position,
    to_shares_up,
)
from levguard.core.defi.wadray import UINT256_MAX, MathRevertError
from levguard.core.records import JsonRecord
from levguard.core.validate import NUMBER_MAX, contract_int, contract_uint, show
from levguard.documents import check_structure, load_spec
from levguard.errors import InputError

__all__ = [
    "AAVE_PRICE_DECIMALS",
    "PROTOCOLS",
    "AavePosition",
    "DefiPosition",
    "MorphoPosition",
    "bps",
    "load_position",
    "oracle_price_from",
    "parse_number",
    "to_units",
]

AAVE_PRICE_DECIMALS: Final = 8
"""Decimals of the Aave v3 oracle's base currency (USD): ``BASE_CURRENCY_UNIT = 1e8``."""
PROTOCOLS: Final = ("aave-v3", "morpho-blue")
"""The ``protocol`` values a spec may name."""
_MAX_SCALE: Final = 120  # a power of ten beyond any token's decimals plus 1e36


@dataclass(frozen=True, slots=True)
class AavePosition(JsonRecord):
    """An Aave v3 account in contract units.

    Attributes
    ----------
    reserves : tuple of AaveReserve
        One row per reserve (prices in USD with 8 decimals, balances in smallest units, bps).
    emode_category : EModeCategory or None
        The user's e-mode category.
    version : str
        ``"3.0"`` to ``"3.3"``, ``"3.5"`` or ``"3.6"`` (a v3.4 pool computes as ``"3.3"``).
    name, emode_label : str
        Labels for reports.
    """

    reserves: tuple[AaveReserve, ...]
    emode_category: EModeCategory | None = None
    version: str = "3.3"
    name: str = ""
    emode_label: str = ""

    @property
    def protocol(self) -> str:
        """``"aave-v3"``."""
        return "aave-v3"

    def reserve(self, symbol: str) -> AaveReserve:
        """Return the row of ``symbol``; raise InputError naming the known symbols."""
        for r in self.reserves:
            if r.symbol == symbol:
                return r
        raise InputError(f"symbol {show(symbol)} is not among the reserves {[r.symbol for r in self.reserves]}")

    def threshold(self, r: AaveReserve) -> int:
        """The liquidation threshold (bps) at which ``r``'s balance counts once enabled as collateral,
        under this account's e-mode and version (:func:`levguard.core.defi.aave.collateral_threshold`:
        from 3.6 an ``lt``-0 reserve in the user's category counts at the category's)."""
        return collateral_threshold(r, self.emode_category, self.version)

    def counted(self, r: AaveReserve) -> bool:
        """True where ``r``'s collateral moves the health factor: enabled, a balance, a threshold."""
        return r.collateral_enabled and r.collateral > 0 and self.threshold(r) > 0


@dataclass(frozen=True, slots=True)
class MorphoPosition(JsonRecord):
    """A Morpho Blue borrow position and its market in contract units.

    Attributes
    ----------
    market : Market
        The market's totals (including this position).
    position : Position
        Borrow shares and collateral units.
    lltv : int
        WAD.
    oracle_price : int
        Price of one smallest collateral unit in smallest loan units, scaled by ``1e36``.
    collateral_decimals, loan_decimals : int
    collateral_symbol, loan_symbol, name : str
        Labels.
    loan_price_usd : float or None
        USD per loan token, for display only (None when the spec gave an oracle price alone).
    market_given : bool
        The totals came from the spec (the market's liquidity then bounds borrowing).
    """

    market: Market
    position: Position
    lltv: int
    oracle_price: int
    collateral_decimals: int
    loan_decimals: int
    collateral_symbol: str = "collateral"
    loan_symbol: str = "loan"
    name: str = ""
    loan_price_usd: float | None = None
    market_given: bool = False

    @property
    def protocol(self) -> str:
        """``"morpho-blue"``."""
        return "morpho-blue"

    @property
    def price_scale(self) -> int:
        """Oracle units per (loan token per collateral token): ``10**(36 + loan_dec - coll_dec)``."""
        return ORACLE_PRICE_SCALE * int(10**self.loan_decimals) // int(10**self.collateral_decimals)


DefiPosition = AavePosition | MorphoPosition
"""Either position kind."""


# --- numbers ------------------------------------------------------------------------------------


def parse_number(value: object, field: str) -> Decimal:
    """Return ``value`` (int, float, Decimal or numeric string) as a finite Decimal, exactly.

    A float converts through its shortest ``repr`` (the digits written in a YAML or JSON file).

    Raises
    ------
    InputError
        Not a number (bool, None, other types, unparsable strings), or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InputError(f"{field} must be a number, was {show(value)}")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise InputError(f"{field} must be a number, was {show(value)}") from None
    if not d.is_finite():
        raise InputError(f"{field} must be finite, was {show(value)}")
    return d


def _scaled(d: Decimal, decimals: int, field: str) -> int | None:
    # d * 10**decimals as an exact integer, or None when it has more decimals than that.
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)  # finite
    n = int("".join(map(str, digits)) or "0")
    shift = exponent + decimals
    if n and shift > _MAX_SCALE:
        raise InputError(f"{field} is too large, was {d}")
    if shift >= 0:
        n *= int(10 ** min(shift, _MAX_SCALE))
    else:
        q, r = divmod(n, int(10**-shift))
        if r:
            return None
        n = q
    return -n if sign else n


def to_units(value: object, decimals: int, field: str, unit: str = "token") -> int:
    """Return ``value`` (whole units) times ``10**decimals`` as a non-negative integer, exactly.

    Raises
    ------
    InputError
        Negative, more decimal places than ``decimals``, or beyond uint256; ``decimals`` not an
        integer from 0 to 36.
    """
    decimals = contract_int(decimals, "decimals", 0, 36, "0 to 36")  # None or NaN was a TypeError
    d = parse_number(value, field)
    n = _scaled(d, decimals, field)
    if n is None:
        raise InputError(f"{field} must have at most {decimals} decimals (the {unit}'s smallest unit), was {d}")
    if n < 0 or d < 0:
        raise InputError(f"{field} must be >= 0, was {d}")
    if n.bit_length() > 256:
        raise InputError(f"{field} is too large for uint256, was {show(value)}")
    return n


def bps(value: object, field: str, upper: Decimal = Decimal(1)) -> int:
    """Return a fraction in ``[0, upper]`` as whole basis points (``0.825`` -> ``8250``).

    Raises
    ------
    InputError
        Out of range, or finer than 0.01 %.
    """
    d = parse_number(value, field)
    if not 0 <= d <= upper:
        raise InputError(f"{field} must be a fraction in [0, {upper}], was {d}")
    n = _scaled(d, 4, field)
    if n is None:
        raise InputError(f"{field} must be whole basis points (a multiple of 0.0001), was {d}")
    return n


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field} must be a non-empty string, was {show(value)}")
    return value.strip()


def _flag(value: object, field: str, optional: bool = False) -> bool | None:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise InputError(f"{field} must be true or false{' or null' if optional else ''}, was {show(value)}")
    return value


def _keys(spec: Mapping[str, Any], where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    # The spec's fields: every ``required`` one present, none outside ``required`` and ``optional``.
    keys = {str(k) for k in spec}
    missing = [k for k in required if k not in keys]
    if missing:
        raise InputError(f"{where} is missing {missing}")
    unknown = sorted(keys - set(required) - set(optional))
    if unknown:
        raise InputError(f"{where} has unknown fields {unknown}; known: {sorted({*required, *optional})}")


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{field} must be a mapping, was {show(value)}")
    return value


# --- Aave v3 --------------------------------------------------------------------------------------

_RESERVE_REQUIRED: Final = ("symbol", "price_usd", "decimals", "ltv", "lt")
_RESERVE_OPTIONAL: Final = (
    "bonus",
    "protocol_fee",
    "collateral",
    "debt",
    "in_emode",
    "use_as_collateral",
    "debt_ceiling_usd",
    "isolation_mode_total_debt_usd",
    "borrowable_in_isolation",
    "siloed_borrowing",
    "emode_borrowable",
    "emode_ltvzero",
)
_TOP_COMMON: Final = ("protocol", "name", "loop", "irm", "oracles")  # the last three: read by loops, valuation


def _bonus(value: object, field: str) -> int:
    # The premium as a fraction (0.05) -> the contract's bps including the principal (10500).
    premium = bps(value, field)
    return 0 if premium == 0 else 10_000 + premium


def _reserve(row: Mapping[str, Any], where: str) -> AaveReserve:
    _keys(row, where, _RESERVE_REQUIRED, _RESERVE_OPTIONAL)
    decimals = contract_int(row["decimals"], f"{where}.decimals", 0, 36, "0 to 36")
    return AaveReserve(
        symbol=_text(row["symbol"], f"{where}.symbol"),
        price=to_units(row["price_usd"], AAVE_PRICE_DECIMALS, f"{where}.price_usd", "oracle's base currency"),
        decimals=decimals,
        ltv=bps(row["ltv"], f"{where}.ltv"),
        lt=bps(row["lt"], f"{where}.lt"),
        collateral=to_units(row.get("collateral", 0), decimals, f"{where}.collateral"),
        debt=to_units(row.get("debt", 0), decimals, f"{where}.debt"),
        in_emode=bool(_flag(row.get("in_emode", False), f"{where}.in_emode")),
        liquidation_bonus=_bonus(row.get("bonus", 0), f"{where}.bonus"),
        liquidation_protocol_fee=bps(row.get("protocol_fee", 0), f"{where}.protocol_fee"),
        use_as_collateral=_flag(row.get("use_as_collateral"), f"{where}.use_as_collateral", optional=True),
        # Debt ceilings count in 0.01 USD (DEBT_CEILING_DECIMALS = 2).
        debt_ceiling=to_units(row.get("debt_ceiling_usd", 0), 2, f"{where}.debt_ceiling_usd", "ceiling's 0.01 USD"),
        isolation_mode_total_debt=to_units(
            row.get("isolation_mode_total_debt_usd", 0), 2, f"{where}.isolation_mode_total_debt_usd", "0.01 USD"
        ),
        borrowable_in_isolation=bool(
            _flag(row.get("borrowable_in_isolation", False), f"{where}.borrowable_in_isolation")
        ),
        siloed_borrowing=bool(_flag(row.get("siloed_borrowing", False), f"{where}.siloed_borrowing")),
        emode_borrowable=_flag(row.get("emode_borrowable"), f"{where}.emode_borrowable", optional=True),
        emode_ltvzero=bool(_flag(row.get("emode_ltvzero", False), f"{where}.emode_ltvzero")),
    )


def _emode(value: object) -> tuple[EModeCategory | None, str]:
    if value is None:
        return None, ""
    spec = _mapping(value, "emode_category")
    _keys(spec, "emode_category", ("ltv", "lt", "bonus"), ("price_usd", "label"))
    label = _text(spec["label"], "emode_category.label") if "label" in spec else ""
    category = EModeCategory(
        ltv=bps(spec["ltv"], "emode_category.ltv"),
        lt=bps(spec["lt"], "emode_category.lt"),
        liquidation_bonus=_bonus(spec["bonus"], "emode_category.bonus"),
        price=to_units(spec.get("price_usd", 0), AAVE_PRICE_DECIMALS, "emode_category.price_usd", "base currency"),
    )
    return category, label


def _check_values_fit(reserves: tuple[AaveReserve, ...]) -> None:
    # GenericLogic values each balance as ``amount * price`` in uint256 before dividing by the
    # token unit: a product past 2**256 - 1 reverts (Panic 0x11) there, so name the row here.
    for i, r in enumerate(reserves):
        for field, amount in (("collateral", r.collateral), ("debt", r.debt)):
            if amount * r.price > UINT256_MAX:
                raise InputError(
                    f"reserves[{i}].{field} x price_usd overflows uint256 in the contract's valuation "
                    f"(amount x price in its units), was {field} {amount} units at price {r.price}"
                )


def _check_ltvzero(reserves: tuple[AaveReserve, ...], emode: EModeCategory | None, version: str) -> None:
    # An e-mode category's ltvzeroBitmap exists from 3.6 (Pool.getEModeCategoryLtvzeroBitmap), and
    # PoolConfigurator.setAssetLtvzeroInEMode puts only the category's collateral on it
    # (MustBeEmodeCollateral): a flag the Pool could not hold is refused, not ignored.
    for i, r in enumerate(reserves):
        if not r.emode_ltvzero:
            continue
        where = f"reserves[{i}].emode_ltvzero"
        if not since(version, "3.6"):
            raise InputError(f"{where} needs version 3.6 (the category's ltvzero bitmap is new in 3.6), was {version}")
        if emode is None or not r.in_emode:
            raise InputError(
                f"{where} needs an emode_category and in_emode: true (only the category's collateral can be "
                f"on its ltvzero bitmap), was emode_category {'null' if emode is None else 'set'}, "
                f"in_emode {str(r.in_emode).lower()}"
            )


def _aave(spec: Mapping[str, Any]) -> AavePosition:
    _keys(spec, "aave-v3 spec", ("protocol", "reserves"), (*_TOP_COMMON, "version", "emode_category"))
    version = spec.get("version", "3.3")
    if isinstance(version, float | int) and not isinstance(version, bool):
        # YAML reads 3.3 as a float (an integer past float64 cannot be a version: left as is, refused below)
        version = f"{version:.1f}" if not isinstance(version, int) or abs(version) < 2**53 else str(version)
    rows = spec["reserves"]
    if not isinstance(rows, list) or not rows:
        raise InputError(f"reserves must be a non-empty list of reserves, was {show(rows)}")
    reserves = tuple(_reserve(_mapping(r, f"reserves[{i}]"), f"reserves[{i}]") for i, r in enumerate(rows))
    emode, label = _emode(spec.get("emode_category"))
    name = _text(spec["name"], "name") if "name" in spec else ""
    if not isinstance(version, str):
        raise InputError(f"version must be one of 3.0, 3.1, 3.2, 3.3, 3.5, 3.6, was {show(version)}")
    _check_values_fit(reserves)
    try:
        get_user_account_data(reserves, emode, version)  # validates the version, symbols and rows together
    except MathRevertError as exc:
        raise InputError(f"the reserves' values overflow the contract's sums in getUserAccountData: {exc}") from None
    _check_ltvzero(reserves, emode, version)
    return AavePosition(reserves=reserves, emode_category=emode, version=version, name=name, emode_label=label)


# --- Morpho Blue ----------------------------------------------------------------------------------

_MORPHO_REQUIRED: Final = ("protocol", "lltv", "collateral", "collateral_decimals", "loan_decimals")
_MORPHO_OPTIONAL: Final = (
    *_TOP_COMMON,
    "collateral_symbol",
    "loan_symbol",
    "borrow",
    "borrow_shares",
    "collateral_price",
    "loan_price",
    "oracle_price",
    "market",
)


def oracle_price_from(
    collateral_price: Decimal, loan_price: Decimal, collateral_decimals: int, loan_decimals: int
) -> int:
    """Return the Morpho oracle price of two prices in a common unit (USD), as the oracle floors it.

    Notes
    -----
    ``floor(1e36 * collateral_price / loan_price * 10**loan_decimals / 10**collateral_decimals)``:
    ``MorphoChainlinkOracleV2.price()`` (morpho-org/morpho-blue-oracles) returns
    ``SCALE_FACTOR * base / quote`` with ``SCALE_FACTOR = 10**(36 + quote decimals - base
    decimals ...)`` and a floor division.
    """
    # A collateral worth 0 is a valid (worthless) position; the loan token's price divides.
    cp = _price_fraction(collateral_price, "collateral_price", zero=True)
    lp = _price_fraction(loan_price, "loan_price")
    cd = contract_int(collateral_decimals, "collateral_decimals", 0, 36, "0 to 36")
    ld = contract_int(loan_decimals, "loan_decimals", 0, 36, "0 to 36")
    q = cp / lp * ORACLE_PRICE_SCALE * 10**ld
    return int(q / 10**cd)  # floor: both are positive


def _price_fraction(value: object, field: str, *, zero: bool = False) -> Fraction:
    # A price (int, float, Decimal, Fraction, NumPy number or numeric string) as an exact
    # Fraction, finite and > 0 (>= 0 with ``zero``).
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real | Decimal | str):
        raise InputError(f"{field} must be a number, was {show(value)}")
    if isinstance(value, np.floating | np.integer):
        value = value.item()  # Fraction(np.float32(...)) is a TypeError
    try:
        f = Fraction(value)  # type: ignore[arg-type]
    except (ValueError, OverflowError, ZeroDivisionError, TypeError):
        raise InputError(f"{field} must be a finite number, was {show(value)}") from None
    if f < 0 or (f == 0 and not zero):
        raise InputError(f"{field} must be {'>= 0' if zero else '> 0'}, was {show(value)}")
    return f


def _morpho(spec: Mapping[str, Any]) -> MorphoPosition:
    _keys(spec, "morpho-blue spec", _MORPHO_REQUIRED, _MORPHO_OPTIONAL)
    cd = contract_int(spec["collateral_decimals"], "collateral_decimals", 0, 36, "0 to 36")
    ld = contract_int(spec["loan_decimals"], "loan_decimals", 0, 36, "0 to 36")
    lltv_ = parse_number(spec["lltv"], "lltv")
    if not 0 <= lltv_ < 1:
        raise InputError(f"lltv must be a fraction in [0, 1), was {lltv_}")
    lltv = _scaled(lltv_, 18, "lltv")
    if lltv is None:
        raise InputError(f"lltv must have at most 18 decimals (WAD), was {lltv_}")
    collateral = to_units(spec["collateral"], cd, "collateral")

    loan_price_usd: float | None = None
    if "oracle_price" in spec:
        if "collateral_price" in spec or "loan_price" in spec:
            raise InputError("give either oracle_price or collateral_price (with loan_price), not both")
        price = contract_uint(spec["oracle_price"], "oracle_price", digits=True)
    elif "collateral_price" in spec:
        cp = parse_number(spec["collateral_price"], "collateral_price")
        lp = parse_number(spec.get("loan_price", 1), "loan_price")
        if cp < 0:
            raise InputError(f"collateral_price must be >= 0, was {cp}")
        if lp <= 0:
            raise InputError(f"loan_price must be > 0, was {lp}")
        # A price of 1e400 made an oracle price past uint256 (an OverflowError in the analytics)
        # and a loan price of 1e400 an infinite USD value: prices are bounded like account specs'.
        for name, v in (("collateral_price", cp), ("loan_price", lp)):
            if v > NUMBER_MAX:
                raise InputError(f"{name} must be at most {NUMBER_MAX:g}, was {show(spec.get(name, v))}")
        price = oracle_price_from(cp, lp, cd, ld)
        if price > UINT256_MAX:
            raise InputError(f"collateral_price / loan_price must give an oracle price within uint256, was {cp} / {lp}")
        loan_price_usd = float(lp)
    else:
        raise InputError("morpho-blue spec needs collateral_price (and loan_price) or oracle_price")

    if "borrow" in spec and "borrow_shares" in spec:
        raise InputError("give either borrow (loan tokens) or borrow_shares (contract units), not both")
    borrow = to_units(spec.get("borrow", 0), ld, "borrow")
    given = spec.get("market")
    if given is None:
        if "borrow_shares" in spec:
            raise InputError("borrow_shares needs the market's totals (market: ...); give borrow in loan tokens")
        shares = borrow * VIRTUAL_SHARES  # toSharesUp(borrow, 0, 0) on an empty market
        if shares > UINT128_MAX:  # Morpho.borrow reverts "max uint128 exceeded" on such a market
            raise InputError(
                f"borrow {show(spec.get('borrow'))} is too large for a market of this position alone "
                f"({shares} shares > uint128; Morpho.borrow reverts): give the market's totals (market: ...)"
            )
        market = Market(borrow, borrow * VIRTUAL_SHARES, borrow, shares)
    else:
        m = _mapping(given, "market")
        names = ("total_supply_assets", "total_supply_shares", "total_borrow_assets", "total_borrow_shares")
        _keys(m, "market", names, ())
        market = Market(*(contract_uint(m[n], f"market.{n}", digits=True) for n in names))
        if "borrow_shares" in spec:
            shares = contract_uint(spec["borrow_shares"], "borrow_shares", digits=True)
        else:
            shares = to_shares_up(borrow, market.total_borrow_assets, market.total_borrow_shares)
        if shares > market.total_borrow_shares:
            raise InputError(
                f"the position's {shares} borrow shares exceed market.total_borrow_shares "
                f"{market.total_borrow_shares} (the totals include the position)"
            )
    return MorphoPosition(
        market=market,
        position=Position(shares, collateral),
        lltv=lltv,
        oracle_price=price,
        collateral_decimals=cd,
        loan_decimals=ld,
        collateral_symbol=_text(spec.get("collateral_symbol", "collateral"), "collateral_symbol"),
        loan_symbol=_text(spec.get("loan_symbol", "loan"), "loan_symbol"),
        name=_text(spec["name"], "name") if "name" in spec else "",
        loan_price_usd=loan_price_usd,
        market_given=given is not None,
    )


def load_position(spec: Mapping[str, Any] | str | Path | AavePosition | MorphoPosition) -> DefiPosition:
    """Return the position a spec describes, in contract units.

    Parameters
    ----------
    spec : mapping, path, AavePosition or MorphoPosition
        A spec (module docstring) or the JSON/YAML file holding it; a position is returned as is.

    Returns
    -------
    AavePosition or MorphoPosition

    Raises
    ------
    InputError
        Any invalid field, named with its path (``reserves[1].collateral``) and value; a value
        that cannot be converted exactly to contract units; the engine's own checks
        (``ltv <= lt``, bonus limits, unique symbols, version).
    """
    if isinstance(spec, AavePosition | MorphoPosition):
        return spec
    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    elif isinstance(spec, Mapping):
        check_structure(spec, "position spec")
    if not isinstance(spec, Mapping):
        raise InputError(f"a DeFi position spec must be a mapping, was {type(spec).__name__}")
    protocol = spec.get("protocol")
    if protocol == "aave-v3":
        return _aave(spec)
    if protocol == "morpho-blue":
        return _morpho(spec)
    raise InputError(f"protocol must be one of {list(PROTOCOLS)}, was {show(protocol)}")
