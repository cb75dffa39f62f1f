"""Shared inputs of the fuzz and regression tests of the input boundary (issue 14).

``BASES`` holds valid account specs of every venue rule set; :func:`mutate` applies structural
mutations to a copy (wrong types, extreme numbers, deep nesting, huge lists, unicode, missing and
extra keys); ``specs`` draws them cheaply (indices into fixed tables, the nasty values built once
and shared, never copied).  ``BAD_DOCUMENTS`` are hand-made bad texts for the CLI, the issue's
reproducers among them; :func:`run_margin` feeds one to ``levguard margin -`` and checks the
outcome: status 0, or status 2 with exactly one ``levguard: error:`` line, never a traceback.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

from click.testing import Result
from hypothesis import strategies as st
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.errors import LevguardError

# ----------------------------------------------------------------------------- valid specs
_TIERS = [
    {"notional_floor": 0, "notional_cap": 50_000, "mmr": 0.004, "max_leverage": 125},
    {"notional_floor": 50_000, "notional_cap": 600_000, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 600_000, "notional_cap": None, "mmr": 0.01, "max_leverage": 50},
]


def _pos(symbol: str, qty: float, price: float, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "qty": qty, "entry_price": price, "mark_price": price * 1.01, **extra}


_CCXT = {
    "info": {},
    "symbol": "BTC/USDT:USDT",
    "contracts": 0.5,
    "contractSize": 1.0,
    "side": "short",
    "leverage": 10,
    "collateral": 3000.0,
    "entryPrice": 60000.0,
    "markPrice": 60000.0,
    "marginMode": "isolated",
    "maintenanceMarginPercentage": 0.004,
}

BASES: list[dict[str, Any]] = [
    {
        "venue": "binance-usdm",
        "margin_mode": "cross",
        "wallet_balance": 250_000,
        "positions": [_pos("BTCUSDT", 40, 61_250.0, leverage=20), _pos("ETHUSDT", -300, 2480.0, leverage=10)],
    },
    {
        "venue": "binance-usdm",
        "margin_mode": "isolated",
        "wallet_balance": 0,
        "positions": [
            _pos("BTCUSDT", 1, 60_000, leverage=20, isolated_margin=3000),
            _pos("AAAUSDT", -5, 100, mmr=0.02, maint_amount=0, isolated_margin=100),
        ],
        "tiers": {"ETHUSDT": _TIERS},
    },
    {"venue": "binance-usdm", "wallet_balance": 10_000, "positions": [_CCXT]},
    {"venue": "binance-coinm", "wallet_balance": 2.0, "positions": [_pos("BTCUSD_PERP", 100, 60_000, mmr=0.005)]},
    {
        "venue": "bybit-linear",
        "wallet_balance": 5000,
        "positions": [_pos("AAAUSDT", 10, 100, tiers=_TIERS), _pos("BBBUSDT", -3, 50, mmr=0.01)],
    },
    {
        "venue": "bybit-inverse",
        "wallet_balance": 1.5,
        "positions": [_pos("BTCUSD", 1000, 60_000, mmr=0.005, contract_kind="inverse")],
    },
    {"venue": "okx", "wallet_balance": 5000, "positions": [_pos("AAAUSDT", 10, 100, mmr=0.01, taker_fee_rate=0.0005)]},
    {
        "venue": "gate",
        "margin_mode": "isolated",
        "positions": [_pos("AAAUSDT", 10, 100, tiers=_TIERS, isolated_margin=200)],
    },
    {
        "venue": "hyperliquid",
        "wallet_balance": 20_000,
        "positions": [_pos("BTC", 0.5, 60_000, leverage=10), _pos("ETH", -2, 2500)],
    },
    {
        "venue": "dydx-v4",
        "wallet_balance": 10_000,
        "positions": [_pos("BTC-USD", 1, 50_000), _pos("AAA-USD", 10, 10, liquidity_tier="Long-Tail")],
    },
    {"venue": "deribit", "wallet_balance": 10_000_000, "positions": [_pos("BTC_USDC-PERPETUAL", 25, 100_000)]},
    {"venue": "bitmex", "wallet_balance": 5000, "positions": [_pos("AAAUSDT", 10, 100, mmr=0.005, contract_size=1.0)]},
    {
        "venue": "generic",
        "wallet_balance": 5000,
        "positions": [_pos("AAAUSDT", 10, 100, mmr=0.01, max_leverage=20, settlement="USDT")],
    },
]
"""One or more valid specs per venue rule set (every one of ``levguard venues``)."""


def nested_list(depth: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(depth):
        out = [out]
    return out


def nested_dict(depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(depth):
        out = {"a": out}
    return out


# Built once and shared by every example (the code under test never mutates its input; the
# mutator below never writes into them either).
NASTY: tuple[Any, ...] = (
    # numbers at and past the edges of float64, and ints past Python's 4,300-digit str() limit
    0, 1, -1, 2**63, -(2**63) - 1, 10**400, -(10**400), 10**5000,
    0.0, -0.0, 0.5, 1e-300, 5e-324, 1e308, -1e308, 1.7976931348623157e308, math.nan, math.inf, -math.inf,
    # strings that look like numbers, names and garbage
    "", " ", "nan", "NaN", "inf", "-inf", "1e999", "-1e999", "1e308", "0x10", "1_000", "١٢٣", " 12 ", "abc",
    "BTCUSDT", "BTC-USD", "cross", "isolated", "inverse", "long", "short", "Long-Tail", "binance-usdm", "kraken",
    "\x00", "a\nb", "💥" * 3, "x" * 100_000,
    True, False, None,
    # containers of the wrong shape, very deep, very long
    [], {}, [1], [None], {"a": 1}, [[]], {"": None}, (1, 2), frozenset({1}), b"\xff\xfe",
    dt.date(2024, 1, 1), nested_list(3000), nested_dict(3000), [0.0] * 10_000,
    {f"k{i}": i for i in range(2000)},
)  # fmt: skip
EXTRA_KEYS: tuple[Any, ...] = ("extra", "", "💥", "VENUE", "k" * 10_000, 1, None, True, 1.5, ("a",))
KINDS = ("replace", "replace", "replace", "delete", "extra", "wrap", "stringify", "repeat")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


PATHS = [list(_paths(b)) for b in BASES]


def _owned(node: Any, into: set[int]) -> set[int]:
    if isinstance(node, dict | list):
        into.add(id(node))
        for v in node.values() if isinstance(node, dict) else node:
            _owned(v, into)
    return into


def mutate(base: int, mutations: list[tuple[str, int, int]]) -> Any:
    """Apply ``mutations`` (kind, path index, value index) to a copy of ``BASES[base]``.

    Only containers copied from the base (or made here) are written to; a path that no longer
    leads to one (deleted, replaced by a scalar or by a shared nasty value) is skipped.
    """
    root: Any = copy.deepcopy(BASES[base])
    owned = _owned(root, set())
    paths = PATHS[base]
    for kind, p, v in mutations:
        path = paths[p % len(paths)]
        value = NASTY[v % len(NASTY)]
        parent: Any = None
        node: Any = root
        ok = True
        for key in path:
            if id(node) not in owned or not isinstance(node, dict | list):
                ok = False
                break
            if isinstance(node, dict) and key not in node:
                ok = False
                break
            if isinstance(node, list) and not (isinstance(key, int) and 0 <= key < len(node)):
                ok = False
                break
            parent, node = node, node[key]
        if not ok:
            continue
        if kind == "extra":
            if isinstance(node, dict) and id(node) in owned:
                node[EXTRA_KEYS[v % len(EXTRA_KEYS)]] = value
            elif isinstance(node, list) and id(node) in owned:
                node.append(value)
            continue
        if kind == "replace":
            new: Any = value
        elif kind == "wrap":
            new = [node]
            owned.add(id(new))
        elif kind == "stringify":
            try:
                new = str(node)[:1000]
            except (RecursionError, ValueError):  # a deep list; an int past 4,300 digits
                new = "<unprintable>"
        elif kind == "repeat":
            new = [node] * (1 + v % 1000) if not isinstance(node, list) else node * (1 + v % 50)
            owned.add(id(new))
        else:  # delete
            new = None
        if parent is None:
            if kind == "delete":
                return {}
            root = new
            continue
        if kind == "delete":
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        else:
            parent[path[-1]] = new
    return root


_mutation = st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000), st.integers(0, 10_000))
specs = st.builds(mutate, st.integers(0, len(BASES) - 1), st.lists(_mutation, min_size=1, max_size=3))
"""Mutated account specs: a base spec and one to three mutations."""


def check_error(exc: LevguardError) -> None:
    """A useful error: non-empty, one line, bounded (values in messages are truncated)."""
    msg = str(exc)
    assert msg.strip(), type(exc)
    assert "\n" not in msg, msg[:300]
    assert len(msg) < 2000, msg[:300]


# ----------------------------------------------------------------------------- bad documents
def deep(open_: str, close: str, depth: int = 3000, inner: str = "") -> str:
    """``depth`` nested brackets, e.g. ``[[[...]]]``."""
    return open_ * depth + inner + close * depth


def _laughs() -> str:
    # Nine levels of ten aliases each: 10**9 values once expanded, 200 bytes of text.
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    return "\n".join([*lines, "venue: binance-usdm", "positions: *i", ""])


HUGE_INT = '{"venue": "binance-usdm", "wallet_balance": ' + str(10**400) + "}"
"""The issue's first reproducer as a document."""

BAD_DOCUMENTS: dict[str, bytes] = {
    name: text.encode("utf-8", "surrogateescape")
    for name, text in {
        "huge int": HUGE_INT,
        "huge int in a position": '{"venue": "binance-usdm", "positions": [{"symbol": "BTCUSDT", "qty": '
        + str(10**400)
        + ', "entry_price": 1, "mark_price": 1}]}',
        "3000 brackets": deep("[", "]"),
        "3000 JSON objects": deep('{"a":', "}", inner="1"),
        "3000 YAML flow objects": deep("{a: ", "}", inner="1"),
        "1000 YAML block levels": "".join(" " * i + "a:\n" for i in range(1000)) + " " * 1000 + "b: 1\n",
        "positions 3000 deep": '{"venue": "binance-usdm", "positions": ' + deep("[", "]") + "}",
        "1e999": '{"venue": "binance-usdm", "wallet_balance": 1e999}',
        "NaN": '{"venue": "binance-usdm", "wallet_balance": NaN}',
        "5000-digit int": '{"venue": "binance-usdm", "wallet_balance": ' + "9" * 5000 + "}",
        "recursive alias": "venue: binance-usdm\npositions: &p [*p]\n",
        "billion laughs": _laughs(),
        "NUL byte": "venue: binance-usdm\x00",
        "binary": "\udcff\udcfe\x00garbage",  # the raw bytes ff fe 00 ...
        "bad date": "venue: binance-usdm\nwallet_balance: 2024-13-45\n",
        "python tag": "!!python/object/apply:os.system ['true']",
        "two documents": "venue: binance-usdm\n---\nvenue: okx\n",
        "int keys": "{1: 2, venue: binance-usdm, null: 3}",
        "tiers not a mapping": "venue: binance-usdm\ntiers: [1, 2]\n",
        "unhashable key": "? [a, b]\n: 1\n",
        "newline in symbol": '{"venue": "binance-usdm", "positions": [{"symbol": "BTC\\nUSDT", "qty": 1, '
        '"entry_price": 1, "mark_price": 1}]}',
        "bad merge key": "venue: binance-usdm\npositions:\n  - <<: 5\n",
        "bad binary tag": "venue: !!binary '%%%'",
        "bad float tag": "venue: !!float abc",
        "bad int tag": "venue: binance-usdm\nwallet_balance: !!int 0x\n",
        "undefined alias": "*undefined",
        "tab indentation": "venue: binance-usdm\n\twallet_balance: 1\n",
        "65 brackets": deep("[", "]", 65),
    }.items()
}
OTHER_DOCUMENTS: list[bytes] = [
    b"",
    b"\xef\xbb\xbf{}",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "venue: binance-usdm\nwallet_balance: 1e999\n".encode("utf-16"),
    b"{'venue': 'binance-usdm'}",
    deep("[", "]", 63).encode(),
    b"- - - - - - -",
]
"""Documents that may parse (status 0 or 2 are both fine for them)."""

_runner = CliRunner()


def run_margin(document: bytes, *args: str) -> Result:
    """Run ``levguard margin - ARGS`` on ``document``: status 0, or 2 with one error line."""
    res = _runner.invoke(app, ["margin", "-", *args], input=document)
    assert res.exit_code in (0, 2), (res.exit_code, repr(res.exception), res.output[-500:])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    if res.exit_code == 2:
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1, res.output[:1000]
        assert lines[0].startswith("levguard: error: "), lines[0][:300]
        assert res.stdout == ""
    return res


# A valid Morpho Blue position spec (levguard defi), the baseline the campaigns mutate.
MORPHO = {
    "protocol": "morpho-blue",
    "lltv": 0.86,
    "collateral": 10,
    "borrow": 20_000,
    "collateral_price": 3_000,
    "loan_price": 1,
    "collateral_decimals": 18,
    "loan_decimals": 6,
}
