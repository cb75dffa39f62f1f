"""Hypothesis properties of Deribit PME and OKX portfolio margin (``levguard.core.portfolio_margin``).

Portfolios mix inverse futures and coin-settled options (options follow levguard's documented
revaluation assumption); OKX risk units are linear books with random given charges.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.portfolio_margin import (
    DeribitFuture,
    DeribitOption,
    DeribitPmeParams,
    DeribitPosition,
    deribit_pme_margin,
)
from levguard.core.portfolio_margin_okx import (
    OkxRiskUnit,
    okx_account_margin,
    okx_risk_unit_margin,
)

SETTINGS = settings(max_examples=150, deadline=None)
FORWARD = 60_000.0

sizes = st.floats(-50.0, 50.0, allow_nan=False).filter(lambda x: abs(x) > 1e-6)
futures = st.builds(DeribitFuture, st.just("F"), sizes, st.floats(0.0, 1.0))
options = st.builds(
    DeribitOption,
    st.just("O"),
    sizes,
    st.sampled_from(["call", "put"]),
    st.floats(0.5 * FORWARD, 1.5 * FORWARD),
    st.floats(0.0, 1.0),
    st.floats(0.05, 2.0),
    st.floats(0.9 * FORWARD, 1.1 * FORWARD),
)


@st.composite
def portfolios(draw: st.DrawFn) -> list[DeribitPosition]:
    """One to five futures and options with distinct instrument names."""
    drawn = draw(st.lists(st.one_of(futures, options), min_size=1, max_size=5))
    return [dataclasses.replace(p, instrument=f"{p.instrument}{i}") for i, p in enumerate(drawn)]


params = st.builds(
    DeribitPmeParams,
    price_range=st.floats(0.02, 0.5),
    buckets_count=st.integers(1, 6),
    volatility_range_up=st.floats(0.0, 1.0),
    volatility_range_down=st.floats(0.0, 0.9),
    min_volatility_for_shock_up=st.floats(0.0, 1.0),
    extended_table_factor=st.floats(0.0, 1.0),
    annualised_move_risk=st.floats(0.0, 0.2),
    min_annualised_move=st.floats(0.0, 0.02),
    pnl_offset=st.floats(0.0, 1.0),
    max_offsetable_pnl=st.floats(0.0, 1e6),
    mm_factor=st.floats(0.01, 1.0),
)
charges = st.floats(0.0, 10.0)


@SETTINGS
@given(portfolios(), params, charges, charges, charges, charges, charges)
def test_deribit_mm_at_most_im(
    book: list[DeribitPosition], p: DeribitPmeParams, ds: float, cc: float, spot: float, mmp: float, oo: float
) -> None:
    """MM = mm_factor x RMM <= RMM <= IM, and the worst case is never negative."""
    r = deribit_pme_margin(
        book, p, delta_shock=ds, correlation_contingency=cc, spot_margin=spot, mmp_margin=mmp, open_orders_margin=oo
    )
    assert r.worst_case >= 0.0
    assert r.maintenance_margin <= r.risk_matrix_margin * (1 + 1e-15)
    assert r.risk_matrix_margin <= r.initial_margin * (1 + 1e-15)


@SETTINGS
@given(portfolios(), params, st.floats(0.01, 100.0))
def test_deribit_rmm_positively_homogeneous_without_offset(
    book: list[DeribitPosition], p: DeribitPmeParams, k: float
) -> None:
    """With pnl_offset = 0, scaling every size by k > 0 scales risk_matrix_margin by k."""
    p = dataclasses.replace(p, pnl_offset=0.0)
    scaled: list[DeribitPosition] = [
        dataclasses.replace(x, size=k * x.size)
        if isinstance(x, DeribitFuture)
        else dataclasses.replace(x, qty=k * x.qty)
        for x in book
    ]
    base = deribit_pme_margin(book, p).risk_matrix_margin
    assert deribit_pme_margin(scaled, p).risk_matrix_margin == pytest.approx(k * base, rel=1e-9, abs=1e-12)


def _negated(book: list[DeribitPosition], c: float) -> list[DeribitPosition]:
    # The offsetting position: -c times every position, under new instrument names.
    out: list[DeribitPosition] = []
    for x in book:
        name = f"{x.instrument}-hedge"
        if isinstance(x, DeribitFuture):
            out.append(dataclasses.replace(x, instrument=name, size=-c * x.size))
        else:
            out.append(dataclasses.replace(x, instrument=name, qty=-c * x.qty))
    return out


@SETTINGS
@given(portfolios(), params, st.floats(0.0, 1.0))
def test_deribit_offsetting_position_never_raises_worst_case(
    book: list[DeribitPosition], p: DeribitPmeParams, c: float
) -> None:
    """With pnl_offset = 1 (gains offset losses in full), adding -c x the book (0 <= c <= 1) never
    increases worst_case; the fully hedged book (c = 1) has worst_case 0."""
    p = dataclasses.replace(p, pnl_offset=1.0, max_offsetable_pnl=1e12)
    before = deribit_pme_margin(book, p).worst_case
    after = deribit_pme_margin(book + _negated(book, c), p).worst_case
    assert after <= before * (1 + 1e-9) + 1e-12
    assert deribit_pme_margin(book + _negated(book, 1.0), p).worst_case == pytest.approx(0.0, abs=1e-9)


okx_units = st.builds(
    OkxRiskUnit,
    st.sampled_from(["BTC", "ETH", "LTC", "SOL", "ARB"]),
    st.floats(-1e7, 1e7),
    mr2=st.floats(0.0, 1e5),
    mr3=st.floats(0.0, 1e5),
    mr4=st.floats(0.0, 1e5),
    mr5=st.floats(0.0, 1e5),
    mr7=st.floats(0.0, 1e6),
    mr9=st.floats(0.0, 1e5),
)


@SETTINGS
@given(okx_units)
def test_okx_mmr_bounds(unit: OkxRiskUnit) -> None:
    """MMR >= MR7, MMR >= max(MR1, MR6), IMR = 1.3 MMR >= MMR."""
    r = okx_risk_unit_margin(unit)
    assert r.mmr >= r.mr7
    assert r.mmr >= max(r.mr1, r.mr6)
    assert r.imr >= r.mmr


@SETTINGS
@given(st.lists(okx_units, max_size=5, unique_by=lambda u: u.risk_unit), st.floats(0.0, 1e6))
def test_okx_account_at_least_its_units(units: list[OkxRiskUnit], borrow: float) -> None:
    """Account MMR = sum of unit MMRs + MR8 >= every unit's MMR; total IMR >= total MMR."""
    acct = okx_account_margin(units, borrow_mmr=borrow)
    assert all(acct.total_mmr >= u.mmr for u in acct.risk_units)
    assert acct.total_imr >= acct.total_mmr
