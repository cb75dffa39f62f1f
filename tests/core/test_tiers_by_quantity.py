"""Tiers counted by position size (``TierTable.basis == "quantity"``), as OKX counts its position
tiers in contracts (``minSz``/``maxSz`` of ``GET /api/v5/public/position-tiers``,
okx.com/docs-v5/en/#public-data-rest-api-get-position-tiers): a position keeps its tier at
every price, so its liquidation price is solved with its own tier's rate."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import levguard
from levguard.cascade.settings import MarginRegime
from levguard.cli.main import app
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.core.margin import evaluate
from levguard.core.margin_cross import evaluate_cross
from levguard.core.rules import get_venue
from levguard.core.sizing.base import MarketContext
from levguard.core.sizing.venue import LiquidationBudget
from levguard.core.spec import account_from_spec
from levguard.core.tiers import Tier, TierTable
from levguard.errors import InputError
from levguard.live.account_cache import AccountCache
from levguard.margin import isolated_liquidation_prices, isolated_margin_arrays
from levguard.sizing import size_account

# 0.4 % up to 1,000,000 USDT of notional; 0.6 % above: at 105,000 the cap is 9.5238 BTC.
CAP_BTC = 1_000_000 / 105_000
ROWS = [
    {"notional_floor": 0, "notional_cap": CAP_BTC, "mmr": 0.004, "max_leverage": 100},
    {"notional_floor": CAP_BTC, "notional_cap": None, "mmr": 0.006, "max_leverage": 50},
]
BY_SIZE = {"basis": "quantity", "rows": ROWS}


def _okx(qty: float, tiers: Any, margin: float = 55_500.0, mark: float = 105_000.0, **pos: Any) -> Any:
    spec = {
        "venue": "okx", "wallet_balance": 0,
        "positions": [{"symbol": "BTCUSDT", "qty": qty, "entry_price": 105_000.0, "mark_price": mark,
                       "margin_mode": "isolated", "isolated_margin": margin, "tiers": tiers, **pos}],
    }  # fmt: skip
    return levguard.evaluate_account(spec).positions[0]


def test_a_long_spanning_two_tiers_is_liquidated_at_its_own_tiers_rate() -> None:
    """docs/margin.md's former limitation: 10 BTC long @ 105,000 with 55,500 of margin. Its
    10 BTC are in the 0.6 % tier; OKX's requirement is notional x (MMR + 0.05 % taker), so
    55,500 + 10 (P - 105,000) = 10 P x 0.65 %: P = 994,500 / 9.935 = 100,100.65.  Tiers by
    notional read the 0.4 % tier below 100,000 and reported 99,899.55."""
    p = _okx(10, BY_SIZE)
    assert p.liquidation_price == pytest.approx(994_500 / 9.935, rel=1e-12)
    assert p.liquidation_price == pytest.approx(100_100.65, abs=0.01)
    assert (p.tier, p.mmr, p.max_leverage) == (2, 0.006, 50.0)
    assert p.maintenance_margin == pytest.approx(10 * 105_000 * 0.0065, rel=1e-12)
    notional = [{**r, "notional_cap": None if r["notional_cap"] is None else 1_000_000} for r in ROWS]
    notional[1]["notional_floor"] = 1_000_000
    assert _okx(10, notional).liquidation_price == pytest.approx(99_899.55, abs=0.01)


@pytest.mark.parametrize("mark", [50_000.0, 105_000.0, 300_000.0])
def test_the_tier_does_not_move_with_the_price(mark: float) -> None:
    for qty, tier, rate in ((9.0, 1, 0.004), (CAP_BTC, 1, 0.004), (9.6, 2, 0.006), (-9.6, 2, 0.006)):
        p = _okx(qty, BY_SIZE, margin=1e9, mark=mark)
        assert (p.tier, p.mmr) == (tier, rate), qty
        assert p.maintenance_margin == pytest.approx(abs(qty) * mark * (rate + 0.0005), rel=1e-12)


def test_the_size_is_contracts_times_the_contract_size() -> None:
    # 960 contracts of 0.01 BTC = 9.6 BTC: tier 2; 952 = 9.52 BTC: tier 1.
    assert _okx(960, BY_SIZE, margin=1e9, contract_size=0.01).tier == 2
    assert _okx(952, BY_SIZE, margin=1e9, contract_size=0.01).tier == 1


def test_a_short_uses_its_tier_too() -> None:
    # 12 BTC short @ 105,000 with 60,000: 60,000 - 12 (P - 105,000) = 12 P x 0.65 %.
    p = _okx(-12, BY_SIZE, margin=60_000.0)
    assert p.liquidation_price == pytest.approx((60_000 + 12 * 105_000) / (12 * 1.0065), rel=1e-12)


def test_the_table_methods() -> None:
    table = TierTable.from_rows(ROWS, deduction=False, basis="quantity", source="okx")
    assert table.basis == "quantity"
    flat = table.at_quantity(-10.0)
    assert (len(flat), flat.tiers[0].mmr, flat.tiers[0].max_leverage, flat.basis) == (1, 0.006, 50.0, "notional")
    assert "tier 2 of 2 by size 10" in flat.source
    valued = table.in_notional(105_000.0)
    assert valued.basis == "notional"
    assert valued.tiers[0].notional_cap == pytest.approx(1_000_000.0, rel=1e-15)
    assert table.in_notional(50_000.0, inverse=True).tiers[0].notional_cap == pytest.approx(CAP_BTC / 50_000.0)
    notional = TierTable.from_rows(ROWS)
    assert notional.at_quantity(10.0) is notional
    assert notional.in_notional(1.0) is notional
    assert notional.notional_only("x") is notional
    assert table.to_spec() == {"basis": "quantity", "rows": table.to_rows()}
    assert notional.to_spec() == notional.to_rows()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: TierTable.from_rows(ROWS, basis="size", deduction=False), "basis must be one of notional, quantity"),
        (lambda: TierTable.from_rows(ROWS, basis="quantity"), "tiers by quantity have no maintenance deduction"),
        (lambda: TierTable.from_rows(ROWS, basis="quantity", deduction=False).in_notional(0.0), "price must be > 0"),
        (lambda: TierTable.from_rows(ROWS, basis="quantity", deduction=False).in_notional(math.nan), "price"),
        (lambda: TierTable.from_rows(ROWS, basis="quantity", deduction=False).at_quantity(math.inf), "size"),
        (lambda: TierTable((Tier(0, math.inf, 0.01, 0, 10),), basis=None), "basis must be one of"),  # type: ignore[arg-type]
    ],
)
def test_bad_tables_are_refused(make: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        make()


@pytest.mark.parametrize(
    ("tiers", "venue", "match"),
    [
        ({"basis": "size", "rows": ROWS}, "okx", r"positions\[0\]\.tiers\.basis must be one of notional, quantity"),
        ({"rows": ROWS, "source": "x"}, "okx", r"must be a list of tier objects or \{basis, rows\}"),
        ({"basis": "quantity"}, "okx", r"must be a list of tier objects or \{basis, rows\}"),
        ({"basis": "quantity", "rows": "abc"}, "okx", r"positions\[0\]\.tiers\.rows must be a list"),
        (BY_SIZE, "binance-usdm", "tiers by quantity apply the tier's rate to the whole position"),
    ],
)
def test_bad_specs_are_refused(tiers: Any, venue: str, match: str) -> None:
    spec = {"venue": venue, "wallet_balance": 1e6, "positions": [
        {"symbol": "BTCUSDT", "qty": 1, "entry_price": 100.0, "mark_price": 100.0, "tiers": tiers}]}  # fmt: skip
    with pytest.raises(InputError, match=match):
        levguard.evaluate_account(spec)


def test_a_built_table_by_quantity_on_a_deducting_venue_is_refused() -> None:
    table = TierTable.from_rows(ROWS, deduction=False, basis="quantity")
    spec = {"venue": "binance-usdm", "wallet_balance": 1e6, "tiers": {"BTCUSDT": table},
            "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 100.0, "mark_price": 100.0}]}  # fmt: skip
    with pytest.raises(InputError, match="binance-usdm tiers by notional with a maintenance deduction"):
        levguard.evaluate_account(spec)


def test_code_that_changes_sizes_refuses_tiers_by_quantity_or_values_them_at_the_price() -> None:
    table = TierTable.from_rows(ROWS, deduction=False, basis="quantity")
    with pytest.raises(InputError, match="binance-usdm tiers by notional with a maintenance deduction"):
        MarketContext(venue="binance-usdm", tiers=table)  # OKX's are taken (tests/sizing/venue)
    assert MarginRegime(kind="tiered", tiers=table).by_size  # the cascade takes them (tests/cascade)
    with pytest.raises(InputError, match="binance-usdm tiers by notional with a maintenance deduction"):
        MarginRegime.for_venue("binance-usdm", tiers=table)
    with pytest.raises(InputError, match="bybit-linear tiers by notional with a maintenance deduction"):
        isolated_liquidation_prices([1.0], [100.0], [10.0], venue="bybit-linear", tiers=table)
    with pytest.raises(InputError, match=r"tiers: .*bybit-linear tiers by notional with a maintenance deduction"):
        liquidation_outcome("bybit-linear", 25.0, 100_000.0, 98_000.0, 67_000.0, tiers=table)
    # The backtester takes them (tests/backtest/engine/test_bt_tiers_by_size.py).
    # The liquidation outcome reads the tier at the fill: 12 BTC (tier 2 by size) at any fill.
    out = liquidation_outcome("okx", 12.0, 105_000.0, 90_000.0, 10_000.0, tiers=table)
    same = liquidation_outcome("okx", 12.0, 105_000.0, 90_000.0, 10_000.0, tiers=table.in_notional(90_000.0))
    assert out == same


def test_sizing_reads_tiers_by_quantity_at_the_mark() -> None:
    spec = {
        "venue": "okx", "wallet_balance": 200_000,
        "positions": [{"symbol": "BTCUSDT", "qty": 10, "entry_price": 105_000.0, "mark_price": 105_000.0,
                       "tiers": BY_SIZE}],
    }  # fmt: skip
    valued = {**spec, "positions": [{**spec["positions"][0], "tiers": TierTable.from_rows(
        ROWS, deduction=False, basis="quantity").in_notional(105_000.0).to_spec()}]}  # fmt: skip
    policy = {"policy": {"type": "composite", "policies": [
        {"type": "tier_cap"}, {"type": "gap_cap", "max_gap": 0.3},
        {"type": "liquidation_budget", "max_prob": 0.01, "horizon_days": 7}]}}  # fmt: skip
    a = size_account(spec, policy, vol=0.6).to_dict()
    b = size_account(valued, policy, vol=0.6).to_dict()
    assert a["target_leverage"] == b["target_leverage"]  # the gap cap binds: the tiers do not matter
    assert a["binding_constraint"] == b["binding_constraint"]
    # The budget alone: its liquidation prices use the tier of each candidate size.  Valued at the
    # mark, the candidates near 10x re-selected tier 1 at their liquidation prices (a review found
    # 5.0307x against 4.99999999993x).
    budget = {"policy": {"type": "liquidation_budget", "max_prob": 0.01, "horizon_days": 7}}
    by_size = size_account(spec, budget, vol=0.6).to_dict()
    at_mark = size_account(valued, budget, vol=0.6).to_dict()
    ctx = MarketContext(
        venue="okx", symbol="BTCUSDT", tiers=TierTable.from_rows(ROWS, deduction=False, basis="quantity")
    )
    lev = LiquidationBudget(0.01, 7.0).solve(ctx, 200_000.0, 105_000.0, 0.6)[0]
    assert by_size["target_leverage"] == pytest.approx(lev, rel=1e-9)
    assert at_mark["target_leverage"] > by_size["target_leverage"] * 1.005


sizes = st.floats(min_value=1e-3, max_value=50.0, allow_nan=False)
rates = st.floats(min_value=1e-4, max_value=0.05, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    qty=sizes, short=st.booleans(), cap=st.floats(min_value=0.01, max_value=40.0), r1=rates, step=rates,
    lev=st.floats(min_value=1.5, max_value=50.0), mark=st.floats(min_value=1_000.0, max_value=300_000.0),
)  # fmt: skip
def test_a_position_by_quantity_equals_its_tier_as_a_fixed_rate(
    qty: float, short: bool, cap: float, r1: float, step: float, lev: float, mark: float
) -> None:
    """The liquidation price, bankruptcy price and maintenance margin of a position with tiers by
    size are those of its own tier's rate as a fixed table, at any mark and leverage."""
    rows = [
        {"notional_floor": 0, "notional_cap": cap, "mmr": r1, "max_leverage": min(100.0, 1.0 / r1)},
        {"notional_floor": cap, "notional_cap": None, "mmr": min(r1 + step, 0.09), "max_leverage": 10},
    ]
    q = -qty if short else qty
    margin = qty * 100_000.0 / lev
    rate = rows[0]["mmr"] if qty <= cap else rows[1]["mmr"]
    by_size = _okx(q, {"basis": "quantity", "rows": rows}, margin=margin, mark=mark)
    fixed = _okx(q, None, margin=margin, mark=mark, mmr=rate, max_leverage=rows[0 if qty <= cap else 1]["max_leverage"])
    for field in ("liquidation_price", "bankruptcy_price", "maintenance_margin", "mmr", "max_leverage"):
        a, b = getattr(by_size, field), getattr(fixed, field)
        assert (a is None and b is None) or a == pytest.approx(b, rel=1e-12, abs=1e-9), field
    assert by_size.tier == (1 if qty <= cap else 2)


def test_the_cli_reads_tiers_by_quantity_and_refuses_a_bad_basis(tmp_path: Path) -> None:
    spec = {
        "venue": "okx", "wallet_balance": 0,
        "positions": [{"symbol": "BTCUSDT", "qty": 10, "entry_price": 105_000, "mark_price": 105_000,
                       "margin_mode": "isolated", "isolated_margin": 55_500, "tiers": BY_SIZE}],
    }  # fmt: skip
    path = tmp_path / "okx.json"
    path.write_text(json.dumps(spec))
    out = CliRunner().invoke(app, ["margin", str(path), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["positions"][0]["liquidation_price"] == pytest.approx(994_500 / 9.935, rel=1e-12)
    spec["positions"][0]["tiers"] = {"basis": "size", "rows": ROWS}  # type: ignore[index]
    path.write_text(json.dumps(spec))
    out = CliRunner().invoke(app, ["margin", str(path)])
    assert out.exit_code == 2
    assert "tiers.basis must be one of notional, quantity, was 'size'" in out.output


TIERS_3 = [
    {"notional_floor": 0, "notional_cap": 50, "mmr": 0.004, "max_leverage": 100},
    {"notional_floor": 50, "notional_cap": 100, "mmr": 0.01, "max_leverage": 50},
    {"notional_floor": 100, "notional_cap": None, "mmr": 0.05, "max_leverage": 10},
]


def _cross(qty: float, venue: str = "okx") -> dict[str, Any]:
    money = {"wallet_balance": 1e7} if venue == "okx" else {"balances": {"USDT": 2e7}}
    return {
        "venue": venue, **money, **({"margin_mode": "cross"} if venue == "okx" else {}),
        "positions": [{"symbol": "BTC-USDT-SWAP", "qty": qty, "entry_price": 100_000.0, "mark_price": 100_000.0}],
        "tiers": {"BTC-USDT-SWAP": {"basis": "quantity", "rows": TIERS_3}},
    }  # fmt: skip


def test_every_cross_path_reports_the_tier_of_the_size() -> None:
    """The compiled cross kernel, its Python twin, the guardian's account cache and the unified
    fast path agree with evaluate: 150 BTC are in the 5 % tier (found by a review: the kernel paths
    reported tier 1, and the cache kept the tier of the size it was built at)."""
    account = account_from_spec(_cross(150.0))
    for report in (evaluate(account), evaluate_cross(account, compiled=True), evaluate_cross(account, compiled=False)):
        p = report.positions[0]
        assert (p.tier, p.mmr, p.maintenance_margin) == (3, 0.05, pytest.approx(150 * 100_000 * 0.0505))
    cache = AccountCache()
    for qty, tier in ((1.0, 1), (150.0, 3), (60.0, 2)):
        p = cache.report(_cross(qty)).positions[0]
        assert (p.tier, p.maintenance_margin) == (
            tier,
            pytest.approx(qty * 100_000 * (TIERS_3[tier - 1]["mmr"] + 0.0005)),
        )
    unified = levguard.evaluate_account(_cross(150.0, "okx-mcm")).positions[0]
    assert (unified.tier, unified.mmr) == (3, 0.05)


def test_the_liquidation_outcome_values_tiers_by_size_where_the_venue_reads_its_tier() -> None:
    """BitMEX reads a position's risk limit at its entry notional; liquidation_rest and the paper
    venue pass the whole table by size, which liquidation_outcome values at the entry, as it does
    a table valued there (a review found the step-down cut to caps valued at the mark)."""
    rows = [
        {"notional_floor": 0, "notional_cap": 10, "mmr": 0.004, "max_leverage": 100},
        {"notional_floor": 10, "notional_cap": 20, "mmr": 0.006, "max_leverage": 50},
        {"notional_floor": 20, "notional_cap": None, "mmr": 0.01, "max_leverage": 20},
    ]
    table = TierTable.from_rows(rows, deduction=False, basis="quantity")
    by_size = liquidation_outcome("bitmex", 25.0, 60_000.0, 51_000.0, 239_000.0, tiers=table)
    at_entry = liquidation_outcome("bitmex", 25.0, 60_000.0, 51_000.0, 239_000.0, tiers=table.in_notional(60_000.0))
    assert by_size == at_entry
    assert by_size.partial


def test_an_okx_step_down_by_size_leaves_the_first_tiers_cap_itself() -> None:
    """OKX reduces a tier-3 position to tier 1 (okx.com help 360020411711): 5 BTC to 2 BTC, the
    cap, which is tier 1's (OKX's caps are inclusive), at any fill.  Worked out on caps valued
    at the fill, the rest came out a rounding error above 2 BTC, in tier 2 for its life."""
    rows = [
        {"notional_floor": 0, "notional_cap": 2, "mmr": 0.004, "max_leverage": 100},
        {"notional_floor": 2, "notional_cap": 4, "mmr": 0.006, "max_leverage": 50},
        {"notional_floor": 4, "notional_cap": None, "mmr": 0.01, "max_leverage": 20},
    ]
    okx = get_venue("okx")
    table = okx.read_tiers(TierTable.from_rows(rows, deduction=False, basis="quantity"))
    for fill in (100_861.0, 100_700.0, 100_517.1, 100_803.3):
        out = liquidation_outcome("okx", 5.0, 105_000.0, fill, 25_987.5, tiers=table)
        assert out.partial, fill
        assert out.remaining_qty == 2.0, fill
        assert out.closed_qty == 3.0, fill
    for fill in (109_052.0, 109_300.0, 109_500.0):  # a short's mirror (its liquidation price is near 109,052)
        # 109,052 is a hair short of its liquidation price: the step's size, not the trigger, is tested.
        short = liquidation_outcome("okx", -5.0, 105_000.0, fill, 25_987.5, tiers=table, check_trigger=False)
        assert short.remaining_qty == -2.0, fill


@pytest.mark.parametrize("venue", ["okx", "bitmex"])
def test_the_array_functions_read_the_tier_of_each_size_as_evaluate_account(venue: str) -> None:
    """``isolated_margin_arrays`` (one table, or several by ``table_ids``) give each position's
    liquidation price and maintenance margin to the last bit of the margin engine's, with
    the tier of its size: sizes on both sides of the 9.52-BTC cap, longs and shorts."""
    table = TierTable.from_rows(ROWS, deduction=False, basis="quantity")
    rng = np.random.default_rng(7)
    n = 300
    qty = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 20.0, n)
    qty[:4] = [CAP_BTC, -CAP_BTC, 9.5, -10.0]
    entry = rng.uniform(90_000.0, 120_000.0, n)
    mark = entry * rng.uniform(0.97, 1.03, n)
    margin = np.abs(qty) * entry / rng.uniform(5.0, 40.0, n)
    lp, mm, _ratio = isolated_margin_arrays(qty, entry, margin, table, venue, mark_price=mark)
    ids = np.arange(n) % 2
    notional = table.in_notional(100_000.0)
    mixed = isolated_margin_arrays(qty, entry, margin, [table, notional], venue, mark_price=mark, table_ids=ids)
    for i in range(n):
        spec = {"venue": venue, "wallet_balance": 0, "tiers": {"BTCUSDT": table},
                "positions": [{"symbol": "BTCUSDT", "qty": float(qty[i]), "entry_price": float(entry[i]),
                               "mark_price": float(mark[i]), "margin_mode": "isolated",
                               "isolated_margin": float(margin[i])}]}  # fmt: skip
        p = levguard.evaluate_account(spec).positions[0]
        assert (lp[i], mm[i]) == (p.liquidation_price, p.maintenance_margin), i
        if ids[i] == 0:
            assert (mixed[0][i], mixed[1][i]) == (lp[i], mm[i]), i
    if venue == "okx":  # docs/margin.md's golden: 10 BTC @ 105,000 on 55,500 in the 0.6 % tier by size
        golden = isolated_liquidation_prices([10.0], [105_000.0], [55_500.0], table, venue)
        assert round(float(golden[0]), 2) == 100_100.65
