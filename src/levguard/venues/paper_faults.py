"""Scriptable faults of the paper venue: errors, call latency, stale marks, a crash after accept,
and orders that reach the venue late (:meth:`Faults.order_latency`).

Re-exported by :mod:`levguard.venues.paper` (import them from there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from levguard.core.validate import number, show
from levguard.errors import (
    InputError,
    VenueAuthError,
    VenueError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)

__all__ = ["VENUE_METHODS", "Faults", "OrderDelay"]

VENUE_METHODS = (
    "fetch_positions",
    "fetch_balance",
    "fetch_marks",
    "fetch_tiers",
    "fetch_funding_rate",
    "create_order",
    "fetch_order",
    "cancel_order",
    "close",
)
"""The protocol methods :class:`Faults` can target (``"*"`` targets them all)."""


# --- faults -----------------------------------------------------------------------------------
_ERRORS: dict[str, Callable[[str], VenueError]] = {
    "timeout": lambda m: VenueRetryableError(f"paper venue: {m} timed out (injected)"),
    "5xx": lambda m: VenueRetryableError(f"paper venue: {m} got HTTP 503 (injected)"),
    "retryable": lambda m: VenueRetryableError(f"paper venue: {m} failed transiently (injected)"),
    "rate_limit": lambda m: VenueRateLimitError(f"paper venue: {m} rate-limited, HTTP 429 (injected)"),
    "auth": lambda m: VenueAuthError(f"paper venue: {m} rejected the API key, HTTP 401 (injected)"),
    "permanent": lambda m: VenuePermanentError(f"paper venue: {m} failed permanently (injected)"),
}


@dataclass
class _Rule:
    method: str
    remaining: int | None  # None: until cleared
    make: Callable[[str], VenueError]


@dataclass(frozen=True)
class OrderDelay:
    """How one order travels to the venue (see :meth:`Faults.order_latency`).

    ``arrive_after_s`` real seconds or ``arrive_after_ticks`` simulated ticks (at most one of
    them > 0) pass between the ``create_order`` call and the order reaching the venue;
    ``client_timeout_s`` is how long the caller waits for the answer (None: as long as it takes).
    """

    arrive_after_s: float = 0.0
    arrive_after_ticks: int = 0
    client_timeout_s: float | None = None

    @property
    def immediate(self) -> bool:
        """True when the order reaches the venue within the call (no delay)."""
        return self.arrive_after_s == 0.0 and self.arrive_after_ticks == 0

    @property
    def times_out(self) -> bool:
        """True when the caller gives up before the order arrives: always for a tick delay (the
        call returns at once), and for a delay in seconds longer than ``client_timeout_s``."""
        if self.arrive_after_ticks > 0:
            return True
        return self.client_timeout_s is not None and self.arrive_after_s > self.client_timeout_s


@dataclass
class _DelayRule:
    delay: OrderDelay
    remaining: int | None  # None: until cleared


class Faults:
    """Scriptable faults of a :class:`PaperVenue` (tests and demos).

    Every ``method`` is one of :data:`VENUE_METHODS` or ``"*"`` (all of them); ``times=None``
    keeps a failure on until :meth:`clear`.  Methods return ``self`` so calls chain.

    * :meth:`fail` -- the next ``times`` calls raise: ``error`` is ``"timeout"``, ``"5xx"``,
      ``"retryable"`` (:class:`VenueRetryableError`), ``"rate_limit"``
      (:class:`VenueRateLimitError`), ``"auth"`` (:class:`VenueAuthError`), ``"permanent"``, or
      an exception instance.  Rules are consumed in the order they were added.
    * :meth:`add_latency` -- every call of ``method`` first awaits ``asyncio.sleep(seconds)``.
    * :meth:`freeze_marks` -- stale data: reported marks and timestamps stop at the current tick
      while the simulated market (fills, funding, liquidations) moves on.
    * :meth:`crash_after_accept` -- the next ``times`` orders are recorded and filled, then
      ``create_order`` raises :class:`VenueRetryableError` (a timeout after the venue accepted):
      the caller must reconcile with ``fetch_order`` by client order id.
    * :meth:`order_latency` -- the next ``times`` orders reach the venue only after a delay, in
      simulated ticks or real seconds; a caller that stops waiting gets
      :class:`VenueRetryableError` ("timed out") while the order still arrives and fills later.
    * ``liquidation_price_drift`` -- reported liquidation prices are multiplied by ``1 + drift``.
    """

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._delays: list[_DelayRule] = []
        self._latency: dict[str, float] = {}
        self.frozen = False
        self.crash_after_accept_left = 0
        self.liquidation_price_drift = 0.0

    @staticmethod
    def _method(method: str) -> str:
        if method != "*" and method not in VENUE_METHODS:
            raise InputError(f"method must be '*' or one of {', '.join(VENUE_METHODS)}, was {method!r}")
        return method

    def fail(self, method: str = "*", *, times: int | None = 1, error: str | VenueError = "retryable") -> Faults:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        if times is not None and (not isinstance(times, int) or times < 1):
            raise InputError(f"times must be an integer >= 1 or None, was {times!r}")
        make: Callable[[str], VenueError]
        if isinstance(error, VenueError):
            exc = error

            def make(_: str) -> VenueError:
                return exc

        elif isinstance(error, str) and error in _ERRORS:  # a list was a TypeError (unhashable)
            make = _ERRORS[error]
        else:
            raise InputError(f"error must be a VenueError or one of {', '.join(_ERRORS)}, was {error!r}")
        self._rules.append(_Rule(self._method(method), times, make))
        return self

    def add_latency(self, method: str = "*", seconds: float = 0.01) -> Faults:
        """Delay every call of ``method`` by ``seconds`` (``asyncio.sleep``; 0 removes it)."""
        seconds = number(seconds, "seconds")  # a string was a TypeError of math.isfinite
        if not (math.isfinite(seconds) and seconds >= 0.0):
            raise InputError(f"seconds must be >= 0, was {seconds!r}")
        self._latency[self._method(method)] = seconds
        return self

    def freeze_marks(self, frozen: bool = True) -> Faults:
        """Freeze (or thaw) the reported marks and timestamps."""
        self.frozen = frozen
        return self

    def crash_after_accept(self, times: int = 1) -> Faults:
        """Make the next ``times`` orders raise after being recorded and filled."""
        if not isinstance(times, int) or times < 0:
            raise InputError(f"times must be an integer >= 0, was {times!r}")
        self.crash_after_accept_left = times
        return self

    def order_latency(
        self,
        arrive_after_s: float = 0.0,
        arrive_after_ticks: int = 0,
        *,
        client_timeout_s: float | None = None,
        times: int | None = None,
    ) -> Faults:
        """Make the next ``times`` orders reach the venue late (None: every order until :meth:`clear`).

        Parameters
        ----------
        arrive_after_s : float
            Real seconds between the ``create_order`` call and the order reaching the venue: a
            background task of the running event loop (``asyncio.sleep``) applies it then, so it
            arrives only while that loop runs.
        arrive_after_ticks : int
            Simulated ticks instead: the order reaches the venue when :meth:`PaperVenue.step`
            reaches tick ``tick + arrive_after_ticks`` (after funding, before liquidations).  The
            call returns at once, so the caller always gets the timeout.
        client_timeout_s : float, optional
            How long the caller waits for the answer of an order delayed in seconds; a longer
            delay makes ``create_order`` raise :class:`VenueRetryableError` ("timed out") after
            ``client_timeout_s`` while the order still arrives later.  None: the caller waits.
        times : int, optional
            Orders affected (>= 1); rules are consumed in the order they were added, one per
            ``create_order`` call that passes the :meth:`fail` rules.

        Notes
        -----
        On arrival the venue handles the order as an immediate one, at that moment's mark: an
        order arriving later than the venue's ``order_expiry_s`` after its
        :attr:`~levguard.venues.base.OrderRequest.sent_ns` is refused and never recorded; a
        known client order id keeps the first order; a delayed order that can no longer reduce
        (no position, or its side would increase it) is *recorded* as ``"rejected"`` (filled 0)
        so that ``fetch_order`` finds it.  Every arrival is appended to ``PaperVenue.arrivals``.
        Zero delays make the rule a no-op: the order arrives within the call.
        """
        for name, value in (("arrive_after_s", arrive_after_s), ("client_timeout_s", client_timeout_s)):
            # None for arrive_after_s was a TypeError, 10**400 an OverflowError of math.isfinite.
            seconds = math.nan if not isinstance(value, int | float) or isinstance(value, bool) else number(value, name)
            if (value is not None or name == "arrive_after_s") and not (math.isfinite(seconds) and seconds >= 0.0):
                raise InputError(f"{name} must be a finite number of seconds >= 0, was {show(value)}")
        if not isinstance(arrive_after_ticks, int) or arrive_after_ticks < 0:
            raise InputError(f"arrive_after_ticks must be an integer >= 0, was {arrive_after_ticks!r}")
        if arrive_after_s > 0.0 and arrive_after_ticks > 0:
            raise InputError(
                "give arrive_after_s or arrive_after_ticks, not both, were "
                f"{arrive_after_s!r} and {arrive_after_ticks!r}"
            )
        if times is not None and (not isinstance(times, int) or times < 1):
            raise InputError(f"times must be an integer >= 1 or None, was {times!r}")
        timeout = None if client_timeout_s is None else float(client_timeout_s)
        self._delays.append(_DelayRule(OrderDelay(float(arrive_after_s), arrive_after_ticks, timeout), times))
        return self

    def take_order_delay(self) -> OrderDelay | None:
        """Consume the first :meth:`order_latency` rule and return its delay (None: no rule)."""
        if not self._delays:
            return None
        rule = self._delays[0]
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining == 0:
                self._delays.pop(0)
        return rule.delay

    def clear(self) -> Faults:
        """Remove every fault."""
        self._rules.clear()
        self._delays.clear()
        self._latency.clear()
        self.frozen = False
        self.crash_after_accept_left = 0
        self.liquidation_price_drift = 0.0
        return self

    def latency(self, method: str) -> float:
        """Return the delay of a call of ``method`` in seconds."""
        return self._latency.get(self._method(method), self._latency.get("*", 0.0))

    def take(self, method: str) -> VenueError | None:
        """Consume the first rule matching ``method`` and return its error (None: no fault)."""
        self._method(method)
        for rule in self._rules:
            if rule.method in (method, "*"):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                return rule.make(method)
        return None
