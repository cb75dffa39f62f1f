"""One GARCH/EWMA recursion (kernels.vol.garch_step) behind every consumer (issue 15).

The consumers used to write the update themselves; these tests hold them to the one step, bit for
bit where the old copies evaluated the same expression.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.core.risk.var import GarchParams, garch_filter
from levguard.kernels import forecast as kf
from levguard.kernels import sizing as ks
from levguard.kernels import vol as kv
from levguard.kernels._jit import NUMBA_DISABLED

RNG = np.random.default_rng(15)
R = RNG.standard_t(4, 500) * 0.01


def test_ewma_is_garch_with_zero_omega_bit_for_bit() -> None:
    """EWMA = GARCH(1,1) with omega 0, alpha 1 - lam, beta lam (the arch parametrisation)."""
    lam = 0.94
    v = 1e-4
    for r in R:
        x = float(r * r)
        want = lam * v + (1.0 - lam) * x  # the RiskMetrics update as the old copies wrote it
        assert kv.ewma_step(v, x, lam) == want
        assert kv.garch_step(v, x, 1.0, 0.0, 1.0 - lam, lam) == want
        v = want


def test_garch_step_forms_give_the_old_bits() -> None:
    """The three ways a caller gives the squared innovation reproduce the old expressions."""
    omega, alpha, beta = 1e-6, 0.08, 0.9
    h = 4e-4
    for z in R * 100.0:
        eps = math.sqrt(h) * z
        # raw innovation (first-passage paths, VaR filter): omega + alpha eps eps + beta h
        assert kv.garch_step(h, 1.0, eps, omega, alpha, beta) == omega + alpha * eps * eps + beta * h
        # standardised shock with the variance as scale (synthetic market): alpha h z z
        assert kv.garch_step(h, h, z, omega, alpha, beta) == omega + alpha * h * z * z + beta * h
        h = kv.garch_step(h, 1.0, eps, omega, alpha, beta)


def test_gjr_step_adds_gamma_after_a_negative_shock() -> None:
    h, omega, alpha, gamma, beta = 2e-4, 1e-6, 0.05, 0.1, 0.9
    assert kv.gjr_garch_step(h, 0.01, omega, alpha, gamma, beta) == omega + alpha * 0.01 * 0.01 + beta * h
    assert kv.gjr_garch_step(h, -0.01, omega, alpha, gamma, beta) == (
        omega + (alpha + gamma) * -0.01 * -0.01 + beta * h
    )


def test_garch_step_broadcasts_over_arrays() -> None:
    h = np.full(3, 1e-4)
    eps = np.array([0.01, -0.02, 0.0])
    got = kv.garch_step(h, np.ones(3), eps, np.full(3, 1e-6), np.full(3, 0.1), np.full(3, 0.85))
    want = [kv.garch_step(1e-4, 1.0, float(e), 1e-6, 0.1, 0.85) for e in eps]
    np.testing.assert_array_equal(got, want)


def test_var_garch_filter_is_the_kernel() -> None:
    g = GarchParams(omega=1e-6, alpha=0.05, beta=0.9, gamma=0.1, mu=0.0002)
    sigma, _ = garch_filter(R, g, sigma2_0=4e-4)
    var = np.empty(R.size + 1)
    var[0] = 4e-4
    kv.garch_filter_py(R - g.mu, g.omega, g.alpha, g.gamma, g.beta, var)
    np.testing.assert_array_equal(sigma, np.sqrt(var))
    s2 = 4e-4
    for t, e in enumerate(R - g.mu):
        s2 = g.omega + (g.alpha + (g.gamma if e < 0 else 0.0)) * e * e + g.beta * s2
        assert var[t + 1] == s2  # the hand recursion, bit for bit


def test_sizing_and_forecast_ewma_are_the_step() -> None:
    out = np.empty_like(R)
    ks.ewma_vol_path_py(R, 0.94, 1, 1.0, out)
    v = R[0] * R[0]
    for t in range(1, R.size):
        v = kv.garch_step(v, 1.0, float(R[t]), 0.0, 1.0 - 0.94, 0.94)  # eps**2 = 1 * r * r
        assert out[t] == math.sqrt(v)
    x = R * R
    x[::7] = np.nan
    got = np.empty_like(x)
    kf.ewma_mean_py(x, 0.9, got)
    want = np.empty_like(x)
    num = den = 0.0
    for t, xt in enumerate(x):
        if math.isnan(xt):
            num, den = 0.9 * num, 0.9 * den
        else:
            num, den = kv.ewma_step(num, float(xt), 0.9), kv.ewma_step(den, 1.0, 0.9)
        want[t] = num / den if den > 0.0 else math.nan
    np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
def test_garch_filter_compiled_equals_python() -> None:
    a = np.empty(R.size + 1)
    b = np.empty(R.size + 1)
    a[0] = b[0] = 3e-4
    kv.garch_filter_py(R, 1e-6, 0.05, 0.1, 0.9, a)
    kv.garch_filter_nb(R, 1e-6, 0.05, 0.1, 0.9, b)
    np.testing.assert_array_equal(a, b)
