"""The README's shell block runs verbatim after ``levguard init`` in an empty folder (issue 16).

Every line of every ```sh block in README.md is run as written, in one temporary folder, in the
order given for ``levguard init`` (it writes the files the others read) and two at a time after
it. Each must exit 0; the commands that need the internet may instead exit 2 with one line on
stderr when the machine is offline (CI has no network).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
NEEDS_NETWORK = ("levguard data download",)


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def _levguard() -> str:
    exe = Path(sys.executable).with_name("levguard")
    return str(exe) if exe.exists() else "levguard"


def _run(command: str, cwd: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
    argv = shlex.split(command)
    assert argv[0] == "levguard", command
    done = subprocess.run([_levguard(), *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=600)
    return command, done


def test_the_block_starts_with_init_and_uses_only_levguard() -> None:
    commands = readme_commands()
    assert commands[0] == "levguard init"
    assert len(commands) >= 20
    assert all(c.startswith("levguard ") for c in commands)


def test_every_readme_command_runs_verbatim(tmp_path: Path) -> None:
    commands = readme_commands()
    _, init = _run(commands[0], tmp_path)
    assert init.returncode == 0, init.stderr
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: _run(c, tmp_path), commands[1:]))
    failures = []
    for command, done in results:
        if done.returncode == 0:
            continue
        offline = (
            command.startswith(NEEDS_NETWORK)
            and done.returncode == 2
            and done.stderr.startswith("levguard: error: ")
            and done.stderr.count("\n") == 1
        )
        if not offline:
            failures.append(f"{command}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    assert not failures, "\n".join(failures)
    for written in ("levguard-demo.html", "backtest.html", "sweep.html", "v.html", "index.parquet", "btc.parquet"):
        assert (tmp_path / written).stat().st_size > 0, written


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from levguard.cli.main import app

    runner = CliRunner()
    first = runner.invoke(app, ["init", str(tmp_path)])
    assert first.exit_code == 0, first.output
    (tmp_path / "account.yaml").write_text("# mine\n")
    again = runner.invoke(app, ["init", str(tmp_path)])
    assert again.exit_code == 2
    assert "nothing was written" in again.output
    assert (tmp_path / "account.yaml").read_text() == "# mine\n"
    forced = runner.invoke(app, ["init", str(tmp_path), "--force"])
    assert forced.exit_code == 0
    assert (tmp_path / "account.yaml").read_text().startswith("# A cross-margined")


@pytest.mark.parametrize("name", ["account.yaml", "book.yaml", "backtest.yaml", "sweep.yaml", "guard.yaml"])
def test_init_samples_are_commented(name: str) -> None:
    from importlib import resources

    from levguard.cli.init import _PACKAGED_AS, SAMPLES

    assert name in SAMPLES
    packaged = resources.files("levguard.resources").joinpath("samples", _PACKAGED_AS.get(name, name))
    assert packaged.read_text(encoding="utf-8").startswith("#")
