"""A :class:`~levguard.venues.paper.PaperVenue` behind a process boundary, for chaos tests.

The server hosts one paper venue on 127.0.0.1 (asyncio streams, one JSON line per request and
one per reply, one connection per call) and steps its ticks on wall time, so the venue's
``now_ns`` trails the wall clock by less than one tick (10 ms: an order expiry is enforced to
within 10 ms).  Every ``create_order`` reaches the venue after a random latency, uniform in
``[latency_lo, latency_hi]`` seconds (seeded per scenario), through
:meth:`levguard.venues.paper.Faults.order_latency`; the request and the arrival are appended to a
JSON-lines log (``event``: ``reset``, ``shock``, ``request``, ``arrival``,
``liquidation``) with wall-clock times, for checkers.  The server outlives the guardian processes
that talk to it; a ``reset`` starts a new scenario (an *episode*) with a fresh venue.

:class:`RemotePaperVenue` is the client: the :class:`~levguard.venues.base.Venue` protocol with a
client-side timeout (:class:`VenueRetryableError` on timeout), so an order whose latency exceeds
it times out at the caller and lands later.  :func:`control` is a blocking client for the
control calls (``info``, ``reset``, ``shock`` by a ``drop`` or ``to_leverage``, ``state``,
``stop``) from a test process.

Run the server: ``python -m fakes.paper_remote --port-file P --log L`` (with ``tests`` on the
path); it writes its port to ``P`` once listening and exits on ``stop``, when its parent process
dies, or after ``--max-lifetime-s``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from levguard.core.tiers import TierTable
from levguard.errors import (
    InputError,
    VenueAuthError,
    VenueError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition
from levguard.venues.paper import Arrival, PaperVenue

HOST = "127.0.0.1"
_KINDS: dict[str, type[VenueError]] = {
    "auth": VenueAuthError,
    "rate_limit": VenueRateLimitError,
    "retryable": VenueRetryableError,
    "permanent": VenuePermanentError,
}


def _kind(exc: VenueError) -> str:
    # Most specific class first (VenueAuthError is a VenuePermanentError...).
    for kind, cls in _KINDS.items():
        if isinstance(exc, cls):
            return kind
    return "permanent"


def _raise(reply: dict[str, Any]) -> NoReturn:
    raise _KINDS.get(str(reply.get("kind")), VenueRetryableError)(str(reply.get("msg", "paper remote: error")))


def _encode(method: str, args: dict[str, Any]) -> bytes:
    return json.dumps({"m": method, "a": args}).encode() + b"\n"


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------


def control(port: int, method: str, *, timeout_s: float = 5.0, **args: Any) -> Any:
    """Call the server from synchronous code (a test process); raise the venue error it returns."""
    with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
        sock.sendall(_encode(method, args))
        buf = b""
        deadline = time.monotonic() + timeout_s
        while not buf.endswith(b"\n") and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    if not buf.endswith(b"\n"):
        raise VenueRetryableError(f"paper remote: {method} got no complete answer")
    reply = json.loads(buf)
    if not reply.get("ok"):
        _raise(reply)
    return reply.get("r")


class RemotePaperVenue:
    """The :class:`~levguard.venues.base.Venue` protocol over a paper-venue server.

    Every call opens a connection to 127.0.0.1, sends one JSON line and waits at most
    ``timeout_s`` for the answer: a timeout or a refused connection raises
    :class:`VenueRetryableError` (the request may still be processed: an order then lands
    later).  Build it with :meth:`connect`, which reads the venue's name and capabilities.
    """

    def __init__(self, port: int, *, name: str, capabilities: Capabilities, timeout_s: float = 1.0) -> None:
        self.port = int(port)
        self.name = name
        self.capabilities = capabilities
        self.timeout_s = float(timeout_s)

    @classmethod
    async def connect(cls, port: int, *, timeout_s: float = 1.0, attempts: int = 20) -> RemotePaperVenue:
        """Read the server's venue name and capabilities (``attempts`` tries, 0.1 s apart)."""
        probe = cls(port, name="?", capabilities=Capabilities(), timeout_s=max(timeout_s, 2.0))
        for attempt in range(attempts):
            try:
                info = await probe._rpc("info", {})
                break
            except VenueRetryableError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1)
        known = {f.name for f in dataclasses.fields(Capabilities)}
        caps = {k: v for k, v in info["capabilities"].items() if k in known}
        if "notes" in caps:
            caps["notes"] = tuple(caps["notes"])
        return cls(port, name=str(info["name"]), capabilities=Capabilities(**caps), timeout_s=timeout_s)

    async def _exchange(self, method: str, args: dict[str, Any]) -> Any:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        try:
            writer.write(_encode(method, args))
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
        if not line:
            raise VenueRetryableError(f"paper remote: {method}: connection closed without an answer")
        reply = json.loads(line)
        if not reply.get("ok"):
            _raise(reply)
        return reply.get("r")

    async def _rpc(self, method: str, args: dict[str, Any]) -> Any:
        try:
            return await asyncio.wait_for(self._exchange(method, args), self.timeout_s)
        except TimeoutError:
            raise VenueRetryableError(f"paper remote: {method} timed out after {self.timeout_s:g} s") from None
        except (OSError, ValueError) as exc:  # refused, reset, a garbled line
            raise VenueRetryableError(f"paper remote: {method} failed: {exc}") from None

    async def fetch_positions(self) -> list[VenuePosition]:
        """Open positions."""
        return [VenuePosition(**row) for row in await self._rpc("fetch_positions", {})]

    async def fetch_balance(self) -> VenueBalance:
        """The margin wallet."""
        return VenueBalance(**await self._rpc("fetch_balance", {}))

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        """Marks of ``symbols``."""
        return {str(k): float(v) for k, v in (await self._rpc("fetch_marks", {"symbols": list(symbols)})).items()}

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        """The symbol's tiers (rows over the wire)."""
        got = await self._rpc("fetch_tiers", {"symbol": symbol})
        return None if got is None else TierTable.from_rows(got["rows"], source=str(got["source"]))

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        """The funding rate per interval."""
        got = await self._rpc("fetch_funding_rate", {"symbol": symbol})
        return None if got is None else float(got)

    async def create_order(self, request: OrderRequest) -> OrderState:
        """Send the order; a timeout means its outcome is unknown (it may land later)."""
        return OrderState(**await self._rpc("create_order", dataclasses.asdict(request)))

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        """The order with this client id, or None when the venue has never seen it."""
        got = await self._rpc("fetch_order", {"symbol": symbol, "client_order_id": client_order_id})
        return None if got is None else OrderState(**got)

    async def close(self) -> None:
        """Tell the server's venue (best effort); the server keeps running."""
        with contextlib.suppress(VenueError):
            await self._rpc("close", {})


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Episode:
    number: int
    venue: PaperVenue
    rng: random.Random
    latency: tuple[float, float]
    symbol: str
    requests: int = 0
    last_request_ns: int = 0


class PaperServer:
    """Hosts one paper venue per episode; see the module docstring."""

    def __init__(self, log_path: Path, *, tick_ns: int = 10_000_000) -> None:
        self.log_path = log_path
        self.tick_ns = int(tick_ns)
        self.episode: _Episode | None = None
        self.errors = 0
        self.stop = asyncio.Event()
        self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the server's life

    def log(self, event: str, **data: Any) -> None:
        """Append one event with the wall clock."""
        self._log.write(json.dumps({"event": event, "wall_ns": time.time_ns(), **data}) + "\n")
        self._log.flush()

    def close(self) -> None:
        """Close the log."""
        self._log.close()

    # -- control calls
    def reset(self, args: dict[str, Any]) -> dict[str, Any]:
        """Start a new episode: a fresh venue holding one position at ``price``."""
        symbol = str(args.get("symbol", "BTCUSDT"))
        number = (self.episode.number if self.episode else 0) + 1
        start_ns = time.time_ns()
        venue = PaperVenue(
            str(args.get("venue", "binance-usdm")),
            feeds={symbol: [float(args.get("price", 60_000.0))]},
            wallet_balance=float(args.get("wallet", 12_000.0)),
            positions=[
                {"symbol": symbol, "qty": float(args.get("qty", 2.0)), "entry": float(args.get("entry", 60_000.0))}
            ],
            funding_rate=0.0,
            start_ns=start_ns,
            tick_ns=self.tick_ns,
            order_expiry_s=args.get("order_expiry_s"),
        )
        lo, hi = float(args.get("latency_lo", 0.0)), float(args.get("latency_hi", 3.0))
        ep = _Episode(number, venue, random.Random(args.get("seed", number)), (lo, hi), symbol)
        venue.on_arrival = self._arrival_logger(ep)
        self.episode = ep
        self.log("reset", episode=number, args=args, start_ns=start_ns)
        return {"episode": number, "start_ns": start_ns}

    def _arrival_logger(self, ep: _Episode) -> Callable[[Arrival], None]:
        def log_arrival(a: Arrival) -> None:
            venue = ep.venue
            report = venue.evaluate()
            mark = venue.marks()[ep.symbol]
            leverage = abs(a.position_after) * mark / report.equity if report.equity > 0 else float("inf")
            self.log(
                "arrival",
                episode=ep.number,
                cid=a.client_order_id,
                sent_ns=a.sent_ns,
                arrival_ns=a.arrival_ns,
                status=a.status,
                qty=a.qty,
                filled=a.filled,
                price=a.price,
                position_before=a.position_before,
                position_after=a.position_after,
                mark=mark,
                equity_after=report.equity,
                leverage_after=leverage,
                reason=a.reason,
            )

        return log_arrival

    def state(self) -> dict[str, Any]:
        """What the test polls: counts, the position, orders in flight."""
        ep = self.episode
        if ep is None:
            return {"episode": 0, "server_errors": self.errors}
        v = ep.venue
        qty = sum(float(p["qty"]) for p in v.account_spec()["positions"] if p["symbol"] == ep.symbol)
        return {
            "episode": ep.number,
            "requests": ep.requests,
            "last_request_ns": ep.last_request_ns,
            "arrivals": len(v.arrivals),
            "fills": len(v.fills),
            "in_flight": v.in_flight,
            "liquidations": len(v.liquidations),
            "position": qty,
            "mark": v.marks()[ep.symbol],
            "now_ns": v.now_ns,
            "server_errors": self.errors,
        }

    # -- dispatch
    def _venue(self) -> _Episode:
        if self.episode is None:
            raise VenueRetryableError("paper remote: no scenario yet (reset first)")
        return self.episode

    async def dispatch(self, method: str, args: dict[str, Any]) -> Any:
        """Run one call; returns JSON-able data."""
        if method == "reset":
            return self.reset(args)
        if method == "stop":
            self.stop.set()
            return None
        if method == "state":
            return self.state()
        ep = self._venue()
        v = ep.venue
        if method == "info":
            caps = dataclasses.asdict(v.capabilities)
            return {"name": v.name, "capabilities": caps, "episode": ep.number}
        if method == "shock":
            drop = float(args["drop"]) if "drop" in args else self._drop_to(ep, float(args["to_leverage"]))
            if drop > 0.0:
                v.shock(ep.symbol, drop, int(args.get("ticks", 1)))
            self.log("shock", episode=ep.number, args=args, drop=drop)
            return {"drop": drop}
        if method == "fetch_positions":
            return [dataclasses.asdict(p) for p in await v.fetch_positions()]
        if method == "fetch_balance":
            return dataclasses.asdict(await v.fetch_balance())
        if method == "fetch_marks":
            return await v.fetch_marks([str(s) for s in args["symbols"]])
        if method == "fetch_tiers":
            table = await v.fetch_tiers(str(args["symbol"]))
            return None if table is None else {"rows": table.to_rows(), "source": table.source}
        if method == "fetch_funding_rate":
            return await v.fetch_funding_rate(str(args["symbol"]))
        if method == "create_order":
            return await self._create_order(ep, args)
        if method == "fetch_order":
            state = await v.fetch_order(str(args["symbol"]), str(args["client_order_id"]))
            return None if state is None else dataclasses.asdict(state)
        if method == "close":
            await v.close()
            return None
        raise VenuePermanentError(f"paper remote: unknown method {method!r}")

    @staticmethod
    def _drop_to(ep: _Episode, leverage: float) -> float:
        # The price fall that takes the long to ``leverage`` (0 when it is there already):
        # q P / (W + q (P - E)) = L  =>  P = L (q E - W) / (q (L - 1)).
        spec = ep.venue.account_spec()
        rows = [p for p in spec["positions"] if p["symbol"] == ep.symbol]
        if not rows or rows[0]["qty"] <= 0.0 or leverage <= 1.0:
            return 0.0
        q, entry, mark = rows[0]["qty"], rows[0]["entry_price"], rows[0]["mark_price"]
        price = leverage * (q * entry - spec["wallet_balance"]) / (q * (leverage - 1.0))
        return max(1.0 - price / mark, 0.0) if price > 0.0 else 0.0

    async def _create_order(self, ep: _Episode, args: dict[str, Any]) -> dict[str, Any]:
        request = OrderRequest(**args)
        latency = ep.rng.uniform(*ep.latency)
        ep.requests += 1
        ep.last_request_ns = time.time_ns()
        self.log(
            "request",
            episode=ep.number,
            cid=request.client_order_id,
            sent_ns=request.sent_ns,
            received_ns=ep.last_request_ns,
            latency_s=latency,
            side=request.side,
            qty=request.qty,
            n=ep.requests,
        )
        # Nothing yields between adding the one-shot rule and create_order taking it (the venue
        # has no call latency configured), so concurrent orders cannot swap their latencies.
        ep.venue.faults.order_latency(arrive_after_s=latency, times=1)
        return dataclasses.asdict(await ep.venue.create_order(request))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: one request line, one reply line."""
        try:
            line = await asyncio.wait_for(reader.readline(), 10.0)
            if not line:
                return
            req = json.loads(line)
            try:
                reply = {"ok": True, "r": await self.dispatch(str(req["m"]), dict(req.get("a") or {}))}
            except VenueError as exc:
                reply = {"ok": False, "kind": _kind(exc), "msg": str(exc)}
            except (InputError, KeyError, TypeError, ValueError) as exc:
                reply = {"ok": False, "kind": "permanent", "msg": f"paper remote: bad request: {exc!r}"}
            except Exception as exc:
                self.errors += 1
                traceback.print_exc(file=sys.stderr)
                reply = {"ok": False, "kind": "retryable", "msg": f"paper remote: server error: {exc!r}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (OSError, TimeoutError, ValueError):
            pass  # the client went away (its timeout) or sent garbage: nothing to answer
        finally:
            writer.close()

    async def step_forever(self) -> None:
        """Step the venue so that its clock follows the wall clock."""
        half_tick_s = self.tick_ns / 2e9
        while not self.stop.is_set():
            ep = self.episode
            if ep is not None:
                v = ep.venue
                liquidations = len(v.liquidations)
                for _ in range(10_000):  # bounded catch-up after a stall
                    if v.now_ns + v.tick_ns > time.time_ns():
                        break
                    v.step_sync()
                for liq in v.liquidations[liquidations:]:
                    self.log("liquidation", episode=ep.number, qty=liq.qty, price=liq.price, ts_ns=liq.ts_ns)
            await asyncio.sleep(half_tick_s)


async def serve(port_file: Path, log_path: Path, *, tick_ms: float, max_lifetime_s: float) -> None:
    """Listen on 127.0.0.1 (an ephemeral port, written to ``port_file``) until stopped."""
    server = PaperServer(log_path, tick_ns=round(tick_ms * 1e6))
    parent = os.getppid()
    listener = await asyncio.start_server(server.handle, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)
    stepper = asyncio.create_task(server.step_forever())
    deadline = time.monotonic() + max_lifetime_s
    try:
        while not server.stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.stop.wait(), 0.5)
    finally:
        server.stop.set()
        listener.close()
        stepper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stepper
        server.close()


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--port-file``, ``--log``, ``--tick-ms``, ``--max-lifetime-s``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port-file", type=Path, required=True)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--tick-ms", type=float, default=10.0)
    p.add_argument("--max-lifetime-s", type=float, default=900.0)
    args = p.parse_args(argv)
    asyncio.run(serve(args.port_file, args.log, tick_ms=args.tick_ms, max_lifetime_s=args.max_lifetime_s))


if __name__ == "__main__":
    main()
