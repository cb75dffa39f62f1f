"""Cascading liquidations in a market of K assets on V venues (the simulator v2).

:func:`simulate_market` runs the kernel :func:`levguard.kernels.cascade_v2.market_cascade_nb` on
one exogenous path of every asset and returns a :class:`MarketResult`: per ``(venue, asset)``
book the liquidated and ADL notional, bad debt, first liquidation and first ADL step and the
venue price's peak-to-trough; per venue the insurance fund path; per account and per owner the
outcome (a hedged owner long on one venue and short on another shows what each venue did to
it); the events; and :meth:`MarketResult.ledger`, the money balance from the outputs.

The model (docs/cascade.md, "Several assets and venues (v2)"):

* **Books.** Each ``(venue, asset)`` pair is a v1 book (:class:`~levguard.cascade.settings.Market`):
  finite depth, linear or square-root impact, resilience, a depth multiplier per step.  The
  venue's traded price is ``exo x exp(I)`` with ``I`` the book's accumulated (decaying) impact;
  the venue's mark is the median of its oracle sources over the lagged traded price.
* **Arbitrage.** Once per step, before the liquidation rounds, arbitrageurs move every book's
  ``I`` toward the depth-weighted mean over venues by a fraction ``speed``, trading in each book
  the flow its impact law needs, within ``capacity`` notional per asset and step.
* **Accounts.** Each account is on one venue with one cross-margin wallet and a signed position
  per asset; equity ``E = wallet + sum q (mark - entry)``, maintenance ``MM = sum MM_a(|q| mark)``
  (each asset's tiers); liquidated when ``E <= MM``: the whole account is closed into the books
  (or a partial slice of every position), a loss beyond the wallet draws on the venue's fund,
  and when the fund cannot take it the account is closed against ADL counterparties ranked by
  the venue's rule, at the bankruptcy price (Hyperliquid: the previous mark).  What is left is
  bad debt.
* With one asset, one venue and v1's settings the result equals :func:`~levguard.cascade.simulate_path`
  bit for bit (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.cascade.market_settings import (
    Arbitrage,
    MarketPopulation,
    MarketSpec,
    MarketVenue,
    kernel_inputs,
)
from levguard.cascade.settings import _int, _pos
from levguard.cascade.simulator import _EVENT_KINDS, _STATUSES  # the kernels' event kinds and statuses by code
from levguard.core.validate import flag
from levguard.errors import InputError
from levguard.kernels.cascade_records import EventKind
from levguard.kernels.cascade_v2 import market_cascade_nb
from levguard.kernels.cascade_v2_records import VAULT_TAKEOVER, MarketCounts, MarketOutputs, new_market_outputs

__all__ = [
    "Arbitrage",
    "MarketPopulation",
    "MarketResult",
    "MarketSpec",
    "MarketVenue",
    "end_equity",
    "pending_bad_debt",
    "simulate_market",
]

FloatArray = npt.NDArray[np.float64]

# v1's event kinds by code, then the market kernel's vault takeover (code VAULT_TAKEOVER).
_MARKET_EVENT_KINDS = np.array([*_EVENT_KINDS, "vault_takeover"], dtype=object)


def _paths(paths: object, k: int) -> FloatArray:
    try:
        arr = np.array(paths, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"paths must be prices (T + 1, K): {exc}") from None
    if arr.ndim == 1 and k == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != k or arr.shape[0] < 2:
        raise InputError(f"paths must have shape (T + 1, {k}) with T >= 1 (one column per asset), had {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr > 0.0))
    if bad.any():
        t, a = (int(x) for x in np.argwhere(bad)[0])
        raise InputError(f"paths[{t}, {a}] must be a finite price > 0, was {float(arr[t, a])!r}")
    return np.ascontiguousarray(arr)


def _peak_to_trough(price: FloatArray) -> float:
    # Largest fall from a running peak, as a fraction of the peak.
    peak = np.maximum.accumulate(price)
    return float(np.max(1.0 - price / peak))


@dataclass(frozen=True)
class MarketResult:
    """One simulated path of the market.

    Attributes
    ----------
    spec : MarketSpec
        The market simulated.
    population : MarketPopulation
        The accounts at the start.
    exogenous : array (T + 1, K)
        The exogenous paths.
    out : MarketOutputs
        The kernel's outputs (steps per book and venue, events, final accounts, book totals).
    counts : MarketCounts
        Events written and dropped, accounts liquidated, ADL fills.
    books : DataFrame
        One row per ``(venue, asset)``: ``liquidated_notional``, ``adl_notional``, ``bad_debt``
        (the venue's bad debt attributed to the assets whose closes drew on the fund),
        ``first_liquidation_step``, ``first_adl_step`` (-1: none), ``peak_to_trough`` of the
        venue price, ``min_price``, ``arbitrage_notional``, ``haircut`` (the venue's haircut of a
        collateral asset, NaN for a contract; a collateral book's ``liquidated_notional`` is the
        collateral liquidations sold).
    venues : DataFrame
        One row per venue: ``adl_rule``, ``fund_start``, ``fund_min``, ``fund_end``, ``bad_debt``,
        ``pending_bad_debt`` (:func:`end_equity`: the deficit of accounts still open and
        underwater at the last marks, a liquidation the path ended before; not in ``bad_debt``
        nor the ledger, which book what closed), ``liquidator_fees`` (fees paid out to liquidators,
        ``fee_to_fund=False``), ``liquidation_orders``, ``first_liquidation_step``, ``first_adl_step``; the liquidator
        vault's ``vault_start``, ``vault_end`` (equity at the last marks), ``vault_min``,
        ``vault_received`` (equity of the accounts it took over) and ``vault_taken_notional``;
        ``adl_trigger_steps`` (steps the drawdown trigger of ADL was on).
    events : DataFrame
        ``step, venue, asset, account, owner, qty`` (signed), ``price, bankruptcy_price,
        fund_delta, kind`` (liquidation, adl_liquidated, adl_victim, vault_takeover),
        ``counterparty``.
    accounts : DataFrame
        ``venue, owner, wallet0, wallet, kept`` (paid out by full book closes; ``wallet + kept =
        wallet0 + pnl``), ``pnl``, ``equity_end`` (:func:`end_equity`), ``status`` (ok,
        liquidated, deleveraged),
        ``deleveraged`` (ever an ADL counterparty), ``qty0_<asset>``, ``qty_<asset>``.
    owners : DataFrame
        Per owner: ``accounts, wallet0, wallet, kept, pnl``, ``outcome`` (``venue: status`` per
        account, ``adl`` for an ADL counterparty), ``net_qty0_<asset>``, ``net_qty_<asset>``.
    summary : dict
        Totals over the market.
    """

    spec: MarketSpec
    population: MarketPopulation
    exogenous: FloatArray
    out: MarketOutputs
    counts: MarketCounts
    books: pd.DataFrame
    venues: pd.DataFrame
    summary: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)

    # The per-account tables are built on first use: with a million accounts they cost more than a
    # second of pandas, which a Monte Carlo that reads only the books and venues never needs.
    @cached_property
    def accounts(self) -> pd.DataFrame:
        """Per account (see the class docstring)."""
        return _accounts_table(self.spec, self.population, self.out)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event table (see the class docstring)."""
        return _events_table(self.spec, self.population, self.out, self.counts)

    @cached_property
    def owners(self) -> pd.DataFrame:
        """Per owner (see the class docstring)."""
        return _owners_table(self.spec, self.accounts)

    def book_steps(self, venue: str | int, asset: str | int) -> pd.DataFrame:
        """Per step of one book: ``price, exogenous, mark, liquidated_notional, adl_notional,
        impact, arbitrage_notional, mm_scale`` and the venue's ``insurance_fund, bad_debt,
        liquidations, rounds``."""
        v = self._index(venue, [mv.name for mv in self.spec.venues], "venue")
        a = self._index(asset, list(self.spec.assets), "asset")
        st = self.out.steps
        return pd.DataFrame(
            {
                "price": st.price[v, a],
                "exogenous": self.exogenous[:, a],
                "mark": st.mark[v, a],
                "liquidated_notional": st.liq_notional[v, a],
                "adl_notional": st.adl_notional[v, a],
                "impact": st.impact[v, a],
                "arbitrage_notional": st.arb_notional[v, a],
                "mm_scale": st.mm_scale[v, a],
                "insurance_fund": st.fund[v],
                "bad_debt": st.bad_debt[v],
                "liquidations": st.n_liq[v].astype(np.float64),
                "rounds": st.rounds[v].astype(np.float64),
            }
        )

    def fund_paths(self) -> pd.DataFrame:
        """The insurance fund of every venue per step (columns: venue names)."""
        return pd.DataFrame({mv.name: self.out.steps.fund[v] for v, mv in enumerate(self.spec.venues)})

    @staticmethod
    def _index(key: str | int, names: list[str], what: str) -> int:
        if isinstance(key, str):
            if key not in names:
                raise InputError(f"{what} must be one of {names}, was {key!r}")
            return names.index(key)
        if isinstance(key, bool) or not isinstance(key, int | np.integer) or not 0 <= key < len(names):
            raise InputError(f"{what} must be a name or an index < {len(names)}, was {key!r}")
        return int(key)

    def ledger(self) -> dict[str, float]:
        """The money balance of the path, from the outputs.

        ``wallets`` (sum of wallet changes, with what book closes let accounts keep: realised
        PnL, fees included) + ``funds`` (sum of
        fund changes) + ``liquidator_fees`` (the fees that left ``fee_to_fund=False`` venues for
        their liquidators) - ``bad_debt`` equals the value the accounts traded, ``book`` (liquidation
        fills against the books, ``q (fill - entry)``) + ``adl_bankrupt`` + ``adl_counterparties``
        (both legs of every ADL close at its price) + ``vault_taken`` (positions the liquidator
        vaults took over, ``q (mark - entry)``) - ``vault_received`` (the taken accounts' equity,
        the vaults' cash in); ``adl_cash`` is the cash the ADL legs
        exchange (``sum q price`` over both legs, 0: each counterparty pays what the bankrupt
        receives); ``residual`` the difference, relative to ``scale``.  ``vault_pnl`` (not in the
        balance: the vaults trade with no one) is the vaults' own result at the last marks,
        ``equity - capital - received``.

        Raises
        ------
        InputError
            Events were dropped (``max_events`` too small): the balance needs all of them.
        """
        if self.counts.overflow:
            raise InputError(f"max_events too small: {self.counts.overflow} events dropped; the ledger needs all")
        ev = self.out.events[: self.counts.events]
        entry = np.asarray(self.population.entry)
        value = ev["qty"] * (ev["price"] - entry[ev["account"], ev["asset"]])
        kind = ev["kind"]
        fin = self.out.accounts
        wallets = float(np.sum(fin.wallet + fin.kept - np.asarray(self.population.wallet)))
        st = self.out.steps
        fund0 = np.array([mv.settings.insurance_fund for mv in self.spec.venues])
        funds = float(np.sum(st.fund[:, -1] - fund0))
        bad = float(np.sum(st.bad_debt[:, -1]))
        fees = float(np.sum(self.out.fees_paid[:, -1]))
        book = float(value[kind == EventKind.LIQUIDATION].sum())
        adl_b = float(value[kind == EventKind.ADL_LIQUIDATED].sum())
        adl_c = float(value[kind == EventKind.ADL_VICTIM].sum())
        is_adl = (kind == EventKind.ADL_LIQUIDATED) | (kind == EventKind.ADL_VICTIM)
        cash = float(np.sum(ev["qty"][is_adl] * ev["price"][is_adl]))
        vault = self.out.vault
        taken = float(value[kind == VAULT_TAKEOVER].sum())
        received = float(np.sum(vault.received))
        capital = np.array([mv.settings.vault_capital for mv in self.spec.venues], dtype=np.float64)
        vault_pnl = float(np.sum(vault.equity[:, -1] - capital - vault.received))
        scale = float(
            np.abs(value).sum() + abs(wallets) + np.abs(st.fund[:, -1] - fund0).sum() + bad + fees + abs(received) + 1.0
        )
        residual = wallets + funds + fees - bad - (book + adl_b + adl_c + taken - received)
        return {
            "wallets": wallets,
            "funds": funds,
            "liquidator_fees": fees,
            "bad_debt": bad,
            "book": book,
            "adl_bankrupt": adl_b,
            "adl_counterparties": adl_c,
            "adl_cash": cash,
            "vault_taken": taken,
            "vault_received": received,
            "vault_pnl": vault_pnl,
            "residual": residual,
            "scale": scale,
        }


def _books_table(spec: MarketSpec, out: MarketOutputs) -> pd.DataFrame:
    st = out.steps
    rows = []
    for v, mv in enumerate(spec.venues):
        for a, name in enumerate(spec.assets):
            rows.append(
                {
                    "venue": mv.name,
                    "asset": name,
                    "liquidated_notional": float(st.liq_notional[v, a].sum()),
                    "adl_notional": float(st.adl_notional[v, a].sum()),
                    "bad_debt": float(out.books.bad_debt[v, a]),
                    "first_liquidation_step": int(out.books.first_liq[v, a]),
                    "first_adl_step": int(out.books.first_adl[v, a]),
                    "peak_to_trough": _peak_to_trough(st.price[v, a]),
                    "min_price": float(st.price[v, a].min()),
                    "arbitrage_notional": float(st.arb_notional[v, a].sum()),
                    "haircut": math.nan if (h := mv.haircut(name)) is None else h,
                }
            )
    return pd.DataFrame(rows)


def _check_finite(spec: MarketSpec, out: MarketOutputs) -> None:
    # A book too thin for the flow sent into it takes its price out of the floating-point range
    # (impact grows exponentially in the flow): say where, instead of returning inf and NaN.  The
    # book named is the first to leave it (the earliest step; the lowest venue and asset among
    # books leaving at that step); books that left later followed it through arbitrage (or the
    # closes it set off), so they are listed after it, not named as the cause.
    price = out.steps.price
    bad = ~np.isfinite(price) | ~(price > 0.0)
    if bad.any():
        hit = bad.any(axis=2)
        first = np.where(hit, bad.argmax(axis=2), price.shape[2])  # (V, K): each book's first bad step
        v, a = (int(x) for x in np.unravel_index(np.argmin(first), first.shape))
        t = int(first[v, a])
        mv = spec.venues[v]
        others = [
            f"{spec.assets[k]} on {spec.venues[w].name!r} at step {int(first[w, k])}"
            for w, k in sorted(zip(*np.nonzero(hit), strict=True), key=lambda wk: (first[wk], wk))
            if (w, k) != (v, a)
        ]
        then = f" (then {', '.join(others)}, through arbitrage or the closes it set off)" if others else ""
        raise InputError(
            f"the price of {spec.assets[a]} on venue {mv.name!r} left the floating-point range at step {t}: "
            f"its book (depth {mv.book(a).depth:g}) cannot absorb the liquidation flow; give it more depth{then}"
        )


def _first(steps: npt.NDArray[np.int64]) -> int:
    hit = steps[steps >= 0]
    return int(hit.min()) if hit.size else -1


def end_equity(population: MarketPopulation, out: MarketOutputs) -> FloatArray:
    """Return each account's equity at its venue's last marks (quote, ``(N,)``).

    Notes
    -----
    ``wallet + sum q (mark - entry)`` over the positions still open, the equity the kernel tests
    for liquidation (:func:`levguard.kernels.cascade_v2_adl.whole_equity`; a collateral
    holding counts at its mark, the wallet holding its entry value).  A closed account's is what
    its wallet kept (0 after a takeover).  Below 0 it is a deficit no close has booked yet: an
    order still in the venue's latency queue, or a mark that moved past the bankruptcy price on
    the path's last step.
    """
    fin = out.accounts
    marks = out.steps.mark[np.asarray(population.venue), :, -1]  # (N, K): each account's venue
    held = fin.qty != 0.0
    upnl = np.where(held, fin.qty * (marks - np.where(held, np.asarray(population.entry), 0.0)), 0.0)
    return np.asarray(fin.wallet + upnl.sum(axis=1), dtype=np.float64)


def pending_bad_debt(population: MarketPopulation, out: MarketOutputs, n_venues: int) -> FloatArray:
    """Return per venue the deficit of its open accounts at the last marks,
    ``sum max(-end_equity, 0)`` (quote, ``(V,)``): bad debt the path ended before booking."""
    deficit = np.maximum(-end_equity(population, out), 0.0)
    return np.bincount(np.asarray(population.venue), weights=deficit, minlength=n_venues).astype(np.float64)


def _venues_table(spec: MarketSpec, population: MarketPopulation, out: MarketOutputs) -> pd.DataFrame:
    st = out.steps
    pending = pending_bad_debt(population, out, spec.n_venues)
    rows = []
    for v, mv in enumerate(spec.venues):
        fund0 = float(mv.settings.insurance_fund)
        rows.append(
            {
                "venue": mv.name,
                "adl_rule": mv.adl_rule,
                "fund_start": fund0,
                "fund_min": float(min(fund0, st.fund[v].min())),
                "fund_end": float(st.fund[v, -1]),
                "bad_debt": float(st.bad_debt[v, -1]),
                "pending_bad_debt": float(pending[v]),
                "liquidator_fees": float(out.fees_paid[v, -1]),
                "liquidation_orders": int(st.n_liq[v].sum()),
                "first_liquidation_step": _first(out.books.first_liq[v]),
                "first_adl_step": _first(out.books.first_adl[v]),
                "vault_start": float(mv.settings.vault_capital),
                "vault_end": float(out.vault.equity[v, -1]),
                "vault_min": float(min(mv.settings.vault_capital, out.vault.equity[v].min())),
                "vault_received": float(out.vault.received[v]),
                "vault_taken_notional": float(out.vault.taken[v].sum()),
                "adl_trigger_steps": int(out.vault.adl_on[v].sum()),
            }
        )
    return pd.DataFrame(rows)


def _accounts_table(spec: MarketSpec, pop: MarketPopulation, out: MarketOutputs) -> pd.DataFrame:
    fin = out.accounts
    names = np.array([mv.name for mv in spec.venues], dtype=object)
    cols: dict[str, Any] = {
        "venue": names[np.asarray(pop.venue)],
        "owner": np.asarray(pop.owner),
        "wallet0": np.asarray(pop.wallet),
        "wallet": fin.wallet,
        "kept": fin.kept,
        "pnl": fin.pnl,
        "equity_end": end_equity(pop, out),
        "status": _STATUSES[fin.status],
        "deleveraged": fin.deleveraged,
    }
    qty0 = np.asarray(pop.qty)
    for a, asset in enumerate(spec.assets):
        cols[f"qty0_{asset}"] = qty0[:, a]
        cols[f"qty_{asset}"] = fin.qty[:, a]
    return pd.DataFrame(cols)


def _owners_table(spec: MarketSpec, accounts: pd.DataFrame) -> pd.DataFrame:
    # Labels ("venue: word") through integer codes: V x 5 distinct strings, not a million concatenations.
    deleveraged = accounts["deleveraged"].to_numpy()
    status = pd.Categorical(accounts["status"], categories=list(_STATUSES)).codes
    words = ["open" if w == "ok" else str(w) for w in _STATUSES] + ["adl", "adl+liquidated"]
    liquidated = list(_STATUSES).index("liquidated")
    word = np.where(deleveraged, np.where(status == liquidated, len(_STATUSES) + 1, len(_STATUSES)), status)
    venue_names = [mv.name for mv in spec.venues]
    venue = pd.Categorical(accounts["venue"], categories=venue_names).codes
    lookup = np.array([f"{v}: {w}" for v in venue_names for w in words], dtype=object)
    label = lookup[venue.astype(np.int64) * len(words) + word]
    owners, inverse = np.unique(accounts["owner"].to_numpy(), return_inverse=True)
    n_owners = owners.shape[0]
    count = np.bincount(inverse, minlength=n_owners)
    # One account: its label; several (hedged owners): their labels joined in account order.
    outcome = np.empty(n_owners, dtype=object)
    outcome[inverse] = label
    shared = np.flatnonzero(count > 1)
    if shared.size:
        order = np.argsort(inverse, kind="stable")
        starts = np.concatenate(([0], np.cumsum(count)))
        for o in shared:
            outcome[o] = "; ".join(label[order[starts[o] : starts[o + 1]]])
    cols: dict[str, Any] = {"accounts": count}
    for name in ("wallet0", "wallet", "kept", "pnl"):
        cols[name] = np.bincount(inverse, weights=accounts[name].to_numpy(), minlength=n_owners)
    cols["outcome"] = outcome
    for asset in spec.assets:
        for pre in ("qty0", "qty"):
            cols[f"net_{pre}_{asset}"] = np.bincount(
                inverse, weights=accounts[f"{pre}_{asset}"].to_numpy(), minlength=n_owners
            )
    return pd.DataFrame(cols, index=pd.Index(owners, name="owner"))


def _events_table(spec: MarketSpec, pop: MarketPopulation, out: MarketOutputs, counts: MarketCounts) -> pd.DataFrame:
    ev = out.events[: counts.events]
    venues = np.array([mv.name for mv in spec.venues], dtype=object)
    assets = np.array(list(spec.assets), dtype=object)
    return pd.DataFrame(
        {
            "step": ev["step"],
            "venue": venues[ev["venue"]],
            "asset": assets[ev["asset"]],
            "account": ev["account"],
            "owner": np.asarray(pop.owner)[ev["account"]],
            "qty": ev["qty"],
            "price": ev["price"],
            "bankruptcy_price": ev["bankruptcy_price"],
            "fund_delta": ev["fund_delta"],
            "kind": _MARKET_EVENT_KINDS[ev["kind"]],
            "counterparty": ev["counterparty"],
        }
    )


def simulate_market(
    population: MarketPopulation,
    paths: object,
    spec: MarketSpec,
    *,
    steps_per_year: float = 525_600.0,
    max_events: int | None = None,
    naive: bool = False,
) -> MarketResult:
    """Simulate the cascade of ``population`` in the market ``spec`` along one path of every asset.

    Parameters
    ----------
    population : MarketPopulation
        The accounts (venue, wallet, signed size and entry per asset, owner).
    paths : array (T + 1, K)
        Exogenous price of every asset per step (``paths[0]`` the start), e.g. one path of
        :func:`levguard.cascade.market_paths.market_path_for`; a 1-D path when ``K = 1``.
    spec : MarketSpec
        Assets, venues (books, margin rules, fund, liquidator, oracle, ADL rule) and arbitrage.
    steps_per_year : float
        Annualises the dynamic regime's realised volatility (default: minutes).
    max_events : int, optional
        Capacity of the event table; beyond it events are counted only (``ledger()`` then
        refuses).  By default ``4 P + 1000`` with ``P`` the open positions, and a run that needs
        more is run once more with a table that holds every event.
    naive : bool
        Test every account exactly in every round instead of the sorted sweep (same result).

    Raises
    ------
    InputError
        Bad population, paths or settings (the message names the value).
    """
    if not isinstance(spec, MarketSpec):
        raise InputError(f"spec must be a levguard.cascade.market.MarketSpec, was {type(spec).__name__}")
    if not isinstance(population, MarketPopulation):
        raise InputError(f"population must be a MarketPopulation, was {type(population).__name__}")
    exo = _paths(paths, spec.n_assets)
    n_steps = exo.shape[0] - 1
    _pos(steps_per_year, "steps_per_year")
    naive = flag(naive, "naive")
    cap = None if max_events is None else _int(max_events, "max_events")
    while True:
        acc, tiers, depth_mult, oracle, venues, books, cfg = kernel_inputs(
            population, spec, n_steps, steps_per_year, naive, start=exo[0]
        )
        if cap is None:
            cap = 4 * int(np.count_nonzero(acc.qty)) + 1000
        out = new_market_outputs(acc.wallet.shape[0], spec.n_assets, spec.n_venues, n_steps + 1, cap)
        counts = market_cascade_nb(acc, tiers, exo, depth_mult, oracle, venues, books, cfg, out)
        if counts.overflow == 0 or max_events is not None:
            break
        # The default table was too small (partial slices without a minimum can close a position
        # in many pieces a step): the run is deterministic, so once more with room for every event.
        cap = int(counts.events) + int(counts.overflow)
    _check_finite(spec, out)
    books_t = _books_table(spec, out)
    venues_t = _venues_table(spec, population, out)
    st = out.steps
    summary = {
        "liquidated_notional": float(st.liq_notional.sum()),
        "adl_notional": float(st.adl_notional.sum()),
        "bad_debt": float(st.bad_debt[:, -1].sum()),
        "pending_bad_debt": float(venues_t["pending_bad_debt"].sum()),
        "accounts_liquidated": float(counts.accounts_liquidated),
        "adl_events": float(counts.adl_events),
        "events_dropped": float(counts.overflow),
        "max_peak_to_trough": float(books_t["peak_to_trough"].max()),
    }
    return MarketResult(
        spec=spec,
        population=population,
        exogenous=exo,
        out=out,
        counts=counts,
        books=books_t,
        venues=venues_t,
        summary=summary,
        params={"n_accounts": population.n, "n_steps": n_steps, "steps_per_year": steps_per_year},
    )
