"""A small HTTP client for bulk downloads: timeouts, retries with backoff, Range-resume, rate limiting.

Only the standard library (:mod:`urllib.request`) is used, so downloads need no extra
dependency and behave the same against a venue's CDN and a test server on ``127.0.0.1``.

Failure classes
---------------
* **retryable**: connection errors, timeouts, truncated bodies, HTTP 408, 429 and 5xx. Retried
  with exponential backoff and jitter (:class:`RetryPolicy`), honouring ``Retry-After``; after the
  last attempt :class:`~levguard.errors.VenueRetryableError` is raised.
* **absent**: HTTP 404. Not an error here: :meth:`HttpClient.get_bytes` returns ``None`` and
  :meth:`HttpClient.download` returns ``False``; the caller decides what a missing file means.
* **permanent**: any other 4xx. Raises :class:`~levguard.errors.VenuePermanentError` at once.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from levguard.errors import InputError, VenuePermanentError, VenueRetryableError

if TYPE_CHECKING:
    from levguard.data.download._common import ProgressTask

__all__ = ["HttpClient", "RateLimiter", "RetryPolicy", "is_retryable_status", "part_path", "unknown_host"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_CHUNK = 1 << 16


def _user_agent() -> str:
    try:
        version = metadata.version("levguard")
    except metadata.PackageNotFoundError:  # running from a source tree without installation
        version = "0"
    return f"levguard/{version} (+https://github.com/levguard/levguard)"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    Parameters
    ----------
    attempts : int
        Total tries including the first (>= 1).
    base_delay_s : float
        Backoff before the second try, in seconds; doubles on each further try. ``0`` disables
        waiting (tests).
    max_delay_s : float
        Cap on one wait, in seconds (also caps a server's ``Retry-After``).
    jitter : float
        Fraction in [0, 1] of each wait drawn at random, so that many clients do not retry in step.

    Notes
    -----
    The wait before try ``n + 1`` (``n >= 1``) is ``d * (1 - jitter * u)`` with
    ``d = min(max_delay_s, base_delay_s * 2 ** (n - 1))`` and ``u ~ U[0, 1)`` ("equal jitter"
    for ``jitter = 0.5``; AWS Architecture Blog, "Exponential Backoff and Jitter", 2015).
    """

    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise InputError(f"attempts must be an integer >= 1, was {self.attempts!r}")
        if not self.base_delay_s >= 0:
            raise InputError(f"base_delay_s must be >= 0, was {self.base_delay_s!r}")
        if not self.max_delay_s >= 0:
            raise InputError(f"max_delay_s must be >= 0, was {self.max_delay_s!r}")
        if not 0 <= self.jitter <= 1:
            raise InputError(f"jitter must be in [0, 1], was {self.jitter!r}")

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Return the wait in seconds after the ``failures``-th consecutive failure (1-based)."""
        d = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(failures - 1, 0))
        u = (rng or random).random()
        return d * (1.0 - self.jitter * u)


class RateLimiter:
    """Enforce a minimum interval between requests (thread-safe).

    Parameters
    ----------
    min_interval_s : float
        Seconds that must pass between the starts of two requests; ``0`` disables limiting.
    clock, sleep : callable
        Monotonic clock and sleep function (injectable for tests).
    """

    def __init__(
        self,
        min_interval_s: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not min_interval_s >= 0:
            raise InputError(f"min_interval_s must be >= 0, was {min_interval_s!r}")
        self.min_interval_s = float(min_interval_s)
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may start, then reserve that slot."""
        if self.min_interval_s == 0:
            return
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.min_interval_s


def is_retryable_status(status: int) -> bool:
    """Return True for HTTP statuses worth retrying: 408, 429 and every 5xx."""
    return status in (408, 429) or 500 <= status <= 599


def part_path(dest: Path) -> Path:
    """Return the ``.part`` file a download of ``dest`` is written to until it completes."""
    return dest.with_name(dest.name + ".part")


# getaddrinfo's answers that the name does not resolve (as opposed to EAI_AGAIN, a temporary
# failure of the resolver, which is retried like any other network error).
_UNKNOWN_HOST = frozenset(getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n))


def unknown_host(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from or wraps) says the host name does not resolve.

    Notes
    -----
    ``getaddrinfo`` answers ``EAI_NONAME`` ("Name or service not known") when the resolver
    knows the name has no address, which is how an offline machine or a mistyped host fails;
    retrying it with backoff only delays the error (5 tries took 6 s).  ``EAI_AGAIN``
    ("Temporary failure in name resolution") stays retryable.  The chain is followed through
    ``__cause__``/``__context__`` and ``URLError.reason`` (urllib; requests and urllib3 under
    ccxt chain their errors the same way).
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) and e.errno in _UNKNOWN_HOST:
            return True
        reason = getattr(e, "reason", None)
        stack.extend([e.__cause__, e.__context__, reason if isinstance(reason, BaseException) else None])
    return False


class _RetryableError(Exception):
    """Internal: one attempt failed in a retryable way (carries the server's Retry-After, if any)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


# Failures while connecting (URLError wraps socket errors) or reading a body.
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (urllib.error.URLError, http.client.HTTPException, OSError)
_READ_ERRORS: tuple[type[BaseException], ...] = (http.client.HTTPException, ConnectionError, TimeoutError)


def _retry_after(headers: object) -> float | None:
    value = getattr(headers, "get", lambda _k: None)("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):  # an HTTP date; fall back to our own backoff
        return None


class HttpClient:
    """GET files over HTTP(S) with retries, backoff, rate limiting and resumable downloads.

    Parameters
    ----------
    timeout_s : float
        Socket timeout per request (connect and each read), in seconds.
    retry : RetryPolicy, optional
        Retry schedule (default :class:`RetryPolicy()`).
    limiter : RateLimiter, optional
        Minimum spacing between requests (default: none).
    sleep : callable
        Used for backoff waits; tests pass a recorder so no real time passes.
    rng : random.Random, optional
        Source of jitter (seed it for reproducible waits).

    Attributes
    ----------
    requests_made : int
        HTTP requests sent by this client (every attempt counts).
    """

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not timeout_s > 0:
            raise InputError(f"timeout_s must be > 0, was {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(0.0)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._opener = urllib.request.build_opener()
        self._headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
        self.requests_made = 0

    # -- public API ---------------------------------------------------------------------------

    def get_bytes(self, url: str) -> bytes | None:
        """Return the body of ``url``, or ``None`` when the server answers 404.

        Raises
        ------
        VenueRetryableError
            Every attempt failed with a retryable error.
        VenuePermanentError
            The server answered a 4xx other than 404, 408 and 429.
        """

        def attempt() -> bytes | None:
            with self._open(url, {}) as resp:
                if resp is None:
                    return None
                data: bytes = resp.read()
                length = resp.headers.get("Content-Length")
                if length is not None and len(data) != int(length):
                    raise _RetryableError(f"body has {len(data)} of {length} bytes")
                return data

        return self._with_retries(url, attempt)

    def download(self, url: str, dest: Path, progress: ProgressTask | None = None) -> bool:
        """Download ``url`` to ``dest``, resuming a partial ``dest.part`` with an HTTP Range request.

        The body is streamed into ``<dest>.part``; an existing ``.part`` file (from an earlier,
        interrupted run or attempt) is continued with ``Range: bytes=<size>-``. When the server
        ignores the range (status 200) the file is rewritten from the start; when it answers
        416 the partial file is discarded and the download restarts. On completion the
        ``.part`` file is renamed to ``dest``.

        Returns
        -------
        bool
            True when ``dest`` now holds the file, False when the server answered 404.

        Raises
        ------
        VenueRetryableError, VenuePermanentError
            As for :meth:`get_bytes`.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(dest)

        def attempt() -> bool:
            offset = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                ctx = self._open(url, headers)
            except _RangeNotSatisfiableError:
                logger.info("server refused the range of %s; restarting the download", part.name)
                part.unlink(missing_ok=True)
                headers = {}
                offset = 0
                ctx = self._open(url, headers)
            with ctx as resp:
                if resp is None:
                    return False
                length = resp.headers.get("Content-Length")
                if resp.status == 206 and offset:
                    if _range_start(resp.headers.get("Content-Range")) != offset:
                        part.unlink(missing_ok=True)
                        raise _RetryableError(f"server sent a range other than bytes={offset}-")
                    mode = "ab"
                else:  # a full body: the server ignored the range, or there was none
                    offset, mode = 0, "wb"
                total = offset + int(length) if length is not None else None
                if progress is not None:
                    progress.set_total(total)
                    progress.set_completed(offset)
                with part.open(mode) as fh:
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        fh.write(chunk)
                        if progress is not None:
                            progress.advance(len(chunk))
            size = part.stat().st_size
            if total is not None and size != total:
                raise _RetryableError(f"connection closed after {size} of {total} bytes")
            part.replace(dest)
            return True

        return self._with_retries(url, attempt)

    # -- internals ----------------------------------------------------------------------------

    def _open(self, url: str, headers: dict[str, str]) -> _Response:
        """Send one GET; return a context manager yielding the response (None on 404)."""
        self.limiter.wait()
        self.requests_made += 1
        req = urllib.request.Request(url, headers={**self._headers, **headers}, method="GET")
        try:
            resp = self._opener.open(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if status == 404:
                return _Response(None)
            if status == 416 and "Range" in headers:
                raise _RangeNotSatisfiableError from None
            if is_retryable_status(status):
                raise _RetryableError(f"HTTP {status} {exc.reason}", _retry_after(exc.headers)) from None
            raise VenuePermanentError(f"GET {url} failed: HTTP {status} {exc.reason}") from None
        except _NETWORK_ERRORS as exc:
            if unknown_host(exc):  # offline or a wrong host: no retry can help
                raise VenuePermanentError(f"GET {url} failed: the host does not resolve ({exc}); offline?") from None
            raise _RetryableError(f"{type(exc).__name__}: {exc}") from None
        return _Response(resp)

    def _with_retries(self, url: str, attempt: Callable[[], _T]) -> _T:
        failures = 0
        while True:
            try:
                return attempt()
            except _RetryableError as exc:
                reason, hint = str(exc), exc.retry_after_s
            except _READ_ERRORS as exc:
                # Raised while reading the body (IncompleteRead, reset, read timeout).
                reason, hint = f"{type(exc).__name__}: {exc}", None
            failures += 1
            if failures >= self.retry.attempts:
                raise VenueRetryableError(
                    f"GET {url} failed after {failures} attempt(s); last error: {reason}"
                ) from None
            wait = self.retry.delay(failures, self._rng)
            if hint is not None:
                wait = max(wait, min(hint, self.retry.max_delay_s))
            logger.info(
                "GET %s failed (%s); retry %d/%d in %.2fs", url, reason, failures, self.retry.attempts - 1, wait
            )
            self._sleep(wait)


class _RangeNotSatisfiableError(Exception):
    """Internal: the server answered 416 to a Range request."""


class _Response:
    """Context manager around an optional urllib response (None stands for 404)."""

    def __init__(self, resp: http.client.HTTPResponse | None) -> None:
        self._resp = resp

    def __enter__(self) -> http.client.HTTPResponse | None:
        return self._resp

    def __exit__(self, *exc: object) -> None:
        if self._resp is not None:
            self._resp.close()


def _range_start(content_range: str | None) -> int | None:
    # "bytes 100-999/1000" -> 100
    if not content_range:
        return None
    try:
        unit, rest = content_range.strip().split(" ", 1)
        if unit.lower() != "bytes":
            return None
        return int(rest.split("-", 1)[0])
    except ValueError:
        return None
