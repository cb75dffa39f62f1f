"""The Typer app settings every command group of the CLI shares."""

from __future__ import annotations

import typer

__all__ = ["command_group"]


def command_group(name: str, help: str) -> typer.Typer:
    """Return a Typer app with the house settings.

    Help when called without a command, no shell-completion options, plain tracebacks (errors
    are reported by :mod:`levguard.cli._errors`) and plain help text (readable without a TTY, no
    ``<bool>`` metavars on flags).
    """
    return typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
