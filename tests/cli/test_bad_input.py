"""Bad input: every case raises an InputError naming the field and the value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import levguard
from levguard import InputError, TierTable

BASE: dict[str, Any] = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 60_000.0}


def spec(**position: Any) -> dict[str, Any]:
    return {"venue": "binance-usdm", "wallet_balance": 10_000, "positions": [{**BASE, **position}]}


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("qty", math.nan, "positions[0].qty must be finite, was nan"),
        ("qty", math.inf, "positions[0].qty must be finite, was inf"),
        ("qty", 0, "positions[0].qty must be non-zero"),
        ("entry_price", 0, "positions[0].entry_price must be > 0, was 0.0"),
        ("entry_price", -5, "positions[0].entry_price must be > 0, was -5.0"),
        ("mark_price", math.nan, "positions[0].mark_price must be finite, was nan"),
        ("mark_price", "abc", "positions[0].mark_price must be a number, was 'abc'"),
        ("leverage", 0, "positions[0].leverage must be > 0, was 0.0"),
        ("leverage", -3, "positions[0].leverage must be > 0, was -3.0"),
        ("leverage", 150, "positions[0].leverage 150.0 exceeds the maximum 100 for notional 60,000.00"),
        ("isolated_margin", -1, "positions[0].isolated_margin must be > 0, was -1.0"),
        # A review (2026-12-06): a cross position's isolated margin was dropped without a word.
        (
            "isolated_margin",
            100.0,
            "positions[0].isolated_margin is the margin of an isolated position; this one is cross",
        ),
        ("open_interest", -1e9, "positions[0].open_interest must be >= 0, was -1000000000.0"),
        ("qty", True, "positions[0].qty must be a number, was True"),
        ("margin_mode", "portfolio", "positions[0].margin_mode must be cross or isolated, was 'portfolio'"),
        ("mmr", 1.5, "mmr must be a fraction in [0, 1), was 1.5"),
        ("taker_fee_rate", 0.5, "taker_fee_rate must be a fraction below 0.1, was 0.5"),
    ],
)
def test_position_fields(field: str, value: object, needle: str) -> None:
    """Each bad value is named with its field path."""
    with pytest.raises(InputError) as exc:
        levguard.evaluate_account(spec(**{field: value}))
    assert needle in str(exc.value)


def test_leverage_above_the_tier_maximum_names_the_notional() -> None:
    """Binance bracket 4 (3M-12M) allows 50x: 100 BTC at 60,000 with 75x is refused."""
    with pytest.raises(InputError, match=r"leverage 75.0 exceeds the maximum 50 for notional 6,000,000.00 of BTCUSDT"):
        levguard.evaluate_account(spec(qty=100, leverage=75))


@pytest.mark.parametrize(
    ("account", "needle"),
    [
        ({"venue": "kraken", "positions": []}, "venue must be one of binance-usdm"),
        ({"positions": []}, "venue is required"),
        ({"venue": "binance-usdm", "wallet_balance": -1}, "wallet_balance must be >= 0, was -1.0"),
        ({"venue": "binance-usdm", "wallet_balance": math.nan}, "wallet_balance must be finite, was nan"),
        ({"venue": "binance-usdm", "positions": "BTC"}, "positions must be a list, was str"),
        ({"venue": "binance-usdm", "positions": [5]}, "positions[0] must be an object, was 5"),
        ({"venue": "binance-usdm", "wallet": 5}, "unknown field(s) ['wallet']"),
        ({"venue": "binance-usdm", "margin_mode": "x"}, "margin_mode must be cross or isolated, was 'x'"),
        (
            {"venue": "binance-usdm", "positions": [{**BASE, "colour": 1}]},
            "positions[0] has unknown field(s) ['colour']",
        ),
        ({"venue": "binance-usdm", "positions": [{**BASE, "symbol": ""}]}, "positions[0].symbol must be a non-empty"),
        (
            {"venue": "binance-usdm", "positions": [{"symbol": "BTCUSDT", "qty": 1}]},
            "positions[0].entry_price is required",
        ),
        ({"venue": "binance-usdm", "positions": [BASE, BASE]}, "positions[1].symbol 'BTCUSDT' appears twice"),
    ],
)
def test_account_fields(account: dict[str, Any], needle: str) -> None:
    """Account-level errors name the field."""
    with pytest.raises(InputError) as exc:
        levguard.evaluate_account(account)
    assert needle in str(exc.value)


def test_unknown_symbol_without_tiers() -> None:
    """No built-in tiers for DOGEUSDT on Binance: ask for tiers or mmr."""
    with pytest.raises(
        InputError, match=r"positions\[0\] DOGEUSDT: no built-in tiers for this symbol on binance-usdm; pass tiers"
    ):
        levguard.evaluate_account(spec(symbol="DOGEUSDT"))


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([], "at least one tier"),
        (
            [
                {"notional_floor": 0, "notional_cap": 100, "mmr": 0.01, "max_leverage": 50},
                {"notional_floor": 90, "notional_cap": 200, "mmr": 0.02, "max_leverage": 25},
            ],
            "tiers[1].notional_floor 90.0 overlaps tiers[0].notional_cap 100.0",
        ),
        (
            [
                {"notional_floor": 0, "notional_cap": 100, "mmr": 0.01, "max_leverage": 50},
                {"notional_floor": 120, "notional_cap": 200, "mmr": 0.02, "max_leverage": 25},
            ],
            "tiers[1].notional_floor 120.0 leaves a gap after tiers[0].notional_cap 100.0",
        ),
        (
            [{"notional_floor": 10, "notional_cap": 100, "mmr": 0.01, "max_leverage": 50}],
            "tiers[0].notional_floor must be 0",
        ),
        (
            [
                {"notional_floor": 0, "notional_cap": 100, "mmr": 0.01, "max_leverage": 50},
                {"notional_floor": 100, "notional_cap": 200, "mmr": 0.02, "maint_amount": 5, "max_leverage": 25},
            ],
            "tiers[1].maint_amount must be 1.0 by the continuity rule",
        ),
        (
            [
                {"notional_floor": 0, "notional_cap": 100, "mmr": 0.02, "max_leverage": 50},
                {"notional_floor": 100, "notional_cap": 200, "mmr": 0.01, "max_leverage": 25},
            ],
            "tiers[1].mmr must not decrease",
        ),
        (
            [{"notional_floor": 0, "notional_cap": 100, "mmr": -0.01, "max_leverage": 50}],
            "tiers[0].mmr must be a fraction in [0, 1), was -0.01",
        ),
        (
            [{"notional_floor": 0, "notional_cap": 100, "mmr": 0.01, "max_leverage": 0}],
            "tiers[0].max_leverage must be > 0, was 0.0",
        ),
        (
            [{"notional_floor": 0, "notional_cap": 0, "mmr": 0.01, "max_leverage": 5}],
            "tiers[0].notional_cap must be > notional_floor 0.0, was 0.0",
        ),
        ([{"notional_floor": 0, "notional_cap": 100, "max_leverage": 5}], "tiers[0].mmr is required"),
        (
            [{"notional_floor": 0, "notional_cap": 100, "mmr": "x", "max_leverage": 5}],
            "tiers[0].mmr must be a number, was 'x'",
        ),
        ("nope", "tiers must be a list of tier objects"),
    ],
)
def test_malformed_tiers(rows: Any, needle: str) -> None:
    """Overlapping, gapped, unsorted-rate, discontinuous or malformed tiers are rejected."""
    with pytest.raises(InputError) as exc:
        TierTable.from_rows(rows)
    assert needle in str(exc.value)


def test_malformed_tiers_inside_a_spec_name_the_position() -> None:
    bad = [
        {"notional_floor": 0, "notional_cap": 100, "mmr": 0.01, "max_leverage": 50},
        {"notional_floor": 90, "notional_cap": 200, "mmr": 0.02, "max_leverage": 25},
    ]
    with pytest.raises(InputError, match=r"positions\[0\]\.tiers\[1\]\.notional_floor 90.0 overlaps"):
        levguard.evaluate_account(spec(tiers=bad))


def test_malformed_files(tmp_path: Any) -> None:
    """Missing, unreadable and syntactically broken files name the file."""
    with pytest.raises(InputError, match="does not exist"):
        levguard.evaluate_account(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text('{"venue": "binance-usdm", ')
    with pytest.raises(InputError, match=r"broken.json: invalid JSON at line 1"):
        levguard.evaluate_account(broken)
    yml = tmp_path / "broken.yaml"
    yml.write_text("venue: [binance\npositions: -\n")
    with pytest.raises(InputError, match=r"broken.yaml: invalid YAML/JSON"):
        levguard.evaluate_account(yml)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(InputError, match="account spec must be an object, was int"):
        levguard.evaluate_account(scalar)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"qty": [1.0, np.nan]}, "qty[1] must be non-zero and finite, was nan"),
        ({"qty": [0.0, 1.0]}, "qty[0] must be non-zero and finite, was 0.0"),
        ({"entry_price": [60_000.0, -1.0]}, "entry_price[1] must be > 0, was -1.0"),
        ({"isolated_margin": [0.0, 1.0]}, "isolated_margin[0] must be > 0, was 0.0"),
        ({"entry_price": [1.0, 2.0, 3.0]}, "entry_price must have length 2 (like qty), was 3"),
        ({"venue": "deribit"}, "venue must be one of binance-usdm"),
        ({"tiers": "x"}, "tiers must be a TierTable or a list of tier dicts, was str"),
        # A bad-input campaign (2026-12-05): a fee that is not a number was a ValueError, and a
        # NaN or negative fee passed unseen on the venues whose maintenance margin has no fee.
        ({"venue": "okx", "taker_fee_rate": "x"}, "taker_fee_rate must be a number, was 'x'"),
        ({"venue": "bybit-linear", "taker_fee_rate": np.nan}, "taker_fee_rate must be a fraction in [0, 0.1), was nan"),
        ({"venue": "hyperliquid", "taker_fee_rate": -1.0}, "taker_fee_rate must be a fraction in [0, 0.1), was -1.0"),
    ],
)
def test_vectorized_bad_input(kwargs: dict[str, Any], needle: str) -> None:
    """The array path validates before entering the kernel."""
    from levguard.core.rules.binance import BUILTIN_TIERS

    args: dict[str, Any] = {
        "qty": [1.0, -1.0],
        "entry_price": [60_000.0, 60_000.0],
        "isolated_margin": [3_000.0, 3_000.0],
        "tiers": BUILTIN_TIERS["BTCUSDT"],
    }
    args.update(kwargs)
    with pytest.raises(InputError) as exc:
        levguard.isolated_liquidation_prices(**args)
    assert needle in str(exc.value)


def test_mixed_settlement_currencies_are_refused() -> None:
    """COIN-M BTC and ETH contracts settle in different coins: one account per coin."""
    positions = [
        {"symbol": "BTCUSD_PERP", "qty": 1, "entry_price": 50_000, "mark_price": 50_000, "mmr": 0.004},
        {"symbol": "ETHUSD_PERP", "qty": 1, "entry_price": 3_000, "mark_price": 3_000, "mmr": 0.004},
    ]
    with pytest.raises(InputError, match="positions settle in BTC, ETH; an account holds one settlement currency"):
        levguard.evaluate_account({"venue": "binance-coinm", "wallet_balance": 1, "positions": positions})


def test_fields_that_would_be_ignored_are_refused() -> None:
    """max_leverage without mmr, and maint_amount on rate-based venues, are errors rather than no-ops."""
    with pytest.raises(InputError, match=r"positions\[0\]\.max_leverage applies only with a fixed mmr"):
        levguard.evaluate_account(spec(max_leverage=10))
    deribit = {"symbol": "BTC_USDC-PERPETUAL", "qty": 1, "entry_price": 1e5, "mark_price": 1e5, "maint_amount": 5}
    with pytest.raises(InputError, match=r"positions\[0\]\.maint_amount is not used on deribit"):
        levguard.evaluate_account({"venue": "deribit", "positions": [deribit]})


def test_rate_based_initial_margin_is_scaled() -> None:
    """Deribit with user base rates: IM uses the size-scaled rate (2 % + 1 x 0.01 % = 2.01 %)."""
    p = levguard.evaluate_account(
        {
            "venue": "deribit",
            "wallet_balance": 1e4,
            "positions": [
                {
                    "symbol": "ETH_USDC-PERPETUAL",
                    "qty": 1,
                    "entry_price": 3_000,
                    "mark_price": 3_000,
                    "imr": 0.02,
                    "mmr": 0.01,
                    "size_coef": 0.0001,
                }
            ],
        }
    ).positions[0]
    assert p.initial_margin == pytest.approx(3_000 * 0.0201)
    assert p.maintenance_margin == pytest.approx(3_000 * 0.0101)
    dydx = levguard.evaluate_account(
        {
            "venue": "dydx-v4",
            "wallet_balance": 1e4,
            "positions": [{"symbol": "BTC-USD", "qty": 1, "entry_price": 50_000, "mark_price": 50_000, "mmr": 0.015}],
        }
    ).positions[0]
    assert dydx.mmr == pytest.approx(0.015)  # an override below the IMF (above it: refused)
    assert dydx.initial_margin == pytest.approx(1_000)  # Large-Cap IMF 2 %
