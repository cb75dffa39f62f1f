"""First-passage Monte Carlo kernels: log-price paths against a lower barrier.

Every kernel simulates ``n_paths`` independent paths of a log price ``Y`` that starts at 0 and
reports, per path, whether ``Y`` reached the barrier ``barrier < 0`` within ``n_steps`` steps
(``hit``) and the first-passage time in years (``tau``, ``inf`` when not hit).  A short
position is simulated by its mirror image ``Y = -X`` (the caller negates drifts, jumps and
returns), so only a lower barrier exists here.

Monitoring.  With ``bridge=True`` the barrier is monitored continuously: besides checking the
end point of each step, a step whose two end points ``y0, y1`` are both above the barrier is
counted as crossing with the Brownian-bridge probability

    P(cross | y0, y1) = exp(-2 (y0 - b) (y1 - b) / v),

where ``v`` is the variance of the step's Gaussian part (``sigma**2 h`` for a step of length
``h``), and a uniform variate decides (Glasserman, *Monte Carlo Methods in Financial
Engineering*, 2004, section 6.4; Karatzas and Shreve 1991 for the bridge's minimum).  For a
Brownian motion with drift the bridge does not depend on the drift, so the correction is exact:
coarse steps give unbiased continuous-monitoring probabilities.  With ``bridge=False`` only
the step end points are checked (a discretely monitored barrier, e.g. a mark price sampled
every ``dt``).  A crossing found by the bridge or by an end point in continuous mode is dated
at the middle of its (sub)step, so ``tau`` is accurate to half a step; in discrete mode it is
the monitoring time.

Random numbers.  Each path owns a xoshiro128** stream (Blackman and Vigna, "Scrambled linear
pseudorandom number generators", ACM TOMS 47, 2021) whose state is hashed from ``(seed,
path index)`` with the murmur3 32-bit finaliser, so paths are independent of the thread that
runs them: results depend on the seed only, not on the number of threads, and the Python twin
(``*_py``) reproduces the compiled kernel (``*_nb``) bit for bit.  All integer arithmetic is on
32-bit words held in int64 and never overflows (products are split into 16-bit halves), so the
same source runs on Python ints and on numba's int64.  Normals come from the ziggurat method
(Marsaglia and Tsang, "The ziggurat method for generating random variables", J. Stat. Softw.
5(8), 2000; 128 layers, 24-bit mantissa per layer, sign and layer from the other 8 bits),
gammas from Marsaglia and Tsang ("A simple method for generating gamma variables", ACM TOMS
26(3), 2000).
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jit, jit_parallel, jitable, prange
from levguard.kernels.vol import garch_step
from levguard.typing import BoolArray1D, Float64Array1D

__all__ = [
    "JUMP_DOUBLE_EXPONENTIAL",
    "JUMP_NONE",
    "JUMP_NORMAL",
    "bootstrap_fpt_nb",
    "bootstrap_fpt_py",
    "fill_normals_nb",
    "fill_normals_py",
    "fill_student_t_nb",
    "fill_student_t_py",
    "fill_uniforms_nb",
    "fill_uniforms_py",
    "garch_t_fpt_nb",
    "garch_t_fpt_py",
    "jump_diffusion_fpt_nb",
    "jump_diffusion_fpt_py",
    "rng_next",
    "rng_normal",
    "rng_seed",
    "rng_uniform",
]

JUMP_NONE = 0
"""``jump_kind``: no jumps (geometric Brownian motion)."""
JUMP_NORMAL = 1
"""``jump_kind``: Merton (1976) normal log jumps, ``j1`` = mean, ``j2`` = standard deviation."""
JUMP_DOUBLE_EXPONENTIAL = 2
"""``jump_kind``: Kou (2002) double-exponential log jumps, ``j1`` = P(up), ``j2`` = up rate
``eta_up``, ``j3`` = down rate ``eta_down`` (mean sizes ``1/eta_up`` and ``1/eta_down``)."""

_M32 = 0xFFFFFFFF
_INV32 = 1.0 / 4294967296.0
# Bridge exponents above this give crossing probabilities below exp(-50) ~ 2e-22: no draw.
_EXP_CUTOFF = 50.0


# --- ziggurat tables (Marsaglia and Tsang 2000, 128 layers, 24-bit magnitudes) ---------------
def _ziggurat_tables() -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    # Acceptance thresholds k, widths w (x_i / 2**24) and densities f = exp(-x_i**2 / 2).
    m1 = 16777216.0
    dn = 3.442619855899
    tn = dn
    vn = 9.91256303526217e-3
    k = np.zeros(128)
    w = np.zeros(128)
    f = np.zeros(128)
    q = vn / math.exp(-0.5 * dn * dn)
    k[0] = math.floor((dn / q) * m1)
    k[1] = 0.0
    w[0] = q / m1
    w[127] = dn / m1
    f[0] = 1.0
    f[127] = math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = math.floor((dn / tn) * m1)
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m1
    return k, w, f


_ZK, _ZW, _ZF = _ziggurat_tables()
_ZR = 3.442619855899  # right edge of the base layer (start of the tail)


# --- random number generation ---------------------------------------------------------------
@jitable
def _mul32(a: int, c: int) -> int:
    # Low 32 bits of a * c for 32-bit a, c, without ever exceeding 2**49 (no int64 overflow).
    return (a * (c & 0xFFFF) + (((a * (c >> 16)) & 0xFFFF) << 16)) & 0xFFFFFFFF


@jitable
def _fmix32(h: int) -> int:
    # murmur3's 32-bit finaliser: a bijective avalanche mix of a 32-bit word.
    h ^= h >> 16
    h = _mul32(h, 0x85EBCA6B)
    h ^= h >> 13
    h = _mul32(h, 0xC2B2AE35)
    h ^= h >> 16
    return h


@jitable
def rng_seed(seed: int, stream: int) -> tuple[int, int, int, int]:
    """Return the xoshiro128** state of stream ``stream`` (e.g. a path index) of ``seed``.

    Parameters
    ----------
    seed : int
        Non-negative seed, below ``2**63``.
    stream : int
        Non-negative stream number, below ``2**63``.

    Returns
    -------
    tuple of 4 int
        The four 32-bit state words (never all zero).
    """
    base = _fmix32((seed & 0xFFFFFFFF) ^ _fmix32(((seed >> 32) & 0xFFFFFFFF) ^ 0x9E3779B9))
    lo = stream & 0xFFFFFFFF
    hi = (stream >> 32) & 0xFFFFFFFF
    s0 = _fmix32(_fmix32((base + 0x7F4A7C15) & 0xFFFFFFFF) ^ _fmix32(lo ^ _fmix32(hi + 1)))
    s1 = _fmix32(_fmix32((base + 0x1B873593) & 0xFFFFFFFF) ^ _fmix32(lo ^ _fmix32(hi + 2)))
    s2 = _fmix32(_fmix32((base + 0xCC9E2D51) & 0xFFFFFFFF) ^ _fmix32(lo ^ _fmix32(hi + 3)))
    s3 = _fmix32(_fmix32((base + 0x6B43A9B5) & 0xFFFFFFFF) ^ _fmix32(lo ^ _fmix32(hi + 4)))
    if (s0 | s1 | s2 | s3) == 0:
        s0 = 1
    return s0, s1, s2, s3


@jitable
def rng_next(s0: int, s1: int, s2: int, s3: int) -> tuple[int, int, int, int, int]:
    """Advance a xoshiro128** state; return the new state and a 32-bit output word.

    Notes
    -----
    ``result = rotl(s1 * 5, 7) * 9``; then ``t = s1 << 9``, ``s2 ^= s0``, ``s3 ^= s1``,
    ``s1 ^= s2``, ``s0 ^= s3``, ``s2 ^= t``, ``s3 = rotl(s3, 11)`` (Blackman and Vigna 2021),
    all modulo ``2**32``.
    """
    a = (s1 * 5) & 0xFFFFFFFF
    r = ((((a << 7) | (a >> 25)) & 0xFFFFFFFF) * 9) & 0xFFFFFFFF
    t = (s1 << 9) & 0xFFFFFFFF
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = ((s3 << 11) | (s3 >> 21)) & 0xFFFFFFFF
    return s0, s1, s2, s3, r


@jitable
def rng_uniform(s0: int, s1: int, s2: int, s3: int) -> tuple[int, int, int, int, float]:
    """Return the new state and a uniform variate in the open interval ``(0, 1)``.

    Notes
    -----
    ``u = (r + 1/2) / 2**32`` for the 32-bit output ``r``: never 0 or 1, so ``log(u)`` is finite.
    """
    s0, s1, s2, s3, r = rng_next(s0, s1, s2, s3)
    return s0, s1, s2, s3, (r + 0.5) * _INV32


@jitable
def rng_normal(s0: int, s1: int, s2: int, s3: int) -> tuple[int, int, int, int, float]:
    """Return the new state and a standard normal variate (ziggurat, 128 layers).

    Notes
    -----
    One 32-bit word gives the layer (low 7 bits), the sign (bit 7) and a 24-bit magnitude
    ``u``; ``x = u w_i`` is accepted at once when ``u < k_i`` (about 98.8 % of draws).
    Otherwise the wedge is tested against ``exp(-x**2 / 2)``, or, in the base layer, the tail
    beyond ``r = 3.4426`` is sampled by Marsaglia's method: ``x = -ln(u1)/r``,
    ``y = -ln(u2)`` until ``2 y >= x**2``, giving ``r + x`` (Marsaglia and Tsang 2000).
    """
    while True:
        s0, s1, s2, s3, r = rng_next(s0, s1, s2, s3)
        iz = r & 127
        u = r >> 8
        x = u * _ZW[iz]
        neg = (r & 128) != 0
        if u < _ZK[iz]:
            return s0, s1, s2, s3, -x if neg else x
        if iz == 0:
            while True:
                s0, s1, s2, s3, u1 = rng_uniform(s0, s1, s2, s3)
                s0, s1, s2, s3, u2 = rng_uniform(s0, s1, s2, s3)
                xt = -math.log(u1) / _ZR
                yt = -math.log(u2)
                if yt + yt >= xt * xt:
                    break
            return s0, s1, s2, s3, -(_ZR + xt) if neg else _ZR + xt
        s0, s1, s2, s3, u1 = rng_uniform(s0, s1, s2, s3)
        if _ZF[iz] + u1 * (_ZF[iz - 1] - _ZF[iz]) < math.exp(-0.5 * x * x):
            return s0, s1, s2, s3, -x if neg else x


@jitable
def _t_constants(dof: float) -> tuple[float, float, float]:
    # Constants of _rng_std_t for dof > 2: the gamma shape's d = dof/2 - 1/3, c = 1/sqrt(9 d)
    # and k = sqrt((dof - 2) / (2 d)).  dof = inf (normal innovations) gives zeros.
    if math.isinf(dof):
        return 0.0, 0.0, 0.0
    d = 0.5 * dof - 1.0 / 3.0
    return d, 1.0 / math.sqrt(9.0 * d), math.sqrt((dof - 2.0) / (2.0 * d))


@jitable
def _rng_std_t(s0: int, s1: int, s2: int, s3: int, d: float, c: float, k: float) -> tuple[int, int, int, int, float]:
    # Student-t with dof > 2 scaled to unit variance, z sqrt((dof - 2) / chi2) with
    # chi2 = 2 G and G ~ Gamma(dof/2) by Marsaglia and Tsang (2000): with x normal and
    # w = 1 + c x > 0, v = w**3, accept G = d v if u < 1 - 0.0331 x**4 or
    # ln u < x**2/2 + d (1 - v + ln v).  Then t = z k / sqrt(v) = z k / (w sqrt(w)).
    # d = 0 (from _t_constants(inf)) returns the normal z itself.
    s0, s1, s2, s3, z = rng_normal(s0, s1, s2, s3)
    if d == 0.0:
        return s0, s1, s2, s3, z
    while True:
        s0, s1, s2, s3, x = rng_normal(s0, s1, s2, s3)
        w = 1.0 + c * x
        if w <= 0.0:
            continue
        v = w * w * w
        s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
        xx = x * x
        if u < 1.0 - 0.0331 * xx * xx or math.log(u) < 0.5 * xx + d * (1.0 - v + math.log(v)):
            return s0, s1, s2, s3, z * k / (w * math.sqrt(w))


@jitable
def _bridge_hit(y0: float, y1: float, barrier: float, var: float, u: float) -> bool:
    # Brownian-bridge crossing of a lower barrier between two end points above it.
    return u < math.exp(-2.0 * (y0 - barrier) * (y1 - barrier) / var)


@jitable
def _step_hit(
    s0: int, s1: int, s2: int, s3: int, y: float, yn: float, barrier: float, var: float, i: int, dt: float,
    bridge: bool, check_every: int,
) -> tuple[int, int, int, int, float]:  # fmt: skip
    # Barrier test of step i (from y to yn, variance var): the hit time or inf, and the generator
    # state (a bridge test draws one uniform).  Continuous monitoring dates a hit mid-step;
    # discrete monitoring looks every check_every steps, at the step's end.
    if bridge:
        if yn <= barrier:
            return s0, s1, s2, s3, (i + 0.5) * dt
        if var > 0.0 and 2.0 * (y - barrier) * (yn - barrier) < _EXP_CUTOFF * var:
            s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
            if _bridge_hit(y, yn, barrier, var, u):
                return s0, s1, s2, s3, (i + 0.5) * dt
    elif (i + 1) % check_every == 0 and yn <= barrier:
        return s0, s1, s2, s3, (i + 1) * dt
    return s0, s1, s2, s3, math.inf


# --- generators exposed for tests ------------------------------------------------------------
def fill_uniforms_py(seed: int, stream: int, out: Float64Array1D) -> None:
    """Fill ``out`` with uniforms in ``(0, 1)`` from stream ``stream`` of ``seed``."""
    s0, s1, s2, s3 = rng_seed(seed, stream)
    for i in range(out.shape[0]):
        s0, s1, s2, s3, out[i] = rng_uniform(s0, s1, s2, s3)


def fill_normals_py(seed: int, stream: int, out: Float64Array1D) -> None:
    """Fill ``out`` with standard normals from stream ``stream`` of ``seed``."""
    s0, s1, s2, s3 = rng_seed(seed, stream)
    for i in range(out.shape[0]):
        s0, s1, s2, s3, out[i] = rng_normal(s0, s1, s2, s3)


def fill_student_t_py(seed: int, stream: int, dof: float, out: Float64Array1D) -> None:
    """Fill ``out`` with unit-variance Student-t variates (``dof > 2``; ``inf`` = normal)."""
    d, c, k = _t_constants(dof)
    s0, s1, s2, s3 = rng_seed(seed, stream)
    for i in range(out.shape[0]):
        s0, s1, s2, s3, out[i] = _rng_std_t(s0, s1, s2, s3, d, c, k)


fill_uniforms_nb = jit(fill_uniforms_py)
fill_normals_nb = jit(fill_normals_py)
fill_student_t_nb = jit(fill_student_t_py)


# --- jump diffusion (GBM, Merton, Kou) ---------------------------------------------------------
@jitable
def _jump_size(
    s0: int, s1: int, s2: int, s3: int, jump_kind: int, j1: float, j2: float, j3: float
) -> tuple[int, int, int, int, float]:
    # One log-jump: normal N(j1, j2**2), or double exponential (up w.p. j1 with rate j2, down
    # with rate j3).
    if jump_kind == 1:
        s0, s1, s2, s3, z = rng_normal(s0, s1, s2, s3)
        return s0, s1, s2, s3, j1 + j2 * z
    s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
    s0, s1, s2, s3, e = rng_uniform(s0, s1, s2, s3)
    if u < j1:
        return s0, s1, s2, s3, -math.log(e) / j2
    return s0, s1, s2, s3, math.log(e) / j3


def jump_diffusion_fpt_py(
    seed: int,
    n_steps: int,
    dt: float,
    nu: float,
    sigma: float,
    barrier: float,
    bridge: bool,
    lam: float,
    jump_kind: int,
    j1: float,
    j2: float,
    j3: float,
    hit: BoolArray1D,
    tau: Float64Array1D,
) -> None:
    """Simulate first passages of a jump diffusion below ``barrier`` (in place).

    The log price is ``Y_t = nu t + sigma W_t + sum of jumps``, ``Y_0 = 0``; jumps arrive as a
    Poisson process with intensity ``lam`` per year.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**63)``; path ``i`` uses stream ``i``.
    n_steps : int
        Number of steps of length ``dt``; the horizon is ``n_steps * dt``.
    dt : float
        Step length in years (> 0).
    nu, sigma : float
        Drift per year and diffusive volatility per square-root year (> 0) of ``Y``.
    barrier : float
        Log barrier (< 0).
    bridge : bool
        Continuous monitoring with the Brownian-bridge correction (True) or discrete
        monitoring at the step ends (False).
    lam : float
        Jump intensity per year (0 for no jumps).
    jump_kind : int
        ``JUMP_NONE``, ``JUMP_NORMAL`` (``j1`` mean, ``j2`` std) or ``JUMP_DOUBLE_EXPONENTIAL``
        (``j1`` = P(up), ``j2`` = up rate, ``j3`` = down rate).
    j1, j2, j3 : float
        Jump parameters (see ``jump_kind``).
    hit : ndarray of bool, shape (n_paths,)
        Output: True where the barrier was reached.
    tau : ndarray of float64, shape (n_paths,)
        Output: first-passage time in years, ``inf`` where not reached.

    Notes
    -----
    Jump times are simulated exactly (exponential waiting times), and a step containing jumps
    is split at them: each diffusive piece of length ``h`` is an exact Gaussian increment
    ``nu h + sigma sqrt(h) Z`` with its own bridge check (variance ``sigma**2 h``), and the
    path is checked again right after each jump, which dates a crossing by a jump at the jump
    time.  In continuous mode the scheme is therefore exact for GBM, Merton (1976) and Kou
    (2002) dynamics at any step size, up to the half-step dating of diffusive crossings.  In
    discrete mode only the step end points count (a jump below the barrier that recovers before
    the next monitoring time is not a liquidation).
    """
    n_paths = hit.shape[0]
    drift_dt = nu * dt
    vol_dt = sigma * math.sqrt(dt)
    var_dt = sigma * sigma * dt
    for p in prange(n_paths):
        s0, s1, s2, s3 = rng_seed(seed, p)
        y = 0.0
        t_jump = math.inf
        if lam > 0.0:
            s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
            t_jump = -math.log(u) / lam
        found = False
        t_hit = math.inf
        for i in range(n_steps):
            t0 = i * dt
            t1 = (i + 1) * dt
            tc = t0
            # Diffusive pieces ending at the jump times inside (t0, t1] (rare).
            while t_jump <= t1:
                h = t_jump - tc
                yn = y
                if h > 0.0:
                    s0, s1, s2, s3, z = rng_normal(s0, s1, s2, s3)
                    yn = y + nu * h + sigma * math.sqrt(h) * z
                    if bridge:
                        if yn <= barrier:
                            found = True
                            t_hit = tc + 0.5 * h
                            break
                        if 2.0 * (y - barrier) * (yn - barrier) < _EXP_CUTOFF * sigma * sigma * h:
                            s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
                            if _bridge_hit(y, yn, barrier, sigma * sigma * h, u):
                                found = True
                                t_hit = tc + 0.5 * h
                                break
                s0, s1, s2, s3, jump = _jump_size(s0, s1, s2, s3, jump_kind, j1, j2, j3)
                y = yn + jump
                if bridge and y <= barrier:
                    found = True
                    t_hit = t_jump
                    break
                tc = t_jump
                s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
                t_jump = t_jump - math.log(u) / lam
            if found:
                break
            s0, s1, s2, s3, z = rng_normal(s0, s1, s2, s3)
            if tc == t0:
                h = dt
                yn = y + drift_dt + vol_dt * z
                var = var_dt
            else:
                h = t1 - tc
                yn = y + nu * h + sigma * math.sqrt(h) * z
                var = sigma * sigma * h
            if yn <= barrier:
                found = True
                t_hit = tc + 0.5 * h if bridge else t1
                break
            if bridge and h > 0.0 and 2.0 * (y - barrier) * (yn - barrier) < _EXP_CUTOFF * var:
                s0, s1, s2, s3, u = rng_uniform(s0, s1, s2, s3)
                if _bridge_hit(y, yn, barrier, var, u):
                    found = True
                    t_hit = tc + 0.5 * h
                    break
            y = yn
        hit[p] = found
        tau[p] = t_hit


jump_diffusion_fpt_nb = jit_parallel(jump_diffusion_fpt_py)


# --- GARCH(1,1) with Student-t innovations -----------------------------------------------------
def garch_t_fpt_py(
    seed: int,
    n_steps: int,
    dt: float,
    drift_dt: float,
    var_coef: float,
    omega: float,
    alpha: float,
    beta: float,
    dof: float,
    h0: float,
    barrier: float,
    bridge: bool,
    check_every: int,
    hit: BoolArray1D,
    tau: Float64Array1D,
) -> None:
    """Simulate first passages of a GARCH(1,1)-t log price below ``barrier`` (in place).

    Per step ``k``: ``eps_k = sqrt(h_k) z_k`` with ``z_k`` unit-variance Student-t,
    ``Y_{k+1} = Y_k + drift_dt + var_coef h_k + eps_k`` and
    ``h_{k+1} = omega + alpha eps_k**2 + beta h_k`` (Bollerslev 1986; t innovations, Bollerslev
    1987), the one recursion :func:`levguard.kernels.vol.garch_step`.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**63)``; path ``i`` uses stream ``i``.
    n_steps : int
        Number of GARCH steps.
    dt : float
        Step length in years (dates ``tau``).
    drift_dt : float
        Drift per step (``mu dt`` for a long, ``-mu dt`` for the mirrored short).
    var_coef : float
        Coefficient of ``h_k`` in the drift (``-1/2`` long, ``+1/2`` short: the convexity term).
    omega, alpha, beta : float
        GARCH(1,1) parameters in per-step variance units (log returns as fractions).
    dof : float
        Student-t degrees of freedom (> 2; ``inf`` for normal innovations).
    h0 : float
        Conditional variance of the first step.
    barrier : float
        Log barrier (< 0).
    bridge : bool
        Continuous monitoring with the bridge correction (uses ``check_every = 1``).
    check_every : int
        Discrete monitoring: check the barrier every ``check_every`` steps (ignored when
        ``bridge``).
    hit, tau : ndarray, shape (n_paths,)
        Outputs as in :func:`jump_diffusion_fpt_py`.

    Notes
    -----
    The bridge correction treats the path inside a step as a Brownian bridge with the step's
    conditional variance ``h_k``.  Heavy-tailed innovations make this an approximation: it is
    exact for ``dof = inf`` and its error shrinks with the step size.
    """
    n_paths = hit.shape[0]
    td, tc, tk = _t_constants(dof)
    for p in prange(n_paths):
        s0, s1, s2, s3 = rng_seed(seed, p)
        y = 0.0
        h = h0
        found = False
        t_hit = math.inf
        for i in range(n_steps):
            s0, s1, s2, s3, z = _rng_std_t(s0, s1, s2, s3, td, tc, tk)
            eps = math.sqrt(h) * z
            yn = y + drift_dt + var_coef * h + eps
            s0, s1, s2, s3, t_hit = _step_hit(s0, s1, s2, s3, y, yn, barrier, h, i, dt, bridge, check_every)
            if t_hit < math.inf:
                found = True
                break
            h = garch_step(h, 1.0, eps, omega, alpha, beta)
            y = yn
        hit[p] = found
        tau[p] = t_hit


garch_t_fpt_nb = jit_parallel(garch_t_fpt_py)


# --- bootstrap of historical returns ---------------------------------------------------------
def bootstrap_fpt_py(
    seed: int,
    n_steps: int,
    dt: float,
    returns: Float64Array1D,
    block: int,
    var_step: float,
    barrier: float,
    bridge: bool,
    check_every: int,
    hit: BoolArray1D,
    tau: Float64Array1D,
) -> None:
    """Simulate first passages of a path of resampled log returns below ``barrier`` (in place).

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**63)``; path ``i`` uses stream ``i``.
    n_steps : int
        Number of steps (one resampled return each).
    dt : float
        Step length in years (dates ``tau``).
    returns : ndarray of float64, shape (n,)
        Log returns per step, already transformed by the caller (``n < 2**31``).
    block : int
        Block length of the circular block bootstrap (1 = i.i.d. resampling): each block
        starts at a uniformly drawn index and continues with consecutive returns, wrapping.
    var_step : float
        Variance per step used by the bridge correction (e.g. the sample variance).
    barrier : float
        Log barrier (< 0).
    bridge : bool
        Continuous monitoring with the bridge correction.
    check_every : int
        Discrete monitoring every ``check_every`` steps (ignored when ``bridge``).
    hit, tau : ndarray, shape (n_paths,)
        Outputs as in :func:`jump_diffusion_fpt_py`.

    Notes
    -----
    The bridge treats each step as a Brownian bridge with variance ``var_step``; historical
    returns are not Gaussian inside the step, so this is an approximation (an unconditional
    variance for every step ignores volatility clustering).
    """
    n_paths = hit.shape[0]
    n_ret = returns.shape[0]
    for p in prange(n_paths):
        s0, s1, s2, s3 = rng_seed(seed, p)
        y = 0.0
        idx = 0
        found = False
        t_hit = math.inf
        for i in range(n_steps):
            if i % block == 0:
                s0, s1, s2, s3, r = rng_next(s0, s1, s2, s3)
                idx = (r * n_ret) >> 32
            else:
                idx += 1
                if idx == n_ret:
                    idx = 0
            yn = y + returns[idx]
            s0, s1, s2, s3, t_hit = _step_hit(s0, s1, s2, s3, y, yn, barrier, var_step, i, dt, bridge, check_every)
            if t_hit < math.inf:
                found = True
                break
            y = yn
        hit[p] = found
        tau[p] = t_hit


bootstrap_fpt_nb = jit_parallel(bootstrap_fpt_py)
