"""Cascade-simulator configuration (``levguard cascade`` and ``levguard calibrate``), validated by pydantic.

Example::

    population: {distribution: {n: 20000, price: 60000, seed: 1, total_notional: 2.0e9}}   # or {file: positions.csv}
    paths: {model: jump, s0: 60000, sigma: 0.8, n_steps: 1440, dt_years: 1.9e-6, seed: 7,
            lam: 200, jump_mean: -0.02, jump_std: 0.03}
    market: {depth: 2.0e6, impact: linear, half_life_steps: 30,
             depth_multiplier: {shock_step: 0, floor: 0.5, recovery_half_life: 600}}
    regime: {kind: static, mmr: 0.005, liquidation_fee: 0.005, partial: 1.0}  # or liquidation: hyperliquid
    venue: {insurance_fund: 5.0e6, adl: true, latency_steps: 0, mark_lag_steps: 0}
    monte_carlo: {n_paths: 200, budget: 1.0e6}      # optional; without it one path (path_index)
    calibrate:                                       # for `levguard calibrate`
      grid: {mmr: [0.004, 0.005, 0.01], max_leverage: [20, 50, 100]}
      epsilon: 0.01
      efficiency: max_leverage
      x: max_leverage
      y: mmr
      max_safe: {parameter: max_leverage, lo: 5, hi: 125}
    output: {report: cascade.html, csv: cascade.csv}

Every key is described in docs/cascade.md.  This module does not import :mod:`levguard.cascade`:
it validates the file and hands plain dicts (:func:`population_kwargs`, :func:`path_spec`,
:func:`market_kwargs`, :func:`regime_kwargs`, :func:`venue_kwargs`) to the CLI, which builds
the simulator's objects.  Errors name the key path and the value
(``config.yaml: regime.mmr: must be greater than 0 (was -0.1)``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from levguard.config._base import AsTuple, Finite, NonNeg, Pos, _Model, _read_file
from levguard.core.validate import VOL_RANGE
from levguard.errors import ConfigError, InputError

__all__ = [
    "CALIBRATION_PARAMS",
    "CascadeFile",
    "calibration_plan",
    "load_cascade_file",
    "market_kwargs",
    "parse_cascade_config",
    "path_spec",
    "population_kwargs",
    "regime_kwargs",
    "resolve_tiers",
    "steps_per_year",
    "venue_kwargs",
]

Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]
Steps = Annotated[int, Field(ge=1, le=100_000_000)]
_MAX_EVENTS = 100_000_000  # the event table of one path: 64 bytes a record

# ``scheduler``: null, "local", or the address of a Dask scheduler (as in config.backtest).
_SCHEDULER = re.compile(r"^(local|(tcp|tls|ucx|inproc|ws|wss)://\S+)$")


# --------------------------------------------------------------------------- population


class Distribution(_Model):
    """Arguments of :func:`levguard.cascade.population.population_from_distribution`."""

    n: Annotated[int, Field(ge=1, le=100_000_000)]
    price: Pos
    seed: Seed
    long_share: Share | None = None
    leverage: Pos | Annotated[list[Annotated[tuple[Pos, Pos, Pos], AsTuple]], Field(min_length=1)] | None = None
    notional: Annotated[tuple[Pos, NonNeg], AsTuple] | None = None
    entry_spread: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)] | None = None
    entry_prices: Annotated[list[Pos], Field(min_length=1)] | None = None
    cross_share: Share | None = None
    max_leverage: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = None
    mmr: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] | None = None
    total_notional: Pos | None = None

    @model_validator(mode="after")
    def _one_entry_rule(self) -> Distribution:
        if self.entry_spread is not None and self.entry_prices is not None:
            raise ValueError("give entry_spread or entry_prices, not both")
        return self


class PopulationConfig(_Model):
    """``distribution`` (drawn accounts) or ``file`` (a CSV/Parquet snapshot of positions)."""

    distribution: Distribution | None = None
    file: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PopulationConfig:
        if (self.distribution is None) == (self.file is None):
            raise ValueError("give exactly one of `distribution` or `file`")
        return self


# --------------------------------------------------------------------------- paths


# An annualised volatility as levguard takes one elsewhere (core.validate.VOL_RANGE: at most 20,
# 2,000 % a year); above it the paths overflowed and the error named no field (an audit).
AnnualVol = Annotated[float, Field(ge=0, le=VOL_RANGE[1], allow_inf_nan=False)]


class _Diffusion(_Model):
    s0: Pos
    sigma: AnnualVol
    n_steps: Steps
    dt_years: Pos
    seed: Seed
    mu: Finite | None = None


class GbmPaths(_Diffusion):
    model: Literal["gbm"]


class JumpPaths(_Diffusion):
    model: Literal["jump", "merton"]
    lam: NonNeg | None = None
    jump_mean: Finite | None = None
    jump_std: NonNeg | None = None


class GarchPaths(_Diffusion):
    model: Literal["garch_t", "garch"]
    sigma: Annotated[float, Field(gt=0, le=VOL_RANGE[1], allow_inf_nan=False)]
    alpha: NonNeg | None = None
    beta: NonNeg | None = None
    dof: Annotated[float, Field(gt=2)] | None = None
    steps_per_update: Steps | None = None

    @model_validator(mode="after")
    def _stationary(self) -> GarchPaths:
        a = 0.07 if self.alpha is None else self.alpha
        b = 0.90 if self.beta is None else self.beta
        if not a + b < 1.0:
            raise ValueError(f"alpha + beta must be < 1 (stationary variance), was {a + b!r}")
        return self


class CrashPaths(_Model):
    model: Literal["crash"]
    name: Annotated[str, Field(min_length=1)]
    s0: Pos
    n_steps: Annotated[int, Field(ge=3, le=100_000_000)]
    seed: Seed | None = None
    include_rebound: bool | None = None
    sigma: NonNeg | None = None


class UserPaths(_Model):
    model: Literal["user"]
    path: Annotated[list[Pos], Field(min_length=2)] | None = None
    file: Annotated[str, Field(min_length=1)] | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> UserPaths:
        if (self.path is None) == (self.file is None):
            raise ValueError("give exactly one of `path` (a list of prices) or `file` (a CSV/Parquet of prices)")
        if self.column is not None and self.file is None:
            raise ValueError("`column` applies to `file` only")
        return self


PathsConfig = Annotated[GbmPaths | JumpPaths | GarchPaths | CrashPaths | UserPaths, Field(discriminator="model")]
_PATH_TAGS = ("gbm", "jump", "merton", "garch_t", "garch", "crash", "user")


# --------------------------------------------------------------------------- market, regime, venue


class DepthShock(_Model):
    """A liquidity shock: :func:`levguard.cascade.price_paths.depth_multiplier_path`."""

    shock_step: Annotated[int, Field(ge=0)] = 0
    floor: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1.0
    recovery_half_life: Annotated[float, Field(gt=0)] = math.inf


class MarketConfig(_Model):
    depth: Pos
    impact: Literal["linear", "sqrt"] = "linear"
    impact_coef: NonNeg = 1.0
    sigma_daily: NonNeg = 0.03
    half_life_steps: Annotated[float, Field(ge=0)] = 60.0
    depth_multiplier: DepthShock | Annotated[list[Pos], Field(min_length=2)] | None = None


class VenueTiers(_Model):
    """The margin engine's packaged tiers of ``symbol`` on ``venue``."""

    venue: str = "binance-usdm"
    symbol: str = "BTCUSDT"


class TierRows(_Model):
    """Tier rows with their basis: ``quantity`` for tiers by position size (OKX's contracts)."""

    basis: Literal["notional", "quantity"] = "notional"
    rows: Annotated[list[dict[str, Any]], Field(min_length=1)]


class RegimeConfig(_Model):
    kind: Literal["static", "tiered", "dynamic"] = "static"
    mmr: Annotated[float, Field(gt=0, le=0.5, allow_inf_nan=False)] = 0.005
    tiers: VenueTiers | TierRows | Annotated[list[dict[str, Any]], Field(min_length=1)] | None = None
    liquidation_fee: Annotated[float, Field(ge=0, le=0.1, allow_inf_nan=False)] = 0.005
    partial: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | Literal["tier", "restore"] = 1.0
    partial_min_notional: NonNeg = 0.0
    step_from: Annotated[int, Field(ge=0, lt=2**63)] = 1
    step_to: Annotated[int, Field(ge=-1, lt=2**63)] = -1
    step_mode: Literal["each_trigger", "once", "until_safe"] = "each_trigger"
    outcome: Literal["takeover", "book"] = "takeover"
    backstop: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    liquidation: str | None = None
    max_leverage: Pos | None = None
    oi_cap: Pos | None = None
    base_vol: Pos = 0.6
    window_steps: Annotated[int, Field(ge=2)] = 1440
    every_steps: Annotated[int, Field(ge=1)] = 60
    min_scale: Pos = 1.0
    max_scale: Pos = 3.0

    @model_validator(mode="after")
    def _consistent(self) -> RegimeConfig:
        if self.kind == "tiered" and self.tiers is None:
            raise ValueError("the tiered regime needs `tiers` ({venue, symbol}, a list of rows or {basis, rows})")
        if self.max_scale < self.min_scale:
            raise ValueError(f"max_scale must be >= min_scale, was {self.max_scale!r} < {self.min_scale!r}")
        if self.liquidation is not None:
            from levguard.core.rules import venue_names

            if self.liquidation not in venue_names():
                raise ValueError(f"liquidation must be one of {', '.join(venue_names())}, was {self.liquidation!r}")
        return self


class OracleCorrupt(_Model):
    source: Annotated[int, Field(ge=0)] = 0
    from_: Annotated[int, Field(ge=0, alias="from")] = 0
    to: Annotated[int, Field(ge=0)] | None = None
    factor: Pos = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> OracleCorrupt:
        _interval(self.from_, self.to)
        return self


class OracleStale(_Model):
    source: Annotated[int, Field(ge=0)] = 0
    from_: Annotated[int, Field(ge=0, alias="from")] = 0
    to: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> OracleStale:
        _interval(self.from_, self.to)
        return self


def _interval(start: int, end: int | None) -> None:
    # An oracle event's steps: from <= to (a reversed interval was accepted and did nothing).
    if end is not None and end < start:
        raise ValueError(f"to must be >= from, was {end} < {start}")


class OracleConfig(_Model):
    sources: Annotated[int, Field(ge=1, le=64)] = 1
    corrupt: list[OracleCorrupt] = Field(default_factory=list)
    stale: list[OracleStale] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sources(self) -> OracleConfig:
        checks: list[tuple[str, list[int]]] = [
            ("corrupt", [ev.source for ev in self.corrupt]),
            ("stale", [ev.source for ev in self.stale]),
        ]
        for what, sources in checks:
            for i, src in enumerate(sources):
                if src >= self.sources:
                    raise ValueError(f"{what}[{i}].source must be < sources ({self.sources}), was {src}")
        return self


class VenueConfig(_Model):
    insurance_fund: NonNeg = 0.0
    adl: bool = True
    latency_steps: Annotated[int, Field(ge=0)] = 0
    mark_lag_steps: Annotated[int, Field(ge=0)] = 0
    oracle: OracleConfig | None = None
    max_rounds: Annotated[int, Field(ge=1)] = 100


# --------------------------------------------------------------------------- runs and outputs


class MonteCarloConfig(_Model):
    n_paths: Annotated[int, Field(ge=1, le=10_000_000)]
    budget: NonNeg = 0.0


class MaxSafeConfig(_Model):
    parameter: Literal["max_leverage", "oi_cap"] = "max_leverage"
    lo: Pos
    hi: Pos
    tolerance: Annotated[float, Field(gt=0, le=1)] = 0.01

    @model_validator(mode="after")
    def _order(self) -> MaxSafeConfig:
        if not self.hi > self.lo:
            raise ValueError(f"hi must be > lo, was {self.hi!r} <= {self.lo!r}")
        return self


class CalibrationOutput(_Model):
    report: str | None = "calibration.html"
    csv: str | None = "calibration.csv"
    json_path: str | None = Field(default=None, alias="json")


CALIBRATION_PARAMS: dict[str, str] = {
    "kind": "regime",
    "mmr": "regime",
    "liquidation_fee": "regime",
    "partial": "regime",
    "partial_min_notional": "regime",
    "outcome": "regime",
    "backstop": "regime",
    "max_leverage": "regime",
    "oi_cap": "regime",
    "base_vol": "regime",
    "every_steps": "regime",
    "max_scale": "regime",
    "insurance_fund": "venue",
    "adl": "venue",
    "latency_steps": "venue",
    "mark_lag_steps": "venue",
    "depth": "market",
    "half_life_steps": "market",
}
"""Parameters ``calibrate.grid`` may sweep, and the section each belongs to (the parameters of
:func:`levguard.cascade.simulator.calibrate`)."""


class CalibrateConfig(_Model):
    grid: Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]
    n_paths: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    budget: NonNeg | None = None
    epsilon: Annotated[float, Field(ge=0, le=1)] = 0.01
    efficiency: str | None = None
    x: str | None = None
    y: str | None = None
    max_safe: MaxSafeConfig | None = None
    output: CalibrationOutput = CalibrationOutput()

    @field_validator("grid")
    @classmethod
    def _known(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key in grid:
            if key not in CALIBRATION_PARAMS:
                raise ValueError(f"unknown parameter {key!r}; use one of {', '.join(CALIBRATION_PARAMS)}")
        return grid

    @model_validator(mode="after")
    def _axes(self) -> CalibrateConfig:
        keys = list(self.grid)
        for role in ("efficiency", "x", "y"):
            value = getattr(self, role)
            if value is not None and value not in keys:
                raise ValueError(f"{role} must be one of the grid's parameters {keys}, was {value!r}")
        if self.x is not None and self.x == self.y:
            raise ValueError(f"x and y must differ (both were {self.x!r})")
        return self


class Output(_Model):
    report: str | None = "cascade.html"
    csv: str | None = "cascade.csv"
    paths_csv: str | None = None
    events_csv: str | None = None
    json_path: str | None = Field(default=None, alias="json")


class CascadeFile(_Model):
    """A cascade file: accounts, price paths, market, margin regime, venue, and what to run."""

    population: PopulationConfig
    paths: PathsConfig
    market: MarketConfig
    regime: RegimeConfig = RegimeConfig()
    venue: VenueConfig = VenueConfig()
    monte_carlo: MonteCarloConfig | None = None
    calibrate: CalibrateConfig | None = None
    path_index: Annotated[int, Field(ge=0, lt=2**61)] = 0
    steps_per_year: Pos | None = None
    # At most 100 M event records (6.4 GB): 1e11 asked numpy for 5.8 TiB and died with a traceback.
    max_events: Annotated[int, Field(ge=0, le=_MAX_EVENTS)] | None = None
    # Dask: a LocalCluster by default (the "LocalCluster by default"); null or "none"
    # runs in this process (numba threads), an address connects to a running scheduler.
    scheduler: str | None = "local"
    chunk_size: Annotated[int, Field(ge=1)] = 16
    output: Output = Output()

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str | None) -> str | None:
        if v is None or v == "none":
            return None
        if not _SCHEDULER.match(v):
            raise ValueError("must be null, 'none', 'local' or a Dask scheduler address such as 'tcp://host:8786'")
        return v


# --------------------------------------------------------------------------- loading


def _loc(loc: tuple[Any, ...]) -> str:
    # The key path of a pydantic error location without the union members pydantic names
    # ("paths.jump.sigma", "market.depth_multiplier.DepthShock.floor", "leverage.list[...]").
    out = ""
    prev = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            noise = "[" in text or "-" in text or text[:1].isupper() or (prev == "paths" and text in _PATH_TAGS)
            if not noise:
                out += ("." if out else "") + text
        prev = part
    return out


def _format(exc: ValidationError, source: str, where_of: Callable[[str], str] | None = None) -> str:
    """One line naming the key path, the problem and the value, as :mod:`levguard.config.policies`
    does; of a union's alternatives, the error that got furthest into the value is reported."""
    errors = exc.errors()
    err = max(errors, key=lambda e: len(e.get("loc", ())))
    where = _loc(tuple(err.get("loc", ())))
    if where_of is not None:
        where = where_of(where)
    value = err.get("input")
    msg = str(err.get("msg", "invalid")).replace("Input should be", "must be").removeprefix("Value error, ")
    kind = err.get("type")
    if kind == "missing":
        msg = "missing key"
    elif kind == "extra_forbidden":
        msg = "unknown key (check the spelling)"
    elif kind == "union_tag_invalid":
        msg = f"unknown model; use one of {err.get('ctx', {}).get('expected_tags', '')!s}"
        value = value.get("model") if isinstance(value, Mapping) else value
        where = f"{where}.model" if where else "model"
    elif kind == "union_tag_not_found":
        msg = "missing key"
        where = f"{where}.model" if where else "model"
    more = f" ({len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    was = "" if kind in ("missing", "union_tag_not_found") or isinstance(value, Mapping) else f" (was {value!r})"
    return f"{source}: {where or '(top level)'}: {msg}{was}{more}"


def _validate(raw: Mapping[str, Any], source: str) -> CascadeFile:
    try:
        cfg = CascadeFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format(exc, source)) from None
    p = cfg.paths
    if isinstance(p, UserPaths) and p.path is not None and cfg.path_index > 0:
        raise ConfigError(f"{source}: path_index: must be 0 with one user path (was {cfg.path_index})")
    n = getattr(p, "n_steps", None)
    dm = cfg.market.depth_multiplier
    if n is not None and isinstance(dm, list) and len(dm) != n + 1:
        raise ConfigError(
            f"{source}: market.depth_multiplier: must hold paths.n_steps + 1 = {n + 1} values, had {len(dm)}"
        )
    return cfg


def _check_grid(cfg: CascadeFile, source: str) -> None:
    # Each grid value through its section's model, so a bad value gets the same message as in the
    # section, at the grid's key path: "calibrate.grid.mmr[1]: must be greater than 0 (was -0.1)".
    cal = cfg.calibrate
    if cal is None:
        return
    sections: dict[str, tuple[type[_Model], _Model]] = {
        "regime": (RegimeConfig, cfg.regime),
        "venue": (VenueConfig, cfg.venue),
        "market": (MarketConfig, cfg.market),
    }
    for key, values in cal.grid.items():
        model, current = sections[CALIBRATION_PARAMS[key]]
        for i, value in enumerate(values):
            try:
                model.model_validate({**current.model_dump(by_alias=True, exclude_none=True), key: value})
            except ValidationError as exc:
                at = f"calibrate.grid.{key}[{i}]"

                def where(p: str, at: str = at, k: str = key) -> str:
                    return at + p[len(k) :]

                raise ConfigError(_format(exc, source, where)) from None


def parse_cascade_config(raw: object, source: str = "config") -> CascadeFile:
    """Validate a cascade mapping; errors name the key path and the value.

    Raises
    ------
    ConfigError
        One line: ``source: key.path: problem (was value)``.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: must be an object, was {type(raw).__name__}")
    cfg = _validate(raw, source)
    _check_grid(cfg, source)
    resolve_tiers(cfg.regime.tiers, source)
    return cfg


def load_cascade_file(path: str | Path) -> CascadeFile:
    """Read and validate a YAML/JSON cascade file (:func:`parse_cascade_config`)."""
    return parse_cascade_config(_read_file(path), str(path))


# --------------------------------------------------------------------------- plain arguments


def population_kwargs(cfg: CascadeFile) -> dict[str, Any]:
    """Keyword arguments of :func:`levguard.cascade.population.population_from_distribution`
    (``{"file": path}`` for a snapshot)."""
    pop = cfg.population
    if pop.file is not None:
        return {"file": pop.file}
    assert pop.distribution is not None
    out = pop.distribution.model_dump(exclude_none=True)
    if "leverage" in out and isinstance(out["leverage"], list):
        out["leverage"] = [tuple(c) for c in out["leverage"]]
    return out


def path_spec(cfg: CascadeFile) -> dict[str, Any]:
    """The path spec of :func:`levguard.cascade.price_paths.paths_for` (defaults left to the model).

    A user path given as ``file`` is returned as ``{"model": "user", "file": ..., "column": ...}``:
    the CLI reads the prices and passes ``{"model": "user", "path": prices}``.
    """
    return cfg.paths.model_dump(exclude_none=True)


def market_kwargs(cfg: CascadeFile) -> dict[str, Any]:
    """Keyword arguments of :class:`levguard.cascade.simulator.Market`."""
    out = cfg.market.model_dump(exclude_none=True)
    return out


def resolve_tiers(tiers: VenueTiers | TierRows | list[dict[str, Any]] | None, source: str = "config") -> Any:
    """The :class:`levguard.core.tiers.TierTable` of ``regime.tiers``: the margin engine's packaged
    tiers of ``{venue, symbol}``, or explicit rows (our shape, Binance's or ccxt's), or
    ``{basis: quantity, rows}`` for tiers by position size (no deduction)."""
    from levguard.core.instruments import ContractKind
    from levguard.core.margin import builtin_tiers
    from levguard.core.rules import get_venue
    from levguard.core.tiers import TierTable

    if tiers is None:
        return None
    if isinstance(tiers, VenueTiers):
        try:
            model = get_venue(tiers.venue)
        except InputError as exc:
            raise ConfigError(f"{source}: regime.tiers.venue: {exc}") from None
        # The cascade's contracts are linear: a symbol the venue reads as inverse has no table here.
        table = builtin_tiers(model, tiers.symbol, ContractKind.LINEAR)
        if table is None:
            have = ", ".join(sorted(model.builtin_tiers)) or "none"
            raise ConfigError(
                f"{source}: regime.tiers.symbol: {model.name} has no packaged tiers for {tiers.symbol!r} "
                f"(packaged: {have}); give the rows instead"
            )
        return table
    rows, basis = (tiers.rows, tiers.basis) if isinstance(tiers, TierRows) else (tiers, "notional")
    where = "regime.tiers.rows" if isinstance(tiers, TierRows) else "regime.tiers"
    try:
        return TierTable.from_rows(
            rows, source=f"{source}: regime.tiers", where=where, deduction=basis == "notional", basis=basis
        )
    except InputError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def regime_kwargs(cfg: CascadeFile, source: str = "config") -> dict[str, Any]:
    """Keyword arguments of :class:`levguard.cascade.simulator.MarginRegime` (tiers resolved).

    With ``liquidation: <venue>`` the venue's liquidation rule sets ``outcome``, ``backstop``,
    ``partial`` (and ``partial_min_notional`` or the ``step_*`` fields) and, when the rule has
    one, ``liquidation_fee``
    (:meth:`levguard.cascade.simulator.MarginRegime.for_venue`); fields written in the file win.
    """
    out = cfg.regime.model_dump(exclude={"tiers", "liquidation"})
    out["tiers"] = resolve_tiers(cfg.regime.tiers, source)
    if cfg.regime.liquidation is not None:
        from levguard.core.liquidation_outcome import cascade_regime_fields

        given = cfg.regime.model_fields_set
        out.update({k: v for k, v in cascade_regime_fields(cfg.regime.liquidation).items() if k not in given})
        if out["tiers"] is not None:  # as the venue applies them (OKX, BitMEX: VenueModel.read_tiers)
            from levguard.core.rules import get_venue

            out["tiers"] = get_venue(cfg.regime.liquidation).read_tiers(out["tiers"])
    return out


def venue_kwargs(cfg: CascadeFile) -> dict[str, Any]:
    """Keyword arguments of :class:`levguard.cascade.simulator.VenueSettings` (the oracle as a mapping)."""
    out = cfg.venue.model_dump(exclude={"oracle"})
    o = cfg.venue.oracle
    if o is not None:
        out["oracle"] = {
            "sources": o.sources,
            "corrupt": [{k: v for k, v in ev.model_dump(by_alias=True).items() if v is not None} for ev in o.corrupt],
            "stale": [{k: v for k, v in ev.model_dump(by_alias=True).items() if v is not None} for ev in o.stale],
        }
    return out


def calibration_plan(cfg: CascadeFile, source: str = "config") -> dict[str, Any]:
    """The run settings of ``calibrate``: grid, n_paths and budget (``calibrate`` or else
    ``monte_carlo``), epsilon, efficiency, heatmap axes and the binary search.

    The heatmap axes default to ``efficiency`` (or the first grid parameter) for ``x`` and the
    first other parameter for ``y`` (none with a one-parameter grid).

    Raises
    ------
    ConfigError
        No ``calibrate`` section, or no ``n_paths`` in either section.
    """
    cal = cfg.calibrate
    if cal is None:
        raise ConfigError(f"{source}: calibrate: missing key (levguard calibrate needs a `calibrate:` section)")
    mc = cfg.monte_carlo
    n_paths = cal.n_paths if cal.n_paths is not None else (mc.n_paths if mc is not None else None)
    if n_paths is None:
        raise ConfigError(f"{source}: calibrate.n_paths: missing key (give it here or in `monte_carlo`)")
    budget = cal.budget if cal.budget is not None else (mc.budget if mc is not None else 0.0)
    keys = list(cal.grid)
    x = cal.x or cal.efficiency or keys[0]
    y = cal.y or next((k for k in keys if k != x), None)
    if y == x:
        raise ConfigError(f"{source}: calibrate.y: must differ from x (both were {x!r})")
    return {
        "grid": {k: list(v) for k, v in cal.grid.items()},
        "n_paths": n_paths,
        "budget": budget,
        "epsilon": cal.epsilon,
        "efficiency": cal.efficiency,
        "x": x,
        "y": y,
        "max_safe": cal.max_safe.model_dump() if cal.max_safe is not None else None,
    }


def steps_per_year(cfg: CascadeFile, crash_hours: Callable[..., float] | None = None) -> float:
    """Steps per year: ``steps_per_year`` if given, else ``1 / dt_years`` of a diffusion path,
    ``8760 / hours per step`` of a crash shape (``crash_hours(name, n_steps, include_rebound=...)``,
    :func:`levguard.cascade.price_paths.crash_step_hours`), else minutes."""
    if cfg.steps_per_year is not None:
        return cfg.steps_per_year
    p = cfg.paths
    if isinstance(p, _Diffusion):
        return 1.0 / p.dt_years
    if isinstance(p, CrashPaths) and crash_hours is not None:
        rebound = True if p.include_rebound is None else p.include_rebound
        return 8_760.0 / crash_hours(p.name, p.n_steps, include_rebound=rebound)
    return 525_600.0
