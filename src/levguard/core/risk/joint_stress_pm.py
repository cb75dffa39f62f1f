"""Joint price moves of accounts the compiled scenario kernel does not hold, through their own engine.

:mod:`levguard.core.risk.joint_stress` evaluates haircut and cross accounts in one compiled
kernel.  Two kinds of account are evaluated here instead, one scenario at a time, by re-pricing the
account and running its own engine again (nothing linearised or interpolated):

* portfolio-margin accounts (``deribit-pm``, ``okx-pm``), whose requirement is the worst loss over
  the venue's stress grid (:func:`levguard.core.unified_pm.evaluate_portfolio_margin`);
* unified accounts holding COIN-M (inverse) positions, each settled in its own coin
  (:func:`levguard.core.unified.evaluate_unified`; the kernel holds one settlement asset).

:class:`EngineJoint` gives :func:`~levguard.core.risk.joint_stress.liquidation_surface`,
:func:`~levguard.core.risk.joint_stress.reverse_stress` and
:func:`~levguard.core.risk.joint_ladder.liquidation_ladder` what they need.

A move of asset ``a`` by factor ``f`` (``1 +`` the relative move):

* ``deribit-pm`` (one asset, the settlement coin): the index price and every future's mark are
  multiplied by ``f``; a future keeps its USD face value, so its coin size becomes
  ``size_usd / (mark f)`` and its unrealised PnL ``size_usd (1/avg - 1/(mark f))``; an option's
  forward is multiplied by ``f`` and its mark (coin) moves by its Black-76 value change,
  ``mark + B(F f) - B(F)`` (floored at 0), its implied volatility and time held.
* ``okx-pm``: the USD price of the balance in ``a`` and the mark of every swap on ``a`` are
  multiplied by ``f``; a risk unit's cash delta is recomputed from its swaps, and a unit given
  without swaps (``delta_usd`` of options, futures or spot hedges) scales its ``delta_usd`` and
  ``stress_delta_usd`` by ``f`` (delta-one); given charges (``mr2`` ... ``mr9``) are held.
* a unified account: the price of the balance in ``a`` and the mark of every position on ``a``,
  linear or COIN-M, are multiplied by ``f`` (as the kernel moves a haircut account).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from levguard.core.margin import AccountReport
from levguard.core.options.black76 import black76_price
from levguard.core.portfolio_margin import DeribitFuture, DeribitOption
from levguard.core.positions import Account, Position
from levguard.core.symbols import USD_LIKE, base_asset
from levguard.core.unified import UnifiedAccount, evaluate_unified, unified_margin_totals
from levguard.core.unified_options import moved_option
from levguard.core.unified_pm import (
    DeribitPmAccount,
    DeribitPmLeg,
    OkxPmAccount,
    evaluate_portfolio_margin,
)
from levguard.errors import InputError
from levguard.kernels.margin import position_upnl
from levguard.typing import BoolArray1D, Float64Array1D

__all__ = [
    "EngineJoint",
    "ScenarioEngine",
    "moved_portfolio_margin",
    "moved_unified",
    "portfolio_margin_joint",
    "trigger_ratio",
    "unified_engine_joint",
]


def trigger_ratio(multiple: float, rises_when_safer: bool) -> float:
    """The account ratio at the liquidation trigger ``equity = multiple * MM``: ``multiple`` for a
    ratio of equity over MM (uniMMR), ``1 / multiple`` for MM over equity (MM rates)."""
    return multiple if rises_when_safer else 1.0 / multiple


def _deribit_leg(leg: DeribitPmLeg, f: float) -> DeribitPmLeg:
    pos = leg.position
    if isinstance(pos, DeribitFuture):
        size_usd = pos.size * leg.mark_price
        mark = leg.mark_price * f
        moved = dataclasses.replace(pos, size=size_usd / mark)
        upnl = float(position_upnl(size_usd, leg.entry_price, mark, True)) + 0.0 if pos.size != 0.0 else 0.0
        return DeribitPmLeg(moved, leg.entry_price, mark, upnl, upnl)
    assert isinstance(pos, DeribitOption)
    fwd = pos.forward * f

    def value(forward: float) -> float:
        return float(np.asarray(black76_price(pos.kind, forward, pos.strike, pos.t_years, pos.vol, settlement="coin")))

    mark = max(0.0, leg.mark_price + value(fwd) - value(pos.forward))
    option = dataclasses.replace(pos, forward=fwd)
    return DeribitPmLeg(option, leg.entry_price, mark, pos.qty * (mark - leg.entry_price) + 0.0, pos.qty * mark + 0.0)


def _okx_moved(acct: OkxPmAccount, factors: Mapping[str, float]) -> OkxPmAccount:
    assets = tuple(
        dataclasses.replace(a, price=a.price * factors[a.name]) if a.name in factors else a for a in acct.assets
    )
    usdt = next((a.price for a in assets if a.name == "USDT"), acct.usdt_price)

    def pos(p: Position) -> Position:
        f = factors.get(base_asset(p.symbol))
        return p if f is None else dataclasses.replace(p, mark_price=p.mark_price * f)

    positions = tuple(pos(p) for p in acct.positions)
    moved = dataclasses.replace(acct, assets=assets, positions=positions, usdt_price=usdt)
    by_unit: dict[str, list[float]] = {}
    for p in positions:
        by_unit.setdefault(base_asset(p.symbol), []).append(moved.position_delta_usd(p))
    units = []
    for u in acct.units:
        f = factors.get(u.risk_unit)
        if u.risk_unit in by_unit:
            delta = math.fsum(by_unit[u.risk_unit])
            # A given stress exposure keeps its ratio to the cash delta (as _evaluate_okx splits it).
            stress = u.stress_delta_usd
            if stress is not None:
                stress = stress * delta / u.delta_usd if u.delta_usd != 0.0 else stress * (f or 1.0)
            units.append(dataclasses.replace(u, delta_usd=delta, stress_delta_usd=stress))
        elif f is not None:
            stress = None if u.stress_delta_usd is None else u.stress_delta_usd * f
            units.append(dataclasses.replace(u, delta_usd=u.delta_usd * f, stress_delta_usd=stress))
        else:
            units.append(u)
    return dataclasses.replace(moved, units=tuple(units))


def _check_factors(factors: object) -> Mapping[str, float]:
    if not isinstance(factors, Mapping):
        raise InputError(f"factors must be a mapping of asset -> multiplier, was {type(factors).__name__}")
    for name, f in factors.items():
        if not isinstance(name, str):
            raise InputError(f"factors keys must be asset names, was {name!r}")
        if isinstance(f, bool) or not (isinstance(f, int | float) and math.isfinite(f) and f > 0.0):
            raise InputError(f"factors[{name!r}] must be a finite multiplier > 0, was {f!r}")
    return factors


def moved_portfolio_margin(
    account: DeribitPmAccount | OkxPmAccount, factors: Mapping[str, float]
) -> DeribitPmAccount | OkxPmAccount:
    """The account with the prices of the assets in ``factors`` multiplied by their factor (see the
    module docstring for what moves and what is held)."""
    _check_factors(factors)
    if isinstance(account, DeribitPmAccount):
        move = factors.get(account.currency)
        if move is None or move == 1.0:
            return account
        legs = tuple(_deribit_leg(leg, float(move)) for leg in account.legs)
        return dataclasses.replace(account, index_price=account.index_price * move, legs=legs)
    if isinstance(account, OkxPmAccount):
        return _okx_moved(account, factors)
    raise InputError(f"account must be a DeribitPmAccount or OkxPmAccount, was {type(account).__name__}")


def moved_unified(account: UnifiedAccount, factors: Mapping[str, float]) -> UnifiedAccount:
    """The unified account with every balance and every position (linear and COIN-M) on an asset
    in ``factors`` moved by its factor.

    Notes
    -----
    A Bybit USDC option on a moved asset moves its index and forward by the factor and its mark
    by its Black-76 value change, vol and time held (:func:`levguard.core.unified_options.moved_option`:
    a mark priced from vol is priced again, a given mark moves by ``B(F f) - B(F)``, floored at 0).
    """
    if not isinstance(account, UnifiedAccount):
        raise InputError(f"account must be a UnifiedAccount, was {type(account).__name__}")
    _check_factors(factors)

    def pos(p: Position) -> Position:
        f = factors.get(base_asset(p.symbol))
        return p if f is None else dataclasses.replace(p, mark_price=p.mark_price * f)

    linear = dataclasses.replace(account.positions, positions=tuple(pos(p) for p in account.positions.positions))
    assets = tuple(
        dataclasses.replace(a, price=a.price * factors[a.name]) if a.name in factors else a for a in account.assets
    )
    coins = tuple(pos(p) for p in account.coin_positions)
    options = tuple(
        moved_option(o, float(factors[o.underlying])) if o.underlying in factors else o for o in account.options
    )
    return dataclasses.replace(account, positions=linear, assets=assets, coin_positions=coins, options=options)


class ScenarioEngine(Protocol):
    """An account's own scenario evaluation, given by a higher layer (a cross account with options:
    :mod:`levguard.risk.joint_options` revalues them in each scenario)."""

    def report(self, factors: Mapping[str, float]) -> AccountReport:
        """The account's report at the prices moved by ``factors`` (asset -> multiplier)."""
        ...

    def values(self, names: Sequence[str], factors: np.ndarray) -> tuple[Float64Array1D, Float64Array1D, BoolArray1D]:
        """Equity, MM and the liquidation flag per scenario row of ``factors`` (columns: ``names``)."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class EngineJoint:
    """An account as the joint-stress tools see it when each scenario runs the account's own engine.

    ``assets`` are the names a scenario may move (Deribit: the currency; OKX: the non-stablecoin
    balances and the swaps' underlyings; a unified account: its balances and its positions' base
    assets); ``prices`` their current prices (USD).  Liquidatable where the engine's report says
    so (``equity <= multiple * MM`` with ``MM > 0``); the ratio reads ``equity / MM`` when
    ``rises_when_safer`` (OKX's margin ratio, Binance's uniMMR), else ``MM / equity`` (Deribit's
    usage, Bybit's account MM rate).  ``engine``, when given, evaluates the scenarios instead
    (its ``values`` vectorised over them; ``source`` is then the account it evaluates).
    """

    source: DeribitPmAccount | OkxPmAccount | UnifiedAccount | Account
    venue: str
    ratio_name: str
    assets: tuple[str, ...]
    prices: Mapping[str, float]
    multiple: float = 1.0
    rises_when_safer: bool = True
    mm_must_be_positive: bool = True
    engine: ScenarioEngine | None = None

    def price_of(self, asset: str) -> float:
        """The current USD price of ``asset``."""
        return float(self.prices[asset])

    def ratio(self, equity: float, mm: float) -> float | None:
        """The venue's ratio at ``equity`` and ``mm`` (None where it is undefined)."""
        if self.rises_when_safer:
            return equity / mm if mm > 0.0 else None
        return mm / equity if equity > 0.0 else None

    @property
    def trigger(self) -> float:
        """The ratio at the liquidation trigger ``equity = multiple * MM`` (:func:`trigger_ratio`)."""
        return trigger_ratio(self.multiple, self.rises_when_safer)

    @property
    def ratio_rises_when_safer(self) -> bool:
        """True for ratios of equity over MM."""
        return self.rises_when_safer

    def _known(self, factors: Mapping[str, float]) -> Mapping[str, float]:
        # The factors, each naming an asset of the account.
        unknown = [a for a in _check_factors(factors) if a not in self.assets]
        if unknown:
            raise InputError(f"factors name {unknown[0]!r}, not an asset of the account ({', '.join(self.assets)})")
        return factors

    def report(self, factors: Mapping[str, float]) -> AccountReport:
        """The engine's report of the account moved by ``factors`` (asset -> multiplier)."""
        if self.engine is not None:
            return self.engine.report(self._known(factors))
        if isinstance(self.source, UnifiedAccount):
            return evaluate_unified(moved_unified(self.source, self._known(factors)))
        if isinstance(self.source, Account):
            raise InputError("an EngineJoint of a cross account needs its engine (levguard.risk.joint_options)")
        return evaluate_portfolio_margin(moved_portfolio_margin(self.source, self._known(factors)))

    def totals(self, factors: Mapping[str, float]) -> tuple[float, float, bool]:
        """``(equity, maintenance_margin, liquidatable)`` of :meth:`report` (for a unified account
        without the liquidation-price searches the report also makes: the same floats)."""
        if isinstance(self.source, UnifiedAccount):
            return unified_margin_totals(moved_unified(self.source, self._known(factors)))
        rep = self.report(factors)
        return rep.equity, rep.maintenance_margin, rep.liquidatable

    def values(self, names: Sequence[str], factors: np.ndarray) -> tuple[Float64Array1D, Float64Array1D, BoolArray1D]:
        """Equity, MM and the liquidation flag per scenario row of ``factors`` (columns: ``names``)."""
        if self.engine is not None:
            return self.engine.values(names, factors)
        n = factors.shape[0]
        equity, mm = np.empty(n), np.empty(n)
        liq = np.zeros(n, dtype=np.bool_)
        for i in range(n):
            equity[i], mm[i], liq[i] = self.totals(dict(zip(names, factors[i].tolist(), strict=True)))
        return equity, mm, liq


def portfolio_margin_joint(account: DeribitPmAccount | OkxPmAccount) -> EngineJoint:
    """Wrap a parsed ``deribit-pm`` or ``okx-pm`` account for the joint-stress tools."""
    if isinstance(account, DeribitPmAccount):
        return EngineJoint(
            account,
            "deribit-pm",
            "maintenance_margin_usage",
            (account.currency,),
            {account.currency: account.index_price},
            rises_when_safer=False,
        )
    if isinstance(account, OkxPmAccount):
        prices: dict[str, float] = {a.name: a.price for a in account.assets if a.name not in USD_LIKE}
        for p in account.positions:
            prices.setdefault(base_asset(p.symbol), p.mark_price)
        for u in account.units:  # a unit given by its cash delta alone moves too (price: the spec's, if any)
            prices.setdefault(u.risk_unit, account.unit_prices.get(u.risk_unit, math.nan))
        return EngineJoint(account, "okx-pm", "margin_ratio", tuple(prices), prices)
    raise InputError(f"account must be a DeribitPmAccount or OkxPmAccount, was {type(account).__name__}")


def unified_engine_joint(account: UnifiedAccount) -> EngineJoint:
    """Wrap a unified account (with COIN-M positions, which the compiled kernel does not hold)."""
    if not isinstance(account, UnifiedAccount):
        raise InputError(f"account must be a UnifiedAccount, was {type(account).__name__}")
    venue = account.venue
    prices: dict[str, float] = {a.name: a.price for a in account.assets}
    for p in account.book:
        prices.setdefault(base_asset(p.symbol), p.mark_price)
    for o in account.options:  # an option's underlying moves with its index price
        prices.setdefault(o.underlying, o.index_price)
    probe_up, probe_one = venue.ratio(2.0, 1.0), venue.ratio(1.0, 1.0)
    rises = probe_up is not None and probe_one is not None and probe_up > probe_one
    return EngineJoint(account, venue.name, venue.ratio_name, tuple(prices), prices, venue.liquidation_multiple, rises)
