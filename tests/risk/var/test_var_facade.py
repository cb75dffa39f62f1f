"""levguard.risk.var: portfolio VaR by every method and the rolling backtest."""

from __future__ import annotations

import doctest
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import levguard.risk.var as facade
from levguard.core.risk.portfolio import OptionPosition
from levguard.errors import InputError
from levguard.risk.var import portfolio_pnl, portfolio_var, var_backtest

P0 = 60000.0


def _spec(mode: str = "cross", wallet: float = 1e7, qty: float = 1.0, leverage: float = 10) -> dict[str, object]:
    return {
        "venue": "binance-usdm",
        "margin_mode": mode,
        "wallet_balance": wallet,
        "positions": [{"symbol": "BTCUSDT", "qty": qty, "entry_price": P0, "mark_price": P0, "leverage": leverage}],
    }


@pytest.fixture(scope="module")
def daily_returns() -> pd.Series:
    rng = np.random.default_rng(42)
    idx = pd.date_range("2022-01-01", periods=700, freq="D", tz="UTC")
    return pd.Series(rng.standard_t(5, 700) * 0.03 / math.sqrt(5 / 3), index=idx)


def test_monte_carlo_converges_to_gbm_closed_form() -> None:
    """Linear long under driftless GBM: VaR = P0 (1 - e^{-s^2/2 - s z}), ES = P0 (1 - Phi(-z - s)/(1 - a))."""
    level, h, vol = 0.99, 5, 0.8
    r = portfolio_var(
        _spec(), method="monte_carlo", level=level, horizon_days=h, vol=vol, n_sims=200_000, seed=7, steps_per_day=1
    )
    s = vol * math.sqrt(h / 365)
    z = stats.norm.ppf(level)
    var = P0 * (1 - math.exp(-0.5 * s * s - s * z))
    es = P0 * (1 - stats.norm.cdf(-z - s) / (1 - level))
    assert r.var == pytest.approx(var, rel=0.01)
    assert r.es == pytest.approx(es, rel=0.01)
    assert r.details["var_ci_low"] <= var <= r.details["var_ci_high"]
    assert r.method == "monte_carlo"
    assert r.details["mean_pnl"] == pytest.approx(0.0, abs=4 * P0 * s / math.sqrt(200_000))


def test_delta_normal_matches_closed_form_with_carry() -> None:
    level, h, vol, rate = 0.99, 2, 0.6, 0.0002
    r = portfolio_var(_spec(), method="normal", level=level, horizon_days=h, vol=vol, funding_rate=rate)
    sd = P0 * vol / math.sqrt(365) * math.sqrt(h)
    carry = -P0 * rate * 3 * h  # long pays
    z = stats.norm.ppf(level)
    assert r.details["delta:BTC"] == pytest.approx(P0, rel=1e-6)
    assert r.details["carry"] == pytest.approx(carry)
    assert r.var == pytest.approx(-carry + sd * z, rel=1e-6)
    assert r.es == pytest.approx(-carry + sd * stats.norm.pdf(z) / (1 - level), rel=1e-6)


def test_isolated_truncation_caps_var_and_es(daily_returns: pd.Series) -> None:
    spec = _spec(mode="isolated", wallet=0.0, leverage=50)
    for method in ("historical", "monte_carlo"):
        r = portfolio_var(spec, method=method, returns=daily_returns * 3, vol=3.0, seed=1, liquidation_fee_rate=0.0005)
        assert r.es <= 1200 + 0.0005 * 60000 + 1e-6
        assert r.details["p_liquidated:BTCUSDT"] > 0
    cross = portfolio_var(_spec(wallet=1e6, leverage=50), method="historical", returns=daily_returns * 3)
    assert cross.es > 1200 + 30


def test_historical_is_full_revaluation_of_overlapping_windows(daily_returns: pd.Series) -> None:
    r = portfolio_var(_spec(), method="historical", level=0.975, horizon_days=3, returns=daily_returns)
    x = daily_returns.to_numpy()
    sums = np.convolve(x, np.ones(3), mode="valid")
    pnl = P0 * (np.exp(sums) - 1)
    from levguard.core.risk.var import historical_var

    ref = historical_var(pnl, 0.975, kind="pnl")
    assert r.var == pytest.approx(ref.var)
    assert r.es == pytest.approx(ref.es)
    assert r.n == x.size - 2


def test_fhs_t_and_cornish_fisher_run(daily_returns: pd.Series) -> None:
    fhs1 = portfolio_var(_spec(), method="fhs", returns=daily_returns)
    assert fhs1.n == daily_returns.size
    assert fhs1.details["sigma_next:BTC"] > 0
    fhs5 = portfolio_var(_spec(), method="fhs", returns=daily_returns, horizon_days=5, n_sims=2000, seed=3)
    assert fhs5.var > fhs1.var
    t = portfolio_var(_spec(), method="t", returns=daily_returns)
    n = portfolio_var(_spec(), method="normal", returns=daily_returns)
    assert 3 < t.details["nu"] < 10
    assert t.es > n.es
    cf = portfolio_var(_spec(), method="cornish_fisher", returns=daily_returns)
    assert cf.details["excess_kurtosis"] > 0
    fixed = portfolio_var(_spec(), method="t", vol=0.5, nu=4.0)
    assert fixed.details["nu"] == 4.0


def test_short_option_book_in_usd_and_multi_underlying() -> None:
    spec = {
        "venue": "binance-usdm",
        "margin_mode": "cross",
        "wallet_balance": 1e6,
        "positions": [
            {"symbol": "BTCUSDT", "qty": 1, "entry_price": P0, "mark_price": P0, "leverage": 10},
            {"symbol": "ETHUSDT", "qty": -10, "entry_price": 3000, "mark_price": 3000, "leverage": 10},
        ],
    }
    corr = np.array([[1.0, 0.8], [0.8, 1.0]])
    hedge = portfolio_var(
        spec, method="monte_carlo", vol={"BTC": 0.6, "ETH": 0.8}, correlation=corr, seed=2, n_sims=20_000
    )
    outright = portfolio_var(
        spec, method="monte_carlo", vol={"BTC": 0.6, "ETH": 0.8}, correlation=np.eye(2), seed=2, n_sims=20_000
    )
    assert hedge.var < outright.var
    short_call = OptionPosition("BTC-30D-70000-C", "call", 70000, 30 / 365, -5.0, "usd", 0.6)
    with_opt = portfolio_var(
        spec,
        method="monte_carlo",
        vol={"BTC": 0.6, "ETH": 0.8},
        correlation=corr,
        seed=2,
        n_sims=20_000,
        options=[short_call],
    )
    assert with_opt.var != hedge.var
    parametric = portfolio_var(
        spec, method="normal", vol={"BTC": 0.6, "ETH": 0.8}, correlation=corr, options=[short_call]
    )
    assert parametric.details["delta:BTC"] < P0  # the short call's delta offsets the perp


def test_portfolio_pnl_wrapper() -> None:
    out = portfolio_pnl(_spec(), {"BTC": [1.0, 1.1]}, horizon_days=1, funding_rate=0.0001)
    np.testing.assert_allclose(out.pnl, [-18.0, 6000.0 - 18.0])


def test_portfolio_pnl_counts_the_venues_funding_intervals() -> None:
    """A day is 3 funding intervals on Binance and 24 on Hyperliquid (hourly): the same carry
    quoted per 8 hours there and per hour here."""
    hl = {**_spec(), "venue": "hyperliquid"}
    hl["positions"] = [{**hl["positions"][0], "symbol": "BTC"}]  # type: ignore[index]
    np.testing.assert_allclose(portfolio_pnl(hl, {"BTC": [1.0]}, horizon_days=1, funding_rate=1.25e-5).pnl, [-18.0])
    eight = portfolio_pnl(hl, {"BTC": [1.0]}, horizon_days=1, funding_rate=1.25e-5, funding_interval_hours=8)
    np.testing.assert_allclose(eight.pnl, [-2.25])
    for hours in (Decimal("8"), "8", np.float32(8.0)):  # a spec's numbers, as the former float() read them
        pnl = portfolio_pnl(hl, {"BTC": [1.0]}, horizon_days=1, funding_rate=1.25e-5, funding_interval_hours=hours)
        np.testing.assert_allclose(pnl.pnl, [-2.25])


def test_spec_file_input(tmp_path: Path) -> None:
    import json

    path = tmp_path / "acct.json"
    path.write_text(json.dumps(_spec()))
    r = portfolio_var(path, method="normal", vol=0.5)
    assert r.var > 0


def test_facade_input_errors(daily_returns: pd.Series) -> None:
    with pytest.raises(InputError, match="method must be"):
        portfolio_var(_spec(), method="garch", vol=0.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="needs returns"):
        portfolio_var(_spec(), method="historical")
    with pytest.raises(InputError, match="give vol"):
        portfolio_var(_spec(), method="monte_carlo")
    with pytest.raises(InputError, match="level"):
        portfolio_var(_spec(), method="normal", vol=0.5, level=99)
    with pytest.raises(InputError, match="whole number"):
        portfolio_var(_spec(), method="historical", returns=daily_returns, horizon_days=1.5)
    with pytest.raises(InputError, match="several underlyings"):
        portfolio_var(
            _spec(),
            method="monte_carlo",
            vol=0.5,
            options=[OptionPosition("ETH-X", "call", 3000, 0.1, 1, "usd", 0.5)],
            prices={"ETH": 3000},
        )
    with pytest.raises(InputError, match="no column"):
        portfolio_var(_spec(), method="historical", returns=pd.DataFrame({"ETH": daily_returns}))
    with pytest.raises(InputError, match="window"):
        var_backtest(daily_returns, window=10)
    with pytest.raises(InputError, match="method must be"):
        var_backtest(daily_returns, method="monte_carlo", window=100)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["historical", "normal", "t", "cornish_fisher", "fhs"])
def test_var_backtest_every_method(daily_returns: pd.Series, method: str) -> None:
    b = var_backtest(daily_returns, method=method, level=0.975, window=250, refit_every=100, n_sims=500, seed=1)  # type: ignore[arg-type]
    f = b.forecasts
    assert len(f) == daily_returns.size - 250
    assert f.index[0] == daily_returns.index[250]
    assert (f["es"] >= f["var"] - 1e-12).all()
    assert (f["exception"] == (f["loss"] > f["var"])).all()
    assert b.kupiec.exceptions == int(f["exception"].sum())
    s = b.summary()
    assert list(s.index) == [
        "kupiec_pof",
        "christoffersen_ind",
        "christoffersen_cc",
        "basel_traffic_light",
        "acerbi_szekely_z2",
    ]
    # i.i.d. scaled-t data: the fat-tailed and empirical models pass the coverage test.
    if method in ("historical", "t", "fhs"):
        assert b.kupiec.verdict == "accept"


@pytest.mark.parametrize("method", ["normal", "historical", "t", "cornish_fisher", "fhs"])
def test_var_backtest_no_look_ahead(daily_returns: pd.Series, method: str) -> None:
    """Changing a return on day t changes forecasts only after t (fhs: day 300 lies in the block
    of forecasts 250-299, whose GARCH filter started from the variance of every day it filtered)."""
    kw = {"method": method, "window": 100, "n_sims": 200, "seed": 0, "refit_every": 50}
    a = var_backtest(daily_returns, **kw).forecasts  # type: ignore[arg-type]
    bumped = daily_returns.copy()
    bumped.iloc[300] = -0.5
    b = var_backtest(bumped, **kw).forecasts  # type: ignore[arg-type]
    changed = a["var"].ne(b["var"])
    assert changed.loc[: daily_returns.index[300]].sum() == 0
    assert changed.loc[daily_returns.index[301] :].any()


def test_short_side_backtest(daily_returns: pd.Series) -> None:
    long_ = var_backtest(daily_returns, method="historical", window=100, n_sims=200, seed=0).forecasts
    short = var_backtest(daily_returns, method="historical", window=100, n_sims=200, seed=0, side="short").forecasts
    np.testing.assert_allclose(short["loss"], -long_["loss"])


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_var_backtest_refuses_infinite_returns_by_their_input_position(daily_returns: pd.Series, bad: float) -> None:
    """An array lost an infinite day silently (700 returns gave 669 forecasts, not 670); a Series
    failed with "pnl[70] must be finite", an internal argument at a forecast row.  Both now name
    the input's own position; NaN alone is dropped."""
    values = daily_returns.to_numpy().copy()
    values[100] = bad
    with pytest.raises(InputError, match=r"^returns\[100\] must be finite \(NaN is dropped\)"):
        var_backtest(values, window=30, n_sims=100)
    with pytest.raises(InputError, match=r"^returns\[100\] \(index 2022-04-11 00:00:00\+00:00\) must be finite"):
        var_backtest(pd.Series(values, index=daily_returns.index), window=30, n_sims=100)


def test_var_backtest_drops_only_nan(daily_returns: pd.Series) -> None:
    s = daily_returns.copy()
    s.iloc[[200, 201]] = np.nan
    for returns in (s, s.to_numpy()):
        b = var_backtest(returns, window=30, n_sims=100, seed=0)
        assert len(b.forecasts) == 700 - 2 - 30
    assert s.index[200] not in var_backtest(s, window=30, n_sims=100, seed=0).forecasts.index


def test_var_backtest_fhs_window_is_at_least_the_garch_minimum(daily_returns: pd.Series) -> None:
    """The docstring promised windows >= 30, but fhs died inside the GARCH fit ("returns must hold
    at least 100 values") below 100; the window itself is checked and named."""
    with pytest.raises(InputError, match=r"window must be >= 100 for method 'fhs'.*was 50"):
        var_backtest(daily_returns, method="fhs", window=50, n_sims=100)


@pytest.mark.shared_data
def test_btc_daily_rolling_backtest(shared_dir: Path) -> None:
    from levguard.data.loaders import load_ohlcv

    bars = load_ohlcv(shared_dir / "data" / "ohlcv" / "BTCUSDT-PERP_1h.csv")
    close = bars["close"].resample("1D").last().dropna()
    r = np.log(close).diff().dropna()
    b = var_backtest(r, method="historical", level=0.99, window=500, n_sims=500, seed=1)
    assert len(b.forecasts) == r.size - 500
    rate = b.kupiec.exceptions / len(b.forecasts)
    assert 0.002 < rate < 0.03
    assert b.traffic_light.zone in ("green", "yellow", "red")


def test_module_doctest() -> None:
    result = doctest.testmod(facade)
    assert result.attempted > 0
    assert result.failed == 0


def test_monte_carlo_refuses_what_does_not_fit_in_memory_and_a_negative_seed() -> None:
    # A negative seed reached numpy's ValueError; 10 million scenarios x 24 steps x 365 days would
    # have asked for 700 GB of normal draws.
    with pytest.raises(InputError, match=r"seed must be a whole number from 0 to 2\*\*63 - 1, was -1"):
        portfolio_var(_spec(), method="monte_carlo", vol=0.5, seed=-1)
    with pytest.raises(InputError, match=r"normal draws; at most 200,000,000 fit in memory"):
        portfolio_var(_spec(), method="monte_carlo", vol=0.5, n_sims=10_000_000, horizon_days=365, steps_per_day=24)
