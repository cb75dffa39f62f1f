"""A relative SQLite ``database`` is beside the config file, whatever the working directory:
``levguard guard`` started from two directories, ``guard-enable`` and ``serve-token`` find one store."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.config.guardian import load_guardian_file, sqlite_beside
from levguard.live.store import Store

runner = CliRunner()


def _config(folder: Path, database: str | None) -> Path:
    cfg = {
        "alerts": {"log": False},
        "accounts": [
            {
                "name": "paper-btc",
                "venue": {
                    "type": "paper",
                    "positions": [{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0}],
                    "crash": {"start": 60_000.0, "drop": 0.3, "ticks": 30, "flat": 2, "tail": 5},
                },
                "vol": 0.8,
            }
        ],
    }
    if database is not None:
        cfg["database"] = database
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "guard.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.parametrize(("database", "file"), [(None, "levguard-guard.db"), ("sqlite:///data/g.db", "data/g.db")])
def test_one_store_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str | None, file: str
) -> None:
    etc = tmp_path / "etc"
    path = _config(etc, database)
    (etc / "data").mkdir()
    for cwd in ("one", "two"):
        (tmp_path / cwd).mkdir()
        monkeypatch.chdir(tmp_path / cwd)
        res = runner.invoke(app, ["guard", str(path), "--max-cycles", "1", "--json"])
        assert res.exit_code == 0, res.output
    # Was: one levguard-guard.db in each working directory (the second run had an empty journal).
    assert sorted(p.name for p in tmp_path.rglob("*.db")) == [Path(file).name]
    assert (etc / file).is_file()
    assert load_guardian_file(path).database == f"sqlite:///{etc / file}"
    store = Store(f"sqlite:///{etc / file}", create=False)
    store.set_disabled("paper-btc", "authentication failed: HTTP 401", 1)
    monkeypatch.chdir(tmp_path)  # a third directory: the same store
    res = runner.invoke(app, ["guard-enable", "etc/guard.yaml", "paper-btc"])
    assert res.exit_code == 0, res.output
    assert store.account("paper-btc")["disabled_reason"] is None  # type: ignore[index]
    res = runner.invoke(app, ["serve-token", "etc/guard.yaml", "--list"])
    assert res.exit_code == 0, res.output
    assert not list(tmp_path.glob("*.db"))


def test_only_a_relative_sqlite_file_moves(tmp_path: Path) -> None:
    assert sqlite_beside("sqlite:///g.db?timeout=3", tmp_path) == f"sqlite:///{tmp_path}/g.db?timeout=3"
    assert sqlite_beside("sqlite:///../g.db", tmp_path) == f"sqlite:///{tmp_path.parent}/g.db"
    assert Store(sqlite_beside("sqlite:///file:g.db?uri=true", tmp_path)).account("x") is None
    assert (tmp_path / "g.db").is_file()
    for kept in ("sqlite:////srv/g.db", "postgresql+psycopg://u:pw@h/db", "sqlite:///file:/srv/g.db?uri=true"):
        assert sqlite_beside(kept, tmp_path) == kept


def test_a_plain_name_in_uri_mode_moves_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # URI mode reads a name without "file:" as a plain file name: it stayed relative to the cwd.
    cfg_dir, cwd = tmp_path / "cfg", tmp_path / "cwd"
    cfg_dir.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    url = sqlite_beside("sqlite:///u.db?uri=true", cfg_dir)
    assert url == f"sqlite:///{cfg_dir}/u.db?uri=true"
    Store(url).close()
    assert (cfg_dir / "u.db").is_file()
    assert not list(cwd.iterdir())
