"""Golden tests: Hyperliquid liquidation prices.

Source: freqtrade ``tests/exchange/test_hyperliquid.py::test_hyperliquid_dry_run_liquidation_price``
@ 3b1fb5af: 32 positions whose expected liquidation prices are Hyperliquid's own values
(ccxt ``fetch_positions``), asserted to rel 1e-4; max leverage from the market fixture
(BTC 50, ETH 50, SOL 20, DOGE 20, HIP-3 XYZ 10), MM = half the IM at max leverage.
Docs: hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations and /margin-tiers.
"""

from __future__ import annotations

import pytest
from golden_helpers import one

from levguard.core.rules.hyperliquid import BUILTIN_TIERS

MAX_LEV = {"BTC": 50, "ETH": 50, "SOL": 20, "DOGE": 20, "XYZ-AAPL": 10, "XYZ-GOOGL": 10, "XYZ-TSLA": 10}
ROWS = [
    ("ETH", "long", 2458.5, 0.015, 36.864593, 0.86915825),
    ("BTC", "long", 63287.0, 0.00039, 24.673292, 22.37166537),
    ("SOL", "long", 146.82, 0.16, 23.482979, 0.05269872),
    ("SOL", "long", 145.83, 0.33, 24.045107, 74.83696193),
    ("ETH", "long", 2459.5, 0.0199, 24.454895, 1243.0411908),
    ("BTC", "long", 62739.0, 0.00077, 24.137992, 31708.03843631),
    ("DOGE", "long", 0.11586, 437.0, 25.29769, 0.05945697),
    ("ETH", "short", 2642.8, 0.019, 25.091876, 3924.18322043),
    ("SOL", "short", 155.89, 0.32, 24.924941, 228.07847866),
    ("DOGE", "short", 0.14333, 351.0, 25.136807, 0.20970228),
    ("BTC", "short", 68595.0, 0.00069, 23.64871, 101849.99354283),
    ("BTC", "short", 65536.0, 0.00099, 21.604172, 86493.46174617),
    ("SOL", "long", 173.06, 0.6, 20.735658, 142.05186667),
    ("ETH", "long", 2545.5, 0.0329, 20.909894, 1929.23322895),
    ("BTC", "short", 67400.0, 0.00031, 20.887308, 133443.97317151),
    ("ETH", "short", 2552.0, 0.0327, 20.833393, 3157.53150453),
    ("BTC", "long", 66930.0, 0.0015, 20.043862, 54108.51043771),
    ("BTC", "long", 67033.0, 0.00121, 20.251817, 50804.00091827),
    ("ETH", "long", 2521.9, 0.0237, 19.902091, 1699.14071943),
    ("BTC", "short", 68139.0, 0.00145, 19.72573, 80933.61590987),
    ("SOL", "short", 178.29, 0.11, 19.605036, 347.82205322),
    ("SOL", "long", 176.23, 0.33, 19.364946, 120.56240404),
    ("SOL", "short", 173.08, 0.33, 19.01881, 225.08561715),
    ("BTC", "short", 68240.0, 0.00105, 17.887922, 84431.79820839),
    ("ETH", "short", 2518.4, 0.007, 17.62263, 4986.05799151),
    ("ETH", "long", 2533.2, 0.0347, 17.555195, 2047.7642302),
    ("DOGE", "long", 0.13284, 360.0, 15.943218, 0.09082388),
    ("SOL", "short", 163.11, 0.48, 15.650731, 190.94213618),
    ("BTC", "long", 67141.0, 0.00067, 14.979079, 45236.52992613),
    ("XYZ-AAPL", "long", 250.0, 0.5, 25.0, 210.5263157894737),
    ("XYZ-GOOGL", "short", 190.0, 0.5, 9.5, 199.04761904761904),
    ("XYZ-TSLA", "long", 350.0, 1.0, 50.0, 315.7894736842105),
]


@pytest.mark.parametrize("mode", ["isolated", "cross"])
@pytest.mark.parametrize(("coin", "side", "entry", "contracts", "collateral", "expected"), ROWS)
def test_live_positions(
    mode: str, coin: str, side: str, entry: float, contracts: float, collateral: float, expected: float
) -> None:
    """Each position's LP within rel 1e-4 of Hyperliquid's value, isolated and cross (wallet = collateral)."""
    position = {
        "symbol": f"{coin}/USDC:USDC",
        "qty": contracts if side == "long" else -contracts,
        "entry_price": entry,
        "mark_price": entry,
        "mmr": 1 / (2 * MAX_LEV[coin]),
        "max_leverage": MAX_LEV[coin],
    }
    if mode == "isolated":
        p = one("hyperliquid", mode="isolated", isolated_margin=collateral, **position)
    else:
        p = one("hyperliquid", wallet=collateral, **position)
    assert p.liquidation_price == pytest.approx(expected, rel=1e-4)


def test_docs_formula_with_mark_price_equals_the_solver() -> None:
    """Docs: liq = price - side * margin_available / size / (1 - l * side), margin_available = account value - MM.

    With price = mark != entry the docs formula must give the same LP as the solver (it is linear).
    """
    size, entry, mark, wallet, mmr = 2.0, 60_000.0, 57_000.0, 10_000.0, 1 / 80
    p = one("hyperliquid", wallet=wallet, symbol="BTC", qty=size, entry_price=entry, mark_price=mark, mmr=mmr)
    account_value = wallet + size * (mark - entry)
    available = account_value - size * mark * mmr
    liq = mark - available / size / (1 - mmr)
    assert p.liquidation_price == pytest.approx(liq, rel=1e-12)


def test_builtin_tiers_half_the_initial_margin_at_max_leverage() -> None:
    """Mainnet BTC: 0-150M at 40x (MMR 1.25 %), >150M at 20x (2.5 %), deduction 150M x 1.25 % = 1,875,000."""
    btc = BUILTIN_TIERS["BTC"]
    assert [t.max_leverage for t in btc.tiers] == [40, 20]
    assert [t.mmr for t in btc.tiers] == pytest.approx([0.0125, 0.025])
    assert btc.tiers[1].maint_amount == pytest.approx(1_875_000)
    assert BUILTIN_TIERS["ETH"].tiers[0].mmr == pytest.approx(1 / 50)
    assert BUILTIN_TIERS["DOGE"].tiers[1].notional_floor == 20e6


@pytest.mark.parametrize(("max_leverage", "mmr"), [(40, 0.0125), (20, 0.025), (3, 1 / 6)])
def test_mmr_is_half_the_initial_margin_at_max_leverage(max_leverage: int, mmr: float) -> None:
    """Docs: 40x -> 1.25 %, 20x -> 2.5 %, 3x -> 16.7 %."""
    from levguard import TierTable

    table = TierTable.from_max_leverage(((0.0, max_leverage),))
    assert table.tiers[0].mmr == pytest.approx(mmr)
    assert round(table.tiers[0].mmr * 100, 1) == round(mmr * 100, 1)
