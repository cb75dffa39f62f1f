"""First-passage kernels: Python twin vs compiled kernel, thread invariance, random variates."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

from levguard.kernels import _jit
from levguard.kernels import paths as kp

N = 400
COMPILED = not _jit.NUMBA_DISABLED


def _run(fn: Callable[..., None], *args: Any, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    hit = np.zeros(n, dtype=np.bool_)
    tau = np.full(n, -1.0)
    fn(*args, hit, tau)
    return hit, tau


JUMP_ARGS = {
    "gbm-bridge": (7, 40, 1.0 / 365.0, -0.3, 0.8, math.log(0.85), True, 0.0, kp.JUMP_NONE, 0.0, 0.0, 0.0),
    "gbm-discrete": (7, 40, 1.0 / 365.0, -0.3, 0.8, math.log(0.85), False, 0.0, kp.JUMP_NONE, 0.0, 0.0, 0.0),
    "merton": (8, 40, 1.0 / 365.0, -0.1, 0.6, math.log(0.85), True, 40.0, kp.JUMP_NORMAL, -0.04, 0.05, 0.0),
    "kou": (9, 40, 1.0 / 365.0, -0.1, 0.6, math.log(0.85), True, 40.0, kp.JUMP_DOUBLE_EXPONENTIAL, 0.4, 12.0, 8.0),
    "kou-discrete": (
        9,
        40,
        0.5 / 365.0,
        0.2,
        0.6,
        math.log(0.9),
        False,
        80.0,
        kp.JUMP_DOUBLE_EXPONENTIAL,
        0.4,
        12.0,
        8.0,
    ),
}


@pytest.mark.parametrize("name", list(JUMP_ARGS))
def test_jump_diffusion_python_twin_equals_compiled_kernel(name: str) -> None:
    args = JUMP_ARGS[name]
    hit_py, tau_py = _run(kp.jump_diffusion_fpt_py, *args)
    hit_nb, tau_nb = _run(kp.jump_diffusion_fpt_nb, *args)
    assert 0 < hit_py.sum() < N
    np.testing.assert_array_equal(hit_py, hit_nb)
    np.testing.assert_array_equal(tau_py, tau_nb)
    assert np.array_equal(np.isfinite(tau_nb), hit_nb)
    horizon = args[1] * args[2]
    assert np.all(tau_nb[hit_nb] > 0.0)
    assert np.all(tau_nb[hit_nb] <= horizon * (1 + 1e-12))
    if not args[6]:  # discrete monitoring: crossings dated at the monitoring times
        steps = tau_nb[hit_nb] / args[2]
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)


@pytest.mark.parametrize(
    ("dof", "bridge", "every"),
    [(5.0, True, 1), (math.inf, True, 1), (4.0, False, 1), (4.0, False, 3)],
    ids=["t5-bridge", "normal-bridge", "t4-discrete", "t4-every3"],
)
def test_garch_python_twin_equals_compiled_kernel(dof: float, bridge: bool, every: int) -> None:
    dt = 1.0 / 365.0
    args = (21, 30, dt, 0.0, -0.5, 2e-5, 0.1, 0.85, dof, 0.8**2 * dt, math.log(0.85), bridge, every)
    hit_py, tau_py = _run(kp.garch_t_fpt_py, *args)
    hit_nb, tau_nb = _run(kp.garch_t_fpt_nb, *args)
    assert 0 < hit_py.sum() < N
    np.testing.assert_array_equal(hit_py, hit_nb)
    np.testing.assert_array_equal(tau_py, tau_nb)
    if not bridge:
        steps = tau_nb[hit_nb] / dt
        whole = np.round(steps)
        np.testing.assert_allclose(steps, whole, atol=1e-9)
        assert np.all(whole.astype(np.int64) % every == 0)


@pytest.mark.parametrize(("block", "bridge"), [(1, True), (5, True), (3, False)])
def test_bootstrap_python_twin_equals_compiled_kernel(block: int, bridge: bool) -> None:
    returns = np.random.default_rng(2).standard_t(3, 500) * 0.03
    args = (33, 30, 1.0 / 365.0, returns, block, float(returns.var()), math.log(0.85), bridge, 1)
    hit_py, tau_py = _run(kp.bootstrap_fpt_py, *args)
    hit_nb, tau_nb = _run(kp.bootstrap_fpt_nb, *args)
    assert 0 < hit_py.sum() < N
    np.testing.assert_array_equal(hit_py, hit_nb)
    np.testing.assert_array_equal(tau_py, tau_nb)


def test_block_bootstrap_walks_consecutive_returns() -> None:
    """With a block as long as the horizon, each path is a circular run of the history."""
    returns = np.array([-0.01, -0.02, 0.03, -0.05, 0.01, 0.02, -0.04, 0.0])
    path_min = []
    for start in range(returns.size):
        path = np.cumsum(np.roll(returns, -start)[:6])
        path_min.append(path.min())
    barrier = -0.055
    n_paths = 4000
    hit, _ = _run(kp.bootstrap_fpt_nb, 4, 6, 1.0, returns, 6, 0.0, barrier, False, 1, n=n_paths)
    # Discrete monitoring, no bridge: the hit rate is the share of start points whose run dips below.
    expected = np.mean(np.array(path_min) <= barrier)
    assert abs(hit.mean() - expected) < 4.0 * math.sqrt(expected * (1 - expected) / n_paths)


@pytest.mark.skipif(not COMPILED, reason="numba disabled")
def test_results_do_not_depend_on_the_thread_count() -> None:
    from levguard.kernels import load_numba

    numba = load_numba()

    args = JUMP_ARGS["kou"]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run(kp.jump_diffusion_fpt_nb, *args, n=20_000)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = _run(kp.jump_diffusion_fpt_nb, *args, n=20_000)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one[1], many[1])


def test_seeds_and_streams_are_reproducible_and_distinct() -> None:
    a, b, c = np.empty(1000), np.empty(1000), np.empty(1000)
    kp.fill_uniforms_nb(5, 0, a)
    kp.fill_uniforms_nb(5, 0, b)
    kp.fill_uniforms_nb(5, 1, c)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    kp.fill_uniforms_nb(2**63 - 1, 2**40, c)
    assert np.all((c > 0.0) & (c < 1.0))
    py = np.empty(1000)
    kp.fill_uniforms_py(5, 0, py)
    np.testing.assert_array_equal(py, a)
    # Independent streams: no correlation between neighbouring paths' uniforms.
    kp.fill_uniforms_nb(5, 1, c)
    assert abs(np.corrcoef(a, c)[0, 1]) < 0.1


def test_normal_variates() -> None:
    z = np.empty(400_000)
    kp.fill_normals_nb(17, 3, z)
    assert abs(z.mean()) < 4.0 / math.sqrt(z.size)
    assert abs(z.var() - 1.0) < 4.0 * math.sqrt(2.0 / z.size)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # Tails (ziggurat base layer and tail sampler): P(|Z| > 3.5) = 4.65e-4.
    tail = np.mean(np.abs(z) > 3.5)
    assert abs(tail - 2.0 * stats.norm.sf(3.5)) < 4.0 * math.sqrt(4.65e-4 / z.size)
    z_py = np.empty(2000)
    kp.fill_normals_py(17, 3, z_py)
    np.testing.assert_array_equal(z_py, z[:2000])


def test_student_t_variates_have_unit_variance_and_t_shape() -> None:
    t = np.empty(400_000)
    kp.fill_student_t_nb(3, 0, 6.0, t)
    assert abs(t.var() - 1.0) < 0.03
    scale = math.sqrt(6.0 / 4.0)  # unit variance -> standard t(6)
    assert stats.kstest(t * scale, stats.t(6).cdf).pvalue > 1e-3
    t_py = np.empty(500)
    kp.fill_student_t_py(3, 0, 6.0, t_py)
    np.testing.assert_array_equal(t_py, t[:500])
    normal = np.empty(1000)
    kp.fill_student_t_nb(3, 0, math.inf, normal)
    z = np.empty(1000)
    kp.fill_normals_nb(3, 0, z)
    np.testing.assert_array_equal(normal, z)


def test_far_barrier_is_never_hit_and_zero_steps_do_nothing() -> None:
    hit, tau = _run(kp.jump_diffusion_fpt_nb, 1, 10, 1.0 / 365.0, 0.0, 0.5, -20.0, True, 0.0, 0, 0.0, 0.0, 0.0)
    assert not hit.any()
    assert np.all(np.isinf(tau))
    hit, tau = _run(kp.jump_diffusion_fpt_nb, 1, 0, 1.0 / 365.0, 0.0, 0.5, -0.01, True, 0.0, 0, 0.0, 0.0, 0.0)
    assert not hit.any()
