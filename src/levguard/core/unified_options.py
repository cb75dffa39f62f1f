"""Bybit USDC options in a Unified Trading Account (``bybit-uta``, cross margin; issue 18).

An option is a position of the spec's ``positions`` whose symbol is Bybit's
(``BTC-27DEC24-70000-C``) or ccxt's (``BTC/USDC:USDC-241227-70000-C``), or which says
``contract_kind: option``::

    {"symbol": "BTC-27DEC24-70000-C",
     "qty": -1,                     # coin of the underlying, signed (< 0 short)
     "entry_price": 2500,           # USDC per coin
     "mark_price": 2400,            # USDC per coin; or vol (+ t_years or the spec's as_of) to price it
     "index_price": 65000,          # USD; defaults to the spec's prices.BTC
     "underlying_price": 65500,     # optional: the forward Black-76 prices on (default: index_price)
     "vol": 0.55, "t_years": 0.2,   # optional: implied vol; time to expiry (default: from as_of)
     "mm_factor": 0.03,             # optional for BTC (Bybit's example), required for other coins
     "liquidation_fee_rate": 0.002, # optional: Bybit's 0.2 %
     "initial_margin": 7000}        # USDC: required for a short (see Notes of option_from_spec)

Bybit values a held option at its mark (``options value = qty * mark``) in the account's total
equity but not in the cross-margin balance; a short option's maintenance margin carries its mark
instead.  Formulas and sources: :func:`short_option_mm`, :func:`option_totals`, docs/unified.md
("Options in a Bybit Unified Trading Account").
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from levguard.core.margin import AccountReport, PositionReport
from levguard.core.options.black76 import black76_price
from levguard.core.options.iv import implied_vol
from levguard.core.symbols import MONTH_CODES, dated_expiry
from levguard.core.validate import as_amount, datetime_ns, number, show, utc_ns
from levguard.errors import InputError

__all__ = [
    "BTC_MM_FACTOR",
    "LIQUIDATION_FEE_RATE",
    "BybitOption",
    "OptionTotals",
    "as_of_from_spec",
    "is_option_entry",
    "is_option_symbol",
    "moved_option",
    "option_from_spec",
    "option_report",
    "option_totals",
    "refuse_option_book_keys",
    "short_option_mm",
]

BTC_MM_FACTOR = 0.03
"""The MM factor of BTC options in Bybit's Example 1 ("Max (3% x 30,000, 3% x 300)")."""
LIQUIDATION_FEE_RATE = 0.002
"""Bybit's options liquidation fee rate: Example 1's "0.2% x 30,000"; "0.2% fees will be charged for
liquidations" (Bybit help "Differences Between Buying and Selling Options")."""

_SETTLE = "USDC"
_YEAR_NS = 365 * 86_400 * 10**9
_BYBIT = re.compile(
    r"^(?P<base>[A-Z0-9]{2,10})-(?P<day>\d{1,2})(?P<mon>[A-Z]{3})(?P<yy>\d{2})-(?P<strike>\d+(?:\.\d+)?)-(?P<cp>[CP])"
    r"(?P<suffix>-[A-Z]+)?$"
)
_CCXT = re.compile(
    r"^(?P<base>[A-Z0-9]{2,10})/(?P<quote>[A-Z]+):(?P<settle>[A-Z]+)-(?P<yy>\d{2})(?P<mm>\d{2})(?P<day>\d{2})"
    r"-(?P<strike>\d+(?:\.\d+)?)-(?P<cp>[CP])$"
)
_KEYS = frozenset(
    {
        "symbol",
        "qty",
        "entry_price",
        "mark_price",
        "index_price",
        "underlying_price",
        "vol",
        "t_years",
        "mm_factor",
        "liquidation_fee_rate",
        "initial_margin",
        "contract_kind",
        "margin_mode",
    }
)


@dataclass(frozen=True, slots=True)
class BybitOption:
    """One Bybit USDC option position (European, cash-settled in USDC at 08:00 UTC on expiry).

    ``qty`` is signed, in coin of ``underlying``; prices are USDC per coin; ``index_price`` is
    the underlying's index (the MM formula's), ``forward`` the price Black-76 values the option
    on; ``t_years`` the time to expiry (None when neither ``t_years`` nor ``as_of`` was given);
    ``vol`` the implied volatility (None when the mark was given without one); ``priced`` is
    True when the mark was computed from ``vol`` (a move re-prices it exactly).
    """

    symbol: str
    underlying: str
    kind: Literal["call", "put"]
    strike: float
    qty: float
    entry_price: float
    mark_price: float
    index_price: float
    forward: float
    t_years: float | None
    vol: float | None
    priced: bool
    mm_factor: float
    liquidation_fee_rate: float
    initial_margin: float

    @property
    def value(self) -> float:
        """Options value in USDC: ``qty * mark`` (negative for a short)."""
        return self.qty * self.mark_price

    @property
    def unrealized_pnl(self) -> float:
        """``qty * (mark - entry)`` in USDC."""
        return self.qty * (self.mark_price - self.entry_price) + 0.0  # + 0.0: no -0.0

    @property
    def maintenance_margin(self) -> float:
        """Bybit's position MM in USDC (:func:`short_option_mm`)."""
        return short_option_mm(self.qty, self.index_price, self.mark_price, self.mm_factor, self.liquidation_fee_rate)


def short_option_mm(qty: float, index_price: float, mark_price: float, mm_factor: float, fee_rate: float) -> float:
    """Maintenance margin (USDC) of a Bybit USDC option position of ``qty`` coins.

    Parameters
    ----------
    qty : float
        Signed size in coin (``< 0`` short).
    index_price, mark_price : float
        Index price of the underlying and mark price of the option, USDC per coin, ``>= 0``.
    mm_factor, fee_rate : float
        Bybit's MM factor and liquidation fee rate (fractions, ``>= 0``).

    Returns
    -------
    float
        ``0`` for a long position, else the short position's MM, ``>= 0``.

    Notes
    -----
    Bybit help "Initial and Maintenance Margin Calculation (Options)" (2023-12-04)::

        Position MM = [Max(MM Factor x Index Price, MM Factor x Option Mark Price)
                       + Option Mark Price + Liquidation Fee Rate x Index Price] x ABS(Position Size)

    for short positions; "Maintenance Margin is not required when a trader buys a Call Option or
    a Put Option".  Its Example 1: ``[Max(3% x 30,000, 3% x 300) + 300 + 0.2% x 30,000] x
    ABS(-1) = 1,260 USDC``.  The mark inside the MM is the cost of buying the short back, which
    is why the cross-margin balance leaves the options value out.
    """
    for name, v in (("index_price", index_price), ("mark_price", mark_price), ("mm_factor", mm_factor)):
        if not (math.isfinite(number(v, name)) and v >= 0.0):
            raise InputError(f"{name} must be finite and >= 0, was {v!r}")
    if not (math.isfinite(number(fee_rate, "liquidation_fee_rate")) and fee_rate >= 0.0):
        raise InputError(f"liquidation_fee_rate must be finite and >= 0, was {fee_rate!r}")
    if not math.isfinite(number(qty, "qty")):
        raise InputError(f"qty must be finite, was {qty!r}")
    if qty >= 0.0:
        return 0.0
    mm = (max(mm_factor * index_price, mm_factor * mark_price) + mark_price + fee_rate * index_price) * -qty
    if not math.isfinite(mm):  # finite inputs of extreme size (a factor of 1e308 times an index of 30,000)
        raise InputError(
            f"qty, index_price, mark_price, mm_factor and liquidation_fee_rate overflow float64 (out of range), were "
            f"{qty!r}, {index_price!r}, {mark_price!r}, {mm_factor!r}, {fee_rate!r}"
        )
    return mm


_BOOK_KEYS = ("options", "vol_surfaces", "options_wallet_balance", "cross_collateral")
"""Keys of a single-wallet risk spec's option book (docs/risk.md); a unified or portfolio-margin
account reads none of them."""


def refuse_option_book_keys(spec: Mapping[str, Any], venue: str) -> None:
    """Refuse a single-wallet option-book key that a unified or portfolio-margin spec would ignore.

    ``options`` (non-empty), ``vol_surfaces`` (non-empty), ``options_wallet_balance`` and
    ``cross_collateral`` are the risk report's option book of a single-wallet account
    (:mod:`levguard.risk.option_books`).  A ``bybit-uta`` or ``deribit-pm`` account models its
    options as entries of ``positions``; ``binance-pm`` and ``okx-mcm`` take none.  Left in place,
    the key would be read by nothing and the options would carry no margin.
    """
    for key in _BOOK_KEYS:
        v = spec.get(key)
        if v is None or (isinstance(v, list | tuple | Mapping) and not v and key != "cross_collateral"):
            continue
        if key in ("options_wallet_balance", "cross_collateral"):
            fix = f"{venue} keeps one margin for all its positions; remove it"
        elif venue in ("bybit-uta", "deribit-pm"):
            where = (
                "entries of positions (symbol BTC-27DEC24-70000-C, qty, vol or mark_price, initial_margin for a short)"
                if venue == "bybit-uta"
                else "entries of positions (instrument_name BTC-28JUN24-60000-C, size, vol or mark_price)"
            )
            fix = f"{venue} models its options as {where}; move them there"
        else:
            fix = f"{venue} refuses options (modelled on bybit-uta, Bybit's USDC options, and deribit-pm)"
        raise InputError(
            f"{key} is the option book of a single-wallet risk spec and would be ignored on {venue}, "
            f"was {show(v, 60)}: {fix}"
        )


def is_option_symbol(symbol: object) -> bool:
    """True for a Bybit option symbol (``BTC-27DEC24-70000-C``) or its ccxt form
    (``BTC/USDC:USDC-241227-70000-C``)."""
    if not isinstance(symbol, str):
        return False
    s = symbol.strip().upper()
    return bool(_BYBIT.match(s) or _CCXT.match(s))


def is_option_entry(d: Mapping[str, Any]) -> bool:
    """True for a spec position that is an option: ``contract_kind: option`` or an option symbol."""
    kind = d.get("contract_kind")
    if isinstance(kind, str) and kind.strip().lower() == "option":
        return True
    return kind is None and is_option_symbol(d.get("symbol"))


def _parts(raw: object, where: str) -> tuple[str, str, datetime, float, Literal["call", "put"]]:
    # (Bybit symbol, base, expiry at 08:00 UTC, strike, kind) of a Bybit or ccxt option symbol.
    s = raw.strip().upper() if isinstance(raw, str) else ""
    m = _BYBIT.match(s)
    if m is not None:
        if m["suffix"] is not None:
            raise InputError(
                f"{where}.symbol must be a USDC option on bybit-uta (USDT-settled options are not modelled), "
                f"was {raw!r}"
            )
        month: int | str = m["mon"]
    else:
        m = _CCXT.match(s)
        if m is None:
            raise InputError(
                f"{where}.symbol must be a Bybit option (BTC-27DEC24-70000-C) or its ccxt form "
                f"(BTC/USDC:USDC-241227-70000-C), was {show(raw)}"
            )
        if (m["quote"], m["settle"]) != (_SETTLE, _SETTLE):
            raise InputError(f"{where}.symbol must be a USDC option on bybit-uta (quote and settle USDC), was {raw!r}")
        month = int(m["mm"])
    expiry = dated_expiry(2000 + int(m["yy"]), month, int(m["day"]), field=f"{where}.symbol", raw=raw)
    strike = float(m["strike"])
    if not strike > 0.0:
        raise InputError(f"{where}.symbol strike must be > 0, was {raw!r}")
    name = f"{m['base']}-{expiry.day}{MONTH_CODES[expiry.month - 1]}{expiry.year % 100:02d}-{m['strike']}-{m['cp']}"
    return name, m["base"], expiry, strike, "call" if m["cp"] == "C" else "put"


def as_of_from_spec(spec: Mapping[str, Any]) -> int | None:
    """The spec's ``as_of`` (ISO 8601 with a UTC offset) in ns since the epoch, or None when absent."""
    raw = spec.get("as_of")
    return None if raw is None else utc_ns(raw, "as_of")


def _num(d: Mapping[str, Any], key: str, where: str, *, positive: bool = False) -> float | None:
    # An optional finite number >= 0 (> 0 when positive) of entry ``d``; None when absent.
    if d.get(key) is None:
        return None
    x = as_amount(d[key], f"{where}.{key}")
    if not (math.isfinite(x) and (x > 0.0 if positive else x >= 0.0)):
        raise InputError(f"{where}.{key} must be finite and {'> 0' if positive else '>= 0'}, was {x!r}")
    return x


def option_from_spec(
    d: Mapping[str, Any], where: str, as_of_ns: int | None, prices: Mapping[str, float]
) -> BybitOption:
    """Parse one option position of a ``bybit-uta`` spec (fields: module docstring).

    Parameters
    ----------
    d : mapping
        The spec's position entry.
    where : str
        Its place in the spec for error messages (``positions[2]``).
    as_of_ns : int or None
        The spec's ``as_of`` (ns since the epoch, UTC), timing the option to its expiry (08:00 UTC)
        unless ``t_years`` is given.
    prices : mapping
        The spec's USD ``prices``: ``prices[underlying]`` is the default index price.

    Notes
    -----
    The mark is given, or Black-76 (:func:`levguard.core.options.black76.black76_price`, USD
    settlement, rate 0) on ``underlying_price`` (default the index) with ``vol`` and the time to
    expiry.  Bybit's options settle at 08:00 UTC on the expiry day (Bybit help "FAQ - Options
    Trading": "Options contracts are settled at 8AM UTC").  The short option IM is taken as
    given: Bybit's IM formula follows "IM Calculation" in "Initial and Maintenance Margin
    Calculation (Options)", where the stored copy of the page is cut, so levguard does not
    compute it; give the position IM Bybit reports (``positionIM`` of GET /v5/position/list).
    A long option's IM is 0 unless given: its premium is paid in full when it is bought.
    """
    unknown = set(d) - _KEYS
    if unknown:
        names = sorted(k if isinstance(k, str) else show(k, 30) for k in unknown)
        raise InputError(f"{where} has unknown field(s) {names} for an option; allowed: {sorted(_KEYS)}")
    mode = d.get("margin_mode")
    if mode is not None and not (isinstance(mode, str) and mode.strip().lower() == "cross"):
        raise InputError(f"{where}.margin_mode must be cross for an option on bybit-uta, was {show(mode)}")
    symbol, base, expiry, strike, kind = _parts(d.get("symbol"), where)
    where = f"{where} ({symbol})"
    if d.get("qty") is None:
        raise InputError(f"{where}.qty is required (coin of {base}, signed: < 0 short), was missing")
    qty = as_amount(d["qty"], f"{where}.qty")
    if not (math.isfinite(qty) and qty != 0.0):
        raise InputError(f"{where}.qty must be finite and non-zero, was {qty!r}")
    index = _num(d, "index_price", where, positive=True)
    if index is None:
        index = prices.get(base)
        if index is None:
            raise InputError(
                f"{where}.index_price is required (USD index of {base}; or give prices.{base}), was missing"
            )
    forward = _num(d, "underlying_price", where, positive=True) or index
    t = _num(d, "t_years", where)
    if t is None and as_of_ns is not None:
        t = (datetime_ns(expiry) - as_of_ns) / _YEAR_NS
        if t < 0.0:
            raise InputError(f"{where} expired before as_of ({t * 365:.2f} days)")
    vol = _num(d, "vol", where, positive=True)
    mark = _num(d, "mark_price", where)
    priced = mark is None
    if mark is None:
        if vol is None or t is None:
            raise InputError(f"{where}.mark_price is required (or vol with t_years or the spec's as_of), was missing")
        mark = _black76(kind, forward, strike, t, vol)
    entry = _num(d, "entry_price", where)
    if entry is None:
        raise InputError(f"{where}.entry_price is required (USDC per coin), was missing")
    factor = _num(d, "mm_factor", where)
    if factor is None:
        if base != "BTC":
            raise InputError(
                f"{where}.mm_factor is required for {base} options (Bybit's MM factor; levguard knows BTC's 3 % "
                "from Bybit's example only), was missing"
            )
        factor = BTC_MM_FACTOR
    fee = _num(d, "liquidation_fee_rate", where)
    for key, rate in (("mm_factor", factor), ("liquidation_fee_rate", fee)):
        if rate is not None and rate > 1.0:
            raise InputError(f"{where}.{key} must be a fraction in [0, 1] (3 % is 0.03), was {rate!r}")
    im = _num(d, "initial_margin", where)
    if im is None:
        if qty < 0.0:
            raise InputError(
                f"{where}.initial_margin is required for a short option (USDC, the position IM Bybit reports: "
                "Bybit's short-option IM formula is not in the stored copy of its page), was missing"
            )
        im = 0.0
    return BybitOption(
        symbol,
        base,
        kind,
        strike,
        qty,
        entry,
        mark,
        index,
        forward,
        t,
        vol,
        priced,
        factor,
        LIQUIDATION_FEE_RATE if fee is None else fee,
        im,
    )


def _black76(kind: Literal["call", "put"], forward: float, strike: float, t: float, vol: float) -> float:
    return float(np.asarray(black76_price(kind, forward, strike, t, vol, settlement="usd")))


def moved_option(o: BybitOption, f: float) -> BybitOption:
    """The option with its underlying moved by factor ``f`` (index and forward times ``f``).

    Notes
    -----
    A mark priced from ``vol`` is priced again at the moved forward (Black-76, vol and time
    held), so the moved option equals the spec written at the moved prices.  A given mark moves
    by its Black-76 value change, ``mark + B(F f) - B(F)`` floored at 0, with ``vol`` given or
    implied from the mark at ``F`` (:func:`levguard.core.options.iv.implied_vol`), as
    :mod:`levguard.core.risk.joint_stress_pm` moves a Deribit option.
    """
    if not (math.isfinite(f) and f > 0.0):
        raise InputError(f"factor must be a finite multiplier > 0, was {f!r}")
    if f == 1.0:
        return o
    fwd = o.forward * f
    if o.t_years is None:
        raise InputError(f"{o.symbol}: moving an option needs its time to expiry: give t_years or the spec's as_of")
    if o.priced:
        assert o.vol is not None  # a priced mark came from vol
        mark = _black76(o.kind, fwd, o.strike, o.t_years, o.vol)
    else:
        vol = o.vol
        if vol is None:
            try:
                vol = float(np.asarray(implied_vol(o.mark_price, o.kind, o.forward, o.strike, o.t_years)))
            except InputError as exc:
                raise InputError(f"{o.symbol}: give vol to move this option ({exc})") from None
        b0 = _black76(o.kind, o.forward, o.strike, o.t_years, vol)
        mark = max(0.0, o.mark_price + _black76(o.kind, fwd, o.strike, o.t_years, vol) - b0)
        o = dataclasses.replace(o, vol=vol)
    return dataclasses.replace(o, index_price=o.index_price * f, forward=fwd, mark_price=mark)


def option_report(o: BybitOption, liquidatable: bool) -> PositionReport:
    """The report row of option ``o`` (USDC; ``contract_kind`` ``"option"``).

    ``notional`` is the position value ``|qty| * mark``; ``initial_margin`` as given (0 for a
    long without one); ``maintenance_margin`` :func:`short_option_mm`; ``mmr`` the MM factor;
    ``leverage``, ``max_leverage``, ``margin_balance``, ``liquidation_price``,
    ``bankruptcy_price`` and ``health`` are None: an option has no single liquidation price
    here (Bybit liquidates on the account MM rate; the mark is not a linear function of the
    underlying), and ``tier`` is 0.
    """
    return PositionReport(
        symbol=o.symbol,
        qty=o.qty,
        side=1 if o.qty > 0 else -1,
        margin_mode="cross",
        contract_kind="option",
        entry_price=o.entry_price,
        mark_price=o.mark_price,
        notional=abs(o.qty) * o.mark_price,
        leverage=math.nan,
        initial_margin=o.initial_margin,
        maintenance_margin=o.maintenance_margin,
        unrealized_pnl=o.unrealized_pnl,
        margin_balance=None,
        liquidation_price=None,
        bankruptcy_price=None,
        mmr=o.mm_factor,
        maint_amount=0.0,
        max_leverage=math.nan,
        tier=0,
        health=None,
        liquidatable=liquidatable,
    )


@dataclass(frozen=True, slots=True)
class OptionTotals:
    """Bybit's account totals around the options (USD): ``options_value`` (``sum qty * mark``),
    ``perp_upl`` (the linear positions' unrealised PnL) and ``total_equity``."""

    options_value: float
    perp_upl: float
    total_equity: float


def option_totals(report: AccountReport) -> OptionTotals:
    """Bybit's total equity of a ``bybit-uta`` report, with its options value.

    Notes
    -----
    Bybit "Key Terms and Formulas in Unified Trading Account" (2025-09-02): ``Total Equity =
    Wallet Balance + Perp & Futures UPL + Options Value`` (no collateral value ratio), while the
    cross-margin ``Margin Balance = Wallet Balance + Perp & Future UPL`` leaves the options value
    out (``report.equity``).  Here ``Wallet Balance`` is ``report.wallet_balance`` (balances net
    of loans at face value), ``Perp & Futures UPL`` the USDT rows' PnL at USDT's price and
    ``Options Value = sum qty * mark`` of the option rows at USDC's price (the prices of the
    collateral rows; 1 when the asset has no row).
    """
    if report.venue != "bybit-uta":
        raise InputError(f"report.venue must be bybit-uta (options value in total equity), was {report.venue!r}")
    price = {c.asset: c.price for c in report.collateral or ()}
    options = math.fsum(p.qty * p.mark_price for p in report.positions if p.contract_kind == "option")
    upl = math.fsum(p.unrealized_pnl for p in report.positions if p.contract_kind != "option")
    value = price.get(_SETTLE, 1.0) * options
    perp = price.get("USDT", 1.0) * upl
    return OptionTotals(value, perp, math.fsum([report.wallet_balance, perp, value]))
