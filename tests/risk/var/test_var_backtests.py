"""Kupiec, Christoffersen, Basel traffic light and Acerbi-Szekely Z2 against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from levguard.core.risk.backtest import (
    acerbi_szekely_z2,
    basel_traffic_light,
    basel_zone,
    christoffersen,
    kupiec_pof,
    var_exceptions,
    z2_statistic,
)
from levguard.errors import InputError


def _series(n: int, hits: list[int]) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[hits] = True
    return out


def _pof_by_hand(x: int, n: int, p: float) -> float:
    """Kupiec's LR written out with math.log (x strictly between 0 and n)."""
    phat = x / n
    return -2 * ((n - x) * math.log(1 - p) + x * math.log(p)) + 2 * ((n - x) * math.log(1 - phat) + x * math.log(phat))


def test_kupiec_textbook_case() -> None:
    """250 days at 99% with 8 exceptions: LR = 7.73, rejected at 5% (Jorion's 95% cut-off is 3.84)."""
    r = kupiec_pof(_series(250, [3, 40, 77, 100, 150, 151, 200, 249]), 0.99)
    assert r.statistic == pytest.approx(_pof_by_hand(8, 250, 0.01), rel=1e-12)
    assert r.statistic == pytest.approx(7.7336, abs=1e-4)
    assert r.pvalue == pytest.approx(stats.chi2.sf(r.statistic, 1), rel=1e-12)
    assert r.verdict == "reject"
    assert (r.n, r.exceptions) == (250, 8)
    assert r.details["expected"] == pytest.approx(2.5)


def test_kupiec_expected_count_accepts() -> None:
    r = kupiec_pof(_series(1000, list(range(5, 1000, 100))), 0.99)  # 10 = expected
    assert r.statistic == pytest.approx(0.0, abs=1e-12)
    assert r.pvalue == pytest.approx(1.0)
    assert r.verdict == "accept"


def test_kupiec_zero_and_all_exceptions() -> None:
    """0 ln 0 = 0: LR = -2 T ln(1 - p) without exceptions, -2 T ln p with only exceptions."""
    zero = kupiec_pof(np.zeros(250, dtype=bool), 0.99)
    assert zero.statistic == pytest.approx(-2 * 250 * math.log(0.99), rel=1e-12)
    assert zero.statistic == pytest.approx(5.0252, abs=1e-4)
    assert zero.verdict == "reject"  # too few exceptions is a failure too (over-conservative)
    full = kupiec_pof(np.ones(20, dtype=bool), 0.99)
    assert full.statistic == pytest.approx(-2 * 20 * math.log(0.01), rel=1e-12)
    assert math.isfinite(full.pvalue)
    assert full.verdict == "reject"
    short = kupiec_pof(np.zeros(10, dtype=bool), 0.99)
    assert short.verdict == "accept"  # 10 days cannot distinguish 0 from 0.1 expected


def test_christoffersen_hand_computed_counts() -> None:
    seq = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    r = christoffersen(seq, 0.95)
    # Transitions over the 19 pairs, counted by hand: 00 at pairs 1,5,6,9,14-18; 01 at 2,7,10,19;
    # 10 at 4,8,13; 11 at 3,11,12.
    assert (r.n00, r.n01, r.n10, r.n11) == (9, 4, 3, 3)
    n00, n01, n10, n11 = 9, 4, 3, 3
    pi01, pi11, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / 19
    lr_ind = -2 * ((n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)) + 2 * (
        n00 * math.log(1 - pi01) + n01 * math.log(pi01) + n10 * math.log(1 - pi11) + n11 * math.log(pi11)
    )
    assert r.independence.statistic == pytest.approx(lr_ind, rel=1e-12)
    assert r.independence.pvalue == pytest.approx(stats.chi2.sf(lr_ind, 1), rel=1e-12)
    lr_pof = _pof_by_hand(7, 20, 0.05)
    assert r.pof.statistic == pytest.approx(lr_pof, rel=1e-12)
    assert r.statistic == pytest.approx(lr_pof + lr_ind, rel=1e-12)
    assert r.conditional_coverage.statistic == r.statistic
    assert r.pvalue == pytest.approx(stats.chi2.sf(lr_pof + lr_ind, 2), rel=1e-12)
    assert r.conditional_coverage.details["df"] == 2.0


def test_christoffersen_clustered_exceptions_reject_independence() -> None:
    """Five exceptions in a row: the count passes Kupiec, the clustering fails independence."""
    r = christoffersen(_series(250, [100, 101, 102, 103, 104]), 0.99)
    assert r.pof.verdict == "accept"
    assert r.independence.verdict == "reject"
    assert r.independence.pvalue < 1e-4
    assert r.verdict == "reject"
    spread = christoffersen(_series(250, [20, 70, 120, 170, 220]), 0.99)
    assert spread.independence.verdict == "accept"
    assert spread.independence.statistic < r.independence.statistic


def test_christoffersen_edge_cases() -> None:
    none = christoffersen(np.zeros(250, dtype=bool), 0.99)
    assert none.independence.statistic == 0.0
    assert none.statistic == pytest.approx(none.pof.statistic)
    allx = christoffersen(np.ones(30, dtype=bool), 0.99)
    assert allx.independence.statistic == pytest.approx(0.0, abs=1e-12)
    assert allx.verdict == "reject"
    last_only = christoffersen(_series(100, [99]), 0.99)  # n10 + n11 = 0: empty second row
    assert (last_only.n10, last_only.n11) == (0, 0)
    assert math.isfinite(last_only.independence.statistic)
    two = christoffersen(np.array([True, False]), 0.9)
    assert two.n10 == 1
    with pytest.raises(InputError, match="at least 2"):
        christoffersen(np.array([True]), 0.99)


@pytest.mark.parametrize(("x", "zone"), [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red")])
def test_basel_zones_250_days(x: int, zone: str) -> None:
    r = basel_traffic_light(_series(250, list(range(x))), 0.99)
    assert r.zone == zone
    assert r.verdict == zone
    assert (r.green_max, r.yellow_max) == (4, 9)
    assert r.cumulative_probability == pytest.approx(stats.binom.cdf(x, 250, 0.01), rel=1e-10)
    assert r.pvalue == pytest.approx(stats.binom.sf(x - 1, 250, 0.01), rel=1e-9)


def test_basel_table_cumulative_probabilities_and_plus_factors() -> None:
    """Basel (1996) Table 2: cumulative probability 89.22% at 4, 95.88% at 5; plus factors."""
    assert basel_zone(4, 250).cumulative_probability == pytest.approx(0.8922, abs=5e-5)
    assert basel_zone(5, 250).cumulative_probability == pytest.approx(0.9588, abs=5e-5)
    assert [basel_zone(x, 250).plus_factor for x in range(12)] == [
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.40,
        0.50,
        0.65,
        0.75,
        0.85,
        1.0,
        1.0,
    ]
    assert basel_zone(3, 500).plus_factor is None


def test_basel_generalises_to_other_windows() -> None:
    r = basel_zone(0, 1000, 0.99)
    assert r.zone == "green"
    assert r.green_max == int(np.argmax(stats.binom.cdf(np.arange(1001), 1000, 0.01) >= 0.95)) - 1
    assert basel_zone(r.green_max + 1, 1000).zone == "yellow"
    assert basel_zone(r.yellow_max + 1, 1000).zone == "red"
    with pytest.raises(InputError, match="n_exceptions"):
        basel_zone(11, 10)


def test_z2_is_near_zero_under_the_correct_model() -> None:
    rng = np.random.default_rng(11)
    T, level = 750, 0.975
    sd = np.exp(rng.normal(-4.0, 0.3, T))  # time-varying forecasts
    z, phi = stats.norm.ppf(level), stats.norm.pdf(stats.norm.ppf(level))
    var, es = sd * z, sd * phi / (1 - level)
    means = [z2_statistic(sd * rng.standard_normal(T), var, es, level) for _ in range(400)]
    assert abs(np.mean(means)) < 0.03
    pnl = sd * rng.standard_normal(T)
    r = acerbi_szekely_z2(pnl, var, es, level, n_sims=2000, seed=1)
    assert r.verdict == "accept"
    assert abs(r.details["sim_mean"]) < 0.02
    assert r.details["critical_value"] < 0


def test_z2_rejects_underestimated_es() -> None:
    """True returns are t(3) with 1.5x the forecast scale: ES is underestimated."""
    rng = np.random.default_rng(12)
    T, level = 500, 0.975
    z, phi = stats.norm.ppf(level), stats.norm.pdf(stats.norm.ppf(level))
    var, es = np.full(T, z), np.full(T, phi / (1 - level))
    pnl = 1.5 * rng.standard_t(3, T)
    r = acerbi_szekely_z2(pnl, var, es, level, n_sims=2000, seed=2)
    assert r.statistic < r.details["critical_value"]
    assert r.verdict == "reject"
    assert r.pvalue < 0.01


def test_z2_student_t_null_and_callable_agree() -> None:
    rng = np.random.default_rng(13)
    T, level, nu = 400, 0.975, 4.0
    q = stats.t.ppf(level, nu)
    es_std = (nu + q * q) / (nu - 1) * stats.t.pdf(q, nu) / (1 - level)
    var, es = np.full(T, q), np.full(T, es_std)
    pnl = rng.standard_t(nu, T)
    a = acerbi_szekely_z2(pnl, var, es, level, simulate="t", nu=nu, n_sims=1000, seed=3)

    def draw(g: np.random.Generator, k: int) -> np.ndarray:
        return g.standard_t(nu, (k, T))

    b = acerbi_szekely_z2(pnl, var, es, level, simulate=draw, n_sims=1000, seed=3)
    assert a.statistic == b.statistic
    assert a.pvalue == pytest.approx(b.pvalue, abs=0.05)
    assert a.verdict == "accept"


def test_z2_formula_by_hand() -> None:
    pnl = np.array([0.5, -3.0, -1.0, -2.5])
    var = np.array([2.0, 2.0, 2.0, 2.0])
    es = np.array([2.5, 2.5, 3.0, 3.0])
    level = 0.9
    expected = (-3.0 / 2.5 + -2.5 / 3.0) / (4 * 0.1) + 1
    assert z2_statistic(pnl, var, es, level) == pytest.approx(expected)


def test_exception_validation() -> None:
    assert kupiec_pof([0, 1, 0, 0], 0.9).exceptions == 1
    with pytest.raises(InputError, match=r"exceptions\[1\] must be a boolean"):
        kupiec_pof([0, 2, 0], 0.99)
    with pytest.raises(InputError, match="exceptions must be a 1-D"):
        kupiec_pof(np.zeros((2, 2), dtype=bool), 0.99)
    with pytest.raises(InputError, match="exceptions must be a boolean array"):
        kupiec_pof(np.array(["a", "b"]), 0.99)
    with pytest.raises(InputError, match="level"):
        kupiec_pof([True], 99)
    with pytest.raises(InputError, match="significance"):
        kupiec_pof([True], 0.99, significance=5)
    with pytest.raises(InputError, match=r"es_forecasts\[0\] must be > 0"):
        z2_statistic([1.0], [0.0], [0.0], 0.99)
    with pytest.raises(InputError, match=r"es_forecasts\[0\] must be >= var_forecasts\[0\]"):
        z2_statistic([1.0], [2.0], [1.0], 0.99)
    with pytest.raises(InputError, match="same length"):
        z2_statistic([1.0, 2.0], [1.0], [1.0], 0.99)
    with pytest.raises(InputError, match="nu must be > 1"):
        acerbi_szekely_z2([1.0], [1.0], [2.0], 0.99, simulate="t")
    with pytest.raises(InputError, match="must return shape"):
        acerbi_szekely_z2([1.0], [1.0], [2.0], 0.99, simulate=lambda g, k: np.zeros((k, 2)), n_sims=100)
    np.testing.assert_array_equal(var_exceptions([1.0, 3.0, 2.0], [2.0, 2.0, 2.0]), [False, True, False])
