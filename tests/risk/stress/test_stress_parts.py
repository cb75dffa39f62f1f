"""Stress parts (a review of 6487760): an account already below zero before the scenario, options
in a wallet of their own where the venue keeps them apart, and an account wiped out by its short
options is liquidatable (src/levguard/core/risk/stress.py ``apply_scenario``, docs/risk.md §5)."""

from __future__ import annotations

from typing import Any

import pytest

from levguard.core.margin import evaluate
from levguard.core.risk.stress import Scenario, apply_scenario, venue_default
from levguard.core.rules import get_venue, venue_names
from levguard.core.spec import account_from_spec
from levguard.errors import InputError


def _account(venue: str = "binance-usdm", wallet: float = 10_000.0, positions: Any = ()) -> Any:
    return account_from_spec({"venue": venue, "wallet_balance": wallet, "positions": list(positions)})


BTC = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 40_000}  # -10,000 unrealised


# ----------------------------------------------------------------------------- 1. a hole before
def test_a_cross_account_below_zero_before_shows_no_gain_and_no_bad_debt_from_its_old_hole() -> None:
    """1,000 behind a BTC long 10,000 under water: the cross part is -9,000 before any scenario.
    Before the fix a +5 % move (still -7,000) read as P&L +9,000 (equity -9,000 -> 0) and bad debt
    7,000: the old hole as a gain and as the scenario's bad debt."""
    acc = _account(wallet=1_000.0, positions=[BTC])
    up = apply_scenario(acc, Scenario("up", 0.05))
    assert (up.equity_before, up.equity_after, up.pnl, up.bad_debt) == (0.0, 0.0, 0.0, 0.0)
    assert up.shortfall_before == pytest.approx(9_000.0)
    assert up.to_dict()["shortfall_before"] == pytest.approx(9_000.0)
    down = apply_scenario(acc, Scenario("down", -0.05))  # 2,000 more below zero: that is the scenario's
    assert (down.equity_before, down.equity_after, down.pnl) == (0.0, 0.0, 0.0)
    assert down.bad_debt == pytest.approx(2_000.0)
    assert down.shortfall_before == pytest.approx(9_000.0)
    back = apply_scenario(acc, Scenario("back", 0.3))  # 52,000: the account is 3,000 up again
    assert back.equity_after == pytest.approx(3_000.0)
    assert back.pnl == pytest.approx(3_000.0)
    assert back.bad_debt == 0.0


def test_an_isolated_margin_below_zero_before_is_floored_on_its_own() -> None:
    """An isolated long 2,000 past its bankruptcy before the scenario beside a 10,000 cross wallet:
    the equity before is the wallet (the isolated part floored at 0), and at -5 % the position
    loses nothing more of the account (its row P&L 0), the scenario adding 2,250 of bad debt.
    Before the fix: equity before 8,000, P&L +2,000, bad debt 4,250 and the row's P&L +2,000."""
    iso = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 45_000, "margin_mode": "isolated",
           "isolated_margin": 3_000}  # fmt: skip
    acc = _account(positions=[iso])
    assert evaluate(acc).positions[0].margin_balance == pytest.approx(-2_000.0)
    res = apply_scenario(acc, Scenario("down", -0.05))
    assert res.equity_before == pytest.approx(10_000.0)
    assert res.shortfall_before == pytest.approx(2_000.0)
    assert res.equity_after == pytest.approx(10_000.0)
    assert res.pnl == pytest.approx(0.0)
    assert res.bad_debt == pytest.approx(45_000 * 0.05)
    assert res.positions[0].pnl == pytest.approx(0.0)
    assert res.positions[0].liquidated


def test_a_default_of_an_account_below_zero_adds_no_bad_debt() -> None:
    """A default loses what the account holds; a hole it already had is the venue's loss before
    the default (before the fix: equity before -9,000, P&L +9,000, bad debt 9,000)."""
    acc = _account(wallet=1_000.0, positions=[BTC])
    gone = apply_scenario(acc, venue_default("binance-usdm"))
    assert gone.defaulted
    assert (gone.equity_before, gone.pnl, gone.equity_after, gone.bad_debt) == (0.0, 0.0, 0.0, 0.0)
    assert gone.shortfall_before == pytest.approx(9_000.0)


def test_an_options_hole_before_on_a_pooled_venue() -> None:
    """Deribit pools the options with the futures: a short option's liability of 40,000 behind a
    30,000 wallet is a cross part of -10,000 before; a scenario that leaves it there is P&L 0."""
    acc = _account("deribit", 30_000.0, [{"symbol": "BTC_USDC-PERPETUAL", "qty": 0.1, "entry_price": 60_000,
                                           "mark_price": 60_000, "leverage": 5}])  # fmt: skip
    res = apply_scenario(acc, Scenario("flat", 0.0), option_values=(-40_000.0, -40_000.0))
    assert (res.equity_before, res.equity_after, res.pnl, res.bad_debt) == (0.0, 0.0, 0.0, 0.0)
    assert res.shortfall_before == pytest.approx(10_000.0)


# ----------------------------------------------------------------------------- 2. where options sit
def test_venues_say_whether_options_share_the_futures_margin() -> None:
    pooled = {n for n in venue_names() if get_venue(n).options_share_margin}
    assert pooled == {"deribit", "okx"}


CROSS_AND_ISOLATED = [
    {"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10},
    {"symbol": "ETHUSDT", "qty": -30, "entry_price": 3_000, "mark_price": 3_000, "leverage": 10,
     "margin_mode": "isolated"},
]  # fmt: skip


def test_binance_options_are_a_wallet_of_their_own() -> None:
    """Binance keeps its European options in the Options account: a short option's liability does
    not eat the futures' margin, and long puts do not pay a wiped-out cross long's shortfall.
    Before the fix both were pooled into the cross part.  The options account has cash of its
    own (premiums included: ``option_wallets``, the report's ``options_wallet_balance``): with
    60,000 there the short option's 49,000 loss is the trader's, not bad debt (a second review)."""
    acc = _account(wallet=20_000.0, positions=CROSS_AND_ISOLATED)
    up = Scenario("up", 0.05)  # BTC long +6,000, the isolated ETH short -4,500 of its 9,000
    funded = apply_scenario(acc, up, option_wallets=[(60_000.0 - 1_000.0, 60_000.0 - 50_000.0)])
    assert funded.equity_before == pytest.approx(29_000.0 + 59_000.0)
    assert funded.equity_after == pytest.approx(26_000.0 + 4_500.0 + 10_000.0)
    assert funded.pnl == pytest.approx(1_500.0 - 49_000.0)
    assert (funded.bad_debt, funded.shortfall_before) == (0.0, 0.0)
    assert not funded.liquidatable
    with pytest.raises(InputError, match=r"option_wallets\[0\]\[1\] must be finite"):
        apply_scenario(acc, up, option_wallets=[(1.0, float("inf"))])
    with pytest.raises(InputError, match=r"option_wallets\[0\] must be \(value before, value after\)"):
        apply_scenario(acc, up, option_wallets=[1.0])  # type: ignore[list-item]
    # Without cash (the options' value alone, ``option_values``) the liability is below zero:
    res = apply_scenario(acc, up, option_values=(-1_000.0, -50_000.0))
    assert res.equity_before == pytest.approx(29_000.0)  # the options' wallet is below zero already
    assert res.shortfall_before == pytest.approx(1_000.0)
    assert res.equity_after == pytest.approx(26_000.0 + 4_500.0)  # the futures keep their margin
    assert res.pnl == pytest.approx(1_500.0)
    assert res.bad_debt == pytest.approx(49_000.0)  # the options' wallet's added shortfall
    assert not res.liquidatable
    crash = Scenario("crash", -0.4553)  # the cross long is 34,636 short of its wallet
    shortfall = 2 * 60_000 * 0.4553 - 20_000
    eth = 9_000 + 30 * 3_000 * 0.4553
    res = apply_scenario(acc, crash, option_values=(1_000.0, 50_000.0))
    assert res.bad_debt == pytest.approx(shortfall)  # the puts do not pay it
    assert res.equity_after == pytest.approx(50_000.0 + eth)
    assert res.pnl == pytest.approx(50_000.0 + eth - 30_000.0)
    # The same account with its options pooled (portfolio margin; options_share_margin=True):
    pooled = apply_scenario(acc, crash, option_values=(1_000.0, 50_000.0), options_share_margin=True)
    assert pooled.bad_debt == 0.0
    assert pooled.equity_after == pytest.approx(50_000.0 - shortfall + eth)
    with pytest.raises(InputError, match="options_share_margin must be a bool or None, was 'yes'"):
        apply_scenario(acc, crash, options_share_margin="yes")  # type: ignore[arg-type]


def test_okx_pools_its_options_with_the_futures() -> None:
    acc = _account("okx", 5_000.0, [{"symbol": "BTC-USDT-SWAP", "qty": 1, "entry_price": 60_000,
                                      "mark_price": 60_000, "leverage": 20, "mmr": 0.004}])  # fmt: skip
    res = apply_scenario(acc, Scenario("down", -0.3), option_values=(1_000.0, 20_000.0))
    assert res.bad_debt == 0.0  # the puts' 20,000 pay the long's 13,000 beyond the wallet
    assert res.equity_after == pytest.approx(5_000.0 - 18_000.0 + 20_000.0)


# ----------------------------------------------------------------------------- 3. wiped out by options
DERIBIT_PERP = {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 60_500, "mark_price": 61_000, "leverage": 5}


def test_an_account_wiped_out_by_its_short_options_is_liquidatable() -> None:
    """A Deribit account whose short calls lose more than it holds: the cross part with them is
    below the cross maintenance margin, so the venue liquidates it.  Before the fix it read
    liquidatable False, the perpetual not liquidated and a margin ratio of the futures alone."""
    acc = _account("deribit", 30_000.0, [DERIBIT_PERP])
    res = apply_scenario(acc, Scenario("up", 0.3), option_values=(-16_517.0, -68_562.0))
    assert res.equity_after == 0.0
    assert res.liquidatable
    assert res.positions[0].liquidated
    assert res.margin_ratio_after is None  # the equity with the options in it is below zero
    # Not wiped out: the ratio is the maintenance margin over the equity with the options' value.
    calm = apply_scenario(acc, Scenario("calm", 0.01), option_values=(-16_517.0, -18_000.0))
    assert not calm.liquidatable
    assert not calm.positions[0].liquidated
    assert calm.margin_ratio_after == pytest.approx(calm.maintenance_margin_after / calm.equity_after, rel=1e-12)
    # A wallet of their own (options_share_margin=False): the futures are not liquidated by them.
    apart = apply_scenario(acc, Scenario("up", 0.3), option_values=(-16_517.0, -68_562.0), options_share_margin=False)
    assert not apart.liquidatable
    assert not apart.positions[0].liquidated


def test_long_options_keep_a_pooled_cross_part_above_its_maintenance_margin() -> None:
    """The trigger reads the cross part with the options in it both ways: a long put's value keeps
    a 20x long that the futures alone would liquidate (before the fix: liquidated, ratio None)."""
    acc = _account("okx", 5_000.0, [{"symbol": "BTC-USDT-SWAP", "qty": 1, "entry_price": 60_000,
                                      "mark_price": 60_000, "leverage": 20, "mmr": 0.004}])  # fmt: skip
    res = apply_scenario(acc, Scenario("down", -0.1), option_values=(1_000.0, 9_000.0))
    assert not res.liquidatable
    assert not res.positions[0].liquidated
    assert res.margin_ratio_after == pytest.approx(res.maintenance_margin_after / res.equity_after, rel=1e-12)
    alone = apply_scenario(acc, Scenario("down", -0.1))
    assert alone.liquidatable
    assert alone.positions[0].liquidated
