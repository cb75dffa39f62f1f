"""Deribit linear (USDC) perpetuals, standard margin with size-scaled rates.

Sources
-------
support.deribit.com, "Linear Perpetual" (article 25944738177565):

=================  ==============================  ==============================
instrument         initial margin rate             maintenance margin rate
=================  ==============================  ==============================
BTC_USDC perp      2 % + size_BTC x 0.005 %        1 % + size_BTC x 0.005 %
SOL_USDC perp      4 % + size_SOL x 0.0005 %       2 % + size_SOL x 0.0005 %
=================  ==============================  ==============================

Published: 25 BTC -> IM 2.125 %, MM 1.125 %; 350 BTC -> IM 3.75 %; 25 SOL -> IM 4.0125 %,
MM 2.0125 %; 6,000 SOL -> IM 7 %.  Margin is computed at the index price (levguard takes the
position's mark price as that price).  Other instruments: pass ``imr``, ``mmr`` and the
``size_coef`` param.

Liquidation (support.deribit.com/hc/en-us/articles/25944769313309-Liquidations): incremental; a
part of the position is closed and liquidation stops as soon as the maintenance margin is below
the margin balance again, the rest of the position staying open.  Liquidation trades pay a
liquidation fee that goes to the insurance fund (…/25944777576477-Insurance-Fund); the notice of
11 January 2022 (…/25944826427293) set it to 0.75 % for BTC (0.9 % for ETH) with a 1 %
maintenance rate, "the chance of positive equity or partial remaining open positions is higher".
The Insurance Fund article: "All liquidation orders are charged an extra fee on top of the
default transaction fees"; the taker fee of USDC perpetuals is 0.05 % (support.deribit.com
…/25944746248989-Fees).
"""

from __future__ import annotations

from levguard.core.instruments import ContractKind
from levguard.core.positions import Position
from levguard.core.rules.base import BaseAssetTable, LiquidationRule, NamedKind, Rates, VenueModel
from levguard.core.symbols import base_asset
from levguard.core.validate import finite_number, non_negative_number
from levguard.errors import InputError
from levguard.kernels.margin import size_scaled_rate

SOURCE = "support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual"

# base key -> (base imr, base mmr, rate added per unit of base size)
PRESETS: dict[str, tuple[float, float, float]] = {
    "BTC": (0.02, 0.01, 0.00005),
    "SOL": (0.04, 0.02, 0.000005),
}


def base_of(symbol: str) -> str:
    """``"BTC_USDC-PERPETUAL"`` / ``"BTC/USDC:USDC"`` -> ``"BTC"``."""
    return base_asset(symbol, quotes=())


def size_scaled_rates(size_base: float, base_imr: float, base_mmr: float, size_coef: float) -> tuple[float, float]:
    """Return (imr, mmr) = base rate + ``size_coef * |size|``.

    Raises
    ------
    InputError
        An argument that is not a finite number, or a negative rate or coefficient (a negative
        coefficient gave rates that fall with size, below 0 for a large position).

    Notes
    -----
    Deribit "Linear Perpetual" standard margin: both rates grow linearly in the position size
    in base units (BTC: 0.005 % per BTC).  The formula is
    :func:`levguard.kernels.margin.size_scaled_rate`, which the backtester reads too.
    """
    size_base = finite_number(size_base, "size_base")
    base_imr = non_negative_number(base_imr, "base_imr")
    base_mmr = non_negative_number(base_mmr, "base_mmr")
    coef = non_negative_number(size_coef, "size_coef")
    return size_scaled_rate(base_imr, coef, size_base), size_scaled_rate(base_mmr, coef, size_base)


def deribit_size_coef(position: Position) -> float:
    """Return the maintenance rate a Deribit linear perpetual adds per unit of its size in base
    units (the ``size_coef`` param, or the preset: BTC 0.005 %, SOL 0.0005 %; 0 for a symbol
    without either, whose :func:`deribit_rates` refuses it anyway)."""
    preset = PRESETS.get(base_of(position.symbol))
    coef = position.params.get("size_coef", preset[2] if preset else None)
    return non_negative_number(coef, f"{position.symbol}.size_coef") if coef is not None else 0.0


def deribit_rates(position: Position) -> Rates:
    """Rates for a Deribit linear perpetual position (preset or user-given).

    Raises
    ------
    InputError
        A maintenance rate above the initial rate, or an inverse contract: Deribit's size term
        counts the size in coins, which an inverse position holds as USD, so the rates would be
        wrong (1 % + 0.005 % per BTC became 6 % for $1,000 of BTC-PERPETUAL); inverse futures are
        not modelled (docs/margin.md).
    """
    if position.instrument.inverse:
        raise InputError(
            f"{position.symbol}: Deribit's inverse contracts (margined in their coin, e.g. BTC-PERPETUAL) are not "
            "modelled; its linear USDC perpetuals are (e.g. BTC_USDC-PERPETUAL)"
        )
    preset = PRESETS.get(base_of(position.symbol))
    coef = position.params.get("size_coef", preset[2] if preset else None)
    base_imr = position.imr if position.imr is not None else (preset[0] if preset else None)
    base_mmr = position.params.get("mmr", preset[1] if preset else None)
    if coef is None or base_imr is None or base_mmr is None:
        raise InputError(f"{position.symbol}: no Deribit preset for this symbol; pass imr, mmr and size_coef")
    imr, mmr = size_scaled_rates(position.q, base_imr, base_mmr, coef)
    if mmr > imr:  # the size term is added to both: the base rates are out of order
        raise InputError(
            f"{position.symbol}: the maintenance rate must be at most the initial rate on Deribit (published 1 % "
            f"and 2 % for BTC), was mmr {base_mmr!r} with imr {base_imr!r}"
        )
    if not (0.0 < mmr < 1.0 and 0.0 < imr <= 1.0):
        raise InputError(f"{position.symbol}: size-scaled rates out of range (imr {imr!r}, mmr {mmr!r})")
    return Rates(imr=imr, mmr=mmr, source=SOURCE)


LIQUIDATION = LiquidationRule(
    kind="book",
    fee_rate=0.0075,
    fee_plus_taker=True,
    partial="restore",
    source=(
        "support.deribit.com/hc/en-us/articles/25944769313309-Liquidations; "
        "support.deribit.com/hc/en-us/articles/25944826427293-11-January-2022; "
        "support.deribit.com/hc/en-us/articles/25944777576477-Insurance-Fund (the fee is on top of the taker fee)"
    ),
    keeps=(
        "the rest of the position and its equity: only enough is closed (fee 0.75 % BTC on top of the taker fee) "
        "to restore equity > MM"
    ),
    modelled=(
        "incremental closes at the fill that restore equity >= MM (backtester: along the bar's adverse path on a "
        "grid of prices); BTC fee 0.75 % plus the taker fee, 0.05 % by default (ETH 0.9 %: pass the whole fee, "
        "0.95 %, as liquidation_fee_rate); futures-before-options order not modelled"
    ),
)
"""Deribit: incremental liquidation with a liquidation fee; the trader keeps the rest."""


DERIBIT = VenueModel(
    name="deribit",
    lists_options=True,
    title="Deribit linear (USDC) perpetual, standard margin",
    kind=ContractKind.LINEAR,
    settlement="USDC",
    source=SOURCE,
    rate_based=True,
    rates=deribit_rates,
    size_coef=deribit_size_coef,
    symbol_kind=NamedKind(
        "deribit",
        ContractKind.LINEAR,
        "Deribit's inverse contracts (margined in their coin) are not modelled; its linear USDC perpetuals are "
        "(e.g. BTC_USDC-PERPETUAL)",
        deribit_names=True,
    ),
    default_taker_fee=0.0005,
    funding_continuous=True,
    options_share_margin=True,  # options and futures share the cross margin (VenueModel)
    settlements=("USDC",),  # support.deribit.com, "Funding Specifications": paid continuously, quoted per 8 h
    liquidation=LIQUIDATION,
    min_qty=BaseAssetTable((("BTC", 0.001),)),
    min_qty_source=(
        "Deribit public/get_instrument?instrument_name=BTC_USDC-PERPETUAL: contract_size 0.001, "
        "min_trade_amount 0.001 BTC (an API answer of 2025-07 quoted in a public client); the $10 of the "
        "inverse contracts does not apply to the linear USDC perpetuals; read 2026-12-06"
    ),
)
