"""Who watches which account: leases under a stable guardian identity with a fencing epoch, the
takeover of an account (its persisted state loaded, the unwatched gap alerted), accounts of the
store that no guardian watches, and positions the venue's wallet does not margin (left out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from levguard.live.setup import AccountSetup, AccountState
from levguard.live.states import Level
from levguard.venues.base import UNLISTED

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian

__all__ = ["check_unwatched", "figures", "left_out", "mark", "renew_leases"]


async def renew_leases(g: Guardian, setups: list[AccountSetup], now: int) -> bool:
    """Take or renew the leases of ``setups`` in one transaction; True if all are held.

    A lease newly taken (start, restart, takeover) loads the account's persisted state and
    alerts if nobody watched the account for longer than ``unwatched_alert_s``; a lease lost
    to another process is alerted."""
    if not g.live:
        # A dry run sends nothing, so it needs no exclusivity: it takes no lease (and so never
        # keeps a live guardian from protecting the account) and writes no shared state.
        for s in setups:
            st = g._state[s.name]
            if not st.loaded:
                g.load(s, st)
            st.lease_until_ns, st.epoch = 2**62, 0
        return True
    leases = g.store.take_leases([s.name for s in setups], g.owner, g.lease_ttl_s, now, instance=g.instance)
    for s in setups:
        st = g._state[s.name]
        lease = leases[s.name]
        if not lease.held:
            holder = lease.previous_owner
            await g._alert(
                s.name,
                "critical" if st.epoch >= 0 else "warning",
                "lease",
                f"lease {'lost' if st.epoch >= 0 else 'not taken'}: guardian {holder!r} holds the account; this "
                f"guardian ({g.owner!r}) does not act on it",
                dedup="held",
                holder=holder,
            )
            st.lease_until_ns, st.epoch, st.loaded = 0, -1, False
            st.late.clear()  # kept on the orders' rows: the holder takes it up from there
            st.held.clear()
            continue
        st.lease_until_ns = now + int(g.lease_ttl_s * 1e9)
        if lease.taken and st.epoch >= 0 and lease.previous_instance not in (None, g.instance):
            # We held it, and another process of our identity took it meanwhile: two guardians
            # share one id (each will keep taking it from the other) or a stalled copy came back.
            await g._alert(
                s.name,
                "critical",
                "lease",
                f"another process with guardian id {g.owner!r} (instance {lease.previous_instance}) took the "
                f"account meanwhile; run one process per id",
                dedup="identity",
                other_instance=lease.previous_instance,
            )
        if lease.taken or st.epoch != lease.epoch:  # the late watch is taken up from the rows (load)
            st.held.clear()  # the expected positions are loaded again
            st.epoch = lease.epoch
            g.load(s, st)
            g._unwatched.discard(s.name)
            gap = None if lease.previous_renewed_ns is None else (now - lease.previous_renewed_ns) / 1e9
            if gap is not None and gap > g.unwatched_alert_s:
                await g._alert(
                    s.name,
                    "warning",
                    "unwatched",
                    f"the account was unwatched for {gap:,.0f} s (last guardian {lease.previous_owner}); "
                    "checking for changes made meanwhile",
                    dedup="takeover",
                    unwatched_s=gap,
                )
    return all(v.held for v in leases.values())


async def check_unwatched(g: Guardian, now: int) -> None:
    """Alert once per episode for any account of the store that no guardian has renewed for
    longer than ``unwatched_alert_s`` (checked at most every half threshold)."""
    if now - g._unwatched_check_ns < g.unwatched_alert_s * 0.5e9:
        return
    g._unwatched_check_ns = now
    ours = {a.name for a in g.accounts if g._state[a.name].epoch >= 0}
    leases = {r["account"]: r for r in g.store.leases()}
    for acct in g.store.accounts():
        name = acct["name"]
        if name in ours:
            g._unwatched.discard(name)
            continue
        lease = leases.get(name)
        alive = lease is not None and lease.get("owner") is not None and int(lease["expires_ns"]) > now
        last = (
            int(lease["renewed_ns"])
            if lease is not None and lease.get("renewed_ns") is not None
            else int(acct["created_ns"])
        )
        if alive or (now - last) / 1e9 <= g.unwatched_alert_s:
            g._unwatched.discard(name)
            continue
        if name not in g._unwatched:
            g._unwatched.add(name)
            await g._alert(
                name,
                "critical",
                "unwatched",
                f"no guardian has watched the account for {(now - last) / 1e9:,.0f} s",
                unwatched_s=(now - last) / 1e9,
            )


async def left_out(g: Guardian, setup: AccountSetup, st: AccountState) -> dict[str, str]:
    """Alert the positions the venue left out of the account it reads; return them (symbol -> their
    settlement currency; empty when there are none).

    A ccxt venue reads one wallet (:attr:`CcxtVenue.settle`) and leaves out the positions settled
    in another currency (:attr:`CcxtVenue.left_out`: a Deribit BTC-PERPETUAL beside the USDC
    perpetuals, a Binance USDⓈ-M ``BTC/USDC:USDC`` beside a USDT wallet): their margin is another
    wallet's, so evaluating them against this one would give wrong numbers, and they are neither
    evaluated nor protected.  Nobody protects them, so it is never quiet: a **critical**
    ``left_out`` alert naming them and the fix, at once and again every ``alert_repeat_s`` while
    they stay (the suppressed repeats counted, the consecutive cycles in ``cycles``), and the
    cycle's report is ``partial`` (:func:`mark`).  A left-out position's level is set back to OK
    (it is not evaluated: a DANGER kept from before would hold by hysteresis if it came back; up
    is immediate), silently.  A position in a market the venue does not list even after reloading
    its markets (settlement :data:`~levguard.venues.base.UNLISTED`: a contract listed after the
    process started, whose contract size is unknown) is left out the same way, named as such.
    """
    others: dict[str, str] = dict(getattr(setup.venue, "left_out", None) or {})
    if not others:
        if st.left_out_cycles:
            st.left_out_cycles = 0
            for key in [k for k in g._recent if k[:2] == (setup.name, "left_out")]:
                del g._recent[key]  # ended: the next occurrence alerts at once
        return others
    st.left_out_cycles += 1
    for sym in others:
        ps = st.positions.get(sym)
        if ps is not None:
            ps.level = Level.OK
    names = _names(others)
    wallet = getattr(setup.venue, "settle", "?")
    n = st.left_out_cycles
    cycles = f"({n} cycle{'' if n == 1 else 's'})"
    elsewhere = _names({s: c for s, c in others.items() if c != UNLISTED})
    unlisted = ", ".join(sorted(s for s, c in others.items() if c == UNLISTED))
    parts = [
        f"positions settled outside the {wallet} wallet are not evaluated or protected {cycles}: {elsewhere}; "
        "set the account's venue.settle to their currency or watch them as another account"
    ] * bool(elsewhere)
    if unlisted:
        parts.append(
            f"positions in markets the venue does not list (its markets reloaded) are not evaluated or protected "
            f"{cycles}: {unlisted}; their contract size is unknown, so is their quantity, and the account's margin "
            "figures EXCLUDE their loss and margin: in a cross wallet its ratio and liquidation prices may be "
            "optimistic; check the account on the venue"
        )
    await g._alert(
        setup.name,
        "critical",
        "left_out",
        "; ".join(parts),
        dedup=names,
        symbols=sorted(others),
        wallet=wallet,
        cycles=n,
    )
    return others


def mark(setup: AccountSetup, report: dict[str, Any], others: Mapping[str, str]) -> dict[str, Any]:
    """The cycle's ``report`` of an account with positions left out (:func:`left_out`): status
    ``partial`` (not ``ok``: part of the account is unguarded), a ``reason`` naming them and
    ``left_out`` (``[{"symbol", "settle"}]``); ``level`` and ``state`` remain those of the positions
    evaluated (none: level 0 and no state).  ``report`` unchanged without any."""
    if others:
        wallet = getattr(setup.venue, "settle", "?")
        report["status"] = "partial"
        unlisted = sorted(s for s, c in others.items() if c == UNLISTED)
        elsewhere = {s: c for s, c in others.items() if c != UNLISTED}
        reasons = [f"settled outside the {wallet} wallet: {_names(elsewhere)}"] * bool(elsewhere)
        reasons += [f"in markets the venue does not list: {', '.join(unlisted)}"] * bool(unlisted)
        report["reason"] = f"not evaluated or protected, {'; '.join(reasons)}"
        report["left_out"] = [{"symbol": s, "settle": c} for s, c in sorted(others.items())]
    return report


def figures(others: Mapping[str, str]) -> dict[str, Any]:
    """The snapshot figures naming the positions left out (``left_out``: their symbols); none without any."""
    return {"left_out": sorted(others)} if others else {}


def _names(others: Mapping[str, str]) -> str:
    return ", ".join(f"{sym} ({cur})" for sym, cur in sorted(others.items()))
