"""Policy configuration: YAML/JSON files describing a leverage policy, validated by pydantic.

Example::

    policy:
      type: composite
      policies:
        - {type: vol_target, target_vol: 0.5, lam: 0.94, max_leverage: 10}
        - {type: tier_cap}
        - {type: gap_cap, max_gap: 0.3}
        - {type: liquidation_budget, max_prob: 0.01, horizon_days: 7}
    rebalance: {band: 0.1, min_trade: 100, max_step: 2}

Unknown keys (typos) and out-of-range values are refused with a :class:`~levguard.errors.ConfigError`
naming the key path, e.g. ``policy.policies[0].target_vol: must be > 0 (was 0)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from levguard.config._base import AsTuple, Finite, NonNeg, Pos, _Model, _read_file
from levguard.core.validate import show
from levguard.documents import check_structure
from levguard.errors import ConfigError, InputError

__all__ = ["PolicyFile", "build_policy", "build_rebalancer", "load_policy_file", "parse_policy_config"]

Frac = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Lev = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


class FixedConfig(_Model):
    type: Literal["fixed"]
    leverage: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]  # 0: flat; at most Lev's 1000


class VolTargetConfig(_Model):
    type: Literal["vol_target"]
    target_vol: Pos
    estimator: Literal["ewma", "close_to_close"] | None = None
    lookback: Annotated[int, Field(ge=2)] | None = None
    lam: Frac | None = None
    max_leverage: Lev | None = None


class KellyConfig(_Model):
    type: Literal["kelly"]
    fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    mu_estimator: Literal["given", "ewma_mean", "rolling_mean"] | None = None
    sigma_estimator: Literal["ewma", "close_to_close"] | None = None
    shrinkage: Annotated[float, Field(ge=0, le=1)] | None = None
    max_leverage: Lev | None = None
    lookback: Annotated[int, Field(ge=2)] | None = None
    lam: Frac | None = None
    rate: Finite | None = None


class DrawdownConfig(_Model):
    type: Literal["drawdown"]
    max_drawdown: Frac
    base_leverage: Lev | None = None
    schedule: Literal["linear", "convex"] | None = None
    power: Pos | None = None


class CPPIConfig(_Model):
    type: Literal["cppi"]
    floor: Frac
    multiplier: Pos | None = None
    ratchet: bool | None = None
    max_leverage: Lev | None = None
    initial_equity: Pos | None = None


class GapCapConfig(_Model):
    type: Literal["gap_cap"]
    max_gap: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    safety_margin: Annotated[float, Field(ge=0, lt=1)] | None = None


class TierCapConfig(_Model):
    type: Literal["tier_cap"]
    max_leverage: Lev | None = None


class LiquidationBudgetConfig(_Model):
    type: Literal["liquidation_budget"]
    max_prob: Frac
    horizon_days: Pos
    model: Literal["default", "forecast", "gbm", "kou", "merton", "garch_t", "bootstrap"] = "default"
    max_leverage: Lev = 100.0
    monitoring_dt_days: Pos | None = None


class PortfolioCapConfig(_Model):
    type: Literal["portfolio_cap"]
    max_gross_leverage: Lev
    max_net_leverage: Lev | None = None
    per_asset: dict[str, Lev] | None = None
    per_venue: Frac | dict[str, Frac] | None = None


class RiskBudgetConfig(_Model):
    type: Literal["risk_budget"]
    target_vol: Pos
    method: Literal["inverse_vol", "erc"] = "inverse_vol"
    covariance: Literal["ewma", "shrunk"] = "ewma"
    lam: Frac = 0.94
    max_leverage: Lev = 10.0


class RegimeConfig(_Model):
    type: Literal["regime"]
    classifier: Literal["quantile", "hmm"] = "quantile"
    policies: dict[str, PolicyConfig]
    thresholds: Annotated[tuple[Frac, Frac], AsTuple] | None = None
    lookback: Annotated[int, Field(ge=2)] | None = None


class CompositeConfig(_Model):
    type: Literal["composite"]
    policies: Annotated[list[PolicyConfig], Field(min_length=1)]


PolicyConfig = Annotated[
    FixedConfig
    | VolTargetConfig
    | KellyConfig
    | DrawdownConfig
    | CPPIConfig
    | GapCapConfig
    | TierCapConfig
    | LiquidationBudgetConfig
    | PortfolioCapConfig
    | RiskBudgetConfig
    | RegimeConfig
    | CompositeConfig,
    Field(discriminator="type"),
]
RegimeConfig.model_rebuild()
CompositeConfig.model_rebuild()


class RebalanceConfig(_Model):
    band: Annotated[float, Field(ge=0, lt=1)] = 0.0
    min_trade: NonNeg = 0.0
    max_step: Pos = math.inf


class PolicyFile(_Model):
    """A policy file: the policy and optional rebalancing rules."""

    policy: PolicyConfig
    rebalance: RebalanceConfig = RebalanceConfig()


_M = TypeVar("_M", bound=BaseModel)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in _TYPE_TAGS:
            continue  # pydantic names the union member it tried (e.g. "vol_target"): noise to a user
        else:
            out += ("." if out else "") + str(part)
    return out


def _format_error(exc: ValidationError, source: str, where_of: Callable[[str], str] | None = None) -> str:
    """One line naming the key path, the problem and the value (the first of pydantic's errors).

    ``where_of`` rewrites the key path (e.g. to place a model validated on its own inside a file).
    """
    err = exc.errors()[0]
    where = _path(tuple(err.get("loc", ())))
    if where_of is not None:
        where = where_of(where)
    value = err.get("input")
    msg = str(err.get("msg", "invalid")).replace("Input should be", "must be").removeprefix("Value error, ")
    if err.get("type") == "missing":
        msg = "missing key"
    elif err.get("type") == "extra_forbidden":
        msg = "unknown key (check the spelling)"
    elif err.get("type") == "union_tag_invalid":
        expected = str(err.get("ctx", {}).get("expected_tags", ""))
        if "vol_target" in expected:
            msg = f"unknown policy type; use one of {sorted(_TYPE_TAGS)}"
        else:
            msg = f"unknown type; use one of {expected}"
    more = f" ({len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    was = "" if err.get("type") == "missing" else f" (was {value!r})"
    return f"{source}: {where}: {msg}{was}{more}"


def _validated(model: type[_M], raw: object, source: str) -> _M:
    # pydantic validation of a config file's mapping; the first error as one ConfigError line.
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from None


def parse_policy_config(raw: Mapping[str, Any], source: str = "policy") -> PolicyFile:
    """Validate a policy mapping; errors name the key path and the value.

    The mapping is held to the documents' limits first (:func:`levguard.documents.check_structure`:
    64 levels of objects and lists), as a policy file is when it is read: a mapping given
    directly (the service's ``PUT .../policy``, the library) was validated at any depth, and a
    composite nested 127 levels deep was stored by the service and then broke every read of it.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: must be an object with a 'policy' key, was {type(raw).__name__}")
    try:
        check_structure(raw, source)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    return _validated(PolicyFile, raw, source)


def load_policy_file(path: str | Path) -> PolicyFile:
    """Read and validate a YAML/JSON policy file."""
    return parse_policy_config(_read_file(path), str(path))


_CLASSES: dict[str, tuple[str, str]] = {
    "fixed": ("levguard.core.sizing.base", "FixedLeverage"),
    "vol_target": ("levguard.core.sizing.policies", "VolatilityTarget"),
    "kelly": ("levguard.core.sizing.policies", "Kelly"),
    "drawdown": ("levguard.core.sizing.policies", "DrawdownControl"),
    "cppi": ("levguard.core.sizing.policies", "CPPI"),
    "gap_cap": ("levguard.core.sizing.policies", "GapCap"),
    "tier_cap": ("levguard.core.sizing.venue", "TierCap"),
    "liquidation_budget": ("levguard.core.sizing.venue", "LiquidationBudget"),
    "portfolio_cap": ("levguard.core.sizing.portfolio", "PortfolioCap"),
    "risk_budget": ("levguard.core.sizing.portfolio", "RiskBudget"),
    "regime": ("levguard.core.sizing.regime", "RegimeSwitch"),
}
# Discriminator tags of PolicyConfig: every built class and the composite.
_TYPE_TAGS = {*_CLASSES, "composite"}


def build_policy(cfg: Any, where: str | None = None) -> Any:
    """Turn a validated policy config into the policy object it describes.

    ``where``: the config's key path (``backtest.yaml: policies.vt``); a value the policy's
    constructor refuses is then reported at it, down to a member of a composite or regime
    (``policies.vt.policies.stress``), else as ``policy <type>: ...``.
    """
    from importlib import import_module

    def inner(sub: str) -> str | None:
        return None if where is None else f"{where}{sub}"

    if isinstance(cfg, CompositeConfig):
        from levguard.core.sizing.base import Composite

        return Composite(*(build_policy(c, inner(f".policies[{i}]")) for i, c in enumerate(cfg.policies)))
    known = isinstance(cfg, BaseModel) and getattr(cfg, "type", None) in _CLASSES
    if not known:
        # A raw mapping was an AttributeError ('dict' object has no attribute 'type').
        raise InputError(
            "build_policy needs a validated policy config such as parse_policy_config(raw).policy "
            f"(raw: {{'policy': {{'type': 'fixed', ...}}}}), was {type(cfg).__name__} {show(cfg)}"
        )
    module, name = _CLASSES[cfg.type]
    cls = getattr(import_module(module), name)
    kwargs = cfg.model_dump(exclude={"type"}, exclude_none=True)
    if isinstance(cfg, RegimeConfig):
        kwargs["policies"] = {k: build_policy(v, inner(f".policies.{k}")) for k, v in cfg.policies.items()}
        if cfg.thresholds is not None:
            kwargs["thresholds"] = tuple(cfg.thresholds)
    try:
        return cls(**kwargs)
    except InputError as exc:
        raise ConfigError(f"{where}: {exc}" if where else f"policy {cfg.type}: {exc}") from None


def build_rebalancer(cfg: RebalanceConfig) -> Any:
    """The rebalancing rules of a policy file."""
    from levguard.core.sizing.policies import Rebalancer

    return Rebalancer(band=cfg.band, min_trade=cfg.min_trade, max_step=cfg.max_step)


def _given_mu_at(cfg: Any, where: str) -> str | None:
    # The key path of the first Kelly member that reads a given mu_forecast (None: none does).
    if isinstance(cfg, KellyConfig):
        return where if cfg.mu_estimator in (None, "given") else None
    if isinstance(cfg, CompositeConfig):
        found = (_given_mu_at(c, f"{where}.policies[{i}]") for i, c in enumerate(cfg.policies))
        return next((w for w in found if w is not None), None)
    if isinstance(cfg, RegimeConfig):
        found = (_given_mu_at(c, f"{where}.policies.{k}") for k, c in cfg.policies.items())
        return next((w for w in found if w is not None), None)
    return None


def check_account_policy(pf: PolicyFile, source: str = "policy") -> None:
    """Refuse a policy an account cannot be sized with (``levguard size``, the guardian).

    A Kelly with ``mu_estimator: given`` (the default) reads ``mu_forecast``, which sizing an
    account has no way to pass: it would size every account at 0x (``no_forecast``), which reads
    as "close everything".  Raises ConfigError naming the key path and the remedy.
    """
    at = _given_mu_at(pf.policy, "policy")
    if at is not None:
        raise ConfigError(
            f"{source}: {at}: kelly with mu_estimator 'given' (the default) needs a mu_forecast, which sizing "
            "an account cannot pass; set mu_estimator: ewma_mean (or rolling_mean) to estimate it from the history"
        )
