"""Black-76 prices, Greeks and implied vols against QuantLib (a dev dependency) on a grid.

Conventions converted explicitly (QuantLib ``BlackCalculator(payoff, forward, stdDev, discount)``):

* delta, gamma: ``deltaForward()``, ``gammaForward()`` are dV/dF and d2V/dF2, as ours.
* vega: ``vega(T)`` is dV/dsigma per 1.00 of vol, as ours.
* theta: ``theta(spot, T)`` is the spot-model theta (forward = spot e^{(r-q)T}); with
  ``spot = forward`` (q = r) the forward stays fixed as time passes, which is Black-76's theta
  ``-dV/dT``, ours.
* rho: ``rho(T)`` moves r with the spot fixed (so the forward moves too); Black-76's rho keeps
  the forward fixed, which is ``rho(T) + dividendRho(T)`` (r and q moved together), ``= -T V``.

Tolerance: 1e-10 relative.  Where the value is below 1e-12 of its natural scale (deep out of the
money) QuantLib's direct ``F N(d1) - K N(d2)`` has lost its digits to cancellation (ours uses the
scaled complementary error function and is checked against a log-space formula in
test_options_black76.py), so there the check is absolute, 1e-13 of the scale.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from levguard.options import black76, implied_vol_array

ql = pytest.importorskip(
    "QuantLib", reason="QuantLib (dev dependency) is not installed: skipping the QuantLib comparison"
)

FORWARDS = (100.0, 60_000.0)
MONEYNESS = (0.5, 0.8, 0.95, 1.0, 1.05, 1.25, 2.0)
EXPIRIES = (1.0 / 365.0, 7.0 / 365.0, 0.25, 1.0, 3.0)
VOLS = (0.05, 0.3, 0.8, 1.5)
RATES = (0.0, 0.05, -0.01)
KINDS = (1.0, -1.0)


def _grid() -> dict[str, np.ndarray]:
    rows = []
    for F, m, T, v, r, w in itertools.product(FORWARDS, MONEYNESS, EXPIRIES, VOLS, RATES, KINDS):
        K = F * m
        df = math.exp(-r * T)
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if w > 0 else ql.Option.Put, K)
        bc = ql.BlackCalculator(payoff, F, v * math.sqrt(T), df)
        rows.append(
            (
                w, F, K, T, v, r,
                bc.value(), bc.deltaForward(), bc.gammaForward(), bc.vega(T), bc.theta(F, T),
                bc.rho(T) + bc.dividendRho(T),
            )
        )  # fmt: skip
    a = np.array(rows)
    names = ("w", "F", "K", "T", "vol", "r", "price", "delta", "gamma", "vega", "theta", "rho")
    return {n: a[:, i] for i, n in enumerate(names)}


@pytest.fixture(scope="module")
def grid() -> dict[str, np.ndarray]:
    return _grid()


def _scale(g: dict[str, np.ndarray], name: str) -> np.ndarray:
    F, K, T, v, r = g["F"], g["K"], g["T"], g["vol"], g["r"]
    s = v * np.sqrt(T)
    return {
        "price": F + K,
        "delta": np.ones_like(F),
        "gamma": 1.0 / (F * s),
        "vega": F * np.sqrt(T),
        "theta": F * (v / np.sqrt(T) + np.abs(r)),
        "rho": T * (F + K),
    }[name]


@pytest.mark.parametrize("name", ["price", "delta", "gamma", "vega", "theta", "rho"])
def test_black76_matches_quantlib_on_grid(grid: dict[str, np.ndarray], name: str) -> None:
    res = black76(grid["w"], grid["F"], grid["K"], grid["T"], grid["vol"], grid["r"])
    ours = np.asarray(getattr(res, name))
    ref = grid[name]
    scale = _scale(grid, name)
    err = np.abs(ours - ref)
    # 1e-10 relative, or 1e-14 of the natural scale where QuantLib's own rounding dominates.
    assert np.all(err <= 1e-10 * np.abs(ref) + 1e-14 * scale), (
        f"{name}: worst {np.max(err / (np.abs(ref) + 1e-300)):.3e}"
    )
    # Values above 1e-6 of their scale (where QuantLib keeps >= 9 digits) agree to 1e-10 relative.
    big = np.abs(ref) > 1e-6 * scale
    assert big.mean() > 0.7
    assert np.max(err[big] / np.abs(ref[big])) <= 1e-10


def test_put_call_parity_matches_quantlib_discounting(grid: dict[str, np.ndarray]) -> None:
    calls = grid["w"] > 0
    F, K, T, r, v = (grid[n][calls] for n in ("F", "K", "T", "r", "vol"))
    c = np.asarray(black76("call", F, K, T, v, r).price)
    p = np.asarray(black76("put", F, K, T, v, r).price)
    assert np.all(np.abs(c - p - np.exp(-r * T) * (F - K)) <= 1e-13 * (F + K))
    # QuantLib's prices satisfy the same parity (same discounting convention).
    qc, qp = grid["price"][calls], grid["price"][~calls]
    assert np.all(np.abs(qc - qp - np.exp(-r * T) * (F - K)) <= 1e-13 * (F + K))


def test_implied_vol_matches_quantlib() -> None:
    cases = list(itertools.product((0.7, 0.9, 1.0, 1.1, 1.5), (7.0 / 365.0, 0.5, 2.0), (0.1, 0.5, 1.2), KINDS))
    F, r = 60_000.0, 0.03
    ours_in, ql_vol = [], []
    for m, T, v, w in cases:
        K = F * m
        df = math.exp(-r * T)
        kind = ql.Option.Call if w > 0 else ql.Option.Put
        price = ql.blackFormula(kind, K, F, v * math.sqrt(T), df)
        std = ql.blackFormulaImpliedStdDev(kind, K, F, price, df, 0.0, ql.nullDouble(), 1e-14, 1000)
        ours_in.append((price, w, K, T))
        ql_vol.append(std / math.sqrt(T))
    p, w, K, T = (np.array(c) for c in zip(*ours_in, strict=True))
    truth = np.array([c[2] for c in cases])
    res = implied_vol_array(p, w, F, K, T, r)
    assert np.all(res.ok)
    # Where QuantLib's own price keeps >= 7 digits of time value both solvers recover the vol.
    # (Below that QuantLib's direct F N(d1) - K N(d2) has lost the digits the IV depends on.)
    time_value = p * np.exp(r * T) - np.maximum(w * (F - K), 0.0)
    informative = time_value > 1e-9 * F
    assert informative.sum() >= 75
    np.testing.assert_allclose(res.vol[informative], np.array(ql_vol)[informative], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.vol[informative], truth[informative], rtol=0, atol=1e-9)
    # Deep ITM quotes whose time value is rounding noise give 0, not a vol made of noise.
    noise = time_value <= 8 * np.finfo(float).eps * p * np.exp(r * T)
    assert noise.sum() >= 2
    np.testing.assert_array_equal(res.vol[noise], 0.0)
