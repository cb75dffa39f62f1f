"""Bad-input campaign 8: text cells and wrong container types reaching the risk and cascade
functions.

Each case failed before the fix with a raw ValueError or TypeError from NumPy or Python; every
one must now raise a levguard error naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from levguard.core.risk.covariance import covariance_from_returns
from levguard.core.risk.scoring import diebold_mariano, newey_west_variance, reliability_table
from levguard.errors import InputError
from levguard.risk.garch import fit_garch
from levguard.risk.vol import realized_vol


def _bars_with_text_cell() -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=300, freq="h", tz="UTC")
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0.0, 0.01, 300)))
    bars = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close}, index=idx)
    bars = bars.astype(object)
    bars.iloc[5, 3] = "x"
    return bars


BARS = _bars_with_text_cell()

CASES: list[tuple[str, Callable[[], object], str]] = [
    ("realized_vol ewma", lambda: realized_vol(BARS, "ewma"), r"data\['close'\]"),
    ("realized_vol yang_zhang", lambda: realized_vol(BARS, "yang_zhang"), r"data\['close'\]"),
    ("realized_vol series", lambda: realized_vol(BARS["close"], "close_to_close"), "data must be"),
    ("fit_garch frame", lambda: fit_garch(BARS), r"returns\['close'\]"),
    ("fit_garch series", lambda: fit_garch(BARS["close"]), "returns must be"),
    ("diebold_mariano", lambda: diebold_mariano(["a", "b"], [1, 2], 1), "loss_a"),
    ("newey_west_variance", lambda: newey_west_variance(["a"], 1), "x must be"),
    ("reliability_table edges text", lambda: reliability_table([0.1], [0], edges=["a", 1]), "edges must"),
    ("reliability_table edges scalar", lambda: reliability_table([0.1], [0], edges=5), "edges must"),  # type: ignore[arg-type]
    ("covariance_from_returns", lambda: covariance_from_returns([["a", 1], [2, 3]]), "returns must be"),
]


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_levguard_error_naming_it(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()
