"""Callers freeze kernel inputs, so a kernel compiles once whoever calls it.

numba types a read-only array (a frame's view under pandas copy-on-write, a frozen population)
apart from a writable one, and an int apart from a float: the same call with either would compile
and cache a second machine-code version, paid by the first command or test that makes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.metrics import compute_metrics
from levguard.cascade.population import liquidatable_mask
from levguard.kernels import NUMBA_DISABLED, readonly
from levguard.kernels import backtest_metrics as km
from levguard.kernels import margin as kmargin
from levguard.margin import isolated_margin_arrays

pytestmark = pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: no compiled signatures")


def _signatures(kernel: Any) -> set[str]:
    return {str(s) for s in kernel.signatures}


def _one_signature(kernel: Any, calls: list[Callable[[], object]]) -> None:
    calls[0]()
    first = _signatures(kernel)
    for call in calls[1:]:
        call()
        assert _signatures(kernel) == first


def test_readonly_is_a_view_that_cannot_be_written() -> None:
    a = np.arange(4.0)
    v = readonly(a)
    assert np.shares_memory(a, v)
    assert a.flags.writeable
    assert not v.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        v[0] = 1.0


def test_metrics_from_a_frame_and_from_fresh_arrays() -> None:
    n = 500
    equity = 10_000.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0.0, 0.01, n)))
    frame = pd.DataFrame({"equity": equity, "lev": 2.0, "fees": 0.0, "funding": 0.0})
    kw: dict[str, Any] = {"traded_notional": 1e5, "n_liquidations": 0}
    _one_signature(
        km.metrics_nb,
        [
            lambda: compute_metrics(
                equity, 10_000.0, 8760.0, leverage=np.full(n, 2.0), fees=np.zeros(n), funding=np.zeros(n), **kw
            ),
            lambda: compute_metrics(
                frame["equity"].to_numpy(),
                10_000.0,
                8760.0,
                leverage=frame["lev"].to_numpy(),
                fees=readonly(np.zeros(n)),
                funding=frame["funding"].to_numpy(),
                **kw,
            ),
        ],
    )


def test_margin_arrays_and_the_population_check_share_the_kernel() -> None:
    q = np.array([0.5, -2.0, 1.0])
    entry = np.array([60_000.0, 3_000.0, 100.0])
    margin = np.array([3_000.0, 600.0, 10.0])
    tiers = [
        {"notional_cap": 50_000.0, "mmr": 0.004, "max_leverage": 125},
        {"notional_cap": "inf", "mmr": 0.005, "max_leverage": 100},
    ]
    _one_signature(
        kmargin.isolated_linear_nb,
        [
            lambda: isolated_margin_arrays(q, entry, margin, tiers),
            lambda: isolated_margin_arrays(readonly(q), readonly(entry), readonly(margin), tiers, mark_price=59_000),
            lambda: liquidatable_mask(np.sign(q), np.abs(q), entry, margin, price=58_000.0, mmr=0.005),
        ],
    )
