"""The replay's time-varying book depth (issue 20): the trailing multiplier's formula, its
causality and bounds, the config keys, and that switching it off gives the static book's replay."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_replay import ROOT, SAMPLE, synthetic_raw

from levguard.cascade.replay import load_markets, run_replay
from levguard.cascade.replay_config import config_from_dict
from levguard.cascade.replay_data import trailing_depth_multiplier
from levguard.errors import InputError

_RANGE_MEAN = math.sqrt(8.0 / math.pi)
CALM_QV, CALM_RANGE = 1_000.0, 0.001
V0 = CALM_QV * 1440.0
SIGMA0 = CALM_RANGE / _RANGE_MEAN * math.sqrt(1440.0)


def hand_bars(qv: list[float], rng: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Bars with the given quote volume and log range ln(high / low) exactly.
    low = np.full(len(qv), 100.0)
    return np.array(qv), low * np.exp(np.array(rng)), low


def multiplier(qv: Any, high: Any, low: Any, n_before: int, **kw: Any) -> np.ndarray:
    args: dict[str, Any] = {
        "n_before": n_before,
        "steps_per_bar": 4,
        "window_minutes": 2,
        "floor": 0.05,
        "daily_volume": V0,
        "sigma_daily": SIGMA0,
    }
    args.update(kw)
    return trailing_depth_multiplier(qv, high, low, **args)


def test_multiplier_is_the_formula_on_hand_built_bars() -> None:
    # Three calm look-back bars, then four window bars whose volume and range grow.
    qv, high, low = hand_bars(
        [CALM_QV] * 3 + [2_000.0, 5_000.0, 9_000.0, 9_000.0], [CALM_RANGE] * 3 + [0.004, 0.01, 0.03, 0.03]
    )
    m = multiplier(qv, high, low, 3)
    assert m.shape == (4 * 4 + 1,)
    # m_b = (V_t / V_0) (sigma_0 / sigma_t)^2 over the two bars closed before window bar b (medians).
    expected_bars = [
        1.0,  # two calm bars
        (1_500.0 / CALM_QV) * (CALM_RANGE / 0.0025) ** 2,  # calm + bar 0: 0.24
        (3_500.0 / CALM_QV) * (CALM_RANGE / 0.007) ** 2,  # bars 0, 1: 0.0714
        0.05,  # bars 1, 2: 7 x (1/20)^2 = 0.0175, clipped to the floor
    ]
    assert expected_bars[1] == pytest.approx(0.24)
    expected = np.array([expected_bars[0]] + [x for x in expected_bars for _ in range(4)])
    np.testing.assert_allclose(m, expected, rtol=1e-12)
    # Step 0 (bar 0's open) and steps 1..4 belong to bar 0; step 5 starts bar 1.
    assert m[0] == m[4] == pytest.approx(1.0, rel=1e-12)
    assert m[5] == pytest.approx(0.24, rel=1e-12)


def test_multiplier_never_exceeds_the_calm_book_nor_falls_below_the_floor() -> None:
    # Ten times the volume at the calm range would be a deeper book: clipped to 1.
    qv, high, low = hand_bars([CALM_QV] * 2 + [10_000.0] * 4, [CALM_RANGE] * 6)
    m = multiplier(qv, high, low, 2)
    assert m[:5] == pytest.approx(1.0, rel=1e-12)  # the calm book itself (up to rounding of exp/log)
    assert np.all(m[5:] == 1.0)  # ten times the volume: clipped to exactly 1
    # No trailing range at all reads the calm book; a huge range hits the floor exactly.
    qv, high, low = hand_bars([CALM_QV] * 2 + [CALM_QV] * 4, [0.0, 0.0, 0.5, 0.5, 0.5, 0.5])
    m = multiplier(qv, high, low, 2, floor=0.2)
    assert np.all(m[:5] == 1.0)
    assert np.all(m[9:] == 0.2)


bars_st = st.lists(
    st.tuples(st.floats(1.0, 1e6), st.floats(0.0, 0.2)),
    min_size=5,
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(bars_st, st.integers(1, 4), st.integers(1, 6), st.floats(0.01, 1.0), st.integers(0, 2**16))
def test_multiplier_is_causal_and_bounded(
    bars: list[tuple[float, float]], n_before: int, window: int, floor: float, seed: int
) -> None:
    qv, high, low = hand_bars([b[0] for b in bars], [b[1] for b in bars])
    n_before = min(n_before, len(bars) - 1)
    spb = 3
    m = multiplier(qv, high, low, n_before, window_minutes=window, floor=floor, steps_per_bar=spb)
    assert np.all((m >= floor) & (m <= 1.0))
    rng = np.random.default_rng(seed)
    n_win = len(bars) - n_before
    for b in range(n_win):
        # Corrupt window bar b (the current step's bar) and every later bar: the multiplier of
        # every step up to and including bar b's steps is unchanged, bit for bit.
        qv2, high2, low2 = qv.copy(), high.copy(), low.copy()
        g = n_before + b
        qv2[g:] = rng.uniform(1.0, 1e7, len(bars) - g)
        high2[g:] = low2[g:] * np.exp(rng.uniform(0.0, 0.5, len(bars) - g))
        m2 = multiplier(qv2, high2, low2, n_before, window_minutes=window, floor=floor, steps_per_bar=spb)
        last = (b + 1) * spb  # the last step of bar b
        assert np.array_equal(m2[: last + 1], m[: last + 1])


def test_multiplier_rejects_bad_arguments() -> None:
    qv, high, low = hand_bars([CALM_QV] * 4, [CALM_RANGE] * 4)
    with pytest.raises(InputError, match="depth_floor"):
        multiplier(qv, high, low, 2, floor=0.0)
    with pytest.raises(InputError, match="depth_window_minutes"):
        multiplier(qv, high, low, 2, window_minutes=0)
    with pytest.raises(InputError, match="n_before"):
        multiplier(qv, high, low, 4)


@pytest.mark.parametrize(
    ("book", "match"),
    [
        ({"depth_collapse": "yes"}, r"book.depth_collapse must be true or false, was 'yes'"),
        ({"depth_window_minutes": 0}, r"book.depth_window_minutes must be an integer >= 1, was 0"),
        ({"depth_window_minutes": 2.5}, r"book.depth_window_minutes .*2.5"),
        ({"depth_window_minutes": 500}, r"book.depth_window_minutes must be <= window.lookback_minutes \(120\)"),
        ({"depth_floor": 0}, r"book.depth_floor .*0"),
        ({"depth_floor": 1.5}, r"book.depth_floor .*1.5"),
        ({"depth_flor": 0.1}, r"book: unknown key\(s\) \['depth_flor'\]"),
    ],
)
def test_bad_depth_keys_are_named(tmp_path: Path, book: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        config_from_dict(synthetic_raw(tmp_path, book=book), tmp_path)


def test_collapse_thins_the_book_in_the_synthetic_crash(tmp_path: Path) -> None:
    cfg = config_from_dict(synthetic_raw(tmp_path, book={"depth_collapse": True, "depth_window_minutes": 5}), tmp_path)
    market = load_markets(cfg)["AAA"]
    m = market.depth_multiplier(cfg.steps_per_bar, 5, 0.05)
    assert m.shape == market.path(cfg.steps_per_bar).shape
    assert m.min() < 0.5  # the crash (minutes 200-220 of the file, 5-25 of the window) thins it
    on_res = run_replay(cfg)
    on = on_res.assets[0].row
    off = run_replay(cfg.with_params(depth_collapse=False)).assets[0].row
    assert on["liquidated_notional"] != off["liquidated_notional"]
    # the multiplier the book used is in the per-step paths and on the report's fourth row
    np.testing.assert_array_equal(on_res.assets[0].steps["depth_multiplier"].to_numpy(), m)
    from levguard.report.replay import replay_figure

    fig = replay_figure(on_res)
    assert any(t.name == "depth multiplier" for t in fig.data)


def test_off_is_the_static_book_bit_for_bit(tmp_path: Path) -> None:
    cfg = config_from_dict(synthetic_raw(tmp_path, book={"depth_collapse": False}), tmp_path)
    off = run_replay(cfg)
    # A multiplier of 1 at every step (floor 1) is the static book, exactly.
    ones = run_replay(cfg.with_params(depth_collapse=True, depth_floor=1.0))
    for a, b in zip(off.assets, ones.assets, strict=True):
        assert a.row == b.row
        assert a.steps.equals(b.steps)


def test_off_reproduces_the_static_replay_of_2025_10_10(shared_dir: Path) -> None:
    import yaml

    cfg = config_from_dict(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")), ROOT, str(SAMPLE))
    t = run_replay(replace(cfg, params=replace(cfg.params, depth_collapse=False))).table.set_index("asset")
    # The static book's figures (seed 0, the shipped parameters), captured again when the ADL
    # waterfall was fixed and the parameters refitted (before: 1.763e9, 4.62e8, 1.29e7 of bad
    # debt; SOL 5.91e8 and 3.15e8, at leverage_median 25 and mark_lag_seconds 15), and again when
    # the routing to ADL netted the fund over each round (2026-12-07; before: 1508118311.87,
    # 414702393.23, 5192118.63; SOL 530689789.75 and 316843966.91), and again when a step's
    # rounds became one metaorder on the book and the parameters were refitted (2026-12-07:
    # leverage_median 16 -> 25, mark_lag_seconds 30 -> 60; before: 1509437029.61, 413330114.30,
    # 5244981.80; SOL 530127249.80 and 317242728.41; first ADL 40 s), and again when a step's
    # walk started from the impact left by the steps before and the parameters were refitted
    # (2026-12-07: mark_lag_seconds 60 -> 120, fund_to_oi 0 -> 0.002; before: 1585581632.45,
    # 460299504.73, 4861184.48; SOL 583110060.87 and 318188489.53; first ADL 25 s).
    assert t.loc["BTC", "liquidated_notional"] == pytest.approx(1459709817.3381128, rel=1e-12)
    assert t.loc["BTC", "adl_notional"] == pytest.approx(612690407.9209929, rel=1e-12)
    assert t.loc["BTC", "bad_debt"] == pytest.approx(9393830.683957541, rel=1e-12)
    assert t.loc["SOL", "liquidated_notional"] == pytest.approx(407119804.0978542, rel=1e-12)
    assert t.loc["SOL", "adl_notional"] == pytest.approx(479681392.4094951, rel=1e-12)
    assert t.loc["BTC", "first_adl_delay_seconds"] == 25
