"""``levguard warmup`` compiles the kernels through the public functions (issue 15/16)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.cli.warmup import WORKLOADS, warm
from levguard.kernels import NUMBA_DISABLED


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


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: nothing is compiled")
def test_workloads_compile_the_path_kernels() -> None:
    # Kernels that only tests used to compile: the workloads reach them through public functions.
    from levguard.kernels import margin, oracle, policy_eval, sizing, sizing_venue, vol

    warm(1, ["sizing", "risk", "calibrate", "margin+data"])
    kernels: tuple[Any, ...] = (
        sizing.cppi_path_nb,
        sizing.drawdown_path_nb,
        sizing.ewma_mean_path_nb,
        sizing.rebalance_path_nb,
        sizing.rolling_mean_path_nb,
        sizing.rolling_std_path_nb,
        sizing_venue.hmm_forward_nb,
        sizing_venue.quantile_regime_path_nb,
        sizing_venue.regime_select_path_nb,
        sizing_venue.liquidation_budget_path_nb,
        vol.garch_filter_nb,
        vol.rolling_mean_nb,
        vol.rolling_var_nb,
        oracle.aggregate_series_nb,
        oracle.mark_series_nb,
        oracle.moving_average_basis_nb,
        policy_eval.equity_path_nb,
        margin.isolated_linear_multi_nb,
    )
    missing = [k.__name__ for k in kernels if not k.signatures]
    assert not missing, missing
    # Plain writable arrays (what the tests and most callers pass), not only read-only frame views.
    c1 = "Array(float64, 1, 'C', False, aligned=True)"
    basis: Any = oracle.moving_average_basis_nb
    assert any(str(s).startswith(f"({c1}, {c1}, int64") for s in basis.signatures)
