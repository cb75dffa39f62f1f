"""OKX isolated margin (linear) with the taker-fee term in the maintenance requirement.

Sources
-------
* OKX margin ratio for isolated USDT-margined contracts (OKX article, copy on open-lib.com)::

      ratio = (margin balance + PnL) / (face value * |contracts| * mark * (MMR + fee rate))

  liquidation at ratio <= 100 %, so the requirement is ``notional * (MMR + taker)``.
* freqtrade implements OKX with the Gate formula (``[FT_GATE_OKX_ISO_LP]``), citing OKX's
  "Introduction to the isolated mode of Single/Multi-currency/Portfolio margin".
* OKX counts position tiers in contracts: levguard reads them as tiers by quantity
  (``TierTable.basis``, sizes = contracts x contract size; :func:`okx_tier_rows`), so a
  position keeps its tier as the price moves, or values them at a price, see docs/margin.md.
  The tier's rate applies to the whole position (the ratio above; the position-tiers API has
  no deduction), so tiers carry no maintenance
  amount (``tier_deduction=False``).  A tier includes its cap: the tier tables list "Tier 1:
  0-5,000" and "Tier 2: 5,001-7,500" contracts (OKX position-tier adjustment notices;
  ``mm_cap_inclusive=True``), so a position exactly at a cap pays the lower tier's rate.
* Liquidation (okx.com/support/hc/en-us/articles/360020411711 "Forced Partial or Full
  Liquidation"): a position in tier 3 or above is partially liquidated down to tier 1; in tier 2
  or below it is fully liquidated, handed to the liquidation engine at the bankruptcy price
  (margin ratio zero).  The liquidation penalty ("clearance fee") and the rest of the margin go
  to the insurance fund (okx.com/learn/when-would-my-order-be-liquidated); the fund covers fills
  worse than the bankruptcy price.
* Minimum order, USDT-margined perpetuals (read 2026-12-03): contract size 0.01 BTC for
  BTC-USDT-SWAP (okx.com/help/7053456733325, "BTCUSDT Perpetual Contract Specifications");
  minimum order 0.1 contract = 0.001 BTC since 2024-04-25 (okx.com/help/
  okx-to-adjust-the-minimum-order-quantities-for-several-futures-24-04-19, published
  2024-04-19); ETH-USDT-SWAP: contract size 0.1 ETH, minimum 1 contract = 0.1 ETH (the same
  announcement's ETHUSDT example).  Sizes are in contracts (``minSz``) times ``ctVal``.
* Coin-margined (inverse) swaps and futures, settled in their coin (``BTC-USD-SWAP``, ccxt
  ``BTC/USD:BTC``): "Crypto-Margined Perpetual Swaps ... contract size of 100USD" (BTCUSD,
  okx.com/help/7053456733325); expiry futures: BTCUSD face value 100 USD, LTCUSD 10 USD
  (okx.com/help/i-future-contracts).  A symbol's name says its kind (:func:`either_kind`); an
  inverse contract's default size is its USD face value, 100 for BTC and 10 for other coins
  (:func:`inverse_face_value`; pass ``contract_size``, or use ccxt positions, which carry
  ``contractSize``).  No minimum order of them was found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import TIER_STEP_DOWN, BaseAssetTable, ByKind, SymbolConstant, VenueModel, either_kind
from levguard.core.symbols import base_asset
from levguard.core.validate import as_float, finite_number, instance_of, non_negative_number, number, positive, show
from levguard.errors import InputError

LIQUIDATION = replace(
    TIER_STEP_DOWN,
    step_from=2,
    step_to=0,
    source="okx.com/support/hc/en-us/articles/360020411711; okx.com/learn/when-would-my-order-be-liquidated",
    keeps=(
        "nothing of the margin at a full liquidation (bankruptcy price; penalty and remainder to the insurance "
        "fund); tier 3+ positions are first reduced to tier 1 and the rest is kept"
    ),
    modelled=(
        "tier 3+ stepped down to tier 1 at the fill (liquidation fee rate, default the taker fee) unless the equity "
        "is below the whole position at tier 1's rate plus that fee, tiers 1-2 taken over whole; tiers are in "
        "notional at the fill (OKX's contract counts valued there); cross long/short pairing not modelled"
    ),
)
"""OKX: tier 3+ reduced to tier 1, otherwise taken over at the bankruptcy price."""

TIERS_IN_CONTRACTS: frozenset[str] = frozenset({"okx"})
"""ccxt exchange ids whose leverage tiers count contracts, not notional: OKX's ``minSz``/``maxSz``
(:func:`okx_tier_rows` values them at a price)."""


def inverse_face_value(symbol: str) -> float:
    """Return the USD face value of an OKX coin-margined contract: 100 for BTC, 10 for other coins.

    Notes
    -----
    okx.com/help/7053456733325 (BTCUSD perpetual: "Contract Size 100USD");
    okx.com/help/i-future-contracts (expiry futures: BTCUSD 100 USD, LTCUSD 10 USD).
    """
    return 100.0 if base_asset(symbol) == "BTC" else 10.0


OKX = VenueModel(
    name="okx",
    lists_options=True,
    title="OKX perpetual swap",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="OKX isolated margin mode article; freqtrade okx.py",
    fee_in_mm=True,
    tier_deduction=False,
    mm_cap_inclusive=True,
    options_share_margin=True,  # options and futures share the cross margin (VenueModel)
    default_taker_fee=0.0005,
    contract_size=ByKind(SymbolConstant(1.0), inverse_face_value),
    symbol_kind=either_kind,
    liquidation=LIQUIDATION,
    min_qty=ByKind(BaseAssetTable((("BTC", 0.001), ("ETH", 0.1))), SymbolConstant(0.0)),
    min_qty_source=(
        "okx.com/help/7053456733325 (BTC-USDT-SWAP 0.01 BTC per contract); okx.com/help/"
        "okx-to-adjust-the-minimum-order-quantities-for-several-futures-24-04-19 (BTC 0.1 contract = 0.001 BTC "
        "from 2024-04-25; ETHUSDT 1 contract = 0.1 ETH); read 2026-12-03"
    ),
)


def scale_liquidation_cost(mr7_raw: float, tiers: Sequence[tuple[float, float]]) -> float:
    """Scale OKX's raw liquidation-cost requirement (MR7) piecewise by raw-margin tiers.

    Parameters
    ----------
    mr7_raw : float
        Raw MR7 in the settlement currency (>= 0).
    tiers : sequence of (upper_bound, multiplier)
        Increasing upper bounds of raw-margin bands; the last may be ``inf``.  The part of
        ``mr7_raw`` inside each band is multiplied by that band's multiplier.

    Notes
    -----
    okx.com/support/hc/en-us/articles/4417291853837 (portfolio margin): MR = 40,000,
    MR7_raw = 30,000, multipliers 1 on [0, 10k] and 2 on (10k, 70k] give
    MR7_adj = 10,000 + 20,000 x 2 = 50,000.
    """
    mr7_raw = non_negative_number(mr7_raw, "mr7_raw")
    if isinstance(tiers, str | bytes) or not isinstance(tiers, Sequence):
        raise InputError(f"tiers must be a sequence of (upper_bound, multiplier) pairs, was {show(tiers)}")
    lower = 0.0
    total = 0.0
    for i, tier in enumerate(tiers):
        if isinstance(tier, str | bytes) or not isinstance(tier, Sequence) or len(tier) != 2:
            raise InputError(f"tiers[{i}] must be an (upper_bound, multiplier) pair, was {show(tier)}")
        upper, mult = number(tier[0], f"tiers[{i}] upper bound"), number(tier[1], f"tiers[{i}] multiplier")
        if not upper > lower or not (math.isfinite(mult) and mult >= 0):
            raise InputError(
                f"tiers[{i}] must have an increasing upper bound and a multiplier >= 0, was {(upper, mult)!r}"
            )
        part = min(mr7_raw, upper) - lower
        if part <= 0:
            return total
        total += part * mult
        lower = upper
    if mr7_raw > lower:
        raise InputError(f"mr7_raw {mr7_raw!r} exceeds the last tier bound {lower!r}")
    return total


def portfolio_maintenance_margin(
    mr1: float, mr2: float, mr6: float, mr3: float, mr4: float, mr5: float, mr7_adj: float
) -> float:
    """Return OKX's portfolio-margin maintenance requirement ``max(MR, MR7_adj)``.

    Notes
    -----
    okx.com/support/hc/en-us/articles/4417291853837:
    ``MR = max(MR1, MR2, MR6) + MR3 + MR4 + MR5`` (spot-shock, theta/decay, extreme move,
    spread, interest-rate and basis modules); ``MMR = max(MR, MR7_adj)`` with MR7 the
    liquidation-cost module scaled by :func:`scale_liquidation_cost`.
    """
    mr1, mr2, mr6, mr3, mr4, mr5, mr7_adj = (
        finite_number(value, name)
        for name, value in (
            ("mr1", mr1), ("mr2", mr2), ("mr6", mr6), ("mr3", mr3), ("mr4", mr4), ("mr5", mr5), ("mr7_adj", mr7_adj)
        )
    )  # fmt: skip
    return max(max(mr1, mr2, mr6) + mr3 + mr4 + mr5, mr7_adj)


def okx_tier_rows(
    rows: Sequence[Mapping[str, Any]], *, contract_size: float, price: float | None = None, inverse: bool = False
) -> list[dict[str, Any]]:
    """Return OKX position tiers counted in contracts as rows of position size, or of notional at ``price``.

    Parameters
    ----------
    rows : sequence of mapping
        One per tier, as ccxt's ``fetch_market_leverage_tiers`` gives them for OKX:
        ``minNotional``/``maxNotional`` carry OKX's ``minSz``/``maxSz``, which are numbers of
        contracts, not notional; ``maintenanceMarginRate``, ``maxLeverage`` and the rest pass
        through.
    contract_size : float
        The market's face value (``ctVal``: 0.01 BTC for BTC-USDT-SWAP, 100 USD for BTC-USD-SWAP).
    price : float, optional
        None (the exact form): the caps are position sizes, ``maxSz x contract_size``, to be read
        as tiers by quantity (``TierTable.from_rows(rows, deduction=False, basis="quantity")``):
        a position keeps its tier at every price, as on OKX.  A price: the mark the caps are
        valued at, as notional (exact at that price only).
    inverse : bool
        Coin-margined swaps: the notional of ``c`` contracts is ``c x size / price`` coins.

    Returns
    -------
    list of dict
        The rows in tier order with ``minNotional`` the previous row's converted cap (0 first)
        and ``maxNotional`` ``maxSz x contract_size``, or ``maxSz x contract_size x price``
        (inverse: ``/ price``) with a price; no cap is infinite.  OKX's one-contract gaps
        ("0-5,000", "5,001-7,500") close: a position of 5,000.5 contracts is in tier 2, and a
        position exactly at a cap is in the lower tier (:attr:`VenueModel.mm_cap_inclusive`).

    Raises
    ------
    InputError
        No rows, a cap that is missing, not a number or not increasing, or a size or price
        that is not a finite number > 0.

    Notes
    -----
    OKX ``GET /api/v5/public/position-tiers`` (okx.com/docs-v5/en/#public-data-rest-api-get-position-tiers):
    ``minSz``/``maxSz`` are "the minimum/maximum ... number of positions held in this position
    tier", in contracts for swaps and futures; ccxt maps them to ``minNotional``/``maxNotional``
    unchanged (ccxt PR 11938: BTC-USDT tier 1 ``maxSz "500"`` shown as ``notionalCap: 500``
    USDT).  The tier of a position is fixed by its contracts, so a table valued at one price is
    exact at that price; the caller values it at the current mark and refreshes it.
    """
    size = positive(contract_size, "contract_size")
    px = None if price is None else positive(price, "price")
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise InputError(f"rows must be a sequence of OKX tier mappings, was {show(rows)}")
    if not rows:
        raise InputError("rows must hold at least one OKX tier, was empty")
    for i, row in enumerate(rows):
        instance_of(row, Mapping, f"rows[{i}]")  # type: ignore[type-abstract]  # [5]: an AttributeError
    ordered = sorted(rows, key=lambda r: _contracts(r.get("minNotional", 0) or 0, "minNotional"))
    out: list[dict[str, Any]] = []
    floor = 0.0
    for i, row in enumerate(ordered):
        raw = row.get("maxNotional")
        contracts = math.inf if raw is None else _contracts(raw, f"rows[{i}].maxNotional")
        cap = contracts * size
        if px is not None:
            cap = cap / px if inverse else cap * px
        if not cap > floor:
            raise InputError(f"rows[{i}].maxNotional must rise above the previous tier's, was {show(raw)}")
        out.append({**row, "minNotional": floor, "maxNotional": cap})
        floor = cap
    return out


def market_tier_rows(
    rows: Sequence[Mapping[str, Any]], market: Mapping[str, Any], mark: float | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Return :func:`okx_tier_rows` for a ccxt ``market`` (its ``contractSize``, 1 when absent,
    refused unless a finite number > 0 when given; and ``inverse``), in position sizes or at
    ``mark``, and the note that says so for the table's source."""
    instance_of(market, Mapping, "market")  # type: ignore[type-abstract]
    raw = market.get("contractSize")  # absent: 1; 0, a negative or a non-finite size is refused
    where = "market['contractSize']"
    size = 1.0 if raw is None else positive(as_float(raw, where), where)
    mark = None if mark is None else positive(mark, "mark")
    out = okx_tier_rows(rows, contract_size=size, price=mark, inverse=bool(market.get("inverse")))
    if mark is None:
        return out, f" (contracts of {size:g}, by position size)"
    return out, f" (contracts of {size:g} valued at the mark {mark:g})"


def _contracts(value: object, field: str) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(f"{field} must be a number of contracts, was {show(value)}") from None
    if isinstance(value, bool) or math.isnan(x) or x < 0.0:
        raise InputError(f"{field} must be a number of contracts >= 0, was {show(value)}")
    return x
