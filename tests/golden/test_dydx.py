"""Golden tests: dYdX v4 protocol functions, in the protocol's own units.

Sources (dydxprotocol/v4-chain): ``protocol/x/clob/keeper/liquidations_test.go`` @ 56b4b49d
(TestGetBankruptcyPriceInQuoteQuantums, TestGetFillablePrice, TestGetLiquidationInsuranceFundDelta);
``protocol/x/perpetuals/types/liquidity_tier_test.go`` @ 01a48f23.  Units: 1 USDC = 1e6 quote
quantums; 1 BTC = 1e8 base quantums at $50,000 (500 quote quantums per base quantum), 1 ETH = 1e9
at $3,000 (3 per base quantum).  Test perpetuals: IMF 20 %, maintenance fraction 50 %.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from golden_helpers import one

from levguard.core.rules.dydx import (
    bankruptcy_quote_quantums,
    fillable_price,
    initial_margin_quantums,
    insurance_fund_delta,
    is_liquidatable,
    maintenance_fraction_ppm,
    maintenance_margin_quantums,
    scaled_initial_margin_ppm,
)

USDC = 1_000_000
BTC = 100_000_000
ETH = 1_000_000_000
QUOTE_PER_BASE = {"btc": 500, "eth": 3}  # quote quantums per base quantum at the test prices
IMF, MF = 200_000, 500_000


def _nc(market: str, base: int) -> int:
    return base * QUOTE_PER_BASE[market]


def _mmr(market: str, base: int) -> int:
    return maintenance_margin_quantums(_nc(market, base), IMF, MF)


def _bankruptcy(usdc: float, positions: dict[str, int], market: str, delta: int) -> int:
    tnc = round(usdc * USDC) + sum(_nc(m, b) for m, b in positions.items())
    tmmr = sum(_mmr(m, b) for m, b in positions.items())
    ps = positions[market]
    dnnv = _nc(market, ps + delta) - _nc(market, ps)
    dmmr = _mmr(market, ps + delta) - _mmr(market, ps)
    return bankruptcy_quote_quantums(dnnv, tnc, dmmr, tmmr)


@pytest.mark.parametrize(
    ("usdc", "positions", "market", "delta", "expected"),
    [
        (-4501, {"btc": BTC // 10}, "btc", -BTC // 10, 4_501_000_000),
        (5499, {"btc": -BTC // 10}, "btc", BTC // 10, -5_499_000_000),
        (-5000, {"btc": BTC // 10}, "btc", -BTC // 10, 5_000_000_000),
        (-5000, {"btc": BTC // 10}, "btc", -BTC // 20, 2_500_000_000),
        (5000, {"btc": -BTC // 10}, "btc", BTC // 20, -2_500_000_000),
        (5000, {"btc": -BTC // 10}, "btc", BTC // 10, -5_000_000_000),
        (-5100, {"btc": BTC // 10}, "btc", -BTC // 10, 5_100_000_000),
        (4900, {"btc": -BTC // 10}, "btc", BTC // 10, -4_900_000_000),
        (-490, {"btc": 400_000, "eth": ETH // 10}, "eth", -ETH // 10, 294_000_000),
        (510, {"btc": -400_000, "eth": -ETH // 10}, "eth", ETH // 10, -306_000_000),
        (110, {"btc": 400_000, "eth": -ETH // 10}, "eth", ETH // 10, -306_000_000),
        (-13, {"btc": BTC}, "btc", -21_347, 2_776),
        (13, {"btc": -BTC}, "btc", 21_347, -2_775),
        (1, {"btc": BTC}, "btc", -BTC, -1_000_000),
    ],
)
def test_bankruptcy_price_in_quote_quantums(
    usdc: float, positions: dict[str, int], market: str, delta: int, expected: int
) -> None:
    """-DNNV - TNC * |DMMR| / TMMR rounded towards +inf (cases 12/13 test the rounding)."""
    assert _bankruptcy(usdc, positions, market, delta) == expected


@pytest.mark.parametrize(
    ("usdc", "btc", "ba", "smmr", "expected"),
    [
        (-4501, BTC // 10, 1_000_000, 100_000, Fraction(49_999, 100)),
        (-4501, BTC // 10, 2_000_000, 100_000, Fraction(49_998, 100)),
        (-4501, BTC // 10, 1_000_000, 200_000, Fraction(49_998, 100)),
        (5499, -BTC // 10, 1_000_000, 100_000, Fraction(50_001, 100)),
        (5499, -BTC // 10, 2_000_000, 100_000, Fraction(50_002, 100)),
        (5499, -BTC // 10, 1_000_000, 200_000, Fraction(50_002, 100)),
        (-5000, BTC // 10, 1_000_000, 100_000, Fraction(495)),
        (5000, -BTC // 10, 1_000_000, 100_000, Fraction(505)),
        (-5500, BTC // 10, 1_000_000, 100_000, Fraction(495)),
        (4500, -BTC // 10, 1_000_000, 100_000, Fraction(505)),
        (-4501, BTC // 10, 2**32 - 1, 100_000, Fraction(495)),
        (-4501, BTC // 10, 1_000_000, 1, Fraction(4_999_999_999, 10_000_000)),
        (-4501, BTC // 10, 1_000_000, 1_000_000, Fraction(49_990, 100)),
    ],
)
def test_fillable_price(usdc: float, btc: int, ba: int, smmr: int, expected: Fraction) -> None:
    """(PNNV - ABR * SMMR * PMMR) / PS in quote quantums per base quantum (x100 = USD per BTC)."""
    pnnv = _nc("btc", btc)
    tnc = usdc * USDC + pnnv
    pmmr = _mmr("btc", btc)
    got = fillable_price(pnnv, btc, tnc, pmmr, pmmr, bankruptcy_adjustment_ppm=ba, spread_to_mmr_ppm=smmr)
    assert got == expected


def test_fillable_price_multi_position() -> None:
    """0.004 BTC long + 0.1 ETH long, USDC -490: ETH fillable price 372/125 (= $2,976) with the test
    suite's config (``LiquidationsConfig_Default``: SMMR 100,000 ppm); mainnet's 1,500,000 ppm
    (levguard's default) puts it 15 times further from the oracle price."""
    tnc = -490 * USDC + _nc("btc", 400_000) + _nc("eth", ETH // 10)
    tmmr = _mmr("btc", 400_000) + _mmr("eth", ETH // 10)
    args = (_nc("eth", ETH // 10), ETH // 10, tnc, tmmr, _mmr("eth", ETH // 10))
    got = fillable_price(*args, spread_to_mmr_ppm=100_000)
    assert got == Fraction(372, 125)
    assert 3 - fillable_price(*args) == 15 * (3 - got)


@pytest.mark.parametrize(
    ("long", "subticks", "fee_ppm", "expected"),
    [
        (True, 56_100_000_000, 5_000, 28_050_000),
        (True, 56_100_000_000, 25_000, 140_250_000),
        (True, 56_100_000_000, 1_000_000, 510_000_000),
        (False, 44_100_000_000, 5_000, 22_050_000),
        (False, 44_100_000_000, 25_000, 110_250_000),
        (False, 44_100_000_000, 1_000_000, 490_000_000),
        (True, 51_051_000_000, 5_000, 5_100_000),
        (False, 48_951_000_000, 5_000, 4_900_000),
        (True, 51_000_000_000, 5_000, 0),
        (False, 49_000_000_000, 5_000, 0),
        (True, 50_490_000_000, 5_000, -51_000_000),
        (False, 49_490_000_000, 5_000, -49_000_000),
        (False, 1, 5_000, 0),
    ],
)
def test_insurance_fund_delta(long: bool, subticks: int, fee_ppm: int, expected: int) -> None:
    """0.1 BTC closed at ``subticks`` (USD = subticks/1e6): bankruptcy quote +5,100 (long) / -4,900 (short)."""
    quote = (BTC // 10) * subticks // 10**8  # FillAmountToQuoteQuantums with QCE -8, truncated
    received = quote if long else -quote
    bankruptcy = 5_100 * USDC if long else -4_900 * USDC
    assert insurance_fund_delta(received, bankruptcy, fee_ppm) == expected


@pytest.mark.parametrize(
    ("imf", "mf", "expected"),
    [
        (150_000, 800_000, 120_000),
        (450_000, 770_000, 346_500),
        (637_239, 289_284, 184_343),
        (1_000_000, 1_000_000, 1_000_000),
        (0, 1_000_000, 0),
        (0, 0, 0),
        (1_000_000, 0, 0),
    ],
)
def test_maintenance_fraction_ppm(imf: int, mf: int, expected: int) -> None:
    """TestLiquidityTierGetMaintenanceMarginPpm: floor(IMF x MF / 1e6)."""
    assert maintenance_fraction_ppm(imf, mf) == expected


@pytest.mark.parametrize(
    ("base", "lower", "upper", "oi", "quote", "expected"),
    [
        (200_000, 0, 0, 0, 500_000, 100_000),
        (500_000, 0, 0, 0, 1_000_000, 500_000),
        (100_000, 0, 0, 0, 1, 1),
        (567_243, 0, 0, 0, 123_456, 70_030),
        (200_000, 0, 0, 1_500_000_000_000, 500_000, 100_000),
        (200_000, 1_000_000_000_000, 2_000_000_000_000, 1_500_000_000_000, 500_000, 300_000),
        (200_000, 25_000_000_000_000, 50_000_000_000_000, 80_000_000_000_000, 500_000, 500_000),
        (200_000, 25_000_000_000_000, 50_000_000_000_000, 25_000_000_000_000, 500_000, 100_000),
        (200_000, 25_000_000_000_000, 60_000_000_000_000, 28_123_456_789_123, 500_000, 135_697),
    ],
)
def test_initial_margin_with_open_interest_scaling(
    base: int, lower: int, upper: int, oi: int, quote: int, expected: int
) -> None:
    """TestGetInitialMarginQuoteQuantums: ceil(quote x IMF_adj / 1e6)."""
    assert initial_margin_quantums(quote, scaled_initial_margin_ppm(base, oi, lower, upper)) == expected


@pytest.mark.parametrize(
    ("oi", "expected"),
    [
        (0, 200_000),
        (1_500_000, 600_000),
        (1_234_567, 387_653),
        (1_000_000, 200_000),
        (2_000_000, 1_000_000),
        (2_500_000, 1_000_000),
    ],
)
def test_adjusted_initial_margin_ppm(oi: int, expected: int) -> None:
    """TestGetAdjustedInitialMarginPpm: base 200,000, caps 1,000,000-2,000,000."""
    assert scaled_initial_margin_ppm(200_000, oi, 1_000_000, 2_000_000) == expected
    assert scaled_initial_margin_ppm(200_000, 1_500_000, 0, 0) == 200_000


def test_liquidatable_and_the_account_model_agree() -> None:
    """TNC < TMMR: 0.1 BTC long with USDC -4,501 (TNC 499 < TMMR 500) is liquidatable."""
    assert is_liquidatable(499, 500)
    assert not is_liquidatable(500, 500)
    assert not is_liquidatable(-1, 0)
    p = one("dydx-v4", wallet=499, symbol="BTC-USD", qty=0.1, entry_price=50_000, mark_price=50_000, imr=0.2, mmr=0.1)
    # Equity 499 against MM 500: liquidatable; the LP solves TNC(P) = TMMR(P).
    assert p.liquidatable
    assert p.liquidation_price == pytest.approx((50_000 - 499 / 0.1) / (1 - 0.1), rel=1e-12)
    lc = one("dydx-v4", wallet=10_000, symbol="BTC-USD", qty=1, entry_price=50_000, mark_price=50_000)
    assert lc.mmr == pytest.approx(0.012)  # Large-Cap: IMF 2 % x maintenance fraction 60 %
    assert lc.initial_margin == pytest.approx(1_000)
