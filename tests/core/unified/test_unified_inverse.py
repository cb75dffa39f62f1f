"""COIN-M (inverse) positions in Binance Portfolio Margin accounts (``binance-pm``; issue 18).

Reading the spec (COIN-M symbols, ccxt positions, contract sizes, the coin's row), the refusals
(Bybit UTA, OKX multi-currency, settlement, missing brackets), a mixed account by hand, COIN-M
brackets in coin, the Python path taking these accounts, and the report's
``liquidation_price_basis`` in the JSON and the CLI table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.core.unified import (
    LIQUIDATION_PRICE_BASIS,
    evaluate_unified,
    is_coin_margined_symbol,
    unified_account_from_spec,
)
from levguard.core.unified_fast import evaluate_unified_fast
from levguard.errors import InputError

Spec = dict[str, Any]
runner = CliRunner()


def mixed(**over: Any) -> Spec:
    """6,000 USDT and 0.16 BTC (0.04 borrowed) back a BTCUSDT short and a BTCUSD_PERP long."""
    spec: Spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 6000, "BTC": 0.16},
        "borrowed": {"BTC": 0.04},
        "loan_mmr": 0.1,
        "prices": {"BTC": 40000},
        "positions": [
            {"symbol": "BTCUSDT", "qty": -0.05, "entry_price": 52000, "mark_price": 40000, "mmr": 0.005},
            {"symbol": "BTCUSD_PERP", "qty": 100, "entry_price": 50000, "mark_price": 40000, "mmr": 0.005},
        ],
    }
    spec.update(over)
    return spec


def test_mixed_account_by_hand() -> None:
    """USDT 6,000 + 600 = 6,600; BTC 0.12 - 0.05 = 0.07 at 0.95 x 40,000 = 2,660; E = 9,260.
    MM = 10 (USDⓈ-M) + 0.00125 x 40,000 (COIN-M) + 0.004 x 40,000 (loan) = 220.  IM = 2,000 / 125
    + 0.0025 BTC x 40,000 = 116 (each leg at its bracket's cap, 1 / (2 MMR))."""
    r = levguard.evaluate_account(mixed())
    rows = {c.asset: c for c in r.collateral or ()}
    assert rows["USDT"].amount == pytest.approx(6600.0, rel=1e-15)
    assert rows["BTC"].amount == pytest.approx(0.07, rel=1e-14)
    assert r.equity == pytest.approx(9260.0, rel=1e-14)
    assert r.maintenance_margin == pytest.approx(220.0, rel=1e-14)
    assert r.initial_margin == pytest.approx(116.0, rel=1e-14)
    assert r.wallet_balance == pytest.approx(6000 + 0.12 * 40000, rel=1e-15)
    assert r.account_ratio == pytest.approx(9260 / 220, rel=1e-14)
    usdm, coinm = r.positions
    assert (usdm.contract_kind, coinm.contract_kind) == ("linear", "inverse")


def test_mixed_account_liquidation_prices_closed_form() -> None:
    """BTCUSD_PERP, the rest held: with the BTC amount below 0 at the root (a debt counts at face
    value), E(P) = 6,600 + 40,000 (0.32 - 10,000 / P) and MM(P) = 170 + 2,000,000 / P: E = 1.05 MM
    at P = 402,100,000 / 19,221.5; E = 0 at P = 400,000,000 / 19,400.  BTCUSDT: E(P) = 11,260 -
    0.05 P, MM(P) = 210 + 0.00025 P: P = 11,039.5 / 0.0502625, bankrupt at 11,260 / 0.05."""
    usdm, coinm = levguard.evaluate_account(mixed()).positions
    assert coinm.liquidation_price == pytest.approx(402_100_000 / 19_221.5, rel=1e-12)
    assert coinm.bankruptcy_price == pytest.approx(400_000_000 / 19_400, rel=1e-12)
    assert usdm.liquidation_price == pytest.approx(11_039.5 / 0.0502625, rel=1e-12)
    assert usdm.bankruptcy_price == pytest.approx(11_260 / 0.05, rel=1e-12)


def test_the_report_follows_the_specs_order() -> None:
    spec = mixed()
    spec["positions"] = [spec["positions"][1], spec["positions"][0]]
    r = levguard.evaluate_account(spec)
    assert [p.symbol for p in r.positions] == ["BTCUSD_PERP", "BTCUSDT"]
    ua = unified_account_from_spec(spec)
    assert [p.symbol for p in ua.book] == ["BTCUSD_PERP", "BTCUSDT"]
    assert [p.symbol for p in ua.positions.positions] == ["BTCUSDT"]  # the linear USDT book
    assert [p.symbol for p in ua.coin_positions] == ["BTCUSD_PERP"]


@pytest.mark.parametrize(
    ("symbol", "coinm"),
    [
        ("BTCUSD_PERP", True),
        ("ethusd_250627", True),
        ("BTC/USD:BTC", True),
        ("BTC/USD:BTC-250627", True),
        ("BTCUSDT", False),
        ("BTCUSDT_250627", False),
        ("BTC/USDT:USDT", False),
        ("BTC/USD:ETH", False),
    ],
)
def test_coin_margined_symbols(symbol: str, coinm: bool) -> None:
    assert is_coin_margined_symbol(symbol) is coinm


def test_contract_sizes_and_the_coins_row() -> None:
    """BTCUSD is 100 USD a contract, the rest 10 USD (Binance COIN-M contract specifications); an
    ETH COIN-M position puts an ETH row in the account (its price and collateral ratio required)."""
    spec: Spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 1000},
        "prices": {"BTC": 50000, "ETH": 2500},
        "collateral_ratios": {"ETH": 0.9},
        "positions": [
            {"symbol": "BTCUSD_PERP", "qty": -3, "entry_price": 50000, "mark_price": 50000, "mmr": 0.004},
            {"symbol": "ETHUSD_PERP", "qty": 20, "entry_price": 2500, "mark_price": 2500, "mmr": 0.005},
        ],
    }
    ua = unified_account_from_spec(spec)
    btc, eth = ua.coin_positions
    assert (btc.instrument.contract_size, btc.q, btc.instrument.settlement) == (100.0, -300.0, "BTC")
    assert (eth.instrument.contract_size, eth.q, eth.instrument.settlement) == (10.0, 200.0, "ETH")
    assert [a.name for a in ua.assets] == ["USDT", "BTC", "ETH"]
    r = evaluate_unified(ua)
    assert r.maintenance_margin == pytest.approx(0.004 * 300 + 0.005 * 200, rel=1e-14)
    with pytest.raises(InputError, match=r"prices.ETH is required"):
        levguard.evaluate_account({**spec, "prices": {"BTC": 50000}})
    with pytest.raises(InputError, match=r"no collateral ratio for ETH on binance-pm"):
        levguard.evaluate_account({**spec, "collateral_ratios": {}})


def test_ccxt_coinm_position() -> None:
    """ccxt reports a COIN-M position as BTC/USD:BTC with unsigned contracts, a side and a
    contractSize of 100: the same account as the spec's own shape."""
    ccxt = {
        "symbol": "BTC/USD:BTC",
        "contracts": 100,
        "side": "long",
        "contractSize": 100,
        "entryPrice": 50000,
        "markPrice": 40000,
        "maintenanceMarginPercentage": 0.005,
    }
    empty = {**ccxt, "symbol": "ETH/USD:ETH", "contracts": 0}
    a = levguard.evaluate_account(mixed(positions=[mixed()["positions"][0], ccxt, empty]))
    b = levguard.evaluate_account(mixed())
    assert len(a.positions) == 2
    assert a.equity == b.equity
    assert a.maintenance_margin == b.maintenance_margin
    assert a.positions[1].liquidation_price == b.positions[1].liquidation_price


def test_coinm_brackets_in_coin() -> None:
    """COIN-M brackets count the notional in coins (``qtyFloor``/``qtyCap``, as Binance's COIN-M
    ``leverageBracket``) with the maintenance amount in coins.  Our table (not Binance's): 0-5 BTC at
    0.5 %, 5-10 at 1 %, 10-20 at 2.5 %; cum by continuity 0, 0.025, 0.175.  A 12 BTC notional
    (600,000 USD at 50,000) needs 12 x 2.5 % - 0.175 = 0.125 BTC = 6,250 USD."""
    tiers = [
        {"qtyFloor": 0, "qtyCap": 5, "maintMarginRatio": 0.005, "initialLeverage": 100},
        {"qtyFloor": 5, "qtyCap": 10, "maintMarginRatio": 0.01, "initialLeverage": 50},
        {"qtyFloor": 10, "qtyCap": 20, "maintMarginRatio": 0.025, "initialLeverage": 20},
    ]
    spec: Spec = {
        "venue": "binance-pm",
        "balances": {"BTC": 2},
        "prices": {"BTC": 50000},
        "tiers": {"BTCUSD_PERP": tiers},
        "positions": [{"symbol": "BTCUSD_PERP", "qty": 6000, "entry_price": 50000, "mark_price": 50000}],
    }
    r = levguard.evaluate_account(spec)
    (p,) = r.positions
    assert p.tier == 3
    assert p.maintenance_margin == pytest.approx(0.125, rel=1e-12)
    assert r.maintenance_margin == pytest.approx(6250.0, rel=1e-12)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (
            mixed(
                venue="bybit-uta",
                positions=[
                    {"symbol": "BTCUSD", "qty": 1, "entry_price": 1, "mark_price": 1, "contract_kind": "inverse"}
                ],
            ),
            "contract_kind must be linear on bybit-uta (Bybit keeps inverse contracts out of the UTA's cross margin",
        ),
        (
            mixed(
                venue="okx-mcm",
                positions=[
                    {"symbol": "BTC-USD-SWAP", "qty": 1, "entry_price": 1, "mark_price": 1, "contract_kind": "inverse"}
                ],
            ),
            "contract_kind must be linear on okx-mcm (OKX multi-currency margin is modelled for linear",
        ),
        (
            mixed(positions=[{"symbol": "BTCUSD_PERP", "qty": 1, "entry_price": 5e4, "mark_price": 5e4}]),
            "positions[0] BTCUSD_PERP: no built-in tiers for this symbol on binance-coinm",
        ),
        (
            mixed(
                positions=[
                    {"symbol": "BTCUSD_PERP", "qty": 1, "entry_price": 5e4, "mark_price": 5e4, "settlement": "USDT"}
                ]
            ),
            "positions[0] (BTCUSD_PERP).settlement must be BTC on binance-pm",
        ),
        (
            mixed(
                positions=[
                    {"symbol": "BTCUSD_PERP", "qty": 1, "entry_price": 5e4, "mark_price": 5e4, "mmr": 0.005},
                    {"symbol": "BTCUSD_PERP", "qty": 2, "entry_price": 5e4, "mark_price": 5e4, "mmr": 0.005},
                ]
            ),
            "positions[1].symbol 'BTCUSD_PERP' appears twice",
        ),
        (
            mixed(
                positions=[
                    {
                        "symbol": "BTCUSD_PERP",
                        "qty": 1,
                        "entry_price": 5e4,
                        "mark_price": 5e4,
                        "mmr": 0.005,
                        "margin_mode": "isolated",
                        "leverage": 10,
                    }
                ]
            ),
            "positions[0] (BTCUSD_PERP).margin_mode must be cross on binance-pm",
        ),
        (mixed(positions=[{"symbol": "BTCUSD_PERP", "qty": 1, "entry_price": 0, "mark_price": 5e4}]), "entry_price"),
        (mixed(positions="BTCUSD_PERP"), "positions must be a list"),
        (mixed(positions=[5]), "positions[0] must be an object, was 5"),
    ],
)
def test_refusals_name_the_value(spec: Spec, needle: str) -> None:
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        levguard.evaluate_account(spec)


def test_coinm_accounts_take_the_python_path() -> None:
    """The kernel holds one settlement asset: it leaves accounts with COIN-M positions to the
    Python path (which gives the report); linear accounts keep the kernel."""
    ua = unified_account_from_spec(mixed())
    assert evaluate_unified_fast(ua) is None
    linear = unified_account_from_spec(mixed(positions=mixed()["positions"][:1]))
    assert evaluate_unified_fast(linear) == evaluate_unified(linear)
    assert evaluate_unified(ua).positions[1].contract_kind == "inverse"


def test_explicit_linear_kind_keeps_a_coinm_looking_symbol_linear() -> None:
    spec = mixed(
        positions=[
            {
                "symbol": "BTCUSD_PERP",
                "qty": 1,
                "entry_price": 5e4,
                "mark_price": 5e4,
                "mmr": 0.005,
                "contract_kind": "linear",
            }
        ]
    )
    (p,) = levguard.evaluate_account(spec).positions
    assert p.contract_kind == "linear"


def test_liquidation_price_basis_in_json_and_not_on_single_wallets() -> None:
    out = levguard.evaluate_account(mixed()).to_dict()
    assert out["liquidation_price_basis"] == LIQUIDATION_PRICE_BASIS
    assert "every other mark and every collateral price is held" in LIQUIDATION_PRICE_BASIS
    linear = levguard.evaluate_account(mixed(positions=mixed()["positions"][:1])).to_dict()
    assert linear["liquidation_price_basis"] == LIQUIDATION_PRICE_BASIS
    single = levguard.evaluate_account(
        {"venue": "binance-usdm", "wallet_balance": 1000, "positions": [mixed()["positions"][0]]}
    ).to_dict()
    assert "liquidation_price_basis" not in single


def test_cli_margin_shows_coinm_rows_and_the_basis(tmp_path: Path) -> None:
    path = tmp_path / "coinm.json"
    path.write_text(json.dumps(mixed()), encoding="utf-8")
    table = runner.invoke(app, ["margin", str(path)], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    out = " ".join(table.stdout.split())
    assert "BTCUSD_PERP" in out
    assert "0.001250" in out
    assert "-0.050000" in out
    assert "20,919.28" in out  # its liquidation price, the rest held
    assert "liq price: each position's liquidation and bankruptcy prices move that position's mark alone" in out
    assert "inverse (COIN-M) rows are in their coin" in out
    assert "uniMMR 42.09" in out
    res = runner.invoke(app, ["margin", str(path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["liquidation_price_basis"] == LIQUIDATION_PRICE_BASIS
    assert data["positions"][1]["contract_kind"] == "inverse"
    assert round(data["positions"][1]["liquidation_price"], 2) == 20919.28


def test_cli_margin_error_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(mixed(positions=[{"symbol": "BTCUSD_PERP", "qty": 1, "entry_price": 5e4, "mark_price": 5e4}])),
        encoding="utf-8",
    )
    res = runner.invoke(app, ["margin", str(path)])
    assert res.exit_code == 2
    assert "no built-in tiers for this symbol on binance-coinm" in res.output
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("btc", [0.01, 0.010000000000000002])
def test_a_short_exactly_covered_by_its_coin_is_never_liquidated(btc: float) -> None:
    # 200 USD of BTCUSD_PERP short at 20,000 against 0.01 BTC: the coin equity is 200 / P > 0 at
    # every price and uniMMR = 1 / MMR.  The float PnL stops resolving the price beyond
    # 2**52 x entry; the search used to read that rounding as a liquidation at 2.95e20 (found by
    # the rate-one property against the COIN-M cross engine, which says None).
    pos = {"symbol": "BTCUSD_PERP", "qty": -2, "entry_price": 20000.0, "mark_price": 20000.0, "mmr": 0.004}
    spec = {"venue": "binance-pm", "balances": {"BTC": btc}, "prices": {"BTC": 30000.0}, "positions": [pos]}
    (p,) = levguard.evaluate_account({**spec, "collateral_ratios": {"BTC": 1.0}}).positions
    (c,) = levguard.evaluate_account(
        {"venue": "binance-coinm", "margin_mode": "cross", "wallet_balance": btc, "positions": [pos]}
    ).positions
    assert p.liquidation_price is None
    assert p.bankruptcy_price is None
    assert c.liquidation_price is None
    assert c.bankruptcy_price is None
    # An uncovered short still has its price: one satoshi less coin.
    (u,) = levguard.evaluate_account({**spec, "balances": {"BTC": btc - 1e-8}}).positions
    assert u.bankruptcy_price is not None
    assert u.bankruptcy_price < 1e15
