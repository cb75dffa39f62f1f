"""``levguard replay-account ACCOUNT --prices BTC=FILE --prices ETH=FILE``: hold a unified or cross
account through history and report where its venue liquidates it (docs/unified.md)."""

from __future__ import annotations

import sys
from typing import Annotated, Any, cast

import typer

from levguard.cli._errors import fail
from levguard.errors import LevguardError


def _worst(ratios: Any) -> str:
    # The worst margin ratio over the window; none where the ratio is undefined throughout (an
    # account that starts with no equity or no maintenance margin printed "nan").
    worst = float(ratios.min())
    return f"{worst:.4g}" if worst == worst else "— (undefined: no equity or no maintenance margin)"


def replay_account_command(
    file: Annotated[str, typer.Argument(help="Unified or cross account spec (JSON/YAML).")],
    prices: Annotated[
        list[str],
        typer.Option(
            "--prices",
            help="ASSET=FILE, once per asset the account depends on: OHLC bars (mark_* columns when present).",
        ),
    ],
    funding: Annotated[
        list[str] | None,
        typer.Option("--funding", help="ASSET=FILE: funding rates of the perpetuals on that asset."),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First bar (ISO time, UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Last bar (ISO time, UTC).")] = None,
    intrabar: Annotated[str, typer.Option(help="corners (each bar's joint extremes) or close.")] = "corners",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result (with every bar) as JSON.")] = False,
) -> None:
    """Hold an account through history: equity, the venue's ratio and the bar that liquidates it."""
    from levguard.backtest.account import replay_account
    from levguard.data.loaders import load_funding, load_ohlcv
    from levguard.risk.joint import parse_asset_files

    try:
        frames = {a: load_ohlcv(path) for a, path in parse_asset_files(prices).items()}
        rates = {a: load_funding(path) for a, path in parse_asset_files(funding).items()}
        run = replay_account(file, frames, funding=rates, start=start, end=end, intrabar=cast(Any, intrabar))
    except LevguardError as exc:
        fail(str(exc))
    if as_json:
        from levguard.cli._output import json_text

        sys.stdout.write(json_text(run.to_dict()) + "\n")
        return
    from levguard.cli._output import console, fmt, price

    con = console()
    f = run.frame
    con.print(
        f"[bold]{run.venue}[/] {f.index[0]:%Y-%m-%d %H:%M} → {f.index[-1]:%Y-%m-%d %H:%M} UTC, {len(f)} bars "
        f"({run.intrabar}); {run.ratio_name} trigger {run.trigger:g}"
    )
    con.print(
        f"equity {fmt(float(f['equity'].iloc[0]))} → {fmt(float(f['equity'].iloc[-1]))}; "
        f"worst {run.ratio_name} {_worst(f['worst_ratio'])}; "
        f"funding paid {fmt(float(f['funding_paid'].iloc[-1]))}"
    )
    for note in run.notes:
        con.print(f"[yellow]note:[/] {note}")
    if run.liquidated_at is None:
        con.print("[green]not liquidated[/] over the window")
        return
    where = ", ".join(f"{a} {price(p)}" for a, p in run.liquidation_prices.items())
    con.print(
        f"[red]liquidated[/] in the bar opening {run.liquidated_at:%Y-%m-%d %H:%M} UTC at {where} "
        f"(equity there {fmt(run.equity_at_liquidation)}, before the venue's liquidation fees)"
    )
