"""Portfolio policies: exposure caps across instruments and venues, and risk-budget allocation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingDecision, SizingState
from levguard.core.symbols import contract_key
from levguard.core.validate import finite, positive
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = [
    "PortfolioCap",
    "RiskBudget",
    "erc_weights",
    "ewma_covariance",
    "risk_contributions",
    "shrunk_covariance",
]

Float64Array2D = NDArray[np.float64]


def _limits(value: Mapping[str, float] | None, field_name: str) -> Mapping[str, float] | None:
    if value is None:
        return None
    out = {}
    for key, v in value.items():
        out[str(key)] = positive(float(v), f"{field_name}[{key!r}]")
    return MappingProxyType(out)


def _asset_keys(per_asset: Mapping[str, float]) -> dict[str, float]:
    # The per-asset limits by contract_key (BTCUSDT, btcusdt and BTC/USDT:USDT are one contract, a
    # perpetual and its dated futures are not); two keys of one contract with different limits
    # are refused.
    out: dict[str, float] = {}
    for key, v in per_asset.items():
        k = contract_key(key)
        if out.get(k, v) != v:
            raise InputError(f"per_asset: {key!r} is the same contract as another key ({k}) with a different limit")
        out[k] = v
    return out


@dataclass(frozen=True)
class PortfolioCap:
    """Cap the leverage of a book of positions across instruments and venues.

    Parameters
    ----------
    max_gross_leverage : float
        ``sum_i |x_i| / E`` at most this (> 0).
    max_net_leverage : float or None
        ``|sum_i x_i| / E`` at most this.
    per_asset : Mapping[str, float] or None
        The sum of ``|x_i| / E`` over the instruments of one contract at most
        ``per_asset[symbol]`` (symbols not listed are unconstrained); keys and symbols compare by
        :func:`~levguard.core.symbols.contract_key` (``BTCUSDT``, ``btcusdt`` and
        ``BTC/USDT:USDT`` are one contract, on any venue; a dated future is another).
    per_venue : Mapping[str, float] or float or None
        Per-venue concentration: the gross leverage held on venue ``v`` is at most
        ``per_venue[v] * max_gross_leverage`` (a fraction in ``(0, 1]``; one float applies to every
        venue).
    name : str
        Policy name.
    context : MarketContext or None
        The instrument and venue of :meth:`leverage_path` (which has no state: the backtester
        gives it the run's); ``decide`` reads ``state.venues`` and ``state.context``.

    Notes
    -----
    With signed notionals ``x_i`` (``state.exposures``) and equity ``E``, leverages are
    ``l_i = x_i / E``.  Every limit is homogeneous of degree one in the book, so one factor

    ``s = min(G / sum|l_i|, N / |sum l_i|, min_i A_i / |l_i|, min_v c_v G / sum_{i in v} |l_i|)``

    scales all positions proportionally (directions and relative weights are preserved) to the
    largest book within every limit, and the binding limit is the one attaining the minimum.
    ``target_leverage`` is the gross leverage after scaling and ``allocations`` the scaled signed
    leverages.  A book within its limits is scaled up (``s > 1``): the cap's answer is the most
    the limits allow, as every cap's (:class:`~levguard.core.sizing.venue.TierCap`,
    :class:`~levguard.core.sizing.policies.GapCap`), so in a :class:`~levguard.core.sizing.base.Composite`
    it binds only when its limit is below the other members' targets (a factor capped at 1 held the
    book at its current leverage, which a composite took as its minimum).  Without exposures the
    book is one unit of ``state.context``'s instrument, whose target is :meth:`single_bound`, the
    last bar of :meth:`leverage_path`; for one instrument ``decide`` equals it when ``context``
    is ``state.context`` (neither given: both are ``MarketContext()``, BTCUSDT on ``generic``).

    Leverage is debt: a position on any instrument on any venue draws on the same equity, so the
    gross cap bounds the total debt exposure, the net cap the directional exposure, and the
    per-venue share bounds what a venue failure (insolvency, withdrawal halt, auto-deleveraging)
    can take: at most ``c_v G E`` of notional sits on venue ``v``.  The per-venue limit is stated
    against the gross cap rather than the current gross, because a share of the current gross is
    unchanged by proportional scaling and could only be met by rebalancing between venues, which is
    the strategy's call.
    """

    max_gross_leverage: float
    max_net_leverage: float | None = None
    per_asset: Mapping[str, float] | None = None
    per_venue: Mapping[str, float] | float | None = None
    name: str = "portfolio_cap"
    context: MarketContext | None = None

    def __post_init__(self) -> None:
        positive(self.max_gross_leverage, "max_gross_leverage")
        if self.max_net_leverage is not None:
            positive(self.max_net_leverage, "max_net_leverage")
        object.__setattr__(self, "per_asset", _limits(self.per_asset, "per_asset"))
        if self.per_asset is not None:
            _asset_keys(self.per_asset)
        pv = self.per_venue
        if pv is not None:
            if isinstance(pv, Mapping):
                checked = _limits(pv, "per_venue")
                assert checked is not None
                for key, v in checked.items():
                    if v > 1.0:
                        raise InputError(f"per_venue[{key!r}] must be a fraction in (0, 1], was {v!r}")
                object.__setattr__(self, "per_venue", checked)
            else:
                v = positive(float(pv), "per_venue")
                if v > 1.0:
                    raise InputError(f"per_venue must be a fraction in (0, 1], was {pv!r}")

    @property
    def cap(self) -> float:
        """``max_gross_leverage``."""
        return self.max_gross_leverage

    def _venue_limit(self, venue: str) -> float | None:
        pv = self.per_venue
        if pv is None:
            return None
        if isinstance(pv, Mapping):
            share = pv.get(venue)
            return None if share is None else share * self.max_gross_leverage
        return float(pv) * self.max_gross_leverage

    def _scales(self, lev: Mapping[str, float], state: SizingState) -> tuple[list[tuple[float, str]], dict[str, float]]:
        # Every limit's factor on the signed leverages ``lev`` (none zero), and the gross per venue.
        gross = math.fsum(abs(v) for v in lev.values())
        net = abs(math.fsum(lev.values()))
        limits: list[tuple[float, str]] = [(self.max_gross_leverage / gross, "max_gross_leverage")]
        if self.max_net_leverage is not None and net > 0:
            limits.append((self.max_net_leverage / net, "max_net_leverage"))
        if self.per_asset is not None:
            # One limit per contract, on the sum of its instruments' |leverage| (the same contract
            # on two venues, or spelt two ways, counts once against it).
            assets = _asset_keys(self.per_asset)
            held: dict[str, tuple[float, str]] = {}
            for s, v in lev.items():
                k = contract_key(s)
                if k in assets:
                    g, first = held.get(k, (0.0, s))
                    held[k] = (g + abs(v), first)
            for k, (g, first) in held.items():
                limits.append((assets[k] / g, f"per_asset:{first}"))
        by_venue: dict[str, float] = {}
        for s, v in lev.items():
            venue = state.venues.get(s, state.context.venue)
            by_venue[venue] = by_venue.get(venue, 0.0) + abs(v)
        for venue, g in sorted(by_venue.items()):
            c = self._venue_limit(venue)
            if c is not None:
                limits.append((c / g, f"per_venue:{venue}"))
        return limits, by_venue

    def fit_scale(self, allocations: Mapping[str, float], state: SizingState) -> tuple[float, str]:
        """Return the largest factor by which the signed leverages ``allocations`` (by symbol; venues
        from ``state.venues``, default ``state.context.venue``) satisfy every limit, and the limit
        that sets it (``inf`` and ``""`` for an empty or all-zero book).

        The factor ``s`` of the class Notes; a :class:`~levguard.core.sizing.base.Composite`
        scales another member's allocations by ``min(1, s)`` so that its answer holds these limits.
        """
        lev = {sym: float(v) for sym, v in allocations.items() if v != 0.0}
        if not lev:
            return math.inf, ""
        return min(self._scales(lev, state)[0], key=lambda t: t[0])

    def decide(self, state: SizingState) -> SizingDecision:
        """Scale the book in ``state.exposures`` to the largest leverage within every limit."""
        lev = {s: float(x) / state.equity for s, x in state.exposures.items() if x != 0.0}  # finite: SizingState
        has_book = bool(lev)
        if not has_book:  # one unit of the context's instrument: the target is single_bound's
            lev = {state.context.symbol: float(state.context.side)}
        gross = math.fsum(abs(v) for v in lev.values())
        net = abs(math.fsum(lev.values()))
        limits, by_venue = self._scales(lev, state)
        scale, binding = min(limits, key=lambda t: t[0])
        alloc = {s: v * scale for s, v in lev.items()}
        target = math.fsum(abs(v) for v in alloc.values())
        reasons = (
            f"gross {gross:.4g}x, net {net:.4g}x before scaling"
            if has_book
            else f"no exposures: one instrument, {state.context.symbol} on {state.context.venue}",
            f"{binding} binds: scaled by {scale:.4g} to {target:.4g}x gross",
        )
        details = {"scale": scale, "gross_before": gross, "net_before": net}
        details.update({f"venue_gross:{v}": g * scale for v, g in by_venue.items()})
        return SizingDecision(target, binding, reasons, MappingProxyType(alloc), MappingProxyType(details))

    def single_bound(self, symbol: str | None = None, venue: str | None = None) -> tuple[float, str]:
        """Return the leverage bound of a book of one instrument and the limit that sets it.

        ``min(G, N, A_symbol, c_venue G)``: the gross and net caps, the symbol's per-asset limit
        and its venue's share of the gross cap.  ``symbol`` or ``venue`` None (not known): every
        per-asset (per-venue) limit could be the instrument's, so the tightest one applies.
        """
        limits: list[tuple[float, str]] = [(self.max_gross_leverage, "max_gross_leverage")]
        if self.max_net_leverage is not None:
            limits.append((self.max_net_leverage, "max_net_leverage"))
        if self.per_asset is not None:
            if symbol is None:
                limits.extend((a, f"per_asset:{s}") for s, a in self.per_asset.items())
            elif contract_key(symbol) in (assets := _asset_keys(self.per_asset)):
                limits.append((assets[contract_key(symbol)], f"per_asset:{symbol}"))
        pv = self.per_venue
        if isinstance(pv, Mapping):
            if venue is None:
                limits.extend((c * self.max_gross_leverage, f"per_venue:{v}") for v, c in pv.items())
            elif venue in pv:
                limits.append((pv[venue] * self.max_gross_leverage, f"per_venue:{venue}"))
        elif pv is not None:
            limits.append((float(pv) * self.max_gross_leverage, f"per_venue:{venue or '*'}"))
        # The first limit attaining the minimum (gross before net before per-asset...).
        return min(limits, key=lambda t: t[0])

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Single-instrument bound at every bar: :meth:`single_bound` of ``context``'s symbol and
        venue (without a context: ``MarketContext()``'s, the instrument ``decide`` reads from a
        state without one, as every venue-aware policy's path)."""
        ctx = self.context or MarketContext()
        bound = self.single_bound(ctx.symbol, ctx.venue)[0]
        return np.full(inputs.returns.shape[0], bound, dtype=np.float64)


# ---------------------------------------------------------------------- covariance estimators
def ewma_covariance(returns: Float64Array2D, lam: float = 0.94) -> Float64Array2D:
    """EWMA covariance of a ``(T, N)`` returns matrix (per bar), RiskMetrics (J.P. Morgan 1996).

    Notes
    -----
    Zero-mean, weights ``(1 - lam) lam^(T-1-t)`` normalised to sum to one over the sample:
    ``Sigma = sum_t w_t r_t r_t^T``.  Uses every row given (data up to the decision time).
    """
    r = np.asarray(returns, dtype=np.float64)
    t = r.shape[0]
    w = (1.0 - lam) * lam ** np.arange(t - 1, -1, -1, dtype=np.float64)
    w /= w.sum()
    cov: Float64Array2D = (r * w[:, None]).T @ r
    return cov


def shrunk_covariance(
    returns: Float64Array2D, target: str = "constant_correlation", shrinkage: float | None = None
) -> tuple[Float64Array2D, float]:
    """Ledoit-Wolf shrunk sample covariance of a ``(T, N)`` returns matrix (per bar).

    Parameters
    ----------
    returns : ndarray, shape (T, N)
    target : {"constant_correlation", "identity"}
        Shrinkage target ``F``: the constant-correlation matrix (Ledoit and Wolf 2004, "Honey, I
        shrunk the sample covariance matrix", J. Portfolio Management) or the scaled identity
        ``m I`` with ``m = tr(S)/N`` (Ledoit and Wolf 2004, "A well-conditioned estimator for
        large-dimensional covariance matrices", J. Multivariate Analysis).
    shrinkage : float or None
        Intensity ``delta`` in ``[0, 1]``; None estimates the optimal one.

    Returns
    -------
    cov, delta : ndarray (N, N) and float
        ``delta F + (1 - delta) S`` and the intensity used.

    Notes
    -----
    ``S`` is the sample covariance with divisor ``T`` of demeaned returns.  Identity target:
    ``delta = min(1, b^2 / d^2)`` with ``d^2 = ||S - m I||^2 / N`` and
    ``b^2 = min(d^2, (1/T^2) sum_t ||x_t x_t^T - S||^2 / N)``.  Constant correlation:
    ``delta = max(0, min(1, (pi - rho) / (gamma T)))`` with the paper's ``pi``, ``rho`` and
    ``gamma``.
    """
    x = np.asarray(returns, dtype=np.float64)
    t, n = x.shape
    x = x - x.mean(axis=0)
    s = x.T @ x / t
    if target == "identity":
        m = float(np.trace(s)) / n
        f = m * np.eye(n)
        if shrinkage is None:
            d2 = float(np.sum((s - f) ** 2)) / n
            b2_sum = 0.0
            for row in x:
                b2_sum += float(np.sum((np.outer(row, row) - s) ** 2)) / n
            b2 = min(d2, b2_sum / t**2)
            delta = 1.0 if d2 <= 0.0 else b2 / d2
        else:
            delta = shrinkage
    elif target == "constant_correlation":
        sd = np.sqrt(np.diag(s))
        corr = s / np.outer(sd, sd)
        rbar = (float(corr.sum()) - n) / (n * (n - 1)) if n > 1 else 0.0
        f = rbar * np.outer(sd, sd)
        np.fill_diagonal(f, np.diag(s))
        if shrinkage is None:
            y = x**2
            phi_mat = y.T @ y / t - s**2
            pi = float(phi_mat.sum())
            term1 = (x**3).T @ x / t
            term2 = np.diag(s)[:, None] * s
            theta = term1 - term2
            np.fill_diagonal(theta, 0.0)
            rho = float(np.trace(phi_mat)) + rbar * float(np.sum(np.outer(1.0 / sd, sd) * theta))
            gamma = float(np.sum((f - s) ** 2))
            delta = 0.0 if gamma <= 0.0 else max(0.0, min(1.0, (pi - rho) / gamma / t))
        else:
            delta = shrinkage
    else:
        raise InputError(f"target must be constant_correlation or identity, was {target!r}")
    cov: Float64Array2D = delta * f + (1.0 - delta) * s
    return cov, float(delta)


def erc_weights(cov: Float64Array2D, tol: float = 1e-12, max_sweeps: int = 10_000) -> Float64Array1D:
    """Equal-risk-contribution weights (sum 1) for a covariance matrix.

    Notes
    -----
    Maillard, Roncalli and Teïletche (2010): ``w_i (Sigma w)_i`` equal for all ``i``.  Solved as
    the convex problem ``min 1/2 y^T Sigma y - sum_i (1/N) ln y_i`` (Spinu 2013) by cyclical
    coordinate descent (Griveau-Billon, Richard and Roncalli 2013): each ``y_i`` is the positive
    root of ``Sigma_ii y_i^2 + c_i y_i - 1/N = 0`` with ``c_i = sum_{j != i} Sigma_ij y_j``;
    ``w = y / sum y``.
    """
    s = np.asarray(cov, dtype=np.float64)
    n = s.shape[0]
    diag = np.diag(s).copy()
    y = 1.0 / np.sqrt(diag)
    y /= np.sqrt(float(y @ s @ y))
    b = 1.0 / n
    for _ in range(max_sweeps):
        prev = y.copy()
        for i in range(n):
            c = float(s[i] @ y) - diag[i] * y[i]
            y[i] = (-c + math.sqrt(c * c + 4.0 * diag[i] * b)) / (2.0 * diag[i])
        if float(np.max(np.abs(y - prev) / prev)) < tol:
            break
    w: Float64Array1D = y / y.sum()
    return w


def risk_contributions(weights: Float64Array1D, cov: Float64Array2D) -> Float64Array1D:
    """``RC_i = w_i (Sigma w)_i / sqrt(w^T Sigma w)`` (Euler decomposition of portfolio vol)."""
    sw = cov @ weights
    return weights * sw / math.sqrt(float(weights @ sw))


@dataclass(frozen=True)
class RiskBudget:
    """Spread one leverage budget over instruments by risk, scaled to a target volatility.

    Parameters
    ----------
    target_vol : float
        Annualised portfolio volatility target (> 0), e.g. 0.3.
    method : {"inverse_vol", "erc"}
        Inverse-volatility weights ``w_i ∝ 1 / sigma_i``, or equal risk contribution.
    covariance : {"ewma", "shrunk"}
        Estimator used by :meth:`decide_portfolio`: RiskMetrics EWMA with decay ``lam``, or the
        Ledoit-Wolf shrunk sample covariance (``shrink_target``, ``shrinkage``).
    lam : float
        EWMA decay in ``(0, 1)`` (0.94: RiskMetrics daily).
    shrinkage : float or None
        Ledoit-Wolf intensity in ``[0, 1]``; None estimates it.
    shrink_target : {"constant_correlation", "identity"}
        Ledoit-Wolf target.
    max_leverage : float
        Cap on the gross leverage (> 0).
    name : str
        Policy name.

    Notes
    -----
    Weights ``w`` (sum 1, signed by each instrument's direction ``d_i`` so that the covariance is
    that of the positions, ``D Sigma D``) give portfolio volatility ``sigma_p = sqrt(w^T Sigma w)``;
    the gross leverage is ``L = min(target_vol / sigma_p, max_leverage)`` and the allocation of
    instrument ``i`` is ``d_i w_i L``.  ERC: Maillard, Roncalli and Teïletche (2010), "The
    properties of equally weighted risk contribution portfolios", J. Portfolio Management.
    EWMA: RiskMetrics Technical Document (J.P. Morgan/Reuters 1996).

    :meth:`decide` has only per-instrument volatilities (``state.vols``), so it uses inverse-vol
    weights and assumes perfect correlation, ``sigma_p = sum_i w_i sigma_i`` (the upper bound:
    conservative).  :meth:`decide_portfolio` estimates the covariance from per-symbol returns.
    Use it to run several perpetuals off one account without one volatile coin eating the risk
    budget.
    """

    target_vol: float
    method: str = "inverse_vol"
    covariance: str = "ewma"
    lam: float = 0.94
    shrinkage: float | None = None
    shrink_target: str = "constant_correlation"
    max_leverage: float = 10.0
    name: str = "risk_budget"

    def __post_init__(self) -> None:
        positive(self.target_vol, "target_vol")
        if self.method not in ("inverse_vol", "erc"):
            raise InputError(f"method must be inverse_vol or erc, was {self.method!r}")
        if self.covariance not in ("ewma", "shrunk"):
            raise InputError(f"covariance must be ewma or shrunk, was {self.covariance!r}")
        finite(self.lam, "lam")
        if not 0.0 < self.lam < 1.0:
            raise InputError(f"lam must be in (0, 1), was {self.lam!r}")
        if self.shrinkage is not None:
            finite(self.shrinkage, "shrinkage")
            if not 0.0 <= self.shrinkage <= 1.0:
                raise InputError(f"shrinkage must be in [0, 1], was {self.shrinkage!r}")
        if self.shrink_target not in ("constant_correlation", "identity"):
            raise InputError(f"shrink_target must be constant_correlation or identity, was {self.shrink_target!r}")
        positive(self.max_leverage, "max_leverage")

    @property
    def cap(self) -> float:
        """``max_leverage`` (gross)."""
        return self.max_leverage

    def _scale(self, symbols: list[str], w: Float64Array1D, dirs: Float64Array1D, sigma_p: float) -> SizingDecision:
        if not (math.isfinite(sigma_p) and sigma_p > 0.0):
            return SizingDecision(0.0, "no_forecast", ("portfolio volatility is not positive",))
        raw = self.target_vol / sigma_p
        lev = min(raw, self.max_leverage)
        binding = "max_leverage" if raw > self.max_leverage else "vol_target"
        alloc = {s: float(d * wi * lev) for s, d, wi in zip(symbols, dirs, w, strict=True)}
        reasons = (
            f"{self.method} weights, portfolio vol {sigma_p:.4g} per unit gross",
            f"gross {lev:.4g}x for target vol {self.target_vol:g} ({binding})",
        )
        return SizingDecision(
            lev,
            binding,
            reasons,
            MappingProxyType(alloc),
            MappingProxyType({"portfolio_vol": lev * sigma_p, "unit_vol": sigma_p}),
        )

    def decide(self, state: SizingState) -> SizingDecision:
        """Inverse-vol allocation from ``state.vols`` (perfect correlation assumed); one instrument
        from ``state.vol_forecast`` when ``vols`` is empty."""
        vols = dict(state.vols) or (
            {state.context.symbol: state.vol_forecast} if state.vol_forecast is not None else {}
        )
        vols = {s: float(v) for s, v in vols.items() if v is not None and math.isfinite(v) and v > 0.0}
        if not vols:
            return SizingDecision(0.0, "no_forecast", ("no volatility forecasts",))
        symbols = sorted(vols)
        sig = np.array([vols[s] for s in symbols])
        w = (1.0 / sig) / float(np.sum(1.0 / sig))
        dirs = np.array([-1.0 if state.exposures.get(s, 1.0) < 0 else 1.0 for s in symbols])
        return self._scale(symbols, w, dirs, float(w @ sig))

    def decide_portfolio(
        self,
        returns: Mapping[str, Float64Array1D],
        equity: float = 1.0,
        periods_per_year: float = 8760.0,
        directions: Mapping[str, float] | None = None,
    ) -> SizingDecision:
        """Allocate from per-symbol log returns (aligned on their last common bars).

        Parameters
        ----------
        returns : Mapping[str, ndarray]
            Per-bar log returns per symbol, data up to the decision time only.
        equity : float
            Equity (> 0); allocations are leverages, so it only validates and is reported.
        periods_per_year : float
            Bars per 365-day year (annualises the covariance).
        directions : Mapping[str, float] or None
            Sign of each position (default long).
        """
        positive(equity, "equity")
        positive(periods_per_year, "periods_per_year")
        symbols = sorted(returns)
        if not symbols:
            return SizingDecision(0.0, "no_forecast", ("no returns",))
        t = min(np.asarray(returns[s]).shape[0] for s in symbols)
        if t < 2:
            return SizingDecision(0.0, "no_forecast", ("fewer than 2 common bars",))
        dirs = np.array([-1.0 if (directions or {}).get(s, 1.0) < 0 else 1.0 for s in symbols])
        x = np.column_stack([np.asarray(returns[s], dtype=np.float64)[-t:] for s in symbols]) * dirs
        if not np.all(np.isfinite(x)):
            return SizingDecision(0.0, "invalid_input", ("returns contain NaN or inf",))
        if self.covariance == "ewma":
            cov = ewma_covariance(x, self.lam)
        else:
            cov = shrunk_covariance(x, self.shrink_target, self.shrinkage)[0]
        cov = cov * periods_per_year
        if not np.all(np.diag(cov) > 0):
            return SizingDecision(0.0, "no_forecast", ("an instrument has zero variance",))
        if self.method == "erc":
            w = erc_weights(cov)
        else:
            inv = 1.0 / np.sqrt(np.diag(cov))
            w = inv / inv.sum()
        return self._scale(symbols, w, dirs, math.sqrt(float(w @ cov @ w)))

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """One instrument: ``min(target_vol / vol_forecast, max_leverage)`` (0 where missing)."""
        n = inputs.returns.shape[0]
        if inputs.vol_forecast is None:
            return np.zeros(n)
        v = inputs.vol_forecast
        ok = np.isfinite(v) & (v > 0)
        raw = np.where(ok, self.target_vol / np.where(ok, v, 1.0), 0.0)
        out: Float64Array1D = np.minimum(raw, self.max_leverage)
        return out
