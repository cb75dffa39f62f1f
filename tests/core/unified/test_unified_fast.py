"""The one-kernel evaluation of unified accounts (levguard.core.unified_fast) against the Python
path (``levguard.core.unified._evaluate_python``): the same reports bit for bit (and the same
JSON) on seeded random accounts over bybit-uta, binance-pm and okx-mcm (long and short, near and
far from liquidation, negative balances and loans, collateral and PnL crossing haircut tiers,
built-in, given and fixed-rate tier tables); marks a hair from each liquidation price; the same
errors; the plain-Python kernel equal to the compiled one; when the kernel is used."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import levguard.core.unified_fast as unified_fast
from levguard.core.unified import UnifiedAccount, _evaluate_python, evaluate_unified, unified_account_from_spec
from levguard.core.unified_fast import evaluate_unified_fast, fast_path_ready
from levguard.errors import InputError
from levguard.kernels.joint import haircut_value
from levguard.kernels.unified import STATUS_NOT_FINITE, unified_account_py

Spec = dict[str, Any]
VENUES = ("bybit-uta", "binance-pm", "okx-mcm")
SYMBOLS = (
    ("BTCUSDT", 60_000.0),
    ("ETHUSDT", 3_000.0),
    ("SOLUSDT", 150.0),
    ("AAAUSDT", 2.0),
    ("BBBUSDT", 0.05),
    ("CCCUSDT", 400.0),
)
COINS = (("BTC", 60_000.0), ("ETH", 3_000.0), ("SOL", 150.0), ("XRP", 0.6), ("BNB", 600.0))


def _tier_rows(rng: np.random.Generator, scale: float) -> list[Spec]:
    # A continuous table of 1 to 5 tiers, caps around ``scale`` USDT.
    n = int(rng.integers(1, 6))
    caps = np.sort(rng.uniform(0.05, 10.0, n - 1)) * scale
    mmr = np.sort(rng.uniform(0.002, 0.08, n))
    rows: list[Spec] = []
    floor = 0.0
    for k in range(n):
        cap: Any = float(caps[k]) if k < n - 1 else "inf"
        rows.append({"notional_floor": floor, "notional_cap": cap, "mmr": float(mmr[k]), "max_leverage": 0.5 / mmr[k]})
        floor = float(caps[k]) if k < n - 1 else floor
    return rows


def _haircut_rows(rng: np.random.Generator, around: float) -> list[Spec]:
    # 1 to 4 collateral tiers with floors around ``around`` (so amounts cross them), falling ratios;
    # half the time the last tier is capped (the part above counts at 0).
    n = int(rng.integers(1, 5))
    floors = [0.0, *np.sort(rng.uniform(0.1, 2.0, n - 1) * around).tolist()]
    ratios = np.sort(rng.uniform(0.3, 1.0, n))[::-1].tolist()
    rows: list[Spec] = []
    for k in range(n):
        cap: Any = floors[k + 1] if k + 1 < n else (floors[k] + around if rng.random() < 0.5 else "")
        rows.append({"floor": floors[k], "cap": cap, "ratio": ratios[k]})
    return rows


def _spec(rng: np.random.Generator, venue: str) -> Spec:
    qty_basis = venue != "binance-pm"  # Bybit and OKX tiers count coins, Binance's USD value
    positions: list[Spec] = []
    total = 0.0
    picks = rng.choice(len(SYMBOLS), size=int(rng.integers(1, len(SYMBOLS) + 1)), replace=False)
    for pick in picks:
        symbol, price = SYMBOLS[int(pick)]
        entry = price * float(np.exp(rng.normal(0.0, 0.05)))
        # Marks close to the entry, or far from it (the account near or past liquidation).
        mark = entry * float(np.exp(rng.normal(0.0, 0.01 if rng.random() < 0.6 else 0.3)))
        size = float(np.exp(rng.uniform(math.log(1e2), math.log(2e6))))  # notional in USDT
        sign = 1.0 if rng.random() < 0.5 else -1.0
        p: Spec = {"symbol": symbol, "qty": sign * size / entry, "entry_price": entry, "mark_price": mark}
        u = rng.random()
        builtin = venue == "binance-pm" and symbol in ("BTCUSDT", "ETHUSDT")  # binance-usdm's snapshot
        if u < 0.4 or (not builtin and u < 0.7):
            p["tiers"] = _tier_rows(rng, size)
        elif not builtin or u < 0.7:
            p["mmr"] = float(rng.choice([0.004, 0.005, 0.01, 0.02]))
        u = rng.random()
        if u < 0.15:
            p["taker_fee_rate"] = float(rng.uniform(0.0, 0.002))
        elif u < 0.25:
            p["leverage"] = float(rng.uniform(1.0, 5.0))
        positions.append(p)
        total += size
    # Balances from deep debt to plenty: the account near or past liquidation, or far from it.
    balances: Spec = {"USDT": total * float(rng.uniform(-0.3, 1.0)) if rng.random() < 0.85 else 0.0}
    prices: Spec = {}
    ratios: Spec = {}
    for coin, price in COINS[: int(rng.integers(0, len(COINS) + 1))]:
        p_coin = price * float(np.exp(rng.normal(0.0, 0.1)))
        usd = total * float(rng.uniform(0.0, 0.5)) * (1.0 if rng.random() < 0.85 else -0.2)
        balances[coin] = usd / p_coin
        prices[coin] = p_coin
        if coin != "BTC" or rng.random() < 0.5:
            ratios[coin] = _haircut_rows(rng, abs(usd / p_coin) if qty_basis else abs(usd)) if usd else 0.9
    if rng.random() < 0.3:  # USDT's own tiers, crossed by the PnL where it joins the haircut
        ratios["USDT"] = _haircut_rows(rng, max(abs(balances["USDT"]), 1.0))
    if rng.random() < 0.2:
        balances["USDC"] = total * float(rng.uniform(0.0, 0.3))
        prices["USDC"] = 0.999
        ratios["USDC"] = 1.0
    spec: Spec = {"venue": venue, "balances": balances, "prices": prices, "positions": positions}
    if ratios:
        spec["collateral_ratios"] = ratios
    if rng.random() < 0.3:
        spec["borrowed"] = {"USDT": total * float(rng.uniform(0.0, 0.3))}
        spec["loan_mmr"] = float(rng.uniform(0.02, 0.2))
    return spec


def _same(ua: UnifiedAccount) -> None:
    want = _evaluate_python(ua)
    got = evaluate_unified_fast(ua)
    assert got is not None
    assert got == want
    assert json.dumps(got.to_dict()) == json.dumps(want.to_dict())


@pytest.mark.parametrize("venue", VENUES)
def test_random_unified_accounts_equal_the_python_path(venue: str) -> None:
    rng = np.random.default_rng(sum(map(ord, venue)))
    liquidatable = safe = with_lp = with_bp = debts = tiered = 0
    for _ in range(300):
        ua = unified_account_from_spec(_spec(rng, venue))
        _same(ua)
        report = _evaluate_python(ua)
        liquidatable += report.liquidatable
        safe += not report.liquidatable
        with_lp += sum(p.liquidation_price is not None for p in report.positions)
        with_bp += sum(p.bankruptcy_price is not None for p in report.positions)
        rows = report.collateral or ()
        debts += any(r.amount < 0 for r in rows)
        tiered += any(0.0 < r.haircut < 1.0 and len(a.tiers.floors) > 1 for r, a in zip(rows, ua.assets, strict=True))
    # The draws cover both sides of liquidation, both prices, debts and haircut tiers crossed.
    assert liquidatable > 20
    assert safe > 20
    assert with_lp > 200
    assert with_bp > 200
    assert debts > 20
    assert tiered > 50


def test_marks_a_hair_from_the_liquidation_price() -> None:
    rng = np.random.default_rng(7)
    checked = 0
    for venue in VENUES:
        for _ in range(40):
            spec = _spec(rng, venue)
            lp = _evaluate_python(unified_account_from_spec(spec)).positions[0].liquidation_price
            if lp is None:
                continue
            for eps in (-1e-9, -1e-12, 0.0, 1e-12, 1e-9):
                spec["positions"][0]["mark_price"] = lp * (1.0 + eps)
                _same(unified_account_from_spec(spec))
                checked += 1
    assert checked > 200


def test_the_bench_account_of_200_positions_and_20_assets() -> None:
    path = Path(__file__).parents[3] / "bench" / "bench_unified.py"
    module_spec = importlib.util.spec_from_file_location("bench_unified", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    bench = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bench)
    for venue in VENUES:
        ua = unified_account_from_spec(bench.unified_spec(venue, 200))
        assert len(ua.assets) == 20
        _same(ua)


def test_the_python_kernel_equals_the_compiled_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    accounts = [unified_account_from_spec(_spec(rng, venue)) for venue in VENUES for _ in range(20)]
    compiled = [evaluate_unified_fast(ua) for ua in accounts]
    monkeypatch.setattr(unified_fast, "unified_account_nb", unified_account_py)
    assert [evaluate_unified_fast(ua) for ua in accounts] == compiled


def _account(venue: str, **position: Any) -> UnifiedAccount:
    p = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, **position}
    return unified_account_from_spec({"venue": venue, "balances": {"USDT": 20000}, "positions": [p]})


@pytest.mark.parametrize("venue", VENUES)
def test_same_errors_and_the_cases_left_to_the_python_path(venue: str) -> None:
    # A leverage above the tier's cap and a symbol without tiers: the Python path raises.
    for bad in (_account(venue, mmr=0.005, leverage=1000), _account(venue, symbol="ZZZUSDT")):
        assert evaluate_unified_fast(bad) is None
        with pytest.raises(InputError) as want:
            _evaluate_python(bad)
        for _ in range(2):  # the first evaluation of a process may take the Python path
            with pytest.raises(InputError) as got:
                evaluate_unified(bad)
            assert str(got.value) == str(want.value)
    # No positions.
    empty = unified_account_from_spec({"venue": venue, "balances": {"USDT": 100, "BTC": 1}, "prices": {"BTC": 1}})
    assert evaluate_unified_fast(empty) is None
    assert evaluate_unified(empty) == _evaluate_python(empty)


def test_a_sum_the_kernel_cannot_finish_goes_to_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    ua = _account("binance-pm", mmr=0.005)
    # Balances beyond what a spec accepts (1e30), set directly: their face values overflow fsum.
    huge = tuple(dataclasses.replace(a, net=1e308) for a in ua.assets)
    usdc = dataclasses.replace(ua.assets[0], name="USDC")
    over = dataclasses.replace(ua, assets=(*huge, dataclasses.replace(usdc, net=1e308)))
    with np.errstate(over="ignore"):  # the plain-Python kernel (numba disabled) sums numpy floats
        assert evaluate_unified_fast(over) is None
        with pytest.raises(OverflowError):
            _evaluate_python(over)
        monkeypatch.setattr(unified_fast, "_evaluations", 5)
        with pytest.raises(OverflowError):
            evaluate_unified(over)
    # A status the kernel reports: the Python path's report.
    monkeypatch.setattr(unified_fast, "unified_account_nb", lambda *args: STATUS_NOT_FINITE)
    assert evaluate_unified_fast(ua) is None
    assert evaluate_unified(ua) == _evaluate_python(ua)


def test_the_kernel_is_used_once_numba_is_loaded_or_from_the_second_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(unified_fast, "NUMBA_DISABLED", False)
    monkeypatch.setattr(unified_fast, "_evaluations", 0)
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    assert not fast_path_ready()  # a one-shot process (the CLI) stays in Python
    assert fast_path_ready()
    monkeypatch.setattr(unified_fast, "_evaluations", 0)
    monkeypatch.setitem(sys.modules, "numba", sys)  # anything: only its presence is read
    assert fast_path_ready()
    # evaluate_unified takes the kernel when ready: the Python path is not called.
    ua = _account("okx-mcm", mmr=0.01)
    want = _evaluate_python(ua)

    def refuse(_: UnifiedAccount) -> None:
        raise AssertionError("the Python path ran")

    monkeypatch.setattr("levguard.core.unified._evaluate_python", refuse)
    assert evaluate_unified(ua) == want


def _haircut_for_break(amount: float, price: float, floors: list[float], ratios: list[float], qty: bool) -> float:
    # haircut_value as first written (a ``for`` loop with ``break``): its rewrite keeps every result.
    if amount <= 0.0:
        return amount * price
    x = amount if qty else amount * price
    covered = 0.0
    for k, lo in enumerate(floors):
        if x <= lo:
            break
        hi = floors[k + 1] if k + 1 < len(floors) else math.inf
        covered += ratios[k] * (min(x, hi) - lo)
    return covered * price if qty else covered


def test_haircut_value_keeps_its_results() -> None:
    rng = np.random.default_rng(3)
    for _ in range(2000):
        n = int(rng.integers(1, 5))
        floors = [0.0, *np.sort(rng.uniform(1.0, 100.0, n - 1)).tolist()]
        ratios = rng.uniform(0.0, 1.0, n).tolist()
        special = [math.nan, math.inf, 0.0, -1.0, *floors]
        amount = float(rng.choice(special)) if rng.random() < 0.3 else float(rng.uniform(-10.0, 150.0))
        price = float(rng.choice([1.0, 0.5, math.nan])) if rng.random() < 0.2 else float(rng.uniform(0.1, 3.0))
        for qty in (True, False):
            want = _haircut_for_break(amount, price, floors, ratios, qty)
            got = haircut_value(amount, price, np.array(floors), np.array(ratios), qty)
            assert got == want or (math.isnan(got) and math.isnan(want))
