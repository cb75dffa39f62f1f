"""Full revaluation: truncation at liquidation, inverse P&L in coin, funding carry, options."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import levguard
from levguard.core.options.black76 import black76
from levguard.core.positions import Account
from levguard.core.risk.portfolio import OptionPosition, base_of, revalue
from levguard.core.spec import account_from_spec
from levguard.errors import InputError
from levguard.risk.var import portfolio_pnl

FEE = 0.0005


def _account(mode: str = "isolated", wallet: float = 0.0, venue: str = "binance-usdm", **position: Any) -> Account:
    pos = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "leverage": 50} | position
    return account_from_spec({"venue": venue, "margin_mode": mode, "wallet_balance": wallet, "positions": [pos]})


def _inverse(qty: float = 10, mode: str = "isolated", wallet: float = 0.0) -> Account:
    return account_from_spec(
        {
            "venue": "binance-coinm",
            "margin_mode": mode,
            "wallet_balance": wallet,
            "positions": [
                {
                    "symbol": "BTCUSD_PERP",
                    "qty": qty,
                    "entry_price": 60000,
                    "mark_price": 60000,
                    "leverage": 20,
                    "mmr": 0.004,
                }
            ],
        }
    )


def test_isolated_50x_long_never_loses_more_than_margin_plus_fees() -> None:
    acc = _account()
    rep = levguard.evaluate(acc).positions[0]
    assert rep.margin_balance == pytest.approx(1200.0)
    lp = rep.liquidation_price
    assert lp is not None
    cap = 1200.0 + FEE * lp
    terminal = np.linspace(0.01, 2.0, 2001)
    rng = np.random.default_rng(0)
    paths = np.exp(np.cumsum(rng.normal(0, 0.01, (5000, 24)), axis=1))
    for scen in (terminal, paths):
        out = revalue(acc, {"BTC": scen}, horizon_days=1, liquidation_fee_rate=FEE, funding_rates={"BTCUSDT": 0.003})
        assert out.pnl.min() >= -cap - 1e-9
        assert out.liquidated["BTCUSDT"].any()
    # Past LP the position is liquidated as Binance books it: taken over, the rest of the margin
    # goes to the insurance fund (clearance fee), so the whole margin balance is lost.
    out = revalue(acc, {"BTC": np.array([0.5])}, horizon_days=1, liquidation_fee_rate=FEE)
    assert out.pnl[0] == pytest.approx(-1200.0)
    assert out.liquidated["BTCUSDT"][0]


def test_a_book_liquidation_leaves_the_trader_the_rest_of_the_margin() -> None:
    """Hyperliquid closes in the book at the liquidation price and the trader keeps what is left
    (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations; no liquidation fee): the P&L
    is the price move to LP; Binance's takeover loses the whole margin balance."""
    acc = _account(venue="hyperliquid", symbol="BTC", leverage=20)
    rep = levguard.evaluate(acc).positions[0]
    lp = rep.liquidation_price
    assert lp is not None
    assert rep.margin_balance is not None
    out = revalue(acc, {"BTC": np.array([0.5, 1.1])}, horizon_days=1)
    assert out.liquidated["BTC"].tolist() == [True, False]
    assert out.pnl[0] == pytest.approx(lp - 60000, rel=1e-12)
    assert out.pnl[0] > -rep.margin_balance
    binance = revalue(_account(leverage=20), {"BTC": np.array([0.5])}, horizon_days=1)
    assert binance.pnl[0] == pytest.approx(-3000.0)


def test_cross_position_can_lose_more_than_its_margin() -> None:
    acc = _account(mode="cross", wallet=100_000.0)
    out = revalue(acc, {"BTC": np.array([0.5, 1.0, 1.2])}, horizon_days=1, liquidation_fee_rate=FEE)
    np.testing.assert_allclose(out.pnl, [-30000.0, 0.0, 12000.0])
    assert out.liquidated == {}
    assert -out.pnl.min() > 1200.0 + FEE * 60000


def test_path_dependent_liquidation() -> None:
    """A path that dips through LP and recovers is liquidated; its terminal price alone is not."""
    acc = _account(leverage=20)
    lp = levguard.evaluate(acc).positions[0].liquidation_price
    assert lp is not None
    dip = np.array([[1.0, lp / 60000 * 0.99, 1.05]])
    out_path = revalue(acc, {"BTC": dip}, horizon_days=3, liquidation_fee_rate=0.0)
    out_term = revalue(acc, {"BTC": dip[:, -1]}, horizon_days=3, liquidation_fee_rate=0.0)
    assert out_path.liquidated["BTCUSDT"][0]
    assert out_path.pnl[0] == pytest.approx(-3000.0)  # Binance takes the margin over
    assert not out_term.liquidated["BTCUSDT"][0]
    assert out_term.pnl[0] == pytest.approx(3000.0)


def test_funding_stops_at_liquidation_on_paths() -> None:
    acc = _account(leverage=20)
    lp = levguard.evaluate(acc).positions[0].liquidation_price
    assert lp is not None
    path = np.array([[1.0, 1.0, 0.5, 0.5]])  # crosses at the third of four monitored times
    out = revalue(acc, {"BTC": path}, horizon_days=1, funding_rates={"BTC": 0.0001}, liquidation_fee_rate=0.0)
    full = -1 * 60000 * 0.0001 * 3
    assert out.funding[0] == pytest.approx(full * 3 / 4)
    # Funding is paid from the isolated margin, all of which the takeover then loses.
    assert out.pnl[0] == pytest.approx(-3000.0)


def test_short_isolated_truncated_on_rallies() -> None:
    acc = _account(qty=-1, leverage=25)
    rep = levguard.evaluate(acc).positions[0]
    assert rep.liquidation_price is not None
    assert rep.liquidation_price > 60000
    out = revalue(acc, {"BTC": np.array([3.0, 0.9])}, horizon_days=1, liquidation_fee_rate=FEE)
    assert out.liquidated["BTCUSDT"].tolist() == [True, False]
    assert out.pnl[0] >= -(rep.margin_balance + FEE * rep.liquidation_price) - 1e-9
    assert out.pnl[1] == pytest.approx(6000.0)


def test_inverse_pnl_in_coin() -> None:
    acc = _inverse(mode="cross", wallet=1.0)
    rel = np.array([0.8, 1.0, 1.25])
    out = revalue(acc, {"BTC": rel}, horizon_days=1)
    q = 10 * 100.0  # USD
    expected = q * (1 / 60000 - 1 / (60000 * rel))
    np.testing.assert_allclose(out.pnl, expected, rtol=1e-12)
    assert out.settlement == "BTC"
    # A 25% rally earns q/P0 * 0.2 coin, a 20% fall loses q/P0 * 0.25: the inverse asymmetry.
    assert out.pnl[2] == pytest.approx(q / 60000 * 0.2)
    assert out.pnl[0] == pytest.approx(-q / 60000 * 0.25)


def test_inverse_isolated_truncation_in_coin() -> None:
    acc = _inverse()
    rep = levguard.evaluate(acc).positions[0]
    assert rep.liquidation_price is not None
    assert rep.margin_balance is not None
    out = revalue(acc, {"BTC": np.linspace(0.3, 1.5, 500)}, horizon_days=1, liquidation_fee_rate=FEE)
    cap = rep.margin_balance + FEE * 1000.0 / rep.liquidation_price
    assert out.pnl.min() >= -cap - 1e-15
    assert out.pnl.min() == pytest.approx(-rep.margin_balance)  # Binance COIN-M: taken over


@pytest.mark.parametrize(("qty", "sign"), [(1.0, -1.0), (-1.0, 1.0)])
def test_funding_carry_sign_linear(qty: float, sign: float) -> None:
    """Positive rate: longs pay, shorts receive; -qty * mark * rate per 8h interval."""
    acc = _account(mode="cross", wallet=10_000.0, qty=qty, leverage=10)
    out = revalue(acc, {"BTC": np.ones(3)}, horizon_days=2, funding_rates={"BTCUSDT": 0.0001})
    assert out.funding == pytest.approx(np.full(3, sign * 60000 * 0.0001 * 6))
    np.testing.assert_allclose(out.pnl, out.funding)
    hourly = revalue(acc, {"BTC": np.ones(1)}, horizon_days=1, funding_rates={"BTC": 0.0001}, funding_interval_hours=1)
    assert hourly.funding[0] == pytest.approx(sign * 60000 * 0.0001 * 24)


def test_funding_carry_inverse_and_stochastic_shock() -> None:
    acc = _inverse(mode="cross", wallet=1.0)
    out = revalue(acc, {"BTC": np.ones(2)}, horizon_days=1, funding_rates={"BTC": np.array([0.0001, -0.0003])})
    np.testing.assert_allclose(out.funding, -1000 / 60000 * np.array([0.0001, -0.0003]) * 3)


def test_options_revalued_with_black76() -> None:
    acc = _account(mode="cross", wallet=10_000.0)
    call = OptionPosition("BTC-30D-65000-C", "call", 65000, 30 / 365, 2.0, "usd", 0.6)
    put = OptionPosition("BTC-30D-55000-P", "put", 55000, 30 / 365, -1.0, "coin", 0.7, underlying="BTC")
    rel = np.array([0.9, 1.0, 1.1])
    shift = np.array([0.1, 0.0, -0.05])
    out = revalue(acc, {"BTC": rel}, horizon_days=1, options=[call, put], vol_shifts={"BTC": shift})
    f1 = 60000 * rel
    c = 2.0 * (
        black76("call", f1, 65000, 29 / 365, 0.6 + shift).price - black76("call", 60000, 65000, 30 / 365, 0.6).price
    )
    p_coin = -1.0 * (
        black76("put", f1, 55000, 29 / 365, 0.7 + shift, settlement="coin").price
        - black76("put", 60000, 55000, 30 / 365, 0.7, settlement="coin").price
    )
    np.testing.assert_allclose(out.by_position["BTC-30D-65000-C"], c, rtol=1e-12)
    np.testing.assert_allclose(out.by_position["BTC-30D-55000-P"], p_coin * f1, rtol=1e-12)  # coin -> USD at P1
    np.testing.assert_allclose(out.pnl, out.by_position["BTCUSDT"] + c + p_coin * f1, rtol=1e-12)
    # Theta: at unchanged price and vol a long option loses value over the day.
    theta = revalue(acc, {"BTC": np.ones(1)}, horizon_days=1, options=[call]).by_position[call.symbol][0]
    assert theta < 0


def test_option_expiring_inside_the_horizon_pays_intrinsic() -> None:
    acc = Account(venue="deribit", wallet_balance=0.0)
    call = OptionPosition("BTC-1D-60000-C", "call", 60000, 1 / 365, 1.0, "usd", 0.5)
    # Two-day paths monitored daily: expiry is at the first step.
    paths = np.array([[1.1, 0.5], [0.9, 1.5]])
    out = revalue(acc, {"BTC": paths}, horizon_days=2, options=[call], prices={"BTC": 60000})
    v0 = black76("call", 60000, 60000, 1 / 365, 0.5).price
    np.testing.assert_allclose(out.pnl, [6000 - v0, 0 - v0], rtol=1e-12)


@pytest.mark.parametrize(
    ("hours", "settle_hour"),
    [(7.2, 7), (7.0, 7), (6.999, 6), (23.5, 23), (0.5, 1)],
)
def test_an_option_expiring_inside_the_horizon_settles_at_no_later_price(hours: float, settle_hour: int) -> None:
    # A review: 24 hourly steps, expiry at 7.2 h, path 1 + 0.01 * hour settled at the 8 h price
    # (64,800), after expiry; now the 7 h price (64,200).  An expiry before the first monitored
    # time takes the first (as terminal relatives take the horizon).
    acc = Account(venue="deribit", wallet_balance=0.0)
    t = hours / 24 / 365
    call = OptionPosition("BTC-C", "call", 60_000, t, 1.0, "usd", 0.5)
    path = np.array([[1 + 0.01 * i for i in range(1, 25)]])
    out = revalue(acc, {"BTC": path}, horizon_days=1, options=[call], prices={"BTC": 60_000})
    v0 = float(black76("call", 60_000, 60_000, t, 0.5).price)
    assert out.pnl[0] == pytest.approx(60_000 * 0.01 * settle_hour - v0, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (
            {"vol_shifts": {"BTC": ["a", "b"]}},
            r"vol_shifts\['BTC'\] must be numbers \(not bools or strings\), was \['a'",
        ),
        ({"vol_shifts": {"BTC": True}}, r"vol_shifts\['BTC'\] must be numbers \(not bools or strings\), was True"),
        ({"vol_shifts": {"btc": [True, 0.1]}}, r"vol_shifts\['btc'\] must be numbers"),
        (
            {"funding_rates": {"BTC": "abc"}},
            r"funding_rates\['BTC'\] must be numbers \(not bools or strings\), was 'abc'",
        ),
        (
            {"funding_rates": {"BTC": {"a": 1}}},
            r"funding_rates\['BTC'\] must be numbers within float64 range, was \{'a': 1\}",
        ),
        ({"funding_rates": {"BTCUSDT": [0.1]}}, r"funding_rates\['BTCUSDT'\] must be a number or shape \(2,\)"),
    ],
)
def test_per_scenario_inputs_are_numbers_named_by_their_key(kwargs: dict[str, Any], needle: str) -> None:
    # A review: ["a", "b"] and "abc" raised a raw ValueError, {"a": 1} a TypeError, and a vol shift
    # of True was read as +100 vol points.
    acc = _account(wallet=10_000.0, leverage=10)
    call = OptionPosition("BTC-X", "call", 60_000, 0.1, 1.0, "usd", 0.5)
    with pytest.raises(InputError, match=needle):
        revalue(acc, {"BTC": [1.0, 1.1]}, horizon_days=1, options=[call], prices={"BTC": 60_000}, **kwargs)
    with pytest.raises(InputError, match=r"funding_rates\['BTC'\] must be numbers \(not bools or strings\)"):
        portfolio_pnl(acc, {"BTC": [1.0, 1.1]}, horizon_days=1, funding_rate={"BTC": "abc"})
    # None is no rate, as before.
    none = revalue(acc, {"BTC": [1.0, 1.1]}, horizon_days=1, funding_rates={"BTC": None}).pnl
    np.testing.assert_array_equal(none, revalue(acc, {"BTC": [1.0, 1.1]}, horizon_days=1).pnl)


def test_coin_settled_account_converts_usd_options() -> None:
    acc = _inverse(mode="cross", wallet=1.0)
    call = OptionPosition("BTC-7D-60000-C", "call", 60000, 7 / 365, 1.0, "usd", 0.5)
    coin_call = OptionPosition("BTC-7D-60000-C-COIN", "call", 60000, 7 / 365, 1.0, "coin", 0.5)
    rel = np.array([0.95, 1.05])
    out = revalue(acc, {"BTC": rel}, horizon_days=1, options=[call, coin_call])
    usd = black76("call", 60000 * rel, 60000, 6 / 365, 0.5).price - black76("call", 60000, 60000, 7 / 365, 0.5).price
    np.testing.assert_allclose(out.by_position[call.symbol], usd / (60000 * rel), rtol=1e-12)
    coin = (
        black76("call", 60000 * rel, 60000, 6 / 365, 0.5, settlement="coin").price
        - black76("call", 60000, 60000, 7 / 365, 0.5, settlement="coin").price
    )
    np.testing.assert_allclose(out.by_position[coin_call.symbol], coin, rtol=1e-12)


def test_multi_underlying_scenarios_and_key_lookup() -> None:
    acc = account_from_spec(
        {
            "venue": "binance-usdm",
            "margin_mode": "cross",
            "wallet_balance": 50_000,
            "positions": [
                {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "leverage": 10},
                {"symbol": "ETH/USDT:USDT", "qty": -10, "entry_price": 3000, "mark_price": 3000, "leverage": 10},
            ],
        }
    )
    out = revalue(acc, {"btc": [1.1, 0.9], "ETHUSDT": [1.0, 0.8]}, horizon_days=1)
    np.testing.assert_allclose(out.by_position["BTCUSDT"], [6000, -6000])
    np.testing.assert_allclose(out.by_position["ETH/USDT:USDT"], [0, 6000])
    assert base_of("BTCUSD_PERP") == base_of("BTC-27DEC24-70000-C") == "BTC"


def test_revalue_input_errors() -> None:
    acc = _account()
    with pytest.raises(InputError, match="no scenario for 'BTCUSDT'"):
        revalue(acc, {"ETH": [1.0]}, horizon_days=1)
    with pytest.raises(InputError, match=r"scenarios\['BTC'\]\[1\] must be a finite price relative > 0"):
        revalue(acc, {"BTC": [1.0, -0.5]}, horizon_days=1)
    with pytest.raises(InputError, match="joint"):
        revalue(acc, {"BTC": [1.0, 1.0], "ETH": [1.0]}, horizon_days=1)
    with pytest.raises(InputError, match="horizon_days"):
        revalue(acc, {"BTC": [1.0]}, horizon_days=-1)
    with pytest.raises(InputError, match=r"funding_rates\['BTCUSDT'\] must be a number or shape \(2,\)"):
        revalue(acc, {"BTC": [1.0, 1.0]}, horizon_days=1, funding_rates={"BTCUSDT": [0.1, 0.2, 0.3]})
    with pytest.raises(InputError, match="no current price"):
        revalue(
            Account("deribit", 0.0),
            {"BTC": [1.0]},
            horizon_days=1,
            options=[OptionPosition("BTC-X", "call", 1.0, 0.1, 1.0, "usd", 0.5)],
        )
    with pytest.raises(InputError, match="kind must be 'call' or 'put'"):
        OptionPosition("BTC-X", "straddle", 1.0, 0.1, 1.0, "usd", 0.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="qty must be non-zero"):
        OptionPosition("BTC-X", "call", 1.0, 0.1, 0.0, "usd", 0.5)


def test_a_liquidation_fee_of_10_percent_or_more_is_refused_by_its_name() -> None:
    with pytest.raises(InputError, match=r"liquidation_fee_rate must be a fraction in \[0, 0\.1\)"):
        revalue(_account(leverage=20), {"BTC": np.array([1.0, 0.5])}, horizon_days=1, liquidation_fee_rate=0.1)


def test_a_position_already_past_its_liquidation_price_gains_nothing() -> None:
    """Hyperliquid, mark 58,000 below the liquidation price 58,228: liquidated at the mark now,
    where the trader keeps the 500 of margin left (the book closes it), whatever the scenario; it
    was booked at the liquidation price, a gain of 228 (found by a review)."""
    spec = {"venue": "hyperliquid", "margin_mode": "isolated", "wallet_balance": 0.0, "positions": [
        {"symbol": "BTC", "qty": 1, "entry_price": 60000, "mark_price": 58000, "isolated_margin": 2500.0}]}  # fmt: skip
    acc = account_from_spec(spec)
    assert levguard.evaluate(acc).positions[0].liquidatable
    out = revalue(acc, {"BTC": np.array([0.9, 1.0, 1.1])}, horizon_days=1)
    assert out.pnl.tolist() == [0.0, 0.0, 0.0]
    assert out.liquidated["BTC"].all()
    binance = _account(leverage=20, entry_price=60000, mark_price=57000)  # margin balance 0: nothing left
    assert revalue(binance, {"BTC": np.array([0.9, 1.1])}, horizon_days=1).pnl.tolist() == [0.0, 0.0]


def test_funding_received_before_a_takeover_is_lost_with_the_margin() -> None:
    # A long receives 3 x 0.01 % x 60,000 = 18 of funding, paid into its margin, which Binance's
    # takeover then keeps: -3,000 in all.
    out = revalue(
        _account(leverage=20), {"BTC": np.array([[1.0, 0.5]])}, horizon_days=1, funding_rates={"BTC": -0.0001}
    )
    assert out.funding[0] > 0
    assert out.pnl[0] == pytest.approx(-3000.0)


def test_a_book_close_keeps_the_funding_received_before_it_even_when_the_fee_eats_the_rest() -> None:
    """dYdX v4 closes in the book and its 1.5 % fund fee is above the 1.2 % maintenance margin, so
    with no funding a liquidation leaves nothing; 432 of funding received over three days went
    into the margin first and what exceeds the fee stays the trader's (a second review: it was
    dropped with the margin, -3,000)."""
    acc = _account(venue="dydx-v4", symbol="BTC-USD", leverage=20)
    pr = levguard.evaluate(acc).positions[0]
    lp = pr.liquidation_price
    assert lp is not None
    assert pr.margin_balance is not None
    out = revalue(acc, {"BTC": np.array([[1.0, 0.5]])}, horizon_days=3, funding_rates={"BTC": -0.0001})
    assert out.funding[0] == pytest.approx(432.0)
    kept = levguard.liquidation_outcome("dydx-v4", 1.0, 60000.0, lp, 3000.0 + 432.0, allow_partial=False).kept
    assert kept > 0.0
    assert out.pnl[0] == pytest.approx(kept - 3000.0)
    assert levguard.liquidation_outcome("dydx-v4", 1.0, 60000.0, lp, 3000.0, allow_partial=False).kept == 0.0


def test_portfolio_pnl_values_coin_options_as_portfolio_var() -> None:
    # 10 coin-settled BTC calls in a USD account at BTC -50 %: portfolio_pnl gave -38,342.5 (the
    # option's own-currency change at today's price) where portfolio_var's scenario is -77,498.
    import math

    from levguard.risk.var import portfolio_var

    o = OptionPosition("BTC-27SEP24-60000-C", "call", 60_000.0, 0.3, 10.0, "coin", 0.6, underlying="BTC")
    spec = {
        "venue": "deribit",
        "wallet_balance": 30_000,
        "positions": [
            {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.001, "entry_price": 60_000, "mark_price": 60_000, "leverage": 5}
        ],
    }
    p = portfolio_pnl(spec, {"BTC": np.array([0.5])}, horizon_days=1, options=[o])
    v = portfolio_var(spec, method="historical", returns=np.full(40, math.log(0.5)), horizon_days=1, options=[o])
    assert p.pnl[0] == pytest.approx(-v.var, rel=1e-12)
    assert p.pnl[0] == pytest.approx(-77_498.0, abs=1.0)
    own = portfolio_pnl(spec, {"BTC": np.array([0.5])}, horizon_days=1, options=[o], option_pnl="pnl")
    assert own.pnl[0] == pytest.approx(-38_342.5, abs=0.1)
