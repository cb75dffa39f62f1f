"""Volatility surface: interpolation, extrapolation, pricing, revaluation and shaped shocks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levguard.options as lo
from levguard.core.options.surface import VOL_FLOOR
from levguard.core.options.svi import DEFAULT_K_GRID, check_butterfly, durrleman_g, durrleman_g_numeric
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


def test_extrapolation_keeps_the_first_vol_and_the_last_atm_variance_rate(surface: VolSurface) -> None:
    k = np.linspace(-0.3, 0.3, 7)
    first, last = surface.slices[0], surface.slices[-1]
    np.testing.assert_allclose(surface.vol_k(k, 1 / 365), first.params.implied_vol(k, first.t_years), rtol=1e-13)
    np.testing.assert_allclose(surface.vol_k(k, 0.0), first.params.implied_vol(k, first.t_years), rtol=1e-13)
    # Past the last expiry: w_n(k) + (T - T_n) theta_n / T_n (was w_n(k) T / T_n, the last vol at
    # every k, whose wing slopes grow with T past Lee's bound); the ATM vol is the last slice's.
    theta = float(last.params.total_variance(0.0))
    w = np.asarray(surface.vol_k(k, 2.0)) ** 2 * 2.0
    np.testing.assert_allclose(
        w, last.params.total_variance(k) + (2.0 - last.t_years) * theta / last.t_years, rtol=1e-13
    )
    assert float(np.asarray(surface.vol_k(0.0, 2.0))) == pytest.approx(
        float(last.params.implied_vol(0.0, last.t_years)), rel=1e-13
    )


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


# Past the last expiry (a review, 2026-12): with slices at 7 and 90 days (90 d: b = 0.15, rho =
# -0.3) the surface scaled the last smile by T / T_n, so its wing slope 0.195 T / T_n passed Lee's
# bound 2 near 2.5 years: min g was -0.57 at 3 years and -1.55 at 5, a call butterfly at K = 34,617
# priced -0.59 USD at 3 years, and check_arbitrage() still said ok.
REVIEW_SURFACE = VolSurface(
    [
        SVISlice(7 / 365, F0, SVIParams(0.002, 0.05, -0.3, 0.0, 0.1)),
        SVISlice(90 / 365, F0, SVIParams(0.02, 0.15, -0.3, 0.0, 0.2)),
    ]
)


def test_the_surface_past_its_last_expiry_is_butterfly_free() -> None:
    k = np.linspace(-3.0, 3.0, 1201)
    for T in (1.0, 3.0, 5.0, 10.0):
        w = np.asarray(REVIEW_SURFACE.base_total_variance(k, T))
        assert durrleman_g_numeric(k, w).min() > 0.2, T  # was +0.11, -0.57, -1.55 at 1, 3, 5 years
    K, h = 34_616.99, 346.17
    fly = sum(c * float(REVIEW_SURFACE.price("call", F0, K + d, 3.0)) for c, d in ((1, -h), (-2, 0.0), (1, h)))
    assert fly > 0.0  # was -0.59 USD
    report = REVIEW_SURFACE.check_arbitrage()
    assert report.ok
    assert report.extrapolation is not None
    assert report.extrapolation.min_g > 0.2
    shocked = REVIEW_SURFACE.shocked("parallel", 0.05).check_arbitrage()
    assert shocked.extrapolation is not None
    assert shocked.extrapolation.ok


def test_the_extrapolation_check_flags_a_smile_that_added_variance_breaks() -> None:
    # Butterfly-free itself (min g +0.017), but w + c dips below g = 0 for some c > 0 (-0.018): a
    # steep, strongly rotated smile.  The check flags it and the surface indeed has g < 0 by 10 years.
    p = SVIParams(-0.437, 0.8, -0.74, 0.36, 0.83)
    assert check_butterfly(p).ok
    surf = VolSurface([SVISlice(0.5, F0, p)])
    report = surf.check_arbitrage()
    assert report.extrapolation is not None
    assert not report.extrapolation.ok
    assert not report.ok
    theta = float(p.total_variance(0.0))
    worst = min(
        float(durrleman_g(SVIParams(p.a + (T - 0.5) * theta / 0.5, p.b, p.rho, p.m, p.sigma), DEFAULT_K_GRID).min())
        for T in np.linspace(0.5, 10.0, 400)
    )
    assert worst < 0.0
    assert worst >= report.extrapolation.min_g - 1e-12  # the check sees every c >= 0


@st.composite
def _smiles(draw: st.DrawFn) -> tuple[SVIParams, float, bool]:
    b = draw(st.floats(0.0, 1.0))
    rho = draw(st.floats(-0.95, 0.95))
    m = draw(st.floats(-0.3, 0.3))
    sigma = draw(st.floats(0.02, 1.0))
    a = -b * sigma * math.sqrt(1.0 - rho * rho) + draw(st.floats(1e-4, 0.5))
    return SVIParams(a, b, rho, m, sigma), draw(st.floats(1 / 365, 2.0)), draw(st.booleans())


@settings(max_examples=200, deadline=None)
@given(_smiles(), st.floats(0.0, 1.0))
def test_extrapolated_smiles_stay_svi_with_their_wings_and_pass_their_check(
    smile: tuple[SVIParams, float, bool], u: float
) -> None:
    p, t_n, two = smile
    slices = [SVISlice(t_n, F0, p)]
    if two:  # the path with slices to interpolate between: a lower smile at half the tenor
        slices.append(SVISlice(t_n / 2, F0, SVIParams(p.a / 2, p.b / 2, p.rho, p.m, p.sigma)))
    surf = VolSurface(slices)
    T = t_n + u * (10.0 - t_n)  # up to 10 years
    theta = float(p.total_variance(0.0))
    shifted = SVIParams(p.a + (T - t_n) * theta / t_n, p.b, p.rho, p.m, p.sigma)
    k = DEFAULT_K_GRID
    w = np.asarray(surf.base_total_variance(k, T))
    np.testing.assert_allclose(w, shifted.total_variance(k), rtol=1e-12, atol=1e-15)  # raw SVI, a + c
    assert np.all(w >= np.asarray(surf.base_total_variance(k, t_n)) - 1e-15)  # no calendar arbitrage
    assert shifted.wing_slopes == p.wing_slopes  # Lee's bound as for the last smile
    ext = surf.check_arbitrage().extrapolation
    assert ext is not None
    if ext.ok:
        assert float(durrleman_g(shifted, k).min()) >= -1e-12
    assert float(durrleman_g(shifted, k).min()) >= ext.min_g - 1e-9


def test_the_skew_shock_is_continuous_at_expiry(surface: VolSurface) -> None:
    # At T = 0 the shape was -z_cap tanh(+-1) (vol 0.58262 at k = 0.1 on a review's surface) against
    # its limit -z_cap sign(k) for T -> 0+ (0.56831 from T = 1e-12).
    shocked = REVIEW_SURFACE.shocked("skew", 0.02)
    for kk in (-0.1, 0.1):
        at_zero = float(np.asarray(shocked.vol_k(kk, 0.0)))
        for T in (1e-12, 1e-9, 1e-6):
            assert at_zero == pytest.approx(float(np.asarray(shocked.vol_k(kk, T))), abs=1e-9)
    assert float(np.asarray(shocked.vol_k(0.1, 0.0))) == pytest.approx(0.5683129055916212, rel=1e-12)
    assert float(np.asarray(shocked.vol_k(0.0, 0.0))) == float(np.asarray(REVIEW_SURFACE.vol_k(0.0, 0.0)))
    shape = VolShock("skew", 0.02)
    np.testing.assert_array_equal(shape.shape(np.array([-1.0, 0.0, 1.0]), np.zeros(3)), [3.0, 0.0, -3.0])
