"""The standard normal and Student-t quantiles and ES shared by the closed-form VaRs and the Z2 backtest."""

from __future__ import annotations

import math

import pytest
from scipy import integrate, stats

from levguard.core.risk.var import normal_var, standard_normal_var_es, standard_t_var_es
from levguard.errors import InputError


@pytest.mark.parametrize("level", [0.9, 0.975, 0.99, 0.999])
def test_standard_normal_var_es_matches_scipy(level: float) -> None:
    """``z = Phi^{-1}(level)`` and ``ES = phi(z) / (1 - level)``."""
    z, es = standard_normal_var_es(level)
    assert z == pytest.approx(stats.norm.ppf(level), rel=1e-12)
    assert es == pytest.approx(stats.norm.pdf(z) / (1.0 - level), rel=1e-12)


def test_standard_normal_var_es_is_the_unit_normal_var() -> None:
    """A unit-variance, zero-mean one-day ``normal_var`` gives the same quantile and ES."""
    z, es = standard_normal_var_es(0.99)
    r = normal_var(0.99, sd=1.0)
    assert r.var == pytest.approx(z, rel=1e-15)
    assert r.es == pytest.approx(es, rel=1e-15)
    assert z == pytest.approx(2.3263, abs=1e-4)
    assert es == pytest.approx(2.6652, abs=1e-4)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        # standard_t_var_es(0.99, 0.5) returned (1028.49, -1028.49); nu = -3 and level 1.5 gave NaN.
        (lambda: standard_t_var_es(0.99, 0.5), r"nu must be a finite number > 1 .*, was 0\.5"),
        (lambda: standard_t_var_es(0.99, 1.0), "nu must be a finite number > 1"),
        (lambda: standard_t_var_es(0.99, -3), "nu must be a finite number > 1"),
        (lambda: standard_t_var_es(0.99, float("inf")), "nu must be a finite number > 1"),
        (lambda: standard_t_var_es(0.99, "4"), "nu must be a number"),
        (lambda: standard_t_var_es(1.5, 4.0), "level must be a confidence in"),
        (lambda: standard_normal_var_es(1.5), r"level must be a confidence in \(0\.5, 1\).*was 1\.5"),
        (lambda: standard_normal_var_es(0.01), "level must be a confidence in"),
        (lambda: standard_normal_var_es("0.99"), "level must be a confidence in"),
    ],
)
def test_standard_quantiles_refuse_a_bad_level_or_nu(call: object, words: str) -> None:
    with pytest.raises(InputError, match=words):
        call()  # type: ignore[operator]


def test_standard_t_matches_scipy() -> None:
    """The quantile and the tail mean ``int_level^1 F^{-1}(u) du / (1 - level)`` of t(4)."""
    q, es = standard_t_var_es(0.99, 4)
    assert q == pytest.approx(stats.t.ppf(0.99, 4), rel=1e-12)
    tail, _ = integrate.quad(lambda x: x * stats.t.pdf(x, 4), q, math.inf)
    assert es == pytest.approx(tail / 0.01, rel=1e-8)
