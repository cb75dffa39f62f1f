"""The account risk report behind ``levguard risk``: margin, volatility, VaR/ES, Greeks,
probability of liquidation and stress, for one account or several on several venues.

Input is an account spec (see docs/margin.md) or ``{"accounts": [spec, ...]}``; each spec may
carry ``name`` and ``options`` (option positions valued here; the margin engine has no option
margin model).  Volatility comes from an OHLC history of the underlying (``history``) or is given
(``vol``); each position reads the history of its own asset (:mod:`levguard.risk.histories`; its
mark-price columns when it has them: :func:`volatility_forecast`, the one volatility forecast the
guardian, ``levguard size`` and the service also show), and one on an asset without a history the
given ``vol``.  Each perpetual's delta-normal VaR is :func:`position_var` (the service's
``/risk`` calls it too).  The probability of liquidation
comes from the liquidation forecaster fitted on the position's asset's hourly (mark) bars
(:mod:`levguard.risk.forecast`, the path the guardian, ``levguard size`` and the service share);
without a history of its asset it is the GBM closed form at ``vol``, and each row says which.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from levguard.core.margin import AccountReport, evaluate
from levguard.core.positions import Account
from levguard.core.records import LegacyMapping, Record
from levguard.core.risk.portfolio import OptionPosition
from levguard.core.risk.stress import (
    NAMED_SCENARIOS,
    Scenario,
    check_scenarios,
    grid_scenarios,
    venue_default,
)
from levguard.core.risk.var import check_level
from levguard.core.rules import get_venue
from levguard.core.spec import account_from_spec
from levguard.core.symbols import asset_key, base_asset, coin_name, is_usd
from levguard.core.validate import annual_vol
from levguard.errors import InputError
from levguard.margin import load_spec
from levguard.risk.histories import PriceHistory
from levguard.risk.option_books import (
    OptionBooks,
    check_venue_options,
    option_books,
    option_greeks,
    same_currency,
    stress_account,
    wallet_cash,
)
from levguard.risk.option_specs import as_of_ns, parse_options, parse_surfaces, spec_prices

if TYPE_CHECKING:
    from levguard.core.risk.var import VarResult
    from levguard.risk.var import PortfolioMethod

__all__ = [
    "RiskReport",
    "load_portfolio",
    "parse_options",
    "position_var",
    "risk_report",
    "volatility_forecast",
    "volatility_section",
]

_RISK_KEYS = ("options", "as_of", "vol_surfaces", "options_wallet_balance", "cross_collateral")
"""A spec's keys the risk layer reads (the margin engine has no option model)."""

DEFAULT_CORRELATION = 0.60
"""Median pairwise correlation of daily log returns of Binance USDⓈ-M BTC, ETH, XRP and SOL
perpetuals, 2020-09-14 to 2026-05-29 (2,083 days; BTC-ETH 0.815, lowest XRP-SOL 0.517), from
levguard's shared reference data: the default between underlyings when only a vol is given."""


def load_portfolio(source: Mapping[str, Any] | str | Path) -> list[dict[str, Any]]:
    """Return the account specs of a spec, a ``{"accounts": [...]}`` portfolio, or a file of either."""
    raw = load_spec(source) if isinstance(source, str | Path) else source
    if not isinstance(raw, Mapping):
        raise InputError(f"account spec must be an object, was {type(raw).__name__}")
    if "accounts" in raw:
        accounts = raw["accounts"]
        if not isinstance(accounts, list) or not accounts:
            raise InputError("accounts must be a non-empty list of account specs")
        specs = [dict(a) if isinstance(a, Mapping) else a for a in accounts]
        for i, a in enumerate(specs):
            if not isinstance(a, dict):
                raise InputError(f"accounts[{i}] must be an account spec object, was {a!r}")
        return specs
    return [dict(raw)]


def _usd_rate(settlement: str, prices: Mapping[str, float]) -> float | None:
    if is_usd(settlement):
        return 1.0
    return prices.get(settlement.upper())


def _scalar(x: float | pd.Series) -> float:
    # realized_vol returns a float for a point estimate, a Series for a rolling one.
    if isinstance(x, pd.Series):
        return float(x.iloc[-1])
    return float(x)


_MARK_OHLC = ("mark_open", "mark_high", "mark_low", "mark_close")


def _price_series(history: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    # The series whose volatility is forecast: the mark when the frame has mark-price bars (high,
    # low and close, as the liquidation forecaster reads them: levguard.data.frames.hourly_arrays),
    # else the last price.  Perpetuals are marked, and liquidated, at the mark.
    if not isinstance(history, pd.DataFrame):  # a Series had no .columns: an AttributeError
        raise InputError(
            f"history must be a DataFrame of OHLC bars (levguard.data.fetch_history), was {type(history).__name__}"
        )
    if not {"mark_high", "mark_low", "mark_close"} <= set(history.columns):
        from levguard.data.frames import bar_prices

        # Bars that are mark-price klines (a *-MARK file) are the mark themselves.
        return history, bar_prices(history).replace("-", " ")
    cols = {c: c.removeprefix("mark_") for c in _MARK_OHLC if c in history.columns}
    rest = [c for c in history.columns if c not in cols and c not in cols.values()]
    out = history[[*cols, *rest]].rename(columns=cols)
    out.attrs = dict(history.attrs)
    return out, "mark"


def volatility_section(history: pd.DataFrame, as_of: Any = None) -> tuple[dict[str, Any], float, pd.Series]:
    """Return the report's volatility section of ``history``, the volatility it forecasts and the
    daily log returns behind it.

    With ``as_of`` (a UTC time) only the bars closed by then are read (a bar closes at its open
    time plus ``attrs["interval"]``), as the liquidation forecaster reads them: an account
    evaluated at a past ``as_of`` sees no later prices.

    The section holds the realised estimators over the last 30 days, the EWMA over the whole
    history and a GARCH(1,1)-t fitted on up to 3 years of complete UTC days' log returns; the
    forecast (``"used"``) is the GARCH's 1-day volatility (the EWMA's when the fit fails),
    annualised with a 365-day year.  When the bars end inside a day (live, almost always), the
    fit reads the complete days and the forecast takes the unfinished day in one more step, its
    unseen rest at its expectation (``garch["last_day"]``: the fraction ``elapsed`` of the day
    its bars cover and its ``return`` so far; see Notes).  The daily returns returned (the
    historical and FHS VaR's scenarios) are the complete days'.  A frame with mark-price bars
    (``mark_high``, ``mark_low``, ``mark_close``, ``mark_open`` when present) is read on the mark
    (``"series"``), as the liquidation forecaster reads it.  ``levguard risk``, ``levguard
    size``, the guardian and the service's ``/risk`` read the same numbers
    (:func:`volatility_forecast`).

    Notes
    -----
    GARCH(1,1) (Bollerslev 1986): ``sigma2_{T+1} = omega + alpha eps_T^2 + beta sigma2_T``.  An
    unfinished day's return covers a fraction ``h`` of the day and its expected square is about
    ``h sigma2_T`` (intraday variance adds up to the daily: Andersen & Bollerslev 1998), so fed
    to the fit as a whole day it biased the forecast (down on a quiet morning; -2.2 % median,
    -4.6 % to +6.4 % over 30 random cut-offs of BTCUSDT-PERP 1h).  Dropping it would lose the most
    important information in a crash in progress (2024-08-05 03:00: -7.65 % in 4 hours).  So the
    model is fitted on complete days and ``eps_T^2`` of the unfinished day is replaced by its
    conditional expectation ``r_partial^2 + (1 - h) sigma2_T``
    (:func:`levguard.core.risk.volatility.garch_partial_step`; :func:`levguard.risk.vol.daily_returns`).
    """
    from levguard.core.risk.volatility import garch_partial_step
    from levguard.data.frames import frame_bar_ns, ns_to_interval
    from levguard.risk.garch import fit_garch
    from levguard.risk.vol import METHODS, daily_returns, realized_vol

    history, series = _price_series(history)
    bar = pd.Timedelta(frame_bar_ns(history, "history"), unit="ns")  # the label, checked against the bars
    if as_of is not None:
        closed = history.index <= pd.Timestamp(as_of) - bar
        if not closed.any():
            raise InputError(f"no bar of the history closed by as_of {pd.Timestamp(as_of).isoformat()}")
        attrs = dict(history.attrs)
        history = history.loc[closed]
        history.attrs = attrs
    bars_30d = max(round(30 * 86_400e9 / bar.value), 2)
    recent = history.iloc[-bars_30d:]
    estimates: dict[str, float] = {
        m: _scalar(realized_vol(recent, m))
        for m in METHODS
        if m != "ewma"  # the EWMA runs over the whole history, below
    }
    ewma = realized_vol(history, "ewma")
    estimates["ewma"] = float(ewma.iloc[-1]) if isinstance(ewma, pd.Series) else float(ewma)
    days = daily_returns(history)
    returns = days.complete
    garch: dict[str, Any] = {}
    sigma = estimates["ewma"]
    try:
        fit = fit_garch(returns.iloc[-1095:], model="garch", dist="t", interval="1d")
        variance = float(fit.forecast(1).variance[0])
        if days.partial is not None:  # the unfinished day, its unseen rest at its expectation
            p = fit.params
            variance = garch_partial_step(variance, days.partial, days.elapsed, p["omega"], p["alpha"], p["beta"])
        forecast = math.sqrt(variance * fit.periods_per_year)
        garch = {
            "model": "GARCH(1,1)-t on daily returns",
            "persistence": fit.persistence,
            "nu": fit.nu,
            "forecast_1d": forecast,
            "last_day": {"elapsed": days.elapsed, "return": days.partial},
            "warnings": list(fit.warnings),
        }
        if math.isfinite(forecast) and forecast > 0:
            sigma = forecast
    except InputError as exc:  # pragma: no cover - short or degenerate histories
        garch = {"error": str(exc)}
    section = {
        "source": str(history.attrs.get("source", "")),
        "series": series,
        "last_bar": history.index[-1].isoformat(),
        "interval": str(history.attrs.get("interval") or ns_to_interval(bar.value)),
        "window_days": 30,
        "annualised": estimates,
        "garch": garch,
        "used": sigma,
    }
    return section, sigma, returns


def volatility_forecast(history: pd.DataFrame) -> float:
    """Return the annualised volatility forecast of ``history``: :func:`volatility_section`'s ``"used"``.

    The one definition of an account's per-symbol volatility: ``levguard risk``, ``levguard
    size``, the guardian (fitted on its hourly bars when it refits its liquidation forecaster,
    injected as :attr:`levguard.live.setup.AccountSetup.volatility`) and the service's ``/risk``.

    Parameters
    ----------
    history : DataFrame
        OHLC bars (UTC index; ``mark_*`` columns read when present), ``attrs["interval"]``
        (default ``"1h"``).

    Returns
    -------
    float
        GARCH(1,1)-t 1-day volatility forecast on daily log returns, annualised with a 365-day
        year; the EWMA's when the fit fails (see :func:`volatility_section`).
    """
    return volatility_section(history)[1]


def position_var(notional: float, vol: float, *, level: float = 0.99, horizon_days: float = 1.0) -> VarResult:
    """Return the delta-normal VaR and ES of one perpetual position, in its settlement currency.

    Parameters
    ----------
    notional : float
        The position's notional at the mark (settlement currency; its sign is ignored), != 0.
    vol : float
        Annualised volatility of the underlying (365-day year), > 0: :func:`volatility_forecast`.
    level : float
        Confidence in (0.5, 1).
    horizon_days : float
        Holding period, days, > 0.

    Returns
    -------
    VarResult
        ``var`` and ``es`` as positive losses (:func:`levguard.core.risk.var.normal_var`).

    Raises
    ------
    InputError
        A non-finite or zero notional, a vol that is not finite and > 0, a bad level or horizon.

    Notes
    -----
    The P&L of a linear position over ``h`` days is ``notional * r`` to first order in the log
    return ``r ~ N(0, vol^2 h / 365)`` (zero mean, no funding carry), so with ``sigma_1d =
    vol / sqrt(365) * |notional|``, ``z = Phi^{-1}(level)`` and ``phi`` the standard normal
    density: ``VaR = z sigma_1d sqrt(h)`` and ``ES = sigma_1d sqrt(h) phi(z) / (1 - level)``
    (Jorion, *Value at Risk*, 3rd ed., ch. 5; RiskMetrics Technical Document, 1996).  At 0.99,
    ``z = 2.3263``.  The report's account ``normal`` row (:func:`levguard.risk.var.portfolio_var`)
    revalues the whole book instead (finite-difference deltas, funding carry, correlations).
    """
    from levguard.core.risk.var import normal_var

    if not (isinstance(notional, int | float) and math.isfinite(notional) and notional != 0):
        raise InputError(f"notional must be a finite number != 0, was {notional!r}")
    if not (isinstance(vol, int | float) and math.isfinite(vol) and vol > 0):
        raise InputError(f"vol must be an annualised volatility > 0, was {vol!r}")
    return normal_var(level, sd=float(vol) / math.sqrt(365.0) * abs(float(notional)), horizon_days=horizon_days)


def _method(info: Mapping[str, Any]) -> dict[str, Any]:
    # What a probability-of-liquidation row says of its forecaster: its model and source.
    return {"model": info["model"], "source": info["source"]}


def _position_var_rows(
    report: AccountReport, sigma_of: Mapping[str, float], level: float, horizon_days: int
) -> list[dict[str, Any]]:
    # Each perpetual's delta-normal VaR at its asset's volatility (position_var, as the service's /risk).
    rows: list[dict[str, Any]] = []
    for r in report.positions:
        sigma = sigma_of[r.symbol]
        row: dict[str, Any] = {"symbol": r.symbol, "notional": abs(r.notional), "vol": sigma, "method": "normal"}
        try:
            res = position_var(r.notional, sigma, level=level, horizon_days=horizon_days)
            row |= {"var": res.var, "es": res.es, "level": level, "horizon_days": horizon_days}
        except InputError as exc:
            row["error"] = str(exc)
        rows.append(row)
    return rows


def _daily_span(h: PriceHistory | None, returns: pd.Series | None) -> str:
    # A history's daily returns' first and last day, for an error that they do not overlap.
    name = h.name if h is not None else "history"
    if returns is None or not len(returns):
        return f"{name} (no daily return)"
    return f"{name} {returns.index[0]:%Y-%m-%d} to {returns.index[-1]:%Y-%m-%d}"


def _liquidation_forecaster(
    history: PriceHistory | None, vol: float | None, as_of: Any, cache: dict[Any, Any], others: bool = False
) -> tuple[Any, dict[str, Any]]:
    # The liquidation forecaster of a position: fitted on its asset's history's hourly (mark) bars
    # at the account's as_of (default: the last bar's close), or the GBM closed form at ``vol``
    # when there is no history of its asset (the special case; ``others``: there are histories of
    # other assets, which the source says).  One fit per history and as_of.
    from levguard.core.risk.excursion import GbmForecaster
    from levguard.risk.forecast import forecaster_info, liquidation_forecaster
    from levguard.risk.histories import history_source, hourly_of

    key = (None if history is None else id(history.frame), None if as_of is None else str(as_of), others)
    if key in cache:
        return cast(tuple[Any, dict[str, Any]], cache[key])
    if history is None:
        assert vol is not None
        forecaster: Any = GbmForecaster(float(vol))
        why = "; no price history of its asset" if others else ""
        info = forecaster_info(forecaster, source=f"given volatility (closed-form GBM special case{why})")
    else:
        hourly = hourly_of(history)  # an error names the file
        forecaster = liquidation_forecaster(hourly, as_of)
        when = as_of if as_of is not None else hourly.index[-1] + pd.Timedelta("1h")
        info = forecaster_info(forecaster, as_of=when, source=history_source(history.frame))
    cache[key] = (forecaster, info)
    return forecaster, info


@dataclass(frozen=True, slots=True)
class RiskReport(LegacyMapping, Record):
    """The risk report of one account or a multi-venue portfolio (:func:`risk_report`).

    Each section is the JSON-ready content ``levguard risk --json`` prints (docs/risk.md lists
    their keys); :meth:`to_dict` is that document.  Reading the report as a dict
    (``report["accounts"]``) is deprecated (it was a plain dict before this release).

    Attributes
    ----------
    volatility : dict
        The volatility section: realised, EWMA and GARCH estimates from the history and ``used``
        (annualised fraction), or ``given`` and ``used`` without a history.
    liquidation_forecast : dict
        The model behind the probabilities of liquidation (name, fit window, ``annual_vol``).
    correlation : float
        Correlation between underlyings used by Monte Carlo and normal VaR.
    exposure : list of dict
        Per account: equity (settlement and USD), gross and net notional, share of the total.
    accounts : list of dict
        Per account: margin report, option value, Greeks, VaR/ES rows, position VaR, P(liq) per
        position and horizon, and the forecaster.
    stress : list of dict
        Per scenario: the shock, its source and each account's P&L, option P&L, equity before
        and after (options included, each part floored at 0), bad debt added, the shortfall
        already there (``shortfall_before``) and liquidations.
    total_equity_usd : float
        Sum of the accounts' equity in USD (accounts without a USD rate are left out).
    """

    volatility: dict[str, Any]
    liquidation_forecast: dict[str, Any]
    correlation: float
    exposure: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    stress: list[dict[str, Any]]
    total_equity_usd: float


def risk_report(
    source: Mapping[str, Any] | str | Path,
    *,
    history: pd.DataFrame | str | Path | Mapping[str, Any] | Sequence[Any] | None = None,
    vol: float | None = None,
    level: float = 0.99,
    horizon_days: int = 1,
    horizons: Sequence[float] = (1, 7, 30),
    n_sims: int = 20_000,
    seed: int = 7,
    correlation: float = DEFAULT_CORRELATION,
    scenarios: Sequence[Scenario] | None = None,
) -> RiskReport:
    """Build the risk report of one account or a multi-venue portfolio (a :class:`RiskReport`;
    its ``to_dict()`` is the JSON document ``levguard risk --json`` prints).

    Parameters
    ----------
    source : dict or path
        Account spec or ``{"accounts": [...]}``.
    history : DataFrame, path, mapping of asset to either, or a sequence of either, optional
        OHLC bars of the underlyings (hourly or finer; ``mark_*`` columns when present), each of
        the asset it is given for (``{"ETH": frame}``) or its symbol names (a file's name:
        ``BTCUSDT-PERP_1h.csv`` is BTC; :mod:`levguard.risk.histories`): realized and GARCH
        volatility, historical/FHS VaR, and each position's probability of liquidation from the
        liquidation forecaster (:func:`levguard.risk.liquidation_forecaster`) fitted on its own
        asset's bars at the account's ``as_of`` (default: the last bar's close).  A frame without
        a symbol is the history of a book on one underlying only.
    vol : float, optional
        Annualised volatility of the positions (and option underlyings) whose asset has no
        history: their VaR reads it and their probability of liquidation is the GBM closed form
        at it (the forecaster's special case; the row's ``model`` and ``source`` say so).  A
        position whose asset has a history reads the history's volatility, for VaR as for the
        probability of liquidation (as the guardian and the service's ``/risk`` do); when every
        one has, ``vol`` is not read and the volatility section's ``notes`` say so.  Without it a
        position on an asset without a history is an InputError naming it.  One of ``history``
        or ``vol`` is required.
    level, horizon_days : float, int
        VaR/ES confidence and holding period (days).
    horizons : sequence of float
        Horizons (days) of the probability of liquidation, in ``(0, 30]``.
    n_sims, seed : int
        Monte Carlo VaR scenarios and seed.
    correlation : float
        Correlation between underlyings' returns for Monte Carlo and normal VaR of books on
        several underlyings (default :data:`DEFAULT_CORRELATION`).  Historical and FHS VaR need a
        history of every underlying (on the days they all have).
    scenarios : sequence of Scenario, optional
        Stress scenarios (default: the named crashes, a +/-30 % price grid with vol shifts, and a
        default of each venue when there are several).
    """
    from levguard.risk.forecast import position_forecasts
    from levguard.risk.histories import (
        book_as_of,
        ends_apart_note,
        history_of,
        largest_position,
        load_histories,
        unused_notes,
        vol_unused_note,
    )
    from levguard.risk.var import portfolio_var
    from levguard.risk.vol import days_after

    histories = load_histories(history)
    if not histories and vol is None:
        raise InputError("give a price history (--history) or a volatility (--vol)")
    if vol is not None:
        vol = annual_vol(vol)
    if not (math.isfinite(correlation) and -1 < correlation < 1):
        raise InputError(f"correlation must be in (-1, 1), was {correlation!r}")
    # Checked here, not inside the VaR section, so a bad value is an error and not a table cell.
    level = check_level(level)
    if isinstance(n_sims, bool) or not isinstance(n_sims, int) or not 100 <= n_sims <= 100_000_000:
        raise InputError(f"n_sims must be an integer >= 100 (at most 100,000,000), was {n_sims!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise InputError(f"seed must be a whole number from 0 to 2**63 - 1, was {seed!r}")
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or not 1 <= horizon_days <= 365:
        raise InputError(f"horizon_days must be an integer in [1, 365], was {horizon_days!r}")
    specs = load_portfolio(source)
    given = float(vol) if vol is not None else float("nan")
    vols: dict[Any, tuple[dict[str, Any], float, pd.Series | None]] = {}

    def vol_at(h: PriceHistory | None, as_of: pd.Timestamp | None) -> tuple[dict[str, Any], float, pd.Series | None]:
        # The volatility section, the volatility used and the daily returns of a history's bars
        # closed by the account's as_of (all of them without one): one estimate per history and as_of.
        key = (None if h is None else id(h.frame), None if as_of is None else str(as_of))
        if key not in vols:
            if h is None:
                vols[key] = ({"given": given, "used": given}, given, None)
            else:
                try:
                    section, estimated, rets = volatility_section(h.frame, as_of)
                except InputError as exc:  # a file too short to estimate from: say which file
                    if h.file is None:
                        raise
                    raise InputError(f"{h.file} ({len(h.frame)} bars): {exc}") from None
                section["used"] = estimated  # a history's own: the given vol is for assets without one
                section["asset"] = h.asset
                vols[key] = (section, section["used"], rets)
        return vols[key]

    def as_of_of(spec: Mapping[str, Any]) -> pd.Timestamp | None:
        return pd.Timestamp(as_of_ns(spec), tz="UTC") if spec.get("as_of") is not None else None

    notes: list[str] = []
    vol_read = False  # whether a position or underlying without a history of its asset read ``vol``
    held: set[str] = set()
    used_by_asset: dict[str, float] = {}
    # Per account: its as_of and the history its largest position reads (the report's volatility section).
    read: list[tuple[pd.Timestamp | None, list[PriceHistory], PriceHistory | None]] = []

    forecasters: dict[Any, Any] = {}
    liquidation_forecast: dict[str, Any] = {}
    accounts: list[tuple[str, Account, dict[str, Any], list[OptionPosition], dict[str, float]]] = []
    surfaces_of: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        name = str(spec.pop("name", None) or spec.get("venue") or f"account {i}")
        acc = account_from_spec({k: v for k, v in spec.items() if k not in _RISK_KEYS})
        model = get_venue(acc.venue)
        check_venue_options(model, bool(spec.get("options")))
        prices = spec_prices(acc, spec)
        # Parsed (and, for quotes, fitted) once: the options and the report section share them.
        surfaces = parse_surfaces(spec)
        surfaces_of[name] = surfaces
        accounts.append((name, acc, spec, parse_options(spec, prices, surfaces, model), prices))

    out_accounts = []
    exposure: list[dict[str, Any]] = []
    margin_reports: dict[str, AccountReport] = {}
    option_values: dict[str, list[float]] = {}
    books: dict[str, OptionBooks] = {}
    for name, acc, spec, options, prices in accounts:
        report = evaluate(acc)
        margin_reports[name] = report
        as_of = as_of_of(spec)
        rate = _usd_rate(report.settlement, prices)
        books[name] = option_books(spec, get_venue(acc.venue), report.settlement, options)
        greeks = option_greeks(options, prices, report.settlement)
        option_values[name] = [g["value_in_account"] for g in greeks]
        option_value = math.fsum(option_values[name])
        # The options' wallets' cash (premiums included) is the account's equity too.
        cash = math.fsum(wallet_cash(c, b, report.settlement, prices) for c, (b, _i) in books[name].wallets.items())
        wallets = books[name].wallets.items()
        apart = [f"{b:g} {c}" for c, (b, _i) in wallets if b and not same_currency(c, report.settlement)]
        if apart:  # a delta-one holding the VaR's revaluation does not carry (the stress rows price it)
            notes.append(f"{name}: VaR and ES leave out the options wallet's {', '.join(apart)}, in another currency")
        bases = sorted({base_asset(p.symbol) for p in acc.positions} | {o.underlying or "" for o in options})
        held.update(bases)
        # Each position and underlying reads the history of its own asset (or the given vol).
        of = history_of(histories, [*(p.symbol for p in acc.positions), *bases], vol_given=vol is not None)
        vol_read = vol_read or any(h is None for h in of.values())
        used = list({id(h.frame): h for h in of.values() if h is not None}.values())
        if as_of is None:  # one as-of for the book: the latest time all its histories cover
            as_of, note = book_as_of(used)
        else:  # read at its as_of, as the guardian at now: say when the histories end far apart
            note = ends_apart_note(used, as_of=as_of)
        notes += [note] if note is not None and note not in notes else []
        main = largest_position(
            [r.symbol for r in report.positions],
            [
                r.notional * (r.mark_price if p.instrument.inverse else 1.0)
                for p, r in zip(acc.positions, report.positions, strict=True)
            ],
        )
        read.append((as_of, used, of[main] if main is not None else of[bases[0]] if bases else None))
        sigma_of = {n: vol_at(h, as_of)[1] for n, h in of.items()}
        if len(read) == 1:  # the report's volatility used per asset: the first account's
            used_by_asset = {asset_key(b): sigma_of[b] for b in bases}
        by_base = {b: sigma_of[b] for b in bases}
        sigma: float | dict[str, float] = by_base
        if len(set(by_base.values())) <= 1:  # one volatility for the whole book (the given one, or one history)
            sigma = next(iter(by_base.values()), given if vol is not None or not used else vol_at(used[0], as_of)[1])
        returns = {b: vol_at(of[b], as_of)[2] for b in bases}
        # Each history's unfinished last day (its return so far, the fraction elapsed), for FHS.
        last = {b: vol_at(of[b], as_of)[0].get("garch", {}).get("last_day") or {} for b in bases}
        last_day = {b: (d["return"], d["elapsed"]) for b, d in last.items() if d.get("return") is not None}
        fits = {
            r.symbol: _liquidation_forecaster(of[r.symbol], vol, as_of, forecasters, bool(histories))
            for r in report.positions
        }
        # The account's (and the report's) forecaster: its largest position's (as levguard size's).
        liquidation_forecast = (
            fits[main][1]
            if main is not None
            else _liquidation_forecaster(read[-1][2] or next(iter(histories), None), vol, as_of, forecasters)[1]
        )
        corr = np.full((len(bases), len(bases)), correlation)
        np.fill_diagonal(corr, 1.0)
        methods: list[PortfolioMethod] = ["monte_carlo", "normal"]
        if histories:
            methods += ["historical", "fhs"]
        var_rows: list[dict[str, Any]] = []
        for m in methods:
            rets = None
            if m in ("historical", "fhs"):
                if not bases:  # nothing to value (as portfolio_var says for the other methods)
                    var_rows.append({"method": m, "error": "the portfolio is empty: no positions and no options"})
                    continue
                without = [b for b in bases if returns[b] is None]
                if without:
                    text = f"no price history of {', '.join(without)}; use Monte Carlo here"
                    var_rows.append({"method": m, "error": text + ", or give each underlying its history (ASSET=FILE)"})
                    continue
                # One column per underlying, on the days every history has.
                rets_of = {b: cast("pd.Series", returns[b]) for b in bases}
                rets = pd.DataFrame(rets_of).dropna()
                if len(bases) > 1 and len(rets) < 2:
                    spans = ", ".join(_daily_span(of[b], returns[b]) for b in bases)
                    var_rows.append(
                        {"method": m, "error": f"the histories share fewer than 2 days of returns ({spans})"}
                    )
                    continue
            try:
                r = portfolio_var(
                    acc,
                    method=m,
                    level=level,
                    horizon_days=horizon_days,
                    vol=sigma,
                    returns=rets,
                    correlation=corr if len(bases) > 1 and rets is None else None,
                    n_sims=n_sims,
                    seed=seed,
                    options=options,
                    prices=prices,
                    last_day=None if rets is None or m != "fhs" else days_after(rets.index[-1], rets_of, last_day),
                )
                var_rows.append({"method": m, "var": r.var, "es": r.es, "level": level, "horizon_days": horizon_days})
            except InputError as exc:
                var_rows.append({"method": m, "error": str(exc)})
        gross = sum(r.notional for r in report.positions)
        net = sum(r.notional * r.side for r in report.positions)
        equity = report.equity + option_value + cash
        exposure.append(
            {
                "name": name,
                "venue": acc.venue,
                "settlement": report.settlement,
                "equity": equity,
                "equity_usd": None if rate is None else equity * rate,
                "gross_notional": gross,
                "net_notional": net,
            }
        )
        out_accounts.append(
            {
                "name": name,
                "venue": acc.venue,
                "settlement": report.settlement,
                "margin": report.to_dict(),
                "option_value": option_value,
                "vol_surfaces": {
                    base: {"expiries": len(surface.slices), "arbitrage_free": bool(check.ok)}
                    for base, (surface, check) in surfaces_of[name].items()
                },
                "greeks": greeks,
                "var": var_rows,
                "position_var": _position_var_rows(report, sigma_of, level, horizon_days),
                "prob_liquidation": [
                    {**position_forecasts([r], fits[r.symbol][0], horizons)[0], **_method(fits[r.symbol][1])}
                    for r in report.positions
                ],
                "liquidation_forecast": liquidation_forecast,
            }
        )
    # The report's volatility section: the first account's largest position's history (the given
    # volatility without one), and with several histories read, each asset's section and volatility.
    first_as_of, _used, main_h = read[0] if read else (None, [], None)
    vol_section = dict(vol_at(main_h, first_as_of)[0])
    all_used = {id(h.frame): (h, a) for a, u, _m in read for h in u}
    if len(all_used) > 1 or (all_used and main_h is None):
        by_asset = {h.asset: vol_at(h, a)[0] for h, a in all_used.values()}
        vol_section["by_asset"] = {k: by_asset[k] for k in sorted(by_asset, key=str)}
        vol_section["used_by_asset"] = used_by_asset
    notes += unused_notes(histories, sorted(held))
    if vol is not None and histories and not vol_read:
        notes.append(vol_unused_note(vol))
    if notes:
        vol_section["notes"] = notes
    total_usd = sum(e["equity_usd"] for e in exposure if e["equity_usd"] is not None)
    for e in exposure:
        e["share"] = None if not total_usd or e["equity_usd"] is None else e["equity_usd"] / total_usd

    if scenarios is None:
        scenarios = [*NAMED_SCENARIOS, *grid_scenarios((-0.3, -0.2, -0.1, 0.1, 0.2, 0.3), (0.0, 0.3))]
        if len(accounts) > 1:
            scenarios += [venue_default(a[1].venue, name=f"{a[0]} default") for a in accounts]
    stress_rows = []
    for s in check_scenarios(scenarios):
        acc_rows = []
        total = 0.0
        for name, acc, _spec, options, prices in accounts:
            # The options' P&L under the scenario (core revalue); each bankruptcy part (cross, with the
            # options it pools, and each options wallet: cash + value) floors at 0 (apply_scenario).
            st, move = stress_account(
                s, name, acc, margin_reports[name], options, prices, books[name], option_values[name]
            )
            v0 = sum(option_values[name])
            # The options' own change in value, before the account's floor (docs/risk.md §6); in a
            # default they are lost with everything else on the venue.
            opt = -v0 if st.defaulted else move
            # The change of the account's USD value, E1 x P1 - E0 x P0: a coin account's equity is
            # worth its coin at the scenario's price after and at today's before (docs/risk.md §6).
            rate = _usd_rate(st.settlement, prices)
            if rate is not None:
                rate1 = rate * (1.0 if is_usd(st.settlement) else 1.0 + s.shock_for(coin_name(st.settlement)))
                total += st.equity_after * rate1 - st.equity_before * rate
            acc_rows.append(
                {
                    "name": name,
                    # Equity (options included; each part floored at 0) before + pnl = after >= 0.
                    "equity_before": st.equity_before,
                    "pnl": st.pnl,
                    "option_pnl": opt,
                    "equity_after": st.equity_after,
                    "bad_debt": st.bad_debt,
                    "shortfall_before": st.shortfall_before,
                    "margin_ratio_after": st.margin_ratio_after,
                    "liquidated": [p.symbol for p in st.positions if p.liquidated],
                    # The cross trigger met with no cross futures to liquidate: the cross part (cash
                    # plus pooled options) below 0 (the joint ladder's "bankruptcy"; apply_scenario).
                    "bankrupt": st.bankrupt,
                    "positions": [
                        {
                            "symbol": p.symbol,
                            "pnl": p.pnl,
                            "funding": p.funding,
                            "mark_after": p.mark_after,
                            "liquidated": p.liquidated,
                        }
                        for p in st.positions
                    ],
                    "defaulted": st.defaulted,
                }
            )
        stress_rows.append(
            {
                "scenario": s.name,
                "kind": s.kind,
                "date": s.date,
                "price_shock": s.price_shock,
                "vol_shock": s.vol_shock,
                "source": s.source,
                "accounts": acc_rows,
                "total_pnl_usd": total,
            }
        )
    return RiskReport(
        volatility=vol_section,
        liquidation_forecast=liquidation_forecast,
        correlation=correlation,
        exposure=exposure,
        accounts=out_accounts,
        stress=stress_rows,
        total_equity_usd=total_usd,
    )
