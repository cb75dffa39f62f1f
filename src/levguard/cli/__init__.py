"""L4: the Typer command-line app. Presentation only; formulas live in core."""
