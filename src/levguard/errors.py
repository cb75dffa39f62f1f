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
