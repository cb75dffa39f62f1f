"""``levguard replay CONFIG.yaml [--json] [--out report.html] [--calibrate]``: replay a historical
crash window on real paths through the cascade simulator v2 (docs/cascade.md, "Replaying a
historical crash")."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from levguard.cli._errors import fail
from levguard.errors import LevguardError


def _money(x: Any) -> str:
    from levguard.cli._output import fmt

    return "—" if x is None else fmt(float(x), 0)


def _print_table(result: Any) -> None:
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, pct

    con = console()
    cfg = result.config
    con.print(f"[bold]{cfg.name}[/]  {cfg.start} → {cfg.end} UTC, {cfg.step_seconds} s steps, seed {cfg.seed}")
    table = Table(show_lines=False)
    table.add_column("")
    rows = result.table.to_dict(orient="records")
    for r in rows:
        table.add_column(f"{r['venue']} {r['asset']}", justify="right")

    def line(label: str, key: str, render: Any) -> None:
        table.add_row(label, *(render(r.get(key)) for r in rows))

    def ratio(x: Any) -> str:
        return "—" if x is None or x != x else f"{float(x):.2f}x"

    def text(x: Any) -> str:
        return "—" if not x else str(x).replace("T", " ").replace("Z", "")

    def secs(x: Any) -> str:
        return "—" if x is None or x != x else f"{float(x):,.0f}"

    line("open interest (one side)", "open_interest", _money)
    line("liquidated notional (book)", "liquidated_notional", _money)
    line("ADL notional", "adl_notional", _money)
    line("liquidated incl. ADL side", "liquidated_incl_adl", _money)
    line("  observed liquidated", "observed_liquidated_notional", _money)
    line("  model / observed", "ratio_liquidated", ratio)
    line("  observed ADL", "observed_adl_notional", _money)
    line("  model / observed", "ratio_adl", ratio)
    line("bad debt", "bad_debt", _money)
    line("insurance fund start", "fund_start", _money)
    line("insurance fund min", "fund_min", _money)
    line("insurance fund end", "fund_end", _money)
    line("first liquidation (UTC)", "first_liquidation", text)
    line("first ADL (UTC)", "first_adl", text)
    line("first ADL delay (s)", "first_adl_delay_seconds", secs)
    line("  observed delay (s)", "observed_first_adl_delay_seconds", secs)
    line("peak-to-trough (venue)", "peak_to_trough", pct)
    line("peak-to-trough (exogenous)", "exogenous_peak_to_trough", pct)
    line("accounts liquidated", "accounts_liquidated", lambda x: "—" if x is None else f"{int(x):,}")
    line("accounts deleveraged (ADL)", "accounts_deleveraged", lambda x: "—" if x is None else f"{int(x):,}")
    con.print(table)


def _print_calibration(cal: Any) -> None:
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console

    con = console()
    con.print(f"[bold]calibration on {cal.target}[/]: {len(cal.table)} parameter sets, best first")
    t = Table()
    for col in cal.table.columns:
        t.add_column(str(col), justify="right")
    for row in cal.table.head(10).itertuples(index=False):
        t.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    con.print(t)
    con.print("best parameters: " + ", ".join(f"{k}={v:g}" for k, v in cal.best.to_dict().items()))


def replay(
    config: Annotated[str, typer.Argument(metavar="CONFIG.yaml", help="Replay config (levguard init writes one).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Write a self-contained HTML report here.")] = None,
    calibrate: Annotated[
        bool,
        typer.Option("--calibrate", help="Fit the asset-free parameters on the config's target asset, then replay."),
    ] = False,
) -> None:
    """Replay a historical crash on real paths: liquidations, ADL, bad debt and fund per venue and asset."""
    from dataclasses import replace

    from levguard.cascade.replay import load_replay_config, run_replay
    from levguard.cli._paths import check_outputs

    try:
        check_outputs([("--out", out)], inputs=[("CONFIG", config)])  # before the config's own file checks
        cfg = load_replay_config(config)
        # The files the run reads: not to be replaced by its report.
        klines = [(f"assets.{a.name}.klines", a.klines) for a in cfg.assets]
        observed = [(f"observed.{a.name}.liq_adl_csv", a.observed.file or None) for a in cfg.assets]
        check_outputs([("--out", out)], inputs=[("CONFIG", config), *klines, *observed])
        cal = None
        if calibrate:
            from levguard.cascade.replay_calibrate import calibrate_replay

            cal = calibrate_replay(cfg)
            cfg = replace(cfg, params=cal.best)
        result = run_replay(cfg)
        report = None
        if out:
            from levguard.report.replay import write_replay_report

            report = str(write_replay_report(result, out))
    except LevguardError as exc:
        fail(str(exc))
    if as_json:
        from levguard.cli._output import write_json_doc

        write_json_doc(result.to_dict(), cal, report)
        return
    if cal is not None:
        _print_calibration(cal)
    _print_table(result)
    if report:
        typer.echo(f"wrote {report}")
