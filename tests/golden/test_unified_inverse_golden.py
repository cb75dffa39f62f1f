"""Golden cases of COIN-M (inverse) positions in Binance Portfolio Margin (``binance-pm``; issue 18).

Sources (read 2026-12-04 from stored copies):

- Binance FAQ "Binance Portfolio Margin Pro Maintenance Margin Ratio Calculation"
  (binance.com/en/support/faq/5e33af8e6ac04d57a1d0a3398e0a0752), "Collateral Calculation and
  Liquidation Example": its COIN-M column is BTCUSD_PERP, asset BTC, wallet balance 0.1 BTC, MMR
  bracket 0.5 %, position quantity 10,000 USD, long, entry 50,000, mark 40,000.  The stored copy
  is cut after the USDⓈ-M legs' "Unrealized PnL 600 USDT | -414 USDT"; every COIN-M figure below
  is computed by hand from Binance's own formulas, none is read from the page.
- Binance FAQ "What Is the Unified Account Maintenance Margin Ratio (uniMMR) And How Is It
  Calculated" (binance.com/en/support/faq/4868b2f1aa6c4d08af973328462bb0bd):
  ``Equity = sum min((MarginAsset - MarginLoan + futuresAsset + futuresUnrealPnL) *
  assetIndexPrice * collateralRate, (...) * assetIndexPrice)``, ``sum MM = sum futuresMM *
  assetIndexPrice + sum MarginMM * assetIndexPrice``, ``futuresMM_CM = |MMR * Amount * contract
  multiplier| - cum``, ``uniMMR = sum adjustedEquity / sum MM``, liquidation at 105 %.
- Binance COIN-M PnL: ``q * (1/entry - 1/mark)`` in the coin, ``q`` = contracts x 100 USD for
  BTCUSD (levguard.kernels.margin.position_upnl, binance-coinm).
"""

from __future__ import annotations

from typing import Any

import pytest

import levguard

Spec = dict[str, Any]

# The example's COIN-M leg: 100 contracts of 100 USD = 10,000 USD, long at 50,000, mark 40,000.
COINM_LEG: Spec = {"symbol": "BTCUSD_PERP", "qty": 100, "entry_price": 50000, "mark_price": 40000, "mmr": 0.005}


def test_faq_coinm_leg_pnl_and_mm() -> None:
    """uPnL = 10,000 x (1/50,000 - 1/40,000) = -0.05 BTC; futuresMM_CM = |0.5 % x 100 x 100| = 50 USD
    = 0.00125 BTC at the index 40,000 (= the mark here), and the 0.1 BTC COIN-M wallet plus the PnL
    is the BTC equity: 0.05 BTC x 40,000 x 0.95 (the built-in BTC rate) = 1,900 USD."""
    r = levguard.evaluate_account(
        {"venue": "binance-pm", "balances": {"BTC": 0.1}, "prices": {"BTC": 40000}, "positions": [COINM_LEG]}
    )
    (p,) = r.positions
    assert p.contract_kind == "inverse"
    assert p.unrealized_pnl == pytest.approx(-0.05, rel=1e-14)
    assert p.notional == pytest.approx(0.25, rel=1e-15)  # 10,000 USD / 40,000 in BTC
    assert p.maintenance_margin == pytest.approx(0.00125, rel=1e-14)
    assert r.maintenance_margin == pytest.approx(abs(0.005 * 100 * 100), rel=1e-14)  # the FAQ's USD form
    (btc,) = r.collateral or ()
    assert btc.amount == pytest.approx(0.05, rel=1e-14)
    assert r.equity == pytest.approx(0.05 * 40000 * 0.95, rel=1e-14)
    assert r.account_ratio == pytest.approx(1900 / 50, rel=1e-14)
    assert r.account_status == "normal"


def test_faq_coinm_leg_liquidation_and_bankruptcy_closed_form() -> None:
    """With BTC the only collateral, uniMMR = 0.95 (0.3 - 10,000/P) P_BTC / (1.05 x 0.005 x 10,000 /
    P x P_BTC): the BTC price cancels.  uniMMR = 1.05 at P = (9,500 + 52.5) / 0.285 = 33,517.54...,
    and the equity is 0 at P = 10,000 / 0.3 = 33,333.33..."""
    r = levguard.evaluate_account(
        {"venue": "binance-pm", "balances": {"BTC": 0.1}, "prices": {"BTC": 40000}, "positions": [COINM_LEG]}
    )
    (p,) = r.positions
    assert p.liquidation_price == pytest.approx(9552.5 / 0.285, rel=1e-12)
    assert p.bankruptcy_price == pytest.approx(10000 / 0.3, rel=1e-12)


def test_faq_full_example_with_the_coinm_leg_by_hand() -> None:
    """The whole example of the Pro FAQ, its COIN-M leg included.  Rows of the page: margin assets
    USDT 1,000, BTC 0.1 (loan 0.04), ETH 20 (loan 15), Margin MM = loan x 10 %; USDⓈ-M wallet
    5,000 USDT with BTCUSDT_PERP short 0.05 at 52,000 (mark 40,000) and BTCUSDT_20220624 long 0.04
    at 52,350 (mark 42,000); COIN-M wallet 0.1 BTC with the BTCUSD_PERP leg; MMR bracket 0.5 %.
    The page's collateral rates, index prices and result were cut from the stored copy: BTC is
    priced 40,000 at the built-in 0.95, ETH 3,000 at 1 (ours, as in
    tests/golden/test_unified_venue_examples.py), USDT 1.

    By hand: USDT 1,000 + 5,000 + 600 - 414 = 6,186; BTC 0.1 - 0.04 + 0.1 - 0.05 = 0.11 BTC ->
    0.11 x 40,000 x 0.95 = 4,180; ETH 5 x 3,000 = 15,000; E = 25,366.  MM = 10 + 8.4 (USDⓈ-M) + 50
    (COIN-M) + 0.004 x 40,000 + 1.5 x 3,000 (loans) = 4,728.4; uniMMR = 25,366 / 4,728.4."""
    spec: Spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 1000 + 5000, "BTC": 0.1 + 0.1, "ETH": 20},
        "borrowed": {"BTC": 0.04, "ETH": 15},
        "loan_mmr": 0.10,
        "prices": {"BTC": 40000, "ETH": 3000},
        "collateral_ratios": {"ETH": 1.0},
        "positions": [
            {"symbol": "BTCUSDT", "qty": -0.05, "entry_price": 52000, "mark_price": 40000, "mmr": 0.005},
            {"symbol": "BTCUSDT_20220624", "qty": 0.04, "entry_price": 52350, "mark_price": 42000, "mmr": 0.005},
            COINM_LEG,
        ],
    }
    r = levguard.evaluate_account(spec)
    perp, fut, coinm = r.positions
    assert (perp.unrealized_pnl, fut.unrealized_pnl) == (pytest.approx(600.0), pytest.approx(-414.0))
    assert coinm.symbol == "BTCUSD_PERP"
    assert coinm.unrealized_pnl == pytest.approx(-0.05, rel=1e-14)
    rows = {c.asset: c for c in r.collateral or ()}
    assert rows["USDT"].amount == pytest.approx(6186.0, rel=1e-15)
    assert rows["BTC"].amount == pytest.approx(0.11, rel=1e-14)
    assert rows["BTC"].value == pytest.approx(4180.0, rel=1e-14)
    assert r.equity == pytest.approx(25366.0, rel=1e-14)
    assert r.maintenance_margin == pytest.approx(4728.4, rel=1e-14)
    assert r.account_ratio == pytest.approx(25366.0 / 4728.4, rel=1e-13)
    assert r.account_status == "normal"
