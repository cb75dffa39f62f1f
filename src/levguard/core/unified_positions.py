"""The positions of a unified-account spec: each parsed with its venue's rules and checked against
what the account takes (split from :mod:`levguard.core.unified`, which documents the spec).

Contract names are read for what they are: Binance COIN-M names (``BTCUSD_PERP``) are inverse
contracts on ``binance-pm``; other venues' inverse names (Bybit ``BTCUSD``, OKX
``BTC-USD-SWAP``, Deribit ``BTC-PERPETUAL``) are refused by name on every unified venue, as a
linear reading would make them contracts of ``qty`` coins.  Names quoted in BUSD or FDUSD
(Binance's BUSD-margined ``BTCBUSD``, ``BTCFDUSD``) are linear contracts settled in that coin, not
inverse ones: refused for their settlement, as USDC-settled contracts are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from levguard.core.positions import MarginMode, Position, duplicate_message
from levguard.core.rules import VenueModel
from levguard.core.symbols import base_asset, contract_key, reads_busd_quote, settled_otherwise
from levguard.core.unified_options import (
    BybitOption,
    as_of_from_spec,
    is_option_entry,
    option_from_spec,
)
from levguard.core.validate import as_amount, show
from levguard.errors import InputError

if TYPE_CHECKING:
    from levguard.core.unified import UnifiedVenue

__all__ = ["is_coin_margined_symbol", "looks_inverse", "positions_from_spec", "stablecoin_quote"]

_SETTLE = "USDT"
_OTHER_SETTLE = "linear USDT perpetuals; contracts settled in USDC, BUSD or another coin are not modelled"


def positions_from_spec(
    spec: Mapping[str, Any],
    venue: UnifiedVenue,
    model: VenueModel,
    inverse: VenueModel | None,
    prices: Mapping[str, float],
) -> tuple[list[Position], tuple[BybitOption, ...], tuple[int, ...]]:
    # The spec's positions in order, each parsed with its rules (COIN-M ones with ``inverse``) and
    # checked against what the venue's unified account takes; errors name the position.  Options
    # (bybit-uta) come apart with their places among the positions.
    from levguard.core.spec import _position, _symbol_tiers, position_from_ccxt

    raw = spec.get("positions", [])
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise InputError(f"positions must be a list, was {type(raw).__name__}")
    symbol_tiers = _symbol_tiers(spec.get("tiers"), model.tier_deduction)
    book: list[Position] = []
    options: list[BybitOption] = []
    option_slots: list[int] = []
    seen: dict[str, str] = {}  # contract key -> its first spelling (positions and options)
    for i, d in enumerate(raw):
        if not isinstance(d, Mapping):
            raise InputError(f"positions[{i}] must be an object, was {show(d)}")
        if is_option_entry(d):
            where = f"positions[{i}]"
            if venue.name != "bybit-uta":
                raise InputError(
                    f"{where}.symbol {show(d.get('symbol'))} is an option: {venue.name} takes none (only Bybit's "
                    "USDC option margin is modelled, on bybit-uta; this venue's option margin in its unified "
                    "account is not)"
                )
            o = option_from_spec(d, where, as_of_from_spec(spec), prices)  # as_of read only with options
            if contract_key(o.symbol) in seen:
                raise InputError(duplicate_message(where, o.symbol, seen[contract_key(o.symbol)]))
            seen[contract_key(o.symbol)] = o.symbol
            option_slots.append(len(book) + len(options))
            options.append(o)
            continue
        if {"contracts", "side"} <= set(d):
            if as_amount(d.get("contracts"), f"positions[{i}].contracts") == 0.0:
                continue  # an empty ccxt position
            d = position_from_ccxt(d, f"positions[{i}]")
            d.pop("collateral", None)  # an isolated position's: refused below
            ccxt_mmr = d.pop("ccxt_mmr", None)
        else:
            ccxt_mmr = None
        rules = model
        if d.get("contract_kind") is None and (coin := stablecoin_quote(d.get("symbol"))) is not None:
            # Read by the symbol rules, the USD tail of BTCBUSD named an inverse contract.
            raise InputError(
                f"positions[{i}] ({str(d.get('symbol')).strip()}).settlement must be USDT on {venue.name} "
                f"({_OTHER_SETTLE}), was {coin!r}"
            )
        if inverse is not None and _is_inverse(d):
            d, rules = {**d, "contract_kind": "inverse"}, inverse
        elif d.get("contract_kind") is None and looks_inverse(d.get("symbol")):
            # Read as linear, an inverse symbol would be a contract of qty coins: refuse it by name.
            raise InputError(
                f"positions[{i}].symbol {show(d.get('symbol'))} is an inverse (coin-settled) contract: "
                f"not on {venue.name} ({venue.inverse_refusal or _COINM_NAMES})"
            )
        p = _position(rules, d, f"positions[{i}]", MarginMode.CROSS, symbol_tiers, ccxt_mmr=ccxt_mmr, index=i)
        where = f"positions[{i}] ({p.symbol})"
        if p.isolated:
            raise InputError(f"{where}.margin_mode must be cross on {venue.name}, was 'isolated'")
        if p.instrument.inverse:
            if inverse is None:
                raise InputError(
                    f"{where}.contract_kind must be linear on {venue.name} ({venue.inverse_refusal}), "
                    f"was {p.instrument.kind.value!r}"
                )
            coin = base_asset(p.symbol)
            if p.instrument.settlement.upper() != coin:
                raise InputError(
                    f"{where}.settlement must be {coin} on {venue.name} (a COIN-M contract settles in its base "
                    f"coin), was {p.instrument.settlement!r}"
                )
        elif (
            was := settled_otherwise(p.symbol, p.instrument.settlement, _SETTLE, bybit=venue.name == "bybit-uta")
            or stablecoin_quote(p.symbol)
        ) is not None:
            raise InputError(f"{where}.settlement must be USDT on {venue.name} ({_OTHER_SETTLE}), was {was!r}")
        key = contract_key(p.symbol)
        if key in seen:
            raise InputError(duplicate_message(f"positions[{i}]", p.symbol, seen[key]))
        seen[key] = p.symbol
        book.append(p)
    return book, tuple(options), tuple(option_slots)


# Binance COIN-M symbols: BTCUSD_PERP, ETHUSD_250627 (delivery); ccxt's BTC/USD:BTC(-250627).
_COINM_SYMBOL = re.compile(r"^([A-Z0-9]+)USD_(?:PERP|\d{6})$")
_CCXT_COINM_SYMBOL = re.compile(r"^([A-Z0-9]+)/USD:\1(?:-\d{6})?$")


def is_coin_margined_symbol(symbol: str) -> bool:
    """True for a Binance COIN-M symbol (``BTCUSD_PERP``, ``ETHUSD_250627``) or its ccxt form
    (``BTC/USD:BTC``, ``BTC/USD:BTC-250627``)."""
    s = symbol.strip().upper()
    if "USD_" not in s and "/USD:" not in s:
        return False  # most symbols: no pattern to try
    if m := _COINM_SYMBOL.match(s):
        # ETHBUSD_PERP names ETH in BUSD (a linear contract), not a COIN-M ETHB; BNBUSD_PERP is BNB's.
        base = m.group(1)
        return not (base.endswith("B") and reads_busd_quote(base[:-1]))
    return bool(_CCXT_COINM_SYMBOL.match(s))


# Other venues' inverse symbols: Bybit BTCUSD, BTCUSDH25; OKX BTC-USD-SWAP, BTC-USD-250627;
# Deribit BTC-PERPETUAL (its BTC-27DEC24 futures are left: on Bybit that name is a USDC future,
# refused for its settlement).
_OTHER_INVERSE_SYMBOL = re.compile(
    r"^(?:[A-Z0-9]+USD(?:[FGHJKMNQUVXZ]\d{2})?|[A-Z0-9]+-USD-(?:SWAP|\d{6})|[A-Z0-9]+-PERPETUAL)$"
)


def looks_inverse(symbol: object) -> bool:
    """True for an inverse (coin-settled) contract's symbol on any venue levguard reads: Binance
    COIN-M and ccxt's ``BTC/USD:BTC`` forms, Bybit ``BTCUSD`` / ``BTCUSDH25``, OKX ``BTC-USD-SWAP``,
    Deribit ``BTC-PERPETUAL``."""
    if not isinstance(symbol, str):
        return False
    s = symbol.strip().upper()
    if is_coin_margined_symbol(s):
        return True
    return stablecoin_quote(s) is None and bool(_OTHER_INVERSE_SYMBOL.match(s))


# A BUSD or FDUSD quote: Binance's BUSD-margined USD-M perpetuals (BTCBUSD, ETHBUSD; delisted in
# December 2023) and FDUSD-quoted names (BTCFDUSD), also with a separator (BTC-BUSD-SWAP).  Their
# USD tail matched Bybit's inverse BTCUSD.  TUSD is left out: XBTUSD and Bybit's BITUSD are inverse.
_STABLE_QUOTE = re.compile(r"(?:^[A-Z0-9]+?|[_\-/])(FDUSD|BUSD)(?=[_\-:]|$)")


def stablecoin_quote(symbol: object) -> str | None:
    """Return ``"BUSD"`` or ``"FDUSD"`` for a linear contract's name quoted in it (``BTCBUSD``,
    ``BTCFDUSD``, ``BTC-BUSD-SWAP``, ``ETHBUSD_PERP``), else None (a Binance COIN-M name such as
    ``BNBUSD_PERP``, and ``BNBUSD``, ``ARBUSD``: a coin ending in B before USD, by
    :func:`levguard.core.symbols.reads_busd_quote`).  Such a contract settles in that coin (Binance,
    "BUSD-Margined Contract Specifications and Trading Rules": quoted, settled and collateralised
    in BUSD)."""
    if not isinstance(symbol, str):
        return None
    s = symbol.strip().upper()
    if is_coin_margined_symbol(s):
        return None
    m = _STABLE_QUOTE.search(s)
    if m is None:
        return None
    if (
        m.group(1) == "BUSD"
        and m.start(1) > 0
        and s[m.start(1) - 1] not in "_-/"
        and not reads_busd_quote(s[: m.start(1)])
    ):
        return None  # BNBUSD, ARBUSD, CKBUSD: inverse contracts on BNB, ARB, CKB
    return m.group(1)


_COINM_NAMES = (
    "its COIN-M contracts are read by Binance's names, BTCUSD_PERP and ETHUSD_250627, or ccxt's BTC/USD:BTC; "
    "another venue's inverse contract is not in its portfolio margin"
)


def _is_inverse(d: Mapping[str, Any]) -> bool:
    # A spec position to read as an inverse COIN-M contract: contract_kind "inverse", or no kind
    # given and a COIN-M symbol.
    kind, symbol = d.get("contract_kind"), d.get("symbol")
    if kind is None:
        return isinstance(symbol, str) and is_coin_margined_symbol(symbol)
    return isinstance(kind, str) and kind.strip().lower() == "inverse"
