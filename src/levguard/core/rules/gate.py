"""Gate futures, isolated margin, with the taker fee in the liquidation price.

Sources
-------
Gate support reply (gate.com; quoted in freqtrade's ``gate.py`` from gate.io help 27724)::

    linear:  LP = (EP -/+ Margin / Multiplier / Size) / [1 -/+ (MMR + TakerRate)]
    inverse: LP = Size*EP*(1 +/- MMR +/- Taker) / (Size +/- Margin*EP)

upper signs for long; the quoted taker rate was 0.075 %.  Both are the root of
``margin + uPnL(P) = notional(P) * (MMR + taker)``.

Initial margin (gate.com help 22148, "Calculation of Initial Margin"): "Initial Position Margin =
(Position Value / Leverage) + Close Position Fee", the fee at the taker rate (example: 100 USDT of
position at 50x with 0.075 %: 100/50 + 100 x 0.075 % = 2.075 USDT).  An isolated position given by
its leverage posts that margin, which enters the liquidation price above.

Liquidation (gate.com help, futures logic 22159 "Liquidation Process"): open orders are
cancelled, the risk limit is lowered one tier at a time and the part of the position above it
is liquidated, until the maintenance ratio is back above 100 %; otherwise the liquidation
system takes the position over and sends it at the bankruptcy price.  Insurance fund (22081):
a fill better than the bankruptcy price adds the difference to the fund and the user loses the
margin (example: bankruptcy price 10,000 USDT, fill 10,100 USDT, 100 USDT to the fund).

Minimum order (read 2026-12-03): Gate API v4 ``GET /futures/usdt/contracts``, BTC_USDT
``quanto_multiplier`` 0.0001 BTC per contract and ``order_size_min`` 1 contract, so 0.0001 BTC
(the answer of 2021-01 quoted in ccxt 4.5.90 ``gate.parse_contract_market``).  No ETH_USDT figure
was found: ETH positions have no minimum here.

Inverse (BTC-settled) perpetual: Gate lists one, ``BTC_USD`` (ccxt ``BTC/USD:BTC``), whose
``GET /futures/btc/contracts`` ``quanto_multiplier`` is "0": one contract is 1 USD (ccxt 4.5.90
``gate.parse_contract_market``: "exception only for one market ... 1 USD in WEB").  A symbol's
name says its kind (:func:`~levguard.core.rules.base.either_kind`); the default contract size, 1,
is that face value.  No minimum order of it was found.
"""

from __future__ import annotations

from dataclasses import replace

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import TIER_STEP_DOWN, BaseAssetTable, ByKind, SymbolConstant, VenueModel, either_kind

LIQUIDATION = replace(
    TIER_STEP_DOWN,
    source="gate.com/help/futures/futures-logic/22159; gate.com/help/futures/futures-logic/22081",
    keeps=(
        "nothing of the margin at a full liquidation (sent at the bankruptcy price, a better fill to the "
        "insurance fund); above tier 1 the risk limit is lowered tier by tier and the excess liquidated first"
    ),
    step_mode="until_safe",
    modelled=(
        "tiers lowered at the fill (liquidation fee rate, default the taker fee) until the equity left covers the "
        "rest's maintenance margin, else a full takeover"
    ),
)
"""Gate: tiered liquidation one tier at a time, then takeover at the bankruptcy price."""

GATE = VenueModel(
    name="gate",
    title="Gate USDT and BTC futures",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="gate.com support reply; freqtrade gate.py (gate.io help 27724)",
    fee_in_mm=True,
    fee_in_im=True,
    default_taker_fee=0.00075,
    symbol_kind=either_kind,
    liquidation=LIQUIDATION,
    min_qty=ByKind(BaseAssetTable((("BTC", 0.0001),)), SymbolConstant(0.0)),
    min_qty_source=(
        "Gate API v4 GET /futures/usdt/contracts: BTC_USDT quanto_multiplier 0.0001 x order_size_min 1 "
        "(2021-01 answer quoted in ccxt 4.5.90 gate.py); read 2026-12-03"
    ),
    # Gate API v4 lists options (GET /options/contracts, /options/accounts, /options/positions)
    # in an options account of their own: a wallet apart from the futures' (options_share_margin).
    lists_options=True,
    option_settlements=("usd",),  # USDT-settled (VenueModel.option_settlements)
)
