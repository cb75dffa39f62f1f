"""Money conservation of the cascade kernel, checked from its outputs only.

Per event the account's change plus the fund's change equals the value traded against the book
(``side q (fill - entry)``) or against the ADL counterparty (both legs at the bankruptcy price):
full close ``-m + side q (p - BP)``, partial close ``(side c (p - e) - fee) + fee``, ADL victim
``side_u take (BP - e_u) + 0``, ADL'd bankrupt ``-m share + 0 = side closed (BP - e)``.  The fund
is floored at 0 with the shortfall booked as bad debt, hence
``sum PnL + (fund_end - fund0) - bad_debt == sum over events of qty_signed (price - entry)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from cascade_helpers import event_values, inputs, money_residual, run

from levguard.kernels import cascade as kc

CASES = {
    "full": {},
    "partial": {"partial": 0.2},
    "adl_partial_thin": {"fund": 0.0, "partial": 0.25, "sources": 3, "depth": 5e3},
    "no_adl_bad_debt": {"fund": 0.0, "adl": False, "depth": 5e3},
    "latency": {"latency": 3, "fund": 0.0},
    "lag": {"lag": 2, "fund": 0.0, "depth": 5e3},
    "dynamic": {"dyn": True, "fund": 0.0, "partial": 0.3},
}


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    args = inputs(**CASES[request.param])  # type: ignore[arg-type]
    return request.param, args, run(kc.cascade_nb, args)


def test_cases_exercise_what_they_name(case: tuple[str, tuple, tuple]) -> None:
    name, _args, (steps, events, _acc, counts) = case
    kinds = set(events["kind"].astype(int).tolist())
    assert counts.accounts_liquidated > 20
    if name == "partial":
        # some liquidation events are partial (the account keeps a position afterwards)
        liq = events[events["kind"] == kc.EventKind.LIQUIDATION]
        assert np.any(np.abs(liq["fund_delta"] - 0.005 * np.abs(liq["qty"]) * liq["price"]) < 1e-9)
    if name == "adl_partial_thin":
        assert {kc.EventKind.LIQUIDATION, kc.EventKind.ADL_VICTIM, kc.EventKind.ADL_LIQUIDATED} <= kinds
    if name == "no_adl_bad_debt":
        assert steps.bad_debt[-1] > 0.0
        assert counts.adl_events == 0


def test_money_is_conserved(case: tuple[str, tuple, tuple]) -> None:
    _name, args, out = case
    diff, scale = money_residual(args, out)
    assert abs(diff) <= 1e-9 * scale, (diff, scale)


def test_per_account_pnl_is_the_sum_of_its_events(case: tuple[str, tuple, tuple]) -> None:
    # account change of an event = traded value - fund change
    _name, args, (_steps, events, out_acc, _counts) = case
    acc = args[0]
    per_event = event_values(acc, events) - events["fund_delta"]
    expect = np.bincount(events["account"].astype(np.int64), weights=per_event, minlength=acc.side.shape[0])
    scale = np.abs(acc.margin).sum()
    np.testing.assert_allclose(out_acc.pnl, expect, rtol=0, atol=1e-9 * scale)


def test_fund_path_is_the_sum_of_fund_deltas(case: tuple[str, tuple, tuple]) -> None:
    _name, args, (steps, events, _acc, _counts) = case
    fund0 = args[5].fund
    total = events["fund_delta"].sum()
    end = steps.fund[-1] - steps.bad_debt[-1]
    assert abs(fund0 + total - end) <= 1e-9 * (fund0 + np.abs(events["fund_delta"]).sum() + 1.0)
    assert np.all(steps.fund >= 0.0)
    assert np.all(np.diff(steps.bad_debt) >= 0.0)


def test_margins_reconcile(case: tuple[str, tuple, tuple]) -> None:
    _name, args, (_steps, events, out_acc, _counts) = case
    acc = args[0]
    m0 = acc.margin
    scale = m0.max()
    np.testing.assert_allclose(out_acc.margin, m0 + out_acc.pnl, rtol=0, atol=1e-9 * scale)
    # Wiped out: flat after its last event, which closed it as a bankrupt (book or ADL'd).
    ids = events["account"].astype(np.int64)
    last_kind = np.full(acc.side.shape[0], -1)
    last_kind[ids] = events["kind"].astype(np.int64)  # later rows overwrite earlier ones
    wiped = (out_acc.qty == 0.0) & np.isin(last_kind, [kc.EventKind.LIQUIDATION, kc.EventKind.ADL_LIQUIDATED])
    assert wiped.sum() > 10
    np.testing.assert_allclose(out_acc.margin[wiped], 0.0, atol=1e-9 * scale)
    np.testing.assert_allclose(out_acc.pnl[wiped], -m0[wiped], rtol=0, atol=1e-9 * scale)
    # Untouched accounts keep their margin and size.
    untouched = out_acc.status == 0.0
    np.testing.assert_array_equal(out_acc.margin[untouched], m0[untouched])
    np.testing.assert_array_equal(out_acc.qty[untouched], acc.qty[untouched])
    np.testing.assert_array_equal(out_acc.pnl[untouched], 0.0)


def test_conservation_catches_a_leak() -> None:
    # The check itself can fail: a fund that silently loses 1 quote breaks it.
    args = inputs(partial=0.2)
    steps, events, out_acc, counts = run(kc.cascade_nb, args)
    steps = steps._replace(fund=steps.fund.copy())
    steps.fund[-1] -= 1.0
    diff, scale = money_residual(args, (steps, events, out_acc, counts))
    assert abs(diff) > 1e-9 * scale
