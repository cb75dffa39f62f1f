"""save_frame: the times written are the frame's times, in UTC, to the nanosecond."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from levguard.data.frames import make_ohlcv_frame
from levguard.data.loaders import load_ohlcv, save_frame
from levguard.errors import DataError

H = 3_600_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z


def _bars(ts: list[int]) -> pd.DataFrame:
    n = len(ts)
    return make_ohlcv_frame(
        ts, [1.0] * n, [2.0] * n, [0.5] * n, [1.5] * n, [3.0] * n, symbol="T", interval="1h", source="mem"
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_zoned_index_is_written_as_its_utc_times(tmp_path: Path, suffix: str) -> None:
    # A Tokyo index was written as its wall-clock times with a Z in CSV: 9 hours late.
    bars = _bars([T0, T0 + H, T0 + 2 * H])
    tokyo = bars.copy()
    tokyo.index = pd.DatetimeIndex(bars.index).tz_convert("Asia/Tokyo")
    back = load_ohlcv(save_frame(tokyo, tmp_path / f"T_1h{suffix}"))
    assert list(back.index) == list(bars.index)
    if suffix == ".csv":
        assert (tmp_path / "T_1h.csv").read_text().splitlines()[1].startswith("2024-01-01T00:00:00Z,")


def test_fractions_of_a_second_are_written_not_cut_off(tmp_path: Path) -> None:
    ms, us, ns = T0 + H - 1_000_000, T0 + 2 * H - 1_000, T0 + 3 * H - 1
    for times, text in (
        ([ms, ms + H], "2024-01-01T00:59:59.999Z"),
        ([us, us + H], "2024-01-01T01:59:59.999999Z"),
        ([ns, ns + H], "2024-01-01T02:59:59.999999999Z"),
    ):
        path = save_frame(_bars(times), tmp_path / "F_1h.csv")
        assert path.read_text().splitlines()[1].startswith(text + ",")
        back = load_ohlcv(path, validate=False)
        assert back.index.as_unit("ns").asi8.tolist() == times


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_naive_times_are_refused(tmp_path: Path, suffix: str) -> None:
    naive = _bars([T0, T0 + H])
    naive.index = pd.DatetimeIndex(naive.index).tz_localize(None)
    with pytest.raises(DataError, match=r"N_1h\.(csv|parquet): the index holds naive datetimes; levguard needs UTC"):
        save_frame(naive, tmp_path / f"N_1h{suffix}")
    assert not (tmp_path / f"N_1h{suffix}").exists()


def test_an_index_that_is_not_times_is_refused_for_csv(tmp_path: Path) -> None:
    # A RangeIndex was written as 1970-01-01T00:00:00Z rows, without an error.
    table = _bars([T0, T0 + H]).reset_index()
    with pytest.raises(DataError, match=r"R_1h\.csv: the index must be a DatetimeIndex of UTC times .*was RangeIndex"):
        save_frame(table, tmp_path / "R_1h.csv")
    assert not (tmp_path / "R_1h.csv").exists()
    # Parquet keeps the times in their column, which the loader reads.
    assert list(load_ohlcv(save_frame(table, tmp_path / "R_1h.parquet")).index) == list(table["timestamp"])


def test_a_missing_time_is_refused(tmp_path: Path) -> None:
    bars = _bars([T0, T0 + H])
    bars.index = pd.DatetimeIndex([bars.index[0], pd.NaT], name="timestamp")
    with pytest.raises(DataError, match=r"row 1 of the index is a missing time \(NaT\)"):
        save_frame(bars, tmp_path / "M_1h.csv")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_failed_write_leaves_the_previous_file_whole(tmp_path: Path, suffix: str) -> None:
    # `ulimit -f 100; levguard data resample ... --out old.csv` cut the old file short: save_frame
    # wrote over it in place. It now writes beside it and moves the result over it at the end.
    src = tmp_path / "S_1h.csv"
    n = 20_000
    save_frame(_bars([T0 + i * H for i in range(n)]).assign(volume=[float(i) for i in range(n)]), src)
    out = tmp_path / f"out{suffix}"
    out.write_bytes(b"the previous file\n")
    limit = 40_000  # bytes: above the previous file, below the new one
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))\n"
        "from levguard.cli.main import run\n"
        f"sys.argv = ['levguard', 'data', 'resample', {str(src)!r}, '--interval', '2h', '--out', {str(out)!r}]\n"
        "run()\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2, res.stderr
    assert f"{out}: cannot be written (" in res.stderr
    assert "File too large" in res.stderr
    assert out.read_bytes() == b"the previous file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, out.name])  # no temporary file left
