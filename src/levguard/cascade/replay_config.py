"""The config of a historical crash replay (``levguard replay CONFIG.yaml``), validated once.

:func:`load_replay_config` reads a YAML file into a frozen :class:`ReplayConfig`; paths in it are
relative to the file.  The parameters split in two: :class:`ReplayParams`, the few asset-free
numbers a calibration fits (population scale and leverage, venue mark lag, book, fund), and the
per-asset :class:`ReplayAsset` entries, which hold only what is observable about an asset (its
klines, the venue's published maximum leverage, optionally its open interest).  No parameter is
per asset and tuned: an asset enters the model only through its own data.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from levguard.cascade.config_file import known_keys
from levguard.cascade.replay_data import window_ns
from levguard.cascade.settings import _int
from levguard.core.rules.adl import ADL_VENUES
from levguard.core.validate import instance_of, number, path_arg, show
from levguard.errors import InputError

__all__ = [
    "ObservedFigures",
    "ReplayAsset",
    "ReplayConfig",
    "ReplayParams",
    "config_from_dict",
    "load_replay_config",
]


def _num(value: object, name: str, *, lo: float = 0.0, lo_open: bool = False, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a number, was {value!r}")
    v = number(value, name)  # an int past float64's range is refused by name
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        lower = f"> {lo:g}" if lo_open else f">= {lo:g}"
        upper = f" and <= {hi:g}" if hi < math.inf else ""
        raise InputError(f"{name} must be finite and {lower}{upper}, was {value!r}")
    return v


@dataclass(frozen=True)
class ReplayParams:
    """The asset-free parameters of a replay (what :func:`~levguard.cascade.replay_calibrate.calibrate_replay` fits).

    Attributes
    ----------
    n_accounts : int
        Accounts drawn per asset (their sizes are rescaled to the open interest).
    oi_to_daily_volume : float
        The venue's open interest of an asset (one side, quote) as a multiple of the asset's
        daily quote volume on the reference perpetual (:attr:`AssetMarket.daily_volume`), used
        when the asset gives no ``open_interest_usd``.
    long_share : float
        Probability that an account is long (0.648 on the BTC accounts of the 2025-10-10 data).
    leverage_median, leverage_sigma : float
        Lognormal leverage (notional at entry / wallet) of an account, clipped to
        ``[1, max_leverage]`` of its asset.
    notional_sigma : float
        Lognormal dispersion of position sizes.
    entry_horizon_days : float
        Entries are ``s0 exp(N(0, sigma_daily sqrt(h)))``: positions opened over about ``h``
        days of the asset's own volatility.
    volume_share : float
        The venue's book: square-root impact with ``depth = volume_share x daily volume``.
    impact_coef : float
        ``Y`` of the square-root law.
    half_life_seconds : float
        Resilience of the book's impact.
    depth_collapse : bool
        Scale the book's depth every step by the trailing bars' volume and range
        (:func:`~levguard.cascade.replay_data.trailing_depth_multiplier`): ``m_t = clip((V_t /
        V_0) (sigma_0 / sigma_t)^2, depth_floor, 1)``.  False: the static look-back book.  On by
        default: it fits BTC on 2025-10-10 about as well as the static book (docs/cascade.md).
    depth_window_minutes : int
        Trailing 1-minute bars of ``V_t`` and ``sigma_t`` (at most the look-back).
    depth_floor : float
        Lower bound of the depth multiplier, in ``(0, 1]``.
    mark_lag_seconds, latency_seconds : float
        The venue's mark lags its traded price by this much; liquidations execute this long
        after the trigger (rounded to steps).
    fund_to_oi : float
        The insurance fund that covers negative equity, as a fraction of the open interest.
    backstop : float
        Equity / maintenance below which a position is taken over whole (0: never; see the
        docs on why Hyperliquid's replay uses 0).
    """

    n_accounts: int = 20_000
    oi_to_daily_volume: float = 0.08
    long_share: float = 0.65
    leverage_median: float = 25.0
    leverage_sigma: float = 0.8
    notional_sigma: float = 1.5
    entry_horizon_days: float = 2.0
    volume_share: float = 0.3
    impact_coef: float = 1.0
    half_life_seconds: float = 60.0
    depth_collapse: bool = True
    depth_window_minutes: int = 15
    depth_floor: float = 0.05
    mark_lag_seconds: float = 120.0
    latency_seconds: float = 0.0
    fund_to_oi: float = 0.002
    backstop: float = 0.0

    def __post_init__(self) -> None:
        _int(self.n_accounts, "population.n_accounts", 10)
        _num(self.oi_to_daily_volume, "population.oi_to_daily_volume", lo_open=True)
        _num(self.long_share, "population.long_share", hi=1.0)
        _num(self.leverage_median, "population.leverage_median", lo=1.0)
        _num(self.leverage_sigma, "population.leverage_sigma", hi=5.0)
        _num(self.notional_sigma, "population.notional_sigma", hi=5.0)
        _num(self.entry_horizon_days, "population.entry_horizon_days")
        _num(self.volume_share, "book.volume_share", lo_open=True)
        _num(self.impact_coef, "book.impact_coef")
        _num(self.half_life_seconds, "book.half_life_seconds")
        if not isinstance(self.depth_collapse, bool):
            raise InputError(f"book.depth_collapse must be true or false, was {self.depth_collapse!r}")
        _int(self.depth_window_minutes, "book.depth_window_minutes", 1)
        _num(self.depth_floor, "book.depth_floor", lo_open=True, hi=1.0)
        _num(self.mark_lag_seconds, "venue.mark_lag_seconds", hi=3600.0)
        _num(self.latency_seconds, "venue.latency_seconds", hi=3600.0)
        _num(self.fund_to_oi, "venue.fund_to_oi", hi=1.0)
        _num(self.backstop, "venue.backstop", hi=1.0)

    def to_dict(self) -> dict[str, float]:
        """The parameters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Which config section holds each parameter (lists derived from the dataclass, never copied).
_SECTION: dict[str, str] = {
    "n_accounts": "population",
    "oi_to_daily_volume": "population",
    "long_share": "population",
    "leverage_median": "population",
    "leverage_sigma": "population",
    "notional_sigma": "population",
    "entry_horizon_days": "population",
    "volume_share": "book",
    "impact_coef": "book",
    "half_life_seconds": "book",
    "depth_collapse": "book",
    "depth_window_minutes": "book",
    "depth_floor": "book",
    "mark_lag_seconds": "venue",
    "latency_seconds": "venue",
    "fund_to_oi": "venue",
    "backstop": "venue",
}
PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ReplayParams))


@dataclass(frozen=True)
class ObservedFigures:
    """What the venue reported for one asset over the window (for the comparison; all optional).

    ``liquidated_notional`` counts as the upstream data do (it may include the liquidated side
    of ADL matches; compared with the model's book liquidations plus ADL).
    """

    liquidated_notional: float | None = None
    adl_notional: float | None = None
    first_adl_delay_seconds: float | None = None
    source: str = ""
    #: The liquidation/ADL CSV the figures were read from (resolved), "" for figures given inline.
    file: str = ""

    def __post_init__(self) -> None:
        for key in ("liquidated_notional", "adl_notional", "first_adl_delay_seconds"):
            value = getattr(self, key)
            if value is not None:
                _num(value, f"observed.{key}")
        instance_of(self.source, str, "observed.source")


@dataclass(frozen=True)
class ReplayAsset:
    """One asset: its 1-minute klines, the venue's maximum leverage and optional open interest."""

    name: str
    klines: Path
    max_leverage: float = 20.0
    open_interest_usd: float | None = None
    observed: ObservedFigures = field(default_factory=ObservedFigures)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"asset name must be a non-empty string, was {show(self.name)}")
        # A str or os.PathLike, kept as a Path (None was a TypeError when the klines were read).
        object.__setattr__(self, "klines", path_arg(self.klines, f"assets.{self.name}.klines"))
        _num(self.max_leverage, f"assets.{self.name}.max_leverage", lo=1.0, hi=1000.0)
        if self.open_interest_usd is not None:
            _num(self.open_interest_usd, f"assets.{self.name}.open_interest_usd", lo_open=True)
        instance_of(self.observed, ObservedFigures, f"assets.{self.name}.observed")


@dataclass(frozen=True)
class ReplayConfig:
    """A validated replay config.

    Attributes
    ----------
    name : str
        The replay's title.
    start, end : str
        The window (ISO-8601 UTC, whole minutes); the path runs from ``start``'s open to the close
        of the bar before ``end``.
    lookback_minutes : int
        Bars before ``start`` that give each asset's volume and volatility.
    step_seconds : int
        Simulation step (divides 60; 5 gives 12 steps a bar).
    seed : int
        Seed of the population draw.
    venue_name, adl_rule : str
        The venue (reports) and whose ADL ranking and liquidation rule (``hyperliquid``...).
    assets : tuple of ReplayAsset
    params : ReplayParams
    calibrate_target : str or None
        The asset :func:`calibrate_replay` fits to (must have observed figures).
    calibrate_grid : mapping of parameter to values
    source : str
        The file read (messages).
    """

    name: str
    start: str
    end: str
    assets: tuple[ReplayAsset, ...]
    params: ReplayParams = field(default_factory=ReplayParams)
    lookback_minutes: int = 180
    step_seconds: int = 5
    seed: int = 0
    venue_name: str = "hyperliquid"
    adl_rule: str = "hyperliquid"
    calibrate_target: str | None = None
    calibrate_grid: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    source: str = "<config>"

    def __post_init__(self) -> None:
        # Types first, each named (a str among the assets or a dict of params was an AttributeError).
        for key in ("name", "start", "end", "venue_name", "adl_rule", "source"):
            instance_of(getattr(self, key), str, key)
        if self.calibrate_target is not None:
            instance_of(self.calibrate_target, str, "calibrate_target")
        if not isinstance(self.assets, tuple | list):
            raise InputError(
                f"assets must be a tuple of ReplayAsset, was {type(self.assets).__name__} {show(self.assets)}"
            )
        for i, a in enumerate(self.assets):
            instance_of(a, ReplayAsset, f"assets[{i}]")
        object.__setattr__(self, "assets", tuple(self.assets))
        instance_of(self.params, ReplayParams, "params")
        if not isinstance(self.calibrate_grid, Mapping):
            was = f"{type(self.calibrate_grid).__name__} {show(self.calibrate_grid)}"
            raise InputError(f"calibrate_grid must be a Mapping of parameter to values, was {was}")
        window_ns(self.start, self.end)  # checked here, not when the bars are read: the error names the file
        if not self.assets:
            raise InputError("assets must name at least one asset")
        names = [a.name for a in self.assets]
        if len(set(names)) != len(names):
            raise InputError(f"assets must be distinct, were {names}")
        _int(self.lookback_minutes, "window.lookback_minutes", 10)
        if self.params.depth_window_minutes > self.lookback_minutes:
            raise InputError(
                f"book.depth_window_minutes must be <= window.lookback_minutes ({self.lookback_minutes}), "
                f"was {self.params.depth_window_minutes!r}"
            )
        step = _int(self.step_seconds, "step_seconds", 1)
        if 60 % step or 60 // step < 3:
            raise InputError(f"step_seconds must divide 60 and be <= 20 (e.g. 1, 5, 10, 15, 20), was {step}")
        _int(self.seed, "seed", 0)
        if self.adl_rule not in ADL_VENUES:
            raise InputError(f"venue.rule must be one of {', '.join(ADL_VENUES)}, was {self.adl_rule!r}")
        if self.calibrate_target is not None and self.calibrate_target not in names:
            raise InputError(f"calibrate.target must be one of the assets {names}, was {self.calibrate_target!r}")
        for key, values in self.calibrate_grid.items():
            if key not in PARAM_NAMES:
                raise InputError(f"calibrate.grid: {key!r} is not a parameter; use one of {', '.join(PARAM_NAMES)}")
            if not isinstance(values, tuple | list) or not values:
                raise InputError(f"calibrate.grid.{key} must list at least one value, was {show(values)}")
            for value in values:  # each a valid parameter (a NaN ran without --calibrate)
                change: dict[str, Any] = {key: value}
                try:
                    replace(self.params, **change)
                except InputError as exc:
                    raise InputError(f"calibrate.grid.{key}: {exc}") from None

    @property
    def steps_per_bar(self) -> int:
        """Simulation steps per 1-minute bar."""
        return 60 // self.step_seconds

    def with_params(self, **changes: Any) -> ReplayConfig:
        """The config with some :class:`ReplayParams` replaced."""
        return replace(self, params=replace(self.params, **changes))


def _section(raw: Mapping[str, Any], key: str, allowed: set[str]) -> dict[str, Any]:
    sec = raw.get(key, {}) or {}
    if not isinstance(sec, Mapping):
        raise InputError(f"{key} must be a mapping, was {sec!r}")
    return known_keys(sec, key, allowed)


def _observed(raw: object, asset: str, base: Path) -> ObservedFigures:
    if raw is None:
        return ObservedFigures()
    if not isinstance(raw, Mapping):
        raise InputError(f"observed.{asset} must be a mapping, was {raw!r}")
    allowed = {"liquidated_notional", "adl_notional", "first_adl_delay_seconds", "liq_adl_csv", "source"}
    known_keys(raw, f"observed.{asset}", allowed)
    vals: dict[str, Any] = {}
    source = str(raw.get("source", ""))
    if "liq_adl_csv" in raw:
        from levguard.cascade.replay_data import read_liq_adl_csv

        path = base / str(raw["liq_adl_csv"])
        vals.update(read_liq_adl_csv(path, asset))
        vals["file"] = str(path)
        source = source or path.name
    for key in ("liquidated_notional", "adl_notional", "first_adl_delay_seconds"):
        if key in raw:
            vals[key] = _num(raw[key], f"observed.{asset}.{key}")
    return ObservedFigures(source=source, **vals)


def config_from_dict(raw: object, base_dir: str | Path = ".", source: str = "<config>") -> ReplayConfig:
    """Validate a parsed config (paths relative to ``base_dir``).

    Raises
    ------
    InputError
        A bad or unknown key, naming its path and value.
    """
    if not isinstance(raw, Mapping):
        raise InputError(f"the config must be a mapping of sections, was {type(raw).__name__}")
    top = {"name", "data", "window", "step_seconds", "seed", "venue", "population", "book", "assets", "observed"}
    top |= {"calibrate"}
    known_keys(raw, "config", top)
    base = Path(base_dir)
    # Normalised (".." folded) so that messages name the file a user would look for.
    data = Path(os.path.normpath(base / str(raw["data"]))) if raw.get("data") else base
    window = _section(raw, "window", {"start", "end", "lookback_minutes"})
    for key in ("start", "end"):
        if key not in window:
            raise InputError(f"window.{key} is required (ISO-8601 UTC, e.g. 2025-10-10T21:15:00Z)")
    venue = _section(raw, "venue", {"name", "rule"} | {k for k, s in _SECTION.items() if s == "venue"})
    params: dict[str, Any] = {}
    for sec in ("population", "book"):
        params.update(_section(raw, sec, {k for k, s in _SECTION.items() if s == sec}))
    params.update({k: v for k, v in venue.items() if k in _SECTION})
    assets_raw = raw.get("assets")
    if not isinstance(assets_raw, Mapping) or not assets_raw:
        raise InputError(f"assets must map asset names to {{klines, max_leverage}}, was {assets_raw!r}")
    observed = raw.get("observed", {}) or {}
    if not isinstance(observed, Mapping):
        raise InputError(f"observed must map asset names to figures, was {observed!r}")
    extra = sorted(str(a) for a in observed if a not in assets_raw)
    if extra:
        raise InputError(f"observed names asset(s) {extra} that are not in assets")
    assets = []
    for name, spec in assets_raw.items():
        if not isinstance(spec, Mapping):
            raise InputError(f"assets.{name} must be a mapping with klines, was {spec!r}")
        known_keys(spec, f"assets.{name}", ("klines", "max_leverage", "open_interest_usd"))
        if "klines" not in spec:
            raise InputError(f"assets.{name}.klines is required (a 1-minute kline file)")
        assets.append(
            ReplayAsset(
                name=str(name),
                klines=data / str(spec["klines"]),
                max_leverage=spec.get("max_leverage", 20.0),
                open_interest_usd=spec.get("open_interest_usd"),
                observed=_observed(observed.get(name), str(name), data),
            )
        )
    cal = _section(raw, "calibrate", {"target", "grid"})
    grid_raw = cal.get("grid", {}) or {}
    if not isinstance(grid_raw, Mapping):
        raise InputError(f"calibrate.grid must map parameters to lists of values, was {grid_raw!r}")
    grid = {}
    for key, values in grid_raw.items():
        if not isinstance(values, list | tuple):
            raise InputError(f"calibrate.grid.{key} must be a list of values, was {values!r}")
        grid[str(key)] = tuple(values)
    return ReplayConfig(
        name=str(raw.get("name", "replay")),
        start=str(window["start"]),
        end=str(window["end"]),
        lookback_minutes=window.get("lookback_minutes", 180),
        step_seconds=raw.get("step_seconds", 5),
        seed=raw.get("seed", 0),
        venue_name=str(venue.get("name", "hyperliquid")),
        adl_rule=str(venue.get("rule", "hyperliquid")),
        assets=tuple(assets),
        params=ReplayParams(**params),
        calibrate_target=None if cal.get("target") is None else str(cal["target"]),
        calibrate_grid=grid,
        source=source,
    )


def load_replay_config(path: str | Path) -> ReplayConfig:
    """Read and validate a replay config file (YAML); relative paths are relative to the file.

    Raises
    ------
    InputError
        The file is missing or is not YAML, or a value is bad (the message names the file, the
        key and the value).
    DataError
        A file of observed figures the config names is missing or malformed.
    """
    from levguard.cascade.config_file import load_config_file

    return load_config_file(path, "replay", config_from_dict)
