"""levguard's command line: ``levguard margin``, ``levguard liq``, ``levguard demo``, ``levguard venues``.

Bad input prints one line (``levguard: error: ...``) to stderr and exits with status 2.
"""

from __future__ import annotations

import math
import sys
import warnings
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from levguard.cli._errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, not_empty, one_line, say_interrupted
from levguard.cli._errors import fail as _fail
from levguard.core.positions import MarginMode
from levguard.errors import InputError, LevguardError, NoTiersError

if TYPE_CHECKING:
    from rich.console import Console

    from levguard.core.margin import AccountReport


def _new_app() -> typer.Typer:
    """Return the top-level Typer app with its settings and ``--version``, no command yet."""
    new = typer.Typer(
        name="levguard",
        help="Systematic leverage management for crypto derivatives.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain help: readable without a TTY, no "<bool>" metavars on flags
    )
    new.callback()(_main)
    return new


def _version(value: bool) -> None:
    if value:
        from levguard import __version__

        typer.echo(f"levguard {__version__}")
        raise typer.Exit()


def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Systematic leverage management for crypto derivatives."""


def _print_json(obj: Any) -> None:
    from levguard.cli._output import json_text

    sys.stdout.write(json_text(obj) + "\n")


def _show(report: AccountReport, as_json: bool) -> Console | None:
    """Print ``report`` as JSON (returns None) or as tables (returns the console for more lines)."""
    if as_json:
        _print_json(report.to_dict())
        return None
    from levguard.cli._output import console, render_report

    out = console()
    render_report(report, out)
    return out


class Side(StrEnum):
    """Position side for the quick form."""

    long = "long"
    short = "short"


def margin(
    file: Annotated[str, typer.Argument(help="Account spec (JSON or YAML), or - for standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    tiers: Annotated[
        str | None,
        typer.Option(help="JSON/YAML file mapping symbol -> tiers (ours, Binance's or ccxt's shape)."),
    ] = None,
) -> None:
    """Print the margin report of an account spec."""
    from levguard.errors import InputError
    from levguard.margin import evaluate_account, load_spec, load_spec_stream

    try:
        spec = load_spec_stream(sys.stdin, "<stdin>") if file == "-" else load_spec(file)
        if not isinstance(spec, dict):
            # A file holding a plain string must not be taken for the name of another file.
            raise InputError(
                f"{file}: an account spec must be a mapping (venue, positions, ...), was {type(spec).__name__}"
            )
        if tiers is not None:
            extra = load_spec(tiers)
            if not isinstance(extra, dict):
                raise InputError(f"--tiers file {tiers!r} must map symbol -> list of tiers, was {type(extra).__name__}")
            own = spec.get("tiers")
            if own is not None and not isinstance(own, dict):
                raise InputError(f"tiers must map symbol -> list of tiers, was {type(own).__name__}")
            spec = {**spec, "tiers": {**(own or {}), **extra}}
        report = evaluate_account(spec)
    except NoTiersError as exc:  # the spec's keys, and this command's option
        from levguard.core.margin import SPEC_TIERS_REMEDY

        _fail(str(exc.with_remedy(f"{SPEC_TIERS_REMEDY} in the spec, or --tiers FILE")))
        return
    except LevguardError as exc:
        _fail(str(exc))
        return
    _show(report, as_json)


def liq(
    venue: Annotated[str, typer.Option(help="Rule set, e.g. binance-usdm (see `levguard venues`).")] = "binance-usdm",
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. BTCUSDT.")] = "BTCUSDT",
    side: Annotated[Side, typer.Option(help="long or short.")] = Side.long,
    entry: Annotated[float, typer.Option(help="Entry price.")] = ...,  # type: ignore[assignment]
    leverage: Annotated[float, typer.Option(help="Initial leverage.")] = ...,  # type: ignore[assignment]
    wallet: Annotated[float, typer.Option(help="Collateral in the settlement currency.")] = ...,  # type: ignore[assignment]
    qty: Annotated[
        float | None,
        typer.Option(
            help="Size in contracts (default: the notional N whose initial margin is the wallet, N = wallet x "
            "leverage; on Gate N / leverage + N x taker = wallet; in contracts N / entry, inverse N x entry, "
            "over the contract size)."
        ),
    ] = None,
    mark: Annotated[float | None, typer.Option(help="Mark price (default: entry).")] = None,
    margin_mode: Annotated[MarginMode, typer.Option("--margin-mode", help="cross or isolated.")] = MarginMode.CROSS,
    mmr: Annotated[float | None, typer.Option(help="Fixed maintenance rate instead of the venue's tiers.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Quick form: liquidation and bankruptcy price of one position."""
    from levguard.core.rules import get_venue
    from levguard.margin import evaluate_account

    try:
        model = get_venue(venue)
        for name, value in (("entry", entry), ("leverage", leverage), ("wallet", wallet)):
            if not value > 0 or value != value or value == float("inf"):
                raise LevguardError(f"--{name} must be > 0 and finite, was {value!r}")
        if qty is None:
            size = model.contract_size(symbol)
            # The notional whose initial margin is the wallet: N / leverage (+ N x taker on Gate).
            im_rate = 1.0 / leverage + model.margin_fees(model.default_taker_fee)[1]
            contracts = (
                (wallet / im_rate / entry / size)
                if model.kind_for(symbol).value == "linear"
                else (wallet / im_rate * entry / size)
            )
        elif not (math.isfinite(qty) and qty > 0):
            # The side says the direction; a signed or zero qty would silently contradict it.
            raise LevguardError(f"--qty must be > 0 and finite (the direction is --side), was {qty!r}")
        else:
            contracts = qty
        position: dict[str, Any] = {
            "symbol": symbol,
            "qty": contracts if side is Side.long else -contracts,
            "entry_price": entry,
            "mark_price": mark if mark is not None else entry,
            "leverage": leverage,
        }
        if mmr is not None:
            position["mmr"] = mmr
        if margin_mode is MarginMode.ISOLATED:
            position["isolated_margin"] = wallet
        spec = {
            "venue": venue,
            "margin_mode": margin_mode.value,
            "wallet_balance": 0.0 if margin_mode is MarginMode.ISOLATED else wallet,
            "positions": [position],
        }
        report = evaluate_account(spec)
    except NoTiersError as exc:  # liq takes a fixed rate, not tiers
        _fail(str(exc.with_remedy("pass --mmr RATE (a fixed maintenance rate), or use levguard margin with tiers")))
        return
    except LevguardError as exc:
        _fail(str(exc))
        return
    out = _show(report, as_json)
    if out is not None:
        from levguard.cli._output import price

        p = report.positions[0]
        out.print(
            f"liquidation price [bold]{price(p.liquidation_price)}[/] · bankruptcy price {price(p.bankruptcy_price)}"
        )
        if qty is not None and p.initial_margin > wallet * (1.0 + 1e-9):
            # A given size need not fit the wallet: say so, the table's "lev" is the setting.
            out.print(
                f"[yellow]note:[/] --qty {qty:g} needs an initial margin of {price(p.initial_margin)} at "
                f"{leverage:g}x; the wallet holds {price(wallet)}, so the position is "
                f"{p.initial_margin * leverage / wallet:,.1f}x the wallet"
            )


def venues() -> None:
    """List the venue rule sets and their sources."""
    from levguard.cli._output import FittingTable as Table
    from levguard.core.rules import VENUES

    table = Table(header_style="bold")
    for col in ("name", "venue", "contracts", "MM valued at", "funding"):
        table.add_column(col, no_wrap=col != "venue")
    table.add_column("source", overflow="fold")  # URLs are wrapped, never cut with an ellipsis
    for m in VENUES.values():
        funding = f"{m.funding_interval_hours:g} h" + (" rate, accrued" if m.funding_continuous else "")
        table.add_row(m.name, m.title, m.kind.value, m.mm_basis.value, funding, m.source)
    from levguard.cli._output import console

    console().print(table)


def _default_demo_frame() -> Any:
    """The embedded default market as one backtest frame (last price, mark OHLC, funding)."""
    from levguard.data.default import default_market
    from levguard.data.perp import perp_frame

    market = default_market()
    data = perp_frame(market.ohlcv, market.mark, market.funding)
    data.attrs["symbol"] = "BTCUSDT"
    return data


def _backtest_demo(
    out_path: str | None,
    data: Any = None,
    *,
    title: str | None = None,
    subtitle: str | None = None,
    tiers: Any = None,
) -> dict[str, Any]:
    """Compare leverage policies on ``data`` (default: the embedded default market, crashes included)."""
    from levguard.backtest.engine import run
    from levguard.backtest.strategies import BuyAndHold
    from levguard.core.sizing.base import Composite, FixedLeverage
    from levguard.core.sizing.policies import GapCap, VolatilityTarget
    from levguard.core.sizing.venue import LiquidationBudget, TierCap
    from levguard.report.html import write_report

    if data is None:
        data = _default_demo_frame()
        title = "levguard demo: leverage policies through crashes"
        subtitle = (
            "Embedded synthetic BTC market (3 years of 1h bars, seed 7) with injected "
            "crashes; buy-and-hold long; isolated margin on Binance BTCUSDT brackets; "
            "rebalanced when leverage drifts 20 % from target."
        )
    policies: dict[str, Any] = {
        "fixed 3x": FixedLeverage(3.0),
        "fixed 10x": FixedLeverage(10.0),
        "vol target 60%": VolatilityTarget(target_vol=0.6, max_leverage=5.0),
        "liquidation budget 1%/7d": LiquidationBudget(max_prob=0.01, horizon_days=7, max_leverage=10.0),
        "composite": Composite(
            VolatilityTarget(target_vol=0.6, max_leverage=5.0),
            TierCap(),
            GapCap(max_gap=0.3),
            LiquidationBudget(max_prob=0.01, horizon_days=7, max_leverage=10.0),
        ),
    }
    # Rebalance when leverage drifts more than 20 % from target (a trader's band; rebalancing every
    # hour would pay the taker fee on every small move).
    results = {
        name: run(
            data,
            BuyAndHold(),
            pol,
            venue="binance-usdm",
            margin_mode="isolated",
            initial_equity=10_000.0,
            rebalance={"band": 0.2},
            tiers=tiers,
        )
        for name, pol in policies.items()
    }
    path = None
    if out_path:
        path = str(write_report(results, out_path, title=title or "levguard demo", subtitle=subtitle or "", data=data))
    # JSON has no NaN: an undefined metric (a ruined run's Sharpe, docs/backtest.md "Ruin") is None.
    return {
        "report": path,
        "metrics": {
            name: {k: v if math.isfinite(v) else None for k, v in r.metrics.items()} for name, r in results.items()
        },
        "ruined_at": {
            name: r.ruined_at.isoformat() if r.ruined_at is not None else None for name, r in results.items()
        },
        # What the runs could not see (a short window's annualised figures, gaps), once each.
        "notes": list(dict.fromkeys(n for r in results.values() for n in r.notes)),
        "short_runs": [name for name, r in results.items() if r.short_run],
        "settlement": {name: r.params.get("settlement") for name, r in results.items()},
    }


def _real_demo_data(
    data_dir: str | None, real: bool, symbol: str, start: str | None, end: str | None, cache_dir: str | None
) -> tuple[Any, str]:
    """The backtest frame of ``--data DIR`` or ``--real``, and a one-line description of it."""
    from levguard.data.perp import download_perp, load_perp_dir, recent_span

    if data_dir is not None:
        frame = load_perp_dir(data_dir, symbol, "1h", start=start, end=end)
        return frame, f"{symbol} perpetual, 1h bars from {data_dir}"
    from levguard.data.cache import ParquetCache
    from levguard.data.download import BinanceArchive
    from levguard.errors import VenueError

    if start is None or end is None:
        lo, hi = recent_span(3)
        start = start if start is not None else lo.strftime("%Y-%m-%d")
        end = end if end is not None else hi.strftime("%Y-%m-%d")
    from levguard.cli.data_download import _progress

    with _progress(False) as progress:  # progress bars on an interactive stderr only
        archive = BinanceArchive(ParquetCache(cache_dir), progress=progress)
        try:
            frame = download_perp(symbol, "1h", start, end, archive=archive)
        except VenueError as exc:
            raise VenueError(f"cannot download Binance {symbol} history from {archive.base_url}: {exc}") from None
    return frame, f"Binance USDⓈ-M {symbol} perpetual, 1h bars, {start} → {end} ({archive.base_url})"


def _sizing_demo(samples: Any, market: dict[str, Any]) -> dict[str, Any]:
    """Size the sample account's BTC long with the sample policy at the default market's vol."""
    from levguard.margin import parse_spec_text
    from levguard.sizing import size_account

    account = parse_spec_text(samples.joinpath("cross_account.yaml").read_text(encoding="utf-8"), "cross_account.yaml")
    account = {**account, "positions": account["positions"][:1]}
    policy = parse_spec_text(samples.joinpath("policy.yaml").read_text(encoding="utf-8"), "policy.yaml")
    return size_account(account, policy, vol=market["annualised_vol"]).to_dict()


def _market_summary() -> dict[str, Any]:
    """The embedded default market and, at its deepest crash, who the margin engine liquidates."""
    import numpy as np

    from levguard.data.default import default_market
    from levguard.data.perp import funding_mean_per_8h
    from levguard.margin import evaluate_account

    market = default_market()
    bars, mark, funding = market.ohlcv, market.mark, market.funding
    close = bars["close"].to_numpy()
    hourly = np.diff(np.log(close))
    daily = bars["close"].resample("1D").last().dropna()
    day_low = (bars["low"].resample("1D").min() / bars["open"].resample("1D").first() - 1).dropna()
    worst = market.crashes.sort_values("depth", ascending=False).iloc[0]
    start = worst["start"]
    entry = float(bars.loc[start, "open"])
    window = mark.loc[start : worst["trough"]]
    low = float(window["low"].min())
    rows = []
    for lev in (3, 5, 10, 20, 50):
        spec = {
            "venue": "binance-usdm",
            "margin_mode": "isolated",
            "wallet_balance": 0,
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "qty": 10_000 * lev / entry,
                    "entry_price": entry,
                    "mark_price": entry,
                    "leverage": lev,
                }
            ],
        }
        lp = evaluate_account(spec).positions[0].liquidation_price
        rows.append({"leverage": lev, "liquidation_price": lp, "liquidated": lp is not None and low <= lp})
    return {
        "symbol": bars.attrs.get("symbol"),
        "source": bars.attrs.get("source"),
        "bars": len(bars),
        "first": str(bars.index[0]),
        "last": str(bars.index[-1]),
        "annualised_vol": float(np.std(hourly, ddof=1) * np.sqrt(24 * 365)),
        "daily_excess_kurtosis": float(np.log(daily).diff().dropna().kurt()),
        "worst_intraday_drop": float(day_low.min()),
        # Per 8 h whatever the print interval (the plain mean of the rates assumed 8 h prints).
        "funding_mean_per_8h": funding_mean_per_8h(funding["funding_rate"]),
        "crash": {
            "name": str(worst["name"]),
            "start": str(start),
            "entry": entry,
            "mark_low": low,
            "depth": float(worst["depth"]),
        },
        "isolated_longs_10k_margin": rows,
    }


def _print_backtest(backtest: dict[str, Any], title: str) -> None:
    from levguard.cli._output import console, metrics_table

    bt = metrics_table(
        backtest["metrics"], title, backtest.get("ruined_at"), backtest["short_runs"], backtest["settlement"]
    )
    out_con = console()
    out_con.print()
    for note in backtest["notes"]:
        out_con.print(f"note: {note}", markup=False, highlight=False)
    out_con.print(bt)
    if backtest["report"]:
        out_con.print(f"HTML report: {backtest['report']}")


def _print_sizing(sizing: dict[str, Any], vol: float, where: str) -> None:
    from levguard.cli._output import console

    console().print(
        f"\n[bold]Sizing[/] the sample BTCUSDT long with the sample policy (vol target 50 %, tier cap, "
        f"gap cap 30 %, 7-day P(liq) ≤ 1 %) at {where} {vol:.1%} vol: "
        f"{sizing['current_leverage']:.2f}x now → target {sizing['target_leverage']:.2f}x, "
        f"bound by {sizing['binding_constraint']}; trade {sizing['positions'][0]['trade_qty']:+,.3f} BTC"
    )


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def _history_words(symbol: str, data_dir: str | None) -> str:
    # What the demo's backtest ran on: "real" only for --real (downloaded from Binance); the files of
    # --data DIR carry no provenance (`levguard init` writes synthetic ones in Binance's layout).
    # The backtest's heading says the same.
    return f"real {symbol} history" if data_dir is None else f"{symbol} history from {data_dir}"


def _print_real_market(market: dict[str, Any], label: str) -> None:
    from levguard.cli._output import console

    out = console()
    for note in market["notes"]:
        out.print(f"note: {note}", markup=False, highlight=False)
    funding = market["funding_mean_per_8h"]
    out.print(
        f"[bold]Market data[/] {market['symbol']}: {market['bars']:,} {market['interval']} bars, "
        f"{market['first'][:16]} → {market['last'][:16]} ({label})\n"
        f"annualised vol {market['annualised_vol']:.1%} · "
        f"worst intraday drop {_pct(market['worst_intraday_drop'])} "
        f"(mark {_pct(market['worst_mark_intraday_drop'])}) · "
        f"mean funding {'n/a' if funding is None else f'{funding:.4%}'}/8h · "
        f"mark price: {'yes' if market['mark_source'] else 'no (last price used)'}"
    )


def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    report_path: Annotated[
        str, typer.Option("--out", help="Where to write the HTML report ('' for none).")
    ] = "levguard-demo.html",
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Backtest on local files: DIR/ohlcv/{SYMBOL}-PERP_1h.csv, optional DIR/ohlcv/{SYMBOL}-MARK_1h.csv "
            "and DIR/funding/{SYMBOL}_funding.csv.",
        ),
    ] = None,
    real: Annotated[
        bool,
        typer.Option(
            "--real",
            help="Backtest on Binance USDⓈ-M history (klines, mark klines, funding) downloaded from "
            "data.binance.vision into the cache; default span: the last 3 whole years.",
        ),
    ] = False,
    symbol: Annotated[str | None, typer.Option(help="Symbol with --data/--real (default BTCUSDT).")] = None,
    tiers: Annotated[
        str | None,
        typer.Option(
            help="With --data/--real: JSON/YAML file mapping symbol -> tiers (ours, Binance's or ccxt's shape), "
            "for a symbol without built-in tiers."
        ),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First bar (UTC) with --data/--real, e.g. 2022-01-01.")] = None,
    end: Annotated[str | None, typer.Option(help="End (UTC, exclusive) with --data/--real.")] = None,
    cache_dir: Annotated[
        str | None,
        typer.Option(
            "--cache-dir", help="Download cache with --real (default: $LEVGUARD_CACHE_DIR or the user cache)."
        ),
    ] = None,
) -> None:
    """Margin reports of the shipped sample accounts, and the embedded default market at its worst crash.

    With --data DIR (files in Binance's layout, e.g. the synthetic ones `levguard init` writes) or --real
    (Binance's history, downloaded), the leverage-policy backtest runs on that perpetual history instead.
    """
    from levguard.margin import evaluate_account, parse_spec_text

    not_empty(data=data_dir, symbol=symbol, start=start, end=end, cache_dir=cache_dir, tiers=tiers)
    if data_dir is not None and real:
        _fail(f"--data and --real exclude each other, were --data {data_dir!r} and --real")
    if data_dir is None and not real:
        for flag, value in (("--symbol", symbol), ("--start", start), ("--end", end), ("--tiers", tiers)):
            if value is not None:
                _fail(f"{flag} applies to --data or --real only, was {value!r}")
    if cache_dir is not None and not real:
        _fail(f"--cache-dir applies to --real only, was {cache_dir!r}")
    from levguard.cli._paths import check_outputs

    sym = (symbol or "BTCUSDT").strip().upper()  # Binance names its files and symbols in upper case
    inputs: list[tuple[str, str | None]] = [("--tiers", tiers)]
    if data_dir is not None:  # the files the run reads: never written over by its report
        from levguard.data.perp import perp_dir_files

        inputs += [("--data", str(p)) for p in perp_dir_files(data_dir, sym)]
    try:  # before the run: a directory or an unwritable folder was found once it had all run
        check_outputs([("--out", report_path or None)], inputs=inputs)
    except LevguardError as exc:
        _fail(str(exc))
    from importlib import resources

    samples = resources.files("levguard.resources").joinpath("samples")
    names = ("binance_cross_faq.yaml", "cross_account.yaml")
    reports = []
    for name in names:
        text = samples.joinpath(name).read_text(encoding="utf-8")
        reports.append((name, evaluate_account(parse_spec_text(text, name))))
    real_data = data_dir is not None or real
    if real_data:
        from levguard.data.perp import perp_summary

        try:
            frame, label = _real_demo_data(data_dir, real, sym, start, end, cache_dir)
            table = None
            if tiers is not None:
                from levguard.cli.backtest import symbol_tiers

                table = symbol_tiers(tiers, sym, "binance-usdm", "--tiers")
            else:
                from levguard.core.rules import get_venue

                usdm = get_venue("binance-usdm")
                if usdm.tier_key(sym) not in usdm.builtin_tiers:  # a missing file or symbol is said first
                    built_in = ", ".join(sorted(usdm.builtin_tiers))
                    raise InputError(
                        f"--symbol {sym}: binance-usdm has no built-in tiers for it (built in: {built_in}); "
                        "pass --tiers FILE (symbol -> tier rows, Binance's leverageBracket shape)"
                    )
            market = perp_summary(frame)
            vol = market["annualised_vol"]
            if not (math.isfinite(vol) and vol > 0):  # "vol must be ... was nan" named nothing the user gave
                raise InputError(
                    f"the demo needs prices that move to estimate a volatility; {label} holds {len(frame)} "
                    f"bar(s) between --start and --end, with a volatility of {vol:g}"
                )
            sizing = _sizing_demo(samples, market) if sym == "BTCUSDT" else None
            backtest = _backtest_demo(
                report_path or None,
                frame,
                tiers=table,
                title=f"levguard demo: leverage policies on {_history_words(sym, data_dir)}",
                subtitle=f"{label}: {market['bars']:,} bars, {market['first'][:16]} → {market['last'][:16]} UTC; "
                f"mark price {'from the mark klines' if market['mark_source'] else 'not available (last price)'}, "
                f"funding {'from the funding prints' if market['funding_source'] else 'not charged'}; "
                f"buy-and-hold long; isolated margin on Binance {sym} brackets; "
                "rebalanced when leverage drifts 20 % from target.",
            )
        except NoTiersError as exc:  # the demo takes --tiers, not run()'s argument
            _fail(str(exc.with_remedy("pass --tiers FILE (symbol -> tier rows)")))
            return
        except LevguardError as exc:
            _fail(str(exc))
            return
    else:
        market = _market_summary()
        sizing = _sizing_demo(samples, market)
        backtest = _backtest_demo(report_path or None)
    if as_json:
        _print_json(
            {
                **{name: r.to_dict() for name, r in reports},
                "market" if real_data else "default_market": market,
                "sizing": sizing,
                "backtest": backtest,
            }
        )
        return
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, fmt, price, render_report

    out = console()
    titles = {
        "binance_cross_faq.yaml": "Binance FAQ cross example (published LPs: BTCUSDT 26,316.89, ETHUSDT 1,153.26)",
        "cross_account.yaml": "Sample cross account on the packaged Binance brackets (2024-10-24)",
    }
    for name, report in reports:
        render_report(report, out, title=titles[name])
        out.print()
    if real_data:
        _print_real_market(market, label)
        if sizing is not None:
            _print_sizing(sizing, market["annualised_vol"], f"the {sym} data's")
        on = "real history" if data_dir is None else f"the history from {data_dir}"
        _print_backtest(backtest, f"Backtest: buy-and-hold {sym} long on {on}, by leverage policy")
        return
    crash = market["crash"]
    out.print(
        f"[bold]Embedded default market[/] {market['symbol']}: {market['bars']:,} 1h bars, "
        f"{market['first'][:10]} → {market['last'][:10]} ({market['source']})\n"
        f"annualised vol {market['annualised_vol']:.1%} · "
        f"daily excess kurtosis {market['daily_excess_kurtosis']:.1f} · "
        f"worst intraday drop {market['worst_intraday_drop']:.1%} · "
        f"mean funding {_pct(market['funding_mean_per_8h'], 4)}/8h"
    )
    table = Table(
        title=f"Isolated BTCUSDT longs with 10,000 USDT margin opened at {crash['start'][:16]} "
        f"(crash '{crash['name']}', mark low {price(crash['mark_low'])})",
        header_style="bold",
        title_justify="left",
    )
    for col in ("leverage", "entry", "liquidation price", "liquidated by the mark low?"):
        table.add_column(col, justify="right")
    for row in market["isolated_longs_10k_margin"]:
        table.add_row(
            f"{row['leverage']}x",
            fmt(crash["entry"]),
            price(row["liquidation_price"]),
            "[bold red]yes[/]" if row["liquidated"] else "[green]no[/]",
        )
    out.print(table)
    if sizing is not None:
        _print_sizing(sizing, market["annualised_vol"], "the default market's")
    _print_backtest(
        backtest, "Backtest: buy-and-hold BTC long through the default market's crashes, by leverage policy"
    )


# The commands in the order a user meets them (``levguard --help`` lists them so): name, module
# and attribute, and whether the attribute is a Typer group (``validate liquidation``) rather than
# one command.  A group is only assembled with the commands it runs: building the parsers of all
# of them (signatures and annotations of every option) and importing their modules costs about
# 100 ms, three times the work of ``levguard margin``.
_COMMANDS: tuple[tuple[str, str, str, bool], ...] = (
    ("init", "levguard.cli.init", "init", False),
    ("margin", __name__, "margin", False),
    ("liq", __name__, "liq", False),
    ("size", "levguard.cli.size", "size", False),
    ("risk", "levguard.cli.risk", "risk", False),
    ("defi", "levguard.cli.defi", "defi_app", True),
    ("backtest", "levguard.cli.backtest", "backtest", False),
    ("demo", __name__, "demo", False),
    ("cascade", "levguard.cli.cascade", "cascade", False),
    ("calibrate", "levguard.cli.cascade", "calibrate", False),
    ("replay", "levguard.cli.replay", "replay", False),
    ("contagion", "levguard.cli.contagion", "contagion", False),
    ("guard", "levguard.cli.guard", "guard", False),
    ("guard-enable", "levguard.cli.guard", "guard_enable", False),
    ("serve", "levguard.cli.serve", "serve", False),
    ("serve-token", "levguard.cli.serve", "serve_token", False),
    ("validate", "levguard.cli.validate", "validate_app", True),
    ("data", "levguard.cli.data", "data_app", True),
    ("replay-account", "levguard.cli.replay_account", "replay_account_command", False),
    ("venues", __name__, "venues", False),
    ("warmup", "levguard.cli.warmup", "warmup", False),
)
COMMAND_NAMES: tuple[str, ...] = tuple(entry[0] for entry in _COMMANDS)
"""Every top-level command, in the order ``levguard --help`` lists them."""


def build_app(only: str | None = None) -> typer.Typer:
    """Return the command-line app with every command, or with the one named ``only``.

    The console script builds the app with the one command on its command line (when that names
    a command), so ``levguard margin`` neither imports nor builds ``cascade`` or ``serve``; help,
    ``--version`` and unknown commands get every command.
    """
    from importlib import import_module

    new = _new_app()
    for name, module, attribute, group in _COMMANDS:
        if only is not None and name != only:
            continue
        target = getattr(import_module(module), attribute)
        if group:
            new.add_typer(target, name=name)
        else:
            new.command(name)(target)
    return new


def _command_name(argv: list[str]) -> str | None:
    """Return the command named on a command line (its first word), if it names one."""
    # Options before the command (--version, --help) or an unknown word: the whole app.
    return argv[0] if argv and argv[0] in COMMAND_NAMES else None


_FULL_APP: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    # ``levguard.cli.main.app``: the app with every command, built on first use (tests, CliRunner).
    global _FULL_APP
    if name == "app":
        if _FULL_APP is None:
            _FULL_APP = build_app()
        return _FULL_APP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _interrupted() -> NoReturn:
    # Ctrl-C is the user's request, not an error of ours: one line, exit 130.
    say_interrupted()
    sys.exit(EXIT_INTERRUPTED)


def run() -> None:
    """Console-script entry point: every error, ours or a usage error, is one line and exit 2;
    Ctrl-C, while the command's modules are imported or while it runs, is the line
    ``levguard: interrupted`` and exit 130, never a traceback."""
    try:
        _run()
    except KeyboardInterrupt:
        _interrupted()


def _run() -> None:
    # click's UsageError (Typer vendors click in recent releases, so it is reached through
    # Typer's own public BadParameter rather than imported from click).
    usage_error: type[Exception] = typer.BadParameter.__mro__[1]
    # NumPy's floating-point warnings ("overflow encountered in exp") from extreme inputs would come
    # before the error line that names the value (the commands check what they compute); the
    # library keeps them for its callers.
    warnings.filterwarnings(
        "ignore", message=r"(overflow|invalid value|divide by zero|underflow) encountered", category=RuntimeWarning
    )
    try:
        code = build_app(_command_name(sys.argv[1:]))(standalone_mode=False)
    except usage_error as exc:
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "levguard"
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())  # `levguard` alone (or a group alone) shows its help
            sys.exit(0)
        message = exc.format_message()  # type: ignore[attr-defined]
        from rich.console import Console

        Console(stderr=True, highlight=False).print(
            f"levguard: error: {one_line(message)} (see '{where} --help')", markup=False, soft_wrap=True
        )
        sys.exit(EXIT_BAD_INPUT)
    except typer.Abort:  # click turns Ctrl-C inside the command into Abort
        _interrupted()
    except LevguardError as exc:  # pragma: no cover - commands catch their own
        from rich.console import Console

        Console(stderr=True, highlight=False).print(
            f"levguard: error: {one_line(str(exc))}", markup=False, soft_wrap=True
        )
        sys.exit(EXIT_BAD_INPUT)
    if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C inside a command into Exit(130), silently
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    run()
