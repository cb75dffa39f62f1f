"""Writing output files whole or not at all.

Layer-neutral (like ``levguard.documents``): the reports and the CLI write their files through
:func:`replacing`, so a failed write (a full disk, a killed process) leaves the previous file as
it was instead of cut short, and a command writing several files replaces them together.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing"]


@contextlib.contextmanager
def replacing(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; move them into place when the block ends.

    Write each file to its temporary path (same folder, same suffix, so a writer that picks the
    format by suffix still does).  When the block ends without an error every temporary file
    replaces its path, in order; on an error they are removed and the paths are untouched.

    Notes
    -----
    A path that is a symbolic link is written through: its target is replaced, not the link.
    An existing file keeps its permission bits.  Missing parent folders are created.  The move
    is ``os.replace``, atomic on POSIX within one file system (the temporary file is in the
    target's folder).  Raises ``OSError`` as the writes and moves do.
    """
    targets = [Path(os.path.realpath(p)) for p in paths]
    temps = [t.with_name(f".levguard-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{t.suffix}") for t in targets]
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield temps
        for temp, target in zip(temps, targets, strict=True):
            with contextlib.suppress(FileNotFoundError):  # a new file keeps the default mode
                os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
            os.replace(temp, target)
    finally:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
