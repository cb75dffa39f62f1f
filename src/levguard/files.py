"""Writing output files whole or not at all.

Layer-neutral (like ``levguard.documents``): the reports and the CLI write their files through
:func:`replacing`, so a failed write (a full disk, a killed process) leaves the previous file as
it was instead of cut short, and a command writing several files replaces them together.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ReplaceError", "replacing"]


class ReplaceError(OSError):
    """A move of :func:`replacing` failed; ``written`` names the paths left with the new file
    (none when every replaced path was restored, the usual case)."""

    written: tuple[Path, ...] = ()


@contextlib.contextmanager
def replacing(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; move them into place when the block ends.

    Write each file to its temporary path (same folder, same suffix, so a writer that picks the
    format by suffix still does).  When the block ends without an error every temporary file
    replaces its path, in order; on an error they are removed and the paths are untouched.  A
    move that fails undoes the ones before it (each replaced file is kept as a backup, a hard
    link or else a copy beside it, until every move is done) and raises :class:`ReplaceError`:
    the paths hold the previous run's files, never the outputs of two runs.

    Notes
    -----
    A path that is a symbolic link is written through: its target is replaced, not the link.
    An existing file keeps its permission bits.  Missing parent folders are created.  The move
    is ``os.replace``, atomic on POSIX within one file system (the temporary file is in the
    target's folder): a path is never missing, before, during or after.  Raises ``OSError`` as
    the writes do.
    """
    targets = [Path(os.path.realpath(p)) for p in paths]
    stem = f".levguard-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temps = [t.with_name(f"{stem}-{i}.tmp{t.suffix}") for i, t in enumerate(targets)]
    backups: list[Path] = []
    moved: list[tuple[Path, Path | None]] = []  # (target, its backup or None when it is new)
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield temps
        for i, (temp, target) in enumerate(zip(temps, targets, strict=True)):
            backup: Path | None = None
            try:
                with contextlib.suppress(FileNotFoundError):  # a new file keeps the default mode
                    os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
                if os.path.lexists(target):
                    backup = target.with_name(f"{stem}-{i}.bak{target.suffix}")
                    _keep(target, backup)
                    backups.append(backup)
                os.replace(temp, target)
            except OSError as exc:
                written = _undo(moved)
                err = ReplaceError(exc.errno, exc.strerror or str(exc), str(target))
                err.written = tuple(written)
                raise err from exc
            moved.append((target, backup))
    finally:
        for path in temps + backups:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


def _keep(target: Path, backup: Path) -> None:
    # A backup of target that shares nothing the move changes: a hard link, else a copy.
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)


def _undo(moved: list[tuple[Path, Path | None]]) -> list[Path]:
    # Put back what the moves replaced (a new path is removed); return the paths that could not be.
    left: list[Path] = []
    for target, backup in reversed(moved):
        try:
            if backup is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(backup, target)
        except OSError:
            left.append(target)
    return left
