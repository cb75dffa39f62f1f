"""PortfolioCap: proportional scaling under gross, net, per-asset and per-venue limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import SeriesInputs, SizingState
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
    if net is not None:
        assert abs(sum(alloc.values())) <= net * tol
    for s, cap in per_asset.items():
        assert abs(alloc.get(s, 0.0)) <= cap * tol
    if per_venue is not None:
        for venue in set(VENUES.values()):
            share = per_venue.get(venue) if isinstance(per_venue, dict) else per_venue
            if share is not None:
                held = sum(abs(v) for s, v in alloc.items() if VENUES[s] == venue)
                assert held <= share * gross * tol
    scale = d.details["scale"]
    assert 0.0 < scale <= 1.0
    for s, x in exposures.items():
        assert alloc[s] == pytest.approx(x / equity * scale, rel=1e-12)
        assert np.sign(alloc[s]) == np.sign(x)
    assert (scale < 1.0) == (d.binding_constraint != "within_limits")


def test_binding_names() -> None:
    state = SizingState(equity=1.0, exposures={"BTC": 3.0, "ETH": -1.0, "SOL": 1.0}, venues=VENUES)
    assert PortfolioCap(10.0).decide(state).binding_constraint == "within_limits"
    assert PortfolioCap(2.5).decide(state).binding_constraint == "max_gross_leverage"
    assert PortfolioCap(10.0, max_net_leverage=1.0).decide(state).binding_constraint == "max_net_leverage"
    assert PortfolioCap(10.0, per_asset={"BTC": 1.0}).decide(state).binding_constraint == "per_asset:BTC"
    d = PortfolioCap(5.0, per_venue={"binance-usdm": 0.5}).decide(state)
    assert d.binding_constraint == "per_venue:binance-usdm"
    assert d.target_leverage == pytest.approx(2.5 * 5 / 4)
    assert PortfolioCap(5.0).decide(SizingState(equity=1.0)).binding_constraint == "no_exposure"
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
