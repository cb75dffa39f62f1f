"""Bybit linear (USDT) and inverse contracts with tiered risk limits.

Sources
-------
* Liquidation price, USDT contract, isolated (testnet.bybit.com help "Liquidation Price USDT
  Contract")::

      LP_long  = EP - (IM - MM)/size - ExtraMargin/size
      LP_short = EP + (IM - MM)/size + ExtraMargin/size
      IM = size*EP/leverage,  MM = size*EP*MMR - MM deduction

  Maintenance margin is valued at the entry notional, so it does not move with price;
  isolated margin = IM + extra margin.  Example: long 1 BTC @ 20,000, 50x, MMR 0.5% -> 19,700.
* Inverse, legacy cross (Bybit help "Liquidation price, inverse contract")::

      Qty (1/EP - 1/LP) = -(AB - OrderMargin - Qty/EP * MMR - Qty * fee/BP)
      BP_long = (1 + fee) Qty / (Qty/EP + AB - OrderMargin)

  with the taker fee to close (0.075 %) at the bankruptcy price.  Example: AB 0.5 BTC, long
  10,000 contracts @ 8,000, MMR 0.5 % -> BP 5,718.57 (the page's LP 5,739.50 is 0.007 % off its
  own equation, which gives 5,739.08).
* Inverse, legacy isolated (same page), with no fee term::

      LP_long = EP Lev / (Lev + 1 - MMR Lev),  LP_short = EP Lev / (Lev - 1 + MMR Lev)

  Example: 8,000 at 50x, MMR 0.5 % -> 7,881.77 long, 8,121.83 short.  So the close fee counts in
  cross margin only (:meth:`VenueModel.close_fee_rate`).
* Tiers and deduction: bybitglobal.com/en/announcement-info/margin-parameters
  (Deduction_n = RiskLimit_{n-1} (MMR_n - MMR_{n-1}) + Deduction_{n-1}).  No current tier
  table was obtainable: positions on Bybit need ``mmr`` or ``tiers``.
* Liquidation process (help.bybit.com/hc/en-us/articles/900000167723, USDT contract;
  bybitglobal.com help article 000001098, inverse): on the lowest risk limit open orders are
  cancelled and the position is taken over by the liquidation engine at the bankruptcy price; on
  a higher risk limit the engine first lowers the risk limit, then submits a FillOrKill reduce
  order of the difference to a lower risk limit, and takes the whole position over at the
  bankruptcy price if it is still in liquidation.  A fill better than the bankruptcy price adds
  the remaining margin to the insurance fund; a worse one is covered by it
  (bybit.com/en/help-center/article/Insurance-Fund).  Minimum order (inverse contract
  specification): 1 USD per contract.
* Minimum order, USDT perpetual (read 2026-12-03): BTCUSDT ``lotSizeFilter.minOrderQty`` 0.001
  BTC in Bybit's v5 ``GET /v5/market/instruments-info?category=linear`` answer (timestamped
  2023-01-03) as quoted in ccxt 4.5.90 ``bybit.fetch_future_markets``; Bybit help "Trading
  rules (derivatives)" (copy at mlmrehab.com/16743.html) gives the same 0.001 BTC minimum order
  size for BTCUSDT.  No ETHUSDT figure was found: ETH positions have no minimum here.
"""

from __future__ import annotations

from dataclasses import replace

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import TIER_STEP_DOWN, BaseAssetTable, MMBasis, NamedKind, SymbolConstant, VenueModel

LIQUIDATION = replace(
    TIER_STEP_DOWN,
    source=(
        "help.bybit.com/hc/en-us/articles/900000167723; bybitglobal.com help 000001098; "
        "bybit.com/en/help-center/article/Insurance-Fund"
    ),
    keeps=(
        "nothing of the margin when the position is taken over at the bankruptcy price; above the lowest "
        "risk limit it is first reduced to a lower risk limit and the rest is kept"
    ),
    step_mode="until_safe",
    modelled=(
        "one reduce order at the fill (liquidation fee rate, default the taker fee) down to the highest lower "
        "risk limit whose maintenance margin the equity left covers, else a full takeover; unified-account "
        "(UTA) liquidation not modelled"
    ),
)
"""Bybit: risk-limit step-down, then takeover at the bankruptcy price."""


LINEAR = VenueModel(
    name="bybit-linear",
    lists_options=True,
    option_settlements=("usd",),
    title="Bybit USDT perpetual (linear)",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="testnet.bybit.com help: Liquidation Price USDT Contract",
    mm_basis=MMBasis.ENTRY,
    symbol_kind=NamedKind("bybit-linear", ContractKind.LINEAR, "use venue bybit-inverse, or give its contract_kind"),
    liquidation=LIQUIDATION,
    min_qty=BaseAssetTable((("BTC", 0.001),)),
    min_qty_source=(
        "Bybit v5 instruments-info (linear) BTCUSDT minOrderQty 0.001 BTC, 2023-01-03 answer quoted in ccxt "
        "4.5.90; Bybit help 'Trading rules' (mlmrehab.com/16743.html), read 2026-12-03"
    ),
)

INVERSE = VenueModel(
    name="bybit-inverse",
    lists_options=True,
    option_settlements=("usd",),
    title="Bybit inverse perpetual",
    kind=ContractKind.INVERSE,
    settlement="BTC",
    source="Bybit help: Liquidation price (inverse contract)",
    mm_basis=MMBasis.ENTRY,
    bankruptcy_close_fee=True,
    default_taker_fee=0.00075,
    symbol_kind=NamedKind("bybit-inverse", ContractKind.INVERSE, "use venue bybit-linear, or give its contract_kind"),
    liquidation=LIQUIDATION,
    min_notional=SymbolConstant(1.0),
    min_notional_source="Bybit inverse perpetual contract specification: minimum order 1 USD per contract",
)
