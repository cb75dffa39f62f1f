"""A unified read whose only debt is a negative balance keeps ``loan_mmr`` (real ccxt against the
fakes of tests/fakes).

The engine counts a negative balance as owed (``owed = max(borrowed, -net)``, its MM
``owed * loan_mmr``), but the reader passed ``loan_mmr`` only with a non-empty ``borrowed``: 0.2 BTC
with USDT at -5,000 after UM losses (Binance ``negativeBalance``, no margin loan) read MM 0 and no
ratio where ``loan_mmr`` 0.1 gives MM 500 and uniMMR 12.8.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fakes.binance_pm import FakeBinancePm
from fakes.bybit_uta import FakeBybitUta
from fakes.unified_accounts import UTA_TIERS, venue_of
from levguard.margin import evaluate_account
from levguard.venues.ccxt_unified import UnifiedAccountRead


def _read(fake: Any, **kwargs: Any) -> UnifiedAccountRead:
    async def main() -> UnifiedAccountRead:
        v = venue_of(fake, **kwargs)
        try:
            assert v.unified is not None
            return await v.unified.read()
        finally:
            await v.close()

    with fake:
        return asyncio.run(main())


def _binance(usdt: float) -> FakeBinancePm:
    fake = FakeBinancePm()
    fake.wallet("BTC", 0.2)
    fake.wallet("USDT", usdt)
    if usdt < 0.0:
        fake.balances[-1]["negativeBalance"] = str(-usdt)
    fake.index_prices = {"BTC": 60_000.0, "USDT": 1.0}
    fake.collateral_v1 = [{"asset": "BTC", "collateralRate": "0.95"}, {"asset": "USDT", "collateralRate": "1"}]
    fake.report(uni_mmr=12.8, equity=6_400.0, maint_margin=500.0)
    return fake


def test_a_negative_balance_alone_keeps_loan_mmr_and_its_mm() -> None:
    read = _read(_binance(-5_000.0), loan_mmr=0.1)
    assert read.balances == {"BTC": 0.2, "USDT": -5_000.0}
    assert read.borrowed == {}
    assert read.loan_mmr == 0.1  # was None
    spec = read.spec([])
    assert spec["loan_mmr"] == 0.1
    assert "borrowed" not in spec
    r = evaluate_account(spec)
    assert r.maintenance_margin == pytest.approx(500.0)  # was 0.0
    assert r.account_ratio == pytest.approx(12.8)  # 0.2 x 60,000 x 0.95 - 5,000 = 6,400 over 500; was None


def test_nothing_owed_carries_no_loan_mmr() -> None:
    read = _read(_binance(1_000.0), loan_mmr=0.1)
    assert read.loan_mmr is None
    assert "loan_mmr" not in read.spec([])


def test_bybit_a_negative_balance_without_a_borrow_amount_keeps_loan_mmr() -> None:
    fake = FakeBybitUta()
    fake.collateral = UTA_TIERS
    fake.coin("BTC", 1.0, 60_000.0)
    fake.coin("USDT", -5_000.0, 1.0)  # negative, borrowAmount 0
    fake.totals(mm_rate=0.01, equity=51_400, margin_balance=51_400, maint_margin=500)
    read = _read(fake, loan_mmr=0.1)
    assert read.balances["USDT"] == -5_000.0
    assert read.loan_mmr == 0.1
    assert evaluate_account(read.spec([])).maintenance_margin == pytest.approx(500.0)
