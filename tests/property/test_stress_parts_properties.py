"""Hypothesis properties of :func:`levguard.core.risk.stress.apply_scenario`'s bankruptcy parts.

An account is a cross part, each isolated margin, its options where the venue keeps them apart
and an options wallet of its own; each part floors at zero before and after the scenario.  The
parts are recomputed here from the spec (Binance USDⓈ-M linear or COIN-M inverse contracts, a
dated future among them, which pays no funding; funding up to 5 % an interval against isolated
margins down to 0.1 % of the notional, so funding may exceed the margin), independently of the
function, and checked on accounts that may already be below zero before the scenario:

* ``equity_before + pnl == equity_after``; ``equity_before, equity_after >= 0``; ``pnl >=
  -equity_before``; ``bad_debt >= 0``; ``shortfall_before >= 0``;
* ``equity_before = sum max(a0, 0)``, ``shortfall_before = sum max(-a0, 0)``, ``equity_after = sum
  max(a1, 0)``, ``bad_debt = sum max(s1 - s0, 0)`` over the parts' unfloored values ``a`` (``s =
  max(-a, 0)``);
* each position's funding (0 on the dated future) and P&L, and the cross positions' P&L adding up
  to the cross part's change ``C1 - C0``; a liquidated cross part with equity left is taken over
  (Binance): it keeps nothing;
* ``liquidatable`` and each position's ``liquidated`` against the venue's trigger recomputed here
  (cross: ``C1 (+ V1 pooled) <= MM_cross``, with MM > 0 or the part below 0; isolated: the margin
  after funding and P&L ``<= MM``), and ``margin_ratio_after = MM_cross / X1`` (None at ``X1 <=
  0``).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levguard.core.margin import evaluate
from levguard.core.risk.stress import Scenario, apply_scenario
from levguard.core.spec import account_from_spec

N_FUNDING = 3
VENUES: dict[str, tuple[dict[str, Any], ...]] = {  # one position each
    "binance-usdm": ({"symbol": "BTCUSDT"}, {"symbol": "BTCUSDT_240628", "mmr": 0.005}, {"symbol": "ETHUSDT"}),
    "binance-coinm": (
        {"symbol": "BTCUSD_PERP", "mmr": 0.004},
        {"symbol": "BTCUSD_240628", "mmr": 0.005},
        {"symbol": "BTCUSD_240927", "mmr": 0.005},
    ),
}
DATED = {"BTCUSDT_240628", "BTCUSD_240628", "BTCUSD_240927"}  # dated futures: no funding

position = st.fixed_dictionaries(
    {
        "qty": st.floats(-3.0, 3.0).filter(lambda q: abs(q) > 1e-3),
        "entry": st.floats(20_000.0, 80_000.0),
        "mark": st.floats(20_000.0, 80_000.0),
        "isolated": st.booleans(),
        "margin": st.floats(0.001, 0.5),  # of the entry notional: down to 0.1 %
    }
)


def _value(qty: float, cs: float, inverse: bool, price: float) -> float:
    # Signed value in the settlement currency: linear qty x cs x price; inverse -qty x cs / price.
    return -qty * cs / price if inverse else qty * cs * price


@settings(max_examples=400, deadline=None)
@given(
    venue=st.sampled_from(sorted(VENUES)),
    wallet=st.floats(0.0, 40_000.0).map(lambda x: round(x, 2)),
    positions=st.lists(position, min_size=0, max_size=3),
    v0=st.floats(-60_000.0, 60_000.0),
    v1=st.floats(-60_000.0, 60_000.0),
    w=st.tuples(st.floats(-20_000.0, 20_000.0), st.floats(-20_000.0, 20_000.0)),
    shock=st.floats(-0.6, 0.8),
    rate=st.floats(-0.05, 0.05),
    pooled=st.booleans(),
)
def test_parts_floor_at_both_ends_and_match_an_independent_oracle(
    venue: str,
    wallet: float,
    positions: list[dict[str, Any]],
    v0: float,
    v1: float,
    w: tuple[float, float],
    shock: float,
    rate: float,
    pooled: bool,
) -> None:
    coin = venue == "binance-coinm"
    unit = 1.0 / 60_000.0 if coin else 1.0  # amounts in the settlement currency (BTC on COIN-M)
    wallet, v0, v1, w = wallet * unit, v0 * unit, v1 * unit, (w[0] * unit, w[1] * unit)
    symbols = VENUES[venue]
    cs = 100.0 if coin else 1.0
    specs = []
    for sym, p in zip(symbols, positions, strict=False):
        notional = abs(p["qty"]) * cs * (1.0 / p["entry"] if coin else p["entry"])
        spec = sym | {"qty": p["qty"], "entry_price": p["entry"], "mark_price": p["mark"], "leverage": 10}
        if p["isolated"]:
            spec |= {"margin_mode": "isolated", "isolated_margin": p["margin"] * notional}
        specs.append(spec)
    acc = account_from_spec({"venue": venue, "wallet_balance": wallet, "positions": specs})
    res = apply_scenario(
        acc,
        Scenario("s", shock, funding_rate=rate, funding_intervals=N_FUNDING),
        option_values=(v0, v1),
        options_share_margin=pooled,
        option_wallets=[w],
    )
    # The oracle: the parts from the spec, each position's P&L and funding.
    cross0 = cross1 = wallet
    iso0: list[float] = []
    iso1: list[float] = []
    pays: list[float] = []
    moves: list[float] = []
    probe = []  # the shocked positions with a margin > 0, for their maintenance margins only
    for sym, spec, p in zip(symbols, specs, positions, strict=False):
        mark1 = p["mark"] * (1.0 + shock)
        dated = sym["symbol"] in DATED
        notional1 = p["qty"] * cs / mark1 if coin else p["qty"] * cs * mark1  # signed
        pay = 0.0 if dated else -notional1 * rate * N_FUNDING
        upnl0 = _value(p["qty"], cs, coin, p["mark"]) - _value(p["qty"], cs, coin, p["entry"])
        upnl1 = _value(p["qty"], cs, coin, mark1) - _value(p["qty"], cs, coin, p["entry"])
        pays.append(pay)
        moves.append(upnl1 - upnl0 + pay)
        if p["isolated"]:
            margin = spec["isolated_margin"]
            iso0.append(margin + upnl0)
            iso1.append(margin + pay + upnl1)  # funding beyond the margin counted: no clip
            probe.append(spec | {"mark_price": mark1, "isolated_margin": abs(margin + pay) + 1.0})
        else:
            cross0 += upnl0
            cross1 += pay + upnl1
            probe.append(spec | {"mark_price": mark1})
    mms = [r.maintenance_margin for r in evaluate(account_from_spec({"venue": venue, "wallet_balance": 0.0,
                                                                      "positions": probe})).positions]  # fmt: skip
    iso_mm = [mm for mm, p in zip(mms, positions, strict=False) if p["isolated"]]
    cross_mm = math.fsum(mm for mm, p in zip(mms, positions, strict=False) if not p["isolated"])
    x1 = cross1 + (v1 if pooled else 0.0)
    scale = (abs(wallet) + math.fsum(abs(m) for m in moves + iso0 + iso1) + abs(v0) + abs(v1) + abs(w[0])) + unit
    tol = 1e-9 * scale
    # A trigger within rounding of its boundary can go either way: not a case to check.
    assume(all(abs(m - mm) > tol for m, mm in zip(iso1, iso_mm, strict=True)) and abs(x1 - cross_mm) > tol)
    iso_liq = [m <= mm for m, mm in zip(iso1, iso_mm, strict=True)]
    cross_liq = x1 <= cross_mm and (cross_mm > 0.0 or x1 < 0.0)
    # Binance takes a liquidated isolated position over: all its margin is lost (below 0, the rest is a shortfall).
    iso1 = [m if m < 0.0 else (0.0 if liq else m) for m, liq in zip(iso1, iso_liq, strict=True)]
    moved = cross1 - cross0  # the cross part's change before its liquidation is booked
    if cross_liq and cross_mm > 0.0 and x1 > 0.0:  # Binance takes the cross positions over: nothing left
        cross1, v1 = (-v1, v1) if pooled else (min(cross1, 0.0), v1)
    parts0 = [cross0 + v0, w[0], *iso0] if pooled else [cross0, v0, w[0], *iso0]
    parts1 = [cross1 + v1, w[1], *iso1] if pooled else [cross1, v1, w[1], *iso1]
    s0 = [max(-a, 0.0) for a in parts0]
    s1 = [max(-a, 0.0) for a in parts1]

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
    # The rows: funding (none on the dated future), and the cross positions' P&L is the cross part's change.
    assert [r.funding for r in res.positions] == pytest.approx(pays, abs=tol)
    cross_rows = [r.pnl for r, p in zip(res.positions, positions, strict=False) if not p["isolated"]]
    cross_moves = [m for m, p in zip(moves, positions, strict=False) if not p["isolated"]]
    assert cross_rows == pytest.approx(cross_moves, abs=tol)
    assert math.fsum(cross_rows) == pytest.approx(moved, abs=tol)
    # The triggers, and the cross part's margin ratio.
    assert res.liquidatable == (cross_liq or any(iso_liq))
    liq = iter(iso_liq)
    assert [r.liquidated for r in res.positions] == [
        next(liq) if p["isolated"] else cross_liq for p in positions[: len(symbols)]
    ]
    if x1 > tol:  # (a part within rounding of 0 has no ratio to compare)
        assert res.margin_ratio_after == pytest.approx(cross_mm / x1, rel=1e-6)
    elif x1 < -tol:
        assert res.margin_ratio_after is None
