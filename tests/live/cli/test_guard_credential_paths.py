"""A relative ``secrets_file`` (ccxt) or ``key_file`` (on-chain) is beside the config file, as the
SQLite ``database`` is, whatever the working directory (it was read relative to the working
directory: the same config started elsewhere failed with "No such file")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from levguard.config.guardian import load_guardian_file, load_secrets
from levguard.venues.onchain import LocalSigner

KEY = "0x" + "11" * 32


def _config(etc: Path, secrets_file: str, key_file: str) -> Path:
    cfg = {
        "accounts": [
            {
                "name": "binance",
                "venue": {"type": "ccxt", "exchange": "binanceusdm", "secrets_file": secrets_file},
            },
            {
                "name": "aave",
                "venue": {
                    "type": "onchain",
                    "protocol": "aave-v3",
                    "rpc_url": "http://127.0.0.1:1",
                    "wallet": "0x" + "22" * 20,
                    "pool": "0x" + "33" * 20,
                    "key_file": key_file,
                },
            },
            {"name": "paper", "venue": {"type": "paper", "positions": []}},
        ],
    }
    path = etc / "guard.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)


def test_relative_credential_files_are_beside_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    _secret(etc / "keys" / "binance.yaml", "api_key: k\nsecret: s\n")
    _secret(etc / "keys" / "guard.key", KEY)
    path = _config(etc, "keys/binance.yaml", "keys/guard.key")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_guardian_file(path)
    ccxt, onchain = cfg.accounts[0].venue, cfg.accounts[1].venue
    assert ccxt.secrets_file == str(etc / "keys" / "binance.yaml")  # type: ignore[union-attr]
    assert load_secrets(ccxt).api_key.get_secret_value() == "k"  # type: ignore[arg-type, union-attr]
    assert onchain.key_file == str(etc / "keys" / "guard.key")  # type: ignore[union-attr]
    assert LocalSigner.from_file(onchain.key_file).address.startswith("0x")  # type: ignore[arg-type, union-attr]


def test_absolute_credential_files_are_kept(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    secrets, key = tmp_path / "s.yaml", tmp_path / "k.key"
    path = _config(etc, str(secrets), str(key))
    cfg = load_guardian_file(path)
    assert cfg.accounts[0].venue.secrets_file == str(secrets)  # type: ignore[union-attr]
    assert cfg.accounts[1].venue.key_file == str(key)  # type: ignore[union-attr]
