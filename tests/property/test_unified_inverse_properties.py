"""Hypothesis properties of COIN-M (inverse) positions in Binance Portfolio Margin (issue 18).

- One COIN-M position backed by its own coin: uniMMR is monotone in the mark (a long's rises with
  it; a short's falls with it while the coin held is less than the short's entry value in coins,
  ``n < |q| / EP``, and rises with it otherwise, the short then never liquidated by a rise).
- Each liquidation price lands where uniMMR crosses the 105 % trigger (coin-only and mixed
  accounts), the mark moved alone.
- More collateral (the coin or USDT) never lowers uniMMR and never raises the MM.
- At a collateral rate of 1 the account is the single-wallet ``binance-coinm`` cross account in
  USD: equity and MM are the coin figures times the coin's price, uniMMR is the inverse of the
  cross margin ratio, and the bankruptcy prices agree.
- With the coin the only collateral (one collateral rate) the coin's price cancels out of uniMMR:
  the liquidation price does not depend on it, so holding it fixed costs nothing there.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import levguard

SETTINGS = settings(max_examples=60, deadline=None)
Spec = dict[str, Any]


def amount(hi: float) -> st.SearchStrategy[float]:
    """0 or an amount in [1e-6, hi] (the spec refuses magnitudes below 1e-30)."""
    return st.one_of(st.just(0.0), st.floats(1e-6, hi))


@st.composite
def coinm_position(draw: st.DrawFn) -> Spec:
    """A BTCUSD_PERP position: 1 to 3,000 contracts of 100 USD, either side, entry 20k-100k."""
    entry = draw(st.floats(20_000, 100_000))
    return {
        "symbol": "BTCUSD_PERP",
        "qty": draw(st.integers(1, 3000)) * (1 if draw(st.booleans()) else -1),
        "entry_price": entry,
        "mark_price": entry * draw(st.floats(0.8, 1.25)),
        "mmr": draw(st.sampled_from([0.004, 0.005, 0.01, 0.025])),
    }


def coin_only(btc: float, price: float, pos: Spec, ratio: float | None = None) -> Spec:
    spec: Spec = {"venue": "binance-pm", "balances": {"BTC": btc}, "prices": {"BTC": price}, "positions": [pos]}
    if ratio is not None:
        spec["collateral_ratios"] = {"BTC": ratio}
    return spec


def at_mark(spec: Spec, i: int, mark: float) -> levguard.AccountReport:
    moved = json.loads(json.dumps(spec))
    moved["positions"][i]["mark_price"] = mark
    return levguard.evaluate_account(moved)


@SETTINGS
@given(
    btc=st.floats(0.01, 20),
    price=st.floats(1_000, 100_000),
    pos=coinm_position(),
    lo=st.floats(0.3, 3.0),
    hi=st.floats(0.3, 3.0),
)
def test_coin_only_ratio_is_monotone_in_the_mark(btc: float, price: float, pos: Spec, lo: float, hi: float) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    spec = coin_only(btc, price, pos)
    a = at_mark(spec, 0, pos["entry_price"] * lo).account_ratio
    b = at_mark(spec, 0, pos["entry_price"] * hi).account_ratio
    assert a is not None
    assert b is not None
    tol = 1e-9 * max(abs(a), abs(b), 1.0)
    q = pos["qty"] * 100.0
    covered = btc - abs(q) / pos["entry_price"]  # the coin left once a short's entry value is paid
    if q > 0 or covered >= 0.0:
        assert b >= a - tol
    else:
        assert b <= a + tol
    if q < 0 and covered > 1e-9 * btc:  # (at 0 to rounding, E and MM both vanish as the price grows)
        r = levguard.evaluate_account(spec)
        assert r.positions[0].side < 0
        assert r.positions[0].liquidation_price is None  # a covered short: no rise liquidates it


@st.composite
def accounts(draw: st.DrawFn) -> Spec:
    """A coin-only account, or USDT and BTC backing a BTCUSDT position and a COIN-M one."""
    price = draw(st.floats(20_000, 100_000))
    inverse = draw(coinm_position())
    spec = coin_only(draw(st.floats(0.05, 10)), price, inverse)
    if draw(st.booleans()):
        entry = draw(st.floats(0.7 * price, 1.3 * price))
        spec["balances"]["USDT"] = draw(st.floats(1_000, 100_000))
        linear = {
            "symbol": "BTCUSDT",
            "qty": draw(st.floats(0.01, 3)) * (1 if draw(st.booleans()) else -1),
            "entry_price": entry,
            "mark_price": entry * draw(st.floats(0.9, 1.1)),
            "mmr": 0.005,
        }
        spec["positions"] = [linear, inverse] if draw(st.booleans()) else [inverse, linear]
    return spec


@SETTINGS
@given(spec=accounts())
def test_liquidation_price_is_the_unimmr_crossing(spec: Spec) -> None:
    r = levguard.evaluate_account(spec)
    for i, p in enumerate(r.positions):
        lp = p.liquidation_price
        if lp is None:
            continue
        assume(lp > 1e-6 * p.mark_price)
        for factor, expect in ((1.0 - p.side * 1e-7, True), (1.0 + p.side * 1e-7, False)):
            m = at_mark(spec, i, lp * factor)
            assert m.liquidatable is expect
            assert m.account_ratio is not None
            assert (m.account_ratio <= 1.05) is expect


@SETTINGS
@given(spec=accounts(), extra_btc=amount(5), extra_usdt=amount(1e5))
def test_more_collateral_never_lowers_unimmr(spec: Spec, extra_btc: float, extra_usdt: float) -> None:
    a = levguard.evaluate_account(spec)
    more = json.loads(json.dumps(spec))
    more["balances"]["BTC"] += extra_btc
    more["balances"]["USDT"] = more["balances"].get("USDT", 0.0) + extra_usdt
    b = levguard.evaluate_account(more)
    assert a.account_ratio is not None
    assert b.account_ratio is not None
    assert b.maintenance_margin == pytest.approx(a.maintenance_margin, rel=1e-12)
    assert b.equity >= a.equity - 1e-9 * abs(a.equity)
    assert b.account_ratio >= a.account_ratio - 1e-9 * abs(a.account_ratio)
    assert not (b.liquidatable and not a.liquidatable)


@SETTINGS
@given(btc=st.floats(0.01, 20), price=st.floats(1_000, 100_000), pos=coinm_position())
def test_rate_one_is_the_coinm_cross_account_in_usd(btc: float, price: float, pos: Spec) -> None:
    u = levguard.evaluate_account(coin_only(btc, price, pos, ratio=1.0))
    c = levguard.evaluate_account(
        {"venue": "binance-coinm", "margin_mode": "cross", "wallet_balance": btc, "positions": [pos]}
    )
    assert c.settlement == "BTC"
    assert u.equity == pytest.approx(price * c.equity, rel=1e-12, abs=1e-9 * price)
    assert u.maintenance_margin == pytest.approx(price * c.maintenance_margin, rel=1e-12)
    (pu,), (pc,) = u.positions, c.positions
    assert pu.unrealized_pnl == pc.unrealized_pnl
    assert pu.maintenance_margin == pc.maintenance_margin
    if c.equity > 0:
        assert c.margin_ratio is not None
        assert u.account_ratio == pytest.approx(1.0 / c.margin_ratio, rel=1e-12)
    if pc.bankruptcy_price is None:
        assert pu.bankruptcy_price is None
    else:
        assert pu.bankruptcy_price == pytest.approx(pc.bankruptcy_price, rel=1e-9)


@SETTINGS
@given(btc=st.floats(0.01, 20), price=st.floats(1_000, 100_000), k=st.floats(0.2, 5.0), pos=coinm_position())
def test_coin_only_liquidation_price_ignores_the_coin_price(btc: float, price: float, k: float, pos: Spec) -> None:
    a = levguard.evaluate_account(coin_only(btc, price, pos)).positions[0]
    b = levguard.evaluate_account(coin_only(btc, price * k, pos)).positions[0]
    for x, y in ((a.liquidation_price, b.liquidation_price), (a.bankruptcy_price, b.bankruptcy_price)):
        assert (x is None) is (y is None)
        if x is not None and y is not None:
            assert math.isclose(x, y, rel_tol=1e-9)
