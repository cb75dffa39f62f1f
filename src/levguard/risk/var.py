"""Portfolio VaR/ES in the settlement currency and rolling VaR backtests (pandas-facing).

:func:`portfolio_var` turns an account (spec, file or :class:`~levguard.core.positions.Account`)
plus options into scenario P&L with :func:`levguard.core.risk.portfolio.revalue` (full
revaluation, liquidation truncation from the margin engine, funding carry) and measures VaR and
ES with :mod:`levguard.core.risk.var`.  :func:`var_backtest` rolls one-day VaR/ES forecasts of a
unit position over a return history and runs every backtest of :mod:`levguard.core.risk.backtest`.

Returns are **daily log returns** throughout (``ln(P_t / P_{t-1})``, fractions); the arguments
are checked by :mod:`levguard.risk.var_inputs`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri

from levguard.core.margin import evaluate
from levguard.core.positions import Account
from levguard.core.risk import backtest as bt
from levguard.core.risk import var as cvar
from levguard.core.risk.cornish_fisher import cf_coefficients
from levguard.core.risk.portfolio import OptionPosition, PortfolioPnL, option_positions, revalue
from levguard.core.symbols import base_asset
from levguard.core.validate import finite_number, positive_number, rng_arg, show, whole_number
from levguard.errors import InputError
from levguard.risk.garch import MIN_OBS, GarchModel
from levguard.risk.var_inputs import (
    account_of,
    check_seed,
    correlation_matrix,
    daily_vols,
    funding_map,
    returns_matrix,
    returns_series,
    underlyings,
    whole_days,
)
from levguard.typing import Float64Array, Float64Array1D

__all__ = ["PortfolioMethod", "VarBacktest", "portfolio_pnl", "portfolio_var", "var_backtest"]

PortfolioMethod = Literal["historical", "normal", "t", "cornish_fisher", "fhs", "monte_carlo"]
BacktestMethod = Literal["historical", "normal", "t", "cornish_fisher", "fhs"]

_DELTA_BUMP = 1e-4  # log-price bump for finite-difference deltas


_MAX_HORIZON_DAYS = 36_500  # 100 years: 1e308 overflowed the step count of a Monte Carlo VaR
_MAX_SIMS = 100_000_000


def _paths(rel_steps: Float64Array, keys: Sequence[str]) -> dict[str, Float64Array]:
    # (n, m, k) per-step log returns -> {key: (n, m) price relatives}.
    cum = np.exp(np.cumsum(rel_steps, axis=1))
    return {key: cum[:, :, j] for j, key in enumerate(keys)}


def _fhs_scenarios(
    R: Float64Array,
    keys: Sequence[str],
    h: int,
    n_sims: int,
    seed: int | None,
    garch_model: GarchModel,
    last_day: Mapping[str, tuple[float, float] | Sequence[tuple[float, float]]] | None = None,
) -> tuple[dict[str, Float64Array], dict[str, float]]:
    from levguard.core.risk.volatility import garch_step_days
    from levguard.risk.garch import fit_garch

    after: dict[str, Any] = {
        base_asset(str(k)): [v] if np.ndim(v) == 1 and len(v) else v for k, v in (last_day or {}).items()
    }
    params: list[cvar.GarchParams] = []
    sig: list[float] = []
    resid: list[Float64Array1D] = []
    details: dict[str, float] = {}
    for j, key in enumerate(keys):
        fit = fit_garch(R[:, j], model=garch_model, dist="t", mean="zero", interval="1d")
        p = fit.params
        params.append(cvar.GarchParams(p["omega"], p["alpha"], p["beta"], p.get("gamma", 0.0), p.get("mu", 0.0)))
        s = float(fit.forecast(1).vol[0])
        if after.get(key):
            s = math.sqrt(garch_step_days(s * s, after[key], p["omega"], p["alpha"], p["beta"], p.get("gamma", 0)))
        sig.append(s)
        resid.append(np.asarray(fit.standardized_residuals, dtype=np.float64))
        details[f"sigma_next:{key}"] = s
        details[f"persistence:{key}"] = float(fit.persistence)
    Z = np.column_stack(resid)
    Z = Z[np.isfinite(Z).all(axis=1)]
    steps = cvar.fhs_returns(
        Z, np.array(sig), horizon_days=h, garch=params, n_sims=None if h == 1 else n_sims, seed=seed
    )
    return _paths(steps, keys), details


_MAX_DRAWS = 200_000_000
"""Most normal draws a Monte Carlo VaR holds at once (1.6 GB of float64)."""


def _mc_scenarios(
    sd_daily: Float64Array1D,
    corr: Float64Array,
    keys: Sequence[str],
    horizon_days: float,
    n_sims: int,
    seed: int | None,
    steps_per_day: int,
    nu: float | None,
) -> dict[str, Float64Array]:
    m = max(1, round(horizon_days * steps_per_day))
    dt = horizon_days / m
    if n_sims * m * len(keys) > _MAX_DRAWS:  # the normal draws are held at once (8 bytes each)
        raise InputError(
            f"n_sims x steps x assets = {n_sims:,} x {m:,} x {len(keys)} normal draws; at most {_MAX_DRAWS:,} "
            "fit in memory at once (fewer n_sims, steps_per_day or horizon_days)"
        )
    try:
        chol = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        raise InputError("correlation must be positive definite") from None
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_sims, m, len(keys))) @ chol.T
    if nu is not None:
        # Multivariate Student-t with unit variance: one chi-square mixing draw per step.
        w = rng.chisquare(nu, size=(n_sims, m, 1))
        eps = eps * np.sqrt((nu - 2.0) / w)
    steps = -0.5 * sd_daily**2 * dt + sd_daily * math.sqrt(dt) * eps
    return _paths(steps, keys)


def portfolio_pnl(
    account: Mapping[str, Any] | Account | str | Path,
    scenarios: Mapping[str, npt.ArrayLike],
    *,
    horizon_days: float,
    options: Sequence[OptionPosition] = (),
    funding_rate: float | Mapping[str, float | npt.ArrayLike] | None = None,
    funding_interval_hours: float | None = None,
    vol_shifts: Mapping[str, float | npt.ArrayLike] | None = None,
    prices: Mapping[str, float] | None = None,
    liquidation_fee_rate: float | None = None,
    option_pnl: Literal["pnl", "value"] = "value",
) -> PortfolioPnL:
    """Revalue an account (spec, file or Account) and options under price-relative scenarios.

    A thin wrapper of :func:`levguard.core.risk.portfolio.revalue` accepting an account spec;
    ``funding_rate`` as a number applies to every perpetual; ``option_pnl`` is ``"value"`` as in
    :func:`portfolio_var` (the equity's change; ``"pnl"`` in the option's own currency).  See
    ``revalue`` for the scenario shape, truncation, funding and settlement-currency rules."""
    acc = account_of(account)
    rates: Mapping[str, float | npt.ArrayLike] | None
    if funding_rate is None or isinstance(funding_rate, Mapping):
        rates = funding_rate
    else:
        rate = finite_number(funding_rate, "funding_rate")
        rates = {p.symbol: rate for p in acc.positions}
    return revalue(
        acc,
        scenarios,
        horizon_days=horizon_days,
        options=options,
        prices=prices,
        vol_shifts=vol_shifts,
        funding_rates=rates,
        funding_interval_hours=funding_interval_hours,
        liquidation_fee_rate=liquidation_fee_rate,
        option_pnl=option_pnl,
    )


def portfolio_var(
    account: Mapping[str, Any] | Account | str | Path,
    *,
    method: PortfolioMethod,
    level: float = 0.99,
    horizon_days: float = 1,
    vol: float | Mapping[str, float] | None = None,
    returns: pd.Series | pd.DataFrame | npt.ArrayLike | None = None,
    correlation: npt.ArrayLike | None = None,
    n_sims: int = 10_000,
    seed: int | None = None,
    funding_rate: float | Mapping[str, float] | None = None,
    funding_interval_hours: float | None = None,
    options: Sequence[OptionPosition] | None = None,
    prices: Mapping[str, float] | None = None,
    liquidation_fee_rate: float | None = None,
    nu: float | None = None,
    steps_per_day: int = 24,
    garch_model: GarchModel = "garch",
    last_day: Mapping[str, tuple[float, float] | Sequence[tuple[float, float]]] | None = None,
) -> cvar.VarResult:
    """Return the VaR and ES of an account's perpetuals and options in its settlement currency.

    Parameters
    ----------
    account : dict, path or Account
        Account spec (as for :func:`levguard.evaluate_account`), a JSON/YAML file, or an Account.
    method : {"historical", "normal", "t", "cornish_fisher", "fhs", "monte_carlo"}
        ``historical``: every overlapping ``h``-day window of ``returns`` becomes a daily price
        path (full revaluation, path-dependent liquidation).  ``fhs``: GARCH(1,1)/GJR with
        Student-t innovations fitted to each underlying (:func:`levguard.risk.garch.fit_garch`),
        standardised residual rows bootstrapped through the fitted recursion for ``h`` days
        (:func:`levguard.core.risk.var.fhs_returns`; for ``h = 1`` every residual row once).
        ``monte_carlo``: correlated geometric Brownian motion with zero drift in price
        (``-sigma^2/2`` in log; an exact martingale for normal innovations), multivariate
        Student-t innovations scaled to unit variance when ``nu`` is given, monitored
        ``steps_per_day`` times a day.  ``normal``, ``t``, ``cornish_fisher``: delta
        approximation, P&L ``= carry + sum_i Delta_i r_i`` with finite-difference deltas
        ``Delta_i`` (settlement currency per unit log return) of the revalued portfolio and the
        carry (funding plus option decay over the horizon) at unchanged prices; no truncation.
    level : float
        Confidence in (0.5, 1).
    horizon_days : float
        Holding period; a whole number of days for ``historical`` and ``fhs``.
    vol : float or Mapping[str, float], optional
        Annualised volatility (365-day year) per underlying, for ``monte_carlo`` and the
        parametric methods when ``returns`` is not given.
    returns : Series, DataFrame or array, optional
        Daily log returns, one column per underlying (column ``"BTC"`` or ``"BTCUSDT"``); rows
        with a NaN are dropped; a DatetimeIndex must be in time order without duplicated
        timestamps; bools and strings are refused.  Required by ``historical``, ``fhs``, ``cornish_fisher`` (and
        ``t`` without ``nu``).
    correlation : array_like, optional
        Correlation of the underlyings' returns when only ``vol`` is given.
    n_sims : int
        Simulated scenarios (``monte_carlo``; ``fhs`` with ``h > 1``).
    seed : int, optional
        Random seed.
    funding_rate : float or Mapping[str, float], optional
        Funding rate per interval (positive: longs pay), for every perpetual or per symbol /
        underlying.
    funding_interval_hours : float, optional
        Hours per funding interval (default: the account venue's, 1 on Hyperliquid and dYdX v4,
        else 8).
    options : sequence of OptionPosition, optional
        Options beside the account's perpetuals.  An option's P&L is the change of its value in
        the settlement currency, each value at its own time's price (``revalue``'s
        ``option_pnl="value"``: ``n V1 P1 - n V0 P0`` for a coin-settled option in a USD account,
        the change of the equity the stress table shows); ``n (V1 - V0)`` in its own currency.
    prices : Mapping[str, float], optional
        Current USD price per underlying where no perpetual gives it (option-only books).
    liquidation_fee_rate : float, optional
        Fee on the notional at liquidation (default: the venue's taker fee).
    nu : float, optional
        Student-t degrees of freedom (``t``: fixed instead of fitted; ``monte_carlo``: t
        innovations), > 2.
    steps_per_day : int
        Monitoring steps per day of ``monte_carlo`` paths (liquidation checks).
    garch_model : {"garch", "gjr"}
        Variance model of ``fhs``.
    last_day : Mapping[str, tuple[float, float] | Sequence[tuple[float, float]]], optional
        Per underlying, the unfinished day after ``returns`` (complete days): its log return so
        far and the fraction of the day elapsed (:class:`levguard.risk.vol.DailyReturns`), or its
        days after ``returns`` in order (complete ones elapsed ``1.0``): ``fhs`` steps through them,
        an unfinished day's rest at its expectation (:func:`levguard.core.risk.volatility.garch_step_days`).

    Returns
    -------
    VarResult
        In the settlement currency.  ``details`` adds ``mean_pnl``, ``funding_carry`` (mean
        funding), ``equity`` (the account's margin balance now), ``p_liquidated:<symbol>`` for
        each isolated perpetual (scenario methods), ``delta:<underlying>`` and ``carry``
        (parametric methods).

    Examples
    --------
    >>> spec = {"venue": "binance-usdm", "margin_mode": "isolated", "wallet_balance": 0,
    ...         "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000,
    ...                        "mark_price": 60000, "leverage": 50}]}
    >>> r = portfolio_var(spec, method="monte_carlo", vol=0.6, horizon_days=1, seed=1)
    >>> r.es <= 1200.0  # never more than the posted margin (no fee on this venue by default)
    True
    """
    lv = cvar.check_level(level)
    h = positive_number(horizon_days, "horizon_days")
    if h > _MAX_HORIZON_DAYS:
        raise InputError(f"horizon_days must be at most {_MAX_HORIZON_DAYS:,} (100 years), was {show(horizon_days)}")
    n_sims = whole_number(n_sims, "n_sims", 100, _MAX_SIMS)
    check_seed(seed)
    if nu is not None and not (finite_number(nu, "nu") > 2.0):
        raise InputError(f"nu must be > 2, was {nu!r}")
    steps_per_day = whole_number(steps_per_day, "steps_per_day", 1, 1_000_000)
    acc = account_of(account)
    opts = option_positions(options)
    report = evaluate(acc)
    keys = underlyings(acc, opts)
    R, _ = returns_matrix(returns, keys) if returns is not None else (None, None)
    rates = funding_map(funding_rate, acc)

    def reval(scen: Mapping[str, Float64Array], horizon: float) -> PortfolioPnL:
        return revalue(
            acc,
            scen,
            horizon_days=horizon,
            options=opts,
            prices=prices,
            funding_rates=rates,
            funding_interval_hours=funding_interval_hours,
            liquidation_fee_rate=liquidation_fee_rate,
            report=report,
            option_pnl="value",  # the equity's change: the option's value moves with P in a USD account
        )

    base = {"equity": report.equity}
    if method in ("normal", "t", "cornish_fisher"):
        return _parametric(method, lv, h, keys, R, vol, correlation, nu, reval, base)
    extra: dict[str, float] = {}
    if method == "historical":
        if R is None:
            raise InputError("method 'historical' needs returns")
        steps = whole_days(h, method)
        if steps > R.shape[0]:
            raise InputError(f"horizon_days {steps} exceeds the {R.shape[0]} days of returns")
        windows = np.lib.stride_tricks.sliding_window_view(R, steps, axis=0)  # (n, k, steps)
        scen = _paths(np.ascontiguousarray(windows.transpose(0, 2, 1)), keys)
    elif method == "fhs":
        if R is None:
            raise InputError("method 'fhs' needs returns")
        scen, extra = _fhs_scenarios(R, keys, whole_days(h, method), int(n_sims), seed, garch_model, last_day)
    elif method == "monte_carlo":
        sd = daily_vols(keys, vol, R)
        scen = _mc_scenarios(
            sd, correlation_matrix(keys, R, correlation), keys, h, int(n_sims), seed, steps_per_day, nu
        )
    else:
        raise InputError(f"method must be historical, normal, t, cornish_fisher, fhs or monte_carlo, was {method!r}")
    pnl = reval(scen, h)
    if method == "monte_carlo":
        res = cvar.monte_carlo_var(pnl.pnl, lv, kind="pnl", horizon_days=h)
    else:
        res = cvar.historical_var(pnl.pnl, lv, kind="pnl", horizon_days=h)
    details = dict(res.details) | base | extra
    details["mean_pnl"] = float(np.mean(pnl.pnl))
    details["funding_carry"] = float(np.mean(pnl.funding))
    for sym, liq in pnl.liquidated.items():
        details[f"p_liquidated:{sym}"] = float(np.mean(liq))
    return replace(res, method=method, details=MappingProxyType(details))


def _parametric(
    method: str,
    level: float,
    h: float,
    keys: Sequence[str],
    R: Float64Array | None,
    vol: float | Mapping[str, float] | None,
    correlation: npt.ArrayLike | None,
    nu: float | None,
    reval: Any,
    base: Mapping[str, float],
) -> cvar.VarResult:
    # Deltas by central differences of the instantaneous revaluation; carry at unchanged prices.
    k = len(keys)
    up = np.ones((2 * k, k))
    for j in range(k):
        up[2 * j, j] = math.exp(_DELTA_BUMP)
        up[2 * j + 1, j] = math.exp(-_DELTA_BUMP)
    bumped = reval({key: up[:, j] for j, key in enumerate(keys)}, 0.0).pnl
    delta = (bumped[0::2] - bumped[1::2]) / (2.0 * _DELTA_BUMP)
    carry = float(reval({key: np.ones(1) for key in keys}, h).pnl[0])
    mean_loss = -carry / h
    series: Float64Array1D | None = None
    if R is not None:
        series = (R - R.mean(axis=0)) @ delta  # demeaned delta P&L per day
        sd = float(np.std(series, ddof=1))
    else:
        sd_d = daily_vols(keys, vol, None)
        cov = np.outer(sd_d, sd_d) * correlation_matrix(keys, None, correlation)
        sd = math.sqrt(max(float(delta @ cov @ delta), 0.0))
    if not sd > 0.0:
        raise InputError("the portfolio has no price exposure (all deltas 0): parametric VaR is undefined")
    if method == "normal":
        res = cvar.normal_var(level, sd=sd, mean=mean_loss, horizon_days=h)
    elif method == "t":
        if nu is not None:
            res = cvar.student_t_var(level, nu=nu, sd=sd, mean=mean_loss, horizon_days=h)
        else:
            if series is None:
                raise InputError("method 't' needs returns to fit nu, or nu")
            from scipy import stats  # on first use: scipy.stats costs ~0.5 s at import

            df, _, scale = stats.t.fit(-series, floc=0.0)
            if df <= 1.0:
                raise InputError(f"the fitted Student-t has nu = {df:.3g} <= 1 (infinite ES); pass nu")
            res = cvar.student_t_var(level, nu=float(df), scale=float(scale), mean=mean_loss, horizon_days=h)
    else:
        if series is None:
            raise InputError("method 'cornish_fisher' needs returns (for skewness and kurtosis)")
        from scipy import stats

        loss = -series
        res = cvar.cornish_fisher_var(
            level,
            sd=sd,
            mean=mean_loss,
            skew=float(stats.skew(loss, bias=False)),
            excess_kurtosis=float(stats.kurtosis(loss, fisher=True, bias=False)),
            horizon_days=h,
        )
    details = dict(res.details) | dict(base) | {"carry": carry}
    for key, d in zip(keys, delta, strict=True):
        details[f"delta:{key}"] = float(d)
    n = 0 if R is None else R.shape[0]
    return replace(res, n=n, details=MappingProxyType(details))


@dataclass(frozen=True)
class VarBacktest:
    """Rolling one-day VaR/ES forecasts of a unit position and their backtests.

    Attributes
    ----------
    forecasts : DataFrame
        One row per forecast day: ``var``, ``es`` (positive losses, return units), ``loss``
        (realised), ``exception`` (``loss > var``).
    kupiec : BacktestResult
    christoffersen : ChristoffersenResult
    traffic_light : TrafficLightResult
        On every forecast day (the Basel thresholds generalised to that count); Basel's own
        reading is ``basel_traffic_light(forecasts.exception[-250:])``.
    z2 : BacktestResult
        Acerbi-Szekely Z2 with the null simulated from each day's forecast distribution;
        ``verdict`` ``"not computable"`` (NaN statistic and p-value, ``reason`` saying where) when
        a forecast ES is <= 0, as a window of gains gives: Z2 divides by ES.
    method : str
    level : float
    window : int
    """

    forecasts: pd.DataFrame
    kupiec: bt.BacktestResult
    christoffersen: bt.ChristoffersenResult
    traffic_light: bt.TrafficLightResult
    z2: bt.BacktestResult
    method: str
    level: float
    window: int

    def summary(self) -> pd.DataFrame:
        """Return one row per test: statistic, p-value, verdict."""
        rows = {
            "kupiec_pof": (self.kupiec.statistic, self.kupiec.pvalue, self.kupiec.verdict),
            "christoffersen_ind": (
                self.christoffersen.independence.statistic,
                self.christoffersen.independence.pvalue,
                self.christoffersen.independence.verdict,
            ),
            "christoffersen_cc": (
                self.christoffersen.statistic,
                self.christoffersen.pvalue,
                self.christoffersen.verdict,
            ),
            "basel_traffic_light": (self.traffic_light.statistic, self.traffic_light.pvalue, self.traffic_light.zone),
            "acerbi_szekely_z2": (self.z2.statistic, self.z2.pvalue, self.z2.verdict),
        }
        return pd.DataFrame.from_dict(rows, orient="index", columns=["statistic", "pvalue", "verdict"])


def var_backtest(
    returns: pd.Series | npt.ArrayLike,
    *,
    method: BacktestMethod = "historical",
    level: float = 0.99,
    window: int = 500,
    side: Literal["long", "short"] = "long",
    refit_every: int = 20,
    n_sims: int = 2_000,
    seed: int | None = None,
    significance: float = 0.05,
    garch_model: GarchModel = "garch",
) -> VarBacktest:
    """Roll one-day VaR/ES forecasts over daily returns and backtest them.

    Parameters
    ----------
    returns : Series or array_like
        Daily log returns in time order (NaN dropped; +-inf, bools and strings refused; a
        DatetimeIndex out of order or with a duplicated timestamp is refused).
    method : {"historical", "normal", "t", "cornish_fisher", "fhs"}
        Forecast model fitted on the trailing ``window`` days (no look-ahead: day ``t`` uses
        days ``t - window .. t - 1``).  ``t``: degrees of freedom by maximum likelihood every
        ``refit_every`` days (floored at 2.5), mean and sd of each window.  ``fhs``: GARCH with
        Student-t innovations refitted every ``refit_every`` days and filtered daily in between
        (:func:`levguard.core.risk.var.garch_filter`), VaR/ES from ``-(mu + sigma_{t} z)`` over
        the window's residuals.
    level : float
        Confidence in (0.5, 1) of VaR and ES (Z2 tests the ES at the same level).
    window : int
        Estimation window in days, >= 30 (>= 100 for ``fhs``: the fewest returns
        :func:`levguard.risk.garch.fit_garch` takes).
    side : {"long", "short"}
        Unit position whose loss is forecast: ``-r`` (long) or ``r`` (short).
    refit_every : int
        Days between refits of ``t`` and ``fhs``.
    n_sims : int
        Simulations for the Z2 null distribution.
    seed : int, numpy Generator or SeedSequence, optional
        Random seed of the Z2 simulation.
    significance : float
        Size of the statistical tests.
    garch_model : {"garch", "gjr"}
        Variance model of ``fhs``.

    Returns
    -------
    VarBacktest
    """
    lv = cvar.check_level(level)
    sig = bt.check_significance(significance)
    r, index = returns_series(returns)
    window = whole_number(window, "window", 30, 2**31 - 1)
    if method == "fhs" and window < MIN_OBS:
        raise InputError(
            f"window must be >= {MIN_OBS} for method 'fhs' (the fewest returns a GARCH fit takes), was {window}"
        )
    n_sims = whole_number(n_sims, "n_sims", 100, _MAX_SIMS)
    rng = rng_arg(seed)  # a Generator or SeedSequence as acerbi_szekely_z2 takes it, or an int
    if r.size < window + 2:
        raise InputError(f"returns must hold more than window + 1 = {window + 1} days, had {r.size}")
    if side not in ("long", "short"):
        raise InputError(f"side must be 'long' or 'short', was {side!r}")
    refit_every = whole_number(refit_every, "refit_every", 1, 2**31 - 1)
    pnl_all = r if side == "long" else -r
    loss_all = -pnl_all
    n_f = r.size - window
    wins = np.lib.stride_tricks.sliding_window_view(loss_all, window)[:n_f]  # (n_f, window) losses
    var = np.empty(n_f)
    es = np.empty(n_f)
    simulate: Any
    if method == "historical":
        for t in range(n_f):
            var[t], es[t], _ = cvar.empirical_var_es(wins[t], lv)

        def simulate(g: np.random.Generator, k: int) -> Float64Array:
            idx = g.integers(0, window, size=(k, n_f))
            return -wins[np.arange(n_f), idx]

    elif method == "normal":
        mu, sd = wins.mean(axis=1), wins.std(axis=1, ddof=1)
        z = float(ndtri(lv))
        var, es = mu + sd * z, mu + sd * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) / (1 - lv)
        simulate = "normal"
    elif method == "t":
        mu, sd = wins.mean(axis=1), wins.std(axis=1, ddof=1)
        from scipy import stats

        nus = np.empty(n_f)
        for t in range(n_f):
            if t % refit_every == 0:
                nu_t = max(float(stats.t.fit(wins[t])[0]), 2.5)
            nus[t] = nu_t
            res = cvar.student_t_var(lv, nu=nu_t, sd=float(sd[t]), mean=float(mu[t]))
            var[t], es[t] = res.var, res.es
        scale = sd * np.sqrt((nus - 2.0) / nus)

        def simulate(g: np.random.Generator, k: int) -> Float64Array:
            out: Float64Array = -(mu + scale * g.standard_t(nus, size=(k, n_f)))
            return out

    elif method == "cornish_fisher":
        mu, sd = wins.mean(axis=1), wins.std(axis=1, ddof=1)
        from scipy import stats

        sk = stats.skew(wins, axis=1, bias=False)
        ku = stats.kurtosis(wins, axis=1, fisher=True, bias=False)
        for t in range(n_f):
            res = cvar.cornish_fisher_var(
                lv, sd=float(sd[t]), mean=float(mu[t]), skew=float(sk[t]), excess_kurtosis=float(ku[t])
            )
            var[t], es[t] = res.var, res.es
        c0, c1, c2, c3 = cf_coefficients(sk, ku)

        def simulate(g: np.random.Generator, k: int) -> Float64Array:
            # Draws of w(Z): the rearranged Cornish-Fisher law whose VaR and ES were forecast.
            zz = g.standard_normal((k, n_f))
            out: Float64Array = -(mu + sd * (c0 + c1 * zz + c2 * zz**2 + c3 * zz**3))
            return out

    elif method == "fhs":
        var, es, simulate = _fhs_rolling(pnl_all, window, lv, refit_every, garch_model)
    else:
        raise InputError(f"method must be historical, normal, t, cornish_fisher or fhs, was {method!r}")
    realised = loss_all[window:]
    exc = realised > var
    frame = pd.DataFrame(
        {"var": var, "es": es, "loss": realised, "exception": exc},
        index=index[window:],
    )
    es_z2 = np.maximum(es, var)
    not_positive = np.flatnonzero(~(es_z2 > 0.0))
    if not_positive.size:
        # Z2 divides each day's loss by its ES (Acerbi & Szekely 2014): a forecast ES <= 0 (a
        # window whose losses are mostly gains) leaves the test undefined, not the backtest.
        i = int(not_positive[0])
        reason = (
            f"the ES forecast is <= 0 on {not_positive.size} day(s), the first at {index[window + i]} "
            f"(forecasts row {i}, ES {es_z2[i].item()!r}); Z2 divides each loss by its ES"
        )
        details = {"expected_exceptions": n_f * (1.0 - lv), "days_es_not_positive": float(not_positive.size)}
        z2 = bt.BacktestResult(
            "acerbi_szekely_z2",
            math.nan,
            math.nan,
            "not computable",
            sig,
            n_f,
            int(exc.sum()),
            MappingProxyType(details),
            reason,
        )
    else:
        z2 = bt.acerbi_szekely_z2(
            -realised, var, es_z2, lv, simulate=simulate, n_sims=n_sims, seed=rng, significance=sig
        )
    return VarBacktest(
        forecasts=frame,
        kupiec=bt.kupiec_pof(exc, lv, significance=sig),
        christoffersen=bt.christoffersen(exc, lv, significance=sig),
        traffic_light=bt.basel_traffic_light(exc, lv),
        z2=z2,
        method=method,
        level=lv,
        window=int(window),
    )


def _fhs_rolling(
    pnl: Float64Array1D, window: int, level: float, refit_every: int, garch_model: GarchModel
) -> tuple[Float64Array1D, Float64Array1D, Any]:
    from levguard.risk.garch import fit_garch

    n_f = pnl.size - window
    var = np.empty(n_f)
    es = np.empty(n_f)
    mus = np.empty(n_f)
    sig = np.empty(n_f)
    zwin = np.empty((n_f, window))
    for start in range(0, n_f, refit_every):
        fit = fit_garch(pnl[start : start + window], model=garch_model, dist="t", mean="zero", interval="1d")
        p = fit.params
        g = cvar.GarchParams(p["omega"], p["alpha"], p["beta"], p.get("gamma", 0.0), p.get("mu", 0.0))
        stop = min(n_f, start + refit_every)
        # Filter from the start of this block's first window to the last day it forecasts, from
        # the fit window's variance: the block's default (the mean over every day it filters)
        # would let a later day's return move the block's first forecasts.
        eps = pnl[start : start + window] - g.mu
        s2 = float(np.mean(eps * eps))
        sigma, z = cvar.garch_filter(pnl[start : stop - 1 + window], g, sigma2_0=s2 if s2 > 0.0 else None)
        for t in range(start, stop):
            off = t - start
            zwin[t] = z[off : off + window]
            sig[t] = sigma[off + window]
            mus[t] = g.mu
            losses = -(g.mu + sig[t] * zwin[t])
            var[t], es[t], _ = cvar.empirical_var_es(losses, level)

    def simulate(gen: np.random.Generator, k: int) -> Float64Array:
        idx = gen.integers(0, window, size=(k, n_f))
        return mus + sig * zwin[np.arange(n_f), idx]

    return var, es, simulate
