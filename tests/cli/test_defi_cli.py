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
    assert "2,800.000001" in res.stdout  # USDC to repay (a unit for the burn's rounding, the index unknown)
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
        (["defi", AAVE, "--joint", "WETH,USDC"], "y_symbol 'USDC' is not a collateral of the account"),
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


# --- P(HF < 1), stress and the HTML report (levguard.defi.risk, levguard.defi.stress) -----------------


def bars_csv(tmp_path: Path, name: str = "eth_1h.csv", seed: int = 1, hours: int = 24 * 90) -> str:
    import numpy as np
    import pandas as pd

    idx = pd.date_range("2024-01-01", periods=hours, freq="1h", tz="UTC")
    rng = np.random.default_rng(seed)
    close = 3_000 * np.exp(np.cumsum(rng.normal(0, 0.006, hours)))
    opens = np.concatenate(([close[0]], close[:-1]))
    frame = pd.DataFrame(
        {"open": opens, "high": np.maximum(opens, close) * 1.002, "low": np.minimum(opens, close) * 0.998,
         "close": close, "volume": 1.0},
        index=pd.Index(idx.strftime("%Y-%m-%dT%H:%M:%SZ"), name="timestamp"),
    )  # fmt: skip
    path = tmp_path / name
    frame.to_csv(path)
    return str(path)


def test_bars_add_p_hf_below_1_to_table_and_json(tmp_path: Path) -> None:
    from levguard.defi.risk import position_risk

    eth, btc = bars_csv(tmp_path), bars_csv(tmp_path, "btc_1h.csv", seed=2)
    args = ["defi", AAVE, "--bars", f"WETH={eth}", "--bars", f"WBTC={btc}", "--horizon", "1", "--horizon", "7"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "P(HF < 1)" in res.stdout
    assert "(WETH + WBTC) / USDC" in res.stdout
    js = runner.invoke(app, [*args, "--json"])
    assert js.exit_code == 0, js.output
    data = json.loads(js.stdout)
    expected = position_risk(AAVE, {"WETH": eth, "WBTC": btc}, (1, 7))
    assert data["risk"] == json.loads(json.dumps(expected.to_dict()))
    assert [h["horizon_days"] for h in data["risk"]["probabilities"]] == [1.0, 7.0]
    assert data["health_factor"] == 1.38  # the position report is still all there


def test_stress_table_and_json() -> None:
    res = runner.invoke(app, ["defi", AAVE, "--stress"])
    assert res.exit_code == 0, res.output
    assert "Stress scenarios" in res.stdout
    assert "eth-crash-40" in res.stdout
    assert "1.0954" in res.stdout  # HF after ETH -40 % (WBTC holds it up)
    js = runner.invoke(app, ["defi", MORPHO, "--stress", "--json"])
    assert js.exit_code == 0, js.output
    stress = json.loads(js.stdout)["stress"]
    assert [s["scenario"] for s in stress] == ["steth-depeg-2022-06", "usdc-depeg-2023-03", "wsteth-capo-2026-03",
                                               "eth-crash-40"]  # fmt: skip
    assert stress[0]["health_factor_after"] == pytest.approx(1.239 * 0.935, rel=1e-9)


def test_out_writes_a_self_contained_report(tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    eth = bars_csv(tmp_path)
    res = runner.invoke(app, ["defi", MORPHO, "--bars", f"wstETH={eth}", "--bars", f"WETH={eth}", "--stress",
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.stdout.replace("\n", "")
    text = out.read_text(encoding="utf-8")
    assert text.count("atob(") == 1  # plotly.js embedded once
    for part in ("P(HF &lt; 1)", "Stress scenarios", "wstETH / WETH", "steth-depeg-2022-06", "Health factor against"):
        assert part in text
    assert text.index("table class='key'") < text.index('class="fig"')
    js = runner.invoke(app, ["defi", MORPHO, "--json", "--out", str(tmp_path / "quiet.html")])
    assert js.exit_code == 0
    assert (tmp_path / "quiet.html").exists()
    json.loads(js.stdout)  # --json prints only the JSON


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bars", "WETH"], "--bars takes ASSET=FILE"),
        (["--horizon", "1"], "--horizon needs --bars"),
        (["--bars", "WETH=missing.csv"], "missing.csv"),
        (["--bars", "WETH={eth}"], "bars for WBTC are needed"),
        (["--bars", "WETH={eth}", "--bars", "WBTC={eth}", "--horizon", "40"], "horizon"),
        (["--bars", "WETH={eth}", "--bars", "WBTC={eth}", "--model", "garch"], "model must be one of"),
        (["--bars", "WETH={eth}", "--bars", "WBTC={eth}", "--high-low", "wide"], "high_low must be one of"),
    ],
)
def test_bad_risk_input_is_one_line_and_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    eth = bars_csv(tmp_path)
    res = runner.invoke(app, ["defi", AAVE, *(e.replace("{eth}", eth) for e in extra)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("levguard: error: ")
    assert res.stderr.count("\n") == 1
    assert message in res.stderr


def test_debt_without_collateral_prints_no_inf(tmp_path: Path) -> None:
    # Found by a bad-input campaign (2026-12-05): "LTV inf%" for a position with debt and no collateral.
    spec = tmp_path / "no_collateral.yaml"
    spec.write_text(
        Path(MORPHO).read_text(encoding="utf-8").replace("collateral: 10", "collateral: 0"), encoding="utf-8"
    )
    res = runner.invoke(app, ["defi", "position", str(spec)])
    assert res.exit_code == 0, res.output
    assert "LTV — (debt without collateral)" in " ".join(res.stdout.split())
    assert "inf%" not in res.stdout


def test_a_refused_borrow_states_the_health_factor_as_a_number(tmp_path: Path) -> None:
    # 1e9 USDC of debt: the borrow note gave the contract's wad ("health factor 48300000000000")
    # beside a summary of 0.0000 (a CLI audit); it now reads 4.83e-05, the wad in brackets.
    big = tmp_path / "big.yaml"
    big.write_text(
        Path(AAVE).read_text(encoding="utf-8").replace("debt: 35000}", "debt: 1000000000}"), encoding="utf-8"
    )
    res = runner.invoke(app, ["defi", str(big)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "health factor 4.83e-05 (48300000000000 wad)" in text
