"""Arguments of :func:`levguard.risk.var.portfolio_var` and :func:`~levguard.risk.var.var_backtest`, checked.

Each function normalises one argument (an account, a return history, a volatility, a correlation,
funding rates) to what the VaR code computes with, or raises :class:`~levguard.errors.InputError`
naming the value.  Return histories are **daily log returns** (fractions); a dated index must run
forward with one row per day (the check :func:`levguard.risk.vol.realized_vol` and
:func:`levguard.risk.garch.fit_garch` make), and bools and strings are refused as numbers are
expected, whether given as a pandas object, an array or a list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.positions import Account
from levguard.core.risk.portfolio import OptionPosition
from levguard.core.spec import account_from_spec
from levguard.core.symbols import base_asset, symbol_key
from levguard.core.validate import finite_number, float_values, no_bools_or_strings, number, show
from levguard.errors import InputError
from levguard.margin import load_spec
from levguard.risk.vol import _time_ordered
from levguard.typing import Float64Array, Float64Array1D

__all__ = [
    "account_of",
    "check_seed",
    "correlation_matrix",
    "daily_vols",
    "funding_map",
    "returns_matrix",
    "returns_series",
    "underlyings",
    "whole_days",
]


def account_of(account: Mapping[str, Any] | Account | str | Path) -> Account:
    """Return the Account of a spec dict, a JSON/YAML file of one, or an Account."""
    if isinstance(account, Account):
        return account
    if isinstance(account, str | Path):
        spec = load_spec(account)
        if not isinstance(spec, Mapping):
            raise InputError(f"file {str(account)!r} must hold an account spec object")
        return account_from_spec(spec)
    if isinstance(account, Mapping):
        return account_from_spec(account)
    raise InputError(f"account must be a spec dict, a file path or an Account, was {type(account).__name__}")


def check_seed(seed: object) -> int | None:
    """Return ``seed`` as an int (or None), a whole number from 0 to 2**63 - 1."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63):
        raise InputError(f"seed must be a whole number from 0 to 2**63 - 1, was {show(seed)}")
    return None if seed is None else int(seed)


def underlyings(account: Account, options: Sequence[OptionPosition]) -> list[str]:
    """Return the underlyings (base assets) of the perpetuals, then the options, each once."""
    keys: list[str] = []
    for p in account.positions:
        k = base_asset(p.symbol)
        if k not in keys:
            keys.append(k)
    for o in options:
        if o.underlying_key not in keys:
            keys.append(o.underlying_key)
    if not keys:
        raise InputError("the portfolio is empty: no positions and no options")
    return keys


def _pandas_numbers(returns: pd.Series | pd.DataFrame) -> None:
    # The checks an array gets from float_values, for a pandas input: numbers only (pandas'
    # astype reads True as 1.0 and "0.01" as 0.01) on a forward-running dated index.
    _time_ordered(returns.index, "returns")
    if isinstance(returns, pd.Series):
        no_bools_or_strings(returns, "returns")
        return
    for c in returns.columns.unique():
        no_bools_or_strings(returns[c], f"returns[{c!r}]")


def returns_matrix(returns: object, keys: Sequence[str]) -> tuple[Float64Array, pd.Index | None]:
    """Align daily log returns to the underlyings: (T, k) array without NaN rows, and its index.

    A Series serves one underlying; a DataFrame's columns are matched by symbol or base asset
    (``"BTC"`` or ``"BTCUSDT"``); an array is (T, k) in the order of ``keys``.
    """
    if isinstance(returns, pd.Series | pd.DataFrame):
        _pandas_numbers(returns)
    if isinstance(returns, pd.Series):
        if len(keys) != 1:
            raise InputError(f"returns is one Series but the portfolio has underlyings {list(keys)}; pass a DataFrame")
        frame = returns.to_frame(keys[0])
    elif isinstance(returns, pd.DataFrame):
        cols: dict[str, Any] = {}
        for c in returns.columns:
            for k in (symbol_key(str(c)), base_asset(str(c))):
                if k in keys and k not in cols:
                    cols[k] = c
                    break
        missing = [k for k in keys if k not in cols]
        if missing:
            raise InputError(f"returns has no column for {missing}; columns are {list(returns.columns)}")
        frame = pd.DataFrame({k: returns[cols[k]] for k in keys})
    else:
        arr = float_values(returns, "returns")
        if arr.ndim == 1 and len(keys) == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != len(keys):
            raise InputError(f"returns must be shape (T, {len(keys)}) for underlyings {list(keys)}, was {arr.shape}")
        frame = pd.DataFrame(arr, columns=list(keys))
    try:
        frame = frame.astype(np.float64).dropna()
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"returns must hold numbers (daily log returns), was {show(returns)}") from None
    values = frame.to_numpy(dtype=np.float64)
    if values.shape[0] < 2:
        raise InputError(f"returns must hold at least 2 complete rows, had {values.shape[0]}")
    if not np.isfinite(values).all():
        raise InputError("returns must be finite")
    index = frame.index if not isinstance(frame.index, pd.RangeIndex) else None
    return values, index


def returns_series(returns: pd.Series | npt.ArrayLike) -> tuple[Float64Array1D, pd.Index]:
    """Return one history of daily returns (NaN dropped, +-inf refused) and its index."""
    if isinstance(returns, pd.DataFrame):
        raise InputError("returns must be one Series of daily returns, was a DataFrame")
    # NaN (a missing day) is dropped; +-inf is refused by its position in the input, as given.
    index: pd.Index
    if isinstance(returns, pd.Series):
        _pandas_numbers(returns)
        try:
            values = np.asarray(returns.astype(np.float64).to_numpy(), dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"returns must hold numbers (daily log returns), was {show(returns)}") from None
        index = returns.index
    else:
        values = float_values(returns, "returns")
        if values.ndim != 1:
            raise InputError(f"returns must be 1-D, was shape {values.shape}")
        index = pd.RangeIndex(values.size)
    inf = np.isinf(values)
    if inf.any():
        i = int(np.argmax(inf))
        at = "" if isinstance(index, pd.RangeIndex) else f" (index {index[i]})"
        raise InputError(f"returns[{i}]{at} must be finite (NaN is dropped), was {values[i].item()!r}")
    keep = ~np.isnan(values)
    return values[keep], index[keep]


def whole_days(horizon_days: float, method: str) -> int:
    """Return a horizon that must be a whole number of days (>= 1) for ``method`` as an int."""
    if isinstance(horizon_days, bool) or abs(horizon_days - round(horizon_days)) > 1e-9 or horizon_days < 1:
        raise InputError(f"horizon_days must be a whole number >= 1 for method {method!r}, was {horizon_days!r}")
    return round(horizon_days)


def daily_vols(keys: Sequence[str], vol: float | Mapping[str, float] | None, R: Float64Array | None) -> Float64Array1D:
    """Return the daily volatility per underlying: ``vol / sqrt(365)``, else the sd of ``R``'s columns."""
    if vol is None:
        if R is None:
            raise InputError("give vol (annualised) or returns (daily log returns) for this method")
        return np.asarray(np.std(R, axis=0, ddof=1), dtype=np.float64)
    if isinstance(vol, Mapping):
        norm = {symbol_key(str(k)): number(v, f"vol[{k!r}]") for k, v in vol.items()}
        missing = [k for k in keys if k not in norm]
        if missing:
            raise InputError(f"vol has no entry for {missing}; keys are {sorted(norm)}")
        annual = np.array([norm[k] for k in keys])
    else:
        annual = np.full(len(keys), number(vol, "vol"))
    if not (np.isfinite(annual).all() and (annual > 0).all()):
        raise InputError(f"vol must be annualised fractions > 0, was {vol!r}")
    out: Float64Array1D = annual / math.sqrt(365.0)
    return out


def correlation_matrix(keys: Sequence[str], R: Float64Array | None, correlation: npt.ArrayLike | None) -> Float64Array:
    """Return the (k, k) correlation of the underlyings: as given, else that of ``R``'s columns."""
    k = len(keys)
    if correlation is not None:
        c = float_values(correlation, "correlation")
        if c.shape != (k, k) or not np.allclose(c, c.T) or not np.allclose(np.diag(c), 1.0):
            raise InputError(f"correlation must be a symmetric ({k}, {k}) matrix with unit diagonal for {list(keys)}")
        return c
    if k == 1:
        return np.ones((1, 1))
    if R is None:
        raise InputError(f"several underlyings {list(keys)}: give returns or a correlation matrix")
    return np.asarray(np.corrcoef(R, rowvar=False), dtype=np.float64)


def funding_map(funding_rate: float | Mapping[str, float] | None, account: Account) -> dict[str, float] | None:
    """Return funding rates per symbol (one number applies to every perpetual of the account)."""
    if funding_rate is None:
        return None
    if isinstance(funding_rate, Mapping):
        return {str(k): finite_number(v, f"funding_rate[{k!r}]") for k, v in funding_rate.items()}
    rate = finite_number(funding_rate, "funding_rate")
    return {p.symbol: rate for p in account.positions}
