"""The contagion report of one path of the market simulator (v2): who transmitted losses to whom.

:func:`contagion_report` reads one :class:`~levguard.cascade.market.MarketResult` and returns a
:class:`ContagionReport`:

* **asset -> asset** (:func:`asset_transmission`): the notional force-closed in asset ``B``
  attributed to the assets whose losses drove the account under;
* **venue -> venue** through arbitrage (:func:`venue_transmission`): the arbitrage flow that
  carried a venue's forced selling (or buying) into the other venues' books;
* **hedged owners** (:func:`hedged_owner_table`): owners with accounts on several venues, what each
  venue did to them and their mark-to-market PnL per venue;
* **per venue**: liquidated and ADL notional, bad debt, insurance fund use;
* **pool -> venue** (:func:`pool_transmission`, :func:`pool_outcomes`): with lending pools in the
  market (:mod:`levguard.cascade.market_pools`), the arbitrage rows from or to a pool and per
  pool the collateral liquidated, the bonus paid and the deficit.  A market without pools has
  :attr:`ContagionReport.pool_to_venue` ``None`` (no table), never a made-up number.

See docs/cascade.md, "Contagion report and Monte Carlo (v2)" and "Lending pools in the market".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.cascade.market import MarketResult
from levguard.cascade.market_pools import pool_indices
from levguard.errors import InputError
from levguard.kernels.cascade_records import AccountStatus, EventKind

__all__ = [
    "FORCED_KINDS",
    "ContagionReport",
    "asset_transmission",
    "contagion_report",
    "hedged_owner_table",
    "pool_outcomes",
    "pool_transmission",
    "venue_transmission",
]

FloatArray = npt.NDArray[np.float64]

FORCED_KINDS: tuple[str, ...] = ("liquidation", "adl_liquidated")
"""Event kinds that close a liquidated account's positions (into the book, or against ADL
counterparties); ``adl_victim`` events are the counterparties' closes and are not forced sales of
the liquidated account."""

_EVENT_COLUMNS = ("step", "venue", "asset", "account", "qty", "price", "kind")


def _names(values: Sequence[str], what: str) -> list[str]:
    names = [str(v) for v in values]
    if not names or len(set(names)) != len(names):
        raise InputError(f"{what} must be distinct names, was {list(values)!r}")
    return names


def _codes(column: pd.Series, names: list[str], what: str) -> npt.NDArray[np.int64]:
    # Names -> indices; a name that is not known is named in the error.
    lookup = {n: i for i, n in enumerate(names)}
    values = column.to_numpy()
    out = np.empty(values.shape[0], dtype=np.int64)
    for j, v in enumerate(values):
        code = lookup.get(str(v))
        if code is None:
            raise InputError(f"events.{what}[{j}] must be one of {names}, was {v!r}")
        out[j] = code
    return out


def asset_matrices(
    events: pd.DataFrame,
    qty0: npt.ArrayLike,
    entry: npt.ArrayLike,
    marks: npt.ArrayLike,
    assets: Sequence[str],
    venues: Sequence[str],
) -> FloatArray:
    """Return the asset transmission per venue, shape ``(V, K, K)`` (source asset, destination asset).

    The arrays behind :func:`asset_transmission`; the parameters are the same.
    """
    names = _names(assets, "assets")
    vnames = _names(venues, "venues")
    k, n_v = len(names), len(vnames)
    q0 = np.asarray(qty0, dtype=np.float64)
    ent = np.asarray(entry, dtype=np.float64)
    mk = np.asarray(marks, dtype=np.float64)
    if q0.ndim != 2 or q0.shape[1] != k or ent.shape != q0.shape:
        raise InputError(f"qty0 and entry must have shape (N, {k}), had {q0.shape} and {ent.shape}")
    if mk.ndim != 3 or mk.shape[:2] != (n_v, k):
        raise InputError(f"marks must have shape ({n_v}, {k}, T + 1), had {mk.shape}")
    missing = [c for c in _EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise InputError(f"events must have the columns {list(_EVENT_COLUMNS)}, lacked {missing}")
    out = np.zeros((n_v, k, k))
    if events.empty:
        return out
    a_idx = _codes(events["asset"], names, "asset")
    v_idx = _codes(events["venue"], vnames, "venue")
    account = events["account"].to_numpy(dtype=np.int64)
    step = events["step"].to_numpy(dtype=np.int64)
    qty = events["qty"].to_numpy(dtype=np.float64)
    price = events["price"].to_numpy(dtype=np.float64)
    if account.min() < 0 or account.max() >= q0.shape[0]:
        raise InputError(f"events.account must be in [0, {q0.shape[0]}), was {int(account.max())}")
    if step.min() < 0 or step.max() >= mk.shape[2]:
        raise InputError(f"events.step must be in [0, {mk.shape[2]}), was {int(step.max())}")
    forced = events["kind"].isin(FORCED_KINDS).to_numpy()
    if not forced.any():
        return out
    # Every event (forced or ADL-victim) reduces its account's position: qty0 minus the events of
    # earlier steps is the position the account held when its liquidation step began.
    frame = pd.DataFrame({"account": account, "step": step, "asset": a_idx, "qty": qty})
    closed = frame.groupby(["account", "step", "asset"])["qty"].sum().unstack("asset", fill_value=0)
    closed = closed.reindex(columns=range(k), fill_value=0.0)
    before = closed.groupby(level="account").cumsum() - closed
    # Episodes: (account, step) pairs with a forced close; their venue is the account's.
    fr = pd.DataFrame(
        {
            "account": account[forced],
            "step": step[forced],
            "asset": a_idx[forced],
            "venue": v_idx[forced],
            "notional": np.abs(qty[forced]) * price[forced],
            "size": np.abs(qty[forced]),
        }
    )
    by = fr.groupby(["account", "step", "asset"])
    notional = by["notional"].sum().unstack("asset", fill_value=0).reindex(columns=range(k), fill_value=0.0)
    size = by["size"].sum().unstack("asset", fill_value=0).reindex(columns=range(k), fill_value=0.0)
    venue_of = fr.groupby(["account", "step"])["venue"].first().reindex(notional.index).to_numpy()
    keys = notional.index
    acc_e = keys.get_level_values("account").to_numpy()
    step_e = keys.get_level_values("step").to_numpy()
    pos = q0[acc_e] - before.loc[keys].to_numpy()
    nn = notional.to_numpy()
    ss = size.to_numpy()
    # Price of an asset in the episode: the size-weighted fill of its forced closes, or the
    # venue's mark at the end of the step when that asset was not closed then.
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(
            ss > 0.0, nn / np.where(ss > 0.0, ss, 1.0), mk[venue_of[:, None], np.arange(k)[None, :], step_e[:, None]]
        )
    loss = np.maximum(0.0, -pos * (fill - ent[acc_e]))
    loss[pos == 0.0] = 0.0
    total = loss.sum(axis=1)
    share = np.zeros_like(loss)
    has = total > 0.0
    share[has] = loss[has] / total[has, None]
    for v in range(n_v):
        sel = venue_of == v
        # Accounts whose every position was in profit (fees or ADL drove them under): each
        # asset's closed notional is its own (the diagonal).
        own = sel & ~has
        out[v] += share[sel].T @ nn[sel]
        out[v][np.diag_indices(k)] += nn[own].sum(axis=0)
    return out


def asset_transmission(
    events: pd.DataFrame,
    qty0: npt.ArrayLike,
    entry: npt.ArrayLike,
    marks: npt.ArrayLike,
    assets: Sequence[str],
    venues: Sequence[str],
) -> pd.DataFrame:
    """Return the asset -> asset transmission: notional force-closed in each destination asset,
    split over the source assets whose losses drove the accounts under.

    Parameters
    ----------
    events : DataFrame
        :attr:`MarketResult.events`: ``step, venue, asset, account, qty`` (signed, the position
        closed), ``price, kind``.
    qty0, entry : array (N, K)
        The accounts' positions and entry prices at the start.
    marks : array (V, K, T + 1)
        Each venue's mark per asset and step (``MarketResult.out.steps.mark``).
    assets, venues : sequence of str
        Names of the K assets and V venues, in the arrays' order.

    Returns
    -------
    DataFrame
        ``K x K``: rows the source asset, columns the destination asset (quote notional, summed
        over venues).  The diagonal is own-asset liquidation; off the diagonal, cross-asset
        contagion.  Every column sums to the notional force-closed in that asset.

    Notes
    -----
    A convention, not a measurement: the simulator closes an account when its cross-margin
    equity falls to its maintenance, and no single asset "causes" that.  Per episode (one
    account, one step with forced closes, ``kind`` in :data:`FORCED_KINDS`):

    * ``q_a`` is the position held when the step began (the start position minus every close of
      the account at earlier steps, its own and as an ADL counterparty);
    * ``p_a`` is the size-weighted fill of the episode's closes in ``a`` (the venue's mark at the
      end of the step for an asset not closed then);
    * the loss on ``a`` is ``L_a = max(0, -q_a (p_a - entry_a))`` and its share ``w_a = L_a /
      sum_b L_b``;
    * the notional force-closed in asset ``B``, ``N_B = sum |qty| x price`` over the episode's
      closes, adds ``w_A N_B`` to ``T[A, B]``.

    An account with no losing position (driven under by fees, or an ADL leg) adds its closes to
    the diagonal.  Hence ``sum_A T[A, B] = N_B`` (conservation) and a one-asset account only
    ever adds to the diagonal.  The rule follows the loss-attribution idea of the Euler
    allocation (Tasche, "Capital allocation to business units and sub-portfolios: the Euler
    principle", 2008) restricted to realised losses at the liquidation step.
    """
    per_venue = asset_matrices(events, qty0, entry, marks, assets, venues)
    names = [str(a) for a in assets]
    return pd.DataFrame(
        per_venue.sum(axis=0),
        index=pd.Index(names, name="source"),
        columns=pd.Index(names, name="destination"),
    )


def _decay(half_life: float) -> float:
    # The kernel's per-step resilience factor of a book's accumulated impact.
    return 0.5 ** (1.0 / half_life) if half_life > 0.0 else 0.0


def venue_matrices(
    impact: npt.ArrayLike,
    arb_notional: npt.ArrayLike,
    depth: npt.ArrayLike,
    decay: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """Return the arbitrage transmission per asset, ``down`` and ``up``, each ``(K, V, V)``.

    The arrays behind :func:`venue_transmission` (``depth`` is the effective depth per book and
    step, ``(V, K, T + 1)``; ``decay`` per book ``(V, K)``).
    """
    imp = np.asarray(impact, dtype=np.float64)
    arb = np.asarray(arb_notional, dtype=np.float64)
    dep = np.asarray(depth, dtype=np.float64)
    dec = np.asarray(decay, dtype=np.float64)
    if imp.ndim != 3 or arb.shape != imp.shape or dep.shape != imp.shape:
        raise InputError(
            "impact, arb_notional and depth must have one shape (V, K, T + 1), "
            f"had {imp.shape}, {arb.shape}, {dep.shape}"
        )
    n_v, k, n_t = imp.shape
    if dec.shape != (n_v, k):
        raise InputError(f"decay must have shape ({n_v}, {k}), had {dec.shape}")
    down = np.zeros((k, n_v, n_v))
    up = np.zeros((k, n_v, n_v))
    if n_v < 2 or n_t < 2:
        return down, up
    # The arbitrage of step t acts on the impact the previous step left, decayed once.
    pre = imp[:, :, :-1] * dec[:, :, None]
    d = dep[:, :, 1:]
    flow = arb[:, :, 1:]
    mean = (d * pre).sum(axis=0) / d.sum(axis=0)
    dev = pre - mean[None]
    for a in range(k):
        for sign, target in ((-1.0, down), (1.0, up)):
            steps = np.sign(mean[a]) == sign
            if not steps.any():
                continue
            src = (np.sign(dev[:, a]) == sign) & steps[None, :]
            dst = (np.sign(dev[:, a]) == -sign) & steps[None, :]
            s_flow = np.where(src, flow[:, a], 0.0)
            tot = s_flow.sum(axis=0)
            w = np.divide(s_flow, tot, out=np.zeros_like(s_flow), where=tot > 0.0)
            x = np.where(dst, flow[:, a], 0.0)
            target[a] += w @ x.T
    return down, up


def venue_transmission(result: MarketResult) -> pd.DataFrame:
    """Return the venue -> venue transmission through arbitrage, one row per asset, source,
    destination and direction with a positive notional.

    Columns: ``asset, source, destination, direction`` (``down``: selling pressure,
    ``up``: buying pressure), ``notional`` (quote, summed over steps).

    Notes
    -----
    The kernel records the arbitrage notional per book and step as an absolute value
    (``steps.arb_notional``), but its direction is recoverable exactly from the published
    outputs: at step ``t`` arbitrage moves each book's log impact, ``I_v = impact[t - 1] x
    decay`` (the book's resilience ``0.5 ** (1 / half_life_steps)``), toward the depth-weighted
    mean ``I_bar = sum_v D_v I_v / sum_v D_v`` (``D_v`` the depth times its multiplier at
    ``t``), buying where ``I_v < I_bar`` and selling where ``I_v > I_bar``
    (docs/cascade.md, "Several assets and venues (v2)").  When ``I_bar < 0`` (the venues trade
    below the exogenous price on average: forced selling dominates) the sources are the cheap
    venues and the destinations the rich ones, into whose books the arbitrage sold: the
    destination's arbitrage sell notional is split over the sources by their share of the
    arbitrage buys (``down``).  When ``I_bar > 0`` the roles swap (``up``: a squeeze carried
    across venues).  A convention for "who transmitted": arbitrage itself is the channel.
    """
    if not isinstance(result, MarketResult):
        raise InputError(f"result must be a MarketResult, was {type(result).__name__}")
    down, up = _venue_arrays(result)
    vnames = [mv.name for mv in result.spec.venues]
    rows = []
    for a, asset in enumerate(result.spec.assets):
        for direction, arr in (("down", down), ("up", up)):
            for s, src in enumerate(vnames):
                for t, dst in enumerate(vnames):
                    if arr[a, s, t] > 0.0:
                        rows.append(
                            {"asset": asset, "source": src, "destination": dst, "direction": direction,
                             "notional": float(arr[a, s, t])}
                        )  # fmt: skip
    return pd.DataFrame(rows, columns=["asset", "source", "destination", "direction", "notional"])


def _venue_arrays(result: MarketResult) -> tuple[FloatArray, FloatArray]:
    spec = result.spec
    st = result.out.steps
    n_t = st.impact.shape[2]
    depth = np.empty_like(st.impact)
    decay = np.empty(st.impact.shape[:2])
    for v, mv in enumerate(spec.venues):
        for a in range(spec.n_assets):
            book = mv.book(a)
            depth[v, a] = float(book.depth) * book.multiplier(n_t - 1)
            decay[v, a] = _decay(float(book.half_life_steps))
    return venue_matrices(st.impact, st.arb_notional, depth, decay)


def _final_marks(result: MarketResult) -> FloatArray:
    return np.asarray(result.out.steps.mark[:, :, -1], dtype=np.float64)


def account_mtm_pnl(result: MarketResult) -> FloatArray:
    """Mark-to-market PnL per account at the end of the path (quote): ``wallet + kept - wallet0``
    plus ``sum_a q_a (mark_a - entry_a)`` on what is still open, at its venue's final mark."""
    fin = result.out.accounts
    pop = result.population
    marks = _final_marks(result)[np.asarray(pop.venue)]
    open_pnl = (fin.qty * (marks - np.asarray(pop.entry))).sum(axis=1)
    return np.asarray(fin.wallet + fin.kept - np.asarray(pop.wallet) + open_pnl, dtype=np.float64)


def hedged_owner_table(result: MarketResult) -> pd.DataFrame:
    """Return the hedged owners (accounts on two venues or more), one row each.

    Columns: ``owner``, ``outcome`` (``venue: status`` per account, as :attr:`MarketResult.owners`),
    ``hit`` (an account of the owner was liquidated or closed by ADL), per venue ``pnl_<venue>``
    (mark-to-market PnL of the owner's accounts there, :func:`account_mtm_pnl`; 0 without an
    account there), ``pnl`` (their sum), ``net_notional0`` and ``net_notional`` (the owner's net
    exposure ``sum_a |sum_accounts q_a| x exogenous price`` at the start and at the end) and
    ``left_exposed`` (the net exposure grew by more than 1 % of the gross start notional: one
    leg was closed, the other left open).  Sorted with the hit owners first.
    """
    if not isinstance(result, MarketResult):
        raise InputError(f"result must be a MarketResult, was {type(result).__name__}")
    acc = result.accounts
    vnames = [mv.name for mv in result.spec.venues]
    cols = ["owner", "outcome", "hit", *(f"pnl_{v}" for v in vnames), "pnl", "net_notional0", "net_notional",
            "left_exposed"]  # fmt: skip
    per_owner_venues = acc.groupby("owner")["venue"].nunique()
    owners = per_owner_venues.index[per_owner_venues.to_numpy() >= 2]
    if owners.empty:
        return pd.DataFrame(columns=cols)
    sel = acc["owner"].isin(owners).to_numpy()
    sub = acc.loc[sel]
    mtm = account_mtm_pnl(result)[sel]
    p0 = result.exogenous[0]
    p1 = result.exogenous[-1]
    assets = list(result.spec.assets)
    q0 = sub[[f"qty0_{a}" for a in assets]].to_numpy()
    q1 = sub[[f"qty_{a}" for a in assets]].to_numpy()
    status = sub["status"].to_numpy()
    hit = (status != "ok") | sub["deleveraged"].to_numpy()
    frame = pd.DataFrame({"owner": sub["owner"].to_numpy(), "venue": sub["venue"].to_numpy(), "mtm": mtm, "hit": hit})
    outcomes = dict(zip(result.owners.index.to_numpy().tolist(), result.owners["outcome"].astype(str), strict=True))
    rows = []
    for key, grp in frame.groupby("owner", sort=True):
        owner = int(cast(int, key))
        idx = np.flatnonzero(sub["owner"].to_numpy() == owner)
        row: dict[str, Any] = {"owner": owner, "outcome": outcomes[owner],
                               "hit": bool(grp["hit"].any())}  # fmt: skip
        for v in vnames:
            row[f"pnl_{v}"] = float(grp.loc[grp["venue"] == v, "mtm"].sum())
        row["pnl"] = float(grp["mtm"].sum())
        net0 = float(np.sum(np.abs(q0[idx].sum(axis=0)) * p0))
        net1 = float(np.sum(np.abs(q1[idx].sum(axis=0)) * p1))
        gross0 = float(np.sum(np.abs(q0[idx]) * p0))
        row["net_notional0"] = net0
        row["net_notional"] = net1
        row["left_exposed"] = bool(net1 - net0 > 0.01 * gross0)
        rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["hit", "owner"], ascending=[False, True], kind="stable").reset_index(drop=True)


def venue_outcomes(result: MarketResult) -> pd.DataFrame:
    """Return per venue: ``liquidated_notional``, ``adl_notional``, ``bad_debt``, ``fund_start``,
    ``fund_min``, ``fund_end``, ``fund_used`` (``fund_start - fund_min``: the deepest draw on the
    insurance fund), ``accounts_liquidated`` (final status liquidated) and ``accounts_deleveraged``
    (ever an ADL counterparty: closed at a profit, not liquidated)."""
    if not isinstance(result, MarketResult):
        raise InputError(f"result must be a MarketResult, was {type(result).__name__}")
    books = result.books.groupby("venue", sort=False)[["liquidated_notional", "adl_notional"]].sum()
    ven = result.venues.set_index("venue")
    acc = result.accounts
    names = [mv.name for mv in result.spec.venues]
    liq = (acc["status"] == "liquidated").groupby(acc["venue"]).sum()  # "deleveraged" is not liquidated
    dlv = acc["deleveraged"].groupby(acc["venue"]).sum()
    out = pd.DataFrame(
        {
            "liquidated_notional": books["liquidated_notional"].reindex(names).to_numpy(),
            "adl_notional": books["adl_notional"].reindex(names).to_numpy(),
            "bad_debt": ven["bad_debt"].reindex(names).to_numpy(),
            "fund_start": ven["fund_start"].reindex(names).to_numpy(),
            "fund_min": ven["fund_min"].reindex(names).to_numpy(),
            "fund_end": ven["fund_end"].reindex(names).to_numpy(),
        },
        index=pd.Index(names, name="venue"),
    )
    out["fund_used"] = out["fund_start"] - out["fund_min"]
    out["accounts_liquidated"] = liq.reindex(names, fill_value=0).astype(np.int64).to_numpy()
    out["accounts_deleveraged"] = dlv.reindex(names, fill_value=0).astype(np.int64).to_numpy()
    return out


def _frame_dict(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {str(i): {str(c): _num(v) for c, v in row.items()} for i, row in frame.iterrows()}


def _num(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        x = float(v)
        return x if math.isfinite(x) else None
    return v


@dataclass(frozen=True)
class ContagionReport:
    """Who transmitted losses to whom on one path of the market.

    Attributes
    ----------
    assets, venues : tuple of str
        Names in the market's order.
    asset_matrix : DataFrame (K x K)
        :func:`asset_transmission` over all venues (rows source, columns destination asset).
    asset_by_venue : dict of str to DataFrame
        The same per venue.
    venue_matrix : DataFrame (V x V)
        Arbitrage transmission summed over assets and both directions (rows source venue,
        columns destination).
    venue_flows : DataFrame
        :func:`venue_transmission`: per asset, source, destination and direction.
    per_venue : DataFrame
        :func:`venue_outcomes`.
    hedged : DataFrame
        :func:`hedged_owner_table`.
    pool_to_venue : DataFrame or None
        :func:`pool_transmission`: the rows of ``venue_flows`` from or to a lending pool, with
        ``link`` (``pool->venue``, ``venue->pool``, ``pool->pool``); None when the market has
        no pool.
    pools : DataFrame or None
        :func:`pool_outcomes`, one row per pool; None when the market has no pool.
    """

    assets: tuple[str, ...]
    venues: tuple[str, ...]
    asset_matrix: pd.DataFrame
    asset_by_venue: dict[str, pd.DataFrame]
    venue_matrix: pd.DataFrame
    venue_flows: pd.DataFrame
    per_venue: pd.DataFrame
    hedged: pd.DataFrame
    pool_to_venue: pd.DataFrame | None = None
    pools: pd.DataFrame | None = None

    @property
    def cross_asset_share(self) -> float:
        """Off-diagonal share of the force-closed notional (0 when nothing was closed)."""
        m = self.asset_matrix.to_numpy()
        total = float(m.sum())
        return float((total - np.trace(m)) / total) if total > 0.0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values (matrices as ``{source: {destination: notional}}``)."""
        return {
            "assets": list(self.assets),
            "venues": list(self.venues),
            "asset_matrix": _frame_dict(self.asset_matrix),
            "asset_by_venue": {v: _frame_dict(m) for v, m in self.asset_by_venue.items()},
            "cross_asset_share": self.cross_asset_share,
            "venue_matrix": _frame_dict(self.venue_matrix),
            "venue_flows": [{k: _num(x) for k, x in r.items()} for r in self.venue_flows.to_dict(orient="records")],
            "per_venue": _frame_dict(self.per_venue),
            "hedged": [{k: _num(x) for k, x in r.items()} for r in self.hedged.to_dict(orient="records")],
            "pool_to_venue": None
            if self.pool_to_venue is None
            else [{k: _num(x) for k, x in r.items()} for r in self.pool_to_venue.to_dict(orient="records")],
            "pools": None if self.pools is None else _frame_dict(self.pools),
        }


def contagion_report(result: MarketResult) -> ContagionReport:
    """Return the :class:`ContagionReport` of one simulated path.

    Raises
    ------
    InputError
        ``result`` is not a :class:`MarketResult`, or events were dropped (``max_events`` too
        small: the attribution needs every close).
    """
    if not isinstance(result, MarketResult):
        raise InputError(f"result must be a MarketResult, was {type(result).__name__}")
    if result.counts.overflow:
        raise InputError(f"max_events too small: {result.counts.overflow} events dropped; the report needs all")
    assets = tuple(result.spec.assets)
    venues = tuple(mv.name for mv in result.spec.venues)
    pop = result.population
    per = asset_matrices(result.events, pop.qty, pop.entry, result.out.steps.mark, assets, venues)
    idx = pd.Index(list(assets), name="source")
    cols = pd.Index(list(assets), name="destination")
    down, up = _venue_arrays(result)
    vm = (down + up).sum(axis=0)
    flows = venue_transmission(result)
    has_pools = bool(pool_indices(result.spec))
    return ContagionReport(
        assets=assets,
        venues=venues,
        asset_matrix=pd.DataFrame(per.sum(axis=0), index=idx, columns=cols),
        asset_by_venue={v: pd.DataFrame(per[j], index=idx, columns=cols) for j, v in enumerate(venues)},
        venue_matrix=pd.DataFrame(
            vm, index=pd.Index(list(venues), name="source"), columns=pd.Index(list(venues), name="destination")
        ),
        venue_flows=flows,
        per_venue=venue_outcomes(result),
        hedged=hedged_owner_table(result),
        pool_to_venue=_pool_rows(result, flows) if has_pools else None,
        pools=pool_outcomes(result) if has_pools else None,
    )


def _pool_rows(result: MarketResult, flows: pd.DataFrame) -> pd.DataFrame:
    # The venue_transmission rows touching a pool, labelled by link.
    pools = {result.spec.venues[v].name for v in pool_indices(result.spec)}
    src = flows["source"].isin(pools).to_numpy()
    dst = flows["destination"].isin(pools).to_numpy()
    out = flows.loc[src | dst].reset_index(drop=True)
    link = np.where(src[src | dst], np.where(dst[src | dst], "pool->pool", "pool->venue"), "venue->pool")
    return out.assign(link=link)


def pool_transmission(result: MarketResult) -> pd.DataFrame | None:
    """Return the arbitrage transmission from and to the market's lending pools, or None without pools.

    The rows of :func:`venue_transmission` whose source or destination is a pool venue
    (:func:`levguard.cascade.market_pools.pool_indices`), with ``link``: ``pool->venue`` (the
    pool's liquidations sold collateral into its book and arbitrage carried the pressure into
    the venue's book), ``venue->pool`` (the reverse: a venue's cascade moved the pool's oracle
    and book) or ``pool->pool``.
    """
    if not isinstance(result, MarketResult):
        raise InputError(f"result must be a MarketResult, was {type(result).__name__}")
    if not pool_indices(result.spec):
        return None
    return _pool_rows(result, venue_transmission(result))


def pool_outcomes(result: MarketResult) -> pd.DataFrame:
    """Return one row per lending pool: ``borrowers``, ``accounts_liquidated``,
    ``liquidated_collateral`` (notional sold into the books, quote) and per asset
    ``liquidated_<asset>`` (units), ``bonus_paid`` (to liquidators), ``deficit`` (bad debt:
    debt left without collateral), ``bonus_left`` (the bonus still the liquidators' at the end:
    what was paid out of the venue plus the venue fund at the end) and ``kernel_bad_debt``
    (the venue's bad debt).

    Notes
    -----
    The kernel books each close's change of the venue fund on its first event (``fund_delta``):
    a full close ``min(E, 0)`` with ``E`` the equity at the fills, plus the fee when the venue
    books its fee to the fund (``fee_to_fund=True``), where the fee is 0 whenever ``E < 0``
    (``levguard.kernels.liquidation.settle_close``); a partial close its fee, or 0.  A pool
    built by :func:`~levguard.cascade.market_pools.lending_pool_venue` pays its fee (the bonus)
    to the liquidators (``MarketOutputs.fees_paid``), so ``bonus_paid`` is that plus
    ``sum max(delta, 0)`` and ``deficit = sum max(-delta, 0)``, exactly.  Shortfalls a venue
    fund absorbs before the kernel counts bad debt are the bonus booked there, so
    ``deficit = bonus_paid - bonus_left + kernel_bad_debt``; with the fee paid out nothing is
    absorbed (``bonus_left = bonus_paid``) and ``deficit = kernel_bad_debt``.  ``deficit`` is
    the pool's loss (Aave 3.3's reserve ``deficit``, Morpho's socialised bad debt), the bonus
    being the liquidators' money.
    """
    if not isinstance(result, MarketResult):
        raise InputError(f"result must be a MarketResult, was {type(result).__name__}")
    if result.counts.overflow:
        raise InputError(f"max_events too small: {result.counts.overflow} events dropped; pool outcomes need all")
    spec = result.spec
    ev = result.out.events[: result.counts.events]
    liq = ev["kind"] == EventKind.LIQUIDATION
    venue = np.asarray(result.population.venue)
    status = result.out.accounts.status
    rows = []
    for v in pool_indices(spec):
        sel = liq & (ev["venue"] == v)
        delta = ev["fund_delta"][sel]
        row: dict[str, Any] = {
            "pool": spec.venues[v].name,
            "borrowers": int(np.count_nonzero(venue == v)),
            "accounts_liquidated": int(np.count_nonzero((venue == v) & (status == AccountStatus.LIQUIDATED))),
            "liquidated_collateral": float(np.sum(np.abs(ev["qty"][sel]) * ev["price"][sel])),
        }
        for a, asset in enumerate(spec.assets):
            row[f"liquidated_{asset}"] = float(np.abs(ev["qty"][sel & (ev["asset"] == a)]).sum())
        paid_out = float(result.out.fees_paid[v, -1])
        row["bonus_paid"] = paid_out + float(np.maximum(delta, 0.0).sum())
        row["deficit"] = float(np.maximum(-delta, 0.0).sum())
        row["bonus_left"] = paid_out + float(result.out.steps.fund[v, -1])
        row["kernel_bad_debt"] = float(result.out.steps.bad_debt[v, -1])
        rows.append(row)
    cols = ["pool", "borrowers", "accounts_liquidated", "liquidated_collateral",
            *(f"liquidated_{a}" for a in spec.assets), "bonus_paid", "deficit", "bonus_left",
            "kernel_bad_debt"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols).set_index("pool")
