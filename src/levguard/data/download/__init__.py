"""Real-exchange downloaders with a local Parquet cache.

* :class:`BinanceArchive`: Binance's public data archive (data.binance.vision): USDⓈ-M klines,
  mark-price and index-price klines, funding rates; resumable downloads, SHA-256 verified.
* :class:`CcxtSource`: any exchange through ccxt: OHLCV (and mark/index candles where the
  exchange has them), funding-rate history, leverage tiers as :class:`levguard.TierTable`.
* :class:`Downloader`: what both downloaders are (``download(symbol, kind, interval, start, end)``).
* :class:`HttpClient`: the small urllib client behind the archive (timeouts, retries with
  backoff and jitter, rate limiting, HTTP Range resume).

Both downloaders write one Parquet file per period into :class:`levguard.data.cache.ParquetCache`
and read cached periods back without any network request.
"""

from levguard.data.download._common import (
    Downloader,
    DownloadResult,
    NullProgress,
    Progress,
    ProgressTask,
    RichProgress,
    normalize_kind,
    to_ns,
)
from levguard.data.download.binance_archive import BINANCE_ARCHIVE_URL, BinanceArchive, archive_path
from levguard.data.download.ccxt_source import CcxtSource, classify_ccxt_error, make_exchange
from levguard.data.download.http import HttpClient, RateLimiter, RetryPolicy

__all__ = [
    "BINANCE_ARCHIVE_URL",
    "BinanceArchive",
    "CcxtSource",
    "DownloadResult",
    "Downloader",
    "HttpClient",
    "NullProgress",
    "Progress",
    "ProgressTask",
    "RateLimiter",
    "RetryPolicy",
    "RichProgress",
    "archive_path",
    "classify_ccxt_error",
    "make_exchange",
    "normalize_kind",
    "to_ns",
]
