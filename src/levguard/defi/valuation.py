"""A lending position valued at its protocol's oracle prices, beside the market's.

A position spec may carry an ``oracles:`` section: "now", and per asset the oracle's reading
(a Chainlink-style answer with its round data and heartbeat, or for Aave a CAPO adapter over its
base feed) and a market price.  :func:`oracle_valuation` reads each price as the protocol does,
flags what a careful consumer would refuse, and compares the health factor at the oracle's prices
with the one at the market's::

    oracles:
      block_timestamp: 1773143160        # now, Unix seconds
      assets:
        WETH:
          answer: 193400000000           # latestRoundData().answer (the feed's decimals)
          decimals: 8
          updated_at: 1773142560         # Unix seconds
          heartbeat: 3600                # the feed's heartbeat, seconds
          market_price: 1934             # per whole token, the answer's unit (default: the oracle's)
          # optional: round_id, answered_in_round (default 1 and round_id), started_at,
          # fallback_answer (Aave: what the fallback oracle returns; default none: a read of an
          # answer <= 0 reverts)
        wstETH:                          # Aave CAPO for an LST: answer etc. are the base feed's
          answer: 193400000000
          decimals: 8
          updated_at: 1773142560
          heartbeat: 3600
          capo: {snapshot_ratio: "1191916000000000000", snapshot_timestamp: 1772538360,
                 max_yearly_ratio_growth_percent: 872, ratio: "1228900000000000000"}
          market_price: 2376.6926        # or capo: {price_cap: 100400000} for a stablecoin

Aave reads every reserve in USD with 8 decimals (``decimals`` must be 8); a reserve without an
entry keeps its ``price_usd`` as both prices.  Morpho's ``MorphoChainlinkOracleV2`` is taken with
the collateral's feed as base feed 1 and the loan token's (if given) as quote feed 1; without a
loan entry the quote side has no feed (price 1) and the collateral's feed must be in loan tokens.

Notes
-----
The rules are :mod:`levguard.defi.oracles`' (formulas in :mod:`levguard.core.defi.price_feeds`
and :mod:`levguard.core.defi.price_adapters`): the consumer checks are
:func:`~levguard.defi.oracles.check_round`; Aave's read is ``AaveOracle.getAssetPrice``
(:func:`~levguard.defi.oracles.aave_asset_price`: an answer ``<= 0`` goes to the fallback oracle,
no time checks), over ``PriceCapAdapterBase.latestAnswer`` / ``PriceCapAdapterStable.latestAnswer``
for CAPO; Morpho's is ``ChainlinkDataFeedLib.getPrice`` (a negative answer reverts, 0 passes) inside
``MorphoChainlinkOracleV2.price()`` (:func:`~levguard.defi.oracles.morpho_oracle_price`).  The
health factors are the exact engines' (``getUserAccountData``; Morpho ``_isHealthy``'s ratio)
with the prices replaced; values and gaps are :func:`~levguard.defi.oracles.value_at_oracle`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from levguard.core.defi.price_adapters import (
    CapoAdapter,
    MorphoChainlinkOracleV2,
    capo_latest_answer,
    capo_stable_latest_answer,
    morpho_oracle_price,
)
from levguard.core.defi.price_feeds import (
    AAVE_BASE_CURRENCY_UNIT,
    MorphoOracleError,
    OraclePolicy,
    RoundData,
    aave_asset_price,
    check_round,
    morpho_feed_price,
    value_at_oracle,
)
from levguard.core.validate import contract_int, contract_sint, contract_uint, show
from levguard.defi import _aave_analytics as _aave
from levguard.defi import _morpho_analytics as _morpho
from levguard.defi.positions import (
    AAVE_PRICE_DECIMALS,
    AavePosition,
    DefiPosition,
    MorphoPosition,
    _keys,
    _mapping,
    load_position,
    oracle_price_from,
    parse_number,
)
from levguard.defi.results import OraclePriceLine, PositionValuation
from levguard.documents import load_spec
from levguard.errors import InputError

__all__ = ["OraclePriceLine", "PositionValuation", "oracle_valuation"]

_ASSET_KEYS: Final = (
    "answer",
    "decimals",
    "updated_at",
    "heartbeat",
    "round_id",
    "answered_in_round",
    "started_at",
    "market_price",
    "fallback_answer",
    "capo",
)
_ASSET_REQUIRED: Final = ("answer", "updated_at", "heartbeat")
_CAPO_KEYS: Final = (
    "snapshot_ratio",
    "snapshot_timestamp",
    "max_yearly_ratio_growth_percent",
    "ratio",
    "ratio_decimals",
    "minimum_snapshot_delay",
)
_CAPO_REQUIRED: Final = ("snapshot_ratio", "snapshot_timestamp", "max_yearly_ratio_growth_percent", "ratio")


# --- the spec section ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    # One asset's oracle entry, validated.
    symbol: str
    round: RoundData
    heartbeat: int
    market_price: Decimal | None
    fallback: int | None
    capo: CapoAdapter | None
    ratio: int | None
    price_cap: int | None


def _capo(value: object, where: str, decimals: int) -> tuple[CapoAdapter | None, int | None, int | None]:
    spec = _mapping(value, where)
    if "price_cap" in spec:  # PriceCapAdapterStable
        _keys(spec, where, ("price_cap",), ("price_cap",))
        return None, None, contract_sint(spec["price_cap"], f"{where}.price_cap", digits=True)
    _keys(spec, where, _CAPO_REQUIRED, _CAPO_KEYS)
    ints = {
        "snapshot_ratio": contract_uint(spec["snapshot_ratio"], f"{where}.snapshot_ratio", 104, digits=True),
        "snapshot_timestamp": contract_uint(spec["snapshot_timestamp"], f"{where}.snapshot_timestamp", 48, digits=True),
        "max_yearly_ratio_growth_percent": contract_int(
            spec["max_yearly_ratio_growth_percent"],
            f"{where}.max_yearly_ratio_growth_percent",
            0,
            2**16 - 1,
            "uint16 bps",
            digits=True,
        ),
        "ratio_decimals": contract_uint(spec.get("ratio_decimals", 18), f"{where}.ratio_decimals", 8, digits=True),
        "minimum_snapshot_delay": contract_uint(
            spec.get("minimum_snapshot_delay", 0), f"{where}.minimum_snapshot_delay", 48, digits=True
        ),
    }
    ratio = contract_sint(spec["ratio"], f"{where}.ratio", digits=True)
    try:
        adapter = CapoAdapter(decimals=decimals, **ints)
    except InputError as exc:  # the constructor's reverts (SnapshotRatioIsZero, WrongRatioDecimals)
        raise InputError(f"{where}: {exc}") from None
    return adapter, ratio, None


def _entry(symbol: str, row: Mapping[str, Any], now: int, protocol: str) -> _Entry:
    where = f"oracles.assets.{symbol}"
    _keys(row, where, _ASSET_REQUIRED, _ASSET_KEYS)
    decimals = contract_int(row.get("decimals", 8), f"{where}.decimals", 0, 36, "0 to 36", digits=True)
    if protocol == "aave-v3" and decimals != AAVE_PRICE_DECIMALS:
        raise InputError(f"{where}.decimals must be 8 (Aave's base currency: USD with 8 decimals), was {decimals}")
    if protocol == "morpho-blue":
        for key in ("capo", "fallback_answer"):
            if key in row:
                raise InputError(f"{where}.{key} is an Aave oracle setting; Morpho's oracle has no {key}")
    updated_at = contract_uint(row["updated_at"], f"{where}.updated_at", digits=True)
    if updated_at > now:
        raise InputError(f"{where}.updated_at must not be after oracles.block_timestamp ({now}), was {updated_at}")
    round_id = contract_uint(row.get("round_id", 1), f"{where}.round_id", 80, digits=True)
    rd = RoundData(
        round_id=round_id,
        answer=contract_sint(row["answer"], f"{where}.answer", digits=True),
        started_at=contract_uint(row.get("started_at", updated_at), f"{where}.started_at", digits=True),
        updated_at=updated_at,
        answered_in_round=contract_uint(
            row.get("answered_in_round", round_id), f"{where}.answered_in_round", 80, digits=True
        ),
        decimals=decimals,
    )
    market = None
    if "market_price" in row:
        market = parse_number(row["market_price"], f"{where}.market_price")
        if market <= 0:
            raise InputError(f"{where}.market_price must be > 0, was {market}")
    fallback = (
        None
        if "fallback_answer" not in row
        else contract_uint(row["fallback_answer"], f"{where}.fallback_answer", digits=True)
    )
    capo, ratio, cap = (None, None, None) if "capo" not in row else _capo(row["capo"], f"{where}.capo", decimals)
    return _Entry(
        symbol,
        rd,
        contract_uint(row["heartbeat"], f"{where}.heartbeat", digits=True),
        market,
        fallback,
        capo,
        ratio,
        cap,
    )


def _section(section: object, pos: DefiPosition) -> tuple[int, dict[str, _Entry]]:
    s = _mapping(section, "oracles")
    _keys(s, "oracles", ("block_timestamp", "assets"), ("block_timestamp", "assets"))
    now = contract_uint(s["block_timestamp"], "oracles.block_timestamp", digits=True)
    assets = _mapping(s["assets"], "oracles.assets")
    if not assets:
        raise InputError("oracles.assets must name at least one asset")
    if isinstance(pos, AavePosition):
        known = [r.symbol for r in pos.reserves]
    else:
        known = [pos.collateral_symbol, pos.loan_symbol]
    entries = {}
    for symbol, row in assets.items():
        if str(symbol) not in known:
            raise InputError(f"oracles.assets has {show(symbol)}, which is not among the position's assets {known}")
        entries[str(symbol)] = _entry(str(symbol), _mapping(row, f"oracles.assets.{symbol}"), now, pos.protocol)
    if isinstance(pos, MorphoPosition) and pos.collateral_symbol not in entries:
        raise InputError(
            f"oracles.assets needs the collateral {pos.collateral_symbol!r}: Morpho's oracle prices it (base feed)"
        )
    return now, entries


# --- the readings ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Read:
    # What the protocol reads from one entry.
    source: str
    price: int | None  # protocol units (Aave 8 decimals; Morpho the feed's answer)
    outcome: str
    reason: str
    detail: str
    capped: bool | None
    headroom: float | None


def _aave_read(e: _Entry, now: int) -> _Read:
    answer, source, capped, headroom = e.round.answer, "feed", None, None
    if e.capo is not None:
        assert e.ratio is not None  # parsed with the adapter
        try:
            capo = capo_latest_answer(e.capo, e.round.answer, e.ratio, now)
        except InputError as exc:  # a panic of the adapter (the block before the snapshot)
            raise InputError(f"oracles.assets.{e.symbol}.capo: {exc}") from None
        answer, source, capped = capo.answer, "capo", capo.is_capped
        headroom = None if math.isnan(capo.headroom) else capo.headroom
    elif e.price_cap is not None:
        stable = capo_stable_latest_answer(e.round.answer, e.price_cap)
        answer, source, capped = stable.answer, "capo_stable", stable.is_capped
        # The cap's distance from the feed's answer, as the LST adapter's headroom.
        headroom = e.price_cap / e.round.answer - 1.0 if e.round.answer > 0 else None
    r = aave_asset_price(answer, fallback_price=e.fallback)
    return _Read(source, r.price, r.outcome, r.reason, r.detail, capped, headroom)


def _morpho_read(e: _Entry) -> _Read:
    try:
        return _Read("feed", morpho_feed_price(e.round.answer), "answer", "", "", None, None)
    except MorphoOracleError as exc:
        return _Read("feed", None, "revert", exc.reason, exc.detail, None, None)


def _whole(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)  # exact


def _line(
    symbol: str, amount: float, e: _Entry | None, read: _Read | None, now: int, spec_price: Decimal
) -> tuple[OraclePriceLine, Decimal | None, Decimal]:
    # The line, the oracle price and the market price (exact decimals) of one asset.
    if e is None or read is None:
        line = OraclePriceLine(
            symbol, "spec", amount, None, None, float(spec_price), float(spec_price), 0.0, "spec", "",
            (), None, None, "", None, None, None, None,
        )  # fmt: skip
        return line, spec_price, spec_price
    check = check_round(e.round, now, e.heartbeat)
    oracle = None if read.price is None else _whole(read.price, e.round.decimals)
    market = e.market_price if e.market_price is not None else oracle
    if market is None:
        raise InputError(f"oracles.assets.{symbol}.market_price is needed: the oracle read reverts ({read.reason})")
    line = OraclePriceLine(
        symbol=symbol,
        source=read.source,
        amount=amount,
        answer=e.round.answer,
        price=read.price,
        oracle_price=None if oracle is None else float(oracle),
        market_price=float(market),
        gap=None,
        outcome=read.outcome,
        reason=read.reason,
        failures=check.failures,
        age=check.age,
        heartbeat=check.heartbeat,
        detail="; ".join(x for x in (check.detail, read.detail) if x),
        capped=read.capped,
        cap_headroom=read.headroom,
        oracle_value=None,
        market_value=None,
    )
    return line, oracle, market


def _with_values(lines: list[OraclePriceLine]) -> tuple[list[OraclePriceLine], tuple[float, ...] | None]:
    # Values and gaps from value_at_oracle where both prices are positive; the net totals when all are.
    out = []
    for ln in lines:
        o, m = ln.oracle_price, ln.market_price
        if o is not None and m is not None and o > 0:
            row = value_at_oracle([{"symbol": ln.symbol, "amount": ln.amount, "oracle_price": o, "market_price": m}])
            v = row.rows[0]
            ln = replace(ln, gap=v.price_gap, oracle_value=v.oracle_value, market_value=v.market_value)
        elif o == 0.0 and m is not None:
            ln = replace(ln, gap=-1.0, oracle_value=0.0, market_value=ln.amount * m)  # priced at nothing
        out.append(ln)
    usable = [ln for ln in out if ln.oracle_price is not None and ln.oracle_price > 0]
    if len(usable) != len(out):
        return out, None
    total = value_at_oracle(
        [{"symbol": ln.symbol, "amount": ln.amount, "oracle_price": ln.oracle_price, "market_price": ln.market_price}
         for ln in usable]
    )  # fmt: skip
    return out, (total.oracle_value, total.market_value, total.value_gap, total.gap)


def _value_aave(pos: AavePosition, now: int, entries: dict[str, _Entry]) -> PositionValuation:
    lines: list[OraclePriceLine] = []
    oracle_rows, market_rows = list(pos.reserves), list(pos.reserves)
    exact: dict[str, int] = {}
    reason = ""
    for i, r in enumerate(pos.reserves):
        e = entries.get(r.symbol)
        if e is None and r.collateral == 0 and r.debt == 0:
            continue
        amount = (r.collateral - r.debt) / int(10**r.decimals)
        read = None if e is None else _aave_read(e, now)
        line, _, market = _line(r.symbol, amount, e, read, now, _whole(r.price, AAVE_PRICE_DECIMALS))
        lines.append(line)
        if read is None:
            continue
        if read.price is None:
            if (r.collateral or r.debt) and not reason:  # getUserAccountData reads the assets it holds
                reason = f"{r.symbol}: the oracle read reverts ({read.reason}: {read.detail})"
        else:
            oracle_rows[i] = replace(r, price=read.price)
            exact[r.symbol] = read.price
        market_rows[i] = replace(r, price=math.floor(Fraction(market) * AAVE_BASE_CURRENCY_UNIT))
    hf_o = None if reason else _aave.account(pos, tuple(oracle_rows)).health_factor
    hf_m = _aave.account(pos, tuple(market_rows)).health_factor
    return _report(pos, now, OraclePolicy.AAVE.value, "USD", lines, hf_o, hf_m, reason, exact)


def _value_morpho(pos: MorphoPosition, now: int, entries: dict[str, _Entry]) -> PositionValuation:
    c, loan = entries[pos.collateral_symbol], entries.get(pos.loan_symbol)
    cread = _morpho_read(c)
    amount_c = pos.position.collateral / int(10**pos.collateral_decimals)
    amount_l = -_morpho.borrowed(pos) / int(10**pos.loan_decimals)
    cline, _, cmarket = _line(pos.collateral_symbol, amount_c, c, cread, now, Decimal(0))
    lines = [cline]
    lmarket = Decimal(1)
    if loan is not None:
        lline, _, lmarket = _line(pos.loan_symbol, amount_l, loan, _morpho_read(loan), now, Decimal(0))
        lines.append(lline)
    else:  # no quote feed: the oracle's quote price is 1 (ChainlinkDataFeedLib.getPrice of address zero)
        lines.append(replace(_line(pos.loan_symbol, amount_l, None, None, now, Decimal(1))[0], source="no_feed"))
    oracle = MorphoChainlinkOracleV2(
        base_token_decimals=pos.collateral_decimals,
        quote_token_decimals=pos.loan_decimals,
        base_feed_1_decimals=c.round.decimals,
        quote_feed_1_decimals=None if loan is None else loan.round.decimals,
    )
    exact: dict[str, int] = {}
    reason = ""
    hf_o = None
    try:
        price = morpho_oracle_price(
            oracle, base_feed_1=c.round.answer, quote_feed_1=None if loan is None else loan.round.answer
        )
    except MorphoOracleError as exc:  # price() reverts: Morpho cannot value the position
        reason = f"MorphoChainlinkOracleV2.price() reverts ({exc.reason}: {exc.detail})"
        if lmarket == 0:  # a loan feed answering 0, no market price: the quote price of 0 divides too
            raise InputError(
                f"oracles.assets.{pos.loan_symbol}.market_price is needed: the oracle read reverts ({exc.reason})"
            ) from None
    else:
        exact["oracle_price"] = price
        hf_o = _morpho.hf(pos, price=price)
    market_price = oracle_price_from(cmarket, lmarket, pos.collateral_decimals, pos.loan_decimals)
    exact["market_oracle_price"] = market_price
    hf_m = _morpho.hf(pos, price=market_price)
    unit = pos.loan_symbol if loan is None else "USD"
    return _report(pos, now, OraclePolicy.MORPHO.value, unit, lines, hf_o, hf_m, reason, exact)


def _report(
    pos: DefiPosition,
    now: int,
    policy: str,
    unit: str,
    lines: list[OraclePriceLine],
    hf_o: int | None,
    hf_m: int,
    reason: str,
    exact: dict[str, int],
) -> PositionValuation:
    valued, totals = _with_values(lines)
    o = None if hf_o is None else _aave.hf_float(hf_o)
    m = _aave.hf_float(hf_m)
    gap = None
    if o is not None and math.isfinite(o) and math.isfinite(m) and m > 0:
        gap = o / m - 1.0
    return PositionValuation(
        protocol=pos.protocol,
        policy=policy,
        block_timestamp=now,
        value_unit=unit,
        assets=tuple(valued),
        health_factor_oracle=o,
        health_factor_oracle_wad=hf_o,
        health_factor_market=m,
        health_factor_market_wad=hf_m,
        health_factor_gap=gap,
        oracle_value=None if totals is None else totals[0],
        market_value=None if totals is None else totals[1],
        value_gap=None if totals is None else totals[2],
        gap=None if totals is None else totals[3],
        failures=tuple(f"{ln.symbol}: {f}" for ln in valued for f in ln.failures),
        reason=reason,
        exact=MappingProxyType(exact),
    )


def oracle_valuation(
    spec: Mapping[str, Any] | str | Path | AavePosition | MorphoPosition, oracles: Mapping[str, Any] | None = None
) -> PositionValuation:
    """Value a position at its protocol's oracle prices and at the market's.

    Parameters
    ----------
    spec : mapping, path or position
        The position (docs/defi.md); its ``oracles:`` section is used unless ``oracles`` is given.
    oracles : mapping, optional
        The section (module docstring): ``block_timestamp`` and per asset the reading and the
        market price.

    Returns
    -------
    PositionValuation
        Per asset the price the protocol reads (Aave: fallback on an answer ``<= 0``; Morpho:
        revert on a negative one), the market price, the gap and the failed feed checks; the
        health factor at the oracle prices and at the market prices.

    Raises
    ------
    InputError
        No section, an unknown asset or field, a value out of its contract range (named with its
        path, ``oracles.assets.WETH.heartbeat``), an answer updated after ``block_timestamp``, Aave
        feed decimals other than 8, a CAPO adapter its constructor refuses or a block before its
        snapshot, a missing market price where the read reverts.

    Notes
    -----
    Per asset ``gap = oracle_price / market_price - 1``; the health factors are the engines'
    (Aave ``GenericLogic.calculateUserAccountData``, Morpho ``_isHealthy``'s
    ``maxBorrow / borrowed``) with the oracle's prices, then with the market's (Aave: floored to
    8 decimals; Morpho: ``floor(1e36 * collateral / loan * 10**(dL - dC))``); sources in the
    module Notes.
    """
    raw = load_spec(spec) if isinstance(spec, str | Path) else spec
    pos = load_position(raw)
    section = oracles if oracles is not None else (raw.get("oracles") if isinstance(raw, Mapping) else None)
    if section is None:
        raise InputError("oracles is needed: the spec has no oracles: section (block_timestamp, assets)")
    now, entries = _section(section, pos)
    if isinstance(pos, AavePosition):
        return _value_aave(pos, now, entries)
    return _value_morpho(pos, now, entries)
