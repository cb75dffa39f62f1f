"""Chaos harness: guardian processes SIGKILLed at random moments while orders are in flight.

Each *lane* runs one paper-venue server process (:mod:`fakes.paper_remote`: orders reach the
venue 0-3 s after they are sent; the client gives up after 1 s) and a sequence of *episodes*.
An episode resets the venue to a 10x BTC long, drops the price to make it 12x (ACT for the guardian),
and runs a guardian process (:mod:`chaos_guardian`) on a fresh SQLite store; ``kills_per_episode``
times it SIGKILLs the guardian at a random moment 0.3-4 s after its start (mostly just after the
server has received an order, so that the order is in flight) and starts it again on the same
store: each kill and restart is one *trial*.  Then the last guardian runs until nothing is pending,
is killed, the orders still travelling land, and :func:`check_episode` compares the server's
arrival log with the guardian's store.

Counted (each must be 0):

* ``duplicate_fills`` -- one decision filled twice: two fills with one client order id, or two
  filled orders with the same (account, symbol, seq).
* ``stacked_reductions`` -- an order decided without an earlier order's fill: the venue's position
  when it arrived differs from the position the guardian decided on (its ``deleverage`` audit
  row), or it was sent while an earlier order that then filled was still in flight.
* ``over_reductions`` -- a fill that flipped the position or left its leverage below the target
  (prices are constant after the drop, so the target size is fixed: ``leverage >= target x (1 -
  1e-6)``).
* ``orders_without_write_ahead`` -- an order that reached the venue without an order row in the
  store whose ``intent_ns`` is at or before the moment it was sent (the server's receipt time, and
  the request's ``sent_ns`` when set).
* ``lost_audit_rows`` -- an order row without a ``deleverage`` audit row naming its client order
  id, or an audit row count that went down between two guardian runs.
* ``fills_recorded_unfilled`` -- an order the venue filled that the store records with a final
  status saying otherwise (``expired``, ``rejected``, ``canceled``, or another filled quantity).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fakes.paper_remote import control
from levguard.live.guardian import client_order_id
from levguard.live.store import Store

TESTS = Path(__file__).resolve().parents[1]
_MIGRATING = threading.Lock()  # alembic's migration context is process-global: one lane at a time
GUARDIAN_SCRIPT = Path(__file__).resolve().parent / "chaos_guardian.py"
SYMBOL = "BTCUSDT"
VIOLATIONS = (
    "duplicate_fills",
    "stacked_reductions",
    "over_reductions",
    "orders_without_write_ahead",
    "lost_audit_rows",
    "fills_recorded_unfilled",
)


@dataclass(frozen=True)
class ChaosConfig:
    """What the harness runs (defaults: the CI test, ~1-2 minutes on 2 cores)."""

    trials: int = 30
    lanes: int = 2
    # More rounds of ``lanes`` episodes until this many kills hit an order in flight (the timing
    # of a loaded machine can make a planned round land fewer), up to ``max_trials`` in all.
    min_kills_in_flight: int = 0
    max_trials: int = 0
    kills_per_episode: int = 5
    seed: int = 14
    latency_s: tuple[float, float] = (0.0, 3.0)
    client_timeout_s: float = 1.0
    order_expiry_s: float = 2.5
    kill_window_s: tuple[float, float] = (0.3, 4.0)
    kill_after_request_share: float = 0.9
    request_grace_s: float = 2.0
    settle_max_s: float = 8.0
    target_leverage: float = 3.0
    step_fraction: float = 0.5
    cooldown_s: float = 0.5
    price: float = 60_000.0
    shock_leverage: float = 12.0
    qty: float = 2.0
    wallet: float = 12_000.0


@dataclass
class ChaosCounts:
    """Violations (first six) and what happened (the rest) over episodes."""

    duplicate_fills: int = 0
    stacked_reductions: int = 0
    over_reductions: int = 0
    orders_without_write_ahead: int = 0
    lost_audit_rows: int = 0
    fills_recorded_unfilled: int = 0
    trials: int = 0
    episodes: int = 0
    guardian_starts: int = 0
    kills_after_request: int = 0
    kills_in_flight: int = 0  # kills while the venue held an order that had not landed yet
    requests: int = 0
    orders: int = 0
    fills: int = 0
    late_fills: int = 0
    duplicates_at_venue: int = 0
    rejected: int = 0
    refused: int = 0
    recorded_expired: int = 0
    liquidations: int = 0
    unsettled_episodes: int = 0
    guardian_crashes: int = 0
    server_errors: int = 0

    def add(self, other: ChaosCounts) -> None:
        """Add ``other`` into this."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def violations(self) -> dict[str, int]:
        """The counts that must be 0."""
        return {k: getattr(self, k) for k in VIOLATIONS}


@dataclass
class ChaosResult:
    """Counts, the violation details, timings."""

    counts: ChaosCounts = field(default_factory=ChaosCounts)
    details: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    episode_s: list[float] = field(default_factory=list)

    def summary(self) -> str:
        """One block of text: violations, then what happened."""
        c = asdict(self.counts)
        lines = [f"chaos: {self.counts.trials} trials in {self.counts.episodes} episodes, {self.wall_s:.1f} s"]
        lines.append("  violations: " + ", ".join(f"{k}={c[k]}" for k in VIOLATIONS))
        lines.append("  activity:   " + ", ".join(f"{k}={v}" for k, v in c.items() if k not in VIOLATIONS))
        if self.episode_s:
            s = sorted(self.episode_s)
            lines.append(f"  episode time: median {s[len(s) // 2]:.1f} s, max {s[-1]:.1f} s")
        lines.extend(f"  - {d}" for d in self.details[:40])
        if len(self.details) > 40:
            lines.append(f"  ... {len(self.details) - 40} more")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The checker (pure: server events and store rows in, counts and details out)
# --------------------------------------------------------------------------------------------


def _seqs(orders: list[dict[str, Any]], account: str, symbol: str) -> dict[str, int]:
    # The (account, symbol) sequence number of each order: from the deterministic client order id
    # (client_order_id(account, symbol, seq)) when every id matches one, else the rank by intent time.
    by_id = {client_order_id(account, symbol, s): s for s in range(len(orders) + 16)}
    if all(o["client_order_id"] in by_id for o in orders):
        return {o["client_order_id"]: by_id[o["client_order_id"]] for o in orders}
    ranked = sorted(orders, key=lambda o: (o["intent_ns"], o["client_order_id"]))
    return {o["client_order_id"]: i for i, o in enumerate(ranked)}


def check_episode(
    events: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    audits: list[dict[str, Any]],
    audit_counts: list[int],
    *,
    account: str,
    target_leverage: float,
    client_timeout_s: float,
    symbol: str = SYMBOL,
) -> tuple[ChaosCounts, list[str]]:
    """Count violations in one episode (see the module docstring).

    ``events`` are the server's log rows of the episode, ``orders`` and ``audits`` the store's
    rows of the account, ``audit_counts`` the audit row count after each guardian run.
    """
    c = ChaosCounts()
    details: list[str] = []
    requests = [e for e in events if e["event"] == "request"]
    arrivals = [e for e in events if e["event"] == "arrival"]
    first_sent: dict[str, int] = {}
    stamped: dict[str, list[int]] = {}
    for r in requests:
        first_sent[r["cid"]] = min(first_sent.get(r["cid"], r["received_ns"]), r["received_ns"])
        stamped.setdefault(r["cid"], []).append(int(r["sent_ns"]))
    filled = [a for a in arrivals if a["status"] == "filled"]
    store = {o["client_order_id"]: o for o in orders}
    decisions = {
        str(a["decision"].get("client_order_id")): a
        for a in audits
        if a["event"] == "deleverage" and isinstance(a.get("decision"), dict)
    }
    c.requests, c.orders, c.fills = len(requests), len(orders), len(filled)
    c.duplicates_at_venue = sum(a["status"] == "duplicate" for a in arrivals)
    c.rejected = sum(a["status"] == "rejected" for a in arrivals)
    c.refused = sum(a["status"] == "refused" for a in arrivals)
    c.recorded_expired = sum(o["status"] == "expired" for o in orders)
    c.liquidations = sum(e["event"] == "liquidation" for e in events)
    c.late_fills = sum(a["wall_ns"] - first_sent.get(a["cid"], a["wall_ns"]) >= client_timeout_s * 1e9 for a in filled)

    # 1. Duplicate fills: by client order id, and by (account, symbol, seq).
    seq = _seqs(orders, account, symbol)
    for cid, n in Counter(a["cid"] for a in filled).items():
        if n > 1:
            c.duplicate_fills += n - 1
            details.append(f"duplicate fill: {cid} filled {n} times")
    per_seq = Counter(seq[cid] for cid in {a["cid"] for a in filled} if cid in seq)
    for s, n in per_seq.items():
        if n > 1:
            c.duplicate_fills += n - 1
            details.append(f"duplicate fill: seq {s} of {account}/{symbol} filled under {n} client ids")

    # 2. Stacked reductions.
    for b in filled:
        cid = b["cid"]
        why = []
        decision = decisions.get(cid)
        observed = decision["inputs"].get("qty") if decision is not None else None
        if isinstance(observed, int | float) and not math.isclose(
            b["position_before"], observed, rel_tol=1e-9, abs_tol=1e-12
        ):
            why.append(f"decided on position {observed:g}, the venue had {b['position_before']:g} when it arrived")
        t_b = first_sent.get(cid)
        for a in filled:
            t_a = first_sent.get(a["cid"])
            if a is not b and t_a is not None and t_b is not None and t_a < t_b < a["wall_ns"]:
                lag = (a["wall_ns"] - t_b) / 1e9
                why.append(f"sent while {a['cid']} (filled {lag:.2f} s later) was in flight")
        if why:
            c.stacked_reductions += 1
            details.append(f"stacked reduction: {cid} (seq {seq.get(cid)}) " + "; ".join(why))

    # 3. Over-reduction: a flip, or a leverage below the target after a fill.
    floor = target_leverage * (1.0 - 1e-6)
    for b in filled:
        flipped = b["position_before"] * b["position_after"] < 0.0
        if flipped or b["leverage_after"] < floor:
            c.over_reductions += 1
            details.append(
                f"over-reduction: {b['cid']} took the position {b['position_before']:g} -> {b['position_after']:g}, "
                f"leverage {b['leverage_after']:.4f}x < target {target_leverage:g}x"
            )

    # 4. Write-ahead: every order that reached the venue was recorded before it was sent.
    for cid, t in first_sent.items():
        row = store.get(cid)
        late_intent = row is not None and (
            row["intent_ns"] > t or any(s > 0 and row["intent_ns"] > s for s in stamped[cid])
        )
        if row is None or late_intent:
            c.orders_without_write_ahead += 1
            details.append(
                f"no write-ahead: {cid} reached the venue "
                + ("with no order row" if row is None else f"before its intent ({row['intent_ns']} > {t})")
            )

    # 5. Audit rows: one deleverage row per order, and never fewer rows after a restart.
    for cid in store:
        if cid not in decisions:
            c.lost_audit_rows += 1
            details.append(f"lost audit row: order {cid} ({store[cid]['status']}) has no deleverage audit row")
    for before, after in itertools.pairwise(audit_counts):
        if after < before:
            c.lost_audit_rows += before - after
            details.append(f"lost audit rows: the audit log shrank from {before} to {after} rows")

    # 6. The store's final word agrees with the venue's fills.
    for b in filled:
        row = store.get(b["cid"])
        if row is None:
            continue
        wrong = row["status"] in ("expired", "rejected", "canceled") or (
            row["status"] == "closed" and not math.isclose(row["filled"], b["filled"], rel_tol=1e-9)
        )
        if wrong:
            c.fills_recorded_unfilled += 1
            details.append(
                f"fill recorded as {row['status']} (filled {row['filled']:g}): {b['cid']} filled "
                f"{b['filled']:g} at the venue"
            )
    return c, details


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
    env.setdefault("NUMBA_NUM_THREADS", "1")
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGKILL a process this harness started, and reap it.
    if proc.poll() is None:
        proc.kill()
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextmanager
def paper_server(workdir: Path, name: str) -> Iterator[tuple[int, Path]]:
    """Start a paper-venue server process; yield its port and log path; stop it."""
    port_file, log = workdir / f"{name}.port", workdir / f"{name}.jsonl"
    with open(workdir / f"{name}.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fakes.paper_remote", "--port-file", str(port_file), "--log", str(log)],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 30.0
            while not port_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"paper server did not start (see {workdir / (name + '.err')})")
                time.sleep(0.05)
            yield int(port_file.read_text()), log
        finally:
            with suppress(Exception):
                control(int(port_file.read_text()), "stop", timeout_s=2.0)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=3)
            _stop(proc)


class _Guardian:
    """The guardian process of one episode (started again after every kill)."""

    def __init__(self, cfg: ChaosConfig, port: int, db: Path, account: str, log: Path) -> None:
        self.args = [
            sys.executable,
            str(GUARDIAN_SCRIPT),
            "--port", str(port),
            "--db", str(db),
            "--account", account,
            "--client-timeout-s", str(cfg.client_timeout_s),
            "--target-leverage", str(cfg.target_leverage),
            "--step-fraction", str(cfg.step_fraction),
            "--cooldown-s", str(cfg.cooldown_s),
        ]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.starts = 0
        self.crashes = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        self.started = time.monotonic()
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is not None:
                self.crashes += 1  # it died before we killed it
            _stop(self.proc)
            self.proc = None


def _read_events(log: Path, episode: int) -> list[dict[str, Any]]:
    out = []
    with open(log, encoding="utf-8") as fh:
        for line in fh:
            with suppress(ValueError):
                row = json.loads(line)
                if row.get("episode") == episode:
                    out.append(row)
    return out


def _audit_count(store: Store, account: str) -> int:
    return len(store.audit_log(account=account, limit=10_000_000))


def _wait_kill_moment(cfg: ChaosConfig, port: int, g: _Guardian, rng: random.Random) -> bool:
    """Sleep until the moment to kill; True when it follows an order request."""
    lo, hi = cfg.kill_window_s
    if rng.random() < cfg.kill_after_request_share:
        # Wait for an order to leave (a slow start-up may need longer than the window).
        seen = control(port, "state")["requests"]
        while time.monotonic() < g.started + hi + cfg.request_grace_s:
            if control(port, "state")["requests"] > seen and time.monotonic() >= g.started + lo:
                time.sleep(rng.uniform(0.0, 0.3))
                return True
            time.sleep(0.02)
        return False
    time.sleep(max(g.started + rng.uniform(lo, hi) - time.monotonic(), 0.0))
    return False


def _settle(cfg: ChaosConfig, port: int, store: Store, account: str, g: _Guardian) -> bool:
    """Let the last guardian run until nothing is pending (bounded); True when settled."""
    while time.monotonic() < g.started + cfg.settle_max_s:
        st = control(port, "state")
        quiet = time.time_ns() - st["last_request_ns"] > 1.5e9
        up = time.monotonic() - g.started > 2.5
        if up and quiet and st["in_flight"] == 0 and not store.unresolved_orders(account):
            return True
        time.sleep(0.1)
    return False


def run_episode(
    cfg: ChaosConfig, port: int, log: Path, workdir: Path, name: str, kills: int, rng: random.Random
) -> tuple[ChaosCounts, list[str], float]:
    """One scenario on a fresh venue and store: ``kills`` kill-and-restart trials, then check."""
    t0 = time.monotonic()
    account = name
    episode = control(
        port,
        "reset",
        seed=rng.randrange(2**31),
        price=cfg.price,
        entry=cfg.price,
        qty=cfg.qty,
        wallet=cfg.wallet,
        order_expiry_s=cfg.order_expiry_s,
        latency_lo=cfg.latency_s[0],
        latency_hi=cfg.latency_s[1],
    )["episode"]
    control(port, "shock", to_leverage=cfg.shock_leverage)
    with _MIGRATING:
        store = Store(f"sqlite:///{workdir / (name + '.db')}")
    counts = ChaosCounts(episodes=1, trials=kills)
    g = _Guardian(cfg, port, workdir / (name + ".db"), account, workdir / f"{name}.guardian.log")
    audit_counts: list[int] = []
    try:
        store.upsert_account(account, "binance-usdm", live_enabled=True, policy=None)
        try:
            g.start()
            for trial in range(kills):
                after_request = _wait_kill_moment(cfg, port, g, rng)
                counts.kills_after_request += after_request
                st = control(port, "state")
                g.kill()
                counts.kills_in_flight += st["in_flight"] > 0
                with open(workdir / f"{name}.trials.jsonl", "a", encoding="utf-8") as fh:
                    row = {"trial": trial, "alive_s": time.monotonic() - g.started, "after_request": after_request}
                    fh.write(json.dumps({**row, "requests": st["requests"], "in_flight": st["in_flight"]}) + "\n")
                audit_counts.append(_audit_count(store, account))
                if not control(port, "state")["in_flight"]:  # keep the price of orders in flight
                    control(port, "shock", to_leverage=cfg.shock_leverage)  # back to ACT
                g.start()
            counts.unsettled_episodes += not _settle(cfg, port, store, account, g)
        finally:
            g.kill()
        deadline = time.monotonic() + cfg.latency_s[1] + 2.0
        while control(port, "state")["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        audit_counts.append(_audit_count(store, account))
        found, details = check_episode(
            _read_events(log, episode),
            store.orders(account=account, limit=1_000_000),
            store.audit_log(account=account, event="deleverage", limit=1_000_000),
            audit_counts,
            account=account,
            target_leverage=cfg.target_leverage,
            client_timeout_s=cfg.client_timeout_s,
        )
    finally:
        store.close()
    counts.add(found)
    counts.guardian_starts += g.starts
    counts.guardian_crashes += g.crashes
    if g.crashes:
        details.append(f"the guardian died {g.crashes} time(s) on its own (see {g.log})")
    return counts, [f"{name}: {d}" for d in details], time.monotonic() - t0


def run_chaos(cfg: ChaosConfig, workdir: Path) -> ChaosResult:
    """Run ``cfg.trials`` kill-and-restart trials over ``cfg.lanes`` servers; count violations.

    With ``min_kills_in_flight``, further rounds of one episode per lane run until that many
    kills have hit an order in flight or ``max_trials`` trials have run."""
    t0 = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    n_episodes = max(math.ceil(cfg.trials / cfg.kills_per_episode), 1)
    plan = [min(cfg.kills_per_episode, cfg.trials - i * cfg.kills_per_episode) for i in range(n_episodes)]
    result = ChaosResult()
    _run_round(cfg, workdir, plan, 0, result)
    extra = 0
    while (
        result.counts.kills_in_flight < cfg.min_kills_in_flight
        and result.counts.trials + cfg.kills_per_episode <= cfg.max_trials
    ):
        extra += 1
        more = min(cfg.lanes, (cfg.max_trials - result.counts.trials) // cfg.kills_per_episode)
        _run_round(cfg, workdir, [cfg.kills_per_episode] * max(more, 1), extra, result)
    result.wall_s = time.monotonic() - t0
    return result


def _run_round(cfg: ChaosConfig, workdir: Path, plan: list[int], round_: int, result: ChaosResult) -> None:
    n_episodes = len(plan)
    lanes = max(min(cfg.lanes, n_episodes), 1)

    def lane(k: int) -> list[tuple[ChaosCounts, list[str], float]]:
        rng = random.Random(cfg.seed * 1_000 + round_ * 100 + k)
        out = []
        with paper_server(workdir, f"server{round_}-{k}") as (port, log):
            for e in range(k, n_episodes, lanes):
                out.append(run_episode(cfg, port, log, workdir, f"round{round_}-lane{k}-ep{e}", plan[e], rng))
            server_errors = control(port, "state")["server_errors"]
        if out:
            out[-1][0].server_errors += server_errors
        return out

    with ThreadPoolExecutor(max_workers=lanes) as pool:
        for episodes in pool.map(lane, range(lanes)):
            for counts, details, seconds in episodes:
                result.counts.add(counts)
                result.details.extend(details)
                result.episode_s.append(seconds)
