"""More golden cases of unified accounts: the venues' documented account responses (issue 18 audit).

The venues' help-center worked examples that the stored copies cut short (Bybit's "Trader A"
collateral example, Binance's "Examples of UniMMR Calculation" and its Portfolio Margin Pro
liquidation example) were searched for once more on 2026-12-04 and not found whole. What the
venues do publish in full are the response examples of their account endpoints, whose figures
obey the venue's own ratio definition. Each test feeds an account with the documented totals
through :func:`levguard.evaluate_account` and checks levguard's ratio against the venue's printed
one, to the venue's rounding. The split of the totals into balances and positions is ours (the
responses give totals only) and each docstring says which figures are the venue's.
"""

from __future__ import annotations

import pytest

import levguard

# --- Binance Portfolio Margin: GET /papi/v1/account, GET /sapi/v2/portfolio/account ------------

PAPI_UNIMMR = "5167.92171923"
PAPI_EQUITY = 122607.35137903
PAPI_MM = 23.72469206


def _binance_btc_position(mark: float) -> dict[str, float | str]:
    # A BTCUSDT leg at its entry (no PnL) whose USDⓈ-M maintenance margin at 0.5 % is PAPI_MM:
    # |MMR x Position x MarkPrice| = 0.005 x q x mark.
    return {"symbol": "BTCUSDT", "qty": PAPI_MM / (0.005 * mark), "entry_price": mark, "mark_price": mark, "mmr": 0.005}


def test_binance_papi_account_response_unimmr() -> None:
    """Binance "Account Information(USER_DATA)" (GET /papi/v1/account, developers.binance.com/docs/
    derivatives/portfolio-margin/account/Account-Information, English page, read 2026-12-04),
    response example: "uniMMR": "5167.92171923", "accountEquity": "122607.35137903" ("Account
    equity, in USD value"), "accountMaintMargin": "23.72469206", "accountStatus": "NORMAL".
    (The page's Chinese translation swaps accountEquity and actualEquity, which breaks
    uniMMR = accountEquity / accountMaintMargin; the English figures keep it.)

    Ours: the equity held as USDT (collateral rate 1) and the MM as one BTCUSDT leg at 0.5 %.
    Binance prints uniMMR with 8 decimals."""
    r = levguard.evaluate_account(
        {"venue": "binance-pm", "balances": {"USDT": PAPI_EQUITY}, "positions": [_binance_btc_position(47_449.38412)]}
    )
    assert r.equity == PAPI_EQUITY
    assert r.maintenance_margin == pytest.approx(PAPI_MM, rel=1e-15)
    assert r.account_ratio_name == "uniMMR"
    assert r.account_ratio is not None
    assert f"{r.account_ratio:.8f}" == PAPI_UNIMMR
    assert r.account_status == "normal"  # Binance's NORMAL: uniMMR > 150 %


def test_binance_pm_pro_span_account_response_equity_after_collateral_rate() -> None:
    """Binance "Get Portfolio Margin Pro SPAN Account Info(USER_DATA)" (GET /sapi/v2/portfolio/account,
    developers.binance.com/docs/derivatives/portfolio-margin-pro/account/
    Get-Classic-Portfolio-Margin-Account-Info-V2, read 2026-12-04), response example:
    "accountEquity": "122607.35137903" (after collateral rates), "actualEquity": "142607.35137903"
    (face value), "accountMaintMargin": "23.72469206" with "riskUnitMMList": [{"asset": "BTC",
    "uniMaintainUsd": "23.72469206"}], "marginMM": "0", "uniMMR": "5167.92171923", "NORMAL".

    The collateral rates cost 20,000 USD of equity. Ours: 8 BTC at 50,000 USD at Binance's BTC rate
    0.95 (FAQ "Binance Portfolio Margin Program Supported Collateral and Rates": 3 BTC x 0.95 =
    2.85 BTC) cost 400,000 x 5 % = 20,000, and a USDT balance of actualEquity - 400,000 (a negative
    balance: a debt, at face value) completes the face value; the MM is a BTCUSDT leg, as the
    risk-unit list says."""
    btc_face = 8 * 50_000.0
    face = 142_607.35137903
    r = levguard.evaluate_account(
        {
            "venue": "binance-pm",
            "balances": {"BTC": 8, "USDT": face - btc_face},
            "prices": {"BTC": 50_000},
            "positions": [_binance_btc_position(50_000.0)],
        }
    )
    rows = {c.asset: c for c in r.collateral or ()}
    assert rows["BTC"].haircut == pytest.approx(0.95)
    assert rows["USDT"].value == pytest.approx(face - btc_face, rel=1e-15)  # a debt counts at face value
    assert r.wallet_balance == pytest.approx(face, rel=1e-15)  # actualEquity
    assert r.equity == pytest.approx(PAPI_EQUITY, rel=1e-15)  # accountEquity
    assert r.wallet_balance - r.equity == pytest.approx(20_000.0, rel=1e-9)
    assert r.account_ratio is not None
    assert f"{r.account_ratio:.8f}" == PAPI_UNIMMR
    assert r.account_status == "normal"


# --- Bybit UTA: GET /v5/account/wallet-balance ----------------------------------------------------


def test_bybit_wallet_balance_response_margin_balance_and_mm_rate() -> None:
    """Bybit v5 "Get Wallet Balance" (GET /v5/account/wallet-balance, bybit-exchange.github.io/docs/
    v5/account/wallet-balance; the response example of the docs repository bybit-exchange/docs,
    docs/v5/account/wallet-balance.mdx, from commit de9eac3 of 2022-12-27 to da0017c of
    2023-07-27, read 2026-12-04): "totalWalletBalance": "18070.43799271", "totalPerpUPL":
    "-0.11001349", "totalMarginBalance": "18070.32797922" ("totalWalletBalance + totalPerpUPL"),
    "totalMaintenanceMargin": "0.38106773", "accountMMRate": "0" ("Account Total Maintenance
    Margin Base Coin / Account Margin Balance Base Coin", printed with 4 decimals as in the same
    example's "accountIMRate": "0.0101" = 182.60183684 / 18070.32797922).

    Ours: the wallet as USDT (ratio 1) and one BTCUSDT long whose PnL and MM (0.5 % at entry, as
    Bybit linear) are the documented totals."""
    wallet, upl, mm = 18070.43799271, -0.11001349, 0.38106773
    q, rate = 0.001, 0.005
    entry = mm / (rate * q)
    r = levguard.evaluate_account(
        {
            "venue": "bybit-uta",
            "balances": {"USDT": wallet},
            "positions": [
                {"symbol": "BTCUSDT", "qty": q, "entry_price": entry, "mark_price": entry + upl / q, "mmr": rate}
            ],
        }
    )
    assert r.positions[0].unrealized_pnl == pytest.approx(upl, rel=1e-9)
    assert r.wallet_balance == wallet
    assert f"{r.equity:.8f}" == "18070.32797922"  # totalMarginBalance
    assert r.maintenance_margin == pytest.approx(mm, rel=1e-12)
    assert r.account_ratio_name == "account_mm_rate"
    assert r.account_ratio is not None
    assert f"{r.account_ratio:.4f}" == "0.0000"  # accountMMRate "0"
    assert r.account_status == "normal"
    assert f"{182.60183684 / r.equity:.4f}" == "0.0101"  # the example's own IM rate, on our margin balance


# --- OKX multi-currency margin: GET /api/v5/account/balance ---------------------------------------


def test_okx_balance_response_usdt_discounted_equity() -> None:
    """OKX v5 "Get balance" (GET /api/v5/account/balance, okx.com/docs-v5/en/#trading-account-rest-api-
    get-balance, read 2026-12-04), response example, USDT row: "eq": "4992.890093622894",
    "eqUsd": "4991.542013297616", "disEq": "4991.542013297616" (discounted equity: eq x USD price x
    discount rate; USDT's first tier, 0-5,000,000, counts at 1 in OKX's USDT example, the built-in
    table). The USD price is the row's own, eqUsd / eq."""
    eq, eq_usd = 4992.890093622894, 4991.542013297616
    r = levguard.evaluate_account({"venue": "okx-mcm", "balances": {"USDT": eq}, "prices": {"USDT": eq_usd / eq}})
    (usdt,) = r.collateral or ()
    assert usdt.haircut == 1.0
    assert usdt.value == pytest.approx(eq_usd, rel=1e-15)  # disEq
    assert r.equity == pytest.approx(eq_usd, rel=1e-15)
