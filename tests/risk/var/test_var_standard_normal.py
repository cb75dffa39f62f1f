"""The standard normal quantile and ES shared by the normal VaR and the Z2 backtest."""

from __future__ import annotations

import pytest
from scipy import stats

from levguard.core.risk.var import normal_var, standard_normal_var_es


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
