"""Hypothesis properties of the index aggregation (levguard.core.oracle.aggregate_index).

1. Range: with status ``ok`` the price lies within [min, max] of the used sources' prices and
   within ``max_deviation * m`` of the median ``m`` of the fresh, valid prices; with
   ``fallback_median`` it is ``m``, again within the used range.
2. Robustness: ``n >= max(2, min_sources)`` honest quotes in ``[L, U]`` with
   ``U <= L * (1 + max_deviation)`` plus ONE arbitrary quote (price 0, negative, huge, tiny,
   NaN, +-inf; any weight; any age): status ``ok`` and
   ``|price - m_h| <= (max_deviation + w * (1 + max_deviation)) * m_h``, with ``m_h`` the honest
   median and ``w = U / L - 1`` (so exactly ``max_deviation`` for a zero-width band), and
   ``|price - m| <= max_deviation * m``.  The bound is attained: see the explicit example.
3. Permutation invariance: reordering the sources changes nothing (price bitwise).
4. Scale equivariance: prices times ``2**k`` give the price times ``2**k`` exactly and the same
   sources and statuses; any ``c > 0`` gives ``c * price`` to rounding.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from levguard.core.oracle import IndexResult, OracleConfig, SourceQuote, aggregate_index

S = 1_000_000_000
NOW = 1_700_000_000 * S
SETTINGS = settings(max_examples=250, deadline=None)
THOROUGH = settings(max_examples=600, deadline=None)  # the robustness guarantee

configs = st.builds(
    OracleConfig,
    max_deviation=st.floats(0.001, 0.3),
    max_age_ns=st.integers(1 * S, 120 * S),
    min_sources=st.integers(1, 4),
    method=st.sampled_from(["weighted_mean", "weighted_median"]),
)

bad_prices = st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e308, 5e-324])
weights = st.one_of(
    st.floats(1e-3, 1e3),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e300, 1e-300]),
)
ages = st.one_of(st.integers(-5 * S, 5 * S), st.integers(0, 300 * S))


@st.composite
def quote_sets(draw: st.DrawFn) -> list[SourceQuote]:
    """1..8 sources: mostly near a base price, some outliers, some invalid or stale."""
    base = draw(st.floats(1e-4, 1e6))
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        price = draw(
            st.one_of(
                st.floats(0.97, 1.03).map(lambda f: f * base),
                st.floats(0.5, 2.0).map(lambda f: f * base),
                bad_prices,
            )
        )
        out.append(SourceQuote(f"s{i}", price, draw(weights), NOW - draw(ages)))
    return out


def used_prices(quotes: list[SourceQuote], r: IndexResult) -> list[float]:
    by_name = {q.source: q.price for q in quotes}
    return [by_name[n] for n in r.used]


def same(a: IndexResult, b: IndexResult) -> bool:
    price_eq = (math.isnan(a.price) and math.isnan(b.price)) or a.price == b.price
    return price_eq and a.status == b.status and set(a.used) == set(b.used) and dict(a.dropped) == dict(b.dropped)


# ----------------------------------------------------------------------------- 1. range
@SETTINGS
@given(quotes=quote_sets(), cfg=configs)
def test_price_lies_within_the_used_sources(quotes: list[SourceQuote], cfg: OracleConfig) -> None:
    r = aggregate_index(quotes, NOW, cfg)
    assert set(r.used).isdisjoint(r.dropped)
    assert set(r.used) | set(r.dropped) == {q.source for q in quotes}
    if r.status == "halted":
        assert math.isnan(r.price)
        assert r.used == ()
        return
    prices = used_prices(quotes, r)
    assert len(prices) >= 1
    assert min(prices) <= r.price <= max(prices)
    if r.status == "ok":
        assert abs(r.price - r.median) <= cfg.max_deviation * r.median * (1 + 1e-12)
        assert len(r.deviating) <= 1
    else:
        assert r.price == r.median
        assert len(r.deviating) >= 2
    assert len(r.used) + sum(reason.startswith("deviation") for reason in r.dropped.values()) >= cfg.min_sources


# ----------------------------------------------------------------------------- 2. robustness
@st.composite
def honest_plus_one(draw: st.DrawFn) -> tuple[list[SourceQuote], SourceQuote, OracleConfig, float, float]:
    dev = draw(st.floats(0.001, 0.2))
    cfg = OracleConfig(
        max_deviation=dev,
        min_sources=draw(st.integers(1, 3)),
        method=draw(st.sampled_from(["weighted_mean", "weighted_median"])),
    )
    n = draw(st.integers(max(2, cfg.min_sources), 8))
    low = draw(st.floats(1e-4, 1e6))
    width = draw(st.floats(0.0, 0.99)) * dev  # relative band width w <= max_deviation
    honest = [
        SourceQuote(f"h{i}", low * (1 + draw(st.floats(0.0, 1.0)) * width), draw(st.floats(1e-3, 1e3)), NOW)
        for i in range(n)
    ]
    c_price = draw(
        st.one_of(
            bad_prices,
            st.floats(-1e308, 1e308, allow_nan=False),
            st.floats(0.0, 3.0).map(lambda f: f * low),
            st.floats(-1.0, 1.0).map(lambda f: low * (1 + f * 2 * dev)),  # near the threshold
        )
    )
    corrupt = SourceQuote("x", c_price, draw(weights), NOW - draw(ages))
    return honest, corrupt, cfg, low, width


@THOROUGH
@given(case=honest_plus_one(), position=st.integers(0, 8))
@example(  # the bound is attained: a heavy source just inside the threshold
    case=(
        [SourceQuote("h0", 100.0, 1.0, NOW), SourceQuote("h1", 100.0, 1.0, NOW), SourceQuote("h2", 100.0, 1.0, NOW)],
        SourceQuote("x", 105.0, 1e300, NOW),
        OracleConfig(),
        100.0,
        0.0,
    ),
    position=3,
)
def test_one_corrupted_source_moves_the_index_by_at_most_the_threshold(
    case: tuple[list[SourceQuote], SourceQuote, OracleConfig, float, float], position: int
) -> None:
    honest, corrupt, cfg, _, _ = case
    quotes = [*honest]
    quotes.insert(min(position, len(quotes)), corrupt)
    r = aggregate_index(quotes, NOW, cfg)
    hp = sorted(q.price for q in honest)
    lo, hi = hp[0], hp[-1]
    n = len(hp)
    m_h = hp[n // 2] if n % 2 else 0.5 * hp[n // 2 - 1] + 0.5 * hp[n // 2]
    w = hi / lo - 1
    assert r.status == "ok"
    assert lo <= r.median <= hi
    assert abs(r.price - r.median) <= cfg.max_deviation * r.median * (1 + 1e-12)
    bound = (cfg.max_deviation + w * (1 + cfg.max_deviation)) * m_h
    assert abs(r.price - m_h) <= bound * (1 + 1e-12)
    assert set(r.used) >= {q.source for q in honest}  # no honest source is ever dropped


def test_the_robustness_bound_is_attained() -> None:
    """Honest sources at 100, one heavy source at exactly +5 %: the index reaches 105."""
    quotes = [SourceQuote(f"h{i}", 100.0, 1.0, NOW) for i in range(3)] + [SourceQuote("x", 105.0, 1e12, NOW)]
    r = aggregate_index(quotes, NOW)
    assert r.status == "ok"
    assert "x" in r.used
    assert r.price == pytest.approx(105.0, rel=1e-11)
    r = aggregate_index(quotes, NOW, OracleConfig(method="weighted_median"))
    assert r.price == 105.0
    # A hair beyond the threshold the source is zero-weighted and the index snaps back to 100.
    quotes[-1] = SourceQuote("x", 105.0 * (1 + 1e-12), 1e12, NOW)
    assert aggregate_index(quotes, NOW).price == 100.0


# ----------------------------------------------------------------------------- 3. permutation
@SETTINGS
@given(quotes=quote_sets(), cfg=configs, data=st.data())
def test_permutation_invariance(quotes: list[SourceQuote], cfg: OracleConfig, data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(quotes))
    a = aggregate_index(quotes, NOW, cfg)
    b = aggregate_index(shuffled, NOW, cfg)
    assert same(a, b)
    assert a.median == b.median or (math.isnan(a.median) and math.isnan(b.median))
    assert set(a.deviating) == set(b.deviating)


# ----------------------------------------------------------------------------- 4. scaling
def scaled(quotes: list[SourceQuote], c: float) -> list[SourceQuote]:
    return [SourceQuote(q.source, q.price * c, q.weight, q.ts_ns) for q in quotes]


@SETTINGS
@given(quotes=quote_sets(), cfg=configs, k=st.integers(-30, 30))
def test_scaling_by_a_power_of_two_is_exact(quotes: list[SourceQuote], cfg: OracleConfig, k: int) -> None:
    assume(all(not math.isfinite(q.price) or q.price == 0 or 1e-200 < abs(q.price) < 1e200 for q in quotes))
    c = 2.0**k
    a = aggregate_index(quotes, NOW, cfg)
    b = aggregate_index(scaled(quotes, c), NOW, cfg)
    assert (a.status, a.used, a.deviating) == (b.status, b.used, b.deviating)
    assert set(a.dropped) == set(b.dropped)
    assert (math.isnan(a.price) and math.isnan(b.price)) or b.price == a.price * c


@SETTINGS
@given(quotes=quote_sets(), cfg=configs, c=st.floats(1e-3, 1e3))
def test_scaling_by_any_factor(quotes: list[SourceQuote], cfg: OracleConfig, c: float) -> None:
    assume(all(not math.isfinite(q.price) or q.price == 0 or 1e-200 < abs(q.price) < 1e200 for q in quotes))
    a = aggregate_index(quotes, NOW, cfg)
    # Away from the threshold, rounding cannot flip a deviation decision.
    fresh = [q.price for q in quotes if q.source in a.used or a.dropped.get(q.source, "").startswith("deviation")]
    if fresh and math.isfinite(a.median):
        assume(all(abs(abs(p - a.median) / a.median - cfg.max_deviation) > 1e-9 for p in fresh))
    b = aggregate_index(scaled(quotes, c), NOW, cfg)
    assert (a.status, set(a.used)) == (b.status, set(b.used))
    if a.status != "halted":
        assert b.price == pytest.approx(a.price * c, rel=1e-12)
