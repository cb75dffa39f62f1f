"""The cascade simulator books full closes with the venue's outcome rule (levguard.core.liquidation_outcome).

A takeover (Binance, Bybit, OKX, Gate, BitMEX; the default) leaves a liquidated account nothing;
a book close (Hyperliquid, dYdX, Deribit) keeps the remainder after the fee; Hyperliquid's
backstop takes the whole position when the equity at the fill is below 2/3 of its maintenance
margin; Deribit's incremental liquidation closes just enough to restore the maintenance margin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from cascade_helpers import event_values, inputs, money_residual, partial_fields, run, with_cfg

from fakes.tiers import TWO_TIER_ROWS
from levguard.cascade.simulator import MarginRegime
from levguard.kernels import cascade as kc
from levguard.kernels import liquidation as kl
from levguard.kernels._jit import NUMBA_DISABLED

_with = with_cfg

CASES: dict[str, dict[str, Any]] = {
    "book": {"outcome": kl.BOOK},
    "book_backstop_slices": {"outcome": kl.BOOK, "backstop": 2.0 / 3.0, "partial": 0.2},
    "restore": {"outcome": kl.BOOK, **partial_fields("restore"), "liq_fee": 0.003},
}


@pytest.mark.parametrize("name", list(CASES))
def test_money_is_conserved_under_every_outcome(name: str) -> None:
    args = _with(inputs(fund=0.0, depth=5e3), **CASES[name])
    out = run(kc.cascade_nb, args)
    assert out[3].accounts_liquidated > 20
    diff, scale = money_residual(args, out)
    assert abs(diff) <= 1e-9 * scale
    # Per account: the change of each event is the value traded less the fund's change.
    acc = args[0]
    per_event = event_values(acc, out[1]) - out[1]["fund_delta"]
    expect = np.bincount(out[1]["account"].astype(np.int64), weights=per_event, minlength=acc.side.shape[0])
    np.testing.assert_allclose(out[2].pnl, expect, rtol=0, atol=1e-9 * acc.margin.sum())


def test_a_book_close_leaves_the_remainder_a_takeover_nothing() -> None:
    # No liquidation fee (Hyperliquid): with the helpers' 0.5 % fee above the 0.4 % maintenance
    # rate a book close at the liquidation price would leave nothing either.
    base = _with(inputs(fund=1e7), liq_fee=0.0)
    takeover = run(kc.cascade_nb, base)
    book = run(kc.cascade_nb, _with(base, outcome=kl.BOOK))
    acc = base[0]
    m0 = acc.margin

    def wiped(out: tuple[np.ndarray, ...]) -> np.ndarray:
        return (out[2].qty == 0.0) & (out[2].status == 1.0)

    # A takeover: every fully liquidated account lost its margin.
    w = wiped(takeover)
    assert w.sum() > 10
    np.testing.assert_allclose(takeover[2].pnl[w], -m0[w], rtol=0, atol=1e-9 * m0.max())
    # A book close: liquidated near their liquidation price, they keep something.
    wb = wiped(book)
    assert wb.sum() > 10
    kept = m0[wb] + book[2].pnl[wb]
    assert (kept >= 0.0).all()
    assert (kept > 0.0).mean() > 0.5
    # The fund gains less when the traders keep the remainder.
    assert book[0].fund[-1] < takeover[0].fund[-1]


def test_the_backstop_takes_over_what_gapped_below_two_thirds_of_maintenance() -> None:
    args = _with(inputs(fund=1e7, depth=2e3), outcome=kl.BOOK, backstop=2.0 / 3.0, liq_fee=0.0)
    no_backstop = run(kc.cascade_nb, _with(args, backstop=0.0))
    out = run(kc.cascade_nb, args)
    m0 = args[0].margin
    kept_with = (m0 + out[2].pnl)[out[2].qty == 0.0].sum()
    kept_without = (m0 + no_backstop[2].pnl)[no_backstop[2].qty == 0.0].sum()
    assert kept_with < kept_without


def test_incremental_liquidation_keeps_positions_open() -> None:
    args = _with(inputs(fund=1e7), **CASES["restore"])
    out = run(kc.cascade_nb, args)
    liquidated = out[2].status == 1.0
    still_open = liquidated & (out[2].qty > 0.0)
    assert still_open.sum() > 0  # partly liquidated, the rest kept


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: cascade_nb is cascade_py")
@pytest.mark.parametrize("name", list(CASES))
def test_python_twin_equals_compiled_under_every_outcome(name: str) -> None:
    args = _with(inputs(n=150, n_steps=120, fund=0.0), **CASES[name])
    py = run(kc.cascade_py, args)
    nb = run(kc.cascade_nb, args)
    naive = run(kc.cascade_nb, args, naive=True)
    for a, b, c in zip(py, nb, naive, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)


def test_regime_from_a_venue_rule() -> None:
    hl = MarginRegime.for_venue("hyperliquid")
    assert (hl.outcome, hl.partial, hl.partial_min_notional, hl.liquidation_fee) == ("book", 0.2, 100_000.0, 0.0)
    assert hl.backstop == pytest.approx(2.0 / 3.0)
    binance = MarginRegime.for_venue("binance-usdm", mmr=0.004)
    assert (binance.outcome, binance.partial, binance.mmr) == ("takeover", 1.0, 0.004)
    assert MarginRegime.for_venue("deribit").partial == "restore"
    assert MarginRegime.for_venue("bybit-linear").partial == "tier"
    assert MarginRegime().outcome == "takeover"  # the default is unchanged


def test_a_venue_regime_reads_tiers_as_the_venue_applies_them() -> None:
    # OKX and BitMEX put the tier's rate on the whole position (no deduction); the cascade kept the
    # table's continuity amounts (a review).  OKX's cap is in the lower tier (the row's cap is the
    # next float up, so the kernel's `n < cap` lookup reads `n <= 1e6`).
    from levguard.core.tiers import TierTable

    table = TierTable.from_rows(TWO_TIER_ROWS)
    rows = {
        v: MarginRegime.for_venue(v, tiers=table, kind="tiered").tier_rows() for v in ("okx", "bitmex", "bybit-linear")
    }
    assert rows["bitmex"].tolist() == [[1e6, 0.005, 0.0], [np.inf, 0.01, 0.0]]
    assert rows["okx"][:, 2].tolist() == [0.0, 0.0]
    assert rows["okx"][0, 0] == np.nextafter(1e6, np.inf)
    assert rows["bybit-linear"].tolist() == [[1e6, 0.005, 0.0], [np.inf, 0.01, 5_000.0]]


def test_a_venue_regime_takes_a_venue_model_or_a_bare_rule_with_tiers() -> None:
    from levguard.core.liquidation_outcome import liquidation_rule
    from levguard.core.rules import get_venue
    from levguard.core.tiers import TierTable

    table = TierTable.from_rows(TWO_TIER_ROWS)
    by_model = MarginRegime.for_venue(get_venue("bitmex"), tiers=table, kind="tiered").tier_rows()
    assert by_model[:, 2].tolist() == [0.0, 0.0]  # read as BitMEX applies them
    bare = MarginRegime.for_venue(liquidation_rule("bitmex"), tiers=table, kind="tiered").tier_rows()
    assert bare[:, 2].tolist() == [0.0, 5_000.0]  # a bare rule says nothing about tiers
