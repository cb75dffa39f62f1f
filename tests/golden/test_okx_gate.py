"""Golden tests: OKX and Gate isolated linear liquidation with the taker-fee term.

Source: freqtrade ``tests/exchange/test_exchange.py::test_get_liquidation_price`` @ 0008a872
(gate/okx rows; MMR 0.01, taker fee 0.0006 from the test's market fixture), implementing the
Gate support formula LP = (EP -/+ Margin/Size) / [1 -/+ (MMR + Taker)].
"""

from __future__ import annotations

import pytest
from golden_helpers import one

import levguard
from fakes.tiers import TWO_TIER_ROWS
from levguard.core.rules import get_venue
from levguard.core.tiers import TierTable

ROWS = [
    # (is_short, exchange, leverage, open_rate, amount, expected)
    (True, "gate", 5, 10, 1.0, 11.87413417771621),
    (True, "gate", 5, 10, 2.0, 11.87413417771621),
    (True, "gate", 3, 10, 1.0, 13.193482419684678),
    (True, "gate", 5, 8, 1.0, 9.499307342172967),
    (True, "okx", 3, 10, 1.0, 13.193482419684678),
    (False, "gate", 5.0, 10.0, 1.0, 8.085708510208207),
    (False, "gate", 3.0, 10.0, 1.0, 6.738090425173506),
    (False, "okx", 3.0, 10.0, 1.0, 6.738090425173506),
]


@pytest.mark.parametrize(("is_short", "venue", "leverage", "open_rate", "amount", "expected"), ROWS)
def test_freqtrade_rows(
    is_short: bool, venue: str, leverage: float, open_rate: float, amount: float, expected: float
) -> None:
    """Isolated margin = amount x open_rate / leverage (freqtrade's stake); MMR 0.01; taker 0.0006.

    The margin is given as such: a Gate position given by its leverage posts the close fee as
    well (:func:`test_gate_initial_margin_includes_the_close_fee`)."""
    p = one(
        venue,
        mode="isolated",
        symbol="ETH/USDT:USDT",
        qty=-amount if is_short else amount,
        entry_price=open_rate,
        mark_price=open_rate,
        isolated_margin=amount * open_rate / leverage,
        mmr=0.01,
        taker_fee_rate=0.0006,
    )
    assert p.liquidation_price == pytest.approx(expected, rel=1e-9)


def test_gate_initial_margin_includes_the_close_fee() -> None:
    """gate.com help 22148: "Initial Position Margin = (Position Value / Leverage) + Close Position
    Fee"; 100 USDT of position at 50x with 0.075 %: 100/50 + 100 x 0.075 % = 2.075 USDT.  A position
    given by its leverage posts that margin, so its LP is Gate's formula on it (OKX's is not)."""
    p = one("gate", mode="isolated", symbol="BTC_USDT", qty=0.002, entry_price=50_000, mark_price=50_000,
            leverage=50, mmr=0.005)  # fmt: skip
    assert p.initial_margin == pytest.approx(2.075, rel=1e-12)
    assert p.margin_balance == pytest.approx(2.075, rel=1e-12)
    assert p.leverage == 50
    for qty, lp in ((1.0, (50_000 - 1_037.5) / (1 - 0.00575)), (-1.0, (50_000 + 1_037.5) / (1 + 0.00575))):
        q = one("gate", mode="isolated", symbol="BTC_USDT", qty=qty, entry_price=50_000, mark_price=50_000,
                leverage=50, mmr=0.005)  # fmt: skip
        assert q.liquidation_price == pytest.approx(lp, rel=1e-12)
    o = one("okx", mode="isolated", symbol="BTC-USDT-SWAP", qty=0.002, entry_price=50_000, mark_price=50_000,
            leverage=50, mmr=0.005)  # fmt: skip
    assert o.initial_margin == pytest.approx(2.0, rel=1e-12)


def test_maintenance_margin_includes_the_fee_term() -> None:
    """OKX ratio denominator: notional x (MMR + fee)."""
    p = one(
        "okx",
        mode="isolated",
        symbol="BTC-USDT-SWAP",
        qty=2,
        entry_price=50_000,
        mark_price=40_000,
        leverage=10,
        mmr=0.004,
        taker_fee_rate=0.0005,
    )
    assert p.maintenance_margin == pytest.approx(2 * 40_000 * (0.004 + 0.0005))


def test_gate_inverse_formula() -> None:
    """Gate inverse: LP = Size*EP*(1 + MMR + Taker) / (Size + Margin*EP) for a long."""
    size, ep, margin, mmr, taker = 1_000.0, 20_000.0, 0.01, 0.005, 0.00075
    p = one(
        "gate",
        mode="isolated",
        symbol="BTC_USD",
        contract_kind="inverse",
        settlement="BTC",
        qty=size,
        entry_price=ep,
        mark_price=ep,
        isolated_margin=margin,
        mmr=mmr,
        taker_fee_rate=taker,
    )
    assert p.liquidation_price == pytest.approx(size * ep * (1 + mmr + taker) / (size + margin * ep), rel=1e-12)
    s = one(
        "gate",
        mode="isolated",
        symbol="BTC_USD",
        contract_kind="inverse",
        settlement="BTC",
        qty=-size,
        entry_price=ep,
        mark_price=ep,
        isolated_margin=margin,
        mmr=mmr,
        taker_fee_rate=taker,
    )
    assert s.liquidation_price == pytest.approx(size * ep * (1 - mmr - taker) / (size - margin * ep), rel=1e-12)


# OKX's margin ratio divides by "face value x |contracts| x mark x (tier MMR + fee rate)": the tier's
# rate on the whole position, and position tiers carry no deduction (reference: OKX margin ratio;
# GET /api/v5/public/position-tiers has no deduction field).
OKX_TIERS = [
    {"notional_cap": 10_000_000, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 10_000_000, "notional_cap": 11_000_000, "mmr": 0.01, "max_leverage": 50},
]


def test_okx_tier_rate_applies_to_the_whole_position() -> None:
    """21,000 BTC-USDT-SWAP contracts of 0.01 BTC @ 50,000 = 10.5M in tier 2: MM = 10.5M x (1 % + 0.05 %)."""
    p = one(
        "okx", wallet=1_000_000, symbol="BTC-USDT-SWAP", qty=21_000, contract_size=0.01,
        entry_price=50_000, mark_price=50_000, tiers=OKX_TIERS,
    )  # fmt: skip
    assert p.maintenance_margin == pytest.approx(10_500_000 * 0.0105, rel=1e-12)
    # A table built elsewhere (ccxt, a tiers file) gets amounts by continuity; OKX drops them.
    table = levguard.TierTable.from_rows(OKX_TIERS)
    assert table.maintenance_margin(10_500_000) == pytest.approx(10_500_000 * 0.01 - 50_000)
    spec = {
        "venue": "okx", "wallet_balance": 1_000_000, "tiers": {"BTC-USDT-SWAP": table},
        "positions": [{"symbol": "BTC-USDT-SWAP", "qty": 21_000, "contract_size": 0.01, "entry_price": 50_000,
                       "mark_price": 50_000}],
    }  # fmt: skip
    p2 = levguard.evaluate_account(spec).positions[0]
    assert p2.maintenance_margin == pytest.approx(p.maintenance_margin, rel=1e-12)
    # Rows that state a deduction are refused on OKX, by name.
    with pytest.raises(levguard.InputError, match=r"positions\[0\]\.tiers\[1\]\.maint_amount must be 0"):
        one(
            "okx", wallet=1_000_000, symbol="BTC-USDT-SWAP", qty=21_000, contract_size=0.01,
            entry_price=50_000, mark_price=50_000, tiers=table.to_rows(),
        )  # fmt: skip


def test_okx_short_is_liquidated_at_the_step_where_the_higher_rate_starts() -> None:
    """Short 1 @ 190, isolated margin 11.5, tiers 0.5 % below 200 and 1 % from 200, fee 0.05 %:
    the tier-1 line alone would cross at 201.5 / 1.0055 = 200.40, but from 200 the MM of the
    whole position is 200 x 1.05 % = 2.10 against a balance of 11.5 - 10 = 1.5, so the position is
    liquidated at 200, where its value reaches the step.  The step is the cap of tier 1, which OKX
    includes in it ("Tier 1: 0-5,000" contracts): at exactly 200 the rate is still 0.5 %, and any
    price above takes the position (the liquidation price is the step, approached from above)."""
    tiers = [
        {"notional_cap": 200, "mmr": 0.005, "max_leverage": 100},
        {"notional_floor": 200, "mmr": 0.01, "max_leverage": 50},
    ]
    p = one(
        "okx", mode="isolated", symbol="XUSDT", qty=-1, entry_price=190, mark_price=190, isolated_margin=11.5,
        tiers=tiers,
    )  # fmt: skip
    assert p.liquidation_price == pytest.approx(200.0, rel=1e-12)
    below = one(
        "okx", mode="isolated", symbol="XUSDT", qty=-1, entry_price=190, mark_price=199.999, isolated_margin=11.5,
        tiers=tiers,
    )  # fmt: skip
    at = one(
        "okx", mode="isolated", symbol="XUSDT", qty=-1, entry_price=190, mark_price=200, isolated_margin=11.5,
        tiers=tiers,
    )  # fmt: skip
    above = one(
        "okx", mode="isolated", symbol="XUSDT", qty=-1, entry_price=190, mark_price=200.001, isolated_margin=11.5,
        tiers=tiers,
    )  # fmt: skip
    assert below.margin_balance > below.maintenance_margin
    assert (at.tier, at.maintenance_margin, at.liquidatable) == (1, pytest.approx(1.1, rel=1e-12), False)
    assert above.margin_balance < above.maintenance_margin
    assert above.liquidatable
    # The same account on Gate (a deduction keeps the MM continuous) crosses inside the line.
    gate = one(
        "gate", mode="isolated", symbol="XUSDT", qty=-1, entry_price=190, mark_price=190, isolated_margin=11.5,
        tiers=tiers, taker_fee_rate=0.0005,
    )  # fmt: skip
    assert gate.liquidation_price > 200.0


def test_okx_step_lp_everywhere_the_tables_go() -> None:
    """The vectorized path and a paper venue drop the amounts as the engine does (the vectorized
    path gave the tier-1 line's 200.40 and a paper venue's account spec was refused), and an LP
    on a step is never a hair short of it (P = floor/|q| can round to a notional below the floor,
    where the position is safe): 200 different sizes re-evaluate as liquidatable at their LP."""
    from levguard.margin import isolated_liquidation_prices
    from levguard.venues.paper import PaperVenue

    tiers = [
        {"notional_cap": 200, "mmr": 0.005, "max_leverage": 100},
        {"notional_floor": 200, "mmr": 0.01, "max_leverage": 50},
    ]
    for given in (tiers, levguard.TierTable.from_rows(tiers)):
        lp = isolated_liquidation_prices([-1.0], [190.0], [11.5], given, "okx", mark_price=[190.0])
        assert lp[0] == pytest.approx(200.0, rel=1e-12)
    venue = PaperVenue(
        "okx", feeds={"XUSDT": [190.0] * 3}, wallet_balance=1_000, positions=[{"symbol": "XUSDT", "qty": -1, "entry": 190}],
        tiers={"XUSDT": tiers},
    )  # fmt: skip
    spec = venue.account_spec()
    assert all(row["maint_amount"] == 0.0 for row in spec["tiers"]["XUSDT"])
    assert (
        levguard.evaluate_account(spec).positions[0].maintenance_margin
        == venue.evaluate().positions[0].maintenance_margin
    )
    for qty in [k / 10 for k in range(1, 201)]:
        pos = {"symbol": "XUSDT", "qty": -qty, "entry_price": 190 / qty, "mark_price": 190 / qty,
               "margin_mode": "isolated", "isolated_margin": 11.5, "tiers": tiers}  # fmt: skip
        lp = levguard.evaluate_account({"venue": "okx", "positions": [pos]}).positions[0].liquidation_price
        at = levguard.evaluate_account({"venue": "okx", "positions": [{**pos, "mark_price": lp}]}).positions[0]
        assert at.liquidatable, (qty, lp)


TWO_TIERS = TWO_TIER_ROWS


@pytest.mark.parametrize(
    ("contracts", "tier", "mm"), [(999.9, 1, 5_499.45), (1_000, 1, 5_500.0), (1_000.1, 2, 10_501.05)]
)
def test_okx_tier_includes_its_cap(contracts: float, tier: int, mm: float) -> None:
    """OKX lists its tiers as "Tier 1: 0-5,000" and "Tier 2: 5,001-7,500" contracts (position-tier
    adjustment notices): a position exactly at a cap is in the lower tier.  1,000 contracts of 0.01
    BTC at 100,000 (1,000,000, the cap) pay 0.5 % + the 0.05 % fee = 5,500 and are not liquidated at
    entry with 10,000 of margin; levguard put them in tier 2 (MM 10,500, liquidatable at entry)."""
    p = one(
        "okx", mode="isolated", symbol="BTC-USDT-SWAP", qty=contracts, contract_size=0.01, entry_price=100_000,
        mark_price=100_000, isolated_margin=10_000, tiers=TWO_TIERS,
    )  # fmt: skip
    assert p.tier == tier
    assert p.maintenance_margin == pytest.approx(mm, rel=1e-12)
    assert p.liquidatable is (tier == 2)


def test_bitmex_risk_limit_excludes_its_cap() -> None:
    """BitMEX's risk limits read "< 200 XBT 0.50 %, < 350 XBT 1.00 %" (bitmex.com/app/riskLimitsExamples):
    a position exactly at a limit pays the next rate on the whole position."""
    p = one(
        "bitmex", mode="isolated", symbol="XBTUSDT", qty=10, entry_price=100_000, mark_price=100_000,
        isolated_margin=20_000, tiers=TWO_TIERS,
    )  # fmt: skip
    assert (p.tier, p.maintenance_margin) == (2, pytest.approx(10_000.0, rel=1e-12))


def test_cap_inclusive_tables_read_a_cap_in_the_lower_tier_and_keep_the_venues_numbers() -> None:
    table = TierTable.from_rows(TWO_TIERS).without_deduction(cap_inclusive=True)
    assert table.tiers[0].notional_cap == 1_000_000.0  # the venue's number, as given
    assert [table.index(x) for x in (999_999.99, 1_000_000.0, 1_000_000.01)] == [0, 0, 1]
    exclusive = TierTable.from_rows(TWO_TIERS).without_deduction()
    assert [exclusive.index(x) for x in (999_999.99, 1_000_000.0, 1_000_000.01)] == [0, 1, 1]
    assert table.without_deduction(cap_inclusive=True) is table
    assert exclusive.without_deduction(cap_inclusive=True).cap_inclusive


# Coin-margined (inverse) contracts on OKX and Gate: the name says the kind (a review read
# BTC-USD-SWAP's 10 contracts of 100 USD as 1,000 BTC in USDT).  OKX: "Crypto-Margined Perpetual
# Swaps ... contract size of 100USD" (okx.com/help/7053456733325); Gate's BTC_USD: 1 USD a
# contract (GET /futures/btc/contracts quanto_multiplier "0", ccxt gate.parse_contract_market).
# LP from Gate's inverse formula, Size in USD: Size*EP*(1 + MMR + Taker) / (Size + Margin*EP).
@pytest.mark.parametrize(
    ("venue", "symbol", "contracts", "size", "taker"),
    [
        ("okx", "BTC-USD-SWAP", 10, 100.0, 0.0005),
        ("okx", "BTC/USD:BTC", 10, 100.0, 0.0005),
        ("okx", "ETH-USD-SWAP", 100, 10.0, 0.0005),
        ("gate", "BTC_USD", 1_000, 1.0, 0.00075),
        ("gate", "BTC/USD:BTC", 1_000, 1.0, 0.00075),
    ],
)
def test_inverse_contracts_are_read_from_their_names(
    venue: str, symbol: str, contracts: float, size: float, taker: float
) -> None:
    ep, margin, mmr = 60_000.0, 0.002, 0.005
    for side in (1, -1):
        p = one(
            venue,
            mode="isolated",
            symbol=symbol,
            qty=side * contracts,
            entry_price=ep,
            mark_price=ep,
            isolated_margin=margin,
            mmr=mmr,
        )
        usd = contracts * size  # 1,000 USD of face value
        assert p.contract_kind == "inverse"
        assert p.notional == pytest.approx(usd / ep)
        expected = usd * ep * (1 + side * (mmr + taker)) / (usd + side * margin * ep)
        assert p.liquidation_price == pytest.approx(expected, rel=1e-12)


def test_a_ccxt_okx_coin_margined_position_settles_in_btc() -> None:
    pos = {"symbol": "BTC/USD:BTC", "contracts": 10, "side": "long", "entryPrice": 60_000, "markPrice": 60_000,
           "contractSize": 100, "marginMode": "isolated", "positionMargin": 0.002, "maintenanceMarginPercentage": 0.005}  # fmt: skip
    r = levguard.evaluate_account({"venue": "okx", "positions": [pos]})
    assert r.settlement == "BTC"
    assert r.positions[0].notional == pytest.approx(1_000 / 60_000)  # was 60,000,000 USDT
    assert not r.liquidatable


def test_okx_linear_and_inverse_names_keep_their_defaults() -> None:
    okx = get_venue("okx")
    assert okx.kind_for("BTC-USDT-SWAP").value == "linear"
    assert okx.contract_size("BTC-USDT-SWAP") == 1.0  # linear: qty in coins unless contract_size is given
    assert okx.contract_size("BTC-USD-SWAP") == 100.0
    assert okx.contract_size("LTC-USD-SWAP") == 10.0
    assert okx.min_order_notional("BTC-USDT-SWAP", 60_000) == pytest.approx(60.0)
    assert okx.min_order_notional("BTC-USD-SWAP", 60_000) == 0.0  # not 0.001 BTC: no source for inverse
