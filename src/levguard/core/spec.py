"""Parse the account-spec dict (levguard's public input contract) into domain objects.

Pure: no file or network access.  Every error is an :class:`~levguard.errors.InputError` naming
the field path (``positions[1].entry_price``) and the bad value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from levguard.core.instruments import ContractKind
from levguard.core.margin import builtin_tiers, instrument_for
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.rules import MMBasis, VenueModel, get_venue
from levguard.core.rules.dydx import tier_index as dydx_tier_index
from levguard.core.symbols import contract_key
from levguard.core.tiers import BASES, TierTable
from levguard.core.unified import UNIFIED_VENUES
from levguard.core.unified_pm import PORTFOLIO_MARGIN_VENUES
from levguard.core.validate import as_amount, as_float, short_name, show
from levguard.errors import InputError
from levguard.kernels.margin import position_notional, position_upnl

__all__ = ["account_from_spec", "isolated_margin_from_ccxt", "position_from_ccxt", "tiers_from_spec"]

_ACCOUNT_KEYS = {
    "venue",
    "margin_mode",
    "wallet_balance",
    "positions",
    "tiers",
    "name",
    "options",
    "as_of",
    "vol_surfaces",
    "options_wallet_balance",
    "cross_collateral",
}
"""``name`` labels the account in multi-venue risk reports; ``options``, ``vol_surfaces``, ``as_of``,
``options_wallet_balance`` and ``cross_collateral``
are read by the risk layer (``levguard.risk``), which values option positions; the margin engine has no
option-margin model and leaves them out of margin figures."""
_POSITION_KEYS = {
    "symbol",
    "qty",
    "entry_price",
    "mark_price",
    "leverage",
    "margin_mode",
    "isolated_margin",
    "mmr",
    "maint_amount",
    "tiers",
    "max_leverage",
    "taker_fee_rate",
    "contract_size",
    "imr",
    "contract_kind",
    "settlement",
    "liquidity_tier",
    "open_interest",
    "size_coef",
}
_CCXT_KEYS = {"contracts", "side"}
_RATE_KEYS = {"mmr", "taker_fee_rate", "imr"}
"""Fractions, checked by their own ranges; every other number is an amount (``as_amount``)."""
_MAX_SYMBOL = 100
"""Longest name accepted (symbol, settlement, liquidity tier; ccxt option symbols are under 40)."""


def _opt_float(d: Mapping[str, Any], key: str, where: str) -> float | None:
    if key not in d or d[key] is None:
        return None
    convert = as_float if key in _RATE_KEYS else as_amount
    return convert(d[key], f"{where}.{key}")


def _opt_name(d: Mapping[str, Any], key: str, where: str) -> str | None:
    value = d.get(key)
    return None if value is None else short_name(value, f"{where}.{key}", limit=_MAX_SYMBOL)


def _unknown(keys: set[Any]) -> str:
    # Sorted by their rendering: keys of a YAML document need not be strings (or comparable).
    names = sorted(k if isinstance(k, str) else show(k, 30) for k in keys)
    return show(names, 200) if len(names) <= 10 else f"{show(names[:10], 200)[:-1]}, ... ({len(names)} in all)]"


def tiers_from_spec(raw: object, where: str, *, deduction: bool = True) -> TierTable:
    """Build a tier table from a list of tier dicts (ours, Binance's or ccxt's shape); with
    ``deduction=False`` (the venue's tier rate applies to the whole position) without amounts.

    ``{"basis": "quantity", "rows": [...]}`` gives tiers whose floors and caps are position sizes
    (``contract_size x |qty|``; OKX counts its tiers in contracts), on a venue without deduction
    (:attr:`levguard.core.tiers.TierTable.basis`); ``{"basis": "notional", "rows": [...]}`` is the
    list itself.
    """
    basis = "notional"
    if isinstance(raw, Mapping):
        extra = set(raw) - {"basis", "rows"}
        if extra or "rows" not in raw:
            raise InputError(
                f"{where} must be a list of tier objects or {{basis, rows}}, was a mapping with keys "
                f"{_unknown(set(raw))}"
            )
        basis = raw.get("basis", "notional")
        if basis not in BASES:
            raise InputError(f"{where}.basis must be one of {', '.join(BASES)}, was {show(basis)}")
        if basis == "quantity" and deduction:
            raise InputError(
                f"{where}.basis: tiers by quantity apply the tier's rate to the whole position (OKX); this venue "
                "deducts a maintenance amount by notional tier"
            )
        where, raw = f"{where}.rows", raw["rows"]
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise InputError(f"{where} must be a list of tier objects, was {show(raw)}")
    return TierTable.from_rows(raw, source="account spec", where=where, deduction=deduction, basis=basis)


def _symbol_tiers(raw: object, deduction: bool = True) -> dict[str, TierTable]:
    """Top-level ``tiers``: ``{symbol: [tier, ...] | TierTable}`` (ccxt ``fetch_leverage_tiers``
    output fits; a built table is used as is), keyed by contract
    (:func:`~levguard.core.symbols.contract_key`: ``BTCUSDT`` and ``BTC/USDT:USDT`` are one, a
    perpetual and its dated futures are not); two keys naming one contract are refused, by name."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InputError(f"tiers must map symbol -> list of tiers, was {type(raw).__name__}")
    out: dict[str, TierTable] = {}
    names: dict[str, str] = {}
    for sym, rows in raw.items():
        if not isinstance(sym, str):
            raise InputError(f"tiers keys must be symbols (strings), was {show(sym)}")
        key = contract_key(sym)
        if key in names:
            raise InputError(f"tiers[{show(sym)}] and tiers[{show(names[key])}] name one contract; give its tiers once")
        if not isinstance(rows, TierTable):
            rows = tiers_from_spec(rows, f"tiers[{show(sym)}]", deduction=deduction)
        out[key] = rows
        names[key] = sym
    return out


def isolated_margin_from_ccxt(
    collateral: float | None,
    unrealized_pnl: float | None,
    *,
    position_margin: float | None = None,
    isolated_wallet: float | None = None,
) -> float | None:
    """Return the margin posted to an isolated position from ccxt's figures, without its PnL.

    Parameters
    ----------
    collateral : float or None
        ccxt's ``collateral``: the posted margin plus the unrealised PnL at the mark (settlement
        currency).
    unrealized_pnl : float or None
        ccxt's ``unrealizedPnl`` (or the caller's own at the same mark).
    position_margin, isolated_wallet : float or None
        The posted margin where the venue reports it apart: ccxt's ``positionMargin``, Binance's
        ``info.isolatedWallet``; 0 or None means not reported.

    Returns
    -------
    float or None
        ``position_margin``, else ``isolated_wallet`` (the first > 0), else ``collateral -
        unrealized_pnl`` (possibly <= 0: the caller refuses or drops it); None when neither
        ``collateral`` nor ``unrealized_pnl`` is known.

    Notes
    -----
    ccxt's unified position: "margin is the amount held in the position (excludes unrealized
    pnl), collateral = margin + unrealizedPnl" (ccxt 4.5.90 ``Exchange.safe_position``); Binance's
    positionRisk reports ``isolatedMargin = isolatedWallet + unRealizedProfit`` and ccxt's
    ``binance.parse_position_risk`` makes ``isolatedMargin`` the ``collateral`` and
    ``isolatedWallet`` the ``positionMargin``.  Its COIN-M example (BTCUSD_PERP, 2 contracts,
    isolatedWallet 0.00268058, unRealizedProfit 0.00006413, isolatedMargin 0.00274471) gives
    Binance's liquidation price 25,119.97 from the wallet; from ``collateral`` the PnL counts twice
    (24,920.05).
    """
    for reported in (position_margin, isolated_wallet):
        if reported is not None and reported > 0.0:
            return reported
    if collateral is None or unrealized_pnl is None:
        return None
    return collateral - unrealized_pnl


def _posted(margin: float | None, collateral: object, upnl: object, where: str, pnl: str) -> float:
    # The isolated margin ccxt's figures give, refused where it is not > 0 (the PnL named by ``pnl``).
    if margin is None or not margin > 0.0:
        raise InputError(
            f"{where}: the isolated margin, collateral - {pnl}, must be > 0, was {collateral!r} - {upnl!r}"
        )
    return margin


def _opt_ccxt(d: Mapping[str, Any], key: str, where: str) -> float | None:
    # A number of ccxt's position (None when absent), named by its ccxt field.
    value = d.get(key)
    return None if value is None else as_amount(value, f"{where}.{key}")


def position_from_ccxt(d: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Convert ccxt's unified position structure to the spec's position shape.

    ccxt reports ``contracts`` unsigned with ``side``; levguard signs the quantity.  An isolated
    position's margin is the posted margin without its PnL (:func:`isolated_margin_from_ccxt`:
    ``positionMargin``, Binance ``info.isolatedWallet``, else ``collateral - unrealizedPnl``);
    where ccxt gives ``collateral`` alone the result keeps it under ``collateral`` and
    :func:`account_from_spec` subtracts the PnL at ``markPrice``.  ``maintenanceMarginPercentage``
    is kept under ``ccxt_mmr`` (a key of no spec, as ``collateral``; the caller passes it to the
    position's parser): it is the venue's rate at the position's notional without its maintenance
    amount, a fixed rate only where the venue has no tiers for the contract.
    """
    side = d.get("side")
    side = side.lower() if isinstance(side, str) else None
    if side not in ("long", "short"):
        raise InputError(f"{where}.side must be long or short, was {show(d.get('side'))}")
    contracts = as_amount(d.get("contracts"), f"{where}.contracts")
    if contracts < 0:
        raise InputError(f"{where}.contracts must be >= 0 (unsigned in ccxt), was {contracts!r}")
    out: dict[str, Any] = {
        "symbol": d.get("symbol"),
        "qty": contracts if side == "long" else -contracts,
        "entry_price": d.get("entryPrice"),
        "mark_price": d.get("markPrice"),
    }
    if d.get("contractSize") is not None:
        out["contract_size"] = d["contractSize"]
    if d.get("leverage") is not None:
        out["leverage"] = d["leverage"]
    mode = d.get("marginMode") or d.get("marginType")
    if mode is not None:
        out["margin_mode"] = mode.lower() if isinstance(mode, str) else mode
        if out["margin_mode"] == "isolated":
            info = d.get("info")
            wallet = _opt_ccxt(info, "isolatedWallet", f"{where}.info") if isinstance(info, Mapping) else None
            collateral = _opt_ccxt(d, "collateral", where)
            upnl = _opt_ccxt(d, "unrealizedPnl", where)
            margin = isolated_margin_from_ccxt(
                collateral, upnl, position_margin=_opt_ccxt(d, "positionMargin", where), isolated_wallet=wallet
            )
            if margin is not None:
                out["isolated_margin"] = _posted(margin, collateral, upnl, where, "unrealizedPnl")
            elif collateral is not None:
                out["collateral"] = collateral  # its PnL is subtracted once the contract is known
    if d.get("maintenanceMarginPercentage") is not None:
        out["ccxt_mmr"] = d["maintenanceMarginPercentage"]  # read with the venue's tables: _position
    return out


_VENUE_FIELDS = {
    "liquidity_tier": ("dydx-v4", "the market's liquidity tier"),
    "open_interest": ("dydx-v4", "the market's open interest, scaling its initial margin"),
    "size_coef": ("deribit", "the rate added per unit of size"),
}
"""Position fields read by one venue's rate rule (docs/margin.md 1.2): given elsewhere they would
change nothing, so they are refused by name."""


def _venue_field(model: VenueModel, key: str, value: object, where: str) -> None:
    # Refuse a field of another venue's rate rule (:data:`_VENUE_FIELDS`).
    venue, meaning = _VENUE_FIELDS[key]
    if model.name != venue:
        raise InputError(
            f"{where}.{key} is used on {venue} only ({meaning}); {model.name} does not read it, was {show(value)}"
        )


def _ccxt_rate(
    model: VenueModel, symbol: str, kind: ContractKind, symbol_tiers: Mapping[str, TierTable], rate: float
) -> float | None:
    """Return the fixed maintenance rate a ccxt position's ``maintenanceMarginPercentage`` gives,
    or None where the venue's own tables or rates apply.

    ccxt reports the venue's rate at the position's current notional without its maintenance
    amount: Binance's bracket rate (``binance.parse_position_risk`` reads the bracket of ccxt's
    leverage brackets and drops its ``cum``; positionRisk carries none), elsewhere the
    maintenance margin over the notional (Bybit, OKX, Gate; Deribit's in percent, ccxt 4.5.90).
    A flat rate without the amount overstates Binance's maintenance margin ("MM = notional x MMR
    - cum", binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93) and keeps the bracket
    at every price, so the contract's tiers (top-level ``tiers`` or the built-in snapshot) and a
    rate-based venue's own rates (Deribit, dYdX) are read instead; the rate is a one-tier table
    only where neither exists.
    """
    if model.rate_based:
        return None
    if symbol_tiers.get(contract_key(symbol)) is not None or builtin_tiers(model, symbol, kind) is not None:
        return None
    return rate


def _margin_mode(raw: object, field: str) -> MarginMode:
    if isinstance(raw, str) and raw.lower() in {m.value for m in MarginMode}:
        return MarginMode(raw.lower())
    raise InputError(f"{field} must be cross or isolated, was {show(raw)}")


def _position(
    model: VenueModel,
    d: Mapping[str, Any],
    where: str,
    default_mode: MarginMode,
    symbol_tiers: Mapping[str, TierTable],
    collateral: float | None = None,
    ccxt_mmr: object = None,
    index: int | None = None,
) -> Position:
    # ``collateral``: ccxt's (margin + PnL at the mark) of an isolated position whose PnL ccxt did
    # not report (:func:`position_from_ccxt`); the margin is it less the PnL at ``mark_price``.
    # ``ccxt_mmr``: ccxt's maintenanceMarginPercentage, used by :func:`_ccxt_rate`.
    unknown = set(d) - _POSITION_KEYS
    if unknown:
        raise InputError(f"{where} has unknown field(s) {_unknown(unknown)}; allowed: {sorted(_POSITION_KEYS)}")
    symbol = short_name(d.get("symbol"), f"{where}.symbol", limit=_MAX_SYMBOL)
    for required in ("qty", "entry_price", "mark_price"):
        if d.get(required) is None:
            raise InputError(f"{where}.{required} is required, was missing")
    qty = as_amount(d["qty"], f"{where}.qty")
    entry = as_amount(d["entry_price"], f"{where}.entry_price")
    mark = as_amount(d["mark_price"], f"{where}.mark_price")
    mode_raw = d.get("margin_mode")
    mode = default_mode if mode_raw is None else _margin_mode(mode_raw, f"{where}.margin_mode")
    kind = d.get("contract_kind")
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in ("linear", "inverse")):
        raise InputError(f"{where}.contract_kind must be linear or inverse, was {show(kind)}")
    try:
        inst = instrument_for(
            model,
            symbol,
            kind=None if kind is None else kind.lower(),
            contract_size=_opt_float(d, "contract_size", where),
            settlement=_opt_name(d, "settlement", where),
        )
    except InputError as exc:
        msg = str(exc)
        raise InputError(msg if msg.startswith(where) else f"{where}.{msg}") from None
    max_lev = _opt_float(d, "max_leverage", where)
    mmr = _opt_float(d, "mmr", where)
    if ccxt_mmr is not None and mmr is None and d.get("tiers") is None:
        mmr = _ccxt_rate(
            model, symbol, inst.kind, symbol_tiers, as_float(ccxt_mmr, f"{where}.maintenanceMarginPercentage")
        )
    maint = _opt_float(d, "maint_amount", where)
    if maint and not model.tier_deduction:
        raise InputError(
            f"{where}.maint_amount is not used on {model.name} (its tier rate applies to the whole position, "
            f"with no maintenance deduction), was {maint!r}"
        )
    tiers: TierTable | None = None
    if d.get("tiers") is not None:
        if mmr is not None:
            raise InputError(f"{where}: give either tiers or mmr, not both")
        tiers = tiers_from_spec(d["tiers"], f"{where}.tiers", deduction=model.tier_deduction)
    elif mmr is not None and not model.rate_based:
        if max_lev is None:
            builtin = builtin_tiers(model, symbol, inst.kind)
            if builtin is not None:
                # The built-in cap, at most 1 / mmr: an IM rate below the given MM rate opens liquidatable.
                max_lev = builtin.max_leverage(inst.contract_size * abs(qty) * (1 / entry if inst.inverse else entry))
                max_lev = min(max_lev, 1.0 / mmr) if mmr > 0.0 else max_lev
        try:
            tiers = TierTable.fixed_rate(mmr, maint or 0.0, max_lev, source="account spec (fixed mmr)")
        except InputError as exc:
            raise InputError(f"{where}.{exc}") from None
        # A deduction above notional x mmr where the venue values MM is no bracket of this position
        # (its MM would be negative): TierTable.fixed_rate, Notes.
        price = entry if model.mm_basis is MMBasis.ENTRY else mark
        notional = position_notional(qty * inst.contract_size, price, inst.inverse) if price > 0.0 else math.inf
        if maint and maint > notional * mmr:
            raise InputError(
                f"{where}.maint_amount must be at most notional x mmr = {notional * mmr!r} (the maintenance margin is "
                f"never negative; a bracket's deduction is at most its floor x mmr), was {maint!r}"
            )
    elif maint is not None and not model.rate_based:
        raise InputError(f"{where}.maint_amount needs mmr, was given alone ({maint!r})")
    else:
        tiers = symbol_tiers.get(contract_key(symbol))
    if model.rate_based and maint is not None:
        raise InputError(
            f"{where}.maint_amount is not used on {model.name} (its rates are computed from the position), "
            f"was {maint!r}"
        )
    if max_lev is not None and (mmr is None or model.rate_based):
        raise InputError(
            f"{where}.max_leverage applies only with a fixed mmr (tiers carry their own caps), was {max_lev!r}"
        )
    params: dict[str, float] = {}
    for key in ("open_interest", "size_coef"):
        v = _opt_float(d, key, where)
        if v is not None:
            if v < 0.0:
                raise InputError(f"{where}.{key} must be >= 0, was {v!r}")
            _venue_field(model, key, v, where)
            params[key] = v
    if mmr is not None and tiers is None:
        params["mmr"] = mmr  # rate-based venues (Deribit base rate, dYdX with imr)
    liquidity_tier = _opt_name(d, "liquidity_tier", where)
    if liquidity_tier is not None:
        _venue_field(model, "liquidity_tier", liquidity_tier, where)
        try:
            params["liquidity_tier_index"] = float(dydx_tier_index(liquidity_tier))
        except InputError as exc:
            raise InputError(f"{where}.{exc}") from None
    leverage = _opt_float(d, "leverage", where)
    isolated_margin = _opt_float(d, "isolated_margin", where)
    if collateral is not None and isolated_margin is None:
        upnl = position_upnl(qty * inst.contract_size, entry, mark, inst.inverse)
        margin = isolated_margin_from_ccxt(collateral, upnl)
        isolated_margin = _posted(margin, collateral, upnl, where, "the unrealised PnL at markPrice")
    if isolated_margin is not None and isolated_margin > 0.0 and mode is not MarginMode.ISOLATED:
        raise InputError(
            f"{where}.isolated_margin is the margin of an isolated position; this one is {mode.value} (set "
            f"margin_mode: isolated), was {isolated_margin!r}"
        )
    taker_fee_rate = _opt_float(d, "taker_fee_rate", where)
    imr = _opt_float(d, "imr", where)
    try:
        return Position(
            instrument=inst,
            qty=qty,
            entry_price=entry,
            mark_price=mark,
            margin_mode=mode,
            leverage=leverage,
            isolated_margin=isolated_margin,
            tiers=tiers,
            taker_fee_rate=taker_fee_rate,
            imr=imr,
            params=params,
            spec_index=index,
        )
    except InputError as exc:
        msg = str(exc)
        prefix = f"{inst.symbol}."
        raise InputError(f"{where}.{msg[len(prefix) :]}" if msg.startswith(prefix) else f"{where}: {msg}") from None


def account_from_spec(spec: Mapping[str, Any]) -> Account:
    """Build an :class:`Account` from the account-spec dict.

    The spec is ``{"venue", "margin_mode", "wallet_balance", "positions": [...], "tiers"?}``;
    a position is the spec's own shape or ccxt's unified position structure (detected by its
    ``contracts`` and ``side`` fields; positions with zero contracts are skipped).
    """
    if not isinstance(spec, Mapping):
        raise InputError(f"account spec must be an object, was {type(spec).__name__}")
    venue = spec.get("venue")
    if isinstance(venue, str) and venue.strip().lower() in UNIFIED_VENUES:
        raise InputError(
            f"venue {venue!r} is a unified account (balances in several assets): levguard.evaluate_account "
            "reads it (docs/unified.md); this path takes one wallet_balance"
        )
    if isinstance(venue, str) and venue.strip().lower() in PORTFOLIO_MARGIN_VENUES:
        raise InputError(
            f"venue {venue!r} is a portfolio-margin account: levguard.evaluate_account (levguard margin) reads it "
            "(docs/unified.md); this path takes one wallet_balance and per-position margin"
        )
    unknown = set(spec) - _ACCOUNT_KEYS
    if unknown:
        raise InputError(f"account spec has unknown field(s) {_unknown(unknown)}; allowed: {sorted(_ACCOUNT_KEYS)}")
    if "venue" not in spec:
        raise InputError("venue is required, was missing")
    model = get_venue(spec["venue"])
    default_mode = _margin_mode(spec.get("margin_mode", "cross"), "margin_mode")
    wallet = as_amount(spec.get("wallet_balance", 0.0), "wallet_balance")
    raw_positions = spec.get("positions", [])
    if not isinstance(raw_positions, Sequence) or isinstance(raw_positions, str | bytes):
        raise InputError(f"positions must be a list, was {type(raw_positions).__name__}")
    symbol_tiers = _symbol_tiers(spec.get("tiers"), model.tier_deduction)
    positions: list[Position] = []
    for i, raw in enumerate(raw_positions):
        where = f"positions[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where} must be an object, was {show(raw)}")
        if set(raw) >= _CCXT_KEYS:
            if as_amount(raw.get("contracts"), f"{where}.contracts") == 0.0:
                continue
            raw = position_from_ccxt(raw, where)
            collateral = raw.pop("collateral", None)
            ccxt_mmr = raw.pop("ccxt_mmr", None)
        else:
            collateral = ccxt_mmr = None
        positions.append(_position(model, raw, where, default_mode, symbol_tiers, collateral, ccxt_mmr, index=i))
    return Account(venue=model.name, wallet_balance=wallet, positions=tuple(positions))
