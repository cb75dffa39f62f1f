"""Any exchange through ccxt: OHLCV (and mark/index candles), funding-rate history, leverage tiers.

Downloads are paginated with ``since``/``limit`` (ccxt's sync API), retried with backoff on
ccxt's transient errors and cached per calendar month in :class:`levguard.data.cache.ParquetCache`
(``source="ccxt"``, ``market=<exchange id>``). A month that has ended is stored as complete and
never requested again; the current month is stored with how far it is covered and extended on
the next call. Leverage tiers are cached as a JSON snapshot per symbol and UTC day.

Error mapping (:func:`classify_ccxt_error`)
-------------------------------------------
* ``ccxt.NetworkError`` and its subclasses (``RequestTimeout``, ``RateLimitExceeded``,
  ``DDoSProtection``, ``ExchangeNotAvailable``, ``OnMaintenance``, ``InvalidNonce``) are
  retryable: retried, then :class:`~levguard.errors.VenueRetryableError`.
* Every other ccxt error (``AuthenticationError``, ``BadSymbol``, ``BadRequest``,
  ``NotSupported``, ``ExchangeError``, ...) is permanent:
  :class:`~levguard.errors.VenuePermanentError` at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from levguard.core.rules.okx import TIERS_IN_CONTRACTS, market_tier_rows
from levguard.core.tiers import TierTable
from levguard.data.cache import CacheEntry, CacheKey, ParquetCache
from levguard.data.download._common import (
    NS_PER_MS,
    DownloadResult,
    NullProgress,
    Progress,
    assemble_result,
    combine_frames,
    day_label,
    index_ns,
    iter_months,
    month_label,
    normalize_kind,
    now_ns,
    sorted_unique,
    time_range,
)
from levguard.data.download.http import RetryPolicy, unknown_host
from levguard.data.frames import interval_to_ns, make_funding_frame, make_ohlcv_frame, ns_to_interval
from levguard.data.validate import funding_interval_ns, validate_funding, validate_ohlcv
from levguard.errors import DataError, InputError, LevguardError, VenueError, VenuePermanentError, VenueRetryableError

__all__ = ["CcxtSource", "classify_ccxt_error", "make_exchange"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


def classify_ccxt_error(exc: BaseException) -> type[VenueError] | None:
    """Return :class:`VenueRetryableError` or :class:`VenuePermanentError` for a ccxt exception, None otherwise.

    ``ccxt.NetworkError`` (timeouts, rate limits, exchange not available, maintenance) is
    retryable, except a host name that does not resolve (:func:`~levguard.data.download.http.unknown_host`:
    offline, or a wrong ``api_urls`` host); every other ``ccxt.BaseError`` (authentication, bad
    symbol, bad request, not supported, generic exchange errors) is permanent.
    """
    import ccxt

    if isinstance(exc, ccxt.NetworkError):
        return VenuePermanentError if unknown_host(exc) else VenueRetryableError
    if isinstance(exc, ccxt.BaseError):
        return VenuePermanentError
    return None


def make_exchange(
    exchange_id: str,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    api_urls: Mapping[str, str] | None = None,
    rate_limit_ms: float | None = None,
    timeout_ms: int = 30_000,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """Create a ccxt (sync) exchange with rate limiting on.

    Parameters
    ----------
    exchange_id : str
        A ccxt id such as ``binanceusdm``, ``bybit``, ``okx``.
    api_key, secret : str, optional
        Credentials, needed only for private endpoints (Binance's leverage brackets). Never logged.
    api_urls : mapping, optional
        Replacements for entries of ``exchange.urls["api"]`` (e.g. ``{"fapiPublic": ...}``) to
        point the exchange at a mirror or a local test server.
    rate_limit_ms : float, optional
        Milliseconds between requests (default: ccxt's value for the exchange).
    timeout_ms : int
        Request timeout in milliseconds.
    options : mapping, optional
        Exchange options merged into ccxt's defaults.

    Raises
    ------
    InputError
        ``exchange_id`` is not a ccxt exchange.
    """
    import ccxt

    if not isinstance(exchange_id, str) or exchange_id not in ccxt.exchanges:
        raise InputError(f"exchange must be a ccxt exchange id such as binanceusdm, bybit or okx, was {exchange_id!r}")
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(timeout_ms)}
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    if rate_limit_ms is not None:
        config["rateLimit"] = float(rate_limit_ms)
    if options:
        config["options"] = dict(options)
    exchange = getattr(ccxt, exchange_id)(config)
    if api_urls:
        current = exchange.urls.get("api")
        if isinstance(current, dict):
            current.update(api_urls)
        else:
            exchange.urls["api"] = dict(api_urls)
    return exchange


def funding_print(exchange_id: str, record: Mapping[str, Any]) -> float | None:
    """Return the rate paid at one ``fetch_funding_rate_history`` record, or None.

    ccxt's ``fundingRate``, except on Deribit: its funding is continuous and its history has one
    record an hour whose ``fundingRate`` ccxt fills with ``interest_8h``
    (support.deribit.com "Funding Specifications"; ccxt ``deribit.parse_funding_rate``), so the
    hour's payment is the record's ``interest_1h`` (else an eighth of the 8-hour rate).  Summing
    the 8-hour rates of hourly records charged eight times the funding (a helper's audit).
    """
    rate = record.get("fundingRate")
    if exchange_id == "deribit":
        info = record.get("info")
        hourly = info.get("interest_1h") if isinstance(info, Mapping) else None
        if hourly is not None:
            return float(hourly)
        return None if rate is None else float(rate) / 8.0
    return None if rate is None else float(rate)


class CcxtSource:
    """Download market history from any ccxt exchange into the Parquet cache.

    Parameters
    ----------
    exchange : ccxt.Exchange
        A sync ccxt exchange (see :func:`make_exchange`).
    cache : ParquetCache, optional
        Where frames are stored (default: ``ParquetCache()``).
    retry : RetryPolicy, optional
        Retries for transient ccxt errors (default :class:`RetryPolicy()`).
    sleep : callable
        Backoff sleep (tests pass a recorder).
    page_limit : int, optional
        Rows per request; default: the exchange's documented maximum where ccxt knows it, else
        the exchange's default.
    progress : Progress, optional
        Progress display (one bar per download, counting months).
    clock : callable
        Returns "now" in ns: decides which months are complete and which bars are closed.
    """

    SOURCE = "ccxt"

    def __init__(
        self,
        exchange: Any,
        cache: ParquetCache | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int | None = None,
        progress: Progress | None = None,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        if page_limit is not None and (not isinstance(page_limit, int) or page_limit < 1):
            raise InputError(f"page_limit must be a positive integer, was {page_limit!r}")
        self.exchange = exchange
        self.cache = cache if cache is not None else ParquetCache()
        self.retry = retry or RetryPolicy()
        self.page_limit = page_limit
        self.progress: Progress = progress if progress is not None else NullProgress()
        self._sleep = sleep
        self._clock = clock
        self._markets_loaded = False

    @property
    def exchange_id(self) -> str:
        """The ccxt id of the exchange (``"binanceusdm"``)."""
        return str(self.exchange.id)

    # -- calls --------------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[..., _T], *args: Any) -> _T:
        """Call a ccxt method, retrying transient errors with backoff and mapping errors to levguard's.

        Raises
        ------
        VenueRetryableError
            A transient error persisted through every attempt.
        VenuePermanentError
            A permanent error (first occurrence).
        """
        failures = 0
        while True:
            try:
                return fn(*args)
            except Exception as exc:
                kind = classify_ccxt_error(exc)
                if kind is None:
                    raise
                detail = f"{type(exc).__name__}: {_short(exc)}"
                if kind is VenuePermanentError:
                    raise VenuePermanentError(f"{self.exchange_id} {what} failed: {detail}") from exc
                failures += 1
                if failures >= self.retry.attempts:
                    raise VenueRetryableError(
                        f"{self.exchange_id} {what} failed after {failures} attempt(s); last error: {detail}"
                    ) from exc
                wait = self.retry.delay(failures)
                logger.info("%s %s failed (%s); retry in %.2fs", self.exchange_id, what, detail, wait)
                self._sleep(wait)

    def resolve_market(self, symbol: str) -> Mapping[str, Any]:
        """Return the ccxt market for a unified symbol (``BTC/USDT:USDT``) or an exchange id (``BTCUSDT``).

        An exchange id shared by several markets resolves to the linear perpetual, then any
        contract, then the first match. Loads markets on first use (one network call).

        Raises
        ------
        InputError
            The exchange lists no such market.
        """
        if not self._markets_loaded:
            self.call("load_markets", self.exchange.load_markets)
            self._markets_loaded = True
        markets: Mapping[str, Any] = self.exchange.markets or {}
        if symbol in markets:
            found: Mapping[str, Any] = markets[symbol]
            return found
        by_id = (self.exchange.markets_by_id or {}).get(symbol)
        candidates = list(by_id) if isinstance(by_id, list) else ([by_id] if by_id else [])
        if not candidates:
            raise InputError(f"symbol {symbol!r} is not listed on {self.exchange_id} ({len(markets)} markets known)")
        for test in (lambda m: m.get("swap") and m.get("linear"), lambda m: m.get("contract"), lambda m: True):
            for m in candidates:
                if test(m):
                    return dict(m)
        return dict(candidates[0])

    # -- series -------------------------------------------------------------------------------

    def download(
        self, symbol: str, kind: str, interval: str, start: object, end: object | None = None
    ) -> DownloadResult:
        """Return ``[start, end)`` of one series, fetching the months not yet (fully) cached.

        The parameters are :meth:`Downloader.download`'s: ``symbol`` a unified ccxt symbol
        (``BTC/USDT:USDT``) or the exchange's id (``BTCUSDT``), the cache is keyed by the symbol as
        given and ``frame.attrs["symbol"]`` is the exchange's id; ``interval`` a candle timeframe
        (``1m``, ``1h``, ``1d``, ...).  Only closed candles are stored.

        Raises
        ------
        InputError
            Unknown kind, timeframe or symbol; empty range.
        VenueRetryableError, VenuePermanentError
            As raised by :meth:`call`.
        DataError
            The exchange returned rows that fail validation.
        """
        kind = normalize_kind(kind)
        interval = "" if kind == "funding" else self._check_interval(interval)
        now = self._clock()
        start_ns, end_ns = time_range(start, end, now)
        # Candles are stored once closed: open times before the start of the current bar.
        cut = now - now % interval_to_ns(interval) if interval else now
        months = list(iter_months(start_ns, end_ns))
        used: list[CacheEntry] = []
        fetched: list[str] = []
        notes: list[str] = []
        label = f"{self.exchange_id} {symbol} {interval} {kind}".replace("  ", " ")
        with self.progress.task(label, total=len(months), unit="months") as task:
            for m0, m1 in months:
                period = month_label(m0)
                key = CacheKey(self.SOURCE, self.exchange_id, kind, symbol, interval, period)
                entry = self.cache.entry(key)
                if entry is None or not entry.covers(end_ns):
                    if m0 >= cut:
                        notes.append(f"{period}: in the future; nothing to fetch")
                        task.advance(1)
                        continue
                    entry = self._fetch_month(key, entry, m0, min(m1, cut), complete=m1 <= cut)
                    fetched.append(period)
                if entry.rows:
                    used.append(entry)
                task.advance(1)
        frames = [self.cache.read(e.key) for e in used]
        first = frames[0].attrs if frames else {}
        for note in notes:
            logger.info("%s %s %s: %s", self.exchange_id, symbol, kind, note)
        return assemble_result(
            frames,
            used,
            fetched,
            notes,
            kind=kind,
            symbol=str(first.get("symbol", symbol)),
            interval=interval,
            source=str(first.get("source", f"ccxt:{self.exchange_id} {symbol}")),
            start_ns=start_ns,
            end_ns=end_ns,
            cache_dir=self.cache.dataset_dir(self.SOURCE, self.exchange_id, kind, symbol, interval),
        )

    def _check_interval(self, interval: str) -> str:
        timeframes = getattr(self.exchange, "timeframes", None) or {}
        if timeframes and interval not in timeframes:
            raise InputError(
                f"interval must be one of {self.exchange_id}'s timeframes ({', '.join(timeframes)}), was {interval!r}"
            )
        interval_to_ns(interval)
        return interval

    def _fetch_month(
        self, key: CacheKey, entry: CacheEntry | None, m0: int, until: int, *, complete: bool
    ) -> CacheEntry:
        """Fetch ``[since, until)`` of one month (continuing a partial entry) and store it."""
        market = self.resolve_market(key.symbol)
        since = m0
        previous: pd.DataFrame | None = None
        if entry is not None and entry.covered_until_ns is not None and not entry.missing:
            since = max(m0, entry.covered_until_ns)
            previous = self.cache.read(key) if entry.rows else None
        if key.kind == "funding":
            frame = self._funding_frame(market, since, until)
        else:
            frame = self._ohlcv_frame(market, key.kind, key.interval, since, until)
        if previous is not None:
            frame = combine_frames([previous, frame], {str(k): str(v) for k, v in frame.attrs.items()}, m0, until)
        if key.kind == "funding":
            frame.attrs["interval"] = _funding_interval(frame)
            frame, report = validate_funding(frame)  # a print repeated ms apart is dropped
        else:
            _, report = validate_ohlcv(frame)
        report.raise_for_errors()
        return self.cache.write(key, frame, complete=complete, covered_until_ns=until)

    def _limit(self, market: Mapping[str, Any], method: str) -> int | None:
        if self.page_limit is not None:
            return self.page_limit
        # ccxt's feature table: features[type][subType][method]["limit"] (spot has no subType level).
        features = getattr(self.exchange, "features", None) or {}
        node: Any = features.get(market.get("type"), {})
        if market.get("subType") and isinstance(node, Mapping) and market.get("subType") in node:
            node = node[market["subType"]]
        node = node.get(method) if isinstance(node, Mapping) else None
        limit = node.get("limit") if isinstance(node, Mapping) else None
        return int(limit) if isinstance(limit, int | float) and limit > 0 else None

    def _pages(
        self,
        what: str,
        fetch_page: Callable[[int], Any],
        span_ns: tuple[int, int],
        step_ms: int,
        stamp: Callable[[Any], int | None],
    ) -> Iterator[Any]:
        """Yield the rows in ``[since, until)`` (ns) of the pages ``fetch_page(cursor_ms)`` returns.

        The cursor starts at ``since`` and moves to the last row's time (ms) plus ``step_ms``; paging
        stops at ``until``, at an empty page, or when the exchange ignores the cursor.
        """
        cursor = _ceil_ms(span_ns[0])
        until_ms = _ceil_ms(span_ns[1])
        while cursor < until_ms:
            page = self.call(what, fetch_page, cursor) or []
            stamps = [stamp(r) for r in page]
            known = [t for t in stamps if t is not None]
            if not known:
                break
            yield from (r for r, t in zip(page, stamps, strict=True) if t is not None and cursor <= t < until_ms)
            last = max(known)
            if last < cursor:  # the exchange ignored `since`; stop rather than loop
                break
            cursor = last + step_ms

    def _ohlcv_frame(
        self, market: Mapping[str, Any], kind: str, interval: str, since_ns: int, until_ns: int
    ) -> pd.DataFrame:
        """Page through ``fetch_ohlcv`` from ``since`` to ``until`` (ns, open times)."""
        unified = str(market["symbol"])
        params: dict[str, Any] = {}
        if kind in ("mark", "index"):
            capability = "fetchMarkOHLCV" if kind == "mark" else "fetchIndexOHLCV"
            if not self.exchange.has.get(capability):
                raise VenuePermanentError(f"{self.exchange_id} has no {kind}-price candles in ccxt ({capability})")
            params["price"] = kind
        limit = self._limit(market, "fetchOHLCV")
        rows: list[Sequence[Any]] = list(
            self._pages(
                f"fetch_ohlcv({unified}, {interval})",
                lambda cursor: self.exchange.fetch_ohlcv(unified, interval, cursor, limit, params),
                (since_ns, until_ns),
                interval_to_ns(interval) // NS_PER_MS,
                lambda r: int(r[0]),
            )
        )
        ts = np.array([int(r[0]) for r in rows], dtype=np.int64) * NS_PER_MS
        cols = [np.array([_num(r[i]) for r in rows], dtype=np.float64) for i in range(1, 6)]
        idx, _ = sorted_unique(ts)
        what = "fetch_ohlcv" if not params else f"fetch_ohlcv(price={kind})"
        return make_ohlcv_frame(
            ts[idx],
            *(c[idx] for c in cols),
            symbol=str(market["id"]),
            interval=interval,
            source=f"ccxt:{self.exchange_id} {what} {unified} {interval}",
            kind=kind,
        )

    def _funding_frame(self, market: Mapping[str, Any], since_ns: int, until_ns: int) -> pd.DataFrame:
        """Page through ``fetch_funding_rate_history`` from ``since`` to ``until`` (ns, settlement times)."""
        unified = str(market["symbol"])
        if not self.exchange.has.get("fetchFundingRateHistory"):
            raise VenuePermanentError(f"{self.exchange_id} has no funding-rate history in ccxt")
        limit = self._limit(market, "fetchFundingRateHistory")
        got: dict[int, float] = {}
        for r in self._pages(
            f"fetch_funding_rate_history({unified})",
            lambda cursor: self.exchange.fetch_funding_rate_history(unified, cursor, limit),
            (since_ns, until_ns),
            1,
            lambda r: None if r.get("timestamp") is None else int(r["timestamp"]),
        ):
            rate = funding_print(self.exchange_id, r)
            if rate is not None:
                got[int(r["timestamp"])] = rate
        ts = np.array(sorted(got), dtype=np.int64)
        rates = np.array([got[int(t)] for t in ts], dtype=np.float64)
        return make_funding_frame(
            ts * NS_PER_MS,
            rates,
            symbol=str(market["id"]),
            source=f"ccxt:{self.exchange_id} fetch_funding_rate_history {unified}",
        )

    # -- leverage tiers -----------------------------------------------------------------------

    def leverage_tiers(self, symbols: Sequence[str], *, refresh: bool = False) -> dict[str, TierTable]:
        """Return the exchange's maintenance-margin tiers per symbol as :class:`levguard.TierTable`.

        A snapshot per symbol and UTC day is kept in the cache
        (``<root>/ccxt/<exchange>/tiers/<symbol>/<YYYY-MM-DD>.json``, with source and time); a
        repeated call on the same day sends no request unless ``refresh``.

        OKX counts its tiers in contracts: they become tiers by position size
        (``TierTable.basis == "quantity"``, ``contracts x contract size``,
        :func:`levguard.core.rules.okx.okx_tier_rows`), so a position keeps its tier at every price
        as on OKX; ``table.in_notional(price)`` values them at a price for code that needs
        notional tiers (the contagion simulator).  A snapshot that cannot be read, or an OKX one
        written before tiers by size (no ``basis``), is fetched again.

        Parameters
        ----------
        symbols : sequence of str
            Unified symbols or exchange ids; the result is keyed by these strings.
        refresh : bool
            Ignore today's snapshot.

        Raises
        ------
        VenuePermanentError
            The exchange has no tier endpoint in ccxt, or returned none for a symbol (Binance's
            endpoint needs an API key).
        DataError
            The exchange's tiers fail :class:`TierTable` validation.
        """
        if isinstance(symbols, str):
            raise InputError(f"symbols must be a list of symbols, was the string {symbols!r}")
        now = self._clock()
        label = day_label(now)
        result: dict[str, TierTable] = {}
        todo: list[str] = []
        for s in symbols:
            path = self.cache.snapshot_path(self.SOURCE, self.exchange_id, "tiers", s, label)
            table = None if refresh or not path.is_file() else self._snapshot_tiers(path)
            if table is None:
                todo.append(s)
            else:
                result[s] = table
        if not todo:
            return result
        markets = {s: self.resolve_market(s) for s in todo}
        raw = self._fetch_tiers([str(m["symbol"]) for m in markets.values()])
        taken = dt.datetime.fromtimestamp(now / 1e9, tz=dt.UTC).isoformat(timespec="seconds")
        for s, market in markets.items():
            rows = raw.get(str(market["symbol"]))
            if not rows:
                raise VenuePermanentError(f"{self.exchange_id} returned no leverage tiers for {s}")
            source = f"ccxt:{self.exchange_id} leverage tiers {market['symbol']} at {taken}"
            try:
                where = f"{self.exchange_id} tiers of {s}"
                if self.exchange_id in TIERS_IN_CONTRACTS:  # OKX: caps in contracts, tiers by position size
                    rows, note = market_tier_rows(rows, market)
                    table = TierTable.from_rows(
                        rows, source=source + note, where=where, deduction=False, basis="quantity"
                    )
                else:
                    table = TierTable.from_rows(rows, source=source, where=where)
            except LevguardError as exc:
                raise DataError(f"{self.exchange_id} leverage tiers of {s} are inconsistent: {exc}") from None
            snapshot = {
                "exchange": self.exchange_id,
                "symbol": s,
                "market": market["symbol"],
                "taken_at": taken,
                "source": table.source,
                "basis": table.basis,
                "tiers": table.to_rows(),
            }
            path = self.cache.snapshot_path(self.SOURCE, self.exchange_id, "tiers", s, label)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(snapshot, indent=1, allow_nan=False), encoding="utf-8")
            tmp.replace(path)
            result[s] = table
        return result

    def _snapshot_tiers(self, path: Path) -> TierTable | None:
        # Today's snapshot, or None to fetch again: unreadable (a cache file), or OKX's valued
        # at a mark before tiers by size (no basis).
        try:
            snap = json.loads(path.read_text(encoding="utf-8"))
            basis = str(snap.get("basis", "notional"))
            if self.exchange_id in TIERS_IN_CONTRACTS and basis != "quantity":
                return None
            return TierTable.from_rows(
                snap["tiers"], source=str(snap["source"]), deduction=basis == "notional", basis=basis
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, LevguardError):
            return None

    def _fetch_tiers(self, unified: list[str]) -> Mapping[str, Any]:
        has = self.exchange.has
        if has.get("fetchLeverageTiers"):
            out: Mapping[str, Any] = self.call("fetch_leverage_tiers", self.exchange.fetch_leverage_tiers, unified)
            return out
        if has.get("fetchMarketLeverageTiers"):
            return {
                u: self.call(f"fetch_market_leverage_tiers({u})", self.exchange.fetch_market_leverage_tiers, u)
                for u in unified
            }
        raise VenuePermanentError(f"{self.exchange_id} has no leverage-tier endpoint in ccxt")


def _ceil_ms(ns: int) -> int:
    return -(-ns // NS_PER_MS)


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _funding_interval(frame: pd.DataFrame) -> str:
    """The most common step between settlements, rounded to the minute, as an interval string
    (``"8h"``), or ``""`` (:func:`levguard.data.validate.funding_interval_ns`)."""
    step = funding_interval_ns(index_ns(frame))
    return ns_to_interval(step) if step else ""


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
