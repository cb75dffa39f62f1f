"""``levguard replay-account``: a held unified account through history (issue 18)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from levguard.cli.main import app

SPEC = """venue: binance-pm
balances: {BTC: 1.0}
prices: {BTC: 60000}
positions:
  - {symbol: ETHUSDT, qty: -45, entry_price: 3000, mark_price: 3000}
"""


def _csv(path: Path, closes: np.ndarray) -> str:
    idx = pd.date_range("2024-05-01", periods=len(closes), freq="1h", tz="UTC")
    opens = np.concatenate([[closes[0]], closes[:-1]])
    frame = pd.DataFrame(
        {
            "timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": opens,
            "high": np.maximum(opens, closes) * 1.004,
            "low": np.minimum(opens, closes) * 0.996,
            "close": closes,
            "volume": 1.0,
        }
    )
    frame.to_csv(path, index=False)
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    spec = tmp_path / "account.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return {
        "spec": str(spec),
        "btc": _csv(tmp_path / "btc.csv", 60_000 * np.linspace(1.0, 0.80, 72)),
        "eth": _csv(tmp_path / "eth.csv", 3_000 * np.linspace(1.0, 1.40, 72)),
    }


def test_json_names_the_liquidating_bar(files: dict[str, str]) -> None:
    args = ["replay-account", files["spec"], "--prices", f"BTC={files['btc']}", "--prices", f"eth={files['eth']}"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ratio_name"] == "uniMMR"
    assert doc["liquidated_at"] == "2024-05-03T12:00:00+00:00"
    assert doc["frame"][-1]["liquidated"] is True
    assert set(doc["liquidation_prices"]) == {"BTC", "ETH"}
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0
    assert "liquidated" in text.stdout
    assert "2024-05-03 12:00" in text.stdout


def test_bad_prices_item_is_one_line_exit_2(files: dict[str, str]) -> None:
    r = CliRunner().invoke(app, ["replay-account", files["spec"], "--prices", "BTC"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("levguard: error:")
    assert "ASSET=FILE" in lines[0]


def test_missing_asset_is_one_line_exit_2(files: dict[str, str]) -> None:
    r = CliRunner().invoke(app, ["replay-account", files["spec"], "--prices", f"BTC={files['btc']}"])
    assert r.exit_code == 2
    assert "give prices['ETH']" in r.stderr


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("bogus", "start must be a date or timestamp such as 2024-01-01, was 'bogus'"),
        ("2024-13-01", "was '2024-13-01'"),
        ("9999-01-01", "start must lie between 1677-09-22 and 2262-04-11 UTC"),
    ],
)
def test_a_bad_start_is_one_line_exit_2(files: dict[str, str], value: str, needle: str) -> None:
    # Found by a bad-input campaign (2026-12-05): pandas' DateParseError came through.
    args = ["replay-account", files["spec"], "--prices", f"BTC={files['btc']}", "--prices", f"eth={files['eth']}"]
    r = CliRunner().invoke(app, [*args, "--start", value])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("levguard: error: start "), line
    assert needle in line, line


def test_prices_that_are_not_a_mapping_are_one_line(files: dict[str, str], tmp_path: Path) -> None:
    # `prices: abc` in the spec raised "dictionary update sequence element #0 has length 1".
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC.replace("prices: {BTC: 60000}", "prices: abc"), encoding="utf-8")
    args = ["replay-account", str(spec), "--prices", f"BTC={files['btc']}", "--prices", f"eth={files['eth']}"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert "prices must map each asset to its price, was 'abc'" in line, line


def test_an_account_without_equity_prints_no_nan(files: dict[str, str], tmp_path: Path) -> None:
    # Found by a bad-input campaign (2026-12-05): a USD-M account under water from the first bar
    # printed "worst margin_ratio nan".
    spec = tmp_path / "under_water.yaml"
    spec.write_text(
        "venue: binance-usdm\nmargin_mode: cross\nwallet_balance: 1000\npositions:\n"
        "  - {symbol: BTCUSDT, qty: 10, entry_price: 70000, mark_price: 60000, leverage: 20}\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(app, ["replay-account", str(spec), "--prices", f"BTC={files['btc']}"])
    assert res.exit_code == 0, res.output
    assert "worst margin_ratio — (undefined: no equity or no maintenance margin)" in res.stdout
    assert not re.search(r"\bnan\b", res.stdout)


def test_funding_for_an_asset_the_account_does_not_hold_is_one_line_exit_2(
    files: dict[str, str], tmp_path: Path
) -> None:
    # `--funding SOL=...` on an account with no SOL exited 0 and paid 0, while `--prices SOL=...`
    # was refused: both are refused now.
    rates = tmp_path / "sol_funding.csv"
    rates.write_text(
        "timestamp,funding_rate\n2024-05-01T08:00:00Z,0.0001\n2024-05-01T16:00:00Z,0.0001\n", encoding="utf-8"
    )
    args = ["replay-account", files["spec"], "--prices", f"BTC={files['btc']}", "--prices", f"eth={files['eth']}"]
    r = CliRunner().invoke(app, [*args, "--funding", f"SOL={rates}"])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert "funding for SOL: the account holds no position on it (its positions: ETH); drop it" in line, line
    r = CliRunner().invoke(app, [*args, "--prices", f"SOL={files['eth']}"])
    assert r.exit_code == 2
    assert "prices for SOL: the account holds nothing priced in it" in r.stderr
    assert CliRunner().invoke(app, [*args, "--funding", f"ETH={rates}"]).exit_code == 0
