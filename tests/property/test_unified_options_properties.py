"""Invariants of Bybit USDC options in ``bybit-uta`` accounts (issue 18).

From Bybit's formulas (docs/unified.md, "Options in a Bybit Unified Trading Account"): a short
option's MM is never negative, covers at least its buy-back value ``|q| * mark`` and grows with
its size (linearly); a long option's is 0.  The options value is not in the cross-margin
balance, so adding a long option changes neither the margin balance nor the MM (bit for bit:
the account without options keeps every figure), and adding a short one leaves the margin
balance and raises the MM by exactly its own, never lowering the account MM rate.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levguard
from levguard.core.unified_options import option_totals, short_option_mm

Spec = dict[str, Any]

prices = st.floats(1.0, 200_000.0)
marks = st.floats(0.0, 50_000.0)
rates = st.floats(0.0, 0.2)
sizes = st.floats(0.01, 500.0)


@settings(max_examples=200, deadline=None)
@given(q=sizes, k=st.floats(1.0, 10.0), index=prices, mark=marks, f=rates, r=rates)
def test_short_mm_is_non_negative_covers_the_buy_back_and_grows_with_size(
    q: float, k: float, index: float, mark: float, f: float, r: float
) -> None:
    mm = short_option_mm(-q, index, mark, f, r)
    assert mm >= 0.0
    assert mm >= q * mark * (1 - 1e-15)
    bigger = short_option_mm(-q * k, index, mark, f, r)
    assert bigger >= mm
    assert bigger == pytest.approx(k * mm, rel=1e-12)
    assert short_option_mm(q, index, mark, f, r) == 0.0


def account(balance: float, perp_mark: float, options: list[Spec]) -> Spec:
    return {
        "venue": "bybit-uta",
        "balances": {"USDT": balance, "USDC": 1000.0},
        "collateral_ratios": {"USDC": 1.0},
        "prices": {"BTC": 60000.0},
        "positions": [
            {"symbol": "BTCUSDT", "qty": -0.4, "entry_price": 58000.0, "mark_price": perp_mark, "mmr": 0.005},
            *options,
        ],
    }


def option(strike: int, qty: float, mark: float, im: float = 0.0) -> Spec:
    d: Spec = {"symbol": f"BTC-27DEC24-{strike}-P", "qty": qty, "entry_price": mark, "mark_price": mark}
    if qty < 0:
        d["initial_margin"] = im
    return d


@settings(max_examples=60, deadline=None)
@given(
    balance=st.floats(500.0, 100_000.0),
    perp_mark=st.floats(30_000.0, 90_000.0),
    strike=st.integers(30_000, 90_000),
    qty=st.floats(0.01, 20.0),
    mark=st.one_of(st.just(0.0), st.floats(0.01, 30_000.0)),
)
def test_a_long_option_changes_neither_margin_balance_nor_mm(
    balance: float, perp_mark: float, strike: int, qty: float, mark: float
) -> None:
    base = levguard.evaluate_account(account(balance, perp_mark, []))
    more = levguard.evaluate_account(account(balance, perp_mark, [option(strike, qty, mark)]))
    assert (more.equity, more.maintenance_margin, more.account_ratio) == (
        base.equity,
        base.maintenance_margin,
        base.account_ratio,
    )
    assert more.liquidatable == base.liquidatable
    assert more.positions[0] == base.positions[0]  # the perp's row (its liquidation price too), bit for bit
    t = option_totals(more)
    assert t.options_value == pytest.approx(qty * mark, rel=1e-15, abs=1e-300)
    assert t.total_equity >= option_totals(base).total_equity - 1e-9


@settings(max_examples=60, deadline=None)
@given(
    balance=st.floats(500.0, 100_000.0),
    perp_mark=st.floats(30_000.0, 90_000.0),
    strike=st.integers(30_000, 90_000),
    qty=st.floats(0.01, 20.0),
    mark=st.one_of(st.just(0.0), st.floats(0.01, 30_000.0)),
)
def test_a_short_option_adds_its_mm_and_never_lowers_the_mm_rate(
    balance: float, perp_mark: float, strike: int, qty: float, mark: float
) -> None:
    base = levguard.evaluate_account(account(balance, perp_mark, []))
    more = levguard.evaluate_account(account(balance, perp_mark, [option(strike, -qty, mark, im=1.0)]))
    own = more.positions[1].maintenance_margin
    assert own == short_option_mm(-qty, 60000.0, mark, 0.03, 0.002)
    assert more.equity == base.equity
    assert more.maintenance_margin == pytest.approx(base.maintenance_margin + own, rel=1e-14)
    if base.account_ratio is not None and more.account_ratio is not None:
        assert more.account_ratio >= base.account_ratio
    assert more.liquidatable or not base.liquidatable
    # The perp's liquidation price moves toward its mark (less room) or stays.
    lp0, lp1 = base.positions[0].liquidation_price, more.positions[0].liquidation_price
    if lp0 is not None and lp1 is not None:
        assert lp1 <= lp0 * (1 + 1e-12)
