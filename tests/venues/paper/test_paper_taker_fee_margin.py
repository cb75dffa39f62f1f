"""The paper venue's own taker fee reaches the margin engine (OKX and Gate add the taker rate to the MMR)."""

from __future__ import annotations

import pytest

import levguard
from fakes.tiers import FOUR_TIERS
from levguard.venues.paper import PaperVenue


@pytest.mark.parametrize(("venue", "sym"), [("gate", "BTC_USDT"), ("okx", "BTC-USDT-SWAP")])
@pytest.mark.parametrize("fee", [0.0, 0.0002])
def test_paper_margin_uses_its_taker_fee(venue: str, sym: str, fee: float) -> None:
    # 1 BTC at 100k, isolated margin 10k, MMR 0.5%: MM = (0.005 + fee) x 100k
    # (500.00 at fee 0, 520.00 at 0.02%); the venue default taker rate gave 575 (Gate) / 550 (OKX).
    v = PaperVenue(
        venue,
        feeds={sym: [100_000.0] * 4},
        wallet_balance=0.0,
        taker_fee=fee,
        slippage_bps=0.0,
        tiers={sym: FOUR_TIERS},
        positions=[
            {"symbol": sym, "qty": 1.0, "entry": 100_000.0, "margin_mode": "isolated", "isolated_margin": 10_000.0}
        ],
    )
    rep = v.evaluate().positions[0]
    assert rep.maintenance_margin == pytest.approx((0.005 + fee) * 100_000.0, rel=1e-12)
    spec = v.account_spec()
    assert spec["positions"][0]["taker_fee_rate"] == fee
    ref = levguard.evaluate_account(spec).positions[0]
    assert rep.liquidation_price == pytest.approx(ref.liquidation_price, rel=1e-12)
