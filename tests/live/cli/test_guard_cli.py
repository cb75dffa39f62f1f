"""``levguard guard``: the paper demo, a config run, dry run by default, one-line config errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.config.guardian import CcxtVenueConfig, load_secrets, parse_guardian_config
from levguard.errors import ConfigError
from levguard.live.store import Store

runner = CliRunner()


def paper_config(tmp_path: Path, **account: Any) -> dict[str, Any]:
    acc: dict[str, Any] = {
        "name": "paper-btc",
        "venue": {
            "type": "paper",
            "wallet_balance": 10_000.0,
            "positions": [{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0}],
            "crash": {"start": 60_000.0, "drop": 0.3, "ticks": 60, "flat": 5, "tail": 10},
        },
        "thresholds": {"margin_ratio": [0.3, 0.5, 0.6], "distance": [0.2, 0.12, 0.08], "p_liq": [0.2, 0.5, 0.8]},
        "actions": {"target_leverage": 3.0, "cooldown_s": 0},
        "max_age_s": 120,
        "vol": 0.8,
    }
    acc.update(account)
    return {"database": f"sqlite:///{tmp_path / 'g.db'}", "alerts": {"log": False}, "accounts": [acc]}


def write(tmp_path: Path, cfg: dict[str, Any]) -> str:
    p = tmp_path / "guard.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(p)


def test_paper_demo_deleverages_through_the_crash() -> None:
    res = runner.invoke(app, ["guard", "--paper-demo"])
    assert res.exit_code == 0, res.output
    assert "reduce-only" in res.stdout
    assert "Without the guardian the venue liquidates" in res.stdout
    assert "no liquidation" in res.stdout


def test_config_run_is_a_dry_run_without_live(tmp_path: Path) -> None:
    cfg = paper_config(tmp_path, live=True)
    res = runner.invoke(app, ["guard", write(tmp_path, cfg), "--json"])
    assert res.exit_code == 0, res.output
    reports = json.loads(res.stdout)
    assert reports[0]["account"] == "paper-btc"
    store = Store(cfg["database"])
    assert store.orders(account="paper-btc") == []
    assert any(r["event"] == "deleverage_dry_run" for r in store.audit_log(account="paper-btc", limit=10_000))


def test_live_needs_both_the_flag_and_the_account_opt_in(tmp_path: Path) -> None:
    cfg = paper_config(tmp_path, live=False)
    assert runner.invoke(app, ["guard", write(tmp_path, cfg), "--live", "--json"]).exit_code == 0
    assert Store(cfg["database"]).orders(account="paper-btc") == []
    cfg2 = paper_config(tmp_path / "b", live=True)
    (tmp_path / "b").mkdir()
    res = runner.invoke(app, ["guard", write(tmp_path / "b", cfg2), "--live", "--json"])
    assert res.exit_code == 0, res.output
    orders = Store(cfg2["database"]).orders(account="paper-btc")
    assert orders
    assert {o["status"] for o in orders} == {"closed"}


def test_a_dry_run_start_keeps_what_the_store_says_of_an_account(tmp_path: Path) -> None:
    """An operator switched the account to dry run and set a policy (the API's /mode and /policy);
    a dry run of the same config on the same database writes no shared state, so the live
    guardian still running keeps them. A dry run on a new database creates the account in dry run."""
    cfg = paper_config(tmp_path, live=True)
    store = Store(cfg["database"])
    policy = {"policy": {"type": "fixed", "leverage": 2}}
    store.upsert_account("paper-btc", "binance-usdm", live_enabled=False, policy=policy)
    assert runner.invoke(app, ["guard", write(tmp_path, cfg), "--max-cycles", "1", "--json"]).exit_code == 0
    row = store.account("paper-btc")
    assert row is not None
    assert (row["live_enabled"], row["policy"]) == (False, policy)
    other = paper_config(tmp_path / "b", live=True)
    (tmp_path / "b").mkdir()
    assert runner.invoke(app, ["guard", write(tmp_path / "b", other), "--max-cycles", "1", "--json"]).exit_code == 0
    fresh = Store(other["database"]).account("paper-btc")
    assert fresh is not None
    assert fresh["live_enabled"] is False


def test_a_live_start_applies_the_config_and_says_so_when_it_turns_live_back_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = paper_config(tmp_path, live=True)
    store = Store(cfg["database"])
    store.upsert_account("paper-btc", "binance-usdm", live_enabled=False)
    res = runner.invoke(app, ["guard", write(tmp_path, cfg), "--live", "--max-cycles", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert store.account("paper-btc")["live_enabled"] is True  # type: ignore[index]
    assert "turns live acting back on" in caplog.text


def test_max_cycles_stops(tmp_path: Path) -> None:
    cfg = paper_config(tmp_path)
    res = runner.invoke(app, ["guard", write(tmp_path, cfg), "--max-cycles", "3", "--json"])
    assert res.exit_code == 0, res.output
    assert len(Store(cfg["database"]).snapshots("paper-btc")) == 3


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c.update(accounts=[]), "accounts"),
        (lambda c: c["accounts"][0].update(actions={"step_fraction": 2}), "step_fraction"),
        (lambda c: c["accounts"][0].update(thresholds={"hysteresis": 1.5}), "hysteresis"),
        (lambda c: c["accounts"][0]["venue"].update(type="ftx"), "venue"),
        (lambda c: c.update(alerts={"webhook": {"url": "ftp://x"}}), "url"),
        (lambda c: c.update(bogus=1), "bogus"),
        (lambda c: c["accounts"].append(dict(c["accounts"][0])), "unique"),
        # A bad-input campaign (2026-12-05): an in-memory store ran a guardian whose write-ahead
        # log vanished with it.
        (lambda c: c.update(database="sqlite://"), "an in-memory SQLite store is lost when the guardian stops"),
        (lambda c: c.update(database="sqlite:///:memory:"), "an in-memory SQLite store is lost"),
        (lambda c: c.update(database="sqlite:///file:g?mode=memory&uri=true"), "an in-memory SQLite store is lost"),
        # A bad-input campaign (2026-12-06): numbers the margin engine refuses ran a guardian that
        # failed every cycle (exit 0), or stopped with four lines on stderr.
        (
            lambda c: c["accounts"][0]["venue"]["positions"][0].update(entry_price=1e-300),
            r"entry_price: must be a number",
        ),
        (lambda c: c["accounts"][0]["venue"].update(wallet_balance=1e300), r"wallet_balance: must be a number of"),
        (lambda c: c["accounts"][0]["venue"]["positions"][0].update(qty=-1e300), r"qty: must be a size of magnitude"),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path: Path, mutate: Any, needle: str) -> None:
    cfg = paper_config(tmp_path)
    mutate(cfg)
    res = runner.invoke(app, ["guard", write(tmp_path, cfg)])
    assert res.exit_code == 2
    assert res.stderr.startswith("levguard: error:")
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2


def test_an_account_that_cannot_be_set_up_writes_no_database(tmp_path: Path) -> None:
    # The history file is read while the accounts are set up; the database is opened after.
    cfg = paper_config(tmp_path, history=str(tmp_path / "missing.csv"))
    res = runner.invoke(app, ["guard", write(tmp_path, cfg)])
    assert res.exit_code == 2
    assert res.stderr.startswith("levguard: error:")
    assert "missing.csv" in res.stderr
    assert not (tmp_path / "g.db").exists()


@pytest.mark.parametrize(
    ("policy", "needle"),
    [
        ("missing.yaml", "accounts[paper-btc].policy: file 'missing.yaml' does not exist"),
        ("bad.yaml", "accounts[paper-btc].policy: bad.yaml: policy: unknown policy type"),
    ],
)
def test_a_policy_file_that_does_not_load_stops_the_start(tmp_path: Path, policy: str, needle: str) -> None:
    # It ran, warned in every cycle and sized to the fixed target (a bad-input campaign, 2026-12-06).
    (tmp_path / "bad.yaml").write_text("policy: {type: nonsense}\n")
    cfg = paper_config(tmp_path, policy=str(tmp_path / policy) if policy == "bad.yaml" else policy)
    res = runner.invoke(app, ["guard", write(tmp_path, cfg), "--max-cycles", "1"])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1
    assert needle.replace("bad.yaml", str(tmp_path / "bad.yaml")) in res.stderr
    assert not (tmp_path / "g.db").exists()


def test_a_policy_file_is_sized_with(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("policy: {type: fixed, leverage: 2}\n")
    cfg = paper_config(tmp_path, policy=str(tmp_path / "p.yaml"))
    res = runner.invoke(app, ["guard", write(tmp_path, cfg), "--max-cycles", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert "sizing failed" not in res.output


@pytest.mark.parametrize("cycles", ["0", "-1"])
def test_max_cycles_below_one_is_refused_before_the_database_is_opened(tmp_path: Path, cycles: str) -> None:
    # Zero cycles used to print an empty report with exit 0, as if the accounts had been checked.
    cfg = paper_config(tmp_path)
    res = runner.invoke(app, ["guard", write(tmp_path, cfg), "--max-cycles", cycles])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"levguard: error: --max-cycles must be >= 1, was {cycles}"
    assert not (tmp_path / "g.db").exists()


def test_needs_a_config_or_the_demo() -> None:
    res = runner.invoke(app, ["guard"])
    assert res.exit_code == 2
    assert "--paper-demo" in res.stderr


def test_secrets_come_from_env_or_a_private_file_and_never_show(tmp_path: Path) -> None:
    venue = CcxtVenueConfig(type="ccxt", exchange="binanceusdm", api_key_env="LG_KEY", secret_env="LG_SECRET")
    with pytest.raises(ConfigError, match="LG_KEY") as exc:
        load_secrets(venue, environ={})
    assert "LG_KEY" in str(exc.value)
    secrets = load_secrets(venue, environ={"LG_KEY": "AKIA-very-secret", "LG_SECRET": "sssh"})
    assert secrets.api_key is not None
    assert secrets.api_key.get_secret_value() == "AKIA-very-secret"
    assert "AKIA-very-secret" not in repr(secrets)
    assert "sssh" not in str(secrets)
    f = tmp_path / "keys.yaml"
    f.write_text("api_key: k-from-file\nsecret: s-from-file\n")
    os.chmod(f, 0o644)
    file_venue = CcxtVenueConfig(type="ccxt", exchange="binanceusdm", secrets_file=str(f))
    with pytest.raises(ConfigError, match="too open"):
        load_secrets(file_venue, environ={})
    os.chmod(f, 0o600)
    loaded = load_secrets(file_venue, environ={})
    assert loaded.secret is not None
    assert loaded.secret.get_secret_value() == "s-from-file"


def test_a_secret_of_base_60_digits_is_the_string_written(tmp_path: Path) -> None:
    """YAML 1.2 has no base-60 numbers: `password: 12:30` is the string '12:30' (YAML 1.1 read 750)."""
    f = tmp_path / "keys.yaml"
    f.write_text("api_key: k\nsecret: s\npassword: 12:30\n")
    os.chmod(f, 0o600)
    loaded = load_secrets(CcxtVenueConfig(type="ccxt", exchange="okx", secrets_file=str(f)), environ={})
    assert loaded.password is not None
    assert loaded.password.get_secret_value() == "12:30"


@pytest.mark.parametrize("value", ["2024e06", "0123", "0x1F", "true"])
def test_a_secret_yaml_reads_as_no_string_is_refused_not_rewritten(tmp_path: Path, value: str) -> None:
    """A review (2026-12-07): `password: 2024e06` was sent as '2024000000.0' (0123 as '83'), a silent
    authentication failure; the value is never named."""
    f = tmp_path / "keys.yaml"
    f.write_text(f"api_key: k\nsecret: s\npassword: {value}\n")
    os.chmod(f, 0o600)
    venue = CcxtVenueConfig(type="ccxt", exchange="okx", secrets_file=str(f))
    with pytest.raises(ConfigError, match=r"password must be a string \(quote it\)") as exc:
        load_secrets(venue, environ={})
    assert value not in str(exc.value)
    f.write_text(f"api_key: k\nsecret: s\npassword: '{value}'\n")
    loaded = load_secrets(venue, environ={})
    assert loaded.password is not None
    assert loaded.password.get_secret_value() == value


def test_a_missing_key_variable_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LG_NOPE", raising=False)
    cfg = {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "accounts": [{"name": "real", "venue": {"type": "ccxt", "exchange": "binanceusdm", "api_key_env": "LG_NOPE"}}],
    }
    res = runner.invoke(app, ["guard", write(tmp_path, cfg)])
    assert res.exit_code == 2
    assert "LG_NOPE" in res.stderr


def test_guard_enable_re_enables_an_account_disabled_by_an_auth_failure(tmp_path: Path) -> None:
    cfg = paper_config(tmp_path, live=True)
    cfg["id"] = "desk-guardian"
    path = write(tmp_path, cfg)
    assert runner.invoke(app, ["guard", path, "--live", "--json", "--max-cycles", "1"]).exit_code == 0
    store = Store(cfg["database"])
    store.set_disabled("paper-btc", "authentication failed: HTTP 401", 1)
    assert store.leases()[0]["owner"] == "desk-guardian"  # the configured identity
    res = runner.invoke(app, ["guard-enable", path, "paper-btc", "--by", "alice"])
    assert res.exit_code == 0, res.output
    assert "was disabled: authentication failed" in res.stdout
    assert store.account("paper-btc")["disabled_reason"] is None  # type: ignore[index]
    (row,) = store.audit_log(account="paper-btc", event="enabled")
    assert row["reasons"] == ["re-enabled by alice"]
    bad = runner.invoke(app, ["guard-enable", path, "nope"])
    assert bad.exit_code == 2
    assert "nope" in bad.output
    assert "Traceback" not in bad.output


def test_guard_enable_on_a_database_that_does_not_exist_creates_none(tmp_path: Path) -> None:
    path = write(tmp_path, paper_config(tmp_path))
    res = runner.invoke(app, ["guard-enable", path, "paper-btc"])
    assert res.exit_code == 2
    assert res.stderr.startswith("levguard: error: no SQLite database at")
    assert not (tmp_path / "g.db").exists()


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("start", "abc", "venue.crash.start must be a number, was 'abc'"),
        ("drop", float("nan"), "venue.crash.drop must be > 0, was nan"),
        ("drop", 1.5, "venue.crash.drop must be a fraction in (0, 1), was 1.5"),
        ("ticks", 10**23, "venue.crash.ticks must be an integer in [1, 10000000), was 100000000000000000000000"),
        ("tail", {}, "venue.crash.tail must be an integer in [0, 10000000), was {}"),
    ],
)
def test_a_bad_paper_crash_is_one_line_exit_2(tmp_path: Path, field: str, value: Any, needle: str) -> None:
    # Found by a bad-input campaign (2026-12-05): float()/int() of these raised ValueError,
    # TypeError or OverflowError through the command.
    cfg = paper_config(tmp_path)
    cfg["accounts"][0]["venue"]["crash"][field] = value
    res = runner.invoke(app, ["guard", write(tmp_path, cfg), "--max-cycles", "1"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [f"levguard: error: {needle}"]


def test_a_database_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    # The store's own warning log line came before the error line (2 lines on stderr).
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n" * 100)
    cfg = paper_config(tmp_path)
    cfg["database"] = f"sqlite:///{not_a_db}"
    # A real process: under pytest the root logger already has handlers, so the CLI's logging
    # set-up (and the duplicate line) would not show in CliRunner's capture.
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "levguard.cli.main", "guard", write(tmp_path, cfg), "--max-cycles", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("levguard: error: store unavailable during migrate on sqlite:///"), line


@pytest.mark.parametrize(
    ("account", "needle"),
    [
        # Percent for fractions (ARCHITECTURE.md: rates are fractions) was accepted: a p_liq
        # threshold of 5 is never reached and a vol of 60 is 6,000 % a year.
        (
            {"vol": 60},
            "accounts[0].vol: must be an annualised volatility as a fraction in (0, 20] (0.60 for 60 %); "
            "if 60 is a percentage, write 0.6 (was 60)",
        ),
        (
            {"thresholds": {"p_liq": [5, 20, 50]}},
            "accounts[0].thresholds.p_liq[0]: must be a probability as a "
            "fraction in (0, 1] (0.60 for 60 %); if 5 is a percentage, write 0.05 (was 5)",
        ),
        ({"thresholds": {"p_liq": [0.05, 0.2, 50]}}, "accounts[0].thresholds.p_liq[2]: must be a probability"),
        (
            {"thresholds": {"margin_ratio": [50, 70, 85]}},
            "accounts[0].thresholds.margin_ratio[0]: must be a margin ratio as a fraction in (0, 1]",
        ),
        (
            {"thresholds": {"distance": [15, 8, 4]}},
            "accounts[0].thresholds.distance[0]: must be a distance to "
            "liquidation as a fraction in (0, 1] (0.60 for 60 %); if 15 is a percentage, write 0.15 (was 15)",
        ),
        (
            {"vol": -0.5},
            "accounts[0].vol: must be an annualised volatility as a fraction in (0, 20] (0.60 for 60 %) (was -0.5)",
        ),
    ],
)
def test_percent_for_a_fraction_is_refused_naming_the_key(tmp_path: Path, account: dict[str, Any], needle: str) -> None:
    res = runner.invoke(app, ["guard", write(tmp_path, paper_config(tmp_path, **account))])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("levguard: error:")
    assert needle in line, line
    assert not (tmp_path / "g.db").exists()


def test_fractions_at_their_bounds_are_accepted(tmp_path: Path) -> None:
    from levguard.config.guardian import parse_guardian_config

    cfg = paper_config(tmp_path, vol=1.5, thresholds={"p_liq": [0.05, 0.5, 1.0], "margin_ratio": [0.5, 0.8, 1.0]})
    (acc,) = parse_guardian_config(cfg).accounts
    assert (acc.vol, acc.thresholds.p_liq[2], acc.thresholds.margin_ratio[2]) == (1.5, 1.0, 1.0)


def test_a_ccxt_account_sets_its_wallet_currency(tmp_path: Path) -> None:
    """``venue.settle`` reaches the venue; one the rule set does not model (Deribit's BTC wallet:
    its inverse contracts, which the deribit rules refuse) stops the start with one line."""
    from levguard.cli.guard import _ccxt_venue

    assert _ccxt_venue(CcxtVenueConfig(type="ccxt", exchange="okx", settle="btc")).settle == "BTC"
    assert _ccxt_venue(CcxtVenueConfig(type="ccxt", exchange="deribit")).settle == "USDC"
    cfg = {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "accounts": [{"name": "der", "venue": {"type": "ccxt", "exchange": "deribit", "settle": "BTC"}}],
    }
    res = runner.invoke(app, ["guard", write(tmp_path, cfg)])
    assert res.exit_code == 2, res.output
    assert "settle must be USDC for rule set 'deribit'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "g.db").exists()
    with pytest.raises(ConfigError, match="settle"):
        parse_guardian_config(
            {**cfg, "accounts": [{"name": "x", "venue": {"type": "ccxt", "exchange": "okx", "settle": "U SD"}}]}
        )


def test_the_table_shows_left_out_positions_as_unguarded() -> None:
    """A ``partial`` cycle's left-out positions (another wallet's) are rows of their own, beside
    the positions evaluated and in place of the status row of an account with none evaluated."""
    from rich.console import Console

    from levguard.cli.guard import _table

    view = {"symbol": "ETHUSDT", "qty": 1.0, "mark": 3_000.0, "liquidation_price": 2_000.0, "distance": 0.33}
    view |= {"p_liq": 0.01, "leverage": 1.0, "target_leverage": 3.0, "state": "OK", "action": None}
    reports = [
        {
            "account": "a",
            "status": "partial",
            "level": 0,
            "positions": [view],
            "left_out": [{"symbol": "BTC/USDC:USDC", "settle": "USDC"}],
        },
        {
            "account": "b",
            "status": "partial",
            "level": 0,
            "positions": [],
            "left_out": [{"symbol": "BTC-PERPETUAL", "settle": "BTC"}],
        },
    ]
    console = Console(record=True, width=200)
    console.print(_table(reports, "t"))
    text = console.export_text()
    lines = [ln for ln in text.splitlines() if "UNGUARDED" in ln]
    assert len(lines) == 2
    assert "BTC/USDC:USDC" in lines[0]
    assert "left out: settles in USDC" in lines[0]
    assert "BTC-PERPETUAL" in lines[1]
    assert "left out: settles in BTC" in lines[1]
    assert "ETHUSDT" in text
    assert "partial" not in text  # no status row: the left-out rows say it


def test_an_unlisted_position_is_labelled_as_a_market_the_venue_does_not_list() -> None:
    """A position in a market the venue does not list was shown as "left out: settles in unlisted"
    (the marker read as a currency); now "left out: market not listed by the venue"."""
    from rich.console import Console

    from levguard.cli.guard import _table
    from levguard.venues.base import UNLISTED

    reports = [
        {
            "account": "a",
            "status": "partial",
            "positions": [],
            "left_out": [{"symbol": "PEPE-USDT-SWAP", "settle": UNLISTED}],
        }
    ]
    console = Console(record=True, width=200)
    console.print(_table(reports, "t"))
    (line,) = [ln for ln in console.export_text().splitlines() if "UNGUARDED" in ln]
    assert "left out: market not listed by the venue" in line
    assert "settles in" not in line
