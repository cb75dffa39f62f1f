"""Collateral value ratios (haircuts) of unified accounts, as versioned data.

Each :class:`CollateralTable` holds the ratios of one venue with the page it was read from
(``source``) and the date that page carries (``as_of``); each asset row names its own source when
it differs.  Only numbers read from the venues' pages are here; an asset missing from a table must
be given in the account spec (``collateral_ratios``, in the venue's API shape), and the engine
says so naming the asset.

Tiers are progressive: the ratio of a tier applies to the part of the amount inside that tier
(Binance's cross-margin collateral example: 100,000,000 x 100 % + 20,000,000 x 97.5 %).  Bybit
tiers are by quantity of the coin; Binance tiers are by USD value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from levguard.core.validate import as_float, show
from levguard.errors import InputError

__all__ = [
    "BINANCE_PM",
    "BYBIT_UTA",
    "CollateralTable",
    "CollateralTiers",
    "collateral_tiers_from_spec",
]

Basis = Literal["qty", "usd_value"]


@dataclass(frozen=True, slots=True)
class CollateralTiers:
    """Progressive collateral ratios of one asset.

    Parameters
    ----------
    asset : str
        Coin name (``"BTC"``).
    floors : tuple of float
        Lower bound of each tier, ascending, the first 0; a tier ends where the next begins (the
        last one is open).  In coins (``basis="qty"``) or USD (``basis="usd_value"``).
    ratios : tuple of float
        Collateral value ratio of each tier, fractions in [0, 1].
    basis : {"qty", "usd_value"}
        What the floors measure.
    source : str
        Where the numbers come from ("" when the table's own source).
    """

    asset: str
    floors: tuple[float, ...]
    ratios: tuple[float, ...]
    basis: Basis
    source: str = ""

    def __post_init__(self) -> None:
        if not self.floors or len(self.floors) != len(self.ratios):
            raise InputError(f"{self.asset}: collateral tiers need one ratio per floor, was {self.floors!r}")
        if self.floors[0] != 0.0:
            raise InputError(f"{self.asset}: the first collateral tier must start at 0, was {self.floors[0]!r}")
        for a, b in zip(self.floors, self.floors[1:], strict=False):
            if not b > a:
                raise InputError(f"{self.asset}: collateral tier floors must increase, was {self.floors!r}")
        for r in self.ratios:
            if not (math.isfinite(r) and 0.0 <= r <= 1.0):
                raise InputError(f"{self.asset}: collateral ratios must be fractions in [0, 1], was {r!r}")

    def value(self, amount: float, price: float) -> float:
        """Return the USD value after haircut of ``amount`` coins at ``price`` USD.

        Notes
        -----
        ``value = sum_k r_k * (min(x, f_{k+1}) - f_k)^+`` over tiers ``k`` with ``x`` the amount
        (``basis="qty"``, then times the price) or its USD value (``basis="usd_value"``).  Only a
        positive amount takes a haircut: a negative one (a debt) counts at face value (Bybit: "For
        assets with a negative balance default to a 100% collateral value ratio"; Binance:
        ``min(x * collateralRate, x)`` is ``x`` for ``x < 0``).
        """
        if amount <= 0.0:
            return amount * price
        x = amount if self.basis == "qty" else amount * price
        covered = 0.0
        n = len(self.floors)
        for k in range(n):
            lo = self.floors[k]
            if x <= lo:
                break
            hi = self.floors[k + 1] if k + 1 < n else math.inf
            covered += self.ratios[k] * (min(x, hi) - lo)
        return covered * price if self.basis == "qty" else covered


@dataclass(frozen=True, slots=True)
class CollateralTable:
    """The collateral ratios of one venue's unified account (versioned data)."""

    venue: str
    basis: Basis
    source: str
    as_of: str
    note: str
    assets: Mapping[str, CollateralTiers] = field(default_factory=dict)

    def get(self, asset: str) -> CollateralTiers | None:
        """Return the tiers of ``asset`` or None when the table has none."""
        return self.assets.get(asset)


def _table(
    venue: str, basis: Basis, source: str, as_of: str, note: str, rows: Sequence[CollateralTiers]
) -> CollateralTable:
    return CollateralTable(venue, basis, source, as_of, note, MappingProxyType({r.asset: r for r in rows}))


BYBIT_UTA = _table(
    "bybit-uta",
    "qty",
    "https://www.bybit.com/en/help-center/article/Assets-Collateral-Value-Ratio-List-UTA "
    "('Understanding Collateral Value Ratios in Unified Trading Account', read from its copy at "
    "testnet.bytick.com, last updated 2025-09-18 17:04:44)",
    "2025-09-18",
    "Bybit's own example table ('Assume the tiered value rates of BTC and USDT are shown as follows'); "
    "the live ratios are at GET /v5/spot-margin-trade/collateral (minQty, maxQty, collateralRatio). "
    "ETH and USDC ratios were not found in a stored Bybit page: give them in collateral_ratios.",
    (
        CollateralTiers("BTC", (0.0, 10.0, 20.0, 30.0, 40.0, 50.0), (0.98, 0.95, 0.9, 0.85, 0.8, 0.0), "qty"),
        CollateralTiers("USDT", (0.0,), (1.0,), "qty"),
    ),
)
"""Bybit Unified Trading Account collateral value ratios (tiers by coin quantity)."""

BINANCE_PM = _table(
    "binance-pm",
    "usd_value",
    "https://www.binance.com/en/support/faq/146ac090710a49f99c4732b00f8c09df "
    "('Binance Portfolio Margin Program Supported Collateral and Rates', 2022-04-18: "
    "'3 BTC*0.95 = 2.85 BTC')",
    "2022-04-18",
    "Since 2024-09-11 Binance applies tiered collateral rates (GET /sapi/v2/portfolio/collateralRate: "
    "tierFloor, tierCap, collateralRate); pass current tiers in collateral_ratios. ETH was not found in "
    "a stored Binance page: give it in collateral_ratios.",
    (
        CollateralTiers("BTC", (0.0,), (0.95,), "usd_value"),
        CollateralTiers(
            "USDC",
            (0.0,),
            (1.0,),
            "usd_value",
            "https://developers.binance.com/docs/derivatives/portfolio-margin-pro/market-data/"
            "Classic-Portfolio-Margin-Collateral-Rate (response example: USDC collateralRate 1.0000)",
        ),
        CollateralTiers(
            "USDT",
            (0.0,),
            (1.0,),
            "usd_value",
            "https://developers.binance.com/docs/margin_trading/market-data (crossMarginCollateralRatio "
            "response example: USDT discountRate 1 from 0 USD; Binance's cross-margin table, the rate "
            "Portfolio Margin's USDⓈ-M settlement asset is valued at in the uniMMR examples)",
        ),
    ),
)
"""Binance Portfolio Margin collateral rates (tiers by USD value)."""

# Row keys accepted in ``collateral_ratios``: ours, Bybit v5's and Binance's API shapes.
_FLOOR_KEYS = ("floor", "minQty", "tierFloor", "minUsdValue")
_RATIO_KEYS = ("ratio", "collateralRatio", "collateralRate", "discountRate")
_CAP_KEYS = ("cap", "maxQty", "tierCap", "maxUsdValue")


def _pick(row: Mapping[str, Any], keys: Sequence[str], where: str, *, required: bool) -> object:
    found = [k for k in keys if k in row]
    if len(found) > 1:
        raise InputError(f"{where} has several of {list(found)}; give one")
    if not found:
        if required:
            raise InputError(f"{where} needs one of {list(keys)}, was {show(dict(row))}")
        return None
    return row[found[0]]


def collateral_tiers_from_spec(asset: str, raw: object, basis: Basis, where: str) -> CollateralTiers:
    """Build an asset's tiers from the spec: a number (one ratio) or a list of tier rows.

    A row is ``{"floor", "ratio"}`` (``"cap"`` optional, checked against the next floor), or Bybit's
    ``{"minQty", "maxQty", "collateralRatio"}``, or Binance's ``{"tierFloor", "tierCap",
    "collateralRate"}`` / ``{"minUsdValue", "maxUsdValue", "discountRate"}``; numbers may be
    strings as the venues send them.  ``basis`` is the venue's (Bybit: coins; Binance: USD).
    """
    if isinstance(raw, int | float | str) and not isinstance(raw, bool):
        ratio = as_float(raw, where)
        return CollateralTiers(asset, (0.0,), (ratio,), basis, "account spec")
    if not isinstance(raw, Sequence) or isinstance(raw, bytes) or not raw:
        raise InputError(f"{where} must be a ratio or a non-empty list of tier rows, was {show(raw)}")
    rows: list[tuple[float, float, float | None]] = []
    for i, row in enumerate(raw):
        w = f"{where}[{i}]"
        if not isinstance(row, Mapping):
            raise InputError(f"{w} must be an object, was {show(row)}")
        floor = as_float(_pick(row, _FLOOR_KEYS, w, required=True), f"{w}.floor")
        ratio = as_float(_pick(row, _RATIO_KEYS, w, required=True), f"{w}.ratio")
        cap_raw = _pick(row, _CAP_KEYS, w, required=False)
        cap = None if cap_raw in (None, "") else as_float(cap_raw, f"{w}.cap")
        rows.append((floor, ratio, cap))
    rows.sort(key=lambda r: r[0])
    for (_f0, _, cap), (f1, _, _) in itertools.pairwise(rows):
        if cap is not None and cap != f1:
            raise InputError(f"{where}: tier cap {cap!r} must equal the next tier's floor {f1!r}")
    try:
        return CollateralTiers(asset, tuple(r[0] for r in rows), tuple(r[1] for r in rows), basis, "account spec")
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
