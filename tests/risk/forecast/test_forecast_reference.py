"""The reference excursions that stand in for a short history (issue 13: robustness on new coins).

An asset with less than ``min_history_days`` of closed excursion windows (a new listing, a short
file) used to be forecast with the Brownian closed form, whose thin tail under-predicts crypto's
liquidations; it now uses reference excursions (the BTCUSDT and ETHUSDT marks to 2022-12-31)
scaled by the asset's own volatility.  docs/validation.md, "New listings", measures both.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecast_markets import jumpy_bars
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.risk import excursion_reference as ref
from levguard.core.risk.excursion import (
    HORIZON_GRID_HOURS,
    REFERENCE_QUANTILES,
    ExcursionParams,
    blended_sigma,
    brownian_sf,
    fit_excursion_distribution,
    log_barrier,
    reference_applies,
    reference_distribution,
    reference_table,
)
from levguard.core.risk.forecast import standardised_pools
from levguard.data.frames import hourly_bars
from levguard.errors import InputError
from levguard.risk import liquidation_forecaster, liquidation_forecasts
from levguard.risk.excursion_reference import build_reference, load_marks, main, render_module
from levguard.risk.forecast import forecaster_info

H = pd.Timedelta("1h")
LISTED = "2024-01-01"  # short test markets start after the reference's data (2022-12-24)
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ohlcv"


def test_the_tables_cover_the_grid_and_are_ordered() -> None:
    assert ref.HORIZON_GRID_HOURS == HORIZON_GRID_HOURS
    assert len(ref.QUANTILES) == len(ref.TAILS) == len(HORIZON_GRID_HOURS)
    for q, (threshold, tail_mass, xi, beta) in zip(ref.QUANTILES, ref.TAILS, strict=True):
        assert len(q) == REFERENCE_QUANTILES
        assert list(q) == sorted(q)
        assert q[-1] > threshold > q[0]
        # The tail mass is the kept quantiles' share above the threshold: body and tail join without a rise.
        assert tail_mass == sum(x > threshold for x in q) / len(q)
        assert tail_mass == pytest.approx(0.05, abs=1 / REFERENCE_QUANTILES)
        assert xi >= 0.0
        assert beta > 0.0


@pytest.mark.parametrize("k", range(len(HORIZON_GRID_HOURS)))
def test_the_reference_is_a_survival_function_fatter_than_brownian_in_the_tail(k: int) -> None:
    d = reference_distribution(k)
    assert d.source == "reference"
    assert not d.empirical
    z = np.linspace(0.0, 40.0, 8_001)
    sf = d.sf(z)
    assert sf[0] == 1.0
    assert np.all(sf > 0.0)
    assert np.all(np.diff(sf) <= 0.0)
    # Beyond three standard units crypto's excursions are far likelier than Brownian ones.
    far = np.array([3.0, 4.0, 5.0])
    assert np.all(d.sf(far) > 3.0 * brownian_sf(far))
    # The arrays are shared between calls: read-only.
    assert reference_distribution(k) is d
    with pytest.raises(ValueError, match="read-only"):
        d.samples[0] = 0.0


def test_short_history_forecasts_read_the_reference_scaled_by_the_asset_volatility() -> None:
    bars = jumpy_bars(24 * 40, seed=3, start=LISTED)  # 40 days: less than the 90 days of own history needed
    hb = hourly_bars(bars)
    params = ExcursionParams()
    sigma = blended_sigma(hb.log_close, hb.log_high, hb.log_low, params)[-1]
    t = bars.index[-1] + H
    for side, d, hours in [(1, 0.02, 1), (-1, 0.05, 24), (1, 0.1, 168), (-1, 0.2, 720)]:
        p = liquidation_forecasts(bars, t, side, d, hours / 24)[0]
        k = HORIZON_GRID_HOURS.index(hours)
        b = float(log_barrier(np.array([float(side)]), np.array([d]))[0])
        expected = reference_distribution(k).sf(np.array([b / (sigma * math.sqrt(hours))]))[0]
        assert p == pytest.approx(expected, rel=1e-12), (side, d, hours)
    info = forecaster_info(liquidation_forecaster(bars, t))
    assert info["empirical"] is False
    assert info["short_history"] == "reference"
    brownian = forecaster_info(liquidation_forecaster(bars, t, params=ExcursionParams(short_history="brownian")))
    assert brownian["short_history"] == "brownian"


def test_the_reference_is_not_used_before_its_data_closed_nor_with_other_parameters() -> None:
    # A forecast known before the reference's windows closed (2022-12-24) would read the
    # reference assets' later prices: it keeps the Brownian closed form, as do parameters the
    # tables were not built with (another volatility scale standardises differently).
    cutoff = pd.Timestamp(ref.CUTOFF_NS, tz="UTC")
    before = jumpy_bars(24 * 40, seed=3, start=str(cutoff - pd.Timedelta(days=45)))
    after = jumpy_bars(24 * 40, seed=3, start=str(cutoff + pd.Timedelta(days=1)))
    brownian = ExcursionParams(short_history="brownian")
    for bars, stands_in in ((before, "brownian"), (after, "reference")):
        t = bars.index[-1] + H
        assert forecaster_info(liquidation_forecaster(bars, t))["short_history"] == stands_in
        p = liquidation_forecasts(bars, t, ["long", "short"], 0.1, 7)
        p_brownian = liquidation_forecasts(bars, t, ["long", "short"], 0.1, 7, params=brownian)
        assert np.array_equal(p, p_brownian) == (stands_in == "brownian")
    for other in (
        ExcursionParams(variance="close"),
        ExcursionParams(short_weight=0.4),
        ExcursionParams(tail_quantile=0.9),
    ):
        t = after.index[-1] + H
        assert forecaster_info(liquidation_forecaster(after, t, params=other))["short_history"] == "brownian"
    assert reference_applies(ExcursionParams(min_history_days=30, refit_days=7), ref.CUTOFF_NS)
    assert not reference_applies(ExcursionParams(), ref.CUTOFF_NS - 1)


def test_the_reference_adds_tail_mass_where_brownian_had_almost_none() -> None:
    bars = jumpy_bars(24 * 40, seed=8, start=LISTED)
    t = bars.index[-1] + H
    far = liquidation_forecasts(bars, t, ["long", "short"], 0.25, 1)
    thin = liquidation_forecasts(bars, t, ["long", "short"], 0.25, 1, params=ExcursionParams(short_history="brownian"))
    assert np.all(far > 10.0 * thin)


def test_a_long_history_does_not_use_the_reference(market: pd.DataFrame) -> None:
    t = market.index[-1] + H
    a = liquidation_forecasts(market, t, ["long", "short"], [0.05, 0.3], [1, 7])
    b = liquidation_forecasts(
        market, t, ["long", "short"], [0.05, 0.3], [1, 7], params=ExcursionParams(short_history="brownian")
    )
    assert np.array_equal(a, b)
    assert forecaster_info(liquidation_forecaster(market, t))["short_history"] is None


@settings(max_examples=60, deadline=None)
@given(
    d1=st.floats(0.001, 0.6),
    d2=st.floats(0.001, 0.6),
    h1=st.integers(1, 720),
    h2=st.integers(1, 720),
    side=st.sampled_from(["long", "short"]),
)
def test_short_history_forecasts_fall_with_distance_and_rise_with_horizon(
    d1: float, d2: float, h1: int, h2: int, side: str
) -> None:
    bars = _SHORT
    t = bars.index[-1] + H
    (lo_d, hi_d), (lo_h, hi_h) = sorted((d1, d2)), sorted((h1, h2))
    p = liquidation_forecasts(bars, t, side, [lo_d, hi_d, lo_d], [lo_h / 24, lo_h / 24, hi_h / 24])
    assert p[1] <= p[0] <= p[2]


_SHORT = jumpy_bars(24 * 30, seed=11, start=LISTED)


def test_reference_table_refuses_bad_input_by_name() -> None:
    with pytest.raises(InputError, match="at least 20 finite samples"):
        reference_table(np.array([1.0, np.nan] * 5))
    with pytest.raises(InputError, match="quantiles"):
        reference_table(np.ones(100), quantiles=5)
    with pytest.raises(InputError, match="grid horizon index"):
        reference_distribution(len(HORIZON_GRID_HOURS))
    with pytest.raises(InputError, match="short_history"):
        ExcursionParams(short_history="normal")


def test_reference_table_reproduces_its_pool() -> None:
    # A table summarises a pool: its survival function is within half a quantile step of the
    # pool's in the body and is the pool's Pareto fit in the tail.
    rng = np.random.default_rng(5)
    pool = np.abs(rng.standard_t(4, size=50_000))
    q, (threshold, tail_mass, xi, beta) = reference_table(pool)
    z = np.linspace(0.05, threshold, 200)
    body = 1.0 - np.searchsorted(np.array(q), z, side="left") / len(q)
    exact = np.array([(pool >= x).mean() for x in z])
    assert np.max(np.abs(body - exact)) <= 0.5 / len(q) + 1e-3  # half a quantile step, and the 1e-4 rounding
    full = fit_excursion_distribution(pool, 0.95, 0)
    assert (threshold, xi, beta) == (full.threshold, full.xi, full.beta)
    assert tail_mass == pytest.approx(0.05, abs=1e-9)
    assert xi > 0.0
    assert beta > 0.0


def test_pools_use_only_windows_closed_by_the_refit() -> None:
    bars = jumpy_bars(24 * 200, seed=2)
    hb = hourly_bars(bars)
    t = int((bars.index[-1] - pd.Timedelta(days=60)).value)
    pools = standardised_pools(hb, t)
    corrupt = bars.copy()
    later = corrupt.index >= pd.Timestamp(t, tz="UTC")
    noise = np.exp(np.random.default_rng(1).normal(0.0, 0.3, size=int(later.sum())))
    for c in ("open", "close"):
        corrupt.loc[later, c] = corrupt.loc[later, c].to_numpy() * noise
    corrupt.loc[later, "high"] = corrupt.loc[later, ["open", "close"]].max(axis=1) * 1.2
    corrupt.loc[later, "low"] = corrupt.loc[later, ["open", "close"]].min(axis=1) / 1.2
    again = standardised_pools(hourly_bars(corrupt), t)
    for a, b in zip(pools, again, strict=True):
        assert np.array_equal(a, b)
        assert a.size > 0


def test_render_module_round_trips(tmp_path: Path) -> None:
    tables = (ref.QUANTILES, ref.TAILS)
    text = render_module(tables, ref.ASSETS, ref.UNTIL)
    ns: dict[str, object] = {}
    exec(compile(text, "excursion_reference", "exec"), ns)
    assert ns["QUANTILES"] == ref.QUANTILES
    assert ns["TAILS"] == ref.TAILS
    assert Path(ref.__file__).read_text(encoding="utf-8") == text


def test_the_generator_refuses_a_directory_without_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path), "--out", str(tmp_path / "out.py")]) == 2
    assert "BTCUSDT-PERP_1h.csv" in capsys.readouterr().err
    assert not (tmp_path / "out.py").exists()
    with pytest.raises(InputError, match="at least one frame"):
        build_reference([])


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_the_shipped_tables_are_those_of_the_shared_marks_to_2022() -> None:
    # Provenance: rebuilding from ../shared/data's BTCUSDT and ETHUSDT marks gives the shipped tables.
    quantiles, tails = build_reference(load_marks(SHARED), ref.UNTIL)
    assert quantiles == ref.QUANTILES
    assert np.allclose(np.array(tails), np.array(ref.TAILS), rtol=1e-12, atol=0.0)


def _new_listings(frames: dict[str, pd.DataFrame], short_history: str) -> pd.DataFrame:
    # Each shared coin "listed" again on dates after the reference's data (2023 onward): its
    # history truncated to start there, forecast for its first 130 days (cases from day 30).
    from levguard.risk.validation import validate_liquidation

    params = ExcursionParams(short_history=short_history)

    def forecaster(
        bars: pd.DataFrame, as_of: object, s: object, d: object, h: object, model: str = "default"
    ) -> object:
        return liquidation_forecasts(bars, as_of, s, d, h, model=model, params=None if model == "naive" else params)

    dates = ("2023-01-01", "2023-07-01", "2024-01-01", "2024-07-01", "2025-01-01")
    starts = {"BTCUSDT": dates, "ETHUSDT": dates, "XRPUSDT": dates, "SOLUSDT": ("2025-02-01", "2025-08-01")}
    out = []
    for asset, days in starts.items():
        frame = frames[asset]
        for day in days:
            t0 = pd.Timestamp(day, tz="UTC")
            part = frame[(frame.index >= t0) & (frame.index < t0 + pd.Timedelta(days=137))].copy()
            part.attrs = dict(frame.attrs)
            cut = (t0 - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
            out.append(validate_liquidation({asset: part}, train_until=cut, forecaster=forecaster).cases)
    return pd.concat(out, ignore_index=True)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_on_new_listings_the_reference_beats_the_brownian_stand_in() -> None:
    # docs/validation.md, "New listings": out of sample in time for every coin, and in asset for
    # XRPUSDT and SOLUSDT (not in the reference).
    from levguard.cli.validate import load_bars

    frames = {}
    for a in ("BTCUSDT", "ETHUSDT", "XRPUSDT", "SOLUSDT"):
        mark = SHARED / f"{a}-MARK_1h.csv"
        frames[a] = load_bars(str(SHARED / f"{a}-PERP_1h.csv"), str(mark) if mark.is_file() else None, False)
    brownian, reference = _new_listings(frames, "brownian"), _new_listings(frames, "reference")
    assert np.array_equal(brownian["outcome"].to_numpy(), reference["outcome"].to_numpy())
    for h in (1.0, 7.0):
        m = (brownian["horizon_days"] == h).to_numpy()  # the pooled coins and starts at one horizon
        y = brownian["outcome"].to_numpy(dtype=float)[m]
        p_b, p_r = brownian["p_model"].to_numpy()[m], reference["p_model"].to_numpy()[m]
        naive = brownian["p_baseline"].to_numpy()[m]
        brier_b, brier_r, brier_n = (float(np.mean((p - y) ** 2)) for p in (p_b, p_r, naive))
        assert brier_r < brier_b
        assert brier_r < 0.99 * brier_n
        assert 0.9 <= y.sum() / p_r.sum() <= 1.1
        low = p_r <= 0.01
        assert low.sum() > 100
        assert y[low].mean() <= 0.015
        if h == 7.0:
            # The Brownian stand-in's thin tail: its 7-day forecasts at or below 1 % came true 3.08 % of the time.
            assert y[p_b <= 0.01].mean() > 0.015


def test_the_cli_says_what_stood_in_for_a_short_history(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from levguard.cli.main import app

    bars = jumpy_bars(24 * 40, seed=3, start=LISTED)
    bars.index.name = "timestamp"
    bars["volume"] = 1.0
    history = tmp_path / "short.parquet"
    bars.to_parquet(history)
    p = float(bars["close"].iloc[-1])
    position = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": p, "mark_price": p, "margin_mode": "isolated"}
    acc = tmp_path / "account.json"
    acc.write_text(
        json.dumps(
            {"venue": "binance-usdm", "wallet_balance": 50_000, "positions": [{**position, "isolated_margin": p / 10}]}
        )
    )
    res = CliRunner().invoke(app, ["risk", str(acc), "--history", str(history)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "history too short at some horizons: reference excursions" in res.stdout
    res = CliRunner().invoke(app, ["risk", str(acc), "--history", str(history), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["liquidation_forecast"]["short_history"] == "reference"
