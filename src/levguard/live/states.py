"""The guardian's state machine per position: OK -> WARN -> DANGER -> ACT, with hysteresis.

A position's level is the most severe level whose threshold any of its risk figures crosses:
the margin ratio (maintenance margin over margin balance, ``inf`` at a margin balance of 0 or
less; higher is worse), the distance to liquidation (the adverse move left to the liquidation
price as a fraction of the mark, negative past it; lower is worse) and the probability of
liquidation over the horizon (higher is worse).  NaN is an unknown figure and crosses nothing;
infinities compare as numbers (a ratio of ``inf`` crosses every level, a distance of ``inf``, no
liquidation price, none).  Moving up is immediate; moving down from a level requires every
figure to be back inside that level's thresholds by the hysteresis margin, so a position
hovering at a threshold does not flap between states (and alerts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from levguard.errors import InputError

__all__ = ["Level", "Thresholds", "alert_level", "next_level"]


class Level(IntEnum):
    """Severity of a position's state."""

    OK = 0
    WARN = 1
    DANGER = 2
    ACT = 3


_LEVELS = (Level.WARN, Level.DANGER, Level.ACT)
_ALERT_LEVELS = ("info", "warning", "critical", "critical")  # the alert of entering OK, WARN, DANGER, ACT


@dataclass(frozen=True)
class Thresholds:
    """Entry thresholds per level (WARN, DANGER, ACT) and the hysteresis margin.

    Parameters
    ----------
    margin_ratio : (warn, danger, act)
        Maintenance margin / margin balance at which each level starts (increasing; 1 is the
        liquidation point).
    distance : (warn, danger, act)
        Distance of the mark to the liquidation price, as a fraction of the mark, below which
        each level starts (decreasing).
    p_liq : (warn, danger, act)
        Probability of liquidation over the horizon above which each level starts (increasing).
    hysteresis : float
        Relative margin to leave a level: a ratio must fall below ``threshold * (1 - h)``, a
        distance rise above ``threshold * (1 + h)``.
    """

    margin_ratio: tuple[float, float, float] = (0.5, 0.7, 0.85)
    distance: tuple[float, float, float] = (0.15, 0.08, 0.04)
    p_liq: tuple[float, float, float] = (0.05, 0.2, 0.5)
    hysteresis: float = 0.1

    def __post_init__(self) -> None:
        for name, vals, increasing in (
            ("margin_ratio", self.margin_ratio, True),
            ("distance", self.distance, False),
            ("p_liq", self.p_liq, True),
        ):
            if len(vals) != 3 or not all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in vals):
                raise InputError(
                    f"thresholds.{name} must be three finite numbers > 0 (warn, danger, act), was {vals!r}"
                )
            ordered = vals[0] <= vals[1] <= vals[2] if increasing else vals[0] >= vals[1] >= vals[2]
            if not ordered:
                word = "increasing" if increasing else "decreasing"
                raise InputError(f"thresholds.{name} must be {word} from warn to act, was {vals!r}")
        if not (0.0 <= self.hysteresis < 1.0):
            raise InputError(f"thresholds.hysteresis must be in [0, 1), was {self.hysteresis!r}")

    def level_of(self, margin_ratio: float, distance: float, p_liq: float, relax: float = 0.0) -> Level:
        """The most severe level crossed (thresholds relaxed by ``relax`` towards safety)."""
        # An unknown (NaN) figure crosses nothing (checked once, not per level); inf compares.
        ratio_ok, distance_ok, p_liq_ok = not math.isnan(margin_ratio), not math.isnan(distance), not math.isnan(p_liq)
        level = Level.OK
        for i, lvl in enumerate(_LEVELS):
            crossed = (
                (ratio_ok and margin_ratio >= self.margin_ratio[i] * (1.0 - relax))
                or (distance_ok and distance <= self.distance[i] * (1.0 + relax))
                or (p_liq_ok and p_liq >= self.p_liq[i] * (1.0 - relax))
            )
            if crossed:
                level = lvl
        return level


def next_level(current: Level, thresholds: Thresholds, margin_ratio: float, distance: float, p_liq: float) -> Level:
    """The position's next level: up at once, down only past the hysteresis margin.

    NaN figures (no liquidation price, unknown probability) count as safe for that figure.
    """
    entered = thresholds.level_of(margin_ratio, distance, p_liq)
    if entered >= current:
        return entered
    # Leaving ``current`` needs every figure inside its relaxed thresholds; the level kept is
    # the most severe one still crossed with the relaxed thresholds.
    held = thresholds.level_of(margin_ratio, distance, p_liq, relax=thresholds.hysteresis)
    return Level(min(current, max(held, entered)))


def alert_level(previous: Level, new: Level) -> str:
    """The level of the alert a move from ``previous`` to ``new`` raises: up, that of the level
    entered (WARN warning, DANGER and ACT critical); down, info."""
    return _ALERT_LEVELS[int(new)] if new > previous else "info"
