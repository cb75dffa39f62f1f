"""Screening walk-forward of leverage policies: choose parameters on a training window, apply them
to the next, and measure the stability of the choice, on the fast vectorized evaluator of
:mod:`levguard.backtest.calibrate` (close-to-close returns, one maintenance rate).

The walk-forward on the event-driven backtester is :func:`levguard.backtest.walk_forward`; this
one screens many policy parameters quickly before it.  Its error against the backtester is
measured by ``bench/screening_error.py`` and stated in docs/policies.md ("Screening against the
backtester"): it misses intrabar liquidations at high leverage.  :func:`screen_walk_forward` is
its name; ``walk_forward`` here (and ``levguard.sizing.walk_forward``) is the deprecated alias.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.backtest.calibrate import (
    _OBJ_COLUMN,
    Metrics,
    Objective,
    PolicyFactory,
    _batch_stats,
    _best,
    _Costs,
    _draw,
    _grid,
    _metrics_arrays,
    _metrics_at,
    _paths,
    _problem,
)
from levguard.core.sizing.base import SeriesInputs
from levguard.errors import InputError
from levguard.kernels import policy_eval as kp

__all__ = ["WalkForwardResult", "screen_walk_forward", "walk_forward"]


@dataclass(frozen=True)
class WalkForwardResult:
    """Walk-forward calibration: one row per window plus stability of the choice.

    Attributes
    ----------
    windows : pandas.DataFrame
        Per window: ``train_start``, ``train_stop``, ``test_start``, ``test_stop`` (bar indices,
        half-open), the chosen parameters (``param_<name>``), in-sample ``is_<metric>`` and
        out-of-sample ``oos_<metric>`` columns.
    choices : list of dict or None
        Chosen parameters per window (None: nothing feasible, the test window is flat).
    in_sample, out_of_sample : list of Metrics or None
    combined_oos : Metrics
        The stitched out-of-sample path (each test window uses its own choice, flat when none),
        over the test windows' bars only: one path from the first test bar to the last when the
        windows are contiguous (``step <= test``); with ``step > test`` the windows as evaluated
        (each starting flat) chained end to end, the bars between them left out.
    stability : dict
        ``modal_share`` (share of windows choosing the most frequent parameter set),
        ``modal_params``, ``n_distinct`` and, per numeric parameter, ``std_<name>`` and
        ``cv_<name>`` (standard deviation and coefficient of variation across windows).
    untested_bars : int
        Bars after the last test window that no test window covers: a partial last window is
        dropped (0 when the windows end at the last bar).
    """

    windows: pd.DataFrame
    choices: list[dict[str, Any] | None]
    in_sample: list[Metrics | None]
    out_of_sample: list[Metrics | None]
    combined_oos: Metrics
    stability: dict[str, Any]
    scheme: str
    objective: str
    untested_bars: int = 0

    def summary(self) -> pd.DataFrame:
        """Compact per-window table: windows, choice, in- and out-of-sample objective and drawdown.

        The metric columns are NaN for a window without a feasible choice, also when no window
        had one (then there are no ``param_`` columns).
        """
        obj = _OBJ_COLUMN[self.objective]
        cols = ["train_start", "train_stop", "test_start", "test_stop"]
        cols += [c for c in self.windows.columns if c.startswith("param_")]
        cols += [f"is_{obj}", f"oos_{obj}", "is_max_drawdown", "oos_max_drawdown", "oos_liquidated"]
        # No feasible window left no metric column at all (a KeyError): reindex adds them as NaN.
        return self.windows.reindex(columns=cols)


# --------------------------------------------------------------------------------------------
# validation helpers


def _wf_windows(n: int, train: int, test: int, step: int, scheme: str) -> list[tuple[int, int, int, int]]:
    # (train_start, train_stop, test_start, test_stop); bar 0 is untradeable so windows start at 1.
    out = []
    s = 1
    while s + train + test <= n:
        tr_a = 1 if scheme == "anchored" else s
        out.append((tr_a, s + train, s + train, s + train + test))
        s += step
    return out


def _stability(choices: list[dict[str, Any] | None], picks: list[int | None]) -> dict[str, Any]:
    # Choices are counted by candidate index (picks), not by their values: a parameter value may
    # be unhashable (a RegimeSwitch's mapping of member policies was a TypeError here).  Equal
    # candidates (repeated random draws) score alike and ties go to the first, so one index
    # stands for each distinct parameter set.
    made = [c for c in choices if c is not None]
    out: dict[str, Any] = {"n_windows": len(choices), "n_chosen": len(made)}
    if not made:
        out.update(modal_share=math.nan, modal_params=None, n_distinct=0)
        return out
    counts = Counter(p for p in picks if p is not None)
    modal, count = counts.most_common(1)[0]
    modal_params = next(c for c, p in zip(choices, picks, strict=True) if p == modal) or {}
    modal_params = dict(sorted(modal_params.items()))  # by name, as the counted items were
    out.update(modal_share=count / len(choices), modal_params=modal_params, n_distinct=len(counts))
    for name in made[0]:
        vals = [c[name] for c in made]
        if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in vals):
            arr = np.asarray(vals, dtype=np.float64)
            sd = float(np.std(arr))
            mean = float(np.mean(arr))
            out[f"std_{name}"] = sd
            out[f"cv_{name}"] = sd / abs(mean) if mean != 0 else math.nan
    return out


def walk_forward(
    policy_factory: PolicyFactory,
    params: Mapping[str, Any],
    returns: npt.ArrayLike | SeriesInputs,
    periods_per_year: float | None = None,
    *,
    train: int,
    test: int,
    step: int | None = None,
    scheme: Literal["rolling", "anchored"] = "rolling",
    objective: Objective = "sharpe",
    constraints: Mapping[str, float] | None = None,
    search: Literal["grid", "random"] = "grid",
    n_random: int = 50,
    seed: int = 0,
    fee_rate: float = 0.0,
    funding: npt.ArrayLike | None = None,
    maint_margin_rate: float | None = None,
    side: int = 1,
) -> WalkForwardResult:
    """Walk-forward calibration: choose parameters in sample, evaluate them on the next window.

    Parameters
    ----------
    policy_factory : callable
        ``policy_factory(**params) -> Policy``.
    params : mapping
        ``param_grid`` (``search="grid"``) or ``param_space`` (``search="random"``, ``n_random``
        draws with ``seed``, the same candidates in every window).
    returns, periods_per_year
        As in :func:`grid_search`.
    train, test : int
        Training and test window lengths in bars.
    step : int, optional
        Shift between consecutive windows (default ``test``: contiguous, disjoint test windows;
        larger leaves bars between the test windows, which ``combined_oos`` leaves out).
    scheme : {"rolling", "anchored"}
        Rolling: training window ``[s, s + train)``; anchored: ``[1, s + train)`` (grows).  The
        test window is ``[s + train, s + train + test)`` in both, ``s = 1, 1 + step, ...`` while
        the test window fits (a partial last window is dropped; its bars are counted in
        ``untested_bars`` of the result).
    objective, constraints, fee_rate, funding, maint_margin_rate, side
        As in :func:`grid_search`.

    Returns
    -------
    WalkForwardResult

    Notes
    -----
    Each candidate's leverage path is computed once over the full series and sliced; this is
    valid because ``leverage_path`` has no look-ahead, so a policy's state at ``t`` uses data up
    to ``t`` only (training data of later windows never leaks into earlier decisions).  Every
    window's evaluation starts flat with equity 1; the out-of-sample window uses only the
    parameters chosen on its training window (flat when none was feasible).
    """
    problem = _problem(returns, periods_per_year, objective, constraints, fee_rate, funding, maint_margin_rate, side)
    if scheme not in ("rolling", "anchored"):
        raise InputError(f"scheme must be 'rolling' or 'anchored', was {scheme!r}")
    if search not in ("grid", "random"):
        raise InputError(f"search must be 'grid' or 'random', was {search!r}")
    for name, v in (("train", train), ("test", test)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < (2 if name == "train" else 1):
            raise InputError(f"{name} must be an integer >= {2 if name == 'train' else 1}, was {v!r}")
    stp = test if step is None else step
    if isinstance(stp, bool) or not isinstance(stp, int | np.integer) or stp < 1:
        raise InputError(f"step must be a positive integer, was {step!r}")
    n = problem.n
    ppy = problem.inputs.periods_per_year
    c = problem.costs
    wins = _wf_windows(n, int(train), int(test), int(stp), scheme)
    if not wins:
        raise InputError(f"train + test must be <= {n - 1} bars (returns has {n}), was {train} + {test}")
    candidates = _grid(params) if search == "grid" else _draw(params, n_random, seed)
    levs = _paths(policy_factory, candidates, problem.inputs)
    simple = problem.simple

    train_res = problem.search(levs, [(w[0], w[1]) for w in wins])
    test_stats = _batch_stats(levs, simple, c, [(w[2], w[3]) for w in wins])
    choices: list[dict[str, Any] | None] = []
    is_m: list[Metrics | None] = []
    oos_m: list[Metrics | None] = []
    rows = []
    combined = np.zeros(n)
    for w, (win, (arrays, _feas, score, lp)) in enumerate(zip(wins, train_res, strict=True)):
        best = _best(score)
        row: dict[str, Any] = {
            "window": w,
            "train_start": win[0],
            "train_stop": win[1],
            "test_start": win[2],
            "test_stop": win[3],
            "candidate": best,
        }
        if best is None:
            choices.append(None)
            is_m.append(None)
            oos_m.append(None)
            rows.append(row)
            continue
        choices.append(dict(candidates[best]))
        im = _metrics_at(arrays, best, float(lp[best]))
        om = _metrics_at(_metrics_arrays(np.ascontiguousarray(test_stats[best, w : w + 1, :]), ppy), 0)
        is_m.append(im)
        oos_m.append(om)
        # Decisions at the close of bars test_start-1 .. test_stop-2 earn the test window's returns.
        combined[win[2] - 1 : win[3] - 1] = levs[best, win[2] - 1 : win[3] - 1]
        row.update({f"param_{k}": v for k, v in candidates[best].items()})
        row.update({f"is_{k}": v for k, v in im.to_dict().items()})
        row.update({f"oos_{k}": v for k, v in om.to_dict().items()})
        rows.append(row)
    if stp > test:  # gaps between the test windows: they are not out-of-sample bars
        picks = [row["candidate"] for row in rows]
        comb_stats = _chained_stats(levs, picks, wins, simple, c)
    else:
        first, last = wins[0][2], wins[-1][3]
        comb_stats = np.empty((1, kp.N_STATS))
        args = (c.funding, c.has_funding, c.fee_rate, c.mmr, c.side, first, last, comb_stats[0])
        kp.eval_window_nb(combined, simple, *args)
    return WalkForwardResult(
        windows=pd.DataFrame(rows),
        choices=choices,
        in_sample=is_m,
        out_of_sample=oos_m,
        combined_oos=_metrics_at(_metrics_arrays(comb_stats, ppy), 0),
        stability=_stability(choices, [row["candidate"] for row in rows]),
        scheme=scheme,
        objective=problem.objective,
        untested_bars=n - wins[-1][3],
    )


def _chained_stats(
    levs: npt.NDArray[np.float64],
    picks: list[int | None],
    wins: list[tuple[int, int, int, int]],
    simple: npt.NDArray[np.float64],
    c: _Costs,
) -> npt.NDArray[np.float64]:
    """Kernel statistics (shape (1, N_STATS)) of the test windows chained over their own bars.

    Each window's path is the one its out-of-sample metrics evaluate (it starts flat; flat when
    nothing was chosen), scaled to start from the equity the previous window left: the chained
    total return is the product of the windows'.  After a liquidation the equity stays 0 (zero
    returns, as in the kernel's flat tail).  The deviations are summed in two passes.
    """
    n = levs.shape[1]
    flat = np.zeros(n)
    curve = np.empty(sum(b - a for _, _, a, b in wins))
    level, pos, liq = 1.0, 0, -1.0
    eq = np.empty(n)
    st = np.empty(kp.N_STATS)
    for (_, _, a, b), p in zip(wins, picks, strict=True):
        lev = flat if p is None else levs[p]
        kp.equity_path_nb(lev, simple, c.funding, c.has_funding, c.fee_rate, c.mmr, c.side, a, b, eq, st)
        curve[pos : pos + b - a] = level * eq[a:b]
        if liq < 0.0 and st[kp.S_LIQ] >= 0.0 and level > 0.0:
            liq = st[kp.S_LIQ]
        pos += b - a
        level = float(curve[pos - 1])
    prev = np.concatenate(([1.0], curve[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(prev > 0.0, curve / prev - 1.0, 0.0)
    peak = np.maximum.accumulate(np.concatenate(([1.0], curve)))[1:]
    out = np.empty((1, kp.N_STATS))
    out[0, kp.S_FINAL] = curve[-1]
    out[0, kp.S_SUM] = g.sum()
    out[0, kp.S_M2] = np.sum((g - g.mean()) ** 2)
    out[0, kp.S_MAXDD] = np.max(1.0 - curve / peak)
    out[0, kp.S_LIQ] = liq
    out[0, kp.S_N] = curve.shape[0]
    return out


screen_walk_forward = walk_forward
"""The screening walk-forward (the name to use; ``walk_forward`` in this module is its deprecated
alias, as the backtester's :func:`levguard.backtest.walk_forward` is the walk-forward)."""
