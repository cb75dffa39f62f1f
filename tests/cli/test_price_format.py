"""One price format for the text and HTML outputs: small prices keep their digits.

A hunt on other coins: `levguard liq` of a SHIB-like 20x long (entry 0.0000123) printed its
liquidation (1.17437e-05) and bankruptcy (1.1685e-05) prices both as 0.000012, and 4.8e-7 as
0.000000 (six fixed decimals); `replay-account` printed the liquidating price 3.65e-7 as "0.00"
and `risk`'s reverse stress its prices with two decimals.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from levguard.cli._output import price
from levguard.cli.main import app


def _text(out: str) -> str:
    return " ".join(out.split())  # rich wraps at 120 columns


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (1.1743718592964823e-05, "0.0000117437"),
        (1.1685e-05, "0.0000116850"),
        (4.8e-7, "0.000000480000"),
        (-0.0001234, "-0.000123400"),
        (0.05, "0.0500000"),
        (0.0999999999, "0.100000"),  # the digits counted after rounding
        (1e-13, "1e-13"),  # beyond 12 decimals: scientific
        # 0.1 and up as before
        (0.365, "0.365000"),
        (0.5, "0.500000"),
        (0.0, "0.000000"),
        (1.2345, "1.2345"),
        (99.5, "99.5000"),
        (3100.0, "3,100.00"),
        (60_000.0, "60,000.00"),
        (None, "—"),
        (math.nan, "—"),
    ],
)
def test_price_text(x: float | None, text: str) -> None:
    assert price(x) == text


@given(st.floats(min_value=1e-12, max_value=0.99999, allow_subnormal=False), st.booleans())
def test_a_price_below_one_keeps_six_significant_digits(x: float, negative: bool) -> None:
    v = -x if negative else x
    assert float(price(v)) == pytest.approx(v, rel=5.000001e-6)


@given(st.floats(min_value=0.1, max_value=1e9))
def test_prices_from_a_tenth_up_print_as_before(x: float) -> None:
    digits = 2 if x >= 100 else (4 if x >= 1 else 6)  # the format the docs show
    assert price(x) == f"{x:,.{digits}f}"


def test_liq_prints_a_small_liquidation_price_with_its_digits() -> None:
    args = ["liq", "--symbol", "SHIBLIKEUSDT", "--entry", "0.0000123", "--leverage", "20", "--wallet", "1000"]
    r = CliRunner().invoke(app, [*args, "--mmr", "0.005"])
    assert r.exit_code == 0, r.output
    assert "liquidation price 0.0000117437 · bankruptcy price 0.0000116850" in _text(r.stdout)


def _bars(path: np.ndarray) -> pd.DataFrame:
    idx = pd.date_range("2022-05-10", periods=len(path), freq="1h", tz="UTC")
    opens = np.concatenate([[path[0]], path[:-1]])
    return pd.DataFrame(
        {
            "timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": opens,
            "high": np.maximum(opens, path) * 1.001,
            "low": np.minimum(opens, path) * 0.999,
            "close": path,
            "volume": 1.0,
        }
    )


def test_replay_account_prints_a_small_liquidating_price(tmp_path: Path) -> None:
    spec = tmp_path / "acct.yaml"
    spec.write_text(
        "venue: binance-usdm\nmargin_mode: cross\nwallet_balance: 1000\npositions:\n"
        "  - {symbol: TINYUSDT, qty: 2.0e+10, entry_price: 5.0e-7, mark_price: 5.0e-7, mmr: 0.005}\n",
        encoding="utf-8",
    )
    _bars(5e-7 * np.linspace(1.0, 0.5, 48)).to_csv(tmp_path / "TINYUSDT-PERP_1h.csv", index=False)
    args = ["replay-account", str(spec), "--prices", f"TINY={tmp_path / 'TINYUSDT-PERP_1h.csv'}"]
    doc = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    at = doc["liquidation_prices"]["TINY"]
    assert 1e-7 < at < 5e-7
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert f"at TINY {price(at)} (equity there" in _text(r.stdout)
    assert re.search(r"at TINY 0\.000000\d{6} \(", _text(r.stdout))


def test_risk_reverse_stress_prints_small_prices_with_their_digits(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(
        "venue: binance-pm\nbalances: {USDT: 2000, BTC: 0.1}\nprices: {BTC: 60000}\npositions:\n"
        "  - {symbol: 1000PEPEUSDT, qty: 1.0e+9, entry_price: 0.0000123, mark_price: 0.0000123, mmr: 0.01}\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(app, ["risk", str(spec), "--vol", "0.6", "--horizon", "30"])
    assert r.exit_code == 0, r.output
    text = _text(r.stdout)
    assert re.search(r"1000PEPE 0\.0000123000 -> 0\.00000\d{6} \(-\d+\.\d\d%\), BTC 60,000\.00 -> ", text), text


def test_html_liquidation_text_keeps_a_small_price() -> None:
    from levguard.report.html import _liq_text

    assert _liq_text({"price": 3.65e-7, "side": "long"}, False) == "long liquidated at 0.000000365000"
    assert _liq_text({"price": 36_500.0, "side": "short"}, False) == "short liquidated at 36,500.00"
