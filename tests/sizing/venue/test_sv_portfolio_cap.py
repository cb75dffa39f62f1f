"""PortfolioCap: proportional scaling under gross, net, per-asset and per-venue limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import Composite, MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.policies import VolatilityTarget
from levguard.core.sizing.portfolio import PortfolioCap
from levguard.errors import InputError

SYMS = ["BTC", "ETH", "SOL", "DOGE"]
VENUES = {"BTC": "binance-usdm", "ETH": "binance-usdm", "SOL": "bybit", "DOGE": "okx"}
notional = st.floats(-1e6, 1e6).filter(lambda x: abs(x) > 1.0)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(SYMS), notional, min_size=1),
    st.floats(1e3, 1e6),
    st.floats(0.5, 20.0),
    st.one_of(st.none(), st.floats(0.1, 20.0)),
    st.one_of(st.none(), st.floats(0.1, 0.9), st.just({"binance-usdm": 0.5, "bybit": 0.3})),
)
def test_no_limit_exceeded_and_directions_kept(
    exposures: dict[str, float],
    equity: float,
    gross: float,
    net: float | None,
    per_venue: float | dict[str, float] | None,
) -> None:
    per_asset = {"BTC": 5.0, "DOGE": 1.0}
    policy = PortfolioCap(gross, net, per_asset, per_venue)
    d = policy.decide(SizingState(equity=equity, exposures=exposures, venues=VENUES))
    alloc = d.allocations
    tol = 1 + 1e-9
    assert math.isfinite(d.target_leverage)
    assert 0.0 <= d.target_leverage <= policy.cap * tol
    assert d.target_leverage == pytest.approx(sum(abs(v) for v in alloc.values()), rel=1e-12)
    # Each limit's use (held / limit): none above 1, and the binding one at 1 (the largest book
    # within the limits, not the book as held).
    used = {"max_gross_leverage": d.target_leverage / gross}
    if net is not None:
        used["max_net_leverage"] = abs(sum(alloc.values())) / net
    for s, cap in per_asset.items():
        if s in alloc:
            used[f"per_asset:{s}"] = abs(alloc[s]) / cap
    if per_venue is not None:
        for venue in set(VENUES.values()):
            share = per_venue.get(venue) if isinstance(per_venue, dict) else per_venue
            held = sum(abs(v) for s, v in alloc.items() if VENUES[s] == venue)
            if share is not None and held > 0:
                used[f"per_venue:{venue}"] = held / (share * gross)
    assert max(used.values()) <= tol
    assert used[d.binding_constraint] == pytest.approx(1.0, rel=1e-9)
    scale = d.details["scale"]
    assert scale > 0.0
    for s, x in exposures.items():
        assert alloc[s] == pytest.approx(x / equity * scale, rel=1e-12)
        assert np.sign(alloc[s]) == np.sign(x)


def test_binding_names() -> None:
    state = SizingState(equity=1.0, exposures={"BTC": 3.0, "ETH": -1.0, "SOL": 1.0}, venues=VENUES)
    within = PortfolioCap(10.0).decide(state)  # a book within its limits scales up to them
    assert (within.binding_constraint, within.target_leverage) == ("max_gross_leverage", pytest.approx(10.0))
    assert dict(within.allocations) == pytest.approx({"BTC": 6.0, "ETH": -2.0, "SOL": 2.0})
    assert PortfolioCap(2.5).decide(state).binding_constraint == "max_gross_leverage"
    assert PortfolioCap(10.0, max_net_leverage=1.0).decide(state).binding_constraint == "max_net_leverage"
    assert PortfolioCap(10.0, per_asset={"BTC": 1.0}).decide(state).binding_constraint == "per_asset:BTC"
    d = PortfolioCap(5.0, per_venue={"binance-usdm": 0.5}).decide(state)
    assert d.binding_constraint == "per_venue:binance-usdm"
    assert d.target_leverage == pytest.approx(2.5 * 5 / 4)
    empty = PortfolioCap(5.0, per_asset={"BTCUSDT": 2.0}).decide(SizingState(equity=1.0))  # the context's
    assert (empty.target_leverage, empty.binding_constraint) == (2.0, "per_asset:BTCUSDT")
    path = PortfolioCap(5.0, 2.0).leverage_path(SeriesInputs(np.zeros(3)))
    assert np.all(path == 2.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_gross_leverage": 0.0}, "max_gross_leverage"),
        ({"max_gross_leverage": 1.0, "max_net_leverage": -1.0}, "max_net_leverage"),
        ({"max_gross_leverage": 1.0, "per_asset": {"BTC": 0.0}}, "per_asset"),
        ({"max_gross_leverage": 1.0, "per_venue": 1.5}, "per_venue"),
        ({"max_gross_leverage": 1.0, "per_venue": {"okx": 2.0}}, "per_venue"),
    ],
)
def test_portfolio_cap_bad_params(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field):
        PortfolioCap(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, "200", None, True])
def test_exposures_that_are_not_finite_numbers_are_refused_naming_them(bad: object) -> None:
    """PortfolioCap(3) dropped an infinite or NaN exposure and sized the rest (2.0x, within_limits)."""
    with pytest.raises(InputError, match=r"exposures\['A'\]"):
        PortfolioCap(3).decide(SizingState(equity=100, exposures={"A": bad, "B": 200.0}))


def test_a_cap_within_its_limits_does_not_hold_a_composite_at_the_current_leverage() -> None:
    """An account at 0.6x under vol_target 0.5 and portfolio_cap 3 at a 30 % forecast stayed at
    0.6x, bound by portfolio_cap.within_limits (the cap's factor was capped at 1: the book as held)."""
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT", side=1)
    state = SizingState(equity=1e4, price=6e4, vol_forecast=0.3, context=ctx, exposures={"BTCUSDT": 6000.0})
    policy = Composite(VolatilityTarget(target_vol=0.5, max_leverage=10), PortfolioCap(3.0, context=ctx))
    d = policy.decide(state)
    assert d.target_leverage == pytest.approx(0.5 / 0.3, rel=1e-12)
    assert d.binding_constraint == "vol_target"
    assert "portfolio_cap would allow 3x (max_gross_leverage)" in d.reasons
    inputs = SeriesInputs(np.zeros(5), vol_forecast=np.full(5, 0.3))
    assert policy.leverage_path(inputs)[-1] == d.target_leverage
    # The cap binds when its limit is below the target.
    tight = Composite(VolatilityTarget(target_vol=0.5, max_leverage=10), PortfolioCap(1.2, context=ctx))
    assert (tight.decide(state).target_leverage, tight.decide(state).binding_constraint) == (
        pytest.approx(1.2),
        "portfolio_cap.max_gross_leverage",
    )


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.5, 20.0),
    st.one_of(st.none(), st.floats(0.1, 20.0)),
    st.one_of(st.none(), st.floats(0.1, 20.0)),
    st.one_of(st.none(), st.floats(0.1, 1.0)),
    st.sampled_from(["binance-usdm", "bybit-linear", "okx"]),
    st.sampled_from([-1, 1]),
    st.floats(1.0, 1e6),
    st.booleans(),
)
def test_decide_on_one_instrument_is_the_paths_last_bar(
    gross: float,
    net: float | None,
    btc: float | None,
    per_venue: float | None,
    venue: str,
    side: int,
    notional: float,
    held: bool,
) -> None:
    """One instrument, held or not: decide is leverage_path's bound (decide gave the held gross)."""
    ctx = MarketContext(venue=venue, symbol="BTCUSDT", side=side)
    per_asset = None if btc is None else {"BTCUSDT": btc}
    cap = PortfolioCap(gross, net, per_asset, per_venue, context=ctx)
    exposures = {"BTCUSDT": side * notional} if held else {}
    d = cap.decide(SizingState(equity=1e4, context=ctx, exposures=exposures))
    path = cap.leverage_path(SeriesInputs(np.zeros(3)))
    assert d.target_leverage == pytest.approx(path[-1], rel=1e-12)
    bound, limit = cap.single_bound("BTCUSDT", venue)
    assert d.target_leverage == pytest.approx(bound, rel=1e-12)
    assert d.binding_constraint == limit.replace("per_venue:*", f"per_venue:{venue}")
    assert np.sign(d.allocations["BTCUSDT"]) == side
