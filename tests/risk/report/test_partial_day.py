"""The unfinished last UTC day: daily estimators fit complete days, the GARCH forecast takes the
partial day in one more step with its unseen rest at its expectation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from levguard.core.risk.volatility import garch_partial_step
from levguard.data.synth import SynthConfig, synth_market
from levguard.errors import InputError
from levguard.kernels.vol import garch_step, gjr_garch_step
from levguard.risk.garch import fit_garch
from levguard.risk.report import volatility_section
from levguard.risk.var import portfolio_var
from levguard.risk.vol import daily_returns

# Two years of synthetic hourly bars; the last complete UTC day ends at BARS' last bar.
_MARKET = synth_market(SynthConfig(years=2.0, seed=3, start="2022-06-02"))
BARS = _MARKET.ohlcv.loc[: _MARKET.ohlcv.index[-1].floor("1D") - pd.Timedelta("1h")]
BARS.attrs = dict(_MARKET.ohlcv.attrs)


def _with_bars(frame: pd.DataFrame, closes: list[float]) -> pd.DataFrame:
    # ``frame`` and hourly bars after it closing at ``closes`` (open at the previous close).
    idx = pd.date_range(
        frame.index[-1] + pd.Timedelta("1h"), periods=len(closes), freq="1h", tz="UTC", name=frame.index.name
    )
    opens = [float(frame["close"].iloc[-1]), *closes[:-1]]
    new = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes),
            "low": np.minimum(opens, closes),
            "close": closes,
        },
        index=idx,
    )
    out = pd.concat([frame, new.reindex(columns=frame.columns).fillna({"volume": 0.0})])
    out.attrs = dict(frame.attrs)
    return out


def test_garch_partial_step_is_the_garch_step_at_its_limits() -> None:
    s2, w, a, b, g = 4e-4, 1e-6, 0.08, 0.9, 0.05
    # A whole period seen: the ordinary step with the period's innovation.
    assert garch_partial_step(s2, -0.03, 1.0, w, a, b) == pytest.approx(garch_step(s2, 1.0, -0.03, w, a, b))
    assert garch_partial_step(s2, -0.03, 1.0, w, a, b, g) == pytest.approx(gjr_garch_step(s2, -0.03, w, a, g, b))
    # Nothing seen: the two-step forecast (the unseen innovation at its expectation).
    assert garch_partial_step(s2, 0.0, 0.0, w, a, b) == pytest.approx(w + (a + b) * s2)
    assert garch_partial_step(s2, 0.0, 0.0, w, a, b, g) == pytest.approx(w + (a + g / 2 + b) * s2)
    # A quarter of the day, a 2 % move: E[eps^2] = 0.02^2 + 0.75 sigma2.
    assert garch_partial_step(s2, 0.02, 0.25, w, a, b) == pytest.approx(w + a * (4e-4 + 0.75 * s2) + b * s2)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((0.0, 0.01, 0.5, 1e-6, 0.1, 0.8), "sigma2 must be > 0"),
        ((1e-4, 0.01, 1.5, 1e-6, 0.1, 0.8), "elapsed must be a fraction in \\[0, 1\\], was 1.5"),
        ((1e-4, math.nan, 0.5, 1e-6, 0.1, 0.8), "eps_partial must be finite"),
        ((1e-4, 0.01, 0.5, 1e-6, math.inf, 0.8), "alpha must be finite"),
    ],
)
def test_garch_partial_step_refuses_bad_input(args: tuple[float, ...], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        garch_partial_step(*args)


def test_daily_returns_set_the_unfinished_day_apart() -> None:
    whole = daily_returns(BARS)
    assert whole.partial is None
    assert whole.elapsed == 1.0
    assert whole.complete.index[-1] == BARS.index[-1].floor("1D")
    last = float(BARS["close"].iloc[-1])
    part = daily_returns(_with_bars(BARS, [last * 1.01, last * 1.02, last * 0.97]))  # bars 00:00-02:00
    assert part.elapsed == pytest.approx(3 / 24)  # the 02:00 bar closes at 03:00
    assert part.partial == pytest.approx(math.log(0.97))
    pd.testing.assert_series_equal(part.complete, whole.complete)
    # 4-hour bars: the 20:00 bar closes the day.
    four = BARS["close"].resample("4h").last().to_frame()
    four.attrs = {"interval": "4h"}
    assert daily_returns(four).partial is None


def test_a_partial_day_is_one_more_step_not_a_whole_day() -> None:
    # One hour into a day, the price has not moved.  It was fed to the fit as a whole day's zero
    # return (the forecast pulled down by alpha sigma2); now the fit reads the complete days and
    # the hour is a partial step: E[eps^2] = 0 + 23/24 sigma2.
    hour = _with_bars(BARS, [float(BARS["close"].iloc[-1])])
    section, used, returns = volatility_section(hour)
    fit = fit_garch(daily_returns(BARS).complete.iloc[-1095:], model="garch", dist="t", interval="1d")
    p = fit.params
    var = garch_partial_step(float(fit.forecast(1).variance[0]), 0.0, 1 / 24, p["omega"], p["alpha"], p["beta"])
    assert used == pytest.approx(math.sqrt(var * 365.0), rel=1e-9)
    assert section["garch"]["last_day"] == {"elapsed": pytest.approx(1 / 24), "return": 0.0}
    assert returns.index[-1] == BARS.index[-1].floor("1D")  # the VaR's scenarios: complete days
    # A complete day is the ordinary forecast.
    _s, whole, _r = volatility_section(BARS)
    assert whole == pytest.approx(float(fit.forecast(1).annualised_vol[0]), rel=1e-9)


def test_a_crash_in_progress_raises_the_forecast() -> None:
    # The partial day is not dropped: a -8 % move in the first 4 hours raises the forecast.
    last = float(BARS["close"].iloc[-1])
    calm = volatility_section(_with_bars(BARS, [last] * 4))[1]
    crash = volatility_section(_with_bars(BARS, [last * 0.98, last * 0.96, last * 0.94, last * 0.92]))[1]
    assert crash > calm * 1.05


def test_fhs_takes_the_unfinished_day_in_one_more_step() -> None:
    spec = {
        "venue": "binance-usdm",
        "wallet_balance": 20_000,
        "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 5}],
    }
    rets = daily_returns(BARS).complete
    plain = portfolio_var(spec, method="fhs", returns=rets)
    part = portfolio_var(spec, method="fhs", returns=rets, last_day={"BTC": (-0.05, 0.25)})
    fit = fit_garch(rets, model="garch", dist="t", mean="zero", interval="1d")
    p = fit.params
    s2 = float(fit.forecast(1).variance[0])
    assert plain.details["sigma_next:BTC"] == pytest.approx(math.sqrt(s2))
    want = math.sqrt(garch_partial_step(s2, -0.05, 0.25, p["omega"], p["alpha"], p["beta"]))
    assert part.details["sigma_next:BTC"] == pytest.approx(want)
    assert part.var > plain.var


def test_the_joint_stress_covariance_reads_complete_days() -> None:
    from levguard.risk.joint import _daily_returns

    last = float(BARS["close"].iloc[-1])
    out = _daily_returns(_with_bars(BARS, [last * 0.9]), "BTC")
    assert out.index[-1] == BARS.index[-1].floor("1D")
    assert out.name == "BTC"


def test_fhs_steps_each_asset_through_its_own_days_after_the_joined_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # Histories ending either side of a UTC midnight: BTC to day D 04:00 (complete through D-1),
    # ETH to D-1 12:00 (its 12:00 bar: 13 h of D-1; complete through D-2).  FHS fits on the joined days (to D-2); BTC's
    # complete day D-1 is one ordinary GARCH step before its partial day, not skipped.
    import levguard.risk.var as var_module
    from levguard.risk.report import risk_report

    day = BARS.index[-1].floor("1D") + pd.Timedelta("1D")  # D: BARS ends at D-1 23:00
    btc = _with_bars(BARS, [float(BARS["close"].iloc[-1]) * f for f in (0.99, 0.985, 0.98, 0.975, 0.97)])
    eth_market = synth_market(SynthConfig(years=2.0, seed=5, start="2022-06-02")).ohlcv
    eth = eth_market.loc[: day - pd.Timedelta("12h")]
    eth.attrs = {**eth_market.attrs, "symbol": "ETH-SYNTH"}
    seen: dict[str, float] = {}
    fhs = var_module._fhs_scenarios

    def spy(*args: object, **kwargs: object) -> object:
        out = fhs(*args, **kwargs)  # type: ignore[arg-type]
        seen.update(out[1])
        return out

    monkeypatch.setattr(var_module, "_fhs_scenarios", spy)
    spec = {
        "venue": "binance-usdm",
        "wallet_balance": 100_000,
        "as_of": (day + pd.Timedelta("5h")).isoformat(),
        "positions": [
            {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 5},
            {"symbol": "ETHUSDT", "qty": -10, "entry_price": 3_000, "mark_price": 3_000, "leverage": 5},
        ],
    }
    rep = risk_report(spec, history={"BTC": btc, "ETH": eth}, n_sims=200).to_dict()
    assert next(r for r in rep["accounts"][0]["var"] if r["method"] == "fhs").get("var") is not None

    b, e = daily_returns(btc), daily_returns(eth)
    assert b.complete.index[-1] == day - pd.Timedelta("1D")
    assert b.elapsed == pytest.approx(5 / 24)
    assert e.complete.index[-1] == day - pd.Timedelta("2D")
    assert e.elapsed == pytest.approx(13 / 24)
    joined = pd.DataFrame({"BTC": b.complete, "ETH": e.complete}).dropna()
    for asset, days, steps in (("BTC", b, [float(b.complete.iloc[-1])]), ("ETH", e, [])):
        fit = fit_garch(joined[asset].to_numpy(), model="garch", dist="t", mean="zero", interval="1d")
        p = fit.params
        s2 = float(fit.forecast(1).variance[0])
        for r in steps:  # the asset's complete days after the joined ones: ordinary steps
            s2 = p["omega"] + p["alpha"] * r * r + p["beta"] * s2
        assert days.partial is not None
        want = math.sqrt(garch_partial_step(s2, days.partial, days.elapsed, p["omega"], p["alpha"], p["beta"]))
        assert seen[f"sigma_next:{asset}"] == pytest.approx(want, rel=1e-12)
