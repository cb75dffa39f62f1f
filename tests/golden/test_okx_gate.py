"""Golden tests: OKX and Gate isolated linear liquidation with the taker-fee term.

Source: freqtrade ``tests/exchange/test_exchange.py::test_get_liquidation_price`` @ 0008a872
(gate/okx rows; MMR 0.01, taker fee 0.0006 from the test's market fixture), implementing the
Gate support formula LP = (EP -/+ Margin/Size) / [1 -/+ (MMR + Taker)].
"""

from __future__ import annotations

import pytest
from golden_helpers import one

ROWS = [
    # (is_short, exchange, leverage, open_rate, amount, expected)
    (True, "gate", 5, 10, 1.0, 11.87413417771621),
    (True, "gate", 5, 10, 2.0, 11.87413417771621),
    (True, "gate", 3, 10, 1.0, 13.193482419684678),
    (True, "gate", 5, 8, 1.0, 9.499307342172967),
    (True, "okx", 3, 10, 1.0, 13.193482419684678),
    (False, "gate", 5.0, 10.0, 1.0, 8.085708510208207),
    (False, "gate", 3.0, 10.0, 1.0, 6.738090425173506),
    (False, "okx", 3.0, 10.0, 1.0, 6.738090425173506),
]


@pytest.mark.parametrize(("is_short", "venue", "leverage", "open_rate", "amount", "expected"), ROWS)
def test_freqtrade_rows(
    is_short: bool, venue: str, leverage: float, open_rate: float, amount: float, expected: float
) -> None:
    """Isolated margin = amount x open_rate / leverage; MMR 0.01; taker 0.0006."""
    p = one(
        venue,
        mode="isolated",
        symbol="ETH/USDT:USDT",
        qty=-amount if is_short else amount,
        entry_price=open_rate,
        mark_price=open_rate,
        leverage=leverage,
        mmr=0.01,
        taker_fee_rate=0.0006,
    )
    assert p.liquidation_price == pytest.approx(expected, rel=1e-9)


def test_maintenance_margin_includes_the_fee_term() -> None:
    """OKX ratio denominator: notional x (MMR + fee)."""
    p = one(
        "okx",
        mode="isolated",
        symbol="BTC-USDT-SWAP",
        qty=2,
        entry_price=50_000,
        mark_price=40_000,
        leverage=10,
        mmr=0.004,
        taker_fee_rate=0.0005,
    )
    assert p.maintenance_margin == pytest.approx(2 * 40_000 * (0.004 + 0.0005))


def test_gate_inverse_formula() -> None:
    """Gate inverse: LP = Size*EP*(1 + MMR + Taker) / (Size + Margin*EP) for a long."""
    size, ep, margin, mmr, taker = 1_000.0, 20_000.0, 0.01, 0.005, 0.00075
    p = one(
        "gate",
        mode="isolated",
        symbol="BTC_USD",
        contract_kind="inverse",
        settlement="BTC",
        qty=size,
        entry_price=ep,
        mark_price=ep,
        isolated_margin=margin,
        mmr=mmr,
        taker_fee_rate=taker,
    )
    assert p.liquidation_price == pytest.approx(size * ep * (1 + mmr + taker) / (size + margin * ep), rel=1e-12)
    s = one(
        "gate",
        mode="isolated",
        symbol="BTC_USD",
        contract_kind="inverse",
        settlement="BTC",
        qty=-size,
        entry_price=ep,
        mark_price=ep,
        isolated_margin=margin,
        mmr=mmr,
        taker_fee_rate=taker,
    )
    assert s.liquidation_price == pytest.approx(size * ep * (1 - mmr - taker) / (size - margin * ep), rel=1e-12)
