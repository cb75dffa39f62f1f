"""Exogenous price paths of a market of K assets, each path regenerable from ``(seed, k)`` alone.

Every generator returns float64 prices of shape ``(n_paths, n_steps + 1, K)`` whose step 0 is
the start prices ``s0`` (one per asset).  :func:`market_path_for` builds the single path ``k`` of
a spec dict (what a Dask worker calls) and :func:`market_paths_for` a block of them; as in
:mod:`levguard.cascade.price_paths`, path ``k`` is computed from ``(seed, k)`` by the same code
whichever way it is requested, so it equals row ``k`` of any batch bit for bit, and a block
``first .. first + n_paths - 1`` equals the matching rows of a larger batch.

Models.

* ``bootstrap``: :func:`joint_bootstrap_paths`, a block bootstrap of real multi-asset returns
  that draws whole rows (the same time index for every asset), so correlations, co-crashes and
  the alts' larger falls come from the data.
* ``factor_jump``: :func:`factor_jump_paths`, the one-factor model with common jumps of
  :mod:`levguard.cascade.market_fit` (fitted by :func:`fit_factor_jump`).
* ``user``: :func:`user_market_paths`, one supplied path (or stack of paths) per asset.

Any model can also hold **pegged** assets (stablecoins, liquid-staking tokens used as
collateral): ``pegged`` maps such an asset to its peg and an optional depeg that follows a
driver asset's drawdown (:func:`pegged_paths`); the model simulates the other assets.

Random numbers are the counter-based streams of :mod:`levguard.kernels.paths`, laid out in
:mod:`levguard.kernels.market_paths`: with one asset the factor model reproduces
:func:`levguard.cascade.price_paths.gbm_paths` and :func:`~levguard.cascade.price_paths.jump_paths`
bit for bit, and the fixed-block bootstrap walks the path :func:`levguard.kernels.paths.bootstrap_fpt_py`
monitors (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from levguard.cascade.market_fit import (
    FactorJumpModel,
    VolModel,
    detect_jumps,
    fit_factor_jump,
    joint_log_returns,
    returns_matrix,
)
from levguard.cascade.price_paths import _model_params, _poisson_cdf, user_path
from levguard.core.validate import integer_in, non_negative_number, number, positive_number, show
from levguard.errors import InputError
from levguard.kernels.market_paths import FactorJumpInputs, bootstrap_log_paths_nb, factor_jump_log_paths_nb
from levguard.typing import Float64Array, Float64Array1D, Float64Array2D

__all__ = [
    "MARKET_MODELS",
    "FactorJumpModel",
    "VolModel",
    "detect_jumps",
    "factor_jump_inputs",
    "factor_jump_paths",
    "fit_factor_jump",
    "joint_bootstrap_paths",
    "joint_log_returns",
    "market_path_for",
    "market_paths_for",
    "pegged_paths",
    "user_market_paths",
]

MARKET_MODELS: tuple[str, ...] = ("bootstrap", "factor_jump", "user")
"""Model names accepted by :func:`market_paths_for`."""

BootstrapMethod = Literal["stationary", "fixed"]
_MAX_SEED = 2**63
_MAX_PATH = 2**61  # path indices below this keep the idiosyncratic and jump streams disjoint
_MAX_STEPS = 100_000_000
_MAX_JUMPS_PER_STEP = 50.0
_MAX_SUBSTEPS = 1_000_000


def _rows(n_paths: object, first: object) -> tuple[int, int]:
    n = integer_in(n_paths, "n_paths", 0, _MAX_PATH)
    f = integer_in(first, "first", 0, _MAX_PATH)
    if f + n > _MAX_PATH:
        raise InputError(f"first + n_paths must be <= 2**61, was {f + n}")
    return n, f


def _start_prices(s0: object, names: Sequence[str]) -> Float64Array1D:
    # One start price per asset: a scalar, a sequence in asset order, or a mapping by name.
    k = len(names)
    if isinstance(s0, Mapping):
        missing = [a for a in names if a not in s0]
        if missing:
            raise InputError(f"s0 has no start price for asset(s) {missing}")
        raw: object = [s0[a] for a in names]
    else:
        raw = s0
    try:
        arr = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(f"s0 must be a price or one price per asset, was {show(s0)}") from None
    if arr.ndim == 0:
        arr = np.full(k, float(arr))
    if arr.shape != (k,):
        raise InputError(f"s0 must be a price or {k} prices (one per asset), had shape {arr.shape}")
    for i, v in enumerate(arr):
        if not (math.isfinite(v) and v > 0.0):
            raise InputError(f"s0[{names[i]!r}] must be a finite price > 0, was {float(v)!r}")
    return arr


def _to_prices(log_paths: Float64Array, s0: Float64Array1D) -> Float64Array:
    # s0 * exp(cumulative log return) in place; step 0 is exactly s0 (exp(0) = 1).
    np.exp(log_paths, out=log_paths)
    log_paths *= s0
    return log_paths


# --- joint bootstrap --------------------------------------------------------------------------
def joint_bootstrap_paths(
    returns: object,
    n_paths: int,
    n_steps: int,
    seed: int,
    *,
    s0: float | Sequence[float] | Mapping[str, float] = 1.0,
    block: int = 24,
    method: BootstrapMethod = "stationary",
    assets: Sequence[str] | None = None,
    first: int = 0,
) -> Float64Array:
    """Return price paths of K assets resampled jointly from their historical log returns.

    Parameters
    ----------
    returns : DataFrame, mapping or array_like, shape (T, K)
        Simultaneous log returns per bar (e.g. :func:`joint_log_returns` of hourly bars); see
        :func:`levguard.cascade.market_fit.returns_matrix`.
    n_paths : int
        Number of paths (>= 0).
    n_steps : int
        Steps per path (>= 1); one step is one bar of ``returns``.
    seed : int
        Seed in ``[0, 2**63)``.
    s0 : float, sequence or mapping, default 1.0
        Start price per asset (> 0): one for all, one per column, or by asset name.
    block : int, default 24
        Mean block length (``stationary``) or block length (``fixed``) in bars (>= 1; 1 is
        the i.i.d. bootstrap of rows).  24 hourly bars keep a day of volatility clustering.
    method : {"stationary", "fixed"}, default "stationary"
        Politis-Romano stationary bootstrap or circular fixed blocks.
    assets : sequence of str, optional
        Columns of ``returns`` to use, in this order.
    first : int, default 0
        Index of the first path.

    Returns
    -------
    ndarray of float64, shape (n_paths, n_steps + 1, K)
        Prices; ``[:, 0, :]`` is ``s0``.

    Notes
    -----
    Each step adds one whole row ``t`` of ``returns`` to every asset's log price, so the joint
    distribution of one step's moves is the empirical one (cross-correlations and co-crashes
    included) and within a block the time order is the data's (volatility clustering).
    Stationary bootstrap: Politis and Romano, "The stationary bootstrap", *JASA* 89(428), 1994
    (blocks of geometric length with mean ``block``, circular wrap-around); fixed blocks: Künsch,
    *Annals of Statistics* 17(3), 1989, in the circular form of Politis and Romano (1992).
    Kernel: :func:`levguard.kernels.market_paths.bootstrap_log_paths_py`.
    """
    r, names = returns_matrix(returns, assets)
    n, f = _rows(n_paths, first)
    steps = integer_in(n_steps, "n_steps", 1, _MAX_STEPS + 1)
    sd = integer_in(seed, "seed", 0, _MAX_SEED)
    b = integer_in(block, "block", 1, 2**31)
    if method not in ("stationary", "fixed"):
        raise InputError(f"method must be 'stationary' or 'fixed', was {method!r}")
    start = _start_prices(s0, names)
    stationary = method == "stationary"
    log_stay = math.log1p(-1.0 / b) if b > 1 else -math.inf
    out = np.empty((n, steps + 1, r.shape[1]), dtype=np.float64)
    if n:
        bootstrap_log_paths_nb(sd, f, r, b, stationary, log_stay, out)
    return _to_prices(out, start)


# --- factor model with jumps ------------------------------------------------------------------
def factor_jump_inputs(model: FactorJumpModel, substeps: int = 1) -> FactorJumpInputs:
    """Return the kernel's arrays of a model (component 0 the factor's diffusion, ``1 + i`` asset ``i``'s own part).

    Drifts and the Poisson table of jump counts are per simulation step (``substeps`` per bar);
    the arrays feed :func:`levguard.kernels.market_paths.factor_jump_log_paths_nb`.
    """
    if not isinstance(model, FactorJumpModel):
        raise InputError(f"model must be a FactorJumpModel, was {type(model).__name__}")
    sub = integer_in(substeps, "substeps", 1, _MAX_SUBSTEPS + 1)
    vols: list[VolModel] = [model.factor_vol, *model.idio_vol]
    drift = np.array([model.factor_mean, *model.intercept]) / sub
    p = model.jump_intensity / sub
    if p > _MAX_JUMPS_PER_STEP:
        raise InputError(f"jump_intensity / substeps (expected jumps per step) must be <= 50, was {p!r}")
    cdf = _poisson_cdf(p) if p > 0.0 else np.zeros(0)
    return FactorJumpInputs(
        drift=drift,
        vol=np.array([v.vol for v in vols]),
        omega=np.array([v.omega for v in vols]),
        alpha=np.array([v.alpha for v in vols]),
        beta=np.array([v.beta for v in vols]),
        dof=np.array([v.dof for v in vols]),
        loading=np.array(model.beta, dtype=np.float64),
        jump_loading=np.array(model.jump_beta, dtype=np.float64),
        jump_idio_std=np.array(model.jump_idio_std, dtype=np.float64),
        jump_cdf=np.ascontiguousarray(cdf, dtype=np.float64),
        jump_mean=np.array([model.jump_mean]),
        jump_std=np.array([model.jump_std]),
    )


def factor_jump_paths(
    model: FactorJumpModel | Mapping[str, Any],
    n_paths: int,
    n_steps: int,
    seed: int,
    *,
    s0: float | Sequence[float] | Mapping[str, float] = 1.0,
    substeps: int = 1,
    first: int = 0,
) -> Float64Array:
    """Return price paths of K assets driven by one market factor with common jumps.

    Parameters
    ----------
    model : FactorJumpModel or mapping
        Parameters per bar (:func:`fit_factor_jump`, or :meth:`FactorJumpModel.to_dict` output).
    n_paths, n_steps, seed, first
        As in :func:`joint_bootstrap_paths`.
    s0 : float, sequence or mapping, default 1.0
        Start price per asset of ``model.assets`` (> 0).
    substeps : int, default 1
        Simulation steps per bar of the model (60 for minute steps of an hourly fit).

    Returns
    -------
    ndarray of float64, shape (n_paths, n_steps + 1, K)
        Prices in the order of ``model.assets``; ``[:, 0, :]`` is ``s0``.

    Notes
    -----
    Per step, the factor's diffusive return ``F = mu/m + sqrt(h/m) z`` and jump
    ``J = N jump_mean + sqrt(N) jump_std z_J``, ``N ~ Poisson(lam/m)`` (``m = substeps``), and
    asset ``i`` returns ``a_i/m + b_i F + bJ_i J + sqrt(g_i/m) e_i + sqrt(N) sJ_i e'_i``: the
    one-factor market model (Sharpe 1963) with a Merton (1976) jump common to all assets and
    loaded by ``bJ_i``; GARCH(1,1) variances ``h``, ``g_i`` (Bollerslev 1986) move once per bar
    on the bar's summed shock, Student-t shocks (Bollerslev 1987).  A step's Poisson count is
    drawn by inversion of one uniform, its jump sizes with one normal, as in
    :func:`levguard.cascade.price_paths.jump_paths`: with one asset, constant volatility and
    normal shocks the path is that function's (``lam = 0``: :func:`~levguard.cascade.price_paths.gbm_paths`)
    for ``mu`` the compensated log drift per step.  The factor asset's path does not depend on
    the other assets.  Kernel: :func:`levguard.kernels.market_paths.factor_jump_log_paths_py`.
    """
    m = model if isinstance(model, FactorJumpModel) else FactorJumpModel.from_dict(model)
    n, f = _rows(n_paths, first)
    steps = integer_in(n_steps, "n_steps", 1, _MAX_STEPS + 1)
    sd = integer_in(seed, "seed", 0, _MAX_SEED)
    start = _start_prices(s0, m.assets)
    inputs = factor_jump_inputs(m, substeps)
    out = np.empty((n, steps + 1, len(m.assets)), dtype=np.float64)
    if n:
        factor_jump_log_paths_nb(sd, f, int(substeps), inputs, out)
    return _to_prices(out, start)


# --- user paths -------------------------------------------------------------------------------
def user_market_paths(paths: Mapping[str, object], assets: Sequence[str] | None = None) -> Float64Array:
    """Validate user-supplied price paths, one per asset, and stack them as a market.

    Parameters
    ----------
    paths : mapping of asset name to array_like, shape (T + 1,) or (n_paths, T + 1)
        Prices per asset, finite and > 0 (:func:`levguard.cascade.price_paths.user_path`), all
        of one shape.
    assets : sequence of str, optional
        Assets to take, in this order (default: the mapping's order).

    Returns
    -------
    ndarray of float64, shape (n_paths, T + 1, K)
        ``n_paths = 1`` for 1-D paths.

    Raises
    ------
    InputError
        Not a mapping, unknown assets, a bad price (naming asset, index and value), or paths of
        different shapes.
    """
    if not isinstance(paths, Mapping) or not paths:
        raise InputError(f"paths must be a non-empty mapping of asset name to prices, was {type(paths).__name__}")
    names = [str(a) for a in paths] if assets is None else [str(a) for a in assets]
    keys = {str(a): a for a in paths}
    missing = [a for a in names if a not in keys]
    if missing or not names:
        raise InputError(f"paths has no asset(s) {missing or names}; assets are {list(keys)}")
    cols: list[Float64Array] = []
    for a in names:
        try:
            cols.append(user_path(paths[keys[a]]))
        except InputError as exc:
            raise InputError(f"paths[{a!r}]: {exc}") from None
    shapes = {c.shape for c in cols}
    if len(shapes) > 1:
        raise InputError(
            f"paths must all have one shape, were {dict(zip(names, (c.shape for c in cols), strict=True))}"
        )
    stacked = np.stack(cols, axis=-1)
    out: Float64Array = stacked[None] if stacked.ndim == 2 else stacked
    return np.ascontiguousarray(out)


# --- spec dispatch ----------------------------------------------------------------------------
def _bootstrap_spec(p: Mapping[str, Any], assets: list[str], n: int, first: int) -> Float64Array:
    return joint_bootstrap_paths(
        p["returns"], n, p["n_steps"], p["seed"], s0=p.get("s0", 1.0), block=p.get("block", 24),
        method=p.get("method", "stationary"), assets=assets, first=first,
    )  # fmt: skip


def _factor_spec(p: Mapping[str, Any], assets: list[str], n: int, first: int) -> Float64Array:
    if ("params" in p) == ("returns" in p):
        raise InputError("spec for model 'factor_jump' needs exactly one of 'params' or 'returns'")
    if "params" in p:
        m = p["params"] if isinstance(p["params"], FactorJumpModel) else FactorJumpModel.from_dict(p["params"])
    else:
        fit = p.get("fit", {})
        if not isinstance(fit, Mapping):
            raise InputError(f"spec['fit'] must be a mapping of fit_factor_jump options, was {fit!r}")
        m = fit_factor_jump(p["returns"], **fit)
    unknown = [a for a in assets if a not in m.assets]
    if unknown:
        raise InputError(f"spec['assets'] has asset(s) {unknown} the factor model lacks; it has {list(m.assets)}")
    s0 = p.get("s0", 1.0)
    if isinstance(s0, Mapping):
        by_name = {str(a): v for a, v in s0.items()}
    elif np.ndim(s0) == 0:
        by_name = dict.fromkeys(assets, s0)
    else:
        prices = list(s0)
        if len(prices) != len(assets):
            raise InputError(f"spec['s0'] must have one price per asset ({len(assets)}), had {len(prices)}")
        by_name = dict(zip(assets, prices, strict=True))
    missing = [a for a in assets if a not in by_name]
    if missing:
        raise InputError(f"spec['s0'] has no start price for asset(s) {missing}")
    # Assets of the model that are not selected are simulated (at price 1) and dropped.
    s0 = {a: by_name.get(a, 1.0) if a in assets else 1.0 for a in m.assets}
    out = factor_jump_paths(m, n, p["n_steps"], p["seed"], s0=s0, substeps=p.get("substeps", 1), first=first)
    cols = [m.assets.index(a) for a in assets]
    return np.ascontiguousarray(out[:, :, cols])


def _user_spec(p: Mapping[str, Any], assets: list[str], n: int, first: int) -> Float64Array:
    a = user_market_paths(p["paths"], assets)
    cnt, f = _rows(n, first)
    if np.ndim({str(k): v for k, v in p["paths"].items()}[assets[0]]) == 1:
        return np.ascontiguousarray(np.repeat(a, cnt, axis=0))
    if f + cnt > a.shape[0]:
        raise InputError(f"paths have {a.shape[0]} rows, path {f + cnt - 1} was requested")
    return a[f : f + cnt].copy()


@dataclass(frozen=True, slots=True)
class _Model:
    fn: Callable[[Mapping[str, Any], list[str], int, int], Float64Array]
    required: tuple[str, ...]
    optional: tuple[str, ...]


_MODEL_TABLE: dict[str, _Model] = {
    "bootstrap": _Model(_bootstrap_spec, ("returns", "n_steps", "seed"), ("s0", "block", "method")),
    "factor_jump": _Model(_factor_spec, ("n_steps", "seed"), ("params", "returns", "fit", "s0", "substeps")),
    "user": _Model(_user_spec, ("paths",), ()),
}


def pegged_paths(driver: object, peg: float = 1.0, beta: float = 0.0, floor: float = 0.5) -> Float64Array:
    """Return the paths of a pegged asset whose depeg follows a driver's drawdown.

    ``P_t = peg x max(floor, 1 - beta x DD_t)`` with ``DD_t = 1 - D_t / max_{s <= t} D_s`` the
    driver's fall from its running peak: with ``beta = 0`` the asset stays at its peg; with
    ``beta = 2`` a 10 % crash of the driver takes it to 0.8 x peg.

    Parameters
    ----------
    driver : array (T + 1,) or (n, T + 1)
        Prices of the driver asset (> 0).
    peg : float
        The peg (> 0).
    beta : float
        Depeg per unit of the driver's drawdown (>= 0).
    floor : float
        Lowest price as a fraction of the peg, in (0, 1].

    Notes
    -----
    A stated stress model, not a fit: the exogenous (market-wide) part of a collateral depeg
    moves with the crypto crash that causes it.  A venue's own depeg beyond it comes from the
    simulation: liquidations sell the collateral into the venue's book of the asset
    (:class:`levguard.cascade.MarketVenue` ``collateral``), as on 2025-10-10 when USDe, wBETH
    and BNSOL depegged on Binance during the crash (issue 20).
    """
    try:
        d = np.asarray(driver, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"driver must be prices > 0 of shape (T + 1,) or (n, T + 1), was {type(driver).__name__}"
        ) from None
    if d.ndim not in (1, 2) or d.shape[-1] < 2 or not np.all(np.isfinite(d) & (d > 0.0)):
        raise InputError("driver must be prices > 0 of shape (T + 1,) or (n, T + 1) with T >= 1")
    pg = positive_number(peg, "peg")
    b = non_negative_number(beta, "beta")
    fl = number(floor, "floor")
    if not (0.0 < fl <= 1.0):
        raise InputError(f"floor must be in (0, 1], was {floor!r}")
    dd = 1.0 - d / np.maximum.accumulate(d, axis=-1)
    out: Float64Array = pg * np.maximum(fl, 1.0 - b * dd)
    return out


_PEG_KEYS = ("peg", "driver", "beta", "floor")


def _with_pegged(spec: Mapping[str, Any], assets: list[str], n_paths: int, first: int) -> Float64Array:
    # The model on the assets that are not pegged, then each pegged asset from its driver.
    pegged = spec["pegged"]
    if not isinstance(pegged, Mapping) or not pegged:
        raise InputError(f"spec['pegged'] must map asset names to {{peg, driver, beta, floor}}, was {pegged!r}")
    names = {str(a) for a in pegged}
    unknown = sorted(names - set(assets))
    if unknown:
        raise InputError(f"spec['pegged'] names asset(s) {unknown} not in spec['assets'] {assets}")
    free = [a for a in assets if a not in names]
    if not free:
        raise InputError("spec['pegged'] must leave at least one asset to the model")
    inner = {k: v for k, v in spec.items() if k != "pegged"}
    s0 = inner.get("s0")
    if s0 is not None and not isinstance(s0, Mapping) and np.ndim(s0) == 1:
        if len(s0) != len(assets):
            raise InputError(f"spec['s0'] must have one price per asset ({len(assets)}), had {len(s0)}")
        inner["s0"] = [p for a, p in zip(assets, s0, strict=True) if a not in names]
    inner["assets"] = free
    base = market_paths_for(inner, n_paths, first=first)
    out = np.empty((base.shape[0], base.shape[1], len(assets)))
    for j, a in enumerate(assets):
        if a in free:
            out[:, :, j] = base[:, :, free.index(a)]
            continue
        cfg = pegged[a]
        if not isinstance(cfg, Mapping):
            raise InputError(f"spec['pegged'][{a!r}] must be a mapping {{peg, driver, beta, floor}}, was {cfg!r}")
        bad = sorted(str(k) for k in cfg if k not in _PEG_KEYS)
        if bad:
            raise InputError(f"spec['pegged'][{a!r}] has unknown keys {bad}; allowed: {list(_PEG_KEYS)}")
        drv = cfg.get("driver")
        if drv is not None and drv not in free:
            raise InputError(f"spec['pegged'][{a!r}].driver must be one of the modelled assets {free}, was {drv!r}")
        beta = cfg.get("beta", 0.0)
        driver = base[:, :, free.index(str(drv))] if drv is not None else np.ones(base.shape[:2])
        if drv is None and beta != 0.0:
            raise InputError(f"spec['pegged'][{a!r}]: a beta needs a driver")
        try:
            out[:, :, j] = pegged_paths(driver, cfg.get("peg", 1.0), beta, cfg.get("floor", 0.5))
        except InputError as exc:
            raise InputError(f"spec['pegged'][{a!r}]: {exc}") from None
    return np.ascontiguousarray(out)


def market_paths_for(spec: Mapping[str, Any], n_paths: int, *, first: int = 0) -> Float64Array:
    """Return paths ``first .. first + n_paths - 1`` of a market spec, shape ``(n_paths, T + 1, K)``.

    Parameters
    ----------
    spec : Mapping
        ``{"model": name, "assets": [...], **parameters}``; the columns of the result are
        ``assets`` in that order.  ``name`` is one of :data:`MARKET_MODELS`:

        * ``bootstrap``: ``returns`` (frame, mapping or ``(T, K)`` array whose columns are
          ``assets``), ``n_steps``, ``seed``; optional ``s0``, ``block``, ``method``
          (:func:`joint_bootstrap_paths`).
        * ``factor_jump``: ``n_steps``, ``seed`` and either ``params`` (a
          :class:`FactorJumpModel` or its ``to_dict()``) or ``returns`` to fit
          (:func:`fit_factor_jump`, options in ``fit``; refitted on every call, so ship
          ``params`` to workers); optional ``s0``, ``substeps``.  ``assets`` may be any subset
          of the model's assets: a path of an asset does not depend on which are selected.
        * ``user``: ``paths``, a mapping of asset name to prices ``(T + 1,)`` (the same path for
          every ``k``) or ``(n_paths, T + 1)`` (row ``k``).

        Every model also takes ``pegged``: a mapping of asset name (in ``assets``) to
        ``{peg, driver, beta, floor}`` (:func:`pegged_paths`; defaults 1.0, none, 0, 0.5); the
        model simulates the other assets and a list ``s0`` keeps one price per asset of
        ``assets`` (the pegged ones' are ignored).
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
        raise InputError(f"spec must be a mapping with 'model' and 'assets' keys, was {type(spec).__name__}")
    name = spec.get("model")
    if not isinstance(name, str) or name not in _MODEL_TABLE:  # a list or dict is unhashable
        raise InputError(f"spec['model'] must be one of {list(MARKET_MODELS)}, was {show(name)}")
    model = _MODEL_TABLE[str(name)]
    raw_assets = spec.get("assets")
    if isinstance(raw_assets, str) or not isinstance(raw_assets, Sequence) or not raw_assets:
        raise InputError(f"spec['assets'] must be a non-empty list of asset names, was {raw_assets!r}")
    assets = [str(a) for a in raw_assets]
    if len(set(assets)) != len(assets):
        raise InputError(f"spec['assets'] must be distinct, was {assets}")
    if "pegged" in spec:
        return _with_pegged(spec, assets, n_paths, first)
    params = _model_params(spec, name, model.required, model.optional, handled=("assets",))
    return model.fn(params, assets, n_paths, first)


def market_path_for(spec: Mapping[str, Any], k: int) -> Float64Array2D:
    """Return path ``k`` of a market spec, shape ``(T + 1, K)``: row ``k`` of :func:`market_paths_for`.

    This is what a Monte Carlo worker calls: the path depends on the spec and ``k`` only.
    """
    kk = integer_in(k, "k", 0, _MAX_PATH)
    out: Float64Array2D = market_paths_for(spec, 1, first=kk)[0]
    return out
