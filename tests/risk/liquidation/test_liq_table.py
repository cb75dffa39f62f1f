"""The facade: re-exports and the per-position probability table from a margin report."""

from __future__ import annotations

import doctest
import math

import pandas as pd
import pytest

import levguard
import levguard.core.risk.liquidation as core_liq
import levguard.risk.liquidation as liq
from levguard.errors import InputError


@pytest.fixture
def report() -> levguard.AccountReport:
    return levguard.evaluate_account(
        {
            "venue": "binance-usdm",
            "margin_mode": "isolated",
            "wallet_balance": 0,
            "positions": [
                {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "leverage": 20},
                {"symbol": "ETHUSDT", "qty": -10, "entry_price": 3000, "mark_price": 3000, "leverage": 5},
            ],
        }
    )


def _safe_long() -> levguard.PositionReport:
    """An over-collateralised long (leverage < 1): no liquidation price."""
    return levguard.evaluate_account(
        {
            "venue": "binance-usdm",
            "margin_mode": "isolated",
            "wallet_balance": 0,
            "positions": [
                {"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60000, "mark_price": 60000, "leverage": 0.5}
            ],
        }
    ).positions[0]


def test_facade_reexports_the_core_functions() -> None:
    assert liq.prob_liquidation is core_liq.prob_liquidation
    assert liq.time_to_liquidation is core_liq.time_to_liquidation
    assert liq.prob_liquidation_curve is core_liq.prob_liquidation_curve


def test_facade_doctest() -> None:
    result = doctest.testmod(liq)
    assert result.attempted > 0
    assert result.failed == 0


def test_table_from_an_account_report(report: levguard.AccountReport) -> None:
    sigma = {"BTCUSDT": 0.6, "ETHUSDT": 0.8}
    table = liq.prob_liquidation_table(report, sigma)
    assert isinstance(table, pd.DataFrame)
    assert len(table) == 2
    assert list(table.columns) == [
        "symbol",
        "side",
        "mark_price",
        "liquidation_price",
        "distance",
        "p_1d",
        "p_7d",
        "p_30d",
    ]
    assert list(table["side"]) == ["long", "short"]
    assert list(table["symbol"]) == ["BTCUSDT", "ETHUSDT"]
    for row, pos in zip(table.itertuples(index=False), report.positions, strict=True):
        for h in (1, 7, 30):
            expected = liq.prob_liquidation(pos.side, pos.mark_price, pos.liquidation_price, sigma[pos.symbol], h)
            assert getattr(row, f"p_{h}d") == expected
    with_safe = liq.prob_liquidation_table([*report.positions, _safe_long()], [0.6, 0.8, 0.6])
    safe = with_safe.iloc[2]
    assert math.isnan(safe["liquidation_price"])
    assert math.isnan(safe["distance"])
    assert (safe["p_1d"], safe["p_7d"], safe["p_30d"]) == (0.0, 0.0, 0.0)
    btc = table.iloc[0]
    assert btc["liquidation_price"] == pytest.approx(57236.18, abs=0.01)
    assert btc["distance"] == pytest.approx(1.0 - 57236.18 / 60000.0, abs=1e-6)
    assert 0.0 < btc["p_1d"] < btc["p_7d"] < btc["p_30d"] < 1.0


def test_table_options(report: levguard.AccountReport) -> None:
    per_position = liq.prob_liquidation_table(report.positions, [0.6, 0.8], horizons=(0.5, 2), mu=[0.1, -0.1])
    assert list(per_position.columns)[-2:] == ["p_0.5d", "p_2d"]
    expected = liq.prob_liquidation("short", 3000.0, report.positions[1].liquidation_price, 0.8, 2, -0.1)
    assert per_position.iloc[1]["p_2d"] == expected
    mc = liq.prob_liquidation_table(
        report, 0.7, horizons=(30, 1, 7), model="merton", lam=5.0, jump_mean=-0.05, jump_std=0.05, n_paths=20_000
    )
    for _, row in mc.iterrows():
        assert row["p_1d"] <= row["p_7d"] <= row["p_30d"]
    monitored = liq.prob_liquidation_table(report, 0.7, monitoring_dt_days=1.0)
    assert (monitored["p_7d"] <= liq.prob_liquidation_table(report, 0.7)["p_7d"]).all()


def test_table_bad_inputs(report: levguard.AccountReport) -> None:
    with pytest.raises(InputError, match="sigma has no entry for symbol"):
        liq.prob_liquidation_table(report, {"BTCUSDT": 0.6})  # no ETHUSDT
    with pytest.raises(InputError, match=r"sigma must have one value per position \(2\), had 3"):
        liq.prob_liquidation_table(report, [0.6, 0.7, 0.8])
    with pytest.raises(InputError, match="horizons must not be empty"):
        liq.prob_liquidation_table(report, 0.6, horizons=())
    with pytest.raises(InputError, match=r"sigma must be > 0, was -0\.6"):
        liq.prob_liquidation_table(report, -0.6)
    with pytest.raises(InputError, match=r"positions\[0\] must be a PositionReport, was dict"):
        liq.prob_liquidation_table([{"symbol": "BTCUSDT"}], 0.6)
