"""``levguard warmup`` compiles the kernels through the public functions (issue 15/16)."""

from __future__ import annotations

from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.cli.warmup import WORKLOADS, warm


def test_every_workload_runs_in_process() -> None:
    seconds = warm(1, ["margin+data"])
    assert set(seconds) == {"margin+data"}
    assert seconds["margin+data"] > 0.0


def test_workloads_cover_every_kernel_family() -> None:
    assert set(WORKLOADS) >= {"backtest", "sweep", "cascade", "forecast", "risk", "sizing", "calibrate"}


def test_cli_runs_and_reports_each_workload() -> None:
    result = CliRunner().invoke(app, ["warmup", "--only", "margin+data", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "margin+data" in result.output


def test_unknown_workload_exits_2_with_one_line() -> None:
    result = CliRunner().invoke(app, ["warmup", "--only", "nope"])
    assert result.exit_code == 2
    assert "--only must be one of" in result.output
    assert result.output.count("\n") == 1
