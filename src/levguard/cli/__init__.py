"""L4: the Typer command-line app. Presentation only; formulas live in core."""

from __future__ import annotations


def run() -> None:
    """Console-script entry point (``levguard``): :func:`levguard.cli.main.run`, imported here so
    that Ctrl-C while the CLI's modules are still being imported is the line ``levguard:
    interrupted`` and exit 130, as it is later, not a traceback."""
    import sys

    try:
        from levguard.cli.main import run as main_run
    except KeyboardInterrupt:
        # Nothing more is imported here: the interrupt came while importing.
        sys.stderr.write("levguard: interrupted\n")
        sys.exit(130)
    main_run()
