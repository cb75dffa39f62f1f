"""Exogenous price paths of the cascade simulator, each regenerable from ``(seed, k)`` alone.

Every generator returns float64 prices of shape ``(n_paths, n_steps + 1)`` whose column 0 is
the start price ``s0``; :func:`path_for` builds the single path ``k`` of a spec dict (what a
Dask worker calls) and :func:`paths_for` a block of them.  Path ``k`` of a seed is computed by
the same row function whichever way it is requested, so ``path_for(spec, k)`` equals row ``k``
of the batch function bit for bit, and a block ``first .. first + n_paths - 1`` equals the
matching rows of a larger batch: paths are generated inside workers from seeds, never shipped.

Random numbers.  Path ``k`` draws from the counter-based streams of
:mod:`levguard.kernels.paths` (xoshiro128** seeded by hashing ``(seed, stream)``), stream ``k``
for its main shocks, so a path depends on ``(seed, k)`` only: not on how many paths are
generated, in which order, or by which worker.  The same streams drive the first-passage
kernels of :mod:`levguard.core.risk.liquidation`: a GBM path here is, step for step, the path
:func:`levguard.kernels.paths.jump_diffusion_fpt_py` monitors for the same seed (with
``lam = 0`` and discrete monitoring; tested).  Extra variates (jump counts and sizes) use
streams ``2**62 + 2 k`` and ``2**62 + 2 k + 1``, disjoint from the main ones for ``k < 2**61``.

Models.  GBM; Merton (1976) jump diffusion; GARCH(1,1) with Student-t innovations
(Bollerslev 1986, 1987), run by the synthetic-market kernel
:func:`levguard.kernels.synth.market_path_nb` with one regime and no jumps or crashes; the named
historical crash shapes of :mod:`levguard.data.crashes`; a user-supplied path.  Plus
:func:`depth_multiplier_path`, the order-book depth multiplier of a liquidity shock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from levguard.core.risk.first_passage import compensated_drift, merton_compensator, merton_jump
from levguard.core.validate import (
    VOL_RANGE,
    finite_number,
    flag,
    integer_in,
    non_negative_number,
    number,
    positive_number,
    show,
)
from levguard.data.crashes import CrashProfile, crash_by_name
from levguard.errors import InputError
from levguard.kernels.paths import fill_normals_nb, fill_student_t_nb, fill_uniforms_nb
from levguard.kernels.synth import market_path_nb
from levguard.typing import Float64Array1D, Float64Array2D

__all__ = [
    "MODELS",
    "crash_path",
    "crash_paths",
    "crash_step_hours",
    "depth_multiplier_path",
    "garch_t_paths",
    "gbm_paths",
    "jump_paths",
    "path_for",
    "paths_for",
    "user_path",
]

MODELS: tuple[str, ...] = ("gbm", "jump", "garch_t", "crash", "user")
"""Model names accepted by :func:`path_for` (aliases: ``merton`` = ``jump``, ``garch`` = ``garch_t``)."""

_HOURS_PER_YEAR = 8_760.0  # 365-day years
_MAX_SEED = 2**63
_EXTRA_STREAMS = 2**62  # first stream of the jump variates
_MAX_PATH = 2**61  # path indices below this keep the jump streams disjoint
_MAX_STEPS = 100_000_000
_MAX_JUMPS_PER_STEP = 50.0
# Rebound window of a crash shape: the bar 24 hours after the trough bar closes 25 hours after
# the trough bar opens (levguard.data.crashes.CrashProfile.rebound_24h).
_REBOUND_HOURS = 25


def _sigma(value: object, field: str) -> float:
    # An annualised volatility >= 0 and at most VOL_RANGE's 20 (2,000 % a year): a sigma of 1e6
    # underflowed exp() and gave the path [s0, 0, 0, ...].
    x = non_negative_number(value, field)
    if x > VOL_RANGE[1]:
        raise InputError(
            f"{field} must be an annualised volatility from 0 to {VOL_RANGE[1]:g} (a fraction: 0.6 is 60 %), "
            f"was {show(value)}"
        )
    return x


def _positive_sigma(value: object, field: str) -> float:
    # :func:`_sigma`, also > 0 (GARCH's unconditional variance).
    positive_number(value, field)
    return _sigma(value, field)


def _checked(out: Float64Array1D, k: int) -> Float64Array1D:
    # A generated path must be finite prices > 0: refuse parameters whose path overflows or
    # underflows float64 rather than hand out inf or 0 prices.
    bad = ~(np.isfinite(out) & (out > 0.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"the parameters give path {k} a price of {out[i].item()!r} at step {i} (beyond float64's range); "
            "use a smaller sigma, jump size or number of steps"
        )
    return out


def _rows(n_paths: object, first: object) -> range:
    n = integer_in(n_paths, "n_paths", 0, _MAX_PATH)
    f = integer_in(first, "first", 0, _MAX_PATH)
    if f + n > _MAX_PATH:
        raise InputError(f"first + n_paths must be <= 2**61, was {f + n}")
    return range(f, f + n)


def _stack(rows: list[Float64Array1D], width: int) -> Float64Array2D:
    if not rows:
        return np.empty((0, width), dtype=np.float64)
    out: Float64Array2D = np.stack(rows)
    return out


def _prices(s0: float, log_increments: Float64Array1D) -> Float64Array1D:
    # s0 * exp(cumulative log return), with the start point exactly s0.
    x = np.empty(log_increments.shape[0] + 1, dtype=np.float64)
    x[0] = 0.0
    np.cumsum(log_increments, out=x[1:])
    out: Float64Array1D = s0 * np.exp(x)
    return out


def _model_args(
    s0: object,
    sigma: object,
    n_steps: object,
    dt_years: object,
    seed: object,
    mu: object,
    sigma_check: Callable[[object, str], float],
) -> tuple[float, float, int, float, int, float]:
    # The arguments the GBM, Merton and GARCH generators share, validated in this order;
    # ``sigma_check`` is the model's rule for ``sigma`` (>= 0, or > 0 for GARCH).
    return (
        positive_number(s0, "s0"),
        sigma_check(sigma, "sigma"),
        integer_in(n_steps, "n_steps", 1, _MAX_STEPS + 1),
        positive_number(dt_years, "dt_years"),
        integer_in(seed, "seed", 0, _MAX_SEED),
        finite_number(mu, "mu"),
    )


# --- GBM and Merton jump diffusion ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Diffusion:
    # Validated GBM/Merton parameters and the Poisson inverse-CDF table of jump counts per step.
    s0: float
    n_steps: int
    seed: int
    drift_step: float  # log drift per step, compensated
    vol_step: float  # sigma * sqrt(dt)
    jump_mean: float
    jump_std: float
    count_cdf: Float64Array1D | None  # P(N <= j) per step, None without jumps


def _diffusion(
    s0: object, sigma: object, n_steps: object, dt_years: object, seed: object, mu: object, lam: object,
    jump_mean: object, jump_std: object,
) -> _Diffusion:  # fmt: skip
    s0_, sig, n, dt, sd, mu_ = _model_args(s0, sigma, n_steps, dt_years, seed, mu, _sigma)
    lam_ = non_negative_number(lam, "lam")
    m, s = merton_jump(jump_mean, jump_std)
    p = lam_ * dt
    if p > _MAX_JUMPS_PER_STEP:
        raise InputError(f"lam * dt_years (expected jumps per step) must be <= {_MAX_JUMPS_PER_STEP:g}, was {p!r}")
    kappa = merton_compensator(m, s) if lam_ > 0.0 else 0.0
    nu = compensated_drift(mu_, sig, lam_, kappa)
    cdf = _poisson_cdf(p) if p > 0.0 else None
    return _Diffusion(s0_, n, sd, nu * dt, sig * math.sqrt(dt), m, s, cdf)


def _poisson_cdf(p: float) -> Float64Array1D:
    # Cumulative Poisson(p) probabilities up to where the tail is below 1e-17; the last entry
    # is set to 1 so that inversion of any u in (0, 1) is bounded.
    pmf = math.exp(-p)
    cdf = [pmf]
    j = 0
    while 1.0 - cdf[-1] > 1e-17 and j < 10_000:
        j += 1
        pmf *= p / j
        if cdf[-1] + pmf == cdf[-1] and j > p:
            break
        cdf.append(cdf[-1] + pmf)
    cdf[-1] = 1.0
    return np.asarray(cdf, dtype=np.float64)


def _diffusion_row(d: _Diffusion, k: int) -> Float64Array1D:
    # Path k: normals from stream k; with jumps, Poisson counts by inversion of uniforms from
    # stream 2**62 + 2k and their normal sizes from stream 2**62 + 2k + 1.
    z = np.empty(d.n_steps, dtype=np.float64)
    fill_normals_nb(d.seed, k, z)
    inc = d.drift_step + d.vol_step * z
    if d.count_cdf is not None:
        u = np.empty(d.n_steps, dtype=np.float64)
        fill_uniforms_nb(d.seed, _EXTRA_STREAMS + 2 * k, u)
        counts = np.searchsorted(d.count_cdf, u, side="left").astype(np.float64)
        zj = np.empty(d.n_steps, dtype=np.float64)
        fill_normals_nb(d.seed, _EXTRA_STREAMS + 2 * k + 1, zj)
        inc = inc + (counts * d.jump_mean + np.sqrt(counts) * d.jump_std * zj)
    return _checked(_prices(d.s0, inc), k)


def gbm_paths(
    s0: float,
    sigma: float,
    n_steps: int,
    dt_years: float,
    n_paths: int,
    seed: int,
    mu: float = 0.0,
    *,
    first: int = 0,
) -> Float64Array2D:
    """Return geometric Brownian motion price paths.

    Parameters
    ----------
    s0 : float
        Start price (quote per base, > 0).
    sigma : float
        Volatility per square-root year (fraction, >= 0; 0.8 = 80 % a year).
    n_steps : int
        Number of steps ``T`` (>= 1).
    dt_years : float
        Step length in 365-day years (one minute: ``1 / 525_600``).
    n_paths : int
        Number of paths (>= 0).
    seed : int
        Seed in ``[0, 2**63)``.
    mu : float, default 0.0
        Drift per year of the price (``E[S_t] = s0 exp(mu t)``).
    first : int, default 0
        Index of the first path: rows are paths ``first .. first + n_paths - 1``.

    Returns
    -------
    ndarray of float64, shape (n_paths, n_steps + 1)
        Prices; column 0 is ``s0``.

    Notes
    -----
    Exact discretisation: ``ln S_{i+1} = ln S_i + (mu - sigma**2 / 2) dt + sigma sqrt(dt) z_i``
    with ``z_i`` standard normal from stream ``k`` of ``seed`` (Glasserman, *Monte Carlo
    Methods in Financial Engineering*, 2004, section 3.2).
    """
    d = _diffusion(s0, sigma, n_steps, dt_years, seed, mu, 0.0, 0.0, 0.0)
    return _stack([_diffusion_row(d, k) for k in _rows(n_paths, first)], d.n_steps + 1)


def jump_paths(
    s0: float,
    sigma: float,
    n_steps: int,
    dt_years: float,
    n_paths: int,
    seed: int,
    mu: float = 0.0,
    *,
    lam: float = 10.0,
    jump_mean: float = -0.007,
    jump_std: float = 0.032,
    first: int = 0,
) -> Float64Array2D:
    """Return Merton (1976) jump-diffusion price paths.

    Parameters
    ----------
    s0, sigma, n_steps, dt_years, n_paths, seed, mu, first
        As in :func:`gbm_paths`; ``sigma`` is the diffusive volatility.
    lam : float, default 10.0
        Jump intensity per year (>= 0).
    jump_mean, jump_std : float, default -0.007, 0.032
        Mean and standard deviation of one log jump.

    Returns
    -------
    ndarray of float64, shape (n_paths, n_steps + 1)

    Notes
    -----
    Merton (1976), "Option pricing when underlying stock returns are discontinuous", *Journal of
    Financial Economics* 3: ``dS/S = (mu - lam kappa) dt + sigma dW + (e^J - 1) dN`` with
    ``N`` Poisson of intensity ``lam`` and ``J ~ N(jump_mean, jump_std**2)``, so
    ``kappa = E[e^J - 1] = exp(jump_mean + jump_std**2 / 2) - 1`` and ``E[S_t] = s0 exp(mu t)``.
    Exact per step: the step's log return is
    ``(mu - sigma**2 / 2 - lam kappa) dt + sigma sqrt(dt) z + N jump_mean + sqrt(N) jump_std z'``
    with ``N ~ Poisson(lam dt)`` drawn by inversion.  The diffusive normals are the GBM ones
    (stream ``k``), so ``lam = 0`` reproduces :func:`gbm_paths` exactly.

    The defaults match the first two moments of the double-exponential jumps of the synthetic
    BTC market's normal regime (:data:`levguard.data.synth.BTC_PARAMS`: 10 jumps a year,
    60 % down with mean size 2.5 %, 40 % up with mean 2 %; mean -0.7 %, standard deviation
    3.2 %).
    """
    d = _diffusion(s0, sigma, n_steps, dt_years, seed, mu, lam, jump_mean, jump_std)
    return _stack([_diffusion_row(d, k) for k in _rows(n_paths, first)], d.n_steps + 1)


# --- GARCH(1,1)-t -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Garch:
    s0: float
    n_steps: int
    seed: int
    dof: float
    per_update: int
    var_h: Float64Array1D  # (1,) unconditional variance per GARCH period
    drift_h: Float64Array1D  # (1,) log drift per GARCH period
    garch: Float64Array1D  # (3,) alpha, beta, crash floor (unused)


def _garch_row(g: _Garch, k: int) -> Float64Array1D:
    # The synthetic-market kernel with one regime, no jumps, no crashes; volume, mark and the
    # intrabar extremes it also produces are discarded (their inputs are zeros).
    n = g.n_steps
    z = np.empty(n, dtype=np.float64)
    fill_student_t_nb(g.seed, k, g.dof, z)
    zeros = np.zeros(n, dtype=np.float64)
    n_updates = -(-n // g.per_update)
    ohlc = np.empty((4, n), dtype=np.float64)
    mark = np.empty((4, n), dtype=np.float64)
    volume = np.empty(n, dtype=np.float64)
    market_path_nb(
        g.per_update, g.s0, np.zeros(n_updates, dtype=np.int64), g.var_h, g.drift_h, g.garch,
        np.zeros(1), np.array([0.5, 0.01, 0.01]), np.zeros(3), np.zeros(1), np.zeros(3),
        np.zeros(0, dtype=np.int64), np.zeros((0, 6)), z, zeros, zeros, zeros, zeros, zeros,
        ohlc, mark, volume,
    )  # fmt: skip
    out = np.empty(n + 1, dtype=np.float64)
    out[0] = g.s0
    out[1:] = ohlc[3]
    return _checked(out, k)


def garch_t_paths(
    s0: float,
    sigma: float,
    n_steps: int,
    dt_years: float,
    n_paths: int,
    seed: int,
    mu: float = 0.0,
    *,
    alpha: float = 0.07,
    beta: float = 0.90,
    dof: float = 5.0,
    steps_per_update: int = 1,
    first: int = 0,
) -> Float64Array2D:
    """Return GARCH(1,1) price paths with Student-t innovations.

    Parameters
    ----------
    s0, n_steps, dt_years, n_paths, seed, mu, first
        As in :func:`gbm_paths`.
    sigma : float
        Unconditional volatility per square-root year (> 0); the variance starts at it.
    alpha, beta : float, default 0.07, 0.90
        GARCH(1,1) coefficients per variance update (>= 0, ``alpha + beta < 1``).
    dof : float, default 5.0
        Degrees of freedom of the unit-variance Student-t innovations (> 2; ``inf`` = normal).
    steps_per_update : int, default 1
        Steps per GARCH period: the conditional variance is updated every ``steps_per_update``
        steps and shared by the steps of a period.

    Returns
    -------
    ndarray of float64, shape (n_paths, n_steps + 1)

    Notes
    -----
    Bollerslev (1986), "Generalized autoregressive conditional heteroskedasticity", *Journal of
    Econometrics* 31; Student-t innovations as in Bollerslev (1987), *Review of Economics and
    Statistics* 69.  With ``k = steps_per_update`` and ``v = sigma**2 dt k`` the variance per
    period, step ``j`` of period ``h`` returns ``r_j = (mu - sigma**2 / 2) dt + sqrt(v g_h / k) z_j``
    and ``g_{h+1} = (1 - alpha - beta) + alpha g_h Z_h**2 + beta g_h`` with ``g_0 = 1`` and
    ``Z_h`` the period's standardised shock ``sum z_j / sqrt(k)``: the standard GARCH(1,1)
    ``h_{t+1} = omega + alpha eps_t**2 + beta h_t`` for ``h = v g``, ``omega = v (1 - alpha - beta)``.
    The drift makes ``E[S_t] = s0 exp(mu t)`` to second order.  The recursion is the
    synthetic-market kernel :func:`levguard.kernels.synth.market_path_nb` with one regime.

    The defaults are the hourly calibration of :data:`levguard.data.synth.BTC_PARAMS` (ACF of
    squared hourly BTC returns 0.17 at lag 1; t with 5 degrees of freedom): they describe a
    one-hour GARCH clock, so use ``steps_per_update = 60`` with one-minute steps.
    """
    s0_, sig, n, dt, sd, mu_ = _model_args(s0, sigma, n_steps, dt_years, seed, mu, _positive_sigma)
    a = non_negative_number(alpha, "alpha")
    b = non_negative_number(beta, "beta")
    if not a + b < 1.0:
        raise InputError(f"alpha + beta must be < 1 (stationary variance), was {a + b!r}")
    nu = number(dof, "dof")
    if not (nu > 2.0):
        raise InputError(f"dof must be > 2 (finite variance) or inf, was {dof!r}")
    k = integer_in(steps_per_update, "steps_per_update", 1, _MAX_STEPS + 1)
    g = _Garch(
        s0_, n, sd, nu, k,
        np.array([sig * sig * dt * k]), np.array([(mu_ - 0.5 * sig * sig) * dt * k]), np.array([a, b, 0.0]),
    )  # fmt: skip
    return _stack([_garch_row(g, j) for j in _rows(n_paths, first)], n + 1)


# --- named crash shapes -----------------------------------------------------------------------
def _crash_knots(p: CrashProfile, n_steps: int, include_rebound: bool) -> tuple[int, int, float]:
    # Step indices of the trough low and the trough close, and the shape's length in hours.
    s = p.speed_hours
    if not include_rebound:
        return n_steps, n_steps, float(s)
    length = float(s + _REBOUND_HOURS)
    if n_steps < 3:
        raise InputError(f"n_steps must be >= 3 for a crash shape with its rebound, was {n_steps!r}")
    i_low = max(1, round(n_steps * s / length))
    i_close = max(i_low + 1, round(n_steps * (s + 1) / length))
    i_low = min(i_low, n_steps - 2)
    i_close = min(i_close, n_steps - 1)
    return i_low, i_close, length


def crash_step_hours(name: str, n_steps: int, *, include_rebound: bool = True) -> float:
    """Return the hours one step of :func:`crash_path` stands for (the shape's span / ``n_steps``).

    The span is ``speed_hours + 25`` hours with the rebound, ``speed_hours`` without.
    """
    p = crash_by_name(name)
    n = integer_in(n_steps, "n_steps", 1, _MAX_STEPS + 1)
    span = p.speed_hours + (_REBOUND_HOURS if flag(include_rebound, "include_rebound") else 0)
    return span / n


def _bridge(e: Float64Array1D) -> Float64Array1D:
    # Discrete Brownian bridge pinned at 0 at both ends from m increments: W_j - (j/m) W_m.
    m = e.shape[0]
    w = np.concatenate(([0.0], np.cumsum(e)))
    out: Float64Array1D = w - (np.arange(m + 1, dtype=np.float64) / m) * w[m]
    return out


def _crash_row(
    p: CrashProfile, s0: float, n_steps: int, include_rebound: bool, sigma: float, seed: int, k: int
) -> Float64Array1D:
    i_low, i_close, span = _crash_knots(p, n_steps, include_rebound)
    d_low = math.log1p(-p.depth)
    x = np.empty(n_steps + 1, dtype=np.float64)
    # The fall: a convex trend D (j / m)**1.5 from the peak to the trough low (the synthetic
    # market's crash trend, levguard.kernels.synth.market_path_py).
    x[: i_low + 1] = d_low * (np.arange(i_low + 1, dtype=np.float64) / i_low) ** 1.5
    if include_rebound:
        d_close = d_low + math.log1p(p.wick)
        d_end = d_low + math.log1p(p.rebound_24h)
        x[i_low : i_close + 1] = np.linspace(d_low, d_close, i_close - i_low + 1)
        x[i_close:] = np.linspace(d_close, d_end, n_steps - i_close + 1)
    if sigma > 0.0:
        # Bridges pinned at every knot keep the peak, trough low and closes at the profile.
        e = np.empty(n_steps, dtype=np.float64)
        fill_normals_nb(seed, k, e)
        e *= sigma * math.sqrt(span / n_steps / _HOURS_PER_YEAR)
        knots = sorted({0, i_low, i_close, n_steps})
        for a, b in itertools.pairwise(knots):
            x[a : b + 1] += _bridge(e[a:b])
    out = s0 * np.exp(x)
    out[0] = s0
    out[i_low] = s0 * (1.0 - p.depth)  # the measured trough, exactly
    return _checked(out, k)


def _crash_args(
    name: str, s0: object, n_steps: object, include_rebound: object, sigma: object, seed: object
) -> tuple[CrashProfile, float, int, bool, float, int]:
    # The arguments crash_paths and crash_path share, validated in this order.
    return (
        crash_by_name(name),
        positive_number(s0, "s0"),
        integer_in(n_steps, "n_steps", 1, _MAX_STEPS + 1),
        flag(include_rebound, "include_rebound"),
        _sigma(sigma, "sigma"),
        integer_in(seed, "seed", 0, _MAX_SEED),
    )


def crash_paths(
    name: str,
    s0: float,
    n_steps: int,
    n_paths: int,
    seed: int = 0,
    *,
    include_rebound: bool = True,
    sigma: float = 0.0,
    first: int = 0,
) -> Float64Array2D:
    """Return price paths shaped like a named historical crash (see :func:`crash_path`).

    Without noise (``sigma = 0``) every row is the same deterministic shape.
    """
    p, s0_, n, reb, sig, sd = _crash_args(name, s0, n_steps, include_rebound, sigma, seed)
    _crash_knots(p, n, reb)  # validates n_steps against the shape
    return _stack([_crash_row(p, s0_, n, reb, sig, sd, k) for k in _rows(n_paths, first)], n + 1)


def crash_path(
    name: str,
    s0: float,
    n_steps: int,
    *,
    include_rebound: bool = True,
    sigma: float = 0.0,
    seed: int = 0,
    k: int = 0,
) -> Float64Array1D:
    """Return a price path shaped like a named crash of :data:`levguard.data.crashes.NAMED_CRASHES`.

    Parameters
    ----------
    name : str
        Crash name or date, e.g. ``"oct-2025-liquidations"`` or ``"2020-03-12"``.
    s0 : float
        Price at the peak (the start of the path).
    n_steps : int
        Number of steps ``T``; the shape's span is scaled onto them (see
        :func:`crash_step_hours`).  At least 3 with the rebound.
    include_rebound : bool, default True
        Continue after the trough to the trough bar's close and the close 24 hours later;
        False ends the path at the trough low.
    sigma : float, default 0.0
        Volatility per square-root year of Brownian-bridge noise added to the log path (0:
        the deterministic shape).  Step length for the noise: :func:`crash_step_hours`.
    seed : int, default 0
        Seed of the noise.
    k : int, default 0
        Path index (noise stream ``k``).

    Returns
    -------
    ndarray of float64, shape (n_steps + 1,)

    Notes
    -----
    The shape reproduces the measured magnitudes of the profile (Binance USDⓈ-M BTCUSDT
    perpetual 1h klines; rule in :func:`levguard.data.crashes.measure_crash`, numbers in
    ``docs/data.md``, "Named crashes: measured magnitudes"), with time in hours from the peak:

    * ``[0, speed_hours]``: fall from ``s0`` to the trough low ``s0 (1 - depth)``, along the
      convex trend ``ln(1 - depth) (t / speed_hours)**1.5`` the synthetic market uses (the fall
      accelerates into the trough);
    * ``[speed_hours, speed_hours + 1]``: log-linear to the trough bar's close,
      ``low (1 + wick)``;
    * ``[speed_hours + 1, speed_hours + 25]``: log-linear to the close 24 hours after the
      trough, ``low (1 + rebound_24h)``.

    Knots fall on the nearest steps; the trough low is exactly ``s0 (1 - depth)``.  Noise is a
    Brownian bridge pinned at every knot, so the knots keep their values but the noisy path may
    dip below the trough elsewhere.  The noise-free path's minimum is the trough low except for
    ``ftx``, whose close 24 hours after the trough was 0.39 % below the trough low
    (``rebound_24h < 0``).  Prices are last-price (trade) moves, wicks included; the mark price
    that triggers liquidations fell 0.2-3 % less (``mark_excess``).
    """
    p, s0_, n, reb, sig, sd = _crash_args(name, s0, n_steps, include_rebound, sigma, seed)
    kk = integer_in(k, "k", 0, _MAX_PATH)
    return _crash_row(p, s0_, n, reb, sig, sd, kk)


# --- user paths -------------------------------------------------------------------------------
def user_path(path: object) -> Float64Array1D | Float64Array2D:
    """Validate a user-supplied price path (or a stack of them) and return a float64 copy.

    Parameters
    ----------
    path : array_like, shape (T + 1,) or (n_paths, T + 1)
        Prices, finite and > 0, at least two points per path.

    Raises
    ------
    InputError
        Naming the first bad index and value.
    """
    try:
        a = np.array(path, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"path must be an array of prices, was {type(path).__name__}: {exc}") from None
    if a.ndim not in (1, 2) or a.shape[-1] < 2:
        raise InputError(f"path must have shape (T + 1,) or (n_paths, T + 1) with T >= 1, was {a.shape}")
    bad = ~(np.isfinite(a) & (a > 0.0))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = idx[0] if a.ndim == 1 else idx
        raise InputError(f"path[{where}] must be a finite price > 0, was {a[idx].item()!r}")
    return a


# --- depth multiplier -------------------------------------------------------------------------
def depth_multiplier_path(n_steps: int, *, shock_step: int, floor: float, recovery_half_life: float) -> Float64Array1D:
    """Return the order-book depth multiplier of a liquidity shock and its recovery.

    Parameters
    ----------
    n_steps : int
        Number of steps ``T``; the result is aligned with the price path's ``T + 1`` points.
    shock_step : int
        Step at which depth drops (>= 0; beyond ``T`` means no shock within the path).
    floor : float
        Multiplier at the shock, in ``(0, 1]`` (0.1 = a tenth of normal depth).
    recovery_half_life : float
        Steps for half of the missing depth to return (> 0; ``inf`` = no recovery).

    Returns
    -------
    ndarray of float64, shape (n_steps + 1,)
        ``m_t = 1`` for ``t < shock_step`` and
        ``m_t = 1 - (1 - floor) 2**(-(t - shock_step) / recovery_half_life)`` after.

    Notes
    -----
    Exponential resilience of the order book after a liquidity shock, the decay of
    Obizhaeva and Wang (2013), "Optimal trading strategy and supply/demand dynamics", *Journal of
    Financial Markets* 16: the gap to normal depth shrinks by half every half-life.  The engine
    multiplies the market's normal depth (or divides its impact) by ``m_t``.
    """
    n = integer_in(n_steps, "n_steps", 1, _MAX_STEPS + 1)
    s = integer_in(shock_step, "shock_step", 0, 2**62)
    f = number(floor, "floor")
    if not 0.0 < f <= 1.0:
        raise InputError(f"floor must be in (0, 1], was {floor!r}")
    h = number(recovery_half_life, "recovery_half_life")
    if not h > 0.0 or math.isnan(h):
        raise InputError(f"recovery_half_life must be > 0 (inf for no recovery), was {recovery_half_life!r}")
    out = np.ones(n + 1, dtype=np.float64)
    if s <= n:
        age = np.arange(n + 1 - s, dtype=np.float64)
        out[s:] = 1.0 - (1.0 - f) * np.exp2(-age / h)
    return out


# --- spec dispatch ----------------------------------------------------------------------------
def _user_batch(path: object, n_paths: int, first: int = 0) -> Float64Array2D:
    a = user_path(path)
    rows = _rows(n_paths, first)
    if a.ndim == 1:
        out: Float64Array2D = np.repeat(a[None, :], len(rows), axis=0)
        return out
    if rows.stop > a.shape[0]:
        raise InputError(f"path has {a.shape[0]} rows, path {rows.stop - 1} was requested")
    return a[rows.start : rows.stop].copy()


@dataclass(frozen=True, slots=True)
class _Model:
    fn: Callable[..., Float64Array2D]
    required: tuple[str, ...]
    optional: tuple[str, ...]


_DIFF = ("s0", "sigma", "n_steps", "dt_years", "seed")
_MODEL_TABLE: dict[str, _Model] = {
    "gbm": _Model(gbm_paths, _DIFF, ("mu",)),
    "jump": _Model(jump_paths, _DIFF, ("mu", "lam", "jump_mean", "jump_std")),
    "garch_t": _Model(garch_t_paths, _DIFF, ("mu", "alpha", "beta", "dof", "steps_per_update")),
    "crash": _Model(crash_paths, ("name", "s0", "n_steps"), ("seed", "include_rebound", "sigma")),
    "user": _Model(_user_batch, ("path",), ()),
}
_ALIASES = {"merton": "jump", "garch": "garch_t"}


def _model_params(
    spec: Mapping[str, Any],
    name: object,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    handled: tuple[str, ...] = (),
) -> dict[str, Any]:
    # The parameters of a spec (its keys but "model" and the ``handled`` ones the dispatcher reads
    # itself), checked against the model's required and optional keys.
    params = {k: v for k, v in spec.items() if k != "model" and k not in handled}
    missing = [k for k in required if k not in params]
    if missing:
        raise InputError(f"spec for model {name!r} is missing {missing}")
    unknown = sorted(str(k) for k in params if k not in required and k not in optional)
    if unknown:
        allowed = [*handled, *required, *optional]
        raise InputError(f"spec for model {name!r} has unknown keys {unknown}; allowed: {allowed}")
    return params


def paths_for(spec: Mapping[str, Any], n_paths: int, *, first: int = 0) -> Float64Array2D:
    """Return paths ``first .. first + n_paths - 1`` of a path spec, shape ``(n_paths, T + 1)``.

    Parameters
    ----------
    spec : Mapping
        ``{"model": name, **parameters}`` where ``name`` is one of :data:`MODELS` and the
        parameters are those of the model's batch function: ``gbm`` :func:`gbm_paths`,
        ``jump`` :func:`jump_paths`, ``garch_t`` :func:`garch_t_paths`, ``crash``
        :func:`crash_paths`, ``user`` ``{"path": array (T + 1,) or (n_paths, T + 1)}``.
        E.g. ``{"model": "gbm", "s0": 60000, "sigma": 0.8, "n_steps": 1440,
        "dt_years": 1 / 525600, "seed": 7}``.
    n_paths : int
        Number of paths.
    first : int, default 0
        Index of the first path.

    Raises
    ------
    InputError
        Unknown model, missing or unknown keys, or invalid parameter values.
    """
    if not isinstance(spec, Mapping):
        raise InputError(f"spec must be a mapping with a 'model' key, was {type(spec).__name__}")
    name = spec.get("model")
    key = _ALIASES.get(name, name) if isinstance(name, str) else None  # a list or dict is unhashable
    if key not in _MODEL_TABLE:
        raise InputError(f"spec['model'] must be one of {list(MODELS)}, was {show(name)}")
    model = _MODEL_TABLE[key]
    params = _model_params(spec, key, model.required, model.optional)
    return model.fn(n_paths=n_paths, first=first, **params)


def path_for(spec: Mapping[str, Any], k: int) -> Float64Array1D:
    """Return path ``k`` of a path spec, shape ``(T + 1,)``: row ``k`` of :func:`paths_for`.

    This is what a Monte Carlo worker calls: the path depends on the spec and ``k`` only and
    equals row ``k`` of the model's batch function for the same seed, bit for bit.
    """
    kk = integer_in(k, "k", 0, _MAX_PATH)
    out: Float64Array1D = paths_for(spec, 1, first=kk)[0]
    return out
