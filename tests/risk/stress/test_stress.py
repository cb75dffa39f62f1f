"""Stress tests: named crashes, grid, venue default, funding, and liquidation by the venue's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.margin import evaluate
from levguard.core.risk.stress import (
    NAMED_SCENARIOS,
    Scenario,
    apply_scenario,
    base_asset,
    grid_scenarios,
    scenario_by_name,
    stress_accounts,
    venue_default,
)
from levguard.core.spec import account_from_spec
from levguard.data.crashes import measure_shock
from levguard.data.loaders import load_funding, load_ohlcv
from levguard.errors import DataError, InputError


def _account(**kw: Any) -> Any:
    spec = {"venue": "binance-usdm", "wallet_balance": 10_000, "positions": []}
    spec.update(kw)
    return account_from_spec(spec)


def test_named_scenarios_carry_magnitudes_and_sources() -> None:
    assert len(NAMED_SCENARIOS) == 8
    for s in NAMED_SCENARIOS:
        assert -1.0 < s.price_shock < 0.0
        assert "mark-price" in s.source
    assert scenario_by_name("2022-11-08").name == "ftx"
    assert scenario_by_name("ftx").vol_shock == pytest.approx(1.1472 - 0.5948)
    assert scenario_by_name("black-thursday").price_shock == -0.5098


@pytest.mark.shared_data
def test_scenario_shocks_are_measured_on_the_real_mark(shared_dir: Path) -> None:
    """Each shock is the largest 24 h fall of the BTCUSDT mark from a running peak (across
    midnight); Black Thursday reproduces 50.98 % (2020-03-12 02:00 to 2020-03-13 02:00 UTC).
    Funding is the lowest print from 8 h before to 48 h after that trough."""
    mark_path = shared_dir / "data/ohlcv/BTCUSDT-MARK_1h.csv"
    funding_path = shared_dir / "data/funding/BTCUSDT_funding.csv"
    if not (mark_path.is_file() and funding_path.is_file()):
        pytest.skip("shared BTCUSDT mark and funding files are not present")
    mark, funding = load_ohlcv(mark_path, kind="mark"), load_funding(funding_path)
    for s in NAMED_SCENARIOS:
        m = measure_shock(mark, s.date)
        assert -m.depth == pytest.approx(s.price_shock, abs=5e-5), s.name
        window = funding.loc[m.trough - pd.Timedelta(hours=8) : m.trough + pd.Timedelta(hours=48), "funding_rate"]
        assert float(window.min()) == pytest.approx(s.funding_rate, abs=5e-7), s.name
    bt = measure_shock(mark, "2020-03-12")
    assert round(bt.depth, 4) == 0.5098
    assert (bt.peak, bt.trough) == (
        pd.Timestamp("2020-03-12 02:00", tz="UTC"),
        pd.Timestamp("2020-03-13 02:00", tz="UTC"),
    )


def test_measure_shock_spans_midnight_and_respects_its_window() -> None:
    idx = pd.date_range("2024-01-01 18:00", periods=16, freq="1h", tz="UTC")
    high = [100.0, 101, 110, 104, 100, 96, 92, 88, 84, 80, 70, 75, 80, 85, 90, 95]
    bars = pd.DataFrame({"high": high, "low": [h - 1 for h in high]}, index=idx)
    m = measure_shock(bars, "2024-01-01")
    assert m.depth == pytest.approx(1 - 69 / 110)  # peak 20:00 on day 1, trough 04:00 on day 2
    assert (m.peak.hour, m.trough.hour) == (20, 4)
    short = measure_shock(bars, "2024-01-01", window_hours=2)
    assert short.depth == pytest.approx(1 - 69 / 84)  # the peak two hours back: 02:00
    with pytest.raises(InputError, match="window_hours"):
        measure_shock(bars, "2024-01-01", window_hours=0)
    with pytest.raises(InputError, match="cover"):
        measure_shock(bars, "2023-01-01")


@pytest.mark.parametrize(("col", "hour"), [("high", 20), ("high", 18), ("low", 4)])
def test_measure_shock_refuses_a_missing_price_in_the_searched_bars(col: str, hour: int) -> None:
    """np.argmax picked a NaN high as the peak: a missing high on the real Black Thursday peak bar
    measured 38.74 % for 50.98 %.  A NaN high within the window of a trough, or a NaN low of a
    candidate trough, is refused naming the bar."""
    idx = pd.date_range("2024-01-01 18:00", periods=16, freq="1h", tz="UTC")
    high = [100.0, 101, 110, 104, 100, 96, 92, 88, 84, 80, 70, 75, 80, 85, 90, 95]
    bars = pd.DataFrame({"high": high, "low": [h - 1 for h in high]}, index=idx)
    day = 2 if hour < 18 else 1
    bars.loc[pd.Timestamp(f"2024-01-0{day} {hour:02d}:00", tz="UTC"), col] = float("nan")
    with pytest.raises(DataError, match=rf"the {col} of the bar at 2024-01-0{day}T{hour:02d}:00:00\+00:00 must be"):
        measure_shock(bars, "2024-01-01")


def test_black_thursday_liquidates_a_2x_long_opened_at_the_peak() -> None:
    """Issue 13: a 2x isolated long opened at the 2020-03-12 mark peak (50,953) was liquidated in
    reality; the scenario must liquidate it too."""
    acc = _account(
        positions=[
            {
                "symbol": "BTCUSDT",
                "qty": 1,
                "entry_price": 50_953,
                "mark_price": 50_953,
                "leverage": 2,
                "margin_mode": "isolated",
            }
        ]
    )
    res = apply_scenario(acc, scenario_by_name("black-thursday"))
    assert res.positions[0].liquidated


def test_isolated_long_is_liquidated_and_loses_only_its_margin() -> None:
    """A 20x isolated long in Black Thursday (-51.0 %): liquidated; loss capped at its 3,000 margin."""
    acc = _account(
        positions=[
            {
                "symbol": "BTCUSDT",
                "qty": 1,
                "entry_price": 60_000,
                "mark_price": 60_000,
                "leverage": 20,
                "margin_mode": "isolated",
            }
        ]
    )
    res = apply_scenario(acc, scenario_by_name("black-thursday"))
    p = res.positions[0]
    assert p.liquidated
    assert p.mark_after == pytest.approx(60_000 * (1 - 0.5098))
    assert p.pnl == pytest.approx(-3_000)
    assert res.equity_before == pytest.approx(13_000)
    assert res.defaulted is False


def test_cross_account_pnl_and_flags_follow_the_margin_engine() -> None:
    """Cross: PnL equals the change in uPnL; the flag matches the engine at the shocked marks."""
    acc = _account(
        wallet_balance=20_000,
        positions=[
            {"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 60_000},
            {"symbol": "ETHUSDT", "qty": -20, "entry_price": 3_000, "mark_price": 3_000},
        ],
    )
    s = Scenario("btc down, eth up", price_shocks={"BTC": -0.1, "ETH": 0.05})
    res = apply_scenario(acc, s)
    assert res.positions[0].pnl == pytest.approx(2 * -6_000)
    assert res.positions[1].pnl == pytest.approx(-20 * 150)
    assert res.pnl == pytest.approx(-15_000)
    assert res.liquidatable is False
    worse = apply_scenario(acc, Scenario("worse", price_shocks={"BTC": -0.16, "ETH": 0.05}))
    assert worse.liquidatable is True
    assert all(p.liquidated for p in worse.positions)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["BTC", "btc", " Btc ", "BTCUSDT", "btcusdt", "BTC/USDT:USDT", "BTC-USD", "XBT", "xbtusd"]),
    st.floats(-0.9, 2.0),
)
def test_price_shocks_read_any_spelling_of_the_base(key: str, move: float) -> None:
    """{"btc": -0.5} and {"BTCUSDT": -0.5} left a BTCUSDT long untouched (P&L 0) where {"BTC": -0.5}
    lost 30,000: keys are normalised to the base asset (BitMEX's XBT is BTC)."""
    acc = _account(positions=[{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000}])
    s = Scenario("s", price_shocks={key: move})
    assert dict(s.price_shocks) == {"BTC": move}
    assert apply_scenario(acc, s).positions[0].mark_after == pytest.approx(60_000 * (1 + move))
    assert s.shock_for("btcusdt") == s.shock_for("BTC") == s.shock_for("XBT") == move


def test_price_shocks_refuse_two_keys_for_one_asset_and_keys_that_are_no_names() -> None:
    with pytest.raises(InputError, match=r"price_shocks has 'btc' and 'BTCUSDT', both for BTC"):
        Scenario("s", price_shocks={"btc": -0.5, "BTCUSDT": -0.4})
    with pytest.raises(InputError, match="price_shocks keys must be assets or symbols"):
        Scenario("s", price_shocks={1: -0.5})
    with pytest.raises(InputError, match="price_shocks keys must be assets or symbols"):
        Scenario("s", price_shocks={" ": -0.5})
    # A USD coin is its own key, not a base "T" before a quote "USD".
    assert dict(Scenario("s", price_shocks={"tusd": -0.01}).price_shocks) == {"TUSD": -0.01}


def test_funding_is_paid_by_longs_when_the_rate_is_positive() -> None:
    acc = _account(positions=[{"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 50_000}])
    res = apply_scenario(acc, Scenario("spike", funding_rate=0.003, funding_intervals=3))
    assert res.positions[0].funding == pytest.approx(-1 * 50_000 * 0.003 * 3)
    assert res.pnl == pytest.approx(-450)
    short = _account(positions=[{"symbol": "BTCUSDT", "qty": -1, "entry_price": 50_000, "mark_price": 50_000}])
    assert apply_scenario(short, Scenario("spike", funding_rate=0.003, funding_intervals=3)).pnl == pytest.approx(450)


def test_venue_default_loses_everything_held_there() -> None:
    """FTX-style default: the defaulted venue's equity is lost, the other venue is untouched."""
    a = _account(positions=[{"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 52_000}])
    b = account_from_spec({"venue": "hyperliquid", "wallet_balance": 5_000, "positions": []})
    results = stress_accounts([("binance", a), ("hyperliquid", b)], [venue_default("binance")])
    ((_, rows),) = results
    lost, kept = rows
    assert lost.defaulted
    assert lost.pnl == pytest.approx(-12_000)
    assert lost.equity_after == 0
    assert not kept.defaulted
    assert kept.pnl == 0
    assert kept.equity_after == pytest.approx(5_000)
    # Below zero before (a -20 % mark on a 1,000 wallet): its equity floors at 0 before as after, the
    # hole it had is the venue's loss already (shortfall_before), not the default's P&L or bad debt.
    under = _account(
        wallet_balance=1_000, positions=[{"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 40_000}]
    )
    ((_, (gone,)),) = stress_accounts([("binance", under)], [venue_default("binance")])
    assert (gone.equity_before, gone.pnl, gone.equity_after, gone.bad_debt) == (0.0, 0.0, 0.0, 0.0)
    assert gone.shortfall_before == pytest.approx(9_000)


@pytest.mark.parametrize(
    ("accounts", "scenarios", "match"),
    [
        ("A", NAMED_SCENARIOS[:1], r"accounts\[0\] must be a \(name, Account\) pair"),
        (None, NAMED_SCENARIOS[:1], "accounts must be a list of"),
        ([("a", {"venue": "binance-usdm"})], NAMED_SCENARIOS[:1], r"accounts\[0\]\[1\] must be a Account, was dict"),
        ([("a", "A")], ["black-thursday"], r"scenarios\[0\] must be a Scenario, was str"),
        ([("a", "A")], None, "scenarios must be a list of Scenario, was None"),
    ],
)
def test_stress_accounts_refuses_bad_arguments_by_name(accounts: Any, scenarios: Any, match: str) -> None:
    """A bad-input campaign (2026-12-06): a list of accounts without names, None or a scenario's
    name raised TypeError or ValueError from the unpacking."""
    acc = _account(positions=[{"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 50_000}])
    if accounts == "A":
        accounts = [acc]
    elif isinstance(accounts, list) and accounts[0][1] == "A":
        accounts = [("a", acc)]
    with pytest.raises(InputError, match=match):
        stress_accounts(accounts, scenarios)


def test_bad_debt_when_a_cross_account_gaps_through_bankruptcy() -> None:
    acc = _account(
        wallet_balance=1_000, positions=[{"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 50_000}]
    )
    res = apply_scenario(acc, Scenario("gap", -0.1))
    assert res.equity_after == 0
    assert res.pnl == pytest.approx(-1_000)
    assert res.bad_debt == pytest.approx(4_000)


def test_grid_and_validation() -> None:
    grid = grid_scenarios((-0.2, 0.2), (0.0, 0.3))
    assert [s.name for s in grid] == ["price -20%", "price +20%", "price -20%, vol +30%", "price +20%, vol +30%"]
    with pytest.raises(InputError, match=r"price_shock must be a finite move > -1, was -1\.5"):
        Scenario("x", -1.5)
    with pytest.raises(InputError, match="scenario must be one of"):
        scenario_by_name("2019-01-01")


@pytest.mark.parametrize(
    ("symbol", "base"),
    [
        ("BTCUSDT", "BTC"),
        ("BTC/USDT:USDT", "BTC"),
        ("ETH-USD", "ETH"),
        ("BTCUSD_PERP", "BTC"),
        ("SOL", "SOL"),
        ("BTC_USDC-PERPETUAL", "BTC"),
    ],
)
def test_base_asset(symbol: str, base: str) -> None:
    assert base_asset(symbol) == base


@settings(max_examples=150, deadline=None)
@given(
    lev=st.floats(1.5, 100),
    shock=st.floats(-0.6, 0.6),
    short=st.booleans(),
)
def test_isolated_liquidation_flag_equals_crossing_the_liquidation_price(lev: float, shock: float, short: bool) -> None:
    """Property: an isolated position is flagged liquidated iff the shocked mark is at or beyond its LP."""
    qty = -1.0 if short else 1.0
    acc = _account(
        positions=[
            {
                "symbol": "BTCUSDT",
                "qty": qty,
                "entry_price": 40_000,
                "mark_price": 40_000,
                "leverage": lev,
                "margin_mode": "isolated",
            }
        ]
    )
    lp = evaluate(acc).positions[0].liquidation_price
    res = apply_scenario(acc, Scenario("s", shock))
    mark = 40_000 * (1 + shock)
    if lp is None:
        assert not res.positions[0].liquidated
    elif abs(mark - lp) > 1e-6 * lp:
        crossed = mark <= lp if not short else mark >= lp
        assert res.positions[0].liquidated == crossed
    assert res.positions[0].pnl >= -40_000 / lev * (1 + 1e-9)


def test_a_bankrupt_cross_wallet_does_not_eat_isolated_margin() -> None:
    """Cross BTC long wiped out (bad debt) while an isolated ETH short profits: the isolated part keeps
    its margin and gain; only the cross part floors at zero."""
    acc = _account(
        wallet_balance=20_000,
        positions=[
            {"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10},
            {
                "symbol": "ETHUSDT",
                "qty": -30,
                "entry_price": 3_000,
                "mark_price": 3_000,
                "leverage": 10,
                "margin_mode": "isolated",
            },
        ],
    )
    res = apply_scenario(acc, Scenario("crash", -0.4553))
    eth_balance = 9_000 + 30 * 3_000 * 0.4553
    assert res.equity_after == pytest.approx(eth_balance)
    assert res.bad_debt == pytest.approx(2 * 60_000 * 0.4553 - 20_000)
    assert res.pnl == pytest.approx(eth_balance - 29_000)


def test_options_join_the_cross_part_before_its_floor() -> None:
    """``option_values`` (the options' value before and after) are cross collateral where they
    share the futures' margin (``options_share_margin=True``: Deribit, OKX, Binance's portfolio
    margin): a short option's loss beyond the cross equity is bad debt (the isolated short keeps
    its margin and gain), a long option's value covers a cross shortfall, and a default loses them
    too.  Binance USDⓈ-M alone keeps them apart (tests/risk/stress/test_stress_parts.py)."""
    acc = _account(
        wallet_balance=20_000,
        positions=[
            {"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10},
            {"symbol": "ETHUSDT", "qty": -30, "entry_price": 3_000, "mark_price": 3_000, "leverage": 10,
             "margin_mode": "isolated"},
        ],
    )  # fmt: skip
    up = Scenario("up", 0.05)  # BTC long +6,000, ETH short -4,500 of its 9,000 margin
    cross, eth = 20_000 + 6_000, 9_000 - 4_500
    res = apply_scenario(acc, up, option_values=(-1_000.0, -50_000.0), options_share_margin=True)
    assert res.equity_before == pytest.approx(29_000 - 1_000)
    assert res.equity_after == pytest.approx(eth)  # the cross part ends at 0, the isolated keeps 4,500
    assert res.bad_debt == pytest.approx(50_000 - cross)
    assert res.equity_before + res.pnl == pytest.approx(res.equity_after)
    assert apply_scenario(acc, up).bad_debt == 0.0
    crash = Scenario("crash", -0.4553)  # the cross long is 34,636 short of its wallet without options
    shortfall = 2 * 60_000 * 0.4553 - 20_000
    res = apply_scenario(acc, crash, option_values=(1_000.0, 50_000.0), options_share_margin=True)
    assert res.bad_debt == 0.0
    assert res.equity_after == pytest.approx(50_000 - shortfall + 9_000 + 30 * 3_000 * 0.4553)
    # The cross part with the options is 20,000 below zero before; the isolated short's 9,000 is all
    # a default takes, the hole the venue's already (before the fix: equity before -11,000, P&L
    # +11,000 and bad debt 11,000).
    gone = apply_scenario(
        acc, venue_default("binance-usdm"), option_values=(-40_000.0, -40_000.0), options_share_margin=True
    )
    assert gone.defaulted
    assert (gone.equity_before, gone.pnl, gone.equity_after, gone.bad_debt) == (9_000.0, -9_000.0, 0.0, 0.0)
    assert gone.shortfall_before == pytest.approx(20_000.0)
    for bad in [(1.0,), (1.0, float("nan")), ("1", 2.0), None]:
        with pytest.raises(InputError, match="option_values"):
            apply_scenario(acc, up, option_values=bad)  # type: ignore[arg-type]


def _isolated(venue: str, symbol: str, lev: float = 10.0) -> Any:
    return account_from_spec(
        {
            "venue": venue,
            "wallet_balance": 1_000,
            "positions": [
                {"symbol": symbol, "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": lev,
                 "margin_mode": "isolated"},
            ],
        }
    )  # fmt: skip


def test_a_takeover_between_the_liquidation_and_bankruptcy_prices_loses_the_whole_margin() -> None:
    """Binance takes a liquidated isolated position over and its clearance fee keeps what is left
    of the margin (docs/margin.md 4.1): at -9.7 % a 10x long (6,000 of margin, liquidation price
    54,221, bankruptcy 54,000) has 180 of margin left at the mark, and loses all 6,000."""
    acc = _isolated("binance-usdm", "BTCUSDT")
    rep = evaluate(acc).positions[0]
    assert rep.liquidation_price is not None
    assert rep.bankruptcy_price is not None
    assert rep.bankruptcy_price < 60_000 * 0.903 < rep.liquidation_price
    res = apply_scenario(acc, Scenario("s", -0.097))
    (p,) = res.positions
    assert p.liquidated
    assert p.pnl == pytest.approx(-6_000.0)
    assert res.equity_after == pytest.approx(1_000.0)  # the cross wallet only
    assert res.pnl == pytest.approx(-6_000.0)
    assert res.bad_debt == 0.0


def test_a_book_liquidation_between_the_two_prices_keeps_the_rest() -> None:
    """Hyperliquid closes a liquidated position in the book and the trader keeps what is left
    (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations; no liquidation fee): the P&L is
    the move to the new mark."""
    acc = _isolated("hyperliquid", "BTC")
    rep = evaluate(acc).positions[0]
    assert rep.liquidation_price is not None
    shock = (rep.liquidation_price * 0.999) / 60_000 - 1.0
    res = apply_scenario(acc, Scenario("s", shock))
    (p,) = res.positions
    assert p.liquidated
    assert p.pnl == pytest.approx(60_000 * shock, rel=1e-12)
    assert res.equity_after == pytest.approx(1_000.0 + 6_000.0 + 60_000 * shock, rel=1e-12)


def test_below_the_bankruptcy_price_the_fund_takes_the_rest_on_every_venue() -> None:
    for venue, symbol in (("binance-usdm", "BTCUSDT"), ("hyperliquid", "BTC")):
        res = apply_scenario(_isolated(venue, symbol), Scenario("s", -0.2))
        assert res.positions[0].pnl == pytest.approx(-6_000.0)
        assert res.bad_debt == pytest.approx(60_000 * 0.2 - 6_000.0)
        assert res.equity_after == pytest.approx(1_000.0)
