"""The GBM probability of liquidation of many positions in one call (levguard.core.risk.liquidation.
prob_liquidation_gbm, first_passage.gbm_hit_probs, GbmForecaster.prob) equals the scalar
``prob_liquidation`` / ``gbm_hit_prob`` position by position, bit for bit, with the same errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.first_passage import gbm_hit_prob, gbm_hit_prob_list, gbm_hit_probs
from levguard.core.risk.liquidation import prob_liquidation, prob_liquidation_gbm, prob_liquidation_gbm_list
from levguard.errors import InputError


def _cases(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    side = rng.choice([-1.0, 1.0], n)
    price = np.exp(rng.normal(0.0, 4.0, n))
    # Liquidation prices a hair to far from the price, on both sides of it; none (NaN, inf, <= 0).
    lp = price * np.exp(rng.normal(0.0, 1.0, n) * rng.choice([1e-9, 1e-4, 1e-2, 0.3, 2.0], n))
    u = rng.random(n)
    lp[u < 0.04] = np.nan
    lp[(u >= 0.04) & (u < 0.06)] = np.inf
    lp[(u >= 0.06) & (u < 0.08)] = -1.0
    lp[(u >= 0.08) & (u < 0.09)] = 0.0
    lp[(u >= 0.09) & (u < 0.11)] = price[(u >= 0.09) & (u < 0.11)]  # at it: 1
    return side, price, lp


@pytest.mark.parametrize("sigma", [1e-3, 0.3, 0.8, 3.0, 40.0])
@pytest.mark.parametrize("horizon_days", [1.0 / 24.0, 1.0, 7.0, 365.0])
@pytest.mark.parametrize("mu", [0.0, 0.5, -2.0])
def test_batch_equals_one_call_per_position(sigma: float, horizon_days: float, mu: float) -> None:
    rng = np.random.default_rng(int(sigma * 1000) + int(horizon_days * 24) + int(mu * 10) + 70)
    side, price, lp = _cases(rng, 400)
    got = prob_liquidation_gbm(side, price, lp, sigma, horizon_days, mu)
    want = [
        prob_liquidation(int(s), float(p), float(x), sigma, horizon_days, mu)
        for s, p, x in zip(side, price, lp, strict=True)
    ]
    assert got.tolist() == want
    assert prob_liquidation_gbm_list(side.tolist(), price.tolist(), lp.tolist(), sigma, horizon_days, mu) == want
    assert np.count_nonzero((got > 0.0) & (got < 1.0)) > 40 or sigma < 0.01  # not only the 0/1 cases


def test_batch_shapes_and_errors() -> None:
    # Broadcasting: one price for all; a scalar row.
    got = prob_liquidation_gbm([1.0, -1.0], 100.0, [90.0, 110.0], 0.8, 1.0)
    assert got.tolist() == [prob_liquidation(1, 100.0, 90.0, 0.8, 1.0), prob_liquidation(-1, 100.0, 110.0, 0.8, 1.0)]
    assert prob_liquidation_gbm(1.0, 100.0, 90.0, 0.8, 1.0).shape == (1,)
    assert prob_liquidation_gbm([], [], [], 0.8, 1.0).shape == (0,)
    bad_rows = [
        ([1.0, 0.5], [100.0, 100.0]),  # a side that is not +/-1
        ([1.0, -1.0], [100.0, 0.0]),  # a price that is not > 0
        ([1.0, -1.0], [100.0, math.nan]),
        ([1.0, -1.0], [math.inf, 100.0]),
    ]
    for side, price in bad_rows:
        k = next(i for i, (s, p) in enumerate(zip(side, price, strict=True)) if abs(s) != 1.0 or not 0.0 < p < math.inf)
        with pytest.raises(InputError) as want:
            prob_liquidation(side[k], price[k], 90.0, 0.8, 1.0)  # type: ignore[arg-type]  # a bad side on purpose
        with pytest.raises(InputError) as got_err:
            prob_liquidation_gbm(side, price, [90.0, 90.0], 0.8, 1.0)
        assert str(got_err.value) == str(want.value)
    for sigma, horizon, mu in ((0.0, 1.0, 0.0), (math.nan, 1.0, 0.0), (0.8, -1.0, 0.0), (0.8, 1.0, math.inf)):
        with pytest.raises(InputError) as want:
            prob_liquidation(1, 100.0, 90.0, sigma, horizon, mu)
        with pytest.raises(InputError) as got_err:
            prob_liquidation_gbm([1.0], [100.0], [90.0], sigma, horizon, mu)
        assert str(got_err.value) == str(want.value)


def test_gbm_hit_probs_equal_gbm_hit_prob() -> None:
    rng = np.random.default_rng(3)
    b = -np.abs(rng.normal(0.0, 1.0, 500)) * rng.choice([1e-8, 1e-3, 1.0, 20.0], 500)
    b[:5] = [0.0, 0.5, math.nan, -math.inf, -1e-300]
    nu = rng.normal(0.0, 5.0, 500)
    for sigma, t in ((0.8, 1.0 / 365.0), (0.05, 2.0), (5.0, 1e-6), (0.8, 0.0), (0.8, -1.0)):
        want = [gbm_hit_prob(float(x), float(v), sigma, t) for x, v in zip(b, nu, strict=True)]
        assert gbm_hit_probs(b, nu, sigma, t).tolist() == want
        assert gbm_hit_prob_list(b.tolist(), nu.tolist(), sigma, t) == want


def _prob_one_by_one(f: GbmForecaster, s: np.ndarray, d: np.ndarray, h: np.ndarray) -> list[float]:
    # GbmForecaster.prob before the batch: prob_liquidation per position.
    out = []
    for si, di, hi in zip(s, d, h, strict=True):
        if di <= 0.0:
            out.append(1.0)
            continue
        lp = 1.0 - di if si > 0 else 1.0 + di
        if f.sigma_annual <= 0.0:
            out.append(0.0)
            continue
        out.append(
            prob_liquidation("long" if si > 0 else "short", 1.0, lp, f.sigma_annual, hi / 24.0) if lp > 0 else 0.0
        )
    return out


@pytest.mark.parametrize("sigma", [0.0, 0.2, 0.8, 4.0])
def test_gbm_forecaster_equals_prob_liquidation_per_position(sigma: float) -> None:
    rng = np.random.default_rng(int(sigma * 10) + 1)
    n = 300
    s = rng.choice([-1.0, 1.0], n)
    d = np.abs(rng.normal(0.0, 0.3, n)) * rng.choice([1e-9, 1e-3, 1.0, 5.0], n)
    d[:4] = [0.0, math.inf, 1.0, 2.0]
    f = GbmForecaster(sigma)
    for h in (np.full(n, 24), rng.choice([1, 8, 24, 168, 720], n)):
        assert f.prob(s, d, h).tolist() == _prob_one_by_one(f, s, d, h)
    # Scalars broadcast as before.
    assert f.prob(1.0, 0.1, 24).tolist() == _prob_one_by_one(f, np.array([1.0]), np.array([0.1]), np.array([24]))  # type: ignore[arg-type]
    # What prob() refuses (a side other than +1/-1, a negative or NaN distance, hours outside
    # 1..720) it refuses by name, as liquidation_forecasts does: it read side 0.5 as a long.
    for side, dist, hours, match in ((0.5, 0.1, 24, "side"), (-3.0, 0.1, 24, "side"), (1.0, -0.1, 24, "distance"),
                                     (1.0, math.nan, 24, "distance"), (1.0, 0.1, 0, "hours")):  # fmt: skip
        with pytest.raises(InputError, match=match):
            f.prob(np.array([side]), np.array([dist]), np.array([hours]))


@given(
    barrier=st.floats(-3.0, -1e-6),
    nu=st.floats(-5.0, 5.0),
    t=st.floats(1e-4, 10.0),
    sigma=st.floats(5e-324, 1e-150),
)
def test_property_a_vanishing_volatility_gives_the_drift_path(
    barrier: float, nu: float, t: float, sigma: float
) -> None:
    # Found by a bad-input campaign (2026-12-05): `levguard risk --vol 1e-200` raised
    # ZeroDivisionError (sigma**2 underflows), and near sigma = 1e-160 a position the drift never
    # takes to its barrier was given probability 1 (inf - inf in the exponent read as +inf).
    # As sigma -> 0 the log price is nu t: hit exactly when the drift alone reaches the barrier.
    assume(abs(nu * t - barrier) > 1e-9)
    expected = 1.0 if nu * t <= barrier else 0.0
    assert gbm_hit_prob(barrier, nu, sigma, t) == expected
    assert gbm_hit_prob_list([barrier], [nu], sigma, t) == [expected]
