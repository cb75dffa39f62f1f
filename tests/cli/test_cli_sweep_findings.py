"""What a sweep of every command and option with bad values found (2026-12-06), each case failing
before its fix: an output naming one of the command's inputs replaced it (``data resample IN.csv
--out IN.csv`` wrote the 4h bars over the 1h file, ``defi pos.yaml --out pos.yaml`` the report
over the position), options that shape an output nobody asked for were never read, empty strings
read as "not given", and ``warmup --jobs`` with a huge number printed a traceback.  Each must now
exit 2 with one line naming the option, and leave every file as it was.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli._paths import check_outputs
from levguard.cli.main import app
from levguard.data import synth_market
from levguard.data.loaders import save_frame
from levguard.errors import InputError

runner = CliRunner()


def _sample(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(resources.files("levguard.resources").joinpath("samples", name).read_text(encoding="utf-8"))
    return path


def _bars(tmp_path: Path, name: str, seed: int = 1) -> Path:
    path = tmp_path / name
    save_frame(synth_market(years=0.05, seed=seed, interval="1h").ohlcv, str(path))
    return path


def _refused(args: list[str], *needles: str, kept: tuple[Path, ...] = ()) -> None:
    before = {p: p.read_bytes() for p in kept}
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith("levguard: error: "), res.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert {p: p.read_bytes() for p in kept} == before  # nothing written over


def test_check_outputs_refuses_an_output_that_names_an_input(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("x")
    with pytest.raises(InputError, match=r"^--out names the input FILE '.*in\.csv': it would be written over$"):
        check_outputs([("--out", tmp_path / "." / "in.csv")], inputs=[("FILE", src)])
    check_outputs([("--out", tmp_path / "out.csv")], inputs=[("FILE", src), ("--history", None)])  # fine


def test_data_resample_does_not_write_over_its_input(tmp_path: Path) -> None:
    src = _bars(tmp_path, "btc_1h.csv")
    _refused(["data", "resample", str(src), "--interval", "4h", "--out", str(src)], "--out", "FILE", kept=(src,))


def test_data_index_does_not_write_over_a_source(tmp_path: Path) -> None:
    a, b = _bars(tmp_path, "a.csv", 1), _bars(tmp_path, "b.csv", 2)
    _refused(["data", "index", str(a), str(b), "--out", str(b)], "--out", "FILES[1]", kept=(a, b))


def test_defi_report_does_not_write_over_the_position(tmp_path: Path) -> None:
    spec = _sample(tmp_path, "defi_aave.yaml")
    _refused(["defi", str(spec), "--out", str(spec)], "--out", "FILE", kept=(spec,))


def test_risk_report_does_not_write_over_the_account(tmp_path: Path) -> None:
    spec = _sample(tmp_path, "cross_account.yaml")
    _refused(["risk", str(spec), "--vol", "0.6", "--out", str(spec)], "--out", "FILE", kept=(spec,))


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--surface-points", "-5"], "--surface-points"),
        (["--surface-range", "0.3"], "--surface-range"),
        (["--asset-history", "BTC=missing.csv"], "--asset-history"),
    ],
)
def test_risk_refuses_surface_options_without_a_surface(tmp_path: Path, extra: list[str], needle: str) -> None:
    # A plain account with neither --surface nor --out computes no surface: the options were ignored.
    spec = _sample(tmp_path, "cross_account.yaml")
    _refused(["risk", str(spec), "--vol", "0.6", *extra], needle, "needs --surface or --out")


def test_risk_refuses_a_malformed_asset_history_it_would_not_read(tmp_path: Path) -> None:
    spec = _sample(tmp_path, "cross_account.yaml")
    _refused(["risk", str(spec), "--vol", "0.6", "--asset-history", "abc"], "ASSET=FILE", "'abc'")


def test_validate_does_not_write_over_its_bars(tmp_path: Path) -> None:
    bars = _bars(tmp_path, "btc_1h.csv")
    _refused(["validate", "liquidation", str(bars), "--out", str(bars)], "--out", "BARS[0]", kept=(bars,))


@pytest.mark.parametrize(("command", "sample"), [("replay", "replay-2025-10-10.yaml"), ("contagion", "contagion.yaml")])
def test_reports_do_not_write_over_their_config(tmp_path: Path, command: str, sample: str) -> None:
    # Refused before the run (contagion refused a bad --out only after its Monte Carlo).
    cfg = _sample(tmp_path, sample)
    _refused([command, str(cfg), "--out", str(cfg)], "--out", "CONFIG", kept=(cfg,))


def test_backtest_report_does_not_write_over_its_config(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load(_sample(tmp_path, "backtest.yaml").read_text())
    cfg = tmp_path / "config.yaml"
    doc.setdefault("output", {})["report"] = str(cfg)
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    _refused(["backtest", str(cfg)], "output.report", "CONFIG", kept=(cfg,))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["demo", "--data", ""], "--data must not be empty"),
        (["demo", "--data", "d", "--symbol", " "], "--symbol must not be empty"),
        (["data", "check", "x.csv", "--interval", ""], "--interval must not be empty"),
        (["defi", "loop", "x.yaml", "--debt", ""], "--debt must not be empty"),
    ],
)
def test_empty_option_values_are_refused(args: list[str], needle: str) -> None:
    _refused(args, needle)


def test_warmup_refuses_more_processes_than_it_can_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed a traceback (OverflowError from the process pool) and exited 1.
    from levguard.cli.main import run

    monkeypatch.setattr(sys, "argv", ["levguard", "warmup", "--jobs", "99999999999999999999"])
    with pytest.raises(SystemExit) as exit_:
        run()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "--jobs" in err[0], err
    assert "0<=x<=1024" in err[0], err
