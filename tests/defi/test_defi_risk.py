"""P(HF < 1) of lending positions (levguard.defi.risk): the one forecaster on the collateral / debt ratio.

* With stable debt the answer is ``levguard.risk.liquidation_forecasts`` on the collateral's own
  bars at the distance of its exact liquidation price, to the bit (Aave and Morpho).
* With a volatile debt the ratio's bars follow the stated construction (close exact, the
  synchronous and bound ranges) and the answer is ``liquidation_forecasts`` on those bars.
* Properties: more collateral never raises P, a longer horizon never lowers it, bars after
  ``as_of`` are never read.
* On real data (skipped without ../shared): ETH collateral against USDC on the ETHUSDT mark.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.defi import analytics, risk
from levguard.errors import InputError
from levguard.risk import liquidation_forecasts

HOUR = pd.Timedelta("1h")


def synthetic(seed: int, hours: int = 24 * 120, start: float = 3_000.0, vol: float = 0.006) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=hours, freq="1h", tz="UTC")
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, vol, hours)))
    up = np.exp(np.abs(rng.normal(0.0, vol / 2, hours)))
    down = np.exp(-np.abs(rng.normal(0.0, vol / 2, hours)))
    return pd.DataFrame({"high": close * up, "low": close * down, "close": close}, index=idx)


ETH = synthetic(1)
BTC = synthetic(2, start=60_000.0, vol=0.005)


def aave(weth: float = 10.0, usdc_debt: float = 15_000.0) -> dict[str, object]:
    return {
        "protocol": "aave-v3",
        "reserves": [
            {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
             "collateral": weth},
            {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
             "debt": usdc_debt},
        ],
    }  # fmt: skip


MORPHO = {
    "protocol": "morpho-blue",
    "collateral_symbol": "WETH",
    "loan_symbol": "USDC",
    "lltv": 0.86,
    "collateral": 10,
    "borrow": 20_000,
    "collateral_price": 3_000,
    "collateral_decimals": 18,
    "loan_decimals": 6,
}


@pytest.mark.parametrize("model", ["default", "naive"])
def test_stable_debt_is_liquidation_forecasts_at_the_collateral_distance(model: str) -> None:
    spec = aave()
    lp = analytics.liquidation_price(spec, "WETH")
    d = float(1 - Fraction(lp.price, 3000 * 10**8))
    r = risk.position_risk(spec, {"WETH": ETH}, (1, 7, 30), model=model)
    expected = liquidation_forecasts(ETH, ETH.index[-1] + HOUR, "long", d, [1, 7, 30], model=model)
    assert r.distance == d
    assert [h.probability for h in r.probabilities] == list(expected)  # exactly
    assert r.ratio == "WETH / USDC"
    assert r.constant_assets == ("USDC",)
    assert r.high_low == "asset"
    assert r.distance_from == "exact liquidation price of WETH"
    assert 0.0 < r.probability(1) < r.probability(7) < 1.0


def test_morpho_stable_debt_matches_the_forecaster_exactly() -> None:
    lp = analytics.liquidation_price(MORPHO)
    r = risk.position_risk(MORPHO, {"weth": ETH}, 7)  # symbols match case-insensitively
    d = float(1 - Fraction(lp.price, 3000 * 10**24))
    # The engine's boundary, within its roundings (whole loan units, virtual shares) of the closed form.
    assert r.distance == d == pytest.approx(1 - 20_000 / (10 * 0.86 * 3000), abs=1e-9)
    assert r.probabilities[0].probability == liquidation_forecasts(ETH, ETH.index[-1] + HOUR, 1, d, 7)[0]


def eth_vs_btc(eth: float = 10.0, wbtc_debt: float = 0.3) -> dict[str, object]:
    return {
        "protocol": "aave-v3",
        "reserves": [
            {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
             "collateral": eth},
            {"symbol": "WBTC", "price_usd": 60000, "decimals": 8, "ltv": 0.73, "lt": 0.78, "bonus": 0.05,
             "debt": wbtc_debt},
        ],
    }  # fmt: skip


def test_volatile_debt_ratio_bars_follow_the_stated_construction() -> None:
    spec = eth_vs_btc()
    sync = risk.ratio_bars(spec, {"WETH": ETH, "WBTC": BTC})
    bound = risk.ratio_bars(spec, {"WETH": ETH, "WBTC": BTC}, high_low="bound")
    k = ETH.shape[0] - 1  # the anchor: the last common bar; each asset scaled to its spec price there
    ce, cb = 10 * 0.83 * 3000 / ETH["close"].iloc[k], 0.3 * 60_000 / BTC["close"].iloc[k]
    close = ce * ETH["close"].to_numpy() / (cb * BTC["close"].to_numpy())
    a = ce * ETH["low"].to_numpy() / (cb * BTC["low"].to_numpy())
    b = ce * ETH["high"].to_numpy() / (cb * BTC["high"].to_numpy())
    np.testing.assert_allclose(np.exp(sync.bars.log_close), close, rtol=1e-13)
    np.testing.assert_allclose(np.exp(sync.bars.log_low), np.minimum(close, np.minimum(a, b)), rtol=1e-13)
    np.testing.assert_allclose(np.exp(sync.bars.log_high), np.maximum(close, np.maximum(a, b)), rtol=1e-13)
    low_bound = ce * ETH["low"].to_numpy() / (cb * BTC["high"].to_numpy())
    np.testing.assert_allclose(np.exp(bound.bars.log_low), low_bound, rtol=1e-13)
    assert np.all(bound.bars.log_low <= sync.bars.log_low + 1e-15)
    assert np.all(bound.bars.log_high >= sync.bars.log_high - 1e-15)
    assert sync.label == "WETH / WBTC"
    assert sync.constant_assets == ()
    # The ratio at the anchor is HF itself (one collateral, one debt): 24,900 / 18,000.
    assert np.exp(sync.bars.log_close[-1]) == pytest.approx(24_900 / 18_000, rel=1e-13)


def test_volatile_debt_probability_is_the_forecaster_on_the_ratio_bars() -> None:
    spec = eth_vs_btc()
    rb = risk.ratio_bars(spec, {"WETH": ETH, "WBTC": BTC})
    frame = pd.DataFrame(
        {"high": np.exp(rb.bars.log_high), "low": np.exp(rb.bars.log_low), "close": np.exp(rb.bars.log_close)},
        index=ETH.index,
    )
    r = risk.position_risk(spec, {"WETH": ETH, "WBTC": BTC}, (1, 7))
    lp = analytics.liquidation_price(spec, "WETH")  # WBTC fixed: a fall of the ratio by d is this fall
    assert r.distance == float(1 - Fraction(lp.price, 3000 * 10**8))
    assert r.distance == pytest.approx(1 - 1 / (24_900 / 18_000), abs=1e-8)
    expected = liquidation_forecasts(frame, ETH.index[-1] + HOUR, "long", r.distance, [1, 7])
    np.testing.assert_allclose([h.probability for h in r.probabilities], expected, rtol=1e-12, atol=1e-300)


def test_correlated_pair_keeps_the_ratio_calm() -> None:
    # wstETH = 1.18 WETH with 0.05 % hourly noise: the ratio barely moves, so a 20 % fall is remote,
    # while WETH itself (the same distance in USD) is not remote at all.
    noise = np.exp(np.random.default_rng(5).normal(0.0, 0.0005, ETH.shape[0]))
    wsteth = ETH.mul(1.18 * noise, axis=0)
    wsteth["high"] = np.maximum(wsteth["high"], wsteth["close"])
    wsteth["low"] = np.minimum(wsteth["low"], wsteth["close"])
    spec = {"protocol": "morpho-blue", "collateral_symbol": "wstETH", "loan_symbol": "WETH", "lltv": 0.945,
            "collateral": 10, "borrow": 9, "collateral_price": 3540, "loan_price": 3000,
            "collateral_decimals": 18, "loan_decimals": 18}  # fmt: skip
    r = risk.position_risk(spec, {"wstETH": wsteth, "WETH": ETH}, 7)
    alone = liquidation_forecasts(ETH, ETH.index[-1] + HOUR, "long", r.distance, 7)[0]
    assert r.ratio == "wstETH / WETH"
    assert r.probabilities[0].probability < 1e-6 < alone


def test_several_collaterals_use_the_basket_and_one_minus_inverse_hf() -> None:
    spec = aave()
    spec["reserves"].insert(  # type: ignore[attr-defined]
        1,
        {
            "symbol": "WBTC",
            "price_usd": 60000,
            "decimals": 8,
            "ltv": 0.73,
            "lt": 0.78,
            "bonus": 0.05,
            "collateral": 0.25,
        },
    )
    r = risk.position_risk(spec, {"WETH": ETH, "WBTC": BTC}, 7)
    hf = (30_000 * 0.83 + 15_000 * 0.78) / 15_000  # the basket; Aave floors the average threshold to 81.33 %
    assert r.health_factor == 45_000 * 0.8133 / 15_000
    assert r.distance == pytest.approx(1 - 1 / r.health_factor, rel=1e-15)
    assert r.ratio == "(WETH + WBTC) / USDC"
    assert r.distance_from.startswith("1 - 1/HF")
    both = risk.ratio_bars(spec, {"WETH": ETH, "WBTC": BTC})
    np.testing.assert_allclose(np.exp(both.bars.log_close[-1]), hf, rtol=1e-12)


def test_no_debt_and_liquidatable_positions_need_no_forecast() -> None:
    none = risk.position_risk(aave(usdc_debt=0), None, (1, 7))
    assert [h.probability for h in none.probabilities] == [0.0, 0.0]
    assert none.reason == "no debt"
    assert none.distance is None
    under = risk.position_risk(aave(usdc_debt=30_000), None, 1)  # HF 0.83
    assert under.probabilities[0].probability == 1.0
    assert under.distance == 0.0
    assert under.reason == "liquidatable now"


def test_bars_after_as_of_are_never_read() -> None:
    as_of = ETH.index[24 * 100]
    full = risk.position_risk(aave(), {"WETH": ETH}, (1, 7), as_of=as_of)
    cut = risk.position_risk(aave(), {"WETH": ETH.loc[: as_of - HOUR]}, (1, 7))
    assert full.probabilities == cut.probabilities
    assert full.as_of == cut.as_of == as_of.isoformat()


def test_an_as_of_long_after_the_bars_is_refused() -> None:
    # As levguard.risk's forecasts: bars that ended more than 30 days before as_of are refused
    # (the position's risk would be that of the old market), unless the caller widens the limit.
    end = ETH.index[-1] + HOUR
    late = end + pd.Timedelta("31D")
    for call in (risk.position_risk, risk.ratio_forecaster):
        with pytest.raises(InputError, match=r"is 31 days, 0:00:00 after the last common bar closed by then"):
            call(aave(), {"WETH": ETH}, as_of=late)
    ok = risk.position_risk(aave(), {"WETH": ETH}, (1, 7), as_of=end + pd.Timedelta("30D"))
    wide = risk.position_risk(aave(), {"WETH": ETH}, (1, 7), as_of=late, max_stale_days=None)
    assert all(0.0 < h.probability < 1.0 for h in (*ok.probabilities, *wide.probabilities))
    fitted = risk.ratio_forecaster(aave(), {"WETH": ETH}, as_of=late, max_stale_days=31)
    assert fitted.prob(1, wide.distance, 24)[0] == pytest.approx(wide.probabilities[0].probability, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: risk.position_risk(eth_vs_btc(), {"WETH": ETH}, 1), "bars for WBTC are needed"),
        (lambda: risk.position_risk(aave(), None, 1), "bars are needed"),
        (lambda: risk.position_risk(aave(), {"WETH": ETH}, 31), "horizon"),
        (lambda: risk.position_risk(aave(), {"WETH": ETH}, ()), "horizons must not be empty"),
        (lambda: risk.position_risk(aave(), {"WETH": ETH}, 1, model="garch"), "model must be one of"),
        (lambda: risk.position_risk(aave(), {"WETH": ETH}, 1, high_low="wide"), "high_low must be one of"),
        (lambda: risk.position_risk(aave(), {"WETH": ETH}, 1, as_of="2024-03-01"), "timezone-aware"),
        (lambda: risk.position_risk(aave(), {"WETH": ETH.resample("1D").last()}, 1), "hourly or finer"),
        (lambda: risk.position_risk(aave(), {"WETH": 3}, 1), "DataFrame or a CSV/Parquet path"),
        (lambda: risk.position_risk(aave(), {"WETH": ETH, "weth": ETH}, 1), "two entries"),
        (lambda: risk.health_curves(aave(), points=1), "points must be"),
    ],
)
def test_bad_input_names_the_value(call: object, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        call()  # type: ignore[operator]


@settings(max_examples=25, deadline=None)
@given(
    weth=st.floats(6.0, 40.0),
    extra=st.floats(0.01, 10.0),
    debt=st.floats(5_000.0, 20_000.0),
    model=st.sampled_from(["naive", "default"]),
)
def test_more_collateral_never_raises_p(weth: float, extra: float, debt: float, model: str) -> None:
    horizons = (1, 3, 7, 14)
    a = risk.position_risk(aave(round(weth, 6), round(debt, 2)), {"WETH": ETH}, horizons, model=model)
    b = risk.position_risk(aave(round(weth + extra, 6), round(debt, 2)), {"WETH": ETH}, horizons, model=model)
    for pa, pb in zip(a.probabilities, b.probabilities, strict=True):
        assert pb.probability <= pa.probability
    for p in (a, b):  # a longer horizon never lowers it
        probs = [h.probability for h in p.probabilities]
        assert probs == sorted(probs)


def test_health_curves_are_the_engine_along_the_price() -> None:
    (curve,) = risk.health_curves(aave(), points=21)
    zero = curve.moves.index(0.0)
    assert curve.health_factors[zero] == pytest.approx(24_900 / 15_000, rel=1e-15)
    assert list(curve.health_factors) == sorted(curve.health_factors)
    assert curve.liquidation_price == pytest.approx(15_000 / (10 * 0.83), rel=1e-9)
    (m,) = risk.health_curves(MORPHO, low=-0.5, high=0.5, points=3)
    assert m.unit == "USDC per WETH"
    assert m.prices == pytest.approx((1500.0, 3000.0, 4500.0), rel=1e-15)


@pytest.mark.shared_data
def test_eth_collateral_against_usdc_on_the_ethusdt_mark(shared_dir: Path) -> None:
    from levguard.data.loaders import load_ohlcv

    path = shared_dir / "data" / "ohlcv" / "ETHUSDT-MARK_1h.csv"
    if not path.exists():
        pytest.skip("ETHUSDT-MARK_1h.csv is not in ../shared")
    bars = load_ohlcv(path)
    spec = aave(weth=10.0, usdc_debt=15_000.0)  # HF 1.66, liquidation 39.8 % below
    r = risk.position_risk(spec, {"WETH": path}, (1, 7, 30))
    d = r.distance
    expected = liquidation_forecasts(bars, bars.index[-1] + HOUR, "long", d, [1, 7, 30])
    assert [h.probability for h in r.probabilities] == list(expected)
    assert r.bars == bars.shape[0]
    assert 0.0 < r.probability(1) < r.probability(7) < r.probability(30) < 0.5


@pytest.mark.parametrize("name", ["risk", "health_target"])
def test_module_examples_run(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"levguard.defi.{name}"))
    assert result.attempted > 0
    assert result.failed == 0


def test_an_as_of_beyond_nanoseconds_is_an_input_error() -> None:
    # pandas' OutOfBoundsDatetime came out of the conversion to nanoseconds.
    with pytest.raises(InputError, match="as_of must lie between 1677-09-22 and 2262-04-11 UTC"):
        risk.ratio_bars(eth_vs_btc(), {"WETH": ETH, "WBTC": BTC}, as_of="2300-01-01T00:00Z")
