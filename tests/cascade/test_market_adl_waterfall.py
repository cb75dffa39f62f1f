"""The loss waterfall of the market simulator (v2) with ADL on: wallet, fund, ADL, then bad debt.

Hand-built markets, most on a flat book (fills at the exogenous price).  A sliced close that
exhausts the wallet (or leaves the equity at the fills below the backstop) becomes a full close;
the routing to ADL sees it as one, so a venue with ADL counterparties books no bad debt.  On a
book that moves, the routing is repeated at the new fills until it routes nothing more, so it
sees every close at the fills the book settles it at (v2, and v1, which v2 repeats).  An account
closed by ADL is bankrupt at the fills: whatever equity it has at the ADL price (Hyperliquid's
previous mark) goes to the fund, it keeps nothing, except on a venue that pays its fee out to the
liquidators (a lending pool's: its fund takes nothing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_market_vault import assert_same, run_both

from levguard.cascade import MarginRegime, Market, Population, VenueSettings, simulate_path
from levguard.cascade.market import MarketPopulation, MarketResult, MarketSpec, MarketVenue, simulate_market
from levguard.kernels._jit import NUMBA_DISABLED

FLAT = Market(depth=1e9, impact="sqrt", impact_coef=0.0)


def _balanced(res: MarketResult) -> dict[str, float]:
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    return led


def _adl_accounts(res: MarketResult) -> list[int]:
    ev = res.events
    return sorted(ev.loc[ev["kind"] == "adl_liquidated", "account"].unique().tolist())


# --------------------------------------------------------------------------- sliced closes

# 60,000 twice, then a gap to 56,000 (the liquidation), then flat.
GAP = np.array([60_000.0, 60_000.0, 56_000.0, 56_000.0])[:, None]


def _sliced(*, adl: bool = True, backstop: float = 0.0, fund: float = 10_000.0, rule: str = "hyperliquid") -> Any:
    # L: long 10 @ 60,000 with 7,200: equity -32,800 at 56,000; its 20 % slice (2 BTC) realises
    # -8,000 and exhausts the wallet, so the slice becomes a full close.  C: a profitable short
    # (the ADL counterparty).  S: a small long far from liquidation.
    qty = np.array([[10.0], [-40.0], [0.1]])
    entry = np.array([[60_000.0], [61_000.0], [60_000.0]])
    wallet = np.array([7_200.0, 1_000_000.0, 6_000.0])
    pop = MarketPopulation(np.zeros(3, dtype=np.int64), wallet, qty, entry)
    regime = MarginRegime(
        mmr=0.01, liquidation_fee=0.0, outcome="book", partial=0.2, partial_min_notional=100_000.0, backstop=backstop
    )
    vs = VenueSettings(insurance_fund=fund, adl=adl)
    return pop, MarketSpec(["BTC"], [MarketVenue("v", FLAT, regime, None, vs, rule)])


@pytest.mark.parametrize("rule", ["hyperliquid", "bybit-linear", "binance-usdm", "bitmex"])
def test_a_slice_that_exhausts_the_wallet_goes_to_adl_not_to_bad_debt(rule: str) -> None:
    pop, spec = _sliced(rule=rule)
    res = simulate_market(pop, GAP, spec)
    assert _adl_accounts(res) == [0]
    assert res.summary["bad_debt"] == 0.0
    ev = res.events
    assert (ev.loc[ev["kind"] == "adl_victim", "account"] == 1).all()
    assert ev.loc[(ev["kind"] == "liquidation") & (ev["account"] == 0)].empty  # never in the book
    assert res.out.accounts.qty[0, 0] == 0.0
    assert res.out.accounts.kept[0] == 0.0
    # The fund pays nothing; under Hyperliquid's rule (the previous mark, where L's equity is
    # 7,200) it receives L's equity there.
    want = 17_200.0 if rule == "hyperliquid" else 10_000.0
    assert res.venues.loc[0, "fund_end"] == pytest.approx(want, abs=1e-6)
    _balanced(res)


def test_a_slice_below_the_backstop_goes_to_adl_as_well() -> None:
    # A milder gap: the slice leaves wallet (7,200 - 2 x 3,000 = 1,200 > 0), but the account's
    # equity at the fills (-22,800) is below the backstop's share of its maintenance.
    exo = np.array([60_000.0, 60_000.0, 57_000.0, 57_000.0])[:, None]
    pop, spec = _sliced(backstop=2.0 / 3.0, fund=0.0)
    res = simulate_market(pop, exo, spec)
    assert _adl_accounts(res) == [0]
    assert res.summary["bad_debt"] == 0.0
    _balanced(res)


def test_without_adl_the_slice_that_exhausts_the_wallet_is_the_funds_then_bad_debt() -> None:
    pop, spec = _sliced(adl=False)
    res = simulate_market(pop, GAP, spec)
    assert _adl_accounts(res) == []
    assert res.summary["bad_debt"] == pytest.approx(32_800.0 - 10_000.0, abs=1e-6)
    _balanced(res)


# --------------------------------------------------------------------------- ADL's settlement

# 60,000 twice, a gap to 59,300 (B is bankrupt), then flat.
HL_GAP = np.array([60_000.0, 60_000.0, 59_300.0, 59_300.0])[:, None]


def _hyperliquid(*, fee_to_fund: bool = True, fee: float = 0.0) -> Any:
    # B: long 1 @ 60,000 with 650: equity -50 at 59,300 (bankrupt, routed to ADL: the fund is 0),
    # closed at Hyperliquid's previous mark 60,000, where its equity is 650.  C: the counterparty.
    qty = np.array([[1.0], [-2.0]])
    entry = np.array([[60_000.0], [61_000.0]])
    wallet = np.array([650.0, 20_000.0])
    pop = MarketPopulation(np.zeros(2, dtype=np.int64), wallet, qty, entry)
    regime = MarginRegime(mmr=0.01, liquidation_fee=fee, outcome="book")
    vs = VenueSettings(insurance_fund=0.0, adl=True, fee_to_fund=fee_to_fund)
    return pop, MarketSpec(["BTC"], [MarketVenue("hl", FLAT, regime, None, vs, "hyperliquid")])


@pytest.mark.parametrize("fee", [0.0, 0.001])
def test_an_account_closed_by_hyperliquid_adl_keeps_nothing_and_the_fund_gets_its_equity(fee: float) -> None:
    pop, spec = _hyperliquid(fee=fee)
    res = simulate_market(pop, HL_GAP, spec)
    assert _adl_accounts(res) == [0]
    ev = res.events
    adl = ev[ev["kind"] == "adl_liquidated"]
    assert adl["price"].tolist() == [60_000.0]  # the previous mark
    assert adl["fund_delta"].tolist() == pytest.approx([650.0], abs=1e-9)
    fin = res.out.accounts
    assert (fin.wallet[0], fin.kept[0]) == (0.0, 0.0)
    assert fin.pnl[0] == pytest.approx(-650.0, abs=1e-9)
    assert res.venues.loc[0, "fund_end"] == pytest.approx(650.0, abs=1e-9)
    assert res.summary["bad_debt"] == 0.0
    led = _balanced(res)
    assert led["funds"] == pytest.approx(650.0, abs=1e-9)


def test_a_venue_paying_its_fee_out_keeps_the_book_outcome_of_adl() -> None:
    # A lending pool's booking (fee_to_fund=False): the fund takes no fee and no clearance; the
    # account keeps its equity at the ADL price less the fee, which the liquidators get.
    pop, spec = _hyperliquid(fee_to_fund=False, fee=0.001)
    res = simulate_market(pop, HL_GAP, spec)
    assert _adl_accounts(res) == [0]
    fin = res.out.accounts
    assert fin.kept[0] == pytest.approx(650.0 - 60.0, abs=1e-9)
    assert res.out.fees_paid[0, -1] == pytest.approx(60.0, abs=1e-9)
    assert res.venues.loc[0, "fund_end"] == 0.0
    assert (res.events["fund_delta"] <= 0.0).all()
    _balanced(res)


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: market_cascade_nb is market_cascade_py")
@pytest.mark.parametrize("case", ["sliced", "hyperliquid", "moving"])
def test_python_twin_equals_compiled_on_the_waterfall(case: str) -> None:
    if case == "moving":
        pop1, regime, venue = _moving()
        pop = MarketPopulation.from_population(pop1, regime=regime)
        spec = MarketSpec(["BTC"], [MarketVenue("v", MOVING, regime, None, venue, "bitmex")])
    else:
        pop, spec = _sliced() if case == "sliced" else _hyperliquid()
    exo = HL_GAP if case == "hyperliquid" else GAP
    runs = run_both(pop, exo, spec)
    assert_same(runs)
    assert runs[1][1].adl_events > 0


@pytest.mark.parametrize("rule", ["bybit-linear", "bitmex"])
def test_equity_a_book_close_lets_the_account_keep_does_not_cover_a_later_loss(rule: str) -> None:
    # A (equity 300 at 59,300) and D (550) close in the book and keep their equity (fee 0: the
    # fund gets nothing); B (-50) must go to ADL: the fund (0) cannot pay it, whatever the
    # closes before it in the round left their accounts.
    qty = np.array([[1.0], [1.0], [1.0], [-3.0]])
    entry = np.array([[60_000.0], [60_000.0], [60_000.0], [61_000.0]])
    wallet = np.array([1_000.0, 650.0, 1_250.0, 30_000.0])
    pop = MarketPopulation(np.zeros(4, dtype=np.int64), wallet, qty, entry)
    regime = MarginRegime(mmr=0.01, liquidation_fee=0.0, outcome="book")
    vs = VenueSettings(insurance_fund=0.0, adl=True)
    spec = MarketSpec(["BTC"], [MarketVenue("v", FLAT, regime, None, vs, rule)])
    res = simulate_market(pop, HL_GAP, spec)
    assert _adl_accounts(res) == [1]
    assert res.summary["bad_debt"] == 0.0
    fin = res.out.accounts
    assert fin.kept[[0, 2]].tolist() == pytest.approx([300.0, 550.0], abs=1e-9)
    _balanced(res)


# --------------------------------------------------------------------------- fills that move

# 60,000 twice, then 56,000: A and B long, liquidated at once into a book of 30,000 per bp
# (linear impact), so the round's fills move with what the routing leaves in the book.
MOVING = Market(depth=30_000.0, impact="linear", half_life_steps=math.inf)


def _moving(*, adl: bool = True) -> tuple[Population, MarginRegime, VenueSettings]:
    # A: long 10 @ 60,000 with 40,300, sliced (20 % above 100,000 of notional); B: long 1 with
    # 4,030 (full close); C: a profitable short, the ADL counterparty.  With A's slice and B in
    # the book (3 BTC) the fill is 55,984.3: A's equity there (143) is below the backstop's
    # maintenance, so the slice goes whole, and A (143) and B (14) are solvent.  A's whole
    # position in the book (11 BTC) moves the fill to 55,942.5, where both are bankrupt (-275,
    # -27): the books settle there, so the routing must see them there.
    pop = Population(
        side=np.array([1.0, 1.0, -1.0]),
        qty=np.array([10.0, 1.0, 40.0]),
        entry_price=np.array([60_000.0, 60_000.0, 61_000.0]),
        margin=np.array([40_300.0, 4_030.0, 1_000_000.0]),
        cross=np.zeros(3, dtype=bool),
    )
    regime = MarginRegime(
        mmr=0.01, liquidation_fee=0.0, outcome="book", partial=0.2, partial_min_notional=100_000.0, backstop=1.0
    )
    return pop, regime, VenueSettings(insurance_fund=0.0, adl=adl)


def _simulate_moving(rule: str, *, adl: bool = True) -> MarketResult:
    pop, regime, venue = _moving(adl=adl)
    spec = MarketSpec(["BTC"], [MarketVenue("v", MOVING, regime, None, venue, rule)])
    return simulate_market(MarketPopulation.from_population(pop, regime=regime), GAP, spec)


@pytest.mark.parametrize("rule", ["bitmex", "binance-usdm", "bybit-linear"])
def test_the_routing_sees_the_fills_the_books_settle_at(rule: str) -> None:
    # Routed at the fills with A's slice in the book and settled at the fills with A whole in
    # it, A and B drew 302.10 the fund did not have (bad debt with ADL on, none with it off).
    # Routed again at the fills the books settle at, both go to ADL at their bankruptcy price.
    res = _simulate_moving(rule)
    assert _adl_accounts(res) == [0, 1]
    ev = res.events
    assert ev.loc[ev["kind"] == "liquidation"].empty
    adl = ev[ev["kind"] == "adl_liquidated"]
    assert adl["price"].tolist() == [55_970.0, 55_970.0]  # 60,000 - 40,300 / 10 and - 4,030 / 1
    assert res.summary["bad_debt"] == 0.0
    assert res.venues.loc[0, "fund_end"] == 0.0
    _balanced(res)


def test_without_adl_the_moving_fills_book_no_bad_debt_either() -> None:
    # ADL off: the fill is netted once, with A's slice (55,984.3), where A (taken over below the
    # backstop) and B leave the fund their equity.
    res = _simulate_moving("bitmex", adl=False)
    assert _adl_accounts(res) == []
    assert res.summary["bad_debt"] == 0.0
    assert res.venues.loc[0, "fund_end"] == pytest.approx(157.5441449463833, rel=1e-12)
    _balanced(res)


def test_v1_routes_at_the_fills_it_settles_at_as_v2_does() -> None:
    pop, regime, venue = _moving()
    v1 = simulate_path(pop, GAP[:, 0], market=MOVING, regime=regime, venue=venue)
    assert v1.summary["bad_debt"] == 0.0
    ev = v1.events
    assert sorted(ev.loc[ev["kind"] == "adl_liquidated", "account"].tolist()) == [0, 1]
    v2 = _simulate_moving("bitmex")
    cols = ["step", "account", "qty", "price", "bankruptcy_price", "fund_delta", "kind", "counterparty"]
    pd.testing.assert_frame_equal(v1.events[cols], v2.events[cols], check_exact=True)
