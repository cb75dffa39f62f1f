"""levguard.files.replacing: several files replaced together, or none of them.

A move failing after others (a busy entry, a full disk, a file made immutable mid-run) left the
files moved before it replaced and the rest old: the outputs of two runs side by side.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from levguard import files
from levguard.files import ReplaceError, replacing


def _flaky(monkeypatch: pytest.MonkeyPatch, bad: str, *, restore_fails: bool = False) -> None:
    real = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(dst).endswith(bad) and ".tmp" in str(src):
            raise OSError(errno.EBUSY, "Device or resource busy")
        if restore_fails and ".bak" in str(src):
            raise OSError(errno.EIO, "I/O error")
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)


def _write(temps: list[Path], text: str) -> None:
    for t in temps:
        t.write_text(text)


def test_a_failed_move_restores_the_files_moved_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = [tmp_path / "a.html", tmp_path / "b.json"]
    for p in old:
        p.write_text("OLD")
    os.chmod(old[0], 0o600)
    new = tmp_path / "sub" / "new.csv"  # a new file before the failing one is removed again
    paths = [old[0], new, old[1], tmp_path / "c.csv"]
    _flaky(monkeypatch, "b.json")
    with pytest.raises(ReplaceError) as info, replacing(*paths) as temps:
        _write(temps, "NEW")
    assert info.value.errno == errno.EBUSY
    assert info.value.filename == str(old[1])
    assert info.value.written == ()
    assert [p.read_text() for p in old] == ["OLD", "OLD"]
    assert (old[0].stat().st_mode & 0o777) == 0o600
    assert not new.exists()
    assert not (tmp_path / "c.csv").exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.html", "b.json"]  # no leftovers


def test_a_path_that_cannot_be_restored_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.html", tmp_path / "b.json"
    for p in (a, b):
        p.write_text("OLD")
    _flaky(monkeypatch, "b.json", restore_fails=True)
    with pytest.raises(ReplaceError) as info, replacing(a, b) as temps:
        _write(temps, "NEW")
    assert info.value.written == (a.resolve(),)
    assert (a.read_text(), b.read_text()) == ("NEW", "OLD")


def test_every_file_is_replaced_when_every_move_succeeds(tmp_path: Path) -> None:
    a, b = tmp_path / "a.html", tmp_path / "b.json"
    a.write_text("OLD")
    with replacing(a, b) as temps:
        _write(temps, "NEW")
    assert (a.read_text(), b.read_text()) == ("NEW", "NEW")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b.json"]
