"""A backtest does not depend on the price scale: a coin priced 1e-6 of another (SHIB beside a
renamed XRP, quantities 1e6 times larger) trades the same notionals, is clipped and liquidated
the same, and ends with the same equity.  A hunt (2026-12-07) found ``orders_clipped`` 581 on
FOOUSDT and 582 on the same coin at 1e-6: an order at the initial-margin limit within rounding
was counted as a clip at one scale and not the other (the limit is now compared within 1e-12
relative, as tier caps are in ``kernels.margin``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import random_frame

from levguard.backtest.engine import run
from levguard.core.tiers import TierTable

ROWS = [
    {"notional_floor": 0, "notional_cap": 50_000, "mmr": 0.01, "max_leverage": 20},
    {"notional_floor": 50_000, "notional_cap": 250_000, "mmr": 0.025, "max_leverage": 10},
    {"notional_floor": 250_000, "notional_cap": None, "mmr": 0.05, "max_leverage": 5},
]


def _scaled(df: pd.DataFrame, k: float) -> pd.DataFrame:
    out = df.copy()
    out[["open", "high", "low", "close"]] *= k
    out["volume"] /= k
    return out


@pytest.mark.parametrize("seed", range(4))
def test_a_backtest_at_a_millionth_of_the_price_is_the_same_backtest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = random_frame(n=400, seed=seed, sigma=0.01)
    directions = np.sign(np.sin(np.arange(len(df)) / rng.uniform(5.0, 30.0)))
    kw = {"venue": "binance-usdm", "symbol": "FOOUSDT", "tiers": TierTable.from_rows(ROWS),
          "fees": 0.0005, "initial_equity": 100_000.0, "margin_mode": "cross",
          "execution": "limit", "limit_offset_bps": 5.0}  # fmt: skip
    a = run(df, directions, 15.0, **kw)  # type: ignore[arg-type]
    b = run(_scaled(df, 1e-6), directions, 15.0, **kw)  # type: ignore[arg-type]
    assert a.metrics["orders_clipped"] == b.metrics["orders_clipped"]
    assert len(a.trades) == len(b.trades)
    assert len(a.liquidations) == len(b.liquidations)
    np.testing.assert_allclose(b.trades["qty"].to_numpy() * 1e-6, a.trades["qty"].to_numpy(), rtol=1e-9)
    assert b.equity.iloc[-1] == pytest.approx(a.equity.iloc[-1], rel=1e-9)


BINANCE_ROWS = [  # Binance's first three USD-M brackets of a mid-cap (notionalCap, cum)
    {"notional_floor": 0, "notional_cap": 10_000, "mmr": 0.005, "max_leverage": 75},
    {"notional_floor": 10_000, "notional_cap": 100_000, "mmr": 0.01, "max_leverage": 50},
    {"notional_floor": 100_000, "notional_cap": 1_000_000, "mmr": 0.02, "max_leverage": 25},
]


@pytest.mark.shared_data
def test_xrp_at_a_millionth_of_its_price_clips_the_same_orders(shared_dir: Path) -> None:
    from levguard.backtest import EmaCrossover
    from levguard.data.loaders import load_funding, load_ohlcv
    from levguard.data.perp import perp_frame

    data = shared_dir / "data"
    span = slice("2021-06-01", "2024-06-01")
    df = perp_frame(
        load_ohlcv(data / "ohlcv/XRPUSDT-PERP_1h.csv").loc[span],
        load_ohlcv(data / "ohlcv/XRPUSDT-MARK_1h.csv").loc[span],
        load_funding(data / "funding/XRPUSDT_funding.csv"),
    )
    tiny = df.copy()
    prices = [c for c in df.columns if c.split("_")[-1] in ("open", "high", "low", "close")]
    tiny[prices] *= 1e-6
    tiny["volume"] /= 1e-6
    kw = {"venue": "binance-usdm", "symbol": "XRPUSDT", "tiers": TierTable.from_rows(BINANCE_ROWS),
          "fees": 0.0005, "slippage": (1.0, 0.1), "initial_equity": 100_000.0, "execution": "limit",
          "limit_offset_bps": 5.0, "margin_mode": "cross"}  # fmt: skip
    a = run(df, EmaCrossover(fast=24, slow=240), 10.0, **kw)  # type: ignore[arg-type]
    b = run(tiny, EmaCrossover(fast=24, slow=240), 10.0, **kw)  # type: ignore[arg-type]
    assert a.metrics["orders_clipped"] > 100  # the initial-margin limit binds often
    assert a.metrics["orders_clipped"] == b.metrics["orders_clipped"]
    assert len(a.trades) == len(b.trades)
    assert b.equity.iloc[-1] == pytest.approx(a.equity.iloc[-1], rel=1e-9)
