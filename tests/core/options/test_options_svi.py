"""SVI: calibration recovers known smiles; butterfly and calendar arbitrage are detected."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.core.options.svi import DEFAULT_K_GRID, durrleman_g_numeric
from levguard.errors import InputError
from levguard.options import (
    SVIParams,
    black76,
    check_butterfly,
    check_calendar,
    durrleman_g,
    fit_svi,
    fit_svi_from_prices,
)

# Gatheral & Jacquier (2014), section 3.1 ("Axel Vogt"): raw SVI at T = 1 with butterfly arbitrage.
VOGT = SVIParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)

KNOWN = [
    (SVIParams(0.04, 0.2, -0.4, 0.05, 0.15), 0.5),
    (SVIParams(0.002, 0.04, -0.2, -0.01, 0.05), 14 / 365),
    (SVIParams(0.15, 0.35, 0.3, 0.1, 0.4), 2.0),
]


@pytest.mark.parametrize(("true", "T"), KNOWN)
@pytest.mark.parametrize("space", ["vol", "variance"])
def test_fit_recovers_known_parameters(true: SVIParams, T: float, space: str) -> None:
    F = 60_000.0
    k = np.linspace(-4.0, 3.0, 29) * math.sqrt(T) * 0.6
    fit = fit_svi(F * np.exp(k), true.implied_vol(k, T), F, T, space=space)  # type: ignore[arg-type]
    np.testing.assert_allclose(fit.params.as_array(), true.as_array(), atol=1e-6)
    assert fit.rmse_vol < 1e-8
    assert fit.success
    assert fit.arbitrage_free
    assert fit.n_quotes == 29


def test_fit_to_noisy_quotes_has_noise_sized_error() -> None:
    true, T, F = KNOWN[0][0], KNOWN[0][1], 60_000.0
    k = np.linspace(-0.8, 0.6, 41)
    noise = np.random.default_rng(3).normal(0.0, 0.003, k.size)
    fit = fit_svi(F * np.exp(k), true.implied_vol(k, T) + noise, F, T)
    assert 0.001 < fit.rmse_vol < 0.004
    np.testing.assert_allclose(fit.params.implied_vol(k, T), true.implied_vol(k, T), atol=0.003)


def test_fit_from_coin_prices_deribit_style() -> None:
    # Deribit BTC options are quoted in BTC; fit the smile straight from coin prices.
    true, T, F = SVIParams(0.02, 0.1, -0.3, 0.0, 0.1), 30 / 365, 60_000.0
    K = np.arange(40_000.0, 90_001.0, 2_500.0)
    vol = true.implied_vol(np.log(K / F), T)
    kind = np.where(K >= F, 1.0, -1.0)
    prices = np.asarray(black76(kind, F, K, T, vol, 0.0, "coin").price)
    prices[0] = -0.01  # a bad quote: below intrinsic, dropped by the inversion
    fit = fit_svi_from_prices(prices, kind, K, F, T, settlement="coin")
    assert fit.n_quotes == K.size - 1
    np.testing.assert_allclose(fit.params.implied_vol(np.log(K / F), T), vol, atol=1e-7)


def test_vogt_example_has_butterfly_arbitrage() -> None:
    check = check_butterfly(VOGT)
    assert not check.ok
    assert check.lee_ok  # the arbitrage is in the body of the smile, not the wings
    assert check.min_g < -0.03
    assert 0.8 < check.k_at_min < 1.0
    assert check.violations.min() > 0.5
    assert check.violations.max() < 1.4
    # Analytic g agrees with finite differences of w.
    g_num = durrleman_g_numeric(DEFAULT_K_GRID, VOGT.total_variance(DEFAULT_K_GRID))
    np.testing.assert_allclose(g_num[5:-5], durrleman_g(VOGT, DEFAULT_K_GRID)[5:-5], atol=1e-4)


def test_lee_wing_bound_violation_detected() -> None:
    steep = SVIParams(0.04, 1.5, 0.5, 0.0, 0.2)  # right wing slope b (1 + rho) = 2.25 > 2
    check = check_butterfly(steep, np.linspace(-0.5, 0.5, 101))
    assert not check.lee_ok
    assert not check.ok
    assert check.wing_slope == pytest.approx(2.25)


def test_calendar_check() -> None:
    short = SVIParams(0.01, 0.1, -0.3, 0.0, 0.1)
    long_ok = SVIParams(0.03, 0.15, -0.3, 0.0, 0.15)
    assert check_calendar([(1.0, long_ok), (0.25, short)]).ok
    # Level below the short slice's near the money: crossing on the grid.
    long_low = SVIParams(0.0, 0.15, -0.3, 0.0, 0.05)
    bad = check_calendar([(0.25, short), (1.0, long_low)])
    assert not bad.ok
    (v,) = bad.violations
    assert (v.t_short, v.t_long) == (0.25, 1.0)
    assert v.k.size > 0
    assert v.k.min() > -0.2
    assert v.k.max() < 0.35
    assert not v.wings
    assert v.max_gap > 0.0
    # Higher level but flatter wings: they cross beyond the grid; only the slopes reveal it.
    flat = SVIParams(0.05, 0.09, -0.3, 0.0, 0.1)
    wings = check_calendar([(0.25, short), (1.0, flat)], np.linspace(-1.0, 1.0, 201))
    assert not wings.ok
    assert wings.violations[0].wings
    assert wings.violations[0].k.size == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"b": -0.1}, "SVI b must be >= 0"),
        ({"rho": 1.0}, r"SVI rho must be in \(-1, 1\)"),
        ({"sigma": 0.0}, "SVI sigma must be > 0"),
        ({"a": -1.0}, "minimum total variance"),
        ({"m": float("nan")}, "SVI m must be a finite number"),
    ],
)
def test_invalid_svi_params(kwargs: dict[str, float], match: str) -> None:
    base = {"a": 0.04, "b": 0.2, "rho": -0.4, "m": 0.0, "sigma": 0.1}
    base.update(kwargs)
    with pytest.raises(InputError, match=match):
        SVIParams(**base)


def test_fit_input_errors() -> None:
    with pytest.raises(InputError, match="at least 5 quotes"):
        fit_svi([90.0, 100.0, 110.0, 120.0], [0.5, 0.45, 0.5, 0.55], 100.0, 0.5)
    with pytest.raises(InputError, match="same length"):
        fit_svi([90.0, 100.0, 110.0, 120.0, 130.0], [0.5, 0.45, 0.5], 100.0, 0.5)
    with pytest.raises(InputError, match="vol must be finite and > 0"):
        fit_svi([90.0, 100.0, 110.0, 120.0, 130.0], [0.5, 0.45, 0.0, 0.5, 0.6], 100.0, 0.5)
    with pytest.raises(InputError, match="weights"):
        fit_svi([90.0, 100.0, 110.0, 120.0, 130.0], [0.5, 0.45, 0.4, 0.5, 0.6], 100.0, 0.5, weights=[1, 1, 1, 1, -1])


@pytest.mark.parametrize("weights", [[1.0, 2.0, 3.0], [1.0] * 10, [-1.0] * 9])
def test_price_fit_weights_are_one_per_quote(weights: list[float]) -> None:
    # A review: 9 quotes with 3 weights raised IndexError (a boolean mask of 9 on 3 weights)
    # before fit_svi's own check could name them.
    F, T = 60_000.0, 0.2
    K = np.linspace(40_000.0, 80_000.0, 9)
    prices = black76("call", F, K, T, 0.6).price
    with pytest.raises(InputError, match=r"weights must be finite, >= 0, not all 0 and one per quote \(9 quotes\)"):
        fit_svi_from_prices(prices, "call", K, F, T, weights=weights)
    with pytest.raises(InputError, match=r"one per quote \(9 quotes\)"):
        fit_svi(K, np.full(9, 0.6), F, T, weights)
