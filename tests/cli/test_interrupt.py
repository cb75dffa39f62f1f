"""Ctrl-C is one line (``levguard: interrupted``) and exit status 130, never a traceback.

Found by a review (2026-12-07): a KeyboardInterrupt while the CLI imported a command's modules
(``build_app``'s lazy import) printed a Python traceback; inside a command it exited 130 with
nothing said, and the guardian's paper demo the same.
"""

from __future__ import annotations

import importlib.abc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

import levguard.cli as cli_package
import levguard.cli.main as main


def _raise(*_: Any, **__: Any) -> Any:
    raise KeyboardInterrupt


def _run_entry(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], entry: Any, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["levguard", *args])
    with pytest.raises(SystemExit) as exc:
        entry()
    assert exc.value.code == 130
    err = capsys.readouterr().err
    assert err.strip() == "levguard: interrupted", err
    return err


def test_ctrl_c_during_the_lazy_import_of_a_command(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(main, "build_app", _raise)
    _run_entry(monkeypatch, capsys, main.run, "margin", "--help")


def test_ctrl_c_while_a_command_runs(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as the real app is

    @app.command("margin")
    def margin() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "build_app", lambda only=None: app)
    _run_entry(monkeypatch, capsys, main.run, "margin")


class _Interrupting(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "levguard.cli.main":
            raise KeyboardInterrupt


def test_ctrl_c_while_the_cli_module_is_imported(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    # The console script's entry point (levguard.cli:run) imports levguard.cli.main itself.
    monkeypatch.delitem(sys.modules, "levguard.cli.main")
    monkeypatch.delattr(cli_package, "main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Interrupting(), *sys.meta_path])
    _run_entry(monkeypatch, capsys, cli_package.run, "margin", "--help")


def test_sigint_to_a_running_backtest_is_one_line_and_130(tmp_path: Path) -> None:
    cfg = {
        "data": {"source": "synth", "years": 30, "interval": "1h", "seed": 7},
        "policies": {"fixed": {"type": "fixed", "leverage": 2}},
        "output": {"report": None},
    }
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    code = f"import sys; sys.argv = ['levguard', 'backtest', {str(path)!r}]; from levguard.cli import run; run()"
    env = {**os.environ, "LEVGUARD_DISABLE_NUMBA": "1"}
    # A test run started in the background (nohup ... &, as CI may be) ignores SIGINT, and a child
    # inherits that: Python then installs no Ctrl-C handler and the signal is lost.  The child
    # starts with the default disposition, as from a terminal.
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(6.0)  # past the imports, into the run (30 years of hourly bars, numba off)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert err.strip() == "levguard: interrupted", err
