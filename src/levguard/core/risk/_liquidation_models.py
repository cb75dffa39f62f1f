"""Model parameters and Monte Carlo dispatch of :mod:`levguard.core.risk.liquidation`.

Private helpers: scalar validators that raise :class:`~levguard.errors.InputError` naming the
field and value, the validated first-passage problem (``_Problem``: the mirrored path ``Y =
sign * X`` and its lower barrier), the jump, GARCH and bootstrap parameters, the simulation grid
and the calls into the path kernels of :mod:`levguard.kernels.paths`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from levguard.core.risk.first_passage import compensated_drift, kou_compensator, merton_compensator, merton_jump
from levguard.core.validate import (
    finite_number,
    flag,
    integer_in,
    non_negative_number,
    number,
    positive_number,
)
from levguard.errors import InputError
from levguard.kernels.paths import (
    JUMP_DOUBLE_EXPONENTIAL,
    JUMP_NONE,
    JUMP_NORMAL,
    bootstrap_fpt_nb,
    garch_t_fpt_nb,
    jump_diffusion_fpt_nb,
)
from levguard.typing import Float64Array1D

DAYS_PER_YEAR: float = 365.0
"""Days in a year of a 24/7 market (annualisation convention)."""

_DEFAULT_PATHS = 100_000
MAX_JUMP_RATE: float = 1e6
"""The largest jump intensity ``lam`` (a year) and exponential rate ``eta_up`` / ``eta_down`` the
jump models take: past it the Kou roots and the Laplace inversion lose every digit (``lam = 1e308``
gave NaN, ``eta_down = 1e100`` a root finder's raw ValueError)."""


def _at_most(value: float, field: str, hi: float, unit: str) -> float:
    # value (already a checked number) if <= hi, else InputError naming field.
    if value > hi:
        raise InputError(f"{field} must be at most {hi:g} {unit}, was {value!r}")
    return value


_MAX_SEED = 2**63


@dataclass(frozen=True, slots=True)
class _Problem:
    # The validated first-passage problem for the mirrored path Y = sign * X (lower barrier).
    sign: int
    status: str  # "live", "none" (no liquidation price) or "past" (already liquidatable)
    barrier: float  # ln(LP/S) * sign, < 0 when live
    sigma: float
    mu: float
    horizon: float  # years
    monitoring_dt: float | None  # years
    model: str


# --- model parameters -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Jumps:
    # Jump parameters of Y (already mirrored for a short) and the compensator kappa of X.
    kind: int
    lam: float
    j1: float
    j2: float
    j3: float
    kappa: float


def _jumps(prob: _Problem, params: Mapping[str, Any]) -> _Jumps:
    if prob.model == "gbm":
        return _Jumps(JUMP_NONE, 0.0, 0.0, 0.0, 0.0, 0.0)
    lam = _at_most(non_negative_number(params["lam"], "lam"), "lam", MAX_JUMP_RATE, "jumps a year")
    if prob.model == "merton":
        m, s = merton_jump(params["jump_mean"], params["jump_std"])
        # E[e^J - 1] for J ~ N(m, s^2); the mirrored path jumps by -J.
        return _Jumps(JUMP_NORMAL, lam, prob.sign * m, s, 0.0, merton_compensator(m, s))
    p_up = finite_number(params["p_up"], "p_up")
    if not 0.0 <= p_up <= 1.0:
        raise InputError(f"p_up must be in [0, 1], was {params['p_up']!r}")
    eta_up = _at_most(positive_number(params["eta_up"], "eta_up"), "eta_up", MAX_JUMP_RATE, "(mean jump 1e-6)")
    eta_down = _at_most(positive_number(params["eta_down"], "eta_down"), "eta_down", MAX_JUMP_RATE, "(mean jump 1e-6)")
    if eta_up <= 1.0:
        raise InputError(f"eta_up must be > 1 (finite E[exp(jump)]), was {params['eta_up']!r}")
    kappa = kou_compensator(p_up, eta_up, eta_down)
    if prob.sign > 0:
        return _Jumps(JUMP_DOUBLE_EXPONENTIAL, lam, p_up, eta_up, eta_down, kappa)
    # Mirror: up jumps of -X are the down jumps of X.
    return _Jumps(JUMP_DOUBLE_EXPONENTIAL, lam, 1.0 - p_up, eta_down, eta_up, kappa)


def _log_drift(prob: _Problem, jumps: _Jumps) -> float:
    # Drift of Y = sign * X: nu = mu - sigma^2/2 - lam * kappa keeps E[S_t] = S_0 exp(mu t).
    return prob.sign * compensated_drift(prob.mu, prob.sigma, jumps.lam, jumps.kappa)


@dataclass(frozen=True, slots=True)
class _Garch:
    omega: float
    alpha: float
    beta: float
    nu: float


def _garch(params: Mapping[str, Any]) -> _Garch:
    src: Mapping[str, Any]
    fitted = params.get("garch")
    keys = ("omega", "alpha", "beta", "nu")
    if fitted is not None:
        if any(k in params for k in keys):
            raise InputError("pass either garch=... or omega/alpha/beta/nu, not both")
        if isinstance(fitted, Mapping):
            src = {k: fitted.get(k, fitted.get(f"{k}[1]")) for k in keys}
        else:
            src = {k: getattr(fitted, k, None) for k in keys}
    else:
        src = params
    missing = [k for k in keys if src.get(k) is None]
    if missing:
        raise InputError(f"model 'garch_t' needs parameter(s) {', '.join(missing)} (or garch=...); missing")
    scale = positive_number(params.get("scale", 1.0), "scale")
    omega = positive_number(src["omega"], "omega") / (scale * scale)
    alpha = non_negative_number(src["alpha"], "alpha")
    beta = non_negative_number(src["beta"], "beta")
    if alpha + beta > 1.0:
        raise InputError(f"alpha + beta must be <= 1, was {alpha + beta!r}")
    nu = number(src["nu"], "nu")
    if not nu > 2.0:
        raise InputError(f"nu must be > 2 (finite variance; inf for normal innovations), was {src['nu']!r}")
    return _Garch(omega, alpha, beta, nu)


def _returns(params: Mapping[str, Any]) -> Float64Array1D:
    raw = params["returns"]
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"returns must be a 1-D array of numbers, was {type(raw).__name__}") from None
    if arr.ndim != 1 or not 2 <= arr.shape[0] < 2**31:
        raise InputError(f"returns must be a 1-D array of 2 to 2**31 - 1 log returns, had shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(f"returns must be finite, was {float(arr[bad[0]])!r} at index {int(bad[0])}")
    return arr


# --- Monte Carlo ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Sample:
    tau: Float64Array1D  # years, inf when not hit
    horizon: float  # years actually simulated / monitored


def _seed(params: Mapping[str, Any]) -> int:
    seed = params.get("seed", 0)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, _MAX_SEED))
    return integer_in(seed, "seed", 0, _MAX_SEED)


def _grid(prob: _Problem, params: Mapping[str, Any], native: bool, aligned: bool) -> tuple[int, float, bool, int]:
    # (n_steps, dt in years, bridge, check_every).  ``native`` models (GARCH, bootstrap) step at
    # the frequency of their parameters (step_days, default 1 day); jump diffusions step at the
    # monitoring interval (discrete) or at step_days (continuous, default min(1, T/100) days;
    # ``aligned``: 1/k day with k = ceil(100/T) when T < 100 days, so whole-day horizons fall on
    # the grid).
    bridge_arg = params.get("bridge")
    bridge = None if bridge_arg is None else flag(bridge_arg, "bridge")
    step_arg = params.get("step_days")
    step = None if step_arg is None else positive_number(step_arg, "step_days") / DAYS_PER_YEAR
    mon = prob.monitoring_dt
    if mon is not None and bridge:
        raise InputError("bridge must be False with discrete monitoring (monitoring_dt_days is set)")
    if native:
        dt = step if step is not None else 1.0 / DAYS_PER_YEAR
        n = math.floor(prob.horizon / dt + 1e-9)
        if n < 1:
            step_days = dt * DAYS_PER_YEAR
            raise InputError(
                f"horizon_days must be at least one step ({step_days:g} days), was {prob.horizon * DAYS_PER_YEAR:g}"
            )
        if mon is None:
            return n, dt, True if bridge is None else bridge, 1
        k = round(mon / dt)
        if k < 1 or abs(k * dt - mon) > 1e-9 * mon:
            raise InputError(
                f"monitoring_dt_days must be a whole multiple of step_days ({dt * DAYS_PER_YEAR:g}), "
                f"was {mon * DAYS_PER_YEAR:g}"
            )
        return n, dt, False, k
    if mon is not None:
        if step is not None:
            raise InputError("step_days cannot be set with monitoring_dt_days (paths step at the monitoring dates)")
        return math.floor(prob.horizon / mon + 1e-9), mon, False, 1
    if step is None and aligned:
        step = 1.0 / (DAYS_PER_YEAR * math.ceil(max(1.0, 100.0 / (prob.horizon * DAYS_PER_YEAR)) - 1e-9))
        n = max(1, math.ceil(prob.horizon / step - 1e-9))
        return n, step, True if bridge is None else bridge, 1
    if step is None:
        step = min(1.0 / DAYS_PER_YEAR, prob.horizon / 100.0)
    n = max(1, math.ceil(prob.horizon / step - 1e-9))
    return n, prob.horizon / n, True if bridge is None else bridge, 1


def _simulate(prob: _Problem, params: Mapping[str, Any], aligned: bool = False) -> _Sample:
    n_paths = integer_in(params.get("n_paths", _DEFAULT_PATHS), "n_paths", 1, 2**40)
    seed = _seed(params)
    hit = np.zeros(n_paths, dtype=np.bool_)
    tau = np.full(n_paths, math.inf)
    model = prob.model
    if model in ("gbm", "kou", "merton"):
        jumps = _jumps(prob, params)
        n, dt, bridge, _ = _grid(prob, params, native=False, aligned=aligned)
        if n > 0:
            nu = _log_drift(prob, jumps)
            jump_diffusion_fpt_nb(
                seed,
                n,
                dt,
                nu,
                prob.sigma,
                prob.barrier,
                bridge,
                jumps.lam,
                jumps.kind,
                jumps.j1,
                jumps.j2,
                jumps.j3,
                hit,
                tau,
            )
        return _Sample(tau, n * dt)
    n, dt, bridge, every = _grid(prob, params, native=True, aligned=aligned)
    if model == "garch_t":
        g = _garch(params)
        h0 = prob.sigma * prob.sigma * dt
        garch_t_fpt_nb(
            seed, n, dt, prob.sign * prob.mu * dt, -0.5 * prob.sign, g.omega, g.alpha, g.beta, g.nu, h0,
            prob.barrier, bridge, every, hit, tau,
        )  # fmt: skip
        return _Sample(tau, n * dt)
    r = _returns(params).copy()
    block = integer_in(params.get("block", 1), "block", 1, 2**31)
    demean = flag(params.get("demean", True), "demean")
    rescale = flag(params.get("rescale", True), "rescale")
    if demean:
        r -= r.mean()
    if rescale:
        sd = float(r.std(ddof=1))
        if sd <= 0.0:
            raise InputError("returns must not all be equal when rescale=True (zero sample volatility)")
        r *= prob.sigma * math.sqrt(dt) / sd
    var_step = float(r.var(ddof=1))
    if demean:
        r += prob.mu * dt - 0.5 * var_step
    r *= prob.sign
    bootstrap_fpt_nb(seed, n, dt, r, block, var_step, prob.barrier, bridge, every, hit, tau)
    return _Sample(tau, n * dt)
