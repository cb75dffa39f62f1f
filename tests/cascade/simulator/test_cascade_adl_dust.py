"""ADL's routed quantities leave no float dust in v1 (``simulate_path``) either, so its events no
longer depend on the order of the accounts.

v2's fix (``simulate_market``, tests/cascade/test_market_adl_dust.py) left v1's kernel as it was:
a counterparty's take was ``min(|q_u|, left)``, so a counterparty a few ulps larger than what was
left kept ``~1e-17`` open, the routing counted that dust as capacity and routed a later close to
ADL for ``2.8e-17`` of it, and the book part of a routed close was written as ``q - (q - adl_c)``
instead of ``adl_c``.  The v1 = v2 test's ``tiered_partial_no_fund`` (600 accounts, step 192):
counterparty 299 (1.5113 short) filled seven closes, kept ``4.2e-17`` after the seventh (account
384's) and filled two more (accounts 507 and 103) with it, four events of ``2.8e-17`` and
``1.4e-17`` (1,048 events; 1,044 now, as v2's, which the v1 = v2 test again compares bit for
bit).  A random v1 market (:func:`_case`, a search's seed 244) recorded 310 events in the
drawn order and 308 in another (147 ADL events against 146), a dust ``adl_liquidated`` of
``3.5e-16`` and its ``6.9e-18`` closed in the book a round later in one order, a dust liquidation
of ``9.0e-17`` in the other; now 307 events and 146 ADL events in every order.  Money moved by
``1e-12`` only (bad debt 194,763.30 in every order before and after): v1's positions are isolated,
so the dust delayed no takeover as v2's did.  v1 now applies v2's rule (``DUST`` = 1e-9 of the
position, :data:`levguard.kernels.cascade_rounds.DUST`, shared by both kernels).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from cascade_helpers import JUMPS
from cascade_helpers import TIERS as TIER_ROWS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levguard.cascade import (
    MarginRegime,
    Market,
    Population,
    VenueSettings,
    path_for,
    population_from_distribution,
    simulate_path,
)
from levguard.core.tiers import TierTable

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
# The v1 = v2 test's tiers (tests/cascade/test_market_sim.py's TIER_ROWS).
TIERS = TierTable.from_rows(
    [
        {"notional_cap": cap, "mmr": mmr, "maint_amount": amount, "max_leverage": lev}
        for (cap, mmr, amount), lev in zip(TIER_ROWS, (125, 100, 50), strict=True)
    ]
)
ADL_KINDS = ("adl_victim", "adl_liquidated")

Case = tuple[Population, Any, Market, MarginRegime, VenueSettings]


def _permuted(pop: Population, p: np.ndarray) -> Population:
    return Population(
        np.asarray(pop.side)[p], np.asarray(pop.qty)[p], np.asarray(pop.entry_price)[p], np.asarray(pop.margin)[p],
        np.asarray(pop.cross)[p],
    )  # fmt: skip


def _dust(ev: pd.DataFrame, pop: Population, kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    # Events closing less than 1e-9 of the account's starting position.
    size = np.asarray(pop.qty)[ev["account"].to_numpy()]
    tiny = np.abs(ev["qty"].to_numpy()) < 1e-9 * size
    if kinds is not None:
        tiny &= ev["kind"].isin(kinds).to_numpy()
    return ev[tiny]


def _assert_order_free(case: Case, seed: int, kinds: tuple[str, ...] | None = None) -> Any:
    pop, path, market, regime, venue = case
    a = simulate_path(pop, path, market=market, regime=regime, venue=venue)
    p = np.random.default_rng(seed).permutation(len(np.asarray(pop.qty)))
    moved = _permuted(pop, p)
    b = simulate_path(moved, path, market=market, regime=regime, venue=venue)
    for res, drawn in ((a, pop), (b, moved)):
        dust = _dust(res.events, drawn, kinds)
        assert dust.empty, dust.to_string()
    assert len(b.events) == len(a.events)
    assert b.summary["adl_events"] == a.summary["adl_events"]
    assert b.summary["accounts_liquidated"] == a.summary["accounts_liquidated"]
    for key in ("bad_debt", "fund_end", "fund_min"):
        assert b.summary[key] == pytest.approx(a.summary[key], rel=1e-9, abs=1e-6), key
    back = np.argsort(p)  # each account's, in the drawn order
    acc_a, acc_b = a.accounts, b.accounts.iloc[back].reset_index(drop=True)
    np.testing.assert_array_equal(acc_b["status"].to_numpy(), acc_a["status"].to_numpy())
    np.testing.assert_array_equal(acc_b["qty"].to_numpy() == 0.0, acc_a["qty"].to_numpy() == 0.0)
    for col in ("qty", "margin", "pnl"):
        np.testing.assert_allclose(acc_b[col].to_numpy(), acc_a[col].to_numpy(), rtol=1e-9, atol=1e-6, err_msg=col)
    return a


def _tiered_partial_no_fund() -> Case:
    # The v1 = v2 test's case (tests/cascade/test_market_sim.py).
    pop = population_from_distribution(600, price=60_000.0, seed=3)
    regime = MarginRegime(kind="tiered", tiers=TIERS, partial=0.25, partial_min_notional=5e3)
    return pop, path_for(JUMPS, 1), Market(depth=1e3, half_life_steps=30.0), regime, VenueSettings(insurance_fund=0.0)


def _case() -> Case:
    # A search over random v1 markets (seed 244): 295 accounts, a jump path of 157 steps, tier
    # step-down liquidation, fund 100, latency 1.
    pop = population_from_distribution(295, price=60_000.0, seed=244)
    path = path_for({**JUMPS, "seed": 92, "n_steps": 157}, 1)
    market = Market(depth=1019.9297014911367, half_life_steps=10.0)
    regime = MarginRegime(kind="tiered", tiers=TIERS, partial="tier")
    return pop, path, market, regime, VenueSettings(insurance_fund=100.0, latency_steps=1)


def test_a_counterparty_within_rounding_of_what_is_left_closes_whole() -> None:
    # Step 192: counterparty 299 kept 4.2e-17 after account 384's ADL close and filled two more
    # closes with it (accounts 507 and 103: four ADL events of 2.8e-17 and 1.4e-17).
    pop = _tiered_partial_no_fund()[0]
    res = _assert_order_free(_tiered_partial_no_fund(), 1, ADL_KINDS)
    ev = res.events
    assert len(ev) == 1_044
    assert res.summary["bad_debt"] == pytest.approx(46_029.906695, rel=1e-9)
    takes = ev[(ev["kind"] == "adl_victim") & (ev["account"] == 299)]
    assert takes["counterparty"].tolist() == [467, 590, 140, 527, 343, 535, 384]
    assert -takes["qty"].sum() == pytest.approx(pop.qty[299], rel=1e-15)
    assert res.accounts["qty"].iloc[299] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_v1s_events_do_not_depend_on_the_order_of_the_accounts(seed: int) -> None:
    # 310 events (147 ADL) in the drawn order, 308 (146) with permutations 1 and 2: a dust ADL
    # close (3.5e-16) and its rest (6.9e-18) closed in the book a round later in one order, a
    # dust liquidation (9.0e-17) in another.  Now 307 (146) in every order.
    res = _assert_order_free(_case(), 100 + seed)
    assert len(res.events) == 307
    assert res.summary["adl_events"] == 146
    assert res.summary["bad_debt"] == pytest.approx(194_763.298775, rel=1e-9)


@settings(FAST, max_examples=20)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(20, 200),
    partial=st.sampled_from([0.2, 1.0, "tiered"]),
    fund=st.sampled_from([0.0, 100.0, 5e3]),
    latency=st.integers(0, 2),
)
def test_random_v1_markets_leave_no_adl_dust_in_any_order(
    seed: int, n: int, partial: float | str, fund: float, latency: int
) -> None:
    # No ADL close of a sliver (tier step-downs can legitimately close one: only ADL's kinds),
    # and the same events, bad debt and fund whatever the order of the accounts.
    pop = population_from_distribution(n, price=60_000.0, seed=seed)
    path = path_for({**JUMPS, "seed": seed, "n_steps": 120}, 1)
    if partial == "tiered":
        regime = MarginRegime(kind="tiered", tiers=TIERS, partial=0.25, partial_min_notional=5e3)
    else:
        regime = MarginRegime(partial=float(partial))
    venue = VenueSettings(insurance_fund=fund, latency_steps=latency)
    _assert_order_free((pop, path, Market(depth=1e3, half_life_steps=10.0), regime, venue), seed + 1, ADL_KINDS)
