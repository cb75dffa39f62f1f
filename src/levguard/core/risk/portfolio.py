"""Full revaluation of a portfolio of perpetuals and options over a horizon, for VaR scenarios.

A scenario set moves each underlying by a **price relative** ``P/P0`` (gross return): a vector of
terminal relatives, shape ``(n,)``, or monitored paths, shape ``(n, m)``, whose last column is the
horizon.  Every instrument on that underlying moves by the same relative from its own current
price (a perpetual from its mark, an option's forward from the underlying's price), so the
perp-spot basis is held fixed.

The P&L of each scenario, in the account's settlement currency (gains positive), is

* linear perpetual: ``q (P1 - P0)``; inverse perpetual (coin): ``q (1/P0 - 1/P1)``
  (``q`` = contracts x contract size, :func:`levguard.kernels.margin.position_upnl`);
* option: ``qty x contract_size x (V(F1, T - h/365, vol + dvol) - V(F0, T, vol))`` with Black-76
  (:func:`levguard.core.options.black76.black76`), in USD or coin as the option settles;
* funding carry over ``n = 24 h / interval_hours`` intervals: ``-q P0 rate n`` (linear) and
  ``-q / P0 rate n`` (inverse, coin), positive rate = longs pay (ARCHITECTURE convention 2);
* liquidation truncation of isolated positions (see :func:`revalue`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeVar, cast, get_args

import numpy as np
import numpy.typing as npt

from levguard.core.liquidation_outcome import book_fee_rate, liquidation_rest, liquidation_rule
from levguard.core.margin import AccountReport, evaluate
from levguard.core.options.black76 import DAYS_PER_YEAR, black76
from levguard.core.options.surface import VolSurface
from levguard.core.positions import Account, Position
from levguard.core.rules import get_venue
from levguard.core.symbols import base_asset, is_usd, symbol_key
from levguard.core.validate import (
    as_float,
    finite,
    float_values,
    instance_of,
    non_negative,
    non_negative_number,
    positive,
    positive_number,
    rate,
    show,
)
from levguard.errors import InputError
from levguard.typing import BoolArray1D, Float64Array, Float64Array1D

__all__ = [
    "OptionPnLKind",
    "OptionPosition",
    "PortfolioPnL",
    "VolShiftShape",
    "base_of",
    "is_usd",
    "option_positions",
    "revalue",
]

_V = TypeVar("_V")

VolShiftShape = Literal["flat", "term"]
"""How :func:`revalue` applies a vol shift to an option with a vol surface."""
OptionPnLKind = Literal["pnl", "value"]
"""How :func:`revalue` brings an option's result into the settlement currency."""

#: Deprecated alias of :func:`levguard.core.symbols.base_asset` (kept for one release).
base_of = base_asset


@dataclass(frozen=True, slots=True)
class OptionPosition:
    """A European option position, revalued with Black-76.

    Parameters
    ----------
    symbol : str
        Name, e.g. ``"BTC-27DEC24-70000-C"``.
    kind : {"call", "put"}
        Option type.
    strike : float
        Strike, USD per coin, > 0.
    t_years : float
        Time to expiry now, in 365-day years, >= 0.
    qty : float
        Signed number of contracts (> 0 long, < 0 short), non-zero.
    settlement : {"usd", "coin"}
        USD-settled (price in USD) or coin-settled, Deribit style (price in coin).
    vol : float
        Black volatility (0.6 = 60%), >= 0.
    contract_size : float
        Coins of underlying per contract, > 0.
    underlying : str, optional
        Scenario key of the underlying; defaults to the base of ``symbol``.
    rate : float
        Discount rate for Black-76.
    surface : VolSurface, optional
        Implied-volatility surface of the underlying.  When given, every revaluation reads the
        vol off the surface at the option's strike, remaining time and the scenario forward
        (sticky moneyness: the smile moves with the forward), and ``vol`` is only the vol now,
        for display.
    """

    symbol: str
    kind: Literal["call", "put"]
    strike: float
    t_years: float
    qty: float
    settlement: Literal["usd", "coin"]
    vol: float
    contract_size: float = 1.0
    underlying: str | None = None
    rate: float = 0.0
    surface: VolSurface | None = field(default=None, compare=False, repr=False)

    def vol_at(self, forward: npt.ArrayLike, t_years: float) -> Float64Array:
        """Black vol at ``forward`` with ``t_years`` left: the surface's if any, else ``vol``."""
        f = np.asarray(forward, dtype=np.float64)
        if self.surface is None:
            return np.full(f.shape, self.vol)
        return np.asarray(self.surface.vol(self.strike, max(t_years, 1e-9), f), dtype=np.float64)

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise InputError(f"option symbol must be a non-empty string, was {self.symbol!r}")
        s = self.symbol
        if self.kind not in ("call", "put"):
            raise InputError(f"{s}.kind must be 'call' or 'put', was {self.kind!r}")
        if self.settlement not in ("usd", "coin"):
            raise InputError(f"{s}.settlement must be 'usd' or 'coin', was {self.settlement!r}")
        positive(self.strike, f"{s}.strike")
        non_negative(self.t_years, f"{s}.t_years")
        finite(self.qty, f"{s}.qty")
        if self.qty == 0.0:
            raise InputError(f"{s}.qty must be non-zero (signed: > 0 long, < 0 short), was 0")
        non_negative(self.vol, f"{s}.vol")
        positive(self.contract_size, f"{s}.contract_size")
        finite(self.rate, f"{s}.rate")
        if self.underlying is not None and not isinstance(self.underlying, str):
            raise InputError(
                f"{s}.underlying must be a str (a scenario key such as 'BTC') or None, was {show(self.underlying)}"
            )
        if self.surface is not None and not isinstance(self.surface, VolSurface):
            raise InputError(f"{s}.surface must be a VolSurface or None, was {show(self.surface)}")

    @property
    def underlying_key(self) -> str:
        """The scenario key of the underlying (``underlying`` or the base of ``symbol``)."""
        return symbol_key(self.underlying) if self.underlying else base_asset(self.symbol)


@dataclass(frozen=True, slots=True)
class PortfolioPnL:
    """Scenario P&L of a portfolio over a horizon, in the settlement currency (gains positive).

    Attributes
    ----------
    pnl : ndarray, shape (n,)
        Total P&L per scenario (price, option and funding parts, after truncation).
    by_position : Mapping[str, ndarray]
        P&L per position symbol, shape (n,) each, in the settlement currency.
    funding : ndarray, shape (n,)
        Funding accrued per scenario (included in ``pnl``; for an isolated position whose loss
        hits the margin floor, the floor is applied to price and funding together).
    liquidated : Mapping[str, ndarray]
        For each isolated perpetual, a boolean (n,) marking the scenarios where it was liquidated.
    settlement : str
        Currency of every amount.
    horizon_days : float
        Holding period.
    """

    pnl: Float64Array1D
    by_position: Mapping[str, Float64Array1D]
    funding: Float64Array1D
    liquidated: Mapping[str, BoolArray1D]
    settlement: str
    horizon_days: float


def _scenario_arrays(scenarios: Mapping[str, npt.ArrayLike]) -> tuple[dict[str, Float64Array], int]:
    if not isinstance(scenarios, Mapping) or not scenarios:
        raise InputError("scenarios must map underlying -> price relatives P/P0, was empty or not a mapping")
    out: dict[str, Float64Array] = {}
    n: int | None = None
    for key, raw in scenarios.items():
        name = f"scenarios[{key!r}]"
        try:
            a = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
            raise InputError(f"{name} must be an array of price relatives, was {show(raw)}") from None
        if a.ndim not in (1, 2) or a.size == 0:
            raise InputError(f"{name} must be shape (n,) or (n, steps), was shape {a.shape}")
        bad = ~(np.isfinite(a) & (a > 0.0))
        if bad.any():
            i = np.unravel_index(int(np.argmax(bad)), a.shape)
            where = ", ".join(str(int(v)) for v in i)
            raise InputError(f"{name}[{where}] must be a finite price relative > 0, was {a[i].item()!r}")
        if a.ndim == 1:
            a = a[:, None]
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise InputError(f"{name} has {a.shape[0]} scenarios, others {n}; scenarios are joint (same rows)")
        k = symbol_key(str(key))
        if k in out:
            raise InputError(f"scenarios has two keys for {k!r}")
        out[k] = a
    assert n is not None
    return out, n


def _key_for(symbol: str, keys: Mapping[str, object], where: str) -> str:
    """Scenario key of a perpetual: its own normalised symbol, else its base asset."""
    for k in (symbol_key(symbol), base_asset(symbol)):
        if k in keys:
            return k
    raise InputError(
        f"{where}: no scenario for {symbol!r} (looked for {symbol_key(symbol)!r} and {base_asset(symbol)!r}); "
        f"scenarios has {sorted(keys)}"
    )


def _per_scenario(value: object, n: int, name: str) -> Float64Array1D:
    # A number or one per scenario; bools and strings are not numbers (True read as +100 vol points).
    a = float_values(value, name)
    if np.ndim(cast("npt.ArrayLike", value)) == 0:  # a number (float_values made it shape (1,))
        a = np.full(n, float(a[0]))
    if a.shape != (n,):
        raise InputError(f"{name} must be a number or shape ({n},), was shape {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{name} must be finite, was {value!r}")
    return a


def _optional_mapping(value: Mapping[str, _V] | None, name: str) -> Mapping[str, _V] | None:
    # None or a mapping; a str or list here was an AttributeError on .items().
    if value is not None and not isinstance(value, Mapping):
        raise InputError(f"{name} must be a mapping (a dict keyed by underlying) or None, was {show(value)}")
    return value


def option_positions(options: object) -> tuple[OptionPosition, ...]:
    """``options`` (a sequence of :class:`OptionPosition`, or None for none) as a tuple; anything
    else raises InputError naming ``options`` or the entry (a str or a bare object was a raw
    TypeError/AttributeError)."""
    if options is None:
        return ()
    if isinstance(options, str | bytes | Mapping) or not isinstance(options, Iterable):
        raise InputError(f"options must be a sequence of OptionPosition, was {show(options)}")
    items: list[OptionPosition] = []
    for j, o in enumerate(options):
        if not isinstance(o, OptionPosition):
            raise InputError(f"options[{j}] must be an OptionPosition, was {type(o).__name__} {show(o)}")
        items.append(o)
    return tuple(items)


def _lookup(mapping: Mapping[str, _V | None] | None, *names: str) -> tuple[str, _V] | None:
    # (the key as given, its value) of the first of names in mapping (keys normalised), or None
    # when none is there or its value is None.
    if not mapping:
        return None
    norm = {symbol_key(str(k)): (str(k), v) for k, v in mapping.items()}
    for name in names:
        if symbol_key(name) in norm:
            given, value = norm[symbol_key(name)]
            return None if value is None else (given, value)
    return None


def _perp_pnl(p: Position, rel: Float64Array) -> Float64Array:
    # q (P1 - P0) or q (1/P0 - 1/P1) with P1 = P0 * rel; rel has any shape.
    q, p0 = p.q, p.mark_price
    if p.instrument.inverse:
        out: Float64Array = q / p0 * (1.0 - 1.0 / rel)
        return out
    out = q * p0 * (rel - 1.0)
    return out


def revalue(
    account: Account,
    scenarios: Mapping[str, npt.ArrayLike],
    *,
    horizon_days: float,
    options: Sequence[OptionPosition] = (),
    prices: Mapping[str, float] | None = None,
    vol_shifts: Mapping[str, float | npt.ArrayLike] | None = None,
    funding_rates: Mapping[str, float | npt.ArrayLike] | None = None,
    funding_interval_hours: float | None = None,
    liquidation_fee_rate: float | None = None,
    report: AccountReport | None = None,
    vol_shift_shape: VolShiftShape = "flat",
    option_pnl: OptionPnLKind = "pnl",
) -> PortfolioPnL:
    """Revalue an account's perpetuals and a set of options under joint price scenarios.

    Parameters
    ----------
    account : Account
        Wallet and perpetual positions (linear or inverse, cross or isolated).
    scenarios : Mapping[str, array_like]
        Underlying key (``"BTC"``, or a perp's own symbol) -> price relatives ``P/P0``, shape
        ``(n,)`` (terminal) or ``(n, m)`` (paths monitored at ``m`` evenly spaced times, the last
        at the horizon).  Rows are joint scenarios: every key has the same ``n``.  A perpetual
        uses the key of its normalised symbol if present, else of its base asset.
    horizon_days : float
        Holding period in days, >= 0 (0: instantaneous shocks, no decay and no funding).
    options : sequence of OptionPosition
        Options held beside the perpetuals.
    prices : Mapping[str, float], optional
        Current USD price (option forward) per underlying; defaults to the mark price of a
        perpetual on that underlying.  Needed for options and for converting between USD and a
        coin settlement when no perpetual gives the price.
    vol_shifts : Mapping[str, float or array_like], optional
        Absolute change of every option's vol per underlying: a number or shape ``(n,)``
        (volatility is floored at 0).
    funding_rates : Mapping[str, float or array_like], optional
        Funding rate per interval for each perpetual, keyed by its symbol or underlying: a
        number (deterministic carry) or shape ``(n,)`` (a per-scenario average rate, for a
        stochastic funding shock).  Positive: longs pay.
    funding_interval_hours : float, optional
        Hours between funding settlements; default: the account venue's
        (:attr:`levguard.core.rules.VenueModel.funding_interval_hours`: 8 on most venues, 1 on
        Hyperliquid and dYdX v4).
    liquidation_fee_rate : float, optional
        Fee rate on the notional at liquidation; defaults to each position's venue taker fee
        (:meth:`levguard.core.rules.VenueModel.taker_fee`).
    report : AccountReport, optional
        The margin engine's report of ``account`` (computed when omitted); its liquidation
        prices and isolated margin balances drive the truncation.
    vol_shift_shape : {"flat", "term"}
        How ``vol_shifts`` move an option that has a vol surface: ``"flat"`` adds the shift to
        its vol; ``"term"`` shocks the surface with the term shape of Deribit's portfolio
        margin (:meth:`~levguard.core.options.surface.VolSurface.shocked` ``("term", shift)``:
        the shift times ``sqrt(30 / days to expiry)``).  Options without a surface always move
        flat.
    option_pnl : {"pnl", "value"}
        How an option's result reaches the settlement currency: ``"pnl"`` converts its native
        P&L ``n (V1 - V0)`` at the horizon price; ``"value"`` is the change of its value in the
        settlement currency, each value converted at its own time's price (``n V1 P1 - n V0 P0``
        for a coin-settled option in a USD account: what a stress test of the marked-to-market
        book shows).

    Returns
    -------
    PortfolioPnL

    Notes
    -----
    *Liquidation truncation (isolated positions).*  With liquidation price ``LP`` from
    :func:`levguard.core.margin.evaluate` (venue tiers and fees), a scenario whose path reaches
    ``LP`` (at or below it for a long, at or above for a short, at any monitored time) closes
    the whole position there as the venue books it (:func:`levguard.core.liquidation_outcome.liquidation_outcome`
    with no partial step): its P&L is what the liquidation leaves of the margin less the margin
    balance now, ``-margin balance`` where the venue takes the position over (Binance, Bybit,
    OKX, Gate, BitMEX: the rest of the margin goes to the insurance fund) and
    ``q (LP - P0) - min(f |q| LP, rest)`` (linear; ``q (1/P0 - 1/LP) - ...`` inverse, coin) where
    the book closes it (Hyperliquid, dYdX, Deribit: the trader keeps the rest), ``f`` the
    liquidation fee rate; funding stops at the first monitored time past ``LP``.  Finally an
    isolated position's P&L, funding included, is floored at ``-margin balance``: it cannot lose
    more than its posted margin plus current uPnL (funding and fees are paid from it; what a
    gap takes beyond it is the insurance fund's).  With terminal relatives only (``m = 1``) a position is
    taken as liquidated when the horizon price is past ``LP``; paths that cross ``LP`` and come
    back are missed, so the loss is understated for them (give paths for path dependence; the
    crossing is still only checked at the monitored times).  Cross positions are not truncated:
    they draw on the whole wallet.

    *Funding* uses the current mark (``-q P0 rate`` per interval, ``-q / P0 rate`` in coin) over
    ``horizon_days x 24 / funding_interval_hours`` intervals (a fractional count is the
    expected accrual).

    *Options*: Black-76 with the underlying's relative applied to the forward and time to expiry
    ``T - h/365``; an option expiring inside the horizon pays its intrinsic value at the last
    monitored time at or before expiry (no price from after expiry) and holds that cash to the
    horizon.  When expiry comes before the first monitored time (always with terminal relatives,
    whose one monitored time is the horizon), it settles at the first.  Options are not truncated.

    *Settlement currency.*  Perpetual P&L is in the account's settlement currency already (an
    account holds one).  Option P&L is converted with the scenario's horizon price: a coin
    amount times ``P1`` of its underlying into USD; a USD amount divided by ``P1`` of the
    settlement coin into a coin-settled account (which then needs that coin among the
    scenario keys).  USD stablecoins count as USD.  Only P&L is converted; the change in USD
    value of coin collateral already held is not P&L of these positions.
    """
    instance_of(account, Account, "account")
    rel, n = _scenario_arrays(scenarios)
    h = non_negative_number(horizon_days, "horizon_days")
    if option_pnl not in get_args(OptionPnLKind):
        raise InputError(f"option_pnl must be one of {get_args(OptionPnLKind)}, was {option_pnl!r}")
    if liquidation_fee_rate is not None:  # a liquidation fee is a fraction below 10 % (liquidation_outcome)
        rate(non_negative_number(liquidation_fee_rate, "liquidation_fee_rate"), "liquidation_fee_rate", upper=0.1)
    if report is not None:
        instance_of(report, AccountReport, "report")
    options = option_positions(options)
    prices, vol_shifts, funding_rates = (
        _optional_mapping(prices, "prices"),
        _optional_mapping(vol_shifts, "vol_shifts"),
        _optional_mapping(funding_rates, "funding_rates"),
    )
    model = get_venue(account.venue)
    if funding_interval_hours is None:
        funding_interval_hours = model.funding_interval_hours
    funding_interval_hours = positive(
        as_float(funding_interval_hours, "funding_interval_hours"), "funding_interval_hours"
    )
    rep = report if report is not None else evaluate(account, model)
    if len(rep.positions) != len(account.positions):
        raise InputError(f"report has {len(rep.positions)} positions, account {len(account.positions)}")
    for p in account.positions:  # the fee a liquidation would book, checked whether or not one happens
        if p.isolated:
            book_fee_rate(liquidation_rule(model), model.taker_fee(p), liquidation_fee_rate)
    settlement = rep.settlement
    n_intervals = h * 24.0 / float(funding_interval_hours)

    # Current USD prices per underlying: given ones first, then perpetual marks.
    p0: dict[str, float] = {}
    for i, p in enumerate(account.positions):
        p0.setdefault(_key_for(p.symbol, rel, f"positions[{i}]"), p.mark_price)
        p0.setdefault(base_asset(p.symbol), p.mark_price)
    for k, v in (prices or {}).items():
        p0[symbol_key(str(k))] = positive_number(v, f"prices[{k!r}]")

    total = np.zeros(n)
    funding_total = np.zeros(n)
    by_position: dict[str, Float64Array1D] = {}
    liquidated: dict[str, BoolArray1D] = {}

    for i, (p, pr) in enumerate(zip(account.positions, rep.positions, strict=True)):
        key = _key_for(p.symbol, rel, f"positions[{i}]")
        path = rel[key]
        m = path.shape[1]
        price_pnl = _perp_pnl(p, path[:, -1])
        given = _lookup(funding_rates, p.symbol, key, base_asset(p.symbol))
        funding_rate = np.zeros(n) if given is None else _per_scenario(given[1], n, f"funding_rates[{given[0]!r}]")
        per_interval = -p.q * (1.0 / p.mark_price if p.instrument.inverse else p.mark_price) * funding_rate
        accrued = np.ones(n)
        pnl = price_pnl
        if p.isolated:
            lp = pr.liquidation_price
            balance = max(pr.margin_balance or 0.0, 0.0)
            crossed = np.zeros(n, dtype=np.bool_)
            fill = p.mark_price
            if pr.liquidatable:  # already at or past its liquidation price: liquidated at the mark now
                crossed[:] = True
                accrued = np.zeros(n)
            elif lp is not None:
                lp_rel = lp / p.mark_price
                past = path <= lp_rel if p.qty > 0 else path >= lp_rel
                crossed = np.asarray(past.any(axis=1), dtype=np.bool_)
                first = np.argmax(past, axis=1)
                accrued = np.where(crossed, (first + 1) / m, 1.0)
                fill = lp
            liquidated[p.symbol] = crossed
            funding = per_interval * n_intervals * accrued
            pnl = pnl + funding
            if crossed.any():
                # Funding went through the isolated margin before the liquidation: a takeover
                # leaves nothing of it, a book close the rest with the funding in it.
                rest = liquidation_rest(model, p, pr, fill, fee_rate=liquidation_fee_rate, funding=funding[crossed])
                pnl[crossed] = rest - balance
            pnl = np.maximum(pnl, -balance)  # nothing takes an isolated position below its margin
        else:
            funding = per_interval * n_intervals
            pnl = pnl + funding
        by_position[p.symbol] = pnl
        funding_total += funding
        total += pnl

    for j, o in enumerate(options):
        key = o.underlying_key
        if key not in rel:
            raise InputError(f"options[{j}] ({o.symbol}): no scenario for underlying {key!r}; has {sorted(rel)}")
        if key not in p0:
            raise InputError(f"options[{j}] ({o.symbol}): no current price for {key!r}; pass prices={{{key!r}: ...}}")
        path = rel[key]
        m = path.shape[1]
        f0 = p0[key]
        t1 = o.t_years - h / DAYS_PER_YEAR
        if t1 > 0.0 or h == 0.0:
            f1 = f0 * path[:, -1]
            t1 = max(t1, 0.0)
        else:
            # Expires inside the horizon: intrinsic at the last monitored time at or before expiry
            # (column j is time (j + 1) h / m; the tolerance keeps an expiry on a monitored time
            # there), the first when expiry comes before it.
            done = math.floor(o.t_years / (h / DAYS_PER_YEAR) * m + 1e-9)
            step = min(m - 1, max(0, done - 1))
            f1 = f0 * path[:, step]
            t1 = 0.0
        found = _lookup(vol_shifts, key)
        shift = np.zeros(n) if found is None else _per_scenario(found[1], n, f"vol_shifts[{found[0]!r}]")
        v0 = float(black76(o.kind, f0, o.strike, o.t_years, float(o.vol_at(f0, o.t_years)), o.rate, o.settlement).price)
        vol1 = _shifted_vol(o, f1, t1, shift, vol_shift_shape)
        v1 = np.asarray(black76(o.kind, f1, o.strike, t1, vol1, o.rate, o.settlement).price, dtype=np.float64)
        size = o.qty * o.contract_size
        where = f"options[{j}]"
        if option_pnl == "value":
            pnl = _convert(size * v1, o.settlement, key, settlement, rel, p0, where) - _convert(
                np.full(n, size * v0), o.settlement, key, settlement, None, p0, where
            )
        else:
            pnl = _convert(size * (v1 - v0), o.settlement, key, settlement, rel, p0, where)
        by_position[o.symbol] = by_position.get(o.symbol, np.zeros(n)) + pnl
        total += pnl

    return PortfolioPnL(
        pnl=total,
        by_position=MappingProxyType(by_position),
        funding=funding_total,
        liquidated=MappingProxyType(liquidated),
        settlement=settlement,
        horizon_days=h,
    )


def _shifted_vol(
    o: OptionPosition, f1: Float64Array1D, t1: float, shift: Float64Array1D, shape: VolShiftShape
) -> Float64Array1D:
    """The option's vol at the scenario forwards ``f1`` and time left ``t1`` after ``shift``."""
    if shape not in get_args(VolShiftShape):
        raise InputError(f"vol_shift_shape must be one of {get_args(VolShiftShape)}, was {shape!r}")
    if shape == "flat" or o.surface is None:
        out: Float64Array1D = np.maximum(o.vol_at(f1, t1) + shift, 0.0)
        return out
    out = np.empty(f1.shape[0])
    for u in np.unique(shift):
        m = shift == u
        shocked = o.surface.shocked("term", float(u)) if u != 0.0 else o.surface
        out[m] = np.asarray(shocked.vol(o.strike, max(t1, 1e-9), f1[m]), dtype=np.float64)
    return out


def _convert(
    native: Float64Array1D,
    native_unit: Literal["usd", "coin"],
    underlying: str,
    settlement: str,
    rel: Mapping[str, Float64Array] | None,
    p0: Mapping[str, float],
    where: str,
) -> Float64Array1D:
    """Convert an option's amount (USD, or coin of its underlying) into the settlement currency,
    at the horizon prices ``p0 * rel`` (or at the current prices ``p0`` when ``rel`` is None)."""
    target_usd = is_usd(settlement)
    target = symbol_key(settlement)

    def price(key: str) -> float | Float64Array:
        return p0[key] if rel is None else p0[key] * rel[key][:, -1]

    if native_unit == "usd":
        usd = native
    elif not target_usd and target == underlying:
        return native
    else:
        usd = native * price(underlying)
    if target_usd:
        return usd
    if target not in p0 or (rel is not None and target not in rel):
        keys = sorted(rel) if rel is not None else sorted(p0)
        raise InputError(
            f"{where}: converting to the {settlement} settlement needs {target!r} among the scenario keys "
            f"and its price (scenarios has {keys})"
        )
    out: Float64Array1D = usd / price(target)
    return out
