"""Rendering helpers shared by CLI commands (rich tables)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from levguard.core.margin import AccountReport


def fmt(x: float | None, digits: int = 2) -> str:
    """Format an amount with thousands separators (no decimals from 100,000 up); None as a dash."""
    if x is None or not math.isfinite(x):
        return "—"
    if abs(x) >= 100_000:
        digits = 0
    return f"{x:,.{digits}f}"


def console(stderr: bool = False) -> Console:
    """A console that is 120 columns wide when output is not a terminal (pipes, logs, CI)."""
    c = Console(stderr=stderr)
    if not c.is_terminal:
        c = Console(stderr=stderr, width=120)
    return c


def price(x: float | None) -> str:
    """Format a price with enough significant digits for small and large prices."""
    if x is None or not math.isfinite(x):
        return "—"
    digits = 2 if abs(x) >= 100 else (4 if abs(x) >= 1 else 6)
    return f"{x:,.{digits}f}"


def render_report(report: AccountReport, console: Console, title: str | None = None) -> None:
    """Print a margin report: a positions table, a margin table and the account summary.

    Two narrow tables instead of one wide one keep the report readable in an 80-column terminal.
    """
    cur = report.settlement
    pos = Table(title=title or f"{report.venue} margin report ({cur})", header_style="bold", title_justify="left")
    for col in ("symbol", "side", "mode", "qty", "entry", "mark", "notional", "lev"):
        pos.add_column(col, justify="left" if col in ("symbol", "side", "mode") else "right")
    mar = Table(header_style="bold")
    for col in ("symbol", "IM", "MM", "uPnL", "liq price", "bankruptcy", "health", "tier"):
        mar.add_column(col, justify="left" if col == "symbol" else "right")
    for p in report.positions:
        health = "—" if p.health is None else f"{p.health:.2%}"
        style = "bold red" if p.liquidatable else ("yellow" if p.health is not None and p.health < 0.05 else "")
        pos.add_row(
            p.symbol,
            p.side,
            p.margin_mode,
            fmt(abs(p.qty), 4),
            price(p.entry_price),
            price(p.mark_price),
            fmt(p.notional),
            fmt(p.leverage, 1) + "x",
        )
        mar.add_row(
            p.symbol,
            fmt(p.initial_margin),
            fmt(p.maintenance_margin),
            fmt(p.unrealized_pnl),
            price(p.liquidation_price),
            price(p.bankruptcy_price),
            health,
            f"{p.tier} ({p.mmr:.2%})",
            style=style,
        )
    console.print(pos)
    console.print(mar)
    ratio = "—" if report.margin_ratio is None else f"{report.margin_ratio:.2%}"
    health = "—" if report.health is None else f"{report.health:.2%}"
    state = "[bold red]LIQUIDATABLE[/]" if report.liquidatable else "[green]ok[/]"
    console.print(
        f"wallet {fmt(report.wallet_balance)} {cur} · equity {fmt(report.equity)} · "
        f"IM {fmt(report.initial_margin)} · MM {fmt(report.maintenance_margin)} · "
        f"margin ratio {ratio} · health {health} · {state}"
    )
