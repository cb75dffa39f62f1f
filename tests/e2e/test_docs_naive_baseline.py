"""docs/validation.md's formula of the naive baseline is what GbmForecaster computes.

The doc gave ``P = 2 Phi(-b / (sigma sqrt T))`` (a driftless log price) while the code is GBM with
zero expected return, log drift ``-sigma^2/2``: 0.1113 for a short 30 % away over 30 days at
sigma 0.6, where the doc's formula reads 0.1272.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from levguard.core.risk.excursion import GbmForecaster

ROOT = Path(__file__).resolve().parents[2]


def _text() -> str:
    # Wrapped lines joined, whitespace collapsed.
    return " ".join((ROOT / "docs" / "validation.md").read_text(encoding="utf-8").split())


def _documented(g: int, d: float, hours: int, sigma: float) -> float:
    # docs/validation.md, section 1 "Forecasts": beta = g ln(1 - g d), nu = -g sigma^2 / 2,
    # T = hours / 8760, P = Phi((beta - nu T)/(sigma sqrt T)) + exp(2 nu beta / sigma^2) Phi((beta + nu T)/(sigma sqrt T)).
    beta = g * math.log(1.0 - g * d)
    nu = -g * sigma * sigma / 2.0
    t = hours / 8760.0
    s = sigma * math.sqrt(t)
    return float(norm.cdf((beta - nu * t) / s) + math.exp(2 * nu * beta / sigma**2) * norm.cdf((beta + nu * t) / s))


def test_the_doc_states_the_formula_the_baseline_computes() -> None:
    text = _text()
    assert "P = 2 Φ(−b / (σ √T))" not in text
    assert "`P = Φ((β − νT) / (σ √T)) + exp(2νβ / σ²) Φ((β + νT) / (σ √T))`" in text
    assert "`β = g ln(1 − g d) < 0`" in text
    assert "`ν = −g σ²/2`" in text
    # The doc's example: sigma 0.6, 30 days, 30 % away, against the driftless log price's 2 Phi.
    f = GbmForecaster(0.6)
    long, short = f.prob(np.array([1.0, -1.0]), np.array([0.3, 0.3]), np.array([720, 720])).tolist()
    two_phi = [2 * norm.cdf(math.log(1 - g * 0.3) * g / (0.6 * math.sqrt(720 / 8760))) for g in (1, -1)]
    claim = f"0.0454 for a long and 0.1113 for a short, where `2 Φ` reads {two_phi[0]:.4f} and {two_phi[1]:.4f}"
    assert claim in text
    assert (f"{long:.4f}", f"{short:.4f}") == ("0.0454", "0.1113")


@settings(max_examples=200, deadline=None)
@given(
    g=st.sampled_from([1, -1]),
    d=st.floats(0.001, 0.9),
    hours=st.integers(1, 720),
    sigma=st.floats(0.05, 3.0),
)
def test_gbm_forecaster_is_the_documented_closed_form(g: int, d: float, hours: int, sigma: float) -> None:
    p = float(GbmForecaster(sigma).prob(np.array([float(g)]), np.array([d]), np.array([hours]))[0])
    assert p == pytest.approx(_documented(g, d, hours, sigma), rel=1e-9, abs=1e-15)
