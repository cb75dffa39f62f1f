"""Hyperliquid's margin tables through ccxt, for :class:`levguard.venues.ccxt_adapter.CcxtVenue`.

ccxt has no tier endpoint for Hyperliquid (``has["fetchLeverageTiers"]`` is False).  Its
markets' ``info`` is the venue's ``meta`` universe entry merged with the asset context
(ccxt 4.5 ``hyperliquid.fetch_swap_markets``), which carries the coin's ``marginTableId`` but
not the table.  :func:`hyperliquid_tiers` reads the venue's own table:

* Hyperliquid docs, trading/margin-tiers: "Margin tables have unique IDs and the tiers can be
  found in the meta Info response.  For IDs less than 50, there is a single tier with max
  leverage equal to the ID."  So an id below 50 is one tier at that leverage.
* An id of 50 or more is a tiered table, read from the info endpoint
  ``{"type": "marginTable", "id": id}`` (ccxt's implicit ``public_post_info``), which answers
  ``{"description": ..., "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 40}, ...]}``
  (the same tables ``meta`` lists under ``marginTables``; request and answer as documented by
  the node providers Chainstack, "marginTable | Hyperliquid info", and GoldRush, "marginTable |
  Hyperliquid Info API": "wire-equal to POST api.hyperliquid.xyz/info").  Each tier's
  maintenance rate is half the initial margin at its max leverage
  (:meth:`levguard.core.tiers.TierTable.from_max_leverage`).

Without a table id (an older ccxt, a market from elsewhere) or when the request fails (refused,
a malformed table, a network error or a rate limit), a coin with a built-in table
(:data:`levguard.core.rules.hyperliquid.BUILTIN_TIERS`, the docs' list) keeps it, and any other
coin gets one tier at the market's max leverage (``limits.leverage.max``, the meta's
``maxLeverage``): an assumption, logged as a warning and named in the table's source, since a
coin whose max leverage falls with size would be under-margined above its first tier.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from levguard.core.rules.hyperliquid import HYPERLIQUID, coin_key, single_tier
from levguard.core.tiers import TierTable
from levguard.errors import InputError, VenueAuthError, VenueError, VenuePermanentError
from levguard.venues._ccxt_numbers import ccxt_number as _num

if TYPE_CHECKING:
    from levguard.venues.ccxt_adapter import CcxtVenue

__all__ = ["SINGLE_TIER_IDS_BELOW", "hyperliquid_tiers", "margin_table_id", "margin_table_tiers"]

logger = logging.getLogger(__name__)

SINGLE_TIER_IDS_BELOW = 50
"""Margin table ids below this are one tier at max leverage = the id (docs, trading/margin-tiers)."""

_warned: set[str] = set()


def margin_table_id(market: Mapping[str, Any]) -> int | None:
    """Return the ``marginTableId`` of a ccxt Hyperliquid market's ``info`` (None: absent or not whole, > 0)."""
    info = market.get("info")
    value = _num(info.get("marginTableId")) if isinstance(info, Mapping) else None
    if value is None or value <= 0 or value != math.floor(value):
        return None
    return int(value)


def margin_table_tiers(raw: object, table_id: int, symbol: str) -> TierTable:
    """Return the tiers of a ``marginTable`` answer (``marginTiers``: ``lowerBound``, ``maxLeverage``).

    Raises
    ------
    VenuePermanentError
        No tiers, a bound that is not a number >= 0 rising from 0, or a max leverage not > 0.
    """
    where = f"hyperliquid marginTable {table_id} ({symbol})"
    rows = raw.get("marginTiers") if isinstance(raw, Mapping) else None
    if not isinstance(rows, list) or not rows:
        raise VenuePermanentError(f"{where}: no marginTiers in {raw!r}")
    brackets: list[tuple[float, float]] = []
    for row in rows:
        floor = _num(row.get("lowerBound")) if isinstance(row, Mapping) else None
        lev = _num(row.get("maxLeverage")) if isinstance(row, Mapping) else None
        previous = brackets[-1][0] if brackets else -1.0
        if floor is None or lev is None or not floor > previous or not lev > 0:
            raise VenuePermanentError(f"{where}: tier {row!r} is not a rising lowerBound >= 0 with maxLeverage > 0")
        brackets.append((floor, lev))
    if brackets[0][0] != 0.0:
        raise VenuePermanentError(f"{where}: the first tier starts at {brackets[0][0]!r}, not 0")
    try:
        return TierTable.from_max_leverage(brackets, source=f"ccxt:{where}")
    except InputError as exc:
        raise VenuePermanentError(f"{where}: tiers rejected: {exc}") from None


async def hyperliquid_tiers(venue: CcxtVenue, symbol: str, market: Mapping[str, Any]) -> TierTable | None:
    """Return a Hyperliquid coin's margin tiers from the venue's own table, else the fallback above.

    None leaves the coin to its built-in table (or, without one and without a max leverage, to
    the margin engine, which asks for tiers).

    Raises
    ------
    VenueAuthError
        The ``marginTable`` request failed for the credentials; any other failure (refused, a
        network error, a rate limit, a table failing :func:`margin_table_tiers`) falls back.
    """
    table_id = margin_table_id(market)
    hip3 = isinstance(market.get("info"), Mapping) and bool(market["info"].get("hip3"))
    if table_id is not None and table_id < SINGLE_TIER_IDS_BELOW:
        return single_tier(table_id, source=f"ccxt:hyperliquid {symbol} marginTableId {table_id} (one tier)")
    if table_id is not None and not hip3:  # a builder dex's table ids are its own: not read
        what = f"fetch_tiers({symbol}) marginTable {table_id}"
        request = {"type": "marginTable", "id": table_id}
        try:
            raw = await venue._call(what, venue._exchange.public_post_info, request)
            return margin_table_tiers(raw, table_id, symbol)
        except VenueAuthError:
            raise
        except VenueError as exc:
            # Refused, malformed, or failing for a while (a rate limit at start-up): the fallback.
            # Raised, the guardian kept "no table" for its hour of tier caching, and a coin
            # without a built-in table could not be evaluated at all (NoTiersError every cycle).
            logger.warning("hyperliquid %s failed (%s); falling back", what, exc)
    if coin_key(symbol) in HYPERLIQUID.builtin_tiers:
        return None
    lev = _num(((market.get("limits") or {}).get("leverage") or {}).get("max"))
    if lev is None or not lev > 0:
        return None
    reason = "no margin table read" if table_id is None else f"marginTable {table_id} not read"
    if symbol not in _warned:
        _warned.add(symbol)
        logger.warning(
            "hyperliquid %s: %s; assuming one tier at max leverage %g (under-margined if its leverage falls with size)",
            symbol,
            reason,
            lev,
        )
    return single_tier(lev, source=f"ccxt:hyperliquid meta {symbol} maxLeverage {lev:g}, assumed one tier ({reason})")
