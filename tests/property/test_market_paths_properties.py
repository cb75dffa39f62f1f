"""Invariants of the market-path generators (levguard.cascade.market_paths), checked by hypothesis."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from levguard.cascade.market_paths import (
    FactorJumpModel,
    VolModel,
    detect_jumps,
    factor_jump_paths,
    joint_bootstrap_paths,
    user_market_paths,
)

SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**63 - 1)
paths_k = st.integers(0, 2**61 - 8)


@st.composite
def return_tables(draw: st.DrawFn) -> np.ndarray:
    # Distinct rows on a grid of 1/64 (column 0 encodes the row), |r| <= 0.5.
    t = draw(st.integers(2, 30))
    k = draw(st.integers(1, 4))
    rest = draw(arrays(np.int64, (t, k - 1), elements=st.integers(-32, 32)))
    col0 = np.arange(t) - t // 2
    return np.column_stack([col0, rest]).astype(np.float64) / 64.0


@SETTINGS
@given(
    r=return_tables(),
    n_steps=st.integers(1, 60),
    block=st.integers(1, 10),
    method=st.sampled_from(["stationary", "fixed"]),
    seed=seeds,
    k=paths_k,
)
def test_bootstrap_steps_are_rows_and_prices_stay_positive(
    r: np.ndarray, n_steps: int, block: int, method: str, seed: int, k: int
) -> None:
    s0 = np.linspace(1.0, 100.0, r.shape[1])
    p = joint_bootstrap_paths(r, 3, n_steps, seed, s0=s0, block=block, method=method, first=k)  # type: ignore[arg-type]
    assert p.shape == (3, n_steps + 1, r.shape[1])
    assert np.all(np.isfinite(p))
    assert np.all(p > 0.0)
    np.testing.assert_array_equal(p[:, 0, :], np.broadcast_to(s0, (3, r.shape[1])))
    steps = np.diff(np.log(p), axis=1)
    idx = np.rint(steps[..., 0] * 64.0 + r.shape[0] // 2).astype(int)
    assert np.all((idx >= 0) & (idx < r.shape[0]))
    np.testing.assert_allclose(steps, r[idx], atol=1e-9)  # every asset moved by the same row
    # Path k alone is row 1 of the block that starts at k - 1 (or row 0 of one at k).
    alone = joint_bootstrap_paths(r, 1, n_steps, seed, s0=s0, block=block, method=method, first=k + 1)  # type: ignore[arg-type]
    np.testing.assert_array_equal(alone[0], p[1])


@st.composite
def models(draw: st.DrawFn) -> FactorJumpModel:
    k = draw(st.integers(1, 4))
    names = tuple(f"A{i}" for i in range(k))
    f = draw(st.integers(0, k - 1))
    vol = st.floats(1e-4, 0.03)
    ab = st.tuples(st.floats(0.0, 0.2), st.floats(0.0, 0.75))
    dof = st.sampled_from([math.inf, 3.0, 5.0, 30.0])

    def vm() -> VolModel:
        a, b = draw(ab)
        return VolModel(draw(vol), a, b, draw(dof))

    beta = [draw(st.floats(-1.0, 3.0)) for _ in range(k)]
    jbeta = [draw(st.floats(0.0, 3.0)) for _ in range(k)]
    idio = [vm() if draw(st.booleans()) else VolModel(0.0) for _ in range(k)]
    jidio = [draw(st.floats(0.0, 0.05)) for _ in range(k)]
    icpt = [draw(st.floats(-1e-3, 1e-3)) for _ in range(k)]
    beta[f], jbeta[f], idio[f], jidio[f], icpt[f] = 1.0, 1.0, VolModel(0.0), 0.0, 0.0
    return FactorJumpModel(
        assets=names, factor=names[f], factor_mean=draw(st.floats(-1e-3, 1e-3)), factor_vol=vm(),
        intercept=tuple(icpt), beta=tuple(beta), idio_vol=tuple(idio),
        jump_intensity=draw(st.sampled_from([0.0, 0.01, 0.2, 2.0])), jump_mean=draw(st.floats(-0.1, 0.05)),
        jump_std=draw(st.floats(0.0, 0.05)), jump_beta=tuple(jbeta), jump_idio_std=tuple(jidio),
    )  # fmt: skip


@SETTINGS
@given(m=models(), n_steps=st.integers(1, 80), substeps=st.integers(1, 5), seed=seeds, k=paths_k)
def test_factor_paths_positive_and_the_factor_ignores_the_other_assets(
    m: FactorJumpModel, n_steps: int, substeps: int, seed: int, k: int
) -> None:
    p = factor_jump_paths(m, 2, n_steps, seed, s0=50.0, substeps=substeps, first=k)
    assert p.shape == (2, n_steps + 1, len(m.assets))
    assert np.all(np.isfinite(p))
    assert np.all(p > 0.0)
    assert np.all(p[:, 0, :] == 50.0)
    np.testing.assert_array_equal(
        factor_jump_paths(m, 1, n_steps, seed, s0=50.0, substeps=substeps, first=k + 1)[0], p[1]
    )
    fi = m.factor_index
    alone = FactorJumpModel(
        assets=(m.factor,), factor=m.factor, factor_mean=m.factor_mean, factor_vol=m.factor_vol, intercept=(0.0,),
        beta=(1.0,), idio_vol=(VolModel(0.0),), jump_intensity=m.jump_intensity, jump_mean=m.jump_mean,
        jump_std=m.jump_std,
    )  # fmt: skip
    solo = factor_jump_paths(alone, 2, n_steps, seed, s0=50.0, substeps=substeps, first=k)
    np.testing.assert_array_equal(solo[:, :, 0], p[:, :, fi])


@SETTINGS
@given(m=models(), b=st.floats(-2.0, 3.0), n_steps=st.integers(1, 80), seed=seeds)
def test_an_asset_without_its_own_part_is_the_factor_times_its_beta(
    m: FactorJumpModel, b: float, n_steps: int, seed: int
) -> None:
    # Add asset X with intercept 0, beta = jump beta = b, no idiosyncratic shocks: ln X = b ln F.
    k = len(m.assets)
    x = FactorJumpModel(
        assets=(*m.assets, "X"), factor=m.factor, factor_mean=m.factor_mean, factor_vol=m.factor_vol,
        intercept=(*m.intercept, 0.0), beta=(*m.beta, b), idio_vol=(*m.idio_vol, VolModel(0.0)),
        jump_intensity=m.jump_intensity, jump_mean=m.jump_mean, jump_std=m.jump_std,
        jump_beta=(*m.jump_beta, b), jump_idio_std=(*m.jump_idio_std, 0.0),
    )  # fmt: skip
    y = np.log(factor_jump_paths(x, 2, n_steps, seed))
    np.testing.assert_allclose(y[:, :, k], b * y[:, :, m.factor_index], rtol=1e-9, atol=1e-12)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    at=st.integers(0, 1_999),
    size=st.floats(12.0, 40.0),
    sign=st.sampled_from([-1.0, 1.0]),
)
def test_a_planted_jump_is_detected(seed: int, at: int, size: float, sign: float) -> None:
    r = np.random.default_rng(seed).standard_normal(2_000) * 0.01
    r[at] += sign * size * 0.01
    test = detect_jumps(r, window=94)
    assert test.jumps[at]
    assert test.jumps.sum() <= 3  # Gaussian noise: few false alarms at 1 % significance


@SETTINGS
@given(
    prices=arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(2, 20), st.integers(1, 4)),
                  elements=st.floats(1e-6, 1e9)),
)  # fmt: skip
def test_user_paths_are_stacked_unchanged(prices: np.ndarray) -> None:
    paths = {f"A{j}": prices[:, :, j] for j in range(prices.shape[2])}
    np.testing.assert_array_equal(user_market_paths(paths), prices)
    one = {a: v[0] for a, v in paths.items()}
    np.testing.assert_array_equal(user_market_paths(one), prices[:1])
