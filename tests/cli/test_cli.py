"""CLI: reports, JSON output, quick form, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app

FAQ = Path(levguard.__file__).parent / "resources" / "samples" / "binance_cross_faq.yaml"
runner = CliRunner()


def test_margin_table_and_json() -> None:
    table = runner.invoke(app, ["margin", str(FAQ)])
    assert table.exit_code == 0
    assert "26,316.89" in table.stdout
    assert "1,153.26" in table.stdout
    out = runner.invoke(app, ["margin", str(FAQ), "--json"])
    assert out.exit_code == 0
    data = json.loads(out.stdout)
    assert round(data["positions"][0]["liquidation_price"], 2) == 26316.89


def test_margin_reads_stdin() -> None:
    res = runner.invoke(app, ["margin", "-", "--json"], input=FAQ.read_text())
    assert res.exit_code == 0
    assert json.loads(res.stdout)["venue"] == "binance-usdm"


def test_liq_quick_form() -> None:
    """1 BTC long at 60,000, 20x, 3,000 collateral: LP 57,236.18 (bracket 2), BP 57,000."""
    res = runner.invoke(
        app,
        [
            "liq",
            "--venue",
            "binance-usdm",
            "--symbol",
            "BTCUSDT",
            "--side",
            "long",
            "--entry",
            "60000",
            "--leverage",
            "20",
            "--wallet",
            "3000",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    p = json.loads(res.stdout)["positions"][0]
    assert p["qty"] == pytest.approx(1.0)
    assert p["liquidation_price"] == pytest.approx((3000 + 50 - 60_000) / (0.005 - 1))
    assert p["bankruptcy_price"] == pytest.approx(57_000)


def test_coin_amounts_keep_their_decimals() -> None:
    """An account settled in BTC printed IM 0.05 and MM 0.01 (0.005 rounded) with two decimals;
    XBTUSD on BitMEX (inverse) printed IM 0.00."""
    args = ["liq", "--entry", "50000", "--leverage", "20", "--mmr", "0.005"]
    coin = runner.invoke(app, [*args, "--venue", "binance-coinm", "--symbol", "BTCUSD_PERP", "--wallet", "0.05"])
    assert coin.exit_code == 0, coin.output
    assert "wallet 0.050000 BTC · equity 0.050000 · IM 0.050000 · MM 0.005000" in coin.stdout
    xbt = runner.invoke(app, [*args, "--venue", "bitmex", "--symbol", "XBTUSD", "--wallet", "0.004"])
    assert xbt.exit_code == 0, xbt.output
    assert "IM 0.004000 · MM 0.000400" in xbt.stdout
    usd = runner.invoke(app, [*args, "--venue", "binance-usdm", "--symbol", "BTCUSDT", "--wallet", "5000"])
    assert "wallet 5,000.00 USDT" in usd.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["margin", "/nonexistent/x.yaml"], "does not exist"),
        (["liq", "--entry", "-1", "--leverage", "20", "--wallet", "3000"], "--entry must be > 0"),
        (["liq", "--venue", "kraken", "--entry", "1", "--leverage", "20", "--wallet", "3000"], "venue must be one of"),
        (["liq", "--entry", "60000", "--leverage", "500", "--wallet", "3000"], "exceeds the maximum"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(args: list[str], needle: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("levguard: error: ")
    assert needle in lines[0]
    assert "Traceback" not in res.output


def test_malformed_file_through_the_real_entry_point(tmp_path: Path) -> None:
    """The installed console script: one line on stderr, status 2, no traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "levguard.cli.main", "margin", str(bad)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "invalid JSON at line 1" in proc.stderr


def test_demo_prints_the_sample_reports_and_the_default_market(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo.html")])
    assert res.exit_code == 0
    assert "26,316.89" in res.stdout
    assert "Embedded default market BTC-SYNTH" in res.stdout
    assert "Backtest: buy-and-hold BTC long" in res.stdout
    # Piped (120 columns), the eleven metric columns left the policy names no room at all.
    for name in ("fixed 3x", "fixed 10x", "vol target 60%", "liquidation budget 1%/7d", "composite"):
        assert name in res.stdout
    assert "…" not in res.stdout
    assert (tmp_path / "demo.html").stat().st_size > 1_000_000
    js = json.loads(runner.invoke(app, ["demo", "--json", "--out", ""]).stdout)
    assert set(js) == {"binance_cross_faq.yaml", "cross_account.yaml", "default_market", "sizing", "backtest"}
    bt = js["backtest"]["metrics"]
    # 10x, rebalanced through the crashes, is ruined before any liquidation (it used to trade on
    # with dust and report liquidations of it). 3x survives a 95 % drawdown: its unrealised profit
    # backs the funding it paid (it used to be "liquidated" in a calm uptrend, the wallet alone
    # taken for the margin balance).
    assert bt["fixed 3x"]["n_liquidations"] == 0
    assert bt["fixed 3x"]["ruined"] == 0.0
    assert bt["fixed 3x"]["max_drawdown"] > 0.9
    assert bt["fixed 10x"]["ruined"] == 1.0
    assert bt["fixed 10x"]["total_return"] == pytest.approx(-1.0, abs=1e-4)
    assert bt["fixed 10x"]["sharpe"] is None  # no Sharpe for a wiped-out run (it was 0.98)
    assert js["backtest"]["ruined_at"]["fixed 10x"] is not None
    assert js["backtest"]["ruined_at"]["composite"] is None
    assert bt["composite"]["n_liquidations"] == 0  # the managed policy survives
    assert js["sizing"]["target_leverage"] < js["sizing"]["current_leverage"]
    assert js["sizing"]["binding_constraint"]
    market = js["default_market"]
    assert market["bars"] == 3 * 365 * 24
    assert 0.4 < market["annualised_vol"] < 1.0
    rows = market["isolated_longs_10k_margin"]
    # Higher leverage liquidates at a higher price, so liquidation is monotone in leverage.
    lps = [r["liquidation_price"] for r in rows]
    assert lps == sorted(lps)
    flags = [r["liquidated"] for r in rows]
    assert flags == sorted(flags)
    assert flags[-1] is True


def test_venues_lists_every_rule_set() -> None:
    res = runner.invoke(app, ["venues"])
    assert res.exit_code == 0
    for name in levguard.venue_names():
        assert name in res.stdout
    rows = {line.split()[0]: line for line in res.stdout.splitlines() if line.split()}
    assert " 1 h " in rows["hyperliquid"]  # each venue's funding interval
    assert " 8 h " in rows["binance-usdm"]
    assert "accrued" in res.stdout  # Deribit: an 8-hour rate accrued continuously


def test_margin_with_a_tiers_file(tmp_path: Path) -> None:
    """--tiers merges a symbol -> tiers file (here a flat 1 % table) into the spec."""
    spec = tmp_path / "a.yaml"
    spec.write_text(
        "venue: binance-usdm\nwallet_balance: 5000\npositions:\n"
        "  - {symbol: SOLUSDT, qty: 100, entry_price: 150, mark_price: 150}\n"
    )
    tiers = tmp_path / "t.json"
    tiers.write_text(
        json.dumps({"SOLUSDT": [{"notional_floor": 0, "notional_cap": None, "mmr": 0.01, "max_leverage": 50}]})
    )
    res = runner.invoke(app, ["margin", str(spec), "--tiers", str(tiers), "--json"])
    assert res.exit_code == 0, res.output
    p = json.loads(res.stdout)["positions"][0]
    assert p["liquidation_price"] == pytest.approx((5000 - 100 * 150) / (100 * 0.01 - 100))
    bad = runner.invoke(app, ["margin", str(spec), "--tiers", str(spec)])
    assert bad.exit_code == 2


@pytest.mark.parametrize("qty", ["-1", "0", "nan"])
def test_liq_refuses_a_qty_that_contradicts_the_side(qty: str) -> None:
    args = ["liq", "--side", "long", "--entry", "60000", "--leverage", "10", "--wallet", "1000", "--qty", qty]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("levguard: error: --qty must be > 0")
    assert res.output.count("\n") == 1


def _levguard(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from levguard.cli.main import run; run()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["liq", "--side", "sideways", "--entry", "1", "--leverage", "1", "--wallet", "1"], "'sideways' is not one of"),
        (["liq", "--entry", "1"], "Missing option"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], needle: str) -> None:
    res = _levguard(*args)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.startswith("levguard: error: ")
    assert needle in res.stderr
    assert res.stderr.count("\n") == 1, res.stderr


def test_version_and_help_order() -> None:
    res = _levguard("--version")
    assert (res.returncode, res.stdout.strip()) == (0, f"levguard {levguard.__version__}")
    helptext = _levguard("--help").stdout
    order = [helptext.index(f"\n  {name} ") for name in ("margin", "liq", "size", "risk", "backtest", "demo")]
    assert order == sorted(order)
    assert "<bool>" not in helptext
    assert "<bool>" not in _levguard("liq", "--help").stdout


def test_venues_never_cuts_a_source() -> None:
    res = runner.invoke(app, ["venues"])
    assert res.exit_code == 0
    assert "…" not in res.stdout
    assert "binance-usdm" in res.stdout


def test_a_command_builds_and_imports_only_itself(tmp_path: Path) -> None:
    # `levguard margin` must not import the other commands' modules nor build their parsers
    # (issue 16: start-up at most 3x `import numpy`); bench/bench_cli_startup.py times it.
    spec = tmp_path / "account.json"
    spec.write_text(
        '{"venue": "binance-usdm", "wallet_balance": 1000, "positions": '
        '[{"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60000, "mark_price": 59000}]}'
    )
    code = (
        "import sys\n"
        "from levguard.cli.main import run\n"
        f"sys.argv = ['levguard', 'margin', {str(spec)!r}, '--json']\n"
        "try:\n    run()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "heavy = [m for m in ('levguard.cli.cascade', 'levguard.cli.serve', 'levguard.cli.backtest',"
        " 'pandas', 'numba', 'pydantic', 'scipy') if m in sys.modules]\n"
        "print('EXIT', code, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip().splitlines()[-1] == "EXIT 0 []", out.stdout + out.stderr
    assert '"liquidation_price"' in out.stdout


def test_risk_with_a_given_vol_loads_no_scipy_fitters(tmp_path: Path) -> None:
    # `levguard risk book.yaml --vol 0.6` prices closed forms: scipy.stats and scipy.optimize
    # (about 0.6 s of imports) load only where a fit needs them (Student-t, Cornish-Fisher, SVI);
    # bench/bench_cli_startup.py --command "risk book.yaml --vol 0.6" times it.
    assert CliRunner().invoke(app, ["init", str(tmp_path)]).exit_code == 0
    code = (
        "import sys\n"
        "from levguard.cli.main import run\n"
        "sys.argv = ['levguard', 'risk', 'book.yaml', '--vol', '0.6', '--json']\n"
        "try:\n    run()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "heavy = [m for m in ('scipy.stats', 'scipy.optimize', 'numba') if m in sys.modules]\n"
        "print('EXIT', code, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "EXIT 0 []", out.stdout[-2000:] + out.stderr
    assert '"stress"' in out.stdout
    assert '"liquidation_forecast"' in out.stdout


def test_every_command_is_registered_in_the_help_order() -> None:
    from levguard.cli.main import COMMAND_NAMES, app, build_app

    listed = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(listed) == sorted(COMMAND_NAMES)
    for name in COMMAND_NAMES:  # each command alone builds and shows its help
        result = CliRunner().invoke(build_app(name), [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f"levguard {name}" in result.output or "Usage:" in result.output


def test_margin_shows_a_unified_accounts_ratio_and_collateral() -> None:
    from importlib import resources

    sample = resources.files("levguard.resources").joinpath("samples", "unified_account.yaml")
    res = runner.invoke(app, ["margin", str(sample)])
    assert res.exit_code == 0, res.output
    assert "collateral" in res.stdout
    assert "95.00%" in res.stdout  # BTC at its collateral rate
    assert "uniMMR 70.45 · status normal" in res.stdout


def test_liq_on_gate_posts_the_wallet_as_its_initial_margin() -> None:
    """Gate's IM holds the fee to close (help 22148): `liq` sized N = wallet x leverage and posted
    the wallet, whose IM was then 2,075 against a margin of 2,000 (a review)."""
    args = ["liq", "--venue", "gate", "--symbol", "BTC_USDT", "--entry", "50000", "--leverage", "50"]
    res = runner.invoke(app, [*args, "--wallet", "2075", "--mmr", "0.005", "--margin-mode", "isolated", "--json"])
    assert res.exit_code == 0, res.output
    p = json.loads(res.stdout)["positions"][0]
    assert p["qty"] == pytest.approx(2.0)  # 2,075 / (1/50 + 0.075 %) = 100,000 of notional
    assert p["initial_margin"] == pytest.approx(2075.0)
    assert p["margin_balance"] == pytest.approx(2075.0)
    assert p["liquidation_price"] == pytest.approx((50_000 - 1_037.5) / (1 - 0.00575), rel=1e-12)


def test_liq_says_when_a_given_qty_does_not_fit_the_wallet() -> None:
    # 10 BTC @ 60,000 at 10x need 60,000 of initial margin; with 1,000 the "lev" column's 10x is the
    # setting, not the position (a CLI audit): the note gives 600x.
    args = ["liq", "--entry", "60000", "--leverage", "10", "--wallet", "1000"]
    big = runner.invoke(app, [*args, "--qty", "10"])
    assert big.exit_code == 0
    assert "needs an initial margin of 60,000.00 at 10x" in " ".join(big.output.split())
    assert "600.0x the wallet" in " ".join(big.output.split())
    small = runner.invoke(app, [*args, "--qty", "0.1"])
    assert small.exit_code == 0
    assert "note:" not in small.output


def test_a_zero_amount_never_prints_as_minus_zero() -> None:
    from levguard.cli._output import fmt

    assert [fmt(-0.0), fmt(-1e-12), fmt(-1e-9, 6), fmt(-0.006), fmt(-123_456.0)] == [
        "0.00", "0.00", "0.000000", "-0.01", "-123,456"
    ]  # fmt: skip
    short = runner.invoke(app, ["liq", "--entry", "60000", "--leverage", "10", "--wallet", "1000", "--side", "short"])
    assert short.exit_code == 0
    assert "-0.00" not in short.output  # the uPnL of a short at its entry (a CLI audit)
