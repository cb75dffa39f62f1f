"""``levguard serve`` / ``serve-token`` and the guardian config: account names every API route
can reach, the serve banner without the database password, ``serve-token`` refusing an
in-memory store and leaving a non-store SQLite file untouched, ``--name`` only when creating."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.config.guardian import parse_guardian_config
from levguard.errors import ConfigError

runner = CliRunner()


def _cfg(name: str, db: str = "sqlite:///names.db") -> dict[str, Any]:
    return {
        "database": db,
        "accounts": [{"name": name, "venue": {"type": "paper"}}],
    }


@pytest.mark.parametrize(
    "name",
    ["binance/main", "a\\b", ".", "..", "a\nb", "a\x00b", "tab\there", "x" * 201, " padded", "padded ", " "],
)
def test_account_names_the_api_cannot_route_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="an account name must be 1 to 200 printable characters") as err:
        parse_guardian_config(_cfg(name))
    message = str(err.value)
    assert message.startswith("config: accounts[0].name: an account name")
    assert "(was " in message  # the value is named
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("name", ["main", "binance-usdm main", "a.b", "x" * 68, "x" * 200, "Ωmega_1", "a..b"])
def test_ordinary_account_names_pass(name: str) -> None:
    # Up to the store's 200 characters: a 68-character name worked before a 64 limit refused it.
    assert parse_guardian_config(_cfg(name)).accounts[0].name == name


def test_a_slash_name_fails_the_cli_in_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump(_cfg("binance/main", f"sqlite:///{tmp_path / 'g.db'}")))
    res = runner.invoke(app, ["serve", str(cfg)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"levguard: error: {cfg}: accounts[0].name: an account name")
    assert "(was 'binance/main')" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_serve_banner_hides_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # The banner's `more tokens:` line repeated --database as given, password included.  No
    # server is needed: the demo runtime is built in memory and reports the redacted URL the
    # store would (the store's own redaction is tested with the store).
    from sqlalchemy.engine import make_url

    import levguard.cli.serve as serve_cli
    import levguard.service.runtime as runtime_mod

    real = runtime_mod.paper_demo_runtime
    url = "postgresql+psycopg://ops:hunter2@db.example:5432/levguard"

    def fake(database: str, interval_s: float) -> Any:
        assert database == url
        rt = real("sqlite://", interval_s=interval_s)
        rt.store.url_redacted = make_url(url).render_as_string(hide_password=True)
        return rt

    monkeypatch.setattr(runtime_mod, "paper_demo_runtime", fake)
    monkeypatch.setattr(serve_cli, "_run", lambda *a, **k: 0)
    res = runner.invoke(app, ["serve", "--paper-demo", "--port", "0", "--database", url])
    assert res.exit_code == 0, res.output
    assert "hunter2" not in res.output
    more = next(line for line in res.stdout.splitlines() if line.startswith("more tokens:"))
    assert more == (
        "more tokens: levguard serve-token --database postgresql+psycopg://ops:***@db.example:5432/levguard "
        "--name NAME --scope read|admin"
    )


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:x?mode=memory&uri=true",
        "sqlite:///file::memory:?uri=true",
        "sqlite:///file::memory:?cache=shared&uri=true",
        "sqlite:///file:?uri=true",  # a private temporary database, deleted at close
    ],
)
@pytest.mark.parametrize("action", [["--name", "x"], ["--list"], ["--revoke", "1"]])
def test_serve_token_refuses_an_in_memory_store(url: str, action: list[str]) -> None:
    # `--database sqlite:// --name x` printed a token into a store that vanished at exit (exit 0).
    res = runner.invoke(app, ["serve-token", "--database", url, *action])
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        f"levguard: error: {url} is an in-memory store of this command alone: give the service's database"
    ]


@pytest.mark.parametrize("content", [b"", b"not a database at all, just text\n"])
@pytest.mark.parametrize("action", [["--list"], ["--revoke", "1"]])
def test_serve_token_leaves_an_empty_or_foreign_file_untouched(
    tmp_path: Path, content: bytes, action: list[str]
) -> None:
    # An empty file became a 4,096-byte SQLite database when listed.
    db = tmp_path / "e0.db"
    db.write_bytes(content)
    res = runner.invoke(app, ["serve-token", "--database", f"sqlite:///{db}", *action])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        f"levguard: error: sqlite:///{db} is not a levguard store (it has no levguard_alembic_version table)"
    ]
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e0.db"]  # no -wal, -shm or journal left


def test_serve_token_name_only_when_creating(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    assert runner.invoke(app, ["serve-token", "--database", db, "--name", "ops"]).exit_code == 0
    for action in (["--list"], ["--revoke", "1"]):
        res = runner.invoke(app, ["serve-token", "--database", db, *action, "--name", "ops"])
        assert res.exit_code == 2, res.output
        assert res.stderr.strip() == "levguard: error: --name is for creating a token, not with --list or --revoke"
    listed = runner.invoke(app, ["serve-token", "--database", db, "--list"])
    assert listed.exit_code == 0
    assert listed.stdout.split("\t")[2] == "active"  # not revoked by the refused call
    # A second active token of the same name is refused (rate limits and the audit log tell
    # tokens apart; by name they could not).
    res = runner.invoke(app, ["serve-token", "--database", db, "--name", "ops"])
    assert res.exit_code == 2
    assert (
        res.stderr.strip()
        == "levguard: error: an active token is already named 'ops': give another name (or revoke that one)"
    )
