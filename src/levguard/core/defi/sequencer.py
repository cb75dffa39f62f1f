"""L2 sequencer uptime as Aave reads it: ``PriceOracleSentinel`` and its grace period.

On a rollup the sequencer can stop; while it is down (and for a grace period after it comes back)
prices go stale and users cannot reach the chain to defend their positions.  Chainlink's sequencer
uptime feed answers 0 (up) or 1 (down) with ``startedAt`` = when the status last changed; Aave's
``PriceOracleSentinel`` lets borrows and liquidations through only when the sequencer is up and
the grace period has passed, and ``ValidationLogic`` still liquidates positions with a health
factor below 0.95 (error ``59`` otherwise).

Times are Unix seconds; the health factor is a wad (``10**18`` is 1.0).

Sources
-------
* aave/aave-v3-core 782f51917056a53a2c228701058a6c3fb233684a (v3.0.2):
  ``contracts/protocol/configuration/PriceOracleSentinel.sol`` (reads ``updatedAt``),
  ``contracts/protocol/libraries/logic/ValidationLogic.sol`` (validateBorrow,
  validateLiquidationCall, ``MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD = 0.95e18``),
  ``contracts/protocol/libraries/helpers/Errors.sol`` (``PRICE_ORACLE_SENTINEL_CHECK_FAILED = '59'``).
* aave-dao/aave-v3-origin v3.1.0 to v3.6.0 (v3.3.0 = 5431379f): ``src/contracts/misc/
  PriceOracleSentinel.sol`` reads ``startedAt``; v3.7 removes the sentinel
  (``docs/3.7/sentinel-removal.md``).
* Chainlink docs: docs.chain.link/data-feeds/l2-sequencer-feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from levguard.core.defi.aave import AAVE_VERSIONS
from levguard.core.defi.price_feeds import OracleError, RoundData
from levguard.core.records import JsonRecord
from levguard.core.validate import instance_of, integer_in, show
from levguard.errors import InputError

__all__ = [
    "MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD",
    "PRICE_ORACLE_SENTINEL_CHECK_FAILED",
    "SEQUENCER_DOWN",
    "SEQUENCER_UP",
    "SentinelCheckFailedError",
    "SequencerStatus",
    "sequencer_status",
    "validate_borrow_sentinel",
    "validate_liquidation_sentinel",
]

MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD: Final = 95 * 10**16
"""Below this health factor (wad) Aave liquidates even when the sentinel forbids it (ValidationLogic)."""
PRICE_ORACLE_SENTINEL_CHECK_FAILED: Final = "59"
"""Aave's error code when the sentinel refuses a borrow or a liquidation (Errors.sol)."""
SEQUENCER_UP: Final = 0
"""Uptime feed answer: the sequencer is up."""
SEQUENCER_DOWN: Final = 1
"""Uptime feed answer: the sequencer is down."""
_UINT256: Final = 2**256


class SentinelCheckFailedError(OracleError):
    """Aave's ``PriceOracleSentinel`` refuses the operation (error ``59``): sequencer down or in grace.

    ``reason`` is ``"sequencer_down"`` or ``"sequencer_grace_period"``; ``code`` is ``"59"``.
    """

    code: Final = PRICE_ORACLE_SENTINEL_CHECK_FAILED
    name: Final = "PRICE_ORACLE_SENTINEL_CHECK_FAILED"


@dataclass(frozen=True, slots=True)
class SequencerStatus(JsonRecord):
    """What Aave's ``PriceOracleSentinel`` sees on the sequencer uptime feed (:func:`sequencer_status`).

    Attributes
    ----------
    state : str
        ``"up"`` (up and the grace period over), ``"grace_period"`` (up, grace period running) or
        ``"down"`` (answer != 0).
    answer : int
        The feed's answer: 0 up, 1 down.
    status_since : int
        The timestamp the sentinel reads (``startedAt`` from v3.1, ``updatedAt`` in v3.0).
    elapsed : int or None
        ``block_timestamp - status_since`` (None when down: the contract does not compute it).
    grace_period : int
        Seconds.
    borrow_allowed, liquidation_allowed : bool
        ``isBorrowAllowed()`` and ``isLiquidationAllowed()`` (the same test in every version).
    """

    state: str
    answer: int
    status_since: int
    elapsed: int | None
    grace_period: int
    borrow_allowed: bool
    liquidation_allowed: bool


def sequencer_status(
    round_data: RoundData, grace_period: int, block_timestamp: int, *, version: str = "3.3"
) -> SequencerStatus:
    """Return the sentinel's verdict on the sequencer uptime feed's latest answer.

    Parameters
    ----------
    round_data : RoundData
        The uptime feed's ``latestRoundData()``: ``answer`` 0 (up) or 1 (down).
    grace_period : int
        Seconds after the sequencer comes back during which borrowing and liquidations stay off.
    block_timestamp : int
        Now, Unix seconds.
    version : {"3.0", "3.1", "3.2", "3.3"}, keyword-only
        3.0 reads ``updatedAt``, 3.1+ ``startedAt`` (when the status changed).

    Returns
    -------
    SequencerStatus

    Raises
    ------
    InputError
        Up, with the status timestamp after ``block_timestamp`` (the contract's subtraction
        underflows and reverts).

    Notes
    -----
    ``PriceOracleSentinel._isUpAndGracePeriodPassed``:
    ``answer == 0 && block.timestamp - t > gracePeriod`` with ``t = startedAt`` (aave-v3-origin
    v3.1.0-v3.6.0) or ``t = updatedAt`` (aave-v3-core v3.0.2); ``isBorrowAllowed`` and
    ``isLiquidationAllowed`` both return it.  Chainlink's L2 sequencer feed guidance
    (docs.chain.link/data-feeds/l2-sequencer-feeds) is the same rule with ``startedAt``.
    """
    if not isinstance(version, str) or version not in AAVE_VERSIONS:
        raise InputError(f"version must be one of {', '.join(AAVE_VERSIONS)}, was {show(version)}")
    instance_of(round_data, RoundData, "round_data")
    grace = integer_in(grace_period, "grace_period", 0, _UINT256)
    now = integer_in(block_timestamp, "block_timestamp", 0, _UINT256)
    since = round_data.updated_at if version == "3.0" else round_data.started_at
    if round_data.answer != SEQUENCER_UP:
        return SequencerStatus("down", round_data.answer, since, None, grace, False, False)
    if since > now:
        field = "updated_at" if version == "3.0" else "started_at"
        raise InputError(f"{field} ({since}) must not be after block_timestamp ({now}): the sentinel reverts")
    elapsed = now - since
    up = elapsed > grace
    return SequencerStatus("up" if up else "grace_period", round_data.answer, since, elapsed, grace, up, up)


def validate_borrow_sentinel(status: SequencerStatus) -> None:
    """Raise :class:`SentinelCheckFailedError` (Aave ``59``) when the sentinel forbids borrowing.

    Notes
    -----
    ValidationLogic.validateBorrow: ``require(sentinel == address(0) || isBorrowAllowed(), 59)``.
    """
    if not instance_of(status, SequencerStatus, "status").borrow_allowed:
        raise SentinelCheckFailedError(f"sequencer_{status.state}", _sentinel_words(status))


def validate_liquidation_sentinel(status: SequencerStatus, health_factor: int) -> None:
    """Raise :class:`SentinelCheckFailedError` (Aave ``59``) when the sentinel blocks this liquidation.

    Parameters
    ----------
    status : SequencerStatus
    health_factor : int
        The borrower's health factor, wad.

    Notes
    -----
    ValidationLogic.validateLiquidationCall: ``require(sentinel == address(0) || healthFactor <
    MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD || isLiquidationAllowed(), 59)``: positions below
    0.95 can be liquidated while the sequencer is down or in its grace period.
    """
    instance_of(status, SequencerStatus, "status")
    hf = integer_in(health_factor, "health_factor", 0, _UINT256)
    if hf >= MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD and not status.liquidation_allowed:
        raise SentinelCheckFailedError(
            f"sequencer_{status.state}", f"{_sentinel_words(status)}; health factor {hf} >= 0.95e18"
        )


def _sentinel_words(status: SequencerStatus) -> str:
    if status.state == "down":
        return f"sequencer down (answer {status.answer}) since {status.status_since}"
    return f"sequencer up for {status.elapsed} s, grace period {status.grace_period} s"
