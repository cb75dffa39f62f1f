"""The guardian's unified accounts (Binance Portfolio Margin, Bybit UTA): the read, the state ratio,
and the check of levguard's account ratio against the one the venue reports.

A venue carrying a unified reader (``venue.unified``, e.g. a
:class:`~levguard.venues.ccxt_adapter.CcxtVenue` built with ``rule_set="binance-pm"`` or
``"bybit-uta"``) is read through :func:`read` instead of ``fetch_balance``: balances and
liabilities in several coins, their USD prices, the venue's collateral ratios and its own account
ratio (:class:`~levguard.venues.ccxt_unified.UnifiedAccountRead`).  The guardian evaluates the
account with the unified engine (:func:`levguard.core.unified.evaluate_unified`), whose
``account_ratio`` it stores and reports, and then:

* every position's state uses the account's ratio against the venue's liquidation trigger
  (:func:`state_ratio`: ``c * MM / E``, 1 exactly at the trigger), since a unified account is
  liquidated as a whole;
* :func:`compare` puts levguard's ratio and the venue's (``uniMMR``, ``accountMMRate``) on that
  scale; a gap beyond the account's ``ratio_tolerance`` means levguard's model or tables are off:
  it is logged and alerted once per episode (``ratio_mismatch``, a warning), the states follow
  the **worse** of the two ratios while they disagree (``state_ratio_source``), and it never fails
  the cycle;
* a coin held without any collateral ratio (neither the venue's table nor the built-in one) counts
  at 0, a debt in it at face value (:func:`rate_unrated`, a ``collateral_unrated`` warning naming
  the coin), where :func:`levguard.evaluate_account` alone refuses it.  levguard's ratio is then
  a bound, not a measurement: the states follow the venue's ratio (``state_ratio_source``
  ``venue``); without one the account cannot be evaluated (a critical ``evaluation`` alert naming
  the coins) and the states are capped below the acting level (:func:`next_state`: no order on a
  coin counted at 0);
* an account with debts but no position (a loan against collateral) is evaluated all the same
  (:func:`debts_only`): it is liquidated without positions when its equity falls to the loans'
  maintenance margin;
* the read's notes (rows it could not take as they are) are logged when they appear and reported
  (``read_notes``); a loan left out of the read (its coin has no price: its maintenance margin is
  not counted) raises a ``loan_left_out`` warning per coin (repeated every ``alert_repeat_s``).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from levguard.core.margin import AccountReport
from levguard.core.unified import UNIFIED_VENUES
from levguard.errors import LevguardError
from levguard.live import watch
from levguard.live._support import account_spec
from levguard.live.states import Level, next_level
from levguard.venues.base import VenueBalance

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian
    from levguard.live.setup import AccountSetup, AccountState

__all__ = [
    "RATIO_ABS_TOLERANCE",
    "compare",
    "debts_only",
    "next_state",
    "rate_unrated",
    "read",
    "reader_of",
    "state_ratio",
    "to_trigger_scale",
]

log = logging.getLogger("levguard.guardian")

RATIO_ABS_TOLERANCE = 0.0005
"""Smallest gap (on the trigger scale, 1 = liquidation) counted as a disagreement: Bybit reports
``accountMMRate`` to four decimals (a step of 0.0001); this is five times that step."""


def reader_of(venue: object) -> Any:
    """The venue's unified-account reader, or None for a single-wallet venue."""
    return getattr(venue, "unified", None)


async def read(g: Guardian, setup: AccountSetup, st: AccountState) -> VenueBalance:
    """Read the unified account (retried as every venue call), keep the read on ``st.unified`` and
    return its balance (USD face value of the net holdings) for the cycle's freshness check.

    A note new since the last read is logged (a warning); a loan left out of the read (its MM not
    counted by levguard) is alerted, a ``loan_left_out`` warning per coin."""
    reader = reader_of(setup.venue)
    before = set(getattr(st.unified, "notes", ()) or ())
    st.unified = await g._call(setup, "read_unified_account", reader.read)
    for note in getattr(st.unified, "notes", ()) or ():
        log.log(logging.DEBUG if note in before else logging.WARNING, "%s: unified read: %s", setup.name, note)
    for coin in getattr(st.unified, "left_out", ()) or ():
        text = next((n for n in st.unified.notes if n.startswith(f"{coin}:")), f"{coin}: left out of the read")
        await g._alert(
            setup.name,
            "warning",
            "loan_left_out",
            f"a loan in {coin} is left out, its maintenance margin not counted by levguard ({text})",
            dedup=coin,
            coin=coin,
        )
    balance: VenueBalance = st.unified.balance
    return balance


def to_trigger_scale(venue: str, ratio: float | None) -> float:
    """The venue's account ratio on the guardian's scale ``c * MM / E``: 0 without maintenance
    margin, 1 exactly at the venue's liquidation trigger, higher is worse (inf: no equity left).

    Notes
    -----
    With the venue's trigger ``E = c * MM`` (:attr:`levguard.core.unified.UnifiedVenue.liquidation_multiple`):
    an equity-over-MM ratio ``u`` (Binance ``uniMMR``, OKX margin ratio) maps to ``c / u``; an
    MM-over-equity ratio ``r`` (Bybit account MM rate) to ``c * r``.  The orientation is read from
    the venue's own ratio function (:meth:`~levguard.core.unified.UnifiedVenue.ratio`).
    """
    v = UNIFIED_VENUES[venue]
    if ratio is None or not math.isfinite(ratio) or ratio < 0.0:
        return math.inf
    c = v.liquidation_multiple
    equity_over_mm = (v.ratio(2.0, 1.0) or 0.0) > 1.0
    if equity_over_mm:
        return c / ratio if ratio > 0.0 else math.inf
    return c * ratio


def state_ratio(report: AccountReport) -> float:
    """The account's ratio against the venue's trigger, the figure every position's state uses
    (against the thresholds' ``margin_ratio``): ``c * MM / E`` (inf when ``E <= 0``, also with no
    MM when the account is liquidatable, holding positions or a debt; 0 for an empty account)."""
    c = UNIFIED_VENUES[report.venue].liquidation_multiple
    if report.equity <= 0.0:
        return math.inf if report.maintenance_margin > 0.0 or report.liquidatable else 0.0
    return c * report.maintenance_margin / report.equity


async def compare(g: Guardian, setup: AccountSetup, st: AccountState, report: AccountReport) -> dict[str, Any]:
    """Compare levguard's account ratio with the venue's; return the figures to store and report.

    A gap ``|a - b| > max(tolerance * b, RATIO_ABS_TOLERANCE)`` between levguard's ``a`` and the
    venue's ``b`` (both on the trigger scale, :func:`to_trigger_scale`) is a disagreement: logged
    and alerted once (until the two agree again), and ``state_ratio`` (what the states use) is
    then ``max(a, b)``, the worse of the two (``state_ratio_source`` says whose: a model that
    misses part of the account, such as a position it does not read, errs on the safe side).

    With a coin held and counted at 0 (``st.unrated``, :func:`rate_unrated`; listed as
    ``collateral_unrated``), ``a`` is a bound, not a measurement: ``state_ratio`` is the venue's
    ``b`` (a gap with ``a`` worse is that coin, not a mismatch); with no ``b`` the account cannot
    be evaluated: a critical ``evaluation`` alert names the coins and ``state_capped`` keeps the
    states below the acting level (:func:`next_state`).  Never raises.
    """
    read_ = st.unified
    out: dict[str, Any] = {
        "account_ratio": report.account_ratio,
        "account_ratio_name": report.account_ratio_name,
        "account_status": report.account_status,
        "state_ratio": state_ratio(report),
        "state_ratio_source": "levguard",
        "venue_account_ratio": None,
        "venue_account_status": None,
        "collateral_source": None,
        "read_notes": [],
    }
    if read_ is None:
        return out
    try:
        out["venue_account_ratio"] = read_.venue_ratio
        out["venue_account_status"] = read_.venue_status
        out["collateral_source"] = read_.collateral_source
        out["read_notes"] = list(read_.notes)
        held = list(st.unrated)
        if held:
            out["collateral_unrated"] = held
        if held and read_.venue_ratio is None:  # levguard's ratio a bound and none from the venue
            out["state_capped"] = True
            await _unevaluable(g, setup, report, held, out["state_ratio"], read_.venue_ratio_name)
            return out
        g._clear_alert(setup.name, "evaluation", "unrated")  # evaluable again: the next episode alerts at once
        if read_.venue_ratio is None:  # levguard's ratio None (no MM) still has a state ratio: 0
            return out
        ours = out["state_ratio"]
        theirs = to_trigger_scale(report.venue, read_.venue_ratio)
        gap = abs(ours - theirs) if math.isfinite(ours) and math.isfinite(theirs) else math.inf
        if ours == theirs:
            gap = 0.0
        out["ratio_gap"] = gap
        if held:  # a coin counted at 0: levguard's ratio is a bound, the venue's the measurement
            out["state_ratio"], out["state_ratio_source"] = theirs, "venue"
            if ours >= theirs:  # the gap is that coin's value, not a disagreement
                return out
        if gap <= max(setup.ratio_tolerance * theirs, RATIO_ABS_TOLERANCE):
            if st.ratio_mismatch:
                log.info("%s: %s agrees with the venue again", setup.name, report.account_ratio_name)
                g._clear_alert(setup.name, "ratio_mismatch", "account")
            st.ratio_mismatch = False
            return out
        name = report.account_ratio_name
        if theirs > ours:  # the states follow the worse of the two while they disagree
            out["state_ratio"], out["state_ratio_source"] = theirs, "venue"
        text = (
            f"{name}: levguard {_fmt(report.account_ratio)} vs the venue's {read_.venue_ratio_name} "
            f"{read_.venue_ratio:.6g} ({ours:.4f} vs {theirs:.4f} of the way to liquidation); levguard's "
            f"model or tables are off, the states follow the worse ({out['state_ratio_source']}'s; "
            f"collateral: {read_.collateral_source})"
        )
        if not st.ratio_mismatch:
            log.warning("%s: %s", setup.name, text)
            await g._alert(
                setup.name,
                "warning",
                "ratio_mismatch",
                text,
                dedup="account",
                account_ratio=report.account_ratio,
                venue_account_ratio=read_.venue_ratio,
                ratio_name=name,
                gap=gap,
            )
        else:
            log.debug("%s: %s", setup.name, text)
        st.ratio_mismatch = True
    except Exception as exc:  # a check must never fail the cycle
        log.error("%s: account ratios not compared: %r", setup.name, exc)
    return out


def _fmt(x: float | None) -> str:
    return "none (no maintenance margin)" if x is None else f"{x:.6g}"


async def _unevaluable(
    g: Guardian, setup: AccountSetup, report: AccountReport, held: list[str], ours: float, venue_ratio_name: str
) -> None:
    # Coins held with no collateral ratio count at 0 and the venue gives no ratio of its own.
    cap = Level(max(0, int(setup.act_level) - 1)).name
    text = (
        f"cannot evaluate the account: {', '.join(held)} held with no collateral ratio (counted at 0) and no "
        f"{venue_ratio_name} from the venue; levguard's {report.account_ratio_name} ({ours:.4f} of the way to "
        f"liquidation) is only a bound: the states are capped at {cap}, no order"
    )
    log.error("%s: %s", setup.name, text)
    await g._alert(setup.name, "critical", "evaluation", text, dedup="unrated", coins=held)


def next_state(
    setup: AccountSetup, extra: dict[str, Any], current: Level, ratio: float, distance: float, p_liq: float
) -> Level:
    """A position's next level (:func:`levguard.live.states.next_level`), given the figures of
    :func:`compare` (``extra``; empty for a single-wallet account).

    With a coin held and counted at 0 (``collateral_unrated``), levguard's own figures (its
    distance to the liquidation price and P(liq), both from that model) are bounds, not
    measurements: the level follows ``ratio`` alone (the venue's, :func:`compare`); with
    ``state_capped`` (no ratio from the venue either) it stays below ``setup.act_level``: no order
    is placed on the strength of a coin levguard counts at 0.
    """
    if not extra.get("collateral_unrated"):
        return next_level(current, setup.thresholds, ratio, distance, p_liq)
    new = next_level(current, setup.thresholds, ratio, math.nan, math.nan)
    if extra.get("state_capped"):
        new = Level(min(new, max(0, int(setup.act_level) - 1)))
    return new


async def rate_unrated(g: Guardian, setup: AccountSetup, st: AccountState, spec: dict[str, Any]) -> list[str]:
    """Give every coin of a unified ``spec`` that has no collateral ratio (none from the venue, none
    in the built-in table) the ratio 0; return the coins held that now count nothing.

    A coin held counts at 0 (conservative: its value is unknown to levguard, not to the venue), a
    debt in it at face value (a negative amount is never haircut; its price is still required,
    and without one the evaluation fails as before).  The held ones are named in a
    ``collateral_unrated`` warning (repeated every ``alert_repeat_s`` while they last).
    :func:`levguard.evaluate_account` itself refuses such a coin (``InputError``) unless its
    caller gives the ratio, as this does.
    """
    venue = UNIFIED_VENUES.get(str(spec.get("venue")))
    if venue is None:
        st.unrated = []
        return []
    given = spec.setdefault("collateral_ratios", {})
    balances, borrowed = spec.get("balances") or {}, spec.get("borrowed") or {}
    held = []
    for coin in dict.fromkeys([*balances, *borrowed]):
        if coin in given or venue.table.get(coin) is not None:
            continue
        given[coin] = 0.0
        if balances.get(coin, 0.0) - borrowed.get(coin, 0.0) > 0.0:
            held.append(coin)
    st.unrated = held
    if held:
        source = getattr(st.unified, "collateral_source", None)
        await g._alert(
            setup.name,
            "warning",
            "collateral_unrated",
            f"no collateral ratio for {', '.join(held)} on {venue.name} (collateral: {source or 'built-in table'}): "
            "counted at 0 until the venue's table or collateral_ratios gives one",
            dedup="coins",
            coins=held,
        )
    return held


def has_debts(read_: Any) -> bool:
    """True when a unified read owes something (a negative balance or a loan)."""
    if read_ is None:
        return False
    return any(x < 0.0 for x in read_.balances.values()) or any(x > 0.0 for x in read_.borrowed.values())


async def debts_only(
    g: Guardian,
    setup: AccountSetup,
    st: AccountState,
    balance: VenueBalance,
    now: int,
    others: dict[str, str],
    positions: list[Any],
) -> dict[str, Any] | None:
    """The cycle of a unified account holding no position but owing something (None otherwise).

    A loan against collateral is liquidated without any position: Binance Portfolio Margin
    ("liquidation can occur ... even if there are no open positions", when uniMMR falls to its
    trigger through the loans' MarginMM) and Bybit (Total Maintenance Margin includes the
    maintenance margin of borrowed assets).  The account is evaluated (its ratio, the venue's,
    :func:`compare`) and its state, on :func:`state_ratio` against the thresholds' ``margin_ratio``,
    is kept on ``st.loans`` and alerted as ``account`` (``state`` alerts); no order is placed (no
    position to reduce: repaying the loan or adding collateral is the operator's).  Once the
    account owes nothing or holds positions again, ``st.loans`` moves back to OK (an ``info`` state
    alert), so the next loan episode is alerted again.
    """
    if positions or not has_debts(st.unified):
        if st.loans.level != Level.OK:
            why = "positions held again (their states cover the account)" if positions else "nothing owed"
            await g._move(setup, st.loans, Level.OK, "account (loans, no position)", "account", why)
        return None
    spec = account_spec(setup.venue.name, balance, [], {}, st.unified)
    await rate_unrated(g, setup, st, spec)
    g.last_specs[setup.name] = spec
    try:
        report = st.margin.report(spec)
    except LevguardError as exc:
        await g._alert(setup.name, "critical", "evaluation", f"cannot evaluate the account: {exc}")
        return {"account": setup.name, "status": "error", "error": str(exc)}
    extra = await compare(g, setup, st, report)
    ratio = extra["state_ratio"]
    new = next_state(setup, extra, st.loans.level, ratio, math.nan, math.nan)
    detail = f"account ratio {ratio:.4f} of the way to liquidation, loans and no position"
    await g._move(setup, st.loans, new, "account (loans, no position)", "account", detail, margin_ratio=ratio)
    figures = {
        "equity": report.equity,
        "wallet_balance": balance.wallet_balance,
        "margin_ratio": report.margin_ratio,
        "positions": [],
        **watch.figures(others),
        **extra,
    }
    g._pending_snapshots.append((setup.name, now, new.name, figures))
    out = {"account": setup.name, "status": "ok", "level": int(new), "state": new.name, "positions": [], **extra}
    return watch.mark(setup, out, others)
