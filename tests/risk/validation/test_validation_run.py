"""validate_liquidation with stand-in forecasters: groups, split, Diebold-Mariano, acceptance, JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from validation_helpers import naive_gbm

from levguard.core.risk.scoring import score_forecasts
from levguard.errors import DataError, InputError
from levguard.risk.validation import GroupScores, acceptance, build_cases, validate_liquidation

CUT = "2022-09-30"


def oracle(bars: pd.DataFrame, as_of: Any, side: Any, distance: Any, horizon_days: Any, model: str) -> np.ndarray:
    """Forecast the outcome itself (the cases are rebuilt from the same bars); naive for the baseline."""
    if model == "naive":
        return naive_gbm(bars, as_of, side, distance, horizon_days)
    cases = build_cases(bars)
    key = cases.set_index(["as_of", "sign", "distance", "horizon_days"])["outcome"]
    idx = pd.MultiIndex.from_arrays([pd.DatetimeIndex(as_of), side, distance, horizon_days])
    return key.reindex(idx).to_numpy(dtype=np.float64)


def test_groups_split_and_scores(random_walk: pd.DataFrame) -> None:
    r = validate_liquidation(random_walk, model="half", forecaster=naive_gbm, train_until=CUT)
    labels = [g.label for g in r.scored]
    assert labels == ["RW 1d", "pooled 1d", "RW 7d", "pooled 7d"]
    cut = pd.Timestamp(CUT, tz="UTC")
    scored = r.cases[r.cases["as_of"] > cut]
    g1 = r.scored[0]
    assert g1.model.n == int((scored["horizon_days"] == 1).sum())
    assert g1.model.events == int(scored.loc[scored["horizon_days"] == 1, "outcome"].sum())
    assert pd.Timestamp(g1.first) > cut
    assert all(pd.Timestamp(g.last) <= cut for g in r.train)
    # The model is half the baseline: calibration in the large doubles.
    assert g1.model.calibration_in_the_large == pytest.approx(2 * g1.baseline.calibration_in_the_large)
    dm = g1.diebold_mariano
    assert dm is not None
    assert dm.lag == 1
    assert dm.n == g1.days
    assert r.scored[2].diebold_mariano is not None
    assert r.scored[2].diebold_mariano.lag == 7
    assert [y.year for y in g1.years] == sorted({t.year for t in scored["as_of"]})
    assert sum(y.n for y in g1.years) == g1.model.n


def test_to_dict_is_strict_json(random_walk: pd.DataFrame) -> None:
    r = validate_liquidation(random_walk, model="half", forecaster=naive_gbm, train_until=CUT, by_side=True)
    doc = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert doc["model"] == "half"
    assert doc["log_score_clip"] == 1e-6
    assert doc["assets"][0]["asset"] == "RW"
    assert doc["assets"][0]["tier_source"].startswith("generic tier")
    assert doc["scored"][0]["label"] == "RW 1d"
    assert set(doc["scored"][0]) >= {"brier_ratio", "model", "baseline", "diebold_mariano", "years"}
    assert "passed" in doc["acceptance"]
    assert "cases" not in doc
    assert set(doc["timings_s"]) == {"cases", "forecast_model", "forecast_baseline", "scores"}


def test_by_side_and_by_leverage(random_walk: pd.DataFrame) -> None:
    r = validate_liquidation(
        random_walk, model="half", forecaster=naive_gbm, train_until=CUT, by_side=True, by_leverage=True, horizons=[1]
    )
    labels = [g.label for g in r.scored]
    assert labels == [
        "RW 1d",
        "RW 1d long",
        "RW 1d short",
        "RW 1d 5x",
        "RW 1d 10x",
        "RW 1d 20x",
        "pooled 1d",
        "pooled 1d long",
        "pooled 1d short",
        "pooled 1d 5x",
        "pooled 1d 10x",
        "pooled 1d 20x",
    ]
    assert sum(g.model.n for g in r.scored if g.side is not None and g.asset == "RW") == r.scored[0].model.n
    # Acceptance looks at side- and leverage-pooled groups only.
    assert all(" long" not in c.group and "x" not in c.group.split()[-1] for c in r.acceptance.checks)


def test_two_assets_pool(random_walk: pd.DataFrame) -> None:
    other = random_walk.copy()
    other.attrs = {**random_walk.attrs, "asset": "RW2"}
    other[["open", "high", "low", "close", "mark_open", "mark_high", "mark_low", "mark_close"]] *= 3.0
    r = validate_liquidation({"A": random_walk, "B": other}, model="half", forecaster=naive_gbm, train_until=CUT)
    by = {g.label: g for g in r.scored}
    assert set(by) == {"A 1d", "B 1d", "pooled 1d", "A 7d", "B 7d", "pooled 7d"}
    assert by["pooled 1d"].model.n == by["A 1d"].model.n + by["B 1d"].model.n
    # Same days in both assets: the DM series has one value per day.
    assert by["pooled 1d"].diebold_mariano is not None
    assert by["pooled 1d"].diebold_mariano.n == by["A 1d"].days
    # Scaled prices, same returns: identical outcomes and forecasts.
    assert by["A 1d"].model.brier == pytest.approx(by["B 1d"].model.brier)
    names = {c.name for c in r.acceptance.checks if c.group.startswith("pooled")}
    assert {"brier_pooled_vs_naive", "log_score_vs_naive", "calibration_in_the_large", "low_forecasts"} <= names


def test_a_perfect_forecaster_passes_every_check(random_walk: pd.DataFrame) -> None:
    r = validate_liquidation(random_walk, model="oracle", forecaster=oracle, train_until=CUT)
    assert r.scored[0].model.brier == 0.0
    assert r.acceptance.passed, [c for c in r.acceptance.checks if not c.passed]
    names = {c.name for c in r.acceptance.checks}
    assert names == {
        "brier_vs_naive",
        "brier_pooled_vs_naive",
        "log_score_vs_naive",
        "calibration_in_the_large",
        "low_forecasts",
        "reliability",
    }


def test_a_coin_flip_fails(random_walk: pd.DataFrame) -> None:
    def coin(bars: pd.DataFrame, as_of: Any, *args: Any, model: str) -> np.ndarray:
        return naive_gbm(bars, as_of, *args) if model == "naive" else np.full(len(as_of), 0.5)

    r = validate_liquidation(random_walk, model="coin", forecaster=coin, train_until=CUT)
    assert not r.acceptance.passed
    failed = {c.name for c in r.acceptance.checks if not c.passed}
    assert {"brier_vs_naive", "log_score_vs_naive", "calibration_in_the_large"} <= failed


def test_model_equal_to_baseline_has_no_dm(random_walk: pd.DataFrame) -> None:
    r = validate_liquidation(random_walk, model="naive", forecaster=naive_gbm, train_until=CUT)
    assert all(g.diebold_mariano is None for g in r.scored)
    assert r.scored[0].brier_ratio == pytest.approx(1.0)


def test_nan_forecasts_are_dropped_and_counted(random_walk: pd.DataFrame) -> None:
    def gappy(bars: pd.DataFrame, as_of: Any, *args: Any, model: str) -> np.ndarray:
        p = naive_gbm(bars, as_of, *args)
        if model != "naive":
            p[::10] = np.nan
        return p

    r = validate_liquidation(random_walk, model="gappy", forecaster=gappy, train_until=CUT)
    total = len(build_cases(random_walk))
    assert r.assets[0].dropped == len(range(0, total, 10))
    assert r.assets[0].cases == total - r.assets[0].dropped
    assert len(r.cases) == r.assets[0].cases


@pytest.mark.parametrize(
    ("value", "needle"),
    [(1.5, r"returned 1.5, not a probability"), (-0.2, r"returned -0.2, not a probability")],
)
def test_non_probabilities_are_refused(random_walk: pd.DataFrame, value: float, needle: str) -> None:
    def bad(bars: pd.DataFrame, as_of: Any, *args: Any, model: str) -> np.ndarray:
        return np.full(len(as_of), value)

    with pytest.raises(DataError, match=needle):
        validate_liquidation(random_walk, model="bad", forecaster=bad, train_until=CUT)


def test_wrong_shape_is_refused(random_walk: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="returned shape"):
        validate_liquidation(random_walk, model="x", forecaster=lambda *a, **k: np.zeros(3), train_until=CUT)


@pytest.mark.parametrize("cut", ["2030-01-01", "2023-02-04"])
def test_train_until_leaving_no_case_to_score_is_refused(random_walk: pd.DataFrame, cut: str) -> None:
    # The cases' as_of run from 2022-01-31 (30 days of warm-up) to 2023-02-04 (the last full day).
    calls: list[str] = []

    def spy(*args: Any, model: str) -> np.ndarray:
        calls.append(model)
        return naive_gbm(*args)

    needle = (
        rf"train_until must be before the last case's as_of .*was {cut}T00:00:00\+00:00; "
        r"the data's cases run from 2022-01-31T00:00:00\+00:00 to 2023-02-04T00:00:00\+00:00"
    )
    with pytest.raises(InputError, match=needle):
        validate_liquidation(random_walk, model="half", forecaster=spy, train_until=cut)
    assert calls == []  # refused before any forecast


def test_train_until_before_the_data_scores_every_case(random_walk: pd.DataFrame) -> None:
    r = validate_liquidation(random_walk, model="half", forecaster=naive_gbm, train_until="2023-02-03")
    assert [g.label for g in r.scored] == ["RW 1d", "pooled 1d"]
    assert r.scored[0].model.n == 3 * 2  # the last day: 3 leverages x 2 sides at 1 day
    r = validate_liquidation(random_walk, model="half", forecaster=naive_gbm, train_until="2000-01-01")
    assert r.train == ()
    assert sum(g.model.n for g in r.scored if g.asset == "pooled") == len(r.cases)


def test_empty_scored_set_fails_acceptance() -> None:
    assert acceptance([]).checks[0].name == "scored_set"
    assert not acceptance([]).passed


def test_progress_is_reported(random_walk: pd.DataFrame) -> None:
    seen: list[tuple[str, int, int]] = []
    validate_liquidation(
        random_walk, model="half", forecaster=naive_gbm, train_until=CUT, progress=lambda *a: seen.append(a)
    )
    assert seen[0] == ("RW: building cases", 0, 4)
    assert seen[-1] == ("done", 4, 4)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"train_until": "2022-13-45"}, "train_until must be a date such as 2022-12-31, was '2022-13-45'"),
        ({"train_until": ""}, "train_until must be a date"),
        ({"model": "nope"}, "model must be one of .*was 'nope'"),
        ({"sides": ["up"]}, "side must be 'long' or 'short', was 'up'"),
    ],
)
def test_bad_arguments(random_walk: pd.DataFrame, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        validate_liquidation(random_walk, **kwargs)


# ----------------------------------------------------------------------------- acceptance rules
def group(p: np.ndarray, y: np.ndarray, baseline: np.ndarray, asset: str = "X") -> GroupScores:
    return GroupScores(
        "scored", asset, 1.0, None, None, "", "", 1, score_forecasts(p, y), score_forecasts(baseline, y), None, ()
    )


def test_reliability_rule_three_points_or_inside_wilson() -> None:
    """400 forecasts of 0.3: observed 0.34 passes (within 3 points? no, 4, but inside Wilson);
    observed 0.40 fails; a bucket under 200 cases is not checked."""
    n = 400
    p = np.full(n, 0.3)
    inside = (np.arange(n) < 136).astype(float)  # 0.34, Wilson 95% about [0.294, 0.388]
    outside = (np.arange(n) < 160).astype(float)  # 0.40
    ok = [c for c in acceptance([group(p, inside, p)]).checks if c.name == "reliability"]
    assert len(ok) == 1
    assert ok[0].passed
    assert ok[0].group == "X 1d bucket (0.2, 0.4]"
    bad = [c for c in acceptance([group(p, outside, p)]).checks if c.name == "reliability"]
    assert not bad[0].passed
    few = [c for c in acceptance([group(p[:199], inside[:199], p[:199])]).checks if c.name == "reliability"]
    assert few == []


def test_calibration_and_pooled_brier_thresholds() -> None:
    y = (np.arange(1000) < 100).astype(float)
    calibrated = np.full(1000, 0.1)
    low = np.full(1000, 0.08)  # 100 events vs 80 expected: 1.25
    checks = {
        (c.name, c.group): c
        for c in acceptance([group(low, y, calibrated), group(low, y, calibrated, "pooled")]).checks
    }
    assert not checks[("calibration_in_the_large", "X 1d")].passed
    assert checks[("calibration_in_the_large", "X 1d")].value == pytest.approx(1.25)
    # Pooled Brier needs 0.98 x the baseline's: 0.0904 vs 0.09 fails.
    assert not checks[("brier_pooled_vs_naive", "pooled 1d")].passed
    # With one asset the pooled group adds only the pooled-only checks.
    assert ("calibration_in_the_large", "pooled 1d") not in checks
    assert ("low_forecasts", "pooled 1d") in checks


def test_low_forecast_rule() -> None:
    """Forecasts <= 1 % followed by liquidation at most 1.5 % of the time."""
    p = np.full(1000, 0.005)
    y_ok = (np.arange(1000) < 15).astype(float)
    y_bad = (np.arange(1000) < 16).astype(float)
    ok = [c for c in acceptance([group(p, y_ok, p, "pooled")]).checks if c.name == "low_forecasts"]
    bad = [c for c in acceptance([group(p, y_bad, p, "pooled")]).checks if c.name == "low_forecasts"]
    assert ok[0].passed
    assert ok[0].value == pytest.approx(0.015)
    assert not bad[0].passed
    assert math.isclose(bad[0].value or 0.0, 0.016)
