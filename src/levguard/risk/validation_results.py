"""The results of :func:`levguard.risk.validation.validate_liquidation`: scores per group and
year, the acceptance checks, the per-asset summary and the whole result, each with ``to_dict()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from levguard.core.records import JsonRecord, json_dict, json_ready
from levguard.core.risk.scoring import LOG_CLIP, DieboldMarianoResult, ForecastScores

__all__ = ["BRIER_RATIO_FLOOR", "Acceptance", "AssetSummary", "Check", "GroupScores", "ValidationResult", "YearScores"]

BRIER_RATIO_FLOOR = LOG_CLIP**2
"""A baseline Brier score at or below this (1e-12: a root mean square error within the log
score's clip of 1e-6) is ~0, and the Brier ratio over it is NaN (not applicable)."""


@dataclass(frozen=True, slots=True)
class YearScores(JsonRecord):
    """Scores of one calendar year of ``as_of`` within a group."""

    year: int
    n: int
    events: int
    mean_forecast: float
    observed: float
    brier: float
    brier_baseline: float
    log_score: float
    log_score_baseline: float


@dataclass(frozen=True, slots=True)
class GroupScores:
    """The scores of one group of cases (``asset`` ``"pooled"`` = all assets; ``side``/``leverage`` None = all).

    ``model`` and ``baseline`` are the scores of the model under test and of the naive
    baseline on the same cases; ``diebold_mariano`` is the Diebold-Mariano test of their Brier losses
    (None when the model is the baseline or fewer than two days).
    """

    split: str
    asset: str
    horizon_days: float
    side: str | None
    leverage: float | None
    first: str
    last: str
    days: int
    model: ForecastScores
    baseline: ForecastScores
    diebold_mariano: DieboldMarianoResult | None
    years: tuple[YearScores, ...]

    @property
    def label(self) -> str:
        """``"BTCUSDT 7d"``, ``"pooled 1d long"``, ``"ETHUSDT 1d 10x"``."""
        parts = [self.asset, f"{self.horizon_days:g}d"]
        if self.side is not None:
            parts.append(self.side)
        if self.leverage is not None:
            parts.append(f"{self.leverage:g}x")
        return " ".join(parts)

    @property
    def brier_ratio(self) -> float:
        """Model Brier over baseline Brier (below 1: the model is better).

        NaN when the baseline's Brier is at most :data:`BRIER_RATIO_FLOOR` (~0: its forecasts
        within the log score's clip of every outcome, as on cases with no event and forecasts
        of ~0), where the ratio of two ~0 numbers means nothing (it read 8.5e+112).
        """
        b = self.baseline.brier
        return self.model.brier / b if b > BRIER_RATIO_FLOOR else math.nan

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"label": self.label, "brier_ratio": json_ready(self.brier_ratio), **json_dict(self)}


@dataclass(frozen=True, slots=True)
class Check(JsonRecord):
    """One acceptance check: ``value`` against ``threshold`` on ``group``.

    ``passed`` is True (pass), False (fail) or None: not applicable, neither pass nor fail (a
    group with too few events to check; ``detail`` starts ``"n/a: too few events"``).
    """

    name: str
    group: str
    value: float | None
    threshold: str
    passed: bool | None
    detail: str = ""

    @property
    def status(self) -> str:
        """``"pass"``, ``"fail"`` or ``"n/a"``."""
        return "n/a" if self.passed is None else "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (NaN as None) with ``status``."""
        return {**json_dict(self), "status": self.status}


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The acceptance checks on the scored set; ``passed`` when no check failed and one passed."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when no check failed and at least one passed (a not-applicable check is neither)."""
        return any(c.passed is True for c in self.checks) and not any(c.passed is False for c in self.checks)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict: ``passed``, the counts ``failed`` and ``not_applicable``, the checks."""
        return {
            "passed": self.passed,
            "failed": sum(c.passed is False for c in self.checks),
            "not_applicable": sum(c.passed is None for c in self.checks),
            **json_dict(self),
        }


@dataclass(frozen=True, slots=True)
class AssetSummary(JsonRecord):
    """What one asset contributed: its bars, the mark source, the tiers and the case counts
    (``dropped``: without a forecast; ``incomplete``: windows with a gap in the bars, not scored)."""

    asset: str
    bars: int
    first: str
    last: str
    source: str
    mark_source: str
    tier_source: str
    distances: Mapping[str, float]
    cases: int
    dropped: int
    incomplete: int = 0


@dataclass(frozen=True)
class ValidationResult:
    """Everything :func:`validate_liquidation` measured.

    ``scored`` and ``train`` hold the groups of the scored (after ``train_until``) and train
    sets; ``acceptance`` the checks on the scored set; ``cases`` every case with its outcome
    and both forecasts (``p_model``, ``p_baseline``), not part of :meth:`to_dict`.
    """

    model: str
    baseline: str
    train_until: str
    venue: str
    notional: float
    leverages: tuple[float, ...]
    horizons: tuple[float, ...]
    sides: tuple[str, ...]
    assets: tuple[AssetSummary, ...]
    scored: tuple[GroupScores, ...]
    train: tuple[GroupScores, ...]
    acceptance: Acceptance
    timings: Mapping[str, float]
    cases: pd.DataFrame = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready result (cases excluded)."""
        out = json_dict(self)
        out["timings_s"] = {k: round(v, 3) for k, v in self.timings.items()}
        del out["timings"]
        return {**out, "log_score_clip": LOG_CLIP}
