"""A composite's allocations hold every portfolio cap's limits, and a cap's decide and path agree.

``Composite(RiskBudget(target_vol=1), PortfolioCap(10, per_asset={"DOGEUSDT": 0.5}))`` on a book
BTC 1x / DOGE 0.1x returned the risk budget's allocations {BTC 1, DOGE 1} (2x, the smallest
gross): DOGE at 1x against a 0.5x limit.  ``PortfolioCap(10, max_net_leverage=4,
per_asset={"ETHUSDT": 1.5})`` without a context decided 4x on a state without one while its path
gave 1.5x (the tightest per-asset limit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingDecision, SizingState
from levguard.core.symbols import contract_key
from levguard.sizing import Composite, FixedLeverage, PortfolioCap, RiskBudget, VolatilityTarget
from levguard.typing import Float64Array1D

BOOK = {"BTCUSDT": 1.0, "DOGEUSDT": 0.1}
VOLS = {"BTCUSDT": 0.5, "DOGEUSDT": 0.5}
SYMBOLS = ("BTCUSDT", "ETHUSDT", "DOGEUSDT", "BTC/USDT:USDT")
VENUES = ("binance-usdm", "bybit-linear", "okx")
TOL = 1e-9


@dataclass(frozen=True)
class Target:
    """A member that answers fixed allocations (a leverage target with its own weights)."""

    allocations: Mapping[str, float] = field(default_factory=dict)
    name: str = "target"

    @property
    def cap(self) -> float:
        return math.fsum(abs(v) for v in self.allocations.values())

    def decide(self, state: SizingState) -> SizingDecision:
        del state
        return SizingDecision(self.cap, "target", ("fixed weights",), MappingProxyType(dict(self.allocations)))

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        return np.full(inputs.returns.shape[0], self.cap)


def within(cap: PortfolioCap, alloc: Mapping[str, float], state: SizingState) -> list[str]:
    """The limits of ``cap`` that ``alloc`` exceeds (computed here, not by the cap)."""
    over = []
    gross = math.fsum(abs(v) for v in alloc.values())
    if gross > cap.max_gross_leverage * (1 + TOL):
        over.append("gross")
    if cap.max_net_leverage is not None and abs(math.fsum(alloc.values())) > cap.max_net_leverage * (1 + TOL):
        over.append("net")
    for key, limit in (cap.per_asset or {}).items():
        held = math.fsum(abs(v) for s, v in alloc.items() if contract_key(s) == contract_key(key))
        if held > limit * (1 + TOL):
            over.append(f"asset {key}")
    for venue in (*VENUES, "generic"):
        share = cap.per_venue if not isinstance(cap.per_venue, Mapping) else cap.per_venue.get(venue)
        held = math.fsum(abs(v) for s, v in alloc.items() if state.venues.get(s, state.context.venue) == venue)
        if share is not None and held > share * cap.max_gross_leverage * (1 + TOL):
            over.append(f"venue {venue}")
    return over


def test_a_risk_budget_inside_a_composite_holds_the_caps_per_asset_limit() -> None:
    state = SizingState(equity=1.0, exposures=BOOK, vols=VOLS)
    cap = PortfolioCap(10.0, per_asset={"DOGEUSDT": 0.5})
    rb = RiskBudget(target_vol=1.0, max_leverage=10.0)
    assert dict(rb.decide(state).allocations) == {"BTCUSDT": 1.0, "DOGEUSDT": 1.0}
    d = Composite(rb, cap).decide(state)
    assert dict(d.allocations) == pytest.approx({"BTCUSDT": 0.5, "DOGEUSDT": 0.5})  # was {1, 1}
    assert d.target_leverage == pytest.approx(1.0)  # was 2.0
    assert d.binding_constraint == "portfolio_cap.per_asset:DOGEUSDT"
    assert d.details["allocation_scale"] == pytest.approx(0.5)
    assert any("scaled by 0.5" in r for r in d.reasons)
    # Within the limits the risk budget's answer is kept whole.
    loose = Composite(rb, PortfolioCap(10.0, per_asset={"DOGEUSDT": 1.5})).decide(state)
    assert dict(loose.allocations) == {"BTCUSDT": 1.0, "DOGEUSDT": 1.0}
    assert loose.binding_constraint == "risk_budget.vol_target"
    assert "allocation_scale" not in loose.details


def test_a_nested_composite_scales_by_its_cap_too() -> None:
    state = SizingState(equity=1.0, exposures=BOOK, vols=VOLS)
    inner = Composite(FixedLeverage(20.0), PortfolioCap(10.0, per_asset={"DOGEUSDT": 0.25}), name="limits")
    d = Composite(RiskBudget(target_vol=1.0, max_leverage=10.0), inner).decide(state)
    assert dict(d.allocations) == pytest.approx({"BTCUSDT": 0.25, "DOGEUSDT": 0.25})
    assert d.binding_constraint == "limits.portfolio_cap.per_asset:DOGEUSDT"


allocations = st.dictionaries(
    st.sampled_from(SYMBOLS),
    st.floats(-5.0, 5.0, allow_nan=False).filter(lambda v: abs(v) > 1e-3),
    min_size=1,
    max_size=4,
)
limit = st.floats(0.1, 8.0)
caps = st.builds(
    PortfolioCap,
    max_gross_leverage=limit,
    max_net_leverage=st.none() | limit,
    per_asset=st.none() | st.dictionaries(st.sampled_from(("BTCUSDT", "ETHUSDT", "DOGEUSDT")), limit, min_size=1),
    per_venue=st.none() | st.floats(0.05, 1.0) | st.dictionaries(st.sampled_from(VENUES), st.floats(0.05, 1.0)),
)


@settings(max_examples=300, deadline=None)
@given(
    book=allocations,
    target=allocations,
    first=caps,
    second=caps,
    venues=st.dictionaries(st.sampled_from(SYMBOLS), st.sampled_from(VENUES)),
    nested=st.booleans(),
)
def test_a_composites_allocations_hold_every_caps_limits(
    book: dict[str, float],
    target: dict[str, float],
    first: PortfolioCap,
    second: PortfolioCap,
    venues: dict[str, str],
    nested: bool,
) -> None:
    """Whichever member has the smallest gross, the allocations exceed no cap's gross, net,
    per-asset or per-venue limit, and the target is at most every member's."""
    state = SizingState(equity=1.0, exposures=book, venues=venues, context=MarketContext(venue="okx"))
    members = (Target(target), first, Composite(second, FixedLeverage(50.0)) if nested else second)
    composite = Composite(*members)
    d = composite.decide(state)
    for cap in (first, second):
        assert within(cap, d.allocations, state) == []
    assert d.target_leverage <= min(p.decide(state).target_leverage for p in members) * (1 + TOL)
    assert d.target_leverage == pytest.approx(math.fsum(abs(v) for v in d.allocations.values()))


@pytest.mark.parametrize(
    "cap",
    [
        PortfolioCap(10.0, max_net_leverage=4.0, per_asset={"ETHUSDT": 1.5}),
        PortfolioCap(10.0, per_venue={"okx": 0.2}),
        PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0}, per_venue=0.3),
    ],
)
def test_without_a_context_decide_and_the_path_read_the_same_instrument(cap: PortfolioCap) -> None:
    """Neither the policy nor the state has a context: both are MarketContext() (BTCUSDT on
    generic); the path applied the tightest limits instead (1.5x against decide's 4x)."""
    inputs = SeriesInputs(np.zeros(5))
    decided = cap.decide(SizingState(equity=1.0)).target_leverage
    path = cap.leverage_path(inputs)
    assert path.dtype == np.float64
    assert path[-1] == decided
    ctx = MarketContext()
    assert decided == cap.single_bound(ctx.symbol, ctx.venue)[0]
    # A composite with a leverage target agrees too, with or without a book of that instrument.
    vt = VolatilityTarget(0.5)
    both = Composite(vt, cap)
    vt_inputs = SeriesInputs(np.zeros(5), vol_forecast=np.full(5, 0.05))
    state = SizingState(equity=1.0, vol_forecast=0.05, exposures={"BTCUSDT": 1.0})
    assert both.leverage_path(vt_inputs)[-1] == pytest.approx(both.decide(state).target_leverage)
    assert both.leverage_path(vt_inputs)[-1] == pytest.approx(
        both.decide(SizingState(equity=1.0, vol_forecast=0.05)).target_leverage
    )


@settings(max_examples=100, deadline=None)
@given(cap=caps, symbol=st.sampled_from(SYMBOLS), venue=st.sampled_from(VENUES), lev=st.floats(0.01, 20.0))
def test_a_composite_on_one_instrument_equals_its_path(cap: PortfolioCap, symbol: str, venue: str, lev: float) -> None:
    """With the policy's context the state's, a composite of a one-instrument target and a cap
    decides the last bar of its path."""
    ctx = MarketContext(venue=venue, symbol=symbol)
    bound = PortfolioCap(cap.max_gross_leverage, cap.max_net_leverage, cap.per_asset, cap.per_venue, context=ctx)
    composite = Composite(Target({symbol: lev}), bound)
    state = SizingState(equity=1.0, exposures={symbol: 1.0}, context=ctx)
    path = composite.leverage_path(SeriesInputs(np.zeros(3)))
    assert composite.decide(state).target_leverage == pytest.approx(path[-1])


def test_a_caps_own_allocations_are_not_rescaled() -> None:
    state = SizingState(equity=3.0, exposures={"BTCUSDT": 1.0, "ETHUSDT": -0.7, "DOGEUSDT": 0.1})
    cap = PortfolioCap(3.3, max_net_leverage=0.7, per_asset={"DOGEUSDT": 0.3})
    alone = cap.decide(state)
    d = Composite(cap, PortfolioCap(3.3, max_net_leverage=0.7, per_asset={"DOGEUSDT": 0.3}, name="twin")).decide(state)
    assert dict(d.allocations) == dict(alone.allocations)
    assert d.binding_constraint == f"portfolio_cap.{alone.binding_constraint}"
    assert "allocation_scale" not in d.details
