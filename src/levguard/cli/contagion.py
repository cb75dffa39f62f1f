"""``levguard contagion CONFIG.yaml [--paths N] [--seed S] [--json] [--out report.html]
[--scheduler ADDR] [--calibrate]``: Monte Carlo of the market simulator v2 on correlated paths,
who transmitted losses to whom, and the venue calibration against a joint bad-debt budget
(docs/cascade.md, "Contagion report and Monte Carlo (v2)")."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from levguard.cli._errors import fail
from levguard.errors import LevguardError


def _matrix_table(title: str, frame: Any) -> Any:
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import fmt

    t = Table(title=title, title_justify="left")
    t.add_column("from \\ to")
    for c in frame.columns:
        t.add_column(str(c), justify="right")
    for name, row in frame.iterrows():
        t.add_row(str(name), *(fmt(float(x), 0) for x in row))
    return t


def _print_pools(con: Any, worst: Any, k: int) -> None:
    # With lending pools: each pool's outcome on the worst path, then the arbitrage rows from or to a pool.
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import fmt

    if worst.pools is None:
        return
    for name, r in worst.pools.iterrows():
        con.print(
            f"Pool {name} on the worst path {k}: {int(r['accounts_liquidated'])} of {int(r['borrowers'])} borrowers "
            f"liquidated, collateral sold {fmt(float(r['liquidated_collateral']), 0)}, bonus paid "
            f"{fmt(float(r['bonus_paid']), 0)}, deficit {fmt(float(r['deficit']), 0)}"
        )
    flows = worst.pool_to_venue
    if flows is None or not len(flows):
        con.print(f"Pool <-> venue: no arbitrage flow on the worst path {k}")
        return
    t = Table(title=f"Pool <-> venue: arbitrage-carried notional on the worst path {k}", title_justify="left")
    cols = ("link", "asset", "source", "destination", "direction", "notional")
    for col in cols:
        t.add_column(col, justify="right" if col == "notional" else "left")
    for row in flows.itertuples(index=False):
        t.add_row(*(str(getattr(row, c)) for c in cols[:-1]), fmt(float(row.notional), 0))
    con.print(t)


def _print_summary(cfg: Any, mc: Any, worst: Any, cal: Any) -> None:
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, fmt, pct

    con = console()
    con.print(
        f"[bold]{cfg.name}[/]  {mc.n_paths:,} paths, seed {mc.seed}, {len(mc.assets)} assets on "
        f"{len(mc.venues)} venues; joint bad-debt budget {fmt(mc.budget, 0)}"
    )
    dist = mc.distribution
    t = Table(title="Bad debt, ADL and liquidation fees per path", title_justify="left")
    t.add_column("")
    for v in dist.index:
        t.add_column(str(v), justify="right")
    for col in dist.columns:
        if col == "p_over_budget":
            continue
        cells = [dist.loc[v, col] for v in dist.index]
        shown = [pct(x) if col.startswith("p_") else fmt(float(x), 0) for x in cells]
        t.add_row(col.replace("_", " "), *shown)
    con.print(t)
    con.print(f"P(total bad debt > {fmt(mc.budget, 0)}) = [bold]{pct(mc.p_over_budget)}[/]")
    con.print(_matrix_table("Asset -> asset: force-closed notional per path (mean)", mc.asset_matrix))
    con.print(_matrix_table("Venue -> venue: arbitrage-carried notional per path (mean)", mc.venue_matrix))
    hedged = worst.hedged
    con.print(
        f"Worst path {mc.worst_path}: {len(hedged)} hedged owners, {int(hedged['hit'].sum()) if len(hedged) else 0} hit"
    )
    if len(hedged):
        h = Table()
        for col in hedged.columns:
            h.add_column(str(col), justify="right")
        for row in hedged.head(10).itertuples(index=False):
            h.add_row(*(fmt(float(x), 0) if isinstance(x, float) else str(x) for x in row))
        con.print(h)
    _print_pools(con, worst, mc.worst_path)
    if cal is not None:
        c = Table(title=f"Calibration: P(bad debt > budget) <= {cal.alpha:g}, cheapest first", title_justify="left")
        for col in cal.table.columns:
            c.add_column(str(col), justify="right")
        for row in cal.table.itertuples(index=False):
            c.add_row(*(f"{x:,.4g}" if isinstance(x, float) else str(x) for x in row))
        con.print(c)
        con.print(
            "best: " + (", ".join(f"{k}={v:g}" for k, v in cal.best.items()) if cal.best else "none meets the budget")
        )


def _inputs(config: str) -> list[tuple[str, str | None]]:
    # The files a run reads: the config and the bootstrap's bar files (paths.data, relative to
    # the config's folder); no output may name one.
    import os
    from collections.abc import Mapping

    from levguard.cascade.config_file import read_config_file

    raw, folder = read_config_file(config, "contagion")
    paths = raw.get("paths") if isinstance(raw, Mapping) else None
    data = paths.get("data") if isinstance(paths, Mapping) else None
    files: list[tuple[str, str | None]] = [("CONFIG", config)]
    if isinstance(data, Mapping):
        files += [(f"paths.data.{a}", os.path.normpath(folder / str(f))) for a, f in data.items()]
    return files


def contagion(
    config: Annotated[str, typer.Argument(metavar="CONFIG.yaml", help="Contagion config (levguard init writes one).")],
    n_paths: Annotated[int | None, typer.Option("--paths", help="Monte Carlo paths (default: the config's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Path seed (default: the config's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Write a self-contained HTML report here.")] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address, 'local' for a LocalCluster, or 'none'.")
    ] = None,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Also run the config's calibrate grid against the budget.")
    ] = False,
) -> None:
    """Monte Carlo of a market of several assets and venues: bad debt, ADL and who transmitted losses to whom."""
    from levguard.cascade.contagion import contagion_report
    from levguard.cascade.contagion_config import MAX_PATHS, load_contagion_config
    from levguard.cascade.market_montecarlo import MarketPlan, calibrate_market, market_monte_carlo
    from levguard.errors import InputError

    try:
        from levguard.cli._paths import check_outputs
        from levguard.cli.cascade import scheduler_option

        scheduler = scheduler_option(scheduler)
        cfg = load_contagion_config(config)
        check_outputs([("--out", out)], inputs=_inputs(config))  # before the run, not after it
        if n_paths is not None and n_paths < 1:
            raise InputError(f"--paths must be >= 1, was {n_paths}")
        if n_paths is not None and n_paths > MAX_PATHS:
            raise InputError(f"--paths must be at most {MAX_PATHS:,}, was {n_paths:,}")
        if seed is not None and seed < 0:
            raise InputError(f"--seed must be >= 0, was {seed}")
        if calibrate and not cfg.calibrate_grid:
            raise InputError(f"--calibrate: {config} has no calibrate.grid")
        paths = dict(cfg.paths)
        if seed is not None:
            paths["seed"] = seed
        mc = market_monte_carlo(
            cfg.population, cfg.spec, paths, n_paths or cfg.n_paths, budget=cfg.budget, quantiles=cfg.quantiles,
            steps_per_year=cfg.steps_per_year, scheduler=scheduler, chunk_size=cfg.chunk_size,
        )  # fmt: skip
        plan = MarketPlan(cfg.population, cfg.spec, {**paths, "assets": list(cfg.spec.assets)}, cfg.steps_per_year)
        worst = contagion_report(plan.simulate(mc.worst_path))
        cal = None
        if calibrate:
            cal = calibrate_market(
                cfg.population, cfg.spec, paths, cfg.calibrate_paths or (n_paths or cfg.n_paths), cfg.calibrate_grid,
                budget=cfg.budget, alpha=cfg.alpha, venues=cfg.calibrate_venues, steps_per_year=cfg.steps_per_year,
                scheduler=scheduler, chunk_size=cfg.chunk_size,
            )  # fmt: skip
        report = None
        if out:
            from levguard.report.contagion import write_contagion_report

            report = str(write_contagion_report(cfg.name, mc, worst, out, calibration=cal))
    except LevguardError as exc:
        fail(str(exc))
    if as_json:
        from levguard.cli._output import write_json_doc

        doc = {"name": cfg.name, "monte_carlo": mc.to_dict(), "worst_path": worst.to_dict()}
        write_json_doc(doc, cal, report)
        return
    _print_summary(cfg, mc, worst, cal)
    if report:
        typer.echo(f"wrote {report}")
