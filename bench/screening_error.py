"""How far the screening evaluator (:func:`levguard.backtest.calibrate.evaluate_path`, behind
``levguard.sizing.walk_forward`` / ``grid_search``) is from the event-driven backtester
(:func:`levguard.backtest.engine.run`), measured on real bars (issue 15).

Run: ``.venv/bin/python bench/screening_error.py [--symbols BTCUSDT,ETHUSDT] [--json out.json]
[--no-min-order]``.

Both sides hold a long, then a short, perpetual rebalanced to the policy's target leverage at
every bar (the engine with ``rebalance="band"``, which trades to target every bar, fills at the next open on
Binance's tiers with intrabar liquidation; the screening evaluator on close-to-close returns with
the first tier's maintenance rate), fee 5 bp per traded notional, no funding, no slippage.
Windows: calendar years of the hourly bars in ``../shared/data`` (the embedded default market
when that folder is absent).  Reported per policy: the largest absolute gap over the windows in
total return, Sharpe ratio and maximum drawdown, how often the two disagree on a liquidation,
and, per window, whether they pick the same leverage from the candidates (what a walk-forward
screen has to get right).  ``--sides long`` measures the long side only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from levguard.backtest.calibrate import evaluate_path
from levguard.backtest.engine import run
from levguard.backtest.strategies import BuyAndHold
from levguard.core.sizing.base import FixedLeverage, SeriesInputs
from levguard.core.sizing.policies import VolatilityTarget

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
FEE = 0.0005
MMR = 0.004  # Binance BTCUSDT/ETHUSDT first tier
CANDIDATES = (1.0, 2.0, 3.0, 5.0, 10.0)
SIDES = {"long": 1, "short": -1}


def _frame(symbol: str) -> pd.DataFrame:
    from levguard.data.loaders import load_ohlcv

    path = SHARED / "ohlcv" / f"{symbol}-PERP_1h.csv"
    if path.exists():
        df = load_ohlcv(path)
        df = df[df["volume"] > 0.0]
    else:
        from levguard.data.default import default_market

        df = default_market().ohlcv
    df = df.copy()
    df.attrs["symbol"] = symbol
    return df


def _engine(df: pd.DataFrame, policy: Any, side: int, min_notional: float | None = None) -> dict[str, float]:
    # A constant signal of -1 holds the short at the policy's leverage.  ``min_notional`` None:
    # the venue's minimum order (Binance BTCUSDT 100 USDT: most every-bar rebalances of a 10,000
    # account are below it and skipped); 0: none, as the screen.
    strategy: Any = BuyAndHold() if side > 0 else np.full(len(df), -1.0)
    res = run(df, strategy, policy, fees=FEE, rebalance="band", slippage=0.0, min_notional=min_notional)
    m = res.metrics
    return {
        "total_return": float(m["total_return"]),
        "sharpe": float(m["sharpe"]),
        "max_drawdown": float(m["max_drawdown"]),
        "liquidated": float(m["n_liquidations"]) > 0,
    }


def _screen(df: pd.DataFrame, policy: Any, side: int) -> dict[str, float]:
    close = df["close"].to_numpy()
    logret = np.r_[0.0, np.diff(np.log(close))]
    lev = policy.leverage_path(SeriesInputs(logret))
    m = evaluate_path(lev, logret, 8760.0, fee_rate=FEE, maint_margin_rate=MMR, side=side)
    return {
        "total_return": float(m.total_return),
        "sharpe": float(m.sharpe),
        "max_drawdown": float(m.max_drawdown),
        "liquidated": bool(m.liquidated),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    ap.add_argument("--sides", default="long,short")
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--no-min-order",
        action="store_true",
        help="run the backtester without the venue's minimum order (the screen has none)",
    )
    args = ap.parse_args()
    min_notional = 0.0 if args.no_min_order else None
    sides = [SIDES[name] for name in args.sides.split(",")]
    policies: dict[str, Any] = {f"fixed {lev:g}x": FixedLeverage(lev) for lev in CANDIDATES}
    policies["vol target 60 %, max 5x"] = VolatilityTarget(target_vol=0.6, max_leverage=5.0)
    rows = []
    choices = []
    for symbol in args.symbols.split(","):
        df = _frame(symbol)
        for year, win in df.groupby(df.index.year):
            if len(win) < 24 * 200:
                continue
            for side in sides:
                side_name = "long" if side > 0 else "short"
                growth: dict[str, tuple[float, float]] = {}
                for name, policy in policies.items():
                    e = _engine(win, policy, side, min_notional)
                    s = _screen(win, policy, side)
                    row: dict[str, Any] = {"symbol": symbol, "year": int(year), "side": side_name, "policy": name}
                    row.update({f"engine_{k}": v for k, v in e.items()})
                    row.update({f"screen_{k}": v for k, v in s.items()})
                    rows.append(row)
                    if name.startswith("fixed"):
                        growth[name] = (e["total_return"], s["total_return"])
                best_engine = max(growth, key=lambda k: growth[k][0])
                best_screen = max(growth, key=lambda k: growth[k][1])
                choices.append(
                    {
                        "symbol": symbol,
                        "year": int(year),
                        "side": side_name,
                        "engine": best_engine,
                        "screen": best_screen,
                    }
                )
    table = pd.DataFrame(rows)
    summary = []
    for (side_name, name), g in table.groupby(["side", "policy"], sort=False):
        # Gaps over the windows where both agree on the liquidation (a ruined run has no Sharpe).
        agree = g[g["engine_liquidated"] == g["screen_liquidated"]]

        def gap(metric: str, agree: pd.DataFrame = agree) -> float:
            return float((agree[f"engine_{metric}"] - agree[f"screen_{metric}"]).abs().max())

        summary.append(
            {
                "side": side_name,
                "policy": name,
                "windows": len(g),
                "liquidation_disagreements": int(len(g) - len(agree)),
                "max_abs_total_return_gap": float(
                    (agree["engine_total_return"] - agree["screen_total_return"]).abs().max()
                ),
                "max_abs_sharpe_gap": float((agree["engine_sharpe"] - agree["screen_sharpe"]).abs().max()),
                "max_abs_drawdown_gap": float(
                    (agree["engine_max_drawdown"] - agree["screen_max_drawdown"]).abs().max()
                ),
            }
        )
    print(pd.DataFrame(summary).to_string(index=False))
    for side_name in dict.fromkeys(c["side"] for c in choices):
        mine = [c for c in choices if c["side"] == side_name]
        same = sum(c["engine"] == c["screen"] for c in mine)
        print(f"{side_name}: best fixed leverage by total return: the same in {same} of {len(mine)} windows")
        for c in mine:
            if c["engine"] != c["screen"]:
                print(f"  differs: {c['symbol']} {c['year']}: engine {c['engine']}, screen {c['screen']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "choices": choices, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
