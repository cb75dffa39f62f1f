"""`levguard cascade` and `levguard calibrate` end to end on a tiny config."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cascade_configs import tiny, write
from levguard.cli.main import app
from levguard.config.cascade import CALIBRATION_PARAMS, load_cascade_file

runner = CliRunner()


def test_cascade_writes_report_csv_and_json(tmp_path: Path) -> None:
    res = runner.invoke(app, ["cascade", write(tmp_path, tiny(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "liquidated notional" in res.stdout
    assert "P(bad debt >" in res.stdout
    steps = pd.read_csv(tmp_path / "c.csv")
    assert len(steps) == 301
    assert {"step", "price", "exogenous", "mark", "liquidated_notional", "insurance_fund", "bad_debt"} <= set(steps)
    assert len(pd.read_csv(tmp_path / "p.csv")) == 20
    assert "kind" in pd.read_csv(tmp_path / "e.csv").columns
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["accounts"] > 0
    assert doc["monte_carlo"]["n_paths"] == 20
    html = (tmp_path / "c.html").read_text()
    assert "Price with the cascade" in html
    assert "Bad debt per path" in html
    assert "P(bad debt &gt; K)" in html


def test_cascade_json_on_stdout_matches_the_summary(tmp_path: Path) -> None:
    cfg = tiny(tmp_path, output={"report": None, "csv": None})
    cfg.pop("monte_carlo")
    res = runner.invoke(app, ["cascade", write(tmp_path, cfg), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["monte_carlo"] is None
    assert doc["report"] is None
    assert doc["csv"] is None
    s = doc["summary"]
    assert s["liquidated_notional"] >= 0
    assert s["accounts_liquidated"] >= 0
    assert s["fund_min"] <= 5.0e4 + 1e-6


def test_calibrate_on_a_2x2_grid(tmp_path: Path) -> None:
    cfg = tiny(tmp_path)
    cfg["calibrate"]["max_safe"] = {"parameter": "max_leverage", "lo": 5, "hi": 100, "tolerance": 0.2}
    res = runner.invoke(app, ["calibrate", write(tmp_path, cfg), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    table = pd.read_csv(tmp_path / "cal.csv")
    assert len(table) == 4
    assert doc["parameter_sets"] == 4
    assert {"mmr", "max_leverage", "p_bad_debt_over_budget", "safe", "best"} <= set(table.columns)
    assert table["best"].sum() == (1 if table["safe"].any() else 0)
    assert doc["max_safe"]["parameter"] == "max_leverage"
    assert doc["max_safe"]["steps"]
    html = (tmp_path / "cal.html").read_text()
    assert "Frontier" in html
    assert "Largest safe cap" in html
    assert json.loads((tmp_path / "cal.json").read_text())["parameter_sets"] == 4


def test_calibrate_prints_the_safe_sets(tmp_path: Path) -> None:
    res = runner.invoke(app, ["calibrate", write(tmp_path, tiny(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "Safe parameter sets" in res.stdout
    assert "Calibration report" in res.stdout


def test_sample_config_is_valid() -> None:
    sample = resources.files("levguard.resources").joinpath("samples", "cascade.yaml")
    cfg = load_cascade_file(str(sample))
    assert cfg.monte_carlo is not None
    assert cfg.calibrate is not None


def test_calibration_params_match_the_engine() -> None:
    from levguard.cascade import simulator as engine

    engine_params = set(engine._REGIME_PARAMS) | set(engine._VENUE_PARAMS) | set(engine._MARKET_PARAMS)
    assert set(CALIBRATION_PARAMS) == engine_params
    for key, section in CALIBRATION_PARAMS.items():
        group = {"regime": engine._REGIME_PARAMS, "venue": engine._VENUE_PARAMS, "market": engine._MARKET_PARAMS}
        assert key in group[section]


def test_default_scheduler_is_a_local_cluster_with_identical_results(tmp_path: Path) -> None:

    cfg = tiny(tmp_path)
    del cfg["scheduler"]
    cfg["output"] = {"report": None, "csv": None}
    assert load_cascade_file(write(tmp_path, cfg)).scheduler == "local"
    on_dask = runner.invoke(app, ["cascade", write(tmp_path, cfg), "--json"])
    here = runner.invoke(app, ["cascade", write(tmp_path, cfg), "--json", "--scheduler", "none"])
    assert on_dask.exit_code == 0, on_dask.output
    assert here.exit_code == 0, here.output
    assert json.loads(on_dask.stdout)["monte_carlo"] == json.loads(here.stdout)["monte_carlo"]


def test_regime_takes_a_venue_liquidation_rule(tmp_path: Path) -> None:
    # `liquidation: hyperliquid` sets the book outcome, no fee, 20 % slices above 100k and the 2/3
    # backstop (levguard.core.liquidation_outcome); fields written in the file win.
    from levguard.cascade.simulator import MarginRegime
    from levguard.config.cascade import regime_kwargs

    cfg = tiny(tmp_path, regime={"kind": "static", "mmr": 0.0125, "liquidation": "hyperliquid", "backstop": 0.5})
    kwargs = regime_kwargs(load_cascade_file(write(tmp_path, cfg)))
    regime = MarginRegime(**kwargs)
    assert (regime.outcome, regime.partial, regime.partial_min_notional) == ("book", 0.2, 100_000.0)
    assert regime.liquidation_fee == 0.0
    assert regime.backstop == 0.5
    cfg["output"] = {"report": None, "csv": None}
    res = runner.invoke(app, ["cascade", write(tmp_path, cfg), "--json"])
    assert res.exit_code == 0, res.output
    bad = tiny(tmp_path, regime={"liquidation": "nowhere"})
    res = runner.invoke(app, ["cascade", write(tmp_path, bad)])
    assert res.exit_code == 2
    assert "liquidation" in res.stderr


def test_regime_takes_a_venue_step_down_rule_and_the_file_wins(tmp_path: Path) -> None:
    # `liquidation: bitmex` steps once below the next risk limit; a written `step_mode` wins.
    from levguard.cascade.simulator import MarginRegime
    from levguard.config.cascade import regime_kwargs

    cfg = tiny(tmp_path, regime={"kind": "static", "liquidation": "bitmex"})
    regime = MarginRegime(**regime_kwargs(load_cascade_file(write(tmp_path, cfg))))
    assert (regime.partial, regime.step_from, regime.step_to, regime.step_mode) == ("tier", 1, -1, "once")
    cfg = tiny(tmp_path, regime={"kind": "static", "liquidation": "bitmex", "step_mode": "until_safe"})
    assert MarginRegime(**regime_kwargs(load_cascade_file(write(tmp_path, cfg)))).step_mode == "until_safe"
    bad = tiny(tmp_path, regime={"partial": "tier", "step_mode": "twice"})
    res = runner.invoke(app, ["cascade", write(tmp_path, bad)])
    assert res.exit_code == 2
    assert "step_mode" in res.stderr


def test_a_word_partial_rule_runs_and_its_report_says_which(tmp_path: Path) -> None:
    # `regime.partial: tier` or `restore` crashed after the run ("Unknown format code 'g' for
    # object of type 'str'") and wrote no report (an audit).  The report names the rule the run
    # used, a venue's step rule resolved.
    for regime, said in (
        ({"kind": "static", "partial": "tier", "liquidation": "bybit-linear"}, "partial tier until_safe"),
        ({"kind": "static", "partial": "restore"}, "partial restore"),
    ):
        cfg = tiny(tmp_path, regime=regime, monte_carlo=None)
        res = runner.invoke(app, ["cascade", write(tmp_path, cfg)])
        assert res.exit_code == 0, res.output
        assert said in (tmp_path / "c.html").read_text()
