"""Calibrate the asset-free parameters of a crash replay on one asset's observed figures.

:func:`calibrate_replay` runs the replay of the config's target asset (BTC in the shipped
2025-10-10 config) over a grid of :class:`~levguard.cascade.replay_config.ReplayParams` values
and ranks the sets by :func:`replay_loss` against the venue's liquidated notional, ADL notional
and first-ADL delay.  The winner's parameters are what the config ships; every other asset is
then a prediction from its own data with the same parameters.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from levguard.cascade.replay import load_markets, run_replay
from levguard.cascade.replay_config import PARAM_NAMES, ReplayConfig, ReplayParams
from levguard.errors import InputError

__all__ = ["DEFAULT_GRID", "DELAY_SCALE_SECONDS", "CalibrationResult", "calibrate_replay", "replay_loss"]

DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "oi_to_daily_volume": (0.05, 0.08, 0.12, 0.18),
    "leverage_median": (6.0, 10.0, 16.0, 25.0, 40.0),
    "mark_lag_seconds": (5.0, 15.0, 30.0, 60.0, 120.0),
    "fund_to_oi": (0.0, 0.002),
}
"""The grid searched when the config gives none (200 sets; about 25 s on one core)."""

DELAY_SCALE_SECONDS = 120.0
"""A first-ADL delay this far from the observed one costs as much as a factor e in notional."""


def replay_loss(row: Mapping[str, Any], *, delay_scale: float = DELAY_SCALE_SECONDS) -> float:
    """Return the distance of one asset's replay figures from the observed ones.

    Notes
    -----
    ``L = ln(model_liq / obs_liq)^2 + ln(model_adl / obs_adl)^2 + ((delay - obs_delay) / s)^2``
    over the observed figures present, with ``model_liq`` the book liquidations plus ADL (the
    upstream count includes the liquidated side of ADL matches), notional floored at 1 quote
    and a missing first ADL scored as the window's length.  Log errors make a factor 2 too high
    cost the same as a factor 2 too low.
    """
    loss = 0.0
    obs_liq = row.get("observed_liquidated_notional")
    if obs_liq is not None and not _nan(obs_liq) and obs_liq > 0:
        loss += math.log(max(float(row["liquidated_incl_adl"]), 1.0) / float(obs_liq)) ** 2
    obs_adl = row.get("observed_adl_notional")
    if obs_adl is not None and not _nan(obs_adl) and obs_adl > 0:
        loss += math.log(max(float(row["adl_notional"]), 1.0) / float(obs_adl)) ** 2
    obs_delay = row.get("observed_first_adl_delay_seconds")
    if obs_delay is not None and not _nan(obs_delay):
        delay = row.get("first_adl_delay_seconds")
        if delay is None or _nan(delay):
            delay = float(row.get("window_seconds", 3600.0)) + float(obs_delay)
        loss += ((float(delay) - float(obs_delay)) / delay_scale) ** 2
    return loss


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


@dataclass(frozen=True)
class CalibrationResult:
    """The grid search: every set's figures and loss (:attr:`table`, best first) and the best set."""

    target: str
    table: pd.DataFrame
    best: ReplayParams

    def to_dict(self) -> dict[str, Any]:
        """The target, the best parameters and the ranked sets."""
        return {
            "target": self.target,
            "best": self.best.to_dict(),
            "sets": self.table.to_dict(orient="records"),
        }


def calibrate_replay(
    config: ReplayConfig,
    grid: Mapping[str, Sequence[float]] | None = None,
    *,
    target: str | None = None,
) -> CalibrationResult:
    """Fit the asset-free parameters on one asset by a grid search.

    Parameters
    ----------
    config : ReplayConfig
        The replay (its parameters are the grid's fixed ones).
    grid : mapping of parameter name to values, optional
        Default: the config's ``calibrate.grid``, else :data:`DEFAULT_GRID`.
    target : str, optional
        The asset fitted (default: the config's ``calibrate.target``, else its first asset with
        observed figures).

    Returns
    -------
    CalibrationResult
        ``table``: one row per set, the parameters, the target's figures and ``loss``, sorted by
        loss (ties keep grid order).

    Raises
    ------
    InputError
        Unknown parameter or target, a target without observed figures, or a bad grid value.
    """
    if not isinstance(config, ReplayConfig):
        raise InputError(f"config must be a ReplayConfig, was {type(config).__name__}")
    g = dict(grid if grid is not None else (config.calibrate_grid or DEFAULT_GRID))
    for key, values in g.items():
        if key not in PARAM_NAMES:
            raise InputError(f"grid: {key!r} is not a parameter; use one of {', '.join(PARAM_NAMES)}")
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise InputError(f"grid.{key} must be a non-empty list of values, was {values!r}")
    name = target or config.calibrate_target
    if name is None:
        with_obs = [a.name for a in config.assets if a.observed.liquidated_notional is not None]
        if not with_obs:
            raise InputError("calibration needs an asset with observed figures (observed.<asset> in the config)")
        name = with_obs[0]
    asset = next((a for a in config.assets if a.name == name), None)
    if asset is None:
        raise InputError(f"target must be one of the assets {[a.name for a in config.assets]}, was {name!r}")
    obs = asset.observed
    if obs.liquidated_notional is None and obs.adl_notional is None and obs.first_adl_delay_seconds is None:
        raise InputError(f"target {name!r} has no observed figures to fit")
    one = replace(config, assets=(asset,))
    markets = load_markets(one)
    window_seconds = (pd.Timestamp(config.end) - pd.Timestamp(config.start)).total_seconds()
    keys = list(g)
    rows = []
    for values in itertools.product(*(g[k] for k in keys)):
        changes = dict(zip(keys, values, strict=True))
        try:
            cfg = one.with_params(**changes)
        except InputError as exc:
            raise InputError(f"grid: {exc}") from None
        row = run_replay(cfg, markets).assets[0].row
        fig = {
            "liquidated_incl_adl": row["liquidated_incl_adl"],
            "adl_notional": row["adl_notional"],
            "first_adl_delay_seconds": row["first_adl_delay_seconds"],
            "bad_debt": row["bad_debt"],
        }
        loss = replay_loss({**row, "window_seconds": window_seconds})
        rows.append({**changes, **fig, "loss": loss})
    table = pd.DataFrame(rows).sort_values("loss", kind="stable").reset_index(drop=True)
    best_changes = {k: _native(table.loc[0, k]) for k in keys}
    best = replace(config.params, **best_changes)
    return CalibrationResult(name, table, best)


def _native(v: Any) -> Any:
    # Grid values back to Python numbers (pandas holds them as numpy scalars).
    return v.item() if hasattr(v, "item") else v
