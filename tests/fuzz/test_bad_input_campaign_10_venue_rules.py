"""Bad-input campaign 10 (2026-12-07): the venue rule helpers (BitMEX and OKX, the ADL module,
:class:`LiquidationRule` and :class:`VenueModel`, the symbol readers) and the paper venue
(:class:`PaperVenue`, its feeds and faults) given None, text, lists, NaN, inf and ints beyond
float64.

Each case failed before the fix with a raw TypeError, ValueError, IndexError, AttributeError or
OverflowError, returned NaN or a wrong answer (``adl_allocate`` with a negative index read the
last size, ``margin_fees("0.1")`` returned the string, ``PaperVenue(faults=5)`` was built and
``close_fee_rate(None)`` on a venue without that fee returned 0), or raised an InputError naming
something else (``okx_tier_rows(None)``, a text ``mark``); every one must now raise an InputError
naming the argument and the value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from levguard.core.instruments import ContractKind
from levguard.core.rules import adl, bitmex, get_venue, okx
from levguard.core.rules.base import (
    GENERIC_LIQUIDATION,
    BaseAssetTable,
    ByKind,
    LiquidationRule,
    NamedKind,
    SymbolConstant,
    either_kind,
)
from levguard.core.symbols import base_asset, symbol_key
from levguard.errors import InputError
from levguard.venues.paper import Faults, PaperVenue, PriceFeed, scripted_crash

NAN, INF = float("nan"), float("inf")
BIG = 10**400  # a Python int beyond float64's range
FEEDS = {"BTCUSDT": [1.0]}
POS = adl.AdlPosition(1.0, 100.0, 110.0, 50.0)


def _paper(**kw: object) -> PaperVenue:
    args: dict[str, object] = {"feeds": FEEDS, "wallet_balance": 1.0, **kw}
    return PaperVenue("bybit-linear", **args)  # type: ignore[arg-type]


def _venue() -> PaperVenue:
    return _paper(feeds={"BTCUSDT": [100.0, 100.0]})


RULE_CASES: list[tuple[str, Callable[[], object], str]] = [
    # BitMEX ADL helpers
    ("bitmex.adl_queue NaN size", lambda: bitmex.adl_queue([1.0, 2.0], [1.0, NAN]), r"sizes\[1\] must be finite, was nan"),
    ("bitmex.adl_queue inf size", lambda: bitmex.adl_queue([1.0, 2.0], [1.0, INF]), r"sizes\[1\] must be finite, was inf"),
    ("bitmex.adl_queue NaN score", lambda: bitmex.adl_queue([NAN], [1.0]), r"scores\[0\] must be finite, was nan"),
    ("bitmex.adl_queue text sizes", lambda: bitmex.adl_queue([1.0], "1"), "sizes must be numbers"),  # type: ignore[arg-type]
    ("bitmex.adl_queue None scores", lambda: bitmex.adl_queue(None, [1.0]), "scores must be a 1-D array"),  # type: ignore[arg-type]
    ("adl.adl_allocate index out of range", lambda: adl.adl_allocate([5], [1.0], 1.0), r"order\[0\] must be an integer in \[0, 1\), was 5"),
    ("adl.adl_allocate negative index", lambda: adl.adl_allocate([-1], [1.0, 2.0], 1.0), r"order\[0\] must be an integer in \[0, 2\), was -1"),
    ("adl.adl_allocate text index", lambda: adl.adl_allocate(["0"], [1.0], 1.0), r"order\[0\] must be an integer"),  # type: ignore[list-item]
    ("adl.adl_allocate order None", lambda: adl.adl_allocate(None, [1.0], 1.0), "order must be a sequence of indices into sizes, was None"),  # type: ignore[arg-type]
    ("adl.adl_allocate NaN size", lambda: adl.adl_allocate([0], [NAN], 1.0), r"sizes\[0\] must be finite, was nan"),
    ("adl.adl_allocate text qty", lambda: adl.adl_allocate([0], [1.0], "1"), "qty must be a number, was '1'"),  # type: ignore[arg-type]
    ("bitmex.adl_ranking NaN qty", lambda: bitmex.adl_ranking(NAN, 1.0, 1.0, 1.0), "qty must be finite, was nan"),
    ("bitmex.adl_ranking text qty", lambda: bitmex.adl_ranking("1", 1, 1, 1), "qty must be a number, was '1'"),  # type: ignore[arg-type]
    ("bitmex.adl_ranking None bankruptcy", lambda: bitmex.adl_ranking(1.0, 1.0, 1.0, None), "bankruptcy_price must be a number, was None"),  # type: ignore[arg-type]
    # ADL module
    ("AdlPosition huge int", lambda: adl.AdlPosition(BIG, 1.0, 1.0, 1.0), "qty must be a number within float64 range"),
    ("adl_queue huge liquidated_qty", lambda: adl.adl_queue("bitmex", [POS], BIG), "liquidated_qty must be a finite non-zero"),
    ("adl_fill_price huge int", lambda: adl.adl_fill_price("bitmex", bankruptcy_price=BIG), "bankruptcy_price must be a number within float64"),
    ("bybit_pnl_ratio text", lambda: adl.bybit_pnl_ratio("1", 1.0, 1.0), "symbol_pnl must be a number, was '1'"),  # type: ignore[arg-type]
    ("bybit_pnl_ratio None balance", lambda: adl.bybit_pnl_ratio(0.0, 1.0, None), "max_balance_8h must be a number, was None"),  # type: ignore[arg-type]
    ("bybit_adl_check text balance", lambda: adl.bybit_adl_check("1", -0.1, 1.0, trigger_threshold=1.0), "balance must be a number, was '1'"),  # type: ignore[arg-type]
    ("bybit_adl_check None ratio", lambda: adl.bybit_adl_check(1.0, None, 1.0, trigger_threshold=1.0), "pnl_ratio must be a number, was None"),  # type: ignore[arg-type]
    ("bybit_adl_check list threshold", lambda: adl.bybit_adl_check(1.0, -0.1, 1.0, trigger_threshold=[1]), "trigger_threshold must be a number"),  # type: ignore[arg-type]
    ("hyperliquid_resolution text", lambda: adl.hyperliquid_resolution("1", 1.0), "account_value must be a number, was '1'"),  # type: ignore[arg-type]
    ("hyperliquid_resolution None mm", lambda: adl.hyperliquid_resolution(1.0, None), "maintenance_margin must be a number, was None"),  # type: ignore[arg-type]
    # OKX helpers
    ("okx.scale_liquidation_cost text amount", lambda: okx.scale_liquidation_cost("1", [(1, 1)]), "mr7_raw must be a number, was '1'"),  # type: ignore[arg-type]
    ("okx.scale_liquidation_cost None bound", lambda: okx.scale_liquidation_cost(1.0, [(None, 1)]), r"tiers\[0\] upper bound must be a number, was None"),  # type: ignore[list-item]
    ("okx.scale_liquidation_cost 1-tuple tier", lambda: okx.scale_liquidation_cost(5.0, [(10,)]), r"tiers\[0\] must be an \(upper_bound, multiplier\) pair, was \(10,\)"),  # type: ignore[list-item]
    ("okx.scale_liquidation_cost text multiplier", lambda: okx.scale_liquidation_cost(1.0, [(10, "2")]), r"tiers\[0\] multiplier must be a number, was '2'"),  # type: ignore[list-item]
    ("okx.scale_liquidation_cost tiers None", lambda: okx.scale_liquidation_cost(1.0, None), "tiers must be a sequence"),  # type: ignore[arg-type]
    ("okx.portfolio_maintenance_margin text", lambda: okx.portfolio_maintenance_margin("1", 1, 1, 1, 1, 1, 1), "mr1 must be a number, was '1'"),  # type: ignore[arg-type]
    ("okx.okx_tier_rows([5])", lambda: okx.okx_tier_rows([5], contract_size=1), r"rows\[0\] must be a Mapping, was int 5"),  # type: ignore[list-item]
    ("okx.okx_tier_rows(None)", lambda: okx.okx_tier_rows(None, contract_size=1), "rows must be a sequence of OKX tier mappings, was None"),  # type: ignore[arg-type]
    ("okx.okx_tier_rows huge cap", lambda: okx.okx_tier_rows([{"maxNotional": BIG}], contract_size=1), r"rows\[0\]\.maxNotional must be a number of contracts"),
    ("okx.market_tier_rows contractSize 'abc'", lambda: okx.market_tier_rows([{"maxNotional": 5}], {"contractSize": "abc"}), r"market\['contractSize'\] must be a number, was 'abc'"),
    ("okx.market_tier_rows market None", lambda: okx.market_tier_rows([{"maxNotional": 5}], None), "market must be a Mapping, was NoneType None"),  # type: ignore[arg-type]
    ("okx.market_tier_rows text mark", lambda: okx.market_tier_rows([{"maxNotional": 5}], {}, "1"), "mark must be a number, was '1'"),  # type: ignore[arg-type]
    # Symbol readers
    ("bitmex.symbol_kind(None)", lambda: bitmex.symbol_kind(None), "symbol must be a str, was NoneType None"),  # type: ignore[arg-type]
    ("okx.inverse_face_value(None)", lambda: okx.inverse_face_value(None), "symbol must be a str, was NoneType None"),  # type: ignore[arg-type]
    ("either_kind(5)", lambda: either_kind(5), "symbol must be a str, was int 5"),  # type: ignore[arg-type]
    ("NamedKind(None)", lambda: NamedKind("x", ContractKind.LINEAR, "advice")(None), "symbol must be a str"),  # type: ignore[arg-type]
    ("ByKind(None)", lambda: ByKind(SymbolConstant(1.0), SymbolConstant(2.0))(None), "symbol must be a str"),  # type: ignore[arg-type]
    ("BaseAssetTable([1])", lambda: BaseAssetTable((("BTC", 1.0),))([1]), "symbol must be a str, was list"),  # type: ignore[arg-type]
    ("base_asset(None)", lambda: base_asset(None), "symbol must be a str"),  # type: ignore[arg-type]
    ("symbol_key(1.5)", lambda: symbol_key(1.5), "symbol must be a str, was float 1.5"),  # type: ignore[arg-type]
    ("VenueModel.kind_for(None)", lambda: get_venue("bitmex").kind_for(None), "symbol must be a str"),  # type: ignore[arg-type]
    ("VenueModel.min_order_notional huge price", lambda: get_venue("okx").min_order_notional("BTCUSDT", BIG), "price must be a number within float64"),
    ("VenueModel.liquidatable text", lambda: get_venue("okx").liquidatable("1", 1.0), "balance must be a number, was '1'"),  # type: ignore[arg-type]
    ("VenueModel.margin_fees text", lambda: get_venue("okx").margin_fees("0.1"), "taker_fee must be a number, was '0.1'"),  # type: ignore[arg-type]
    ("VenueModel.read_tiers rows", lambda: get_venue("okx").read_tiers([{"mmr": 0.01}]), "table must be a TierTable, was list"),  # type: ignore[arg-type]
    ("VenueModel.taker_fee dict", lambda: get_venue("okx").taker_fee({"taker_fee_rate": 0.1}), "position must be a Position, was dict"),  # type: ignore[arg-type]
    ("VenueModel.close_fee_rate None", lambda: get_venue("okx").close_fee_rate(None), "position must be a Position, was NoneType"),  # type: ignore[arg-type]
    ("VenueModel.mm_size_coef None", lambda: get_venue("deribit").mm_size_coef(None), "position must be a Position, was NoneType"),  # type: ignore[arg-type]
    # LiquidationRule
    ("LiquidationRule(fraction='0.5')", lambda: LiquidationRule(kind="book", fraction="0.5"), "liquidation fraction must be a number, was '0.5'"),  # type: ignore[arg-type]
    ("LiquidationRule(min_notional=None)", lambda: LiquidationRule(kind="book", min_notional=None), "liquidation min_notional must be a number, was None"),  # type: ignore[arg-type]
    ("LiquidationRule(backstop=None)", lambda: LiquidationRule(kind="book", backstop=None), "liquidation backstop must be a number, was None"),  # type: ignore[arg-type]
    ("LiquidationRule(partial_cooldown_s='1')", lambda: LiquidationRule(kind="book", partial_cooldown_s="1"), "liquidation partial_cooldown_s must be a number"),  # type: ignore[arg-type]
    ("LiquidationRule(step_from='a')", lambda: LiquidationRule(kind="takeover", partial="tier", step_from="a"), r"liquidation step_from must be an integer in \[0, .*\), was 'a'"),  # type: ignore[arg-type]
    ("LiquidationRule(step_to=None)", lambda: LiquidationRule(kind="takeover", partial="tier", step_to=None), r"liquidation step_to must be an integer in \[-1, "),  # type: ignore[arg-type]
    ("LiquidationRule(fee_rate=huge int)", lambda: LiquidationRule(kind="book", fee_rate=BIG), "liquidation fee_rate must be a number within float64"),
    ("LiquidationRule.resolved_fee text", lambda: GENERIC_LIQUIDATION.resolved_fee("x"), "taker_fee must be a number, was 'x'"),  # type: ignore[arg-type]
    ("LiquidationRule.resolved_fee NaN", lambda: GENERIC_LIQUIDATION.resolved_fee(NAN), "taker_fee must be finite, was nan"),
    ("LiquidationRule.vector text fee", lambda: GENERIC_LIQUIDATION.vector("0.1"), "fee_rate must be a number, was '0.1'"),  # type: ignore[arg-type]
]  # fmt: skip

PAPER_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("PaperVenue(positions=[5])", lambda: _paper(positions=[5]), r"positions\[0\] must be a Mapping, was int 5"),
    ("PaperVenue(positions=None)", lambda: _paper(positions=None), "positions must be a list of position mappings, was None"),
    ("PaperVenue(wallet_balance='1')", lambda: _paper(wallet_balance="1"), "wallet_balance must be a number, was '1'"),
    ("PaperVenue(wallet_balance=huge int)", lambda: _paper(wallet_balance=BIG), "wallet_balance must be a number within float64"),
    ("PaperVenue(taker_fee='0.1')", lambda: _paper(taker_fee="0.1"), "taker_fee must be a number, was '0.1'"),
    ("PaperVenue(lot_size='0.1')", lambda: _paper(lot_size="0.1"), "lot_size must be a number, was '0.1'"),
    ("PaperVenue(slippage_bps=None)", lambda: _paper(slippage_bps=None), "slippage_bps must be a number, was None"),
    ("PaperVenue(feeds=[1, 2])", lambda: _paper(feeds=[1, 2]), r"feeds must be a Mapping, was list \[1, 2\]"),
    ("PaperVenue(feeds={None: ...})", lambda: _paper(feeds={None: [1.0]}), "feeds key must be a str, was NoneType None"),
    ("PaperVenue feed text", lambda: _paper(feeds={"BTCUSDT": "abc"}), "last must be numbers"),
    ("PaperVenue(tiers={'BTCUSDT': 5})", lambda: _paper(tiers={"BTCUSDT": 5}), r"tiers\['BTCUSDT'\] must be a list of tier objects, was int"),
    ("PaperVenue(tiers=[1])", lambda: _paper(tiers=[1]), r"tiers must be a Mapping, was list \[1\]"),
    ("PaperVenue(start_ns='abc')", lambda: _paper(start_ns="abc"), "start_ns must be a whole number"),
    ("PaperVenue(tick_ns=NaN)", lambda: _paper(tick_ns=NAN), "tick_ns must be a whole number"),
    ("PaperVenue(faults=5)", lambda: _paper(faults=5), "faults must be a Faults, was int 5"),
    ("PaperVenue(order_expiry_s=huge int)", lambda: _paper(order_expiry_s=BIG), "order_expiry_s must be a number within float64"),
    (
        "PaperVenue position qty huge int",
        lambda: _paper(positions=[{"symbol": "BTCUSDT", "qty": BIG, "entry": 1.0}]),
        r"positions\[0\] needs numeric qty and entry",
    ),
    ("PaperVenue.shock symbol list", lambda: _venue().shock([1], 0.1), r"symbol must be one of BTCUSDT, was \[1\]"),  # type: ignore[arg-type]
    ("PaperVenue.shock drop text", lambda: _venue().shock("BTCUSDT", "0.1"), "drop must be a number, was '0.1'"),  # type: ignore[arg-type]
    ("PaperVenue.shock hold None", lambda: _venue().shock("BTCUSDT", 0.1, 2, hold=None), r"hold must be an integer in \[0, "),  # type: ignore[arg-type]
    ("PaperVenue.shock ticks huge", lambda: _venue().shock("BTCUSDT", 0.1, 10**19), r"ticks must be an integer in \[1, "),
    ("PaperVenue.adl symbol None", lambda: _venue().adl(None, 1.0), "symbol must be a str, was NoneType None"),  # type: ignore[arg-type]
    ("PriceFeed text", lambda: PriceFeed("abc"), "last must be numbers"),
    ("PriceFeed dict mark", lambda: PriceFeed([1.0], {}), "mark must be numbers"),
    ("PriceFeed start_ns text", lambda: PriceFeed([1.0], start_ns="abc"), "start_ns must be a whole number"),  # type: ignore[arg-type]
    ("PriceFeed tick_ns text", lambda: PriceFeed([1.0], tick_ns="1"), "tick_ns must be a whole number"),  # type: ignore[arg-type]
    ("PriceFeed.at None", lambda: PriceFeed([1.0]).at(None), "tick must be an integer"),  # type: ignore[arg-type]
    ("scripted_crash start text", lambda: scripted_crash("1", 0.1, 5), "start must be a number, was '1'"),  # type: ignore[arg-type]
    ("scripted_crash drop None", lambda: scripted_crash(100.0, None, 5), "drop must be a number, was None"),  # type: ignore[arg-type]
    ("scripted_crash flat True", lambda: scripted_crash(100.0, 0.1, 5, flat=True), r"flat must be an integer in \[1, .*was True"),
    ("scripted_crash ticks huge", lambda: scripted_crash(100.0, 0.1, 10**19), r"ticks must be an integer in \[1, "),
    ("scripted_crash rebound text", lambda: scripted_crash(100.0, 0.1, 5, rebound="0.1"), "rebound must be a number"),  # type: ignore[arg-type]
    ("Faults.fail error list", lambda: Faults().fail(error=[1]), r"error must be a VenueError or one of"),  # type: ignore[arg-type]
    ("Faults.add_latency text", lambda: Faults().add_latency("*", "1"), "seconds must be a number, was '1'"),  # type: ignore[arg-type]
    ("Faults.order_latency None", lambda: Faults().order_latency(None), "arrive_after_s must be a finite number of seconds"),  # type: ignore[arg-type]
    ("Faults.order_latency huge int", lambda: Faults().order_latency(BIG), "arrive_after_s must be a number within float64"),
    ("Faults.latency list", lambda: Faults().latency([1]), r"method must be '\*' or one of"),  # type: ignore[arg-type]
]  # fmt: skip

CASES = RULE_CASES + PAPER_CASES


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_venue_rules_and_paper_venue_name_the_bad_value(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()


def test_good_inputs_still_give_the_published_numbers() -> None:
    """The checks keep the documented examples: BitMEX's queue and allocation, OKX's MR7 scaling."""
    order, pct = bitmex.adl_queue([3, 6, 1, 4, 5, 2], [10, 10, 20, 30, 20, 10])
    assert order == [1, 4, 3, 0, 5, 2]
    assert list(pct) == pytest.approx([0.8, 0.2, 1.0, 0.6, 0.4, 0.8])
    assert bitmex.adl_allocate([1, 4], [10.0, 10.0, 20.0, 30.0, 20.0], 20.0) == [(1, 10.0), (4, 10.0)]
    assert okx.scale_liquidation_cost(30_000.0, [(10_000, 1), (70_000, 2)]) == 50_000.0
    assert okx.scale_liquidation_cost(1.0, [[INF, 1]]) == 1.0  # type: ignore[list-item]
    rule = LiquidationRule(kind="takeover", partial="tier", step_from=2, step_to=0, fraction=1)
    assert (rule.step_from, rule.fraction) == (2, 1.0)
    assert _paper(taker_fee=0, slippage_bps=0, lot_size=0, wallet_balance=5).wallet_balance == 5.0
    prices = np.array([100.0, 90.0])
    feed = PriceFeed(prices, start_ns=0.0, tick_ns=60e9)  # type: ignore[arg-type]  # integral floats
    assert prices.flags.writeable  # the feed holds a read-only copy, not the caller's array
    assert not feed.last.flags.writeable
    assert (feed.start_ns, feed.tick_ns) == (0, 60_000_000_000)
