"""Counterparties with no equity rank last with a finite score on every venue rule (v2).

A review (2026-12-08): ``position_score`` gave ``-inf`` to an account whose equity is not positive
on the Binance, Bybit and Hyperliquid rules.  ``break_score_ties`` compares within ``1e-12 |score|``
of a run's first score: infinite there, and ``-inf - -inf`` is NaN, so each such account was a run
of its own and several of them kept the order the accounts were given in, not the documented
tie-break (the larger size first).  They now score ``BANKRUPT_SCORE``, as a BitMEX position at or
past its bankruptcy price does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.kernels.cascade_rounds import BANKRUPT_SCORE
from levguard.kernels.cascade_sweep import break_score_ties
from levguard.kernels.cascade_v2_adl import position_score
from levguard.kernels.cascade_v2_records import AdlRule, BookTiers, MarketState

SIZES = np.array([1.0, 5.0, 3.0])


def _state() -> tuple[MarketState, BookTiers, np.ndarray]:
    # Three shorts of one book entered at 100, marked at 130: wallets of 10 leave no equity.
    n = SIZES.size
    st = MarketState(
        np.zeros(n, dtype=np.int64), -SIZES.reshape(n, 1), np.full((n, 1), 100.0), np.full(n, 10.0),
        np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_), np.zeros(n),
        np.full((n, 1), -math.inf), np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_),
    )  # fmt: skip
    tiers = BookTiers(
        np.array([math.inf]), np.array([0.005]), np.array([0.0]), np.array([0, 1], dtype=np.int64),
        np.array([0.005]), np.array([0.005]), np.zeros(1, dtype=np.bool_),
    )  # fmt: skip
    return st, tiers, np.array([130.0])


@pytest.mark.parametrize("rule", [AdlRule.BINANCE, AdlRule.BYBIT, AdlRule.HYPERLIQUID])
def test_no_equity_scores_last_and_finite_and_ties_go_by_size(rule: int) -> None:
    st, tiers, marks = _state()
    scores = np.array([position_score(rule, i, 0, marks, st, tiers) for i in range(SIZES.size)])
    assert (scores == BANKRUPT_SCORE).all(), scores
    for given in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        ids = np.array(given, dtype=np.int64)
        break_score_ties(ids, scores[ids], ids.size, SIZES, np.ones(3), np.full(3, 100.0))
        assert ids.tolist() == [1, 2, 0]  # the larger size first, whatever the account order
