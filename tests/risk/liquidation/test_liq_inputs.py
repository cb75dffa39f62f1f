"""Input validation of the probability-of-liquidation API: InputError names the field and value."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from levguard.core.risk.liquidation import prob_liquidation, prob_liquidation_curve, time_to_liquidation
from levguard.errors import InputError

BASE: dict[str, Any] = {"side": "long", "price": 100.0, "liq_price": 80.0, "sigma": 0.5, "horizon_days": 10.0}
KOU = {"lam": 10.0, "p_up": 0.4, "eta_up": 12.0, "eta_down": 8.0}
GARCH = {"omega": 2e-5, "alpha": 0.1, "beta": 0.85, "nu": 5.0}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"sigma": 0.0}, r"sigma must be > 0, was 0\.0"),
        ({"sigma": -0.2}, r"sigma must be > 0, was -0\.2"),
        ({"sigma": math.nan}, r"sigma must be > 0, was nan"),
        ({"sigma": "0.5"}, r"sigma must be a number, was '0\.5'"),
        ({"horizon_days": 0}, r"horizon_days must be > 0, was 0"),
        ({"horizon_days": math.inf}, r"horizon_days must be > 0, was inf"),
        ({"price": 0.0}, r"price must be > 0, was 0\.0"),
        ({"price": -5.0}, r"price must be > 0, was -5\.0"),
        ({"mu": math.inf}, r"mu must be finite, was inf"),
        ({"side": "flat"}, r"side must be 'long', 'short', \+1 or -1, was 'flat'"),
        ({"side": 0}, r"side must be .* was 0"),
        ({"side": True}, r"side must be .* was True"),
        ({"model": "heston"}, r"model must be one of gbm, kou, merton, garch_t, bootstrap; was 'heston'"),
        ({"monitoring_dt_days": 0.0}, r"monitoring_dt_days must be > 0, was 0\.0"),
        ({"liq_price": "80"}, r"liq_price must be a number, was '80'"),
    ],
)
def test_bad_arguments(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        prob_liquidation(**{**BASE, **changes})
    with pytest.raises(InputError, match=match):
        time_to_liquidation(**{**BASE, **changes})


@pytest.mark.parametrize(
    ("model", "params", "match"),
    [
        ("kou", {"lam": 1.0, "p_up": 0.5, "eta_up": 10.0}, r"model 'kou' needs parameter\(s\) eta_down"),
        ("merton", {}, r"model 'merton' needs parameter\(s\) lam, jump_mean, jump_std"),
        ("bootstrap", {}, r"model 'bootstrap' needs parameter\(s\) returns"),
        ("garch_t", {"omega": 1e-5, "alpha": 0.1}, r"model 'garch_t' needs parameter\(s\) beta, nu"),
        ("gbm", {"lamda": 3.0}, r"unknown parameter\(s\) for model 'gbm': lamda"),
        ("kou", {**KOU, "jump_std": 0.1}, r"unknown parameter\(s\) for model 'kou': jump_std"),
        ("kou", {**KOU, "p_up": 1.5}, r"p_up must be in \[0, 1\], was 1\.5"),
        ("kou", {**KOU, "eta_up": 1.0}, r"eta_up must be > 1 .* was 1\.0"),
        ("kou", {**KOU, "eta_down": 0.0}, r"eta_down must be > 0, was 0\.0"),
        ("kou", {**KOU, "lam": -1.0}, r"lam must be >= 0, was -1\.0"),
        ("kou", {**KOU, "gs_terms": 15}, r"gs_terms must be even, was 15"),
        ("merton", {"lam": 1.0, "jump_mean": 0.0, "jump_std": -0.1}, r"jump_std must be >= 0, was -0\.1"),
        ("garch_t", {**GARCH, "alpha": 0.3, "beta": 0.8}, r"alpha \+ beta must be <= 1"),
        ("garch_t", {**GARCH, "nu": 2.0}, r"nu must be > 2 .* was 2\.0"),
        ("garch_t", {**GARCH, "omega": 0.0}, r"omega must be > 0, was 0\.0"),
        ("garch_t", {**GARCH, "garch": {"omega": 1.0}}, r"either garch=\.\.\. or omega/alpha/beta/nu"),
        ("bootstrap", {"returns": [0.01, math.nan, 0.02]}, r"returns must be finite, was nan at index 1"),
        ("bootstrap", {"returns": [[0.01, 0.02]]}, r"returns must be a 1-D array"),
        ("bootstrap", {"returns": [0.01, 0.01, 0.01]}, r"returns must not all be equal"),
        ("bootstrap", {"returns": [0.01, -0.01], "block": 0}, r"block must be an integer in \[1, .*was 0"),
        ("gbm", {"method": "mc", "n_paths": 0}, r"n_paths must be an integer in \[1, .*was 0"),
        ("gbm", {"method": "mc", "seed": -1}, r"seed must be an integer in \[0, .*was -1"),
        ("gbm", {"method": "mc", "seed": 1.5}, r"seed must be an integer .*was 1\.5"),
        ("gbm", {"method": "exact"}, r"method must be 'analytic' or 'mc', was 'exact'"),
        (
            "merton",
            {"lam": 1.0, "jump_mean": 0.0, "jump_std": 0.1, "method": "analytic"},
            r"method for model 'merton' must be 'mc'",
        ),
        ("gbm", {"method": "mc", "bridge": 1}, r"bridge must be True or False, was 1"),
        ("gbm", {"method": "mc", "step_days": -1.0}, r"step_days must be > 0, was -1\.0"),
    ],
)
def test_bad_model_parameters(model: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        prob_liquidation(**BASE, model=model, **params)


def test_monitoring_conflicts() -> None:
    with pytest.raises(InputError, match="bridge must be False with discrete monitoring"):
        prob_liquidation(**BASE, monitoring_dt_days=1.0, method="mc", bridge=True)
    with pytest.raises(InputError, match="step_days cannot be set with monitoring_dt_days"):
        prob_liquidation(**BASE, monitoring_dt_days=1.0, method="mc", step_days=0.5)
    with pytest.raises(InputError, match=r"monitoring_dt_days must be a whole multiple of step_days \(1\), was 1\.5"):
        prob_liquidation(**BASE, model="garch_t", monitoring_dt_days=1.5, **GARCH)
    with pytest.raises(InputError, match=r"horizon_days must be at least one step \(1 days\), was 0\.5"):
        prob_liquidation(**{**BASE, "horizon_days": 0.5}, model="garch_t", **GARCH)


def test_bad_quantile_levels_and_horizons() -> None:
    with pytest.raises(InputError, match=r"quantile_levels must lie in \(0, 1\), was 1\.0"):
        time_to_liquidation(**BASE, quantile_levels=(0.5, 1.0))
    with pytest.raises(InputError, match="horizons_days must not be empty"):
        prob_liquidation_curve("long", 100.0, 80.0, 0.5, ())
    with pytest.raises(InputError, match=r"horizons_days must be > 0, was -1"):
        prob_liquidation_curve("long", 100.0, 80.0, 0.5, (1, -1))


@pytest.mark.parametrize("liq", [None, math.nan, 0.0, -10.0, math.inf])
@pytest.mark.parametrize("side", ["long", "short"])
def test_no_liquidation_price_means_no_liquidation(liq: float | None, side: str) -> None:
    assert prob_liquidation(side, 100.0, liq, 0.5, 10.0) == 0.0
    assert prob_liquidation(side, 100.0, liq, 0.5, 10.0, model="merton", lam=1.0, jump_mean=0.0, jump_std=0.1) == 0.0


@pytest.mark.parametrize(("side", "liq"), [("long", 100.0), ("long", 120.0), ("short", 100.0), ("short", 90.0)])
def test_already_past_the_liquidation_price_is_certain(side: str, liq: float) -> None:
    assert prob_liquidation(side, 100.0, liq, 0.5, 10.0) == 1.0
    assert prob_liquidation(side, 100.0, liq, 0.5, 10.0, model="kou", **KOU) == 1.0
    assert prob_liquidation(side, 100.0, liq, 0.5, 10.0, model="garch_t", **GARCH) == 1.0


def test_side_spellings() -> None:
    p = prob_liquidation("long", 100.0, 80.0, 0.5, 10.0)
    assert prob_liquidation("LONG", 100.0, 80.0, 0.5, 10.0) == p
    assert prob_liquidation(1, 100.0, 80.0, 0.5, 10.0) == p
    assert prob_liquidation(np.int64(1), 100.0, 80.0, 0.5, 10.0) == p
    q = prob_liquidation("short", 100.0, 120.0, 0.5, 10.0)
    assert prob_liquidation(-1, 100.0, 120.0, 0.5, 10.0) == q
    assert prob_liquidation(-1.0, 100.0, 120.0, 0.5, 10.0) == q


def test_garch_parameters_from_a_fitted_model() -> None:
    explicit = prob_liquidation(**BASE, model="garch_t", n_paths=20_000, **GARCH)
    fitted = SimpleNamespace(**GARCH)
    assert prob_liquidation(**BASE, model="garch_t", n_paths=20_000, garch=fitted) == explicit
    arch_style = {"omega": 0.2, "alpha[1]": 0.1, "beta[1]": 0.85, "nu": 5.0}  # fitted on percent returns
    assert prob_liquidation(**BASE, model="garch_t", n_paths=20_000, garch=arch_style, scale=100.0) == explicit


def test_seed_and_generator() -> None:
    a = prob_liquidation(**BASE, method="mc", n_paths=5_000, seed=42)
    assert prob_liquidation(**BASE, method="mc", n_paths=5_000, seed=42) == a
    g1 = prob_liquidation(**BASE, method="mc", n_paths=5_000, seed=np.random.default_rng(7))
    g2 = prob_liquidation(**BASE, method="mc", n_paths=5_000, seed=np.random.default_rng(7))
    assert g1 == g2
