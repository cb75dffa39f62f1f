"""Symbol and currency knowledge, in one place: base assets, normalised keys, USD stablecoins.

Every layer that reads a venue or ccxt symbol (``BTCUSDT``, ``BTC/USDT:USDT``, ``BTC-USD``,
``BTCUSD_PERP``, ``BTC_USDC-PERPETUAL``, ``BTC-27DEC24-70000-C``) or asks whether a settlement
currency is worth one US dollar goes through this module, so the stress tests, the portfolio
revaluation, the risk report and the venue rules cannot disagree about which asset a position
is on or which coins count as USD.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from levguard.core.validate import instance_of
from levguard.errors import InputError

__all__ = [
    "MONTH_CODES",
    "QUOTE_ASSETS",
    "USD_LIKE",
    "asset_key",
    "base_asset",
    "ccxt_parts",
    "coin_name",
    "contract_key",
    "dated_expiry",
    "inverse_settlement",
    "is_usd",
    "linear_settlement",
    "listed_pair",
    "listing_symbol",
    "named_asset",
    "named_expiry",
    "named_kind",
    "other_instrument",
    "reads_busd_quote",
    "settled_otherwise",
    "symbol_key",
]

#: USD and the USD stablecoins, each taken as worth 1 USD (de-pegs are ignored).
USD_LIKE: frozenset[str] = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USDE", "PYUSD", "USDD"})

#: Quote assets stripped from the end of a symbol written without a separator
#: (``BTCUSDT`` -> ``BTC``); the first that matches is stripped.
QUOTE_ASSETS: tuple[str, ...] = ("USDT", "USDC", "BUSD", "USD")

#: Month codes of the dated expiries in Deribit and Bybit names (``BTC-28JUN24-70000-C``).
MONTH_CODES: tuple[str, ...] = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

_SEPARATORS = re.compile(r"[/\-_:]")


def _upper(text: object, field: str = "symbol") -> str:
    # A symbol or a currency read by its name, stripped and upper case; None, a number or a list
    # was an AttributeError on .strip() in every reader below (bitmex.symbol_kind(None)).
    return instance_of(text, str, field).strip().upper()


def is_usd(currency: str) -> bool:
    """Return True for USD and the USD stablecoins of :data:`USD_LIKE` (case-insensitive)."""
    return _upper(currency, "currency") in USD_LIKE


# Binance COIN-M names, BTCUSD_PERP and ETHUSD_250627: the base is what precedes USD.
_COINM_NAME = re.compile(r"^([A-Z0-9]+)USD_(?:PERP|\d{6})$")


def reads_busd_quote(stem: str) -> bool:
    """True when a derivatives name ``<stem>BUSD...`` reads as ``stem`` quoted in BUSD, False when
    its ``B`` ends the coin and ``USD`` follows: a stem of one or two characters (``BNBUSD_PERP``
    is Binance's COIN-M contract on BNB, and the unified venues refuse ``BNBUSD``, ``ARBUSD`` or
    ``CKBUSD`` as inverse names; ``BTCBUSD``, ``ETHBUSD`` and ``DOGEBUSD`` are Binance's
    BUSD-margined contracts on BTC, ETH and DOGE).  :func:`base_asset` reads it only in a COIN-M
    name: a bare ``OPBUSD`` is OP quoted in BUSD (Binance's spot pair), however short its stem.
    """
    return len(stem) > 2


def base_asset(symbol: str, quotes: Sequence[str] = QUOTE_ASSETS) -> str:
    """Return the base asset of a symbol, upper case.

    Parameters
    ----------
    symbol : str
        A venue or ccxt symbol: ``BTCUSDT``, ``BTC/USDT:USDT``, ``BTC-USD``, ``BTCUSD_PERP``,
        ``BTC_USDC-PERPETUAL``, ``BTC-27DEC24-70000-C`` all give ``BTC``; a COIN-M name
        ``BNBUSD_PERP`` gives ``BNB``, ``ETHBUSD`` and ``ETHBUSD_PERP`` give ``ETH``
        (:func:`reads_busd_quote`).  A bare name ending in ``BUSD`` is a coin quoted in BUSD
        (``OPBUSD``: ``OP``, Binance's OP/BUSD), whatever the length of its stem.
    quotes : sequence of str
        Quote assets stripped from the end of the first part when it is longer than the quote
        (default :data:`QUOTE_ASSETS`; a venue whose coins are written bare passes its own, or
        ``()``).

    Returns
    -------
    str
        The part before the first ``/``, ``-``, ``_`` or ``:``, without a trailing quote asset.
    """
    s = _upper(symbol)
    if quotes and (m := _COINM_NAME.match(s)) and not _busd_name(m.group(1)):
        return m.group(1)  # BNBUSD_PERP: BNB before USD, not BN before BUSD
    first = _SEPARATORS.split(s)[0]
    for quote in quotes:
        if first.endswith(quote) and len(first) > len(quote):
            return first[: -len(quote)]
    return first


def _busd_name(base: str) -> bool:
    # The base read before USD ends in the B of a BUSD quote (ETHB of ETHBUSD_PERP: ETH in BUSD).
    return base.endswith("B") and reads_busd_quote(base[:-1])


def asset_key(name: str) -> str:
    """Return the asset a coin or a symbol names, upper case, by its common name.

    ``"btc"``, ``"BTC"``, ``"BTCUSDT"``, ``"BTC/USDT:USDT"`` and BitMEX's ``"XBT"`` or ``"XBTUSD"``
    all give ``"BTC"`` (:func:`base_asset`, then :func:`coin_name`); a USD coin of
    :data:`USD_LIKE` is itself (``"TUSD"`` is not the base ``T`` before a quote ``USD``).
    """
    s = _upper(name, "name")
    return s if s in USD_LIKE else coin_name(base_asset(s))


#: Suffixes that name a data file's kind after its symbol (the ``../shared/data`` and Binance
#: archive layouts: ``BTCUSDT-PERP_1h.csv``, ``BTCUSDT-MARK_1h.csv``, ``BTCUSDT-SPOT_1h.csv``).
FILE_KIND_SUFFIXES: tuple[str, ...] = ("-PERP", "_PERP", "-MARK", "-SPOT", "-INDEX")


def listing_symbol(name: str) -> str:
    """Return the symbol a data file names without its kind suffix: ``"XRPUSDT-PERP"`` ->
    ``"XRPUSDT"``, ``"BTCUSDT-MARK"`` -> ``"BTCUSDT"``; anything else unchanged (stripped)."""
    s = str(name).strip()
    for suffix in FILE_KIND_SUFFIXES:
        if s.upper().endswith(suffix) and len(s) > len(suffix):
            return s[: -len(suffix)]
    return s


#: Quotes a data file's pair may end in besides :data:`QUOTE_ASSETS` (Binance's ``ETHBTC``).
_FILE_QUOTES: tuple[str, ...] = (*QUOTE_ASSETS, "BTC", "ETH")


def listed_pair(name: str) -> str | None:
    """Return the contract a data file's symbol names, without its kind suffix, or None.

    ``"XRPUSDT-PERP"`` -> ``"XRPUSDT"``, ``"BTC/USDT:USDT"``, ``"BTC-USDT-SWAP"``,
    ``"BTC_USDC-PERPETUAL"``, ``"BTCUSDT_241227"``, ``"BTC-PERPETUAL"`` unchanged: a base before a
    quote asset (:data:`QUOTE_ASSETS`, or ``BTC``/``ETH``: ``ETHBTC``) in its first part, a USD coin
    in a later part (:func:`is_usd`), or a name whose margining is known (:func:`named_kind`,
    Deribit's included).  A name without one (``"bars"``, ``"BTC-SYNTH"``, a bare ``"BTC"``)
    names no pair and gives None.
    """
    named = listing_symbol(name)
    s = named.upper()
    if not s:
        return None
    first, *rest = _SEPARATORS.split(s)
    if len(base_asset(first, _FILE_QUOTES)) in range(2, len(first)):  # WBTC is no W before BTC
        return named
    if first and (any(is_usd(p) for p in rest) or named_kind(s, deribit=True) is not None):
        return named
    return None


def other_instrument(symbol: str, other: str) -> str | None:
    """Return why two symbols name different instruments, or None when they may name one.

    Another asset (:func:`asset_key`: ``ETHUSDT`` and ``BTCUSDT``; ``1000PEPEUSDT`` and
    ``PEPEUSDT``), another margining where both names say it (:func:`named_kind`: ``BTCUSDT``
    linear, ``BTCUSD_PERP``, ``BTC/USD:BTC`` and ``XBTUSD`` inverse) or another settlement coin
    (:func:`linear_settlement`: ``BTCUSDT`` and ``BTCUSDC``), or another expiry
    (:func:`named_expiry`: a perpetual and a dated future, ``BTCUSDT`` and ``BTCUSDT_241227``;
    two dated futures).  ``BTCUSDT``, ``btcusdt``,
    ``BTC/USDT:USDT`` and ``BTC-USDT-SWAP`` are one.  The reason reads ``"<symbol's> vs
    <other's>"``, e.g. ``"asset ETH vs BTC"``.
    """
    a, b = asset_key(symbol), asset_key(other)
    if a != b:
        return f"asset {a} vs {b}"
    ka, kb = named_kind(symbol, deribit=True), named_kind(other, deribit=True)
    if ka and kb and ka != kb:
        return f"{ka} vs {kb} contract"
    sa, sb = linear_settlement(symbol), linear_settlement(other)
    if sa and sb and sa != sb:
        return f"settled in {sa} vs {sb}"
    ea, eb = named_expiry(symbol), named_expiry(other)
    if ea != eb:
        return f"{_expiry_text(ea)} vs {_expiry_text(eb)}"
    return None


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_VISION_TAIL = re.compile(r"-\d+[SMHDW]-\d{4}-\d{2}(-\d{2})?$")  # Binance Vision: BTCUSDT_241227-1h-2024-12
_DATE_RANGE = re.compile(r"\d{6,8}[_\-]\d{6,8}$")  # a file's span, BTCUSDT_1h_240101_241231: no expiry
_YYMMDD = re.compile(r"[_\-](?:20)?(\d{2})(\d{2})(\d{2})$")  # BTCUSDT_241227, BTC-USD-250328, Gate BTC_USDT_20241227
_DDMMMYY = re.compile(r"-(\d{1,2})([A-Z]{3})(\d{2})$")  # Deribit and Bybit: BTC-27DEC24
_MONTH_CODE = re.compile(r"^[A-Z0-9]*(XBT|USD)([FGHJKMNQUVXZ])(\d{2})$")  # BitMEX XBTZ24, Bybit BTCUSDZ24


def named_expiry(symbol: str) -> tuple[int, int, int | None] | None:
    """Return the expiry ``(year - 2000, month, day)`` a dated future's name says, or None for a
    perpetual or a name without one.

    ``BTCUSDT_241227`` (and Binance Vision's file ``BTCUSDT_241227-1h-2024-12``),
    ``BTCUSD_250328``, ``BTC-USD-250328``, ``BTC/USDT:USDT-241227``, Gate's ``BTC_USDT_20241227``
    and ``BTC-27DEC24`` name their day; a futures month code after ``XBT`` or ``USD`` (BitMEX
    ``XBTZ24``, Bybit ``BTCUSDZ24``) its year and month only (day None).  ``BTCUSDT``,
    ``BTCUSD_PERP``, ``BTC-PERPETUAL``, ``BTC-USDT-SWAP``, a file's date range
    (``BTCUSDT_1h_240101_241231``), a timeframe (``BTCUSDT_M15``) and digits that are no date
    (``BTCUSDT_202412``) name none.
    """
    s = _VISION_TAIL.sub("", _upper(symbol))
    if _DATE_RANGE.search(s):
        return None
    m = _YYMMDD.search(s)
    if m:
        yy, mm, dd = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return (yy, mm, dd) if 1 <= mm <= 12 and 1 <= dd <= 31 else None
    m = _DDMMMYY.search(s)
    if m and m.group(2) in _MONTHS and 1 <= int(m.group(1)) <= 31:
        return int(m.group(3)), _MONTHS.index(m.group(2)) + 1, int(m.group(1))
    m = _MONTH_CODE.match(s)  # no separators: BTCUSDT_M15 is a timeframe, not a month code
    if m:
        return int(m.group(3)), "FGHJKMNQUVXZ".index(m.group(2)) + 1, None
    return None


def _expiry_text(expiry: tuple[int, int, int | None] | None) -> str:
    if expiry is None:
        return "perpetual"
    yy, mm, dd = expiry
    return f"future {'' if dd is None else f'{dd} '}{_MONTHS[mm - 1].capitalize()} 20{yy:02d}"


_BARE_COIN = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")


def named_asset(name: str) -> str | None:
    """Return the asset a data file's symbol names, or None: the one rule for which asset a
    price history's name is of.

    A pair (:func:`listed_pair`: ``"BTCUSDT-PERP"``, ``"BTCUSDT-MARK"``, ``"BTC/USDT:USDT"`` ->
    ``"BTC"``) whose base reads the same with and without its separators, or levguard's
    synthetic market of a coin (``"BTC-SYNTH"`` -> ``"BTC"``).  Anything else names no asset
    (None): a word in any case (``"history"``, ``"btc"``, ``"DATA"``, ``"OHLCV"``; a bare coin
    such as Hyperliquid's ``"ETH"`` too, since no list of coins tells it from a word: key such a
    file by its asset, ``ETH=ETH_1h.csv``) or a prefix before a coin or pair (``"binance-btc"``,
    ``"my-eth"``, ``"binance-BTCUSDT"``).
    """
    full = listing_symbol(name)
    named = full.removesuffix("-SYNTH")
    pair = listed_pair(named)
    if pair is not None:
        base = asset_key(pair)
        return base if base == asset_key(symbol_key(pair)) else None
    return coin_name(named) if named != full and _BARE_COIN.match(named) else None


def symbol_key(symbol: str) -> str:
    """Normalise a venue or ccxt symbol: ``"BTC/USDT:USDT"`` -> ``"BTCUSDT"``, upper case."""
    s = _upper(symbol)
    if ":" in s:
        s = s.split(":", 1)[0]
    return s.replace("/", "").replace("-", "").replace("_", "")


def contract_key(symbol: str) -> str:
    """Return the key of the contract a symbol names: :func:`symbol_key` with a ccxt symbol's
    expiry kept (``"BTC/USDT:USDT-241227"`` -> ``"BTCUSDT241227"``, as ``"BTCUSDT_241227"``), so
    ``BTCUSDT``, ``btcusdt``, ``"BTCUSDT "`` and ``BTC/USDT:USDT`` are one contract and a
    perpetual and its dated futures are not."""
    _pair, sep, rest = _upper(symbol).partition(":")
    expiry = rest.partition("-")[2] if sep else ""
    return symbol_key(symbol) + expiry.replace("-", "")


_FUTURES_CODE = re.compile(r"^([A-Z]{2,}?)[FGHJKMNQUVXZ]\d{2}$")


def inverse_settlement(symbol: str) -> str | None:
    """Return the coin an inverse contract settles in, as its symbol says, or None.

    ccxt's settle part (``BTC/USD:BTC`` -> ``BTC``, ``BTC/USD:BTC-241227`` -> ``BTC``), else the
    base before ``USD`` (``BTCUSD_PERP`` -> ``BTC``, ``XBTUSD`` -> ``XBT``), else the base before a
    futures month code and year (BitMEX ``XBTZ24`` -> ``XBT``).
    """
    parts = ccxt_parts(symbol)
    if parts is not None:
        return parts[2]
    key = symbol_key(symbol)
    cut = key.find("USD")
    if cut > 0:
        return key[:cut]
    m = _FUTURES_CODE.match(key)
    return m.group(1) if m else None


def ccxt_parts(symbol: str) -> tuple[str, str, str] | None:
    """Return (base, quote, settle) of a ccxt derivatives symbol (``BTC/USD:BTC``), else None."""
    s = _upper(symbol)
    pair, _, rest = s.partition(":")
    base, _, quote = pair.partition("/")
    settle = rest.split("-", 1)[0]
    if not (base and quote and settle) or "/" in rest or "/" in quote:
        return None
    return base, quote, settle


# Bybit's USDC contracts: perpetuals BTCPERP, ETHPERP (BTC-PERP in its newer listing); futures BTC-27DEC24.
_BYBIT_USDC_NAME = re.compile(r"^[A-Z0-9]+(-?PERP|-\d{1,2}[A-Z]{3}\d{2})$")


def linear_settlement(symbol: str, *, bybit: bool = False) -> str | None:
    """Return the USD stablecoin a linear contract settles in, where its symbol names it, else None.

    ccxt's settle part when it is a USD coin other than the base (``BTC/USDC:USDC`` -> ``USDC``);
    a native name's USDT or USDC quote (``BTCUSDC``, ``BTC-USDC-SWAP``, ``BTC_USDC-PERPETUAL``,
    ``BTCUSDT-27DEC24`` -> ``USDT``); with ``bybit``, Bybit's USDC contracts (``BTCPERP``,
    ``BTC-PERP``, ``BTC-27DEC24``: "USDC Perpetual" and "USDC Futures" in its instruments list).
    """
    parts = ccxt_parts(symbol)
    if parts is not None:
        base, _quote, settle = parts
        return settle if is_usd(settle) and coin_name(settle) != coin_name(base) else None
    s = symbol.strip().upper()
    # The last USD coin before a separator or the end is the quote (USDC-USDT-SWAP: USDT).
    found = [m.group(1) for m in _LINEAR_NAME.finditer(s)]
    if found:
        return found[-1]
    if s.endswith("PERP") and s[:-4].endswith(("USDT", "USDC")):  # BTCUSDTPERP: its own quote
        return s[-8:-4]
    return "USDC" if bybit and _BYBIT_USDC_NAME.match(s) else None


def settled_otherwise(symbol: str, settlement: str, expected: str, *, bybit: bool = False) -> str | None:
    """Return a linear contract's settlement currency when it is not ``expected``, else None: the
    one its symbol names (:func:`linear_settlement`: ``BTCUSDC`` -> ``USDC``), else ``settlement``."""
    named = linear_settlement(symbol, bybit=bybit)
    return next((x for x in (named, settlement) if x and x.upper() != expected.upper()), None)


_COIN_ALIASES = {"XBT": "BTC"}


def coin_name(currency: str) -> str:
    """Return a currency's common name, upper case (BitMEX's ``XBT`` is ``BTC``)."""
    c = _upper(currency, "currency")
    return _COIN_ALIASES.get(c, c)


_LINEAR_NAME = re.compile(r"(USDT|USDC)([_\-]|$)")
_INVERSE_NAME = re.compile(
    r"USD_(PERP|\d{6})$"  # Binance COIN-M: BTCUSD_PERP, BTCUSD_250328
    r"|-USD-(SWAP|\d{6})$"  # OKX: BTC-USD-SWAP, BTC-USD-250328
    r"|^[A-Z0-9]+USD([FGHJKMNQUVXZ]\d{2})?$"  # Bybit inverse: BTCUSD, BTCUSDZ24
    r"|^[A-Z0-9]+_USD$"  # Gate's BTC-settled perpetual: BTC_USD
)
# Deribit's own names: its coin-margined perpetuals and futures (``BTC-PERPETUAL``,
# ``BTC-27DEC24``); on Bybit ``BTC-27DEC24`` is a USDC future, so only Deribit reads them.
_DERIBIT_INVERSE_NAME = re.compile(r"^[A-Z0-9]+-(PERPETUAL|\d{1,2}[A-Z]{3}\d{2})$")


def named_kind(symbol: str, *, deribit: bool = False) -> str | None:
    """Return ``"linear"`` or ``"inverse"`` where a symbol's name says how it is margined, else None.

    ccxt's ``BASE/QUOTE:SETTLE``: settled in its base coin, inverse; in a USD stablecoin, linear
    (another coin: a quanto contract, None).  Native names: a USDT or USDC quote is linear
    (``BTCUSDT``, ``BTCUSDT-27DEC24``, ``BTC_USDC-PERPETUAL``, ``BTC-USDT-SWAP``); Binance
    COIN-M (``BTCUSD_PERP``), OKX (``BTC-USD-SWAP``), Bybit (``BTCUSD``, ``BTCUSDZ24``) and Gate
    (``BTC_USD``) inverse names are inverse, and with ``deribit`` Deribit's (``BTC-PERPETUAL``,
    ``BTC-27DEC24``).  A venue reads this only where its listings follow these names (BitMEX's
    ``ETHUSD`` is a quanto contract: it has its own reader).
    """
    parts = ccxt_parts(symbol)
    if parts is not None:
        base, _quote, settle = parts
        if coin_name(settle) == coin_name(base):
            return "inverse"
        return "linear" if is_usd(settle) else None
    s = symbol.strip().upper()
    if _LINEAR_NAME.search(s):
        return "linear"
    if _INVERSE_NAME.search(s) or (deribit and _DERIBIT_INVERSE_NAME.search(s)):
        return "inverse"
    return None


def dated_expiry(year: int, month: int | str, day: int, *, field: str, raw: object) -> datetime:
    """Return the 08:00 UTC expiry of a dated contract named by its year, month and day.

    Parameters
    ----------
    year, day : int
        Calendar year (``2024``, not ``24``) and day of the month.
    month : int or str
        Month number (1-12, ccxt's ``241227``) or its code from :data:`MONTH_CODES` (``DEC`` of
        Deribit's and Bybit's ``27DEC24``).
    field, raw : str, object
        The field the name came from and the name itself, for the error message.

    Returns
    -------
    datetime
        ``year-month-day 08:00 UTC``.

    Raises
    ------
    InputError
        For a month code not in :data:`MONTH_CODES` (``28XYZ24``) or a date the calendar lacks
        (``31FEB24``).

    Notes
    -----
    Deribit's and Bybit's dated options and futures expire at 08:00 UTC on the named day (Deribit
    "Contract specifications": expiry at 08:00 UTC; Bybit help "FAQ - Options Trading": "Options
    contracts are settled at 8AM UTC").
    """
    if isinstance(month, str):
        if month not in MONTH_CODES:
            raise InputError(f"{field} has no month {month!r}, was {raw!r}")
        month = MONTH_CODES.index(month) + 1
    try:
        return datetime(year, month, day, 8, tzinfo=UTC)
    except ValueError:
        raise InputError(f"{field} has no such expiry date, was {raw!r}") from None
