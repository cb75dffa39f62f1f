"""Hypothesis properties of unified accounts (``bybit-uta``, ``binance-pm``, ``okx-mcm``).

- A USDT-only Bybit UTA account equals today's ``bybit-linear`` cross evaluation of the same
  positions (same equity, MM, liquidatable flag and liquidation prices): the rules coincide.
- A USDT-only Binance PM account has the ``binance-usdm`` cross equity and MM; its uniMMR is the
  inverse of the cross margin ratio.  Liquidation differs by design (uniMMR <= 105 %, not 100 %).
- A USDT-only OKX multi-currency account equals today's ``okx`` cross evaluation (equity, MM with
  the liquidation fee, liquidatable flag, liquidation prices); its margin ratio is the inverse of
  the cross margin ratio.
- More collateral never lowers equity, never raises Bybit's MM rate, never lowers uniMMR.
- A collateral ratio of 1.0 values an asset at face value.
- Each liquidation price lands where the account ratio crosses the venue's trigger.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import levguard

SETTINGS = settings(max_examples=80, deadline=None)
Spec = dict[str, Any]

_SYMBOLS = ("BTCUSDT", "ETHUSDT")


def amount(hi: float) -> st.SearchStrategy[float]:
    """0 or an amount in [1e-6, hi] (no subnormals: the spec refuses magnitudes below 1e-30)."""
    return st.one_of(st.just(0.0), st.floats(1e-6, hi))


_SCALE = {"BTCUSDT": 60000.0, "ETHUSDT": 3000.0}


@st.composite
def positions(draw: st.DrawFn, mmr: bool) -> list[Spec]:
    out = []
    n = draw(st.integers(1, 2))
    for sym in _SYMBOLS[:n]:
        scale = _SCALE[sym]
        entry = draw(st.floats(0.5 * scale, 1.5 * scale))
        mark = entry * draw(st.floats(0.8, 1.2))
        qty = draw(st.floats(0.01, 3.0)) * (1 if draw(st.booleans()) else -1) * (60000.0 / scale)
        p: Spec = {"symbol": sym, "qty": qty, "entry_price": entry, "mark_price": mark}
        if mmr:
            p["mmr"] = draw(st.sampled_from([0.004, 0.005, 0.01]))
        out.append(p)
    return out


def _cross(venue: str, usdt: float, pos: list[Spec]) -> levguard.AccountReport:
    return levguard.evaluate_account({"venue": venue, "margin_mode": "cross", "wallet_balance": usdt, "positions": pos})


@SETTINGS
@given(usdt=st.floats(5000, 200000), pos=positions(mmr=True))
def test_bybit_usdt_only_equals_cross(usdt: float, pos: list[Spec]) -> None:
    u = levguard.evaluate_account({"venue": "bybit-uta", "balances": {"USDT": usdt}, "positions": pos})
    c = _cross("bybit-linear", usdt, pos)
    assert u.equity == pytest.approx(c.equity, rel=1e-12, abs=1e-9)
    assert u.maintenance_margin == pytest.approx(c.maintenance_margin, rel=1e-12)
    assert u.liquidatable is c.liquidatable
    for pu, pc in zip(u.positions, c.positions, strict=True):
        if pc.liquidation_price is None:
            assert pu.liquidation_price is None
        else:
            assert pu.liquidation_price == pytest.approx(pc.liquidation_price, rel=1e-9)


@SETTINGS
@given(usdt=st.floats(5000, 200000), pos=positions(mmr=False))
def test_binance_usdt_only_matches_cross_totals(usdt: float, pos: list[Spec]) -> None:
    u = levguard.evaluate_account({"venue": "binance-pm", "balances": {"USDT": usdt}, "positions": pos})
    c = _cross("binance-usdm", usdt, pos)
    assume(c.equity > 0)
    assert u.equity == pytest.approx(c.equity, rel=1e-12, abs=1e-9)
    assert u.maintenance_margin == pytest.approx(c.maintenance_margin, rel=1e-12)
    assert c.margin_ratio is not None
    assert u.account_ratio is not None
    assert u.account_ratio == pytest.approx(1.0 / c.margin_ratio, rel=1e-12)


@SETTINGS
@given(usdt=st.floats(5000, 200000), pos=positions(mmr=True))
def test_okx_usdt_only_equals_cross(usdt: float, pos: list[Spec]) -> None:
    u = levguard.evaluate_account({"venue": "okx-mcm", "balances": {"USDT": usdt}, "positions": pos})
    c = _cross("okx", usdt, pos)
    assert u.equity == pytest.approx(c.equity, rel=1e-12, abs=1e-9)
    assert u.maintenance_margin == pytest.approx(c.maintenance_margin, rel=1e-12)
    assert u.liquidatable is c.liquidatable
    if c.equity > 0 and c.margin_ratio is not None and u.account_ratio is not None:
        assert u.account_ratio == pytest.approx(1.0 / c.margin_ratio, rel=1e-12)
    for pu, pc in zip(u.positions, c.positions, strict=True):
        if pc.liquidation_price is None:
            assert pu.liquidation_price is None
        else:
            assert pu.liquidation_price == pytest.approx(pc.liquidation_price, rel=1e-9)


@SETTINGS
@given(
    venue=st.sampled_from(["bybit-uta", "binance-pm", "okx-mcm"]),
    usdt=st.floats(1000, 100000),
    btc=amount(80),
    extra_btc=amount(30),
    extra_usdt=amount(1e5),
    pos=positions(mmr=True),
)
def test_more_collateral_never_hurts(
    venue: str, usdt: float, btc: float, extra_btc: float, extra_usdt: float, pos: list[Spec]
) -> None:
    def run(u: float, b: float) -> levguard.AccountReport:
        return levguard.evaluate_account(
            {"venue": venue, "balances": {"USDT": u, "BTC": b}, "prices": {"BTC": 50000}, "positions": pos}
        )

    a, b = run(usdt, btc), run(usdt + extra_usdt, btc + extra_btc)
    assert b.equity >= a.equity - 1e-9 * abs(a.equity)
    assert b.maintenance_margin == pytest.approx(a.maintenance_margin)
    if venue == "bybit-uta" and a.account_ratio is not None and b.account_ratio is not None:
        assert b.account_ratio <= a.account_ratio + 1e-12 * abs(a.account_ratio)
    if venue in ("binance-pm", "okx-mcm") and a.account_ratio is not None and b.account_ratio is not None:
        assert b.account_ratio >= a.account_ratio - 1e-12 * abs(a.account_ratio)
    assert not (b.liquidatable and not a.liquidatable)


@SETTINGS
@given(
    venue=st.sampled_from(["bybit-uta", "binance-pm", "okx-mcm"]),
    amount=st.one_of(st.just(0.0), st.floats(1e-6, 1e6), st.floats(-50, -1e-6)),
    price=st.floats(1e-3, 1e5),
)
def test_ratio_one_is_face_value(venue: str, amount: float, price: float) -> None:
    qty = amount
    r = levguard.evaluate_account(
        {"venue": venue, "balances": {"XYZ": qty}, "prices": {"XYZ": price}, "collateral_ratios": {"XYZ": 1.0}}
    )
    (row,) = r.collateral or ()
    assert row.value == pytest.approx(qty * price, rel=1e-12, abs=1e-12)
    assert r.equity == pytest.approx(qty * price, rel=1e-12, abs=1e-12)


@SETTINGS
@given(
    venue=st.sampled_from(["bybit-uta", "binance-pm", "okx-mcm"]),
    usdt=st.floats(2000, 50000),
    btc=amount(2),
    pos=positions(mmr=True),
)
def test_liquidation_price_is_the_ratio_crossing(venue: str, usdt: float, btc: float, pos: list[Spec]) -> None:
    spec: Spec = {"venue": venue, "balances": {"USDT": usdt, "BTC": btc}, "prices": {"BTC": 50000}, "positions": pos}
    r = levguard.evaluate_account(spec)
    for i, p in enumerate(r.positions):
        lp = p.liquidation_price
        if lp is None:
            continue
        assume(lp > 1e-6 * p.mark_price)
        for factor, expect in ((1.0 - p.side * 1e-7, True), (1.0 + p.side * 1e-7, False)):
            moved = json.loads(json.dumps(spec))
            moved["positions"][i]["mark_price"] = lp * factor
            m = levguard.evaluate_account(moved)
            assert m.liquidatable is expect
            if m.account_ratio is not None:
                if venue == "bybit-uta":
                    assert (m.account_ratio >= 1.0) is expect
                elif venue == "okx-mcm":
                    assert (m.account_ratio <= 1.0) is expect
                else:
                    assert (m.account_ratio <= 1.05) is expect
