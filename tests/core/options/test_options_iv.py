"""Implied volatility: round trips on a wide grid, bounds, errors, vectorized mask, coin prices."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.options.iv import STATUS_ABOVE_UPPER, STATUS_BELOW_INTRINSIC, STATUS_NOT_FINITE, STATUS_OK
from levguard.errors import InputError
from levguard.options import black76, implied_vol, implied_vol_array


def _grid() -> tuple[np.ndarray, ...]:
    F = 60_000.0
    moneyness = (1e-3, 0.05, 0.3, 0.7, 0.9, 1.0, 1.1, 1.5, 3.0, 20.0, 1e3)
    expiries = (1.0 / (365 * 24), 1.0 / 365, 0.1, 1.0, 5.0, 30.0)
    vols = (1e-3, 0.01, 0.1, 0.5, 1.0, 3.0, 10.0, 20.0)
    rows = list(itertools.product((1.0, -1.0), moneyness, expiries, vols))
    w, m, T, v = (np.array(c) for c in zip(*rows, strict=True))
    return w, np.full_like(m, F), F * m, T, v


def test_round_trip_on_wide_grid() -> None:
    w, F, K, T, v = _grid()
    r = 0.03
    price = np.asarray(black76(w, F, K, T, v, r).price)
    res = implied_vol_array(price, w, F, K, T, r)
    assert res.iterations <= 100
    # Only prices at their numerical bounds fail: out-of-the-money time value underflowed to 0 is
    # "at the lower bound" (vol 0, ok) and prices rounding to the upper bound have no solution.
    ok = np.asarray(res.ok)
    assert np.all(ok | (np.asarray(res.status) == STATUS_ABOVE_UPPER))
    df = np.exp(-r * T)
    upper = df * np.where(w > 0, F, K)
    assert np.all(ok | (np.abs(price - upper) <= 4 * np.finfo(float).eps * upper))
    vol = np.asarray(res.vol)
    # Where the time value is resolvable the vol is recovered: to 1e-8 absolute, or the price
    # it gives agrees to 1e-12 relative (vega so small that the vol is not determined further).
    time_value = price / df - np.maximum(w * (F - K), 0.0)
    resolvable = ok & (time_value > 1e-11 * price / df) & (time_value > 1e-290 * F)
    assert resolvable.sum() > 0.45 * w.size
    back = np.asarray(black76(w, F, K, T, np.where(ok, vol, 0.0), r).price)
    good = (np.abs(vol - v) <= 1e-8) | (np.abs(back - price) <= 1e-12 * price)
    assert np.all(good[resolvable])
    assert np.mean(np.abs(vol - v)[resolvable] <= 1e-8) > 0.9


@pytest.mark.parametrize(
    ("kind", "K", "T", "v"),
    [
        ("call", 200_000.0, 7 / 365, 0.6),  # deep OTM call, price ~ 1e-33 of F
        ("put", 10_000.0, 30 / 365, 0.8),  # deep OTM put
        ("call", 10_000.0, 1.0, 1.2),  # deep ITM call
        ("put", 60_000.0, 1 / 365 / 24, 0.02),  # tiny vol, tiny T: s ~ 2e-4
        ("call", 60_000.0, 2.0, 5.0),  # huge vol: price within 3e-4 of the upper bound
        ("put", 59_990.0, 1e-6, 0.4),  # 30 seconds to expiry
    ],
)
def test_round_trip_hard_cases(kind: str, K: float, T: float, v: float) -> None:
    F = 60_000.0
    price = black76(kind, F, K, T, v, 0.05).price
    assert implied_vol(price, kind, F, K, T, 0.05) == pytest.approx(v, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-2.0, 2.0),
    st.floats(1e-3, 10.0),
    st.floats(0.02, 3.0),
    st.sampled_from(["call", "put"]),
    st.sampled_from(["usd", "coin"]),
)
def test_round_trip_property(x: float, T: float, v: float, kind: str, settlement: str) -> None:
    F = 30_000.0
    K = F * math.exp(x)
    price = black76(kind, F, K, T, v, 0.01, settlement)  # type: ignore[arg-type]
    otm = black76("put" if x < 0 else "call", F, K, T, v, 0.01).price
    if otm < 1e-200 * F or otm < 1e-10 * abs(F - K):  # time value not resolvable in the quote
        return
    vol = implied_vol(price.price, kind, F, K, T, 0.01, settlement)  # type: ignore[arg-type]
    vega = black76(kind, F, K, T, v, 0.01, settlement).vega  # type: ignore[arg-type]
    # Vol error allowed by a price rounding of a few ulps of the quote: eps * price / vega.
    assert vol == pytest.approx(v, abs=max(1e-9, 50 * np.finfo(float).eps * price.price / vega))


def test_at_intrinsic_gives_zero_vol() -> None:
    assert implied_vol(10.0 * math.exp(-0.01), "call", 110.0, 100.0, 1.0, 0.01) == pytest.approx(0.0, abs=0.0)
    assert implied_vol(0.0, "put", 110.0, 100.0, 1.0) == 0.0


@pytest.mark.parametrize(
    ("price", "kind", "F", "K", "match"),
    [
        (
            5.0,
            "call",
            110.0,
            100.0,
            r"price 5.0 USD is below the discounted intrinsic value .* needs 10.0 <= price < 110.0",
        ),
        (-0.1, "put", 110.0, 100.0, "below the discounted intrinsic"),
        (110.0, "call", 110.0, 100.0, r"at or above the upper bound .* needs 10.0 <= price < 110.0"),
        (100.0, "put", 110.0, 100.0, r"at or above the upper bound .* needs 0.0 <= price < 100.0"),
        (float("nan"), "put", 110.0, 100.0, "is not finite"),
    ],
)
def test_no_solution_raises_with_bounds(price: float, kind: str, F: float, K: float, match: str) -> None:
    with pytest.raises(InputError, match=match):
        implied_vol(price, kind, F, K, 1.0)


def test_no_solution_coin_names_coin_bounds() -> None:
    with pytest.raises(InputError, match=r"price 1.5 coin .* needs 0.0 <= price < 1.0"):
        implied_vol(1.5, "call", 60_000.0, 70_000.0, 0.5, settlement="coin")


def test_array_form_returns_nan_and_mask() -> None:
    prices = np.array([5.0, 12.0, 200.0, np.nan])
    res = implied_vol_array(prices, "call", 110.0, 100.0, 1.0)
    np.testing.assert_array_equal(res.ok, [False, True, False, False])
    np.testing.assert_array_equal(
        res.status, [STATUS_BELOW_INTRINSIC, STATUS_OK, STATUS_ABOVE_UPPER, STATUS_NOT_FINITE]
    )
    vol = np.asarray(res.vol)
    assert np.isnan(vol[[0, 2, 3]]).all()
    assert black76("call", 110.0, 100.0, 1.0, vol[1]).price == pytest.approx(12.0, rel=1e-13)
    np.testing.assert_allclose(res.lower, 10.0)
    np.testing.assert_allclose(res.upper, 110.0)
    with pytest.raises(InputError, match=r"at index \(0,\)"):
        implied_vol(prices, "call", 110.0, 100.0, 1.0)


def test_coin_price_inverts_to_same_vol() -> None:
    F, K, T, v = 60_000.0, 70_000.0, 0.25, 0.65
    coin = black76("call", F, K, T, v, 0.0, "coin").price
    assert implied_vol(coin, "call", F, K, T, settlement="coin") == pytest.approx(v, abs=1e-12)
    # Deribit-style quote: 0.0350 BTC for the 70k call.
    vol = implied_vol(0.0350, "call", F, K, T, settlement="coin")
    assert black76("call", F, K, T, vol, 0.0, "coin").price == pytest.approx(0.0350, rel=1e-13)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t_years": 0.0}, "t_years must be finite and > 0, was 0.0"),
        ({"forward": -1.0}, "forward must be finite and > 0"),
        ({"kind": "straddle"}, "kind must be"),
        ({"settlement": "btc"}, "settlement must be"),
        ({"tol": 0.0}, "tol must be finite and > 0"),
        ({"price": "x"}, "price must be a number"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "price": 5.0, "kind": "call", "forward": 100.0, "strike": 100.0, "t_years": 1.0, "rate": 0.0, "settlement": "usd",
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        implied_vol_array(**args)  # type: ignore[arg-type]


def test_vectorized_speed_is_reasonable() -> None:
    # 200k quotes invert in well under a second (numpy-vectorized solver, active-set iteration).
    import time

    rng = np.random.default_rng(7)
    n = 200_000
    F = 60_000.0
    K = F * np.exp(rng.uniform(-0.7, 0.7, n))
    T = rng.uniform(1 / 365, 2.0, n)
    v = rng.uniform(0.2, 1.5, n)
    w = np.where(K > F, 1.0, -1.0)
    price = black76(w, F, K, T, v).price
    t0 = time.perf_counter()
    res = implied_vol_array(price, w, F, K, T)
    elapsed = time.perf_counter() - t0
    ok = np.asarray(res.ok)
    assert ok.all()
    # Prices that underflowed to 0 (a few quotes minutes from expiry far from the money) give 0.
    informative = np.asarray(price) > 1e-280 * F
    assert informative.mean() > 0.999
    assert np.max(np.abs(np.asarray(res.vol)[informative] - v[informative])) < 1e-8
    assert elapsed < 5.0
