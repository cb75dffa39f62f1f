"""Stress tests: named historical crashes, a price x vol grid and venue defaults, applied to
accounts with the venue's own margin rules.

A :class:`Scenario` is an instantaneous shock: a relative price move (per underlying, or one for
all), an implied-vol shift for options, a funding rate paid over a number of funding intervals,
and venues that default (their collateral and positions are lost, as on FTX in 2022-11).
:func:`apply_scenario` re-marks an account, pays the funding, and re-evaluates it with
:func:`levguard.core.margin.evaluate`, so liquidations follow the venue's tiers exactly.

Historical magnitudes
---------------------
Measured from Binance USDⓈ-M BTCUSDT perpetual 1h klines, mark-price klines and 8-hourly funding
(data.binance.vision, via levguard's shared reference data):

* ``price_shock`` = -depth: the largest fall of the **mark price** (what triggers liquidations)
  from its running peak within 24 hours, across UTC day boundaries, for troughs in the 48 hours
  from the scenario's date (rule: :func:`levguard.data.crashes.measure_shock`).  Black Thursday:
  50,953 at 2020-03-12 02:00 to 24,979 at 2020-03-13 02:00 UTC, -50.98 %.
* ``funding_rate`` = the lowest funding print from 8 hours before to 48 hours after that trough.
* ``vol_shock`` (implied): where Deribit's BTC DVOL index is in the reference data (2022-11 on),
  the rise from the previous day's close to the highest close of the crash day and the next;
  before that, an **estimate**: the crash day's realized-vol jump (1h returns, annualised, crash
  day vs the 30 days before) times 0.2415, the median ratio of DVOL rise to realized-vol jump
  over the three crashes where both are recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from levguard.core.liquidation_outcome import book_fee_rate, liquidation_rest, liquidation_rule
from levguard.core.margin import AccountReport, evaluate
from levguard.core.positions import Account, Position
from levguard.core.records import Record, empty_mapping, field_dict
from levguard.core.rules import get_venue
from levguard.core.symbols import asset_key, base_asset, named_expiry
from levguard.core.validate import finite_number, instance_of, pick_named, show, whole_number
from levguard.errors import InputError

__all__ = [
    "NAMED_SCENARIOS",
    "AccountStress",
    "PositionStress",
    "Scenario",
    "apply_scenario",
    "base_asset",
    "check_scenarios",
    "grid_scenarios",
    "scenario_by_name",
    "stress_accounts",
    "venue_default",
]

IMPLIED_TO_REALIZED = 0.2415
"""Median ratio of DVOL rise to realized-vol jump over the crashes where both are recorded."""


_MAPPINGS = (dict, MappingProxyType)


def _check_number(name: str, key: str, value: object) -> None:
    # A real number within float64's range (not a bool, a string or None), else InputError.
    if type(value) is float:  # the common case, first
        return
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"scenario {name!r}: {key} must be a number, was {show(value)}")
    try:
        float(value)
    except OverflowError:  # an int beyond float64's range
        raise InputError(f"scenario {name!r}: {key} must be a number within float64 range, was {show(value)}") from None


@dataclass(frozen=True)
class Scenario:
    """An instantaneous stress scenario.

    Parameters
    ----------
    name : str
        Identifier.
    price_shock : float
        Relative move of every underlying's mark price (-0.3 = -30 %), > -1.
    price_shocks : Mapping[str, float]
        Per-underlying overrides keyed by base asset or symbol, any case (``"BTC"``, ``"eth"``,
        ``"SOLUSDT"``); stored by :func:`levguard.core.symbols.asset_key` (``"BTC"``, ``"ETH"``,
        ``"SOL"``; BitMEX's ``"XBT"`` is ``"BTC"``), two keys for one asset are refused.
    vol_shock : float
        Absolute change of implied volatility for options (0.3 = +30 vol points).
    funding_rate : float or None
        Funding rate per interval during the scenario (positive: longs pay).
    funding_intervals : int
        Funding settlements the rate is paid for.
    defaulted_venues : tuple of str
        Venues that default: collateral and positions there are lost.
    kind : str
        ``historical``, ``grid``, ``counterparty`` or ``custom``.
    date, source : str
        When it happened and where the magnitudes come from.
    """

    name: str
    price_shock: float = 0.0
    price_shocks: Mapping[str, float] = field(default_factory=empty_mapping)
    vol_shock: float = 0.0
    funding_rate: float | None = None
    funding_intervals: int = 0
    defaulted_venues: tuple[str, ...] = ()
    kind: str = "custom"
    date: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if not (
            type(self.name) is str and type(self.kind) is str and type(self.date) is str and type(self.source) is str
        ):
            for key in ("name", "kind", "date", "source"):
                if not isinstance(getattr(self, key), str):
                    raise InputError(f"scenario {key} must be a str, was {show(getattr(self, key))}")
        if type(self.price_shocks) not in _MAPPINGS and not isinstance(self.price_shocks, Mapping):
            raise InputError(f"scenario {self.name!r}: price_shocks must be a mapping, was {show(self.price_shocks)}")
        venues = self.defaulted_venues
        if venues != () and (type(venues) is not tuple or not all(isinstance(v, str) for v in venues)):
            if isinstance(venues, str | bytes) or not isinstance(venues, Iterable):
                raise InputError(
                    f"scenario {self.name!r}: defaulted_venues must be venue names, was {show(self.defaulted_venues)}"
                )
            venues = tuple(venues)  # a list reads the same (it is only searched)
            if not all(isinstance(v, str) for v in venues):
                raise InputError(
                    f"scenario {self.name!r}: defaulted_venues must be venue names, was {show(self.defaulted_venues)}"
                )
            object.__setattr__(self, "defaulted_venues", venues)
        for key, value in (("price_shock", self.price_shock), *self.price_shocks.items()):
            _check_number(self.name, str(key), value)
            if not (math.isfinite(value) and value > -1.0):
                raise InputError(f"scenario {self.name!r}: {key} must be a finite move > -1, was {value!r}")
        if self.price_shocks:
            object.__setattr__(self, "price_shocks", _shock_keys(self.name, self.price_shocks))
        _check_number(self.name, "vol_shock", self.vol_shock)
        if self.funding_rate is not None:
            _check_number(self.name, "funding_rate", self.funding_rate)
        if type(self.funding_intervals) is not int:  # 3 or 3.0 (a YAML number), not True or 2.5
            n = whole_number(self.funding_intervals, f"scenario {self.name!r}: funding_intervals", 0, 2**31 - 1)
            object.__setattr__(self, "funding_intervals", n)
        if not math.isfinite(self.vol_shock):
            raise InputError(f"scenario {self.name!r}: vol_shock must be finite, was {self.vol_shock!r}")
        if self.funding_rate is not None and not (math.isfinite(self.funding_rate) and abs(self.funding_rate) < 0.1):
            raise InputError(
                f"scenario {self.name!r}: funding_rate must be a fraction below 0.1, was {self.funding_rate!r}"
            )
        if self.funding_intervals < 0:
            raise InputError(f"scenario {self.name!r}: funding_intervals must be >= 0, was {self.funding_intervals!r}")

    def shock_for(self, base: str) -> float:
        """The relative price move applied to ``base`` (a base asset or a symbol, any case)."""
        return self.price_shocks.get(asset_key(base), self.price_shock)


def _shock_keys(name: str, shocks: Mapping[str, float]) -> Mapping[str, float]:
    # price_shocks keyed by asset_key ("btc", "BTCUSDT" and "XBT" are all "BTC"), refusing two keys
    # for one asset: a key the positions' bases never matched was a silent shock of 0.
    out: dict[str, float] = {}
    given: dict[str, object] = {}
    for key, value in shocks.items():
        if not isinstance(key, str) or not key.strip():
            raise InputError(
                f"scenario {name!r}: price_shocks keys must be assets or symbols such as 'BTC', was {show(key)}"
            )
        k = asset_key(key)
        if k in given:
            raise InputError(f"scenario {name!r}: price_shocks has {given[k]!r} and {key!r}, both for {k}")
        given[k] = key
        out[k] = value
    return MappingProxyType(out)


_DVOL = "Deribit BTC DVOL daily closes (levguard shared reference data)"
_BINANCE = (
    "Binance USDⓈ-M BTCUSDT mark-price 1h klines (largest 24 h fall from a running peak, "
    "measure_shock) and funding (data.binance.vision)"
)


def _historical(name: str, date: str, move: float, funding_rate: float, vol_shock: float, vol_source: str) -> Scenario:
    # One crash of the table below: three funding settlements at the crash day's rate.
    return Scenario(
        name,
        move,
        vol_shock=vol_shock,
        funding_rate=funding_rate,
        funding_intervals=3,
        kind="historical",
        date=date,
        source=f"{_BINANCE}; vol: {vol_source}",
    )


def _estimated(name: str, date: str, move: float, funding_rate: float, rv_jump: float) -> Scenario:
    # Before DVOL: the vol shock is the realized-vol jump scaled by IMPLIED_TO_REALIZED.
    vol_shock = round(rv_jump * IMPLIED_TO_REALIZED, 4)
    return _historical(
        name, date, move, funding_rate, vol_shock, f"estimate (realized-vol jump {rv_jump} x {IMPLIED_TO_REALIZED})"
    )


def _measured(name: str, date: str, move: float, funding_rate: float, vol_shock: float, dvol: str) -> Scenario:
    # With DVOL: the vol shock is the measured rise of the index (``dvol`` "before -> after").
    return _historical(name, date, move, funding_rate, vol_shock, f"{_DVOL}, {dvol}")


NAMED_SCENARIOS: tuple[Scenario, ...] = (
    # name, date, 24 h move, funding rate per interval, realized-vol jump or DVOL rise
    _estimated("black-thursday", "2020-03-12", -0.5098, -0.003, 4.817),
    _estimated("china-ban", "2021-05-19", -0.3296, -0.000897, 2.325),
    _estimated("dec-2021-weekend", "2021-12-04", -0.2469, 0.000029, 0.907),
    _estimated("luna", "2022-05-12", -0.1679, -0.00042, 1.191),
    _estimated("celsius", "2022-06-13", -0.2123, -0.0001, 0.611),
    _measured("ftx", "2022-11-08", -0.1842, -0.001192, 0.5524, "59.48 -> 114.72"),
    _measured("yen-carry", "2024-08-05", -0.1965, -0.000028, 0.0695, "56.13 -> 63.08"),
    _measured("oct-2025-liquidations", "2025-10-10", -0.1681, -0.000109, 0.0642, "39.73 -> 46.15"),
)


def scenario_by_name(name: str) -> Scenario:
    """Return a named historical scenario by name or date."""
    return pick_named(NAMED_SCENARIOS, name, "scenario")


def _grid_axis(values: object, field_name: str) -> list[object]:
    # A non-empty iterable of numbers (checked one by one by the caller), else InputError.  A 0-d
    # array is an Iterable by type, but iterating it is a TypeError.
    zero_d = isinstance(values, np.ndarray) and values.ndim == 0
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable) or zero_d:
        raise InputError(f"{field_name} must be a sequence of numbers, was {show(values)}")
    items: list[object] = list(values)
    if not items:
        raise InputError(f"{field_name} must hold at least one number, was {show(values)}")
    return items


def grid_scenarios(
    price_moves: Iterable[float] = (-0.5, -0.3, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.3, 0.5),
    vol_shifts: Iterable[float] = (0.0,),
) -> list[Scenario]:
    """A price x vol grid of instantaneous scenarios (every underlying moves together)."""
    out = []
    moves = [finite_number(p, f"price_moves[{i}]") for i, p in enumerate(_grid_axis(price_moves, "price_moves"))]
    for j, shift in enumerate(_grid_axis(vol_shifts, "vol_shifts")):
        v = finite_number(shift, f"vol_shifts[{j}]")
        for p in moves:
            name = f"price {p:+.0%}" + (f", vol {v:+.0%}" if v else "")
            out.append(Scenario(name, p, vol_shock=v, kind="grid", source="grid"))
    return out


def venue_default(venue: str, name: str | None = None) -> Scenario:
    """A counterparty scenario: ``venue`` defaults and everything held there is lost (FTX, 2022-11-11)."""
    if not isinstance(venue, str) or not venue:
        raise InputError(f"venue must be a venue name (a non-empty str), was {show(venue)}")
    if name is not None and not isinstance(name, str):
        raise InputError(f"name must be a str or None, was {show(name)}")
    return Scenario(
        name or f"{venue} default",
        defaulted_venues=(venue,),
        kind="counterparty",
        date="2022-11-11",
        source="FTX filed for bankruptcy on 2022-11-11; client assets were frozen",
    )


@dataclass(frozen=True, slots=True)
class PositionStress(Record):
    """One position under a scenario (amounts in the account's settlement currency)."""

    symbol: str
    qty: float
    mark_before: float
    mark_after: float
    pnl: float
    funding: float
    liquidation_price: float | None
    liquidated: bool
    lost_to_default: bool


@dataclass(frozen=True, slots=True)
class AccountStress:
    """An account under a scenario.

    The account is made of parts that go bankrupt separately (:func:`apply_scenario`, Notes): the
    cross part, each isolated position's margin and, where the venue keeps options in a wallet of
    their own, the options.  ``equity_before`` and ``equity_after`` add the parts each floored at
    zero (beyond bankruptcy the venue's insurance fund takes the loss), ``pnl = equity_after -
    equity_before`` (so ``pnl >= -equity_before``), ``bad_debt`` is the shortfall below zero the
    scenario adds and ``shortfall_before`` the one the account already had (a hole that is the
    venue's loss before the scenario, neither its P&L nor its bad debt).  Equity includes the
    options' value when :func:`apply_scenario` is given it (``option_values``, ``option_wallets``).
    ``maintenance_margin_after`` is the whole account's (cross and isolated);
    ``margin_ratio_after`` is the cross part's: the cross positions' maintenance margin over the
    cross part after (pooled options included), None where that part is <= 0 (bankrupt), so an
    isolated margin's gain does not make a bankrupt cross part read healthy.  ``bankrupt`` is the
    cross trigger met with no cross position to liquidate (the cross part, cash plus pooled
    options, below 0), whatever isolated positions did; a wallet of options apart that falls below
    0 does not set it (its shortfall is in ``bad_debt``, the venue's loss).
    """

    name: str
    venue: str
    settlement: str
    equity_before: float
    equity_after: float
    pnl: float
    bad_debt: float
    maintenance_margin_after: float
    margin_ratio_after: float | None
    liquidatable: bool
    defaulted: bool
    positions: tuple[PositionStress, ...]
    shortfall_before: float = 0.0
    bankrupt: bool = False

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return field_dict(self, positions=[p.to_dict() for p in self.positions])


def _funding_payment(p: Position, mark: float, rate: float, intervals: int) -> float:
    # Linear: -qty x contract size x mark x rate per settlement; inverse (coin): -qty x cs / mark x rate.
    # A dated future (its symbol names an expiry) pays no funding: only perpetuals do.
    if named_expiry(p.symbol) is not None:
        return 0.0
    size = p.qty * p.instrument.contract_size
    notional = size / mark if p.instrument.inverse else size * mark
    return -notional * rate * intervals


def _parts(cross: float, options: float, wallets: list[float], isolated: list[float], pooled: bool) -> list[float]:
    # The account's bankruptcy units, unfloored: the cross part (with the options where they share
    # its margin), the options' own wallet where they do not, the options' other wallets (one per
    # currency the cross part does not pool) and each isolated margin.
    return [cross + options, *wallets, *isolated] if pooled else [cross, options, *wallets, *isolated]


def _floored(parts: list[float]) -> tuple[float, float]:
    # (sum of the parts floored at 0, sum of their shortfalls below 0).
    return math.fsum(max(x, 0.0) for x in parts), math.fsum(max(-x, 0.0) for x in parts)


def apply_scenario(
    account: Account,
    scenario: Scenario,
    *,
    name: str | None = None,
    before: AccountReport | None = None,
    option_values: tuple[float, float] = (0.0, 0.0),
    options_share_margin: bool | None = None,
    option_wallets: Sequence[tuple[float, float]] = (),
) -> AccountStress:
    """Re-mark ``account`` under ``scenario``, pay its funding, and re-evaluate it.

    Parameters
    ----------
    account : Account
        The account (its perpetuals and futures).
    scenario : Scenario
        The shock.
    name : str, optional
        The account's name (default: its venue); a venue default names the venue or the account.
    before : AccountReport, optional
        ``evaluate(account)``, when the caller has it.
    option_values : (float, float)
        The value of the account's options before and after the scenario, in its settlement
        currency (signed: a short option is a liability), finite.  The margin engine has no
        option model; :func:`levguard.risk.report.risk_report` values them.  ``equity_before``,
        ``equity_after`` and ``pnl`` include them (Notes).
    options_share_margin : bool, optional
        Whether the options are in the cross wallet (True) or a wallet of their own (False);
        default the venue's :attr:`~levguard.core.rules.base.VenueModel.options_share_margin`
        (Deribit and OKX True; Binance, whose portfolio margin pools them, False).
    option_wallets : sequence of (float, float)
        Further parts of options that the cross part does not pool, each ``(B + V0, B + V1)``:
        the wallet's cash ``B`` (premiums included) plus its options' value, before and after,
        in the account's settlement currency, finite (:func:`levguard.risk.report.risk_report`
        passes one per options currency: Binance's Options account, or Deribit options settled
        in another currency than the account's without cross collateral).  Each floors at 0 on
        its own.

    Notes
    -----
    New marks are ``mark x (1 + shock(base))``.  Funding over the scenario,
    ``-qty x mark_after x rate x intervals`` (linear; coin-settled: ``-qty x cs / mark_after x
    rate x intervals``), is paid by perpetuals only (a dated future, whose symbol names an
    expiry, :func:`levguard.core.symbols.named_expiry`, pays none), from the isolated margin of
    isolated positions and from the cross wallet otherwise, as venues do.  Funding beyond an
    isolated margin drives that part below 0 (bad debt) and counts in its trigger; funding beyond
    the cross wallet leaves it below 0, and the liquidation prices read that wallet as it is
    (Binance's formula takes ``WB`` whatever its sign; the account stays open while its equity is
    above the maintenance margin, so its price is where that meets the maintenance margin).
    Liquidation flags come from the venue's rules at the new marks
    (:func:`levguard.core.margin.evaluate`).  An isolated position that is
    liquidatable there is liquidated whole at the new mark as the venue books it
    (:func:`levguard.core.liquidation_outcome.liquidation_outcome`, docs/margin.md 4.1): where the
    venue takes it over (Binance, Bybit, OKX, Gate, BitMEX) its whole margin is lost; where the
    book closes it (Hyperliquid, dYdX, Deribit) the trader keeps the rest after the fee.  In a
    venue default everything held on the venue is lost.

    *Parts.*  The account is made of parts that go bankrupt separately, each with an unfloored
    value ``a`` before (0) and after (1): the cross part ``C`` (the cross wallet plus the cross
    positions' unrealised P&L; after the scenario at the new marks, funding paid), each isolated
    position's margin balance ``M_i`` (after: what its liquidation leaves it, or ``M_i`` itself
    where it is below 0 or not liquidated), and the options ``V`` (``option_values``).  Where the
    options share the futures' margin (``options_share_margin``: Deribit, OKX; see
    :class:`~levguard.core.rules.base.VenueModel` for the venues' sources) they are in the cross
    part, ``a = C + V``, so a short option's liability draws on the futures' margin and a long
    option's value covers a cross shortfall; elsewhere (Binance's Options account) they are a
    part of their own, ``a = V``, and neither eats the other.  With ``s = max(-a, 0)``:

    * ``equity_before = sum max(a0, 0)``, ``equity_after = sum max(a1, 0)``, ``pnl =
      equity_after - equity_before`` (so ``pnl >= -equity_before``);
    * ``shortfall_before = sum s0`` (an account already below zero: its hole is the venue's loss
      before the scenario, neither P&L nor bad debt), ``bad_debt = sum max(s1 - s0, 0)`` (the
      shortfall the scenario adds, part by part, >= 0);
    * so ``pnl = sum (a1 - a0) + sum (s1 - s0)``: where no part's shortfall shrinks, ``pnl -
      bad_debt`` is the raw P&L of the parts, ``sum (a1 - a0)`` (the invariant the property
      tests check; a shortfall that shrinks is the venue's recovery, not the trader's gain).

    *Liquidation.*  The cross trigger reads the cross part as the venue does: ``C1 (+ V1 where
    the options share the margin) <= MM_cross`` (the venue's trigger,
    :meth:`~levguard.core.rules.base.VenueModel.liquidatable`; with no cross maintenance margin,
    ``< 0``), so an account wiped out by its short options is ``liquidatable`` and its cross
    positions are ``liquidated``.  Where the venue takes liquidated positions over (Binance,
    Bybit, OKX, Gate, BitMEX), a liquidated cross part keeps nothing of what was left between 0
    and its maintenance margin (the pooled options' value included), as an isolated position
    does; where the book closes them (Hyperliquid, dYdX, Deribit) it keeps that rest (the fee,
    and Hyperliquid's backstop takeover, are not booked for the cross part).
    ``margin_ratio_after`` is ``MM_cross / X1`` with ``X1 = C1 (+
    V1 where the options share the margin)``, the cross part the trigger reads (the venue's ratio,
    Deribit's maintenance margin over equity), None where ``X1 <= 0``; isolated margins are not in
    it; the options' own maintenance margin is not in ``MM_cross`` (no option margin model), so it
    is a lower bound there.
    Deribit's standard margin gives long options no margin credit (support.deribit.com,
    "Isolated margin availability"); their value is still the account's equity, so the trigger
    is lenient there for long options.

    In a venue default everything is lost: ``equity_after = 0``, ``pnl = -equity_before``,
    ``bad_debt = 0`` (the default adds no shortfall; ``shortfall_before`` is the hole already
    there).  Sources: Deribit, "The Deribit insurance fund and socialised loss system"
    (insights.deribit.com: an account's negative equity is set back to zero by the insurance
    fund).
    """
    instance_of(account, Account, "account")
    instance_of(scenario, Scenario, "scenario")
    if isinstance(option_wallets, str | bytes) or not isinstance(option_wallets, Sequence):
        raise InputError(f"option_wallets must be a list of (value before, value after), was {show(option_wallets)}")
    wallets0: list[float] = []
    wallets1: list[float] = []
    for i, w in enumerate(option_wallets):
        if not (isinstance(w, tuple | list) and len(w) == 2):
            raise InputError(f"option_wallets[{i}] must be (value before, value after), was {show(w)}")
        wallets0.append(finite_number(w[0], f"option_wallets[{i}][0]"))
        wallets1.append(finite_number(w[1], f"option_wallets[{i}][1]"))
    if before is not None:
        instance_of(before, AccountReport, "before")
    if not (isinstance(option_values, tuple | list) and len(option_values) == 2):
        raise InputError(f"option_values must be (value before, value after), was {show(option_values)}")
    v0 = finite_number(option_values[0], "option_values[0]")
    v1 = finite_number(option_values[1], "option_values[1]")
    if options_share_margin is not None and not isinstance(options_share_margin, bool):
        raise InputError(f"options_share_margin must be a bool or None, was {show(options_share_margin)}")
    model = get_venue(account.venue)
    pooled = model.options_share_margin if options_share_margin is None else options_share_margin
    label = name or account.venue
    before = before or evaluate(account)
    iso0 = [r.margin_balance for r in before.positions if r.margin_balance is not None]
    parts0 = _parts(before.equity - math.fsum(iso0), v0, wallets0, iso0, pooled)
    equity_before, shortfall_before = _floored(parts0)
    if account.venue in scenario.defaulted_venues or label in scenario.defaulted_venues:
        positions = tuple(
            PositionStress(
                p.symbol,
                p.qty,
                p.mark_price,
                p.mark_price,
                -max(r.margin_balance, 0.0) if r.margin_balance is not None else 0.0,
                0.0,
                r.liquidation_price,
                False,
                True,
            )
            for p, r in zip(account.positions, before.positions, strict=True)
        )
        return AccountStress(
            label,
            account.venue,
            before.settlement,
            equity_before,
            0.0,
            -equity_before,  # before + pnl = after = 0; a hole already there stays the venue's loss
            0.0,
            0.0,
            None,
            False,
            True,
            positions,
            shortfall_before,
        )
    wallet = account.wallet_balance
    shocked: list[Position] = []
    fundings: list[float] = []
    gaps: list[float] = []  # an isolated margin's funding paid beyond it (<= 0), kept apart from evaluate
    rate = scenario.funding_rate or 0.0
    for p in account.positions:
        mark = p.mark_price * (1.0 + scenario.shock_for(base_asset(p.symbol)))
        pay = _funding_payment(p, mark, rate, scenario.funding_intervals) if rate else 0.0
        fundings.append(pay)
        gap = 0.0
        if p.isolated:
            margin = p.isolated_margin
            if margin is None:  # the default isolated margin is the initial margin at entry
                r = before.positions[len(shocked)]
                margin = r.margin_balance - r.unrealized_pnl if r.margin_balance is not None else None
            new_margin = None
            if margin is not None:
                # A Position needs a margin > 0: evaluate reads at least 1e-12, the part keeps the rest.
                new_margin = max(margin + pay, 1e-12)
                gap = (margin + pay) - new_margin
            shocked.append(replace(p, mark_price=mark, isolated_margin=new_margin))
        else:
            wallet += pay
            shocked.append(replace(p, mark_price=mark))
        gaps.append(gap)
    # The cross wallet as it is after funding, below 0 too: equity and liquidation prices read it.
    after = evaluate(replace(account, wallet_balance=max(wallet, 0.0), positions=tuple(shocked)), model, wallet=wallet)
    for p in account.positions:  # the fee a liquidation would book, whether or not one happens
        if p.isolated:
            book_fee_rate(liquidation_rule(model), model.taker_fee(p))
    # The cross part after (a negative wallet, funding paid beyond it, counted) and its trigger:
    # with the options where they share its margin, so short options can wipe it out (Notes).
    iso1 = [r.margin_balance for r in after.positions if r.margin_balance is not None]
    cross1 = after.equity - math.fsum(iso1)
    cross_mm = math.fsum(r.maintenance_margin for r in after.positions if r.margin_balance is None)
    x1 = cross1 + (v1 if pooled else 0.0)
    cross_liq = model.liquidatable(x1, cross_mm) and (cross_mm > 0.0 or x1 < 0.0)
    rows = []
    iso_after: list[float] = []  # each isolated part after: its liquidation's rest, or its balance below 0
    iso_liq = False
    for p, s, r0, r1, pay, gap in zip(
        account.positions, shocked, before.positions, after.positions, fundings, gaps, strict=True
    ):
        pnl = r1.unrealized_pnl - r0.unrealized_pnl + pay
        liquidated = cross_liq
        if r1.margin_balance is not None and r0.margin_balance is not None:  # isolated: its own margin
            m1 = r1.margin_balance + gap  # the funding beyond the margin counted
            liquidated = model.liquidatable(m1, r1.maintenance_margin)
            left = liquidation_rest(model, s, r1, s.mark_price, funding=gap) if liquidated else max(m1, 0.0)
            iso_after.append(m1 if m1 < 0.0 else float(left))
            # All it can lose is the margin it holds (funding was paid from that margin first).
            pnl = float(left) - max(r0.margin_balance, 0.0)
            iso_liq = iso_liq or liquidated
        rows.append(
            PositionStress(
                p.symbol, p.qty, p.mark_price, s.mark_price, pnl, pay, r1.liquidation_price, liquidated, False
            )
        )
    if cross_liq and cross_mm > 0.0 and x1 > 0.0 and liquidation_rule(model).kind == "takeover":
        # Taken over, as the isolated path books it: what was left between 0 and the maintenance
        # margin goes with the positions (the options too where pooled: the whole cross part).
        cross1, v1 = (0.0, 0.0) if pooled else (min(cross1, 0.0), v1)
    parts1 = _parts(cross1, v1, wallets1, iso_after, pooled)
    equity_after, _ = _floored(parts1)
    bad_debt = math.fsum(max(max(-a1, 0.0) - max(-a0, 0.0), 0.0) for a0, a1 in zip(parts0, parts1, strict=True))
    return AccountStress(
        label,
        account.venue,
        after.settlement,
        equity_before,
        equity_after,
        equity_after - equity_before,
        bad_debt,
        after.maintenance_margin,
        cross_mm / x1 if x1 > 0.0 else None,
        cross_liq or iso_liq,
        False,
        tuple(rows),
        shortfall_before,
        cross_liq and all(p.isolated for p in account.positions),  # nothing cross to liquidate
    )


def check_scenarios(scenarios: object) -> list[Scenario]:
    """Return ``scenarios`` as a list if it is a sequence of :class:`Scenario`, else raise InputError naming it."""
    if isinstance(scenarios, str | bytes) or not isinstance(scenarios, Sequence):
        raise InputError(f"scenarios must be a list of Scenario, was {show(scenarios)}")
    for i, s in enumerate(scenarios):
        instance_of(s, Scenario, f"scenarios[{i}]")
    return list(scenarios)


def stress_accounts(
    accounts: Sequence[tuple[str, Account]], scenarios: Sequence[Scenario]
) -> list[tuple[Scenario, list[AccountStress]]]:
    """Apply every scenario to every named account (the base reports are computed once).

    ``accounts`` is a sequence of ``(name, Account)`` pairs, ``scenarios`` of :class:`Scenario`
    (:data:`NAMED_SCENARIOS`); anything else is an InputError naming it.
    """
    if isinstance(accounts, str | bytes) or not isinstance(accounts, Sequence):
        raise InputError(f"accounts must be a list of (name, Account) pairs, was {show(accounts)}")
    for i, pair in enumerate(accounts):
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise InputError(f"accounts[{i}] must be a (name, Account) pair, was {show(pair)}")
        instance_of(pair[1], Account, f"accounts[{i}][1]")
    scenarios = check_scenarios(scenarios)
    base = [(name, acc, evaluate(acc)) for name, acc in accounts]
    return [(s, [apply_scenario(acc, s, name=name, before=rep) for name, acc, rep in base]) for s in scenarios]
