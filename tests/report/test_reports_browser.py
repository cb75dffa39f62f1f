"""The sweep, cascade, validation and replay reports in a real headless browser (Debian's chromium, Playwright).

Each report is built from a small run (a five-configuration sweep on the embedded default market
with two selected results, a 300-step cascade with a 20-path Monte Carlo, a validation on the
embedded synthetic market) and opened at 1,280 x 900 (a laptop) and 390 x 844 (a phone): the page
must not overflow horizontally, plotly must draw every figure from its one embedded copy, nothing
is fetched from the network.  Screenshots go to ``tmp_path``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import CHROMIUM, open_everywhere

from cascade_configs import tiny, write

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="needs playwright"),
]


def test_sweep_report_fits_laptop_and_phone(tmp_path: Path) -> None:
    from levguard.backtest.engine import run
    from levguard.backtest.strategies import BuyAndHold
    from levguard.backtest.sweeps import sweep
    from levguard.core.sizing.base import FixedLeverage
    from levguard.core.sizing.policies import VolatilityTarget
    from levguard.data.default import default_market
    from levguard.data.perp import perp_frame
    from levguard.report.sweep import write_sweep_report

    market = default_market()
    data = perp_frame(market.ohlcv, market.mark, market.funding)  # as `levguard demo` runs it
    data.attrs["symbol"] = "BTCUSDT"
    kw: dict[str, Any] = {"venue": "binance-usdm", "margin_mode": "isolated", "initial_equity": 10_000.0}
    vt = (VolatilityTarget, {"target_vol": [0.3, 0.6], "max_leverage": [2.0, 5.0]})
    table = sweep(data, {"bh": BuyAndHold()}, {"vt": vt, "fixed 10x": FixedLeverage(10.0)}, **kw)
    picks = {"vt 60% 5x": VolatilityTarget(target_vol=0.6, max_leverage=5.0), "fixed 10x": FixedLeverage(10.0)}
    results = {name: run(data, BuyAndHold(), pol, **kw) for name, pol in picks.items()}
    out = write_sweep_report(
        table, tmp_path / "sweep.html", x="max_leverage", y="target_vol", results=results, data=data
    )
    text = out.read_text(encoding="utf-8")
    for section in ("Top 5 configurations", "Key metrics", "Price (log scale)", "Equity and drawdown"):
        assert section in text
    assert "injected crashes" in text  # the default market's crash windows are shaded
    assert text.index("table class='top key'") < text.index("Key metrics")
    open_everywhere(out, tmp_path, None)  # the heatmap leads, then the top table


def test_cascade_report_fits_laptop_and_phone(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from levguard.cli.main import app

    cfg = tiny(tmp_path, output={"report": str(tmp_path / "cascade.html"), "csv": None})
    del cfg["calibrate"]  # the cascade and its Monte Carlo only
    config = write(tmp_path, cfg)
    res = CliRunner().invoke(app, ["cascade", config])
    assert res.exit_code == 0, res.output
    out = tmp_path / "cascade.html"
    text = out.read_text(encoding="utf-8")
    assert text.index("Key numbers") < text.index('class="fig"')
    for row in ("notional liquidated", "bad debt", "insurance fund end", "ADL notional", "max drawdown of the price"):
        assert row in text
    open_everywhere(out, tmp_path, "table.key")


def test_validation_report_fits_laptop_and_phone(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from levguard.cli.main import app

    out = tmp_path / "validation.html"
    res = CliRunner().invoke(app, ["validate", "liquidation", "--out", str(out)])
    assert res.exit_code == 0, res.stdout + res.stderr
    text = out.read_text(encoding="utf-8")
    at = [text.index(s) for s in ("Acceptance on the scored set", "Key scores", "Reliability diagrams", "Per year")]
    assert at == sorted(at)
    open_everywhere(out, tmp_path, "table.checks")


def test_replay_report_fits_laptop_and_phone(tmp_path: Path) -> None:
    # Two synthetic assets (the replay tests' crash klines): prices, flows, fund and depth per asset.
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cascade"))  # the replay tests' helpers
    from test_replay import synthetic_raw

    from levguard.cascade.replay import run_replay
    from levguard.cascade.replay_config import config_from_dict
    from levguard.report.replay import write_replay_report

    cfg = config_from_dict(synthetic_raw(tmp_path), tmp_path)
    out = write_replay_report(run_replay(cfg), tmp_path / "replay.html")
    text = out.read_text(encoding="utf-8")
    for title in ("exogenous and venue price", "insurance fund", "book depth"):
        assert title in text
    open_everywhere(out, tmp_path, None)


def test_a_large_surface_page_is_packed_and_draws(tmp_path: Path) -> None:
    # A 401-point surface page was 9.8 MB, most of it the figure's JSON (a hover text, equity and
    # maintenance margin at every grid point); a figure that large is now embedded gzipped like
    # plotly.js and unpacked by the page before it is drawn.
    from typer.testing import CliRunner

    from levguard.cli.main import app
    from levguard.report.embed import PACK_FIGURE_ABOVE

    sample = Path(__file__).resolve().parents[2] / "src" / "levguard" / "resources" / "samples" / "unified_account.yaml"
    out = tmp_path / "surface.html"
    args = ["risk", str(sample), "--vol", "0.6", "--surface", "BTC,ETH", "--surface-points", "201", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stdout + res.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count("window.levguardUnpack('") == 1  # the surface's figure is packed
    assert len(text) < 2 * PACK_FIGURE_ABOVE + 2_100_000  # plotly.js (2.0 MB) and the packed figure
    open_everywhere(out, tmp_path, None)
