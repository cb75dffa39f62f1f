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
* Tiers and deduction: bybitglobal.com/en/announcement-info/margin-parameters
  (Deduction_n = RiskLimit_{n-1} (MMR_n - MMR_{n-1}) + Deduction_{n-1}).  No current tier
  table was obtainable: positions on Bybit need ``mmr`` or ``tiers``.
"""

from __future__ import annotations

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import MMBasis, VenueModel

LINEAR = VenueModel(
    name="bybit-linear",
    title="Bybit USDT perpetual (linear)",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="testnet.bybit.com help: Liquidation Price USDT Contract",
    mm_basis=MMBasis.ENTRY,
)

INVERSE = VenueModel(
    name="bybit-inverse",
    title="Bybit inverse perpetual",
    kind=ContractKind.INVERSE,
    settlement="BTC",
    source="Bybit help: Liquidation price (inverse contract)",
    mm_basis=MMBasis.ENTRY,
    bankruptcy_close_fee=True,
    default_taker_fee=0.00075,
)
