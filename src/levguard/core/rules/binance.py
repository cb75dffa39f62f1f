"""Binance USDⓈ-M (linear) and COIN-M (inverse) futures, one-way mode.

Sources
-------
* Leverage and margin FAQ (USDⓈ-M): binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93
  MM = notional x MMR(bracket) - maintenance amount; cum_n = floor_n (MMR_n - MMR_{n-1}) + cum_{n-1}.
* COIN-M FAQ: binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46 (bracket re-selection:
  if the notional at the liquidation price falls in another bracket, recompute with it).
* Liquidation price, one-way mode ("calc example" in the FAQ), cross and isolated::

      LP = (WB - TMM1 + UPNL1 + cum - s*Q*EP) / (Q*MMR - s*Q)            (USDⓈ-M)
      LP = (Q*MMR + s*Q) / ((WB - TMM1 + UPNL1 + cum)/CM + s*Q/EP)       (COIN-M, Q in contracts, CM the
                                                                           contract multiplier in USD)

  WB is the cross wallet (cross) or the isolated wallet (isolated); TMM1 and UPNL1 are the other
  positions' maintenance margin and uPnL at their own mark prices (zero in isolated mode).
* Brackets: ``GET /fapi/v1/leverageBracket``, as committed by freqtrade in
  ``freqtrade/exchange/binance_leverage_tiers.json`` (commit of 2024-10-24).
* Liquidation process (binance.com/en/support/faq/360033525271, "Liquidation protocols", and
  the insurance-fund article binance.com/en/support/articles/360033525371): open orders are
  cancelled, "Smart Liquidation" first tries to reduce the position with one IOC order and stops
  when the account is margin compliant; otherwise the position is closed at the bankruptcy price
  and the insurance fund takes it over, "a portion of the remaining collateral (if any)" going to
  the fund (the insurance clearance fee); a negative balance is brought back to 0 by the fund.
  The liquidation fee is charged on the amount liquidated only.
* Minimum order notional (binance.com/en/support/faq/360033161972): 5 USDT for USDⓈ-M orders
  (announced for 2021-02-24; reduce-only orders exempt).  COIN-M quantities are whole contracts.
"""

from __future__ import annotations

from types import MappingProxyType

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import (
    LiquidationRule,
    NamedKind,
    SymbolTable,
    VenueModel,
    symbol_key,
)
from levguard.core.tiers import TierTable

SNAPSHOT_DATE = "2024-10-24"
TIER_SOURCE = (
    f"Binance GET /fapi/v1/leverageBracket via freqtrade binance_leverage_tiers.json, snapshot {SNAPSHOT_DATE}"
)

# (notional_floor, notional_cap, max_leverage, mmr, cum) per bracket.
_BTCUSDT = (
    (0, 50_000, 125, 0.004, 0),
    (50_000, 600_000, 100, 0.005, 50),
    (600_000, 3_000_000, 75, 0.0065, 950),
    (3_000_000, 12_000_000, 50, 0.01, 11_450),
    (12_000_000, 70_000_000, 25, 0.02, 131_450),
    (70_000_000, 100_000_000, 20, 0.025, 481_450),
    (100_000_000, 230_000_000, 10, 0.05, 2_981_450),
    (230_000_000, 480_000_000, 5, 0.10, 14_481_450),
    (480_000_000, 600_000_000, 4, 0.125, 26_481_450),
    (600_000_000, 800_000_000, 3, 0.15, 41_481_450),
    (800_000_000, 1_200_000_000, 2, 0.25, 121_481_450),
    (1_200_000_000, 1_800_000_000, 1, 0.50, 421_481_450),
)
_ETHUSDT = (
    (0, 50_000, 125, 0.004, 0),
    (50_000, 600_000, 100, 0.005, 50),
    (600_000, 3_000_000, 75, 0.0065, 950),
    (3_000_000, 12_000_000, 50, 0.01, 11_450),
    (12_000_000, 50_000_000, 25, 0.02, 131_450),
    (50_000_000, 65_000_000, 20, 0.025, 381_450),
    (65_000_000, 150_000_000, 10, 0.05, 2_006_450),
    (150_000_000, 320_000_000, 5, 0.10, 9_506_450),
    (320_000_000, 400_000_000, 4, 0.125, 17_506_450),
    (400_000_000, 530_000_000, 3, 0.15, 27_506_450),
    (530_000_000, 800_000_000, 2, 0.25, 80_506_450),
    (800_000_000, 1_200_000_000, 1, 0.50, 280_506_450),
)


def _table(rows: tuple[tuple[float, float, float, float, float], ...]) -> TierTable:
    return TierTable.from_rows(
        [
            {"notional_floor": f, "notional_cap": c, "max_leverage": lev, "mmr": m, "maint_amount": cum}
            for f, c, lev, m, cum in rows
        ],
        source=TIER_SOURCE,
    )


BUILTIN_TIERS = MappingProxyType({"BTCUSDT": _table(_BTCUSDT), "ETHUSDT": _table(_ETHUSDT)})


def coinm_contract_size(symbol: str) -> float:
    """Return the USD face value of a COIN-M contract: 100 for BTCUSD, 10 for the rest.

    Notes
    -----
    Binance COIN-M contract specifications: BTCUSD perpetual and quarterly contracts are 100 USD,
    other coin-margined contracts 10 USD.
    """
    return 100.0 if symbol_key(symbol).startswith("BTCUSD") else 10.0


LIQUIDATION = LiquidationRule(
    kind="takeover",
    source="binance.com/en/support/faq/360033525271; binance.com/en/support/articles/360033525371",
    keeps=(
        "nothing of the margin behind the position (isolated margin; cross: the cross margin balance): "
        "closed at the bankruptcy price, the remaining collateral goes to the insurance fund"
    ),
    modelled=(
        "full takeover at the trigger; Smart Liquidation's partial IOC reduction is not modelled (its size is "
        "not published); cross: the account is bankrupt, every cross position is taken over"
    ),
)
"""Binance USDⓈ-M and COIN-M: the position is taken over at its bankruptcy price."""

MIN_NOTIONAL_SOURCE = (
    "binance.com/en/support/faq/360033161972 and the 2021-02-23 notice 'Updates to USDⓈ-M Futures Trading Rules' "
    "(USDⓈ-M: 5 USDT; COIN-M: one contract); BTCUSDT 100 USDT and ETHUSDT 20 USDT from 2023-11-02 (Binance "
    "notice on the minimum notional of BTCUSDT and ETHUSDT perpetuals, as quoted by exchange mirrors; the API's "
    "error -4164 'Order's notional must be no smaller than 100'); read 2026-12-06"
)


USDM = VenueModel(
    name="binance-usdm",
    lists_options=True,
    option_settlements=("usd",),
    title="Binance USDⓈ-M futures",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93",
    builtin_tiers=BUILTIN_TIERS,
    symbol_kind=NamedKind("binance-usdm", ContractKind.LINEAR, "use venue binance-coinm, or give its contract_kind"),
    liquidation=LIQUIDATION,
    min_notional=SymbolTable((("BTCUSDT", 100.0), ("ETHUSDT", 20.0)), default=5.0),
    min_notional_source=MIN_NOTIONAL_SOURCE,
)

COINM = VenueModel(
    name="binance-coinm",
    lists_options=True,
    option_settlements=("usd",),
    title="Binance COIN-M futures",
    kind=ContractKind.INVERSE,
    settlement="BTC",
    source="binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46",
    contract_size=coinm_contract_size,
    symbol_kind=NamedKind("binance-coinm", ContractKind.INVERSE, "use venue binance-usdm, or give its contract_kind"),
    liquidation=LIQUIDATION,
    min_notional=coinm_contract_size,
    min_notional_source=MIN_NOTIONAL_SOURCE,
)
