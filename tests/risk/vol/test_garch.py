"""levguard.risk.garch: parameter recovery on data simulated by arch's own simulator, leverage
detection, forecasts against the closed form, units, annualisation, warnings and errors."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch.univariate import GARCH, StudentsT, ZeroMean
from scipy.special import gammaln

from levguard.errors import DataError, InputError
from levguard.risk.garch import GarchFit, fit_garch

N = 4_000
# Simulated in percent (omega in percent^2) and divided by 100: returns as fractions.
SYM = {"omega": 0.02e-4, "alpha": 0.08, "beta": 0.90, "nu": 6.0}
ASYM = {"omega": 0.02e-4, "alpha": 0.02, "gamma": 0.12, "beta": 0.90, "nu": 6.0}


def simulate(params: dict[str, float], seed: int, n: int = N) -> np.ndarray:
    o = 1 if "gamma" in params else 0
    model = ZeroMean(volatility=GARCH(p=1, o=o, q=1), distribution=StudentsT(seed=np.random.default_rng(seed)))
    pct = [params["omega"] * 1e4, params["alpha"], *([params["gamma"]] if o else []), params["beta"], params["nu"]]
    return model.simulate(pct, n, burn=500)["data"].to_numpy() / 100.0


@pytest.fixture(scope="module")
def sym_returns() -> np.ndarray:
    return simulate(SYM, seed=0)


@pytest.fixture(scope="module")
def asym_returns() -> np.ndarray:
    return simulate(ASYM, seed=1)


@pytest.fixture(scope="module")
def sym_fit(sym_returns: np.ndarray) -> GarchFit:
    return fit_garch(sym_returns, interval="1h")


def _within(fit: GarchFit, truth: dict[str, float], n_se: float = 4.0) -> None:
    for name, value in truth.items():
        est, se = fit.params[name], fit.std_errors[name]
        assert abs(est - value) < n_se * se, (name, est, value, se)


def test_recovers_garch_t_parameters(sym_fit: GarchFit) -> None:
    _within(sym_fit, SYM)
    assert abs(sym_fit.params["alpha"] - SYM["alpha"]) < 0.03
    assert abs(sym_fit.params["beta"] - SYM["beta"]) < 0.04
    assert abs(sym_fit.nu - SYM["nu"]) < 1.5
    assert sym_fit.persistence == pytest.approx(sym_fit.params["alpha"] + sym_fit.params["beta"], rel=1e-14)
    assert abs(sym_fit.persistence - 0.98) < 0.02
    assert set(sym_fit.params) == {"omega", "alpha", "beta", "nu"}
    assert sym_fit.warnings == ()


def test_gjr_detects_leverage(asym_returns: np.ndarray, sym_returns: np.ndarray) -> None:
    gjr = fit_garch(asym_returns, model="gjr", interval="1h")
    _within(gjr, ASYM)
    assert gjr.params["gamma"] > 3.0 * gjr.std_errors["gamma"]
    assert gjr.persistence == pytest.approx(
        gjr.params["alpha"] + gjr.params["beta"] + 0.5 * gjr.params["gamma"], rel=1e-14
    )
    # The asymmetric model fits asymmetric data better ...
    assert gjr.aic < fit_garch(asym_returns, interval="1h").aic
    # ... and finds no leverage in symmetric data.
    sym = fit_garch(sym_returns, model="gjr", interval="1h")
    assert abs(sym.params["gamma"]) < 3.0 * sym.std_errors["gamma"]


def test_forecast_matches_closed_form_and_converges(sym_returns: np.ndarray, sym_fit: GarchFit) -> None:
    p = sym_fit.params
    ppy = sym_fit.periods_per_year
    var_t = float(sym_fit.conditional_vol[-1]) ** 2 / ppy
    next_var = p["omega"] + p["alpha"] * sym_returns[-1] ** 2 + p["beta"] * var_t
    fc = sym_fit.forecast(2_000)
    assert fc.horizon == 2_000
    assert fc.variance.shape == (2_000,)
    assert fc.variance[0] == pytest.approx(next_var, rel=1e-9)
    ubar = sym_fit.unconditional_variance
    assert ubar == pytest.approx(p["omega"] / (1 - sym_fit.persistence), rel=1e-14)
    j = np.arange(2_000)
    np.testing.assert_allclose(fc.variance, ubar + sym_fit.persistence**j * (next_var - ubar), rtol=1e-9)
    gap = np.abs(fc.variance - ubar)
    assert (np.diff(gap) <= 1e-18).all()
    assert fc.variance[-1] == pytest.approx(ubar, rel=1e-8)
    np.testing.assert_allclose(fc.vol, np.sqrt(fc.variance), rtol=1e-15)
    np.testing.assert_allclose(fc.annualised_vol, np.sqrt(fc.variance * 8760), rtol=1e-15)
    np.testing.assert_allclose(fc.cumulative_variance, np.cumsum(fc.variance), rtol=1e-15)
    np.testing.assert_allclose(fc.cumulative_vol, np.sqrt(np.cumsum(fc.variance)), rtol=1e-15)
    assert sym_fit.half_life == pytest.approx(math.log(0.5) / math.log(sym_fit.persistence), rel=1e-14)


def test_gjr_forecast_closed_form(asym_returns: np.ndarray) -> None:
    fit = fit_garch(asym_returns, model="gjr", interval="1h")
    p = fit.params
    var_t = float(fit.conditional_vol[-1]) ** 2 / fit.periods_per_year
    e = asym_returns[-1]
    next_var = p["omega"] + (p["alpha"] + p["gamma"] * (e < 0)) * e * e + p["beta"] * var_t
    fc = fit.forecast(50)
    ubar = fit.unconditional_variance
    expected = ubar + fit.persistence ** np.arange(50) * (next_var - ubar)
    np.testing.assert_allclose(fc.variance, expected, rtol=1e-9)


def test_annualisation(sym_returns: np.ndarray, sym_fit: GarchFit) -> None:
    daily = fit_garch(sym_returns, interval="1d")
    assert daily.params == sym_fit.params
    assert sym_fit.periods_per_year == 8760.0
    assert daily.periods_per_year == 365.0
    np.testing.assert_allclose(sym_fit.conditional_vol / daily.conditional_vol, math.sqrt(24.0), rtol=1e-12)
    assert sym_fit.unconditional_vol == pytest.approx(math.sqrt(sym_fit.unconditional_variance * 8760.0), rel=1e-14)
    # The annualised unconditional vol is close to the sample vol of the simulated returns.
    assert sym_fit.unconditional_vol == pytest.approx(np.std(sym_returns) * math.sqrt(8760.0), rel=0.2)


def test_loglik_is_in_original_units(sym_returns: np.ndarray, sym_fit: GarchFit) -> None:
    """Recompute the Student-t log-likelihood from the reported parameters and volatilities."""
    nu = sym_fit.nu
    sigma = np.asarray(sym_fit.conditional_vol) / math.sqrt(sym_fit.periods_per_year)
    z = sym_returns / sigma
    const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * math.log(math.pi * (nu - 2))
    ll = np.sum(const - np.log(sigma) - (nu + 1) / 2 * np.log1p(z * z / (nu - 2)))
    assert sym_fit.loglik == pytest.approx(float(ll), rel=1e-9)
    assert sym_fit.aic == pytest.approx(-2 * ll + 2 * 4, rel=1e-9)
    assert sym_fit.bic == pytest.approx(-2 * ll + 4 * math.log(N), rel=1e-9)
    np.testing.assert_allclose(sym_fit.standardized_residuals, z, rtol=1e-9)
    assert np.var(z) == pytest.approx(1.0, abs=0.1)


def test_rescaling_is_invisible(sym_returns: np.ndarray, sym_fit: GarchFit) -> None:
    ten = fit_garch(10.0 * sym_returns, interval="1h")
    assert ten.scale * 10.0 == pytest.approx(sym_fit.scale)
    # The optimiser sees the same numbers up to rounding (r * 1000 vs 10 r * 100).
    for name in ("alpha", "beta", "nu"):
        assert ten.params[name] == pytest.approx(sym_fit.params[name], rel=1e-4)
    assert ten.params["omega"] == pytest.approx(100.0 * sym_fit.params["omega"], rel=1e-4)
    assert ten.loglik == pytest.approx(sym_fit.loglik - N * math.log(10.0), rel=1e-8)
    raw = fit_garch(sym_returns, interval="1h", rescale=False)
    assert raw.scale == 1.0
    assert raw.params["alpha"] == pytest.approx(sym_fit.params["alpha"], abs=0.02)
    assert raw.params["beta"] == pytest.approx(sym_fit.params["beta"], abs=0.02)


def test_constant_mean_and_normal_innovations(sym_returns: np.ndarray) -> None:
    fit = fit_garch(sym_returns + 0.0005, mean="constant", dist="normal", interval="1h")
    assert set(fit.params) == {"mu", "omega", "alpha", "beta"}
    assert math.isnan(fit.nu)
    assert fit.params["mu"] == pytest.approx(0.0005, abs=4 * fit.std_errors["mu"])
    z = (sym_returns + 0.0005 - fit.params["mu"]) / (np.asarray(fit.conditional_vol) / math.sqrt(8760))
    np.testing.assert_allclose(fit.standardized_residuals, z, rtol=1e-9)


def test_series_and_frame_inputs(sym_returns: np.ndarray, sym_fit: GarchFit) -> None:
    idx = pd.date_range("2024-01-01", periods=N, freq="h", tz="UTC", name="timestamp")
    series = pd.Series(sym_returns, index=idx)
    fit = fit_garch(series)  # interval from the index spacing
    assert fit.periods_per_year == 8760.0
    assert isinstance(fit.conditional_vol, pd.Series)
    assert fit.conditional_vol.index.equals(idx)
    assert fit.standardized_residuals.index.equals(idx)
    np.testing.assert_allclose(fit.conditional_vol.to_numpy(), sym_fit.conditional_vol, rtol=1e-12)
    close = 100.0 * np.exp(np.r_[0.0, np.cumsum(sym_returns)])
    frame = pd.DataFrame({"close": close}, index=pd.date_range("2024-01-01", periods=N + 1, freq="D", tz="UTC"))
    frame.attrs["interval"] = "1d"
    from_frame = fit_garch(frame)
    assert from_frame.periods_per_year == 365.0
    assert from_frame.nobs == N
    # The closes round-trip the returns to ~1e-16, so the likelihood surface is the same; the
    # optimiser stops within its tolerance of the same optimum (the likelihood is flat there, so
    # parameters agree to ~1e-5 across scipy/numpy builds, the likelihood far tighter).
    assert from_frame.loglik == pytest.approx(sym_fit.loglik, rel=1e-9)
    for name in ("omega", "alpha", "beta", "nu"):
        assert from_frame.params[name] == pytest.approx(sym_fit.params[name], rel=1e-3)
    assert from_frame.conditional_vol.index.equals(frame.index[1:])


def test_no_warning_escapes_and_failed_fit_raises(sym_returns: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_garch(sym_returns, interval="1h", rescale=False)
        fit.forecast(10)
        with pytest.raises(DataError, match="did not converge"):
            fit_garch(sym_returns, interval="1h", max_iter=1)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"returns": np.zeros(50)}, "at least 100 values"),
        ({"returns": np.r_[np.full(200, 0.01), np.nan]}, r"returns must be finite, was returns\[200\]=nan"),
        ({"returns": np.zeros(200)}, "standard deviation of 0"),
        ({"model": "egarch"}, "model must be one of garch, gjr, was 'egarch'"),
        ({"dist": "skewt"}, "dist must be one of t, normal"),
        ({"mean": "ar"}, "mean must be one of zero, constant"),
        # An array was a raw "truth value of an array is ambiguous" ValueError.
        ({"dist": np.array(["t", "normal"])}, "dist must be one of t, normal, was array"),
        ({"model": np.array([1, 2])}, "model must be one of garch, gjr, was array"),
        ({"mean": np.array(["zero", "x"])}, "mean must be one of zero, constant, was array"),
        ({"interval": None}, "interval must be given"),
        ({"interval": "1y"}, "interval must look like"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1, was 0"),
        ({"returns": np.ones((200, 2))}, "returns must be 1-D"),
    ],
)
def test_bad_input(sym_returns: np.ndarray, kwargs: dict[str, object], pattern: str) -> None:
    args: dict[str, object] = {"returns": sym_returns[:500], "interval": "1h", **kwargs}
    with pytest.raises(InputError, match=pattern):
        fit_garch(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("h", [0, -1, 1.5, True])
def test_bad_horizon(sym_fit: GarchFit, h: object) -> None:
    with pytest.raises(InputError, match="h must be an integer >= 1"):
        sym_fit.forecast(h)  # type: ignore[arg-type]


@pytest.mark.shared_data
def test_btc_hourly_fit(shared_dir: Path) -> None:
    """Real BTC perpetual hours: fat tails (nu ~ 3) and near-integrated persistence."""
    from levguard.data.loaders import load_ohlcv

    path = shared_dir / "data" / "ohlcv" / "BTCUSDT-PERP_1h.csv"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    frame = load_ohlcv(path).iloc[-8_761:]
    fit = fit_garch(frame, model="gjr")
    assert fit.periods_per_year == 8760.0
    assert 2.0 < fit.nu < 6.0
    assert fit.persistence > 0.9
    assert np.isfinite(fit.conditional_vol).all()
    if math.isinf(fit.unconditional_variance):
        assert any("IGARCH" in w for w in fit.warnings)
    assert (fit.forecast(24).variance > 0).all()
