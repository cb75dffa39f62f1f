"""Black-76 prices and Greeks: identities, finite differences, limits, coin settlement, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.errors import InputError
from levguard.options import (
    Black76Result,
    black76,
    black76_price,
    premium_adjusted_delta,
    price_greeks,
    theta_per_day,
    vega_per_point,
)

FIELDS = ("price", "delta", "gamma", "vega", "theta", "rho")

forwards = st.floats(10.0, 1e5)
log_moneyness = st.floats(-1.0, 1.0)
expiries = st.floats(0.01, 5.0)
vols = st.floats(0.05, 2.0)
rates = st.floats(-0.05, 0.1)
kinds = st.sampled_from(["call", "put"])


def _reference_otm_call(F: float, K: float, T: float, v: float) -> float:
    # Undiscounted OTM call F N(d1) - K N(d2) in 60-digit decimal arithmetic, with N from the
    # continued fraction erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
    # accurate for the x = -d/sqrt(2) > 3 used here (an independent, high-precision reference).
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        pi = Decimal("3.14159265358979323846264338327950288419716939937510582097494")

        def ncdf(d: Decimal) -> Decimal:
            x = -d / Decimal(2).sqrt()
            assert x > 3
            t = Decimal(0)
            for n in range(400, 0, -1):
                t = (Decimal(n) / 2) / (x + t)
            return (-(x * x)).exp() / pi.sqrt() / (x + t) / 2

        f, k, tt, vv = Decimal(F), Decimal(K), Decimal(T), Decimal(v)
        s = vv * tt.sqrt()
        d1 = ((f / k).ln() + s * s / 2) / s
        return float(f * ncdf(d1) - k * ncdf(d1 - s))


def test_price_greeks_returns_named_fields_and_dict() -> None:
    res = price_greeks("call", 100.0, 100.0, 0.5, 0.6)
    assert isinstance(res, Black76Result)
    assert set(res.to_dict()) == set(FIELDS)
    assert all(isinstance(getattr(res, f), float) for f in FIELDS)
    # ATM call, zero rate: V = F (2 N(s/2) - 1).
    s = 0.6 * math.sqrt(0.5)
    assert res.price == pytest.approx(100.0 * math.erf(s / (2.0 * math.sqrt(2.0))), rel=1e-14)
    assert res.theta < 0.0 < res.gamma
    assert black76_price("call", 100.0, 100.0, 0.5, 0.6) == res.price


def test_kind_as_array_of_labels() -> None:
    res = black76(np.array(["call", "PUT", "put"]), 100.0, 95.0, 0.5, 0.4)
    ref = black76(np.array([1.0, -1.0, -1.0]), 100.0, 95.0, 0.5, 0.4)
    np.testing.assert_array_equal(res.price, ref.price)
    with pytest.raises(InputError, match=r"kind .* was 'straddle'"):
        black76(["call", "straddle"], 100.0, 95.0, 0.5, 0.4)


def test_broadcasting_and_kind_array() -> None:
    K = np.array([80.0, 100.0, 120.0])
    res = black76(np.array([[1.0], [-1.0]]), 100.0, K, 0.25, 0.5, 0.01)
    assert np.shape(res.price) == (2, 3)
    calls = black76("call", 100.0, K, 0.25, 0.5, 0.01)
    puts = black76("put", 100.0, K, 0.25, 0.5, 0.01)
    np.testing.assert_array_equal(np.asarray(res.price)[0], calls.price)
    np.testing.assert_array_equal(np.asarray(res.delta)[1], puts.delta)


@settings(max_examples=200, deadline=None)
@given(forwards, log_moneyness, expiries, vols, rates)
def test_put_call_parity(F: float, x: float, T: float, v: float, r: float) -> None:
    K = F * math.exp(x)
    c = black76("call", F, K, T, v, r)
    p = black76("put", F, K, T, v, r)
    df = math.exp(-r * T)
    assert c.price - p.price == pytest.approx(df * (F - K), abs=1e-12 * (F + K))
    assert c.delta - p.delta == pytest.approx(df, abs=1e-14)
    for name in ("gamma", "vega"):
        assert getattr(c, name) == pytest.approx(getattr(p, name), rel=1e-12)
    assert c.rho - p.rho == pytest.approx(-T * df * (F - K), abs=1e-11 * T * (F + K))


@settings(max_examples=200, deadline=None)
@given(forwards, log_moneyness, expiries, vols, rates, kinds)
def test_greeks_match_finite_differences(F: float, x: float, T: float, v: float, r: float, kind: str) -> None:
    K = F * math.exp(x)
    res = black76(kind, F, K, T, v, r)

    def V(F_: float = F, T_: float = T, v_: float = v, r_: float = r) -> float:
        return float(black76(kind, F_, K, T_, v_, r_).price)

    # Steps scale with the total standard deviation s, the scale on which V curves in ln F.
    s = v * math.sqrt(T)
    hF = 1e-4 * F * min(s, 1.0)
    fd_delta = (V(F_=F + hF) - V(F_=F - hF)) / (2 * hF)
    fd_gamma = (V(F_=F + 10 * hF) - 2 * V() + V(F_=F - 10 * hF)) / (10 * hF) ** 2
    hv = 1e-4 * v
    fd_vega = (V(v_=v + hv) - V(v_=v - hv)) / (2 * hv)
    hT = 1e-5 * T
    fd_theta = -(V(T_=T + hT) - V(T_=T - hT)) / (2 * hT)
    fd_rho = (V(r_=r + 1e-6) - V(r_=r - 1e-6)) / 2e-6
    assert res.delta == pytest.approx(fd_delta, abs=1e-7)
    assert res.gamma == pytest.approx(fd_gamma, rel=1e-3, abs=1e-6 / (F * s))
    assert res.vega == pytest.approx(fd_vega, rel=1e-6, abs=1e-8 * F)
    assert res.theta == pytest.approx(fd_theta, rel=1e-5, abs=1e-8 * F * (1 + v / math.sqrt(T)))
    assert res.rho == pytest.approx(fd_rho, rel=1e-6, abs=1e-9 * F * T)


@settings(max_examples=150, deadline=None)
@given(forwards, log_moneyness, expiries, vols, rates, kinds)
def test_coin_settled_identities(F: float, x: float, T: float, v: float, r: float, kind: str) -> None:
    K = F * math.exp(x)
    usd = black76(kind, F, K, T, v, r, "usd")
    coin = black76(kind, F, K, T, v, r, "coin")
    assert coin.price == pytest.approx(usd.price / F, rel=1e-15, abs=1e-300)
    # Coin delta is d(V_usd / F)/dF: the premium-adjusted delta divided by F.
    assert coin.delta == pytest.approx(usd.delta / F - usd.price / F**2, rel=1e-12, abs=1e-18)
    assert premium_adjusted_delta(kind, F, K, T, v, r) == pytest.approx(F * coin.delta, rel=1e-12, abs=1e-14)
    assert coin.gamma == pytest.approx(
        usd.gamma / F - 2 * usd.delta / F**2 + 2 * usd.price / F**3, rel=1e-10, abs=1e-14 / F**2
    )
    for name in ("vega", "theta", "rho"):
        assert getattr(coin, name) == pytest.approx(getattr(usd, name) / F, rel=1e-15, abs=1e-300)

    def Vc(F_: float) -> float:
        return float(black76(kind, F_, K, T, v, r, "usd").price) / F_

    s = min(v * math.sqrt(T), 1.0)
    h = 1e-5 * F * s
    assert coin.delta == pytest.approx((Vc(F + h) - Vc(F - h)) / (2 * h), abs=1e-7 / F)
    H = 1e-3 * F * s
    fd_gamma = (Vc(F + H) - 2 * Vc(F) + Vc(F - H)) / H**2
    assert coin.gamma == pytest.approx(fd_gamma, rel=1e-3, abs=1e-6 / (F * F * s))


def test_coin_call_is_bounded_by_one_coin() -> None:
    # A Deribit BTC call is worth at most 1 BTC; deep ITM it tends to (F - K)/F.
    res = black76("call", 60_000.0, np.array([1_000.0, 30_000.0, 60_000.0, 200_000.0]), 0.1, 0.3, settlement="coin")
    price = np.asarray(res.price)
    assert np.all((price >= 0.0) & (price < 1.0))
    assert price[0] == pytest.approx((60_000 - 1_000) / 60_000, rel=1e-12)


def test_expiry_and_zero_vol_limits() -> None:
    F = 100.0
    K = np.array([90.0, 100.0, 110.0])
    for T, v in ((0.0, 0.5), (0.5, 0.0)):
        c = black76("call", F, K, T, v, 0.02)
        p = black76("put", F, K, T, v, 0.02)
        df = math.exp(-0.02 * T)
        np.testing.assert_allclose(c.price, df * np.maximum(F - K, 0.0), rtol=1e-15)
        np.testing.assert_allclose(p.price, df * np.maximum(K - F, 0.0), rtol=1e-15)
        np.testing.assert_allclose(c.delta, df * np.array([1.0, 0.5, 0.0]))
        np.testing.assert_allclose(p.delta, df * np.array([0.0, -0.5, -1.0]))
        np.testing.assert_array_equal(c.gamma, 0.0)
        np.testing.assert_allclose(c.theta, 0.02 * np.asarray(c.price))
        np.testing.assert_allclose(c.rho, -T * np.asarray(c.price))
    # Vega's vol -> 0 limit at the money is D F n(0) sqrt(T); it is the limit of small vols.
    v0 = black76("call", F, 100.0, 0.5, 0.0).vega
    assert v0 == pytest.approx(F * math.sqrt(0.5) / math.sqrt(2 * math.pi), rel=1e-15)
    assert black76("call", F, 100.0, 0.5, 1e-9).vega == pytest.approx(v0, rel=1e-9)
    assert black76("call", F, 110.0, 0.5, 0.0).vega == 0.0
    # Continuity of the price in vol at 0 and in T at 0.
    assert black76("call", F, 90.0, 0.5, 1e-6).price == pytest.approx(10.0, rel=1e-15)
    assert black76("put", F, 100.0, 1e-12, 0.5).price == pytest.approx(F * 0.5e-6 / math.sqrt(2 * math.pi), rel=1e-6)


def test_extreme_inputs_give_finite_values_without_warnings() -> None:
    F = 60_000.0
    K = F * np.exp(np.array([-50.0, -10.0, -1.0, 0.0, 1.0, 10.0, 50.0]))[:, None, None]
    T = np.array([0.0, 1e-12, 1e-6, 1.0, 50.0])[None, :, None]
    v = np.array([0.0, 1e-12, 1e-4, 1.0, 20.0, 100.0])[None, None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kind in ("call", "put"):
            for settlement in ("usd", "coin"):
                res = black76(kind, F, K, T, v, 0.05, settlement)  # type: ignore[arg-type]
                for name in FIELDS:
                    assert np.all(np.isfinite(getattr(res, name))), (kind, settlement, name)
                price = np.asarray(res.price) * (F if settlement == "coin" else 1.0)
                df = np.exp(-0.05 * T)
                w = 1.0 if kind == "call" else -1.0
                assert np.all(price >= df * np.maximum(w * (F - K), 0.0) * (1 - 1e-15))
                assert np.all(price <= df * (F if kind == "call" else K) * (1 + 1e-15))


@pytest.mark.parametrize(
    ("F", "K", "T", "v"),
    [
        (100.0, 200.0, 1.0, 0.1),
        (100.0, 300.0, 0.5, 0.3),
        (60_000.0, 120_000.0, 7 / 365, 0.5),
        (100.0, 101.0, 1e-4, 0.033),
    ],
)
def test_deep_out_of_the_money_relative_accuracy(F: float, K: float, T: float, v: float) -> None:
    # Prices as small as 1e-200 keep ~12 digits (a direct F N(d1) - K N(d2) would give 0 or noise).
    ref = _reference_otm_call(F, K, T, v)
    assert ref > 0.0
    assert black76("call", F, K, T, v).price == pytest.approx(ref, rel=1e-11, abs=0.0)
    # The same OTM leg through parity for the ITM put: P = D(K - F) + C.
    assert black76("put", F, K, T, v).price - (K - F) == pytest.approx(ref, rel=1e-6, abs=1e-13 * K)


def test_helpers() -> None:
    res = black76("call", 100.0, 100.0, 1.0, 0.5)
    assert vega_per_point(res.vega) == pytest.approx(res.vega / 100.0)
    assert theta_per_day(res.theta) == pytest.approx(res.theta / 365.0)
    with pytest.raises(InputError, match="days_per_year"):
        theta_per_day(1.0, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"forward": 0.0}, "forward must be finite and > 0, was 0.0"),
        ({"forward": float("nan")}, "forward"),
        ({"strike": -1.0}, "strike must be finite and > 0, was -1.0"),
        ({"t_years": -0.1}, "t_years must be finite and >= 0, was -0.1"),
        ({"vol": -0.2}, "vol must be finite and >= 0, was -0.2"),
        ({"vol": float("inf")}, "vol"),
        ({"rate": float("nan")}, "rate must be finite"),
        ({"kind": "straddle"}, "kind must be 'call', 'put'"),
        ({"kind": np.array([1.0, 0.0])}, "kind .* was 0.0"),
        ({"settlement": "eur"}, "settlement must be 'usd' or 'coin', was 'eur'"),
        ({"strike": "abc"}, "strike must be a number"),
        ({"strike": np.array([90.0, 100.0]), "vol": np.array([0.1, 0.2, 0.3])}, "must broadcast"),
    ],
)
def test_invalid_inputs_raise_input_error(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "kind": "call", "forward": 100.0, "strike": 100.0, "t_years": 1.0, "vol": 0.5, "rate": 0.0, "settlement": "usd",
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        black76(**args)  # type: ignore[arg-type]
