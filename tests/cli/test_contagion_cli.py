"""``levguard contagion CONFIG.yaml``: the sample ``levguard init`` writes runs (summary, JSON,
HTML, calibration), and bad configs and options are one line on stderr with exit status 2."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app

runner = CliRunner()


def sample() -> dict[str, Any]:
    text = resources.files("levguard.resources").joinpath("samples", "contagion.yaml").read_text(encoding="utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    return raw


def write(tmp_path: Path, raw: dict[str, Any]) -> str:
    p = tmp_path / "contagion.yaml"
    p.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(p)


def small(**over: Any) -> dict[str, Any]:
    raw = sample()
    raw["population"]["accounts"] = 400
    raw["paths"]["n_steps"] = 120
    raw.update(over)
    return raw


def test_init_writes_the_sample_and_it_runs(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    cfg = tmp_path / "contagion.yaml"
    assert cfg.read_text(encoding="utf-8").startswith("# levguard contagion sample")
    res = runner.invoke(app, ["contagion", str(cfg), "--paths", "4"])
    assert res.exit_code == 0, res.output
    for text in ("4 paths, seed 7", "bad debt mean", "P(total bad debt > 2,000)", "Asset -> asset", "Venue -> venue",
                 "hedged owners"):  # fmt: skip
        assert text in res.stdout


def test_json_html_and_calibration(tmp_path: Path) -> None:
    cfg = write(tmp_path, small())
    out = tmp_path / "out" / "contagion.html"
    res = runner.invoke(
        app, ["contagion", cfg, "--paths", "4", "--seed", "11", "--json", "--out", str(out), "--calibrate"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    mc = doc["monte_carlo"]
    assert mc["n_paths"] == 4
    assert mc["seed"] == 11
    assert set(mc["asset_matrix"]) == {"BTC", "ETH"}
    assert set(mc["venue_matrix"]) == {"hl", "binance"}
    assert doc["worst_path"]["pool_to_venue"] is None
    assert len(doc["calibration"]["table"]) == 6
    assert doc["report"] == str(out)
    page = out.read_text(encoding="utf-8")
    for text in ("Contagion: BTC and ETH on hl and binance", "Asset → asset", "Hedged owners", "Calibration",
                 "levguardPlot", "not modelled"):  # fmt: skip
        assert text in page
    # The same seed gives the same numbers.
    again = runner.invoke(app, ["contagion", cfg, "--paths", "4", "--seed", "11", "--json"])
    assert json.loads(again.stdout)["monte_carlo"] == mc


def bad_configs() -> list[tuple[Any, str]]:
    def edit(fn: Any) -> dict[str, Any]:
        raw = small()
        fn(raw)
        return raw

    return [
        (edit(lambda r: r.update(extra=1)), "config: unknown key(s) ['extra']"),
        (edit(lambda r: r.update(assets={"BTC": -1})), "assets.BTC must be finite and > 0, was -1"),
        (edit(lambda r: r["venues"][0]["books"].pop("ETH")), "venues.hl.books must have one book per asset"),
        (edit(lambda r: r["venues"][0].update(rule="ftx")), "venues.hl.regime:"),
        (
            edit(lambda r: r["venues"][1]["books"]["BTC"].update(depth=0)),
            "venues.binance.books.BTC: market.depth must be",
        ),
        (edit(lambda r: r["paths"].update(model="garch")), "paths.model must be factor_jump or bootstrap, was 'garch'"),
        (edit(lambda r: r["paths"]["params"].update(beta=[1.0])), "paths:"),
        (
            edit(lambda r: r["population"]["hedged"][0].update(long_venue="ftx")),
            "population.hedged[0].long_venue must be one of the venues ['hl', 'binance'], was 'ftx'",
        ),
        (edit(lambda r: r["monte_carlo"].update(paths=0)), "monte_carlo.paths must be an integer >= 1, was 0"),
        (edit(lambda r: r["calibrate"].update(grid={"depth": [1]})), "grid: unknown parameter 'depth'"),
        (
            edit(lambda r: r.update(paths={"model": "bootstrap", "data": {"BTC": "nope.csv", "ETH": "nope.csv"}})),
            "paths.data.BTC:",
        ),
        (["not", "a", "mapping"], "the config must be a mapping of sections, was list"),
    ]


@pytest.mark.parametrize(("raw", "message"), bad_configs())
def test_bad_config_is_one_line_exit_2(tmp_path: Path, raw: Any, message: str) -> None:
    cfg = write(tmp_path, raw)
    res = runner.invoke(app, ["contagion", cfg])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.startswith("levguard: error: ")
    assert "\n" not in err
    assert message in err
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--paths", "0"], "--paths must be >= 1, was 0"),
        (["--seed", "-1"], "--seed must be >= 0, was -1"),
        (["--scheduler", "nowhere"], "--scheduler must be 'local', 'none' or an address"),
    ],
)
def test_bad_options_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    cfg = write(tmp_path, small())
    res = runner.invoke(app, ["contagion", cfg, *args])
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert res.stderr.strip().count("\n") == 0


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    res = runner.invoke(app, ["contagion", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2
    assert "cannot read the contagion config" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("assets: [\n", encoding="utf-8")
    res = runner.invoke(app, ["contagion", str(bad)])
    assert res.exit_code == 2
    assert "not valid YAML" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    cfg = write(tmp_path, {k: v for k, v in small().items() if k != "calibrate"})
    res = runner.invoke(app, ["contagion", cfg, "--calibrate"])
    assert res.exit_code == 2
    assert "has no calibrate.grid" in res.stderr


def test_bootstrap_of_the_shared_bars(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
    if not (data / "BTCUSDT-SPOT_1h.csv").exists():
        pytest.skip("../shared/data is absent")
    raw = small(paths={"model": "bootstrap", "n_steps": 24, "seed": 7, "block": 24,
                       "data": {"BTC": str(data / "BTCUSDT-SPOT_1h.csv"), "ETH": str(data / "ETHUSDT-SPOT_1h.csv")}})  # fmt: skip
    res = runner.invoke(app, ["contagion", write(tmp_path, raw), "--paths", "3", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["monte_carlo"]["n_paths"] == 3


def test_bootstrap_of_hourly_beside_daily_bars_is_one_line(tmp_path: Path) -> None:
    # BTC hourly beside ETH daily bars ran (exit 0): the returns were joined on the shared
    # midnights, one daily ETH return beside one hourly BTC return.
    import numpy as np

    from levguard.data.frames import make_ohlcv_frame
    from levguard.data.loaders import save_frame

    files = {}
    for asset, interval, hours in (("BTC", "1h", 1), ("ETH", "1d", 24)):
        ts = np.arange(60, dtype=np.int64) * hours * 3_600_000_000_000 + 1_704_067_200_000_000_000
        c = 100.0 + np.arange(60.0)
        frame = make_ohlcv_frame(ts, c, c, c, c, np.ones(60), symbol=asset, interval=interval, source="test")
        files[asset] = str(save_frame(frame, tmp_path / f"{asset}_{interval}.csv"))
    raw = small(paths={"model": "bootstrap", "n_steps": 24, "seed": 7, "block": 4, "data": files})
    res = runner.invoke(app, ["contagion", write(tmp_path, raw), "--paths", "2"])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert "paths.data: prices['BTC'] has 1h bars but prices['ETH'] has 1d bars" in line, line
    assert "resample" in line


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["arbitrage"].update(speed=None), "arbitrage.speed must be a number, was None"),
        (lambda r: r["arbitrage"].update(speed=10**400), "arbitrage.speed must be a number within float64 range"),
        (lambda r: r["population"]["hedged"][0].update(qty=[1, 2]), "qty must be a number or a list of 3 numbers"),
        (lambda r: r["population"]["hedged"][0].update(long_leverage="abc"), "long_leverage must be a number or"),
        (lambda r: r["population"].update(seed=2**63), "population.seed must be an integer below 2**63"),
        # A review (2026-12-07): 1e11 accounts asked numpy for 745 GiB (a MemoryError traceback).
        (lambda r: r["population"].update(accounts=10**11), "population.accounts must be at most 100,000,000"),
        (lambda r: r["monte_carlo"].update(paths=10**11), "monte_carlo.paths must be at most 10,000,000"),
        (lambda r: r["calibrate"].update(paths=10**11), "calibrate.paths must be at most 10,000,000"),
    ],
)
def test_config_values_of_the_wrong_type_or_size_are_one_line(tmp_path: Path, mutate: Any, needle: str) -> None:
    # Found by a bad-input campaign (2026-12-05): float(None), a list per owner of the wrong
    # length and a 400-digit integer raised TypeError, ValueError or OverflowError.
    raw = small()
    mutate(raw)
    res = runner.invoke(app, ["contagion", write(tmp_path, raw), "--paths", "2"])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert needle in line, line


def test_numpy_warnings_of_extreme_values_do_not_precede_the_error_line(tmp_path: Path) -> None:
    # A real process (the console entry point sets the filter): a notional of 1e308 made NumPy
    # print five "overflow encountered" warnings before the one error line.
    import subprocess
    import sys

    raw = small()
    raw["population"]["notional_median"] = 1e308
    cmd = [sys.executable, "-m", "levguard.cli.main", "contagion", write(tmp_path, raw), "--paths", "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("levguard: error: "), line
    assert "must be finite" in line, line


def test_scheduler_none_runs_in_process_as_cascade_and_calibrate_do(tmp_path: Path) -> None:
    # `--scheduler none` was read as an address ("missing port number"; a CLI audit).
    cfg = write(tmp_path, small())
    res = runner.invoke(app, ["contagion", cfg, "--paths", "2", "--scheduler", "none"])
    assert res.exit_code == 0, res.output
    assert "2 paths" in res.stdout


def test_a_huge_paths_option_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["contagion", write(tmp_path, small()), "--paths", str(10**11)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert "--paths must be at most 10,000,000, was 100,000,000,000" in line, line
