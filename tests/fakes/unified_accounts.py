"""One unified account on each fake venue: 1 BTC and 2,000 USDT of collateral backing a 10 ETH short
entered at 3,000 and marked at 3,100 (1,000 USDT under water), with its figures computed by hand.

Binance Portfolio Margin (:class:`fakes.binance_pm.FakeBinancePm`), tiered collateral rates by USD
value (the shape of ``GET /sapi/v2/portfolio/collateralRate``): BTC 0.95 up to 50,000 USD, 0.90
above; USDT 1.  Index prices BTC 60,000, USDT 1.

* BTC: 50,000 x 0.95 + 10,000 x 0.90 = 56,500 USD;
* USDT: 2,000 + the ETH short's PnL (-1,000) = 1,000 USDT at rate 1 = 1,000 USD;
* adjusted equity E = 57,500; the ETH short's MM at the mark (USDⓈ-M bracket 2: notional
  31,000, MMR 0.65 %, cum 15) = 31,000 x 0.0065 - 15 = 186.5;
* uniMMR = 57,500 / 186.5 = 308.310991...; on the trigger scale 1.05 x 186.5 / 57,500.

Bybit UTA (:class:`fakes.bybit_uta.FakeBybitUta`), tiered collateral ratios by coin quantity (the
shape of ``GET /v5/spot-margin-trade/collateral``): BTC 0.98 up to 0.5 BTC, 0.90 above; USDT 1.

* BTC: 0.5 x 0.98 x 60,000 + 0.5 x 0.90 x 60,000 = 29,400 + 27,000 = 56,400 USD;
* USDT wallet 2,000 (ratio 1), perpetual PnL -1,000 at face value: margin balance 57,400;
* the ETH short's MM at entry (risk limit 1: 0.5 %): 30,000 x 0.005 = 150;
* account MM rate = 150 / 57,400 = 0.0026132...; Bybit reports it to four decimals: 0.0026.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakes.binance_pm import FakeBinancePm
from fakes.bybit_uta import FakeBybitUta

if TYPE_CHECKING:
    from levguard.service.runtime import Runtime
    from levguard.venues.ccxt_adapter import CcxtVenue

ETH = "ETH/USDT:USDT"

PM_EQUITY = 50_000 * 0.95 + 10_000 * 0.90 + (2_000 - 1_000)
PM_MM = 31_000 * 0.0065 - 15
PM_UNIMMR = PM_EQUITY / PM_MM
"""Binance's uniMMR of the account, by hand: 57,500 / 186.5."""

UTA_MARGIN_BALANCE = 0.5 * 0.98 * 60_000 + 0.5 * 0.90 * 60_000 + 2_000 - 1_000
UTA_MM = 30_000 * 0.005
UTA_MM_RATE = UTA_MM / UTA_MARGIN_BALANCE
"""Bybit's account MM rate of the account, by hand: 150 / 57,400."""

PM_TIERS = [
    {
        "asset": "BTC",
        "collateralInfo": [
            {"tierFloor": "0.0000", "tierCap": "50000.0000", "collateralRate": "0.9500", "cum": "0.0000"},
            {"tierFloor": "50000.0000", "tierCap": "1000000000.0000", "collateralRate": "0.9000", "cum": "2500.0000"},
        ],
    },
    {
        "asset": "USDT",
        "collateralInfo": [
            {"tierFloor": "0.0000", "tierCap": "1000000000.0000", "collateralRate": "1.0000", "cum": "0.0000"}
        ],
    },
]
"""Binance's tiered collateral rates of the account (``/sapi/v2/portfolio/collateralRate`` shape)."""

UTA_TIERS = [
    {
        "currency": "BTC",
        "collateralRatioList": [
            {"minQty": "0", "maxQty": "0.5", "collateralRatio": "0.98"},
            {"minQty": "0.5", "maxQty": "", "collateralRatio": "0.9"},
        ],
    },
    {"currency": "USDT", "collateralRatioList": [{"minQty": "0", "maxQty": "", "collateralRatio": "1"}]},
]
"""Bybit's tiered collateral ratios of the account (``/v5/spot-margin-trade/collateral`` shape)."""


def binance_pm_account(uni_mmr: float = PM_UNIMMR) -> FakeBinancePm:
    """The fake Binance PM server holding the account; it reports ``uni_mmr`` as its uniMMR."""
    fake = FakeBinancePm()
    fake.wallet("BTC", 1.0)
    fake.wallet("USDT", 2_000.0, um_upnl=-1_000.0)
    fake.position("ETHUSDT", -10.0, 3_000.0, 3_100.0)
    fake.index_prices = {"BTC": 60_000.0, "USDT": 1.0}
    fake.collateral_v2 = PM_TIERS
    fake.report(uni_mmr, PM_EQUITY, PM_MM)
    return fake


def bybit_uta_account(mm_rate: float = round(UTA_MM_RATE, 4)) -> FakeBybitUta:
    """The fake Bybit UTA server holding the account; it reports ``mm_rate`` as its accountMMRate."""
    fake = FakeBybitUta()
    fake.coin("BTC", 1.0, 60_000.0)
    fake.coin("USDT", 2_000.0, 1.0, upnl=-1_000.0, position_mm=UTA_MM)
    fake.position("ETHUSDT", -10.0, 3_000.0, 3_100.0)
    fake.collateral = UTA_TIERS
    fake.totals(mm_rate=mm_rate, equity=UTA_MARGIN_BALANCE, margin_balance=UTA_MARGIN_BALANCE, maint_margin=UTA_MM)
    return fake


def venue_of(fake: FakeBinancePm | FakeBybitUta, *, timeout_ms: int = 2000, **kwargs: Any) -> CcxtVenue:
    """A :class:`~levguard.venues.ccxt_adapter.CcxtVenue` on the fake's unified account."""
    import ccxt

    from levguard.venues.ccxt_adapter import CcxtVenue

    binance = isinstance(fake, FakeBinancePm)
    exchange = "binance" if binance else "bybit"
    api = ccxt.binance().urls["api"] if binance else ccxt.bybit().urls["api"]
    kwargs.setdefault("api_key", fake.api_key)
    kwargs.setdefault("secret", fake.secret)
    venue = CcxtVenue(
        exchange,
        rule_set="binance-pm" if binance else "bybit-uta",
        urls=fake.ccxt_urls(api),
        timeout_ms=timeout_ms,
        **kwargs,
    )
    venue._exchange.timeout_on_exit = 0  # ccxt waits 250 ms on close() for TLS shutdown; plain HTTP here
    # ccxt spaces requests by the venue's rate limit (Binance's papi weights: up to a second a read);
    # a local fake has none, and the tests would sleep for them (about 10 s a file).
    venue._exchange.enableRateLimit = False
    return venue


def guardian_runtime(venue: CcxtVenue, database: str, *, account: str = "unified", interval_s: float = 0.2) -> Runtime:
    """A service runtime whose guardian watches ``venue`` (dry run, no venue klines)."""
    from levguard.live.alerts import Alerter
    from levguard.live.guardian import AccountSetup, Guardian
    from levguard.live.states import Thresholds
    from levguard.live.store import Store
    from levguard.service.runtime import Runtime

    store = Store(database)
    store.upsert_account(account, venue.name, live_enabled=False)
    setup = AccountSetup(
        name=account,
        venue=venue,
        thresholds=Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.2, 0.12, 0.08), p_liq=(0.2, 0.5, 0.8)),
        venue_bars=False,
        max_age_s=60.0,
        retries=0,
    )
    guardian = Guardian([setup], store, live=False, alerter=Alerter([]), owner="unified-test")
    return Runtime(guardian, interval_s=interval_s, fast_interval_s=interval_s)
