"""Golden tests: Bybit USDT (linear) isolated and inverse examples.

Sources: testnet.bybit.com help "Liquidation Price USDT Contract" (Example 1: 19,700);
Bybit help "bankruptcy price" (1 BTC long @ 10,000, 50x -> 9,800); help.bybit.com
360039261334 (inverse cross legacy: BP 5,718.57, LP 5,739.50; inverse isolated: long and short
at 8,000 with 50x, MMR 0.5 %); freqtrade
``test_get_liquidation_price`` bybit rows @ 0008a872 (MMR 0.01, deduction ignored by freqtrade).
"""

from __future__ import annotations

import pytest
from golden_helpers import one


def test_usdt_isolated_example_1() -> None:
    """Long 1 BTC @ 20,000, 50x, MMR 0.5 %: IM 400, MM 100, LP 19,700."""
    p = one(
        "bybit-linear",
        mode="isolated",
        symbol="BTCUSDT",
        qty=1,
        entry_price=20_000,
        mark_price=20_000,
        leverage=50,
        mmr=0.005,
    )
    assert p.initial_margin == pytest.approx(400)
    assert p.maintenance_margin == pytest.approx(100)
    assert p.liquidation_price == pytest.approx(19_700, abs=1e-9)


def test_usdt_isolated_short_with_extra_margin() -> None:
    """Example 2 (third-party copy of the page): short 1 BTC @ 20,000, 50x, +3,000 margin -> 23,300."""
    p = one(
        "bybit-linear",
        mode="isolated",
        symbol="BTCUSDT",
        qty=-1,
        entry_price=20_000,
        mark_price=20_000,
        leverage=50,
        mmr=0.005,
        isolated_margin=400 + 3000,
    )
    assert p.liquidation_price == pytest.approx(23_300, abs=1e-9)


def test_usdt_isolated_bankruptcy_price() -> None:
    """1 BTC long @ 10,000, 50x: BP = 10,000 x (1 - 2 %) = 9,800."""
    p = one(
        "bybit-linear",
        mode="isolated",
        symbol="BTCUSDT",
        qty=1,
        entry_price=10_000,
        mark_price=10_000,
        leverage=50,
        mmr=0.005,
    )
    assert p.bankruptcy_price == pytest.approx(9_800)


@pytest.mark.parametrize(
    ("is_short", "leverage", "expected"),
    [
        (False, 1.0, 0.1),
        (False, 3.0, 6.7666666),
        (False, 5.0, 8.1),
        (False, 10.0, 9.1),
        (True, 1.0, 19.9),
        (True, 3.0, 13.233333),
        (True, 5.0, 11.9),
        (True, 10.0, 10.9),
    ],
)
def test_freqtrade_rows(is_short: bool, leverage: float, expected: float) -> None:
    """freqtrade: EP(1 -/+ 1/lev +/- MMR) at EP 10, amount 1, MMR 0.01 (MM on entry value)."""
    p = one(
        "bybit-linear",
        mode="isolated",
        symbol="ETHUSDT",
        qty=-1 if is_short else 1,
        entry_price=10,
        mark_price=10,
        leverage=leverage,
        mmr=0.01,
    )
    assert p.liquidation_price == pytest.approx(expected, rel=1e-6)


def test_inverse_cross_legacy_example() -> None:
    """AB 0.5 BTC, long 10,000 contracts @ 8,000, MMR 0.5 %, fee 0.075 %.

    Published: BP 5,718.57 and LP 5,739.50.  Solving the page's own equation gives 5,739.08
    (the page is 0.007 % off its own arithmetic), which levguard reproduces exactly.
    """
    p = one("bybit-inverse", wallet=0.5, symbol="BTCUSD", qty=10_000, entry_price=8_000, mark_price=8_000, mmr=0.005)
    assert round(p.bankruptcy_price, 2) == 5718.57
    bp = 1.00075 * 10_000 / (10_000 / 8_000 + 0.5)
    rhs = 0.5 - 10_000 / 8_000 * 0.005 - 10_000 * 0.00075 / bp
    lp_equation = 1 / (1 / 8_000 + rhs / 10_000)
    assert p.liquidation_price == pytest.approx(lp_equation, rel=1e-12)
    assert round(p.liquidation_price, 2) == 5739.08
    assert p.liquidation_price == pytest.approx(5739.50, rel=1e-4)


@pytest.mark.parametrize(("qty", "lp", "bp"), [(10_000, 7_881.77, 7_843.14), (-10_000, 8_121.83, 8_163.27)])
def test_inverse_isolated_legacy_example(qty: float, lp: float, bp: float) -> None:
    """Trader A long (B short) at 8,000 with 50x, MMR 0.5 %: the isolated formula
    ``LP = EP x Lev / (Lev +/- 1 -/+ MMR x Lev)`` has no close-fee term, which only the cross
    equation carries (levguard added the 0.075 % fee here too: 7,887.71 and 8,115.77); the
    bankruptcy price is ``EP x Lev / (Lev +/- 1)``."""
    p = one(
        "bybit-inverse",
        mode="isolated",
        symbol="BTCUSD",
        qty=qty,
        entry_price=8_000,
        mark_price=8_000,
        leverage=50,
        mmr=0.005,
    )
    assert round(p.liquidation_price, 2) == lp
    assert round(p.bankruptcy_price, 2) == bp
    assert p.maintenance_margin == pytest.approx(10_000 / 8_000 * 0.005, rel=1e-15)


def test_inverse_initial_margin() -> None:
    """12,000 BTCUSD contracts @ 8,000, 50x: IM = 12,000 / (8,000 x 50) = 0.03 BTC."""
    p = one(
        "bybit-inverse",
        wallet=1,
        symbol="BTCUSD",
        qty=12_000,
        entry_price=8_000,
        mark_price=8_000,
        leverage=50,
        mmr=0.005,
    )
    assert p.initial_margin == pytest.approx(0.03)


def test_usdt_isolated_after_funding_paid() -> None:
    """Example 3 (third-party copy): 200 USDT of funding paid out of the 400 margin -> LP 19,900."""
    p = one(
        "bybit-linear",
        mode="isolated",
        symbol="BTCUSDT",
        qty=1,
        entry_price=20_000,
        mark_price=20_000,
        leverage=50,
        mmr=0.005,
        isolated_margin=400 - 200,
    )
    assert p.liquidation_price == pytest.approx(19_900, abs=1e-9)
