"""The liquidation surface and ladder figures of ``levguard risk --out``: the region where equity is
gone is drawn (not left blank), the hover gives the engine's true values (not the clipped colour)
and the ladder marks every liquidatable move."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from levguard.report.joint_stress import WIPED_OUT, ladder_figure, surface_figure
from levguard.risk.joint import JointStressReport, joint_stress_report

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "levguard" / "resources" / "samples"


def _report(sample: str) -> JointStressReport:
    spec = yaml.safe_load((SAMPLES / f"{sample}.yaml").read_text(encoding="utf-8"))
    return joint_stress_report(spec, assets=("BTC", "ETH"), vol=0.6, horizon_days=30, points=11, move_range=0.8)


def _trace(fig: Any, name: str) -> Any:
    return next(t for t in fig.data if t.name == name)


@pytest.mark.parametrize("sample", ["cross_account", "unified_account"])
def test_the_surface_draws_the_wiped_out_points_and_hovers_true_values(sample: str) -> None:
    # A review (2026-12-07): points with equity <= 0 (MM / equity undefined) were NaN, a blank hole
    # where the account is most liquidated, and the hover read the colour-clipped ratio.
    joint = _report(sample)
    s = joint.surface
    assert s is not None
    wiped = s.equity <= 0.0
    assert wiped.any()
    fig = surface_figure(s, joint.reverse)
    ratio = fig.data[0]
    z = np.asarray(ratio.z, dtype=float)
    assert not np.isnan(z[s.liquidatable]).any()  # no hole where the account is liquidated
    unsafe = 0.0 if s.ratio_rises_when_safer else 2.0 * s.trigger
    assert np.all(z[wiped] == unsafe)  # the unsafe end of the colour range
    # The wiped-out points are their own legend entry, exactly at the grid points with equity <= 0.
    shade = _trace(fig, WIPED_OUT)
    assert shade.showlegend
    drawn = np.asarray(shade.z, dtype=float) == 1.0
    np.testing.assert_array_equal(drawn, wiped)
    # No NaN in any filled trace: plotly.js fails to fill large NaN regions and drew nothing at 401
    # points ("findEmpties iterated with no new neighbors").
    for t in fig.data:
        if getattr(t, "z", None) is not None:
            assert not np.isnan(np.asarray(t.z, dtype=float)).any(), t.name
    np.testing.assert_array_equal(np.asarray(shade.x), 100.0 * s.moves_x)
    np.testing.assert_array_equal(np.asarray(shade.y), 100.0 * s.moves_y)
    # The hover: the engine's ratio (unclipped), equity and maintenance margin at every point.
    text = np.asarray(ratio.text, dtype=object)
    np.testing.assert_array_equal(np.asarray(ratio.customdata), np.stack([s.equity, s.maintenance_margin], axis=-1))
    for j, i in np.ndindex(s.ratio.shape):
        r = s.ratio[j, i]
        value = f"{r:.4g}" if np.isfinite(r) else "undefined"
        if wiped[j, i]:
            assert text[j, i] == f"{value}, {WIPED_OUT}"
        elif s.liquidatable[j, i]:
            assert text[j, i] == f"{value}, liquidatable"
        else:
            assert text[j, i] == value
    top = np.unravel_index(np.nanargmax(s.ratio), s.ratio.shape)
    if s.ratio_rises_when_safer:  # uniMMR far above the colour range: the hover says its value
        assert s.ratio[top] > 4.0 * s.trigger
        assert text[top] == f"{s.ratio[top]:.4g}"
        assert z[top] == pytest.approx(4.0 * s.trigger)
    assert "%{text}" in ratio.hovertemplate
    assert "%{customdata[0]:,.2f}" in ratio.hovertemplate


def test_the_cross_surface_wiped_out_points_are_undefined_not_blank() -> None:
    s = _report("cross_account").surface
    assert s is not None
    wiped = s.equity <= 0.0
    assert np.isnan(s.ratio[wiped]).all()  # MM / equity has no value there: the engine's None
    fig = surface_figure(s)
    text = np.asarray(fig.data[0].text, dtype=object)
    assert set(text[wiped].tolist()) == {f"undefined, {WIPED_OUT}"}


@pytest.mark.parametrize("venue", ["binance-pm", "okx-mcm", "bybit-uta"])
def test_a_safe_point_without_maintenance_margin_is_coloured_safe_not_blank(venue: str) -> None:
    # Balances and a USDT loan, no positions: where equity / MM has no MM (uniMMR, OKX's margin
    # ratio) the ratio is undefined and the account infinitely safe: the safe end of the range.
    spec = {"venue": venue, "balances": {"USDT": -30_000, "BTC": 0.5, "ETH": 5},
            "prices": {"BTC": 60_000, "ETH": 3_000}, "collateral_ratios": {"ETH": 0.9}}  # fmt: skip
    s = joint_stress_report(spec, assets=("BTC", "ETH"), vol=0.6, horizon_days=30, points=11, move_range=0.8).surface
    assert s is not None
    z = np.asarray(surface_figure(s).data[0].z, dtype=float)
    assert not np.isnan(z).any()
    hi = 4.0 * s.trigger if s.ratio_rises_when_safer else 0.0
    safe_undefined = np.isnan(s.ratio) & ~s.liquidatable
    if venue != "bybit-uta":  # MM / equity there: defined wherever equity > 0
        assert safe_undefined.any()
    np.testing.assert_allclose(z[safe_undefined], hi, rtol=1e-6)  # float32 colours


def _deribit() -> JointStressReport:
    spec = {
        "venue": "deribit-pm",
        "currency": "BTC",
        "balances": {"BTC": 1.0},
        "index_price": 65_666.19,
        "as_of": "2024-06-17T10:22:20Z",
        "positions": [
            {"instrument_name": "BTC-PERPETUAL", "size": -150_000, "average_price": 64_000, "mark_price": 65_910.57},
            {"instrument_name": "BTC-28JUN24-70000-C", "size": -1, "vol": 0.55, "underlying_price": 67_371.75},
        ],
    }
    return joint_stress_report(spec, vol=0.6, horizon_days=1, points=21)


def test_the_ladder_marks_every_liquidatable_move() -> None:
    # A review (2026-12-07): the "liquidatable" markers took the ratio as y, NaN where equity <= 0,
    # so plotly drew none of those moves.
    joint = _deribit()
    ladder = joint.ladder
    assert ladder is not None
    assert not ladder.ratio_rises_when_safer  # maintenance margin usage: MM / equity
    wiped = ladder.equity <= 0.0
    assert np.isnan(ladder.ratio[wiped]).all()
    assert wiped.sum() == 4  # +42 % to +60 %
    fig = ladder_figure(ladder, joint.reverse)
    liq, gone = _trace(fig, "liquidatable"), _trace(fig, WIPED_OUT)
    alive = ladder.liquidatable & ~wiped
    np.testing.assert_allclose(np.asarray(liq.x), 100.0 * ladder.moves[alive])
    np.testing.assert_array_equal(np.asarray(liq.y), ladder.ratio[alive])
    np.testing.assert_allclose(np.asarray(gone.x), [42.0, 48.0, 54.0, 60.0])
    top = float(np.nanmax(ladder.ratio))  # 4.77 at +36 %: the worst ratio the plot shows
    np.testing.assert_array_equal(np.asarray(gone.y), [top] * 4)
    assert list(gone.text) == [f"undefined, {WIPED_OUT}"] * 4
    np.testing.assert_array_equal(np.asarray(gone.customdata)[:, 0], ladder.equity[wiped])
    assert [str(t) for t in liq.text] == [f"{r:.4g}, liquidatable" for r in ladder.ratio[alive]]
    line = fig.data[0]
    assert line.text[10] == f"{ladder.ratio[10]:.4g}"  # no move: the ratio now


def test_an_account_without_futures_is_drawn_and_worded_as_bankruptcy(tmp_path: Path) -> None:
    # 30,000 USDC and 6 short USD-settled BTC calls on Deribit: the flagged moves are where the
    # equity reaches 0 (trigger "bankruptcy"); the page said "liquidation surface", "Smallest
    # liquidating joint shock", "liquidated (equity <= 0)" and drew the trigger at ratio 1 while
    # the plotted ratio (no maintenance margin) was 0.
    import copy

    from typer.testing import CliRunner

    from levguard.cli.main import app
    from levguard.report.joint_stress import BANKRUPT, joint_stress_body

    spec: dict[str, Any] = {
        "name": "optonly",
        "venue": "deribit",
        "wallet_balance": 30000,
        "as_of": "2024-06-01T00:00:00Z",
        "options": [
            {"symbol": "BTC-27SEP24-70000-C", "qty": -6, "settlement": "usd", "vol": 0.5, "underlying_price": 61000}
        ],
    }
    j = joint_stress_report(copy.deepcopy(spec), assets=["BTC"], vol=0.6)
    assert j.trigger == "bankruptcy"
    assert j.ladder is not None
    fig = ladder_figure(j.ladder, j.reverse, j.trigger)
    (line,) = [t for t in fig.data if t.mode == "lines"]
    np.testing.assert_allclose(np.asarray(line.y, dtype=float), j.ladder.equity)
    assert fig.layout.shapes[0].y0 == 0.0  # the trigger line: equity 0
    names = {t.name for t in fig.data}
    assert BANKRUPT in names
    assert WIPED_OUT not in names
    body = "".join(joint_stress_body(None, j.reverse, ladder=j.ladder, trigger=j.trigger))
    assert "Smallest bankrupting joint shock" in body
    assert "liquidating" not in body
    assert "Bankruptcy surface and reverse stress" in body
    book = tmp_path / "optonly.yaml"
    book.write_text(yaml.safe_dump(spec), encoding="utf-8")
    page = tmp_path / "optonly.html"
    r = CliRunner().invoke(app, ["risk", str(book), "--vol", "0.6", "--surface", "BTC", "--out", str(page)])
    assert r.exit_code == 0, r.stdout
    text = page.read_text(encoding="utf-8")
    assert "levguard risk: bankruptcy surface" in text
    assert "Smallest bankrupting joint shock" in text
    assert WIPED_OUT not in text
