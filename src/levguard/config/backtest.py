"""Backtest configuration (``levguard backtest CONFIG.yaml``), validated by pydantic.

Example::

    data: {source: default}              # or {source: file, path: btc_1h.csv, mark: mark_1h.csv, funding: f.csv}
                                         # or {source: synth, years: 3, interval: 1h, seed: 7}
    strategy: {type: buy_and_hold}       # ema_crossover | ts_momentum | zscore
    policies:
      fixed 3x: {type: fixed, leverage: 3}
      vol target: {type: vol_target, target_vol: 0.6, max_leverage: 5}
    venue: binance-usdm
    symbol: BTCUSDT
    fees: {taker: 0.0005}
    slippage: {bps: 1.0, impact: 0.1}
    initial_equity: 10000
    rebalance: band                      # or never
    output: {report: backtest.html}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from levguard.config.policies import PolicyConfig, _format_error
from levguard.errors import ConfigError, InputError

__all__ = ["BacktestFile", "load_backtest_file"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DefaultData(_Model):
    source: Literal["default"]


class SynthData(_Model):
    source: Literal["synth"]
    years: Annotated[float, Field(gt=0, le=100)] = 3.0
    interval: str = "1h"
    seed: int = 7


class FileData(_Model):
    source: Literal["file"]
    path: str
    mark: str | None = None
    funding: str | None = None


class BuyAndHoldConfig(_Model):
    type: Literal["buy_and_hold"]


class EmaConfig(_Model):
    type: Literal["ema_crossover"]
    fast: Annotated[int, Field(ge=1)] = 20
    slow: Annotated[int, Field(ge=2)] = 100
    long_only: bool = False


class MomentumConfig(_Model):
    type: Literal["ts_momentum"]
    lookback: Annotated[int, Field(ge=1)] = 720
    long_only: bool = False


class ZScoreConfig(_Model):
    type: Literal["zscore"]
    window: Annotated[int, Field(ge=2)] = 168
    entry: Annotated[float, Field(gt=0)] = 2.0
    exit: Annotated[float, Field(ge=0)] = 0.5


class Fees(_Model):
    taker: Annotated[float, Field(ge=0, lt=0.1)] = 0.0005
    liquidation: Annotated[float, Field(ge=0, lt=0.1)] | None = None


class Slippage(_Model):
    bps: Annotated[float, Field(ge=0)] = 0.0
    impact: Annotated[float, Field(ge=0)] = 0.0


class Output(_Model):
    report: str | None = "backtest.html"
    json_path: str | None = Field(default=None, alias="json")


class BacktestFile(_Model):
    """A backtest file: data, strategy, named policies, venue and costs."""

    data: Annotated[DefaultData | SynthData | FileData, Field(discriminator="source")] = DefaultData(source="default")
    strategy: Annotated[BuyAndHoldConfig | EmaConfig | MomentumConfig | ZScoreConfig, Field(discriminator="type")] = (
        BuyAndHoldConfig(type="buy_and_hold")
    )
    policies: Annotated[dict[str, PolicyConfig], Field(min_length=1)]
    venue: str = "binance-usdm"
    symbol: str = "BTCUSDT"
    margin_mode: Literal["isolated", "cross"] = "isolated"
    fees: Fees = Fees()
    slippage: Slippage = Slippage()
    initial_equity: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10_000.0
    rebalance: Literal["band", "never"] = "band"
    cooldown_bars: Annotated[int, Field(ge=0)] = 0
    output: Output = Output()


def load_backtest_file(path: str | Path) -> BacktestFile:
    """Read and validate a YAML/JSON backtest file; errors name the key path and the value."""
    from pydantic import ValidationError

    from levguard._io import load_spec

    try:
        raw = load_spec(path)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be an object, was {type(raw).__name__}")
    try:
        return BacktestFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, str(path))) from None
