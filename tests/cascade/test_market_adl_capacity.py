"""The routing to ADL of both simulators (v1 ``simulate_path``, v2 ``simulate_market``) respects
what the opposite side can absorb.

A review (2026-12-07) found the routing checking only that a counterparty exists
(``has_counterparty``), not how much it holds: two longs bankrupt in one round, and a short
that can absorb only the first, sent both to ADL; the second found nobody, went to the book a
round later, and its deficit had counted as absorbed when the round's fund was weighed, so a
deficit ADL could have taken (a bankrupt short's, with a long to take it) was left to the fund.
Now each routed close takes the opposite side's capacity left; the part it cannot absorb stays
with the fund (closed in the book in the same round) and the next largest deficit is routed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levguard.cascade import MarginRegime, Market, Population, VenueSettings, simulate_path
from levguard.cascade.market import MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.kernels import cascade as kc
from levguard.kernels._jit import NUMBA_DISABLED
from levguard.kernels.cascade_v2 import market_cascade_py

Account = tuple[float, float, float, float]  # (side, qty, entry, wallet)

# mmr 5 %, no fee, no impact, every account at 100 from step 0.  Deficits at 100 (E = wallet +
# side qty (100 - entry)) and bankruptcy prices BP = entry - side wallet / qty:
L1 = (1.0, 10.0, 120.0, 100.0)  # E -100, BP 110
L2 = (1.0, 10.0, 110.0, 60.0)  # E -40, BP 104
S = (-1.0, 10.0, 100.0, 1e6)  # a short that holds 10: it absorbs L1 only
X = (-1.0, 10.0, 90.0, 70.0)  # a bankrupt short: E -30, BP 97
H = (1.0, 10.0, 100.0, 1e6)  # X's counterparty
FLAT = np.array([100.0, 100.0, 100.0])
BOOK = Market(depth=1e15)


def _v1(accts: list[Account], path: np.ndarray, fund: float, market: Market = BOOK) -> Any:
    pop = Population(
        np.array([a[0] for a in accts]),
        np.array([a[1] for a in accts]),
        np.array([a[2] for a in accts]),
        np.array([a[3] for a in accts]),
        np.zeros(len(accts), dtype=bool),
    )
    return simulate_path(
        pop,
        path,
        market=market,
        regime=MarginRegime(mmr=0.05, liquidation_fee=0.0),
        venue=VenueSettings(insurance_fund=fund, adl=True),
    )


def _v2(accts: list[Account], path: np.ndarray, fund: float, market: Market = BOOK) -> Any:
    venue = MarketVenue(
        "v",
        [market],
        MarginRegime(mmr=0.05, liquidation_fee=0.0),
        settings=VenueSettings(insurance_fund=fund, adl=True),
        adl_rule="bitmex",
    )
    pop = MarketPopulation(
        [0] * len(accts), [a[3] for a in accts], [[a[0] * a[1]] for a in accts], [[a[2]] for a in accts]
    )
    return simulate_market(pop, path[:, None], MarketSpec(["X"], [venue]))


def _totals(res: Any) -> dict[str, float]:
    s = dict(res.summary)
    if "fund_end" not in s:  # v2: the venue's table
        s["fund_end"] = res.venues["fund_end"].iloc[0]
    return {k: float(s[k]) for k in ("bad_debt", "adl_notional", "fund_end", "liquidated_notional")}


def _pairs(res: Any) -> list[tuple[int, int]]:
    # (victim, bankrupt) of every ADL fill.
    ev = res.events
    v = ev[ev["kind"] == "adl_victim"]
    return list(zip(v["account"].astype(int), v["counterparty"].astype(int), strict=True))


# fund F: the round's deficits are 100 (L1), 40 (L2) and 30 (X), 170 in all.  L1 is routed and
# takes S whole; nothing is left for L2, so X (which H can take) is routed, and the fund pays L2's
# 40.  F 50: fund 10, no bad debt.  F 30: the net is still -10 after X, nothing else fits: bad
# debt 10.  Either way the fund paid + ADL absorbed (100 + 30) + bad debt = 170.  (The routing
# that checked only that S exists routed L1 and L2 and stopped; L2 found nobody and went to the
# book a round later: F 50 gave fund 0 and bad debt 20, F 30 bad debt 40.)
@pytest.mark.parametrize("sim", [_v1, _v2])
@pytest.mark.parametrize(("fund", "fund_end", "bad_debt"), [(50.0, 10.0, 0.0), (30.0, 0.0, 10.0)])
def test_a_close_the_opposite_side_cannot_absorb_stays_with_the_fund(
    sim: Any, fund: float, fund_end: float, bad_debt: float
) -> None:
    res = sim([L1, L2, S, X, H], FLAT, fund)
    got = _totals(res)
    assert got["fund_end"] == pytest.approx(fund_end, abs=1e-9)
    assert got["bad_debt"] == pytest.approx(bad_debt, abs=1e-9)
    assert got["adl_notional"] == pytest.approx(10 * 110.0 + 10 * 97.0)
    assert got["liquidated_notional"] == pytest.approx(10 * 100.0)  # L2 in the book
    assert sorted(_pairs(res)) == [(2, 0), (4, 3)]  # S takes L1, H takes X
    paid = fund - got["fund_end"] + got["bad_debt"]
    assert paid == pytest.approx(40.0)
    assert paid + (100.0 + 30.0) == pytest.approx(170.0)


# S holds 15: it absorbs L1 and 5 of L2's 10.  Fund 40: L1 routed (-30 left), L2's absorbed
# half gives 20 back (-10), its other half (deficit 20) stays with the fund, X is routed (+20).
# The fund pays L2's half: fund 20, no bad debt.  (Routing L2 whole counted its whole 40 as
# absorbed and stopped before X: the fund paid X's 30 and a round later L2's other half, 20:
# fund 0, bad debt 10.)
@pytest.mark.parametrize("sim", [_v1, _v2])
def test_the_part_of_a_close_the_opposite_side_cannot_absorb_stays_with_the_fund(sim: Any) -> None:
    s15 = (-1.0, 15.0, 100.0, 1e6)
    res = sim([L1, L2, s15, X, H], FLAT, 40.0)
    got = _totals(res)
    assert got["fund_end"] == pytest.approx(20.0, abs=1e-9)
    assert got["bad_debt"] == 0.0
    assert got["adl_notional"] == pytest.approx(10 * 110.0 + 5 * 104.0 + 10 * 97.0)
    assert got["liquidated_notional"] == pytest.approx(5 * 100.0)
    ev = res.events
    l2 = ev[ev["account"] == 1]
    # L2's other half closes in the book at the round's fill, its deficit the fund's; its
    # absorbed half at its bankruptcy price, in the same round.
    assert l2["kind"].tolist() == ["liquidation", "adl_liquidated"]
    assert l2["qty"].tolist() == pytest.approx([5.0, 5.0])
    assert l2["price"].tolist() == pytest.approx([100.0, 104.0])
    assert l2["fund_delta"].tolist() == pytest.approx([-20.0, 0.0])
    assert (l2["step"] == 0).all()


# --------------------------------------------------------------------------- properties

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@st.composite
def _markets(draw: Any) -> Any:
    n = draw(st.integers(2, 8))
    accts = []
    for _ in range(n):
        side = draw(st.sampled_from([1.0, -1.0]))
        qty = float(draw(st.integers(1, 20)))
        entry = float(draw(st.integers(85, 115)))  # some are bankrupt at 100 already
        lev = float(draw(st.integers(2, 40)))
        accts.append((side, qty, entry, qty * entry / lev))
    gap = float(draw(st.integers(80, 120)))
    fund = float(draw(st.sampled_from([0.0, 5.0, 50.0, 500.0])))
    depth = draw(st.sampled_from([1e15, 2e3]))
    return accts, np.array([100.0, gap, gap, gap]), fund, Market(depth=depth)


def _closed(res: Any) -> tuple[pd.DataFrame, pd.Series]:
    # The events, and each account's position before the path (signed).
    acc = res.accounts
    if "qty0" in acc:  # v1
        return res.events, acc["side"] * acc["qty0"]
    return res.events, pd.Series([float(q[0]) for q in res.population.qty])


@pytest.mark.parametrize("sim", [_v1, _v2])
@given(case=_markets())
@settings(FAST, max_examples=60)
def test_adl_absorbs_no_more_than_the_opposite_side_holds_and_money_is_conserved(sim: Any, case: Any) -> None:
    accts, path, fund, market = case
    res = sim(accts, path, fund, market)
    ev, q0 = _closed(res)
    got = _totals(res)
    # The fund: its start, every close's change and the bad debt (the shortfall it was floored
    # from) make its end.
    assert fund + float(ev["fund_delta"].sum()) + got["bad_debt"] == pytest.approx(got["fund_end"], abs=1e-6)
    if hasattr(res, "ledger"):
        led = res.ledger()
        assert abs(led["residual"]) <= 1e-9 * led["scale"]
    for t, step in ev.groupby("step"):
        # Every bankrupt unit closed by ADL meets a counterparty's unit: nothing counted as
        # deleveraged that nobody took.
        bankrupt = step[step["kind"] == "adl_liquidated"]
        victims = step[step["kind"] == "adl_victim"]
        assert float(bankrupt["qty"].sum()) == pytest.approx(-float(victims["qty"].sum()), abs=1e-9)
        # A victim closes no more than it held before the step.
        before = ev[ev["step"] < t].groupby("account")["qty"].sum()
        for u, q in victims.groupby("account")["qty"].sum().items():
            held = float(q0.to_numpy()[u]) - float(before.get(u, 0.0))  # type: ignore[call-overload]
            assert abs(q) <= abs(held) + 1e-9
            assert q * held > 0.0  # events carry the closed part of the position, signed
        # A routed close is absorbed in its round, as far as the routing sent it: no rest of a
        # deleveraged account goes to the book after its ADL (the old routing sent it there a
        # round later when the side had run out).
        for _i, rows in step.groupby("account"):
            kinds = rows["kind"].tolist()
            if "adl_liquidated" in kinds:
                assert "liquidation" not in kinds[kinds.index("adl_liquidated") :]


# --------------------------------------------------------------------------- twins


def _events(res: Any) -> np.ndarray:
    return np.asarray(res.events[["step", "account", "qty", "price", "fund_delta"]].to_numpy(float))


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: the compiled kernels are the Python twins")
@pytest.mark.parametrize("sim", [_v1, _v2])
@pytest.mark.parametrize(
    ("accts", "fund", "depth"),
    [
        ([L1, L2, S, X, H], 30.0, 1e15),
        ([L1, L2, (-1.0, 15.0, 100.0, 1e6), X, H], 40.0, 1e15),
        ([L1, L2, (-1.0, 15.0, 100.0, 1e6), X, H, (1.0, 3.0, 112.0, 40.0)], 0.0, 2e3),
    ],
)
def test_the_python_twins_route_as_the_compiled_kernels(
    sim: Any, accts: list[Account], fund: float, depth: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = sim(accts, FLAT, fund, Market(depth=depth))
    monkeypatch.setattr(kc, "cascade_nb", kc.cascade_py)
    monkeypatch.setattr("levguard.cascade.market.market_cascade_nb", market_cascade_py)
    py = sim(accts, FLAT, fund, Market(depth=depth))
    assert _totals(py) == _totals(nb)
    np.testing.assert_array_equal(_events(py), _events(nb))
