"""Hypothesis properties of :func:`levguard.core.risk.stress.apply_scenario`'s bankruptcy parts.

An account is a cross part, each isolated margin and (where the venue keeps them apart) its
options; each part floors at zero before and after the scenario.  The parts are recomputed here
from the spec (linear contracts, Binance USDⓈ-M, funding included), independently of the
function, and the invariants of its Notes are checked on accounts that may already be below zero
before the scenario (a cross loss beyond the wallet, an isolated position past its bankruptcy, a
short option's liability), options pooled with the futures or not:

* ``equity_before + pnl == equity_after``; ``equity_before, equity_after >= 0``; ``pnl >=
  -equity_before``; ``bad_debt >= 0``; ``shortfall_before >= 0``;
* ``equity_before = sum max(a0, 0)``, ``shortfall_before = sum max(-a0, 0)``, ``equity_after = sum
  max(a1, 0)``, ``bad_debt = sum max(s1 - s0, 0)`` over the parts' unfloored values ``a`` (``s =
  max(-a, 0)``);
* conservation: ``pnl = sum (a1 - a0) + sum (s1 - s0)`` exactly, so ``pnl - bad_debt`` is the raw
  P&L of the parts ``sum (a1 - a0)`` wherever no part's shortfall shrinks.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.margin import evaluate
from levguard.core.risk.stress import Scenario, apply_scenario
from levguard.core.spec import account_from_spec

N_FUNDING = 3
SYMBOLS = ({"symbol": "BTCUSDT"}, {"symbol": "ETHUSDT"}, {"symbol": "SOLUSDT", "mmr": 0.01})  # one position each

position = st.fixed_dictionaries(
    {
        "qty": st.floats(-3.0, 3.0).filter(lambda q: abs(q) > 1e-3),
        "entry": st.floats(20_000.0, 80_000.0),
        "mark": st.floats(20_000.0, 80_000.0),
        "isolated": st.booleans(),
        "margin": st.floats(3_000.0, 30_000.0),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    wallet=st.floats(0.0, 40_000.0).map(lambda w: round(w, 2)),
    positions=st.lists(position, min_size=0, max_size=len(SYMBOLS)),
    v0=st.floats(-60_000.0, 60_000.0),
    v1=st.floats(-60_000.0, 60_000.0),
    shock=st.floats(-0.6, 0.8),
    rate=st.floats(-0.003, 0.003),
    pooled=st.booleans(),
)
def test_parts_floor_at_both_ends_and_conserve_the_raw_pnl(
    wallet: float,
    positions: list[dict[str, float]],
    v0: float,
    v1: float,
    shock: float,
    rate: float,
    pooled: bool,
) -> None:
    specs = [
        sym
        | {"qty": p["qty"], "entry_price": p["entry"], "mark_price": p["mark"], "leverage": 10}
        | ({"margin_mode": "isolated", "isolated_margin": p["margin"]} if p["isolated"] else {})
        for sym, p in zip(SYMBOLS, positions, strict=False)
    ]
    acc = account_from_spec({"venue": "binance-usdm", "wallet_balance": wallet, "positions": specs})
    res = apply_scenario(
        acc,
        Scenario("s", shock, funding_rate=rate, funding_intervals=N_FUNDING),
        option_values=(v0, v1),
        options_share_margin=pooled,
    )
    # The parts, from the spec: linear USDⓈ-M contracts, contract size 1, funding -qty x mark1 x rate x n.
    cross0 = wallet + math.fsum(p["qty"] * (p["mark"] - p["entry"]) for p in positions if not p["isolated"])
    cross1 = wallet
    iso0: list[float] = []
    iso1: list[float] = []
    shocked = []
    for p in positions:
        mark1 = p["mark"] * (1.0 + shock)
        pay = -p["qty"] * mark1 * rate * N_FUNDING
        upnl1 = p["qty"] * (mark1 - p["entry"])
        if p["isolated"]:
            iso0.append(p["margin"] + p["qty"] * (p["mark"] - p["entry"]))
            iso1.append(p["margin"] + pay + upnl1)  # margin >= 3,000 > |pay| (at most 2,160): no clip
            shocked.append(specs[len(shocked)] | {"mark_price": mark1, "isolated_margin": p["margin"] + pay})
        else:
            cross1 += pay + upnl1
            shocked.append(specs[len(shocked)] | {"mark_price": mark1})
    after = evaluate(account_from_spec({"venue": "binance-usdm", "wallet_balance": 0.0, "positions": shocked}))
    liquidated = [r.liquidatable for r in after.positions if r.margin_balance is not None]
    # Binance takes a liquidated isolated position over: all its margin is lost (below 0, the rest is a shortfall).
    iso1 = [m if m < 0.0 else (0.0 if liq else m) for m, liq in zip(iso1, liquidated, strict=True)]
    parts0 = [cross0 + v0, *iso0] if pooled else [cross0, v0, *iso0]
    parts1 = [cross1 + v1, *iso1] if pooled else [cross1, v1, *iso1]
    s0 = [max(-a, 0.0) for a in parts0]
    s1 = [max(-a, 0.0) for a in parts1]
    scale = math.fsum(abs(a) for a in parts0 + parts1) + 1.0
    tol = 1e-9 * scale

    assert res.equity_before + res.pnl == pytest.approx(res.equity_after, abs=tol)
    assert res.equity_before >= 0.0
    assert res.equity_after >= 0.0
    assert res.pnl >= -res.equity_before - tol
    assert res.bad_debt >= 0.0
    assert res.shortfall_before >= 0.0
    assert res.equity_before == pytest.approx(math.fsum(max(a, 0.0) for a in parts0), abs=tol)
    assert res.shortfall_before == pytest.approx(math.fsum(s0), abs=tol)
    assert res.equity_after == pytest.approx(math.fsum(max(a, 0.0) for a in parts1), abs=tol)
    assert res.bad_debt == pytest.approx(math.fsum(max(b - a, 0.0) for a, b in zip(s0, s1, strict=True)), abs=tol)
    raw = math.fsum(b - a for a, b in zip(parts0, parts1, strict=True))
    assert res.pnl == pytest.approx(raw + math.fsum(s1) - math.fsum(s0), abs=tol)
    if all(b >= a for a, b in zip(s0, s1, strict=True)):  # no part's shortfall shrinks
        assert res.pnl - res.bad_debt == pytest.approx(raw, abs=tol)
