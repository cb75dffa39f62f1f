"""Exogenous price paths of the cascade simulator (levguard.cascade.price_paths)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from levguard.cascade.price_paths import (
    crash_path,
    crash_paths,
    crash_step_hours,
    depth_multiplier_path,
    garch_t_paths,
    gbm_paths,
    jump_paths,
    path_for,
    paths_for,
    user_path,
)
from levguard.data.crashes import NAMED_CRASHES, crash_by_name
from levguard.errors import InputError
from levguard.kernels.paths import JUMP_NONE, jump_diffusion_fpt_nb

MINUTE = 1.0 / 525_600.0
GBM: dict[str, Any] = {"model": "gbm", "s0": 60_000.0, "sigma": 0.8, "n_steps": 240, "dt_years": MINUTE, "seed": 7}
SPECS: list[dict[str, Any]] = [
    GBM,
    {**GBM, "mu": 0.3},
    {**GBM, "model": "jump", "lam": 2_000.0, "jump_mean": -0.01, "jump_std": 0.02},
    {**GBM, "model": "merton"},
    {**GBM, "model": "garch_t", "alpha": 0.1, "beta": 0.85, "dof": 4.5},
    {**GBM, "model": "garch", "steps_per_update": 60},
    {"model": "crash", "name": "oct-2025-liquidations", "s0": 100.0, "n_steps": 330, "sigma": 0.5, "seed": 3},
    {"model": "crash", "name": "2020-03-12", "s0": 100.0, "n_steps": 49},
]


# --- path k of a spec equals row k of the batch ------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: str(s["model"]))
def test_path_for_equals_batch_row(spec: dict[str, Any]) -> None:
    batch = paths_for(spec, 6)
    assert batch.shape == (6, spec["n_steps"] + 1)
    assert batch.dtype == np.float64
    for k in (0, 3, 5):
        np.testing.assert_array_equal(path_for(spec, k), batch[k])
    # A block starting at `first` is the matching slice of a larger batch (worker chunks).
    np.testing.assert_array_equal(paths_for(spec, 3, first=2), batch[2:5])


def test_path_for_equals_named_batch_function() -> None:
    batch = gbm_paths(60_000.0, 0.8, 240, MINUTE, 8, 7)
    np.testing.assert_array_equal(path_for(GBM, 7), batch[7])
    jspec = {**GBM, "model": "jump", "lam": 500.0}
    np.testing.assert_array_equal(path_for(jspec, 4), jump_paths(60_000.0, 0.8, 240, MINUTE, 5, 7, lam=500.0)[4])
    gspec = {**GBM, "model": "garch_t", "dof": 6.0}
    np.testing.assert_array_equal(path_for(gspec, 2), garch_t_paths(60_000.0, 0.8, 240, MINUTE, 3, 7, dof=6.0)[2])
    cspec = {"model": "crash", "name": "ftx", "s0": 10.0, "n_steps": 100, "sigma": 1.0, "seed": 9}
    np.testing.assert_array_equal(path_for(cspec, 1), crash_paths("ftx", 10.0, 100, 2, 9, sigma=1.0)[1])
    np.testing.assert_array_equal(path_for(cspec, 1), crash_path("ftx", 10.0, 100, sigma=1.0, seed=9, k=1))


def test_user_spec_rows() -> None:
    rows = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(path_for({"model": "user", "path": rows}, 1), rows[1])
    np.testing.assert_array_equal(path_for({"model": "user", "path": rows[0]}, 5), rows[0])
    with pytest.raises(InputError, match="2 rows"):
        path_for({"model": "user", "path": rows}, 2)


# --- determinism ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS[:6], ids=lambda s: str(s["model"]))
def test_deterministic_per_seed(spec: dict[str, Any]) -> None:
    a = paths_for(spec, 4)
    np.testing.assert_array_equal(a, paths_for(spec, 4))
    assert np.all(a[:, 0] == spec["s0"])
    assert np.all(np.isfinite(a))
    assert np.all(a > 0.0)
    other = paths_for({**spec, "seed": spec["seed"] + 1}, 4)
    assert not np.any(np.all(a == other, axis=1))
    # Paths of one seed differ from each other.
    assert len({tuple(r) for r in a[:, 1:].round(12)}) == 4


# --- GBM ----------------------------------------------------------------------------------------
def test_gbm_moments() -> None:
    sigma, mu, dt, n_steps, n_paths = 0.8, 0.2, 1.0 / 365.0, 50, 4_000
    p = gbm_paths(100.0, sigma, n_steps, dt, n_paths, 11, mu=mu)
    r = np.diff(np.log(p), axis=1)
    horizon = n_steps * dt
    total = np.log(p[:, -1] / 100.0)
    # Terminal log return ~ N((mu - sigma^2/2) T, sigma^2 T): mean within 5 standard errors.
    se = sigma * math.sqrt(horizon / n_paths)
    assert abs(total.mean() - (mu - 0.5 * sigma**2) * horizon) < 5 * se
    assert total.std() == pytest.approx(sigma * math.sqrt(horizon), rel=0.05)
    assert r.std() == pytest.approx(sigma * math.sqrt(dt), rel=0.02)
    # Martingale part: E[S_T] = s0 exp(mu T), loosely.
    assert p[:, -1].mean() / 100.0 == pytest.approx(math.exp(mu * horizon), rel=0.03)
    # Independent steps and independent paths.
    assert abs(np.corrcoef(r[:, :-1].ravel(), r[:, 1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(r[0], r[1])[0, 1]) < 0.35


def test_gbm_is_the_first_passage_kernel_path() -> None:
    # The GBM path k is the path jump_diffusion_fpt monitors for the same seed (lam = 0,
    # discrete monitoring): both draw the step normals from stream k.
    sigma, dt, n_steps, n_paths, seed = 0.8, 1.0 / 8_760.0, 200, 300, 5
    p = gbm_paths(100.0, sigma, n_steps, dt, n_paths, seed)
    y_min = np.log(p[:, 1:] / 100.0).min(axis=1)
    barrier = -0.05
    hit = np.zeros(n_paths, dtype=np.bool_)
    tau = np.zeros(n_paths)
    nu = -0.5 * sigma * sigma
    jump_diffusion_fpt_nb(seed, n_steps, dt, nu, sigma, barrier, False, 0.0, JUMP_NONE, 0.0, 0.0, 0.0, hit, tau)
    clear = np.abs(y_min - barrier) > 1e-9
    assert clear.sum() > n_paths - 3
    np.testing.assert_array_equal(hit[clear], (y_min <= barrier)[clear])
    assert 0 < hit.sum() < n_paths
    first = np.argmax(np.log(p[:, 1:] / 100.0) <= barrier, axis=1) + 1
    np.testing.assert_allclose(tau[hit & clear], first[hit & clear] * dt, rtol=1e-12)


# --- jumps --------------------------------------------------------------------------------------
def test_jump_without_jumps_is_gbm() -> None:
    np.testing.assert_array_equal(
        jump_paths(100.0, 0.5, 100, MINUTE, 4, 3, mu=0.1, lam=0.0), gbm_paths(100.0, 0.5, 100, MINUTE, 4, 3, mu=0.1)
    )


def test_jump_moments() -> None:
    lam, m, s, dt, n_steps, n_paths = 50.0, -0.02, 0.03, 1.0 / 365.0, 30, 4_000
    p = jump_paths(100.0, 0.0, n_steps, dt, n_paths, 2, lam=lam, jump_mean=m, jump_std=s)
    r = np.diff(np.log(p), axis=1)
    horizon = n_steps * dt
    kappa = math.exp(m + 0.5 * s * s) - 1.0
    # With sigma = 0 a step without jumps moves by the compensator drift only.
    quiet = np.isclose(r, -lam * kappa * dt, rtol=0.0, atol=1e-15)
    assert (1.0 - quiet.mean()) == pytest.approx(1.0 - math.exp(-lam * dt), rel=0.05)
    # Terminal log return: mean (-lam kappa + lam m) T, variance lam (m^2 + s^2) T.
    total = np.log(p[:, -1] / 100.0)
    var = lam * (m * m + s * s) * horizon
    assert abs(total.mean() - (-lam * kappa + lam * m) * horizon) < 5 * math.sqrt(var / n_paths)
    assert total.var() == pytest.approx(var, rel=0.1)
    # Compensated: E[S_T] = s0.
    assert p[:, -1].mean() == pytest.approx(100.0, rel=0.01)


# --- GARCH-t ------------------------------------------------------------------------------------
def test_garch_without_clustering_is_gbm() -> None:
    g = garch_t_paths(100.0, 0.6, 300, MINUTE, 3, 4, mu=0.2, alpha=0.0, beta=0.0, dof=math.inf)
    np.testing.assert_allclose(g, gbm_paths(100.0, 0.6, 300, MINUTE, 3, 4, mu=0.2), rtol=1e-12)


def test_garch_variance_and_clustering() -> None:
    sigma, dt = 0.6, 1.0 / 8_760.0
    p = garch_t_paths(100.0, sigma, 2_000, dt, 200, 8, alpha=0.1, beta=0.85, dof=6.0)
    r = np.diff(np.log(p), axis=1)
    assert r.std() == pytest.approx(sigma * math.sqrt(dt), rel=0.1)
    # Volatility clustering: squared returns are autocorrelated (GBM gives ~0).
    sq = r * r
    acf1 = np.mean([np.corrcoef(row[:-1], row[1:])[0, 1] for row in sq])
    assert acf1 > 0.05
    # Heavy tails: excess kurtosis of the per-step returns > 0.
    z = (r - r.mean()) / r.std()
    assert (z**4).mean() - 3.0 > 0.5


def test_garch_steps_per_update_shares_variance() -> None:
    # Within a GARCH period the steps share one conditional variance: with normal shocks the
    # standardised returns of a period have the same scale.
    p = garch_t_paths(100.0, 0.6, 120, MINUTE, 50, 1, alpha=0.2, beta=0.7, dof=math.inf, steps_per_update=60)
    r = np.diff(np.log(p), axis=1)
    first, second = r[:, :60], r[:, 60:]
    # First period at the unconditional variance; the second's varies across paths.
    assert first.std() == pytest.approx(0.6 * math.sqrt(MINUTE), rel=0.05)
    assert np.std([row.std() for row in second]) > np.std([row.std() for row in first])


# --- crash shapes -------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", NAMED_CRASHES, ids=lambda c: c.name)
def test_crash_path_reproduces_measured_shape(profile: Any) -> None:
    n_steps = 10 * (profile.speed_hours + 25)  # 6-minute steps
    p = crash_path(profile.name, 100.0, n_steps)
    i_low = 10 * profile.speed_hours
    i_close = i_low + 10
    low = 100.0 * (1.0 - profile.depth)
    assert p.shape == (n_steps + 1,)
    assert p[0] == 100.0
    assert p[i_low] == pytest.approx(low, rel=1e-15)
    # Peak-to-trough depth of the fall, the trough close (wick) and the 24-hour rebound.
    assert 1.0 - p[: i_low + 1].min() / p[: i_low + 1].max() == pytest.approx(profile.depth, rel=1e-12)
    assert np.all(np.diff(p[: i_low + 1]) < 0.0)
    assert p[i_close] / low - 1.0 == pytest.approx(profile.wick, rel=1e-12)
    assert p[-1] / low - 1.0 == pytest.approx(profile.rebound_24h, rel=1e-9, abs=1e-12)
    if profile.rebound_24h >= 0.0:
        assert p.min() == pytest.approx(low, rel=1e-15)
    assert crash_step_hours(profile.name, n_steps) == pytest.approx(0.1)


def test_crash_path_without_rebound_and_by_date() -> None:
    c = crash_by_name("oct-2025-liquidations")
    p = crash_path("2025-10-10", 50_000.0, 80, include_rebound=False)
    assert p.shape == (81,)
    assert p[-1] == pytest.approx(50_000.0 * (1.0 - c.depth), rel=1e-15)
    assert p.argmin() == 80
    assert crash_step_hours("2025-10-10", 80, include_rebound=False) == pytest.approx(0.1)


def test_crash_noise_keeps_knots() -> None:
    c = crash_by_name("china-ban")
    n_steps = 2 * (c.speed_hours + 25)
    base = crash_path("china-ban", 100.0, n_steps)
    noisy = crash_paths("china-ban", 100.0, n_steps, 3, 5, sigma=1.5)
    knots = [0, 2 * c.speed_hours, 2 * c.speed_hours + 2, n_steps]
    for row in noisy:
        np.testing.assert_allclose(row[knots], base[knots], rtol=1e-12)
        assert not np.allclose(row, base)
    assert not np.allclose(noisy[0], noisy[1])
    # Without noise every row is the shape.
    np.testing.assert_array_equal(crash_paths("china-ban", 100.0, n_steps, 2)[1], base)


# --- depth multiplier ---------------------------------------------------------------------------
def test_depth_multiplier_path() -> None:
    m = depth_multiplier_path(100, shock_step=10, floor=0.2, recovery_half_life=20.0)
    assert m.shape == (101,)
    np.testing.assert_array_equal(m[:10], 1.0)
    assert m[10] == pytest.approx(0.2)
    assert m[30] == pytest.approx(0.6)  # half the missing depth back after one half-life
    assert m[50] == pytest.approx(0.8)
    assert np.all(np.diff(m[10:]) > 0.0)
    assert m[-1] < 1.0
    flat = depth_multiplier_path(5, shock_step=2, floor=0.5, recovery_half_life=math.inf)
    np.testing.assert_array_equal(flat, [1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(depth_multiplier_path(3, shock_step=9, floor=0.5, recovery_half_life=1.0), 1.0)


# --- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"s0": 0.0}, "s0 must be > 0, was 0.0"),
        ({"s0": math.nan}, "s0 must be > 0"),
        ({"sigma": -0.1}, "sigma must be >= 0"),
        ({"n_steps": 0}, "n_steps must be an integer"),
        ({"n_steps": 10.0}, "n_steps must be an integer"),
        ({"dt_years": 0.0}, "dt_years must be > 0"),
        ({"n_paths": -1}, "n_paths must be an integer"),
        ({"seed": -1}, "seed must be an integer"),
        ({"seed": True}, "seed must be an integer"),
        ({"mu": math.inf}, "mu must be finite"),
    ],
)
def test_gbm_validation(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"s0": 100.0, "sigma": 0.5, "n_steps": 10, "dt_years": MINUTE, "n_paths": 2, "seed": 1}
    with pytest.raises(InputError, match=match):
        gbm_paths(**{**args, **kwargs})


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({**GBM, "model": "jump", "lam": -1.0}, "lam must be >= 0"),
        ({**GBM, "model": "jump", "jump_std": -0.1}, "jump_std must be >= 0"),
        # A bad-input campaign (2026-12-05): a log jump of 710 overflowed the compensator
        # (OverflowError), one of 50 overflowed every price ("at least 2 finite prices").
        ({**GBM, "model": "jump", "jump_mean": 710.0}, r"jump_mean is a log jump and must be at most 1 .* was 710.0"),
        ({**GBM, "model": "jump", "jump_std": 1.5}, r"jump_std is a log jump and must be at most 1 .* was 1.5"),
        ({**GBM, "model": "jump", "lam": 1e9}, "expected jumps per step"),
        ({**GBM, "model": "garch_t", "alpha": 0.2, "beta": 0.8}, "alpha \\+ beta must be < 1"),
        ({**GBM, "model": "garch_t", "dof": 2.0}, "dof must be > 2"),
        ({**GBM, "model": "garch_t", "sigma": 0.0}, "sigma must be > 0"),
        ({**GBM, "model": "garch_t", "steps_per_update": 0}, "steps_per_update"),
        ({**GBM, "model": "heston"}, "spec\\['model'\\] must be one of"),
        ({"s0": 1.0}, "spec\\['model'\\] must be one of"),
        ({"model": "gbm", "s0": 1.0}, "missing \\['sigma', 'n_steps', 'dt_years', 'seed'\\]"),
        ({**GBM, "sigmaa": 0.1}, "unknown keys \\['sigmaa'\\]"),
        ({"model": "crash", "name": "nope", "s0": 1.0, "n_steps": 10}, "crash must be one of"),
        ({"model": "crash", "name": "ftx", "s0": 1.0, "n_steps": 2}, "n_steps must be >= 3"),
        ({"model": "user", "path": [1.0, -2.0]}, "path\\[1\\] must be a finite price > 0, was -2.0"),
    ],
)
def test_spec_validation(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        path_for(spec, 0)


def test_path_for_rejects_bad_index_and_spec() -> None:
    with pytest.raises(InputError, match="k must be an integer"):
        path_for(GBM, -1)
    with pytest.raises(InputError, match="spec must be a mapping"):
        path_for([("model", "gbm")], 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ([1.0], "T >= 1"),
        ([[1.0, 2.0], [3.0, math.nan]], "path\\[\\(1, 1\\)\\] must be a finite price > 0, was nan"),
        ([1.0, 0.0, 2.0], "path\\[1\\]"),
        (np.ones((2, 2, 2)), "shape"),
        ("abc", "array of prices"),
    ],
)
def test_user_path_validation(path: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        user_path(path)


def test_user_path_returns_float64_copy() -> None:
    src = [1, 2, 3]
    out = user_path(src)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"floor": 0.0}, "floor must be in \\(0, 1\\]"),
        ({"floor": 1.5}, "floor must be in"),
        ({"recovery_half_life": 0.0}, "recovery_half_life must be > 0"),
        ({"recovery_half_life": math.nan}, "recovery_half_life must be > 0"),
        ({"shock_step": -1}, "shock_step must be an integer"),
    ],
)
def test_depth_multiplier_validation(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"shock_step": 1, "floor": 0.5, "recovery_half_life": 3.0}
    with pytest.raises(InputError, match=match):
        depth_multiplier_path(10, **{**args, **kwargs})
