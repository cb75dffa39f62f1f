"""``levguard data ...``: check, resample, and (registered from sibling modules) download and synth."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from levguard.cli._app import command_group
from levguard.cli._errors import fail, not_empty
from levguard.errors import LevguardError

data_app = command_group(
    "data", "Market data: validate files, resample, download exchange history, generate synthetic markets."
)

EXIT_BAD_INPUT = 2
EXIT_INVALID_DATA = 1


@data_app.command()
def check(
    file: Annotated[str, typer.Argument(help="CSV or Parquet file of OHLCV, mark/index klines or funding.")],
    kind: Annotated[str, typer.Option(help="auto, ohlcv, mark, index or funding.")] = "auto",
    interval: Annotated[str | None, typer.Option(help="Declared bar interval (default: from the file name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Validate a data file and print the report; exit 1 when it has errors, 2 when it cannot be read."""
    from levguard.data.loaders import check_file

    if kind not in ("auto", "ohlcv", "mark", "index", "funding"):
        fail(f"--kind must be auto, ohlcv, mark, index or funding, was {kind!r}")
    not_empty(interval=interval)
    try:
        report = check_file(file, kind=kind, interval=interval)
    except LevguardError as exc:
        fail(str(exc))
        return
    # A header with no rows reads, but holds nothing a command could use (a backtest refuses it).
    empty = report.rows == 0
    if as_json:
        from levguard.cli._output import json_text

        doc = report.to_dict()
        if empty:
            doc["ok"] = False
            doc["empty"] = True
        sys.stdout.write(json_text(doc) + "\n")
    else:
        from rich.markup import escape

        from levguard.cli._output import FittingTable as Table
        from levguard.cli._output import console

        out = console()
        state = "[green]valid[/]" if report.ok and not empty else "[bold red]INVALID[/]"
        if empty:
            state += ": no data rows"
        out.print(
            f"{escape(report.source)}: {report.kind}, {report.rows:,} rows, {report.first} → {report.last}, "
            f"interval {report.interval or '—'} · {state}"
        )
        for note in report.notes:
            out.print(f"note: {escape(note)}")
        if report.gaps:
            out.print(f"gaps: {len(report.gaps)} ({report.missing_bars:,} missing bars)")
            for g in report.gaps[:10]:
                out.print(f"  after {g.after}, before {g.before}: {g.missing_bars} bar(s) missing")
            if len(report.gaps) > 10:
                out.print(f"  … {len(report.gaps) - 10} more")
        if report.issues:
            table = Table("rule", "row", "line", "timestamp", "column", "problem", header_style="bold")
            for i in report.issues[:20]:
                table.add_row(
                    i.rule,
                    str(i.row),
                    "—" if i.line is None else str(i.line),
                    i.timestamp,
                    i.column or "—",
                    escape(i.message),
                )
            out.print(table)
            counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items()))
            out.print(f"problems by rule: {counts}")
    if not report.ok or empty:
        raise typer.Exit(EXIT_INVALID_DATA)


@data_app.command()
def resample(
    file: Annotated[str, typer.Argument(help="OHLCV file (CSV or Parquet).")],
    interval: Annotated[str, typer.Option(help="Target interval, e.g. 1h, 4h, 1d.")],
    out: Annotated[str, typer.Option(help="Output file (.parquet or .csv).")],
    keep_partial: Annotated[bool, typer.Option(help="Keep target bars missing some source bars.")] = False,
) -> None:
    """Resample OHLCV bars to a coarser interval (open first, high max, low min, close last, volume sum)."""
    from levguard.cli._paths import check_outputs
    from levguard.data.loaders import load_ohlcv, save_frame
    from levguard.data.resample import resample_ohlcv

    try:
        check_outputs([("--out", out)], inputs=[("FILE", file)])
        frame = load_ohlcv(file)
        result = resample_ohlcv(frame, interval, partial="keep" if keep_partial else "drop")
        path = save_frame(result, out)
    except LevguardError as exc:
        fail(str(exc))
        return
    from rich.markup import escape

    from levguard.cli._output import console

    console().print(f"{len(frame):,} {frame.attrs.get('interval')} bars → {len(result):,} {interval} bars in {path}")
    for note in result.attrs.get("notes", ())[len(frame.attrs.get("notes", ())) :]:
        console().print(f"note: {escape(note)}")


def _register() -> None:
    # Commands whose bodies live in sibling modules (they import heavy libraries lazily).
    from levguard.cli.data_download import download
    from levguard.cli.data_synth import synth

    data_app.command("download")(download)
    data_app.command("synth")(synth)


_register()


def _source_names(files: list[str]) -> list[str]:
    # A source is named by its file's name without extensions; where two files share that name
    # (one file per venue folder, or BTC.csv beside BTC.parquet), by the path as given.  One file
    # given twice (under two spellings too) would be weighted twice in the index: refused.
    import os
    from pathlib import Path

    from levguard.errors import InputError

    real = [os.path.realpath(f) for f in files]
    for i, r in enumerate(real):
        if r in real[:i]:
            raise InputError(f"the source {files[i]!r} is given twice (as {files[real.index(r)]!r} too)")
    names = [Path(f).name.split(".")[0] for f in files]
    return names if len(set(names)) == len(names) else list(files)


@data_app.command("index")
def index_cmd(
    files: Annotated[
        list[str],
        typer.Argument(metavar="FILES", help="Two or more OHLCV files of the same instrument, one per source."),
    ],
    out: Annotated[str | None, typer.Option(help="Write the index series (.parquet or .csv).")] = None,
    column: Annotated[str, typer.Option(help="Price column to aggregate.")] = "close",
    weights: Annotated[str, typer.Option(help="equal or volume.")] = "equal",
    max_deviation: Annotated[float, typer.Option(help="Drop sources this far from the median (fraction).")] = 0.05,
    min_sources: Annotated[int, typer.Option(help="Halt (circuit breaker) below this many healthy sources.")] = 2,
    method: Annotated[str, typer.Option(help="weighted_mean (Binance) or weighted_median.")] = "weighted_mean",
) -> None:
    """Aggregate several sources into an index price (Binance's outlier rule) and report drops per source."""

    from levguard.core.oracle import OracleConfig
    from levguard.data.loaders import load_ohlcv, save_frame
    from levguard.data.oracle import build_index_frame, drop_summary

    if weights not in ("equal", "volume"):
        fail(f"--weights must be equal or volume, was {weights!r}")
    if method not in ("weighted_mean", "weighted_median"):
        fail(f"--method must be weighted_mean or weighted_median, was {method!r}")
    if len(files) < 2:
        fail(f"index needs at least 2 source files, was {len(files)}")
    from levguard.cli._paths import check_outputs

    try:
        check_outputs([("--out", out)], inputs=[(f"FILES[{i}]", f) for i, f in enumerate(files)])
        config = OracleConfig(max_deviation=max_deviation, min_sources=min_sources, method=method)  # type: ignore[arg-type]
        sources = {name: load_ohlcv(f) for name, f in zip(_source_names(files), files, strict=True)}
        frame = build_index_frame(sources, column=column, weights=weights, config=config)  # type: ignore[arg-type]
        path = save_frame(frame, out) if out else None
    except LevguardError as exc:
        fail(str(exc))
        return
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console

    con = console()
    status = frame["status"].astype(str).value_counts()
    con.print(
        f"{len(frame):,} rows from {len(sources)} sources · " + ", ".join(f"{k}: {v:,}" for k, v in status.items())
    )
    summary = drop_summary(frame)
    table = Table("source", *[escape(str(c)) for c in summary.columns], header_style="bold")
    for name, row in summary.iterrows():
        table.add_row(escape(str(name)), *[f"{int(v):,}" for v in row.to_numpy()])
    con.print(table)
    if path is not None:
        con.print(f"written to {path}")
