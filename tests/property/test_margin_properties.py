"""Hypothesis properties of the margin engine (``levguard.evaluate_account`` and its kernel).

Each test states one invariant the liquidation arithmetic must keep on every venue it applies
to.  Inputs are drawn in the settlement currency's natural scale (log-uniform sizes and prices);
tier tables are either the built-in snapshots or random continuous tables whose maintenance
amounts come from the continuity rule (``TierTable.from_rows`` without ``maint_amount``).
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import levguard
from levguard.core.rules.base import MMBasis
from levguard.core.rules.binance import BUILTIN_TIERS as BINANCE_TIERS
from levguard.core.rules.hyperliquid import BUILTIN_TIERS as HYPERLIQUID_TIERS
from levguard.margin import isolated_liquidation_prices

SETTINGS = settings(max_examples=200, deadline=None)
FEW = settings(max_examples=60, deadline=None)  # per-venue parametrized tests

Spec = dict[str, Any]


# ----------------------------------------------------------------------------- venue cases
@dataclass(frozen=True)
class Case:
    """How to draw positions for one venue: symbols (distinct, one settlement), scales, tiers."""

    venue: str
    symbols: tuple[str, ...]
    builtin: frozenset[str] = frozenset()  # symbols with a built-in tier table on the venue
    inverse: bool = False
    contract_size: float = 1.0
    qty_exp: tuple[float, float] = (-3.0, 3.3)  # log10 of |qty| in contracts
    price_exp: tuple[float, float] = (3.0, 5.0)  # log10 of the entry price
    tier_exp: tuple[float, float] = (2.0, 6.0)  # log10 of the first tier cap (settlement currency)

    def __str__(self) -> str:
        return self.venue

    def notional(self, qty: float, price: float) -> float:
        q = abs(qty) * self.contract_size
        return q / price if self.inverse else q * price


_GENERIC_SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")

CASES: dict[str, Case] = {
    c.venue: c
    for c in (
        Case("binance-usdm", ("BTCUSDT", "ETHUSDT", "SOLUSDT"), frozenset({"BTCUSDT", "ETHUSDT"})),
        Case("hyperliquid", ("BTC", "ETH", "SOL"), frozenset({"BTC", "ETH", "SOL"})),
        Case("bybit-linear", _GENERIC_SYMBOLS),
        Case("bitmex", _GENERIC_SYMBOLS),
        Case("okx", _GENERIC_SYMBOLS),
        Case("gate", _GENERIC_SYMBOLS),
        Case("generic", _GENERIC_SYMBOLS),
        Case(
            "binance-coinm",
            ("BTCUSD_PERP", "BTCUSD_250328", "BTCUSD_250627"),
            inverse=True,
            contract_size=100.0,
            qty_exp=(0.0, 5.0),
            tier_exp=(-2.0, 2.0),
        ),
        Case(
            "bybit-inverse",
            ("BTCUSD", "BTCUSDH25", "BTCUSDM25"),
            inverse=True,
            qty_exp=(1.0, 7.0),
            tier_exp=(-2.0, 2.0),
        ),
    )
}
ALL_VENUES = list(CASES)
LINEAR_AT_PRICE = ["binance-usdm", "hyperliquid", "generic", "okx", "gate"]
KERNEL_VENUES = ["binance-usdm", "bybit-linear", "okx", "gate", "hyperliquid", "bitmex", "generic"]
FEE_VENUES = {"okx", "gate"}


# ----------------------------------------------------------------------------- strategies
@functools.cache
def log_uniform(lo_exp: float, hi_exp: float) -> st.SearchStrategy[float]:
    """Floats 10**e with e uniform in [lo_exp, hi_exp]."""
    return st.floats(lo_exp, hi_exp, allow_nan=False, allow_infinity=False).map(lambda e: 10.0**e)


@functools.cache
@st.composite
def tier_rows(draw: st.DrawFn, cap_exp: tuple[float, float] = (2.0, 6.0), max_tiers: int = 6) -> list[dict[str, Any]]:
    """A random tier table as spec rows: increasing floors, non-decreasing mmr in [0.001, 0.5),
    no maintenance amounts (``TierTable.from_rows`` derives them by continuity)."""
    n = draw(st.integers(1, max_tiers))
    floors = [0.0]
    cap = draw(log_uniform(*cap_exp))
    for _ in range(n - 1):
        floors.append(cap)
        cap *= draw(st.floats(1.5, 20.0))
    mmr = draw(st.floats(0.001, 0.05))
    mmrs = [mmr]
    for _ in range(n - 1):
        mmr = min(mmr + draw(st.floats(0.0, 0.1)), 0.49)
        mmrs.append(mmr)
    return [
        {
            "notional_floor": floors[k],
            "notional_cap": floors[k + 1] if k + 1 < n else None,
            "mmr": mmrs[k],
            "max_leverage": 1.0 / (2.0 * mmrs[k]),
        }
        for k in range(n)
    ]


@functools.cache
def tier_source(case: Case, symbol: str) -> st.SearchStrategy[dict[str, Any]]:
    """Extra position keys choosing the maintenance rule: built-in (none), fixed mmr, or tiers."""
    fixed = st.floats(0.001, 0.2).map(lambda m: {"mmr": m})
    tiered = tier_rows(case.tier_exp).map(lambda rows: {"tiers": rows})
    if symbol in case.builtin:
        return st.one_of(st.just({}), fixed, tiered)
    return st.one_of(fixed, tiered)


@functools.cache
@st.composite
def position(
    draw: st.DrawFn,
    case: Case,
    symbol: str,
    *,
    isolated: bool,
    side: int | None = None,
) -> dict[str, Any]:
    """One position spec; isolated ones get ``isolated_margin`` = entry notional x [0.002, 1.6]."""
    qty = draw(log_uniform(*case.qty_exp))
    if side is None:
        side = draw(st.sampled_from((1, -1)))
    entry = draw(log_uniform(*case.price_exp))
    mark = entry * draw(st.floats(0.7, 1.3))
    d: dict[str, Any] = {
        "symbol": symbol,
        "qty": side * qty,
        "entry_price": entry,
        "mark_price": mark,
        **draw(tier_source(case, symbol)),
    }
    if case.venue in FEE_VENUES and draw(st.booleans()):
        d["taker_fee_rate"] = draw(st.floats(0.0, 0.002))
    if isolated:
        d["margin_mode"] = "isolated"
        d["isolated_margin"] = case.notional(qty, entry) * draw(log_uniform(-2.7, 0.2))
    return d


@functools.cache
@st.composite
def cross_account(draw: st.DrawFn, case: Case, n_min: int = 1, n_max: int = 3) -> Spec:
    """An all-cross account of 1-3 positions on distinct symbols with a positive wallet."""
    n = draw(st.integers(n_min, min(n_max, len(case.symbols))))
    positions = [draw(position(case, s, isolated=False)) for s in case.symbols[:n]]
    gross = sum(case.notional(p["qty"], p["entry_price"]) for p in positions)
    wallet = gross * draw(log_uniform(-2.7, 0.3))
    return {"venue": case.venue, "margin_mode": "cross", "wallet_balance": wallet, "positions": positions}


def isolated_account(case: Case, pos: dict[str, Any]) -> Spec:
    return {"venue": case.venue, "margin_mode": "isolated", "wallet_balance": 0.0, "positions": [pos]}


# ----------------------------------------------------------------------------- helpers
def with_mark(spec: Spec, i: int, mark: float) -> Spec:
    out = copy.deepcopy(spec)
    out["positions"][i]["mark_price"] = float(mark)
    return out


def table_for(case: Case, pos: dict[str, Any]) -> levguard.TierTable:
    """The tier table the evaluator should use for ``pos`` (mirrors the spec's precedence; on
    OKX and BitMEX the tier rate applies to the whole position, without deduction)."""
    if "tiers" in pos:
        return levguard.TierTable.from_rows(pos["tiers"], deduction=levguard.get_venue(case.venue).tier_deduction)
    if "mmr" in pos:
        return levguard.TierTable.fixed_rate(pos["mmr"])
    builtin = BINANCE_TIERS if case.venue.startswith("binance") else HYPERLIQUID_TIERS
    return builtin[pos["symbol"]]


def fee_of(case: Case, pos: dict[str, Any]) -> float:
    if case.venue not in FEE_VENUES:
        return 0.0
    return pos.get("taker_fee_rate", levguard.get_venue(case.venue).default_taker_fee)


def same(a: float | None, b: float | None, rel: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


# ============================================================================ 1. mirror symmetry
@pytest.mark.parametrize("venue", LINEAR_AT_PRICE)
@FEW
@given(data=st.data())
def test_long_and_short_liquidation_prices_solve_the_same_balance_equation(venue: str, data: st.DataObject) -> None:
    """Long and short with the same |q|, entry and collateral: each LP solves
    ``C + q (P - EP) = MM(P)`` (MM re-computed here from the tier table and fee), and when
    ``C > MM(EP)`` the short's LP lies above the entry and the long's below it."""
    case = CASES[venue]
    symbol = data.draw(st.sampled_from(case.symbols))
    long = data.draw(position(case, symbol, isolated=True, side=1))
    short = {**long, "qty": -long["qty"]}
    q, ep, c = abs(long["qty"]), long["entry_price"], long["isolated_margin"]
    table, fee = table_for(case, long), fee_of(case, long)

    def mm(price: float) -> float:
        n = q * price
        return table.maintenance_margin(n) + fee * n

    lp_long = levguard.evaluate_account(isolated_account(case, long)).positions[0].liquidation_price
    lp_short = levguard.evaluate_account(isolated_account(case, short)).positions[0].liquidation_price
    assert lp_short is not None, "a linear short always has a liquidation price"
    for qs, lp, pos in ((q, lp_long, long), (-q, lp_short, short)):
        if lp is None:
            assert c + qs * (0.0 - ep) >= mm(0.0), "long without LP must be safe down to price 0"
            continue
        tol = 1e-9 * (q * max(lp, ep) + c)

        def isolated(r: Any) -> tuple[float, float]:
            return r.positions[0].margin_balance, r.positions[0].maintenance_margin

        assert c + qs * (lp - ep) == pytest.approx(mm(lp), rel=1e-9, abs=tol) or jumps_at_lp(
            isolated_account(case, pos), 0, lp, isolated
        )
    if c > mm(ep) * (1 + 1e-9):
        assert lp_short > ep
        assert lp_long is None or lp_long < ep


@pytest.mark.parametrize("venue", LINEAR_AT_PRICE)
@FEW
@given(
    q=log_uniform(-3, 4),
    ep=log_uniform(0, 6),
    lev=log_uniform(0.01, 2.7),
    mmr=st.floats(0.0, 0.3),
    fee=st.floats(0.0, 0.002),
)
def test_single_tier_liquidation_prices_match_the_closed_forms(
    venue: str, q: float, ep: float, lev: float, mmr: float, fee: float
) -> None:
    """With one tier (mmr, no maintenance amount; fee added on OKX/Gate):
    ``LP_long = (EP - C/Q) / (1 - mmr)`` and ``LP_short = (EP + C/Q) / (1 + mmr)``."""
    c = q * ep / lev
    m = mmr + (fee if venue in FEE_VENUES else 0.0)
    extra: dict[str, Any] = {"taker_fee_rate": fee} if venue in FEE_VENUES else {}
    got = {}
    for side in (1, -1):
        pos = {"symbol": CASES[venue].symbols[0], "qty": side * q, "entry_price": ep, "mark_price": ep}
        pos |= {"mmr": mmr, "margin_mode": "isolated", "isolated_margin": c, **extra}
        got[side] = levguard.evaluate_account(isolated_account(CASES[venue], pos)).positions[0].liquidation_price
    want_long = (ep - c / q) / (1 - m)
    want_short = (ep + c / q) / (1 + m)
    assert got[1] == pytest.approx(want_long, rel=1e-9, abs=1e-12 * ep)
    assert got[-1] == pytest.approx(want_short, rel=1e-9, abs=1e-12 * ep)


@pytest.mark.parametrize("venue", ["bybit-linear", "bitmex"])
@FEW
@given(data=st.data())
def test_entry_valued_maintenance_gives_liquidation_prices_mirrored_about_entry(
    venue: str, data: st.DataObject
) -> None:
    """Bybit/BitMEX value MM at entry, so the margin balance is the only price-dependent term
    and ``LP_long + LP_short = 2 EP`` (``LP = EP -/+ (C - MM_entry) / Q``) when both exist."""
    case = CASES[venue]
    long = data.draw(position(case, case.symbols[0], isolated=True, side=1))
    short = {**long, "qty": -long["qty"]}
    q, ep, c = abs(long["qty"]), long["entry_price"], long["isolated_margin"]
    lp_long = levguard.evaluate_account(isolated_account(case, long)).positions[0].liquidation_price
    lp_short = levguard.evaluate_account(isolated_account(case, short)).positions[0].liquidation_price
    mm_entry = table_for(case, long).maintenance_margin(q * ep)
    assert lp_short == pytest.approx(ep + (c - mm_entry) / q, rel=1e-9, abs=1e-12 * ep)
    if lp_long is not None:
        assert lp_long + lp_short == pytest.approx(2 * ep, rel=1e-9)
    else:
        assert ep - (c - mm_entry) / q <= 0.0


# ============================================================================ 2. monotone in leverage
@SETTINGS
@given(
    symbol=st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    qty=log_uniform(-3, 3.3),
    ep=log_uniform(3, 5),
    fracs=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=5, unique=True),
)
@example(symbol="BTCUSDT", qty=2000.0, ep=100_000.0, fracs=[0.0, 0.5, 1.0])
def test_liquidation_price_is_strictly_monotone_in_leverage(
    symbol: str, qty: float, ep: float, fracs: list[float]
) -> None:
    """Isolated on Binance USDⓈ-M with margin = entry notional / leverage: a long's LP strictly
    rises with leverage, a short's strictly falls (leverage in (1, bracket cap])."""
    table = BINANCE_TIERS[symbol]
    cap = table.max_leverage(qty * ep)
    levs = sorted({1.01 + (cap - 1.01) * f for f in fracs})
    assume(len(levs) >= 2 and all(b > a * (1 + 1e-6) for a, b in itertools.pairwise(levs)))
    for side in (1, -1):
        lps = []
        for lev in levs:
            pos = {"symbol": symbol, "qty": side * qty, "entry_price": ep, "mark_price": ep, "leverage": lev}
            spec = {"venue": "binance-usdm", "margin_mode": "isolated", "wallet_balance": 0, "positions": [pos]}
            lp = levguard.evaluate_account(spec).positions[0].liquidation_price
            assert lp is not None, f"leverage {lev} > 1 must give an LP (side {side})"
            lps.append(lp)
        steps = np.diff(lps)
        assert (side * steps > 0).all(), f"side {side}: leverages {levs} gave LPs {lps}"


def test_leverage_above_the_bracket_cap_is_rejected() -> None:
    """Leverage above the bracket's maximum is an InputError (the monotonicity domain's edge)."""
    pos = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 101}
    spec = {"venue": "binance-usdm", "margin_mode": "isolated", "wallet_balance": 0, "positions": [pos]}
    with pytest.raises(levguard.InputError, match="leverage"):
        levguard.evaluate_account(spec)


# ============================================================================ 3. balance == MM at LP
def jumps_at_lp(spec: Spec, i: int, lp: float, value: Callable[[Any], tuple[float, float]]) -> bool:
    """Whether the LP of position ``i`` sits on a jump of the maintenance margin: on OKX (the tier
    rate on the whole position, no deduction, MM valued at the price) the MM jumps up at a tier's
    floor, and an LP there has its notional on that floor, the balance at or below the MM, above
    it a hair to the position's safe side and below it a hair to the other (``value`` gives
    (balance, MM) of a report)."""
    model = levguard.get_venue(spec["venue"])
    pos = spec["positions"][i]
    if model.tier_deduction or model.mm_basis is not MMBasis.PRICE or "tiers" not in pos:
        return False
    q = abs(pos["qty"]) * pos.get("contract_size", 1.0)
    floors = [t.notional_floor for t in levguard.TierTable.from_rows(pos["tiers"], deduction=False).tiers[1:]]
    if not any(math.isclose(q * lp, f, rel_tol=1e-12) for f in floors):
        return False
    # A linear long (an inverse short) is safe above its LP, a linear short (an inverse long) below.
    rises = (pos["qty"] > 0) == (pos.get("contract_kind", "linear") != "inverse")
    safe_side, unsafe_side = (1 + 1e-9, 1 - 1e-9) if rises else (1 - 1e-9, 1 + 1e-9)
    balance, mm = value(levguard.evaluate_account(with_mark(spec, i, lp)))
    safe = operator.gt(*value(levguard.evaluate_account(with_mark(spec, i, lp * safe_side))))
    unsafe = not operator.gt(*value(levguard.evaluate_account(with_mark(spec, i, lp * unsafe_side))))
    return balance <= mm and safe and unsafe


def check_isolated_balance_at_lp(spec: Spec) -> list[tuple[int, int]]:
    """Assert every isolated LP re-evaluates to margin balance == MM; return (tier at mark, tier at LP)."""
    report = levguard.evaluate_account(spec)
    tiers = []
    for i, pr in enumerate(report.positions):
        if pr.liquidation_price is None:
            continue
        at = levguard.evaluate_account(with_mark(spec, i, pr.liquidation_price)).positions[i]
        assert at.margin_balance is not None
        c = spec["positions"][i]["isolated_margin"]
        tol = 1e-9 * (at.notional + c + abs(at.unrealized_pnl))

        def isolated(r: Any, i: int = i) -> tuple[float, float]:
            return r.positions[i].margin_balance, r.positions[i].maintenance_margin

        assert at.margin_balance == pytest.approx(at.maintenance_margin, rel=1e-9, abs=tol) or jumps_at_lp(
            spec, i, pr.liquidation_price, isolated
        ), f"position {i}: LP {pr.liquidation_price!r}, balance {at.margin_balance!r}, MM {at.maintenance_margin!r}"
        assert same(at.liquidation_price, pr.liquidation_price, rel=1e-9), "LP must not depend on the mark"
        tiers.append((pr.tier, at.tier))
    return tiers


def check_cross_equity_at_lp(spec: Spec) -> list[tuple[int, int]]:
    """Assert every cross LP re-evaluates to account equity == total MM; return tier pairs."""
    report = levguard.evaluate_account(spec)
    tiers = []
    for i, pr in enumerate(report.positions):
        if pr.liquidation_price is None:
            continue
        at = levguard.evaluate_account(with_mark(spec, i, pr.liquidation_price))
        scale = at.wallet_balance + sum(p.notional + abs(p.unrealized_pnl) for p in at.positions)

        def account(r: Any) -> tuple[float, float]:
            return r.equity, r.maintenance_margin

        assert at.equity == pytest.approx(at.maintenance_margin, rel=1e-9, abs=1e-9 * scale) or jumps_at_lp(
            spec, i, pr.liquidation_price, account
        ), f"position {i}: LP {pr.liquidation_price!r}, equity {at.equity!r}, MM {at.maintenance_margin!r}"
        lp_again = at.positions[i].liquidation_price
        assert same(lp_again, pr.liquidation_price, rel=1e-9), f"position {i}: LP moved to {lp_again!r} at its LP"
        tiers.append((pr.tier, at.positions[i].tier))
    return tiers


@pytest.mark.parametrize("venue", ALL_VENUES)
@FEW
@given(data=st.data())
def test_isolated_margin_balance_equals_maintenance_margin_at_the_liquidation_price(
    venue: str, data: st.DataObject
) -> None:
    """Re-evaluating an isolated position with its mark at the reported LP gives margin balance
    == maintenance margin (rel 1e-9, abs 1e-9 x notional), whichever tier the LP falls in."""
    case = CASES[venue]
    pos = data.draw(position(case, data.draw(st.sampled_from(case.symbols)), isolated=True))
    check_isolated_balance_at_lp(isolated_account(case, pos))


@pytest.mark.parametrize("venue", ALL_VENUES)
@FEW
@given(data=st.data())
def test_cross_layout_kernel_and_twin_give_evaluate_s_report(venue: str, data: st.DataObject) -> None:
    """All-cross account of 1-3 positions: the one-call cross layout gives ``evaluate``'s report
    bit for bit through its compiled kernel, through the kernel's Python twin and by default
    (which of the two ``COMPILED_FROM`` picks)."""
    from levguard.core.margin import evaluate
    from levguard.core.margin_cross import evaluate_cross
    from levguard.core.spec import account_from_spec

    try:
        account = account_from_spec(data.draw(cross_account(CASES[venue], n_max=3)))
        want = evaluate(account)
    except levguard.LevguardError:
        assume(False)
        return
    for compiled in (True, False, None):
        assert evaluate_cross(account, compiled=compiled) == want


@pytest.mark.parametrize("venue", ALL_VENUES)
@FEW
@given(data=st.data())
def test_cross_equity_equals_maintenance_margin_at_each_liquidation_price(venue: str, data: st.DataObject) -> None:
    """All-cross account of 1-3 positions: moving one position's mark to its LP (others at their
    marks) gives account equity == total maintenance margin.
    """
    check_cross_equity_at_lp(data.draw(cross_account(CASES[venue], n_max=3)))


def test_bybit_inverse_cross_equity_equals_mm_at_lp_with_two_positions() -> None:
    """Regression (found by hypothesis): two BTC-margined inverse longs; the close-fee term of the
    other position must not move with this position's mark."""
    pos = {"qty": 10.0, "entry_price": 1000.0, "mark_price": 1000.0, "mmr": 0.125}
    spec = {
        "venue": "bybit-inverse",
        "margin_mode": "cross",
        "wallet_balance": 0.02,
        "positions": [{"symbol": "BTCUSD", **pos}, {"symbol": "BTCUSDH25", **pos}],
    }
    check_cross_equity_at_lp(spec)


_TIERS_5BTC = [
    {"notional_floor": 0, "notional_cap": 5, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 5, "notional_cap": None, "mmr": 0.02, "max_leverage": 25},
]


def _iso(venue: str, symbol: str, qty: float, ep: float, margin: float, **kw: Any) -> Spec:
    pos = {"symbol": symbol, "qty": qty, "entry_price": ep, "mark_price": ep, "isolated_margin": margin, **kw}
    return isolated_account(CASES[venue], pos | {"margin_mode": "isolated"})


BRACKET_CROSSINGS = {
    # 700k notional (bracket 3) long at 1.75x: LP notional ~301k (bracket 2).
    "usdm-long-down": _iso("binance-usdm", "BTCUSDT", 10, 70_000, 400_000),
    # 500k notional (bracket 2) short with 300k margin: LP notional ~796k (bracket 3).
    "usdm-short-up": _iso("binance-usdm", "BTCUSDT", -10, 50_000, 300_000),
    # 180M notional (tier 2 from 150M) long, 60M margin: LP notional ~120M (tier 1).
    "hyperliquid-long-down": _iso("hyperliquid", "BTC", 2000, 90_000, 60e6),
    # Inverse short, 20 BTC coin notional (tier 2), 16 BTC margin: LP coin notional ~4 BTC (tier 1).
    "coinm-short-up": _iso("binance-coinm", "BTCUSD_PERP", -10_000, 50_000, 16.0, tiers=_TIERS_5BTC),
    # Inverse long, 4 BTC coin notional (tier 1), 3 BTC margin: LP coin notional ~6.9 BTC (tier 2).
    "coinm-long-down": _iso("binance-coinm", "BTCUSD_PERP", 2_000, 50_000, 3.0, tiers=_TIERS_5BTC),
    "okx-short-up": _iso(
        "okx",
        "AAAUSDT",
        -10,
        50_000,
        300_000,
        tiers=[
            {"notional_floor": 0, "notional_cap": 600_000, "mmr": 0.005, "max_leverage": 100},
            {"notional_floor": 600_000, "notional_cap": None, "mmr": 0.01, "max_leverage": 50},
        ],
    ),
}


@pytest.mark.parametrize("name", list(BRACKET_CROSSINGS))
def test_margin_balance_equals_mm_when_the_liquidation_price_is_in_another_bracket(name: str) -> None:
    """Hand-picked cases whose LP lies in a different bracket than the mark: balance == MM there."""
    tiers = check_isolated_balance_at_lp(BRACKET_CROSSINGS[name])
    assert tiers, "expected a liquidation price"
    assert all(at_mark != at_lp for at_mark, at_lp in tiers), f"no bracket crossing: {tiers}"


def test_cross_equity_equals_mm_when_the_liquidation_price_is_in_another_bracket() -> None:
    """Cross BTCUSDT long (bracket 3 at mark) + ETHUSDT short: the BTC LP is in bracket 2."""
    spec = {
        "venue": "binance-usdm",
        "margin_mode": "cross",
        "wallet_balance": 380_000,
        "positions": [
            {"symbol": "BTCUSDT", "qty": 10, "entry_price": 70_000, "mark_price": 70_000},
            {"symbol": "ETHUSDT", "qty": -20, "entry_price": 3_000, "mark_price": 3_100},
        ],
    }
    tiers = check_cross_equity_at_lp(spec)
    assert tiers[0] == (3, 2)


# ============================================================================ 4. MM continuous at caps
@SETTINGS
@given(rows=tier_rows((0.0, 8.0), max_tiers=10))
def test_maintenance_margin_is_continuous_at_tier_caps(rows: list[dict[str, Any]]) -> None:
    """For a table whose amounts come from the continuity rule, MM just below each cap equals
    MM at the cap (rel 1e-9), and MM never decreases across a boundary."""
    table = levguard.TierTable.from_rows(rows)
    for k, t in enumerate(table.tiers[:-1]):
        cap = t.notional_cap
        below = math.nextafter(cap, 0.0)
        assert table.index(below) == k
        assert table.index(cap) == k + 1
        mm_below, mm_at = table.maintenance_margin(below), table.maintenance_margin(cap)
        assert mm_below == pytest.approx(mm_at, rel=1e-9, abs=1e-9)
        eps = cap * 1e-6
        assert table.maintenance_margin(cap - eps) <= table.maintenance_margin(cap + eps)


@pytest.mark.parametrize(
    ("source", "symbol"),
    [("binance", s) for s in BINANCE_TIERS] + [("hyperliquid", s) for s in HYPERLIQUID_TIERS],
)
def test_builtin_tier_tables_are_continuous_at_their_caps(source: str, symbol: str) -> None:
    """The packaged snapshots obey the continuity rule: MM(cap^-) == MM(cap) at every cap."""
    table = (BINANCE_TIERS if source == "binance" else HYPERLIQUID_TIERS)[symbol]
    for t in table.tiers[:-1]:
        cap = t.notional_cap
        assert table.maintenance_margin(math.nextafter(cap, 0.0)) == pytest.approx(
            table.maintenance_margin(cap), rel=1e-9
        )


# ============================================================================ 5. cross(1) == isolated
@pytest.mark.parametrize("venue", ALL_VENUES)
@FEW
@given(data=st.data())
def test_single_position_cross_account_equals_isolated_position_with_the_wallet_as_margin(
    venue: str, data: st.DataObject
) -> None:
    """A cross account with wallet W and one position has the same liquidation and bankruptcy
    prices (rel 1e-12) as that position isolated with ``isolated_margin = W``.

    Bybit inverse counts the fee to close at the bankruptcy price in its cross equation only (its
    isolated formula has no fee term): there the cross MM is not smaller, and with a zero fee the
    two agree."""
    case = CASES[venue]
    cross = data.draw(cross_account(case, n_min=1, n_max=1))
    p = cross["positions"][0]
    iso_pos = {**p, "margin_mode": "isolated", "isolated_margin": cross["wallet_balance"]}
    c = levguard.evaluate_account(cross).positions[0]
    i = levguard.evaluate_account(isolated_account(case, iso_pos)).positions[0]
    if venue == "bybit-inverse":
        assert c.maintenance_margin >= i.maintenance_margin  # equal where no bankruptcy price exists
        cross["positions"][0] = {**p, "taker_fee_rate": 0.0}
        iso_pos["taker_fee_rate"] = 0.0
        c = levguard.evaluate_account(cross).positions[0]
        i = levguard.evaluate_account(isolated_account(case, iso_pos)).positions[0]
    assert same(c.liquidation_price, i.liquidation_price), (c.liquidation_price, i.liquidation_price)
    assert same(c.bankruptcy_price, i.bankruptcy_price), (c.bankruptcy_price, i.bankruptcy_price)
    assert c.maintenance_margin == pytest.approx(i.maintenance_margin, rel=1e-12)


def test_single_position_cross_bankruptcy_equals_isolated_at_one_x() -> None:
    """Regression (found by hypothesis): 1x long (W == entry notional), mark below entry."""
    pos = {"symbol": "BTCUSDT", "qty": 0.46975888167064916, "entry_price": 1000.0, "mark_price": 700.0}
    w = 469.75888167064915
    cross = {"venue": "binance-usdm", "margin_mode": "cross", "wallet_balance": w, "positions": [pos]}
    iso = isolated_account(CASES["binance-usdm"], {**pos, "margin_mode": "isolated", "isolated_margin": w})
    c = levguard.evaluate_account(cross).positions[0]
    i = levguard.evaluate_account(iso).positions[0]
    assert same(c.bankruptcy_price, i.bankruptcy_price), (c.bankruptcy_price, i.bankruptcy_price)


# ============================================================================ 6. more collateral
def _effective_lp(r: levguard.PositionReport) -> float:
    """The LP on the price axis, with None resolved by the liquidatable flag: no root and not
    liquidatable means never (0 for a long, inf for a short); liquidatable means at every price."""
    if r.liquidation_price is not None:
        return float(r.liquidation_price)
    never = 0.0 if r.side > 0 else math.inf
    always = math.inf if r.side > 0 else 0.0
    return always if r.liquidatable else never


def _away(before: levguard.PositionReport, after: levguard.PositionReport, venue: str = "") -> bool:
    """True when ``after``'s LP is further from the mark than ``before``'s: strictly when
    ``before`` had a price, and never back from "never liquidated" (None = no LP).  On a venue
    whose MM jumps at a tier's floor (OKX: no deduction) a short's LP on the step stays there
    until the collateral carries it past the jump (weakly away)."""
    sign = 1.0 if before.side > 0 else -1.0
    a, b = sign * _effective_lp(before), sign * _effective_lp(after)
    model = levguard.get_venue(venue) if venue else None
    steps = model is not None and not model.tier_deduction and model.mm_basis is MMBasis.PRICE
    if before.liquidation_price is not None:
        return b < a or (steps and before.side < 0 and b == a)
    return b <= a


@pytest.mark.parametrize("venue", ALL_VENUES)
@FEW
@given(data=st.data(), growth=log_uniform(-3, 1))
def test_more_collateral_moves_the_liquidation_price_away(venue: str, data: st.DataObject, growth: float) -> None:
    """Raising an isolated margin, or a cross wallet, moves every LP away from the mark: longs'
    down (or to none), shorts' up (or to none)."""
    case = CASES[venue]
    pos = data.draw(position(case, data.draw(st.sampled_from(case.symbols)), isolated=True))
    more = {**pos, "isolated_margin": pos["isolated_margin"] * (1 + growth)}
    a = levguard.evaluate_account(isolated_account(case, pos)).positions[0]
    b = levguard.evaluate_account(isolated_account(case, more)).positions[0]
    assert _away(a, b, venue), f"isolated: margin {pos['isolated_margin']} -> {more['isolated_margin']}: {a} -> {b}"

    cross = data.draw(cross_account(case))
    richer = {**cross, "wallet_balance": cross["wallet_balance"] * (1 + growth)}
    before = levguard.evaluate_account(cross).positions
    after = levguard.evaluate_account(richer).positions
    for p, x, y in zip(cross["positions"], before, after, strict=True):
        assert _away(x, y, venue), (
            f"cross {p['symbol']}: wallet {cross['wallet_balance']} -> {richer['wallet_balance']}: "
            f"{x.liquidation_price} -> {y.liquidation_price}"
        )


# ============================================================================ 7. kernel parity
@pytest.mark.parametrize("venue", KERNEL_VENUES)
@FEW
@given(data=st.data())
def test_vectorized_kernel_matches_the_evaluator(venue: str, data: st.DataObject) -> None:
    """``levguard.margin.isolated_liquidation_prices`` (numba kernel) equals evaluate_account's
    ``liquidation_price`` for the same isolated positions (NaN <-> None, rel 1e-12)."""
    case = CASES[venue]
    symbol = case.symbols[0]
    src = data.draw(tier_source(case, symbol))
    fee = data.draw(st.floats(0.0, 0.002)) if venue in FEE_VENUES else None
    n = data.draw(st.integers(1, 6))
    positions = []
    for _ in range(n):
        p = data.draw(position(case, symbol, isolated=True))
        p = {k: v for k, v in p.items() if k not in ("mmr", "tiers", "taker_fee_rate")} | src
        if fee is not None:
            p["taker_fee_rate"] = fee
        positions.append(p)
    table = table_for(case, positions[0])
    kw = {} if fee is None else {"taker_fee_rate": fee}
    got = isolated_liquidation_prices(
        [p["qty"] for p in positions],
        [p["entry_price"] for p in positions],
        [p["isolated_margin"] for p in positions],
        table,
        venue,
        **kw,
    )
    for p, k in zip(positions, got, strict=True):
        e = levguard.evaluate_account(isolated_account(case, p)).positions[0].liquidation_price
        assert same(None if math.isnan(k) else float(k), e), f"{p}: kernel {k!r}, evaluator {e!r}"


# ============================================================================ 8. BP beyond LP
@pytest.mark.parametrize("venue", ALL_VENUES)
@FEW
@given(data=st.data())
def test_bankruptcy_price_lies_beyond_the_liquidation_price(venue: str, data: st.DataObject) -> None:
    """Whenever both exist and MM > 0, the bankruptcy price is past the LP: long BP < LP, short
    BP > LP (isolated positions and all-cross accounts)."""
    case = CASES[venue]
    pos = data.draw(position(case, data.draw(st.sampled_from(case.symbols)), isolated=True))
    reports = list(levguard.evaluate_account(isolated_account(case, pos)).positions)
    reports += levguard.evaluate_account(data.draw(cross_account(case))).positions
    for r in reports:
        lp, bp = r.liquidation_price, r.bankruptcy_price
        if lp is None or bp is None or not r.maintenance_margin > 0:
            continue
        if r.side > 0:
            assert bp < lp, f"{r.symbol} long: BP {bp} !< LP {lp}"
        else:
            assert bp > lp, f"{r.symbol} short: BP {bp} !> LP {lp}"


# ============================================================================ tiers without deduction
@FEW
@given(rows=tier_rows(), notional=st.floats(0.0, 1e7, allow_nan=False))
def test_the_whole_position_rate_never_asks_less_than_the_deduction_and_keeps_the_brackets(
    rows: list[dict[str, Any]], notional: float
) -> None:
    """OKX/BitMEX (the tier rate on the whole position) against Binance-style deductions on the
    same brackets: the same tier and leverage cap at every notional, the MM ``notional x mmr``
    (never below the continuous one, equal in the first tier), and non-decreasing in notional."""
    cont = levguard.TierTable.from_rows(rows)
    whole = cont.without_deduction()
    assert whole is cont.without_deduction()
    assert whole.without_deduction() is whole
    assert levguard.TierTable.from_rows(rows, deduction=False) == whole
    k = cont.index(notional)
    assert whole.index(notional) == k
    assert whole.max_leverage(notional) == cont.max_leverage(notional)
    assert whole.maintenance_margin(notional) == notional * whole.tiers[k].mmr
    assert whole.maintenance_margin(notional) >= cont.maintenance_margin(notional) - 1e-9 * notional
    if k == 0:
        assert whole.maintenance_margin(notional) == cont.maintenance_margin(notional)
    assert whole.maintenance_margin(notional * 1.5) >= whole.maintenance_margin(notional)
