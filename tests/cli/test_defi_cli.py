"""``levguard defi`` and ``levguard defi loop``: tables, JSON, one-line errors with exit 2, and the
shell lines of docs/defi.md run as written after ``levguard init``."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app, build_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "src" / "levguard" / "resources" / "samples"
AAVE = str(SAMPLES / "defi_aave.yaml")
MORPHO = str(SAMPLES / "defi_morpho.yaml")
runner = CliRunner()


def test_table_shows_health_and_liquidation_prices() -> None:
    res = runner.invoke(app, ["defi", AAVE])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "Aave v3 3.3 position: ETH and BTC against USDC" in out
    assert "1,398.09" in out
    assert "-53.40%" in out
    assert "25,900.11" in out  # WBTC's
    assert "health factor 1.3800" in out
    assert "ok" in out


def test_target_and_joint_tables() -> None:
    res = runner.invoke(app, ["defi", AAVE, "--target-hf", "1.5", "--joint", "WETH,WBTC", "--points", "3"])
    assert res.exit_code == 0, res.output
    assert "To reach health factor 1.5" in res.stdout
    assert "2,800.000000" in res.stdout  # USDC to repay
    assert "Joint liquidation boundary" in res.stdout


def test_explicit_position_subcommand_and_stdin() -> None:
    explicit = runner.invoke(app, ["defi", "position", MORPHO, "--json"])
    assert explicit.exit_code == 0, explicit.output
    piped = runner.invoke(app, ["defi", "-", "--json"], input=Path(MORPHO).read_text(encoding="utf-8"))
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout) == json.loads(explicit.stdout)


def test_json_is_the_report() -> None:
    from levguard.defi.analytics import position_report

    res = runner.invoke(app, ["defi", MORPHO, "--json", "--target-hf", "1.1"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads(json.dumps(position_report(MORPHO, target_hf=1.1).to_dict()))
    assert data["protocol"] == "morpho-blue"
    assert data["assets"][0]["liquidation"]["price"] == 952_380_952_380_952_381 * 10**18


def test_joint_in_json() -> None:
    res = runner.invoke(app, ["defi", AAVE, "--json", "--joint", "WETH,WBTC", "--points", "2"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["joint_boundary"]["x_prices"]) == 2


def test_loop_table_and_json() -> None:
    res = runner.invoke(app, ["defi", "loop", AAVE])  # the sample's loop: section, 4 steps
    assert res.exit_code == 0, res.output
    assert "Leverage loop: WETH collateral, USDC debt" in res.stdout
    assert "stopped: 4 steps done" in res.stdout
    js = runner.invoke(app, ["defi", "loop", MORPHO, "--target-leverage", "6", "--json"])
    assert js.exit_code == 0, js.output
    data = json.loads(js.stdout)
    assert data["reached_target"] is True
    assert data["leverage"] == pytest.approx(6, rel=1e-9)
    assert data["stop_reason"] == "target leverage reached"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["defi", "missing.yaml"], "does not exist"),
        (["defi", AAVE, "--target-hf", "0"], "target_hf must be > 0"),
        (["defi", AAVE, "--joint", "WETH"], "--joint takes two collaterals"),
        (["defi", MORPHO, "--joint", "a,b"], "aave-v3 position"),
        (["defi", "loop", AAVE, "--steps", "0"], "steps must be an integer"),
        (["defi", "loop", AAVE, "--collateral", "DAI"], "symbol 'DAI' is not among"),
        (["defi", "loop", MORPHO, "--swap-fee", "1"], "swap_fee must be in [0, 1)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("levguard: error: ")
    assert res.stderr.count("\n") == 1
    assert message in res.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("protocol: aave-v3\nreserves:\n  - {symbol: WETH, price_usd: 1, decimals: 18, ltv: 0.80005, lt: 0.9}\n",
         "reserves[0].ltv must be whole basis points"),
        ("protocol: morpho-blue\nlltv: 0.86\ncollateral: 1\ncollateral_decimals: 18\nloan_decimals: 6\n"
         "borrow: 0.0000001\ncollateral_price: 1\n", "borrow must have at most 6 decimals"),
        ("- 1\n", "must be a mapping"),
        ("protocol: maker\n", "protocol must be one of"),
    ],
)  # fmt: skip
def test_bad_spec_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    res = runner.invoke(app, ["defi", str(path)])
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert res.stderr.count("\n") == 1


def test_console_script_exits_2_with_one_line(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("levguard")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "levguard.cli.main"]
    done = subprocess.run([*argv, "defi", str(tmp_path / "none.yaml")], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("levguard: error: ")
    assert done.stderr.count("\n") == 1
    assert done.stdout == ""


def test_help_lists_both_commands() -> None:
    res = runner.invoke(build_app("defi"), ["defi", "--help"])
    assert res.exit_code == 0
    assert "position" in res.stdout
    assert "loop" in res.stdout


def doc_commands() -> list[str]:
    text = (ROOT / "docs" / "defi.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_docs_shell_lines_run_after_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shell line of docs/defi.md runs as written in a folder ``levguard init`` prepared."""
    commands = doc_commands()
    assert len(commands) >= 6
    assert all(c.startswith("levguard defi ") for c in commands)
    init = runner.invoke(app, ["init", str(tmp_path)])
    assert init.exit_code == 0, init.output
    monkeypatch.chdir(tmp_path)
    for command in commands:
        res = runner.invoke(app, shlex.split(command)[1:])
        assert res.exit_code == 0, (command, res.output)
