"""The guardian's per-cycle work kept across cycles (issue 17): the margin engine's account parsed
once and updated in place (levguard.live.account_cache), and the probabilities of liquidation of an
account's positions in one forecaster call (levguard.live.forecasts.probabilities).  Both must give
exactly what rebuilding from the spec and one call per position give: the same reports, the same
errors."""

from __future__ import annotations

import asyncio
import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from levguard.core.margin import AccountReport, evaluate
from levguard.core.positions import Account
from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import HourlyBars, LiquidationForecaster, fit_forecaster, position_probabilities
from levguard.core.spec import account_from_spec
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.live.account_cache import AccountCache
from levguard.live.forecasts import LiquidationForecasts, probabilities
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.store import Store
from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition

HOUR_NS = 3_600 * 1_000_000_000
T0_NS = 1_700_000_000_000_000_000


def _alt_tiers() -> TierTable:
    return TierTable.from_rows(
        [
            {"notional_floor": 0.0, "notional_cap": 50_000.0, "mmr": 0.01, "max_leverage": 50},
            {"notional_floor": 50_000.0, "notional_cap": "inf", "mmr": 0.02, "max_leverage": 20},
        ],
        source="test",
    )


ALT = _alt_tiers()


def _spec(marks: tuple[float, float, float] = (61_000.0, 3_050.0, 10.5), **change: Any) -> dict[str, Any]:
    # A cross account as the guardian describes it (levguard.live._support.account_spec).
    spec: dict[str, Any] = {
        "venue": "binance-usdm",
        "margin_mode": "cross",
        "wallet_balance": 20_000.0,
        "positions": [
            {"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000.0, "mark_price": marks[0]},
            {"symbol": "ETHUSDT", "qty": -8.0, "entry_price": 3_000.0, "mark_price": marks[1]},
            {"symbol": "ALTUSDT", "qty": 2_000.0, "entry_price": 11.0, "mark_price": marks[2]},
        ],
        "tiers": {"ALTUSDT": ALT},
    }
    spec.update(change)
    return spec


def _isolated(margin: float = 4_000.0, mark: float = 59_000.0) -> dict[str, Any]:
    return {
        "venue": "binance-usdm",
        "margin_mode": "isolated",
        "wallet_balance": 1_000.0,
        "positions": [
            {"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000.0, "mark_price": mark, "isolated_margin": margin},
        ],
    }


def _evaluated(account: Account) -> object:
    # The margin report, or the error evaluating raises (a symbol without tiers).
    try:
        return evaluate(account).to_dict()
    except InputError as exc:
        return str(exc)


def _same(cache: AccountCache, spec: dict[str, Any]) -> Account:
    # The cache's account equals the full parse's, and so do their margin reports; so does the
    # cache's own report (a cross account in one kernel call, levguard.core.margin_cross).
    got = cache.account(spec)
    want = account_from_spec(spec)
    assert got == want
    assert _evaluated(got) == _evaluated(want)
    assert cache.report(spec) == evaluate(want)
    assert json.dumps(cache.report(spec).to_dict()) == json.dumps(evaluate(want).to_dict())
    return got


def _with(spec: dict[str, Any], i: int, **row: Any) -> dict[str, Any]:
    out = copy.deepcopy({k: v for k, v in spec.items() if k != "tiers"})
    if "tiers" in spec:
        out["tiers"] = dict(spec["tiers"])  # the same table objects
    out["positions"][i].update(row)
    return out


# ------------------------------------------------------------------ the account cache


def test_numbers_that_move_are_updated_without_a_new_parse() -> None:
    cache = AccountCache()
    first = _same(cache, _spec())
    # Marks, a quantity, an entry price and the wallet change from cycle to cycle.
    steps = [
        _spec((61_500.0, 3_020.0, 10.1)),
        _with(_spec((61_500.0, 3_020.0, 10.1)), 0, qty=0.75),
        _with(_spec((60_100.0, 3_100.0, 9.0)), 1, qty=-2.0, entry_price=3_010.0),
        _spec((59_000.0, 3_300.0, 8.0), wallet_balance=15_500.0),
        _spec((59_000.0, 3_300.0, 8.0), wallet_balance=0.0),
    ]
    for spec in steps:
        _same(cache, spec)
    assert cache.parses == 1
    # Positions whose numbers did not move are the same objects; so is an unchanged account.
    same_again = _same(cache, _spec((59_000.0, 3_300.0, 8.0), wallet_balance=0.0))
    assert same_again is cache.account(_spec((59_000.0, 3_300.0, 8.0), wallet_balance=0.0))
    moved = cache.account(_spec((59_000.0, 3_300.0, 8.5), wallet_balance=0.0))
    assert moved.positions[0] is same_again.positions[0]
    assert moved.positions[2] is not same_again.positions[2]
    assert first.positions[0].instrument is moved.positions[0].instrument
    assert cache.parses == 1


def test_isolated_margin_is_updated_in_place() -> None:
    cache = AccountCache()
    for margin, mark in ((4_000.0, 59_000.0), (5_500.0, 58_000.0), (5_500.0, 57_000.0)):
        _same(cache, _isolated(margin, mark))
    assert cache.parses == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: {**s, "positions": s["positions"][:2]}, id="position closed"),
        pytest.param(
            lambda s: {
                **s,
                "positions": [
                    *s["positions"],
                    {"symbol": "SOLUSDT", "qty": 5.0, "entry_price": 100.0, "mark_price": 99.0},
                ],
                "tiers": {**s["tiers"], "SOLUSDT": ALT},
            },
            id="position opened",
        ),
        pytest.param(lambda s: {**s, "positions": s["positions"][::-1]}, id="order of positions"),
        pytest.param(
            lambda s: {**s, "tiers": {"ALTUSDT": _alt_tiers()}}, id="tier table refreshed (equal, new object)"
        ),
        pytest.param(
            lambda s: {
                **s,
                "tiers": {
                    "ALTUSDT": TierTable.from_rows(
                        [{"notional_floor": 0.0, "notional_cap": "inf", "mmr": 0.05, "max_leverage": 10}], source="t"
                    )
                },
            },
            id="tier table changed",
        ),
        pytest.param(lambda s: {k: v for k, v in s.items() if k != "tiers"}, id="tiers dropped"),
        pytest.param(lambda s: {**s, "margin_mode": "isolated"}, id="margin mode"),
        pytest.param(lambda s: {**s, "venue": "bybit-linear"}, id="venue"),
        pytest.param(lambda s: _with(s, 2, symbol="ALT2USDT"), id="symbol renamed"),
    ],
)
def test_a_changed_spec_is_parsed_again(change: Any) -> None:
    cache = AccountCache()
    _same(cache, _spec())
    changed = change(_spec((61_200.0, 3_040.0, 10.4)))
    want = account_from_spec(changed)
    assert cache.account(changed) == want
    assert _evaluated(cache.account(changed)) == _evaluated(want)
    assert cache.parses == 2
    # Back to the first shape: parsed again, then reused.
    _same(cache, _spec((61_300.0, 3_030.0, 10.3)))
    _same(cache, _spec((61_400.0, 3_020.0, 10.2)))
    assert cache.parses == 3


@pytest.mark.parametrize(
    ("i", "row"),
    [
        (0, {"mark_price": math.nan}),
        (0, {"mark_price": math.inf}),
        (0, {"mark_price": 0.0}),
        (0, {"mark_price": -1.0}),
        (0, {"mark_price": 1e-31}),
        (1, {"entry_price": 1e31}),
        (1, {"qty": 0.0}),
        (1, {"qty": True}),
        (1, {"qty": None}),
        (1, {"qty": "many"}),
        (2, {"symbol": "ETHUSDT"}),
    ],
)
def test_a_bad_number_raises_the_full_parse_error(i: int, row: dict[str, Any]) -> None:
    cache = AccountCache()
    _same(cache, _spec())
    bad = _with(_spec((61_100.0, 3_010.0, 10.6)), i, **row)
    with pytest.raises(InputError) as want:
        account_from_spec(bad)
    with pytest.raises(InputError) as got_report:
        cache.report(bad)  # the cached cross layout refuses the number: the full parse raises
    _same(cache, _spec((61_150.0, 3_015.0, 10.65)))
    with pytest.raises(InputError) as got:
        cache.account(bad)
    assert str(got.value) == str(want.value) == str(got_report.value)
    _same(cache, _spec((61_200.0, 3_020.0, 10.7)))  # and the next good spec is right


@pytest.mark.parametrize(
    "spec",
    [
        _spec(wallet_balance=-5.0),
        _spec(wallet_balance=1e31),
        _spec(wallet_balance=None),
        _isolated(margin=0.0),
        _isolated(margin=-1.0),
    ],
    ids=["negative wallet", "huge wallet", "no wallet", "zero isolated margin", "negative isolated margin"],
)
def test_bad_account_numbers_raise_the_full_parse_error(spec: dict[str, Any]) -> None:
    cache = AccountCache()
    _same(cache, _spec() if spec["margin_mode"] == "cross" else _isolated())
    with pytest.raises(InputError) as want:
        account_from_spec(spec)
    with pytest.raises(InputError) as got_report:
        cache.report(spec)
    _same(cache, _spec() if spec["margin_mode"] == "cross" else _isolated())
    with pytest.raises(InputError) as got:
        cache.account(spec)
    assert str(got.value) == str(want.value) == str(got_report.value)


@pytest.mark.parametrize(
    "row",
    [{"qty": 1}, {"qty": "0.25"}, {"mark_price": np.float64(60_500.0)}, {"leverage": 10.0}, {"mmr": 0.01}],
    ids=["int qty", "string qty", "numpy mark", "leverage given", "fixed mmr"],
)
def test_other_shapes_take_the_full_parse(row: dict[str, Any]) -> None:
    # Numbers the parse converts, and fields the guardian does not send: always parsed in full.
    cache = AccountCache()
    _same(cache, _spec())
    spec = _with(_spec(), 0, **row)
    got = _same(cache, spec)
    assert all(type(p.qty) is float and type(p.mark_price) is float for p in got.positions)
    _same(cache, _with(_spec((61_050.0, 3_050.0, 10.5)), 0, **row))


# ------------------------------------------------------------------ probabilities in one call


def _hourly_bars(n: int, seed: int) -> HourlyBars:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.008, n)))
    opens = np.concatenate([[100.0], close[:-1]])
    wig = np.abs(rng.normal(0.0, 0.002, size=(2, n)))
    return HourlyBars.from_arrays(
        (T0_NS // HOUR_NS) * HOUR_NS + np.arange(n, dtype=np.int64) * HOUR_NS,
        np.maximum(opens, close) * (1 + wig[0]),
        np.minimum(opens, close) * (1 - wig[1]),
        close,
    )


@pytest.fixture(scope="module")
def fitted() -> LiquidationForecaster:
    return fit_forecaster(_hourly_bars(24 * 120, 3))


@pytest.mark.parametrize("horizon", [1.0, 0.3, 7.0])
def test_probabilities_equal_one_call_per_position(fitted: LiquidationForecaster, horizon: float) -> None:
    gbm, gbm2 = GbmForecaster(0.8), GbmForecaster(0.3)
    cases: list[tuple[LiquidationForecaster | None, object, float, float | None]] = [
        (gbm, 1, 100.0, 80.0),
        (gbm, -1, 100.0, 125.0),
        (gbm, "long", 100.0, None),  # no liquidation price: 0
        (gbm, 1, 100.0, 100.0),  # at it: 1
        (gbm, -1, 100.0, 99.0),  # past it: 1
        (gbm2, "short", 50.0, 51.0),
        (gbm, 1, 100.0, -5.0),
        (gbm, 1, 100.0, math.nan),
        (None, 1, 100.0, 90.0),  # unknown volatility: NaN
        (fitted, 1, 100.0, 97.0),
        (fitted, -1, 100.0, 101.5),
        (fitted, 1, 100.0, 60.0),
        (GbmForecaster(0.0), 1, 100.0, 99.0),
    ]
    got = probabilities(
        [c[0] for c in cases], [c[1] for c in cases], [c[2] for c in cases], [c[3] for c in cases], horizon
    )
    for (f, side, mark, lp), p in zip(cases, got, strict=True):
        want = math.nan if f is None else float(position_probabilities(f, side, mark, lp, horizon)[0])
        assert p == want or (math.isnan(p) and math.isnan(want)), (f, side, mark, lp, p, want)
    assert 0.0 < got[0] < 1.0
    assert (got[2], got[3]) == (0.0, 1.0)
    assert math.isnan(got[8])


def test_probabilities_refuse_what_position_probabilities_refuses() -> None:
    f = GbmForecaster(0.8)
    for side, mark, horizon in (("up", 100.0, 1.0), (1, 0.0, 1.0), (1, math.nan, 1.0), (1, 100.0, 31.0)):
        with pytest.raises(InputError) as want:
            position_probabilities(f, side, mark, 90.0, horizon)
        with pytest.raises(InputError) as got:
            probabilities([f], [side], [mark], [90.0], horizon)
        assert str(got.value) == str(want.value)
    with pytest.raises(InputError, match="one length"):
        probabilities([f, f], [1], [100.0], [90.0], 1.0)
    with pytest.raises(InputError, match="one number of days"):
        probabilities([f], [1], [100.0], [90.0], [1.0, 2.0])  # type: ignore[arg-type]


def test_the_fallback_forecaster_is_shared_and_returned_unchanged() -> None:
    forecasts = LiquidationForecasts(None)
    a = forecasts.forecaster("BTCUSDT", T0_NS, 0.8)
    b = forecasts.forecaster("ETHUSDT", T0_NS, 0.8)
    assert a is b
    assert a == GbmForecaster(0.8)
    assert forecasts.forecaster("BTCUSDT", T0_NS + 1, 0.8) is a
    c = forecasts.forecaster("BTCUSDT", T0_NS + 2, 0.5)
    assert c == GbmForecaster(0.5)
    assert forecasts.latest() == {"BTCUSDT": c, "ETHUSDT": a}
    assert "0.5" in forecasts.source("BTCUSDT")
    assert "0.8" in forecasts.source("ETHUSDT")
    assert forecasts.forecaster("BTCUSDT", T0_NS + 3, None) is None
    assert forecasts.latest() == {"ETHUSDT": a}
    assert forecasts.source("BTCUSDT").startswith("none")


# ------------------------------------------------------------------ the guardian, cycle by cycle


class _Venue:
    """A venue answering from memory; the test moves its marks, quantities, wallet and tiers."""

    name = "binance-usdm"
    capabilities = Capabilities(leverage_tiers=True)

    def __init__(self) -> None:
        self.now_ns = T0_NS
        self.qty = {"BTCUSDT": 0.4, "ETHUSDT": -9.0, "ALTUSDT": 3_000.0, "ALT2USDT": -1_500.0}
        self.entry = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "ALTUSDT": 11.0, "ALT2USDT": 20.0}
        self.marks = dict(self.entry)
        self.wallet = 9_000.0
        self.tiers: dict[str, TierTable] = {"ALTUSDT": ALT, "ALT2USDT": ALT}

    async def fetch_positions(self) -> list[VenuePosition]:
        return [
            VenuePosition(s, q, self.entry[s], self.marks[s], timestamp_ns=self.now_ns) for s, q in self.qty.items()
        ]

    async def fetch_balance(self) -> VenueBalance:
        return VenueBalance("USDT", self.wallet, self.wallet / 2, self.now_ns)

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        return {s: self.marks[s] for s in symbols}

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        return self.tiers.get(symbol)

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        return 0.0001

    async def create_order(self, request: OrderRequest) -> OrderState:  # pragma: no cover - dry run
        raise AssertionError("a dry run sends no order")

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        return None

    async def close(self) -> None:
        return None


class _Rebuild:
    # What the guardian did before issue 17: parse the spec every cycle.
    parses = 0

    def account(self, spec: dict[str, Any]) -> Account:
        self.parses += 1
        return account_from_spec(spec)

    def report(self, spec: dict[str, Any]) -> AccountReport:
        # ... and evaluate it position by position (levguard.core.margin.evaluate).
        return evaluate(self.account(spec))


def _step(v: _Venue, k: int, rng: np.random.Generator) -> None:
    v.now_ns += 1_000_000_000
    for s in v.marks:
        v.marks[s] *= float(np.exp(rng.normal(0.0, 0.01)))
    if k == 3:
        v.qty["BTCUSDT"] = 0.9  # the venue (or a person) changed a quantity
    if k == 4:
        v.wallet = 6_500.0  # funding, fees, a transfer
    if k == 5:
        v.entry["ETHUSDT"] = 3_050.0
    if k == 6:
        del v.qty["ALT2USDT"]  # a position closed
    if k == 8:
        v.qty["ALT2USDT"], v.entry["ALT2USDT"] = 800.0, v.marks["ALT2USDT"]  # and opened again
    if k == 10:
        v.now_ns += 2 * HOUR_NS  # the tiers are fetched again: new tables, one of them different
        v.tiers = {
            "ALTUSDT": _alt_tiers(),
            "ALT2USDT": TierTable.from_rows(
                [{"notional_floor": 0.0, "notional_cap": "inf", "mmr": 0.03, "max_leverage": 15}], source="t"
            ),
        }
    if k == 12:
        v.marks["ALTUSDT"] *= 0.7  # a crash of one alt: states move up


def test_reused_accounts_give_the_reports_of_accounts_rebuilt_every_cycle(tmp_path: Path) -> None:
    async def no_sleep(_s: float) -> None:
        return None

    def build(k: int) -> tuple[Guardian, _Venue]:
        v = _Venue()
        store = Store(f"sqlite:///{tmp_path / f'g{k}.db'}")
        store.upsert_account("acct", v.name)
        setup = AccountSetup(name="acct", venue=v, vol=0.8, max_age_s=1e9, venue_bars=False)
        return Guardian([setup], store, live=False, clock=lambda: v.now_ns, sleep=no_sleep), v

    async def run() -> tuple[list[Any], list[Any], Guardian, Guardian]:
        (reuse, v1), (rebuild, v2) = build(1), build(2)
        rebuild._state["acct"].margin = _Rebuild()  # type: ignore[assignment]
        rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
        out1, out2 = [], []
        for g in (reuse, rebuild):
            await g.reconcile()
        for k in range(16):
            out1.append(await reuse.cycle())
            out2.append(await rebuild.cycle())
            # P(liq) in one call equals one call per position on what the cycle evaluated.
            spec = reuse.last_specs["acct"]
            for row, view in zip(spec["positions"], out1[-1][0]["positions"], strict=True):
                f = reuse.forecaster("acct", row["symbol"])
                assert f is not None
                side = 1 if row["qty"] > 0 else -1
                want = float(position_probabilities(f, side, view["mark"], view["liquidation_price"], 1.0)[0])
                assert view["p_liq"] == want
            _step(v1, k, rng1)
            _step(v2, k, rng2)
        for g in (reuse, rebuild):
            g.close()
        return out1, out2, reuse, rebuild

    out1, out2, reuse, rebuild = asyncio.run(run())
    assert json.dumps(out1, sort_keys=True) == json.dumps(out2, sort_keys=True)
    assert {v["state"] for r in out1 for v in r[0]["positions"]} > {"OK"}  # the states did move
    # Parsed on the first cycle, when a position closed and opened, and when the tiers changed.
    assert reuse._state["acct"].margin.parses == 4
    assert rebuild._state["acct"].margin.parses == 16
