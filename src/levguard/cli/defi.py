"""``levguard defi POSITION``: health, liquidation prices and targets of an Aave v3 or Morpho Blue
position; ``levguard defi loop POSITION``: a leverage loop's preview.

``levguard defi FILE`` is short for ``levguard defi position FILE``.  Bad input prints one line
(``levguard: error: ...``) and exits with status 2.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from levguard.cli._app import command_group
from levguard.cli._errors import fail, not_empty
from levguard.errors import LevguardError

if TYPE_CHECKING:
    from levguard.defi.loops import LoopReport
    from levguard.defi.results import JointBoundary, PositionReport, PositionValuation, TargetAmount
    from levguard.defi.risk import PositionRisk
    from levguard.defi.stress import StressResult

_DEFAULT = "position"


class _DefaultCommand(TyperGroup):
    """A group whose first word, when it names no sub-command, is the argument of ``position``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [_DEFAULT, *args]
        return super().parse_args(ctx, args)


defi_app = command_group(
    "defi",
    "DeFi lending positions (Aave v3, Morpho Blue): `levguard defi FILE` for health, liquidation prices "
    "and targets; `levguard defi loop FILE` for a leverage loop.",
)
defi_app.info.cls = _DefaultCommand


def _load(file: str) -> Any:
    from levguard.documents import load_spec, load_spec_stream
    from levguard.errors import InputError

    spec = load_spec_stream(sys.stdin, "<stdin>") if file == "-" else load_spec(file)
    if not isinstance(spec, dict):
        raise InputError(f"{file}: a position spec must be a mapping (protocol, ...), was {type(spec).__name__}")
    return spec


def _print_json(obj: Any) -> None:
    from levguard.cli._output import json_text

    sys.stdout.write(json_text(obj) + "\n")


def _ltv(ltv: float) -> str:
    # Debt over collateral; with debt and no collateral it is infinite ("inf%" before).
    return f"{ltv:.2%}" if math.isfinite(ltv) else "— (debt without collateral)"


def _hf(x: float | None) -> str:
    if x is None:
        return "—"
    return "∞" if x == float("inf") else f"{x:,.4f}"


def _change(x: float | None) -> str:
    return "—" if x is None else f"{x:+.2%}"


def _targets(title: str, rows: tuple[TargetAmount, ...], unit: str) -> Any:
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import fmt

    table = Table(title=title, header_style="bold", title_justify="left")
    for col in ("action", "asset", "amount", f"value ({unit})", "HF after", "note"):
        table.add_column(col, justify="right" if col in ("amount", f"value ({unit})", "HF after") else "left")
    for t in rows:
        table.add_row(
            t.action,
            escape(t.symbol),
            "—" if t.amount_tokens is None else fmt(t.amount_tokens, 6),
            fmt(t.amount_usd),
            _hf(t.health_factor_after),
            escape(t.reason),
        )
    return table


def render_position(report: PositionReport) -> None:
    """Print a position report as rich tables."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, fmt, price

    out = console()
    unit = report.value_unit
    label = "Aave v3" if report.protocol == "aave-v3" else "Morpho Blue"
    title = f"{label}{' ' + report.version if report.version else ''} position" + (
        f": {escape(report.name)}" if report.name else ""
    )
    table = Table(title=title, header_style="bold", title_justify="left")
    for col in ("asset", "price", "collateral", "debt", f"value ({unit})", "LTV", "LT", "liq price", "move"):
        table.add_column(col, justify="left" if col == "asset" else "right")
    for a in report.assets:
        liq = a.liquidation
        value = a.collateral_value - a.debt_value
        table.add_row(
            escape(a.symbol),
            price(a.price),
            fmt(a.collateral, 4) if a.collateral else "",
            fmt(a.debt, 4) if a.debt else "",
            fmt(value),
            "" if a.ltv is None else f"{a.ltv:.2%}",
            "" if a.lt is None else f"{a.lt:.2%}",
            "" if liq is None else ("—" if liq.value is None else price(liq.value)),
            "" if liq is None else _change(liq.change),
        )
    out.print(table)
    for a in report.assets:
        if a.liquidation is not None and a.liquidation.reason:
            out.print(f"  {escape(a.symbol)}: no liquidation price ({escape(a.liquidation.reason)})")
    state = "[bold red]LIQUIDATABLE[/]" if report.liquidatable else "[green]ok[/]"
    hf_style = "bold red" if report.liquidatable else ("yellow" if report.health_factor < 1.1 else "bold")
    out.print(
        f"health factor [{hf_style}]{_hf(report.health_factor)}[/] · collateral {fmt(report.collateral_value)} · "
        f"debt {fmt(report.debt_value)} · available to borrow {fmt(report.available_borrows)} {unit} · "
        f"LTV {_ltv(report.current_ltv)} (max {report.max_ltv:.2%}, liquidation {report.liquidation_threshold:.2%}) · "
        f"leverage {_times(report.leverage)} · {state}"
    )
    if report.target_hf is not None:
        rows = (*report.repay, *report.supply)
        if rows:
            out.print(_targets(f"To reach health factor {report.target_hf:g}", rows, unit))
    if report.borrow:
        keep = f" keeping HF >= {report.target_hf:g}" if report.target_hf is not None else ""
        out.print(_targets(f"Most that can be borrowed{keep}", report.borrow, unit))


def render_joint(joint: JointBoundary) -> None:
    """Print a joint liquidation boundary as a table."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, price

    table = Table(
        title=f"Joint liquidation boundary: {escape(joint.y_symbol)} liquidation price for each "
        f"{escape(joint.x_symbol)} price (USD)",
        header_style="bold",
        title_justify="left",
    )
    table.add_column(f"{joint.x_symbol} price", justify="right")
    table.add_column(f"{joint.y_symbol} liq price", justify="right")
    table.add_column("note")
    for x, y, why in zip(joint.x_prices_usd, joint.y_prices_usd, joint.reasons, strict=True):
        note = "safe at any price of the other" if "even at a price of 0" in why else why
        table.add_row(price(x), "—" if y is None else price(y), escape(note))
    console().print(table)


def render_risk(risk: PositionRisk) -> None:
    """Print P(HF < 1) by horizon, with the ratio it was forecast on."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table

    table = Table(title="P(HF < 1)", header_style="bold", title_justify="left")
    for col in ("horizon", "hours", "P(HF < 1)"):
        table.add_column(col, justify="right")
    for h in risk.probabilities:
        p = h.probability
        table.add_row(f"{h.horizon_days:g} d", str(h.hours), f"{p:.2%}" if p >= 1e-4 or p == 0 else f"{p:.2e}")
    out = _console()
    out.print(table)
    if risk.ratio:
        held = f" · held at their price: {escape(', '.join(risk.constant_assets))}" if risk.constant_assets else ""
        out.print(
            f"  ratio {escape(risk.ratio)} must fall {_change(-(risk.distance or 0.0)).lstrip('-')} for HF 1 "
            f"({escape(risk.distance_from)}) · model {risk.model} · {risk.bars} hourly bars to {risk.as_of} · "
            f"high/low {risk.high_low}{held}"
        )
    elif risk.reason:
        out.print(f"  {escape(risk.reason)}")


def render_stress(results: tuple[StressResult, ...]) -> None:
    """Print the stress scenarios: HF after, liquidatable, and what the largest liquidation takes."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import fmt

    unit = results[0].value_unit if results else ""
    table = Table(title="Stress scenarios", header_style="bold", title_justify="left")
    for col in ("scenario", "shock", "HF after", "liquidatable", "debt repaid", "collateral seized",
                f"liquidator profit ({unit})", f"bad debt ({unit})"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("scenario", "shock") else "right", no_wrap=col == "scenario")
    for r in results:
        liq = r.liquidation
        shock = ", ".join(f"{escape(k)} {_change(v)}" for k, v in r.shocks.items()) or "none"
        table.add_row(
            escape(r.scenario),
            shock,
            _hf(r.health_factor_after),
            "[bold red]yes[/]" if r.liquidatable else "no",
            "" if liq is None else f"{fmt(liq.debt_repaid, 4)} {escape(liq.debt_symbol)}",
            "" if liq is None else f"{fmt(liq.collateral_seized, 4)} {escape(liq.collateral_symbol)}",
            "" if liq is None else fmt(liq.liquidator_profit),
            "" if liq is None else fmt(liq.bad_debt_value),
        )
    _console().print(table)


def render_valuation(v: PositionValuation) -> None:
    """Print the oracle valuation: each asset's oracle and market price, the gap, the feed checks;
    the health factor at each."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import price

    policy = "Aave: answer <= 0 -> fallback" if v.policy == "aave" else "Morpho: negative answer reverts"
    table = Table(
        title=f"Oracle vs market prices at {v.block_timestamp} ({policy}; no staleness check)",
        header_style="bold",
        title_justify="left",
    )
    for col in ("asset", "source", "oracle price", "market price", "gap", "read", "feed checks", "age / heartbeat"):
        table.add_column(col, justify="right" if col in ("oracle price", "market price", "gap") else "left")
    for a in v.assets:
        read = a.outcome + (f" ({escape(a.reason)})" if a.reason else "")
        source = a.source + ("" if a.capped is None else (" [bold red]capped[/]" if a.capped else " (not capped)"))
        checks = (
            "[bold red]" + escape(", ".join(a.failures)) + "[/]" if a.failures else ("ok" if a.age is not None else "")
        )
        age = "" if a.heartbeat is None else f"{'—' if a.age is None else a.age} s / {a.heartbeat} s"
        table.add_row(
            escape(a.symbol), source, price(a.oracle_price), price(a.market_price), _change(a.gap), read, checks, age
        )
    out = _console()
    out.print(table)
    oracle = _hf(v.health_factor_oracle) if v.health_factor_oracle_wad is not None else "— (read reverts)"
    hf_gap = "" if v.health_factor_gap is None else f" ({_change(v.health_factor_gap)})"
    equity = ""
    if v.gap is not None:
        unit = escape(v.value_unit)
        equity = (
            f" · equity {v.oracle_value:,.2f} at the oracle vs {v.market_value:,.2f} {unit} at the market "
            f"({_change(v.gap)})"
        )
    market = _hf(v.health_factor_market)
    out.print(f"health factor at oracle prices [bold]{oracle}[/] · at market prices {market}{hf_gap}{equity}")
    if v.reason:
        out.print(f"  {escape(v.reason)}")


def _console() -> Any:
    from levguard.cli._output import console

    return console()


def _bars(items: list[str] | None) -> dict[str, str] | None:
    from levguard.errors import InputError

    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        asset, sep, path = item.partition("=")
        if not sep or not asset.strip() or not path.strip():
            raise InputError(f"--bars takes ASSET=FILE (e.g. WETH=eth_1h.csv), was {item!r}")
        out[asset.strip()] = path.strip()
    return out


@defi_app.command(_DEFAULT)
def position(
    file: Annotated[str, typer.Argument(help="Position spec (JSON or YAML, docs/defi.md), or - for standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    target_hf: Annotated[
        float | None, typer.Option("--target-hf", help="Health factor to reach: repay/supply amounts, max borrow.")
    ] = None,
    joint: Annotated[
        str | None,
        typer.Option(help="Two Aave collaterals X,Y: Y's liquidation price for a grid of X prices (50% to 150%)."),
    ] = None,
    points: Annotated[int, typer.Option(help="Grid points of --joint.")] = 11,
    bars: Annotated[
        list[str] | None,
        typer.Option(
            "--bars",
            help="ASSET=FILE, once per volatile asset: hourly (or finer) OHLC bars for P(HF < 1); stablecoins "
            "(USDC, USDT, DAI) are held at their price without bars.",
        ),
    ] = None,
    horizon: Annotated[
        list[float] | None, typer.Option("--horizon", help="Days for P(HF < 1), once per horizon (default 1 and 7).")
    ] = None,
    model: Annotated[str, typer.Option(help="Forecaster model for P(HF < 1): default or naive.")] = "default",
    high_low: Annotated[
        str, typer.Option("--high-low", help="Intrabar range of a price ratio: synchronous or bound.")
    ] = "synchronous",
    stress: Annotated[bool, typer.Option("--stress", help="Add the depeg and crash scenarios (docs/defi.md).")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Write a self-contained HTML report here.")] = None,
) -> None:
    """Health factor, borrowing power and the liquidation price of each collateral of a position;
    P(HF < 1) over horizons with --bars, stress scenarios with --stress, an HTML report with --out; with an
    oracles: section, the position at the oracle's prices beside the market's."""
    from levguard.cli._paths import check_outputs
    from levguard.defi.analytics import joint_liquidation_boundary, position_report
    from levguard.defi.positions import load_position
    from levguard.errors import InputError

    try:
        bars_map = _bars(bars)
        inputs = [("FILE", None if file == "-" else file), *((f"--bars {a}", p) for a, p in (bars_map or {}).items())]
        check_outputs([("--out", out)], inputs=inputs)
        spec = _load(file)
        pos = load_position(spec)
        report = position_report(pos, target_hf=target_hf)
        boundary = None
        if joint is not None:
            pair = [s.strip() for s in joint.split(",") if s.strip()]
            if len(pair) != 2:
                raise InputError(f"--joint takes two collaterals separated by a comma (e.g. WETH,WBTC), was {joint!r}")
            boundary = joint_liquidation_boundary(pos, pair[0], pair[1], points=points)
        risk = None
        if horizon and bars_map is None:
            raise InputError("--horizon needs --bars ASSET=FILE (the bars P(HF < 1) is forecast on)")
        if bars_map is not None:
            from levguard.defi.risk import DEFAULT_HORIZONS, position_risk

            risk = position_risk(pos, bars_map, horizon or DEFAULT_HORIZONS, model=model, high_low=high_low)
        scenarios = None
        if stress:
            from levguard.defi.stress import stress_position

            scenarios = stress_position(pos)
        valuation = None
        if spec.get("oracles") is not None:
            from levguard.defi.valuation import oracle_valuation

            valuation = oracle_valuation(spec)
        if out is not None:
            from levguard.defi.risk import health_curves
            from levguard.report.defi import write_defi_report

            write_defi_report(
                out,
                report.to_dict(),
                [c.to_dict() for c in health_curves(pos)],
                None if risk is None else risk.to_dict(),
                None if scenarios is None else [s.to_dict() for s in scenarios],
                valuation=None if valuation is None else valuation.to_dict(),
            )
    except (LevguardError, OSError) as exc:
        fail(str(exc))
    if as_json:
        data = report.to_dict()
        if boundary is not None:
            data["joint_boundary"] = boundary.to_dict()
        if risk is not None:
            data["risk"] = risk.to_dict()
        if scenarios is not None:
            data["stress"] = [s.to_dict() for s in scenarios]
        if valuation is not None:
            data["oracle_valuation"] = valuation.to_dict()
        _print_json(data)
        return
    render_position(report)
    if boundary is not None:
        render_joint(boundary)
    if risk is not None:
        render_risk(risk)
    if scenarios is not None:
        render_stress(scenarios)
    if valuation is not None:
        render_valuation(valuation)
    if out is not None:
        _console().print(f"wrote {out}")


def _times(leverage: float | None) -> str:
    # A leverage as "2.40x"; None (no equity: collateral <= debt) as a dash.
    return "—" if leverage is None or not math.isfinite(leverage) else f"{leverage:,.2f}x"


def render_loop(report: LoopReport) -> None:
    """Print a loop preview: one row per step and the end state."""
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, fmt, price

    out = console()
    c, d = escape(report.collateral_symbol), escape(report.debt_symbol)
    table = Table(title=f"Leverage loop: {c} collateral, {d} debt", header_style="bold", title_justify="left")
    for col in ("step", f"borrow {d}", f"buy {c}", f"{c} total", f"{d} total", "HF", "leverage", "liq price"):
        table.add_column(col, justify="right")
    for s in report.steps:
        table.add_row(
            str(s.step),
            fmt(s.borrowed, 4),
            fmt(s.bought, 4),
            fmt(s.collateral, 4),
            fmt(s.debt, 4),
            _hf(s.health_factor),
            _times(s.leverage),
            "—" if s.liquidation_price is None else price(s.liquidation_price),
        )
    out.print(table)
    unit = report.value_unit
    liq = report.liquidation
    move = "" if liq.change is None else f" ({_change(liq.change)})"
    out.print(
        f"leverage [bold]{_times(report.leverage)}[/] · health factor [bold]{_hf(report.health_factor)}[/] · "
        f"{c} liquidation price [bold]{'—' if liq.value is None else price(liq.value)}[/]{move} · "
        f"stopped: {escape(report.stop_reason)}"
    )
    if report.health_factor < 1:
        out.print(f"[bold red]already liquidatable[/] (HF < 1, equity {fmt(report.equity)} {unit}): nothing to loop")
    out.print(
        f"equity {fmt(report.equity)} {unit} · swap cost in {fmt(report.entry_swap_cost)} · "
        f"unwind cost {fmt(report.unwind_cost)} · equity after unwinding {fmt(report.equity_after_unwind)}"
    )
    r = report.rates
    if r is not None:
        net = "—" if r.net_apy is None else f"{r.net_apy:.2%}"
        staking = f" + staking {r.staking_yield:.2%}" if r.staking_yield else ""
        out.print(
            f"net APY on equity [bold]{net}[/] ({r.rate_source}): {c} supply {r.supply_apy:.2%}{staking}, "
            f"{d} borrow {r.borrow_apy:.2%}"
            + ("" if r.borrow_apy_before is None else f" ({r.borrow_apy_before:.2%} before the loop)")
        )
        if r.other_collateral_value or r.other_debt_value:
            out.print(
                f"  other collateral {fmt(r.other_collateral_value)} and debt {fmt(r.other_debt_value)} {unit} "
                "count at 0 % in the net APY (their rates are not given)"
            )
        if r.debt_utilization is not None:
            before = "" if r.debt_utilization_before is None else f"{r.debt_utilization_before:.2%} -> "
            lender = "" if r.lender_apy is None else f" · {d} lenders earn {r.lender_apy:.2%}"
            out.print(f"  {d} utilisation {before}{r.debt_utilization:.2%}{lender}")


@defi_app.command("loop")
def loop(
    file: Annotated[
        str, typer.Argument(help="Starting position spec (JSON or YAML); its loop: section sets defaults.")
    ],
    collateral: Annotated[str | None, typer.Option(help="Aave: the reserve to loop as collateral.")] = None,
    debt: Annotated[str | None, typer.Option(help="Aave: the reserve to borrow.")] = None,
    steps: Annotated[
        int | None, typer.Option(help="Loop steps (default 5, or up to 100 with --target-leverage).")
    ] = None,
    target_leverage: Annotated[float | None, typer.Option(help="Stop at this leverage (collateral/equity).")] = None,
    borrow_fraction: Annotated[float | None, typer.Option(help="Share of each step's borrowing power used.")] = None,
    min_hf: Annotated[float | None, typer.Option("--min-hf", help="Never borrow below this health factor.")] = None,
    swap_fee: Annotated[float | None, typer.Option(help="Swap fee plus slippage per swap, e.g. 0.0005.")] = None,
    flash_loan_fee: Annotated[float | None, typer.Option(help="Flash-loan fee when unwinding.")] = None,
    supply_rate: Annotated[
        float | None, typer.Option(help="Annual supply rate of the collateral (wins over the spec's irm: model).")
    ] = None,
    borrow_rate: Annotated[float | None, typer.Option(help="Annual borrow rate of the debt.")] = None,
    staking_yield: Annotated[
        float | None, typer.Option(help="Yearly yield of the collateral token itself (wstETH ~0.03).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Preview a leverage loop: borrow, swap into collateral, re-supply; leverage, HF, liquidation price,
    unwinding cost, and the net APY (rates from the spec's irm: section, the protocol's model)."""
    from levguard.defi.loops import loop_options, loop_position

    not_empty(collateral=collateral, debt=debt)
    try:
        spec = _load(file)
        options = loop_options(
            spec,
            collateral=collateral,
            debt=debt,
            steps=steps,
            target_leverage=target_leverage,
            borrow_fraction=borrow_fraction,
            min_hf=min_hf,
            swap_fee=swap_fee,
            flash_loan_fee=flash_loan_fee,
            supply_rate=supply_rate,
            borrow_rate=borrow_rate,
            staking_yield=staking_yield,
        )
        report = loop_position(spec, **options)
    except LevguardError as exc:
        fail(str(exc))
    if as_json:
        _print_json(report.to_dict())
        return
    render_loop(report)
