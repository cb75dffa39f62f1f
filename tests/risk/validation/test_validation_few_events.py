"""Acceptance checks on groups with too few events are not applicable (neither pass nor fail).

120 days of real BTC bars at 2x over 1 day held no liquidation: the checks on events failed
("0 events vs 0.0 expected", a Brier ratio of 8.5e+112), although 0 events is what a correct model
forecasts.  Below EVENTS_MIN_COUNT observed and expected events they are "n/a: too few events" in
the result, the CLI's output and the HTML report; a Brier ratio over a ~0 baseline Brier is NaN.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner
from validation_helpers import hourly_bars

from levguard.cli.main import app
from levguard.core.risk.scoring import score_forecasts
from levguard.risk.validation import CITL_RANGE, EVENTS_MIN_COUNT, acceptance
from levguard.risk.validation_results import BRIER_RATIO_FLOOR, Check, GroupScores

runner = CliRunner()
EVENT_CHECKS = {"brier_vs_naive", "log_score_vs_naive", "calibration_in_the_large"}


def _group(p: np.ndarray, y: np.ndarray, baseline: np.ndarray, asset: str = "X") -> GroupScores:
    return GroupScores(
        "scored", asset, 1.0, None, None, "", "", 1, score_forecasts(p, y), score_forecasts(baseline, y), None, ()
    )


def _checks(*groups: GroupScores) -> dict[tuple[str, str], Check]:
    return {(c.name, c.group): c for c in acceptance(groups).checks}


def test_no_event_and_no_expected_event_is_not_applicable() -> None:
    # The hunt's case: 90 cases, forecasts of ~1e-60 (model) and ~1e-57 (naive), no liquidation.
    y = np.zeros(90)
    model, naive = np.full(90, 1e-60), np.full(90, 1e-57)
    g, pooled = _group(model, y, naive, "A"), _group(model, y, naive, "pooled")
    assert math.isnan(g.brier_ratio)  # a naive Brier of 1e-114 is ~0 (the real bars' ratio read 8.5e+112)
    acc = acceptance([g, _group(model, y, naive, "B"), pooled])
    by = {(c.name, c.group): c for c in acc.checks}
    for name in EVENT_CHECKS:
        c = by[(name, "A 1d")]
        assert c.passed is None, c
        assert c.status == "n/a"
        assert c.detail.startswith("n/a: too few events (0 observed, 0.0 expected by the model")
        assert c.to_dict()["status"] == "n/a"
        assert c.to_dict()["passed"] is None
    assert by[("brier_pooled_vs_naive", "pooled 1d")].passed is None
    assert by[("brier_vs_naive", "A 1d")].to_dict()["value"] is None  # NaN ratio: null, not 8.5e+112
    assert by[("low_forecasts", "pooled 1d")].passed is True
    # Not failed: the run passes on what could be checked, and says how many were not applicable.
    assert acc.passed
    doc = acc.to_dict()
    assert doc["failed"] == 0
    assert doc["not_applicable"] == 9  # A, B and pooled: Brier, log score and calibration each
    assert acc.checks[0].to_dict()["status"] == "n/a"


@pytest.mark.parametrize(
    ("events", "p_model", "p_naive", "applicable"),
    [
        (0, 0.0, 0.0, set()),  # nothing observed, nothing expected
        (9, 0.009, 0.009, set()),  # 9 events, 9 expected of 1,000: both under 10
        (10, 0.009, 0.009, EVENT_CHECKS),  # 10 events: enough
        (0, 0.05, 0.0, EVENT_CHECKS),  # the model expects 50 where none came: fails, not n/a
        (9, 0.0, 0.05, {"brier_vs_naive", "log_score_vs_naive"}),  # the baseline expects 50: compared
        (15, 0.002, 0.002, EVENT_CHECKS),  # 15 events against 2 expected: an under-forecast fails
    ],
)
def test_the_guard_needs_few_observed_and_few_expected(
    events: int, p_model: float, p_naive: float, applicable: set[str]
) -> None:
    n = 1000
    y = (np.arange(n) < events).astype(float)
    by = _checks(_group(np.full(n, p_model), y, np.full(n, p_naive)))
    got = {name for (name, _), c in by.items() if name in EVENT_CHECKS and c.passed is not None}
    assert got == applicable
    if (events == 0 and p_model == 0.05) or events == 15:
        assert by[("calibration_in_the_large", "X 1d")].passed is False


def test_a_brier_ratio_over_a_zero_baseline_is_nan() -> None:
    y = np.zeros(10)
    assert math.isnan(_group(np.full(10, 1e-3), y, np.full(10, 1e-7)).brier_ratio)  # naive Brier 1e-14
    assert _group(np.full(10, 1e-3), y, np.full(10, 1e-5)).brier_ratio == pytest.approx(1e4)  # 1e-10: a ratio
    assert BRIER_RATIO_FLOOR == 1e-12


@settings(max_examples=60, deadline=None)
@given(
    events=st.integers(0, 40),
    p=st.floats(0.0, 0.05),
    n=st.integers(200, 800),
)
def test_calibration_in_the_large_is_na_exactly_under_the_minimum(events: int, p: float, n: int) -> None:
    # n/a iff both the observed and the expected events are under EVENTS_MIN_COUNT; otherwise the
    # verdict of the [0.85, 1.15] band as before.
    y = (np.arange(n) < events).astype(float)
    forecasts = np.full(n, p)
    c = _checks(_group(forecasts, y, forecasts))[("calibration_in_the_large", "X 1d")]
    expected = float(forecasts.mean()) * n
    few = events < EVENTS_MIN_COUNT and expected < EVENTS_MIN_COUNT
    assert (c.passed is None) == few
    if not few:
        ratio = events / expected if expected > 0 else math.nan
        lo, hi = CITL_RANGE
        assert c.passed == (math.isfinite(ratio) and lo <= ratio <= hi)


def _calm_csv(tmp_path: Path) -> Path:
    # 150 days of a 30 % volatility hourly walk: a 2x position (about 49 % away) is never
    # liquidated within a day, and neither model expects it to be.
    rng = np.random.default_rng(5)
    n = 150 * 24
    close = 60_000.0 * np.exp(np.cumsum(rng.standard_normal(n) * 0.3 / math.sqrt(24 * 365)))
    bars = hourly_bars("2026-01-01", close, mark=False, asset="CALMUSDT")
    rows = [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{h},{lo},{c},1"
        for t, o, h, lo, c in zip(bars.index, bars["open"], bars["high"], bars["low"], bars["close"], strict=True)
    ]
    path = tmp_path / "CALMUSDT-PERP_1h.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_the_cli_and_the_report_say_not_applicable(tmp_path: Path) -> None:
    path = _calm_csv(tmp_path)
    args = ["validate", "liquidation", str(path), "--train-until", "2026-04-01", "--leverage", "2", "--horizon", "1"]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.stdout + res.stderr
    acc = json.loads(res.stdout)["acceptance"]
    status = {c["name"]: c["status"] for c in acc["checks"]}
    assert status == {
        "brier_vs_naive": "n/a",
        "log_score_vs_naive": "n/a",
        "calibration_in_the_large": "n/a",
        "brier_pooled_vs_naive": "n/a",
        "low_forecasts": "pass",
    }
    assert (acc["passed"], acc["failed"], acc["not_applicable"]) == (True, 0, 4)
    out = tmp_path / "v.html"
    res = runner.invoke(app, [*args, "--strict", "--out", str(out)])
    assert res.exit_code == 0, res.stdout + res.stderr  # --strict: nothing failed
    text = " ".join(res.stdout.split())
    assert "acceptance: PASSED of 5 checks (4 n/a: too few events)" in text
    assert "calibration_in_the_large CALMUSDT 1d: n/a: too few events (0 observed" in text
    assert "FAIL" not in text
    page = out.read_text()
    assert "Acceptance on the scored set: PASSED; 4 n/a: too few events" in page
    assert page.count("<span style='color:#777'>n/a</span>") == 4


def test_a_report_of_an_older_result_without_status_still_renders(tmp_path: Path) -> None:
    # The HTML report reads a saved --json: one written before the n/a state has no status.
    from levguard.report.validation import write_validation_report

    path = _calm_csv(tmp_path)
    res = runner.invoke(
        app, ["validate", "liquidation", str(path), "--train-until", "2026-04-01", "--leverage", "2", "--json"]
    )
    doc = json.loads(res.stdout)
    for c in doc["acceptance"]["checks"]:
        c.pop("status")
    del doc["acceptance"]["not_applicable"]
    out = tmp_path / "old.html"
    write_validation_report(doc, out)
    assert "Acceptance on the scored set" in out.read_text()


def test_frames_with_enough_events_are_checked_as_before() -> None:
    # 100 events against 80 expected: calibration in the large 1.25 fails, as before the guard.
    y = (np.arange(1000) < 100).astype(float)
    c = _checks(_group(np.full(1000, 0.08), y, np.full(1000, 0.1)))[("calibration_in_the_large", "X 1d")]
    assert c.passed is False
    assert not c.detail.startswith("n/a")
