"""The liquidation forecaster: no look-ahead, special cases, distributions, inputs (issue 13, part 1)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from forecast_markets import gbm_bars, jumpy_bars
from scipy.stats import genpareto

from levguard.core.risk.excursion import (
    HORIZON_GRID_HOURS,
    ExcursionParams,
    blended_sigma,
    brownian_sf,
    combine_grid,
    fit_excursion_distribution,
    gpd_pwm,
    log_barrier,
)
from levguard.core.risk.first_passage import gbm_hit_prob
from levguard.core.risk.forecast import HourlyBars, forecast_liquidations
from levguard.data.frames import hourly_bars
from levguard.errors import InputError
from levguard.risk import liquidation_forecaster, liquidation_forecasts

H = pd.Timedelta("1h")


def _grid(market: pd.DataFrame, n: int = 40) -> pd.DatetimeIndex:
    # as_of times spread over the second half of the market, on and off the hour.
    idx = market.index
    picks = np.linspace(len(idx) // 2, len(idx) - 200, n).astype(int)
    return pd.DatetimeIndex(idx[picks]) + pd.to_timedelta(np.arange(n) % 3 * 20, unit="min")


def test_no_look_ahead_corrupting_every_later_bar_changes_nothing(market: pd.DataFrame) -> None:
    as_of = _grid(market)
    sides = np.where(np.arange(as_of.size) % 2 == 0, 1, -1)
    for model in ("default", "naive"):
        full = liquidation_forecasts(market, as_of, sides, 0.05, 7, model=model)
        for i, t in enumerate(as_of[::8]):
            k = 8 * i
            corrupt = market.copy()
            later = corrupt.index + H > t  # bars not yet closed at t
            rng = np.random.default_rng(k)
            scale = np.exp(rng.normal(0.0, 0.3, size=int(later.sum())))
            for c in ("open", "high", "low", "close"):
                corrupt.loc[later, c] = corrupt.loc[later, c].to_numpy() * scale
            corrupt.loc[later, "high"] = corrupt.loc[later, ["open", "high", "low", "close"]].max(axis=1) * 1.5
            corrupt.loc[later, "low"] = corrupt.loc[later, ["open", "high", "low", "close"]].min(axis=1) / 1.5
            again = liquidation_forecasts(corrupt, t, sides[k], 0.05, 7, model=model)
            assert again[0] == full[k], (model, t)
            # ... and dropping the later bars altogether changes nothing either.
            cut = liquidation_forecasts(market[~later], t, sides[k], 0.05, 7, model=model)
            assert cut[0] == full[k], (model, t)


def test_refits_follow_the_calendar_not_the_data(market: pd.DataFrame) -> None:
    # Two as_of inside one 30-day refit period share the distribution: with the same volatility
    # they would agree; the fitted forecaster at each time reproduces the vectorised path.
    as_of = _grid(market, 12)
    p = liquidation_forecasts(market, as_of, "long", [0.03, 0.1, 0.2] * 4, [1, 7, 30] * 4)
    for t, pi, d, h in zip(as_of, p, [0.03, 0.1, 0.2] * 4, [1, 7, 30] * 4, strict=True):
        f = liquidation_forecaster(market, t)
        assert f.prob(1, d, h * 24)[0] == pytest.approx(pi, rel=0, abs=1e-15)


def test_short_history_is_the_brownian_closed_form() -> None:
    bars = jumpy_bars(24 * 40, seed=3)
    params = ExcursionParams(min_history_days=365, short_history="brownian")
    hb = hourly_bars(bars)
    sigma = blended_sigma(hb.log_close, hb.log_high, hb.log_low, params)[-1]
    for side, d, h in [(1, 0.02, 1), (-1, 0.05, 7), (1, 0.1, 30), (-1, 0.01, 0.5)]:
        p = liquidation_forecasts(bars, bars.index[-1] + H, side, d, h, params=params)[0]
        b = float(log_barrier(np.array([side]), np.array([d]))[0])
        hours = max(1, round(h * 24))
        # Driftless Brownian motion with the hourly sigma over `hours` hours (Harrison 1985).
        assert p == pytest.approx(gbm_hit_prob(-b, 0.0, sigma, hours), rel=1e-12)


@pytest.mark.parametrize(("d", "days"), [(0.02, 1), (0.04, 1), (0.06, 7), (0.1, 7), (0.15, 7)])
def test_on_a_gbm_market_it_recovers_the_gbm_first_passage(d: float, days: int) -> None:
    sigma = 0.6
    bars = gbm_bars(24 * 365 * 3, sigma, seed=5)
    p = liquidation_forecasts(bars, bars.index[-1] + H, ["long", "short"], d, days)
    t = days / 365.0
    for side, pi in zip((1, -1), p, strict=True):
        b = math.log(1 - d) if side == 1 else -math.log(1 + d)
        exact = gbm_hit_prob(b, -0.5 * sigma**2 * side, sigma, t)
        assert pi == pytest.approx(exact, abs=0.02 + 0.15 * exact), (side, d, days, exact)


def test_gpd_pwm_recovers_known_tails() -> None:
    rng = np.random.default_rng(2)
    for xi, beta in [(0.25, 1.0), (0.1, 0.3)]:
        y = genpareto.rvs(xi, scale=beta, size=40_000, random_state=rng)
        x_hat, b_hat = gpd_pwm(y)
        assert x_hat == pytest.approx(xi, abs=0.03)
        assert b_hat == pytest.approx(beta, rel=0.05)
    x_hat, b_hat = gpd_pwm(rng.exponential(2.0, size=40_000))
    assert x_hat < 0.03
    assert b_hat == pytest.approx(2.0, rel=0.05)
    # A bounded (xi < 0) sample is held at the exponential: tails no thinner than that.
    assert gpd_pwm(rng.uniform(0, 1, size=5_000)) == (0.0, pytest.approx(0.5, rel=0.05))
    with pytest.raises(InputError, match="at least 2"):
        gpd_pwm(np.array([1.0]))


def test_distribution_joins_body_and_tail_without_a_rise() -> None:
    rng = np.random.default_rng(4)
    dist = fit_excursion_distribution(rng.standard_t(3, size=20_000) ** 2, 0.95, 100)
    z = np.linspace(0.0, 50.0, 20_001)
    sf = dist.sf(z)
    assert np.all(np.diff(sf) <= 0.0)
    assert sf[0] == 1.0
    assert np.all(sf > 0.0)
    assert dist.sf(np.array([dist.threshold]))[0] == pytest.approx(dist.tail_mass, abs=2 / 20_000)
    # Too few samples: the Brownian closed form.
    small = fit_excursion_distribution(np.ones(10), 0.95, 100)
    assert not small.empirical
    assert small.source == "brownian"
    assert small.sf(np.array([1.0]))[0] == brownian_sf(np.array([1.0]))[0]


def test_mark_columns_are_what_is_forecast(market: pd.DataFrame) -> None:
    both = market.copy()
    for c in ("open", "high", "low", "close"):
        both[f"mark_{c}"] = market[c]
    both[["open", "high", "low", "close"]] = market[["open", "high", "low", "close"]].to_numpy() * 1.3
    t = market.index[-1] + H
    assert liquidation_forecasts(both, t, "long", 0.05, 7)[0] == liquidation_forecasts(market, t, "long", 0.05, 7)[0]


def test_missing_bars_are_allowed(market: pd.DataFrame) -> None:
    holes = market.drop(market.index[5000:5030]).drop(market.index[9000:9001])
    p = liquidation_forecasts(holes, _grid(market), "short", 0.04, [1, 7] * 20)
    assert np.all(np.isfinite(p))
    assert np.all((p >= 0) & (p <= 1))
    # An as_of inside the hole uses the last bar that exists (bar 4999, closed at bar 5000's open).
    inside = liquidation_forecasts(holes, market.index[5010], "long", 0.05, 1)[0]
    assert inside == liquidation_forecasts(holes, market.index[5000], "long", 0.05, 1)[0]


def test_forecast_from_arrays_matches_the_frame_path(market: pd.DataFrame) -> None:
    t = market.index[-1] + H
    hb = HourlyBars.from_arrays(market.index.as_unit("ns").asi8, market["high"], market["low"], market["close"])
    a = forecast_liquidations(hb, np.array([t.as_unit("ns").value]), [1, -1], [0.05, 0.05], [7, 7])
    assert np.array_equal(a, liquidation_forecasts(market, t, [1, -1], 0.05, 7))


def test_grid_horizons_are_exact_and_between_them_interpolated(market: pd.DataFrame) -> None:
    t = market.index[-1] + H
    hours = np.arange(1, 721)
    p = liquidation_forecasts(market, t, "long", 0.08, hours / 24)
    assert np.all(np.diff(p) >= 0.0)
    f = liquidation_forecaster(market, t)
    on_grid = np.array(HORIZON_GRID_HOURS)
    assert np.array_equal(p[on_grid - 1], f.prob(1, 0.08, on_grid))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"distance": -0.1}, "distance must be >= 0"),
        ({"distance": float("nan")}, "distance must be finite"),
        ({"horizon_days": 0}, r"horizon_days must be in \(0, 30\]"),
        ({"horizon_days": 31}, r"horizon_days must be in \(0, 30\]"),
        ({"side": "up"}, "side must be"),
        ({"side": True}, "side must be"),
        ({"model": "garch"}, "model must be one of"),
        ({"as_of": pd.Timestamp("2020-01-01", tz="UTC")}, "before the first bar closed"),
        ({"as_of": pd.Timestamp("2022-01-01")}, "naive"),
        ({"as_of": "not a time"}, "as_of must be timestamps"),
        ({"distance": [0.1, 0.2], "horizon_days": [1, 2, 3]}, "must broadcast"),
        ({"params": {"short_weight": 2}}, "params must be an ExcursionParams"),
    ],
)
def test_bad_input_is_named(market: pd.DataFrame, kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "as_of": market.index[-1],
        "side": "long",
        "distance": 0.05,
        "horizon_days": 1,
    }
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        liquidation_forecasts(market, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["default", "naive"])
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.0, 0.5, 2.0, -3.0], 0.05, 24), "side must be"),
        ((1, 0.05, 721), "hours must be whole hours from 1 to 720"),
        ((1, 0.05, 0), "hours must be whole hours"),
        ((1, 0.05, 1.5), "hours must be whole hours"),
        ((1, float("nan"), 24), "distance must be >= 0"),
        ((1, -0.1, 24), "distance must be >= 0"),
        (([1, 1], [0.1, 0.2, 0.3], 24), "must broadcast"),
        (("up", 0.05, 24), "side must be"),
    ],
)
def test_a_fitted_forecaster_checks_what_liquidation_forecasts_checks(
    market: pd.DataFrame, model: str, args: tuple[object, object, object], match: str
) -> None:
    # An API audit: side 0 was read as a short, hours 721 raised IndexError, 0 and 1.5 hours
    # gave the 1-hour probability, a NaN distance 0, unequal lengths NumPy's ValueError.
    f = liquidation_forecaster(market, model=model)
    with pytest.raises(InputError, match=match):
        f.prob(*args)  # type: ignore[arg-type]
    p = f.prob(["long", "short"], [0.05, np.inf], [24, 720])
    assert p[1] == 0.0
    assert p[0] == pytest.approx(float(liquidation_forecasts(market, market.index[-1] + H, "long", 0.05, 1, model)[0]))


def test_bad_bars_are_named(market: pd.DataFrame) -> None:
    t = market.index[-1]
    with pytest.raises(InputError, match="naive"):
        liquidation_forecasts(market.tz_localize(None), t, 1, 0.05, 1)
    with pytest.raises(InputError, match="hourly"):
        liquidation_forecasts(market.iloc[::2].set_axis(market.index[::2] + pd.Timedelta("1min")), t, 1, 0.05, 1)
    bad = market.copy()
    bad.iloc[100, bad.columns.get_loc("low")] = -1.0
    with pytest.raises(InputError, match="bars low must be finite and > 0"):
        liquidation_forecasts(bad, t, 1, 0.05, 1)
    with pytest.raises(InputError, match="no column"):
        liquidation_forecasts(market.drop(columns="low"), t, 1, 0.05, 1)
    with pytest.raises(InputError, match="DataFrame"):
        liquidation_forecasts(market["close"], t, 1, 0.05, 1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="strictly increasing"):
        liquidation_forecasts(market.iloc[::-1], t, 1, 0.05, 1)
    # A close off its bar (3x the high) moved every forecast starting there; named now.
    off = market.copy()
    off.iloc[200, off.columns.get_loc("close")] = 3 * off["high"].iloc[200]
    with pytest.raises(InputError, match=r"bars close must lie within \[low, high\], was .* at row 200"):
        liquidation_forecasts(off, t, 1, 0.05, 1)


@pytest.mark.parametrize("field", ["short_weight", "tail_quantile", "refit_days", "variance"])
def test_params_are_validated(field: str) -> None:
    bad = {"short_weight": 1.5, "tail_quantile": 0.3, "refit_days": 0.0, "variance": "gk"}[field]
    with pytest.raises(InputError, match=field):
        ExcursionParams(**{field: bad})  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["default", "naive"])
def test_a_price_that_does_not_move_is_never_liquidated(model: str) -> None:
    idx = pd.date_range("2024-01-01", periods=24 * 120, freq="1h", tz="UTC")
    close = np.full(idx.size, 100.0)
    close[1000:1100] = 101.0
    bars = pd.DataFrame({"high": close, "low": close, "close": close}, index=idx)
    with np.errstate(all="raise"):
        p = liquidation_forecasts(bars, idx[-1], ["long", "short"], [0.05, 0.0], [1, 7], model=model)
    assert p.tolist() == [0.0, 1.0]


def test_the_grid_interpolation_never_falls_with_the_horizon() -> None:
    # Found by a deep hypothesis run (2026-12-05): between two equal grid values (0.99 and 0.99)
    # the interpolation gave 0.9899999999999999 at 271 h, below the 0.99 of 168 h.
    hours = np.arange(1, int(max(HORIZON_GRID_HOURS)) + 1)
    flat = combine_grid(np.full((len(HORIZON_GRID_HOURS), len(hours)), 0.99), hours)
    assert np.all(flat == 0.99)
    rng = np.random.default_rng(7)
    for _ in range(50):
        grid = np.sort(rng.random((len(HORIZON_GRID_HOURS), 1)), axis=0)
        grid[rng.integers(0, len(grid)) :] = grid[-1]  # equal values at the top, as a cap makes them
        values = combine_grid(np.repeat(grid, len(hours), axis=1), hours)
        assert np.all(np.diff(values) >= 0.0)
        on_grid = np.searchsorted(hours, HORIZON_GRID_HOURS)
        assert np.array_equal(values[on_grid], grid[:, 0])  # exact on the grid


def test_an_as_of_long_after_the_bars_is_refused(market: pd.DataFrame) -> None:
    # An API audit: a book dated 517 days after its history was forecast from that history's
    # last volatility, silently. Up to 30 days (the longest horizon) after the last close is read.
    end = market.index[-1] + H  # the last bar's close
    day = pd.Timedelta("1D")
    ok = liquidation_forecasts(market, [end, end + 30 * day], "long", 0.05, 7)
    assert ((ok > 0.0) & (ok < 1.0)).all()
    late = end + 30 * day + pd.Timedelta("1s")
    with pytest.raises(
        InputError, match=r"as_of .* is 30 days, 0:00:01 after the last bar closed by then .*max_stale_days=30"
    ):
        liquidation_forecasts(market, [end, late], "long", 0.05, 7)
    with pytest.raises(InputError, match="max_stale_days=30"):
        liquidation_forecaster(market, late)
    # Wider, or off: the caller says how old the bars may be.
    wide = liquidation_forecasts(market, late, "long", 0.05, 7, max_stale_days=60)
    assert wide[0] == liquidation_forecasts(market, late, "long", 0.05, 7, max_stale_days=None)[0]
    old = end + 400 * day
    fitted = liquidation_forecaster(market, old, max_stale_days=None).prob(1, 0.05, 168)[0]
    assert fitted == liquidation_forecasts(market, old, "long", 0.05, 7, max_stale_days=None)[0]
    with pytest.raises(InputError, match="max_stale_days=2"):
        liquidation_forecasts(market, end + 3 * day, "long", 0.05, 7, max_stale_days=2)
    assert liquidation_forecasts(market, late, "long", 0.05, 7, max_stale_days=float("inf"))[0] == wide[0]
    for bad in (-1.0, float("nan"), "30", True):
        with pytest.raises(InputError, match="max_stale_days"):
            liquidation_forecasts(market, end, "long", 0.05, 7, max_stale_days=bad)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="max_stale_days"):
            liquidation_forecaster(market, max_stale_days=bad)  # type: ignore[arg-type]
    # Any other bad input is named before the staleness.
    with pytest.raises(InputError, match="distance must be >= 0"):
        liquidation_forecasts(market, late, "long", -1.0, 7)
    with pytest.raises(InputError, match="model"):
        liquidation_forecaster(market, late, model="nope")


def test_a_gap_inside_the_bars_counts_as_stale_too(market: pd.DataFrame) -> None:
    # 40 days missing in the middle: an as_of inside the gap reads bars older than 30 days.
    gap = market.drop(market.index[10_000 : 10_000 + 24 * 40])
    before = market.index[10_000]  # the close of the last bar before the gap
    inside = before + pd.Timedelta("35D")
    with pytest.raises(InputError, match=r"35 days, 0:00:00 after the last bar closed"):
        liquidation_forecasts(gap, inside, "short", 0.05, 1)
    after = market.index[10_000 + 24 * 40] + H  # the first bar after the gap has closed
    assert 0.0 <= liquidation_forecasts(gap, [before, after], "short", 0.05, 1).min() <= 1.0
