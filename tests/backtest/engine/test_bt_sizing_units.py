"""The backtester's sizing inputs: min_trade in USD on inverse accounts, a given-mu Kelly refused,
a portfolio cap's per-asset and per-venue limits on the run's instrument."""

from __future__ import annotations

import numpy as np
import pytest
from bt_engine_helpers import random_frame

from levguard.backtest import run
from levguard.backtest.strategies import BuyAndHold
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.sizing import Composite, FixedLeverage, Kelly, PortfolioCap, Rebalancer, RegimeSwitch, VolatilityTarget

TIERS = TierTable.from_max_leverage([(0, 100)])


def _inverse(min_trade: float) -> object:
    return run(
        random_frame(400),
        BuyAndHold(),
        FixedLeverage(3.0),
        venue="bybit-inverse",
        symbol="BTCUSD",
        initial_equity=1.0,
        tiers=TIERS,
        min_notional=0.0,
        rebalance=Rebalancer(min_trade=min_trade),
    )


def test_min_trade_is_usd_on_an_inverse_account() -> None:
    """1 BTC (~30,000 USD) at 3x, min_trade 100 USD: the trades of 100 USD or more go through.
    It was compared with the coin equity (|dL| x 1 BTC < 100 always): one trade in 400 bars."""
    free = _inverse(0.0).trades
    sized = _inverse(100.0).trades
    small = np.abs(free["qty"].to_numpy()[1:]) < 100.0  # inverse qty: USD
    assert small.any()
    assert (~small).any()
    assert len(sized) > 100
    assert np.all(np.abs(sized["qty"].to_numpy()[1:]) >= 100.0 * (1 - 1e-9))


@pytest.mark.parametrize(
    "policy",
    [
        Kelly(),
        Composite(VolatilityTarget(0.5), Kelly(fraction=0.25)),
        RegimeSwitch(policies={"calm": FixedLeverage(2.0), "stress": Kelly()}),
    ],
    ids=["kelly", "composite", "regime"],
)
def test_a_given_mu_kelly_is_refused_not_sized_at_zero(policy: object) -> None:
    """The backtester has no mu_forecast to give: the run sized 0x at every bar (no trade)."""
    with pytest.raises(InputError, match=r"mu_estimator 'given'.*needs a mu_forecast.*ewma_mean"):
        run(random_frame(200), BuyAndHold(), policy, symbol="BTCUSDT")


def test_an_estimated_mu_kelly_still_runs() -> None:
    res = run(random_frame(200), BuyAndHold(), Kelly(mu_estimator="ewma_mean"), symbol="BTCUSDT")
    assert len(res.positions) == 200


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        (PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0}), 2.0),
        (PortfolioCap(10.0, per_asset={"ETHUSDT": 1.0}), 5.0),
        (PortfolioCap(10.0, per_venue=0.3), 3.0),
        (PortfolioCap(10.0, per_venue={"binance-usdm": 0.3}), 3.0),
        (PortfolioCap(10.0, per_venue={"bybit-linear": 0.1}), 5.0),
    ],
)
def test_a_portfolio_caps_limits_bound_the_runs_instrument(cap: PortfolioCap, expected: float) -> None:
    """The path was min(gross, net): 5x for BTCUSDT under a 2x per-asset limit."""
    res = run(random_frame(200), BuyAndHold(), Composite(FixedLeverage(5), cap), symbol="BTCUSDT")
    assert float(res.positions["target_leverage"].max()) == pytest.approx(expected)
