"""``levguard backtest CONFIG.yaml``: run a strategy under several leverage policies and report."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from levguard.errors import LevguardError


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"levguard: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(2)


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


def backtest(
    config: Annotated[str, typer.Argument(help="Backtest file (YAML/JSON), see docs/backtest.md.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Run a strategy under several leverage policies; print the metrics and write the HTML report."""
    from levguard.backtest.engine import run
    from levguard.config.backtest import load_backtest_file
    from levguard.config.policies import build_policy

    try:
        cfg = load_backtest_file(config)
        data = load_data(cfg.data)
        for note in data.attrs.get("notes", ()):
            typer.echo(f"note: {note}", err=True)
        strategy = build_strategy(cfg.strategy)
        results = {}
        for name, pcfg in cfg.policies.items():
            results[name] = run(
                data,
                strategy,
                build_policy(pcfg),
                venue=cfg.venue,
                symbol=cfg.symbol,
                margin_mode=cfg.margin_mode,
                fees=cfg.fees.taker,
                slippage=(cfg.slippage.bps, cfg.slippage.impact),
                initial_equity=cfg.initial_equity,
                rebalance=cfg.rebalance,
                cooldown_bars=cfg.cooldown_bars,
                liquidation_fee_rate=cfg.fees.liquidation,
            )
        report = None
        if cfg.output.report:
            from levguard.report.html import write_report

            report = write_report(
                results,
                cfg.output.report,
                title=f"levguard backtest: {config}",
                subtitle=f"{cfg.strategy.type} on {cfg.symbol} ({cfg.venue}, {cfg.margin_mode})",
            )
    except LevguardError as exc:
        _fail(str(exc))
        return
    metrics = {name: r.metrics for name, r in results.items()}
    if cfg.output.json_path:
        with open(cfg.output.json_path, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=2, default=str)
    if as_json:
        typer.echo(json.dumps({"report": str(report) if report else None, "metrics": metrics}, indent=2, default=str))
        return
    from levguard.cli._output import console, metrics_table

    table = metrics_table(metrics, f"{cfg.strategy.type} on {cfg.symbol}")
    con = console()
    con.print(table)
    if report:
        con.print(f"HTML report: {report}")
