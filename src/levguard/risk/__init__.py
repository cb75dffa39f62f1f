"""Public risk API: volatility, GARCH, VaR/ES and their backtests, probability of liquidation,
stress tests and the account risk report (docs/risk.md).

The pure math lives in :mod:`levguard.core.risk`; this facade adds pandas-facing wrappers, the
``arch``-based GARCH models and the report that composes the margin engine with the risk
measures.  Names are imported on first use.
"""

from __future__ import annotations

from levguard.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # volatility
    "realized_vol": "levguard.risk.vol",
    "fit_garch": "levguard.risk.garch",
    "GarchFit": "levguard.risk.garch",
    "periods_per_year": "levguard.core.risk.volatility",
    "annualise": "levguard.core.risk.volatility",
    "ewma_variance": "levguard.core.risk.volatility",
    # VaR / ES and their backtests
    "VarResult": "levguard.core.risk.var",
    "historical_var": "levguard.core.risk.var",
    "normal_var": "levguard.core.risk.var",
    "student_t_var": "levguard.core.risk.var",
    "cornish_fisher_var": "levguard.core.risk.var",
    "fhs_var": "levguard.core.risk.var",
    "monte_carlo_var": "levguard.core.risk.var",
    "kupiec_pof": "levguard.core.risk.backtest",
    "christoffersen": "levguard.core.risk.backtest",
    "basel_traffic_light": "levguard.core.risk.backtest",
    "acerbi_szekely_z2": "levguard.core.risk.backtest",
    "portfolio_var": "levguard.risk.var",
    "portfolio_pnl": "levguard.risk.var",
    "var_backtest": "levguard.risk.var",
    "OptionPosition": "levguard.core.risk.portfolio",
    "revalue": "levguard.core.risk.portfolio",
    # probability of liquidation: calibrated forecasts from bars (the one path) and closed forms
    "liquidation_forecasts": "levguard.risk.forecast",
    "liquidation_forecaster": "levguard.risk.forecast",
    "FORECAST_MODELS": "levguard.risk.forecast",
    "ExcursionParams": "levguard.core.risk.excursion",
    "prob_liquidation": "levguard.risk.liquidation",
    "prob_liquidation_curve": "levguard.risk.liquidation",
    "prob_liquidation_table": "levguard.risk.liquidation",
    "time_to_liquidation": "levguard.risk.liquidation",
    "TimeToLiquidation": "levguard.risk.liquidation",
    # the account report
    "risk_report": "levguard.risk.report",
    "RiskReport": "levguard.risk.report",
    # stress
    "Scenario": "levguard.core.risk.stress",
    "NAMED_SCENARIOS": "levguard.core.risk.stress",
    "grid_scenarios": "levguard.core.risk.stress",
    "venue_default": "levguard.core.risk.stress",
    "apply_scenario": "levguard.core.risk.stress",
    "stress_accounts": "levguard.core.risk.stress",
}

__all__, __getattr__ = lazy_exports("levguard.risk", _EXPORTS, globals())
