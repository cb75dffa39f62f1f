"""L2: market data. Loaders, validation, downloaders, cache, synthetic markets, oracle feeds.

Every function returns validated pandas frames with a UTC ``DatetimeIndex`` named ``timestamp``
and provenance in ``frame.attrs`` (``symbol``, ``interval``, ``kind``, ``source``), or numpy
views of them for kernels (:func:`levguard.data.frames.ohlcv_arrays`).
"""
