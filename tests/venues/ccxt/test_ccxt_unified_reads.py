"""What the Bybit UTA reader does with rows it used to misread or refuse (real ccxt against the fake
of tests/fakes/bybit_uta.py; the account of tests/fakes/unified_accounts.py: 1 BTC, 2,000 USDT,
a 10 ETH short at 3,000 marked 3,100, margin balance 57,400, MM 150).

* An inverse position's PnL and MM sit on its coin's row (Bybit v5 "Get Wallet Balance":
  ``unrealisedPnl`` and ``totalPositionMM`` per coin; "Different Account Modes": UTA 2.0 shares
  margin with inverse contracts).  The read left them out: a BTCUSD long 0.2 BTC under water read
  as margin balance 57,400 and MM 150 (account MM rate 0.26 %) where the venue counts about
  45,400 and 750 (1.65 %).  Now it is refused, as Binance COIN-M PnL is.
* One unusable collateral row (a coin the account does not hold, with an empty ratio list) threw
  the whole venue table away for the built-in one (BTC and USDT only): an account holding ETH
  could not be evaluated at all.  Now that row alone is dropped, with a note.
* A borrowed coin still held (walletBalance == spotBorrow: equity 0, usdValue 0) gave no price and
  failed every read.  Now it is priced from its USDT perpetual's ticker (index price).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fakes.unified_accounts import bybit_uta_account, venue_of
from levguard.errors import InputError, VenuePermanentError
from levguard.margin import evaluate_account
from levguard.venues.ccxt_unified import UnifiedAccountRead


def _read(fake: Any, **kwargs: Any) -> UnifiedAccountRead:
    async def main() -> UnifiedAccountRead:
        v = venue_of(fake, **kwargs)
        try:
            assert v.unified is not None
            return await v.unified.read()
        finally:
            await v.close()

    with fake:
        return asyncio.run(main())


def _eth_tiers() -> dict[str, Any]:
    return {"currency": "ETH", "collateralRatioList": [{"minQty": "0", "maxQty": "", "collateralRatio": "0.9"}]}


def test_an_inverse_positions_pnl_on_a_coin_row_is_refused() -> None:
    fake = bybit_uta_account()
    fake.coins = [c for c in fake.coins if c["coin"] != "BTC"]
    fake.coin("BTC", 1.0, 60_000.0, upnl=-0.2, position_mm=0.01)  # a BTCUSD long, 0.2 BTC under water
    with pytest.raises(VenuePermanentError, match=r"coin-settled \(inverse\) positions \(BTC unrealisedPnl -0.2"):
        _read(fake)


def test_an_inverse_positions_mm_alone_is_refused_too() -> None:
    fake = bybit_uta_account()
    fake.coins = [c for c in fake.coins if c["coin"] != "BTC"]
    fake.coin("BTC", 1.0, 60_000.0, position_mm=0.01)  # at break-even: PnL 0, MM still counted
    with pytest.raises(VenuePermanentError, match=r"totalPositionMM 0\.01"):
        _read(fake)


def test_the_usdt_rows_pnl_and_mm_are_the_linear_positions_and_read() -> None:
    read = _read(bybit_uta_account())  # USDT row: unrealisedPnl -1,000, totalPositionMM 150
    assert read.balances == {"BTC": 1.0, "USDT": 2_000.0}


def test_one_bad_collateral_row_costs_its_asset_only() -> None:
    fake = bybit_uta_account()
    fake.coin("ETH", 2.0, 3_000.0)
    fake.collateral = [*fake.collateral, _eth_tiers(), {"currency": "XYZ", "collateralRatioList": []}]
    read = _read(fake)
    assert read.collateral_source.startswith("venue: GET /v5/spot-margin-trade/collateral")
    assert "rows dropped: XYZ must be a ratio or a non-empty list of tier rows" in read.collateral_source
    assert sorted(read.collateral_ratios) == ["BTC", "ETH", "USDT"]
    spec = read.spec([{"symbol": "ETH/USDT:USDT", "qty": -10.0, "entry_price": 3_000.0, "mark_price": 3_100.0,
                       "mmr": 0.005}])  # fmt: skip
    report = evaluate_account(spec)
    # 56,400 (BTC tiers) + 2,000 - 1,000 + 2 ETH x 3,000 x 0.9 = 62,800 (the built-in table has no ETH).
    assert report.equity == pytest.approx(62_800.0, rel=1e-12)


def test_a_table_with_no_usable_row_is_a_failed_fetch() -> None:
    fake = bybit_uta_account()
    fake.collateral = [{"currency": "BTC", "collateralRatioList": []}]
    read = _read(fake)
    assert read.collateral_source.startswith("built-in table as of")
    assert "no usable row" in read.collateral_source


def test_a_borrowed_coin_still_held_is_priced_from_its_ticker() -> None:
    fake = bybit_uta_account()
    fake.coin("ETH", 0.5, 3_000.0, spot_borrow=0.5, borrow=0.5)  # equity 0, usdValue 0
    fake.collateral = [*fake.collateral, _eth_tiers()]
    read = _read(fake, loan_mmr=0.1)
    assert read.prices["ETH"] == pytest.approx(3_100.0)  # ETHUSDT's index (the fake's mark)
    assert read.balances["ETH"] == 0.5
    assert read.borrowed == {"ETH": 0.5}
    assert any("ETH: equity 0.0, priced at ETH/USDT:USDT's index 3100" in n for n in read.notes)
    report = evaluate_account(read.spec([]))
    assert report.maintenance_margin == pytest.approx(0.5 * 0.1 * 3_100.0, rel=1e-12)  # the loan's MM


def test_an_unpriceable_coin_netting_to_zero_is_left_out_with_a_note() -> None:
    fake = bybit_uta_account()
    fake.coin("SOL", 4.0, 150.0, spot_borrow=4.0, borrow=4.0)  # no SOL perpetual on the fake
    read = _read(fake)
    assert "SOL" not in read.balances
    assert any(n.startswith("SOL: no USD value (equity 0.0) and no ticker") for n in read.notes)


def test_an_unpriceable_coin_that_counts_is_still_refused() -> None:
    fake = bybit_uta_account()
    fake.coin("SOL", 4.0, 150.0)
    fake.coins[-1]["usdValue"] = "0"  # no USD value for 4 SOL held, and no SOL ticker
    with pytest.raises(VenuePermanentError, match=r"no USD value for SOL .* no ticker to price it"):
        _read(fake)


def test_evaluate_account_stays_strict_on_a_coin_without_a_ratio() -> None:
    spec: dict[str, Any] = {"venue": "bybit-uta", "balances": {"ETH": 1.0, "USDT": -500.0}, "prices": {"ETH": 3_000.0}}
    with pytest.raises(InputError, match="no collateral ratio for ETH on bybit-uta"):
        evaluate_account(spec)
    # The caller opts in by giving the ratio: 0 counts the holding at nothing, the debt at face value.
    report = evaluate_account({**spec, "collateral_ratios": {"ETH": 0}})
    assert report.equity == -500.0
