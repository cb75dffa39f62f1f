"""On-chain oracle rules in contract units: Chainlink answers, protocol policies, sequencer uptime,
CAPO price caps and Morpho's ChainlinkOracleV2, plus valuation at the oracle price.

A thin re-export: the formulas live once in :mod:`levguard.core.defi.price_feeds` (answers,
checks, deviation, the Aave and Morpho read policies, valuation),
:mod:`levguard.core.defi.sequencer` (Aave's ``PriceOracleSentinel``) and
:mod:`levguard.core.defi.price_adapters` (CAPO, ``MorphoChainlinkOracleV2``).  See docs/defi.md,
"Oracle rules".

Examples
--------
>>> from levguard.defi import oracles
>>> answer = oracles.RoundData(round_id=7, answer=2_000_00000000, started_at=1_000,
...                            updated_at=1_000, answered_in_round=7, decimals=8)
>>> oracles.check_round(answer, block_timestamp=1_000 + 3_601, heartbeat=3_600).failures
('stale',)
>>> oracles.read_price(answer, "aave").price  # Aave reads latestAnswer without a time check
200000000000
"""

from __future__ import annotations

from levguard.core.defi import price_adapters as _adapters
from levguard.core.defi import price_feeds as _feeds
from levguard.core.defi import sequencer as _sequencer
from levguard.core.defi.price_adapters import *  # noqa: F403  (the public names are the core modules' __all__)
from levguard.core.defi.price_feeds import *  # noqa: F403
from levguard.core.defi.sequencer import *  # noqa: F403

__all__ = sorted([*_adapters.__all__, *_feeds.__all__, *_sequencer.__all__])
