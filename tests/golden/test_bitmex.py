"""Golden tests: BitMEX cross liquidation/bankruptcy and the ADL queue.

Sources: bitmex.com/app/isolatedMarginExamples (cross: LP 510, BP 500);
testnet.bitmex.com/app/autoDeleveragingExamples (six-account queue and a size-20 deleverage at 650);
bitmex.com/app/autoDeleveraging (ranking formula).
"""

from __future__ import annotations

import pytest
from golden_helpers import one

import levguard
from levguard.core.rules.bitmex import adl_allocate, adl_queue, adl_ranking


def test_cross_example() -> None:
    """Wallet 10,000 USDT, buy 20 ETHUSDT @ 1,000 at 50x: IM 400, MM 200, LP 510, BP 500."""
    p = one(
        "bitmex", wallet=10_000, symbol="ETHUSDT", qty=20, entry_price=1_000, mark_price=1_000, leverage=50, mmr=0.01
    )
    assert p.initial_margin == pytest.approx(400)
    assert p.maintenance_margin == pytest.approx(200)
    assert p.liquidation_price == pytest.approx(510)
    assert p.bankruptcy_price == pytest.approx(500)


def test_adl_queue_example() -> None:
    """Accounts 1-6 (sizes 10/10/20/30/20/10, rankings 3/6/1/4/5/2): queue 2,5,4,1,6,3 at 20/40/60/80/80/100 %."""
    sizes = [10, 10, 20, 30, 20, 10]
    ranking = [3, 6, 1, 4, 5, 2]
    order, pct = adl_queue(ranking, sizes)
    assert [i + 1 for i in order] == [2, 5, 4, 1, 6, 3]
    assert list(pct) == pytest.approx([0.8, 0.2, 1.0, 0.6, 0.4, 0.8])
    # A short of 20 liquidated at bankruptcy price 650: account 2 closed fully, account 5 for 10 of 20.
    assert [(i + 1, q) for i, q in adl_allocate(order, sizes, 20)] == [(2, 10), (5, 10)]


def test_adl_ranking_formula() -> None:
    """PnL% x EffLev in profit, PnL% / EffLev in loss; shorts use negative values."""
    # Long 1 @ 100, mark 110, bankrupt 90: EffLev = 110 / 20 = 5.5, PnL% = 10 %.
    assert adl_ranking(1, 100, 110, 90) == pytest.approx(0.1 * 5.5)
    # Short 1 @ 100, mark 90, bankrupt 110: EffLev = 90 / 20 = 4.5, PnL% = 10 %.
    assert adl_ranking(-1, 100, 90, 110) == pytest.approx(0.1 * 4.5)
    # A losing long ranks below any winner: PnL% / EffLev.
    assert adl_ranking(1, 100, 95, 90) == pytest.approx(-0.05 / (95 / 5))


def test_legacy_isolated_example() -> None:
    """Legacy isolated: 100 XBT of XBTUSD @ 100 USD (10,000 one-dollar contracts), 4 XBT margin -> LP 97.

    The page does not state the MM %; with 1 % (the MM of the cross example) the inverse
    equation gives 97.09, which the page prints as 97.
    """
    p = one(
        "bitmex",
        mode="isolated",
        symbol="XBTUSD",
        contract_kind="inverse",
        settlement="XBT",
        qty=10_000,
        entry_price=100,
        mark_price=100,
        isolated_margin=4,
        mmr=0.01,
    )
    assert round(p.liquidation_price) == 97
    assert p.maintenance_margin == pytest.approx(1.0)  # 1 % of the 100 XBT entry value


# Risk limits (bitmex.com/app/riskLimitsExamples, XBTUSD): each step raises the maintenance margin
# of the whole position by the base rate, "< 200 XBT 0.50 %, < 350 XBT 1.00 %, < 500 XBT 1.50 %,
# < 650 XBT 2.00 %".  A position worth 180 XBT needs 0.50 % (0.90 XBT); grown to 230 XBT it is
# one step above the base limit and needs 1.00 % of the whole, 2.30 XBT (no deduction).  The
# linear stand-in below values the position in the settlement unit at a price of 1.
RISK_LIMITS = [
    {"notional_cap": 200, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 200, "notional_cap": 350, "mmr": 0.010, "max_leverage": 66.66},
    {"notional_floor": 350, "notional_cap": 500, "mmr": 0.015, "max_leverage": 50},
    {"notional_floor": 500, "notional_cap": 650, "mmr": 0.020, "max_leverage": 40},
]


@pytest.mark.parametrize(("value", "mm"), [(180, 0.90), (230, 2.30), (199.99, 199.99 * 0.005), (200, 2.00)])
def test_risk_limit_steps_apply_to_the_whole_position(value: float, mm: float) -> None:
    p = one("bitmex", wallet=1_000, symbol="XBTUSDT", qty=value, entry_price=1, mark_price=1, tiers=RISK_LIMITS)
    assert p.maintenance_margin == pytest.approx(mm, rel=1e-12)


def test_risk_limit_rows_with_a_deduction_are_refused() -> None:
    rows = [RISK_LIMITS[0], {**RISK_LIMITS[1], "maint_amount": 1.0}]
    with pytest.raises(levguard.InputError, match=r"tiers\[1\]\.maint_amount must be 0: .*whole position"):
        one("bitmex", wallet=1_000, symbol="XBTUSDT", qty=230, entry_price=1, mark_price=1, tiers=rows)
    with pytest.raises(levguard.InputError, match=r"maint_amount is not used on bitmex"):
        one("bitmex", wallet=1_000, symbol="XBTUSDT", qty=1, entry_price=1, mark_price=1, mmr=0.005, maint_amount=1)


def test_xbtusd_is_inverse_without_saying_so() -> None:
    """XBTUSD is BitMEX's inverse perpetual (bitmex.com/app/inversePerpetualsGuide: 1 USD a contract,
    margin and PnL in XBT).  Given without ``contract_kind`` it was read as a linear USDT contract:
    10,000 contracts @ 50,000 at 50x had a notional of 500,000,000 "USDT" and an LP of 49,250."""
    args = {
        "mode": "isolated",
        "qty": 10_000,
        "entry_price": 50_000,
        "mark_price": 50_000,
        "leverage": 50,
        "mmr": 0.005,
    }
    said = one("bitmex", symbol="XBTUSD", contract_kind="inverse", settlement="XBT", **args)
    p = one("bitmex", symbol="XBTUSD", **args)
    assert p == said
    assert p.contract_kind == "inverse"
    assert p.notional == pytest.approx(0.2)
    assert p.liquidation_price == pytest.approx(50_000 * 50 / (50 + 1 - 0.005 * 50), rel=1e-12)
    assert one("bitmex", symbol="XBTUSDT", **args).contract_kind == "linear"


def test_a_quanto_symbol_needs_its_kind() -> None:
    with pytest.raises(levguard.InputError, match=r"positions\[0\]\.symbol 'ETHUSD' on bitmex is a quanto contract"):
        one("bitmex", symbol="ETHUSD", qty=1, entry_price=3_000, mark_price=3_000, leverage=10, mmr=0.01)
    assert one("bitmex", symbol="ETHUSD", contract_kind="linear", qty=1, entry_price=3_000, mark_price=3_000,
               leverage=10, mmr=0.01).contract_kind == "linear"  # fmt: skip


@pytest.mark.parametrize(
    ("symbol", "settlement"),
    [("XBTUSD", "XBT"), ("XBTZ24", "XBT"), ("BTC/USD:BTC", "BTC"), ("BTC/USD:BTC-241227", "BTC")],
)
def test_inverse_symbols_native_and_ccxt_settle_in_their_coin(symbol: str, settlement: str) -> None:
    """XBT futures settled in "USDT" and ccxt's name of XBTUSD was refused as a quanto (a review)."""
    p = one("bitmex", mode="isolated", symbol=symbol, qty=10_000, entry_price=50_000, mark_price=50_000,
            leverage=50, mmr=0.005)  # fmt: skip
    assert p.contract_kind == "inverse"
    assert p.liquidation_price == pytest.approx(49_261.08, abs=0.005)
    account = levguard.evaluate_account(
        {"venue": "bitmex", "margin_mode": "cross", "wallet_balance": 1.0,
         "positions": [{"symbol": symbol, "qty": 10_000, "entry_price": 50_000, "mark_price": 50_000, "mmr": 0.005}]}
    )  # fmt: skip
    assert account.settlement == settlement
    assert one("bitmex", symbol="BTC/USDT:USDT", qty=1, entry_price=50_000, mark_price=50_000, leverage=50,
               mmr=0.005).contract_kind == "linear"  # fmt: skip
    with pytest.raises(levguard.InputError, match="quanto"):
        one("bitmex", symbol="ETH/USD:BTC", qty=1, entry_price=3_000, mark_price=3_000, leverage=10, mmr=0.01)


def test_one_account_may_name_bitcoin_xbt_or_btc() -> None:
    """XBTUSD settles in XBT and ccxt's BTC/USD:BTC-250328 in BTC: one coin, one account (it was
    refused, "positions settle in BTC, XBT"; a review)."""
    rows = [
        {"symbol": "XBTUSD", "qty": 10_000, "entry_price": 50_000, "mark_price": 50_000, "mmr": 0.005},
        {"symbol": "BTC/USD:BTC-250328", "qty": 5_000, "entry_price": 51_000, "mark_price": 51_000, "mmr": 0.005},
    ]
    report = levguard.evaluate_account(
        {"venue": "bitmex", "margin_mode": "cross", "wallet_balance": 1.0, "positions": rows}
    )
    assert [p.contract_kind for p in report.positions] == ["inverse", "inverse"]
    assert report.settlement == "XBT"
