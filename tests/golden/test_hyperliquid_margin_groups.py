"""Hyperliquid's built-in margin tiers are the docs' whole "Mainnet Margin Tiers" list.

hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers (read 2026-12-07): 0-20M 10x, above
5x for DOGE, kPEPE, SUI, WLD, TRUMP, LTC, ENA, POPCAT, WIF, AAVE, kBONK, LINK, CRV, AVAX, ADA,
UNI, NEAR, TIA, APT, BCH, HYPE, FARTCOIN; 0-3M 10x, above 5x for OP, ARB, LDO, TON, MKR, ONDO,
JUP, INJ, kSHIB, SEI, TRX, BNB, DOT.  Before, only 6 + 4 of them were built in: LDO, kPEPE and
the rest had no table, and the ccxt venue gave them one tier at 10x at every size.
"""

from __future__ import annotations

import pytest

import levguard
from levguard.core.rules.hyperliquid import BUILTIN_TIERS, coin_key

G20 = "DOGE kPEPE SUI WLD TRUMP LTC ENA POPCAT WIF AAVE kBONK LINK CRV AVAX ADA UNI NEAR TIA APT BCH HYPE FARTCOIN"
G3 = "OP ARB LDO TON MKR ONDO JUP INJ kSHIB SEI TRX BNB DOT"


@pytest.mark.parametrize(("coin", "cap"), [(c, 20e6) for c in G20.split()] + [(c, 3e6) for c in G3.split()])
def test_every_listed_coin_has_its_two_tiers(coin: str, cap: float) -> None:
    table = BUILTIN_TIERS[coin_key(f"{coin}/USDC:USDC")]
    assert [(t.notional_floor, t.max_leverage, t.mmr) for t in table.tiers] == [(0.0, 10, 0.05), (cap, 5, 0.1)]
    assert table.tiers[1].maint_amount == pytest.approx(cap * 0.05)  # continuity rule
    assert "margin-tiers" in table.source


def test_ldo_above_3m_is_margined_at_5x() -> None:
    """5M LDO long at 1 in cross on 600k: MM 5M x 10 % - 150k = 350k (one flat 10x tier: 250k)."""
    spec = {
        "venue": "hyperliquid", "wallet_balance": 600_000.0,
        "positions": [{"symbol": "LDO/USDC:USDC", "qty": 5e6, "entry_price": 1.0, "mark_price": 1.0}],
    }  # fmt: skip
    (p,) = levguard.evaluate_account(spec).positions
    assert p.maintenance_margin == pytest.approx(350_000.0)
    # 600k + 5M (P - 1) = 5M P x 10 % - 150k  =>  P = 4.25M / 4.5M
    assert p.liquidation_price == pytest.approx(4.25 / 4.5, rel=1e-9)


def test_the_lower_case_k_coins_are_found_by_symbol() -> None:
    for symbol in ("kPEPE/USDC:USDC", "KPEPE/USDC:USDC", "kPEPE", "kSHIB-USD"):
        assert coin_key(symbol) in BUILTIN_TIERS
