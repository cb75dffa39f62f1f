"""Bad-input campaign 5: the exact DeFi engines' state objects and oracle rules.

Each case failed before the fix with a raw AttributeError / TypeError / ValueError /
OverflowError, or returned a wrong result (a NumPy int64 amount wrapping in the wei math); every
one must now raise :class:`~levguard.errors.InputError` naming the argument.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

from levguard.core.defi import aave, comet, comet_state, fast, price_adapters, price_feeds, sequencer
from levguard.core.defi.aave_records import AaveReserve, EModeCategory, scaled_balance
from levguard.errors import InputError

E18 = 10**18
RAY = 10**27
NOW = 1_773_143_160
HOUR = 3_600


def _row(symbol: str, price: int, decimals: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {"symbol": symbol, "price": price, "decimals": decimals, "ltv": 8250, "lt": 8600}
    row.update(liquidation_bonus=10500, liquidation_protocol_fee=1000)
    row.update(kw)
    return row


HEALTHY = [_row("WETH", 2000 * 10**8, 18, collateral=10 * E18), _row("USDX", 10**8, 6, debt=1000 * 10**6)]
WBTC_BOOK = [_row("WETH", 2000 * 10**8, 18, collateral=10 * E18), _row("WBTC", 60_000 * 10**8, 8)]
ROUND = price_feeds.RoundData(9, 2000 * 10**8, NOW - 60, NOW - 60, 9, 8)
UPTIME = price_feeds.RoundData(1, 0, NOW - 2 * HOUR, NOW - 2 * HOUR, 1, 0)
CAPO = price_adapters.CapoAdapter(11 * 10**17, NOW - 10 * 86_400, 1000)
ORACLE = price_adapters.MorphoChainlinkOracleV2(8, 6, base_feed_1_decimals=8, quote_feed_1_decimals=8)
STATUS = sequencer.sequencer_status(UPTIME, HOUR, NOW)
COMET = comet_state.Comet(
    base_token="USDC",
    base_decimals=6,
    base_price=10**8,
    assets=(comet_state.AssetInfo(0, "ETH", 2000 * 10**8, E18, 8000 * 10**14, 8500 * 10**14, 9300 * 10**14),),
    accounts={"a": comet_state.CometAccount(-(10**9), {"ETH": 10**17})},
    total_borrow_base=10**9,
    totals_collateral={"ETH": 10**17},
)
BOOK = ([0, 2], [10_000.0, 0.0], [0.0, 6_000.0], [0.8, 0.0], [0.75, 0.0])
ARRAY = np.array(["3.3", "3.1"])  # an array where a str is meant: `x in tuple` asked its truth value

# (label, call, words the message must hold)
CASES: list[tuple[str, Callable[[], object], str]] = [
    # A record argument of the wrong type: attribute lookups raised AttributeError.
    ("check_round(None)", lambda: price_feeds.check_round(None, NOW, HOUR), "round_data must be a RoundData"),  # type: ignore[arg-type]
    ("require_valid_answer(tuple)", lambda: price_feeds.require_valid_answer((9, 1, 1, 1, 9), NOW, HOUR), "round_data"),  # type: ignore[arg-type]
    ("read_price(dict, aave)", lambda: price_feeds.read_price({"answer": 5}, "aave"), "round_data"),  # type: ignore[arg-type]
    ("read_price(int, morpho)", lambda: price_feeds.read_price(5, "morpho"), "round_data"),  # type: ignore[arg-type]
    ("sequencer_status(None)", lambda: sequencer.sequencer_status(None, HOUR, NOW), "round_data"),  # type: ignore[arg-type]
    ("validate_borrow_sentinel(str)", lambda: sequencer.validate_borrow_sentinel("up"), "status must be"),  # type: ignore[arg-type]
    ("validate_liquidation_sentinel(None)", lambda: sequencer.validate_liquidation_sentinel(None, E18), "status"),  # type: ignore[arg-type]
    ("capo_max_ratio(None)", lambda: price_adapters.capo_max_ratio(None, NOW), "adapter must be a CapoAdapter"),  # type: ignore[arg-type]
    ("capo_is_capped(dict)", lambda: price_adapters.capo_is_capped({}, E18, NOW), "adapter"),  # type: ignore[arg-type]
    ("capo_latest_answer(int)", lambda: price_adapters.capo_latest_answer(1, 10**8, E18, NOW), "adapter"),  # type: ignore[arg-type]
    ("capo_validate_snapshot(None)", lambda: price_adapters.capo_validate_snapshot(None, NOW), "adapter"),  # type: ignore[arg-type]
    ("morpho_oracle_price(None)", lambda: price_adapters.morpho_oracle_price(None, base_feed_1=1), "oracle must be"),  # type: ignore[arg-type]
    # A collection argument that is no iterable: TypeError from iter().
    ("RoundData.from_tuple(None)", lambda: price_feeds.RoundData.from_tuple(None), "latestRoundData"),  # type: ignore[arg-type]
    ("RoundData.from_tuple(5)", lambda: price_feeds.RoundData.from_tuple(5), "latestRoundData"),  # type: ignore[arg-type]
    ("value_at_oracle(None)", lambda: price_feeds.value_at_oracle(None), "positions must be"),  # type: ignore[arg-type]
    ("value_at_oracle(7)", lambda: price_feeds.value_at_oracle(7), "positions must be"),  # type: ignore[arg-type]
    ("absorb(comet, None)", lambda: comet.absorb(COMET, None), "accounts must be"),  # type: ignore[arg-type]
    ("absorb(comet, 0)", lambda: comet.absorb(COMET, 0), "accounts must be"),  # type: ignore[arg-type]
    # A choice or key compared with `in` / `==`: a NumPy array raised ValueError, a list TypeError.
    ("get_user_account_data(version=array)", lambda: aave.get_user_account_data(HEALTHY, version=ARRAY), "version"),  # type: ignore[arg-type]
    (
        "liquidation_call(collateral_asset=array)",
        lambda: aave.liquidation_call(HEALTHY, ARRAY, "USDX", 1),
        "collateral_asset",
    ),  # type: ignore[arg-type]
    ("validate_hf_and_ltv(asset=array)", lambda: aave.validate_hf_and_ltv(HEALTHY, ARRAY), "asset"),  # type: ignore[arg-type]
    ("validate_use_as_collateral(asset=array)", lambda: aave.validate_use_as_collateral(HEALTHY, ARRAY), "asset"),  # type: ignore[arg-type]
    (
        "AaveReserve(balance_rounding=array)",
        lambda: AaveReserve("W", 1, 18, 0, 0, balance_rounding=ARRAY),
        "balance_rounding",
    ),  # type: ignore[arg-type]
    (
        "sequencer_status(version=array)",
        lambda: sequencer.sequencer_status(UPTIME, HOUR, NOW, version=ARRAY),
        "version",
    ),  # type: ignore[arg-type]
    ("Comet.account([])", lambda: COMET.account([]), "account must be"),  # type: ignore[arg-type]
    ("Comet.assets_in({})", lambda: COMET.assets_in({}), "account must be"),  # type: ignore[arg-type]
    ("Comet.collateral_balance([])", lambda: COMET.collateral_balance([]), "asset must be"),  # type: ignore[arg-type]
    ("scaled_balance(balance=None)", lambda: scaled_balance(None, 2 * RAY, "collateral", "half_up"), "balance"),  # type: ignore[arg-type]
    ("scaled_balance(index='x')", lambda: scaled_balance(E18, "x", "collateral", "half_up"), "index"),  # type: ignore[arg-type]
    ("scaled_balance(balance=np.int64)", lambda: scaled_balance(np.int64(3), 3 * RAY, "collateral", "half_up"), "!ok"),
    # A flag or value accepted whatever it was.
    (
        "aave_asset_price(is_base_currency='no')",
        lambda: price_feeds.aave_asset_price(5, is_base_currency="no"),
        "is_base_currency",
    ),  # type: ignore[arg-type]
    (
        "aave_asset_price(is_base_currency=None)",
        lambda: price_feeds.aave_asset_price(5, is_base_currency=None),
        "is_base_currency",
    ),  # type: ignore[arg-type]
    (
        "read_price(checked, fallback_price='x')",
        lambda: price_feeds.read_price(ROUND, "checked", block_timestamp=NOW, heartbeat=HOUR, fallback_price="x"),
        "fallback_price",
    ),  # type: ignore[arg-type]
    (
        "read_price(morpho, fallback_price=-1)",
        lambda: price_feeds.read_price(ROUND, "morpho", fallback_price=-1),
        "fallback_price",
    ),
    (
        "value_at_oracle(symbol=None)",
        lambda: price_feeds.value_at_oracle([{"symbol": None, "amount": 1, "oracle_price": 1}]),
        "symbol",
    ),
    (
        "value_at_oracle(symbol=nan)",
        lambda: price_feeds.value_at_oracle([{"symbol": float("nan"), "amount": 1, "oracle_price": 1}]),
        "symbol",
    ),
    ("scaled_balance(side='x')", lambda: scaled_balance(E18, 2 * RAY, "x", "directed"), "side"),
    ("scaled_balance(rounding=None)", lambda: scaled_balance(E18, 2 * RAY, "debt", None), "rounding"),  # type: ignore[arg-type]
    ("scaled_balance(index below RAY)", lambda: scaled_balance(E18, 1, "debt", "half_up"), "index"),
    # Bools and strings in the vectorized engines: NumPy read True as 1.0 and "0.8" as 0.8.
    (
        "aave_account_arrays(lt=bools)",
        lambda: fast.aave_account_arrays(BOOK[0], BOOK[1], BOOK[2], [True, False], BOOK[4]),
        "lt",
    ),
    (
        "aave_account_arrays(collateral_value=strs)",
        lambda: fast.aave_account_arrays(BOOK[0], ["1e4", "0"], *BOOK[2:]),
        "collateral_value",
    ),
    ("aave_liquidation_prices(price=True)", lambda: fast.aave_liquidation_prices(*BOOK[:4], [0], True), "price"),
    ("aave_liquidation_prices(price='2000')", lambda: fast.aave_liquidation_prices(*BOOK[:4], [0], ["2000"]), "price"),
    ("morpho_position_arrays(price='3')", lambda: fast.morpho_position_arrays([1.0], [0.5], "3", 0.8), "price"),
    ("morpho_position_arrays(lltv=True)", lambda: fast.morpho_position_arrays([1.0], [0.5], 3.0, True), "lltv"),
]


@pytest.mark.parametrize(("label", "call", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_input_error(label: str, call: Callable[[], object], words: str) -> None:
    if words == "!ok":  # a valid value of another integer type: must compute, not raise
        call()
        return
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        call()


# NumPy integers pass the uint256 checks; kept as int64 they wrapped or overflowed in the wei math.


def _outcome(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except InputError as exc:  # AaveError is an InputError: compare the revert
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("amount", [10**12, 3 * 10**12, 10**8])
def test_validate_borrow_numpy_amount_is_exact(amount: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "overflow encountered" was the symptom
        as_int = _outcome(lambda: aave.validate_borrow(WBTC_BOOK, "WBTC", amount))
        as_np = _outcome(lambda: aave.validate_borrow(WBTC_BOOK, "WBTC", np.int64(amount)))  # type: ignore[arg-type]
    assert as_np == as_int


@pytest.mark.parametrize("index", [RAY, 2 * RAY])
def test_aave_reserve_stores_numpy_ints_as_python_ints(index: int) -> None:
    kw = {"collateral": np.int64(E18), "debt": np.int64(2 * E18), "liquidity_index": index}
    row = AaveReserve(
        "W",
        np.int64(2000 * 10**8),
        np.int64(18),
        8000,
        8500,
        liquidation_bonus=10500,
        **kw,
        variable_borrow_index=index,
    )  # type: ignore[arg-type]
    assert all(
        type(getattr(row, name)) is int for name in ("price", "decimals", "collateral", "debt", "liquidation_bonus")
    )
    plain = AaveReserve(
        "W",
        2000 * 10**8,
        18,
        8000,
        8500,
        collateral=E18,
        debt=2 * E18,
        liquidation_bonus=10500,
        liquidity_index=index,
        variable_borrow_index=index,
    )
    assert row == plain
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert aave.get_user_account_data([row]) == aave.get_user_account_data([plain])
        assert aave.liquidation_call([row], "W", "W", 10**17) == aave.liquidation_call([plain], "W", "W", 10**17)


def test_emode_category_stores_python_ints() -> None:
    cat = EModeCategory(np.int64(9000), np.int64(9300), np.int64(10100), np.int64(5))  # type: ignore[arg-type]
    assert cat == EModeCategory(9000, 9300, 10100, 5)
    assert all(type(v) is int for v in (cat.ltv, cat.lt, cat.liquidation_bonus, cat.price))


# --- valid input keeps its behaviour ----------------------------------------------------------------


def test_valid_inputs_unchanged() -> None:
    assert price_feeds.check_round(ROUND, NOW, HOUR).ok
    assert price_feeds.read_price(ROUND, "aave", fallback_price=10**8).price == 2000 * 10**8
    assert (
        price_feeds.read_price(ROUND, "checked", block_timestamp=NOW, heartbeat=HOUR, fallback_price=None).unwrap()
        == 2000 * 10**8
    )
    assert price_feeds.aave_asset_price(-7, is_base_currency=True).price == 10**8
    assert price_feeds.aave_asset_price(5, is_base_currency=np.bool_(False)).price == 5
    assert price_feeds.RoundData.from_tuple([9, 5, 1, 1, 9]).answer == 5
    report = price_feeds.value_at_oracle(
        [{"amount": 2, "oracle_price": 3.0}, {"symbol": "X", "amount": -1, "oracle_price": 1}]
    )
    assert [r.symbol for r in report.rows] == ["#0", "X"]
    assert price_feeds.value_at_oracle(iter([])).rows == ()
    assert STATUS.borrow_allowed
    sequencer.validate_borrow_sentinel(STATUS)
    sequencer.validate_liquidation_sentinel(STATUS, E18)
    assert price_adapters.capo_max_ratio(CAPO, NOW) >= CAPO.snapshot_ratio
    assert price_adapters.morpho_oracle_price(ORACLE, base_feed_1=2000 * 10**8, quote_feed_1=10**8) > 0
    assert COMET.account("nobody").principal == 0
    assert COMET.collateral_balance("ETH") == 10**17
    assert comet.absorb(COMET, ()).absorptions == ()
    assert scaled_balance(E18, RAY, "collateral", "half_up") == E18
    assert scaled_balance(2 * E18, 2 * RAY, "debt", "directed") == E18
    assert aave.get_user_account_data(HEALTHY).total_collateral_base == 20_000 * 10**8
    assert aave.validate_borrow(HEALTHY, "USDX", np.int64(10**6)) == aave.validate_borrow(HEALTHY, "USDX", 10**6)  # type: ignore[arg-type]
    r = fast.aave_account_arrays(np.array([0, 2]), np.array(BOOK[1]), *BOOK[2:])
    assert r.health_factor[0] == pytest.approx(4.0 / 3.0, rel=1e-15)
    assert fast.morpho_position_arrays([1.0], [0.5], 3, 0.8).health_factor[0] == pytest.approx(4.8)
