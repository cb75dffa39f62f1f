"""Gate futures, isolated margin, with the taker fee in the liquidation price.

Sources
-------
Gate support reply (gate.com; quoted in freqtrade's ``gate.py`` from gate.io help 27724)::

    linear:  LP = (EP -/+ Margin / Multiplier / Size) / [1 -/+ (MMR + TakerRate)]
    inverse: LP = Size*EP*(1 +/- MMR +/- Taker) / (Size +/- Margin*EP)

upper signs for long; the quoted taker rate was 0.075 %.  Both are the root of
``margin + uPnL(P) = notional(P) * (MMR + taker)``.
"""

from __future__ import annotations

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import VenueModel

GATE = VenueModel(
    name="gate",
    title="Gate USDT futures",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="gate.com support reply; freqtrade gate.py (gate.io help 27724)",
    fee_in_mm=True,
    default_taker_fee=0.00075,
)
