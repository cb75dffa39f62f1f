"""A B before USD: the end of a coin (BNBUSD, ARBUSD, CKBUSD: inverse) or a BUSD quote
(BTCBUSD, ETHBUSD_PERP: linear, settled in BUSD).

The BUSD reading once took BNBUSD for BN quoted in BUSD, so the inverse name was refused for its
settlement ("was 'BUSD'") instead of as inverse; and the COIN-M reading took ETHBUSD_PERP for a
COIN-M ETHB (base_asset "ETHB"; binance-pm asked for "prices.BTCB" for BTCBUSD_PERP).
"""

from __future__ import annotations

import pytest

import levguard
from levguard.core.symbols import base_asset, reads_busd_quote
from levguard.core.unified_positions import is_coin_margined_symbol, looks_inverse, stablecoin_quote
from levguard.errors import InputError


@pytest.mark.parametrize(
    ("symbol", "base"),
    [
        ("BNBUSD_PERP", "BNB"),
        ("ETHUSD_PERP", "ETH"),
        ("BTCUSD_250627", "BTC"),
        ("ETHBUSD_PERP", "ETH"),
        ("BTCBUSD_PERP", "BTC"),
        ("BTCBUSD", "BTC"),
        ("BNBBUSD", "BNB"),
        ("DOGEBUSD", "DOGE"),
        # a bare name ending in BUSD is a coin quoted in BUSD, however short its stem (a review:
        # OPBUSD read OPB and ARBUSD, Binance's AR/BUSD, read Arbitrum's ARB across the package)
        ("OPBUSD", "OP"),
        ("ARBUSD", "AR"),
        ("IDBUSD", "ID"),
    ],
)
def test_base_asset(symbol: str, base: str) -> None:
    assert base_asset(symbol) == base


@pytest.mark.parametrize("symbol", ["BNBUSD", "ARBUSD", "CKBUSD", "BNBUSD_PERP"])
def test_coin_ending_in_b_is_inverse(symbol: str) -> None:
    assert stablecoin_quote(symbol) is None
    assert looks_inverse(symbol)


@pytest.mark.parametrize("symbol", ["BTCBUSD", "ETHBUSD", "BTCBUSD_PERP", "ETHBUSD_250627", "BNBBUSD"])
def test_busd_named_linear(symbol: str) -> None:
    assert stablecoin_quote(symbol) == "BUSD"
    assert not looks_inverse(symbol)
    assert not is_coin_margined_symbol(symbol)


def test_the_rule() -> None:
    assert reads_busd_quote("BTC")
    assert reads_busd_quote("DOGE")
    assert not reads_busd_quote("BN")
    assert not reads_busd_quote("AR")


@pytest.mark.parametrize("venue", ["bybit-uta", "binance-pm", "okx-mcm"])
@pytest.mark.parametrize("symbol", ["BNBUSD", "ARBUSD", "CKBUSD"])
def test_inverse_names_refused_as_inverse(venue: str, symbol: str) -> None:
    spec = {
        "venue": venue,
        "balances": {"USDT": 1e4},
        "positions": [{"symbol": symbol, "qty": 100.0, "entry_price": 600.0, "mark_price": 610.0, "mmr": 0.005}],
    }
    with pytest.raises(InputError, match="inverse"):
        levguard.evaluate_account(spec)


@pytest.mark.parametrize("venue", ["bybit-uta", "binance-pm", "okx-mcm"])
@pytest.mark.parametrize("symbol", ["BTCBUSD_PERP", "ETHBUSD_PERP"])
def test_busd_named_perp_refused_for_its_settlement(venue: str, symbol: str) -> None:
    spec = {
        "venue": venue,
        "balances": {"USDT": 1e4},
        "prices": {"BTC": 60000.0, "ETH": 3000.0},
        "positions": [{"symbol": symbol, "qty": 1.0, "entry_price": 600.0, "mark_price": 610.0, "mmr": 0.005}],
    }
    with pytest.raises(InputError, match=r"settlement must be USDT .* was 'BUSD'"):
        levguard.evaluate_account(spec)
