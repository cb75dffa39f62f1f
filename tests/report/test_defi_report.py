"""The ``levguard defi --out`` page (levguard.report.defi): its sections and numbers, and, in Debian's
chromium, that it fits a laptop and a phone, draws its figure and fetches nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_helpers import CHROMIUM, open_everywhere

from levguard.defi.analytics import position_report
from levguard.defi.risk import health_curves, position_risk
from levguard.defi.stress import stress_position
from levguard.errors import InputError
from levguard.report.defi import defi_report_body, health_figure, write_defi_report

ROOT = Path(__file__).resolve().parents[2]
AAVE = ROOT / "src" / "levguard" / "resources" / "samples" / "defi_aave.yaml"


def _bars(seed: int, start: float) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=24 * 60, freq="1h", tz="UTC")
    close = start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.006, idx.size)))
    return pd.DataFrame({"high": close * 1.002, "low": close * 0.998, "close": close}, index=idx)


def documents() -> tuple[dict, list[dict], dict, list[dict]]:  # type: ignore[type-arg]
    bars = {"WETH": _bars(1, 3_000.0), "WBTC": _bars(2, 60_000.0)}
    return (
        position_report(AAVE).to_dict(),
        [c.to_dict() for c in health_curves(AAVE)],
        position_risk(AAVE, bars, (1, 7)).to_dict(),
        [s.to_dict() for s in stress_position(AAVE)],
    )


def test_page_holds_every_section_key_table_first(tmp_path: Path) -> None:
    position, curves, risk, stress = documents()
    out = write_defi_report(tmp_path / "defi.html", position, curves, risk, stress)
    text = out.read_text(encoding="utf-8")
    assert "<title>levguard defi: Aave v3 3.3 position: ETH and BTC against USDC</title>" in text
    order = ["table class='key'", "Assets and liquidation prices", "P(HF &lt; 1)", "Stress scenarios", 'class="fig"']
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    for number in ("1.3800", "1,398.0900", "25,900.1104", "-53.40 %", "(WETH + WBTC) / USDC", "eth-crash-40", "1.0954"):
        assert number in text, number
    assert text.count("atob(") == 1
    assert "https://" not in text.split("<script>")[0]


def test_figure_has_one_line_and_one_liquidation_marker_per_collateral() -> None:
    _, curves, _, _ = documents()
    fig = health_figure(curves)
    lines = [t for t in fig.data if t.mode == "lines"]
    markers = [t for t in fig.data if t.mode == "markers"]
    assert [t.name for t in lines] == ["WETH price", "WBTC price"]
    assert markers[0].x[0] == pytest.approx(-53.40, abs=0.01)
    assert markers[0].y[0] == 1.0
    assert list(lines[0].y) == pytest.approx(curves[0]["health_factors"])


def test_no_debt_reads_infinity_and_sections_are_optional(tmp_path: Path) -> None:
    spec = {"protocol": "morpho-blue", "lltv": 0.86, "collateral": 1, "borrow": 0, "collateral_price": 3000,
            "collateral_decimals": 18, "loan_decimals": 6}  # fmt: skip
    out = write_defi_report(tmp_path / "free.html", position_report(spec).to_dict())
    text = out.read_text(encoding="utf-8")
    assert "health factor ∞" in text
    assert "P(HF" not in text
    assert 'class="fig"' not in text
    with pytest.raises(InputError, match="PositionReport"):
        defi_report_body({"protocol": "aave-v3"})


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="needs playwright")
def test_defi_report_fits_laptop_and_phone(tmp_path: Path) -> None:
    out = write_defi_report(tmp_path / "defi.html", *documents())
    open_everywhere(out, tmp_path, "table.key")
