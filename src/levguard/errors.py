"""levguard's one error hierarchy.

Every public function raises a subclass of :class:`LevguardError` for bad input, so callers
can catch one type. Messages name the field and the offending value, e.g.
``"leverage must be > 0, was 0"``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "InputError",
    "LevguardError",
    "NoTiersError",
    "VenueAuthError",
    "VenueError",
    "VenueOrderRejectedError",
    "VenuePermanentError",
    "VenueRateLimitError",
    "VenueRetryableError",
]


class LevguardError(Exception):
    """Base class of every error levguard raises on purpose."""


class InputError(LevguardError, ValueError):
    """A value passed to a public function is invalid (names the field and the value)."""


class NoTiersError(InputError):
    """A position's symbol has no tier table: none was given and the venue has none built in for it
    (or only for the contract of the other kind).

    ``fact`` says what is missing; ``remedy`` how to give it, which depends on how the caller takes
    tiers (an account spec's ``tiers`` or ``mmr``, a backtest's ``tiers``, a CLI option), so each
    entry point replaces it with its own (:meth:`with_remedy`): a hint naming an option the
    command lacks sends the user looking for it.
    """

    def __init__(self, fact: str, remedy: str = "") -> None:
        super().__init__(f"{fact}; {remedy}" if remedy else fact)
        self.fact = fact
        self.remedy = remedy

    def with_remedy(self, remedy: str, prefix: str = "") -> NoTiersError:
        """The same fact (after ``prefix``, e.g. the position it is of) with ``remedy``."""
        return NoTiersError(prefix + self.fact, remedy)


class ConfigError(LevguardError):
    """A configuration file or setting is invalid or inconsistent."""


class DataError(LevguardError):
    """Market data or a data file is malformed (names the file, row and value where known)."""


class VenueError(LevguardError):
    """An exchange interaction failed."""


class VenueRetryableError(VenueError):
    """A transient venue failure (network, rate limit, 5xx): safe to retry with backoff."""


class VenuePermanentError(VenueError):
    """A permanent venue failure (authentication, invalid order): retrying will not help."""


class VenueRateLimitError(VenueRetryableError):
    """The venue rate-limited the request: back off before retrying."""


class VenueAuthError(VenuePermanentError):
    """The venue rejected the credentials: stop acting on that account and alert."""


class VenueOrderRejectedError(VenuePermanentError):
    """The venue refused an order before executing it (invalid order, insufficient margin, unknown
    symbol, a quantity that rounds to nothing): nothing was filled, the order is final.

    Any other error from sending an order leaves its outcome unknown (it may have executed before
    the error), so the guardian keeps such an order in flight until the venue answers for it."""
