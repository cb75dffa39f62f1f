"""``levguard size ACCOUNT_FILE --policy POLICY_FILE``: target leverage and quantity now."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from levguard.cli._errors import fail
from levguard.errors import LevguardError


def size(
    file: Annotated[str, typer.Argument(help="Account spec (JSON/YAML).")],
    policy: Annotated[str, typer.Option(help="Policy file (YAML/JSON), see docs/policies.md.")],
    history: Annotated[
        list[str] | None,
        typer.Option(
            help="Hourly (or finer) OHLC file of an underlying (liquidation forecaster, vol, returns): FILE (its "
            "asset from its name, e.g. BTCUSDT-PERP_1h.csv) or ASSET=FILE, once per underlying. A position on an "
            "asset without one reads --vol."
        ),
    ] = None,
    vol: Annotated[
        float | None,
        typer.Option(
            help="Annualised volatility forecast, e.g. 0.6, of the positions whose asset has no --history; a "
            "position with a history reads the history's (a note says when --vol was not used)."
        ),
    ] = None,
    peak_equity: Annotated[
        float | None,
        typer.Option(
            help="The account's highest equity so far (settlement units), which drawdown control and CPPI read "
            "(default: the spec's peak_equity; without one they size as at the peak and a note says so)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Target leverage and quantity per position under a policy, with the binding constraint and reasons."""
    from levguard.risk.histories import history_option
    from levguard.sizing import size_account

    try:
        out: dict[str, Any] = size_account(
            file, policy, history=history_option(history), vol=vol, peak_equity=peak_equity
        ).to_dict()
    except LevguardError as exc:
        fail(str(exc))
    if as_json:
        from levguard.cli._output import json_text

        sys.stdout.write(json_text(out) + "\n")
        return
    from rich.markup import escape

    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import console, fmt
    from levguard.cli.risk import gbm_words
    from levguard.risk.forecast import short_history_note

    con = console()
    vol_txt = "—" if out["volatility"] is None else f"{out['volatility']:.1%}"
    con.print(
        f"[bold]{out['venue']}[/] equity {fmt(out['equity'])} {out['settlement']} · vol forecast {vol_txt} · "
        f"leverage now {out['current_leverage']:.2f}x → target [bold]{out['target_leverage']:.2f}x[/] "
        f"(after rebalancing rules {out['after_rebalance']:.2f}x) · "
        f"binding: [bold]{escape(out['binding_constraint'])}[/]"
    )
    for r in out["reasons"]:
        con.print(f"  · {escape(r)}")
    for note in out.get("notes", []):
        con.print(f"  note: {escape(note)}")
    liq = out.get("liquidation_forecast")
    if liq:
        how = (
            f"calibrated excursion forecaster on {escape(liq['source'])}{short_history_note(liq)}"
            if liq["model"] == "excursion"
            else gbm_words(liq)  # the words of `levguard risk`
        )
        con.print(f"P(liq) at the current positions: {how}, volatility scale {liq['annual_vol']:.1%}")

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.2%}"

    table = Table(header_style="bold")
    cols = ("symbol", "side", "qty", "leverage now", "target leverage", "target qty", "trade", "P(liq) 1d", "7d", "30d")
    for col in cols:
        table.add_column(col, justify="left" if col in ("symbol", "side") else "right")
    for p in out["positions"]:
        table.add_row(
            p["symbol"],
            p["side"],
            fmt(abs(p["qty"]), 4),
            f"{p['current_leverage']:.2f}x",
            f"{p['target_leverage']:.2f}x",
            fmt(abs(p["target_qty"]), 4),
            f"{p['trade_qty']:+,.4f}",
            pct(p["p_liq_1d"]),
            pct(p["p_liq_7d"]),
            pct(p["p_liq_30d"]),
        )
    con.print(table)
    # A position whose P(liq) is not from the forecaster said above (no history of its asset).
    for p in out["positions"]:
        if p.get("source") not in (None, (liq or {}).get("source")):
            how = (
                "the GBM closed form at the given volatility (no price history of its asset)"
                if p["model"] == "gbm"
                else f"the calibrated excursion forecaster on {escape(p['source'])}"
            )
            con.print(f"  {escape(p['symbol'])}: P(liq) from {how}")
