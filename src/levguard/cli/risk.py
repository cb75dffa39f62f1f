"""``levguard risk ACCOUNT_FILE``: volatility, VaR/ES, Greeks, probability of liquidation, stress."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from levguard.cli._errors import fail as _fail
from levguard.core.symbols import is_usd
from levguard.errors import LevguardError


def _num(x: Any, digits: int = 2) -> str:
    from levguard.cli._output import fmt

    return fmt(x if isinstance(x, int | float) else None, digits)


def _pct(x: Any, digits: int = 1) -> str:
    return "—" if not isinstance(x, int | float) else f"{x:.{digits}%}"


def gbm_words(liq: dict[str, Any]) -> str:
    """What a closed-form forecaster was given, as ``levguard risk`` and ``levguard size`` say it:
    the given volatility (and that its asset has no price history, when histories were given), or
    a given forecaster."""
    from rich.markup import escape

    source = str(liq.get("source") or "")
    if source.startswith("given volatility"):
        why = "no price history of its asset" if "no price history" in source else "no history"
        return f"GBM closed form at the given volatility ({why})"
    return f"GBM closed form ({escape(source)})"


def render(report: dict[str, Any]) -> None:
    """Print the report as rich tables."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, price
    from levguard.risk.forecast import short_history_note

    out = console()
    vol = report["volatility"]
    for sec in (vol.get("by_asset") or {"": vol}).values():  # each history read, by asset
        if "annualised" not in sec:
            continue
        est = ", ".join(f"{k.replace('_', '-')} {v:.1%}" for k, v in sec["annualised"].items())
        garch = sec.get("garch", {})
        g = f" · GARCH(1,1)-t 1-day forecast {garch['forecast_1d']:.1%}" if "forecast_1d" in garch else ""
        out.print(
            f"[bold]Volatility[/] (annualised, last {sec['window_days']} days of {escape(sec['source'])}): {est}{g}"
        )
    for note in vol.get("notes", []):
        out.print(f"  note: {escape(note)}")
    by_asset = vol.get("used_by_asset") or {}
    used = ", ".join(f"{a} {v:.1%}" for a, v in by_asset.items()) if by_asset else f"{vol['used']:.1%}"
    out.print(f"volatility used for VaR: [bold]{used}[/]")
    liq = report.get("liquidation_forecast") or {}
    if liq:
        if liq["model"] == "excursion":
            when = f" as of {liq['as_of']}" if liq.get("as_of") else ""
            fit = short_history_note(liq)
            how = f"calibrated excursion forecaster on {escape(liq['source'])}{when}{fit}"
        else:
            how = gbm_words(liq)
        out.print(f"probability of liquidation: {how} · volatility scale [bold]{liq['annual_vol']:.1%}[/]")

    exp = Table(title="Exposure per venue", header_style="bold", title_justify="left")
    for col in ("account", "venue", "settlement", "equity", "equity (USD)", "share", "gross notional", "net notional"):
        exp.add_column(col, justify="left" if col in ("account", "venue", "settlement") else "right")
    for e in report["exposure"]:
        exp.add_row(
            escape(e["name"]),
            e["venue"],
            e["settlement"],
            _num(e["equity"]),
            _num(e["equity_usd"]),
            _pct(e["share"]),
            _num(e["gross_notional"]),
            _num(e["net_notional"]),
        )
    out.print(exp)

    for a in report["accounts"]:
        cur = a["settlement"]
        var = Table(title=f"{escape(a['name'])}: VaR / ES ({cur})", header_style="bold", title_justify="left")
        for col in ("method", "level", "horizon", "VaR", "ES"):
            var.add_column(col, justify="left" if col == "method" else "right")
        unavailable = []
        for v in a["var"]:
            if "error" in v:
                var.add_row(v["method"], "", "", "—", "—")
                unavailable.append(f"  {v['method']}: {escape(v['error'])}")
            else:
                var.add_row(v["method"], _pct(v["level"]), f"{v['horizon_days']}d", _num(v["var"]), _num(v["es"]))
        out.print(var)
        for line in unavailable:  # why a method has no number, in full (it was cut to 60 characters)
            out.print(line)
        if a["prob_liquidation"]:
            keys = [k for k in a["prob_liquidation"][0] if k.startswith("p_liq_")]
            pl = Table(
                title=f"{escape(a['name'])}: probability of liquidation", header_style="bold", title_justify="left"
            )
            for col in ("symbol", "side", "mark", "liq price", "health", *[k[6:] for k in keys]):
                pl.add_column(col, justify="left" if col in ("symbol", "side") else "right")
            for r in a["prob_liquidation"]:
                pl.add_row(
                    r["symbol"],
                    r["side"],
                    price(r["mark_price"]),
                    price(r["liquidation_price"]),
                    _pct(r["health"]),
                    *[_pct(r[k], 2) for k in keys],
                )
            out.print(pl)
            # A position whose P(liq) is not from the forecaster said above (no history of its asset).
            said = (a.get("liquidation_forecast") or liq).get("source")
            for r in a["prob_liquidation"]:
                if r.get("source") not in (None, said):
                    how = (
                        "the GBM closed form at the given volatility (no price history of its asset)"
                        if r["model"] == "gbm"
                        else f"the calibrated excursion forecaster on {escape(r['source'])}"
                    )
                    out.print(f"  {escape(r['symbol'])}: P(liq) from {how}")
        if a["greeks"]:
            gt = Table(
                title=f"{escape(a['name'])}: option Greeks (position totals)", header_style="bold", title_justify="left"
            )
            for col in ("symbol", "qty", "settle", "value", f"value ({cur})", "delta", "gamma", "vega", "theta/yr"):
                gt.add_column(col, justify="left" if col in ("symbol", "settle") else "right")
            for g in a["greeks"]:
                gt.add_row(
                    escape(g["symbol"]),
                    _num(g["qty"], 4),
                    g["settlement"],
                    _num(g["value"], 4),
                    _num(g["value_in_account"]),
                    f"{g['delta']:.4g}",
                    f"{g['gamma']:.3g}",
                    _num(g["vega"], 4),
                    _num(g["theta"], 4),
                )
            out.print(gt)

    st = Table(
        title="Stress scenarios (P&L per account in its settlement currency)", header_style="bold", title_justify="left"
    )
    st.add_column("scenario")
    names = [a["name"] for a in report["accounts"]]
    for n in names:
        st.add_column(escape(n), justify="right")
    st.add_column("liquidated")
    st.add_column("total (USD)", justify="right")
    usd_accounts = [is_usd(str(a["settlement"])) for a in report["accounts"]]
    for s in report["stress"]:
        liq = sorted({f"{r['name']}:{sym}" for r in s["accounts"] for sym in r["liquidated"]})
        liq += [f"{r['name']}: bankrupt" for r in s["accounts"] if r.get("bankrupt")]
        defaulted = [r["name"] for r in s["accounts"] if r["defaulted"]]
        note = ", ".join(liq) if liq else ("defaulted: " + ", ".join(defaulted) if defaulted else "—")
        st.add_row(
            escape(s["scenario"]),
            *[_num(r["pnl"], 0 if usd else 6) for r, usd in zip(s["accounts"], usd_accounts, strict=True)],
            escape(note),
            _num(s["total_pnl_usd"], 0),
        )
    out.print(st)
    for i, a in enumerate(report["accounts"]):  # a hole before the scenarios is neither P&L nor bad debt
        hole = max((s["accounts"][i].get("shortfall_before", 0.0) for s in report["stress"]), default=0.0)
        if hole > 0.0:
            name, ccy = escape(str(a["name"])), escape(str(a["settlement"]))
            out.print(
                f"{name}: below zero before the scenarios by {_num(hole)} {ccy} "
                "(the venue's loss already: not in the scenarios' P&L or bad debt)"
            )


def risk(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Account spec or {accounts: [...]} portfolio (JSON/YAML).")],
    history: Annotated[
        list[str] | None,
        typer.Option(
            help="Hourly (or finer) OHLC file of an underlying, mark_* columns when present (CSV/Parquet): FILE "
            "(its asset from its name, e.g. BTCUSDT-PERP_1h.csv) or ASSET=FILE, once per underlying. A position "
            "on an asset without one reads --vol."
        ),
    ] = None,
    vol: Annotated[
        float | None,
        typer.Option(
            help="Annualised volatility, e.g. 0.6, of the positions whose asset has no --history (VaR and P(liq)); "
            "a position with a history reads the history's (a note says when --vol was not used)."
        ),
    ] = None,
    level: Annotated[float, typer.Option(help="VaR/ES confidence.")] = 0.99,
    horizon: Annotated[int, typer.Option(help="VaR/ES holding period in days.")] = 1,
    sims: Annotated[int, typer.Option(help="Monte Carlo scenarios.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    correlation: Annotated[
        float, typer.Option(help="Correlation between underlyings (default: measured median of BTC/ETH/XRP/SOL).")
    ] = 0.60,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    surface: Annotated[
        str | None,
        typer.Option(
            help="Two assets for the liquidation surface and reverse stress, e.g. BTC,ETH, or one for its "
            "ladder (default on a unified or portfolio-margin account: its two largest non-stablecoin "
            "exposures, or its only one)."
        ),
    ] = None,
    surface_range: Annotated[float, typer.Option(help="Surface grid: relative moves from -R to +R.")] = 0.6,
    surface_points: Annotated[int, typer.Option(help="Surface grid: moves per asset.")] = 61,
    asset_history: Annotated[
        list[str] | None,
        typer.Option(
            help="ASSET=FILE, once per surface asset: OHLC history whose daily log returns give the "
            "covariance of the reverse stress (EWMA); without it --vol and --correlation do."
        ),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", help="Write the liquidation surface and reverse stress as HTML here.")
    ] = None,
) -> None:
    """Volatility, VaR/ES, Greeks, probability of liquidation (1, 7, 30 days) and stress for an account;
    the liquidation surface and the smallest liquidating joint shock (reverse stress) of two assets.

    A unified or portfolio-margin account (docs/unified.md) gets its margin, liquidation surface (or,
    moving with one asset, its ratio along that asset's moves) and reverse stress.
    """
    from levguard.cli._paths import check_outputs
    from levguard.core.unified import is_unified_spec
    from levguard.core.unified_pm import is_portfolio_margin_spec
    from levguard.errors import InputError
    from levguard.risk.histories import history_option
    from levguard.risk.joint import parse_asset_files
    from levguard.risk.report import load_portfolio, risk_report

    try:
        assets = [(f"--asset-history {a}", p) for a, p in parse_asset_files(asset_history).items()]
        histories = history_option(history)
        files = (
            histories.values()
            if isinstance(histories, dict)
            else [histories]
            if isinstance(histories, str)
            else histories or []
        )
        check_outputs([("--out", out)], inputs=[("FILE", file), *(("--history", f) for f in files), *assets])
        specs = load_portfolio(file)
        unified = len(specs) == 1 and (is_unified_spec(specs[0]) or is_portfolio_margin_spec(specs[0]))
        if unified:  # its report has no VaR/ES and no single-underlying history: they were ignored
            _refuse_var_options(ctx)
        if not (unified or surface is not None or out is not None):
            given = ("surface_range", "surface_points", "asset_history")
            # typer ships its own click: its ParameterSource is compared by name.
            unused = [n for n in given if getattr(ctx.get_parameter_source(n), "name", "") == "COMMANDLINE"]
            if unused:
                raise InputError(
                    f"--{unused[0].replace('_', '-')} shapes the liquidation surface: it needs --surface or --out "
                    "(or a unified or portfolio-margin account)"
                )
        report: dict[str, Any] = {}
        if not unified:
            report = risk_report(
                file,
                history=histories,
                vol=vol,
                level=level,
                horizon_days=horizon,
                n_sims=sims,
                seed=seed,
                correlation=correlation,
            ).to_dict()
        joint = None
        if unified or surface is not None or out is not None:
            joint = _joint(specs, surface, surface_range, surface_points, asset_history, vol, correlation, horizon)
            report["joint_stress"] = joint.to_dict()
        if out is not None and joint is not None:
            from levguard.report.joint_stress import write_joint_stress_report

            note = (
                f"Shock horizon {horizon} day(s); covariance: {joint.covariance_source}. Each grid point reprices "
                "every position and balance in the moved assets and holds every other price."
            )
            if joint.trigger == "bankruptcy":
                note += " No futures to liquidate: the flagged points are where the equity reaches 0 (bankruptcy)."
            write_joint_stress_report(
                out, joint.surface, joint.reverse, note=note, ladder=joint.ladder, trigger=joint.trigger
            )
    except LevguardError as exc:
        _fail(str(exc))
        return
    if as_json:
        from levguard.cli._output import json_text

        sys.stdout.write(json_text(report) + "\n")
        return
    if not unified:
        render(report)
    if joint is not None:
        render_joint(joint)
    if out is not None:
        from levguard.cli._output import console

        console().print(f"wrote {out}")


# The options of the VaR/ES report that a unified or portfolio-margin account's report (margin,
# liquidation surface, reverse stress) does not use, and what to do instead.
_VAR_ONLY = {
    "history": "use --asset-history ASSET=FILE for the reverse stress's covariance",
    "level": "it is the VaR/ES confidence",
    "sims": "it is the VaR/ES Monte Carlo's scenario count",
    "seed": "it seeds the VaR/ES Monte Carlo",
}


def _refuse_var_options(ctx: typer.Context) -> None:
    from levguard.errors import InputError

    for name, instead in _VAR_ONLY.items():
        if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE":
            raise InputError(
                f"--{name} does not apply to a unified or portfolio-margin account (its report is the margin, "
                f"liquidation surface and reverse stress, without VaR/ES); {instead}, or drop --{name}"
            )


def _joint(
    specs: list[dict[str, Any]],
    surface: str | None,
    surface_range: float,
    surface_points: int,
    asset_history: list[str] | None,
    vol: float | None,
    correlation: float,
    horizon: int,
) -> Any:
    from levguard.errors import InputError
    from levguard.risk.joint import joint_stress_report, parse_asset_files

    if len(specs) != 1:
        raise InputError(f"the liquidation surface takes one account, the file holds {len(specs)}")
    assets = None
    if surface is not None:
        assets = [a.strip() for a in surface.split(",") if a.strip()]
        if len(assets) not in (1, 2):
            raise InputError(
                "--surface takes two assets separated by a comma (e.g. BTC,ETH), or one for its ladder, "
                f"was {surface!r}"
            )
    return joint_stress_report(
        specs[0],
        assets=assets,
        move_range=surface_range,
        points=surface_points,
        histories=parse_asset_files(asset_history),
        vol=vol,
        correlation=correlation,
        horizon_days=horizon,
    )


def render_joint(joint: Any) -> None:
    """Print the unified margin line, the surface's liquidated share and the minimal shock."""
    from rich.markup import escape

    from levguard.cli._output import console, price

    out = console()
    m = joint.account
    if m.account_ratio_name:
        ratio = "—" if m.account_ratio is None else f"{m.account_ratio:.4f}"
        out.print(
            f"[bold]{escape(m.venue)}[/]: equity {_num(m.equity)} · MM {_num(m.maintenance_margin)} · "
            f"{m.account_ratio_name} {ratio} · {m.account_status}"
        )
    # Without futures nothing can be liquidated: the flagged points are the cross part's bankruptcy.
    broke = joint.trigger == "bankruptcy"
    why = " (no futures to liquidate: equity reaches 0)" if broke else ""
    s = joint.surface
    if s is not None:
        share = float(s.liquidatable.mean())
        out.print(
            f"[bold]Liquidation surface[/] {s.asset_x} x {s.asset_y}: {s.liquidatable.size} joint moves from "
            f"{s.moves_x[0]:+.0%} to {s.moves_x[-1]:+.0%}, {share:.1%} of them "
            + ("go bankrupt" + why if broke else "liquidate")
        )
    lad = joint.ladder
    if lad is not None:
        down, up = lad.nearest_down, lad.nearest_up
        out.print(
            f"[bold]Ladder[/] {lad.asset} (the account moves with it alone): {lad.moves.size} moves from "
            f"{lad.moves[0]:+.0%} to {lad.moves[-1]:+.0%}; nearest {'bankrupting' if broke else 'liquidating'} "
            f"move on the grid{why}: "
            f"down {'none' if down is None else f'{down:+.1%}'}, up {'none' if up is None else f'{up:+.1%}'}"
        )
    r = joint.reverse
    head = f"[bold]Reverse stress[/] ({joint.horizon_days}-day shock; {escape(joint.covariance_source)}):"
    if not r.found:
        verb = "takes the equity to 0 (no futures to liquidate)" if broke else "liquidates"
        out.print(f"{head} nothing within {r.max_norm:g} standard deviations {verb}")
        return
    moves = ", ".join(
        f"{a} {price(r.prices_before[a])} -> {price(r.prices_after[a])} ({mv:+.2%})"
        for a, mv in zip(r.assets, r.moves, strict=True)
    )
    if broke:
        tail = "equity reaches 0 there (no futures to liquidate)"
        out.print(f"{head} minimal bankrupting shock [bold]{r.norm:.3f}[/] sd: {moves}; {tail}")
        return
    ratio = "—" if r.ratio is None else f"{r.ratio:.4f}"
    out.print(f"{head} minimal liquidating shock [bold]{r.norm:.3f}[/] sd: {moves}; {r.ratio_name} there {ratio}")
