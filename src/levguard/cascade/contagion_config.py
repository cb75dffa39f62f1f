"""The config of a contagion run (``levguard contagion CONFIG.yaml``), validated once.

:func:`load_contagion_config` reads a YAML file into a frozen :class:`ContagionConfig`: the
market (assets and start prices, venues with their books, margin rule, fund and ADL rule,
arbitrage), the lending pools (``pools:``, :mod:`levguard.cascade.market_pools`: venues after the
exchanges, with their drawn borrowers), the accounts (drawn multi-asset accounts and hedged owners), the path model
(``factor_jump`` with stated parameters, or ``bootstrap`` of real bars named by file, relative to
the config) and the Monte Carlo and calibration settings.  Every error names the key and the
value; the CLI prints it on one line.  Keys are documented in docs/cascade.md, "Contagion report
and Monte Carlo (v2)", and in the sample ``levguard init`` writes (``contagion.yaml``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from levguard.cascade.config_file import known_keys
from levguard.cascade.market_montecarlo import CALIBRATION_PARAMS, _grid, _quantiles
from levguard.cascade.market_pools import lending_pool_venue, random_borrowers
from levguard.cascade.market_population import hedged_owners, random_market_population
from levguard.cascade.market_settings import Arbitrage, MarketPopulation, MarketSpec, MarketVenue
from levguard.cascade.population import DEFAULT_LEVERAGE_MIXTURE
from levguard.cascade.settings import MarginRegime, Market, VenueSettings, _int, _pos
from levguard.core.validate import as_float
from levguard.errors import DataError, InputError

__all__ = ["MAX_ACCOUNTS", "MAX_PATHS", "ContagionConfig", "config_from_dict", "load_contagion_config"]

_TOP = {"name", "assets", "paths", "venues", "pools", "arbitrage", "population", "monte_carlo", "calibrate",
        "steps_per_year"}  # fmt: skip
_BOOK = {"depth", "impact", "impact_coef", "sigma_daily", "half_life_steps", "depth_multiplier"}
_REGIME = {
    "kind",
    "mmr",
    "liquidation_fee",
    "partial",
    "partial_min_notional",
    "step_from",
    "step_to",
    "step_mode",
    "outcome",
    "backstop",
}
_VENUE_SETTINGS = ("vault_backstop", "vault_capital", "adl_drawdown", "adl_drawdown_stop", "adl_drawdown_window_steps",
                   "adl_drawdown_min_fund", "fee_to_fund")  # fmt: skip
_VENUE = {"name", "rule", "books", "regime", "insurance_fund", "adl", "latency_steps", "mark_lag_steps", "max_rounds",
          "collateral", "mark_source", *_VENUE_SETTINGS}  # fmt: skip
_POPULATION = {"accounts", "seed", "max_positions", "long_share", "leverage", "notional_median", "notional_sigma",
               "entry_spread", "hedged", "collateral"}  # fmt: skip
_HEDGED = {"asset", "owners", "qty", "long_venue", "short_venue", "long_leverage", "short_leverage"}
_POOL = {"name", "lt", "bonus", "close_factor", "oracle_lag_steps", "full_close_below", "latency_steps", "max_rounds",
         "books", "borrowers", "oracle_source"}  # fmt: skip
_BORROWERS = {"count", "seed", "hf", "notional_median", "notional_sigma"}
_MC = {"paths", "seed", "budget", "alpha", "quantiles", "chunk_size"}
_CAL = {"grid", "venues", "paths"}
_FACTOR = {"model", "n_steps", "seed", "substeps", "params", "pegged"}
_BOOTSTRAP = {"model", "n_steps", "seed", "data", "block", "method", "column", "pegged"}


@dataclass(frozen=True)
class ContagionConfig:
    """A validated contagion config.

    Attributes
    ----------
    name : str
        Shown in reports.
    spec : MarketSpec
        Assets, venues, arbitrage.
    population : MarketPopulation
        Drawn accounts, then the hedged owners, then each lending pool's borrowers.
    paths : dict
        A :func:`~levguard.cascade.market_paths.market_paths_for` spec (with the returns read
        from the bars for ``bootstrap``).
    n_paths, seed : int
        Monte Carlo paths and the path seed.
    budget, alpha : float
        Joint bad-debt budget (quote) and the tolerated ``P(bad debt > budget)``.
    quantiles : tuple of float
        Reported quantiles.
    chunk_size : int
        Paths per task.
    steps_per_year : float
        Steps per year of the paths (annualises the dynamic regime; minutes by default).
    calibrate_grid : dict
        ``insurance_fund`` and/or ``mmr`` values (empty: no calibration section).
    calibrate_venues : tuple of str or None
        Venues the grid applies to (None: all).
    calibrate_paths : int or None
        Paths per grid point (None: ``n_paths``).
    source : str
        The file read.
    """

    name: str
    spec: MarketSpec
    population: MarketPopulation
    paths: dict[str, Any]
    n_paths: int = 100
    seed: int = 0
    budget: float = 0.0
    alpha: float = 0.05
    quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    chunk_size: int = 4
    steps_per_year: float = 525_600.0
    calibrate_grid: dict[str, tuple[float, ...]] = field(default_factory=dict)
    calibrate_venues: tuple[str, ...] | None = None
    calibrate_paths: int | None = None
    source: str = ""


def _section(raw: Mapping[str, Any], key: str, allowed: set[str], *, required: bool = False) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise InputError(f"{key} is required")
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{key} must be a mapping, was {value!r}")
    return known_keys(value, key, allowed)


def _call(what: str, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    # A constructor's own InputError, prefixed with where in the config it came from.
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    except TypeError as exc:
        raise InputError(f"{what}: {exc}") from None


def _assets(raw: Mapping[str, Any]) -> dict[str, float]:
    value = raw.get("assets")
    if not isinstance(value, Mapping) or not value:
        raise InputError(f"assets must map asset names to start prices (e.g. {{BTC: 60000}}), was {value!r}")
    return {str(a): _pos(p, f"assets.{a}") for a, p in value.items()}


def _venue(raw: object, j: int, assets: list[str]) -> MarketVenue:
    where = f"venues[{j}]"
    if not isinstance(raw, Mapping):
        raise InputError(f"{where} must be a mapping with name and books, was {raw!r}")
    v = known_keys(raw, where, _VENUE)
    name = v.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}.name must be a non-empty string, was {name!r}")
    where = f"venues.{name}"
    books = _books(v.get("books"), where, assets)
    rule = str(v.get("rule", "bitmex"))
    reg_raw = v.get("regime", {}) or {}
    if not isinstance(reg_raw, Mapping):
        raise InputError(f"{where}.regime must be a mapping, was {reg_raw!r}")
    overrides = known_keys(reg_raw, f"{where}.regime", _REGIME)
    if "rule" in v:
        regime = _call(f"{where}.regime", MarginRegime.for_venue, rule, **overrides)
    else:
        regime = _call(f"{where}.regime", MarginRegime, **overrides)
    settings = _call(
        where,
        VenueSettings,
        insurance_fund=v.get("insurance_fund", 0.0),
        adl=v.get("adl", True),
        latency_steps=v.get("latency_steps", 0),
        mark_lag_steps=v.get("mark_lag_steps", 0),
        max_rounds=v.get("max_rounds", 100),
        **{k: v[k] for k in _VENUE_SETTINGS if k in v},  # Hyperliquid's vault, Bybit's trigger, fees out
    )
    collateral = v.get("collateral")
    if collateral is not None and not isinstance(collateral, Mapping):
        raise InputError(f"{where}.collateral must map assets to haircuts (e.g. {{USDE: 0.1}}), was {collateral!r}")
    unknown = sorted(str(a) for a in collateral or {} if a not in assets)
    if unknown:
        raise InputError(f"{where}.collateral: {unknown} not one of the assets {assets}")
    venue: MarketVenue = _call(
        where, MarketVenue, name, books, regime, None, settings, rule, collateral, v.get("mark_source", "book")
    )
    return venue


def _books(books_raw: object, where: str, assets: list[str]) -> list[Market]:
    # One book per asset, each {depth, ...}.
    if not isinstance(books_raw, Mapping):
        raise InputError(f"{where}.books must map every asset {assets} to a book {{depth, ...}}, was {books_raw!r}")
    extra = sorted(str(a) for a in books_raw if a not in assets)
    missing = [a for a in assets if a not in books_raw]
    if extra or missing:
        raise InputError(f"{where}.books must have one book per asset {assets}; extra {extra}, missing {missing}")
    books = []
    for a in assets:
        b = books_raw[a]
        if not isinstance(b, Mapping):
            raise InputError(f"{where}.books.{a} must be a mapping with depth, was {b!r}")
        books.append(_call(f"{where}.books.{a}", Market, **known_keys(b, f"{where}.books.{a}", _BOOK)))
    return books


def _pools(
    raw: Mapping[str, Any], assets: dict[str, float], first: int, owner0: int
) -> tuple[list[MarketVenue], list[MarketPopulation]]:
    """The ``pools:`` section: lending pool venues (indices from ``first``) and their borrowers."""
    value = raw.get("pools")
    if value is None:
        return [], []
    if not isinstance(value, list):
        raise InputError(f"pools must be a list of lending pools, was {value!r}")
    names = list(assets)
    venues: list[MarketVenue] = []
    parts: list[MarketPopulation] = []
    owner = owner0
    for j, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InputError(f"pools[{j}] must be a mapping with name, lt, bonus and books, was {item!r}")
        p = known_keys(item, f"pools[{j}]", _POOL)
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise InputError(f"pools[{j}].name must be a non-empty string, was {name!r}")
        where = f"pools.{name}"
        missing = [k for k in ("lt", "bonus", "books") if k not in p]
        if missing:
            raise InputError(f"{where} is missing {missing}")
        pool = _call(
            where,
            lending_pool_venue,
            name,
            names,
            p["lt"],
            p["bonus"],
            p.get("close_factor", 0.5),
            p.get("oracle_lag_steps", 0),
            _books(p["books"], where, names),
            full_close_below=p.get("full_close_below", 0.0),
            latency_steps=p.get("latency_steps", 0),
            max_rounds=p.get("max_rounds", 100),
            oracle_source=p.get("oracle_source", "book"),
        )
        venues.append(pool)
        b_raw = p.get("borrowers")
        if not isinstance(b_raw, Mapping):
            raise InputError(f"{where}.borrowers must be a mapping {{count, hf, ...}}, was {b_raw!r}")
        b = known_keys(b_raw, f"{where}.borrowers", _BORROWERS)
        hf = b.get("hf", [1.05, 2.5])
        if isinstance(hf, str) or not isinstance(hf, Sequence) or len(hf) != 2:
            raise InputError(f"{where}.borrowers.hf must be [low, high], was {hf!r}")
        count = _count(b.get("count", 100), f"{where}.borrowers.count", MAX_ACCOUNTS)
        part = _call(
            f"{where}.borrowers",
            random_borrowers,
            count,
            list(assets.values()),
            pool,
            venue=first + j,
            hf=(hf[0], hf[1]),
            notional=(b.get("notional_median", 20_000.0), b.get("notional_sigma", 1.0)),
            seed=_int(b.get("seed", 0), f"{where}.borrowers.seed"),
            owner_offset=owner,
        )
        owner += count
        parts.append(part)
    return venues, parts


def _venue_index(value: object, names: list[str], what: str) -> int:
    if value not in names:
        raise InputError(f"{what} must be one of the venues {names}, was {value!r}")
    return names.index(str(value))


def _population(raw: Mapping[str, Any], assets: dict[str, float], venues: list[MarketVenue]) -> MarketPopulation:
    # `venues`: the exchange venues (the pools' borrowers are drawn by _pools).  Assets a venue
    # takes as collateral are held, not traded: the crowd's positions are drawn in the others.
    p = _section(raw, "population", _POPULATION, required=True)
    names = [mv.name for mv in venues]
    held = {a for mv in venues for a, _h in mv.haircuts}
    traded = [a for a in assets if a not in held]
    if not traded:
        raise InputError(f"every asset is collateral on some venue ({sorted(held)}); the crowd needs one to trade")
    s0 = [assets[a] for a in traded]
    lev = p.get("leverage", DEFAULT_LEVERAGE_MIXTURE)
    if isinstance(lev, str) or not isinstance(lev, Sequence):
        raise InputError(f"population.leverage must be rows [weight, low, high], was {lev!r}")
    drawn = _call(
        "population",
        random_market_population,
        _count(p.get("accounts", 1000), "population.accounts", MAX_ACCOUNTS),
        s0,
        n_venues=len(names),
        seed=_int(p.get("seed", 0), "population.seed"),
        max_positions=p.get("max_positions"),
        long_share=p.get("long_share", 0.5),
        leverage=[tuple(row) for row in lev],
        notional=(p.get("notional_median", 5_000.0), p.get("notional_sigma", 1.5)),
        entry_spread=p.get("entry_spread", 0.02),
    )
    crowd = _with_held(drawn, list(assets), traded, p.get("collateral"), assets, venues)
    parts = [crowd]
    hedged = p.get("hedged", []) or []
    if not isinstance(hedged, list):
        raise InputError(f"population.hedged must be a list of hedged-owner groups, was {hedged!r}")
    offset = crowd.n
    asset_names = list(assets)
    for j, h in enumerate(hedged):
        where = f"population.hedged[{j}]"
        if not isinstance(h, Mapping):
            raise InputError(f"{where} must be a mapping, was {h!r}")
        h = known_keys(h, where, _HEDGED)
        missing = [k for k in ("asset", "qty", "long_venue", "short_venue") if k not in h]
        if missing:
            raise InputError(f"{where} is missing {missing}")
        if h["asset"] not in traded:
            raise InputError(f"{where}.asset must be one of the traded assets {traded}, was {h['asset']!r}")
        a = asset_names.index(str(h["asset"]))
        long_v = _venue_index(h["long_venue"], names, f"{where}.long_venue")
        short_v = _venue_index(h["short_venue"], names, f"{where}.short_venue")
        if long_v == short_v:
            raise InputError(f"{where}: long_venue and short_venue must differ, were both {h['long_venue']!r}")
        n_owners = _count(h.get("owners", 1), f"{where}.owners", MAX_ACCOUNTS)
        part = _call(
            where,
            hedged_owners,
            n_owners,
            n_assets=len(asset_names),
            asset=a,
            price=assets[asset_names[a]],
            qty=h["qty"],
            long_venue=long_v,
            short_venue=short_v,
            long_leverage=h.get("long_leverage", 3.0),
            short_leverage=h.get("short_leverage", 3.0),
            owner_offset=offset,
        )
        offset += n_owners
        parts.append(part)
    return MarketPopulation.concat(*parts) if len(parts) > 1 else crowd


def _with_held(
    drawn: MarketPopulation,
    names: list[str],
    traded: list[str],
    shares: object,
    assets: dict[str, float],
    venues: list[MarketVenue],
) -> MarketPopulation:
    """The drawn accounts (columns ``traded``) on every asset's column, with ``population.collateral``
    (asset -> share of margin) held by the accounts whose venue takes that asset."""
    k = len(names)
    cols = [names.index(a) for a in traded]
    qty = np.zeros((drawn.n, k))
    entry = np.ones((drawn.n, k))
    qty[:, cols] = np.asarray(drawn.qty)
    entry[:, cols] = np.asarray(drawn.entry)
    pop = MarketPopulation(drawn.venue, drawn.wallet, qty, entry, drawn.owner)
    if shares is None:
        return pop
    if not isinstance(shares, Mapping):
        raise InputError(f"population.collateral must map collateral assets to shares of margin, was {shares!r}")
    venue = np.asarray(pop.venue)
    for a, share in shares.items():
        where = f"population.collateral.{a}"
        takers = [v for v, mv in enumerate(venues) if mv.haircut(str(a)) is not None]
        if not takers:
            raise InputError(f"{where}: no venue takes {a!r} as collateral (venues' collateral sections)")
        _pos(share, where, allow_zero=True, upper=1.0)
        for v in takers:
            frac = np.where(venue == v, float(share), 0.0)
            h = venues[v].collateral_tiers(str(a))
            pop = _call(where, pop.with_collateral, names.index(str(a)), frac, assets[str(a)], h)
    return pop


# Counts bounded as the cascade config bounds them (population.distribution.n, monte_carlo.n_paths):
# population.accounts: 100000000000 asked numpy for 745 GiB and died with a traceback.
MAX_ACCOUNTS = 100_000_000
MAX_PATHS = 10_000_000


def _count(value: object, name: str, hi: int) -> int:
    n = _int(value, name, 1)
    if n > hi:
        raise InputError(f"{name} must be at most {hi:,}, was {n:,}")
    return n


def _bars(data: Mapping[str, Any], assets: list[str], base: Path, column: str) -> Any:
    from levguard.cascade.market_fit import joint_log_returns
    from levguard.data.loaders import load_ohlcv

    missing = [a for a in assets if a not in data]
    if missing:
        raise InputError(f"paths.data must name a bar file for every asset; missing {missing}")
    frames = {}
    for a in assets:
        path = Path(os.path.normpath(base / str(data[a])))
        if not path.exists():
            raise InputError(f"paths.data.{a}: {path} does not exist (the bootstrap needs real bars)")
        try:
            frames[a] = load_ohlcv(path)
        except DataError as exc:
            raise InputError(f"paths.data.{a}: {exc}") from None
    try:
        return joint_log_returns(frames, column=column)
    except InputError as exc:  # e.g. hourly bars beside daily ones
        raise InputError(f"paths.data: {exc}") from None


def _pegged(value: object, assets: dict[str, float]) -> dict[str, dict[str, Any]]:
    # paths.pegged: {asset: {driver, beta, floor, peg}}; the peg defaults to the asset's start price.
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"paths.pegged must map assets to {{driver, beta, floor}}, was {value!r}")
    out = {}
    for a, cfg in value.items():
        if str(a) not in assets:
            raise InputError(f"paths.pegged.{a}: not one of the assets {list(assets)}")
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, Mapping):
            raise InputError(f"paths.pegged.{a} must be a mapping {{driver, beta, floor}}, was {cfg!r}")
        out[str(a)] = {"peg": assets[str(a)], **{str(k): v for k, v in cfg.items()}}
    return out


def _paths(raw: Mapping[str, Any], assets: dict[str, float], base: Path) -> dict[str, Any]:
    value = raw.get("paths")
    if not isinstance(value, Mapping):
        raise InputError(f"paths must be a mapping with model (factor_jump or bootstrap), was {value!r}")
    model = value.get("model")
    names = list(assets)
    pegged = _pegged(value.get("pegged"), assets)
    free = [a for a in names if a not in pegged]
    if model == "factor_jump":
        p = known_keys(value, "paths", _FACTOR)
        params = p.get("params")
        if not isinstance(params, Mapping):
            raise InputError(f"paths.params must be the factor model's parameters (a mapping), was {params!r}")
        params = {"assets": free, **params}
        spec: dict[str, Any] = {
            "model": "factor_jump",
            "params": params,
            "substeps": p.get("substeps", 1),
        }
    elif model == "bootstrap":
        p = known_keys(value, "paths", _BOOTSTRAP)
        data = p.get("data")
        if not isinstance(data, Mapping):
            raise InputError(f"paths.data must map every asset to a bar file, was {data!r}")
        spec = {
            "model": "bootstrap",
            "returns": _bars(data, free, base, str(p.get("column", "close"))),
            "block": p.get("block", 24),
            "method": p.get("method", "stationary"),
        }
    else:
        raise InputError(f"paths.model must be factor_jump or bootstrap, was {model!r}")
    spec.update(assets=names, s0=list(assets.values()), n_steps=p.get("n_steps", 240), seed=p.get("seed", 0))
    if pegged:
        spec["pegged"] = pegged
    from levguard.cascade.market_paths import market_paths_for

    _call("paths", market_paths_for, spec, 1)  # every value checked here, once
    return spec


def config_from_dict(raw: object, base: Path, source: str = "") -> ContagionConfig:
    """Validate a parsed config (``base``: the folder relative paths start from)."""
    if not isinstance(raw, Mapping):
        raise InputError(f"the config must be a mapping of sections, was {type(raw).__name__}")
    known_keys(raw, "config", _TOP)
    assets = _assets(raw)
    names = list(assets)
    venues_raw = raw.get("venues")
    if not isinstance(venues_raw, list) or not venues_raw:
        raise InputError(f"venues must be a non-empty list of venues, was {venues_raw!r}")
    venues = [_venue(v, j, names) for j, v in enumerate(venues_raw)]
    vnames = [mv.name for mv in venues]
    if len(set(vnames)) != len(vnames):  # before the population names one (its error misled)
        raise InputError(f"venues must have distinct names, were {vnames}")
    crowd = _population(raw, assets, venues)
    pools, borrowers = _pools(raw, assets, len(venues), int(np.asarray(crowd.owner).max(initial=-1)) + 1)
    population = MarketPopulation.concat(crowd, *borrowers) if borrowers else crowd
    arb = _section(raw, "arbitrage", {"speed", "capacity"})
    speed = as_float(arb.get("speed", 0.0), "arbitrage.speed")  # numbers, or YAML's "5.0e6" strings
    capacity = as_float(arb.get("capacity", float("inf")), "arbitrage.capacity")
    arbitrage = _call("arbitrage", Arbitrage, speed, capacity)
    spec = _call("market", MarketSpec, names, [*venues, *pools], arbitrage)
    vnames = [mv.name for mv in spec.venues]
    paths = _paths(raw, assets, base)
    mc = _section(raw, "monte_carlo", _MC)
    cal = _section(raw, "calibrate", _CAL)
    grid = _grid(cal["grid"]) if "grid" in cal else {}
    if cal and not grid:
        raise InputError(f"calibrate.grid must map {list(CALIBRATION_PARAMS)} to lists of values")
    cal_venues = cal.get("venues")
    if cal_venues is not None:
        if isinstance(cal_venues, str) or not isinstance(cal_venues, list) or not cal_venues:
            raise InputError(f"calibrate.venues must be a list of venue names, was {cal_venues!r}")
        for j, v in enumerate(cal_venues):
            _venue_index(v, vnames, f"calibrate.venues[{j}]")
    elif cal and pools:  # the grid's fund and mmr are exchange settings: a pool's follow its lending terms
        cal_venues = [mv.name for mv in venues]
    seed = mc.get("seed", paths["seed"])
    paths["seed"] = _int(seed, "monte_carlo.seed")
    return ContagionConfig(
        name=str(raw.get("name", "contagion")),
        spec=spec,
        population=population,
        paths=paths,
        n_paths=_count(mc.get("paths", 100), "monte_carlo.paths", MAX_PATHS),
        seed=paths["seed"],
        budget=_pos(mc.get("budget", 0.0), "monte_carlo.budget", allow_zero=True),
        alpha=_pos(mc.get("alpha", 0.05), "monte_carlo.alpha", allow_zero=True, upper=1.0),
        quantiles=_call("monte_carlo", _quantiles, mc.get("quantiles", [0.5, 0.95, 0.99])),
        chunk_size=_int(mc.get("chunk_size", 4), "monte_carlo.chunk_size", 1),
        steps_per_year=_pos(raw.get("steps_per_year", 525_600.0), "steps_per_year"),
        calibrate_grid=grid,
        calibrate_venues=None if cal_venues is None else tuple(str(v) for v in cal_venues),
        calibrate_paths=None if cal.get("paths") is None else _count(cal["paths"], "calibrate.paths", MAX_PATHS),
        source=source,
    )


def load_contagion_config(path: str | Path) -> ContagionConfig:
    """Read and validate a contagion config file (YAML); relative paths are relative to the file.

    Raises
    ------
    InputError
        The file is missing or is not YAML, or a value is bad (the message names the file, the
        key and the value).
    """
    from levguard.cascade.config_file import load_config_file

    return load_config_file(path, "contagion", config_from_dict)
