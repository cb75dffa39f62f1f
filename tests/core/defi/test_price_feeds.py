"""Unit and property tests of the on-chain oracle layer (levguard.core.defi.price_feeds, sequencer,
price_adapters; public face levguard.defi.oracles).

The issue's acceptance cases are marked in the test names: stale, negative, sequencer-down and
capped answers each have their own tests below.  Golden cases from the protocols' own suites are
in tests/golden/test_oracle_examples.py.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from levguard.core.defi.price_adapters import (
    CAPO_MAXIMUM_SNAPSHOT_TERM,
    CapoAdapter,
    CapoError,
    MorphoChainlinkOracleV2,
    capo_is_capped,
    capo_latest_answer,
    capo_max_ratio,
    capo_stable_latest_answer,
    capo_stable_set_price_cap,
    capo_validate_snapshot,
    morpho_oracle_price,
    morpho_scale_factor,
)
from levguard.core.defi.price_feeds import (
    NEGATIVE_ANSWER,
    IncompleteRoundError,
    MorphoOracleError,
    NoFallbackOracleError,
    NonPositiveAnswerError,
    OracleError,
    OraclePolicy,
    RoundData,
    StaleAnswerError,
    aave_asset_price,
    check_round,
    feed_deviation,
    max_oracle_gap,
    morpho_feed_price,
    read_price,
    require_valid_answer,
    update_due,
    value_at_oracle,
)
from levguard.core.defi.sequencer import (
    MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    SentinelCheckFailedError,
    sequencer_status,
    validate_borrow_sentinel,
    validate_liquidation_sentinel,
)
from levguard.defi import oracles
from levguard.errors import InputError

NOW = 1_773_143_160  # 2026-03-10 11:46 UTC
HOUR = 3_600
DAY = 86_400
ETH_USD = 2_000 * 10**8


def _round(
    answer: int = ETH_USD, updated_at: int = NOW - 60, round_id: int = 9, answered: int | None = None
) -> RoundData:
    return RoundData(round_id, answer, updated_at, updated_at, round_id if answered is None else answered, 8)


def _uptime(answer: int, started_at: int, updated_at: int | None = None) -> RoundData:
    return RoundData(1, answer, started_at, started_at if updated_at is None else updated_at, 1, 0)


# --- round data -----------------------------------------------------------------------------------


def test_round_data_reads_the_web3_tuple_and_scales_the_answer() -> None:
    r = RoundData.from_tuple((18446744073709562301, 345_678_901_234, NOW - 5, NOW - 5, 18446744073709562301), 8)
    assert r.answer == 345_678_901_234
    assert r.decimals == 8
    assert r.price == pytest.approx(3_456.78901234, rel=1e-15)
    assert r.to_dict()["updated_at"] == NOW - 5
    assert RoundData(np.int64(1), np.int64(5), 0, 0, 1).answer == 5  # NumPy integers pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"answer": 1.5}, "answer must be an integer"),
        ({"answer": True}, "answer must be an integer"),
        ({"answer": 2**255}, "answer must be an integer in the int256 range"),
        ({"round_id": 2**80}, "round_id must be an integer in the uint80 range"),
        ({"updated_at": -1}, "updated_at must be an integer in the uint256 range"),
        ({"decimals": 256}, "decimals must be an integer in the uint8 range"),
    ],
)
def test_round_data_refuses_values_outside_the_abi_types(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"round_id": 1, "answer": 1, "started_at": 0, "updated_at": 0, "answered_in_round": 1}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        RoundData(**args)  # type: ignore[arg-type]


def test_round_data_from_tuple_needs_five_values() -> None:
    with pytest.raises(InputError, match="latestRoundData must have 5 values, had 4"):
        RoundData.from_tuple((1, 2, 3, 4))


# --- consumer checks: stale, non-positive, incomplete -----------------------------------------------


def test_a_fresh_positive_complete_answer_passes() -> None:
    check = check_round(_round(updated_at=NOW - HOUR), NOW, HOUR)  # age == heartbeat: still fresh
    assert check.ok
    assert check.failures == ()
    assert check.age == HOUR
    assert check.detail == ""
    assert require_valid_answer(_round(), NOW, HOUR) == ETH_USD


def test_stale_answer_older_than_the_heartbeat_is_rejected() -> None:
    r = _round(updated_at=NOW - HOUR - 1)
    check = check_round(r, NOW, HOUR)
    assert check.failures == ("stale",)
    assert check.age == HOUR + 1
    with pytest.raises(StaleAnswerError, match="updated 3601 s ago, heartbeat 3600 s") as exc:
        require_valid_answer(r, NOW, HOUR)
    assert exc.value.reason == "stale"
    # A per-feed heartbeat: the same answer is fresh for a 24 h stablecoin feed.
    assert check_round(r, NOW, DAY).ok


@pytest.mark.parametrize("answer", [0, -1, -(2**255)])
def test_negative_or_zero_answer_is_rejected_by_the_checked_consumer(answer: int) -> None:
    r = _round(answer=answer)
    assert check_round(r, NOW, HOUR).failures == ("non_positive_answer",)
    with pytest.raises(NonPositiveAnswerError, match=f"answer {answer} <= 0"):
        require_valid_answer(r, NOW, HOUR)


@pytest.mark.parametrize(
    ("round_data", "words"),
    [
        (RoundData(5, ETH_USD, 0, 0, 5), "updated_at is 0"),
        (RoundData(5, ETH_USD, NOW, NOW, 4), "answered_in_round 4 < round_id 5"),
    ],
)
def test_incomplete_round_is_rejected(round_data: RoundData, words: str) -> None:
    check = check_round(round_data, NOW, HOUR)
    assert check.failures == ("incomplete_round",)
    with pytest.raises(IncompleteRoundError, match=words):
        require_valid_answer(round_data, NOW, HOUR)


def test_every_failed_check_is_listed_in_order() -> None:
    r = RoundData(5, -3, NOW - DAY, NOW - DAY, 4)
    check = check_round(r, NOW, HOUR)
    assert check.failures == ("non_positive_answer", "incomplete_round", "stale")
    assert check.age == DAY


def test_an_answer_from_the_future_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"updated_at \(1773143161\) must not be after block_timestamp"):
        check_round(_round(updated_at=NOW + 1), NOW, HOUR)


# --- deviation threshold and heartbeat --------------------------------------------------------------


def test_update_is_due_past_the_deviation_threshold_or_at_the_heartbeat() -> None:
    # 0.5 % feed: a move of exactly 0.5 % triggers nothing, 0.6 % does.
    assert feed_deviation(100.0, 100.5) == pytest.approx(0.005, rel=1e-12)
    quiet = update_due(100.0, 100.5, NOW - 10, NOW, 0.005, HOUR)
    assert not quiet.due
    assert quiet.reasons == ()
    assert quiet.age == 10
    moved = update_due(100.0, 100.6, NOW - 10, NOW, 0.005, HOUR)
    assert moved.due
    assert moved.reasons == ("deviation",)
    beat = update_due(100.0, 100.0, NOW - HOUR, NOW, 0.005, HOUR)
    assert beat.due
    assert beat.reasons == ("heartbeat",)
    both = update_due(100.0, 90.0, NOW - 2 * HOUR, NOW, 0.005, HOUR)
    assert both.reasons == ("deviation", "heartbeat")


def test_max_oracle_gap_for_a_half_percent_feed() -> None:
    gap = max_oracle_gap(0.005)
    assert gap.max_overvaluation == pytest.approx(0.005 / 0.995, rel=1e-15)
    assert gap.max_undervaluation == pytest.approx(0.005 / 1.005, rel=1e-15)
    # The extremes are reached at the band's edges: answer 100, market 99.5 or 100.5.
    assert pytest.approx(gap.max_overvaluation, rel=1e-12) == 100.0 / 99.5 - 1.0
    assert pytest.approx(gap.max_undervaluation, rel=1e-12) == 1.0 - 100.0 / 100.5


@pytest.mark.parametrize("bad", [-0.1, 1.0, math.nan, "x"])
def test_deviation_threshold_must_be_a_fraction(bad: object) -> None:
    with pytest.raises(InputError, match="deviation_threshold"):
        max_oracle_gap(bad)  # type: ignore[arg-type]


def test_deviation_needs_positive_prices() -> None:
    with pytest.raises(InputError, match=r"market_price must be > 0, was 0\.0"):
        feed_deviation(100.0, 0.0)
    with pytest.raises(InputError, match=r"updated_at \(11\) must not be after block_timestamp \(10\)"):
        update_due(1.0, 1.0, 11, 10, 0.01, HOUR)


@given(
    answer=st.floats(1e-6, 1e9),
    d=st.floats(1e-4, 0.2),
    u=st.floats(-1.0, 1.0),
)
def test_property_no_update_due_means_the_gap_is_within_the_bounds(answer: float, d: float, u: float) -> None:
    market = answer * (1.0 + u * d * (1.0 - 1e-9))  # inside the deviation band
    check = update_due(answer, market, NOW, NOW, d, HOUR)
    assert "deviation" not in check.reasons
    bounds = max_oracle_gap(d)
    gap = answer / market - 1.0
    assert -bounds.max_undervaluation - 1e-12 <= gap <= bounds.max_overvaluation + 1e-12


# --- protocol policies: Aave falls back, Morpho reverts on negative, checked rejects ---------------


def test_aave_uses_a_positive_answer_without_looking_at_time() -> None:
    stale = _round(updated_at=NOW - 30 * DAY)
    reading = read_price(stale, "aave", block_timestamp=NOW, heartbeat=HOUR)
    assert (reading.outcome, reading.price, reading.reason) == ("answer", ETH_USD, "")
    assert reading.feed_check is not None
    assert reading.feed_check.failures == ("stale",)


@pytest.mark.parametrize("answer", [0, -1])
def test_aave_negative_or_zero_answer_falls_back(answer: int) -> None:
    reading = read_price(_round(answer=answer), OraclePolicy.AAVE, fallback_price=1_999 * 10**8)
    assert (reading.outcome, reading.price, reading.reason) == ("fallback", 1_999 * 10**8, "non_positive_answer")
    assert reading.unwrap() == 1_999 * 10**8
    assert reading.policy == "aave"
    assert reading.to_dict()["policy"] == "aave"


def test_aave_negative_answer_without_fallback_oracle_reverts() -> None:
    reading = read_price(_round(answer=-5), "aave")
    assert (reading.outcome, reading.price, reading.reason) == ("revert", None, "no_fallback_oracle")
    with pytest.raises(NoFallbackOracleError, match="answer -5 <= 0 and no fallback oracle"):
        reading.unwrap()


def test_aave_base_currency_and_missing_source() -> None:
    assert aave_asset_price(-7, is_base_currency=True).price == 10**8
    no_source = aave_asset_price(None, fallback_price=3 * 10**8)
    assert (no_source.outcome, no_source.price, no_source.reason) == ("fallback", 3 * 10**8, "no_price_source")
    assert aave_asset_price(None).outcome == "revert"


def test_morpho_negative_answer_reverts_and_zero_passes() -> None:
    reading = read_price(_round(answer=-1), "morpho")
    assert (reading.outcome, reading.reason) == ("revert", NEGATIVE_ANSWER)
    with pytest.raises(MorphoOracleError, match="negative answer: answer = -1") as exc:
        reading.unwrap()
    assert exc.value.reason == "negative answer"
    assert read_price(_round(answer=0), "morpho").price == 0  # zero prices the collateral at 0
    assert morpho_feed_price(None) == 1  # absent feed
    stale = read_price(_round(updated_at=NOW - 30 * DAY), "morpho", block_timestamp=NOW, heartbeat=HOUR)
    assert stale.price == ETH_USD
    assert stale.feed_check is not None
    assert not stale.feed_check.ok


def test_checked_policy_refuses_stale_and_needs_the_clock() -> None:
    reading = read_price(_round(updated_at=NOW - 2 * HOUR), "checked", block_timestamp=NOW, heartbeat=HOUR)
    assert (reading.outcome, reading.reason) == ("revert", "stale")
    with pytest.raises(StaleAnswerError):
        reading.unwrap()
    assert read_price(_round(), "checked", block_timestamp=NOW, heartbeat=HOUR).unwrap() == ETH_USD
    with pytest.raises(InputError, match="heartbeat is required by the 'checked' policy"):
        read_price(_round(), "checked", block_timestamp=NOW)
    with pytest.raises(InputError, match="policy must be one of 'aave', 'morpho', 'checked', was 'compound'"):
        read_price(_round(), "compound")


def test_oracle_errors_are_input_errors_and_pickle() -> None:
    for cls in (StaleAnswerError, NonPositiveAnswerError, MorphoOracleError, CapoError, SentinelCheckFailedError):
        err = cls("why", "values")
        assert isinstance(err, OracleError)
        assert isinstance(err, InputError)
        assert isinstance(err, ValueError)
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls
        assert (back.reason, back.detail, str(back)) == ("why", "values", "why: values")


# --- sequencer uptime (Aave PriceOracleSentinel) ------------------------------------------------------


def test_sequencer_up_after_grace_allows_borrow_and_liquidation() -> None:
    status = sequencer_status(_uptime(0, NOW - HOUR - 1), HOUR, NOW)
    assert (status.state, status.elapsed, status.borrow_allowed, status.liquidation_allowed) == ("up", 3601, True, True)
    validate_borrow_sentinel(status)
    validate_liquidation_sentinel(status, 99 * 10**16)


def test_sequencer_down_blocks_borrow_and_liquidation_above_095() -> None:
    status = sequencer_status(_uptime(1, NOW - DAY), HOUR, NOW)
    assert (status.state, status.elapsed, status.borrow_allowed, status.liquidation_allowed) == (
        "down",
        None,
        False,
        False,
    )
    with pytest.raises(SentinelCheckFailedError, match="sequencer down") as exc:
        validate_borrow_sentinel(status)
    assert (exc.value.code, exc.value.reason) == ("59", "sequencer_down")
    with pytest.raises(SentinelCheckFailedError, match=r"health factor 950000000000000000 >= 0\.95e18"):
        validate_liquidation_sentinel(status, MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD)
    validate_liquidation_sentinel(status, MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD - 1)  # below 0.95: allowed


def test_sequencer_within_grace_period_blocks_and_after_grace_allows() -> None:
    within = sequencer_status(_uptime(0, NOW - HOUR), HOUR, NOW)  # exactly the grace period: not yet
    assert (within.state, within.borrow_allowed) == ("grace_period", False)
    with pytest.raises(SentinelCheckFailedError, match="sequencer up for 3600 s, grace period 3600 s") as exc:
        validate_borrow_sentinel(within)
    assert exc.value.reason == "sequencer_grace_period"
    after = sequencer_status(_uptime(0, NOW - HOUR - 1), HOUR, NOW)
    assert (after.state, after.borrow_allowed, after.liquidation_allowed) == ("up", True, True)


def test_sequencer_version_30_reads_updated_at_and_31_started_at() -> None:
    r = _uptime(0, started_at=NOW - 10, updated_at=NOW - DAY)
    assert sequencer_status(r, HOUR, NOW, version="3.0").state == "up"
    assert sequencer_status(r, HOUR, NOW, version="3.3").state == "grace_period"
    with pytest.raises(InputError, match=r"version must be one of 3\.0, 3\.1, 3\.2, 3\.3, 3\.5, 3\.6, was '3\.7'"):
        sequencer_status(r, HOUR, NOW, version="3.7")


def test_sequencer_future_status_time_reverts_only_when_up() -> None:
    with pytest.raises(InputError, match=r"started_at .* must not be after block_timestamp"):
        sequencer_status(_uptime(0, NOW + 1), HOUR, NOW)
    assert sequencer_status(_uptime(1, NOW + 1), HOUR, NOW).state == "down"  # && short-circuits


# --- CAPO (capped answers) ----------------------------------------------------------------------


def _wsteth_adapter(ratio: int = 12 * 10**17, growth_bps: int = 872, ts: int = NOW - 30 * DAY) -> CapoAdapter:
    return CapoAdapter(ratio, ts, growth_bps, ratio_decimals=18, decimals=8, minimum_snapshot_delay=7 * DAY)


def test_capped_answer_uses_the_max_ratio() -> None:
    adapter = _wsteth_adapter()
    max_ratio = capo_max_ratio(adapter, NOW)
    growth = 12 * 10**17 * 872 * 10**6 // 10**4 // (365 * DAY)
    assert adapter.max_ratio_growth_per_second_scaled == growth
    assert max_ratio == 12 * 10**17 + growth * 30 * DAY // 10**6
    ratio = max_ratio + 10**15  # the exchange rate ran past the cap
    answer = capo_latest_answer(adapter, ETH_USD, ratio, NOW)
    assert answer.is_capped
    assert capo_is_capped(adapter, ratio, NOW)
    assert answer.answer == ETH_USD * max_ratio // 10**18 < answer.uncapped_answer == ETH_USD * ratio // 10**18
    assert answer.headroom == pytest.approx(max_ratio / ratio - 1.0)
    assert answer.headroom < 0


def test_uncapped_answer_is_base_price_times_ratio() -> None:
    adapter = _wsteth_adapter()
    answer = capo_latest_answer(adapter, ETH_USD, 12 * 10**17, NOW)
    assert not answer.is_capped
    assert answer.answer == answer.uncapped_answer == 2_400 * 10**8
    assert answer.headroom > 0


@pytest.mark.parametrize(("base", "ratio"), [(0, 12 * 10**17), (-1, 12 * 10**17), (ETH_USD, 0), (ETH_USD, -5)])
def test_capo_non_positive_base_or_ratio_answers_zero(base: int, ratio: int) -> None:
    answer = capo_latest_answer(_wsteth_adapter(), base, ratio, NOW)
    assert answer.answer == 0
    assert not answer.is_capped
    assert aave_asset_price(answer.answer).outcome == "revert"  # Aave then asks its fallback oracle


def test_capo_adapter_reverts_like_the_contract() -> None:
    with pytest.raises(CapoError, match="WrongRatioDecimals"):
        CapoAdapter(10**8, 0, 500, ratio_decimals=7)
    with pytest.raises(CapoError, match="SnapshotRatioIsZero"):
        CapoAdapter(0, 0, 500, ratio_decimals=8)
    with pytest.raises(InputError, match="snapshot_ratio must be an integer in the uint104 range"):
        CapoAdapter(2**104, 0, 500)
    with pytest.raises(CapoError, match="arithmetic underflow"):
        capo_max_ratio(_wsteth_adapter(ts=NOW), NOW - 1)
    with pytest.raises(CapoError, match="overflows int256"):
        capo_latest_answer(CapoAdapter(2**103, NOW, 0, ratio_decimals=8), 2**200, 2**100, NOW)


def test_capo_snapshot_timestamp_rules() -> None:
    ok = _wsteth_adapter(ts=NOW - 7 * DAY)
    assert capo_validate_snapshot(ok, NOW, stored_snapshot_timestamp=NOW - 60 * DAY) is ok
    for adapter, stored in (
        (_wsteth_adapter(ts=NOW - 7 * DAY + 1), 0),  # younger than the minimum delay
        (_wsteth_adapter(ts=NOW - CAPO_MAXIMUM_SNAPSHOT_TERM - 1), 0),  # older than 180 days
        (ok, NOW - 7 * DAY),  # not newer than the stored snapshot
    ):
        with pytest.raises(CapoError, match="InvalidRatioTimestamp"):
            capo_validate_snapshot(adapter, NOW, stored_snapshot_timestamp=stored)
    with pytest.raises(CapoError, match="MAXIMUM_SNAPSHOT_TERM"):
        capo_validate_snapshot(CapoAdapter(10**8, 10, 500, ratio_decimals=8), 100)


def test_stable_capo_caps_the_price() -> None:
    assert capo_stable_latest_answer(101_000_000, 104_000_000).to_dict() == {"answer": 101_000_000, "is_capped": False}
    capped = capo_stable_latest_answer(130_000_000, 104_000_000)
    assert (capped.answer, capped.is_capped) == (104_000_000, True)
    assert capo_stable_latest_answer(-3, 104_000_000).answer == 0
    assert capo_stable_set_price_cap(104_000_000, 100_000_000) == 104_000_000
    with pytest.raises(CapoError, match="CapLowerThanActualPrice"):
        capo_stable_set_price_cap(99_000_000, 100_000_000)
    with pytest.raises(CapoError, match="InvalidNewPriceCap"):
        capo_stable_set_price_cap(2 * 10**8 + 1, 10**8)


# --- MorphoChainlinkOracleV2 ---------------------------------------------------------------------


def test_morpho_oracle_prices_wsteth_in_usdc_through_the_exchange_rate() -> None:
    # wstETH (18) collateral, USDC (6) loan: stETH per wstETH (18) x ETH/USD (8) / USDC/USD (8).
    oracle = MorphoChainlinkOracleV2(18, 6, base_feed_1_decimals=18, base_feed_2_decimals=8, quote_feed_1_decimals=8)
    assert oracle.scale_factor == 10 ** (36 + 6 + 8 - 18 - 18 - 8)
    rate, eth, usdc = 1_228_900_000_000_000_000, 2_000 * 10**8, 10**8
    price = morpho_oracle_price(oracle, base_feed_1=rate, base_feed_2=eth, quote_feed_1=usdc)
    assert price == 2_457_800_000 * 10**18  # 2457.80 USDC per wstETH: 1e36 * 2457.8e6 / 1e18
    assert price / 1e36 * 10**18 / 10**6 == pytest.approx(1.2289 * 2_000, rel=1e-12)


def test_morpho_oracle_needs_each_configured_input_and_nothing_else() -> None:
    oracle = MorphoChainlinkOracleV2(18, 6, base_feed_1_decimals=8)
    with pytest.raises(InputError, match="base_feed_1 is required: the oracle has that feed"):
        morpho_oracle_price(oracle)
    with pytest.raises(InputError, match="quote_feed_1 must be None: the oracle has no such feed"):
        morpho_oracle_price(oracle, base_feed_1=1, quote_feed_1=1)
    with pytest.raises(MorphoOracleError, match="negative answer"):
        morpho_oracle_price(oracle, base_feed_1=-1)
    zero_quote = MorphoChainlinkOracleV2(18, 6, quote_feed_1_decimals=8)
    with pytest.raises(MorphoOracleError, match="division or modulo by zero"):
        morpho_oracle_price(zero_quote, quote_feed_1=0)


def test_morpho_scale_factor_panics() -> None:
    with pytest.raises(MorphoOracleError, match="underflows"):
        morpho_scale_factor(base_token_decimals=40, quote_token_decimals=0, base_feed_1_decimals=0)
    with pytest.raises(MorphoOracleError, match=r"10\*\*78 overflows"):
        morpho_scale_factor(base_token_decimals=0, quote_token_decimals=42)
    with pytest.raises(MorphoOracleError, match="vault conversion sample is not one"):
        MorphoChainlinkOracleV2(18, 18, base_vault_conversion_sample=10**18)
    with pytest.raises(MorphoOracleError, match="vault conversion sample is zero"):
        MorphoChainlinkOracleV2(18, 18, base_vault=True, base_vault_conversion_sample=0)
    huge = MorphoChainlinkOracleV2(0, 18, base_feed_1_decimals=0, quote_feed_1_decimals=18)  # SCALE_FACTOR 1e72
    assert morpho_oracle_price(huge, base_feed_1=10**5, quote_feed_1=1) == 10**77
    with pytest.raises(MorphoOracleError, match=r"Math\.mulDiv overflow"):
        morpho_oracle_price(huge, base_feed_1=10**6, quote_feed_1=1)


# --- valuation at the oracle price ----------------------------------------------------------------


def test_value_at_oracle_shows_the_gap_to_market() -> None:
    report = value_at_oracle(
        [
            {"symbol": "wstETH", "amount": 100, "oracle_price": 2_387.8, "market_price": 2_457.8},
            {"symbol": "WETH", "amount": -110, "oracle_price": 2_000},
        ]
    )
    wst, weth = report.rows
    assert wst.price_gap == pytest.approx(2_387.8 / 2_457.8 - 1.0)
    assert wst.value_gap == pytest.approx(-7_000.0)
    assert weth.price_gap == 0.0
    assert weth.market_value == -220_000.0
    assert report.oracle_value == pytest.approx(238_780.0 - 220_000.0)
    assert report.gap == pytest.approx(18_780.0 / 25_780.0 - 1.0)
    assert report.to_dict()["rows"][0]["symbol"] == "wstETH"  # type: ignore[index]
    assert math.isnan(value_at_oracle([{"symbol": "X", "amount": -1, "oracle_price": 1}]).gap)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([{"symbol": "X", "amount": 1, "oracle_price": 0}], "X.oracle_price must be > 0"),
        ([{"symbol": "X", "amount": 1, "oracle_price": 1, "market_price": -2}], "X.market_price must be > 0"),
        ([{"symbol": "X", "amount": "lots", "oracle_price": 1}], r"positions\[0\].amount must be a number"),
        ([{"symbol": "X", "amount": 1, "oracle_price": 1, "px": 1}], r"unknown fields \['px'\]"),
        ([("X", 1, 1)], r"positions\[0\] must be a mapping"),
    ],
)
def test_value_at_oracle_names_bad_input(rows: list[object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        value_at_oracle(rows)  # type: ignore[arg-type]


def test_the_public_module_re_exports_the_engine() -> None:
    assert oracles.capo_latest_answer is capo_latest_answer
    assert oracles.read_price is read_price
    assert oracles.sequencer_status is sequencer_status
    assert all(hasattr(oracles, name) for name in oracles.__all__)


# --- properties ------------------------------------------------------------------------------------

_adapters = st.builds(
    CapoAdapter,
    snapshot_ratio=st.integers(1, 10**30),
    snapshot_timestamp=st.integers(0, 2 * 10**9),
    max_yearly_ratio_growth_percent=st.integers(0, 10_000),
    ratio_decimals=st.integers(8, 24),
)


@given(adapter=_adapters, base=st.integers(1, 10**20), ratio=st.integers(1, 10**31), dt=st.integers(0, 10**9))
def test_property_capped_price_never_exceeds_the_uncapped_price(
    adapter: CapoAdapter, base: int, ratio: int, dt: int
) -> None:
    now = adapter.snapshot_timestamp + dt
    answer = capo_latest_answer(adapter, base, ratio, now)
    assert answer.answer <= answer.uncapped_answer
    assert answer.is_capped == (ratio > answer.max_ratio)
    if not answer.is_capped:
        assert answer.answer == answer.uncapped_answer


@given(
    adapter=_adapters,
    bases=st.tuples(st.integers(-(10**20), 10**20), st.integers(-(10**20), 10**20)),
    ratios=st.tuples(st.integers(-(10**31), 10**31), st.integers(-(10**31), 10**31)),
    dts=st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)),
)
def test_property_capo_answer_is_monotone_in_the_answer_ratio_and_time(
    adapter: CapoAdapter, bases: tuple[int, int], ratios: tuple[int, int], dts: tuple[int, int]
) -> None:
    b1, b2 = sorted(bases)
    r1, r2 = sorted(ratios)
    t1, t2 = (adapter.snapshot_timestamp + dt for dt in sorted(dts))
    assert capo_latest_answer(adapter, b1, r2, t2).answer <= capo_latest_answer(adapter, b2, r2, t2).answer
    assert capo_latest_answer(adapter, b2, r1, t2).answer <= capo_latest_answer(adapter, b2, r2, t2).answer
    assert capo_latest_answer(adapter, b2, r2, t1).answer <= capo_latest_answer(adapter, b2, r2, t2).answer
    assert capo_max_ratio(adapter, t1) <= capo_max_ratio(adapter, t2)


@given(
    cap=st.integers(0, 2 * 10**8),
    answers=st.tuples(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12)),
)
def test_property_stable_capo_is_capped_and_monotone(cap: int, answers: tuple[int, int]) -> None:
    a1, a2 = sorted(answers)
    lo, hi = capo_stable_latest_answer(a1, cap), capo_stable_latest_answer(a2, cap)
    assert lo.answer <= hi.answer <= cap
    assert hi.answer <= max(a2, 0)


_decimals = st.integers(0, 18)


@given(
    db=_decimals,
    dq=_decimals,
    fb=_decimals,
    fq=_decimals,
    k=st.integers(0, 6),
    pb=st.integers(1, 10**24),
    pq=st.integers(1, 10**24),
)
def test_property_scale_factor_is_consistent_across_decimals(
    db: int, dq: int, fb: int, fq: int, k: int, pb: int, pq: int
) -> None:
    oracle = MorphoChainlinkOracleV2(db, dq, base_feed_1_decimals=fb, quote_feed_1_decimals=fq)
    assume(oracle.scale_factor * pb // pq < 2**256)  # else price() reverts (tested below)
    price = morpho_oracle_price(oracle, base_feed_1=pb, quote_feed_1=pq)
    exponent = 36 + dq + fq - db - fb  # >= 0 for decimals up to 18
    if k <= exponent:  # else the constructor's exponent underflows (a revert, tested above)
        # The same economic price quoted by a feed with k more decimals gives the same oracle price.
        finer = MorphoChainlinkOracleV2(db, dq, base_feed_1_decimals=fb + k, quote_feed_1_decimals=fq)
        assert morpho_oracle_price(finer, base_feed_1=pb * 10**k, quote_feed_1=pq) == price
        # A base token with k more decimals: each smallest unit is worth 10**k times less.
        smaller = MorphoChainlinkOracleV2(db + k, dq, base_feed_1_decimals=fb, quote_feed_1_decimals=fq)
        assert morpho_oracle_price(smaller, base_feed_1=pb, quote_feed_1=pq) == price // 10**k
    # The float reading: price / 1e36 = (pb / 10**fb) / (pq / 10**fq) * 10**(dq - db).
    expected = (pb / 10**fb) / (pq / 10**fq) * 10.0 ** (dq - db)
    assert price / 1e36 == pytest.approx(expected, rel=1e-9, abs=2e-36)


@given(
    base=st.tuples(st.integers(0, 10**30), st.integers(0, 10**30)),
    quote=st.tuples(st.integers(1, 10**30), st.integers(1, 10**30)),
    assets=st.integers(1, 10**24),
)
def test_property_morpho_price_rises_with_the_base_and_falls_with_the_quote(
    base: tuple[int, int], quote: tuple[int, int], assets: int
) -> None:
    oracle = MorphoChainlinkOracleV2(
        18, 18, base_feed_1_decimals=18, quote_feed_1_decimals=18, base_vault=True, base_vault_conversion_sample=10**18
    )
    assert oracle.scale_factor == 10**18  # 10**36 * 1 / 1e18: not the degenerate 0
    b1, b2 = sorted(base)
    q1, q2 = sorted(quote)
    assert morpho_oracle_price(
        oracle, base_vault_assets=assets, base_feed_1=b1, quote_feed_1=q1
    ) <= morpho_oracle_price(oracle, base_vault_assets=assets, base_feed_1=b2, quote_feed_1=q1)
    assert morpho_oracle_price(
        oracle, base_vault_assets=assets, base_feed_1=b2, quote_feed_1=q2
    ) <= morpho_oracle_price(oracle, base_vault_assets=assets, base_feed_1=b2, quote_feed_1=q1)


_amounts = st.floats(-1e6, 1e6).filter(lambda x: x == 0.0 or abs(x) >= 1e-9)  # as_amount's range


@given(st.lists(st.tuples(_amounts, st.floats(1e-3, 1e5), st.floats(1e-3, 1e5)), min_size=1, max_size=6))
def test_property_value_gap_is_the_sum_of_the_holdings_gaps(rows: list[tuple[float, float, float]]) -> None:
    report = value_at_oracle(
        [{"symbol": f"T{i}", "amount": a, "oracle_price": o, "market_price": m} for i, (a, o, m) in enumerate(rows)]
    )
    expected = math.fsum(a * o - a * m for a, o, m in rows)
    assert report.value_gap == pytest.approx(expected, rel=1e-9, abs=1e-6)
    market = math.fsum(a * m for a, o, m in rows)
    if market > 0.0:
        assert report.gap == pytest.approx(expected / market, rel=1e-9, abs=1e-15)


def test_value_gap_of_large_close_totals_keeps_its_digits() -> None:
    # Found by a deep hypothesis run: totals of 3.4e10 whose difference, taken after rounding
    # each, was off by 3.4e-6 (their rounding step is 7.6e-6); the holdings' gaps sum exactly.
    rows = [(1.0, 1.0, 1.9755826052642078), (914797.0, 37560.0, 37560.0)]
    report = value_at_oracle(
        [{"symbol": f"T{i}", "amount": a, "oracle_price": o, "market_price": m} for i, (a, o, m) in enumerate(rows)]
    )
    assert report.value_gap == 1.0 - 1.9755826052642078
    assert report.gap == pytest.approx(
        (1.0 - 1.9755826052642078) / (1.9755826052642078 + 914797.0 * 37560.0), rel=1e-15
    )
