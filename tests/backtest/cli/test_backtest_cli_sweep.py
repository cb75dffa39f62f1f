"""`levguard backtest CONFIG.yaml` with a `sweep:` section: the sweep end to end from a config."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.config.backtest import load_backtest_file

runner = CliRunner()

SYNTH = {"source": "synth", "years": 0.1, "interval": "1h", "seed": 7}


def _config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    sweep: dict[str, Any] = {
        "strategies": {"ema": {"type": "ema_crossover", "grid": {"fast": [10, 20], "slow": [100, 200]}}},
        "policies": {
            "vt": {"type": "vol_target", "max_leverage": 5, "grid": {"target_vol": [0.3, 0.6, 0.9]}},
            "fixed": {"type": "fixed", "leverage": 3},
        },
        "grid": {"stop_loss": [0.0, 0.05]},
        "objective": "sharpe",
        "constraints": {"n_liquidations": 0},
        "x": "target_vol",
        "y": "stop_loss",
        "facet": "fast",
        "output": {"report": str(tmp_path / "sweep.html"), "csv": str(tmp_path / "sweep.csv")},
    }
    sweep.update(overrides)
    return {"data": SYNTH, "sweep": sweep}


def _invoke(tmp_path: Path, cfg: dict[str, Any], *args: str) -> Any:
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return runner.invoke(app, ["backtest", str(path), *args])


def test_sweep_writes_csv_report_and_prints_the_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no `policies`: no comparison report may appear here
    res = _invoke(tmp_path, _config(tmp_path))
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert len(table) == 4 * (3 + 1) * 2  # ema grid x (vt grid + fixed) x stop_loss
    assert list(table.columns[:6]) == ["strategy", "policy", "fast", "slow", "target_vol", "stop_loss"]
    assert {"sharpe", "max_drawdown", "n_liquidations", "max_leverage_used"} <= set(table.columns)
    assert set(table["strategy"]) == {"ema"}
    assert set(table["policy"]) == {"vt", "fixed"}
    assert table.loc[table["policy"] == "fixed", "target_vol"].isna().all()
    assert sorted(table.loc[table["policy"] == "vt", "target_vol"].unique()) == [0.3, 0.6, 0.9]
    html = (tmp_path / "sweep.html").read_text()
    assert '"type":"heatmap"' in html
    assert "configurations by Sharpe" in html
    assert "Top 10 of 32 configurations by Sharpe" in res.stdout
    assert "Best under constraints: n_liquidations <= 0" in res.stdout
    assert not (tmp_path / "backtest.html").exists()


def test_sweep_json_with_policies_runs_both(tmp_path: Path) -> None:
    cfg = _config(tmp_path, output={"report": None, "csv": None}, constraints={}, facet=None)
    del cfg["sweep"]["strategies"]
    cfg["strategy"] = {"type": "ts_momentum", "lookback": 48}
    cfg["policies"] = {"fixed 2x": {"type": "fixed", "leverage": 2}}
    cfg["output"] = {"report": None}
    res = _invoke(tmp_path, cfg, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc["metrics"]) == {"fixed 2x"}
    sweep = doc["sweep"]
    assert sweep["configurations"] == len(sweep["table"]) == (3 + 1) * 2
    assert sweep["report"] is None
    assert sweep["csv"] is None
    first = sweep["table"][0]
    assert first["strategy"] == "ts_momentum"  # the config's strategy, named by its type
    assert {"policy", "target_vol", "stop_loss", "sharpe"} <= set(first)
    best = sweep["best"]
    assert best["sharpe"] == max(r["sharpe"] for r in sweep["table"])
    assert not (tmp_path / "sweep.csv").exists()


def test_infeasible_constraints_are_a_note_not_an_error(tmp_path: Path) -> None:
    cfg = _config(tmp_path, constraints={"max_drawdown": -1.0}, output={"report": None, "csv": None})
    res = _invoke(tmp_path, cfg, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["sweep"]["best"] is None
    assert "no configuration meets the constraints" in doc["sweep"]["note"]


def test_a_lower_is_better_objective_picks_the_lowest(tmp_path: Path) -> None:
    # objective: max_drawdown printed a ruined 50x run (100 % drawdown) as "Best".
    policies = {"fx": {"type": "fixed", "grid": {"leverage": [1, 3, 50]}}}
    kw: dict[str, Any] = {"strategies": {"hold": {"type": "buy_and_hold"}}, "policies": policies, "facet": None}
    kw.update(
        objective="max_drawdown", constraints={"bad_debt": 1e9}, x="leverage", output={"report": None, "csv": None}
    )
    res = _invoke(tmp_path, _config(tmp_path, **kw), "--json")
    assert res.exit_code == 0, res.output
    sweep = json.loads(res.stdout)["sweep"]
    assert sweep["direction"] == "min"
    assert sweep["best"]["max_drawdown"] == min(r["max_drawdown"] for r in sweep["table"])
    assert sweep["best"]["n_liquidations"] == 0
    res = _invoke(tmp_path, _config(tmp_path, **kw))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    first = next(line for line in lines if line.startswith("│ 1 "))
    assert "│        1 │" in first  # 1x, stop 0.05 at the top
    kw["direction"] = "max"
    sweep = json.loads(_invoke(tmp_path, _config(tmp_path, **kw), "--json").stdout)["sweep"]
    assert sweep["direction"] == "max"
    # The deepest drawdown of a run that was not ruined: ruined runs come after every other.
    alive = [r["max_drawdown"] for r in sweep["table"] if not r["ruined"]]
    assert sweep["best"]["max_drawdown"] == max(alive) < max(r["max_drawdown"] for r in sweep["table"])


def test_sample_sweep_config_runs(tmp_path: Path) -> None:
    sample = resources.files("levguard.resources").joinpath("samples", "backtest_sweep.yaml")
    cfg = yaml.safe_load(sample.read_text(encoding="utf-8"))
    path = tmp_path / "sample.yaml"
    path.write_text(sample.read_text(encoding="utf-8"))
    assert load_backtest_file(path).sweep is not None  # valid as shipped
    cfg["data"] = SYNTH
    cfg["sweep"]["output"] = {"report": str(tmp_path / "s.html"), "csv": str(tmp_path / "s.csv")}
    res = _invoke(tmp_path, cfg)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s.html").exists()
    assert len(pd.read_csv(tmp_path / "s.csv")) == (3 * 2 + 1) * (3 + 1) * 3


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"policies": {"vt": {"type": "vol_target", "grid": {"target_vl": [0.3]}}}},
            "sweep.policies.vt.grid.target_vl: not a field of policy type 'vol_target'",
        ),
        (
            {"policies": {"vt": {"type": "vol_target", "grid": {"target_vol": [0.3, -0.5]}}}},
            "sweep.policies.vt.grid.target_vol[1]: must be greater than 0 (was -0.5)",
        ),
        (
            {"strategies": {"ema": {"type": "ema_crossover", "grid": {"fast": ["ten"]}}}},
            "sweep.strategies.ema.grid.fast[0]: must be a valid integer",
        ),
        (
            {"strategies": {"ema": {"type": "ema_crossover", "fst": 10, "grid": {"slow": [100]}}}},
            "sweep.strategies.ema.fst: unknown key (check the spelling)",
        ),
        (
            {"policies": {"vt": {"type": "vol_target", "target_vol": 0.5, "grid": {"target_vol": [0.3]}}}},
            "sweep.policies.vt.grid.target_vol: given both as a fixed field and in the grid",
        ),
        ({"policies": {"vt": {"type": "vol_targt"}}}, "sweep.policies.vt.type: unknown policy type"),
        ({"x": "leverage"}, "sweep.x: not a column of the sweep table (was 'leverage'); use one of fast, slow"),
        ({"facet": "lookback"}, "sweep.facet: not a column of the sweep table"),
        ({"y": "target_vol"}, "sweep.y: must differ from sweep.x (both were 'target_vol')"),
        ({"x": None}, "sweep.x: missing key (the heatmap of sweep.output.report needs x and y"),
        ({"scheduler": "dask"}, "sweep.scheduler: must be null, 'local' or a Dask scheduler address"),
        ({"grid": {"stop_los": [0.1]}}, "sweep.grid.stop_los: not a run setting; sweepable: band"),
        ({"grid": {"stop_loss": 0.1}}, "sweep.grid.stop_loss: must be a valid list (was 0.1)"),
        (
            {"grid": {"stop_loss": [0.0], "cooldown_bars": [10**20]}},
            "sweep.grid.cooldown_bars[0]: cooldown_bars must be an integer",
        ),
        ({"grid": {"stop_loss": [0.0], "band": [0.0, 2.0]}}, "sweep.grid.band[1]: band must be in [0, 1), was 2.0"),
        (
            {"grid": {"stop_loss": [0.0], "impact": [100]}},
            "sweep.grid.impact[0]: slippage: impact coefficient must be in [0, 10]",
        ),
        ({"objective": "sharp"}, "sweep.objective: not a metric (was 'sharp')"),
        ({"direction": "lowest"}, "sweep.direction: must be 'max' or 'min' (was 'lowest')"),
        ({"constraints": {"drawdown": 0.3}}, "sweep.constraints.drawdown: not a metric"),
    ],
)
def test_bad_sweep_config_is_one_line_and_exit_2(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    cfg = _config(tmp_path, **change)
    cfg["data"] = {"source": "file", "path": str(tmp_path / "missing.csv")}  # checked before any data is read
    res = _invoke(tmp_path, cfg)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("levguard: error: ")
    assert expected in lines[0], lines[0]


def test_a_rebalancer_grid_under_rebalance_never_is_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path, grid={"stop_loss": [0.0], "band": [0.0, 0.3]})
    cfg["rebalance"] = "never"
    cfg["data"] = {"source": "file", "path": str(tmp_path / "missing.csv")}  # refused before the data
    res = _invoke(tmp_path, cfg)
    assert res.exit_code == 2, res.output
    assert "sweep.grid.band: has no effect with rebalance: never" in res.stderr


def test_prefixed_columns_are_suggested_for_clashing_grid_keys(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        strategies={"mom": {"type": "ts_momentum", "grid": {"lookback": [24, 48]}}},
        policies={"vt": {"type": "vol_target", "target_vol": 0.5, "grid": {"lookback": [24, 48]}}},
        x="lookback",
        facet=None,
    )
    res = _invoke(tmp_path, cfg)
    assert res.exit_code == 2
    assert "use one of strategy_lookback, policy_lookback, stop_loss, strategy, policy" in res.stderr
    cfg["sweep"]["x"] = "policy_lookback"
    res = _invoke(tmp_path, cfg, "--json")
    assert res.exit_code == 0, res.output
    assert {"strategy_lookback", "policy_lookback"} <= set(json.loads(res.stdout)["sweep"]["table"][0])


def test_bad_value_at_build_time_names_the_entry(tmp_path: Path) -> None:
    cfg = _config(tmp_path, strategies={"ema": {"type": "ema_crossover", "grid": {"fast": [10, 300]}}})
    res = _invoke(tmp_path, cfg)
    assert res.exit_code == 2
    assert "sweep.strategies.ema with {'fast': 300}: fast must be < slow" in res.stderr


def test_a_file_needs_policies_or_a_sweep(tmp_path: Path) -> None:
    res = _invoke(tmp_path, {"data": SYNTH, "strategy": {"type": "buy_and_hold"}})
    assert res.exit_code == 2
    assert "policies: missing key (give `policies`, a `sweep:` section, or both)" in res.stderr
    res = _invoke(tmp_path, {"data": SYNTH, "sweep": {"x": "policy"}})
    assert res.exit_code == 2
    assert "sweep.policies: missing key" in res.stderr


def test_every_grid_combination_is_built_before_the_data_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A policy a grid value makes unbuildable stopped the sweep midway; it is refused up front.
    import levguard.data.perp as perp

    def never(spec: Any) -> Any:
        raise AssertionError("the data was read")

    monkeypatch.setattr(perp, "load_perp_spec", never)
    regime = {"type": "regime", "policies": {"calm": {"type": "fixed", "leverage": 2}}, "grid": {"lookback": [20, 40]}}
    cfg = _config(tmp_path, policies={"fixed": {"type": "fixed", "leverage": 3}, "reg": regime})
    cfg["sweep"].update(x="lookback", y="stop_loss", facet=None)
    res = _invoke(tmp_path, cfg)
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert "sweep.policies.reg with {'lookback': 20}: " in line, line
    assert "policies must include 'stress'" in line, line


def test_json_table_round_trips_the_csv_exactly(tmp_path: Path) -> None:
    # --json printed the table through DataFrame.to_json, rounded to 10 decimals.
    res = _invoke(tmp_path, _config(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)["sweep"]
    csv = pd.read_csv(tmp_path / "sweep.csv", float_precision="round_trip")
    assert len(doc["table"]) == len(csv)
    for row, (_, expected) in zip(doc["table"], csv.iterrows(), strict=True):
        for col in ("sharpe", "total_return", "max_drawdown", "volatility"):
            assert row[col] == expected[col] or (row[col] is None and pd.isna(expected[col])), col
    assert doc["best"]["sharpe"] in set(csv["sharpe"])
