"""TierCap: the bracket fixed point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.venue import TierCap
from levguard.core.tiers import TierTable
from levguard.errors import InputError

TABLE = TierTable.from_max_leverage([(0, 125), (5e4, 100), (2.5e5, 50), (1e6, 20), (1e7, 10), (5e7, 5)])


def _state(equity: float, table: TierTable = TABLE) -> SizingState:
    return SizingState(equity=equity, context=MarketContext(tiers=table))


@settings(max_examples=200, deadline=None)
@given(st.floats(1.0, 1e9), st.one_of(st.none(), st.floats(0.5, 200.0)))
def test_tier_cap_feasible_and_maximal(equity: float, max_lev: float | None) -> None:
    policy = TierCap(max_leverage=max_lev)
    d = policy.decide(_state(equity))
    lev = d.target_leverage
    assert math.isfinite(lev)
    assert 0.0 <= lev <= policy.cap
    assert lev <= TABLE.max_leverage(lev * equity) * (1 + 1e-12)
    if d.binding_constraint == "tier_cap":
        bigger = lev * (1 + 1e-9)
        assert bigger > TABLE.max_leverage(bigger * equity)
        assert max_lev is None or lev <= max_lev
    else:
        assert d.binding_constraint == "max_leverage"
        assert lev == max_lev
        assert max_lev <= TABLE.max_leverage(lev * equity)


def test_tier_cap_known_values() -> None:
    assert TierCap().decide(_state(100.0)).target_leverage == 125.0
    # 1e5 equity: 20x puts 2e6 in the 20x bracket; 50x would be 5e6 (20x bracket) -> 20x.
    assert TierCap().decide(_state(1e5)).target_leverage == 20.0
    # 3e3 equity: 125x = 375k notional is in the 50x bracket; 100x up to 5e4/... -> 83.33 (cap of 100x bracket).
    lev = TierCap().decide(_state(3e3)).target_leverage
    assert lev == pytest.approx(2.5e5 / 3e3, rel=1e-9)


def test_tier_cap_path_matches_decide() -> None:
    eq = np.array([100.0, 3e3, 1e5, 1e8, np.nan])
    policy = TierCap(context=MarketContext(tiers=TABLE))
    path = policy.leverage_path(SeriesInputs(np.zeros(5), equity=eq))
    for e, lev in zip(eq[:4], path[:4], strict=True):
        assert lev == policy.decide(_state(float(e))).target_leverage
    assert path[4] == 0.0
    assert np.all(TierCap().leverage_path(SeriesInputs(np.zeros(3))) == 0.0)


def test_tier_cap_builtin_and_missing_tiers() -> None:
    d = TierCap().decide(SizingState(equity=1e4, context=MarketContext(venue="binance-usdm", symbol="BTCUSDT")))
    assert d.target_leverage > 0
    assert d.binding_constraint == "tier_cap"
    d = TierCap().decide(SizingState(equity=1e4, context=MarketContext(venue="generic")))
    assert d.target_leverage == 0.0
    assert d.binding_constraint == "no_tiers"
    d = TierCap().decide(SizingState(equity=1e4, context=MarketContext(mmr=0.01)))
    assert d.target_leverage == 50.0


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_tier_cap_bad_params(bad: float) -> None:
    with pytest.raises(InputError, match="max_leverage"):
        TierCap(max_leverage=bad)


def test_gate_leaves_room_for_the_close_fee_in_the_initial_margin() -> None:
    """Gate's IM is ``N / L + N t`` (help 22148): at 100x with a 0.075 % taker fee the equity
    carries ``1 / (1/100 + 0.00075)`` = 93.02x of notional; TierCap allowed 100x, whose IM the
    engine puts at 1,075 on 1,000 of equity (a review).  Other venues keep the tier's cap."""
    table = TierTable.from_max_leverage([(0, 100), (1e7, 20)])
    gate = MarketContext(venue="gate", symbol="BTC_USDT", tiers=table, taker_fee_rate=0.00075)
    lev = TierCap().decide(SizingState(equity=1_000.0, context=gate)).target_leverage
    assert lev == pytest.approx(1.0 / (1.0 / 100 + 0.00075), rel=1e-12)
    assert TierCap(context=gate).leverage_path(SeriesInputs(np.zeros(2), equity=np.full(2, 1_000.0)))[0] == lev
    # Without a taker fee in the context, Gate's own 0.075 % (as a position reads it).
    bare = MarketContext(venue="gate", symbol="BTC_USDT", tiers=table)
    assert TierCap().decide(SizingState(equity=1_000.0, context=bare)).target_leverage == lev
    okx = MarketContext(venue="okx", symbol="BTC-USDT-SWAP", tiers=table, taker_fee_rate=0.0005)
    assert TierCap().decide(SizingState(equity=1_000.0, context=okx)).target_leverage == 100.0


def test_market_context_reads_the_contract_as_positions_do() -> None:
    """NumPy sizes and an upper-case kind are accepted (and normalised); a bool is not a size."""
    ctx = MarketContext(venue="okx", symbol="BTC-USDT-SWAP", contract_kind="LINEAR", contract_size=np.int64(1))
    assert ctx.contract_kind == "linear"
    assert ctx.contract_size == 1.0
    assert isinstance(ctx.contract_size, float)
    assert MarketContext(contract_size=np.float32(0.5)).contract_size == 0.5
    with pytest.raises(InputError, match="contract_size must be a finite number > 0"):
        MarketContext(contract_size=True)
    with pytest.raises(InputError, match="contract_kind must be linear, inverse or None"):
        MarketContext(contract_kind="quanto")


def test_reason_names_the_tier_and_its_own_leverage_at_a_bracket_boundary() -> None:
    """Binance BTCUSDT (docs 1.4: bracket 7 from 100,000,000 at 10x, bracket 6 at 20x below):
    1e7 of equity at 10x sits on bracket 7's floor; the reason read "tier 7 allows 20x"."""
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT")
    d = TierCap().decide(SizingState(equity=1e7, price=60_000.0, context=ctx))
    assert d.target_leverage == 10.0
    assert d.reasons == ("tier 7 allows 10x at notional 100,000,000.00",)


CAPPED = TierTable.from_rows(
    [
        {"notional_floor": 0, "notional_cap": 1e6, "mmr": 0.01, "max_leverage": 20},
        {"notional_floor": 1e6, "notional_cap": 5e6, "mmr": 0.05, "max_leverage": 2},
    ]
)


def test_the_last_tiers_cap_is_the_largest_position() -> None:
    """Binance's last ``notionalCap`` (BTCUSDT 1,800,000,000 at 1x) is the largest position: on
    1e7 equity the 2x bracket ending at 5e6 allows 0.5x, not 2x (20,000,000; TierCap used the
    maintenance lookup's infinite last cap).  Without a published cap the last bracket extends."""
    assert CAPPED.max_position == 5e6
    assert math.isinf(CAPPED.caps[-1])  # the maintenance margin keeps the last rate beyond it
    d = TierCap().decide(_state(1e7, CAPPED))
    assert d.target_leverage == pytest.approx(0.5, rel=1e-9)
    assert d.target_leverage <= 0.5
    assert "largest position" in d.reasons[0]
    path = TierCap(context=MarketContext(tiers=CAPPED)).leverage_path(SeriesInputs(np.zeros(1), equity=np.array([1e7])))
    assert path[0] == d.target_leverage
    assert TierCap().decide(_state(1e6, CAPPED)).target_leverage == pytest.approx(2.0, rel=1e-9)
    assert math.isinf(TABLE.max_position)
    assert TierCap().decide(_state(1e9)).target_leverage == 5.0
