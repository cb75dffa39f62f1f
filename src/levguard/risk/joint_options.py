"""Ladder, surface and reverse stress of a single-wallet cross account that holds options.

The compiled kernel of :mod:`levguard.core.risk.joint_stress` holds a cross account's futures;
the options of its spec (docs/risk.md §6) sit where :func:`levguard.risk.option_books.option_books`
puts them, as in the stress table:

* **pooled** in the cross part (Deribit and OKX options in the account's settlement currency, all
  of them with ``cross_collateral: true``): their value draws on, or covers, the futures' margin;
* in a **wallet of their own** (Binance's Options account; other currencies without cross
  collateral): that wallet goes bankrupt apart and cannot liquidate the futures.

In each scenario (a relative move per asset: every position's mark and every option's forward on
that asset times ``1 + move``, vols and times to expiry held) the cross part is ``X = C + V``:
``C`` the kernel's cross equity at the new marks, ``V`` the pooled options' value after, in the
account's currency (:func:`levguard.risk.option_books.option_pnls`: the one option revaluation,
vectorised over the scenarios).  The account is liquidatable where
:func:`levguard.core.risk.stress.apply_scenario` liquidates its cross part: the venue's trigger
``X <= MM`` (:func:`levguard.core.risk.joint_stress.breached`), with ``MM > 0`` or ``X < 0``.
``equity`` is ``X``, the ratio ``MM / X``.  The reverse stress's scalar check
(:meth:`OptionsEngine.report`) runs the stress table's own scenario
(:func:`levguard.risk.option_books.stress_account`), so its shock liquidates there by construction.
Without a futures position there is nothing to liquidate and no cross maintenance margin: the
flagged points are where the cross part falls below 0, its bankruptcy (:attr:`OptionsEngine.trigger`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from levguard.core.margin import AccountReport, evaluate
from levguard.core.positions import Account
from levguard.core.risk.joint_stress import JointAccount, breached, joint_account, scenario_values
from levguard.core.risk.joint_stress_pm import EngineJoint
from levguard.core.risk.portfolio import OptionPosition
from levguard.core.risk.stress import Scenario
from levguard.core.rules import get_venue
from levguard.core.spec import account_from_spec
from levguard.errors import InputError
from levguard.risk.option_books import (
    OptionBooks,
    check_venue_options,
    option_books,
    option_greeks,
    option_pnls,
    stress_account,
)
from levguard.risk.option_specs import parse_options, parse_surfaces, spec_prices
from levguard.typing import BoolArray1D, Float64Array1D

__all__ = ["OptionsEngine", "options_joint"]


@dataclass(frozen=True, eq=False)
class OptionsEngine:
    """A cross account and its options, evaluated per scenario (module docstring)."""

    name: str
    account: Account
    report0: AccountReport
    kernel: JointAccount | None  # None: no futures position (options only)
    options: tuple[OptionPosition, ...]
    values0: tuple[float, ...]  # each option's value now, in the account's currency
    prices: Mapping[str, float]
    book: OptionBooks

    def _pooled(self) -> tuple[list[OptionPosition], float]:
        idx = self.book.pooled
        return [self.options[i] for i in idx], math.fsum(self.values0[i] for i in idx)

    def values(self, names: Sequence[str], factors: np.ndarray) -> tuple[Float64Array1D, Float64Array1D, BoolArray1D]:
        """The cross part ``X`` (pooled options included), its MM and the liquidation flag per row."""
        n = factors.shape[0]
        if self.kernel is None:
            equity, mm = np.full(n, float(self.account.wallet_balance)), np.zeros(n)
        else:
            cols = [j for j, a in enumerate(names) if a in self.kernel.assets]
            if cols:
                equity, mm, _ = scenario_values(self.kernel, [names[j] for j in cols], factors[:, cols])
            else:  # only option underlyings move: the futures held
                equity, mm, _ = scenario_values(self.kernel, self.kernel.assets[:1], np.ones((n, 1)))
        column = dict(zip(names, factors.T, strict=True))
        moves = {b: np.asarray(column.get(b, np.ones(n)), dtype=np.float64) for b in self.prices}
        pooled, v0 = self._pooled()
        x = equity + (v0 + option_pnls(self.account, self.report0, pooled, self.prices, moves))
        hit = breached(self.kernel, x, mm) if self.kernel is not None else x <= mm
        # apply_scenario's cross trigger: without a maintenance margin only a negative part.
        return x, mm, hit & ((mm > 0.0) | (x < 0.0))

    def report(self, factors: Mapping[str, float]) -> AccountReport:
        """The account's report at ``factors`` with the stress table's own verdict.

        The scenario of relative moves ``factor - 1`` runs through
        :func:`levguard.risk.option_books.stress_account`; ``equity`` is the cross part ``X`` there
        (the moved futures' equity plus the pooled options' value), ``margin_ratio`` ``MM / X``,
        ``liquidatable`` the stress table's flag.
        """
        s = Scenario(name="joint move", price_shocks={a: f - 1.0 for a, f in factors.items()})
        st, _ = stress_account(
            s, self.name, self.account, self.report0, list(self.options), self.prices, self.book, list(self.values0)
        )
        pairs = zip(self.account.positions, st.positions, strict=True)
        marks = tuple(dataclasses.replace(p, mark_price=r.mark_after) for p, r in pairs)
        moved = evaluate(dataclasses.replace(self.account, positions=marks))
        pooled, v0 = self._pooled()
        moves = {b: np.array([1.0 + s.shock_for(b)]) for b in self.prices}
        x = moved.equity + (v0 + float(option_pnls(self.account, self.report0, pooled, self.prices, moves)[0]))
        return dataclasses.replace(moved, equity=x, margin_ratio=st.margin_ratio_after, liquidatable=st.liquidatable)

    @property
    def trigger(self) -> str:
        """What a flagged point means: ``"liquidation"``, or ``"bankruptcy"`` without futures.

        With no futures position there is nothing for the venue's futures engine to liquidate and
        no cross maintenance margin (the options' own is not modelled): a point is flagged where
        the cross part (cash plus pooled options) falls below 0, its bankruptcy, as the stress
        table's row flags it (``bankrupt``).
        """
        return "liquidation" if self.kernel is not None else "bankruptcy"

    def option_exposure(self) -> dict[str, float]:
        """Gross USD notional of the pooled options per underlying (``|qty x contract size| x price``).

        Options in a wallet of their own cannot move the cross part, so they do not pick the
        default assets.
        """
        out: dict[str, float] = {}
        for o in (self.options[i] for i in self.book.pooled):
            key = o.underlying_key
            out[key] = out.get(key, 0.0) + abs(o.qty * o.contract_size) * self.prices[key]
        return out


def options_joint(spec: Mapping[str, Any], strip: Sequence[str]) -> EngineJoint:
    """The joint-stress view of the cross account ``spec`` with its options (module docstring).

    ``strip`` are the spec's keys the margin engine does not read (``name``, the options' keys).
    """
    account = account_from_spec({k: v for k, v in spec.items() if k not in strip})
    model = get_venue(account.venue)
    check_venue_options(model, bool(spec.get("options")))
    prices = spec_prices(account, spec)
    options = parse_options(spec, prices, parse_surfaces(spec), model)
    report0 = evaluate(account)
    book = option_books(spec, model, report0.settlement, options)
    values0 = tuple(float(g["value_in_account"]) for g in option_greeks(options, prices, report0.settlement))
    kernel = joint_account(account) if account.positions else None
    assets = tuple(
        dict.fromkeys([*(kernel.assets if kernel is not None else ()), *(o.underlying_key for o in options)])
    )
    for o in options:
        if o.underlying_key not in prices:  # parse_options refuses this; never a KeyError below
            raise InputError(f"option {o.symbol}: no price for {o.underlying_key}; add underlying_price or a perpetual")
    engine = OptionsEngine(
        str(spec.get("name") or account.venue), account, report0, kernel, tuple(options), values0, prices, book
    )
    return EngineJoint(
        account,
        model.name,
        "margin_ratio",
        assets,
        {a: prices[a] for a in assets},
        rises_when_safer=False,
        mm_must_be_positive=model.positive_mm_trigger,
        engine=engine,
    )
