"""Hypothesis properties of the portfolio-margin specs against the other evaluations (issue 18 audit).

The issue's four properties, where they mean something for ``deribit-pm`` and ``okx-pm`` (their
requirement is the book's worst loss over stress scenarios, so it equals no per-position cross
requirement by design; their position rows carry no liquidation price, and the trigger property
is ``tests/property/test_unified_pm_properties.py``'s):

- one asset equals the existing cross evaluation, for the equity: a ``deribit-pm`` account of one
  BTC-PERPETUAL has the equity in BTC of the single-wallet ``bybit-inverse`` cross account of the
  same USD size (both inverse: ``s (1/entry - 1/mark)``); an ``okx-pm`` account holding USDT only
  has the ``okx`` cross equity of the same swaps (in USD at a USDT price of 1);
- ``okx-pm`` and ``okx-mcm`` share OKX's adjusted equity: same balances and swaps, same equity and
  the same collateral rows, whatever the assets;
- a collateral ratio of 1.0 is the face value (``okx-pm`` with any asset; ``deribit-pm``'s one
  coin, which takes no haircut).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levguard

SETTINGS = settings(max_examples=60, deadline=None)
Spec = dict[str, Any]


def amount(hi: float) -> st.SearchStrategy[float]:
    """0 or an amount in [1e-6, hi] (the spec refuses magnitudes below 1e-30)."""
    return st.one_of(st.just(0.0), st.floats(1e-6, hi))


@st.composite
def okx_swaps(draw: st.DrawFn) -> list[Spec]:
    out: list[Spec] = []
    for sym, scale in (("BTC-USDT-SWAP", 60000.0), ("ETH-USDT-SWAP", 3000.0)):
        if draw(st.booleans()):
            entry = draw(st.floats(0.5 * scale, 1.5 * scale))
            qty = draw(st.floats(0.01, 5.0)) * (1 if draw(st.booleans()) else -1) * (60000.0 / scale)
            p: Spec = {"symbol": sym, "qty": qty, "entry_price": entry, "mark_price": entry * draw(st.floats(0.8, 1.2))}
            p["mmr"] = draw(st.sampled_from([0.004, 0.005, 0.01]))  # okx-mcm's rate set (no built-in tiers)
            out.append(p)
    return out


def _okx(venue: str, balances: dict[str, float], prices: dict[str, float], pos: list[Spec], **over: Any) -> Spec:
    spec: Spec = {"venue": venue, "balances": balances, "prices": prices, "positions": pos, **over}
    if venue == "okx-pm" and any(p["symbol"].startswith("BTC") for p in pos):
        spec["risk_units"] = [{"risk_unit": "BTC", "mr4_rate": 0.002, "mr7_rate": 0.0045}]
    return spec


# ======================================================================== one asset == cross
@SETTINGS
@given(
    balance=st.floats(0.01, 50.0),
    size=st.integers(1, 100_000),
    side=st.sampled_from([1, -1]),
    entry=st.floats(20_000, 120_000),
    move=st.floats(0.7, 1.3),
)
def test_deribit_one_perpetual_equity_equals_the_inverse_cross_equity(
    balance: float, size: int, side: int, entry: float, move: float
) -> None:
    mark = entry * move
    usd = 10.0 * size * side  # BTC-PERPETUAL trades in 10 USD contracts
    d = levguard.evaluate_account(
        {
            "venue": "deribit-pm",
            "currency": "BTC",
            "balances": {"BTC": balance},
            "index_price": mark,
            "positions": [
                {"instrument_name": "BTC-PERPETUAL", "size": usd, "average_price": entry, "mark_price": mark}
            ],
        }
    )
    c = levguard.evaluate_account(
        {
            "venue": "bybit-inverse",
            "margin_mode": "cross",
            "wallet_balance": balance,
            "positions": [{"symbol": "BTCUSD", "qty": usd, "entry_price": entry, "mark_price": mark, "mmr": 0.005}],
        }
    )
    assert d.settlement == c.settlement == "BTC"
    assert d.equity == pytest.approx(c.equity, rel=1e-12, abs=1e-15)
    assert d.positions[0].unrealized_pnl == pytest.approx(c.positions[0].unrealized_pnl, rel=1e-12, abs=1e-15)


@SETTINGS
@given(usdt=st.floats(100.0, 200_000.0), pos=okx_swaps())
def test_okx_pm_usdt_only_equity_equals_the_okx_cross_equity(usdt: float, pos: list[Spec]) -> None:
    u = levguard.evaluate_account(_okx("okx-pm", {"USDT": usdt}, {}, pos))
    c = levguard.evaluate_account({"venue": "okx", "margin_mode": "cross", "wallet_balance": usdt, "positions": pos})
    # Below OKX's first USDT tier (5,000,000 at 1) the adjusted equity is the cross equity.
    assert u.equity == pytest.approx(c.equity, rel=1e-12, abs=1e-9)


# ==================================================== okx-pm and okx-mcm share the adjusted equity
@SETTINGS
@given(
    usdt=st.one_of(amount(2e7), st.floats(-5e4, -1e-6)),
    btc=amount(150.0),
    sol=amount(1e4),
    usdt_price=st.floats(0.98, 1.02),
    pos=okx_swaps(),
)
def test_okx_pm_and_okx_mcm_have_the_same_adjusted_equity(
    usdt: float, btc: float, sol: float, usdt_price: float, pos: list[Spec]
) -> None:
    balances = {"USDT": usdt, "BTC": btc, "SOL": sol}
    prices = {"USDT": usdt_price, "BTC": 60_000.0, "SOL": 150.0}
    over = {"collateral_ratios": {"SOL": [{"minAmt": "0", "maxAmt": "5000", "discountRate": "0.9"}]}}
    pm = levguard.evaluate_account(_okx("okx-pm", balances, prices, pos, **over))
    mcm = levguard.evaluate_account(_okx("okx-mcm", balances, prices, pos, **over))
    assert pm.equity == pytest.approx(mcm.equity, rel=1e-12, abs=1e-9)
    assert pm.wallet_balance == pytest.approx(mcm.wallet_balance, rel=1e-12, abs=1e-9)
    for a, b in zip(pm.collateral or (), mcm.collateral or (), strict=True):
        assert (a.asset, a.price) == (b.asset, b.price)
        assert a.amount == pytest.approx(b.amount, rel=1e-12, abs=1e-9)
        assert a.value == pytest.approx(b.value, rel=1e-12, abs=1e-9)


# ====================================================================== ratio 1.0 == face value
@SETTINGS
@given(
    qty=st.one_of(st.just(0.0), st.floats(1e-6, 1e6), st.floats(-50, -1e-6)),
    price=st.floats(1e-3, 1e5),
)
def test_okx_pm_ratio_one_is_face_value(qty: float, price: float) -> None:
    r = levguard.evaluate_account(
        {"venue": "okx-pm", "balances": {"XYZ": qty}, "prices": {"XYZ": price}, "collateral_ratios": {"XYZ": 1.0}}
    )
    (row,) = r.collateral or ()
    assert row.value == pytest.approx(qty * price, rel=1e-12, abs=1e-12)
    assert r.equity == pytest.approx(qty * price, rel=1e-12, abs=1e-12)


@SETTINGS
@given(
    balance=st.one_of(st.just(0.0), st.floats(1e-6, 100.0), st.floats(-5.0, -1e-6)), index=st.floats(1_000.0, 200_000.0)
)
def test_deribit_pm_coin_counts_at_face_value(balance: float, index: float) -> None:
    r = levguard.evaluate_account(
        {"venue": "deribit-pm", "currency": "BTC", "balances": {"BTC": balance}, "index_price": index, "positions": []}
    )
    (row,) = r.collateral or ()
    assert row.haircut == 1.0
    assert row.value == pytest.approx(balance * index, rel=1e-12, abs=1e-9)
    assert r.equity == pytest.approx(balance, rel=1e-15, abs=1e-18)  # the account's own currency: BTC
