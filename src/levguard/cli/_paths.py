"""Output files a command will write: checked together before it computes or writes anything.

A command that writes several files (a backtest's report and JSON, a cascade's CSVs, a synthetic
market's three files) writes them one after another.  Were a later one refused (a directory in
its place, a parent that is a file), the earlier ones would already have replaced the user's
previous files, and the run's cost would be lost too.  :func:`check_outputs` refuses such a set
up front, naming the config key, and refuses two outputs that name one file, or an output that
names one of the command's inputs (``data resample IN.csv --out IN.csv`` would replace the bars
it read, ``defi pos.yaml --out pos.yaml`` the position with its report).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TypeAlias

from levguard.errors import InputError

__all__ = ["check_outputs"]


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _problem(path: Path) -> str | None:
    # Why ``path`` cannot be written, or None.
    if path.is_dir():
        return "it is a directory"
    if path.exists() and not os.access(path, os.W_OK):
        return "permission denied"
    folder = _nearest_existing(path.absolute().parent)
    if not folder.is_dir():
        return f"{str(folder)!r} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {str(folder)!r} is not writable"
    return None


_Named: TypeAlias = Iterable[tuple[str, str | os.PathLike[str] | None]]


def check_outputs(outputs: _Named, inputs: _Named = ()) -> None:
    """Refuse output paths that cannot be written, before anything is written.

    Parameters
    ----------
    outputs : iterable of (key, path)
        The config key or option that names each output (used in the message) and its path;
        a ``None`` or empty path (an output not asked for) is skipped.
    inputs : iterable of (key, path), optional
        The files the command reads (argument or option name, path): no output may name one.

    Raises
    ------
    InputError
        A path that is a directory, a path under a file, a folder that cannot be written, two
        outputs naming the same file, or an output naming an input.  Missing parent folders are
        allowed (the writers create them).
    """
    seen: dict[str, str] = {}
    for key, where in inputs:
        if where is not None and str(where) != "":
            try:
                seen.setdefault(os.path.realpath(where), f"the input {key}")
            except (OSError, ValueError):  # the reader names what is wrong with it
                continue
    for key, where in outputs:
        if where is None or str(where) == "":
            continue
        path = Path(where)
        try:
            problem = _problem(path)
            real = os.path.realpath(path)
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a loop of links
            problem = str(exc)
        if problem is not None:
            raise InputError(f"{key}: cannot write {str(where)!r}: {problem}")
        if real in seen:
            if seen[real].startswith("the input "):
                raise InputError(f"{key} names {seen[real]} {str(path)!r}: it would be written over")
            raise InputError(f"{seen[real]} and {key} name the same file {str(path)!r}")
        seen[real] = key
