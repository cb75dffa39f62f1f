"""``run(frame, ..., symbol=...)`` refuses a symbol of another instrument than the frame's own.

A review (2026-12-07): ``run(eth_frame, ..., symbol="BTCUSDT")`` ran ETH prices under BTCUSDT's
tiers and name without a word (only the CLI compared the config's symbol with the file's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from levguard.backtest import BuyAndHold, run
from levguard.core.sizing.base import FixedLeverage
from levguard.errors import InputError


def _frame(symbol: str | None) -> pd.DataFrame:
    n = 200
    close = 3_000.0 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.004, n)))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    frame = pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close, "volume": 1.0}, index=idx
    )
    if symbol is not None:
        frame.attrs["symbol"] = symbol
    return frame


@pytest.mark.parametrize(
    ("named", "symbol", "why"),
    [
        ("ETHUSDT-PERP", "BTCUSDT", "asset BTC vs ETH"),
        ("BTC-USDT-SWAP", "ETHUSDT", "asset ETH vs BTC"),
        ("BTCUSDC-PERP", "BTCUSDT", "settled in USDT vs USDC"),
        ("BTCUSDT-PERP", "BTCUSD_PERP", "inverse vs linear contract"),
        ("BTCUSDT_241227", "BTCUSDT", "perpetual vs future 27 Dec 2024"),  # basis, no funding
    ],
)
def test_a_symbol_of_another_instrument_than_the_frame_is_refused(named: str, symbol: str, why: str) -> None:
    with pytest.raises(InputError, match=rf"symbol='{symbol}' is not the data's .*\({why}\)"):
        run(_frame(named), BuyAndHold(), FixedLeverage(2.0), symbol=symbol)
    # A mapping's keys are its symbols: the same check for each frame (a review).
    with pytest.raises(InputError, match=rf"symbol='{symbol}' is not the data's .*\({why}\)"):
        run({symbol: _frame(named)}, BuyAndHold(), FixedLeverage(2.0))


@pytest.mark.parametrize(
    ("named", "symbol"), [(None, "BTCUSDT"), ("bars", "BTCUSDT"), ("BTCUSDT-PERP", "BTC/USDT:USDT")]
)
def test_a_frame_without_a_pair_or_of_the_same_contract_runs(named: str | None, symbol: str) -> None:
    res = run(_frame(named), BuyAndHold(), FixedLeverage(2.0), symbol=symbol)
    assert res.params["symbol"] == symbol
