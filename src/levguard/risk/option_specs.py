"""Option positions and vol surfaces in an account spec (``options``, ``vol_surfaces``): parsed
into :class:`~levguard.core.risk.portfolio.OptionPosition` rows and fitted SVI surfaces for the
risk report (:mod:`levguard.risk.report`, docs/risk.md "Options in an account spec")."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from levguard.core.positions import Account
from levguard.core.risk.portfolio import OptionPosition
from levguard.core.rules.base import VenueModel
from levguard.core.symbols import asset_key, base_asset, coin_name, dated_expiry, named_expiry
from levguard.core.validate import as_amount, as_float, positive
from levguard.errors import InputError

__all__ = ["as_of_ns", "option_asset", "parse_options", "parse_surfaces", "spec_prices"]

_DERIBIT = re.compile(
    r"^(?P<base>[A-Z]+)-(?P<day>\d{1,2})(?P<mon>[A-Z]{3})(?P<yy>\d{2})-(?P<strike>\d+(?:\.\d+)?)-(?P<cp>[CP])$"
)
_SLICE_KEYS = {"expiry", "t_years", "forward", "a", "b", "rho", "m", "sigma"}
_QUOTE_KEYS = {"expiry", "t_years", "forward", "strikes", "vols"}
_OPTION_KEYS = {
    "symbol",
    "underlying",
    "kind",
    "strike",
    "expiry",
    "t_years",
    "qty",
    "contract_size",
    "settlement",
    "vol",
    "underlying_price",
    "rate",
}


def as_of_ns(spec: Mapping[str, Any]) -> int:
    """Return the spec's ``as_of`` (ISO 8601 with a UTC offset) in ns since the epoch, or now."""
    raw = spec.get("as_of")
    if raw is None:
        return pd.Timestamp.now(tz="UTC").value
    return _utc_ns(raw, "as_of")


def _utc_ns(raw: object, where: str) -> int:
    # An ISO 8601 time with a UTC offset, in ns since the epoch.
    try:
        ts = pd.Timestamp(str(raw))
    except ValueError:
        raise InputError(f"{where} must be an ISO 8601 time, was {raw!r}") from None
    if ts.tzinfo is None:
        raise InputError(f"{where} must carry a UTC offset, was {raw!r}")
    try:
        return int(ts.tz_convert("UTC").value)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):  # past int64 nanoseconds (2262-04-11)
        raise InputError(f"{where} must lie between 1677-09-22 and 2262-04-11 UTC, was {raw!r}") from None


def _deribit_parts(symbol: str, where: str) -> dict[str, Any]:
    # Underlying, expiry, strike and kind of a Deribit option symbol; {} for another symbol.
    m = _DERIBIT.match(symbol.strip().upper())
    if not m:
        return {}
    expiry = dated_expiry(2000 + int(m["yy"]), m["mon"], int(m["day"]), field=f"{where}.symbol", raw=symbol)
    return {
        "underlying": m["base"],
        "expiry": expiry.isoformat(),
        "strike": float(m["strike"]),
        "kind": "call" if m["cp"] == "C" else "put",
    }


def _years_to(raw: object, now: int, where: str) -> float:
    return (_utc_ns(raw, where) - now) / (365 * 86_400e9)


def _tenor(d: Mapping[str, Any], now: int, where: str) -> float:
    t = float(d["t_years"]) if "t_years" in d else _years_to(d.get("expiry"), now, f"{where}.expiry")
    if not t > 0:
        raise InputError(f"{where} has expired or lacks expiry/t_years (t_years {t!r})")
    return t


def parse_surfaces(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Vol surfaces of an account spec's ``vol_surfaces``: ``{underlying: {"slices": [...]}}`` with raw
    SVI parameters per expiry (``expiry`` or ``t_years``, ``forward``, ``a, b, rho, m, sigma``), or
    ``{"quotes": [...]}`` of implied vols per expiry (``forward``, ``strikes``, ``vols``) fitted with
    SVI.  Returns ``{underlying: (VolSurface, arbitrage report)}``."""
    from levguard.core.options.surface import SmileQuotes, SVISlice, VolSurface, fit_surface
    from levguard.core.options.svi import SVIParams

    raw = spec.get("vol_surfaces") or {}
    if not isinstance(raw, Mapping):
        raise InputError(f"vol_surfaces must map underlying -> surface, was {type(raw).__name__}")
    now = as_of_ns(spec)
    out: dict[str, Any] = {}
    named: dict[str, object] = {}
    for base, body in raw.items():
        where = f"vol_surfaces[{base!r}]"
        key = asset_key(str(base))
        if key in named:  # BTC and btc (or XBT) name one asset: the second overwrote the first
            raise InputError(f"{where} and vol_surfaces[{named[key]!r}] both name {key}; give one surface per asset")
        named[key] = base
        if not isinstance(body, Mapping) or not ({"slices", "quotes"} & set(body)):
            raise InputError(f"{where} must hold slices (SVI parameters) or quotes (implied vols)")
        try:
            if "slices" in body:
                slices = []
                for i, sl in enumerate(body["slices"]):
                    w = f"{where}.slices[{i}]"
                    if not isinstance(sl, Mapping) or set(sl) - _SLICE_KEYS:
                        raise InputError(f"{w} must be an object with keys from {sorted(_SLICE_KEYS)}, was {sl!r}")
                    params = SVIParams(*(float(sl[k]) for k in ("a", "b", "rho", "m", "sigma")))
                    slices.append(SVISlice(_tenor(sl, now, w), float(sl["forward"]), params))
                surface = VolSurface(slices)
                check = surface.check_arbitrage()
            else:
                quotes = []
                for i, q in enumerate(body["quotes"]):
                    w = f"{where}.quotes[{i}]"
                    if not isinstance(q, Mapping) or set(q) - _QUOTE_KEYS:
                        raise InputError(f"{w} must be an object with keys from {sorted(_QUOTE_KEYS)}, was {q!r}")
                    quotes.append(
                        SmileQuotes(
                            _tenor(q, now, w),
                            float(q["forward"]),
                            np.asarray(q["strikes"], dtype=np.float64),
                            np.asarray(q["vols"], dtype=np.float64),
                        )
                    )
                surface, _fits, check = fit_surface(quotes)
        except KeyError as exc:
            raise InputError(f"{where} is missing {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an int past float64
            raise InputError(f"{where}: {exc}") from None
        out[key] = (surface, check)
    return out


def parse_options(
    spec: Mapping[str, Any],
    prices: Mapping[str, float],
    surfaces: Mapping[str, Any] | None = None,
    model: VenueModel | None = None,
) -> list[OptionPosition]:
    """Option positions of an account spec as :class:`OptionPosition` s.

    Each option gives ``qty`` (signed contracts), ``vol`` (implied, annualised) and either a
    Deribit symbol (``BTC-27DEC24-70000-C``: underlying, expiry at 08:00 UTC, strike, kind) or
    ``underlying``, ``kind``, ``strike`` and ``expiry`` (ISO) or ``t_years``; ``settlement`` is
    ``coin`` or ``usd``, one of the venue's (``model``'s
    :attr:`~levguard.core.rules.base.VenueModel.option_settlements`, the first the default:
    ``coin`` on Deribit and OKX, ``usd`` on Binance, Bybit and Gate; ``coin`` without a model).
    Time to expiry runs from the spec's ``as_of`` (default: now).  ``surfaces`` are the already
    parsed ``vol_surfaces`` (parsed here when not given).
    """
    raw = spec.get("options") or []
    if not isinstance(raw, list):
        raise InputError(f"options must be a list, was {type(raw).__name__}")
    now = as_of_ns(spec)
    allowed = model.option_settlements if model is not None else ("coin", "usd")
    if surfaces is None:
        surfaces = parse_surfaces(spec)
    out: list[OptionPosition] = []
    for i, o in enumerate(raw):
        where = f"options[{i}]"
        if not isinstance(o, Mapping):
            raise InputError(f"{where} must be an object, was {o!r}")
        unknown = set(o) - _OPTION_KEYS
        if unknown:
            raise InputError(f"{where} has unknown field(s) {sorted(unknown)}; allowed: {sorted(_OPTION_KEYS)}")
        d = {**_deribit_parts(str(o.get("symbol", "")), where), **{k: v for k, v in o.items() if v is not None}}
        base = option_asset(o, where, prices)
        surface = surfaces.get(asset_key(base), (None, None))[0]
        for key in ("kind", "strike", "qty", *(() if surface is not None else ("vol",))):
            if key not in d:
                raise InputError(f"{where}.{key} is required (or a Deribit symbol such as BTC-27DEC24-70000-C)")
        if "t_years" in d:
            t = as_float(d["t_years"], f"{where}.t_years")
        elif "expiry" in d:
            t = (_utc_ns(d["expiry"], f"{where}.expiry") - now) / (365 * 86_400e9)
        else:
            raise InputError(f"{where} needs expiry or t_years")
        if not t > 0:
            raise InputError(f"{where} has expired (t_years {t!r}); remove it or set as_of before expiry")
        underlying = base
        if underlying not in prices and d.get("underlying_price") is None:
            raise InputError(f"{where}: no price for {underlying}; add underlying_price or a perpetual on it")
        kind = str(d["kind"]).lower()
        settlement = str(d.get("settlement", allowed[0])).lower()
        if kind not in ("call", "put"):
            raise InputError(f"{where}.kind must be call or put, was {d['kind']!r}")
        if settlement not in ("usd", "coin"):
            raise InputError(f"{where}.settlement must be usd or coin, was {d.get('settlement')!r}")
        if settlement not in allowed:
            raise InputError(
                f"{where}.settlement {d.get('settlement')!r}: {model.name if model else 'the venue'}'s options "
                f"settle in {' or '.join(allowed)} only (USDT or USDC for usd)"
            )
        # Strike, size and prices are amounts (at most 1e30 in magnitude, as a position's are), so
        # no scenario P&L can overflow; a strike of 1e308 overflowed the VaR's sum.
        strike = as_amount(d["strike"], f"{where}.strike")
        qty = as_amount(d["qty"], f"{where}.qty")
        contract_size = as_amount(d.get("contract_size", 1.0), f"{where}.contract_size")
        rate = as_float(d.get("rate", 0.0), f"{where}.rate")
        vol = as_float(d["vol"], f"{where}.vol") if "vol" in d else None
        try:
            if vol is None:
                vol = float(surface.vol(strike, t, _forward(d, prices, base, where)))
            out.append(
                OptionPosition(
                    symbol=str(d.get("symbol") or f"{underlying}-{d['strike']}-{d['kind']}"),
                    kind=cast(Literal["call", "put"], kind),
                    strike=strike,
                    t_years=t,
                    qty=qty,
                    settlement=cast(Literal["usd", "coin"], settlement),
                    vol=vol,
                    contract_size=contract_size,
                    underlying=underlying,
                    rate=rate,
                    surface=surface,
                )
            )
        except InputError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an int past float64
            raise InputError(f"{where}: {exc}") from None
    return out


def _forward(d: Mapping[str, Any], prices: Mapping[str, float], base: str, where: str) -> float:
    if d.get("underlying_price") is not None:
        return _underlying_price(d["underlying_price"], f"{where}.underlying_price")
    return float(prices[base])


def _underlying_price(raw: object, where: str) -> float:
    return positive(as_amount(raw, where), where)


def option_asset(o: Mapping[str, Any], where: str, keys: Collection[str] = ()) -> str:
    """The asset an option of the spec is on, as the positions name it.

    ``underlying``, else a Deribit symbol's base, else the base of ``symbol`` (Binance's
    ``BTC-240927-70000-C``), read as a perpetual's symbol is (:func:`~levguard.core.symbols.base_asset`):
    ``"BTC"``, ``"btc"``, ``"BTC-USDT"``, ``"BTCUSDT"`` and ``"BTC/USDT"`` all name ``BTC``.  Of
    ``keys`` (the positions' assets) the one of the same coin (:func:`~levguard.core.symbols.coin_name`,
    BitMEX's ``XBT`` is ``BTC``) is kept, else the coin's common name: an option and a perpetual on
    one asset move together in the VaR, the stress and the joint surface.
    """
    raw = o.get("underlying")
    if raw is None:
        raw = _deribit_parts(str(o.get("symbol", "")), where).get("underlying") or o.get("symbol")
    if not isinstance(raw, str) or not base_asset(raw):
        raise InputError(f"{where}.underlying must name an asset such as 'BTC' (or give a symbol), was {raw!r}")
    base = base_asset(raw)
    if base in keys:
        return base
    coin = coin_name(base)
    return next((k for k in keys if coin_name(k) == coin), coin)


def spec_prices(account: Account, spec: Mapping[str, Any]) -> dict[str, float]:
    """USD price per underlying: the positions' marks, then the options' ``underlying_price``.

    One per underlying (prices, Greeks, VaR and stress price every option of an underlying on one
    forward): the first perpetual's mark on an asset (two perpetuals on one base, ``BTCUSDT`` and
    ``BTCUSDC``, may differ a little; the first is used; a dated future's only where no perpetual
    is held), then an option's ``underlying_price``
    (finite and > 0).  An ``underlying_price`` that differs from the mark used or an earlier
    option's (relative 1e-9) is an :class:`~levguard.errors.InputError` naming both; it was
    ignored.  An option's asset is :func:`option_asset`, as :func:`parse_options` reads it.
    """
    prices: dict[str, float] = {}
    given: dict[str, str] = {}
    # Perpetuals first: a dated future's mark carries its basis to its own expiry.
    for p in sorted(account.positions, key=lambda q: named_expiry(q.symbol) is not None):
        prices.setdefault(base_asset(p.symbol), p.mark_price)
        given.setdefault(base_asset(p.symbol), f"the mark_price of {p.symbol}")
    for i, o in enumerate(spec.get("options") or []):
        if isinstance(o, Mapping) and o.get("underlying_price") is not None:
            base = option_asset(o, f"options[{i}]", prices)
            where = f"options[{i}].underlying_price"
            price = _underlying_price(o["underlying_price"], where)
            if base in prices and not math.isclose(price, prices[base], rel_tol=1e-9):
                raise InputError(
                    f"{where} {price!r} differs from {given[base]} ({prices[base]!r}): the report prices "
                    f"every {base} option on one forward; give them all that price (or omit underlying_price)"
                )
            prices.setdefault(base, price)
            given.setdefault(base, where)
    return prices
