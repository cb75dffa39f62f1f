"""vectorbt side of the SMA-crossover sweep benchmark (run in vectorbt's own venv, in a subprocess).

Run: ``bench/.venv-vbt/bin/python bench/_vbt_sma.py [--close-npy close.npy | --seed 0 --n-bars 43800]
[--open-npy open.npy] [--windows 10:460:10 | --fast ... --slow ...] [--fee 0.0005] [--repeats 5]
[--fill next_open|close] [--save-close out.npy] [--json out.json]``.

Prints one JSON object on stdout.  Create the venv with::

    python3.11 -m venv bench/.venv-vbt
    bench/.venv-vbt/bin/pip install -r bench/requirements-vectorbt.txt

The module imports only NumPy at the top, so the levguard side of the benchmark can import
:func:`gbm_close`, :func:`gapless_open`, :func:`config_grid` and :func:`sma_state` from its own
venv to build the identical sweep; vectorbt is imported inside :func:`run_vectorbt`.

What is simulated (``vbt.Portfolio.from_signals``)
--------------------------------------------------
* Data: close prices ``C[t]`` (and opens ``O[t]``; default gapless ``O[t] = C[t-1]``,
  ``O[0] = C[0]``).  Synthetic data: hourly GBM, seed 0 (see :func:`gbm_close`).
* Configurations: every pair ``(fast, slow)`` with ``fast < slow`` from the window lists.
* Indicator: simple moving average of close over the last ``w`` bars including ``t``,
  ``SMA_w[t] = mean(C[t-w+1..t])``, NaN for ``t < w - 1`` (``vbt.MA``, ``ewm=False``).
* Signal (state, not crossing events): decided at bar ``t``'s close, *long* iff
  ``SMA_fast[t] > SMA_slow[t]`` (both defined), *flat* otherwise (warm-up ``t < slow - 1``
  and ties are flat).  Long-only: no shorts.  ``entries = state``, ``exits = ~state``;
  with ``accumulate=False`` (default) a repeated entry while long or exit while flat is
  ignored, so the position equals ``state`` lagged by the execution delay.  Note this is not
  ``ma_crossed_above``: vectorbt's crossing needs a prior bar below, so it would skip a trend
  already in place at the end of the warm-up.
* Execution (``--fill next_open``, default): the state decided at ``t``'s close is executed at
  ``O[t+1]`` (signals shifted one bar forward, ``price=open``), as levguard does ("decide at
  close t, fill at open t+1").  ``--fill close`` is vectorbt's default: fill at ``C[t]``, the
  close of the signal bar (look-ahead-free only because the state uses data up to ``t``).
* Sizing: ``size=inf`` (vectorbt default), i.e. all cash: a buy acquires
  ``q = cash / (P (1 + fee))``; a sell closes the whole position.  Init cash 10,000, ``freq='1h'``.
* Costs: proportional fee ``fee * q * P`` on each fill (entry and exit); no slippage, no fixed fee.
* Not modelled by vectorbt here: leverage/margin (cash account, 1x), funding payments,
  maintenance margin, liquidation, borrowing costs.  Open positions at the end are marked at
  the last close (no exit fee).
* ``total_return = value[-1] / init_cash - 1`` (``pf.total_return()``).

Equivalent levguard run (for a sanity check of total returns)
--------------------------------------------------------------
direction ``d[t] = 1.0 if SMA_fast[t] > SMA_slow[t] else 0.0`` (0 in warm-up) from
:func:`sma_state`, target leverage 1, ``taker_fee = fee``, no slippage, ``REBALANCE_NEVER``
(trade only when the side changes), no funding (NaN), mark = last.  levguard holds a *perp*
position: target ``q = equity[t-1] / C[t-1]``, fee on the traded notional, so a round trip
multiplies equity by ``1 + (P2 - P1 - fee (P1 + P2)) / C_dec`` (``P1``, ``P2`` entry and exit
fills, ``C_dec`` the close of the decision bar), whereas vectorbt's cash account gives
``(P2 / P1) (1 - fee) / (1 + fee)``.  The two differ by about ``fee (R - 1)`` per round trip;
``total_return_sample_perp`` re-books vectorbt's own trades with levguard's accounting, which
levguard should reproduce to rounding.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

INIT_CASH = 10_000.0
DEFAULT_FEE = 0.0005
HOURS_PER_YEAR = 365.0 * 24.0


def gbm_close(n_bars: int, seed: int = 0, s0: float = 30_000.0, sigma: float = 0.8, mu: float = 0.0) -> np.ndarray:
    """Hourly geometric Brownian motion closes.

    ``C[0] = s0``; ``C[t] = C[t-1] exp((mu - sigma^2 / 2) dt + sigma sqrt(dt) z[t])`` with
    ``dt = 1 / 8760`` (annualised ``mu``, ``sigma``) and ``z = default_rng(seed).standard_normal(n_bars - 1)``.
    """
    dt = 1.0 / HOURS_PER_YEAR
    z = np.random.default_rng(seed).standard_normal(n_bars - 1)
    steps = (mu - 0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * z
    return s0 * np.exp(np.concatenate(([0.0], np.cumsum(steps))))


def gapless_open(close: np.ndarray) -> np.ndarray:
    """Opens of gapless bars: ``O[t] = C[t-1]``, ``O[0] = C[0]``."""
    out = np.empty_like(close)
    out[0] = close[0]
    out[1:] = close[:-1]
    return out


def parse_windows(spec: str) -> list[int]:
    """``"10,20,50"`` or ``"start:stop:step"`` (Python range, stop excluded)."""
    if ":" in spec:
        parts = [int(p) for p in spec.split(":")]
        return list(range(*parts))
    return [int(p) for p in spec.split(",") if p.strip()]


def config_grid(fast: list[int], slow: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(f, s)`` with ``f < s``, ordered by ``f`` then ``s`` (config ``i`` = column ``i``)."""
    pairs = [(f, s) for f in sorted(set(fast)) for s in sorted(set(slow)) if f < s]
    if not pairs:
        raise SystemExit("no (fast, slow) pair with fast < slow")
    arr = np.array(pairs, dtype=np.int64)
    return arr[:, 0], arr[:, 1]


def sma_state(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """Reference signal (plain NumPy, for the levguard side): 1.0 where ``SMA_fast > SMA_slow``, else 0."""
    c = np.concatenate(([0.0], np.cumsum(close)))

    def sma(w: int) -> np.ndarray:
        out = np.full(close.shape[0], np.nan)
        out[w - 1 :] = (c[w:] - c[:-w]) / w
        return out

    with np.errstate(invalid="ignore"):
        return (sma(fast) > sma(slow)).astype(np.float64)


def perp_total_return(close: np.ndarray, trades: np.ndarray, fee: float, next_open: bool) -> float:
    """Re-book one column's vectorbt trades (``trade_dt`` records) with levguard's perp accounting.

    Leverage 1, one position at a time: a trade entered at ``P1`` (bar ``e``) and closed at
    ``P2`` multiplies equity by ``1 + (P2 - P1 - fee (P1 + P2)) / C_dec`` with ``C_dec = C[e-1]``
    (next-open fills) or ``C[e]`` (close fills); a trade still open at the end is marked at the
    last close without exit fee: ``1 + (C[-1] - P1 - fee P1) / C_dec``.
    """
    eq = 1.0
    for rec in trades:
        e = int(rec["entry_idx"])
        c_dec = close[e - 1] if next_open and e >= 1 else close[e]
        p1 = rec["entry_price"]
        if rec["status"] == 0:  # TradeStatus.Open
            eq *= 1.0 + (close[-1] - p1 - fee * p1) / c_dec
        else:
            p2 = rec["exit_price"]
            eq *= 1.0 + (p2 - p1 - fee * (p1 + p2)) / c_dec
    return eq - 1.0


def run_vectorbt(
    close: np.ndarray, open_: np.ndarray, fast: np.ndarray, slow: np.ndarray, fee: float, fill: str, engine: str | None
) -> tuple[Any, Any, dict[str, float]]:
    """One full sweep: indicators, signals, simulation, total returns.

    Returns the portfolio, the total returns (Series, one per config) and the seconds of each phase.
    """
    import pandas as pd
    import vectorbt as vbt

    t0 = time.perf_counter()
    index = pd.date_range("2020-01-01", periods=close.shape[0], freq="1h", tz="UTC")
    close_s = pd.Series(close, index=index, name="close")
    windows = np.union1d(fast, slow)
    ma = vbt.MA.run(close_s, window=windows, ewm=False).ma.to_numpy()  # (n_bars, n_windows)
    pos = {int(w): i for i, w in enumerate(windows)}
    fi = np.array([pos[int(w)] for w in fast])
    si = np.array([pos[int(w)] for w in slow])
    with np.errstate(invalid="ignore"):
        state = ma[:, fi] > ma[:, si]  # NaN compares False: flat during warm-up
    if fill == "next_open":
        entries = np.zeros_like(state)
        entries[1:] = state[:-1]
        exits = np.zeros_like(state)
        exits[1:] = ~state[:-1]
        price: Any = pd.Series(open_, index=index, name="open")
    else:
        entries, exits = state, ~state
        price = np.inf  # vectorbt default: the close
    columns = pd.MultiIndex.from_arrays([fast, slow], names=["fast", "slow"])
    t1 = time.perf_counter()
    pf = vbt.Portfolio.from_signals(
        close_s,
        pd.DataFrame(entries, index=index, columns=columns),
        pd.DataFrame(exits, index=index, columns=columns),
        price=price,
        fees=fee,
        init_cash=INIT_CASH,
        direction="longonly",
        freq="1h",
        engine=engine,
    )
    t2 = time.perf_counter()
    tr = pf.total_return()
    t3 = time.perf_counter()
    return pf, tr, {"signals_s": t1 - t0, "simulate_s": t2 - t1, "total_return_s": t3 - t2, "total_s": t3 - t0}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the JSON result."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--close-npy", help="float64 close prices (.npy); default: synthetic GBM")
    src.add_argument("--seed", type=int, default=0, help="seed of the synthetic GBM closes (default 0)")
    ap.add_argument("--n-bars", type=int, default=43_800, help="synthetic bars (default 43,800 = 5 years hourly)")
    ap.add_argument("--open-npy", help="float64 opens (.npy); default gapless O[t] = C[t-1]")
    ap.add_argument("--windows", default="10:460:10", help="window list for both legs (default 10:460:10 -> 990 pairs)")
    ap.add_argument("--fast", help="fast windows (overrides --windows for the fast leg)")
    ap.add_argument("--slow", help="slow windows (overrides --windows for the slow leg)")
    ap.add_argument("--fee", type=float, default=DEFAULT_FEE, help="proportional fee per fill (default 0.0005)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs after the warm-up (default 5)")
    ap.add_argument("--fill", choices=["next_open", "close"], default="next_open")
    ap.add_argument("--engine", choices=["numba", "rust"], default=None, help="vectorbt engine (default: numba)")
    ap.add_argument("--save-close", help="write the closes used to this .npy (to feed levguard the same data)")
    ap.add_argument("--json", help="also write the JSON result to this file")
    args = ap.parse_args(argv)

    if args.close_npy:
        close = np.ascontiguousarray(np.load(args.close_npy), dtype=np.float64)
        source = f"npy:{args.close_npy}"
    else:
        close = gbm_close(args.n_bars, args.seed)
        source = f"gbm(seed={args.seed}, sigma=0.8, s0=30000)"
    if close.ndim != 1 or close.shape[0] < 2 or not (np.isfinite(close).all() and (close > 0).all()):
        raise SystemExit("close must be a 1-D array of finite positive prices")
    open_ = np.ascontiguousarray(np.load(args.open_npy), dtype=np.float64) if args.open_npy else gapless_open(close)
    if open_.shape != close.shape:
        raise SystemExit("open and close must have the same length")
    if args.save_close:
        np.save(args.save_close, close)
    fast, slow = config_grid(parse_windows(args.fast or args.windows), parse_windows(args.slow or args.windows))

    import numba
    import pandas as pd
    import vectorbt as vbt

    t0 = time.perf_counter()
    pf, tr_s, first_phases = run_vectorbt(close, open_, fast, slow, args.fee, args.fill, args.engine)
    first = time.perf_counter() - t0
    tr = tr_s.to_numpy()
    trades = pf.trades.records_arr  # exit trades: one record per round trip (structured array)
    del pf
    seconds, phases = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        pf, _, ph = run_vectorbt(close, open_, fast, slow, args.fee, args.fill, args.engine)
        seconds.append(time.perf_counter() - t0)
        phases.append(ph)
        del pf

    n_sample = min(5, fast.shape[0])
    perp = [
        perp_total_return(close, trades[trades["col"] == i], args.fee, args.fill == "next_open")
        for i in range(n_sample)
    ]
    median = statistics.median(seconds) if seconds else first
    n_configs = int(fast.shape[0])
    result = {
        "vectorbt_version": vbt.__version__,
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
        "pandas_version": pd.__version__,
        "python": platform.python_version(),
        "engine": args.engine or "numba",
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "data": source,
        "n_bars": int(close.shape[0]),
        "n_configs": n_configs,
        "fast_windows": sorted({int(w) for w in fast}),
        "slow_windows": sorted({int(w) for w in slow}),
        "fee": args.fee,
        "fill": args.fill,
        "direction": "longonly",
        "init_cash": INIT_CASH,
        "first_call_s": first,
        "first_call_phases": first_phases,
        "seconds": seconds,
        "median_s": median,
        "median_phases": {k: statistics.median(p[k] for p in phases) for k in phases[0]} if phases else {},
        "bar_steps_per_s": close.shape[0] * n_configs / median,
        "configs_sample": [[int(fast[i]), int(slow[i])] for i in range(min(5, n_configs))],
        "total_return_sample": [float(x) for x in tr[:5]],
        "n_trades_sample": [int((trades["col"] == i).sum()) for i in range(n_sample)],
        "total_return_sample_perp": perp,
    }
    text = json.dumps(result, indent=2)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
