"""The cascade kernel's ADL ranking with a counterparty at its bankruptcy price: it ranks last.

A short exactly at its bankruptcy price at the mark (found that step, so pending behind the
liquidator's latency) scored ``inf`` in :func:`levguard.kernels.cascade_rounds.adl_score`; the
tie-break then read every score as within ``1e-12 x inf`` of it and ordered the whole side by size,
not by BitMEX's ranking.  It now scores :data:`~levguard.kernels.cascade_rounds.BANKRUPT_SCORE`.
"""

from __future__ import annotations

import numpy as np
import pytest
from cascade_helpers import accounts_from_rows, run, small_case

from levguard.core.rules.bitmex import adl_ranking
from levguard.kernels import cascade as kc
from levguard.kernels._jit import NUMBA_DISABLED
from levguard.kernels.cascade_rounds import BANKRUPT_SCORE, adl_score

LONG_ID = 10
AT_BP_ID = 11


def _case() -> tuple[tuple[object, ...], np.ndarray]:
    rng = np.random.default_rng(3)
    n_short = 30
    entry = rng.uniform(57_000.0, 66_000.0, n_short)  # in profit at 45,000 and 50,000
    qty = rng.uniform(0.2, 1.0, n_short)
    lev = rng.uniform(1.5, 5.0, n_short)
    shorts = np.column_stack([-np.ones(n_short), qty, entry, qty * entry / lev])
    bankrupt_long = [1.0, 8.0, 60_000.0, 8.0 * 60_000.0 / 20.0]  # BP 57,000: crossed at 45,000
    at_bp_short = [-1.0, 1.0, 40_000.0, 10_000.0]  # BP 50,000, safe at 45,000
    acc = np.ascontiguousarray(np.vstack([shorts[:10], bankrupt_long, at_bp_short, shorts[10:]]))
    # Step 0: the long is found (latency 1: its order is due at step 1).  Step 1: the mark is the
    # short's bankruptcy price (found, pending until step 2) and the long's order fills there,
    # 7,000 x 8 below its BP with no fund: ADL against the shorts ranked at 50,000.
    exo = np.array([45_000.0, 50_000.0, 50_000.0, 50_000.0])
    args = list(small_case(0, n=1, n_steps=exo.shape[0] - 1, zero_impact=True, latency=1))
    args[0], args[2] = accounts_from_rows(acc), exo
    args[5] = args[5]._replace(fund=0.0)
    return tuple(args), acc


def test_kernel_scores_a_position_at_or_past_bankruptcy_last() -> None:
    # short from 40,000 with BP 50,000: at the mark 50,000 and past it at 51,000
    assert adl_score(-1.0, 1.0, 40_000.0, 50_000.0, 50_000.0) == BANKRUPT_SCORE
    assert adl_score(-1.0, 1.0, 40_000.0, 51_000.0, 50_000.0) == BANKRUPT_SCORE
    assert adl_score(1.0, 1.0, 100.0, 89.0, 90.0) == BANKRUPT_SCORE  # long past BP
    assert adl_score(-1.0, 1.0, 40_000.0, 49_000.0, 50_000.0) < 0.0 < adl_score(1.0, 1.0, 100.0, 100.1, 50.0)


@pytest.mark.parametrize("fn", ["cascade_py", "cascade_nb"])
def test_adl_victims_follow_the_ranking_with_a_counterparty_at_its_bankruptcy_price(fn: str) -> None:
    args, acc = _case()
    _steps, events, out_acc, _counts = run(getattr(kc, fn), args)
    victims = events[(events["kind"] == kc.EventKind.ADL_VICTIM) & (events["counterparty"] == LONG_ID)]
    assert victims.shape[0] >= 3
    assert set(victims["step"].tolist()) == {1}
    ids = [u for u in np.flatnonzero(acc[:, 0] < 0) if u != AT_BP_ID]  # the at-BP short is pending
    scores = np.array(
        [
            adl_ranking(-acc[u, 1], acc[u, 2], 50_000.0, kc.bankruptcy_price(-1.0, acc[u, 1], acc[u, 2], acc[u, 3]))
            for u in ids
        ]
    )
    order = np.asarray(ids)[np.argsort(-scores, kind="mergesort")]
    by_size = np.asarray(ids)[np.argsort(-acc[ids, 1], kind="mergesort")]
    got = victims["account"].astype(np.int64)
    assert not np.array_equal(order[: got.shape[0]], by_size[: got.shape[0]])  # the case tells them apart
    np.testing.assert_array_equal(got, order[: got.shape[0]])
    assert np.abs(victims["qty"]).sum() == pytest.approx(8.0, rel=1e-12)
    assert out_acc.qty[LONG_ID] == 0.0


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: cascade_nb is cascade_py")
def test_python_twin_equals_compiled_with_a_counterparty_at_its_bankruptcy_price() -> None:
    args, _acc = _case()
    py = run(kc.cascade_py, args)
    nb = run(kc.cascade_nb, args)
    for a, b in zip(py, nb, strict=True):
        np.testing.assert_array_equal(a, b)
