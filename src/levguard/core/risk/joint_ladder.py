"""The account's ratio along moves of one asset: the one-asset counterpart of the liquidation surface.

An account whose value moves with a single asset (a Deribit portfolio-margin currency, a unified
account with one non-stablecoin asset) has no two-asset surface; :func:`liquidation_ladder`
evaluates it exactly at each relative move of that asset (every other price held), and
:attr:`LiquidationLadder.nearest_down` / :attr:`~LiquidationLadder.nearest_up` give the smallest
fall and rise on the grid that liquidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from levguard.core.records import json_ready
from levguard.core.risk.joint_stress import AnyAccount, _as_joint, _asset_names, _moves, _ratios, scenario_values
from levguard.typing import BoolArray1D, Float64Array1D

__all__ = ["LiquidationLadder", "liquidation_ladder"]


@dataclass(frozen=True, slots=True, eq=False)
class LiquidationLadder:
    """Equity, maintenance margin, the venue's ratio and the liquidation flag per move of ``asset``."""

    venue: str
    asset: str
    price: float
    moves: Float64Array1D
    equity: Float64Array1D
    maintenance_margin: Float64Array1D
    ratio: Float64Array1D
    liquidatable: BoolArray1D
    ratio_name: str
    trigger: float
    ratio_rises_when_safer: bool

    @property
    def nearest_down(self) -> float | None:
        """The smallest fall on the grid that liquidates (a negative move), None when none does."""
        hit = self.moves[(self.moves <= 0.0) & self.liquidatable]
        return float(hit.max()) if hit.size else None

    @property
    def nearest_up(self) -> float | None:
        """The smallest rise on the grid that liquidates, None when none does."""
        hit = self.moves[(self.moves >= 0.0) & self.liquidatable]
        return float(hit.min()) if hit.size else None

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (arrays as lists; non-finite ratios as None)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["nearest_down"], out["nearest_up"] = self.nearest_down, self.nearest_up
        return {k: json_ready(v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}


def liquidation_ladder(account: AnyAccount, asset: str, moves: npt.ArrayLike) -> LiquidationLadder:
    """Evaluate ``account`` at each relative move of ``asset`` (fractions > -1), every other price held.

    Notes
    -----
    Each point is the exact evaluation of :func:`levguard.core.risk.joint_stress.scenario_values`
    (the compiled kernel for haircut and cross accounts, the venue's engine for portfolio-margin
    accounts); the liquidated points are those where the venue's trigger is met.
    """
    ja = _as_joint(account)
    (name,) = _asset_names(ja, [asset], "asset")
    m = _moves(moves, "moves")
    equity, mm, liq = scenario_values(ja, (name,), (1.0 + m)[:, None])
    return LiquidationLadder(
        venue=ja.venue,
        asset=name,
        price=ja.price_of(name),
        moves=m.copy(),
        equity=equity,
        maintenance_margin=mm,
        ratio=_ratios(ja, equity, mm),
        liquidatable=liq,
        ratio_name=ja.ratio_name,
        trigger=ja.trigger,
        ratio_rises_when_safer=ja.ratio_rises_when_safer,
    )
