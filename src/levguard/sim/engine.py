"""Cascading liquidations on one venue: one path, a Monte Carlo, and calibration of the venue's
margin parameters.

:func:`simulate_path` runs the kernel :func:`levguard.kernels.cascade.cascade_nb` on one price
path and returns a :class:`CascadeResult` (per-step table, events, accounts, summary);
:func:`monte_carlo` runs many paths, generated from ``(seed, k)`` inside the workers (never
shipped), locally or on Dask, and aggregates the distribution of bad debt; :func:`calibrate`
sweeps venue parameters over the same scenarios and :func:`max_safe` binary-searches the
largest cap that keeps ``P(bad debt > K) <= epsilon``.  See docs/cascade.md for the model.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard._parallel import Progress, dask_client
from levguard.core.liquidation_outcome import cascade_regime_fields
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels import cascade as kc
from levguard.kernels import liquidation as kl
from levguard.sim.paths import depth_multiplier_path, paths_for
from levguard.sim.population import Population

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
_SUMMARY_NAMES = (
    "bad_debt",
    "liquidated_notional",
    "adl_notional",
    "accounts_liquidated",
    "fund_end",
    "fund_min",
    "min_price",
    "min_exogenous",
    "max_price",
    "max_exogenous",
    "overshoot",
    "adl_events",
)


def _pos(value: object, name: str, *, allow_zero: bool = False, upper: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError(f"{name} must be a number, was {value!r}")
    v = float(value)
    ok = (v >= 0.0 if allow_zero else v > 0.0) and v <= upper and math.isfinite(v)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(
            f"{name} must be finite and {bound}"
            + (f" and <= {upper:g}" if upper < math.inf else "")
            + f", was {value!r}"
        )
    return v


def _int(value: object, name: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise InputError(f"{name} must be an integer >= {lo}, was {value!r}")
    return int(value)


@dataclass(frozen=True)
class Market:
    """The order book the liquidation flow hits.

    Parameters
    ----------
    depth : float
        ``impact="linear"``: quote notional that moves the price by one basis point.
        ``impact="sqrt"``: the daily traded volume in quote.
    impact : {"linear", "sqrt"}
        Linear depth (``dP/P = -X / depth`` bp) or the square-root law
        ``|dP/P| = impact_coef * sigma_daily * sqrt(|X| / depth)`` (Almgren et al. 2005).
    impact_coef, sigma_daily : float
        ``Y`` (about 1 empirically) and the daily volatility of the square-root law.
    half_life_steps : float
        Resilience: the accumulated impact decays by half every ``half_life_steps`` steps
        (``inf``: permanent impact; 0: gone by the next step).
    depth_multiplier : array (T + 1,) or mapping, optional
        The depth's multiplier per step (thinner books under stress), or
        ``{"shock_step", "floor", "recovery_half_life"}`` for
        :func:`levguard.sim.paths.depth_multiplier_path`.  Default 1 throughout.
    """

    depth: float
    impact: Literal["linear", "sqrt"] = "linear"
    impact_coef: float = 1.0
    sigma_daily: float = 0.03
    half_life_steps: float = 60.0
    depth_multiplier: Any = None

    def __post_init__(self) -> None:
        _pos(self.depth, "market.depth")
        if self.impact not in ("linear", "sqrt"):
            raise InputError(f"market.impact must be 'linear' or 'sqrt', was {self.impact!r}")
        _pos(self.impact_coef, "market.impact_coef", allow_zero=True)
        _pos(self.sigma_daily, "market.sigma_daily", allow_zero=True)
        if self.half_life_steps != math.inf:
            _pos(self.half_life_steps, "market.half_life_steps", allow_zero=True)

    def multiplier(self, n_steps: int) -> FloatArray:
        """The depth multiplier path of length ``n_steps + 1``."""
        dm = self.depth_multiplier
        if dm is None:
            return np.ones(n_steps + 1)
        if isinstance(dm, Mapping):
            unknown = set(dm) - {"shock_step", "floor", "recovery_half_life"}
            if unknown:
                raise InputError(f"market.depth_multiplier: unknown keys {sorted(unknown)}")
            return depth_multiplier_path(
                n_steps,
                shock_step=int(dm.get("shock_step", 0)),
                floor=float(dm.get("floor", 1.0)),
                recovery_half_life=float(dm.get("recovery_half_life", math.inf)),
            )
        arr = np.asarray(dm, dtype=float)
        if arr.shape != (n_steps + 1,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
            raise InputError(
                f"market.depth_multiplier must be {n_steps + 1} finite values > 0 (one per step), had shape {arr.shape}"
            )
        return arr


@dataclass(frozen=True)
class MarginRegime:
    """The venue's margin rules under test.

    Parameters
    ----------
    kind : {"static", "tiered", "dynamic"}
        Static over-collateralisation (one maintenance rate ``mmr``), a tiered schedule
        (``tiers``), or dynamic margin: the maintenance tiers (``tiers`` or ``mmr``) scaled by
        ``clip(realised vol / base_vol, min_scale, max_scale)``, recalibrated every
        ``every_steps`` steps on the last ``window_steps`` steps of the traded price.
    mmr : float
        Maintenance rate of the static regime (and of dynamic without tiers).
    tiers : TierTable, optional
        Maintenance tiers (cap, rate, amount) of the tiered regime.
    liquidation_fee : float
        Liquidation fee rate on the closed notional of book closes and partial closes, paid to
        the insurance fund.
    partial : float, "tier" or "restore"
        Fraction of a position closed per liquidation round (1: whole position; Hyperliquid
        closes 20 % slices of large positions), ``"tier"``: close down to the next lower
        maintenance tier's cap (risk-limit step-down, as Bybit does), or ``"restore"``: close
        just enough to bring the maintenance margin back below the equity at the current price
        (Deribit's incremental liquidation); positions below ``partial_min_notional`` are
        closed whole (fraction and tier rules).
    outcome : {"takeover", "book"}
        What a full close leaves the account: ``"takeover"`` (closed at the bankruptcy price,
        the margin goes to the insurance fund: Binance, Bybit, OKX, Gate, BitMEX) or
        ``"book"`` (the fee is paid and the rest kept: Hyperliquid, dYdX, Deribit).
    backstop : float
        ``"book"``: a position whose equity at the fill is below ``backstop`` times its
        maintenance margin is taken over whole (Hyperliquid 2/3; 0: never).
    max_leverage, oi_cap : float, optional
        Venue caps applied to the population: accounts above ``max_leverage`` post more margin
        (their leverage is set to the cap); open interest above ``oi_cap`` (notional, one
        side) scales every position down pro rata.
    base_vol, window_steps, every_steps, min_scale, max_scale
        The dynamic regime's parameters.
    """

    kind: Literal["static", "tiered", "dynamic"] = "static"
    mmr: float = 0.005
    tiers: TierTable | None = None
    liquidation_fee: float = 0.005
    partial: float | Literal["tier", "restore"] = 1.0
    partial_min_notional: float = 0.0
    outcome: Literal["takeover", "book"] = "takeover"
    backstop: float = 0.0
    max_leverage: float | None = None
    oi_cap: float | None = None
    base_vol: float = 0.6
    window_steps: int = 1440
    every_steps: int = 60
    min_scale: float = 1.0
    max_scale: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in ("static", "tiered", "dynamic"):
            raise InputError(f"regime.kind must be static, tiered or dynamic, was {self.kind!r}")
        _pos(self.mmr, "regime.mmr", upper=0.5)
        if self.kind == "tiered" and self.tiers is None:
            raise InputError("regime.tiers must be given for the tiered regime")
        if self.tiers is not None and not isinstance(self.tiers, TierTable):
            raise InputError(f"regime.tiers must be a TierTable, was {type(self.tiers).__name__}")
        _pos(self.liquidation_fee, "regime.liquidation_fee", allow_zero=True, upper=0.1)
        if self.partial not in ("tier", "restore"):
            _pos(self.partial, "regime.partial", upper=1.0)
        if self.outcome not in ("takeover", "book"):
            raise InputError(f"regime.outcome must be 'takeover' or 'book', was {self.outcome!r}")
        _pos(self.backstop, "regime.backstop", allow_zero=True, upper=1.0)
        _pos(self.partial_min_notional, "regime.partial_min_notional", allow_zero=True)
        if self.max_leverage is not None:
            _pos(self.max_leverage, "regime.max_leverage")
        if self.oi_cap is not None:
            _pos(self.oi_cap, "regime.oi_cap")
        _pos(self.base_vol, "regime.base_vol")
        _int(self.window_steps, "regime.window_steps", 2)
        _int(self.every_steps, "regime.every_steps", 1)
        _pos(self.min_scale, "regime.min_scale")
        _pos(self.max_scale, "regime.max_scale")
        if self.max_scale < self.min_scale:
            raise InputError(f"regime.max_scale must be >= min_scale, was {self.max_scale!r} < {self.min_scale!r}")

    @classmethod
    def for_venue(cls, venue: str, **overrides: Any) -> MarginRegime:
        """The regime with a venue's liquidation rule: outcome, fee, partial rule and backstop.

        From :class:`~levguard.core.rules.base.LiquidationRule` (docs/margin.md): e.g.
        ``"hyperliquid"`` gives a book outcome without fee, 20 % slices above 100k and a 2/3
        backstop; ``"binance-usdm"`` a takeover.  A rule without a fee keeps the default
        ``liquidation_fee``; ``overrides`` set any other field (``kind``, ``mmr``, ``tiers``...).
        """
        fields: dict[str, Any] = cascade_regime_fields(venue)
        fields.update(overrides)
        return cls(**fields)

    def tier_rows(self) -> FloatArray:
        """The kernel's tier rows (cap, rate, amount)."""
        if self.tiers is not None and self.kind != "static":
            return np.column_stack([self.tiers.caps, self.tiers.mmrs, self.tiers.cums]).astype(float)
        return np.array([[math.inf, self.mmr, 0.0]])

    def apply_caps(self, pop: Population) -> Population:
        """The population after the venue's leverage and open-interest caps."""
        qty = np.array(pop.qty, dtype=float)
        margin = np.array(pop.margin, dtype=float)
        if self.max_leverage is not None:
            lev = qty * pop.entry_price / margin
            over = lev > self.max_leverage
            margin[over] = qty[over] * pop.entry_price[over] / self.max_leverage
        if self.oi_cap is not None:
            for mask in (pop.side > 0, pop.side < 0):
                oi = float(np.sum(qty[mask] * pop.entry_price[mask]))
                if oi > self.oi_cap:
                    f = self.oi_cap / oi
                    qty[mask] *= f
                    margin[mask] *= f
        return Population(pop.side, qty, pop.entry_price, margin, pop.cross)


@dataclass(frozen=True)
class VenueSettings:
    """Insurance fund, auto-deleveraging, liquidator and oracle behaviour.

    Parameters
    ----------
    insurance_fund : float
        Initial insurance fund (quote).
    adl : bool
        Auto-deleverage opposite positions when the fund cannot absorb a loss.
    latency_steps : int
        Steps between a liquidation trigger and its execution.
    mark_lag_steps : int
        The mark is the traded price ``mark_lag_steps`` steps ago (0: current).
    oracle : array (T + 1, S) or mapping, optional
        Per step and source the multiplier a source reports on the traded price (NaN: the
        source is missing); the mark is the median over sources.  A mapping
        ``{"sources": S, "corrupt": [{"source": i, "from": t0, "to": t1, "factor": f}],
        "stale": [{"source": i, "from": t0, "to": t1}]}`` builds it (a stale source is
        missing over the interval; a corrupted one reports ``f`` x the price).
    max_rounds : int
        Liquidation rounds per step before the step ends (a cap on the fixed point).
    """

    insurance_fund: float = 0.0
    adl: bool = True
    latency_steps: int = 0
    mark_lag_steps: int = 0
    oracle: Any = None
    max_rounds: int = 100

    def __post_init__(self) -> None:
        _pos(self.insurance_fund, "venue.insurance_fund", allow_zero=True)
        if not isinstance(self.adl, bool):
            raise InputError(f"venue.adl must be true or false, was {self.adl!r}")
        _int(self.latency_steps, "venue.latency_steps")
        _int(self.mark_lag_steps, "venue.mark_lag_steps")
        _int(self.max_rounds, "venue.max_rounds", 1)

    def oracle_matrix(self, n_steps: int) -> FloatArray:
        """The oracle multipliers (T + 1, S)."""
        o = self.oracle
        if o is None:
            return np.ones((n_steps + 1, 1))
        if isinstance(o, Mapping):
            unknown = set(o) - {"sources", "corrupt", "stale"}
            if unknown:
                raise InputError(f"venue.oracle: unknown keys {sorted(unknown)}; use sources, corrupt, stale")
            s = _int(o.get("sources", 1), "venue.oracle.sources", 1)
            m = np.ones((n_steps + 1, s))
            for what in ("corrupt", "stale"):
                for ev in o.get(what, ()) or ():
                    src = _int(ev.get("source", 0), f"venue.oracle.{what}.source")
                    if src >= s:
                        raise InputError(f"venue.oracle.{what}.source must be < sources ({s}), was {src}")
                    t0 = _int(ev.get("from", 0), f"venue.oracle.{what}.from")
                    t1 = _int(ev.get("to", n_steps), f"venue.oracle.{what}.to")
                    if what == "corrupt":
                        m[t0 : t1 + 1, src] = _pos(ev.get("factor", 1.0), "venue.oracle.corrupt.factor")
                    else:
                        m[t0 : t1 + 1, src] = np.nan
            return m
        arr = np.asarray(o, dtype=float)
        if arr.ndim != 2 or arr.shape[0] != n_steps + 1:
            raise InputError(f"venue.oracle must have shape ({n_steps + 1}, sources), had {arr.shape}")
        return arr


def _cfg(market: Market, regime: MarginRegime, venue: VenueSettings, steps_per_year: float, naive: bool) -> FloatArray:
    cfg = np.zeros(kc.N_CFG)
    cfg[kc.CFG_FUND] = venue.insurance_fund
    cfg[kc.CFG_LIQ_FEE] = regime.liquidation_fee
    if regime.partial == "tier":
        cfg[kc.CFG_PARTIAL] = kc.PARTIAL_TIER_CODE
    elif regime.partial == "restore":
        cfg[kc.CFG_PARTIAL] = kc.PARTIAL_RESTORE_CODE
    else:
        cfg[kc.CFG_PARTIAL] = float(regime.partial)
    cfg[kc.CFG_PARTIAL_MIN] = regime.partial_min_notional
    cfg[kc.CFG_IMPACT_KIND] = kc.IMPACT_LINEAR if market.impact == "linear" else kc.IMPACT_SQRT
    cfg[kc.CFG_DEPTH] = market.depth
    cfg[kc.CFG_IMPACT_COEF] = market.impact_coef
    cfg[kc.CFG_SIGMA_DAILY] = market.sigma_daily
    cfg[kc.CFG_HALF_LIFE] = market.half_life_steps
    cfg[kc.CFG_LATENCY] = venue.latency_steps
    cfg[kc.CFG_ADL] = 1.0 if venue.adl else 0.0
    cfg[kc.CFG_MAX_ROUNDS] = venue.max_rounds
    cfg[kc.CFG_MARK_LAG] = venue.mark_lag_steps
    cfg[kc.CFG_NAIVE] = 1.0 if naive else 0.0
    cfg[kc.CFG_DYN_ON] = 1.0 if regime.kind == "dynamic" else 0.0
    cfg[kc.CFG_DYN_BASE_VOL] = regime.base_vol
    cfg[kc.CFG_DYN_WINDOW] = regime.window_steps
    cfg[kc.CFG_DYN_EVERY] = regime.every_steps
    cfg[kc.CFG_DYN_MIN] = regime.min_scale
    cfg[kc.CFG_DYN_MAX] = regime.max_scale
    cfg[kc.CFG_STEPS_PER_YEAR] = steps_per_year
    cfg[kc.CFG_OUTCOME] = kl.TAKEOVER if regime.outcome == "takeover" else kl.BOOK
    cfg[kc.CFG_BACKSTOP] = regime.backstop
    return cfg


def _acc(pop: Population) -> FloatArray:
    if not isinstance(pop, Population):
        raise InputError(f"population must be a levguard.sim.Population, was {type(pop).__name__}")
    return np.ascontiguousarray(np.column_stack([pop.side, pop.qty, pop.entry_price, pop.margin]), dtype=float)


def _path(path: object) -> FloatArray:
    arr = np.asarray(path, dtype=float)
    if arr.ndim != 1 or arr.shape[0] < 2 or not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise InputError(f"path must be at least 2 finite prices > 0 (one per step), had shape {arr.shape}")
    return np.ascontiguousarray(arr)


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
        The population after the path: ``qty, margin, pnl, status`` (ok, liquidated,
        deleveraged).
    summary : dict
        ``bad_debt, liquidated_notional, adl_notional, accounts_liquidated, fund_end, fund_min,
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
        raise InputError(f"market must be a levguard.sim.Market, was {type(market).__name__}")
    pop = regime.apply_caps(population) if isinstance(population, Population) else population
    acc = _acc(pop)
    exo = _path(path)
    n_steps = exo.shape[0] - 1
    _pos(steps_per_year, "steps_per_year")
    cap = 4 * acc.shape[0] + 1000 if max_events is None else _int(max_events, "max_events")
    steps = np.zeros((n_steps + 1, kc.N_STEP))
    events = np.zeros((cap, kc.N_EV))
    out_acc = np.zeros((acc.shape[0], kc.N_OUT_ACC))
    counts = np.zeros(kc.N_COUNTS, dtype=np.int64)
    kc.cascade_nb(
        acc,
        np.ascontiguousarray(regime.tier_rows()),
        exo,
        np.ascontiguousarray(market.multiplier(n_steps)),
        np.ascontiguousarray(venue.oracle_matrix(n_steps)),
        _cfg(market, regime, venue, steps_per_year, naive),
        steps,
        events,
        out_acc,
        counts,
    )
    summary_row = np.zeros(kc.N_SUM)
    kc.summarize(steps, counts, venue.insurance_fund, summary_row)
    summary = dict(zip(_SUMMARY_NAMES, summary_row.tolist(), strict=True))
    summary["events_dropped"] = float(counts[kc.COUNT_OVERFLOW])
    ev = events[: counts[kc.COUNT_EVENTS]]
    kinds = np.array(["liquidation", "adl_liquidated", "adl_victim"], dtype=object)
    return CascadeResult(
        steps=pd.DataFrame(
            {
                "price": steps[:, kc.STEP_PRICE],
                "exogenous": steps[:, kc.STEP_EXO],
                "mark": steps[:, kc.STEP_MARK],
                "liquidated_notional": steps[:, kc.STEP_LIQ_NOTIONAL],
                "adl_notional": steps[:, kc.STEP_ADL_NOTIONAL],
                "liquidations": steps[:, kc.STEP_N_LIQ],
                "insurance_fund": steps[:, kc.STEP_FUND],
                "bad_debt": steps[:, kc.STEP_BAD_DEBT],
                "impact": steps[:, kc.STEP_IMPACT],
                "mm_scale": steps[:, kc.STEP_MM_SCALE],
                "rounds": steps[:, kc.STEP_ROUNDS],
            }
        ),
        events=pd.DataFrame(
            {
                "step": ev[:, kc.EV_STEP].astype(np.int64),
                "account": ev[:, kc.EV_ACCOUNT].astype(np.int64),
                "qty": ev[:, kc.EV_QTY],
                "price": ev[:, kc.EV_PRICE],
                "bankruptcy_price": ev[:, kc.EV_BANKRUPTCY],
                "fund_delta": ev[:, kc.EV_FUND_DELTA],
                "kind": kinds[ev[:, kc.EV_KIND].astype(np.int64)],
                "counterparty": ev[:, kc.EV_COUNTERPARTY].astype(np.int64),
            }
        ),
        accounts=pd.DataFrame(
            {
                "side": pop.side,
                "entry_price": pop.entry_price,
                "qty0": pop.qty,
                "margin0": pop.margin,
                "qty": out_acc[:, kc.OUT_QTY],
                "margin": out_acc[:, kc.OUT_MARGIN],
                "pnl": out_acc[:, kc.OUT_PNL],
                "status": np.array(["ok", "liquidated", "deleveraged"], dtype=object)[
                    out_acc[:, kc.OUT_LIQUIDATED].astype(np.int64)
                ],
            }
        ),
        summary=summary,
        params={"n_accounts": int(acc.shape[0]), "n_steps": n_steps, "steps_per_year": steps_per_year},
    )


# --------------------------------------------------------------------------- Monte Carlo


@dataclass(frozen=True)
class MonteCarloResult:
    """Summaries of many paths and their aggregates.

    Attributes
    ----------
    paths : DataFrame
        One row per path (``path`` index and the :class:`CascadeResult` summary fields).
    aggregates : dict
        ``mean_bad_debt``, ``bad_debt_p95``, ``bad_debt_p99`` (the "VaR" of insolvent debt),
        ``p_bad_debt_over_budget`` (``P(bad debt > budget)``), ``expected_liquidated_notional``,
        ``mean_overshoot``, ``p_adl`` (share of paths with ADL), ``budget``, ``n_paths``.
    """

    paths: pd.DataFrame
    aggregates: dict[str, float]


def _aggregate(table: pd.DataFrame, budget: float) -> dict[str, float]:
    bad = table["bad_debt"].to_numpy()
    return {
        "n_paths": float(len(table)),
        "budget": budget,
        "mean_bad_debt": float(np.mean(bad)),
        "bad_debt_p95": float(np.quantile(bad, 0.95)),
        "bad_debt_p99": float(np.quantile(bad, 0.99)),
        "p_bad_debt_over_budget": float(np.mean(bad > budget)),
        "expected_liquidated_notional": float(table["liquidated_notional"].mean()),
        "mean_overshoot": float(table["overshoot"].mean()),
        "p_adl": float(np.mean(table["adl_events"].to_numpy() > 0)),
    }


def _chunk_summaries(
    acc: FloatArray,
    tiers: FloatArray,
    spec: Mapping[str, Any],
    first: int,
    count: int,
    depth_mult: FloatArray,
    oracle: FloatArray,
    cfg: FloatArray,
) -> FloatArray:
    """Generate paths ``first .. first + count - 1`` of ``spec`` and summarise their cascades."""
    exo = np.ascontiguousarray(paths_for(spec, count, first=first))
    out = np.zeros((count, kc.N_SUM))
    kc.cascade_many_nb(acc, tiers, exo, depth_mult, oracle, cfg, out)
    return out


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(0, n, size):
        yield a, min(n, a + size)


def _n_steps(spec: Mapping[str, Any]) -> int:
    probe = paths_for(spec, 1)
    return int(probe.shape[1] - 1)


def monte_carlo(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    *,
    market: Market,
    regime: MarginRegime | None = None,
    venue: VenueSettings | None = None,
    budget: float = 0.0,
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 16,
    progress: bool = False,
) -> MonteCarloResult:
    """Simulate ``n_paths`` paths of the spec ``paths`` and aggregate bad debt and liquidations.

    Parameters
    ----------
    population, market, regime, venue, steps_per_year
        As for :func:`simulate_path`.
    paths : mapping
        A path spec for :func:`levguard.sim.paths.path_for` (model, s0, sigma, n_steps,
        dt_years, seed, ...): path ``k`` is regenerated from ``(seed, k)`` where it runs.
    n_paths : int
        Number of paths.
    budget : float
        Bad-debt budget ``K`` of ``P(bad debt > K)``.
    scheduler : None, "local", address or dask Client
        None: this process (numba threads over the paths of a chunk); ``"local"``: a Dask
        ``LocalCluster``; an address: that scheduler.  Results are identical.
    chunk_size : int
        Paths per task (memory per task: ``chunk_size x (T + 1)`` prices plus one path's state).
    progress : bool
        A rich progress bar over chunks.
    """
    regime = regime if regime is not None else MarginRegime()
    venue = venue if venue is not None else VenueSettings()
    n_paths = _int(n_paths, "n_paths", 1)
    chunk_size = _int(chunk_size, "chunk_size", 1)
    _pos(budget, "budget", allow_zero=True)
    if not isinstance(paths, Mapping):
        raise InputError(f"paths must be a path spec (mapping), was {type(paths).__name__}")
    if not isinstance(market, Market):
        raise InputError(f"market must be a levguard.sim.Market, was {type(market).__name__}")
    n_steps = _n_steps(paths)
    acc = _acc(regime.apply_caps(population) if isinstance(population, Population) else population)
    tiers = np.ascontiguousarray(regime.tier_rows())
    depth_mult = np.ascontiguousarray(market.multiplier(n_steps))
    oracle = np.ascontiguousarray(venue.oracle_matrix(n_steps))
    cfg = _cfg(market, regime, venue, _pos(steps_per_year, "steps_per_year"), False)
    out = np.zeros((n_paths, kc.N_SUM))
    bounds = list(_chunks(n_paths, chunk_size))
    spec = dict(paths)
    client, cluster = dask_client(scheduler)
    try:
        with Progress(progress, len(bounds), f"Monte Carlo of {n_paths:,} paths") as advance:
            if client is None:
                for a, b in bounds:
                    out[a:b] = _chunk_summaries(acc, tiers, spec, a, b - a, depth_mult, oracle, cfg)
                    advance()
            else:
                acc_f, tiers_f = client.scatter([acc, tiers], broadcast=True, hash=False)
                futures = {
                    client.submit(
                        _chunk_summaries, acc_f, tiers_f, spec, a, b - a, depth_mult, oracle, cfg, pure=False
                    ): (a, b)
                    for a, b in bounds
                }
                from distributed import as_completed

                for fut in as_completed(list(futures)):  # type: ignore[no-untyped-call]
                    a, b = futures[fut]
                    out[a:b] = fut.result()
                    advance()
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    table = pd.DataFrame(out, columns=list(_SUMMARY_NAMES))
    table.insert(0, "path", np.arange(n_paths))
    return MonteCarloResult(table, _aggregate(table, float(budget)))


# --------------------------------------------------------------------------- calibration

_REGIME_PARAMS = (
    "kind",
    "mmr",
    "liquidation_fee",
    "partial",
    "partial_min_notional",
    "outcome",
    "backstop",
    "max_leverage",
    "oi_cap",
    "base_vol",
    "every_steps",
    "max_scale",
)
_VENUE_PARAMS = ("insurance_fund", "adl", "latency_steps", "mark_lag_steps")
_MARKET_PARAMS = ("depth", "half_life_steps")


def _with(
    market: Market, regime: MarginRegime, venue: VenueSettings, params: Mapping[str, Any]
) -> tuple[Market, MarginRegime, VenueSettings]:
    r = {k: v for k, v in params.items() if k in _REGIME_PARAMS}
    v = {k: v for k, v in params.items() if k in _VENUE_PARAMS}
    m = {k: v for k, v in params.items() if k in _MARKET_PARAMS}
    return replace(market, **m), replace(regime, **r), replace(venue, **v)


def calibrate(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    grid: Mapping[str, Sequence[Any]],
    *,
    market: Market,
    regime: MarginRegime | None = None,
    venue: VenueSettings | None = None,
    budget: float = 0.0,
    epsilon: float = 0.01,
    efficiency: str | None = None,
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 16,
    progress: bool = False,
) -> pd.DataFrame:
    """Sweep venue parameters over the same Monte Carlo scenarios.

    Parameters
    ----------
    grid : mapping parameter -> values
        Regime parameters (``kind, mmr, liquidation_fee, partial, partial_min_notional,
        outcome, backstop, max_leverage, oi_cap, base_vol, every_steps, max_scale``), venue parameters
        (``insurance_fund, adl, latency_steps, mark_lag_steps``) and market parameters
        (``depth, half_life_steps``).
    budget, epsilon : float
        A parameter set is safe when ``P(bad debt > budget) <= epsilon``.
    efficiency : str, optional
        The capital-efficiency column to maximise among safe sets (e.g. ``max_leverage`` or
        ``oi_cap``); the best safe row is flagged ``best``.

    Returns
    -------
    DataFrame
        One row per parameter set: the parameters, the Monte Carlo aggregates, ``safe`` and
        ``best``.  Every set sees the same paths (common random numbers), so differences
        between rows are the parameters' effect, not noise.
    """
    regime = regime if regime is not None else MarginRegime()
    venue = venue if venue is not None else VenueSettings()
    _pos(epsilon, "epsilon", allow_zero=True, upper=1.0)
    if not isinstance(grid, Mapping) or not grid:
        raise InputError("grid must map at least one parameter to a list of values")
    allowed = set(_REGIME_PARAMS) | set(_VENUE_PARAMS) | set(_MARKET_PARAMS)
    unknown = set(grid) - allowed
    if unknown:
        raise InputError(f"grid: unknown parameters {sorted(unknown)}; use {sorted(allowed)}")
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], str) or not isinstance(grid[k], Sequence | np.ndarray) or len(grid[k]) == 0:
            raise InputError(f"grid: values of {k!r} must be a non-empty list, was {grid[k]!r}")
    if efficiency is not None and efficiency not in keys:
        raise InputError(f"efficiency must be one of the grid's parameters {keys}, was {efficiency!r}")
    rows = []
    combos = list(itertools.product(*(list(grid[k]) for k in keys)))
    # One Dask client for the whole sweep (not one cluster per parameter set).
    client, cluster = dask_client(scheduler)
    try:
        rows = _calibrate_rows(
            population,
            paths,
            n_paths,
            keys,
            combos,
            market,
            regime,
            venue,
            budget,
            steps_per_year,
            client,
            chunk_size,
            progress,
        )
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    table = pd.DataFrame(rows)
    table["safe"] = table["p_bad_debt_over_budget"] <= epsilon
    table["best"] = False
    if efficiency is not None and table["safe"].any():
        safe = table[table["safe"]]
        table.loc[safe[efficiency].astype(float).idxmax(), "best"] = True
    table.attrs.update({"budget": budget, "epsilon": epsilon, "n_paths": n_paths, "efficiency": efficiency})
    return table


def _calibrate_rows(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    keys: list[str],
    combos: list[tuple[Any, ...]],
    market: Market,
    regime: MarginRegime,
    venue: VenueSettings,
    budget: float,
    steps_per_year: float,
    scheduler: object,
    chunk_size: int,
    progress: bool,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with Progress(progress, len(combos), f"calibration of {len(combos)} parameter sets") as advance:
        for combo in combos:
            params = dict(zip(keys, combo, strict=True))
            try:
                m, r, v = _with(market, regime, venue, params)
            except InputError as exc:
                raise InputError(f"grid {params}: {exc}") from exc
            mc = monte_carlo(
                population,
                paths,
                n_paths,
                market=m,
                regime=r,
                venue=v,
                budget=budget,
                steps_per_year=steps_per_year,
                scheduler=scheduler,
                chunk_size=chunk_size,
            )
            rows.append({**params, **mc.aggregates})
            advance()
    return rows


def max_safe(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    parameter: Literal["max_leverage", "oi_cap"],
    lo: float,
    hi: float,
    *,
    market: Market,
    regime: MarginRegime | None = None,
    venue: VenueSettings | None = None,
    budget: float = 0.0,
    epsilon: float = 0.01,
    tolerance: float = 0.01,
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 16,
) -> dict[str, Any]:
    """Binary-search the largest cap (``max_leverage`` or ``oi_cap``) in ``[lo, hi]`` with
    ``P(bad debt > budget) <= epsilon``, as Chaos Labs sizes supply caps.

    Assumes the risk is monotone in the cap (a larger cap never reduces bad debt; tested on the
    model).  Returns ``{"parameter", "safe_cap" (None if even lo is unsafe), "steps": [(cap,
    p_exceed), ...]}``; stops when ``hi - lo <= tolerance * hi``.
    """
    if parameter not in ("max_leverage", "oi_cap"):
        raise InputError(f"parameter must be 'max_leverage' or 'oi_cap', was {parameter!r}")
    lo = _pos(lo, "lo")
    hi = _pos(hi, "hi")
    if hi <= lo:
        raise InputError(f"hi must be > lo, was {hi!r} <= {lo!r}")
    _pos(tolerance, "tolerance", upper=1.0)
    regime = regime if regime is not None else MarginRegime()
    client, cluster = dask_client(scheduler)
    try:
        return _bisect(
            population,
            paths,
            n_paths,
            parameter,
            lo,
            hi,
            market,
            regime,
            venue,
            budget,
            epsilon,
            tolerance,
            steps_per_year,
            client,
            chunk_size,
        )
    finally:
        if cluster is not None:
            client.close()
            cluster.close()


def _bisect(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    parameter: str,
    lo: float,
    hi: float,
    market: Market,
    regime: MarginRegime,
    venue: VenueSettings | None,
    budget: float,
    epsilon: float,
    tolerance: float,
    steps_per_year: float,
    scheduler: object,
    chunk_size: int,
) -> dict[str, Any]:
    steps: list[tuple[float, float]] = []

    def p_exceed(cap: float) -> float:
        mc = monte_carlo(
            population,
            paths,
            n_paths,
            market=market,
            regime=replace(regime, max_leverage=cap) if parameter == "max_leverage" else replace(regime, oi_cap=cap),
            venue=venue,
            budget=budget,
            steps_per_year=steps_per_year,
            scheduler=scheduler,
            chunk_size=chunk_size,
        )
        p = mc.aggregates["p_bad_debt_over_budget"]
        steps.append((cap, p))
        return p

    if p_exceed(hi) <= epsilon:
        return {"parameter": parameter, "safe_cap": hi, "steps": steps}
    if p_exceed(lo) > epsilon:
        return {"parameter": parameter, "safe_cap": None, "steps": steps}
    while hi - lo > tolerance * hi:
        mid = 0.5 * (lo + hi)
        if p_exceed(mid) <= epsilon:
            lo = mid
        else:
            hi = mid
    return {"parameter": parameter, "safe_cap": lo, "steps": steps}
