# mypy: disable-error-code="arg-type, call-overload, list-item, dict-item"
"""Bad-input campaign 6 (risk): VaR/ES, VaR backtests, portfolio revaluation and VaR, stress
scenarios, first-passage probabilities, volatility and the risk report's history.

Each case failed before the fix with a raw TypeError / ValueError / AttributeError /
OverflowError (or a scipy root finder's ValueError), or silently accepted a bool as a number;
every one must now raise :class:`~levguard.errors.InputError` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.core.margin import evaluate
from levguard.core.risk import backtest as bt
from levguard.core.risk import var as cvar
from levguard.core.risk.portfolio import revalue
from levguard.core.risk.stress import Scenario, apply_scenario, grid_scenarios, venue_default
from levguard.core.risk.volatility import annualise, ewma_variance, periods_per_year
from levguard.core.spec import account_from_spec
from levguard.errors import InputError
from levguard.risk import (
    OptionPosition,
    fit_garch,
    portfolio_pnl,
    portfolio_var,
    prob_liquidation_table,
    realized_vol,
    time_to_liquidation,
    var_backtest,
)
from levguard.risk.report import volatility_section

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "margin_mode": "cross",
    "wallet_balance": 20_000.0,
    "positions": [
        {"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0, "mark_price": 61_000.0, "leverage": 10},
        {"symbol": "ETHUSDT", "qty": -30.0, "entry_price": 3_000.0, "mark_price": 3_050.0, "leverage": 10},
    ],
}
ACCOUNT = account_from_spec(SPEC)
REPORT = evaluate(ACCOUNT)
SCEN = {"BTC": np.array([0.9, 1.0, 1.1]), "ETH": np.array([1.1, 1.0, 0.9])}
CORR = np.array([[1.0, 0.6], [0.6, 1.0]])
PNL = np.random.default_rng(1).standard_normal(300)
RETURNS = pd.Series(np.random.default_rng(2).standard_normal(300) * 0.02)
Z2 = (PNL, np.full(300, 2.33), np.full(300, 2.67))
KOU = {"model": "kou", "lam": 10.0, "p_up": 0.4, "eta_up": 12.0, "eta_down": 8.0}
RESID = np.random.default_rng(3).standard_normal(200)
_T = pd.date_range("2024-01-01", periods=200, freq="1h", tz="UTC")
_C = 60_000.0 * np.exp(np.cumsum(np.random.default_rng(4).standard_normal(200) * 0.01))
BARS = pd.DataFrame({"open": _C, "high": _C * 1.01, "low": _C * 0.99, "close": _C}, index=_T)
DAILY = pd.Series(
    np.random.default_rng(5).standard_normal(300) * 0.02, index=pd.date_range("2023-01-01", periods=300, tz="UTC")
)


def _pvar(**kw: Any) -> object:
    args: dict[str, Any] = {"method": "monte_carlo", "vol": 0.6, "correlation": CORR, "n_sims": 500, "seed": 7}
    return portfolio_var(ACCOUNT, **{**args, **kw})


def _ttl(**kw: Any) -> object:
    args: dict[str, Any] = {"sigma": 0.8, "horizon_days": 30.0, **KOU, **kw}
    return time_to_liquidation("long", 100.0, 80.0, **args)


def _backtest(**kw: Any) -> object:
    return var_backtest(RETURNS, **{"window": 100, "refit_every": 50, "n_sims": 200, "seed": 1, **kw})


# (label, call, words the message must hold)
CASES: list[tuple[str, Callable[[], object], str]] = [
    # acerbi_szekely_z2 / var_backtest: counts, seeds and nu went to int()/default_rng raw.
    ("z2 n_sims None", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, n_sims=None), "n_sims must be a whole number"),
    ("z2 n_sims str", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, n_sims="abc"), "n_sims must be a whole number"),
    ("z2 n_sims inf", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, n_sims=math.inf), "n_sims must be a whole number"),
    ("z2 n_sims 1e308", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, n_sims=1e308), "n_sims must be a whole number"),
    ("z2 seed str", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, n_sims=200, seed="abc"), "seed must be"),
    ("z2 seed -1", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, n_sims=200, seed=-1), "seed must be"),
    ("z2 nu str", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, simulate="t", nu="abc", n_sims=200), "nu must be > 1"),
    ("z2 nu 10**400", lambda: bt.acerbi_szekely_z2(*Z2, 0.99, simulate="t", nu=10**400, n_sims=200), "nu must be"),
    ("backtest n_sims None", lambda: _backtest(n_sims=None), "n_sims must be a whole number"),
    ("backtest n_sims 1e308", lambda: _backtest(n_sims=1e308), "n_sims must be a whole number"),
    (
        "backtest seed str",
        lambda: _backtest(seed="abc"),
        "seed must be None, a non-negative integer or a numpy Generator",
    ),
    ("backtest seed -1", lambda: _backtest(seed=-1), "seed must be None, a non-negative integer or a numpy Generator"),
    ("backtest window None", lambda: _backtest(window=None), "window must be a whole number"),
    ("backtest window str", lambda: _backtest(window="abc"), "window must be a whole number"),
    ("backtest window inf", lambda: _backtest(window=math.inf), "window must be a whole number"),
    ("backtest refit None", lambda: _backtest(refit_every=None), "refit_every must be a whole number"),
    ("backtest refit inf", lambda: _backtest(refit_every=math.inf), "refit_every must be a whole number"),
    ("backtest returns str", lambda: var_backtest("abc"), "returns must be"),
    # significance, Basel counts, a fixed nu and a first variance went to float()/int() raw.
    ("kupiec significance str", lambda: bt.kupiec_pof([0, 1, 0], 0.99, significance="x"), "significance must be in"),
    ("christoffersen significance None", lambda: bt.christoffersen([0, 1, 0], 0.99, significance=None), "significance"),
    ("backtest significance str", lambda: _backtest(significance="a"), r"significance must be in \(0, 1\)"),
    ("basel_zone n_obs nan", lambda: bt.basel_zone(1, math.nan), "n_obs must be a whole number"),
    ("basel_zone n_obs inf", lambda: bt.basel_zone(1, math.inf), "n_obs must be a whole number"),
    ("basel_zone n_exceptions None", lambda: bt.basel_zone(None, 250), "n_exceptions must be a whole number"),
    (
        "basel_zone n_exceptions > n_obs",
        lambda: bt.basel_zone(11, 10),
        r"n_exceptions must be a whole number in \[0, 10\]",
    ),
    ("var_from_sample nu str", lambda: cvar.var_from_sample(PNL, 0.99, method="t", nu="abc"), "nu must be a number"),
    (
        "garch_filter sigma2_0 str",
        lambda: cvar.garch_filter([0.1, 0.2], cvar.GarchParams(1e-6, 0.1, 0.8), sigma2_0="a"),
        "sigma2_0 must be a number",
    ),
    # first passage: absurd magnitudes broke the Kou root finders and the Laplace inversion.
    ("ttl sigma 1e308", lambda: _ttl(sigma=1e308), "sigma must be an annualised volatility of at most 1000"),
    ("ttl horizon 1e308", lambda: _ttl(horizon_days=1e308), "horizon_days must be at most"),
    ("ttl lam 1e308", lambda: _ttl(lam=1e308), "lam must be at most"),
    ("ttl eta_down 1e308", lambda: _ttl(eta_down=1e308), "eta_down must be at most"),
    ("ttl eta_up 1e308", lambda: _ttl(eta_up=1e308), "eta_up must be at most"),
    # revalue / portfolio_pnl / portfolio_var: records, mappings and numbers used raw.
    ("revalue account None", lambda: revalue(None, SCEN, horizon_days=1.0), "account must be a Account"),
    ("revalue horizon None", lambda: revalue(ACCOUNT, SCEN, horizon_days=None), "horizon_days must be a number"),
    ("revalue horizon str", lambda: revalue(ACCOUNT, SCEN, horizon_days="abc"), "horizon_days must be a number"),
    ("revalue horizon big", lambda: revalue(ACCOUNT, SCEN, horizon_days=10**400), "horizon_days must be a number"),
    ("revalue horizon True", lambda: revalue(ACCOUNT, SCEN, horizon_days=True), "horizon_days must be a number"),
    (
        "revalue fee str",
        lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, liquidation_fee_rate="abc"),
        "liquidation_fee_rate",
    ),
    (
        "revalue fee obj",
        lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, liquidation_fee_rate=object()),
        "liquidation_fee_rate",
    ),
    (
        "revalue report str",
        lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, report="abc"),
        "report must be a AccountReport",
    ),
    ("revalue prices str", lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, prices="abc"), "prices must be a mapping"),
    (
        "revalue funding str",
        lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, funding_rates="abc"),
        "funding_rates must be a mapping",
    ),
    (
        "revalue options str",
        lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, options="abc"),
        "options must be a sequence",
    ),
    (
        "revalue options [str]",
        lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, options=["x"]),
        r"options\[0\] must be an OptionPosition",
    ),
    (
        "revalue price str",
        lambda: revalue(ACCOUNT, SCEN, horizon_days=1.0, prices={"BTC": "abc"}),
        r"prices\['BTC'\] must be a number",
    ),
    ("pnl horizon None", lambda: portfolio_pnl(SPEC, SCEN, horizon_days=None), "horizon_days must be a number"),
    (
        "pnl funding str",
        lambda: portfolio_pnl(SPEC, SCEN, horizon_days=1, funding_rate="abc"),
        "funding_rate must be a number",
    ),
    (
        "pnl funding big",
        lambda: portfolio_pnl(SPEC, SCEN, horizon_days=1, funding_rate=10**400),
        "funding_rate must be a number",
    ),
    (
        "pnl funding list",
        lambda: portfolio_pnl(SPEC, SCEN, horizon_days=1, funding_rate=[]),
        "funding_rate must be a number",
    ),
    ("pvar prices str", lambda: _pvar(prices="abc"), "prices must be a mapping"),
    ("pvar vol str", lambda: _pvar(vol="abc"), "vol must be a number"),
    ("pvar vol big", lambda: _pvar(vol=10**400), "vol must be a number"),
    ("pvar vol list", lambda: _pvar(vol=[]), "vol must be a number"),
    ("pvar vol True", lambda: _pvar(vol=True), "vol must be a number"),
    ("pvar vol map str", lambda: _pvar(vol={"BTC": "abc", "ETH": 0.7}), r"vol\['BTC'\] must be a number"),
    ("pvar correlation str", lambda: _pvar(correlation="abc"), "correlation must be"),
    ("pvar correlation obj", lambda: _pvar(correlation=object()), "correlation must be"),
    ("pvar horizon 1e308", lambda: _pvar(horizon_days=1e308), "horizon_days must be at most"),
    ("pvar horizon None", lambda: _pvar(horizon_days=None), "horizon_days must be a number"),
    ("pvar horizon str", lambda: _pvar(horizon_days="abc"), "horizon_days must be a number"),
    ("pvar horizon big", lambda: _pvar(horizon_days=10**400), "horizon_days must be a number"),
    ("pvar n_sims None", lambda: _pvar(n_sims=None), "n_sims must be a whole number"),
    ("pvar n_sims str", lambda: _pvar(n_sims="abc"), "n_sims must be a whole number"),
    ("pvar n_sims inf", lambda: _pvar(n_sims=math.inf), "n_sims must be a whole number"),
    ("pvar options obj", lambda: _pvar(options=object()), "options must be a sequence"),
    ("pvar options str", lambda: _pvar(options="abc"), "options must be a sequence"),
    ("pvar returns str", lambda: _pvar(returns="abc"), "returns must be"),
    ("pvar returns obj", lambda: _pvar(returns=object()), "returns must be"),
    ("pvar nu str", lambda: _pvar(nu="abc"), "nu must be a number"),
    ("pvar steps str", lambda: _pvar(steps_per_day="abc"), "steps_per_day must be a whole number"),
    # stress scenarios
    ("grid price_moves None", lambda: grid_scenarios(None, (0.0,)), "price_moves must be a sequence"),
    ("grid vol_shifts None", lambda: grid_scenarios((-0.1,), None), "vol_shifts must be a sequence"),
    ("grid price_moves []", lambda: grid_scenarios([], (0.0,)), "price_moves must hold at least one"),
    ("grid vol_shifts []", lambda: grid_scenarios((-0.1,), []), "vol_shifts must hold at least one"),
    ("apply account None", lambda: apply_scenario(None, Scenario("x", -0.1)), "account must be a Account"),
    ("apply scenario None", lambda: apply_scenario(ACCOUNT, None), "scenario must be a Scenario"),
    ("Scenario price_shock None", lambda: Scenario("x", None), "price_shock must be a number"),
    ("Scenario price_shock big", lambda: Scenario("x", 10**400), "price_shock must be a number"),
    ("Scenario price_shock True", lambda: Scenario("x", True), "price_shock must be a number"),
    ("Scenario vol_shock None", lambda: Scenario("x", -0.3, vol_shock=None), "vol_shock must be a number"),
    ("Scenario vol_shock big", lambda: Scenario("x", -0.3, vol_shock=10**400), "vol_shock must be a number"),
    ("Scenario vol_shock True", lambda: Scenario("x", -0.3, vol_shock=True), "vol_shock must be a number"),
    ("Scenario name int", lambda: Scenario(1, -0.3), "name must be a str"),
    ("Scenario kind int", lambda: Scenario("x", -0.3, kind=1), "kind must be a str"),
    ("Scenario source int", lambda: Scenario("x", -0.3, source=1), "source must be a str"),
    ("venue_default venue int", lambda: venue_default(1), "venue must be a venue name"),
    ("venue_default name int", lambda: venue_default("ftx", 1), "name must be a str"),
    # closed-form and sample VaR
    ("t nu None", lambda: cvar.student_t_var(0.99, nu=None, scale=1.7), "nu must be a number"),
    ("t nu str", lambda: cvar.student_t_var(0.99, nu="abc", scale=1.7), "nu must be a number"),
    ("t nu big", lambda: cvar.student_t_var(0.99, nu=10**400, scale=1.7), "nu must be a number"),
    ("t mean None", lambda: cvar.student_t_var(0.99, nu=3.0, scale=1.7, mean=None), "mean must be a number"),
    ("t mean str", lambda: cvar.student_t_var(0.99, nu=3.0, scale=1.7, mean="abc"), "mean must be a number"),
    ("t mean big", lambda: cvar.student_t_var(0.99, nu=3.0, scale=1.7, mean=10**400), "mean must be a number"),
    ("t mean True", lambda: cvar.student_t_var(0.99, nu=3.0, scale=1.7, mean=True), "mean must be a number"),
    ("t sd str", lambda: cvar.student_t_var(0.99, nu=3.0, sd="abc"), "sd must be a number"),
    ("t sd big", lambda: cvar.student_t_var(0.99, nu=3.0, sd=10**400), "sd must be a number"),
    ("t sd list", lambda: cvar.student_t_var(0.99, nu=3.0, sd=[]), "sd must be a number"),
    ("t scale str", lambda: cvar.student_t_var(0.99, nu=3.0, scale="abc"), "scale must be a number"),
    ("t scale big", lambda: cvar.student_t_var(0.99, nu=3.0, scale=10**400), "scale must be a number"),
    ("t scale list", lambda: cvar.student_t_var(0.99, nu=3.0, scale=[]), "scale must be a number"),
    ("t scale True", lambda: cvar.student_t_var(0.99, nu=3.0, scale=True), "scale must be a number"),
    ("cf skew None", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, skew=None), "skew must be a number"),
    ("cf skew str", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, skew="abc"), "skew must be a number"),
    ("cf skew big", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, skew=10**400), "skew must be a number"),
    ("cf skew True", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, skew=True), "skew must be a number"),
    ("cf kurt None", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, excess_kurtosis=None), "excess_kurtosis must be"),
    ("cf kurt str", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, excess_kurtosis="abc"), "excess_kurtosis must be"),
    ("cf kurt big", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, excess_kurtosis=10**400), "excess_kurtosis must"),
    ("cf kurt True", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, excess_kurtosis=True), "excess_kurtosis must"),
    ("cf sd True", lambda: cvar.cornish_fisher_var(0.975, sd=True), "sd must be a number"),
    ("cf mean True", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, mean=True), "mean must be a number"),
    ("cf horizon True", lambda: cvar.cornish_fisher_var(0.975, sd=1.0, horizon_days=True), "horizon_days must be"),
    ("normal sd True", lambda: cvar.normal_var(0.99, sd=True), "sd must be a number"),
    ("normal mean True", lambda: cvar.normal_var(0.99, sd=1.0, mean=True), "mean must be a number"),
    ("historical sample True", lambda: cvar.historical_var(True, 0.99), "sample must be numbers"),
    ("mc sample True", lambda: cvar.monte_carlo_var(True, 0.99), "sample must be numbers"),
    ("fhs horizon None", lambda: cvar.fhs_var(RESID, 0.02, 0.99, horizon_days=None), "horizon_days must be a whole"),
    ("fhs horizon str", lambda: cvar.fhs_var(RESID, 0.02, 0.99, horizon_days="abc"), "horizon_days must be a whole"),
    ("fhs horizon inf", lambda: cvar.fhs_var(RESID, 0.02, 0.99, horizon_days=math.inf), "horizon_days must be a whole"),
    ("fhs horizon 1e308", lambda: cvar.fhs_var(RESID, 0.02, 0.99, horizon_days=1e308), "horizon_days must be a whole"),
    ("fhs sigma big", lambda: cvar.fhs_var(RESID, 10**400, 0.99), "sigma_next must be"),
    ("fhs garch 0", lambda: cvar.fhs_var(RESID, 0.02, 0.99, horizon_days=2, garch=0), "garch must be a GarchParams"),
    ("fhs n_sims str", lambda: cvar.fhs_var(RESID, 0.02, 0.99, n_sims="abc"), "n_sims must be a whole number"),
    ("fhs n_sims inf", lambda: cvar.fhs_var(RESID, 0.02, 0.99, n_sims=math.inf), "n_sims must be a whole number"),
    ("fhs n_sims list", lambda: cvar.fhs_var(RESID, 0.02, 0.99, n_sims=[]), "n_sims must be a whole number"),
    ("fhs n_sims 1e308", lambda: cvar.fhs_var(RESID, 0.02, 0.99, n_sims=1e308), "n_sims must be a whole number"),
    ("fhs seed str", lambda: cvar.fhs_var(RESID, 0.02, 0.99, n_sims=100, seed="abc"), "seed must be"),
    ("fhs seed -1", lambda: cvar.fhs_var(RESID, 0.02, 0.99, n_sims=100, seed=-1), "seed must be"),
    # volatility
    ("ewma lam big", lambda: ewma_variance(RESID, lam=10**400), "lam must be a number in"),
    ("ewma returns True", lambda: ewma_variance(True), "returns must be numbers"),
    ("periods_per_year big", lambda: periods_per_year(10**400), "interval must be"),
    ("annualise ppy big", lambda: annualise(3e-5, 10**400), "periods_per_year must be"),
    ("annualise var big", lambda: annualise(10**400, 8760.0), "var_per_bar must be a number"),
    ("annualise var True", lambda: annualise(True, 8760.0), "var_per_bar must be numbers"),
    # option records and time order
    (
        "OptionPosition underlying int",
        lambda: OptionPosition("BTC-P", "put", 55_000, 0.1, 3.0, "coin", 0.55, underlying=1),
        "underlying must be a str",
    ),
    (
        "OptionPosition surface nan",
        lambda: OptionPosition("BTC-P", "put", 55_000, 0.1, 3.0, "coin", 0.55, surface=math.nan),
        "surface must be a VolSurface",
    ),
    (
        "realized_vol duplicated bar",
        lambda: realized_vol(pd.concat([BARS, BARS.iloc[[5]]]).sort_index()),
        "data must be in time order",
    ),
    ("realized_vol reversed", lambda: realized_vol(BARS.iloc[::-1]), "data must be in time order"),
    ("fit_garch reversed", lambda: fit_garch(DAILY.iloc[::-1], interval="1d"), "returns must be in time order"),
    # liquidation table and the report's history
    ("table positions None", lambda: prob_liquidation_table(None, 0.6), "positions must be"),
    ("table horizons None", lambda: prob_liquidation_table(REPORT, 0.6, horizons=None), "horizons must be"),
    ("report history Series", lambda: volatility_section(pd.Series([1.0, 2.0])), "history must be a DataFrame"),
]


@pytest.mark.parametrize(("label", "call", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(label: str, call: Callable[[], object], words: str) -> None:
    with pytest.raises(InputError, match=words):
        call()


def test_valid_inputs_still_work() -> None:
    # Whole-number floats and NumPy integers stay valid counts; a Generator stays a valid seed.
    a = bt.acerbi_szekely_z2(*Z2, 0.99, n_sims=200.0, seed=np.random.default_rng(5))
    b = bt.acerbi_szekely_z2(*Z2, 0.99, n_sims=np.int64(200), seed=np.random.default_rng(5))
    assert a.pvalue == b.pvalue
    r1 = cvar.fhs_var(RESID, 0.02, 0.99, horizon_days=2.0, n_sims=500, seed=3)
    r2 = cvar.fhs_var(RESID, 0.02, 0.99, horizon_days=2, n_sims=500, seed=3)
    assert r1.var == r2.var
    assert r1.es == r2.es
    t1 = _backtest(window=100.0)
    t2 = _backtest(window=100)
    assert t1.z2.statistic == t2.z2.statistic
    assert len(grid_scenarios()) == 10
    assert Scenario("x", np.float64(-0.2), funding_intervals=np.int64(3)).price_shock == -0.2
