"""``levguard cascade CONFIG.yaml`` and ``levguard calibrate CONFIG.yaml``: the cascading-liquidation
simulator from a config file (docs/cascade.md)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from levguard.cli._errors import fail as _fail
from levguard.cli._paths import check_outputs
from levguard.errors import LevguardError
from levguard.files import replacing

_SCHEDULER_HELP = (
    "Dask scheduler: 'local' for a LocalCluster (the default), 'none' to run in this process, or an "
    "address such as tcp://host:8786 (overrides the file's)."
)


_COMMON = ("market", "regime", "venue", "steps_per_year")
"""The :class:`_Setup` attributes passed to ``simulate_path``, ``monte_carlo``, ``calibrate`` and ``max_safe``."""


class _Setup:
    """The simulator's objects a validated config describes."""

    def __init__(self, cfg: Any, source: str) -> None:
        from levguard.cascade.price_paths import crash_step_hours
        from levguard.cascade.simulator import MarginRegime, Market, VenueSettings
        from levguard.config.cascade import (
            market_kwargs,
            path_spec,
            population_kwargs,
            regime_kwargs,
            steps_per_year,
            venue_kwargs,
        )
        from levguard.errors import ConfigError, InputError

        self.cfg = cfg
        self.source = source
        try:
            self.market = Market(**market_kwargs(cfg))
            self.regime = MarginRegime(**regime_kwargs(cfg, source))
            self.venue = VenueSettings(**venue_kwargs(cfg))
        except InputError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        self.spec = self._spec(path_spec(cfg))
        self.steps_per_year = steps_per_year(cfg, crash_step_hours)
        self.population = self._population(population_kwargs(cfg))

    def _spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        from levguard.cascade.price_paths import paths_for
        from levguard.errors import DataError, InputError

        if spec.get("model") == "user" and "file" in spec:
            import numpy as np
            import pandas as pd

            from levguard.data.loaders import read_table

            table = read_table(spec["file"])
            file, columns = spec["file"], ", ".join(map(str, table.columns))
            names = {str(c).lower(): c for c in table.columns}
            col = spec.get("column")
            if col is None:
                # price, close or mark; no guess among other columns (the last one was taken: a
                # volume column became the prices).
                col = next((names[k] for k in ("price", "close", "mark") if k in names), None)
                if col is None:
                    raise DataError(
                        f"{file}: no price, close or mark column; name the prices with paths.column (columns are "
                        f"{columns})"
                    )
            if col not in table.columns:
                raise DataError(f"{file}: no column {col!r}; columns are {columns}")
            when = next((names[k] for k in ("timestamp", "time", "date", "datetime") if k in names), None)
            if when is not None:  # the path runs in file order: the times must say the same
                times = pd.to_datetime(table[when], utc=True, errors="coerce")
                ns = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
                bad = np.flatnonzero(times.isna().to_numpy() | np.r_[False, np.diff(ns) <= 0])
                if bad.size:
                    i = int(bad[0])
                    what = "is not a time" if times.isna().iloc[i] else "is not after the previous row's"
                    raise DataError(
                        f"{file}: {when} at row {i} ({table[when].iloc[i]!r}) {what}; the path runs in file order, "
                        "so give it times in order"
                    )
            values = pd.to_numeric(table[col], errors="coerce")
            if values.isna().any():
                i = int(np.flatnonzero(values.isna().to_numpy())[0])
                raise DataError(f"{file}: {col} at row {i} must be a number, was {table[col].iloc[i]!r}")
            spec = {"model": "user", "path": values.to_numpy(dtype=float)}
        try:
            paths_for(spec, 1)  # validate the spec once here; workers regenerate paths from it
        except InputError as exc:
            raise InputError(f"{self.source}: paths: {exc}") from None
        return spec

    def _population(self, kwargs: dict[str, Any]) -> Any:
        from levguard.cascade.population import load_population, population_from_distribution
        from levguard.errors import ConfigError, InputError

        if "file" in kwargs:
            return load_population(kwargs["file"])
        n = kwargs.pop("n")
        try:
            return population_from_distribution(n, **kwargs)
        except InputError as exc:
            raise ConfigError(f"{self.source}: population.distribution: {exc}") from None

    def common(self) -> dict[str, Any]:
        # The keyword arguments every simulator entry point takes from the setup.
        return {name: getattr(self, name) for name in _COMMON}


def _scheduler(cfg: Any, option: str | None) -> str | None:
    if option is None:
        return cfg.scheduler  # type: ignore[no-any-return]
    return scheduler_option(option)


def scheduler_option(option: str | None) -> str | None:
    """The ``--scheduler`` option of the Monte Carlo commands: None (in process) for absent or
    ``none``, ``local`` or a Dask address as given; anything else is refused by name."""
    import re

    if option is None or option == "none":
        return None
    if not re.match(r"^(local|(tcp|tls|ucx|inproc|ws|wss)://\S+)$", option):
        from levguard.errors import InputError

        raise InputError(f"--scheduler must be 'local', 'none' or an address such as tcp://host:8786, was {option!r}")
    return option


def _write_file(where: str | None, key: str, write: Callable[[Path], object]) -> str | None:
    # Write an output file the config names (``key``); None when it names none.
    from levguard.errors import InputError

    if not where:
        return None
    p = Path(where)
    try:
        with replacing(p) as (temp,):  # whole or not at all; a missing folder is created
            write(temp)
    except OSError as exc:
        raise InputError(f"{key}: cannot write {p} ({exc})") from None
    return str(p)


def _write_csv(frame: Any, where: str | None, key: str) -> str | None:
    return _write_file(where, key, lambda p: frame.to_csv(p, index=False))


def _write_json(doc: dict[str, Any], where: str | None, key: str) -> str | None:
    from levguard.cli._output import json_text

    return _write_file(where, key, lambda p: p.write_text(json_text(doc, default=_jsonable), encoding="utf-8"))


def _write_report(where: str | None, results: Any, **kwargs: Any) -> str | None:
    # The HTML report (levguard.report.cascade.write_cascade_report) when the config asks for one.
    if not where:
        return None
    from levguard.report.cascade import write_cascade_report

    return str(write_cascade_report(results, where, **kwargs))


def _publish(doc: dict[str, Any], where: str | None, key: str, as_json: bool, default: Any = str) -> Any:
    # Write the document's JSON file (config key ``key``; its path under "json"), then with
    # --json print the document and return None, else return the rich console to print tables on.
    try:
        doc["json"] = _write_json(doc, where, key)
    except LevguardError as exc:
        _fail(str(exc))
    if as_json:
        from levguard.cli._output import json_text

        typer.echo(json_text(doc, default=default))
        return None
    from levguard.cli._output import console

    return console()


def _print_files(con: Any, files: tuple[tuple[str, str | None], ...]) -> None:
    # One line per file written (label: path); files not asked for are skipped.
    for label, value in files:
        if value:
            con.print(f"{label}: {value}")


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """Plain floats; non-finite as None (strict JSON)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = None
        elif hasattr(v, "item"):
            x = v.item()
            out[k] = None if isinstance(x, float) and not math.isfinite(x) else x
        else:
            out[k] = v
    return out


def _money(x: Any) -> str:
    from levguard.cli._output import fmt

    return fmt(float(x), 0)


def _summary_table(summary: dict[str, Any], agg: dict[str, Any] | None, title: str) -> Any:
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import pct, price

    t = Table(title=title, header_style="bold", title_justify="left", show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    bad = float(summary["bad_debt"])
    rows = [
        ("liquidated notional", _money(summary["liquidated_notional"])),
        ("accounts liquidated", f"{int(summary['accounts_liquidated']):,}"),
        ("overshoot", pct(summary["overshoot"], 2)),
        (
            "price low / high",
            f"{price(summary['min_price'])} / {price(summary['max_price'])} "
            f"(without the cascade {price(summary['min_exogenous'])} / {price(summary['max_exogenous'])})",
        ),
        ("insurance fund min / end", f"{_money(summary['fund_min'])} / {_money(summary['fund_end'])}"),
        ("ADL", f"{_money(summary['adl_notional'])} notional in {int(summary['adl_events']):,} closes"),
        ("bad debt", f"[bold red]{_money(bad)}[/]" if bad > 0 else "[green]0[/]"),
    ]
    if agg is not None:
        n = int(agg["n_paths"])
        rows += [
            (f"Monte Carlo ({n:,} paths)", ""),
            (
                "bad debt mean / p95 / p99",
                f"{_money(agg['mean_bad_debt'])} / {_money(agg['bad_debt_p95'])} / {_money(agg['bad_debt_p99'])}",
            ),
            (f"P(bad debt > {_money(agg['budget'])})", pct(agg["p_bad_debt_over_budget"], 2)),
            ("expected liquidated notional", _money(agg["expected_liquidated_notional"])),
            ("mean overshoot / P(ADL)", f"{pct(agg['mean_overshoot'], 2)} / {pct(agg['p_adl'], 1)}"),
        ]
    for k, v in rows:
        t.add_row(k, v)
    return t


def _describe(cfg: Any, n_accounts: int, regime: Any) -> str:
    # ``regime``: the MarginRegime the run used (a venue's `liquidation:` rule resolved).
    p = cfg.paths
    market = cfg.market
    # "tier" and "restore" are words: `{:g}` of them crashed after the run (an audit).
    partial = regime.partial if isinstance(regime.partial, str) else f"{regime.partial:g}"
    if regime.partial == "tier":
        partial += f" {regime.step_mode}"
    return (
        f"{n_accounts:,} accounts; {p.model} paths of {getattr(p, 'n_steps', '?')} steps; "
        f"{market.impact} impact, depth {market.depth:,.0f}; {regime.kind} margin regime "
        f"(mmr {regime.mmr:g}, liquidation fee {regime.liquidation_fee:g}, partial {partial}); "
        f"insurance fund {cfg.venue.insurance_fund:,.0f}, ADL {'on' if cfg.venue.adl else 'off'}, "
        f"latency {cfg.venue.latency_steps} steps, mark lag {cfg.venue.mark_lag_steps} steps"
    )


def _inputs(cfg: Any, config: str) -> list[tuple[str, str | None]]:
    # The files a run reads, by argument or config key: no output may name one.
    return [
        ("CONFIG", config),
        ("population.file", cfg.population.file),
        ("paths.file", getattr(cfg.paths, "file", None)),
    ]


def cascade(
    config: Annotated[str, typer.Argument(help="Cascade file (YAML/JSON), see docs/cascade.md.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary (and Monte Carlo aggregates) as JSON.")
    ] = False,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help=_SCHEDULER_HELP)] = None,
) -> None:
    """Simulate a liquidation cascade on one price path (and the Monte Carlo, if configured);
    print the summary and write the HTML report and CSV tables."""
    from levguard.cascade.price_paths import path_for
    from levguard.cascade.simulator import monte_carlo, simulate_path
    from levguard.config.cascade import load_cascade_file

    progress = sys.stdout.isatty() and not as_json
    try:
        cfg = load_cascade_file(config)
        sched = _scheduler(cfg, scheduler)
        out = cfg.output
        paths_csv = out.paths_csv if cfg.monte_carlo is not None else None  # written with a Monte Carlo only
        check_outputs(
            [
                ("output.report", out.report),
                ("output.csv", out.csv),
                ("output.paths_csv", paths_csv),
                ("output.events_csv", out.events_csv),
                ("output.json", out.json_path),
            ],
            inputs=_inputs(cfg, config),
        )
        setup = _Setup(cfg, config)
        path = path_for(setup.spec, cfg.path_index)
        result = simulate_path(setup.population, path, max_events=cfg.max_events, **setup.common())
        mc = None
        if cfg.monte_carlo is not None:
            mc = monte_carlo(
                setup.population,
                setup.spec,
                cfg.monte_carlo.n_paths,
                budget=cfg.monte_carlo.budget,
                scheduler=sched,
                chunk_size=cfg.chunk_size,
                progress=progress,
                **setup.common(),
            )
        report = _write_report(
            out.report,
            {f"path {cfg.path_index}": result},
            title=f"levguard cascade: {config}",
            subtitle=_describe(cfg, len(result.accounts), setup.regime),
            monte_carlo={f"{cfg.monte_carlo.n_paths:,} paths": mc} if mc is not None and cfg.monte_carlo else None,
        )
        steps = result.steps.copy()
        steps.insert(0, "step", range(len(steps)))
        csv = _write_csv(steps, out.csv, "output.csv")
        paths_csv = _write_csv(mc.paths, out.paths_csv, "output.paths_csv") if mc is not None else None
        events_csv = _write_csv(result.events, out.events_csv, "output.events_csv")
        doc: dict[str, Any] = {
            "config": config,
            "path_index": cfg.path_index,
            "accounts": len(result.accounts),
            "summary": _clean(result.summary),
            "monte_carlo": _clean(mc.aggregates) if mc is not None else None,
            "report": report,
            "csv": csv,
            "paths_csv": paths_csv,
            "events_csv": events_csv,
        }
    except LevguardError as exc:
        _fail(str(exc))
    con = _publish(doc, out.json_path, "output.json", as_json)
    if con is None:
        return
    con.print(
        _summary_table(
            result.summary, mc.aggregates if mc is not None else None, f"Cascade on path {cfg.path_index}: {config}"
        )
    )
    if result.summary.get("events_dropped", 0) > 0:
        typer.echo(
            f"note: {int(result.summary['events_dropped']):,} events beyond max_events were counted, not kept", err=True
        )
    _print_files(
        con,
        (
            ("HTML report", report),
            ("Per-step table", csv),
            ("Per-path table", paths_csv),
            ("Events", events_csv),
            ("JSON", doc["json"]),
        ),
    )


def _best_table(table: Any, plan: dict[str, Any], top: int = 10) -> Any:
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import pct

    params = list(plan["grid"])
    eff = plan["efficiency"]
    safe = table[table["safe"]]
    if eff is not None and len(safe):
        safe = safe.sort_values([eff, "p_bad_debt_over_budget"], ascending=[False, True], kind="stable")
    else:
        safe = safe.sort_values("p_bad_debt_over_budget", kind="stable")
    n_safe = len(safe)
    title = (
        f"Safe parameter sets: {n_safe} of {len(table)} with P(bad debt > {_money(plan['budget'])}) "
        f"<= {plan['epsilon']:.2%} over {plan['n_paths']:,} paths" + (f"; most {eff} first, best ★" if eff else "")
    )
    t = Table(title=title, header_style="bold", title_justify="left")
    for c in [*params, "P(bad debt > K)", "bad debt p99", "expected liquidated", ""]:
        t.add_column(c, justify="right")
    for _, r in safe.head(top).iterrows():
        t.add_row(
            *(_param(r[p]) for p in params),
            pct(r["p_bad_debt_over_budget"], 2),
            _money(r["bad_debt_p99"]),
            _money(r["expected_liquidated_notional"]),
            "★" if bool(r.get("best", False)) else "",
        )
    return t


def _param(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def calibrate(
    config: Annotated[str, typer.Argument(help="Cascade file with a `calibrate:` section, see docs/cascade.md.")],
    scheduler: Annotated[str | None, typer.Option("--scheduler", help=_SCHEDULER_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the calibration table (records) and the best set as JSON.")
    ] = False,
) -> None:
    """Sweep venue parameters over the same Monte Carlo paths; find the sets with
    P(bad debt > K) <= epsilon and the most capital-efficient of them; write the report and CSV."""
    from levguard.cascade.simulator import calibrate as run_calibration
    from levguard.cascade.simulator import max_safe
    from levguard.config.cascade import calibration_plan, load_cascade_file

    progress = sys.stdout.isatty() and not as_json
    try:
        cfg = load_cascade_file(config)
        plan = calibration_plan(cfg, config)
        sched = _scheduler(cfg, scheduler)
        assert cfg.calibrate is not None
        out = cfg.calibrate.output
        check_outputs(
            [
                ("calibrate.output.report", out.report),
                ("calibrate.output.csv", out.csv),
                ("calibrate.output.json", out.json_path),
            ],
            inputs=_inputs(cfg, config),
        )
        setup = _Setup(cfg, config)
        # The grid and the cap search run the same Monte Carlo: scenarios, budget, risk level.
        scenarios = (setup.population, setup.spec, plan["n_paths"])
        mc: dict[str, Any] = {
            "budget": plan["budget"],
            "epsilon": plan["epsilon"],
            "scheduler": sched,
            "chunk_size": cfg.chunk_size,
            **setup.common(),
        }
        table = run_calibration(*scenarios, plan["grid"], efficiency=plan["efficiency"], progress=progress, **mc)
        search = None
        if plan["max_safe"] is not None:
            ms = plan["max_safe"]
            search = max_safe(*scenarios, ms["parameter"], ms["lo"], ms["hi"], tolerance=ms["tolerance"], **mc)
        report = _write_report(
            out.report,
            None,
            title=f"levguard calibrate: {config}",
            subtitle=f"{len(table)} parameter sets x {plan['n_paths']:,} paths (common random numbers); "
            f"safe when P(bad debt > {plan['budget']:,.0f}) <= {plan['epsilon']:.2%}. "
            + _describe(cfg, len(setup.population.side), setup.regime),
            calibration=table,
            x=plan["x"],
            y=plan["y"],
            search=search,
        )
        csv = _write_csv(table, out.csv, "calibrate.output.csv")
        best = table[table["best"]]
        from levguard.cli._output import json_records, json_row

        doc: dict[str, Any] = {
            "config": config,
            "parameter_sets": len(table),
            "n_paths": plan["n_paths"],
            "budget": plan["budget"],
            "epsilon": plan["epsilon"],
            "efficiency": plan["efficiency"],
            "best": json_row(best.iloc[0]) if len(best) else None,
            "max_safe": None
            if search is None
            else {
                "parameter": search["parameter"],
                "safe_cap": search["safe_cap"],
                "steps": [list(s) for s in search["steps"]],
            },
            "report": report,
            "csv": csv,
            "table": json_records(table),
        }
    except LevguardError as exc:
        _fail(str(exc))
    con = _publish(doc, out.json_path, "calibrate.output.json", as_json, default=_jsonable)
    if con is None:
        return
    con.print(_best_table(table, plan))
    if not table["safe"].any():
        typer.echo(
            f"note: no parameter set keeps P(bad debt > {plan['budget']:,.0f}) <= {plan['epsilon']:.2%}; "
            "widen the grid (lower leverage caps, higher maintenance rates, a larger fund)",
            err=True,
        )
    if search is not None:
        cap = search["safe_cap"]
        con.print(
            f"Largest safe {search['parameter']} in [{plan['max_safe']['lo']:g}, {plan['max_safe']['hi']:g}]: "
            + ("none (even the lower bound is unsafe)" if cap is None else f"[bold]{cap:,.4g}[/]")
            + f" ({len(search['steps'])} Monte Carlo runs)"
        )
    _print_files(con, (("Calibration report", report), ("Calibration table", csv), ("JSON", doc["json"])))
