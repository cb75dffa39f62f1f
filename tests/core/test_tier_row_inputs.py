"""Tier rows as users and venues give them: blank amounts, explicit default floors, leverage caps.

Found by a read-only hunt (2026-12-08, /tmp/hunt-venues):

1. Bybit v5 ``GET /v5/market/risk-limit`` sends ``"mmDeduction": ""`` for the lowest tier (its own
   response example; tests/fakes/bybit_uta.py), and ccxt's ``fetch_leverage_tiers()`` passes it in
   ``info``: the table was refused (``maint_amount must be a number, was ''``) though docs/margin.md
   1.1 says ccxt's output fits.  A blank string is now "not given".
2. ``notional_floor: 0`` on the first row sorted it after the rows without a floor (they sorted as
   -1), so a valid table was refused, naming the wrong row.  Docs 1.5: "A missing floor or cap is
   filled from the neighbouring row"; errors name rows as given.
3. A cap whose initial margin rate ``1 / max_leverage`` is below the tier's ``mmr``, or an explicit
   ``imr`` below the tier's ``mmr`` or above its leverage cap, opened positions liquidatable at entry
   (binance-usdm 10 SOLUSDT @ 100 on ``[{mmr 0.02, max_leverage 100}]``: IM 10 < MM 20, liquidation
   price 101.02 above a long's entry).  They are refused, naming the field and the value.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.margin import load_tiers

# ccxt 4.x ``bybit.fetch_leverage_tiers()`` of BTC/USDT:USDT, first two tiers (``info`` is Bybit's row).
BYBIT_CCXT = [
    {"tier": 1, "symbol": "BTC/USDT:USDT", "currency": "USDT", "minNotional": 0, "maxNotional": 2_000_000,
     "maintenanceMarginRate": 0.005, "maxLeverage": 100,
     "info": {"id": 1, "symbol": "BTCUSDT", "riskLimitValue": "2000000", "maintenanceMargin": "0.005",
              "initialMargin": "0.01", "isLowestRisk": 1, "maxLeverage": "100.00", "mmDeduction": ""}},
    {"tier": 2, "symbol": "BTC/USDT:USDT", "currency": "USDT", "minNotional": 2_000_000, "maxNotional": 2_600_000,
     "maintenanceMarginRate": 0.0056, "maxLeverage": 85.47,
     "info": {"id": 2, "symbol": "BTCUSDT", "riskLimitValue": "2600000", "maintenanceMargin": "0.0056",
              "initialMargin": "0.0117", "isLowestRisk": 0, "maxLeverage": "85.47", "mmDeduction": "1200"}},
]  # fmt: skip
BYBIT_SPEC = {
    "venue": "bybit-linear",
    "wallet_balance": 5000,
    "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000}],
}
runner = CliRunner()


# ------------------------------------------------------------------ 1. blank amounts


def test_bybit_ccxt_tiers_with_a_blank_deduction_are_read() -> None:
    table = TierTable.from_rows(BYBIT_CCXT)
    assert [t.maint_amount for t in table.tiers] == [0.0, 1200.0]
    assert [t.mmr for t in table.tiers] == [0.005, 0.0056]


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_field_is_missing_in_every_field(blank: str) -> None:
    rows = [{"notional_floor": blank, "notional_cap": 100, "mmr": 0.01, "max_leverage": 50, "maint_amount": blank},
            {"notional_floor": 100, "notional_cap": blank, "mmr": 0.02, "max_leverage": 25}]  # fmt: skip
    table = TierTable.from_rows(rows)
    assert [(t.notional_floor, t.notional_cap, t.maint_amount) for t in table.tiers] == [
        (0.0, 100.0, 0.0),
        (100.0, float("inf"), 1.0),
    ]
    with pytest.raises(InputError, match=r"tiers\[0\]\.mmr is required, was missing"):
        TierTable.from_rows([{"mmr": blank, "max_leverage": 10}])


def test_bybit_ccxt_tiers_in_a_spec(tmp_path: Path) -> None:
    spec = dict(BYBIT_SPEC, tiers={"BTC/USDT:USDT": BYBIT_CCXT})
    p = levguard.evaluate_account(spec).positions[0]
    assert p.maintenance_margin == pytest.approx(300.0)  # 60,000 x 0.5 %, tier 1
    # Tier 2's deduction is checked against the continuity rule: 2,000,000 x (0.56 % - 0.5 %) = 1,200.
    big = dict(BYBIT_SPEC, tiers={"BTC/USDT:USDT": BYBIT_CCXT})
    big["positions"] = [dict(BYBIT_SPEC["positions"][0], qty=40)]  # type: ignore[index]
    q = levguard.evaluate_account(big).positions[0]
    assert q.maintenance_margin == pytest.approx(2_400_000 * 0.0056 - 1200)


def test_bybit_ccxt_tiers_from_a_file_and_the_cli(tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.json"
    tiers.write_text(json.dumps({"BTC/USDT:USDT": BYBIT_CCXT}))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(BYBIT_SPEC))
    loaded = load_tiers(tiers)
    assert isinstance(loaded, dict)
    assert [t.maint_amount for t in loaded["BTC/USDT:USDT"].tiers] == [0.0, 1200.0]
    result = runner.invoke(app, ["margin", str(spec), "--tiers", str(tiers), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["positions"][0]["maintenance_margin"] == pytest.approx(300.0)


# ------------------------------------------------------------------ 2. explicit default floors

SOL = {"symbol": "SOLUSDT", "qty": 1000, "entry_price": 100, "mark_price": 100, "margin_mode": "isolated",
       "isolated_margin": 20000}  # fmt: skip
NO_FLOORS = [
    {"notional_cap": 50000, "mmr": 0.01, "max_leverage": 50},
    {"notional_cap": 100000, "mmr": 0.02, "max_leverage": 25},
    {"mmr": 0.03, "max_leverage": 10},
]


@pytest.mark.parametrize("first_floor", [None, 0, 0.0, "0"])
def test_an_explicit_first_floor_of_zero_changes_nothing(first_floor: object) -> None:
    rows: list[dict[str, Any]] = [dict(r) for r in NO_FLOORS]
    if first_floor is not None:
        rows[0]["notional_floor"] = first_floor
    p = levguard.evaluate_account({"venue": "binance-usdm", "positions": [dict(SOL, tiers=rows)]}).positions[0]
    assert (p.tier, p.maintenance_margin) == (3, 1500.0)
    assert p.liquidation_price == pytest.approx(81.1224, abs=1e-4)


def test_errors_name_the_rows_as_given() -> None:
    rows = [
        {"notional_floor": 0, "notional_cap": 50000, "mmr": 0.01, "max_leverage": 50},
        {"notional_floor": 100000, "notional_cap": None, "mmr": 0.03, "max_leverage": 10},
        {"notional_floor": 50000, "notional_cap": 90000, "mmr": 0.02, "max_leverage": 25},
    ]
    with pytest.raises(
        InputError,
        match=r"^positions\[0\]\.tiers\[1\]\.notional_floor 100000\.0 leaves a gap after "
        r"positions\[0\]\.tiers\[2\]\.notional_cap 90000\.0",
    ):
        levguard.evaluate_account({"venue": "binance-usdm", "positions": [dict(SOL, tiers=rows)]})


@st.composite
def _tables(draw: st.DrawFn) -> list[dict[str, float]]:
    n = draw(st.integers(1, 5))
    caps = sorted(draw(st.lists(st.integers(1, 10**6), min_size=n - 1, max_size=n - 1, unique=True)))
    mmrs = sorted(draw(st.lists(st.integers(1, 40), min_size=n, max_size=n)))
    floors = [0, *caps]
    return [
        {
            "notional_floor": float(floors[i]),
            "notional_cap": float(caps[i]) if i < n - 1 else None,
            "mmr": mmrs[i] / 1000,
            "max_leverage": 1000 / mmrs[i] / 2,
        }
        for i in range(n)
    ]


@settings(max_examples=60, deadline=None)
@given(_tables(), st.integers(0, 2**31))
def test_floors_and_caps_given_or_filled_give_one_table(rows: list[dict[str, float]], seed: int) -> None:
    """Every spelling docs 1.5 allows reads as the full table: no floors, only caps, only floors,
    the first floor given or not, fully given rows in any order."""
    want = TierTable.from_rows(rows).tiers
    no_floors = [{k: v for k, v in r.items() if k != "notional_floor"} for r in rows]
    first_only = [dict(r, notional_floor=0.0) if i == 0 else r for i, r in enumerate(no_floors)]
    no_caps = [{k: v for k, v in r.items() if k != "notional_cap"} for r in rows]
    no_caps_no_first = [{k: v for k, v in r.items() if k != "notional_floor"} if i == 0 else r
                        for i, r in enumerate(no_caps)]  # fmt: skip
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    for variant in (no_floors, first_only, no_caps, no_caps_no_first, shuffled):
        assert TierTable.from_rows(variant).tiers == want


# ------------------------------------------------------------------ 3. IM rate below MM rate


def _position(venue: str = "binance-usdm", **extra: object) -> Any:
    pos: dict[str, object] = {"symbol": "SOLUSDT", "qty": 10, "entry_price": 100, "mark_price": 100}
    pos.update(extra)
    return levguard.evaluate_account({"venue": venue, "wallet_balance": 20000, "positions": [pos]}).positions[0]


def test_a_tier_whose_cap_is_above_one_over_its_mmr_is_refused() -> None:
    with pytest.raises(
        InputError, match=r"^positions\[0\]\.tiers\[0\]\.max_leverage must be at most 1 / mmr = 50 .*was 100"
    ):
        _position(margin_mode="isolated", tiers=[{"mmr": 0.02, "max_leverage": 100}])
    with pytest.raises(InputError, match=r"tiers\[1\]\.max_leverage must be at most 1 / mmr = 40 .*was 50"):
        TierTable.from_rows(
            [{"notional_cap": 10, "mmr": 0.01, "max_leverage": 100}, {"mmr": 0.025, "max_leverage": 50}]
        )
    # IM rate equal to the MM rate is the venue's limit, allowed (BitMEX's 100x at 1 % is refused by notional).
    p = _position(margin_mode="isolated", tiers=[{"mmr": 0.02, "max_leverage": 50}])
    assert p.initial_margin == pytest.approx(p.maintenance_margin)


def test_a_fixed_tiers_cap_above_one_over_mmr_is_refused_by_name() -> None:
    with pytest.raises(InputError, match=r"^positions\[0\]\.max_leverage must be at most 1 / mmr = 100 .*was 200"):
        _position("generic", mmr=0.01, max_leverage=200)
    with pytest.raises(InputError, match=r"^max_leverage must be at most 1 / mmr = 100 .*was 200"):
        TierTable.fixed_rate(0.01, max_leverage=200)


def test_a_borrowed_builtin_cap_stops_at_one_over_mmr() -> None:
    """BTCUSDT's built-in cap at 600 USDT is 125x; with a given mmr of 5 % that was IM 4.8 < MM 30."""
    p = levguard.evaluate_account(
        {"venue": "binance-usdm", "wallet_balance": 1000,
         "positions": [{"symbol": "BTCUSDT", "qty": 0.01, "entry_price": 60000, "mark_price": 60000, "mmr": 0.05}]}
    ).positions[0]  # fmt: skip
    assert p.leverage == pytest.approx(20.0)
    assert p.initial_margin >= p.maintenance_margin * (1 - 1e-12)


def test_an_imr_below_the_tiers_mmr_or_cap_is_refused() -> None:
    btc = {"symbol": "BTCUSDT", "qty": 0.01, "entry_price": 60000, "mark_price": 60000}
    with pytest.raises(
        InputError, match=r"^positions\[0\]\.imr must be at least the maintenance rate 0\.004 .*was 0\.001"
    ):
        levguard.evaluate_account({"venue": "binance-usdm", "positions": [dict(btc, imr=0.001)]})
    with pytest.raises(InputError, match=r"^positions\[0\]\.imr must be at least 1 / 10 .*was 0\.05"):
        _position("generic", mmr=0.01, max_leverage=10, imr=0.05)
    ok = levguard.evaluate_account({"venue": "binance-usdm", "positions": [dict(btc, imr=0.02)]}).positions[0]
    assert ok.leverage == pytest.approx(50.0)
    assert ok.initial_margin == pytest.approx(12.0)


@settings(max_examples=80, deadline=None)
@given(
    mmr=st.floats(0.001, 0.5),
    max_leverage=st.floats(1.0, 500.0),
    imr=st.none() | st.floats(0.0005, 1.0),
    venue=st.sampled_from(["binance-usdm", "bybit-linear", "okx", "gate", "bitmex", "generic"]),
)
def test_an_accepted_position_never_opens_below_its_maintenance_margin(
    mmr: float, max_leverage: float, imr: float | None, venue: str
) -> None:
    extra: dict[str, object] = {"tiers": [{"mmr": mmr, "max_leverage": max_leverage}], "margin_mode": "isolated"}
    if imr is not None:
        extra["imr"] = imr
    try:
        p = _position(venue, symbol="SOL-USDT-SWAP" if venue == "okx" else "SOLUSDT", **extra)
    except InputError:
        assert mmr * max_leverage > 1.0 or (imr is not None and (imr < mmr or imr * max_leverage < 1.0))
        return
    assert p.initial_margin >= mmr * p.notional * (1 - 1e-9)
