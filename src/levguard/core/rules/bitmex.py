"""BitMEX linear contracts: cross liquidation and bankruptcy price, and ADL ranking.

Sources
-------
* bitmex.com/app/isolatedMarginExamples (cross example): wallet 10,000 USDT, buy 20 ETHUSDT
  @ 1,000 at 50x: IM 2 % = 400, MM 1 % = 200, LP 510, BP 500, available 9,600.  Reproduced by
  ``equity(P) = WB + q (P - EP)`` against the maintenance margin on the entry value.
* bitmex.com/app/liquidation: margin marked at Fair Price; on the lowest risk limit the
  position is taken over at the bankruptcy price and the maintenance margin is lost; on higher
  risk limits the engine first brings the position down to a lower risk limit (a FillOrKill
  reduce order), and takes it over whole if it is still in liquidation.  A fill better than the
  bankruptcy price goes to the insurance fund (testnet.bitmex.com/app/liquidationExamples: long
  1 contract at 100.00, liquidation price 99.50, bankruptcy price 99.00, filled at 99.25: 0.25 to
  the fund; filled at 98.75: the fund pays 0.25).
* bitmex.com/app/riskLimitsExamples: each risk-limit step raises the maintenance margin of the
  whole position by the base rate ("< 200 XBT 0.50 %, < 350 XBT 1.00 %"; a position of 180 XBT
  needs 0.90 XBT, one of 230 XBT 1.00 %), so tiers carry no maintenance amount
  (``tier_deduction=False``).
* Contract kinds (bitmex.com/app/inversePerpetualsGuide, bitmex.com/app/linearPerpetualsGuide):
  ``XBTUSD`` and the XBT futures (``XBTZ24``) are inverse (1 USD a contract, margin and PnL in
  XBT); ``...USDT`` and ``...USDC`` contracts are linear; other ``...USD`` contracts (``ETHUSD``)
  are quanto (PnL in XBT at a fixed multiplier), which is not modelled: such a position needs its
  ``contract_kind`` (:func:`symbol_kind`).
* bitmex.com/app/autoDeleveraging: ``Ranking = PnL% x EffLev`` if ``PnL% > 0`` else
  ``PnL% / EffLev``, ``EffLev = |MarkValue| / (MarkValue - BankruptValue)``,
  ``PnL% = (MarkValue - AvgEntryValue) / |AvgEntryValue|``; longs and shorts ranked apart;
  the queue indicator shows 20 % steps.  The formula needs ``MarkValue - BankruptValue`` (the
  position's equity) positive; a position at or past its bankruptcy price ranks last
  (:data:`ADL_BANKRUPT`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import TIER_STEP_DOWN, MMBasis, VenueModel
from levguard.core.symbols import ccxt_parts, symbol_key
from levguard.core.validate import (
    array_1d,
    finite_number,
    integer_in,
    no_bools_or_strings,
    non_negative_number,
    require_finite,
    show,
)
from levguard.errors import InputError
from levguard.kernels.cascade_rounds import BANKRUPT_SCORE, adl_score
from levguard.typing import Float64Array1D

ADL_BANKRUPT = BANKRUPT_SCORE
""":func:`adl_ranking` of a position at or past its bankruptcy price: the lowest finite float, after
every position with equity left (BitMEX's counterparties are the profitable positions; a bankrupt
one is being liquidated itself)."""


def symbol_kind(symbol: str) -> ContractKind:
    """Return the contract kind a BitMEX symbol names (inverse for XBT against USD or a future).

    Native names (``XBTUSD``, ``XBTZ24``, ``ETHUSDT``) and ccxt's (``BTC/USD:BTC``, settled in its
    base: inverse; ``.../USDT:USDT``: linear; ``ETH/USD:BTC``: quanto) are read.

    Raises
    ------
    InputError
        A quanto contract (``ETHUSD``): its PnL is paid in XBT at a fixed multiplier, which no
        levguard margin model follows; a position may still say ``contract_kind`` itself.
    """
    parts = ccxt_parts(symbol)
    if parts is not None:  # ccxt's form: BTC/USD:BTC (XBTUSD), BTC/USDT:USDT, ETH/USD:BTC (quanto)
        base, _quote, settle = parts
        if settle in ("USDT", "USDC"):
            return ContractKind.LINEAR
        if settle == base or (settle, base) in (("BTC", "XBT"), ("XBT", "BTC")):
            return ContractKind.INVERSE
    else:
        key = symbol_key(symbol)
        if "USDT" in key or "USDC" in key:
            return ContractKind.LINEAR
        if key.startswith("XBT"):
            return ContractKind.INVERSE
    raise InputError(
        f"symbol {symbol!r} on bitmex is a quanto contract (PnL in XBT at a fixed multiplier), which is not "
        "modelled; give its contract_kind to treat it as linear or inverse"
    )


def adl_ranking(qty: float, entry_price: float, mark_price: float, bankruptcy_price: float) -> float:
    """Return BitMEX's auto-deleveraging ranking score of one position (higher: closed first).

    Parameters
    ----------
    qty : float
        Signed size (base units); values are ``qty x price``, negative for shorts.
    entry_price, mark_price, bankruptcy_price : float
        Average entry, mark (fair) and bankruptcy prices.

    Returns
    -------
    float
        Finite: > 0 in profit, <= 0 at a loss (or break-even), :data:`ADL_BANKRUPT` (the lowest
        finite float) at or past the bankruptcy price, so every position in profit ranks ahead
        of every one at a loss and a bankrupt one ranks last.

    Notes
    -----
    bitmex.com/app/autoDeleveraging: ``PnL% x EffLev`` when in profit, else ``PnL% / EffLev``,
    ``EffLev = |MarkValue| / (MarkValue - BankruptValue)``.  The denominator is the position's
    equity at the mark; at the bankruptcy price it is 0 (the score was ``inf``, which
    :func:`adl_queue` refuses) and past it negative, which turned a loss into a positive score
    (long 100 -> 89, bankruptcy 90: 0.00124, ahead of a 0.1 % winner's 0.00101).  BitMEX ranks
    the profitable positions as counterparties of a liquidated one; a position with no equity
    left is being liquidated itself, so it ranks last.  The expression is the cascade kernel's
    :func:`levguard.kernels.cascade_rounds.adl_score`, called here.
    """
    # Numbers as float (NaN gave a NaN ranking, a string a TypeError, a Decimal mixed with floats too).
    qty, entry_price, mark_price, bankruptcy_price = (
        finite_number(value, name)
        for name, value in (
            ("qty", qty),
            ("entry_price", entry_price),
            ("mark_price", mark_price),
            ("bankruptcy_price", bankruptcy_price),
        )
    )
    if qty == 0 or not all(x > 0 for x in (entry_price, mark_price, bankruptcy_price)):
        raise InputError(
            "adl_ranking needs a non-zero qty and positive finite prices, was "
            f"qty={qty!r}, entry={entry_price!r}, mark={mark_price!r}, bankruptcy={bankruptcy_price!r}"
        )
    return adl_score(math.copysign(1.0, qty), abs(qty), entry_price, mark_price, bankruptcy_price)


def adl_queue(scores: Sequence[float], sizes: Sequence[float]) -> tuple[list[int], Float64Array1D]:
    """Order one side's positions for deleveraging and give each its queue percentile.

    Returns the indices in closing order (highest ranking first) and, per input position, the
    percentile ``ceil(cumulative size share x 5) / 5`` counted from the front of the queue
    (0.2 = closed first ... 1.0 = last fifth).

    Notes
    -----
    testnet.bitmex.com/app/autoDeleveragingExamples: six longs of sizes 10/10/20/30/20/10 with
    rankings 3/6/1/4/5/2 are queued 2, 5, 4, 1, 6, 3 with percentiles 20/40/60/80/80/100 %;
    the ceiling rule reproduces every row (levguard's reading of the published table).
    """
    s, z = _finite_values(scores, "scores"), np.abs(_finite_values(sizes, "sizes"))
    if len(s) != len(z):
        raise InputError(f"scores and sizes must have equal length, were {len(s)} and {len(z)}")
    order = [int(i) for i in np.argsort(-s, kind="stable")]
    total = float(z.sum())
    percentile = np.zeros(len(order))
    if total <= 0:
        return order, percentile
    cum = 0.0
    for i in order:
        cum += float(z[i])
        percentile[i] = math.ceil(cum / total * 5 - 1e-12) / 5
    return order, percentile


def adl_allocate(order: Sequence[int], sizes: Sequence[float], qty: float) -> list[tuple[int, float]]:
    """Split a deleveraged quantity over the queue: ``(index, qty closed)`` pairs, front first.

    Notes
    -----
    BitMEX example: a liquidated short of 20 at bankruptcy price 650 closes account 2 fully
    (10) and 10 of account 5's 20; each counterparty is closed at that bankruptcy price.
    """
    left = non_negative_number(qty, "qty")
    z = np.abs(_finite_values(sizes, "sizes"))
    if isinstance(order, str | bytes) or not isinstance(order, Sequence | np.ndarray):
        raise InputError(f"order must be a sequence of indices into sizes, was {show(order)}")
    # Indices into sizes: one out of range was an IndexError, a negative one read from the end.
    queue = [integer_in(i, f"order[{k}]", 0, len(z)) for k, i in enumerate(order)]
    fills: list[tuple[int, float]] = []
    for i in queue:
        if left <= 0:
            break
        take = min(float(z[i]), left)
        if take > 0:
            fills.append((i, take))
            left -= take
    return fills


def _finite_values(values: object, field: str) -> Float64Array1D:
    # A 1-D array of finite numbers (NaN or inf in sizes was a ValueError of math.ceil).
    no_bools_or_strings(values, field)
    arr = array_1d(values, field)
    require_finite(arr, field)
    return arr


LIQUIDATION = replace(
    TIER_STEP_DOWN,
    source="bitmex.com/app/liquidation; testnet.bitmex.com/app/liquidationExamples",
    keeps=(
        "nothing: the liquidation engine takes the position over with the remaining maintenance margin at the "
        "bankruptcy price; higher risk limits are first reduced to a lower one"
    ),
    step_mode="once",
    modelled=(
        "one reduce order at the fill (liquidation fee rate, default the taker fee) to below the next lower risk "
        "limit; taken over whole when that leaves the position in liquidation"
    ),
)
"""BitMEX: risk-limit step-down, then takeover at the bankruptcy price (the maintenance margin is lost)."""

BITMEX = VenueModel(
    name="bitmex",
    title="BitMEX linear and inverse contracts",
    kind=ContractKind.LINEAR,
    settlement="USDT",
    source="bitmex.com/app/isolatedMarginExamples; bitmex.com/app/liquidation",
    mm_basis=MMBasis.ENTRY,
    tier_deduction=False,
    symbol_kind=symbol_kind,
    liquidation=LIQUIDATION,
)
