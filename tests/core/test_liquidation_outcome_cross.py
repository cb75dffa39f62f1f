"""Cross-margin liquidation outcomes judge the account, not the position's collateral share.

A partial close needs equity left in the account (equity + other positions' maintenance) once its
fee is paid, and a book close's fee is capped by the account's equity on the remainder-cap venues
(dYdX keeps its protocol share cap).
"""

from __future__ import annotations

import pytest

from levguard.core.liquidation_outcome import liquidation_outcome


def test_hyperliquid_cross_solvent_account_is_sliced_not_closed_whole() -> None:
    # 2 BTC at 100k (MM 2,500) with others' MM 10,000 and account equity 9,000: total MM 12,500,
    # backstop 2/3 x 12,500 = 8,333 < 9,000.  The share behind BTC is 9,000 - 10,000 = -1,000,
    # which closed the whole 2 BTC; the account is solvent: a 20 % slice (0.4 BTC).
    o = liquidation_outcome(
        "hyperliquid", 2.0, 100_000.0, 100_000.0, -1_000.0, maintenance_margin=2_500.0, others_maintenance=10_000.0
    )
    assert o.partial
    assert not o.taken_over
    assert o.closed_qty == pytest.approx(0.4, rel=1e-12)
    assert o.remaining_qty == pytest.approx(1.6, rel=1e-12)
    # Money: margin = kept + fee - fund's payment + loss.
    assert o.margin == pytest.approx(o.kept + o.fee - (o.fee - o.insurance_fund) - o.trading_pnl, abs=1e-9)


def test_hyperliquid_cross_bankrupt_account_still_goes_whole() -> None:
    # The account itself below the backstop (equity 5,000 < 2/3 x 12,500): taken over whole.
    o = liquidation_outcome(
        "hyperliquid", 2.0, 100_000.0, 100_000.0, -5_000.0, maintenance_margin=2_500.0, others_maintenance=10_000.0
    )
    assert not o.partial
    assert o.closed_qty == 2.0


def test_deribit_cross_fee_is_capped_by_the_account_equity() -> None:
    # Wallet 65,000; 10 BTC at 100k with others' MM 60,000: the share behind BTC is 5,000, the
    # account's equity 65,000.  The 0.8 % fee on 1,000,000 is 8,000 (was capped at 5,000).
    o = liquidation_outcome(
        "deribit", 10.0, 100_000.0, 100_000.0, 5_000.0, others_maintenance=60_000.0, symbol="BTC_USDC-PERPETUAL"
    )
    assert not o.partial
    assert o.fee == pytest.approx(8_000.0, rel=1e-12)
    assert o.insurance_fund == pytest.approx(8_000.0, rel=1e-12)
    assert o.kept == pytest.approx(-3_000.0, rel=1e-12)  # the other positions' margin pays the rest
    assert o.margin == pytest.approx(o.kept + o.fee - o.trading_pnl, abs=1e-9)


def test_deribit_cross_fee_cap_stops_at_the_account_equity() -> None:
    # Account equity 3,000 (share -57,000 + others' MM 60,000): the fee takes 3,000, nothing more.
    o = liquidation_outcome(
        "deribit", 10.0, 100_000.0, 100_000.0, -57_000.0, others_maintenance=60_000.0, symbol="BTC_USDC-PERPETUAL"
    )
    assert o.fee == pytest.approx(3_000.0, rel=1e-12)


def test_dydx_cross_keeps_its_share_cap() -> None:
    # dYdX: the fee is capped at TNC x MM_i / TMMR = 1,800 x 1,200 / 2,400 = 900 (fee_cap's example).
    o = liquidation_outcome(
        "dydx-v4", 1.0, 100_000.0, 100_000.0, 600.0, maintenance_margin=1_200.0, others_maintenance=1_200.0
    )
    assert o.fee == pytest.approx(900.0, rel=1e-12)
