"""``levguard warmup`` compiles the kernels through the public functions (issue 15/16)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.cli.warmup import GROUPS, WORKLOADS, tasks, warm
from levguard.errors import InputError
from levguard.kernels import NUMBA_DISABLED


def test_every_workload_runs_in_process() -> None:
    seconds = warm(1, ["margin+data"])
    assert set(seconds) == {"margin+data"}
    assert seconds["margin+data"] > 0.0


def test_workloads_cover_every_kernel_family() -> None:
    assert set(WORKLOADS) >= {"backtest", "sweep", "cascade", "forecast", "risk", "sizing", "calibrate"}


def test_groups_hold_every_workload_once() -> None:
    flat = [name for group in GROUPS for name in group]
    assert sorted(flat) == sorted(WORKLOADS)
    assert len(flat) == len(set(flat))


def test_tasks_keep_groups_together_while_there_are_enough_to_fill_the_processes() -> None:
    everything = list(WORKLOADS)
    assert tasks(2, everything) == list(GROUPS)
    # One group selected, or more processes than groups: one workload a task, so no core waits.
    assert tasks(2, ["backtest", "risk"]) == [("backtest",), ("risk",)]
    assert tasks(len(GROUPS) + 1, everything) == [(n,) for n in everything]
    # Apart (the benchmark's baseline): one workload a task whatever the groups.
    assert tasks(2, everything, grouped=False) == [(n,) for n in everything]
    # Every selected workload is in exactly one task, in any case.
    for jobs in (1, 2, 3, 8):
        for chosen in (everything, ["market", "risk"], ["sweep"], ["cascade", "backtest", "defi"]):
            flat = [n for t in tasks(jobs, chosen) for n in t]
            assert sorted(flat) == sorted(chosen)


@given(
    chosen=st.lists(st.sampled_from(sorted(WORKLOADS)), min_size=1, unique=True),
    jobs=st.integers(1, 12),
    grouped=st.booleans(),
)
def test_tasks_partition_the_chosen_workloads(chosen: list[str], jobs: int, grouped: bool) -> None:
    # Every chosen workload runs exactly once, in one task, and no task is empty or mixes groups.
    out = tasks(jobs, chosen, grouped)
    flat = [n for t in out for n in t]
    assert sorted(flat) == sorted(chosen)
    assert all(t for t in out)
    group_of = {n: i for i, g in enumerate(GROUPS) for n in g}
    assert all(len({group_of[n] for n in t}) == 1 for t in out)


def test_warm_in_a_pool_reports_every_workload() -> None:
    seconds = warm(2, ["defi", "margin+data"])
    assert set(seconds) == {"defi", "margin+data"}


def test_a_failing_workload_does_not_keep_the_rest_of_its_group_from_compiling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []

    def fails() -> None:
        ran.append("sweep")
        raise RuntimeError("boom")

    group = GROUPS[-1]
    assert group[0] == "sweep"
    monkeypatch.setattr("levguard.cli.warmup.WORKLOADS", {**WORKLOADS, **dict.fromkeys(group, lambda: None)})
    import levguard.cli.warmup as w

    w.WORKLOADS["sweep"] = fails
    for name in group[1:]:
        w.WORKLOADS[name] = lambda name=name: ran.append(name)  # type: ignore[misc]
    with pytest.raises(RuntimeError, match="boom"):
        warm(1, list(group))
    assert ran == list(group)


def test_warm_names_an_unknown_workload() -> None:
    with pytest.raises(InputError, match="'nope'"):
        warm(1, ["risk", "nope"])
    with pytest.raises(InputError, match="the string 'risk'"):
        warm(1, "risk")  # type: ignore[arg-type]
    assert tasks(2, ["risk", "risk"]) == [("risk",)]


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


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: the plain-Python twins would take minutes")
@pytest.mark.parametrize("name", ["backtest", "sweep", "cascade"])
def test_the_workloads_make_test_runs_before_pytest_still_run(name: str) -> None:
    # `make test` runs `levguard warmup` before pytest: a workload the library now refuses (the
    # backtest's two-symbol run on one BTCUSDT frame) fails the whole run before any test.
    WORKLOADS[name]()
