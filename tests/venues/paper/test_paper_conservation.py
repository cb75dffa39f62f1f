"""Money in the paper venue's cross accounts: fills, ADL and funding move the equity by the fee and
the funding paid, nothing else, while the account is solvent; the insurance fund pays only an
account whose equity goes below 0, and only up to 0 (PaperVenue, Notes).

A realised loss or a funding payment larger than the cross wallet used to be clamped at a wallet of
0, which created money in a solvent account: wallet 1,000, BTC long at -5,000, ETH short at
+10,000 (equity 6,000); closing BTC left a wallet of 0 and an equity of 10,000.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.kernels.margin import position_upnl
from levguard.venues.base import OrderRequest
from levguard.venues.paper import PaperVenue

SETTINGS = settings(max_examples=120, deadline=None)
PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}


def equity(venue: PaperVenue) -> float:
    """The cross account's equity at the true marks: wallet + every position's uPnL."""
    marks = venue.marks()
    return venue.wallet_balance + math.fsum(
        position_upnl(p.qty, p.entry, marks[p.symbol], False) for p in venue._positions.values()
    )


def _book(wallet: float, positions: list[dict[str, Any]], **kwargs: Any) -> PaperVenue:
    feeds = {"BTCUSDT": [55_000.0] * 3, "ETHUSDT": [2_500.0] * 3}
    return PaperVenue("binance-usdm", feeds=feeds, wallet_balance=wallet, positions=positions, **kwargs)


def test_a_loss_beyond_the_wallet_comes_out_of_the_other_positions_pnl() -> None:
    """The reviewer's case: closing BTC (-5,000, no fee) in a 1,000 wallet with ETH at +10,000
    leaves the equity at 6,000 (it became 10,000: the wallet was clamped at 0); an ADL alike."""
    positions = [
        {"symbol": "BTCUSDT", "qty": 1.0, "entry": 60_000.0},
        {"symbol": "ETHUSDT", "qty": -10.0, "entry": 3_500.0},
    ]
    for close in ("order", "adl"):
        venue = _book(1_000.0, positions, funding_rate=0.0, taker_fee=0.0, slippage_bps=0.0)
        assert equity(venue) == pytest.approx(6_000.0)
        if close == "order":
            asyncio.run(venue.create_order(OrderRequest("BTCUSDT", "sell", 1.0, "c1")))
            assert venue.fills[-1].realised_pnl == pytest.approx(-5_000.0)
        else:
            venue.adl("BTCUSDT", 1.0)
        assert venue.wallet_balance == pytest.approx(6_000.0)  # ETH's +10,000 realised at 2,500
        assert equity(venue) == pytest.approx(6_000.0)
        assert [(p.symbol, p.qty, p.entry) for p in venue._positions.values()] == [("ETHUSDT", -10.0, 2_500.0)]


def test_an_insolvent_accounts_deficit_is_paid_by_the_fund_up_to_zero() -> None:
    """Equity -1,000 after the close (wallet 1,000, BTC at -5,000, ETH at +3,000): the fund brings
    the wallet to 0 and the remaining position's PnL (realised) is 0: the equity is 0."""
    positions = [
        {"symbol": "BTCUSDT", "qty": 1.0, "entry": 60_000.0},
        {"symbol": "ETHUSDT", "qty": -10.0, "entry": 2_800.0},
    ]
    venue = _book(1_000.0, positions, funding_rate=0.0, taker_fee=0.0, slippage_bps=0.0)
    asyncio.run(venue.create_order(OrderRequest("BTCUSDT", "sell", 1.0, "c1")))
    assert venue.wallet_balance == 0.0
    assert equity(venue) == pytest.approx(0.0)


def test_an_isolated_close_past_bankruptcy_costs_its_margin_not_the_cross_wallet() -> None:
    """ETH 10 long isolated on 3,000 of margin, auto-deleveraged at 2,000 (-10,000): the margin is
    lost, the cross wallet untouched (it paid the other 7,000)."""
    positions = [
        {"symbol": "ETHUSDT", "qty": 10.0, "entry": 3_000.0, "margin_mode": "isolated", "isolated_margin": 3_000.0}
    ]
    venue = _book(10_000.0, positions, funding_rate=0.0)
    venue.adl("ETHUSDT", 10.0, price=2_000.0)
    assert venue.wallet_balance == 10_000.0


def test_a_funding_print_is_settled_at_once() -> None:
    """One print's payments are simultaneous: an ETH short paying 30 and a BTC long receiving 30 in
    an account with an empty wallet net to nothing (paid one after the other, the fund covered the
    first payment and the account kept the second: 30 created)."""
    positions = [
        {"symbol": "BTCUSDT", "qty": 0.5, "entry": 55_000.0},
        {"symbol": "ETHUSDT", "qty": -10.0, "entry": 2_500.0},
    ]
    venue = _book(0.0, positions, funding_rate={"BTCUSDT": -0.001, "ETHUSDT": -0.0012}, taker_fee=0.0)
    payments = venue._settle_funding(0, venue.funding_interval_ns)
    assert [(p.symbol, p.amount) for p in payments] == [
        ("BTCUSDT", pytest.approx(27.5)),
        ("ETHUSDT", pytest.approx(-27.5)),  # what moved: 30 owed, 2.5 of it bad debt (the fund's)
    ]
    assert venue.wallet_balance == 0.0
    venue = _book(0.0, positions, funding_rate={"BTCUSDT": -0.0012, "ETHUSDT": -0.0012}, taker_fee=0.0)
    venue._settle_funding(0, venue.funding_interval_ns)
    assert venue.wallet_balance == pytest.approx(3.0)  # 33 received, 30 paid


@st.composite
def cross_books(draw: st.DrawFn) -> tuple[PaperVenue, list[tuple[Any, ...]]]:
    """A Binance cross account of one to three positions (entries within -/+ 30 % of the marks, notionals
    of 3,000 to 900,000), a taker fee, funding rates, and a script of operations: fills and ADLs of a
    share of a position, funding prints, moves of the marks."""
    symbols = draw(st.lists(st.sampled_from(sorted(PRICES)), min_size=1, max_size=3, unique=True))
    positions = []
    for sym in symbols:
        notional = draw(st.floats(3_000.0, 900_000.0))
        side = draw(st.sampled_from([-1.0, 1.0]))
        entry = PRICES[sym] * math.exp(draw(st.floats(-0.3, 0.3)))
        positions.append({"symbol": sym, "qty": side * notional / PRICES[sym], "entry": entry})
    # Marks: the price at tick 0, then a path of moves of up to -/+ 20 % a tick.
    feeds = {}
    for sym, price in PRICES.items():
        moves = draw(st.lists(st.floats(-0.2, 0.2), min_size=6, max_size=6))
        feeds[sym] = [price * math.exp(sum(moves[:k])) for k in range(7)]
    venue = PaperVenue(
        "binance-usdm",
        feeds=feeds,
        wallet_balance=draw(st.floats(0.0, 60_000.0)),
        positions=positions,
        taker_fee=draw(st.sampled_from([0.0, 0.0005, 0.002])),
        slippage_bps=0.0,
        funding_rate={s: draw(st.floats(-0.01, 0.01)) for s in PRICES},
        tiers={"SOLUSDT": [{"cap": 1e12, "mmr": 0.01, "max_leverage": 50}]},  # no built-in table
    )
    op = st.one_of(
        st.tuples(st.just("fill"), st.sampled_from(symbols), st.floats(0.05, 1.0)),
        st.tuples(st.just("adl"), st.sampled_from(symbols), st.floats(0.05, 1.0)),
        st.tuples(st.just("funding")),
        st.tuples(st.just("move")),
    )
    return venue, draw(st.lists(op, min_size=1, max_size=8))


@SETTINGS
@given(cross_books())
def test_cross_fills_adl_and_funding_conserve_money(book: tuple[PaperVenue, list[tuple[Any, ...]]]) -> None:
    venue, script = book
    for i, op in enumerate(script):
        if op[0] == "move":
            venue.tick = min(venue.tick + 1, 6)  # the marks move; no liquidation runs
            continue
        before = equity(venue)
        scale = max(1.0, abs(before), venue.wallet_balance) * 1e-9
        if op[0] == "funding":
            payments = venue._settle_funding(0, venue.funding_interval_ns)  # one print at the marks
            marks = venue.marks()
            owed = math.fsum(-p.qty * marks[p.symbol] * p.rate for p in payments)
            cost = -owed
            paid = math.fsum(p.amount for p in payments)
        else:
            _, sym, share = op
            pos = venue._positions.get(sym)
            if pos is None:
                continue
            qty = abs(pos.qty) * share
            if op[0] == "fill":
                side = "sell" if pos.qty > 0 else "buy"
                asyncio.run(venue.create_order(OrderRequest(sym, side, qty, f"c{i}")))  # type: ignore[arg-type]
                cost = venue.fills[-1].fee
            else:
                venue.adl(sym, qty)
                cost = 0.0
        after = equity(venue)
        assert venue.wallet_balance >= 0.0
        if before - cost >= scale:  # solvent: the equity moves by the cost, nothing more
            assert after == pytest.approx(before - cost, rel=1e-9, abs=scale)
        else:  # the fund pays the deficit up to an equity of 0, no further
            assert before - cost - scale <= after <= scale
        if op[0] == "funding" and before >= 0.0:  # the records add up to what the account paid
            assert paid == pytest.approx(after - before, rel=1e-9, abs=scale)
