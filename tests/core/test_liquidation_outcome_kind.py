"""``liquidation_outcome``'s contract kind defaults to the margin engine's: the venue's own kind
(inverse on Binance COIN-M and Bybit inverse), or the kind the symbol names there.

A linear default on ``binance-coinm`` read a 10,000 USD long at 60,000 on 0.01 BTC as 0.01 BTC
of a linear contract: bankruptcy price 59,999.999999 and an insurance fund change of -3e7.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.instruments import ContractKind
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.core.rules import get_venue, venue_names
from levguard.errors import InputError

INVERSE_ONLY = ("binance-coinm", "bybit-inverse")


@pytest.mark.parametrize("venue", INVERSE_ONLY)
def test_inverse_only_venue_defaults_to_inverse(venue: str) -> None:
    """100 contracts of 100 USD long at 60,000 on 0.01 BTC: 1/BP = 1/60,000 + 0.01/10,000."""
    o = liquidation_outcome(venue, 10_000.0, 60_000.0, 57_000.0, 0.01)
    assert o.bankruptcy_price == pytest.approx(1.0 / (1.0 / 60_000.0 + 0.01 / 10_000.0), rel=1e-12)
    assert o.bankruptcy_price == pytest.approx(56_603.773584905655, rel=1e-12)
    assert o.trading_pnl == pytest.approx(10_000.0 / 60_000.0 - 10_000.0 / 57_000.0, rel=1e-12)
    assert abs(o.insurance_fund) < 0.01  # in BTC; the linear reading gave -3e7
    assert o == liquidation_outcome(venue, 10_000.0, 60_000.0, 57_000.0, 0.01, inverse=True)


def test_explicit_linear_is_the_positions_own_kind_as_in_the_engine() -> None:
    """The engine takes a position's contract_kind on any venue; so does inverse=False."""
    o = liquidation_outcome("binance-coinm", 0.01, 60_000.0, 57_000.0, 100.0, inverse=False)
    assert o.bankruptcy_price == pytest.approx(50_000.0)


def test_symbol_names_the_kind_and_a_foreign_name_is_refused() -> None:
    """BTCUSD_PERP is COIN-M's own kind; BTCUSDT names a linear contract COIN-M does not list."""
    named = liquidation_outcome("binance-coinm", 10_000.0, 60_000.0, 57_000.0, 0.01, symbol="BTCUSD_PERP")
    assert named.bankruptcy_price == pytest.approx(56_603.773584905655, rel=1e-12)
    with pytest.raises(InputError, match="BTCUSDT names a linear contract; binance-coinm"):
        liquidation_outcome("binance-coinm", 10_000.0, 60_000.0, 57_000.0, 0.01, symbol="BTCUSDT")
    given_kind = liquidation_outcome("binance-coinm", 0.01, 60_000.0, 57_000.0, 100.0, symbol="BTCUSDT", inverse=False)
    assert given_kind.bankruptcy_price == pytest.approx(50_000.0)
    with pytest.raises(InputError, match="symbol must be a non-empty string or None"):
        liquidation_outcome("binance-coinm", 10_000.0, 60_000.0, 57_000.0, 0.01, symbol=" ")


def test_linear_venues_and_bare_rules_stay_linear() -> None:
    """binance-usdm and a bare rule: 1 BTC at 60,000 on 1,000 goes bankrupt at 59,000."""
    assert liquidation_outcome("binance-usdm", 1.0, 60_000.0, 57_000.0, 1_000.0).bankruptcy_price == 59_000.0
    rule = get_venue("binance-coinm").liquidation
    assert liquidation_outcome(rule, 1.0, 60_000.0, 57_000.0, 1_000.0).bankruptcy_price == 59_000.0


@settings(max_examples=60, deadline=None)
@given(
    venue=st.sampled_from(sorted(venue_names())),
    notional=st.floats(100.0, 1e6).flatmap(lambda q: st.sampled_from((q, -q))),
    entry=st.floats(1_000.0, 100_000.0),
    move=st.floats(0.5, 1.5),
    margin_frac=st.floats(0.001, 0.5),
)
def test_default_is_the_venues_kind(venue: str, notional: float, entry: float, move: float, margin_frac: float) -> None:
    """On every venue the default equals an explicit inverse = (the venue's kind is inverse).

    Sizes are drawn as USD notionals (a linear contract's quantity in coin, an inverse one's in
    USD): drawn as 1e6 coin, Deribit's size-dependent rate (1 % + 0.005 % per BTC) passed 100 %."""
    model = get_venue(venue)
    inverse = model.kind is ContractKind.INVERSE
    qty = notional if inverse else notional / entry
    margin = margin_frac * abs(notional) / (entry if inverse else 1.0)
    args = (venue, qty, entry, entry * move, margin)
    default = liquidation_outcome(*args)
    explicit = liquidation_outcome(*args, inverse=inverse)
    assert default.bankruptcy_price == explicit.bankruptcy_price
    assert default.kept == explicit.kept or (math.isnan(default.kept) and math.isnan(explicit.kept))
    assert default.insurance_fund == explicit.insurance_fund
