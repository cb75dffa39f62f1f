"""PortfolioCap's single-instrument path keeps its per-asset and per-venue promises."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.core.sizing.base import MarketContext, SeriesInputs
from levguard.sizing import Composite, FixedLeverage, PortfolioCap, VolatilityTarget

INPUTS = SeriesInputs(np.zeros(4))
BTC_BINANCE = MarketContext(venue="binance-usdm", symbol="BTCUSDT")


@pytest.mark.parametrize(
    ("cap", "bound", "binding"),
    [
        (PortfolioCap(10.0), 10.0, "max_gross_leverage"),
        (PortfolioCap(10.0, max_net_leverage=4.0), 4.0, "max_net_leverage"),
        (PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0, "ETHUSDT": 1.0}), 2.0, "per_asset:BTCUSDT"),
        (PortfolioCap(10.0, per_asset={"ETHUSDT": 1.0}), 10.0, "max_gross_leverage"),
        (PortfolioCap(10.0, per_venue=0.3), 3.0, "per_venue:binance-usdm"),
        (PortfolioCap(10.0, per_venue={"binance-usdm": 0.25, "bybit-linear": 0.1}), 2.5, "per_venue:binance-usdm"),
    ],
)
def test_the_path_applies_the_instruments_limits(cap: PortfolioCap, bound: float, binding: str) -> None:
    """The path was min(gross, net) whatever per_asset and per_venue said."""
    assert cap.single_bound("BTCUSDT", "binance-usdm") == (bound, binding)
    ctx_cap = PortfolioCap(
        cap.max_gross_leverage, cap.max_net_leverage, cap.per_asset, cap.per_venue, context=BTC_BINANCE
    )
    assert np.all(ctx_cap.leverage_path(INPUTS) == bound)


def test_without_a_symbol_or_venue_the_tightest_limits_apply() -> None:
    cap = PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0, "ETHUSDT": 1.5}, per_venue={"bybit": 0.4})
    assert cap.single_bound() == (1.5, "per_asset:ETHUSDT")
    # The path without a context reads MarketContext()'s instrument, as decide on a state without one.
    assert np.all(cap.leverage_path(INPUTS) == 2.0)
    assert PortfolioCap(10.0, per_venue={"bybit": 0.1}).single_bound() == (1.0, "per_venue:bybit")


def test_a_composite_path_of_an_integer_fixed_leverage_is_float() -> None:
    """FixedLeverage(5)'s path was int64 and np.minimum into it raised a casting error."""
    vt = VolatilityTarget(0.5)
    inputs = SeriesInputs(np.zeros(4), vol_forecast=np.full(4, 0.25))
    path = Composite(FixedLeverage(5), vt).leverage_path(inputs)
    assert path.dtype == np.float64
    assert np.all(path == 2.0)
    assert np.all(Composite(FixedLeverage(5), PortfolioCap(10.0, per_venue=0.3)).leverage_path(inputs) == 3.0)
