"""Bad multi-instrument input raises InputError naming the thing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from multi_helpers import PERP, SPOT, random_frame

from levguard.backtest.engine import run
from levguard.backtest.strategies import FundingCarry
from levguard.core.sizing.base import FixedLeverage
from levguard.core.sizing.policies import DrawdownControl
from levguard.core.sizing.regime import RegimeSwitch
from levguard.core.tiers import TierTable
from levguard.errors import InputError

N = 60
A = random_frame(n=N, seed=71)
B = random_frame(n=N, seed=72, start=2_000.0)
INV_TIERS = TierTable.from_rows([{"notional_floor": 0, "notional_cap": None, "mmr": 0.005, "max_leverage": 100}])


def _args(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"data": {"BTCUSDT": A, "ETHUSDT": B}, "strategy": np.ones(N), "policy": 2.0}
    args.update(kw)
    return args


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"data": {"BTCUSDT": A, "ETHUSDT": B.iloc[1:]}}, "ETHUSDT"),
        ({"data": {"BTCUSDT": A, "ETHUSDT": B.iloc[1:]}}, "same bar index"),
        ({"spot": ("SOLUSDT",)}, "spot"),
        ({"spot": ("SOLUSDT",)}, "SOLUSDT"),
        ({"weights": {"BTCUSDT": 0.7, "ETHUSDT": 0.5}}, "weights"),
        ({"weights": {"BTCUSDT": 1.0}}, "weights"),
        ({"weights": {"BTCUSDT": 0.5, "ETHUSDT": 0.5, "XRPUSDT": 0.0}}, "XRPUSDT"),
        (
            {
                "data": {"BTCUSD_PERP": A, "ETHUSD_PERP": B},
                "venue": "binance-coinm",
                "tiers": INV_TIERS,
            },
            "settle in different currencies",
        ),
        (
            {
                "policy": RegimeSwitch(
                    {"calm": DrawdownControl(max_drawdown=0.2, base_leverage=3.0), "stress": FixedLeverage(1.0)},
                    lookback=60,
                    vol_window=5,
                    min_obs=10,
                )
            },
            "DrawdownControl",
        ),
        ({"strategy": {"BTCUSDT": np.ones(N)}}, "ETHUSDT"),
        ({"symbol": "BTCUSDT"}, "symbol"),
    ],
)
def test_bad_multi_input_names_the_thing(kwargs: dict[str, Any], needle: str) -> None:
    args = _args(**kwargs)
    with pytest.raises(InputError, match=needle):
        run(args.pop("data"), args.pop("strategy"), args.pop("policy"), **args)


def test_funding_carry_without_funding_column_names_it() -> None:
    frames = {PERP: A.drop(columns="funding_rate"), SPOT: B}
    with pytest.raises(InputError, match="funding_rate"):
        run(frames, FundingCarry(PERP, SPOT), 1.0, spot=(SPOT,), margin_mode="cross")


def test_funding_carry_with_unknown_symbol_names_it() -> None:
    frames = {PERP: A, SPOT: B}
    with pytest.raises(InputError, match="ETHUSDT-SPOT"):
        run(frames, FundingCarry(PERP, "ETHUSDT-SPOT"), 1.0, spot=(SPOT,), margin_mode="cross")
