"""The backtester's initial margin at a tier's cap reads the leverage the margin engine reads
(:meth:`levguard.core.tiers.TierTable.leverage_index`): a bracket with a deduction (Binance,
Bybit) keeps its leverage at its cap, a table without one (BitMEX's "< 200 XBT") gives the cap
to the next tier with its maintenance margin.  Clipped to the largest position 2 XBT allows, a
BitMEX backtest opened exactly 200 XBT at the lower limit's 100x: an initial margin of 2 XBT
equal to its 1 % maintenance margin, liquidatable at entry, which ``levguard margin`` refuses
(a review of the margin engine's fix)."""

from __future__ import annotations

import numpy as np
import pytest

import levguard
from levguard.core.tiers import TierTable
from levguard.kernels.backtest_orders import initial_margin, max_notional_for_margin

ROWS = [
    {"notional_floor": 0, "notional_cap": 200, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 200, "notional_cap": None, "mmr": 0.01, "max_leverage": 50},
]
CAPS = np.array([200.0, np.inf])
LEVS = np.array([100.0, 50.0])


def test_a_cap_that_excludes_gives_the_next_tiers_leverage() -> None:
    table = TierTable.from_rows(ROWS, deduction=False)
    assert table.max_leverage(200.0) == 50.0
    assert initial_margin(200.0, CAPS, LEVS, 0.0, True) == pytest.approx(200.0 / 50.0)
    assert initial_margin(200.0, CAPS, LEVS) == pytest.approx(200.0 / 100.0)  # a bracket's cap (Binance)
    assert initial_margin(199.0, CAPS, LEVS, 0.0, True) == pytest.approx(199.0 / 100.0)


def test_the_largest_position_stays_below_an_excluded_cap() -> None:
    n = max_notional_for_margin(2.0, CAPS, LEVS, 0.0, 0.0, True)
    assert n < 200.0
    assert n == pytest.approx(200.0, rel=1e-12)
    assert initial_margin(n, CAPS, LEVS, 0.0, True) == pytest.approx(2.0)
    assert max_notional_for_margin(2.0, CAPS, LEVS) == 200.0  # inclusive: the bracket's cap itself
    # With more margin the next tier's leverage applies from the cap on.
    assert max_notional_for_margin(5.0, CAPS, LEVS, 0.0, 0.0, True) == pytest.approx(250.0)


def test_the_engine_marks_tables_without_a_deduction() -> None:
    from levguard.backtest.engine import prepare
    from levguard.data.synth import SynthConfig, synth_market

    data = synth_market(SynthConfig(years=0.05, seed=1)).ohlcv
    # Same tiers, two venues: Binance reads them with the deduction, BitMEX without.
    rows = [
        {"notional_floor": 0, "notional_cap": 200_000, "mmr": 0.005, "max_leverage": 100},
        {"notional_floor": 200_000, "notional_cap": None, "mmr": 0.01, "max_leverage": 50},
    ]
    binance = prepare(data, np.ones(len(data)), 3.0, venue="binance-usdm", tiers=rows)
    bitmex = prepare(data, np.ones(len(data)), 3.0, venue="bitmex", symbol="XBTUSDT", tiers=rows)
    assert not binance.inst["lev_cap_excl"].any()
    assert bitmex.inst["lev_cap_excl"].all()


def test_the_margin_engine_agrees_at_the_cap() -> None:
    spec = {
        "venue": "bitmex",
        "wallet_balance": 2,
        "positions": [
            {
                "symbol": "XBTUSD",
                "qty": 2_000_000,
                "entry_price": 10_000,
                "mark_price": 10_000,
                "tiers": ROWS,
                "margin_mode": "isolated",
            }
        ],
    }
    p = levguard.evaluate_account(spec).positions[0]
    assert p.initial_margin == pytest.approx(initial_margin(200.0, CAPS, LEVS, 0.0, True))
