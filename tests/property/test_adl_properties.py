"""Hypothesis properties of the ADL queue and allocation (``levguard.core.rules.adl``), every venue.

* the queue ranks only the side opposite the liquidated position, highest score first, ties in
  input order, and the same input always gives the same queue;
* the allocation conserves quantity: the closed quantities add up to the deleveraged quantity or
  to the whole queue, whichever is smaller; each close is at most that position's size, only the
  last one is partial, and they follow the queue;
* the ranking is scale invariant: multiplying sizes and equities (or prices and equities) by a
  power of two leaves every score, and so the order, bit for bit the same (any other factor: to
  1e-12 relative);
* Bybit's ranking equals BitMEX's wherever the bankruptcy price is positive; the indicators run
  from 5 lights at the front to fewer behind.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levguard.core.rules import bitmex
from levguard.core.rules.adl import (
    ADL_VENUES,
    AdlPosition,
    adl_allocate,
    adl_queue,
    bybit_adl_check,
    bybit_adl_ranking,
    deleverage,
)

SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def position(draw: st.DrawFn) -> AdlPosition:
    """A position with leverage in [1.01, 100] (so BitMEX's bankruptcy price is positive)."""
    sign = draw(st.sampled_from([1.0, -1.0]))
    qty = draw(st.floats(1e-3, 1e4))
    entry = draw(st.floats(1.0, 1e5))
    mark = entry * draw(st.floats(0.5, 1.5))
    lev = draw(st.floats(1.01, 100.0))
    return AdlPosition(sign * qty, entry, mark, qty * mark / lev)


books = st.lists(position(), min_size=1, max_size=25)
venues = st.sampled_from(ADL_VENUES)
liquidated = st.sampled_from([1.0, -1.0])


@SETTINGS
@given(venue=venues, book=books, liq=liquidated)
def test_queue_ranks_only_the_opposite_side(venue: str, book: list[AdlPosition], liq: float) -> None:
    q = adl_queue(venue, book, liq)
    opposite = {i for i, p in enumerate(book) if p.qty * liq < 0}
    assert set(q.order) == opposite
    assert len(q.order) == len(opposite)
    for i, s in enumerate(q.scores):
        assert math.isnan(s) == (i not in opposite)
    if q.indicator is not None:
        assert all((light == 0) == (i not in opposite) for i, light in enumerate(q.indicator))
        assert all(1 <= q.indicator[i] <= 5 for i in opposite)


@SETTINGS
@given(venue=venues, book=books, liq=liquidated)
def test_queue_is_sorted_with_ties_in_input_order(venue: str, book: list[AdlPosition], liq: float) -> None:
    q = adl_queue(venue, book, liq)
    for a, b in itertools.pairwise(q.order):
        assert q.scores[a] > q.scores[b] or (q.scores[a] == q.scores[b] and a < b)
    again = adl_queue(venue, book, liq)
    assert (again.order, again.indicator) == (q.order, q.indicator)
    assert again.scores == pytest.approx(q.scores, rel=0, abs=0, nan_ok=True)


@SETTINGS
@given(venue=venues, book=books, liq=liquidated, copies=st.integers(2, 4))
def test_duplicated_positions_queue_in_input_order(
    venue: str, book: list[AdlPosition], liq: float, copies: int
) -> None:
    doubled = [p for p in book for _ in range(copies)]
    q = adl_queue(venue, doubled, liq)
    # copies of one position are adjacent in the queue, in input order
    for k in range(0, len(q.order), copies):
        block = q.order[k : k + copies]
        assert list(block) == list(range(block[0], block[0] + copies))


@SETTINGS
@given(venue=venues, book=books, liq=liquidated, frac=st.floats(0.0, 1.5))
def test_allocation_conserves_quantity(venue: str, book: list[AdlPosition], liq: float, frac: float) -> None:
    q = adl_queue(venue, book, liq)
    sizes = [abs(p.qty) for p in book]
    total = sum(sizes[i] for i in q.order)
    qty = frac * total
    fills = adl_allocate(q.order, sizes, qty)
    closed = [c for _, c in fills]
    assert math.fsum(closed) == pytest.approx(min(qty, total), rel=1e-9, abs=1e-12)
    assert [i for i, _ in fills] == list(q.order[: len(fills)])
    assert all(0 < c <= sizes[i] for i, c in fills)
    assert all(c == sizes[i] for i, c in fills[:-1])  # only the last close is partial
    # the same through deleverage: signed like each counterparty, all at one price
    out = deleverage(venue, book, liq * qty if qty > 0 else liq, bankruptcy_price=100.0, previous_mark_price=100.0)
    if qty > 0:
        assert [(f.index, abs(f.qty)) for f in out] == fills
        assert all(f.qty * book[f.index].qty > 0 and f.price == 100.0 for f in out)


@SETTINGS
@given(
    venue=venues,
    book=books,
    liq=liquidated,
    size_exp=st.integers(-8, 8),
    price_exp=st.integers(-8, 8),
    k=st.floats(0.01, 100.0),
)
def test_ranking_is_scale_invariant(
    venue: str, book: list[AdlPosition], liq: float, size_exp: int, price_exp: int, k: float
) -> None:
    base = adl_queue(venue, book, liq)
    s, c = 2.0**size_exp, 2.0**price_exp  # exact in binary floating point
    sized = [AdlPosition(p.qty * s, p.entry_price, p.mark_price, p.equity * s) for p in book]
    priced = [AdlPosition(p.qty, p.entry_price * c, p.mark_price * c, p.equity * c) for p in book]
    for scaled in (sized, priced):
        q = adl_queue(venue, scaled, liq)
        assert q.order == base.order
        assert q.scores == pytest.approx(base.scores, rel=0, abs=0, nan_ok=True)
    any_k = adl_queue(venue, [AdlPosition(p.qty * k, p.entry_price, p.mark_price, p.equity * k) for p in book], liq)
    assert any_k.scores == pytest.approx(base.scores, rel=1e-12, nan_ok=True)


@SETTINGS
@given(p=position())
def test_bybit_equals_bitmex_where_bankruptcy_is_positive(p: AdlPosition) -> None:
    bankruptcy = p.mark_price - p.equity / p.qty
    assume(bankruptcy > 0)
    got = bybit_adl_ranking(p.qty, p.entry_price, p.mark_price, p.equity)
    # The two compute PnL% from different terms (equity vs the bankruptcy price derived from it), so
    # near zero PnL they differ by rounding: allow a few ulps of the effective leverage.
    lev = abs(p.qty * p.mark_price) / p.equity
    want = bitmex.adl_ranking(p.qty, p.entry_price, p.mark_price, bankruptcy)
    assert got == pytest.approx(want, rel=1e-9, abs=64 * 2.0**-52 * max(lev, 1.0 / lev))


@SETTINGS
@given(venue=st.sampled_from(["bitmex", "binance-usdm"]), book=books, liq=liquidated)
def test_indicator_falls_along_the_queue(venue: str, book: list[AdlPosition], liq: float) -> None:
    q = adl_queue(venue, book, liq)
    assume(q.order)
    assert q.indicator is not None
    lights = [q.indicator[i] for i in q.order]
    assert all(a >= b for a, b in itertools.pairwise(lights))
    if venue == "binance-usdm":  # count quantile: the front is rank n / n, the back rank 1 / n
        assert (lights[0], lights[-1]) == (5, math.ceil(5 / len(lights)))
    else:  # BitMEX: the back of the queue is the 100 % percentile
        assert lights[-1] == 1


@SETTINGS
@given(
    r1=st.floats(-1.0, 0.0),
    r2=st.floats(-1.0, 0.0),
    balance=st.floats(2.0, 1e9),
    max_balance=st.floats(1.0, 1e9),
)
def test_bybit_drawdown_socialises_more_the_deeper_it_falls(
    r1: float, r2: float, balance: float, max_balance: float
) -> None:
    lo, hi = min(r1, r2), max(r1, r2)
    deep = bybit_adl_check(balance, lo, max_balance, trigger_threshold=1.0)
    shallow = bybit_adl_check(balance, hi, max_balance, trigger_threshold=1.0)
    assert deep.socialised >= shallow.socialised >= 0.0
    assert deep.triggered >= shallow.triggered
    assert deep.triggered == (lo <= -0.3)
