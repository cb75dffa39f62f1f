"""Scenario sweeps of a unified account on the engine path (COIN-M positions): totals against full reports.

Run: ``.venv/bin/python bench/bench_unified_scenarios.py [--grid 61] [--repeats 5]``.  One thread,
both sides.  The account is docs/unified.md's COIN-M example (binance-pm: USDT and BTC, a BTCUSDT
short, an ETHUSDT long and a BTCUSD_PERP long), which the compiled scenario kernel refuses, so
every scenario is an engine evaluation.  Side by side in the same run, medians of ``--repeats``:

- a ``--grid`` x ``--grid`` liquidation surface of BTC and ETH moves (``scenario_values``): each
  scenario through ``unified_margin_totals`` (what the sweeps call) against the baseline, the full
  ``evaluate_unified`` report per scenario (what they called before: it also searches every
  position's liquidation and bankruptcy price);
- a reverse stress with 72 directions and 40 radii (``reverse_stress``), the same two ways.

Both sides must give the same floats; the run stops if they do not.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import numpy as np

from _util import cpu_model, load_test_module
from levguard.core.risk import joint_stress_pm
from levguard.core.risk.joint_stress import covariance_from_vols, reverse_stress, scenario_values
from levguard.core.unified import unified_account_from_spec


def _account() -> Any:
    # docs/unified.md's COIN-M account as tests/core/unified/test_joint_stress_pm.py builds it
    # (``coin_m(btc=0.06)``, the account its reverse-stress test pins), loaded from there.
    return unified_account_from_spec(load_test_module("core/unified/test_joint_stress_pm.py").coin_m(btc=0.06))


def _full_report_totals(self: joint_stress_pm.EngineJoint, factors: Any) -> tuple[float, float, bool]:
    # The baseline: the whole report per scenario, as EngineJoint.values read it before.
    rep = self.report(factors)
    return rep.equity, rep.maintenance_margin, rep.liquidatable


def _median(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", type=int, default=61)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    ua = _account()
    names = ["BTC", "ETH"]
    g = np.linspace(-0.6, 0.3, args.grid)
    x, y = np.meshgrid(g, g)
    factors = np.exp(np.column_stack([x.ravel(), y.ravel()]))
    cov = covariance_from_vols([0.6, 0.6], np.array([[1.0, 0.6], [0.6, 1.0]]), horizon_years=30 / 365)

    def surface() -> Any:
        return scenario_values(ua, names, factors)

    def stress() -> Any:
        return reverse_stress(ua, names, cov, n_directions=72, n_radii=40)

    new_totals = joint_stress_pm.EngineJoint.totals
    rows = []
    for label, fn in ((f"surface {args.grid}x{args.grid}", surface), ("reverse stress 72 x 40", stress)):
        fn()  # warm-up (imports, caches)
        t_new, out_new = _median(fn, args.repeats)
        joint_stress_pm.EngineJoint.totals = _full_report_totals  # type: ignore[method-assign]
        try:
            fn()
            t_old, out_old = _median(fn, args.repeats)
        finally:
            joint_stress_pm.EngineJoint.totals = new_totals  # type: ignore[method-assign]
        if label.startswith("surface"):
            same = all(np.array_equal(a, b) for a, b in zip(out_new, out_old, strict=True))
        else:
            same = out_new.norm == out_old.norm and out_new.shock == out_old.shock
        if not same:
            raise SystemExit(f"{label}: the totals and the full reports disagree")
        rows.append((label, t_old, t_new))
    print(f"# {cpu_model()}, Python {platform.python_version()}, one thread on both sides")
    print(f"{'case':<26} {'full reports (s)':>17} {'totals (s)':>11} {'speed-up':>9}")
    for label, t_old, t_new in rows:
        print(f"{label:<26} {t_old:>17.3f} {t_new:>11.3f} {t_old / t_new:>8.1f}x")


if __name__ == "__main__":
    main()
