"""The embedded default market: three years of hourly BTC-SYNTH bars, generated on first use.

levguard ships no market data.  :func:`default_market` generates a fixed synthetic market
(:data:`DEFAULT_CONFIG`, seed 7) deterministically the first time it is needed, stores it in
the cache directory (``$LEVGUARD_CACHE_DIR`` or the platform's user cache dir, see
:func:`levguard.data.cache.cache_root`) and reads it from there afterwards, so demos and tests
work offline.  Generation takes a few hundredths of a second once the kernels are compiled;
the cache mostly saves the first process the JIT compile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from levguard.data.cache import cache_root
from levguard.data.frames import OHLCV_COLUMNS, make_funding_frame, make_ohlcv_frame
from levguard.data.synth import SynthConfig, SynthMarket, crash_frame, synth_market

__all__ = ["DEFAULT_CONFIG", "GENERATOR_VERSION", "close_digest", "default_market", "default_market_path"]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = SynthConfig(symbol="BTC-SYNTH", years=3.0, interval="1h", seed=7, start="2021-01-01")
"""Three years (26,280 bars) of hourly BTC-SYNTH from 2021-01-01 00:00 UTC, seed 7."""

GENERATOR_VERSION = 2
"""Bumped whenever the model or its defaults change the generated numbers (invalidates caches)."""

_META_KEY = b"levguard.synth"
_MARK = ("mark_open", "mark_high", "mark_low", "mark_close")
_memo: dict[str, SynthMarket] = {}


def _fingerprint(cfg: SynthConfig) -> str:
    # The config's repr covers every field and parameter; NumPy's version is included because
    # Generator streams are only guaranteed stable within a NumPy version (NEP 19).
    text = f"{GENERATOR_VERSION}|{np.__version__}|{cfg!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_market_path(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache file of the default market (it may not exist yet)."""
    cfg = DEFAULT_CONFIG
    return cache_root(root) / "synthetic" / f"{cfg.symbol}_{cfg.interval}_{_fingerprint(cfg)}.parquet"


def close_digest(market: SynthMarket) -> str:
    """Return a SHA-256 of the closes rounded to cents (stable across platforms' last-ulp noise)."""
    closes = np.round(market.ohlcv["close"].to_numpy(dtype=np.float64), 2)
    return hashlib.sha256(np.ascontiguousarray(closes).tobytes()).hexdigest()


def default_market(*, use_cache: bool = True, root: str | os.PathLike[str] | None = None) -> SynthMarket:
    """Return the embedded default market (generated on first use, then cached).

    Parameters
    ----------
    use_cache : bool
        Read and write the on-disk cache (default).  Without it the market is generated.
    root : path, optional
        Cache root instead of ``$LEVGUARD_CACHE_DIR`` / the platform's user cache dir.

    Returns
    -------
    SynthMarket
        The market of :data:`DEFAULT_CONFIG`; identical on every call, run and machine with
        the same NumPy version.

    Notes
    -----
    The cache file holds the bars (last and mark price, regime) in one Parquet file and the
    funding prints and injected crashes in its schema metadata; it is keyed by a fingerprint of
    :data:`GENERATOR_VERSION`, the NumPy version and the configuration, and written atomically
    (temporary file and rename).  A corrupt or foreign file is regenerated.  An unwritable cache
    directory is logged and the market is still returned.
    """
    if not use_cache:
        return synth_market(DEFAULT_CONFIG)
    path = default_market_path(root)
    key = str(path)
    if key in _memo:
        return _memo[key]
    market = _read(path)
    if market is None:
        market = synth_market(DEFAULT_CONFIG)
        try:
            _write(market, path)
        except OSError as exc:
            logger.warning("could not cache the default market at %s: %s", path, exc)
    _memo[key] = market
    return market


def _write(market: SynthMarket, path: Path) -> None:
    o, m = market.ohlcv, market.mark
    ts = pa.array(pd.DatetimeIndex(o.index).as_unit("ns").asi8, type=pa.timestamp("ns", tz="UTC"))
    cols: dict[str, Any] = {"timestamp": ts}
    for c in ("open", "high", "low", "close", "volume"):
        cols[c] = pa.array(o[c].to_numpy(dtype=np.float64))
    for name, c in zip(_MARK, ("open", "high", "low", "close"), strict=True):
        cols[name] = pa.array(m[c].to_numpy(dtype=np.float64))
    cols["regime"] = pa.array(market.regime.to_numpy(dtype=np.int8))
    f = market.funding
    crashes = market.crashes
    meta = {
        "fingerprint": _fingerprint(market.config),
        "funding_ts": pd.DatetimeIndex(f.index).as_unit("ns").asi8.tolist(),
        "funding_rate": f["funding_rate"].to_numpy(dtype=np.float64).tolist(),
        "funding_interval": f.attrs.get("interval", ""),
        "crashes": {
            "name": crashes["name"].tolist(),
            "start": crashes["start"].dt.as_unit("ns").astype("int64").tolist(),
            "trough": crashes["trough"].dt.as_unit("ns").astype("int64").tolist(),
            "depth": crashes["depth"].tolist(),
            "speed_hours": [int(v) for v in crashes["speed_hours"]],
            "funding_min": crashes["funding_min"].tolist(),
        },
    }
    table = pa.table(cols).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read(path: Path) -> SynthMarket | None:
    if not path.is_file():
        return None
    cfg = DEFAULT_CONFIG
    try:
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(_META_KEY)
        meta = json.loads(raw) if raw else {}
        if meta.get("fingerprint") != _fingerprint(cfg):
            return None
        ts = table.column("timestamp").cast(pa.int64()).to_numpy()
        col = {name: table.column(name).to_numpy() for name in table.column_names if name != "timestamp"}
        source = f"synthetic(seed={cfg.seed})"
        sym, iv = cfg.symbol, cfg.interval
        ohlcv = make_ohlcv_frame(ts, *(col[c] for c in OHLCV_COLUMNS), symbol=sym, interval=iv, source=source)
        m_o, m_h, m_l, m_c = (col[c] for c in _MARK)
        mark = make_ohlcv_frame(ts, m_o, m_h, m_l, m_c, None, symbol=sym, interval=iv, source=source, kind="mark")
        funding = make_funding_frame(
            np.asarray(meta["funding_ts"], dtype=np.int64),
            np.asarray(meta["funding_rate"], dtype=np.float64),
            symbol=cfg.symbol,
            source=source,
            interval=meta["funding_interval"],
        )
        regime = pd.Series(col["regime"].astype(np.int8), index=ohlcv.index, name="regime")
        c = meta["crashes"]
        crashes = crash_frame(c["name"], c["start"], c["trough"], c["depth"], c["speed_hours"], c["funding_min"])
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as exc:
        logger.warning("ignoring unreadable default-market cache %s: %s", path, exc)
        return None
    return SynthMarket(ohlcv, mark, funding, regime, crashes, cfg)
