"""Unified accounts read through real ccxt from local fakes in the venues' documented shapes (issue 18):
Binance Portfolio Margin (``binance`` with ``portfolioMargin``: papi and sapi portfolio endpoints)
and Bybit's Unified Trading Account (v5).  The reads become the spec ``evaluate_account`` takes;
the figures are computed by hand (tests/fakes/unified_accounts.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from fakes import binance_pm
from fakes._server import Reply
from fakes.unified_accounts import (
    ETH,
    PM_EQUITY,
    PM_MM,
    PM_UNIMMR,
    UTA_MARGIN_BALANCE,
    UTA_MM,
    UTA_MM_RATE,
    binance_pm_account,
    bybit_uta_account,
    venue_of,
)
from levguard.errors import InputError, VenueAuthError, VenuePermanentError
from levguard.margin import evaluate_account
from levguard.venues.ccxt_adapter import CcxtVenue
from levguard.venues.ccxt_unified import UnifiedAccountRead

_T = TypeVar("_T")


def _run(fake: Any, exchange: str, body: Callable[[CcxtVenue], Awaitable[_T]], **kwargs: Any) -> _T:
    # ``exchange`` names the fake's venue in the call sites; the venue is built from the fake.
    assert exchange == ("binance" if isinstance(fake, binance_pm.FakeBinancePm) else "bybit")

    async def main() -> _T:
        v = venue_of(fake, **kwargs)
        try:
            return await body(v)
        finally:
            await v.close()

    return asyncio.run(main())


async def _spec(v: CcxtVenue) -> tuple[UnifiedAccountRead, dict[str, Any]]:
    # The read and the spec the guardian builds from it (positions at their marks, venue tiers).
    assert v.unified is not None
    read = await v.unified.read()
    positions = await v.fetch_positions()
    rows = [
        {"symbol": p.symbol, "qty": p.qty, "entry_price": p.entry_price, "mark_price": p.mark_price} for p in positions
    ]
    spec = read.spec(rows)
    spec["tiers"] = {p.symbol: await v.fetch_tiers(p.symbol) for p in positions}
    return read, spec


# ---------------------------------------------------------------------- Binance Portfolio Margin


def test_binance_pm_read_is_the_papi_account_in_the_unified_spec() -> None:
    with binance_pm_account() as fake:
        read, spec = _run(fake, "binance", _spec)
        paths = fake.paths()
    assert read.venue == "binance-pm"
    assert dict(read.balances) == {"BTC": 1.0, "USDT": 2_000.0}
    assert dict(read.prices) == {"BTC": 60_000.0, "USDT": 1.0}
    assert read.borrowed == {}
    assert (read.venue_ratio_name, read.venue_ratio) == ("uniMMR", pytest.approx(PM_UNIMMR, rel=1e-9))
    assert read.venue_status == "NORMAL"
    assert read.venue_equity == pytest.approx(PM_EQUITY)
    assert read.collateral_source.startswith("venue: GET /sapi/v2/portfolio/collateralRate (")
    assert read.balance.currency == "USD"
    assert read.balance.wallet_balance == pytest.approx(62_000.0)  # face value: 60,000 + 2,000
    assert spec["collateral_ratios"]["BTC"][1]["collateralRate"] == "0.9000"
    report = evaluate_account(spec)
    assert report.account_ratio_name == "uniMMR"
    assert report.equity == pytest.approx(PM_EQUITY, rel=1e-12)
    assert report.maintenance_margin == pytest.approx(PM_MM, rel=1e-12)
    assert report.account_ratio == pytest.approx(PM_UNIMMR, rel=1e-12)
    (pos,) = report.positions
    assert (pos.symbol, pos.qty) == (ETH, pytest.approx(-10.0))
    for path in (
        "/papi/v1/balance",
        "/papi/v1/account",
        "/papi/v1/um/positionRisk",
        "/papi/v1/um/leverageBracket",
        "/sapi/v1/portfolio/asset-index-price",
        "/sapi/v2/portfolio/collateralRate",
    ):
        assert path in paths, path
    assert not any(p.startswith("/fapi/v3/") or p.startswith("/api/") for p in paths), paths


def test_binance_pm_index_prices_are_asked_one_asset_at_a_time() -> None:
    # Binance weighs the endpoint 1 with an asset and 50 without.
    with binance_pm_account() as fake:
        _run(fake, "binance", lambda v: v.unified.read())  # type: ignore[union-attr]
        asked = sorted(r.query.get("asset", "") for r in fake.requests if r.path.endswith("asset-index-price"))
    assert asked == ["BTC", "USDT"]


def test_binance_pm_loans_without_and_with_their_maintenance_margin() -> None:
    fake = binance_pm_account()
    fake.balances = []
    fake.wallet("BTC", 1.0)
    fake.wallet("USDT", 2_000.0, borrowed=500.0, interest=1.0)
    with fake:
        plain, _ = _run(fake, "binance", _spec)
        read, spec = _run(fake, "binance", _spec, loan_mmr=0.1)
    # Without a loan MM rate the loan counts at face value in the equity only.
    assert dict(plain.balances) == {"BTC": 1.0, "USDT": pytest.approx(1_499.0)}
    assert plain.borrowed == {}
    # With one: the coins held, the loan (principal and interest) and its MM.
    assert dict(read.balances) == {"BTC": 1.0, "USDT": pytest.approx(2_000.0)}
    assert dict(read.borrowed) == {"USDT": pytest.approx(501.0)}
    assert spec["loan_mmr"] == 0.1
    report = evaluate_account(spec)
    assert report.equity == pytest.approx(PM_EQUITY - 501.0, rel=1e-12)
    assert report.maintenance_margin == pytest.approx(PM_MM + 50.1, rel=1e-12)


def test_binance_pm_coin_margined_positions_are_refused_naming_the_field() -> None:
    fake = binance_pm_account()
    fake.balances[0]["cmUnrealizedPNL"] = "-0.01000000"
    with fake, pytest.raises(VenuePermanentError, match=r"COIN-M positions \(cmUnrealizedPNL BTC -0\.01\)"):
        _run(fake, "binance", lambda v: v.unified.read())  # type: ignore[union-attr]


def test_binance_pm_classic_rates_when_the_tiered_endpoint_is_refused() -> None:
    fake = binance_pm_account()
    fake.collateral_v2 = None  # answered 400 -21001
    fake.collateral_v1 = [{"asset": "BTC", "collateralRate": "0.9000"}, {"asset": "USDT", "collateralRate": "1.0000"}]
    with fake:
        read, spec = _run(fake, "binance", _spec)
    assert read.collateral_source.startswith("venue: GET /sapi/v1/portfolio/collateralRate (")
    assert spec["collateral_ratios"]["BTC"] == "0.9000"
    assert evaluate_account(spec).equity == pytest.approx(60_000 * 0.9 + 1_000.0, rel=1e-12)


def test_a_rejected_collateral_payload_falls_back_to_the_built_in_table() -> None:
    fake = binance_pm_account()
    fake.collateral_v2 = [
        {"asset": "BTC", "collateralInfo": [{"tierFloor": "0", "tierCap": "10", "collateralRate": "1.7"}]}
    ]
    with fake:
        read, spec = _run(fake, "binance", _spec)
    assert read.collateral_source.startswith("built-in table as of 2022-04-18; last fetch failed:")
    assert "collateral ratios must be fractions in [0, 1], was 1.7" in read.collateral_source
    assert spec["collateral_ratios"] == {}
    assert evaluate_account(spec).equity == pytest.approx(57_000.0 + 1_000.0, rel=1e-12)  # BTC at the built-in 0.95


def test_the_collateral_table_is_cached_for_its_ttl() -> None:
    now = [0.0]
    with binance_pm_account() as fake:

        async def body(v: CcxtVenue) -> None:
            assert v.unified is not None
            v.unified.clock = lambda: now[0]
            await v.unified.read()
            now[0] = 3_599.0
            await v.unified.read()
            now[0] = 3_601.0
            await v.unified.read()

        _run(fake, "binance", body)
        asked = fake.count("/sapi/v2/portfolio/collateralRate")
    assert asked == 2


def test_an_auth_failure_on_the_balance_is_an_auth_error() -> None:
    with binance_pm_account() as fake, pytest.raises(VenueAuthError, match="fetch_balance"):
        _run(fake, "binance", lambda v: v.unified.read(), secret="wrong")  # type: ignore[union-attr]


# ---------------------------------------------------------------------- Bybit UTA


def test_bybit_uta_read_is_the_wallet_balance_in_the_unified_spec() -> None:
    with bybit_uta_account() as fake:
        read, spec = _run(fake, "bybit", _spec)
        paths = fake.paths()
    assert read.venue == "bybit-uta"
    assert dict(read.balances) == {"BTC": 1.0, "USDT": 2_000.0}
    assert read.prices["BTC"] == pytest.approx(60_000.0, rel=1e-12)  # usdValue / equity
    assert (read.venue_ratio_name, read.venue_ratio) == ("accountMMRate", 0.0026)
    assert read.collateral_source.startswith("venue: GET /v5/spot-margin-trade/collateral (")
    report = evaluate_account(spec)
    assert report.account_ratio_name == "account_mm_rate"
    assert report.equity == pytest.approx(UTA_MARGIN_BALANCE, rel=1e-12)
    assert report.maintenance_margin == pytest.approx(UTA_MM, rel=1e-12)
    assert report.account_ratio == pytest.approx(UTA_MM_RATE, rel=1e-12)
    for path in ("/v5/account/wallet-balance", "/v5/position/list", "/v5/spot-margin-trade/collateral"):
        assert path in paths, path
    assert "/v5/user/query-api" not in paths  # the account is known to be a UTA
    wallet = next(r for r in fake.requests if r.path == "/v5/account/wallet-balance")
    assert wallet.query["accountType"] == "UNIFIED"


def test_bybit_risk_limits_with_a_blank_deduction_become_tiers() -> None:
    # Bybit's first risk limit reports mmDeduction "" ("Get Risk Limit" response example).
    with bybit_uta_account() as fake:
        table = _run(fake, "bybit", lambda v: v.fetch_tiers(ETH))
    assert table is not None
    assert [t.maint_amount for t in table.tiers] == [0.0, 4_500.0]
    assert table.maintenance_margin(30_000.0) == pytest.approx(150.0)


def test_bybit_spot_liabilities_and_coins_off_collateral() -> None:
    fake = bybit_uta_account()
    fake.coins = []
    fake.coin("BTC", 1.0, 60_000.0)
    # 3,000 USDT borrowed to buy ETH: the wallet shows what is held, spotBorrow what is owed.
    fake.coin("USDT", 2_000.0, 1.0, upnl=-1_000.0, borrow=3_000.0, spot_borrow=3_000.0)
    fake.coin("ETH", 1.0, 3_100.0)
    fake.coins[-1]["collateralSwitch"] = False  # the user turned ETH off as collateral
    with fake:
        read, spec = _run(fake, "bybit", _spec)
        with_loans, loan_spec = _run(fake, "bybit", _spec, loan_mmr=0.05)
    assert dict(read.balances) == {"BTC": 1.0, "USDT": -1_000.0}
    assert "ETH: collateral off on the venue, not counted" in read.notes
    assert dict(with_loans.balances) == {"BTC": 1.0, "USDT": 2_000.0}
    assert dict(with_loans.borrowed) == {"USDT": 3_000.0}
    report = evaluate_account(loan_spec)
    assert report.maintenance_margin == pytest.approx(UTA_MM + 150.0, rel=1e-12)
    assert report.equity == pytest.approx(UTA_MARGIN_BALANCE - 3_000.0, rel=1e-12)
    assert evaluate_account(spec).equity == pytest.approx(report.equity, rel=1e-12)


def test_bybit_an_invalid_key_is_an_auth_error() -> None:
    with bybit_uta_account() as fake, pytest.raises(VenueAuthError, match="10003"):
        _run(fake, "bybit", lambda v: v.unified.read(), api_key="not-the-key")  # type: ignore[union-attr]


def test_bybit_a_failing_collateral_endpoint_keeps_the_last_table() -> None:
    now = [0.0]
    fake = bybit_uta_account()
    with fake:

        async def body(v: CcxtVenue) -> list[UnifiedAccountRead]:
            assert v.unified is not None
            v.unified.clock = lambda: now[0]
            first = await v.unified.read()
            now[0] = 4_000.0  # past the table's hour
            fake.inject("/v5/spot-margin-trade/collateral", Reply(502, b"<html>502 Bad Gateway</html>"))
            second = await v.unified.read()
            now[0] = 4_100.0  # within the retry interval: not asked
            third = await v.unified.read()
            return [first, second, third]

        reads = _run(fake, "bybit", body)
        asked = fake.count("/v5/spot-margin-trade/collateral")
    assert asked == 2
    assert reads[1].collateral_ratios == reads[0].collateral_ratios
    assert reads[1].collateral_source.startswith(reads[0].collateral_source + ", kept; last fetch failed:")
    assert reads[2].collateral_source == reads[1].collateral_source


# ---------------------------------------------------------------------- set-up


@pytest.mark.parametrize(
    ("exchange", "rule_set", "kwargs", "message"),
    [
        ("bybit", "binance-pm", {}, "exchange_id must be 'binance' for binance-pm, was 'bybit'"),
        ("binanceusdm", "bybit-uta", {}, "exchange_id must be 'bybit' for bybit-uta, was 'binanceusdm'"),
        ("binance", "binance-pm", {"loan_mmr": 1.5}, r"loan_mmr must be a fraction in \[0, 1\] or None, was 1.5"),
        ("binanceusdm", None, {"loan_mmr": 0.1}, "loan_mmr applies to unified accounts .* given for 'binance-usdm'"),
    ],
)
def test_bad_set_up_names_the_value(exchange: str, rule_set: str | None, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        CcxtVenue(exchange, rule_set=rule_set, **kwargs)


def test_a_single_wallet_venue_has_no_unified_reader() -> None:
    v = CcxtVenue("binanceusdm")
    assert v.unified is None
    assert v.name == "binance-usdm"
    asyncio.run(v.close())


def test_a_guardian_config_sets_up_a_unified_account(monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/guardian.md "Unified accounts": the config names the exchange and the unified rule set.
    from levguard.cli.guard import _ccxt_venue
    from levguard.config.guardian import parse_guardian_config

    monkeypatch.setenv("PM_KEY", "key")
    monkeypatch.setenv("PM_SECRET", "secret")
    venue_cfg = {"type": "ccxt", "exchange": "binance", "rule_set": "binance-pm"}
    cfg = parse_guardian_config(
        {"accounts": [{"name": "pm", "venue": {**venue_cfg, "api_key_env": "PM_KEY", "secret_env": "PM_SECRET"}}]}
    )
    venue = _ccxt_venue(cfg.accounts[0].venue)
    try:
        assert venue.name == "binance-pm"
        assert venue.unified is not None
        assert venue._exchange.options["portfolioMargin"] is True
    finally:
        asyncio.run(venue.close())


def test_a_guardian_config_sets_loan_mmr_and_ratio_tolerance(monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/guardian.md "Unified accounts": loan_mmr (venue) and ratio_tolerance (account) are config keys.
    from levguard.cli.guard import _ccxt_venue
    from levguard.config.guardian import parse_guardian_config
    from levguard.errors import ConfigError, InputError

    monkeypatch.setenv("PM_KEY", "key")
    monkeypatch.setenv("PM_SECRET", "secret")
    venue_cfg = {"type": "ccxt", "exchange": "bybit", "rule_set": "bybit-uta", "loan_mmr": 0.1}
    account = {"name": "uta", "venue": {**venue_cfg, "api_key_env": "PM_KEY", "secret_env": "PM_SECRET"}}
    cfg = parse_guardian_config({"accounts": [{**account, "ratio_tolerance": 0.02}]})
    assert cfg.accounts[0].ratio_tolerance == 0.02
    venue = _ccxt_venue(cfg.accounts[0].venue)
    try:
        assert venue.unified is not None
        assert venue.unified.loan_mmr == 0.1
    finally:
        asyncio.run(venue.close())
    with pytest.raises((ConfigError, InputError), match="loan_mmr"):
        parse_guardian_config({"accounts": [{**account, "venue": {**account["venue"], "loan_mmr": 2.0}}]})
    with pytest.raises((ConfigError, InputError), match="ratio_tolerance"):
        parse_guardian_config({"accounts": [{**account, "ratio_tolerance": -1}]})
