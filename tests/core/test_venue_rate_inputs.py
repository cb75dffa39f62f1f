"""dYdX v4 protocol helpers and Deribit's size-scaled rates refuse bad input with InputError
naming the value (they raised ValueError, OverflowError, TypeError or AttributeError, or
returned numbers no venue computes), and a maintenance rate above the initial rate is refused.

Protocol bounds (dydxprotocol/v4-chain): ``x/perpetuals/types/liquidity_tier.go``
(``LiquidityTier.Validate``: initial margin and maintenance fraction at most 1e6 ppm, lower
open-interest cap at most the upper; effective IMF ``min(base + increase, 1.0)``);
``x/clob/types/liquidations_config.go`` (``Validate``: ``MaxLiquidationFeePpm`` in (0, 1e6],
bankruptcy adjustment at least 1e6, spread ratio not 0); ``x/clob/keeper/liquidations.go``
(``GetLiquidationInsuranceFundDelta``: ``min(fee, d)`` when ``d > 0``).
"""

from __future__ import annotations

import math

import pytest

import levguard
from levguard.core.margin import instrument_for
from levguard.core.positions import Position
from levguard.core.rules import dydx as d
from levguard.core.rules import get_venue
from levguard.core.rules.deribit import deribit_rates, size_scaled_rates
from levguard.errors import InputError

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: d.scaled_initial_margin_ppm(100_000, NAN, 20e6, 50e6), "open_interest must be finite, was nan"),
        (lambda: d.scaled_initial_margin_ppm(100_000, INF, 20e6, 50e6), "open_interest must be finite, was inf"),
        (lambda: d.scaled_initial_margin_ppm(100_000, -1e9, 20e6, 50e6), "open_interest must be >= 0"),
        (lambda: d.scaled_initial_margin_ppm(100_000, 30e6, 50e6, 20e6), "open_interest_lower_cap must be <="),
        (lambda: d.scaled_initial_margin_ppm(2_000_000, 30e6, 20e6, 50e6), "base_imf_ppm .* was 2000000"),
        (lambda: d.initial_margin_quantums(1.5, 20_000), "notional_quantums .* was 1.5"),  # type: ignore[arg-type]
        (lambda: d.initial_margin_quantums(100, -20_000), "imf_ppm .* was -20000"),
        (lambda: d.maintenance_fraction_ppm(-1, 600_000), "initial_margin_ppm .* was -1"),
        (lambda: d.maintenance_margin_quantums(100, 20_000, 1_000_001), "maintenance_fraction_ppm .* 1000001"),
        (lambda: d.bankruptcy_quote_quantums(1, NAN, 1, 1), "tnc .* was nan"),  # type: ignore[arg-type]
        (lambda: d.bankruptcy_quote_quantums(-500, 100, 5, NAN), "tmmr .* was nan"),  # type: ignore[arg-type]
        (lambda: d.fillable_price(100.0, 1.0, NAN, 10.0, 10.0), "tnc must be finite, was nan"),
        (lambda: d.fillable_price(100.0, 1.0, 5.0, NAN, 10.0), "tmmr must be finite, was nan"),
        (lambda: d.fillable_price(INF, 1.0, 5.0, 10.0, 10.0), "pnnv must be finite, was inf"),
        (lambda: d.fillable_price(100.0, NAN, 5.0, 10.0, 10.0), "position_size must be finite, was nan"),
        (
            lambda: d.fillable_price(100.0, 1.0, 5.0, 10.0, 10.0, bankruptcy_adjustment_ppm=-5),
            "bankruptcy_adjustment_ppm .* was -5",
        ),
        (lambda: d.fillable_price(100.0, 1.0, 5.0, 10.0, 10.0, spread_to_mmr_ppm=0), "spread_to_mmr_ppm .* was 0"),
        (lambda: d.insurance_fund_delta(NAN, 59_500), "quote_received .* was nan"),  # type: ignore[arg-type]
        (lambda: d.insurance_fund_delta(59_800, 59_500, -15_000), "max_liquidation_fee_ppm .* was -15000"),
        (lambda: d.insurance_fund_delta(59_800, 59_500, 0), "max_liquidation_fee_ppm .* was 0"),
        (lambda: d.is_liquidatable(NAN, 10.0), "tnc must be finite, was nan"),
        (lambda: d.is_liquidatable(5, NAN), "tmmr must be finite, was nan"),
        (lambda: d.tier_index(None), "liquidity_tier must be one of Large-Cap.*was None"),  # type: ignore[arg-type]
        (lambda: size_scaled_rates(NAN, 0.02, 0.01, 0.00005), "size_base must be finite, was nan"),
        (lambda: size_scaled_rates(10, 0.02, 0.01, -0.01), "size_coef must be >= 0, was -0.01"),
        (lambda: size_scaled_rates("10", 0.02, 0.01, 0.00005), "size_base must be a number"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_an_input_error(call: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()  # type: ignore[operator]


def test_protocol_answers_within_bounds() -> None:
    """The insurance fund takes at most the surplus (300 of 59,800 - 59,500, under the 897 fee);
    the scaled IMF reaches 1e6 at the upper cap and stays there; equal caps do not divide by 0."""
    assert d.insurance_fund_delta(59_800, 59_500) == 300
    assert d.insurance_fund_delta(59_800, 59_500, 1_000_000) == 300
    assert d.insurance_fund_delta(59_500, 59_800) == -300
    assert d.scaled_initial_margin_ppm(100_000, 35e6, 20e6, 50e6) == 550_000
    assert d.scaled_initial_margin_ppm(1_000_000, 35e6, 20e6, 50e6) == 1_000_000
    assert d.scaled_initial_margin_ppm(100_000, 30e6, 20e6, 20e6) == 1_000_000
    assert d.tier_index(" large-cap ") == 0
    assert size_scaled_rates(-25, 0.02, 0.01, 0.00005) == pytest.approx((0.02125, 0.01125))


def _position(venue: str, symbol: str, **kw: object) -> Position:
    inst = instrument_for(get_venue(venue), symbol)
    return Position(inst, 1.0, 1e5, 1e5, **kw)  # type: ignore[arg-type]


def test_dydx_maintenance_above_initial_is_refused() -> None:
    """dYdX's MMF = IMF x maintenance fraction (at most 1e6 ppm): an mmr of 3 % with Large-Cap's 2 %
    IMF (or with imr 2 %) is no dYdX market; it was evaluated silently (MM 300 over IM 200)."""
    with pytest.raises(InputError, match=r"BTC-USD\.mmr must be at most the initial margin rate 0\.02"):
        d.dydx_rates(_position("dydx-v4", "BTC-USD", params={"mmr": 0.03}))
    with pytest.raises(InputError, match=r"BTC-USD\.mmr must be at most"):
        d.dydx_rates(_position("dydx-v4", "BTC-USD", imr=0.02, params={"mmr": 0.03}))
    spec = {"symbol": "BTC-USD", "qty": 0.1, "entry_price": 60_000, "mark_price": 60_000, "mmr": 0.03}
    with pytest.raises(InputError, match=r"mmr must be at most the initial margin rate"):
        levguard.evaluate_account({"venue": "dydx-v4", "wallet_balance": 1_000, "positions": [spec]})
    # mmr alone is a user override of the tier's maintenance rate; the IM stays the tier's.
    alone = d.dydx_rates(_position("dydx-v4", "BTC-USD", params={"mmr": 0.015}))
    assert (alone.imr, alone.mmr) == (0.02, 0.015)
    tier = d.dydx_rates(_position("dydx-v4", "BTC-USD"))
    assert (tier.imr, tier.mmr) == pytest.approx((0.02, 0.012))


def test_dydx_liquidity_tier_index_out_of_range() -> None:
    with pytest.raises(InputError, match=r"liquidity_tier_index must be a whole number in \[0, 6\], was 7"):
        d.dydx_rates(_position("dydx-v4", "BTC-USD", params={"liquidity_tier_index": 7.0}))


def test_deribit_maintenance_above_initial_and_negative_coef_are_refused() -> None:
    with pytest.raises(
        InputError, match=r"maintenance rate must be at most the initial rate.*mmr 0\.03 with imr 0\.005"
    ):
        deribit_rates(_position("deribit", "BTC_USDC-PERPETUAL", imr=0.005, params={"mmr": 0.03}))
    neg = _position("deribit", "BTC_USDC-PERPETUAL", params={"size_coef": -0.001})
    with pytest.raises(InputError, match=r"size_coef must be >= 0, was -0\.001"):
        deribit_rates(neg)
    with pytest.raises(InputError, match=r"BTC_USDC-PERPETUAL\.size_coef must be >= 0"):
        get_venue("deribit").mm_size_coef(neg)
