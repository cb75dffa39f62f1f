"""Account populations of the cascade simulator (levguard.cascade.population)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.cascade.population import (
    DEFAULT_LEVERAGE_MIXTURE,
    Population,
    liquidatable_mask,
    load_population,
    population_from_distribution,
    save_population,
)
from levguard.errors import DataError, InputError

PRICE = 60_000.0


@pytest.fixture(scope="module")
def pop() -> Population:
    return population_from_distribution(50_000, price=PRICE, seed=42, cross_share=0.3, long_share=0.6)


def _small(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "side": [1.0, -1.0, 1.0],
        "qty": [0.5, 1.0, 2.0],
        "entry_price": [100.0, 110.0, 90.0],
        "margin": [10.0, 20.0, 30.0],
        "cross": [False, True, False],
    }
    return {**base, **over}


# --- the dataclass ------------------------------------------------------------------------------
def test_population_properties() -> None:
    p = Population(**_small())
    assert p.n == len(p) == 3
    np.testing.assert_array_equal(p.long_mask, [True, False, True])
    np.testing.assert_array_equal(p.signed_qty, [0.5, -1.0, 2.0])
    np.testing.assert_allclose(p.notional, [50.0, 110.0, 180.0])
    np.testing.assert_allclose(p.leverage, [5.0, 5.5, 6.0])
    assert p.qty.dtype == np.float64
    assert p.cross.dtype == np.bool_
    with pytest.raises(ValueError, match="read-only"):
        p.qty[0] = 1.0


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"side": [1.0, 0.0, 1.0]}, r"side\[1\] must be \+1 \(long\) or -1 \(short\), was 0.0"),
        ({"qty": [0.5, 1.0, -2.0]}, r"qty\[2\] must be finite and > 0, was -2.0"),
        ({"entry_price": [100.0, math.nan, 90.0]}, r"entry_price\[1\] must be finite and > 0, was nan"),
        ({"margin": [0.0, 20.0, 30.0]}, r"margin\[0\] must be finite and > 0, was 0.0"),
        ({"margin": [1.0, 2.0]}, r"margin must have the length of side \(3\), had 2"),
        ({"cross": [0, 2, 1]}, r"cross\[1\] must be True/False"),
        ({"cross": ["a", "b", "c"]}, "cross must be an array of True/False"),
        ({"qty": [[1.0, 2.0, 3.0]]}, "qty must be one-dimensional"),
        ({"qty": ["x", 1.0, 2.0]}, "qty must be an array of numbers"),
    ],
)
def test_population_validation(over: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        Population(**_small(**over))


# --- drawing from distributions -----------------------------------------------------------------
def test_deterministic_per_seed(pop: Population) -> None:
    again = population_from_distribution(50_000, price=PRICE, seed=42, cross_share=0.3, long_share=0.6)
    pd.testing.assert_frame_equal(pop.to_frame(), again.to_frame())
    other = population_from_distribution(50_000, price=PRICE, seed=43, cross_share=0.3, long_share=0.6)
    assert not np.array_equal(pop.entry_price, other.entry_price)


def test_leverage_mixture_shares(pop: Population) -> None:
    lev = pop.leverage
    assert pop.n == 50_000
    for weight, lo, hi in DEFAULT_LEVERAGE_MIXTURE:
        share = np.mean((lev >= lo * (1 - 1e-9)) & (lev < hi * (1 - 1e-12)))
        assert share == pytest.approx(weight, abs=0.01), (lo, hi)
    # Uniform within a component: the 5-20x component's mean leverage is 12.5.
    mid = lev[(lev >= 5.0) & (lev < 20.0)]
    assert mid.mean() == pytest.approx(12.5, rel=0.02)


def test_shares_and_sizes(pop: Population) -> None:
    assert pop.long_mask.mean() == pytest.approx(0.6, abs=0.01)
    assert pop.cross.mean() == pytest.approx(0.3, abs=0.01)
    assert np.median(pop.notional) == pytest.approx(5_000.0, rel=0.03)
    assert np.log(pop.notional).std() == pytest.approx(1.5, rel=0.02)
    # Entries spread lognormally around the price (5 %), shifted by the survival condition.
    assert np.median(pop.entry_price) == pytest.approx(PRICE, rel=0.01)
    assert 0.03 < np.log(pop.entry_price / PRICE).std() < 0.06


def test_no_account_already_liquidatable(pop: Population) -> None:
    assert not liquidatable_mask(pop.side, pop.qty, pop.entry_price, pop.margin, price=PRICE, mmr=0.005).any()
    # The same check written out: margin balance above the maintenance margin at the price.
    balance = pop.margin + pop.side * pop.qty * (PRICE - pop.entry_price)
    assert np.all(balance > 0.005 * pop.qty * PRICE)
    # Survivors: high-leverage longs entered below the price (on the whole), shorts above.
    hi = pop.leverage > 50.0
    assert np.median(pop.entry_price[hi & pop.long_mask]) < PRICE < np.median(pop.entry_price[hi & ~pop.long_mask])


def test_liquidatable_mask_matches_formula() -> None:
    side = np.array([1.0, 1.0, -1.0, -1.0])
    qty = np.ones(4)
    entry = np.array([100.0, 100.0, 100.0, 100.0])
    margin = np.array([5.0, 5.0, 5.0, 5.0])
    # Long 20x: liquidation price (100 - 5) / (1 - 0.01) = 95.96; short: 105 / 1.01 = 103.96.
    np.testing.assert_array_equal(
        liquidatable_mask(side, qty, entry, margin, price=95.9, mmr=0.01), [True, True, False, False]
    )
    np.testing.assert_array_equal(
        liquidatable_mask(side, qty, entry, margin, price=104.0, mmr=0.01), [False, False, True, True]
    )
    assert not liquidatable_mask(side, qty, entry, margin, price=100.0, mmr=0.01).any()


def test_entry_prices_from_history_and_drops() -> None:
    hist = np.linspace(58_000.0, 62_000.0, 41)
    p = population_from_distribution(5_000, price=PRICE, seed=1, entry_prices=hist)
    assert np.isin(p.entry_price, hist).all()
    assert p.n == 5_000
    # Every entry 10 % below the price: 100x longs are fine, no 100x short can exist.
    lop = population_from_distribution(2_000, price=PRICE, seed=2, leverage=100.0, entry_prices=[0.9 * PRICE])
    assert lop.long_mask.all()
    assert 900 < lop.n < 1_100
    with pytest.raises(InputError, match="no account survives"):
        population_from_distribution(
            10, price=PRICE, seed=2, leverage=100.0, long_share=0.0, entry_prices=[0.9 * PRICE]
        )


def test_max_leverage_and_total_notional() -> None:
    p = population_from_distribution(20_000, price=PRICE, seed=3, max_leverage=25.0, total_notional=1e9)
    assert p.leverage.max() == pytest.approx(25.0)
    # Above 25x: 5/6 of the 20-50x component and all of the 50-100x one.
    assert np.mean(np.isclose(p.leverage, 25.0)) == pytest.approx(0.2 * 25 / 30 + 0.05, abs=0.01)
    assert p.notional.sum() == pytest.approx(1e9, rel=1e-12)
    q = population_from_distribution(20_000, price=PRICE, seed=3, max_leverage=25.0)
    np.testing.assert_allclose(p.leverage, q.leverage, rtol=1e-12)
    np.testing.assert_array_equal(p.entry_price, q.entry_price)


def test_single_leverage_and_custom_mixture() -> None:
    p = population_from_distribution(1_000, price=100.0, seed=4, leverage=10.0, entry_spread=0.0)
    np.testing.assert_allclose(p.leverage, 10.0, rtol=1e-12)
    np.testing.assert_array_equal(p.entry_price, 100.0)
    q = population_from_distribution(4_000, price=100.0, seed=4, leverage=[(1.0, 2.0, 3.0), (3.0, 10.0, 10.0)])
    assert np.mean(np.isclose(q.leverage, 10.0)) == pytest.approx(0.75, abs=0.03)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be an integer >= 1, was 0"),
        ({"n": 2.5}, "n must be an integer"),
        ({"price": -1.0}, "price must be in"),
        ({"seed": -3}, "seed must be a non-negative integer"),
        ({"seed": None}, "seed must be a non-negative integer"),
        ({"long_share": 1.5}, "long_share must be in \\[0, 1\\], was 1.5"),
        ({"cross_share": -0.1}, "cross_share must be in"),
        ({"mmr": 1.0}, "mmr must be < 1"),
        ({"leverage": 0.0}, "leverage must be in"),
        ({"leverage": []}, "non-empty list"),
        ({"leverage": [(1.0, 5.0)]}, "non-empty list of \\(weight, low, high\\)"),
        ({"leverage": [(1.0, 5.0, 2.0)]}, "leverage\\[0\\].high must be in \\[5, "),
        ({"leverage": [(0.0, 1.0, 2.0)]}, "weights must sum to > 0"),
        ({"leverage": "high"}, "leverage must be a non-empty list"),
        ({"notional": (1.0,)}, "notional must be \\(median, sigma\\)"),
        ({"notional": (0.0, 1.0)}, "notional median must be in"),
        ({"max_leverage": 0.0}, "max_leverage must be in"),
        ({"entry_spread": -0.1}, "entry_spread must be in"),
        ({"entry_spread": 0.1, "entry_prices": [1.0]}, "not both"),
        ({"entry_prices": []}, "entry_prices must not be empty"),
        ({"entry_prices": [1.0, -1.0]}, "entry_prices\\[1\\] must be finite and > 0, was -1.0"),
        ({"total_notional": 0.0}, "total_notional must be in"),
    ],
)
def test_distribution_validation(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"n": 10, "price": 100.0, "seed": 1}
    args.update(kwargs)
    n = args.pop("n")
    with pytest.raises(InputError, match=match):
        population_from_distribution(n, **args)


# --- frames and files ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pop.csv", "pop.csv.gz", "pop.parquet", "sub/pop.pq"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    p = population_from_distribution(500, price=PRICE, seed=9, cross_share=0.5)
    out = save_population(p, tmp_path / name)
    assert out.exists()
    back = load_population(out)
    for field in ("side", "qty", "entry_price", "margin", "cross"):
        np.testing.assert_array_equal(getattr(back, field), getattr(p, field), err_msg=field)


def test_from_frame_signed_qty_leverage_and_words() -> None:
    frame = pd.DataFrame(
        {"Qty": [2.0, -1.0], " Entry_Price ": [100.0, 50.0], "leverage": [10.0, 5.0], "cross": ["cross", "isolated"]}
    )
    p = Population.from_frame(frame)
    np.testing.assert_array_equal(p.side, [1.0, -1.0])
    np.testing.assert_array_equal(p.qty, [2.0, 1.0])
    np.testing.assert_allclose(p.margin, [20.0, 10.0])
    np.testing.assert_array_equal(p.cross, [True, False])
    words = pd.DataFrame({"side": ["LONG", "sell"], "qty": [1.0, 1.0], "entry_price": [1.0, 1.0], "margin": [1.0, 1.0]})
    q = Population.from_frame(words)
    np.testing.assert_array_equal(q.side, [1.0, -1.0])
    assert not q.cross.any()


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({"qty": [1.0], "margin": [1.0]}), r"missing columns \['entry_price'\]"),
        (pd.DataFrame({"qty": [1.0], "entry_price": [1.0]}), r"missing columns \['margin \(or leverage\)'\]"),
        (
            pd.DataFrame({"qty": [1.0, 0.0], "entry_price": [1.0, 1.0], "margin": [1.0, 1.0]}),
            r"qty\[1\] must be a finite signed",
        ),
        (
            pd.DataFrame({"side": ["up"], "qty": [1.0], "entry_price": [1.0], "margin": [1.0]}),
            r"side\[0\] must be long/short",
        ),
        (pd.DataFrame({"qty": [1.0], "entry_price": ["x"], "margin": [1.0]}), "column 'entry_price' must be numeric"),
        (
            pd.DataFrame({"qty": [1.0], "entry_price": [1.0], "leverage": [0.0]}),
            r"leverage\[0\] must be finite and > 0",
        ),
        (pd.DataFrame({"qty": [1.0], "entry_price": [1.0], "margin": [1.0], "cross": ["maybe"]}), r"cross\[0\]"),
    ],
)
def test_from_frame_errors(frame: pd.DataFrame, match: str) -> None:
    with pytest.raises(InputError, match=match):
        Population.from_frame(frame)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "positions.csv"
    pd.DataFrame({"qty": [1.0], "price": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"positions.csv: positions table is missing columns \['entry_price'"):
        load_population(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_population(tmp_path / "missing.csv")
    header_only = tmp_path / "header.csv"
    header_only.write_text("side,qty,entry_price,margin\n")  # ran a cascade of nobody, all zeros
    with pytest.raises(DataError, match=r"header.csv: the positions table holds no positions"):
        load_population(header_only)
    with pytest.raises(DataError, match="unknown format"):
        load_population(tmp_path / "positions.xlsx")
    with pytest.raises(InputError, match=r"must end in \.csv"):
        save_population(Population(**_small()), tmp_path / "positions.xlsx")
