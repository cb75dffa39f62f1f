"""A command's output files are checked together before it runs, and written whole or not at all.

Found by a bad-input campaign (2026-12-05): with ``output.json`` a directory, ``levguard backtest``
exited 2 but had already replaced ``backtest.html``; ``data synth`` replaced OUT before finding
its mark file's place taken; ``cascade`` did the same to ``cascade.html``.
"""

from __future__ import annotations

import errno
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli._paths import check_outputs
from levguard.cli.main import app
from levguard.errors import InputError
from levguard.report.html import write_page

runner = CliRunner()
PRECIOUS = "a previous run's report\n"


def _sample(name: str) -> dict[str, Any]:
    text = resources.files("levguard.resources").joinpath("samples", name).read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def _run(tmp_path: Path, command: str, cfg: dict[str, Any]) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return runner.invoke(app, [command, str(path)])


def _one_error_line(res: Any) -> str:
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith("levguard: error: ")
    return lines[0]


def test_check_outputs_refuses_what_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match=r"^output\.json: cannot write '.*a_dir': it is a directory$"):
        check_outputs([("output.report", tmp_path / "r.html"), ("output.json", tmp_path / "a_dir")])
    with pytest.raises(InputError, match=r"^output\.csv: cannot write '.*a_file/x\.csv': '.*a_file' is a file"):
        check_outputs([("output.csv", tmp_path / "a_file" / "x.csv")])
    with pytest.raises(InputError, match=r"^output\.csv and output\.json name the same file"):
        check_outputs([("output.csv", tmp_path / "same"), ("output.json", tmp_path / "." / "same")])
    os.symlink(tmp_path / "target.csv", tmp_path / "link.csv")
    with pytest.raises(InputError, match=r"^output\.csv and output\.events_csv name the same file"):
        check_outputs([("output.csv", tmp_path / "target.csv"), ("output.events_csv", tmp_path / "link.csv")])
    with pytest.raises(InputError, match=r"^output\.csv: cannot write"):
        check_outputs([("output.csv", tmp_path / ("x" * 300))])  # a name longer than the file system allows
    # Outputs not asked for are skipped; missing folders are created by the writers.
    check_outputs([("output.report", None), ("output.csv", ""), ("output.json", tmp_path / "new" / "deep" / "a.json")])
    assert not (tmp_path / "new").exists()  # checking writes nothing


def test_backtest_keeps_its_report_when_output_json_cannot_be_written(tmp_path: Path) -> None:
    report = tmp_path / "backtest.html"
    report.write_text(PRECIOUS)
    (tmp_path / "metrics.json").mkdir()
    cfg = _sample("backtest.yaml")
    cfg["data"] = {"source": "synth", "years": 0.1, "interval": "1h", "seed": 7}
    cfg["output"] = {"report": str(report), "json": str(tmp_path / "metrics.json")}
    line = _one_error_line(_run(tmp_path, "backtest", cfg))
    assert line.endswith("output.json: cannot write '" + str(tmp_path / "metrics.json") + "': it is a directory")
    assert report.read_text() == PRECIOUS


def test_cascade_keeps_its_report_when_output_csv_cannot_be_written(tmp_path: Path) -> None:
    report = tmp_path / "cascade.html"
    report.write_text(PRECIOUS)
    (tmp_path / "cascade.csv").mkdir()
    cfg = _sample("cascade.yaml")
    cfg["output"] = {"report": str(report), "csv": str(tmp_path / "cascade.csv")}
    line = _one_error_line(_run(tmp_path, "cascade", cfg))
    assert "output.csv: cannot write" in line
    assert line.endswith("it is a directory")
    assert report.read_text() == PRECIOUS


def test_data_synth_keeps_every_file_when_a_sibling_cannot_be_written(tmp_path: Path) -> None:
    out = tmp_path / "keep.csv"
    out.write_text(PRECIOUS)
    (tmp_path / "keep.mark.csv").mkdir()
    line = _one_error_line(runner.invoke(app, ["data", "synth", "--years", "0.01", str(out)]))
    assert "OUT's mark file: cannot write" in line
    assert out.read_text() == PRECIOUS
    (tmp_path / "keep.mark.csv").rmdir()
    res = runner.invoke(app, ["data", "synth", "--years", "0.01", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv", "keep.funding.csv", "keep.mark.csv"]


def test_data_synth_writes_all_three_files_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import levguard.cli.data_synth as data_synth

    out = tmp_path / "keep.csv"
    for name in ("keep.csv", "keep.mark.csv", "keep.funding.csv"):
        (tmp_path / name).write_text(PRECIOUS)
    written: list[Path] = []
    real_write = data_synth._write

    def full_disk_on_the_third(frame: Any, path: Path) -> None:
        written.append(path)
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(frame, path)

    monkeypatch.setattr(data_synth, "_write", full_disk_on_the_third)
    line = _one_error_line(runner.invoke(app, ["data", "synth", "--years", "0.01", str(out)]))
    assert line == f"levguard: error: cannot write {str(tmp_path / 'keep.funding.csv')!r}: No space left on device"
    for name in ("keep.csv", "keep.mark.csv", "keep.funding.csv"):
        assert (tmp_path / name).read_text() == PRECIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv", "keep.funding.csv", "keep.mark.csv"]


def test_a_report_that_fails_to_write_leaves_the_previous_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "report.html"
    out.write_text(PRECIOUS)
    real = Path.write_text

    def full_disk(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        real(self, data[: len(data) // 2], *args, **kwargs)  # a part is written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(InputError, match=r"cannot write the report .*: No space left on device"):
        write_page(out, "title", "", ["<p>body</p>"])
    monkeypatch.undo()
    assert out.read_text() == PRECIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    write_page(out, "title", "", ["<p>body</p>"])
    assert "<p>body</p>" in out.read_text()


def test_a_report_is_written_through_a_link_and_keeps_its_mode(tmp_path: Path) -> None:
    # The review of the fixes: the temporary file replaced the link itself (the linked report
    # went stale) and a 0640 report became 0644.
    site = tmp_path / "site"
    site.mkdir()
    target = site / "report.html"
    target.write_text(PRECIOUS)
    target.chmod(0o640)
    link = tmp_path / "link.html"
    link.symlink_to(target)
    write_page(link, "title", "", ["<p>body</p>"])
    assert link.is_symlink()
    assert "<p>body</p>" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in site.iterdir()) == ["report.html"]


def test_backtest_creates_the_folder_of_output_json(tmp_path: Path) -> None:
    # The review of the fixes: the check let a missing folder pass (writers create them), but the
    # backtest's JSON writer did not create it, and failed after replacing the report.
    cfg = _sample("backtest.yaml")
    cfg["data"] = {"source": "synth", "years": 0.05, "interval": "1h", "seed": 7}
    cfg["policies"] = dict(list(cfg["policies"].items())[:1])
    cfg["output"] = {"report": str(tmp_path / "backtest.html"), "json": str(tmp_path / "new" / "metrics.json")}
    res = _run(tmp_path, "backtest", cfg)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "new" / "metrics.json").is_file()


def test_init_force_writes_every_sample_or_none(tmp_path: Path) -> None:
    # The review of the fixes: `init --force` wrote its samples one by one, so a sample whose place
    # was taken (here a folder) failed after the earlier ones had been replaced.
    first = runner.invoke(app, ["init", str(tmp_path)])
    assert first.exit_code == 0, first.output
    (tmp_path / "account.yaml").write_text("# mine\n")
    (tmp_path / "tiers.json").unlink()
    (tmp_path / "tiers.json").mkdir()
    line = _one_error_line(runner.invoke(app, ["init", str(tmp_path), "--force"]))
    assert line.endswith("tiers.json': it is a directory")
    assert (tmp_path / "account.yaml").read_text() == "# mine\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".levguard-")]


def _bars(path: Path, symbol: str = "BTCUSDT") -> Path:
    import numpy as np

    from levguard.data.frames import make_ohlcv_frame
    from levguard.data.loaders import save_frame

    ts = np.arange(60, dtype=np.int64) * 3_600_000_000_000 + 1_704_067_200_000_000_000
    c = 100.0 + np.sin(np.arange(60.0))
    frame = make_ohlcv_frame(ts, c, c + 1, c - 1, c, np.ones(60), symbol=symbol, interval="1h", source="test")
    return Path(save_frame(frame, path))


@pytest.mark.parametrize("key", ["path", "mark"])
@pytest.mark.parametrize("output", ["json", "report"])
def test_backtest_refuses_an_output_over_a_data_file_it_reads(tmp_path: Path, key: str, output: str) -> None:
    # output.json: bars.csv replaced the bars the backtest had read with its metrics (exit 0).
    bars, mark = _bars(tmp_path / "bars.csv"), _bars(tmp_path / "mark.csv")
    before = {p: p.read_bytes() for p in (bars, mark)}
    cfg = _sample("backtest.yaml")
    cfg["data"] = {"source": "file", "path": str(bars), "mark": str(mark)}
    target = {"path": bars, "mark": mark}[key]
    cfg["output"] = {"report": None, "json": None, output: str(target)}
    line = _one_error_line(_run(tmp_path, "backtest", cfg))
    assert line.endswith(f"output.{output} names the input data.{key} '{target}': it would be written over"), line
    assert {p: p.read_bytes() for p in (bars, mark)} == before


def test_cascade_refuses_an_output_over_its_path_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("price\n" + "\n".join(str(60000 - 10 * i) for i in range(50)) + "\n")
    before = prices.read_bytes()
    cfg = _sample("cascade.yaml")
    cfg["population"] = {"distribution": {"n": 200, "price": 60000, "seed": 1, "total_notional": 2.0e6}}
    cfg["paths"] = {"model": "user", "file": str(prices)}
    cfg.pop("monte_carlo")
    cfg["output"] = {"report": None, "csv": None, "events_csv": str(prices)}
    line = _one_error_line(_run(tmp_path, "cascade", cfg))
    assert line.endswith(f"output.events_csv names the input paths.file '{prices}': it would be written over"), line
    assert prices.read_bytes() == before


def test_contagion_refuses_out_over_a_bootstrap_bar_file(tmp_path: Path) -> None:
    from levguard.cli import contagion

    files = {a: _bars(tmp_path / f"{a}.csv", a) for a in ("BTC", "ETH")}
    before = files["ETH"].read_bytes()
    raw = yaml.safe_load(resources.files("levguard.resources").joinpath("samples", "contagion.yaml").read_text())
    raw["population"]["accounts"] = 100
    raw["paths"] = {
        "model": "bootstrap",
        "n_steps": 24,
        "seed": 7,
        "block": 4,
        "data": {"BTC": "BTC.csv", "ETH": "ETH.csv"},
    }
    config = tmp_path / "contagion.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert contagion._inputs(str(config))[2] == ("paths.data.ETH", str(files["ETH"]))
    res = runner.invoke(app, ["contagion", str(config), "--paths", "2", "--out", str(files["ETH"])])
    line = _one_error_line(res)
    assert line.endswith(f"--out names the input paths.data.ETH '{files['ETH']}': it would be written over"), line
    assert files["ETH"].read_bytes() == before


@pytest.mark.parametrize("where", ["a_dir", "a_file/report.html"])
def test_demo_checks_out_before_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    # A review (2026-12-07): `demo --out DIR` ran the whole demo, then failed to write the report.
    import levguard.cli.main as main

    def never() -> Any:
        raise AssertionError("the demo ran")

    monkeypatch.setattr(main, "_market_summary", never)
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text(PRECIOUS)
    out = tmp_path / where
    line = _one_error_line(runner.invoke(app, ["demo", "--out", str(out)]))
    assert f"--out: cannot write '{out}': " in line, line
    assert (tmp_path / "a_file").read_text() == PRECIOUS


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_demo_refuses_an_unwritable_folder_before_it_runs(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = _one_error_line(runner.invoke(app, ["demo", "--out", str(folder / "r.html")]))
    finally:
        folder.chmod(0o700)
    assert "is not writable" in line, line


def test_backtest_and_sweep_reports_keep_their_own_subtitles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With policies: and sweep: the backtest report's writer read `sub` when it ran, after the sweep's
    # subtitle ("2 configurations on ...") had replaced it.
    from types import SimpleNamespace

    import pandas as pd

    from levguard.cli.backtest import SweepOutcome, _writes

    seen: dict[str, str] = {}
    monkeypatch.setattr("levguard.report.html.write_report", lambda *a, subtitle, **k: seen.update(report=subtitle))
    monkeypatch.setattr(
        "levguard.report.sweep.write_sweep_report", lambda *a, subtitle, **k: seen.update(sweep=subtitle)
    )
    sweep = SimpleNamespace(x="leverage", y="strategy", objective="sharpe", direction=None, facet=None)
    cfg = SimpleNamespace(
        symbol="BTCUSDT",
        venue="binance-usdm",
        margin_mode="isolated",
        policies={"fixed 2x": object()},
        strategy=SimpleNamespace(type="buy_and_hold"),
        output=SimpleNamespace(report=str(tmp_path / "both.html"), json_path=None),
        sweep=sweep,
    )
    swept = SweepOutcome(pd.DataFrame({"sharpe": [1.0, 2.0]}), None, None, tmp_path / "sweep.html", None)
    for _, _, write in _writes(cfg, "both.yaml", None, {}, swept):
        write(tmp_path / "x")
    assert seen == {
        "report": "buy_and_hold on BTCUSDT (binance-usdm, isolated)",
        "sweep": "2 configurations on BTCUSDT (binance-usdm, isolated)",
    }
