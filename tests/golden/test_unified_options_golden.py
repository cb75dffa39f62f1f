"""Golden cases of Bybit USDC options in a Unified Trading Account (``bybit-uta``; issue 18).

Sources (read 2026-12-04 from stored copies):

- Bybit help "Initial and Maintenance Margin Calculation (Options)" (bybit.com help-center article
  000001546, dated 2023-12-04, copy at bybit.nl): "Long Options Positions: ... Maintenance Margin
  is not required"; "Account MM% = Account MM / Margin Balance x 100%"; "Position MM = [Max (MM
  Factor x Index Price, MM Factor x Option Mark Price) + Option Mark Price + Liquidation Fee Rate
  x Index Price] x ABS (Position Size)".  Example 1: a trader sells 1 BTC BTC-31JUN22-31000-C,
  index 30,000, mark 300: "Position MM = [Max (3% x 30,000, 3% x 300) + 300 + 0.2% x 30,000] x
  ABS (-1) = 1,260 USDC"; with a margin balance of 10,000 "the account MM% is 12.6%".  The stored
  copy is cut at "IM Calculation: Account IM is a combination of Account Order ...": no IM
  figure below is read from the page (the short IM is an input, passed through).
- Bybit help "Key Terms and Formulas in Unified Trading Account" (2025-09-02; copies at
  fourbit.net 2025-09-05 and bybit.nl 2024-08-30): "Total Equity = Wallet Balance + Perp & Futures
  Unrealized P&L + Options Value"; Margin Balance, Cross Margin: "Wallet Balance + Perp & Future
  Unrealized P&L"; Account MM Rate, Cross Margin: "Total Maintenance Margin / (Margin Balance -
  Haircut Loss + Order Loss)" (no open orders here: both 0).
- Bybit help "Trading Rules: Liquidation Process (Unified Trading Account)" (2024-10-23):
  "Liquidation is triggered when MMR reaches 100%".

Bybit's example symbol "BTC-31JUN22-31000-C" names a day June does not have; the account cases
below write it BTC-30JUN22-31000-C (the date does not enter the MM).
"""

from __future__ import annotations

from typing import Any

import pytest

import levguard
from levguard.core.unified_options import BTC_MM_FACTOR, LIQUIDATION_FEE_RATE, option_totals, short_option_mm

Spec = dict[str, Any]

EXAMPLE_1: Spec = {
    "symbol": "BTC-30JUN22-31000-C",
    "qty": -1,
    "entry_price": 300,
    "mark_price": 300,
    "index_price": 30000,
    "initial_margin": 4800,  # an input (Bybit's IM section is not in the stored copy)
}


def example_account(**over: Any) -> Spec:
    spec: Spec = {
        "venue": "bybit-uta",
        "balances": {"USDC": 10000},
        "collateral_ratios": {"USDC": 1.0},
        "positions": [dict(EXAMPLE_1)],
    }
    spec.update(over)
    return spec


def test_example_1_position_mm() -> None:
    """[Max(3% x 30,000, 3% x 300) + 300 + 0.2% x 30,000] x ABS(-1) = 1,260 USDC."""
    assert short_option_mm(-1.0, 30000.0, 300.0, 0.03, 0.002) == pytest.approx(1260.0, rel=1e-15)
    assert (BTC_MM_FACTOR, LIQUIDATION_FEE_RATE) == (0.03, 0.002)  # the example's rates are the BTC defaults


def test_example_1_account_mm_rate() -> None:
    """Only this position, margin balance 10,000: account MM% = 1,260 / 10,000 = 12.6 %."""
    r = levguard.evaluate_account(example_account())
    assert r.positions[0].maintenance_margin == pytest.approx(1260.0, rel=1e-15)
    assert r.maintenance_margin == pytest.approx(1260.0, rel=1e-15)
    assert r.equity == pytest.approx(10000.0, rel=1e-15)
    assert r.account_ratio == pytest.approx(0.126, rel=1e-15)
    assert r.account_ratio_name == "account_mm_rate"
    assert not r.liquidatable
    assert r.initial_margin == 4800.0  # passed through


def test_long_options_need_no_mm() -> None:
    """ "Maintenance Margin is not required when a trader buys a Call Option or a Put Option"."""
    assert short_option_mm(1.0, 30000.0, 300.0, 0.03, 0.002) == 0.0
    long_call = {**EXAMPLE_1, "qty": 1, "initial_margin": None}
    del long_call["initial_margin"]
    r = levguard.evaluate_account(example_account(positions=[long_call]))
    assert r.maintenance_margin == 0.0
    assert r.account_ratio == 0.0


def test_glossary_total_equity_and_margin_balance() -> None:
    """Total Equity = Wallet Balance + Perp & Futures UPL + Options Value = 10,000 + 0 - 300; the
    cross-margin Margin Balance = Wallet Balance + Perp & Future UPL = 10,000 (no options value)."""
    r = levguard.evaluate_account(example_account())
    t = option_totals(r)
    assert t.options_value == pytest.approx(-300.0, rel=1e-15)
    assert t.total_equity == pytest.approx(9700.0, rel=1e-15)
    assert r.equity == pytest.approx(10000.0, rel=1e-15)


def test_liquidation_at_an_mm_rate_of_100_percent() -> None:
    """Margin balance 1,260 against the example's 1,260 MM: MMR = 100 %, liquidation."""
    r = levguard.evaluate_account(example_account(balances={"USDC": 1260}))
    assert r.account_ratio == pytest.approx(1.0, rel=1e-15)
    assert r.liquidatable
    assert r.account_status == "liquidation"
    assert not levguard.evaluate_account(example_account(balances={"USDC": 1261})).liquidatable
