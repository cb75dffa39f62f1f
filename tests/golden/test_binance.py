"""Golden tests: Binance USDⓈ-M and COIN-M worked examples.

Sources: Binance "Leverage and Margin" FAQ (USDⓈ-M b3c689c1f50a44cabb3a84e663b81d93, COIN-M
ceccfcfb4e3a45e3b48b0b1bb1a8ae46), its cross "calc example" as asserted by freqtrade
``tests/exchange/test_exchange.py::test_liquidation_price_binance`` @ 0008a872 and
``test_get_liquidation_price`` (rows with maintenance ratio and amount mocked to 0.01, 0.01).
"""

from __future__ import annotations

import pytest
from golden_helpers import evaluate, one

from levguard import TierTable
from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.core.tiers import continuity_amounts
from levguard.errors import InputError
from levguard.margin import evaluate_account

WB = 1535443.01
BTC = {
    "symbol": "BTCUSDT",
    "qty": 109.488,
    "entry_price": 32481.98,
    "mark_price": 31967.27,
    "mmr": 0.025,
    "maint_amount": 16300,
}
ETH = {
    "symbol": "ETHUSDT",
    "qty": 3683.979,
    "entry_price": 1456.84,
    "mark_price": 1335.18,
    "mmr": 0.10,
    "maint_amount": 135365,
}


def test_faq_cross_example_reproduces_published_liquidation_prices() -> None:
    """Binance FAQ cross example: LP(BTCUSDT) = 26,316.89 and LP(ETHUSDT) = 1,153.26."""
    report = evaluate(venue="binance-usdm", margin_mode="cross", wallet_balance=WB, positions=[BTC, ETH])
    btc, eth = report.positions
    assert round(btc.liquidation_price, 2) == 26316.89
    assert round(eth.liquidation_price, 2) == 1153.26
    # The FAQ's table: MM and uPnL at mark.
    assert btc.maintenance_margin == pytest.approx(71200.81144, abs=1e-4)
    assert eth.maintenance_margin == pytest.approx(356512.508, abs=1e-3)
    assert btc.unrealized_pnl == pytest.approx(-56354.57, abs=5e-3)
    assert eth.unrealized_pnl == pytest.approx(-448192.885, abs=5e-3)


@pytest.mark.parametrize(
    ("position", "expected"),
    [(ETH, 1114.78), (BTC, 18778.73)],
    ids=["eth", "btc"],
)
def test_faq_positions_in_isolated_mode_with_the_whole_wallet(position: dict, expected: float) -> None:
    """freqtrade test_liquidation_price_binance, isolated rows: WB = 1,535,443.01 as isolated wallet."""
    p = one("binance-usdm", mode="isolated", isolated_margin=WB, **position)
    assert round(p.liquidation_price, 2) == expected


# freqtrade test_get_liquidation_price, binance rows: (is_short, leverage, open_rate, amount, expected).
FT_ROWS = [
    (True, 5.0, 10.0, 1.0, 11.89108910891089),
    (True, 3.0, 10.0, 1.0, 13.211221122079207),
    (True, 5.0, 8.0, 1.0, 9.514851485148514),
    (True, 5.0, 10.0, 0.6, 11.897689768976898),
    (False, 5, 10, 1.0, 8.070707070707071),
    (False, 5, 8, 1.0, 6.454545454545454),
    (False, 3, 10, 1.0, 6.723905723905723),
    (False, 5, 10, 0.6, 8.063973063973064),
]


@pytest.mark.parametrize(("is_short", "leverage", "open_rate", "amount", "expected"), FT_ROWS)
def test_freqtrade_isolated_rows(
    is_short: bool, leverage: float, open_rate: float, amount: float, expected: float
) -> None:
    """Isolated margin = amount x open_rate / leverage; MMR 0.01 and cum 0.01 as freqtrade mocks them."""
    p = one(
        "binance-usdm",
        mode="isolated",
        symbol="ETH/USDT:USDT",
        qty=-amount if is_short else amount,
        entry_price=open_rate,
        mark_price=open_rate,
        leverage=leverage,
        mmr=0.01,
        maint_amount=0.01,
    )
    assert p.liquidation_price == pytest.approx(expected, rel=1e-9)


def test_cum_continuity_faq_examples() -> None:
    """FAQ: 250,000 x (1% - 0.5%) + 50 = 1,300 USDT; COIN-M: 50 x (5% - 2.5%) + 0.56 = 1.81 BTC."""
    amounts = continuity_amounts([0, 50_000, 250_000], [0.004, 0.005, 0.01])
    assert amounts == pytest.approx([0, 50, 1300])
    table = TierTable.from_rows(
        [
            {"notional_floor": 0, "notional_cap": 50_000, "mmr": 0.004, "max_leverage": 125},
            {"notional_floor": 50_000, "notional_cap": 250_000, "mmr": 0.005, "max_leverage": 100},
            {"notional_floor": 250_000, "notional_cap": 1_000_000, "mmr": 0.01, "max_leverage": 50},
        ]
    )
    # FAQ lookups on the 2021 table: 264,000 USDT is in the 1% bracket; 500,000 has cum 1,300.
    assert table.tier(264_000).mmr == 0.01
    assert table.tier(500_000).maint_amount == pytest.approx(1300)
    coinm = continuity_amounts([0, 5, 50], [0.004, 0.025, 0.05])
    assert coinm[2] - coinm[1] == pytest.approx(50 * (0.05 - 0.025))
    assert pytest.approx(1.81) == 50 * (0.05 - 0.025) + 0.56


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_builtin_brackets_satisfy_the_continuity_rule_and_match_the_snapshot(symbol: str) -> None:
    """The packaged 2024-10-24 brackets: 12 brackets, cum continuous, first 125x at 0.4 %."""
    table = BUILTIN_TIERS[symbol]
    assert len(table) == 12
    assert table.tiers[0].max_leverage == 125
    assert table.tiers[0].mmr == 0.004
    assert table.tiers[-1].mmr == 0.5
    assert table.tiers[-1].max_leverage == 1
    floors = [t.notional_floor for t in table.tiers]
    assert [t.maint_amount for t in table.tiers] == pytest.approx(continuity_amounts(floors, list(table.mmrs)))
    assert "2024-10-24" in table.source


def test_bracket_caps_are_inclusive_for_the_leverage_limit() -> None:
    """Binance "Leverage and Margin" (USDⓈ-M): BTCUSDT's first bracket is "0 - 50,000" at 125x, so a
    125x position of exactly 50,000 USDT is allowed, one of 50,005 is not (bracket 2: 100x)."""
    spec = {"venue": "binance-usdm", "margin_mode": "isolated", "wallet_balance": 1_000.0}
    pos = {"symbol": "BTCUSDT", "entry_price": 50_000.0, "mark_price": 50_000.0, "leverage": 125}
    report = evaluate_account({**spec, "positions": [{**pos, "qty": 1.0}]})
    assert report.positions[0].liquidation_price is not None
    with pytest.raises(InputError, match="exceeds the maximum 100"):
        evaluate_account({**spec, "positions": [{**pos, "qty": 1.0001}]})
    table = BUILTIN_TIERS["BTCUSDT"]
    assert table.max_leverage(50_000.0) == 125
    assert table.max_leverage(50_000.01) == 100
    assert table.max_leverage(0.0) == 125
    assert table.index(50_000.0) == 1  # maintenance: floor inclusive (continuous at the cap either way)
    assert table.maintenance_margin(50_000.0) == pytest.approx(50_000.0 * 0.004)


def test_bracket_reselection_uses_the_bracket_of_the_notional_at_the_liquidation_price() -> None:
    """A 20x isolated long of 10.2 BTC at 60,000 (612k, bracket 3) liquidates at a notional in bracket 2.

    COIN-M FAQ: if the notional at the liquidation price falls in another bracket, recompute with that
    bracket.  The result must equal the closed form with bracket 2 (0.5 %, cum 50), not bracket 3.
    """
    qty, ep, lev = 10.2, 60_000.0, 20.0
    p = one("binance-usdm", mode="isolated", symbol="BTCUSDT", qty=qty, entry_price=ep, mark_price=ep, leverage=lev)
    margin = qty * ep / lev
    lp2 = (margin + 50 - qty * ep) / (qty * 0.005 - qty)
    lp3 = (margin + 950 - qty * ep) / (qty * 0.0065 - qty)
    assert qty * lp2 < 600_000 <= qty * ep  # bracket 2 at the LP, bracket 3 at entry
    assert p.liquidation_price == pytest.approx(lp2, rel=1e-12)
    assert p.liquidation_price != pytest.approx(lp3, rel=1e-6)


def test_coinm_inverse_liquidation_price_matches_the_transcribed_formula() -> None:
    """COIN-M one-way: LP = (Q*MMR + s*Q) / ((WB + cum)/CM + s*Q/EP), Q in contracts, CM = 100 USD (BTCUSD).

    Multiplying through by CM gives the form below with q = Q x CM in USD.
    """
    contracts, ep, wb, mmr, cum = 10.0, 40_000.0, 0.05, 0.01, 0.0
    p = one(
        "binance-coinm",
        wallet=wb,
        symbol="BTCUSD_PERP",
        qty=contracts,
        entry_price=ep,
        mark_price=ep,
        mmr=mmr,
        maint_amount=cum,
    )
    q = contracts * 100.0
    expected = (q * mmr + q) / (wb + cum + q / ep)
    assert p.liquidation_price == pytest.approx(expected, rel=1e-12)
    assert p.notional == pytest.approx(q / ep)  # coin notional: 0.025 BTC


def test_liquidation_price_at_or_below_zero_is_reported_as_none() -> None:
    """A 1x long with extra margin can never be liquidated: LP <= 0 is None (null in JSON)."""
    p = one(
        "binance-usdm",
        mode="isolated",
        symbol="BTCUSDT",
        qty=1,
        entry_price=50_000,
        mark_price=50_000,
        isolated_margin=60_000,
    )
    assert p.liquidation_price is None
    assert p.to_dict()["liquidation_price"] is None
    assert p.health is None


def test_common_wrong_formulas_disagree_with_the_faq() -> None:
    """Reference section 9: snippets that use EP(1 - 1/L + MMR/L), drop cum or TMM1/UPNL1, or flip
    the sign of cum all miss the FAQ's 26,316.89; levguard's formula does not."""
    q, ep, mmr, cum = 109.488, 32481.98, 0.025, 16300.0
    tmm1, upnl1 = 356512.508, -448192.885
    right = (WB - tmm1 + upnl1 + cum - q * ep) / (q * mmr - q)
    assert round(right, 2) == 26316.89
    wrong = {
        "leverage form": ep * (1 - 1 / 20 + mmr / 20),
        "no cum": (WB - tmm1 + upnl1 - q * ep) / (q * mmr - q),
        "no TMM1/UPNL1": (WB + cum - q * ep) / (q * mmr - q),
        "cum sign flipped": (WB - tmm1 + upnl1 - cum - q * ep) / (q * mmr - q),
    }
    for name, value in wrong.items():
        assert abs(value - 26316.89) > 1.0, name
    report = evaluate(venue="binance-usdm", margin_mode="cross", wallet_balance=WB, positions=[BTC, ETH])
    assert report.positions[0].liquidation_price == pytest.approx(right, rel=1e-9)  # table inputs are rounded
