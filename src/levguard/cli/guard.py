"""``levguard guard CONFIG.yaml [--live]`` and ``levguard guard --paper-demo``: the live guardian
(docs/guardian.md)."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from typing import Annotated, Any

import typer

from levguard.errors import InputError, LevguardError


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"levguard: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(2)


def _sizer(policy: Any, vol: float | None, forecasts: Any = None) -> Any:
    """``spec -> size_account(spec, policy)`` with the guardian's latest liquidation forecasters
    (None without a policy)."""
    if policy is None:
        return None
    from levguard.sizing import size_account

    def size(spec: dict[str, Any]) -> dict[str, Any]:
        fitted = forecasts.latest() if forecasts is not None else None
        # A symbol with a history reads its forecast; the configured vol is for those without one.
        known = forecasts.volatilities() if forecasts is not None else None
        # The daily returns of the same histories, as levguard size --history reads them.
        returns = forecasts.returns() if forecasts is not None else None
        # No invented volatility: without the configured vol or a fitted forecaster, sizing fails
        # with an InputError and the guardian keeps its fixed target (live/guardian.py _targets).
        return size_account(
            spec, policy, vol=vol, forecaster=fitted or None, volatility=known, returns=returns or None
        ).to_dict()

    return size


def _bars_source(history: str | dict[str, str] | None, *, onchain: bool = False) -> Any:
    """``symbol -> hourly bars`` from the account's history file(s), loaded once (None without).

    A perpetuals account reads, per position, the history of its own asset by the rule of
    ``levguard risk`` and ``levguard size`` (:class:`levguard.risk.histories.HistoryBars`: one
    file, ``{ASSET: file}`` or ``{SYMBOL: file}``); an on-chain account's ``{ASSET: file}`` gives
    each lending asset its bars by name.
    """
    if history is None:
        return None
    if not onchain:
        from levguard.risk.histories import HistoryBars

        return HistoryBars(history)
    from levguard.data.loaders import load_ohlcv
    from levguard.risk.forecast import to_hourly

    frames = (
        {sym: to_hourly(load_ohlcv(path)) for sym, path in dict(history).items()} if isinstance(history, dict) else {}
    )
    return frames.get


def _paper_venue(cfg: Any) -> Any:
    from levguard.core.validate import integer_in, positive_number
    from levguard.venues.paper import PaperVenue, scripted_crash
    from levguard.venues.paper_feeds import MAX_FEED_TICKS

    crash = dict(cfg.crash)
    drop = positive_number(crash.get("drop", 0.3), "venue.crash.drop")
    if drop >= 1.0:
        raise InputError(f"venue.crash.drop must be a fraction in (0, 1), was {drop!r}")
    ticks = integer_in(crash.get("ticks", 120), "venue.crash.ticks", 1, MAX_FEED_TICKS)
    flat = integer_in(crash.get("flat", 10), "venue.crash.flat", 1, MAX_FEED_TICKS)
    tail = integer_in(crash.get("tail", 30), "venue.crash.tail", 0, MAX_FEED_TICKS)
    feeds = {}
    for p in cfg.positions:
        start = positive_number(crash.get("start", p.entry_price), "venue.crash.start")
        feeds[p.symbol] = scripted_crash(start, drop, ticks, flat=flat, tail=tail)
    positions = [
        {
            "symbol": p.symbol,
            "qty": p.qty,
            "entry_price": p.entry_price,
            "margin_mode": p.margin_mode,
            **({"isolated_margin": p.isolated_margin} if p.isolated_margin is not None else {}),
        }
        for p in cfg.positions
    ]
    return PaperVenue(cfg.rule_set, feeds=feeds, wallet_balance=cfg.wallet_balance, positions=positions)


def _ccxt_venue(cfg: Any) -> Any:
    from levguard.config.guardian import load_secrets
    from levguard.venues.ccxt_adapter import CcxtVenue

    secrets = load_secrets(cfg)

    def reveal(v: Any) -> str | None:
        return v.get_secret_value() if v is not None else None

    return CcxtVenue(
        cfg.exchange,
        rule_set=cfg.rule_set,
        api_key=reveal(secrets.api_key),
        secret=reveal(secrets.secret),
        password=reveal(secrets.password),
        timeout_ms=cfg.timeout_ms,
        sandbox=cfg.sandbox,
        settle=cfg.settle,
        loan_mmr=cfg.loan_mmr,
    )


def _onchain(acc: Any, bars: Any) -> tuple[Any, dict[str, Any]]:
    """An on-chain account's venue and the OnchainAccountSetup fields beyond AccountSetup's (the
    P(HF < 1) forecaster on ``bars`` when the account has a history)."""
    from levguard.defi.onchain import HfForecasts, assess, unwind_plan
    from levguard.errors import ConfigError
    from levguard.live.onchain import HealthRules
    from levguard.venues.onchain import LocalSigner, OnchainVenue
    from levguard.venues.onchain_swap import ContractSwapper

    v = acc.venue
    url = v.rpc_url if v.rpc_url is not None else os.environ.get(v.rpc_url_env, "")
    if not url:
        raise ConfigError(f"environment variable {v.rpc_url_env} (the RPC URL of {acc.name}) is not set")
    signer = LocalSigner.from_env(v.key_env) if v.key_env else LocalSigner.from_file(v.key_file) if v.key_file else None
    venue = OnchainVenue(
        v.protocol,
        wallet=v.wallet,
        rpc_url=url,
        pool=v.pool,
        morpho=v.morpho,
        market_id=v.market_id,
        signer=signer,
        aave_version=v.aave_version,
        heartbeats=v.heartbeats,
        default_heartbeat=v.default_heartbeat_s,
        timeout_s=v.timeout_s,
        read_timeout_s=v.read_timeout_s,
        swapper=ContractSwapper(v.swapper) if v.swapper else None,
        replace_after_cycles=v.replace_after_cycles,
        fee_bump=v.fee_bump,
        max_fee_per_gas=None if v.max_fee_per_gas_gwei is None else round(v.max_fee_per_gas_gwei * 10**9),
    )
    th, act = acc.thresholds, acc.actions
    rules = HealthRules(
        health_factor=th.health_factor,
        p_hf_below_one=th.p_liq,
        hysteresis=th.hysteresis,
        target_hf=act.target_health_factor,
        prefer=act.prefer,
        unwind_min_hf=act.unwind_min_health_factor,
        unwind_rounds=act.unwind_rounds,
        max_slippage=act.max_slippage_bps / 10_000,
    )
    extra: dict[str, Any] = {"rules": rules, "assess": assess, "unwind": unwind_plan}
    if acc.history is not None:
        if not isinstance(acc.history, dict):
            raise ConfigError(f"{acc.name}: history of an on-chain account maps each asset to its bars ({{WETH: …}})")
        extra["p_hf_below_one"] = HfForecasts(bars, model=acc.forecast_model)
    return venue, extra


def _alerter(cfg: Any) -> Any:
    from levguard.live.alerts import Alerter, EmailSink, LogSink, WebhookSink

    sinks: list[Any] = []
    if cfg.log:
        sinks.append(LogSink())
    if cfg.webhook is not None:
        sinks.append(WebhookSink(cfg.webhook.url, cfg.webhook.timeout_s))
    if cfg.email is not None:
        e = cfg.email
        sinks.append(
            EmailSink(
                e.host,
                e.port,
                e.sender,
                tuple(e.to),
                username=os.environ.get(e.username_env) if e.username_env else None,
                password=os.environ.get(e.password_env) if e.password_env else None,
                starttls=e.starttls,
                min_level=e.min_level,
            )
        )
    return Alerter(sinks)


def build(cfg: Any, *, live: bool) -> tuple[Any, list[Any]]:
    """The guardian and the paper venues it must tick, from a validated config."""
    from levguard.config.policies import check_account_policy, load_policy_file, parse_policy_config
    from levguard.errors import ConfigError, LevguardError
    from levguard.live.guardian import AccountSetup, Guardian
    from levguard.live.onchain import OnchainAccountSetup
    from levguard.live.states import Level, Thresholds
    from levguard.live.store import Store
    from levguard.risk.report import volatility_forecast

    setup_fields = {f.name for f in dataclasses.fields(AccountSetup)}
    converted = {"venue", "thresholds", "act_level"}
    setups = []
    papers = []
    accounts = []
    for acc in cfg.accounts:
        onchain: dict[str, Any] = {}
        bars = _bars_source(acc.history, onchain=acc.venue.type == "onchain")
        if acc.venue.type == "onchain":  # a lending position (docs/guardian.md): its own setup class
            venue, onchain = _onchain(acc, bars)
        else:
            venue = _paper_venue(acc.venue) if acc.venue.type == "paper" else _ccxt_venue(acc.venue)
        if acc.venue.type == "paper":
            papers.append(venue)
        policy = acc.policy
        # Validated now: one clear error, not a warning and the fixed target in every cycle.  A
        # policy file is read again in each cycle (an edit takes effect), so it must load now too.
        if isinstance(policy, dict):
            check_account_policy(
                parse_policy_config(policy, f"accounts[{acc.name}].policy"), f"accounts[{acc.name}].policy"
            )
        elif isinstance(policy, str):
            try:
                check_account_policy(load_policy_file(policy), policy)
            except LevguardError as exc:
                raise ConfigError(f"accounts[{acc.name}].policy: {exc}") from None
        config_policy = policy if isinstance(policy, dict) else None
        # The account's settings and its actions' go over by name, but for those converted here.
        settings = {k: v for k, v in (*acc, *acc.actions) if k in setup_fields and k not in converted}
        setup = (OnchainAccountSetup if onchain else AccountSetup)(
            **onchain,
            venue=venue,
            thresholds=Thresholds(**acc.thresholds.model_dump(exclude={"health_factor"})),
            act_level=Level[acc.actions.act_level],
            bars=bars,
            volatility=volatility_forecast,  # the vol `levguard risk` and `levguard size` show
            **settings,
        )
        setup.sizer = _sizer(policy, acc.vol, setup.forecasts)
        setup.policy_in_use = policy
        setups.append(setup)
        accounts.append((acc.name, venue.name, acc.live, config_policy))
    if papers and len(papers) != len(setups):
        raise ConfigError("paper accounts run on simulated time: do not mix them with exchange accounts in one file")
    # The database is opened once every account is set up, so a bad account writes nothing.
    store = Store(cfg.database)
    for name, venue_name, live_enabled, policy_config in accounts:
        _warn_api_policy(store, name, policy_config)
        if not live:  # a dry run writes no shared state: an account a live guardian runs is kept as it is
            store.add_account(name, venue_name, policy=policy_config)
            continue
        row = store.account(name)
        if row is not None and live_enabled and not row["live_enabled"]:
            logging.getLogger("levguard.guardian").warning(
                "accounts[%s]: live: true in the config turns live acting back on (the store had it off)", name
            )
        store.upsert_account(name, venue_name, live_enabled=live_enabled, policy=policy_config)
    first = papers[0] if papers else None
    guardian = Guardian(
        setups,
        store,
        live=live,
        alerter=_alerter(cfg.alerts),
        clock=(lambda: first.now_ns) if first is not None else None,
        owner=cfg.id or cfg.owner,  # None: the host and store (stable across restarts)
        lease_ttl_s=cfg.lease_ttl_s,
        unwatched_alert_s=cfg.unwatched_alert_s,
        alert_repeat_s=cfg.alert_repeat_s,
        escalate_after=cfg.escalate_after,
        order_expiry_margin_s=cfg.order_expiry_margin_s,
        cycle_budget_s=cfg.cycle_budget_s,
        cycle_audit_every_s=cfg.cycle_audit_every_s,
        snapshot_retention_days=cfg.snapshot_retention_days,
    )
    return guardian, papers


def _warn_api_policy(store: Any, name: str, config_policy: dict[str, Any] | None) -> None:
    """Log a warning when the stored policy of ``name`` was set through ``PUT
    /api/accounts/{name}/policy`` (the account's latest ``policy`` audit row set it) and is not
    the config's: a start sizes with the config's policy, which is the source of truth (an
    operator who lowers leverage in the config and restarts gets the lower leverage).
    """
    row = store.account(name)
    stored = row.get("policy") if row is not None else None
    if not isinstance(stored, dict) or stored == config_policy:
        return
    last = store.audit_log(account=name, event="policy", limit=1)
    if not last or (last[0].get("inputs") or {}).get("policy") != stored:
        return  # written by a start from a config, not by the API
    logging.getLogger("levguard.guardian").warning(
        "accounts[%s]: the policy set through the API (audit row %s) is replaced by the config's at this start; "
        "put it in the config to keep it",
        name,
        last[0].get("id"),
    )


def _table(reports: list[dict[str, Any]], title: str) -> Any:
    from levguard.cli._output import FittingTable as Table
    from levguard.cli._output import price
    from levguard.venues.base import UNLISTED

    colors = {"OK": "green", "WARN": "yellow", "DANGER": "red", "ACT": "bold red"}
    table = Table(title=title, title_justify="left", header_style="bold")
    for col in ("account", "symbol", "qty", "mark", "liq. price", "distance", "P(liq)", "leverage", "state", "action"):
        table.add_column(col, justify="left" if col in ("account", "symbol", "state", "action") else "right")
    for r in reports:
        for lo in r.get("left_out", []):  # another wallet's, or an unlisted market's: nobody protects them (partial)
            why = "market not listed by the venue" if lo["settle"] == UNLISTED else f"settles in {lo['settle']}"
            table.add_row(r["account"], lo["symbol"], *[""] * 6, "[bold red]UNGUARDED[/]", f"left out: {why}")
        if not r.get("positions"):
            if not r.get("left_out"):
                table.add_row(r["account"], "-", "", "", "", "", "", "", r.get("status", ""), r.get("reason", ""))
            continue
        for p in r["positions"]:
            act = p.get("action") or {}
            if act.get("skipped"):
                action = f"skipped: {act['skipped']}"
            elif act.get("dry_run"):
                action = f"would {act['side']} {act['qty']:.4g}"
            elif act:
                action = f"{act['side']} {act.get('filled', 0):.4g} ({act.get('status', act.get('error', ''))})"
            else:
                action = ""
            lp = p["liquidation_price"]
            table.add_row(
                r["account"],
                p["symbol"],
                f"{p['qty']:.4g}",
                price(p["mark"]),
                price(lp) if lp else "none",
                f"{p['distance']:.1%}" if p["distance"] != float("inf") else "∞",
                f"{p['p_liq']:.1%}" if p.get("p_liq") is not None and math.isfinite(p["p_liq"]) else "—",
                f"HF {p['health_factor']:.3f} → {p['target_hf']:g}"
                if "health_factor" in p
                else f"{p['leverage']:.2f}x → {p['target_leverage']:.2f}x",
                f"[{colors[p['state']]}]{p['state']}[/]",
                action,
            )
    return table


async def _run(
    guardian: Any, papers: list[Any], *, interval_s: float, fast_s: float, max_cycles: int | None, show: bool
) -> list[dict[str, Any]]:
    import asyncio

    from rich.live import Live

    from levguard.live import passes

    await guardian.reconcile()
    guardian.freeze_heap()
    n = 0
    last: list[dict[str, Any]] = []
    live_view = Live(auto_refresh=False, transient=False) if show else None
    if live_view is not None:
        live_view.start()
    try:
        while max_cycles is None or n < max_cycles:
            last = await guardian.cycle()
            n += 1
            if live_view is not None:
                live_view.update(_table(last, f"levguard guardian, cycle {n}"), refresh=True)
            if papers:
                for p in papers:
                    await p.step()
                if all(p.exhausted for p in papers):
                    break
                continue
            worst = max((r.get("level", 0) for r in last), default=0)
            await asyncio.sleep(fast_s if worst >= 2 else interval_s)
        last = await passes.settle(guardian, guardian.lease_ttl_s)  # the cycles still running
    finally:
        await passes.drain(guardian)
        guardian.close()
        if live_view is not None:
            live_view.stop()
    return last


def guard(
    config: Annotated[str | None, typer.Argument(help="Guardian file (YAML/JSON), see docs/guardian.md.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Send reduce-only orders (accounts must also opt in).")] = False,
    paper_demo: Annotated[
        bool, typer.Option("--paper-demo", help="A paper account through a scripted crash; no config needed.")
    ] = False,
    max_cycles: Annotated[int | None, typer.Option("--max-cycles", help="Stop after this many cycles.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the last cycle's reports as JSON.")] = False,
) -> None:
    """Watch exchange accounts, alert, and deleverage before liquidation (dry run unless --live)."""
    import asyncio
    import logging

    from levguard.config.guardian import load_guardian_file, parse_guardian_config

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if paper_demo and config is not None:
        _fail("give a CONFIG or --paper-demo, not both")
    if not paper_demo and config is None:
        _fail("give a guardian CONFIG file (docs/guardian.md) or --paper-demo")
    if max_cycles is not None and max_cycles < 1:
        _fail(f"--max-cycles must be >= 1, was {max_cycles}")
    tmp: str | None = None
    try:
        if paper_demo:
            import tempfile

            tmp = tempfile.mkdtemp(prefix="levguard-demo-")
            cfg = parse_guardian_config(_DEMO, "--paper-demo")
            cfg = cfg.model_copy(update={"database": f"sqlite:///{tmp}/guard.db"})
            live = True  # a simulated venue: acting is safe and is the point of the demo
        else:
            assert config is not None
            cfg = load_guardian_file(config)
        guardian, papers = build(cfg, live=live)
        if not as_json:
            from rich.console import Console

            mode = "LIVE: orders are sent" if live else "dry run: no order is sent (use --live)"
            Console(stderr=True).print(
                f"[bold]levguard guardian[/] · {len(cfg.accounts)} account(s) · {mode} · "
                f"database {guardian.store.url_redacted}"
            )
        show = not as_json and sys.stdout.isatty()
        last = asyncio.run(
            _run(
                guardian,
                papers,
                interval_s=cfg.interval_s,
                fast_s=cfg.fast_interval_s,
                max_cycles=max_cycles,
                show=show,
            )
        )
    except LevguardError as exc:
        _remove(tmp)
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        _remove(tmp)
        raise typer.Exit(130) from None
    try:
        if as_json:
            from levguard.cli._output import json_text

            sys.stdout.write(json_text(last, indent=1) + "\n")
            return
        from rich.console import Console

        # Without a terminal (a pipe, a log file) the table is drawn wide instead of at 80 columns,
        # so nothing is cut to "acco…".
        out = Console(width=None if sys.stdout.isatty() else 200)
        if not show:
            out.print(_table(last, "levguard guardian: last cycle"))
        if paper_demo:
            _demo_summary(out, guardian, papers, cfg)
    finally:
        _remove(tmp)


def _remove(tmp: str | None) -> None:
    """Remove the paper demo's temporary database folder."""
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def guard_enable(
    config: Annotated[str, typer.Argument(help="The guardian file (YAML/JSON) whose database holds the account.")],
    account: Annotated[str, typer.Argument(help="The account to re-enable.")],
    by: Annotated[str, typer.Option("--by", help="Who re-enables it (written to the audit log).")] = "cli",
) -> None:
    """Re-enable acting on an account that an authentication failure disabled (a running guardian
    picks it up at its next cycle)."""
    from levguard.config.guardian import load_guardian_file
    from levguard.core.validate import short_name
    from levguard.live.store import Store

    try:
        short_name(by, "--by")  # written to the audit log: one line, before the database is opened
        cfg = load_guardian_file(config)
        store = Store(cfg.database, create=False)  # an account to re-enable is in an existing store
        try:
            row = store.account(account)
            if row is None:
                _fail(f"account must be in the guardian's database, was {account!r}")
                return
            before = row.get("disabled_reason")
            now = time.time_ns()
            store.set_disabled(account, None, now)
            store.audit(
                account, now, "enabled", {"disabled_reason": before}, {"disabled": False}, [f"re-enabled by {by}"]
            )
        finally:
            store.close()
    except LevguardError as exc:
        _fail(str(exc))
        return
    state = f"was disabled: {before}" if before else "was not disabled"
    sys.stdout.write(f"{account}: acting enabled ({state})\n")


def _demo_summary(out: Any, guardian: Any, papers: list[Any], cfg: Any) -> None:
    """What happened in the paper demo, against the same crash without the guardian."""
    import pandas as pd

    from levguard.cli._output import price
    from levguard.config.guardian import parse_guardian_config
    from levguard.venues.paper import PaperVenue

    venue = papers[0]
    twin = _paper_venue(parse_guardian_config(_DEMO, "--paper-demo").accounts[0].venue)
    assert isinstance(twin, PaperVenue)
    while not twin.exhausted:
        twin.step_sync()
    store = guardian.store
    alerts = store.alerts(limit=1000)
    orders = store.orders(limit=1000)
    account = cfg.accounts[0]
    th = account.thresholds
    start = float(_DEMO["accounts"][0]["venue"]["wallet_balance"])
    out.print("\nPaper demo: a 12x BTCUSDT long (10,000 USDT) through a scripted 30 % crash.", markup=False)
    out.print(
        "Thresholds (warn / danger / act): "
        f"margin ratio {' / '.join(f'{x:.0%}' for x in th.margin_ratio)}; "
        f"distance to liquidation {' / '.join(f'{x:.0%}' for x in th.distance)}; "
        f"P(liq) {' / '.join(f'{x:.0%}' for x in th.p_liq)}; "
        f"the guardian sells down to {account.actions.target_leverage:g}x in steps of "
        f"{account.actions.step_fraction:.0%} at ACT.",
        markup=False,
    )
    for a in reversed(alerts):
        if a["kind"] in ("state", "action"):
            out.print(f"  [{a['level']}] {a['message']}", markup=False)
    with_guard = float(venue.evaluate().equity)
    without = float(twin.evaluate().equity)
    if twin.liquidations:
        liq = twin.liquidations[0]
        when = pd.Timestamp(liq.ts_ns, unit="ns", tz="UTC").strftime("%H:%M")
        out.print(
            f"Without the guardian the venue liquidates the position at {price(liq.price)} "
            f"(simulated time {when}; mark {price(liq.mark_price)}).",
            markup=False,
        )
    if venue.liquidations:
        out.print(f"The guardian did not prevent liquidation ({len(venue.liquidations)}).", markup=False)
    else:
        filled = sum(o["filled"] or 0.0 for o in orders)
        out.print(
            f"With the guardian: {len(orders)} reduce-only order(s), {filled:.4g} BTC sold before the venue's "
            "liquidation price; no liquidation.",
            markup=False,
        )
    out.print(
        f"Final equity: {with_guard:,.2f} USDT with the guardian, {without:,.2f} USDT without "
        f"(of {start:,.0f}); the guardian kept {with_guard - without:+,.2f} USDT "
        f"({(with_guard - without) / start:+.1%} of the starting equity).",
        markup=False,
    )


_DEMO: dict[str, Any] = {
    "database": "sqlite:///levguard-demo.db",  # replaced by a file in a temporary folder
    "accounts": [
        {
            "name": "paper-btc",
            "live": True,
            "venue": {
                "type": "paper",
                "rule_set": "binance-usdm",
                "wallet_balance": 10_000.0,
                "positions": [{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0}],
                "crash": {"start": 60_000.0, "drop": 0.3, "ticks": 90, "flat": 10, "tail": 30},
            },
            "thresholds": {"margin_ratio": [0.3, 0.5, 0.6], "distance": [0.2, 0.12, 0.08], "p_liq": [0.2, 0.5, 0.8]},
            "actions": {"target_leverage": 3.0, "step_fraction": 0.5, "cooldown_s": 0, "max_order_notional": 100_000},
            "max_age_s": 120,
            "vol": 0.8,
        }
    ],
}
