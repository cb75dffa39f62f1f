"""``levguard backtest CONFIG.yaml``: run a strategy under several leverage policies and report,
and/or run the parameter sweep of the file's ``sweep:`` section."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from levguard.cli._errors import fail as _fail
from levguard.cli._paths import check_outputs
from levguard.errors import LevguardError, NoTiersError
from levguard.files import ReplaceError, replacing

CONFIG_TIERS_REMEDY = "give tiers: in the config (a file, or a mapping symbol -> tier rows)"
"""How a backtest config gives the tiers of a symbol without built-in ones (``tiers:``; it has no
``mmr``)."""


def build_strategy(cfg: Any) -> Any:
    """The strategy object a config describes."""
    from levguard.backtest import strategies as st

    if cfg.type == "buy_and_hold":
        return st.BuyAndHold()
    if cfg.type == "ema_crossover":
        return st.EmaCrossover(cfg.fast, cfg.slow, cfg.long_only)
    if cfg.type == "ts_momentum":
        return st.TimeSeriesMomentum(cfg.lookback, cfg.long_only)
    return st.ZScoreMeanReversion(cfg.window, cfg.entry, cfg.exit)


def load_data(cfg: Any) -> Any:
    """The backtest frame (last price, optional mark OHLC and funding) a config's data section names.

    Mark and funding are aligned by :func:`levguard.data.perp.perp_frame` (bars in both the
    last-price and the mark series; funding summed per bar, NaN where none settles).
    """
    from levguard.data.perp import load_perp_spec

    return load_perp_spec(cfg.model_dump(exclude_none=True))


def resolve_market(cfg: Any, data: Any) -> tuple[Any, str | None]:
    """The config with its ``symbol`` resolved and its ``tiers`` read, and a note or None.

    ``symbol`` given: it, when a data file names the same instrument
    (:func:`~levguard.core.symbols.other_instrument`: ``BTCUSDT``, ``BTC/USDT:USDT`` and
    ``BTC-USDT-SWAP`` are one; ``ETHUSDT``, ``BTCUSDC`` and the inverse ``BTCUSD_PERP`` are not),
    else InputError naming both: ETH bars were run under BTCUSDT's brackets, minimum order and
    name without a word.  Not given: a data file's own symbol without its kind suffix (``XRPUSDT-PERP_1h.csv``:
    ``XRPUSDT``) where it names a pair (:func:`~levguard.core.symbols.listed_pair`), else
    BTCUSDT with a note.  ``tiers`` (a file or a mapping symbol -> rows) gives the symbol's
    table, which the venue may not have built in.
    """
    from levguard.core.symbols import asset_key, listed_pair, listing_symbol, other_instrument
    from levguard.errors import InputError

    note = None
    symbol = cfg.symbol
    if cfg.data.source == "file":
        named = str(data.attrs.get("symbol") or "")
        pair = listed_pair(named)
        if symbol is None and pair is None:
            note = f"the data file names no pair ({listing_symbol(named)!r}): run as BTCUSDT; set symbol: to choose"
        elif symbol is None:
            symbol = pair
        elif pair is not None and (why := other_instrument(symbol, pair)) is not None:
            bars = asset_key(symbol) if why.startswith("asset") else symbol
            raise InputError(
                f"symbol: {symbol} is not the data file's {pair} ({cfg.data.path}; {why}): its prices "
                f"would run under {symbol}'s tiers and name; set symbol: {pair}, or load {bars} bars"
            )
    symbol = symbol or "BTCUSDT"
    tiers = None if cfg.tiers is None else symbol_tiers(cfg.tiers, symbol, cfg.venue, "tiers")
    return cfg.model_copy(update={"symbol": symbol, "tiers": tiers}), note


def symbol_tiers(source: Any, symbol: str, venue: str, where: str) -> Any:
    """The tier table of ``symbol`` in ``source``: a file (YAML/JSON) or a mapping symbol -> tier
    rows in our, Binance's (leverageBracket) or ccxt's shape, as ``levguard margin --tiers`` reads.
    InputError naming ``where`` when it is not such a mapping or has no entry for ``symbol``."""
    from levguard.core.rules import get_venue
    from levguard.core.spec import tiers_from_spec
    from levguard.core.symbols import contract_key
    from levguard.errors import InputError
    from levguard.margin import load_spec

    raw = load_spec(source) if isinstance(source, str) else source
    if not isinstance(raw, dict):
        raise InputError(f"{where} must map symbol -> list of tiers, was {type(raw).__name__}")
    match = [k for k in raw if contract_key(str(k)) == contract_key(symbol)]
    if not match:
        raise InputError(f"{where} has no entry for {symbol}, the run's symbol (it has {sorted(map(str, raw))})")
    return tiers_from_spec(raw[match[0]], f"{where}.{match[0]}", deduction=get_venue(venue).tier_deduction)


def _run_kwargs(cfg: Any) -> dict[str, Any]:
    """The :func:`levguard.backtest.engine.run` arguments shared by every run of a config
    (:func:`resolve_market` resolved its symbol and tiers)."""
    return {
        "tiers": cfg.tiers,
        "venue": cfg.venue,
        "symbol": cfg.symbol,
        "margin_mode": cfg.margin_mode,
        "fees": cfg.fees.taker,
        "slippage": (cfg.slippage.bps, cfg.slippage.impact),
        "initial_equity": cfg.initial_equity,
        "rebalance": cfg.rebalance,
        "cooldown_bars": cfg.cooldown_bars,
        "liquidation_fee_rate": cfg.fees.liquidation,
    }


@dataclass(frozen=True)
class SweepPlan:
    """The arguments of :func:`levguard.backtest.sweeps.sweep` a config's ``sweep:`` section names."""

    strategies: dict[str, Any]
    policies: dict[str, Any]
    grid: dict[str, list[Any]]
    params: list[str]


def _factory(kind: Literal["strategies", "policies"], name: str, entry: Any, source: str) -> Any:
    """Build entry ``name`` from its fixed fields and one grid combination, through the config models."""
    from levguard.config.backtest import entry_config
    from levguard.config.policies import build_policy
    from levguard.errors import ConfigError

    build = build_strategy if kind == "strategies" else build_policy

    def make(**params: Any) -> Any:
        cfg = entry_config(kind, name, entry, params, source)
        try:
            return build(cfg)
        except LevguardError as exc:
            raise ConfigError(f"{source}: sweep.{kind}.{name} with {params}: {exc}") from None

    return make


def _built_factory(kind: Literal["strategies", "policies"], name: str, entry: Any, source: str) -> Any:
    """:func:`_factory`, once every combination of the entry's grid has been built by it: a value
    a constructor refuses stops the command before the data is read, not in the middle of the sweep."""
    make = _factory(kind, name, entry, source)
    keys = list(entry.grid)
    for combo in itertools.product(*entry.grid.values()):
        make(**dict(zip(keys, combo, strict=True)))
    return make


def sweep_plan(cfg: Any, source: str) -> SweepPlan:
    """Check a config's ``sweep:`` section against the backtester and turn it into sweep arguments.

    Entries with a grid become ``(factory, grid)`` pairs, the others objects; without
    ``sweep.strategies`` the config's ``strategy`` is swept alone, named by its type.

    Raises
    ------
    ConfigError
        A run setting or a value of it, an objective, constraint or axis the sweep cannot use
        (one line naming it).
    """
    from levguard.backtest.sweeps import RUN_PARAMS, SWEEP_METRICS, check_run_setting
    from levguard.config.backtest import check_sweep_plan
    from levguard.errors import ConfigError, InputError

    sw = cfg.sweep
    params = check_sweep_plan(cfg, source, run_params=RUN_PARAMS, metrics=SWEEP_METRICS)
    rebalancing = sorted({"band", "min_trade", "max_step"} & set(sw.grid))
    if rebalancing and cfg.rebalance == "never":
        raise ConfigError(
            f"{source}: sweep.grid.{rebalancing[0]}: has no effect with rebalance: never (it trades only when "
            "the direction changes); use rebalance: band"
        )
    for key, values in sw.grid.items():  # each value as run() checks it, before the data is read
        for i, value in enumerate(values):
            try:
                check_run_setting(key, value)
            except InputError as exc:
                raise ConfigError(f"{source}: sweep.grid.{key}[{i}]: {exc}") from None
    strategies: dict[str, Any] = {}
    if sw.strategies is None:
        strategies[cfg.strategy.type] = build_strategy(cfg.strategy)
    for name, entry in (sw.strategies or {}).items():
        if entry.grid:
            strategies[name] = (_built_factory("strategies", name, entry, source), dict(entry.grid))
        else:
            strategies[name] = _factory("strategies", name, entry, source)()
    policies: dict[str, Any] = {}
    for name, entry in sw.policies.items():
        if entry.grid:
            policies[name] = (_built_factory("policies", name, entry, source), dict(entry.grid))
        else:
            policies[name] = _factory("policies", name, entry, source)()
    return SweepPlan(strategies, policies, dict(sw.grid), params)


@dataclass(frozen=True)
class SweepOutcome:
    table: Any
    best: Any  # the best row under the constraints (a Series), or None when nothing is feasible
    note: str | None
    report: Any
    csv: Any


def _run_sweep(cfg: Any, plan: SweepPlan, data: Any, progress: bool) -> SweepOutcome:
    # The sweep's table and best row; its files are written with the run's others (_write_outputs).
    from levguard.backtest.sweeps import best, sweep
    from levguard.errors import InputError

    sw = cfg.sweep
    table = sweep(
        data,
        plan.strategies,
        plan.policies,
        grid=plan.grid or None,
        scheduler=sw.scheduler,
        chunk_size=sw.chunk_size,
        progress=progress,
        **_run_kwargs(cfg),
    )
    try:
        row, note = best(table, sw.objective, sw.constraints, direction=sw.direction), None
    except InputError as exc:
        row, note = None, str(exc)
    report = Path(sw.output.report) if sw.output.report else None
    csv = Path(sw.output.csv) if sw.output.csv else None
    return SweepOutcome(table, row, note, report, csv)


Writer = Callable[[Path], Any]


def _writes(
    cfg: Any, config: str, data: Any, results: dict[str, Any], swept: SweepOutcome | None
) -> list[tuple[Path, str, Writer]]:
    # (path, config key, writer of the file to a given path) of every output of the run.
    from levguard.cli._output import json_text
    from levguard.report.html import write_report
    from levguard.report.sweep import write_sweep_report

    writes: list[tuple[Path, str, Writer]] = []
    market = f"{cfg.symbol} ({cfg.venue}, {cfg.margin_mode})"
    if cfg.policies and cfg.output.report:
        title, sub = f"levguard backtest: {config}", f"{cfg.strategy.type} on {market}"
        writes.append(
            (
                Path(cfg.output.report),
                "output.report",
                lambda temp: write_report(results, temp, title=title, subtitle=sub, data=data),
            )
        )
    if cfg.policies and cfg.output.json_path:
        text = json_text({name: r.metrics for name, r in results.items()})
        writes.append((Path(cfg.output.json_path), "output.json", lambda t: t.write_text(text, encoding="utf-8")))
    if swept is not None and swept.report is not None:
        sw = cfg.sweep
        # Its own name: the report's writer above reads `sub` when it runs, after this line.
        sweep_sub = f"{len(swept.table):,} configurations on {market}"
        writes.append(
            (
                swept.report,
                "sweep.output.report",
                lambda temp: write_sweep_report(
                    swept.table,
                    temp,
                    x=sw.x,
                    y=sw.y,
                    objective=sw.objective,
                    best=sw.direction,
                    facet=sw.facet,
                    title=f"levguard sweep: {config}",
                    subtitle=sweep_sub,
                    data=data,
                ),
            )
        )
    if swept is not None and swept.csv is not None:
        writes.append((swept.csv, "sweep.output.csv", lambda temp: swept.table.to_csv(temp, index=False)))
    return writes


def _write_outputs(cfg: Any, config: str, data: Any, results: dict[str, Any], swept: SweepOutcome | None) -> None:
    """Write every output of the run (report, JSON metrics, sweep report, sweep CSV) together,
    once everything ran, whole or not at all (:func:`levguard.files.replacing`): a failure leaves
    every previous file, never the outputs of two runs.  Raises ``InputError`` naming the file."""
    from levguard.errors import InputError

    writes = _writes(cfg, config, data, results, swept)
    if not writes:
        return
    failing = ""  # the file being written (config key and path), for the message
    try:
        with replacing(*(path for path, _, _ in writes)) as temps:
            for (path, key, write), temp in zip(writes, temps, strict=True):
                failing = f"{key}: cannot write {str(path)!r}"
                try:
                    write(temp)
                except InputError as exc:  # the report writers name the temporary path they wrote
                    raise InputError(str(exc).replace(str(temp), str(path))) from None
            failing = "cannot write the outputs " + ", ".join(repr(str(p)) for p, _, _ in writes)
    except ReplaceError as exc:  # a move failed: the ones before it were undone, but for exc.written
        kept = {str(p) for p in exc.written}
        unwritten = [str(p) for p, _, _ in writes if os.path.realpath(p) not in kept]
        failing = "cannot write the outputs " + ", ".join(repr(p) for p in unwritten)
        if kept:
            failing = f"{failing} (left with this run's output: {', '.join(repr(p) for p in sorted(kept))})"
        raise InputError(f"{failing}: {exc.strerror or type(exc).__name__}") from None
    except OSError as exc:  # a directory, a full disk, a path under a file
        raise InputError(f"{failing}: {exc.strerror or type(exc).__name__}") from None


def _sweep_json(cfg: Any, out: SweepOutcome) -> dict[str, Any]:
    from levguard.backtest.sweeps import objective_direction
    from levguard.cli._output import json_records, json_row

    sw = cfg.sweep
    return {
        "configurations": len(out.table),
        "objective": sw.objective,
        "direction": objective_direction(sw.objective, sw.direction),
        "constraints": dict(sw.constraints),
        "best": json_row(out.best) if out.best is not None else None,
        "note": out.note,
        "report": str(out.report) if out.report else None,
        "csv": str(out.csv) if out.csv else None,
        "table": json_records(out.table),
    }


def _outputs(cfg: Any) -> list[tuple[str, str | None]]:
    # The files a run writes, by config key (levguard.cli._paths.check_outputs).
    out = [("output.report", cfg.output.report), ("output.json", cfg.output.json_path)] if cfg.policies else []
    if cfg.sweep is not None:
        out += [("sweep.output.report", cfg.sweep.output.report), ("sweep.output.csv", cfg.sweep.output.csv)]
    return out


def _inputs(cfg: Any, config: str) -> list[tuple[str, str | None]]:
    # The files a run reads, by argument or config key: no output may name one.
    data = cfg.data
    files: list[tuple[str, str | None]] = [("CONFIG", config)]
    if data.source == "file":
        files += [("data.path", data.path), ("data.mark", data.mark), ("data.funding", data.funding)]
    if isinstance(cfg.tiers, str):
        files.append(("tiers", cfg.tiers))
    return files


def backtest(
    config: Annotated[str, typer.Argument(help="Backtest file (YAML/JSON), see docs/backtest.md.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the metrics (and the sweep table, as records) as JSON.")
    ] = False,
) -> None:
    """Run a strategy under several leverage policies and/or the file's parameter sweep; print the
    metrics and write the HTML reports."""
    from levguard.backtest.engine import run
    from levguard.config.backtest import load_backtest_file
    from levguard.config.policies import build_policy

    results: dict[str, Any] = {}
    report = None
    swept: SweepOutcome | None = None
    try:
        cfg = load_backtest_file(config)
        plan = sweep_plan(cfg, config) if cfg.sweep is not None else None  # config errors before the data
        # Every policy built before the data is read and the first run starts: a bad third one
        # failed after two runs, without its key.
        policies = {name: build_policy(p, f"{config}: policies.{name}") for name, p in (cfg.policies or {}).items()}
        strategy = build_strategy(cfg.strategy) if cfg.policies else None
        check_outputs(_outputs(cfg), inputs=_inputs(cfg, config))  # a bad output would lose the run
        data = load_data(cfg.data)
        cfg, note = resolve_market(cfg, data)
        notes = list(data.attrs.get("notes", ()))  # printed once the run succeeded: an error is one line
        notes += [note] if note else []
        if cfg.policies:
            for name, policy in policies.items():
                results[name] = run(data, strategy, policy, **_run_kwargs(cfg))
                if results[name].traded_notional == 0.0:  # a fixed leverage 0 is valid (a flat regime member)
                    notes.append(
                        f"policies.{name} never traded (a target leverage of 0 at every bar, a flat strategy "
                        "or orders below the minimum)"
                    )
        if plan is not None:
            swept = _run_sweep(cfg, plan, data, progress=sys.stdout.isatty() and not as_json)
        _write_outputs(cfg, config, data, results, swept)  # together, once everything ran
        report = Path(cfg.output.report) if cfg.policies and cfg.output.report else None
    except NoTiersError as exc:  # the config's remedy, not run()'s argument
        _fail(str(exc.with_remedy(CONFIG_TIERS_REMEDY)))
        return
    except LevguardError as exc:
        _fail(str(exc))
        return
    metrics = {name: r.metrics for name, r in results.items()}
    ruined_at = {name: r.ruined_at.isoformat() if r.ruined_at is not None else None for name, r in results.items()}
    for note in dict.fromkeys([*notes, *(n for r in results.values() for n in r.notes)]):
        typer.echo(f"note: {note}", err=True)
    if as_json:
        doc: dict[str, Any] = {}
        if cfg.policies:
            doc.update(report=str(report) if report else None, metrics=metrics, ruined_at=ruined_at)
        if swept is not None:
            doc["sweep"] = _sweep_json(cfg, swept)
        from levguard.cli._output import json_text

        typer.echo(json_text(doc))
        return
    from levguard.cli._output import console, metrics_table, sweep_table

    con = console()
    if cfg.policies:
        short = [name for name, r in results.items() if r.short_run]
        units = {name: r.params.get("settlement") for name, r in results.items()}
        con.print(metrics_table(metrics, f"{cfg.strategy.type} on {cfg.symbol}", ruined_at, short, units))
        if report:
            con.print(f"HTML report: {report}")
    if swept is not None:
        sw = cfg.sweep
        assert sw is not None
        con.print(sweep_table(swept.table, sw.objective, direction=sw.direction))
        if swept.best is None:
            typer.echo(f"note: {swept.note}", err=True)
        elif sw.constraints:
            bounds = ", ".join(f"{k} <= {v:g}" for k, v in sw.constraints.items())
            con.print(
                sweep_table(
                    swept.table.loc[[swept.best.name]],
                    sw.objective,
                    top=1,
                    title=f"Best under constraints: {bounds}",
                    direction=sw.direction,
                )
            )
        if swept.report:
            con.print(f"Sweep report: {swept.report}")
        if swept.csv:
            con.print(f"Sweep table: {swept.csv}")
