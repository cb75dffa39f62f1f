"""Unified accounts through ccxt: Binance Portfolio Margin (``binance-pm``) and Bybit's Unified
Trading Account (``bybit-uta``) read into the spec :func:`levguard.evaluate_account` takes.

A :class:`~levguard.venues.ccxt_adapter.CcxtVenue` built with one of these rule sets carries a
:class:`UnifiedReader` (``venue.unified``); :meth:`UnifiedReader.read` returns a
:class:`UnifiedAccountRead`: the coins held and owed, their USD prices, the venue's collateral
ratios (in the venue's API shape, which the spec accepts) and the venue's own account ratio.

What is read (ccxt's unified method where there is one, else the implicit API method ccxt
generates for the documented endpoint):

=====================  ===========================================  ===========================================
                       Binance Portfolio Margin (``binance``)       Bybit UTA (``bybit``)
=====================  ===========================================  ===========================================
balances, liabilities  ``fetch_balance`` (``GET /papi/v1/balance``)  ``fetch_balance`` (``GET /v5/account/
                                                                    wallet-balance?accountType=UNIFIED``)
USD prices             ``sapiGetPortfolioAssetIndexPrice``           ``usdValue / equity`` of each coin;
                       (``GET /sapi/v1/portfolio/asset-index-       at equity 0, ``fetch_tickers`` (``GET
                       price``, one asset per request)              /v5/market/tickers``: ``indexPrice``)
collateral ratios      ``GET /sapi/v2/portfolio/collateralRate``    ``publicGetV5SpotMarginTradeCollateral``
                       (tiered; ccxt has no method: ``request``),   (``GET /v5/spot-margin-trade/collateral``)
                       else ``sapiGetPortfolioCollateralRate`` (v1)
the venue's ratio      ``papiGetAccount`` (``GET /papi/v1/account``:  ``accountMMRate`` of the wallet
                       ``uniMMR``, ``accountStatus``...)
=====================  ===========================================  ===========================================

Positions, marks, tiers and orders go through the venue's ordinary methods (ccxt's
``portfolioMargin`` option sends Binance's to ``/papi/v1/um/...``).  Only USDⓈ-M (linear USDT)
positions are modelled: a Binance account with COIN-M PnL is refused, naming the field, and so is
a Bybit account whose coin row (other than a USD stablecoin) carries ``unrealisedPnl`` or
``totalPositionMM``: an inverse position, margined in the same account on UTA 2.0.

Failure handling: the balances, prices and positions must be read (their failures propagate,
classified as every ccxt call).  The collateral table changes rarely: it is cached for
``collateral_ttl_s``, and a failed or late fetch (bounded by ``collateral_timeout_s``) keeps the
last table, or the built-in one (:mod:`levguard.core.rules.collateral`), and is not retried for
``collateral_retry_s``, so a hanging endpoint costs one timeout per retry interval, never a
cycle; a row the engine cannot read drops that asset only (noted in ``collateral_source``).  The
venue's own ratio is optional (None when its endpoint fails).  An authentication failure always
propagates.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from levguard.core.rules.collateral import collateral_tiers_from_spec
from levguard.core.unified import STABLECOINS, UNIFIED_VENUES
from levguard.errors import InputError, VenueAuthError, VenueError, VenuePermanentError
from levguard.venues._ccxt_numbers import ccxt_number as _num
from levguard.venues.base import VenueBalance

if TYPE_CHECKING:
    from levguard.venues.ccxt_adapter import CcxtVenue

__all__ = ["UNIFIED_EXCHANGES", "UnifiedAccountRead", "UnifiedReader", "default_options"]

logger = logging.getLogger(__name__)

UNIFIED_EXCHANGES: Mapping[str, str] = {"binance-pm": "binance", "bybit-uta": "bybit"}
"""Unified rule set -> the ccxt exchange id that reads it."""

_VENUE_RATIO = {"binance-pm": "uniMMR", "bybit-uta": "accountMMRate"}
_SETTLE = "USDT"


def default_options(rule_set: str) -> dict[str, Any]:
    """ccxt options a unified account needs (the caller's options are merged over them).

    Binance: ``portfolioMargin`` (every account call goes to papi), linear markets only.  Bybit:
    the account is a UTA (ccxt would otherwise ask ``/v5/user/query-api``, which needs transfer
    or withdrawal permissions), linear markets only.
    """
    if rule_set == "binance-pm":
        return {"portfolioMargin": True, "fetchMarkets": {"types": ["linear"]}}
    if rule_set == "bybit-uta":
        return {
            "fetchMarkets": {"types": ["linear"]},
            "enableUnifiedAccount": True,
            "enableUnifiedMargin": False,
            "unifiedMarginStatus": 6,
        }
    raise InputError(f"rule_set must be one of {sorted(UNIFIED_EXCHANGES)}, was {rule_set!r}")


@dataclass(frozen=True)
class UnifiedAccountRead:
    """One read of a unified account (amounts in coins, prices and account figures in USD).

    ``balances`` are the coins held net of what is owed (negative: a debt), plus ``borrowed`` when
    the loans' maintenance margin is modelled (``loan_mmr`` given); ``loan_mmr`` is kept whenever
    something is owed (a loan or a negative balance, which the engine counts as owed:
    ``max(borrowed, -net)``) and None otherwise; ``collateral_ratios`` the
    venue's tiers of the assets held, in its API shape (assets it did not give fall back to the
    built-in table); ``venue_ratio`` the ratio the venue reports (``uniMMR``, ``accountMMRate``;
    None when it reported none), on the scale of :attr:`levguard.AccountReport.account_ratio`.
    ``balance`` is the face value of the net holdings (USD), for the guardian's freshness check
    and snapshots.  ``notes`` say what the read did with rows it could not take as they are;
    ``left_out`` names the coins owed but left out (no USD value and no ticker, netting to 0): the
    maintenance margin of a loan in them is not counted.
    """

    venue: str
    balances: Mapping[str, float]
    borrowed: Mapping[str, float]
    prices: Mapping[str, float]
    collateral_ratios: Mapping[str, Any]
    collateral_source: str
    loan_mmr: float | None
    venue_ratio: float | None
    venue_ratio_name: str
    venue_status: str | None
    venue_equity: float | None
    venue_maintenance_margin: float | None
    balance: VenueBalance
    notes: tuple[str, ...] = field(default_factory=tuple)
    left_out: tuple[str, ...] = field(default_factory=tuple)

    def spec(self, positions: list[dict[str, Any]]) -> dict[str, Any]:
        """The unified-account spec (docs/unified.md) of this read with ``positions`` (spec rows:
        symbol, signed qty, entry and mark prices) for :func:`levguard.evaluate_account`."""
        out: dict[str, Any] = {
            "venue": self.venue,
            "balances": dict(self.balances),
            "prices": dict(self.prices),
            "collateral_ratios": dict(self.collateral_ratios),
            "positions": positions,
        }
        if self.borrowed:
            out["borrowed"] = dict(self.borrowed)
        if self.loan_mmr is not None:  # a loan or a negative balance (owed as well: its MM counts)
            out["loan_mmr"] = self.loan_mmr
        return out


def _asset(row: Mapping[str, Any], key: str) -> str | None:
    name = row.get(key)
    return name.strip().upper() if isinstance(name, str) and name.strip() else None


def _amount(row: Mapping[str, Any], key: str) -> float:
    # An amount of the venue's answer ("" and missing: 0).
    x = _num(row.get(key))
    return 0.0 if x is None else x


def _refuse_coin_settled(coin: str, row: Mapping[str, Any]) -> None:
    # A Bybit coin row carrying PnL or position MM in a coin that is not a USD stablecoin: an
    # inverse (coin-settled) contract, which UTA 2.0 margins in the same account (V5 API "Different
    # Account Modes") and the read does not model; "Get Wallet Balance": unrealisedPnl and
    # totalPositionMM are per coin, in that coin.
    if coin in STABLECOINS:
        return
    upnl, mm = _amount(row, "unrealisedPnl"), _amount(row, "totalPositionMM")
    if upnl != 0.0 or mm != 0.0:
        raise VenuePermanentError(
            f"bybit-uta account has coin-settled (inverse) positions ({coin} unrealisedPnl {upnl!r}, "
            f"totalPositionMM {mm!r}): levguard models USDT-settled positions only (UTA 2.0 shares the "
            "account's margin with inverse contracts; leaving them out would overstate its safety)"
        )


class UnifiedReader:
    """Reads one unified account through its :class:`~levguard.venues.ccxt_adapter.CcxtVenue`.

    Parameters
    ----------
    venue : CcxtVenue
        The venue (its ccxt exchange, error classification and credential scrubbing).
    rule_set : {"binance-pm", "bybit-uta"}
    loan_mmr : float, optional
        Maintenance margin rate of the account's loans (it depends on the leverage chosen on the
        venue).  None: liabilities count at face value in the equity and add no maintenance margin.
    collateral_ttl_s, collateral_retry_s : float
        How long a fetched collateral table is used; how long after a failed fetch none is tried.
    collateral_timeout_s : float, optional
        Bound on one collateral fetch (default the venue's request timeout).
    clock : callable
        Monotonic seconds (injected for tests).
    """

    def __init__(
        self,
        venue: CcxtVenue,
        rule_set: str,
        *,
        loan_mmr: float | None = None,
        collateral_ttl_s: float = 3600.0,
        collateral_retry_s: float = 300.0,
        collateral_timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rule_set not in UNIFIED_EXCHANGES:
            raise InputError(f"rule_set must be one of {sorted(UNIFIED_EXCHANGES)}, was {rule_set!r}")
        if venue.exchange_id != UNIFIED_EXCHANGES[rule_set]:
            raise InputError(
                f"exchange_id must be {UNIFIED_EXCHANGES[rule_set]!r} for {rule_set}, was {venue.exchange_id!r}"
            )
        if loan_mmr is not None and (
            isinstance(loan_mmr, bool) or not (isinstance(loan_mmr, int | float) and 0.0 <= loan_mmr <= 1.0)
        ):
            raise InputError(f"loan_mmr must be a fraction in [0, 1] or None, was {loan_mmr!r}")
        timeout = venue.timeout_s if collateral_timeout_s is None else collateral_timeout_s
        for key, v in (("collateral_ttl_s", collateral_ttl_s), ("collateral_retry_s", collateral_retry_s)):
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InputError(f"{key} must be a finite number >= 0, was {v!r}")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise InputError(f"collateral_timeout_s must be a finite number > 0, was {collateral_timeout_s!r}")
        self.venue = venue
        self.rule_set = rule_set
        self.loan_mmr = None if loan_mmr is None else float(loan_mmr)
        self.collateral_ttl_s = float(collateral_ttl_s)
        self.collateral_retry_s = float(collateral_retry_s)
        self.collateral_timeout_s = float(timeout)
        self.clock = clock
        self._table: dict[str, Any] | None = None  # asset -> the venue's tiers (API shape)
        self._table_source = ""
        self._table_until = -math.inf
        self._retry_at = -math.inf
        self._failure = ""

    def __repr__(self) -> str:
        return f"UnifiedReader({self.rule_set!r}, venue={self.venue!r}, loan_mmr={self.loan_mmr!r})"

    # ------------------------------------------------------------------ the read

    async def read(self) -> UnifiedAccountRead:
        """Read the account: balances and liabilities, USD prices, collateral ratios, the venue's ratio.

        Raises
        ------
        VenueAuthError
            Credentials refused (on any of the calls).
        VenueRetryableError, VenuePermanentError
            The balances or prices could not be read, or the account holds what levguard does not
            model (COIN-M positions on Binance).
        """
        await self.venue._markets()
        if self.rule_set == "binance-pm":
            return await self._read_binance()
        return await self._read_bybit()

    async def _read_binance(self) -> UnifiedAccountRead:
        """Binance Portfolio Margin.

        Notes
        -----
        ``GET /papi/v1/balance`` ("Account Balance(USER_DATA)", Binance Portfolio Margin API):
        ``totalWalletBalance`` = cross margin free + locked + UM wallet + CM wallet balance, the
        coins held; ``crossMarginBorrowed`` and ``crossMarginInterest`` what is owed.  Net holding
        ``n = totalWalletBalance - crossMarginBorrowed - crossMarginInterest``, the
        ``MarginAsset - MarginLoan + futuresAsset`` of Binance's uniMMR FAQ (the USDⓈ-M PnL is
        added by the engine from the positions).  Prices: ``assetIndexPrice`` ("Query Portfolio
        Margin Asset Index Price"), the price of that FAQ's equity sum.  The venue's ratio:
        ``uniMMR`` of ``GET /papi/v1/account`` ("Account Information(USER_DATA)").
        """
        ex = self.venue._exchange
        raw = await self.venue._call("fetch_balance", ex.fetch_balance)
        rows = raw.get("info") if isinstance(raw, Mapping) else None
        if not isinstance(rows, list):
            raise VenuePermanentError(f"binance fetch_balance: not papi's balance list, was {type(rows).__name__}")
        held: dict[str, tuple[float, float]] = {}
        for row in rows:
            asset = _asset(row, "asset") if isinstance(row, Mapping) else None
            if asset is None:
                continue
            cm = _amount(row, "cmUnrealizedPNL")
            if cm != 0.0:
                raise VenuePermanentError(
                    f"binance-pm account has COIN-M positions (cmUnrealizedPNL {asset} {cm!r}): levguard models "
                    "USDⓈ-M positions only"
                )
            owed = _amount(row, "crossMarginBorrowed") + _amount(row, "crossMarginInterest")
            total = _amount(row, "totalWalletBalance")
            if total != 0.0 or owed != 0.0:
                held[asset] = (total - owed, owed)
        names = sorted({*held, _SETTLE})
        prices = dict(zip(names, await asyncio.gather(*(self._index_price(a) for a in names)), strict=True))
        for a in names:
            if prices[a] is None and a not in STABLECOINS and a in held:
                raise VenuePermanentError(f"binance asset-index-price: no price for {a}")
        account = await self._optional("papi account", ex.papiGetAccount)
        table, source = await self._collateral()
        return self._result(
            held,
            {a: p for a, p in prices.items() if p is not None},
            table,
            source,
            ratio=_num(account.get("uniMMR")),
            status=account.get("accountStatus") if isinstance(account.get("accountStatus"), str) else None,
            equity=_num(account.get("accountEquity")),
            mm=_num(account.get("accountMaintMargin")),
            available=_num(account.get("totalAvailableBalance")),
        )

    async def _read_bybit(self) -> UnifiedAccountRead:
        """Bybit Unified Trading Account.

        Notes
        -----
        ``GET /v5/account/wallet-balance?accountType=UNIFIED`` ("Get Wallet Balance", Bybit v5 API):
        per coin "Asset Equity = walletBalance - spotBorrow + unrealisedPnl", so the net holding
        is ``n = walletBalance - spotBorrow`` (the perpetuals' PnL is added by the engine from the
        positions); ``borrowAmount`` (spot + derivatives liabilities) is what is owed;
        ``usdValue`` is the USD value of ``equity``, so the price is ``usdValue / equity`` (at
        ``equity`` 0, a borrowed coin still held, the index price of its USDT perpetual).  A coin
        whose collateral is off (``marginCollateral`` or ``collateralSwitch`` false) counts 0 when
        held and is left out; the venue's ratio is the wallet's ``accountMMRate``
        ("Maintenance Margin Rate: Account Total Maintenance Margin / Account Margin Balance").
        A coin row other than a USD stablecoin with ``unrealisedPnl`` or ``totalPositionMM`` (per
        coin, in the coin) holds an inverse position, which UTA 2.0 margins in the account ("Different
        Account Modes"): refused (VenuePermanentError), as Binance COIN-M PnL is.
        """
        ex = self.venue._exchange
        raw = await self.venue._call("fetch_balance", ex.fetch_balance)
        info = raw.get("info") if isinstance(raw, Mapping) else None
        result = info.get("result") if isinstance(info, Mapping) else None
        wallets = result.get("list") if isinstance(result, Mapping) else None
        wallet = next(
            (w for w in wallets or [] if isinstance(w, Mapping) and str(w.get("accountType")).upper() == "UNIFIED"),
            None,
        )
        if wallet is None:
            raise VenuePermanentError("bybit fetch_balance: no UNIFIED wallet in the answer (not a unified account?)")
        held: dict[str, tuple[float, float]] = {}
        prices: dict[str, float] = {}
        notes: list[str] = []
        unpriced: dict[str, float | None] = {}  # coin -> its equity: no usdValue / equity to price it
        for row in wallet.get("coin") or []:
            coin = _asset(row, "coin") if isinstance(row, Mapping) else None
            if coin is None:
                continue
            _refuse_coin_settled(coin, row)
            net = _amount(row, "walletBalance") - _amount(row, "spotBorrow")
            owed = _amount(row, "borrowAmount")
            equity, usd = _num(row.get("equity")), _num(row.get("usdValue"))
            collateral = row.get("marginCollateral") is not False and row.get("collateralSwitch") is not False
            if not collateral and net >= 0.0:
                notes.append(f"{coin}: collateral off on the venue, not counted")
                continue
            if net == 0.0 and owed == 0.0:
                continue
            if equity and usd is not None and usd / equity > 0.0:
                prices[coin] = usd / equity
            elif coin not in STABLECOINS:
                unpriced[coin] = equity
            held[coin] = (net, owed)
        await self._price_from_tickers(unpriced, held, prices, notes)
        left_out = [c for c in unpriced if c not in held]  # owed, no price: the loan's MM not counted
        table, source = await self._collateral()
        return self._result(
            held,
            prices,
            table,
            source,
            ratio=_num(wallet.get("accountMMRate")),
            status=None,
            equity=_num(wallet.get("totalMarginBalance")),
            mm=_num(wallet.get("totalMaintenanceMargin")),
            available=_num(wallet.get("totalAvailableBalance")),
            notes=notes,
            left_out=left_out,
        )

    async def _price_from_tickers(
        self,
        unpriced: Mapping[str, float | None],
        held: dict[str, tuple[float, float]],
        prices: dict[str, float],
        notes: list[str],
    ) -> None:
        # Bybit coins whose row gives no USD value (equity 0: a borrowed coin still held,
        # walletBalance == spotBorrow): the index price of the coin's USDT perpetual (ccxt
        # fetch_tickers, "Get Tickers" indexPrice, else markPrice) times USDT's USD price; with no
        # price, a coin netting to 0 is left out with a note, any other is refused.
        if not unpriced:
            return
        ex = self.venue._exchange
        markets = ex.markets or {}
        symbols = {c: f"{c}/{_SETTLE}:{_SETTLE}" for c in unpriced if f"{c}/{_SETTLE}:{_SETTLE}" in markets}
        tickers: Mapping[str, Any] = {}
        if symbols:
            try:
                tickers = await self.venue._call("fetch_tickers", ex.fetch_tickers, list(symbols.values())) or {}
            except VenueAuthError:
                raise
            except VenueError as exc:
                logger.warning("%s: tickers for %s unavailable: %s", self.rule_set, sorted(symbols), exc)
        for coin, equity in unpriced.items():
            ticker = tickers.get(symbols.get(coin, "")) or {}
            index = next((x for x in map(_num, (ticker.get("indexPrice"), ticker.get("markPrice"))) if x), None)
            if index is not None and index > 0.0:
                prices[coin] = index * prices.get(_SETTLE, 1.0)
                notes.append(f"{coin}: equity {equity!r}, priced at {symbols[coin]}'s index {index:g} USDT")
            elif held[coin][0] == 0.0:
                del held[coin]
                notes.append(
                    f"{coin}: no USD value (equity {equity!r}) and no ticker; it nets to 0 and is left out "
                    "(the maintenance margin of a loan in it is not counted)"
                )
            else:
                raise VenuePermanentError(
                    f"bybit wallet-balance: no USD value for {coin} (equity {equity!r}) and no ticker to price it"
                )

    def _result(
        self,
        held: Mapping[str, tuple[float, float]],
        prices: Mapping[str, float],
        table: Mapping[str, Any],
        source: str,
        *,
        ratio: float | None,
        status: str | None,
        equity: float | None,
        mm: float | None,
        available: float | None,
        notes: list[str] | None = None,
        left_out: list[str] | None = None,
    ) -> UnifiedAccountRead:
        # The read from the coins held: (net, owed) per asset.
        modelled = self.loan_mmr is not None
        borrowed = {a: owed for a, (_, owed) in held.items() if modelled and owed > 0.0}
        balances = {a: net + borrowed.get(a, 0.0) for a, (net, _) in held.items()}
        face = math.fsum(net * prices.get(a, 1.0) for a, (net, _) in held.items())
        now = time.time_ns()
        return UnifiedAccountRead(
            venue=self.rule_set,
            balances=balances,
            borrowed=borrowed,
            prices=dict(prices),
            collateral_ratios={a: table[a] for a in {*held, _SETTLE} if a in table},
            collateral_source=source,
            loan_mmr=self.loan_mmr if borrowed or any(net < 0.0 for net, _ in held.values()) else None,
            venue_ratio=ratio if ratio is not None and ratio >= 0.0 else None,
            venue_ratio_name=_VENUE_RATIO[self.rule_set],
            venue_status=status,
            venue_equity=equity,
            venue_maintenance_margin=mm,
            balance=VenueBalance("USD", face, available if available is not None else face, now),
            notes=tuple(notes or ()),
            left_out=tuple(left_out or ()),
        )

    # ------------------------------------------------------------------ optional parts

    async def _index_price(self, asset: str) -> float | None:
        # One asset's index price (weight 1 with the asset, 50 without: one request per asset).
        ex = self.venue._exchange
        rows = await self.venue._call(
            f"asset-index-price({asset})", ex.sapiGetPortfolioAssetIndexPrice, {"asset": asset}
        )
        for row in rows if isinstance(rows, list) else [rows]:
            if isinstance(row, Mapping) and _asset(row, "asset") == asset:
                price = _num(row.get("assetIndexPrice"))
                return price if price is not None and price > 0.0 else None
        return None

    async def _optional(self, what: str, fn: Callable[..., Any]) -> Mapping[str, Any]:
        # An answer the read does without (the venue's own ratio): {} when it fails, but for auth.
        try:
            out = await self.venue._call(what, fn)
        except VenueAuthError:
            raise
        except VenueError as exc:
            logger.warning("%s: %s unavailable, the venue's ratio is not compared: %s", self.rule_set, what, exc)
            return {}
        return out if isinstance(out, Mapping) else {}

    async def _collateral(self) -> tuple[dict[str, Any], str]:
        """The venue's collateral tiers by asset (cached) and where they come from.

        A failed, late or rejected fetch keeps the last table (or none: the built-in table
        applies) and is not tried again for ``collateral_retry_s``.
        """
        now = self.clock()
        if self._table is not None and now < self._table_until:
            return self._table, self._table_source
        builtin = UNIFIED_VENUES[self.rule_set].table
        fallback = f"built-in table as of {builtin.as_of}"
        if now < self._retry_at:
            return self._fallback(fallback)
        try:
            payload, endpoint = await asyncio.wait_for(self._fetch_collateral(), self.collateral_timeout_s)
            rows, dropped = self._valid_rows(self._rows_by_asset(payload))
            stamp = time.strftime("%Y-%m-%d", time.gmtime())
        except VenueAuthError:
            raise
        except (VenueError, InputError, TimeoutError) as exc:
            late = isinstance(exc, TimeoutError)
            self._retry_at = now + self.collateral_retry_s
            self._failure = f"timed out after {self.collateral_timeout_s:g} s" if late else f"failed: {exc}"
            logger.warning(
                "%s: collateral ratios %s; the %s applies, retried in %g s",
                self.rule_set,
                self._failure,
                "last table" if self._table is not None else fallback,
                self.collateral_retry_s,
            )
            return self._fallback(fallback)
        self._table, self._table_until = rows, now + self.collateral_ttl_s
        self._table_source = f"venue: {endpoint} ({stamp})"
        if dropped:  # one bad row costs its asset only (the built-in table, or the caller, decides it)
            logger.warning("%s: collateral rows dropped: %s", self.rule_set, "; ".join(dropped))
            self._table_source += f"; rows dropped: {'; '.join(dropped)}"
        self._failure = ""
        return self._table, self._table_source

    def _fallback(self, builtin: str) -> tuple[dict[str, Any], str]:
        # After a failed fetch: the last table fetched, else none (the engine's built-in table).
        why = f"; last fetch {self._failure}" if self._failure else ""
        if self._table is not None:
            return self._table, f"{self._table_source}, kept{why}"
        return {}, f"{builtin}{why}"

    async def _fetch_collateral(self) -> tuple[object, str]:
        ex = self.venue._exchange
        if self.rule_set == "bybit-uta":
            endpoint = "GET /v5/spot-margin-trade/collateral"
            return await self.venue._call("collateral ratios", ex.publicGetV5SpotMarginTradeCollateral), endpoint
        # Binance: the tiered rates (v2; ccxt generates no method for it), else the classic single rate.
        try:
            tiered = await self.venue._call(
                "collateral rates (tiered)", ex.request, "portfolio/collateralRate", ["sapiV2"], "GET", {}, {"cost": 5}
            )
            return tiered, "GET /sapi/v2/portfolio/collateralRate"
        except VenueAuthError:
            raise
        except VenuePermanentError as exc:  # refused (e.g. -21001 on a classic account); not a timeout
            logger.info("binance-pm: tiered collateral rates unavailable (%s); the classic rates are read", exc)
        classic = await self.venue._call("collateral rates", ex.sapiGetPortfolioCollateralRate)
        return classic, "GET /sapi/v1/portfolio/collateralRate"

    def _valid_rows(self, rows: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        # The rows the engine can read (checked one asset at a time, as the spec's
        # collateral_ratios are) and a note on each dropped one; none left is a failed fetch.
        basis = UNIFIED_VENUES[self.rule_set].table.basis
        good: dict[str, Any] = {}
        dropped: list[str] = []
        for asset, raw in rows.items():
            try:
                collateral_tiers_from_spec(asset, raw, basis, asset)
            except InputError as exc:
                dropped.append(str(exc)[:200])
                continue
            good[asset] = raw
        if not good:
            raise InputError(f"{self.rule_set} collateral payload has no usable row ({'; '.join(dropped) or 'none'})")
        return good, dropped

    def _rows_by_asset(self, payload: object) -> dict[str, Any]:
        # The API rows of each asset, in the shape the spec's collateral_ratios accepts.
        node = payload
        for key in ("result", "list") if self.rule_set == "bybit-uta" else ():
            node = node.get(key) if isinstance(node, Mapping) else node
        if not isinstance(node, list):
            raise InputError(
                f"{self.rule_set} collateral payload must hold a list of assets, was {type(node).__name__}"
            )
        out: dict[str, Any] = {}
        for item in node:
            if not isinstance(item, Mapping):
                continue
            asset = _asset(item, "currency" if self.rule_set == "bybit-uta" else "asset")
            if asset is None:
                continue
            if self.rule_set == "bybit-uta":
                out[asset] = item.get("collateralRatioList")
            else:
                out[asset] = item["collateralInfo"] if "collateralInfo" in item else item.get("collateralRate")
        return out
