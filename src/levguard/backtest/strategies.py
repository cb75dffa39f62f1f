"""A small, honest set of strategies: each turns bars into a direction per bar.

``signal(frame) -> ndarray`` returns, for every bar ``t``, the direction decided at ``t``'s close
from data up to ``t`` only (+1 long, -1 short, 0 flat); the backtester executes it at the open
of ``t + 1``.  Users may pass their own array or Series of directions instead.  Strategies over
several instruments (:class:`FundingCarry`) offer ``signals(frames) -> DataFrame`` instead: one
column of directions per symbol.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from levguard.core.validate import number, positive_number
from levguard.errors import InputError
from levguard.kernels.strategies import zscore_positions_nb
from levguard.typing import Float64Array1D

__all__ = ["BuyAndHold", "EmaCrossover", "FundingCarry", "Strategy", "TimeSeriesMomentum", "ZScoreMeanReversion"]


def _close(frame: pd.DataFrame) -> pd.Series:
    if "close" not in frame.columns:
        raise InputError(f"data must have a close column, has {list(frame.columns)[:8]}")
    close = frame["close"].astype(np.float64)
    if not (np.isfinite(close.to_numpy()).all() and (close.to_numpy() > 0).all()):
        raise InputError("data close prices must be finite and > 0")
    return close


def _positive_int(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name} must be a positive integer, was {value!r}")
    return value


class Strategy:
    """Base of levguard's strategies (any object with ``name`` and ``signal(frame)`` works)."""

    name = "strategy"

    def signal(self, frame: pd.DataFrame) -> Float64Array1D:  # pragma: no cover - interface
        """Direction per bar decided at each bar's close (+1, -1 or 0)."""
        raise NotImplementedError


@dataclass(frozen=True)
class BuyAndHold(Strategy):
    """Long from the first bar to the last (with a fixed leverage and no rebalancing this is the
    constant-quantity hold users test against a crash)."""

    name: str = "buy_and_hold"

    def signal(self, frame: pd.DataFrame) -> Float64Array1D:
        """+1 at every bar."""
        return np.ones(len(_close(frame)))


@dataclass(frozen=True)
class EmaCrossover(Strategy):
    """Trend following: long when the fast EMA of close is above the slow one, short (or flat with
    ``long_only``) when below.

    Notes
    -----
    ``EMA_t = a x_t + (1 - a) EMA_{t-1}``, ``a = 2 / (span + 1)``, seeded with the first close
    (pandas ``ewm(span, adjust=False)``).  The first ``slow`` bars are flat (warm-up).
    """

    fast: int = 20
    slow: int = 100
    long_only: bool = False
    name: str = "ema_crossover"

    def __post_init__(self) -> None:
        _positive_int(self.fast, "fast")
        _positive_int(self.slow, "slow")
        if self.fast >= self.slow:
            raise InputError(f"fast must be < slow ({self.slow}), was {self.fast}")

    def signal(self, frame: pd.DataFrame) -> Float64Array1D:
        """Sign of ``EMA_fast - EMA_slow``."""
        close = _close(frame)
        diff = (
            close.ewm(span=self.fast, adjust=False).mean() - close.ewm(span=self.slow, adjust=False).mean()
        ).to_numpy()
        out = np.sign(diff)
        if self.long_only:
            out = np.maximum(out, 0.0)
        out[: self.slow] = 0.0
        result: Float64Array1D = out.astype(np.float64)
        return result


@dataclass(frozen=True)
class TimeSeriesMomentum(Strategy):
    """Time-series momentum (Moskowitz, Ooi & Pedersen 2012): the sign of the return over the
    last ``lookback`` bars, ``sign(ln(C_t / C_{t-lookback}))``; flat during warm-up."""

    lookback: int = 24 * 30
    long_only: bool = False
    name: str = "ts_momentum"

    def __post_init__(self) -> None:
        _positive_int(self.lookback, "lookback")

    def signal(self, frame: pd.DataFrame) -> Float64Array1D:
        """Sign of the trailing log return."""
        close = _close(frame).to_numpy()
        out = np.zeros(close.shape[0])
        lb = self.lookback
        if close.shape[0] > lb:
            out[lb:] = np.sign(np.log(close[lb:] / close[:-lb]))
        if self.long_only:
            out = np.maximum(out, 0.0)
        return out


@dataclass(frozen=True)
class ZScoreMeanReversion(Strategy):
    """Mean reversion: fade moves of the close away from its rolling mean.

    Notes
    -----
    ``z_t = (C_t - mean_w(C)) / std_w(C)`` over the last ``window`` closes (up to ``t``); enter
    short at ``z >= entry`` and long at ``z <= -entry``, exit when ``z`` comes back through
    ``exit`` (hysteresis, :func:`levguard.kernels.strategies.zscore_positions_py`).
    """

    window: int = 24 * 7
    entry: float = 2.0
    exit: float = 0.5
    name: str = "zscore_mean_reversion"

    def __post_init__(self) -> None:
        _positive_int(self.window, "window")
        if self.window < 2:
            raise InputError(f"window must be >= 2, was {self.window!r}")
        positive_number(self.entry, "entry")
        if not (math.isfinite(number(self.exit, "exit")) and 0 <= self.exit < self.entry):
            raise InputError(f"exit must be in [0, entry {self.entry}), was {self.exit!r}")

    def signal(self, frame: pd.DataFrame) -> Float64Array1D:
        """Positions from the z-score with entry/exit hysteresis."""
        close = _close(frame)
        roll = close.rolling(self.window, min_periods=self.window)
        std = roll.std(ddof=1).to_numpy()
        z = np.where(std > 0, (close.to_numpy() - roll.mean().to_numpy()) / np.where(std > 0, std, 1.0), np.nan)
        out = np.empty(z.shape[0])
        zscore_positions_nb(np.ascontiguousarray(z, dtype=np.float64), float(self.entry), float(self.exit), out)
        return out


@dataclass(frozen=True)
class FundingCarry:
    """Funding carry: short the perpetual and hold the spot (delta-neutral) while funding pays shorts.

    Parameters
    ----------
    perp : str
        Symbol of the perpetual (its frame needs a ``funding_rate`` column: the rate settled at
        the bar's open time, NaN where none settles).
    spot : str
        Symbol of the spot leg (pass it in ``run(..., spot=(spot,))``).
    window : int
        Number of funding settlements averaged, >= 1 (21 = one week of 8-hourly settlements).
    threshold : float
        Enter when the trailing mean rate exceeds it (a fraction per settlement, e.g. 0.0001
        = 0.01 %); flat otherwise.

    Notes
    -----
    At each bar ``t``: ``m_t`` is the mean of the last ``window`` funding rates settled at bar
    opens up to and including ``t`` (a settlement at ``t``'s open is known at ``t``'s close; no
    look-ahead).  Directions: perp ``-1`` and spot ``+1`` when ``m_t > threshold``, both 0
    otherwise and during the warm-up (fewer than ``window`` settlements known).  With the same
    leverage and weight on both legs the position is delta-neutral and earns
    ``-qty * mark * rate > 0`` per settlement while the rate stays positive.

    This is the cash-and-carry (basis) trade on perpetual swaps: the funding rate is the
    periodic payment that ties the perpetual to the index, paid by longs to shorts when
    positive (Binance, "Introduction to Binance Futures Funding Rates",
    https://www.binance.com/en/support/faq/360033525031: ``funding = position value x rate``
    every 8 hours).  Schmeling, Schrimpf & Todorov (2023), "Crypto carry", BIS Working Paper
    1087, document the size and the crash risk of this carry.  Trailing funding is a forecast
    only: the carry loses when funding turns negative, and the short leg can be liquidated in a
    rally unless its margin is crossed with the spot (``margin_mode="cross"``).
    """

    perp: str
    spot: str
    window: int = 21
    threshold: float = 0.0
    name: str = "funding_carry"

    def __post_init__(self) -> None:
        for field_name in ("perp", "spot"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not value:
                raise InputError(f"{field_name} must be a non-empty symbol string, was {value!r}")
        if self.perp == self.spot:
            raise InputError(f"spot must differ from perp {self.perp!r}, was {self.spot!r}")
        _positive_int(self.window, "window")
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not math.isfinite(self.threshold)
        ):
            raise InputError(f"threshold must be a finite number (rate per settlement), was {self.threshold!r}")

    def signals(self, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Directions per bar and symbol: perp -1 and spot +1 while the trailing funding is above the threshold.

        Parameters
        ----------
        frames : mapping symbol -> DataFrame
            Bars of every instrument on one index; ``frames[perp]`` has ``funding_rate``.

        Returns
        -------
        DataFrame
            Index of the frames, one column per symbol of ``frames`` (other symbols flat), values
            in {-1.0, 0.0, 1.0}.
        """
        if not isinstance(frames, Mapping):
            raise InputError(f"frames must be a mapping symbol -> DataFrame, was {type(frames).__name__}")
        for field_name, sym in (("perp", self.perp), ("spot", self.spot)):
            if sym not in frames:
                raise InputError(f"{field_name}: no frame for symbol {sym!r}; frames have {list(frames)}")
            if not isinstance(frames[sym], pd.DataFrame):
                raise InputError(f"frames[{sym!r}] must be a DataFrame, was {type(frames[sym]).__name__}")
        perp, spot = frames[self.perp], frames[self.spot]
        if not perp.index.equals(spot.index):
            raise InputError(f"frames[{self.spot!r}] must have the index of frames[{self.perp!r}]")
        if "funding_rate" not in perp.columns:
            raise InputError(f"frames[{self.perp!r}] must have a funding_rate column, has {list(perp.columns)[:8]}")
        rate = perp["funding_rate"].astype(np.float64)
        if np.isinf(rate.to_numpy()).any():
            raise InputError(f"frames[{self.perp!r}].funding_rate must be finite or NaN (no settlement)")
        settled = rate.dropna()
        # Mean of the last `window` settlements, carried forward to the bars between settlements.
        trailing = settled.rolling(self.window, min_periods=self.window).mean()
        mean_known = trailing.reindex(perp.index).ffill().to_numpy()
        on = np.where(np.isnan(mean_known), False, mean_known > self.threshold)
        out = pd.DataFrame(0.0, index=perp.index, columns=list(frames))
        out[self.perp] = np.where(on, -1.0, 0.0)
        out[self.spot] = np.where(on, 1.0, 0.0)
        return out
