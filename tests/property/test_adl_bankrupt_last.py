"""ADL rankings put every position in profit ahead of every one at a loss, and a position at or
past its bankruptcy price last, with finite scores (so the queues accept them).

BitMEX (bitmex.com/app/autoDeleveraging) divides by ``EffLev = |MV| / (MV - BV)``: at the
bankruptcy price the score was ``inf`` (which :func:`levguard.core.rules.bitmex.adl_queue`
refused) and past it a loss over a negative leverage was a positive score, ahead of the winners.
The other venues divide by an equity :class:`~levguard.core.rules.adl.AdlPosition` holds > 0.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.rules import bitmex
from levguard.core.rules.adl import ADL_VENUES, AdlPosition, adl_queue
from levguard.core.rules.bitmex import ADL_BANKRUPT, adl_ranking

SETTINGS = settings(max_examples=200, deadline=None)


def test_bitmex_losers_at_or_past_bankruptcy_rank_after_a_winner() -> None:
    winner = adl_ranking(1, 100, 100.1, 1.0)  # +0.1 %, EffLev 100.1 / 99.1
    past = adl_ranking(1, 100, 89, 90)  # long 100 -> 89, BP 90: was +0.00124
    at_bp = adl_ranking(1, 100, 90, 90)  # mark == BP: was inf
    loser = adl_ranking(1, 100, 95, 90)  # -5 %, EffLev 19
    assert winner == pytest.approx(0.001 * 100.1 / 99.1)
    assert loser == pytest.approx(-0.05 / 19)
    assert past == at_bp == ADL_BANKRUPT == -1.7976931348623157e308
    assert adl_ranking(-1, 100, 110, 110) == adl_ranking(-1, 100, 111, 110) == ADL_BANKRUPT  # shorts too
    order, pct = bitmex.adl_queue([past, winner, at_bp, loser], [1, 1, 1, 1])  # inf was refused
    assert order == [1, 3, 0, 2]
    assert list(pct) == pytest.approx([0.8, 0.4, 1.0, 0.6])  # ceil(quarters x 5) / 5


def _bitmex_case(draw: st.DrawFn) -> tuple[float, float, float, float]:
    sign = draw(st.sampled_from([1.0, -1.0]))
    qty = draw(st.floats(1e-3, 1e4))
    entry = draw(st.floats(1.0, 1e5))
    mark = entry * draw(st.one_of(st.just(1.0), st.floats(0.5, 1.5)))
    # bankruptcy on the safe side (up to 100x), exactly at the mark, or past it
    rel = draw(st.one_of(st.floats(0.01, 0.99), st.just(1.0), st.floats(1.01, 3.0)))
    bankruptcy = mark * rel if sign > 0 else mark / rel
    return sign * qty, entry, mark, bankruptcy


bitmex_books = st.lists(st.composite(_bitmex_case)(), min_size=1, max_size=20)


@SETTINGS
@given(book=bitmex_books)
def test_bitmex_profit_before_loss_before_bankrupt(book: list[tuple[float, float, float, float]]) -> None:
    scores = [adl_ranking(*p) for p in book]
    assert all(math.isfinite(s) for s in scores)
    order, _pct = bitmex.adl_queue(scores, [abs(p[0]) for p in book])  # accepts every score
    rank = {i: k for k, i in enumerate(order)}
    bankrupt = {i for i, (q, _e, m, bp) in enumerate(book) if q * (m - bp) <= 0}
    profit = {i for i, (q, e, m, _bp) in enumerate(book) if q * (m - e) > 0} - bankrupt
    loss = {i for i, (q, e, m, _bp) in enumerate(book) if q * (m - e) < 0} - bankrupt
    assert all(scores[i] > 0 for i in profit)
    assert all(ADL_BANKRUPT < scores[i] < 0 for i in loss)
    assert all(scores[i] == ADL_BANKRUPT for i in bankrupt)
    assert all(rank[w] < rank[x] for w in profit for x in loss | bankrupt)
    assert all(rank[x] < rank[b] for x in loss for b in bankrupt)


@st.composite
def _position(draw: st.DrawFn) -> AdlPosition:
    sign = draw(st.sampled_from([1.0, -1.0]))
    qty = draw(st.floats(1e-3, 1e4))
    entry = draw(st.floats(1.0, 1e5))
    mark = entry * draw(st.one_of(st.just(1.0), st.floats(0.3, 3.0)))
    lev = draw(st.floats(1.01, 100.0))  # BitMEX's bankruptcy price mark - equity / qty stays > 0
    return AdlPosition(sign * qty, entry, mark, qty * mark / lev)


@SETTINGS
@given(
    venue=st.sampled_from(ADL_VENUES),
    book=st.lists(_position(), min_size=1, max_size=25),
    liq=st.sampled_from([1.0, -1.0]),
)
def test_every_venue_ranks_profit_before_loss(venue: str, book: list[AdlPosition], liq: float) -> None:
    q = adl_queue(venue, book, liq)
    assert all(math.isfinite(q.scores[i]) for i in q.order)
    rank = {i: k for k, i in enumerate(q.order)}
    upnl = {i: book[i].qty * (book[i].mark_price - book[i].entry_price) for i in q.order}
    profit = [i for i in q.order if upnl[i] > 0]
    loss = [i for i in q.order if upnl[i] < 0]
    assert all(q.scores[i] > 0 for i in profit)
    assert all(q.scores[i] < 0 for i in loss)
    assert all(rank[w] < rank[x] for w in profit for x in loss)
