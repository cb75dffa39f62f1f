"""Hypothesis properties of the portfolio-margin specs (``deribit-pm``, ``okx-pm``).

- More collateral never worsens the venue's ratio (Deribit's MM usage never rises, OKX's margin
  ratio never falls) and never changes the requirement.
- Scaling every position (Deribit sizes, OKX risk-unit deltas) by 0 gives zero IM and MM.
- The ratio crosses the trigger where equity = MM: just above, normal; just below, liquidation,
  with the ratio on the matching side of 1.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import levguard

SETTINGS = settings(max_examples=60, deadline=None)
Spec = dict[str, Any]
EPS = 1e-6


def amount(hi: float) -> st.SearchStrategy[float]:
    """0 or an amount in [1e-6, hi] (the spec refuses magnitudes below 1e-30)."""
    return st.one_of(st.just(0.0), st.floats(1e-6, hi))


def signed(lo: float, hi: float) -> st.SearchStrategy[float]:
    """0 or an amount in [lo, -1e-6] or [1e-6, hi]."""
    return st.one_of(st.just(0.0), st.floats(1e-6, hi), st.floats(lo, -1e-6))


@st.composite
def deribit_positions(draw: st.DrawFn) -> list[Spec]:
    out: list[Spec] = []
    for name in draw(
        st.lists(st.sampled_from(["BTC-PERPETUAL", "BTC-27SEP24", "BTC-27DEC24"]), min_size=1, max_size=3, unique=True)
    ):
        mark = draw(st.floats(20000, 120000))
        p: Spec = {
            "instrument_name": name,
            "size_currency": draw(signed(-20, 20)),
            "mark_price": mark,
            "average_price": mark * draw(st.floats(0.8, 1.2)),
        }
        out.append(p)
    if draw(st.booleans()):
        out.append({"instrument_name": "BTC-27SEP24-70000-C", "size": draw(signed(-10, 10)), "vol": 0.6})
    return out


def deribit(balance: float, pos: list[Spec]) -> Spec:
    return {
        "venue": "deribit-pm",
        "currency": "BTC",
        "balances": {"BTC": balance},
        "index_price": 60000.0,
        "as_of": "2024-06-17T08:00:00Z",
        "positions": pos,
    }


@st.composite
def okx_positions(draw: st.DrawFn) -> list[Spec]:
    out: list[Spec] = []
    for sym, scale in (("BTC-USDT-SWAP", 60000.0), ("ETH-USDT-SWAP", 3000.0)):
        if draw(st.booleans()):
            entry = draw(st.floats(0.5 * scale, 1.5 * scale))
            qty = draw(st.floats(0.01, 5.0)) * (1 if draw(st.booleans()) else -1) * (60000.0 / scale)
            out.append(
                {"symbol": sym, "qty": qty, "entry_price": entry, "mark_price": entry * draw(st.floats(0.8, 1.2))}
            )
    return out


def okx(balances: dict[str, float], pos: list[Spec], **over: Any) -> Spec:
    # The BTC unit's observed mr4/mr7 shares apply when a BTC swap is held.
    rates = [{"risk_unit": "BTC", "mr4_rate": 0.002, "mr7_rate": 0.0045}]
    spec: Spec = {
        "venue": "okx-pm",
        "balances": balances,
        "prices": {"BTC": 50000.0, "USDT": 0.9995},
        "positions": pos,
        "risk_units": rates if any(p["symbol"].startswith("BTC") for p in pos) else [],
    }
    spec.update(over)
    return spec


def _usage_badness(r: levguard.AccountReport) -> float:
    # Deribit's MM / equity; None (equity <= 0 with a requirement) is the worst.
    return float("inf") if r.account_ratio is None else r.account_ratio


# ============================================================================ more collateral
@SETTINGS
@given(balance=signed(-1.0, 50.0), extra=amount(50.0), pos=deribit_positions())
def test_deribit_more_collateral_never_raises_mm_usage(balance: float, extra: float, pos: list[Spec]) -> None:
    a = levguard.evaluate_account(deribit(balance, pos))
    b = levguard.evaluate_account(deribit(balance + extra, pos))
    assert b.maintenance_margin == a.maintenance_margin
    assert b.equity >= a.equity
    assert _usage_badness(b) <= _usage_badness(a) * (1 + 1e-12)
    assert not (b.liquidatable and not a.liquidatable)


@SETTINGS
@given(
    usdt=amount(1e5),
    btc=amount(80.0),
    extra_usdt=amount(1e5),
    extra_btc=amount(30.0),
    pos=okx_positions(),
)
def test_okx_more_collateral_never_lowers_margin_ratio(
    usdt: float, btc: float, extra_usdt: float, extra_btc: float, pos: list[Spec]
) -> None:
    a = levguard.evaluate_account(okx({"USDT": usdt, "BTC": btc}, pos))
    b = levguard.evaluate_account(okx({"USDT": usdt + extra_usdt, "BTC": btc + extra_btc}, pos))
    assert b.maintenance_margin == a.maintenance_margin
    assert b.equity >= a.equity - 1e-9 * abs(a.equity)
    if a.account_ratio is not None and b.account_ratio is not None:
        assert b.account_ratio >= a.account_ratio - 1e-12 * abs(a.account_ratio)
    assert not (b.liquidatable and not a.liquidatable)


# ============================================================================ zero positions
@SETTINGS
@given(balance=amount(10.0), pos=deribit_positions())
def test_deribit_positions_scaled_by_zero_need_no_margin(balance: float, pos: list[Spec]) -> None:
    zero = [{**p, **{k: 0.0 * p[k] for k in ("size", "size_currency") if k in p}} for p in pos]
    r = levguard.evaluate_account(deribit(balance, zero))
    assert (r.maintenance_margin, r.initial_margin) == (0.0, 0.0)
    assert all(p.maintenance_margin == 0.0 for p in r.positions)
    assert not r.liquidatable


@SETTINGS
@given(
    btc_delta=st.floats(-1e6, 1e6),
    eth_delta=st.floats(-1e6, 1e6),
    stress=st.floats(0.9, 1.1),
)
def test_okx_risk_units_scaled_by_zero_need_no_margin(btc_delta: float, eth_delta: float, stress: float) -> None:
    def units(k: float) -> list[Spec]:
        return [
            {
                "risk_unit": "BTC",
                "delta_usd": k * btc_delta,
                "stress_delta_usd": k * stress * btc_delta,
                "mr4_rate": 0.002,
                "mr7_rate": 0.0045,
            },
            {"risk_unit": "ETH", "delta_usd": k * eth_delta},
        ]

    full = levguard.evaluate_account(okx({"USDT": 1000.0}, [], risk_units=units(1.0)))
    none = levguard.evaluate_account(okx({"USDT": 1000.0}, [], risk_units=units(0.0)))
    assert (none.maintenance_margin, none.initial_margin) == (0.0, 0.0)
    assert none.account_ratio is None
    assert not none.liquidatable
    assert full.maintenance_margin >= 0.0


# ============================================================================ the trigger
@SETTINGS
@given(pos=deribit_positions(), side=st.sampled_from([1.0, -1.0]))
def test_deribit_ratio_crosses_the_trigger_at_equity_equal_mm(pos: list[Spec], side: float) -> None:
    r0 = levguard.evaluate_account(deribit(0.0, pos))
    mm, rest = r0.maintenance_margin, r0.equity  # equity without the balance: PnL and option value
    assume(mm > 1e-9 and abs(rest) < 1e3 * mm)
    r = levguard.evaluate_account(deribit(mm * (1 + side * EPS) - rest, pos))
    assert r.maintenance_margin == mm
    assert r.equity == pytest.approx(mm * (1 + side * EPS), rel=1e-9)
    assert r.liquidatable is (side < 0)
    assert r.account_status == ("liquidation" if side < 0 else "normal")
    assert r.account_ratio is not None
    assert (r.account_ratio > 1.0) is (side < 0)


@SETTINGS
@given(pos=okx_positions(), side=st.sampled_from([1.0, -1.0]), fees=amount(100.0))
def test_okx_ratio_crosses_the_trigger_at_equity_equal_mm(pos: list[Spec], side: float, fees: float) -> None:
    over = {"collateral_ratios": {"USDT": 1}, "liquidation_fees": fees}
    r0 = levguard.evaluate_account(okx({"USDT": 0.0}, pos, **over))
    mm, upnl_usd = r0.maintenance_margin, r0.equity
    assume(mm > 1e-6 and abs(upnl_usd) < 1e3 * mm)
    balance = (mm * (1 + side * EPS) - upnl_usd) / 0.9995
    r = levguard.evaluate_account(okx({"USDT": balance}, pos, **over))
    assert r.equity == pytest.approx(mm * (1 + side * EPS), rel=1e-9)
    assert r.liquidatable is (side < 0)
    assert r.account_ratio is not None
    assert (r.account_ratio < 1.0) is (side < 0)


@SETTINGS
@given(
    venue=st.sampled_from(["binance-pm", "bybit-uta", "okx-mcm"]),
    mm=st.one_of(st.integers(1, 10**6).map(float), st.floats(1e-6, 1e9)),
    steps=st.integers(-3, 3),
    multiple=st.sampled_from([1.0, 1.05, 1.2, 1.5, 3.0]),
)
@example(venue="binance-pm", mm=100.0, steps=1, multiple=1.05)
def test_the_status_says_liquidation_exactly_when_the_account_is_liquidatable(
    venue: str, mm: float, steps: int, multiple: float
) -> None:
    """Equity within a few float steps of a status boundary (multiple x MM): the status names a
    liquidation exactly when ``liquidatable`` is True (Binance PM's uniMMR was compared after
    rounding equity / MM, so one step above 1.05 x MM read "liquidation" while not liquidatable)."""
    from levguard.core.unified import UNIFIED_VENUES

    v = UNIFIED_VENUES[venue]
    equity = multiple * mm
    for _ in range(abs(steps)):
        equity = math.nextafter(equity, math.inf if steps > 0 else -math.inf)
    status = v.status(equity, mm)
    assert status.startswith("liquidation") == v.liquidatable(equity, mm), (equity, mm, status)
