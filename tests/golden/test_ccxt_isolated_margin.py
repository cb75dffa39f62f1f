"""An isolated ccxt position's margin is the posted margin without its PnL (a review: ccxt's
``collateral`` already holds the unrealised PnL, and levguard counted it twice).

Golden: Binance's own COIN-M positionRisk answer as printed in ccxt 4.5.90 ``binance.py``
(BTCUSD_PERP, 2 contracts long @ 37,643.10000021, mark 38,103.05510455, isolatedWallet
0.00268058, unRealizedProfit 0.00006413, isolatedMargin 0.00274471), for which Binance reports
``liquidationPrice`` 25,119.97445760.  Maintenance rate 0.4 %: BTCUSD bracket 1.
"""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

import levguard
from levguard.core.spec import isolated_margin_from_ccxt
from levguard.venues.ccxt_adapter import CcxtVenue

MARKET = {
    "id": "BTCUSD_PERP",
    "symbol": "BTC/USD:BTC",
    "contractSize": 100,
    "linear": False,
    "inverse": True,
    "precision": {"base": 1e-8},
    "settle": "BTC",
}
RAW = {
    "symbol": "BTCUSD_PERP",
    "positionAmt": "2",
    "entryPrice": "37643.10000021",
    "markPrice": "38103.05510455",
    "unRealizedProfit": "0.00006413",
    "liquidationPrice": "25119.97445760",
    "leverage": "2",
    "maxQty": "1500",
    "marginType": "isolated",
    "isolatedMargin": "0.00274471",
    "isAutoAddMargin": "false",
    "positionSide": "BOTH",
    "notionalValue": "0.00524892",
    "isolatedWallet": "0.00268058",
}
BINANCE_LP = 25_119.97
WALLET = 0.00268058


def _ccxt_position() -> dict[str, Any]:
    ex = ccxt.binancecoinm()
    ex.markets = {"BTC/USD:BTC": MARKET}
    ex.markets_by_id = {"BTCUSD_PERP": [MARKET]}
    return dict(ex.parse_position_risk(RAW, MARKET))


def _lp(position: dict[str, Any]) -> float:
    spec = {"venue": "binance-coinm", "positions": [{**position, "maintenanceMarginPercentage": 0.004}]}
    lp = levguard.evaluate_account(spec).positions[0].liquidation_price
    assert lp is not None
    return lp


def test_ccxts_binance_position_gives_binances_liquidation_price() -> None:
    pos = _ccxt_position()
    assert pos["collateral"] == pytest.approx(0.00274471)  # the wallet plus the PnL
    assert round(_lp(pos), 2) == BINANCE_LP  # was 24,920.05: the PnL counted twice


@pytest.mark.parametrize(
    "keys",
    [
        ("collateral", "unrealizedPnl"),  # no positionMargin: collateral - unrealizedPnl
        ("collateral", "info"),  # Binance's isolatedWallet in info
        ("collateral",),  # neither: the PnL at markPrice is subtracted (Binance rounds its own)
    ],
    ids=["collateral-upnl", "info-isolatedWallet", "collateral-only"],
)
def test_the_margin_without_its_pnl_from_every_shape(keys: tuple[str, ...]) -> None:
    full = _ccxt_position()
    base = ("symbol", "contracts", "side", "entryPrice", "markPrice", "contractSize", "leverage", "marginMode")
    pos = {k: full[k] for k in (*base, *keys)}
    assert _lp(pos) == pytest.approx(25_119.9744576, rel=1e-6)


def test_a_posted_margin_at_or_below_zero_is_refused_by_name() -> None:
    pos = {**_ccxt_position(), "positionMargin": None, "info": {}, "collateral": 0.00006413}
    with pytest.raises(levguard.InputError, match=r"positions\[0\]: the isolated margin, collateral - unrealizedPnl"):
        _lp(pos)


def test_isolated_margin_from_ccxt_prefers_the_reported_margin() -> None:
    assert isolated_margin_from_ccxt(3.0, 1.0, position_margin=2.5, isolated_wallet=2.4) == 2.5
    assert isolated_margin_from_ccxt(3.0, 1.0, position_margin=0.0, isolated_wallet=2.4) == 2.4
    assert isolated_margin_from_ccxt(3.0, 1.0) == 2.0
    assert isolated_margin_from_ccxt(3.0, None) is None


def test_the_ccxt_venue_reads_the_same_margin() -> None:
    """CcxtVenue.fetch_positions: the same helper, the PnL at the mark where ccxt gives none."""
    venue = CcxtVenue("binancecoinm")
    venue._exchange.markets = {"BTC/USD:BTC": MARKET}
    full = _ccxt_position()
    for drop in (("positionMargin",), ("positionMargin", "info", "unrealizedPnl")):
        pos = {k: v for k, v in full.items() if k not in drop}
        got = venue._position(pos, 0)
        assert got is not None
        assert got.isolated_margin == pytest.approx(WALLET, rel=1e-4)  # was the collateral, 0.00274471
