"""Bad debt the path ended before booking: accounts still open and underwater at the last mark.

A liquidation order in the venue's latency queue, or a gap on the path's last step, leaves an
account open with negative equity; ``bad_debt`` books only what closed, so it read 0 for a
market whose accounts were 10,000 USDT under water.  ``pending_bad_debt`` (both simulators'
summaries, the market's venue table, both Monte Carlos) is that deficit, and extending the path
until the queued orders fill books it as bad debt to the cent, less what the fund takes in from
the other accounts those orders close with equity left (a deeper search found the case: a long
with 300 of equity left, liquidated in the same queue, paid 300 of a 4,000 deficit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from levguard.cascade import MarginRegime, Market, Population, VenueSettings
from levguard.cascade.market import MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.simulator import simulate_path

DEEP = 1e13  # no price impact: a close fills at the mark


def _v1(pop: Population, path: np.ndarray, latency: int) -> dict[str, Any]:
    venue = VenueSettings(insurance_fund=0.0, adl=False, latency_steps=latency)
    res = simulate_path(pop, path, market=Market(depth=DEEP), regime=MarginRegime(mmr=0.005), venue=venue)
    accounts = res.accounts
    return {
        **res.summary,
        "equity_end": accounts["equity_end"].to_numpy(),
        "open": (accounts["status"] == "ok").to_numpy(),
    }


def _surplus(end: dict[str, Any], later: dict[str, Any]) -> float:
    # Equity left at the end of the short path in the accounts the longer one closes: the most the
    # fund can take in from them and spend on the pending deficits before any is bad debt.
    closed = end["open"] & ~later["open"]
    return float(np.maximum(end["equity_end"][closed], 0.0).sum())


def _v2(pop: MarketPopulation, path: np.ndarray, latency: int) -> tuple[dict[str, Any], Any]:
    venue = MarketVenue(
        "binance",
        [Market(depth=DEEP)],
        MarginRegime(mmr=0.005),
        settings=VenueSettings(insurance_fund=0.0, adl=False, latency_steps=latency),
    )
    res = simulate_market(pop, path[:, None], MarketSpec(["BTC"], [venue]))
    accounts = res.accounts
    out = {
        **res.summary,
        "fund_end": float(res.venues["fund_end"].sum()),
        "equity_end": accounts["equity_end"].to_numpy(),
        "open": (accounts["status"] == "ok").to_numpy(),
    }
    return out, res


def _gap_path(n: int, last: float) -> np.ndarray:
    path = np.full(n + 1, 100_000.0)
    path[-1] = last
    return path


def test_an_order_in_the_latency_queue_at_the_end_is_pending_bad_debt() -> None:
    """A 10x long gapped 20 % down on the last step: with no latency it is liquidated and its
    10,000 deficit is bad debt; with 3 steps of latency the path ends first, and the deficit
    is pending, not 0."""
    pop = Population(side=[1.0], qty=[1.0], entry_price=[100_000.0], margin=[10_000.0], cross=[False])
    now, late = _v1(pop, _gap_path(10, 80_000.0), 0), _v1(pop, _gap_path(10, 80_000.0), 3)
    assert now["bad_debt"] == pytest.approx(10_000.0)
    assert now["pending_bad_debt"] == 0.0
    assert late["bad_debt"] == 0.0
    assert late["pending_bad_debt"] == pytest.approx(10_000.0)
    np.testing.assert_allclose(late["equity_end"], [-10_000.0])
    market = MarketPopulation([0], [10_000.0], [[1.0]], [[100_000.0]])
    summary, res = _v2(market, _gap_path(10, 80_000.0), 3)
    assert summary["bad_debt"] == 0.0
    assert summary["pending_bad_debt"] == pytest.approx(10_000.0)
    assert res.venues["pending_bad_debt"].tolist() == [pytest.approx(10_000.0)]
    np.testing.assert_allclose(res.accounts["equity_end"], [-10_000.0])
    assert res.accounts["status"].tolist() == ["ok"]
    assert _v2(market, _gap_path(10, 80_000.0), 0)[0]["pending_bad_debt"] == 0.0


accounts = st.lists(
    st.tuples(
        st.sampled_from([1.0, -1.0]),
        st.floats(0.1, 5.0),
        st.floats(80_000.0, 120_000.0),
        st.floats(2.0, 50.0),  # leverage
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(accounts, st.floats(0.6, 1.4), st.integers(0, 4))
@example([(1.0, 1.0, 80_000.0, 5.0), (1.0, 1.0, 119_400.0, 2.0)], 0.6, 1)  # the surplus case above
@example([(1.0, 1.0, 80_000.0, 17.0), (-1.0, 1.0, 90_477.0, 9.5)], 0.75, 1)  # a fund left at the end
def test_pending_bad_debt_is_what_a_longer_path_books(
    rows: list[tuple[float, float, float, float]], last: float, latency: int
) -> None:
    """Money: the deficit pending at the end of a path is the bad debt booked once the path goes
    on flat until the queued orders fill (deep book, no ADL), in both simulators, less what the
    insurance fund pays: the fund it held at the end plus the equity left in the accounts those
    orders close (it goes to the fund), less the fund left after."""
    side, qty, entry, lev = (np.array(c) for c in zip(*rows, strict=True))
    margin = qty * entry / lev
    short, longer = (
        _gap_path(6, 100_000.0 * last),
        np.concatenate([_gap_path(6, 100_000.0 * last)] + [[100_000.0 * last]] * (latency + 1)),
    )
    scale = float(margin.sum() + qty @ entry)
    pop = Population(side=side, qty=qty, entry_price=entry, margin=margin, cross=np.zeros(len(rows), dtype=bool))
    market = MarketPopulation(np.zeros(len(rows), dtype=np.int64), margin, (side * qty)[:, None], entry[:, None])
    for a, b in (
        (_v1(pop, short, latency), _v1(pop, longer, latency)),
        (_v2(market, short, latency)[0], _v2(market, longer, latency)[0]),
    ):
        assert a["pending_bad_debt"] >= 0.0
        assert b["pending_bad_debt"] == pytest.approx(0.0, abs=1e-9 * scale)
        # The fund pays the pending deficits first: from what it held at the end and from the
        # equity left in the accounts the longer path closes; the rest is booked as bad debt.
        paid = a["fund_end"] + _surplus(a, b) - b["fund_end"]
        assert b["bad_debt"] == pytest.approx(a["bad_debt"] + a["pending_bad_debt"] - paid, abs=1e-7 * scale)
