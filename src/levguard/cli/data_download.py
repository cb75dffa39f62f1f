"""``levguard data download``: fetch exchange history into the local Parquet cache.

Examples::

    levguard data download --source binance --symbol BTCUSDT --kind klines --interval 1h --start 2020-01-01
    levguard data download --source binance --symbol BTCUSDT --kind funding --start 2023-01-01 --end 2024-01-01
    levguard data download --source ccxt --exchange bybit --symbol BTCUSDT --interval 4h --start 2024-01-01
    levguard data download --source ccxt --exchange bybit --symbol BTCUSDT --kind tiers

Bad input and failed downloads print one line (``levguard: error: ...``) to stderr and exit 2.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from levguard.cli._errors import fail as _fail
from levguard.errors import InputError, LevguardError

if TYPE_CHECKING:
    from levguard.data.download import CcxtSource, Downloader, DownloadResult, Progress

__all__ = ["Kind", "Source", "download"]

EXIT_BAD_INPUT = 2


class Source(StrEnum):
    """Where to download from."""

    binance = "binance"
    ccxt = "ccxt"


class Kind(StrEnum):
    """What to download."""

    klines = "klines"
    mark_price = "mark"
    index_price = "index"
    funding = "funding"
    tiers = "tiers"


def _progress(quiet: bool) -> AbstractContextManager[Progress]:
    """Rich bars on an interactive stderr; nothing when quiet or piped."""
    from levguard.data.download import NullProgress, RichProgress

    if quiet or not sys.stderr.isatty():
        return nullcontext(NullProgress())
    return RichProgress()


def _summary(result: DownloadResult, quiet: bool) -> None:
    frame = result.frame
    if not quiet:
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
    first = frame.index[0].isoformat() if len(frame) else "-"
    last = frame.index[-1].isoformat() if len(frame) else "-"
    typer.echo(f"rows: {len(frame)}")
    typer.echo(f"first: {first}")
    typer.echo(f"last: {last}")
    fetched = ", ".join(result.fetched) if result.fetched else "none (all cached)"
    typer.echo(f"downloaded: {fetched}")
    typer.echo(f"cache: {result.cache_dir}")


def download(
    source: Annotated[Source, typer.Option(help="binance (public data archive) or ccxt.")] = Source.binance,
    symbol: Annotated[
        str, typer.Option(help="Symbol: BTCUSDT (exchange id) or a ccxt symbol such as BTC/USDT:USDT.")
    ] = ...,  # type: ignore[assignment]
    kind: Annotated[Kind, typer.Option(help="klines, mark, index, funding, or tiers (ccxt only).")] = Kind.klines,
    interval: Annotated[str, typer.Option(help="Bar interval, e.g. 1m, 1h, 4h, 1d (ignored for funding).")] = "1h",
    start: Annotated[str | None, typer.Option(help="First time (UTC), e.g. 2020-01-01.")] = None,
    end: Annotated[str | None, typer.Option(help="End time, exclusive (UTC; default: now).")] = None,
    exchange: Annotated[str | None, typer.Option(help="ccxt exchange id with --source ccxt, e.g. bybit.")] = None,
    cache_dir: Annotated[
        str | None,
        typer.Option("--cache-dir", help="Cache directory (default: $LEVGUARD_CACHE_DIR or the user cache dir)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")] = False,
) -> None:
    """Download exchange history into the local Parquet cache (cached periods are not downloaded again)."""
    from levguard.data.cache import ParquetCache

    try:
        cache = ParquetCache(cache_dir)
        src: Downloader
        if source is Source.binance:
            if kind is Kind.tiers:
                raise InputError("--kind tiers needs --source ccxt (the archive has no leverage tiers)")
            if exchange is not None:
                raise InputError(f"--exchange applies to --source ccxt only, was {exchange!r}")
            from levguard.data.download import BinanceArchive

            src = BinanceArchive(cache)
        else:
            if exchange is None:
                raise InputError("--exchange is required with --source ccxt (e.g. --exchange bybit), was missing")
            from levguard.data.download import CcxtSource, make_exchange

            src = CcxtSource(make_exchange(exchange), cache)
            if kind is Kind.tiers:
                _print_tiers(src, symbol)
                return
        if start is None:
            raise InputError(f"--start is required for --kind {kind.value}, was missing")
        with _progress(quiet) as progress:
            src.progress = progress
            result = src.download(symbol, kind.value, interval, start, end)
        _summary(result, quiet)
    except LevguardError as exc:
        _fail(str(exc))


def _amount(x: float, by_size: bool) -> str:
    # Notional to the unit; sizes in the contract's units (a BTC-USDT-SWAP tier ends at 50 BTC, a
    # BTC-USD-SWAP one at 2,000,000 USD), never in exponent notation.
    if not by_size:
        return f"{x:,.0f}"
    return f"{x:,.8f}".rstrip("0").rstrip(".")


def _print_tiers(src: CcxtSource, symbol: str) -> None:
    from levguard.core.rules import get_venue
    from levguard.venues.ccxt_adapter import RULE_SETS

    table = src.leverage_tiers([symbol])[symbol]
    by_size = table.basis == "quantity"
    # A tier's interval as the venue reads its maintenance: OKX's caps belong to their tier.
    rule_set = RULE_SETS.get(src.exchange_id)
    opening, closing = ("(", "]") if rule_set is not None and get_venue(rule_set).mm_cap_inclusive else ("[", ")")
    typer.echo(f"tiers: {len(table.tiers)}" + (" by position size (contracts x contract size)" if by_size else ""))
    for tier in table.tiers:
        cap = _amount(tier.notional_cap, by_size) if tier.notional_cap != float("inf") else "inf"
        typer.echo(
            f"  {opening}{_amount(tier.notional_floor, by_size)}, {cap}{')' if cap == 'inf' else closing} "
            f"mmr={tier.mmr:g} "
            f"maint_amount={tier.maint_amount:,.2f} max_leverage={tier.max_leverage:g}"
        )
    typer.echo(f"source: {table.source}")
