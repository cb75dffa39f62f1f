"""Backtest configuration (``levguard backtest CONFIG.yaml``), validated by pydantic.

Example::

    data: {source: default}              # or {source: file, path: btc_1h.csv, mark: mark_1h.csv, funding: f.csv}
                                         # or {source: synth, years: 3, interval: 1h, seed: 7}
    strategy: {type: buy_and_hold}       # ema_crossover | ts_momentum | zscore
    policies:
      fixed 3x: {type: fixed, leverage: 3}
      vol target: {type: vol_target, target_vol: 0.6, max_leverage: 5}
    venue: binance-usdm
    symbol: BTCUSDT                      # default: the data file's symbol (XRPUSDT-PERP_1h.csv: XRPUSDT)
    tiers: xrp_tiers.yaml                # optional: symbol -> tier rows, for a symbol without built-in tiers
    fees: {taker: 0.0005}
    slippage: {bps: 1.0, impact: 0.1}
    initial_equity: 10000
    rebalance: band                      # or never
    output: {report: backtest.html}
    sweep:                               # optional: a parameter sweep (docs/backtest.md, "Sweeps from the CLI")
      strategies:                        # default: the `strategy` above alone
        ema: {type: ema_crossover, long_only: true, grid: {fast: [10, 20], slow: [100, 200]}}
      policies:                          # policy configs as in `policies`, each with an optional grid
        vt: {type: vol_target, max_leverage: 5, grid: {target_vol: [0.3, 0.6, 0.9]}}
        fixed 3x: {type: fixed, leverage: 3}
      grid: {stop_loss: [0.0, 0.05]}     # run settings (levguard.backtest.sweeps.RUN_PARAMS)
      objective: sharpe                  # higher is better; max_drawdown, volatility, fees_paid... lower
      direction: null                    # null: the objective's own | max | min
      constraints: {n_liquidations: 0}   # upper bounds for the best row
      x: target_vol                      # heatmap axes and optional facet: columns of the sweep table
      y: stop_loss
      facet: strategy
      scheduler: null                    # null | local | tcp://host:8786
      output: {report: sweep.html, csv: sweep.csv}

``policies``, ``sweep`` or both must be given.  :func:`load_backtest_file` also checks each sweep
entry (:func:`check_sweep_entries`); the checks that need the backtester's run settings and metric
names (:func:`check_sweep_plan`) are run by the CLI, which may import the backtester.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from levguard.config._base import _Model, _read_file
from levguard.config.policies import PolicyConfig, _format_error, _validated
from levguard.errors import ConfigError

__all__ = [
    "BacktestFile",
    "GridEntry",
    "SweepConfig",
    "check_sweep_entries",
    "check_sweep_plan",
    "entry_config",
    "load_backtest_file",
    "sweep_columns",
]


_MAX_BARS = 10_000_000  # a window in bars: longer than any history (and than int64 arithmetic in pandas)


class DefaultData(_Model):
    source: Literal["default"]


class SynthData(_Model):
    source: Literal["synth"]
    years: Annotated[float, Field(gt=0, le=100)] = 3.0
    interval: str = "1h"
    seed: int = 7


class FileData(_Model):
    source: Literal["file"]
    path: str
    mark: str | None = None
    funding: str | None = None


class BuyAndHoldConfig(_Model):
    type: Literal["buy_and_hold"]


class EmaConfig(_Model):
    type: Literal["ema_crossover"]
    fast: Annotated[int, Field(ge=1, le=_MAX_BARS)] = 20
    slow: Annotated[int, Field(ge=2, le=_MAX_BARS)] = 100
    long_only: bool = False


class MomentumConfig(_Model):
    type: Literal["ts_momentum"]
    lookback: Annotated[int, Field(ge=1, le=_MAX_BARS)] = 720
    long_only: bool = False


class ZScoreConfig(_Model):
    type: Literal["zscore"]
    window: Annotated[int, Field(ge=2, le=_MAX_BARS)] = 168
    entry: Annotated[float, Field(gt=0)] = 2.0
    exit: Annotated[float, Field(ge=0)] = 0.5


StrategyConfig = Annotated[BuyAndHoldConfig | EmaConfig | MomentumConfig | ZScoreConfig, Field(discriminator="type")]


class Fees(_Model):
    taker: Annotated[float, Field(ge=0, lt=0.1)] = 0.0005
    liquidation: Annotated[float, Field(ge=0, lt=0.1)] | None = None


class Slippage(_Model):
    bps: Annotated[float, Field(ge=0)] = 0.0
    impact: Annotated[float, Field(ge=0)] = 0.0


class Output(_Model):
    report: str | None = "backtest.html"
    json_path: str | None = Field(default=None, alias="json")


GridValues = Annotated[list[Any], Field(min_length=1)]

# ``scheduler``: null, "local", or the address of a Dask scheduler.
_SCHEDULER = re.compile(r"^(local|(tcp|tls|ucx|inproc|ws|wss)://\S+)$")


class GridEntry(BaseModel):
    """A strategy or policy of a sweep: its ``type``, fixed fields, and a ``grid`` of fields to vary.

    The fixed fields are those of the type's config (``policies`` entries, ``strategy``); they
    are checked, merged with each grid combination, by :func:`entry_config`.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    grid: dict[str, GridValues] = Field(default_factory=dict)

    @property
    def fixed(self) -> dict[str, Any]:
        """``type`` and the fixed fields."""
        return {"type": self.type, **(self.model_extra or {})}


class SweepOutput(_Model):
    report: str | None = "sweep.html"
    csv: str | None = "sweep.csv"


class SweepConfig(_Model):
    """The ``sweep:`` section: strategies x policies x run settings, the objective and the outputs."""

    strategies: Annotated[dict[str, GridEntry], Field(min_length=1)] | None = None
    policies: Annotated[dict[str, GridEntry], Field(min_length=1)]
    grid: dict[str, GridValues] = Field(default_factory=dict)
    objective: str = "sharpe"
    direction: Literal["max", "min"] | None = None
    constraints: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(default_factory=dict)
    x: str | None = None
    y: str | None = None
    facet: str | None = None
    scheduler: str | None = None
    chunk_size: Annotated[int, Field(ge=1)] = 64
    output: SweepOutput = SweepOutput()

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str | None) -> str | None:
        if v is not None and not _SCHEDULER.match(v):
            raise ValueError("must be null, 'local' or a Dask scheduler address such as 'tcp://host:8786'")
        return v


class BacktestFile(_Model):
    """A backtest file: data, strategy, named policies and/or a sweep, venue and costs."""

    data: Annotated[DefaultData | SynthData | FileData, Field(discriminator="source")] = DefaultData(source="default")
    strategy: StrategyConfig = BuyAndHoldConfig(type="buy_and_hold")
    policies: Annotated[dict[str, PolicyConfig], Field(min_length=1)] | None = None
    venue: str = "binance-usdm"
    # None: the data file's own symbol (XRPUSDT-PERP_1h.csv: XRPUSDT), else BTCUSDT.
    symbol: str | None = None
    # The symbol's tiers where the venue has none built in: a file (or a mapping) symbol -> rows
    # in our, Binance's (leverageBracket) or ccxt's shape, as `levguard margin --tiers` reads.
    tiers: str | dict[str, Any] | None = None
    margin_mode: Literal["isolated", "cross"] = "isolated"
    fees: Fees = Fees()
    slippage: Slippage = Slippage()
    initial_equity: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10_000.0
    rebalance: Literal["band", "never"] = "band"
    cooldown_bars: Annotated[int, Field(ge=0)] = 0
    output: Output = Output()
    sweep: SweepConfig | None = None

    @model_validator(mode="after")
    def _something_to_run(self) -> BacktestFile:
        if self.policies is None and self.sweep is None:
            raise ValueError(_NOTHING_TO_RUN)
        return self


_NOTHING_TO_RUN = "missing key (give `policies`, a `sweep:` section, or both)"


def _members(union: Any) -> dict[str, type[BaseModel]]:
    """``type`` tag -> config class of a discriminated union of configs."""
    (members, *_) = get_args(union)
    out: dict[str, type[BaseModel]] = {}
    for cls in get_args(members):
        (tag,) = get_args(cls.model_fields["type"].annotation)
        out[tag] = cls
    return out


_KINDS: dict[str, tuple[str, dict[str, type[BaseModel]]]] = {
    "strategies": ("strategy", _members(StrategyConfig)),
    "policies": ("policy", _members(PolicyConfig)),
}


def entry_config(
    kind: Literal["strategies", "policies"],
    name: str,
    entry: GridEntry,
    params: Mapping[str, Any],
    source: str = "config",
) -> BaseModel:
    """The validated config of sweep entry ``name`` with grid values ``params``.

    The entry's fixed fields merged with ``params``, validated by the type's config model, so a
    bad value gets the same message as in ``policies``/``strategy``, at the key path of the entry
    (``sweep.policies.vt.grid.target_vol[1]: must be greater than 0 (was -0.3)``).

    Raises
    ------
    ConfigError
        Unknown type, a grid key that is not a field of the type, or a bad value.
    """
    what, classes = _KINDS[kind]
    at = f"sweep.{kind}.{name}"
    cls = classes.get(entry.type)
    if cls is None:
        raise ConfigError(
            f"{source}: {at}.type: unknown {what} type; use one of {sorted(classes)} (was {entry.type!r})"
        )
    fields = set(cls.model_fields) - {"type"}
    for key in entry.grid:
        if key not in fields:
            raise ConfigError(
                f"{source}: {at}.grid.{key}: not a field of {what} type {entry.type!r}; "
                f"fields: {sorted(fields) or 'none'}"
            )
        if key in entry.fixed:
            raise ConfigError(f"{source}: {at}.grid.{key}: given both as a fixed field and in the grid")

    def where_of(path: str) -> str:
        for key, values in entry.grid.items():
            if key in params and (path == key or path.startswith((f"{key}.", f"{key}["))):
                i = next((i for i, v in enumerate(values) if v == params[key]), None)
                index = "" if i is None else f"[{i}]"
                return f"{at}.grid.{key}{index}{path[len(key) :]}"
        return f"{at}.{path}" if path else at

    try:
        return cls.model_validate({**entry.fixed, **params})
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source, where_of)) from None


def check_sweep_entries(sweep: SweepConfig, source: str = "config") -> None:
    """Check every sweep entry: its type, its grid keys, and each grid value (merged with the fixed
    fields and the first value of the other keys) through the type's config model.

    Raises
    ------
    ConfigError
        Naming the entry and the field (see :func:`entry_config`).
    """
    kinds: tuple[tuple[Literal["strategies", "policies"], Mapping[str, GridEntry] | None], ...] = (
        ("strategies", sweep.strategies),
        ("policies", sweep.policies),
    )
    for kind, entries in kinds:
        for name, entry in (entries or {}).items():
            first = {k: v[0] for k, v in entry.grid.items()}
            entry_config(kind, name, entry, first, source)
            for key, values in entry.grid.items():
                for value in values[1:]:
                    entry_config(kind, name, entry, {**first, key: value}, source)


def sweep_columns(cfg: BacktestFile, metrics: Collection[str]) -> list[str]:
    """The parameter columns the sweep of ``cfg`` produces, as :func:`levguard.backtest.sweeps.sweep`
    names them: strategy, policy and run-setting grid keys; a key used by two of them, or named
    like one of ``metrics``, is prefixed ``strategy_``/``policy_``/``run_``."""
    sweep = cfg.sweep
    if sweep is None:
        return []
    s_keys = list(dict.fromkeys(k for e in (sweep.strategies or {}).values() for k in e.grid))
    p_keys = list(dict.fromkeys(k for e in sweep.policies.values() for k in e.grid))
    r_keys = list(sweep.grid)
    s, p, r = set(s_keys), set(p_keys), set(r_keys)
    clash = (s & p) | ((s | p) & r) | ((s | p | r) & set(metrics))
    return list(
        dict.fromkeys(
            f"{kind}_{k}" if k in clash else k
            for kind, keys in (("strategy", s_keys), ("policy", p_keys), ("run", r_keys))
            for k in keys
        )
    )


def check_sweep_plan(
    cfg: BacktestFile, source: str, *, run_params: Collection[str], metrics: Sequence[str]
) -> list[str]:
    """Check the sweep's run-settings grid, objective, constraints and heatmap axes against the
    backtester's sweepable ``run_params`` and metric names; return the parameter columns.

    ``x``, ``y`` and ``facet`` may name a parameter column (:func:`sweep_columns`) or
    ``strategy``/``policy``; ``x`` and ``y`` are required when the sweep writes a report.

    Raises
    ------
    ConfigError
        Naming the key, the value and the allowed values.
    """
    sweep = cfg.sweep
    if sweep is None:
        return []
    for key in sweep.grid:
        if key not in run_params:
            raise ConfigError(
                f"{source}: sweep.grid.{key}: not a run setting; sweepable: {', '.join(sorted(run_params))}"
            )
    if sweep.objective not in metrics:
        raise ConfigError(
            f"{source}: sweep.objective: not a metric (was {sweep.objective!r}); use one of {', '.join(metrics)}"
        )
    for key in sweep.constraints:
        if key not in metrics:
            raise ConfigError(f"{source}: sweep.constraints.{key}: not a metric; use one of {', '.join(metrics)}")
    params = sweep_columns(cfg, metrics)
    allowed = [*params, "strategy", "policy"]
    for role in ("x", "y", "facet"):
        value = getattr(sweep, role)
        if value is not None and value not in allowed:
            raise ConfigError(
                f"{source}: sweep.{role}: not a column of the sweep table (was {value!r}); "
                f"use one of {', '.join(allowed)}"
            )
    if sweep.output.report:
        for role in ("x", "y"):
            if getattr(sweep, role) is None:
                raise ConfigError(
                    f"{source}: sweep.{role}: missing key (the heatmap of sweep.output.report needs x and y; "
                    f"use one of {', '.join(allowed)})"
                )
    if sweep.x is not None and sweep.x == sweep.y:
        raise ConfigError(f"{source}: sweep.y: must differ from sweep.x (both were {sweep.x!r})")
    if sweep.facet is not None and sweep.facet in (sweep.x, sweep.y):
        raise ConfigError(f"{source}: sweep.facet: must differ from x and y (was {sweep.facet!r})")
    return params


def load_backtest_file(path: str | Path) -> BacktestFile:
    """Read and validate a YAML/JSON backtest file; errors name the key path and the value.

    The entries of a ``sweep:`` section are checked too (:func:`check_sweep_entries`).
    """
    raw = _read_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be an object, was {type(raw).__name__}")
    if raw.get("policies") is None and raw.get("sweep") is None:
        raise ConfigError(f"{path}: policies: {_NOTHING_TO_RUN}")
    cfg = _validated(BacktestFile, raw, str(path))
    if cfg.sweep is not None:
        check_sweep_entries(cfg.sweep, str(path))
    return cfg
