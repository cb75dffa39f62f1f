"""Golden: the ``deribit-pm`` and ``okx-pm`` specs reproduce the venues' worked examples through
``levguard.evaluate_account``.

The same examples as tests/golden/test_portfolio_margin_examples.py (their sources are cited
there), entered as account specs instead of engine objects:

* Deribit ``private/pme/simulate`` response example (BTC, 2024-06-17): ``portfolio.position``
  BTC-PERPETUAL 0.314538364 and BTC-28JUN24 -0.001187534 (coin), ``ticker`` mark prices 65910.57
  and 67371.75, ``index_price.btc_usd`` 65666.19, ``mmp_margin`` 0.06, ``open_orders_margin``
  0.000018212; ``maintenance_margin`` 0.050274504784, ``initial_margin`` 0.122861343.
* A captured ETH answer of the same method (2026-02-15, not published by Deribit): ETH-PERPETUAL
  -0.999487053; ``maintenance_margin`` 0.125969249812, ``initial_margin`` 0.157461562.
* OKX "Position builder (new)" response example (2025-01-15): BTC-USDT-SWAP pos -10 (ctVal
  0.01), LTC-USDT-SWAP pos 10, USDT at 0.99954 USD; ``totalMmr`` 2946.5480841048, ``totalImr``
  9643.45070718144.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_portfolio_margin_examples import (
    BTC_28JUN24_T,
    BTC_DELTA,
    BTC_MODEL_PARAMS,
    BTC_STRESS,
    EXACT,
    LTC_DELTA,
    LTC_STRESS,
    USDT_USD,
)

import levguard
from levguard.core.portfolio_margin import DeribitFuture
from levguard.core.unified_pm import DeribitPmAccount, OkxPmAccount, portfolio_margin_account_from_spec

Spec = dict[str, Any]


def deribit_btc(**over: Any) -> Spec:
    spec: Spec = {
        "venue": "deribit-pm",
        "currency": "BTC",
        "balances": {"BTC": 1.0},
        "index_price": 65666.19,
        "model_params": BTC_MODEL_PARAMS,
        "charges": {"mmp_margin": 0.06, "open_orders_margin": 0.000018212},
        "positions": [
            {
                "instrument_name": "BTC-PERPETUAL",
                "size_currency": 0.314538364,
                "average_price": 65910.57,
                "mark_price": 65910.57,
            },
            {
                "instrument_name": "BTC-28JUN24",
                "size_currency": -0.001187534,
                "average_price": 67371.75,
                "mark_price": 67371.75,
            },
        ],
    }
    spec.update(over)
    return spec


def okx_example(**over: Any) -> Spec:
    spec: Spec = {
        "venue": "okx-pm",
        "balances": {"USDT": 10000},
        "prices": {"USDT": USDT_USD},
        "positions": [
            {
                "symbol": "BTC-USDT-SWAP",
                "qty": -10,
                "contract_size": 0.01,
                "entry_price": 97093.7,
                "mark_price": 97093.7,
            },
            {"symbol": "LTC-USDT-SWAP", "qty": 10, "entry_price": 102.0, "mark_price": 102.0},
        ],
        "risk_units": [
            {"risk_unit": "BTC", "stress_delta_usd": BTC_STRESS, "mr4": 19.4098073796, "mr7": 43.67206660410001},
            {"risk_unit": "LTC", "stress_delta_usd": LTC_STRESS, "mr4": 8.1562464, "mr7": 7.1367156},
        ],
        "borrow_mmr": 1571.064377796,
        "borrow_imr": 7855.32188898,
    }
    spec.update(over)
    return spec


# ============================================================================ Deribit BTC (published)
def test_deribit_btc_example_through_evaluate_account() -> None:
    """MM 0.050274504784 and IM 0.122861343 BTC (printed from positions rounded to 9 decimals: 1e-9)."""
    r = levguard.evaluate_account(deribit_btc())
    assert r.venue == "deribit-pm"
    assert r.settlement == "BTC"
    assert r.maintenance_margin == pytest.approx(0.050274504784, abs=1e-9)
    assert r.initial_margin == pytest.approx(0.122861343, abs=1e-9)
    assert r.equity == 1.0  # marks at the average prices: no unrealised PnL
    assert r.account_ratio_name == "maintenance_margin_usage"
    assert r.account_ratio == pytest.approx(r.maintenance_margin / r.equity, rel=1e-15)


def test_deribit_btc_engine_fields_and_expiry_from_the_example_timestamp() -> None:
    """worst_case 0.05968587238095239 (bucket 1, left, standard, index 1), roll_shock 0.00315725898;
    BTC-28JUN24 timed from model_params.general.timestamp to 08:00 UTC on 28 Jun 2024."""
    acct = portfolio_margin_account_from_spec(deribit_btc())
    assert isinstance(acct, DeribitPmAccount)
    fut = acct.legs[1].position
    assert isinstance(fut, DeribitFuture)
    assert fut.t_years == pytest.approx(BTC_28JUN24_T, rel=1e-12)
    m = acct.margin()
    assert m.worst_case == pytest.approx(0.05968587238095239, rel=EXACT)
    assert m.worst_case_bucket.to_dict() == {"bucket": 1, "side": "left", "source": "standard", "index": 1}
    assert m.roll_shock == pytest.approx(0.00315725898, rel=EXACT)
    assert m.risk_matrix_margin == pytest.approx(0.06284313098, abs=1e-9)


def test_deribit_btc_sizes_in_usd_and_the_builtin_preset_agree() -> None:
    """``size`` in USD (as private/get_positions gives futures) = coin x mark gives the same margins,
    and leaving model_params out uses the same BTC preset (the example's parameters)."""
    base = levguard.evaluate_account(deribit_btc())
    usd = deribit_btc()
    for p in usd["positions"]:
        p["size"] = p.pop("size_currency") * p["mark_price"]
    by_usd = levguard.evaluate_account(usd)
    assert by_usd.maintenance_margin == pytest.approx(base.maintenance_margin, rel=1e-14)
    preset = deribit_btc()
    del preset["model_params"]
    preset["as_of"] = "2024-06-17T10:22:20.501Z"
    assert levguard.evaluate_account(preset).maintenance_margin == pytest.approx(base.maintenance_margin, rel=1e-15)


# ============================================================================ Deribit ETH (captured)
def test_deribit_eth_capture_with_the_builtin_preset() -> None:
    """ETH-PERPETUAL -0.999487053: MM 0.125969249812, IM 0.157461562 (pnl_offset 0.6 preset)."""
    r = levguard.evaluate_account(
        {
            "venue": "deribit-pm",
            "currency": "ETH",
            "balances": {"ETH": 2.0},
            "index_price": 2000.0,
            "positions": [
                {
                    "instrument_name": "ETH-PERPETUAL",
                    "size_currency": -0.999487053,
                    "average_price": 2000.0,
                    "mark_price": 2000.0,
                }
            ],
        }
    )
    assert r.maintenance_margin == pytest.approx(0.125969249812, abs=1e-9)
    assert r.initial_margin == pytest.approx(0.157461562, abs=1e-9)


# ============================================================================ OKX position builder (published)
def test_okx_position_builder_example_through_evaluate_account() -> None:
    """totalMmr 2946.5480841048 = derivMmr 1375.4837063088 + borrowMmr 1571.064377796; totalImr
    9643.45070718144; the units' cash deltas come from the swaps (-9704.9036898, 1019.5308)."""
    r = levguard.evaluate_account(okx_example())
    assert r.venue == "okx-pm"
    assert r.maintenance_margin == pytest.approx(2946.5480841048, rel=EXACT)
    assert r.initial_margin == pytest.approx(9643.45070718144, rel=EXACT)
    assert r.account_ratio_name == "margin_ratio"
    assert r.equity == pytest.approx(10000 * USDT_USD, rel=1e-15)
    assert r.account_ratio == pytest.approx(r.equity / r.maintenance_margin, rel=1e-15)
    acct = portfolio_margin_account_from_spec(okx_example())
    assert isinstance(acct, OkxPmAccount)
    assert [u.delta_usd for u in acct.units] == pytest.approx([BTC_DELTA, LTC_DELTA], rel=EXACT)
    units = acct.margin().risk_units
    assert [u.mr1 for u in units] == pytest.approx([1164.4109244719994, 183.50672805719995], rel=EXACT)
    assert [u.mmr for u in units] == pytest.approx([1183.8207318516002, 191.6629744572], rel=EXACT)


def test_okx_observed_rates_and_risk_units_without_positions() -> None:
    """With the observed mr4/mr7 shares of |delta| (BTC 0.2 %/0.45 %, LTC 0.8 %/0.7 %) the swaps give the
    same MMR; so do risk units given as the position builder reports them (delta, no positions)."""
    rates = okx_example(
        risk_units=[
            {"risk_unit": "BTC", "stress_delta_usd": BTC_STRESS, "mr4_rate": 0.002, "mr7_rate": 0.0045},
            {"risk_unit": "LTC", "stress_delta_usd": LTC_STRESS, "mr4_rate": 0.008, "mr7_rate": 0.007},
        ]
    )
    assert levguard.evaluate_account(rates).maintenance_margin == pytest.approx(2946.5480841048, rel=EXACT)
    units_only = okx_example(positions=[])
    units_only["risk_units"] = [
        {**u, "delta_usd": d} for u, d in zip(units_only["risk_units"], (BTC_DELTA, LTC_DELTA), strict=True)
    ]
    r = levguard.evaluate_account(units_only)
    assert r.maintenance_margin == pytest.approx(2946.5480841048, rel=EXACT)
    assert r.initial_margin == pytest.approx(9643.45070718144, rel=EXACT)
    assert r.positions == ()
