"""The per-position state machine: thresholds, immediate escalation, hysteresis on the way down."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levguard.errors import InputError
from levguard.live.states import Level, Thresholds, next_level

T = Thresholds(margin_ratio=(0.5, 0.7, 0.85), distance=(0.15, 0.08, 0.04), p_liq=(0.05, 0.2, 0.5), hysteresis=0.1)
SAFE = (0.1, 0.5, 0.0)


@pytest.mark.parametrize(
    ("figures", "level"),
    [
        (SAFE, Level.OK),
        ((0.55, 0.5, 0.0), Level.WARN),
        ((0.1, 0.07, 0.0), Level.DANGER),
        ((0.1, 0.5, 0.6), Level.ACT),
        ((0.9, 0.5, 0.0), Level.ACT),
        ((math.nan, math.inf, math.nan), Level.OK),  # no liquidation price: safe
    ],
)
def test_each_figure_can_escalate(figures: tuple[float, float, float], level: Level) -> None:
    assert next_level(Level.OK, T, *figures) == level


def test_escalation_is_immediate_and_skips_levels() -> None:
    assert next_level(Level.OK, T, 0.9, 0.5, 0.0) == Level.ACT


def test_hysteresis_holds_a_level_until_the_figures_clear_it() -> None:
    # WARN starts at a margin ratio of 0.5; leaving it needs < 0.45.
    assert next_level(Level.WARN, T, 0.48, 0.5, 0.0) == Level.WARN
    assert next_level(Level.WARN, T, 0.44, 0.5, 0.0) == Level.OK
    # DANGER at distance 0.08; leaving it needs > 0.088, then WARN holds until > 0.165.
    assert next_level(Level.DANGER, T, 0.1, 0.085, 0.0) == Level.DANGER
    assert next_level(Level.DANGER, T, 0.1, 0.10, 0.0) == Level.WARN
    assert next_level(Level.DANGER, T, 0.1, 0.17, 0.0) == Level.OK


@given(
    st.floats(0.0, 2.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.sampled_from(list(Level)),
)
def test_never_below_the_entered_level_and_never_flaps(mr: float, dist: float, p: float, current: Level) -> None:
    entered = T.level_of(mr, dist, p)
    nxt = next_level(current, T, mr, dist, p)
    assert nxt >= entered
    # With the same figures the state is a fixed point: no flapping.
    assert next_level(nxt, T, mr, dist, p) == nxt


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"margin_ratio": (0.8, 0.7, 0.9)}, "margin_ratio must be increasing"),
        ({"distance": (0.05, 0.08, 0.04)}, "distance must be decreasing"),
        ({"p_liq": (0.1, 0.2)}, "p_liq must be three"),
        ({"hysteresis": 1.5}, "hysteresis"),
    ],
)
def test_bad_thresholds(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        Thresholds(**kwargs)  # type: ignore[arg-type]
