"""The REST API: read routes (any token) here, write routes in :mod:`levguard.service.control`,
the live event stream and the metrics in :mod:`levguard.service.stream`.

``router`` (included by :func:`levguard.service.app.create_app`) carries every route.

The routes that run the margin engine or P(liq) (``/api/calculate``, ``/positions``, ``/risk``)
compute on a few worker threads (:func:`levguard.service.deps.compute`) under a per-token rate
limit.  Lists of alerts, orders, actions and audit rows are paged by keyset cursors (newest
first): ``before_id`` (alerts, actions, audit) or an opaque ``before`` (orders), and each page
says where the next one starts (``next``), so pages never shift while rows are appended.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.types import DecoratedCallable
from pydantic import AfterValidator

from levguard.core.margin import evaluate
from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import LiquidationForecaster, position_probabilities
from levguard.core.spec import account_from_spec
from levguard.core.unified import is_unified_spec
from levguard.errors import LevguardError
from levguard.margin import evaluate_account
from levguard.risk.report import position_var
from levguard.service.deps import (
    Compute,
    Read,
    account_row,
    compute,
    global_kill_switch,
    runtime_of,
    setup_of,
    store_call,
)
from levguard.service.middleware import DepthCheckedRoute
from levguard.service.models import (
    BALANCE_KEYS,
    BODY_RESPONSES,
    COMPUTE_RESPONSES,
    ERROR_RESPONSES,
    NOT_FOUND,
    UNAVAILABLE,
    AccountMargin,
    AccountName,
    AccountOut,
    AlertPage,
    AuditPage,
    OrderPage,
    PolicyOut,
    PositionsOut,
    RiskOut,
    SnapshotOut,
    StatusOut,
    utf8_text,
)
from levguard.service.runtime import Runtime, clean
from levguard.venues.base import UNLISTED

__all__ = ["router"]

router = APIRouter()
api = APIRouter(prefix="/api", responses=ERROR_RESPONSES, route_class=DepthCheckedRoute)

_MAX_NS = 2**63 - 1
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
BeforeId = Annotated[
    int | None, Query(ge=1, le=_MAX_NS, description="Only rows with a smaller id: the `next` of the previous page")
]
#: An order cursor: ``<intent_ns>.<client_order_id as UTF-8 hex>`` (clients treat it as opaque).
ORDER_CURSOR = r"^[0-9]{1,19}\.(?:[0-9a-f]{2}){1,200}$"
Before = Annotated[
    str | None,
    Query(
        max_length=420,
        pattern=ORDER_CURSOR,
        description="Only older orders: the `next` of the previous page (an opaque cursor)",
    ),
]
SinceNs = Annotated[int | None, Query(ge=0, le=_MAX_NS, description="Only rows at or after (UTC ns)")]
AccountQ = Annotated[str | None, Query(max_length=200, description="Only this account"), AfterValidator(utf8_text)]

#: Horizons (days) of the probabilities of liquidation of ``/risk``.
RISK_HORIZONS = (1.0, 7.0, 30.0)


def _read(
    path: str,
    summary: str,
    response_model: Any,
    *,
    description: str | None = None,
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    # A read route (any token), ``/api<path>``.
    return api.get(
        path,
        tags=["read"],
        summary=summary,
        description=description,
        response_model=response_model,
        responses=responses,
    )


@_read("/status", "Guardian status: cycles, live flag, kill switch", StatusOut)
async def status(request: Request, who: Read) -> dict[str, Any]:
    rt = runtime_of(request)
    return {
        "cycles": rt.cycles,
        "live": rt.guardian.live,
        "kill_switch": await store_call(request, global_kill_switch, rt),
        "started_ns": rt.started_ns,
        "interval_s": rt.interval_s,
        "accounts": len(rt.guardian.accounts),
        "last_event_id": rt.bus.seq,
    }


@_read("/accounts", "Accounts with their last cycle", list[AccountOut])
async def accounts(request: Request, who: Read) -> list[dict[str, Any]]:
    rt = runtime_of(request)
    return [await _account_out(request, rt, row) for row in await store_call(request, rt.store.accounts)]


@_read("/accounts/{name}", "One account with its last cycle", AccountOut, responses=NOT_FOUND)
async def account(request: Request, who: Read, name: AccountName) -> Any:
    rt = runtime_of(request)
    return await _account_out(request, rt, await account_row(request, name))


async def _account_out(request: Request, rt: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    # The stored account row with the status and state of its last cycle and its balances.
    name = row["name"]
    report = rt.guardian.last_reports.get(name, {})
    out: dict[str, Any] = clean(
        {
            **row,
            "status": report.get("status"),
            "state": report.get("state"),
            "paper": _is_paper(rt, name),
            **await _balances(request, rt, name),
        }
    )
    return out


def _is_paper(rt: Any, name: str) -> bool:
    from levguard.venues.paper import PaperVenue

    return isinstance(rt.venue(name), PaperVenue)


# ---------------------------------------------------------------------- positions and margin


class _MarginCache:
    """The margin engine's report of each account's positions, computed at most once per cycle."""

    def __init__(self) -> None:
        self.reports: dict[str, tuple[int, dict[str, Any] | None, str | None]] = {}
        self.locks: dict[str, asyncio.Lock] = {}


def _cache(request: Request) -> _MarginCache:
    state = request.app.state
    cache: _MarginCache | None = getattr(state, "margin_cache", None)
    if cache is None:
        cache = _MarginCache()
        state.margin_cache = cache
    return cache


async def _margin(request: Request, rt: Runtime, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """The full margin report of the account's positions and an error message (one is None).

    The guardian keeps only its per-position views; the full report (bankruptcy prices, margin
    balances, tiers, health) is re-evaluated on the positions and balance read from the venue at
    the marks of the guardian's last cycle, with the tiers the guardian fetched, at most once per
    cycle (cached).
    """
    setup = setup_of(rt, name)
    if setup is None:
        return None, "the guardian does not watch this account"
    cache = _cache(request)
    hit = cache.reports.get(name)
    if hit is not None and hit[0] == rt.cycles:
        return hit[1], hit[2]
    lock = cache.locks.setdefault(name, asyncio.Lock())
    async with lock:
        hit = cache.reports.get(name)
        if hit is not None and hit[0] == rt.cycles:
            return hit[1], hit[2]
        cycle = rt.cycles
        report: dict[str, Any] | None = None
        error: str | None = None
        try:
            # The spec the guardian evaluated in its last cycle (its marks, quantities and tiers).
            spec = rt.guardian.last_specs.get(name)
            report = await compute(request, _margin_report, spec) if spec and spec["positions"] else None
        except LevguardError as exc:
            error = f"margin report unavailable: {exc}"
        cache.reports[name] = (cycle, report, error)
        return report, error


def _margin_report(spec: dict[str, Any]) -> dict[str, Any]:
    # A unified account's spec (balances in several coins) goes through evaluate_account.
    report = evaluate_account(spec) if is_unified_spec(spec) else evaluate(account_from_spec(spec))
    out: dict[str, Any] = clean(report.to_dict())
    return out


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _balances_of(margin: dict[str, Any], last: dict[str, Any] | None = None) -> dict[str, Any]:
    """The balances of a margin report: its equity and wallet balance, the sum of the positions'
    unrealised PnL and the margin balance ``wallet balance + unrealised PnL``; for a unified
    account its ratio and status, and the venue's own ratio from the last cycle (``last``)."""
    wallet = _num(margin.get("wallet_balance"))
    pnls = [_num(p.get("unrealized_pnl")) for p in margin.get("positions", [])]
    upnl = math.fsum(x for x in pnls if x is not None) if None not in pnls else None
    return {
        **_unified_of(margin, last or {}),
        "settlement": margin.get("settlement"),
        "equity": _num(margin.get("equity")),
        "wallet_balance": wallet,
        "unrealized_pnl": upnl,
        "margin_balance": None if wallet is None or upnl is None else wallet + upnl,
        "margin_ratio": _num(margin.get("margin_ratio")),
    }


def _unified_of(figures: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    # A unified account's ratio (levguard's and the venue's) and status; None for the others.
    name = figures.get("account_ratio_name")
    return {
        "account_ratio": _num(figures.get("account_ratio")) if name else None,
        "account_ratio_name": name if isinstance(name, str) else None,
        "account_status": figures.get("account_status") if name else None,
        "venue_account_ratio": _num(last.get("venue_account_ratio", figures.get("venue_account_ratio")))
        if name
        else None,
    }


async def _balances(request: Request, rt: Runtime, name: str) -> dict[str, Any]:
    """The account's balances as the guardian last saw them (every value None while unknown).

    With positions: from the margin report of the last cycle (cached per cycle); without any, or
    when that report is unavailable: from the last stored snapshot (no positions: no unrealised
    PnL, the margin balance is the wallet balance)."""
    out: dict[str, Any] = dict.fromkeys(BALANCE_KEYS)
    last = rt.guardian.last_reports.get(name, {})
    if last.get("positions") != []:
        margin, _ = await _margin(request, rt, name)
        if margin:
            return _balances_of(margin, last)
    snaps = await store_call(request, rt.store.snapshots, name, limit=1)
    figures = snaps[-1]["figures"] if snaps and isinstance(snaps[-1].get("figures"), dict) else {}
    if not figures:
        return out
    out["equity"] = _num(figures.get("equity"))
    out["wallet_balance"] = _num(figures.get("wallet_balance", figures.get("equity")))
    out["margin_ratio"] = _num(figures.get("margin_ratio"))
    out.update(_unified_of(figures, {}))
    if not figures.get("positions") and out["wallet_balance"] is not None:
        out["unrealized_pnl"] = 0.0
        out["margin_balance"] = out["wallet_balance"]
    return out


async def _positions(request: Request, rt: Runtime, name: str) -> Any:
    await account_row(request, name)
    last = rt.guardian.last_reports.get(name, {})
    margin, error = await _margin(request, rt, name)
    setup = setup_of(rt, name)
    horizon = setup.horizon_days if setup is not None else None
    by_symbol = {p["symbol"]: p for p in (margin or {}).get("positions", [])}
    rows = []
    for view in last.get("positions", []):
        m = by_symbol.get(view["symbol"])
        rows.append(
            {
                **view,
                "bankruptcy_price": m.get("bankruptcy_price") if m else None,
                "health": m.get("health") if m else None,
                "margin": m,
                "side": m["side"] if m else ("long" if view["qty"] > 0 else "short"),
                "entry_price": m.get("entry_price") if m else None,
                "unrealized_pnl": m.get("unrealized_pnl") if m else None,
                "notional": m.get("notional") if m else None,
                "horizon_days": horizon,
            }
        )
    equity = margin["equity"] if margin else None
    balances = _balances_of(margin, last) if margin else await _balances(request, rt, name)
    thresholds = None
    if setup is not None:
        th = setup.thresholds
        thresholds = {"margin_ratio": list(th.margin_ratio), "distance": list(th.distance), "p_liq": list(th.p_liq)}
    return clean(
        {
            "account": name,
            "status": last.get("status"),
            "state": last.get("state"),
            "equity": equity,
            "margin_ratio": margin["margin_ratio"] if margin else None,
            "margin": margin,
            "margin_error": error if not margin else None,
            "positions": rows,
            "settlement": balances["settlement"],
            "wallet_balance": balances["wallet_balance"],
            "unrealized_pnl": balances["unrealized_pnl"],
            "margin_balance": balances["margin_balance"],
            **{
                k: balances[k] for k in ("account_ratio", "account_ratio_name", "account_status", "venue_account_ratio")
            },
            "horizon_days": horizon,
            "thresholds": thresholds,
            "left_out": last.get("left_out", []),
        }
    )


@_read(
    "/accounts/{name}/positions",
    "Positions with the full margin report",
    PositionsOut,
    description=(
        "Each position as the guardian saw it in its last cycle (mark, levguard's and the venue's "
        "liquidation prices, margin ratio, distance, P(liq), state, leverage vs target, the last "
        "action) with the margin engine's report of the position (bankruptcy price, margin "
        "balance, tier, health)."
    ),
    responses={**NOT_FOUND, **COMPUTE_RESPONSES},
)
async def positions(request: Request, who: Compute, name: AccountName) -> Any:
    return await _positions(request, runtime_of(request), name)


@_read(
    "/accounts/{name}/risk",
    "Risk per position: P(liq) over 1/7/30 days and one-day 99 % VaR",
    RiskOut,
    description=(
        "P(liq) is the probability that the mark reaches the liquidation price within the horizon, "
        "from the liquidation forecaster the guardian fitted on the account's hourly mark bars in its "
        "last cycle (`levguard.core.risk.forecast.position_probabilities`: the number the guardian, "
        "the dashboard, `levguard risk` and `levguard size` show; the GBM closed form at the "
        "account's volatility while too few bars are known, `model`; `unknown`, with no P(liq), vol or "
        "VaR, while that volatility is not known either).  `vol` is the guardian's annualised "
        "volatility forecast of the symbol (`Guardian.volatility`: "
        "`levguard.risk.report.volatility_forecast`, GARCH(1,1)-t on the daily returns of the "
        "hourly bars it fitted the forecaster on, the number `levguard risk` and `levguard size` "
        "show; the configured `vol` or the EWMA of the marks while no bars are known).  VaR is the "
        "one-day 99 % delta-normal VaR of the position (`levguard.risk.report.position_var`, the "
        "risk report's `position_var` rows): `VaR = z_0.99 * sigma_1d`, `z_0.99 = 2.3263`, and "
        "`ES = sigma_1d * phi(z) / 0.01` with `sigma_1d = vol * sqrt(1/365) * |notional|` "
        "(Jorion, *Value at Risk*, 3rd ed., ch. 5; RiskMetrics Technical Document, 1996)."
    ),
    responses={**NOT_FOUND, **COMPUTE_RESPONSES, **UNAVAILABLE},
)
async def risk(request: Request, who: Compute, name: AccountName) -> Any:
    rt = runtime_of(request)
    data = await _positions(request, rt, name)
    setup = setup_of(rt, name)
    symbols = [row["symbol"] for row in data["positions"]]
    # The guardian's forecasters and volatility forecasts: read on its thread, which refits them.
    forecasters, vols, notes = await rt.call(_forecasts, rt, setup, symbols)
    out = await compute(request, _risk_rows, data["positions"], forecasters, vols)
    models = sorted({_model_name(f) for f in forecasters.values()})
    # No position: no forecaster and no VaR were used, so none is named.
    method = f"{' / '.join(models)} forecaster; delta-normal VaR" if models else "none (no positions)"
    left_out = data["left_out"]  # another wallet's or an unlisted market's: not evaluated, so no figures
    notes = [*notes, *(_left_out_note(p) for p in left_out)]
    return clean({"account": name, "method": method, "positions": out, "notes": notes, "left_out": left_out})


_LEFT_OUT = (
    "settled outside the account's wallet, not evaluated or protected (docs/guardian.md, one wallet per account)"
)
_UNLISTED = (
    "market not listed by the venue (its contract size unknown), not evaluated or protected; its loss and "
    "maintenance margin count in the account's figures where the venue gives them (docs/guardian.md, markets "
    "listed after the start)"
)


def _left_out_note(p: Mapping[str, Any]) -> str:
    # The /risk note of a position left out: by its settlement, or as a market the venue does not list.
    return f"{p['symbol']}: {_UNLISTED}" if p["settle"] == UNLISTED else f"{p['symbol']} ({p['settle']}): {_LEFT_OUT}"


def _forecasters(rt: Runtime, setup: Any, symbols: list[str]) -> dict[str, LiquidationForecaster | None]:
    """The forecaster of each symbol: the guardian's (its closed-form fallback at the configured or
    observed vol before it has bars); None where the volatility is unknown (an account the guardian
    does not watch, or too few marks seen and no configured ``vol``): no number is invented."""
    if setup is None:
        return dict.fromkeys(symbols)
    return {s: rt.guardian.forecaster(setup.name, s) for s in symbols}


def _volatilities(rt: Runtime, setup: Any, symbols: list[str]) -> dict[str, float | None]:
    """The guardian's volatility forecast of each symbol (:meth:`Guardian.volatility`); None where it
    is unknown (an account the guardian does not watch, or no bars, no configured ``vol`` and too
    few marks seen)."""
    if setup is None:
        return dict.fromkeys(symbols)
    return {s: rt.guardian.volatility(setup.name, s) for s in symbols}


def _forecasts(
    rt: Runtime, setup: Any, symbols: list[str]
) -> tuple[dict[str, LiquidationForecaster | None], dict[str, float | None], list[str]]:
    # In one call on the guardian's thread: the forecasters and the volatilities of one refit, and
    # what its bars say of the histories (ending more than a day apart: levguard.risk.histories).
    notes = setup.forecasts.notes() if setup is not None and setup.forecasts is not None else []
    return _forecasters(rt, setup, symbols), _volatilities(rt, setup, symbols), notes


def _model_name(f: LiquidationForecaster | None) -> str:
    if f is None:
        return "unknown"
    return "gbm" if isinstance(f, GbmForecaster) else "excursion"


def _risk_rows(
    positions: list[dict[str, Any]],
    forecasters: dict[str, LiquidationForecaster | None],
    vols: dict[str, float | None],
) -> list[dict[str, Any]]:
    out = []
    for row in positions:
        f = forecasters[row["symbol"]]
        sigma = vols.get(row["symbol"])
        side = "long" if row["qty"] > 0 else "short"
        mark = _num(row.get("mark"))
        lp = _num(row.get("liquidation_price"))
        m = row.get("margin")
        notional = abs(m["notional"]) if m else (abs(row["qty"]) * mark if mark else None)
        p_liq: dict[str, float] = {}
        if mark and f is not None:
            probs = position_probabilities(f, side, mark, lp, RISK_HORIZONS)
            p_liq = {f"{h:g}d": float(p) for h, p in zip(RISK_HORIZONS, probs, strict=True)}
        var = es = None
        if notional and sigma is not None:
            res = position_var(notional, sigma, level=0.99, horizon_days=1.0)
            var, es = res.var, res.es
        out.append(
            {
                "symbol": row["symbol"],
                "side": side,
                "mark": mark,
                "liquidation_price": lp,
                "notional": notional,
                "vol": sigma,
                "model": _model_name(f),
                "p_liq": p_liq,
                "var_1d_99": var,
                "es_1d_99": es,
            }
        )
    return out


@_read(
    "/accounts/{name}/policy",
    "The policy the guardian sizes the account with, and each position's target leverage with its binding constraint",
    PolicyOut,
    responses=NOT_FOUND,
)
async def policy(request: Request, who: Read, name: AccountName) -> Any:
    rt = runtime_of(request)
    row = await account_row(request, name)
    last = rt.guardian.last_reports.get(name, {})
    rows = [
        {k: v.get(k) for k in ("symbol", "leverage", "target_leverage", "binding_constraint", "state")}
        for v in last.get("positions", [])
    ]
    setup = setup_of(rt, name)
    policy = row.get("policy") if setup is None else _in_use(setup.policy_in_use)
    return clean({"account": name, "policy": policy, "positions": rows})


def _in_use(policy: dict[str, Any] | str | None) -> dict[str, Any] | None:
    # The policy a watched account's sizer was built from; a policy file's path: the file's
    # content now (the guardian reads it again in every cycle), None when it does not load.
    if not isinstance(policy, str):
        return policy
    from levguard.config.policies import load_policy_file

    try:
        content: dict[str, Any] = load_policy_file(policy).model_dump(mode="json", exclude_unset=True)
    except (LevguardError, OSError):
        return None
    return content


@_read(
    "/accounts/{name}/snapshots",
    "Snapshot history of an account (charts), oldest first",
    list[SnapshotOut],
    responses=NOT_FOUND,
)
async def snapshots(
    request: Request, who: Read, name: AccountName, since_ns: SinceNs = None, limit: Limit = 500
) -> Any:
    rt = runtime_of(request)
    await account_row(request, name)
    return clean(await store_call(request, rt.store.snapshots, name, since_ns=since_ns, limit=limit))


# ---------------------------------------------------------------------- alerts, orders, audit


def _page_by_id(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """``limit + 1`` rows newest first -> the page and the ``before_id`` of the next one."""
    items = rows[:limit]
    return {"items": clean(items), "next": items[-1]["id"] if len(rows) > limit else None}


@_read("/alerts", "Alerts, newest first, paged by before_id", AlertPage)
async def alerts(
    request: Request,
    who: Read,
    account: AccountQ = None,
    unacked: Annotated[bool, Query(description="Only unacknowledged alerts")] = False,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Any:
    rt = runtime_of(request)
    rows = await store_call(
        request, rt.store.alerts, account=account, unacked_only=unacked, limit=limit + 1, before_id=before_id
    )
    return _page_by_id(rows, limit)


def encode_order_cursor(intent_ns: int, client_order_id: str) -> str:
    """The ``before`` cursor of an order: its (intent_ns, client_order_id)."""
    return f"{int(intent_ns)}.{client_order_id.encode().hex()}"


def decode_order_cursor(cursor: str) -> tuple[int, str]:
    """The (intent_ns, client_order_id) of a ``before`` cursor (already checked against
    :data:`ORDER_CURSOR`); a forged one decodes to some position in the order, never an error."""
    ns, _, cid = cursor.partition(".")
    return min(int(ns), _MAX_NS), bytes.fromhex(cid).decode("utf-8", errors="replace")


@_read("/orders", "Orders sent (or recorded) by the guardian, newest first, paged by the before cursor", OrderPage)
async def orders(
    request: Request, who: Read, account: AccountQ = None, limit: Limit = 100, before: Before = None
) -> Any:
    rt = runtime_of(request)
    keyset = None if before is None else decode_order_cursor(before)
    rows = await store_call(request, rt.store.orders, account=account, limit=limit + 1, before=keyset)
    items = rows[:limit]
    last = items[-1] if items else None
    nxt = encode_order_cursor(last["intent_ns"], last["client_order_id"]) if last and len(rows) > limit else None
    return {"items": clean(items), "next": nxt}


_ACTION_EVENTS = ("deleverage", "deleverage_dry_run", "deleverage_skipped")


@_read(
    "/actions",
    "Deleveraging decisions (orders, dry runs, skipped), newest first, paged by before_id",
    AuditPage,
    description="The audit rows of the events " + ", ".join(_ACTION_EVENTS) + ".",
)
async def actions(
    request: Request, who: Read, account: AccountQ = None, limit: Limit = 100, before_id: BeforeId = None
) -> Any:
    rt = runtime_of(request)
    rows: list[dict[str, Any]] = []
    for event in _ACTION_EVENTS:
        rows.extend(
            await store_call(
                request, rt.store.audit_log, account=account, event=event, limit=limit + 1, before_id=before_id
            )
        )
    rows.sort(key=lambda r: r["id"], reverse=True)
    return _page_by_id(rows[: limit + 1], limit)


@_read("/audit", "The audit log, newest first, paged by before_id", AuditPage)
async def audit(
    request: Request,
    who: Read,
    account: AccountQ = None,
    event: Annotated[
        str | None,
        Query(max_length=100, description="Only this event (cycle, deleverage...)"),
        AfterValidator(utf8_text),
    ] = None,
    since_ns: SinceNs = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Any:
    rt = runtime_of(request)
    rows = await store_call(
        request,
        rt.store.audit_log,
        account=account,
        event=event,
        since_ns=since_ns,
        limit=limit + 1,
        before_id=before_id,
    )
    return _page_by_id(rows, limit)


# ---------------------------------------------------------------------- calculator


@api.post(
    "/calculate",
    tags=["calculator"],
    summary="Margin report of an account spec (stateless)",
    description=(
        "The body is an account spec (docs/margin.md: venue, margin_mode, wallet_balance, "
        "positions, optional tiers); the answer is `levguard.evaluate_account(spec).to_dict()`. "
        "An invalid spec is a 400 with the engine's message."
    ),
    response_model=AccountMargin,
    responses={**BODY_RESPONSES, **COMPUTE_RESPONSES},
)
async def calculate(
    request: Request,
    who: Compute,
    spec: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {
                    "venue": "binance-usdm",
                    "margin_mode": "cross",
                    "wallet_balance": 10000,
                    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60000, "mark_price": 60000}],
                }
            ]
        ),
    ],
) -> dict[str, Any]:
    # A dict only: evaluate_account would read a *path* from the server's disk given a string.
    return await compute(request, _calculate, spec)


def _calculate(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        report = evaluate_account(spec)
    except LevguardError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, ZeroDivisionError) as exc:
        raise HTTPException(400, f"invalid account spec: {exc}") from None
    out: dict[str, Any] = clean(report.to_dict())
    return out


router.include_router(api)


def _include_others() -> None:
    from levguard.service.control import router as control
    from levguard.service.stream import router as stream

    router.include_router(control)
    router.include_router(stream)


_include_others()
