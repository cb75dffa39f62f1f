"""The public contract: account spec in (dict, JSON/YAML file, ccxt positions), report out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import levguard
from levguard.core.rules.binance import BUILTIN_TIERS

FAQ = Path(levguard.__file__).parent / "resources" / "samples" / "binance_cross_faq.yaml"

ACCOUNT_KEYS = {"equity", "maintenance_margin", "initial_margin", "margin_ratio", "liquidatable", "positions"}
POSITION_KEYS = {
    "symbol",
    "qty",
    "notional",
    "initial_margin",
    "maintenance_margin",
    "unrealized_pnl",
    "liquidation_price",
    "bankruptcy_price",
    "mmr",
    "maint_amount",
    "max_leverage",
    "health",
}


def test_to_dict_has_every_contract_field_and_is_json() -> None:
    """The documented keys are present; the dict is strict JSON (no NaN or inf)."""
    out = levguard.evaluate_account(FAQ).to_dict()
    assert set(out) >= ACCOUNT_KEYS
    for p in out["positions"]:
        assert set(p) >= POSITION_KEYS
    json.dumps(out, allow_nan=False)
    assert out["liquidatable"] is False


def test_file_forms_agree(tmp_path: Path) -> None:
    """A dict, a YAML path and a JSON path give the same report."""
    spec = yaml.safe_load(FAQ.read_text())
    as_json = tmp_path / "a.json"
    as_json.write_text(json.dumps(spec))
    a = levguard.evaluate_account(spec).to_dict()
    assert levguard.evaluate_account(FAQ).to_dict() == a
    assert levguard.evaluate_account(str(as_json)).to_dict() == a


def test_account_totals() -> None:
    """equity = wallet + uPnL; MM, IM sum the positions; margin ratio = MM / equity."""
    r = levguard.evaluate_account(FAQ)
    upnl = sum(p.unrealized_pnl for p in r.positions)
    assert r.equity == pytest.approx(1535443.01 + upnl)
    assert r.maintenance_margin == pytest.approx(sum(p.maintenance_margin for p in r.positions))
    assert r.margin_ratio == pytest.approx(r.maintenance_margin / r.equity)
    assert r.health == min(p.health for p in r.positions if p.health is not None)


def test_liquidatable_when_equity_below_maintenance() -> None:
    """Mark at or past the liquidation price flips the flag; margin ratio >= 100 %."""
    base = {"venue": "binance-usdm", "margin_mode": "isolated", "wallet_balance": 0}
    pos = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "leverage": 20}
    lp = (
        levguard.evaluate_account({**base, "positions": [{**pos, "mark_price": 60_000}]}).positions[0].liquidation_price
    )
    r = levguard.evaluate_account({**base, "positions": [{**pos, "mark_price": lp * 0.999}]})
    assert r.liquidatable
    assert r.positions[0].liquidatable
    assert r.positions[0].health < 0
    assert r.margin_ratio > 1


CCXT_POSITION = {
    "info": {},
    "id": None,
    "symbol": "BTC/USDT:USDT",
    "timestamp": None,
    "datetime": None,
    "contracts": 0.5,
    "contractSize": 1.0,
    "side": "short",
    "notional": 30_000.0,
    "leverage": 10,
    "unrealizedPnl": 0.0,
    "realizedPnl": None,
    "collateral": 3_000.0,
    "entryPrice": 60_000.0,
    "markPrice": 60_000.0,
    "liquidationPrice": None,
    "marginMode": "isolated",
    "hedged": False,
    "maintenanceMargin": None,
    "maintenanceMarginPercentage": 0.004,
    "initialMargin": 3_000.0,
    "initialMarginPercentage": 0.1,
    "marginRatio": None,
    "lastUpdateTimestamp": None,
    "lastPrice": None,
    "stopLossPrice": None,
    "takeProfitPrice": None,
    "percentage": None,
}


def test_ccxt_positions_can_be_piped_in() -> None:
    """fetch_positions() output: unsigned contracts + side become a signed qty; collateral the isolated margin."""
    empty = {**CCXT_POSITION, "symbol": "ETH/USDT:USDT", "contracts": 0}
    r = levguard.evaluate_account({"venue": "binance-usdm", "positions": [CCXT_POSITION, empty]})
    assert len(r.positions) == 1
    p = r.positions[0]
    assert p.qty == -0.5
    assert p.margin_mode == "isolated"
    assert p.liquidation_price == pytest.approx((3_000 + 0 + 0.5 * 60_000) / (0.5 * 0.004 + 0.5))


def test_ccxt_position_with_bad_side() -> None:
    with pytest.raises(levguard.InputError, match=r"positions\[0\]\.side must be long or short, was 'both'"):
        levguard.evaluate_account({"venue": "binance-usdm", "positions": [{**CCXT_POSITION, "side": "both"}]})


def _ccxt_tiers() -> list[dict[str, Any]]:
    # ccxt fetch_leverage_tiers() rows: no maintenance amount, so it is derived by continuity.
    return [
        {
            "tier": i + 1,
            "currency": "USDT",
            "minNotional": t.notional_floor,
            "maxNotional": t.notional_cap,
            "maintenanceMarginRate": t.mmr,
            "maxLeverage": t.max_leverage,
            "info": {},
        }
        for i, t in enumerate(BUILTIN_TIERS["ETHUSDT"].tiers)
    ]


def test_ccxt_leverage_tiers_as_account_tiers() -> None:
    """Top-level ``tiers`` keyed by ccxt symbol override the built-in table and give the same numbers."""
    pos = {"symbol": "ETH/USDT:USDT", "qty": 2_000, "entry_price": 3_000, "mark_price": 2_900}
    with_ccxt = levguard.evaluate_account(
        {"venue": "binance-usdm", "wallet_balance": 1e6, "positions": [pos], "tiers": {"ETH/USDT:USDT": _ccxt_tiers()}}
    )
    builtin = levguard.evaluate_account(
        {"venue": "binance-usdm", "wallet_balance": 1e6, "positions": [{**pos, "symbol": "ETHUSDT"}]}
    )
    assert with_ccxt.positions[0].liquidation_price == pytest.approx(builtin.positions[0].liquidation_price)
    assert with_ccxt.positions[0].maint_amount == pytest.approx(11_450)  # 5.8M notional: bracket 4


def test_binance_bracket_rows_and_load_tiers(tmp_path: Path) -> None:
    """Binance leverageBracket rows (notionalFloor, cum, ...) load from a file."""
    rows = [
        {
            "bracket": i + 1,
            "initialLeverage": t.max_leverage,
            "notionalCap": t.notional_cap,
            "notionalFloor": t.notional_floor,
            "maintMarginRatio": t.mmr,
            "cum": t.maint_amount,
        }
        for i, t in enumerate(BUILTIN_TIERS["BTCUSDT"].tiers[:-1])
    ]
    f = tmp_path / "brackets.json"
    f.write_text(json.dumps({"BTCUSDT": rows}))
    tables = levguard.load_tiers(f)
    assert isinstance(tables, dict)
    assert tables["BTCUSDT"].tier(5_000_000).maint_amount == 11_450


def test_per_position_tier_override_and_fixed_rate() -> None:
    """Position ``tiers`` beat the built-in table; ``mmr`` alone is a fixed tier."""
    pos = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 50_000, "mark_price": 50_000}
    flat = [{"notional_floor": 0, "notional_cap": None, "mmr": 0.01, "max_leverage": 50}]
    a = levguard.evaluate_account(
        {"venue": "binance-usdm", "wallet_balance": 5_000, "positions": [{**pos, "tiers": flat}]}
    ).positions[0]
    b = levguard.evaluate_account(
        {"venue": "binance-usdm", "wallet_balance": 5_000, "positions": [{**pos, "mmr": 0.01}]}
    ).positions[0]
    assert a.mmr == b.mmr == 0.01
    assert a.liquidation_price == pytest.approx(b.liquidation_price)
    assert a.liquidation_price == pytest.approx((5_000 - 50_000) / (0.01 - 1))


def test_inverse_settlement_and_contract_size_defaults() -> None:
    """COIN-M BTCUSD_PERP: 100 USD contracts, settled in BTC; ETHUSD_PERP: 10 USD."""
    r = levguard.evaluate_account(
        {
            "venue": "binance-coinm",
            "wallet_balance": 1.0,
            "positions": [
                {"symbol": "BTCUSD_PERP", "qty": 100, "entry_price": 50_000, "mark_price": 50_000, "mmr": 0.004}
            ],
        }
    )
    assert r.settlement == "BTC"
    assert r.positions[0].notional == pytest.approx(100 * 100 / 50_000)
    e = levguard.evaluate_account(
        {
            "venue": "binance-coinm",
            "wallet_balance": 1.0,
            "positions": [
                {"symbol": "ETHUSD_PERP", "qty": 100, "entry_price": 2_000, "mark_price": 2_000, "mmr": 0.004}
            ],
        }
    )
    assert e.positions[0].notional == pytest.approx(100 * 10 / 2_000)
