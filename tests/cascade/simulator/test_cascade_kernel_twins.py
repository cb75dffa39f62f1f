"""The cascade kernel: the sorted sweep equals the naive scan, the compiled twin the Python one."""

from __future__ import annotations

import numpy as np
import pytest
from cascade_helpers import inputs, run

from levguard.kernels import cascade as kc
from levguard.kernels._jit import NUMBA_DISABLED

CASES = [
    {},
    {"partial": 0.2},
    {"adl": False, "fund": 0.0},
    {"latency": 3, "fund": 0.0},
    {"lag": 2},
    {"dyn": True},
    {"fund": 0.0, "partial": 0.25, "sources": 3, "depth": 5e3},
    {"fund": 0.0, "adl": False, "depth": 5e3},
    {"fund": 0.0, "partial": 0.25, "impact": "sqrt", "depth": 5e6},
]


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_sorted_sweep_equals_naive_scan(case: dict[str, object]) -> None:
    args = inputs(**case)  # type: ignore[arg-type]
    sweep = run(kc.cascade_nb, args)
    naive = run(kc.cascade_nb, args, naive=True)
    assert sweep[3].accounts_liquidated > 20  # the case liquidates
    for a, b in zip(sweep, naive, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cases_exercise_adl_partial_and_bad_debt() -> None:
    no_fund = run(kc.cascade_nb, inputs(fund=0.0, partial=0.25, depth=5e3))
    assert no_fund[3].adl_events > 0
    kinds = set(no_fund[1]["kind"].astype(int).tolist())
    assert {kc.EventKind.LIQUIDATION, kc.EventKind.ADL_VICTIM, kc.EventKind.ADL_LIQUIDATED} <= kinds
    no_adl = run(kc.cascade_nb, inputs(fund=0.0, adl=False, depth=5e3))
    assert no_adl[0].bad_debt[-1] > 0.0
    assert no_adl[3].adl_events == 0


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: cascade_nb is cascade_py")
@pytest.mark.parametrize(
    "case",
    [
        {"partial": 0.25, "fund": 0.0, "latency": 1},
        {"dyn": True, "lag": 1},
        {"fund": 0.0, "impact": "sqrt", "depth": 5e6},
    ],
)
def test_python_twin_equals_compiled(case: dict[str, object]) -> None:
    args = inputs(n=150, n_steps=120, **case)  # type: ignore[arg-type]
    py = run(kc.cascade_py, args)
    nb = run(kc.cascade_nb, args)
    for a, b in zip(py, nb, strict=True):
        np.testing.assert_array_equal(a, b)


def test_tier_step_down_partial_liquidation() -> None:
    args = inputs(n=2000, depth=5e3, partial="tier")
    _, events, _, counts = run(kc.cascade_nb, args)
    naive = run(kc.cascade_nb, args, naive=True)
    np.testing.assert_array_equal(events, naive[1])
    tiers = args[1]
    liq = events[events["kind"] == kc.EventKind.LIQUIDATION]
    acc = args[0]
    # A position above the first tier's cap is first cut to the next lower cap, not closed whole.
    big = np.nonzero(acc.qty * acc.entry > 1.2 * tiers.caps[0])[0]
    first = {int(a): row for row in liq[::-1] for a in [row["account"]]}
    cut = [i for i in big if i in first and abs(first[i]["qty"]) < acc.qty[i] * (1 - 1e-12)]
    assert cut, "no big position was stepped down"
    assert counts.accounts_liquidated > 0
