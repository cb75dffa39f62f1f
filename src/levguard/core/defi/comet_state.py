"""Compound III (Comet) state records: a market's configuration, storage, feed answers and balances.

:class:`Comet` holds what one deployment stores and reads (its immutables, ``TotalsBasic``,
``totalsCollateral``, its users' ``userBasic`` and ``userCollateral``, the price feeds' answers
and its token balances); :mod:`levguard.core.defi.comet` runs the contract's entry points on it.
Units and scales are the contract's (see :mod:`levguard.core.defi.comet_math`).

The records accept only states a Comet can be in: each field within its Solidity type, the
constructor's sanity checks (``BadDecimals``, ``BadDiscount``, ``TooManyAssets``, ``BadMinimum``,
``BorrowCFTooLarge``, ``LiquidateCFTooLarge``) and the factors as ``getAssetInfo`` returns them.

Source: compound-finance/comet at commit d5a30b0aaeff7755f1431e87f818990902237b03:
``contracts/CometCore.sol`` (``AssetInfo``), ``contracts/CometStorage.sol`` (``TotalsBasic``,
``UserBasic``, ``UserCollateral``, ``TotalsCollateral``), ``contracts/CometConfiguration.sol``
(``Configuration``, ``AssetConfig``), ``contracts/Comet.sol`` (constructor,
``getPackedAssetInternal``, ``getAssetInfo``, ``getAssetInfoByAddress``) and
``contracts/CometWithExtendedAssetList.sol`` (24 assets, ``assetsIn`` bits 16-23 in ``_reserved``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Final

from levguard.core.defi.comet_math import (
    BASE_ACCRUAL_SCALE,
    BASE_INDEX_SCALE,
    FACTOR_DESCALE,
    FACTOR_SCALE,
    MAX_ASSETS,
    MAX_BASE_DECIMALS,
    SECONDS_PER_YEAR,
    CometError,
    name_arg,
    sint,
    uint,
    uint_map,
)
from levguard.core.records import JsonRecord, empty_mapping
from levguard.core.validate import show
from levguard.errors import InputError

__all__ = ["AssetInfo", "Comet", "CometAccount", "InterestRateModel", "as_comet"]


@dataclass(frozen=True, slots=True)
class AssetInfo(JsonRecord):
    """One collateral asset as ``Comet.getAssetInfo`` returns it, with its feed's answer.

    Attributes
    ----------
    offset : int
        Position of the asset in the market's list (its bit in ``assetsIn``), 0 to 23.
    asset : str
        The asset's key (its address, or a symbol).
    price : int
        The asset's price feed answer (``latestRoundData``, 8 decimals, int256).  Comet reverts
        ``BadPrice`` only when it reads a non-positive answer, so one may be stored here.
    scale : int
        ``10**decimals`` of the asset (uint64).
    borrow_collateral_factor, liquidate_collateral_factor, liquidation_factor : int
        Factors scaled 1e18, as ``getAssetInfo`` returns them: multiples of 1e14 (the contract
        keeps 4 decimals), ``borrow < liquidate <= 1e18``, liquidation factor at most
        ``65535e14``.  Build from the configuration's untruncated factors with :meth:`from_config`.
    supply_cap : int
        Most collateral the market accepts, asset units, a multiple of ``scale`` (uint128).
    """

    offset: int
    asset: str
    price: int
    scale: int
    borrow_collateral_factor: int
    liquidate_collateral_factor: int
    liquidation_factor: int
    supply_cap: int = 0

    def __post_init__(self) -> None:
        a = name_arg(self.asset, "asset")
        object.__setattr__(self, "offset", uint(self.offset, f"{a}.offset", 8))
        object.__setattr__(self, "price", sint(self.price, f"{a}.price"))
        scale = uint(self.scale, f"{a}.scale", 64)
        if scale < 1 or 10 ** (len(str(scale)) - 1) != scale:
            raise InputError(f"{a}.scale must be 10**decimals, was {scale}")
        object.__setattr__(self, "scale", scale)
        for name in ("borrow_collateral_factor", "liquidate_collateral_factor", "liquidation_factor"):
            v = uint(getattr(self, name), f"{a}.{name}", 64)
            if v % FACTOR_DESCALE or v > 0xFFFF * FACTOR_DESCALE:
                raise InputError(
                    f"{a}.{name} must be a multiple of 1e14 up to 65535e14 (getAssetInfo keeps 4 decimals; "
                    f"AssetInfo.from_config truncates), was {v}"
                )
            object.__setattr__(self, name, v)
        if self.borrow_collateral_factor >= self.liquidate_collateral_factor:
            raise CometError(
                "BorrowCFTooLarge",
                f"{a}: borrow {self.borrow_collateral_factor} >= liquidate {self.liquidate_collateral_factor}",
            )
        if self.liquidate_collateral_factor > FACTOR_SCALE:
            raise CometError("LiquidateCFTooLarge", f"{a}: {self.liquidate_collateral_factor} > 1e18")
        cap = uint(self.supply_cap, f"{a}.supply_cap", 128)
        if cap % scale:
            raise InputError(f"{a}.supply_cap must be whole units (a multiple of scale {scale}), was {cap}")
        object.__setattr__(self, "supply_cap", cap)

    @classmethod
    def from_config(
        cls,
        offset: int,
        asset: str,
        price: int,
        decimals: int,
        borrow_collateral_factor: int,
        liquidate_collateral_factor: int,
        liquidation_factor: int,
        supply_cap: int = 0,
    ) -> AssetInfo:
        """Return the asset info a Comet built from this ``AssetConfig`` reads back.

        Notes
        -----
        Comet.sol ``getPackedAssetInternal`` then ``getAssetInfo``: reverts ``BorrowCFTooLarge``
        when ``borrow >= liquidate`` (before and after truncation) and ``LiquidateCFTooLarge``
        above 1e18; each factor is truncated to 4 decimals (``// 1e14``, kept in 16 bits) and the
        supply cap to whole units (``// 10**decimals``, kept in 64 bits).
        """
        d = uint(decimals, "decimals", 8)
        if d > 19:
            raise InputError(f"decimals must be <= 19 (scale fits uint64), was {d}")
        bcf = uint(borrow_collateral_factor, "borrow_collateral_factor", 64)
        lcf = uint(liquidate_collateral_factor, "liquidate_collateral_factor", 64)
        lf = uint(liquidation_factor, "liquidation_factor", 64)
        cap = uint(supply_cap, "supply_cap", 128)
        if bcf >= lcf:
            raise CometError("BorrowCFTooLarge", f"{asset}: borrow {bcf} >= liquidate {lcf}")
        if lcf > FACTOR_SCALE:
            raise CometError("LiquidateCFTooLarge", f"{asset}: {lcf} > 1e18")
        b16, l16, f16 = ((x // FACTOR_DESCALE) & 0xFFFF for x in (bcf, lcf, lf))
        if b16 >= l16:
            raise CometError("BorrowCFTooLarge", f"{asset}: truncated borrow {b16} >= liquidate {l16} (1e-4 units)")
        scale = 10**d
        return cls(
            offset=offset,
            asset=asset,
            price=price,
            scale=scale,
            borrow_collateral_factor=b16 * FACTOR_DESCALE,
            liquidate_collateral_factor=l16 * FACTOR_DESCALE,
            liquidation_factor=f16 * FACTOR_DESCALE,
            supply_cap=((cap // scale) & 0xFFFF_FFFF_FFFF_FFFF) * scale,
        )


@dataclass(frozen=True, slots=True)
class CometAccount(JsonRecord):
    """One account's storage: ``userBasic[account]`` and ``userCollateral[account][*]``.

    Attributes
    ----------
    principal : int
        Signed base principal (int104): positive supplied, negative borrowed, in base units at
        index 1 (see :func:`~levguard.core.defi.comet.present_value`).
    collateral : Mapping[str, int]
        Collateral balance per asset key (uint128 each), asset units; absent means 0.
    assets_in : int or None, default None
        ``assetsIn`` bitmap (bit ``offset`` set: the account holds that asset; bits 16-23 are the
        extended list's ``_reserved``).  None derives it from the non-zero balances, as the
        contract keeps it (``updateAssetsIn``).
    base_tracking_index, base_tracking_accrued : int, default 0
        Reward tracking (uint64 each), updated whenever the principal is written.
    """

    principal: int = 0
    collateral: Mapping[str, int] = field(default_factory=empty_mapping)
    assets_in: int | None = None
    base_tracking_index: int = 0
    base_tracking_accrued: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "principal", sint(self.principal, "principal", 104))
        object.__setattr__(self, "collateral", uint_map(self.collateral, "collateral", 128))
        if self.assets_in is not None:
            object.__setattr__(self, "assets_in", uint(self.assets_in, "assets_in", MAX_ASSETS))
        for name in ("base_tracking_index", "base_tracking_accrued"):
            object.__setattr__(self, name, uint(getattr(self, name), name, 64))


@dataclass(frozen=True, slots=True)
class InterestRateModel(JsonRecord):
    """The kink interest-rate model of a Comet, per second (the contract's immutables).

    Attributes
    ----------
    supply_kink, borrow_kink : int
        Utilization (1e18 scale) where the slope changes.
    supply_per_second_interest_rate_base, _slope_low, _slope_high : int
        Supply rate per second at zero utilization, and its slopes below and above the kink.
    borrow_per_second_interest_rate_base, _slope_low, _slope_high : int
        The same for borrowing.  All are uint64, scaled 1e18; all zero (no interest) by default.

    Notes
    -----
    Comet.sol constructor: each per-year rate of the ``Configuration`` is divided (down) by
    ``SECONDS_PER_YEAR``; :meth:`from_per_year` does the same.
    """

    supply_kink: int = 0
    supply_per_second_interest_rate_slope_low: int = 0
    supply_per_second_interest_rate_slope_high: int = 0
    supply_per_second_interest_rate_base: int = 0
    borrow_kink: int = 0
    borrow_per_second_interest_rate_slope_low: int = 0
    borrow_per_second_interest_rate_slope_high: int = 0
    borrow_per_second_interest_rate_base: int = 0

    def __post_init__(self) -> None:
        for f in _IRM_FIELDS:
            object.__setattr__(self, f, uint(getattr(self, f), f, 64))

    @classmethod
    def from_per_year(
        cls,
        supply_kink: int,
        supply_per_year_interest_rate_slope_low: int,
        supply_per_year_interest_rate_slope_high: int,
        supply_per_year_interest_rate_base: int,
        borrow_kink: int,
        borrow_per_year_interest_rate_slope_low: int,
        borrow_per_year_interest_rate_slope_high: int,
        borrow_per_year_interest_rate_base: int,
    ) -> InterestRateModel:
        """Return the per-second model of a ``Configuration``'s per-year rates (uint64, 1e18)."""

        def ps(v: int, name: str) -> int:
            return uint(v, name, 64) // SECONDS_PER_YEAR

        return cls(
            uint(supply_kink, "supply_kink", 64),
            ps(supply_per_year_interest_rate_slope_low, "supply_per_year_interest_rate_slope_low"),
            ps(supply_per_year_interest_rate_slope_high, "supply_per_year_interest_rate_slope_high"),
            ps(supply_per_year_interest_rate_base, "supply_per_year_interest_rate_base"),
            uint(borrow_kink, "borrow_kink", 64),
            ps(borrow_per_year_interest_rate_slope_low, "borrow_per_year_interest_rate_slope_low"),
            ps(borrow_per_year_interest_rate_slope_high, "borrow_per_year_interest_rate_slope_high"),
            ps(borrow_per_year_interest_rate_base, "borrow_per_year_interest_rate_base"),
        )


_IRM_FIELDS: Final = tuple(f.name for f in fields(InterestRateModel))


@dataclass(frozen=True, slots=True)
class Comet(JsonRecord):
    """A Compound III market: its configuration, storage, feed answers and token balances.

    Defaults follow Comet's own test harness (``test/helpers.ts`` ``makeProtocol``) where it has
    one: fresh indexes (1e15), store-front price factor 1, target reserves 0, tracking index
    scale 1e15; interest rates and tracking speeds are zero.

    Attributes
    ----------
    base_token : str
        The base token's key (address or symbol); no collateral may share it.
    base_decimals : int
        Decimals of the base token, 6 to 18 (``baseScale = 10**base_decimals``, at least
        ``BASE_ACCRUAL_SCALE``; the constructor reverts ``BadDecimals`` otherwise).
    base_price : int
        The base token's feed answer (8 decimals, int256; ``BadPrice`` when read if <= 0).
    assets : tuple of AssetInfo
        The collateral assets, ``assets[i].offset == i``, at most :data:`MAX_ASSETS`.
    accounts : Mapping[str, CometAccount]
        Accounts by key; an absent account is all zeros, as in contract storage.
    base_supply_index, base_borrow_index : int
        ``baseSupplyIndex``/``baseBorrowIndex`` (uint64, scaled 1e15, at least 1e15: they start
        there and only grow).
    tracking_supply_index, tracking_borrow_index : int
        Reward tracking indexes (uint64).
    total_supply_base, total_borrow_base : int
        Total supply and borrow principal (uint104), base units at index 1.
    last_accrual_time : int
        ``lastAccrualTime``, seconds since the epoch (uint40).
    pause_flags : int
        ``pauseFlags`` (uint8): bit 3 pauses absorb, bit 4 buyCollateral.
    totals_collateral : Mapping[str, int]
        ``totalsCollateral[asset].totalSupplyAsset`` (uint128); absent means 0.
    base_balance : int
        The base token's ``balanceOf(comet)`` (read by ``getReserves``).
    collateral_balances : Mapping[str, int]
        Each collateral token's ``balanceOf(comet)``; absent means equal to its total supplied
        (no collateral reserves).  ``getCollateralReserves`` is the difference.
    store_front_price_factor : int
        Share of the liquidation penalty given to collateral buyers (1e18 scale, at most 1e18:
        ``BadDiscount``).
    target_reserves : int
        Reserves (base units, uint104) at or above which ``buyCollateral`` reverts ``NotForSale``.
    tracking_index_scale : int
        Scale of reward tracking (uint64, at least 1).
    base_tracking_supply_speed, base_tracking_borrow_speed : int
        Reward tracking speeds per second (uint64).
    base_min_for_rewards : int
        Least total principal (uint104, > 0: ``BadMinimum``) for the tracking indexes to move.
    rates : InterestRateModel
        The per-second kink rate model.
    """

    base_token: str
    base_decimals: int
    base_price: int
    assets: tuple[AssetInfo, ...] = ()
    accounts: Mapping[str, CometAccount] = field(default_factory=empty_mapping)
    base_supply_index: int = BASE_INDEX_SCALE
    base_borrow_index: int = BASE_INDEX_SCALE
    tracking_supply_index: int = 0
    tracking_borrow_index: int = 0
    total_supply_base: int = 0
    total_borrow_base: int = 0
    last_accrual_time: int = 0
    pause_flags: int = 0
    totals_collateral: Mapping[str, int] = field(default_factory=empty_mapping)
    base_balance: int = 0
    collateral_balances: Mapping[str, int] = field(default_factory=empty_mapping)
    store_front_price_factor: int = FACTOR_SCALE
    target_reserves: int = 0
    tracking_index_scale: int = 10**15
    base_tracking_supply_speed: int = 0
    base_tracking_borrow_speed: int = 0
    base_min_for_rewards: int = 1
    rates: InterestRateModel = field(default_factory=InterestRateModel)

    def __post_init__(self) -> None:
        s = object.__setattr__
        base = name_arg(self.base_token, "base_token")
        d = uint(self.base_decimals, "base_decimals", 8)
        if not 6 <= d <= MAX_BASE_DECIMALS:
            raise CometError("BadDecimals", f"base_decimals must be in [6, 18], was {d}")
        s(self, "base_decimals", d)
        s(self, "base_price", sint(self.base_price, "base_price"))
        assets = tuple(self.assets) if isinstance(self.assets, tuple | list) else None
        if assets is None or not all(isinstance(a, AssetInfo) for a in assets):
            raise InputError(f"assets must be a tuple of AssetInfo, was {show(self.assets)}")
        if len(assets) > MAX_ASSETS:
            raise CometError("TooManyAssets", f"{len(assets)} assets > {MAX_ASSETS}")
        names = [a.asset for a in assets]
        for i, a in enumerate(assets):
            if a.offset != i:
                raise InputError(f"assets[{i}].offset must be {i}, was {a.offset}")
        if len(set(names)) != len(names) or base in names:
            raise InputError(f"asset keys must be unique and differ from base_token {base!r}, were {names}")
        s(self, "assets", assets)
        known = set(names)

        def keys(m: Mapping[str, int], what: str) -> None:
            if not set(m) <= known:
                raise InputError(f"{what} has keys that are no listed asset: {sorted(set(m) - known)}")

        if not isinstance(self.accounts, Mapping) or not all(
            isinstance(k, str) and isinstance(v, CometAccount) for k, v in self.accounts.items()
        ):
            raise InputError(f"accounts must map str to CometAccount, was {show(self.accounts)}")
        s(self, "accounts", MappingProxyType(dict(self.accounts)))
        for k, acc in self.accounts.items():
            keys(acc.collateral, f"accounts[{k!r}].collateral")
        for name in ("base_supply_index", "base_borrow_index"):
            v = uint(getattr(self, name), name, 64)
            if v < BASE_INDEX_SCALE:
                raise InputError(f"{name} must be >= 1e15 (it starts there and only grows), was {v}")
            s(self, name, v)
        for name, bits in (
            ("tracking_supply_index", 64),
            ("tracking_borrow_index", 64),
            ("total_supply_base", 104),
            ("total_borrow_base", 104),
            ("last_accrual_time", 40),
            ("pause_flags", 8),
            ("base_balance", 256),
            ("target_reserves", 104),
            ("tracking_index_scale", 64),
            ("base_tracking_supply_speed", 64),
            ("base_tracking_borrow_speed", 64),
            ("base_min_for_rewards", 104),
        ):
            s(self, name, uint(getattr(self, name), name, bits))
        for name, bits in (("totals_collateral", 128), ("collateral_balances", 256)):
            m = uint_map(getattr(self, name), name, bits)
            keys(m, name)
            s(self, name, m)
        sfpf = uint(self.store_front_price_factor, "store_front_price_factor", 64)
        if sfpf > FACTOR_SCALE:
            raise CometError("BadDiscount", f"store_front_price_factor {sfpf} > 1e18")
        s(self, "store_front_price_factor", sfpf)
        if self.base_min_for_rewards == 0:
            raise CometError("BadMinimum", "base_min_for_rewards must be > 0")
        if self.tracking_index_scale == 0:
            raise InputError("tracking_index_scale must be >= 1, was 0")
        if not isinstance(self.rates, InterestRateModel):
            raise InputError(f"rates must be an InterestRateModel, was {type(self.rates).__name__}")

    @property
    def base_scale(self) -> int:
        """``baseScale = 10**base_decimals``."""
        return int(10**self.base_decimals)

    @property
    def accrual_descale_factor(self) -> int:
        """``accrualDescaleFactor = baseScale / BASE_ACCRUAL_SCALE``."""
        return self.base_scale // BASE_ACCRUAL_SCALE

    def account(self, key: str) -> CometAccount:
        """Return the account's storage (all zeros when absent)."""
        acc = self.accounts.get(name_arg(key, "account"))
        return acc if acc is not None else _EMPTY_ACCOUNT

    def asset_info_by_address(self, asset: str) -> AssetInfo:
        """Return the asset's info (Comet.sol ``getAssetInfoByAddress``; ``BadAsset`` if unlisted)."""
        for a in self.assets:
            if a.asset == asset:
                return a
        raise CometError("BadAsset", f"{asset!r} is no collateral asset of this market")

    def assets_in(self, key: str) -> int:
        """Return the account's ``assetsIn`` bitmap (derived from its balances unless stored)."""
        acc = self.account(key)
        if acc.assets_in is not None:
            return acc.assets_in
        return sum(1 << a.offset for a in self.assets if acc.collateral.get(a.asset, 0))

    def collateral_balance(self, asset: str) -> int:
        """Return the collateral token's ``balanceOf(comet)`` (see ``collateral_balances``)."""
        v = self.collateral_balances.get(name_arg(asset, "asset"))
        return v if v is not None else self.totals_collateral.get(asset, 0)


_EMPTY_ACCOUNT: Final = CometAccount()


def as_comet(comet: object) -> Comet:
    """Return ``comet`` if it is a :class:`Comet`, else raise :class:`InputError`."""
    if not isinstance(comet, Comet):
        raise InputError(f"comet must be a Comet, was {type(comet).__name__}")
    return comet
