"""Synthetic-market kernels: Brownian-bridge extremes, Kou jumps, regime chain, funding, parity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.data.synth import BTC_PARAMS
from levguard.kernels import synth as ks
from levguard.kernels._jit import NUMBA_DISABLED


@pytest.mark.parametrize("c", [-0.03, -0.001, 0.0, 0.002, 0.05])
@pytest.mark.parametrize("s2", [1e-6, 1e-4, 1e-2])
def test_bridge_extremes_invert_the_reflection_law(c: float, s2: float) -> None:
    """M >= max(0, c), m <= min(0, c), and P(M > M(u)) = exp(-2 M (M - c) / s2) = 1 - u exactly."""
    for u in np.linspace(0.0, 0.999, 41):
        hi = ks.bridge_max(c, s2, float(u))
        lo = ks.bridge_min(c, s2, float(u))
        assert hi >= max(0.0, c)
        assert lo <= min(0.0, c)
        assert math.exp(-2.0 * hi * (hi - c) / s2) == pytest.approx(1.0 - u, rel=1e-9, abs=1e-12)
        # The minimum of a bridge to c is minus the maximum of a bridge to -c.
        assert lo == pytest.approx(-ks.bridge_max(-c, s2, float(u)), rel=1e-12, abs=1e-15)


def test_bridge_maximum_matches_simulated_bridges() -> None:
    """Mean of the sampled maximum equals that of discretised bridges (Broadie-Glasserman-Kou shift)."""
    rng = np.random.default_rng(0)
    n_paths, n_steps, c = 3_000, 800, 0.5
    inc = rng.standard_normal((n_paths, n_steps)) / math.sqrt(n_steps)
    w = np.cumsum(inc, axis=1)
    t = np.arange(1, n_steps + 1) / n_steps
    bridge = w - t * w[:, -1:] + t * c  # Brownian bridge from 0 to c over unit variance
    discrete_max = np.maximum(bridge.max(axis=1), 0.0).mean()
    # Discrete monitoring underestimates the maximum by about 0.5826 sigma sqrt(dt) (BGK 1997).
    corrected = discrete_max + 0.5826 / math.sqrt(n_steps)
    exact = np.mean([ks.bridge_max(c, 1.0, u) for u in rng.random(100_000)])
    assert corrected == pytest.approx(exact, abs=0.02)


def test_kou_jump_event_and_sizes() -> None:
    u = (np.arange(200_000) + 0.5) / 200_000
    p, p_down, eta_d, eta_u = 0.01, 0.6, 0.025, 0.02
    j = np.array([ks.kou_jump(x, p, p_down, eta_d, eta_u) for x in u])
    assert np.count_nonzero(j) == pytest.approx(p * u.size, rel=1e-3)
    down, up = j[j < 0], j[j > 0]
    assert down.size / (down.size + up.size) == pytest.approx(p_down, rel=1e-3)
    assert -down.mean() == pytest.approx(eta_d, rel=0.02)
    assert up.mean() == pytest.approx(eta_u, rel=0.02)
    assert ks.kou_jump(0.5, 0.0, p_down, eta_d, eta_u) == 0.0


def test_regime_chain_follows_its_transition_matrix_and_forcing() -> None:
    p = BTC_PARAMS.transition_matrix()
    cum = np.cumsum(p, axis=1)
    cum[:, -1] = 1.0
    n = 400_000
    u = np.random.default_rng(1).random(n)
    forced = np.full(n, -1, dtype=np.int64)
    forced[1000:1100] = 2
    out = np.empty(n, dtype=np.int64)
    ks.regime_chain_nb(u, cum, 0, forced, out)
    assert (out[1000:1100] == 2).all()
    counts = np.zeros((3, 3))
    np.add.at(counts, (out[:-1], out[1:]), 1.0)
    freq = counts / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.diag(freq), np.diag(p), atol=2e-3)
    occupancy = np.bincount(out, minlength=3) / n
    np.testing.assert_allclose(occupancy, BTC_PARAMS.stationary(), atol=0.08)


@pytest.mark.parametrize(
    ("premium", "rate"),
    [
        (0.0, 0.0001),  # inside the clamp band: the interest rate
        (0.0005, 0.0001),  # I - P = -0.0004, inside [-0.0005, 0.0005]
        (0.0010, 0.0005),  # P + clamp(-0.0009) = 0.0010 - 0.0005
        (-0.0010, -0.0005),  # P + clamp(0.0011) = -0.0010 + 0.0005
        (0.0200, 0.0030),  # capped at +0.3 %
        (-0.0200, -0.0030),  # floored at -0.3 %
    ],
)
def test_funding_from_premium_is_binances_formula(premium: float, rate: float) -> None:
    """F = P + clamp(I - P, -0.05 %, 0.05 %), I = 0.01 %, capped (Binance funding-rate FAQ)."""
    assert ks.funding_from_premium(premium, 0.0001, 0.0005, 0.003) == pytest.approx(rate, abs=1e-15)


def test_funding_path_forced_prints() -> None:
    n = 50
    regime = np.zeros(n, dtype=np.int64)
    forced = np.full(n, np.nan)
    forced[[10, 20, 30]] = [-0.003, 0.0001, 0.002]
    z = np.zeros(n)
    params = np.array([0.8, 0.0, 0.0001, 0.0005, 0.003])
    premium, rate = np.empty(n), np.empty(n)
    trip = np.array([0.0, 0.0, 0.0])
    ks.funding_path_nb(regime, z, z, np.ones(n), forced, trip, trip, trip, trip, params, premium, rate)
    assert rate[10] == pytest.approx(-0.003)
    assert rate[20] == pytest.approx(0.0001)
    assert rate[30] == pytest.approx(0.002)
    assert rate[0] == pytest.approx(0.0001)


def _path_inputs(n: int, k: int, seed: int) -> tuple[tuple[object, ...], tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    hours = -(-n // k)
    regime = rng.integers(0, 3, hours).astype(np.int64)
    z = rng.standard_t(5.0, n) * math.sqrt(3.0 / 5.0)
    crash_start = np.array([40, 120], dtype=np.int64)
    crash_params = np.array([[24.0, 0.4553, 0.0961, 0.2814, 6.16, 0.0233], [8.0, 0.1713, 0.1156, 0.0918, 9.31, 0.0036]])
    args = (
        k, 30_000.0, regime, np.array([0.4, 0.62, 1.1]) ** 2 / 8760, np.array([1.2, 0.3, -1.0]) / 8760,
        np.array([0.07, 0.9, 3.0]), np.array([4.0, 10.0, 40.0]) / (8760 * k) * 50, np.array([0.6, 0.025, 0.02]),
        np.array([math.log(10_000 / k), 0.35, 0.6]), np.array([-0.35, 0.0, 0.7]), np.array([0.53 ** (1 / k), 3.3e-4, 0.9]),
        crash_start, crash_params, z, rng.random(n), rng.random(n), rng.random(n),
        rng.standard_normal(n), rng.standard_normal(n),
    )  # fmt: skip
    outs = (np.empty((4, n)), np.empty((4, n)), np.empty(n))
    return args, outs


@pytest.mark.parametrize("k", [1, 4])
def test_market_path_bars_are_consistent_and_crashes_pinned(k: int) -> None:
    n = 200 * k
    args, (ohlc, mark, vol) = _path_inputs(n, k, 3)
    ks.market_path_nb(*args, ohlc, mark, vol)
    o, h, lo, c = ohlc
    assert (lo > 0).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (np.maximum(o, c) <= h).all()
    np.testing.assert_array_equal(o[1:], c[:-1])
    mo, mh, ml, mc = mark
    assert (ml <= np.minimum(mo, mc)).all()
    assert (np.maximum(mo, mc) <= mh).all()
    assert (vol > 0).all()
    # Black-Thursday profile from hour 40: trough low = 24-hour peak x (1 - depth), close = low x (1 + wick).
    trough = (40 + 24) * k - 1
    peak = h[trough - 24 * k + 1 : trough + 1].max()
    lookback_peak = h[(40 - 1) * k : 40 * k].max()
    assert lo[trough] == pytest.approx(max(lookback_peak, o[40 * k]) * (1 - 0.4553), rel=1e-12)
    assert c[trough] == pytest.approx(lo[trough] * 1.0961, rel=1e-12)
    assert 1 - lo[trough] / peak == pytest.approx(0.4553, abs=0.02)


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
@pytest.mark.parametrize("k", [1, 4])
def test_compiled_equals_python(k: int) -> None:
    """Bitwise-equal paths: same inputs, same expressions in the same order."""
    n = 300 * k
    args, outs_nb = _path_inputs(n, k, 5)
    _, outs_py = _path_inputs(n, k, 5)
    ks.market_path_nb(*args, *outs_nb)
    ks.market_path_py(*args, *outs_py)
    for a, b in zip(outs_nb, outs_py, strict=True):
        np.testing.assert_array_equal(a, b)
    u = np.random.default_rng(2).random(5_000)
    cum = np.cumsum(BTC_PARAMS.transition_matrix(), axis=1)
    forced = np.full(5_000, -1, dtype=np.int64)
    r_nb, r_py = np.empty(5_000, dtype=np.int64), np.empty(5_000, dtype=np.int64)
    ks.regime_chain_nb(u, cum, 1, forced, r_nb)
    ks.regime_chain_py(u, cum, 1, forced, r_py)
    np.testing.assert_array_equal(r_nb, r_py)
