"""The one-kernel evaluation of cross accounts (levguard.core.margin_cross) against the reference
``levguard.core.margin.evaluate``: the same reports bit for bit (and the same JSON) on thousands of
seeded random cross accounts over the venues with tier tables, long and short, linear and inverse,
near and far from liquidation; the same errors; the plain-Python kernel equal to the compiled one;
the kernel's exact sum equal to ``math.fsum``."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import levguard.core.margin_cross as margin_cross
from levguard.core.margin import evaluate, instrument_for
from levguard.core.margin_cross import CrossLayout, evaluate_cross
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.rules import get_venue
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels.margin_cross import STATUS_NOT_FINITE, cross_account_py, exact_sum_nb, exact_sum_py

# venue -> (symbols, a typical price of each); the built-in tables where the venue has them.
VENUES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "binance-usdm": (("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"), (60_000.0, 3_000.0, 150.0, 0.6, 0.1)),
    "binance-coinm": (("BTCUSD_PERP", "BTCUSD_250627"), (60_000.0, 61_000.0)),
    "bybit-linear": (("BTCUSDT", "ETHUSDT", "SOLUSDT"), (60_000.0, 3_000.0, 150.0)),
    "bybit-inverse": (("BTCUSD", "BTCUSDH26"), (60_000.0, 61_500.0)),
    "okx": (("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"), (60_000.0, 3_000.0, 150.0)),
    "gate": (("BTC_USDT", "ETH_USDT", "SOL_USDT", "XRP_USDT"), (60_000.0, 3_000.0, 150.0, 0.6)),
    "hyperliquid": (("BTC", "ETH", "SOL"), (60_000.0, 3_000.0, 150.0)),
    "bitmex": (("XBTUSDT", "ETHUSDT"), (60_000.0, 3_000.0)),
    "generic": (("AAAUSDT", "BBBUSDT", "CCCUSDT"), (1_000.0, 20.0, 0.5)),
}


def _table(rng: np.random.Generator, scale: float) -> TierTable:
    # A continuous table of 1 to 6 tiers, caps around ``scale`` (the settlement currency).
    n = int(rng.integers(1, 7))
    caps = np.sort(rng.uniform(0.05, 20.0, n - 1)) * scale
    mmr = np.sort(rng.uniform(0.002, 0.08, n))
    rows: list[dict[str, Any]] = []
    floor = 0.0
    for k in range(n):
        cap: Any = float(caps[k]) if k < n - 1 else "inf"
        rows.append(
            {"notional_floor": floor, "notional_cap": cap, "mmr": float(mmr[k]), "max_leverage": float(0.5 / mmr[k])}
        )
        floor = float(caps[k]) if k < n - 1 else floor
    return TierTable.from_rows(rows, source="test")


def _account(rng: np.random.Generator, venue: str) -> Account:
    model = get_venue(venue)
    symbols, prices = VENUES[venue]
    n = int(rng.integers(1, len(symbols) + 1))
    picks = rng.choice(len(symbols), size=n, replace=False)
    positions = []
    notional_total = 0.0
    for k in picks:
        symbol, price = symbols[int(k)], prices[int(k)]
        inst = instrument_for(model, symbol)
        entry = price * float(np.exp(rng.normal(0.0, 0.05)))
        # Marks close to the entry, or far from it (the account near or past liquidation).
        mark = entry * float(np.exp(rng.normal(0.0, 0.01 if rng.random() < 0.6 else 0.3)))
        size = float(np.exp(rng.uniform(math.log(1e2), math.log(5e6))))  # notional in quote
        sign = 1.0 if rng.random() < 0.5 else -1.0
        qty = sign * (size / inst.contract_size if inst.inverse else size / (entry * inst.contract_size))
        scale = size / price if inst.inverse else size
        builtin = model.builtin_tiers.get(model.tier_key(symbol)) is not None
        tiers = None if builtin and rng.random() < 0.5 else _table(rng, scale)
        extra: dict[str, Any] = {}
        u = rng.random()
        if u < 0.1:
            extra["taker_fee_rate"] = float(rng.uniform(0.0, 0.002))
        elif u < 0.15:
            # At least the entry tier's maintenance rate and 1 / its leverage cap (a lower one is refused).
            table = tiers if tiers is not None else model.builtin_tiers[model.tier_key(symbol)]
            at_entry = abs(qty) * inst.contract_size * (1.0 / entry if inst.inverse else entry)
            lo = max(table.tier(at_entry).mmr, 1.0 / table.max_leverage(at_entry)) * (1 + 1e-9)
            extra["imr"] = float(rng.uniform(lo, max(lo, 0.5)))
        positions.append(Position(instrument=inst, qty=qty, entry_price=entry, mark_price=mark, tiers=tiers, **extra))
        notional_total += scale
    # Wallets from none to plenty, in the settlement currency: near liquidation and far from it.
    wallet = 0.0 if rng.random() < 0.1 else notional_total * float(np.exp(rng.uniform(math.log(1e-3), math.log(2.0))))
    return Account(venue=venue, wallet_balance=wallet, positions=tuple(positions))


def _same(account: Account) -> None:
    # The default path (by the number of positions), the compiled kernel and its Python twin.
    want = evaluate(account)
    for compiled in (None, True, False):
        got = evaluate_cross(account, compiled=compiled)
        assert got == want
        assert json.dumps(got.to_dict()) == json.dumps(want.to_dict())


@pytest.mark.parametrize("venue", list(VENUES))
def test_random_cross_accounts_equal_evaluate(venue: str) -> None:
    rng = np.random.default_rng(sum(map(ord, venue)))
    liquidatable = safe = with_lp = 0
    for _ in range(400):
        account = _account(rng, venue)
        assert CrossLayout.of(account) is not None
        _same(account)
        report = evaluate(account)
        liquidatable += report.liquidatable
        safe += not report.liquidatable
        with_lp += sum(p.liquidation_price is not None for p in report.positions)
    # The draws cover both sides of liquidation and positions with a liquidation price.
    assert liquidatable > 10
    assert safe > 10
    assert with_lp > 100


def test_near_the_liquidation_price() -> None:
    # Marks moved to within a hair of each position's liquidation price (both sides of it).
    rng = np.random.default_rng(7)
    for venue in ("binance-usdm", "bybit-linear", "okx", "gate", "binance-coinm", "bybit-inverse"):
        for _ in range(40):
            account = _account(rng, venue)
            lp = evaluate(account).positions[0].liquidation_price
            if lp is None:
                continue
            for eps in (-1e-9, -1e-12, 0.0, 1e-12, 1e-9):
                first = account.positions[0]
                moved = Position(
                    instrument=first.instrument,
                    qty=first.qty,
                    entry_price=first.entry_price,
                    mark_price=lp * (1.0 + eps),
                    tiers=first.tiers,
                    taker_fee_rate=first.taker_fee_rate,
                    imr=first.imr,
                )
                _same(Account(venue, account.wallet_balance, (moved, *account.positions[1:])))


def test_the_python_kernel_equals_the_compiled_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    accounts = [_account(rng, venue) for venue in VENUES for _ in range(25)]
    compiled = [evaluate_cross(a, compiled=True) for a in accounts]
    monkeypatch.setattr(margin_cross, "cross_account_nb", cross_account_py)
    assert [evaluate_cross(a, compiled=True) for a in accounts] == compiled


def test_the_compiled_kernel_is_called_from_compiled_from_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    # Below COMPILED_FROM positions the layout calls the Python twin (no numba import in a
    # guardian restarted on a small account); from it on, the compiled kernel; `compiled` decides.
    calls: list[str] = []

    def spy(name: str, kernel: Any) -> Any:
        return lambda *args: calls.append(name) or kernel(*args)

    monkeypatch.setattr(margin_cross, "cross_account_nb", spy("nb", margin_cross.cross_account_nb))
    monkeypatch.setattr(margin_cross, "cross_account_py", spy("py", cross_account_py))
    tiers = TierTable.from_rows([{"notional_floor": 0, "notional_cap": "inf", "mmr": 0.01, "max_leverage": 50}])
    model = get_venue("generic")

    def account(n: int) -> Account:
        positions = tuple(
            Position(instrument_for(model, f"C{i}USDT"), (-1.0) ** i, 100.0 + i, 101.0, tiers=tiers) for i in range(n)
        )
        return Account("generic", 1_000.0, positions)

    small, large = account(margin_cross.COMPILED_FROM - 1), account(margin_cross.COMPILED_FROM)
    for acc, forced, want in ((small, None, "py"), (large, None, "nb"), (small, True, "nb"), (large, False, "py")):
        calls.clear()
        assert evaluate_cross(acc, compiled=forced) == evaluate(acc)
        assert calls == [want], (len(acc.positions), forced, calls)
    isolated = Account("generic", 1_000.0, (replace(small.positions[0], isolated_margin=100.0),))
    assert CrossLayout.of(isolated) is None  # evaluate's path: the argument is checked all the same
    for bad in ("yes", 1, 0.0):
        for acc in (small, isolated):
            with pytest.raises(InputError, match=f"compiled must be True, False or None, was {bad!r}"):
                evaluate_cross(acc, compiled=bad)  # type: ignore[arg-type]


def test_layout_reused_with_new_numbers() -> None:
    rng = np.random.default_rng(3)
    account = _account(rng, "binance-usdm")
    layout = CrossLayout.of(account)
    assert layout is not None
    for _ in range(50):
        moved = tuple(
            Position(
                instrument=p.instrument,
                qty=p.qty * float(rng.uniform(0.5, 2.0)),
                entry_price=p.entry_price,
                mark_price=p.mark_price * float(np.exp(rng.normal(0.0, 0.05))),
                tiers=p.tiers,
                taker_fee_rate=p.taker_fee_rate,
                imr=p.imr,
            )
            for p in account.positions
        )
        wallet = float(rng.uniform(0.0, 1e6))
        want = evaluate(Account(account.venue, wallet, moved))
        got = layout.evaluate(
            wallet, [p.qty for p in moved], [p.entry_price for p in moved], [p.mark_price for p in moved]
        )
        assert got == want
    with pytest.raises(InputError, match="one value per position"):
        layout.evaluate(1.0, [], [], [])


def test_same_errors_and_the_paths_left_to_evaluate() -> None:
    usdm = get_venue("binance-usdm")
    btc = instrument_for(usdm, "BTCUSDT")
    eth = instrument_for(usdm, "ETHUSDT")
    # A chosen leverage above the bracket's maximum: the same message.
    too_much = Account(
        "binance-usdm",
        1_000.0,
        (
            Position(btc, 0.1, 60_000.0, 60_000.0, leverage=10.0),
            Position(eth, 10_000.0, 3_000.0, 3_000.0, leverage=100.0),
        ),
    )
    with pytest.raises(InputError) as want:
        evaluate(too_much)
    with pytest.raises(InputError) as got:
        evaluate_cross(too_much)
    assert str(got.value) == str(want.value)
    # A chosen leverage within it: equal reports.
    _same(Account("binance-usdm", 1_000.0, (Position(btc, 0.1, 60_000.0, 61_000.0, leverage=20.0),)))
    # No built-in tiers for the symbol: evaluate's error.
    nowhere = Account("binance-usdm", 1_000.0, (Position(instrument_for(usdm, "ZZZUSDT"), 1.0, 10.0, 10.0),))
    assert CrossLayout.of(nowhere) is None
    with pytest.raises(InputError) as want:
        evaluate(nowhere)
    with pytest.raises(InputError) as got:
        evaluate_cross(nowhere)
    assert str(got.value) == str(want.value)
    # Isolated positions, empty accounts and rate-based venues are evaluate's.
    iso = Account(
        "binance-usdm",
        1_000.0,
        (Position(btc, 0.1, 60_000.0, 59_000.0, margin_mode=MarginMode.ISOLATED, isolated_margin=600.0),),
    )
    assert CrossLayout.of(iso) is None
    _same(iso)
    assert CrossLayout.of(Account("binance-usdm", 5.0)) is None
    _same(Account("binance-usdm", 5.0))
    deribit = get_venue("deribit")
    rated = Account("deribit", 1_000.0, (Position(instrument_for(deribit, "BTC_USDC-PERPETUAL"), 100.0, 1.0, 1.0),))
    assert CrossLayout.of(rated) is None


def test_exact_sum_is_fsum() -> None:
    rng = np.random.default_rng(5)
    cases = [
        np.zeros(0),
        np.zeros(3),
        np.array([-0.0]),
        np.array([1e308, -1e308, 1e-300]),
        np.array([1.0, 1e100, 1.0, -1e100]),
    ]
    for _ in range(3_000):
        n = int(rng.integers(1, 40))
        x = rng.normal(0.0, 1.0, n) * 10.0 ** rng.integers(-30, 30, n).astype(np.float64)
        if rng.random() < 0.5:
            x = np.concatenate([x, -x[: n // 2] * (1.0 + 2.0**-52 * rng.integers(-2, 3))])
        cases.append(rng.permutation(x))
    # Ties and near-ties of the final rounding (half-even across partials).
    for _ in range(500):
        big = float(rng.integers(1, 2**20)) * 2.0 ** int(rng.integers(-10, 40))
        ulp = math.ulp(big)
        cases.append(np.array([big, ulp / 2.0, ulp * 2.0**-60 * float(rng.choice([-1.0, 1.0]))]))
    for x in cases:
        want = math.fsum(x.tolist())
        for got in (exact_sum_py(x), exact_sum_nb(x)):
            assert got == want, (x, got, want)
            assert math.copysign(1.0, got) == math.copysign(1.0, want), (x, got, want)


@pytest.mark.parametrize("compiled", [True, False])
def test_a_sum_the_kernel_cannot_finish_goes_to_evaluate(monkeypatch: pytest.MonkeyPatch, compiled: bool) -> None:
    # The kernel's status for a sum that is not finite: the layout hands the numbers to evaluate.
    account = _account(np.random.default_rng(2), "bybit-inverse")
    layout = CrossLayout.of(account)
    assert layout is not None
    name = "cross_account_nb" if compiled else "cross_account_py"
    monkeypatch.setattr(margin_cross, name, lambda *args: STATUS_NOT_FINITE)
    ps = account.positions
    got = layout.evaluate(
        account.wallet_balance,
        [p.qty for p in ps],
        [p.entry_price for p in ps],
        [p.mark_price for p in ps],
        compiled=compiled,
    )
    assert got == evaluate(account)
