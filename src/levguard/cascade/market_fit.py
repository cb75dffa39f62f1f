"""The one-factor jump model of a market of K assets, and its fit to real returns.

:class:`FactorJumpModel` holds the parameters :func:`levguard.cascade.market_paths.factor_jump_paths`
simulates; :func:`fit_factor_jump` estimates them from a ``(T, K)`` matrix of log returns (e.g.
:func:`joint_log_returns` of the hourly bars in ``../shared/data``), with one asset (BTC) as the
market factor.  The model, per bar ``t``::

    f_t   = mu + sqrt(h_t) z_t + J_t                                   (the factor asset)
    r_i,t = a_i + b_i (f_t - J_t) + bJ_i J_t + sqrt(g_i,t) e_i,t + sqrt(N_t) sJ_i e'_i,t

with ``J_t`` the sum of ``N_t ~ Poisson(lam)`` normal jumps ``N(jump_mean, jump_std**2)``,
``h`` and ``g_i`` GARCH(1,1) or constant variances and ``z``, ``e`` unit-variance Student-t or
normal shocks.  A market crash is a factor jump (or a run of large factor shocks), and each asset
takes ``bJ_i`` (``b_i``) times it: an alt falls further than BTC exactly when its fitted betas
exceed 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, special

from levguard.core.validate import finite_number, integer_in, non_negative_number, number, show
from levguard.data.frames import frame_bar_ns, step_text
from levguard.errors import DataError, InputError
from levguard.kernels.vol import garch_filter_nb
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D

__all__ = [
    "FactorJumpModel",
    "JumpTest",
    "VolModel",
    "detect_jumps",
    "fit_factor_jump",
    "joint_log_returns",
    "returns_matrix",
]

VolKind = Literal["garch_t", "constant"]
_MAX_ROWS = 2**31 - 1  # the bootstrap kernel draws row indices from 32-bit words
_MAX_PERSISTENCE = 0.9999  # alpha + beta of a fitted GARCH stays below this (stationary)
_DOF_BOUNDS = (2.05, 200.0)  # Student-t shapes searched; a fit above 150 is taken as normal
_NORMAL_DOF = 150.0


# --- parameters -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VolModel:
    """Volatility of one component: GARCH(1,1) with Student-t shocks, or constant.

    Attributes
    ----------
    vol : float
        Unconditional standard deviation of the log return per bar (>= 0; 0: no shocks); the
        simulation starts at this level.
    alpha, beta : float, default 0.0
        GARCH(1,1) coefficients per bar (>= 0, ``alpha + beta < 1``); both 0: constant ``vol``.
    dof : float, default inf
        Degrees of freedom of the unit-variance Student-t shocks (> 2; ``inf``: normal).

    Notes
    -----
    ``h_{t+1} = omega + alpha eps_t**2 + beta h_t`` with variance targeting
    ``omega = vol**2 (1 - alpha - beta)`` (Bollerslev 1986; Engle and Mezrich 1996), so ``vol**2``
    is the stationary mean of ``h``.
    """

    vol: float
    alpha: float = 0.0
    beta: float = 0.0
    dof: float = math.inf

    def __post_init__(self) -> None:
        non_negative_number(self.vol, "vol")
        a = non_negative_number(self.alpha, "alpha")
        b = non_negative_number(self.beta, "beta")
        if not a + b < 1.0:
            raise InputError(f"alpha + beta must be < 1 (stationary variance), was {a + b!r}")
        if not number(self.dof, "dof") > 2.0:
            raise InputError(f"dof must be > 2 (finite variance) or inf, was {self.dof!r}")

    @property
    def omega(self) -> float:
        """``vol**2 (1 - alpha - beta)``: the GARCH constant."""
        return self.vol * self.vol * (1.0 - self.alpha - self.beta)


def _vol_model(value: object, name: str) -> VolModel:
    if isinstance(value, VolModel):
        return value
    if isinstance(value, Mapping):
        try:
            return VolModel(**value)
        except TypeError as exc:
            raise InputError(f"{name} must have keys vol, alpha, beta, dof: {exc}") from None
    raise InputError(f"{name} must be a VolModel or a mapping, was {type(value).__name__}")


def _empty(values: object) -> bool:
    try:
        return len(values) == 0  # type: ignore[arg-type]
    except TypeError:
        return False


def _per_asset(values: object, name: str, k: int) -> tuple[float, ...]:
    try:
        seq = tuple(float(v) for v in values)  # type: ignore[attr-defined]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past float64's range
        raise InputError(f"{name} must be a sequence of {k} numbers, was {show(values, 80)}") from None
    if len(seq) != k:
        raise InputError(f"{name} must have one value per asset ({k}), had {len(seq)}")
    for i, v in enumerate(seq):
        if not math.isfinite(v):
            raise InputError(f"{name}[{i}] must be finite, was {v!r}")
    return seq


@dataclass(frozen=True)
class FactorJumpModel:
    """Parameters of the one-factor jump model of K assets, per bar of the fitted data.

    Attributes
    ----------
    assets : tuple of str
        Asset names (``K >= 1``, distinct).
    factor : str
        The asset that is the market factor (its row is ``intercept 0``, ``beta 1``,
        ``jump_beta 1``, no idiosyncratic part).
    factor_mean : float
        Log drift per bar of the factor's diffusive part (``mu``).
    factor_vol : VolModel
        Volatility of the factor's diffusive part.
    intercept, beta : tuple of float, shape (K,)
        ``a_i`` (log return per bar) and ``b_i``: loading on the factor's diffusive return.
    idio_vol : tuple of VolModel, shape (K,)
        Idiosyncratic volatility per asset.
    jump_intensity : float
        Expected factor jumps per bar (``lam``, >= 0).
    jump_mean, jump_std : float
        Mean and standard deviation of one factor log jump.
    jump_beta : tuple of float, shape (K,)
        ``bJ_i``: loading on the factor's jump.
    jump_idio_std : tuple of float, shape (K,)
        ``sJ_i``: standard deviation of the asset's own part of a jump, per jump.
    n_obs, n_jumps : int, default 0
        Bars and detected jumps of the fit (0 when the model was not fitted).
    jump_threshold : float, default 0.0
        The jump test's critical value in units of the local volatility (0 when not fitted).
    """

    assets: tuple[str, ...]
    factor: str
    factor_mean: float
    factor_vol: VolModel
    intercept: tuple[float, ...]
    beta: tuple[float, ...]
    idio_vol: tuple[VolModel, ...]
    jump_intensity: float = 0.0
    jump_mean: float = 0.0
    jump_std: float = 0.0
    jump_beta: tuple[float, ...] = field(default=())
    jump_idio_std: tuple[float, ...] = field(default=())
    n_obs: int = 0
    n_jumps: int = 0
    jump_threshold: float = 0.0

    def __post_init__(self) -> None:
        iterable = isinstance(self.assets, Iterable) and not isinstance(self.assets, str)  # None: raw TypeError
        assets = tuple(str(a) for a in self.assets) if iterable else ()
        if not assets or len(set(assets)) != len(assets):
            raise InputError(f"assets must be a non-empty sequence of distinct names, was {self.assets!r}")
        k = len(assets)
        if self.factor not in assets:
            raise InputError(f"factor must be one of the assets {list(assets)}, was {self.factor!r}")
        set_ = object.__setattr__
        set_(self, "assets", assets)
        set_(self, "factor_mean", finite_number(self.factor_mean, "factor_mean"))
        set_(self, "factor_vol", _vol_model(self.factor_vol, "factor_vol"))
        set_(self, "intercept", _per_asset(self.intercept, "intercept", k))
        set_(self, "beta", _per_asset(self.beta, "beta", k))
        # Empty jump loadings default to the diffusive betas, empty jump residuals to zeros.
        jb = self.beta if _empty(self.jump_beta) else self.jump_beta
        set_(self, "jump_beta", _per_asset(jb, "jump_beta", k))
        js = (0.0,) * k if _empty(self.jump_idio_std) else self.jump_idio_std
        set_(self, "jump_idio_std", _per_asset(js, "jump_idio_std", k))
        try:
            vols = tuple(self.idio_vol)
        except TypeError:
            raise InputError(f"idio_vol must be a sequence of {k} VolModel, was {self.idio_vol!r}") from None
        if len(vols) != k:
            raise InputError(f"idio_vol must have one VolModel per asset ({k}), had {len(vols)}")
        set_(self, "idio_vol", tuple(_vol_model(v, f"idio_vol[{i}]") for i, v in enumerate(vols)))
        set_(self, "jump_intensity", non_negative_number(self.jump_intensity, "jump_intensity"))
        set_(self, "jump_mean", finite_number(self.jump_mean, "jump_mean"))
        set_(self, "jump_std", non_negative_number(self.jump_std, "jump_std"))
        for i, v in enumerate(self.jump_idio_std):
            if v < 0.0:
                raise InputError(f"jump_idio_std[{i}] must be >= 0, was {v!r}")
        set_(self, "n_obs", integer_in(self.n_obs, "n_obs", 0, 2**62))
        set_(self, "n_jumps", integer_in(self.n_jumps, "n_jumps", 0, 2**62))
        set_(self, "jump_threshold", non_negative_number(self.jump_threshold, "jump_threshold"))
        f = assets.index(self.factor)
        row = (self.intercept[f], self.beta[f], self.jump_beta[f], self.idio_vol[f].vol, self.jump_idio_std[f])
        if row != (0.0, 1.0, 1.0, 0.0, 0.0):
            raise InputError(
                "the factor asset's (intercept, beta, jump_beta, idio_vol.vol, jump_idio_std) must be "
                f"(0, 1, 1, 0, 0), was {row!r}"
            )

    @property
    def factor_index(self) -> int:
        """Column of the factor asset."""
        return self.assets.index(self.factor)

    def without_drift(self) -> FactorJumpModel:
        """Return the model with zero log drifts (``factor_mean`` and every ``intercept``)."""
        return replace(self, factor_mean=0.0, intercept=(0.0,) * len(self.assets))

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as plain Python values (JSON/YAML-ready; :meth:`from_dict` inverts)."""
        d = asdict(self)
        d["assets"] = list(self.assets)
        for key in ("intercept", "beta", "jump_beta", "jump_idio_std"):
            d[key] = list(d[key])
        d["idio_vol"] = [asdict(v) for v in self.idio_vol]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FactorJumpModel:
        """Build a model from :meth:`to_dict`'s output; unknown keys raise :class:`InputError`."""
        if not isinstance(data, Mapping):
            raise InputError(f"factor model parameters must be a mapping, was {type(data).__name__}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise InputError(f"factor model parameters: {exc}") from None


# --- inputs -----------------------------------------------------------------------------------
def returns_matrix(
    returns: object, assets: Sequence[str] | None = None, *, min_rows: int = 1
) -> tuple[Float64Array2D, tuple[str, ...]]:
    """Return log returns as a C-contiguous float64 ``(T, K)`` matrix and the asset names.

    Parameters
    ----------
    returns : DataFrame, mapping of name to (T,) array, or array_like (T,) or (T, K)
        Log returns per bar, finite.  A frame's columns or a mapping's keys name the assets.
    assets : sequence of str, optional
        Columns to take, in this order (frame or mapping), or the names of an array's columns.
        Default: every column (an array's are named ``"0", "1", ...``).
    min_rows : int, default 1
        Fewest rows accepted.

    Raises
    ------
    InputError
        Unknown asset names, ragged columns, a shape other than 1-D or 2-D, too few rows, or a
        value that is not finite (naming its row and column).
    """
    names: tuple[str, ...] | None = None
    data: object = returns
    if isinstance(returns, pd.DataFrame):
        cols = [str(c) for c in returns.columns]
        names = tuple(assets) if assets is not None else tuple(cols)
        missing = [a for a in names if a not in cols]
        if missing:
            raise InputError(f"returns has no column(s) {missing}; columns are {cols}")
        data = returns.set_axis(cols, axis=1)[list(names)].to_numpy(dtype=np.float64)
    elif isinstance(returns, Mapping):
        keys = [str(c) for c in returns]
        names = tuple(assets) if assets is not None else tuple(keys)
        missing = [a for a in names if a not in keys]
        if missing:
            raise InputError(f"returns has no asset(s) {missing}; assets are {keys}")
        columns = [np.asarray(returns[a], dtype=np.float64) for a in names]
        if any(c.ndim != 1 or c.shape != columns[0].shape for c in columns):
            raise InputError(f"returns per asset must be 1-D of equal length, were {[c.shape for c in columns]}")
        data = np.column_stack(columns) if columns else np.empty((0, 0))
    try:
        r = np.array(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"returns must be an array of log returns, was {type(returns).__name__}: {exc}") from None
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[1] < 1:
        raise InputError(f"returns must have shape (T,) or (T, K) with K >= 1, was {r.shape}")
    if not min_rows <= r.shape[0] <= _MAX_ROWS:
        raise InputError(f"returns must have between {min_rows} and 2**31 - 1 rows, had {r.shape[0]}")
    if names is None:
        names = tuple(assets) if assets is not None else tuple(str(i) for i in range(r.shape[1]))
        if len(names) != r.shape[1]:
            raise InputError(f"assets must name the {r.shape[1]} columns of returns, had {len(names)} names")
    if len(set(names)) != len(names):
        raise InputError(f"asset names must be distinct, were {list(names)}")
    bad = ~np.isfinite(r)
    if bad.any():
        t, j = (int(v) for v in np.argwhere(bad)[0])
        raise InputError(f"returns[{t}, {j}] ({names[j]}) must be a finite log return, was {float(r[t, j])!r}")
    return np.ascontiguousarray(r), names


def _closes(value: object, name: str, column: str) -> pd.Series:
    if isinstance(value, pd.DataFrame):
        if column not in value.columns:
            raise InputError(f"prices[{name!r}] has no column {column!r}")
        s = value[column]
    elif isinstance(value, pd.Series):
        s = value
    else:
        raise InputError(f"prices[{name!r}] must be a DataFrame or Series, was {type(value).__name__}")
    idx = s.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise InputError(f"prices[{name!r}] must have a timezone-aware (UTC) DatetimeIndex")
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(x) & (x > 0.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"prices[{name!r}] at {idx[i]} must be a finite price > 0, was {float(x[i])!r}")
    return pd.Series(x, index=idx.tz_convert("UTC").as_unit("ns"), name=name)


def joint_log_returns(prices: Mapping[str, pd.DataFrame | pd.Series], *, column: str = "close") -> pd.DataFrame:
    """Return the log returns of several assets over the bars they all have, one row per bar.

    Parameters
    ----------
    prices : mapping of asset name to OHLCV frame or price series
        Bars with a UTC ``DatetimeIndex`` of bar open times (e.g. from
        :func:`levguard.data.loaders.load_ohlcv`).
    column : str, default "close"
        Price column of the frames.

    Returns
    -------
    DataFrame
        Index: the open time of bar ``t``; columns: the assets; values
        ``ln(close_t / close_{t-1})`` for every bar ``t`` that every asset has together with the
        bar one interval before it.  A return across a gap of any asset is dropped, never
        spread: the rows are simultaneous moves, which is what a joint bootstrap resamples.

    Raises
    ------
    InputError
        Frames of different bar intervals (``"1h"`` beside ``"1d"``): their returns are not
        simultaneous moves, so they are refused, naming both intervals; resample them to one
        interval first (:func:`levguard.data.resample.resample_ohlcv`).  Also a frame whose
        ``attrs["interval"]`` the bars contradict (:func:`levguard.data.frames.frame_bar_ns`).

    Notes
    -----
    Each frame's interval is its ``attrs["interval"]`` (checked against its bars) or else the
    commonest step between its own bars (:func:`levguard.data.frames.frame_bar_ns`); all of
    them must be equal, and that interval is the step a kept return spans.
    """
    if not isinstance(prices, Mapping) or not prices:
        raise InputError("prices must be a non-empty mapping of asset name to frame")
    closes = {str(k): _closes(v, str(k), column) for k, v in prices.items()}
    joined = pd.concat(closes, axis=1, join="inner").sort_index()
    if len(joined) < 2:
        raise InputError(f"the assets {list(closes)} share fewer than 2 bars")
    steps: dict[str, int] = {}
    for (name, close), value in zip(closes.items(), prices.values(), strict=True):
        try:
            steps[name] = frame_bar_ns(value, f"prices[{name!r}]", ts=np.unique(pd.DatetimeIndex(close.index).asi8))
        except DataError as exc:
            raise InputError(str(exc)) from None
    first = next(iter(steps))
    other = next((n for n, ns in steps.items() if ns != steps[first]), None)
    if other is not None:
        raise InputError(
            f"prices[{first!r}] has {step_text(steps[first])} bars but prices[{other!r}] has "
            f"{step_text(steps[other])} bars (attrs['interval'], else the commonest step between bars); "
            "joint returns need one interval: resample the frames to one interval first "
            "(levguard.data.resample.resample_ohlcv, or levguard data resample)"
        )
    step = steps[first]
    ts = pd.DatetimeIndex(joined.index).asi8
    diffs = np.diff(ts)
    keep = diffs == step
    logp = np.log(joined.to_numpy(dtype=np.float64))
    r = np.diff(logp, axis=0)[keep]
    return pd.DataFrame(r, index=joined.index[1:][keep], columns=list(closes))


# --- jump detection ---------------------------------------------------------------------------
class JumpTest(NamedTuple):
    """Result of :func:`detect_jumps`."""

    jumps: BoolArray1D
    """(T,) True where a jump was detected."""
    statistic: Float64Array1D
    """(T,) ``L_t = r_t / sigma_hat_t``."""
    threshold: float
    """Critical value of ``|L_t|``."""


def detect_jumps(returns: object, *, window: int = 94, significance: float = 0.01) -> JumpTest:
    """Flag the bars whose return is a jump by the Lee-Mykland (2008) test.

    Parameters
    ----------
    returns : array_like, shape (T,)
        Log returns, finite, ``T > window``.
    window : int, default 94
        ``K``, bars in the local-volatility window (>= 3).  Lee and Mykland recommend
        ``sqrt(bars per year)``-sized windows (``sqrt(252 x bars per day)`` for equities);
        94 = ``sqrt(365 x 24)`` for the hourly bars of a 24/7 market.
    significance : float, default 0.01
        Probability that the largest statistic of a jump-free sample exceeds the threshold.

    Returns
    -------
    JumpTest

    Notes
    -----
    Lee and Mykland, "Jumps in financial markets: a new nonparametric test and jump dynamics",
    *Review of Financial Studies* 21(6), 2008.  ``L_t = r_t / sigma_hat_t`` with the bipower
    local volatility of the ``K - 2`` products before ``t``,
    ``sigma_hat_t**2 = (1/(K-2)) sum_{j=t-K+2}^{t-1} |r_j| |r_{j-1}|`` (robust to jumps in the
    window); the first ``K - 1`` bars use the first full window.  A jump is flagged when
    ``(|L_t| - C_n) / S_n > -ln(-ln(1 - significance))`` with ``c = sqrt(2/pi)``,
    ``C_n = sqrt(2 ln n)/c - (ln pi + ln ln n) / (2 c sqrt(2 ln n))``, ``S_n = 1/(c sqrt(2 ln n))``
    and ``n = T`` (the Gumbel limit of the maximum of ``n`` jump-free statistics).  Bars with a
    zero local volatility (flat data) are a jump when their return is not zero.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise InputError(f"returns must be 1-D, had shape {r.shape}")
    w = integer_in(window, "window", 3, 2**31)
    if r.shape[0] <= w:
        raise InputError(f"returns must have more than window = {w} bars, had {r.shape[0]}")
    if not np.isfinite(r).all():
        i = int(np.flatnonzero(~np.isfinite(r))[0])
        raise InputError(f"returns[{i}] must be finite, was {float(r[i])!r}")
    a = number(significance, "significance")
    if not 0.0 < a < 1.0:
        raise InputError(f"significance must be in (0, 1), was {significance!r}")
    n = r.shape[0]
    absr = np.abs(r)
    prod = np.zeros(n)
    prod[1:] = absr[1:] * absr[:-1]  # prod[j] = |r_j| |r_{j-1}|
    csum = np.concatenate(([0.0], np.cumsum(prod)))
    t = np.maximum(np.arange(n), w - 1)
    var = np.maximum(csum[t] - csum[t - w + 2], 0.0) / (w - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = r / np.sqrt(var)
    stat = np.where(np.isnan(stat), 0.0, stat)
    c = math.sqrt(2.0 / math.pi)
    ln = math.log(n)
    root = math.sqrt(2.0 * ln)
    cn = root / c - (math.log(math.pi) + math.log(ln)) / (2.0 * c * root)
    sn = 1.0 / (c * root)
    threshold = cn + sn * -math.log(-math.log(1.0 - a))
    return JumpTest(np.abs(stat) > threshold, stat, threshold)


# --- volatility fits --------------------------------------------------------------------------
def _garch_nll(x: Float64Array1D, eps: Float64Array1D, keep: BoolArray1D, s2: float) -> float:
    # Gaussian quasi-likelihood of GARCH(1,1) with variance targeting, over the kept bars;
    # x maps to persistence p in (0, _MAX_PERSISTENCE) and alpha = p * share.
    p = _MAX_PERSISTENCE * special.expit(x[0])
    alpha = p * special.expit(x[1])
    var = np.empty(eps.shape[0] + 1)
    var[0] = s2
    garch_filter_nb(eps, s2 * (1.0 - p), alpha, 0.0, p - alpha, var)
    h = var[:-1][keep]
    return float(0.5 * np.sum(np.log(h) + eps[keep] ** 2 / h))


def _t_nll(nu: float, z: Float64Array1D) -> float:
    # Negative log-likelihood of unit-variance Student-t shocks z with nu degrees of freedom.
    c = special.gammaln(0.5 * (nu + 1.0)) - special.gammaln(0.5 * nu) - 0.5 * math.log(math.pi * (nu - 2.0))
    return float(-(z.shape[0] * c - 0.5 * (nu + 1.0) * np.sum(np.log1p(z * z / (nu - 2.0)))))


def _fit_vol(eps: Float64Array1D, keep: BoolArray1D, kind: VolKind, what: str) -> VolModel:
    # Volatility of a zero-mean series over the kept bars (eps is 0 on the others).
    s2 = float(np.mean(eps[keep] ** 2))
    if not s2 > 0.0:
        raise InputError(f"{what} has zero variance outside jumps; a volatility cannot be fitted")
    if kind == "constant":
        return VolModel(math.sqrt(s2))
    e = np.ascontiguousarray(eps)
    x0 = np.array([math.log(0.95 / (_MAX_PERSISTENCE - 0.95)), math.log(0.05 / 0.90)])
    res = optimize.minimize(
        _garch_nll,
        x0,
        args=(e, keep, s2),
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 2000},
    )
    if not np.isfinite(res.fun):
        raise DataError(f"GARCH fit of {what} failed: {res.message}")
    p = _MAX_PERSISTENCE * float(special.expit(res.x[0]))
    alpha = p * float(special.expit(res.x[1]))
    var = np.empty(e.shape[0] + 1)
    var[0] = s2
    garch_filter_nb(e, s2 * (1.0 - p), alpha, 0.0, p - alpha, var)
    z = e[keep] / np.sqrt(var[:-1][keep])
    fit = optimize.minimize_scalar(_t_nll, bounds=_DOF_BOUNDS, args=(z,), method="bounded")
    dof = float(fit.x) if fit.x < _NORMAL_DOF else math.inf
    return VolModel(math.sqrt(s2), alpha, p - alpha, dof)


def fit_factor_jump(
    returns: object,
    *,
    factor: str | None = None,
    assets: Sequence[str] | None = None,
    vol: VolKind = "garch_t",
    window: int = 94,
    significance: float = 0.01,
) -> FactorJumpModel:
    """Fit the one-factor jump model to log returns of several assets.

    Parameters
    ----------
    returns : DataFrame, mapping or array_like, shape (T, K)
        Simultaneous log returns per bar (:func:`joint_log_returns`), ``T > 2 window`` and at
        least 200 bars.
    factor : str, optional
        The asset that is the market factor (default: the first, e.g. BTC).
    assets : sequence of str, optional
        Columns to use and their order (see :func:`returns_matrix`).
    vol : {"garch_t", "constant"}, default "garch_t"
        GARCH(1,1) with Student-t shocks, or a constant volatility with normal shocks, for the
        factor's diffusion and every idiosyncratic part.
    window, significance : int, float
        The jump test's parameters (:func:`detect_jumps`).

    Returns
    -------
    FactorJumpModel
        Parameters per bar of the input.

    Notes
    -----
    Kept simple and robust, in four steps:

    1. Jumps: the Lee-Mykland (2008) test on the factor's returns (:func:`detect_jumps`).  On a
       jump bar the whole deviation ``J_t = f_t - mu`` is the jump (``mu``: mean factor return
       outside jumps); ``lam`` = jumps per bar, ``jump_mean`` and ``jump_std`` the sample mean
       and standard deviation of the ``J_t`` (Merton 1976 normal jumps).
    2. Betas: ``b_i`` and ``a_i`` by ordinary least squares of ``r_i`` on ``f`` over the bars
       without a jump (the CAPM-style market-model regression, Sharpe 1963); ``bJ_i`` by least
       squares through the origin of ``r_i - a_i - b_i mu`` on ``J_t`` over the jump bars
       (``b_i`` when there are none).
    3. Jump residuals: ``sJ_i**2 = max(0, mean of (r_i - a_i - b_i mu - bJ_i J)**2 over jump
       bars - the idiosyncratic variance outside jumps)``.
    4. Volatility of the factor's diffusion ``f - mu`` and of each residual ``r_i - a_i - b_i f``,
       outside jumps (jump bars enter the recursion with a zero shock and are left out of the
       likelihood): ``constant``, the sample root mean square; ``garch_t``, GARCH(1,1) by
       Gaussian quasi-maximum likelihood with variance targeting (Bollerslev and Wooldridge
       1992; Engle and Mezrich 1996; ``alpha + beta <= 0.9999``), then the Student-t degrees of
       freedom by maximum likelihood on the standardised residuals (two-step; a shape above 150
       is taken as normal).

    The parameters are per bar: simulate with one step per bar, or split bars with
    ``substeps`` in :func:`levguard.cascade.market_paths.factor_jump_paths`.
    """
    w = integer_in(window, "window", 3, 2**31)
    r, names = returns_matrix(returns, assets, min_rows=max(200, 2 * w + 1))
    if vol not in ("garch_t", "constant"):
        raise InputError(f"vol must be 'garch_t' or 'constant', was {vol!r}")
    fac = names[0] if factor is None else factor
    if fac not in names:
        raise InputError(f"factor must be one of the assets {list(names)}, was {factor!r}")
    fi = names.index(fac)
    f = r[:, fi]
    test = detect_jumps(f, window=w, significance=significance)
    jumps = test.jumps
    calm = ~jumps
    n_jumps = int(jumps.sum())
    mu = float(np.mean(f[calm]))
    jsize = f[jumps] - mu
    fc = f[calm] - mu
    var_f = float(np.mean(fc * fc))
    if not var_f > 0.0:
        raise InputError(f"factor {fac!r} has zero variance outside jumps")
    factor_vol = _fit_vol(np.where(jumps, 0.0, f - mu), calm, vol, f"factor {fac!r}")
    k = len(names)
    intercept, beta, jbeta, jidio = [0.0] * k, [1.0] * k, [1.0] * k, [0.0] * k
    idio = [VolModel(0.0)] * k
    for i in range(k):
        if i == fi:
            continue
        x = r[:, i]
        xc = x[calm] - float(np.mean(x[calm]))
        b = float(np.mean(xc * fc) / var_f)
        a = float(np.mean(x[calm])) - b * mu
        resid = x - a - b * f
        var_e = float(np.mean(resid[calm] ** 2))
        bj, sj = b, 0.0
        if n_jumps > 0:
            y = x[jumps] - a - b * mu
            bj = float(np.sum(y * jsize) / np.sum(jsize * jsize))
            sj = math.sqrt(max(float(np.mean((y - bj * jsize) ** 2)) - var_e, 0.0))
        intercept[i], beta[i], jbeta[i], jidio[i] = a, b, bj, sj
        idio[i] = _fit_vol(np.where(jumps, 0.0, resid), calm, vol, f"residual of {names[i]!r}")
    return FactorJumpModel(
        assets=names,
        factor=fac,
        factor_mean=mu,
        factor_vol=factor_vol,
        intercept=tuple(intercept),
        beta=tuple(beta),
        idio_vol=tuple(idio),
        jump_intensity=n_jumps / r.shape[0],
        jump_mean=float(np.mean(jsize)) if n_jumps > 0 else 0.0,
        jump_std=float(np.std(jsize, ddof=1)) if n_jumps > 1 else 0.0,
        jump_beta=tuple(jbeta),
        jump_idio_std=tuple(jidio),
        n_obs=int(r.shape[0]),
        n_jumps=n_jumps,
        jump_threshold=test.threshold,
    )
