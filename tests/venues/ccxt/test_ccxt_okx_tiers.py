"""OKX counts its position tiers in contracts.

OKX ``GET /api/v5/public/position-tiers`` (okx.com/docs-v5/en/#public-data-rest-api-get-position-tiers)
gives each tier's ``minSz``/``maxSz`` as numbers of contracts, and ccxt passes them on unchanged as
``minNotional``/``maxNotional`` (ccxt PR 11938: BTC-USDT tier 1 ``maxSz "500"`` shown as
``notionalCap: 500`` USDT).  Read as notional, an OKX table was rejected for its one-contract gaps
("0-5,000", "5,001-7,500"), so the guardian could not evaluate an OKX account with the venue's
tiers (and the data download refused them).  The guardian now reads them as tiers by position
size, ``contracts x ctVal`` (``TierTable.basis == "quantity"``), so a position keeps its tier as the
price moves, as on OKX; so does the data download and its daily snapshot.  The exchange here is
ccxt's own OKX class, with its HTTP answers replaced by the documented response shape, so ccxt's
parser runs as it does live.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

import levguard
from levguard.core.rules.okx import okx_tier_rows
from levguard.data.cache import ParquetCache
from levguard.data.download import CcxtSource
from levguard.errors import InputError
from levguard.venues.ccxt_adapter import CcxtVenue

SYMBOL = "BTC/USDT:USDT"
CT_VAL = 0.01  # BTC per BTC-USDT-SWAP contract (okx.com/help/7053456733325)
MARK = 100_000.0
MARKET = {
    "id": "BTC-USDT-SWAP", "symbol": SYMBOL, "base": "BTC", "quote": "USDT", "settle": "USDT",
    "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False, "margin": False,
    "swap": True, "future": False, "option": False, "contract": True, "linear": True, "inverse": False,
    "contractSize": CT_VAL, "active": True, "precision": {"amount": 0.1, "price": 0.1},
    "limits": {"amount": {"min": 0.1}}, "info": {"instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP"},
}  # fmt: skip


def _tier(tier: int, lo: str, hi: str, mmr: str, imr: str, lever: str) -> dict[str, str]:
    return {"tier": str(tier), "minSz": lo, "maxSz": hi, "mmr": mmr, "imr": imr, "maxLever": lever,
            "instFamily": "BTC-USDT", "uly": "BTC-USDT", "optMgnFactor": "0", "baseMaxLoan": "", "quoteMaxLoan": "",
            "instId": ""}  # fmt: skip


# The response shape of OKX's documentation, tiers in contracts with OKX's one-contract gaps.
POSITION_TIERS = {
    "code": "0",
    "msg": "",
    "data": [
        _tier(1, "0", "5000", "0.004", "0.008", "125"),
        _tier(2, "5001", "7500", "0.005", "0.01", "100"),
        _tier(3, "7501", "10000", "0.01", "0.02", "50"),
    ],
}


def _with_answers(exchange: Any, *, mark: float | None, is_async: bool) -> Any:
    exchange.set_markets([MARKET])

    def tiers(params: dict[str, Any] | None = None) -> dict[str, Any]:
        assert (params or {}).get("instFamily") == "BTC-USDT"
        return POSITION_TIERS

    def marks(symbols: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return {SYMBOL: {"symbol": SYMBOL, "markPrice": mark}}

    def one_mark(symbol: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"symbol": SYMBOL, "markPrice": mark}

    if is_async:

        async def a_tiers(params: dict[str, Any] | None = None) -> dict[str, Any]:
            return tiers(params)

        async def a_marks(symbols: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
            return marks(symbols)

        async def a_loaded(*args: Any, **kwargs: Any) -> Any:
            return exchange.markets

        exchange.publicGetPublicPositionTiers, exchange.fetch_mark_prices = a_tiers, a_marks
        exchange.load_markets = a_loaded
    else:
        exchange.publicGetPublicPositionTiers, exchange.fetch_mark_price = tiers, one_mark
        exchange.load_markets = lambda *a, **k: exchange.markets
    return exchange


def _live_table(mark: float | None = MARK) -> levguard.TierTable | None:
    venue = CcxtVenue("okx")
    _with_answers(venue._exchange, mark=mark, is_async=True)

    async def body() -> levguard.TierTable | None:
        try:
            return await venue.fetch_tiers(SYMBOL)
        finally:
            await venue.close()

    return asyncio.run(body())


def _evaluate(table: levguard.TierTable, contracts: float, mark: float = MARK) -> Any:
    spec = {
        "venue": "okx", "wallet_balance": 10_000_000, "tiers": {"BTC-USDT-SWAP": table},
        "positions": [{"symbol": "BTC-USDT-SWAP", "qty": contracts, "contract_size": CT_VAL,
                       "entry_price": mark, "mark_price": mark}],
    }  # fmt: skip
    return levguard.evaluate_account(spec).positions[0]


def test_the_guardians_okx_tiers_are_tiers_by_position_size() -> None:
    table = _live_table()
    assert table is not None
    assert table.basis == "quantity"
    assert [(t.notional_floor, t.notional_cap) for t in table.tiers] == [
        (0.0, 5_000 * CT_VAL), (5_000 * CT_VAL, 7_500 * CT_VAL), (7_500 * CT_VAL, 10_000 * CT_VAL),
    ]  # fmt: skip
    assert [t.mmr for t in table.tiers] == [0.004, 0.005, 0.01]
    assert "by position size" in table.source
    # The tier is the one of the position's contracts, the cap in the lower tier (okx.py):
    # 4,000 and exactly 5,000 contracts pay 0.4 % (+ the 0.05 % taker fee OKX adds), 5,000.1 pay 0.5 %,
    # at any mark.
    for contracts, rate, tier in ((4_000.0, 0.004, 1), (5_000.0, 0.004, 1), (5_000.1, 0.005, 2), (9_000.0, 0.01, 3)):
        for mark in (MARK, MARK / 3, MARK * 3):
            p = _evaluate(table, contracts, mark)
            assert p.maintenance_margin == pytest.approx(contracts * CT_VAL * mark * (rate + 0.0005), rel=1e-12)
            assert (p.tier, p.mmr) == (tier, rate)


def test_an_okx_position_keeps_its_tier_down_to_its_liquidation_price() -> None:
    """A long of 5,500 contracts (55 BTC) is in tier 2 (0.5 %) by its contracts at every price.
    Valued at the mark, tier 2 starts at 5,000 contracts x 0.01 x 100,000 = 5M USDT of notional,
    and the notional at the liquidation price (about 82,000 x 55 = 4.5M) is under 5M, so the tiers
    by notional put the liquidation price in tier 1 (0.4 %), too low."""
    table = _live_table()
    assert table is not None
    spec = {
        "venue": "okx", "wallet_balance": 0, "tiers": {"BTC-USDT-SWAP": table},
        "positions": [{"symbol": "BTC-USDT-SWAP", "qty": 5_500, "contract_size": CT_VAL, "entry_price": MARK,
                       "mark_price": MARK, "margin_mode": "isolated", "isolated_margin": 1_000_000}],
    }  # fmt: skip
    p = levguard.evaluate_account(spec).positions[0]
    # 1,000,000 + 55 (P - 100,000) = 55 P (0.5 % + 0.05 %): P = 4,500,000 / (55 x 0.9945)
    assert p.liquidation_price == pytest.approx(4_500_000 / (55 * 0.9945), rel=1e-12)
    assert (p.tier, p.mmr) == (2, 0.005)
    by_notional = levguard.evaluate_account({**spec, "tiers": {"BTC-USDT-SWAP": table.in_notional(MARK)}})
    assert by_notional.positions[0].liquidation_price == pytest.approx(4_500_000 / (55 * 0.9955), rel=1e-12)


def test_okx_tiers_need_no_mark() -> None:
    table = _live_table(mark=None)
    assert table is not None
    assert table.basis == "quantity"


def test_the_downloaded_okx_tiers_are_by_size_and_so_is_their_snapshot(tmp_path: Path) -> None:
    """The download asks for no mark (it used to value the caps at the day's mark, exact on that
    day only), and the day's snapshot gives the same table back, by size, without a request."""
    exchange = _with_answers(ccxt.okx(), mark=None, is_async=False)
    source = CcxtSource(exchange, ParquetCache(tmp_path / "cache"), sleep=lambda s: None)
    table = source.leverage_tiers([SYMBOL])[SYMBOL]
    assert table.basis == "quantity"
    assert not table.deduction
    assert [t.notional_cap for t in table.tiers] == pytest.approx([50.0, 75.0, 100.0])  # BTC: contracts x 0.01
    assert table.source.endswith("(contracts of 0.01, by position size)")
    exchange.fetch_market_leverage_tiers = None  # the snapshot must answer
    again = source.leverage_tiers([SYMBOL])[SYMBOL]
    assert (again.basis, again.deduction, again.tiers, again.source) == ("quantity", False, table.tiers, table.source)
    # 5,500 contracts (55 BTC) are in tier 2 at any price, as the venue reads them.
    assert table.at_quantity(55.0).tiers[0].mmr == 0.005


def test_an_old_or_unreadable_okx_snapshot_is_fetched_again(tmp_path: Path) -> None:
    """Today's OKX snapshot written before tiers by size (valued at a mark, no basis) would give
    a notional table back for the rest of the day; an unreadable one raised a raw JSON error."""
    exchange = _with_answers(ccxt.okx(), mark=None, is_async=False)
    source = CcxtSource(exchange, ParquetCache(tmp_path / "cache"), sleep=lambda s: None)
    table = source.leverage_tiers([SYMBOL])[SYMBOL]
    (path,) = (tmp_path / "cache").rglob("*.json")
    snap = json.loads(path.read_text())
    for text in (json.dumps({k: v for k, v in snap.items() if k != "basis"}), "{not json", json.dumps({"tiers": 1})):
        path.write_text(text)
        again = source.leverage_tiers([SYMBOL])[SYMBOL]
        assert (again.basis, again.tiers) == ("quantity", table.tiers)
        assert json.loads(path.read_text())["basis"] == "quantity"  # written anew


def test_the_download_command_prints_okx_tiers_by_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from levguard.cli.main import app
    from levguard.data import download as download_pkg

    monkeypatch.setattr(
        download_pkg, "make_exchange", lambda *a, **k: _with_answers(ccxt.okx(), mark=None, is_async=False)
    )
    args = ["data", "download", "--source", "ccxt", "--exchange", "okx", "--symbol", SYMBOL, "--kind", "tiers",
            "--cache-dir", str(tmp_path)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "tiers: 3 by position size (contracts x contract size)"
    # OKX's caps belong to their tier (a position of exactly 75 pays 0.5 %): (floor, cap].
    assert lines[2] == "  (50, 75] mmr=0.005 maint_amount=0.00 max_leverage=100"
    assert lines[3] == "  (75, 100] mmr=0.01 maint_amount=0.00 max_leverage=50"
    from levguard.cli.data_download import _amount

    assert (_amount(2e6, True), _amount(0.01, True), _amount(1_234_567.5, False)) == ("2,000,000", "0.01", "1,234,568")


def test_a_tier_file_holds_tiers_by_size(tmp_path: Path) -> None:
    """``load_tiers`` reads a symbol's ``{basis: quantity, rows}`` as an account spec does, so the
    table written by ``to_spec`` comes back as it was."""
    table = _live_table(mark=None)
    assert table is not None
    f = tmp_path / "tiers.json"
    f.write_text(
        json.dumps(
            {"BTC-USDT-SWAP": table.to_spec(), "BTCUSDT": [{"notional_cap": 1e6, "mmr": 0.004, "max_leverage": 125}]}
        )
    )
    tables = levguard.load_tiers(f)
    assert isinstance(tables, dict)
    okx, plain = tables["BTC-USDT-SWAP"], tables["BTCUSDT"]
    assert (okx.basis, okx.deduction, okx.tiers) == ("quantity", False, table.tiers)
    assert okx.source == str(f)
    assert plain.basis == "notional"
    f.write_text(json.dumps(table.to_spec()))  # a file holding one table
    one = levguard.load_tiers(f)
    assert isinstance(one, levguard.TierTable)
    assert (one.basis, one.tiers) == ("quantity", table.tiers)
    f.write_text(json.dumps({"X": {"basis": "size", "rows": []}}))
    with pytest.raises(InputError, match=r"\['X'\]\.basis must be one of notional, quantity, was 'size'"):
        levguard.load_tiers(f)
    f.write_text(
        json.dumps(
            {
                "X": {
                    "basis": "quantity",
                    "rows": [{"notional_cap": 5, "mmr": 0.01, "max_leverage": 50, "maint_amount": 1}],
                }
            }
        )
    )
    with pytest.raises(InputError, match="maint_amount"):
        levguard.load_tiers(f)


def test_okx_tier_rows_inverse_and_bad_input() -> None:
    """Coin-margined: 100 USD contracts valued in coin, ``c x 100 / mark``."""
    rows = [{"minNotional": 0, "maxNotional": 1_000, "maintenanceMarginRate": 0.005, "maxLeverage": 100},
            {"minNotional": 1_001, "maxNotional": None, "maintenanceMarginRate": 0.01, "maxLeverage": 50}]  # fmt: skip
    out = okx_tier_rows(rows, contract_size=100.0, price=50_000.0, inverse=True)
    assert [(r["minNotional"], r["maxNotional"]) for r in out] == [(0.0, 2.0), (2.0, float("inf"))]
    with pytest.raises(InputError, match="price must be > 0, was 0"):
        okx_tier_rows(rows, contract_size=100.0, price=0.0)
    with pytest.raises(InputError, match=r"rows\[0\]\.maxNotional must be a number of contracts, was 'x'"):
        okx_tier_rows([{**rows[0], "maxNotional": "x"}], contract_size=1.0, price=1.0)
    with pytest.raises(InputError, match=r"rows\[1\]\.maxNotional must rise above"):
        okx_tier_rows([rows[0], {**rows[1], "maxNotional": 500}], contract_size=1.0, price=1.0)
    with pytest.raises(InputError, match="at least one OKX tier"):
        okx_tier_rows([], contract_size=1.0, price=1.0)


def test_ccxt_passes_okx_contract_counts_on_as_notional() -> None:
    """The premise, pinned to the installed ccxt: if ccxt ever converts the sizes itself, this
    fails and the conversion here must go."""
    exchange = _with_answers(ccxt.okx(), mark=MARK, is_async=False)
    rows = exchange.fetch_market_leverage_tiers(SYMBOL)
    assert [(r["minNotional"], r["maxNotional"]) for r in rows] == [(0, 5000), (5001, 7500), (7501, 10000)]
    assert ccxt_async.okx().has.get("fetchMarketLeverageTiers")
