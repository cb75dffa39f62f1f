"""L2: market data. Loaders, validation, downloaders, cache, synthetic markets, oracle feeds.

Every function returns validated pandas frames with a UTC ``DatetimeIndex`` named ``timestamp``
and provenance in ``frame.attrs`` (``symbol``, ``interval``, ``kind``, ``source``), or numpy
views of them for kernels (:func:`levguard.data.frames.ohlcv_arrays`).  See docs/data.md.

The names below are imported on first use, so ``import levguard.data`` does not load ccxt or
pyarrow until a downloader or the cache is needed.
"""

from __future__ import annotations

from levguard.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # frames
    "ohlcv_arrays": "levguard.data.frames",
    "make_ohlcv_frame": "levguard.data.frames",
    "make_funding_frame": "levguard.data.frames",
    "interval_to_ns": "levguard.data.frames",
    # loading and validation
    "load_ohlcv": "levguard.data.loaders",
    "load_funding": "levguard.data.loaders",
    "load_series": "levguard.data.loaders",
    "check_file": "levguard.data.loaders",
    "save_frame": "levguard.data.loaders",
    "validate_ohlcv": "levguard.data.validate",
    "validate_funding": "levguard.data.validate",
    "ValidationReport": "levguard.data.validate",
    # resampling
    "resample_ohlcv": "levguard.data.resample",
    "align_funding": "levguard.data.resample",
    # downloads and cache
    "BinanceArchive": "levguard.data.download",
    "CcxtSource": "levguard.data.download",
    "ParquetCache": "levguard.data.cache",
    "cache_root": "levguard.data.cache",
    # oracle feeds
    "build_index_frame": "levguard.data.oracle",
    "build_mark_frame": "levguard.data.oracle",
    # synthetic markets
    "SynthConfig": "levguard.data.synth",
    "SynthParams": "levguard.data.synth",
    "synth_market": "levguard.data.synth",
    "default_market": "levguard.data.default",
    "NAMED_CRASHES": "levguard.data.crashes",
}

__all__, __getattr__ = lazy_exports("levguard.data", _EXPORTS, globals())
