"""A real exchange account through async ccxt: positions, balance, marks, tiers, funding, reduce-only orders.

:class:`CcxtVenue` implements :class:`levguard.venues.base.Venue` on top of
``ccxt.async_support``.  It converts ccxt's unified structures to levguard's dataclasses at the
boundary (signed quantities in base units for linear contracts and quote units for inverse
ones), rounds order quantities to the market's precision with :class:`~decimal.Decimal`, and
classifies every ccxt failure into levguard's error hierarchy.

Error classification (:func:`classify_ccxt_error`)
--------------------------------------------------
* ``RateLimitExceeded`` and ``DDoSProtection`` (Binance raises it for HTTP 429 and 418)
  -> :class:`~levguard.errors.VenueRateLimitError` (a retryable error).
* ``NetworkError`` (``RequestTimeout``, ``ExchangeNotAvailable`` (ccxt's class for HTTP 5xx),
  ``OnMaintenance``, ``InvalidNonce``) and ``OperationFailed`` (e.g. Binance -1001 "internal
  error") -> :class:`~levguard.errors.VenueRetryableError`.
* ``AuthenticationError`` and ``PermissionDenied`` -> :class:`~levguard.errors.VenueAuthError`.
* ``InvalidOrder`` (but ``DuplicateOrderId``: the first order with that id exists),
  ``InsufficientFunds`` and ``BadSymbol``: refusals before execution, final, nothing filled ->
  :class:`~levguard.errors.VenueOrderRejectedError` (a permanent error).
* Every other ccxt error (``BadRequest``, ``NotSupported``, ``ExchangeError``, ...) ->
  :class:`~levguard.errors.VenuePermanentError`; on an order its outcome stays unknown (the
  answer may have failed after execution) until the order is found by its client id.

Messages name the operation and the symbol; credentials never appear in messages, logs or reprs
(query strings, which carry request signatures, are cut from ccxt's messages).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeVar

from levguard.core.rules import get_venue
from levguard.core.rules.okx import TIERS_IN_CONTRACTS, market_tier_rows
from levguard.core.spec import isolated_margin_from_ccxt
from levguard.core.tiers import TierTable
from levguard.errors import (
    InputError,
    VenueAuthError,
    VenueError,
    VenueOrderRejectedError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.kernels.margin import position_upnl
from levguard.venues import ccxt_klines, ccxt_unified
from levguard.venues._ccxt_logger import ScrubbingLogger
from levguard.venues._ccxt_numbers import ccxt_number as _num
from levguard.venues.base import (
    UNLISTED,
    Capabilities,
    OrderRequest,
    OrderState,
    VenueBalance,
    VenuePosition,
)
from levguard.venues.ccxt_margin_tables import hyperliquid_tiers
from levguard.venues.ccxt_orders import (
    cancel_order,
    find_order,
    margin_params,
    max_amount,
    order_price,
    order_state,
    round_amount,
)
from levguard.venues.ccxt_quirks import (
    TOTAL_HOLDS_ISOLATED,
    TOTAL_IS_EQUITY,
    account_params,
    capabilities_of,
    client_id_params,
    configure,
    contract_size,
    default_options,
    market_slippage,
    min_amount,
    wallet_balance,
    wire_client_id,
)

__all__ = ["RULE_SETS", "SETTLE_CURRENCIES", "CcxtVenue", "classify_ccxt_error"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

RULE_SETS: Mapping[str, str] = {
    "binanceusdm": "binance-usdm",
    "binancecoinm": "binance-coinm",
    "bybit": "bybit-linear",
    "okx": "okx",
    "hyperliquid": "hyperliquid",
    "deribit": "deribit",
    "gate": "gate",
}
"""ccxt exchange id -> levguard margin rule set (:func:`levguard.core.rules.get_venue`).  BitMEX's
rules (``bitmex``) are modelled but the installed ccxt (4.5) has no ``bitmex`` exchange class, so
no BitMEX account is read or acted on through it."""

SETTLE_CURRENCIES: Mapping[str, str] = {
    "binanceusdm": "USDT",
    "binancecoinm": "BTC",
    "bybit": "USDT",
    "okx": "USDT",
    "hyperliquid": "USDC",
    "deribit": "USDC",
    "gate": "USDT",
}
"""Default settlement (margin) currency per ccxt exchange id (override with ``settle=``): one the
exchange's rule set models (Deribit: USDC, its linear perpetuals; ``BTC`` read the wallet of the
inverse contracts, which the ``deribit`` rules refuse)."""

_QUERY = re.compile(r"\?\S*")
_SIGNATURE = re.compile(r"(signature=)[0-9A-Za-z%+/=_-]+")


def _now_ns() -> int:
    return time.time_ns()


def _positive(value: object) -> float | None:
    out = _num(value)
    return out if out is not None and out > 0.0 else None


def classify_ccxt_error(exc: BaseException) -> type[VenueError] | None:
    """Return the levguard error class for a ccxt (or transport) exception, None when not a venue error.

    See the module docstring for the table.
    """
    import ccxt

    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return VenueRateLimitError
    if isinstance(exc, ccxt.AuthenticationError):  # PermissionDenied, AccountSuspended are subclasses
        return VenueAuthError
    if isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed):
        return VenueRetryableError
    if isinstance(exc, ccxt.DuplicateOrderId):  # the first order with this id exists: not a refusal
        return VenuePermanentError
    if isinstance(exc, ccxt.InvalidOrder | ccxt.InsufficientFunds | ccxt.BadSymbol):
        return VenueOrderRejectedError  # refused before execution: nothing filled
    if isinstance(exc, ccxt.BaseError):
        return VenuePermanentError
    if isinstance(exc, TimeoutError | ConnectionError):
        return VenueRetryableError
    return None


class CcxtVenue:
    """An exchange account reached through ``ccxt.async_support``.

    Parameters
    ----------
    exchange_id : str
        ccxt id: ``binanceusdm``, ``bybit``, ``okx``, ``hyperliquid``, ``deribit`` (others work
        with an explicit ``rule_set``).
    rule_set : str, optional
        levguard margin rule set (default from :data:`RULE_SETS`).  A unified account:
        ``binance-pm`` (exchange ``binance``) or ``bybit-uta`` (exchange ``bybit``); the venue then
        carries a :class:`~levguard.venues.ccxt_unified.UnifiedReader` as :attr:`unified`.
    api_key, secret, password : str, optional
        Credentials (``password`` is OKX's passphrase).  For Hyperliquid ``api_key`` is the
        wallet address and ``secret`` the API wallet's private key.  Never logged or shown.
    options : dict, optional
        ccxt exchange options merged into ccxt's defaults and levguard's
        (:func:`levguard.venues.ccxt_quirks.default_options`: on Hyperliquid no builder fee and no
        referrer are signed with the account's key).
    urls : dict, optional
        Replacements for entries of ccxt's ``exchange.urls["api"]`` (e.g. ``{"fapiPublic":
        "http://127.0.0.1:8080/fapi/v1"}``) to point the exchange at a local server.
    timeout_ms : int
        HTTP timeout of each request in milliseconds.
    sandbox : bool
        Use the exchange's testnet (ccxt ``set_sandbox_mode``).
    settle : str, optional
        Settlement currency of the margin wallet (default from :data:`SETTLE_CURRENCIES`), one the
        rule set models (:attr:`~levguard.core.rules.base.VenueModel.settlements`: USDC on
        Deribit, Hyperliquid and dYdX).  Positions settled in another currency are left out of
        :meth:`fetch_positions` (and named in :attr:`left_out`): their margin is another wallet's.
    loan_mmr : float, optional
        Unified accounts: maintenance margin rate of the account's loans (see
        :class:`~levguard.venues.ccxt_unified.UnifiedReader`).

    Raises
    ------
    InputError
        Unknown exchange id or rule set, a settlement currency the rule set does not model, a
        timeout that is not a positive integer, a ``sandbox`` that is not a bool, ``options`` that
        are not a mapping or ``urls`` that do not map names to strings.
    """

    markets_reload_s: float = 300.0
    """Seconds at least between two reloads of the markets for a symbol they do not list (a
    market listed after the process loaded them: :meth:`_reload_markets`)."""

    def __init__(
        self,
        exchange_id: str,
        *,
        rule_set: str | None = None,
        api_key: str | None = None,
        secret: str | None = None,
        password: str | None = None,
        options: dict[str, Any] | None = None,
        urls: dict[str, str] | None = None,
        timeout_ms: int = 10000,
        sandbox: bool = False,
        settle: str | None = None,
        loan_mmr: float | None = None,
    ) -> None:
        import ccxt.async_support as ccxt_async

        if not isinstance(exchange_id, str) or exchange_id not in ccxt_async.exchanges:
            hint = " (the installed ccxt has no BitMEX exchange)" if exchange_id == "bitmex" else ""
            raise InputError(f"exchange_id must be a ccxt exchange id such as binanceusdm{hint}, was {exchange_id!r}")
        if not isinstance(sandbox, bool):  # "no" would be truthy: the testnet
            raise InputError(f"sandbox must be True or False, was {sandbox!r}")
        if options is not None and not isinstance(options, Mapping):
            raise InputError(f"options must be a mapping of ccxt exchange options, was {options!r}")
        if urls is not None and (
            not isinstance(urls, Mapping) or not all(isinstance(k, str) and isinstance(u, str) for k, u in urls.items())
        ):
            raise InputError(f"urls must map ccxt API names to URL strings, was {urls!r}")
        if rule_set is None:
            if exchange_id not in RULE_SETS:
                raise InputError(
                    f"rule_set is required for {exchange_id!r} (known: {', '.join(sorted(RULE_SETS))}), was None"
                )
            rule_set = RULE_SETS[exchange_id]
        unified = rule_set in ccxt_unified.UNIFIED_EXCHANGES
        if loan_mmr is not None and not unified:
            raise InputError(
                f"loan_mmr applies to unified accounts (binance-pm, bybit-uta), was given for {rule_set!r}"
            )
        self.name: str = rule_set if unified else get_venue(rule_set).name
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise InputError(f"timeout_ms must be a positive integer, was {timeout_ms!r}")
        self.exchange_id = exchange_id
        self.timeout_s: float = timeout_ms / 1000.0
        """The HTTP timeout of one request, seconds (the bound the guardian puts on a kline fetch)."""
        self.sandbox = bool(sandbox)
        if settle is not None and (not isinstance(settle, str) or not settle.strip().isalnum()):
            raise InputError(f"settle must be a currency code such as USDC, was {settle!r}")
        self.settle = (settle.strip() if settle else SETTLE_CURRENCIES.get(exchange_id, "USDT")).upper()
        modelled = () if unified else get_venue(rule_set).settlements
        if modelled and self.settle not in modelled:
            raise InputError(
                f"settle must be {' or '.join(modelled)} for rule set {self.name!r} (the contracts its rules model), "
                f"was {self.settle!r}"
            )
        self.left_out: dict[str, str] = {}
        """The open positions the last :meth:`fetch_positions` left out: symbol -> their settlement currency."""
        self._secrets = tuple(s for s in (api_key, secret, password) if s)
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(timeout_ms)}
        if exchange_id == "hyperliquid":
            # ccxt's Hyperliquid credentials: the account's address and an API wallet's key.
            if api_key:
                config["walletAddress"] = api_key
            if secret:
                config["privateKey"] = secret
        else:
            if api_key:
                config["apiKey"] = api_key
            if secret:
                config["secret"] = secret
            if password:
                config["password"] = password
        merged: dict[str, Any] = ccxt_unified.default_options(rule_set) if unified else {}
        merged.update(default_options(exchange_id))  # no builder fee, no referrer (Hyperliquid)
        if exchange_id.startswith("binance"):
            # Wallet currencies (sapi capital/config/getall) are not needed for futures margin and
            # would make load_markets call the spot API with the keys.
            merged["fetchCurrencies"] = False
        merged.update(options or {})
        if merged:
            config["options"] = merged
        self._exchange: Any = getattr(ccxt_async, exchange_id)(config)
        # ccxt logs request headers (API keys included) at DEBUG through `exchange.logger`.
        self._exchange.logger = ScrubbingLogger(self._scrub)
        configure(self._exchange)
        if self.sandbox:
            self._exchange.set_sandbox_mode(True)
        if urls:
            api = self._exchange.urls.get("api")
            if isinstance(api, dict):
                api.update(urls)
            else:
                self._exchange.urls["api"] = dict(urls)
        self.capabilities: Capabilities = capabilities_of(self._exchange)
        self._markets_lock = asyncio.Lock()
        self._markets_loaded = False
        self._markets_reloaded: float | None = None  # monotonic s of the last reload (a market listed since)
        self.unified = ccxt_unified.UnifiedReader(self, rule_set, loan_mmr=loan_mmr) if unified else None
        """The unified account's reader (None: a single-wallet account)."""
        self.mark_times: dict[str, int] = {}  # symbol -> the venue's time of its last mark read (UTC ns)
        self._account_params = account_params(exchange_id, self.settle)  # the futures account (Gate)

    # ------------------------------------------------------------------ presentation
    def __repr__(self) -> str:
        creds = "set" if self._secrets else "none"
        return (
            f"CcxtVenue(exchange_id={self.exchange_id!r}, rule_set={self.name!r}, settle={self.settle!r}, "
            f"sandbox={self.sandbox!r}, credentials={creds})"
        )

    __str__ = __repr__

    # ------------------------------------------------------------------ plumbing
    def _scrub(self, text: str) -> str:
        # Credentials (also inside request headers) and request signatures out of any text.
        text = _SIGNATURE.sub(r"\1<redacted>", text)
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _redact(self, text: str) -> str:
        # Error messages: no query strings at all (they carry timestamps and signatures).
        return self._scrub(_QUERY.sub("?<redacted>", text))[:500]

    async def _call(self, what: str, fn: Callable[..., Awaitable[_T]], *args: Any, missing_ok: bool = False) -> _T:
        """Await a ccxt coroutine and translate its failure into levguard's error hierarchy.

        With ``missing_ok``, ccxt's ``OrderNotFound`` returns None instead of raising.
        """
        import ccxt

        try:
            return await fn(*args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if missing_ok and isinstance(exc, ccxt.OrderNotFound):
                return None  # type: ignore[return-value]
            kind = classify_ccxt_error(exc)
            if kind is None:
                raise
            detail = self._redact(f"{type(exc).__name__}: {exc}")
            message = f"{self.exchange_id} {what} failed: {detail}"
            logger.warning("%s", message)
            raise kind(message) from None

    async def _markets(self) -> None:
        if self._markets_loaded:
            return
        async with self._markets_lock:
            if not self._markets_loaded:
                await self._call("load_markets", self._exchange.load_markets)
                self._markets_loaded = True

    async def _reload_markets(self, why: str) -> bool:
        """Reload ccxt's markets (``load_markets(reload=True)``) for a symbol they do not list: a
        market listed after they were loaded.  At most once every :attr:`markets_reload_s` (a
        failed reload counts: logged, not raised, but an authentication failure is raised: acting
        is disabled, as on any call); True when reloaded."""
        now = time.monotonic()
        if self._markets_reloaded is not None and now - self._markets_reloaded < self.markets_reload_s:
            return False
        async with self._markets_lock:
            if self._markets_reloaded is not None and now - self._markets_reloaded < self.markets_reload_s:
                return False
            self._markets_reloaded = now
            logger.warning("%s: %s not in the markets loaded; reloading the markets", self.exchange_id, why)
            try:
                await self._call("load_markets (reload)", self._exchange.load_markets, True)
            except VenueAuthError:  # never swallowed: acting is disabled, as on any call
                raise
            except VenueError:  # logged by _call; the symbol stays unknown
                return False
            self._markets_loaded = True
        return True

    def _listed(self, symbol: object) -> bool:  # a symbol, or a ccxt position's, the markets list
        return str(symbol.get("symbol") if isinstance(symbol, Mapping) else symbol) in (self._exchange.markets or {})

    async def _market(self, symbol: str, what: str) -> Mapping[str, Any]:
        await self._markets()
        if not self._listed(symbol):
            await self._reload_markets(f"symbol {symbol!r}")
        markets: Mapping[str, Any] = self._exchange.markets or {}
        if symbol not in markets:
            raise VenuePermanentError(f"{self.exchange_id} {what}: symbol {symbol!r} is not listed")
        found: Mapping[str, Any] = markets[symbol]
        return found

    def _wire_client_id(self, client_order_id: str) -> str:
        return wire_client_id(self.exchange_id, client_order_id)

    # ------------------------------------------------------------------ reads
    async def fetch_positions(self) -> list[VenuePosition]:
        """Open positions (non-zero quantity), signed, in base units (linear) or quote units (inverse).

        ``liquidation_price`` is None when the venue reports none (absent or 0);
        ``isolated_margin`` is the margin posted to an isolated position, without its PnL
        (:func:`levguard.core.spec.isolated_margin_from_ccxt`).  A single-wallet account's
        positions settled in another currency than :attr:`settle` (a Deribit BTC-PERPETUAL beside
        USDC perpetuals; ccxt returns every currency's) are left out, logged and kept in
        :attr:`left_out`: they are margined by another wallet, which the balance does not read.
        A position in a market the loaded markets do not list (listed after they were loaded) has
        the markets reloaded (:meth:`_reload_markets`) and the positions read again; one still
        unlisted is left out too (settlement :data:`~levguard.venues.base.UNLISTED`): without its
        market its contract size is unknown, and taking it as 1 misread its quantity.
        """
        await self._markets()
        raw = await self._call("fetch_positions", self._exchange.fetch_positions, None, self._account_params)
        unlisted = {str(p.get("symbol")) for p in raw or [] if _num(p.get("contracts")) and not self._listed(p)}
        if unlisted and await self._reload_markets(f"positions in {', '.join(sorted(unlisted))}"):
            # ccxt parsed them without their market (contract size unknown): read again with it.
            raw = await self._call("fetch_positions", self._exchange.fetch_positions, None, self._account_params)
        now = _now_ns()
        markets: Mapping[str, Any] = self._exchange.markets or {}
        out: list[VenuePosition] = []
        left_out: dict[str, str] = {}
        for p in raw or []:
            if _num(p.get("contracts")) and not self._listed(p):
                left_out[str(p.get("symbol"))] = UNLISTED  # never sized with a contract size of 1
                continue
            pos = self._position(p, now)
            if pos is None:
                continue
            settle = str((markets.get(pos.symbol) or {}).get("settle") or "").upper()
            if self.unified is None and settle and settle != self.settle:
                left_out[pos.symbol] = settle
            else:
                out.append(pos)
        if left_out:
            logger.warning(
                "%s: positions settled outside the %s wallet (or in unlisted markets) left out: %s",
                self.exchange_id,
                self.settle,
                ", ".join(f"{s} ({c})" for s, c in sorted(left_out.items())),
            )
        self.left_out = left_out
        return out

    def _position(self, p: Mapping[str, Any], now: int) -> VenuePosition | None:
        symbol = str(p.get("symbol"))
        contracts = _num(p.get("contracts"))
        if not contracts:
            return None
        market: Mapping[str, Any] = (self._exchange.markets or {}).get(symbol) or {}
        size = contract_size(self.exchange_id, market, p)
        side = str(p.get("side") or "").lower()
        if side not in ("long", "short"):
            logger.warning("%s position %s has no side (%r); skipped", self.exchange_id, symbol, side)
            return None
        qty = abs(contracts) * size * (1.0 if side == "long" else -1.0)
        entry = _positive(p.get("entryPrice")) or math.nan
        mark = _positive(p.get("markPrice")) or math.nan
        inverse = bool(market.get("inverse") or p.get("inverse"))
        mode: Literal["isolated", "cross"] = "isolated" if str(p.get("marginMode")).lower() == "isolated" else "cross"
        isolated: float | None = None
        if mode == "isolated":
            info: Mapping[str, Any] = p["info"] if isinstance(p.get("info"), Mapping) else {}
            upnl = _num(p.get("unrealizedPnl"))
            if upnl is None and entry > 0.0 and mark > 0.0:  # not NaN: the PnL in ccxt's collateral, at the mark
                upnl = position_upnl(qty, entry, mark, inverse)
            posted = _num(p.get("positionMargin")), _num(info.get("isolatedWallet"))
            isolated = isolated_margin_from_ccxt(
                _num(p.get("collateral")), upnl, position_margin=posted[0], isolated_wallet=posted[1]
            )
            isolated = isolated if isolated is not None and isolated > 0.0 else None
        leverage = _positive(p.get("leverage"))
        if leverage is None:
            notional, initial = _positive(p.get("notional")), _positive(p.get("initialMargin"))
            leverage = notional / initial if notional and initial else None
        return VenuePosition(
            symbol=symbol,
            qty=qty,
            entry_price=entry,
            mark_price=mark,
            margin_mode=mode,
            isolated_margin=isolated,
            liquidation_price=_positive(p.get("liquidationPrice")),
            leverage=leverage,
            inverse=inverse,
            timestamp_ns=now,
        )

    async def fetch_balance(self) -> VenueBalance:
        """The settlement currency's cross wallet balance (deposits + realised PnL) and free margin,
        read from the futures account (:func:`levguard.venues.ccxt_quirks.account_params`: Gate's
        ccxt read the spot account).

        The wallet is what the margin engine takes (:func:`levguard.core.spec.account_from_spec`):
        without unrealised PnL and without the isolated positions' margins
        (:func:`levguard.venues.ccxt_quirks.wallet_balance`): Binance ``crossWalletBalance``,
        Hyperliquid ``marginSummary.accountValue`` less the positions' PnL and isolated margins,
        Gate's ``total`` less the isolated positions' ``margin``
        (:data:`~levguard.venues.ccxt_quirks.TOTAL_HOLDS_ISOLATED`, :meth:`_isolated_margins`).
        Bybit's ``walletBalance`` and OKX's ``cashBal`` are taken as they are: neither ccxt's source
        nor its examples show whether they hold isolated positions' margins (if they do, a mixed
        account's equity is overstated by those margins).  Deribit reports its equity (ccxt's
        ``total``) and a ``balance`` into which the daily settlements move the futures' session
        PnL: the wallet is the equity less the open futures' PnL since their average price, read
        from its positions (:meth:`_open_pnl`).  Elsewhere ccxt's ``total``.  A unified account's
        balance is the USD face value of its net holdings (:meth:`UnifiedReader.read`).
        """
        if self.unified is not None:
            return (await self.unified.read()).balance
        await self._markets()
        raw = await self._call("fetch_balance", self._exchange.fetch_balance, self._account_params)
        now = _now_ns()
        entry = raw.get(self.settle) or {}
        total = _num(entry.get("total"))
        wallet = wallet_balance(self.exchange_id, raw.get("info"), self.settle)
        if wallet is None and total is not None and self.exchange_id in TOTAL_IS_EQUITY:
            wallet = total - await self._open_pnl()
        if wallet is None and total is not None and self.exchange_id in TOTAL_HOLDS_ISOLATED:
            wallet = total - await self._isolated_margins()
        if wallet is None:
            wallet = total
        if wallet is None:
            raise VenuePermanentError(f"{self.exchange_id} fetch_balance: no {self.settle} balance reported")
        free = _num(entry.get("free"))
        return VenueBalance(
            currency=self.settle,
            wallet_balance=wallet,
            available=free if free is not None else wallet,
            timestamp_ns=now,
        )

    async def _open_pnl(self) -> float:
        """The unrealised PnL (settlement currency) of the open futures settled in it, from their
        entry to their marks: what the margin engine adds to the wallet.

        Notes
        -----
        Deribit, "Contract specifications" and "Perpetual": at the daily settlement (08:00 UTC) the
        session's realised and unrealised PnL and funding are booked to the cash ``balance``, while
        a position keeps its ``average_price``; ``equity`` is the balance plus the session's PnL
        (``private/get_account_summary``).  So ``balance`` already holds the PnL up to the last
        settlement that the engine's ``uPnL(average_price -> mark)`` counts again, and
        ``equity - uPnL`` is the wallet (options, valued in the equity, stay in it).
        """
        pnl = 0.0
        for pos in await self._settled_positions():
            if pos.entry_price > 0.0 and pos.mark_price > 0.0:  # NaN: not reported
                pnl += position_upnl(pos.qty, pos.entry_price, pos.mark_price, pos.inverse)
        return pnl

    async def _isolated_margins(self) -> float:
        """The margins posted to the isolated futures settled in the settlement currency, without
        their PnL (:func:`levguard.core.spec.isolated_margin_from_ccxt`): what the wallet of a
        :data:`~levguard.venues.ccxt_quirks.TOTAL_HOLDS_ISOLATED` exchange holds beyond the cross
        wallet.

        Raises
        ------
        VenuePermanentError
            An isolated position reports no margin: the cross wallet cannot be told apart.
        """
        posted = 0.0
        for pos in await self._settled_positions():
            if pos.margin_mode != "isolated":
                continue
            if pos.isolated_margin is None:
                raise VenuePermanentError(
                    f"{self.exchange_id} fetch_balance: isolated position {pos.symbol} reports no margin,"
                    " the cross wallet cannot be read"
                )
            posted += pos.isolated_margin
        return posted

    async def _settled_positions(self) -> list[VenuePosition]:
        # The open futures (no options) settled in the settlement currency, for fetch_balance.
        raw = await self._call("fetch_balance (positions)", self._exchange.fetch_positions, None, self._account_params)
        now = _now_ns()
        markets: Mapping[str, Any] = self._exchange.markets or {}
        out: list[VenuePosition] = []
        for p in raw or []:
            market = markets.get(str(p.get("symbol"))) or {}
            if market.get("option") or str(market.get("settle") or "").upper() != self.settle:
                continue
            pos = self._position(p, now)
            if pos is not None:
                out.append(pos)
        return out

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        """Mark prices of ``symbols`` (``fetch_mark_prices``, else tickers' ``markPrice``).

        Symbols the venue gives no mark for are left out of the result (and logged), as are symbols
        its markets do not list, even once reloaded (:meth:`_reload_markets`): ccxt refused the
        whole request for one of them (``BadSymbol``).
        """
        if not symbols:
            return {}
        await self._markets()
        if any(not self._listed(s) for s in symbols):  # ccxt refuses them all (BadSymbol)
            await self._reload_markets(f"marks of {', '.join(s for s in symbols if not self._listed(s))}")
            if unlisted := [s for s in symbols if not self._listed(s)]:
                logger.warning("%s: no mark read for unlisted %s", self.exchange_id, ", ".join(unlisted))
            if not (symbols := [s for s in symbols if self._listed(s)]):
                return {}
        has = self._exchange.has
        what = f"fetch_marks({', '.join(symbols)})"
        if has.get("fetchMarkPrices"):
            raw = await self._call(what, self._exchange.fetch_mark_prices, list(symbols))
        elif has.get("fetchTickers"):
            raw = await self._call(what, self._exchange.fetch_tickers, list(symbols))
        else:
            raw = {s: await self._call(what, self._exchange.fetch_ticker, s) for s in symbols}
        out: dict[str, float] = {}
        now = _now_ns()
        for s in symbols:
            ticker = (raw or {}).get(s) or {}
            mark = _positive(ticker.get("markPrice"))
            if mark is None:
                logger.warning("%s reported no mark price for %s", self.exchange_id, s)
                continue
            out[s] = mark
            ts = ticker.get("timestamp")  # ccxt: the venue's time (Binance premiumIndex "time")
            self.mark_times[s] = int(ts) * 1_000_000 if isinstance(ts, int | float) and ts > 0 else now
        return out

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        """The symbol's maintenance tiers (``fetch_market_leverage_tiers`` / ``fetch_leverage_tiers``).

        Returns None when ccxt has no tier endpoint for the venue, except on Hyperliquid: the
        venue's own margin table (:func:`levguard.venues.ccxt_margin_tables.hyperliquid_tiers`;
        failing that, a coin without a built-in table gets one tier at the market's max
        leverage, logged as an assumption).  OKX counts its tiers in
        contracts (ccxt passes ``minSz``/``maxSz`` on as ``minNotional``/``maxNotional``): they
        become tiers by quantity, contracts times the contract size
        (:func:`levguard.core.rules.okx.okx_tier_rows`), so a position keeps its tier at every
        price, as on OKX.

        Raises
        ------
        VenuePermanentError
            The venue's tiers fail levguard's checks (gaps, continuity rule).
        """
        market = await self._market(symbol, "fetch_tiers")
        has = self._exchange.has
        what = f"fetch_tiers({symbol})"
        if has.get("fetchLeverageTiers") is True:
            raw = await self._call(what, self._exchange.fetch_leverage_tiers, [symbol])
            rows = (raw or {}).get(symbol)
        elif has.get("fetchMarketLeverageTiers"):
            rows = await self._call(what, self._exchange.fetch_market_leverage_tiers, symbol)
        else:
            return await hyperliquid_tiers(self, symbol, market) if self.exchange_id == "hyperliquid" else None
        if not rows:
            return None
        # "" is a venue's "not reported" (Bybit's first risk limit: mmDeduction ""): left out.
        rows = [_reported(r) for r in rows]
        source = f"ccxt:{self.exchange_id} leverage tiers {symbol}"
        try:
            if self.exchange_id in TIERS_IN_CONTRACTS:
                rows, note = market_tier_rows(rows, market)
                return TierTable.from_rows(rows, source=source + note, deduction=False, basis="quantity")
            return TierTable.from_rows(rows, source=source)
        except InputError as exc:
            raise VenuePermanentError(f"{self.exchange_id} {what}: tiers rejected: {exc}") from None

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        """The current (next) funding rate per interval as a fraction, None when unknown."""
        await self._market(symbol, "fetch_funding_rate")
        if not self._exchange.has.get("fetchFundingRate"):
            return None
        raw = await self._call(f"fetch_funding_rate({symbol})", self._exchange.fetch_funding_rate, symbol)
        return _num((raw or {}).get("fundingRate"))

    #: Candles of ``symbol``: last-price or mark-price klines (:func:`levguard.venues.ccxt_klines.fetch_klines`).
    fetch_klines = ccxt_klines.fetch_klines

    # ------------------------------------------------------------------ orders
    async def round_qty(self, symbol: str, qty: float) -> Decimal:
        """Return ``qty`` (position units, > 0) as ccxt's amount rounded down to the market's amount
        precision (:func:`levguard.venues.ccxt_orders.round_amount`).

        ccxt's amount is in contracts of the market's contract size, except on Deribit, whose amounts
        are in position units already and come in whole contracts
        (:func:`levguard.venues.ccxt_quirks.contract_size`, :func:`~levguard.venues.ccxt_quirks.amount_step`).

        Raises
        ------
        VenueOrderRejectedError
            The rounded quantity is 0, below the market's minimum or above its maximum.
        """
        market = await self._market(symbol, "round_qty")
        return round_amount(self._exchange, self.exchange_id, market, symbol, qty)

    async def min_order_qty(self, symbol: str) -> float:
        """The market's smallest order in position units (:func:`~levguard.venues.ccxt_quirks.min_amount`)."""
        return min_amount(self.exchange_id, await self._market(symbol, "min_order_qty"))

    async def max_order_qty(self, symbol: str) -> float | None:
        """The market's largest market order in position units, None when it gives none
        (:func:`~levguard.venues.ccxt_orders.max_amount`: the market-order maximum)."""
        return max_amount(self.exchange_id, await self._market(symbol, "max_order_qty"))

    async def round_price(self, symbol: str, price: float) -> Decimal:
        """Return ``price`` rounded to the market's tick (ccxt ``price_to_precision``)."""
        import ccxt

        await self._market(symbol, "round_price")
        try:
            return Decimal(self._exchange.price_to_precision(symbol, price))
        except ccxt.BaseError as exc:
            raise VenuePermanentError(f"{self.exchange_id} round_price {symbol} {price!r}: {exc}") from None

    async def create_order(self, request: OrderRequest) -> OrderState:
        """Send a (reduce-only) market order with the request's client order id.

        The quantity is converted to contracts and rounded down to the market's precision
        (:meth:`round_qty`) before any request is sent.  Where ccxt needs a price to bound a market
        order (Hyperliquid: an IOC limit order at the price -/+ the slippage,
        :func:`levguard.venues.ccxt_quirks.market_slippage`) the current mark is read and given.
        On venues with a receive window (:attr:`Capabilities.order_expiry_s`) the signed request
        expires that long after it was signed, which bounds how late an order whose answer was
        lost can still arrive.
        """
        if request.side not in ("buy", "sell"):
            raise InputError(f"side must be buy or sell, was {request.side!r}")
        market = await self._market(request.symbol, "create_order")
        amount = await self.round_qty(request.symbol, request.qty)
        wire_id = self._wire_client_id(request.client_order_id)
        params: dict[str, Any] = client_id_params(self.exchange_id, wire_id)
        if request.reduce_only:
            params["reduceOnly"] = True
        params.update(margin_params(self.exchange_id, request.margin_mode))  # OKX: the position's tdMode
        what = f"create_order({request.symbol} {request.side} {amount} reduce_only={request.reduce_only})"
        price: float | None = None
        slippage = market_slippage(self._exchange)
        if slippage is not None:  # Hyperliquid: an IOC limit at the mark -/+ the slippage
            price = await order_price(self, request.symbol, what)
            params["slippage"] = slippage
        logger.info("%s %s client_order_id=%s", self.exchange_id, what, request.client_order_id)
        raw = await self._call(
            what, self._exchange.create_order, request.symbol, "market", request.side, float(amount), price, params
        )
        return self._order_state(raw, request.symbol, request.client_order_id, market)

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        """The order with this client order id, or None when the venue has never seen it
        (:func:`~levguard.venues.ccxt_orders.find_order`: Binance, OKX and Hyperliquid are asked
        directly, other venues' open and closed orders are searched).

        Raises
        ------
        VenuePermanentError
            The venue offers no way to find an order by client id through ccxt.
        """
        return await find_order(self, symbol, client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str, venue_order_id: str | None = None) -> None:
        """Cancel the order with this client order id (:func:`~levguard.venues.ccxt_orders.cancel_order`);
        returns once the venue accepted the cancel, raises :class:`~levguard.errors.VenueError` otherwise."""
        await cancel_order(self, symbol, client_order_id, venue_order_id)

    def _order_state(
        self, raw: Mapping[str, Any], symbol: str, client_order_id: str, market: Mapping[str, Any]
    ) -> OrderState:
        return order_state(self.exchange_id, raw, symbol, client_order_id, market)

    async def close(self) -> None:
        """Close ccxt's HTTP session."""
        await self._exchange.close()


def _reported(row: Mapping[str, Any]) -> Mapping[str, Any]:
    # A ccxt tier row whose raw ``info`` leaves out the fields the venue sent as "" (not reported).
    info = row.get("info")
    return {**row, "info": {k: v for k, v in info.items() if v != ""}} if isinstance(info, dict) else row
