"""OKX isolated margin (linear) with the taker-fee term in the maintenance requirement.

Sources
-------
* OKX margin ratio for isolated USDT-margined contracts (OKX article, copy on open-lib.com)::

      ratio = (margin balance + PnL) / (face value * |contracts| * mark * (MMR + fee rate))

  liquidation at ratio <= 100 %, so the requirement is ``notional * (MMR + taker)``.
* freqtrade implements OKX with the Gate formula (``[FT_GATE_OKX_ISO_LP]``), citing OKX's
  "Introduction to the isolated mode of Single/Multi-currency/Portfolio margin".
* OKX counts position tiers in contracts; levguard takes tiers in notional (convert with
  contract size x price), see docs/margin.md.
"""

from __future__ import annotations

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import VenueModel

OKX = VenueModel(
    name="okx",
    title="OKX perpetual swap",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="OKX isolated margin mode article; freqtrade okx.py",
    fee_in_mm=True,
    default_taker_fee=0.0005,
)
