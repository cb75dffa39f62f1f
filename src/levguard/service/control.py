"""The write routes (admin token; the ``require_admin`` dependency applies the write rate limit):
kill switches, alert acknowledgement, dry-run/live mode, policy updates, re-enabling an account
after an authentication failure and the paper venues' scripted price shock.  Every change is
recorded in the audit log with the token's name and published as a ``control`` event.

Changes to guardian or venue state (a policy's sizer, a paper venue's prices, an account's
disabled flag) run on the guardian's own thread through :meth:`Runtime.call`; store writes run on
a store thread (:func:`~levguard.service.store_calls.store_call`), a change with its audit row in
one transaction (both stored or neither, whatever the request's answer); a guardian-side change
(a policy in use) follows only once that transaction committed.  The paper shock is audited
first, then applied: a 503 never leaves an unaudited move.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request

from levguard.config.policies import build_policy, check_account_policy, parse_policy_config
from levguard.errors import ConfigError, InputError, LevguardError
from levguard.live.store_journal import AuditRow
from levguard.service.app import Principal
from levguard.service.deps import Admin, account_row, compute, runtime_of, setup_of, store_call, stored_account
from levguard.service.middleware import DepthCheckedRoute
from levguard.service.models import (
    BODY_RESPONSES,
    NOT_FOUND,
    UNAVAILABLE,
    WRITE_RESPONSES,
    AccountName,
    AckOut,
    EnableIn,
    EnableOut,
    ErrorOut,
    JsonObject,
    KillSwitchIn,
    KillSwitchOut,
    ModeIn,
    ModeOut,
    PolicyUpdateOut,
    ShockIn,
    ShockOut,
)
from levguard.service.runtime import Runtime, clean
from levguard.service.store_calls import pooled_call
from levguard.venues.paper import PaperVenue

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["write"], responses=WRITE_RESPONSES, route_class=DepthCheckedRoute)
_CONFIRM: dict[int | str, dict[str, Any]] = {409: {"model": ErrorOut, "description": "The confirmation does not match"}}


def _row(
    who: Principal, account: str | None, event: str, inputs: dict[str, Any], decision: dict[str, Any], reason: str
) -> AuditRow:
    # The audit row of a change made through the API, stored in the change's own transaction.
    return (
        account,
        time.time_ns(),
        event,
        {**inputs, "by": who.name},
        decision,
        [f"{reason} (API, token {who.name!r})"],
    )


@router.post(
    "/kill-switch",
    summary="Set the global kill switch, or an account's own",
    description="While a kill switch is on the guardian sends no order (it still watches and alerts).",
    response_model=KillSwitchOut,
    responses={**NOT_FOUND, **BODY_RESPONSES},
)
async def kill_switch(request: Request, who: Admin, body: KillSwitchIn) -> dict[str, Any]:
    rt = runtime_of(request)
    await pooled_call(request, "kill_switch", _set_kill_switch, rt, who, body)  # its own threads
    rt.bus.publish("control", {"kind": "kill_switch", "account": body.account, "on": body.on})
    return {"account": body.account, "on": body.on}


def _set_kill_switch(rt: Runtime, who: Principal, body: KillSwitchIn) -> None:
    # On a store thread: the switch and its audit row, in one transaction.
    if body.account is not None:
        stored_account(rt, body.account)
    scope = "account" if body.account else "global"
    reason = f"kill switch {'on' if body.on else 'off'} ({scope})"
    audit = _row(who, body.account, "kill_switch", {"on": body.on}, {"on": body.on}, reason)
    try:
        rt.store.set_kill_switch(body.account, body.on, audit=audit)
    except InputError:  # deleted since stored_account found it
        raise HTTPException(404, f"unknown account {body.account!r}") from None


@router.post(
    "/alerts/{alert_id}/ack",
    summary="Acknowledge an alert",
    response_model=AckOut,
    responses={404: {"model": ErrorOut, "description": "No unacknowledged alert with this id"}},
)
async def ack_alert(request: Request, who: Admin, alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict[str, Any]:
    rt = runtime_of(request)
    await store_call(request, _ack, rt, who, alert_id)
    rt.bus.publish("control", {"kind": "ack", "id": alert_id})
    return {"id": alert_id, "acked": True}


def _ack(rt: Runtime, who: Principal, alert_id: int) -> None:
    # On a store thread: the acknowledgement and its audit row, in one transaction.
    audit = _row(who, None, "alert_ack", {"id": alert_id}, {"acked": True}, f"alert {alert_id} acknowledged")
    if not rt.store.ack_alert(alert_id, time.time_ns(), audit=audit):
        raise HTTPException(404, f"no unacknowledged alert with id {alert_id} (unknown or already acknowledged)")


@router.post(
    "/accounts/{name}/mode",
    summary="Switch an account between dry run and live orders",
    description=(
        "`confirm` must repeat the account's name (409 otherwise).  Orders are sent only when the "
        "guardian runs with --live, the account's configuration opts in, and this switch is on: "
        "`effective_live` says whether all three hold."
    ),
    response_model=ModeOut,
    responses={**NOT_FOUND, **BODY_RESPONSES, **_CONFIRM},
)
async def set_mode(request: Request, who: Admin, name: AccountName, body: ModeIn) -> dict[str, Any]:
    rt = runtime_of(request)
    row = await account_row(request, name)
    if body.confirm != name:
        raise HTTPException(409, f"confirm must repeat the account name {name!r} to switch it")
    setup = setup_of(rt, name)
    effective = bool(body.live and rt.guardian.live and setup is not None and setup.live)

    audit = _row(
        who,
        name,
        "mode",
        {"live": body.live, "was": row["live_enabled"]},
        {"live_enabled": body.live, "effective_live": effective},
        f"switched to {'live' if body.live else 'dry run'}",
    )
    try:  # the switch and its audit row in one transaction
        await store_call(request, rt.store.set_live, name, body.live, audit=audit)
    except InputError:
        raise HTTPException(404, f"unknown account {name!r}") from None
    rt.bus.publish("control", {"kind": "mode", "account": name, "live_enabled": body.live})
    return {"account": name, "live_enabled": body.live, "effective_live": effective}


@router.put(
    "/accounts/{name}/policy",
    summary="Replace an account's leverage policy",
    description=(
        "The body is a policy file's content (docs/policies.md), e.g. "
        '`{"policy": {"type": "vol_target", "target_vol": 0.5, "max_leverage": 5}}`.  It is '
        "validated (422 naming the key path otherwise), stored, recorded in the audit log, and "
        "used by the running guardian from its next cycle for the target leverage."
    ),
    response_model=PolicyUpdateOut,
    responses={**NOT_FOUND, **BODY_RESPONSES, **UNAVAILABLE},
)
async def put_policy(
    request: Request,
    who: Admin,
    name: AccountName,
    body: Annotated[JsonObject, Body(examples=[{"policy": {"type": "fixed", "leverage": 3}}])],
) -> Any:
    rt = runtime_of(request)
    row = await account_row(request, name)
    try:
        parsed = parse_policy_config(body, "policy")
        # Refused whatever the account holds (flat, unwatched, before the first cycle), as a
        # config file's policy is at load: not a warning and the fixed target in every cycle.
        check_account_policy(parsed, "policy")
        build_policy(parsed.policy)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    policy = clean(body)
    setup = setup_of(rt, name)
    trial: dict[str, Any] = {}
    if setup is not None:
        from levguard.sizing import size_account

        vol = setup.vol
        forecasts = setup.forecasts

        def sizer(spec: dict[str, Any]) -> dict[str, Any]:
            # The guardian's latest liquidation forecasters (the liquidation budget reads them).
            fitted = forecasts.latest() if forecasts is not None else None
            known = forecasts.volatilities() if forecasts is not None else None  # vol: symbols without a history
            return size_account(spec, policy, vol=vol, forecaster=fitted or None, volatility=known).to_dict()

        trial = await _trial(request, rt, setup, sizer)
    audit = _row(
        who,
        name,
        "policy",
        {"policy": policy, "previous": row.get("policy")},
        {"target_leverage": trial.get("target_leverage"), "binding_constraint": trial.get("binding_constraint")},
        "policy updated",
    )
    # The policy column and its audit row in one transaction (the live flag may have been switched
    # during the trial: not written back, no lost update).
    try:
        audit_id = await store_call(request, rt.store.set_policy, name, policy, audit=audit)
    except InputError:
        raise HTTPException(404, f"unknown account {name!r}") from None
    if setup is not None:  # only once stored and audited: a 503 above leaves the guardian's policy alone
        await rt.call(_use_policy, setup, sizer, policy)  # the guardian sizes with it from its next cycle
    rt.bus.publish("control", {"kind": "policy", "account": name})
    return clean(
        {
            "account": name,
            "policy": policy,
            "target_leverage": trial.get("target_leverage"),
            "binding_constraint": trial.get("binding_constraint"),
            "audit_id": audit_id,
        }
    )


def _use_policy(setup: Any, sizer: Any, policy: dict[str, Any]) -> None:
    # On the guardian's thread: the sizer and the policy it was built from (GET /policy) together.
    setup.sizer = sizer
    setup.policy_in_use = policy


async def _trial(request: Request, rt: Runtime, setup: Any, sizer: Any) -> dict[str, Any]:
    """Size the account's positions of the guardian's last cycle with the new policy (nothing
    before the first cycle or when flat); a policy that cannot size them is refused (422)."""
    spec = rt.guardian.last_specs.get(setup.name)
    if not spec or not spec["positions"]:
        return {}
    try:
        out: dict[str, Any] = await compute(request, sizer, spec)
    except LevguardError as exc:
        raise HTTPException(422, f"the policy cannot size the account's positions: {exc}") from None
    return out


@router.post(
    "/paper/{name}/shock",
    summary="Script a price move on a paper account (demo)",
    description="Calls `PaperVenue.shock`: a geometric fall of `drop` over `ticks` ticks, then flat.",
    response_model=ShockOut,
    responses={**NOT_FOUND, **BODY_RESPONSES, **UNAVAILABLE},
)
async def shock(request: Request, who: Admin, name: AccountName, body: ShockIn) -> dict[str, Any]:
    rt = runtime_of(request)
    await account_row(request, name)
    venue = rt.venue(name)
    if not isinstance(venue, PaperVenue):
        raise HTTPException(404, f"account {name!r} is not on a paper venue")
    # The audit row first, then the move: a 503 (the row perhaps stored later) never leaves an
    # unaudited move, and a retry after it shocks once.  The symbol is checked first (400), so a
    # refused move leaves no row.
    symbols = await rt.call(venue.last_prices)
    if body.symbol not in symbols:
        raise HTTPException(400, f"symbol must be one of {', '.join(symbols)}, was {body.symbol!r}")
    row = _row(who, name, "paper_shock", body.model_dump(), {}, "scripted price move (paper venue)")
    await store_call(request, rt.store.audit, *row)
    await rt.call(venue.shock, body.symbol, body.drop, body.ticks)  # the guardian's thread steps the venue
    rt.bus.publish("control", {"kind": "paper_shock", "account": name, "symbol": body.symbol})
    return {"account": name, "symbol": body.symbol, "drop": body.drop, "ticks": body.ticks}


@router.post(
    "/accounts/{name}/enable",
    summary="Re-enable acting on an account after an authentication failure",
    description=(
        "After the venue refused the account's credentials the guardian stops acting on it "
        "(status `disabled`) until an operator re-enables it here, once the credentials are "
        "fixed.  `confirm` must repeat the account's name (409 otherwise).  The guardian clears "
        "the persisted disabled state and records the change in the audit log with the token's "
        "name; it acts again from its next cycle (and disables the account again if the "
        "credentials still fail)."
    ),
    response_model=EnableOut,
    responses={
        404: {"model": ErrorOut, "description": "Unknown account, or one the guardian does not watch"},
        **BODY_RESPONSES,
        **_CONFIRM,
        **UNAVAILABLE,
    },
)
async def enable(request: Request, who: Admin, name: AccountName, body: EnableIn) -> dict[str, Any]:
    rt = runtime_of(request)
    await account_row(request, name)
    if body.confirm != name:
        raise HTTPException(409, f"confirm must repeat the account name {name!r} to re-enable it")
    if setup_of(rt, name) is None:
        raise HTTPException(404, f"the guardian does not watch account {name!r}")
    await rt.call(rt.guardian.enable_account, name, by=who.name)  # audits the change itself
    rt.bus.publish("control", {"kind": "enable", "account": name})
    return {"account": name, "enabled": True}
