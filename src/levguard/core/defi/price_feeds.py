"""On-chain price feeds as lending protocols read them: Chainlink answers, checks, policies.

A Chainlink-style aggregator answers ``latestRoundData() -> (roundId, answer, startedAt, updatedAt,
answeredInRound)`` with ``decimals()`` digits of precision.  What a protocol does with a bad answer
is the protocol's own rule, mirrored here as a named policy (:class:`OraclePolicy`):

* **Aave v3** (``AaveOracle.getAssetPrice``): reads ``latestAnswer()`` with no timestamp check;
  an answer ``<= 0`` (or no source) goes to the fallback oracle, and the call reverts when the
  fallback oracle is unset (address zero); see :func:`aave_asset_price`.
* **Morpho** (morpho-blue-oracles ``ChainlinkDataFeedLib.getPrice``): a negative answer reverts
  with ``"negative answer"`` (a ``require``, not a SafeCast); zero passes and prices the
  collateral at zero; no staleness or round check ("Staleness is not checked because it's assumed
  that the Chainlink feed keeps its promises"); see :func:`morpho_feed_price`.
* **Checked consumer** (Chainlink's data-feed guidance, the check audits ask for): the answer must
  be ``> 0``, the round complete (``updatedAt != 0``, legacy ``answeredInRound >= roundId``) and
  fresh (``now - updatedAt <= heartbeat``); see :func:`check_round`.

Feeds update when the market moves past their deviation threshold or the heartbeat elapses
(:func:`update_due`, :func:`max_oracle_gap`); :func:`value_at_oracle` shows holdings at the
oracle's price beside the market's.  The L2 sequencer uptime rules are in
:mod:`levguard.core.defi.sequencer`, CAPO caps and Morpho's oracle in
:mod:`levguard.core.defi.price_adapters`.

Units are the contracts': answers are integers in the feed's decimals, times are Unix seconds
(``block.timestamp``, ``updatedAt``), the Aave base currency has 8 decimals.  The friendly helpers
(:func:`feed_deviation`, :func:`value_at_oracle`) take floats.

Sources
-------
* aave/aave-v3-core 782f51917056a53a2c228701058a6c3fb233684a (v3.0.2) and aave-dao/aave-v3-origin
  v3.3.0 (5431379f): ``AaveOracle.sol`` ``getAssetPrice`` (the same through v3.6).
* morpho-org/morpho-blue-oracles e32d8902f9518365caa53e9eaed3cbd6cb017a63:
  ``src/morpho-chainlink/libraries/ChainlinkDataFeedLib.sol``, ``libraries/ErrorsLib.sol``.
* Chainlink docs: docs.chain.link/data-feeds (heartbeat and deviation threshold triggers, check
  ``updatedAt`` against the heartbeat), docs.chain.link/data-feeds/api-reference
  (``answeredInRound`` deprecated).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from levguard.core.records import JsonRecord
from levguard.core.validate import (
    as_amount,
    contract_sint,
    contract_uint,
    finite,
    flag,
    instance_of,
    positive,
    rate,
    show,
)
from levguard.errors import InputError

__all__ = [
    "AAVE_BASE_CURRENCY_UNIT",
    "NEGATIVE_ANSWER",
    "FeedCheck",
    "IncompleteRoundError",
    "MorphoOracleError",
    "NoFallbackOracleError",
    "NonPositiveAnswerError",
    "OracleError",
    "OracleGapBounds",
    "OraclePolicy",
    "OracleReading",
    "OracleValuation",
    "RoundData",
    "StaleAnswerError",
    "UpdateCheck",
    "ValuationReport",
    "aave_asset_price",
    "check_round",
    "feed_deviation",
    "max_oracle_gap",
    "morpho_feed_price",
    "read_price",
    "require_valid_answer",
    "update_due",
    "value_at_oracle",
]

AAVE_BASE_CURRENCY_UNIT: Final = 10**8
"""``BASE_CURRENCY_UNIT`` of Aave's USD markets: one dollar in the oracle's 8 decimals."""
NEGATIVE_ANSWER: Final = "negative answer"
"""Morpho's revert string for a negative feed answer (ErrorsLib.NEGATIVE_ANSWER)."""


# Reason codes of a failed check (FeedCheck.failures, OracleReading.reason).
_NON_POSITIVE: Final = "non_positive_answer"
_INCOMPLETE: Final = "incomplete_round"
_STALE: Final = "stale"
_NO_FALLBACK: Final = "no_fallback_oracle"


# --- errors -----------------------------------------------------------------------------------


class OracleError(InputError):
    """An oracle answer a consumer must not use, or an oracle contract that would revert.

    Attributes
    ----------
    reason : str
        A short code (``"stale"``, ``"non_positive_answer"``, a contract's revert string...).
    detail : str
        The values involved.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    def __reduce__(self) -> tuple[type[OracleError], tuple[str, str]]:
        return type(self), (self.reason, self.detail)


class NonPositiveAnswerError(OracleError):
    """The feed answered zero or a negative price."""


class StaleAnswerError(OracleError):
    """The answer is older than the feed's heartbeat."""


class IncompleteRoundError(OracleError):
    """The round never completed (``updatedAt == 0``) or carries an earlier round's answer."""


class NoFallbackOracleError(OracleError):
    """Aave asked its fallback oracle for a price and none is set (the call reverts)."""


class MorphoOracleError(OracleError):
    """A Morpho oracle contract (``MorphoChainlinkOracleV2``) would revert; ``reason`` is its revert
    string (ErrorsLib) or the Solidity panic's description."""


_ERRORS: Final[Mapping[str, type[OracleError]]] = {
    _NON_POSITIVE: NonPositiveAnswerError,
    _INCOMPLETE: IncompleteRoundError,
    _STALE: StaleAnswerError,
    _NO_FALLBACK: NoFallbackOracleError,
    NEGATIVE_ANSWER: MorphoOracleError,
}


# --- validation -------------------------------------------------------------------------------


# --- round data -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundData(JsonRecord):
    """One ``latestRoundData()`` answer of a Chainlink-style aggregator and its ``decimals()``.

    Attributes
    ----------
    round_id : int
        ``roundId`` (uint80; the proxy's phase id in the top 16 bits).
    answer : int
        ``answer`` (int256): the price times ``10**decimals``.
    started_at, updated_at : int
        ``startedAt``, ``updatedAt``: Unix seconds.  For a sequencer uptime feed ``startedAt`` is
        when the status last changed.
    answered_in_round : int
        ``answeredInRound`` (uint80; deprecated by Chainlink, equal to ``round_id`` on OCR feeds).
    decimals : int, default 8
        ``decimals()`` (uint8).
    """

    round_id: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int
    decimals: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "round_id", contract_uint(self.round_id, "round_id", 80))
        object.__setattr__(self, "answer", contract_sint(self.answer, "answer"))
        object.__setattr__(self, "started_at", contract_uint(self.started_at, "started_at"))
        object.__setattr__(self, "updated_at", contract_uint(self.updated_at, "updated_at"))
        object.__setattr__(self, "answered_in_round", contract_uint(self.answered_in_round, "answered_in_round", 80))
        object.__setattr__(self, "decimals", contract_uint(self.decimals, "decimals", 8))

    @classmethod
    def from_tuple(cls, values: Iterable[object], decimals: int = 8) -> RoundData:
        """Build from the 5-tuple ``latestRoundData()`` returns (e.g. through web3) and ``decimals``."""
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise InputError(f"latestRoundData must be a sequence of 5 values, was {show(values)}")
        items = tuple(values)
        if len(items) != 5:
            raise InputError(f"latestRoundData must have 5 values, had {len(items)}: {show(items)}")
        round_id, answer, started_at, updated_at, answered_in_round = items
        return cls(round_id, answer, started_at, updated_at, answered_in_round, decimals)  # type: ignore[arg-type]

    @property
    def price(self) -> float:
        """The answer in whole units: ``answer / 10**decimals``."""
        return self.answer / float(10**self.decimals)


# --- the checked consumer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedCheck(JsonRecord):
    """The checks a careful consumer applies to one answer (:func:`check_round`).

    Attributes
    ----------
    ok : bool
        No check failed.
    failures : tuple of str
        Failed checks in order: ``"non_positive_answer"``, ``"incomplete_round"``, ``"stale"``.
    age : int or None
        ``block_timestamp - updated_at`` in seconds; None when ``updated_at == 0``.
    heartbeat : int
        The feed's heartbeat, seconds.
    detail : str
        The failing values in words ("" when ok).
    """

    ok: bool
    failures: tuple[str, ...]
    age: int | None
    heartbeat: int
    detail: str


def check_round(round_data: RoundData, block_timestamp: int, heartbeat: int) -> FeedCheck:
    """Apply the consumer checks to one answer: positive, complete round, fresh within the heartbeat.

    Parameters
    ----------
    round_data : RoundData
    block_timestamp : int
        Now, Unix seconds.
    heartbeat : int
        The feed's heartbeat in seconds (each feed has its own: 3600 for ETH/USD on Ethereum,
        86400 for many stablecoin feeds).

    Returns
    -------
    FeedCheck

    Raises
    ------
    InputError
        ``updated_at`` after ``block_timestamp`` (``block.timestamp - updatedAt`` would underflow).

    Notes
    -----
    * non-positive: ``answer <= 0``;
    * incomplete round: ``updatedAt == 0`` or ``answeredInRound < roundId``;
    * stale: ``now - updatedAt > heartbeat``.

    Chainlink's data-feed documentation (docs.chain.link/data-feeds, "Check the timestamp of the
    latest answer") asks consumers to compare ``updatedAt`` with the heartbeat; ``answeredInRound``
    is deprecated (the OCR aggregators return ``answeredInRound == roundId``), kept as the legacy
    FluxAggregator check.  Neither Aave's ``AaveOracle`` nor Morpho's ``ChainlinkDataFeedLib``
    applies these checks (see :class:`OraclePolicy`).
    """
    r = instance_of(round_data, RoundData, "round_data")
    now = contract_uint(block_timestamp, "block_timestamp")
    beat = contract_uint(heartbeat, "heartbeat")
    failures: list[str] = []
    words: list[str] = []
    if r.answer <= 0:
        failures.append(_NON_POSITIVE)
        words.append(f"answer {r.answer} <= 0")
    age: int | None = None
    if r.updated_at == 0 or r.answered_in_round < r.round_id:
        failures.append(_INCOMPLETE)
        words.append(
            "updated_at is 0"
            if r.updated_at == 0
            else f"answered_in_round {r.answered_in_round} < round_id {r.round_id}"
        )
    if r.updated_at != 0:
        if r.updated_at > now:
            raise InputError(f"updated_at ({r.updated_at}) must not be after block_timestamp ({now})")
        age = now - r.updated_at
        if age > beat:
            failures.append(_STALE)
            words.append(f"updated {age} s ago, heartbeat {beat} s")
    return FeedCheck(not failures, tuple(failures), age, beat, "; ".join(words))


def require_valid_answer(round_data: RoundData, block_timestamp: int, heartbeat: int) -> int:
    """Return the answer if it passes :func:`check_round`, else raise the first failure's error.

    Raises
    ------
    NonPositiveAnswerError, IncompleteRoundError, StaleAnswerError
    """
    check = check_round(round_data, block_timestamp, heartbeat)
    if not check.ok:
        raise _ERRORS[check.failures[0]](check.failures[0], check.detail)
    return round_data.answer


# --- deviation threshold and heartbeat ---------------------------------------------------------


def _threshold(value: float) -> float:
    # A deviation threshold: a fraction in [0, 1).
    return rate(finite(as_amount(value, "deviation_threshold"), "deviation_threshold"), "deviation_threshold")


@dataclass(frozen=True, slots=True)
class UpdateCheck(JsonRecord):
    """Whether a feed owes an update (:func:`update_due`).

    Attributes
    ----------
    due : bool
    reasons : tuple of str
        ``"deviation"`` (the market moved past the threshold), ``"heartbeat"`` (the heartbeat
        elapsed).
    deviation : float
        ``|market - answer| / answer``.
    age : int
        Seconds since the answer was written.
    deviation_threshold : float
    heartbeat : int
    """

    due: bool
    reasons: tuple[str, ...]
    deviation: float
    age: int
    deviation_threshold: float
    heartbeat: int


@dataclass(frozen=True, slots=True)
class OracleGapBounds(JsonRecord):
    """How far an on-chain answer can sit from the market while no update is due (:func:`max_oracle_gap`).

    Attributes
    ----------
    deviation_threshold : float
    max_overvaluation : float
        Largest ``answer / market - 1`` (oracle above the market): ``d / (1 - d)``.
    max_undervaluation : float
        Largest ``1 - answer / market`` (oracle below the market): ``d / (1 + d)``.
    """

    deviation_threshold: float
    max_overvaluation: float
    max_undervaluation: float


def feed_deviation(answer: float, market_price: float) -> float:
    """Return the deviation a Chainlink network measures: ``|market - answer| / answer``.

    Both prices in the same units (both scaled by the feed's decimals, or both whole units).

    Notes
    -----
    The deviation is relative to the on-chain answer (docs.chain.link/data-feeds, "Deviation
    threshold": a new answer is written when the off-chain value deviates from the on-chain
    value by more than the threshold).
    """
    a = positive(as_amount(answer, "answer"), "answer")
    m = positive(as_amount(market_price, "market_price"), "market_price")
    return abs(m - a) / a


def update_due(
    answer: float,
    market_price: float,
    updated_at: int,
    block_timestamp: int,
    deviation_threshold: float,
    heartbeat: int,
) -> UpdateCheck:
    """Return whether the feed owes an update now: deviation past the threshold or heartbeat elapsed.

    Parameters
    ----------
    answer, market_price : float
        On-chain answer and off-chain market price, same units.
    updated_at, block_timestamp : int
        When the answer was written and now, Unix seconds.
    deviation_threshold : float
        Fraction (``0.005`` for a 0.5 % feed).
    heartbeat : int
        Seconds.

    Notes
    -----
    ``due = |m - a| / a > deviation_threshold  or  now - updatedAt >= heartbeat``
    (docs.chain.link/data-feeds, "Deviation threshold" and "Heartbeat threshold": a new round
    starts when the off-chain value deviates from the on-chain answer by more than the threshold,
    or when the heartbeat is reached).
    """
    d = _threshold(deviation_threshold)
    beat = contract_uint(heartbeat, "heartbeat")
    written = contract_uint(updated_at, "updated_at")
    now = contract_uint(block_timestamp, "block_timestamp")
    if written > now:
        raise InputError(f"updated_at ({written}) must not be after block_timestamp ({now})")
    dev = feed_deviation(answer, market_price)
    age = now - written
    reasons = tuple(name for name, hit in (("deviation", dev > d), ("heartbeat", age >= beat)) if hit)
    return UpdateCheck(bool(reasons), reasons, dev, age, d, beat)


def max_oracle_gap(deviation_threshold: float) -> OracleGapBounds:
    """Return the largest gap between a feed's answer and the market that triggers no update.

    Notes
    -----
    No deviation update is due while ``|m - a| / a <= d``, i.e. ``m`` in ``[a (1 - d), a (1 + d)]``,
    so the oracle's error relative to the market ``a / m - 1`` lies in
    ``[-d / (1 + d), d / (1 - d)]``: a collateral can be overvalued by up to ``d / (1 - d)`` (the
    market fell ``d`` below the answer) and undervalued by up to ``d / (1 + d)``.  Between
    heartbeats this is the whole error budget; write latency (about 40 s per Chainlink) and a
    stalled feed come on top (see :func:`check_round`).
    """
    d = _threshold(deviation_threshold)
    return OracleGapBounds(d, d / (1.0 - d), d / (1.0 + d))


# --- protocol policies ---------------------------------------------------------------------------


class OraclePolicy(StrEnum):
    """What a protocol does with a feed answer (see the module docstring and :func:`read_price`)."""

    AAVE = "aave"
    """AaveOracle.getAssetPrice: answer <= 0 falls back to the fallback oracle; no time checks."""
    MORPHO = "morpho"
    """ChainlinkDataFeedLib.getPrice: answer < 0 reverts "negative answer"; 0 accepted; no time checks."""
    CHECKED = "checked"
    """Chainlink's consumer checks: answer > 0, complete round, fresh within the heartbeat."""


@dataclass(frozen=True, slots=True)
class OracleReading(JsonRecord):
    """The price a protocol reads from one answer, or why it cannot (:func:`read_price`).

    Attributes
    ----------
    policy : str
        The :class:`OraclePolicy` applied.
    outcome : str
        ``"answer"`` (the feed's answer is used), ``"fallback"`` (Aave's fallback oracle priced
        it) or ``"revert"`` (the read fails: no price).
    price : int or None
        The price used, in the feed's (or fallback oracle's) units; None on ``"revert"``.
    reason : str
        Why the answer was not used ("" when it was): ``"non_positive_answer"``, ``"stale"``,
        ``"incomplete_round"``, ``"no_price_source"`` (Aave: fallback used),
        ``"no_fallback_oracle"``, ``"negative answer"`` (Morpho's revert string).
    detail : str
    feed_check : FeedCheck or None
        The consumer checks when ``block_timestamp`` and ``heartbeat`` were given: under the Aave
        and Morpho policies a failed check here (``stale``) shows an answer the protocol uses anyway.
    """

    policy: str
    outcome: str
    price: int | None
    reason: str
    detail: str
    feed_check: FeedCheck | None = None

    def unwrap(self) -> int:
        """Return the price, or raise the error of the failed read (an :class:`OracleError`)."""
        if self.price is None:
            raise _ERRORS.get(self.reason, OracleError)(self.reason, self.detail)
        return self.price


def aave_asset_price(
    answer: int | None,
    *,
    fallback_price: int | None = None,
    is_base_currency: bool = False,
    base_currency_unit: int = AAVE_BASE_CURRENCY_UNIT,
) -> OracleReading:
    """Return what ``AaveOracle.getAssetPrice(asset)`` returns.

    Parameters
    ----------
    answer : int or None
        The asset source's ``latestAnswer()``; None when the asset has no source.
    fallback_price : int or None, keyword-only
        What the fallback oracle's ``getAssetPrice`` returns; None when no fallback oracle is set
        (address zero: the call reverts).
    is_base_currency : bool, keyword-only
        The asset is ``BASE_CURRENCY`` (priced ``BASE_CURRENCY_UNIT`` whatever its source).
    base_currency_unit : int, keyword-only, default 10**8

    Returns
    -------
    OracleReading
        ``outcome`` ``"answer"``, ``"fallback"`` or ``"revert"`` (reason ``"no_fallback_oracle"``).

    Notes
    -----
    aave-v3-core ``contracts/misc/AaveOracle.sol`` ``getAssetPrice`` (unchanged in aave-v3-origin
    to v3.6): base currency -> ``BASE_CURRENCY_UNIT``; no source -> fallback; ``latestAnswer() > 0``
    -> the answer; else -> fallback.  No staleness check: Aave reads ``latestAnswer`` only, and
    the CAPO adapters it points to return 0 for a non-positive base price (so the fallback runs).
    """
    unit = contract_uint(base_currency_unit, "base_currency_unit")
    if flag(is_base_currency, "is_base_currency"):
        return OracleReading(OraclePolicy.AAVE.value, "answer", unit, "", "base currency")
    fallback = None if fallback_price is None else contract_uint(fallback_price, "fallback_price")
    if answer is not None:
        a = contract_sint(answer, "answer")
        if a > 0:
            return OracleReading(OraclePolicy.AAVE.value, "answer", a, "", "")
        why, code = f"answer {a} <= 0", _NON_POSITIVE
    else:
        why, code = "no price source", "no_price_source"
    if fallback is None:
        return OracleReading(OraclePolicy.AAVE.value, "revert", None, _NO_FALLBACK, f"{why} and no fallback oracle")
    return OracleReading(OraclePolicy.AAVE.value, "fallback", fallback, code, why)


def morpho_feed_price(answer: int | None, *, field: str = "answer") -> int:
    """Return what ``ChainlinkDataFeedLib.getPrice(feed)`` returns.

    Parameters
    ----------
    answer : int or None
        The feed's ``latestRoundData().answer``; None for an absent feed (address zero).
    field : str, default "answer"
        The name of ``answer`` in messages (:func:`~levguard.core.defi.price_adapters.morpho_oracle_price`
        passes its own argument's, ``base_feed_1`` ...).

    Returns
    -------
    int
        1 for an absent feed, else the answer (0 accepted).

    Raises
    ------
    MorphoOracleError
        ``reason="negative answer"`` for an answer < 0.

    Notes
    -----
    morpho-blue-oracles ``src/morpho-chainlink/libraries/ChainlinkDataFeedLib.sol``
    ``getPrice``: ``require(answer >= 0, ErrorsLib.NEGATIVE_ANSWER)``; no staleness, round or
    bounds checks, and L2s "are not supported" (no sequencer check).
    """
    if answer is None:
        return 1
    a = contract_sint(answer, field)
    if a < 0:
        raise MorphoOracleError(NEGATIVE_ANSWER, f"{field} = {a}")
    return a


def read_price(
    round_data: RoundData,
    policy: OraclePolicy | str,
    *,
    block_timestamp: int | None = None,
    heartbeat: int | None = None,
    fallback_price: int | None = None,
) -> OracleReading:
    """Return the price ``policy``'s protocol reads from ``round_data``, or the typed failure.

    Parameters
    ----------
    round_data : RoundData
    policy : OraclePolicy or {"aave", "morpho", "checked"}
    block_timestamp, heartbeat : int or None, keyword-only
        Now and the feed's heartbeat (seconds): required by ``"checked"``; with the other policies
        they only fill ``feed_check`` (the protocol does not look at time).
    fallback_price : int or None, keyword-only
        ``"aave"``: the fallback oracle's price (None: no fallback oracle).

    Returns
    -------
    OracleReading
        ``reading.unwrap()`` returns the price or raises :class:`NonPositiveAnswerError`,
        :class:`StaleAnswerError`, :class:`IncompleteRoundError`, :class:`NoFallbackOracleError` or
        :class:`MorphoOracleError` (``"negative answer"``).

    Notes
    -----
    ``"aave"`` is :func:`aave_asset_price` (AaveOracle.getAssetPrice), ``"morpho"`` is
    :func:`morpho_feed_price` (ChainlinkDataFeedLib.getPrice), ``"checked"`` is
    :func:`check_round`.
    """
    instance_of(round_data, RoundData, "round_data")
    if fallback_price is not None:  # checked whatever the policy (only "aave" reads it)
        contract_uint(fallback_price, "fallback_price")
    try:
        p = OraclePolicy(policy)
    except ValueError:
        choices = ", ".join(repr(str(x)) for x in OraclePolicy)
        raise InputError(f"policy must be one of {choices}, was {show(policy)}") from None
    check: FeedCheck | None = None
    if block_timestamp is not None and heartbeat is not None:
        check = check_round(round_data, block_timestamp, heartbeat)
    elif p is OraclePolicy.CHECKED:
        missing = "block_timestamp" if block_timestamp is None else "heartbeat"
        raise InputError(f"{missing} is required by the 'checked' policy, was None")
    if p is OraclePolicy.AAVE:
        r = aave_asset_price(round_data.answer, fallback_price=fallback_price)
        return OracleReading(r.policy, r.outcome, r.price, r.reason, r.detail, check)
    if p is OraclePolicy.MORPHO:
        try:
            return OracleReading(p.value, "answer", morpho_feed_price(round_data.answer), "", "", check)
        except MorphoOracleError as exc:
            return OracleReading(p.value, "revert", None, exc.reason, exc.detail, check)
    assert check is not None  # the CHECKED branch above required both values
    if check.ok:
        return OracleReading(p.value, "answer", round_data.answer, "", "", check)
    return OracleReading(p.value, "revert", None, check.failures[0], check.detail, check)


# --- valuation at the oracle price -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OracleValuation(JsonRecord):
    """One holding valued at the oracle price and at the market price.

    Attributes
    ----------
    symbol : str
    amount : float
        Signed whole tokens: > 0 supplied collateral, < 0 debt.
    oracle_price, market_price : float
        Per whole token, quote currency.
    oracle_value, market_value : float
        ``amount * price``.
    price_gap : float
        ``oracle_price / market_price - 1``: > 0 the protocol prices the token above the market.
    value_gap : float
        ``oracle_value - market_value``: what the protocol's view adds to (or takes from) equity.
    """

    symbol: str
    amount: float
    oracle_price: float
    market_price: float
    oracle_value: float
    market_value: float
    price_gap: float
    value_gap: float


@dataclass(frozen=True, slots=True)
class ValuationReport(JsonRecord):
    """Holdings valued at the oracle and the market (:func:`value_at_oracle`).

    Attributes
    ----------
    rows : tuple of OracleValuation
    oracle_value, market_value : float
        Net value (collateral minus debt) at each price.
    value_gap : float
        ``oracle_value - market_value``, summed from the holdings' gaps (``math.fsum``): the
        difference of the two rounded totals would cancel to their rounding step when they are
        large and close (7.6e-6 at 3.4e10).
    gap : float
        ``value_gap / market_value`` (``oracle_value / market_value - 1`` without the
        cancellation); NaN when the market net value is not positive.
    """

    rows: tuple[OracleValuation, ...]
    oracle_value: float
    market_value: float
    value_gap: float
    gap: float


def value_at_oracle(positions: Iterable[Mapping[str, object]]) -> ValuationReport:
    """Value holdings at the oracle price and show the gap to the market price.

    Parameters
    ----------
    positions : iterable of mapping
        Rows with ``symbol``, ``amount`` (signed whole tokens: debt negative), ``oracle_price``
        and optionally ``market_price`` (defaults to the oracle price: no gap).

    Returns
    -------
    ValuationReport

    Notes
    -----
    ``value = amount * price`` at each price; ``price_gap = oracle / market - 1``; the report's
    ``gap`` is the net value's (equity's) relative gap.  A lending protocol liquidates on the
    oracle's view, so an undervalued collateral (``price_gap < 0``, e.g. a CAPO cap below the
    exchange rate) lowers the health factor by the same fraction.
    """
    if isinstance(positions, Mapping | str | bytes) or not isinstance(positions, Iterable):
        raise InputError(f"positions must be a sequence of rows, was {type(positions).__name__} {show(positions)}")
    rows: list[OracleValuation] = []
    for i, row in enumerate(positions):
        if not isinstance(row, Mapping):
            raise InputError(f"positions[{i}] must be a mapping, was {show(row)}")
        unknown = set(row) - {"symbol", "amount", "oracle_price", "market_price"}
        if unknown:
            raise InputError(f"positions[{i}] has unknown fields {sorted(map(str, unknown))}")
        raw_symbol = row.get("symbol", f"#{i}")
        if not isinstance(raw_symbol, str) or not raw_symbol:
            raise InputError(f"positions[{i}].symbol must be a non-empty str, was {show(raw_symbol)}")
        symbol = raw_symbol
        amount = finite(as_amount(row.get("amount"), f"positions[{i}].amount"), f"positions[{i}].amount")
        oracle = positive(as_amount(row.get("oracle_price"), f"{symbol}.oracle_price"), f"{symbol}.oracle_price")
        raw_market = row.get("market_price")
        market = (
            oracle
            if raw_market is None
            else positive(as_amount(raw_market, f"{symbol}.market_price"), f"{symbol}.market_price")
        )
        ov, mv = amount * oracle, amount * market
        rows.append(OracleValuation(symbol, amount, oracle, market, ov, mv, oracle / market - 1.0, ov - mv))
    total_oracle = math.fsum(r.oracle_value for r in rows)
    total_market = math.fsum(r.market_value for r in rows)
    value_gap = math.fsum(r.value_gap for r in rows)
    gap = value_gap / total_market if total_market > 0.0 else math.nan
    return ValuationReport(tuple(rows), total_oracle, total_market, value_gap, gap)
