"""The embedded default market: deterministic, cached on first use, stable digest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import levguard.data.default as dm
from levguard.data.synth import synth_market

# SHA-256 of the default market's closes rounded to cents (NumPy 2.x PCG64 streams).  A change
# means the generated data changed: bump GENERATOR_VERSION and update this value deliberately.
DEFAULT_DIGEST = "77c036e1a7c504ead6be7056c18f94f4723d4d526b85b4c280b958b439d7e771"


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache root and an empty in-process memo."""
    monkeypatch.setattr(dm, "_memo", {})
    monkeypatch.setenv("LEVGUARD_CACHE_DIR", str(tmp_path))
    return tmp_path


def _same(a: dm.SynthMarket, b: dm.SynthMarket) -> None:
    for x, y in ((a.ohlcv, b.ohlcv), (a.mark, b.mark), (a.funding, b.funding), (a.crashes, b.crashes)):
        pd.testing.assert_frame_equal(x, y, check_exact=True)
        assert x.attrs == y.attrs
    pd.testing.assert_series_equal(a.regime, b.regime)


def test_default_market_is_generated_cached_and_stable(fresh: Path) -> None:
    path = dm.default_market_path()
    assert path.parent.parent == fresh
    assert not path.exists()
    first = dm.default_market()
    assert path.is_file()
    assert dm.default_market() is first  # memoised in-process
    dm._memo.clear()
    cached = dm.default_market()  # read back from disk
    assert cached is not first
    _same(cached, first)
    _same(first, synth_market(dm.DEFAULT_CONFIG))
    assert dm.close_digest(cached) == DEFAULT_DIGEST
    o = cached.ohlcv
    assert len(o) == 3 * 365 * 24
    assert o.index[0] == pd.Timestamp("2021-01-01", tz="UTC")
    assert o.attrs == {"kind": "ohlcv", "symbol": "BTC-SYNTH", "interval": "1h", "source": "synthetic(seed=7)"}
    assert len(cached.crashes) == 3


def test_corrupt_cache_is_regenerated(fresh: Path) -> None:
    path = dm.default_market_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    market = dm.default_market()
    assert dm.close_digest(market) == DEFAULT_DIGEST
    dm._memo.clear()
    _same(dm.default_market(), market)


def test_unwritable_cache_still_returns_the_market(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(dm, "_memo", {})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    market = dm.default_market(root=blocker)  # the cache root is a file: cannot create directories
    assert dm.close_digest(market) == DEFAULT_DIGEST
    assert dm.close_digest(dm.default_market(use_cache=False)) == DEFAULT_DIGEST
