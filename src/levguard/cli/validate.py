"""``levguard validate liquidation [BARS ...]``: out-of-sample validation of the probability of liquidation.

See docs/validation.md for the protocol.  Bad input prints one line and exits 2; with
``--strict`` a failed acceptance check exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from levguard.cli._app import command_group
from levguard.cli._errors import fail
from levguard.errors import InputError, LevguardError

if TYPE_CHECKING:
    import pandas as pd

validate_app = command_group("validate", "Validate models out of sample against history (docs/validation.md).")

EXIT_FAILED_CHECKS = 1


def _mark_sibling(path: Path) -> Path | None:
    # BTCUSDT-PERP_1h.csv -> BTCUSDT-MARK_1h.csv in the same directory.
    if "PERP" not in path.name:
        return None
    sibling = path.with_name(path.name.replace("PERP", "MARK"))
    return sibling if sibling.is_file() else None


def load_bars(path: str, mark: str | None, auto_mark: bool) -> pd.DataFrame:
    """1h bars of one asset with the mark OHLC as ``mark_*`` columns (given, or the sibling MARK file)."""
    from levguard.data.loaders import load_ohlcv
    from levguard.data.perp import perp_frame
    from levguard.risk.validation import asset_name

    p = Path(path)
    last = load_ohlcv(p)
    mark_path = Path(mark) if mark is not None else (_mark_sibling(p) if auto_mark else None)
    frame = perp_frame(last, load_ohlcv(mark_path, kind="mark") if mark_path is not None else None)
    frame.attrs["asset"] = asset_name(last.attrs.get("symbol"))
    return frame


def synthetic_bars() -> pd.DataFrame:
    """The embedded synthetic market (last and mark price), asset ``BTC-SYNTH``."""
    from levguard.data.default import default_market
    from levguard.data.perp import perp_frame

    market = default_market()
    frame = perp_frame(market.ohlcv, market.mark)
    frame.attrs["asset"] = str(market.ohlcv.attrs.get("symbol") or "BTC-SYNTH")
    return frame


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on an interactive stderr; None otherwise (pipes, CI, --json)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=Console(stderr=True)
    ) as bar:
        task = bar.add_task("validating", total=1)

        def update(message: str, done: int, total: int) -> None:
            bar.update(task, description=message, completed=done, total=total)

        yield update


def _pct(x: Any, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}%}"


def _num(x: Any, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


# The outcome columns of a scored set (cases, events, observed rate, mean forecast) and their cells.
_OUTCOME_COLUMNS = ("cases", "events", "observed", "mean forecast")


def _outcome_cells(s: dict[str, Any]) -> tuple[str, str, str, str]:
    return f"{s['n']:,}", f"{s['events']:,}", _pct(s["observed"]), _pct(s["mean_forecast"])


def _shown(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # With one asset the pooled rows repeat it; leave them out of the tables.
    assets = {g["asset"] for g in groups} - {"pooled"}
    return [g for g in groups if not (len(assets) == 1 and g["asset"] == "pooled")]


def _scores_table(title: str, groups: list[dict[str, Any]]) -> Any:
    from levguard.cli._output import FittingTable as Table

    table = Table(title=title, header_style="bold", title_justify="left")
    for col in ("group", *_OUTCOME_COLUMNS, "obs / exp", "share ≤ 1%", "observed ≤ 1%"):
        table.add_column(col, justify="left" if col == "group" else "right", no_wrap=col == "group")
    for g in _shown(groups):
        m = g["model"]
        table.add_row(
            g["label"],
            *_outcome_cells(m),
            _num(m["calibration_in_the_large"], 3),
            _pct(m["low_share"], 1),
            _pct(m["low_observed"]),
        )
    return table


def _versus_table(title: str, groups: list[dict[str, Any]]) -> Any:
    from levguard.cli._output import FittingTable as Table

    table = Table(title=title, header_style="bold", title_justify="left")
    cols = ("group", "Brier", "naive", "ratio", "log score", "naive", "AUC", "naive", "DM stat", "DM p")
    for col in cols:
        table.add_column(col, justify="left" if col == "group" else "right", no_wrap=col == "group")
    for g in _shown(groups):
        m, b, dm = g["model"], g["baseline"], g["diebold_mariano"] or {}
        ratio = g["brier_ratio"]
        table.add_row(
            g["label"],
            _num(m["brier"], 5),
            _num(b["brier"], 5),
            "—" if ratio is None else (f"[green]{ratio:.3f}[/]" if ratio <= 1 else f"[red]{ratio:.3f}[/]"),
            _num(m["log_score"]),
            _num(b["log_score"]),
            _num(m["auc"], 3),
            _num(b["auc"], 3),
            "—" if dm.get("statistic") is None else f"{dm['statistic']:+.2f}",
            "—" if dm.get("pvalue") is None else f"{dm['pvalue']:.3f}",
        )
    return table


def _reliability_table(g: dict[str, Any]) -> Any:
    from levguard.cli._output import FittingTable as Table

    table = Table(title=f"Reliability, {g['label']} (scored)", header_style="bold", title_justify="left")
    for col in ("bucket", "cases", "mean forecast", "observed", "95% Wilson", "naive: cases", "mean", "observed"):
        # A bucket or an interval is read whole: in a narrow terminal the headers wrap instead.
        table.add_column(col, justify="right", no_wrap=col in ("bucket", "95% Wilson"))
    for bm, bb in zip(g["model"]["reliability"], g["baseline"]["reliability"], strict=True):
        lo = "[0" if bm["lower"] == 0 else f"({bm['lower']:g}"
        table.add_row(
            f"{lo}, {bm['upper']:g}]",
            f"{bm['count']:,}",
            _pct(bm["mean_forecast"]),
            _pct(bm["observed"]),
            f"{_pct(bm['wilson_low'])} – {_pct(bm['wilson_high'])}",
            f"{bb['count']:,}",
            _pct(bb["mean_forecast"]),
            _pct(bb["observed"]),
        )
    return table


def render(doc: dict[str, Any]) -> None:
    """Print the result (its ``to_dict()``) as rich tables."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console

    out = console()
    for a in doc["assets"]:
        mark = f"mark from {a['mark_source']}" if a["mark_source"] else "no mark file: last price used as mark"
        out.print(
            f"[bold]{escape(a['asset'])}[/]: {a['bars']:,} bars {a['first'][:16]} → {a['last'][:16]} "
            f"({escape(a['source'])}; {escape(mark)}); {a['cases']:,} cases"
            + (f" ({a['incomplete']:,} left out: gaps in the bars)" if a.get("incomplete") else "")
            + f"; tiers: {escape(a['tier_source'])}",
            soft_wrap=True,
        )
    out.print(
        f"model [bold]{escape(doc['model'])}[/] against [bold]{escape(doc['baseline'])}[/] · isolated "
        f"{doc['notional']:,.0f} notional on {doc['venue']} · scored: as_of after {doc['train_until'][:10]}"
    )
    main = [g for g in doc["scored"] if g["side"] is None and g["leverage"] is None]
    cut = doc["train_until"][:10]
    out.print(_scores_table(f"Scored set (as_of after {cut}): outcomes and forecasts", doc["scored"]))
    out.print(
        _versus_table(f"Scored set: {doc['model']} against {doc['baseline']} (DM < 0 favours the model)", doc["scored"])
    )
    for g in [g for g in _shown(main) if g["asset"] == "pooled"] or _shown(main):
        out.print(_reliability_table(g))
    years = Table(title="Per year (scored set)", header_style="bold", title_justify="left")
    for col in ("group", "year", *_OUTCOME_COLUMNS, "Brier", "naive Brier"):
        years.add_column(col, justify="left" if col == "group" else "right")
    for g in _shown(main):
        for y in g["years"]:
            years.add_row(
                g["label"],
                str(y["year"]),
                *_outcome_cells(y),
                _num(y["brier"], 5),
                _num(y["brier_baseline"], 5),
            )
    out.print(years)
    if doc["train"]:
        out.print(_versus_table(f"Train set (as_of up to {cut}; model selection)", doc["train"]))
    acc = doc["acceptance"]
    checks = Table(title="Acceptance checks (scored set)", header_style="bold", title_justify="left")
    for col in ("check", "group", "value", "threshold", "result"):
        checks.add_column(col, justify="right" if col == "value" else "left")
    for c in acc["checks"]:
        checks.add_row(
            c["name"],
            c["group"],
            _num(c["value"]),
            escape(c["threshold"]),
            "[dim]n/a[/]" if c["passed"] is None else "[green]pass[/]" if c["passed"] else "[bold red]FAIL[/]",
        )
    out.print(checks)
    for c in acc["checks"]:
        if c["passed"] is False:
            out.print(f"[red]FAIL[/] {c['name']} {escape(c['group'])}: {escape(c['detail'])}", highlight=False)
    for c in acc["checks"]:
        if c["passed"] is None:
            out.print(f"{c['name']} {escape(c['group'])}: [dim]{escape(c['detail'])}[/]", highlight=False)
    verdict = "[bold green]PASSED[/]" if acc["passed"] else f"[bold red]FAILED[/] ({acc['failed']} failed)"
    na = acc.get("not_applicable", 0)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in doc["timings_s"].items())
    out.print(f"acceptance: {verdict} of {len(acc['checks'])} checks" + (f" ({na} n/a: too few events)" if na else ""))
    out.print(f"timings: {timings}", highlight=False)


@validate_app.command("liquidation")
def liquidation(
    bars: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="BARS",
            help="OHLCV 1h files, one per asset (asset = file name without -PERP_1h). "
            "None: the embedded synthetic market.",
        ),
    ] = None,
    mark: Annotated[
        list[str] | None,
        typer.Option(
            "--mark",
            metavar="FILE",
            help="Mark-price klines, one per BARS file in the same order. Default: a sibling file with MARK "
            "in place of PERP (BTCUSDT-MARK_1h.csv beside BTCUSDT-PERP_1h.csv), else the last price.",
        ),
    ] = None,
    auto_mark: Annotated[
        bool, typer.Option("--auto-mark/--no-auto-mark", help="Look for the sibling MARK file.")
    ] = True,
    train_until: Annotated[
        str, typer.Option("--train-until", help="Last day of the train set (UTC); later as_of are scored.")
    ] = "2022-12-31",
    model: Annotated[str, typer.Option(help="Forecast model under test (see FORECAST_MODELS).")] = "default",
    baseline: Annotated[str, typer.Option(help="Baseline model.")] = "naive",
    leverage: Annotated[
        list[float] | None, typer.Option("--leverage", metavar="X", help="Leverage (repeat; default 5, 10, 20).")
    ] = None,
    horizon: Annotated[
        list[float] | None,
        typer.Option("--horizon", metavar="DAYS", help="Horizon in days, whole hours (repeat; default 1, 7)."),
    ] = None,
    side: Annotated[
        list[str] | None, typer.Option("--side", metavar="long|short", help="long and/or short (default both).")
    ] = None,
    by_side: Annotated[bool, typer.Option("--by-side", help="Also score each side.")] = False,
    by_leverage: Annotated[bool, typer.Option("--by-leverage", help="Also score each leverage.")] = False,
    venue: Annotated[str, typer.Option(help="Margin rules of the test positions.")] = "binance-usdm",
    notional: Annotated[float, typer.Option(help="Notional of the test positions.")] = 10_000.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Write the HTML report to this file.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when an acceptance check fails.")] = False,
) -> None:
    """Score the probability-of-liquidation model against the naive baseline on history.

    Cases: daily at 00:00 UTC, long and short isolated positions at each leverage and horizon;
    outcome 1 when the mark touches the liquidation price within the horizon.
    """
    from levguard.cli._paths import check_outputs
    from levguard.core.rules import get_venue
    from levguard.risk.forecast import FORECAST_MODELS
    from levguard.risk.validation import (
        DEFAULT_HORIZONS,
        DEFAULT_LEVERAGES,
        SIDES,
        case_hours,
        parse_train_until,
        validate_liquidation,
    )

    files = list(bars or [])
    marks = list(mark or [])
    try:
        parse_train_until(train_until, "--train-until")
        for name, value in (("--model", model), ("--baseline", baseline)):
            if value not in FORECAST_MODELS:
                raise InputError(f"{name} must be one of {', '.join(sorted(FORECAST_MODELS))}, was {value!r}")
        if marks and len(marks) != len(files):
            raise InputError(f"--mark must be given once per BARS file ({len(files)}), was given {len(marks)} time(s)")
        check_outputs(
            [("--out", out)],
            inputs=[
                *((f"BARS[{i}]", f) for i, f in enumerate(files)),
                *((f"--mark[{i}]", f) for i, f in enumerate(marks)),
            ],
        )
        for s in side or ():
            if s not in SIDES:
                raise InputError(f"--side must be long or short, was {s!r}")
        for lev in leverage or ():
            if not lev > 0 or lev != lev or lev == float("inf"):
                raise InputError(f"--leverage must be > 0 and finite, was {lev!r}")
        for h in horizon or ():
            if not h > 0 or h != h or h == float("inf"):
                raise InputError(f"--horizon must be > 0 days, was {h!r}")
            try:
                case_hours(h)  # outcomes are scored on 1h bars
            except InputError as exc:
                raise InputError(f"--{exc}") from None
        if not notional > 0 or notional == float("inf"):
            raise InputError(f"--notional must be > 0 and finite, was {notional!r}")
        get_venue(venue)
    except LevguardError as exc:
        fail(str(exc))
    try:
        if files:
            frames = [load_bars(f, marks[i] if marks else None, auto_mark) for i, f in enumerate(files)]
        else:
            frames = [synthetic_bars()]
        with _progress(not as_json) as progress:
            result = validate_liquidation(
                frames,
                model=model,
                baseline=baseline,
                leverages=tuple(leverage or DEFAULT_LEVERAGES),
                horizons=tuple(horizon or DEFAULT_HORIZONS),
                sides=tuple(side or SIDES),
                train_until=train_until,
                venue=venue,
                notional=notional,
                by_side=by_side,
                by_leverage=by_leverage,
                progress=progress,
            )
        doc = result.to_dict()
        report = None
        if out:
            from levguard.report.validation import write_validation_report

            report = write_validation_report(doc, out)
    except InputError as exc:  # the library names its argument, the user typed the option
        message = str(exc)
        fail("--" + message.replace("_", "-", 1) if message.startswith("train_until ") else message)
    except LevguardError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the report to {out!r}: {exc}")
    if as_json:
        from levguard.cli._output import json_text

        text = json_text({**doc, "report": str(report) if report else None})
        sys.stdout.write(text + "\n")
    else:
        render(doc)
        if report is not None:
            from levguard.cli._output import console

            console().print(f"HTML report: {report}")
    if strict and not result.acceptance.passed:
        raise typer.Exit(EXIT_FAILED_CHECKS)
