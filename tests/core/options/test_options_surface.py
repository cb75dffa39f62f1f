"""Volatility surface: interpolation, extrapolation, pricing, revaluation and shaped shocks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import levguard.options as lo
from levguard.core.options.surface import VOL_FLOOR
from levguard.errors import InputError
from levguard.options import SmileQuotes, SVIParams, SVISlice, VolShock, VolSurface, black76, fit_surface

F0 = 60_000.0
T1, T2, T3 = 7 / 365, 30 / 365, 90 / 365


@pytest.fixture
def surface() -> VolSurface:
    return VolSurface(
        [
            SVISlice(T2, 60_200.0, SVIParams(0.004, 0.03, -0.3, 0.0, 0.1)),
            SVISlice(T1, 60_050.0, SVIParams(0.001, 0.012, -0.25, 0.0, 0.06)),
            SVISlice(T3, 60_600.0, SVIParams(0.013, 0.06, -0.3, 0.0, 0.15)),
        ]
    )


def test_slices_sorted_and_arbitrage_free(surface: VolSurface) -> None:
    np.testing.assert_allclose(surface.expiries, [T1, T2, T3])
    report = surface.check_arbitrage()
    assert report.ok
    assert [t for t, _ in report.butterfly] == [T1, T2, T3]


def test_at_an_expiry_the_surface_is_the_slice(surface: VolSurface) -> None:
    K = np.linspace(40_000.0, 90_000.0, 11)
    for s in surface.slices:
        expected = s.params.implied_vol(np.log(K / s.forward), s.t_years)
        np.testing.assert_allclose(surface.vol(K, s.t_years, s.forward), expected, rtol=1e-14)


def test_linear_in_total_variance_between_expiries(surface: VolSurface) -> None:
    k = np.linspace(-0.5, 0.5, 21)
    s1, s2 = surface.slices[0], surface.slices[1]
    T = 0.25 * s1.t_years + 0.75 * s2.t_years
    w = np.asarray(surface.vol_k(k, T)) ** 2 * T
    np.testing.assert_allclose(w, 0.25 * s1.params.total_variance(k) + 0.75 * s2.params.total_variance(k), rtol=1e-13)
    # Total variance is non-decreasing in T at every k (calendar-free slices stay so).
    ts = np.linspace(1e-4, 0.5, 400)[:, None]
    w_grid = np.asarray(surface.vol_k(k[None, :], ts)) ** 2 * ts
    assert np.all(np.diff(w_grid, axis=0) >= -1e-15)


def test_extrapolation_keeps_the_edge_slice_vol(surface: VolSurface) -> None:
    k = np.linspace(-0.3, 0.3, 7)
    first, last = surface.slices[0], surface.slices[-1]
    np.testing.assert_allclose(surface.vol_k(k, 1 / 365), first.params.implied_vol(k, first.t_years), rtol=1e-13)
    np.testing.assert_allclose(surface.vol_k(k, 0.0), first.params.implied_vol(k, first.t_years), rtol=1e-13)
    np.testing.assert_allclose(surface.vol_k(k, 2.0), last.params.implied_vol(k, last.t_years), rtol=1e-13)


def test_price_greeks_use_surface_vol(surface: VolSurface) -> None:
    K = np.array([50_000.0, 60_000.0, 70_000.0])
    T = 20 / 365
    res = surface.price_greeks("put", F0, K, T, 0.01, "coin")
    ref = black76("put", F0, K, T, surface.vol(K, T, F0), 0.01, "coin")
    for name in ("price", "delta", "gamma", "vega", "theta", "rho"):
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name))
    # Sticky strike: the vol is looked up at the base forward, not the scenario forward.
    sticky = surface.price("put", 55_000.0, K, T, vol_forward=F0)
    np.testing.assert_array_equal(sticky, black76("put", 55_000.0, K, T, surface.vol(K, T, F0)).price)
    moving = surface.price("put", 55_000.0, K, T)
    assert not np.allclose(sticky, moving)


def test_scenario_revaluation_grid(surface: VolSurface) -> None:
    # A short 55k put book (3 contracts) revalued over 9 forward scenarios x vol up/same/down.
    scenarios = F0 * np.exp(np.linspace(-0.16, 0.16, 9))[:, None]
    K, T, qty = np.array([55_000.0]), np.array([T2]), -3.0
    base = qty * float(np.asarray(surface.price("put", F0, K, T))[0])
    pnl = {}
    for name, surf in (
        ("down", surface.shocked("parallel", -0.05)),
        ("same", surface),
        ("up", surface.shocked("parallel", 0.05)),
    ):
        pnl[name] = qty * np.asarray(surf.price("put", scenarios, K, T))[:, 0] - base
    assert pnl["same"].shape == (9,)
    assert pnl["same"][4] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(pnl["same"]) > 0)  # short put gains as the forward rises
    assert np.all(pnl["up"] < pnl["same"])
    assert np.all(pnl["same"] < pnl["down"])


def test_parallel_shock(surface: VolSurface) -> None:
    k = np.linspace(-1.0, 1.0, 9)
    for T in (T1, 0.05, T3, 1.0):
        np.testing.assert_allclose(
            np.asarray(surface.shocked("parallel", 0.05).vol_k(k, T)) - np.asarray(surface.vol_k(k, T)),
            0.05,
            rtol=1e-12,
        )
    rel = surface.shocked("parallel", 0.2, relative=True)
    np.testing.assert_allclose(rel.vol_k(k, T2), 1.2 * np.asarray(surface.vol_k(k, T2)), rtol=1e-14)
    assert surface.shocks == ()  # the original is unchanged
    assert surface.shocked("parallel", 0.05).check_arbitrage().ok


def test_term_shock_scales_with_sqrt_30_over_dte(surface: VolSurface) -> None:
    shocked = surface.shocked("term", 0.10)
    base = surface
    for days, factor in ((30.0, 1.0), (7.5, 2.0), (120.0, 0.5), (0.25, math.sqrt(30.0))):  # floored at 1 day
        T = days / 365
        assert float(np.asarray(shocked.vol_k(0.0, T)) - np.asarray(base.vol_k(0.0, T))) == pytest.approx(
            0.10 * factor, rel=1e-12
        )
    # Deribit legacy PM: relative shock sqrt(30/DTE) x 40%: 15 days -> +56.6% of the vol.
    deribit = surface.shocked("term", 0.40, relative=True)
    ratio = float(np.asarray(deribit.vol_k(0.1, 15 / 365)) / np.asarray(base.vol_k(0.1, 15 / 365)))
    assert ratio == pytest.approx(1.0 + 0.40 * math.sqrt(2.0), rel=1e-12)
    assert shocked.check_arbitrage().ok


def test_skew_shock_steepens_about_the_forward(surface: VolSurface) -> None:
    shocked = surface.shocked("skew", 0.02)
    T = T2
    k = np.array([-0.3, -0.05, 0.0, 0.05, 0.3])
    d = np.asarray(shocked.vol_k(k, T)) - np.asarray(surface.vol_k(k, T))
    assert d[2] == pytest.approx(0.0, abs=1e-15)
    assert d[0] > d[1] > 0.0 > d[3] > d[4]
    np.testing.assert_allclose(d, -d[::-1], rtol=1e-12)  # antisymmetric in k
    z = 0.05 / math.sqrt(T)
    assert d[1] == pytest.approx(0.02 * z, rel=0.01)  # ~ size per unit of k / sqrt(T) near the money
    far = np.asarray(shocked.vol_k(-5.0, T)) - np.asarray(surface.vol_k(-5.0, T))
    assert float(far) == pytest.approx(0.02 * 3.0, rel=1e-3)  # saturates at size * z_cap
    assert shocked.check_arbitrage().ok


def test_shocks_compose_and_floor() -> None:
    flat = VolSurface([SVISlice(0.5, F0, SVIParams(0.08, 1e-9, 0.0, 0.0, 1.0))])  # ~40% flat
    both = flat.shocked("parallel", 0.05).shocked("term", 0.1)
    assert len(both.shocks) == 2
    v = float(np.asarray(flat.vol_k(0.0, 30 / 365)))
    assert float(np.asarray(both.vol_k(0.0, 30 / 365))) == pytest.approx(v + 0.05 + 0.1, rel=1e-12)
    crushed = flat.shocked("parallel", -1.0)
    assert float(np.asarray(crushed.vol_k(0.0, 0.5))) == VOL_FLOOR
    assert np.isfinite(crushed.price("call", F0, 70_000.0, 0.5))


def test_fit_surface_from_quotes_reports_checks() -> None:
    truth = [(T1, SVIParams(0.001, 0.012, -0.25, 0.0, 0.06)), (T2, SVIParams(0.004, 0.03, -0.3, 0.0, 0.1))]
    quotes = []
    for T, p in truth:
        k = np.linspace(-3.0, 2.0, 21) * 0.6 * math.sqrt(T)
        quotes.append(SmileQuotes(T, F0, F0 * np.exp(k), p.implied_vol(k, T)))
    surf, fits, report = fit_surface(quotes)
    assert report.ok
    assert all(f.rmse_vol < 1e-8 for f in fits)
    for (_, p), s in zip(truth, surf.slices, strict=True):
        np.testing.assert_allclose(s.params.as_array(), p.as_array(), atol=1e-6)
    # A calendar-arbitrageable pair is reported, not repaired.
    bad = VolSurface([SVISlice(T1, F0, truth[1][1]), SVISlice(T2, F0, truth[0][1])])
    rep = bad.check_arbitrage()
    assert not rep.ok
    assert not rep.calendar.ok
    assert not bad.shocked("parallel", 0.01).check_arbitrage().calendar.ok


def test_invalid_surface_inputs() -> None:
    p = SVIParams(0.004, 0.03, -0.3, 0.0, 0.1)
    with pytest.raises(InputError, match="at least one slice"):
        VolSurface([])
    with pytest.raises(InputError, match="distinct expiries"):
        VolSurface([SVISlice(0.1, F0, p), SVISlice(0.1, F0, p)])
    with pytest.raises(InputError, match="t_years must be finite and > 0"):
        SVISlice(0.0, F0, p)
    with pytest.raises(InputError, match="shock kind"):
        VolShock("smile", 0.1)  # type: ignore[arg-type]
    surf = VolSurface([SVISlice(0.1, F0, p)])
    with pytest.raises(InputError, match="strike must be finite and > 0"):
        surf.vol(-1.0, 0.1, F0)
    with pytest.raises(InputError, match="t_years must be finite and >= 0"):
        surf.vol(F0, -0.1, F0)


def test_facade_exports_resolve() -> None:
    for name in lo.__all__:
        assert getattr(lo, name) is not None
    res = lo.price_greeks("call", 100.0, 100.0, 1.0, 0.5)
    assert set(res.to_dict()) == {"price", "delta", "gamma", "vega", "theta", "rho"}
    with pytest.raises(AttributeError):
        _ = lo.not_a_name  # type: ignore[attr-defined]


def test_facade_doctest() -> None:
    import doctest

    result = doctest.testmod(lo)
    assert result.attempted > 0
    assert result.failed == 0


def test_slices_may_come_from_any_iterable() -> None:
    """``dict.values()`` and a pandas Series of slices built a surface before the input checks; a
    reviewer found the checks refused them.  A str or a mapping is still refused."""
    flat = SVISlice(0.5, F0, SVIParams(0.08, 1e-9, 0.0, 0.0, 1.0))
    ref = VolSurface([flat]).vol_k(0.0, 0.5)
    assert VolSurface({"6m": flat}.values()).vol_k(0.0, 0.5) == ref
    assert VolSurface(pd.Series([flat])).vol_k(0.0, 0.5) == ref
    for bad in ("x", {"6m": flat}):
        with pytest.raises(InputError, match="slices must be a sequence"):
            VolSurface(bad)  # type: ignore[arg-type]
