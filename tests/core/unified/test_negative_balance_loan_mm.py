"""A negative balance is a loan: with ``loan_mmr`` it carries the loans' maintenance margin, once.

Bybit (negative walletBalance, its "Total Maintenance Margin" includes the MM of borrowed assets),
Binance PM (MarginMM = Loan x MMR) and OKX (auto-borrowed liabilities) all count a debt's MM; the
engine counted only ``borrowed``: 0.2 BTC at 60,000 against USDT -5,000 with loan_mmr 0.1 read MM 0
(account MM rate 0 on Bybit, uniMMR none on Binance) where the same debt given as ``borrowed``
read MM 500.  The rule: ``owed_a = borrowed_a + max(0, -balance_a) = max(borrowed_a, -net_a)``.
"""

from __future__ import annotations

import pytest

import levguard

VENUES = ("bybit-uta", "binance-pm", "okx-mcm")


@pytest.mark.parametrize("venue", VENUES)
def test_a_negative_balance_carries_the_loan_mm(venue: str) -> None:
    common = {"venue": venue, "prices": {"BTC": 60_000.0}, "loan_mmr": 0.1}
    negative = levguard.evaluate_account({**common, "balances": {"USDT": -5_000.0, "BTC": 0.2}})
    borrowed = levguard.evaluate_account({**common, "balances": {"USDT": 0.0, "BTC": 0.2}, "borrowed": {"USDT": 5_000}})
    assert negative.maintenance_margin == 500.0
    assert negative.equity == borrowed.equity
    assert negative.maintenance_margin == borrowed.maintenance_margin
    assert negative.account_ratio == borrowed.account_ratio


@pytest.mark.parametrize("venue", VENUES)
def test_a_debt_given_both_ways_counts_as_its_net(venue: str) -> None:
    common = {"venue": venue, "prices": {"BTC": 60_000.0}, "loan_mmr": 0.1}
    # 5,000 borrowed and still held: net 0, owed 5,000 (the reader's shape of a held loan).
    held = levguard.evaluate_account({**common, "balances": {"USDT": 5_000.0, "BTC": 0.2}, "borrowed": {"USDT": 5_000}})
    assert held.maintenance_margin == 500.0
    # A negative balance and a loan: the net is -10,000 and so is what is owed (no part counted twice,
    # none left out).
    both = levguard.evaluate_account(
        {**common, "balances": {"USDT": -5_000.0, "BTC": 0.2}, "borrowed": {"USDT": 5_000}}
    )
    assert both.maintenance_margin == 1_000.0
    assert both.wallet_balance == pytest.approx(0.2 * 60_000 - 10_000)


def test_without_loan_mmr_a_negative_balance_adds_no_mm() -> None:
    report = levguard.evaluate_account({"venue": "bybit-uta", "balances": {"USDT": -5_000.0, "BTC": 0.2},
                                        "prices": {"BTC": 60_000.0}})  # fmt: skip
    assert report.maintenance_margin == 0.0
