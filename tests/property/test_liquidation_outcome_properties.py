"""Hypothesis properties of the liquidation outcome model (``levguard.core.liquidation_outcome``).

For every venue rule and any adverse fill (at or beyond entry against the position):

* money is conserved: the margin is what the trader keeps, plus the insurance fund's change,
  plus the trading loss at the fill (``margin = kept + fund - trading_pnl``);
* the trader keeps between 0 and the margin;
* what the trader is left with (the margin kept plus the remaining position valued at the fill)
  never falls when the fill improves: non-decreasing in the fill price for longs, non-increasing
  for shorts (except where a tier step-down read at the fill reduces the worse fill's position
  and liquidates the better one whole: OKX's rule);
* a takeover keeps nothing and its loss at the bankruptcy price is exactly the margin.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.liquidation_outcome import liquidation_outcome, liquidation_rule
from levguard.core.rules import get_venue, venue_names
from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.kernels import liquidation as kl
from levguard.kernels.margin import position_upnl

SETTINGS = settings(max_examples=150, deadline=None)
VENUES = venue_names()
TIERS = BUILTIN_TIERS["BTCUSDT"]


@st.composite
def liquidations(draw: st.DrawFn) -> dict[str, object]:
    """A position, its margin, a maintenance margin and two adverse fills (``fill_lo`` worse)."""
    side = draw(st.sampled_from([1.0, -1.0]))
    entry = draw(st.floats(100.0, 100_000.0))
    notional = draw(st.floats(10.0, 5e6))
    leverage = draw(st.floats(1.0, 125.0))
    qty = side * notional / entry
    margin = notional / leverage
    a = draw(st.floats(0.0, 0.9))
    b = draw(st.floats(0.0, 0.9))
    moves = sorted((a, b))
    # Adverse moves: the worse fill is further from the entry against the position.
    fills = [entry * (1.0 - m) if side > 0 else entry * (1.0 + m) for m in moves]
    mm_share = draw(st.floats(0.0, 1.0))
    return {
        "qty": qty,
        "entry": entry,
        "margin": margin,
        "fill_better": fills[0],
        "fill_worse": fills[1],
        "mm": mm_share * margin,
        "tiers": draw(st.sampled_from([None, TIERS])),
        "allow_partial": draw(st.booleans()),
    }


def _outcome(venue: str, c: dict[str, object], fill: float) -> object:
    tiers = c["tiers"]
    return liquidation_outcome(
        venue,
        c["qty"],  # type: ignore[arg-type]
        c["entry"],  # type: ignore[arg-type]
        fill,
        c["margin"],  # type: ignore[arg-type]
        tiers=tiers,  # type: ignore[arg-type]
        maintenance_margin=None if tiers is not None else c["mm"],  # type: ignore[arg-type]
        taker_fee=0.0005,
        mm_at_entry=get_venue(venue).mm_basis.value == "entry",
        allow_partial=c["allow_partial"],  # type: ignore[arg-type]
    )


def _left(o: object, entry: float) -> float:
    # What the trader is left with at the fill: the margin kept plus the rest of the position.
    return o.kept + position_upnl(o.remaining_qty, entry, o.fill_price, False)  # type: ignore[attr-defined]


@pytest.mark.parametrize("venue", VENUES)
@SETTINGS
@given(c=liquidations())
def test_money_is_conserved_and_the_trader_keeps_at_most_the_margin(venue: str, c: dict[str, object]) -> None:
    margin = float(c["margin"])  # type: ignore[arg-type]
    for fill in (c["fill_better"], c["fill_worse"]):
        o = _outcome(venue, c, float(fill))  # type: ignore[arg-type]
        assert o.margin == margin
        residual = o.kept + o.insurance_fund - o.trading_pnl - margin
        assert abs(residual) <= 1e-9 * (margin + abs(o.trading_pnl))
        assert 0.0 <= o.kept <= margin * (1.0 + 1e-12)
        assert o.fee >= 0.0
        if o.taken_over:
            assert o.kept == 0.0
            assert not o.partial


@pytest.mark.parametrize("venue", VENUES)
@SETTINGS
@given(c=liquidations())
def test_a_better_fill_never_leaves_the_trader_less(venue: str, c: dict[str, object]) -> None:
    entry = float(c["entry"])  # type: ignore[arg-type]
    better = _outcome(venue, c, float(c["fill_better"]))  # type: ignore[arg-type]
    worse = _outcome(venue, c, float(c["fill_worse"]))  # type: ignore[arg-type]
    scale = 1e-9 * float(c["margin"])  # type: ignore[arg-type]
    if worse.partial and not better.partial and liquidation_rule(venue).partial == "tier":  # type: ignore[attr-defined]
        # A tier step-down reads the tier at the fill (OKX values maintenance at the mark): a
        # short's worse fill can carry its notional into a tier that is reduced rather than
        # liquidated whole (OKX: tier 3 and above step down to tier 1; okx.com help 360020411711),
        # so the worse fill may leave more.  The venue's rule, not a model error.
        return
    assert _left(better, entry) >= _left(worse, entry) - scale
    if not (better.partial or worse.partial):
        assert better.kept >= worse.kept - scale


@SETTINGS
@given(
    qty=st.floats(1e-3, 1e3),
    entry=st.floats(10.0, 1e5),
    margin=st.floats(1.0, 1e6),
    move=st.floats(0.0, 0.99),
)
def test_a_takeover_loses_exactly_the_margin_at_the_bankruptcy_price(
    qty: float, entry: float, margin: float, move: float
) -> None:
    o = liquidation_outcome("binance-usdm", qty, entry, entry * (1.0 - move), margin)
    assert o.kept == 0.0
    tol = 1e-12 * (qty * entry + margin)  # rounding of prices near the entry, times the size
    if o.bankruptcy_price is not None:
        loss_at_bankruptcy = -position_upnl(qty, entry, o.bankruptcy_price, False)
        assert loss_at_bankruptcy == pytest.approx(margin, rel=1e-9, abs=tol)
        # The fund gets the fill's distance from the bankruptcy price on the whole position.
        assert o.insurance_fund == pytest.approx(qty * (o.fill_price - o.bankruptcy_price), rel=1e-9, abs=tol)


@SETTINGS
@given(
    kind=st.sampled_from([kl.TAKEOVER, kl.BOOK]),
    collateral=st.floats(-1e6, 1e6),
    realised=st.floats(-1e6, 1e6),
    notional=st.floats(0.0, 1e7),
    fee_rate=st.floats(0.0, 0.05),
    maintenance=st.floats(0.0, 1e5),
    backstop=st.sampled_from([0.0, 2.0 / 3.0]),
    others_mm=st.sampled_from([0.0, 1.0, 1e3, 1e5]),
    share=st.booleans(),
)
def test_the_kernel_settlement_conserves_money(
    kind: int,
    collateral: float,
    realised: float,
    notional: float,
    fee_rate: float,
    maintenance: float,
    backstop: float,
    others_mm: float,
    share: bool,
) -> None:
    # others_mm > 0: a cross position, its collateral net of the other positions' maintenance;
    # share: dYdX's fee cap, the position's share of the account's equity (TNC x MM_i / TMMR).
    kept, fee, fund, taken = kl.settle_close(
        kind, collateral, realised, notional, fee_rate, maintenance, backstop, others_mm, share
    )
    equity = collateral + realised
    assert fee >= 0.0
    assert math.isclose(kept + fund, equity, rel_tol=1e-12, abs_tol=1e-6)
    if share and others_mm > 0.0 and not taken:
        account = equity + others_mm  # TNC at the fill
        assert fee <= max(account * maintenance / (maintenance + others_mm), 0.0) * (1 + 1e-12) + 1e-6
        # What the rest of the account keeps: its share of the equity, never more than it had.
        if account >= 0.0:
            assert kept + others_mm >= -1e-6 * max(1.0, abs(equity))
            assert fund >= 0.0
    else:
        # A book close in cross margin takes its fee from the account's equity, not from the share.
        fee_cap = equity + others_mm if others_mm > 0.0 and not taken else equity
        assert fee <= max(fee_cap, 0.0) * (1 + 1e-12) + 1e-6
        if others_mm > 0.0 and not taken:
            # The account's cap in cross margin: the fund pays only an account below 0; a solvent
            # account bears its position's negative share (and the fee) with the other margin.
            if equity + others_mm >= 0.0:
                assert fund >= 0.0
                assert kept + others_mm >= -1e-6 * max(1.0, abs(equity))
            else:
                assert kept == pytest.approx(-others_mm, rel=1e-12, abs=1e-6)
        else:
            assert kept >= 0.0
    if taken:
        assert kept == 0.0
    # The backstop takes the account over only below its share of the account's maintenance.
    if kind == kl.BOOK:
        assert bool(taken) == (backstop > 0.0 and equity + others_mm < backstop * (maintenance + others_mm))


@pytest.mark.parametrize("venue", ["bybit-linear", "gate", "bitmex"])
@SETTINGS
@given(c=liquidations())
def test_a_tier_step_down_leaves_the_rest_out_of_liquidation(venue: str, c: dict[str, object]) -> None:
    # Bybit and Gate reduce to the highest lower tier that restores the margin, BitMEX once below
    # the next limit; a reduction that would leave the rest in liquidation is a takeover instead.
    model = get_venue(venue)
    table = model.read_tiers(TIERS)
    entry, fill = float(c["entry"]), float(c["fill_worse"])  # type: ignore[arg-type]
    o = liquidation_outcome(
        venue, c["qty"], entry, fill, c["margin"], tiers=table, taker_fee=0.0005,  # type: ignore[arg-type]
        mm_at_entry=model.mm_basis.value == "entry",
    )  # fmt: skip
    if not o.partial:
        return
    basis = entry if model.mm_basis.value == "entry" else fill
    rest = abs(o.remaining_qty) * basis
    mm_rest = table.maintenance_margin(rest) + (0.0005 * rest if model.fee_in_mm else 0.0)
    assert _left(o, entry) > mm_rest * (1.0 - 1e-9)
    # A lower tier (the rest may sit exactly on a cap, which belongs to the tier below it).  The
    # position's own tier is read as the venue reads it, without a tolerance: at exactly 50,000 a
    # BitMEX position is in the second limit ("< 50,000" is the first), and one step takes it
    # just below (hypothesis found this case; the tolerance had put it in the first).
    assert table.index(rest * (1.0 - 1e-9)) < table.index(abs(float(c["qty"])) * basis)  # type: ignore[arg-type]


def test_a_bitmex_position_exactly_at_a_limit_steps_just_below_it() -> None:
    # The case hypothesis found: 500 @ 100 is exactly the 50,000 limit, in BitMEX's second risk
    # limit ("< 50,000" is the first); one step takes it just below the limit, into the first.
    table = get_venue("bitmex").read_tiers(TIERS)
    o = liquidation_outcome(
        "bitmex", 500.0, 100.0, 99.0, 50_000.0, tiers=table, taker_fee=0.0005, mm_at_entry=True, check_trigger=False
    )  # the step's size is tested (the margin covers the maintenance at 99: no trigger there)
    assert table.index(50_000.0) == 1
    assert o.partial
    assert table.index(abs(o.remaining_qty) * 100.0) == 0
    assert abs(o.remaining_qty) == pytest.approx(500.0, rel=1e-8)


@SETTINGS
@given(
    qty=st.floats(1.0, 2_000.0),
    coef=st.floats(1e-6, 1e-4),
    base=st.floats(0.005, 0.02),
    short=st.floats(1e-6, 0.5),
    fee=st.floats(0.0, 0.01),
)
def test_an_incremental_close_against_a_size_dependent_rate_restores_exactly(
    qty: float, coef: float, base: float, short: float, fee: float
) -> None:
    # Deribit's rate base + coef |q| (reference section 5): the close x leaves the rest strictly
    # above its own maintenance at its own (smaller) rate, and not by more than the restore margin.
    price = 100.0
    rate = base + coef * qty
    mm = rate * qty * price
    equity = mm * (1.0 - short)
    x = kl.restore_fraction(equity, mm, qty * price, rate, fee, coef * qty)
    if x >= 1.0:
        return
    rest = qty * (1.0 - x)
    left = equity - fee * x * qty * price
    mm_rest = (base + coef * rest) * rest * price
    assert left > mm_rest
    assert left <= mm_rest * (1.0 + 1e-8) + 1e-9 * mm


@pytest.mark.parametrize("venue", VENUES)
@SETTINGS
@given(c=liquidations(), others=st.floats(0.0, 1e5))
def test_a_cross_liquidation_conserves_money(venue: str, c: dict[str, object], others: float) -> None:
    # Cross margin (others_maintenance > 0): the margin is the collateral share net of the other
    # positions' maintenance; the backstop tests the account and dYdX's fee is its share of the
    # account's equity, so the trader may keep less than 0 of the share (the account pays).
    for fill in (c["fill_better"], c["fill_worse"]):
        o = liquidation_outcome(
            venue, c["qty"], c["entry"], float(fill), c["margin"],  # type: ignore[arg-type]
            maintenance_margin=c["mm"], taker_fee=0.0005, others_maintenance=others,  # type: ignore[arg-type]
            allow_partial=c["allow_partial"],  # type: ignore[arg-type]
        )  # fmt: skip
        margin = float(c["margin"])  # type: ignore[arg-type]
        residual = o.kept + o.insurance_fund - o.trading_pnl - margin
        assert abs(residual) <= 1e-9 * (margin + abs(o.trading_pnl) + others)
        assert o.fee >= 0.0
        if others == 0.0:
            assert o.kept >= 0.0
        elif margin + o.trading_pnl + others >= 0.0 and not o.taken_over:
            # A solvent account: the fund never pays it, and the position's share never goes
            # below what the other positions' maintenance can bear.
            tol = 1e-12 * (margin + abs(o.trading_pnl) + others)  # rounding of the sums
            assert o.kept >= -others - tol
            assert o.insurance_fund >= -tol
