"""PortfolioCap in the backtester: a spot instrument's per-asset and per-venue limits are its own
(it had no context, so the tightest limit of any symbol or venue applied), and per-asset keys
match symbols by contract_key (BTCUSDT, btcusdt and BTC/USDT:USDT are one contract; a dated
future is another), the limit holding the sum of one contract's instruments."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from levguard.backtest import run
from levguard.backtest.strategies import BuyAndHold
from levguard.core.sizing.base import MarketContext, SizingState
from levguard.errors import InputError
from levguard.sizing import Composite, FixedLeverage, PortfolioCap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bt_engine_helpers import random_frame

DF = random_frame(200)


def _target(cap: PortfolioCap, lev: float = 5.0, **kw: object) -> float:
    res = run(DF, BuyAndHold(), Composite(FixedLeverage(lev), cap), **kw)  # type: ignore[arg-type]
    return float(res.positions["target_leverage"].max())


def test_a_spot_instrument_gets_its_own_per_asset_limit() -> None:
    # Spot at most 1x: BTCUSDT's 3x leaves 1x (ETHUSDT's 0.5 applied before).
    cap = PortfolioCap(10.0, per_asset={"BTCUSDT": 3.0, "ETHUSDT": 0.5})
    assert _target(cap, symbol="BTCUSDT", spot=("BTCUSDT",)) == pytest.approx(1.0)
    assert _target(PortfolioCap(10.0, per_asset={"BTCUSDT": 0.5}), symbol="BTCUSDT", spot=("BTCUSDT",)) == 0.5


def test_a_spot_instrument_gets_its_own_venues_limit() -> None:
    # The run's venue is binance-usdm: bybit-linear's 2 % of 10x (0.2x) is another venue's.
    cap = PortfolioCap(10.0, per_venue={"bybit-linear": 0.02})
    assert _target(cap, symbol="BTCUSDT", spot=("BTCUSDT",)) == pytest.approx(1.0)
    own = PortfolioCap(10.0, per_venue={"binance-usdm": 0.05})
    assert _target(own, symbol="BTCUSDT", spot=("BTCUSDT",)) == pytest.approx(0.5)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "BTC/USDT:USDT", "btcusdt"])
def test_per_asset_keys_match_any_spelling_of_the_symbol(symbol: str) -> None:
    assert _target(PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0}), symbol=symbol) == pytest.approx(2.0)
    assert _target(PortfolioCap(10.0, per_asset={"btc/usdt:usdt": 2.0}), symbol=symbol) == pytest.approx(2.0)


def test_decide_and_single_bound_normalise_the_keys() -> None:
    cap = PortfolioCap(10.0, per_asset={"btcusdt": 2.0})
    assert cap.single_bound("BTC/USDT:USDT") == (2.0, "per_asset:BTC/USDT:USDT")
    state = SizingState(equity=1_000.0, exposures={"BTCUSDT": 4_000.0}, context=MarketContext(venue="binance-usdm"))
    decision = cap.decide(state)
    assert decision.binding_constraint == "per_asset:BTCUSDT"
    assert decision.target_leverage == pytest.approx(2.0)


def test_two_keys_of_one_asset_with_different_limits_are_refused() -> None:
    with pytest.raises(InputError, match="same contract"):
        PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0, "btcusdt": 3.0})


def test_a_per_asset_key_of_no_instrument_of_the_run_is_noted() -> None:
    cap = PortfolioCap(10.0, per_asset={"btc/usdt:usdt": 2.0, "ETHUSDT": 0.5})
    res = run(DF, BuyAndHold(), Composite(FixedLeverage(5.0), cap), symbol="BTCUSDT")
    noted = [n for n in res.notes if "per_asset" in n]
    assert noted == ["PortfolioCap per_asset ['ETHUSDT'] match no instrument of the run (BTCUSDT): not applied"]
    only_btc = Composite(FixedLeverage(5.0), PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0}))
    assert not [n for n in run(DF, BuyAndHold(), only_btc, symbol="BTCUSDT").notes if "per_asset" in n]


def test_one_contract_on_two_venues_counts_once_against_its_limit() -> None:
    # 2x of BTCUSDT on Binance and 2x of BTC/USDT:USDT on OKX passed a 2x limit at 4x (a review).
    cap = PortfolioCap(10.0, per_asset={"BTCUSDT": 2.0})
    state = SizingState(
        equity=1_000.0,
        exposures={"BTCUSDT": 2_000.0, "BTC/USDT:USDT": 2_000.0},
        venues={"BTCUSDT": "binance-usdm", "BTC/USDT:USDT": "okx"},
        context=MarketContext(venue="binance-usdm"),
    )
    decision = cap.decide(state)
    assert decision.target_leverage == pytest.approx(2.0)
    assert decision.binding_constraint == "per_asset:BTCUSDT"


def test_a_dated_future_is_its_own_contract() -> None:
    # BTC/USDT:USDT-241227 read as the perpetual's key and refused a cap that worked before.
    cap = PortfolioCap(10.0, per_asset={"BTCUSDT": 3.0, "BTC/USDT:USDT-241227": 1.0})
    assert cap.single_bound("BTCUSDT_241227") == (1.0, "per_asset:BTCUSDT_241227")
    assert cap.single_bound("BTC/USDT:USDT") == (3.0, "per_asset:BTC/USDT:USDT")
