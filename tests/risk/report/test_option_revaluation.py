"""Option scenario P&L goes only through core ``revalue`` (issue 15): the risk report's stress
section and the VaR revaluation share it; ``option_pnl`` and ``vol_shift_shape`` say which
convention a caller wants."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.core.options.black76 import black76
from levguard.core.options.surface import SVISlice, VolSurface
from levguard.core.options.svi import SVIParams
from levguard.core.risk.portfolio import OptionPosition, revalue
from levguard.core.spec import account_from_spec
from levguard.errors import InputError
from levguard.risk.report import risk_report

USD_ACCOUNT = account_from_spec({"venue": "generic", "wallet_balance": 1_000, "positions": []})
SURFACE = VolSurface([SVISlice(0.1, 60_000, SVIParams(0.02, 0.15, -0.4, 0.0, 0.2))])


def _coin_put(surface: VolSurface | None = None) -> OptionPosition:
    return OptionPosition("BTC-P", "put", 55_000, 0.1, 3.0, "coin", vol=0.55, underlying="BTC", surface=surface)


def test_value_convention_marks_both_values_in_the_account_currency() -> None:
    o = _coin_put()
    rel = np.array([0.7, 1.0, 1.2])
    res = revalue(USD_ACCOUNT, {"BTC": rel}, horizon_days=0, options=[o], prices={"BTC": 60_000}, option_pnl="value")
    v0 = float(black76("put", 60_000, 55_000, 0.1, 0.55, 0.0, "coin").price)
    for r, got in zip(rel, res.pnl, strict=True):
        f1 = 60_000 * r
        v1 = float(black76("put", f1, 55_000, 0.1, 0.55, 0.0, "coin").price)
        assert got == pytest.approx(3 * v1 * f1 - 3 * v0 * 60_000, rel=1e-12)
    pnl = revalue(USD_ACCOUNT, {"BTC": rel}, horizon_days=0, options=[o], prices={"BTC": 60_000}).pnl
    # The default converts the coin P&L at the scenario price: the premium's revaluation is left out.
    np.testing.assert_allclose(res.pnl - pnl, 3 * v0 * 60_000 * (rel - 1.0), rtol=1e-9, atol=1e-6)


def test_term_shaped_vol_shift_reads_the_shocked_surface() -> None:
    o = _coin_put(SURFACE)
    rel = np.array([0.8, 1.0])
    res = revalue(
        USD_ACCOUNT,
        {"BTC": rel},
        horizon_days=0,
        options=[o],
        prices={"BTC": 60_000},
        vol_shifts={"BTC": 0.3},
        vol_shift_shape="term",
    )
    flat = revalue(
        USD_ACCOUNT, {"BTC": rel}, horizon_days=0, options=[o], prices={"BTC": 60_000}, vol_shifts={"BTC": 0.3}
    )
    shocked = SURFACE.shocked("term", 0.3)
    v0 = float(black76("put", 60_000, 55_000, 0.1, float(SURFACE.vol(55_000, 0.1, 60_000)), 0.0, "coin").price)
    for r, got in zip(rel, res.pnl, strict=True):
        f1 = 60_000 * r
        v1 = float(black76("put", f1, 55_000, 0.1, float(shocked.vol(55_000, 0.1, f1)), 0.0, "coin").price)
        assert got == pytest.approx(3 * (v1 - v0) * f1, rel=1e-9)
    assert (res.pnl < flat.pnl).all()  # 36.5 days to expiry: the shift is 0.3 sqrt(30/36.5) < 0.3
    with pytest.raises(InputError, match="vol_shift_shape"):
        revalue(USD_ACCOUNT, {"BTC": rel}, horizon_days=0, options=[o], prices={"BTC": 60_000}, vol_shift_shape="tilt")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="option_pnl"):
        revalue(USD_ACCOUNT, {"BTC": rel}, horizon_days=0, options=[o], prices={"BTC": 60_000}, option_pnl="x")  # type: ignore[arg-type]


def test_report_stress_option_pnl_is_revalue() -> None:
    book = {
        "name": "b",
        "venue": "binance-usdm",
        "wallet_balance": 20_000,
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10}],
        "options": [
            {"symbol": "BTC-28JUN24-55000-P", "qty": 3, "vol": 0.55, "settlement": "usd"},
            {"symbol": "BTC-28JUN24-70000-C", "qty": -1, "vol": 0.5, "settlement": "usd"},
        ],
        "options_wallet_balance": {"USD": 20_000},  # the short call's wallet (the puts' defaults to 0)
    }
    rep = risk_report(book, vol=0.6, n_sims=500).to_dict()
    acc = account_from_spec(
        {k: v for k, v in book.items() if k not in ("name", "options", "as_of", "options_wallet_balance")}
    )
    t = (np.datetime64("2024-06-28T08:00") - np.datetime64("2024-06-01T00:00")) / np.timedelta64(1, "h") / 8760
    opts = [
        OptionPosition("BTC-28JUN24-55000-P", "put", 55_000, t, 3.0, "coin", vol=0.55, underlying="BTC"),
        OptionPosition("BTC-28JUN24-70000-C", "call", 70_000, t, -1.0, "usd", vol=0.5, underlying="BTC"),
    ]
    for row in rep["stress"]:
        name = row["scenario"]
        got = row["accounts"][0]["option_pnl"]
        if row["accounts"][0]["bad_debt"]:
            continue  # a defaulted account's options are not revalued
        shock = next(s for s in _scenarios() if s.name == name)
        want = revalue(
            acc,
            {"BTC": [1.0 + shock.shock_for("BTC")]},
            horizon_days=0,
            options=opts,
            prices={"BTC": 61_000},
            vol_shifts={"BTC": shock.vol_shock},
            vol_shift_shape="term",
            option_pnl="value",
        )
        assert got == pytest.approx(sum(float(want.by_position[o.symbol][0]) for o in opts), rel=1e-9, abs=1e-9)


def _scenarios() -> list:  # type: ignore[type-arg]
    from levguard.core.risk.stress import NAMED_SCENARIOS, grid_scenarios

    return [*NAMED_SCENARIOS, *grid_scenarios((-0.3, -0.2, -0.1, 0.1, 0.2, 0.3), (0.0, 0.3))]
