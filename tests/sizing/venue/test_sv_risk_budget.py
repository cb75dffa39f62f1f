"""RiskBudget: inverse-vol and ERC allocations scaled to a volatility target."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import SeriesInputs, SizingState
from levguard.core.sizing.portfolio import (
    RiskBudget,
    erc_weights,
    ewma_covariance,
    risk_contributions,
    shrunk_covariance,
)
from levguard.errors import InputError


def _returns(seed: int, n: int = 400, k: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, k))
    cov = a @ a.T + np.diag(rng.uniform(0.5, 3.0, k))
    x = rng.multivariate_normal(np.zeros(k), cov, size=n) * 0.005
    return {f"S{i}": x[:, i] for i in range(k)}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["ewma", "shrunk"]), st.sampled_from(["erc", "inverse_vol"]))
def test_allocation_hits_target_vol(seed: int, cov_kind: str, method: str) -> None:
    rets = _returns(seed)
    policy = RiskBudget(0.4, method=method, covariance=cov_kind, max_leverage=1e6)
    d = policy.decide_portfolio(rets, equity=1e4, periods_per_year=365.0)
    x = np.column_stack([rets[s] for s in sorted(rets)])
    cov = (ewma_covariance(x, 0.94) if cov_kind == "ewma" else shrunk_covariance(x)[0]) * 365.0
    w = np.array([d.allocations[s] for s in sorted(rets)])
    assert math.sqrt(float(w @ cov @ w)) == pytest.approx(0.4, rel=1e-9)
    assert d.target_leverage == pytest.approx(float(np.abs(w).sum()), rel=1e-12)
    if method == "erc":
        rc = risk_contributions(w, cov)
        assert np.max(np.abs(rc - rc.mean())) <= 1e-6 * rc.mean()
    else:
        sig = np.sqrt(np.diag(cov))
        prod = w * sig
        assert np.allclose(prod, prod[0], rtol=1e-10)


def test_erc_known_case() -> None:
    # Uncorrelated assets: ERC is inverse volatility.
    cov = np.diag([0.04, 0.09, 0.25])
    w = erc_weights(cov)
    inv = 1 / np.sqrt(np.diag(cov))
    assert np.allclose(w, inv / inv.sum(), rtol=1e-10)


def test_shrinkage_bounds_and_fixed() -> None:
    x = np.column_stack(list(_returns(3, n=60, k=5).values()))
    for target in ("constant_correlation", "identity"):
        cov, delta = shrunk_covariance(x, target)
        assert 0.0 <= delta <= 1.0
        assert np.all(np.linalg.eigvalsh(cov) > 0)
        assert shrunk_covariance(x, target, 0.0)[0] == pytest.approx(np.cov(x.T, bias=True))
    with pytest.raises(InputError, match="target"):
        shrunk_covariance(x, "nope")


def test_decide_inverse_vol_from_state() -> None:
    policy = RiskBudget(0.5, max_leverage=100.0)
    d = policy.decide(SizingState(equity=1.0, vols={"A": 0.5, "B": 1.0}, exposures={"B": -1.0}))
    assert d.allocations["A"] == pytest.approx(-2 * d.allocations["B"])
    assert d.allocations["B"] < 0
    # perfect correlation assumed: sum |l_i| sigma_i = target
    assert abs(d.allocations["A"]) * 0.5 + abs(d.allocations["B"]) * 1.0 == pytest.approx(0.5)
    one = policy.decide(SizingState(equity=1.0, vol_forecast=0.25))
    assert one.target_leverage == pytest.approx(2.0)
    capped = RiskBudget(0.5, max_leverage=1.0).decide(SizingState(equity=1.0, vol_forecast=0.25))
    assert capped.target_leverage == 1.0
    assert capped.binding_constraint == "max_leverage"
    assert policy.decide(SizingState(equity=1.0)).binding_constraint == "no_forecast"
    assert policy.decide_portfolio({}).target_leverage == 0.0
    assert policy.decide_portfolio({"A": np.zeros(10)}).target_leverage == 0.0
    path = policy.leverage_path(SeriesInputs(np.zeros(3), vol_forecast=np.array([0.25, np.nan, 0.001])))
    assert path.tolist() == [2.0, 0.0, 100.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target_vol": 0.0}, "target_vol"),
        ({"target_vol": 0.3, "method": "x"}, "method"),
        ({"target_vol": 0.3, "covariance": "x"}, "covariance"),
        ({"target_vol": 0.3, "lam": 1.0}, "lam"),
        ({"target_vol": 0.3, "shrinkage": 1.5}, "shrinkage"),
        ({"target_vol": 0.3, "shrink_target": "x"}, "shrink_target"),
        ({"target_vol": 0.3, "max_leverage": 0.0}, "max_leverage"),
    ],
)
def test_risk_budget_bad_params(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field):
        RiskBudget(**kwargs)  # type: ignore[arg-type]
