"""``/risk`` says "unknown" rather than inventing a volatility (issue 15)."""

from __future__ import annotations

import math

import pytest
from service_helpers import ACCOUNT, OTHER, Service

from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.liquidation import prob_liquidation
from levguard.service import api

ROW = {"symbol": "BTCUSDT", "qty": 2.0, "mark": 60_000.0, "liquidation_price": 50_000.0, "margin": None}


def test_unknown_vol_gives_no_p_liq_and_no_var() -> None:
    assert api._forecasters(None, None, ["BTCUSDT"]) == {"BTCUSDT": None}  # type: ignore[arg-type]
    assert api._volatilities(None, None, ["BTCUSDT"]) == {"BTCUSDT": None}  # type: ignore[arg-type]
    (row,) = api._risk_rows([ROW], {"BTCUSDT": None}, {"BTCUSDT": None})
    assert row["vol"] is None
    assert row["model"] == "unknown"
    assert row["p_liq"] == {}
    assert row["var_1d_99"] is None
    assert row["es_1d_99"] is None
    assert row["notional"] == pytest.approx(120_000.0)


def test_known_vol_is_the_guardians() -> None:
    (row,) = api._risk_rows([ROW], {"BTCUSDT": GbmForecaster(0.6)}, {"BTCUSDT": 0.6})
    assert row["vol"] == 0.6
    assert row["model"] == "gbm"
    assert row["p_liq"]["7d"] == pytest.approx(prob_liquidation("long", 60_000.0, 50_000.0, 0.6, 7.0), rel=1e-12)
    assert row["var_1d_99"] == pytest.approx(2.326347874 * 0.6 / math.sqrt(365) * 120_000.0, rel=1e-6)


def test_vol_and_var_follow_the_volatility_forecast_not_the_forecasters_scale() -> None:
    # With bars the vol is the guardian's volatility forecast (GARCH), not the forecaster's scale.
    (row,) = api._risk_rows([ROW], {"BTCUSDT": GbmForecaster(0.6)}, {"BTCUSDT": 0.45})
    assert row["vol"] == 0.45
    assert row["var_1d_99"] == pytest.approx(2.326347874 * 0.45 / math.sqrt(365) * 120_000.0, rel=1e-6)
    assert row["p_liq"]["7d"] == pytest.approx(prob_liquidation("long", 60_000.0, 50_000.0, 0.6, 7.0), rel=1e-12)
    # A volatility without a forecaster (bars, no fit): VaR, but no P(liq).
    (row,) = api._risk_rows([ROW], {"BTCUSDT": None}, {"BTCUSDT": 0.45})
    assert row["model"] == "unknown"
    assert row["p_liq"] == {}
    assert row["var_1d_99"] is not None


def test_an_account_without_positions_names_no_method(service: Service) -> None:
    # The unwatched account has no positions: no forecaster and no VaR were used.
    r = service.client.get(f"/api/accounts/{OTHER}/risk", headers=service.viewer)
    assert r.status_code == 200, r.text
    assert r.json()["positions"] == []
    assert r.json()["method"] == "none (no positions)"
    watched = service.client.get(f"/api/accounts/{ACCOUNT}/risk", headers=service.viewer).json()
    assert watched["method"].endswith("forecaster; delta-normal VaR")
