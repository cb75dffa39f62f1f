"""Collateral value ratios (haircuts) of unified accounts, as versioned data.

Each :class:`CollateralTable` holds the ratios of one venue with the page it was read from
(``source``) and the date that page carries (``as_of``); each asset row names its own source when
it differs.  Only numbers read from the venues' pages are here; an asset missing from a table must
be given in the account spec (``collateral_ratios``, in the venue's API shape), and the engine
says so naming the asset.

Tiers are progressive: the ratio of a tier applies to the part of the amount inside that tier
(Binance's cross-margin collateral example: 100,000,000 x 100 % + 20,000,000 x 97.5 %; OKX's
multi-currency example: 100 BTC over seven tiers -> 96.425 BTC).  Bybit and OKX tiers are by
quantity of the coin; Binance tiers are by USD value.  Every built-in table is written in its
venue's API shape and read by the same parser a live payload goes through
(:func:`collateral_table_from_api`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from levguard.core.validate import as_float, show
from levguard.errors import InputError
from levguard.kernels.joint import haircut_value

__all__ = [
    "BINANCE_PM",
    "BYBIT_UTA",
    "OKX_MCM",
    "CollateralTable",
    "CollateralTiers",
    "binance_pm_collateral_tiers",
    "bybit_collateral_tiers",
    "collateral_table_from_api",
    "collateral_tiers_from_spec",
    "okx_discount_tiers",
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
        # The one implementation is the scenario kernel's (levguard.kernels.joint.haircut_value).
        floors = np.asarray(self.floors, dtype=float)
        ratios = np.asarray(self.ratios, dtype=float)
        return float(haircut_value(amount, price, floors, ratios, self.basis == "qty"))


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


# Row keys accepted in ``collateral_ratios`` and in the API payloads: ours, Bybit v5's, Binance's
# and OKX v5's shapes.
_FLOOR_KEYS = ("floor", "minQty", "tierFloor", "minUsdValue", "minAmt")
_RATIO_KEYS = ("ratio", "collateralRatio", "collateralRate", "discountRate")
_CAP_KEYS = ("cap", "maxQty", "tierCap", "maxUsdValue", "maxAmt")


# What a tier bound measures, read from its key: coins (Bybit's minQty/maxQty, OKX's minAmt/
# maxAmt) or USD value (Binance's tierFloor/tierCap, minUsdValue/maxUsdValue); ours (floor, cap)
# measure the venue's basis.
_KEY_BASIS: Mapping[str, Basis] = MappingProxyType(
    {
        "minQty": "qty",
        "maxQty": "qty",
        "minAmt": "qty",
        "maxAmt": "qty",
        "tierFloor": "usd_value",
        "tierCap": "usd_value",
        "minUsdValue": "usd_value",
        "maxUsdValue": "usd_value",
    }
)
_BASIS_WORDS: Mapping[Basis, str] = MappingProxyType({"qty": "coin amounts", "usd_value": "USD values"})


def _pick_key(row: Mapping[str, Any], keys: Sequence[str], where: str, *, required: bool) -> str | None:
    found = [k for k in keys if k in row]
    if len(found) > 1:
        raise InputError(f"{where} has several of {list(found)}; give one")
    if not found:
        if required:
            raise InputError(f"{where} needs one of {list(keys)}, was {show(dict(row))}")
        return None
    return found[0]


def _pick(row: Mapping[str, Any], keys: Sequence[str], where: str, *, required: bool) -> object:
    key = _pick_key(row, keys, where, required=required)
    return None if key is None else row[key]


def collateral_tiers_from_spec(
    asset: str, raw: object, basis: Basis, where: str, *, beyond: float = 0.0, source: str = "account spec"
) -> CollateralTiers:
    """Build an asset's tiers from the spec: a number (one ratio) or a list of tier rows.

    A row is ``{"floor", "ratio"}`` (``"cap"`` optional, checked against the next floor), or Bybit's
    ``{"minQty", "maxQty", "collateralRatio"}``, or Binance's ``{"tierFloor", "tierCap",
    "collateralRate"}`` / ``{"minUsdValue", "maxUsdValue", "discountRate"}``, or OKX's ``{"minAmt",
    "maxAmt", "discountRate"}``; numbers may be strings as the venues send them (``""`` for an open
    cap).  The tiers' basis is the one their keys name: ``minQty``/``maxQty`` and
    ``minAmt``/``maxAmt`` bound coin amounts, ``tierFloor``/``tierCap`` and
    ``minUsdValue``/``maxUsdValue`` USD values, whatever the venue (OKX coin tiers on a
    ``binance-pm`` account count coins); ``floor``/``cap`` and a single ratio take ``basis``, the
    venue's (Bybit, OKX: coins; Binance: USD).  Rows naming both bases are refused naming the key.

    Notes
    -----
    When the last row has a finite cap, the part of the amount above it counts at ``beyond``
    (OKX's ``minDiscountRate``, "Minimum discount rate when it exceeds the maximum amount of the
    last tier"; 0 where the venue states none: nothing a published table does not cover is
    counted).  Binance's ``cum`` ("account equity quick addition number") is not read: the
    progressive sum is computed from the tiers themselves.
    """
    if isinstance(raw, int | float | str) and not isinstance(raw, bool):
        ratio = as_float(raw, where)
        return CollateralTiers(asset, (0.0,), (ratio,), basis, source)
    if not isinstance(raw, Sequence) or isinstance(raw, bytes) or not raw:
        raise InputError(f"{where} must be a ratio or a non-empty list of tier rows, was {show(raw)}")
    rows: list[tuple[float, float, float | None]] = []
    named: tuple[Basis, str] | None = None  # the basis the keys name, and the first key naming it
    for i, row in enumerate(raw):
        w = f"{where}[{i}]"
        if not isinstance(row, Mapping):
            raise InputError(f"{w} must be an object, was {show(row)}")
        for key in (_pick_key(row, _FLOOR_KEYS, w, required=True), _pick_key(row, _CAP_KEYS, w, required=False)):
            b = _KEY_BASIS.get(key or "")
            if b is None:
                continue
            if named is not None and named[0] != b:
                raise InputError(
                    f"{w}.{key} bounds {_BASIS_WORDS[b]}, but {named[1]} bounds {_BASIS_WORDS[named[0]]}; "
                    "give every tier on one basis"
                )
            named = named or (b, f"{w}.{key}")
        floor = as_float(_pick(row, _FLOOR_KEYS, w, required=True), f"{w}.floor")
        ratio = as_float(_pick(row, _RATIO_KEYS, w, required=True), f"{w}.ratio")
        cap_raw = _pick(row, _CAP_KEYS, w, required=False)
        cap = None if cap_raw in (None, "") else as_float(cap_raw, f"{w}.cap")
        rows.append((floor, ratio, cap))
    rows.sort(key=lambda r: r[0])
    for (_f0, _, cap), (f1, _, _) in itertools.pairwise(rows):
        if cap is not None and cap != f1:
            raise InputError(f"{where}: tier cap {cap!r} must equal the next tier's floor {f1!r}")
    floors = [r[0] for r in rows]
    ratios = [r[1] for r in rows]
    last_cap = rows[-1][2]
    if last_cap is not None:
        if not last_cap > floors[-1]:
            raise InputError(f"{where}: the last tier's cap {last_cap!r} must exceed its floor {floors[-1]!r}")
        floors.append(last_cap)
        ratios.append(beyond)
    try:
        return CollateralTiers(asset, tuple(floors), tuple(ratios), basis if named is None else named[0], source)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


# --- the venues' API shapes -> tables -----------------------------------------------------------


def _rows_of(payload: object, keys: Sequence[str], where: str) -> Sequence[Any]:
    # Unwrap a venue envelope ({"result": {"list": [...]}}, {"data": [...]}) down to its list.
    node = payload
    for key in keys:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
    if not isinstance(node, Sequence) or isinstance(node, str | bytes):
        raise InputError(f"{where} must be the endpoint's JSON (a list of assets), was {show(payload)}")
    return node


def _asset_of(item: object, key: str, where: str) -> str:
    if not isinstance(item, Mapping):
        raise InputError(f"{where} must be an object, was {show(item)}")
    name = item.get(key)
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}.{key} must be an asset name, was {show(name)}")
    return name.strip().upper()


def bybit_collateral_tiers(payload: object, *, source: str = "") -> dict[str, CollateralTiers]:
    """Parse Bybit v5 ``GET /v5/spot-margin-trade/collateral`` (tiered collateral ratio).

    Parameters
    ----------
    payload : object
        The decoded JSON: the whole response (``{"retCode": 0, "result": {"list": [...]}}``), its
        ``result`` or its ``list``; each item ``{"currency", "collateralRatioList": [{"minQty",
        "maxQty", "collateralRatio"}]}`` with ``maxQty`` ``""`` for positive infinity.
    source : str
        Provenance stored on each asset's tiers.

    Returns
    -------
    dict
        Asset -> :class:`CollateralTiers` on the coin-quantity basis.

    Notes
    -----
    Shape: bybit-exchange.github.io/docs/v5/spot-margin-uta/tier-collateral-ratio ("Upper limit (in
    coin) of the tiered range, "" means positive infinity").
    """
    out: dict[str, CollateralTiers] = {}
    for i, item in enumerate(_rows_of(payload, ("result", "list"), "bybit collateral payload")):
        where = f"list[{i}]"
        name = _asset_of(item, "currency", where)
        out[name] = collateral_tiers_from_spec(
            name, item.get("collateralRatioList"), "qty", f"{where}.collateralRatioList", source=source
        )
    return out


def binance_pm_collateral_tiers(payload: object, *, source: str = "") -> dict[str, CollateralTiers]:
    """Parse Binance Portfolio Margin collateral rates, tiered (v2) or single (v1).

    Parameters
    ----------
    payload : object
        ``GET /sapi/v2/portfolio/collateralRate``: ``[{"asset", "collateralInfo": [{"tierFloor",
        "tierCap", "collateralRate", "cum"}]}]`` (tiers by USD value); or the classic ``GET
        /sapi/v1/portfolio/collateralRate``: ``[{"asset", "collateralRate"}]`` (one rate).
    source : str
        As in :func:`bybit_collateral_tiers`.

    Returns
    -------
    dict
        Asset -> :class:`CollateralTiers` on the USD-value basis.

    Notes
    -----
    Shapes: developers.binance.com/docs/derivatives/portfolio-margin-pro/market-data/
    Portfolio-Margin-Pro-Tiered-Collateral-Rate and .../Classic-Portfolio-Margin-Collateral-Rate.
    The value above the last ``tierCap`` counts at 0 (see :func:`collateral_tiers_from_spec`).
    """
    out: dict[str, CollateralTiers] = {}
    for i, item in enumerate(_rows_of(payload, ("data",), "binance collateral payload")):
        where = f"[{i}]"
        name = _asset_of(item, "asset", where)
        if "collateralInfo" in item:
            raw = item["collateralInfo"]
            out[name] = collateral_tiers_from_spec(name, raw, "usd_value", f"{where}.collateralInfo", source=source)
        else:
            rate = _pick(item, ("collateralRate",), where, required=True)
            out[name] = collateral_tiers_from_spec(name, rate, "usd_value", f"{where}.collateralRate", source=source)
    return out


def okx_discount_tiers(payload: object, *, source: str = "") -> dict[str, CollateralTiers]:
    """Parse OKX v5 ``GET /api/v5/public/discount-rate-interest-free-quota``.

    Parameters
    ----------
    payload : object
        The decoded JSON (``{"code": "0", "data": [...]}`` or its ``data``); each item ``{"ccy",
        "details": [{"minAmt", "maxAmt", "discountRate", "tier", ...}], "minDiscountRate"}`` with
        amounts in coins ("The unit is the currency like BTC"; ``maxAmt`` ``""`` for infinity).
    source : str
        As in :func:`bybit_collateral_tiers`.

    Returns
    -------
    dict
        Asset -> :class:`CollateralTiers` on the coin-quantity basis; above the last tier's
        ``maxAmt`` the amount counts at ``minDiscountRate`` (0 when absent).

    Notes
    -----
    Shape: okx.com/docs-v5/en/#public-data-rest-api-get-discount-rate-and-interest-free-quota.
    The deprecated ``discountInfo`` list (older SDKs) is read when ``details`` is absent.
    """
    out: dict[str, CollateralTiers] = {}
    for i, item in enumerate(_rows_of(payload, ("data",), "okx discount payload")):
        where = f"data[{i}]"
        name = _asset_of(item, "ccy", where)
        key = "details" if "details" in item else "discountInfo"
        beyond_raw = item.get("minDiscountRate")
        beyond = 0.0 if beyond_raw in (None, "") else as_float(beyond_raw, f"{where}.minDiscountRate")
        out[name] = collateral_tiers_from_spec(
            name, item.get(key), "qty", f"{where}.{key}", beyond=beyond, source=source
        )
    return out


_PARSERS: Mapping[str, tuple[Basis, Callable[..., dict[str, CollateralTiers]]]] = {
    "bybit-uta": ("qty", bybit_collateral_tiers),
    "binance-pm": ("usd_value", binance_pm_collateral_tiers),
    "okx-mcm": ("qty", okx_discount_tiers),
}


def collateral_table_from_api(
    venue: str, payload: object, *, source: str, as_of: str, note: str = ""
) -> CollateralTable:
    """Build a venue's :class:`CollateralTable` from its endpoint's JSON.

    ``venue`` is ``"bybit-uta"`` (``GET /v5/spot-margin-trade/collateral``), ``"binance-pm"`` (``GET
    /sapi/v2/portfolio/collateralRate`` or v1) or ``"okx-mcm"`` (``GET
    /api/v5/public/discount-rate-interest-free-quota``); ``source`` and ``as_of`` (``YYYY-MM-DD``)
    record where and when the payload was read.  The built-in tables are made this way.
    """
    if not isinstance(venue, str) or venue not in _PARSERS:  # a list was a raw TypeError (unhashable)
        raise InputError(f"venue must be one of {sorted(_PARSERS)}, was {show(venue)}")
    if not (isinstance(as_of, str) and len(as_of) == 10 and as_of[4] == "-" and as_of[7] == "-"):
        raise InputError(f"as_of must be a date YYYY-MM-DD, was {show(as_of)}")
    basis, parse = _PARSERS[venue]
    return _table(venue, basis, source, as_of, note, tuple(parse(payload, source="").values()))


# --- built-in snapshots (each in its venue's API shape, parsed as above) ------------------------

BYBIT_UTA = collateral_table_from_api(
    "bybit-uta",
    {
        "list": [
            {
                "currency": "BTC",
                "collateralRatioList": [
                    {"minQty": "0", "maxQty": "10", "collateralRatio": "0.98"},
                    {"minQty": "10", "maxQty": "20", "collateralRatio": "0.95"},
                    {"minQty": "20", "maxQty": "30", "collateralRatio": "0.9"},
                    {"minQty": "30", "maxQty": "40", "collateralRatio": "0.85"},
                    {"minQty": "40", "maxQty": "50", "collateralRatio": "0.8"},
                    {"minQty": "50", "maxQty": "", "collateralRatio": "0"},
                ],
            },
            {"currency": "USDT", "collateralRatioList": [{"minQty": "0", "maxQty": "", "collateralRatio": "1"}]},
        ]
    },
    source=(
        "https://www.bybit.com/en/help-center/article/Assets-Collateral-Value-Ratio-List-UTA "
        "('Understanding Collateral Value Ratios in Unified Trading Account', read from its copy at "
        "testnet.bytick.com, last updated 2025-09-18 17:04:44)"
    ),
    as_of="2025-09-18",
    note=(
        "Bybit's own example table ('Assume the tiered value rates of BTC and USDT are shown as follows'); "
        "the live ratios are at GET /v5/spot-margin-trade/collateral (minQty, maxQty, collateralRatio): read "
        "them with collateral_table_from_api('bybit-uta', payload, ...). ETH, SOL, XRP, USDC and BNB ratios "
        "were not found in a stored Bybit page (the list page is rendered by script): give them in "
        "collateral_ratios."
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
    "tierFloor, tierCap, collateralRate): read them with collateral_table_from_api('binance-pm', payload, "
    "...) or pass them in collateral_ratios. The per-asset list (ETH, SOL, XRP, BNB) lives on Binance's "
    "script-rendered trading-rules page and was not found in a stored copy.",
    (
        *binance_pm_collateral_tiers([{"asset": "BTC", "collateralRate": "0.95"}]).values(),
        *binance_pm_collateral_tiers(
            [{"asset": "USDC", "collateralRate": "1.0000"}],
            source=(
                "https://developers.binance.com/docs/derivatives/portfolio-margin-pro/market-data/"
                "Classic-Portfolio-Margin-Collateral-Rate (response example: USDC collateralRate 1.0000)"
            ),
        ).values(),
        *binance_pm_collateral_tiers(
            [{"asset": "USDT", "collateralRate": "1"}],
            source=(
                "https://developers.binance.com/docs/margin_trading/market-data (crossMarginCollateralRatio "
                "response example: USDT discountRate 1 from 0 USD; Binance's cross-margin table, the rate "
                "Portfolio Margin's USDⓈ-M settlement asset is valued at in the uniMMR examples)"
            ),
        ).values(),
    ),
)
"""Binance Portfolio Margin collateral rates (tiers by USD value)."""

OKX_MCM = collateral_table_from_api(
    "okx-mcm",
    {
        "code": "0",
        "data": [
            {
                "ccy": "BTC",
                "details": [
                    {"tier": "1", "minAmt": "0", "maxAmt": "20", "discountRate": "0.98"},
                    {"tier": "2", "minAmt": "20", "maxAmt": "25", "discountRate": "0.975"},
                    {"tier": "3", "minAmt": "25", "maxAmt": "30", "discountRate": "0.97"},
                    {"tier": "4", "minAmt": "30", "maxAmt": "50", "discountRate": "0.965"},
                    {"tier": "5", "minAmt": "50", "maxAmt": "70", "discountRate": "0.96"},
                    {"tier": "6", "minAmt": "70", "maxAmt": "90", "discountRate": "0.955"},
                    {"tier": "7", "minAmt": "90", "maxAmt": "110", "discountRate": "0.95"},
                ],
                "minDiscountRate": "0",
            },
            {
                "ccy": "USDT",
                "details": [
                    {"tier": "1", "minAmt": "0", "maxAmt": "5000000", "discountRate": "1"},
                    {"tier": "2", "minAmt": "5000000", "maxAmt": "10000000", "discountRate": "0.9"},
                    {"tier": "3", "minAmt": "10000000", "maxAmt": "", "discountRate": "0.8"},
                ],
            },
        ],
    },
    source=(
        "OKX Help Center 'IV. Multi-currency margin mode: cross margin trading' (okx.com/help/"
        "iv-multi-currency-margin-mode-cross-margin-trading, stored copy updated 2024-10-25): BTC discount "
        "example (100 BTC at 60,000 USD -> 5,785,500 USD), its tier table read through a transcription "
        "(third-party skill notes on the OKX unified account API); USDT: OKX's example in its 2022 "
        "announcement 'OKX to adjust discount rates for LUNA in multi-currency margin mode' (11,000,000 "
        "USDT -> 10,300,000 USD), read through a transcription (ukcamo.com/6126.html)"
    ),
    as_of="2024-10-25",
    note=(
        "OKX's illustrative tiers, not a current schedule (OKX revises them by announcement, e.g. the "
        "2025-06-23 step-size change). Above 110 BTC the example states no rate: counted at 0. Live tiers: "
        "GET /api/v5/public/discount-rate-interest-free-quota (details: minAmt, maxAmt, discountRate; "
        "minDiscountRate above the last tier), read with collateral_table_from_api('okx-mcm', payload, ...)."
    ),
)
"""OKX multi-currency margin discount rates (tiers by coin amount)."""
