"""Markets of K assets: joint bootstrap, one-factor jump model, user paths (levguard.cascade.market_paths)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.cascade.market_fit import returns_matrix
from levguard.cascade.market_paths import (
    FactorJumpModel,
    VolModel,
    detect_jumps,
    factor_jump_inputs,
    factor_jump_paths,
    fit_factor_jump,
    joint_bootstrap_paths,
    joint_log_returns,
    market_path_for,
    market_paths_for,
    user_market_paths,
)
from levguard.cascade.price_paths import gbm_paths, jump_paths
from levguard.core.risk.first_passage import compensated_drift, merton_compensator
from levguard.data.loaders import load_ohlcv
from levguard.errors import InputError
from levguard.kernels import NUMBA_DISABLED
from levguard.kernels import market_paths as km
from levguard.kernels.paths import bootstrap_fpt_py

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MINUTE = 1.0 / 525_600.0


def _returns(t: int = 3_000, seed: int = 0) -> pd.DataFrame:
    # Correlated heavy-tailed hourly-like log returns of three assets.
    rng = np.random.default_rng(seed)
    f = 0.007 * rng.standard_t(5, t) / math.sqrt(5 / 3)
    eth = 1.1 * f + 0.004 * rng.standard_normal(t)
    sol = 1.3 * f + 0.009 * rng.standard_normal(t)
    return pd.DataFrame({"BTC": f, "ETH": eth, "SOL": sol})


R = _returns()
MODEL = FactorJumpModel(
    assets=("BTC", "ETH", "SOL"),
    factor="BTC",
    factor_mean=1e-5,
    factor_vol=VolModel(0.007, 0.05, 0.93, 4.0),
    intercept=(0.0, 1e-5, -2e-5),
    beta=(1.0, 1.1, 1.3),
    idio_vol=(VolModel(0.0), VolModel(0.005, 0.05, 0.9, 5.0), VolModel(0.012)),
    jump_intensity=0.02,
    jump_mean=-0.01,
    jump_std=0.03,
    jump_beta=(1.0, 1.0, 1.2),
    jump_idio_std=(0.0, 0.01, 0.02),
)
BOOT: dict[str, Any] = {"model": "bootstrap", "assets": ["BTC", "ETH", "SOL"], "returns": R, "n_steps": 120, "seed": 7}
SPECS: list[dict[str, Any]] = [
    BOOT,
    {**BOOT, "method": "fixed", "block": 5, "s0": [60_000.0, 3_000.0, 150.0]},
    {**BOOT, "assets": ["SOL", "BTC"], "block": 1, "s0": {"BTC": 60_000.0, "SOL": 150.0}},
    {"model": "factor_jump", "assets": ["BTC", "ETH", "SOL"], "params": MODEL, "n_steps": 120, "seed": 3},
    {"model": "factor_jump", "assets": ["SOL"], "params": MODEL.to_dict(), "n_steps": 300, "seed": 3, "substeps": 60},
]


# --- shapes, start prices, determinism --------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s['model']}-{len(s['assets'])}")
def test_path_k_equals_row_k_of_any_block(spec: dict[str, Any]) -> None:
    batch = market_paths_for(spec, 6)
    assert batch.shape == (6, spec["n_steps"] + 1, len(spec["assets"]))
    assert batch.dtype == np.float64
    assert batch.flags.c_contiguous
    for k in (0, 3, 5):
        np.testing.assert_array_equal(market_path_for(spec, k), batch[k])
    # Workers take blocks in any order: the blocks are slices of the batch.
    blocks = {first: market_paths_for(spec, 2, first=first) for first in (4, 0, 2)}
    np.testing.assert_array_equal(np.concatenate([blocks[0], blocks[2], blocks[4]]), batch)
    np.testing.assert_array_equal(market_paths_for(spec, 6), batch)
    assert np.all(np.isfinite(batch))
    assert np.all(batch > 0.0)
    assert not np.array_equal(batch[0], batch[1])


def test_start_prices_per_asset() -> None:
    p = joint_bootstrap_paths(R, 3, 10, 1, s0={"SOL": 150.0, "BTC": 60_000.0, "ETH": 3_000.0})
    assert np.all(p[:, 0, :] == [60_000.0, 3_000.0, 150.0])
    q = factor_jump_paths(MODEL, 3, 10, 1, s0=[60_000.0, 3_000.0, 150.0])
    assert np.all(q[:, 0, :] == [60_000.0, 3_000.0, 150.0])
    np.testing.assert_array_equal(joint_bootstrap_paths(R, 3, 10, 1, s0=2.0)[:, 0, :], 2.0)


def test_seed_changes_paths_and_selection_keeps_columns() -> None:
    full = market_paths_for(SPECS[3], 4)
    sol = market_paths_for({**SPECS[3], "assets": ["SOL", "BTC"]}, 4)
    np.testing.assert_array_equal(sol, full[:, :, [2, 0]])
    assert not np.array_equal(full, market_paths_for({**SPECS[3], "seed": 4}, 4))


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: the twins are the same function")
def test_compiled_kernels_equal_their_python_twins() -> None:
    r = returns_matrix(R)[0]
    for stationary, block in ((True, 6), (False, 4), (True, 1)):
        a = np.empty((3, 50, 3))
        b = np.empty((3, 50, 3))
        log_stay = math.log1p(-1.0 / block) if block > 1 else -math.inf
        km.bootstrap_log_paths_py(11, 5, r, block, stationary, log_stay, a)
        km.bootstrap_log_paths_nb(11, 5, r, block, stationary, log_stay, b)
        np.testing.assert_array_equal(a, b)
    for sub in (1, 3):
        inputs = factor_jump_inputs(MODEL, sub)
        a = np.empty((3, 40, 3))
        b = np.empty((3, 40, 3))
        km.factor_jump_log_paths_py(11, 5, sub, inputs, a)
        km.factor_jump_log_paths_nb(11, 5, sub, inputs, b)
        np.testing.assert_array_equal(a, b)


# --- one asset: the one-asset generators --------------------------------------------------------
def _one_asset(sigma: float, dt: float, lam: float = 0.0, jm: float = 0.0, js: float = 0.0) -> FactorJumpModel:
    kappa = merton_compensator(jm, js) if lam > 0.0 else 0.0
    return FactorJumpModel(
        assets=("BTC",),
        factor="BTC",
        factor_mean=compensated_drift(0.0, sigma, lam, kappa) * dt,
        factor_vol=VolModel(sigma * math.sqrt(dt)),
        intercept=(0.0,),
        beta=(1.0,),
        idio_vol=(VolModel(0.0),),
        jump_intensity=lam * dt,
        jump_mean=jm,
        jump_std=js,
    )


def test_one_asset_constant_vol_is_gbm_bit_for_bit() -> None:
    got = factor_jump_paths(_one_asset(0.8, MINUTE), 5, 240, 7, s0=60_000.0, first=3)[:, :, 0]
    np.testing.assert_array_equal(got, gbm_paths(60_000.0, 0.8, 240, MINUTE, 5, 7, first=3))


def test_one_asset_with_jumps_is_merton_bit_for_bit() -> None:
    m = _one_asset(0.8, MINUTE, lam=2_000.0, jm=-0.01, js=0.02)
    got = factor_jump_paths(m, 5, 2_000, 7, s0=60_000.0)[:, :, 0]
    want = jump_paths(60_000.0, 0.8, 2_000, MINUTE, 5, 7, lam=2_000.0, jump_mean=-0.01, jump_std=0.02)
    np.testing.assert_array_equal(got, want)
    assert np.any(np.abs(np.diff(np.log(want), axis=1)) > 0.03)  # the jumps are in the paths


def test_one_column_fixed_bootstrap_walks_the_first_passage_kernels_path() -> None:
    # bootstrap_fpt_py draws the same block starts from the same streams: a barrier just above
    # our path's minimum is hit exactly at the step of that minimum, one just below never.
    r = R["SOL"].to_numpy() - 0.002  # a downward drift puts the minimum below the start
    n_steps, block, dt = 500, 7, 1.0 / 8_760.0
    paths = joint_bootstrap_paths(r, 6, n_steps, 21, method="fixed", block=block)[:, :, 0]
    for k in range(6):
        y = np.log(paths[k])
        i_min = int(np.argmin(y))
        assert i_min > 0
        for barrier, hit_at in ((y[i_min] + 1e-9, i_min), (y[i_min] - 1e-9, None)):
            hit = np.zeros(k + 1, dtype=bool)
            tau = np.zeros(k + 1)
            bootstrap_fpt_py(21, n_steps, dt, r, block, 1e-4, barrier, False, 1, hit, tau)
            assert bool(hit[k]) is (hit_at is not None)
            if hit_at is not None:
                assert tau[k] == pytest.approx(hit_at * dt, rel=1e-12)


# --- the bootstrap draws whole rows -------------------------------------------------------------
def test_every_step_moves_all_assets_by_one_row_of_the_data() -> None:
    # Dyadic returns add exactly; column 0 encodes the row index.
    t = 50
    r = np.column_stack([np.arange(t) / 1024.0, -(np.arange(t) % 7) / 512.0, np.full(t, 1 / 256.0)])
    out = np.empty((4, 400, 3))
    km.bootstrap_log_paths_nb(5, 0, r, 6, False, 0.0, out)
    steps = np.diff(out, axis=1)
    idx = np.rint(steps[:, :, 0] * 1024.0).astype(int)
    np.testing.assert_array_equal(steps, r[idx])
    # Fixed blocks of 6: consecutive rows (wrapping) inside a block.
    inside = (np.arange(1, 399) % 6) != 0
    np.testing.assert_array_equal(idx[:, 1:][:, inside], ((idx[:, :-1] + 1) % t)[:, inside])


def test_stationary_blocks_have_geometric_lengths_with_the_mean_block() -> None:
    t = 1_000_000
    r = (np.arange(t) / 2.0**20)[:, None]
    out = np.empty((20, 20_001, 1))
    block = 24
    km.bootstrap_log_paths_nb(9, 0, r, block, True, math.log1p(-1.0 / block), out)
    idx = np.rint(np.diff(out[:, :, 0], axis=1) * 2.0**20).astype(np.int64)
    starts = np.diff(idx, axis=1) != 1  # a new block (a fresh start lands on idx + 1 w.p. 1e-6)
    mean_len = starts.size / starts.sum()
    assert mean_len == pytest.approx(block, rel=0.05)
    # Geometric: P(length >= 2 * block) = (1 - 1/block)**(2 block - 1) ~ e^-2.
    lengths = np.diff(np.flatnonzero(starts[0]))
    assert np.mean(lengths >= 2 * block) == pytest.approx((1 - 1 / block) ** (2 * block - 1), abs=0.05)


# --- the factor model -------------------------------------------------------------------------
def test_factor_asset_does_not_depend_on_the_other_assets() -> None:
    alone = FactorJumpModel(
        assets=("BTC",), factor="BTC", factor_mean=MODEL.factor_mean, factor_vol=MODEL.factor_vol,
        intercept=(0.0,), beta=(1.0,), idio_vol=(VolModel(0.0),), jump_intensity=MODEL.jump_intensity,
        jump_mean=MODEL.jump_mean, jump_std=MODEL.jump_std,
    )  # fmt: skip
    np.testing.assert_array_equal(
        factor_jump_paths(alone, 4, 300, 5)[:, :, 0], factor_jump_paths(MODEL, 4, 300, 5)[:, :, 0]
    )


def test_substeps_split_a_bar_into_steps_of_the_same_bar_variance() -> None:
    m = MODEL.without_drift()
    hourly = np.log(factor_jump_paths(m, 400, 24, 1))
    minute = np.log(factor_jump_paths(m, 400, 24 * 60, 1, substeps=60))
    v_h = np.var(hourly[:, -1, :], axis=0)
    v_m = np.var(minute[:, -1, :], axis=0)
    np.testing.assert_allclose(v_m, v_h, rtol=0.25)


def _simulate_history(model: FactorJumpModel, t: int, seed: int) -> pd.DataFrame:
    p = factor_jump_paths(model, 1, t, seed)[0]
    return pd.DataFrame(np.diff(np.log(p), axis=0), columns=list(model.assets))


def test_fit_recovers_betas_jumps_and_vols_of_a_simulated_market() -> None:
    true = FactorJumpModel(
        assets=("BTC", "ETH", "SOL"), factor="BTC", factor_mean=2e-5, factor_vol=VolModel(0.005),
        intercept=(0.0, 1e-5, -1e-5), beta=(1.0, 0.9, 1.4),
        idio_vol=(VolModel(0.0), VolModel(0.004), VolModel(0.008)),
        jump_intensity=0.004, jump_mean=-0.08, jump_std=0.01, jump_beta=(1.0, 1.1, 1.6),
        jump_idio_std=(0.0, 0.0, 0.02),
    )  # fmt: skip
    t = 60_000
    fit = fit_factor_jump(_simulate_history(true, t, 2), vol="constant")
    assert fit.assets == true.assets
    assert fit.n_obs == t
    expected = true.jump_intensity * t
    assert abs(fit.n_jumps - expected) < 4 * math.sqrt(expected)
    assert fit.jump_mean == pytest.approx(-0.08, abs=0.003)
    np.testing.assert_allclose(fit.beta, true.beta, atol=0.02)
    np.testing.assert_allclose(fit.jump_beta, true.jump_beta, atol=0.05)
    np.testing.assert_allclose([v.vol for v in fit.idio_vol], [v.vol for v in true.idio_vol], rtol=0.03)
    assert fit.factor_vol.vol == pytest.approx(0.005, rel=0.03)
    assert fit.jump_idio_std[2] == pytest.approx(0.02, rel=0.3)


def test_fit_recovers_garch_t_parameters() -> None:
    true = FactorJumpModel(
        assets=("BTC", "SOL"), factor="BTC", factor_mean=0.0, factor_vol=VolModel(0.006, 0.08, 0.9, 5.0),
        intercept=(0.0, 0.0), beta=(1.0, 1.3), idio_vol=(VolModel(0.0), VolModel(0.008, 0.05, 0.9, 8.0)),
    )  # fmt: skip
    fit = fit_factor_jump(_simulate_history(true, 40_000, 4), vol="garch_t")
    fv, iv = fit.factor_vol, fit.idio_vol[1]
    assert fv.alpha == pytest.approx(0.08, abs=0.025)
    assert fv.beta == pytest.approx(0.9, abs=0.03)
    assert 4.0 < fv.dof < 8.0
    assert iv.alpha == pytest.approx(0.05, abs=0.02)
    assert iv.beta == pytest.approx(0.9, abs=0.04)
    assert fit.beta[1] == pytest.approx(1.3, abs=0.02)


def test_model_round_trips_through_json() -> None:
    d = json.loads(json.dumps(MODEL.to_dict()))
    assert FactorJumpModel.from_dict(d) == MODEL
    np.testing.assert_array_equal(factor_jump_paths(d, 2, 20, 1), factor_jump_paths(MODEL, 2, 20, 1))


def test_factor_spec_can_fit_from_returns() -> None:
    spec = {
        "model": "factor_jump",
        "assets": ["SOL"],
        "returns": R,
        "fit": {"vol": "constant"},
        "n_steps": 10,
        "seed": 1,
    }
    fitted = fit_factor_jump(R, vol="constant")
    np.testing.assert_array_equal(market_paths_for(spec, 3)[:, :, 0], factor_jump_paths(fitted, 3, 10, 1)[:, :, 2])


# --- user paths and data alignment --------------------------------------------------------------
def test_user_market_paths_stack_per_asset() -> None:
    btc, sol = np.array([100.0, 101.0, 99.0]), np.array([10.0, 9.0, 8.0])
    got = user_market_paths({"BTC": btc, "SOL": sol})
    assert got.shape == (1, 3, 2)
    np.testing.assert_array_equal(got[0], np.column_stack([btc, sol]))
    spec = {"model": "user", "assets": ["SOL", "BTC"], "paths": {"BTC": btc, "SOL": sol}}
    np.testing.assert_array_equal(market_path_for(spec, 9), np.column_stack([sol, btc]))
    rows = {"BTC": np.vstack([btc, btc * 2]), "SOL": np.vstack([sol, sol * 2])}
    np.testing.assert_array_equal(market_path_for({**spec, "paths": rows}, 1), np.column_stack([sol, btc]) * 2)
    with pytest.raises(InputError, match="2 rows, path 2"):
        market_path_for({**spec, "paths": rows}, 2)


def _bars(closes: list[float], hours: list[int]) -> pd.DataFrame:
    idx = pd.DatetimeIndex([pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in hours])
    return pd.DataFrame({"close": closes}, index=idx)


def test_joint_log_returns_keep_only_simultaneous_consecutive_bars() -> None:
    btc = _bars([100.0, 110.0, 121.0, 100.0, 90.0], [0, 1, 2, 3, 4])
    sol = _bars([10.0, 12.0, 9.0, 9.9], [0, 1, 3, 4])  # hour 2 missing
    got = joint_log_returns({"BTC": btc, "SOL": sol})
    assert list(got.columns) == ["BTC", "SOL"]
    assert [ts.hour for ts in got.index] == [1, 4]  # 1->3 spans the gap: dropped
    np.testing.assert_allclose(got.to_numpy(), np.log([[1.1, 1.2], [0.9, 1.1]]))


def _same_asset(step_hours: int, n: int, *, label: bool) -> pd.DataFrame:
    # One price path sampled every step_hours hours: the same asset at two intervals.
    hours = list(range(0, n * step_hours, step_hours))
    frame = _bars([100.0 * math.exp(0.01 * math.sin(h)) for h in hours], hours)
    if label:
        frame.attrs["interval"] = f"{step_hours}h" if step_hours < 24 else f"{step_hours // 24}d"
    return frame


@pytest.mark.parametrize("label", [True, False], ids=["declared", "inferred"])
def test_joint_log_returns_refuses_frames_of_different_intervals(label: bool) -> None:
    # Hourly bars beside daily ones were joined on the shared midnights (24 h apart: one daily
    # return beside an hourly one) with the "1d" spacing: the same asset correlated -0.007.
    hourly, daily = _same_asset(1, 24 * 30, label=label), _same_asset(24, 30, label=label)
    with pytest.raises(InputError, match=r"prices\['H'\] has 1h bars but prices\['D'\] has 1d bars.*resample"):
        joint_log_returns({"H": hourly, "D": daily})
    # One interval: accepted, and the same asset's returns are equal.
    got = joint_log_returns({"H": hourly, "H2": hourly.copy()})
    np.testing.assert_array_equal(got["H"], got["H2"])


def test_joint_log_returns_refuses_a_label_the_bars_contradict() -> None:
    daily = _same_asset(24, 30, label=False)
    daily.attrs["interval"] = "1h"
    with pytest.raises(InputError, match=r"prices\['D'\]: attrs\['interval'\] is '1h' but the bars are 1d apart"):
        joint_log_returns({"D": daily, "D2": _same_asset(24, 30, label=True)})


@pytest.mark.shared_data
def test_joint_log_returns_of_real_hourly_and_daily_bars_is_refused() -> None:
    files = [SHARED / "data" / "ohlcv" / f"BTCUSDT-PERP_{i}.csv" for i in ("1h", "1d")]
    if not all(p.is_file() for p in files):
        pytest.skip("../shared/data/ohlcv BTCUSDT-PERP 1h and 1d files are not present")
    h, d = (load_ohlcv(p) for p in files)
    with pytest.raises(InputError, match=r"1h bars but .* 1d bars"):
        joint_log_returns({"BTC_1h": h, "BTC_1d": d})


# --- bad input ----------------------------------------------------------------------------------
_BAD_R = R.to_numpy().copy()
_BAD_R[5, 1] = np.nan
BAD: list[tuple[Any, str]] = [
    (lambda: joint_bootstrap_paths(R, 2, 10, -1), "seed .* was -1"),
    (lambda: joint_bootstrap_paths(R, 2, 0, 1), "n_steps .* was 0"),
    (lambda: joint_bootstrap_paths(R, 2, 10, 1, block=0), "block .* was 0"),
    (lambda: joint_bootstrap_paths(R, 2, 10, 1, method="circular"), "method .* 'circular'"),
    (lambda: joint_bootstrap_paths(_BAD_R, 2, 10, 1), r"returns\[5, 1\] \(1\) .* nan"),
    (lambda: joint_bootstrap_paths(R, 2, 10, 1, s0=[1.0, -2.0, 3.0]), r"s0\['ETH'\] .* -2.0"),
    (lambda: joint_bootstrap_paths(R, 2, 10, 1, s0=[1.0, 2.0]), "3 prices"),
    (lambda: joint_bootstrap_paths(R, 2, 10, 1, assets=["BTC", "DOGE"]), r"no column\(s\) \['DOGE'\]"),
    (lambda: VolModel(0.01, 0.5, 0.6), "alpha \\+ beta .* 1.1"),
    (lambda: VolModel(0.01, dof=2.0), "dof .* 2.0"),
    (lambda: VolModel(-0.01), "vol .* -0.01"),
    (lambda: FactorJumpModel(**{**MODEL.to_dict(), "factor": "DOGE"}), "factor .* 'DOGE'"),
    (lambda: FactorJumpModel(**{**MODEL.to_dict(), "beta": [1.2, 1.1, 1.3]}), r"\(0, 1, 1, 0, 0\), was \(0.0, 1.2"),
    (lambda: FactorJumpModel(**{**MODEL.to_dict(), "beta": [1.0, 1.1]}), "beta must have one value per asset"),
    (lambda: FactorJumpModel(**{**MODEL.to_dict(), "beta": [10**400, 1, 1]}), "beta must be a sequence of 3 numbers"),
    (lambda: FactorJumpModel(**{**MODEL.to_dict(), "jump_intensity": -1.0}), "jump_intensity .* -1.0"),
    (lambda: FactorJumpModel.from_dict({**MODEL.to_dict(), "lam": 1.0}), "'lam'"),
    (lambda: factor_jump_paths(MODEL, 2, 10, 1, substeps=0), "substeps .* was 0"),
    (lambda: factor_jump_paths(MODEL, 2, 10, 1, s0={"BTC": 1.0}), r"s0 has no start price .* \['ETH', 'SOL'\]"),
    (lambda: fit_factor_jump(R, factor="DOGE"), "factor .* 'DOGE'"),
    (lambda: fit_factor_jump(R, vol="egarch"), "vol .* 'egarch'"),
    (lambda: fit_factor_jump(R.iloc[:150]), "rows, had 150"),
    (lambda: detect_jumps(R["BTC"], window=2), "window .* was 2"),
    (lambda: detect_jumps(R["BTC"], significance=1.5), "significance .* 1.5"),
    (lambda: user_market_paths({"BTC": [1.0, 2.0, 3.0], "ETH": [1.0, 0.0, 2.0]}), r"paths\['ETH'\]: path\[1\] .* 0.0"),
    (lambda: user_market_paths({"BTC": [1.0, 2.0, 3.0], "ETH": [1.0, 2.0]}), "one shape"),
    (lambda: user_market_paths([1.0, 2.0]), "mapping"),
    (lambda: joint_log_returns({"BTC": _bars([1.0, -1.0], [0, 1])}), r"prices\['BTC'\] at .* -1.0"),
    (lambda: joint_log_returns({"BTC": pd.DataFrame({"close": [1.0, 2.0]})}), "timezone-aware"),
    (lambda: market_paths_for({"model": "garch", "assets": ["BTC"]}, 1), "'garch'"),
    (lambda: market_paths_for({**BOOT, "assets": "BTC"}, 1), r"spec\['assets'\] .* 'BTC'"),
    (lambda: market_paths_for({k: v for k, v in BOOT.items() if k != "seed"}, 1), r"missing \['seed'\]"),
    (lambda: market_paths_for({**BOOT, "sigma": 0.8}, 1), r"unknown keys \['sigma'\]"),
    (lambda: market_paths_for({**SPECS[3], "returns": R}, 1), "exactly one of 'params' or 'returns'"),
    (lambda: market_paths_for({**SPECS[3], "assets": ["DOGE"]}, 1), r"\['DOGE'\] the factor model lacks"),
    (lambda: market_path_for(BOOT, -1), "k .* was -1"),
]


@pytest.mark.parametrize(("call", "match"), BAD, ids=[m for _, m in BAD])
def test_bad_input_raises_input_error_naming_the_value(call: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


# --- real data (../shared) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    files = {a: SHARED / "data" / "ohlcv" / f"{a}USDT-SPOT_1h.csv" for a in ("BTC", "ETH", "SOL", "XRP")}
    if not all(p.is_file() for p in files.values()):
        pytest.skip("../shared/data/ohlcv spot 1h files of BTC, ETH, SOL, XRP are not present")
    # Spot bars: SOL's perp has 1h bars only from 2025-02; skip SOL's listing day.
    ret = joint_log_returns({a: load_ohlcv(p) for a, p in files.items()})
    return ret.loc["2020-08-12":]


@pytest.mark.shared_data
def test_bootstrap_reproduces_the_hourly_correlations_within_sampling_error(hourly: pd.DataFrame) -> None:
    sample = np.corrcoef(hourly.to_numpy().T)
    groups, per_group, n_steps = 20, 10, 2_000
    p = joint_bootstrap_paths(hourly, groups * per_group, n_steps, 17)
    steps = np.diff(np.log(p), axis=1).reshape(groups, per_group * n_steps, 4)
    by_group = np.array([np.corrcoef(g.T) for g in steps])
    pooled = np.corrcoef(steps.reshape(-1, 4).T)
    se = by_group.std(axis=0, ddof=1) / math.sqrt(groups)
    off = ~np.eye(4, dtype=bool)
    assert np.all(se[off] < 0.02)  # the check has power
    assert np.all(np.abs(pooled - sample)[off] < 4.0 * se[off] + 1e-3)
    assert sample[0, 2] > 0.5  # BTC/SOL co-move in the data, so in the paths


@pytest.fixture(scope="module")
def fitted(hourly: pd.DataFrame) -> FactorJumpModel:
    return fit_factor_jump(hourly.loc[:"2023-12-31"], factor="BTC", vol="garch_t")


def _crash_windows(log_returns: np.ndarray, hours: int = 24) -> tuple[np.ndarray, np.ndarray]:
    # 24h log returns of every window (rows: windows, columns: assets) and the crash mask.
    c = np.cumsum(log_returns, axis=-2)
    w = c[..., hours:, :] - c[..., :-hours, :]
    w = w.reshape(-1, log_returns.shape[-1])
    return w, w[:, 0] < math.log(0.9)


@pytest.mark.shared_data
def test_sol_beta_above_one_and_crashes_hit_sol_harder_in_and_out_of_sample(
    fitted: FactorJumpModel, hourly: pd.DataFrame
) -> None:
    i_sol = fitted.assets.index("SOL")
    assert fitted.beta[i_sol] > 1.0
    assert fitted.jump_beta[i_sol] > 1.0
    assert fitted.n_jumps > 50
    # Simulated crashes: BTC down more than 10 % over 24 hours.
    p = factor_jump_paths(fitted.without_drift(), 200, 5_000, 23)
    steps = np.diff(np.log(p), axis=1)
    per_path = []
    for path in steps:
        w, crash = _crash_windows(path)
        if crash.any():
            per_path.append(np.mean(w[crash, i_sol] - w[crash, 0]))
    gap = np.array(per_path)
    assert len(gap) > 50
    assert gap.mean() < -4.0 * gap.std(ddof=1) / math.sqrt(len(gap))  # SOL falls more than BTC
    w, crash = _crash_windows(steps)
    sim_ratio = w[crash, i_sol].mean() / w[crash, 0].mean()
    assert sim_ratio > 1.15
    # Held-out 2024-2026: the realised crashes and beta, against the 2020-2023 fit.
    test = hourly.loc["2024-01-01":, list(fitted.assets)]
    w, crash = _crash_windows(test.to_numpy())
    assert crash.sum() >= 10
    real_ratio = w[crash, i_sol].mean() / w[crash, 0].mean()
    assert real_ratio > 1.0
    assert abs(sim_ratio - real_ratio) < 0.25
    held_out = fit_factor_jump(test, factor="BTC", vol="constant")
    assert held_out.beta[i_sol] > 1.0
    assert abs(held_out.beta[i_sol] - fitted.beta[i_sol]) < 0.15
