"""Cascading liquidations on one venue: one path, a Monte Carlo, and calibration of the venue's
margin parameters.

:func:`simulate_path` runs the kernel :func:`levguard.kernels.cascade.cascade_nb` on one price
path and returns a :class:`CascadeResult` (per-step table, events, accounts, summary);
:func:`monte_carlo` runs many paths, generated from ``(seed, k)`` inside the workers (never
shipped), locally or on Dask, and aggregates the distribution of bad debt; :func:`calibrate`
sweeps venue parameters over the same scenarios and :func:`max_safe` binary-searches the
largest cap that keeps ``P(bad debt > K) <= epsilon``.  See docs/cascade.md for the model.

The settings live in :mod:`levguard.cascade.settings`, the Monte Carlo and the calibration in
:mod:`levguard.cascade.montecarlo`; their names are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.cascade import settings as ss
from levguard.cascade.montecarlo import _MARKET_PARAMS as _MARKET_PARAMS  # the calibration's parameter groups
from levguard.cascade.montecarlo import _REGIME_PARAMS as _REGIME_PARAMS
from levguard.cascade.montecarlo import _VENUE_PARAMS as _VENUE_PARAMS
from levguard.cascade.montecarlo import MonteCarloResult, calibrate, max_safe, monte_carlo
from levguard.cascade.population import Population
from levguard.cascade.settings import MarginRegime, Market, VenueSettings
from levguard.core.validate import NUMBER_MAX, flag, instance_of, show
from levguard.errors import InputError
from levguard.kernels import cascade as kc

__all__ = [
    "CascadeResult",
    "MarginRegime",
    "Market",
    "MonteCarloResult",
    "VenueSettings",
    "calibrate",
    "max_safe",
    "monte_carlo",
    "simulate_path",
]

FloatArray = npt.NDArray[np.float64]
_SUMMARY_NAMES: tuple[str, ...] = tuple(kc.SUMMARY_DTYPE.names or ())


def _labels(enum: tuple[int, ...]) -> npt.NDArray[np.object_]:
    # The lower-case names of an enum's fields, indexed by their codes.
    fields: tuple[str, ...] = enum._fields  # type: ignore[attr-defined]
    out = np.empty(len(fields), dtype=object)
    for name in fields:
        out[getattr(enum, name)] = name.lower()
    return out


_EVENT_KINDS = _labels(kc.EventKind)  # liquidation, adl_liquidated, adl_victim
_STATUSES = _labels(kc.AccountStatus)  # ok, liquidated, deleveraged


def _path(path: object) -> FloatArray:
    # One exogenous price path: at least 2 prices, each finite, > 0 and at most NUMBER_MAX (1e30,
    # the bound on every price and amount: beyond it the notionals overflowed to inf bad debt).
    if path is None or isinstance(path, str | bytes):  # NumPy reads None as NaN, "x" is a ValueError
        raise InputError(f"path must be an array of prices (one per step), was {show(path)}")
    try:
        arr = np.asarray(path, dtype=float)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64 (10**400)
        raise InputError(f"path must be an array of prices (one per step), was {show(path)}") from None
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise InputError(f"path must be at least 2 finite prices > 0 (one per step), had shape {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr > 0.0) & (arr <= NUMBER_MAX))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"path[{i}] must be a finite price > 0 and <= {NUMBER_MAX:g}, was {arr[i].item()!r}")
    return np.ascontiguousarray(arr)


def _check_finite(st: Any, exo: FloatArray, market: Market) -> None:
    # The log impact of the liquidations grows with their notional over the book's depth: a path
    # far from the population's entry prices on a thin book can push the price past float64.
    bad = ~(np.isfinite(st.price) & np.isfinite(st.bad_debt) & np.isfinite(st.liq_notional))
    if bad.any():
        t = int(np.argmax(bad))
        raise InputError(
            f"path[{t}] = {exo[t].item()!r} moves the price so far from the accounts' entry prices that the "
            f"liquidations' impact on a book of market.depth {market.depth!r} overflows float64; "
            "use a deeper book or a path closer to the entry prices"
        )


@dataclass(frozen=True)
class CascadeResult:
    """One simulated path.

    Attributes
    ----------
    steps : DataFrame
        Per step: ``price`` (with the cascade), ``exogenous`` (without), ``mark``,
        ``liquidated_notional``, ``adl_notional``, ``liquidations`` (orders), ``insurance_fund``,
        ``bad_debt`` (cumulative), ``impact`` (log), ``mm_scale``, ``rounds``.
    events : DataFrame
        ``step, account, qty`` (signed), ``price, bankruptcy_price, fund_delta, kind``
        (liquidation, adl_liquidated, adl_victim), ``counterparty``.
    accounts : DataFrame
        The population after the path: ``qty, margin, pnl``, ``equity_end`` (margin plus the open
        position's PnL at the last mark; below 0 a deficit not yet booked), ``status`` (ok,
        liquidated, deleveraged).
    summary : dict
        ``bad_debt``, ``pending_bad_debt`` (the deficit of positions still open at the last mark:
        bad debt the path ended before booking, :func:`levguard.kernels.cascade.summarize`),
        ``liquidated_notional, adl_notional, accounts_liquidated, fund_end, fund_min,
        min_price, min_exogenous, max_price, max_exogenous, overshoot, adl_events``, and
        ``events_dropped`` (beyond the event capacity).
    """

    steps: pd.DataFrame
    events: pd.DataFrame
    accounts: pd.DataFrame
    summary: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)


def simulate_path(
    population: Population,
    path: object,
    *,
    market: Market,
    regime: MarginRegime | None = None,
    venue: VenueSettings | None = None,
    steps_per_year: float = 525_600.0,
    max_events: int | None = None,
    naive: bool = False,
) -> CascadeResult:
    """Simulate the cascade of ``population`` along one exogenous price ``path``.

    Parameters
    ----------
    population : Population
        The accounts (after ``regime``'s leverage and open-interest caps).
    path : array (T + 1,)
        Exogenous price per step (``path[0]`` the start).
    market, regime, venue
        The book, the margin rules and the venue's fund, ADL, liquidator and oracle.
    steps_per_year : float
        Steps per year (annualises the dynamic regime's realised volatility); default minutes.
    max_events : int, optional
        Capacity of the event table (default ``4 N + 1000``); beyond it events are counted only.
    naive : bool
        Scan every account in every round instead of the sorted sweep (for tests; same result).

    Raises
    ------
    InputError
        Bad population, path or parameter (the message names it).
    """
    regime = regime if regime is not None else MarginRegime()
    venue = venue if venue is not None else VenueSettings()
    if not isinstance(market, Market):
        raise InputError(f"market must be a levguard.cascade.Market, was {type(market).__name__}")
    regime = instance_of(regime, MarginRegime, "regime")
    venue = instance_of(venue, VenueSettings, "venue")
    pop = regime.apply_caps(population) if isinstance(population, Population) else population
    acc = ss.kernel_accounts(pop)
    exo = _path(path)
    n_steps = exo.shape[0] - 1
    n = acc.side.shape[0]
    ss._pos(steps_per_year, "steps_per_year")
    naive = flag(naive, "naive")
    cap = 4 * n + 1000 if max_events is None else ss._int(max_events, "max_events")
    out = kc.new_outputs(n, n_steps + 1, cap)
    counts = kc.cascade_nb(
        acc,
        ss.kernel_tiers(regime),
        exo,
        np.ascontiguousarray(market.multiplier(n_steps)),
        np.ascontiguousarray(venue.oracle_matrix(n_steps)),
        ss.kernel_config(market, regime, venue, steps_per_year, naive),
        out,
    )
    _check_finite(out.steps, exo, market)
    summary_row = np.zeros(1, dtype=kc.SUMMARY_DTYPE)
    kc.summarize(out.steps, counts, venue.insurance_fund, acc, out.accounts, summary_row, 0)
    summary = {name: float(summary_row[name][0]) for name in _SUMMARY_NAMES}
    summary["events_dropped"] = float(counts.overflow)
    ev = out.events[: counts.events]
    st = out.steps
    fin = out.accounts
    return CascadeResult(
        steps=pd.DataFrame(
            {
                "price": st.price,
                "exogenous": st.exo,
                "mark": st.mark,
                "liquidated_notional": st.liq_notional,
                "adl_notional": st.adl_notional,
                "liquidations": st.n_liq.astype(np.float64),
                "insurance_fund": st.fund,
                "bad_debt": st.bad_debt,
                "impact": st.impact,
                "mm_scale": st.mm_scale,
                "rounds": st.rounds.astype(np.float64),
            }
        ),
        events=pd.DataFrame(
            {
                "step": ev["step"],
                "account": ev["account"],
                "qty": ev["qty"],
                "price": ev["price"],
                "bankruptcy_price": ev["bankruptcy_price"],
                "fund_delta": ev["fund_delta"],
                "kind": _EVENT_KINDS[ev["kind"]],
                "counterparty": ev["counterparty"],
            }
        ),
        accounts=pd.DataFrame(
            {
                "side": pop.side,
                "entry_price": pop.entry_price,
                "qty0": pop.qty,
                "margin0": pop.margin,
                "qty": fin.qty,
                "margin": fin.margin,
                "pnl": fin.pnl,
                "equity_end": kc.open_equity(fin.margin, pop.side, fin.qty, pop.entry_price, st.mark[-1]),
                "status": _STATUSES[fin.status],
            }
        ),
        summary=summary,
        params={"n_accounts": int(n), "n_steps": n_steps, "steps_per_year": steps_per_year},
    )
