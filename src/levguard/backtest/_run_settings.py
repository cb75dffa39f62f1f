"""The run settings a sweep varies (:data:`RUN_PARAMS`): the grid's checks and how each
setting is written into a configuration's kernel records (:func:`levguard.backtest.sweeps.sweep`
and :func:`levguard.backtest.sweeps.walk_forward`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from levguard.backtest._inputs import _cooldown_bars, _fees, _fraction, _liquidation_fee_rate, _slippage
from levguard.core.rules import get_venue
from levguard.core.rules.base import LiquidationRule
from levguard.core.sizing.policies import Rebalancer
from levguard.core.validate import number, show
from levguard.errors import InputError
from levguard.kernels.backtest_records import ContractKind, MarginMode

__all__ = ["RUN_PARAMS", "check_run_setting"]

# Run settings a sweep may vary, and the kernel record field each sets (``cfg``: a
# CONFIG_DTYPE field; ``inst``: an INST_DTYPE field of every instrument).
RUN_PARAMS: dict[str, tuple[str, str]] = {
    "stop_loss": ("cfg", "stop_loss"),
    "take_profit": ("cfg", "take_profit"),
    "cooldown_bars": ("cfg", "cooldown"),
    "band": ("cfg", "band"),
    "min_trade": ("cfg", "min_trade"),
    "max_step": ("cfg", "max_step"),
    "slip_bps": ("cfg", "slip_bps"),
    "impact": ("cfg", "impact"),
    "limit_offset_bps": ("cfg", "limit_offset"),
    "margin_mode": ("cfg", "margin_mode"),
    "taker_fee": ("inst", "taker"),
    "maker_fee": ("inst", "maker"),
    "liquidation_fee_rate": ("inst", "liq_fee"),
}


def _grid(grid: Mapping[str, Sequence[Any]], what: str) -> list[dict[str, Any]]:
    keys = list(grid)
    values = []
    for k in keys:
        v = grid[k]
        if isinstance(v, str) or not isinstance(v, Sequence | np.ndarray) or len(v) == 0:
            raise InputError(f"{what}: grid values of {k!r} must be a non-empty list, was {v!r}")
        values.append(list(v))
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def check_run_setting(key: str, value: object) -> None:
    """Check one value of a swept run setting as :func:`~levguard.backtest.engine.run` checks it.

    The validators are run()'s own: :class:`~levguard.core.sizing.policies.Rebalancer` for
    ``band``, ``min_trade`` and ``max_step``, the slippage, fee, stop and cooldown checks of
    :func:`~levguard.backtest.engine.prepare` for the others.

    Raises
    ------
    InputError
        ``key`` is not a run setting (:data:`RUN_PARAMS`), or ``value`` is one run() refuses
        (``band: 2.0``, ``max_step: 0``, ``impact: 100``, ``cooldown_bars: 2.5`` or ``1e20``...);
        the message names the setting and the value.
    """
    if key not in RUN_PARAMS:
        raise InputError(f"{key!r} is not a run setting; sweepable: {sorted(RUN_PARAMS)}")
    if key == "margin_mode":
        if value not in ("isolated", "cross"):
            raise InputError(f"margin_mode must be 'isolated' or 'cross', was {show(value)}")
        return
    if key == "cooldown_bars":
        _cooldown_bars(value)
        return
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):  # None: run's default
        raise InputError(f"{key} must be a number, was {show(value)}")
    x = number(value, key)
    if key in ("band", "min_trade", "max_step"):
        Rebalancer(**{key: x})
    elif key in ("stop_loss", "take_profit", "limit_offset_bps"):
        _fraction(x, key, {"stop_loss": 1.0, "take_profit": math.inf, "limit_offset_bps": 10_000.0}[key])
    elif key in ("slip_bps", "impact"):
        _slippage({"bps" if key == "slip_bps" else "impact": x})
    elif key in ("taker_fee", "maker_fee"):
        _fees({"taker": 0.0, key.removesuffix("_fee"): x}, 0.0)
    else:
        _liquidation_fee_rate(x)


def _run_grid(grid: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    if grid is not None and not isinstance(grid, Mapping):  # iterating object() was a raw TypeError
        raise InputError(f"grid must map run settings to lists of values, was {type(grid).__name__} {show(grid)}")
    if not grid:
        return [{}]
    unknown = set(grid) - set(RUN_PARAMS)
    if unknown:
        raise InputError(f"grid: unknown run settings {sorted(unknown)}; sweepable: {sorted(RUN_PARAMS)}")
    combos = _grid(grid, "grid")
    # Each value once, by run()'s own validators: the kernel read cooldown_bars 2.5 as 2, band 2.0
    # as a band wider than the target, and 1e20 bars raised OverflowError.
    for key, values in grid.items():
        for value in values:
            try:
                check_run_setting(key, value)
            except InputError as exc:
                raise InputError(f"grid: {key} = {show(value)}: {exc}") from None
    return combos


def _apply_run(cfg: np.void, inst: npt.NDArray[np.void], combo: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    # ``params``: the set-up's resolved settings (venue, whether a liquidation fee was given).
    for key, value in combo.items():
        where, name = RUN_PARAMS[key]
        if key == "margin_mode":
            cfg[name] = MarginMode.ISOLATED if value == "isolated" else MarginMode.CROSS
        elif key == "limit_offset_bps":
            cfg[name] = float(value) * 1e-4
        elif key == "cooldown_bars":
            cfg[name] = int(value)
        elif where == "cfg":
            cfg[name] = float(value)
        else:
            inst[name] = float(value)
            if key == "taker_fee":
                _taker_terms(inst, float(value), combo, params)


def _taker_terms(inst: npt.NDArray[np.void], taker: float, combo: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    # The terms the venue derives from the taker fee (prepare's): its fee in the maintenance and
    # initial margins (OKX, Gate), its close fee at the bankruptcy price (Bybit inverse, cross),
    # the liquidation fee unless one is given (the taker itself, or Deribit's fee on top of it),
    # and the maker fee unless one is given (run(fees=x) and fees={"taker": x} set maker = taker).
    # A sweep from a taker of 0 set none of them, and a swept taker left the limit orders' maker
    # fee at the set-up's.
    if "maker_fee" not in combo and not params.get("maker_fee_given", False):
        inst["maker"] = taker
    model = get_venue(str(params["venue"]))
    futures = inst["kind"] != ContractKind.SPOT
    in_mm, in_im = model.margin_fees(taker)
    inst["fee_in_mm"] = np.where(futures, in_mm, 0.0)
    inst["fee_in_im"] = np.where(futures, in_im, 0.0)
    inst["close_fee"] = np.where(futures, model.cross_close_fee(taker), 0.0)
    if "liquidation_fee_rate" not in combo and not params.get("liquidation_fee_given", False):
        # The run's rule (``liquidation=`` may name another venue's), not the venue's own.
        rule = LiquidationRule(**params["liquidation"]) if "liquidation" in params else model.liquidation
        inst["liq_fee"] = rule.resolved_fee(taker)
