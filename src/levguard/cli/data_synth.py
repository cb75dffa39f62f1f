"""``levguard data synth``: write a seeded synthetic perpetual market to Parquet or CSV.

Output layout: ``OUT`` holds the last-price OHLCV bars; two siblings hold the mark-price bars and
the funding prints, named by inserting ``.mark`` and ``.funding`` before the extension::

    levguard data synth --symbol BTC-SYNTH --years 5 --interval 1h --seed 7 btc.parquet
    # -> btc.parquet, btc.mark.parquet, btc.funding.parquet

Parquet files keep the frames' provenance (``attrs``: kind, symbol, interval, source); CSV files
have a ``timestamp`` column in ISO 8601 UTC (``2021-01-01T00:00:00Z``), the layout of
levguard's loaders.  Bad input prints one line (``levguard: error: ...``) to stderr and exits
with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from levguard.cli._paths import check_outputs
from levguard.errors import InputError, LevguardError
from levguard.files import replacing

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXIT_BAD_INPUT", "output_paths", "synth"]

EXIT_BAD_INPUT = 2
_FORMATS = (".parquet", ".pq", ".csv")


def output_paths(out: Path) -> tuple[Path, Path, Path]:
    """Return the OHLCV, mark and funding paths for ``out`` (``x.parquet`` -> ``x.mark.parquet``...)."""
    suffix = out.suffix.lower()
    if suffix not in _FORMATS:
        raise InputError(f"OUT must end in .parquet, .pq or .csv, was {str(out)!r}")
    stem = out.name[: -len(out.suffix)]
    return out, out.with_name(f"{stem}.mark{out.suffix}"), out.with_name(f"{stem}.funding{out.suffix}")


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix.lower() == ".csv":
        import pandas as pd

        table = frame.copy()
        table.index = pd.Index(pd.DatetimeIndex(frame.index).strftime("%Y-%m-%dT%H:%M:%SZ"), name="timestamp")
        table.to_csv(path)
    else:
        frame.to_parquet(path)


def _write_all(frames: tuple[pd.DataFrame, ...], paths: tuple[Path, ...]) -> None:
    # The three files are moved into place once all are written (levguard.files.replacing), so
    # a failed write leaves the previous files as they were.
    where = paths[0]
    try:
        with replacing(*paths) as temps:
            for frame, temp, path in zip(frames, temps, paths, strict=True):
                where = path  # named in an error, not its temporary file
                _write(frame, temp)
    except OSError as exc:
        raise InputError(f"cannot write {str(where)!r}: {exc.strerror or exc}") from exc


def synth(
    out: Annotated[Path, typer.Argument(help="Output file, .parquet or .csv; mark and funding go to OUT's siblings.")],
    symbol: Annotated[str, typer.Option(help="Symbol written into the data's provenance.")] = "BTC-SYNTH",
    years: Annotated[float, typer.Option(help="Length in 365-day years.")] = 5.0,
    interval: Annotated[str, typer.Option(help="Bar interval, 1m to 1d (e.g. 1m, 15m, 1h, 4h, 1d).")] = "1h",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same market.")] = 7,
    start: Annotated[str, typer.Option(help="Open time of the first bar, UTC (e.g. 2021-01-01).")] = "2021-01-01",
    start_price: Annotated[float, typer.Option("--start-price", help="Open of the first bar.")] = 30_000.0,
    crashes: Annotated[
        bool, typer.Option("--crashes/--no-crashes", help="Inject the named historical crash profiles.")
    ] = True,
) -> None:
    """Generate a synthetic perpetual market (last price, mark price, funding) and write it."""
    from levguard.data.synth import SynthConfig, synth_market

    try:
        paths = output_paths(out)
        config = SynthConfig(
            symbol=symbol, years=years, interval=interval, seed=seed, start=start, start_price=start_price
        )
        if not crashes:
            config = config.replace(crashes=())
        if not out.parent.is_dir():
            raise InputError(f"the directory of OUT does not exist: {str(out.parent)!r}")
        check_outputs(zip(("OUT", "OUT's mark file", "OUT's funding file"), paths, strict=True))
        market = synth_market(config)
        _write_all((market.ohlcv, market.mark, market.funding), paths)
    except LevguardError as exc:
        typer.echo(f"levguard: error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    o = market.ohlcv
    typer.echo(
        f"wrote {len(o):,} {config.interval} bars of {config.symbol} ({o.index[0]:%Y-%m-%d %H:%M} to "
        f"{o.index[-1]:%Y-%m-%d %H:%M} UTC, {len(market.crashes)} crashes) to {paths[0]}, "
        f"mark to {paths[1]}, {len(market.funding):,} funding prints to {paths[2]}"
    )
