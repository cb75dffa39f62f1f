"""Unified accounts (``bybit-uta``, ``binance-pm``) through ``levguard.evaluate_account``."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import levguard
from levguard.core.rules.collateral import BINANCE_PM, BYBIT_UTA, CollateralTiers, collateral_tiers_from_spec
from levguard.core.spec import account_from_spec
from levguard.errors import InputError

Spec = dict[str, Any]


def bybit(**over: Any) -> Spec:
    spec: Spec = {
        "venue": "bybit-uta",
        "balances": {"USDT": 20000, "BTC": 0.5},
        "prices": {"BTC": 60000},
        "positions": [
            {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "mmr": 0.005},
            {"symbol": "ETHUSDT", "qty": -10, "entry_price": 3000, "mark_price": 3100, "mmr": 0.01},
        ],
    }
    spec.update(over)
    return spec


def binance(**over: Any) -> Spec:
    spec: Spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 20000, "BTC": 0.5},
        "prices": {"BTC": 60000},
        "positions": [
            {"symbol": "BTCUSDT", "qty": 1.5, "entry_price": 60000, "mark_price": 60000},
            {"symbol": "ETHUSDT", "qty": -20, "entry_price": 3000, "mark_price": 3100},
        ],
    }
    spec.update(over)
    return spec


def test_bybit_margin_balance_and_mm_rate_by_hand() -> None:
    """MB = 20,000 + 0.5 x 60,000 x 0.98 + uPnL (-1,000); MM = 300 + 310... fixed at entry."""
    r = levguard.evaluate_account(bybit())
    assert r.equity == pytest.approx(20000 + 0.5 * 60000 * 0.98 - 1000)
    # Bybit linear MM is valued at entry: 1 x 60,000 x 0.5 % + 10 x 3,000 x 1 %.
    assert r.maintenance_margin == pytest.approx(300 + 300)
    assert r.account_ratio_name == "account_mm_rate"
    assert r.account_ratio == pytest.approx(600 / r.equity)
    assert r.account_status == "normal"
    assert not r.liquidatable
    assert r.settlement == "USD"
    assert r.wallet_balance == pytest.approx(20000 + 30000)
    rows = {c.asset: c for c in r.collateral or ()}
    assert rows["BTC"].haircut == pytest.approx(0.98)
    assert rows["BTC"].value == pytest.approx(29400)
    assert rows["USDT"].value == 20000


def test_bybit_btc_long_liquidation_price_closed_form() -> None:
    """Entry-valued MM is constant: MB(P) = 48,400 + (P - 60,000) = 600 at P = 12,200."""
    r = levguard.evaluate_account(bybit())
    assert r.positions[0].liquidation_price == pytest.approx(12200, rel=1e-12)
    # Bankruptcy: MB(P) = 0 at P = 11,600.
    assert r.positions[0].bankruptcy_price == pytest.approx(11600, rel=1e-12)


def test_binance_unimmr_by_hand() -> None:
    """Binance PM: E = min(x cr, x) per asset with the USDT PnL inside; MM tiered at the mark."""
    r = levguard.evaluate_account(binance())
    usdt = 20000 + 0.0 - 2000  # BTC long at entry, ETH short 20 x (3,000 - 3,100)
    assert r.equity == pytest.approx(usdt + 0.5 * 60000 * 0.95)
    btc = levguard.evaluate_account({"venue": "binance-usdm", "wallet_balance": 1, "positions": binance()["positions"]})
    assert r.maintenance_margin == pytest.approx(btc.maintenance_margin)
    assert r.account_ratio_name == "uniMMR"
    assert r.account_ratio == pytest.approx(r.equity / r.maintenance_margin)


@pytest.mark.parametrize("make", [bybit, binance])
def test_liquidation_price_is_where_the_ratio_crosses(make: Any) -> None:
    """Moving one mark to its liquidation price (others fixed) reaches the trigger; just short of it, not."""
    spec = make()
    r = levguard.evaluate_account(spec)
    for i, p in enumerate(r.positions):
        lp = p.liquidation_price
        assert lp is not None
        for factor, expect in ((1.0 - p.side * 1e-9, True), (1.0 + p.side * 1e-9, False)):
            moved = json.loads(json.dumps(spec))
            moved["positions"][i]["mark_price"] = lp * factor
            assert levguard.evaluate_account(moved).liquidatable is expect, (i, factor)


def test_binance_status_thresholds() -> None:
    """The status follows uniMMR's bands (1.5, 1.2, 1.05, 1.0)."""
    base = binance()
    r = levguard.evaluate_account(base)
    lp = r.positions[0].liquidation_price
    assert lp is not None
    seen = set()
    for mark in (lp * (0.995 + k * 0.0005) for k in range(200)):
        moved = json.loads(json.dumps(base))
        moved["positions"][0]["mark_price"] = mark
        rep = levguard.evaluate_account(moved)
        u = rep.account_ratio
        assert u is not None
        want = (
            "normal"
            if u > 1.5
            else "margin_call"
            if u > 1.2
            else "reduce_only"
            if u > 1.05
            else "liquidation"
            if u > 1.0
            else "liquidation_loss"
        )
        assert rep.account_status == want
        assert rep.liquidatable is (u <= 1.05)
        seen.add(want)
    assert seen == {"normal", "margin_call", "reduce_only", "liquidation", "liquidation_loss"}


def test_json_contract_and_single_wallet_unchanged() -> None:
    """Unified reports add four keys; single-wallet reports have none of them."""
    out = levguard.evaluate_account(binance()).to_dict()
    json.dumps(out, allow_nan=False)
    assert {"account_ratio", "account_ratio_name", "account_status", "collateral"} <= set(out)
    assert set(out["collateral"][0]) == {"asset", "amount", "price", "haircut", "value"}
    single = levguard.evaluate_account(
        {"venue": "binance-usdm", "wallet_balance": 1000, "positions": binance()["positions"][:1]}
    ).to_dict()
    assert not {"account_ratio", "account_ratio_name", "account_status", "collateral"} & set(single)


def test_borrowed_reduces_equity_and_adds_loan_mm() -> None:
    """A loan of 0.1 BTC: equity falls by its value (at face), MM rises by loan x loan_mmr x price."""
    a = levguard.evaluate_account(binance())
    b = levguard.evaluate_account(binance(balances={"USDT": 20000, "BTC": 0.6}, borrowed={"BTC": 0.1}, loan_mmr=0.1))
    assert b.equity == pytest.approx(a.equity)  # 0.6 - 0.1 = 0.5 BTC net
    assert b.maintenance_margin == pytest.approx(a.maintenance_margin + 0.1 * 0.1 * 60000)


def test_negative_balance_counts_at_face_value() -> None:
    """A debt takes no haircut (ratio 1): Bybit's and Binance's rule for negative amounts."""
    r = levguard.evaluate_account(bybit(balances={"USDT": 50000, "BTC": -0.5}))
    btc = next(c for c in r.collateral or () if c.asset == "BTC")
    assert btc.value == -30000
    assert btc.haircut == 1.0


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        (
            {
                "venue": "bybit-uta",
                "positions": [
                    {
                        "symbol": "BTCUSD",
                        "qty": 1,
                        "entry_price": 6e4,
                        "mark_price": 6e4,
                        "contract_kind": "inverse",
                    }
                ],
            },
            "contract_kind must be linear on bybit-uta (Bybit keeps inverse contracts out",
        ),
        (
            {
                "positions": [
                    {
                        "symbol": "BTCUSDT",
                        "qty": 1,
                        "entry_price": 6e4,
                        "mark_price": 6e4,
                        "margin_mode": "isolated",
                        "leverage": 10,
                    }
                ]
            },
            "margin_mode must be cross",
        ),
        (
            {
                "positions": [
                    {"symbol": "BTCUSDT", "qty": 1, "entry_price": 6e4, "mark_price": 6e4, "settlement": "USDC"}
                ]
            },
            "settlement must be USDT",
        ),
        ({"balances": {"USDT": 1, "ETH": 2}, "prices": {"ETH": 3000}}, "no collateral ratio for ETH"),
        ({"balances": {"USDT": 1, "BTC": 2}, "prices": {}}, "prices.BTC is required"),
        ({"borrowed": {"USDT": 5}}, "loan_mmr is required"),
        ({"loan_mmr": 2}, "loan_mmr must be a fraction"),
        ({"prices": {"BTC": -1}}, "prices.BTC must be > 0"),
        ({"borrowed": {"BTC": -1}, "loan_mmr": 0.1}, "borrowed.BTC must be >= 0"),
        ({"wallet_balance": 5}, "unknown field"),
        ({"margin_mode": "isolated"}, "margin_mode must be cross on binance-pm"),
        ({"collateral_ratios": {"BTC": 1.5}}, "collateral ratios must be fractions"),
        ({"balances": None}, "balances is required"),
    ],
)
def test_bad_input_names_the_value(over: Spec, needle: str) -> None:
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        levguard.evaluate_account(binance(**over))


def test_single_wallet_path_refuses_unified_venue() -> None:
    with pytest.raises(InputError, match="unified account"):
        account_from_spec(binance())


def test_collateral_ratios_in_api_shapes() -> None:
    """Bybit's (minQty/maxQty/collateralRatio) and Binance's (tierFloor/tierCap/collateralRate) rows."""
    bybit_rows = [
        {"minQty": "0", "maxQty": "10", "collateralRatio": "0.9"},
        {"minQty": "10", "maxQty": "", "collateralRatio": "0.5"},
    ]
    t = collateral_tiers_from_spec("ETH", bybit_rows, "qty", "collateral_ratios.ETH")
    assert t.value(12, 2000) == pytest.approx((10 * 0.9 + 2 * 0.5) * 2000)
    binance_rows = [
        {"tierFloor": "0", "tierCap": "1000", "collateralRate": "1.0000"},
        {"tierFloor": "1000", "tierCap": "2000", "collateralRate": "0.9000"},
    ]
    t = collateral_tiers_from_spec("BNB", binance_rows, "usd_value", "collateral_ratios.BNB")
    assert t.value(3, 500) == pytest.approx(1000 + 500 * 0.9)
    with pytest.raises(InputError, match="must equal the next tier's floor"):
        collateral_tiers_from_spec("X", [{"floor": 0, "cap": 5, "ratio": 1}, {"floor": 6, "ratio": 1}], "qty", "c.X")
    r = levguard.evaluate_account(
        binance(balances={"USDT": 20000, "ETH": 12}, prices={"ETH": 2000}, collateral_ratios={"ETH": bybit_rows})
    )
    eth = next(c for c in r.collateral or () if c.asset == "ETH")
    # minQty floors count coins on binance-pm too: 10 ETH at 0.9, the other 2 at 0.5.
    assert eth.value == pytest.approx((10 * 0.9 + 2 * 0.5) * 2000)


def test_tables_are_versioned() -> None:
    for table in (BYBIT_UTA, BINANCE_PM):
        assert table.source.startswith("https://")
        assert len(table.as_of) == 10
        assert {"BTC", "USDT"} <= set(table.assets)
    assert isinstance(BYBIT_UTA.assets["BTC"], CollateralTiers)


def test_no_positions_no_liquidation() -> None:
    r = levguard.evaluate_account({"venue": "bybit-uta", "balances": {"USDT": 100, "BTC": 1}, "prices": {"BTC": 5e4}})
    assert r.positions == ()
    assert not r.liquidatable
    assert r.maintenance_margin == 0.0
    assert r.equity == pytest.approx(100 + 5e4 * 0.98)
    assert math.isclose(r.account_ratio or 0.0, 0.0)


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("kink", [30_000.0, 41_000.0, 41_234.0, 55_000.0])
def test_the_root_search_returns_the_first_liquidated_float_in_few_steps(side: int, kink: float) -> None:
    # A piecewise-linear safety margin (a tier kink at ``kink``): the search returns the price
    # at which g first turns <= 0, one float past the last safe one, as bisection would.
    import math

    from levguard.core.unified import _root

    root = 41_234.567
    calls: list[float] = []

    def g(p: float) -> float:
        calls.append(p)
        slope = 2.0 if p < kink else 0.5
        at_kink = (kink - root) * 2.0 if kink >= root else (kink - root) * 0.5
        value = (p - root) * slope if (p < kink) == (root < kink) else at_kink + (p - kink) * slope
        return side * value

    mark = 60_000.0 if side > 0 else 20_000.0
    lp = _root(g, mark, side)
    used = len(calls)
    assert g(lp) <= 0.0 < g(math.nextafter(lp, mark))
    assert used <= 45  # bisection from the mark to adjacent floats takes about 60
