"""Price adapters over feeds, exact in integers: Aave's CAPO caps and Morpho's ChainlinkOracleV2.

**CAPO** (correlated-asset price oracle, bgd-labs/aave-capo) caps what Aave pays for a yield-bearing
token.  For an LST (``PriceCapAdapterBase``) the exchange ratio (stETH per wstETH, ...) may grow
from a snapshot at most ``maxYearlyRatioGrowthPercent`` a year, linearly::

    maxRatio = snapshotRatio + growthPerSecondScaled * (now - snapshotTimestamp) / 1e6
    price    = basePrice * min(ratio, maxRatio) / 10**RATIO_DECIMALS

(:func:`capo_latest_answer`); for a stablecoin (``PriceCapAdapterStable``) the price is
``min(answer, priceCap)`` (:func:`capo_stable_latest_answer`).  A cap below the live ratio
undervalues the collateral: on 2026-03-10 a snapshot ratio raised only part of the way (an
on-chain 3 % limit per update) with a timestamp moved a full week capped wstETH about 2.85 %
below its exchange rate and liquidated about 10,938 wstETH on Aave (the post-mortem's numbers
are reproduced in tests/golden/test_oracle_examples.py).

**MorphoChainlinkOracleV2** (morpho-org/morpho-blue-oracles) prices a Morpho Blue market's
collateral (base) in its loan token (quote) from up to two feeds and one ERC-4626 vault on each
side, scaled by 1e36 (:class:`MorphoChainlinkOracleV2`, :func:`morpho_oracle_price`); a wrapped
collateral is priced at its redemption value (vault ``convertToAssets`` or an exchange-rate feed
such as Morpho's wstETH/stETH adapter) times its underlying's price.

Units are the contracts': integer answers in each feed's decimals, ratios in ``RATIO_DECIMALS``,
times in Unix seconds, percentages in bps (``872`` is 8.72 %).

Sources
-------
* bgd-labs/aave-capo 2c280ef9bd395d26a6e4de51ec84581b18438901: ``src/contracts/
  PriceCapAdapterBase.sol`` (latestAnswer, isCapped, _getMaxRatio, _setCapParameters,
  constructor), ``src/contracts/PriceCapAdapterStable.sol`` (latestAnswer, isCapped,
  _setPriceCap), ``src/contracts/lst-adapters/WstETHPriceCapAdapter.sol`` (ratio
  ``getPooledEthByShares(1e18)``, 18 decimals).
* morpho-org/morpho-blue-oracles e32d8902f9518365caa53e9eaed3cbd6cb017a63:
  ``src/morpho-chainlink/MorphoChainlinkOracleV2.sol`` (constructor, SCALE_FACTOR, price),
  ``libraries/ChainlinkDataFeedLib.sol``, ``libraries/VaultLib.sol``, ``libraries/ErrorsLib.sol``,
  OpenZeppelin ``Math.mulDiv`` (floor of the full-precision product).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from levguard.core.defi.price_feeds import MorphoOracleError, OracleError, morpho_feed_price
from levguard.core.records import JsonRecord
from levguard.core.validate import contract_sint, contract_uint, instance_of, show
from levguard.errors import InputError

__all__ = [
    "CAPO_MAXIMUM_SNAPSHOT_TERM",
    "CAPO_MAX_STABLE_CAP_VALUE",
    "CAPO_PERCENTAGE_FACTOR",
    "CAPO_SCALING_FACTOR",
    "CAPO_SECONDS_PER_YEAR",
    "VAULT_CONVERSION_SAMPLE_IS_NOT_ONE",
    "VAULT_CONVERSION_SAMPLE_IS_ZERO",
    "CapoAdapter",
    "CapoAnswer",
    "CapoError",
    "MorphoChainlinkOracleV2",
    "StableCapoAnswer",
    "capo_is_capped",
    "capo_latest_answer",
    "capo_max_ratio",
    "capo_stable_latest_answer",
    "capo_stable_set_price_cap",
    "capo_validate_snapshot",
    "morpho_oracle_price",
    "morpho_scale_factor",
]

CAPO_PERCENTAGE_FACTOR: Final = 10**4
"""bps in one (PriceCapAdapterBase.PERCENTAGE_FACTOR)."""
CAPO_SCALING_FACTOR: Final = 10**6
"""Extra precision of the per-second growth (PriceCapAdapterBase.SCALING_FACTOR)."""
CAPO_SECONDS_PER_YEAR: Final = 365 * 86_400
CAPO_MAXIMUM_SNAPSHOT_TERM: Final = 180 * 86_400
"""A snapshot may be at most 180 days old when set (PriceCapAdapterBase.MAXIMUM_SNAPSHOT_TERM)."""
CAPO_MAX_STABLE_CAP_VALUE: Final = 2 * 10**8
"""Largest stablecoin price cap, 2 USD in 8 decimals (PriceCapAdapterStable.MAX_STABLE_CAP_VALUE)."""
VAULT_CONVERSION_SAMPLE_IS_ZERO: Final = "vault conversion sample is zero"
VAULT_CONVERSION_SAMPLE_IS_NOT_ONE: Final = "vault conversion sample is not one"
_PANIC_ARITHMETIC: Final = "arithmetic underflow or overflow"
_PANIC_DIVISION_BY_ZERO: Final = "division or modulo by zero"
_MULDIV_OVERFLOW: Final = "Math.mulDiv overflow"

_UINT256: Final = 2**256
_INT256_MAX: Final = 2**255 - 1


class CapoError(OracleError):
    """A CAPO adapter would revert; ``reason`` is the contract's custom error name
    (``SnapshotRatioIsZero``, ``InvalidRatioTimestamp``, ``WrongRatioDecimals``,
    ``InvalidNewPriceCap``, ``CapLowerThanActualPrice``) or a Solidity panic's description."""


# --- CAPO for LSTs (PriceCapAdapterBase) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapoAdapter(JsonRecord):
    """The state of one ``PriceCapAdapterBase`` (an LST's CAPO adapter).

    Attributes
    ----------
    snapshot_ratio : int
        ``getSnapshotRatio()``: the reference ratio (uint104, ``ratio_decimals``), > 0.
    snapshot_timestamp : int
        ``getSnapshotTimestamp()``: when that ratio held, Unix seconds (uint48).
    max_yearly_ratio_growth_percent : int
        ``getMaxYearlyGrowthRatePercent()``: bps a year (uint16; ``872`` is 8.72 %).
    ratio_decimals : int, default 18
        ``RATIO_DECIMALS`` (8 to 24; 18 for wstETH).
    decimals : int, default 8
        ``DECIMALS``: the base aggregator's decimals, and the adapter's.
    minimum_snapshot_delay : int, default 0
        ``MINIMUM_SNAPSHOT_DELAY``, seconds (7 days for wstETH).
    max_ratio_growth_per_second_scaled : int
        Derived: ``getMaxRatioGrowthPerSecondScaled()``.

    Raises
    ------
    CapoError
        ``WrongRatioDecimals`` (constructor), ``SnapshotRatioIsZero`` (_setCapParameters).

    Notes
    -----
    ``_setCapParameters``: ``growthPerSecondScaled = uint104(snapshotRatio *
    maxYearlyRatioGrowthPercent * 1e6 / 1e4 / 365 days)`` (floor at each division).  The
    timestamp rules of ``_setCapParameters`` need the block time: :func:`capo_validate_snapshot`.
    """

    snapshot_ratio: int
    snapshot_timestamp: int
    max_yearly_ratio_growth_percent: int
    ratio_decimals: int = 18
    decimals: int = 8
    minimum_snapshot_delay: int = 0
    max_ratio_growth_per_second_scaled: int = field(init=False)

    def __post_init__(self) -> None:
        ratio = contract_uint(self.snapshot_ratio, "snapshot_ratio", 104)
        ts = contract_uint(self.snapshot_timestamp, "snapshot_timestamp", 48)
        pct = contract_uint(self.max_yearly_ratio_growth_percent, "max_yearly_ratio_growth_percent", 16)
        rdec = contract_uint(self.ratio_decimals, "ratio_decimals", 8)
        dec = contract_uint(self.decimals, "decimals", 8)
        delay = contract_uint(self.minimum_snapshot_delay, "minimum_snapshot_delay", 48)
        if not 8 <= rdec <= 24:
            raise CapoError("WrongRatioDecimals", f"ratio_decimals must be 8 to 24, was {rdec}")
        if ratio == 0:
            raise CapoError("SnapshotRatioIsZero", "snapshot_ratio = 0")
        growth = ratio * pct * CAPO_SCALING_FACTOR // CAPO_PERCENTAGE_FACTOR // CAPO_SECONDS_PER_YEAR
        for name, value in (
            ("snapshot_ratio", ratio),
            ("snapshot_timestamp", ts),
            ("max_yearly_ratio_growth_percent", pct),
            ("ratio_decimals", rdec),
            ("decimals", dec),
            ("minimum_snapshot_delay", delay),
            ("max_ratio_growth_per_second_scaled", growth % 2**104),  # uint104(...) cast
        ):
            object.__setattr__(self, name, value)

    @property
    def max_ratio_growth_per_second(self) -> int:
        """``getMaxRatioGrowthPerSecond()``: the scaled growth divided by 1e6 (floor)."""
        return self.max_ratio_growth_per_second_scaled // CAPO_SCALING_FACTOR


@dataclass(frozen=True, slots=True)
class CapoAnswer(JsonRecord):
    """``latestAnswer()`` of a CAPO adapter and what went into it (:func:`capo_latest_answer`).

    Attributes
    ----------
    answer : int
        ``latestAnswer()``, in the adapter's decimals (0 for a non-positive base price or ratio).
    ratio, max_ratio : int
        ``getRatio()`` and ``_getMaxRatio()``, ratio decimals.
    is_capped : bool
        ``isCapped()``: ``ratio > max_ratio``.
    uncapped_answer : int
        ``basePrice * ratio / 10**RATIO_DECIMALS`` (0 when the contract answers 0).
    headroom : float
        ``max_ratio / ratio - 1``: negative when capped (the cap's distance below the ratio);
        NaN for a non-positive ratio.
    """

    answer: int
    ratio: int
    max_ratio: int
    is_capped: bool
    uncapped_answer: int
    headroom: float


def capo_max_ratio(adapter: CapoAdapter, block_timestamp: int) -> int:
    """Return ``_getMaxRatio()`` at ``block_timestamp``.

    Raises
    ------
    CapoError
        Panic (underflow) when ``block_timestamp`` precedes the snapshot.

    Notes
    -----
    PriceCapAdapterBase._getMaxRatio:
    ``snapshotRatio + growthPerSecondScaled * (block.timestamp - snapshotTimestamp) / 1e6``.
    """
    instance_of(adapter, CapoAdapter, "adapter")
    now = contract_uint(block_timestamp, "block_timestamp")
    if now < adapter.snapshot_timestamp:
        raise CapoError(_PANIC_ARITHMETIC, f"block_timestamp {now} < snapshot_timestamp {adapter.snapshot_timestamp}")
    grown = adapter.max_ratio_growth_per_second_scaled * (now - adapter.snapshot_timestamp) // CAPO_SCALING_FACTOR
    return adapter.snapshot_ratio + grown


def capo_is_capped(adapter: CapoAdapter, ratio: int, block_timestamp: int) -> bool:
    """Return ``isCapped()``: the ratio exceeds the maximum ratio (``ratio`` int256, as ``getRatio()``)."""
    return contract_sint(ratio, "ratio") > capo_max_ratio(adapter, block_timestamp)


def capo_latest_answer(adapter: CapoAdapter, base_price: int, ratio: int, block_timestamp: int) -> CapoAnswer:
    """Return ``latestAnswer()`` of an LST's CAPO adapter.

    Parameters
    ----------
    adapter : CapoAdapter
    base_price : int
        ``BASE_TO_USD_AGGREGATOR.latestAnswer()`` (int256, e.g. ETH/USD with 8 decimals).
    ratio : int
        ``getRatio()`` (int256, ratio decimals): stETH per wstETH for wstETH.
    block_timestamp : int
        Unix seconds.

    Returns
    -------
    CapoAnswer

    Raises
    ------
    CapoError
        Panic: the block precedes the snapshot, or ``basePrice * ratio`` overflows int256.

    Notes
    -----
    PriceCapAdapterBase.latestAnswer: ``basePrice <= 0 || ratio <= 0`` -> 0; else
    ``basePrice * min(ratio, maxRatio) / 10**RATIO_DECIMALS`` (both positive: floor).
    """
    base = contract_sint(base_price, "base_price")
    r = contract_sint(ratio, "ratio")
    max_ratio = capo_max_ratio(adapter, block_timestamp)
    capped = r > max_ratio
    headroom = max_ratio / r - 1.0 if r > 0 else math.nan
    if base <= 0 or r <= 0:
        return CapoAnswer(0, r, max_ratio, capped, 0, headroom)
    unit: int = 10**adapter.ratio_decimals
    used = min(r, max_ratio)
    if base * used > _INT256_MAX:
        raise CapoError(_PANIC_ARITHMETIC, f"basePrice * ratio = {base * used} overflows int256")
    return CapoAnswer(base * used // unit, r, max_ratio, capped, base * r // unit, headroom)


def capo_validate_snapshot(
    adapter: CapoAdapter, block_timestamp: int, *, stored_snapshot_timestamp: int = 0
) -> CapoAdapter:
    """Return ``adapter`` if ``setCapParameters`` would accept its snapshot now, else raise.

    Parameters
    ----------
    adapter : CapoAdapter
        The new parameters (and the adapter's immutables).
    block_timestamp : int
        When the update is sent, Unix seconds.
    stored_snapshot_timestamp : int, keyword-only, default 0
        The snapshot timestamp already stored (0 at construction).

    Raises
    ------
    CapoError
        ``InvalidRatioTimestamp`` (not newer than the stored one, younger than
        ``MINIMUM_SNAPSHOT_DELAY`` or older than 180 days), or a panic when ``block_timestamp`` is
        below the delay or the term (the contract's subtraction underflows).

    Notes
    -----
    PriceCapAdapterBase._setCapParameters: revert ``InvalidRatioTimestamp`` when
    ``stored >= ts || ts > now - MINIMUM_SNAPSHOT_DELAY || ts < now - MAXIMUM_SNAPSHOT_TERM``
    (evaluated left to right).  The contract does not check the ratio against the timestamp:
    a ratio from another time than ``ts`` is accepted (the 2026-03-10 wstETH incident).
    """
    instance_of(adapter, CapoAdapter, "adapter")
    now = contract_uint(block_timestamp, "block_timestamp")
    stored = contract_uint(stored_snapshot_timestamp, "stored_snapshot_timestamp", 48)
    ts = adapter.snapshot_timestamp
    bad = stored >= ts
    if not bad:
        if now < adapter.minimum_snapshot_delay:
            raise CapoError(_PANIC_ARITHMETIC, f"block_timestamp {now} < minimum_snapshot_delay")
        bad = ts > now - adapter.minimum_snapshot_delay
    if not bad:
        if now < CAPO_MAXIMUM_SNAPSHOT_TERM:
            raise CapoError(_PANIC_ARITHMETIC, f"block_timestamp {now} < MAXIMUM_SNAPSHOT_TERM")
        bad = ts < now - CAPO_MAXIMUM_SNAPSHOT_TERM
    if bad:
        raise CapoError(
            "InvalidRatioTimestamp",
            f"snapshot_timestamp {ts} (stored {stored}, now {now}, minimum delay "
            f"{adapter.minimum_snapshot_delay} s, maximum term {CAPO_MAXIMUM_SNAPSHOT_TERM} s)",
        )
    return adapter


# --- CAPO for stablecoins (PriceCapAdapterStable) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class StableCapoAnswer(JsonRecord):
    """``latestAnswer()`` and ``isCapped()`` of a stablecoin CAPO adapter.

    Attributes
    ----------
    answer : int
        The capped price (adapter decimals, 8 for USD feeds).
    is_capped : bool
        The feed's answer exceeds the cap.
    """

    answer: int
    is_capped: bool


def capo_stable_latest_answer(base_price: int, price_cap: int) -> StableCapoAnswer:
    """Return ``latestAnswer()`` and ``isCapped()`` of a ``PriceCapAdapterStable``.

    Parameters
    ----------
    base_price : int
        ``ASSET_TO_USD_AGGREGATOR.latestAnswer()`` (int256).
    price_cap : int
        ``getPriceCap()`` (int256, 0 to 2e8).

    Notes
    -----
    PriceCapAdapterStable.latestAnswer: ``basePrice > priceCap`` -> ``priceCap``; ``basePrice <= 0``
    -> 0; else ``basePrice``.  ``isCapped() = basePrice > priceCap``.
    """
    base = contract_sint(base_price, "base_price")
    cap = contract_sint(price_cap, "price_cap")
    if cap < 0:  # no adapter holds one: setPriceCap reverts InvalidNewPriceCap (it would be the answer)
        raise InputError(f"price_cap must be >= 0 (setPriceCap refuses a negative cap), was {show(price_cap)}")
    if base > cap:
        return StableCapoAnswer(cap, True)
    return StableCapoAnswer(max(base, 0), False)


def capo_stable_set_price_cap(price_cap: int, base_price: int) -> int:
    """Return ``price_cap`` if ``setPriceCap`` (or the constructor) accepts it, else raise.

    Raises
    ------
    CapoError
        ``InvalidNewPriceCap`` (``cap > 2e8`` or ``cap < 0``), ``CapLowerThanActualPrice``
        (``cap < basePrice``).

    Notes
    -----
    PriceCapAdapterStable._setPriceCap.
    """
    cap = contract_sint(price_cap, "price_cap")
    base = contract_sint(base_price, "base_price")
    if cap > CAPO_MAX_STABLE_CAP_VALUE or cap < 0:
        raise CapoError("InvalidNewPriceCap", f"price_cap {cap} outside [0, 2e8]")
    if cap < base:
        raise CapoError("CapLowerThanActualPrice", f"price_cap {cap} < base_price {base}")
    return cap


# --- MorphoChainlinkOracleV2 --------------------------------------------------------------------


def morpho_scale_factor(
    *,
    base_token_decimals: int,
    quote_token_decimals: int,
    base_feed_1_decimals: int = 0,
    base_feed_2_decimals: int = 0,
    quote_feed_1_decimals: int = 0,
    quote_feed_2_decimals: int = 0,
    base_vault_conversion_sample: int = 1,
    quote_vault_conversion_sample: int = 1,
) -> int:
    """Return ``SCALE_FACTOR`` as the ``MorphoChainlinkOracleV2`` constructor computes it.

    Absent feeds count 0 decimals (``ChainlinkDataFeedLib.getDecimals`` of address zero).

    Raises
    ------
    MorphoOracleError
        Panic: a negative exponent, or ``10**e * quoteSample`` overflowing uint256; division by a
        zero base sample.

    Notes
    -----
    ``SCALE_FACTOR = 10**(36 + dQ + fQ1 + fQ2 - dB - fB1 - fB2) * quoteSample / baseSample``
    (integer division last), with ``dB, dQ`` the token decimals and ``f..`` the feeds' decimals:
    the 1e36-scaled price of one base token unit in quote token units is
    ``1e36 * pB1 * pB2 * 10**-dB / (pQ1 * pQ2 * 10**-dQ)``.
    """
    args = {
        "base_token_decimals": base_token_decimals,
        "quote_token_decimals": quote_token_decimals,
        "base_feed_1_decimals": base_feed_1_decimals,
        "base_feed_2_decimals": base_feed_2_decimals,
        "quote_feed_1_decimals": quote_feed_1_decimals,
        "quote_feed_2_decimals": quote_feed_2_decimals,
        "base_vault_conversion_sample": base_vault_conversion_sample,
        "quote_vault_conversion_sample": quote_vault_conversion_sample,
    }
    v = {k: contract_uint(x, k) for k, x in args.items()}
    up = 36 + v["quote_token_decimals"] + v["quote_feed_1_decimals"] + v["quote_feed_2_decimals"]
    down = v["base_token_decimals"] + v["base_feed_1_decimals"] + v["base_feed_2_decimals"]
    if up >= _UINT256:
        raise MorphoOracleError(_PANIC_ARITHMETIC, f"exponent sum {up} overflows uint256")
    if down > up:
        raise MorphoOracleError(_PANIC_ARITHMETIC, f"scale exponent {up} - {down} underflows")
    exponent = up - down
    if exponent > 77:  # 10**78 > 2**256
        raise MorphoOracleError(_PANIC_ARITHMETIC, f"10**{exponent} overflows uint256")
    scaled: int = 10**exponent * v["quote_vault_conversion_sample"]
    if scaled >= _UINT256:
        raise MorphoOracleError(_PANIC_ARITHMETIC, f"10**{exponent} * quote sample overflows uint256")
    if v["base_vault_conversion_sample"] == 0:
        raise MorphoOracleError(_PANIC_DIVISION_BY_ZERO, "base_vault_conversion_sample = 0")
    return scaled // v["base_vault_conversion_sample"]


@dataclass(frozen=True, slots=True)
class MorphoChainlinkOracleV2(JsonRecord):
    """A ``MorphoChainlinkOracleV2`` as deployed: collateral (base) priced in the loan token (quote).

    Attributes
    ----------
    base_token_decimals, quote_token_decimals : int
        Decimals of the collateral and the loan token.
    base_feed_1_decimals, base_feed_2_decimals, quote_feed_1_decimals, quote_feed_2_decimals : int or None
        Each feed's ``decimals()``; None for an absent feed (price 1).
    base_vault, quote_vault : bool, default False
        An ERC-4626 vault is set on that side (its shares are the token).
    base_vault_conversion_sample, quote_vault_conversion_sample : int, default 1
        Shares converted by ``convertToAssets`` (must be 1 without a vault, never 0).
    scale_factor : int
        Derived: ``SCALE_FACTOR`` (:func:`morpho_scale_factor`).

    Raises
    ------
    MorphoOracleError
        The constructor's reverts: ``"vault conversion sample is not one"``,
        ``"vault conversion sample is zero"``, the scale factor's panics.
    """

    base_token_decimals: int
    quote_token_decimals: int
    base_feed_1_decimals: int | None = None
    base_feed_2_decimals: int | None = None
    quote_feed_1_decimals: int | None = None
    quote_feed_2_decimals: int | None = None
    base_vault: bool = False
    base_vault_conversion_sample: int = 1
    quote_vault: bool = False
    quote_vault_conversion_sample: int = 1
    scale_factor: int = field(init=False)

    def __post_init__(self) -> None:
        for side in ("base", "quote"):
            vault = getattr(self, f"{side}_vault")
            if not isinstance(vault, bool):
                raise InputError(f"{side}_vault must be True or False, was {show(vault)}")
            sample = contract_uint(getattr(self, f"{side}_vault_conversion_sample"), f"{side}_vault_conversion_sample")
            if not vault and sample != 1:
                raise MorphoOracleError(VAULT_CONVERSION_SAMPLE_IS_NOT_ONE, f"{side} sample {sample} without a vault")
        for side in ("base", "quote"):
            if getattr(self, f"{side}_vault_conversion_sample") == 0:
                raise MorphoOracleError(VAULT_CONVERSION_SAMPLE_IS_ZERO, f"{side}_vault_conversion_sample = 0")
        feeds = {}
        for name in ("base_feed_1", "base_feed_2", "quote_feed_1", "quote_feed_2"):
            dec = getattr(self, f"{name}_decimals")
            feeds[f"{name}_decimals"] = 0 if dec is None else contract_uint(dec, f"{name}_decimals", 8)
        object.__setattr__(
            self,
            "scale_factor",
            morpho_scale_factor(
                base_token_decimals=self.base_token_decimals,
                quote_token_decimals=self.quote_token_decimals,
                base_vault_conversion_sample=self.base_vault_conversion_sample,
                quote_vault_conversion_sample=self.quote_vault_conversion_sample,
                **feeds,
            ),
        )


def morpho_oracle_price(
    oracle: MorphoChainlinkOracleV2,
    *,
    base_vault_assets: int | None = None,
    base_feed_1: int | None = None,
    base_feed_2: int | None = None,
    quote_vault_assets: int | None = None,
    quote_feed_1: int | None = None,
    quote_feed_2: int | None = None,
) -> int:
    """Return ``MorphoChainlinkOracleV2.price()``: one collateral unit in loan units, scaled by 1e36.

    Parameters
    ----------
    oracle : MorphoChainlinkOracleV2
    base_vault_assets, quote_vault_assets : int or None, keyword-only
        ``vault.convertToAssets(conversionSample)`` on each side; required when that vault is set,
        None otherwise.
    base_feed_1, base_feed_2, quote_feed_1, quote_feed_2 : int or None, keyword-only
        Each feed's ``latestRoundData().answer`` (int256); required when that feed is set.

    Returns
    -------
    int
        The price Morpho Blue reads (``ORACLE_PRICE_SCALE`` = 1e36 units).

    Raises
    ------
    MorphoOracleError
        ``"negative answer"`` (ChainlinkDataFeedLib), panics on uint256 overflow of either
        product, ``Math.mulDiv`` on a zero denominator or a result beyond uint256.

    Notes
    -----
    ``price = mulDiv(SCALE_FACTOR, baseAssets * pB1 * pB2, quoteAssets * pQ1 * pQ2)`` (floor),
    with 1 for an absent vault or feed (VaultLib.getAssets, ChainlinkDataFeedLib.getPrice).
    Wrapped collateral is priced at its redemption value: for wstETH, base feed 1 is stETH per
    wstETH (Morpho's ``WstEthStEthExchangeRateChainlinkAdapter``: ``getPooledEthByShares(1e18)``,
    18 decimals, ``updatedAt = 0``) and base feed 2 the underlying's price (stETH/ETH, or ETH/USD
    against a USD-pegged loan token); for an ERC-4626 collateral, ``base_vault_assets`` is
    ``convertToAssets(sample)``.
    """
    instance_of(oracle, MorphoChainlinkOracleV2, "oracle")
    values = {
        "base_vault_assets": (base_vault_assets, oracle.base_vault),
        "base_feed_1": (base_feed_1, oracle.base_feed_1_decimals is not None),
        "base_feed_2": (base_feed_2, oracle.base_feed_2_decimals is not None),
        "quote_vault_assets": (quote_vault_assets, oracle.quote_vault),
        "quote_feed_1": (quote_feed_1, oracle.quote_feed_1_decimals is not None),
        "quote_feed_2": (quote_feed_2, oracle.quote_feed_2_decimals is not None),
    }
    got: dict[str, int] = {}
    for name, (value, configured) in values.items():
        if configured and value is None:
            raise InputError(f"{name} is required: the oracle has that {'vault' if 'vault' in name else 'feed'}")
        if not configured and value is not None:
            raise InputError(f"{name} must be None: the oracle has no such {'vault' if 'vault' in name else 'feed'}")
        if "vault" in name:
            got[name] = 1 if value is None else contract_uint(value, name)
        else:
            got[name] = morpho_feed_price(value, field=name)  # messages name base_feed_1, not "answer"
    numerator = _checked_product(got["base_vault_assets"], got["base_feed_1"], got["base_feed_2"], "base")
    denominator = _checked_product(got["quote_vault_assets"], got["quote_feed_1"], got["quote_feed_2"], "quote")
    if denominator == 0:
        raise MorphoOracleError(_PANIC_DIVISION_BY_ZERO, "mulDiv by a zero quote product")
    price = oracle.scale_factor * numerator // denominator
    if price >= _UINT256:
        raise MorphoOracleError(_MULDIV_OVERFLOW, f"price {price} exceeds uint256")
    return price


def _checked_product(a: int, b: int, c: int, side: str) -> int:
    # getAssets(...) * getPrice() * getPrice(), Solidity checked uint256, left to right.
    ab = a * b
    if ab >= _UINT256 or ab * c >= _UINT256:
        raise MorphoOracleError(_PANIC_ARITHMETIC, f"{side} product {a} * {b} * {c} overflows uint256")
    return ab * c
