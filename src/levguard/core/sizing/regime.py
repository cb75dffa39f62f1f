"""Volatility-regime switching between leverage policies (quantile thresholds or a 2-state HMM)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from levguard.core.sizing.base import Policy, SeriesInputs, SizingDecision, SizingState
from levguard.core.validate import show
from levguard.errors import InputError
from levguard.kernels.sizing_venue import hmm_forward_nb, quantile_regime_path_nb, regime_select_path_nb
from levguard.typing import Float64Array1D, Int64Array1D

__all__ = ["HmmParams", "RegimeSwitch", "hmm_filter", "hmm_fit", "trailing_vol"]

REGIMES: tuple[str, ...] = ("calm", "normal", "stress")
_LOG_2PI = math.log(2.0 * math.pi)
# Regime codes of the kernels (REGIME_CALM, REGIME_NORMAL, REGIME_STRESS) -> labels.
_LABELS = np.array(REGIMES, dtype="<U6")


def trailing_vol(returns: Float64Array1D, window: int) -> Float64Array1D:
    """Root mean square of the last ``window`` returns at each bar (NaN before ``window`` bars)."""
    r2 = np.concatenate(([0.0], np.cumsum(np.asarray(returns, dtype=np.float64) ** 2)))
    out = np.full(returns.shape[0], np.nan)
    if returns.shape[0] >= window:
        out[window - 1 :] = np.sqrt(np.maximum(r2[window:] - r2[:-window], 0.0) / window)
    return out


@dataclass(frozen=True)
class HmmParams:
    """A 2-state Gaussian HMM; state 0 has the smaller variance (calm), state 1 the larger."""

    mean: tuple[float, float]
    var: tuple[float, float]
    trans: tuple[tuple[float, float], tuple[float, float]]
    init: tuple[float, float]
    loglik: float


def _emissions(
    x: Float64Array1D, mean: NDArray[np.float64], var: NDArray[np.float64]
) -> tuple[NDArray[np.float64], Float64Array1D]:
    # Densities rescaled per bar by their maximum (returned as a log offset) so nothing underflows.
    logb = -0.5 * (_LOG_2PI + np.log(var)[None, :] + (x[:, None] - mean[None, :]) ** 2 / var[None, :])
    top = logb.max(axis=1)
    return np.exp(logb - top[:, None]), top


def _forward(
    b: NDArray[np.float64], a: NDArray[np.float64], p0: NDArray[np.float64]
) -> tuple[NDArray[np.float64], Float64Array1D]:
    # Scaled forward recursion on the numba kernel: alpha_t sums to one, c_t is the one-step
    # predictive likelihood (filtered probabilities only, no look-ahead).
    t_n = b.shape[0]
    alpha = np.empty((t_n, 2))
    c = np.empty(t_n)
    hmm_forward_nb(
        np.ascontiguousarray(b[:, 0], dtype=np.float64),
        np.ascontiguousarray(b[:, 1], dtype=np.float64),
        float(a[0, 0]),
        float(a[0, 1]),
        float(a[1, 0]),
        float(a[1, 1]),
        float(p0[0]),
        float(p0[1]),
        alpha,
        c,
    )
    return alpha, c


def hmm_fit(returns: Float64Array1D, max_iter: int = 50, tol: float = 1e-7) -> HmmParams:
    """Fit a 2-state Gaussian HMM to returns by EM (Baum-Welch) with scaled recursions.

    Notes
    -----
    Baum, Petrie, Soules and Weiss (1970); scaling as in Rabiner (1989), "A tutorial on hidden
    Markov models", Proc. IEEE.  E-step: scaled forward ``alpha_t`` and backward ``beta_t``,
    ``gamma_t = alpha_t beta_t``, ``xi_t(i,j) = alpha_t(i) A_ij b_j(x_{t+1}) beta_{t+1}(j) / c_{t+1}``;
    M-step: weighted means/variances, ``A_ij = sum xi / sum gamma``.  Start: variances half and
    twice the sample variance, persistence 0.95; variances floored at 1e-6 of the sample
    variance.  Smoothed probabilities are used for *fitting* a window only; decisions use
    :func:`hmm_filter`.
    """
    x = np.asarray(returns, dtype=np.float64)
    v = float(np.var(x)) or 1e-12
    mean = np.array([float(np.mean(x))] * 2)
    var = np.array([0.5 * v, 2.0 * v])
    a = np.array([[0.95, 0.05], [0.05, 0.95]])
    p0 = np.array([0.5, 0.5])
    prev = -math.inf
    ll = -math.inf
    for _ in range(max_iter):
        b, top = _emissions(x, mean, var)
        alpha, c = _forward(b, a, p0)
        ll = float(np.sum(np.log(c)) + np.sum(top))
        t_n = x.shape[0]
        beta = np.ones((t_n, 2))
        for t in range(t_n - 2, -1, -1):
            beta[t] = a @ (b[t + 1] * beta[t + 1]) / c[t + 1]
        gamma = alpha * beta
        gamma /= gamma.sum(axis=1, keepdims=True)
        xi = (alpha[:-1, :, None] * a[None, :, :] * (b[1:] * beta[1:])[:, None, :]) / c[1:, None, None]
        p0 = gamma[0]
        a = xi.sum(axis=0) / np.maximum(gamma[:-1].sum(axis=0)[:, None], 1e-300)
        a /= a.sum(axis=1, keepdims=True)
        w = gamma.sum(axis=0)
        mean = (gamma * x[:, None]).sum(axis=0) / w
        var = np.maximum((gamma * (x[:, None] - mean[None, :]) ** 2).sum(axis=0) / w, 1e-6 * v)
        if abs(ll - prev) < tol * (1.0 + abs(ll)):
            break
        prev = ll
    o = np.argsort(var)
    a = a[np.ix_(o, o)]
    return HmmParams(
        (float(mean[o[0]]), float(mean[o[1]])),
        (float(var[o[0]]), float(var[o[1]])),
        ((float(a[0, 0]), float(a[0, 1])), (float(a[1, 0]), float(a[1, 1]))),
        (float(p0[o[0]]), float(p0[o[1]])),
        ll,
    )


def hmm_filter(returns: Float64Array1D, params: HmmParams, prior: Float64Array1D | None = None) -> NDArray[np.float64]:
    """Filtered state probabilities ``P(s_t = k | x_1..x_t)``, shape ``(T, 2)``; rows sum to 1.

    ``prior`` is the state distribution before the first bar (default ``params.init``).
    """
    x = np.asarray(returns, dtype=np.float64)
    b, _ = _emissions(x, np.array(params.mean), np.array(params.var))
    p0 = np.array(params.init) if prior is None else np.asarray(prior, dtype=np.float64)
    return _forward(b, np.array(params.trans), p0)[0]


@dataclass(frozen=True)
class RegimeSwitch:
    """Choose a member policy by the volatility regime, classified with data up to ``t`` only.

    Parameters
    ----------
    policies : Mapping[str, Policy]
        ``"calm"`` and ``"stress"`` members (required) and, for the quantile classifier, an
        optional ``"normal"`` member, e.g. ``{"calm": VolatilityTarget(...), "stress":
        FixedLeverage(1)}``.
    classifier : {"quantile", "hmm"}
        How the regime is classified (see Notes).
    thresholds : (float, float)
        ``(q_lo, q_hi)`` quantile levels, ``0 < q_lo < q_hi < 1`` (quantile classifier).
    lookback : int
        Bars of history for the quantiles / the HMM fit window.
    vol_window : int
        Bars in the trailing realised volatility (quantile classifier).
    min_obs : int
        Bars needed before classifying; until then the regime is ``"stress"`` (conservative).
    refit_every : int
        HMM: refit the parameters every this many bars in :meth:`leverage_path`.
    name : str
        Policy name.

    Notes
    -----
    *Quantile*: ``v_t = sqrt(mean(r_{t-w+1..t}^2))``; with ``Q_lo``, ``Q_hi`` the ``q_lo`` and
    ``q_hi`` quantiles of ``v`` over the last ``lookback`` bars up to ``t``, the regime is calm
    when ``v_t <= Q_lo``, stress when ``v_t >= Q_hi``, and in between ``"normal"`` if that member
    is given, otherwise the previous regime (hysteresis, fewer switches).

    *HMM*: a 2-state Gaussian hidden Markov model (Hamilton 1989) fitted by EM (Baum-Welch) on the
    last ``lookback`` returns up to the refit bar; the regime is stress when the *filtered*
    probability ``P(s_t = high-variance | r_1..r_t) > 0.5``.  Smoothed probabilities would use
    future returns (look-ahead) and are never used for decisions.  The filter carries its state
    across refits.  ``decide`` classifies the whole of ``state.returns`` as ``leverage_path``
    does (its last bar), so it costs one pass over the history: on 50,000 bars about 0.06 s
    (quantile) and 4 s (HMM).  To size every bar, call ``leverage_path`` once, not ``decide`` per
    bar.

    Use it when one policy is right in calm markets and too aggressive in turbulent ones: the
    regime picks the member, the member picks the leverage.  Binding constraint:
    ``"{regime}:{member binding}"``.
    """

    policies: Mapping[str, Policy]
    classifier: str = "quantile"
    thresholds: tuple[float, float] = (0.2, 0.8)
    lookback: int = 2000
    vol_window: int = 24
    min_obs: int = 100
    refit_every: int = 500
    name: str = "regime_switch"

    def __post_init__(self) -> None:
        if not isinstance(self.policies, Mapping) or not self.policies:
            raise InputError(f"policies must be a non-empty mapping of regime -> policy, was {self.policies!r}")
        allowed = REGIMES if self.classifier == "quantile" else ("calm", "stress")
        if self.classifier not in ("quantile", "hmm"):
            raise InputError(f"classifier must be quantile or hmm, was {self.classifier!r}")
        for key, p in self.policies.items():
            if key not in allowed:
                raise InputError(f"policies key must be one of {', '.join(allowed)}, was {key!r}")
            if not isinstance(p, Policy):
                raise InputError(f"policies[{key!r}] is not a policy, was {p!r}")
        for key in ("calm", "stress"):
            if key not in self.policies:
                raise InputError(f"policies must include {key!r}, was given {sorted(self.policies)}")
        object.__setattr__(self, "policies", MappingProxyType(dict(self.policies)))
        try:
            q_lo, q_hi = (float(q) for q in self.thresholds)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
            raise InputError(f"thresholds must be two numbers (q_lo, q_hi), was {show(self.thresholds)}") from None
        if not 0.0 < q_lo < q_hi < 1.0:
            raise InputError(f"thresholds must satisfy 0 < q_lo < q_hi < 1, was {self.thresholds!r}")
        object.__setattr__(self, "thresholds", (q_lo, q_hi))
        for fname, low in (("vol_window", 2), ("min_obs", 10), ("refit_every", 1), ("lookback", 10)):
            value = getattr(self, fname)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{fname} must be an integer >= {low}, was {value!r}")
        if self.min_obs > self.lookback:
            raise InputError(f"min_obs must be <= lookback {self.lookback}, was {self.min_obs!r}")

    @property
    def cap(self) -> float:
        """The largest member cap."""
        return max(p.cap for p in self.policies.values())

    # ------------------------------------------------------------------ classification
    def regimes(self, returns: Float64Array1D) -> NDArray[np.str_]:
        """Regime label at every bar, each from data up to that bar only."""
        r = np.nan_to_num(np.asarray(returns, dtype=np.float64))
        if self.classifier == "hmm":
            return self._hmm_regimes(r)
        return self._quantile_regimes(r)

    def _quantile_regimes(self, r: Float64Array1D) -> NDArray[np.str_]:
        return np.asarray(_LABELS[self._quantile_codes(r)], dtype="<U6")

    def _quantile_codes(self, r: Float64Array1D) -> Int64Array1D:
        # Regime codes (0 calm, 1 normal, 2 stress) from the numba kernel.
        vol = np.ascontiguousarray(trailing_vol(r, self.vol_window), dtype=np.float64)
        codes = np.empty(vol.shape[0], dtype=np.int64)
        q_lo, q_hi = self.thresholds
        quantile_regime_path_nb(vol, self.lookback, self.min_obs, q_lo, q_hi, "normal" in self.policies, codes)
        return codes

    def _hmm_regimes(self, r: Float64Array1D) -> NDArray[np.str_]:
        n = r.shape[0]
        out = np.full(n, "stress", dtype="<U6")
        params: HmmParams | None = None
        prior = np.array([0.5, 0.5])
        first = self.min_obs - 1
        t = first
        while t < n:
            # Fit at bar t on data up to t, then filter bars (t, next refit) with those parameters.
            params = hmm_fit(r[max(0, t - self.lookback + 1) : t + 1])
            if t == first:
                probs = hmm_filter(r[max(0, t - self.lookback + 1) : t + 1], params)
                prior_t = probs[-1]
                out[t] = "stress" if prior_t[1] > 0.5 else "calm"
            else:
                probs = hmm_filter(r[t : t + 1], params, prior @ np.array(params.trans))
                prior_t = probs[-1]
                out[t] = "stress" if prior_t[1] > 0.5 else "calm"
            end = min(n, t + self.refit_every)
            if end > t + 1:
                seg = hmm_filter(r[t + 1 : end], params, prior_t @ np.array(params.trans))
                out[t + 1 : end] = np.where(seg[:, 1] > 0.5, "stress", "calm")
                prior = seg[-1]
            else:
                prior = prior_t
            t = end
        return out

    # ------------------------------------------------------------------ policy
    def decide(self, state: SizingState) -> SizingDecision:
        """Classify the regime from ``state.returns`` and delegate to its member."""
        r = state.returns
        if r is None or r.shape[0] < self.min_obs:
            regime, why = "stress", "too few returns to classify: stress member"
        else:
            # The whole history, as leverage_path reads it: the hysteresis (quantile) and the
            # refit schedule and filtered state (HMM) depend on every bar, not on the last window.
            regime = str(self.regimes(r)[-1])
            if self.classifier == "hmm":
                why = f"HMM filtered over the history, refit every {self.refit_every} bars"
            else:
                why = f"trailing vol regime over {self.vol_window} bars"
        d = self.policies[regime].decide(state)
        return SizingDecision(
            d.target_leverage,
            f"{regime}:{d.binding_constraint}",
            (f"regime {regime} ({why})", *d.reasons),
            d.allocations,
            d.details,
        )

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """The member path of each bar's regime (every member path is itself causal).

        The quantile classification and the per-bar selection run on the numba kernels
        :func:`~levguard.kernels.sizing_venue.quantile_regime_path_nb` and
        :func:`~levguard.kernels.sizing_venue.regime_select_path_nb`; the HMM's filter on
        :func:`~levguard.kernels.sizing_venue.hmm_forward_nb`.
        """
        r = np.nan_to_num(np.asarray(inputs.returns, dtype=np.float64))
        if self.classifier == "hmm":
            labels = self._hmm_regimes(r)
            codes = np.full(labels.shape[0], REGIMES.index("stress"), dtype=np.int64)
            codes[labels == "calm"] = REGIMES.index("calm")
        else:
            codes = self._quantile_codes(r)
        n = r.shape[0]
        members = np.zeros((len(REGIMES), n))
        for k, regime in enumerate(REGIMES):
            policy = self.policies.get(regime)
            if policy is not None and np.any(codes == k):
                members[k] = policy.leverage_path(inputs)
        out = np.zeros(n)
        regime_select_path_nb(codes, members, out)
        return out
