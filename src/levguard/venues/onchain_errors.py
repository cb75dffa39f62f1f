"""How the on-chain venue classifies a web3 failure, and keeps an RPC URL's secrets out of messages.

:func:`classify` maps a failure to levguard's venue errors (:mod:`levguard.venues.onchain`'s
module docstring says what each one makes the guardian do): HTTP 429 or a rate-limit message is
:class:`~levguard.errors.VenueRateLimitError`, 401/403 :class:`~levguard.errors.VenueAuthError`,
a revert :class:`~levguard.errors.VenuePermanentError`, anything else
:class:`~levguard.errors.VenueRetryableError`.  :func:`gas_refused` tells, among the retryable
ones, a transaction the node refused for its gas limit (it was never accepted: the same bytes are
refused again, whatever the wait).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from levguard.errors import (
    LevguardError,
    VenueAuthError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.venues.onchain_read import is_revert

__all__ = ["GAS_REFUSED", "classify", "gas_refused", "redact", "url_secrets"]

#: What nodes answer a transaction whose gas limit is under what it needs before it runs (letters
#: only, lower case): geth, Erigon and Arbitrum "intrinsic gas too low" (on Arbitrum the intrinsic
#: gas covers the L1 data too), Nethermind "IntrinsicGasTooLow" / "GasLimitTooLow", Besu
#: "INTRINSIC_GAS_EXCEEDS_GAS_LIMIT", geth after EIP-7623 "insufficient gas for floor data gas cost".
GAS_REFUSED: tuple[str, ...] = (
    "intrinsicgastoolow",
    "intrinsicgasexceedsgaslimit",
    "gaslimittoolow",
    "floordatagas",
)


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None) or getattr(exc, "status", None)
    return int(code) if isinstance(code, int) else None


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The parts of an RPC URL that may hold a provider's key: user info, path, query (longest
    first; the scheme, host and port are not secret)."""
    if not url:
        return ()
    parts = urlsplit(url)
    found = {url, parts.netloc.rpartition("@")[0], parts.path, parts.query, parts.path.strip("/")}
    return tuple(sorted((p for p in found if len(p) > 1), key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``<redacted>``."""
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


def gas_refused(error: str) -> bool:
    """True when a node refused a transaction for its gas limit (:data:`GAS_REFUSED`): it was not
    accepted, and its bytes never will be; not a fee, a timeout, a rate limit or the funds."""
    letters = "".join(c for c in error.lower() if c.isalpha())
    return any(k in letters for k in GAS_REFUSED)


def classify(exc: BaseException, what: str, secrets: tuple[str, ...] = ()) -> LevguardError:
    """The levguard error of a web3 failure during ``what`` (see the module docstring); the
    ``secrets`` (:func:`url_secrets` of the RPC URL) never reach its message."""
    if isinstance(exc, LevguardError):
        return exc
    text = redact(f"{what}: {type(exc).__name__}: {exc}", secrets)[:500]
    status = _http_status(exc)
    if status == 429 or "rate limit" in str(exc).lower():
        return VenueRateLimitError(text)
    if status in (401, 403):
        return VenueAuthError(text)
    if is_revert(exc):
        return VenuePermanentError(text)
    return VenueRetryableError(text)
