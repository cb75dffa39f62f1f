"""The cascade simulators step a position down its risk limits as the venue's rule says, through
the same kernel as the backtester and ``liquidation_outcome`` (kernels.liquidation.tier_close).

The case is the golden one of tests/golden/test_liquidation_outcomes.py: 25 BTC long @ 100,000
(2.5M: the third of four 1M risk limits) on 62,500 of margin, the price gapping to 98,000
(equity 12,500).  Read at the fill, the 2M limit still needs 15,000; the 1M limit 5,000.

* Bybit and Gate (``until_safe``) send one order down to the 1M limit: 14.80 BTC close.
* BitMEX (``once``) may only go below the next limit, where 1 % of the whole (no deduction) is
  about 20,000: the position is taken over.
* OKX (``each_trigger`` from tier 3 to tier 1) reduces to tier 1 at once.

Before, the simulators stepped one limit per round whatever the venue: BitMEX's position
survived in two orders instead of being taken over.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.tiers import FOUR_TIERS
from levguard.cascade import MarginRegime, Market
from levguard.cascade.market import MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.population import Population
from levguard.cascade.simulator import simulate_path
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.errors import InputError

DEEP = Market(depth=1e15)
PATH = np.array([100_000.0, 98_000.0, 98_000.0])
VENUES = ("bybit-linear", "gate", "bitmex", "okx")


def _regime(venue: str) -> MarginRegime:
    return MarginRegime.for_venue(venue, tiers=FOUR_TIERS, kind="tiered", liquidation_fee=0.0)


def _expected(venue: str) -> float:
    # The cascade reads tiers at the price it fills at (its maintenance is at the mark).
    o = liquidation_outcome(
        venue, 25.0, 100_000, 98_000, 62_500, tiers=FOUR_TIERS, fee_rate=0.0, taker_fee=0.0, mm_at_entry=False
    )
    return o.closed_qty


def test_the_regime_carries_the_venues_step_rule() -> None:
    modes = {v: (_regime(v).step_from, _regime(v).step_to, _regime(v).step_mode) for v in VENUES}
    assert modes == {
        "bybit-linear": (1, -1, "until_safe"),
        "gate": (1, -1, "until_safe"),
        "bitmex": (1, -1, "once"),
        "okx": (2, 0, "each_trigger"),
    }
    assert (MarginRegime().step_from, MarginRegime().step_to, MarginRegime().step_mode) == (1, -1, "each_trigger")


@pytest.mark.parametrize("venue", VENUES)
def test_v1_closes_what_the_venue_rule_closes(venue: str) -> None:
    pop = Population(side=[1.0], qty=[25.0], entry_price=[100_000.0], margin=[62_500.0], cross=[False])
    res = simulate_path(pop, PATH, market=DEEP, regime=_regime(venue))
    assert len(res.events) == 1  # one order, whatever the depth of the step
    assert res.events["qty"].iloc[0] == pytest.approx(_expected(venue), rel=1e-9)
    assert res.accounts["qty"].iloc[0] == pytest.approx(25.0 - _expected(venue), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("venue", VENUES)
def test_v2_closes_what_the_venue_rule_closes(venue: str) -> None:
    pop = MarketPopulation([0], [62_500.0], [[25.0]], [[100_000.0]])
    res = simulate_market(pop, PATH, MarketSpec(("BTC",), [MarketVenue("x", DEEP, _regime(venue))]))
    assert res.counts.events == 1
    assert abs(res.events["qty"].iloc[0]) == pytest.approx(_expected(venue), rel=1e-9)
    assert res.out.accounts.qty[0, 0] == pytest.approx(25.0 - _expected(venue), rel=1e-9, abs=1e-12)


def test_bitmex_takes_over_where_one_step_does_not_restore() -> None:
    assert _expected("bitmex") == 25.0
    assert _expected("bybit-linear") == pytest.approx(25.0 - 1e6 / 98_000, rel=1e-12)


def test_a_bad_step_rule_is_refused_by_name() -> None:
    with pytest.raises(InputError, match=r"regime\.step_mode"):
        MarginRegime(partial="tier", step_mode="twice")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"regime\.step_to"):
        MarginRegime(partial="tier", step_to=-2)
    with pytest.raises(InputError, match=r"regime\.step_from"):
        MarginRegime(partial="tier", step_from=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("venue", "wallet", "rest"),
    [
        # 25 A and 25 B @ 100,000 fall to 98,000.  One step each below 2M leaves a maintenance
        # margin of 2 x 20,000 against 50,000 of equity: BitMEX keeps both (stepping each against
        # the other's full maintenance took both over; a review).
        ("bitmex", 150_000.0, 2e6 * (1.0 - 1e-9) / 98_000),
        ("bitmex", 120_000.0, 0.0),  # equity 20,000 < 40,000 after the step: taken over
        ("bybit-linear", 136_000.0, 2e6 / 98_000),  # one tier each restores (30,000 < 36,000)
        ("bybit-linear", 130_000.0, 1e6 / 98_000),  # one does not (equity 30,000, MM 30,000), two do
        ("okx", 150_000.0, 1e6 / 98_000),  # tier 3 and above to tier 1
    ],
)
def test_v2_steps_an_accounts_contracts_down_together(venue: str, wallet: float, rest: float) -> None:
    pop = MarketPopulation([0], [wallet], [[25.0, 25.0]], [[100_000.0, 100_000.0]])
    path = np.column_stack([PATH, PATH])
    res = simulate_market(pop, path, MarketSpec(("A", "B"), [MarketVenue("x", DEEP, _regime(venue))]))
    np.testing.assert_allclose(res.out.accounts.qty[0], [rest, rest], rtol=1e-9, atol=1e-12)
    assert res.counts.events == 2  # one order per contract


def test_until_safe_on_a_table_without_deduction_stops_below_the_cap() -> None:
    # A cap of a table without deduction belongs to the next tier (BitMEX's "< 2,000,000"): a
    # rest left exactly on it paid 1.5 %, 30,000 against 25,000 of equity, yet was not
    # liquidated again (a review).  It now stops just below the cap, in the 1 % tier.
    regime = MarginRegime.for_venue(
        "bitmex", tiers=FOUR_TIERS, kind="tiered", liquidation_fee=0.0, step_mode="until_safe"
    )
    pop = Population(side=[1.0], qty=[25.0], entry_price=[100_000.0], margin=[75_000.0], cross=[False])
    res = simulate_path(pop, PATH, market=DEEP, regime=regime)
    left = float(res.accounts["qty"].iloc[0])
    assert left == pytest.approx(2e6 * (1.0 - 1e-9) / 98_000, rel=1e-12)
    assert regime.tiers is not None
    assert regime.tiers.index(left * 98_000) == 1


@settings(max_examples=100, deadline=None)
@given(
    venue=st.sampled_from(["bybit-linear", "gate", "bitmex"]),
    qty_a=st.floats(1.0, 40.0),
    qty_b=st.floats(0.0, 40.0),
    lev=st.floats(2.0, 60.0),
    drop=st.floats(0.0, 0.08),
)
def test_property_a_joint_step_down_leaves_the_account_safe_or_takes_it_over(
    venue: str, qty_a: float, qty_b: float, lev: float, drop: float
) -> None:
    # Whatever the market simulator's step closes, the account it leaves is out of liquidation at
    # that price (equity above its maintenance), or has nothing left: a step that does not
    # restore is a takeover (Bybit, Gate, BitMEX).
    regime = _regime(venue)
    assert regime.tiers is not None
    wallet = (qty_a + qty_b) * 100_000.0 / lev
    pop = MarketPopulation([0], [wallet], [[qty_a, qty_b]], [[100_000.0, 100_000.0]])
    price = 100_000.0 * (1.0 - drop)
    path = np.array([[100_000.0, 100_000.0], [price, price], [price, price]])
    res = simulate_market(pop, path, MarketSpec(("A", "B"), [MarketVenue("x", DEEP, regime)]))
    left = res.out.accounts.qty[0]
    if (left == 0.0).all():
        return
    equity = res.out.accounts.wallet[0] + float(np.sum(left * (price - 100_000.0)))
    mm = sum(regime.tiers.maintenance_margin(abs(q) * price) for q in left if q != 0.0)
    assert equity >= mm * (1.0 - 1e-9)
