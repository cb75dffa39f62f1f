"""Market-path kernels: log-price paths of K assets from a joint bootstrap or a one-factor jump model.

Both kernels fill ``out`` of shape ``(n_paths, n_steps + 1, K)`` with cumulative log returns
(``out[p, 0, :] = 0``); the caller turns them into prices ``s0 * exp(out)``.  Row ``p`` is path
``k = first + p``, computed from ``(seed, k)`` alone, so a block of paths equals the matching rows
of a larger batch whatever the block, the order or the thread that runs it.

Random numbers are the counter-based streams of :mod:`levguard.kernels.paths` (xoshiro128**
seeded by hashing ``(seed, stream)``), laid out as in :mod:`levguard.cascade.price_paths`:

* stream ``k``: the bootstrap's block starts and lengths; the market factor's diffusive shocks
  (the GBM normals of ``price_paths.gbm_paths`` for the same seed);
* streams ``2**62 + 2 k`` and ``2**62 + 2 k + 1``: the factor's jump counts (one uniform per
  step, inverted through the Poisson table) and jump sizes (one normal per step), exactly the
  draws of ``price_paths.jump_paths``;
* stream ``2**61 + k``: every asset's idiosyncratic shocks, drawn in asset order
  (disjoint from the others for ``k < 2**61``).

So with one asset and no idiosyncratic part the factor kernel reproduces the one-asset GBM and
Merton paths bit for bit, and the fixed-block bootstrap of one column visits the same indices as
:func:`levguard.kernels.paths.bootstrap_fpt_py` (both tested).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from levguard.kernels._jit import jit_parallel, prange
from levguard.kernels.paths import _rng_std_t, _t_constants, rng_next, rng_normal, rng_seed, rng_uniform
from levguard.kernels.vol import garch_step
from levguard.typing import Float64Array, Float64Array1D, Float64Array2D

__all__ = [
    "EXTRA_STREAMS",
    "IDIO_STREAMS",
    "FactorJumpInputs",
    "bootstrap_log_paths_nb",
    "bootstrap_log_paths_py",
    "factor_jump_log_paths_nb",
    "factor_jump_log_paths_py",
]

EXTRA_STREAMS = 2**62
"""First stream of the jump counts (``2**62 + 2 k``) and sizes (``2**62 + 2 k + 1``) of path ``k``."""
IDIO_STREAMS = 2**61
"""Stream ``2**61 + k`` holds the idiosyncratic shocks of path ``k``."""


class FactorJumpInputs(NamedTuple):
    """Parameters of the one-factor jump model as arrays (a typed tuple inside compiled code).

    Components ``c = 0 .. K``: ``c = 0`` is the market factor's diffusive part, ``c = 1 + i``
    the idiosyncratic part of asset ``i``.  Per component (each ``(K + 1,)`` float64):

    * ``drift``: log drift per simulation step;
    * ``vol``: starting standard deviation per bar (0: no shocks, nothing drawn);
    * ``omega, alpha, beta``: GARCH(1,1) per bar (``alpha = beta = 0``: constant ``vol``);
    * ``dof``: Student-t degrees of freedom of the unit-variance shocks (``inf``: normal).

    Per asset (each ``(K,)`` float64): ``loading`` (beta on the factor's diffusive return),
    ``jump_loading`` (beta on the factor's jump) and ``jump_idio_std`` (standard deviation of
    the asset's own part of a jump, per jump).  ``jump_cdf`` is the Poisson table of jump
    counts per step (``P(N <= j)``, last entry 1; empty: no jumps), ``jump_mean`` and
    ``jump_std`` the normal log-jump size of the factor (as 1-element arrays).
    """

    drift: Float64Array1D
    vol: Float64Array1D
    omega: Float64Array1D
    alpha: Float64Array1D
    beta: Float64Array1D
    dof: Float64Array1D
    loading: Float64Array1D
    jump_loading: Float64Array1D
    jump_idio_std: Float64Array1D
    jump_cdf: Float64Array1D
    jump_mean: Float64Array1D
    jump_std: Float64Array1D


def bootstrap_log_paths_py(
    seed: int, first: int, returns: Float64Array2D, block: int, stationary: bool, log_stay: float, out: Float64Array
) -> None:
    """Fill ``out`` with joint block-bootstrap log paths of the rows of ``returns`` (in place).

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**63)``.
    first : int
        Path index of row 0 of ``out`` (row ``p`` is path ``first + p``, stream ``first + p``).
    returns : ndarray of float64, shape (T, K)
        Log returns, one row per time index (``T < 2**31``); rows are drawn whole, so every
        asset takes the return of the same time index.
    block : int
        Fixed block length (``stationary = False``).
    stationary : bool
        Stationary bootstrap (geometric block lengths) instead of fixed blocks.
    log_stay : float
        ``ln(1 - 1/mean_block)`` for the stationary bootstrap (``-inf`` for blocks of 1).
    out : ndarray of float64, shape (n_paths, n_steps + 1, K)
        Output: cumulative log returns, ``out[p, 0, :] = 0``.

    Notes
    -----
    A block starts at index ``floor(r T / 2**32)`` for a 32-bit word ``r`` and continues with
    the following rows, wrapping around (circular).  Fixed blocks: a new block every ``block``
    steps (Künsch 1989; circular form Politis and Romano 1992), the draws of
    :func:`levguard.kernels.paths.bootstrap_fpt_py`.  Stationary bootstrap (Politis and Romano,
    "The stationary bootstrap", JASA 89, 1994): block lengths are geometric with mean ``B``,
    ``L = 1 + floor(ln u / ln(1 - 1/B))`` for a uniform ``u`` drawn after the start index,
    which is the same as starting a new block with probability ``1/B`` at every step.
    """
    n_paths = out.shape[0]
    n_steps = out.shape[1] - 1
    n_ret = returns.shape[0]
    n_assets = returns.shape[1]
    for p in prange(n_paths):
        s0, s1, s2, s3 = rng_seed(seed, first + p)
        idx = 0
        left = 0
        for j in range(n_assets):
            out[p, 0, j] = 0.0
        for i in range(n_steps):
            if left == 0:
                s0, s1, s2, s3, r = rng_next(s0, s1, s2, s3)
                idx = (r * n_ret) >> 32
                if stationary:
                    s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
                    left = 1 + int(math.log(u) / log_stay)
                else:
                    left = block
            else:
                idx += 1
                if idx == n_ret:
                    idx = 0
            left -= 1
            for j in range(n_assets):
                out[p, i + 1, j] = out[p, i, j] + returns[idx, j]


bootstrap_log_paths_nb = jit_parallel(bootstrap_log_paths_py)


def factor_jump_log_paths_py(seed: int, first: int, substeps: int, m: FactorJumpInputs, out: Float64Array) -> None:
    """Fill ``out`` with log paths of the one-factor jump model (in place).

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**63)``.
    first : int
        Path index of row 0 of ``out``.
    substeps : int
        Simulation steps per bar of the fitted data (>= 1): drifts, jump tables and
        ``1/sqrt(substeps)`` shock scales are per step, GARCH variances per bar.
    m : FactorJumpInputs
        The model's arrays.
    out : ndarray of float64, shape (n_paths, n_steps + 1, K)
        Output: cumulative log returns, ``out[p, 0, :] = 0``.

    Notes
    -----
    Per step, with ``N`` the step's jump count and ``z`` unit-variance Student-t (or normal)
    shocks, the factor's diffusive return is ``F = drift_0 + sd_0 z_0`` and its jump
    ``J = N jump_mean + sqrt(N) jump_std z_J`` (Merton 1976: the sum of ``N`` normal jumps), and
    asset ``i`` returns

    ``r_i = drift_{1+i} + loading_i F + jump_loading_i J + sd_{1+i} z_{1+i} + sqrt(N) jump_idio_std_i z'_i``.

    ``sd_c = sqrt(h_c / substeps)``; after every bar, ``h_c = omega_c + alpha_c E_c**2 + beta_c h_c``
    with ``E_c`` the sum of the component's shocks over the bar (GARCH(1,1), Bollerslev 1986;
    :func:`levguard.kernels.vol.garch_step`), ``h_c = vol_c**2`` at the start.  The factor
    asset itself has ``loading = jump_loading = 1``, zero drift and no idiosyncratic part, so its
    return is ``F + J`` as written for one asset by ``price_paths.jump_paths``.
    """
    n_paths = out.shape[0]
    n_steps = out.shape[1] - 1
    n_assets = out.shape[2]
    n_comp = n_assets + 1
    inv_sqrt_m = 1.0 / math.sqrt(substeps)
    has_jumps = m.jump_cdf.shape[0] > 0
    jm = m.jump_mean[0]
    js = m.jump_std[0]
    td = np.empty(n_comp)
    tc = np.empty(n_comp)
    tk = np.empty(n_comp)
    clustered = np.zeros(n_comp, dtype=np.bool_)
    for c in range(n_comp):
        d, cc, kk = _t_constants(m.dof[c])
        td[c] = d
        tc[c] = cc
        tk[c] = kk
        clustered[c] = m.alpha[c] > 0.0 or m.beta[c] > 0.0
    for p in prange(n_paths):
        k = first + p
        f0, f1, f2, f3 = rng_seed(seed, k)
        e0, e1, e2, e3 = rng_seed(seed, IDIO_STREAMS + k)
        c0, c1, c2, c3 = rng_seed(seed, EXTRA_STREAMS + 2 * k)
        z0, z1, z2, z3 = rng_seed(seed, EXTRA_STREAMS + 2 * k + 1)
        h = np.empty(n_comp)
        sd = np.empty(n_comp)
        acc = np.zeros(n_comp)
        for c in range(n_comp):
            h[c] = m.vol[c] * m.vol[c]
            sd[c] = m.vol[c] * inv_sqrt_m
        for j in range(n_assets):
            out[p, 0, j] = 0.0
        for i in range(n_steps):
            f0, f1, f2, f3, zf = _rng_std_t(f0, f1, f2, f3, td[0], tc[0], tk[0])
            ef = sd[0] * zf
            acc[0] += ef
            fd = m.drift[0] + ef
            jump = 0.0
            cnt = 0.0
            if has_jumps:
                c0, c1, c2, c3, u = rng_uniform(c0, c1, c2, c3)
                n = 0
                while u > m.jump_cdf[n]:
                    n += 1
                cnt = float(n)
                z0, z1, z2, z3, zj = rng_normal(z0, z1, z2, z3)
                jump = cnt * jm + math.sqrt(cnt) * js * zj
            for j in range(n_assets):
                c = j + 1
                x = m.drift[c] + m.loading[j] * fd + m.jump_loading[j] * jump
                if m.vol[c] > 0.0:
                    e0, e1, e2, e3, ze = _rng_std_t(e0, e1, e2, e3, td[c], tc[c], tk[c])
                    ee = sd[c] * ze
                    acc[c] += ee
                    x += ee
                if cnt > 0.0 and m.jump_idio_std[j] > 0.0:
                    e0, e1, e2, e3, zi = rng_normal(e0, e1, e2, e3)
                    x += m.jump_idio_std[j] * math.sqrt(cnt) * zi
                out[p, i + 1, j] = out[p, i, j] + x
            if (i + 1) % substeps == 0:
                for c in range(n_comp):
                    if clustered[c]:
                        h[c] = garch_step(h[c], 1.0, acc[c], m.omega[c], m.alpha[c], m.beta[c])
                        sd[c] = math.sqrt(h[c]) * inv_sqrt_m
                    acc[c] = 0.0


factor_jump_log_paths_nb = jit_parallel(factor_jump_log_paths_py)
