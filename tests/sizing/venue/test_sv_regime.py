"""RegimeSwitch: causal quantile and HMM regime classification."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import FixedLeverage, SeriesInputs, SizingState
from levguard.core.sizing.regime import RegimeSwitch, hmm_filter, hmm_fit
from levguard.core.sizing.venue import LiquidationBudget
from levguard.errors import InputError

MEMBERS = {"calm": FixedLeverage(3.0), "normal": FixedLeverage(2.0), "stress": FixedLeverage(1.0)}


def _two_regime(seed: int, n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = np.zeros(n, dtype=int)
    for t in range(1, n):
        s[t] = s[t - 1] if rng.random() < 0.98 else 1 - s[t - 1]
    return rng.normal(0.0, np.where(s == 1, 0.04, 0.01)), s


def test_hmm_recovers_regimes_with_filtered_probabilities() -> None:
    x, s = _two_regime(7)
    params = hmm_fit(x)
    probs = hmm_filter(x, params)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert np.all((probs >= 0) & (probs <= 1))
    assert np.sqrt(params.var[0]) == pytest.approx(0.01, rel=0.15)
    assert np.sqrt(params.var[1]) == pytest.approx(0.04, rel=0.15)
    assert ((probs[:, 1] > 0.5) == (s == 1)).mean() > 0.9
    # filtered: probabilities up to t do not change when later data change
    y = x.copy()
    y[1000:] *= 5
    assert np.array_equal(hmm_filter(y, params)[:1000], probs[:1000])


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 1000), st.integers(150, 550), st.sampled_from(["quantile", "hmm"]))
def test_no_look_ahead(seed: int, cut: int, classifier: str) -> None:
    x, _ = _two_regime(seed, n=600)
    members = MEMBERS if classifier == "quantile" else {"calm": MEMBERS["calm"], "stress": MEMBERS["stress"]}
    policy = RegimeSwitch(members, classifier=classifier, lookback=300, vol_window=10, min_obs=50, refit_every=100)
    path = policy.leverage_path(SeriesInputs(x))
    y = x.copy()
    y[cut:] = np.random.default_rng(seed + 1).normal(0.0, 0.08, y.shape[0] - cut)
    changed = policy.leverage_path(SeriesInputs(y))
    assert np.array_equal(path[:cut], changed[:cut])
    assert np.all(np.isin(path, [1.0, 2.0, 3.0]))
    assert np.all(path <= policy.cap)


def test_regime_path_tracks_simulated_regimes() -> None:
    x, s = _two_regime(11, n=2000)
    policy = RegimeSwitch(
        {"calm": FixedLeverage(3.0), "stress": FixedLeverage(1.0)}, classifier="hmm", lookback=500, refit_every=250
    )
    path = policy.leverage_path(SeriesInputs(x))
    assert ((path == 1.0) == (s == 1))[200:].mean() > 0.85
    d = policy.decide(SizingState(1.0, returns=x))
    assert d.binding_constraint == ("stress:fixed" if s[-1] == 1 else "calm:fixed")
    q = RegimeSwitch(MEMBERS, lookback=500, vol_window=12).decide(SizingState(1.0, returns=x))
    assert q.binding_constraint.endswith(":fixed")
    assert q.target_leverage in (1.0, 2.0, 3.0)
    short = policy.decide(SizingState(1.0, returns=x[:10]))
    assert short.binding_constraint == "stress:fixed"
    assert short.target_leverage == 1.0


def test_regime_with_venue_member() -> None:
    member = LiquidationBudget(0.01, 7.0)
    policy = RegimeSwitch({"calm": member, "stress": FixedLeverage(0.5)}, min_obs=10, lookback=20)
    d = policy.decide(SizingState(1e4, vol_forecast=0.5))
    assert d.binding_constraint == "stress:fixed"
    assert policy.cap == 100.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"policies": {}}, "policies"),
        ({"policies": {"calm": FixedLeverage(1)}}, "policies"),
        ({"policies": {**MEMBERS, "bull": FixedLeverage(1)}}, "policies"),
        ({"policies": {"calm": 1, "stress": FixedLeverage(1)}}, "policies"),
        ({"policies": MEMBERS, "classifier": "hmm"}, "policies"),
        ({"policies": MEMBERS, "classifier": "x"}, "classifier"),
        ({"policies": MEMBERS, "thresholds": (0.8, 0.2)}, "thresholds"),
        ({"policies": MEMBERS, "thresholds": "ab"}, "thresholds"),
        ({"policies": MEMBERS, "lookback": 5}, "lookback"),
        ({"policies": MEMBERS, "vol_window": 1}, "vol_window"),
        ({"policies": MEMBERS, "min_obs": 3000}, "min_obs"),
        ({"policies": MEMBERS, "refit_every": 0}, "refit_every"),
    ],
)
def test_regime_bad_params(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field):
        RegimeSwitch(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("classifier", ["quantile", "hmm"])
def test_decide_equals_the_paths_bar_on_a_long_history(classifier: str) -> None:
    """decide classified only the last lookback (+ vol_window) returns, so its hysteresis and HMM
    state differed from leverage_path's bar (XRPUSDT 1h, 4,571 bars: decide 3.0, path 1.0)."""
    rng = np.random.default_rng(7)
    scales = np.repeat(rng.choice([0.004, 0.01, 0.03], size=30), 40)  # vol regimes of 40 bars
    r = rng.standard_normal(scales.shape[0]) * scales
    kw = {"refit_every": 50} if classifier == "hmm" else {}
    policy = RegimeSwitch(
        {"calm": FixedLeverage(3), "stress": FixedLeverage(1)},
        classifier=classifier,
        lookback=120,
        min_obs=30,
        **kw,
    )
    path = policy.leverage_path(SeriesInputs(r))
    ends = range(200, r.shape[0], 37 if classifier == "hmm" else 7)
    got = [policy.decide(SizingState(equity=1.0, returns=r[: t + 1])).target_leverage for t in ends]
    assert got == [path[t] for t in ends]
