"""How every CLI command reports bad input: one line on stderr, exit status 2, never a traceback."""

from __future__ import annotations

from typing import NoReturn

import typer

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def say_interrupted() -> None:
    """Print ``levguard: interrupted`` on stderr: the one line Ctrl-C gives, never a traceback.

    Plain ``sys.stderr`` (no rich import): the interrupt may come while modules are imported.
    """
    import sys

    sys.stderr.write("levguard: interrupted\n")
    sys.stderr.flush()


def one_line(message: str, limit: int = 1000) -> str:
    """``message`` on one line (newlines and runs of spaces collapsed), cut at ``limit`` characters."""
    text = " ".join(str(message).split()) or "invalid input"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(message: str) -> NoReturn:
    """Print ``levguard: error: <message>`` as one line on stderr and exit with status 2."""
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"levguard: error: {one_line(message)}", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def not_empty(**options: str | None) -> None:
    """Refuse an option given as the empty string (``--symbol ''`` would read as "not given").

    The keywords are the options' names with ``_`` for ``-``; ``None`` (not given) passes.
    """
    for name, value in options.items():
        if value is not None and not str(value).strip():
            fail(f"--{name.replace('_', '-')} must not be empty, was {value!r}")
