"""Bad-input campaign 8: text cells and wrong container types reaching the risk and cascade
functions, and the oracle's public functions (levguard.core.oracle).

Each case failed before the fix with a raw ValueError or TypeError from NumPy or Python; every
one must now raise a levguard error naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from levguard.cascade import Market, VenueSettings, calibrate, population_from_distribution, simulate_path
from levguard.core.oracle import SourceQuote, aggregate_index, delivery_mark, mark_price, weighted_median
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
POP = population_from_distribution(50, price=100.0, seed=1)
BOOK = Market(depth=1000.0)
GBM = {"model": "gbm", "s0": 100.0, "sigma": 0.8, "n_steps": 10, "dt_years": 1e-5, "seed": 1}


def _oracle(oracle: object) -> object:
    return simulate_path(POP, [100.0, 90.0], market=BOOK, venue=VenueSettings(oracle=oracle))


def _depth(multiplier: object) -> object:
    return simulate_path(POP, [100.0, 90.0], market=Market(depth=10.0, depth_multiplier=multiplier))


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
    ("depth_multiplier text step", lambda: _depth({"shock_step": "a"}), r"market\.depth_multiplier\.shock_step"),
    ("depth_multiplier fractional step", lambda: _depth({"shock_step": 2.7}), "shock_step must be an integer"),
    ("depth_multiplier text floor", lambda: _depth({"floor": "x"}), r"market\.depth_multiplier\.floor"),
    ("depth_multiplier text array", lambda: _depth(["a", 1.0]), "market.depth_multiplier must be"),
    (
        "oracle corrupt not a list",
        lambda: _oracle({"sources": 2, "corrupt": 5}),
        r"venue\.oracle\.corrupt must be a list",
    ),
    (
        "oracle stale past the end",
        lambda: _oracle({"sources": 2, "stale": [{"source": 0, "from": 50, "to": 60}]}),
        r"venue\.oracle\.stale\.from must be <= the path's last step 1",
    ),
    (
        "calibrate text efficiency",
        lambda: calibrate(POP, GBM, 3, {"kind": ["static", "dynamic"]}, market=BOOK, efficiency="kind", epsilon=1.0),
        "efficiency must be a grid parameter of numbers",
    ),
    # levguard.core.oracle: TypeError, AttributeError, OverflowError and ValueError before.
    ("aggregate_index None", lambda: aggregate_index(None, 0), "quotes must be an iterable of SourceQuote"),  # type: ignore[arg-type]
    ("aggregate_index floats", lambda: aggregate_index([100.0], 0), r"quotes\[0\] must be a SourceQuote"),  # type: ignore[list-item]
    ("SourceQuote ts_ns 2**70", lambda: SourceQuote("a", 1.0, 1.0, 2**70), "ts_ns must be within int64 nanoseconds"),
    ("aggregate_index now_ns 2**64", lambda: aggregate_index([SourceQuote("a", 1.0, 1.0, 0)], 2**64), "now_ns must"),
    ("weighted_median text", lambda: weighted_median(["a"], [1.0]), "prices must be numbers"),  # type: ignore[list-item]
    ("weighted_median text weight", lambda: weighted_median([1.0], ["1"]), "weights must be numbers"),  # type: ignore[list-item]
    ("mark_price text index", lambda: mark_price("60000", 0.0, 0.0, 0, 60_000.0), "index must be a number"),  # type: ignore[arg-type]
    ("mark_price None contract", lambda: mark_price(1.0, 0.0, 0.0, 0, None), "contract_price must be a number"),  # type: ignore[arg-type]
    ("delivery_mark None", lambda: delivery_mark(None, 0.0), "index must be a number"),  # type: ignore[arg-type]
    ("delivery_mark text basis", lambda: delivery_mark(1.0, "x"), "basis_ma must be a number"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_levguard_error_naming_it(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()
