"""Statistical properties of the volatility estimators on simulated GBM OHLC bars.

* Unbiasedness: with continuous-path highs and lows every estimator's mean is within 4 standard
  errors of the true variance; with highs and lows from ``m`` grid prices the range estimators
  are biased low by the discrete-monitoring amount predicted from Broadie, Glasserman & Kou
  (1997): each extreme is short by ``beta sigma sqrt(1/m)``, ``beta = -zeta(1/2)/sqrt(2 pi)``.
* Efficiency against close-to-close, measured as the ratio of squared coefficients of variation
  (so a discretely monitored, biased-low estimator is judged as if bias-corrected): Parkinson
  4.91 (its variance is ``(9 zeta(3) - 16 ln^2 2) / (16 ln^2 2) = 0.407 sigma^4`` against
  ``2 sigma^4``), Garman-Klass 7.4 (Garman & Klass 1980), Rogers-Satchell about 6 (Rogers &
  Satchell 1991) for driftless continuous-path GBM.
* Drift: Parkinson and Garman-Klass are biased up, Rogers-Satchell and Yang-Zhang are not.
* Opening jumps: only Yang-Zhang (and close-to-close) capture them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gbm_ohlc import Bars
from scipy.special import zeta

from levguard.core.risk import volatility as v

BETA = -float(zeta(0.5)) / math.sqrt(2.0 * math.pi)  # 0.5826, Broadie-Glasserman-Kou (1997)
MEAN_RANGE = 2.0 * math.sqrt(2.0 / math.pi)  # E[max - min] of a standard Brownian motion on [0, 1] (Feller 1951)
BLOCK = 20  # bars per point estimate


_CACHE: dict[tuple[str, int], dict[str, np.ndarray]] = {}


def _terms(bars: Bars) -> dict[str, np.ndarray]:
    key = ("terms", id(bars))
    if key not in _CACHE:
        _CACHE[key] = _compute_terms(bars)
    return _CACHE[key]


def _compute_terms(bars: Bars) -> dict[str, np.ndarray]:
    closes = np.r_[bars.prev_close, bars.close]
    r = v.log_returns(closes)
    return {
        "squared_return": r * r,
        "parkinson": v.parkinson_terms(bars.high, bars.low),
        "garman_klass": v.garman_klass_terms(bars.open, bars.high, bars.low, bars.close),
        "rogers_satchell": v.rogers_satchell_terms(bars.open, bars.high, bars.low, bars.close),
    }


def _rel_bias(x: np.ndarray, var: float) -> tuple[float, float]:
    """(mean / var - 1, its standard error)."""
    return float(x.mean() / var - 1.0), float(x.std() / math.sqrt(x.shape[0]) / var)


def _cv2(x: np.ndarray) -> float:
    return float(x.var() / x.mean() ** 2)


def _block_estimates(bars: Bars) -> dict[str, np.ndarray]:
    """Point estimates over consecutive blocks of BLOCK bars (each with its previous close)."""
    key = ("blocks", id(bars))
    if key not in _CACHE:
        _CACHE[key] = _compute_block_estimates(bars)
    return _CACHE[key]


def _compute_block_estimates(bars: Bars) -> dict[str, np.ndarray]:
    closes = np.r_[bars.prev_close, bars.close]
    out: dict[str, list[float]] = {
        k: [] for k in ("close_to_close", "parkinson", "garman_klass", "rogers_satchell", "yang_zhang")
    }
    for j in range(bars.close.shape[0] // BLOCK):
        s = slice(j * BLOCK, (j + 1) * BLOCK)
        o, h, lo, c = bars.open[s], bars.high[s], bars.low[s], bars.close[s]
        out["close_to_close"].append(v.close_to_close(closes[j * BLOCK : (j + 1) * BLOCK + 1]))
        out["parkinson"].append(v.parkinson(h, lo))
        out["garman_klass"].append(v.garman_klass(o, h, lo, c))
        out["rogers_satchell"].append(v.rogers_satchell(o, h, lo, c))
        out["yang_zhang"].append(v.yang_zhang(o, h, lo, c, prev_close=float(closes[j * BLOCK])))
    return {k: np.asarray(x) for k, x in out.items()}


def predicted_discrete_bias(name: str, m: int) -> float:
    """Relative bias of a range estimator from highs/lows of m grid prices (to second order in
    the BGK shift ``2 beta sigma / sqrt(m)`` of the range)."""
    if name == "parkinson":
        return (-4.0 * BETA * MEAN_RANGE / math.sqrt(m) + 4.0 * BETA**2 / m) / (4.0 * math.log(2.0))
    # Garman-Klass: 0.5 * E[(R - 2 b)^2 - R^2]; Rogers-Satchell: -2 b E[u - d] + 2 b^2 (same).
    return -2.0 * BETA * MEAN_RANGE / math.sqrt(m) + 2.0 * BETA**2 / m


# --------------------------------------------------------------------------- unbiasedness


@pytest.mark.parametrize("name", ["squared_return", "parkinson", "garman_klass", "rogers_satchell"])
def test_unbiased_with_continuous_extremes(continuous_bars: Bars, name: str) -> None:
    bias, se = _rel_bias(_terms(continuous_bars)[name], continuous_bars.sigma**2)
    assert abs(bias) < 4.0 * se, (name, bias, se)
    assert abs(bias) < 0.02


def test_block_point_estimates_unbiased(continuous_bars: Bars) -> None:
    """The mean of 1000 point estimates over 20 bars is the true variance (all estimators)."""
    for name, est in _block_estimates(continuous_bars).items():
        bias, se = _rel_bias(est, continuous_bars.sigma**2)
        assert abs(bias) < max(4.0 * se, 0.01), (name, bias, se)


@pytest.mark.parametrize("name", ["parkinson", "garman_klass", "rogers_satchell"])
@pytest.mark.parametrize("fixture", ["discrete_bars_100", "discrete_bars_400"])
def test_discrete_monitoring_bias_matches_theory(request: pytest.FixtureRequest, fixture: str, name: str) -> None:
    """Highs and lows from m prices per bar bias range estimators low by ~1.3-1.9/sqrt(m)."""
    bars: Bars = request.getfixturevalue(fixture)
    bias, se = _rel_bias(_terms(bars)[name], bars.sigma**2)
    predicted = predicted_discrete_bias(name, bars.m)
    assert bias < -3.0 * se  # clearly biased low
    assert abs(bias - predicted) < 4.0 * se + 0.005, (name, bars.m, bias, predicted, se)


def test_discrete_bias_shrinks_like_inverse_sqrt_m(discrete_bars_100: Bars, discrete_bars_400: Bars) -> None:
    """Four times the prices per bar halves the bias."""
    t100, t400 = _terms(discrete_bars_100), _terms(discrete_bars_400)
    for name in ("parkinson", "garman_klass", "rogers_satchell"):
        b100, _ = _rel_bias(t100[name], discrete_bars_100.sigma**2)
        b400, _ = _rel_bias(t400[name], discrete_bars_400.sigma**2)
        assert 1.6 < b100 / b400 < 2.6, (name, b100, b400)


def test_close_to_close_is_not_affected_by_monitoring(discrete_bars_100: Bars) -> None:
    bias, se = _rel_bias(_terms(discrete_bars_100)["squared_return"], discrete_bars_100.sigma**2)
    assert abs(bias) < 4.0 * se


# --------------------------------------------------------------------------- efficiency


@pytest.mark.parametrize(
    ("name", "theory"),
    [("parkinson", 4.91), ("garman_klass", 7.4), ("rogers_satchell", 6.0)],
)
def test_efficiency_continuous(continuous_bars: Bars, name: str, theory: float) -> None:
    """Per bar, against the squared return: the theoretical efficiencies within 12%."""
    t = _terms(continuous_bars)
    eff = _cv2(t["squared_return"]) / _cv2(t[name])
    assert abs(eff / theory - 1.0) < 0.12, (name, eff)


def test_efficiency_discrete(discrete_bars_400: Bars) -> None:
    """Discrete monitoring costs a little efficiency; the range estimators still win clearly."""
    t = _terms(discrete_bars_400)
    base = _cv2(t["squared_return"])
    assert base / _cv2(t["parkinson"]) > 3.8
    assert base / _cv2(t["garman_klass"]) > 5.5
    assert base / _cv2(t["rogers_satchell"]) > 4.5


def test_block_efficiency_against_sample_variance(continuous_bars: Bars) -> None:
    """Point estimates over 20 bars against the 20-return sample variance (divisor n - 1)."""
    est = _block_estimates(continuous_bars)
    base = _cv2(est["close_to_close"])
    eff = {k: base / _cv2(x) for k, x in est.items()}
    # Per-bar efficiency times n / (n - 1) for the range estimators.
    assert 4.3 < eff["parkinson"] < 6.0
    assert 6.5 < eff["garman_klass"] < 8.8
    assert 5.2 < eff["rogers_satchell"] < 7.2
    assert eff["yang_zhang"] > 5.0


# --------------------------------------------------------------------------- drift and gaps


def test_drift_biases_parkinson_and_garman_klass_not_rogers_satchell(drift_bars: Bars) -> None:
    """A log drift of one standard deviation per bar."""
    t = _terms(drift_bars)
    var = drift_bars.sigma**2
    park, _ = _rel_bias(t["parkinson"], var)
    gk, _ = _rel_bias(t["garman_klass"], var)
    rs, rs_se = _rel_bias(t["rogers_satchell"], var)
    assert park > 0.25
    assert gk > 0.08
    assert abs(rs) < 4.0 * rs_se


def test_yang_zhang_and_close_to_close_unbiased_under_drift_and_gaps(gap_bars: Bars, drift_bars: Bars) -> None:
    """Opening jumps of variance 0.5 sigma^2: YZ and close-to-close measure the total 1.5 sigma^2,
    Rogers-Satchell only the intrabar sigma^2."""
    for bars in (gap_bars, drift_bars):
        total = bars.sigma**2 + bars.gap_sd**2
        est = _block_estimates(bars)
        for name in ("yang_zhang", "close_to_close"):
            bias, se = _rel_bias(est[name], total)
            assert abs(bias) < max(4.0 * se, 0.01), (name, bias, se)
    rs, rs_se = _rel_bias(_block_estimates(gap_bars)["rogers_satchell"], gap_bars.sigma**2 + gap_bars.gap_sd**2)
    assert abs(rs - (-1.0 / 3.0)) < 4.0 * rs_se


def test_yang_zhang_efficient_with_gaps(gap_bars: Bars) -> None:
    est = _block_estimates(gap_bars)
    assert _cv2(est["close_to_close"]) / _cv2(est["yang_zhang"]) > 3.0


def test_yang_zhang_24_7_reduces_to_k_weighted_sum(continuous_bars: Bars) -> None:
    """Open equals the previous close: V_o = 0 and YZ = k V_c + (1 - k) V_RS."""
    b = continuous_bars
    o, h, lo, c = b.open[:50], b.high[:50], b.low[:50], b.close[:50]
    k = v.yang_zhang_k(50)
    cc = np.log(c / o)
    expected = k * np.var(cc, ddof=1) + (1 - k) * v.rogers_satchell(o, h, lo, c)
    assert v.yang_zhang(o, h, lo, c, prev_close=b.prev_close) == pytest.approx(expected, rel=1e-9)
    assert v.yang_zhang_k(2) == pytest.approx(0.34 / (1.34 + 3.0))


# --------------------------------------------------------------------------- EWMA on GBM


def test_ewma_tracks_constant_variance(continuous_bars: Bars) -> None:
    r = v.log_returns(np.r_[continuous_bars.prev_close, continuous_bars.close])
    ewma = v.ewma_variance(r)
    warm = ewma[200:]
    bias, se = _rel_bias(warm, continuous_bars.sigma**2)
    # Serially correlated values: allow a generous multiple of the naive standard error.
    assert abs(bias) < 0.05
    del se
