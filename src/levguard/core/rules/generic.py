"""A generic venue: fixed initial and maintenance rates (or user tiers), MM valued at price.

Use it for any venue whose rules are "liquidate when margin balance <= notional x MMR": give
each position ``mmr`` (and optionally ``maint_amount``, ``imr`` or ``leverage``) or ``tiers``.
"""

from __future__ import annotations

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import VenueModel

GENERIC = VenueModel(
    name="generic",
    lists_options=True,
    title="Generic venue (fixed rates)",
    kind=ContractKind.LINEAR,
    settlement="USD",
    source="levguard generic model: margin balance <= notional x MMR - maint_amount",
)
