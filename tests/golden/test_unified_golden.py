"""Golden cases of unified-account collateral and ratios, from the venues' own pages.

Where a venue's worked example could be read in full it is reproduced exactly; where the stored
copy of the page cut the example short (Bybit's "Trader A" collateral example, Binance's
Portfolio Margin Pro "Collateral Calculation and Liquidation Example"), the venue's table or
formula is applied to a hand-computed case instead, and the docstring says so.
"""

from __future__ import annotations

import pytest

import levguard
from levguard.core.rules.collateral import BYBIT_UTA


def test_binance_pm_btc_collateral_rate_example() -> None:
    """Binance FAQ "Binance Portfolio Margin Program Supported Collateral and Rates" (2022-04-18,
    https://www.binance.com/en/support/faq/146ac090710a49f99c4732b00f8c09df): "if client A has
    1 BTC in the Margin Wallet, 1 BTC in the USDⓈ-M Wallet, and 1 BTC in the COIN-M Wallet, his
    margin asset value is 3 BTC*0.95 = 2.85 BTC"."""
    price = 40000.0
    r = levguard.evaluate_account({"venue": "binance-pm", "balances": {"BTC": 3}, "prices": {"BTC": price}})
    (btc,) = r.collateral or ()
    assert btc.value / price == pytest.approx(2.85, rel=1e-15)
    assert btc.haircut == pytest.approx(0.95)
    assert r.equity == pytest.approx(2.85 * price)


def test_binance_tiered_collateral_example() -> None:
    """Binance FAQ "Binance Cross Margin Collateral Haircuts", example 1, scenario 1
    (https://www.binance.com/en-BH/support/faq/binance-cross-margin-collateral-haircuts-4bec9126c021472285b20874f9380dfb,
    read 2026): 6,000 BTC at 20,000 USDT with tiers 100 % up to 100,000,000 and 97.5 % up to
    120,000,000: "(100,000,000) * 100% + (120,000,000 - 100,000,000) * 97.5% = 119,500,000 USDT".
    The same progressive, USD-valued tiers are Binance Portfolio Margin's tiered collateral rates
    (GET /sapi/v2/portfolio/collateralRate), given here in Binance's API shape."""
    tiers = [
        {"minUsdValue": "0", "maxUsdValue": "100000000", "discountRate": "1"},
        {"minUsdValue": "100000000", "maxUsdValue": "120000000", "discountRate": "0.975"},
        {"minUsdValue": "120000000", "maxUsdValue": "150000000", "discountRate": "0.95"},
        {"minUsdValue": "150000000", "maxUsdValue": "180000000", "discountRate": "0.9"},
        {"minUsdValue": "180000000", "maxUsdValue": "200000000", "discountRate": "0.85"},
    ]
    r = levguard.evaluate_account(
        {
            "venue": "binance-pm",
            "balances": {"BTC": 6000},
            "prices": {"BTC": 20000},
            "collateral_ratios": {"BTC": tiers},
        }
    )
    (btc,) = r.collateral or ()
    assert btc.value == 119_500_000.0


def test_bybit_uta_tiered_collateral_value_ratio_table() -> None:
    """Bybit help "Understanding Collateral Value Ratios in Unified Trading Account" (last updated
    2025-09-18, https://www.bybit.com/en/help-center/article/Assets-Collateral-Value-Ratio-List-UTA):
    the example table (BTC 0-10: 0.98, >10-20: 0.95, >20-30: 0.9, >30-40: 0.85, >40-50: 0.8,
    >50: 0; USDT: 1) and "Total Wallet Balance (in USD) = Sum(Asset x USD Index Price x Collateral
    Value Ratio)".  The page's own "Trader A" figures were cut from the stored copy, so this is a
    hand-computed case on that table: 25 BTC at 30,000 USD and 10,000 USDT is
    (10 x 0.98 + 10 x 0.95 + 5 x 0.9) x 30,000 + 10,000 = 724,000 USD."""
    assert BYBIT_UTA.as_of == "2025-09-18"
    r = levguard.evaluate_account(
        {"venue": "bybit-uta", "balances": {"BTC": 25, "USDT": 10000}, "prices": {"BTC": 30000}}
    )
    assert r.equity == pytest.approx(724_000.0, rel=1e-15)
    # Above 50 BTC the ratio is 0: 60 BTC count as 45 BTC.
    r = levguard.evaluate_account({"venue": "bybit-uta", "balances": {"BTC": 60}, "prices": {"BTC": 1}})
    assert r.equity == pytest.approx(9.8 + 9.5 + 9.0 + 8.5 + 8.0)


def test_binance_pm_pro_example_inputs_unimmr_by_hand() -> None:
    """Binance FAQ "Binance Portfolio Margin Pro Maintenance Margin Ratio Calculation"
    (https://www.binance.com/en/support/faq/5e33af8e6ac04d57a1d0a3398e0a0752): the example's
    BTCUSDT_PERP leg, short 0.05 BTC at 52,000, mark 40,000, MMR bracket 0.5 %, gives the page's
    "Unrealized PnL 600 USDT"; its futures MM is |0.5 % x 0.05 x 40,000| = 10 USDT.  The rest of
    the page's example (collateral rates, final uniMMR) was cut from the stored copy, so uniMMR is
    checked by hand: with 5,000 USDT, E = 5,600 and uniMMR = 5,600 / 10 = 560."""
    r = levguard.evaluate_account(
        {
            "venue": "binance-pm",
            "balances": {"USDT": 5000},
            "positions": [{"symbol": "BTCUSDT", "qty": -0.05, "entry_price": 52000, "mark_price": 40000, "mmr": 0.005}],
        }
    )
    assert r.positions[0].unrealized_pnl == pytest.approx(600.0)
    assert r.maintenance_margin == pytest.approx(10.0)
    assert r.account_ratio == pytest.approx(560.0)
    assert r.account_status == "normal"
