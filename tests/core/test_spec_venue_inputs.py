"""The account spec reads each input where its venue reads it: a ccxt row's maintenance rate beside
the venue's tiers, tier tables keyed by contract (a perpetual and its dated futures apart), and
fields of one venue's rate rule refused on the others (a review of venue margins)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levguard
from levguard import InputError
from levguard.core.rules import get_venue
from levguard.errors import NoTiersError

BTC = get_venue("binance-usdm").builtin_tiers["BTCUSDT"]


def _one(venue: str, position: dict[str, Any], **spec: Any) -> Any:
    return levguard.evaluate_account({"venue": venue, "positions": [position], **spec}).positions[0]


def _ccxt_row(qty: float, price: float, margin: float, rate: float, symbol: str = "BTC/USDT:USDT") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "contracts": qty,
        "side": "long",
        "entryPrice": price,
        "markPrice": price,
        "leverage": 5,
        "marginMode": "isolated",
        "info": {"isolatedWallet": str(margin)},
        "maintenanceMarginPercentage": rate,
        "contractSize": 1,
    }


def _native(qty: float, price: float, margin: float, symbol: str = "BTC/USDT:USDT") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "qty": qty,
        "entry_price": price,
        "mark_price": price,
        "leverage": 5,
        "margin_mode": "isolated",
        "isolated_margin": margin,
    }


# F2: ccxt's maintenanceMarginPercentage is Binance's bracket rate without its cum.


def test_a_ccxt_binance_row_keeps_the_brackets_and_their_maintenance_amount() -> None:
    """200 BTCUSDT @ 60,000 (12M notional, bracket 5: 2 %, cum 131,450), isolated on 2.4M: ccxt's
    row gave a flat 2 % without cum, MM 240,000 and LP 48,979.59; the brackets give MM
    12M x 2 % - 131,450 = 108,550 and LP 48,427.02 (re-selected at the liquidation price)."""
    ccxt = _one("binance-usdm", _ccxt_row(200, 60_000, 2_400_000, 0.02))
    native = _one("binance-usdm", _native(200, 60_000, 2_400_000))
    assert ccxt.maintenance_margin == pytest.approx(108_550.0, rel=1e-12)
    assert ccxt.maint_amount == pytest.approx(131_450.0)
    assert ccxt.liquidation_price == pytest.approx(48_427.02, abs=0.01)
    assert ccxt == native


def test_a_ccxt_row_reads_the_contracts_given_tiers() -> None:
    rows = [{"notional_floor": 0, "notional_cap": None, "mmr": 0.01, "max_leverage": 50}]
    row = _ccxt_row(1, 100, 50, 0.05, symbol="SOL/USDT:USDT")
    p = _one("binance-usdm", row, tiers={"SOLUSDT": rows})
    assert p.mmr == 0.01


def test_a_ccxt_row_without_tables_keeps_its_rate_as_a_fixed_tier() -> None:
    """No built-in or given tiers: ccxt's rate is the one tier there is (no deduction)."""
    p = _one("binance-usdm", _ccxt_row(10, 100, 500, 0.01, symbol="SOL/USDT:USDT"))
    assert (p.mmr, p.maint_amount) == (0.01, 0.0)
    assert p.maintenance_margin == pytest.approx(10.0)


def test_a_ccxt_deribit_row_keeps_the_venues_size_scaled_rates() -> None:
    """ccxt's Deribit maintenanceMarginPercentage is in percent (and includes the size term): it
    was read as the base rate, so 0.5 (%) was a 50 % base rate."""
    row = {"symbol": "BTC_USDC-PERPETUAL", "contracts": 1, "side": "long", "entryPrice": 60_000,
           "markPrice": 60_000, "maintenanceMarginPercentage": 0.5}  # fmt: skip
    native = {"symbol": "BTC_USDC-PERPETUAL", "qty": 1, "entry_price": 60_000, "mark_price": 60_000}
    assert _one("deribit", row, wallet_balance=5_000) == _one("deribit", native, wallet_balance=5_000)


@settings(max_examples=60, deadline=None)
@given(qty=st.floats(0.01, 2_000.0), leverage=st.sampled_from([1.0, 2.0, 4.0]))
def test_a_ccxt_row_and_its_native_form_agree_where_brackets_exist(qty: float, leverage: float) -> None:
    """Whatever the bracket, the ccxt row (with its bracket's rate) is evaluated as its native form."""
    price = 60_000.0
    notional = qty * price
    rate = BTC.tier(notional).mmr
    margin = notional / leverage
    ccxt = _one("binance-usdm", _ccxt_row(qty, price, margin, rate))
    assert ccxt == _one("binance-usdm", _native(qty, price, margin))


# F3: tier tables by contract.

A = [{"notional_floor": 0, "notional_cap": None, "mmr": 0.004, "max_leverage": 125}]
B = [{"notional_floor": 0, "notional_cap": None, "mmr": 0.05, "max_leverage": 10}]


def _pos(symbol: str) -> dict[str, Any]:
    return {"symbol": symbol, "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10,
            "margin_mode": "isolated"}  # fmt: skip


@pytest.mark.parametrize("future", ["BTC/USDT:USDT-250328", "BTCUSDT_250328"])
@pytest.mark.parametrize("perp_first", [True, False])
def test_a_perpetual_and_its_dated_future_keep_their_own_tiers(future: str, perp_first: bool) -> None:
    """Keyed by symbol_key, the dated future's tiers replaced the perpetual's (or the reverse,
    whichever came last): both at 5 % (LP 56,842.11) or both at 0.4 % (LP 54,216.87)."""
    items = [("BTC/USDT:USDT", A), (future, B)]
    tiers = dict(items if perp_first else items[::-1])
    spec = {"venue": "binance-usdm", "positions": [_pos("BTC/USDT:USDT"), _pos(future)], "tiers": tiers}
    perp, dated = levguard.evaluate_account(spec).positions
    assert (perp.mmr, dated.mmr) == (0.004, 0.05)
    assert perp.liquidation_price == pytest.approx(60_000 * 0.9 / 0.996)
    assert dated.liquidation_price == pytest.approx(60_000 * 0.9 / 0.95)


def test_two_tier_keys_naming_one_contract_are_refused_by_name() -> None:
    spec = {"venue": "binance-usdm", "positions": [_pos("BTCUSDT")], "tiers": {"BTCUSDT": A, "BTC/USDT:USDT": B}}
    with pytest.raises(InputError, match=r"tiers\['BTC/USDT:USDT'\] and tiers\['BTCUSDT'\] name one contract"):
        levguard.evaluate_account(spec)


@pytest.mark.parametrize("symbol", ["BTC/USDT:USDT-250328", "BTCUSDT_250328"])
def test_the_perpetuals_built_in_brackets_are_not_a_dated_futures(symbol: str) -> None:
    """ccxt's BTC/USDT:USDT-250328 read the BTCUSDT perpetual's brackets (tier 2, 0.5 %) where
    Binance's own BTCUSDT_250328 was refused: a delivery contract has its own brackets."""
    with pytest.raises(NoTiersError, match="no built-in tiers for this symbol on binance-usdm; pass tiers"):
        _one("binance-usdm", _pos(symbol))


# F6: a field of one venue's rate rule given on another.


@pytest.mark.parametrize(
    ("venue", "symbol", "field", "value", "home"),
    [
        ("binance-usdm", "BTCUSDT", "liquidity_tier", "Safety", "dydx-v4"),
        ("binance-usdm", "BTCUSDT", "open_interest", 1e9, "dydx-v4"),
        ("binance-usdm", "BTCUSDT", "size_coef", 0.5, "deribit"),
        ("hyperliquid", "BTC", "liquidity_tier", "Safety", "dydx-v4"),
        ("dydx-v4", "BTC-USD", "size_coef", 0.01, "deribit"),
        ("deribit", "BTC_USDC-PERPETUAL", "liquidity_tier", "Safety", "dydx-v4"),
        ("deribit", "BTC_USDC-PERPETUAL", "open_interest", 1e12, "dydx-v4"),
    ],
)
def test_a_field_of_another_venue_is_refused_by_name(
    venue: str, symbol: str, field: str, value: object, home: str
) -> None:
    """They were accepted and changed nothing."""
    pos = {"symbol": symbol, "qty": 1, "entry_price": 60_000, "mark_price": 60_000, field: value}
    with pytest.raises(InputError, match=rf"^positions\[0\]\.{field} is used on {home} only .*; {venue} does not"):
        _one(venue, pos, wallet_balance=5_000)


def test_the_fields_are_read_on_their_own_venue() -> None:
    base = {"qty": 1, "entry_price": 60_000, "mark_price": 60_000}
    dydx = _one("dydx-v4", {**base, "symbol": "BTC-USD", "liquidity_tier": "Safety", "open_interest": 0},
                wallet_balance=60_000)  # fmt: skip
    assert dydx.mmr > _one("dydx-v4", {**base, "symbol": "BTC-USD"}, wallet_balance=60_000).mmr  # not Large-Cap
    deribit = _one("deribit", {**base, "symbol": "BTC_USDC-PERPETUAL", "size_coef": 0.001}, wallet_balance=5_000)
    assert deribit.mmr > _one("deribit", {**base, "symbol": "BTC_USDC-PERPETUAL"}, wallet_balance=5_000).mmr
