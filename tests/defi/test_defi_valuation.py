"""Positions valued at the oracle price (levguard.defi.valuation): each protocol's read policy, the
feed checks it skips, CAPO caps, and the health factor at the oracle's prices against the market's.

The capped case is the wstETH CAPO incident of 2026-03-10 (Aave governance forum post-mortem,
governance.aave.com/t/24269; the numbers of tests/golden/test_oracle_examples.py): snapshot ratio
raised only to 1.1572 x 1.03 while the timestamp moved 7 days back, growth 8.72 % a year, live
ratio ~1.2289: the cap sits ~2.85 % below the exchange rate and an e-mode position at HF ~1.010
on the market falls to ~0.981 on the oracle.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.defi import oracles
from levguard.defi.aave import get_user_account_data
from levguard.defi.morpho import health_factor
from levguard.defi.positions import AavePosition, MorphoPosition, load_position, oracle_price_from
from levguard.defi.valuation import oracle_valuation
from levguard.errors import InputError

NOW = 1_773_143_160
DAY = 86_400
ETH_USD = 1_934 * 10**8
SNAPSHOT = 1_157_200_000_000_000_000 * 103 // 100  # the 3 % bound per update
MARKET_RATIO = 1_228_900_000_000_000_000
WSTETH_MARKET = "2376.6926"  # 1934 x 1.2289


def incident() -> dict[str, Any]:
    return {
        "protocol": "aave-v3",
        "emode_category": {"ltv": 0.93, "lt": 0.95, "bonus": 0.01},
        "reserves": [
            {"symbol": "wstETH", "price_usd": WSTETH_MARKET, "decimals": 18, "ltv": 0.785, "lt": 0.81,
             "bonus": 0.06, "collateral": 100, "in_emode": True},
            {"symbol": "WETH", "price_usd": 1934, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
             "debt": "115.59", "in_emode": True},
            {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78},
        ],
        "oracles": {
            "block_timestamp": NOW,
            "assets": {
                "wstETH": {"answer": ETH_USD, "decimals": 8, "updated_at": NOW - 600, "heartbeat": 3_600,
                           "capo": {"snapshot_ratio": str(SNAPSHOT), "snapshot_timestamp": NOW - 7 * DAY,
                                    "max_yearly_ratio_growth_percent": 872, "ratio": str(MARKET_RATIO),
                                    "minimum_snapshot_delay": 7 * DAY},
                           "market_price": WSTETH_MARKET},
                "WETH": {"answer": ETH_USD, "updated_at": NOW - 600, "heartbeat": 3_600, "market_price": 1934},
            },
        },
    }  # fmt: skip


def test_capped_wsteth_shows_the_capo_gap_and_the_lower_health_factor() -> None:
    v = oracle_valuation(incident())
    wsteth, weth = v.assets
    assert (wsteth.symbol, wsteth.source, wsteth.capped, wsteth.outcome) == ("wstETH", "capo", True, "answer")
    capo = oracles.capo_latest_answer(
        oracles.CapoAdapter(SNAPSHOT, NOW - 7 * DAY, 872, minimum_snapshot_delay=7 * DAY), ETH_USD, MARKET_RATIO, NOW
    )
    assert wsteth.price == capo.answer == 230_902_053_865
    assert wsteth.gap == pytest.approx(-0.0285, abs=5e-4)
    assert wsteth.cap_headroom == pytest.approx(capo.headroom)
    assert weth.gap == 0.0
    assert weth.failures == ()
    assert [a.symbol for a in v.assets] == ["wstETH", "WETH"]  # USDC: no entry, no balance
    # The health factors are getUserAccountData's with each set of prices.
    pos = load_position(incident())
    assert isinstance(pos, AavePosition)

    def hf(wsteth_price: int) -> int:
        rows = [replace(r, price=wsteth_price) if r.symbol == "wstETH" else r for r in pos.reserves]
        return get_user_account_data(rows, pos.emode_category, "3.3").health_factor

    assert v.health_factor_oracle_wad == hf(capo.answer)
    assert v.health_factor_market_wad == hf(237_669_260_000)
    assert v.health_factor_market > 1 > v.health_factor_oracle  # type: ignore[operator]
    assert v.health_factor_oracle == pytest.approx(0.981, abs=1e-3)
    assert v.health_factor_market == pytest.approx(1.010, abs=1e-3)
    assert v.health_factor_gap == pytest.approx(wsteth.gap, rel=1e-6)  # one collateral: HF moves with its price
    assert v.gap == pytest.approx(-0.4793, abs=1e-4)  # the equity gap the docs show
    assert v.value_gap == pytest.approx(v.oracle_value - v.market_value)  # type: ignore[operator]
    assert v.exact == {"wstETH": capo.answer, "WETH": ETH_USD}


def test_stale_answer_is_flagged_but_used_by_aave() -> None:
    spec = incident()
    spec["oracles"]["assets"]["WETH"]["updated_at"] = NOW - 7_200
    v = oracle_valuation(spec)
    weth = v.assets[1]
    assert weth.failures == ("stale",)
    assert (weth.age, weth.heartbeat) == (7_200, 3_600)
    assert weth.outcome == "answer"
    assert weth.price == ETH_USD
    assert v.failures == ("WETH: stale",)
    assert "updated 7200 s ago" in weth.detail
    assert v.health_factor_oracle_wad == oracle_valuation(incident()).health_factor_oracle_wad


def test_incomplete_round_is_flagged() -> None:
    spec = incident()
    spec["oracles"]["assets"]["WETH"] |= {"round_id": 9, "answered_in_round": 8}
    assert oracle_valuation(spec).assets[1].failures == ("incomplete_round",)


def test_aave_non_positive_answer_goes_to_the_fallback_or_reverts() -> None:
    spec = incident()
    spec["oracles"]["assets"]["WETH"] |= {"answer": 0, "fallback_answer": 190_000_000_000}
    v = oracle_valuation(spec)
    weth = v.assets[1]
    assert (weth.outcome, weth.reason, weth.price, weth.oracle_price) == (
        "fallback", "non_positive_answer", 190_000_000_000, 1_900.0
    )  # fmt: skip
    assert weth.failures == ("non_positive_answer",)
    del spec["oracles"]["assets"]["WETH"]["fallback_answer"]
    v = oracle_valuation(spec)
    assert v.assets[1].outcome == "revert"
    assert v.assets[1].price is None
    assert v.health_factor_oracle is None
    assert v.health_factor_oracle_wad is None
    assert v.reason.startswith("WETH: the oracle read reverts (no_fallback_oracle")
    assert v.health_factor_market_wad > 0
    assert v.gap is None


def test_stablecoin_capo_caps_the_answer() -> None:
    spec = incident()
    spec["reserves"][2] |= {"debt": 1_000}
    spec["oracles"]["assets"]["USDC"] = {"answer": 104_000_000, "updated_at": NOW, "heartbeat": 86_400,
                                         "capo": {"price_cap": 100_400_000}, "market_price": 1.04}  # fmt: skip
    usdc = oracle_valuation(spec).assets[2]
    assert (usdc.source, usdc.capped, usdc.price) == ("capo_stable", True, 100_400_000)
    assert usdc.gap == pytest.approx(1.004 / 1.04 - 1)
    assert usdc.cap_headroom == pytest.approx(100_400_000 / 104_000_000 - 1)


def morpho() -> dict[str, Any]:
    return {
        "protocol": "morpho-blue", "lltv": 0.945, "collateral": 10, "borrow": 9, "collateral_price": 3540,
        "loan_price": 3000, "collateral_decimals": 18, "loan_decimals": 18,
        "collateral_symbol": "wstETH", "loan_symbol": "WETH",
        "oracles": {"block_timestamp": NOW, "assets": {
            "wstETH": {"answer": 353_000_000_000, "updated_at": NOW - 60, "heartbeat": 86_400, "market_price": 3540},
            "WETH": {"answer": 300_000_000_000, "updated_at": NOW - 60, "heartbeat": 3_600, "market_price": 3000},
        }},
    }  # fmt: skip


def test_morpho_values_at_its_chainlink_oracle_v2() -> None:
    v = oracle_valuation(morpho())
    pos = load_position(morpho())
    assert isinstance(pos, MorphoPosition)
    oracle = oracles.MorphoChainlinkOracleV2(18, 18, base_feed_1_decimals=8, quote_feed_1_decimals=8)
    price = oracles.morpho_oracle_price(oracle, base_feed_1=353_000_000_000, quote_feed_1=300_000_000_000)
    assert v.exact["oracle_price"] == price
    assert v.exact["market_oracle_price"] == pos.oracle_price == oracle_price_from(3540, 3000, 18, 18)  # type: ignore[arg-type]
    assert v.health_factor_oracle_wad == health_factor(pos.market, pos.position, pos.lltv, price)
    assert v.health_factor_market_wad == health_factor(pos.market, pos.position, pos.lltv, pos.oracle_price)
    assert v.health_factor_gap == pytest.approx(3530 / 3540 - 1, abs=1e-9)
    assert (v.policy, v.value_unit) == ("morpho", "USD")
    assert v.assets[0].gap == pytest.approx(3530 / 3540 - 1)


def test_morpho_negative_answer_reverts_and_zero_prices_at_nothing() -> None:
    spec = morpho()
    spec["oracles"]["assets"]["wstETH"]["answer"] = -1
    v = oracle_valuation(spec)
    assert v.assets[0].outcome == "revert"
    assert v.assets[0].reason == "negative answer"
    assert v.health_factor_oracle is None
    assert "negative answer" in v.reason
    spec["oracles"]["assets"]["wstETH"]["answer"] = 0
    v = oracle_valuation(spec)
    assert v.assets[0].outcome == "answer"
    assert v.assets[0].failures == ("non_positive_answer",)
    assert v.health_factor_oracle_wad == 0
    assert v.assets[0].gap == -1.0


def test_morpho_without_a_loan_feed_prices_in_loan_tokens() -> None:
    spec = morpho()
    # An exchange-rate feed (wstETH in WETH, 18 decimals) and no quote feed.
    spec["oracles"]["assets"] = {"wstETH": {"answer": str(118 * 10**16), "decimals": 18, "updated_at": NOW,
                                            "heartbeat": 86_400, "market_price": 1.18}}  # fmt: skip
    v = oracle_valuation(spec)
    assert v.value_unit == "WETH"
    assert [a.source for a in v.assets] == ["feed", "no_feed"]
    assert v.exact["oracle_price"] == v.exact["market_oracle_price"] == 118 * 10**34
    assert v.health_factor_oracle_wad == v.health_factor_market_wad


def _with(path: str, value: object, base: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = copy.deepcopy(base if base is not None else incident())
    node: Any = spec
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return spec


_DELETE = object()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (_with("oracles.assets.WETH.heartbeat", "hourly"), r"oracles.assets.WETH.heartbeat must be an integer"),
        (_with("oracles.assets.WETH.heartbeat", -1), r"oracles.assets.WETH.heartbeat must be an integer in the uint256"),
        (_with("oracles.assets.WETH.answer", 1.5), r"oracles.assets.WETH.answer must be an integer \(int256\)"),
        (_with("oracles.assets.WETH.decimals", 18), r"oracles.assets.WETH.decimals must be 8"),
        (_with("oracles.assets.WETH.updated_at", NOW + 1), r"oracles.assets.WETH.updated_at must not be after"),
        (_with("oracles.assets.WETH.updated_at", _DELETE), r"oracles.assets.WETH is missing \['updated_at'\]"),
        (_with("oracles.assets.WETH.answerr", 1), r"oracles.assets.WETH has unknown fields \['answerr'\]"),
        (_with("oracles.assets.WETH.market_price", 0), r"oracles.assets.WETH.market_price must be > 0"),
        (_with("oracles.assets.WETH.round_id", 2**80), r"oracles.assets.WETH.round_id must be an integer in the uint80"),
        (_with("oracles.assets.DAI", {}), r"oracles.assets has 'DAI', which is not among the position's assets"),
        (_with("oracles.block_timestamp", _DELETE), r"oracles is missing \['block_timestamp'\]"),
        (_with("oracles.assets", []), r"oracles.assets must be a mapping"),
        (_with("oracles.assets.wstETH.capo.ratio", _DELETE), r"oracles.assets.wstETH.capo is missing \['ratio'\]"),
        (_with("oracles.assets.wstETH.capo.snapshot_ratio", 0), r"oracles.assets.wstETH.capo: SnapshotRatioIsZero"),
        (_with("oracles.assets.wstETH.capo.snapshot_timestamp", NOW + 10),
         r"oracles.assets.wstETH.capo: arithmetic underflow"),
        (_with("oracles.assets.wstETH.capo", {"price_cap": "x"}), r"oracles.assets.wstETH.capo.price_cap must be"),
        (_with("oracles.assets.wstETH.capo", {"price_cap": 1}, morpho()),
         r"oracles.assets.wstETH.capo is an Aave oracle setting"),
        (_with("oracles.assets.wstETH", _DELETE, morpho()), r"oracles.assets needs the collateral 'wstETH'"),
        (_with("oracles", None), "oracles is needed"),
    ],
)  # fmt: skip
def test_bad_oracle_fields_name_the_field(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        oracle_valuation(spec)


def test_market_price_is_needed_where_the_read_reverts() -> None:
    spec = _with("oracles.assets.WETH.market_price", _DELETE, _with("oracles.assets.WETH.answer", -5))
    with pytest.raises(InputError, match=r"oracles.assets.WETH.market_price is needed: the oracle read reverts"):
        oracle_valuation(spec)


def test_a_morpho_loan_feed_answering_0_needs_its_market_price() -> None:
    # price() divides by the quote feed's answer: it reverts, and the loan's market price of 0 (the
    # answer) raised "loan_price must be > 0", a field the oracles: section does not have.
    spec = _with("oracles.assets.WETH.market_price", _DELETE, _with("oracles.assets.WETH.answer", 0, morpho()))
    with pytest.raises(InputError, match=r"^oracles.assets.WETH.market_price is needed: the oracle read reverts \(div"):
        oracle_valuation(spec)
    v = oracle_valuation(_with("oracles.assets.WETH.answer", 0, morpho()))  # with one: valued, and why not
    assert v.health_factor_oracle is None
    assert "price() reverts" in v.reason


@settings(max_examples=60, deadline=None)
@given(
    answer=st.integers(1, 10**13),
    market=st.integers(1, 10**13),
    age=st.integers(0, 10_000),
    heartbeat=st.integers(1, 10_000),
)
def test_one_collateral_health_factors_are_the_engines_at_each_price(
    answer: int, market: int, age: int, heartbeat: int
) -> None:
    """With one collateral fed by one feed: the HF at the oracle is getUserAccountData's at the
    answer, at the market at the market price; they order as the prices do; staleness is flagged
    exactly when the answer is older than the heartbeat, and never changes Aave's price."""
    spec = incident()
    spec["oracles"]["assets"]["wstETH"] = {"answer": answer, "updated_at": NOW - age, "heartbeat": heartbeat,
                                           "market_price": f"{market}e-8"}  # fmt: skip
    v = oracle_valuation(spec)
    pos = load_position(spec)
    assert isinstance(pos, AavePosition)

    def hf(price: int) -> int:
        rows = [replace(r, price=price) if r.symbol == "wstETH" else r for r in pos.reserves]
        return get_user_account_data(rows, pos.emode_category, "3.3").health_factor

    assert v.health_factor_oracle_wad == hf(answer)
    assert v.health_factor_market_wad == hf(market)
    assert v.health_factor_oracle_wad is not None
    assert (v.health_factor_oracle_wad > v.health_factor_market_wad) <= (answer > market)
    assert (v.health_factor_oracle_wad < v.health_factor_market_wad) <= (answer < market)
    assert ("stale" in v.assets[0].failures) == (age > heartbeat)
    assert v.assets[0].price == answer
